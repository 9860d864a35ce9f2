//! `onecard import punches FILE --machine M`: an offline attendance machine's USB log or CSV,
//! each punch stored once, every bad line named, audited, told to the consoles.

use crate::doors::{onecard, text};
use crate::support::test_db;
use chrono::NaiveDateTime;
use onecard::app::words;
use onecard::db::ingest::{self, PunchRow};
use onecard::db::notify::{Change, CHANNEL};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::import::punches::{self, PunchFormat, PunchImportError, PunchProblem};
use onecard::import::RowProblem;
use sqlx::PgPool;
use std::time::Duration;

/// The branch campus's machine is never reached over the network: its line has no address.
const INVENTORY: &str = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by
branch,zk,tcp,,,attendance_machine,0,分校考勤机,Branch campus,,
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,0,人事处考勤机,Admin building,,
";

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// The inventory above; returns the offline machine's id.
async fn offline_machine(pool: &PgPool) -> i64 {
    onecard::import::terminals::import(pool, &Actor::shell("root"), "inv.csv", INVENTORY)
        .await
        .unwrap();
    punches::machine(pool, "分校考勤机").await.unwrap().id
}

async fn punches_of(pool: &PgPool, terminal: i64) -> Vec<(String, NaiveDateTime, i16, i16)> {
    sqlx::query_as(
        "SELECT user_id, terminal_time, verify, state FROM punch WHERE terminal_id = $1
         ORDER BY terminal_time, user_id",
    )
    .bind(terminal)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The attendance administrator, a real operator (the audit row names them).
async fn attendance_admin(pool: &PgPool) -> Actor {
    let o = onecard::db::operator::create(
        pool,
        &Actor::shell("root"),
        onecard::db::operator::NewOperator {
            login: "kaoqin",
            display_name: "考勤员",
            role: Role::AttendanceAdministrator,
            password: "a long password",
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    Actor::operator(o.id, "kaoqin", Role::AttendanceAdministrator)
}

#[tokio::test]
async fn an_offline_machine_is_in_the_inventory_and_never_polled() {
    let db = test_db().await;
    let id = offline_machine(&db.pool).await;
    let lines: Vec<(String, bool)> = sqlx::query_as("SELECT name, enabled FROM line ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        lines,
        vec![("branch".to_string(), false), ("hr".to_string(), true)]
    );
    let kind: String = sqlx::query_scalar("SELECT kind FROM terminal WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kind, "attendance_machine");
    let snaps = onecard::db::machine_sync::snapshots(&db.pool, None)
        .await
        .unwrap();
    let mut reachable: Vec<(&str, bool)> = snaps
        .iter()
        .map(|s| (s.machine.as_str(), s.reachable))
        .collect();
    reachable.sort();
    assert_eq!(
        reachable,
        vec![("人事处考勤机", true), ("分校考勤机", false)]
    );
}

/// A machine's USB log: a BOM, CRLF, right-aligned user ids, 2 to 6 columns, a punch twice in
/// the file and one stored before by an online extraction, bad lines, a blank line, and a last
/// line cut in the middle by a pulled stick.
const ATTLOG: &str = "\u{feff}     1\t2026-11-02 08:01:13\t1\t0\t1\t0\r\n\
    \x20    2\t2026-11-02 08:03:40\t2\t0\t0\t0\r\n\
    \x20    1\t2026-11-02 08:01:13\t1\t0\t1\t0\r\n\
    \x20   17\t2026-11-02 17:31:02\t1\t1\r\n\
    \x20    3\t2026-11-31 08:00:00\t1\t0\t1\t0\r\n\
    \t2026-11-02 08:10:00\t1\t0\t1\t0\r\n\
    PK\u{3}\u{4}garbage\r\n\
    \r\n\
    \x20    4\t2026-11-02 12:00:00\r\n\
    \x20    5\t2026-11-02 18:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usb_log_stores_each_punch_once_and_names_every_bad_line() {
    let db = test_db().await;
    let pool = &db.pool;
    let machine = offline_machine(pool).await;
    // User 17's evening punch was collected before (the machine was online once).
    ingest::store_punches(
        pool,
        machine,
        &[PunchRow {
            user_id: "17".into(),
            terminal_time: t("2026-11-02 17:31:02"),
            verify: 1,
            state: 1,
        }],
    )
    .await
    .unwrap();
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();

    let admin = attendance_admin(pool).await;
    let r = punches::import_punches(
        pool,
        &admin,
        machine,
        "1_attlog.dat",
        ATTLOG.as_bytes(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.format, PunchFormat::AttLog);
    assert_eq!(r.machine, "分校考勤机");
    assert_eq!(r.lines, 9, "{r:?}");
    assert_eq!((r.new, r.known_in_db, r.repeated_in_file), (3, 1, 1));
    assert_eq!(r.known(), 2);
    let bad: Vec<(u64, PunchProblem, bool)> = r
        .bad
        .iter()
        .map(|b| (b.line, b.problem.clone(), b.cut_short))
        .collect();
    assert_eq!(
        bad,
        vec![
            (
                5,
                PunchProblem::BadTime {
                    text: "2026-11-31 08:00:00".into()
                },
                false
            ),
            (6, PunchProblem::NoUserId, false),
            (7, PunchProblem::NotAPunch { fields: 1 }, false),
            (
                10,
                PunchProblem::BadTime {
                    text: "2026-11-02 18:0".into()
                },
                true
            ),
        ]
    );
    assert_eq!(
        punches_of(pool, machine).await,
        vec![
            ("1".into(), t("2026-11-02 08:01:13"), 1, 0),
            ("2".into(), t("2026-11-02 08:03:40"), 2, 0),
            ("4".into(), t("2026-11-02 12:00:00"), 0, 0),
            ("17".into(), t("2026-11-02 17:31:02"), 1, 1),
        ]
    );
    // The consoles and the results engine are told the punches changed.
    let told = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = listener.recv().await.unwrap();
            if let Some(c) = Change::parse(n.payload()) {
                if c.records.iter().any(|r| r == "punch") {
                    return c;
                }
            }
        }
    })
    .await
    .expect("a records change");
    assert_eq!(told.terminal, vec![machine]);
    // Audited: who, which file into which machine, the counts.
    let (actor, object, after): (String, String, serde_json::Value) = sqlx::query_as(
        "SELECT actor, object_id, after FROM audit_log WHERE action = 'punch.import'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), object), ("kaoqin", machine.to_string()));
    assert_eq!(after["file"], "1_attlog.dat");
    assert_eq!(after["machine"], "分校考勤机");
    assert_eq!(
        (
            after["new"].as_u64(),
            after["known_in_db"].as_u64(),
            after["repeated_in_file"].as_u64(),
            after["bad"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(4))
    );
    assert_eq!(after["bad_lines"], serde_json::json!([5, 6, 7, 10]));
    assert!(r.audit_id.is_some());

    // The same file again: nothing new, every good line known, the same lines bad.
    let again = punches::import_punches(
        pool,
        &admin,
        machine,
        "1_attlog.dat",
        ATTLOG.as_bytes(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.new, again.known(), again.bad.len()),
        (0, 5, 4),
        "{again:?}"
    );
    assert_eq!(punches_of(pool, machine).await.len(), 4);
    let audits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'punch.import'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(audits, 2);

    // The bad lines, in the operator's language.
    let zh = words::bad_punch_line(Lang::ZH_CN, &r.bad[3]);
    assert!(zh.starts_with("第 10 行") && zh.contains("截断"), "{zh}");
    let en = words::bad_punch_line(Lang::EN, &r.bad[1]);
    assert_eq!(en, "line 6: the user id is empty");

    // Only an attendance administrator (or above) imports.
    let desk = Actor::operator(0, "desk", Role::CardDesk);
    assert!(matches!(
        punches::import_punches(pool, &desk, machine, "x.dat", ATTLOG.as_bytes(), false).await,
        Err(PunchImportError::Denied(_))
    ));
}

#[tokio::test]
async fn a_gbk_csv_with_a_chinese_header_is_read() {
    let db = test_db().await;
    let pool = &db.pool;
    let machine = offline_machine(pool).await;
    // What the machine's PC software writes on a Chinese Windows: GBK, CRLF, Excel's times,
    // states in words, a column onecard ignores.
    let csv = "工号,姓名,打卡时间,状态\r\n\
               1001,张伟,2026/11/2 8:01,上班签到\r\n\
               1002,李娜,2026-11-02 08:05:09,0\r\n\
               1001,张伟,2026/11/2 17:45,下班签退\r\n\
               ,王芳,2026/11/2 8:00,签到\r\n\
               1003,赵磊,昨天早上,签到\r\n\
               1004,刘洋,2026/11/2 9:00,迟到\r\n";
    let (gbk, _, lossy) = encoding_rs::GBK.encode(csv);
    assert!(!lossy);
    assert!(std::str::from_utf8(&gbk).is_err());
    let r = punches::import_punches(
        pool,
        &Actor::shell("root"),
        machine,
        "考勤记录.csv",
        &gbk,
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.format, PunchFormat::Csv);
    assert_eq!((r.lines, r.new, r.known(), r.bad.len()), (6, 3, 0, 3));
    let bad: Vec<(u64, PunchProblem)> = r.bad.iter().map(|b| (b.line, b.problem.clone())).collect();
    assert_eq!(
        bad,
        vec![
            (5, PunchProblem::NoUserId),
            (
                6,
                PunchProblem::BadTime {
                    text: "昨天早上".into()
                }
            ),
            (
                7,
                PunchProblem::BadState {
                    text: "迟到".into()
                }
            ),
        ]
    );
    assert_eq!(
        punches_of(pool, machine).await,
        vec![
            ("1001".into(), t("2026-11-02 08:01:00"), 0, 0),
            ("1002".into(), t("2026-11-02 08:05:09"), 0, 0),
            ("1001".into(), t("2026-11-02 17:45:00"), 0, 1),
        ]
    );
    assert_eq!(
        words::bad_punch_line(Lang::ZH_CN, &r.bad[1]),
        "第 6 行：“昨天早上”不是时间（年-月-日 时:分:秒，2000 至 2099 年）"
    );

    // A CSV without a user id column is refused whole, in both languages.
    let e = punches::import_punches(
        pool,
        &Actor::shell("root"),
        machine,
        "x.csv",
        "name,when\n张伟,2026-11-02 08:00:00\n".as_bytes(),
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        e,
        PunchImportError::File {
            line: 1,
            problem: PunchProblem::NoPunchColumns,
            ..
        }
    ));
    assert!(words::punch_import_error(Lang::ZH_CN, &e).contains("表头须有工号列"));
    // A file cut in the middle of a UTF-8 character says so.
    let cut = "user_id,time\n1,2026-11-02 08:00:00\n张".as_bytes();
    let e = punches::import_punches(
        pool,
        &Actor::shell("root"),
        machine,
        "x.csv",
        &cut[..cut.len() - 1],
        false,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            PunchImportError::File {
                line: 3,
                problem: PunchProblem::Row(RowProblem::CutMidCharacter),
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_dry_run_counts_and_stores_nothing() {
    let db = test_db().await;
    let pool = &db.pool;
    let machine = offline_machine(pool).await;
    let file = "1\t2026-11-02 08:01:13\t1\t0\n2\t2026-11-02 08:02:13\t1\t0\nx\n";
    let dry = punches::import_punches(
        pool,
        &Actor::shell("root"),
        machine,
        "a.dat",
        file.as_bytes(),
        true,
    )
    .await
    .unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.new, dry.known(), dry.bad.len()), (2, 0, 1));
    assert_eq!(dry.audit_id, None);
    assert!(punches_of(pool, machine).await.is_empty());
    let audits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'punch.import'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(audits, 0);
    // The real import then says exactly what the dry run said.
    let real = punches::import_punches(
        pool,
        &Actor::shell("root"),
        machine,
        "a.dat",
        file.as_bytes(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (real.new, real.known(), real.bad),
        (dry.new, dry.known(), dry.bad)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reports_and_refuses_an_unknown_machine_in_both_languages() {
    let db = test_db().await;
    let pool = &db.pool;
    let machine = offline_machine(pool).await;
    let dirs = tempfile::tempdir().unwrap();
    let d = dirs.path();
    let file = d.join("1_attlog.dat");
    std::fs::write(
        &file,
        "     1\t2026-11-02 08:01:13\t1\t0\t1\t0\n     1\t2026-11-02 08:01:13\t1\t0\t1\t0\n     2\t2026-13-02 08:01:13\t1\t0\t1\t0\n",
    )
    .unwrap();
    let f = file.display().to_string();
    let run = |args: &[&str]| onecard(&db, d, args, "");

    let o = run(&[
        "--lang",
        "en",
        "import",
        "punches",
        &f,
        "--machine",
        "没有这台机器",
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("No attendance machine 没有这台机器 in the inventory"),
        "{err}"
    );
    let o = run(&[
        "--lang",
        "zh-CN",
        "import",
        "punches",
        &f,
        "--machine",
        "没有这台机器",
    ]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("设备清单中没有考勤机 没有这台机器"), "{err}");
    // A dry run into the other machine stores nothing.
    let o = run(&[
        "--lang",
        "en",
        "import",
        "punches",
        &f,
        "--machine",
        "人事处考勤机",
        "--dry-run",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(punches_of(pool, machine).await.is_empty());

    let o = run(&[
        "--lang",
        "en",
        "import",
        "punches",
        &f,
        "--machine",
        "分校考勤机",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("1 new, 1 already known (0 stored before, 1 repeated in the file), 1 bad"),
        "{out}"
    );
    assert!(
        out.contains("line 3: “2026-13-02 08:01:13” is not a time"),
        "{out}"
    );
    let o = run(&[
        "--lang",
        "zh-CN",
        "import",
        "punches",
        &f,
        "--machine",
        "分校考勤机",
    ]);
    let (out, _) = text(&o);
    assert!(
        out.contains("新增 0 条，已有 2 条（此前已存 1 条，文件内重复 1 条），错误 1 行"),
        "{out}"
    );
    assert_eq!(punches_of(pool, machine).await.len(), 1);

    // Its users cannot be read: said at once, nothing queued for a line nobody polls.
    let o = run(&[
        "--lang",
        "en",
        "attendance",
        "sync",
        "--machine",
        "分校考勤机",
        "--read",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("分校考勤机: an offline machine (its line is never polled)")
            && out.contains("分校考勤机: an offline machine: its users cannot be read"),
        "{out}"
    );
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM terminal_command")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(queued, 0);
}
