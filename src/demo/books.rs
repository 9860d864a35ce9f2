//! The demo's past month at the canteen: every cardholder's meals of last month, posted by the
//! real batch posting (`db::pos::post_batch`) on the days they were eaten, then the month
//! settled, so the Settlement tab opens on a locked statement and a month of daily takings.

use crate::db::pos::{self, Uploaded};
use crate::domain::money::Money;
use crate::domain::permission::Actor;
use crate::domain::settlement::Period;
use crate::domain::time;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime};
use sqlx::PgPool;

/// The canteen's prices in fen: breakfast, lunch, dinner, at their hours.
const MEALS: [(u32, i64); 3] = [(7, 350), (12, 1_250), (18, 950)];

/// Last month's days.
pub fn last_month() -> Vec<NaiveDate> {
    let today = time::today();
    let first_this = today.with_day(1).unwrap_or(today);
    let first = (first_this - Duration::days(1))
        .with_day(1)
        .unwrap_or(first_this);
    first.iter_days().take_while(|d| *d < first_this).collect()
}

/// The meals each card ate last month: (day, hour, card_no, fen), a fixed pattern per card.
fn meals(cards: &[i64], days: &[NaiveDate]) -> Vec<(NaiveDate, u32, i64, i64)> {
    let mut out = Vec::new();
    for (d, day) in days.iter().enumerate() {
        for (i, &card) in cards.iter().enumerate() {
            for (m, &(hour, fen)) in MEALS.iter().enumerate() {
                // About one meal in two, varied by card and day.
                if (i * 7 + d * 3 + m * 5) % 11 < 5 {
                    out.push((*day, hour, card, fen));
                }
            }
        }
    }
    out
}

/// What each card's meals last month cost: its holder was topped up with that besides.
pub fn spent(cards: &[i64]) -> Vec<Money> {
    let all = meals(cards, &last_month());
    cards
        .iter()
        .map(|c| Money::from_fen(all.iter().filter(|m| m.2 == *c).map(|m| m.3).sum()))
        .collect()
}

/// Posts last month's meals on the canteen's POS (one batch per POS, meal and day) and settles
/// the month. Returns the purchases posted.
pub async fn post_and_settle(pool: &PgPool, cards: &[i64]) -> anyhow::Result<usize> {
    let pos: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terminal WHERE kind = 'pos' AND merchant_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let days = last_month();
    let (Some(first), false) = (days.first().copied(), pos.is_empty() || cards.is_empty()) else {
        return Ok(0);
    };
    // A numbering of its own per month (-YYYYMM): the POS's live numbers are not these.
    let epoch = -i64::from(first.year() * 100 + first.month() as i32);
    let all = meals(cards, &days);
    let mut tx = pool.begin().await?;
    let mut txn = 0i64;
    for day in &days {
        for &(hour, _) in &MEALS {
            let at = time::instant(
                day.and_time(NaiveTime::from_hms_opt(hour, 30, 0).unwrap_or_default()),
            );
            let eaten: Vec<&(NaiveDate, u32, i64, i64)> =
                all.iter().filter(|m| m.0 == *day && m.1 == hour).collect();
            for (p, till) in pos.iter().enumerate() {
                let rows: Vec<Uploaded> = eaten
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % pos.len() == p)
                    .map(|(_, m)| {
                        txn += 1;
                        Uploaded {
                            card: m.2,
                            amount: Money::from_fen(m.3),
                            txn_no: txn,
                        }
                    })
                    .collect();
                if !rows.is_empty() {
                    pos::post_batch(&mut tx, *till, epoch, &rows, Some(at)).await?;
                }
            }
        }
    }
    tx.commit().await?;
    crate::db::settlement::settle(pool, &Actor::shell("demo"), Period::month_of(first), None)
        .await?;
    Ok(all.len())
}
