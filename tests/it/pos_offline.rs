//! Purchases a POS uploads are posted too, each transaction once: matched to its online
//! authorisation when it had one, owed by the suspense account when the card is unknown, and
//! booked even when it overdraws (the card then goes on the blacklist until a top-up).

use crate::pos_online::{shop, yuan, Shop};
use onecard::db::ingest::{self, PurchaseRow};
use onecard::db::{card, desk, ledger, pos};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;

pub(crate) fn row(
    record_no: i64,
    card: i64,
    amount: &str,
    txn_no: i64,
    online: bool,
) -> PurchaseRow {
    PurchaseRow {
        record_no,
        card,
        amount: yuan(amount),
        balance_after: Money::ZERO,
        txn_no,
        meal_slot: 0,
        online,
        terminal_time: Some(onecard::domain::time::now()),
    }
}

/// Stores and posts an upload, and folds it into the balances as serve's folder would.
pub(crate) async fn upload(s: &Shop, rows: &[PurchaseRow]) {
    upload_unfolded(s, rows).await;
    pos::fold_all(s.pool()).await.unwrap();
}

/// Stores and posts an upload; its payers' balance rows wait for a fold.
pub(crate) async fn upload_unfolded(s: &Shop, rows: &[PurchaseRow]) {
    let last = rows.iter().map(|r| r.record_no).max();
    ingest::store_purchases(s.pool(), s.pos, rows, last)
        .await
        .unwrap();
}

/// The balance as the entries say (batches not folded yet included).
pub(crate) async fn balance_of(s: &Shop, card_id: i64) -> Money {
    sqlx::query_scalar(
        "SELECT account_balance(a.id) FROM account a JOIN card c ON c.person_id = a.person_id
         WHERE c.id = $1",
    )
    .bind(card_id)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

/// The balance row alone, as the last fold left it.
async fn cached_balance(s: &Shop, card_id: i64) -> Money {
    sqlx::query_scalar(
        "SELECT a.balance FROM account a JOIN card c ON c.person_id = a.person_id WHERE c.id = $1",
    )
    .bind(card_id)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

async fn person_of(s: &Shop, card_id: i64) -> i64 {
    sqlx::query_scalar("SELECT person_id FROM card WHERE id = $1")
        .bind(card_id)
        .fetch_one(s.pool())
        .await
        .unwrap()
}

async fn overdrawn(s: &Shop, card_id: i64) -> bool {
    sqlx::query_scalar("SELECT overdrawn FROM card WHERE id = $1")
        .bind(card_id)
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn uploaded_purchases_are_posted_once_and_matched_to_their_authorisation() {
    let s = shop().await;
    let c = s.card(8_200_001, "50.00").await;
    let rows = [
        row(1, c.card_no, "12.50", 1, false),
        row(2, c.card_no, "7.50", 2, false),
    ];
    upload(&s, &rows).await;
    assert_eq!(s.purchases().await, (2, yuan("20.00")));
    assert_eq!(balance_of(&s, c.card_id).await, yuan("30.00"));
    // The same records again (a crash before the ack): nothing posted twice.
    upload(&s, &rows).await;
    assert_eq!(s.purchases().await, (2, yuan("20.00")));
    // Authorised online, then its online record uploaded: posted by the authorisation only.
    let a = s.buy(3, c.card_no, "5.00", None).await;
    assert!(a.declined.is_none(), "{a:?}");
    upload(&s, &[row(3, c.card_no, "5.00", 3, true)]).await;
    assert_eq!(s.purchases().await, (3, yuan("25.00")));
    assert_eq!(balance_of(&s, c.card_id).await, yuan("25.00"));
    // A card onecard never issued: the suspense account owes it until someone finds whose.
    upload(&s, &[row(4, 4_444_444, "3.00", 4, false)]).await;
    assert_eq!(s.purchases().await, (4, yuan("28.00")));
    let suspense: Money = sqlx::query_scalar("SELECT balance FROM account WHERE kind = 'suspense'")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(suspense, yuan("-3.00"));
    // A zero amount (a garbled record) is kept as a record and posts nothing.
    upload(&s, &[row(5, c.card_no, "0.00", 5, false)]).await;
    assert_eq!(s.purchases().await, (4, yuan("28.00")));
    s.assert_books_balance().await;
}

#[tokio::test]
async fn an_offline_purchase_that_overdraws_is_booked_and_blacklists_the_card_until_a_top_up() {
    let s = shop().await;
    let c = s.card(8_200_002, "5.00").await;
    upload(&s, &[row(1, c.card_no, "12.50", 1, false)]).await;
    assert_eq!(balance_of(&s, c.card_id).await, yuan("-7.50"));
    assert!(overdrawn(&s, c.card_id).await);
    let alarms: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT kind, card FROM alarm WHERE kind = 'account_overdrawn'")
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(
        alarms,
        vec![("account_overdrawn".to_string(), Some(c.card_no))]
    );
    // Every POS is told to refuse it.
    let pushed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM terminal_command
         WHERE command->>'op' = 'push_blacklist' AND command->'cards' @> to_jsonb($1::bigint)",
    )
    .bind(c.card_no)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert!(pushed >= 1, "no blacklist pushed with the card");
    // Online it is refused; another upload raises no second alarm.
    let a = s.buy(2, c.card_no, "1.00", None).await;
    assert_eq!(a.declined, Some(onecard::db::pos::Decline::Blacklisted));
    upload(&s, &[row(2, c.card_no, "1.00", 3, false)]).await;
    assert_eq!(balance_of(&s, c.card_id).await, yuan("-8.50"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM alarm WHERE kind = 'account_overdrawn'")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    // A top-up to less than zero keeps it refused; to zero or more takes it off the list.
    let person = person_of(&s, c.card_id).await;
    let root = Actor::shell("root");
    ledger::top_up(s.pool(), &root, person, yuan("5.00"), "")
        .await
        .unwrap();
    assert!(overdrawn(&s, c.card_id).await);
    ledger::top_up(s.pool(), &root, person, yuan("10.00"), "")
        .await
        .unwrap();
    assert_eq!(balance_of(&s, c.card_id).await, yuan("6.50"));
    assert!(!overdrawn(&s, c.card_id).await);
    assert!(s.buy(4, c.card_no, "1.00", None).await.declined.is_none());
    s.assert_books_balance().await;
}

#[tokio::test]
async fn a_batch_counts_in_every_balance_before_it_is_folded() {
    let s = shop().await;
    let c = s.card(8_200_009, "20.00").await;
    upload_unfolded(&s, &[row(1, c.card_no, "12.50", 1, false)]).await;
    // The balance row is not written yet; everything that reads a balance counts the batch.
    assert_eq!(cached_balance(&s, c.card_id).await, yuan("20.00"));
    assert_eq!(balance_of(&s, c.card_id).await, yuan("7.50"));
    assert_eq!(
        card::view(s.pool(), c.card_id).await.unwrap().balance,
        yuan("7.50")
    );
    s.assert_books_balance().await;
    // Online, the host decides on the balance the entries say.
    let a = s.buy(2, c.card_no, "10.00", None).await;
    assert_eq!(a.declined, Some(pos::Decline::InsufficientBalance));
    let a = s.buy(3, c.card_no, "5.00", None).await;
    assert_eq!((a.declined, a.balance), (None, yuan("2.50")));
    // The desk refunds no more than that.
    let person = person_of(&s, c.card_id).await;
    let root = Actor::shell("root");
    assert!(
        desk::refund(s.pool(), &root, None, person, yuan("3.00"), "")
            .await
            .is_err()
    );
    desk::refund(s.pool(), &root, None, person, yuan("2.50"), "")
        .await
        .unwrap();
    assert_eq!(balance_of(&s, c.card_id).await, Money::ZERO);
    s.assert_books_balance().await;
    // Folded: the row says it too. Nothing overdrawn, no alarm.
    let f = pos::fold_all(s.pool()).await.unwrap();
    assert_eq!((f.movements, f.accounts, f.alarms.len()), (1, 1, 0));
    assert_eq!(cached_balance(&s, c.card_id).await, Money::ZERO);
    assert!(!overdrawn(&s, c.card_id).await);
    // A batch that overdraws is blacklisted and alarmed when it is folded, once.
    upload_unfolded(&s, &[row(2, c.card_no, "3.00", 4, false)]).await;
    assert_eq!(balance_of(&s, c.card_id).await, yuan("-3.00"));
    assert!(!overdrawn(&s, c.card_id).await);
    let f = pos::fold_all(s.pool()).await.unwrap();
    assert_eq!(f.alarms.len(), 1);
    assert!(overdrawn(&s, c.card_id).await);
    assert_eq!(cached_balance(&s, c.card_id).await, yuan("-3.00"));
    assert_eq!(
        pos::fold_all(s.pool()).await.unwrap(),
        pos::Folded::default()
    );
    s.assert_books_balance().await;
}

#[tokio::test]
async fn folders_running_at_once_fold_each_batch_once() {
    let s = shop().await;
    let c = s.card(8_200_010, "100.00").await;
    for n in 1..=20 {
        upload_unfolded(&s, &[row(n, c.card_no, "1.00", n, false)]).await;
    }
    // Two serves' folders and a third caller: each batch is added to the balance once.
    let (a, b, one) = tokio::join!(
        pos::fold_all(s.pool()),
        pos::fold_all(s.pool()),
        pos::fold(s.pool())
    );
    let folded = a.unwrap().movements + b.unwrap().movements + one.unwrap().movements;
    assert_eq!(folded, 20);
    assert_eq!(cached_balance(&s, c.card_id).await, yuan("80.00"));
    assert_eq!(balance_of(&s, c.card_id).await, yuan("80.00"));
    s.assert_books_balance().await;
}

#[tokio::test]
async fn skipped_transaction_numbers_are_listed_alarmed_once_and_found_when_they_come() {
    let s = shop().await;
    let c = s.card(8_200_003, "100.00").await;
    upload(&s, &[row(1, c.card_no, "1.00", 1, false)]).await;
    // Numbers 2 and 3 skipped; 4 and 5 come.
    upload(
        &s,
        &[
            row(2, c.card_no, "1.00", 4, false),
            row(3, c.card_no, "1.00", 5, false),
        ],
    )
    .await;
    let missing = |s: &Shop| {
        let pool = s.pool().clone();
        let pos = s.pos;
        async move {
            onecard::db::pos::missing_txns(&pool, pos)
                .await
                .unwrap()
                .into_iter()
                .map(|(_, n, _)| n)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(missing(&s).await, vec![2, 3]);
    let details: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM alarm WHERE kind = 'txn_gap'")
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(
        onecard::db::ingest::AlarmDetail::parse(&details[0]),
        Some(onecard::db::ingest::AlarmDetail::TxnGap {
            first: 2,
            last: 3,
            missing: 2
        })
    );
    // The same upload again finds nothing new; number 3 turns up late (an online answer), 2 in
    // an upload: nothing is missing any more, and nothing was guessed.
    upload(&s, &[row(3, c.card_no, "1.00", 5, false)]).await;
    assert!(s.buy(3, c.card_no, "1.00", None).await.declined.is_none());
    assert_eq!(missing(&s).await, vec![2]);
    upload(&s, &[row(4, c.card_no, "1.00", 2, false)]).await;
    assert!(missing(&s).await.is_empty());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM alarm WHERE kind = 'txn_gap'")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(s.purchases().await, (5, yuan("5.00")));
    // A counter that jumps by millions lists a bounded number.
    upload(&s, &[row(5, c.card_no, "1.00", 3_000_000, false)]).await;
    assert_eq!(missing(&s).await.len(), 1_000);
    s.assert_books_balance().await;
}
