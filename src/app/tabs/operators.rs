//! The Operators tab: accounts (add, unlock, reset a password, disable) and the latest audit
//! entries, for the system administrator and the director.

use super::{Arrive, Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::{self, Filter};
use crate::app::form::{Confirm, Field, FieldId, Form, FormKey, Input, Opt};
use crate::app::layout;
use crate::app::load::Shown;
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::audit;
use crate::db::notify::Change;
use crate::db::operator::{valid_login, Operator};
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::{tr, trf};
use crate::keymap::{Command, Section};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

/// Audit entries the tab lists.
pub const AUDIT_ROWS: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorField {
    Login,
    Name,
    Role,
}

impl FieldId for OperatorField {
    fn label(self) -> &'static str {
        match self {
            OperatorField::Login => "form.login",
            OperatorField::Name => "form.display_name",
            OperatorField::Role => "operator.col.role",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Operators {
    pub list: Vec<Operator>,
    pub selected: usize,
    pub filter: Filter,
    pub audit: Vec<audit::Entry>,
    pub audit_total: i64,
    pub form: Option<Form<OperatorField>>,
    pub confirm: Option<Confirm<Effect>>,
    list_shown: Shown,
    audit_shown: Shown,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Loaded {
        gen: u64,
        operators: Vec<Operator>,
    },
    AuditLoaded {
        gen: u64,
        entries: Vec<audit::Entry>,
        total: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Load {
        gen: u64,
    },
    LoadAudit {
        gen: u64,
    },
    /// A new operator with a one-time password (shown once, to be changed at first sign-in).
    Add {
        login: String,
        display_name: String,
        role: Role,
    },
    Unlock {
        login: String,
    },
    ResetPassword {
        login: String,
    },
    Disable {
        login: String,
    },
    VerifyAudit,
}

/// The tab's split: the operator table above, recent audit entries below.
pub fn split(body: Rect) -> (Rect, Rect) {
    let top = (body.height * 3 / 5).max(6).min(body.height);
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, body.height - top),
    )
}

impl Operators {
    /// Asks y/n before `effect` (the question names the object).
    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    /// A confirmation's answer: yes runs it, no cancels it, any other key keeps asking.
    fn answer(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        super::answer(&mut self.confirm, sh, key)
    }

    /// The operators the table shows: filtered by the `/` text over login, name and role.
    pub fn visible(&self, sh: &Shell) -> Vec<&Operator> {
        let f = self.filter.text();
        self.list
            .iter()
            .filter(|o| {
                filter::matches(
                    f,
                    [
                        o.login.as_str(),
                        o.display_name.as_str(),
                        o.role.name(),
                        words::role(sh.lang, o.role),
                    ],
                )
            })
            .collect()
    }

    pub fn selected_operator(&self, sh: &Shell) -> Option<&Operator> {
        self.visible(sh).get(self.selected).copied()
    }

    fn clamp(&mut self, sh: &Shell) {
        let len = self.visible(sh).len();
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    fn open_add(&mut self, sh: &Shell) {
        let lang = sh.lang;
        let roles = Role::ALL
            .iter()
            .map(|r| Opt::new(r.name(), words::role(lang, *r)))
            .collect();
        self.form = Some(
            Form::new(
                tr(lang, "operator.form.title.add").to_string(),
                vec![
                    Field::text(OperatorField::Login, ""),
                    Field::text(OperatorField::Name, ""),
                    Field::with(
                        OperatorField::Role,
                        Input::choice(roles, Role::CardDesk.name()),
                    ),
                ],
            )
            .with_intro(vec![tr(lang, "operator.form.intro.add").to_string()]),
        );
    }

    fn on_form_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(form) = self.form.as_mut() else {
            return vec![];
        };
        match form.key(key) {
            FormKey::Cancel => {
                self.form = None;
                sh.cancelled()
            }
            FormKey::Submit => {
                let login = form.text(OperatorField::Login).to_string();
                let name = form.text(OperatorField::Name).to_string();
                if !valid_login(&login) {
                    form.focus_on(OperatorField::Login);
                    form.error = Some(tr(lang, "form.error.bad_login").to_string());
                    return vec![];
                }
                if name.is_empty() {
                    form.focus_on(OperatorField::Name);
                    form.error = Some(tr(lang, "form.error.name_empty").to_string());
                    return vec![];
                }
                let role = Role::ALL
                    .into_iter()
                    .find(|r| r.name() == form.choice(OperatorField::Role))
                    .unwrap_or(Role::CardDesk);
                form.busy = true;
                vec![
                    (Effect::Add {
                        login,
                        display_name: name,
                        role,
                    }),
                ]
            }
            _ => vec![],
        }
    }
}

pub fn update(o: &mut Operators, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Loaded { gen, operators } => {
            if o.list_shown.take(gen) {
                o.list = operators;
                o.clamp(sh);
            }
            vec![]
        }
        Msg::AuditLoaded {
            gen,
            entries,
            total,
        } => {
            if o.audit_shown.take(gen) {
                o.audit = entries;
                o.audit_total = total;
            }
            vec![]
        }
    }
}

fn may_see(sh: &Shell) -> bool {
    sh.may(Action::OperatorManage) || sh.may(Action::AuditRead)
}

impl View for Operators {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Operators
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = self.answer(sh, key) {
            return Some(fx);
        }
        self.form.is_some().then(|| self.on_form_key(sh, key))
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        let lang = sh.lang;
        Some(match cmd {
            Command::AuditVerify => {
                if !sh.may(Action::AuditRead) {
                    return Some(sh.denied(Action::AuditRead));
                }
                vec![(Effect::VerifyAudit)]
            }
            Command::OperatorAdd => {
                if !sh.may(Action::OperatorManage) {
                    return Some(sh.denied(Action::OperatorManage));
                }
                self.open_add(sh);
                vec![]
            }
            Command::OperatorUnlock | Command::OperatorResetPassword | Command::OperatorDisable => {
                if !sh.may(Action::OperatorManage) {
                    return Some(sh.denied(Action::OperatorManage));
                }
                let Some(op) = self.selected_operator(sh) else {
                    return Some(sh.info_key("msg.nothing_selected"));
                };
                let login = op.login.clone();
                let (key, effect) = match cmd {
                    Command::OperatorUnlock => ("confirm.unlock", Effect::Unlock { login }),
                    Command::OperatorResetPassword => {
                        ("confirm.reset_password", Effect::ResetPassword { login })
                    }
                    _ => ("confirm.disable", Effect::Disable { login }),
                };
                let question = trf(
                    lang,
                    key,
                    &[("login", &op.login), ("name", &op.display_name)],
                );
                self.ask(question, effect)
            }
            _ => return None,
        })
    }

    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        let action = if cmd == Command::AuditVerify {
            Action::AuditRead
        } else {
            Action::OperatorManage
        };
        if sh.may(action) {
            Arrive::Go {
                run: cmd == Command::AuditVerify,
            }
        } else {
            {
                sh.denied::<Effect>(action);
                Arrive::Stay
            }
        }
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        Rows {
            n: self.visible(sh).len(),
            at: self.selected,
            page: layout::table_window(split(body).0, 0).0,
        }
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        self.selected = to;
        self.clamp(sh);
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        let (table, _) = split(body);
        let len = self.visible(sh).len();
        if let Some(i) = layout::table_row_at(table, self.selected, len, x, y) {
            self.selected = i;
        }
        vec![]
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        vec![
            (Effect::Load { gen: sh.next_gen() }),
            (Effect::LoadAudit { gen: sh.next_gen() }),
        ]
    }

    fn frame(&mut self, _sh: &mut Shell, _change: &Change) -> Vec<Effect> {
        vec![]
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        let mut v = vec![Command::Help, Command::Palette, Command::Filter];
        if sh.may(Action::OperatorManage) {
            v.extend([
                Command::OperatorAdd,
                Command::OperatorUnlock,
                Command::OperatorResetPassword,
                Command::OperatorDisable,
            ]);
        }
        if sh.may(Action::AuditRead) {
            v.push(Command::AuditVerify);
        }
        v.extend([Command::TabNext, Command::Quit]);
        v
    }

    fn filter(&self) -> Option<&Filter> {
        Some(&self.filter)
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        Some(&mut self.filter)
    }

    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.selected = 0;
        self.clamp(sh);
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        match self.form.as_mut().filter(|f| f.busy) {
            Some(form) => {
                form.refused(words::failure(sh.lang, f));
                true
            }
            None => false,
        }
    }

    fn done(&mut self, _sh: &mut Shell) {
        if self.form.as_ref().is_some_and(|f| f.busy) {
            self.form = None;
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Operators::default();
        vec![]
    }
}
