//! A person's statement: every movement of their account, oldest first, with the balance after
//! it, the card it was on, and for a purchase (or its reversal) the terminal and the merchant.
//! The account is the person's, so a statement runs across their reissued cards.

use super::DeskError;
use crate::db::audit;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor};
use crate::domain::time;
use crate::export::{local_time, Csv};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

/// One movement of the person's account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StatementRow {
    pub movement_id: i64,
    /// A purchase's number (its payer's entry; a reversal names it too): what a correction
    /// is made against.
    pub purchase_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// `ledger_movement.kind`: top_up, purchase, fee, refund, forfeit, correction.
    pub kind: String,
    /// How a top-up came: cash, bank, other, subsidy (None: not a top-up, or before channels).
    pub channel: Option<String>,
    /// The other channel's name, or the subsidy batch.
    pub channel_name: String,
    /// Signed, as the cardholder sees it: a top-up is positive, a purchase negative.
    pub amount: Money,
    /// The balance after this movement.
    pub balance: Money,
    pub card_no: Option<i64>,
    pub terminal: Option<String>,
    pub txn_no: Option<i64>,
    pub merchant: Option<String>,
    pub note: String,
}

/// A person's statement for a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub person_id: i64,
    pub person_no: String,
    pub person_name: String,
    /// The balance before the first row.
    pub opening: Money,
    /// The balance now.
    pub balance: Money,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub rows: Vec<StatementRow>,
}

/// The person holding (or who held) card `card_no`.
pub async fn person_of_card(pool: &PgPool, card_no: i64) -> Result<i64, DeskError> {
    sqlx::query_scalar("SELECT person_id FROM card WHERE card_no = $1")
        .bind(card_no)
        .fetch_optional(pool)
        .await?
        .ok_or(DeskError::NoCard(card_no))
}

/// The person's statement from `from` to `to` (site days, inclusive; None: open).
pub async fn statement(
    pool: &PgPool,
    person_id: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Statement, sqlx::Error> {
    let (person_no, person_name): (String, String) =
        sqlx::query_as("SELECT person_no, name FROM person WHERE id = $1")
            .bind(person_id)
            .fetch_one(pool)
            .await?;
    let since = from.map(|d| time::day_bounds(d).0);
    let until = to.map(|d| time::day_bounds(d).1);
    // The running balance is summed over every entry (in id order, the order the account's
    // lock gave them) before the range is cut, so the first row's balance is right.
    let rows: Vec<StatementRow> = sqlx::query_as(
        "WITH mine AS (
             SELECT e.id AS entry_id, e.movement_id, -e.amount AS amount,
                    sum(-e.amount) OVER (ORDER BY e.id) AS balance,
                    e.card_id, e.txn_no
             FROM ledger_entry e JOIN account a ON a.id = e.account_id
             WHERE a.person_id = $1
         )
         SELECT m.id AS movement_id,
                CASE WHEN mine.txn_no IS NOT NULL THEN mine.entry_id ELSE o.id END AS purchase_id,
                m.at, m.kind, d.channel,
                coalesce(d.channel_name, '') AS channel_name, mine.amount, mine.balance,
                c.card_no, t.name AS terminal, coalesce(mine.txn_no, o.txn_no) AS txn_no,
                (SELECT mm.name FROM ledger_entry x JOIN account xa ON xa.id = x.account_id
                 JOIN merchant mm ON mm.id = xa.merchant_id
                 WHERE x.movement_id = coalesce(o.movement_id, m.id) AND x.txn_no IS NULL
                 LIMIT 1) AS merchant,
                m.note
         FROM mine JOIN ledger_movement m ON m.id = mine.movement_id
         LEFT JOIN movement_detail d ON d.movement_id = m.id
         LEFT JOIN ledger_entry o ON o.id = d.reverses_entry_id
         LEFT JOIN terminal t ON t.id = coalesce(o.terminal_id, m.terminal_id)
         LEFT JOIN card c ON c.id = coalesce(mine.card_id, m.card_id)
         WHERE ($2::timestamptz IS NULL OR m.at >= $2) AND ($3::timestamptz IS NULL OR m.at < $3)
         ORDER BY mine.entry_id",
    )
    .bind(person_id)
    .bind(since)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let balance: Option<Money> =
        sqlx::query_scalar("SELECT account_balance(id) FROM account WHERE person_id = $1")
            .bind(person_id)
            .fetch_optional(pool)
            .await?;
    let balance = balance.unwrap_or_default();
    let opening = rows.first().map_or(balance, |r| r.balance - r.amount);
    Ok(Statement {
        person_id,
        person_no,
        person_name,
        opening,
        balance,
        from,
        to,
        rows,
    })
}

/// The CSV columns of a statement.
pub const COLUMNS: [&str; 12] = [
    "time", "movement", "purchase", "kind", "channel", "card_no", "terminal", "txn_no", "merchant",
    "amount", "balance", "note",
];

/// The channel as one cell: `cash`, `other:微信`, `subsidy:2026-09`.
pub fn channel_cell(r: &StatementRow) -> String {
    match (&r.channel, r.channel_name.as_str()) {
        (Some(c), "") => c.clone(),
        (Some(c), name) => format!("{c}:{name}"),
        (None, _) => String::new(),
    }
}

/// Writes the statement as CSV (`export`'s rules) and audits the export. `file`: where it
/// goes, for the audit row. An operator needs `ReportExport`.
pub async fn export_statement<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    s: &Statement,
    writer: W,
    file: Option<&Path>,
) -> Result<u64, DeskError> {
    actor.authorize(Action::ReportExport)?;
    let mut csv = Csv::new(writer, &COLUMNS)?;
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in &s.rows {
        csv.row([
            local_time(r.at),
            r.movement_id.to_string(),
            opt(r.purchase_id),
            r.kind.clone(),
            channel_cell(r),
            opt(r.card_no),
            r.terminal.clone().unwrap_or_default(),
            opt(r.txn_no),
            r.merchant.clone().unwrap_or_default(),
            r.amount.csv(),
            r.balance.csv(),
            r.note.clone(),
        ])?;
    }
    let n = csv.rows();
    csv.finish()?;
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        actor,
        "statement.export",
        "person",
        &s.person_id.to_string(),
        None,
        Some(json!({
            "person_no": s.person_no,
            "from": s.from,
            "to": s.to,
            "rows": n,
            "file": file.map(|p| p.display().to_string()),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
