//! The Settlement tab: its reads, each answered with the tab's message. Days are the site's.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::settlement::{Effect, Msg as SettleMsg, Today, DAILY_DAYS, STATEMENT_ROWS};
use crate::app::Msg;
use crate::db::{reconcile, takings};
use crate::domain::time;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let pool = env.pool;
    answer(
        match effect {
            Effect::Today { gen } => {
                let day = time::today();
                let (from, to) = time::day_bounds(day);
                // Three small reads; each is consistent in itself, and the next purchase
                // re-reads them all anyway.
                match (
                    takings::by_pos(pool, from, to).await,
                    takings::top_ups(pool, from, to).await,
                    takings::outstanding(pool).await,
                ) {
                    (Ok(pos), Ok(top_ups), Ok(outstanding)) => Ok(SettleMsg::Today {
                        gen,
                        today: Today {
                            day: Some(day),
                            pos,
                            top_ups,
                            outstanding,
                        },
                    }),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
                }
            }
            Effect::Board { gen, back } => {
                let day = time::today() - chrono::Duration::days(i64::from(back));
                reconcile::board(pool, day)
                    .await
                    .map(|rows| SettleMsg::Board { gen, day, rows })
            }
            Effect::Statements { gen } => takings::settled(pool, STATEMENT_ROWS)
                .await
                .map(|rows| SettleMsg::Statements { gen, rows }),
            Effect::Daily { gen } => takings::daily(pool, time::today(), DAILY_DAYS)
                .await
                .map(|days| SettleMsg::Daily { gen, days }),
        }
        .map(Msg::Settlement)
        .map_err(Failure::from),
    )
}
