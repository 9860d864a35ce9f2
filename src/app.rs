//! The Elm-architecture core: one `State`, `update(&mut State, Msg) -> Vec<Effect>` with no I/O.

pub mod cards;
pub mod effect;
pub mod filter;
pub mod layout;
pub mod msg;
pub mod state;
pub mod update;

pub use effect::Effect;
pub use msg::Msg;
pub use state::State;
pub use update::update;
