//! The store side of the engine: batches stored once, alarms with their records, one NOTIFY
//! per commit, the command queue, alarm handling.

use crate::support::test_db;
use chrono::NaiveDateTime;
use onecard::db::alarm::{self, NewAlarm};
use onecard::db::command::{self, TerminalCommand};
use onecard::db::ingest::{self, DoorEventRow, PunchRow};
use onecard::db::notify::{Change, CHANNEL};
use onecard::db::operator;

use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn event(n: i64, alarm: Option<AlarmKind>) -> DoorEventRow {
    DoorEventRow {
        record_no: n,
        door: 1,
        kind: if alarm.is_some() {
            "forced_open".into()
        } else {
            "granted".into()
        },
        granted: alarm.is_none(),
        card: alarm.is_none().then_some(8165537),
        reason: if alarm.is_some() { 38 } else { 1 },
        terminal_time: Some(t("2026-11-22 08:00:00")),
        alarm,
        direction: Some("in"),
        clock_invalid: false,
    }
}

#[tokio::test]
async fn a_batch_is_stored_once_and_its_alarm_raised_once() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let rows: Vec<_> = (1..=5)
        .map(|n| event(n, (n == 3).then_some(AlarmKind::ForcedOpen)))
        .collect();
    let first = ingest::store_door_events(&db.pool, tid, &rows, Some(5), false)
        .await
        .unwrap();
    assert_eq!((first.inserted, first.alarms.len()), (5, 1));
    // The terminal did not get our ack and sends the same records again, plus one new.
    let mut again = rows.clone();
    again.push(event(6, None));
    let second = ingest::store_door_events(&db.pool, tid, &again, Some(6), false)
        .await
        .unwrap();
    assert_eq!((second.inserted, second.alarms.len()), (1, 0));
    // A stale batch never moves the bookmark back.
    ingest::store_door_events(&db.pool, tid, &rows[..2], Some(2), false)
        .await
        .unwrap();
    let (count, bookmark): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM door_event), (SELECT bookmark FROM terminal WHERE id = $1)",
    )
    .bind(tid)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((count, bookmark), (6, 6));
    let open = alarm::open(&db.pool).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].kind.as_str(), open[0].priority, open[0].door),
        ("forced_open", 1, Some(1))
    );
    assert_eq!(open[0].terminal_name.as_deref(), Some("图书馆东门"));
    assert_eq!(alarm::active_counts(&db.pool).await.unwrap(), vec![(1, 1)]);
}

#[tokio::test]
async fn punches_are_unique_by_user_and_time() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let p = |u: &str, s: &str| PunchRow {
        user_id: u.into(),
        terminal_time: t(s),
        verify: 1,
        state: 0,
    };
    let rows = vec![
        p("1001", "2026-11-22 08:00:00"),
        p("1002", "2026-11-22 08:00:00"),
        p("1001", "2026-11-22 08:00:01"),
    ];
    assert_eq!(
        ingest::store_punches(&db.pool, tid, &rows)
            .await
            .unwrap()
            .inserted,
        3
    );
    assert_eq!(
        ingest::store_punches(&db.pool, tid, &rows)
            .await
            .unwrap()
            .inserted,
        0,
        "extracted twice, stored once"
    );
}

#[tokio::test]
async fn one_notification_per_commit_with_ids_only() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let mut listener = PgListener::connect_with(&db.pool).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let rows: Vec<_> = (1..=50)
        .map(|n| event(n, (n % 10 == 0).then_some(AlarmKind::ForcedOpen)))
        .collect();
    let stored = ingest::store_door_events(&db.pool, tid, &rows, Some(50), false)
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .unwrap()
        .unwrap();
    let change = Change::parse(n.payload()).unwrap();
    assert_eq!(change.alarm, stored.alarms);
    assert_eq!(change.terminal, vec![tid]);
    assert_eq!(change.records, vec!["door_event".to_string()]);
    // Nothing else was sent for those 50 rows and 5 alarms.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.recv())
            .await
            .is_err()
    );
    // A batch that adds nothing announces nothing.
    ingest::store_door_events(&db.pool, tid, &rows, Some(50), false)
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn terminal_faults_stay_one_open_alarm() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let fault = NewAlarm {
        kind: AlarmKind::TerminalOffline,
        terminal_id: Some(tid),
        door: None,
        card: None,
        detail: "no answer".into(),
        late: false,
    };
    assert!(alarm::raise_fault(&db.pool, &fault)
        .await
        .unwrap()
        .is_some());
    assert!(
        alarm::raise_fault(&db.pool, &fault)
            .await
            .unwrap()
            .is_none(),
        "already open"
    );
    assert_eq!(
        alarm::clear_fault(&db.pool, tid, AlarmKind::TerminalOffline)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        alarm::raise_fault(&db.pool, &fault)
            .await
            .unwrap()
            .is_some(),
        "a new outage is a new alarm"
    );
}

#[tokio::test]
async fn acknowledging_needs_the_role_and_a_note_and_is_audited() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let stored = ingest::store_door_events(
        &db.pool,
        tid,
        &[event(1, Some(AlarmKind::ForcedOpen))],
        Some(1),
        false,
    )
    .await
    .unwrap();
    let id = stored.alarms[0];
    let mk = |login: &'static str, role| {
        let pool = db.pool.clone();
        async move {
            operator::create(
                &pool,
                &Actor::shell("root"),
                operator::NewOperator {
                    login,
                    display_name: login,
                    role,
                    password: "a long password",
                    must_change_password: false,
                },
            )
            .await
            .unwrap()
            .actor()
        }
    };
    let duty = mk("duty", Role::DutyOperator).await;
    let desk = mk("desk", Role::CardDesk).await;
    assert!(matches!(
        alarm::acknowledge(&db.pool, &desk, id, "seen").await,
        Err(alarm::AlarmError::Denied(_))
    ));
    assert!(matches!(
        alarm::acknowledge(&db.pool, &duty, id, "  ").await,
        Err(alarm::AlarmError::NoteMissing)
    ));
    assert!(matches!(
        alarm::clear(&db.pool, &duty, id).await,
        Err(alarm::AlarmError::NotActive { .. })
    ));
    alarm::take(&db.pool, &duty, id).await.unwrap();
    assert_eq!(
        alarm::by_id(&db.pool, &[id]).await.unwrap()[0]
            .handling_by
            .as_deref(),
        Some("duty")
    );
    alarm::acknowledge(&db.pool, &duty, id, "guard sent, door closed")
        .await
        .unwrap();
    let a = &alarm::by_id(&db.pool, &[id]).await.unwrap()[0];
    assert_eq!(
        (a.state.as_str(), a.note.as_deref()),
        ("acknowledged", Some("guard sent, door closed"))
    );
    assert!(matches!(
        alarm::acknowledge(&db.pool, &duty, id, "again").await,
        Err(alarm::AlarmError::NotActive { .. })
    ));
    alarm::clear(&db.pool, &duty, id).await.unwrap();
    assert!(alarm::open(&db.pool).await.unwrap().is_empty());
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE object_kind = 'alarm' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(actions, ["alarm.take", "alarm.acknowledge", "alarm.clear"]);
}

#[tokio::test]
async fn commands_are_claimed_once_and_orphans_become_unknown() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let line_id: i64 = sqlx::query_scalar("SELECT line_id FROM terminal WHERE id = $1")
        .bind(tid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let shell = Actor::shell("root");
    for door in 1..=4 {
        command::enqueue(&db.pool, &shell, tid, &TerminalCommand::OpenDoor { door })
            .await
            .unwrap();
    }
    // Two workers race: every command is claimed by exactly one.
    let (a, b) = (db.pool.clone(), db.pool.clone());
    let grab = |pool: PgPool, who: &'static str| async move {
        let mut got = Vec::new();
        while let Some(c) = command::claim(&pool, line_id, who).await.unwrap() {
            got.push(c.id);
        }
        got
    };
    let (x, y) = tokio::join!(grab(a, "a"), grab(b, "b"));
    let mut all: Vec<i64> = x.iter().chain(y.iter()).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
    assert_eq!(x.len() + y.len(), 4);
    let opened = Ok(command::CommandOutcome::DoorOpened { door: 1 });
    command::finish(&db.pool, all[0], &opened).await.unwrap();
    // The process running the rest died; the next owner marks them unknown, never replays them.
    assert_eq!(
        command::orphaned_to_unknown(&db.pool, line_id)
            .await
            .unwrap(),
        3
    );
    let rows = command::by_id(&db.pool, &all).await.unwrap();
    assert_eq!(rows.iter().filter(|r| r.state == "unknown").count(), 3);
    assert_eq!(rows.iter().filter(|r| r.state == "done").count(), 1);
    assert!(command::claim(&db.pool, line_id, "c")
        .await
        .unwrap()
        .is_none());
    // A duty operator may open doors but not push grants.
    let duty = Actor::operator(1, "duty", Role::DutyOperator);
    assert!(command::enqueue(
        &db.pool,
        &duty,
        tid,
        &TerminalCommand::PushCards {
            cards: vec![command::CardGrant::for_doors(
                1,
                &[1],
                chrono::NaiveDate::MIN,
                chrono::NaiveDate::MAX
            )]
        }
    )
    .await
    .is_err());
}

#[tokio::test]
async fn a_batch_repeating_a_record_is_stored_once_by_the_safe_path() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    // A terminal that sends record 2 twice in one reply, its alarm with it: the fast insert
    // meets the duplicate, the batch is rolled back whole and written with ON CONFLICT.
    let rows = vec![
        event(1, None),
        event(2, Some(AlarmKind::ForcedOpen)),
        event(2, Some(AlarmKind::ForcedOpen)),
        event(3, None),
    ];
    let stored = ingest::store_door_events(&db.pool, tid, &rows, Some(3), false)
        .await
        .unwrap();
    assert_eq!((stored.inserted, stored.alarms.len()), (3, 1));
    let punches = vec![
        PunchRow {
            user_id: "1001".into(),
            terminal_time: t("2026-11-22 08:00:00"),
            verify: 1,
            state: 0,
        };
        2
    ];
    let stored = ingest::store_punches(&db.pool, tid, &punches)
        .await
        .unwrap();
    assert_eq!(stored.inserted, 1);
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM door_event), (SELECT count(*) FROM punch),
                (SELECT count(*) FROM alarm)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts, (3, 1, 1));
}

#[tokio::test]
async fn a_terminal_with_records_is_never_deleted() {
    let db = test_db().await;
    let tid = crate::support::library_door(&db.pool).await.1;
    ingest::store_door_events(&db.pool, tid, &[event(1, None)], Some(1), false)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM terminal WHERE id = $1")
        .bind(tid)
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("take it out of the scan"), "{err}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event WHERE terminal_id = $1")
        .bind(tid)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

/// A purchase as read back: record, card, amount and balance as text, txn, slot, online, time.
type PurchaseStored = (
    i64,
    i64,
    String,
    String,
    i64,
    i16,
    bool,
    Option<NaiveDateTime>,
);
/// A door event as read back: record, door, kind, granted, card, reason, time, late.
type DoorStored = (
    i64,
    i16,
    String,
    bool,
    Option<i64>,
    i16,
    Option<NaiveDateTime>,
    bool,
);

/// The batch with its first row again: the key refuses it and the safe path writes it.
fn twice<T: Clone>(mut v: Vec<T>) -> Vec<T> {
    v.push(v[0].clone());
    v
}

#[tokio::test]
async fn both_write_paths_store_every_field_exactly() {
    use onecard::db::ingest::{PurchaseRow, ScanRow};
    use onecard::domain::money::Money;
    use std::str::FromStr;
    let db = test_db().await;
    let fast = crate::support::library_door(&db.pool).await.1;
    let safe =
        crate::support::door_on_main_gate(&db.pool, 405419897, "图书馆西门", "Library west").await;
    let money = |s: &str| Money::from_str(s).unwrap();
    // Amounts at the edges of numeric(14, 2): refunds, zero, a cent, the largest, odd scales.
    let amounts = [
        "12.50",
        "0.00",
        "0",
        "0.01",
        "-3.5",
        "-0.07",
        "999999999999.99",
        "10000",
        "7.1",
        "100000000.05",
    ];
    let purchases: Vec<PurchaseRow> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| PurchaseRow {
            record_no: i as i64 + 1,
            card: 8_165_537 + i as i64,
            amount: money(a),
            balance_after: money("1234.56") - money(a),
            txn_no: 70_000 + i as i64,
            meal_slot: (i % 4) as i16,
            online: i % 2 == 0,
            terminal_time: (i != 3).then(|| t("2026-11-22 11:45:07")),
        })
        .collect();
    let scans = vec![
        ScanRow {
            record_no: 1,
            guard_card: 4_000_000_001,
            checkpoint_tag: 0x00AB_CDEF_1234,
            event: 2,
            terminal_time: Some(t("1999-12-31 23:59:59")),
        },
        ScanRow {
            record_no: 2,
            guard_card: 1,
            checkpoint_tag: 0,
            event: 0,
            terminal_time: None,
        },
    ];
    let mut door = event(1, None);
    door.kind = "门被强行打开".into();
    door.card = None;
    let doors = vec![door, event(2, None)];
    let punches = vec![PunchRow {
        user_id: "张三-1001".into(),
        terminal_time: t("2026-02-28 23:59:59"),
        verify: 15,
        state: 5,
    }];

    // The fast path (COPY) on one terminal; the safe path (a repeated row forces ON CONFLICT)
    // on the other.
    ingest::store_purchases(&db.pool, fast, &purchases, Some(10))
        .await
        .unwrap();
    ingest::store_scans(&db.pool, fast, &scans, Some(2))
        .await
        .unwrap();
    ingest::store_door_events(&db.pool, fast, &doors, Some(2), true)
        .await
        .unwrap();
    ingest::store_punches(&db.pool, fast, &punches)
        .await
        .unwrap();
    ingest::store_purchases(&db.pool, safe, &twice(purchases.clone()), Some(10))
        .await
        .unwrap();
    ingest::store_scans(&db.pool, safe, &twice(scans.clone()), Some(2))
        .await
        .unwrap();
    ingest::store_door_events(&db.pool, safe, &twice(doors.clone()), Some(2), true)
        .await
        .unwrap();
    ingest::store_punches(&db.pool, safe, &twice(punches.clone()))
        .await
        .unwrap();

    for tid in [fast, safe] {
        let got: Vec<PurchaseStored> = sqlx::query_as(
            "SELECT record_no, card, amount::text, balance_after::text, txn_no, meal_slot,
                        online, terminal_time
                 FROM pos_purchase WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(tid)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let want: Vec<_> = purchases
            .iter()
            .map(|p| {
                (
                    p.record_no,
                    p.card,
                    p.amount.csv(),
                    p.balance_after.csv(),
                    p.txn_no,
                    p.meal_slot,
                    p.online,
                    p.terminal_time,
                )
            })
            .collect();
        assert_eq!(got, want, "terminal {tid}");
        let stored: Vec<Money> = sqlx::query_scalar(
            "SELECT amount FROM pos_purchase WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(tid)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let sent: Vec<Money> = purchases.iter().map(|p| p.amount).collect();
        assert_eq!(stored, sent, "terminal {tid}");

        let got: Vec<(i64, i64, i64, i16, Option<NaiveDateTime>)> = sqlx::query_as(
            "SELECT record_no, guard_card, checkpoint_tag, event, terminal_time
             FROM patrol_scan WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(tid)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let want: Vec<_> = scans
            .iter()
            .map(|s| {
                (
                    s.record_no,
                    s.guard_card,
                    s.checkpoint_tag,
                    s.event,
                    s.terminal_time,
                )
            })
            .collect();
        assert_eq!(got, want, "terminal {tid}");

        let got: Vec<DoorStored> = sqlx::query_as(
            "SELECT record_no, door, kind, granted, card, reason, terminal_time, late
                 FROM door_event WHERE terminal_id = $1 ORDER BY record_no",
        )
        .bind(tid)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let want: Vec<_> = doors
            .iter()
            .map(|d| {
                (
                    d.record_no,
                    d.door,
                    d.kind.clone(),
                    d.granted,
                    d.card,
                    d.reason,
                    d.terminal_time,
                    true,
                )
            })
            .collect();
        assert_eq!(got, want, "terminal {tid}");

        let got: Vec<(String, NaiveDateTime, i16, i16)> = sqlx::query_as(
            "SELECT user_id, terminal_time, verify, state FROM punch WHERE terminal_id = $1",
        )
        .bind(tid)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            got,
            vec![("张三-1001".to_string(), t("2026-02-28 23:59:59"), 15, 5)],
            "terminal {tid}"
        );
    }
}

#[tokio::test]
async fn any_decimal_survives_the_binary_copy() {
    use onecard::db::copy::Binary;
    use rand::{Rng, SeedableRng};
    use rust_decimal::Decimal;
    let db = test_db().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261122);
    let values: Vec<Decimal> = (0..2000)
        .map(|_| {
            let mantissa: i128 =
                rng.gen_range(-(1i128 << 90)..(1i128 << 90)) >> rng.gen_range(0..90);
            Decimal::from_i128_with_scale(mantissa, rng.gen_range(0..=20))
        })
        .collect();
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("CREATE TEMP TABLE n (i bigint, v numeric)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut b = Binary::new(values.len(), 40);
    for (i, v) in values.iter().enumerate() {
        b.row(2).i64(i as i64).numeric(*v);
    }
    let mut copy = conn
        .copy_in_raw("COPY n (i, v) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    copy.send(b.finish()).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), values.len() as u64);
    let back: Vec<(String, Decimal)> = sqlx::query_as("SELECT v::text, v FROM n ORDER BY i")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    for ((text, got), sent) in back.iter().zip(&values) {
        assert_eq!(got, sent);
        assert_eq!(text, &sent.to_string(), "scale kept");
    }
}
