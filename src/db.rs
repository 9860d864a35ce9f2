//! The store: PostgreSQL, embedded by default. One file per table group.

pub mod alarm;
pub mod audit;
pub mod backup;
pub mod card;
pub mod command;
pub mod copy;
pub mod door;
pub mod door_group;
pub mod embedded;
pub mod ingest;
pub mod ledger;
pub mod listen;
pub mod notify;
pub mod operator;
pub mod person;
pub mod propagation;
pub mod settings;
pub mod stock;
pub mod terminal;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::time::Duration;

/// The schema, compiled in. `build.rs` makes cargo rebuild when a migration changes.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database schema is at version {found}, newer than this onecard knows (up to {known}); install the newer onecard")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("migration failed: {0}")]
    Migrate(#[source] MigrateError),
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Newest migration version this binary carries.
pub fn known_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies pending migrations; a database migrated by a newer onecard is refused in plain words.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    match MIGRATOR.run(pool).await {
        Ok(()) => Ok(()),
        Err(MigrateError::VersionMissing(found)) => Err(DbError::SchemaTooNew {
            found,
            known: known_schema_version(),
        }),
        Err(e) => Err(DbError::Migrate(e)),
    }
}

/// A pool sized for one console or one service process.
pub async fn connect(options: PgConnectOptions) -> Result<PgPool, DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}
