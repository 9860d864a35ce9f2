//! Extraction from online attendance machines (the simulated ZKTeco machine, real sockets, a
//! real PostgreSQL): big logs in chunks that resume from the bookmark, the machine enabled
//! again after a lost session, clearing only after verification, the memory alarm before the
//! log is full, scheduled extraction queued once between two serves, and the proof: a serve
//! killed mid-extraction and restarted stores exactly the machine's log.

use crate::doors::{onecard, text};
use crate::extract::follow;
use crate::poller::{done, eventually, failure, fast, quiet_demo, scalar, start, term};
use crate::support::{spawn_serve, test_db};
use onecard::app::words::command_failure;
use onecard::db::command::{self, CommandFailure, CommandOutcome, TerminalCommand};
use onecard::db::ingest::AlarmDetail;
use onecard::domain::permission::Actor;
use onecard::i18n::Lang;
use onecard::poller::extraction;
use onecard::poller::{Options, Supervisor};
use onecard::sim::register::register_site;
use onecard::sim::site::SiteConfig;
use onecard::terminal::zk::MAX_TCP_CHUNK;
use sqlx::PgPool;
use std::time::{Duration, Instant};

const MACHINE: &str = "attendance/OCK0000001";

/// The demo's first attendance machine alone, its log holding `capacity` punches.
fn one_machine(capacity: usize) -> SiteConfig {
    let mut c = quiet_demo();
    c.door_controllers.clear();
    c.lines.clear();
    c.attendance_machines.truncate(1);
    c.attendance_machines[0].capacity = capacity;
    c
}

async fn punches(pool: &PgPool, id: i64) -> i64 {
    scalar(
        pool,
        &format!("SELECT count(*) FROM punch WHERE terminal_id = {id}"),
    )
    .await
}

async fn bookmark(pool: &PgPool, id: i64) -> i64 {
    scalar(
        pool,
        &format!("SELECT bookmark FROM terminal WHERE id = {id}"),
    )
    .await
}

async fn out_of_scan(pool: &PgPool, id: i64) {
    sqlx::query("UPDATE terminal SET in_scan = false WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

/// Queues `c` on `terminal` and waits for its end.
async fn run(pool: &PgPool, terminal: i64, c: TerminalCommand) -> i64 {
    let id = command::enqueue(pool, &Actor::shell("technician"), terminal, &c)
        .await
        .unwrap();
    follow(pool, id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_big_log_is_read_in_chunks_resumes_after_a_cut_and_the_machine_runs_again() {
    let db = test_db().await;
    let site = start(&one_machine(100_000)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, MACHINE).terminal_id;
    let m = site.attendance_machine(MACHINE).unwrap().clone();
    const N: i64 = 20_000;
    assert_eq!(m.fill(N as usize).unwrap(), N as usize);
    // Firmware that stays disabled when a session dies, and a link cut at the fifth chunk.
    m.set_stay_disabled(true);
    m.cut_after_chunks(5);
    let sup = Supervisor::start_with(db.pool.clone(), "chunks", fast());
    eventually(Duration::from_secs(90), "the whole log stored", || async {
        punches(&db.pool, id).await == N && bookmark(&db.pool, id).await == N
    })
    .await;
    eventually(Duration::from_secs(10), "the machine enabled", || async {
        m.is_enabled()
    })
    .await;
    // Four chunks stored before the cut; after it, one record to check the entry before the
    // bookmark, then only the rest: nothing was read twice.
    let per_chunk = (MAX_TCP_CHUNK / 40) as i64;
    let rest = (N - 4 * per_chunk + per_chunk - 1) / per_chunk;
    let stats = m.stats();
    assert_eq!(stats.chunks_read as i64, 4 + 1 + rest, "{stats:?}");
    assert!(stats.sessions >= 2, "{stats:?}");
    let distinct = scalar(
        &db.pool,
        &format!(
            "SELECT count(*) FROM (SELECT DISTINCT user_id, terminal_time FROM punch WHERE terminal_id = {id}) d"
        ),
    )
    .await;
    assert_eq!(distinct, N);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_log_is_cleared_only_after_its_count_and_newest_entry_are_verified() {
    let db = test_db().await;
    let site = start(&one_machine(500)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, MACHINE).terminal_id;
    out_of_scan(&db.pool, id).await;
    let m = site.attendance_machine(MACHINE).unwrap().clone();
    m.fill(300).unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "clear", fast());

    // A punch lands between the read and the clear: the count differs, the log stays.
    m.sneak_punches(1);
    let c = run(&db.pool, id, TerminalCommand::ClearRecords).await;
    let f = failure(&db.pool, c).await;
    assert_eq!(f, CommandFailure::RecordsNotStored { waiting: 1 });
    assert_eq!(m.record_count(), 301, "the log stays");
    assert!(m.is_enabled());
    let (en, zh) = (
        command_failure(Lang::EN, &f),
        command_failure(Lang::ZH_CN, &f),
    );
    assert!(en.contains("nothing was cleared"), "{en}");
    assert!(zh.contains("未清除"), "{zh}");

    // A full log that overwrites: the count holds, but the newest entry is no stored punch.
    m.fill(199).unwrap();
    assert_eq!(m.record_count(), 500);
    m.overwrite_when_full();
    m.sneak_punches(1);
    let c = run(&db.pool, id, TerminalCommand::ClearRecords).await;
    let f = failure(&db.pool, c).await;
    assert!(matches!(f, CommandFailure::NewestNotStored { .. }), "{f:?}");
    assert_eq!(m.record_count(), 500, "the log stays");
    assert!(command_failure(Lang::ZH_CN, &f).contains("尚未存储"));
    assert!(m.is_enabled());

    // Verified: cleared, and every punch the machine held is stored.
    let held = m.records();
    let c = run(&db.pool, id, TerminalCommand::ClearRecords).await;
    assert_eq!(
        done(&db.pool, c).await,
        CommandOutcome::RecordsCleared { stored: 1 }
    );
    assert_eq!(m.record_count(), 0);
    // 300 + 199 filled, and the two that sneaked in.
    assert_eq!(punches(&db.pool, id).await, 501);
    for r in held.iter().rev().take(3) {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM punch WHERE terminal_id = $1 AND user_id = $2 AND terminal_time = $3",
        )
        .bind(id)
        .bind(&r.user_id)
        .bind(r.time().unwrap())
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(n, 1);
    }

    // The per-machine policy: extraction clears (verified) while it is on, audited.
    let technician = Actor::shell("technician");
    assert!(
        extraction::set_clear_policy(&db.pool, &technician, id, true)
            .await
            .unwrap()
    );
    assert!(
        !extraction::set_clear_policy(&db.pool, &technician, id, true)
            .await
            .unwrap()
    );
    assert_eq!(
        scalar(
            &db.pool,
            "SELECT count(*) FROM audit_log WHERE action = 'attendance.clear_policy'"
        )
        .await,
        1
    );
    m.fill(10).unwrap();
    let c = run(&db.pool, id, TerminalCommand::Extract).await;
    assert_eq!(
        done(&db.pool, c).await,
        CommandOutcome::RecordsCleared { stored: 10 }
    );
    assert_eq!(m.record_count(), 0);
    extraction::set_clear_policy(&db.pool, &technician, id, false)
        .await
        .unwrap();
    m.fill(5).unwrap();
    let c = run(&db.pool, id, TerminalCommand::Extract).await;
    assert!(matches!(
        done(&db.pool, c).await,
        CommandOutcome::Extracted { records: 5, .. }
    ));
    assert_eq!(m.record_count(), 5, "never cleared silently");
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nearly_full_log_raises_the_memory_alarm_with_its_percentage() {
    let db = test_db().await;
    for (key, value) in [
        (extraction::MEMORY_ALARM_KEY, 50),
        (extraction::DRIFT_ALARM_KEY, 120),
    ] {
        onecard::db::settings::set(
            &db.pool,
            &Actor::shell("root"),
            key,
            serde_json::json!(value),
        )
        .await
        .unwrap();
    }
    let mut config = one_machine(500);
    config.attendance_machines[0].offset_secs = -95;
    let site = start(&config).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, MACHINE).terminal_id;
    let m = site.attendance_machine(MACHINE).unwrap().clone();
    m.fill(240).unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "memory", fast());
    eventually(Duration::from_secs(30), "the log stored", || async {
        punches(&db.pool, id).await == 240
    })
    .await;
    let active = format!(
        "SELECT count(*) FROM alarm WHERE kind = 'memory_full' AND terminal_id = {id} AND state = 'active'"
    );
    assert_eq!(scalar(&db.pool, &active).await, 0, "48% is below 50%");
    m.fill(20).unwrap();
    eventually(Duration::from_secs(30), "the memory alarm", || async {
        scalar(&db.pool, &active).await == 1
    })
    .await;
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE kind = 'memory_full' AND terminal_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        AlarmDetail::parse(&detail),
        Some(AlarmDetail::MemoryNearlyFull { percent: 52 })
    );
    // Drift is kept per machine for the tab; 95 s is within the machines' 120 s (the poller's
    // own 60 s would have raised it).
    let drift: Option<i32> = sqlx::query_scalar("SELECT clock_drift_s FROM terminal WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(drift.is_some_and(|d| (-97..=-93).contains(&d)), "{drift:?}");
    let drift_alarms =
        format!("SELECT count(*) FROM alarm WHERE kind = 'clock_drift' AND terminal_id = {id}");
    assert_eq!(scalar(&db.pool, &drift_alarms).await, 0);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_extraction_is_queued_once_per_due_time_between_two_serves() {
    let db = test_db().await;
    let site = start(&quiet_demo()).await;
    register_site(&db.pool, &site).await.unwrap();
    let machines = scalar(
        &db.pool,
        "SELECT count(*) FROM terminal WHERE kind = 'attendance_machine'",
    )
    .await;
    assert_eq!(machines, 2);
    let extracts = "SELECT count(*) FROM terminal_command WHERE command->>'op' = 'extract'";
    let due = chrono::Utc::now() - chrono::Duration::minutes(5);
    // Two serves look at once: one queues, the other finds it done.
    let (serve_a, serve_b) = (Actor::shell("serve-a"), Actor::shell("serve-b"));
    let (a, b) = tokio::join!(
        extraction::queue_due(&db.pool, &serve_a, due),
        extraction::queue_due(&db.pool, &serve_b, due),
    );
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 2);
    assert_eq!(scalar(&db.pool, extracts).await, 2);
    // The schedule's own look (every hour from midnight by default), from two serves at
    // once and from their supervisors: one command per machine since the last due time.
    let (a, b) = tokio::join!(
        extraction::tick(&db.pool, &serve_a),
        extraction::tick(&db.pool, &serve_b),
    );
    assert_eq!(
        a.unwrap().len() + b.unwrap().len(),
        0,
        "queued since the due time"
    );
    let options = Options {
        extract_schedule: true,
        ..fast()
    };
    let s1 = Supervisor::start_with(db.pool.clone(), "sched-1", options.clone());
    let s2 = Supervisor::start_with(db.pool.clone(), "sched-2", options);
    let settled = "SELECT count(*) FROM terminal_command WHERE command->>'op' = 'extract' AND state IN ('done', 'failed')";
    eventually(Duration::from_secs(30), "the extractions run", || async {
        scalar(&db.pool, settled).await == 2
    })
    .await;
    let schedule = extraction::Schedule::read(&db.pool).await.unwrap();
    let last_due = onecard::domain::time::instant(
        schedule
            .last_due(onecard::domain::time::now())
            .expect("hourly by default"),
    );
    let since_due: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM terminal_command WHERE command->>'op' = 'extract' AND requested_at >= $1",
    )
    .bind(last_due)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(since_due, 2, "one per machine since the last due time");
    // Off: nothing is due.
    onecard::db::settings::set(
        &db.pool,
        &Actor::shell("root"),
        extraction::EVERY_KEY,
        serde_json::json!(0),
    )
    .await
    .unwrap();
    let off = extraction::tick(&db.pool, &Actor::shell("serve-a"))
        .await
        .unwrap();
    assert!(off.is_empty());
    s1.stop().await;
    s2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_extracts_with_progress_and_sets_the_clear_policy() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let site = start(&one_machine(100_000)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, MACHINE).terminal_id;
    out_of_scan(&db.pool, id).await;
    let name: String = sqlx::query_scalar("SELECT name FROM terminal WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let m = site.attendance_machine(MACHINE).unwrap().clone();
    m.fill(5_000).unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "cli", fast());
    let o = onecard(&db, dirs.path(), &["attendance", "extract", "--all"], "");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("records/s"), "{out}");
    assert!(out.contains("5000 records extracted"), "{out}");
    assert_eq!(punches(&db.pool, id).await, 5_000);
    let o = onecard(
        &db,
        dirs.path(),
        &["attendance", "clear-policy", "--machine", &name, "on"],
        "",
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let o = onecard(&db, dirs.path(), &["attendance", "list"], "");
    let (out, _) = text(&o);
    assert!(
        out.lines()
            .any(|l| l.contains(&name) && l.trim_end().ends_with("on")),
        "{out}"
    );
    let o = onecard(
        &db,
        dirs.path(),
        &["attendance", "clear", "--machine", &name, "--yes"],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(m.record_count(), 0);
    let o = onecard(
        &db,
        dirs.path(),
        &["attendance", "set-time", "--machine", &name],
        "",
    );
    assert!(o.status.success(), "{:?}", text(&o));
    sup.stop().await;
}

/// The proof: a machine of 100,000 punches, `serve` SIGKILLed in the middle of its
/// extraction and started again: the punches stored are exactly the machine's log, and the
/// second serve went on from the bookmark.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_serve_resumes_extraction_from_the_bookmark_and_stores_exactly_the_log() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let site = start(&one_machine(100_000)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, MACHINE).terminal_id;
    let m = site.attendance_machine(MACHINE).unwrap().clone();
    const N: i64 = 100_000;
    assert_eq!(m.fill(N as usize).unwrap(), N as usize);
    // A slow link, so the extraction is long enough to be killed in: 62 chunks of 0.2 s, the
    // kill window (a third to the end) some 8 s wide even on a loaded machine.
    m.set_chunk_delay_ms(200);
    m.set_stay_disabled(true);
    let t0 = Instant::now();
    let mut first = spawn_serve(db.child_url(), dirs.path(), &["--worker", "proof-1"]);
    // The middle: a third stored (the bookmark moves a chunk of 1,636 at a time).
    let at_kill = loop {
        let b = bookmark(&db.pool, id).await;
        if b >= N / 3 {
            break b;
        }
        assert!(t0.elapsed() < Duration::from_secs(240), "no chunk stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    first.kill().unwrap();
    first.wait().unwrap();
    let stored_at_kill = punches(&db.pool, id).await;
    assert!(at_kill < N, "killed before the end: bookmark {at_kill}");
    let chunks_before = m.stats().chunks_read;
    m.set_chunk_delay_ms(0);
    let mut second = spawn_serve(db.child_url(), dirs.path(), &["--worker", "proof-2"]);
    eventually(Duration::from_secs(240), "the whole log stored", || async {
        bookmark(&db.pool, id).await == N
    })
    .await;
    eventually(Duration::from_secs(20), "the machine enabled", || async {
        m.is_enabled()
    })
    .await;
    let _ = second.kill();
    let _ = second.wait();
    let (count, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (user_id, terminal_time)) FROM punch WHERE terminal_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((count, distinct), (N, N));
    // Every punch of the machine's log is stored, none else.
    let log = m.records();
    let users: Vec<String> = log.iter().map(|r| r.user_id.clone()).collect();
    let times: Vec<chrono::NaiveDateTime> = log.iter().map(|r| r.time().unwrap()).collect();
    let matched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM punch p JOIN unnest($2::text[], $3::timestamp[]) AS l(u, t)
           ON p.user_id = l.u AND p.terminal_time = l.t WHERE p.terminal_id = $1",
    )
    .bind(id)
    .bind(&users)
    .bind(&times)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(matched, N);
    // Resumed, not started over: after the kill the log was read from the bookmark on.
    let per_chunk = (MAX_TCP_CHUNK / 40) as u64;
    let after = m.stats().chunks_read - chunks_before;
    let whole = (N as u64).div_ceil(per_chunk);
    assert!(
        after < whole,
        "{after} chunks read after the kill, the whole log is {whole}"
    );
    println!(
        "proof: killed at bookmark {at_kill} ({stored_at_kill} stored), {after} chunks read after, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
