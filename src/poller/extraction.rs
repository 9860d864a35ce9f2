//! Serve's scheduled extraction: when a due time has passed, an `Extract` command is queued for
//! every attendance machine in the scan that had none requested since. Due times come from
//! `attendance.extract_every_min` (every N minutes counted from local midnight; 0 = off) and
//! `attendance.extract_at` (local times of day, `["06:00", "18:30"]`). Several `serve`s queue
//! once between them: the check and the queueing run under one advisory lock, and a command
//! already requested since the due time (on demand or by another serve) counts.

use crate::db::command::{self, TerminalCommand};
use crate::db::notify::Change;
use crate::domain::permission::Actor;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, NaiveTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

pub const EVERY_KEY: &str = "attendance.extract_every_min";
/// A machine whose log is this full (percent) raises `memory_full` unless the setting says.
pub const MEMORY_ALARM_PERCENT: u8 = 90;
pub const MEMORY_ALARM_KEY: &str = "attendance.memory_alarm_percent";
/// Seconds of clock drift that raise `clock_drift` for an attendance machine (absent: the
/// poller's threshold, 60 s).
pub const DRIFT_ALARM_KEY: &str = "attendance.drift_alarm_s";
/// Per-machine policy: the terminals (ids) whose log is cleared after each extraction.
pub const CLEAR_POLICY_KEY: &str = "attendance.clear_after_extract";
pub const AT_KEY: &str = "attendance.extract_at";
/// Minutes between extractions when the setting is absent.
pub const DEFAULT_EVERY_MIN: u32 = 60;
/// How often serve looks whether a due time passed.
const CHECK_EVERY: Duration = Duration::from_secs(15);
/// One pass's deadline.
const LIMIT: Duration = Duration::from_secs(30);
/// `pg_advisory_xact_lock` key of the pass ("att-ext").
const LOCK_KEY: i64 = 0x0061_7474_2d65_7874;

/// When extraction is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Every this many minutes from local midnight (0: not by interval).
    pub every_min: u32,
    /// At these local times of day.
    pub at: Vec<NaiveTime>,
}

impl Schedule {
    /// The settings' schedule (absent or unreadable values: the defaults, said in the log).
    pub async fn read(pool: &PgPool) -> Result<Schedule, sqlx::Error> {
        let every_min = match crate::db::settings::get(pool, EVERY_KEY).await? {
            None => DEFAULT_EVERY_MIN,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| {
                    tracing::warn!(
                        "{EVERY_KEY} = {v} is no number of minutes; {DEFAULT_EVERY_MIN} is used"
                    );
                    DEFAULT_EVERY_MIN
                }),
        };
        let at = match crate::db::settings::get(pool, AT_KEY).await? {
            None => Vec::new(),
            Some(v) => parse_times(&v).unwrap_or_else(|| {
                tracing::warn!("{AT_KEY} = {v} is no list of times like [\"06:00\"]; ignored");
                Vec::new()
            }),
        };
        Ok(Schedule { every_min, at })
    }

    /// The latest due time at or before `now` (local wall clock); None when nothing is
    /// scheduled.
    pub fn last_due(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        let midnight = now.date().and_time(NaiveTime::MIN);
        let by_interval = (self.every_min > 0).then(|| {
            let mins = (now - midnight).num_minutes();
            let every = i64::from(self.every_min);
            midnight + ChronoDuration::minutes(mins / every * every)
        });
        let by_time = self
            .at
            .iter()
            .map(|t| {
                let today = now.date().and_time(*t);
                if today <= now {
                    today
                } else {
                    today - ChronoDuration::days(1)
                }
            })
            .max();
        by_interval.into_iter().chain(by_time).max()
    }
}

/// `["06:00", "18:30"]` (or one string) as times of day.
pub fn parse_times(v: &serde_json::Value) -> Option<Vec<NaiveTime>> {
    let one = |v: &serde_json::Value| NaiveTime::parse_from_str(v.as_str()?, "%H:%M").ok();
    match v {
        serde_json::Value::Array(a) => a.iter().map(one).collect(),
        v => one(v).map(|t| vec![t]),
    }
}

/// Queues an `Extract` for every machine in the scan with none requested since `due`; returns
/// the commands queued.
pub async fn queue_due(
    pool: &PgPool,
    actor: &Actor,
    due: DateTime<Utc>,
) -> Result<Vec<i64>, command::CommandError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    let machines: Vec<i64> = sqlx::query_scalar(
        "SELECT t.id FROM terminal t JOIN line l ON l.id = t.line_id
         WHERE t.kind = 'attendance_machine' AND l.protocol = 'zk' AND l.enabled AND t.in_scan
           AND NOT EXISTS (SELECT 1 FROM terminal_command c
                           WHERE c.terminal_id = t.id AND c.command->>'op' = 'extract'
                             AND c.requested_at >= $1)
         ORDER BY t.id",
    )
    .bind(due)
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = Vec::with_capacity(machines.len());
    for m in machines {
        ids.push(command::enqueue_in(&mut tx, actor, m, &TerminalCommand::Extract).await?);
    }
    if !ids.is_empty() {
        let change = Change {
            command: ids.clone(),
            ..Change::default()
        };
        change.send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Whether `terminal_id`'s log is cleared after each extraction (the per-machine policy).
pub async fn clears_after_extract(pool: &PgPool, terminal_id: i64) -> Result<bool, sqlx::Error> {
    let v = crate::db::settings::get(pool, CLEAR_POLICY_KEY).await?;
    Ok(policy_ids(v.as_ref()).contains(&terminal_id))
}

fn policy_ids(v: Option<&serde_json::Value>) -> Vec<i64> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
        .unwrap_or_default()
}

/// Turns the clear-after-extract policy of `terminal_id` on or off (the right to clear
/// records), audited in the same transaction. Returns whether it changed.
pub async fn set_clear_policy(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    on: bool,
) -> Result<bool, command::CommandError> {
    actor.authorize(TerminalCommand::ClearRecords.action())?;
    let mut tx = pool.begin().await?;
    let before: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM setting WHERE key = $1 FOR UPDATE")
            .bind(CLEAR_POLICY_KEY)
            .fetch_optional(&mut *tx)
            .await?;
    let mut ids = policy_ids(before.as_ref());
    let was = ids.contains(&terminal_id);
    if was == on {
        return Ok(false);
    }
    ids.retain(|i| *i != terminal_id);
    if on {
        ids.push(terminal_id);
    }
    ids.sort_unstable();
    sqlx::query(
        "INSERT INTO setting (key, value, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by",
    )
    .bind(CLEAR_POLICY_KEY)
    .bind(serde_json::json!(ids))
    .bind(&actor.name)
    .execute(&mut *tx)
    .await?;
    crate::db::audit::append(
        &mut tx,
        actor,
        "attendance.clear_policy",
        "terminal",
        &terminal_id.to_string(),
        Some(serde_json::json!({ "clear_after_extract": was })),
        Some(serde_json::json!({ "clear_after_extract": on })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// One look: the schedule read, what is due queued.
pub async fn tick(pool: &PgPool, actor: &Actor) -> Result<Vec<i64>, command::CommandError> {
    let schedule = Schedule::read(pool).await?;
    let Some(due) = schedule.last_due(crate::domain::time::now()) else {
        return Ok(Vec::new());
    };
    queue_due(pool, actor, crate::domain::time::instant(due)).await
}

/// Looks every [`CHECK_EVERY`] until `stop`.
pub async fn run(pool: PgPool, actor: Actor, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        match tokio::time::timeout(LIMIT, tick(&pool, &actor)).await {
            Ok(Ok(ids)) if !ids.is_empty() => {
                tracing::info!(machines = ids.len(), "scheduled extraction queued")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "queueing the scheduled extraction failed"),
            Err(_) => tracing::warn!("queueing the scheduled extraction timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            r = stop.changed() => if r.is_err() { break },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn the_last_due_time_is_the_latest_of_interval_and_times() {
        let s = Schedule {
            every_min: 60,
            at: vec![],
        };
        assert_eq!(
            s.last_due(at("2026-12-07T08:59:59")),
            Some(at("2026-12-07T08:00:00"))
        );
        let s = Schedule {
            every_min: 0,
            at: parse_times(&serde_json::json!(["06:00", "18:30"])).unwrap(),
        };
        assert_eq!(
            s.last_due(at("2026-12-07T05:00:00")),
            Some(at("2026-12-06T18:30:00"))
        );
        assert_eq!(
            s.last_due(at("2026-12-07T07:00:00")),
            Some(at("2026-12-07T06:00:00"))
        );
        let off = Schedule {
            every_min: 0,
            at: vec![],
        };
        assert_eq!(off.last_due(at("2026-12-07T07:00:00")), None);
        assert!(parse_times(&serde_json::json!(["6h"])).is_none());
    }
}
