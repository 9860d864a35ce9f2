//! The Attendance tab's popups: a correction (a forgotten punch, approved leave, a business
//! trip), revoking one with a reason, and the CSV export of a month's daily results.

use super::{month_of, AttView, Attendance, Effect};
use crate::app::form::{Field, FieldId, Form, FormKey, Input, Opt};
use crate::app::shell::Shell;
use crate::db::attendance::corrections::CorrectionKind;
use crate::i18n::{tr, trf, Lang};
use chrono::{NaiveDate, NaiveDateTime};
use crossterm::event::KeyEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectField {
    Person,
    Kind,
    From,
    To,
    LeaveType,
    Reason,
}

impl FieldId for CorrectField {
    fn label(self) -> &'static str {
        match self {
            CorrectField::Person => "att.form.person",
            CorrectField::Kind => "att.form.kind",
            CorrectField::From => "att.form.from",
            CorrectField::To => "att.form.to",
            CorrectField::LeaveType => "att.form.leave_type",
            CorrectField::Reason => "att.form.reason",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeField {
    Reason,
}

impl FieldId for RevokeField {
    fn label(self) -> &'static str {
        "att.form.reason"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportField {
    Path,
}

impl FieldId for ImportField {
    fn label(self) -> &'static str {
        "att.form.file"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportField {
    Path,
}

impl FieldId for ExportField {
    fn label(self) -> &'static str {
        "att.form.path"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttForm {
    Correct(Form<CorrectField>),
    Revoke {
        id: i64,
        form: Form<RevokeField>,
    },
    Export {
        from: NaiveDate,
        to: NaiveDate,
        form: Form<ExportField>,
    },
    /// A file a machine exported, into that machine.
    Import {
        terminal_id: i64,
        form: Form<ImportField>,
    },
}

impl AttForm {
    pub fn busy(&self) -> bool {
        match self {
            AttForm::Correct(f) => f.busy,
            AttForm::Revoke { form, .. } => form.busy,
            AttForm::Export { form, .. } => form.busy,
            AttForm::Import { form, .. } => form.busy,
        }
    }

    pub fn refused(&mut self, error: String) {
        match self {
            AttForm::Correct(f) => f.refused(error),
            AttForm::Revoke { form, .. } => form.refused(error),
            AttForm::Export { form, .. } => form.refused(error),
            AttForm::Import { form, .. } => form.refused(error),
        }
    }
}

/// "2026-12-01 08:00" (seconds optional): a time on the machines' wall clock.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .ok()
}

/// The correction a filled form asks for, or why it cannot be one (a catalogue key).
pub fn correction(
    form: &Form<CorrectField>,
) -> Result<(String, CorrectionKind, String), &'static str> {
    let person = form.text(CorrectField::Person).trim().to_string();
    if person.is_empty() {
        return Err("att.form.error.no_person");
    }
    let reason = form.text(CorrectField::Reason).trim().to_string();
    if reason.is_empty() {
        return Err("att.form.error.no_reason");
    }
    let from = parse_time(form.text(CorrectField::From)).ok_or("att.form.error.bad_time")?;
    let kind = form.choice(CorrectField::Kind);
    let kind = if kind == "punch" {
        CorrectionKind::Punch { at: from }
    } else {
        let to = parse_time(form.text(CorrectField::To)).ok_or("att.form.error.bad_time")?;
        if to <= from {
            return Err("att.form.error.bad_span");
        }
        if kind == "trip" {
            CorrectionKind::Trip { from, to }
        } else {
            let t = form.text(CorrectField::LeaveType).trim();
            CorrectionKind::Leave {
                from,
                to,
                leave_type: (!t.is_empty()).then(|| t.to_string()),
            }
        }
    };
    Ok((person, kind, reason))
}

fn kinds(lang: Lang) -> Vec<Opt> {
    ["punch", "leave", "trip"]
        .iter()
        .map(|k| Opt::new(*k, tr(lang, &format!("att.correction.{k}"))))
        .collect()
}

impl Attendance {
    pub(super) fn open_correct(&mut self, sh: &Shell) {
        let lang = sh.lang;
        // A result row selected gives the person and the day.
        let (person, day) = match self.view {
            AttView::Results => self
                .result_rows(sh)
                .get(self.selected)
                .map(|r| (r.person_no.clone(), r.day))
                .unwrap_or_else(|| (String::new(), self.day(sh))),
            _ => (String::new(), self.day(sh)),
        };
        let at = |h: u32| format!("{day} {h:02}:00");
        let form = Form::new(
            tr(lang, "att.form.correct").to_string(),
            vec![
                Field::text(CorrectField::Person, &person),
                Field::with(CorrectField::Kind, Input::choice(kinds(lang), "punch")),
                Field::text(CorrectField::From, &at(17)),
                Field::text(CorrectField::To, &at(18)),
                Field::text(CorrectField::LeaveType, ""),
                Field::text(CorrectField::Reason, ""),
            ],
        )
        .with_intro(vec![tr(lang, "att.form.correct_intro").to_string()]);
        self.form = Some(AttForm::Correct(form));
    }

    pub(super) fn open_revoke(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let Some(c) = self.selected_correction() else {
            return sh.info_key("att.msg.pick_correction");
        };
        if c.revoked.is_some() {
            return sh.info_key("att.msg.revoked_already");
        }
        let title = trf(
            sh.lang,
            "att.form.revoke",
            &[("id", &c.id.to_string()), ("name", &c.person_name)],
        );
        let id = c.id;
        self.form = Some(AttForm::Revoke {
            id,
            form: Form::new(title, vec![Field::text(RevokeField::Reason, "")]),
        });
        vec![]
    }

    pub(super) fn open_export(&mut self, sh: &Shell) {
        let (from, to) = month_of(self.day(sh));
        let name = format!("attendance-{}.csv", from.format("%Y-%m"));
        let title = trf(
            sh.lang,
            "att.form.export",
            &[("from", &from.to_string()), ("to", &to.to_string())],
        );
        self.form = Some(AttForm::Export {
            from,
            to,
            form: Form::new(title, vec![Field::text(ExportField::Path, &name)])
                .with_intro(vec![tr(sh.lang, "att.form.export_intro").to_string()]),
        });
    }

    pub(super) fn open_import(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let Some(m) = self.selected_machine() else {
            return sh.info_key("att.msg.no_machine");
        };
        let title = trf(
            sh.lang,
            "att.form.import",
            &[("machine", &super::machine_named(m))],
        );
        let terminal_id = m.terminal_id;
        self.form =
            Some(AttForm::Import {
                terminal_id,
                form: Form::new(title, vec![Field::text(ImportField::Path, "")])
                    .with_intro(vec![tr(sh.lang, "att.form.import_intro").to_string()]),
            });
        vec![]
    }

    pub(super) fn on_form_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(f) = self.form.as_mut() else {
            return vec![];
        };
        let (answer, busy) = match f {
            AttForm::Correct(form) => (form.key(key).submitted(), form.busy),
            AttForm::Revoke { form, .. } => (form.key(key).submitted(), form.busy),
            AttForm::Export { form, .. } => (form.key(key).submitted(), form.busy),
            AttForm::Import { form, .. } => (form.key(key).submitted(), form.busy),
        };
        match answer {
            Some(false) => {
                self.form = None;
                sh.cancelled()
            }
            Some(true) if !busy => {
                let effect = match f {
                    AttForm::Correct(form) => match correction(form) {
                        Ok((person, kind, reason)) => Effect::Correct {
                            person,
                            kind,
                            reason,
                        },
                        Err(why) => {
                            form.error = Some(tr(lang, why).to_string());
                            return vec![];
                        }
                    },
                    AttForm::Revoke { id, form } => {
                        let reason = form.text(RevokeField::Reason).trim().to_string();
                        if reason.is_empty() {
                            form.error = Some(tr(lang, "att.form.error.no_reason").to_string());
                            return vec![];
                        }
                        Effect::Revoke { id: *id, reason }
                    }
                    AttForm::Export { from, to, form } => {
                        let path = form.text(ExportField::Path).trim().to_string();
                        if path.is_empty() {
                            form.error = Some(tr(lang, "att.form.error.no_path").to_string());
                            return vec![];
                        }
                        Effect::Export {
                            from: *from,
                            to: *to,
                            path,
                            overwrite: false,
                        }
                    }
                    AttForm::Import { terminal_id, form } => {
                        let path = form.text(ImportField::Path).trim().to_string();
                        if path.is_empty() {
                            form.error = Some(tr(lang, "att.form.error.no_path").to_string());
                            return vec![];
                        }
                        Effect::Import {
                            terminal_id: *terminal_id,
                            path,
                        }
                    }
                };
                match f {
                    AttForm::Correct(form) => form.busy = true,
                    AttForm::Revoke { form, .. } => form.busy = true,
                    AttForm::Export { form, .. } => form.busy = true,
                    AttForm::Import { form, .. } => form.busy = true,
                }
                vec![effect]
            }
            _ => vec![],
        }
    }
}

/// What a key did to a form, as far as the tab cares: submitted (true), cancelled (false).
trait Submitted {
    fn submitted(self) -> Option<bool>;
}

impl<F> Submitted for FormKey<F> {
    fn submitted(self) -> Option<bool> {
        match self {
            FormKey::Submit => Some(true),
            FormKey::Cancel => Some(false),
            _ => None,
        }
    }
}
