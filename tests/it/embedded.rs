//! The embedded cluster against real PostgreSQL processes: each test owns a cluster in its own
//! temp dir and stops it on the way out.

use crate::support;
use onecard::db::embedded::{find_bin_dir, find_bin_dir_in, Cluster, ClusterStatus, EmbeddedError};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::PrivateCluster as TempCluster;

async fn pool(cluster: &Cluster) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(cluster.connect_options("postgres"))
        .await
        .expect("connect")
}

async fn select_one(cluster: &Cluster) -> i32 {
    let mut conn = PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .expect("connect");
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut conn)
        .await
        .expect("select 1");
    conn.close().await.expect("close");
    one
}

#[tokio::test]
async fn init_start_connect_stop() {
    let t = TempCluster::new("onecard-emb-");
    let c = &t.cluster;
    assert_eq!(c.status(), ClusterStatus::NotInitialised);

    let begun = Instant::now();
    let started = c.ensure_running().expect("ensure_running");
    eprintln!("cold initdb + start: {:?}", begun.elapsed());
    assert!(started.created && !started.already_running);
    assert_eq!(c.status(), ClusterStatus::Running { pid: started.pid });

    assert_eq!(select_one(c).await, 1);
    // Private socket, no TCP listener.
    let mut conn = PgConnection::connect_with(&c.connect_options("postgres"))
        .await
        .unwrap();
    let listen: String = sqlx::query_scalar("show listen_addresses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let encoding: String = sqlx::query_scalar("show server_encoding")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(listen, "");
    assert_eq!(encoding, "UTF8");
    let socket_mode = std::fs::metadata(c.root()).unwrap().permissions().mode() & 0o777;
    assert_eq!(socket_mode, 0o700);

    assert!(c.create_database_if_missing("we\"ird name").await.unwrap());
    assert!(!c.create_database_if_missing("we\"ird name").await.unwrap());
    let conn = PgConnection::connect_with(&c.connect_options("we\"ird name"))
        .await
        .unwrap();
    c.drop_database("we\"ird name")
        .await
        .expect("drop with a session open");
    drop(conn.close().await);
    assert!(
        PgConnection::connect_with(&c.connect_options("we\"ird name"))
            .await
            .is_err()
    );

    assert!(c.stop().expect("stop"));
    assert_eq!(c.status(), ClusterStatus::Stopped);
    assert!(!c.stop().expect("second stop"), "already stopped");

    let begun = Instant::now();
    let again = c.ensure_running().expect("warm start");
    eprintln!("warm start: {:?}", begun.elapsed());
    assert!(!again.created && !again.already_running);
    assert_eq!(select_one(c).await, 1);
}

/// The socket's directory is the only thing between another account and a `trust` login as
/// the owner: one opened up while the server was down is closed again at the next start.
#[tokio::test]
async fn a_socket_directory_opened_to_others_is_closed_again_at_start() {
    let t = TempCluster::new("onecard-emb-");
    let c = &t.cluster;
    c.ensure_running().expect("ensure_running");
    assert!(c.stop().expect("stop"));
    std::fs::set_permissions(c.socket_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    c.ensure_running().expect("start again");
    let mode = std::fs::metadata(c.socket_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(select_one(c).await, 1);
}

#[tokio::test]
async fn second_console_shares_the_running_server() {
    let t = TempCluster::new("onecard-emb-");
    let c = &t.cluster;
    let first = c.ensure_running().expect("first");
    // A second console: its own Cluster value on the same root.
    let other = Cluster::new(c.root()).unwrap();
    let second = other.ensure_running().expect("second");
    assert!(!first.already_running);
    assert!(second.already_running && !second.created);
    assert_eq!(first.pid, second.pid);

    let (a, b) = (pool(c).await, pool(&other).await);
    let mut ca = a.acquire().await.unwrap();
    let mut cb = b.acquire().await.unwrap();
    let pa: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut *ca)
        .await
        .unwrap();
    let pb: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut *cb)
        .await
        .unwrap();
    assert_ne!(pa, pb);
    let sessions: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity where backend_type = 'client backend'",
    )
    .fetch_one(&mut *ca)
    .await
    .unwrap();
    assert!(sessions >= 2, "{sessions}");
    drop((ca, cb));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn stale_postmaster_pid_is_cleared() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let t = TempCluster::new("onecard-emb-");
    let c = &t.cluster;
    let pid = c.ensure_running().expect("start").pid;
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.status() != ClusterStatus::Stopped {
        assert!(Instant::now() < deadline, "postmaster {pid} did not die");
        std::thread::sleep(Duration::from_millis(50));
    }
    // As if the pid had been reused by an unrelated live process.
    let pid_file = c.root().join("data/postmaster.pid");
    let text = std::fs::read_to_string(&pid_file).expect("postmaster.pid left behind");
    let rest: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(
        &pid_file,
        format!("{}\n{}\n", std::process::id(), rest.join("\n")),
    )
    .unwrap();
    assert_eq!(c.status(), ClusterStatus::Stopped);

    let begun = Instant::now();
    let started = c
        .ensure_running()
        .expect("start over a stale postmaster.pid");
    eprintln!("restart after kill -9: {:?}", begun.elapsed());
    assert!(!started.already_running);
    assert_ne!(started.pid, pid);
    assert_eq!(select_one(c).await, 1);
}

#[tokio::test]
async fn start_failure_shows_the_server_log() {
    let t = TempCluster::new("onecard-emb-");
    let c = &t.cluster;
    c.ensure_running().expect("start");
    assert!(c.stop().unwrap());
    let conf = c.root().join("data/postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("shared_buffers = 'not a size'\n");
    std::fs::write(&conf, text).unwrap();
    let err = c.ensure_running().expect_err("bad config must fail");
    assert!(matches!(err, EmbeddedError::Start { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("server.log"), "{msg}");
    assert!(
        msg.contains("shared_buffers"),
        "log tail should name the bad setting: {msg}"
    );
}

#[test]
fn missing_binaries_give_one_clear_message() {
    let empty = tempfile::tempdir().unwrap();
    let err = find_bin_dir_in(
        Some(empty.path().as_os_str()),
        Some(empty.path().as_os_str()),
        empty.path(),
    )
    .expect_err("nothing to find");
    assert!(matches!(err, EmbeddedError::BinariesNotFound));
    let msg = err.to_string();
    assert!(
        msg.starts_with("PostgreSQL server binaries not found"),
        "{msg}"
    );
    assert!(
        msg.contains("apt-get install postgresql") && msg.contains("DATABASE_URL"),
        "{msg}"
    );
}

#[test]
fn binaries_found_via_path_symlink_and_highest_version() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let fake_bins = |dir: &Path, tools: &[&str]| {
        std::fs::create_dir_all(dir).unwrap();
        for tool in tools {
            let p = dir.join(tool);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    let all = ["pg_ctl", "initdb", "postgres"];
    fake_bins(&lib.join("9.6/bin"), &all);
    fake_bins(&lib.join("15/bin"), &all);
    fake_bins(&lib.join("16/bin"), &["pg_ctl", "psql"]); // client-only: skipped
    let lib15 = std::fs::canonicalize(lib.join("15/bin")).unwrap();

    let found = find_bin_dir_in(None, None, &lib).unwrap();
    assert_eq!(std::fs::canonicalize(found).unwrap(), lib15);

    // PATH holds only a symlink to pg_ctl, as /usr/local/bin does.
    let path_dir = tmp.path().join("path");
    std::fs::create_dir(&path_dir).unwrap();
    std::os::unix::fs::symlink(lib.join("9.6/bin/pg_ctl"), path_dir.join("pg_ctl")).unwrap();
    let found = find_bin_dir_in(None, Some(path_dir.as_os_str()), Path::new("/nonexistent"));
    assert_eq!(
        found.unwrap(),
        std::fs::canonicalize(lib.join("9.6/bin")).unwrap()
    );

    // The environment override wins; an unusable one is skipped.
    let found = find_bin_dir_in(Some(lib.join("9.6/bin").as_os_str()), None, &lib).unwrap();
    assert_eq!(found, std::fs::canonicalize(lib.join("9.6/bin")).unwrap());
    let found = find_bin_dir_in(Some(OsStr::new("/nonexistent")), None, &lib).unwrap();
    assert_eq!(std::fs::canonicalize(found).unwrap(), lib15);
}

#[test]
fn too_long_socket_path_is_refused_up_front() {
    let root = std::env::temp_dir().join("x".repeat(100));
    let err = Cluster::with_bin_dir(&root, "/nonexistent").expect_err("path too long");
    assert!(
        matches!(err, EmbeddedError::SocketPathTooLong { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("too deep"), "{err}");
}

#[test]
fn bin_points_into_the_server_installation() {
    let dir = find_bin_dir().expect("this machine has PostgreSQL");
    let c = Cluster::with_bin_dir("/tmp/onecard-x/pg", &dir).unwrap();
    assert!(c.bin("pg_dump").is_file() && c.bin("pg_restore").is_file() && c.bin("psql").is_file());
    assert_eq!(c.socket_dir(), Path::new("/tmp/onecard-x/pg"));
    assert_eq!(c.lock_path(), Path::new("/tmp/onecard-x/pg.lock"));
}

/// Under root the server runs as `postgres`, which must traverse every ancestor of the root dir:
/// a 0700 ancestor gets the search bit for others, and nothing more.
#[tokio::test]
async fn root_makes_private_ancestors_traversable() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: only meaningful as root");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("onecard-emb-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let outer = tmp.path().join("home");
    let inner = outer.join("data");
    std::fs::create_dir_all(&inner).unwrap();
    for dir in [tmp.path(), &outer, &inner] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let t = TempCluster {
        cluster: Cluster::new(inner.join("pg")).unwrap().ephemeral(),
        dir: tmp,
    };
    t.cluster
        .ensure_running()
        .expect("start under 0700 ancestors");
    assert_eq!(select_one(&t.cluster).await, 1);
    for dir in [&outer, &inner] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o701, "{}: only o+x may be added", dir.display());
    }
    let root_meta = std::fs::metadata(t.cluster.root()).unwrap();
    let postgres = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&root_meta),
        postgres.uid.as_raw()
    );
}

#[tokio::test]
async fn shared_test_cluster_gives_each_test_its_own_database() {
    let begun = Instant::now();
    let a = support::test_db().await;
    eprintln!(
        "first test_db (may include start + template): {:?}",
        begun.elapsed()
    );
    let begun = Instant::now();
    let b = support::test_db().await;
    eprintln!("second test_db: {:?}", begun.elapsed());
    assert_ne!(a.name, b.name);

    let current = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>("select current_database()")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(current(a.pool.clone()).await, a.name);
    assert_eq!(current(b.pool.clone()).await, b.name);
    // Migrated (sqlx records even an empty migration set) versus empty.
    let has_migrations = |pool: PgPool| async move {
        sqlx::query_scalar::<_, bool>("select to_regclass('_sqlx_migrations') is not null")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(has_migrations(a.pool.clone()).await);
    let empty = support::fresh_empty_db().await;
    assert!(!has_migrations(empty.pool.clone()).await);

    // The URL form reaches the same database (for child processes).
    let mut conn = PgConnection::connect(&a.url())
        .await
        .expect("connect by url");
    let via_url: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(via_url, a.name);
    conn.close().await.unwrap();

    let name = a.name.clone();
    drop(a);
    let mut admin = PgConnection::connect_with(&support::server_options("postgres"))
        .await
        .unwrap();
    let still_there: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!still_there, "dropping TestDb drops its database");
    admin.close().await.unwrap();
    if support::cluster().is_some() {
        assert!(matches!(
            support::cluster().unwrap().status(),
            ClusterStatus::Running { .. }
        ));
    }
}
