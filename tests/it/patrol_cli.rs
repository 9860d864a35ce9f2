//! `onecard patrol ...`: the plan imported from CSV (all or nothing), the omission report as
//! CSV, the purge.

use crate::doors::{onecard, text};
use crate::support::test_db;

fn write(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_imports_whole_and_the_report_exports_one_row_per_due_visit() {
    let db = test_db().await;
    let pool = &db.pool;
    sqlx::query("INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'test')")
        .execute(pool)
        .await
        .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let d = dirs.path();
    let run = |args: &[&str]| onecard(&db, d, args, "");

    // A file with two bad rows imports nothing, and names both.
    let bad = write(
        d,
        "bad.csv",
        "\u{feff}tag,name,location\n101,东门,校门\nabc,西门,\n102,,图书馆\n",
    );
    let o = run(&["patrol", "import", "checkpoints", &bad]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("line 3") && err.contains("line 4") && err.contains("nothing imported"),
        "{err}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM checkpoint")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    let cps = write(
        d,
        "cp.csv",
        "tag,name,location,late_s\n101,东门,校门,\n102,图书馆,图书馆一层,600\n103,食堂,食堂北侧,\n",
    );
    let guards = write(
        d,
        "g.csv",
        "card,name,group\n5001,王保安,夜班组\n5002,李保安,夜班组\n",
    );
    let routes = write(
        d,
        "r.csv",
        "route,tag,offset_min,early_s,late_s\n北线,101,0,120,120\n北线,102,10,,\n北线,103,20,,\n",
    );
    let schedules = write(
        d,
        "s.csv",
        "route,guard,group,shift,days,first_start,last_start,every_min,valid_from,valid_to\n北线,王保安,,夜班,1-7,22:00,00:00,120,2026-11-01,2026-11-02\n",
    );
    for (what, f) in [
        ("checkpoints", &cps),
        ("guards", &guards),
        ("routes", &routes),
        ("schedules", &schedules),
    ] {
        let o = run(&["patrol", "import", what, f]);
        assert!(o.status.success(), "{what}: {:?}", text(&o));
    }
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'patrol.%'")
            .fetch_one(pool)
            .await
            .unwrap();
    // Checkpoints, the group, guards, the route, the schedule.
    assert_eq!(audited, 3 + 1 + 2 + 1 + 1);
    let before_export = audited;
    // A schedule naming an unknown guard is refused by name and line.
    let unknown = write(
        d,
        "s2.csv",
        "route,guard,shift,first_start,last_start,every_min,valid_from\n北线,周保安,夜班,08:00,08:00,60,2026-11-01\n",
    );
    let (_, err) = text(&run(&["patrol", "import", "schedules", &unknown]));
    assert!(
        err.contains("line 2") && err.contains("no guard 周保安"),
        "{err}"
    );

    // Night of 11-01: 22:00 round all on time but 103 late; 00:00 round nothing.
    for (no, tag, t) in [
        (1, 101, "2026-11-01 22:01:00"),
        (2, 102, "2026-11-01 22:10:00"),
        (3, 103, "2026-11-01 22:27:00"),
    ] {
        sqlx::query(
            "INSERT INTO patrol_scan (terminal_id, record_no, guard_card, checkpoint_tag, event, terminal_time, drift_s)
             VALUES (1, $1, 5001, $2, 0, $3::timestamp, 0)",
        )
        .bind(no)
        .bind(tag)
        .bind(t)
        .execute(pool)
        .await
        .unwrap();
    }
    let csv = d.join("omissions.csv");
    let o = run(&[
        "patrol",
        "omissions",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02 12:00",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let body = std::fs::read_to_string(&csv).unwrap();
    let exports: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'patrol.omissions.export'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(exports, 1, "{before_export}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}guard,route,checkpoint,due,window_start,window_end,scanned_at,class"
    );
    // Rounds 11-01 22:00 and 11-02 00:00, 3 visits each.
    assert_eq!(lines.len(), 1 + 6, "{body}");
    assert_eq!(
        lines[1],
        "王保安,北线,101 东门,2026-11-01 22:00:00,2026-11-01 21:58:00,2026-11-01 22:02:00,2026-11-01 22:01:00,on_time"
    );
    assert!(lines[3].ends_with(",late"), "{}", lines[3]);
    assert!(lines[4].ends_with(",,missed"), "{}", lines[4]);
    // On screen: the totals per guard.
    let (out, _) = text(&run(&[
        "patrol",
        "omissions",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-01",
    ]));
    assert!(
        out.contains("王保安") && out.contains("66.7%") && out.contains("3 due visits"),
        "{out}"
    );

    // The purge asks nothing with --yes, says what it removed, and is audited.
    let (out, _) = text(&run(&[
        "patrol",
        "purge",
        "--before",
        "2026-11-02",
        "--yes",
    ]));
    assert!(out.contains("deleted 3 scans, 3 due visits"), "{out}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM patrol_visit")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 9);
    let purged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'patrol.purge'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(purged, 1);
}
