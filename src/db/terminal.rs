//! Lines and terminals: the inventory, and the live status pollers keep current.

use super::audit;
use super::notify::Change;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgPool};

#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Line {
    pub id: i64,
    pub name: String,
    pub protocol: String,
    pub transport: String,
    pub address: String,
    pub baud: Option<i32>,
    pub parity: String,
    pub stop_bits: i16,
    pub poll_interval_ms: i32,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Terminal {
    pub id: i64,
    pub line_id: i64,
    pub kind: String,
    pub address: i64,
    pub name: String,
    pub location: String,
    pub installed_at: Option<NaiveDate>,
    pub installed_by: String,
    pub in_scan: bool,
    pub status: String,
    pub firmware: String,
    pub bookmark: i64,
    /// Added to the terminal's own record numbers (see `ingest::restart_numbering`).
    pub record_base: i64,
    /// The serial number the terminal reported of itself; empty until first seen.
    pub hardware_serial: String,
    pub last_contact: Option<DateTime<Utc>>,
    pub rtt_ms: Option<f32>,
    pub retries: i64,
    pub crc_errors: i64,
    pub timeouts: i64,
    pub clock_drift_s: Option<i32>,
    pub records_waiting: i64,
}

const TERMINAL_COLUMNS: &str = "id, line_id, kind, address, name, location, installed_at, installed_by, in_scan, status, \
     firmware, bookmark, record_base, hardware_serial, last_contact, rtt_ms, retries, crc_errors, timeouts, clock_drift_s, records_waiting";

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("{0}")]
    Invalid(String),
    #[error("a terminal needs a name")]
    NameEmpty,
    #[error("“{0}” is not an installation date: write YYYY-MM-DD, not later than today, or leave it empty")]
    BadDate(String),
    #[error("terminal #{0} no longer exists")]
    NotFound(i64),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub struct NewLine<'a> {
    pub name: &'a str,
    pub protocol: &'a str,
    pub transport: &'a str,
    pub address: &'a str,
    pub baud: Option<i32>,
    pub poll_interval_ms: i32,
}

pub struct NewTerminal<'a> {
    pub line: &'a str,
    pub kind: &'a str,
    pub address: i64,
    pub name: &'a str,
    pub location: &'a str,
    pub installed_at: Option<NaiveDate>,
    pub installed_by: &'a str,
}

fn unique(e: sqlx::Error, what: String) -> InventoryError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            InventoryError::Invalid(format!("{what} exists already"))
        }
        sqlx::Error::Database(d) if d.is_check_violation() => {
            InventoryError::Invalid(format!("{what}: a value is out of range"))
        }
        _ => InventoryError::Sql(e),
    }
}

/// Adds a line, inside the caller's transaction (imports add many in one). A line without an
/// address is never reached (an offline attendance machine, whose punches come from its
/// files): it is added disabled, so no poller ever opens it.
pub async fn add_line(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    l: &NewLine<'_>,
) -> Result<Line, InventoryError> {
    actor.authorize(Action::TerminalEdit)?;
    let line: Line = sqlx::query_as(
        "INSERT INTO line (name, protocol, transport, address, baud, poll_interval_ms, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, btrim($4) <> '')
         RETURNING id, name, protocol, transport, address, baud, parity, stop_bits, poll_interval_ms, enabled",
    )
    .bind(l.name)
    .bind(l.protocol)
    .bind(l.transport)
    .bind(l.address)
    .bind(l.baud)
    .bind(l.poll_interval_ms)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| unique(e, format!("line {}", l.name)))?;
    audit::append(
        tx,
        actor,
        "line.add",
        "line",
        &line.name,
        None,
        serde_json::to_value(&line).ok(),
    )
    .await?;
    Ok(line)
}

pub async fn add_terminal(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    t: &NewTerminal<'_>,
) -> Result<i64, InventoryError> {
    actor.authorize(Action::TerminalEdit)?;
    let line_id: Option<i64> = sqlx::query_scalar("SELECT id FROM line WHERE name = $1")
        .bind(t.line)
        .fetch_optional(&mut *tx)
        .await?;
    let line_id = line_id.ok_or_else(|| InventoryError::Invalid(format!("no line {}", t.line)))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name, location, installed_at, installed_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(line_id)
    .bind(t.kind)
    .bind(t.address)
    .bind(t.name)
    .bind(t.location)
    .bind(t.installed_at)
    .bind(t.installed_by)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| unique(e, format!("terminal {} on line {}", t.address, t.line)))?;
    let after = serde_json::json!({
        "line": t.line, "kind": t.kind, "address": t.address, "name": t.name, "location": t.location,
        "installed_at": t.installed_at, "installed_by": t.installed_by,
    });
    audit::append(
        tx,
        actor,
        "terminal.add",
        "terminal",
        &id.to_string(),
        None,
        Some(after),
    )
    .await?;
    Ok(id)
}

/// A ZKTeco machine's comm key (0: none), read only when connecting: it is kept out of
/// [`Terminal`], so nothing that lists terminals can show it.
pub async fn comm_key(pool: &PgPool, terminal_id: i64) -> Result<u32, sqlx::Error> {
    let key: Option<i64> = sqlx::query_scalar("SELECT comm_key FROM terminal WHERE id = $1")
        .bind(terminal_id)
        .fetch_optional(pool)
        .await?;
    Ok(key.and_then(|k| u32::try_from(k).ok()).unwrap_or(0))
}

/// Sets a terminal's comm key; the audit says that it changed, never what it is.
pub async fn set_comm_key(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    terminal_id: i64,
    key: u32,
) -> Result<(), InventoryError> {
    actor.authorize(Action::TerminalEdit)?;
    let changed = sqlx::query(
        "UPDATE terminal SET comm_key = $2 WHERE id = $1 AND comm_key IS DISTINCT FROM $2",
    )
    .bind(terminal_id)
    .bind(i64::from(key))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        audit::append(
            tx,
            actor,
            "terminal.comm_key",
            "terminal",
            &terminal_id.to_string(),
            None,
            Some(serde_json::json!({ "comm_key": if key == 0 { "none" } else { "set" } })),
        )
        .await?;
    }
    Ok(())
}

/// What a technician edits of a terminal: what it is called, where it is, when and by whom it
/// was installed. Line, kind and address belong to the poller's wiring and are not edited here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inventory {
    pub name: String,
    pub location: String,
    pub installed_at: Option<NaiveDate>,
    pub installed_by: String,
}

impl Inventory {
    /// The fields as they are now.
    pub fn of(t: &Terminal) -> Inventory {
        Inventory {
            name: t.name.clone(),
            location: t.location.clone(),
            installed_at: t.installed_at,
            installed_by: t.installed_by.clone(),
        }
    }

    /// From what was typed: trimmed, the date as YYYY-MM-DD (empty: not known), then `check`ed.
    pub fn parse(
        name: &str,
        location: &str,
        installed_at: &str,
        installed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Inventory, InventoryError> {
        let date = installed_at.trim();
        let installed_at = if date.is_empty() {
            None
        } else {
            let shaped = date.len() == 10
                && date.char_indices().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        c == '-'
                    } else {
                        c.is_ascii_digit()
                    }
                });
            let parsed = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok();
            Some(
                parsed
                    .filter(|_| shaped)
                    .ok_or_else(|| InventoryError::BadDate(date.to_string()))?,
            )
        };
        let fields = Inventory {
            name: name.trim().to_string(),
            location: location.trim().to_string(),
            installed_at,
            installed_by: installed_by.trim().to_string(),
        };
        fields.check(now)?;
        Ok(fields)
    }

    /// A name, and an installation date that can be true: not before 1970 and not after today
    /// anywhere on earth (the console's and the server's dates may differ by a day).
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), InventoryError> {
        if self.name.trim().is_empty() {
            return Err(InventoryError::NameEmpty);
        }
        if let Some(d) = self.installed_at {
            let latest = (now + chrono::Duration::hours(14)).date_naive();
            let earliest = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
            if d < earliest || d > latest {
                return Err(InventoryError::BadDate(d.to_string()));
            }
        }
        Ok(())
    }
}

/// Changes a terminal's inventory fields: one transaction with the audit row (before and
/// after) and the notification. Saving what is already stored writes nothing.
pub async fn update_inventory(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    fields: &Inventory,
) -> Result<(), InventoryError> {
    actor.authorize(Action::TerminalEdit)?;
    fields.check(Utc::now())?;
    let after = Inventory {
        name: fields.name.trim().to_string(),
        location: fields.location.trim().to_string(),
        installed_at: fields.installed_at,
        installed_by: fields.installed_by.trim().to_string(),
    };
    let mut tx = pool.begin().await?;
    let before: (String, String, Option<NaiveDate>, String) = sqlx::query_as(
        "SELECT name, location, installed_at, installed_by FROM terminal WHERE id = $1 FOR UPDATE",
    )
    .bind(terminal_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(InventoryError::NotFound(terminal_id))?;
    let before = Inventory {
        name: before.0,
        location: before.1,
        installed_at: before.2,
        installed_by: before.3,
    };
    if before == after {
        return Ok(());
    }
    sqlx::query(
        "UPDATE terminal SET name = $2, location = $3, installed_at = $4, installed_by = $5
         WHERE id = $1",
    )
    .bind(terminal_id)
    .bind(&after.name)
    .bind(&after.location)
    .bind(after.installed_at)
    .bind(&after.installed_by)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "terminal.edit",
        "terminal",
        &terminal_id.to_string(),
        serde_json::to_value(&before).ok(),
        serde_json::to_value(&after).ok(),
    )
    .await?;
    Change::terminal(terminal_id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Includes a terminal in, or excludes it from, the live scan. A technician may (terminal
/// edit); so may a door administrator for a door controller (a door setting).
pub async fn set_in_scan(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    in_scan: bool,
) -> Result<(), InventoryError> {
    let may = actor.authorize(Action::TerminalEdit);
    if may.is_err() {
        actor.authorize(Action::DoorSetting)?;
    }
    let mut tx = pool.begin().await?;
    let (before, kind): (bool, String) =
        sqlx::query_as("SELECT in_scan, kind FROM terminal WHERE id = $1 FOR UPDATE")
            .bind(terminal_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| InventoryError::Invalid(format!("no terminal {terminal_id}")))?;
    if kind != "door_controller" {
        may?;
    }
    sqlx::query("UPDATE terminal SET in_scan = $2 WHERE id = $1")
        .bind(terminal_id)
        .bind(in_scan)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "terminal.scan",
        "terminal",
        &terminal_id.to_string(),
        Some(serde_json::json!({ "in_scan": before })),
        Some(serde_json::json!({ "in_scan": in_scan })),
    )
    .await?;
    Change::terminal(terminal_id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn lines(pool: &PgPool) -> Result<Vec<Line>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, protocol, transport, address, baud, parity, stop_bits, poll_interval_ms, enabled FROM line ORDER BY name",
    )
    .fetch_all(pool)
    .await
}

pub async fn terminals(pool: &PgPool) -> Result<Vec<Terminal>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TERMINAL_COLUMNS} FROM terminal ORDER BY line_id, address"
    ))
    .fetch_all(pool)
    .await
}

pub async fn terminals_on(pool: &PgPool, line_id: i64) -> Result<Vec<Terminal>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TERMINAL_COLUMNS} FROM terminal WHERE line_id = $1 ORDER BY address"
    ))
    .bind(line_id)
    .fetch_all(pool)
    .await
}

pub async fn terminals_by_id(pool: &PgPool, ids: &[i64]) -> Result<Vec<Terminal>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TERMINAL_COLUMNS} FROM terminal WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// What a poller learned about a terminal in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub online: bool,
    pub firmware: Option<String>,
    pub rtt_ms: Option<f32>,
    pub retries: i64,
    pub crc_errors: i64,
    pub timeouts: i64,
    pub clock_drift_s: Option<i32>,
    pub records_waiting: Option<i64>,
    /// Records held and capacity, when the terminal says them.
    pub memory: Option<(i64, i64)>,
}

/// Records a poll's outcome. Announces the terminal only when its status changed, so a quiet
/// line costs no console a reload.
pub async fn record_health(
    pool: &PgPool,
    terminal_id: i64,
    h: &Health,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed: Option<bool> = sqlx::query_scalar(
        "UPDATE terminal t SET
             status = CASE WHEN $2 THEN 'online' ELSE 'offline' END,
             firmware = coalesce($3, firmware),
             last_contact = CASE WHEN $2 THEN now() ELSE last_contact END,
             rtt_ms = coalesce($4, rtt_ms),
             retries = retries + $5, crc_errors = crc_errors + $6, timeouts = timeouts + $7,
             clock_drift_s = coalesce($8, clock_drift_s),
             records_waiting = coalesce($9, records_waiting),
             memory_used = coalesce($10, memory_used),
             memory_capacity = coalesce($11, memory_capacity)
         FROM (SELECT status AS old FROM terminal WHERE id = $1 FOR UPDATE) o
         WHERE t.id = $1
         RETURNING o.old <> t.status",
    )
    .bind(terminal_id)
    .bind(h.online)
    .bind(&h.firmware)
    .bind(h.rtt_ms)
    .bind(h.retries)
    .bind(h.crc_errors)
    .bind(h.timeouts)
    .bind(h.clock_drift_s)
    .bind(h.records_waiting)
    .bind(h.memory.map(|m| m.0))
    .bind(h.memory.map(|m| m.1))
    .fetch_optional(&mut *tx)
    .await?;
    let changed = changed.unwrap_or(false);
    if changed {
        Change::terminal(terminal_id).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
