//! Doors: the name, place, settings and live state of each door controller's doors (table
//! `door`, one row per door, created with the controller).

use super::notify::Change;
use sqlx::PgPool;

/// A door's live state as its controller reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveState {
    pub door: i16,
    pub open: bool,
    pub unlocked: bool,
}

/// Records what a controller's status said of its doors. Only doors whose state changed are
/// written, and only then are consoles told (`Change.door`): a poll that saw nothing new costs
/// one read-only statement. True when anything changed.
pub async fn record_live_state(
    pool: &PgPool,
    terminal_id: i64,
    states: &[LiveState],
) -> Result<bool, sqlx::Error> {
    if states.is_empty() {
        return Ok(false);
    }
    let doors: Vec<i16> = states.iter().map(|s| s.door).collect();
    let open: Vec<bool> = states.iter().map(|s| s.open).collect();
    let unlocked: Vec<bool> = states.iter().map(|s| s.unlocked).collect();
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE door d SET open = s.open, unlocked = s.unlocked, state_at = now()
         FROM unnest($2::smallint[], $3::bool[], $4::bool[]) AS s(door, open, unlocked)
         WHERE d.terminal_id = $1 AND d.door = s.door
           AND (d.open IS DISTINCT FROM s.open OR d.unlocked IS DISTINCT FROM s.unlocked)",
    )
    .bind(terminal_id)
    .bind(&doors)
    .bind(&open)
    .bind(&unlocked)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        Change::doors(vec![terminal_id]).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed > 0)
}

/// Records a door's mode and unlock time as its controller reports them (read back after a
/// change, or read when the controller is first identified). Not an operator's change, so not
/// audited; the operator's change is audited where it is asked for. True when anything changed.
pub async fn record_settings(
    pool: &PgPool,
    terminal_id: i64,
    door: i16,
    mode: &str,
    unlock_secs: i16,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE door SET mode = $3, unlock_secs = $4
         WHERE terminal_id = $1 AND door = $2 AND (mode <> $3 OR unlock_secs <> $4)",
    )
    .bind(terminal_id)
    .bind(door)
    .bind(mode)
    .bind(unlock_secs)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        Change::doors(vec![terminal_id]).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed > 0)
}
