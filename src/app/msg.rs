//! What happened. Never bindable (that is `Command`).

use super::cards::{
    CardDetail, CardDone, CardLookup, CardRefs, CardView, ImportSummary, PersonRow, ReportPage,
    StockInfo,
};
use crate::db::alarm::Alarm;
use crate::db::audit;
use crate::db::command::CommandRow;
use crate::db::listen::TraceFrame;
use crate::db::notify::Change;
use crate::db::operator::{Operator, Session};
use crate::db::terminal::{Line, Terminal};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    Connecting,
    Ready,
    Lost(String),
}

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    Db(DbState),
    /// Whether any operator exists: none means the first-run screen.
    OperatorsExist(bool),
    LoggedIn(Session),
    LoginFailed(String),
    PasswordChanged,
    LoggedOut,
    OperatorsLoaded(Vec<Operator>),
    AuditLoaded(Vec<audit::Entry>),
    /// A finished operation, reported on the message line.
    Done(String),
    Failed(String),
    /// A message for the operator and nothing to reload: what changed arrives by notification.
    Info(String),
    /// The shell's frame clock: reload what notifications announced since the last frame.
    Frame,
    /// The listener (re)connected: notifications may have been missed, reload everything.
    Resync,
    /// Ids changed in the database (one or several notifications).
    Changed(Change),
    /// A frame on a traced line.
    Trace(TraceFrame),
    /// Every open alarm and the unacknowledged counts by priority.
    AlarmsLoaded {
        alarms: Vec<Alarm>,
        counts: Vec<(i16, i64)>,
    },
    /// The alarms of `ids` as they are now (cleared ones included), and the counts.
    AlarmsChanged {
        ids: Vec<i64>,
        alarms: Vec<Alarm>,
        counts: Vec<(i16, i64)>,
    },
    TerminalsLoaded {
        lines: Vec<Line>,
        terminals: Vec<Terminal>,
    },
    TerminalsChanged {
        ids: Vec<i64>,
        terminals: Vec<Terminal>,
    },
    /// This console's command went into the queue.
    CommandQueued {
        id: i64,
        terminal_id: i64,
        command: crate::db::command::TerminalCommand,
    },
    CommandsLoaded(Vec<CommandRow>),
    /// A terminal's inventory fields were saved (the row itself arrives by notification).
    TerminalEdited {
        terminal_id: i64,
        name: String,
    },
    /// A desk reader reported a card laid on it.
    CardPresented {
        terminal_id: i64,
        card_no: i64,
        /// The reader's own idea; the database's lookup decides.
        new: bool,
    },
    CardLookedUp {
        card_no: i64,
        lookup: CardLookup,
    },
    CardRefsLoaded(CardRefs),
    PeopleFound {
        query: String,
        people: Vec<PersonRow>,
    },
    PersonCardsLoaded {
        person_id: i64,
        cards: Vec<CardView>,
    },
    CardLoaded(Box<CardDetail>),
    ConfirmationsLoaded {
        card_id: i64,
        confirmations: crate::db::propagation::Confirmations,
    },
    /// A card desk operation went through.
    CardDone(CardDone),
    StockLoaded(StockInfo),
    ReportLoaded(ReportPage),
    /// A person import's dry run: what it would do.
    ImportPreview {
        path: String,
        summary: ImportSummary,
    },
    /// Rows done of all.
    ImportProgress {
        done: u64,
        total: u64,
    },
    ImportDone {
        summary: ImportSummary,
    },
}
