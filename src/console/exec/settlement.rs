//! The Settlement tab: its reads, each answered with the tab's message, and settling a period.
//! Days are the site's.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::settlement::{Effect, Msg as SettleMsg, Today, DAILY_DAYS, STATEMENT_ROWS};
use crate::app::Msg;
use crate::db::{reconcile, settlement, takings};
use crate::domain::permission::Action;
use crate::domain::settlement::Period;
use crate::domain::time;
use crate::export::Existing;
use crate::i18n::trf;

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
            Effect::Missing { gen } => takings::missing(pool)
                .await
                .map(|rows| SettleMsg::Missing { gen, rows }),
            Effect::Settle { period, merchant } => {
                return answer(settle(env, period, merchant.as_deref()).await)
            }
            Effect::Export {
                view,
                header,
                rows,
                path,
                overwrite,
            } => return answer(export(env, view, &header, &rows, path, overwrite).await),
        }
        .map(Msg::Settlement)
        .map_err(Failure::from),
    )
}

/// Settles as `onecard settle` does, except that a period every merchant asked for has settled
/// already is refused: from a console, settling twice is a mistake worth saying.
async fn settle(env: &Env<'_>, period: Period, merchant: Option<&str>) -> Result<Msg, Failure> {
    let actor = env.actor()?;
    // Before anything is read about the period.
    actor.authorize(Action::MerchantSettle)?;
    let before = settlement::statements(env.pool, period, merchant).await?;
    if !before.is_empty() && before.iter().all(|s| s.settled.is_some()) {
        return Err(Failure::PeriodSettled {
            period: period.to_string(),
            merchants: before.len(),
        });
    }
    let statements = settlement::settle(env.pool, &actor, period, merchant).await?;
    Ok(Msg::Settlement(SettleMsg::Settled { period, statements }))
}

async fn export(
    env: &Env<'_>,
    view: &str,
    header: &[String],
    rows: &[Vec<String>],
    path: String,
    overwrite: bool,
) -> Result<Msg, Failure> {
    let actor = env.actor()?;
    // Never over a file that is there already without the operator saying so.
    let existing = if overwrite {
        Existing::Overwrite
    } else {
        Existing::Refuse
    };
    let n = takings::export(
        env.pool,
        &actor,
        view,
        header,
        rows,
        path.as_ref(),
        existing,
    )
    .await?;
    let shown = std::path::absolute(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path);
    Ok(Msg::Done(trf(
        env.lang,
        "settletab.exported",
        &[("n", &n.to_string()), ("path", &shown)],
    )))
}
