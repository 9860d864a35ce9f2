//! Routes and their checkpoints.

use super::{finish, name_of, seconds, Route, RoutePoint};
use crate::db::audit;
use crate::db::patrol::{replan, unique, PatrolError};
use crate::domain::permission::{Action, Actor};
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};

/// Routes with their checkpoints in order; `{WHERE}` names which.
const ROUTES: &str = "SELECT r.*,
        coalesce(array_agg(rc.checkpoint_tag ORDER BY rc.seq) FILTER (WHERE rc.seq IS NOT NULL), '{}') AS tags,
        coalesce(array_agg(rc.offset_s ORDER BY rc.seq) FILTER (WHERE rc.seq IS NOT NULL), '{}') AS offsets
 FROM patrol_route r LEFT JOIN route_checkpoint rc ON rc.route_id = r.id
 {WHERE} GROUP BY r.id ORDER BY r.name";

fn route_row(r: &sqlx::postgres::PgRow) -> Result<Route, sqlx::Error> {
    let tags: Vec<i64> = r.try_get("tags")?;
    let offsets: Vec<i32> = r.try_get("offsets")?;
    Ok(Route {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        any_order: r.try_get("any_order")?,
        early_s: r.try_get("early_s")?,
        late_s: r.try_get("late_s")?,
        grace_s: r.try_get("grace_s")?,
        duration_s: r.try_get("duration_s")?,
        online: r.try_get("online")?,
        reader_type: r.try_get("reader_type")?,
        points: tags
            .into_iter()
            .zip(offsets)
            .map(|(checkpoint_tag, offset_s)| RoutePoint {
                checkpoint_tag,
                offset_s,
            })
            .collect(),
    })
}

pub async fn routes(pool: &PgPool) -> Result<Vec<Route>, sqlx::Error> {
    sqlx::query(&ROUTES.replace("{WHERE}", ""))
        .fetch_all(pool)
        .await?
        .iter()
        .map(route_row)
        .collect()
}

/// Adds (id 0) or changes a route with its checkpoints; returns its id.
pub async fn save_route(pool: &PgPool, actor: &Actor, r: &Route) -> Result<i64, PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let id = save_route_in(&mut tx, actor, r).await?;
    finish(tx, false).await?;
    Ok(id)
}

pub(crate) async fn save_route_in(
    tx: &mut PgConnection,
    actor: &Actor,
    r: &Route,
) -> Result<i64, PatrolError> {
    let name = name_of(&r.name)?;
    for s in [r.early_s, r.late_s, r.grace_s, r.duration_s] {
        seconds(s)?;
    }
    if r.points.is_empty() {
        return Err(PatrolError::EmptyRoute);
    }
    if !r.any_order {
        if let Some(w) = r.points.windows(2).find(|w| w[1].offset_s < w[0].offset_s) {
            return Err(PatrolError::OffsetsOutOfOrder {
                tag: w[1].checkpoint_tag,
            });
        }
    }
    let tags: Vec<i64> = r.points.iter().map(|p| p.checkpoint_tag).collect();
    let offsets: Vec<i32> = r
        .points
        .iter()
        .map(|p| seconds(p.offset_s))
        .collect::<Result<_, _>>()?;
    let known: Vec<i64> = sqlx::query_scalar("SELECT tag FROM checkpoint WHERE tag = ANY($1)")
        .bind(&tags)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(t) = tags.iter().find(|t| !known.contains(t)) {
        return Err(PatrolError::NoCheckpoint(*t));
    }
    let before = if r.id == 0 {
        None
    } else {
        let all: Vec<Route> = routes_in(tx, r.id).await?;
        match all.into_iter().next() {
            Some(b) => Some(b),
            None => return Err(PatrolError::NoRoute(r.id.to_string())),
        }
    };
    let taken = || PatrolError::NameTaken {
        what: "route",
        name: name.clone(),
    };
    let id: i64 = if r.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO patrol_route (name, any_order, early_s, late_s, grace_s, duration_s, online, reader_type)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
    } else {
        sqlx::query_scalar(
            "UPDATE patrol_route SET name = $1, any_order = $2, early_s = $3, late_s = $4, grace_s = $5,
               duration_s = $6, online = $7, reader_type = $8 WHERE id = $9 RETURNING id",
        )
    }
    .bind(&name)
    .bind(r.any_order)
    .bind(r.early_s)
    .bind(r.late_s)
    .bind(r.grace_s)
    .bind(r.duration_s)
    .bind(r.online)
    .bind(if r.reader_type == "docked" { "docked" } else { "rs485" })
    .bind(r.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| unique(e, taken))?;
    sqlx::query("DELETE FROM route_checkpoint WHERE route_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO route_checkpoint (route_id, seq, checkpoint_tag, offset_s)
         SELECT $1, o, t, s FROM unnest($2::bigint[], $3::int[]) WITH ORDINALITY AS u(t, s, o)",
    )
    .bind(id)
    .bind(&tags)
    .bind(&offsets)
    .execute(&mut *tx)
    .await?;
    let schedules: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM patrol_schedule WHERE route_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    replan(tx, &schedules).await?;
    let after = Route {
        id,
        name,
        ..r.clone()
    };
    audit::append(
        tx,
        actor,
        if before.is_some() {
            "patrol.route.change"
        } else {
            "patrol.route.add"
        },
        "patrol_route",
        &id.to_string(),
        before.map(|b| json!(b)),
        Some(json!(after)),
    )
    .await?;
    Ok(id)
}

async fn routes_in(tx: &mut PgConnection, id: i64) -> Result<Vec<Route>, sqlx::Error> {
    sqlx::query(&ROUTES.replace("{WHERE}", "WHERE r.id = $1"))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(route_row)
        .collect()
}

/// Deletes a route with its schedules and their visits.
pub async fn delete_route(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let Some(before) = routes_in(&mut tx, id).await?.into_iter().next() else {
        return Err(PatrolError::NoRoute(id.to_string()));
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('patrol_match'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM patrol_route WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "patrol.route.delete",
        "patrol_route",
        &id.to_string(),
        Some(json!(before)),
        None,
    )
    .await?;
    finish(tx, false).await
}
