//! CSV imports: all or nothing, every bad row named.

use crate::support::test_db;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::import::terminals::{self, TerminalImportError as ImportError};

const GOOD: &str = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by
main gate,uhppote,udp,10.0.0.5:60000,,door_controller,405419896,图书馆东门,Library east,2026-09-01,David
main gate,uhppote,udp,10.0.0.5:60000,,door_controller,405419897,Library west,Library west,,David
canteen,native,serial,/dev/ttyUSB0,9600,pos,1,一食堂 1号,Canteen 1,2026-09-02,王工
canteen,native,serial,/dev/ttyUSB0,9600,pos,2,一食堂 2号,Canteen 1,,王工
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,0,人事处考勤机,Admin building,,
";

async fn count(pool: &sqlx::PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT (SELECT count(*) FROM line), (SELECT count(*) FROM terminal)")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_good_file_imports_whole_and_audited() {
    let db = test_db().await;
    let tech = Actor::operator(1, "tech", Role::Technician);
    sqlx::query("INSERT INTO operator (id, login, display_name, role, password_hash) VALUES (1, 'tech', 't', 'technician', 'x')")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        terminals::import(&db.pool, &tech, "t.csv", GOOD)
            .await
            .unwrap(),
        (3, 5)
    );
    assert_eq!(count(&db.pool).await, (3, 5));
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('line.add', 'terminal.add')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(audited, 8);
    // Importing the same file again changes nothing and says which rows collide.
    let e = terminals::import(&db.pool, &tech, "t.csv", GOOD)
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(rows.len(), 5, "{e}");
    assert_eq!(count(&db.pool).await, (3, 5));
    let desk = Actor::operator(1, "desk", Role::CardDesk);
    assert!(matches!(
        terminals::import(&db.pool, &desk, "t.csv", GOOD).await,
        Err(ImportError::Denied(_))
    ));
}

#[tokio::test]
async fn every_bad_row_is_named_and_nothing_is_imported() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    let bad = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by
main gate,uhppote,udp,10.0.0.5:60000,,door_controller,405419896,East,,,
main gate,uhppote,udp,10.0.0.5:60000,,pos,7,Wrong kind,,,
canteen,native,serial,/dev/ttyUSB0,,pos,1,No baud,,,
canteen2,native,tcp,10.0.0.7:4001,,pos,300,Too high,,,
main gate,uhppote,tcp,10.0.0.6:60000,,door_controller,405419899,Disagrees,,,
main gate,uhppote,udp,10.0.0.5:60000,,door_controller,405419896,Twice,,,
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,0,Date,,2026-13-45,
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,abc,NaN,,,
";
    let e = terminals::import(&db.pool, &shell, "bad.csv", bad)
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &e else {
        panic!("{e}")
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9], "{e}");
    let text = e.to_string();
    for needle in [
        "does not speak",
        "baud",
        "outside 1-247",
        "differently",
        "also on line 2",
        "not a date",
        "abc",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(count(&db.pool).await, (0, 0));
    // Saved by Excel: CRLF line ends and a BOM name the same lines.
    let excel = format!("\u{feff}{}", bad.replace('\n', "\r\n"));
    let e = terminals::import(&db.pool, &shell, "bad.csv", &excel)
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &e else {
        panic!("{e}")
    };
    let crlf: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(crlf, lines, "{e}");
    assert_eq!(count(&db.pool).await, (0, 0));
}

#[tokio::test]
async fn a_half_written_file_is_refused() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    let cut = &GOOD[..GOOD.len() - 40];
    let e = terminals::import(&db.pool, &shell, "cut.csv", cut)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("line 6"), "{e}");
    assert_eq!(count(&db.pool).await, (0, 0));
    let e = terminals::import(&db.pool, &shell, "empty.csv", "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no rows"), "{e}");
}

#[tokio::test]
async fn a_row_must_describe_an_existing_line_as_the_inventory_does() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    terminals::import(&db.pool, &shell, "t.csv", GOOD)
        .await
        .unwrap();
    // An attendance machine put on the door controllers' line by mistake.
    let wrong = "\
line,protocol,transport,line_address,baud,kind,address,name,location,installed_at,installed_by
hr,zk,tcp,10.0.0.9:4370,,attendance_machine,1,人事处二号机,Admin building,,
main gate,zk,tcp,10.0.0.9:4370,,attendance_machine,2,Wrong line,,,
";
    let e = terminals::import(&db.pool, &shell, "wrong.csv", wrong)
        .await
        .unwrap_err();
    let ImportError::BadRows { rows, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![3],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("already in the inventory as uhppote"),
        "{e}"
    );
    assert_eq!(
        count(&db.pool).await,
        (3, 5),
        "nothing of the file imported"
    );
}
