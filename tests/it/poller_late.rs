//! A backlog is late, whatever the reason it waited: events older than the grace period when
//! collected (here: recorded while no `serve` ran) come in late, and their alarms never ring.

use crate::poller::{ctl, drained, fast, quiet_demo, start, term};
use crate::support::test_db;
use onecard::poller::Supervisor;
use onecard::sim::register::register_site;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_a_backlog_from_before_serve_comes_in_late_and_live_events_do_not() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let door = term(&reg, "door/405419896").terminal_id;
    let c = site.controllers()[0].clone();
    // While no `serve` ran, seventeen hours ago: a swipe and a forced door. The controller's
    // clock is right again by the time anyone collects them.
    let local_now = || chrono::Local::now().naive_local();
    c.clock().set(local_now() - chrono::Duration::hours(17));
    ctl(&site, "door/405419896 swipe 8165500 1");
    ctl(&site, "door/405419896 forced 2");
    c.clock().set(local_now());
    let sup = Supervisor::start_with(db.pool.clone(), "late", fast());
    drained(&db.pool, &site, &reg, Duration::from_secs(30)).await;
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT kind, late FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
    )
    .bind(door)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|(_, late)| *late), "{rows:?}");
    let alarms: Vec<(String, bool)> =
        sqlx::query_as("SELECT kind, late FROM alarm WHERE terminal_id = $1 AND door IS NOT NULL")
            .bind(door)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(alarms, vec![("forced_open".to_string(), true)]);

    // Now live: a door forced while `serve` runs rings.
    ctl(&site, "door/405419896 forced 3");
    drained(&db.pool, &site, &reg, Duration::from_secs(30)).await;
    let live: Vec<bool> = sqlx::query_scalar(
        "SELECT late FROM alarm WHERE terminal_id = $1 AND door = 3 AND kind = 'forced_open'",
    )
    .bind(door)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(live, vec![false]);
    sup.stop().await;
}

#[tokio::test]
async fn poller_late_grace_is_a_setting_and_an_untimed_event_takes_its_place_in_the_backlog() {
    use onecard::db::ingest::{self, DoorEventRow, LATE_AFTER_KEY};
    use onecard::domain::alarm::AlarmKind;
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    // Two hours of grace.
    onecard::db::settings::set(
        &db.pool,
        &onecard::domain::permission::Actor::shell("root"),
        LATE_AFTER_KEY,
        serde_json::json!(7200),
    )
    .await
    .unwrap();
    let ago = |h: i64| Some(onecard::domain::time::now() - chrono::Duration::hours(h));
    let row = |n: i64, time| DoorEventRow {
        record_no: n,
        door: 1,
        kind: "forced_open".into(),
        granted: false,
        card: None,
        reason: 38,
        terminal_time: time,
        alarm: Some(AlarmKind::ForcedOpen),
        direction: None,
        clock_invalid: false,
    };
    // Untimed before a late one: older still, late. Untimed after the last live one: live.
    let rows = vec![row(1, None), row(2, ago(3)), row(3, ago(1)), row(4, None)];
    ingest::store_door_events(&db.pool, tid, &rows, Some(4), false)
        .await
        .unwrap();
    let late: Vec<bool> =
        sqlx::query_scalar("SELECT late FROM door_event WHERE terminal_id = $1 ORDER BY record_no")
            .bind(tid)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(late, vec![true, true, false, false]);
    let alarms: Vec<bool> = sqlx::query_scalar(
        "SELECT late FROM alarm WHERE terminal_id = $1 ORDER BY (detail::jsonb ->> 'record_no')::int",
    )
    .bind(tid)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(alarms, vec![true, true, false, false]);
}
