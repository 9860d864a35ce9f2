//! Random sequences of money operations keep every invariant. Each seed is a fixed schedule
//! (so a failure is replayed by its seed): top-ups, online purchases and their retries, offline
//! uploads (overdrawing ones too) and their repeats, refunds, and the folding of uploaded
//! batches into balances at random moments. After each schedule the books
//! balance, every cached balance equals its entries, each card's balance is what a plain model
//! of the approved operations says, a card is blacklisted exactly while it is below zero, and
//! an online purchase is approved exactly when the model says the balance covers it.

use crate::pos_offline::{row, upload_unfolded};
use crate::pos_online::{shop, yuan};
use onecard::db::ingest::PurchaseRow;
use onecard::db::{desk, ledger};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

fn money(rng: &mut StdRng, lo_fen: i64, hi_fen: i64) -> Money {
    Money::from_fen(rng.gen_range(lo_fen..=hi_fen))
}

#[tokio::test]
async fn random_money_schedules_keep_every_invariant() {
    let root = Actor::shell("root");
    for seed in 0..6u64 {
        let s = shop().await;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model: BTreeMap<i64, Money> = BTreeMap::new();
        let mut person: BTreeMap<i64, i64> = BTreeMap::new();
        for no in 0..3 {
            let c = s.card(8_300_000 + no, "20.00").await;
            model.insert(c.card_no, yuan("20.00"));
            let p: i64 = sqlx::query_scalar("SELECT person_id FROM card WHERE id = $1")
                .bind(c.card_id)
                .fetch_one(s.pool())
                .await
                .unwrap();
            person.insert(c.card_no, p);
        }
        let cards: Vec<i64> = model.keys().copied().collect();
        let (mut txn, mut record) = (1i64, 1i64);
        let mut uploaded: Vec<PurchaseRow> = Vec::new();
        let mut asked: Vec<(i64, i64, Money)> = Vec::new();
        let mut approved_online = 0;
        for step in 0..40 {
            let card = cards[rng.gen_range(0..cards.len())];
            let why = format!("seed {seed}, step {step}");
            match rng.gen_range(0..7) {
                0 => {
                    let a = money(&mut rng, 100, 5_000);
                    ledger::top_up(s.pool(), &root, person[&card], a, "")
                        .await
                        .unwrap();
                    *model.get_mut(&card).unwrap() += a;
                }
                1 => {
                    let a = money(&mut rng, 50, 3_000);
                    let covered = model[&card] >= a;
                    let answer = s.buy(txn, card, &a.csv(), None).await;
                    // Nothing else declines here: amounts under the limit, few a day.
                    assert_eq!(answer.declined.is_none(), covered, "{why}: {answer:?}");
                    if answer.declined.is_none() {
                        *model.get_mut(&card).unwrap() -= a;
                        approved_online += 1;
                        assert_eq!(answer.balance, model[&card], "{why}");
                    }
                    asked.push((txn, card, a));
                    txn += 1;
                }
                2 => {
                    let a = money(&mut rng, 50, 4_000);
                    let r = row(record, card, &a.csv(), txn, false);
                    upload_unfolded(&s, std::slice::from_ref(&r)).await;
                    uploaded.push(r);
                    *model.get_mut(&card).unwrap() -= a;
                    record += 1;
                    txn += 1;
                }
                3 if !uploaded.is_empty() => {
                    let again = uploaded[rng.gen_range(0..uploaded.len())].clone();
                    upload_unfolded(&s, &[again]).await;
                }
                4 if !asked.is_empty() => {
                    let (t, c, a) = asked[rng.gen_range(0..asked.len())];
                    let before = s.purchases().await;
                    s.buy(t, c, &a.csv(), None).await;
                    assert_eq!(s.purchases().await, before, "{why}: a retry posts nothing");
                }
                5 if model[&card] > Money::ZERO => {
                    let a = model[&card].min(money(&mut rng, 1, 2_000));
                    if desk::refund(s.pool(), &root, None, person[&card], a, "")
                        .await
                        .is_ok()
                    {
                        *model.get_mut(&card).unwrap() -= a;
                    }
                }
                // serve's folder, at any moment.
                6 => {
                    onecard::db::pos::fold(s.pool()).await.unwrap();
                }
                _ => {}
            }
        }
        // Balances as the entries say, batches not folded yet included; then all folded.
        s.assert_books_balance().await;
        for (&card, &want) in &model {
            let balance: Money = sqlx::query_scalar(
                "SELECT account_balance(a.id) FROM card c JOIN account a ON a.person_id = c.person_id
                 WHERE c.card_no = $1",
            )
            .bind(card)
            .fetch_one(s.pool())
            .await
            .unwrap();
            assert_eq!(
                balance, want,
                "seed {seed}: card {card}, before the last fold"
            );
        }
        onecard::db::pos::fold_all(s.pool()).await.unwrap();
        s.assert_books_balance().await;
        for (&card, &want) in &model {
            let (balance, overdrawn): (Money, bool) = sqlx::query_as(
                "SELECT a.balance, c.overdrawn FROM card c JOIN account a ON a.person_id = c.person_id
                 WHERE c.card_no = $1",
            )
            .bind(card)
            .fetch_one(s.pool())
            .await
            .unwrap();
            assert_eq!(balance, want, "seed {seed}: card {card}");
            assert_eq!(overdrawn, want.is_negative(), "seed {seed}: card {card}");
        }
        let (posted, _) = s.purchases().await;
        assert_eq!(
            posted,
            i64::try_from(uploaded.len()).unwrap() + approved_online,
            "seed {seed}: each purchase posted once"
        );
    }
}
