//! Attendance results by DOMAIN.md's day rules: the research's 20 hand-built edge cases
//! (midnight, shift bounds ± 1 s, a night shift, missing punches, corrections, leave, holidays
//! and rest days, the pairs rule), the person mapping, the dirty refresh against a full one,
//! and corrections that are audited and never touch a punch.
//!
//! March 2027: 03-01 is a Monday. Day shift 08:00-17:00, graces 5 min, day change 04:00; night
//! shift 22:00-06:00 with day change 14:00; 03-02 a holiday; 03-06 and 03-07 rest days.

use crate::support::test_db;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use onecard::app::failure::Failure;
use onecard::db::attendance::{
    self, corrections, shifts, AttendanceError, CorrectionKind, NewSchedule, NewShift, ScheduleFor,
};
use onecard::domain::permission::Actor;
use onecard::i18n::Lang;
use sqlx::PgPool;

fn actor() -> Actor {
    Actor::shell("test")
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .unwrap()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

/// Persons E1..E9 in department EDGE, their shifts and schedules (through the Rust API, so
/// they are checked and audited), the holiday, and the punches. Returns the person ids by
/// number.
pub(crate) async fn edge_site(pool: &PgPool) -> std::collections::HashMap<String, i64> {
    exec(
        pool,
        "INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'test');
         INSERT INTO department (code, name) VALUES ('EDGE', '边界部');
         INSERT INTO person (person_no, name, department_id, category)
         SELECT 'E' || i, '边界' || i, (SELECT id FROM department WHERE code = 'EDGE'), 'staff'
         FROM generate_series(1, 9) i;",
    )
    .await;
    let a = actor();
    let mut day_shift = NewShift::new("白班", hm("08:00"), hm("17:00"));
    day_shift.grace_late_min = 5;
    day_shift.grace_early_min = 5;
    let mut night = NewShift::new("夜班", hm("22:00"), hm("06:00"));
    night.grace_late_min = 5;
    night.grace_early_min = 5;
    night.day_change = hm("14:00");
    let mut pairs = day_shift.clone();
    pairs.name = "分段班".into();
    pairs.pairs = true;
    let day_id = shifts::add_shift(pool, &a, &day_shift).await.unwrap();
    let night_id = shifts::add_shift(pool, &a, &night).await.unwrap();
    let pairs_id = shifts::add_shift(pool, &a, &pairs).await.unwrap();
    let ids: std::collections::HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT person_no, id FROM person")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let dep = attendance::department_id(pool, "EDGE").await.unwrap();
    let month = |whom, shift_id| NewSchedule {
        whom,
        shift_id,
        rest_days: vec![6, 7],
        valid_from: day("2027-03-01"),
        valid_to: Some(day("2027-03-31")),
    };
    shifts::add_schedule(pool, &a, &month(ScheduleFor::Department(dep), day_id))
        .await
        .unwrap();
    shifts::add_schedule(pool, &a, &month(ScheduleFor::Person(ids["E1"]), night_id))
        .await
        .unwrap();
    shifts::add_schedule(pool, &a, &month(ScheduleFor::Person(ids["E5"]), pairs_id))
        .await
        .unwrap();
    shifts::set_holiday(
        pool,
        &a,
        &attendance::Holiday {
            day: day("2027-03-02"),
            name: "边界假日".into(),
            works: false,
        },
    )
    .await
    .unwrap();
    exec(
        pool,
        "INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state) VALUES
 (1, 'E1', '2027-03-01 21:58', 1, 0), (1, 'E1', '2027-03-02 06:03', 1, 1),
 (1, 'E2', '2027-03-01 08:05:00', 1, 0), (1, 'E2', '2027-03-01 17:00', 1, 1),
 (1, 'E2', '2027-03-03 07:50', 1, 0), (1, 'E2', '2027-03-03 16:55:00', 1, 1),
 (1, 'E3', '2027-03-01 08:05:01', 1, 0), (1, 'E3', '2027-03-01 17:00', 1, 1),
 (1, 'E3', '2027-03-03 07:50', 1, 0), (1, 'E3', '2027-03-03 16:54:59', 1, 1),
 (1, 'E4', '2027-03-01 07:55', 1, 0),
 (1, 'E4', '2027-03-03 08:00:00', 1, 0), (2, 'E4', '2027-03-03 08:00:40', 1, 0), (1, 'E4', '2027-03-03 17:00', 1, 1),
 (1, 'E5', '2027-03-01 07:58', 1, 0), (1, 'E5', '2027-03-01 12:00', 1, 1), (1, 'E5', '2027-03-01 13:00', 1, 0),
 (1, 'E5', '2027-03-03 07:58', 1, 0), (1, 'E5', '2027-03-03 12:00', 1, 1),
 (1, 'E5', '2027-03-03 13:00', 1, 0), (1, 'E5', '2027-03-03 17:10', 1, 1),
 (1, 'E6', '2027-03-01 07:59', 1, 0),
 (1, 'E7', '2027-03-03 12:10', 1, 0), (1, 'E7', '2027-03-03 17:00', 1, 1),
 (1, 'E8', '2027-03-06 09:00', 1, 0), (1, 'E8', '2027-03-06 12:30', 1, 1),
 (1, 'E8', '2027-03-02 09:00', 1, 0), (1, 'E8', '2027-03-02 11:00', 1, 1),
 (1, 'E9', '2027-03-03 08:00', 1, 0), (1, 'E9', '2027-03-04 00:00:00', 1, 1),
 (1, 'E9', '2027-03-04 04:00:00', 1, 0), (1, 'E9', '2027-03-04 17:00', 1, 1),
 (1, 'E6', '2027-03-03 08:00', 1, 0), (1, 'E6', '2027-03-04 03:59:59', 1, 1);",
    )
    .await;
    ids
}

/// The corrections of the edge cases, through the Rust API.
async fn edge_corrections(pool: &PgPool, ids: &std::collections::HashMap<String, i64>) {
    let a = actor();
    corrections::add(
        pool,
        &a,
        ids["E6"],
        &CorrectionKind::Punch {
            at: at("2027-03-01 17:02"),
        },
        "忘记打卡，主管确认",
    )
    .await
    .unwrap();
    corrections::add(
        pool,
        &a,
        ids["E7"],
        &CorrectionKind::Leave {
            from: at("2027-03-03 08:00"),
            to: at("2027-03-03 12:00"),
            leave_type: Some("annual".into()),
        },
        "半天年假",
    )
    .await
    .unwrap();
    corrections::add(
        pool,
        &a,
        ids["E7"],
        &CorrectionKind::Leave {
            from: at("2027-03-04 00:00"),
            to: at("2027-03-05 00:00"),
            leave_type: Some("sick".into()),
        },
        "病假条",
    )
    .await
    .unwrap();
    // A revoked correction has no effect.
    let typo = corrections::add(
        pool,
        &a,
        ids["E4"],
        &CorrectionKind::Punch {
            at: at("2027-03-01 17:00"),
        },
        "typo",
    )
    .await
    .unwrap();
    corrections::revoke(pool, &a, typo, "wrong person")
        .await
        .unwrap();
}

type Outcome = (String, i32, i32, i32, i32, i32, i32);

async fn result(pool: &PgPool, person_no: &str, d: &str) -> Option<Outcome> {
    sqlx::query_as(
        "SELECT a.status, a.punch_count::int, a.late_min, a.early_min, a.overtime_min,
                a.worked_min, a.leave_min
         FROM att_day a JOIN person p ON p.id = a.person_id
         WHERE p.person_no = $1 AND a.day = $2",
    )
    .bind(person_no)
    .bind(day(d))
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// (person, day, status, punches, late, early, overtime, worked, leave)
#[allow(clippy::type_complexity)]
const EXPECTED: [(&str, &str, &str, i32, i32, i32, i32, i32, i32); 20] = [
    // E1 night shift, its own window: 21:58 and 06:03 the next morning
    ("E1", "2027-03-01", "present", 2, 0, 0, 0, 485, 0),
    ("E1", "2027-03-02", "holiday", 0, 0, 0, 0, 0, 0),
    // E2 exactly T1 + G1: on time; exactly T2 - G2: not early
    ("E2", "2027-03-01", "present", 2, 0, 0, 0, 535, 0),
    ("E2", "2027-03-03", "present", 2, 0, 0, 0, 545, 0),
    // E3 one second later: 6 minutes late, 6 minutes early
    ("E3", "2027-03-01", "late", 2, 6, 0, 0, 534, 0),
    ("E3", "2027-03-03", "left_early", 2, 0, 6, 0, 544, 0),
    // E4 missing out-punch; a double punch 40 s apart counts once
    ("E4", "2027-03-01", "missing_punch", 1, 0, 0, 0, 0, 0),
    ("E4", "2027-03-03", "present", 2, 0, 0, 0, 540, 0),
    // E5 every pair: (07:58, 12:00) + 13:00 alone; then 242 + 250
    ("E5", "2027-03-01", "missing_punch", 3, 0, 0, 0, 242, 0),
    ("E5", "2027-03-03", "present", 4, 0, 0, 0, 492, 0),
    // E6 the forgotten 17:02 punch corrected
    ("E6", "2027-03-01", "present", 2, 0, 0, 0, 543, 0),
    // E7 absent; half-day leave 08-12 moves T1 to 12:00; a whole day of leave
    ("E7", "2027-03-01", "absent", 0, 0, 0, 0, 0, 0),
    ("E7", "2027-03-03", "late", 2, 10, 0, 0, 290, 240),
    ("E7", "2027-03-04", "leave", 0, 0, 0, 0, 0, 540),
    // E8 work on a holiday and on a rest day is overtime; a rest day without punches
    ("E8", "2027-03-02", "holiday", 2, 0, 0, 120, 120, 0),
    ("E8", "2027-03-06", "rest", 2, 0, 0, 210, 210, 0),
    ("E8", "2027-03-07", "rest", 0, 0, 0, 0, 0, 0),
    // midnight with C = 04:00: 03:59:59 and 00:00:00 are the previous day's, 04:00:00 the next
    ("E6", "2027-03-03", "present", 2, 0, 0, 659, 1199, 0),
    ("E9", "2027-03-03", "present", 2, 0, 0, 420, 960, 0),
    ("E9", "2027-03-04", "present", 2, 0, 0, 0, 780, 0),
];

async fn check_expected(pool: &PgPool) {
    let mut wrong = Vec::new();
    for (p, d, status, n, late, early, ot, worked, leave) in EXPECTED {
        let want = (status.to_string(), n, late, early, ot, worked, leave);
        let got = result(pool, p, d).await;
        if got.as_ref() != Some(&want) {
            wrong.push(format!("{p} {d}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_edge_cases_give_the_day_rules_results() {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = edge_site(pool).await;
    edge_corrections(pool, &ids).await;
    let n = attendance::refresh(pool, day("2027-03-01"), day("2027-03-07"))
        .await
        .unwrap();
    // 9 people × 7 days, all scheduled.
    assert_eq!(n, 63);
    check_expected(pool).await;
    // Read back with names and filters.
    let q = attendance::ResultQuery {
        status: Some(attendance::Status::MissingPunch),
        ..attendance::ResultQuery::new(day("2027-03-01"), day("2027-03-07"))
    };
    let rows = attendance::results::results(pool, &q).await.unwrap();
    let who: Vec<(&str, NaiveDate)> = rows.iter().map(|r| (r.person_no.as_str(), r.day)).collect();
    assert_eq!(who, [("E4", day("2027-03-01")), ("E5", day("2027-03-01"))]);
    assert_eq!(rows[0].name, "边界4");
    assert_eq!(rows[0].department, "边界部");
    let totals = attendance::results::totals_by_person(
        pool,
        &attendance::ResultQuery::new(day("2027-03-01"), day("2027-03-07")),
    )
    .await
    .unwrap();
    let e7 = totals.iter().find(|t| t.key == "E7").unwrap();
    assert_eq!(
        (e7.days, e7.absent, e7.late, e7.leave, e7.leave_min),
        (7, 2, 1, 1, 780)
    );
    let deps = attendance::results::totals_by_department(
        pool,
        &attendance::ResultQuery::new(day("2027-03-01"), day("2027-03-07")),
    )
    .await
    .unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].days, 63);
    assert_eq!(
        deps[0].overtime_min,
        totals.iter().map(|t| t.overtime_min).sum::<i64>()
    );
}

/// serve's passes until the sweep has reached `today` (a few: 7 days each).
async fn sweep_to(pool: &PgPool, today: &str) {
    for _ in 0..10 {
        let r = attendance::refresh_dirty_until(pool, Some(day(today)))
            .await
            .unwrap();
        if !r.behind {
            return;
        }
    }
    panic!("the sweep did not reach {today} in 10 passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dirty_refresh_gives_what_a_full_refresh_gives_and_a_crash_empties_nothing_for_good() {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = edge_site(pool).await;
    // The first pass sweeps from the first schedule's day to "today" (03-07).
    sweep_to(pool, "2027-03-07").await;
    // New inputs after the sweep are only marked dirty: corrections and a late punch.
    edge_corrections(pool, &ids).await;
    let dirty: i64 = sqlx::query_scalar("SELECT count(*) FROM att_dirty")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(dirty > 0);
    let r = attendance::refresh_dirty_until(pool, Some(day("2027-03-07")))
        .await
        .unwrap();
    assert!(r.rows > 0 && !r.behind, "{r:?}");
    check_expected(pool).await;
    let snapshot = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, NaiveDate, String, i32, i32, i32, i32, i32)>(
                "SELECT person_id, day, status, punch_count::int, late_min, early_min,
                        overtime_min, worked_min FROM att_day ORDER BY 1, 2",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let incremental = snapshot(pool).await;
    attendance::refresh(pool, day("2027-02-20"), day("2027-03-07"))
        .await
        .unwrap();
    assert_eq!(snapshot(pool).await, incremental);
    assert_eq!(incremental.len(), 63);

    // att_day is unlogged: crash recovery empties it and its marker, as this does. The next
    // passes see that and sweep every day again, to the same results.
    exec(pool, "TRUNCATE att_day, att_day_kept").await;
    sweep_to(pool, "2027-03-07").await;
    assert_eq!(snapshot(pool).await, incremental);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_punch_names_a_person_by_number_or_by_a_card_they_hold() {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = edge_site(pool).await;
    // E2's card 8165537; a card numbered like another person's number does not take it over.
    exec(
        pool,
        "INSERT INTO person (person_no, name, department_id, category)
         SELECT '8165538', '号码人', id, 'staff' FROM department WHERE code = 'EDGE';
         INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT c.no, p.id, 'staff', '2026-01-01', '2028-01-01', 'desk', 'x', 'x'
         FROM (VALUES (8165537, 'E2'), (8165538, 'E3')) AS c(no, person)
         JOIN person p ON p.person_no = c.person;
         INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state) VALUES
          (1, '8165537', '2027-03-05 07:58', 1, 0), (1, 'E2', '2027-03-05 17:01', 1, 1),
          (1, '8165538', '2027-03-05 07:50', 1, 0), (1, '8165538', '2027-03-05 17:30', 1, 1);",
    )
    .await;
    let dirty: Vec<(i64, NaiveDate)> =
        sqlx::query_as("SELECT person_id, day FROM att_dirty WHERE day = '2027-03-05' ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    let number_person: i64 =
        sqlx::query_scalar("SELECT id FROM person WHERE person_no = '8165538'")
            .fetch_one(pool)
            .await
            .unwrap();
    // (E8's Saturday punches mark 03-05 too.)
    let d5 = day("2027-03-05");
    assert!(dirty.contains(&(ids["E2"], d5)), "{dirty:?}");
    assert!(dirty.contains(&(number_person, d5)), "{dirty:?}");
    assert!(!dirty.contains(&(ids["E3"], d5)), "{dirty:?}");
    attendance::refresh(pool, day("2027-03-05"), day("2027-03-05"))
        .await
        .unwrap();
    // The card's punch and the person number's punch make one day for E2.
    assert_eq!(
        result(pool, "E2", "2027-03-05").await.unwrap(),
        ("present".into(), 2, 0, 0, 0, 543, 0)
    );
    // 8165538 is a person's number: E3's card of that number names no one else.
    assert_eq!(result(pool, "E3", "2027-03-05").await.unwrap().0, "absent");
    assert_eq!(
        result(pool, "8165538", "2027-03-05").await.unwrap(),
        ("present".into(), 2, 0, 0, 30, 580, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_is_audited_never_changes_a_punch_and_is_revoked_once_with_a_reason() {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = edge_site(pool).await;
    let punches = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, NaiveDateTime)>(
                "SELECT user_id, terminal_time FROM punch ORDER BY 1, 2",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let before = punches(pool).await;
    let audited = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_log WHERE action LIKE 'attendance.correction.%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let a = actor();
    let kind = CorrectionKind::Punch {
        at: at("2027-03-01 17:02"),
    };
    assert!(matches!(
        corrections::add(pool, &a, ids["E6"], &kind, "  ").await,
        Err(AttendanceError::NoReason)
    ));
    let id = corrections::add(pool, &a, ids["E6"], &kind, "忘记打卡")
        .await
        .unwrap();
    assert_eq!(audited(pool).await, 1);
    let row: (Option<i64>, String, String) = sqlx::query_as(
        "SELECT operator_id, actor, after->>'reason' FROM audit_log
         WHERE action = 'attendance.correction.add' AND object_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((row.1.as_str(), row.2.as_str()), ("cli:test", "忘记打卡"));
    assert!(matches!(
        corrections::revoke(pool, &a, id, "").await,
        Err(AttendanceError::NoReason)
    ));
    corrections::revoke(pool, &a, id, "记错人了").await.unwrap();
    assert!(matches!(
        corrections::revoke(pool, &a, id, "again").await,
        Err(AttendanceError::AlreadyRevoked(x)) if x == id
    ));
    assert!(matches!(
        corrections::revoke(pool, &a, 999_999, "none").await,
        Err(AttendanceError::NoCorrection(999_999))
    ));
    assert_eq!(audited(pool).await, 2);
    let c = corrections::get(pool, id).await.unwrap().unwrap();
    let (_, by, why) = c.revoked.unwrap();
    assert_eq!((by.as_str(), why.as_str()), ("cli:test", "记错人了"));
    // The table itself refuses edits and deletes.
    assert!(
        sqlx::query("UPDATE att_correction SET reason = 'x' WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .is_err()
    );
    assert!(sqlx::query("DELETE FROM att_correction WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .is_err());
    assert_eq!(punches(pool).await, before);
    let listed = corrections::list(pool, day("2027-03-01"), day("2027-03-01"), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].person_no, "E6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shifts_schedules_and_holidays_are_checked_and_refused_in_both_languages() {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = edge_site(pool).await;
    let a = actor();
    // 20:00-10:00 cannot fit a day that changes at 04:00.
    let long = NewShift::new("长夜班", hm("20:00"), hm("10:00"));
    let e = shifts::add_shift(pool, &a, &long).await.unwrap_err();
    assert!(matches!(e, AttendanceError::OutsideDay), "{e:?}");
    let e = shifts::add_shift(pool, &a, &NewShift::new("白班", hm("09:00"), hm("18:00")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AttendanceError::ShiftTaken(n) if n == "白班"),
        "{e:?}"
    );
    let worded = |lang| onecard::app::words::failure(lang, &Failure::from(e_clone(&e)));
    assert_eq!(worded(Lang::ZH_CN), "已有名为 白班 的班次。");
    assert_eq!(worded(Lang::EN), "There is already a shift called 白班.");
    let shift = shifts::shift_id(pool, "白班").await.unwrap();
    let e = shifts::add_schedule(
        pool,
        &a,
        &NewSchedule {
            whom: ScheduleFor::Person(ids["E1"]),
            shift_id: shift,
            rest_days: vec![7],
            valid_from: day("2027-03-31"),
            valid_to: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AttendanceError::Overlaps("person")), "{e:?}");
    assert_eq!(
        onecard::app::words::failure(Lang::ZH_CN, &Failure::from(e)),
        "该排班与同一人员的另一排班重叠。"
    );
    let e = shifts::delete_shift(pool, &a, shift).await.unwrap_err();
    assert!(
        matches!(e, AttendanceError::ShiftInUse { schedules: 1, .. }),
        "{e:?}"
    );
    let e = attendance::department_id(pool, "没有的部门")
        .await
        .unwrap_err();
    assert_eq!(
        onecard::app::words::failure(Lang::ZH_CN, &Failure::from(e)),
        "没有部门 没有的部门。"
    );
    // A plan change moves the sweep back to its first day (the day before, for holidays).
    exec(pool, "UPDATE att_sweep SET through = '2027-03-31'").await;
    shifts::set_holiday(
        pool,
        &a,
        &attendance::Holiday {
            day: day("2027-03-06"),
            name: "调休".into(),
            works: true,
        },
    )
    .await
    .unwrap();
    let through: Option<NaiveDate> = sqlx::query_scalar("SELECT through FROM att_sweep")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(through, Some(day("2027-03-04")));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'attendance.%'")
            .fetch_one(pool)
            .await
            .unwrap();
    // 3 shifts, 3 schedules, 2 holidays.
    assert_eq!(audited, 8);
    // A make-up working day is a working day: 09:00 to 12:30 is late and left early.
    attendance::refresh(pool, day("2027-03-06"), day("2027-03-06"))
        .await
        .unwrap();
    assert_eq!(
        result(pool, "E8", "2027-03-06").await.unwrap(),
        ("late_left_early".into(), 2, 60, 270, 0, 210, 0)
    );
}

/// Stops the serve it holds, however the test ends.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_the_results_current_as_punches_arrive() {
    let db = test_db().await;
    let pool = &db.pool;
    exec(
        pool,
        "INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'test');
         INSERT INTO department (code, name) VALUES ('LIB', '图书馆');
         INSERT INTO person (person_no, name, department_id, category)
         SELECT 'S001', '张三', id, 'staff' FROM department;",
    )
    .await;
    let today: NaiveDate = sqlx::query_scalar("SELECT (now() AT TIME ZONE site_zone())::date")
        .fetch_one(pool)
        .await
        .unwrap();
    let a = actor();
    let shift = shifts::add_shift(pool, &a, &NewShift::new("白班", hm("08:00"), hm("17:00")))
        .await
        .unwrap();
    let dep = attendance::department_id(pool, "LIB").await.unwrap();
    shifts::add_schedule(
        pool,
        &a,
        &NewSchedule {
            whom: ScheduleFor::Department(dep),
            shift_id: shift,
            rest_days: vec![],
            valid_from: today - chrono::Duration::days(10),
            valid_to: None,
        },
    )
    .await
    .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let _serve = Serving(crate::support::spawn_serve(
        db.child_url(),
        dirs.path(),
        &[],
    ));
    let two_days_ago = today - chrono::Duration::days(2);
    let status = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM att_day WHERE day = $1")
                .bind(two_days_ago)
                .fetch_optional(&pool)
                .await
                .unwrap()
        }
    };
    // The sweep gives the days without punches their rows: absent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while status(pool).await.as_deref() != Some("absent") {
        assert!(std::time::Instant::now() < deadline, "no sweep within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Punches arriving later are picked up from the dirty queue.
    sqlx::query(
        "INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state)
         VALUES (1, 'S001', $1, 1, 0), (1, 'S001', $2, 1, 1)",
    )
    .bind(two_days_ago.and_time(hm("07:58")))
    .bind(two_days_ago.and_time(hm("17:03")))
    .execute(pool)
    .await
    .unwrap();
    while status(pool).await.as_deref() != Some("present") {
        assert!(
            std::time::Instant::now() < deadline,
            "the punches did not reach the results within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM att_dirty WHERE day <= $1")
        .bind(today)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// The refusals compared here carry no database error: rebuilt to be worded more than once.
fn e_clone(e: &AttendanceError) -> AttendanceError {
    match e {
        AttendanceError::ShiftTaken(n) => AttendanceError::ShiftTaken(n.clone()),
        other => panic!("not a refusal to reword: {other:?}"),
    }
}
