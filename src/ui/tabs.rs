//! One view per tab (and the Alarms view), each drawing its tab's model.

pub mod alarms;
pub mod attendance;
pub mod cards;
pub mod doors;
pub mod operators;
pub mod patrol;
pub mod settlement;
pub mod terminals;
