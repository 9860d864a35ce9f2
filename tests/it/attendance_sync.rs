//! The person register sync against a simulated ZKTeco machine and a real poller: who the
//! machine lacks, who on it the register does not know, until the register is pushed.

use crate::doors::{onecard, text};
use crate::support::test_db;
use chrono::{Duration as Days, Local};
use onecard::db::command::{self, CommandFailure, CommandOutcome, Feature, TerminalCommand};
use onecard::db::machine_sync::{self, DifferenceKind, SyncDifference};
use onecard::domain::permission::Actor;
use onecard::poller::{Options, Supervisor};
use onecard::sim::register::{register_site, RegisteredTerminal};
use onecard::sim::runner::Site;
use onecard::terminal::zk::{UserRecord, ZkClient};
use sqlx::PgPool;
use std::time::Duration;

const CLOCK: &str = "attendance/OCK0000001";

fn options() -> Options {
    Options {
        recheck: Duration::from_millis(300),
        lock_check: Duration::from_millis(500),
        uhppote_timeout: Duration::from_millis(300),
        max_backoff: Duration::from_secs(1),
        command_timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

/// One door controller and one attendance machine, no background traffic.
async fn site(pool: &PgPool) -> (Site, Vec<RegisteredTerminal>) {
    let mut c = crate::poller::quiet_demo();
    c.door_controllers.truncate(1);
    c.attendance_machines.truncate(1);
    c.lines.clear();
    let site = crate::poller::start(&c).await;
    let reg = register_site(pool, &site).await.unwrap();
    (site, reg)
}

fn id_of(reg: &[RegisteredTerminal], sim_id: &str) -> i64 {
    reg.iter()
        .find(|r| r.sim_id == sim_id)
        .unwrap_or_else(|| panic!("no {sim_id} in {reg:?}"))
        .terminal_id
}

/// A person with an attendance card in service granted the machine.
async fn enrolled(pool: &PgPool, terminal: i64, person_no: &str, name: &str, card_no: i64) {
    let dept: i64 = sqlx::query_scalar(
        "INSERT INTO department (code, name) VALUES ('HR', '人事处')
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let person: i64 = sqlx::query_scalar(
        "INSERT INTO person (person_no, name, department_id, category)
         VALUES ($1, $2, $3, 'staff') RETURNING id",
    )
    .bind(person_no)
    .bind(name)
    .bind(dept)
    .fetch_one(pool)
    .await
    .unwrap();
    let today = Local::now().date_naive();
    let card: i64 = sqlx::query_scalar(
        "INSERT INTO card (card_no, person_id, kind, subsystems, valid_from, valid_until,
                           issued_by, query_pin_hash, payment_pin_hash)
         VALUES ($1, $2, 'staff', ARRAY['attendance'], $3, $4, 'test', 'x', 'x') RETURNING id",
    )
    .bind(card_no)
    .bind(person)
    .bind(today - Days::days(30))
    .bind(today + Days::days(365))
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO card_grant (card_id, terminal_id, door) VALUES ($1, $2, 0)")
        .bind(card)
        .bind(terminal)
        .execute(pool)
        .await
        .unwrap();
}

async fn run(
    pool: &PgPool,
    terminal: i64,
    cmd: TerminalCommand,
) -> Result<CommandOutcome, CommandFailure> {
    let id = command::enqueue(pool, &Actor::shell("root"), terminal, &cmd)
        .await
        .unwrap();
    crate::poller::finished(pool, id)
        .await
        .outcome
        .expect("an outcome")
}

fn of_kind(d: &[SyncDifference], kind: DifferenceKind) -> Vec<String> {
    d.iter()
        .filter(|x| x.kind == kind)
        .map(|x| x.user_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_machine_lacks_a_new_person_until_pushed_and_shows_its_own_users() {
    let db = test_db().await;
    let pool = &db.pool;
    let (site, reg) = site(pool).await;
    let clock = id_of(&reg, CLOCK);
    let machine = site.attendance_machine(CLOCK).unwrap();
    let sup = Supervisor::start_with(pool.clone(), "attendance-sync", options());

    // Never read: nothing is known of the machine yet.
    let snaps = machine_sync::snapshots(pool, Some(clock)).await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].read_at, None);
    assert!(machine_sync::sync_differences(pool, None)
        .await
        .unwrap()
        .is_empty());

    // Someone enrolled at the machine by hand (fingerprint, no card).
    let addr: String = sqlx::query_scalar(
        "SELECT l.address FROM line l JOIN terminal t ON t.line_id = l.id WHERE t.id = $1",
    )
    .bind(clock)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut c = ZkClient::connect_tcp(addr.as_str(), machine.comm_key(), Duration::from_secs(5))
        .await
        .unwrap();
    let uid = machine.users().iter().map(|u| u.uid).max().unwrap_or(0) + 1;
    // And a person of the register with no card for this machine, enrolled by hand too.
    let by_hand = |uid: u16, user_id: &str, name: &str| UserRecord {
        uid,
        privilege: 0,
        password: String::new(),
        name: name.into(),
        card: 0,
        group: "1".into(),
        user_id: user_id.into(),
    };
    c.write_users(&[
        by_hand(uid, "T900", "临时工"),
        by_hand(uid + 1, "E3001", "李雷"),
    ])
    .await
    .unwrap();
    c.disconnect().await.unwrap();
    let own: Vec<String> = machine.users().into_iter().map(|u| u.user_id).collect();
    assert!(own.contains(&"T900".to_string()));

    // A new person in the register, entitled to the machine; one who is not.
    enrolled(pool, clock, "E2001", "韩梅梅", 9_500_001).await;
    sqlx::query(
        "INSERT INTO person (person_no, name, department_id, category)
         SELECT 'E3001', '李雷', id, 'staff' FROM department WHERE code = 'HR'",
    )
    .execute(pool)
    .await
    .unwrap();
    let users = machine.users().len();
    assert_eq!(
        run(pool, clock, TerminalCommand::ReadUsers).await,
        Ok(CommandOutcome::UsersRead {
            users: u32::try_from(users).unwrap()
        })
    );
    let snaps = machine_sync::snapshots(pool, Some(clock)).await.unwrap();
    assert!(snaps[0].read_at.is_some());
    assert_eq!(snaps[0].users, users as i64);
    let d = machine_sync::sync_differences(pool, Some(clock))
        .await
        .unwrap();
    assert_eq!(of_kind(&d, DifferenceKind::MissingOnMachine), ["E2001"]);
    let missing = d
        .iter()
        .find(|x| x.kind == DifferenceKind::MissingOnMachine)
        .unwrap();
    assert_eq!(
        (
            missing.person_name.as_deref(),
            missing.card,
            missing.machine_name.as_deref()
        ),
        (Some("韩梅梅"), Some(9_500_001), None)
    );
    let mut unknown = of_kind(&d, DifferenceKind::UnknownOnMachine);
    unknown.sort();
    let mut expected: Vec<String> = own.iter().filter(|u| *u != "E3001").cloned().collect();
    expected.sort();
    let stray = d.iter().find(|x| x.user_id == "E3001").unwrap();
    assert_eq!(
        (stray.kind, stray.person_name.as_deref(), stray.card),
        (DifferenceKind::NotEntitled, Some("李雷"), None)
    );
    assert_eq!(
        unknown, expected,
        "every user of the machine is unknown: {d:?}"
    );
    let t900 = d.iter().find(|x| x.user_id == "T900").unwrap();
    assert_eq!(
        (
            t900.machine_name.as_deref(),
            t900.machine_card,
            t900.person_name.as_deref()
        ),
        (Some("临时工"), Some(0), None)
    );

    // Pushed from the command line: nobody is missing; the machine's card users the register
    // does not know are gone, the one enrolled by hand stays, unknown.
    let name: String = sqlx::query_scalar("SELECT name FROM terminal WHERE id = $1")
        .bind(clock)
        .fetch_one(pool)
        .await
        .unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let o = onecard(
        &db,
        dirs.path(),
        &[
            "--lang",
            "en",
            "attendance",
            "sync",
            "--machine",
            &name,
            "--push",
        ],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("Download cards: 1 written"), "{out}");
    assert!(!out.contains("missing on the machine"), "{out}");
    assert!(out.contains("T900"), "{out}");
    let user = machine.user("E2001").expect("pushed");
    assert_eq!((user.name.as_str(), user.card), ("韩梅梅", 9_500_001));
    let d = machine_sync::sync_differences(pool, Some(clock))
        .await
        .unwrap();
    assert!(
        of_kind(&d, DifferenceKind::MissingOnMachine).is_empty(),
        "{d:?}"
    );
    let unknown = of_kind(&d, DifferenceKind::UnknownOnMachine);
    assert!(unknown.contains(&"T900".to_string()), "{d:?}");
    assert!(
        machine
            .users()
            .iter()
            .all(|u| u.card == 0 || u.user_id == "E2001"),
        "{:?}",
        machine.users()
    );

    // The register renames the person: the machine's copy differs until pushed again.
    sqlx::query("UPDATE person SET name = '韩梅' WHERE person_no = 'E2001'")
        .execute(pool)
        .await
        .unwrap();
    let d = machine_sync::sync_differences(pool, Some(clock))
        .await
        .unwrap();
    let differs: Vec<&SyncDifference> = d
        .iter()
        .filter(|x| x.kind == DifferenceKind::Differs)
        .collect();
    assert_eq!(differs.len(), 1, "{d:?}");
    assert_eq!(
        (
            differs[0].person_name.as_deref(),
            differs[0].machine_name.as_deref()
        ),
        (Some("韩梅"), Some("韩梅梅"))
    );
    // Read in Chinese: the same difference, in the operator's language.
    let o = onecard(
        &db,
        dirs.path(),
        &["--lang", "zh-CN", "attendance", "sync", "--read"],
        "",
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("姓名或卡号不一致") && out.contains("E2001"),
        "{out}"
    );
    assert!(
        out.contains("人员名册中没有") && out.contains("T900"),
        "{out}"
    );

    // A door controller keeps no user list.
    let door = reg
        .iter()
        .find(|r| r.sim_id.starts_with("door/"))
        .unwrap()
        .terminal_id;
    assert_eq!(
        run(pool, door, TerminalCommand::ReadUsers).await,
        Err(CommandFailure::Unsupported {
            what: Feature::UserList
        })
    );
    sup.stop().await;
}
