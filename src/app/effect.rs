//! Async work `update` asks the console shell to do. A tab's own effects are nested in it, and
//! each is executed by that tab's executor (`console::exec`), matched exhaustively: an effect
//! nobody executes does not compile.

use super::queue;
use super::session;
use super::tabs::{alarms, attendance, cards, doors, operators, patrol, settlement, terminals};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Session(session::Effect),
    Queue(queue::Effect),
    Alarms(alarms::Effect),
    Cards(cards::Effect),
    Doors(doors::Effect),
    Patrol(patrol::Effect),
    Attendance(attendance::Effect),
    Settlement(settlement::Effect),
    Terminals(terminals::Effect),
    Operators(operators::Effect),
    Bell,
    Quit,
}

impl From<alarms::Effect> for Effect {
    fn from(e: alarms::Effect) -> Self {
        Effect::Alarms(e)
    }
}

impl From<cards::Effect> for Effect {
    fn from(e: cards::Effect) -> Self {
        Effect::Cards(e)
    }
}

impl From<doors::Effect> for Effect {
    fn from(e: doors::Effect) -> Self {
        Effect::Doors(e)
    }
}

/// A tab whose commands to terminals go through the one queue every tab uses.
macro_rules! queues_commands {
    ($tab:ident, $variant:ident) => {
        impl From<$tab::Effect> for Effect {
            fn from(e: $tab::Effect) -> Self {
                match e {
                    $tab::Effect::Enqueue {
                        terminal_id,
                        about,
                        command,
                    } => Effect::Queue(queue::Effect::Enqueue {
                        terminal_id,
                        about,
                        command,
                    }),
                    other => Effect::$variant(other),
                }
            }
        }
    };
}

queues_commands!(patrol, Patrol);
queues_commands!(attendance, Attendance);
queues_commands!(terminals, Terminals);

impl From<settlement::Effect> for Effect {
    fn from(e: settlement::Effect) -> Self {
        Effect::Settlement(e)
    }
}

impl From<operators::Effect> for Effect {
    fn from(e: operators::Effect) -> Self {
        Effect::Operators(e)
    }
}

/// A placeholder tab asks for nothing.
impl From<std::convert::Infallible> for Effect {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
