//! ZKTeco comm keys: a per-terminal inventory field (imported, never listed), used when
//! `serve` connects.

use crate::poller::{eventually, fast, quiet_demo, start, stored};
use crate::support::test_db;
use onecard::domain::permission::Actor;
use onecard::import::terminals::{self, TerminalImportError};
use onecard::poller::Supervisor;
use onecard::sim::register::register_site;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_a_machine_with_a_comm_key_is_read() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.clear();
    cfg.lines.clear();
    cfg.attendance_machines.truncate(1);
    cfg.attendance_machines[0].comm_key = 731_054;
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let m = site.attendance_machines()[0].clone();
    for u in m.users().iter().take(3) {
        m.punch(&u.user_id, None).unwrap();
    }
    let sup = Supervisor::start_with(db.pool.clone(), "key", fast());
    eventually(Duration::from_secs(30), "the punches stored", || async {
        stored(&db.pool, &reg).await.values().sum::<u64>() == 3
    })
    .await;
    let status: String = sqlx::query_scalar("SELECT status FROM terminal WHERE id = $1")
        .bind(reg[0].terminal_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(status, "online");
    // What lists terminals has no comm key to show.
    let listed = format!(
        "{:?}",
        onecard::db::terminal::terminals(&db.pool).await.unwrap()
    );
    assert!(!listed.contains("731054"), "{listed}");
    sup.stop().await;
}

#[tokio::test]
async fn zk_comm_keys_are_imported_and_audited_without_their_value() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    let good = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by,comm_key
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,0,人事处考勤机,Admin building,,,424242
lab,zk,tcp,10.0.0.10:4370,,attendance_machine,0,实验楼考勤机,Lab,,,
gate,uhppote,udp,10.0.0.5:60000,,door_controller,405419896,East,,,,
";
    terminals::import(&db.pool, &shell, "t.csv", good)
        .await
        .unwrap();
    let keys: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, comm_key FROM terminal ORDER BY name")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        keys,
        vec![
            ("East".to_string(), 0),
            ("人事处考勤机".to_string(), 424242),
            ("实验楼考勤机".to_string(), 0),
        ]
    );
    let audit: String =
        sqlx::query_scalar("SELECT string_agg(coalesce(after::text, ''), ' ') FROM audit_log")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!audit.contains("424242"), "{audit}");
    // A comm key belongs to a ZKTeco machine only.
    let bad = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by,comm_key
gate2,uhppote,udp,10.0.0.6:60000,,door_controller,405419897,West,,,,5
";
    let e = terminals::import(&db.pool, &shell, "bad.csv", bad)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TerminalImportError::BadRows { rows, .. } if rows[0].message.contains("comm key")),
        "{e}"
    );
}
