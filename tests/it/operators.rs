//! Operator accounts against a real database: login, lockout, first run, changes audited.

use crate::support::test_db;
use onecard::db::audit;
use onecard::db::operator::{self, LoginError, NewOperator, OperatorError};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;

const PW: &str = "correct horse 马";

async fn add(
    pool: &sqlx::PgPool,
    login: &str,
    role: Role,
    must_change: bool,
) -> operator::Operator {
    operator::create(
        pool,
        &Actor::shell("root"),
        NewOperator {
            login,
            display_name: "王芳",
            role,
            password: PW,
            must_change_password: must_change,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn five_wrong_passwords_lock_for_fifteen_minutes() {
    let db = test_db().await;
    add(&db.pool, "wang", Role::CardDesk, false).await;
    for i in 1..=4 {
        let e = operator::authenticate(&db.pool, "wang", "wrong", "test")
            .await
            .unwrap_err();
        assert!(
            matches!(e, LoginError::WrongCredentials),
            "attempt {i}: {e}"
        );
    }
    let e = operator::authenticate(&db.pool, "wang", "wrong", "test")
        .await
        .unwrap_err();
    let LoginError::Locked(until) = e else {
        panic!("fifth failure locks: {e}")
    };
    let minutes: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM $1::timestamptz - now())::float8 / 60")
            .bind(until)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        (14.0..=15.0).contains(&minutes),
        "locked for {minutes} minutes"
    );
    // Even the right password is refused while locked.
    assert!(matches!(
        operator::authenticate(&db.pool, "wang", PW, "test")
            .await
            .unwrap_err(),
        LoginError::Locked(_)
    ));
    // The lock is audited.
    let log = audit::recent(&db.pool, 5).await.unwrap();
    assert_eq!(log[0].action, "operator.lock");
    // Pretend the 15 minutes passed: the right password works and the counter restarts.
    sqlx::query(
        "UPDATE operator SET locked_until = now() - interval '1 second' WHERE login = 'wang'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let s = operator::authenticate(&db.pool, "wang", PW, "test")
        .await
        .unwrap();
    assert_eq!(s.operator.failed_attempts, 0);
}

#[tokio::test]
async fn a_success_resets_the_count_and_opens_a_session() {
    let db = test_db().await;
    add(&db.pool, "wang", Role::CardDesk, false).await;
    for _ in 0..4 {
        let _ = operator::authenticate(&db.pool, "wang", "wrong", "test").await;
    }
    let s = operator::authenticate(&db.pool, "wang", PW, "ssh pts/3")
        .await
        .unwrap();
    assert!(s.operator.last_login_at.is_some());
    for _ in 0..4 {
        let _ = operator::authenticate(&db.pool, "wang", "wrong", "test").await;
    }
    assert!(
        operator::authenticate(&db.pool, "wang", PW, "test")
            .await
            .is_ok(),
        "4+4 spread failures never lock"
    );
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operator_session WHERE ended_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(open, 2);
    operator::end_session(&db.pool, s.id).await.unwrap();
    let client: String = sqlx::query_scalar(
        "SELECT client FROM operator_session WHERE id = $1 AND ended_at IS NOT NULL",
    )
    .bind(s.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(client, "ssh pts/3");
}

#[tokio::test]
async fn unknown_logins_and_disabled_accounts() {
    let db = test_db().await;
    assert!(matches!(
        operator::authenticate(&db.pool, "ghost", PW, "t")
            .await
            .unwrap_err(),
        LoginError::WrongCredentials
    ));
    let director = add(&db.pool, "zhou", Role::Director, false).await;
    add(&db.pool, "wang", Role::CardDesk, false).await;
    let actor = director.actor();
    assert!(matches!(
        operator::set_disabled(&db.pool, &actor, "zhou", true)
            .await
            .unwrap_err(),
        OperatorError::SelfDisable
    ));
    operator::set_disabled(&db.pool, &actor, "wang", true)
        .await
        .unwrap();
    assert!(matches!(
        operator::authenticate(&db.pool, "wang", PW, "t")
            .await
            .unwrap_err(),
        LoginError::Disabled
    ));
}

#[tokio::test]
async fn only_operator_managers_change_other_operators() {
    let db = test_db().await;
    let desk = add(&db.pool, "wang", Role::CardDesk, false).await;
    let admin = add(&db.pool, "li", Role::SystemAdministrator, false).await;
    let new = |login| NewOperator {
        login,
        display_name: "x",
        role: Role::Technician,
        password: PW,
        must_change_password: true,
    };
    assert!(matches!(
        operator::create(&db.pool, &desk.actor(), new("tech"))
            .await
            .unwrap_err(),
        OperatorError::Denied(_)
    ));
    assert!(matches!(
        operator::set_password(&db.pool, &desk.actor(), "li", "another long one")
            .await
            .unwrap_err(),
        OperatorError::Denied(_)
    ));
    operator::create(&db.pool, &admin.actor(), new("tech"))
        .await
        .unwrap();
    assert!(matches!(
        operator::create(&db.pool, &admin.actor(), new("tech"))
            .await
            .unwrap_err(),
        OperatorError::LoginTaken(_)
    ));
    assert!(matches!(
        operator::create(&db.pool, &admin.actor(), new("Bad Login"))
            .await
            .unwrap_err(),
        OperatorError::BadLogin
    ));
    // Everyone may change their own password; a reset by someone else forces a change.
    operator::set_password(&db.pool, &desk.actor(), "wang", "my own new password")
        .await
        .unwrap();
    assert!(
        !operator::find(&db.pool, "wang")
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );
    operator::set_password(&db.pool, &admin.actor(), "wang", "temporary password")
        .await
        .unwrap();
    assert!(
        operator::find(&db.pool, "wang")
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );
    let log = audit::recent(&db.pool, 2).await.unwrap();
    assert_eq!(log[0].action, "operator.password-reset");
    assert_eq!(log[1].action, "operator.password-change");
    // Passwords are stored only as argon2id hashes.
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM operator WHERE login = 'wang'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}

#[tokio::test]
async fn unlock_is_audited_and_clears_the_lock() {
    let db = test_db().await;
    let admin = add(&db.pool, "li", Role::SystemAdministrator, false).await;
    add(&db.pool, "wang", Role::CardDesk, false).await;
    for _ in 0..5 {
        let _ = operator::authenticate(&db.pool, "wang", "wrong", "t").await;
    }
    let op = operator::unlock(&db.pool, &admin.actor(), "wang")
        .await
        .unwrap();
    assert_eq!(op.locked_until, None);
    assert!(operator::authenticate(&db.pool, "wang", PW, "t")
        .await
        .is_ok());
    let log = audit::recent(&db.pool, 1).await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("operator.unlock", "li")
    );
}

#[tokio::test]
async fn the_first_run_director_is_created_exactly_once() {
    let db = test_db().await;
    assert_eq!(operator::count(&db.pool).await.unwrap(), 0);
    // Two consoles on a fresh system race for the first-run screen.
    let (a, b) = tokio::join!(
        operator::create_first_director(&db.pool, "zhou", "周建国", PW),
        operator::create_first_director(&db.pool, "chen", "陈", PW),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one wins: {a:?} {b:?}");
    assert_eq!(operator::count(&db.pool).await.unwrap(), 1);
    let err = operator::create_first_director(&db.pool, "third", "x", PW)
        .await
        .unwrap_err();
    assert!(matches!(err, OperatorError::NotFirstRun));
    let winner = operator::list(&db.pool).await.unwrap().remove(0);
    assert_eq!(winner.role, Role::Director);
    assert!(
        !winner.must_change_password,
        "the director chose this password"
    );
}
