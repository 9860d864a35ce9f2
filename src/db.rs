//! The store: PostgreSQL, embedded by default. One file per table group.

pub mod alarm;
pub mod attendance;
pub mod audit;
pub mod backup;
pub mod card;
pub mod command;
pub mod copy;
pub mod desk;
pub mod door;
pub mod door_group;
pub mod embedded;
pub mod ingest;
pub mod ledger;
pub mod listen;
pub mod machine_sync;
pub mod merchant;
pub mod notify;
pub mod operator;
pub mod operator_key;
pub mod patrol;
pub mod person;
pub mod pos;
pub mod propagation;
pub mod punch;
pub mod reconcile;
pub mod roles;
pub mod settings;
pub mod settlement;
pub mod stock;
pub mod takings;
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
    /// The server could not be reached or refused us: said once, naming the server, the
    /// database and the role, and why.
    #[error(
        "cannot connect to the database server {server} (database {database}, as {user}): {why}"
    )]
    Unreachable {
        server: String,
        database: String,
        user: String,
        why: String,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Newest migration version this binary carries.
pub fn known_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies pending migrations; a database migrated by a newer onecard is refused in plain words.
/// Then sets the roles' grants again ([`roles`]), so a table a later migration adds is covered
/// without that migration saying so. Run as the schema's owner.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    match MIGRATOR.run(pool).await {
        Ok(()) => {}
        Err(MigrateError::VersionMissing(found)) => {
            return Err(DbError::SchemaTooNew {
                found,
                known: known_schema_version(),
            })
        }
        Err(e) => return Err(DbError::Migrate(e)),
    }
    roles::grant(pool).await?;
    Ok(())
}

/// How long the first connection may take before the server counts as unreachable.
const FIRST_CONNECT: Duration = Duration::from_secs(10);

/// Why a first connection failed, in the server's or the system's own words (a pool would only
/// say it timed out).
fn why_not(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(t) => format!("TLS: {t}"),
        other => other.to_string(),
    }
}

/// A pool sized for one console or one service process. One direct connection first, so a
/// server that cannot be reached, or refuses the role or its password, is said once and why.
pub async fn connect(options: PgConnectOptions) -> Result<PgPool, DbError> {
    use sqlx::{ConnectOptions, Connection};
    let unreachable = |why: String| DbError::Unreachable {
        server: format!("{}:{}", options.get_host(), options.get_port()),
        database: options.get_database().unwrap_or("(default)").to_string(),
        user: options.get_username().to_string(),
        why,
    };
    match tokio::time::timeout(FIRST_CONNECT, options.connect()).await {
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {} s",
                FIRST_CONNECT.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(unreachable(why_not(&e))),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}
