//! A desk's shift close: the cash the operator counted against what the ledger says the drawer
//! took that shift.
//!
//! A shift opens when the previous one closed (the first when the desk opened). What the drawer
//! took is the sum of its entries after the previous close's last entry: cash top-ups and fees
//! in, refunds out. The drawer account is locked while the shift closes, and every posting on
//! it takes the same lock before its entries get their ids, so no entry falls between two
//! shifts. The counted figure is the shift's takings (the count less the float it started
//! with).

use super::{checked_text, find, DeskError};
use crate::db::audit;
use crate::db::ledger;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

/// A closed shift.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Shift {
    pub id: i64,
    pub desk_id: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    /// What the drawer took, by the ledger.
    pub expected: Money,
    pub counted: Money,
    /// Counted less expected: negative when cash is missing.
    pub difference: Money,
    pub reason: String,
    pub actor: String,
}

const SHIFT_COLUMNS: &str =
    "id, desk_id, opened_at, closed_at, expected, counted, difference, reason, actor";

/// Closes the desk's shift (None: the first desk) with the cash counted. A difference needs a
/// reason. Audited.
pub async fn close_shift(
    pool: &PgPool,
    actor: &Actor,
    desk: Option<&str>,
    counted: Money,
    reason: &str,
) -> Result<Shift, DeskError> {
    actor.authorize(Action::AccountTopUp)?;
    if counted.is_negative() || !counted.fits_column() {
        return Err(ledger::LedgerError::BadAmount(counted).into());
    }
    let reason = checked_text(reason)?;
    let mut tx = pool.begin().await?;
    let desk = find(&mut tx, desk).await?;
    ledger::lock_accounts(&mut tx, &[desk.drawer_account_id]).await?;
    let previous: Option<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT closed_at, last_entry_id FROM desk_shift WHERE desk_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(desk.id)
    .fetch_optional(&mut *tx)
    .await?;
    let (opened_at, after) = match previous {
        Some(p) => p,
        None => (
            sqlx::query_scalar("SELECT created_at FROM desk WHERE id = $1")
                .bind(desk.id)
                .fetch_one(&mut *tx)
                .await?,
            0,
        ),
    };
    // Debit positive: cash into the drawer is a positive entry.
    let (expected, last): (Money, Option<i64>) = sqlx::query_as(
        "SELECT coalesce(sum(amount), 0), max(id) FROM ledger_entry
         WHERE account_id = $1 AND id > $2",
    )
    .bind(desk.drawer_account_id)
    .bind(after)
    .fetch_one(&mut *tx)
    .await?;
    let difference = counted - expected;
    if !difference.is_zero() && reason.is_empty() {
        return Err(DeskError::ReasonMissing { difference });
    }
    let shift: Shift = sqlx::query_as(&format!(
        "INSERT INTO desk_shift (desk_id, opened_at, last_entry_id, expected, counted, reason,
                                 operator_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {SHIFT_COLUMNS}"
    ))
    .bind(desk.id)
    .bind(opened_at)
    .bind(last.unwrap_or(after))
    .bind(expected)
    .bind(counted)
    .bind(&reason)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "desk.shift_close",
        "desk_shift",
        &shift.id.to_string(),
        None,
        Some(json!({
            "desk": desk.name,
            "opened_at": shift.opened_at,
            "expected": shift.expected,
            "counted": shift.counted,
            "difference": shift.difference,
            "reason": shift.reason,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(shift)
}

/// The desk's closed shifts, newest first.
pub async fn shifts(pool: &PgPool, desk_id: i64, limit: i64) -> Result<Vec<Shift>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHIFT_COLUMNS} FROM desk_shift WHERE desk_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(desk_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
