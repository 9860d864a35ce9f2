//! What happened. Never bindable (that is `Command`). A tab's own messages are nested in it.

use super::failure::Failure;
use super::queue;
use super::session;
pub use super::shell::DbState;
use super::tabs::{alarms, attendance, cards, doors, operators, patrol, settlement, terminals};
use crate::db::notify::Change;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    Db(DbState),
    /// The shell's frame clock: reload what notifications announced since the last frame.
    Frame,
    /// The listener (re)connected: notifications may have been missed, reload everything.
    Resync,
    /// Ids changed in the database (one or several notifications).
    Changed(Change),
    Session(session::Msg),
    Queue(queue::Msg),
    Alarms(alarms::Msg),
    Cards(cards::Msg),
    Doors(doors::Msg),
    Patrol(patrol::Msg),
    Attendance(attendance::Msg),
    Settlement(settlement::Msg),
    Terminals(terminals::Msg),
    Operators(operators::Msg),
    /// A finished operation, reported on the message line; what it changed is read again.
    Done(String),
    /// A refusal or failure, rendered in the operator's language where it is shown.
    Failed(Failure),
    /// A message for the operator and nothing to reload: what changed arrives by notification.
    Info(String),
}
