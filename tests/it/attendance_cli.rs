//! `onecard attendance ...` sets attendance up from the shell, and `onecard report attendance`
//! reports it: on screen, and as CSV (byte-order mark, header, whole minutes), audited.

use crate::doors::{onecard, text};
use crate::support::test_db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_sets_attendance_up_and_the_report_writes_the_csv() {
    let db = test_db().await;
    let pool = &db.pool;
    sqlx::raw_sql(
        "INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'test');
         INSERT INTO department (code, name) VALUES ('LIB', '图书馆');
         INSERT INTO person (person_no, name, department_id, category)
         SELECT v.no, v.name, d.id, 'staff' FROM department d,
                (VALUES ('T001', '张三'), ('T002', '李四')) AS v(no, name);
         INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state) VALUES
          (1, 'T001', '2027-03-01 08:07', 1, 0), (1, 'T001', '2027-03-01 18:10', 1, 1),
          (1, 'T002', '2027-03-01 07:55', 1, 0);",
    )
    .execute(pool)
    .await
    .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let d = dirs.path();
    let run = |args: &[&str]| onecard(&db, d, args, "");
    let ok = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{args:?}: {:?}", text(&o));
        text(&o).0
    };
    ok(&[
        "attendance",
        "shift",
        "add",
        "白班",
        "--start",
        "08:00",
        "--end",
        "17:00",
        "--grace-late",
        "5",
        "--grace-early",
        "5",
    ]);
    let (_, err) = text(&run(&[
        "attendance",
        "shift",
        "add",
        "长夜班",
        "--start",
        "20:00",
        "--end",
        "10:00",
    ]));
    assert!(err.contains("does not fit in one attendance day"), "{err}");
    assert!(ok(&["attendance", "shift", "list"]).contains("白班"));
    ok(&[
        "attendance",
        "schedule",
        "add",
        "--shift",
        "白班",
        "--department",
        "LIB",
        "--from",
        "2027-03-01",
        "--to",
        "2027-03-31",
    ]);
    assert!(ok(&["attendance", "schedule", "list"]).contains("图书馆"));
    ok(&["attendance", "holiday", "add", "2027-03-02", "假日"]);
    assert!(ok(&["attendance", "holiday", "list"]).contains("假日"));
    // T002 forgot to punch out; a leave for T001 on 03-03 is recorded and revoked.
    let out = ok(&[
        "attendance",
        "correct",
        "--person",
        "T002",
        "--punch",
        "2027-03-01 17:00",
        "--reason",
        "忘记打卡",
    ]);
    assert!(out.contains("correction"), "{out}");
    let leave = ok(&[
        "attendance",
        "correct",
        "--person",
        "T001",
        "--leave",
        "2027-03-03",
        "2027-03-04",
        "--reason",
        "年假",
    ]);
    let id: String = leave
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let o = run(&["attendance", "revoke", &id, "--reason", " "]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("needs a reason"), "{:?}", text(&o));
    ok(&["attendance", "revoke", &id, "--reason", "取消休假"]);

    let report = |extra: &[&str]| {
        let mut args = vec![
            "report",
            "attendance",
            "--from",
            "2027-03-01",
            "--to",
            "2027-03-03",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // An unknown department is refused by name.
    let o = report(&["--department", "没有的部门"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("no department 没有的部门"),
        "{:?}",
        text(&o)
    );
    // On screen: the days and the totals.
    let o = report(&["--department", "图书馆"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("T001") && out.contains("late") && out.contains("6 rows"),
        "{out}"
    );

    let file = d.join("考勤.csv");
    let path = file.display().to_string();
    let o = report(&["--csv", &path]);
    assert!(o.status.success(), "{:?}", text(&o));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let body = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "person_no,name,department,day,shift,day_kind,status,punches,first_punch,last_punch,late_min,early_min,overtime_min,worked_min,leave_min"
    );
    assert_eq!(lines.len(), 1 + 6);
    assert_eq!(
        lines[1],
        "T001,张三,图书馆,2027-03-01,白班,work,late,2,2027-03-01 08:07:00,2027-03-01 18:10:00,7,0,70,603,0"
    );
    assert!(lines.contains(&"T001,张三,图书馆,2027-03-03,白班,work,absent,0,,,0,0,0,0,0"));
    assert!(lines.contains(&"T002,李四,图书馆,2027-03-01,白班,work,present,2,2027-03-01 07:55:00,2027-03-01 17:00:00,0,0,0,545,0"));
    assert!(lines.contains(&"T002,李四,图书馆,2027-03-02,白班,holiday,holiday,0,,,0,0,0,0,0"));
    // An existing file is not replaced without --overwrite.
    let o = report(&["--csv", &path]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("exists already"), "{:?}", text(&o));
    let o = report(&[
        "--csv",
        &path,
        "--overwrite",
        "--person",
        "T002",
        "--status",
        "present",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let body = std::fs::read_to_string(&file).unwrap();
    assert_eq!(body.lines().count(), 2, "{body}");
    let exports: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'attendance.results.export'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(exports, 2);
    let punches: i64 = sqlx::query_scalar("SELECT count(*) FROM punch")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(punches, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_imports_whole_or_not_at_all_with_every_bad_line_named() {
    let db = test_db().await;
    let pool = &db.pool;
    sqlx::raw_sql(
        "INSERT INTO department (code, name) VALUES ('LIB', '图书馆');
         INSERT INTO person (person_no, name, department_id, category)
         SELECT 'T001', '张三', id, 'staff' FROM department;",
    )
    .execute(pool)
    .await
    .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let d = dirs.path();
    let run = |args: &[&str]| onecard(&db, d, args, "");
    let write = |name: &str, body: &str| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let bad = write(
        "bad.csv",
        "\u{feff}name,start,end,grace_late,day_change\n白班,08:00,17:00,5,\n长夜班,20:00,10:00,,\n午班,12:xx,18:00,,\n",
    );
    let o = run(&["attendance", "import", "shifts", &bad]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("line 3") && err.contains("line 4") && err.contains("nothing imported"),
        "{err}"
    );
    assert_eq!(count("att_shift").await, 0);
    let shifts = write(
        "shifts.csv",
        "name,start,end,grace_late,grace_early,day_change,pairs\n白班,08:00,17:00,5,5,,no\n夜班,22:00,06:00,5,5,14:00,\n",
    );
    let o = run(&["attendance", "import", "shifts", &shifts]);
    assert!(o.status.success(), "{:?}", text(&o));
    let schedules = write(
        "schedules.csv",
        "shift,department,person,rest_days,valid_from,valid_to\n白班,LIB,,6 7,2027-03-01,2027-03-31\n夜班,,T001,7,2027-03-01,\n",
    );
    let o = run(&["attendance", "import", "schedules", &schedules]);
    assert!(o.status.success(), "{:?}", text(&o));
    let holidays = write(
        "holidays.csv",
        "day,name,works\n2027-03-02,假日,\n2027-03-06,调休,yes\n",
    );
    let o = run(&["attendance", "import", "holidays", &holidays]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        (
            count("att_shift").await,
            count("att_schedule").await,
            count("att_holiday").await
        ),
        (2, 2, 2)
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'attendance.%'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(audited, 6);
}
