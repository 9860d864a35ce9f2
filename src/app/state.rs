//! Everything the console shows, in one place: the shell (what every tab shares) and one model
//! per tab. `ui` renders it; only `update` changes it.

use super::msg::DbState;
use super::queue::Commands;
use super::session::SignIn;
use super::tabs::{alarms, cards, doors, operators, placeholder, terminals};
use crate::db::notify::Change;
use crate::db::operator::Operator;
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::key::Key;
use crate::keymap::{Keymap, Section};
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabId {
    Cards,
    Doors,
    Patrol,
    Attendance,
    Settlement,
    Terminals,
    Operators,
}

impl TabId {
    pub const ALL: [TabId; 7] = [
        TabId::Cards,
        TabId::Doors,
        TabId::Patrol,
        TabId::Attendance,
        TabId::Settlement,
        TabId::Terminals,
        TabId::Operators,
    ];

    pub fn index(self) -> usize {
        TabId::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// Catalogue key prefix: `tab.<key>.title`, `tab.<key>.holds`.
    pub fn key(self) -> &'static str {
        match self {
            TabId::Cards => "cards",
            TabId::Doors => "doors",
            TabId::Patrol => "patrol",
            TabId::Attendance => "attendance",
            TabId::Settlement => "settlement",
            TabId::Terminals => "terminals",
            TabId::Operators => "operators",
        }
    }

    pub fn section(self) -> Section {
        match self {
            TabId::Cards => Section::Cards,
            TabId::Doors => Section::Doors,
            TabId::Patrol => Section::Patrol,
            TabId::Attendance => Section::Attendance,
            TabId::Settlement => Section::Settlement,
            TabId::Terminals => Section::Terminals,
            TabId::Operators => Section::Operators,
        }
    }

    pub fn title(self, lang: Lang) -> &'static str {
        tr(lang, &format!("tab.{}.title", self.key()))
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Waiting to learn whether any operator exists.
    Starting,
    /// Sign-in, first run, or a password to choose.
    SignIn(SignIn),
    Main,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    pub input: super::form::TextInput,
    pub selected: usize,
}

/// An action waiting for y/n, named in full on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub effect: super::Effect,
}

/// The shell's own popups, over whatever tab is shown. A tab's popups (its forms) are its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Palette(Palette),
    Confirm(Confirm),
    /// "Quit onecard? y/n": a control-room console is not left by one stray key.
    Quit,
    /// Problems found at start (the keymap file), with file, line and key; any key closes it.
    Notice {
        title: String,
        lines: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
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

/// What every tab reads, and the few things a tab may set (the message line, a confirmation).
#[derive(Debug, Clone)]
pub struct Shell {
    pub lang: Lang,
    pub theme: ThemeName,
    pub keymap: Arc<Keymap>,
    pub screen: Screen,
    pub session: Option<SessionInfo>,
    pub demo: bool,
    pub tab: TabId,
    pub db: DbState,
    pub db_where: DbWhere,
    pub now: DateTime<Utc>,
    /// Local time for display, fixed at start (tests pin it).
    pub utc_offset: chrono::FixedOffset,
    pub overlay: Option<Overlay>,
    pub pending_keys: Vec<Key>,
    pub message: Option<(Level, String)>,
    pub size: (u16, u16),
    /// The last load generation handed out (`load` explains why).
    pub gen: u64,
    /// Commands this console sent to terminals, and their outcomes.
    pub commands: Commands,
}

impl Shell {
    pub fn may(&self, action: Action) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| crate::domain::permission::allows(s.role(), action))
    }

    pub fn role(&self) -> Option<Role> {
        self.session.as_ref().map(|s| s.role())
    }

    /// A new load generation.
    pub fn next_gen(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.utc_offset).date_naive()
    }

    pub fn info(&mut self, text: String) -> Vec<super::Effect> {
        self.message = Some((Level::Info, text));
        vec![]
    }

    pub fn info_key(&mut self, key: &str) -> Vec<super::Effect> {
        self.info(tr(self.lang, key).to_string())
    }

    /// An error on the message line, with the bell.
    pub fn error(&mut self, text: String) -> Vec<super::Effect> {
        self.message = Some((Level::Error, text));
        vec![super::Effect::Bell]
    }

    /// "A Duty operator may not open doors remotely."
    pub fn denied(&mut self, action: Action) -> Vec<super::Effect> {
        let role = self
            .role()
            .map(|r| super::words::role(self.lang, r))
            .unwrap_or("");
        let text = trf(
            self.lang,
            "msg.denied",
            &[
                ("role", role),
                ("action", super::words::action(self.lang, action)),
            ],
        );
        self.error(text)
    }

    pub fn confirm(&mut self, question: String, effect: super::Effect) -> Vec<super::Effect> {
        self.overlay = Some(Overlay::Confirm(Confirm { question, effect }));
        vec![]
    }

    pub fn cancelled(&mut self) -> Vec<super::Effect> {
        self.info_key("msg.cancelled")
    }

    pub fn is_small(&self) -> bool {
        self.size.0 < 80 || self.size.1 < 24
    }

    /// The first key bound to `cmd` in `section`, for texts that name a key.
    pub fn key_for(&self, section: Section, cmd: crate::keymap::Command) -> Option<String> {
        self.keymap.keys_for(section, cmd).into_iter().next()
    }
}

/// Notifications collected since the last frame: reloaded once per frame, each id once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Reload everything (the listener (re)connected, or a payload overflowed).
    pub all: bool,
    pub change: Change,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        !self.all && self.change.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub shell: Shell,
    pub alarms: alarms::Alarms,
    pub cards: cards::Cards,
    pub doors: doors::Doors,
    pub patrol: placeholder::Placeholder,
    pub attendance: placeholder::Placeholder,
    pub settlement: placeholder::Placeholder,
    pub terminals: terminals::Terminals,
    pub operators: operators::Operators,
    pub pending: Pending,
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
            shell: Shell {
                lang,
                theme,
                keymap,
                screen: Screen::Starting,
                session: None,
                demo: false,
                tab: TabId::Cards,
                db: DbState::Connecting,
                db_where,
                now,
                utc_offset: *chrono::Local::now().offset(),
                overlay: None,
                pending_keys: Vec::new(),
                message: None,
                size: (80, 24),
                gen: 0,
                commands: Commands::default(),
            },
            alarms: Default::default(),
            cards: Default::default(),
            doors: Default::default(),
            patrol: placeholder::Placeholder::new(TabId::Patrol),
            attendance: placeholder::Placeholder::new(TabId::Attendance),
            settlement: placeholder::Placeholder::new(TabId::Settlement),
            terminals: Default::default(),
            operators: Default::default(),
            pending: Pending::default(),
        }
    }

    /// Problems with the user's keymap file, shown on screen until a key is pressed.
    pub fn show_keymap_errors(&mut self, errors: &[String]) {
        if errors.is_empty() {
            return;
        }
        self.shell.overlay = Some(Overlay::Notice {
            title: tr(self.shell.lang, "keymap.errors_title").to_string(),
            lines: errors.to_vec(),
        });
    }
}
