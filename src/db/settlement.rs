//! Settlement (结算): a statement per merchant per period, summed from the ledger in one grouped
//! query, and locked once settled.
//!
//! What a period holds is decided by when each movement was posted (`ledger_movement.at` in
//! [start, end)). Only a period that has ended is settled, so anything posted after the
//! settlement — a correction of a settled sale — lands in a later, open period by its posting
//! time. Settling again returns the stored statement and changes nothing.
//!
//! In a merchant's account (entries signed debit positive): a purchase credits it (its entry is
//! minus the amount), a `refund` debits it, a `correction` either. The desk's merchant refunds
//! and corrections post those movements with `ledger::post`.

use super::audit;
use super::merchant::{self, MerchantError};
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
use crate::domain::settlement::{Figures, Period, PeriodKind, Takings};
use crate::export::{Csv, CsvFile, Existing, ExportError};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::path::Path;

/// One merchant's statement for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub merchant_id: i64,
    pub merchant: String,
    pub period: Period,
    pub figures: Figures,
    /// When and by whom it was settled; None for a statement of an open period.
    pub settled: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// Only a period that has ended is settled: its takings may still grow.
    #[error("period {period} has not ended yet (it ends {ends})")]
    NotEnded { period: Period, ends: DateTime<Utc> },
    /// Part of the period was settled already within another period of the merchant.
    #[error("merchant {merchant}: period {period} overlaps its settled period {settled}")]
    Overlaps {
        merchant: String,
        period: Period,
        settled: Period,
    },
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The merchants a settlement covers: one by name or id, else every merchant that has an
/// account (it was approved once). (id, name, commission rate), in id order.
async fn merchants(
    tx: &mut PgConnection,
    only: Option<&str>,
) -> Result<Vec<(i64, String, Decimal)>, SettleError> {
    let only_id = match only {
        Some(text) => {
            let m = merchant::find(&mut *tx, text)
                .await?
                .ok_or_else(|| MerchantError::NotFound(text.trim().to_string()))?;
            // Never approved: no account, nothing to settle.
            if m.account_id.is_none() {
                return Err(MerchantError::WrongState {
                    name: m.name,
                    state: m.state,
                    wanted: merchant::MerchantState::Approved,
                }
                .into());
            }
            Some(m.id)
        }
        None => None,
    };
    Ok(sqlx::query_as(
        "SELECT m.id, m.name, m.commission_rate FROM merchant m
         WHERE EXISTS (SELECT 1 FROM account a WHERE a.merchant_id = m.id)
           AND ($1::bigint IS NULL OR m.id = $1)
         ORDER BY m.id",
    )
    .bind(only_id)
    .fetch_all(&mut *tx)
    .await?)
}

/// Every merchant's takings in [from, to), in one pass over the period's movements.
pub async fn takings(
    db: impl sqlx::PgExecutor<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<i64, Takings>, sqlx::Error> {
    let rows: Vec<(i64, i64, Money, Money, Money)> = sqlx::query_as(
        "SELECT a.merchant_id,
                coalesce(sum(m.purchase_count) FILTER (WHERE m.kind = 'purchase'), 0)::bigint,
                coalesce(-sum(e.amount) FILTER (WHERE m.kind = 'purchase'), 0),
                coalesce(sum(e.amount) FILTER (WHERE m.kind = 'refund'), 0),
                coalesce(-sum(e.amount) FILTER (WHERE m.kind = 'correction'), 0)
         FROM ledger_movement m
         JOIN ledger_entry e ON e.movement_id = m.id AND e.txn_no IS NULL
         JOIN account a ON a.id = e.account_id AND a.kind = 'merchant'
         WHERE m.at >= $1 AND m.at < $2
         GROUP BY a.merchant_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, purchases, sales, refunds, corrections)| {
            (
                id,
                Takings {
                    purchases,
                    sales,
                    refunds,
                    corrections,
                },
            )
        })
        .collect())
}

/// The statements of a period as they stand: the stored one where it was settled, else summed
/// now (an open period: its figures may still change).
pub async fn statements(
    pool: &PgPool,
    period: Period,
    merchant: Option<&str>,
) -> Result<Vec<Statement>, SettleError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let list = merchants(&mut tx, merchant).await?;
    let stored = stored(&mut tx, period, &list).await?;
    let (from, to) = period.bounds();
    let sums = takings(&mut *tx, from, to).await?;
    tx.commit().await?;
    Ok(assemble(period, list, stored, &sums))
}

fn assemble(
    period: Period,
    list: Vec<(i64, String, Decimal)>,
    mut stored: BTreeMap<i64, Statement>,
    sums: &BTreeMap<i64, Takings>,
) -> Vec<Statement> {
    let mut out: Vec<Statement> = list
        .into_iter()
        .map(|(id, name, rate)| {
            stored.remove(&id).unwrap_or_else(|| Statement {
                merchant_id: id,
                merchant: name,
                period,
                figures: Figures::of(sums.get(&id).copied().unwrap_or_default(), rate),
                settled: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.merchant.cmp(&b.merchant));
    out
}

/// 结算: locks the period for the merchants (every one with an account, or the one named) and
/// returns their statements. A merchant settled for this period already keeps its stored
/// statement; nothing is written for it.
pub async fn settle(
    pool: &PgPool,
    actor: &Actor,
    period: Period,
    merchant: Option<&str>,
) -> Result<Vec<Statement>, SettleError> {
    actor.authorize(Action::MerchantSettle)?;
    let (from, to) = period.bounds();
    if !period.has_ended(Utc::now()) {
        return Err(SettleError::NotEnded { period, ends: to });
    }
    let mut tx = pool.begin().await?;
    let list = merchants(&mut tx, merchant).await?;
    let ids: Vec<i64> = list.iter().map(|m| m.0).collect();
    // Two settlements of one merchant at once: the second waits, then finds the first's rows.
    sqlx::query("SELECT 1 FROM merchant WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let stored = stored(&mut tx, period, &list).await?;
    let to_settle: Vec<&(i64, String, Decimal)> =
        list.iter().filter(|m| !stored.contains_key(&m.0)).collect();
    if let Some((merchant, settled)) = overlap(&mut tx, period, &to_settle).await? {
        return Err(SettleError::Overlaps {
            merchant,
            period,
            settled,
        });
    }
    let sums = takings(&mut *tx, from, to).await?;
    for (id, _, rate) in &to_settle {
        let f = Figures::of(sums.get(id).copied().unwrap_or_default(), *rate);
        let row: i64 = sqlx::query_scalar(
            "INSERT INTO settlement (merchant_id, period_kind, period_start, starts_at, ends_at,
                 purchases, sales, refunds, corrections, commission_rate, commission, net_payable,
                 operator_id, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(id)
        .bind(period.kind.name())
        .bind(period.first_day)
        .bind(from)
        .bind(to)
        .bind(f.takings.purchases)
        .bind(f.takings.sales)
        .bind(f.takings.refunds)
        .bind(f.takings.corrections)
        .bind(f.commission_rate)
        .bind(f.commission)
        .bind(f.net_payable)
        .bind(actor.operator_id)
        .bind(&actor.name)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            actor,
            "merchant.settle",
            "settlement",
            &row.to_string(),
            None,
            Some(json!({
                "merchant_id": id,
                "period": period.to_string(),
                "purchases": f.takings.purchases,
                "sales": f.takings.sales,
                "refunds": f.takings.refunds,
                "corrections": f.takings.corrections,
                "commission_rate": f.commission_rate,
                "commission": f.commission,
                "net_payable": f.net_payable,
            })),
        )
        .await?;
    }
    let stored = self::stored(&mut tx, period, &list).await?;
    // Every console showing statements re-reads them.
    super::notify::Change {
        records: vec!["settlement".into()],
        ..super::notify::Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(assemble(period, list, stored, &sums))
}

#[derive(sqlx::FromRow)]
struct Row {
    merchant_id: i64,
    merchant: String,
    period_kind: String,
    period_start: NaiveDate,
    purchases: i64,
    sales: Money,
    refunds: Money,
    corrections: Money,
    commission_rate: Decimal,
    commission: Money,
    net_payable: Money,
    settled_at: DateTime<Utc>,
    actor: String,
}

impl Row {
    fn period(&self) -> Period {
        Period {
            kind: self.period_kind.parse().unwrap_or(PeriodKind::Daily),
            first_day: self.period_start,
        }
    }

    fn statement(self) -> Statement {
        Statement {
            merchant_id: self.merchant_id,
            period: self.period(),
            figures: Figures {
                takings: Takings {
                    purchases: self.purchases,
                    sales: self.sales,
                    refunds: self.refunds,
                    corrections: self.corrections,
                },
                commission_rate: self.commission_rate,
                commission: self.commission,
                net_payable: self.net_payable,
            },
            settled: Some((self.settled_at, self.actor)),
            merchant: self.merchant,
        }
    }
}

const ROWS: &str = "SELECT s.merchant_id, m.name AS merchant, s.period_kind, s.period_start,
        s.purchases, s.sales, s.refunds, s.corrections, s.commission_rate, s.commission,
        s.net_payable, s.settled_at, s.actor
     FROM settlement s JOIN merchant m ON m.id = s.merchant_id";

/// The stored statements of exactly this period, by merchant.
async fn stored(
    tx: &mut PgConnection,
    period: Period,
    list: &[(i64, String, Decimal)],
) -> Result<BTreeMap<i64, Statement>, sqlx::Error> {
    let ids: Vec<i64> = list.iter().map(|m| m.0).collect();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{ROWS} WHERE s.merchant_id = ANY($1) AND s.period_kind = $2 AND s.period_start = $3"
    ))
    .bind(&ids)
    .bind(period.kind.name())
    .bind(period.first_day)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.merchant_id, r.statement()))
        .collect())
}

/// The first merchant about to be settled whose other settled period overlaps this one (a day
/// inside a settled month, say): settling it would count the same sales twice.
async fn overlap(
    tx: &mut PgConnection,
    period: Period,
    list: &[&(i64, String, Decimal)],
) -> Result<Option<(String, Period)>, sqlx::Error> {
    let ids: Vec<i64> = list.iter().map(|m| m.0).collect();
    let (from, to) = period.bounds();
    let row: Option<Row> = sqlx::query_as(&format!(
        "{ROWS} WHERE s.merchant_id = ANY($1) AND s.starts_at < $3 AND s.ends_at > $2
         ORDER BY s.merchant_id, s.starts_at LIMIT 1"
    ))
    .bind(&ids)
    .bind(from)
    .bind(to)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| (r.merchant.clone(), r.period())))
}

/// The CSV columns of a statement export.
pub const CSV_COLUMNS: [&str; 11] = [
    "period",
    "merchant",
    "purchases",
    "sales",
    "refunds",
    "corrections",
    "commission_rate",
    "commission",
    "net_payable",
    "settled_at",
    "settled_by",
];

/// Writes the statements as CSV (BOM, two-decimal amounts) to `path`, never over an existing
/// file unless told, and audits the export.
pub async fn export(
    pool: &PgPool,
    actor: &Actor,
    statements: &[Statement],
    path: &Path,
    existing: Existing,
) -> Result<u64, SettleError> {
    actor.authorize(Action::ReportExport)?;
    let mut file = CsvFile::create(path, existing)?;
    let mut csv = Csv::new(&mut file, &CSV_COLUMNS)?;
    for s in statements {
        let f = &s.figures;
        csv.row([
            s.period.to_string(),
            s.merchant.clone(),
            f.takings.purchases.to_string(),
            f.takings.sales.csv(),
            f.takings.refunds.csv(),
            f.takings.corrections.csv(),
            f.commission_rate.normalize().to_string(),
            f.commission.csv(),
            f.net_payable.csv(),
            s.settled
                .as_ref()
                .map(|(at, _)| crate::export::local_time(*at))
                .unwrap_or_default(),
            s.settled
                .as_ref()
                .map(|(_, by)| by.clone())
                .unwrap_or_default(),
        ])?;
    }
    let n = csv.rows();
    csv.finish()?;
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        actor,
        "settlement.export",
        "settlement",
        "",
        None,
        Some(json!({
            "periods": statements.iter().map(|s| s.period.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "rows": n,
            "file": path.display().to_string(),
        })),
    )
    .await?;
    tx.commit().await?;
    file.commit()?;
    Ok(n)
}
