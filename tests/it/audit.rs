//! The audit chain: written with the change, verified link by link, tampering caught.

use crate::support::test_db;
use onecard::db::{audit, operator, settings};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use serde_json::json;

async fn some_history(pool: &sqlx::PgPool) {
    let shell = Actor::shell("root");
    for (login, role) in [
        ("zhou", Role::Director),
        ("li.ming", Role::CardDesk),
        ("david", Role::Technician),
    ] {
        operator::create(
            pool,
            &shell,
            operator::NewOperator {
                login,
                display_name: "测试",
                role,
                password: "long enough password",
                must_change_password: true,
            },
        )
        .await
        .unwrap();
    }
    settings::set(pool, &shell, "door.retention_months", json!(3))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let db = test_db().await;
    some_history(&db.pool).await;
    let v = audit::verify(&db.pool).await.unwrap();
    assert_eq!(v.rows, 4);
    assert_eq!(v.first_break, None);
    let rows = audit::recent(&db.pool, 10).await.unwrap();
    assert_eq!(rows[0].action, "setting.change");
    assert_eq!(rows[0].after, Some(json!(3)));
    assert_eq!(rows[3].actor, "cli:root");
    // The audit copy of an operator never holds the password hash.
    assert!(!rows[3]
        .after
        .as_ref()
        .unwrap()
        .to_string()
        .contains("argon2"));
}

#[tokio::test]
async fn an_edited_row_is_caught_at_that_row() {
    let db = test_db().await;
    some_history(&db.pool).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    // The trigger stops the application; someone switching it off is what the chain is for.
    let refused = sqlx::query("UPDATE audit_log SET actor = 'nobody' WHERE id = $1")
        .bind(ids[1])
        .execute(&mut *conn)
        .await;
    assert!(refused.unwrap_err().to_string().contains("append-only"));
    // The table's owner may switch its trigger off (no superuser needed, as on a managed
    // server): what someone with the database's own credentials could do.
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE audit_log SET after = jsonb_set(after, '{role}', '\"director\"') WHERE id = $1",
    )
    .bind(ids[1])
    .execute(&mut *conn)
    .await
    .unwrap();
    let v = audit::verify(&db.pool).await.unwrap();
    assert_eq!(v.first_break, Some((ids[1], audit::Break::Edited)));
}

#[tokio::test]
async fn a_deleted_row_is_caught_at_the_next_one() {
    let db = test_db().await;
    some_history(&db.pool).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    // The table's owner may switch its trigger off (no superuser needed, as on a managed
    // server): what someone with the database's own credentials could do.
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE id = $1")
        .bind(ids[2])
        .execute(&mut *conn)
        .await
        .unwrap();
    let v = audit::verify(&db.pool).await.unwrap();
    assert_eq!(v.first_break, Some((ids[3], audit::Break::Unlinked)));
}

#[tokio::test]
async fn concurrent_changes_keep_one_chain() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let pool = db.pool.clone();
        let shell = shell.clone();
        tasks.push(tokio::spawn(async move {
            settings::set(&pool, &shell, &format!("k{}", i % 4), json!(i))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = audit::verify(&db.pool).await.unwrap();
    assert_eq!(v.first_break, None);
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(v.rows as i64, changes);
}

#[tokio::test]
async fn a_change_that_rolls_back_leaves_no_audit_row() {
    let db = test_db().await;
    let shell = Actor::shell("root");
    let mut tx = db.pool.begin().await.unwrap();
    audit::append(
        &mut tx,
        &shell,
        "setting.change",
        "setting",
        "x",
        None,
        Some(json!(1)),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(audit::verify(&db.pool).await.unwrap().rows, 0);
    // And a refused change (no permission) writes nothing either.
    let duty = Actor::operator(1, "duty", Role::DutyOperator);
    assert!(settings::set(&db.pool, &duty, "x", json!(2)).await.is_err());
    assert_eq!(audit::verify(&db.pool).await.unwrap().rows, 0);
    assert_eq!(settings::get(&db.pool, "x").await.unwrap(), None);
}
