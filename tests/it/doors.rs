//! Door monitoring's data layer against a real PostgreSQL: the tree, door settings (audited,
//! announced, queueing the controller's command), events with who, queries and loss queries,
//! the live feed's window, the purge, door alarms and their history; and `onecard doors` as a
//! script runs it.

use crate::support::{door_on_main_gate, library_door, test_db, TestDb};
use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use onecard::db::alarm::{self, AlarmError, AlarmHistoryQuery, NewAlarm};
use onecard::db::command::DoorMode;
use onecard::db::door::{self, DoorError, EventQuery, Field, Problem};
use onecard::db::notify::{Change, CHANNEL};
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub(crate) fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// A local wall-clock time as the moment it is (how the card desk's events are stamped).
fn local(s: &str) -> DateTime<Utc> {
    Local
        .from_local_datetime(&t(s))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

/// Operators 1-4 (door administrator, duty operator, system administrator, card desk), two
/// departments, three people and their cards: 张三 (1001), 张三丰 (1002), Li Wei (2001).
pub(crate) async fn people(pool: &PgPool) {
    exec(
        pool,
        "INSERT INTO operator (id, login, display_name, role, password_hash) VALUES
             (1, 'doors', '门禁管理员', 'door_administrator', 'x'),
             (2, 'duty', '值班员', 'duty_operator', 'x'),
             (3, 'sysadmin', '系统管理员', 'system_administrator', 'x'),
             (4, 'desk', '柜台', 'card_desk', 'x');
         INSERT INTO department (code, name) VALUES ('CS', '计算机学院'), ('LIB', '图书馆');
         INSERT INTO person (person_no, name, department_id, category)
             SELECT p.no, p.name, d.id, p.category
             FROM (VALUES ('2021001', '张三', 'CS', 'student'), ('2021002', '张三丰', 'CS', 'student'),
                          ('E001', 'Li Wei', 'LIB', 'staff')) AS p(no, name, dept, category)
             JOIN department d ON d.code = p.dept;
         INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
             SELECT c.no, p.id, 'student', '2026-01-01', '2027-07-01', 'desk', 'x', 'x'
             FROM (VALUES (1001, '2021001'), (1002, '2021002'), (2001, 'E001')) AS c(no, person)
             JOIN person p ON p.person_no = c.person;",
    )
    .await;
}

pub(crate) fn doors_admin() -> Actor {
    Actor::operator(1, "doors", Role::DoorAdministrator)
}

fn duty() -> Actor {
    Actor::operator(2, "duty", Role::DutyOperator)
}

fn sysadmin() -> Actor {
    Actor::operator(3, "sysadmin", Role::SystemAdministrator)
}

/// One door event as a controller reported it.
pub(crate) async fn swipe(
    pool: &PgPool,
    terminal: i64,
    record_no: i64,
    door: i16,
    card: Option<i64>,
    kind: &str,
    at: &str,
) {
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time)
         VALUES ($1, $2, $3, $4, $4 = 'granted', $5, CASE $4 WHEN 'granted' THEN 1 ELSE 6 END, $6)",
    )
    .bind(terminal)
    .bind(record_no)
    .bind(door)
    .bind(kind)
    .bind(card)
    .bind(t(at))
    .execute(pool)
    .await
    .unwrap();
}

async fn actions(pool: &PgPool, kind: &str) -> Vec<(String, serde_json::Value)> {
    sqlx::query_as(
        "SELECT action, coalesce(after, 'null') FROM audit_log WHERE object_kind = $1 ORDER BY id",
    )
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn next_change(listener: &mut PgListener) -> Change {
    let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification")
        .unwrap();
    Change::parse(n.payload()).unwrap()
}

// ---------------------------------------------------------------- the tree

#[tokio::test]
async fn the_tree_lists_every_door_with_its_controller_state_and_last_event() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    // A serial beginning with 1: a one-door board.
    let annex = door_on_main_gate(pool, 123_456_789, "Annex gate", "Annex").await;

    // Door 3 was used once, long ago; door 1 is busy since (more than the 256 newest records).
    swipe(
        pool,
        lib,
        1,
        3,
        Some(2001),
        "granted",
        "2026-11-01 07:00:00",
    )
    .await;
    swipe(pool, lib, 2, 2, None, "forced_open", "2026-11-02 03:00:00").await;
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time)
         SELECT $1, 2 + g, 1, 'denied', false, 1002, 6, '2026-11-20 08:00:00'::timestamp + g * interval '1 minute'
         FROM generate_series(1, 400) g",
    )
    .bind(lib)
    .execute(pool)
    .await
    .unwrap();
    swipe(
        pool,
        lib,
        403,
        1,
        Some(1001),
        "granted",
        "2026-11-21 09:00:00",
    )
    .await;
    assert!(door::record_live_state(
        pool,
        lib,
        &[door::LiveState {
            door: 1,
            open: true,
            unlocked: false
        }]
    )
    .await
    .unwrap());

    let doors = door::list(pool).await.unwrap();
    let keys: Vec<(&str, i16)> = doors
        .iter()
        .map(|d| (d.controller.as_str(), d.door))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("Annex gate", 1),
            ("图书馆东门", 1),
            ("图书馆东门", 2),
            ("图书馆东门", 3),
            ("图书馆东门", 4)
        ]
    );
    let d1 = &doors[1];
    assert_eq!(
        (
            d1.serial,
            d1.line.as_str(),
            d1.controller_location.as_str(),
            d1.status.as_str(),
            d1.in_scan
        ),
        (405_419_896, "main gate", "Library east", "unknown", true)
    );
    assert_eq!(
        (d1.name.as_str(), d1.mode, d1.unlock_secs),
        ("", DoorMode::Controlled, 3)
    );
    assert_eq!((d1.open, d1.unlocked), (Some(true), Some(false)));
    assert!(d1.state_at.is_some());
    assert_eq!(
        (
            d1.last_kind.as_deref(),
            d1.last_card,
            d1.last_person.as_deref(),
            d1.last_time
        ),
        (
            Some("granted"),
            Some(1001),
            Some("张三"),
            Some(t("2026-11-21 09:00:00"))
        )
    );
    assert_eq!(doors[2].last_kind.as_deref(), Some("forced_open"));
    assert_eq!(doors[2].last_person, None);
    // Found beyond the newest records, by the door's own time index.
    assert_eq!(
        (
            doors[3].last_kind.as_deref(),
            doors[3].last_person.as_deref()
        ),
        (Some("granted"), Some("Li Wei"))
    );
    assert_eq!(doors[4].last_kind, None);
    assert_eq!((doors[4].open, doors[4].state_at), (None, None));

    let only = door::of_terminals(pool, &[annex]).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!((only[0].terminal_id, only[0].door), (annex, 1));
    assert!(door::of_terminals(pool, &[]).await.unwrap().is_empty());

    // A door is named by its name, or <serial>/<n>, or <controller>/<n>.
    door::rename(pool, &doors_admin(), lib, 2, "东门侧门", "一楼")
        .await
        .unwrap();
    let by = |text: &'static str| async move {
        door::find(pool, text)
            .await
            .unwrap()
            .iter()
            .map(|d| (d.terminal_id, d.door))
            .collect::<Vec<_>>()
    };
    assert_eq!(by("405419896/3").await, vec![(lib, 3)]);
    assert_eq!(by("东门侧门").await, vec![(lib, 2)]);
    assert_eq!(by("annex gate/1").await, vec![(annex, 1)]);
    assert!(by("405419896/9").await.is_empty());
    assert!(by("nowhere").await.is_empty());
}

// ---------------------------------------------------------------- settings

#[tokio::test]
async fn door_settings_are_checked_audited_announced_and_queue_the_command() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    let annex = door_on_main_gate(pool, 123_456_789, "Annex gate", "Annex").await;
    let mut listener = PgListener::connect_with(pool).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();

    // Who may, and what is refused, in typed form.
    let e = door::rename(pool, &duty(), lib, 1, "东门", "")
        .await
        .unwrap_err();
    assert!(matches!(e, DoorError::Denied(_)), "{e}");
    let e = door::rename(pool, &doors_admin(), lib, 1, &"门".repeat(41), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            DoorError::Invalid {
                field: Field::Name,
                problem: Problem::TooLong { max: 40 },
                ..
            }
        ),
        "{e}"
    );
    for (t, d) in [(lib, 5), (annex, 2), (lib, -1)] {
        let e = door::rename(pool, &doors_admin(), t, d, "x", "")
            .await
            .unwrap_err();
        assert!(
            matches!(e, DoorError::NotFound { terminal_id, door } if (terminal_id, door) == (t, d)),
            "{e}"
        );
    }

    door::rename(pool, &doors_admin(), lib, 1, " 图书馆东门主门 ", "一楼大厅")
        .await
        .unwrap();
    assert_eq!(next_change(&mut listener).await, Change::doors(vec![lib]));
    // Saving what is stored writes nothing.
    door::rename(pool, &doors_admin(), lib, 1, "图书馆东门主门", "一楼大厅")
        .await
        .unwrap();
    let renames = actions(pool, "door").await;
    assert_eq!(renames.len(), 1);
    assert_eq!(renames[0].0, "door.rename");
    assert_eq!(
        renames[0].1,
        serde_json::json!({"name": "图书馆东门主门", "location": "一楼大厅"})
    );

    // Mode and unlock time: the row, the command, the audit and one notification together.
    let e = door::set_mode(pool, &doors_admin(), lib, 2, DoorMode::NormallyOpen, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DoorError::Invalid {
                field: Field::UnlockSecs,
                problem: Problem::OutOfRange { min: 1, max: 255 },
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(
        door::set_mode(pool, &duty(), lib, 2, DoorMode::NormallyOpen, 5).await,
        Err(DoorError::Denied(_))
    ));
    let id = door::set_mode(pool, &sysadmin(), lib, 2, DoorMode::NormallyOpen, 10)
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut listener).await,
        Change {
            door: vec![lib],
            command: vec![id],
            ..Change::default()
        }
    );
    let (terminal, command, state, by): (i64, serde_json::Value, String, Option<i64>) =
        sqlx::query_as(
            "SELECT terminal_id, command, state, requested_by FROM terminal_command WHERE id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!((terminal, state.as_str(), by), (lib, "queued", Some(3)));
    assert_eq!(
        command,
        serde_json::json!({"op": "set_door_mode", "door": 2, "mode": "normally_open", "unlock_secs": 10})
    );
    let d2 = door::of_terminals(pool, &[lib]).await.unwrap().remove(1);
    assert_eq!((d2.mode, d2.unlock_secs), (DoorMode::NormallyOpen, 10));
    let setting = actions(pool, "door").await.pop().unwrap();
    assert_eq!(setting.0, "door.setting");
    assert_eq!(setting.1["command"], serde_json::json!(id));
    let queued: Vec<String> = actions(pool, "terminal")
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert!(
        queued.contains(&"terminal.command".to_string()),
        "{queued:?}"
    );

    // A remote open queues its command; a withdrawn one never runs; a taken one is not
    // withdrawn.
    assert!(matches!(
        door::remote_open(pool, &Actor::operator(4, "desk", Role::CardDesk), lib, 1).await,
        Err(DoorError::Denied(_))
    ));
    assert!(matches!(
        door::remote_open(pool, &duty(), annex, 3).await,
        Err(DoorError::NotFound { .. })
    ));
    let open = door::remote_open(pool, &duty(), lib, 1).await.unwrap();
    assert!(door::withdraw_open(pool, &duty(), open).await.unwrap());
    assert!(!door::withdraw_open(pool, &duty(), open).await.unwrap());
    let (state, result): (String, String) =
        sqlx::query_as("SELECT state, result FROM terminal_command WHERE id = $1")
            .bind(open)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(state, "failed");
    assert!(result.starts_with("withdrawn"), "{result}");
    // A mode change is not a remote open: never withdrawn this way.
    assert!(!door::withdraw_open(pool, &duty(), id).await.unwrap());
    let verify = onecard::db::audit::verify(pool).await.unwrap();
    assert_eq!(verify.first_break, None);
}

// ---------------------------------------------------------------- events

#[tokio::test]
async fn events_carry_who_and_the_live_feed_rereads_a_window() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    door::rename(pool, &doors_admin(), lib, 1, "东门", "一楼")
        .await
        .unwrap();
    swipe(
        pool,
        lib,
        1,
        1,
        Some(1001),
        "granted",
        "2026-11-22 08:00:00",
    )
    .await;
    swipe(pool, lib, 2, 2, Some(777), "denied", "2026-11-22 08:01:00").await;

    let recent = door::recent(pool, 10).await.unwrap();
    assert_eq!(recent.len(), 2);
    let e = recent.iter().find(|e| e.record_no == 1).unwrap();
    assert_eq!(
        e,
        &door::DoorEvent {
            terminal_id: lib,
            record_no: 1,
            door: 1,
            door_name: "东门".into(),
            controller: "图书馆东门".into(),
            serial: 405_419_896,
            kind: "granted".into(),
            granted: true,
            reason: 1,
            card: Some(1001),
            person_id: e.person_id,
            person_no: Some("2021001".into()),
            person_name: Some("张三".into()),
            department: Some("计算机学院".into()),
            terminal_time: Some(t("2026-11-22 08:00:00")),
            received_at: e.received_at,
            late: false,
            direction: None,
            clock_invalid: false,
            card_state: None,
        }
    );
    assert!(e.person_id.is_some());
    // An unknown card has no holder; an unnamed door no name.
    let stranger = recent.iter().find(|e| e.record_no == 2).unwrap();
    assert_eq!(
        (stranger.person_name.as_deref(), stranger.door_name.as_str()),
        (None, "")
    );
    assert_eq!(door::recent(pool, 1).await.unwrap().len(), 1);

    // Out-of-order commits: a batch whose transaction began first commits last, with a
    // received_at older than rows already read.
    let mut slow = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time)
         VALUES ($1, 3, 1, 'granted', true, 2001, 1, '2026-11-22 08:02:00')",
    )
    .bind(lib)
    .execute(&mut *slow)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    swipe(
        pool,
        lib,
        4,
        1,
        Some(1002),
        "granted",
        "2026-11-22 08:03:00",
    )
    .await;
    let start = recent.iter().map(|e| e.received_at).max().unwrap();
    let feed = door::since(pool, start, 100).await.unwrap();
    assert_eq!(
        feed.iter().map(|e| e.record_no).collect::<Vec<_>>(),
        vec![4]
    );
    slow.commit().await.unwrap();
    let newest = feed[0].received_at;
    let strict = door::since(pool, newest, 100).await.unwrap();
    assert!(strict.is_empty(), "a strict cursor misses record 3");
    let window = newest - chrono::Duration::from_std(door::FEED_REREAD).unwrap();
    let again: Vec<i64> = door::since(pool, window, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.record_no)
        .collect();
    assert!(again.contains(&3) && again.contains(&4), "{again:?}");
    // Oldest first, at most `limit`.
    let two = door::since(pool, window, 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert!(two[0].received_at <= two[1].received_at);
}

/// 张三 (1001) and 张三丰 (1002) of 计算机学院, Li Wei (2001) of 图书馆, on two controllers.
pub(crate) async fn event_fixture(pool: &PgPool) -> (i64, i64) {
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    let annex = door_on_main_gate(pool, 123_456_789, "Annex gate", "Annex").await;
    let mut n = 0;
    for day in 20..=24 {
        for (card, door, kind) in [
            (Some(1001), 1, "granted"),
            (Some(1002), 2, "granted"),
            (Some(2001), 1, "denied"),
            (None, 3, "forced_open"),
        ] {
            n += 1;
            swipe(
                pool,
                lib,
                n,
                door,
                card,
                kind,
                &format!("2026-11-{day} 08:{:02}:00", n % 60),
            )
            .await;
        }
        n += 1;
        swipe(
            pool,
            annex,
            n,
            1,
            Some(2001),
            "granted",
            &format!("2026-11-{day} 12:00:00"),
        )
        .await;
    }
    (lib, annex)
}

async fn count(pool: &PgPool, q: EventQuery) -> u64 {
    door::query(pool, &EventQuery { limit: 0, ..q })
        .await
        .unwrap()
        .total
}

#[tokio::test]
async fn queries_by_person_card_department_door_and_time_are_paged_with_a_total() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, annex) = event_fixture(pool).await;
    let all = EventQuery::default();
    assert_eq!(count(pool, all.clone()).await, 25);

    // A page, newest first, and the total it is a page of.
    let page = door::query(
        pool,
        &EventQuery {
            limit: 10,
            ..all.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!((page.rows.len(), page.total), (10, 25));
    assert_eq!(page.query.limit, 10);
    assert!(page
        .rows
        .windows(2)
        .all(|w| w[0].terminal_time >= w[1].terminal_time));
    let rest = door::query(
        pool,
        &EventQuery {
            offset: 20,
            limit: 10,
            ..all.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!((rest.rows.len(), rest.total), (5, 25));
    assert!(page.rows.iter().all(|a| rest
        .rows
        .iter()
        .all(|b| (a.terminal_id, a.record_no) != (b.terminal_id, b.record_no))));

    let by = |f: fn(&mut EventQuery)| {
        let mut q = all.clone();
        f(&mut q);
        q
    };
    // A whole name beats a part of one; a part finds everyone with it; a number, its person.
    assert_eq!(count(pool, by(|q| q.person = Some("张三".into()))).await, 5);
    assert_eq!(count(pool, by(|q| q.person = Some("张".into()))).await, 10);
    assert_eq!(
        count(pool, by(|q| q.person = Some("2021002".into()))).await,
        5
    );
    assert_eq!(
        count(pool, by(|q| q.person = Some("li wei".into()))).await,
        10
    );
    assert_eq!(
        count(pool, by(|q| q.person = Some("nobody".into()))).await,
        0
    );
    assert_eq!(count(pool, by(|q| q.card = Some(2001))).await, 10);
    assert_eq!(
        count(pool, by(|q| q.department = Some("cs".into()))).await,
        10
    );
    assert_eq!(
        count(pool, by(|q| q.department = Some("图书馆".into()))).await,
        10
    );
    let e = door::query(pool, &by(|q| q.department = Some("法学院".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DoorError::Invalid {
                field: Field::Department,
                problem: Problem::Unknown,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(count(pool, by(|q| q.granted = Some(true))).await, 15);
    assert_eq!(count(pool, by(|q| q.granted = Some(false))).await, 10);

    // One door over a time range (from inclusive, to exclusive).
    let q = EventQuery {
        terminal_id: Some(lib),
        door: Some(1),
        from: Some(t("2026-11-21 00:00:00")),
        to: Some(t("2026-11-23 00:00:00")),
        limit: 100,
        ..all.clone()
    };
    let page = door::query(pool, &q).await.unwrap();
    assert_eq!(page.total, 4);
    assert!(page
        .rows
        .iter()
        .all(|e| e.terminal_id == lib && e.door == 1));
    assert_eq!(
        count(
            pool,
            EventQuery {
                terminal_id: Some(annex),
                person: Some("Li Wei".into()),
                ..all.clone()
            }
        )
        .await,
        5
    );
    assert_eq!(
        count(
            pool,
            EventQuery {
                from: Some(t("2026-11-24 12:00:00")),
                ..all.clone()
            }
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_loss_query_finds_swipes_of_cards_out_of_service_at_the_time() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    let card = |no: i64| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM card WHERE card_no = $1")
            .bind(no)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let event = |card: i64, event: &'static str, at: &'static str, other: Option<i64>| async move {
        sqlx::query(
            "INSERT INTO card_event (card_id, event, at, actor, other_card_id) VALUES ($1, $2, $3, 'cli:root', $4)",
        )
        .bind(card)
        .bind(event)
        .bind(local(at))
        .bind(other)
        .execute(pool)
        .await
        .unwrap();
    };
    let c1001 = card(1001).await;
    // 1001: lost on the 2nd, found on the 3rd, lost again on the 5th, reissued on the 7th.
    event(c1001, "issue", "2026-11-01 09:00:00", None).await;
    event(c1001, "report_lost", "2026-11-02 09:00:00", None).await;
    event(c1001, "report_found", "2026-11-03 09:00:00", None).await;
    event(c1001, "report_lost", "2026-11-05 09:00:00", None).await;
    event(c1001, "reissue", "2026-11-07 09:00:00", None).await;
    // 1002 exchanged on the 4th for 1003; the exchange written on the new card too.
    let c1002 = card(1002).await;
    exec(
        pool,
        "UPDATE card SET state = 'surrendered' WHERE card_no = 1002;
         INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash, replaces_card_id)
         SELECT 1003, person_id, kind, valid_from, valid_until, 'desk', 'x', 'x', id
         FROM card WHERE card_no = 1002",
    )
    .await;
    let c1003 = card(1003).await;
    event(c1002, "exchange", "2026-11-04 09:00:00", Some(c1003)).await;
    event(c1003, "exchange", "2026-11-04 09:00:00", Some(c1002)).await;

    let swipes = [
        (1, 1001, "2026-11-01 10:00:00"),  // active
        (2, 1001, "2026-11-02 10:00:00"),  // lost
        (3, 1001, "2026-11-03 08:59:59"),  // lost, a second before it was found
        (4, 1001, "2026-11-04 10:00:00"),  // active again
        (5, 1001, "2026-11-06 10:00:00"),  // lost
        (6, 1001, "2026-11-08 10:00:00"),  // replaced
        (7, 1002, "2026-11-04 08:00:00"),  // active
        (8, 1002, "2026-11-05 08:00:00"),  // surrendered
        (9, 1003, "2026-11-05 08:01:00"),  // the new card: in service
        (10, 2001, "2026-11-05 08:02:00"), // never lost
    ];
    for (n, card, at) in swipes {
        swipe(pool, lib, n, 1, Some(card), "denied", at).await;
    }
    let losses = EventQuery {
        lost_cards: true,
        limit: 100,
        ..EventQuery::default()
    };
    let page = door::query(pool, &losses).await.unwrap();
    let mut got: Vec<(i64, String)> = page
        .rows
        .iter()
        .map(|e| (e.record_no, e.card_state.clone().unwrap_or_default()))
        .collect();
    got.sort();
    let want: Vec<(i64, String)> = [
        (2, "lost"),
        (3, "lost"),
        (5, "lost"),
        (6, "replaced"),
        (8, "surrendered"),
    ]
    .into_iter()
    .map(|(n, s)| (n, s.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(page.total, 5);
    assert_eq!(page.rows[0].person_name.as_deref(), Some("张三"));
    // With the other filters.
    let narrow = EventQuery {
        card: Some(1001),
        from: Some(t("2026-11-05 00:00:00")),
        ..losses.clone()
    };
    assert_eq!(count(pool, narrow).await, 2);
    let narrow = EventQuery {
        person: Some("张三丰".into()),
        ..losses.clone()
    };
    assert_eq!(count(pool, narrow).await, 1);
}

// ---------------------------------------------------------------- retention and purge

/// `n` events received `days_ago`, numbered from `first`.
async fn aged(pool: &PgPool, terminal: i64, first: i64, n: i64, days_ago: i64) {
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time, received_at)
         SELECT $1, $2 + g, 1, 'granted', true, 1001, 1, localtimestamp, now() - $4 * interval '1 day'
         FROM generate_series(0, $3 - 1) g",
    )
    .bind(terminal)
    .bind(first)
    .bind(n)
    .bind(days_ago as f64)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn purge_deletes_in_batches_with_progress_and_one_audit_row() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    aged(pool, lib, 1, 11_000, 200).await;
    aged(pool, lib, 20_000, 300, 60).await;
    aged(pool, lib, 30_000, 200, 1).await;
    let days_ago = |d: i64| Utc::now() - chrono::Duration::days(d);

    assert_eq!(
        door::retention_days(pool).await.unwrap(),
        door::DEFAULT_RETENTION_DAYS
    );
    assert!(matches!(
        door::purge(pool, &doors_admin(), days_ago(100), false, |_, _| {}).await,
        Err(DoorError::Denied(_))
    ));
    // Inside the retention period: refused unless forced, and nothing goes.
    let e = door::purge(pool, &sysadmin(), days_ago(30), false, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DoorError::InsideRetention {
                retention_days: 92,
                ..
            }
        ),
        "{e}"
    );
    let preview = door::purge_preview(pool, days_ago(100)).await.unwrap();
    assert_eq!((preview.rows, preview.inside_retention()), (11_000, false));

    let mut calls = Vec::new();
    let n = door::purge(pool, &sysadmin(), days_ago(100), false, |done, total| {
        calls.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(n, 11_000);
    assert_eq!(
        calls,
        vec![
            (0, 11_000),
            (5_000, 11_000),
            (10_000, 11_000),
            (11_000, 11_000)
        ]
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 500);
    let purges = actions(pool, "door_event").await;
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].0, "door.purge");
    assert_eq!(purges[0].1["deleted"], 11_000);
    assert_eq!(purges[0].1["forced"], false);
    assert!(purges[0].1["cutoff"].is_string());

    // The retention period is a setting, changed by who may change settings, audited.
    assert!(matches!(
        door::set_retention_days(pool, &doors_admin(), 30).await,
        Err(DoorError::Denied(_))
    ));
    assert!(matches!(
        door::set_retention_days(pool, &sysadmin(), 0).await,
        Err(DoorError::Invalid {
            field: Field::RetentionDays,
            ..
        })
    ));
    door::set_retention_days(pool, &sysadmin(), 30)
        .await
        .unwrap();
    assert_eq!(door::retention_days(pool).await.unwrap(), 30);
    assert_eq!(actions(pool, "setting").await.len(), 1);
    let n = door::purge(pool, &sysadmin(), days_ago(40), false, |_, _| {})
        .await
        .unwrap();
    assert_eq!(n, 300);
    // Forced, inside the period.
    let n = door::purge(pool, &sysadmin(), days_ago(0), true, |_, _| {})
        .await
        .unwrap();
    assert_eq!(n, 200);
    let last = actions(pool, "door_event").await.pop().unwrap();
    assert_eq!(last.1["forced"], true);
    assert_eq!(
        onecard::db::audit::verify(pool).await.unwrap().first_break,
        None
    );
}

// ---------------------------------------------------------------- alarms

#[tokio::test]
async fn door_alarms_name_their_door_and_a_forced_clear_needs_a_reason() {
    let db = test_db().await;
    let pool = &db.pool;
    people(pool).await;
    let (_, lib) = library_door(pool).await;
    door::rename(pool, &doors_admin(), lib, 2, "东门侧门", "一楼北侧")
        .await
        .unwrap();
    let raise = |kind: AlarmKind, door: Option<i16>| async move {
        alarm::raise_fault(
            pool,
            &NewAlarm {
                kind,
                terminal_id: Some(lib),
                door,
                card: None,
                detail: String::new(),
                late: false,
            },
        )
        .await
        .unwrap()
        .unwrap()
    };
    let forced = raise(AlarmKind::ForcedOpen, Some(2)).await;
    let held = raise(AlarmKind::HeldOpen, Some(1)).await;
    let offline = raise(AlarmKind::TerminalOffline, None).await;
    let a = &alarm::by_id(pool, &[forced]).await.unwrap()[0];
    assert_eq!(
        (
            a.door_name.as_deref(),
            a.door_location.as_deref(),
            a.terminal_location.as_deref()
        ),
        (Some("东门侧门"), Some("一楼北侧"), Some("Library east"))
    );
    let o = &alarm::by_id(pool, &[offline]).await.unwrap()[0];
    assert_eq!(
        (o.door_name.as_deref(), o.door_location.as_deref()),
        (None, None)
    );

    assert!(matches!(
        alarm::force_clear(pool, &duty(), forced, "  ").await,
        Err(AlarmError::ReasonMissing)
    ));
    assert!(matches!(
        alarm::clear(pool, &duty(), forced).await,
        Err(AlarmError::NotActive { .. })
    ));
    alarm::force_clear(pool, &duty(), forced, " 误报：门磁故障 ")
        .await
        .unwrap();
    assert!(matches!(
        alarm::force_clear(pool, &duty(), forced, "again").await,
        Err(AlarmError::Cleared(_))
    ));
    let a = &alarm::by_id(pool, &[forced]).await.unwrap()[0];
    assert_eq!(
        (
            a.state.as_str(),
            a.clear_reason.as_deref(),
            a.cleared_by.as_deref()
        ),
        ("cleared", Some("误报：门磁故障"), Some("duty"))
    );
    assert!(a.cleared_at.is_some());
    let audit = actions(pool, "alarm").await.pop().unwrap();
    assert_eq!(audit.0, "alarm.force-clear");
    assert_eq!(
        audit.1,
        serde_json::json!({"state": "cleared", "reason": "误报：门磁故障"})
    );
    alarm::acknowledge(pool, &duty(), held, "guard sent")
        .await
        .unwrap();
    alarm::clear(pool, &duty(), held).await.unwrap();
    alarm::clear_fault(pool, lib, AlarmKind::TerminalOffline)
        .await
        .unwrap();

    // History: closed alarms newest first, filtered, paged with a total.
    let all = AlarmHistoryQuery {
        limit: 10,
        ..AlarmHistoryQuery::default()
    };
    let h = alarm::history(pool, &all).await.unwrap();
    assert_eq!(h.total, 3);
    assert_eq!(
        h.rows.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![offline, held, forced]
    );
    let h = alarm::history(
        pool,
        &AlarmHistoryQuery {
            limit: 1,
            offset: 1,
            ..all.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!((h.total, h.rows[0].id), (3, held));
    let one = |q: AlarmHistoryQuery| async move {
        let h = alarm::history(pool, &q).await.unwrap();
        (h.total, h.rows.iter().map(|a| a.id).collect::<Vec<_>>())
    };
    assert_eq!(
        one(AlarmHistoryQuery {
            kind: Some(AlarmKind::ForcedOpen),
            ..all.clone()
        })
        .await,
        (1, vec![forced])
    );
    assert_eq!(
        one(AlarmHistoryQuery {
            terminal_id: Some(lib),
            door: Some(1),
            ..all.clone()
        })
        .await,
        (1, vec![held])
    );
    let raised = alarm::by_id(pool, &[held]).await.unwrap()[0].raised_at;
    assert_eq!(
        one(AlarmHistoryQuery {
            from: Some(raised),
            to: Some(raised + chrono::Duration::microseconds(1)),
            ..all.clone()
        })
        .await,
        (1, vec![held])
    );
    // Still-open alarms are not history.
    raise(AlarmKind::Tamper, Some(3)).await;
    assert_eq!(alarm::history(pool, &all).await.unwrap().total, 3);
}

// ---------------------------------------------------------------- the command line

/// `onecard` against the test database, as a script runs it.
pub(crate) fn onecard(db: &TestDb, dirs: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(args)
        .env("DATABASE_URL", db.child_url())
        .env("ONECARD_CONFIG_DIR", dirs.join("config"))
        .env("ONECARD_DATA_DIR", dirs.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_queries_exports_and_purges() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = event_fixture(pool).await;
    let dirs = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| onecard(&db, dirs.path(), args, stdin);

    let (out, err) = text(&run(&["doors", "list"], ""));
    assert!(
        out.contains("405419896/1") && out.contains("5 doors"),
        "{out}{err}"
    );

    let o = run(
        &[
            "doors",
            "events",
            "--from",
            "2026-11-21",
            "--to",
            "2026-11-22",
            "--person",
            "张三",
        ],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("time "), "{out}");
    assert!(
        out.contains("图书馆东门 door 1") && out.contains("张三"),
        "{out}"
    );
    assert!(out.ends_with("2 door events\n"), "{out}");
    let o = run(
        &[
            "doors",
            "events",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-24",
            "--door",
            "405419896/1",
            "--limit",
            "3",
        ],
        "",
    );
    assert!(
        text(&o).0.contains("3 of 10 door events shown"),
        "{:?}",
        text(&o)
    );

    // The CSV for campus security: audited, never over an existing file unless told.
    let file = dirs.path().join("security.csv");
    let file_arg = file.to_str().unwrap();
    let args = [
        "doors",
        "events",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-24",
        "--card",
        "2001",
        "--csv",
        file_arg,
    ];
    let o = run(&args, "");
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        text(&o).0.contains("10 door events written"),
        "{:?}",
        text(&o)
    );
    let csv = std::fs::read(&file).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBFtime,controller,serial,door,door_name,"));
    assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 11);
    let again = run(&args, "");
    assert!(!again.status.success());
    assert!(text(&again).1.contains("--overwrite"), "{:?}", text(&again));
    let mut overwrite = args.to_vec();
    overwrite.push("--overwrite");
    assert!(run(&overwrite, "").status.success());
    let exports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'door.export'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(exports, 2);

    // Refusals in plain words, never a panic or SQL.
    for (args, words) in [
        (
            vec![
                "doors",
                "events",
                "--from",
                "2026-11-24",
                "--to",
                "2026-11-20",
            ],
            "is after",
        ),
        (
            vec![
                "doors",
                "events",
                "--from",
                "2026-11-20",
                "--to",
                "2026-11-24",
                "--door",
                "nowhere",
            ],
            "no door `nowhere`",
        ),
        (
            vec![
                "doors",
                "events",
                "--from",
                "2026-11-20",
                "--to",
                "2026-11-24",
                "--department",
                "法学院",
            ],
            "department `法学院`",
        ),
        (vec!["doors", "open", "405419896/7"], "no door"),
    ] {
        let o = run(&args, "");
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("SELECT"),
            "{err}"
        );
    }

    // The purge: asks, refuses inside the retention period, reports progress.
    sqlx::query(
        "UPDATE door_event SET received_at = now() - interval '200 days' WHERE terminal_id = $1",
    )
    .bind(lib)
    .execute(pool)
    .await
    .unwrap();
    let before = (Local::now() - chrono::Duration::days(100))
        .date_naive()
        .to_string();
    let purge = ["doors", "purge", "--before", &before];
    let o = run(&purge, "n\n");
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("delete 20 door records"),
        "{:?}",
        text(&o)
    );
    assert!(text(&o).1.contains("nothing deleted"));
    let o = run(&purge, "y\n");
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(text(&o).1.contains("deleted 20 of 20"), "{:?}", text(&o));
    assert!(text(&o).0.contains("20 door records"), "{:?}", text(&o));
    // Tomorrow: everything, the records received just now too; only when forced.
    let tomorrow = (Local::now() + chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let o = run(&["doors", "purge", "--before", &tomorrow, "--yes"], "");
    assert!(!o.status.success());
    assert!(text(&o).1.contains("--force"), "{:?}", text(&o));
    let o = run(
        &["doors", "purge", "--before", &tomorrow, "--yes", "--force"],
        "",
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_opens_a_door_through_serve_and_fails_without_it() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let mut cfg = crate::poller::quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = crate::poller::start(&cfg).await;
    onecard::sim::register::register_site(&db.pool, &site)
        .await
        .unwrap();

    // Nobody polls: the request is withdrawn at the deadline and the exit says so.
    let o = onecard(
        &db,
        dirs.path(),
        &["doors", "open", "405419896/2", "--timeout", "1"],
        "",
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("withdrawn"), "{err}");
    let state: String =
        sqlx::query_scalar("SELECT state FROM terminal_command ORDER BY id DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(state, "failed");

    let mut serve = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(["serve", "--worker", "doors-cli", "--recheck-ms", "200"])
        .env("DATABASE_URL", db.child_url())
        .env("ONECARD_CONFIG_DIR", dirs.path().join("config"))
        .env("ONECARD_DATA_DIR", dirs.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serve = Kill(&mut serve);
    let o = onecard(
        &db,
        dirs.path(),
        &["doors", "open", "405419896/2", "--timeout", "60"],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("door 2 opened"), "{out}{err}");

    // The controller stops answering: the poller's answer is a failure, and so is the exit.
    let (reply, _) = onecard::sim::control::handle(&site.terminals, "door/405419896 offline");
    assert!(reply.starts_with("ok"), "{reply}");
    let o = onecard(
        &db,
        dirs.path(),
        &["doors", "open", "405419896/1", "--timeout", "60"],
        "",
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("was not opened"), "{err}");
}
