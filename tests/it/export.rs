//! The one CSV writer (`onecard::export`) and the door events export: a byte-order mark for
//! Excel, no file overwritten unless told, no half file left, and an audit row in the
//! transaction the rows were read in.

use crate::doors::{doors_admin, event_fixture};
use crate::support::test_db;
use onecard::db::door::{self, DoorError, EventQuery};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::export::{Csv, CsvFile, Existing, ExportError, BOM};
use sqlx::PgPool;

async fn exports(pool: &PgPool) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'door.export' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A writer that fails once `limit` bytes went through (a full disk).
struct FullDisk {
    written: usize,
    limit: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.limit {
            return Err(std::io::Error::other("no space left on device"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_door_export_is_audited_in_the_transaction_that_reads_it() {
    let db = test_db().await;
    let pool = &db.pool;
    event_fixture(pool).await;
    let q = EventQuery {
        card: Some(2001),
        // Paging is the screen's: an export has every row.
        limit: 3,
        ..EventQuery::default()
    };
    let duty = Actor::operator(2, "duty", Role::DutyOperator);
    let e = door::export_events(pool, &duty, &q, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(e, DoorError::Denied(_)), "{e}");

    let mut out = Vec::new();
    let n = door::export_events(pool, &doors_admin(), &q, &mut out)
        .await
        .unwrap();
    assert_eq!(n, 10);
    assert!(out.starts_with(BOM));
    let text = String::from_utf8(out[BOM.len()..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "time,controller,serial,door,door_name,kind,direction,granted,reason,card,person_no,person,department,received_at,late,clock_invalid,terminal_id,record_no"
    );
    assert_eq!(lines.len(), 11);
    assert!(
        lines[1].starts_with(
            "2026-11-24 12:00:00,Annex gate,123456789,1,,granted,,yes,1,2001,E001,Li Wei,图书馆,"
        ),
        "{}",
        lines[1]
    );
    let audit = exports(pool).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["rows"], 10);
    assert_eq!(audit[0]["query"]["card"], 2001);
    assert_eq!(audit[0]["file"], serde_json::Value::Null);
    let who: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'door.export'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(who, "doors");

    // The disk fills up half-way: the export fails and leaves no record of having happened.
    let e = door::export_events(
        pool,
        &doors_admin(),
        &q,
        FullDisk {
            written: 0,
            limit: 100,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, DoorError::Export(ExportError::Io(_))), "{e}");
    assert_eq!(exports(pool).await.len(), 1);

    // A loss query's export says what the card was then.
    let mut out = Vec::new();
    door::export_events(
        pool,
        &doors_admin(),
        &EventQuery {
            lost_cards: true,
            ..EventQuery::default()
        },
        &mut out,
    )
    .await
    .unwrap();
    let header = String::from_utf8(out).unwrap();
    assert!(
        header.contains(",department,card_state,received_at,"),
        "{header}"
    );
    assert_eq!(exports(pool).await[1]["rows"], 0);
    assert_eq!(exports(pool).await[1]["query"]["lost_cards"], true);
}

#[tokio::test]
async fn an_export_file_is_never_overwritten_unless_told_and_never_left_half_written() {
    let db = test_db().await;
    let pool = &db.pool;
    event_fixture(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("门禁记录.csv");
    std::fs::write(&path, "someone's work").unwrap();
    let q = EventQuery::default();

    let e = door::export_events_file(pool, &doors_admin(), &q, &path, Existing::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DoorError::Export(ExportError::Exists(p)) if p == &path),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone's work");
    assert!(exports(pool).await.is_empty(), "refused before reading");

    let n = door::export_events_file(pool, &doors_admin(), &q, &path, Existing::Overwrite)
        .await
        .unwrap();
    assert_eq!(n, 25);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(BOM));
    assert_eq!(String::from_utf8(bytes).unwrap().lines().count(), 26);
    assert_eq!(
        exports(pool).await[0]["file"],
        serde_json::json!(path.display().to_string())
    );
    let names = || {
        let mut n: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(), vec!["门禁记录.csv"]);

    // Dropped before its commit (an error on the way): no half file under any name.
    let other = dir.path().join("b.csv");
    {
        let file = CsvFile::create(&other, Existing::Refuse).unwrap();
        let mut csv = Csv::new(file, &["a"]).unwrap();
        csv.row(["1"]).unwrap();
    }
    assert_eq!(names(), vec!["门禁记录.csv"]);

    // A file that appears while the export runs is not replaced either.
    let file = CsvFile::create(&other, Existing::Refuse).unwrap();
    let mut csv = Csv::new(file, &["a"]).unwrap();
    csv.row(["1"]).unwrap();
    std::fs::write(&other, "theirs").unwrap();
    let e = csv.finish().unwrap().commit().unwrap_err();
    assert!(matches!(e, ExportError::Exists(_)), "{e}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "theirs");
    assert_eq!(names(), vec!["b.csv", "门禁记录.csv"]);
}

/// Every CSV onecard writes goes through `onecard::export`: no other module builds a writer.
#[test]
fn no_csv_writer_outside_the_export_module() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("src/export.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("csv::Writer") || text.contains("csv::WriterBuilder") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "CSV written outside src/export.rs: {found:?}"
    );
}
