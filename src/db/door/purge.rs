//! The retention period of door records and their purge.

use super::*;

/// The setting that holds how many days door records are kept.
pub const RETENTION_KEY: &str = "door.retention_days";
/// Three months, unless the setting says otherwise.
pub const DEFAULT_RETENTION_DAYS: i32 = 92;
/// The longest retention the setting takes (ten years).
pub const MAX_RETENTION_DAYS: i32 = 3650;
/// Rows deleted per transaction: a purge of millions never holds one long transaction.
pub const PURGE_BATCH: i64 = 5000;

/// How many days door records are kept.
pub async fn retention_days(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let value = settings::get(pool, RETENTION_KEY).await?;
    Ok(value
        .and_then(|v| v.as_i64())
        .and_then(|d| i32::try_from(d).ok())
        .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
        .unwrap_or(DEFAULT_RETENTION_DAYS))
}

/// Sets the retention period (1 day to ten years); a setting change, audited.
pub async fn set_retention_days(pool: &PgPool, actor: &Actor, days: i32) -> Result<(), DoorError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(invalid(
            Field::RetentionDays,
            days,
            Problem::OutOfRange {
                min: 1,
                max: i64::from(MAX_RETENTION_DAYS),
            },
        ));
    }
    settings::set(pool, actor, RETENTION_KEY, json!(days)).await?;
    Ok(())
}

/// What a purge at a cut-off would do, to ask before doing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePreview {
    pub cutoff: DateTime<Utc>,
    /// Records received before the cut-off.
    pub rows: u64,
    pub retention_days: i32,
    /// The latest cut-off the retention period allows without forcing.
    pub latest: DateTime<Utc>,
}

impl PurgePreview {
    /// The cut-off would delete records younger than the retention period: only when forced.
    pub fn inside_retention(&self) -> bool {
        self.cutoff > self.latest
    }
}

pub async fn purge_preview(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<PurgePreview, sqlx::Error> {
    let retention = retention_days(pool).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event WHERE received_at < $1")
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    Ok(PurgePreview {
        cutoff,
        rows: u64::try_from(rows).unwrap_or(0),
        retention_days: retention,
        latest: Utc::now() - chrono::Duration::days(i64::from(retention)),
    })
}

/// Deletes door records received before `cutoff`, [`PURGE_BATCH`] rows a transaction, calling
/// `progress(done, total)` after each. A cut-off inside the retention period is refused unless
/// `force` (the console asks first). One audit row says who, the cut-off and how many; it is
/// written with the last batch (or, if a batch fails, with what was deleted so far). Returns
/// the rows deleted.
///
/// Age is by `received_at`, our own clock: a controller's clock may be years off after a
/// reset, and a record just received must not go because its controller thinks it is old.
pub async fn purge(
    pool: &PgPool,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    force: bool,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<u64, DoorError> {
    actor.authorize(Action::RecordPurge)?;
    let PurgePreview {
        rows: total,
        retention_days: retention,
        latest,
        ..
    } = purge_preview(pool, cutoff).await?;
    if cutoff > latest && !force {
        return Err(DoorError::InsideRetention {
            cutoff,
            retention_days: retention,
            latest,
        });
    }
    progress(0, total);
    let audit_row = |done: u64, finished: bool| {
        json!({
            "cutoff": cutoff,
            "deleted": done,
            "forced": force && cutoff > latest,
            "retention_days": retention,
            "finished": finished,
        })
    };
    let mut done = 0u64;
    loop {
        match purge_batch(pool, actor, cutoff, done, &audit_row).await {
            Ok((n, last)) => {
                done += n;
                progress(done, total.max(done));
                if last {
                    return Ok(done);
                }
            }
            Err(e) => {
                if done > 0 {
                    // What went is recorded even when the rest could not go.
                    let _ = append_purge_audit(pool, actor, audit_row(done, false)).await;
                }
                return Err(e);
            }
        }
    }
}

/// One batch; the last one (fewer rows than a batch) carries the audit row. Returns the rows
/// deleted and whether it was the last.
async fn purge_batch(
    pool: &PgPool,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    done: u64,
    audit_row: &(dyn Fn(u64, bool) -> serde_json::Value + Sync),
) -> Result<(u64, bool), DoorError> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "DELETE FROM door_event WHERE (terminal_id, record_no) IN (
             SELECT terminal_id, record_no FROM door_event WHERE received_at < $1 LIMIT $2)",
    )
    .bind(cutoff)
    .bind(PURGE_BATCH)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let last = n < PURGE_BATCH as u64;
    if last {
        audit::append(
            &mut tx,
            actor,
            "door.purge",
            "door_event",
            "",
            None,
            Some(audit_row(done + n, true)),
        )
        .await?;
        Change {
            records: vec!["door_event".into()],
            ..Change::default()
        }
        .send(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok((n, last))
}

async fn append_purge_audit(
    pool: &PgPool,
    actor: &Actor,
    after: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        actor,
        "door.purge",
        "door_event",
        "",
        None,
        Some(after),
    )
    .await?;
    tx.commit().await
}
