//! The merchant register (商户): application, approval, suspension, closure, commission rate, and
//! the POS terminals each merchant owns. Every change is an operator's action, checked with
//! `Action::MerchantSettle` and audited in its own transaction.
//!
//! Approval opens the merchant's ledger account: purchases on its terminals are refused
//! (`no_merchant`) until then, and again while it is suspended or closed.

use super::audit;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// `merchant.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MerchantState {
    Applied,
    Approved,
    Suspended,
    Closed,
}

crate::domain::named!(MerchantState, "merchant state", {
    Applied => "applied",
    Approved => "approved",
    Suspended => "suspended",
    Closed => "closed",
});

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Merchant {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub commission_rate: Decimal,
    pub applied_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// Its ledger account, once approved.
    pub account_id: Option<i64>,
    /// How many terminals it owns.
    pub terminals: i64,
}

/// Why the register refuses a change: each worded for the operator (`app::words`).
#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("a merchant needs a name")]
    NameEmpty,
    #[error("merchant {0} exists already")]
    NameTaken(String),
    #[error("a commission rate is from 0 to below 1 (0.025 is 2.5 %), with at most 4 decimals: {0} is not")]
    BadRate(Decimal),
    #[error("no merchant {0}")]
    NotFound(String),
    #[error("merchant {name} is {state}: it cannot be {wanted}")]
    WrongState {
        name: String,
        state: String,
        wanted: MerchantState,
    },
    #[error("no POS terminal {0}")]
    NoSuchPos(String),
    #[error("terminal {terminal} belongs to merchant {owner} already")]
    OwnedElsewhere { terminal: String, owner: String },
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

const SELECT: &str = "SELECT m.id, m.name, m.state, m.commission_rate, m.applied_at, m.approved_at,
        m.approved_by, a.id AS account_id,
        (SELECT count(*) FROM terminal t WHERE t.merchant_id = m.id) AS terminals
     FROM merchant m LEFT JOIN account a ON a.merchant_id = m.id";

/// Every merchant, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<Merchant>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY m.name"))
        .fetch_all(pool)
        .await
}

/// A merchant by its name or its id.
pub async fn find(
    db: impl sqlx::PgExecutor<'_>,
    name_or_id: &str,
) -> Result<Option<Merchant>, sqlx::Error> {
    let id: Option<i64> = name_or_id.trim().parse().ok();
    sqlx::query_as(&format!(
        "{SELECT} WHERE m.name = $1 OR m.id = $2 ORDER BY m.name = $1 DESC LIMIT 1"
    ))
    .bind(name_or_id.trim())
    .bind(id)
    .fetch_optional(db)
    .await
}

fn check_rate(rate: Decimal) -> Result<(), MerchantError> {
    if rate < Decimal::ZERO || rate >= Decimal::ONE || rate.round_dp(4) != rate {
        return Err(MerchantError::BadRate(rate));
    }
    Ok(())
}

/// 申请: a merchant applies with its name and the agreed commission rate.
pub async fn apply(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    commission_rate: Decimal,
) -> Result<Merchant, MerchantError> {
    actor.authorize(Action::MerchantSettle)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(MerchantError::NameEmpty);
    }
    check_rate(commission_rate)?;
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO merchant (name, commission_rate) VALUES ($1, $2)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(commission_rate)
    .fetch_optional(&mut *tx)
    .await?;
    let id = id.ok_or_else(|| MerchantError::NameTaken(name.to_string()))?;
    audit::append(
        &mut tx,
        actor,
        "merchant.apply",
        "merchant",
        &id.to_string(),
        None,
        Some(json!({ "name": name, "state": "applied", "commission_rate": commission_rate })),
    )
    .await?;
    let m = locked(&mut tx, &id.to_string()).await?;
    tx.commit().await?;
    Ok(m)
}

/// The merchant, locked until the end of the transaction.
async fn locked(tx: &mut PgConnection, name_or_id: &str) -> Result<Merchant, MerchantError> {
    let found = find(&mut *tx, name_or_id)
        .await?
        .ok_or_else(|| MerchantError::NotFound(name_or_id.trim().to_string()))?;
    sqlx::query("SELECT 1 FROM merchant WHERE id = $1 FOR UPDATE")
        .bind(found.id)
        .execute(&mut *tx)
        .await?;
    // Re-read under the lock: another desk may have changed it meanwhile.
    find(&mut *tx, &found.id.to_string())
        .await?
        .ok_or_else(|| MerchantError::NotFound(name_or_id.trim().to_string()))
}

/// 审批 / 暂停 / 注销 / 恢复: moves the merchant to `to`. Approval opens its ledger account at
/// the first approval; a closed merchant stays closed (its statements and entries remain).
pub async fn set_state(
    pool: &PgPool,
    actor: &Actor,
    name_or_id: &str,
    to: MerchantState,
) -> Result<Merchant, MerchantError> {
    use MerchantState::*;
    actor.authorize(Action::MerchantSettle)?;
    let mut tx = pool.begin().await?;
    let m = locked(&mut tx, name_or_id).await?;
    let from: MerchantState = m.state.parse().map_err(|_| MerchantError::WrongState {
        name: m.name.clone(),
        state: m.state.clone(),
        wanted: to,
    })?;
    let allowed = matches!(
        (from, to),
        (Applied | Suspended, Approved)
            | (Approved, Suspended)
            | (Applied | Approved | Suspended, Closed)
    );
    if !allowed {
        return Err(MerchantError::WrongState {
            name: m.name,
            state: m.state,
            wanted: to,
        });
    }
    sqlx::query(
        "UPDATE merchant SET state = $2,
             approved_at = CASE WHEN $2 = 'approved' AND approved_at IS NULL THEN now() ELSE approved_at END,
             approved_by = CASE WHEN $2 = 'approved' AND approved_by IS NULL THEN $3 ELSE approved_by END
         WHERE id = $1",
    )
    .bind(m.id)
    .bind(to.name())
    .bind(&actor.name)
    .execute(&mut *tx)
    .await?;
    if to == Approved && m.account_id.is_none() {
        // No floor: its balance row is never kept (takings are summed from entries), so a
        // refund or correction it pays must not be checked against it.
        sqlx::query(
            "INSERT INTO account (kind, merchant_id, name, floor_zero) VALUES ('merchant', $1, $2, false)",
        )
            .bind(m.id)
            .bind(&m.name)
            .execute(&mut *tx)
            .await?;
    }
    let after = find(&mut *tx, &m.id.to_string())
        .await?
        .ok_or_else(|| MerchantError::NotFound(m.id.to_string()))?;
    audit::append(
        &mut tx,
        actor,
        &format!(
            "merchant.{}",
            match to {
                Applied => "apply",
                Approved => "approve",
                Suspended => "suspend",
                Closed => "close",
            }
        ),
        "merchant",
        &m.id.to_string(),
        Some(json!({ "state": m.state })),
        Some(json!({ "state": after.state, "account_id": after.account_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Changes the commission rate; it applies to periods settled from now on.
pub async fn set_commission(
    pool: &PgPool,
    actor: &Actor,
    name_or_id: &str,
    rate: Decimal,
) -> Result<Merchant, MerchantError> {
    actor.authorize(Action::MerchantSettle)?;
    check_rate(rate)?;
    let mut tx = pool.begin().await?;
    let m = locked(&mut tx, name_or_id).await?;
    sqlx::query("UPDATE merchant SET commission_rate = $2 WHERE id = $1")
        .bind(m.id)
        .bind(rate)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "merchant.commission",
        "merchant",
        &m.id.to_string(),
        Some(json!({ "commission_rate": m.commission_rate })),
        Some(json!({ "commission_rate": rate })),
    )
    .await?;
    tx.commit().await?;
    Ok(Merchant {
        commission_rate: rate,
        ..m
    })
}

/// A POS by its id or its name.
async fn pos(
    tx: &mut PgConnection,
    text: &str,
) -> Result<(i64, String, Option<i64>), MerchantError> {
    let id: Option<i64> = text.trim().parse().ok();
    sqlx::query_as(
        "SELECT id, name, merchant_id FROM terminal
         WHERE kind = 'pos' AND (name = $1 OR id = $2) ORDER BY name = $1 DESC LIMIT 1 FOR UPDATE",
    )
    .bind(text.trim())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| MerchantError::NoSuchPos(text.trim().to_string()))
}

/// Gives a POS to a merchant (not closed). A POS another merchant owns must be unassigned first,
/// so that no terminal changes hands by a slip.
pub async fn assign(
    pool: &PgPool,
    actor: &Actor,
    merchant: &str,
    terminal: &str,
) -> Result<(), MerchantError> {
    actor.authorize(Action::MerchantSettle)?;
    let mut tx = pool.begin().await?;
    let m = locked(&mut tx, merchant).await?;
    if m.state == MerchantState::Closed.name() {
        return Err(MerchantError::WrongState {
            name: m.name,
            state: m.state,
            wanted: MerchantState::Approved,
        });
    }
    let (tid, tname, owner) = pos(&mut tx, terminal).await?;
    match owner {
        Some(o) if o == m.id => return Ok(()),
        Some(o) => {
            let owner: String = sqlx::query_scalar("SELECT name FROM merchant WHERE id = $1")
                .bind(o)
                .fetch_one(&mut *tx)
                .await?;
            return Err(MerchantError::OwnedElsewhere {
                terminal: tname,
                owner,
            });
        }
        None => {}
    }
    set_owner(&mut tx, actor, tid, None, Some(m.id), "merchant.assign").await?;
    tx.commit().await?;
    Ok(())
}

/// Takes a POS from whichever merchant owns it; it sells nothing until assigned again.
pub async fn unassign(pool: &PgPool, actor: &Actor, terminal: &str) -> Result<(), MerchantError> {
    actor.authorize(Action::MerchantSettle)?;
    let mut tx = pool.begin().await?;
    let (tid, _, owner) = pos(&mut tx, terminal).await?;
    if owner.is_some() {
        set_owner(&mut tx, actor, tid, owner, None, "merchant.unassign").await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn set_owner(
    tx: &mut PgConnection,
    actor: &Actor,
    terminal_id: i64,
    before: Option<i64>,
    after: Option<i64>,
    action: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE terminal SET merchant_id = $2 WHERE id = $1")
        .bind(terminal_id)
        .bind(after)
        .execute(&mut *tx)
        .await?;
    audit::append(
        tx,
        actor,
        action,
        "terminal",
        &terminal_id.to_string(),
        Some(json!({ "merchant_id": before })),
        Some(json!({ "merchant_id": after })),
    )
    .await?;
    Ok(())
}

/// The POS terminals a merchant owns: (id, name).
pub async fn terminals(pool: &PgPool, merchant_id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM terminal WHERE merchant_id = $1 ORDER BY name")
        .bind(merchant_id)
        .fetch_all(pool)
        .await
}
