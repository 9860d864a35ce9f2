//! Patrol readers against the simulator and a real PostgreSQL: the guard and checkpoint tables
//! downloaded, docked extraction with progress, scans corrected by the drift measured at the
//! read, and simulated guards walking real rounds (on time, late, skipped) whose omission report
//! says exactly what the simulator meant.

use crate::extract::follow;
use crate::poller::{done, eventually, fast, scalar, start, term};
use crate::support::test_db;
use chrono::{Duration as ChronoDuration, NaiveDateTime, Timelike};
use onecard::db::command::{self, CommandOutcome, Progress, TerminalCommand};
use onecard::db::patrol::omissions::{self, OmissionQuery};
use onecard::db::patrol::VisitClass;
use onecard::domain::permission::Actor;
use onecard::poller::Supervisor;
use onecard::sim::patrol::{
    Intended, PatrolPlan, PlanCheckpoint, PlanGuard, PlanRoute, PlanSchedule,
};
use onecard::sim::register::register_site;
use onecard::sim::site::{LineConfig, NativeKind, NativeTerminalConfig, SiteConfig};
use onecard::sim::SimTerminal;
use std::collections::BTreeMap;
use std::time::Duration;

const TAGS: [u32; 4] = [0xC1_0001, 0xC1_0002, 0xC1_0003, 0xC1_0004];
const GUARDS: [u32; 2] = [9_100_001, 9_100_002];

fn reader(machine_no: u8, offset_secs: i64) -> NativeTerminalConfig {
    NativeTerminalConfig {
        kind: NativeKind::PatrolReader,
        machine_no,
        capacity: 20_000,
        offset_secs,
        drift_ppm: 0.0,
    }
}

/// A patrol line of two readers (the second one's clock 10 minutes fast), and nothing else.
fn site(plan: Option<PatrolPlan>) -> SiteConfig {
    let mut c = crate::poller::quiet_demo();
    c.door_controllers.clear();
    c.attendance_machines.clear();
    c.lines = vec![LineConfig {
        name: "patrol".into(),
        pty: false,
        tcp: true,
        noise_percent: 0.0,
        terminals: vec![reader(1, 0), reader(2, 600)],
    }];
    c.patrol = plan;
    c
}

/// Rounds every minute from `first`: four checkpoints 8 s apart, 4 s early and 6 s late allowed,
/// each reader's guard on it; a quarter of the visits late, a quarter skipped.
fn plan(first: NaiveDateTime) -> PatrolPlan {
    let last = first + ChronoDuration::minutes(30);
    PatrolPlan {
        map: None,
        checkpoints: TAGS
            .iter()
            .enumerate()
            .map(|(i, &tag)| PlanCheckpoint {
                tag,
                name: format!("巡更点{}", i + 1),
                location: String::new(),
                place: None,
            })
            .collect(),
        guards: GUARDS
            .iter()
            .zip(["赵刚", "钱明"])
            .map(|(&card, name)| PlanGuard {
                card,
                name: name.into(),
            })
            .collect(),
        routes: vec![PlanRoute {
            name: "快巡".into(),
            points: TAGS
                .iter()
                .zip([0, 8, 16, 24])
                .map(|(&t, o)| (t, o))
                .collect(),
            early_s: 4,
            late_s: 6,
            grace_s: 10,
        }],
        schedules: GUARDS
            .iter()
            .zip(["patrol/patrol/1", "patrol/patrol/2"])
            .map(|(&guard, reader)| PlanSchedule {
                route: "快巡".into(),
                guard,
                reader: reader.into(),
                shift: "测试班".into(),
                first_start: first.format("%H:%M:%S").to_string(),
                last_start: last.format("%H:%M:%S").to_string(),
                every_min: 1,
                days_back: 0,
            })
            .collect(),
        late_percent: 25.0,
        skip_percent: 25.0,
        on_time_delay_s: 2,
    }
}

fn local_now() -> NaiveDateTime {
    let n = chrono::Local::now().naive_local();
    n.with_nanosecond(0).unwrap_or(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_get_the_guard_and_checkpoint_tables_and_flag_an_unknown_guard() {
    let db = test_db().await;
    // Rounds far off: only the tables matter here.
    let first = local_now() + ChronoDuration::hours(3);
    let site = start(&site(Some(plan(first)))).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "tables", fast());
    let readers = site.patrol_readers().to_vec();
    eventually(
        Duration::from_secs(60),
        "both tables on both readers",
        || {
            let readers = readers.clone();
            async move {
                readers.iter().all(|r| {
                    r.table_entries() == (GUARDS.to_vec(), TAGS.to_vec())
                        && r.tables().0.version != 0
                        && r.tables().1.version != 0
                })
            }
        },
    )
    .await;
    // Every download that ran ended as tables written.
    let downloads: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terminal_command WHERE command->>'op' = 'download_cards' AND state = 'done'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(!downloads.is_empty());
    for id in downloads {
        assert!(matches!(
            done(&db.pool, id).await,
            CommandOutcome::CardsDownloaded { .. }
        ));
    }
    // A card that is no guard's: stored, flagged by the reader as an unknown guard (event 1).
    site.patrol_readers()[0].scan(4_242, TAGS[0]).unwrap();
    let id = term(&reg, "patrol/patrol/1").terminal_id;
    let pool = db.pool.clone();
    eventually(Duration::from_secs(60), "the unknown guard's scan", || {
        let pool = pool.clone();
        async move {
            scalar(
                &pool,
                &format!(
                    "SELECT count(*) FROM patrol_scan WHERE terminal_id = {id} AND guard_card = 4242 AND event = 1"
                ),
            )
            .await
                == 1
        }
    })
    .await;
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_docked_reader_is_extracted_with_progress_and_corrected_by_its_drift() {
    let db = test_db().await;
    let site = start(&site(None)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let fast_reader = &site.patrol_readers()[1];
    const HELD: u32 = 12_000;
    for i in 0..HELD {
        fast_reader.scan(GUARDS[0], TAGS[(i % 4) as usize]).unwrap();
    }
    let id = term(&reg, "patrol/patrol/2").terminal_id;
    // Docked: out of the live scan, read only on demand.
    sqlx::query("UPDATE terminal SET in_scan = false WHERE kind = 'patrol_reader'")
        .execute(&db.pool)
        .await
        .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "docked", fast());
    let technician = Actor::shell("technician");
    let cmd = command::enqueue(&db.pool, &technician, id, &TerminalCommand::Extract)
        .await
        .unwrap();
    let progress = follow(&db.pool, cmd).await;
    let CommandOutcome::Extracted { records, .. } = done(&db.pool, cmd).await else {
        panic!("not extracted");
    };
    assert_eq!(records, u64::from(HELD));
    let total = u64::from(HELD);
    println!("docked extract: {} progress reads", progress.len());
    assert!(progress.iter().all(|p| p.total == total), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].done < w[1].done));
    assert_eq!(progress.last(), Some(&Progress { done: total, total }));
    // Its clock is 10 minutes fast: measured at this read, before the first record was stored.
    let (n, lo, hi, off_lo, off_hi): (i64, i32, i32, f64, f64) = sqlx::query_as(
        "SELECT count(*), min(drift_s), max(drift_s),
                min(extract(epoch FROM received_at - scanned_at))::float8,
                max(extract(epoch FROM received_at - scanned_at))::float8
         FROM patrol_scan WHERE terminal_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(n, i64::from(HELD));
    assert!((598..=601).contains(&lo) && lo == hi, "drift {lo}..{hi}");
    // Scanned a moment before they were read, not ten minutes after.
    assert!(off_lo > -3.0 && off_hi < 120.0, "{off_lo}..{off_hi}");
    sup.stop().await;
}

/// Class of every visit of the simulator's tally, by (guard, round start, tag).
type Classes = BTreeMap<(u32, NaiveDateTime, u32), &'static str>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_omission_report_finds_exactly_the_visits_the_simulator_skipped_and_walked_late() {
    let db = test_db().await;
    let first = local_now() + ChronoDuration::seconds(20);
    let config = site(Some(plan(first)));
    let site = start(&config).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "rounds", fast());
    let traffic = site.run_traffic(0.0, config.seed, 0.0);
    let rounds = [first, first + ChronoDuration::minutes(1)];
    // Both rounds closed (last due + late + grace), and every scan the readers made is stored.
    let closed = rounds[1] + ChronoDuration::seconds(24 + 6 + 10 + 1);
    let readers = site.patrol_readers().to_vec();
    let ids: Vec<i64> = ["patrol/patrol/1", "patrol/patrol/2"]
        .iter()
        .map(|r| term(&reg, r).terminal_id)
        .collect();
    let pool = db.pool.clone();
    eventually(
        Duration::from_secs(240),
        "two rounds closed, every scan stored",
        || {
            let (pool, readers, ids) = (pool.clone(), readers.clone(), ids.clone());
            async move {
                if local_now() < closed {
                    return false;
                }
                let mut all = true;
                for (r, id) in readers.iter().zip(&ids) {
                    let n = scalar(
                        &pool,
                        &format!("SELECT count(*) FROM patrol_scan WHERE terminal_id = {id}"),
                    )
                    .await;
                    all &= u64::try_from(n).unwrap() == r.generated();
                }
                all
            }
        },
    )
    .await;
    let mut meant = Classes::new();
    for r in &readers {
        for v in r.visits() {
            if rounds.contains(&v.round_start) {
                let class = match v.class {
                    Intended::OnTime => "on_time",
                    Intended::Late => "late",
                    Intended::Missed => "missed",
                };
                meant.insert((v.guard, v.round_start, v.tag), class);
            }
        }
    }
    assert_eq!(meant.len(), 2 * 2 * TAGS.len(), "{meant:?}");
    let zone = |t: NaiveDateTime| onecard::domain::time::instant(t);
    let q = OmissionQuery {
        from: zone(rounds[0]),
        to: zone(rounds[1]) + chrono::Duration::seconds(1),
        guard: None,
        route: None,
    };
    let found: Classes = omissions::visits(&db.pool, &q, chrono::Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|v| {
            let class = match v.class {
                VisitClass::OnTime => "on_time",
                VisitClass::Late => "late",
                VisitClass::Missed => "missed",
                VisitClass::Early => "early",
                VisitClass::Pending => "pending",
            };
            let start = onecard::domain::time::local(v.start_at);
            let card = u32::try_from(v.guard_card.unwrap()).unwrap();
            let tag = u32::try_from(v.checkpoint_tag).unwrap();
            ((card, start, tag), class)
        })
        .collect();
    let count = |m: &Classes| {
        let mut c: BTreeMap<&str, usize> = BTreeMap::new();
        for class in m.values() {
            *c.entry(class).or_default() += 1;
        }
        c
    };
    println!("meant {:?}, found {:?}", count(&meant), count(&found));
    assert_eq!(count(&found), count(&meant));
    assert_eq!(found, meant);
    let c = count(&meant);
    assert!(
        ["on_time", "late", "missed"]
            .iter()
            .all(|k| c.contains_key(k)),
        "the seed walks every class: {c:?}"
    );
    // The fast reader's scans were corrected by the ten minutes it was off.
    let drift: Vec<i32> =
        sqlx::query_scalar("SELECT DISTINCT drift_s FROM patrol_scan WHERE terminal_id = $1")
            .bind(ids[1])
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(drift.iter().all(|d| (598..=601).contains(d)), "{drift:?}");
    // serve's patrol pass swept the closed rounds: an exception per late or missed visit.
    let bad = i64::try_from(c.get("late").unwrap_or(&0) + c.get("missed").unwrap_or(&0)).unwrap();
    let pool = db.pool.clone();
    eventually(Duration::from_secs(30), "the rounds' exceptions", || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM patrol_exception e JOIN patrol_visit v ON v.id = e.visit_id
                 WHERE v.start_at >= $1 AND v.start_at < $2",
            )
            .bind(q.from)
            .bind(q.to)
            .fetch_one(&pool)
            .await
            .unwrap();
            n == bad
        }
    })
    .await;
    traffic.abort();
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_back_from_a_round_is_corrected_by_the_drift_read_on_its_return() {
    use onecard::sim::native::NativeDevice;
    let db = test_db().await;
    let site = start(&site(None)).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, "patrol/patrol/1").terminal_id;
    let sup = Supervisor::start_with(db.pool.clone(), "round", fast());
    let pool = db.pool.clone();
    let drift = move |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, Option<i32>>("SELECT clock_drift_s FROM terminal WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    eventually(Duration::from_secs(60), "the reader's clock read", || {
        let pool = pool.clone();
        async move { drift(pool).await.is_some_and(|d| d.abs() <= 1) }
    })
    .await;
    // Off on its round: its clock now 5 minutes fast, out of reach of the line.
    let reader = site.patrol_readers()[0].clone();
    reader.broadcast_time(local_now() + ChronoDuration::seconds(300));
    reader.control("offline", &[]).unwrap();
    for tag in TAGS {
        reader.scan(GUARDS[0], tag).unwrap();
    }
    eventually(Duration::from_secs(60), "the reader offline", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM terminal WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
                == "offline"
        }
    })
    .await;
    // Back at its dock well within the clock interval: read before its records are.
    reader.control("online", &[]).unwrap();
    eventually(Duration::from_secs(60), "the round's scans stored", || {
        let pool = pool.clone();
        async move {
            scalar(
                &pool,
                &format!("SELECT count(*) FROM patrol_scan WHERE terminal_id = {id}"),
            )
            .await
                == 4
        }
    })
    .await;
    let (lo, hi, late): (i32, i32, f64) = sqlx::query_as(
        "SELECT min(drift_s), max(drift_s),
                max(abs(extract(epoch FROM received_at - scanned_at)))::float8
         FROM patrol_scan WHERE terminal_id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!((299..=301).contains(&lo) && lo == hi, "drift {lo}..{hi}");
    assert!(late < 60.0, "scanned {late} s before it was read");
    sup.stop().await;
}
