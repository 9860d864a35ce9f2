//! `onecard site settings|set|reset`: a value its reader would not take is refused and nothing
//! changes; every change, a reset included, is audited.

use crate::doors::{onecard, text};
use crate::support::test_db;
use onecard::db::settings;

async fn audited(pool: &sqlx::PgPool, key: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'setting.change' AND object_id = $1",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_setting_is_set_checked_listed_and_reset_with_an_audit_row_each_time() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let key = "console.lock_after_min";
    let ok = onecard(&db, dirs.path(), &["site", "set", key, "5"], "");
    assert!(ok.status.success(), "{:?}", text(&ok));
    assert_eq!(
        settings::get(&db.pool, key).await.unwrap(),
        Some(serde_json::json!(5))
    );
    assert_eq!(audited(&db.pool, key).await, 1);
    // Refused: the value stays, nothing is audited, and the message says what is wanted.
    for bad in ["-1", "ten", "99999"] {
        let o = onecard(&db, dirs.path(), &["site", "set", key, bad], "");
        assert!(!o.status.success());
        assert!(
            text(&o).1.contains("a whole number from 0 to 1440"),
            "{:?}",
            text(&o)
        );
    }
    let o = onecard(
        &db,
        dirs.path(),
        &["site", "set", "console.lock_after", "5"],
        "",
    );
    assert!(!o.status.success());
    assert!(text(&o).1.contains("is no site setting"), "{:?}", text(&o));
    assert_eq!(
        settings::get(&db.pool, key).await.unwrap(),
        Some(serde_json::json!(5))
    );
    assert_eq!(audited(&db.pool, key).await, 1);
    let list = onecard(&db, dirs.path(), &["site", "settings"], "");
    let (out, _) = text(&list);
    let line = out.lines().find(|l| l.starts_with(key)).unwrap();
    assert!(line.contains(" 5 ") && line.contains(" 15 "), "{line}");
    assert!(out.contains("ssh.max_sessions_per_operator"), "{out}");
    // Back to the default: the row is gone, and that is audited too.
    let o = onecard(&db, dirs.path(), &["site", "reset", key], "");
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(settings::get(&db.pool, key).await.unwrap(), None);
    assert_eq!(audited(&db.pool, key).await, 2);
}
