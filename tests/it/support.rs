//! The test harness every database test uses: one PostgreSQL per test run, a fresh database per
//! test.
//!
//! Without `DATABASE_URL`, the server is an embedded cluster at
//! `$TMPDIR/onecard-test-pg-<euid>`, started on first use and left running so the next run (and
//! concurrently running test binaries) reuse it. With `DATABASE_URL`, that server is used.
//! Each test database is cloned from a template migrated once per migrations/ content.
#![allow(dead_code)]

use onecard::db::embedded::{quote_ident, Cluster};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Serialises template builds across processes sharing a server ("onecard" in ASCII).
const TEMPLATE_LOCK_KEY: i64 = 0x006f_6e65_6361_7264;

enum Server {
    Embedded(Cluster),
    External(Box<PgConnectOptions>),
}

static SERVER: OnceLock<Server> = OnceLock::new();
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn server() -> &'static Server {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => {
            Server::External(Box::new(url.parse().unwrap_or_else(|e| {
                panic!("DATABASE_URL is not a valid PostgreSQL URL: {e}")
            })))
        }
        _ => {
            let root = std::env::temp_dir().join(format!(
                "onecard-test-pg-{}",
                nix::unistd::geteuid().as_raw()
            ));
            let cluster = Cluster::new(&root)
                .unwrap_or_else(|e| panic!("test cluster at {}: {e}", root.display()))
                .ephemeral();
            // Blocks this test's thread once per process; the file lock inside makes
            // concurrent test processes share one server.
            cluster
                .ensure_running()
                .unwrap_or_else(|e| panic!("test cluster at {}: {e}", root.display()));
            Server::Embedded(cluster)
        }
    })
}

/// The shared embedded cluster (started), or None when tests run against `DATABASE_URL`.
pub fn cluster() -> Option<&'static Cluster> {
    match server() {
        Server::Embedded(cluster) => Some(cluster),
        Server::External(_) => None,
    }
}

/// Connect options for `database` on the test server.
pub fn server_options(database: &str) -> PgConnectOptions {
    match server() {
        Server::Embedded(cluster) => cluster.connect_options(database),
        Server::External(options) => (**options).clone().database(database),
    }
}

/// A database of its own for one test; dropped (sessions and all) when this is dropped.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    /// `DATABASE_URL` for a child process (`onecard serve`, the console): the embedded
    /// cluster's socket, or the external server.
    pub fn child_url(&self) -> String {
        match cluster() {
            Some(c) => format!(
                "postgres://onecard@localhost/{}?host={}",
                self.name,
                c.socket_dir().display()
            ),
            None => self.url(),
        }
    }

    /// A `postgres://` URL for this database, e.g. for a child process's `DATABASE_URL`. On an
    /// external server it is `DATABASE_URL` with this database's name: with its password,
    /// which the connect options would not give back.
    pub fn url(&self) -> String {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() && cluster().is_none() => {
                with_database(url.trim(), &self.name)
            }
            _ => self.options.to_url_lossy().to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = server_options("postgres");
        let name = self.name.clone();
        // Drop cannot await, and the test's runtime may be shutting down: use a runtime of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = conn
                        .execute(
                            format!(
                                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                                quote_ident(&name)
                            )
                            .as_str(),
                        )
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A fresh database with the current schema (cloned from the migrated template).
pub async fn test_db() -> TestDb {
    let template = TEMPLATE.get_or_init(build_template).await;
    create_db(template).await
}

/// Connect options for a test database as one of onecard's roles (`onecard_console`,
/// `onecard_serve`): a login of the role on the embedded cluster, `SET ROLE` at connection
/// start on an external server (as `onecard` does when only `DATABASE_URL` is given).
pub fn role_options(db: &TestDb, role: &str) -> PgConnectOptions {
    match cluster() {
        Some(c) => c.connect_options_as(&db.name, role),
        None => onecard::db::roles::set_role(db.options.clone(), role),
    }
}

/// A pool on a test database as one of onecard's roles ([`role_options`]).
pub async fn role_pool(db: &TestDb, role: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(role_options(db, role))
        .await
        .unwrap_or_else(|e| panic!("connecting to {} as {role}: {e}", db.name))
}

/// A fresh database with no schema at all (e.g. a restore target).
pub async fn fresh_empty_db() -> TestDb {
    create_db("template0").await
}

async fn admin_connection() -> PgConnection {
    let options = server_options("postgres");
    PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server's postgres database: {e}"))
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    conn.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("test server: `{sql}` failed: {e}"));
}

async fn create_db(template: &str) -> TestDb {
    let name = format!(
        "t_{}_{}_{:06x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>() & 0xff_ffff
    );
    let mut admin = admin_connection().await;
    exec(
        &mut admin,
        &format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(template)
        ),
    )
    .await;
    let _ = admin.close().await;
    let options = server_options(&name);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await
        .unwrap_or_else(|e| panic!("connecting to test database {name}: {e}"));
    TestDb {
        pool,
        name,
        options,
    }
}

/// `onecard_tpl_<hash of migrations/>`, built once per schema by whichever process gets there
/// first. It is built under another name and renamed, so a killed build never looks finished,
/// and it refuses connections afterwards, since a session on it would break every clone.
async fn build_template() -> String {
    // On a shared external server each role builds its own: a role may copy only a template
    // it owns (without superuser, as on a managed server).
    let name = match server() {
        Server::Embedded(_) => format!("onecard_tpl_{}", migrations_hash()),
        Server::External(options) => format!(
            "onecard_tpl_{}_{}",
            migrations_hash(),
            options.get_username()
        ),
    };
    let building = format!("{name}_build");
    let mut admin = admin_connection().await;
    // Session-level: released when this connection closes, even if we panic below.
    exec(
        &mut admin,
        &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"),
    )
    .await;
    if cluster().is_some() {
        drop_leaked_databases(&mut admin).await;
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("looking up the template database");
    if !exists {
        exec(
            &mut admin,
            &format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&building)
            ),
        )
        .await;
        exec(
            &mut admin,
            &format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(&building)
            ),
        )
        .await;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(server_options(&building))
            .await
            .unwrap_or_else(|e| panic!("connecting to {building}: {e}"));
        onecard::db::migrate(&pool)
            .await
            .unwrap_or_else(|e| panic!("migrating the test template: {e}"));
        // RENAME refuses while anyone is connected, and a closed connection's server process
        // may still be ending: try again for a while.
        pool.close().await;
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&building),
            quote_ident(&name)
        );
        let mut tries = 0;
        loop {
            match admin.execute(rename.as_str()).await {
                Ok(_) => break,
                Err(e)
                    if tries < 100 && e.to_string().contains("being accessed by other users") =>
                {
                    // Under the lock only our own closed pool can still be on it: a connection
                    // returned while the pool closed has been seen to stay open, and RENAME
                    // waits 5 s per try for it.
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&building)
                    .execute(&mut admin)
                    .await;
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("test server: `{rename}` failed: {e}"),
            }
        }
        exec(
            &mut admin,
            &format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS false",
                quote_ident(&name)
            ),
        )
        .await;
    }
    if cluster().is_some() {
        prune_old_templates(&mut admin, &name).await;
    }
    let _ = admin.close().await;
    name
}

/// Templates of earlier migration sets pile up while migrations are edited. Keep a few recent
/// ones: a concurrently running test binary built from other migrations may still clone one.
async fn prune_old_templates(admin: &mut PgConnection, current: &str) {
    const KEEP: usize = 6;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'onecard\\_tpl\\_%' ORDER BY oid DESC",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    // Under the advisory lock nobody is building, so a `_build` database is a killed build's.
    let (builds, done): (Vec<_>, Vec<_>) = names
        .into_iter()
        .filter(|n| n != current)
        .partition(|n| n.ends_with("_build"));
    for name in builds.into_iter().chain(done.into_iter().skip(KEEP)) {
        let _ = admin
            .execute(
                format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&name)
                )
                .as_str(),
            )
            .await;
    }
}

/// Test databases left by killed test processes on the private test cluster (never on a
/// `DATABASE_URL` server, whose pids may belong to other machines).
async fn drop_leaked_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let Some(pid) = name.split('_').nth(1).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone {
            let _ = admin
                .execute(
                    format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        quote_ident(&name)
                    )
                    .as_str(),
                )
                .await;
        }
    }
}

/// First 12 hex digits of SHA-256 over migrations/ (file names and contents, sorted by name).
fn migrations_hash() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut hasher = Sha256::new();
    for path in files {
        let contents = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("reading migration {}: {e}", path.display()));
        let file_name = path.file_name().unwrap_or_default();
        hasher.update(file_name.as_encoded_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    hex::encode(hasher.finalize())[..12].to_string()
}

/// A door controller named 图书馆东门 on the line "main gate", added through the inventory
/// API (so audited like a real one). Returns (line id, terminal id).
pub async fn library_door(pool: &PgPool) -> (i64, i64) {
    use onecard::db::terminal::{self, NewLine};
    let shell = onecard::domain::permission::Actor::shell("root");
    let mut tx = pool.begin().await.unwrap();
    let line = terminal::add_line(
        &mut tx,
        &shell,
        &NewLine {
            name: "main gate",
            protocol: "uhppote",
            transport: "udp",
            address: "127.0.0.1:60000",
            baud: None,
            poll_interval_ms: 1000,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let id = door_on_main_gate(pool, 405419896, "图书馆东门", "Library east").await;
    (line.id, id)
}

/// A door controller on `library_door`'s line.
pub async fn door_on_main_gate(pool: &PgPool, serial: i64, name: &str, location: &str) -> i64 {
    use onecard::db::terminal::{self, NewTerminal};
    let shell = onecard::domain::permission::Actor::shell("root");
    let mut tx = pool.begin().await.unwrap();
    let id = terminal::add_terminal(
        &mut tx,
        &shell,
        &NewTerminal {
            line: "main gate",
            kind: "door_controller",
            address: serial,
            name,
            location,
            installed_at: None,
            installed_by: "David",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// A cluster of its own in a temp dir, stopped when dropped (even when the test panics): for
/// tests that stop, kill or break a server, which the shared one must never suffer.
pub struct PrivateCluster {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

impl PrivateCluster {
    pub fn new(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(std::env::temp_dir())
            .expect("temp dir");
        let cluster = Cluster::new(dir.path().join("pg"))
            .expect("cluster")
            .ephemeral();
        Self { cluster, dir }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
    }
}

/// `url` naming `database` instead of its own (its user, password and parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// What `onecard ledger verify` checks, asserted: every entry sums to zero, each movement's too,
/// and every cached balance is minus the sum of its entries. Run after every test that moves
/// money.
pub async fn verify_ledger(pool: &PgPool) {
    let v = onecard::db::ledger::verify(pool).await.unwrap();
    assert!(v.is_ok(), "the books do not balance: {v:#?}");
}

/// A quiet `onecard serve` with `args` on `url`, its config and data under `dirs`, started.
pub fn spawn_serve(url: String, dirs: &std::path::Path, args: &[&str]) -> std::process::Child {
    serve_command(url, dirs, args)
        .spawn()
        .expect("spawn onecard serve")
}

/// [`spawn_serve`]'s command, for a caller that sets more of its environment.
pub fn serve_command(url: String, dirs: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_onecard"));
    c.arg("serve")
        .args(args)
        .env("DATABASE_URL", url)
        .env("ONECARD_CONFIG_DIR", dirs.join("config"))
        .env("ONECARD_DATA_DIR", dirs.join("data"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// A live alarm of `kind`, at `door` of `terminal` when given, with no card and no detail.
pub fn new_alarm(
    kind: onecard::domain::alarm::AlarmKind,
    terminal_id: Option<i64>,
    door: Option<i16>,
) -> onecard::db::alarm::NewAlarm {
    onecard::db::alarm::NewAlarm {
        kind,
        terminal_id,
        door,
        card: None,
        detail: String::new(),
        late: false,
    }
}
