//! Missing transaction numbers are chased (§8.8): read from the POS's journal with READ_TXN
//! after its upload, never guessed. A void number stops being missing; a sale that left the
//! upload memory before it was collected is stored and posted from the journal; the list shows
//! only what is still missing.

use crate::poller::{eventually, fast};
use crate::pos_online::{pos_on_a_line_holding, shop, yuan, Shop};
use onecard::poller::Supervisor;
use onecard::sim::native::{NativeDevice, Pos};
use onecard::sim::SimTerminal;
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

/// A POS holding `capacity` records on a line of a running `serve`, once it has the offline
/// limits the host sent.
async fn served(s: &Shop, capacity: usize) -> (Arc<Pos>, i64, Supervisor) {
    let (p, terminal) = pos_on_a_line_holding(s, capacity).await;
    let sup = Supervisor::start_with(s.pool().clone(), "chase", fast());
    let want = onecard::db::pos::offline_rules(s.pool())
        .await
        .unwrap()
        .daily
        .to_fen()
        .unwrap();
    eventually(PATIENCE, "the offline limits", || async {
        i64::from(p.limits().offline_daily_fen) == want
    })
    .await;
    (p, terminal, sup)
}

/// (number, what the journal said) of the terminal's missing numbers.
async fn chased(s: &Shop, terminal: i64) -> Vec<(i64, Option<String>)> {
    sqlx::query_as(
        "SELECT txn_no, chase FROM pos_txn_missing WHERE terminal_id = $1 ORDER BY txn_no",
    )
    .bind(terminal)
    .fetch_all(s.pool())
    .await
    .unwrap()
}

async fn alarms(s: &Shop, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM alarm WHERE kind = $1")
        .bind(kind)
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skipped_numbers_are_chased_found_void_and_no_longer_missing() {
    let s = shop().await;
    let c = s.card(8_300_004, "100.00").await;
    let card = u32::try_from(c.card_no).unwrap();
    let (p, terminal, sup) = served(&s, 1_000).await;
    let first = p.purchase(card, 300).unwrap();
    let reply = p.control("skip", &["3"]).unwrap();
    assert!(reply.contains("skipped"), "{reply}");
    let after = p.purchase(card, 450).unwrap();
    assert_eq!(after.txn_no, first.txn_no + 4);
    let want: Vec<(i64, Option<String>)> = (1..=3)
        .map(|k| (i64::from(first.txn_no) + k, Some("void".to_string())))
        .collect();
    eventually(PATIENCE, "the skipped numbers chased", || async {
        chased(&s, terminal).await == want
    })
    .await;
    sup.stop().await;
    // Noticed once, then settled by the POS's own word: nothing is missing any more.
    assert_eq!(alarms(&s, "txn_gap").await, 1);
    assert_eq!(
        onecard::db::pos::missing_txns(s.pool(), terminal)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(s.purchases().await, (2, yuan("7.50")));
    s.assert_books_balance().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_overwritten_before_collection_are_read_from_the_journal_and_posted() {
    let s = shop().await;
    let c = s.card(8_300_005, "100.00").await;
    let card = u32::try_from(c.card_no).unwrap();
    // Four records of upload memory, written over when full.
    let (p, terminal, sup) = served(&s, 4).await;
    p.overwrite_when_full();
    let first = p.purchase(card, 100).unwrap();
    eventually(PATIENCE, "the first sale collected", || async {
        s.purchases().await.0 == 1
    })
    .await;
    // Cut from the line, it sells six more: the oldest two are written over before the host
    // reads them, but its journal keeps every sale.
    p.core().set_online(false);
    for k in 0..6 {
        p.purchase(card, 100 + k).unwrap();
    }
    p.core().set_online(true);
    let lost: Vec<i64> = (1..=2).map(|k| i64::from(first.txn_no) + k).collect();
    eventually(PATIENCE, "the overwritten sales chased", || async {
        chased(&s, terminal).await
            == lost
                .iter()
                .map(|&n| (n, Some("sold".to_string())))
                .collect::<Vec<_>>()
    })
    .await;
    eventually(PATIENCE, "every sale posted", || async {
        s.purchases().await.0 == 7
    })
    .await;
    sup.stop().await;
    // ¥1.00 + ¥1.00..¥1.05: every fen, each once.
    assert_eq!(s.purchases().await, (7, yuan("7.15")));
    assert_eq!(alarms(&s, "records_lost").await, 1);
    assert_eq!(
        onecard::db::pos::missing_txns(s.pool(), terminal)
            .await
            .unwrap(),
        vec![]
    );
    s.assert_books_balance().await;
}
