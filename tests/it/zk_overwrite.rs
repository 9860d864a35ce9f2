//! A ZKTeco machine set to overwrite its oldest punches when its log is full ("circular
//! delete"): what it overwrote before `serve` collected it is one `records_lost` alarm and one
//! gap, a span of the machine's time; what it still holds is stored once, and a full log whose
//! count stays the same is still read.

use crate::poller::{eventually, fast, quiet_demo, start, stored};
use crate::support::test_db;
use onecard::db::ingest::{self, AlarmDetail};
use onecard::poller::Supervisor;
use onecard::sim::register::register_site;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn punches_a_machine_overwrote_are_one_alarm_and_one_gap() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.clear();
    cfg.lines.clear();
    cfg.attendance_machines.truncate(1);
    cfg.attendance_machines[0].capacity = 10;
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = reg[0].terminal_id;
    let m = site.attendance_machines()[0].clone();
    m.overwrite_when_full();
    assert_eq!(m.fill(4).unwrap(), 4);
    let total = || async { stored(&db.pool, &reg).await.values().sum::<u64>() };
    let sup = Supervisor::start_with(db.pool.clone(), "circular", fast());
    eventually(Duration::from_secs(30), "4 punches", || async {
        total().await == 4
    })
    .await;
    sup.stop().await;
    let newest: chrono::NaiveDateTime =
        sqlx::query_scalar("SELECT max(terminal_time) FROM punch WHERE terminal_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();

    // serve is down for an hour: 20 punches in a log of 10 overwrite the 4 and 10 more.
    m.clock().set(newest + chrono::Duration::hours(1));
    assert_eq!(m.fill(20).unwrap(), 20);
    let oldest_held = m.records()[0].time().unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "circular", fast());
    eventually(Duration::from_secs(30), "the 10 still held", || async {
        total().await == 14
    })
    .await;
    let lost: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE terminal_id = $1 AND kind = 'records_lost'",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        AlarmDetail::parse(&lost[0]),
        Some(AlarmDetail::PunchesLost {
            after: newest,
            before: oldest_held
        })
    );
    let gaps = ingest::record_gaps(&db.pool, Some(id)).await.unwrap();
    assert_eq!(
        gaps.iter()
            .map(|g| (g.first_record, g.lost_after, g.lost_before))
            .collect::<Vec<_>>(),
        [(None, Some(newest), Some(oldest_held))]
    );

    // Full, one more punch overwrites one: the count stays 10, and the punch is still read.
    m.clock()
        .set(m.clock().now() + chrono::Duration::minutes(5));
    assert_eq!(m.fill(1).unwrap(), 1);
    eventually(
        Duration::from_secs(60),
        "the punch past a full log",
        || async { total().await == 15 },
    )
    .await;
    let alarms: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alarm WHERE terminal_id = $1 AND kind = 'records_lost'",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(alarms, 1, "nothing collected was overwritten this time");
    sup.stop().await;
}
