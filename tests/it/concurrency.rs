//! Two consoles' worth of connections on one embedded cluster at once.

use crate::support::test_db;
use onecard::db::{audit, operator};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;

#[tokio::test]
async fn two_consoles_share_one_cluster() {
    let db = test_db().await;
    for login in ["wang", "li"] {
        operator::create(
            &db.pool,
            &Actor::shell("root"),
            operator::NewOperator {
                login,
                display_name: login,
                role: Role::SystemAdministrator,
                password: "a long password",
                must_change_password: false,
            },
        )
        .await
        .unwrap();
    }
    // Each console has its own pool, as two SSH sessions would.
    let a = onecard::db::connect(db.options.clone()).await.unwrap();
    let b = onecard::db::connect(db.options.clone()).await.unwrap();
    let work = |pool: sqlx::PgPool, login: &'static str| async move {
        let session = operator::authenticate(&pool, login, "a long password", "test")
            .await
            .unwrap();
        let actor = session.operator.actor();
        for i in 0..20 {
            onecard::db::settings::set(
                &pool,
                &actor,
                &format!("{login}.{}", i % 5),
                serde_json::json!(i),
            )
            .await
            .unwrap();
            operator::list(&pool).await.unwrap();
        }
        operator::end_session(&pool, session.id).await.unwrap();
    };
    let (ra, rb) = tokio::join!(
        tokio::spawn(work(a.clone(), "wang")),
        tokio::spawn(work(b.clone(), "li"))
    );
    ra.unwrap();
    rb.unwrap();
    assert!(
        a.size() + b.size() > 2,
        "both pools opened several connections"
    );
    let v = audit::verify(&db.pool).await.unwrap();
    assert_eq!(v.first_break, None);
    assert_eq!(v.rows, 2 + 40);
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operator_session WHERE ended_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(open, 0);
    a.close().await;
    b.close().await;
}
