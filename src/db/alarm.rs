//! Alarms: raised in the same transaction as the record or fault that raised them,
//! acknowledged with a note by an operator, cleared when dealt with (or force-cleared with a
//! reason), then kept as history.

use super::audit;
use super::notify::Change;
use crate::domain::alarm::AlarmKind;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Alarm {
    pub id: i64,
    pub kind: String,
    pub priority: i16,
    pub terminal_id: Option<i64>,
    pub terminal_name: Option<String>,
    /// Where the terminal is (its inventory location).
    pub terminal_location: Option<String>,
    pub door: Option<i16>,
    /// A door alarm's door: its name ('' until someone names it) and where it is.
    pub door_name: Option<String>,
    pub door_location: Option<String>,
    pub card: Option<i64>,
    pub detail: String,
    pub raised_at: DateTime<Utc>,
    pub late: bool,
    pub state: String,
    pub handling_by: Option<String>,
    pub acknowledged_by: Option<String>,
    pub note: Option<String>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// Who cleared it; None for a fault cleared because it went away.
    pub cleared_by: Option<String>,
    /// Why it was force-cleared (never acknowledged).
    pub clear_reason: Option<String>,
}

const SELECT: &str = "SELECT a.id, a.kind, a.priority, a.terminal_id, t.name AS terminal_name,
        t.location AS terminal_location, a.door, dr.name AS door_name, dr.location AS door_location,
        a.card, a.detail, a.raised_at, a.late, a.state, h.login AS handling_by,
        k.login AS acknowledged_by, a.note, a.cleared_at, c.login AS cleared_by, a.clear_reason
     FROM alarm a
     LEFT JOIN terminal t ON t.id = a.terminal_id
     LEFT JOIN door dr ON dr.terminal_id = a.terminal_id AND dr.door = a.door
     LEFT JOIN operator h ON h.id = a.handling_by
     LEFT JOIN operator k ON k.id = a.acknowledged_by
     LEFT JOIN operator c ON c.id = a.cleared_by";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlarm {
    pub kind: AlarmKind,
    pub terminal_id: Option<i64>,
    pub door: Option<i16>,
    pub card: Option<i64>,
    pub detail: String,
    pub late: bool,
}

/// Raises an alarm inside the caller's transaction. A terminal fault already open is not
/// raised again (None).
pub async fn raise(tx: &mut PgConnection, a: &NewAlarm) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO alarm (kind, priority, terminal_id, door, card, detail, late) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(a.kind.name())
    .bind(a.kind.priority())
    .bind(a.terminal_id)
    .bind(a.door)
    .bind(a.card)
    .bind(&a.detail)
    .bind(a.late)
    .fetch_optional(tx)
    .await
}

/// Raises a terminal fault in its own transaction, announcing it. Returns the new id, or None
/// when the same fault is already open.
pub async fn raise_fault(pool: &PgPool, a: &NewAlarm) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id = raise(&mut tx, a).await?;
    if let Some(id) = id {
        Change::alarms(vec![id]).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Clears an open fault of a terminal once it has gone away (the terminal answers again).
pub async fn clear_fault(
    pool: &PgPool,
    terminal_id: i64,
    kind: AlarmKind,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE alarm SET state = 'cleared', cleared_at = now()
         WHERE terminal_id = $1 AND kind = $2 AND state <> 'cleared' RETURNING id",
    )
    .bind(terminal_id)
    .bind(kind.name())
    .fetch_all(&mut *tx)
    .await?;
    if !ids.is_empty() {
        Change::alarms(ids.clone()).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("alarm {0} does not exist")]
    NotFound(i64),
    #[error("alarm {id} is {state}: only an active alarm is acknowledged")]
    NotActive { id: i64, state: String },
    #[error("alarm {0} is already cleared")]
    Cleared(i64),
    #[error("an acknowledgement needs a note")]
    NoteMissing,
    #[error("clearing an alarm nobody acknowledged needs a reason")]
    ReasonMissing,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

async fn change_state(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    action: &str,
    check: impl FnOnce(&str) -> Result<(), AlarmError>,
    sql: &str,
    // `$3` of `sql`, recorded in the audit row under its name ("note" or "reason")
    (text_key, text): (&str, Option<&str>),
) -> Result<(), AlarmError> {
    actor.authorize(Action::AlarmAcknowledge)?;
    let mut tx = pool.begin().await?;
    let state: String = sqlx::query_scalar("SELECT state FROM alarm WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AlarmError::NotFound(id))?;
    check(&state)?;
    sqlx::query(sql)
        .bind(id)
        .bind(actor.operator_id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    let after: String = sqlx::query_scalar("SELECT state FROM alarm WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        action,
        "alarm",
        &id.to_string(),
        Some(serde_json::json!({ "state": state })),
        Some(serde_json::json!({ "state": after, text_key: text })),
    )
    .await?;
    Change::alarms(vec![id]).send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks who is dealing with an alarm, so other consoles show it is taken.
pub async fn take(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), AlarmError> {
    change_state(
        pool,
        actor,
        id,
        "alarm.take",
        |s| {
            if s == "cleared" {
                Err(AlarmError::Cleared(id))
            } else {
                Ok(())
            }
        },
        "UPDATE alarm SET handling_by = $2 WHERE id = $1 AND $3::text IS NULL",
        ("note", None),
    )
    .await
}

pub async fn acknowledge(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    note: &str,
) -> Result<(), AlarmError> {
    if note.trim().is_empty() {
        return Err(AlarmError::NoteMissing);
    }
    change_state(
        pool,
        actor,
        id,
        "alarm.acknowledge",
        |s| {
            if s == "active" {
                Ok(())
            } else {
                Err(AlarmError::NotActive { id, state: s.to_string() })
            }
        },
        "UPDATE alarm SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = now(), note = $3,
             handling_by = coalesce(handling_by, $2) WHERE id = $1",
        ("note", Some(note.trim())),
    )
    .await
}

/// Clears an acknowledged alarm: dealt with.
pub async fn clear(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), AlarmError> {
    change_state(
        pool,
        actor,
        id,
        "alarm.clear",
        |s| match s {
            "cleared" => Err(AlarmError::Cleared(id)),
            "active" => Err(AlarmError::NotActive { id, state: s.to_string() }),
            _ => Ok(()),
        },
        "UPDATE alarm SET state = 'cleared', cleared_at = now(), cleared_by = $2 WHERE id = $1 AND $3::text IS NULL",
        ("note", None),
    )
    .await
}

/// Clears an alarm whether or not anyone acknowledged it, saying why (required): the reason is
/// kept on the alarm (`clear_reason`) and in the audit row.
pub async fn force_clear(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<(), AlarmError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AlarmError::ReasonMissing);
    }
    change_state(
        pool,
        actor,
        id,
        "alarm.force-clear",
        |s| match s {
            "cleared" => Err(AlarmError::Cleared(id)),
            _ => Ok(()),
        },
        "UPDATE alarm SET state = 'cleared', cleared_at = now(), cleared_by = $2, clear_reason = $3 WHERE id = $1",
        ("reason", Some(reason)),
    )
    .await
}

/// Open alarms (active and acknowledged), most urgent first.
pub async fn open(pool: &PgPool) -> Result<Vec<Alarm>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.state <> 'cleared' ORDER BY a.late, a.state = 'acknowledged', a.priority, a.raised_at DESC LIMIT 500"
    ))
    .fetch_all(pool)
    .await
}

pub async fn by_id(pool: &PgPool, ids: &[i64]) -> Result<Vec<Alarm>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE a.id = ANY($1)"))
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Unacknowledged alarms by priority, for the alarm strip.
pub async fn active_counts(pool: &PgPool) -> Result<Vec<(i16, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT priority, count(*) FROM alarm WHERE state = 'active' GROUP BY priority ORDER BY priority")
        .fetch_all(pool)
        .await
}

/// How many alarms are open (the view lists the most urgent 500).
pub async fn open_total(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM alarm WHERE state <> 'cleared'")
        .fetch_one(pool)
        .await
}

/// Which closed alarms to list. Empty: all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmHistoryQuery {
    /// Raised at or after.
    pub from: Option<DateTime<Utc>>,
    /// Raised before.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<AlarmKind>,
    /// A terminal's alarms; with `door`, one door's.
    pub terminal_id: Option<i64>,
    pub door: Option<i16>,
    /// Rows to skip (the pages before), and at most this many rows.
    pub offset: i64,
    pub limit: i64,
}

/// One page of closed alarms and how many there are in all ("200 of 2,321").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmPage {
    pub rows: Vec<Alarm>,
    pub total: u64,
}

/// Closed alarms, newest first (by when they were raised), a page at a time.
pub async fn history(pool: &PgPool, q: &AlarmHistoryQuery) -> Result<AlarmPage, sqlx::Error> {
    fn filters(b: &mut QueryBuilder<'_, Postgres>, q: &AlarmHistoryQuery) {
        b.push(" WHERE a.state = 'cleared'");
        if let Some(from) = q.from {
            b.push(" AND a.raised_at >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            b.push(" AND a.raised_at < ").push_bind(to);
        }
        if let Some(kind) = q.kind {
            b.push(" AND a.kind = ").push_bind(kind.name());
        }
        if let Some(t) = q.terminal_id {
            b.push(" AND a.terminal_id = ").push_bind(t);
        }
        if let Some(d) = q.door {
            b.push(" AND a.door = ").push_bind(d);
        }
    }
    let mut count = QueryBuilder::new("SELECT count(*) FROM alarm a");
    filters(&mut count, q);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut page = QueryBuilder::new(SELECT);
    filters(&mut page, q);
    page.push(" ORDER BY a.raised_at DESC, a.id DESC LIMIT ")
        .push_bind(q.limit.max(0))
        .push(" OFFSET ")
        .push_bind(q.offset.max(0));
    let rows = page.build_query_as().fetch_all(pool).await?;
    Ok(AlarmPage {
        rows,
        total: u64::try_from(total).unwrap_or(0),
    })
}
