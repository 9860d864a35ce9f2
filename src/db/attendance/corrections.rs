//! Corrections by the attendance administrator: a forgotten punch, an approved leave, a
//! business trip. Each is a row of its own with who made it and why; the raw punches are never
//! changed. A correction is never edited or deleted, only revoked once, with a reason. Adding
//! and revoking are audited in the same transaction, and the person-days it touches are marked
//! for recomputation by the table's trigger.

use super::AttendanceError;
use crate::db::audit;
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

/// What a correction says. Times are site time (the machines' wall clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CorrectionKind {
    /// A punch the person forgot.
    Punch { at: NaiveDateTime },
    /// Approved leave over [from, to); `leave_type` such as annual or sick.
    Leave {
        from: NaiveDateTime,
        to: NaiveDateTime,
        leave_type: Option<String>,
    },
    /// A business trip over [from, to).
    Trip {
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
}

impl CorrectionKind {
    pub fn name(&self) -> &'static str {
        match self {
            CorrectionKind::Punch { .. } => "punch",
            CorrectionKind::Leave { .. } => "leave",
            CorrectionKind::Trip { .. } => "trip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Correction {
    pub id: i64,
    pub person_id: i64,
    pub person_no: String,
    pub person_name: String,
    pub kind: CorrectionKind,
    pub reason: String,
    pub made_by: String,
    pub made_at: DateTime<Utc>,
    /// When, by whom and why it was revoked.
    pub revoked: Option<(DateTime<Utc>, String, String)>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    person_id: i64,
    person_no: String,
    person_name: String,
    kind: String,
    punch_at: Option<NaiveDateTime>,
    span_from: Option<NaiveDateTime>,
    span_to: Option<NaiveDateTime>,
    leave_type: Option<String>,
    reason: String,
    made_by: String,
    made_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    revoked_by: Option<String>,
    revoke_reason: Option<String>,
}

impl From<Row> for Correction {
    fn from(r: Row) -> Correction {
        let (from, to) = (
            r.span_from.unwrap_or_default(),
            r.span_to.unwrap_or_default(),
        );
        Correction {
            id: r.id,
            person_id: r.person_id,
            person_no: r.person_no,
            person_name: r.person_name,
            kind: match r.kind.as_str() {
                "punch" => CorrectionKind::Punch {
                    at: r.punch_at.unwrap_or_default(),
                },
                "trip" => CorrectionKind::Trip { from, to },
                _ => CorrectionKind::Leave {
                    from,
                    to,
                    leave_type: r.leave_type,
                },
            },
            reason: r.reason,
            made_by: r.made_by,
            made_at: r.made_at,
            revoked: match (r.revoked_at, r.revoked_by) {
                (Some(at), Some(by)) => Some((at, by, r.revoke_reason.unwrap_or_default())),
                _ => None,
            },
        }
    }
}

const COLUMNS: &str = "c.id, c.person_id, p.person_no, p.name AS person_name, c.kind, c.punch_at,
    c.span_from, c.span_to, c.leave_type, c.reason, c.made_by, c.made_at, c.revoked_at,
    c.revoked_by, c.revoke_reason";

/// Corrections touching [from, to] (site days), optionally of one person, newest first;
/// revoked ones included (they say so).
pub async fn list(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    person: Option<i64>,
) -> Result<Vec<Correction>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM att_correction c JOIN person p ON p.id = c.person_id
         WHERE coalesce(c.punch_at, c.span_to) >= $1::date
           AND coalesce(c.punch_at, c.span_from) < $2::date + 1
           AND ($3::bigint IS NULL OR c.person_id = $3)
         ORDER BY c.made_at DESC, c.id DESC"
    ))
    .bind(from)
    .bind(to)
    .bind(person)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Correction::from).collect())
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Correction>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM att_correction c JOIN person p ON p.id = c.person_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Correction::from))
}

/// Records a correction for `person_id`, audited; returns its id.
pub async fn add(
    pool: &PgPool,
    actor: &Actor,
    person_id: i64,
    kind: &CorrectionKind,
    reason: &str,
) -> Result<i64, AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AttendanceError::NoReason);
    }
    let (punch_at, span, leave_type) = match kind {
        CorrectionKind::Punch { at } => (Some(*at), None, None),
        CorrectionKind::Leave {
            from,
            to,
            leave_type,
        } => (None, Some((*from, *to)), leave_type.clone()),
        CorrectionKind::Trip { from, to } => (None, Some((*from, *to)), None),
    };
    if span.is_some_and(|(f, t)| t <= f) {
        return Err(AttendanceError::BadRange);
    }
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO att_correction (person_id, kind, punch_at, span_from, span_to, leave_type,
                                     reason, made_by, operator_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(person_id)
    .bind(kind.name())
    .bind(punch_at)
    .bind(span.map(|s| s.0))
    .bind(span.map(|s| s.1))
    .bind(
        leave_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    )
    .bind(reason)
    .bind(&actor.name)
    .bind(actor.operator_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            AttendanceError::NoPerson(person_id.to_string())
        }
        _ => AttendanceError::Sql(e),
    })?;
    audit::append(
        &mut tx,
        actor,
        "attendance.correction.add",
        "att_correction",
        &id.to_string(),
        None,
        Some(json!({"person_id": person_id, "correction": kind, "reason": reason})),
    )
    .await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Revokes a correction, once, with a reason; audited.
pub async fn revoke(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<(), AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AttendanceError::NoReason);
    }
    let mut tx = pool.begin().await?;
    let revoked: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT revoked_at FROM att_correction WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match revoked {
        None => return Err(AttendanceError::NoCorrection(id)),
        Some(Some(_)) => return Err(AttendanceError::AlreadyRevoked(id)),
        Some(None) => {}
    }
    sqlx::query(
        "UPDATE att_correction SET revoked_at = now(), revoked_by = $2, revoke_reason = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(&actor.name)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "attendance.correction.revoke",
        "att_correction",
        &id.to_string(),
        Some(json!({"revoked": false})),
        Some(json!({"revoked": true, "reason": reason})),
    )
    .await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
