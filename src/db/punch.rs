//! What the Attendance tab reads of the machines and their punches: each attendance machine's
//! state (online, last extraction, records waiting, drift, memory) and the punches of a day with
//! who made them. Punches are stored by the line actors (`ingest`) and by file imports.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::{FromRow, PgPool};

/// One attendance machine as the tab lists it.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct MachineRow {
    pub terminal_id: i64,
    pub name: String,
    pub location: String,
    /// The inventory's state: online, offline, unknown (never polled: a machine read from files).
    pub status: String,
    pub enabled: bool,
    pub last_contact: Option<DateTime<Utc>>,
    /// When its punches were last stored, by extraction or import.
    pub last_extraction: Option<DateTime<Utc>>,
    pub records_waiting: i64,
    pub clock_drift_s: Option<i32>,
    /// Punches it holds and how many it can hold, as it last said.
    pub memory_used: Option<i64>,
    pub memory_capacity: Option<i64>,
    /// Its log is cleared after every verified extraction (a policy, never silent).
    pub clear_after_extract: bool,
    /// Punches stored from it today (the site's day).
    pub today: i64,
}

impl MachineRow {
    /// Memory in use, in percent, when the machine said both figures.
    pub fn memory_percent(&self) -> Option<u8> {
        match (self.memory_used, self.memory_capacity) {
            (Some(u), Some(c)) if c > 0 => Some(((u * 100) / c).clamp(0, 100) as u8),
            _ => None,
        }
    }
}

/// Every attendance machine (ZKTeco), by name.
pub async fn machines(pool: &PgPool, day: NaiveDate) -> Result<Vec<MachineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS terminal_id, t.name, t.location, t.status, l.enabled, t.last_contact,
                t.punches_stored_at AS last_extraction,
                t.records_waiting, t.clock_drift_s, t.memory_used, t.memory_capacity,
                coalesce((SELECT value FROM setting WHERE key = 'attendance.clear_after_extract')
                           @> to_jsonb(t.id), false) AS clear_after_extract,
                (SELECT count(*) FROM punch p
                  WHERE p.terminal_id = t.id
                    AND p.terminal_time >= $1::date AND p.terminal_time < $1::date + 1) AS today
           FROM terminal t JOIN line l ON l.id = t.line_id
          WHERE t.kind = 'attendance_machine'
          ORDER BY t.name, t.id",
    )
    .bind(day)
    .fetch_all(pool)
    .await
}

/// One punch with who made it (when the register knows the user id: `att_user`).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DayPunch {
    pub terminal_id: i64,
    pub machine: String,
    pub user_id: String,
    pub terminal_time: NaiveDateTime,
    pub state: i16,
    pub verify: i16,
    pub person_no: Option<String>,
    pub name: Option<String>,
    pub department: Option<String>,
}

/// The newest punches of the site's day `day` (by the machine's clock), newest first, and how
/// many there are in all.
pub async fn of_day(
    pool: &PgPool,
    day: NaiveDate,
    limit: i64,
) -> Result<(Vec<DayPunch>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT p.terminal_id, t.name AS machine, p.user_id, p.terminal_time, p.state, p.verify,
                pe.person_no, pe.name, d.name AS department
           FROM punch p
           JOIN terminal t ON t.id = p.terminal_id
           LEFT JOIN att_user u ON u.user_id = p.user_id
           LEFT JOIN person pe ON pe.id = u.person_id
           LEFT JOIN department d ON d.id = pe.department_id
          WHERE p.terminal_time >= $1::date AND p.terminal_time < $1::date + 1
          ORDER BY p.terminal_time DESC, p.terminal_id, p.user_id
          LIMIT $2",
    )
    .bind(day)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM punch WHERE terminal_time >= $1::date AND terminal_time < $1::date + 1",
    )
    .bind(day)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}
