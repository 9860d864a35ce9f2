//! What the Settlement tab reads: today's takings, top-ups, outstanding balances, the stored
//! statements, daily takings for the chart and the POS transaction numbers still missing.
//! Read-only; one grouped query per figure.
//!
//! Takings are summed from the ledger (entries on merchant accounts, purchase movements), never
//! from the POS records: the ledger is what gets settled. A purchase's entry credits the merchant
//! (minus the amount), so takings are minus the sum.

use crate::domain::money::Money;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

/// One merchant's purchases on one POS (terminal None: posted without a terminal).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PosTakings {
    pub merchant_id: i64,
    pub merchant: String,
    pub terminal_id: Option<i64>,
    pub terminal: String,
    pub count: i64,
    pub sum: Money,
}

/// Top-ups by the channel the money came in by (cash, bank, other, subsidy).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TopUps {
    pub channel: String,
    pub channel_name: String,
    pub count: i64,
    pub sum: Money,
}

/// What the centre owes its cardholders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Outstanding {
    pub accounts: i64,
    pub total: Money,
    /// Accounts below zero (an offline purchase that overdrew).
    pub negative: i64,
    pub negative_sum: Money,
}

/// A stored statement (a settled period).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Settled {
    pub id: i64,
    pub merchant: String,
    pub period_kind: String,
    pub period_start: NaiveDate,
    pub purchases: i64,
    pub sales: Money,
    pub refunds: Money,
    pub corrections: Money,
    pub commission: Money,
    pub net_payable: Money,
    pub settled_at: DateTime<Utc>,
    pub actor: String,
}

/// Purchases in [from, to) per merchant and POS, by merchant then POS name.
pub async fn by_pos(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PosTakings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.merchant_id, mc.name AS merchant, m.terminal_id,
                coalesce(t.name, '') AS terminal,
                coalesce(sum(m.purchase_count), 0)::bigint AS count, coalesce(-sum(e.amount), 0) AS sum
         FROM ledger_movement m
         JOIN ledger_entry e ON e.movement_id = m.id AND e.txn_no IS NULL
         JOIN account a ON a.id = e.account_id AND a.kind = 'merchant'
         JOIN merchant mc ON mc.id = a.merchant_id
         LEFT JOIN terminal t ON t.id = m.terminal_id
         WHERE m.kind = 'purchase' AND m.at >= $1 AND m.at < $2
         GROUP BY a.merchant_id, mc.name, m.terminal_id, t.name
         ORDER BY mc.name, t.name NULLS LAST, m.terminal_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Top-ups in [from, to) per channel: the cardholder account's credit of each top-up movement.
pub async fn top_ups(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<TopUps>, sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(d.channel, 'cash') AS channel, coalesce(d.channel_name, '') AS channel_name,
                count(DISTINCT m.id) AS count, coalesce(-sum(e.amount), 0) AS sum
         FROM ledger_movement m
         JOIN ledger_entry e ON e.movement_id = m.id
         JOIN account a ON a.id = e.account_id AND a.kind = 'cardholder'
         LEFT JOIN movement_detail d ON d.movement_id = m.id
         WHERE m.kind = 'top_up' AND m.at >= $1 AND m.at < $2
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// The sum of every cardholder balance, and the accounts below zero.
pub async fn outstanding(pool: &PgPool) -> Result<Outstanding, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS accounts, coalesce(sum(balance), 0) AS total,
                count(*) FILTER (WHERE balance < 0) AS negative,
                coalesce(sum(balance) FILTER (WHERE balance < 0), 0) AS negative_sum
         FROM (SELECT a.balance - coalesce(p.amount, 0) AS balance FROM account a
               LEFT JOIN account_pending p ON p.account_id = a.id
               WHERE a.kind = 'cardholder') a",
    )
    .fetch_one(pool)
    .await
}

/// The stored statements, newest first (at most `limit`).
pub async fn settled(pool: &PgPool, limit: i64) -> Result<Vec<Settled>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, mc.name AS merchant, s.period_kind, s.period_start, s.purchases, s.sales,
                s.refunds, s.corrections, s.commission, s.net_payable, s.settled_at, s.actor
         FROM settlement s JOIN merchant mc ON mc.id = s.merchant_id
         ORDER BY s.period_start DESC, s.settled_at DESC, mc.name
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One POS's transaction numbers it skipped that have not turned up (of one numbering: a POS
/// reset or swapped numbers anew, and its old gaps stay apart).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MissingTxns {
    pub terminal_id: i64,
    pub terminal: String,
    /// Empty for a POS no merchant owns.
    pub merchant: String,
    pub txn_epoch: i64,
    /// Ascending.
    pub numbers: Vec<i64>,
    /// When the first of them was noticed.
    pub noticed_at: DateTime<Utc>,
}

/// Every POS's unresolved missing transaction numbers, by merchant, POS name and numbering.
pub async fn missing(pool: &PgPool) -> Result<Vec<MissingTxns>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.terminal_id, t.name AS terminal, coalesce(mc.name, '') AS merchant, p.txn_epoch,
                array_agg(p.txn_no ORDER BY p.txn_no) AS numbers, min(p.noticed_at) AS noticed_at
         FROM pos_txn_missing p
         JOIN terminal t ON t.id = p.terminal_id
         LEFT JOIN merchant mc ON mc.id = t.merchant_id
         WHERE p.found_at IS NULL AND p.chase IS DISTINCT FROM 'void'
         GROUP BY p.terminal_id, t.name, mc.name, p.txn_epoch
         ORDER BY mc.name NULLS LAST, t.name, p.terminal_id, p.txn_epoch",
    )
    .fetch_all(pool)
    .await
}

/// Takings per site day for the `days` days up to and including `last`, oldest first (a day
/// with no purchase is zero). The buckets are the site's day bounds, so a day is a local day.
pub async fn daily(
    pool: &PgPool,
    last: NaiveDate,
    days: u32,
) -> Result<Vec<(NaiveDate, Money)>, sqlx::Error> {
    let first = last - chrono::Duration::days(i64::from(days.max(1)) - 1);
    let dates: Vec<NaiveDate> = first.iter_days().take(days.max(1) as usize).collect();
    // n + 1 thresholds: each day's start, then the last day's end.
    let mut bounds: Vec<DateTime<Utc>> = dates
        .iter()
        .map(|d| crate::domain::time::day_bounds(*d).0)
        .collect();
    bounds.push(crate::domain::time::day_bounds(last).1);
    let rows: Vec<(i32, Money)> = sqlx::query_as(
        "SELECT width_bucket(m.at, $1::timestamptz[]) AS b, coalesce(-sum(e.amount), 0)
         FROM ledger_movement m
         JOIN ledger_entry e ON e.movement_id = m.id AND e.txn_no IS NULL
         JOIN account a ON a.id = e.account_id AND a.kind = 'merchant'
         WHERE m.kind = 'purchase' AND m.at >= $2 AND m.at < $3
         GROUP BY 1",
    )
    .bind(&bounds)
    .bind(bounds[0])
    .bind(bounds[bounds.len() - 1])
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(NaiveDate, Money)> = dates.into_iter().map(|d| (d, Money::ZERO)).collect();
    for (b, sum) in rows {
        // width_bucket counts from 1 for the first threshold.
        if let Some(slot) = usize::try_from(b - 1).ok().and_then(|i| out.get_mut(i)) {
            slot.1 = sum;
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum TakingsExportError {
    #[error(transparent)]
    Denied(#[from] crate::domain::permission::Denied),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Writes a view of the Settlement tab as CSV (BOM; amounts are given as two-decimal text by
/// the caller) to `path`, never over an existing file unless told, and audits it. The file
/// gets its name only once the audit entry is committed.
pub async fn export(
    pool: &PgPool,
    actor: &crate::domain::permission::Actor,
    view: &str,
    header: &[String],
    rows: &[Vec<String>],
    path: &std::path::Path,
    existing: crate::export::Existing,
) -> Result<u64, TakingsExportError> {
    use crate::export::{Csv, CsvFile};
    actor.authorize(crate::domain::permission::Action::ReportExport)?;
    let mut file = CsvFile::create(path, existing)?;
    let mut csv = Csv::new(&mut file, header)?;
    for r in rows {
        csv.row(r)?;
    }
    let n = csv.rows();
    csv.finish()?;
    let mut tx = pool.begin().await?;
    super::audit::append(
        &mut tx,
        actor,
        "settlement.export_view",
        "settlement",
        "",
        None,
        Some(serde_json::json!({
            "view": view,
            "rows": n,
            "file": path.display().to_string(),
        })),
    )
    .await?;
    tx.commit().await?;
    file.commit()?;
    Ok(n)
}
