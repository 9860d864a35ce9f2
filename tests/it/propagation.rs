//! Card changes reach the terminals, and their confirmations come back: `propagation::sync_card`
//! against a real PostgreSQL, a simulated site and real pollers.

use crate::support::test_db;
use chrono::{Duration as Days, Local};
use onecard::db::command::{self, CommandFailure, CommandOutcome, Feature, TerminalCommand};
use onecard::db::notify::{Change, CHANNEL};
use onecard::db::propagation::{self, Confirmations};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::poller::{Options, Supervisor, CARD_CHANNEL};
use onecard::sim::control;
use onecard::sim::register::{register_site, RegisteredTerminal};
use onecard::sim::runner::Site;
use onecard::sim::site::SiteConfig;
use sqlx::PgPool;
use std::time::{Duration, Instant};

const DOOR_A: &str = "door/405419896";
const DOOR_B: &str = "door/405419897";
const CLOCK: &str = "attendance/OCK0000001";
const POS: [&str; 3] = ["pos/canteen/1", "pos/canteen/2", "pos/canteen/3"];
/// Generous: nothing here is timed, only waited for.
const PATIENCE: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options {
        recheck: Duration::from_millis(300),
        lock_check: Duration::from_millis(500),
        uhppote_timeout: Duration::from_millis(300),
        max_backoff: Duration::from_secs(1),
        command_timeout: Duration::from_secs(5),
        ..Options::default()
    }
}

/// Two door controllers, one attendance machine, the canteen's three POS and the desk reader;
/// no background traffic.
fn site_config() -> SiteConfig {
    let mut c = crate::poller::quiet_demo();
    c.door_controllers.truncate(2);
    c.attendance_machines.truncate(1);
    c.lines.retain(|l| l.name != "patrol");
    c
}

struct Rig {
    db: crate::support::TestDb,
    site: Site,
    reg: Vec<RegisteredTerminal>,
    actor: Actor,
}

impl Rig {
    async fn start() -> Rig {
        let db = test_db().await;
        let site = crate::poller::start(&site_config()).await;
        let reg = register_site(&db.pool, &site).await.unwrap();
        let desk = onecard::db::operator::create(
            &db.pool,
            &Actor::shell("root"),
            onecard::db::operator::NewOperator {
                login: "desk",
                display_name: "王芳",
                role: Role::CardDesk,
                password: "a long password",
                must_change_password: false,
            },
        )
        .await
        .unwrap();
        Rig {
            db,
            site,
            reg,
            actor: Actor::operator(desk.id, "desk", Role::CardDesk),
        }
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    fn terminal(&self, sim_id: &str) -> i64 {
        self.reg
            .iter()
            .find(|r| r.sim_id == sim_id)
            .unwrap_or_else(|| panic!("no {sim_id} in {:?}", self.reg))
            .terminal_id
    }

    fn supervisor(&self) -> Supervisor {
        Supervisor::start_with(self.pool().clone(), "propagation", options())
    }

    fn ctl(&self, line: &str) -> String {
        let (reply, _) = control::handle(&self.site.terminals, line);
        assert!(reply.starts_with("ok"), "{line}: {reply}");
        reply
    }

    /// A student with a card holding `subsystems`, valid from a month ago for a year: outside
    /// the validity sweep's window, so the supervisor's sweep at start never races the test's
    /// own syncs.
    async fn card(&self, person_no: &str, name: &str, card_no: i64, subsystems: &[&str]) -> i64 {
        let dept: i64 = sqlx::query_scalar(
            "INSERT INTO department (code, name) VALUES ($1, 'Library')
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        )
        .bind("LIB")
        .fetch_one(self.pool())
        .await
        .unwrap();
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO person (person_no, name, department_id, category)
             VALUES ($1, $2, $3, 'student') RETURNING id",
        )
        .bind(person_no)
        .bind(name)
        .bind(dept)
        .fetch_one(self.pool())
        .await
        .unwrap();
        let today = Local::now().date_naive();
        sqlx::query_scalar(
            "INSERT INTO card (card_no, person_id, kind, subsystems, valid_from, valid_until,
                               issued_by, query_pin_hash, payment_pin_hash)
             VALUES ($1, $2, 'student', $3, $4, $5, 'test', 'x', 'x') RETURNING id",
        )
        .bind(card_no)
        .bind(person)
        .bind(subsystems.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .bind(today - Days::days(30))
        .bind(today + Days::days(365))
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    async fn grant(&self, card: i64, sim_id: &str, door: i16) {
        sqlx::query("INSERT INTO card_grant (card_id, terminal_id, door) VALUES ($1, $2, $3)")
            .bind(card)
            .bind(self.terminal(sim_id))
            .bind(door)
            .execute(self.pool())
            .await
            .unwrap();
    }

    /// Sets the card's state and syncs it in one transaction, as a card transition does.
    async fn transition(&self, card: i64, state: Option<&str>) -> usize {
        let mut tx = self.pool().begin().await.unwrap();
        if let Some(state) = state {
            sqlx::query(
                "UPDATE card SET state = $2,
                     lost_at = CASE WHEN $2 = 'lost' THEN now() ELSE NULL END, updated_at = now()
                 WHERE id = $1",
            )
            .bind(card)
            .bind(state)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        let s = propagation::sync_card(&mut tx, &self.actor, card)
            .await
            .unwrap();
        s.change.send(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        s.queued
    }

    async fn sync(&self, card: i64) -> usize {
        self.transition(card, None).await
    }

    async fn confirmations(&self, card: i64) -> Confirmations {
        propagation::confirmations(self.pool(), card).await.unwrap()
    }

    /// Waits until `ok` holds for the card's confirmations.
    async fn wait(
        &self,
        card: i64,
        what: &str,
        ok: impl Fn(&Confirmations) -> bool,
    ) -> Confirmations {
        let start = Instant::now();
        loop {
            let c = self.confirmations(card).await;
            if ok(&c) {
                return c;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}: {c:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn all_confirmed(&self, card: i64, total: usize) -> Confirmations {
        self.wait(card, &format!("{total}/{total} confirmed"), |c| {
            c.total == total && c.confirmed == total
        })
        .await
    }

    /// Waits until `ok` holds for what the simulator shows.
    async fn until(&self, what: &str, ok: impl Fn(&Site) -> bool) {
        let start = Instant::now();
        while !ok(&self.site) {
            assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `ok` holds for what the database shows.
    async fn until_db<F, Fut>(&self, what: &str, ok: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !ok().await {
            assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn blacklisted(&self, pos: &str, card: u32) -> bool {
        self.site.pos(pos).unwrap().is_blacklisted(card)
    }
}

/// The commands `card_sync` points at for a card, by terminal.
async fn commands_of(pool: &PgPool, card: i64) -> Vec<(i64, TerminalCommand)> {
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT terminal_id, command_id FROM card_sync WHERE card_id = $1 ORDER BY terminal_id",
    )
    .bind(card)
    .fetch_all(pool)
    .await
    .unwrap();
    let rows = command::by_id(pool, &ids.iter().map(|(_, c)| *c).collect::<Vec<_>>())
        .await
        .unwrap();
    ids.iter()
        .map(|(t, c)| {
            let row = rows.iter().find(|r| r.id == *c).unwrap();
            (*t, row.command.0.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_reaches_its_terminals_and_a_loss_blacklists_it_everywhere() {
    let rig = Rig::start().await;
    let pool = rig.pool().clone();
    let card_no: u32 = 9_100_001;
    let card = rig
        .card(
            "S2026001",
            "李雷",
            i64::from(card_no),
            &["door", "pos", "attendance"],
        )
        .await;
    rig.grant(card, DOOR_A, 1).await;
    rig.grant(card, DOOR_A, 3).await;
    rig.grant(card, DOOR_B, 2).await;
    rig.grant(card, CLOCK, 0).await;
    // A POS grant asks nothing of the POS: POS terminals refuse only what is blacklisted.
    rig.grant(card, POS[0], 0).await;

    // Issue: both controllers and the attendance machine; no POS (the card is not blacklisted).
    assert_eq!(rig.sync(card).await, 3);
    let c = rig.confirmations(card).await;
    assert_eq!((c.confirmed, c.total, c.pending.len()), (0, 3, 3), "{c:?}");
    assert!(c
        .pending
        .iter()
        .all(|p| p.stance == "accept" && p.command_state == "queued"));
    let cmds = commands_of(&pool, card).await;
    assert!(cmds.iter().any(|(_, c)| matches!(c,
        TerminalCommand::PushCards { cards } if cards.len() == 1 && cards[0].doors == vec![1, 3]
            && cards[0].user_id.is_none())));
    assert!(cmds.iter().any(|(_, c)| matches!(c,
        TerminalCommand::PushCards { cards } if cards[0].user_id.as_deref() == Some("S2026001")
            && cards[0].name.as_deref() == Some("李雷") && cards[0].doors.is_empty())));
    // Nothing changed: nothing queued.
    assert_eq!(rig.sync(card).await, 0);

    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let sup = rig.supervisor();
    rig.all_confirmed(card, 3).await;

    // The simulated terminals hold it: doors 1 and 3 with the card's validity, door 2 on the
    // other controller, a user named after the person on the attendance machine.
    let today = Local::now().date_naive();
    let a = rig.site.controller(DOOR_A).unwrap().card(card_no).unwrap();
    assert_eq!(a.doors, [1, 0, 1, 0]);
    assert_eq!(a.from, Some(today - Days::days(30)));
    assert_eq!(a.to, Some(today + Days::days(365)));
    let b = rig.site.controller(DOOR_B).unwrap().card(card_no).unwrap();
    assert_eq!(b.doors, [0, 1, 0, 0]);
    assert!(rig
        .ctl(&format!("{DOOR_A} card {card_no}"))
        .contains("doors 1,3"));
    let user = rig
        .site
        .attendance_machine(CLOCK)
        .unwrap()
        .user("S2026001")
        .unwrap();
    assert_eq!((user.name.as_str(), user.card), ("李雷", card_no));
    assert!(rig
        .ctl(&format!("{CLOCK} user S2026001"))
        .contains(&format!("card {card_no}")));

    // Each finished command told the console which card's confirmations changed.
    let mut told = std::collections::BTreeSet::new();
    let start = Instant::now();
    while told.len() < 3 {
        assert!(start.elapsed() < PATIENCE, "finish notifications: {told:?}");
        let n = tokio::time::timeout(PATIENCE, listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        if let Some(ch) = Change::parse(n.payload()) {
            if ch.card.contains(&card) {
                told.extend(ch.command);
            }
        }
    }

    // A new door on one controller changes what that controller holds, and nothing else.
    rig.grant(card, DOOR_B, 4).await;
    assert_eq!(rig.sync(card).await, 1);
    rig.all_confirmed(card, 3).await;
    let b = rig.site.controller(DOOR_B).unwrap().card(card_no).unwrap();
    assert_eq!(b.doors, [0, 1, 0, 1]);

    // Report lost while one POS is off the bus: every POS is told, every controller and the
    // attendance machine forget the card. The silent POS's command fails and says so.
    rig.ctl(&format!("{} offline", POS[2]));
    assert_eq!(rig.transition(card, Some("lost")).await, 6);
    let c = rig
        .wait(card, "5/6 confirmed and the silent POS failed", |c| {
            c.total == 6
                && c.confirmed == 5
                && c.pending.len() == 1
                && c.pending[0].command_state == "failed"
        })
        .await;
    let p = &c.pending[0];
    assert_eq!(
        (p.terminal_id, p.terminal_name.as_str(), p.stance.as_str()),
        (rig.terminal(POS[2]), POS[2], "refuse")
    );
    assert!(p.result.as_deref().is_some_and(|r| !r.is_empty()), "{p:?}");
    for pos in &POS[..2] {
        assert!(rig.blacklisted(pos, card_no), "{pos}");
        assert!(rig
            .ctl(&format!("{pos} blacklisted {card_no}"))
            .contains(&format!("card {card_no} blacklisted")));
    }
    assert!(!rig.blacklisted(POS[2], card_no));
    assert!(rig.site.controller(DOOR_A).unwrap().card(card_no).is_none());
    assert!(rig.site.controller(DOOR_B).unwrap().card(card_no).is_none());
    let clock = rig.site.attendance_machine(CLOCK).unwrap();
    assert!(clock.user("S2026001").is_none());
    assert!(clock.users_with_card(card_no).is_empty());
    // The blacklisted card is refused at the till.
    let (refused, _) = control::handle(
        &rig.site.terminals,
        &format!("{} purchase {card_no} 5.00", POS[0]),
    );
    assert!(refused.contains("blacklisted"), "{refused}");
    // Syncing again changes nothing: the failure is for resend, not for a new sync.
    assert_eq!(rig.sync(card).await, 0);

    // Resend queues the failed POS again (a duty operator may not): still silent, it fails.
    let duty = Actor::operator(0, "duty", Role::DutyOperator);
    assert!(propagation::resend(&pool, &duty, card).await.is_err());
    let failed_before = p.clone();
    assert_eq!(
        propagation::resend(&pool, &rig.actor, card).await.unwrap(),
        1
    );
    rig.wait(card, "the resent list failing again", |c| {
        c.pending.len() == 1
            && c.pending[0].command_state == "failed"
            && c.pending[0].failure == Some(CommandFailure::NoAnswer)
    })
    .await;
    assert_eq!(failed_before.failure, Some(CommandFailure::NoAnswer));
    // Back on the bus once the poller has found it silent: it gets the list by itself.
    let pos3 = rig.terminal(POS[2]);
    rig.until_db("the silent POS declared offline", || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM terminal WHERE id = $1")
                .bind(pos3)
                .fetch_one(&pool)
                .await
                .unwrap()
                == "offline"
        }
    })
    .await;
    rig.ctl(&format!("{} online", POS[2]));
    rig.all_confirmed(card, 6).await;
    assert!(rig.blacklisted(POS[2], card_no));
    assert_eq!(
        propagation::resend(&pool, &rig.actor, card).await.unwrap(),
        0
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'card.resend' AND object_id = $1",
    )
    .bind(card.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // Report found: off every blacklist, back on the controllers and the attendance machine.
    assert_eq!(rig.transition(card, Some("active")).await, 6);
    rig.all_confirmed(card, 6).await;
    for pos in POS {
        assert!(!rig.blacklisted(pos, card_no), "{pos}");
    }
    assert_eq!(
        rig.site
            .controller(DOOR_B)
            .unwrap()
            .card(card_no)
            .unwrap()
            .doors,
        [0, 1, 0, 1]
    );
    assert!(rig.site.controller(DOOR_A).unwrap().card(card_no).is_some());
    assert_eq!(clock.user("S2026001").unwrap().card, card_no);
    assert_eq!(rig.sync(card).await, 0);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_newer_blacklist_settles_the_cards_an_older_one_failed() {
    let rig = Rig::start().await;
    let sup = rig.supervisor();
    let numbers: [u32; 3] = [9_200_001, 9_200_002, 9_200_003];
    let mut cards = Vec::new();
    for (i, n) in numbers.iter().enumerate() {
        let card = rig
            .card(
                &format!("T{i}"),
                &format!("持卡人{i}"),
                i64::from(*n),
                &["pos"],
            )
            .await;
        // Issued: nothing to tell anyone.
        assert_eq!(rig.sync(card).await, 0);
        cards.push(card);
    }
    rig.ctl(&format!("{} offline", POS[2]));
    let failed_at_pos3 = |c: &Confirmations| {
        c.total == 3
            && c.confirmed == 2
            && c.pending.len() == 1
            && c.pending[0].terminal_name == POS[2]
            && c.pending[0].command_state == "failed"
    };
    assert_eq!(rig.transition(cards[0], Some("lost")).await, 3);
    rig.wait(cards[0], "the first loss failing at POS 3", failed_at_pos3)
        .await;
    assert_eq!(rig.transition(cards[1], Some("cancelled")).await, 3);
    rig.wait(cards[1], "the second loss failing at POS 3", failed_at_pos3)
        .await;
    // The second list holds both cards: the first card's POS 3 row now waits on it.
    let pos3 = rig.terminal(POS[2]);
    let at_pos3 = |card: i64| {
        let pool = rig.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT command_id FROM card_sync WHERE card_id = $1 AND terminal_id = $2",
            )
            .bind(card)
            .bind(pos3)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let waiting = at_pos3(cards[1]).await;
    assert_eq!(at_pos3(cards[0]).await, waiting);
    let row = command::by_id(rig.pool(), &[waiting]).await.unwrap();
    assert_eq!(
        row[0].command.0,
        TerminalCommand::PushBlacklist {
            cards: vec![numbers[0], numbers[1]]
        }
    );
    // What the first card's other POS confirmed stays confirmed.
    let c = rig.confirmations(cards[0]).await;
    assert_eq!((c.confirmed, c.total), (2, 3), "{c:?}");

    // POS 3 is back; the third card's loss pushes the whole list, which settles all three.
    rig.ctl(&format!("{} online", POS[2]));
    assert_eq!(rig.transition(cards[2], Some("lost")).await, 3);
    for &card in &cards {
        rig.all_confirmed(card, 3).await;
    }
    for pos in POS {
        for n in numbers {
            assert!(rig.blacklisted(pos, n), "{pos} {n}");
        }
        let state = rig.site.pos(pos).unwrap().blacklist_state();
        assert_eq!(state.count, 3, "{pos}");
    }
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_grant_leaves_only_that_terminal_and_a_card_laid_on_the_desk_is_announced() {
    let rig = Rig::start().await;
    let sup = rig.supervisor();
    let card_no: u32 = 9_300_001;
    let card = rig
        .card(
            "E1001",
            "韩梅梅",
            i64::from(card_no),
            &["door", "attendance"],
        )
        .await;
    rig.grant(card, DOOR_A, 2).await;
    rig.grant(card, CLOCK, 0).await;
    assert_eq!(rig.sync(card).await, 2);
    rig.all_confirmed(card, 2).await;
    rig.until("the card on the controller and the machine", |s| {
        s.controller(DOOR_A).unwrap().card(card_no).is_some()
            && s.attendance_machine(CLOCK).unwrap().user("E1001").is_some()
    })
    .await;

    // The attendance grant is withdrawn: only the machine is told.
    sqlx::query("DELETE FROM card_grant WHERE card_id = $1 AND terminal_id = $2")
        .bind(card)
        .bind(rig.terminal(CLOCK))
        .execute(rig.pool())
        .await
        .unwrap();
    assert_eq!(rig.sync(card).await, 1);
    let c = rig.all_confirmed(card, 2).await;
    assert!(c.pending.is_empty());
    assert!(rig
        .site
        .attendance_machine(CLOCK)
        .unwrap()
        .user("E1001")
        .is_none());
    assert!(rig.site.controller(DOOR_A).unwrap().card(card_no).is_some());
    let cmds = commands_of(rig.pool(), card).await;
    assert!(cmds.contains(&(
        rig.terminal(CLOCK),
        TerminalCommand::RevokeCards {
            cards: vec![command::CardRevoke {
                card: card_no,
                user_id: Some("E1001".into())
            }]
        }
    )));

    // The card desk lays a new card on its reader: the poller announces it, new.
    let mut listener = sqlx::postgres::PgListener::connect_with(rig.pool())
        .await
        .unwrap();
    listener.listen(CARD_CHANNEL).await.unwrap();
    let p = rig.site.desk_present(9_400_001).unwrap();
    assert!(p.new_card);
    let n = tokio::time::timeout(PATIENCE, listener.recv())
        .await
        .expect("the desk reader's card")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(n.payload()).unwrap();
    assert_eq!(
        (v["card"].as_u64(), v["new"].as_bool()),
        (Some(9_400_001), Some(true))
    );
    rig.site.desk_mark_known(9_400_001).unwrap();
    assert!(!rig.site.desk_present(9_400_001).unwrap().new_card);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_controller_gets_its_card_changes_when_it_answers_again() {
    let rig = Rig::start().await;
    let pool = rig.pool().clone();
    let card_no: u32 = 9_600_001;
    let card = rig
        .card("S3001", "赵敏", i64::from(card_no), &["door"])
        .await;
    rig.grant(card, DOOR_A, 1).await;
    rig.ctl(&format!("{DOOR_A} offline"));
    let sup = rig.supervisor();
    assert_eq!(rig.sync(card).await, 1);
    let c = rig
        .wait(card, "the push to the silent controller failing", |c| {
            c.pending.len() == 1 && c.pending[0].command_state == "failed"
        })
        .await;
    assert_eq!(c.pending[0].failure, Some(CommandFailure::NoAnswer));

    // The list of changes some terminal lacks names it: card, holder, stance, state, why.
    let list = propagation::unconfirmed(&pool, None).await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let u = &list[0];
    assert_eq!(
        (
            u.terminal_id,
            u.terminal_name.as_str(),
            u.card_id,
            u.card_no,
            u.person_name.as_str(),
            u.stance.as_str(),
            u.command_state.as_str(),
            u.failure.clone(),
        ),
        (
            rig.terminal(DOOR_A),
            DOOR_A,
            card,
            i64::from(card_no),
            "赵敏",
            "accept",
            "failed",
            Some(CommandFailure::NoAnswer),
        )
    );
    assert!(propagation::unconfirmed(&pool, Some(rig.terminal(DOOR_B)))
        .await
        .unwrap()
        .is_empty());

    // It answers again: the change goes out by itself, nobody presses resend.
    rig.ctl(&format!("{DOOR_A} online"));
    rig.all_confirmed(card, 1).await;
    assert!(rig
        .ctl(&format!("{DOOR_A} card {card_no}"))
        .contains("doors 1"));
    assert!(propagation::unconfirmed(&pool, None)
        .await
        .unwrap()
        .is_empty());
    let resyncs = |terminal: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_log WHERE action = 'terminal.resync' AND object_id = $1",
            )
            .bind(terminal.to_string())
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(resyncs(rig.terminal(DOOR_A)).await, 1);

    // A change that failed before `serve` (re)started goes out at its first good poll too.
    let other: u32 = 9_600_002;
    let second = rig
        .card("S3002", "周芷若", i64::from(other), &["door"])
        .await;
    rig.grant(second, DOOR_B, 2).await;
    rig.ctl(&format!("{DOOR_B} offline"));
    assert_eq!(rig.sync(second).await, 1);
    rig.wait(second, "the push to the second controller failing", |c| {
        c.pending.len() == 1 && c.pending[0].command_state == "failed"
    })
    .await;
    sup.stop().await;
    rig.ctl(&format!("{DOOR_B} online"));
    let sup = rig.supervisor();
    rig.all_confirmed(second, 1).await;
    assert!(rig
        .ctl(&format!("{DOOR_B} card {other}"))
        .contains("doors 2"));
    assert_eq!(resyncs(rig.terminal(DOOR_B)).await, 1);
    sup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_download_makes_each_terminal_hold_what_the_database_says() {
    let rig = Rig::start().await;
    let pool = rig.pool().clone();
    let sup = rig.supervisor();
    let root = Actor::shell("root");
    let download = |sim_id: &str| {
        let pool = pool.clone();
        let root = root.clone();
        let terminal = rig.terminal(sim_id);
        async move {
            let id = command::enqueue(&pool, &root, terminal, &TerminalCommand::DownloadCards)
                .await
                .unwrap();
            let row = crate::poller::finished(&pool, id).await;
            assert!(row.progress.is_none_or(|p| p.done == p.total), "{row:?}");
            row.outcome.expect("an outcome")
        }
    };
    // A: issued and told everywhere.
    let a = rig
        .card("D1", "甲", 9_700_001, &["door", "attendance"])
        .await;
    rig.grant(a, DOOR_A, 1).await;
    rig.grant(a, DOOR_A, 3).await;
    rig.grant(a, CLOCK, 0).await;
    assert_eq!(rig.sync(a).await, 2);
    rig.all_confirmed(a, 2).await;
    // C: told the controller, but its command's outcome is lost (failed, as far as we know).
    let c = rig.card("D3", "丙", 9_700_003, &["door"]).await;
    rig.grant(c, DOOR_A, 4).await;
    assert_eq!(rig.sync(c).await, 1);
    rig.all_confirmed(c, 1).await;
    sqlx::query(
        "UPDATE terminal_command SET state = 'failed'
         WHERE id = (SELECT command_id FROM card_sync WHERE card_id = $1)",
    )
    .bind(c)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(rig.confirmations(c).await.confirmed, 0);
    // B: granted in the database, never told anyone.
    let b = rig
        .card("D2", "乙", 9_700_002, &["door", "attendance"])
        .await;
    rig.grant(b, DOOR_A, 2).await;
    rig.grant(b, CLOCK, 0).await;
    let controller = rig.site.controller(DOOR_A).unwrap();
    let strays = controller
        .cards()
        .iter()
        .filter(|k| ![9_700_001, 9_700_003].contains(&k.number))
        .count();
    assert!(
        strays > 0,
        "the simulator's own cards are strays to onecard"
    );

    assert_eq!(
        download(DOOR_A).await,
        Ok(CommandOutcome::CardsDownloaded {
            written: 1,
            unchanged: 2,
            removed: u32::try_from(strays).unwrap(),
        })
    );
    let mut held: Vec<(u32, [u8; 4])> = controller
        .cards()
        .iter()
        .map(|k| (k.number, k.doors))
        .collect();
    held.sort();
    assert_eq!(
        held,
        vec![
            (9_700_001, [1, 0, 1, 0]),
            (9_700_002, [0, 1, 0, 0]),
            (9_700_003, [0, 0, 0, 1])
        ]
    );
    // C's change asked exactly what the download wrote: settled by it.
    rig.all_confirmed(c, 1).await;

    // The attendance machine: B's user written, A's kept, the machine's own card users gone.
    let clock = rig.site.attendance_machine(CLOCK).unwrap();
    let card_users = clock.users().iter().filter(|u| u.card != 0).count();
    let outcome = download(CLOCK).await;
    assert_eq!(
        outcome,
        Ok(CommandOutcome::CardsDownloaded {
            written: 1,
            unchanged: 1,
            removed: u32::try_from(card_users - 1).unwrap(),
        })
    );
    let mut users: Vec<(String, u32)> = clock
        .users()
        .into_iter()
        .filter(|u| u.card != 0)
        .map(|u| (u.user_id, u.card))
        .collect();
    users.sort();
    assert_eq!(
        users,
        vec![("D1".into(), 9_700_001), ("D2".into(), 9_700_002)]
    );
    assert_eq!(clock.user("D2").unwrap().name, "乙");

    // A POS takes the whole blacklist, a card lost without anyone telling it included.
    let lost = rig.card("D4", "丁", 9_700_004, &["pos"]).await;
    sqlx::query("UPDATE card SET state = 'lost', lost_at = now() WHERE id = $1")
        .bind(lost)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        download(POS[1]).await,
        Ok(CommandOutcome::CardsDownloaded {
            written: 1,
            unchanged: 0,
            removed: 0
        })
    );
    assert!(rig.blacklisted(POS[1], 9_700_004));
    assert!(!rig.blacklisted(POS[0], 9_700_004));

    // The desk reader holds no cards the database decides.
    let desk = rig
        .reg
        .iter()
        .find(|r| r.kind == onecard::sim::TerminalKind::DeskReader)
        .unwrap()
        .sim_id
        .clone();
    assert_eq!(
        download(&desk).await,
        Err(CommandFailure::Unsupported {
            what: Feature::Download
        })
    );
    sup.stop().await;
}
