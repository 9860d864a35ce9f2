//! The Doors tab's effects.

mod records;

use super::Env;
use crate::app::tabs::doors::Effect;
use crate::app::Msg;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    match effect {
        Effect::Records(e) => records::run(e, env).await,
    }
}
