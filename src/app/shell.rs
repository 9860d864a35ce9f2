//! What every tab reads, and the few things a tab may set (the message line, the bell): the
//! shell's state, below the tabs. Nothing here knows a tab.

use super::commands::Commands;
use super::form::{Field, FieldId, Form, TextInput};
use crate::db::operator::Operator;
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::key::Key;
use crate::keymap::{Command, Keymap, Section};
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    Connecting,
    Ready,
    Lost(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionField {
    Login,
    DisplayName,
    Password,
    PasswordAgain,
    NewPassword,
}

impl FieldId for SessionField {
    fn label(self) -> &'static str {
        match self {
            SessionField::Login => "form.login",
            SessionField::DisplayName => "form.display_name",
            SessionField::Password => "form.password",
            SessionField::PasswordAgain => "form.password_again",
            SessionField::NewPassword => "form.new_password",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    Login,
    FirstRun,
    /// `forced`: the operator must choose a password before going on.
    ChangePassword {
        forced: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub kind: SignInKind,
    pub form: Form<SessionField>,
}

impl SignIn {
    fn new(kind: SignInKind, fields: Vec<Field<SessionField>>) -> SignIn {
        let mut form = Form::new(String::new(), fields);
        form.enter_advances = true;
        SignIn { kind, form }
    }

    pub fn login() -> SignIn {
        SignIn::new(
            SignInKind::Login,
            vec![
                Field::text(SessionField::Login, ""),
                Field::secret(SessionField::Password),
            ],
        )
    }

    pub fn first_run() -> SignIn {
        SignIn::new(
            SignInKind::FirstRun,
            vec![
                Field::text(SessionField::Login, ""),
                Field::text(SessionField::DisplayName, ""),
                Field::secret(SessionField::Password),
                Field::secret(SessionField::PasswordAgain),
            ],
        )
    }

    pub fn change_password(forced: bool) -> SignIn {
        SignIn::new(
            SignInKind::ChangePassword { forced },
            vec![
                Field::secret(SessionField::NewPassword),
                Field::secret(SessionField::PasswordAgain),
            ],
        )
    }
}

/// The idle lock's screen: the signed-in operator's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub form: Form<SessionField>,
}

impl Lock {
    pub fn new() -> Lock {
        let mut form = Form::new(String::new(), vec![Field::secret(SessionField::Password)]);
        form.enter_advances = true;
        Lock { form }
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

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
    pub input: TextInput,
    pub selected: usize,
}

/// The shell's own popups, over whatever tab is shown. A tab's popups (its forms) are its own;
/// a confirmation holds an effect, so it is the state's (`State::confirm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Palette(Palette),
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
    /// Ring the terminal's bell after this update (an error said, an alarm raised).
    pub bell: bool,
    /// The last key or mouse input (at the clock's last tick), for the idle lock.
    pub last_input: DateTime<Utc>,
    /// Minutes of no input before the console locks; 0 never (`console.lock_after_min`).
    pub lock_after_min: u32,
    /// Locked: the lock screen asks for the operator's password; alarms stay shown.
    pub lock: Option<Lock>,
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

    pub fn info<E>(&mut self, text: String) -> Vec<E> {
        self.message = Some((Level::Info, text));
        vec![]
    }

    pub fn info_key<E>(&mut self, key: &str) -> Vec<E> {
        self.info(tr(self.lang, key).to_string())
    }

    /// An error on the message line, with the bell.
    pub fn error<E>(&mut self, text: String) -> Vec<E> {
        self.message = Some((Level::Error, text));
        self.bell = true;
        vec![]
    }

    /// "A Duty operator may not open doors remotely."
    pub fn denied<E>(&mut self, action: Action) -> Vec<E> {
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

    pub fn cancelled<E>(&mut self) -> Vec<E> {
        self.info_key("msg.cancelled")
    }

    pub fn is_small(&self) -> bool {
        self.size.0 < 80 || self.size.1 < 24
    }

    /// The first key bound to `cmd` in `section`, for texts that name a key.
    pub fn key_for(&self, section: Section, cmd: Command) -> Option<String> {
        self.keymap.keys_for(section, cmd).into_iter().next()
    }
}

/// A view: a tab, or the Alarms view over the tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewId {
    Tab(TabId),
    Alarms,
}

/// The view a command belongs to; None for the shell's own commands.
pub fn owner(cmd: Command) -> Option<ViewId> {
    let name = cmd.name();
    let (prefix, _) = name.split_once('.')?;
    Some(match prefix {
        "alarm" => ViewId::Alarms,
        "terminal" => ViewId::Tab(TabId::Terminals),
        "operator" | "audit" => ViewId::Tab(TabId::Operators),
        "door" | "doors" => ViewId::Tab(TabId::Doors),
        "card" | "cards" | "person" | "stock" | "report" | "desk" => ViewId::Tab(TabId::Cards),
        "settlement" => ViewId::Tab(TabId::Settlement),
        "patrol" => ViewId::Tab(TabId::Patrol),
        "attendance" => ViewId::Tab(TabId::Attendance),
        _ => return None,
    })
}
