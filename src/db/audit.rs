//! The audit log: appended in the caller's transaction, verified as a hash chain.

use crate::domain::permission::Actor;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

/// Appends one audit row inside the caller's transaction (so the change and its record commit
/// together or not at all).
pub async fn append(
    tx: &mut PgConnection,
    actor: &Actor,
    action: &str,
    object_kind: &str,
    object_id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<i64, sqlx::Error> {
    if let Some(session) = actor.session {
        // Rights where the data is: the change commits only if its session still acts (not
        // ended, the operator not disabled), held so a kick or a disable waits for it.
        sqlx::query("SELECT 1 FROM session_actor($1)")
            .bind(session)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query_scalar("SELECT audit_append($1, $2, $3, $4, $5, $6, $7)")
        .bind(actor.operator_id)
        .bind(&actor.name)
        .bind(action)
        .bind(object_kind)
        .bind(object_id)
        .bind(before)
        .bind(after)
        .fetch_one(tx)
        .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The row's content no longer matches its hash: it was edited.
    Edited,
    /// The row does not point at the row before it: a row was deleted or inserted.
    Unlinked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub rows: u64,
    pub first_break: Option<(i64, Break)>,
}

/// Walks the chain in id order and reports the first broken link.
pub async fn verify(pool: &PgPool) -> Result<Verification, sqlx::Error> {
    use futures::TryStreamExt;
    let mut rows = sqlx::query(
        "SELECT id, prev_hash, hash,
                audit_digest(prev_hash, id, at, operator_id, actor, action, object_kind, object_id, before, after) AS recomputed
         FROM audit_log ORDER BY id",
    )
    .fetch(pool);
    let mut expected_prev: Vec<u8> = Vec::new();
    let mut count = 0u64;
    while let Some(row) = rows.try_next().await? {
        count += 1;
        let id: i64 = row.get("id");
        let prev: Vec<u8> = row.get("prev_hash");
        let hash: Vec<u8> = row.get("hash");
        let recomputed: Vec<u8> = row.get("recomputed");
        if prev != expected_prev {
            return Ok(Verification {
                rows: count,
                first_break: Some((id, Break::Unlinked)),
            });
        }
        if hash != recomputed {
            return Ok(Verification {
                rows: count,
                first_break: Some((id, Break::Edited)),
            });
        }
        expected_prev = hash;
    }
    Ok(Verification {
        rows: count,
        first_break: None,
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, actor, action, object_kind, object_id, before, after
         FROM audit_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How many audit rows there are (the console shows "200 of 2,321").
pub async fn count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
}
