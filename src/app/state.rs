//! Everything the console shows, in one place. `ui` renders it; only `update` changes it.

use super::msg::DbState;
use crate::db::audit;
use crate::db::operator::Operator;
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::Lang;
use crate::keymap::key::Key;
use crate::keymap::{Keymap, Section};
use chrono::{DateTime, Utc};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Cards,
    Doors,
    Patrol,
    Attendance,
    Settlement,
    Terminals,
    Operators,
}

impl Tab {
    pub const ALL: [Tab; 7] = [
        Tab::Cards,
        Tab::Doors,
        Tab::Patrol,
        Tab::Attendance,
        Tab::Settlement,
        Tab::Terminals,
        Tab::Operators,
    ];

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
    /// Catalogue key prefix: `tab.<key>.title`, `tab.<key>.holds`.
    pub fn key(self) -> &'static str {
        match self {
            Tab::Cards => "cards",
            Tab::Doors => "doors",
            Tab::Patrol => "patrol",
            Tab::Attendance => "attendance",
            Tab::Settlement => "settlement",
            Tab::Terminals => "terminals",
            Tab::Operators => "operators",
        }
    }
    pub fn section(self) -> Section {
        match self {
            Tab::Cards => Section::Cards,
            Tab::Doors => Section::Doors,
            Tab::Patrol => Section::Patrol,
            Tab::Attendance => Section::Attendance,
            Tab::Settlement => Section::Settlement,
            Tab::Terminals => Section::Terminals,
            Tab::Operators => Section::Operators,
        }
    }
}

/// Which database the console is on, for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbWhere {
    Embedded,
    Demo,
    /// An external server, by host.
    External(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeName {
    Default,
    Basic,
    Light,
}

impl ThemeName {
    pub const ALL: [ThemeName; 3] = [ThemeName::Default, ThemeName::Basic, ThemeName::Light];
    pub fn name(self) -> &'static str {
        match self {
            ThemeName::Default => "default",
            ThemeName::Basic => "basic",
            ThemeName::Light => "light",
        }
    }
    pub fn parse(s: &str) -> Option<ThemeName> {
        ThemeName::ALL.into_iter().find(|t| t.name() == s)
    }
    pub fn next(self) -> ThemeName {
        let i = ThemeName::ALL.iter().position(|t| *t == self).unwrap_or(0);
        ThemeName::ALL[(i + 1) % ThemeName::ALL.len()]
    }
}

/// A form field on the login, first-run and password screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Catalogue key of the label.
    pub label: &'static str,
    pub value: String,
    pub secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Login,
    FirstRun,
    /// `forced`: the operator must choose a password before going on.
    ChangePassword {
        forced: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub kind: FormKind,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub error: Option<String>,
    pub busy: bool,
}

impl Form {
    fn new(kind: FormKind, fields: &[(&'static str, bool)]) -> Form {
        Form {
            kind,
            fields: fields
                .iter()
                .map(|(label, secret)| Field {
                    label,
                    value: String::new(),
                    secret: *secret,
                })
                .collect(),
            focus: 0,
            error: None,
            busy: false,
        }
    }
    pub fn login() -> Form {
        Form::new(
            FormKind::Login,
            &[("form.login", false), ("form.password", true)],
        )
    }
    pub fn first_run() -> Form {
        Form::new(
            FormKind::FirstRun,
            &[
                ("form.login", false),
                ("form.display_name", false),
                ("form.password", true),
                ("form.password_again", true),
            ],
        )
    }
    pub fn change_password(forced: bool) -> Form {
        Form::new(
            FormKind::ChangePassword { forced },
            &[("form.new_password", true), ("form.password_again", true)],
        )
    }
    pub fn value(&self, i: usize) -> &str {
        self.fields.get(i).map(|f| f.value.as_str()).unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Waiting to learn whether any operator exists.
    Starting,
    Form(Form),
    Main,
}

/// A table's cursor and filter; rows live beside it in `State`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableView {
    pub selected: usize,
    pub filter: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    pub input: String,
    pub selected: usize,
}

/// An action waiting for y/n, named in full on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub effect: super::Effect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help { scroll: u16 },
    Palette(Palette),
    Confirm(Confirm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// Unacknowledged alarms by priority (filled by the alarm issue).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmCounts {
    pub by_priority: Vec<(u8, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: i64,
    pub operator: Operator,
}

impl SessionInfo {
    pub fn role(&self) -> Role {
        self.operator.role
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub lang: Lang,
    pub theme: ThemeName,
    pub keymap: Arc<Keymap>,
    pub screen: Screen,
    pub session: Option<SessionInfo>,
    pub demo: bool,
    pub tab: Tab,
    pub db: DbState,
    pub db_where: DbWhere,
    pub now: DateTime<Utc>,
    /// Local time for display, fixed at start (tests pin it).
    pub utc_offset: chrono::FixedOffset,
    pub alarms: AlarmCounts,
    pub overlay: Option<Overlay>,
    /// `Some` while the operator types a filter for the focused table.
    pub filter_input: Option<String>,
    pub pending_keys: Vec<Key>,
    pub message: Option<(Level, String)>,
    pub operators: Vec<Operator>,
    pub operators_view: TableView,
    pub audit: Vec<audit::Entry>,
    pub size: (u16, u16),
    pub quit: bool,
}

impl State {
    pub fn new(
        keymap: Arc<Keymap>,
        lang: Lang,
        theme: ThemeName,
        db_where: DbWhere,
        now: DateTime<Utc>,
    ) -> State {
        State {
            lang,
            theme,
            keymap,
            screen: Screen::Starting,
            session: None,
            demo: false,
            tab: Tab::Cards,
            db: DbState::Connecting,
            db_where,
            now,
            utc_offset: *chrono::Local::now().offset(),
            alarms: AlarmCounts::default(),
            overlay: None,
            filter_input: None,
            pending_keys: Vec::new(),
            message: None,
            operators: Vec::new(),
            operators_view: TableView::default(),
            audit: Vec::new(),
            size: (80, 24),
            quit: false,
        }
    }

    pub fn may(&self, action: Action) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| crate::domain::permission::allows(s.role(), action))
    }

    /// The operators the table shows: filtered by the `/` text over login, name and role.
    pub fn visible_operators(&self) -> Vec<&Operator> {
        let f = self.operators_view.filter.to_lowercase();
        self.operators
            .iter()
            .filter(|o| {
                f.is_empty()
                    || o.login.to_lowercase().contains(&f)
                    || o.display_name.to_lowercase().contains(&f)
                    || o.role.name().contains(&f)
            })
            .collect()
    }

    pub fn selected_operator(&self) -> Option<&Operator> {
        self.visible_operators()
            .get(self.operators_view.selected)
            .copied()
    }

    pub fn is_small(&self) -> bool {
        self.size.0 < 80 || self.size.1 < 24
    }
}
