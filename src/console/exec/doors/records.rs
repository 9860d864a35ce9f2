//! The Doors tab's records sub-view: queries, exports, pending syncs, purge.

use super::super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::doors::records::{Effect, Msg as RecordsMsg};
use crate::app::tabs::doors::Msg as DoorsMsg;
use crate::app::Msg;
use crate::db::door::{self, EventQuery};
use crate::db::propagation;
use crate::export::Existing;
use chrono::Utc;
use sqlx::PgPool;

fn records(m: RecordsMsg) -> Msg {
    Msg::Doors(DoorsMsg::Records(m))
}

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, report) = (env.pool, env.report);
    answer(match effect {
        Effect::Query { gen, query, door } => query_page(pool, gen, query, &door).await,
        Effect::LoadSyncs { gen } => propagation::unconfirmed(pool, None)
            .await
            .map(|syncs| records(RecordsMsg::Syncs { gen, syncs }))
            .map_err(Failure::from),
        Effect::Export {
            query,
            path,
            overwrite,
        } => match env.actor() {
            Ok(a) => {
                // Never over a file that is there already without the operator saying so.
                let existing = if overwrite {
                    Existing::Overwrite
                } else {
                    Existing::Refuse
                };
                door::export_events_file(pool, &a, &query, path.as_ref(), existing)
                    .await
                    .map(|rows| {
                        // Where it went, in full: the console's working directory is not the
                        // operator's concern.
                        let shown = std::path::absolute(&path)
                            .map(|p| p.display().to_string())
                            .unwrap_or(path);
                        records(RecordsMsg::Exported { rows, path: shown })
                    })
                    .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::PurgePreview { gen, cutoff } => {
            let cutoff = match cutoff {
                Some(c) => Ok(c),
                None => door::retention_days(pool)
                    .await
                    .map(|days| Utc::now() - chrono::Duration::days(i64::from(days))),
            };
            match cutoff {
                Ok(c) => door::purge_preview(pool, c)
                    .await
                    .map(|preview| records(RecordsMsg::PurgePreview { gen, preview }))
                    .map_err(Failure::from),
                Err(e) => Err(e.into()),
            }
        }
        Effect::Purge { cutoff, force } => match env.actor() {
            Ok(a) => door::purge(pool, &a, cutoff, force, |done, total| {
                report(records(RecordsMsg::PurgeProgress { done, total }))
            })
            .await
            .map(|rows| records(RecordsMsg::Purged { rows, cutoff }))
            .map_err(Failure::from),
            Err(e) => Err(e),
        },
    })
}

/// A page of `query`, its door typed as `door` ("" none) resolved as `door::find` does.
async fn query_page(
    pool: &PgPool,
    gen: u64,
    mut query: EventQuery,
    door: &str,
) -> Result<Msg, Failure> {
    let door = door.trim();
    let door_text = if door.is_empty() {
        // A page of a query with its door resolved keeps the door as typed; a query without
        // a door says so, and the heading forgets the door typed before.
        query.terminal_id.is_none().then(String::new)
    } else {
        let (terminal_id, n) = super::super::one_door(pool, door).await?;
        query.terminal_id = Some(terminal_id);
        query.door = Some(n);
        Some(door.to_string())
    };
    let page = door::query(pool, &query).await?;
    Ok(records(RecordsMsg::Page {
        gen,
        page,
        door_text,
    }))
}
