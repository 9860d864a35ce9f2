//! The Attendance tab against a real database: the machines and today's punches (a punch
//! stored anywhere shows at the next frame), who may see it and act on machines.

use crate::harness::{render, screen_text, Console};
use chrono::{FixedOffset, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::msg::DbState;
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::attendance::AttView;
use onecard::app::{update, Msg};
use onecard::db::ingest::{self, PunchRow};
use onecard::domain::role::Role;
use onecard::domain::time;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::sync::Arc;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn bare(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let mut s = State::new(
        keymap,
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    );
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s.shell.db = DbState::Ready;
    s
}

/// Two attendance machines on their own lines (plain SQL: the inventory is not what is tested),
/// and two people in the register: one known by number, one by card.
pub(crate) async fn site(pool: &PgPool) -> (i64, i64) {
    let mut ids = Vec::new();
    for (n, name, location) in [
        (1, "教学楼考勤机", "一楼大厅"),
        (2, "食堂考勤机", "二楼入口"),
    ] {
        let line: i64 = sqlx::query_scalar(
            "INSERT INTO line (name, protocol, transport, address, poll_interval_ms, enabled)
             VALUES ($1, 'zk', 'tcp', $2, 1000, true) RETURNING id",
        )
        .bind(format!("zk-{n}"))
        .bind(format!("127.0.0.1:{}", 1 + n))
        .fetch_one(pool)
        .await
        .unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO terminal (line_id, kind, address, name, location)
             VALUES ($1, 'attendance_machine', 1, $2, $3) RETURNING id",
        )
        .bind(line)
        .bind(name)
        .bind(location)
        .fetch_one(pool)
        .await
        .unwrap();
        ids.push(id);
    }
    sqlx::query(
        "WITH d AS (INSERT INTO department (code, name) VALUES ('JW', '教务处') RETURNING id)
         INSERT INTO person (person_no, name, department_id, category)
         SELECT 'T001', '张三', id, 'staff' FROM d UNION ALL
         SELECT 'T002', '李四', id, 'staff' FROM d",
    )
    .execute(pool)
    .await
    .unwrap();
    (ids[0], ids[1])
}

/// A punch today at `hms`.
async fn punch(pool: &PgPool, terminal: i64, user_id: &str, hms: (u32, u32, u32)) {
    let at = time::today().and_hms_opt(hms.0, hms.1, hms.2).unwrap();
    punch_on(pool, terminal, user_id, at).await;
}

#[tokio::test]
async fn the_tab_lists_the_machines_and_today_s_punches_live() {
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    let (school, canteen) = site(pool).await;
    punch(pool, school, "T001", (0, 0, 1)).await;
    punch(pool, canteen, "999", (0, 0, 2)).await;
    let mut c = Console::sign_in(
        pool,
        bare(Lang::ZH_CN),
        "kq",
        "考勤员",
        Role::AttendanceAdministrator,
    )
    .await;
    c.strict = true;
    c.key('4').await;
    assert_eq!(c.state.shell.tab, TabId::Attendance);
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        text.contains("教学楼考勤机") && text.contains("二楼入口") && text.contains("2 台考勤机"),
        "{text}"
    );

    // Each machine's last extraction is when its punches were stored.
    assert!(
        c.state
            .attendance
            .machines
            .iter()
            .all(|m| m.last_extraction.is_some()),
        "{:?}",
        c.state.attendance.machines
    );
    c.key('v').await;
    assert_eq!(c.state.attendance.view, AttView::Punches);
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains("张三") && text.contains("教务处"), "{text}");
    assert!(
        text.contains("档案中没有此人"),
        "an unknown user id: {text}"
    );
    assert!(text.contains("共 2 条打卡"), "{text}");

    // A punch stored by any process shows at the next frame.
    punch(pool, canteen, "T002", (0, 0, 3)).await;
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.records.iter().any(|r| r == "punch")))
        .await;
    let fx = c.frame().await;
    assert!(!fx.is_empty(), "a punch re-reads the day");
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        text.contains("李四") && text.contains("共 3 条打卡"),
        "{text}"
    );
}

#[tokio::test]
async fn the_machines_commands_need_the_right_and_a_clear_is_asked_first() {
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    site(pool).await;
    // A duty operator does not see punches at all.
    let mut c = Console::sign_in(pool, bare(Lang::EN), "duty", "Duty", Role::DutyOperator).await;
    c.key('4').await;
    let text = screen_text(&render(&mut c.state, 120, 30));
    assert!(
        text.contains("is for the attendance administrator"),
        "{text}"
    );
    assert!(c.state.attendance.machines.is_empty(), "nothing was read");

    let db = crate::support::test_db().await;
    let pool = &db.pool;
    site(pool).await;
    let mut c = Console::sign_in(
        pool,
        bare(Lang::EN),
        "kq",
        "Attendance",
        Role::AttendanceAdministrator,
    )
    .await;
    c.strict = true;
    c.key('4').await;
    assert_eq!(c.state.attendance.machines.len(), 2);
    // The clear is asked, names the machine, and `n` sends nothing.
    let fx = update(&mut c.state, Msg::Key(key('D')));
    assert!(fx.is_empty(), "{fx:?}");
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        text.contains("Clear the log of 教学楼考勤机 (一楼大厅)?"),
        "{text}"
    );
    c.key('n').await;
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM terminal_command")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    // Extracting every machine queues one command each.
    c.key('E').await;
    let queued: Vec<String> =
        sqlx::query_scalar("SELECT command::text FROM terminal_command ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued.iter().all(|c| c.contains("extract")), "{queued:?}");
}

/// The day shift 08:00–17:00 with 5 minutes' grace for the 教务处, weekends off.
async fn day_shift(pool: &PgPool) {
    use onecard::db::attendance::shifts;
    use onecard::db::attendance::{NewSchedule, NewShift, ScheduleFor};
    use onecard::domain::permission::Actor;
    let shell = Actor::shell("root");
    let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let mut shift = NewShift::new("白班", t(8), t(17));
    shift.grace_late_min = 5;
    shift.grace_early_min = 5;
    let shift_id = shifts::add_shift(pool, &shell, &shift).await.unwrap();
    let dept: i64 = sqlx::query_scalar("SELECT id FROM department WHERE code = 'JW'")
        .fetch_one(pool)
        .await
        .unwrap();
    shifts::add_schedule(
        pool,
        &shell,
        &NewSchedule {
            whom: ScheduleFor::Department(dept),
            shift_id,
            rest_days: vec![],
            valid_from: time::today() - chrono::Duration::days(60),
            valid_to: None,
        },
    )
    .await
    .unwrap();
}

async fn punch_on(pool: &PgPool, terminal: i64, user_id: &str, at: chrono::NaiveDateTime) {
    let stored = ingest::store_punches(
        pool,
        terminal,
        &[PunchRow {
            user_id: user_id.into(),
            terminal_time: at,
            verify: 1,
            state: 0,
        }],
    )
    .await
    .unwrap();
    assert_eq!(stored.inserted, 1);
}

fn text(c: &mut Console) -> String {
    screen_text(&render(&mut c.state, 160, 48))
}

async fn typed(c: &mut Console, s: &str) {
    for ch in s.chars() {
        c.key(ch).await;
    }
}

#[tokio::test]
async fn results_show_the_day_and_a_correction_from_the_tab_changes_them_audited() {
    use onecard::db::attendance;
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    let (school, _) = site(pool).await;
    day_shift(pool).await;
    let yesterday = time::today() - chrono::Duration::days(1);
    let at = |h, m| yesterday.and_hms_opt(h, m, 0).unwrap();
    // 张三 late by 12 minutes; 李四 punched in only.
    punch_on(pool, school, "T001", at(8, 12)).await;
    punch_on(pool, school, "T001", at(17, 3)).await;
    punch_on(pool, school, "T002", at(7, 58)).await;
    attendance::catch_up(pool, 20).await.unwrap();

    let mut c = Console::sign_in(
        pool,
        bare(Lang::ZH_CN),
        "kq",
        "考勤员",
        Role::AttendanceAdministrator,
    )
    .await;
    c.strict = true;
    c.key('4').await;
    c.key('v').await;
    c.key('v').await;
    assert_eq!(c.state.attendance.view, AttView::Results);
    let screen = text(&mut c);
    assert!(screen.contains(&yesterday.to_string()), "{screen}");
    assert!(
        screen.contains("迟到") && screen.contains("缺卡"),
        "{screen}"
    );
    let late = &c
        .state
        .attendance
        .results
        .iter()
        .find(|r| r.person_no == "T001")
        .unwrap();
    assert_eq!(late.late_min, 12);

    // 李四 forgot to punch out: the desk records it, with a reason.
    let li = c
        .state
        .attendance
        .result_rows(&c.state.shell)
        .iter()
        .position(|r| r.person_no == "T002")
        .unwrap();
    update(
        &mut c.state,
        Msg::Key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE)),
    );
    for _ in 0..li {
        c.key('j').await;
    }
    c.key('e').await;
    let screen = text(&mut c);
    assert!(screen.contains("新增更正"), "{screen}");
    // The person and the day come from the row; the time is 17:00, the reason is typed.
    for _ in 0..5 {
        c.send(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)))
            .await;
    }
    typed(&mut c, "忘记打卡，主管确认").await;
    c.enter().await;
    let msg = c
        .state
        .shell
        .message
        .clone()
        .map(|m| m.1)
        .unwrap_or_default();
    assert!(msg.contains("T002"), "{msg}");
    assert!(c.state.attendance.form.is_none());
    let status: String = sqlx::query_scalar(
        "SELECT a.status FROM att_day a JOIN person p ON p.id = a.person_id
          WHERE p.person_no = 'T002' AND a.day = $1",
    )
    .bind(yesterday)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(status, "present");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'attendance.correction%'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM punch")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(raw, 3, "the punches stay as the machine gave them");

    // The corrections view lists it; revoking needs a reason.
    c.key('v').await;
    c.key('v').await;
    assert_eq!(c.state.attendance.view, AttView::Corrections);
    let screen = text(&mut c);
    assert!(
        screen.contains("补打卡") && screen.contains("忘记打卡"),
        "{screen}"
    );
    c.key('R').await;
    c.enter().await;
    let screen = text(&mut c);
    assert!(screen.contains("请填写原因"), "{screen}");
    typed(&mut c, "录错了").await;
    c.enter().await;
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM att_correction WHERE revoked_at IS NOT NULL")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn an_offline_machine_s_file_is_imported_from_the_tab_once() {
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    site(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("1_attlog.dat");
    let day = time::today() - chrono::Duration::days(2);
    std::fs::write(
        &file,
        format!(
            "     T001\t{day} 08:01:13\t1\t0\t1\t0\r\n     T002\t{day} 08:03:00\t1\t0\t1\t0\r\n     T001\t{day} 08:01:13\t1\t0\t1\t0\r\n     T002\tnot a time\t1\t0\t1\t0\r\n"
        ),
    )
    .unwrap();
    let mut c = Console::sign_in(
        pool,
        bare(Lang::ZH_CN),
        "kq",
        "考勤员",
        Role::AttendanceAdministrator,
    )
    .await;
    c.strict = true;
    c.key('4').await;
    c.key('i').await;
    let screen = text(&mut c);
    assert!(screen.contains("导入文件到 教学楼考勤机"), "{screen}");
    typed(&mut c, &file.display().to_string()).await;
    c.enter().await;
    let msg = c
        .state
        .shell
        .message
        .clone()
        .map(|m| m.1)
        .unwrap_or_default();
    assert!(
        msg.contains("新增 2 条打卡，1 条已有，1 行错误") && msg.contains("错误行：4"),
        "{msg}"
    );
    // Again: nothing new.
    c.key('i').await;
    typed(&mut c, &file.display().to_string()).await;
    c.enter().await;
    let msg = c
        .state
        .shell
        .message
        .clone()
        .map(|m| m.1)
        .unwrap_or_default();
    assert!(msg.contains("新增 0 条打卡，3 条已有"), "{msg}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM punch")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn the_sync_view_lists_users_the_register_does_not_know() {
    use onecard::db::machine_sync::{self, DifferenceKind, MachineUser};
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    let (school, _) = site(pool).await;
    machine_sync::store_users(
        pool,
        school,
        &[MachineUser {
            user_id: "888".into(),
            name: "临时工".into(),
            card: 0,
        }],
    )
    .await
    .unwrap();
    let mut c = Console::sign_in(
        pool,
        bare(Lang::EN),
        "kq",
        "Attendance",
        Role::AttendanceAdministrator,
    )
    .await;
    c.strict = true;
    c.key('4').await;
    for _ in 0..5 {
        c.key('v').await;
    }
    assert_eq!(c.state.attendance.view, AttView::Sync);
    assert_eq!(c.state.attendance.sync.len(), 1);
    assert_eq!(
        c.state.attendance.sync[0].kind,
        DifferenceKind::UnknownOnMachine
    );
    let screen = text(&mut c);
    assert!(
        screen.contains("临时工") && screen.contains("unknown to the register"),
        "{screen}"
    );
    // The other machine was never read: it says so.
    assert!(
        screen.contains("食堂考勤机: its users were never read"),
        "{screen}"
    );
}

#[tokio::test]
async fn a_card_issued_after_its_punches_gives_them_to_its_holder() {
    use onecard::db::attendance;
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    let (school, _) = site(pool).await;
    day_shift(pool).await;
    let yesterday = time::today() - chrono::Duration::days(1);
    let at = |h, m| yesterday.and_hms_opt(h, m, 0).unwrap();
    // The machine knew a card nobody held yet.
    punch_on(pool, school, "99887766", at(7, 55)).await;
    punch_on(pool, school, "99887766", at(17, 5)).await;
    attendance::catch_up(pool, 20).await.unwrap();
    let status = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT a.status FROM att_day a JOIN person p ON p.id = a.person_id
              WHERE p.person_no = 'T002' AND a.day = $1",
        )
        .bind(yesterday)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    assert_eq!(status().await, "absent");
    // The card is issued to 李四: the punches are hers from now on.
    sqlx::query(
        "INSERT INTO card (card_no, person_id, kind, subsystems, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT 99887766, id, 'staff', '{attendance}', current_date - 30, current_date + 300, 'test',
                'x', 'x'
           FROM person WHERE person_no = 'T002'",
    )
    .execute(pool)
    .await
    .unwrap();
    attendance::catch_up(pool, 20).await.unwrap();
    assert_eq!(status().await, "present");
}
