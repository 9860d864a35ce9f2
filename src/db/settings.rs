//! Site settings: one row per key, every change audited.

use super::audit;
use crate::domain::permission::{Action, Actor, Denied};
use serde_json::Value;
use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub async fn get(pool: &PgPool, key: &str) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM setting WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

pub async fn set(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    value: Value,
) -> Result<(), SettingError> {
    change(pool, actor, key, Some(value)).await
}

/// Removes a setting, so its reader takes the default; audited like a change.
pub async fn clear(pool: &PgPool, actor: &Actor, key: &str) -> Result<(), SettingError> {
    change(pool, actor, key, None).await
}

/// Sets `key` to `value` (None: removes it), with its audit row in the same transaction; a
/// change to what is there already writes nothing.
async fn change(
    pool: &PgPool,
    actor: &Actor,
    key: &str,
    value: Option<Value>,
) -> Result<(), SettingError> {
    actor.authorize(Action::SettingChange)?;
    let mut tx = pool.begin().await?;
    let before: Option<Value> =
        sqlx::query_scalar("SELECT value FROM setting WHERE key = $1 FOR UPDATE")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    if before == value {
        return Ok(());
    }
    match &value {
        Some(v) => {
            sqlx::query(
                "INSERT INTO setting (key, value, updated_by) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by",
            )
            .bind(key)
            .bind(v)
            .bind(&actor.name)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM setting WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::append(
        &mut tx,
        actor,
        "setting.change",
        "setting",
        key,
        before,
        value,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Reads the site's time zone (`site.time_zone`) into [`crate::domain::time`]: every process
/// does at start. A name that is no zone is said in the log, and the system's zone is used.
pub async fn load_time_zone(pool: &PgPool) -> Result<(), sqlx::Error> {
    use crate::domain::time;
    let zone = match get(pool, time::ZONE_KEY).await? {
        Some(Value::String(name)) => match time::parse_zone(&name) {
            Ok(tz) => Some(tz),
            Err(e) => {
                tracing::warn!("{}: {e}; the system's time zone is used", time::ZONE_KEY);
                None
            }
        },
        _ => None,
    };
    time::set_zone(zone);
    Ok(())
}
