//! Purge of old patrol records: scans, due visits, their exceptions and day totals before a
//! day, in bounded steps with progress, audited once with what was removed.

use super::PatrolError;
use crate::db::audit;
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgPool;

/// Rows removed per step.
pub const STEP: i64 = 20_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub scans: u64,
    pub visits: u64,
    pub exceptions: u64,
}

/// What a purge before `before` would remove, for the confirmation.
pub async fn preview(pool: &PgPool, before: NaiveDate) -> Result<Purged, sqlx::Error> {
    let (scans, visits, exceptions): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM patrol_scan
                 WHERE scanned_at < ($1::date::timestamp AT TIME ZONE site_zone())
                    OR (scanned_at IS NULL AND received_at < ($1::date::timestamp AT TIME ZONE site_zone()))),
                (SELECT count(*) FROM patrol_visit WHERE day < $1),
                (SELECT count(*) FROM patrol_exception e JOIN patrol_visit v ON v.id = e.visit_id WHERE v.day < $1)",
    )
    .bind(before)
    .fetch_one(pool)
    .await?;
    Ok(Purged {
        scans: scans as u64,
        visits: visits as u64,
        exceptions: exceptions as u64,
    })
}

/// Removes every patrol record of days before `before`; `progress` hears the running totals
/// after each step. Steps commit one by one, so an interrupted purge leaves whole rows and can
/// simply be run again; the audit row is written with the last step.
pub async fn purge(
    pool: &PgPool,
    actor: &Actor,
    before: NaiveDate,
    mut progress: impl FnMut(Purged),
) -> Result<Purged, PatrolError> {
    actor.authorize(Action::RecordPurge)?;
    let mut done = Purged::default();
    loop {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('patrol_match'))")
            .execute(&mut *tx)
            .await?;
        let exceptions = sqlx::query(
            "DELETE FROM patrol_exception WHERE visit_id IN (
               SELECT e.visit_id FROM patrol_exception e JOIN patrol_visit v ON v.id = e.visit_id
               WHERE v.day < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(STEP)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let visits = sqlx::query(
            "DELETE FROM patrol_visit WHERE id IN (
               SELECT v.id FROM patrol_visit v WHERE v.day < $1
                 AND NOT EXISTS (SELECT 1 FROM patrol_exception e WHERE e.visit_id = v.id) LIMIT $2)",
        )
        .bind(before)
        .bind(STEP)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let scans = sqlx::query(
            "DELETE FROM patrol_scan WHERE ctid IN (
               SELECT ctid FROM patrol_scan
               WHERE scanned_at < ($1::date::timestamp AT TIME ZONE site_zone())
                  OR (scanned_at IS NULL AND received_at < ($1::date::timestamp AT TIME ZONE site_zone()))
               LIMIT $2)",
        )
        .bind(before)
        .bind(STEP)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        done.scans += scans;
        done.visits += visits;
        done.exceptions += exceptions;
        let last = scans == 0 && visits == 0 && exceptions == 0;
        if last {
            sqlx::query("DELETE FROM patrol_day_total WHERE day < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?;
            audit::append(
                &mut tx,
                actor,
                "patrol.purge",
                "patrol",
                &before.to_string(),
                None,
                Some(json!({
                    "before": before,
                    "scans": done.scans,
                    "visits": done.visits,
                    "exceptions": done.exceptions,
                })),
            )
            .await?;
            Change::patrol().send(&mut tx).await?;
        }
        tx.commit().await?;
        progress(done);
        if last {
            return Ok(done);
        }
    }
}
