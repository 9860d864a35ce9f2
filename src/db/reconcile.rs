//! Daily reconciliation (对账) of every merchant's POS: three figures for each POS and day must
//! agree (DOMAIN.md, "Money rules"):
//!
//! * the POS's own totals (count, sum), as it answered DAILY_TOTALS (`pos_daily_total`);
//! * the purchases received from it (`pos_purchase`, by the POS's own clock);
//! * the ledger's purchases posted for it, each on the day of its received record, or of its
//!   posting when no record of it came in (an online purchase not uploaded yet).
//!
//! A difference raises a `reconciliation_difference` alarm with the three figures; a POS with
//! no totals for the day raises `upload_missing`. Missing records are chased, never guessed: the
//! alarm says so. Each POS and day raises each alarm once however often it is reconciled, and
//! its last result is kept for the board.

use super::alarm::{self, NewAlarm};
use super::ingest::AlarmDetail;
use super::notify::Change;
use crate::domain::alarm::AlarmKind;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
pub use crate::domain::settlement::Tally;
use crate::domain::time;
use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;

/// `pos_reconciliation.state`: what the board shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconState {
    Ok,
    Difference,
    NotUploaded,
}

crate::domain::named!(ReconState, "reconciliation state", {
    Ok => "ok",
    Difference => "difference",
    NotUploaded => "not_uploaded",
});

/// One POS on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub terminal_id: i64,
    pub terminal: String,
    pub merchant: String,
    pub day: NaiveDate,
    pub state: ReconState,
    /// None: not uploaded.
    pub pos: Option<Tally>,
    pub received: Tally,
    pub ledger: Tally,
    /// The alarm this run raised, if any (none when it was raised before).
    pub raised: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A day still running has not all its purchases yet.
    #[error("{day} has not ended yet: a day is reconciled once it is over")]
    NotEnded { day: NaiveDate },
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct Figures {
    terminal_id: i64,
    terminal: String,
    merchant: String,
    pos_count: Option<i64>,
    pos_sum: Option<Money>,
    received_count: i64,
    received_sum: Money,
    ledger_count: i64,
    ledger_sum: Money,
    difference_alarm: Option<i64>,
    missing_alarm: Option<i64>,
}

/// Every merchant's POS and its three figures for `day`, in one query. $1/$2 bound the day as
/// instants (postings), $3/$4 on the wall clock (the POS's own timestamps).
const FIGURES: &str = "
WITH pos AS (
    SELECT t.id, t.name, m.name AS merchant FROM terminal t JOIN merchant m ON m.id = t.merchant_id
    WHERE t.kind = 'pos'
), rec AS (
    SELECT p.terminal_id, p.txn_epoch, p.txn_no, p.amount FROM pos_purchase p
    WHERE p.terminal_id IN (SELECT id FROM pos) AND p.terminal_time >= $3 AND p.terminal_time < $4
), led AS (
    -- each purchase posted is its payer's traced entry
    SELECT r.terminal_id, e.amount
    FROM rec r
    JOIN ledger_entry e ON e.terminal_id = r.terminal_id AND e.txn_epoch = r.txn_epoch
                       AND e.txn_no = r.txn_no
    UNION ALL
    SELECT e.terminal_id, e.amount
    FROM ledger_movement m
    JOIN ledger_entry e ON e.movement_id = m.id AND e.txn_no IS NOT NULL
    WHERE m.kind = 'purchase' AND m.at >= $1 AND m.at < $2
      AND m.terminal_id IN (SELECT id FROM pos)
      -- a record of it came in, stamped within a day of this one: counted on the record's day
      AND NOT EXISTS (SELECT 1 FROM pos_purchase p
                      WHERE p.terminal_id = e.terminal_id AND p.txn_epoch = e.txn_epoch
                        AND p.txn_no = e.txn_no
                        AND p.terminal_time >= $3 - interval '1 day'
                        AND p.terminal_time < $4 + interval '1 day')
)
SELECT pos.id AS terminal_id, pos.name AS terminal, pos.merchant,
       d.count AS pos_count, d.sum AS pos_sum,
       coalesce(r.n, 0) AS received_count, coalesce(r.s, 0) AS received_sum,
       coalesce(l.n, 0) AS ledger_count, coalesce(l.s, 0) AS ledger_sum,
       pr.difference_alarm, pr.missing_alarm
FROM pos
LEFT JOIN pos_daily_total d ON d.terminal_id = pos.id AND d.day = $5
LEFT JOIN (SELECT terminal_id, count(*) AS n, sum(amount) AS s FROM rec GROUP BY terminal_id) r
       ON r.terminal_id = pos.id
LEFT JOIN (SELECT terminal_id, count(*) AS n, sum(amount) AS s FROM led GROUP BY terminal_id) l
       ON l.terminal_id = pos.id
LEFT JOIN pos_reconciliation pr ON pr.terminal_id = pos.id AND pr.day = $5
ORDER BY pos.merchant, pos.name, pos.id";

/// Reconciles every merchant's POS for `day` (a day that has ended), stores each result and
/// raises what is new.
pub async fn reconcile(
    pool: &PgPool,
    actor: &Actor,
    day: NaiveDate,
) -> Result<Vec<Reconciled>, ReconcileError> {
    actor.authorize(Action::MerchantSettle)?;
    let (from, to) = time::day_bounds(day);
    if to > Utc::now() {
        return Err(ReconcileError::NotEnded { day });
    }
    let mut tx = pool.begin().await?;
    // Two runs for one day at once: the second waits and then finds the first's alarms.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('reconcile ' || $1::text, 0))")
        .bind(day)
        .execute(&mut *tx)
        .await?;
    let wall = day.and_time(NaiveTime::MIN);
    let rows: Vec<Figures> = sqlx::query_as(FIGURES)
        .bind(from)
        .bind(to)
        .bind(wall)
        .bind(wall + Duration::days(1))
        .bind(day)
        .fetch_all(&mut *tx)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut raised_ids = Vec::new();
    for f in rows {
        let pos = f.pos_count.map(|count| Tally {
            count,
            sum: f.pos_sum.unwrap_or_default(),
        });
        let received = Tally {
            count: f.received_count,
            sum: f.received_sum,
        };
        let ledger = Tally {
            count: f.ledger_count,
            sum: f.ledger_sum,
        };
        let state = match pos {
            None => ReconState::NotUploaded,
            Some(p) if p == received && received == ledger => ReconState::Ok,
            Some(_) => ReconState::Difference,
        };
        let (kind, detail, before) = match state {
            ReconState::Ok => (None, None, None),
            ReconState::NotUploaded => (
                Some(AlarmKind::UploadMissing),
                Some(AlarmDetail::NotUploaded { day }),
                f.missing_alarm,
            ),
            ReconState::Difference => (
                Some(AlarmKind::ReconciliationDifference),
                Some(AlarmDetail::ReconciliationDifference {
                    day,
                    pos: pos.unwrap_or_default(),
                    received,
                    ledger,
                }),
                f.difference_alarm,
            ),
        };
        let raised = match (kind, detail, before) {
            (Some(kind), Some(detail), None) => {
                let a = NewAlarm {
                    kind,
                    terminal_id: Some(f.terminal_id),
                    door: None,
                    card: None,
                    detail: detail.to_json(),
                    late: false,
                };
                alarm::raise(&mut tx, &a).await?
            }
            _ => None,
        };
        raised_ids.extend(raised);
        let (diff_alarm, missing_alarm) = match state {
            ReconState::Difference => (raised, None),
            ReconState::NotUploaded => (None, raised),
            ReconState::Ok => (None, None),
        };
        sqlx::query(
            "INSERT INTO pos_reconciliation (terminal_id, day, state, pos_count, pos_sum,
                 received_count, received_sum, ledger_count, ledger_sum, difference_alarm, missing_alarm)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (terminal_id, day) DO UPDATE SET state = EXCLUDED.state,
                 pos_count = EXCLUDED.pos_count, pos_sum = EXCLUDED.pos_sum,
                 received_count = EXCLUDED.received_count, received_sum = EXCLUDED.received_sum,
                 ledger_count = EXCLUDED.ledger_count, ledger_sum = EXCLUDED.ledger_sum,
                 difference_alarm = coalesce(pos_reconciliation.difference_alarm, EXCLUDED.difference_alarm),
                 missing_alarm = coalesce(pos_reconciliation.missing_alarm, EXCLUDED.missing_alarm),
                 checked_at = now()",
        )
        .bind(f.terminal_id)
        .bind(day)
        .bind(state.name())
        .bind(pos.map(|p| p.count))
        .bind(pos.map(|p| p.sum))
        .bind(received.count)
        .bind(received.sum)
        .bind(ledger.count)
        .bind(ledger.sum)
        .bind(diff_alarm)
        .bind(missing_alarm)
        .execute(&mut *tx)
        .await?;
        out.push(Reconciled {
            terminal_id: f.terminal_id,
            terminal: f.terminal,
            merchant: f.merchant,
            day,
            state,
            pos,
            received,
            ledger,
            raised,
        });
    }
    // The board of every console re-reads the day; new alarms ring.
    Change {
        alarm: raised_ids,
        records: vec!["pos_reconciliation".into()],
        ..Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Queues DAILY_TOTALS of `day` for every merchant's POS (one transaction); the pollers owning
/// their lines read them into `pos_daily_total`. Returns the commands' ids.
pub async fn request_totals(
    pool: &PgPool,
    actor: &Actor,
    day: NaiveDate,
) -> Result<Vec<i64>, ReconcileError> {
    use super::command::{self, CommandError, TerminalCommand};
    actor.authorize(Action::MerchantSettle)?;
    let mut tx = pool.begin().await?;
    let pos: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terminal WHERE kind = 'pos' AND merchant_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = Vec::with_capacity(pos.len());
    for t in pos {
        let cmd = TerminalCommand::DailyTotals { date: day };
        ids.push(
            command::enqueue_in(&mut tx, actor, t, &cmd)
                .await
                .map_err(|e| match e {
                    CommandError::Denied(d) => ReconcileError::Denied(d),
                    CommandError::Sql(e) => ReconcileError::Sql(e),
                })?,
        );
    }
    for id in &ids {
        Change::command(*id).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// Stores a POS's own totals for a day (its answer to DAILY_TOTALS); a later reading replaces
/// an earlier one.
pub async fn store_daily_total(
    db: impl sqlx::PgExecutor<'_>,
    terminal_id: i64,
    day: NaiveDate,
    totals: Tally,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pos_daily_total (terminal_id, day, count, sum) VALUES ($1, $2, $3, $4)
         ON CONFLICT (terminal_id, day) DO UPDATE
             SET count = EXCLUDED.count, sum = EXCLUDED.sum, read_at = now()",
    )
    .bind(terminal_id)
    .bind(day)
    .bind(totals.count)
    .bind(totals.sum)
    .execute(db)
    .await?;
    Ok(())
}

/// The board: each POS's last result for `day` (state, figures), by merchant and POS.
pub async fn board(pool: &PgPool, day: NaiveDate) -> Result<Vec<Reconciled>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        terminal_id: i64,
        terminal: String,
        merchant: Option<String>,
        state: String,
        pos_count: Option<i64>,
        pos_sum: Option<Money>,
        received_count: i64,
        received_sum: Money,
        ledger_count: i64,
        ledger_sum: Money,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.terminal_id, t.name AS terminal, m.name AS merchant, r.state, r.pos_count,
                r.pos_sum, r.received_count, r.received_sum, r.ledger_count, r.ledger_sum
         FROM pos_reconciliation r JOIN terminal t ON t.id = r.terminal_id
         LEFT JOIN merchant m ON m.id = t.merchant_id
         WHERE r.day = $1 ORDER BY m.name, t.name, t.id",
    )
    .bind(day)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Reconciled {
            terminal_id: r.terminal_id,
            terminal: r.terminal,
            merchant: r.merchant.unwrap_or_default(),
            day,
            state: r.state.parse().unwrap_or(ReconState::Difference),
            pos: r.pos_count.map(|count| Tally {
                count,
                sum: r.pos_sum.unwrap_or_default(),
            }),
            received: Tally {
                count: r.received_count,
                sum: r.received_sum,
            },
            ledger: Tally {
                count: r.ledger_count,
                sum: r.ledger_sum,
            },
            raised: None,
        })
        .collect())
}
