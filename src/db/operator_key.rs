//! The public keys operators sign in with over SSH: added, listed and removed from the command
//! line, each change authorised as operator management and audited in its transaction.

use super::audit;
use super::operator::{self, Operator};
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, Utc};
use russh::keys::{HashAlg, PublicKey};
use serde_json::json;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    pub login: String,
    /// The key in OpenSSH form (`ssh-ed25519 AAAA... comment`).
    pub public_key: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub algorithm: String,
    pub comment: String,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("no operator `{0}`")]
    NoOperator(String),
    #[error("not an OpenSSH public key ({0})")]
    BadKey(String),
    #[error("the key {0} is registered already")]
    Taken(String),
    #[error("operator `{login}` has no key {fingerprint}")]
    NotFound { login: String, fingerprint: String },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A public key in OpenSSH form (one line, as in `id_ed25519.pub`).
pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| KeyError::BadKey("empty".into()))?;
    PublicKey::from_openssh(line).map_err(|e| KeyError::BadKey(e.to_string()))
}

/// The key's SHA256 fingerprint, `SHA256:...`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn snapshot(k: &OperatorKey) -> serde_json::Value {
    json!({
        "login": k.login,
        "fingerprint": k.fingerprint,
        "algorithm": k.algorithm,
        "comment": k.comment,
    })
}

const COLUMNS: &str =
    "o.login, k.public_key, k.fingerprint, k.algorithm, k.comment, k.added_by, k.added_at";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<OperatorKey, sqlx::Error> {
    Ok(OperatorKey {
        login: row.try_get("login")?,
        public_key: row.try_get("public_key")?,
        fingerprint: row.try_get("fingerprint")?,
        algorithm: row.try_get("algorithm")?,
        comment: row.try_get("comment")?,
        added_by: row.try_get("added_by")?,
        added_at: row.try_get("added_at")?,
    })
}

/// Registers `key` (OpenSSH form) to operator `login`.
pub async fn add(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    key: &str,
) -> Result<OperatorKey, KeyError> {
    actor.authorize(Action::OperatorManage)?;
    let public = parse(key)?;
    let fp = fingerprint(&public);
    let text = public
        .to_openssh()
        .map_err(|e| KeyError::BadKey(e.to_string()))?;
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM operator WHERE login = $1 FOR UPDATE")
        .bind(login)
        .fetch_optional(&mut *tx)
        .await?;
    let id = id.ok_or_else(|| KeyError::NoOperator(login.to_string()))?;
    sqlx::query(
        "INSERT INTO operator_key (operator_id, public_key, fingerprint, algorithm, comment, added_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&text)
    .bind(&fp)
    .bind(public.algorithm().as_str())
    .bind(public.comment().as_str_lossy())
    .bind(&actor.name)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => KeyError::Taken(fp.clone()),
        _ => KeyError::Sql(e),
    })?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_key k JOIN operator o ON o.id = k.operator_id
         WHERE k.fingerprint = $1"
    ))
    .bind(&fp)
    .fetch_one(&mut *tx)
    .await?;
    let added = from_row(&row)?;
    audit::append(
        &mut tx,
        actor,
        "operator.key-add",
        "operator_key",
        &fp,
        None,
        Some(snapshot(&added)),
    )
    .await?;
    tx.commit().await?;
    Ok(added)
}

/// Every key, or one operator's, by login then date.
pub async fn list(pool: &PgPool, login: Option<&str>) -> Result<Vec<OperatorKey>, KeyError> {
    if let Some(login) = login {
        if operator::find(pool, login).await?.is_none() {
            return Err(KeyError::NoOperator(login.to_string()));
        }
    }
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_key k JOIN operator o ON o.id = k.operator_id
         WHERE $1::text IS NULL OR o.login = $1 ORDER BY o.login, k.added_at, k.id"
    ))
    .bind(login)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Removes operator `login`'s key with this fingerprint (`SHA256:...`, the prefix optional).
pub async fn remove(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    fingerprint: &str,
) -> Result<OperatorKey, KeyError> {
    actor.authorize(Action::OperatorManage)?;
    let fp = if fingerprint.starts_with("SHA256:") {
        fingerprint.to_string()
    } else {
        format!("SHA256:{fingerprint}")
    };
    let mut tx = pool.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_key k JOIN operator o ON o.id = k.operator_id
         WHERE k.fingerprint = $1 AND o.login = $2 FOR UPDATE OF k"
    ))
    .bind(&fp)
    .bind(login)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(KeyError::NotFound {
            login: login.to_string(),
            fingerprint: fp,
        });
    };
    let removed = from_row(&row)?;
    sqlx::query("DELETE FROM operator_key WHERE fingerprint = $1")
        .bind(&fp)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "operator.key-remove",
        "operator_key",
        &fp,
        Some(snapshot(&removed)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// The operator `login` when `key` is registered to them (whatever their state: the caller
/// refuses a disabled or locked one).
pub async fn operator_with_key(
    pool: &PgPool,
    login: &str,
    key: &PublicKey,
) -> Result<Option<Operator>, sqlx::Error> {
    let Some(op) = operator::find(pool, login).await? else {
        return Ok(None);
    };
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM operator_key WHERE operator_id = $1 AND fingerprint = $2)",
    )
    .bind(op.id)
    .bind(fingerprint(key))
    .fetch_one(pool)
    .await?;
    Ok(known.then_some(op))
}
