//! POS purchases in the books. Online, a POS asks for authorisation with the card, the amount
//! and its own transaction number; onecard decides in one transaction and posts the purchase
//! (cardholder to merchant) in it. The answer is kept, so a retried request gets the same one
//! and posts nothing twice.
//!
//! A purchase is traced to its terminal and transaction number, not audited: audit rows are for
//! operators' actions. It writes the cardholder's balance row (one per person, never hot) and
//! only an entry for the merchant, whose takings are summed from its entries at settlement.

use super::notify::Change;
use crate::domain::money::Money;
use crate::domain::time;
use chrono::NaiveDate;
use sqlx::{PgConnection, PgPool};

/// What the POS asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub terminal_id: i64,
    /// The POS's own transaction number.
    pub txn_no: i64,
    pub card: i64,
    pub amount: Money,
    /// The payment PIN the cardholder typed, if the POS asked for it.
    pub pin: Option<String>,
}

/// Why a purchase is declined: a reason the POS can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decline {
    InsufficientBalance,
    /// Lost, replaced, surrendered or cancelled: on the blacklist.
    Blacklisted,
    /// Above the per-purchase limit, and no payment PIN was typed.
    OverLimitNoPin,
    WrongPin,
    /// The card's purchases today reached its daily count limit.
    DailyCount,
    UnknownCard,
    /// Outside its validity (expired, or not yet valid).
    CardNotValid,
    /// The card may not pay (its subsystems leave out POS).
    NotForPos,
    /// The terminal belongs to no approved merchant: it sells nothing.
    NoMerchant,
}

crate::domain::named!(Decline, "authorisation decline", {
    InsufficientBalance => "insufficient_balance",
    Blacklisted => "blacklisted",
    OverLimitNoPin => "over_limit_no_pin",
    WrongPin => "wrong_pin",
    DailyCount => "daily_count",
    UnknownCard => "unknown_card",
    CardNotValid => "card_not_valid",
    NotForPos => "not_for_pos",
    NoMerchant => "no_merchant",
});

/// onecard's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAnswer {
    /// None: approved.
    pub declined: Option<Decline>,
    /// The balance the POS shows: after the purchase, or as it stands.
    pub balance: Money,
    /// The purchase's ledger movement, when approved.
    pub movement_id: Option<i64>,
}

/// The card as authorisation sees it.
#[derive(sqlx::FromRow)]
struct Payer {
    card_id: i64,
    person_id: i64,
    state: String,
    subsystems: Vec<String>,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    payment_pin_hash: String,
    per_purchase: Money,
    daily_count: i32,
}

/// Decides on a purchase and posts it, in one transaction; a request answered before gets the
/// same answer. Errors are the database's only: every refusal is an answer.
pub async fn authorise(pool: &PgPool, req: &AuthRequest) -> Result<AuthAnswer, sqlx::Error> {
    if let Some(a) = answered(pool, req).await? {
        return Ok(a);
    }
    let payer: Option<Payer> = sqlx::query_as(
        "SELECT c.id AS card_id, c.person_id, c.state, c.subsystems, c.valid_from, c.valid_until,
                c.payment_pin_hash,
                coalesce(c.per_purchase_limit, k.per_purchase_limit) AS per_purchase,
                coalesce(c.daily_count_limit, k.daily_count_limit) AS daily_count
         FROM card c JOIN card_kind k ON k.kind = c.kind WHERE c.card_no = $1",
    )
    .bind(req.card)
    .fetch_optional(pool)
    .await?;
    // The PIN is checked before anything is locked: hashing takes a while.
    let pin_ok = match (&payer, &req.pin) {
        (Some(p), Some(pin)) if req.amount > p.per_purchase => {
            Some(super::card::verify_hash(pin, &p.payment_pin_hash).await)
        }
        _ => None,
    };
    let mut tx = pool.begin().await?;
    // Two requests for one transaction at once: the second waits here, then finds the answer.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('pos_auth ' || $1 || ' ' || $2, 0))",
    )
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .execute(&mut *tx)
    .await?;
    if let Some(a) = answered(&mut *tx, req).await? {
        return Ok(a);
    }
    let answer = decide(&mut tx, req, payer, pin_ok).await?;
    sqlx::query(
        "INSERT INTO pos_authorisation (terminal_id, txn_no, card, amount, result, balance, movement_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .bind(req.card)
    .bind(req.amount)
    .bind(answer.declined.map_or("approved", Decline::name))
    .bind(answer.balance)
    .bind(answer.movement_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(answer)
}

/// The answer given before to this terminal's transaction, if any.
async fn answered<'e, E>(db: E, req: &AuthRequest) -> Result<Option<AuthAnswer>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(String, Money, Option<i64>)> = sqlx::query_as(
        "SELECT result, balance, movement_id FROM pos_authorisation
         WHERE terminal_id = $1 AND txn_no = $2",
    )
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(result, balance, movement_id)| AuthAnswer {
        declined: result.parse::<Decline>().ok(),
        balance,
        movement_id,
    }))
}

async fn decide(
    tx: &mut PgConnection,
    req: &AuthRequest,
    payer: Option<Payer>,
    pin_ok: Option<bool>,
) -> Result<AuthAnswer, sqlx::Error> {
    let declined = |why, balance| AuthAnswer {
        declined: Some(why),
        balance,
        movement_id: None,
    };
    let Some(p) = payer else {
        return Ok(declined(Decline::UnknownCard, Money::ZERO));
    };
    // The account is locked before the balance is read: two purchases on one card queue here.
    let account: Option<(i64, Money)> =
        sqlx::query_as("SELECT id, balance FROM account WHERE person_id = $1 FOR UPDATE")
            .bind(p.person_id)
            .fetch_optional(&mut *tx)
            .await?;
    let balance = account.map_or(Money::ZERO, |(_, b)| b);
    let merchant: Option<i64> = sqlx::query_scalar(
        "SELECT a.id FROM terminal t JOIN merchant m ON m.id = t.merchant_id AND m.state = 'approved'
         JOIN account a ON a.merchant_id = m.id WHERE t.id = $1",
    )
    .bind(req.terminal_id)
    .fetch_optional(&mut *tx)
    .await?;
    let today = time::today();
    let why = if merchant.is_none() {
        Some(Decline::NoMerchant)
    } else if p.state != "active" {
        Some(Decline::Blacklisted)
    } else if !p.subsystems.iter().any(|s| s == "pos") {
        Some(Decline::NotForPos)
    } else if today < p.valid_from || today > p.valid_until {
        Some(Decline::CardNotValid)
    } else if pin_ok == Some(false) {
        Some(Decline::WrongPin)
    } else if req.amount > p.per_purchase && pin_ok.is_none() {
        Some(Decline::OverLimitNoPin)
    } else if purchases_today(tx, p.card_id, today).await? >= i64::from(p.daily_count) {
        Some(Decline::DailyCount)
    } else if balance < req.amount {
        Some(Decline::InsufficientBalance)
    } else {
        None
    };
    let (Some(merchant), Some((account, _)), None) = (merchant, account, why) else {
        return Ok(declined(
            why.unwrap_or(Decline::InsufficientBalance),
            balance,
        ));
    };
    let movement_id = post_purchase(tx, req, p.card_id, account, merchant).await?;
    Change::cards(vec![p.card_id]).send(&mut *tx).await?;
    Ok(AuthAnswer {
        declined: None,
        balance: balance - req.amount,
        movement_id: Some(movement_id),
    })
}

/// Purchases posted for the card on the site's day `today`.
async fn purchases_today(
    tx: &mut PgConnection,
    card_id: i64,
    today: NaiveDate,
) -> Result<i64, sqlx::Error> {
    let (from, to) = time::day_bounds(today);
    sqlx::query_scalar(
        "SELECT count(*) FROM ledger_movement
         WHERE kind = 'purchase' AND card_id = $1 AND at >= $2 AND at < $3",
    )
    .bind(card_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await
}

/// The purchase's movement: the cardholder's entry and balance, the merchant's entry.
async fn post_purchase(
    tx: &mut PgConnection,
    req: &AuthRequest,
    card_id: i64,
    cardholder: i64,
    merchant: i64,
) -> Result<i64, sqlx::Error> {
    let movement_id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_movement (kind, card_id, actor, terminal_id, txn_no)
         VALUES ('purchase', $1, 'terminal:' || $2::text, $2, $3) RETURNING id",
    )
    .bind(card_id)
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ledger_entry (movement_id, account_id, amount)
         VALUES ($1, $2, $4), ($1, $3, -$4)",
    )
    .bind(movement_id)
    .bind(cardholder)
    .bind(merchant)
    .bind(req.amount)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE account SET balance = balance - $2 WHERE id = $1")
        .bind(cardholder)
        .bind(req.amount)
        .execute(&mut *tx)
        .await?;
    Ok(movement_id)
}
