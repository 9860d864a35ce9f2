//! The Attendance tab's reads, each answered with the tab's message. Days are the site's.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::attendance::{Effect, Msg as AttMsg, PUNCH_ROWS};
use crate::app::Msg;
use crate::db::punch;
use crate::domain::time;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let pool = env.pool;
    answer(
        match effect {
            Effect::Enqueue {
                terminal_id,
                about,
                command,
            } => {
                let queued = crate::app::queue::Effect::Enqueue {
                    terminal_id,
                    about,
                    command,
                };
                return super::queue::run(queued, env).await;
            }
            Effect::Machines { gen } => punch::machines(pool, time::today())
                .await
                .map(|rows| AttMsg::Machines { gen, rows }),
            Effect::Punches { gen } => {
                let day = time::today();
                punch::of_day(pool, day, PUNCH_ROWS)
                    .await
                    .map(|(rows, total)| AttMsg::Punches {
                        gen,
                        day,
                        rows,
                        total,
                    })
            }
        }
        .map(Msg::Attendance)
        .map_err(Failure::from),
    )
}
