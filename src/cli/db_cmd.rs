//! `onecard db ...`: the database's status, start and stop, backup and restore.

use super::{cluster_for, open_owner, shell_actor, Database, DbCmd};
use crate::config::{Config, Paths};
use crate::db::embedded::ClusterStatus;
use crate::db::{self, backup};
use anyhow::bail;
use sqlx::PgPool;
use std::process::ExitCode;

pub(super) async fn db_command(
    command: &DbCmd,
    paths: &Paths,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    let external = config.database_url().is_some();
    match command {
        DbCmd::Status => {
            if external {
                let db = open_owner(paths, config, None, false).await?;
                print_schema_status(&db).await?;
            } else {
                let cluster = cluster_for(paths)?;
                say!("embedded cluster: {}", cluster.root().display());
                say!(
                    "server binaries:  {}",
                    cluster
                        .bin("postgres")
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
                match cluster.status() {
                    ClusterStatus::NotInitialised => {
                        say!("state:            not created yet (created at first use)")
                    }
                    ClusterStatus::Stopped => say!("state:            stopped"),
                    ClusterStatus::Running { pid } => {
                        say!(
                            "state:            running (pid {pid}), socket in {}",
                            cluster.socket_dir().display()
                        );
                        let db = open_owner(paths, config, None, false).await?;
                        print_schema_status(&db).await?;
                    }
                }
            }
        }
        DbCmd::Start => {
            if external {
                bail!("DATABASE_URL / database.url points at an external server: onecard does not start it");
            }
            let cluster = cluster_for(paths)?;
            let c2 = cluster.clone();
            let started = tokio::task::spawn_blocking(move || c2.ensure_running()).await??;
            say!(
                "embedded cluster {:?} in {}",
                started,
                cluster.root().display()
            );
        }
        DbCmd::Stop => {
            if external {
                bail!("DATABASE_URL / database.url points at an external server: onecard does not stop it");
            }
            let cluster = cluster_for(paths)?;
            let c2 = cluster.clone();
            if tokio::task::spawn_blocking(move || c2.stop()).await?? {
                say!("embedded cluster stopped");
            } else {
                say!("embedded cluster was not running");
            }
        }
        DbCmd::Migrate => {
            let db = open_owner(paths, config, None, false).await?;
            let before = applied_version(&db.pool).await?;
            db::migrate(&db.pool).await?;
            let after = applied_version(&db.pool).await?;
            say!("schema at version {after} (was {before})");
        }
        DbCmd::Backup { dir } => {
            let db = open_owner(paths, config, None, true).await?;
            let folder = dir
                .clone()
                .or_else(|| config.backup.dir.clone())
                .unwrap_or_else(|| paths.backup_dir());
            let record = backup::backup(
                &db.pool,
                &shell_actor(),
                &db.options,
                db.password.as_deref(),
                &db.tool("pg_dump"),
                &folder,
            )
            .await?;
            say!(
                "backup {} written: {} ({} bytes)",
                record.id,
                record.path,
                record.size_bytes
            );
        }
        DbCmd::Restore { file, database } => {
            let db = open_owner(paths, config, database.as_deref(), false).await?;
            backup::restore(
                &db.pool,
                &shell_actor(),
                &db.options,
                db.password.as_deref(),
                &db.tool("pg_restore"),
                file,
            )
            .await?;
            // A dump from an older onecard is brought up to date.
            db::migrate(&db.pool).await?;
            say!(
                "restored {} into {}",
                file.display(),
                db.options.get_database().unwrap_or("onecard")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn applied_version(pool: &PgPool) -> anyhow::Result<i64> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

async fn print_schema_status(db: &Database) -> anyhow::Result<()> {
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&db.pool)
        .await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&db.pool)
        .await?;
    say!("server:           PostgreSQL {version} ({})", db.label);
    say!(
        "database:         {} ({} kB)",
        db.options.get_database().unwrap_or("?"),
        size / 1024
    );
    say!(
        "schema version:   {} (this onecard knows up to {})",
        applied_version(&db.pool).await?,
        db::known_schema_version()
    );
    Ok(())
}
