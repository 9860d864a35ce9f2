//! Real `serve` processes killed with SIGKILL mid-batch, mid-exchange and mid-posting: no
//! record lost or doubled, no alarm raised twice, and the money exact to the fen.

use crate::poller::{drained, eventually, lock_holders, quiet_demo, scalar, start, stored, total};
use crate::support::{test_db, verify_ledger, TestDb};
use onecard::db::ledger;
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use onecard::sim::register::register_site;
use onecard::sim::runner::Site;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// What each cardholder starts with: little, so offline purchases overdraw some accounts.
const OPENING: &str = "30.00";

/// The site's cards as cardholders with an opening balance, its POS owned by a merchant.
struct Books {
    merchant_account: i64,
    cards: Vec<u32>,
}

impl Books {
    async fn open(pool: &PgPool) -> Books {
        let cards: Vec<u32> = (8_165_500..8_165_700).collect();
        sqlx::query("INSERT INTO department (code, name) VALUES ('crash', 'crash')")
            .execute(pool)
            .await
            .unwrap();
        let persons: Vec<i64> = sqlx::query_scalar(
            "WITH p AS (
                 INSERT INTO person (person_no, name, department_id, category)
                 SELECT 'C' || n, '持卡人' || n, (SELECT id FROM department WHERE code = 'crash'), 'staff'
                 FROM unnest($1::bigint[]) AS n RETURNING id, person_no
             )
             INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                               query_pin_hash, payment_pin_hash)
             SELECT substr(person_no, 2)::bigint, id, 'staff', current_date - 1, current_date + 365,
                    'test', '-', '-'
             FROM p RETURNING person_id",
        )
        .bind(cards.iter().map(|&c| i64::from(c)).collect::<Vec<_>>())
        .fetch_all(pool)
        .await
        .unwrap();
        let root = Actor::shell("root");
        for p in persons {
            ledger::top_up(pool, &root, p, OPENING.parse().unwrap(), "")
                .await
                .unwrap();
        }
        let merchant: i64 = sqlx::query_scalar(
            "INSERT INTO merchant (name, state, approved_at, approved_by)
             VALUES ('第一食堂', 'approved', now(), 'test') RETURNING id",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let merchant_account = sqlx::query_scalar(
            "INSERT INTO account (kind, merchant_id, name) VALUES ('merchant', $1, '第一食堂')
             RETURNING id",
        )
        .bind(merchant)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query("UPDATE terminal SET merchant_id = $1 WHERE kind = 'pos'")
            .bind(merchant)
            .execute(pool)
            .await
            .unwrap();
        Books {
            merchant_account,
            cards,
        }
    }

    /// A purchase keyed on a random POS with a random card, sent for authorisation (a POS
    /// still waiting for its last answer refuses it, and that is all).
    fn ask(&self, site: &Site, rng: &mut StdRng) {
        let pos = &site.pos_terminals()[rng.gen_range(0..site.pos_terminals().len())];
        let card = self.cards[rng.gen_range(0..self.cards.len())];
        let _ = pos.ask(card, rng.gen_range(100..=1_500), None);
    }

    /// After the kills and the drain: every POS's own totals, the records stored, the
    /// purchases posted and the merchant's takings agree to the fen; each cardholder's balance
    /// is the opening less what their cards bought; the books verify.
    async fn check(&self, pool: &PgPool, site: &Site) {
        // Every purchase asked was answered (the last process read what the dead left).
        eventually(
            Duration::from_secs(30),
            "every authorisation answered",
            || async { site.pos_terminals().iter().all(|p| p.pending().is_none()) },
        )
        .await;
        let today = onecard::domain::time::today();
        let (mut sold_n, mut sold_fen) = (0i64, 0i64);
        for p in site.pos_terminals() {
            for d in [
                today - chrono::Duration::days(1),
                today,
                today + chrono::Duration::days(1),
            ] {
                let (n, fen) = p.totals(d);
                sold_n += i64::from(n);
                sold_fen += fen;
            }
        }
        // The last answers' records are uploaded at the next polls.
        eventually(Duration::from_secs(30), "every sale stored", || async {
            scalar(pool, "SELECT count(*) FROM pos_purchase").await == sold_n
        })
        .await;
        let (stored_n, stored): (i64, Money) =
            sqlx::query_as("SELECT count(*), coalesce(sum(amount), 0) FROM pos_purchase")
                .fetch_one(pool)
                .await
                .unwrap();
        let (posted_n, posted): (i64, Money) = sqlx::query_as(
            "SELECT count(*), coalesce(sum(amount), 0) FROM ledger_entry WHERE txn_no IS NOT NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let takings: Money = sqlx::query_scalar(
            "SELECT coalesce(-sum(amount), 0) FROM ledger_entry WHERE account_id = $1",
        )
        .bind(self.merchant_account)
        .fetch_one(pool)
        .await
        .unwrap();
        println!(
            "crash test books: {sold_n} sales of {} on the POS, {stored_n} stored ({stored}), \
             {posted_n} posted ({posted}), takings {takings}",
            Money::from_fen(sold_fen)
        );
        let online = scalar(pool, "SELECT count(*) FROM pos_purchase WHERE online").await;
        let overdrawn = scalar(
            pool,
            "SELECT count(*) FROM account WHERE kind = 'cardholder' AND balance < 0",
        )
        .await;
        println!("crash test books: {online} sold online, {overdrawn} accounts overdrawn offline");
        assert!(sold_n > 0, "the POS sold nothing");
        assert!(online > 0, "no purchase was authorised online");
        assert_eq!((stored_n, stored), (sold_n, Money::from_fen(sold_fen)));
        assert_eq!((posted_n, posted), (stored_n, stored));
        assert_eq!(takings, stored);
        // The books as the entries say, with batches the killed serve did not fold; then as a
        // serve that starts again folds them.
        verify_ledger(pool).await;
        onecard::db::pos::fold_all(pool).await.unwrap();
        // Each holder: the opening less their cards' purchases, to the fen.
        let wrong: Vec<(i64, Money, Money)> = sqlx::query_as(
            "SELECT a.person_id, a.balance,
                    $1::numeric - coalesce((SELECT sum(p.amount) FROM pos_purchase p
                                            JOIN card c ON c.card_no = p.card
                                            WHERE c.person_id = a.person_id), 0)
             FROM account a WHERE a.kind = 'cardholder'
               AND a.balance <> $1::numeric - coalesce((SELECT sum(p.amount) FROM pos_purchase p
                                                       JOIN card c ON c.card_no = p.card
                                                       WHERE c.person_id = a.person_id), 0)",
        )
        .bind(OPENING.parse::<Money>().unwrap())
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(wrong, vec![], "(person, balance, expected)");
        verify_ledger(pool).await;
    }
}

/// Backends holding a line lock.
async fn lock_pids(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int4::oid
           AND objsubid = 2 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(onecard::poller::LOCK_CLASS)
    .fetch_all(pool)
    .await
    .unwrap()
}

struct Serve {
    child: std::process::Child,
}

impl Serve {
    fn start(db: &TestDb, dirs: &std::path::Path, n: usize) -> Serve {
        Serve::start_with(db, dirs, n, 200)
    }

    fn start_with(db: &TestDb, dirs: &std::path::Path, n: usize, recheck_ms: u64) -> Serve {
        let recheck = recheck_ms.to_string();
        let worker = format!("crash-{n}");
        let child = crate::support::spawn_serve(
            db.child_url(),
            dirs,
            &["--worker", &worker, "--recheck-ms", &recheck],
        );
        Serve { child }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_pollers_lose_and_double_nothing() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let site = start(&quiet_demo()).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let books = Books::open(&db.pool).await;
    let t0 = Instant::now();
    let traffic = site.run_traffic(400.0, 5, 3.0);
    let mut rng = StdRng::seed_from_u64(11);
    let kills = 24;
    for n in 0..kills {
        let mut p = Serve::start(&db, dirs.path(), n);
        // A purchase asked online now and then, across the kills.
        books.ask(&site, &mut rng);
        let ms = rng.gen_range(150..900);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        // SIGKILL: no goodbye, mid-batch or mid-exchange.
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
    traffic.abort();
    let generated = total(&site.tally());
    let before_drain = total(&stored(&db.pool, &reg).await);
    // A clean run drains the rest, then stops on SIGTERM.
    let mut last = Serve::start(&db, dirs.path(), kills);
    drained(&db.pool, &site, &reg, Duration::from_secs(40)).await;
    let lines = {
        let mut l: Vec<i64> = reg.iter().map(|r| r.line_id).collect();
        l.sort_unstable();
        l.dedup();
        l.len()
    };
    eventually(
        Duration::from_secs(20),
        "the last process owning every line",
        || async { lock_holders(&db.pool).await.len() == lines },
    )
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(last.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = last.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    println!(
        "crash test: {kills} kills, {generated} records generated, {before_drain} stored before the final run, {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(before_drain > 0, "the killed pollers stored nothing");
    // A standby process takes the lines of a killed owner.
    let owner = Serve::start(&db, dirs.path(), 100);
    eventually(
        Duration::from_secs(20),
        "one process owning every line",
        || async { lock_holders(&db.pool).await.len() == lines },
    )
    .await;
    let standby = Serve::start_with(&db, dirs.path(), 101, 2000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_pids = lock_pids(&db.pool).await;
    let t1 = Instant::now();
    drop(owner); // SIGKILL
    eventually(
        Duration::from_secs(10),
        "the standby owning every line",
        || async {
            let now = lock_pids(&db.pool).await;
            now.len() == lines && now.iter().all(|p| !old_pids.contains(p))
        },
    )
    .await;
    println!(
        "takeover after SIGKILL (standby re-checking every 2 s): {:.2} s",
        t1.elapsed().as_secs_f64()
    );
    // Nothing the dead owners left running stays so: their successors settle it (the
    // standby's own commands, such as a POS's tables sent again, may still be running).
    eventually(
        Duration::from_secs(30),
        "the dead owners' commands settled",
        || async {
            scalar(
                &db.pool,
                "SELECT count(*) FROM terminal_command
                 WHERE state = 'running' AND claimed_by IS DISTINCT FROM 'crash-101'",
            )
            .await
                == 0
        },
    )
    .await;
    drop(standby);
    // Re-reads after a crash raised no second alarm.
    let events = scalar(
        &db.pool,
        "SELECT count(*) FROM door_event WHERE kind IN ('forced_open', 'held_open', 'tamper')",
    )
    .await;
    let alarms = scalar(
        &db.pool,
        "SELECT count(*) FROM alarm WHERE kind IN ('forced_open', 'held_open', 'tamper')",
    )
    .await;
    assert_eq!(events, alarms);
    books.check(&db.pool, &site).await;
}
