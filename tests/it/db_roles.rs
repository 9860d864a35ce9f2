//! Least-privilege roles (issue 14): the console's and serve's roles may do their work and
//! nothing else: no schema change, no truncate, no edit or deletion of the audit log or the
//! books; and `serve --backup-at`'s daily backup is taken once a day, whatever the number of
//! serve processes.

use crate::support::{cluster, role_options, role_pool, test_db, verify_ledger};
use chrono::{NaiveDate, NaiveTime};
use onecard::db::card::{self, IssueRequest, PaidFrom};
use onecard::db::roles::{CONSOLE, SERVE};
use onecard::db::{audit, backup, ledger, operator};
use onecard::domain::card::{CardKind, Subsystem};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use sqlx::PgPool;
use std::path::PathBuf;

/// What the statement's refusal says; panics when it was not refused for want of privilege.
async fn refused(pool: &PgPool, sql: &str) {
    match sqlx::query(sql).execute(pool).await {
        Ok(_) => panic!("`{sql}` was allowed"),
        Err(sqlx::Error::Database(e)) => assert_eq!(
            e.code().as_deref(),
            Some("42501"),
            "`{sql}` failed, but not for want of privilege: {e}"
        ),
        Err(e) => panic!("`{sql}` failed otherwise: {e}"),
    }
}

/// Refused to both roles: the schema, truncation, and the history of money and changes.
const REFUSED_TO_BOTH: &[&str] = &[
    "TRUNCATE audit_log",
    "TRUNCATE ledger_entry",
    "TRUNCATE door_event",
    "UPDATE ledger_entry SET amount = amount",
    "DELETE FROM ledger_entry",
    "UPDATE ledger_movement SET note = ''",
    "DELETE FROM movement_detail",
    "UPDATE audit_log SET actor = 'nobody'",
    "DELETE FROM audit_log",
    // Only audit_append writes the audit log, keeping its chain.
    "INSERT INTO audit_log (actor, action, object_kind, object_id, prev_hash, hash)
     VALUES ('x', 'x', 'x', 'x', '\\x', '\\x')",
    "DELETE FROM fee",
    "UPDATE settlement SET net_payable = 0",
    "DELETE FROM backup",
    "DELETE FROM _sqlx_migrations",
    "DROP TABLE person",
    "DROP TABLE audit_log",
    "CREATE TABLE scratch (id int)",
    "CREATE TABLE public.scratch (id int)",
    "ALTER TABLE card ADD COLUMN scratch int",
    "CREATE INDEX scratch ON card (kind)",
    "CREATE FUNCTION scratch() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER TABLE ledger_entry DISABLE TRIGGER USER",
    "SELECT onecard_grant_roles()",
];

#[tokio::test]
async fn the_console_role_cannot_touch_the_schema_or_rewrite_history() {
    let db = test_db().await;
    let console = role_pool(&db, CONSOLE).await;
    let me: String = sqlx::query_scalar("SELECT current_user")
        .fetch_one(&console)
        .await
        .unwrap();
    assert_eq!(me, CONSOLE);
    for sql in REFUSED_TO_BOTH {
        refused(&console, sql).await;
    }
    // What operators change, it may.
    sqlx::query("UPDATE person SET name = name")
        .execute(&console)
        .await
        .unwrap();
    sqlx::query("DELETE FROM door_event WHERE false")
        .execute(&console)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_entry")
        .fetch_one(&console)
        .await
        .unwrap();
    assert!(rows >= 0);
}

#[tokio::test]
async fn the_serve_role_cannot_either_nor_change_what_operators_change() {
    let db = test_db().await;
    let serve = role_pool(&db, SERVE).await;
    let me: String = sqlx::query_scalar("SELECT current_user")
        .fetch_one(&serve)
        .await
        .unwrap();
    assert_eq!(me, SERVE);
    for sql in REFUSED_TO_BOTH {
        refused(&serve, sql).await;
    }
    for sql in [
        "UPDATE operator SET disabled = true",
        "DELETE FROM operator_session",
        "UPDATE person SET name = name",
        "UPDATE card_kind SET issue_fee = 0",
        "DELETE FROM merchant",
        "UPDATE att_correction SET revoked_at = now()",
    ] {
        refused(&serve, sql).await;
    }
    // What the pollers write, it may.
    for sql in [
        "UPDATE terminal SET status = status",
        "UPDATE alarm SET state = state",
        "UPDATE terminal_command SET state = state",
        "DELETE FROM balance_pending WHERE false",
        "UPDATE account SET balance = balance WHERE false",
    ] {
        sqlx::query(sql)
            .execute(&serve)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` as serve: {e}"));
    }
}

/// A table made after the migrations (a later migration's, or the demo's own) is the roles' as
/// well once `migrate` ran, without the migration granting it.
#[tokio::test]
async fn a_new_table_is_granted_by_migrate() {
    let db = test_db().await;
    sqlx::query("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
        .execute(&db.pool)
        .await
        .unwrap();
    onecard::db::migrate(&db.pool).await.unwrap();
    let console = role_pool(&db, CONSOLE).await;
    sqlx::query("INSERT INTO later_table (note) VALUES ('x')")
        .execute(&console)
        .await
        .unwrap();
    refused(&console, "TRUNCATE later_table").await;
    refused(&console, "DROP TABLE later_table").await;
}

#[tokio::test]
async fn a_card_issue_and_a_top_up_as_the_console_role_are_audited_and_booked() {
    let db = test_db().await;
    // The site, as the owner would have it.
    let ids = crate::pos_online::inventory(
        &db.pool,
        &[("canteen bus", "native", "serial", "/dev/ttyUSB0")],
        &[("canteen bus", "pos", 1, "一食堂 POS 1")],
    )
    .await;
    sqlx::query("INSERT INTO department (code, name) VALUES ('cs', 'Computer Science')")
        .execute(&db.pool)
        .await
        .unwrap();
    let person: i64 = sqlx::query_scalar(
        "INSERT INTO person (person_no, name, department_id, category)
         VALUES ('S1', '张三', (SELECT id FROM department WHERE code = 'cs'), 'student')
         RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();

    // The work, as the console.
    let console = role_pool(&db, CONSOLE).await;
    let desk = operator::create(
        &console,
        &Actor::shell("root"),
        operator::NewOperator {
            login: "wang.desk",
            display_name: "王卡务",
            role: Role::CardDesk,
            password: "correct horse battery",
            must_change_password: false,
        },
    )
    .await
    .unwrap()
    .actor();
    let today = chrono::Local::now().date_naive();
    let issued = card::issue(
        &console,
        &desk,
        &IssueRequest {
            card_no: 8165501,
            person_id: person,
            kind: CardKind::Temporary,
            subsystems: vec![Subsystem::Pos],
            door_groups: vec![],
            terminals: vec![ids[0]],
            valid_from: today,
            valid_until: today + chrono::Duration::days(90),
            paid_from: PaidFrom::Cash,
        },
    )
    .await
    .unwrap();
    assert!(
        issued.fee.is_some(),
        "a temporary card's issue fee is booked"
    );
    let top_up = ledger::top_up(&console, &desk, person, "100.00".parse().unwrap(), "")
        .await
        .unwrap();
    assert_eq!(top_up.balance, "100.00".parse().unwrap());

    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE actor = 'wang.desk' AND action LIKE 'card.issue%'",
    )
    .fetch_one(&console)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let entries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger_entry e JOIN ledger_movement m ON m.id = e.movement_id
         WHERE m.kind IN ('fee', 'top_up')",
    )
    .fetch_one(&console)
    .await
    .unwrap();
    assert!(entries >= 4, "fee and top-up entries: {entries}");
    let chain = audit::verify(&console).await.unwrap();
    assert_eq!(chain.first_break, None);
    verify_ledger(&console).await;
}

fn pg_dump() -> PathBuf {
    match cluster() {
        Some(c) => c.bin("pg_dump"),
        None => PathBuf::from("pg_dump"),
    }
}

#[tokio::test]
async fn a_due_daily_backup_is_taken_and_recorded_once_across_two_serves() {
    let db = test_db().await;
    let serve = role_pool(&db, SERVE).await;
    let dir = tempfile::tempdir().unwrap();
    let daily = |worker: &str| backup::Daily {
        at: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
        folder: dir.path().to_path_buf(),
        pg_dump: pg_dump(),
        // The dump is taken as serve's role: it reads everything.
        options: role_options(&db, SERVE),
        password: None,
        worker: worker.to_string(),
    };
    let (a, b) = (daily("serve-a"), daily("serve-b"));
    let actor = |w: &str| Actor {
        operator_id: None,
        name: format!("serve:{w}"),
        role: None,
        session: None,
    };
    let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();

    // Before the time: nothing.
    let early = day.and_hms_opt(1, 59, 0).unwrap();
    assert!(backup::daily_if_due(&serve, &actor("a"), &a, early)
        .await
        .unwrap()
        .is_none());

    // Due, two serves at once: one takes it.
    let due = day.and_hms_opt(2, 0, 30).unwrap();
    let (actor_a, actor_b) = (actor("a"), actor("b"));
    let (ra, rb) = tokio::join!(
        backup::daily_if_due(&serve, &actor_a, &a, due),
        backup::daily_if_due(&serve, &actor_b, &b, due)
    );
    let taken: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken.len(), 1, "exactly one serve takes the day's backup");
    let record = &taken[0];
    assert!(std::path::Path::new(&record.path).is_file());
    assert!(record.size_bytes > 1000);

    // Later that day, either serve again: taken already.
    let later = day.and_hms_opt(23, 0, 0).unwrap();
    for (who, d) in [("a", &a), ("b", &b)] {
        assert!(backup::daily_if_due(&serve, &actor(who), d, later)
            .await
            .unwrap()
            .is_none());
    }
    let (backups, days, audited): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM backup), (SELECT count(*) FROM backup_day),
                (SELECT count(*) FROM audit_log WHERE action = 'database.backup')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((backups, days, audited), (1, 1, 1));
    let (claimed, backup_id): (NaiveDate, i64) =
        sqlx::query_as("SELECT day, backup_id FROM backup_day")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((claimed, backup_id), (day, record.id));

    // The next day's is due again.
    let next = (day + chrono::Duration::days(1))
        .and_hms_opt(2, 5, 0)
        .unwrap();
    assert!(backup::daily_if_due(&serve, &actor("b"), &b, next)
        .await
        .unwrap()
        .is_some());
    let backups: i64 = sqlx::query_scalar("SELECT count(*) FROM backup")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(backups, 2);
}
