//! `pg_dump` backups with a record of each, and restore into an empty database.

use super::audit;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("cannot run {tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    #[error("{tool} failed: {stderr}")]
    ToolFailed { tool: String, stderr: String },
    #[error("cannot use backup folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("backup file {0} does not exist")]
    NoSuchFile(PathBuf),
    #[error(
        "the target database is not empty ({0} tables): restore only goes into an empty database"
    )]
    NotEmpty(i64),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BackupRecord {
    pub id: i64,
    pub taken_at: DateTime<Utc>,
    pub taken_by: String,
    pub database: String,
    pub path: String,
    pub size_bytes: i64,
}

/// How to reach the server from a client tool: libpq environment, never a password on argv.
fn libpq_env(cmd: &mut Command, options: &PgConnectOptions) {
    // A Unix-socket connection (the embedded cluster) names the socket's directory as the host.
    let host = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None => options.get_host().to_string(),
    };
    cmd.env("PGHOST", host)
        .env("PGPORT", options.get_port().to_string())
        .env("PGUSER", options.get_username());
    if let Some(db) = options.get_database() {
        cmd.env("PGDATABASE", db);
    }
}

fn run(mut cmd: Command, tool: &str) -> Result<(), BackupError> {
    let out = cmd.output().map_err(|source| BackupError::Spawn {
        tool: tool.to_string(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::ToolFailed {
            tool: tool.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Writes `<folder>/onecard-<db>-<UTC timestamp>.dump` (custom format) and records it.
/// `password` is passed through the environment when the server needs one.
pub async fn backup(
    pool: &PgPool,
    actor: &Actor,
    options: &PgConnectOptions,
    password: Option<&str>,
    pg_dump: &Path,
    folder: &Path,
) -> Result<BackupRecord, BackupError> {
    actor.authorize(Action::DatabaseBackup)?;
    let (path, size) = dump(options, password, pg_dump, folder).await?;
    let mut tx = pool.begin().await?;
    let record = record(&mut tx, actor, options, &path, size).await?;
    tx.commit().await?;
    Ok(record)
}

/// Runs `pg_dump` into the folder: the file's path and size.
async fn dump(
    options: &PgConnectOptions,
    password: Option<&str>,
    pg_dump: &Path,
    folder: &Path,
) -> Result<(PathBuf, u64), BackupError> {
    std::fs::create_dir_all(folder).map_err(|source| BackupError::Folder {
        path: folder.to_path_buf(),
        source,
    })?;
    let database = options.get_database().unwrap_or("onecard").to_string();
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let path = folder.join(format!("onecard-{database}-{stamp}.dump"));
    let partial = path.with_extension("dump.partial");
    let mut cmd = Command::new(pg_dump);
    libpq_env(&mut cmd, options);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(&partial);
    let tool = pg_dump.display().to_string();
    tokio::task::spawn_blocking(move || run(cmd, &tool))
        .await
        .expect("pg_dump task panicked")?;
    // Only a finished dump gets the real name: a killed backup never looks complete.
    std::fs::rename(&partial, &path).map_err(|source| BackupError::Folder {
        path: path.clone(),
        source,
    })?;
    let size = std::fs::metadata(&path)
        .map_err(|source| BackupError::Folder {
            path: path.clone(),
            source,
        })?
        .len();
    Ok((path, size))
}

/// The backup's row and its audit row, in the caller's transaction.
async fn record(
    tx: &mut PgConnection,
    actor: &Actor,
    options: &PgConnectOptions,
    path: &Path,
    size: u64,
) -> Result<BackupRecord, BackupError> {
    let database = options.get_database().unwrap_or("onecard").to_string();
    let record: BackupRecord = sqlx::query_as(
        "INSERT INTO backup (taken_by, database, path, size_bytes) VALUES ($1, $2, $3, $4)
         RETURNING id, taken_at, taken_by, database, path, size_bytes",
    )
    .bind(&actor.name)
    .bind(&database)
    .bind(path.display().to_string())
    .bind(size as i64)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        tx,
        actor,
        "database.backup",
        "backup",
        &record.id.to_string(),
        None,
        Some(serde_json::json!({ "path": record.path, "size_bytes": record.size_bytes })),
    )
    .await?;
    Ok(record)
}

/// `serve --backup-at HH:MM`: the daily backup, where and how.
#[derive(Debug, Clone)]
pub struct Daily {
    /// The site's wall-clock time after which the day's backup is due.
    pub at: NaiveTime,
    pub folder: PathBuf,
    pub pg_dump: PathBuf,
    /// How `pg_dump` connects.
    pub options: PgConnectOptions,
    pub password: Option<String>,
    /// This process's name (`serve --worker`), kept with the day's claim.
    pub worker: String,
}

/// Key of the transaction lock under which a day's backup is claimed, taken and recorded.
const DAILY_LOCK: &str = "onecard daily backup";

/// Takes the day's backup if it is due (`now`, the site's wall clock, is past `daily.at`) and
/// no process took it yet: Some(record) when this call took it. Two `serve` processes may call
/// this at once: the claim (a transaction lock, then the day's row, written in the transaction
/// that records the backup) lets one take it; the other sees it busy, or taken, and does nothing.
pub async fn daily_if_due(
    pool: &PgPool,
    actor: &Actor,
    daily: &Daily,
    now: NaiveDateTime,
) -> Result<Option<BackupRecord>, BackupError> {
    if now.time() < daily.at {
        return Ok(None);
    }
    let day = now.date();
    let mut tx = pool.begin().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(DAILY_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !got {
        return Ok(None);
    }
    let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM backup_day WHERE day = $1)")
        .bind(day)
        .fetch_one(&mut *tx)
        .await?;
    if taken {
        return Ok(None);
    }
    actor.authorize(Action::DatabaseBackup)?;
    let (path, size) = dump(
        &daily.options,
        daily.password.as_deref(),
        &daily.pg_dump,
        &daily.folder,
    )
    .await?;
    let record = record(&mut tx, actor, &daily.options, &path, size).await?;
    sqlx::query("INSERT INTO backup_day (day, backup_id, worker) VALUES ($1, $2, $3)")
        .bind(day)
        .bind(record.id)
        .bind(&daily.worker)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(record))
}

pub async fn list(pool: &PgPool) -> Result<Vec<BackupRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, taken_at, taken_by, database, path, size_bytes FROM backup ORDER BY id DESC",
    )
    .fetch_all(pool)
    .await
}

/// Counts the tables a restore would collide with.
pub async fn user_tables(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(pool)
    .await
}

/// Restores a dump into an empty database, in one transaction: all of it or nothing.
pub async fn restore(
    pool: &PgPool,
    actor: &Actor,
    options: &PgConnectOptions,
    password: Option<&str>,
    pg_restore: &Path,
    file: &Path,
) -> Result<(), BackupError> {
    actor.authorize(Action::DatabaseRestore)?;
    if !file.is_file() {
        return Err(BackupError::NoSuchFile(file.to_path_buf()));
    }
    let tables = user_tables(pool).await?;
    if tables > 0 {
        return Err(BackupError::NotEmpty(tables));
    }
    let mut cmd = Command::new(pg_restore);
    libpq_env(&mut cmd, options);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let db = options.get_database().unwrap_or("onecard").to_string();
    // No grants: a dump names onecard's roles, which another cluster may lack; `migrate`,
    // run after the restore, grants them again (and creates them where missing).
    cmd.arg("--no-owner")
        .arg("--no-privileges")
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .arg("--dbname")
        .arg(db)
        .arg(file);
    let tool = pg_restore.display().to_string();
    tokio::task::spawn_blocking(move || run(cmd, &tool))
        .await
        .expect("pg_restore task panicked")?;
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        actor,
        "database.restore",
        "database",
        options.get_database().unwrap_or("onecard"),
        None,
        Some(serde_json::json!({ "from": file.display().to_string() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
