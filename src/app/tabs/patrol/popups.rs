//! The Patrol tab's popups and list commands: adding a map, closing an exception, the report's
//! range and export, the setup forms, the purge; and what the lists' commands do.

use super::lists::{self, OmissionField, Range};
use super::setup::{self, List, SetupForm};
use super::{Effect, Pane, Patrol};
use crate::app::form::{Field, FieldId, Form, FormKey};
use crate::app::shell::Shell;
use crate::db::command::TerminalCommand;
use crate::db::patrol::purge::Purged;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf};
use crate::keymap::Command;
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapField {
    Name,
    Path,
}

impl FieldId for MapField {
    fn label(self) -> &'static str {
        match self {
            MapField::Name => "patrol.form.map_name",
            MapField::Path => "patrol.form.map_path",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseField {
    Comment,
}

impl FieldId for CloseField {
    fn label(self) -> &'static str {
        "patrol.form.comment"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeField {
    Before,
}

impl FieldId for PurgeField {
    fn label(self) -> &'static str {
        "patrol.purge.before"
    }
}

/// The purge popup: the day, what it would delete, then its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeView {
    pub form: Form<PurgeField>,
    pub preview: Option<Purged>,
    /// Deleted so far, once confirmed.
    pub progress: Option<Purged>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Purge(PurgeView),
    Close {
        visit_id: i64,
        form: Form<CloseField>,
    },
    AddMap(Form<MapField>),
    Range(Form<OmissionField>),
    Export(Form<OmissionField>),
    Setup(SetupForm),
}

impl Patrol {
    pub(super) fn run_list(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        let lang = sh.lang;
        match (self.pane, cmd) {
            (Pane::Exceptions, Command::PatrolClose) => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let Some(e) = self.exceptions.selected() else {
                    return sh.info_key("patrol.msg.no_exception");
                };
                let intro = trf(
                    lang,
                    "patrol.form.intro.close",
                    &[
                        ("checkpoint", &e.checkpoint),
                        ("guard", &e.guard),
                        ("class", &crate::app::words::patrol_exception(lang, e.class)),
                    ],
                );
                let form = Form::new(
                    tr(lang, "patrol.form.title.close").to_string(),
                    vec![Field::text(CloseField::Comment, "")],
                )
                .with_intro(vec![intro]);
                self.popup = Some(Popup::Close {
                    visit_id: e.visit_id,
                    form,
                });
                vec![]
            }
            (Pane::Omissions, Command::PatrolNext) => {
                self.omissions.grouping = (self.omissions.grouping + 1) % lists::GROUPINGS.len();
                vec![]
            }
            (Pane::Omissions, Command::PatrolRange) => {
                let Some(r) = self.omissions.range.clone() else {
                    return vec![];
                };
                let local = |t: DateTime<Utc>| {
                    t.with_timezone(&sh.utc_offset)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                };
                let form = Form::new(
                    tr(lang, "patrol.form.title.range").to_string(),
                    vec![
                        Field::text(OmissionField::From, &local(r.from)),
                        Field::text(OmissionField::To, &local(r.to)),
                        Field::text(OmissionField::Guard, &r.guard),
                        Field::text(OmissionField::Route, &r.route),
                    ],
                )
                .with_intro(vec![tr(lang, "patrol.form.intro.range").to_string()]);
                self.popup = Some(Popup::Range(form));
                vec![]
            }
            (Pane::Omissions, Command::PatrolExport) => {
                if self.omissions.range.is_none() {
                    return vec![];
                }
                let name = format!("patrol-omissions-{}.csv", sh.today().format("%Y%m%d"));
                let form = Form::new(
                    tr(lang, "patrol.form.title.export").to_string(),
                    vec![Field::text(OmissionField::Path, &name)],
                )
                .with_intro(vec![tr(lang, "patrol.form.intro.export").to_string()]);
                self.popup = Some(Popup::Export(form));
                vec![]
            }
            (Pane::Setup, Command::PatrolDownload | Command::PatrolExtract) => {
                let command = if cmd == Command::PatrolDownload {
                    TerminalCommand::DownloadCards
                } else {
                    TerminalCommand::Extract
                };
                let action = command.action();
                if !sh.may(action) {
                    return sh.denied(action);
                }
                let reader = (self.setup.list == List::Readers)
                    .then(|| self.setup.data.readers.get(self.setup.at))
                    .flatten();
                let Some(t) = reader else {
                    return sh.info_key("patrol.msg.no_reader");
                };
                vec![Effect::Enqueue {
                    terminal_id: t.id,
                    about: t.name.clone(),
                    command,
                }]
            }
            (_, Command::PatrolDownload | Command::PatrolExtract) => {
                sh.info_key("patrol.msg.no_reader")
            }
            (Pane::Setup, Command::PatrolNext) => {
                self.setup.list = self.setup.list.next();
                self.setup.at = 0;
                vec![]
            }
            (Pane::Setup, Command::PatrolAdd | Command::PatrolEdit) => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let edit = cmd == Command::PatrolEdit;
                match self.setup.form(lang, edit) {
                    Some(f) => {
                        self.popup = Some(Popup::Setup(f));
                        vec![]
                    }
                    None => sh.info_key("patrol.msg.nothing_selected"),
                }
            }
            (Pane::Setup, Command::PatrolDelete) => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let Some(item) = self.setup.item() else {
                    return sh.info_key("patrol.msg.nothing_selected");
                };
                let question = trf(
                    lang,
                    "patrol.confirm.delete",
                    &[
                        (
                            "what",
                            tr(lang, &format!("patrol.item.{}", item.list.key())),
                        ),
                        ("name", &item.name),
                    ],
                );
                self.ask(question, Effect::Delete(item))
            }
            _ => vec![],
        }
    }

    pub(super) fn open_purge(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !sh.may(Action::RecordPurge) {
            return sh.denied(Action::RecordPurge);
        }
        let lang = sh.lang;
        let before = sh.today() - chrono::Duration::days(365);
        let form = Form::new(
            tr(lang, "patrol.purge.title").to_string(),
            vec![Field::text(PurgeField::Before, &before.to_string())],
        )
        .with_intro(vec![tr(lang, "patrol.purge.intro").to_string()]);
        self.popup = Some(Popup::Purge(PurgeView {
            form,
            preview: None,
            progress: None,
        }));
        vec![]
    }

    pub(super) fn on_popup_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(mut popup) = self.popup.take() else {
            return vec![];
        };
        let fx = match &mut popup {
            Popup::Purge(v) => {
                // Once running it ends on its own (each step is committed).
                if v.progress.is_some() {
                    self.popup = Some(popup);
                    return vec![];
                }
                match v.form.key(key) {
                    FormKey::Cancel => return sh.cancelled(),
                    FormKey::Changed(_) => {
                        v.preview = None;
                        vec![]
                    }
                    FormKey::Submit => {
                        let text = v.form.text(PurgeField::Before).trim().to_string();
                        match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                            Ok(before) => {
                                v.form.busy = true;
                                v.form.error = None;
                                vec![Effect::PurgePreview {
                                    gen: sh.next_gen(),
                                    before,
                                }]
                            }
                            Err(_) => {
                                v.form.error = Some(tr(lang, "patrol.error.not_a_day").to_string());
                                vec![]
                            }
                        }
                    }
                    _ => vec![],
                }
            }
            Popup::Close { visit_id, form } => match form.key(key) {
                FormKey::Cancel => return sh.cancelled(),
                FormKey::Submit => {
                    form.busy = true;
                    form.error = None;
                    vec![Effect::Close {
                        visit_id: *visit_id,
                        comment: form.text(CloseField::Comment).trim().to_string(),
                    }]
                }
                _ => vec![],
            },
            Popup::AddMap(form) => match form.key(key) {
                FormKey::Cancel => return sh.cancelled(),
                FormKey::Submit => {
                    form.busy = true;
                    form.error = None;
                    vec![Effect::CreateMap {
                        name: form.text(MapField::Name).trim().to_string(),
                        path: form.text(MapField::Path).trim().to_string(),
                    }]
                }
                _ => vec![],
            },
            Popup::Range(form) => match form.key(key) {
                FormKey::Cancel => return sh.cancelled(),
                FormKey::Submit => {
                    let from = lists::parse_local(form.text(OmissionField::From), sh.utc_offset);
                    let to = lists::parse_local(form.text(OmissionField::To), sh.utc_offset);
                    match (from, to) {
                        (Some(from), Some(to)) => {
                            let range = Range {
                                from,
                                to,
                                guard: form.text(OmissionField::Guard).trim().to_string(),
                                route: form.text(OmissionField::Route).trim().to_string(),
                            };
                            self.omissions.range = Some(range.clone());
                            return vec![Effect::LoadReport {
                                gen: sh.next_gen(),
                                range,
                                now: sh.now,
                            }];
                        }
                        (None, _) => {
                            form.focus_on(OmissionField::From);
                            form.error = Some(tr(lang, "patrol.error.not_a_time").to_string());
                        }
                        (_, None) => {
                            form.focus_on(OmissionField::To);
                            form.error = Some(tr(lang, "patrol.error.not_a_time").to_string());
                        }
                    }
                    vec![]
                }
                _ => vec![],
            },
            Popup::Export(form) => match form.key(key) {
                FormKey::Cancel => return sh.cancelled(),
                FormKey::Submit => match self.omissions.range.clone() {
                    Some(range) => {
                        form.busy = true;
                        form.error = None;
                        vec![Effect::Export {
                            range,
                            path: form.text(OmissionField::Path).trim().to_string(),
                            now: sh.now,
                        }]
                    }
                    None => return vec![],
                },
                _ => vec![],
            },
            Popup::Setup(f) => match f.form.key(key) {
                FormKey::Cancel => return sh.cancelled(),
                FormKey::Submit => {
                    let place = match f.list {
                        List::Checkpoints => self
                            .setup
                            .data
                            .checkpoints
                            .iter()
                            .find(|c| c.tag == f.id)
                            .and_then(|c| c.place),
                        _ => None,
                    };
                    match setup::submit(f, place) {
                        Ok(effect) => {
                            f.form.busy = true;
                            f.form.error = None;
                            vec![effect]
                        }
                        Err((field, why)) => {
                            f.form.focus_on(field);
                            f.form.error = Some(crate::app::words::failure(lang, &why));
                            vec![]
                        }
                    }
                }
                _ => vec![],
            },
        };
        self.popup = Some(popup);
        fx
    }
}
