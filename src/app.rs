//! The Elm-architecture core: one `State`, `update(&mut State, Msg) -> Vec<Effect>` with no I/O.
//! The shell (`router`, `session`, `queue`) routes to one module per tab (`tabs`).

pub mod commands;
pub mod effect;
pub mod failure;
pub mod filter;
pub mod form;
pub mod layout;
pub mod load;
pub mod msg;
pub mod queue;
pub mod rights;
pub mod router;
pub mod session;
pub mod shell;
pub mod state;
pub mod tabs;
pub mod wallboard;
pub mod words;

pub use effect::Effect;
pub use msg::Msg;
pub use router::update;
pub use state::State;
