//! The accounts' double-entry ledger: every movement of money is a `ledger_movement` whose
//! `ledger_entry` rows sum to zero, posted in the caller's transaction with its audit row.
//!
//! Convention (see the migration): entries are signed, debit positive. Every account's
//! `balance` column is minus the sum of its entries ("cardholder view"): a cardholder's balance
//! is what the centre owes that person. So a top-up of 100 is cash +100 (the desk's drawer
//! receives it), cardholder -100 (the person's balance rises by 100).
//!
//! The database keeps the books too (migration `books`): a movement with no entries, or whose
//! entries do not sum to zero, fails at commit; entries and movements are never updated,
//! deleted or truncated; and an account with `floor_zero` never goes below zero, each in its
//! own direction (`asset`: the cash drawer's cash is minus its balance).
//!
//! Accounts are locked in id order (`lock_accounts`), so two movements never deadlock on them;
//! the audit row is appended after the account rows are written.

use super::audit;
use super::notify::Change;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

/// `ledger_movement.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovementKind {
    TopUp,
    Fee,
    Refund,
    Forfeit,
    Correction,
}

crate::domain::named!(MovementKind, "ledger movement kind", {
    TopUp => "top_up",
    Fee => "fee",
    Refund => "refund",
    Forfeit => "forfeit",
    Correction => "correction",
});

/// The centre's own accounts (one row each, created by the migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemAccount {
    /// The first card desk's cash drawer (each other desk has a `drawer` of its own).
    Cash,
    FeeIncome,
    /// Balances kept when a card is returned or cancelled (the college's rule).
    ForfeitedBalance,
    /// Bank transfers received for top-ups, until the bank clears them.
    BankClearing,
    /// What subsidies (补贴) are paid from.
    SubsidyFunding,
}

impl SystemAccount {
    pub fn name(self) -> &'static str {
        match self {
            SystemAccount::Cash => "cash",
            SystemAccount::FeeIncome => "fee_income",
            SystemAccount::ForfeitedBalance => "forfeited_balance",
            SystemAccount::BankClearing => "bank_clearing",
            SystemAccount::SubsidyFunding => "subsidy_funding",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("a ledger movement needs at least two entries")]
    Empty,
    #[error("the entries of a ledger movement must sum to zero, these sum to {sum}")]
    Unbalanced { sum: Money },
    #[error("an amount must be more than zero and below ¥1,000,000,000,000: {0} is not")]
    BadAmount(Money),
    #[error("no account {0}")]
    NoAccount(i64),
    #[error("no person with id {0}")]
    NoPerson(i64),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// An amount the ledger accepts: positive and within numeric(14,2) (`Money` is whole fen).
pub fn check_amount(amount: Money) -> Result<(), LedgerError> {
    if !amount.is_positive() || !amount.fits_column() {
        return Err(LedgerError::BadAmount(amount));
    }
    Ok(())
}

/// The id of one of the centre's accounts.
pub async fn system_account(
    tx: &mut PgConnection,
    kind: SystemAccount,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM account WHERE kind = $1")
        .bind(kind.name())
        .fetch_one(tx)
        .await
}

/// The person's account, created at first use (the first issue or top-up).
pub async fn cardholder_account(tx: &mut PgConnection, person_id: i64) -> Result<i64, LedgerError> {
    if let Some(id) = sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1")
        .bind(person_id)
        .fetch_optional(&mut *tx)
        .await?
    {
        return Ok(id);
    }
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM person WHERE id = $1")
        .bind(person_id)
        .fetch_optional(&mut *tx)
        .await?;
    let name = name.ok_or(LedgerError::NoPerson(person_id))?;
    // Two desks creating the same person's account at once: one inserts, the other waits for it
    // and then finds it.
    sqlx::query(
        "INSERT INTO account (kind, person_id, name) VALUES ('cardholder', $1, $2)
         ON CONFLICT (person_id) DO NOTHING",
    )
    .bind(person_id)
    .bind(&name)
    .execute(&mut *tx)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1")
            .bind(person_id)
            .fetch_one(&mut *tx)
            .await?,
    )
}

/// Locks the accounts (in id order, the one order every movement uses) until the end of the
/// transaction and returns their balances. Call it before deciding on a balance (a fee paid
/// from the balance, a purchase), then `post`.
pub async fn lock_accounts(
    tx: &mut PgConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Money>, LedgerError> {
    lock_in_order(tx, ids).await?;
    // Read after the lock, with the uploaded batches not folded yet (`pos::fold`).
    let rows: Vec<(i64, Money)> =
        sqlx::query_as("SELECT id, account_balance(id) FROM account WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
    let found: BTreeMap<i64, Money> = rows.into_iter().collect();
    if let Some(missing) = ids.iter().find(|id| !found.contains_key(id)) {
        return Err(LedgerError::NoAccount(*missing));
    }
    Ok(found)
}

/// Locks the accounts until the end of the transaction, in id order: the one order every
/// writer of balance rows takes them in, so two never deadlock.
pub async fn lock_in_order(tx: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT id FROM account WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Posts one movement in the caller's transaction: refuses an empty or unbalanced one before the
/// database would, writes the entries, keeps every touched `account.balance` in step and appends
/// the audit row (`ledger.<kind>`). Entries on the same account are added up.
pub async fn post(
    tx: &mut PgConnection,
    actor: &Actor,
    kind: MovementKind,
    card_id: Option<i64>,
    note: &str,
    entries: &[(i64, Money)],
) -> Result<i64, LedgerError> {
    let mut per_account: BTreeMap<i64, Money> = BTreeMap::new();
    for &(account, amount) in entries {
        if amount.is_zero() || !amount.fits_column() {
            return Err(LedgerError::BadAmount(amount));
        }
        *per_account.entry(account).or_default() += amount;
    }
    per_account.retain(|_, sum| !sum.is_zero());
    if per_account.len() < 2 {
        return Err(if entries.is_empty() || per_account.is_empty() {
            LedgerError::Empty
        } else {
            LedgerError::Unbalanced {
                sum: per_account.values().sum(),
            }
        });
    }
    let sum: Money = per_account.values().sum();
    if !sum.is_zero() {
        return Err(LedgerError::Unbalanced { sum });
    }
    let ids: Vec<i64> = per_account.keys().copied().collect();
    lock_accounts(tx, &ids).await?;
    let movement_id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_movement (kind, card_id, note, operator_id, actor)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind.name())
    .bind(card_id)
    .bind(note)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .fetch_one(&mut *tx)
    .await?;
    let amounts: Vec<Money> = per_account.values().copied().collect();
    sqlx::query(
        "INSERT INTO ledger_entry (movement_id, account_id, amount)
         SELECT $1, a, m FROM unnest($2::bigint[], $3::numeric[]) AS e (a, m)",
    )
    .bind(movement_id)
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *tx)
    .await?;
    // In id order, like the lock above.
    // A merchant's balance is never cached (its takings are summed from its entries at
    // settlement), so a correction against a merchant writes only its entry.
    for (account, amount) in &per_account {
        sqlx::query(
            "UPDATE account SET balance = balance - $2 WHERE id = $1 AND kind <> 'merchant'",
        )
        .bind(account)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    }
    restore_overdrawn(tx, actor, &ids).await?;
    let after = json!({
        "kind": kind.name(),
        "card_id": card_id,
        "note": note,
        "entries": per_account
            .iter()
            .map(|(a, m)| json!({ "account_id": a, "amount": m }))
            .collect::<Vec<_>>(),
    });
    audit::append(
        tx,
        actor,
        &format!("ledger.{}", kind.name()),
        "ledger_movement",
        &movement_id.to_string(),
        None,
        Some(after),
    )
    .await?;
    Ok(movement_id)
}

/// An overdrawn account (an offline purchase took it below zero) that this movement brought
/// back to zero or more is floored again, and its cards come off the POS blacklist. Runs
/// before the audit row: the card sync's lock comes before the audit chain's everywhere.
async fn restore_overdrawn(
    tx: &mut PgConnection,
    actor: &Actor,
    accounts: &[i64],
) -> Result<(), sqlx::Error> {
    let cards: Vec<i64> = sqlx::query_scalar(
        "WITH back AS (
             UPDATE account SET floor_zero = true
             WHERE id = ANY($1) AND kind = 'cardholder' AND NOT floor_zero
               AND account_balance(id) >= 0
             RETURNING person_id
         )
         UPDATE card SET overdrawn = false, updated_at = now()
         WHERE overdrawn AND person_id IN (SELECT person_id FROM back) RETURNING id",
    )
    .bind(accounts)
    .fetch_all(&mut *tx)
    .await?;
    let mut change = Change::cards(cards.clone());
    for card in cards {
        change.merge(super::propagation::sync_card(tx, actor, card).await?.change);
    }
    if !change.is_empty() {
        change.send(&mut *tx).await?;
    }
    Ok(())
}

/// What a top-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUp {
    pub movement_id: i64,
    /// The person's balance afterwards.
    pub balance: Money,
}

/// 圈存 at the first desk: cash received, the person's balance raised. Other desks and
/// channels: `desk::top_up`.
pub async fn top_up(
    pool: &PgPool,
    actor: &Actor,
    person_id: i64,
    amount: Money,
    note: &str,
) -> Result<TopUp, LedgerError> {
    actor.authorize(Action::AccountTopUp)?;
    check_amount(amount)?;
    let mut tx = pool.begin().await?;
    let desk = super::desk::first_desk(&mut tx).await?;
    let t = credit_cardholder(
        &mut tx,
        actor,
        MovementKind::TopUp,
        person_id,
        desk.drawer_account_id,
        amount,
        note,
    )
    .await?;
    super::desk::record(&mut tx, t.movement_id, &super::desk::Detail::cash(desk.id)).await?;
    tx.commit().await?;
    Ok(t)
}

/// Moves `amount` from the centre's account `from` to the person's, in the caller's
/// transaction, and tells the consoles (the card in service, if any, is named on the movement).
pub async fn credit_cardholder(
    tx: &mut PgConnection,
    actor: &Actor,
    kind: MovementKind,
    person_id: i64,
    from: i64,
    amount: Money,
    note: &str,
) -> Result<TopUp, LedgerError> {
    let account = cardholder_account(&mut *tx, person_id).await?;
    let card_id = card_in_service(&mut *tx, person_id).await?;
    let movement_id = post(
        &mut *tx,
        actor,
        kind,
        card_id,
        note,
        &[(from, amount), (account, -amount)],
    )
    .await?;
    let balance = balance_of(&mut *tx, account).await?;
    Change::cards(card_id.into_iter().collect())
        .send(&mut *tx)
        .await?;
    Ok(TopUp {
        movement_id,
        balance,
    })
}

/// The person's card in service (active or lost), which a movement of theirs is noted on.
pub async fn card_in_service(
    tx: &mut PgConnection,
    person_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM card WHERE person_id = $1 AND state IN ('active', 'lost')")
        .bind(person_id)
        .fetch_optional(&mut *tx)
        .await
}

/// An account's balance as its entries say: the cached one less the entries of uploaded
/// batches not folded yet (`pos::fold`).
pub async fn balance_of(tx: &mut PgConnection, account: i64) -> Result<Money, sqlx::Error> {
    let b: Option<Money> = sqlx::query_scalar("SELECT account_balance($1)")
        .bind(account)
        .fetch_one(&mut *tx)
        .await?;
    Ok(b.unwrap_or_default())
}

/// The person's balance (0 before their account exists).
pub async fn balance(pool: &PgPool, person_id: i64) -> Result<Money, sqlx::Error> {
    let b: Option<Money> =
        sqlx::query_scalar("SELECT account_balance(id) FROM account WHERE person_id = $1")
            .bind(person_id)
            .fetch_optional(pool)
            .await?;
    Ok(b.unwrap_or_default())
}

/// The sum of every entry ever posted: zero when the books balance.
pub async fn trial_balance(db: impl sqlx::PgExecutor<'_>) -> Result<Money, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(sum(amount), 0) FROM ledger_entry")
        .fetch_one(db)
        .await
}

/// An account whose kept balance disagrees with its entries.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Mismatch {
    pub account_id: i64,
    pub name: String,
    /// What the account shows: `account.balance` less its pending entries.
    pub balance: Money,
    /// Minus the sum of the account's entries: what the balance should be.
    pub from_entries: Money,
}

/// Every account whose `balance` is not minus the sum of its entries (empty when all agree).
pub async fn mismatches(db: impl sqlx::PgExecutor<'_>) -> Result<Vec<Mismatch>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id AS account_id, a.name, a.balance - coalesce(p.amount, 0) AS balance,
                -coalesce(e.total, 0) AS from_entries
         FROM account a
         LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_entry GROUP BY account_id) e
                ON e.account_id = a.id
         LEFT JOIN account_pending p ON p.account_id = a.id
         WHERE a.balance - coalesce(p.amount, 0) <> -coalesce(e.total, 0)
           -- a merchant's takings are summed from its entries, never cached (no hot row)
           AND a.kind <> 'merchant'
         ORDER BY a.id",
    )
    .fetch_all(db)
    .await
}

/// What `verify` found: the books' size, and the first thing that is wrong, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub movements: i64,
    pub entries: i64,
    pub accounts: i64,
    /// The sum of every entry: zero when the books balance.
    pub trial_balance: Money,
    /// The first movement (by id) with no entries or entries that do not sum to zero, and
    /// what they sum to. The database refuses both since 20261207000001_books; older rows are
    /// checked all the same.
    pub first_bad_movement: Option<(i64, Money)>,
    /// Every account whose cached balance disagrees with its entries, the first first.
    pub mismatches: Vec<Mismatch>,
}

impl Verified {
    pub fn is_ok(&self) -> bool {
        self.trial_balance.is_zero()
            && self.first_bad_movement.is_none()
            && self.mismatches.is_empty()
    }
}

/// `onecard ledger verify`: all entries sum to zero, so do each movement's, and every cached
/// `account.balance` is minus the sum of its entries. Reads in one snapshot, so a movement
/// posted meanwhile is either wholly seen or not at all.
pub async fn verify(pool: &PgPool) -> Result<Verified, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (movements, entries, accounts): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ledger_movement), (SELECT count(*) FROM ledger_entry),
                (SELECT count(*) FROM account)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let trial_balance = trial_balance(&mut *tx).await?;
    let first_bad_movement = sqlx::query_as(
        "SELECT m.id, coalesce(sum(e.amount), 0)
         FROM ledger_movement m LEFT JOIN ledger_entry e ON e.movement_id = m.id
         GROUP BY m.id
         HAVING count(e.id) = 0 OR sum(e.amount) <> 0
             OR count(e.txn_no) <> coalesce(m.purchase_count, 0)
         ORDER BY m.id LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mismatches = mismatches(&mut *tx).await?;
    tx.commit().await?;
    Ok(Verified {
        movements,
        entries,
        accounts,
        trial_balance,
        first_bad_movement,
        mismatches,
    })
}

/// One account with its balance, for the settlement and report screens.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub kind: String,
    pub person_id: Option<i64>,
    pub name: String,
    pub balance: Money,
}

/// The centre's own accounts (cash, fee income, forfeited balances).
pub async fn system_accounts(pool: &PgPool) -> Result<Vec<Account>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, person_id, name, account_balance(id) AS balance FROM account
         WHERE kind <> 'cardholder' ORDER BY id",
    )
    .fetch_all(pool)
    .await
}
