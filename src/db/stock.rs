//! Blank card stock (batches received, cards issued from it, cards spoiled), the weekly count,
//! and the list of fees collected at the desk.
//!
//! Issuing with no blank on hand is **allowed**: the card is in the operator's hand (the desk
//! reader just read it), so refusing would only stop the desk over a missing receipt. The level
//! then goes negative, and the count screen shows it (`StockLevel::on_hand` < 0, and the next
//! count's difference) until the missing batch is received. Spoiling more blanks than are on
//! hand is refused: it is a typo far more often than a fact.

use super::audit;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Serialises stock changes that check the level ("stock" in ASCII).
const STOCK_LOCK_KEY: i64 = 0x0073_746f_636b;

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error("a quantity must be at least 1")]
    BadQuantity,
    #[error("only {on_hand} blank card(s) are on hand: {quantity} cannot be spoiled")]
    NotOnHand { on_hand: i64, quantity: i32 },
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The records: what came in and went out, and what should be in the drawer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StockLevel {
    pub received: i64,
    pub issued: i64,
    pub spoiled: i64,
    /// received - issued - spoiled; negative when cards were issued from stock never received.
    pub on_hand: i64,
}

/// One weekly count: the drawer against the records.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StockCount {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// What the records said at the time.
    pub recorded: i32,
    /// What was counted.
    pub physical: i32,
    /// physical - recorded: negative when blanks are missing.
    pub difference: i32,
    pub note: String,
    pub actor: String,
}

async fn level_in(conn: &mut PgConnection) -> Result<StockLevel, sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(quantity) FILTER (WHERE kind = 'received'), 0)::bigint AS received,
                coalesce(sum(quantity) FILTER (WHERE kind = 'issued'), 0)::bigint AS issued,
                coalesce(sum(quantity) FILTER (WHERE kind = 'spoiled'), 0)::bigint AS spoiled,
                coalesce(sum(CASE kind WHEN 'received' THEN quantity ELSE -quantity END), 0)::bigint AS on_hand
         FROM card_stock_movement",
    )
    .fetch_one(conn)
    .await
}

pub async fn level(pool: &PgPool) -> Result<StockLevel, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    level_in(&mut conn).await
}

/// Stock changes and counts one at a time, so a count sees a settled level.
async fn lock_stock(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(STOCK_LOCK_KEY)
        .execute(tx)
        .await?;
    Ok(())
}

async fn movement(
    pool: &PgPool,
    actor: &Actor,
    kind: &str,
    quantity: i32,
    note: &str,
) -> Result<StockLevel, StockError> {
    actor.authorize(Action::CardIssue)?;
    if quantity < 1 {
        return Err(StockError::BadQuantity);
    }
    let mut tx = pool.begin().await?;
    lock_stock(&mut tx).await?;
    let before = level_in(&mut tx).await?;
    if kind == "spoiled" && i64::from(quantity) > before.on_hand {
        return Err(StockError::NotOnHand {
            on_hand: before.on_hand,
            quantity,
        });
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO card_stock_movement (kind, quantity, note, operator_id, actor)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(quantity)
    .bind(note)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .fetch_one(&mut *tx)
    .await?;
    let after = level_in(&mut tx).await?;
    audit::append(
        &mut tx,
        actor,
        if kind == "received" {
            "stock.receive"
        } else {
            "stock.spoil"
        },
        "card_stock_movement",
        &id.to_string(),
        Some(json!({ "on_hand": before.on_hand })),
        Some(json!({ "kind": kind, "quantity": quantity, "note": note, "on_hand": after.on_hand })),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// A batch of blank cards received. Returns the level afterwards.
pub async fn receive(
    pool: &PgPool,
    actor: &Actor,
    quantity: i32,
    note: &str,
) -> Result<StockLevel, StockError> {
    movement(pool, actor, "received", quantity, note).await
}

/// Blank cards spoiled (misprinted, broken). Returns the level afterwards.
pub async fn spoil(
    pool: &PgPool,
    actor: &Actor,
    quantity: i32,
    note: &str,
) -> Result<StockLevel, StockError> {
    movement(pool, actor, "spoiled", quantity, note).await
}

/// One blank taken out for a card being issued, in the issuing transaction.
pub async fn take_blank(
    tx: &mut PgConnection,
    actor: &Actor,
    card_id: i64,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO card_stock_movement (kind, quantity, card_id, note, operator_id, actor)
         VALUES ('issued', 1, $1, $2, $3, $4)",
    )
    .bind(card_id)
    .bind(note)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .execute(tx)
    .await?;
    Ok(())
}

/// The weekly count: records the physical count against what the records say.
pub async fn count(
    pool: &PgPool,
    actor: &Actor,
    physical: i32,
    note: &str,
) -> Result<StockCount, StockError> {
    actor.authorize(Action::CardIssue)?;
    if physical < 0 {
        return Err(StockError::BadQuantity);
    }
    let mut tx = pool.begin().await?;
    lock_stock(&mut tx).await?;
    let level = level_in(&mut tx).await?;
    let recorded = i32::try_from(level.on_hand).unwrap_or(i32::MAX);
    let row: StockCount = sqlx::query_as(
        "INSERT INTO card_stock_count (physical, recorded, note, operator_id, actor)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, at, recorded, physical, physical - recorded AS difference, note, actor",
    )
    .bind(physical)
    .bind(recorded)
    .bind(note)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "stock.count",
        "card_stock_count",
        &row.id.to_string(),
        None,
        Some(json!({
            "recorded": row.recorded, "physical": row.physical,
            "difference": row.difference, "note": note,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Every count, newest first.
pub async fn counts(pool: &PgPool) -> Result<Vec<StockCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, recorded, physical, physical - recorded AS difference, note, actor
         FROM card_stock_count ORDER BY at DESC, id DESC",
    )
    .fetch_all(pool)
    .await
}

/// One fee collected at the desk.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeeRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// issue, reissue or exchange
    pub kind: String,
    pub card_no: i64,
    pub person_no: String,
    pub person_name: String,
    /// The card's kind (staff, student, temporary).
    pub card_kind: String,
    pub amount: Money,
    /// cash or balance
    pub paid_from: String,
    /// The collecting operator's display name (the actor name for the local shell).
    pub collected_by: String,
}

/// Fees collected between two dates (inclusive, in the database's time zone), oldest first.
pub async fn fees(
    pool: &PgPool,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<FeeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.id, f.at, f.kind, c.card_no, p.person_no, p.name AS person_name,
                c.kind AS card_kind, f.amount, f.paid_from,
                coalesce(o.display_name, f.actor) AS collected_by
         FROM fee f
         JOIN card c ON c.id = f.card_id
         JOIN person p ON p.id = c.person_id
         LEFT JOIN operator o ON o.id = f.collected_by
         WHERE ($1::date IS NULL OR f.at::date >= $1)
           AND ($2::date IS NULL OR f.at::date <= $2)
         ORDER BY f.at, f.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
