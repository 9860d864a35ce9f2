//! Online authorisation at the POS, against a real PostgreSQL: every reason to decline, the
//! payment PIN above the limit, the daily count, a retried request answered the same and
//! posted once, and two purchases racing on one card.

use crate::support::{test_db, TestDb};
use chrono::{Duration, NaiveDate};
use onecard::db::card::{self, IssueRequest, Issued, PaidFrom};
use onecard::db::ledger;
use onecard::db::pos::{self, AuthAnswer, AuthRequest, Decline};
use onecard::db::terminal;
use onecard::domain::card::{CardKind, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use sqlx::PgPool;

pub(crate) fn yuan(s: &str) -> Money {
    s.parse().unwrap()
}

fn today() -> NaiveDate {
    onecard::domain::time::today()
}

pub(crate) struct Shop {
    pub(crate) db: TestDb,
    /// A POS of an approved merchant, and one of nobody's.
    pub(crate) pos: i64,
    pub(crate) stray: i64,
    pub(crate) merchant_account: i64,
}

impl Shop {
    pub(crate) fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// A staff card (limit ¥50.00 a purchase, 20 a day) holding `balance`.
    pub(crate) async fn card(&self, card_no: i64, balance: &str) -> Issued {
        let pool = self.pool();
        let shell = Actor::shell("root");
        sqlx::query(
            "INSERT INTO department (code, name) VALUES ('hq', '后勤处') ON CONFLICT DO NOTHING",
        )
        .execute(pool)
        .await
        .unwrap();
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO person (person_no, name, department_id, category)
             VALUES ($1, $2, (SELECT id FROM department WHERE code = 'hq'), 'staff') RETURNING id",
        )
        .bind(format!("P{card_no}"))
        .bind(format!("持卡人{card_no}"))
        .fetch_one(pool)
        .await
        .unwrap();
        let issued = card::issue(
            pool,
            &shell,
            &IssueRequest {
                card_no,
                person_id: person,
                kind: CardKind::Staff,
                subsystems: vec![Subsystem::Pos],
                door_groups: vec![],
                terminals: vec![self.pos],
                valid_from: today(),
                valid_until: today() + Duration::days(365),
                paid_from: PaidFrom::Cash,
            },
        )
        .await
        .unwrap();
        let b = yuan(balance);
        if b.is_positive() {
            ledger::top_up(pool, &shell, person, b, "").await.unwrap();
        }
        issued
    }

    pub(crate) async fn buy(
        &self,
        txn_no: i64,
        card: i64,
        amount: &str,
        pin: Option<&str>,
    ) -> AuthAnswer {
        self.buy_at(self.pos, txn_no, card, amount, pin).await
    }

    async fn buy_at(
        &self,
        terminal_id: i64,
        txn_no: i64,
        card: i64,
        amount: &str,
        pin: Option<&str>,
    ) -> AuthAnswer {
        pos::authorise(
            self.pool(),
            &AuthRequest {
                terminal_id,
                txn_no,
                card,
                amount: yuan(amount),
                pin: pin.map(str::to_string),
            },
        )
        .await
        .unwrap()
    }

    pub(crate) async fn purchases(&self) -> (i64, Money) {
        sqlx::query_as(
            "SELECT coalesce(sum(m.purchase_count), 0)::bigint, coalesce(-sum(e.amount), 0) FROM ledger_movement m
             JOIN ledger_entry e ON e.movement_id = m.id AND e.account_id = $1
             WHERE m.kind = 'purchase'",
        )
        .bind(self.merchant_account)
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    pub(crate) async fn assert_books_balance(&self) {
        assert_eq!(
            ledger::trial_balance(self.pool()).await.unwrap(),
            Money::ZERO
        );
        assert_eq!(ledger::mismatches(self.pool()).await.unwrap(), vec![]);
        crate::support::verify_ledger(self.pool()).await;
    }
}

pub(crate) async fn shop() -> Shop {
    let db = test_db().await;
    let pool = &db.pool;
    let ids = canteen_bus(pool, &[(1, "一食堂 POS 1"), (2, "小卖部 POS")]).await;
    let merchant: i64 = sqlx::query_scalar(
        "INSERT INTO merchant (name, state, approved_at, approved_by)
         VALUES ('第一食堂', 'approved', now(), 'root') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let merchant_account: i64 = sqlx::query_scalar(
        "INSERT INTO account (kind, merchant_id, name) VALUES ('merchant', $1, '第一食堂') RETURNING id",
    )
    .bind(merchant)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE terminal SET merchant_id = $1 WHERE id = $2")
        .bind(merchant)
        .bind(ids[0])
        .execute(pool)
        .await
        .unwrap();
    Shop {
        db,
        pos: ids[0],
        stray: ids[1],
        merchant_account,
    }
}

fn approved(balance: &str) -> impl Fn(&AuthAnswer) -> bool + '_ {
    move |a| a.declined.is_none() && a.balance == yuan(balance) && a.movement_id.is_some()
}

fn declined(a: &AuthAnswer) -> Option<Decline> {
    assert!(a.movement_id.is_none() || a.declined.is_none(), "{a:?}");
    a.declined
}

#[tokio::test]
async fn a_purchase_is_approved_posted_and_answered_with_the_hosts_balance() {
    let s = shop().await;
    let c = s.card(8_100_001, "100.00").await;
    let a = s.buy(1, c.card_no, "12.50", None).await;
    assert!(approved("87.50")(&a), "{a:?}");
    assert_eq!(
        ledger::balance(s.pool(), person_of(s.pool(), c.card_id).await)
            .await
            .unwrap(),
        yuan("87.50")
    );
    assert_eq!(s.purchases().await, (1, yuan("12.50")));
    // The POS did not hear the answer and asks again: the same answer, nothing posted twice.
    let again = s.buy(1, c.card_no, "12.50", None).await;
    assert_eq!(again, a);
    assert_eq!(s.purchases().await, (1, yuan("12.50")));
    // No audit row for a terminal's posting: it is traced to the terminal and transaction.
    let traced: (i64, i64, String) = sqlx::query_as(
        "SELECT e.terminal_id, e.txn_no, m.actor FROM ledger_movement m
             JOIN ledger_entry e ON e.movement_id = m.id AND e.txn_no IS NOT NULL WHERE m.id = $1",
    )
    .bind(a.movement_id.unwrap())
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!((traced.0, traced.1), (s.pos, 1));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'ledger.purchase%'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(audited, 0);
    s.assert_books_balance().await;
}

async fn person_of(pool: &PgPool, card_id: i64) -> i64 {
    sqlx::query_scalar("SELECT person_id FROM card WHERE id = $1")
        .bind(card_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn above_the_limit_the_payment_pin_is_asked_and_checked() {
    let s = shop().await;
    let c = s.card(8_100_002, "200.00").await;
    // ¥45 under the staff limit of ¥50: no PIN needed. ¥60 over it: the PIN.
    assert!(approved("155.00")(
        &s.buy(1, c.card_no, "45.00", None).await
    ));
    let no_pin = s.buy(2, c.card_no, "60.00", None).await;
    assert_eq!(declined(&no_pin), Some(Decline::OverLimitNoPin));
    assert_eq!(no_pin.balance, yuan("155.00"), "the balance as it stands");
    let wrong = if c.payment_pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    let bad = s.buy(3, c.card_no, "60.00", Some(wrong)).await;
    assert_eq!(declined(&bad), Some(Decline::WrongPin));
    let good = s.buy(4, c.card_no, "60.00", Some(&c.payment_pin)).await;
    assert!(approved("95.00")(&good), "{good:?}");
    assert_eq!(s.purchases().await, (2, yuan("105.00")));
    s.assert_books_balance().await;
}

#[tokio::test]
async fn every_reason_to_decline_is_answered_and_posts_nothing() {
    let s = shop().await;
    let rich = s.card(8_100_003, "30.00").await;
    // Too little money.
    let a = s.buy(1, rich.card_no, "30.01", None).await;
    assert_eq!(
        (declined(&a), a.balance),
        (Some(Decline::InsufficientBalance), yuan("30.00"))
    );
    // A card nobody issued.
    assert_eq!(
        declined(&s.buy(2, 4_242_424, "1.00", None).await),
        Some(Decline::UnknownCard)
    );
    // A terminal of no approved merchant sells nothing.
    assert_eq!(
        declined(&s.buy_at(s.stray, 1, rich.card_no, "1.00", None).await),
        Some(Decline::NoMerchant)
    );
    // Lost: on the blacklist.
    let lost = s.card(8_100_004, "50.00").await;
    card::report_lost(s.pool(), &Actor::shell("root"), lost.card_id)
        .await
        .unwrap();
    assert_eq!(
        declined(&s.buy(3, lost.card_no, "1.00", None).await),
        Some(Decline::Blacklisted)
    );
    // Out of its validity.
    let old = s.card(8_100_005, "50.00").await;
    sqlx::query("UPDATE card SET valid_from = $2, valid_until = $3 WHERE id = $1")
        .bind(old.card_id)
        .bind(today() - Duration::days(30))
        .bind(today() - Duration::days(1))
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(
        declined(&s.buy(4, old.card_no, "1.00", None).await),
        Some(Decline::CardNotValid)
    );
    // A card that may not pay.
    let doors_only = s.card(8_100_006, "50.00").await;
    sqlx::query("UPDATE card SET subsystems = '{door}' WHERE id = $1")
        .bind(doors_only.card_id)
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(
        declined(&s.buy(5, doors_only.card_no, "1.00", None).await),
        Some(Decline::NotForPos)
    );
    assert_eq!(s.purchases().await, (0, Money::ZERO));
    // Each answer is kept, and a retry gets it again.
    assert_eq!(
        declined(&s.buy(1, rich.card_no, "30.01", None).await),
        Some(Decline::InsufficientBalance)
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM pos_authorisation")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(kept, 6);
    s.assert_books_balance().await;
}

#[tokio::test]
async fn the_daily_count_limit_declines_the_purchase_past_it() {
    let s = shop().await;
    let c = s.card(8_100_007, "100.00").await;
    card::set_limits(s.pool(), &Actor::shell("root"), c.card_id, None, Some(2))
        .await
        .unwrap();
    assert!(s.buy(1, c.card_no, "1.00", None).await.declined.is_none());
    assert!(s.buy(2, c.card_no, "1.00", None).await.declined.is_none());
    assert_eq!(
        declined(&s.buy(3, c.card_no, "1.00", None).await),
        Some(Decline::DailyCount)
    );
    assert_eq!(s.purchases().await, (2, yuan("2.00")));
    s.assert_books_balance().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_post_once_and_never_overdraw() {
    let s = shop().await;
    let c = s.card(8_100_008, "10.00").await;
    // The same transaction asked four times at once: one posting, one answer.
    let same = futures::future::join_all((0..4).map(|_| s.buy(7, c.card_no, "4.00", None))).await;
    assert!(same.iter().all(|a| *a == same[0]), "{same:?}");
    assert!(approved("6.00")(&same[0]));
    // Three different purchases of ¥4.00 on ¥6.00 left: exactly one more fits.
    let three =
        futures::future::join_all((10..13).map(|t| s.buy(t, c.card_no, "4.00", None))).await;
    let ok = three.iter().filter(|a| a.declined.is_none()).count();
    assert_eq!(ok, 1, "{three:?}");
    assert!(three
        .iter()
        .filter(|a| a.declined.is_some())
        .all(|a| a.declined == Some(Decline::InsufficientBalance) && a.balance == yuan("2.00")));
    assert_eq!(s.purchases().await, (2, yuan("8.00")));
    s.assert_books_balance().await;
}

/// A simulated POS on a TCP line of `serve`, belonging to the shop's merchant. It waits for
/// the host's answers for ever: a slow machine must not send these tests offline.
pub(crate) async fn pos_on_a_line(s: &Shop) -> (std::sync::Arc<onecard::sim::native::Pos>, i64) {
    pos_on_a_line_holding(s, 1_000).await
}

/// [`pos_on_a_line`] whose upload memory holds `capacity` records.
pub(crate) async fn pos_on_a_line_holding(
    s: &Shop,
    capacity: usize,
) -> (std::sync::Arc<onecard::sim::native::Pos>, i64) {
    use onecard::sim::clock::SimClock;
    use onecard::sim::native::{serve_bus, NativeDevice, Pos};
    let p = Pos::new("online", 3, SimClock::local(0.0), capacity, vec![]);
    p.set_auth_timeout(None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let device: std::sync::Arc<dyn NativeDevice> = p.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let devices = vec![device.clone()];
            tokio::spawn(async move {
                let _ = serve_bus(sock, devices).await;
            });
        }
    });
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms)
         VALUES ('online bus', 'native', 'tcp', $1, 100) RETURNING id",
    )
    .bind(addr.to_string())
    .fetch_one(s.pool())
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name, merchant_id)
         VALUES ($1, 'pos', 3, '一食堂 POS 3', (SELECT merchant_id FROM terminal WHERE id = $2))
         RETURNING id",
    )
    .bind(line)
    .bind(s.pos)
    .fetch_one(s.pool())
    .await
    .unwrap();
    (p, id)
}

/// The whole round: the POS asks, `serve` reads the request, onecard decides and posts, the
/// POS stores an online record with the host's balance, and that record comes in once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pos_on_a_line_is_answered_by_serve_with_the_hosts_balance() {
    use crate::poller::{eventually, fast};
    use onecard::poller::Supervisor;
    use onecard::terminal::native::DenyReason;
    use std::time::Duration as StdDuration;
    let s = shop().await;
    let c = s.card(8_100_009, "100.00").await;
    let (p, terminal_id) = pos_on_a_line(&s).await;
    let sup = Supervisor::start_with(s.pool().clone(), "online", fast());
    let card = u32::try_from(c.card_no).unwrap();
    let answer = |txn| {
        let p = p.clone();
        async move {
            eventually(StdDuration::from_secs(30), "the host's answer", || {
                let p = p.clone();
                async move { p.answer(txn).is_some() }
            })
            .await;
            p.answer(txn).unwrap()
        }
    };
    let t1 = p.ask(card, 1250, None).unwrap();
    let (a, record) = answer(t1).await;
    assert_eq!((a.denied, a.balance_fen), (None, 8750));
    assert!(record > 0);
    // Over the ¥50 limit without the PIN: declined, the balance as it stands; with it: approved.
    let t2 = p.ask(card, 6000, None).unwrap();
    let (a, record) = answer(t2).await;
    assert_eq!(
        (a.denied, a.balance_fen, record),
        (Some(DenyReason::PinRequired), 8750, 0)
    );
    let t3 = p.ask(card, 6000, Some(&c.payment_pin)).unwrap();
    assert_eq!(answer(t3).await.0.balance_fen, 2750);
    // The online records arrive as purchases, each once, with the host's balance.
    online_records(&s, terminal_id, 2).await;
    let rows: Vec<(i64, Money, Money)> = sqlx::query_as(
        "SELECT txn_no, amount, balance_after FROM pos_purchase WHERE terminal_id = $1 ORDER BY txn_no",
    )
    .bind(terminal_id)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (i64::from(t1), yuan("12.50"), yuan("87.50")),
            (i64::from(t3), yuan("60.00"), yuan("27.50"))
        ]
    );
    assert_eq!(s.purchases().await, (2, yuan("72.50")));
    s.assert_books_balance().await;
    sup.stop().await;
}

/// The bench's lost answers: purchases uploaded under this terminal had posted some of the
/// numbers the POS then asks with (a bulk load on a live POS, or a POS numbering anew unnoticed).
/// Posting such a number again fails on the books' unique index; `serve` retried for ever and
/// the POS waited for ever. Every ask is answered: a number in the books is declined, the rest
/// approved, and nothing posts twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_ask_is_answered_even_on_a_number_an_upload_posted() {
    use crate::poller::{eventually, fast};
    use onecard::db::ingest::{self, PurchaseRow};
    use onecard::poller::Supervisor;
    use onecard::terminal::native::DenyReason;
    use rand::{Rng, SeedableRng};
    use std::time::Duration as StdDuration;
    let s = shop().await;
    let c = s.card(8_100_010, "500.00").await;
    let (p, terminal_id) = pos_on_a_line(&s).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
    let asks = 6u32;
    let mut taken: Vec<u32> = (1..=asks).filter(|_| rng.gen_bool(0.5)).collect();
    if taken.is_empty() {
        taken.push(1);
    }
    // Record numbers far from the POS's own; the bookmark stays where it is.
    let rows: Vec<PurchaseRow> = taken
        .iter()
        .zip(1_000..)
        .map(|(&t, record_no)| PurchaseRow {
            record_no,
            card: c.card_no,
            amount: yuan("1.00"),
            balance_after: Money::ZERO,
            txn_no: i64::from(t),
            meal_slot: 0,
            online: false,
            terminal_time: Some(onecard::domain::time::now()),
        })
        .collect();
    ingest::store_purchases(s.pool(), terminal_id, &rows, None)
        .await
        .unwrap();
    let sup = Supervisor::start_with(s.pool().clone(), "online", fast());
    let card = u32::try_from(c.card_no).unwrap();
    let mut approved_fen = 0;
    for _ in 0..asks {
        let fen = rng.gen_range(100..=2_000);
        let txn = p.ask(card, fen, None).unwrap();
        eventually(StdDuration::from_secs(30), "the host's answer", || async {
            p.answer(txn).is_some()
        })
        .await;
        let (a, record) = p.answer(txn).unwrap();
        if taken.contains(&txn) {
            assert_eq!((a.denied, record), (Some(DenyReason::NotInService), 0));
        } else {
            assert_eq!(a.denied, None, "transaction {txn}");
            approved_fen += fen;
        }
    }
    let approved = asks as usize - taken.len();
    online_records(&s, terminal_id, approved as i64).await;
    sup.stop().await;
    let paid = Money::from_fen(approved_fen + 100 * taken.len() as i64);
    assert_eq!(s.purchases().await, ((taken.len() + approved) as i64, paid));
    s.assert_books_balance().await;
}

/// Waits until the terminal's records of online sales number `n`.
async fn online_records(s: &Shop, terminal_id: i64, n: i64) {
    crate::poller::eventually(
        std::time::Duration::from_secs(30),
        "the online records",
        || async {
            let stored: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pos_purchase WHERE terminal_id = $1 AND online",
            )
            .bind(terminal_id)
            .fetch_one(s.pool())
            .await
            .unwrap();
            stored == n
        },
    )
    .await;
}

/// A serial canteen bus with POS `terminals` (address, name) on it, added as the terminal
/// inventory adds them; their ids in order.
pub(crate) async fn canteen_bus(pool: &sqlx::PgPool, terminals: &[(i64, &str)]) -> Vec<i64> {
    let on_bus: Vec<(&str, &str, i64, &str)> = terminals
        .iter()
        .map(|&(address, name)| ("canteen bus", "pos", address, name))
        .collect();
    inventory(
        pool,
        &[("canteen bus", "native", "serial", "/dev/ttyUSB0")],
        &on_bus,
    )
    .await
}

/// Lines (name, protocol, transport, address) and terminals (line, kind, address, name) added
/// in one transaction as the terminal inventory adds them; the terminals' ids in order.
pub(crate) async fn inventory(
    pool: &sqlx::PgPool,
    lines: &[(&str, &str, &str, &str)],
    terminals: &[(&str, &str, i64, &str)],
) -> Vec<i64> {
    let shell = Actor::shell("root");
    let mut tx = pool.begin().await.unwrap();
    for &(name, protocol, transport, address) in lines {
        terminal::add_line(
            &mut tx,
            &shell,
            &terminal::NewLine {
                name,
                protocol,
                transport,
                address,
                baud: (transport == "serial").then_some(9600),
                poll_interval_ms: 1000,
            },
        )
        .await
        .unwrap();
    }
    let mut ids = Vec::new();
    for &(line, kind, address, name) in terminals {
        let new = terminal::NewTerminal {
            line,
            kind,
            address,
            name,
            location: "",
            installed_at: None,
            installed_by: "",
        };
        ids.push(terminal::add_terminal(&mut tx, &shell, &new).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}
