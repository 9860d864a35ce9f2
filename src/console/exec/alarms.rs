//! The Alarms view: reading open alarms and the counts; take, acknowledge, clear; the history
//! of closed ones.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::alarms::{Effect, Msg as AlarmsMsg};
use crate::app::Msg;
use crate::db::alarm::{self, AlarmHistoryQuery};
use crate::i18n::trf;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang) = (env.pool, env.lang);
    answer(match effect {
        Effect::LoadAll { gen } => {
            let (alarms, total, counts) = tokio::join!(
                alarm::open(pool),
                alarm::open_total(pool),
                alarm::active_counts(pool)
            );
            match (alarms, total, counts) {
                (Ok(alarms), Ok(total), Ok(counts)) => Ok(Msg::Alarms(AlarmsMsg::Loaded {
                    gen,
                    alarms,
                    total,
                    counts,
                })),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.into()),
            }
        }
        Effect::LoadById { gen, ids } => {
            match (
                alarm::by_id(pool, &ids).await,
                alarm::active_counts(pool).await,
            ) {
                (Ok(alarms), Ok(counts)) => Ok(Msg::Alarms(AlarmsMsg::Changed {
                    gen,
                    ids,
                    alarms,
                    counts,
                })),
                (Err(e), _) | (_, Err(e)) => Err(e.into()),
            }
        }
        Effect::Take { id } => match env.actor() {
            Ok(a) => alarm::take(pool, &a, id)
                .await
                .map(|_| Msg::Info(trf(lang, "msg.alarm_taken", &[("id", &id.to_string())])))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Acknowledge { id, note } => match env.actor() {
            Ok(a) => alarm::acknowledge(pool, &a, id, &note)
                .await
                .map(|_| {
                    Msg::Info(trf(
                        lang,
                        "msg.alarm_acknowledged",
                        &[("id", &id.to_string()), ("note", &note)],
                    ))
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Clear { id, force, reason } => match env.actor() {
            Ok(a) => if force {
                // Never acknowledged: the reason is kept on the alarm and in the audit row.
                alarm::force_clear(pool, &a, id, reason.as_deref().unwrap_or("")).await
            } else {
                alarm::clear(pool, &a, id).await
            }
            .map(|_| Msg::Info(trf(lang, "msg.alarm_cleared", &[("id", &id.to_string())])))
            .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::LoadHistory { gen, filter, query } => {
            let offset = query.offset;
            history(pool, &filter.door, query).await.map(|page| {
                Msg::Alarms(AlarmsMsg::HistoryLoaded {
                    gen,
                    filter,
                    offset,
                    page,
                })
            })
        }
    })
}

/// Closed alarms through `query`, at the one door `door` names (its name, or
/// `<controller>/<n>`) when it names one.
async fn history(
    pool: &sqlx::PgPool,
    door: &str,
    mut query: AlarmHistoryQuery,
) -> Result<alarm::AlarmPage, Failure> {
    let door = door.trim();
    if !door.is_empty() {
        let (terminal_id, n) = super::one_door(pool, door).await?;
        query.terminal_id = Some(terminal_id);
        query.door = Some(n);
    }
    Ok(alarm::history(pool, &query).await?)
}
