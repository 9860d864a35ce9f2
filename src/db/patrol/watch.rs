//! What `serve` does for patrol, every few seconds: keeps the due visits laid out
//! [`super::HORIZON`] ahead, sweeps closed rounds into exceptions, and raises an alarm for each
//! checkpoint of an online route that is overdue.

use super::horizon_end;
use crate::db::alarm::{self, NewAlarm};
use crate::db::ingest::AlarmDetail;
use crate::db::notify::Change;
use crate::domain::alarm::AlarmKind;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// An overdue visit older than this is not alarmed any more (after `serve` was down, or a
/// schedule laid out in the past): its exception says it.
pub const ALARM_WITHIN: chrono::Duration = chrono::Duration::hours(1);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    pub laid_out: i64,
    pub exceptions: i64,
    pub alarms: usize,
}

/// An overdue visit: (visit, tag, checkpoint, guard or group, guard card, due).
type Overdue = (i64, i64, String, Option<String>, Option<i64>, DateTime<Utc>);

/// One pass at `now`.
pub async fn tick(pool: &PgPool, now: DateTime<Utc>) -> Result<Tick, sqlx::Error> {
    let laid_out: i64 = sqlx::query_scalar("SELECT patrol_expand_to($1)")
        .bind(horizon_end(now))
        .fetch_one(pool)
        .await?;
    let mut tx = pool.begin().await?;
    let exceptions: i64 = sqlx::query_scalar("SELECT patrol_sweep($1)")
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
    let overdue: Vec<Overdue> = sqlx::query_as(
        "UPDATE patrol_visit v SET alarmed = true
             FROM patrol_route r, checkpoint c, patrol_visit o
             LEFT JOIN guard g ON g.id = o.guard_id LEFT JOIN guard_group gg ON gg.id = o.group_id
             WHERE o.id = v.id AND r.id = v.route_id AND c.tag = v.checkpoint_tag AND r.online
               AND NOT v.swept AND NOT v.alarmed AND v.scanned_at IS NULL
               AND v.win_end < $1 AND v.win_end > $2 AND v.period_end > $1
             RETURNING v.id, v.checkpoint_tag, c.name, coalesce(g.name, gg.name), g.card, v.due",
    )
    .bind(now)
    .bind(now - ALARM_WITHIN)
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = Vec::new();
    for (_, tag, checkpoint, guard, card, due) in &overdue {
        let a = NewAlarm {
            kind: AlarmKind::PatrolOverdue,
            terminal_id: None,
            door: None,
            card: *card,
            detail: AlarmDetail::PatrolOverdue {
                checkpoint: checkpoint.clone(),
                tag: *tag,
                guard: guard.clone().unwrap_or_default(),
                due: crate::domain::time::local(*due),
            }
            .to_json(),
            late: false,
        };
        ids.extend(alarm::raise(&mut tx, &a).await?);
    }
    if !ids.is_empty() {
        Change::alarms(ids.clone()).send(&mut tx).await?;
    }
    if exceptions > 0 || !overdue.is_empty() || laid_out > 0 {
        Change::patrol().send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Tick {
        laid_out,
        exceptions,
        alarms: ids.len(),
    })
}
