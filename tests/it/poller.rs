//! The poller against the simulator and a real PostgreSQL: ingest, commands, offline and late
//! records, a hostile terminal, line ownership across supervisors and real killed processes.

use crate::support::test_db;
use onecard::db::command::{
    self, CommandFailure, CommandOutcome, CommandRow, Feature, TerminalCommand,
};
use onecard::db::ingest::{AlarmDetail, Restart};
use onecard::domain::permission::Actor;
use onecard::poller::{Options, Supervisor};
use onecard::sim::register::{
    register_site, register_site_with, RegisterOptions, RegisteredTerminal,
};
use onecard::sim::runner::Site;
use onecard::sim::site::{Ports, SiteConfig};
use onecard::sim::{control, TerminalKind};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) fn fast() -> Options {
    Options {
        recheck: Duration::from_millis(300),
        lock_check: Duration::from_millis(500),
        uhppote_timeout: Duration::from_millis(300),
        max_backoff: Duration::from_secs(1),
        full_log_every: Duration::from_secs(1),
        ..Options::default()
    }
}

pub(crate) fn quiet_demo() -> SiteConfig {
    let mut c = SiteConfig::demo();
    c.rate = 0.0;
    c
}

pub(crate) async fn start(cfg: &SiteConfig) -> Site {
    Site::start(cfg, Ports::ephemeral())
        .await
        .expect("simulated site")
}

pub(crate) fn ctl(site: &Site, line: &str) -> String {
    let (reply, _) = control::handle(&site.terminals, line);
    assert!(reply.starts_with("ok"), "{line}: {reply}");
    reply
}

/// Polls `f` until it is true; panics with `what` after `limit`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows stored per simulated terminal.
pub(crate) async fn stored(pool: &PgPool, reg: &[RegisteredTerminal]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in reg {
        let Some(table) = r.kind.record_table() else {
            continue;
        };
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE terminal_id = $1"
        ))
        .bind(r.terminal_id)
        .fetch_one(pool)
        .await
        .unwrap();
        out.insert(r.sim_id.clone(), n as u64);
    }
    out
}

/// What the simulator generated per terminal. An attendance log numbers nothing, so two
/// punches of one user in one second are one punch: count the distinct ones in the log.
pub(crate) async fn expected(site: &Site, reg: &[RegisteredTerminal]) -> BTreeMap<String, u64> {
    let tally = site.tally();
    let mut out = BTreeMap::new();
    for r in reg {
        if r.kind.record_table().is_none() {
            continue;
        }
        let mut n = tally[&r.sim_id];
        if r.kind == TerminalKind::AttendanceMachine {
            let l = site.listing.iter().find(|l| l.id == r.sim_id).unwrap();
            let addr = l.endpoint.strip_prefix("tcp ").unwrap().to_string();
            let mut c =
                onecard::terminal::zk::ZkClient::connect_tcp(addr, 0, Duration::from_secs(5))
                    .await
                    .unwrap();
            let log = c.read_attendance().await.unwrap();
            assert_eq!(log.len() as u64, n, "the log holds every punch generated");
            let distinct: std::collections::BTreeSet<_> = log
                .iter()
                .map(|p| (p.user_id.clone(), p.timestamp))
                .collect();
            n = distinct.len() as u64;
            let _ = c.disconnect().await;
        }
        out.insert(r.sim_id.clone(), n);
    }
    out
}

pub(crate) async fn drained(db: &PgPool, site: &Site, reg: &[RegisteredTerminal], limit: Duration) {
    let start = Instant::now();
    loop {
        let want = expected(site, reg).await;
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

pub(crate) fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

/// `sql` (a count with one `$1`) for `id`.
async fn count_for(pool: &PgPool, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub(crate) async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

pub(crate) fn term<'a>(reg: &'a [RegisteredTerminal], sim_id: &str) -> &'a RegisteredTerminal {
    reg.iter().find(|r| r.sim_id == sim_id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_arrives_once_with_its_alarms() {
    let db = test_db().await;
    let site = start(&quiet_demo()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let mut traffic = site.traffic(7, 5.0);
    // A backlog first: the drain rate is the ingest rate.
    for _ in 0..3000 {
        traffic.step();
    }
    ctl(&site, "door/405419896 forced 2");
    let backlog = total(&expected(&site, &reg).await);
    let sup = Supervisor::start_with(db.pool.clone(), "e2e", fast());
    let t0 = Instant::now();
    drained(&db.pool, &site, &reg, Duration::from_secs(90)).await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "ingest: {backlog} records in {secs:.2} s = {:.0} records/s",
        backlog as f64 / secs
    );
    // Then live traffic, with the controllers pushing their events to the owner.
    for i in 0..1500 {
        traffic.step();
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ctl(&site, "door/405419897 forced 3");
    drained(&db.pool, &site, &reg, Duration::from_secs(60)).await;
    let stats = sup.stats();
    assert!(stats.pushed > 0, "no pushed event arrived: {stats:?}");
    assert_eq!(stats.records, total(&expected(&site, &reg).await));

    // Each forced-open event raised exactly one alarm, with its door.
    let door = term(&reg, "door/405419896").terminal_id;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alarm WHERE kind = 'forced_open' AND terminal_id = $1 AND door = 2",
    )
    .bind(door)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(n >= 1);
    for kind in ["forced_open", "held_open", "tamper"] {
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event WHERE kind = $1")
            .bind(kind)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let alarms: i64 = sqlx::query_scalar("SELECT count(*) FROM alarm WHERE kind = $1")
            .bind(kind)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(events, alarms, "{kind}: one alarm per event");
    }
    // Bookmarks followed the records; statistics and status were kept.
    let behind = scalar(
        &db.pool,
        "SELECT count(*) FROM terminal t WHERE kind = 'door_controller'
           AND bookmark <> (SELECT max(record_no) FROM door_event e WHERE e.terminal_id = t.id)",
    )
    .await;
    assert_eq!(behind, 0);
    eventually(Duration::from_secs(10), "every terminal online", || async {
        scalar(
            &db.pool,
            "SELECT count(*) FROM terminal WHERE status <> 'online' OR last_contact IS NULL",
        )
        .await
            == 0
    })
    .await;
    // The second attendance machine runs 95 s behind: clock_drift.
    let slow = term(&reg, "attendance/OCK0000002").terminal_id;
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alarm WHERE kind = 'clock_drift' AND terminal_id = $1 AND state = 'active'",
    )
    .bind(slow)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(drift, 1);
    assert!(sup.is_running());
    sup.stop().await;
}

/// One door controller, and a canteen POS reached through the PTY as a serial port.
fn small_site() -> SiteConfig {
    let mut c = quiet_demo();
    c.door_controllers.truncate(1);
    c.attendance_machines.clear();
    c.lines.truncate(1);
    c.lines[0].terminals.truncate(1);
    c
}

/// The command once it finished (done, failed or unknown).
pub(crate) async fn finished(pool: &PgPool, id: i64) -> CommandRow {
    let start = Instant::now();
    loop {
        let row = command::by_id(pool, &[id]).await.unwrap().remove(0);
        if !matches!(row.state.as_str(), "queued" | "running") {
            return row;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "command {id} never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The outcome of a command that must succeed.
pub(crate) async fn done(pool: &PgPool, id: i64) -> CommandOutcome {
    let row = finished(pool, id).await;
    assert_eq!(row.state, "done", "{row:?}");
    match row.outcome {
        Some(Ok(o)) => {
            // The English text for logs and scripts says the same.
            assert_eq!(row.result.as_deref(), Some(o.to_string().as_str()));
            o
        }
        other => panic!("command {id}: {other:?}"),
    }
}

/// The failure of a command that must fail.
pub(crate) async fn failure(pool: &PgPool, id: i64) -> CommandFailure {
    let row = finished(pool, id).await;
    assert_eq!(row.state, "failed", "{row:?}");
    match row.outcome {
        Some(Err(f)) => f,
        other => panic!("command {id}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_run_on_the_owning_line() {
    let db = test_db().await;
    let mut cfg = small_site();
    // One attendance machine too, for its trace.
    cfg.attendance_machines = quiet_demo().attendance_machines;
    cfg.attendance_machines.truncate(1);
    let site = start(&cfg).await;
    let opts = RegisterOptions {
        native_via_pty: true,
        ..RegisterOptions::default()
    };
    let reg = register_site_with(&db.pool, &site, &opts).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let pos = term(&reg, "pos/canteen/1").terminal_id;
    let sup = Supervisor::start_with(db.pool.clone(), "cmd", fast());
    let actor = Actor::shell("test");
    let enqueue = |t: i64, c: TerminalCommand| {
        let pool = db.pool.clone();
        let actor = actor.clone();
        async move { command::enqueue(&pool, &actor, t, &c).await.unwrap() }
    };

    let open = enqueue(door, TerminalCommand::OpenDoor { door: 1 }).await;
    assert_eq!(
        done(&db.pool, open).await,
        CommandOutcome::DoorOpened { door: 1 }
    );
    // The controller recorded the remote open (reason 44), and it was stored.
    eventually(Duration::from_secs(20), "the remote-open event", || async {
        count_for(&db.pool, "SELECT count(*) FROM door_event WHERE terminal_id = $1 AND reason = 44 AND kind = 'remote_open'", door).await == 1
    })
    .await;
    let claimed: String =
        sqlx::query_scalar("SELECT claimed_by FROM terminal_command WHERE id = $1")
            .bind(open)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(claimed, "cmd");

    // A controller cannot erase: its events are stored, then all marked collected.
    let clear = enqueue(door, TerminalCommand::ClearRecords).await;
    let CommandOutcome::RecordsMarkedCollected { up_to, .. } = done(&db.pool, clear).await else {
        panic!("not marked collected");
    };
    let controller = site.controller("door/405419896").unwrap();
    assert_eq!(up_to, controller.last_event_index());
    assert_eq!(controller.bookmark(), up_to);
    // What a terminal lacks fails, saying what.
    let no_door = enqueue(pos, TerminalCommand::OpenDoor { door: 1 }).await;
    assert_eq!(
        failure(&db.pool, no_door).await,
        CommandFailure::Unsupported {
            what: Feature::Door
        }
    );

    let today = chrono::Local::now().date_naive();
    let grant = command::CardGrant::for_doors(
        12345678,
        &[1, 2, 3, 4],
        today,
        today + chrono::Duration::days(365),
    );
    for (t, c) in [
        (pos, TerminalCommand::SetTime),
        (pos, TerminalCommand::OnlineTest),
        (
            pos,
            TerminalCommand::PushBlacklist {
                cards: vec![8165501, 8165502],
            },
        ),
        (door, TerminalCommand::SetTime),
        (door, TerminalCommand::OnlineTest),
        (
            door,
            TerminalCommand::PushCards {
                cards: vec![grant.clone()],
            },
        ),
        (
            door,
            TerminalCommand::PushBlacklist {
                cards: vec![12345678],
            },
        ),
        (
            door,
            TerminalCommand::SetDoorMode {
                door: 2,
                mode: command::DoorMode::NormallyOpen,
                unlock_secs: 7,
            },
        ),
    ] {
        let id = enqueue(t, c.clone()).await;
        let o = done(&db.pool, id).await;
        let fits = match (&c, &o) {
            (TerminalCommand::SetTime, CommandOutcome::ClockSet { .. }) => true,
            (TerminalCommand::OnlineTest, CommandOutcome::Online { firmware, .. }) => {
                t == pos || firmware == "v8.92"
            }
            (
                TerminalCommand::PushBlacklist { .. },
                CommandOutcome::BlacklistInstalled { cards },
            ) => *cards == 2,
            (TerminalCommand::PushCards { .. }, CommandOutcome::CardsWritten { written, of }) => {
                (*written, *of) == (1, 1)
            }
            (
                TerminalCommand::PushBlacklist { .. },
                CommandOutcome::CardsRemoved { removed, absent },
            ) => (*removed, *absent) == (1, 0),
            (
                TerminalCommand::SetDoorMode { .. },
                CommandOutcome::DoorModeSet {
                    door: 2,
                    mode: command::DoorMode::NormallyOpen,
                    unlock_secs: 7,
                },
            ) => true,
            _ => false,
        };
        assert!(fits, "{c:?}: {o:?}");
    }
    // The door's new settings are in the door table, as the controller confirmed them.
    let (mode, secs): (String, i16) =
        sqlx::query_as("SELECT mode, unlock_secs FROM door WHERE terminal_id = $1 AND door = 2")
            .bind(door)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((mode.as_str(), secs), ("normally_open", 7));
    // While the line is traced, its owner publishes the frames it sends and receives.
    let door_line = term(&reg, "door/405419896").line_id;
    let pos_line = term(&reg, "pos/canteen/1").line_id;
    let zk_line = term(&reg, "attendance/OCK0000001").line_id;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .unwrap();
    listener
        .listen(onecard::poller::TRACE_CHANNEL)
        .await
        .unwrap();
    sqlx::query("UPDATE line SET trace_until = now() + interval '1 minute' WHERE id = ANY($1)")
        .bind(vec![door_line, pos_line, zk_line])
        .execute(&db.pool)
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let t0 = Instant::now();
    while seen.len() < 6 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "trace seen: {seen:?}"
        );
        let n = tokio::time::timeout(Duration::from_secs(15), listener.recv())
            .await
            .expect("a traced frame")
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(n.payload()).unwrap();
        let hex = v["hex"].as_str().unwrap();
        if hex.is_empty() {
            // A step without a frame of its own says what it was.
            assert_eq!(v["note"], "connect", "{v}");
            continue;
        }
        let bytes = hex::decode(hex).expect("hex");
        if v["line"] == zk_line {
            // ZKTeco packets as they went over TCP, capped at 256 bytes with the length noted.
            assert_eq!(&bytes[..4], &[0x50, 0x50, 0x82, 0x7d], "{v}");
            let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize + 8;
            if len > 256 {
                assert_eq!(bytes.len(), 256, "{v}");
                assert_eq!(v["note"], format!("{len} bytes, first 256 shown"), "{v}");
            } else {
                assert_eq!(bytes.len(), len, "{v}");
            }
        }
        seen.insert((
            v["line"].as_i64().unwrap(),
            v["dir"].as_str().unwrap().to_string(),
        ));
    }
    for line in [door_line, pos_line, zk_line] {
        for dir in ["tx", "rx"] {
            assert!(seen.contains(&(line, dir.into())), "{line} {dir}: {seen:?}");
        }
    }
    // The POS's purchases came in over the PTY too.
    ctl(&site, "pos/canteen/1 purchase 8165510 12.50");
    drained(&db.pool, &site, &reg, Duration::from_secs(20)).await;
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_controller_keeps_its_events_after_the_stored_ones() {
    let db = test_db().await;
    let site = start(&small_site()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let swipe = |card: i64| {
        ctl(&site, &format!("door/405419896 swipe {card} 1"));
    };
    let stored = |n: i64| {
        let pool = db.pool.clone();
        async move {
            count_for(
                &pool,
                "SELECT count(*) FROM door_event WHERE terminal_id = $1",
                door,
            )
            .await
                == n
        }
    };
    let rows = || async {
        sqlx::query_as::<_, (i64, Option<i64>)>(
            "SELECT record_no, card FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(door)
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    let restarts = || {
        count_for(
            &db.pool,
            "SELECT count(*) FROM alarm WHERE kind = 'event_log_restarted' AND terminal_id = $1",
            door,
        )
    };
    let sup = Supervisor::start_with(db.pool.clone(), "reset", fast());
    for card in 8165501..=8165503 {
        swipe(card);
    }
    eventually(Duration::from_secs(20), "three events", || stored(3)).await;

    // Reset to factory settings: its newest event (2) is below what was collected (3).
    ctl(&site, "door/405419896 reset");
    swipe(8165504);
    swipe(8165505);
    eventually(
        Duration::from_secs(20),
        "the events after the reset",
        || stored(5),
    )
    .await;
    let want: Vec<(i64, Option<i64>)> = (1..=5).map(|n| (n, Some(8165500 + n))).collect();
    assert_eq!(rows().await, want);
    assert_eq!(restarts().await, 1);
    sup.stop().await;

    // Reset again while nobody polls, and more events than were collected since: only the
    // event at the bookmark tells.
    ctl(&site, "door/405419896 reset");
    for card in 8165506..=8165511 {
        swipe(card);
    }
    let sup = Supervisor::start_with(db.pool.clone(), "reset again", fast());
    eventually(
        Duration::from_secs(20),
        "the events after the second reset",
        || stored(11),
    )
    .await;
    let want: Vec<(i64, Option<i64>)> = (1..=11).map(|n| (n, Some(8165500 + n))).collect();
    assert_eq!(rows().await, want);
    assert_eq!(restarts().await, 2);
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE kind = 'event_log_restarted' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        AlarmDetail::parse(&detail),
        Some(AlarmDetail::Restarted {
            why: Restart::NotTheSame { record: 2 },
            base: 5
        }),
        "{detail}"
    );
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_or_swapped_pos_keeps_its_purchases_after_the_stored_ones() {
    let db = test_db().await;
    let site = start(&small_site()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let pos = term(&reg, "pos/canteen/1").terminal_id;
    let purchases = || async {
        sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT record_no, card, amount::text FROM pos_purchase WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(pos)
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    let sup = Supervisor::start_with(db.pool.clone(), "pos reset", fast());
    let buy = |n: i64| {
        ctl(
            &site,
            &format!("pos/canteen/1 purchase {} {n}.00", 8165500 + n),
        )
    };
    for n in 1..=3 {
        buy(n);
    }
    eventually(Duration::from_secs(20), "three purchases", || async {
        purchases().await.len() == 3
    })
    .await;
    ctl(&site, "pos/canteen/1 reset");
    buy(4);
    buy(5);
    eventually(
        Duration::from_secs(20),
        "the purchases after the reset",
        || async { purchases().await.len() == 5 },
    )
    .await;
    let want: Vec<(i64, i64, String)> = (1..=5)
        .map(|n| (n, 8165500 + n, format!("{n}.00")))
        .collect();
    assert_eq!(purchases().await, want);
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE kind = 'event_log_restarted' AND terminal_id = $1",
    )
    .bind(pos)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        AlarmDetail::parse(&detail),
        Some(AlarmDetail::Restarted {
            why: Restart::CountsAgain {
                newest: 2,
                collected: 3
            },
            base: 3
        }),
        "{detail}"
    );
    sup.stop().await;

    // Swapped for another machine while nobody polled, which took more purchases than were
    // collected: its serial tells, before the re-ack at taking the line frees them unread.
    let serial: String = sqlx::query_scalar("SELECT hardware_serial FROM terminal WHERE id = $1")
        .bind(pos)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!serial.is_empty(), "the serial was noted when first seen");
    ctl(&site, "pos/canteen/1 swap");
    for n in 6..=11 {
        buy(n);
    }
    let sup = Supervisor::start_with(db.pool.clone(), "pos swapped", fast());
    eventually(
        Duration::from_secs(20),
        "the swapped machine's purchases",
        || async { purchases().await.len() == 11 },
    )
    .await;
    let want: Vec<(i64, i64, String)> = (1..=11)
        .map(|n| (n, 8165500 + n, format!("{n}.00")))
        .collect();
    assert_eq!(purchases().await, want);
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE kind = 'event_log_restarted' AND terminal_id = $1
         ORDER BY id DESC LIMIT 1",
    )
    .bind(pos)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    match AlarmDetail::parse(&detail) {
        Some(AlarmDetail::Restarted {
            why: Restart::Swapped { serial: now, was },
            base: 5,
        }) => assert_eq!((was.as_str(), now == serial), (serial.as_str(), false)),
        other => panic!("{detail}: {other:?}"),
    }

    // Swapped again while it is polled: noticed by its numbers, and its serial noted then, so
    // the next start does not take it for a second swap.
    let restarts = || async {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT (SELECT count(*) FROM alarm WHERE kind = 'event_log_restarted' AND terminal_id = $1),
                    (SELECT record_base FROM terminal WHERE id = $1)",
        )
        .bind(pos)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    let before = restarts().await;
    ctl(&site, "pos/canteen/1 swap");
    buy(12);
    eventually(
        Duration::from_secs(20),
        "the purchase after the second swap",
        || async { purchases().await.len() == 12 },
    )
    .await;
    let after_swap = restarts().await;
    assert_eq!(after_swap.0, before.0 + 1, "one alarm for the swap");
    sup.stop().await;
    let sup = Supervisor::start_with(db.pool.clone(), "pos restarted", fast());
    buy(13);
    eventually(
        Duration::from_secs(20),
        "the purchase after restarting",
        || async { purchases().await.len() == 13 },
    )
    .await;
    assert_eq!(restarts().await, after_swap, "noticed once, not twice");
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_terminals_alarm_and_their_replay_is_late() {
    let db = test_db().await;
    let site = start(&small_site()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let sup = Supervisor::start_with(db.pool.clone(), "offline", fast());
    let status = |id: i64| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM terminal WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    eventually(Duration::from_secs(20), "the controller online", || async {
        status(door).await == "online"
    })
    .await;
    ctl(&site, "door/405419896 swipe 8165500 1");
    drained(&db.pool, &site, &reg, Duration::from_secs(20)).await;

    ctl(&site, "door/405419896 offline");
    let alarm_state = |kind: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT state FROM alarm WHERE terminal_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
            )
            .bind(door)
            .bind(kind)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .unwrap_or_default()
        }
    };
    eventually(Duration::from_secs(30), "terminal_offline", || async {
        alarm_state("terminal_offline").await == "active" && status(door).await == "offline"
    })
    .await;
    // Recorded while nobody could reach it.
    ctl(&site, "door/405419896 swipe 8165501 1");
    ctl(&site, "door/405419896 swipe 8165502 2");
    ctl(&site, "door/405419896 forced 3");
    tokio::time::sleep(Duration::from_millis(500)).await;
    ctl(&site, "door/405419896 online");
    eventually(
        Duration::from_secs(30),
        "terminal_offline cleared",
        || async {
            alarm_state("terminal_offline").await == "cleared" && status(door).await == "online"
        },
    )
    .await;
    drained(&db.pool, &site, &reg, Duration::from_secs(20)).await;
    let late: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT record_no, late FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
    )
    .bind(door)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(late, vec![(1, false), (2, true), (3, true), (4, true)]);
    // The replayed forced-open is shown, never rung.
    let forced: bool = sqlx::query_scalar(
        "SELECT late FROM alarm WHERE terminal_id = $1 AND kind = 'forced_open'",
    )
    .bind(door)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(forced);
    // Live again: a new record is not late.
    ctl(&site, "door/405419896 swipe 8165503 1");
    drained(&db.pool, &site, &reg, Duration::from_secs(20)).await;
    let last_late: bool = sqlx::query_scalar(
        "SELECT late FROM door_event WHERE terminal_id = $1 ORDER BY record_no DESC LIMIT 1",
    )
    .bind(door)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!last_late);
    sup.stop().await;
}

/// A "terminal" that answers the native protocol with garbage, truncated frames, bad CRCs,
/// replies for another machine, silence, and well-formed lies about its records.
mod hostile {
    use chrono::NaiveDate;
    use onecard::terminal::native::message::{
        Condition, Conditions, DeviceInfo, DeviceKind, NakReason, PollStatus, PurchaseMode,
        PurchaseRecord, RecordBatch, Records, Reply, Request,
    };
    use onecard::terminal::native::{Frame, Framer, FramerEvent};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn lie(req: &Frame) -> Vec<u8> {
        let t = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 30, 0)
            .unwrap();
        let reply = match Request::decode(req.cmd, &req.data) {
            Ok(Some(Request::Poll)) => Reply::Poll(PollStatus {
                conditions: Conditions::default().with(Condition::RecordsPending, true),
                stored: 3,
                card: None,
            }),
            Ok(Some(Request::GetInfo)) => Reply::Info(DeviceInfo {
                kind: DeviceKind::Pos,
                model: "HOSTILE".into(),
                firmware: "6.6.6".into(),
                serial: 666,
                first_unacked: 1,
                next_record: 4,
                capacity: 100,
            }),
            Ok(Some(Request::GetTime)) => Reply::Time(t),
            Ok(Some(Request::ReadRecords { .. })) => {
                let rec = |n: u32| PurchaseRecord {
                    record_no: n,
                    at: t,
                    card: 8165537,
                    amount_fen: 1250,
                    balance_after_fen: 100,
                    txn_no: n,
                    meal_slot: 0,
                    mode: PurchaseMode::Offline,
                };
                // Out of order, repeated, and past the next record number.
                Reply::Records(RecordBatch {
                    next_record: 3,
                    records: Records::Purchases(vec![rec(9), rec(2), rec(2)]),
                })
            }
            _ => Reply::Nak(NakReason::UnknownCommand),
        };
        Frame::reply_to(req, reply.cmd_for(req.cmd), reply.encode())
            .encode()
            .unwrap()
    }

    /// Serves until dropped; returns the address and the number of requests seen.
    pub async fn serve() -> (
        std::net::SocketAddr,
        Arc<AtomicU64>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut framer = Framer::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        let n = match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        framer.push(&buf[..n]);
                        while let Some(ev) = framer.next_event() {
                            let FramerEvent::Frame(req) = ev else {
                                continue;
                            };
                            let k = counter.fetch_add(1, Ordering::Relaxed);
                            let good = lie(&req);
                            let out: Vec<u8> = match k % 6 {
                                0 => (0..40)
                                    .map(|_| rand::random::<u8>())
                                    .map(|b| if b == 0xA5 { 0 } else { b })
                                    .collect(),
                                1 => good[..good.len() / 2].to_vec(),
                                2 => {
                                    let mut b = good.clone();
                                    let last = b.len() - 1;
                                    b[last] ^= 0x5A;
                                    b
                                }
                                3 => {
                                    let mut f = Frame::decode(&good).unwrap();
                                    f.addr = f.addr.wrapping_add(1);
                                    f.encode().unwrap()
                                }
                                4 => Vec::new(),
                                _ => good,
                            };
                            if !out.is_empty() && sock.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, seen, task)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_terminal_is_a_comm_fault_never_a_record() {
    let db = test_db().await;
    let (addr, seen, server) = hostile::serve().await;
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms) VALUES ('hostile', 'native', 'tcp', $1, 100) RETURNING id",
    )
    .bind(addr.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let pos: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name) VALUES ($1, 'pos', 1, 'hostile POS') RETURNING id",
    )
    .bind(line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "hostile", fast());
    eventually(Duration::from_secs(30), "a comm_fault alarm", || async {
        count_for(&db.pool, "SELECT count(*) FROM alarm WHERE terminal_id = $1 AND kind = 'comm_fault' AND state = 'active'", pos).await == 1
    })
    .await;
    let before = seen.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = seen.load(std::sync::atomic::Ordering::Relaxed);
    assert!(after > before, "the poller stopped talking to the line");
    assert!(sup.is_running());
    assert_eq!(sup.owned_lines(), vec![line]);
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM pos_purchase").await,
        0
    );
    assert_eq!(
        scalar(&db.pool, "SELECT bookmark FROM terminal").await,
        0,
        "a lie never moves the bookmark"
    );
    sup.stop().await;
    server.abort();
}

pub(crate) async fn lock_holders(pool: &PgPool) -> BTreeMap<i64, i64> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT objid::int8, count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int4::oid
           AND objsubid = 2 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         GROUP BY objid",
    )
    .bind(onecard::poller::LOCK_CLASS)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_line_has_one_owner_and_a_standby_takes_over() {
    let db = test_db().await;
    let site = start(&quiet_demo()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let mut lines: Vec<i64> = reg.iter().map(|r| r.line_id).collect();
    lines.sort_unstable();
    lines.dedup();
    let other_pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let a = Supervisor::start_with(db.pool.clone(), "a", fast());
    let b = Supervisor::start_with(other_pool.clone(), "b", fast());
    let mut traffic = site.traffic(11, 2.0);
    eventually(Duration::from_secs(20), "every line owned", || async {
        let mut all = a.owned_lines();
        all.extend(b.owned_lines());
        all.sort_unstable();
        all == lines
    })
    .await;
    for _ in 0..20 {
        for _ in 0..20 {
            traffic.step();
        }
        let (oa, ob) = (a.owned_lines(), b.owned_lines());
        assert!(
            oa.iter().all(|l| !ob.contains(l)),
            "both own a line: {oa:?} {ob:?}"
        );
        let holders = lock_holders(&db.pool).await;
        assert!(holders.values().all(|&n| n == 1), "{holders:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained(&db.pool, &site, &reg, Duration::from_secs(30)).await;

    // The one holding more lines stops; the other takes them all.
    let (gone, stay) = if a.owned_lines().len() >= b.owned_lines().len() {
        (a, b)
    } else {
        (b, a)
    };
    let moved = gone.owned_lines();
    assert!(!moved.is_empty());
    let t0 = Instant::now();
    gone.stop().await;
    eventually(
        Duration::from_secs(10),
        "the standby owning every line",
        || async { stay.owned_lines() == lines },
    )
    .await;
    println!(
        "takeover of {} lines after a clean stop: {:.2} s",
        moved.len(),
        t0.elapsed().as_secs_f64()
    );
    for _ in 0..300 {
        traffic.step();
    }
    drained(&db.pool, &site, &reg, Duration::from_secs(30)).await;
    stay.stop().await;
    // Released with the sessions (the server ends them a moment after we close them).
    eventually(Duration::from_secs(5), "every lock released", || async {
        lock_holders(&db.pool).await.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_command_wakes_its_line_at_once() {
    let db = test_db().await;
    let site = start(&small_site()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let pos = term(&reg, "pos/canteen/1").terminal_id;
    // Ten seconds between rounds: only the command's notification can start one sooner.
    let interval = Duration::from_secs(10);
    sqlx::query("UPDATE line SET poll_interval_ms = $1")
        .bind(interval.as_millis() as i32)
        .execute(&db.pool)
        .await
        .unwrap();
    let options = Options {
        uhppote_listener: false,
        ..fast()
    };
    let sup = Supervisor::start_with(db.pool.clone(), "wake", options);
    eventually(Duration::from_secs(20), "both terminals polled", || async {
        scalar(
            &db.pool,
            "SELECT count(*) FROM terminal WHERE status <> 'online' OR last_contact IS NULL",
        )
        .await
            == 0
    })
    .await;
    let actor = Actor::shell("test");
    for (t, c) in [
        (door, TerminalCommand::OnlineTest),
        (pos, TerminalCommand::OnlineTest),
        (door, TerminalCommand::OpenDoor { door: 2 }),
        (pos, TerminalCommand::SetTime),
    ] {
        // Let the actors finish their round and fall asleep.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t0 = Instant::now();
        let id = command::enqueue(&db.pool, &actor, t, &c).await.unwrap();
        let deadline = Duration::from_secs(3);
        loop {
            let (state, result): (String, Option<String>) =
                sqlx::query_as("SELECT state, result FROM terminal_command WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            if !matches!(state.as_str(), "queued" | "running") {
                assert_eq!(state, "done", "{c:?}: {result:?}");
                break;
            }
            assert!(
                t0.elapsed() < deadline,
                "{c:?} still {state} after {deadline:?}; rounds are {interval:?} apart"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "{c:?} done in {:.0} ms",
            t0.elapsed().as_secs_f64() * 1000.0
        );
    }
    assert!(sup.is_running());
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pos_without_its_blacklist_is_sent_it_by_itself() {
    let db = test_db().await;
    let site = start(&small_site()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let pos = term(&reg, "pos/canteen/1").terminal_id;
    // A new POS never had a blacklist (TABLES_MISSING): nobody queues anything.
    let sup = Supervisor::start_with(db.pool.clone(), "tables", fast());
    eventually(
        Duration::from_secs(30),
        "the tables sent by the service, and done",
        || async {
            count_for(
                &db.pool,
                "SELECT count(*) FROM terminal_command WHERE terminal_id = $1
                   AND command->>'op' = 'download_cards' AND state = 'done'",
                pos,
            )
            .await
                >= 1
        },
    )
    .await;
    let reply = ctl(&site, "pos/canteen/1 blacklist");
    assert!(reply.starts_with("ok"), "{reply}");
    // With the blacklist, what it may sell offline: nothing above the lowest per-purchase limit
    // (the student's ¥30.00: above it only the host can check the PIN), ¥50.00 a card a day.
    let limits = site.pos("pos/canteen/1").unwrap().limits();
    assert_eq!(
        (limits.pin_above_fen, limits.offline_daily_fen),
        (3_000, 5_000)
    );
    // Once it has them, no fault stays and nothing more is sent.
    let sent = count_for(
        &db.pool,
        "SELECT count(*) FROM terminal_command WHERE terminal_id = $1 AND command->>'op' = 'download_cards'",
        pos,
    )
    .await;
    assert_eq!(sent, 1);
    assert_eq!(
        count_for(
            &db.pool,
            "SELECT count(*) FROM alarm WHERE terminal_id = $1 AND kind = 'tables_missing'",
            pos,
        )
        .await,
        0
    );
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_answering_for_another_is_a_comm_fault_not_offline() {
    use onecard::terminal::uhppote::{Request, Response};
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let controller = site.controller("door/405419896").unwrap().clone();
    // Between onecard and the controller: every answer comes back under another serial.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok((serial, request)) = Request::decode(&buf[..n]) else {
                continue;
            };
            if let Some(reply) = controller.handle(&request) {
                let frame = Response::encode(&reply, serial + 1);
                let _ = socket.send_to(&frame[..], from).await;
            }
        }
    });
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms)
         VALUES ('two-faced', 'uhppote', 'udp', $1, 200) RETURNING id",
    )
    .bind(addr.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name)
         VALUES ($1, 'door_controller', 405419896, 'two-faced') RETURNING id",
    )
    .bind(line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "two-faced", fast());
    eventually(Duration::from_secs(30), "a comm_fault alarm", || async {
        count_for(
            &db.pool,
            "SELECT count(*) FROM alarm WHERE terminal_id = $1 AND kind = 'comm_fault'",
            id,
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        count_for(
            &db.pool,
            "SELECT count(*) FROM alarm WHERE terminal_id = $1 AND kind = 'terminal_offline'",
            id,
        )
        .await,
        0,
        "it was answering: not offline"
    );
    sup.stop().await;
    proxy.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pos_that_lost_its_clock_has_it_set_at_once() {
    use onecard::sim::native::NativeDevice;
    let db = test_db().await;
    let site = start(&small_site()).await;
    register_site(&db.pool, &site).await.unwrap();
    let pos = site.pos("pos/canteen/1").unwrap().clone();
    let sup = Supervisor::start_with(db.pool.clone(), "clock lost", fast());
    // A power cut with a flat clock battery: CLOCK_LOST until someone sets it.
    ctl(&site, "pos/canteen/1 clock-lost");
    assert!(pos.core().clock_lost());
    eventually(
        Duration::from_secs(30),
        "the clock set by the service",
        || {
            let pos = pos.clone();
            async move { !pos.core().clock_lost() }
        },
    )
    .await;
    let want = onecard::domain::time::now();
    let clock = pos.core().clock().now();
    assert!((clock - want).num_seconds().abs() <= 5, "{clock} vs {want}");
    sup.stop().await;
}
