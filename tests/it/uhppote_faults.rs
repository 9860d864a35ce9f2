//! A UHPPOTE controller's faults are told, never lost in silence (issue 10): events it
//! overwrote before they were collected are one gap and one `records_lost` alarm, found in one
//! exchange; a controller claiming more than its memory holds or its rate allows stores
//! nothing and raises `records_implausible`; an invalid clock is an alarm and flags the events
//! it stamped; direction is stored and shown; a forced close is a P3 alarm; a door the
//! controller lacks is refused before anything is sent.

use crate::poller::{ctl, eventually, failure, fast, quiet_demo, start, term};
use crate::support::test_db;
use chrono::Local;
use onecard::app::words;
use onecard::db::command::{self, CommandFailure, TerminalCommand};
use onecard::db::door;
use onecard::db::ingest::{self, AlarmDetail, Implausible};
use onecard::domain::permission::Actor;
use onecard::i18n::Lang;
use onecard::poller::Supervisor;
use onecard::sim::clock::SimClock;
use onecard::sim::register::register_site;
use onecard::sim::site::SiteConfig;
use onecard::sim::uhppote::Controller;
use onecard::terminal::uhppote::{Direction, EventRecord, EventSlot, EventType, Request, Response};
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);
const DOOR: &str = "door/405419896";

fn one_controller(memory: usize) -> SiteConfig {
    let mut c = quiet_demo();
    c.door_controllers.truncate(1);
    c.door_controllers[0].memory = memory;
    c.attendance_machines.clear();
    c.lines.clear();
    c
}

async fn count(pool: &PgPool, sql: &str, id: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn alarms(pool: &PgPool, id: i64, kind: &str) -> Vec<(i16, String, String)> {
    sqlx::query_as(
        "SELECT priority, state, detail FROM alarm WHERE terminal_id = $1 AND kind = $2 ORDER BY id",
    )
    .bind(id)
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn stored(pool: &PgPool, id: i64) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM door_event WHERE terminal_id = $1",
        id,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uhppote_overrun_is_one_gap_one_alarm_and_one_exchange() {
    let db = test_db().await;
    let site = start(&one_controller(100)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, DOOR).terminal_id;
    let controller = site.controller(DOOR).unwrap().clone();
    let swipe = |card: u32| {
        ctl(&site, &format!("{DOOR} swipe {card} 1"));
    };

    let sup = Supervisor::start_with(db.pool.clone(), "overrun", fast());
    for card in 8165501..=8165505 {
        swipe(card);
    }
    eventually(PATIENCE, "the first five events", || async {
        stored(&db.pool, id).await == 5
    })
    .await;
    sup.stop().await;

    // 350 events while nobody polls: the ring of 100 keeps 256..=355; 6..=255 are gone.
    for n in 0..350 {
        swipe(8165600 + n);
    }
    assert_eq!(controller.last_event_index(), 355);
    let asked_before = controller.get_events();
    let sup = Supervisor::start_with(db.pool.clone(), "overrun again", fast());
    eventually(PATIENCE, "the 100 events the ring kept", || async {
        stored(&db.pool, id).await == 105
    })
    .await;
    eventually(PATIENCE, "the bookmark at the newest", || async {
        count(&db.pool, "SELECT bookmark FROM terminal WHERE id = $1", id).await == 355
    })
    .await;
    sup.stop().await;

    // One alarm naming the range, one gap row that reports read.
    let lost = alarms(&db.pool, id, "records_lost").await;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].0, 2);
    assert_eq!(
        AlarmDetail::parse(&lost[0].2),
        Some(AlarmDetail::RecordsLost {
            first: 6,
            last: 255
        })
    );
    let gaps = ingest::record_gaps(&db.pool, Some(id)).await.unwrap();
    assert_eq!(
        gaps.iter()
            .map(|g| (g.first_record, g.last_record, g.reason.as_str()))
            .collect::<Vec<_>>(),
        [(Some(6), Some(255), "overwritten")]
    );
    // The events kept are stored whole; nothing in the gap was made up.
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM door_event WHERE terminal_id = $1 AND record_no BETWEEN 6 AND 255",
            id
        )
        .await,
        0
    );
    // The skip cost one exchange (the oldest held), not one per lost event: 100 events read,
    // plus the first overwritten one, the oldest and the check of the bookmark on taking over.
    let asked = controller.get_events() - asked_before;
    assert!(asked <= 110, "{asked} get-event requests");
}

/// A controller that claims `claimed` events and makes up every one it is asked for; the rest
/// of what it says is the simulator's.
async fn liar(
    claimed: Arc<AtomicI64>,
) -> (
    std::net::SocketAddr,
    Arc<AtomicU64>,
    tokio::task::JoinHandle<()>,
) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let statuses = Arc::new(AtomicU64::new(0));
    let seen = statuses.clone();
    let sim = Controller::new(
        423187757,
        4,
        SimClock::new(Local::now().naive_local(), 0, 0.0),
        100,
        vec![],
    );
    let task = tokio::spawn(async move {
        let made_up = |index: u32| EventRecord {
            index,
            event_type: EventType::Swipe,
            granted: true,
            door: 1,
            direction: Direction::In,
            card: 8165537,
            // The same event each time it is asked for: no reset to notice.
            timestamp: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .map(|t| t + chrono::Duration::seconds(i64::from(index % 86_400))),
            reason: 1,
        };
        let mut buf = [0u8; 1024];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok((serial, req)) = Request::decode(&buf[..n]) else {
                continue;
            };
            let newest = u32::try_from(claimed.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
            let reply = match req {
                Request::GetStatus => {
                    statuses.fetch_add(1, Ordering::Relaxed);
                    let Some(Response::GetStatus(mut s)) = sim.handle(&req) else {
                        continue;
                    };
                    s.event = Some(made_up(newest));
                    Response::GetStatus(s)
                }
                Request::GetEvent { index } if index <= newest => {
                    Response::GetEvent(EventSlot::Found(made_up(index.max(1))))
                }
                Request::GetEvent { index } => Response::GetEvent(EventSlot::NotFound { index }),
                Request::SetEventIndex { .. } => Response::SetEventIndex { ok: true },
                other => match sim.handle(&other) {
                    Some(r) => r,
                    None => continue,
                },
            };
            let _ = sock.send_to(&reply.encode(serial), from).await;
        }
    });
    (addr, seen, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uhppote_a_lying_controller_stores_nothing_and_raises_an_alarm() {
    let db = test_db().await;
    // Honest at first: ten events.
    let claimed = Arc::new(AtomicI64::new(10));
    let (addr, statuses, task) = liar(claimed.clone()).await;
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms) VALUES ('liar', 'uhppote', 'udp', $1, 100) RETURNING id",
    )
    .bind(addr.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name) VALUES ($1, 'door_controller', 423187757, 'liar') RETURNING id",
    )
    .bind(line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "liar", fast());
    eventually(PATIENCE, "the ten honest events", || async {
        stored(&db.pool, id).await == 10
    })
    .await;

    // 150,000 more within a second: its memory could hold them, its rate cannot make them.
    claimed.store(150_010, Ordering::Relaxed);
    eventually(PATIENCE, "a records_implausible alarm", || async {
        !alarms(&db.pool, id, "records_implausible").await.is_empty()
    })
    .await;
    let a = alarms(&db.pool, id, "records_implausible").await;
    assert!(
        matches!(
            AlarmDetail::parse(&a[0].2),
            Some(AlarmDetail::Implausible {
                claimed: 150_010,
                collected: 10,
                why: Implausible::Rate { .. }
            })
        ),
        "{a:?}"
    );
    // Several more visits: still nothing stored, still one alarm.
    let seen = statuses.load(Ordering::Relaxed);
    eventually(PATIENCE, "five more visits", || async {
        statuses.load(Ordering::Relaxed) >= seen + 5
    })
    .await;
    assert_eq!(stored(&db.pool, id).await, 10);
    sup.stop().await;

    // Event index 2^32-1, the first time a poller meets it: no memory holds what it claims.
    claimed.store(i64::from(u32::MAX), Ordering::Relaxed);
    sqlx::query("UPDATE alarm SET state = 'cleared' WHERE terminal_id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "liar again", fast());
    eventually(PATIENCE, "a memory records_implausible alarm", || async {
        alarms(&db.pool, id, "records_implausible")
            .await
            .iter()
            .any(|(p, state, d)| {
                *p == 2
                    && state == "active"
                    && matches!(
                        AlarmDetail::parse(d),
                        Some(AlarmDetail::Implausible {
                            why: Implausible::Memory { .. },
                            ..
                        })
                    )
            })
    })
    .await;
    let seen = statuses.load(Ordering::Relaxed);
    eventually(PATIENCE, "five more visits", || async {
        statuses.load(Ordering::Relaxed) >= seen + 5
    })
    .await;
    assert_eq!(stored(&db.pool, id).await, 10, "nothing made up is stored");
    sup.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uhppote_direction_forced_close_invalid_clock_and_missing_doors() {
    let db = test_db().await;
    let site = start(&one_controller(1000)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, DOOR).terminal_id;
    let sup = Supervisor::start_with(db.pool.clone(), "faults", fast());

    // Direction: kept, and shown in door queries, the export and the console's cells.
    ctl(&site, &format!("{DOOR} swipe 8165537 1 out"));
    ctl(&site, &format!("{DOOR} swipe 8165538 2 in"));
    eventually(PATIENCE, "two swipes", || async {
        stored(&db.pool, id).await == 2
    })
    .await;
    let dirs: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT direction FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(dirs, [Some("out".to_string()), Some("in".to_string())]);
    let recent = door::recent(&db.pool, 10).await.unwrap();
    let out = recent.iter().find(|e| e.record_no == 1).unwrap();
    assert_eq!(out.direction.as_deref(), Some("out"));
    let cells = words::door_event_cells(Lang::EN, out);
    assert!(cells.iter().any(|c| c.ends_with(" · out")), "{cells:?}");
    let cells = words::door_event_cells(Lang::ZH_CN, out);
    assert!(cells.iter().any(|c| c.ends_with(" · 出")), "{cells:?}");

    // A forced close is a P3 alarm.
    ctl(&site, &format!("{DOOR} forced_close 3"));
    eventually(PATIENCE, "a forced_closed alarm", || async {
        alarms(&db.pool, id, "forced_closed").await.len() == 1
    })
    .await;
    assert_eq!(alarms(&db.pool, id, "forced_closed").await[0].0, 3);

    // A door the controller lacks: refused before anything is sent, naming its doors.
    let queued = command::enqueue(
        &db.pool,
        &Actor::shell("root"),
        id,
        &TerminalCommand::OpenDoor { door: 9 },
    )
    .await
    .unwrap();
    let f = failure(&db.pool, queued).await;
    assert_eq!(
        f,
        CommandFailure::NoSuchDoor {
            door: 9,
            doors: vec![1, 2, 3, 4]
        }
    );
    let took: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM finished_at - started_at)::float8 FROM terminal_command WHERE id = $1",
    )
    .bind(queued)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(took < 0.3, "refused after {took} s: it was sent");

    // The clock battery failed: it reads 1970. A clock alarm, and its events are flagged.
    ctl(&site, &format!("{DOOR} clock 1970-01-01 00:00:00"));
    eventually(PATIENCE, "a clock_invalid alarm", || async {
        alarms(&db.pool, id, "clock_invalid")
            .await
            .iter()
            .any(|a| a.1 == "active")
    })
    .await;
    ctl(&site, &format!("{DOOR} swipe 8165539 1"));
    eventually(PATIENCE, "the swipe stamped 1970", || async {
        stored(&db.pool, id).await == 4
    })
    .await;
    let flags: Vec<bool> = sqlx::query_scalar(
        "SELECT clock_invalid FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(flags, [false, false, false, true]);
    let recent = door::recent(&db.pool, 10).await.unwrap();
    let stamped = recent.iter().find(|e| e.record_no == 4).unwrap();
    assert!(stamped.clock_invalid);
    assert!(words::door_event_cells(Lang::EN, stamped).contains(&"clock invalid".to_string()));
    assert!(words::door_event_cells(Lang::ZH_CN, stamped).contains(&"时钟无效".to_string()));

    // Set right again: the alarm clears.
    let now = Local::now().naive_local().format("%Y-%m-%d %H:%M:%S");
    ctl(&site, &format!("{DOOR} clock {now}"));
    eventually(PATIENCE, "the clock alarm cleared", || async {
        alarms(&db.pool, id, "clock_invalid")
            .await
            .iter()
            .all(|a| a.1 == "cleared")
    })
    .await;
    sup.stop().await;
}
