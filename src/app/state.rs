//! Everything the console shows, in one place. `ui` renders it; only `update` changes it.

use super::cards::{CardDesk, CardForm, DeskPending, PinNote};
use super::filter;
use super::msg::DbState;
use crate::db::alarm::Alarm;
use crate::db::audit;
use crate::db::command::CommandRow;
use crate::db::listen::TraceFrame;
use crate::db::notify::Change;
use crate::db::operator::Operator;
use crate::db::terminal::{Line, Terminal};
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::Lang;
use crate::keymap::key::Key;
use crate::keymap::{Keymap, Section};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
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

/// A form field on the login, first-run and password screens, and in the edit popups.
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
    /// A terminal's inventory fields, in a popup over the Terminals tab.
    TerminalEdit {
        terminal_id: i64,
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
    /// Name, location, installation date and installer, filled with the terminal's values.
    pub fn terminal_edit(t: &Terminal) -> Form {
        let mut form = Form::new(
            FormKind::TerminalEdit { terminal_id: t.id },
            &[
                ("form.terminal_name", false),
                ("form.location", false),
                ("form.installed_at", false),
                ("form.installed_by", false),
            ],
        );
        let date = t.installed_at.map(|d| d.to_string()).unwrap_or_default();
        for (field, value) in
            form.fields
                .iter_mut()
                .zip([&t.name, &t.location, &date, &t.installed_by])
        {
            field.value = value.clone();
        }
        form
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

/// The acknowledgement note being typed for an alarm: number keys pick a preset while it is
/// empty, anything else is free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteInput {
    pub alarm_id: i64,
    /// Names the alarm, as the confirm popups do.
    pub title: String,
    pub text: String,
}

/// Catalogue keys of the preset acknowledgement notes, chosen with 1, 2, 3 ...
pub const PRESET_NOTES: [&str; 4] = [
    "alarm.note.preset.false_alarm",
    "alarm.note.preset.guard_sent",
    "alarm.note.preset.maintenance",
    "alarm.note.preset.police",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help {
        scroll: u16,
    },
    Palette(Palette),
    Confirm(Confirm),
    AlarmNote(NoteInput),
    /// An edit form over the tab (`FormKind::TerminalEdit`).
    Edit(Form),
    /// A card desk form over the Card service tab.
    CardForm(CardForm),
    /// PINs shown once; dismissed, they are gone.
    Pins(PinNote),
    /// A person import: its dry run's answer, then its progress.
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// Unacknowledged alarms by priority, P1 to P3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmCounts {
    pub by_priority: Vec<(u8, u32)>,
}

impl AlarmCounts {
    pub fn of(&self, priority: u8) -> u32 {
        self.by_priority
            .iter()
            .find(|(p, _)| *p == priority)
            .map_or(0, |(_, n)| *n)
    }
}

/// Open alarms as last read, and the Alarms view over them.
#[derive(Debug, Clone, Default)]
pub struct Alarms {
    /// Whether the Alarms view covers the tab body.
    pub open: bool,
    /// Active first, then by priority, newest first (the order of `db::alarm::open`).
    pub list: Vec<Alarm>,
    /// The selected alarm, by id, so a reload never moves the cursor to another alarm.
    pub selected: Option<i64>,
    /// Set once the first full list arrived: alarms before it are not "new" and never ring.
    pub loaded: bool,
    /// Every alarm id this console has seen, so a reload does not ring twice.
    pub seen: HashSet<i64>,
    /// The `/` filter over the view's rows.
    pub filter: String,
}

/// Lines, terminals and what this console asked them to do.
#[derive(Debug, Clone, Default)]
pub struct Terminals {
    pub loaded: bool,
    pub lines: Vec<Line>,
    /// Ordered by line (as `lines`), then address.
    pub list: Vec<Terminal>,
    /// The selected terminal, by id.
    pub selected: Option<i64>,
    /// Commands this console enqueued, by id, as last read (the outcome is reported once).
    pub commands: HashMap<i64, CommandRow>,
    /// Command ids whose outcome has not been reported yet, with the terminal they went to.
    pub awaiting: HashMap<i64, i64>,
    pub trace: Option<Trace>,
    /// The `/` filter over the inventory's rows.
    pub filter: String,
}

/// A row of the Terminals tab's list: a line's heading (with how many of its terminals are
/// shown), or a terminal.
#[derive(Debug, Clone, Copy)]
pub enum TerminalRow<'a> {
    Line(&'a Line, usize),
    Terminal(&'a Terminal),
}

/// The live frame trace of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub line_id: i64,
    pub frames: VecDeque<TraceFrame>,
    /// When the trace was last asked for; renewed before it runs out.
    pub requested_at: DateTime<Utc>,
}

/// How many frames a trace keeps.
pub const TRACE_FRAMES: usize = 200;

/// Notifications collected since the last frame: reloaded once per frame, each id once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Reload everything (the listener (re)connected, or a payload overflowed).
    pub all: bool,
    pub change: Change,
    /// The Card service tab's search and person, typed or moved since the last frame.
    pub desk: DeskPending,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        !self.all && self.change.is_empty() && self.desk.is_empty()
    }
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
    pub alarm: Alarms,
    pub terminals: Terminals,
    /// The Card service tab.
    pub cards: CardDesk,
    pub pending: Pending,
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
            alarm: Alarms::default(),
            terminals: Terminals::default(),
            cards: CardDesk::default(),
            pending: Pending::default(),
            size: (80, 24),
            quit: false,
        }
    }

    pub fn may(&self, action: Action) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| crate::domain::permission::allows(s.role(), action))
    }

    /// The list `/` filters here: none on the Card service tab (where `/` searches the person
    /// register) nor on a tab without a table.
    pub fn filtered_list(&self) -> Option<filter::List> {
        if self.alarm.open {
            return Some(filter::List::Alarms);
        }
        match self.tab {
            Tab::Terminals => Some(filter::List::Terminals),
            Tab::Operators => Some(filter::List::Operators),
            _ => None,
        }
    }

    /// A list's `/` filter; each list has its own.
    pub fn filter(&self, list: filter::List) -> &str {
        match list {
            filter::List::Alarms => &self.alarm.filter,
            filter::List::Terminals => &self.terminals.filter,
            filter::List::Operators => &self.operators_view.filter,
        }
    }

    pub fn filter_mut(&mut self, list: filter::List) -> &mut String {
        match list {
            filter::List::Alarms => &mut self.alarm.filter,
            filter::List::Terminals => &mut self.terminals.filter,
            filter::List::Operators => &mut self.operators_view.filter,
        }
    }

    /// The operators the table shows: filtered by the `/` text over login, name and role.
    pub fn visible_operators(&self) -> Vec<&Operator> {
        let f = &self.operators_view.filter;
        self.operators
            .iter()
            .filter(|o| filter::matches(f, [&o.login, &o.display_name, o.role.name()]))
            .collect()
    }

    pub fn selected_operator(&self) -> Option<&Operator> {
        self.visible_operators()
            .get(self.operators_view.selected)
            .copied()
    }

    fn shows_alarm(&self, a: &Alarm) -> bool {
        let f = &self.alarm.filter;
        f.is_empty() || filter::matches(f, filter::alarm_texts(self.lang, a))
    }

    /// The alarms the view shows: the open ones, narrowed by its `/` filter.
    pub fn visible_alarms(&self) -> Vec<&Alarm> {
        self.alarm
            .list
            .iter()
            .filter(|a| self.shows_alarm(a))
            .collect()
    }

    /// The selected alarm while it is shown: what the alarm commands act on.
    pub fn selected_alarm(&self) -> Option<&Alarm> {
        let id = self.alarm.selected?;
        self.alarm
            .list
            .iter()
            .find(|a| a.id == id)
            .filter(|a| self.shows_alarm(a))
    }

    /// The selected alarm's row among those shown (0 when none is).
    pub fn selected_alarm_index(&self) -> usize {
        self.alarm
            .selected
            .and_then(|id| self.visible_alarms().iter().position(|a| a.id == id))
            .unwrap_or(0)
    }

    /// Whether the inventory shows a terminal: its line is known and it passes the filter.
    fn shows_terminal(&self, t: &Terminal) -> bool {
        let f = &self.terminals.filter;
        self.line(t.line_id).is_some_and(|line| {
            f.is_empty() || filter::matches(f, filter::terminal_texts(self.lang, t, line))
        })
    }

    /// The Terminals tab's rows: each line's heading, then its terminals that pass the filter.
    /// Under a filter, a line none of whose terminals pass is left out.
    pub fn terminal_rows(&self) -> Vec<TerminalRow<'_>> {
        let filtered = !self.terminals.filter.is_empty();
        let mut rows = Vec::new();
        for line in &self.terminals.lines {
            let on: Vec<&Terminal> = self
                .terminals
                .list
                .iter()
                .filter(|t| t.line_id == line.id && self.shows_terminal(t))
                .collect();
            if filtered && on.is_empty() {
                continue;
            }
            rows.push(TerminalRow::Line(line, on.len()));
            rows.extend(on.into_iter().map(TerminalRow::Terminal));
        }
        rows
    }

    /// The terminals the tab shows, in the order of its rows.
    pub fn visible_terminals(&self) -> Vec<&Terminal> {
        self.terminal_rows()
            .into_iter()
            .filter_map(|r| match r {
                TerminalRow::Terminal(t) => Some(t),
                TerminalRow::Line(..) => None,
            })
            .collect()
    }

    /// The selected terminal while it is shown: what the terminal commands act on.
    pub fn selected_terminal(&self) -> Option<&Terminal> {
        let id = self.terminals.selected?;
        self.terminal(id).filter(|t| self.shows_terminal(t))
    }

    /// The selected terminal's place among the terminals shown (0 when none is).
    pub fn selected_terminal_index(&self) -> usize {
        self.terminals
            .selected
            .and_then(|id| self.visible_terminals().iter().position(|t| t.id == id))
            .unwrap_or(0)
    }

    /// The selected terminal's row in `terminal_rows`, headings counted (0 when none is shown).
    pub fn selected_terminal_row(&self) -> usize {
        let id = self.terminals.selected;
        self.terminal_rows()
            .iter()
            .position(|r| matches!(r, TerminalRow::Terminal(t) if Some(t.id) == id))
            .unwrap_or(0)
    }

    pub fn line(&self, id: i64) -> Option<&Line> {
        self.terminals.lines.iter().find(|l| l.id == id)
    }

    pub fn terminal(&self, id: i64) -> Option<&Terminal> {
        self.terminals.list.iter().find(|t| t.id == id)
    }

    /// The keymap section keys resolve in: the Alarms view takes only global keys, so a tab's
    /// own bindings never shadow the alarm commands there.
    pub fn key_section(&self) -> Section {
        if self.alarm.open {
            Section::Global
        } else {
            self.tab.section()
        }
    }

    pub fn is_small(&self) -> bool {
        self.size.0 < 80 || self.size.1 < 24
    }
}
