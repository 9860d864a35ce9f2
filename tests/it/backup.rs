//! Backups with pg_dump, recorded; restore into an empty database only.

use crate::support::{cluster, fresh_empty_db, test_db};
use onecard::db::{audit, backup, operator};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use std::path::PathBuf;

fn tool(name: &str) -> PathBuf {
    match cluster() {
        Some(c) => c.bin(name),
        None => PathBuf::from(name),
    }
}

#[tokio::test]
async fn backup_then_restore_into_an_empty_database() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    operator::create(
        &db.pool,
        &shell,
        operator::NewOperator {
            login: "zhou",
            display_name: "周建国",
            role: Role::Director,
            password: "a long password",
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let record = backup::backup(
        &db.pool,
        &shell,
        &db.options,
        None,
        &tool("pg_dump"),
        dir.path(),
    )
    .await
    .unwrap();
    let file = PathBuf::from(&record.path);
    assert!(file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(&format!("onecard-{}-", db.name)));
    assert_eq!(
        std::fs::metadata(&file).unwrap().len() as i64,
        record.size_bytes
    );
    assert!(record.size_bytes > 1000);
    assert!(!dir.path().read_dir().unwrap().any(|e| e
        .unwrap()
        .path()
        .to_string_lossy()
        .ends_with(".partial")));
    let listed = backup::list(&db.pool).await.unwrap();
    assert_eq!(
        (listed[0].id, listed[0].taken_by.as_str()),
        (record.id, "cli:root")
    );
    assert_eq!(
        audit::recent(&db.pool, 1).await.unwrap()[0].action,
        "database.backup"
    );

    // Restoring over live data is refused.
    let e = backup::restore(
        &db.pool,
        &shell,
        &db.options,
        None,
        &tool("pg_restore"),
        &file,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, backup::BackupError::NotEmpty(_)), "{e}");

    let target = fresh_empty_db().await;
    backup::restore(
        &target.pool,
        &shell,
        &target.options,
        None,
        &tool("pg_restore"),
        &file,
    )
    .await
    .unwrap();
    let restored = operator::find(&target.pool, "zhou").await.unwrap().unwrap();
    assert_eq!(restored.display_name, "周建国");
    let v = audit::verify(&target.pool).await.unwrap();
    assert_eq!(v.first_break, None, "the chain survives a restore");
    assert_eq!(
        audit::recent(&target.pool, 1).await.unwrap()[0].action,
        "database.restore"
    );
    onecard::db::migrate(&target.pool).await.unwrap();
}

#[tokio::test]
async fn a_bad_backup_file_leaves_the_target_empty() {
    let target = fresh_empty_db().await;
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("half.dump");
    std::fs::write(&junk, b"PGDMP\x01\x0e\x00 this is not a whole dump").unwrap();
    let shell = Actor::shell("root");
    let e = backup::restore(
        &target.pool,
        &shell,
        &target.options,
        None,
        &tool("pg_restore"),
        &junk,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, backup::BackupError::ToolFailed { .. }), "{e}");
    assert_eq!(backup::user_tables(&target.pool).await.unwrap(), 0);
    let e = backup::restore(
        &target.pool,
        &shell,
        &target.options,
        None,
        &tool("pg_restore"),
        &dir.path().join("none.dump"),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"));
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_in_plain_words() {
    let db = test_db().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let e = onecard::db::migrate(&db.pool).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("99990101000000") && msg.contains("newer than this onecard"),
        "{msg}"
    );
}
