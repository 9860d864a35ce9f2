//! The demo site's contents.

use crate::support::{test_db, verify_ledger};
use onecard::db::operator;
use onecard::domain::role::Role;

#[tokio::test]
async fn the_demo_site_has_people_and_an_operator_per_role() {
    let db = test_db().await;
    onecard::demo::load(&db.pool).await.unwrap();
    // Loading again (a restart after a half-finished load) adds nothing twice.
    onecard::demo::load(&db.pool).await.unwrap();
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM person")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(people as usize, onecard::demo::PEOPLE);
    let depts: i64 = sqlx::query_scalar("SELECT count(*) FROM department")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(depts, 10);
    let chinese: i64 =
        sqlx::query_scalar("SELECT count(*) FROM person WHERE name ~ '[\\u4e00-\\u9fff]'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let latin: i64 = sqlx::query_scalar("SELECT count(*) FROM person WHERE name ~ '^[A-Za-z]'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        chinese > 200 && latin >= 30,
        "chinese {chinese}, latin {latin}"
    );
    let accounts = onecard::demo::accounts(&db.pool).await.unwrap();
    assert_eq!(accounts.len(), Role::ALL.len());
    for role in Role::ALL {
        assert!(accounts.iter().any(|a| a.1 == role.name()), "{role}");
    }
    // The listed passwords are the real ones.
    for (login, _, _, password) in &accounts {
        operator::authenticate(&db.pool, login, password, "test")
            .await
            .unwrap();
    }
    assert!(accounts.iter().any(|a| a.0 == onecard::demo::DIRECTOR));
    verify_ledger(&db.pool).await;
}

/// Waits (generously: nothing here is timed) until `sql` returns a row.
async fn until_row<T>(pool: &sqlx::PgPool, what: &str, sql: &str) -> T
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(row) = sqlx::query_as::<_, T>(sql)
            .fetch_optional(pool)
            .await
            .unwrap()
        {
            return row;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(90),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_live_demo_names_its_doors_and_its_cardholders_swipe_them() {
    use onecard::demo::{LiveOptions, LiveSite};
    use onecard::sim::site::Ports;
    use std::time::Duration;
    let db = test_db().await;
    let pool = &db.pool;
    onecard::demo::load(pool).await.unwrap();
    assert_eq!(onecard::demo::control_address(pool).await.unwrap(), None);
    let options = || LiveOptions {
        ports: Ports::ephemeral(),
        rate: 40.0,
        alarm_percent: 5.0,
        follow_desk: Duration::from_millis(300),
        poller: onecard::poller::Options {
            recheck: Duration::from_millis(300),
            uhppote_timeout: Duration::from_millis(300),
            max_backoff: Duration::from_secs(1),
            ..onecard::poller::Options::default()
        },
    };
    let live = LiveSite::start_with(pool, options())
        .await
        .unwrap()
        .expect("no other demo runs this database");
    // One process runs the site; the others find its control interface.
    assert!(LiveSite::start_with(pool, options())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        onecard::demo::control_address(pool).await.unwrap(),
        Some(live.control())
    );

    // The canteen's last month is in the books, settled and locked: a monthly statement with
    // its purchases, and the books balance.
    let (kind, purchases, start): (String, i64, chrono::NaiveDate) = sqlx::query_as(
        "SELECT s.period_kind, s.purchases, s.period_start FROM settlement s
         JOIN merchant m ON m.id = s.merchant_id WHERE m.name = '第一食堂'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(kind, "monthly");
    assert!(purchases > 500, "{purchases} purchases last month");
    assert!(start < onecard::domain::time::today());
    crate::support::verify_ledger(pool).await;

    // Controllers and doors have names and places.
    let controllers: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, location FROM terminal WHERE kind = 'door_controller' ORDER BY address",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(
        controllers.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        vec!["图书馆", "学生宿舍3号楼", "实验楼", "体育馆"]
    );
    assert!(
        controllers.iter().all(|c| !c.1.is_empty()),
        "{controllers:?}"
    );
    let doors: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.name, d.location FROM door d JOIN terminal t ON t.id = d.terminal_id
         ORDER BY t.address, d.door",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(doors.len(), 16);
    assert_eq!(doors[0].0, "图书馆东门");
    assert!(
        doors.iter().all(|d| !d.0.is_empty() && !d.1.is_empty()),
        "{doors:?}"
    );

    // A demo cardholder's swipe, granted by a controller that learnt the card from the poller.
    let (card, person_no, name, door): (i64, String, String, String) = until_row(
        pool,
        "a granted swipe by a demo cardholder",
        "SELECT e.card, p.person_no, p.name, d.name FROM door_event e
         JOIN card c ON c.card_no = e.card JOIN person p ON p.id = c.person_id
         JOIN door d ON d.terminal_id = e.terminal_id AND d.door = e.door
         WHERE e.kind = 'granted' AND e.granted LIMIT 1",
    )
    .await;
    assert!(
        onecard::demo::people()
            .iter()
            .any(|p| p.0 == person_no && p.1 == name),
        "{person_no} {name} is a demo person"
    );
    assert!(!door.is_empty());
    let held = live
        .site()
        .controllers()
        .iter()
        .any(|c| c.card(u32::try_from(card).unwrap()).is_some());
    assert!(held, "card {card} reached a controller");
    // The controllers started empty: once the queue is through, they hold the cards in
    // service and no other.
    until_row::<(i64,)>(
        pool,
        "every command to the terminals carried out",
        "SELECT 0::int8 WHERE NOT EXISTS
             (SELECT 1 FROM terminal_command WHERE state IN ('queued', 'running'))",
    )
    .await;
    let issued: Vec<i64> = sqlx::query_scalar("SELECT card_no FROM card WHERE state = 'active'")
        .fetch_all(pool)
        .await
        .unwrap();
    for c in live.site().controllers() {
        for held in c.cards() {
            assert!(
                issued.contains(&i64::from(held.number)),
                "{} holds card {} the desk never issued or took back",
                c.serial(),
                held.number
            );
        }
    }
    // Refusals too, and now and then a door forced or held open.
    until_row::<(i64,)>(
        pool,
        "a refused swipe",
        "SELECT card FROM door_event WHERE kind = 'denied' LIMIT 1",
    )
    .await;
    until_row::<(String,)>(
        pool,
        "a door forced or held open",
        "SELECT kind FROM door_event WHERE kind IN ('forced_open', 'held_open') LIMIT 1",
    )
    .await;

    // A card the desk issues now reaches its doors, and its holder swipes there.
    let (person_id, library): (i64, i64) = sqlx::query_as(
        "SELECT p.id, g.id FROM person p, door_group g
         WHERE g.name = '图书馆' AND NOT EXISTS (SELECT 1 FROM card c WHERE c.person_id = p.id)
         ORDER BY p.person_no LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let today = chrono::Local::now().date_naive();
    onecard::db::card::issue(
        pool,
        &onecard::domain::permission::Actor::shell("test"),
        &onecard::db::card::IssueRequest {
            card_no: 8_165_600,
            person_id,
            kind: onecard::domain::card::CardKind::Staff,
            subsystems: vec![onecard::domain::card::Subsystem::Door],
            door_groups: vec![library],
            terminals: vec![],
            valid_from: today,
            valid_until: today + chrono::Duration::days(365),
            paid_from: onecard::db::card::PaidFrom::Cash,
        },
    )
    .await
    .unwrap();
    until_row::<(i64,)>(
        pool,
        "a granted swipe with the card just issued",
        "SELECT card FROM door_event WHERE card = 8165600 AND kind = 'granted' LIMIT 1",
    )
    .await;
    demo_patrol(pool).await;
    demo_attendance(pool).await;
    live.stop().await;
    assert_eq!(onecard::demo::control_address(pool).await.unwrap(), None);

    // The next demo: a new simulator, whose controllers know nothing yet, learns every card in
    // service again through the queue.
    let renamed = "SELECT count(*) FROM door WHERE name = '图书馆东门'";
    let live = LiveSite::start_with(pool, options())
        .await
        .unwrap()
        .unwrap();
    until_row::<(i64,)>(
        pool,
        "a granted swipe on the new simulator",
        "SELECT card FROM door_event WHERE kind = 'granted' LIMIT 1",
    )
    .await;
    let named: i64 = sqlx::query_scalar(renamed).fetch_one(pool).await.unwrap();
    assert_eq!(named, 1);
    verify_ledger(pool).await;
    live.stop().await;
}

/// The demo's patrol: the campus plan with its checkpoints, the guards' tables on both
/// readers, a night and an all-day schedule, and a week of past rounds with late and missed
/// visits among them, swept into exceptions.
async fn demo_patrol(pool: &sqlx::PgPool) {
    use onecard::db::patrol::{omissions, setup, VisitClass};
    let maps = setup::maps(pool).await.unwrap();
    assert_eq!(maps.len(), 1);
    assert_eq!((maps[0].width, maps[0].height), (70, 20));
    let onecard::db::patrol::MapKind::Text { plan } = &maps[0].kind else {
        panic!("a text plan");
    };
    for building in [
        "图书馆",
        "学生宿舍3号楼",
        "实验楼",
        "体育馆",
        "食堂",
        "校门",
    ] {
        assert!(plan.contains(building), "{building} on the plan");
    }
    let checkpoints = setup::checkpoints(pool).await.unwrap();
    assert_eq!(checkpoints.len(), 8);
    assert!(checkpoints
        .iter()
        .all(|c| c.place.is_some_and(|p| p.0 == maps[0].id)));
    assert_eq!(setup::guards(pool).await.unwrap().len(), 3);
    assert_eq!(setup::routes(pool).await.unwrap().len(), 2);
    let shifts: Vec<String> = setup::schedules(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.shift)
        .collect();
    assert_eq!(shifts, vec!["夜班", "全天"]);
    let now = chrono::Utc::now();
    let q = omissions::OmissionQuery {
        from: now - chrono::Duration::days(8),
        to: now,
        guard: None,
        route: None,
    };
    let visits = omissions::visits(pool, &q, now).await.unwrap();
    for class in [VisitClass::OnTime, VisitClass::Late, VisitClass::Missed] {
        assert!(
            visits
                .iter()
                .filter(|v| v.route == "夜间全园巡逻" && v.class == class)
                .count()
                > 0,
            "a past night visit {class:?}"
        );
    }
    until_row::<(i64,)>(
        pool,
        "the past rounds' exceptions",
        "SELECT count(*) FROM patrol_exception HAVING count(*) > 0",
    )
    .await;
}

/// The demo's attendance: two shifts (保卫处 on nights), a month of past punches on the two
/// machines whose results hold late, absent and missing punches, and the offline machine's
/// file, imported once.
async fn demo_attendance(pool: &sqlx::PgPool) {
    use onecard::db::attendance::{self, shifts};
    use onecard::demo::attendance as demo;
    let names: Vec<String> = shifts::shifts(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let machines: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM terminal WHERE kind = 'attendance_machine' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(machines, ["图书馆考勤机", "行政楼考勤机"]);
    let (punches, days): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT terminal_time::date) FROM punch
          WHERE terminal_time < current_date",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        punches > 3_000 && days >= 20,
        "{punches} punches over {days} days"
    );
    attendance::catch_up(pool, 100).await.unwrap();
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT status FROM att_day ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    for s in ["absent", "late", "missing_punch", "present", "rest"] {
        assert!(statuses.iter().any(|x| x == s), "{s} in {statuses:?}");
    }
    let night: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM att_day a JOIN att_shift s ON s.id = a.shift_id
          WHERE s.name = '夜班' AND a.status = 'present'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(night > 0, "the night shift has present days");
    let machine = demo::offline_machine(pool).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = demo::write_offline_file(pool, dir.path(), 1, onecard::domain::time::today())
        .await
        .unwrap();
    let report = onecard::import::punches::import_punches_file(
        pool,
        &onecard::domain::permission::Actor::shell("root"),
        machine,
        &file,
        false,
    )
    .await
    .unwrap();
    assert!(report.new > 10, "{report:?}");
    assert_eq!(report.repeated_in_file, 1, "the punch written twice");
    assert!(report.bad.is_empty(), "{:?}", report.bad);
}
