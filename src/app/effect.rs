//! Async work `update` asks the console shell to do.

use super::cards::{CardOp, ReportFilter, ReportKind, StockOp};
use crate::db::command::TerminalCommand;
use crate::db::terminal::Inventory;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    CheckFirstRun,
    Login {
        login: String,
        password: String,
    },
    CreateFirstDirector {
        login: String,
        display_name: String,
        password: String,
    },
    ChangeOwnPassword {
        password: String,
    },
    Logout,
    LoadOperators,
    LoadAudit,
    UnlockOperator {
        login: String,
    },
    ResetOperatorPassword {
        login: String,
    },
    DisableOperator {
        login: String,
    },
    VerifyAudit,
    /// Every open alarm and the counts (after sign-in and after a resync).
    LoadAlarms,
    /// The alarms a notification named: one query, whatever the number of ids.
    LoadAlarmsById(Vec<i64>),
    TakeAlarm {
        id: i64,
    },
    AcknowledgeAlarm {
        id: i64,
        note: String,
    },
    ClearAlarm {
        id: i64,
        force: bool,
    },
    /// Lines and terminals.
    LoadTerminals,
    LoadTerminalsById(Vec<i64>),
    LoadCommandsById(Vec<i64>),
    /// A command to a terminal, through the queue its line's poller consumes.
    Enqueue {
        terminal_id: i64,
        command: TerminalCommand,
    },
    SetInScan {
        terminal_id: i64,
        in_scan: bool,
    },
    /// A terminal's name, location and installation, checked already.
    EditTerminal {
        terminal_id: i64,
        fields: Inventory,
    },
    /// Trace `line` (asking its poller to publish frames, and listening), or stop listening.
    Trace {
        line: Option<i64>,
    },
    /// The card desk's pickers: card kinds, door groups, POS and attendance machines.
    LoadCardRefs,
    /// The person register: number, name (Chinese or Latin), card number or department.
    SearchPeople {
        query: String,
    },
    /// A person's cards, newest first.
    LoadPersonCards {
        person_id: i64,
    },
    /// Everything the card panel shows about one card.
    LoadCard {
        card_id: i64,
    },
    /// Only the terminals' confirmations of a card (a command finished).
    LoadConfirmations {
        card_id: i64,
    },
    /// What a card number on the desk reader (or typed) is: new, issued or blacklisted.
    LookupCard {
        card_no: i64,
    },
    /// A card desk operation (issue, report lost, top-up ...).
    Card(CardOp),
    LoadStock,
    Stock(StockOp),
    LoadReport {
        kind: ReportKind,
        filter: ReportFilter,
    },
    ExportReport {
        kind: ReportKind,
        filter: ReportFilter,
        path: String,
    },
    /// A person import from a CSV file: a dry run first, then the real one.
    ImportPersons {
        path: String,
        dry_run: bool,
    },
    /// Demo only: lay a card on the simulated desk reader (None: a blank card).
    DeskPresent {
        card_no: Option<i64>,
    },
    Bell,
    Quit,
}
