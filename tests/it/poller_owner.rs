//! Ownership resting on progress: a frozen owner (SIGSTOP) is fenced by a standby, which takes
//! its lines; the owner, woken, says nothing more. And exactly-once proven on attendance
//! machines, whose tally now counts what their log can hold.

use crate::poller::{eventually, fast, lock_holders, quiet_demo, start, stored, total};
use crate::support::{test_db, TestDb};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use onecard::poller::Supervisor;
use onecard::sim::register::{register_site, RegisteredTerminal};
use onecard::sim::runner::Site;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Serve {
    child: std::process::Child,
    dir: PathBuf,
}

impl Serve {
    fn start(db: &TestDb, dir: &Path, worker: &str, stale_ms: u64) -> Serve {
        let stale = stale_ms.to_string();
        let child = crate::support::spawn_serve(
            db.child_url(),
            dir,
            &[
                "--worker",
                worker,
                "--recheck-ms",
                "300",
                "--stale-ms",
                &stale,
            ],
        );
        Serve {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), s).unwrap();
    }

    /// Everything this process logged so far.
    fn log(&self) -> String {
        let mut out = String::new();
        let mut dirs = vec![self.dir.join("data")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.to_string_lossy().contains("onecard.log") {
                    out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Line id → the worker `line_owner` names, for lines whose lock that worker's session holds.
async fn owners(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT o.line_id, o.worker FROM line_owner o
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.classid = $1::int4::oid
              AND l.objid::int8 = o.line_id AND l.objsubid = 2 AND l.granted
              AND l.pid = o.backend_pid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY o.line_id",
    )
    .bind(onecard::poller::LOCK_CLASS)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn line_ids(reg: &[RegisteredTerminal]) -> Vec<i64> {
    let mut l: Vec<i64> = reg.iter().map(|r| r.line_id).collect();
    l.sort_unstable();
    l.dedup();
    l
}

/// Waits until every record the site generated is stored exactly once (the tally itself: an
/// attendance machine never makes two punches of one user in one second).
async fn exactly_once(db: &PgPool, site: &Site, reg: &[RegisteredTerminal], limit: Duration) {
    let start = Instant::now();
    loop {
        let tally = site.tally();
        let want: std::collections::BTreeMap<String, u64> = reg
            .iter()
            .filter(|r| r.kind.record_table().is_some())
            .map(|r| (r.sim_id.clone(), tally[&r.sim_id]))
            .collect();
        let have = stored(db, reg).await;
        if want == have {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "not every record arrived exactly once:\nwant {want:?}\nhave {have:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_owner_is_fenced_and_its_standby_takes_the_lines() {
    const STALE_MS: u64 = 2000;
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let site = start(&quiet_demo()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let lines = line_ids(&reg);
    let traffic = site.run_traffic(100.0, 17, 2.0);
    let owner = Serve::start(&db, &dirs.path().join("owner"), "owner", STALE_MS);
    eventually(
        Duration::from_secs(30),
        "the owner owning every line",
        || async {
            let o = owners(&db.pool).await;
            o.len() == lines.len() && o.iter().all(|(_, w)| w == "owner")
        },
    )
    .await;
    let standby = Serve::start(&db, &dirs.path().join("standby"), "standby", STALE_MS);
    // A live owner is never fenced: the standby runs beside it for a few bounds.
    let stored_before = total(&stored(&db.pool, &reg).await);
    eventually(Duration::from_secs(20), "the owner storing", || async {
        total(&stored(&db.pool, &reg).await) > stored_before + 50
    })
    .await;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(3 * STALE_MS) {
        let o = owners(&db.pool).await;
        assert!(
            o.iter().all(|(_, w)| w == "owner"),
            "a live owner lost a line: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    owner.signal(Signal::SIGSTOP);
    let frozen = Instant::now();
    eventually(
        Duration::from_secs(20),
        "the standby owning every line",
        || async {
            let o = owners(&db.pool).await;
            o.len() == lines.len() && o.iter().all(|(_, w)| w == "standby")
        },
    )
    .await;
    let took = frozen.elapsed();
    println!("takeover from a frozen owner: {:.2} s", took.as_secs_f64());
    // The bound, a re-check and the fencing itself.
    assert!(
        took < Duration::from_millis(STALE_MS + 4000),
        "took {took:?}"
    );
    let at_takeover = total(&stored(&db.pool, &reg).await);
    eventually(
        Duration::from_secs(20),
        "records arriving again",
        || async { total(&stored(&db.pool, &reg).await) > at_takeover + 50 },
    )
    .await;

    // Woken, the old owner gives up what it lost and takes nothing back.
    owner.signal(Signal::SIGCONT);
    eventually(
        Duration::from_secs(20),
        "the old owner giving its lines up",
        || async { owner.log().matches("released the line").count() >= lines.len() },
    )
    .await;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2 * STALE_MS) {
        let o = owners(&db.pool).await;
        assert!(
            o.len() == lines.len() && o.iter().all(|(_, w)| w == "standby"),
            "the woken owner took a line back: {o:?}"
        );
        let holders = lock_holders(&db.pool).await;
        assert!(holders.values().all(|&n| n == 1), "{holders:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = owner.log();
    assert_eq!(
        log.matches("took the line line=").count(),
        lines.len(),
        "the woken owner took a line again:\n{log}"
    );
    assert!(
        standby.log().contains("made no progress"),
        "{}",
        standby.log()
    );

    // Exactly once through it all.
    site.gate.set_paused(true);
    traffic.abort();
    exactly_once(&db.pool, &site, &reg, Duration::from_secs(40)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_punch_of_an_attendance_machine_is_stored_once() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.clear();
    cfg.lines.clear();
    // Few users and many punches a second: the same user in the same second, were it allowed.
    for m in &mut cfg.attendance_machines {
        m.users = 4;
    }
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let traffic = site.run_traffic(300.0, 23, 0.0);
    let sup = Supervisor::start_with(db.pool.clone(), "punches", fast());
    eventually(Duration::from_secs(20), "punches generated", || async {
        total(&site.tally()) > 40
    })
    .await;
    site.gate.set_paused(true);
    traffic.abort();
    exactly_once(&db.pool, &site, &reg, Duration::from_secs(30)).await;
    sup.stop().await;
}

#[tokio::test]
async fn an_owner_that_lost_its_lock_stores_nothing() {
    use onecard::db::ingest::{self, as_owner, DoorEventRow};
    use sqlx::Connection;
    let db = test_db().await;
    let (_, tid) = crate::support::library_door(&db.pool).await;
    let line: i64 = sqlx::query_scalar("SELECT line_id FROM terminal WHERE id = $1")
        .bind(tid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let row = |n: i64| DoorEventRow {
        record_no: n,
        door: 1,
        kind: "granted".into(),
        granted: true,
        card: Some(8165537),
        reason: 1,
        terminal_time: Some(chrono::Local::now().naive_local()),
        alarm: None,
        direction: None,
        clock_invalid: false,
    };
    let mut lock = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let (got, pid): (bool, i32) =
        sqlx::query_as("SELECT pg_try_advisory_lock($1, $2::int4), pg_backend_pid()")
            .bind(onecard::poller::LOCK_CLASS)
            .bind(line)
            .fetch_one(&mut lock)
            .await
            .unwrap();
    assert!(got);
    // Holding the lock: stored.
    let s = as_owner(
        line,
        pid,
        ingest::store_door_events(&db.pool, tid, &[row(1)], Some(1), false),
    )
    .await
    .unwrap();
    assert_eq!(s.inserted, 1);
    // Fenced: its session ended (as a standby ends it), the lock is gone, nothing is stored.
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(ended);
    let e = as_owner(
        line,
        pid,
        ingest::store_door_events(&db.pool, tid, &[row(2)], Some(2), false),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no longer ours"), "{e}");
    let (n, bookmark): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM door_event WHERE terminal_id = $1), bookmark FROM terminal WHERE id = $1",
    )
    .bind(tid)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((n, bookmark), (1, 1));
}
