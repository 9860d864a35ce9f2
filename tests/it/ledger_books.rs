//! The database keeps the books whatever a client does: raw SQL that tries each bad thing is
//! refused by PostgreSQL itself. And `onecard ledger verify` on good books and damaged ones.

use crate::doors::{onecard, text};
use crate::support::{test_db, verify_ledger, TestDb};
use onecard::db::ledger::{self, LedgerError, MovementKind, SystemAccount};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use sqlx::PgPool;

fn yuan(s: &str) -> Money {
    s.parse().unwrap()
}

fn root() -> Actor {
    Actor::shell("root")
}

/// A person with an account topped up with `amount` (from the cash drawer).
async fn holder(pool: &PgPool, no: &str, amount: &str) -> (i64, i64) {
    sqlx::query(
        "INSERT INTO department (code, name) VALUES ('cs', 'Computer Science') ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap();
    let person: i64 = sqlx::query_scalar(
        "INSERT INTO person (person_no, name, department_id, category)
         VALUES ($1, '张三', (SELECT id FROM department WHERE code = 'cs'), 'student') RETURNING id",
    )
    .bind(no)
    .fetch_one(pool)
    .await
    .unwrap();
    ledger::top_up(pool, &root(), person, yuan(amount), "")
        .await
        .unwrap();
    let account = sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1")
        .bind(person)
        .fetch_one(pool)
        .await
        .unwrap();
    (person, account)
}

async fn system(pool: &PgPool, kind: SystemAccount) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    ledger::system_account(&mut conn, kind).await.unwrap()
}

/// The database's refusal: its SQLSTATE and message.
fn refusal(e: sqlx::Error) -> (String, String) {
    let db = e
        .as_database_error()
        .unwrap_or_else(|| panic!("not a database error: {e}"));
    (
        db.code().unwrap_or_default().to_string(),
        db.message().to_string(),
    )
}

async fn refused(pool: &PgPool, sql: &str) -> (String, String) {
    refusal(sqlx::raw_sql(sql).execute(pool).await.unwrap_err())
}

#[tokio::test]
async fn a_movement_with_no_entries_is_refused_at_commit() {
    let db = test_db().await;
    let pool = &db.pool;
    // Alone in its transaction.
    let (code, msg) = refused(
        pool,
        "INSERT INTO ledger_movement (kind, actor) VALUES ('correction', 'test')",
    )
    .await;
    assert_eq!(code, "23514", "{msg}");
    assert!(msg.contains("has no entries"), "{msg}");
    // Written first and its entries never: the commit fails, not the insert.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO ledger_movement (kind, actor) VALUES ('top_up', 'test')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (code, msg) = refusal(tx.commit().await.unwrap_err());
    assert_eq!(code, "23514", "{msg}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_movement")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    verify_ledger(pool).await;
}

#[tokio::test]
async fn a_movement_whose_entries_do_not_sum_to_zero_is_refused() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, account) = holder(pool, "2023001", "50.00").await;
    let cash = system(pool, SystemAccount::Cash).await;
    let (code, msg) = refused(
        pool,
        &format!(
            "WITH m AS (INSERT INTO ledger_movement (kind, actor) VALUES ('correction', 'test') RETURNING id)
             INSERT INTO ledger_entry (movement_id, account_id, amount)
             SELECT id, a, x FROM m, (VALUES ({cash}, 10.00), ({account}, -9.99)) AS e (a, x)"
        ),
    )
    .await;
    assert_eq!(code, "23514", "{msg}");
    assert!(msg.contains("does not balance"), "{msg}");
    verify_ledger(pool).await;
}

#[tokio::test]
async fn entries_are_checked_per_statement_for_references_balance_and_purchase_count() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, account) = holder(pool, "2023001", "50.00").await;
    let cash = system(pool, SystemAccount::Cash).await;
    // An account that does not exist.
    let (code, msg) = refused(
        pool,
        &format!(
            "WITH m AS (INSERT INTO ledger_movement (kind, actor) VALUES ('correction', 'test') RETURNING id)
             INSERT INTO ledger_entry (movement_id, account_id, amount)
             SELECT id, a, x FROM m, (VALUES ({cash}, 1.00), (999999, -1.00)) AS e (a, x)"
        ),
    )
    .await;
    assert_eq!(code, "23503", "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    // An entry added later to a movement that balanced.
    let old: i64 = sqlx::query_scalar("SELECT min(id) FROM ledger_movement")
        .fetch_one(pool)
        .await
        .unwrap();
    let (code, msg) = refused(
        pool,
        &format!(
            "INSERT INTO ledger_entry (movement_id, account_id, amount) VALUES ({old}, {account}, 5.00)"
        ),
    )
    .await;
    assert_eq!(code, "23514", "{msg}");
    assert!(msg.contains("does not balance"), "{msg}");
    // A purchase movement that says it posts two purchases and traces one.
    let terminal: i64 = sqlx::query_scalar(
        "WITH l AS (INSERT INTO line (name, protocol, transport, address)
                    VALUES ('bus', 'native', 'tcp', '127.0.0.1:1') RETURNING id)
         INSERT INTO terminal (line_id, kind, address, name) SELECT id, 'pos', 1, 'pos' FROM l
         RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (code, msg) = refused(
        pool,
        &format!(
            "WITH m AS (INSERT INTO ledger_movement (kind, actor, terminal_id, txn_epoch, purchase_count)
                        VALUES ('purchase', 'test', {terminal}, 0, 2) RETURNING id)
             INSERT INTO ledger_entry (movement_id, account_id, amount, terminal_id, txn_epoch, txn_no)
             SELECT id, a, x, t, CASE WHEN t IS NULL THEN NULL ELSE 0 END, n
             FROM m, (VALUES ({account}, 1.00, {terminal}, 1), ({cash}, -1.00, NULL, NULL)) AS e (a, x, t, n)"
        ),
    )
    .await;
    assert_eq!(code, "23514", "{msg}");
    assert!(msg.contains("posts 1 purchases"), "{msg}");
    // An account is never deleted.
    let (code, msg) = refused(pool, &format!("DELETE FROM account WHERE id = {account}")).await;
    assert_eq!(code, "23001", "{msg}");
    verify_ledger(pool).await;
}

#[tokio::test]
async fn entries_and_movements_are_never_edited_deleted_or_truncated() {
    let db = test_db().await;
    let pool = &db.pool;
    holder(pool, "2023001", "50.00").await;
    for sql in [
        "UPDATE ledger_entry SET amount = amount * 2",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_movement SET note = 'changed'",
        "DELETE FROM ledger_movement",
        "TRUNCATE ledger_entry",
        "TRUNCATE ledger_movement CASCADE",
    ] {
        let (code, msg) = refused(pool, sql).await;
        assert_eq!(code, "23001", "{sql}: {msg}");
        assert!(msg.contains("append-only"), "{sql}: {msg}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_entry")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 2, "both entries of the top-up are still there");
    verify_ledger(pool).await;
}

#[tokio::test]
async fn a_floored_account_cannot_go_below_zero() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, account) = holder(pool, "2023001", "50.00").await;
    let cash = system(pool, SystemAccount::Cash).await;
    let floor = |sql: &'static str| async move {
        let (code, msg) = refused(pool, sql).await;
        assert_eq!(code, "23514", "{sql}: {msg}");
        assert!(msg.contains("account_floor_zero"), "{sql}: {msg}");
    };
    // Every account is floored, each in its own direction: what the centre owes never below
    // zero, the cash in the drawer (minus its balance) never below zero either.
    floor("UPDATE account SET balance = -0.01 WHERE kind = 'cardholder'").await;
    floor("UPDATE account SET balance = -0.01 WHERE kind = 'fee_income'").await;
    floor("UPDATE account SET balance = -0.01 WHERE kind = 'forfeited_balance'").await;
    floor("UPDATE account SET balance = 0.01 WHERE kind = 'cash'").await;

    // Paying out 50.01 from a balance of 50.00, through the ledger: the database says no, and
    // nothing of the movement is left.
    let mut tx = pool.begin().await.unwrap();
    let e = ledger::post(
        &mut tx,
        &root(),
        MovementKind::Refund,
        None,
        "",
        &[(account, yuan("50.01")), (cash, yuan("-50.01"))],
    )
    .await
    .unwrap_err();
    let LedgerError::Sql(e) = e else {
        panic!("{e}")
    };
    assert_eq!(
        e.as_database_error().and_then(|d| d.constraint()),
        Some("account_floor_zero")
    );
    drop(tx);
    let balance: Money = sqlx::query_scalar("SELECT balance FROM account WHERE id = $1")
        .bind(account)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(balance, yuan("50.00"));

    // The floor is per account: one lifted (as an offline overdraw will) lets that one through.
    sqlx::query("UPDATE account SET floor_zero = false WHERE id = $1")
        .bind(account)
        .execute(pool)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let fee = system(pool, SystemAccount::FeeIncome).await;
    ledger::post(
        &mut tx,
        &root(),
        MovementKind::Fee,
        None,
        "",
        &[(account, yuan("60.00")), (fee, yuan("-60.00"))],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let balance: Money = sqlx::query_scalar("SELECT balance FROM account WHERE id = $1")
        .bind(account)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(balance, yuan("-10.00"));
    verify_ledger(pool).await;
}

// ---------------------------------------------------------------- onecard ledger verify

fn verify(db: &TestDb, dirs: &std::path::Path) -> (bool, String, String) {
    let out = onecard(db, dirs, &["--lang", "en", "ledger", "verify"], "");
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

#[tokio::test]
async fn ledger_verify_passes_good_books_and_names_the_first_account_that_differs() {
    let db = test_db().await;
    let pool = &db.pool;
    let dirs = tempfile::tempdir().unwrap();
    let (ok, out, err) = verify(&db, dirs.path());
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ledger balanced: 0 movements, 0 entries, 6 accounts"),
        "{out}"
    );

    let (_, first) = holder(pool, "2023001", "50.00").await;
    let (_, second) = holder(pool, "2023002", "1234.50").await;
    let (ok, out, err) = verify(&db, dirs.path());
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ledger balanced: 2 movements, 4 entries, 8 accounts"),
        "{out}"
    );

    // Damage the cached balances (the entries cannot be touched): the books still sum to zero,
    // but two accounts no longer agree with their entries.
    for (id, balance) in [(second, "1200.00"), (first, "49.99")] {
        sqlx::query("UPDATE account SET balance = $2 WHERE id = $1")
            .bind(id)
            .bind(yuan(balance))
            .execute(pool)
            .await
            .unwrap();
    }
    let (ok, out, err) = verify(&db, dirs.path());
    assert!(!ok, "{out}{err}");
    assert_eq!(out, "");
    assert!(err.contains("ledger NOT balanced"), "{err}");
    assert!(
        err.contains(&format!(
            "first account that differs: {first} (张三), balance ¥49.99, its entries say ¥50.00"
        )),
        "{err}"
    );
    assert!(err.contains("2 accounts differ in all"), "{err}");
    assert!(!err.contains("all entries sum"), "{err}");

    // In the operator's language.
    let out = onecard(
        &db,
        dirs.path(),
        &["--lang", "zh-CN", "ledger", "verify"],
        "",
    );
    assert!(!out.status.success());
    let (_, err) = text(&out);
    assert!(err.contains("账目不平"), "{err}");
    assert!(err.contains("第一个不符的账户"), "{err}");
}
