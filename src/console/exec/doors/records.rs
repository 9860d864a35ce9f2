//! The Doors tab's records sub-view: queries, exports, pending syncs, purge.

use super::super::Env;
use crate::app::tabs::doors::records::Effect;
use crate::app::Msg;

pub async fn run(effect: Effect, _env: &Env<'_>) -> Option<Msg> {
    match effect {}
}
