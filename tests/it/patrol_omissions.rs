//! The omission calculation on hand-built schedules: every edge DOMAIN.md names.

use crate::support::test_db;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use onecard::db::patrol::omissions::{self, Grouping, OmissionQuery, ScanClass};
use onecard::db::patrol::setup::{self, Checkpoint, Guard, Route, RoutePoint, Schedule};
use onecard::db::patrol::{exceptions, watch, VisitClass};
use onecard::domain::permission::Actor;
use sqlx::PgPool;

fn actor() -> Actor {
    Actor::shell("test")
}

async fn zone(pool: &PgPool, name: &str) {
    sqlx::query("INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', to_jsonb($1::text), 'test')")
        .bind(name)
        .execute(pool)
        .await
        .unwrap();
}

fn wall(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// A wall-clock time of `tz` as an instant.
fn at(tz: chrono_tz::Tz, s: &str) -> DateTime<Utc> {
    tz.from_local_datetime(&wall(s))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

const SH: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

async fn checkpoints(pool: &PgPool, tags: &[i64]) {
    for &tag in tags {
        setup::save_checkpoint(
            pool,
            &actor(),
            &Checkpoint {
                tag,
                name: format!("点{tag}"),
                location: String::new(),
                place: None,
                early_s: None,
                late_s: None,
            },
        )
        .await
        .unwrap();
    }
}

async fn guard(pool: &PgPool, card: i64, name: &str) -> i64 {
    setup::save_guard(
        pool,
        &actor(),
        &Guard {
            id: 0,
            card,
            name: name.into(),
            group_id: None,
        },
    )
    .await
    .unwrap()
}

/// A route over (tag, offset in seconds) with E = L = 300 s and 600 s of grace.
async fn route(pool: &PgPool, name: &str, points: &[(i64, i32)], any_order: bool) -> i64 {
    let mut r = Route::new(
        name,
        points
            .iter()
            .map(|&(checkpoint_tag, offset_s)| RoutePoint {
                checkpoint_tag,
                offset_s,
            })
            .collect(),
    );
    r.any_order = any_order;
    r.duration_s = 1800;
    setup::save_route(pool, &actor(), &r).await.unwrap()
}

#[allow(clippy::too_many_arguments)]
async fn schedule(
    pool: &PgPool,
    route_id: i64,
    guard_id: i64,
    first: &str,
    last: &str,
    every_min: i32,
    from: &str,
    to: &str,
) -> i64 {
    setup::save_schedule(
        pool,
        &actor(),
        &Schedule {
            id: 0,
            route_id,
            guard_id: Some(guard_id),
            group_id: None,
            shift: "夜班".into(),
            dow_mask: 127,
            first_start: NaiveTime::parse_from_str(first, "%H:%M").unwrap(),
            last_start: NaiveTime::parse_from_str(last, "%H:%M").unwrap(),
            every_min,
            valid_from: NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap(),
            valid_to: Some(NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap()),
        },
    )
    .await
    .unwrap()
}

/// Scans by reader `terminal` (no terminal row: drift 0 unless given): (record, card, tag, wall time).
async fn scans(pool: &PgPool, terminal: i64, rows: &[(i64, i64, i64, &str)], drift_s: i32) {
    for &(record_no, card, tag, t) in rows {
        sqlx::query(
            "INSERT INTO patrol_scan (terminal_id, record_no, guard_card, checkpoint_tag, event, terminal_time, drift_s)
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(terminal)
        .bind(record_no)
        .bind(card)
        .bind(tag)
        .bind(wall(t))
        .bind(drift_s)
        .execute(pool)
        .await
        .unwrap();
    }
}

fn query(from: DateTime<Utc>, to: DateTime<Utc>) -> OmissionQuery {
    OmissionQuery {
        from,
        to,
        guard: None,
        route: None,
    }
}

/// (round start wall time, seq, class) of every visit.
async fn classes(
    pool: &PgPool,
    q: &OmissionQuery,
    tz: chrono_tz::Tz,
) -> Vec<(String, i32, VisitClass)> {
    omissions::visits(pool, q, Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|v| {
            (
                v.start_at
                    .with_timezone(&tz)
                    .format("%m-%d %H:%M")
                    .to_string(),
                v.seq,
                v.class,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_night_shift_across_midnight_with_visits_on_and_past_the_bounds() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[11, 12, 13]).await;
    let g = guard(pool, 5001, "王保安").await;
    let r = route(pool, "夜巡", &[(11, 0), (12, 600), (13, 1200)], false).await;
    schedule(
        pool,
        r,
        g,
        "22:00",
        "02:00",
        120,
        "2026-11-01",
        "2026-11-01",
    )
    .await;
    scans(
        pool,
        9,
        &[
            // 22:00 round: A exactly at due + L (on time), B one second past it (late), C none.
            (1, 5001, 11, "2026-11-01 22:05:00"),
            (2, 5001, 12, "2026-11-01 22:15:01"),
            // Between rounds: after the 22:00 round's period, before the 00:00 round's.
            (3, 5001, 11, "2026-11-01 23:54:59"),
            // 00:00 round: A exactly at due − E (on time), B before its window (early).
            (4, 5001, 11, "2026-11-01 23:55:00"),
            (5, 5001, 12, "2026-11-02 00:04:59"),
            (6, 5001, 13, "2026-11-02 00:20:00"),
        ],
        0,
    )
    .await;
    let q = query(at(SH, "2026-11-01 00:00:00"), at(SH, "2026-11-03 00:00:00"));
    use VisitClass::*;
    assert_eq!(
        classes(pool, &q, SH).await,
        vec![
            ("11-01 22:00".into(), 1, OnTime),
            ("11-01 22:00".into(), 2, Late),
            ("11-01 22:00".into(), 3, Missed),
            ("11-02 00:00".into(), 1, OnTime),
            ("11-02 00:00".into(), 2, Early),
            ("11-02 00:00".into(), 3, OnTime),
            ("11-02 02:00".into(), 1, Missed),
            ("11-02 02:00".into(), 2, Missed),
            ("11-02 02:00".into(), 3, Missed),
        ]
    );
    // The round that crossed midnight belongs to the day it started; the 00:00 round to its own.
    let days = omissions::day_totals(pool, &q, Utc::now()).await.unwrap();
    let (by_day, all) = omissions::group(&days, Grouping::Day);
    assert_eq!(by_day.len(), 2);
    assert_eq!(
        (by_day[0].key.as_str(), by_day[0].counts.visits),
        ("2026-11-01", 3)
    );
    assert_eq!(
        (by_day[1].key.as_str(), by_day[1].counts.visits),
        ("2026-11-02", 6)
    );
    assert_eq!(
        (all.on_time, all.early, all.late, all.missed, all.pending),
        (3, 1, 1, 4, 0)
    );
    assert_eq!(all.compliance().map(|c| (c * 10.0).round()), Some(333.0));
    // A range that cuts a day in two counts the same visits, from the visits themselves.
    let part = query(at(SH, "2026-11-01 21:00:00"), at(SH, "2026-11-02 01:00:00"));
    let (_, some) = omissions::group(
        &omissions::day_totals(pool, &part, Utc::now())
            .await
            .unwrap(),
        Grouping::Guard,
    );
    assert_eq!((some.visits, some.on_time, some.missed), (6, 3, 1));
    // The scan between rounds is outside every period.
    let found = omissions::scans(pool, &q).await.unwrap();
    let outside: Vec<i64> = found
        .iter()
        .filter(|s| s.class == ScanClass::OutsidePeriod)
        .map(|s| s.record_no)
        .collect();
    assert_eq!(outside, vec![3]);
    // Closed rounds become exceptions: missed and late, not early.
    watch::tick(pool, Utc::now()).await.unwrap();
    let open = exceptions::open(pool, 100).await.unwrap();
    assert_eq!(open.len(), 5, "{open:?}");
    assert_eq!(
        open.iter()
            .filter(|e| e.class == exceptions::ExceptionClass::Late)
            .count(),
        1
    );
}

#[tokio::test]
async fn an_any_order_round_needs_each_checkpoint_once_inside_its_window() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[21, 22, 23]).await;
    let g = guard(pool, 5002, "李保安").await;
    let r = route(pool, "任意顺序", &[(21, 0), (22, 0), (23, 0)], true).await;
    schedule(pool, r, g, "08:00", "08:00", 60, "2026-11-05", "2026-11-05").await;
    // Window [07:55, 08:35]: backwards is fine; the third checkpoint comes a second too late.
    scans(
        pool,
        9,
        &[
            (1, 5002, 23, "2026-11-05 07:55:00"),
            (2, 5002, 22, "2026-11-05 08:20:00"),
            (3, 5002, 21, "2026-11-05 08:35:01"),
        ],
        0,
    )
    .await;
    let q = query(at(SH, "2026-11-05 00:00:00"), at(SH, "2026-11-06 00:00:00"));
    use VisitClass::*;
    let got: Vec<VisitClass> = classes(pool, &q, SH)
        .await
        .into_iter()
        .map(|c| c.2)
        .collect();
    assert_eq!(got, vec![Missed, OnTime, OnTime]);
}

#[tokio::test]
async fn a_checkpoint_twice_on_a_route_takes_each_scan_once() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[31, 32]).await;
    let g = guard(pool, 5003, "张保安").await;
    // 31 at the start and again 20 minutes in.
    let r = route(pool, "往返", &[(31, 0), (32, 600), (31, 1200)], false).await;
    schedule(pool, r, g, "09:00", "10:00", 60, "2026-11-05", "2026-11-05").await;
    // 09:00 round: one scan of 31 could match either visit: it is used once, for the first.
    // 10:00 round: the later scan is stored first; both are matched in time order.
    scans(
        pool,
        9,
        &[
            (1, 5003, 31, "2026-11-05 09:01:00"),
            (2, 5003, 32, "2026-11-05 09:10:00"),
            (4, 5003, 31, "2026-11-05 10:19:00"),
        ],
        0,
    )
    .await;
    scans(
        pool,
        9,
        &[
            (3, 5003, 31, "2026-11-05 10:00:30"),
            // A third scan of 31 in the 10:00 round is a repeat.
            (5, 5003, 31, "2026-11-05 10:21:00"),
        ],
        0,
    )
    .await;
    let q = query(at(SH, "2026-11-05 00:00:00"), at(SH, "2026-11-06 00:00:00"));
    use VisitClass::*;
    assert_eq!(
        classes(pool, &q, SH).await,
        vec![
            ("11-05 09:00".into(), 1, OnTime),
            ("11-05 09:00".into(), 2, OnTime),
            ("11-05 09:00".into(), 3, Missed),
            ("11-05 10:00".into(), 1, OnTime),
            ("11-05 10:00".into(), 2, Missed),
            ("11-05 10:00".into(), 3, OnTime),
        ]
    );
    let visits = omissions::visits(pool, &q, Utc::now()).await.unwrap();
    let used: Vec<Option<String>> = visits
        .iter()
        .map(|v| {
            v.scanned_at
                .map(|t| t.with_timezone(&SH).format("%H:%M:%S").to_string())
        })
        .collect();
    assert_eq!(used[5].as_deref(), Some("10:19:00"));
    let found = omissions::scans(pool, &q).await.unwrap();
    let repeats: Vec<i64> = found
        .iter()
        .filter(|s| s.class == ScanClass::Repeat)
        .map(|s| s.record_no)
        .collect();
    assert_eq!(repeats, vec![5]);
}

#[tokio::test]
async fn a_guard_with_no_scans_misses_every_visit_and_still_counts() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[41, 42]).await;
    let walker = guard(pool, 5004, "赵保安").await;
    let idle = guard(pool, 5005, "钱保安").await;
    let r = route(pool, "东区", &[(41, 0), (42, 300)], false).await;
    schedule(
        pool,
        r,
        walker,
        "20:00",
        "20:00",
        60,
        "2026-11-05",
        "2026-11-06",
    )
    .await;
    schedule(
        pool,
        r,
        idle,
        "21:00",
        "21:00",
        60,
        "2026-11-05",
        "2026-11-06",
    )
    .await;
    scans(
        pool,
        9,
        &[
            (1, 5004, 41, "2026-11-05 20:00:00"),
            (2, 5004, 42, "2026-11-05 20:05:00"),
            // A checkpoint on no route of this guard.
            (3, 5004, 99, "2026-11-05 20:06:00"),
        ],
        0,
    )
    .await;
    let q = query(at(SH, "2026-11-05 00:00:00"), at(SH, "2026-11-07 00:00:00"));
    let days = omissions::day_totals(pool, &q, Utc::now()).await.unwrap();
    let (by_guard, _) = omissions::group(&days, Grouping::Guard);
    let idle_row = by_guard.iter().find(|t| t.key == "钱保安").unwrap();
    assert_eq!((idle_row.counts.visits, idle_row.counts.missed), (4, 4));
    assert_eq!(idle_row.counts.compliance(), Some(0.0));
    let walker_row = by_guard.iter().find(|t| t.key == "赵保安").unwrap();
    assert_eq!(
        (walker_row.counts.on_time, walker_row.counts.missed),
        (2, 2)
    );
    // One guard's report.
    let mine = OmissionQuery {
        guard: Some(idle),
        ..q.clone()
    };
    let v = omissions::visits(pool, &mine, Utc::now()).await.unwrap();
    assert_eq!(v.len(), 4);
    assert!(v
        .iter()
        .all(|v| v.class == VisitClass::Missed && v.guard == "钱保安"));
    // The tag on no route is off-route (it names no checkpoint either).
    let found = omissions::scans(pool, &q).await.unwrap();
    assert_eq!(
        found.iter().find(|s| s.record_no == 3).map(|s| s.class),
        Some(ScanClass::OffRoute)
    );
}

#[tokio::test]
async fn a_reader_ten_minutes_fast_is_corrected_by_the_drift_measured_at_its_read() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[51, 52]).await;
    let g = guard(pool, 5006, "孙保安").await;
    let r = route(pool, "西区", &[(51, 0), (52, 600)], false).await;
    schedule(pool, r, g, "23:00", "23:00", 60, "2026-11-05", "2026-11-05").await;
    let terminal: i64 = sqlx::query_scalar(
        "WITH l AS (INSERT INTO line (name, protocol, transport, address) VALUES ('patrol', 'native', 'tcp', '127.0.0.1:1') RETURNING id)
         INSERT INTO terminal (line_id, kind, address, name, clock_drift_s) SELECT id, 'patrol_reader', 1, '巡更机1', 600 FROM l RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // The reader's clock says 23:10 and 23:21 for 23:00 and 23:11.
    let rows = [
        (1, 51, "2026-11-05 23:10:00"),
        (2, 52, "2026-11-05 23:21:00"),
    ]
    .map(|(record_no, tag, t)| onecard::db::ingest::ScanRow {
        record_no,
        guard_card: 5006,
        checkpoint_tag: tag,
        event: 0,
        terminal_time: Some(wall(t)),
    });
    onecard::db::ingest::store_scans(pool, terminal, &rows, Some(2))
        .await
        .unwrap();
    let q = query(at(SH, "2026-11-05 00:00:00"), at(SH, "2026-11-06 00:00:00"));
    let v = omissions::visits(pool, &q, Utc::now()).await.unwrap();
    assert_eq!(
        v.iter().map(|v| v.class).collect::<Vec<_>>(),
        vec![VisitClass::OnTime, VisitClass::OnTime]
    );
    assert_eq!(v[0].scanned_at, Some(at(SH, "2026-11-05 23:00:00")));
    assert_eq!(v[0].drift_s, Some(600));
    let found = omissions::scans(pool, &q).await.unwrap();
    assert!(found.iter().all(|s| s.clock_suspect && s.drift_s == 600));
}

#[tokio::test]
async fn a_round_across_the_spring_forward_change_is_due_by_elapsed_time() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Europe/Berlin").await;
    let berlin = chrono_tz::Europe::Berlin;
    checkpoints(pool, &[61, 62]).await;
    let g = guard(pool, 5007, "Guard").await;
    // 62 is due 90 minutes into the round.
    let r = route(pool, "Nacht", &[(61, 0), (62, 5400)], false).await;
    // 2026-03-29: the clocks go from 02:00 to 03:00. Rounds at 01:00 and 05:00.
    schedule(
        pool,
        r,
        g,
        "01:00",
        "05:00",
        240,
        "2026-03-29",
        "2026-03-29",
    )
    .await;
    // Hourly rounds of another guard: 02:00 does not exist that night, so it is the 03:00 one.
    let other = guard(pool, 5008, "Other").await;
    let hourly = route(pool, "Tor", &[(61, 0)], false).await;
    schedule(
        pool,
        hourly,
        other,
        "00:00",
        "04:00",
        60,
        "2026-03-29",
        "2026-03-29",
    )
    .await;
    // The 01:00 round: 62 is due 90 real minutes later, at 03:30 on the wall clock.
    scans(
        pool,
        9,
        &[
            (1, 5007, 61, "2026-03-29 01:00:00"),
            (2, 5007, 62, "2026-03-29 03:30:00"),
        ],
        0,
    )
    .await;
    let q = query(
        at(berlin, "2026-03-29 00:00:00"),
        at(berlin, "2026-03-30 00:00:00"),
    );
    let v = omissions::visits(pool, &q, Utc::now()).await.unwrap();
    let starts: Vec<String> = v
        .iter()
        .filter(|v| v.guard == "Other")
        .map(|v| {
            v.start_at
                .with_timezone(&berlin)
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(starts, vec!["00:00", "01:00", "03:00", "04:00"]);
    let one = v
        .iter()
        .find(|v| v.seq == 2 && v.start_at == at(berlin, "2026-03-29 01:00:00"))
        .unwrap();
    assert_eq!(one.due, at(berlin, "2026-03-29 03:30:00"));
    assert_eq!(one.class, VisitClass::OnTime);
}

#[tokio::test]
async fn an_overdue_checkpoint_of_an_online_round_raises_one_alarm() {
    let db = test_db().await;
    let pool = &db.pool;
    zone(pool, "Asia/Shanghai").await;
    checkpoints(pool, &[71, 72]).await;
    let g = guard(pool, 5009, "周保安").await;
    let r = route(pool, "夜巡在线", &[(71, 0), (72, 3600)], false).await;
    // One round that started 20 minutes ago: 71's window closed 15 minutes ago, unscanned.
    let now = Utc::now();
    let start = (now - chrono::Duration::minutes(20)).with_timezone(&SH);
    let first = start.format("%H:%M").to_string();
    let day = start.date_naive();
    let day = day.format("%Y-%m-%d").to_string();
    schedule(pool, r, g, &first, &first, 60, &day, &day).await;
    let t = watch::tick(pool, Utc::now()).await.unwrap();
    assert_eq!(t.alarms, 1, "{t:?}");
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE kind = 'patrol_overdue' AND card = 5009",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    match onecard::db::ingest::AlarmDetail::parse(&detail) {
        Some(onecard::db::ingest::AlarmDetail::PatrolOverdue { tag, guard, .. }) => {
            assert_eq!((tag, guard.as_str()), (71, "周保安"));
        }
        other => panic!("{other:?}"),
    }
    // Once per visit; and no exception while the round is still open.
    assert_eq!(watch::tick(pool, Utc::now()).await.unwrap().alarms, 0);
    assert_eq!(exceptions::open_count(pool).await.unwrap(), 0);
    let live = onecard::db::patrol::live::checkpoints(pool, Utc::now())
        .await
        .unwrap();
    let states: Vec<_> = live.iter().map(|c| (c.tag, c.state)).collect();
    use onecard::db::patrol::live::LiveState;
    assert_eq!(
        states,
        vec![(71, LiveState::Overdue), (72, LiveState::Waiting)]
    );
    assert!(live[0].overdue_by(Utc::now()).unwrap() >= chrono::Duration::minutes(14));
}

#[tokio::test]
async fn a_guard_group_is_deleted_only_when_no_schedule_names_it() {
    let db = test_db().await;
    let pool = &db.pool;
    checkpoints(pool, &[81]).await;
    let group = setup::save_group(pool, &actor(), 0, "夜班组")
        .await
        .unwrap();
    let g = setup::save_guard(
        pool,
        &actor(),
        &Guard {
            id: 0,
            card: 5010,
            name: "吴保安".into(),
            group_id: Some(group),
        },
    )
    .await
    .unwrap();
    let r = route(pool, "南区", &[(81, 0)], false).await;
    let s = setup::save_schedule(
        pool,
        &actor(),
        &Schedule {
            id: 0,
            route_id: r,
            guard_id: None,
            group_id: Some(group),
            shift: "夜班".into(),
            dow_mask: 127,
            first_start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            last_start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            every_min: 60,
            valid_from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            valid_to: Some(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()),
        },
    )
    .await
    .unwrap();
    match setup::delete_group(pool, &actor(), group).await {
        Err(onecard::db::patrol::PatrolError::GroupInUse { name, schedules }) => {
            assert_eq!((name.as_str(), schedules), ("夜班组", 1));
        }
        other => panic!("{other:?}"),
    }
    setup::delete_schedule(pool, &actor(), s).await.unwrap();
    setup::delete_group(pool, &actor(), group).await.unwrap();
    let guards = setup::guards(pool).await.unwrap();
    assert_eq!(guards.iter().find(|x| x.id == g).unwrap().group_id, None);
    assert!(setup::groups(pool).await.unwrap().is_empty());
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'patrol.group.delete'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}
