//! What happened. Never bindable (that is `Command`).

use crate::db::audit;
use crate::db::operator::{Operator, Session};
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
}
