//! Patrol exceptions: missed and late visits, swept when their round closes. A duty operator
//! closes each with a comment; who closed it is recorded and audited.

use super::PatrolError;
use crate::db::audit;
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionClass {
    Missed,
    Late,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionState {
    Open,
    /// Closed by a duty operator, with a comment.
    Closed,
    /// A scan uploaded afterwards (a docked reader) made the visit on time.
    Scanned,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatrolException {
    pub visit_id: i64,
    pub class: ExceptionClass,
    pub state: ExceptionState,
    pub raised_at: DateTime<Utc>,
    pub guard: String,
    pub route: String,
    pub shift: String,
    pub checkpoint_tag: i64,
    pub checkpoint: String,
    pub due: DateTime<Utc>,
    pub win_end: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub comment: Option<String>,
}

const SELECT: &str = "SELECT e.visit_id, e.class, e.state, e.raised_at, coalesce(g.name, gg.name, '') AS guard,
       r.name AS route, v.shift, v.checkpoint_tag, c.name AS checkpoint, v.due, v.win_end, v.scanned_at,
       e.closed_at, e.closed_name, e.comment
  FROM patrol_exception e JOIN patrol_visit v ON v.id = e.visit_id
  JOIN patrol_route r ON r.id = v.route_id JOIN checkpoint c ON c.tag = v.checkpoint_tag
  LEFT JOIN guard g ON g.id = v.guard_id LEFT JOIN guard_group gg ON gg.id = v.group_id";

fn row(r: &sqlx::postgres::PgRow) -> Result<PatrolException, sqlx::Error> {
    let class: String = r.try_get("class")?;
    let state: String = r.try_get("state")?;
    Ok(PatrolException {
        visit_id: r.try_get("visit_id")?,
        class: if class == "late" {
            ExceptionClass::Late
        } else {
            ExceptionClass::Missed
        },
        state: match state.as_str() {
            "closed" => ExceptionState::Closed,
            "scanned" => ExceptionState::Scanned,
            _ => ExceptionState::Open,
        },
        raised_at: r.try_get("raised_at")?,
        guard: r.try_get("guard")?,
        route: r.try_get("route")?,
        shift: r.try_get("shift")?,
        checkpoint_tag: r.try_get("checkpoint_tag")?,
        checkpoint: r.try_get("checkpoint")?,
        due: r.try_get("due")?,
        win_end: r.try_get("win_end")?,
        scanned_at: r.try_get("scanned_at")?,
        closed_at: r.try_get("closed_at")?,
        closed_by: r.try_get("closed_name")?,
        comment: r.try_get("comment")?,
    })
}

/// The open exceptions, oldest due first (at most `limit`).
pub async fn open(pool: &PgPool, limit: i64) -> Result<Vec<PatrolException>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE e.state = 'open' ORDER BY v.due, v.id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// How many exceptions are open.
pub async fn open_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM patrol_exception WHERE state = 'open'")
        .fetch_one(pool)
        .await
}

/// Every exception of visits due in [from, to), open or not.
pub async fn between(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PatrolException>, sqlx::Error> {
    sqlx::query(&format!(
        "{SELECT} WHERE v.start_at >= $1 AND v.start_at < $2 ORDER BY v.due, v.id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// Closes an open exception with the operator's comment.
pub async fn close(
    pool: &PgPool,
    actor: &Actor,
    visit_id: i64,
    comment: &str,
) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(PatrolError::NoComment);
    }
    let mut tx = pool.begin().await?;
    let state: Option<(String, String)> =
        sqlx::query_as("SELECT state, class FROM patrol_exception WHERE visit_id = $1 FOR UPDATE")
            .bind(visit_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((state, class)) = state else {
        return Err(PatrolError::NoException(visit_id));
    };
    if state != "open" {
        return Err(PatrolError::AlreadyClosed);
    }
    sqlx::query(
        "UPDATE patrol_exception SET state = 'closed', closed_at = now(), closed_by = $2,
           closed_name = $3, comment = $4 WHERE visit_id = $1",
    )
    .bind(visit_id)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .bind(comment)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "patrol.exception.close",
        "patrol_exception",
        &visit_id.to_string(),
        Some(json!({ "state": state, "class": class })),
        Some(json!({ "state": "closed", "comment": comment })),
    )
    .await?;
    Change::patrol().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
