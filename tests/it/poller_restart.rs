//! The crash test from the other side: `onecard serve` keeps ingesting while its PostgreSQL is
//! stopped and started under it (fast shutdowns and one crash-like immediate stop). It runs on a
//! PRIVATE embedded cluster: the shared test cluster serves other tests concurrently.

use crate::poller::{drained, expected, lock_holders, quiet_demo, start, stored, total};
use onecard::db::command::{self, TerminalCommand};
use onecard::db::embedded::{Cluster, ClusterStatus};
use onecard::domain::permission::Actor;
use onecard::sim::register::register_site;
use rand::Rng;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use std::time::{Duration, Instant};

use crate::support::PrivateCluster;

impl PrivateCluster {
    async fn start(&self) {
        let c = self.cluster.clone();
        tokio::task::spawn_blocking(move || c.ensure_running())
            .await
            .unwrap()
            .expect("start the private cluster");
    }

    /// `pg_ctl stop -m fast`.
    async fn stop_fast(&self) {
        let c = self.cluster.clone();
        let stopped = tokio::task::spawn_blocking(move || c.stop())
            .await
            .unwrap()
            .expect("stop the private cluster");
        assert!(stopped);
    }

    /// What `pg_ctl stop -m immediate` does: SIGQUIT to the postmaster, which quits every
    /// backend at once with no checkpoint; the next start runs crash recovery.
    async fn stop_immediate(&self) {
        let ClusterStatus::Running { pid } = self.cluster.status() else {
            panic!("the private cluster is not running");
        };
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGQUIT,
        )
        .expect("SIGQUIT the postmaster");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.cluster.status() != ClusterStatus::Stopped {
            assert!(Instant::now() < deadline, "postmaster {pid} did not quit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Serve(std::process::Child);

impl Serve {
    fn running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Retries while the server is (re)starting.
async fn pool_for(cluster: &Cluster, db: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(20))
        .connect_with(cluster.connect_options(db))
        .await
        .expect("connect to the private cluster")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_survives_database_restarts_mid_ingest() {
    let t0 = Instant::now();
    let pc = PrivateCluster::new("onecard-rst-");
    pc.start().await;
    let c = &pc.cluster;
    // An ephemeral cluster runs with synchronous_commit off, which may lose the last commits in
    // a crash; serve's real cluster keeps it on, and so must this one for a crash-like stop.
    {
        let mut admin = PgConnection::connect_with(&c.connect_options("postgres"))
            .await
            .unwrap();
        sqlx::query("ALTER SYSTEM SET synchronous_commit = on")
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
    let name = "onecard_restart";
    assert!(c.create_database_if_missing(name).await.unwrap());
    let pool = pool_for(c, name).await;
    onecard::db::migrate(&pool).await.unwrap();

    let site = start(&quiet_demo()).await;
    let reg = register_site(&pool, &site).await.unwrap();
    let lines = {
        let mut l: Vec<i64> = reg.iter().map(|r| r.line_id).collect();
        l.sort_unstable();
        l.dedup();
        l.len()
    };
    let dirs = tempfile::tempdir().unwrap();
    let mut serve = Serve(
        std::process::Command::new(env!("CARGO_BIN_EXE_onecard"))
            .args(["serve", "--worker", "restart", "--recheck-ms", "200"])
            .env(
                "DATABASE_URL",
                format!(
                    "postgres://onecard@localhost/{name}?host={}",
                    c.socket_dir().display()
                ),
            )
            .env("ONECARD_CONFIG_DIR", dirs.path().join("config"))
            .env("ONECARD_DATA_DIR", dirs.path().join("data"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn onecard serve"),
    );
    let traffic = site.run_traffic(300.0, 17, 3.0);
    let owns_every_line = |pool: PgPool| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock_holders(&pool).await.len() != lines {
            assert!(Instant::now() < deadline, "serve never owned every line");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    owns_every_line(pool.clone()).await;

    let mut rng = rand::thread_rng();
    let restarts = 4;
    let crash_at = rng.gen_range(0..restarts);
    let mut stored_before = Vec::new();
    for n in 0..restarts {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        stored_before.push(total(&stored(&pool, &reg).await));
        if n == crash_at {
            pc.stop_immediate().await;
        } else {
            pc.stop_fast().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(50..800))).await;
        pc.start().await;
        assert!(serve.running(), "serve exited when the database went away");
    }
    // Serve took its lines back: its old lock sessions died with the server.
    owns_every_line(pool.clone()).await;
    traffic.abort();
    let generated = total(&expected(&site, &reg).await);
    drained(&pool, &site, &reg, Duration::from_secs(30)).await;
    assert!(serve.running(), "serve exited");
    // Ingest went on between the restarts, not only at the end.
    assert!(
        stored_before.windows(2).any(|w| w[1] > w[0]),
        "nothing was stored between restarts: {stored_before:?}"
    );
    println!(
        "restart test: {restarts} restarts (immediate stop #{crash_at}), {generated} records, \
         stored before each stop {stored_before:?}, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // One alarm per alarming event, even for batches re-read after a lost commit.
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count(
            "SELECT count(*) FROM door_event WHERE kind IN ('forced_open', 'held_open', 'tamper')"
        )
        .await,
        count("SELECT count(*) FROM alarm WHERE kind IN ('forced_open', 'held_open', 'tamper')")
            .await
    );
    // The command listener came back too: with rounds 10 s apart, a queued command still runs
    // at once.
    sqlx::query("UPDATE line SET poll_interval_ms = 10000")
        .execute(&pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let door = reg
        .iter()
        .find(|r| r.sim_id == "door/405419896")
        .unwrap()
        .terminal_id;
    let t1 = Instant::now();
    let id = command::enqueue(
        &pool,
        &Actor::shell("test"),
        door,
        &TerminalCommand::OnlineTest,
    )
    .await
    .unwrap();
    loop {
        let state: String = sqlx::query_scalar("SELECT state FROM terminal_command WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if state == "done" {
            break;
        }
        assert!(
            matches!(state.as_str(), "queued" | "running") && t1.elapsed() < Duration::from_secs(3),
            "the command after the restarts is {state} after {:?}",
            t1.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = serve.0.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    pool.close().await;
}
