//! What patrol is planned from: maps, checkpoints, routes, guards and their groups, schedules.
//! Every change is checked (`Action::PatrolEdit`), audited in its own transaction, lays the
//! affected rounds out again, and is announced; a change to the guards or checkpoints queues a
//! table download to every patrol reader.

mod guards;
mod routes;
mod schedules;

pub use guards::*;
pub use routes::*;
pub use schedules::*;

use super::{replan, unique, PatrolError};
use crate::db::audit;
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};

/// The largest text plan, in characters.
pub const PLAN_MAX: (usize, usize) = (400, 200);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MapKind {
    /// A floor plan drawn in characters or box drawing.
    Text { plan: String },
    /// A picture, rendered in the terminal.
    Png {
        #[serde(skip)]
        image: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatrolMap {
    pub id: i64,
    pub name: String,
    pub kind: MapKind,
    /// The plan's size in its own units: characters (text) or pixels (PNG).
    pub width: i32,
    pub height: i32,
    pub metres_per_unit: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    pub tag: i64,
    pub name: String,
    pub location: String,
    /// Where it is drawn: (map, x, y) in the map's units.
    pub place: Option<(i64, f32, f32)>,
    /// Overrides of the route's tolerances, seconds.
    pub early_s: Option<i32>,
    pub late_s: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutePoint {
    pub checkpoint_tag: i64,
    /// Seconds after the round starts.
    pub offset_s: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// 0 for a new route.
    pub id: i64,
    pub name: String,
    /// Every checkpoint once within the round's window, in any order.
    pub any_order: bool,
    pub early_s: i32,
    pub late_s: i32,
    pub grace_s: i32,
    /// Any-order rounds: the round's length.
    pub duration_s: i32,
    /// Online readers report as the guard walks (overdue alarms); offline ones when docked.
    pub online: bool,
    /// `rs485` (an online reader on a line) or `docked` (an offline wand read at its dock).
    pub reader_type: String,
    /// In order; seq is the position, from 1.
    pub points: Vec<RoutePoint>,
}

impl Route {
    /// A new route with the default rules (5 minutes early or late, 10 minutes' grace).
    pub fn new(name: &str, points: Vec<RoutePoint>) -> Route {
        Route {
            id: 0,
            name: name.into(),
            any_order: false,
            early_s: 300,
            late_s: 300,
            grace_s: 600,
            duration_s: 3600,
            online: true,
            reader_type: "rs485".into(),
            points,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardGroup {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guard {
    /// 0 for a new guard.
    pub id: i64,
    pub card: i64,
    pub name: String,
    pub group_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// 0 for a new schedule.
    pub id: i64,
    pub route_id: i64,
    /// Exactly one of guard and group walks it.
    pub guard_id: Option<i64>,
    pub group_id: Option<i64>,
    pub shift: String,
    /// Bit (ISO weekday − 1): Monday 1 … Sunday 64.
    pub dow_mask: i16,
    pub first_start: NaiveTime,
    /// Before `first_start`: the shift crosses midnight.
    pub last_start: NaiveTime,
    pub every_min: i32,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl Schedule {
    /// The round starts of one shift, as wall-clock times.
    pub fn starts(&self) -> Vec<NaiveTime> {
        let every = i64::from(self.every_min.max(1)) * 60;
        let mut span = (self.last_start - self.first_start).num_seconds();
        if span < 0 {
            span += 86_400;
        }
        (0..=span / every)
            .map(|n| self.first_start + chrono::Duration::seconds(n * every))
            .collect()
    }
}

fn name_of(s: &str) -> Result<String, PatrolError> {
    let s = s.trim();
    if s.is_empty() {
        Err(PatrolError::NoName)
    } else {
        Ok(s.to_string())
    }
}

fn seconds(s: i32) -> Result<i32, PatrolError> {
    if (0..=86_400).contains(&s) {
        Ok(s)
    } else {
        Err(PatrolError::BadSeconds)
    }
}

fn tag_ok(tag: i64) -> Result<i64, PatrolError> {
    if (1..=u32::MAX as i64).contains(&tag) {
        Ok(tag)
    } else {
        Err(PatrolError::BadTag(tag))
    }
}

/// Announces the change and queues table downloads when `tables` (guards or checkpoints)
/// changed.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    tables: bool,
) -> Result<(), PatrolError> {
    if tables {
        tables_changed(&mut tx).await?;
    }
    Change::patrol().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Every patrol reader in the scan is sent its guards and checkpoints again (one download
/// queued per reader, not two).
pub(crate) async fn tables_changed(tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO terminal_command (terminal_id, command)
         SELECT t.id, '{\"op\": \"download_cards\"}'::jsonb FROM terminal t
         WHERE t.kind = 'patrol_reader' AND t.in_scan
           AND NOT EXISTS (SELECT 1 FROM terminal_command c WHERE c.terminal_id = t.id
                 AND c.state IN ('queued', 'running') AND c.command->>'op' = 'download_cards')
         RETURNING id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for id in &ids {
        Change::command(*id).send(&mut *tx).await?;
    }
    Ok(ids.len())
}

// ------------------------------------------------------------------------------------ maps

/// The width (in columns, CJK counting two) and height of a text plan.
pub fn plan_size(plan: &str) -> (usize, usize) {
    use unicode_width::UnicodeWidthStr;
    let w = plan.lines().map(UnicodeWidthStr::width).max().unwrap_or(0);
    (w, plan.lines().count())
}

/// A PNG's size from its header; Err when it is not a PNG.
pub fn png_size(bytes: &[u8]) -> Result<(u32, u32), PatrolError> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIG || &bytes[12..16] != b"IHDR" {
        return Err(PatrolError::BadImage("no PNG header".into()));
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (w, h) = (be(&bytes[16..20]), be(&bytes[20..24]));
    if w == 0 || h == 0 || w > 20_000 || h > 20_000 {
        return Err(PatrolError::BadImage(format!("{w} × {h} pixels")));
    }
    Ok((w, h))
}

fn map_row(r: &sqlx::postgres::PgRow) -> Result<PatrolMap, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(PatrolMap {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: if kind == "png" {
            MapKind::Png {
                image: r
                    .try_get::<Option<Vec<u8>>, _>("image")?
                    .unwrap_or_default(),
            }
        } else {
            MapKind::Text {
                plan: r.try_get("plan")?,
            }
        },
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        metres_per_unit: r.try_get("metres_per_unit")?,
    })
}

pub async fn maps(pool: &PgPool) -> Result<Vec<PatrolMap>, sqlx::Error> {
    sqlx::query("SELECT * FROM patrol_map ORDER BY name")
        .fetch_all(pool)
        .await?
        .iter()
        .map(map_row)
        .collect()
}

/// A new map; returns its id.
pub async fn create_map(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    kind: MapKind,
    metres_per_unit: f32,
) -> Result<i64, PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let name = name_of(name)?;
    let (w, h) = match &kind {
        MapKind::Text { plan } => {
            let (w, h) = plan_size(plan);
            if w == 0 || h == 0 || w > PLAN_MAX.0 || h > PLAN_MAX.1 {
                return Err(PatrolError::BadPlan);
            }
            (w as i32, h as i32)
        }
        MapKind::Png { image } => {
            let (w, h) = png_size(image)?;
            (w as i32, h as i32)
        }
    };
    let metres = if metres_per_unit.is_finite() && metres_per_unit > 0.0 {
        metres_per_unit
    } else {
        2.0
    };
    let (kind_name, plan, image) = match &kind {
        MapKind::Text { plan } => ("text", plan.as_str(), None),
        MapKind::Png { image } => ("png", "", Some(image.as_slice())),
    };
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO patrol_map (name, kind, plan, image, width, height, metres_per_unit)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&name)
    .bind(kind_name)
    .bind(plan)
    .bind(image)
    .bind(w)
    .bind(h)
    .bind(metres)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        unique(e, || PatrolError::NameTaken {
            what: "map",
            name: name.clone(),
        })
    })?;
    audit::append(
        &mut tx,
        actor,
        "patrol.map.create",
        "patrol_map",
        &id.to_string(),
        None,
        Some(json!({ "name": name, "kind": kind_name, "width": w, "height": h })),
    )
    .await?;
    finish(tx, false).await?;
    Ok(id)
}

/// Deletes a map; its checkpoints stay, no longer placed.
pub async fn delete_map(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM patrol_map WHERE id = $1 RETURNING name")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(name) = name else {
        return Err(PatrolError::NoMap(id.to_string()));
    };
    sqlx::query("UPDATE checkpoint SET x = NULL, y = NULL WHERE map_id IS NULL AND x IS NOT NULL")
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "patrol.map.delete",
        "patrol_map",
        &id.to_string(),
        Some(json!({ "name": name })),
        None,
    )
    .await?;
    finish(tx, false).await
}

// ----------------------------------------------------------------------------- checkpoints

fn checkpoint_row(r: &sqlx::postgres::PgRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        tag: r.try_get("tag")?,
        name: r.try_get("name")?,
        location: r.try_get("location")?,
        place: super::place_of(r)?,
        early_s: r.try_get("early_s")?,
        late_s: r.try_get("late_s")?,
    })
}

pub async fn checkpoints(pool: &PgPool) -> Result<Vec<Checkpoint>, sqlx::Error> {
    sqlx::query("SELECT * FROM checkpoint ORDER BY tag")
        .fetch_all(pool)
        .await?
        .iter()
        .map(checkpoint_row)
        .collect()
}

/// Schedules whose rounds visit `tag`.
async fn schedules_visiting(tx: &mut PgConnection, tag: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT s.id FROM patrol_schedule s JOIN route_checkpoint rc ON rc.route_id = s.route_id
         WHERE rc.checkpoint_tag = $1",
    )
    .bind(tag)
    .fetch_all(&mut *tx)
    .await
}

async fn check_place(
    tx: &mut PgConnection,
    place: Option<(i64, f32, f32)>,
) -> Result<(), PatrolError> {
    let Some((map, x, y)) = place else {
        return Ok(());
    };
    let size: Option<(i32, i32)> =
        sqlx::query_as("SELECT width, height FROM patrol_map WHERE id = $1")
            .bind(map)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((w, h)) = size else {
        return Err(PatrolError::NoMap(map.to_string()));
    };
    if !(x.is_finite() && y.is_finite() && x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32) {
        return Err(PatrolError::OffMap { x, y });
    }
    Ok(())
}

/// Adds or changes the checkpoint with `c.tag`.
pub async fn save_checkpoint(
    pool: &PgPool,
    actor: &Actor,
    c: &Checkpoint,
) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let added = save_checkpoint_in(&mut tx, actor, c).await?;
    finish(tx, added).await
}

/// [`save_checkpoint`] inside a transaction; true when the checkpoint is new.
pub(crate) async fn save_checkpoint_in(
    tx: &mut PgConnection,
    actor: &Actor,
    c: &Checkpoint,
) -> Result<bool, PatrolError> {
    let tag = tag_ok(c.tag)?;
    let name = name_of(&c.name)?;
    for s in [c.early_s, c.late_s].into_iter().flatten() {
        seconds(s)?;
    }
    check_place(tx, c.place).await?;
    let before = sqlx::query("SELECT * FROM checkpoint WHERE tag = $1 FOR UPDATE")
        .bind(tag)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| checkpoint_row(&r))
        .transpose()?;
    let (map, x, y) = match c.place {
        Some((m, x, y)) => (Some(m), Some(x), Some(y)),
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO checkpoint (tag, name, location, map_id, x, y, early_s, late_s)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tag) DO UPDATE SET name = EXCLUDED.name, location = EXCLUDED.location,
           map_id = EXCLUDED.map_id, x = EXCLUDED.x, y = EXCLUDED.y,
           early_s = EXCLUDED.early_s, late_s = EXCLUDED.late_s",
    )
    .bind(tag)
    .bind(&name)
    .bind(c.location.trim())
    .bind(map)
    .bind(x)
    .bind(y)
    .bind(c.early_s)
    .bind(c.late_s)
    .execute(&mut *tx)
    .await?;
    let added = before.is_none();
    let tolerances = before
        .as_ref()
        .is_some_and(|b| (b.early_s, b.late_s) != (c.early_s, c.late_s));
    if tolerances {
        let schedules = schedules_visiting(tx, tag).await?;
        replan(tx, &schedules).await?;
    }
    audit::append(
        tx,
        actor,
        if before.is_some() {
            "patrol.checkpoint.change"
        } else {
            "patrol.checkpoint.add"
        },
        "checkpoint",
        &tag.to_string(),
        before.map(|b| json!(b)),
        Some(json!(Checkpoint {
            tag,
            name,
            location: c.location.trim().into(),
            ..c.clone()
        })),
    )
    .await?;
    Ok(added)
}

/// Places a checkpoint on a map (or takes it off, with None): the map editor's move.
pub async fn place_checkpoint(
    pool: &PgPool,
    actor: &Actor,
    tag: i64,
    place: Option<(i64, f32, f32)>,
) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    check_place(&mut tx, place).await?;
    let before: Option<(Option<i64>, Option<f32>, Option<f32>)> =
        sqlx::query_as("SELECT map_id, x, y FROM checkpoint WHERE tag = $1 FOR UPDATE")
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(before) = before else {
        return Err(PatrolError::NoCheckpoint(tag));
    };
    let (map, x, y) = match place {
        Some((m, x, y)) => (Some(m), Some(x), Some(y)),
        None => (None, None, None),
    };
    sqlx::query("UPDATE checkpoint SET map_id = $2, x = $3, y = $4 WHERE tag = $1")
        .bind(tag)
        .bind(map)
        .bind(x)
        .bind(y)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "patrol.checkpoint.place",
        "checkpoint",
        &tag.to_string(),
        Some(json!({ "map": before.0, "x": before.1, "y": before.2 })),
        Some(json!({ "map": map, "x": x, "y": y })),
    )
    .await?;
    finish(tx, false).await
}

/// Deletes a checkpoint no route uses.
pub async fn delete_checkpoint(pool: &PgPool, actor: &Actor, tag: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let route: Option<String> = sqlx::query_scalar(
        "SELECT r.name FROM route_checkpoint rc JOIN patrol_route r ON r.id = rc.route_id
         WHERE rc.checkpoint_tag = $1 ORDER BY r.name LIMIT 1",
    )
    .bind(tag)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(route) = route {
        return Err(PatrolError::CheckpointInUse { tag, route });
    }
    let before = sqlx::query("DELETE FROM checkpoint WHERE tag = $1 RETURNING *")
        .bind(tag)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| checkpoint_row(&r))
        .transpose()?;
    let Some(before) = before else {
        return Err(PatrolError::NoCheckpoint(tag));
    };
    audit::append(
        &mut tx,
        actor,
        "patrol.checkpoint.delete",
        "checkpoint",
        &tag.to_string(),
        Some(json!(before)),
        None,
    )
    .await?;
    finish(tx, true).await
}
