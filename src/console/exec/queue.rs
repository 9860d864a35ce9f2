//! Commands to terminals: queued for the line's poller, and read back.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::queue::{Effect, Msg as QueueMsg};
use crate::app::Msg;
use crate::db::command;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let pool = env.pool;
    answer(match effect {
        Effect::Enqueue {
            terminal_id,
            about,
            command: cmd,
        } => match env.actor() {
            Ok(a) => command::enqueue(pool, &a, terminal_id, &cmd)
                .await
                .map(|id| {
                    Msg::Queue(QueueMsg::Queued {
                        id,
                        terminal_id,
                        about,
                        command: cmd,
                    })
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Load { gen, ids } => command::by_id(pool, &ids)
            .await
            .map(|rows| Msg::Queue(QueueMsg::Loaded { gen, rows }))
            .map_err(Failure::from),
    })
}
