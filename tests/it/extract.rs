//! Extraction and clearing on demand, with progress: every record stored exactly once through
//! the polling path (commit, then ack), whichever the protocol; a terminal is cleared only once
//! nothing on it is left unstored.

use crate::poller::{done, eventually, fast, quiet_demo, start, term};
use crate::support::test_db;
use onecard::db::command::{self, CommandOutcome, Progress, TerminalCommand};
use onecard::db::notify::{Change, CHANNEL};
use onecard::domain::permission::Actor;
use onecard::poller::{Options, Supervisor};
use onecard::sim::register::register_site;
use onecard::terminal::uhppote::Direction;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::time::Duration;

const EVENTS: u32 = 100_000;

/// Progress as consoles see it: re-read at every notification naming the command, until it
/// finished. Returns every progress read.
pub(crate) async fn follow(pool: &PgPool, id: i64) -> Vec<Progress> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let mut seen: Vec<Progress> = Vec::new();
    loop {
        let row = command::by_id(pool, &[id]).await.unwrap().remove(0);
        if let Some(p) = row.progress {
            if seen.last() != Some(&p) {
                seen.push(p);
            }
        }
        if !matches!(row.state.as_str(), "queued" | "running") {
            return seen;
        }
        // Woken by this command's notifications; a late start is caught by the re-read.
        loop {
            let n = tokio::time::timeout(Duration::from_secs(120), listener.recv())
                .await
                .expect("the command's progress or end")
                .unwrap();
            if Change::parse(n.payload()).is_none_or(|c| c.command.contains(&id)) {
                break;
            }
        }
    }
}

fn no_traffic(doors: bool, attendance: bool, pos: bool) -> onecard::sim::site::SiteConfig {
    let mut c = quiet_demo();
    c.door_controllers.truncate(usize::from(doors));
    c.attendance_machines.truncate(usize::from(attendance));
    c.lines.retain(|l| pos && l.name == "canteen");
    if let Some(l) = c.lines.first_mut() {
        l.terminals.truncate(1);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controller_gives_up_100_000_events_each_stored_once() {
    let db = test_db().await;
    let config = no_traffic(true, false, false);
    let site = start(&config).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let controller = site.controller("door/405419896").unwrap();
    let cards = config.cards.numbers();
    let mut rng = StdRng::seed_from_u64(405);
    for _ in 0..EVENTS {
        let card = cards[rng.gen_range(0..cards.len())];
        let direction = if rng.gen_bool(0.5) {
            Direction::In
        } else {
            Direction::Out
        };
        controller
            .swipe(card, rng.gen_range(1..=4), direction)
            .unwrap();
    }
    assert_eq!(controller.last_event_index(), EVENTS);
    assert_eq!(controller.overwritten(), 0, "the ring holds them all");
    // Out of the live scan: only the command reads it.
    sqlx::query("UPDATE terminal SET in_scan = false WHERE id = $1")
        .bind(door)
        .execute(&db.pool)
        .await
        .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "extract", fast());
    let technician = Actor::shell("technician");
    let id = command::enqueue(&db.pool, &technician, door, &TerminalCommand::Extract)
        .await
        .unwrap();
    let progress = follow(&db.pool, id).await;
    let CommandOutcome::Extracted { records, millis } = done(&db.pool, id).await else {
        panic!("not extracted");
    };
    println!(
        "extract: {records} events in {millis} ms, {} progress reads",
        progress.len()
    );
    assert_eq!(records, u64::from(EVENTS));
    // Progress went up only, out of the whole, and ended complete; some of it was seen
    // on the way (an extraction this long is announced many times).
    let total = u64::from(EVENTS);
    assert!(progress.iter().all(|p| p.total == total), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].done < w[1].done));
    assert_eq!(progress.last(), Some(&Progress { done: total, total }));
    assert!(progress.iter().any(|p| p.done < total), "{progress:?}");

    // Exactly once: every number from 1 to 100,000, each one row, as the controller recorded it.
    let (n, distinct, lo, hi): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT record_no), min(record_no), max(record_no)
         FROM door_event WHERE terminal_id = $1",
    )
    .bind(door)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((n, distinct, lo, hi), (100_000, 100_000, 1, 100_000));
    let events = controller.events();
    let sample: Vec<(i64, Option<i64>, i16)> = sqlx::query_as(
        "SELECT record_no, card, door FROM door_event WHERE terminal_id = $1 AND record_no % 997 = 0
         ORDER BY record_no",
    )
    .bind(door)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for (no, card, d) in sample {
        let e = &events[usize::try_from(no - 1).unwrap()];
        assert_eq!((card, d), (Some(i64::from(e.card)), i16::from(e.door)));
    }
    // Acknowledged: the controller's collected-up-to mark and our bookmark agree.
    assert_eq!(controller.bookmark(), EVENTS);
    let bookmark: i64 = sqlx::query_scalar("SELECT bookmark FROM terminal WHERE id = $1")
        .bind(door)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(bookmark, 100_000);

    // Again: nothing new, nothing twice.
    let again = command::enqueue(&db.pool, &technician, door, &TerminalCommand::Extract)
        .await
        .unwrap();
    assert!(matches!(
        done(&db.pool, again).await,
        CommandOutcome::Extracted { records: 0, .. }
    ));
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pos_and_an_attendance_machine_are_cleared_only_after_storing_everything() {
    let db = test_db().await;
    let config = no_traffic(false, true, true);
    let site = start(&config).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let pos_id = term(&reg, "pos/canteen/1").terminal_id;
    let clock_id = term(&reg, "attendance/OCK0000001").terminal_id;
    for id in [pos_id, clock_id] {
        sqlx::query("UPDATE terminal SET in_scan = false WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let pos = site.pos("pos/canteen/1").unwrap();
    let cards = config.cards.numbers();
    for (i, card) in cards.iter().cycle().take(300).enumerate() {
        pos.purchase(*card, 100 + i as i64).unwrap();
    }
    assert_eq!(pos.stored(), 300);
    let clock = site.attendance_machine("attendance/OCK0000001").unwrap();
    let punches = clock.fill(700).unwrap();
    let options = Options {
        // Several batches per command, so progress has steps.
        batch: 100,
        ..fast()
    };
    let sup = Supervisor::start_with(db.pool.clone(), "clear", options);
    let technician = Actor::shell("technician");
    let run = |terminal: i64, c: TerminalCommand| {
        let pool = db.pool.clone();
        let technician = technician.clone();
        async move {
            let id = command::enqueue(&pool, &technician, terminal, &c)
                .await
                .unwrap();
            let progress = follow(&pool, id).await;
            (done(&pool, id).await, progress)
        }
    };
    let count = |sql: &'static str, id: i64| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    const PURCHASES: &str = "SELECT count(*) FROM pos_purchase WHERE terminal_id = $1";
    const PUNCHES: &str = "SELECT count(*) FROM punch WHERE terminal_id = $1";

    // The POS frees what was acknowledged: extracting already empties it.
    let (o, progress) = run(pos_id, TerminalCommand::Extract).await;
    assert!(
        matches!(o, CommandOutcome::Extracted { records: 300, .. }),
        "{o:?}"
    );
    assert_eq!(
        progress.last(),
        Some(&Progress {
            done: 300,
            total: 300
        })
    );
    assert_eq!(count(PURCHASES, pos_id).await, 300);
    assert_eq!(pos.stored(), 0);
    for (i, card) in cards.iter().cycle().take(40).enumerate() {
        pos.purchase(*card, 50 + i as i64).unwrap();
    }
    let (o, _) = run(pos_id, TerminalCommand::ClearRecords).await;
    assert_eq!(o, CommandOutcome::RecordsCleared { stored: 40 });
    assert_eq!((count(PURCHASES, pos_id).await, pos.stored()), (340, 0));

    // The attendance machine: extracting stores, clearing stores then really clears.
    let (o, progress) = run(clock_id, TerminalCommand::Extract).await;
    let distinct = count(PUNCHES, clock_id).await;
    assert!(distinct > 0 && distinct as usize <= punches);
    let CommandOutcome::Extracted { records, .. } = o else {
        panic!("{o:?}");
    };
    assert_eq!(records, distinct as u64);
    assert!(progress.last().is_some_and(|p| p.done == p.total));
    assert_eq!(clock.record_count(), punches, "extracting leaves the log");
    clock.punch(&clock.users()[0].user_id, Some(0)).unwrap();
    let (o, _) = run(clock_id, TerminalCommand::ClearRecords).await;
    assert_eq!(o, CommandOutcome::RecordsCleared { stored: 1 });
    assert_eq!(count(PUNCHES, clock_id).await, distinct + 1);
    assert_eq!(clock.record_count(), 0);
    assert!(clock.is_enabled(), "the machine runs again");
    // After a clear the machine's log starts empty, and what comes next is still collected.
    clock.punch(&clock.users()[1].user_id, Some(1)).unwrap();
    sqlx::query("UPDATE terminal SET in_scan = true WHERE id = $1")
        .bind(clock_id)
        .execute(&db.pool)
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "the punch after the clear", || {
        let c = count(PUNCHES, clock_id);
        async move { c.await == distinct + 2 }
    })
    .await;
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_cards_to_a_controller_report_progress() {
    let db = test_db().await;
    let site = start(&no_traffic(true, false, false)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let sup = Supervisor::start_with(db.pool.clone(), "cards", fast());
    let today = chrono::Local::now().date_naive();
    let grants: Vec<command::CardGrant> = (0..400)
        .map(|i| {
            command::CardGrant::for_doors(
                9_500_000 + i,
                &[1 + (i % 4) as u8],
                today,
                today + chrono::Duration::days(30),
            )
        })
        .collect();
    let id = command::enqueue(
        &db.pool,
        &Actor::shell("root"),
        door,
        &TerminalCommand::PushCards {
            cards: grants.clone(),
        },
    )
    .await
    .unwrap();
    let progress = follow(&db.pool, id).await;
    assert_eq!(
        done(&db.pool, id).await,
        CommandOutcome::CardsWritten {
            written: 400,
            of: 400
        }
    );
    assert_eq!(
        progress.last(),
        Some(&Progress {
            done: 400,
            total: 400
        })
    );
    assert!(progress.windows(2).all(|w| w[0].done < w[1].done));
    let controller = site.controller("door/405419896").unwrap();
    assert!(grants.iter().all(|g| controller.card(g.card).is_some()));
    assert_eq!(controller.card(9_500_003).unwrap().doors, [0, 0, 0, 1]);
    sup.stop().await;
}
