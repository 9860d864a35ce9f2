//! A POS that asked and got no answer in time sells offline under the same transaction
//! number (§8.5), and the host posts that purchase exactly once: matched to its own posting
//! when it had approved, posted from the upload when it declined or never read the request.

use crate::poller::{eventually, fast};
use crate::pos_offline::balance_of;
use crate::pos_online::{pos_on_a_line, shop, yuan, Shop};
use onecard::poller::Supervisor;
use onecard::sim::native::{AuthOutcome, NativeDevice, Pos};
use onecard::terminal::native::{cmd, AuthResult, Frame, Reply, Request};
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

/// The POS on a line of a running `serve`, once it holds the offline limits the host sent.
async fn served(s: &Shop) -> (Arc<Pos>, i64, Supervisor) {
    let (p, terminal) = pos_on_a_line(s).await;
    let sup = Supervisor::start_with(s.pool().clone(), "fallback", fast());
    let rules = onecard::db::pos::offline_rules(s.pool()).await.unwrap();
    let want = rules.daily.to_fen().unwrap();
    eventually(PATIENCE, "the offline limits", || async {
        i64::from(p.limits().offline_daily_fen) == want
    })
    .await;
    (p, terminal, sup)
}

async fn outcome(p: &Pos, txn: u32) -> AuthOutcome {
    eventually(PATIENCE, "the purchase's end", || async {
        p.outcome(txn).is_some()
    })
    .await;
    p.outcome(txn).unwrap()
}

/// What the host decided for the transaction, once it did.
async fn decided(s: &Shop, terminal: i64, txn: u32) -> String {
    let q = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT result FROM pos_authorisation WHERE terminal_id = $1 AND txn_no = $2",
        )
        .bind(terminal)
        .bind(i64::from(txn))
        .fetch_optional(s.pool())
        .await
        .unwrap()
    };
    eventually(PATIENCE, "the host's decision", || async {
        q().await.is_some()
    })
    .await;
    q().await.unwrap()
}

/// The terminal's records once `n` are stored: (record, transaction, online).
async fn uploaded(s: &Shop, terminal: i64, n: usize) -> Vec<(i64, i64, bool)> {
    let q = || async {
        sqlx::query_as::<_, (i64, i64, bool)>(
            "SELECT record_no, txn_no, online FROM pos_purchase WHERE terminal_id = $1
             ORDER BY record_no",
        )
        .bind(terminal)
        .fetch_all(s.pool())
        .await
        .unwrap()
    };
    eventually(PATIENCE, "the uploaded records", || async {
        q().await.len() >= n
    })
    .await;
    q().await
}

/// The offline sale (transaction, record) uploaded alone, acknowledged, folded by serve's
/// balance folder, and posted once: ¥12.50 in the books. Stops serve.
async fn posted_once(s: &Shop, p: &Pos, terminal: i64, (txn, record): (u32, u32), sup: Supervisor) {
    let rows = uploaded(s, terminal, 1).await;
    assert_eq!(rows, vec![(i64::from(record), i64::from(txn), false)]);
    eventually(PATIENCE, "the records acked", || async { p.stored() == 0 }).await;
    eventually(PATIENCE, "the batch folded into balances", || async {
        sqlx::query_scalar::<_, bool>("SELECT NOT EXISTS (SELECT 1 FROM balance_pending)")
            .fetch_one(s.pool())
            .await
            .unwrap()
    })
    .await;
    sup.stop().await;
    assert_eq!(postings(s, terminal, txn).await, 1);
    assert_eq!(s.purchases().await, (1, yuan("12.50")));
}

/// Postings of the terminal's transaction.
async fn postings(s: &Shop, terminal: i64, txn: u32) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ledger_entry WHERE terminal_id = $1 AND txn_no = $2")
        .bind(terminal)
        .bind(i64::from(txn))
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_from_the_line_the_pos_sells_offline_under_the_same_number_posted_once() {
    let s = shop().await;
    let c = s.card(8_300_001, "100.00").await;
    let card = u32::try_from(c.card_no).unwrap();
    let (p, terminal, sup) = served(&s).await;
    p.core().set_online(false);
    p.set_auth_timeout(Some(Duration::from_millis(300)));
    let txn = p.ask(card, 1250, None).unwrap();
    let AuthOutcome::Offline(Ok(record)) = outcome(&p, txn).await else {
        panic!("{:?}", p.outcome(txn));
    };
    // Above what it may sell without the host (the PIN cannot be checked): refused, stored nothing.
    let over = i64::from(p.limits().pin_above_fen) + 100;
    let refused = p.ask(card, over, None).unwrap();
    assert!(
        matches!(outcome(&p, refused).await, AuthOutcome::Offline(Err(_))),
        "{:?}",
        p.outcome(refused)
    );
    assert_eq!(p.stored(), 1);
    p.core().set_online(true);
    posted_once(&s, &p, terminal, (txn, record), sup).await;
    assert_eq!(balance_of(&s, c.card_id).await, yuan("87.50"));
    s.assert_books_balance().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_lost_on_the_way_back_is_posted_once_when_the_pos_sells_offline() {
    let s = shop().await;
    let c = s.card(8_300_002, "100.00").await;
    let card = u32::try_from(c.card_no).unwrap();
    let (p, terminal, sup) = served(&s).await;
    p.lose_answers(true);
    let txn = p.ask(card, 1250, None).unwrap();
    // The host approved and posted; its answer never arrives, and the cashier stops waiting.
    assert_eq!(decided(&s, terminal, txn).await, "approved");
    assert_eq!(p.pending().map(|w| w.txn_no), Some(txn));
    p.give_up();
    let AuthOutcome::Offline(Ok(record)) = outcome(&p, txn).await else {
        panic!("{:?}", p.outcome(txn));
    };
    // The answer arrives late: acknowledged with 0, and it changes nothing.
    p.lose_answers(false);
    let late = Frame::request(
        3,
        0,
        cmd::AUTH_RESULT,
        Request::AuthResult(AuthResult {
            txn_no: txn,
            denied: None,
            balance_fen: 8750,
        })
        .encode(),
    );
    let reply = Frame::decode(&p.respond(&late).unwrap()).unwrap();
    assert!(matches!(
        Reply::decode(reply.cmd, &reply.data),
        Ok(Reply::Answered { record_no: 0 })
    ));
    assert_eq!(p.outcome(txn), Some(AuthOutcome::Offline(Ok(record))));
    // One posting, the host's: the upload matched it.
    posted_once(&s, &p, terminal, (txn, record), sup).await;
    assert_eq!(balance_of(&s, c.card_id).await, yuan("87.50"));
    s.assert_books_balance().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decline_lost_on_the_way_back_is_posted_from_the_offline_sale_and_overdraws() {
    let s = shop().await;
    let c = s.card(8_300_003, "5.00").await;
    let card = u32::try_from(c.card_no).unwrap();
    let (p, terminal, sup) = served(&s).await;
    p.lose_answers(true);
    let txn = p.ask(card, 1250, None).unwrap();
    assert_eq!(decided(&s, terminal, txn).await, "insufficient_balance");
    p.give_up();
    // Within the offline limits (¥12.50 under the PIN limit and the daily limit): sold.
    let AuthOutcome::Offline(Ok(record)) = outcome(&p, txn).await else {
        panic!("{:?}", p.outcome(txn));
    };
    p.lose_answers(false);
    posted_once(&s, &p, terminal, (txn, record), sup).await;
    // Booked below zero, as any offline purchase the balance does not cover: the card is
    // blacklisted, with one alarm.
    assert_eq!(balance_of(&s, c.card_id).await, yuan("-7.50"));
    let overdrawn: bool = sqlx::query_scalar("SELECT overdrawn FROM card WHERE id = $1")
        .bind(c.card_id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(overdrawn);
    let alarms: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM alarm WHERE kind = 'account_overdrawn' AND card = $1",
    )
    .bind(c.card_no)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(alarms, 1);
    s.assert_books_balance().await;
}

/// The control verbs: how long it waits, and a cashier who stops waiting. Offline the POS keeps
/// its own rules: a purchase within them is sold, one above the PIN limit is refused.
#[test]
fn the_control_verbs_set_the_wait_and_give_up() {
    use onecard::sim::clock::SimClock;
    use onecard::sim::SimTerminal;
    let p = Pos::new("fallback", 5, SimClock::local(0.0), 100, vec![]);
    assert!(p
        .control("auth-timeout", &["0"])
        .unwrap()
        .contains("for ever"));
    assert!(p.control("auth-timeout", &["-1"]).is_err());
    assert!(p.control("give-up", &[]).is_err(), "nothing waits");
    let asked = p.control("pay", &["8300004", "12.50"]).unwrap();
    assert!(asked.contains("waits for the host"), "{asked}");
    assert!(p.control("answer", &[]).unwrap().contains("still waits"));
    p.control("give-up", &[]).unwrap();
    let sold = p.control("answer", &[]).unwrap();
    assert!(sold.contains("sold offline, record 1"), "{sold}");
    assert_eq!(p.stored(), 1);
    assert!(p.pending().is_none());
    // The next ask gets the next number: the offline sale kept the one it had.
    let txn = p.ask(8_300_004, 100, None).unwrap();
    assert_eq!(p.outcome(txn - 1), Some(AuthOutcome::Offline(Ok(1))));
}
