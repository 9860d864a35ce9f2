//! Schedules: which route, on which days, at what times, how often, by whom.

use super::{finish, name_of, Schedule};
use crate::db::audit;
use crate::db::patrol::{replan, PatrolError};
use crate::domain::permission::{Action, Actor};
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};

pub async fn schedules(pool: &PgPool) -> Result<Vec<Schedule>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, route_id, guard_id, group_id, shift, dow_mask, first_start, last_start,
                (extract(epoch FROM every) / 60)::int AS every_min, valid_from, valid_to
         FROM patrol_schedule ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(schedule_row).collect()
}

fn schedule_row(r: &sqlx::postgres::PgRow) -> Result<Schedule, sqlx::Error> {
    Ok(Schedule {
        id: r.try_get("id")?,
        route_id: r.try_get("route_id")?,
        guard_id: r.try_get("guard_id")?,
        group_id: r.try_get("group_id")?,
        shift: r.try_get("shift")?,
        dow_mask: r.try_get("dow_mask")?,
        first_start: r.try_get("first_start")?,
        last_start: r.try_get("last_start")?,
        every_min: r.try_get("every_min")?,
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
    })
}

/// Adds (id 0) or changes a schedule and lays its rounds out; returns its id.
pub async fn save_schedule(pool: &PgPool, actor: &Actor, s: &Schedule) -> Result<i64, PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let id = save_schedule_in(&mut tx, actor, s).await?;
    finish(tx, false).await?;
    Ok(id)
}

pub(crate) async fn save_schedule_in(
    tx: &mut PgConnection,
    actor: &Actor,
    s: &Schedule,
) -> Result<i64, PatrolError> {
    let shift = name_of(&s.shift)?;
    if !(1..=1440).contains(&s.every_min) {
        return Err(PatrolError::BadEvery);
    }
    if !(1..=127).contains(&s.dow_mask) {
        return Err(PatrolError::NoDays);
    }
    if s.valid_to.is_some_and(|t| t < s.valid_from) {
        return Err(PatrolError::BadValidity);
    }
    if s.guard_id.is_some() == s.group_id.is_some() {
        return Err(PatrolError::NoGuard(String::new()));
    }
    let before = sqlx::query(
        "SELECT id, route_id, guard_id, group_id, shift, dow_mask, first_start, last_start,
                (extract(epoch FROM every) / 60)::int AS every_min, valid_from, valid_to
         FROM patrol_schedule WHERE id = $1 FOR UPDATE",
    )
    .bind(s.id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| schedule_row(&r))
    .transpose()?;
    if s.id != 0 && before.is_none() {
        return Err(PatrolError::NoSchedule(s.id));
    }
    let id: i64 = if s.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO patrol_schedule (route_id, guard_id, group_id, shift, dow_mask, first_start,
               last_start, every, valid_from, valid_to)
             VALUES ($1, $2, $3, $4, $5, $6, $7, make_interval(mins => $8), $9, $10) RETURNING id",
        )
    } else {
        sqlx::query_scalar(
            "UPDATE patrol_schedule SET route_id = $1, guard_id = $2, group_id = $3, shift = $4,
               dow_mask = $5, first_start = $6, last_start = $7, every = make_interval(mins => $8),
               valid_from = $9, valid_to = $10 WHERE id = $11 RETURNING id",
        )
    }
    .bind(s.route_id)
    .bind(s.guard_id)
    .bind(s.group_id)
    .bind(&shift)
    .bind(s.dow_mask)
    .bind(s.first_start)
    .bind(s.last_start)
    .bind(s.every_min)
    .bind(s.valid_from)
    .bind(s.valid_to)
    .bind(s.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            if d.constraint().is_some_and(|c| c.contains("route")) {
                PatrolError::NoRoute(s.route_id.to_string())
            } else if d.constraint().is_some_and(|c| c.contains("group")) {
                PatrolError::NoGroup(s.group_id.unwrap_or_default().to_string())
            } else {
                PatrolError::NoGuard(s.guard_id.unwrap_or_default().to_string())
            }
        }
        _ => PatrolError::Sql(e),
    })?;
    replan(tx, &[id]).await?;
    audit::append(
        tx,
        actor,
        if before.is_some() {
            "patrol.schedule.change"
        } else {
            "patrol.schedule.add"
        },
        "patrol_schedule",
        &id.to_string(),
        before.map(|b| json!(b)),
        Some(json!(Schedule {
            id,
            shift,
            ..s.clone()
        })),
    )
    .await?;
    Ok(id)
}

/// Deletes a schedule with its visits and exceptions.
pub async fn delete_schedule(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('patrol_match'))")
        .execute(&mut *tx)
        .await?;
    let before = sqlx::query(
        "DELETE FROM patrol_schedule WHERE id = $1 RETURNING id, route_id, guard_id, group_id, shift,
           dow_mask, first_start, last_start, (extract(epoch FROM every) / 60)::int AS every_min,
           valid_from, valid_to",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| schedule_row(&r))
    .transpose()?;
    let Some(before) = before else {
        return Err(PatrolError::NoSchedule(id));
    };
    audit::append(
        &mut tx,
        actor,
        "patrol.schedule.delete",
        "patrol_schedule",
        &id.to_string(),
        Some(json!(before)),
        None,
    )
    .await?;
    finish(tx, false).await
}
