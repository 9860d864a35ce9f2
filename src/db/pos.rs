//! POS purchases in the books. Online, a POS asks for authorisation with the card, the amount
//! and its own transaction number; onecard decides in one transaction and posts the purchase
//! (cardholder to merchant) in it. The answer is kept, so a retried request gets the same one
//! and posts nothing twice.
//!
//! A purchase is traced to its terminal and transaction number, not audited: audit rows are for
//! operators' actions. Online, it writes the cardholder's balance row (one per person, never
//! hot); an uploaded batch leaves its payers' rows to [`fold`]. The merchant gets only an entry:
//! its takings are summed from its entries at settlement.

mod fold;

use super::copy::{copy_in, Binary};
use super::notify::Change;
use crate::domain::money::Money;
use crate::domain::time;
use chrono::NaiveDate;
pub use fold::{fold, fold_all, Folded, AT_MOST as FOLD_AT_MOST};
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
    overdrawn: bool,
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
    let epoch = txn_epoch(pool, req.terminal_id).await?;
    if let Some(a) = answered(pool, req, epoch).await? {
        return Ok(a);
    }
    let payer: Option<Payer> = sqlx::query_as(
        "SELECT c.id AS card_id, c.person_id, c.state, c.overdrawn, c.subsystems, c.valid_from, c.valid_until,
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
    if let Some(a) = answered(&mut *tx, req, epoch).await? {
        return Ok(a);
    }
    let answer = decide(&mut tx, req, epoch, payer, pin_ok).await?;
    sqlx::query(
        "INSERT INTO pos_authorisation (terminal_id, txn_epoch, txn_no, card, amount, result, balance, movement_id)
         VALUES ($1, $8, $2, $3, $4, $5, $6, $7)",
    )
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .bind(req.card)
    .bind(req.amount)
    .bind(answer.declined.map_or("approved", Decline::name))
    .bind(answer.balance)
    .bind(answer.movement_id)
    .bind(epoch)
    .execute(&mut *tx)
    .await?;
    // A number an upload found missing turns up here when its answer was slow.
    sqlx::query(
        "UPDATE pos_txn_missing SET found_at = now()
         WHERE terminal_id = $1 AND txn_epoch = $2 AND txn_no = $3 AND found_at IS NULL",
    )
    .bind(req.terminal_id)
    .bind(epoch)
    .bind(req.txn_no)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(answer)
}

/// The terminal's numbering epoch: its record_base, which moves whenever onecard notices that
/// it numbers anew (reset, swapped), so a transaction number used again is a new transaction.
pub(crate) async fn txn_epoch<'e, E>(db: E, terminal_id: i64) -> Result<i64, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let epoch: Option<i64> = sqlx::query_scalar("SELECT record_base FROM terminal WHERE id = $1")
        .bind(terminal_id)
        .fetch_optional(db)
        .await?;
    Ok(epoch.unwrap_or(0))
}

/// The answer given before to this terminal's transaction, if any. A number answered before
/// for another card or amount was used again by a terminal whose restart onecard has not
/// noticed yet: it is declined as not in service, and nothing is posted.
async fn answered<'e, E>(
    db: E,
    req: &AuthRequest,
    epoch: i64,
) -> Result<Option<AuthAnswer>, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(String, Money, Option<i64>, i64, Money)> = sqlx::query_as(
        "SELECT result, balance, movement_id, card, amount FROM pos_authorisation
         WHERE terminal_id = $1 AND txn_epoch = $3 AND txn_no = $2",
    )
    .bind(req.terminal_id)
    .bind(req.txn_no)
    .bind(epoch)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(result, balance, movement_id, card, amount)| {
        if (card, amount) != (req.card, req.amount) {
            tracing::warn!(
                terminal = req.terminal_id,
                txn = req.txn_no,
                "a transaction number used again for another purchase: declined"
            );
            return AuthAnswer {
                declined: Some(Decline::NoMerchant),
                balance: Money::ZERO,
                movement_id: None,
            };
        }
        AuthAnswer {
            declined: result.parse::<Decline>().ok(),
            balance,
            movement_id,
        }
    }))
}

async fn decide(
    tx: &mut PgConnection,
    req: &AuthRequest,
    epoch: i64,
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
    let account: Option<i64> =
        sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1 FOR UPDATE")
            .bind(p.person_id)
            .fetch_optional(&mut *tx)
            .await?;
    // Uploaded batches not folded yet count: the entries are the truth.
    let account: Option<(i64, Money)> = match account {
        Some(id) => Some((id, super::ledger::balance_of(&mut *tx, id).await?)),
        None => None,
    };
    let balance = account.map_or(Money::ZERO, |(_, b)| b);
    let merchant: Option<i64> = sqlx::query_scalar(
        "SELECT a.id FROM terminal t JOIN merchant m ON m.id = t.merchant_id AND m.state = 'approved'
         JOIN account a ON a.merchant_id = m.id WHERE t.id = $1",
    )
    .bind(req.terminal_id)
    .fetch_optional(&mut *tx)
    .await?;
    // Sold already: the upload of the POS's offline fallback came first. The number posted
    // for another purchase: used again by a terminal whose restart onecard has not noticed.
    if let Some((movement_id, card, amount)) =
        posted(tx, req.terminal_id, epoch, req.txn_no).await?
    {
        return Ok(if (card, amount) == (Some(req.card), req.amount) {
            AuthAnswer {
                declined: None,
                balance,
                movement_id: Some(movement_id),
            }
        } else {
            declined(Decline::NoMerchant, Money::ZERO)
        });
    }
    let today = time::today();
    let why = if merchant.is_none() {
        Some(Decline::NoMerchant)
    } else if p.state != "active" || p.overdrawn {
        Some(Decline::Blacklisted)
    } else if !p.subsystems.iter().any(|s| s == "pos") {
        Some(Decline::NotForPos)
    } else if today < p.valid_from || today > p.valid_until {
        Some(Decline::CardNotValid)
    } else if pin_ok == Some(false) {
        Some(Decline::WrongPin)
    } else if req.amount > p.per_purchase && pin_ok.is_none() {
        Some(Decline::OverLimitNoPin)
    } else if purchases_today(tx, p.card_id, account.map(|a| a.0), today).await?
        >= i64::from(p.daily_count)
    {
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
    let movement_id = post_purchase(tx, req, epoch, p.card_id, account, merchant).await?;
    Change::cards(vec![p.card_id]).send(&mut *tx).await?;
    Ok(AuthAnswer {
        declined: None,
        balance: balance - req.amount,
        movement_id: Some(movement_id),
    })
}

/// Purchases posted for the card on the site's day `today`: its traced entries on the
/// holder's account (the account's index finds them; the day is its movements').
async fn purchases_today(
    tx: &mut PgConnection,
    card_id: i64,
    account: Option<i64>,
    today: NaiveDate,
) -> Result<i64, sqlx::Error> {
    let (from, to) = time::day_bounds(today);
    sqlx::query_scalar(
        "SELECT count(*) FROM ledger_entry e JOIN ledger_movement m ON m.id = e.movement_id
         WHERE e.account_id = $4 AND e.card_id = $1 AND e.txn_no IS NOT NULL
           AND m.at >= $2 AND m.at < $3",
    )
    .bind(card_id)
    .bind(from)
    .bind(to)
    .bind(account)
    .fetch_one(&mut *tx)
    .await
}

/// The movement that posted this transaction of the terminal already, if one did, with its
/// card and amount (an upload of the POS's offline fallback can come before the request is
/// read; a number posted for another purchase was used again).
async fn posted(
    tx: &mut PgConnection,
    terminal_id: i64,
    epoch: i64,
    txn_no: i64,
) -> Result<Option<(i64, Option<i64>, Money)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.movement_id, c.card_no, e.amount FROM ledger_entry e
         LEFT JOIN card c ON c.id = e.card_id
         WHERE e.terminal_id = $1 AND e.txn_epoch = $2 AND e.txn_no = $3",
    )
    .bind(terminal_id)
    .bind(epoch)
    .bind(txn_no)
    .fetch_optional(&mut *tx)
    .await
}

/// The purchase's movement: the cardholder's entry (traced to the transaction) and balance,
/// the merchant's entry.
async fn post_purchase(
    tx: &mut PgConnection,
    req: &AuthRequest,
    epoch: i64,
    card_id: i64,
    cardholder: i64,
    merchant: i64,
) -> Result<i64, sqlx::Error> {
    let movement_id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_movement (kind, card_id, actor, terminal_id, txn_epoch, purchase_count)
         VALUES ('purchase', $1, 'terminal:' || $2::text, $2, $3, 1) RETURNING id",
    )
    .bind(card_id)
    .bind(req.terminal_id)
    .bind(epoch)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ledger_entry (movement_id, account_id, amount, card_id, terminal_id, txn_epoch, txn_no)
         VALUES ($1, $2, $4, $5, $6, $7, $8), ($1, $3, -$4, NULL, NULL, NULL, NULL)",
    )
    .bind(movement_id)
    .bind(cardholder)
    .bind(merchant)
    .bind(req.amount)
    .bind(card_id)
    .bind(req.terminal_id)
    .bind(epoch)
    .bind(req.txn_no)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE account SET balance = balance - $2 WHERE id = $1")
        .bind(cardholder)
        .bind(req.amount)
        .execute(&mut *tx)
        .await?;
    Ok(movement_id)
}

/// A purchase a POS uploaded (its record), to be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub card: i64,
    pub amount: Money,
    pub txn_no: i64,
}

/// Posts the purchases a POS uploaded, in the caller's transaction (the one that stores the
/// records): each transaction number once per terminal, so a purchase authorised online (or
/// uploaded before) is matched and not posted again. The batch is one movement whatever its
/// size: one entry per purchase on its payer, traced to the transaction, and one for the
/// merchant (its row is never locked: its takings are summed at settlement). The payers'
/// balance rows are not written: the movement is pending until [`fold`] adds it to them.
///
/// The merchant is the terminal's; a terminal of no merchant posts nothing (its records stay
/// and reconciliation says so). A card onecard does not know is owed by the suspense account.
/// A purchase the balance does not cover is booked anyway: the fold that takes the account
/// below zero blacklists its card and raises the `account_overdrawn` alarm.
/// `epoch` is the terminal's numbering the records were stored in ([`txn_epoch`], read once
/// per batch by the caller). Returns the alarms raised (transaction-number gaps).
pub async fn post_uploaded(
    tx: &mut PgConnection,
    terminal_id: i64,
    epoch: i64,
    rows: &[Uploaded],
) -> Result<Vec<i64>, sqlx::Error> {
    post_batch(tx, terminal_id, epoch, rows, None).await
}

/// [`post_uploaded`] in numbering `epoch`, or with `booked_at` a batch of the past, booked when
/// its purchases were made (the demo's settled month, in a numbering of its own so the
/// terminal's live numbers are not taken for it): no gap is noted in the past.
pub async fn post_batch(
    tx: &mut PgConnection,
    terminal_id: i64,
    epoch: i64,
    rows: &[Uploaded],
    booked_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<i64>, sqlx::Error> {
    let merchant: Option<i64> = sqlx::query_scalar(
        "SELECT a.id FROM terminal t JOIN account a ON a.merchant_id = t.merchant_id WHERE t.id = $1",
    )
    .bind(terminal_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(merchant) = merchant else {
        return Ok(Vec::new());
    };
    // Nothing to post for a zero or negative amount (a garbled or hostile record): the record
    // stays, and reconciliation shows it.
    let rows: Vec<&Uploaded> = rows.iter().filter(|r| r.amount.is_positive()).collect();
    let cards: Vec<i64> = rows.iter().map(|r| r.card).collect();
    let amounts: Vec<Money> = rows.iter().map(|r| r.amount).collect();
    let txns: Vec<i64> = rows.iter().map(|r| r.txn_no).collect();
    // (card_id, payer account, amount, txn_no) of each purchase not posted before; a payer
    // whose holder has no account yet (None) gets one, and the batch is read again.
    let fresh = loop {
        let fresh: Vec<(Option<i64>, Option<i64>, Money, i64)> = sqlx::query_as(
            "SELECT DISTINCT ON (u.txn_no) p.card_id,
                    CASE WHEN p.card_id IS NULL THEN (SELECT id FROM account WHERE kind = 'suspense')
                         ELSE p.account_id END,
                    u.amount, u.txn_no
             FROM unnest($2::bigint[], $3::numeric[], $4::bigint[]) AS u (card, amount, txn_no)
             LEFT JOIN LATERAL (SELECT c.id AS card_id, a.id AS account_id FROM card c
                                LEFT JOIN account a ON a.person_id = c.person_id
                                WHERE c.card_no = u.card OFFSET 0) p ON true
             WHERE NOT EXISTS (SELECT 1 FROM ledger_entry e
                               WHERE e.terminal_id = $1 AND e.txn_epoch = $5 AND e.txn_no = u.txn_no
                                 AND e.txn_no BETWEEN $6 AND $7)
             ORDER BY u.txn_no",
        )
        .bind(terminal_id)
        .bind(&cards)
        .bind(&amounts)
        .bind(&txns)
        .bind(epoch)
        .bind(txns.iter().min().copied().unwrap_or(0))
        .bind(txns.iter().max().copied().unwrap_or(0))
        .fetch_all(&mut *tx)
        .await?;
        let without: Vec<i64> = fresh
            .iter()
            .filter(|p| p.1.is_none())
            .filter_map(|p| p.0)
            .collect();
        if without.is_empty() {
            break fresh
                .into_iter()
                .filter_map(|(c, a, x, t)| Some((c, a?, x, t)))
                .collect::<Vec<(Option<i64>, i64, Money, i64)>>();
        }
        sqlx::query(
            "INSERT INTO account (kind, person_id, name)
             SELECT DISTINCT 'cardholder', p.id, p.name FROM card c JOIN person p ON p.id = c.person_id
             WHERE c.id = ANY($1) ORDER BY p.id
             ON CONFLICT (person_id) DO NOTHING",
        )
        .bind(&without)
        .execute(&mut *tx)
        .await?;
    };
    let alarms = match booked_at {
        Some(_) => Vec::new(),
        None => note_txn_gaps(tx, terminal_id, epoch, &txns).await?,
    };
    if fresh.is_empty() {
        return Ok(alarms);
    }
    // The batch: one movement, one entry per purchase, one for the merchant. The payers'
    // balance rows are not written here: the movement is pending until `fold` adds it to them,
    // so batches on the same cardholders never wait for each other.
    let movement_id: i64 = sqlx::query_scalar(
        "WITH mv AS (
             INSERT INTO ledger_movement (kind, actor, terminal_id, txn_epoch, purchase_count, at)
             VALUES ('purchase', 'terminal:' || $1::text, $1, $2, $3, coalesce($4, now()))
             RETURNING id
         ), pending AS (
             INSERT INTO balance_pending (movement_id) SELECT id FROM mv
         )
         SELECT id FROM mv",
    )
    .bind(terminal_id)
    .bind(epoch)
    .bind(i32::try_from(fresh.len()).unwrap_or(i32::MAX))
    .bind(booked_at)
    .fetch_one(&mut *tx)
    .await?;
    // The entries in one COPY: the database checks the movement once, at its end.
    let mut entries = Binary::new(fresh.len() + 1, 80);
    let mut takings = Money::ZERO;
    for (card_id, payer, amount, txn_no) in &fresh {
        takings += *amount;
        entries
            .row(7)
            .i64(movement_id)
            .i64(*payer)
            .numeric(amount.as_decimal())
            .opt_i64(*card_id)
            .i64(terminal_id)
            .i64(epoch)
            .i64(*txn_no);
    }
    entries
        .row(7)
        .i64(movement_id)
        .i64(merchant)
        .numeric((-takings).as_decimal())
        .null()
        .null()
        .null()
        .null();
    copy_in(
        tx,
        "ledger_entry",
        "movement_id, account_id, amount, card_id, terminal_id, txn_epoch, txn_no",
        entries,
    )
    .await?;
    let card_ids: Vec<Option<i64>> = fresh.iter().map(|p| p.0).collect();
    let cards_posted: Vec<i64> = card_ids.iter().flatten().copied().collect();
    Change::cards(cards_posted).send(&mut *tx).await?;
    Ok(alarms)
}

/// Numbers past the batch's lowest that no purchase and no authorisation of this terminal used:
/// listed as missing (at most [`GAP_LISTED`] per batch), one `txn_gap` alarm per batch that
/// finds new ones. A number that turns up later is marked found.
async fn note_txn_gaps(
    tx: &mut PgConnection,
    terminal_id: i64,
    epoch: i64,
    txns: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let (Some(&lo), Some(&hi)) = (txns.iter().min(), txns.iter().max()) else {
        return Ok(Vec::new());
    };
    sqlx::query(
        "UPDATE pos_txn_missing SET found_at = now()
         WHERE terminal_id = $1 AND txn_epoch = $2 AND txn_no BETWEEN $4 AND $5
           AND txn_no = ANY($3) AND found_at IS NULL",
    )
    .bind(terminal_id)
    .bind(epoch)
    .bind(txns)
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await?;
    // From just past the highest number known before this batch (or the batch's lowest). Most
    // batches follow the last one: one look-up of the number before says so.
    let follows: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ledger_entry
                        WHERE terminal_id = $1 AND txn_epoch = $2 AND txn_no = $3 - 1)",
    )
    .bind(terminal_id)
    .bind(epoch)
    .bind(lo)
    .fetch_one(&mut *tx)
    .await?;
    let before: Option<i64> = if follows {
        Some(lo - 1)
    } else {
        sqlx::query_scalar(
            "SELECT greatest(
             (SELECT max(txn_no) FROM ledger_entry
              WHERE terminal_id = $1 AND txn_epoch = $2 AND txn_no < $3),
             (SELECT max(txn_no) FROM pos_authorisation
              WHERE terminal_id = $1 AND txn_epoch = $2 AND txn_no < $3))",
        )
        .bind(terminal_id)
        .bind(epoch)
        .bind(lo)
        .fetch_one(&mut *tx)
        .await?
    };
    let from = before.map_or(lo, |b| b + 1);
    // The usual batch numbers every transaction from `from` on: nothing can be missing.
    let covered: std::collections::BTreeSet<i64> =
        txns.iter().copied().filter(|t| *t >= from).collect();
    if i64::try_from(covered.len()).is_ok_and(|n| n == hi - from + 1) {
        return Ok(Vec::new());
    }
    let missing: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO pos_txn_missing (terminal_id, txn_epoch, txn_no)
         SELECT $1, $2, n FROM generate_series($3::bigint, $4::bigint) AS n
         WHERE n NOT IN (SELECT unnest($5::bigint[]))
           AND NOT EXISTS (SELECT 1 FROM pos_authorisation a
                           WHERE a.terminal_id = $1 AND a.txn_epoch = $2 AND a.txn_no = n)
           AND NOT EXISTS (SELECT 1 FROM ledger_entry e
                           WHERE e.terminal_id = $1 AND e.txn_epoch = $2 AND e.txn_no = n)
         LIMIT $6
         ON CONFLICT DO NOTHING RETURNING txn_no",
    )
    .bind(terminal_id)
    .bind(epoch)
    .bind(from)
    .bind(hi)
    .bind(txns)
    .bind(GAP_LISTED)
    .fetch_all(&mut *tx)
    .await?;
    let (Some(&first), Some(&last)) = (missing.first(), missing.last()) else {
        return Ok(Vec::new());
    };
    tracing::warn!(
        terminal = terminal_id,
        first,
        last,
        "transaction numbers missing"
    );
    let a = super::alarm::NewAlarm {
        kind: crate::domain::alarm::AlarmKind::TxnGap,
        terminal_id: Some(terminal_id),
        door: None,
        card: None,
        detail: super::ingest::AlarmDetail::TxnGap {
            first,
            last,
            missing: i64::try_from(missing.len()).unwrap_or(i64::MAX),
        }
        .to_json(),
        late: false,
    };
    Ok(super::alarm::raise(&mut *tx, &a)
        .await?
        .into_iter()
        .collect())
}

/// Missing transaction numbers listed from one batch: a POS whose counter jumps by millions
/// must not fill the table.
const GAP_LISTED: i64 = 1_000;

/// The transaction numbers a terminal skipped that have not turned up: (epoch, number, noticed).
pub async fn missing_txns(
    pool: &PgPool,
    terminal_id: i64,
) -> Result<Vec<(i64, i64, chrono::DateTime<chrono::Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT txn_epoch, txn_no, noticed_at FROM pos_txn_missing
         WHERE terminal_id = $1 AND found_at IS NULL AND chase IS DISTINCT FROM 'void'
         ORDER BY txn_epoch, txn_no",
    )
    .bind(terminal_id)
    .fetch_all(pool)
    .await
}

/// The missing numbers of the terminal's current numbering not chased yet, lowest first (at
/// most `limit`): only the POS's journal can say what became of them.
pub async fn to_chase(
    pool: &PgPool,
    terminal_id: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT txn_no FROM pos_txn_missing
         WHERE terminal_id = $1 AND txn_epoch = (SELECT record_base FROM terminal WHERE id = $1)
           AND found_at IS NULL AND chased_at IS NULL
         ORDER BY txn_no LIMIT $2",
    )
    .bind(terminal_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What the POS's journal said of a missing number: `sold` (its record was stored and posted),
/// `void` or `unknown`.
pub async fn chased(
    pool: &PgPool,
    terminal_id: i64,
    txn_no: i64,
    said: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pos_txn_missing SET chased_at = now(), chase = $3
         WHERE terminal_id = $1 AND txn_epoch = (SELECT record_base FROM terminal WHERE id = $1)
           AND txn_no = $2 AND chased_at IS NULL",
    )
    .bind(terminal_id)
    .bind(txn_no)
    .bind(said)
    .execute(pool)
    .await?;
    Ok(())
}

/// The setting that bounds what one card spends offline on one day at any POS.
pub const OFFLINE_DAILY_KEY: &str = "pos.offline_daily_limit";
/// Its default: ¥50.00.
pub const OFFLINE_DAILY_DEFAULT: i64 = 5_000;

/// What every POS is told to hold offline, where it cannot ask: no purchase above the lowest
/// per-purchase limit of any card kind (above it the payment PIN is needed, and only the host
/// can check it), and at most the offline daily limit per card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineRules {
    pub pin_above: Money,
    pub daily: Money,
}

pub async fn offline_rules(pool: &PgPool) -> Result<OfflineRules, sqlx::Error> {
    let pin_above: Option<Money> =
        sqlx::query_scalar("SELECT min(per_purchase_limit) FROM card_kind")
            .fetch_one(pool)
            .await?;
    let daily = super::settings::get(pool, OFFLINE_DAILY_KEY)
        .await?
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.parse::<Money>().ok(),
            serde_json::Value::Number(n) => n.to_string().parse::<Money>().ok(),
            _ => None,
        })
        .filter(|m| m.is_positive())
        .unwrap_or(Money::from_fen(OFFLINE_DAILY_DEFAULT));
    Ok(OfflineRules {
        pin_above: pin_above.unwrap_or(Money::ZERO),
        daily,
    })
}
