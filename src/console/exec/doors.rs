//! The Doors tab's effects.

use super::Env;
use crate::app::tabs::doors::Effect;
use crate::app::Msg;

pub async fn run(effect: Effect, _env: &Env<'_>) -> Option<Msg> {
    match effect {}
}
