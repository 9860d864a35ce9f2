//! The demo site's contents.

use crate::support::test_db;
use onecard::db::operator;
use onecard::domain::role::Role;

#[tokio::test]
async fn the_demo_site_has_people_and_an_operator_per_role() {
    let db = test_db().await;
    onecard::demo::load(&db.pool).await.unwrap();
    // Loading again (a restart after a half-finished load) adds nothing twice.
    onecard::demo::load(&db.pool).await.unwrap();
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM person")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(people as usize, onecard::demo::PEOPLE);
    let depts: i64 = sqlx::query_scalar("SELECT count(*) FROM department")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(depts, 10);
    let chinese: i64 =
        sqlx::query_scalar("SELECT count(*) FROM person WHERE name ~ '[\\u4e00-\\u9fff]'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let latin: i64 = sqlx::query_scalar("SELECT count(*) FROM person WHERE name ~ '^[A-Za-z]'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        chinese > 200 && latin >= 30,
        "chinese {chinese}, latin {latin}"
    );
    let accounts = onecard::demo::accounts(&db.pool).await.unwrap();
    assert_eq!(accounts.len(), Role::ALL.len());
    for role in Role::ALL {
        assert!(accounts.iter().any(|a| a.1 == role.name()), "{role}");
    }
    // The listed passwords are the real ones.
    for (login, _, _, password) in &accounts {
        operator::authenticate(&db.pool, login, password, "test")
            .await
            .unwrap();
    }
    assert!(accounts.iter().any(|a| a.0 == onecard::demo::DIRECTOR));
}
