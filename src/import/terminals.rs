//! `onecard terminal import FILE`: the terminal inventory from a CSV file.
//!
//! Columns (header required, any order): `line, protocol, transport, line_address, baud,
//! kind, address, name, location, installed_at, installed_by`, and optionally `comm_key`. A
//! line is created by its first row; later rows naming it must agree with it. `baud` only for
//! serial lines; `installed_at` as YYYY-MM-DD or empty; `comm_key` (0 to 4294967295, empty for
//! none) only for ZKTeco machines, stored and never shown. An empty `line_address` makes an
//! offline line, never polled (an attendance machine whose punches are imported from its
//! files with `onecard import punches`).
//!
//! A command-line import only: its bad rows are named in English ([`BadRow`]), unlike the
//! console's imports, whose reasons are data ([`super::RowProblem`]).

use super::Lines;
use crate::db::terminal::{self, NewLine, NewTerminal};
use crate::domain::permission::{Action, Actor};
use chrono::NaiveDate;
use serde::Deserialize;
use sqlx::PgPool;
use std::collections::HashMap;

/// One rejected row: its line in the file (1 = the header) and why, in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalImportError {
    #[error("{path}: nothing imported; {} bad row(s):\n{}", .rows.len(), .rows.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    BadRows { path: String, rows: Vec<BadRow> },
    #[error(transparent)]
    Denied(#[from] crate::domain::permission::Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Every bad row, in file order.
fn bad(path: &str, mut rows: Vec<BadRow>) -> TerminalImportError {
    rows.sort_by_key(|r| r.line);
    TerminalImportError::BadRows {
        path: path.to_string(),
        rows,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Row {
    line: String,
    protocol: String,
    transport: String,
    line_address: String,
    #[serde(default)]
    baud: Option<i32>,
    kind: String,
    address: i64,
    name: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    installed_at: Option<String>,
    #[serde(default)]
    installed_by: String,
    #[serde(default)]
    comm_key: Option<u32>,
}

const PROTOCOLS: [&str; 3] = ["uhppote", "zk", "native"];
const TRANSPORTS: [&str; 3] = ["serial", "tcp", "udp"];
const KINDS: [&str; 5] = [
    "door_controller",
    "attendance_machine",
    "pos",
    "patrol_reader",
    "desk_reader",
];

fn check(row: &Row) -> Result<Option<NaiveDate>, String> {
    if row.line.trim().is_empty() || row.name.trim().is_empty() {
        return Err("line and name must not be empty".into());
    }
    if !PROTOCOLS.contains(&row.protocol.as_str()) {
        return Err(format!(
            "protocol `{}` is not one of {}",
            row.protocol,
            PROTOCOLS.join(", ")
        ));
    }
    if !TRANSPORTS.contains(&row.transport.as_str()) {
        return Err(format!(
            "transport `{}` is not one of {}",
            row.transport,
            TRANSPORTS.join(", ")
        ));
    }
    if !KINDS.contains(&row.kind.as_str()) {
        return Err(format!(
            "kind `{}` is not one of {}",
            row.kind,
            KINDS.join(", ")
        ));
    }
    let fits = match (row.protocol.as_str(), row.kind.as_str()) {
        ("uhppote", k) => k == "door_controller",
        ("zk", k) => k == "attendance_machine",
        (_, k) => matches!(k, "pos" | "patrol_reader" | "desk_reader"),
    };
    if !fits {
        return Err(format!(
            "a {} does not speak the {} protocol",
            row.kind, row.protocol
        ));
    }
    if row.protocol == "native" && !(1..=247).contains(&row.address) {
        return Err(format!("machine number {} is outside 1-247", row.address));
    }
    if row.protocol == "uhppote" && !(1..=u32::MAX as i64).contains(&row.address) {
        return Err(format!(
            "serial number {} is not a controller serial",
            row.address
        ));
    }
    if row.comm_key.is_some_and(|k| k != 0) && row.protocol != "zk" {
        return Err("a comm key is for ZKTeco machines only".into());
    }
    if row.transport == "serial" && row.baud.is_none() {
        return Err("a serial line needs a baud rate".into());
    }
    match row
        .installed_at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("installed_at `{d}` is not a date (YYYY-MM-DD)")),
    }
}

/// Reads and checks every row before touching the database; then adds everything in one
/// transaction. Returns (lines added, terminals added).
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    path: &str,
    text: &str,
) -> Result<(usize, usize), TerminalImportError> {
    actor.authorize(Action::TerminalEdit)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = Lines::new(text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(bad(
                path,
                vec![BadRow {
                    line: 1,
                    message: format!("the header is unreadable: {e}"),
                }],
            ))
        }
    };
    for result in reader.records() {
        let (line, record) = match lines.record(result) {
            Ok(r) => r,
            Err(e) => {
                errors.push(BadRow {
                    line: e.line,
                    message: e.message(),
                });
                continue;
            }
        };
        match record.deserialize::<Row>(Some(&headers)) {
            Ok(row) => match check(&row) {
                Ok(date) => rows.push((line, row, date)),
                Err(message) => errors.push(BadRow { line, message }),
            },
            Err(e) => errors.push(BadRow {
                line,
                message: match e.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => {
                        let field = err.field().map(|i| i as usize);
                        let name = field.and_then(|i| headers.get(i)).unwrap_or("a field");
                        let value = field.and_then(|i| record.get(i)).unwrap_or("");
                        format!("{name} `{value}`: {}", err.kind())
                    }
                    _ => e.to_string(),
                },
            }),
        }
    }
    // Rows naming one line must agree about it, and no terminal may appear twice.
    let mut lines: HashMap<&str, &Row> = HashMap::new();
    let mut seen = HashMap::new();
    for (n, row, _) in &rows {
        match lines.get(row.line.as_str()) {
            Some(first)
                if (
                    first.protocol.as_str(),
                    first.transport.as_str(),
                    first.line_address.as_str(),
                    first.baud,
                ) != (
                    row.protocol.as_str(),
                    row.transport.as_str(),
                    row.line_address.as_str(),
                    row.baud,
                ) =>
            {
                errors.push(BadRow {
                    line: *n,
                    message: format!(
                        "line {} is described differently than on its first row",
                        row.line
                    ),
                });
            }
            Some(_) => {}
            None => {
                lines.insert(&row.line, row);
            }
        }
        if let Some(prev) = seen.insert((row.line.clone(), row.address), *n) {
            errors.push(BadRow {
                line: *n,
                message: format!(
                    "terminal {} on line {} is also on line {prev} of the file",
                    row.address, row.line
                ),
            });
        }
    }
    if errors.is_empty() && rows.is_empty() {
        errors.push(BadRow {
            line: 1,
            message: "no rows".into(),
        });
    }
    if !errors.is_empty() {
        return Err(bad(path, errors));
    }
    let mut tx = pool.begin().await?;
    let existing: Vec<(String, String, String, String, Option<i32>)> =
        sqlx::query_as("SELECT name, protocol, transport, address, baud FROM line")
            .fetch_all(&mut *tx)
            .await?;
    // A row naming a line the inventory has must describe it as the inventory does.
    for (n, row, _) in &rows {
        let Some(line) = existing.iter().find(|l| l.0 == row.line) else {
            continue;
        };
        if (line.1.as_str(), line.2.as_str(), line.3.as_str(), line.4)
            != (
                row.protocol.as_str(),
                row.transport.as_str(),
                row.line_address.as_str(),
                row.baud,
            )
        {
            errors.push(BadRow {
                line: *n,
                message: format!(
                    "line {} is already in the inventory as {} over {} at {}: this row says {} over {} at {}",
                    row.line, line.1, line.2, line.3, row.protocol, row.transport, row.line_address
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(bad(path, errors));
    }
    let existing: Vec<String> = existing.into_iter().map(|l| l.0).collect();
    let mut added_lines = 0;
    let mut db_errors = Vec::new();
    for (n, row, _) in &rows {
        if existing.contains(&row.line)
            || lines
                .get(row.line.as_str())
                .is_none_or(|first| !std::ptr::eq(*first, row))
        {
            continue;
        }
        let new = NewLine {
            name: &row.line,
            protocol: &row.protocol,
            transport: &row.transport,
            address: &row.line_address,
            baud: row.baud,
            poll_interval_ms: 1000,
        };
        let mut sp = sqlx::Connection::begin(&mut *tx).await?;
        match terminal::add_line(&mut sp, actor, &new).await {
            Ok(_) => {
                sp.commit().await?;
                added_lines += 1;
            }
            Err(e) => {
                sp.rollback().await?;
                db_errors.push(BadRow {
                    line: *n,
                    message: e.to_string(),
                });
            }
        }
    }
    for (n, row, date) in &rows {
        let new = NewTerminal {
            line: &row.line,
            kind: &row.kind,
            address: row.address,
            name: &row.name,
            location: &row.location,
            installed_at: *date,
            installed_by: &row.installed_by,
        };
        // A savepoint per row, so one refusal is reported and the rest still checked.
        let mut sp = sqlx::Connection::begin(&mut *tx).await?;
        let added = match terminal::add_terminal(&mut sp, actor, &new).await {
            Ok(id) => match row.comm_key.filter(|&k| k != 0) {
                Some(key) => terminal::set_comm_key(&mut sp, actor, id, key).await,
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        match added {
            Ok(()) => sp.commit().await?,
            Err(e) => {
                sp.rollback().await?;
                db_errors.push(BadRow {
                    line: *n,
                    message: e.to_string(),
                });
            }
        }
    }
    if !db_errors.is_empty() {
        tx.rollback().await?;
        return Err(TerminalImportError::BadRows {
            path: path.to_string(),
            rows: db_errors,
        });
    }
    tx.commit().await?;
    Ok((added_lines, rows.len()))
}
