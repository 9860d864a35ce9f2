//! The Patrol tab's effects: maps (decoded once per load), the live state, exceptions, the
//! omission report and its CSV, and every setup change through `db::patrol::setup` (audited
//! there).

use super::{answer, Env};
use crate::app::failure::{Failure, PatrolWhy};
use crate::app::tabs::patrol::lists::{Range, Report, HISTORY_DAYS, OPEN_MAX};
use crate::app::tabs::patrol::map::{LoadedMap, RECENT};
use crate::app::tabs::patrol::setup::{List, SetupData};
use crate::app::tabs::patrol::{Effect, Msg as PatrolMsg};
use crate::app::Msg;
use crate::db::patrol::omissions::{self, OmissionQuery};
use crate::db::patrol::{exceptions, live, purge, setup, Checkpoint, MapKind, PatrolError};
use crate::export::{CsvFile, Existing};
use crate::i18n::trf;
use chrono::Utc;
use sqlx::PgPool;

fn patrol(m: PatrolMsg) -> Msg {
    Msg::Patrol(m)
}

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang) = (env.pool, env.lang);
    let done = |key: &str, args: &[(&str, &str)]| Msg::Done(trf(lang, key, args));
    answer(match effect {
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
        Effect::PurgePreview { gen, before } => purge::preview(pool, before)
            .await
            .map(|preview| {
                patrol(PatrolMsg::PurgePreview {
                    gen,
                    before,
                    preview,
                })
            })
            .map_err(Failure::from),
        Effect::Purge { before } => match env.actor() {
            Ok(a) => {
                let report = env.report;
                purge::purge(pool, &a, before, |done| {
                    report(patrol(PatrolMsg::PurgeProgress(done)))
                })
                .await
                .map(|purged| patrol(PatrolMsg::Purged { before, purged }))
                .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::LoadMaps { gen } => setup::maps(pool)
            .await
            .map(|maps| {
                patrol(PatrolMsg::Maps {
                    gen,
                    maps: maps.into_iter().map(LoadedMap::new).collect(),
                })
            })
            .map_err(Failure::from),
        Effect::LoadLive { gen, now } => load_live(pool, gen, now).await,
        Effect::LoadExceptions { gen, now } => {
            let from = now - chrono::Duration::days(HISTORY_DAYS);
            let open = exceptions::open(pool, OPEN_MAX).await;
            let all = exceptions::between(pool, from, now + chrono::Duration::days(1)).await;
            match (open, all) {
                (Ok(open), Ok(all)) => {
                    let mut history: Vec<_> =
                        all.into_iter().filter(|e| e.closed_at.is_some()).collect();
                    history.sort_by_key(|e| std::cmp::Reverse(e.closed_at));
                    Ok(patrol(PatrolMsg::Exceptions { gen, open, history }))
                }
                (Err(e), _) | (_, Err(e)) => Err(e.into()),
            }
        }
        Effect::LoadReport { gen, range, now } => report(pool, &range, now).await.map(|report| {
            patrol(PatrolMsg::Report {
                gen,
                report: Box::new(report),
            })
        }),
        Effect::LoadSetup { gen } => load_setup(pool).await.map(|data| {
            patrol(PatrolMsg::Setup {
                gen,
                data: Box::new(data),
            })
        }),
        Effect::Place { tag, place } => match env.actor() {
            Ok(a) => setup::place_checkpoint(pool, &a, tag, place.map(|p| p.tuple()))
                .await
                .map(|()| {
                    let key = if place.is_some() {
                        "patrol.msg.placed"
                    } else {
                        "patrol.msg.unplaced"
                    };
                    done(key, &[("tag", &tag.to_string())])
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::CreateMap { name, path } => match env.actor() {
            Ok(a) => create_map(pool, &a, &name, &path)
                .await
                .map(|()| done("patrol.msg.map_added", &[("name", &name)])),
            Err(e) => Err(e),
        },
        Effect::DeleteMap { id, name } => match env.actor() {
            Ok(a) => setup::delete_map(pool, &a, id)
                .await
                .map(|()| done("patrol.msg.map_deleted", &[("name", &name)]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Close { visit_id, comment } => match env.actor() {
            Ok(a) => exceptions::close(pool, &a, visit_id, &comment)
                .await
                .map(|()| done("patrol.msg.closed", &[]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::SaveCheckpoint(c) => match env.actor() {
            Ok(a) => {
                let row = Checkpoint {
                    tag: c.tag,
                    name: c.name.clone(),
                    location: c.location,
                    place: c.place.map(|p| p.tuple()),
                    early_s: c.early_s,
                    late_s: c.late_s,
                };
                setup::save_checkpoint(pool, &a, &row)
                    .await
                    .map(|()| done("patrol.msg.saved", &[("name", &c.name)]))
                    .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::SaveRoute(r) => match env.actor() {
            Ok(a) => setup::save_route(pool, &a, &r)
                .await
                .map(|_| done("patrol.msg.saved", &[("name", &r.name)]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::SaveGuard(g) => match env.actor() {
            Ok(a) => setup::save_guard(pool, &a, &g)
                .await
                .map(|_| done("patrol.msg.saved", &[("name", &g.name)]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::SaveGroup { id, name } => match env.actor() {
            Ok(a) => setup::save_group(pool, &a, id, &name)
                .await
                .map(|_| done("patrol.msg.saved", &[("name", &name)]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::SaveSchedule(s) => match env.actor() {
            Ok(a) => setup::save_schedule(pool, &a, &s)
                .await
                .map(|_| done("patrol.msg.saved", &[("name", &s.shift)]))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Delete(item) => match env.actor() {
            Ok(a) => {
                let r = match item.list {
                    List::Checkpoints => setup::delete_checkpoint(pool, &a, item.id).await,
                    List::Routes => setup::delete_route(pool, &a, item.id).await,
                    List::Guards => setup::delete_guard(pool, &a, item.id).await,
                    List::Schedules => setup::delete_schedule(pool, &a, item.id).await,
                    List::Groups => setup::delete_group(pool, &a, item.id).await,
                    // Readers belong to the Terminals tab (not asked).
                    List::Readers => Ok(()),
                };
                r.map(|()| done("patrol.msg.deleted", &[("name", &item.name)]))
                    .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::Export { range, path, now } => match env.actor() {
            Ok(actor) => export(pool, &actor, &range, &path, now).await.map(|rows| {
                let shown = std::path::absolute(&path)
                    .map(|p| p.display().to_string())
                    .unwrap_or(path);
                patrol(PatrolMsg::Exported { rows, path: shown })
            }),
            Err(e) => Err(e),
        },
    })
}

async fn load_live(pool: &PgPool, gen: u64, now: chrono::DateTime<Utc>) -> Result<Msg, Failure> {
    let live = live::checkpoints(pool, now).await?;
    let positions = live::positions(pool, now - chrono::Duration::hours(12)).await?;
    let recent = live::recent(pool, RECENT).await?;
    Ok(patrol(PatrolMsg::Live {
        gen,
        live,
        positions,
        recent,
    }))
}

async fn load_setup(pool: &PgPool) -> Result<SetupData, Failure> {
    Ok(SetupData {
        checkpoints: setup::checkpoints(pool).await?,
        routes: setup::routes(pool).await?,
        guards: setup::guards(pool).await?,
        groups: setup::groups(pool).await?,
        schedules: setup::schedules(pool).await?,
        readers: crate::db::terminal::terminals(pool)
            .await?
            .into_iter()
            .filter(|t| t.kind == "patrol_reader")
            .collect(),
    })
}

async fn query(pool: &PgPool, range: &Range) -> Result<OmissionQuery, Failure> {
    let guard = match range.guard.trim() {
        "" => None,
        g => Some(omissions::guard_id(pool, g).await?),
    };
    let route = match range.route.trim() {
        "" => None,
        r => Some(omissions::route_id(pool, r).await?),
    };
    Ok(OmissionQuery {
        from: range.from,
        to: range.to,
        guard,
        route,
    })
}

async fn report(
    pool: &PgPool,
    range: &Range,
    now: chrono::DateTime<Utc>,
) -> Result<Report, Failure> {
    let q = query(pool, range).await?;
    Ok(Report {
        visits: omissions::visits(pool, &q, now).await?,
        days: omissions::day_totals(pool, &q, now).await?,
        findings: omissions::scans(pool, &q).await?,
    })
}

/// One row per due visit (`omissions::export`: audited), never over an existing file.
async fn export(
    pool: &PgPool,
    actor: &crate::domain::permission::Actor,
    range: &Range,
    path: &str,
    now: chrono::DateTime<Utc>,
) -> Result<u64, Failure> {
    let q = query(pool, range).await?;
    let visits = omissions::visits(pool, &q, now).await?;
    let file = CsvFile::create(std::path::Path::new(path), Existing::Refuse)?;
    let (file, rows) = omissions::export(pool, actor, &q, &visits, file, path).await?;
    file.commit()?;
    Ok(rows)
}

/// A map from a file: a PNG by its signature, else a text plan (UTF-8).
/// The largest map file read: 16 MB.
const MAP_FILE_MAX: u64 = 16 << 20;

async fn create_map(
    pool: &PgPool,
    actor: &crate::domain::permission::Actor,
    name: &str,
    path: &str,
) -> Result<(), Failure> {
    if name.trim().is_empty() {
        return Err(Failure::Patrol(PatrolWhy::NoName));
    }
    // A plan is a file of its own, and small: not a device, a pipe or a film.
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| Failure::read(path, &e))?;
    if !meta.is_file() || meta.len() > MAP_FILE_MAX {
        return Err(Failure::Patrol(PatrolWhy::BadPlan));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Failure::read(path, &e))?;
    let kind = if bytes.starts_with(b"\x89PNG") {
        if crate::app::tabs::patrol::map::Raster::decode(&bytes).is_none() {
            return Err(Failure::Patrol(PatrolWhy::BadImage));
        }
        MapKind::Png { image: bytes }
    } else {
        match String::from_utf8(bytes) {
            Ok(plan) => MapKind::Text {
                plan: plan.trim_end_matches(['\n', '\r']).replace("\r\n", "\n"),
            },
            Err(_) => return Err(Failure::Patrol(PatrolWhy::BadPlan)),
        }
    };
    setup::create_map(pool, actor, name, kind, 2.0)
        .await
        .map(|_| ())
        .map_err(|e: PatrolError| e.into())
}
