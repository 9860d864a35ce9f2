//! Reaching the database: the embedded cluster or an external server, as the owner or a role.

use crate::app::state::DbWhere;
use crate::config::{Config, Paths};
use crate::db;
use crate::db::embedded::Cluster;
use crate::db::roles::Access;
use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use std::path::PathBuf;
use std::str::FromStr;

/// The database onecard works on, and how it was reached.
pub struct Database {
    pub pool: PgPool,
    pub options: PgConnectOptions,
    pub password: Option<String>,
    pub cluster: Option<Cluster>,
    pub label: String,
}

impl Database {
    pub(super) fn place(&self) -> DbWhere {
        match &self.cluster {
            Some(_) => DbWhere::Embedded,
            None => DbWhere::External(self.label.clone()),
        }
    }

    pub(super) fn tool(&self, name: &str) -> PathBuf {
        match &self.cluster {
            Some(c) => c.bin(name),
            None => PathBuf::from(name),
        }
    }
}

pub fn cluster_for(paths: &Paths) -> anyhow::Result<Cluster> {
    Ok(Cluster::new(paths.cluster_dir())?)
}

/// The demo's own database (`crate::demo::DATABASE` in the embedded cluster, whatever
/// `DATABASE_URL` says), created and loaded at first use, rebuilt with `reset`: what
/// `onecard demo` opens and every `--demo` acts on.
pub async fn demo_database(paths: &Paths, reset: bool) -> anyhow::Result<Database> {
    let cluster = cluster_for(paths)?;
    let c2 = cluster.clone();
    tokio::task::spawn_blocking(move || c2.ensure_running()).await??;
    let pool = crate::demo::prepare(&cluster, reset).await?;
    db::settings::load_time_zone(&pool).await?;
    Ok(Database {
        pool,
        options: cluster.connect_options(crate::demo::DATABASE),
        password: None,
        cluster: Some(cluster),
        label: "demo".to_string(),
    })
}

/// The demo's database with `demo`, else the configured one; as the console's role (the
/// operators' commands).
pub(super) async fn database_for(
    paths: &Paths,
    config: &Config,
    demo: bool,
) -> anyhow::Result<Database> {
    if demo {
        as_role(demo_database(paths, false).await?, config, Access::Console).await
    } else {
        open_database(paths, config, Access::Console).await
    }
}

/// The configured database, migrated (as the owner), then reached as `access`'s role.
pub async fn open_database(
    paths: &Paths,
    config: &Config,
    access: Access,
) -> anyhow::Result<Database> {
    let db = open_owner(paths, config, None, true).await?;
    as_role(db, config, access).await
}

/// The same database as `db` (the owner's), reached as `access`'s role (`db::roles`): on the
/// embedded cluster a login of the role over the socket; on an external server the role's own
/// URL when set, else the owner's with the role set at connection start. A role that does not
/// exist, or that the owner may not become, leaves the owner's connection, with a warning.
pub async fn as_role(db: Database, config: &Config, access: Access) -> anyhow::Result<Database> {
    let Some(role) = access.role() else {
        return Ok(db);
    };
    let database = db.options.get_database().unwrap_or("onecard").to_string();
    let (options, password) = match (&db.cluster, config.role_url(access)) {
        (None, Some(url)) => {
            let options = PgConnectOptions::from_str(&url)
                .with_context(|| format!("the URL for {role} is not a valid PostgreSQL URL"))?
                .database(&database);
            (options, url::password_of(&url))
        }
        _ if !db::roles::can_become(&db.pool, role).await? => {
            tracing::warn!(
                role,
                "the role does not exist or the owner may not become it: connecting as the owner"
            );
            return Ok(db);
        }
        (Some(cluster), _) => (cluster.connect_options_as(&database, role), None),
        (None, None) => (
            db::roles::set_role(db.options.clone(), role),
            db.password.clone(),
        ),
    };
    // The owner's pool is dropped, not closed: the demo's simulated site keeps a clone.
    let pool = db::connect(options.clone()).await?;
    Ok(Database {
        pool,
        options,
        password,
        cluster: db.cluster,
        label: db.label,
    })
}

/// Reaches the configured server (embedded unless a URL is set) as the schema's owner, creating
/// the embedded database on first use. `migrate` is false only for restore, which needs an
/// untouched database.
pub async fn open_owner(
    paths: &Paths,
    config: &Config,
    database: Option<&str>,
    migrate: bool,
) -> anyhow::Result<Database> {
    let (options, password, cluster, label) = match config.database_url() {
        Some(url) => {
            let mut options = PgConnectOptions::from_str(&url)
                .context("DATABASE_URL / database.url is not a valid PostgreSQL URL")?;
            if let Some(db) = database {
                options = options.database(db);
            }
            let password = url::password_of(&url);
            let label = options.get_host().to_string();
            (options, password, None, label)
        }
        None => {
            let cluster = cluster_for(paths)?;
            let c2 = cluster.clone();
            tokio::task::spawn_blocking(move || c2.ensure_running()).await??;
            let name = database
                .or(config.database.name.as_deref())
                .unwrap_or("onecard");
            cluster.create_database_if_missing(name).await?;
            (
                cluster.connect_options(name),
                None,
                Some(cluster),
                "embedded".to_string(),
            )
        }
    };
    let pool = db::connect(options.clone()).await?;
    if migrate {
        db::migrate(&pool).await?;
        db::settings::load_time_zone(&pool).await?;
    }
    Ok(Database {
        pool,
        options,
        password,
        cluster,
        label,
    })
}

mod url {
    /// The password in a URL, for libpq tools (sqlx keeps its own copy).
    pub fn password_of(url: &str) -> Option<String> {
        let rest = url.split("://").nth(1)?;
        let auth = rest.split('@').next().filter(|_| rest.contains('@'))?;
        auth.split_once(':').map(|(_, p)| p.to_string())
    }
}
