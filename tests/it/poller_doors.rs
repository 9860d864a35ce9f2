//! The door table as the poller keeps it: each door's settings read when a controller is
//! identified and after a change it confirmed, and its live state (open, unlocked) from every
//! status, written only when it changed and announced with `Change.door`.

use crate::poller::{ctl, done, eventually, fast, quiet_demo, start, term};
use crate::support::test_db;
use onecard::db::command::{self, CommandOutcome, DoorMode as CmdDoorMode, TerminalCommand};
use onecard::db::notify::{Change, CHANNEL};
use onecard::domain::permission::Actor;
use onecard::poller::Supervisor;
use onecard::sim::register::register_site;
use onecard::terminal::uhppote::{DoorControl, DoorMode, Request};
use sqlx::PgPool;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

/// (mode, unlock_secs, open, unlocked) of one door.
async fn door(pool: &PgPool, terminal: i64, n: i16) -> (String, i16, Option<bool>, Option<bool>) {
    sqlx::query_as(
        "SELECT mode, unlock_secs, open, unlocked FROM door WHERE terminal_id = $1 AND door = $2",
    )
    .bind(terminal)
    .bind(n)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doors_follow_what_the_controller_reports() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, "door/405419896").terminal_id;
    let controller = site.controller("door/405419896").unwrap();
    // Set at the controller itself, before onecard ever spoke to it.
    controller
        .handle(&Request::SetDoorControl(DoorControl {
            door: 3,
            mode: DoorMode::NormallyClosed,
            delay: 9,
        }))
        .unwrap();
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "doors", fast());

    // Identified: every door's settings read; the first status gives the live state.
    eventually(PATIENCE, "door 3's settings and the live state", || async {
        door(&db.pool, id, 3).await == ("normally_closed".into(), 9, Some(false), Some(false))
    })
    .await;
    assert_eq!(
        door(&db.pool, id, 1).await,
        ("controlled".into(), 3, Some(false), Some(false))
    );

    // A door sensor opens and closes: the row follows, and consoles are told.
    ctl(&site, "door/405419896 open 2");
    eventually(PATIENCE, "door 2 open", || async {
        door(&db.pool, id, 2).await.2 == Some(true)
    })
    .await;
    let start = std::time::Instant::now();
    loop {
        assert!(
            start.elapsed() < PATIENCE,
            "no Change.door for the controller"
        );
        let n = tokio::time::timeout(PATIENCE, listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        if Change::parse(n.payload()).is_some_and(|c| c.door.contains(&id)) {
            break;
        }
    }
    ctl(&site, "door/405419896 close 2");
    eventually(PATIENCE, "door 2 closed", || async {
        door(&db.pool, id, 2).await.2 == Some(false)
    })
    .await;

    // A mode the controller confirmed is recorded; normally open, its relay stays on.
    let cmd = TerminalCommand::SetDoorMode {
        door: 4,
        mode: CmdDoorMode::NormallyOpen,
        unlock_secs: 5,
    };
    let queued = command::enqueue(&db.pool, &Actor::shell("root"), id, &cmd)
        .await
        .unwrap();
    assert_eq!(
        done(&db.pool, queued).await,
        CommandOutcome::DoorModeSet {
            door: 4,
            mode: CmdDoorMode::NormallyOpen,
            unlock_secs: 5
        }
    );
    eventually(PATIENCE, "door 4 normally open and unlocked", || async {
        door(&db.pool, id, 4).await == ("normally_open".into(), 5, Some(false), Some(true))
    })
    .await;
    sup.stop().await;
}
