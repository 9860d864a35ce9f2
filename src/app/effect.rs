//! Async work `update` asks the console shell to do. A tab's own effects are nested in it, and
//! each is executed by that tab's executor (`console::exec`), matched exhaustively: an effect
//! nobody executes does not compile.

use super::queue;
use super::session;
use super::tabs::{alarms, cards, doors, operators, terminals};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Session(session::Effect),
    Queue(queue::Effect),
    Alarms(alarms::Effect),
    Cards(cards::Effect),
    Doors(doors::Effect),
    Terminals(terminals::Effect),
    Operators(operators::Effect),
    Bell,
    Quit,
}
