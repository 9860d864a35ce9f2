//! `onecard import subsidies FILE [--batch ID]`: a batch of subsidy top-ups (补贴) from a CSV of
//! person numbers and amounts, paid from the subsidy funding account.
//!
//! The file is CSV (UTF-8, header required) with a `person_no` (学工号, 学号, 工号, 人员编号)
//! and an `amount` (金额, 补贴金额) column; other columns are ignored. It is checked whole (an
//! unknown person, an amount that is not a positive number with at most two decimals, a
//! person named twice) and every bad row is named by its line; then every person is paid in one
//! movement, or nobody.
//!
//! Idempotent on the batch id: a batch paid once is never paid again, and loading it again says
//! when it was paid. The batch id defaults to the file's name and the first 12 hex digits of
//! its content's SHA-256 (`september.csv-3fa2c4…`), so the same file loaded twice pays once,
//! and an edited file is a new batch unless `--batch` names the old one.

use super::{bad, decode, ImportError, Lines, RowError, RowProblem};
use crate::db::ledger::{self, MovementKind, SystemAccount};
use crate::db::notify::Change;
use crate::db::{audit, desk};
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::Path;

/// The largest single subsidy a row may carry.
pub const MAX_SUBSIDY: i64 = 100_000;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub batch_id: String,
    pub persons: i64,
    pub total: Money,
    /// False: the batch was paid before (at `at`), and nothing was paid now.
    pub paid_now: bool,
    pub at: DateTime<Utc>,
    /// The batch paid before was this very file (same content).
    pub same_file: bool,
}

/// The SHA-256 of the file, hex.
fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The default batch id: the file's name and the start of its content hash.
pub fn default_batch_id(path: &str, bytes: &[u8]) -> String {
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().to_string());
    format!("{name}-{}", &digest(bytes)[..12])
}

/// The batch paid before under `batch_id`, if any.
async fn paid(
    db: impl sqlx::PgExecutor<'_>,
    batch_id: &str,
    sha: &str,
) -> Result<Option<Outcome>, sqlx::Error> {
    let row: Option<(i32, Money, DateTime<Utc>, String)> =
        sqlx::query_as("SELECT persons, total, at, sha256 FROM subsidy_batch WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(persons, total, at, sha256)| Outcome {
        batch_id: batch_id.to_string(),
        persons: i64::from(persons),
        total,
        paid_now: false,
        at,
        same_file: sha256 == sha,
    }))
}

/// Checks the file and pays every row, once per batch id.
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    path: &str,
    bytes: &[u8],
    batch: Option<&str>,
) -> Result<Outcome, ImportError> {
    actor.authorize(Action::AccountTopUp)?;
    let sha = digest(bytes);
    let batch_id = batch
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map_or_else(|| default_batch_id(path, bytes), str::to_string);
    if let Some(before) = paid(pool, &batch_id, &sha).await? {
        return Ok(before);
    }
    let rows = check(pool, path, bytes).await?;
    let total: Money = rows.iter().map(|r| r.amount).sum();
    if !total.fits_column() {
        return Err(bad(
            path,
            vec![RowError::new(
                1,
                RowProblem::BadAmount { text: total.csv() },
            )],
        ));
    }
    let mut tx = pool.begin().await?;
    // Two loads of one batch at once: the second waits here, then finds it paid.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('subsidy ' || $1, 0))")
        .bind(&batch_id)
        .execute(&mut *tx)
        .await?;
    if let Some(before) = paid(&mut *tx, &batch_id, &sha).await? {
        return Ok(before);
    }
    let funding = ledger::system_account(&mut tx, SystemAccount::SubsidyFunding).await?;
    let mut entries = vec![(funding, total)];
    for r in &rows {
        let account = ledger::cardholder_account(&mut tx, r.person_id)
            .await
            .map_err(ledger_sql)?;
        entries.push((account, -r.amount));
    }
    let movement_id = ledger::post(
        &mut tx,
        actor,
        MovementKind::TopUp,
        None,
        &format!("subsidy batch {batch_id}"),
        &entries,
    )
    .await
    .map_err(ledger_sql)?;
    let detail = desk::Detail {
        channel: Some("subsidy"),
        channel_name: batch_id.clone(),
        ..desk::Detail::default()
    };
    desk::record(&mut tx, movement_id, &detail).await?;
    let at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO subsidy_batch (batch_id, file, sha256, persons, total, movement_id,
                                    operator_id, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING at",
    )
    .bind(&batch_id)
    .bind(path)
    .bind(&sha)
    .bind(i32::try_from(rows.len()).unwrap_or(i32::MAX))
    .bind(total)
    .bind(movement_id)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .fetch_one(&mut *tx)
    .await?;
    let persons: Vec<i64> = rows.iter().map(|r| r.person_id).collect();
    let amounts: Vec<Money> = rows.iter().map(|r| r.amount).collect();
    let lines: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.line).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO subsidy_payment (batch_id, person_id, amount, line)
         SELECT $1, p, a, l FROM unnest($2::bigint[], $3::numeric[], $4::int[]) AS x (p, a, l)",
    )
    .bind(&batch_id)
    .bind(&persons)
    .bind(&amounts)
    .bind(&lines)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "subsidy.import",
        "subsidy_batch",
        &batch_id,
        None,
        Some(json!({
            "file": path,
            "sha256": sha,
            "persons": rows.len(),
            "total": total,
            "movement_id": movement_id,
        })),
    )
    .await?;
    let cards: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM card WHERE person_id = ANY($1) AND state IN ('active', 'lost')",
    )
    .bind(&persons)
    .fetch_all(&mut *tx)
    .await?;
    Change::cards(cards).send(&mut tx).await?;
    tx.commit().await?;
    Ok(Outcome {
        batch_id,
        persons: rows.len() as i64,
        total,
        paid_now: true,
        at,
        same_file: true,
    })
}

/// The ledger's refusals here are the database's only (amounts were checked row by row).
fn ledger_sql(e: ledger::LedgerError) -> ImportError {
    match e {
        ledger::LedgerError::Sql(e) => ImportError::Sql(e),
        ledger::LedgerError::Denied(d) => ImportError::Denied(d),
        other => ImportError::Sql(sqlx::Error::Protocol(other.to_string())),
    }
}

/// One good row.
struct Row {
    line: u64,
    person_id: i64,
    amount: Money,
}

/// Every row resolved to a person and an amount, or every bad row named.
async fn check(pool: &PgPool, path: &str, bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
    let text = decode(path, bytes)?;
    let lines = Lines::new(text);
    let (mut reader, headers) = super::open_csv(path, text)?;
    let column = |names: &[&str]| super::column_of(&headers, names);
    let (Some(person_col), Some(amount_col)) = (
        column(&["person_no", "学工号", "学号", "工号", "人员编号"]),
        column(&["amount", "金额", "补贴金额"]),
    ) else {
        return Err(bad(
            path,
            vec![RowError::new(1, RowProblem::NoSubsidyColumns)],
        ));
    };
    let max = Money::from_yuan(MAX_SUBSIDY);
    let mut errors = Vec::new();
    let mut named: Vec<(u64, String, Money)> = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for result in reader.records() {
        let (line, record) = match lines.record(result) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let get = |i: usize| record.get(i).unwrap_or("");
        let (person_no, amount_text) = (get(person_col), get(amount_col));
        let mut problems = Vec::new();
        if person_no.is_empty() {
            problems.push(crate::db::person::FieldProblem::PersonNoEmpty.into());
        } else if let Some(first) = first_line.get(person_no) {
            problems.push(RowProblem::DuplicatePersonNo {
                person_no: person_no.to_string(),
                line: *first,
            });
        } else {
            first_line.insert(person_no.to_string(), line);
        }
        let amount = Money::parse(amount_text, Some(max));
        if amount.is_err() {
            problems.push(RowProblem::BadAmount {
                text: amount_text.to_string(),
            });
        }
        match (problems.is_empty(), amount) {
            (true, Ok(a)) => named.push((line, person_no.to_string(), a)),
            _ => errors.push(RowError { line, problems }),
        }
    }
    if named.is_empty() && errors.is_empty() {
        errors.push(RowError::new(1, RowProblem::NoRows));
    }
    let person_nos: Vec<&str> = named.iter().map(|(_, p, _)| p.as_str()).collect();
    let ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT person_no, id FROM person WHERE person_no = ANY($1)",
    )
    .bind(&person_nos)
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let mut rows = Vec::new();
    for (line, person_no, amount) in named {
        match ids.get(&person_no) {
            Some(&person_id) => rows.push(Row {
                line,
                person_id,
                amount,
            }),
            None => errors.push(RowError::new(line, RowProblem::NoPerson { person_no })),
        }
    }
    if !errors.is_empty() {
        return Err(bad(path, errors));
    }
    Ok(rows)
}
