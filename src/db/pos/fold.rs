//! Purchase batches folded into balances. A batch of uploaded purchases writes its entries and
//! lists its movement in `balance_pending`, without touching its payers' balance rows (batches
//! on the same cardholders would queue on them). `fold` adds pending movements to
//! `account.balance`, many at a time, in one transaction; `serve` runs it in the background.
//! Until then every balance read takes the pending entries in (`account_balance`).
//!
//! A cardholder a fold takes below zero (offline purchases the balance did not cover) loses
//! its floor, and its cards go on every POS's blacklist with one `account_overdrawn` alarm each.

use super::super::notify::Change;
use crate::domain::money::Money;
use sqlx::{PgConnection, PgPool};

/// Movements folded in one transaction at most: a backlog is folded in bounded steps.
pub const AT_MOST: usize = 500;

/// What one fold did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    pub movements: usize,
    pub accounts: usize,
    /// `account_overdrawn` alarms raised.
    pub alarms: Vec<i64>,
}

/// Folds up to [`AT_MOST`] pending movements into their accounts' balances. Another fold
/// running at the time (a second `serve`) leaves the work to it and folds nothing.
pub async fn fold(pool: &PgPool) -> Result<Folded, sqlx::Error> {
    // Idle most of the time: one cheap look before a transaction.
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM balance_pending)")
        .fetch_one(pool)
        .await?;
    if !any {
        return Ok(Folded::default());
    }
    let mut tx = pool.begin().await?;
    let ours: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('balance fold', 0))")
            .fetch_one(&mut *tx)
            .await?;
    if !ours {
        return Ok(Folded::default());
    }
    let movements: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM balance_pending WHERE movement_id IN
             (SELECT movement_id FROM balance_pending ORDER BY movement_id LIMIT $1)
         RETURNING movement_id",
    )
    .bind(i64::try_from(AT_MOST).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    if movements.is_empty() {
        tx.commit().await?;
        return Ok(Folded::default());
    }
    // Each payer's total: the traced entries. The merchant's balance is never cached (its
    // takings are summed from its entries).
    let totals: Vec<(i64, Money)> = sqlx::query_as(
        "SELECT account_id, sum(amount) FROM ledger_entry
         WHERE movement_id = ANY($1) AND txn_no IS NOT NULL
         GROUP BY account_id ORDER BY account_id",
    )
    .bind(&movements)
    .fetch_all(&mut *tx)
    .await?;
    let (accounts, amounts): (Vec<i64>, Vec<Money>) = totals.into_iter().unzip();
    super::super::ledger::lock_in_order(&mut tx, &accounts).await?;
    let overdrawn: Vec<(i64, i64, Money)> = sqlx::query_as(
        "WITH s AS (SELECT * FROM unnest($1::bigint[], $2::numeric[]) AS s (a, total)),
         upd AS (
             UPDATE account SET balance = balance - s.total,
                    floor_zero = floor_zero AND (kind <> 'cardholder' OR balance - s.total >= 0)
             FROM s WHERE account.id = s.a
             RETURNING account.id, account.person_id, account.kind, account.balance
         )
         SELECT id, person_id, balance FROM upd WHERE kind = 'cardholder' AND balance < 0",
    )
    .bind(&accounts)
    .bind(&amounts)
    .fetch_all(&mut *tx)
    .await?;
    let mut alarms = Vec::new();
    let mut change = Change::default();
    for (account, person, balance) in overdrawn {
        // The alarm names the largest of the purchases folded now, and its POS.
        let largest: Option<(i64, Money)> = sqlx::query_as(
            "SELECT e.terminal_id, e.amount FROM ledger_entry e
             WHERE e.movement_id = ANY($1) AND e.account_id = $2 AND e.txn_no IS NOT NULL
             ORDER BY e.amount DESC, e.id LIMIT 1",
        )
        .bind(&movements)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((terminal_id, amount)) = largest else {
            continue;
        };
        let (raised, synced) =
            overdrawn_card(&mut tx, terminal_id, person, balance, amount).await?;
        alarms.extend(raised);
        change.merge(synced);
    }
    change.merge(Change::alarms(alarms.clone()));
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(Folded {
        movements: movements.len(),
        accounts: accounts.len(),
        alarms,
    })
}

/// How long [`fold_all`] waits on another folder that holds the fold.
const OTHER_FOLDER: std::time::Duration = std::time::Duration::from_secs(60);

/// Folds until nothing is pending (a test's or a bench's "serve has caught up").
pub async fn fold_all(pool: &PgPool) -> Result<Folded, sqlx::Error> {
    let mut all = Folded::default();
    let mut waited_since: Option<std::time::Instant> = None;
    loop {
        let f = fold(pool).await?;
        if f.movements == 0 {
            let left: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM balance_pending)")
                .fetch_one(pool)
                .await?;
            if !left {
                return Ok(all);
            }
            // Another folder holds the lock: it is folding them.
            let since = *waited_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > OTHER_FOLDER {
                return Err(sqlx::Error::Protocol(
                    "balances not folded: another folder held the fold for a minute".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        waited_since = None;
        all.movements += f.movements;
        all.accounts += f.accounts;
        all.alarms.extend(f.alarms);
    }
}

/// A person whose balance a fold took below zero: their active cards go on the blacklist
/// (once: a card already on it raises nothing again) with one alarm each.
async fn overdrawn_card(
    tx: &mut PgConnection,
    terminal_id: i64,
    person: i64,
    balance: Money,
    amount: Money,
) -> Result<(Vec<i64>, Change), sqlx::Error> {
    let cards: Vec<(i64, i64)> = sqlx::query_as(
        "UPDATE card SET overdrawn = true, updated_at = now()
         WHERE person_id = $1 AND state = 'active' AND NOT overdrawn RETURNING id, card_no",
    )
    .bind(person)
    .fetch_all(&mut *tx)
    .await?;
    let mut alarms = Vec::new();
    let mut change = Change::default();
    let serve = crate::domain::permission::Actor::shell("serve");
    for (card_id, card_no) in cards {
        change.merge(
            super::super::propagation::sync_card(tx, &serve, card_id)
                .await?
                .change,
        );
        let a = super::super::alarm::NewAlarm {
            kind: crate::domain::alarm::AlarmKind::AccountOverdrawn,
            terminal_id: Some(terminal_id),
            door: None,
            card: Some(card_no),
            detail: super::super::ingest::AlarmDetail::Overdrawn {
                card: card_no,
                amount,
                balance,
            }
            .to_json(),
            late: false,
        };
        alarms.extend(super::super::alarm::raise(&mut *tx, &a).await?);
    }
    Ok((alarms, change))
}
