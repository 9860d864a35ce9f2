//! Store-and-forward ingest: a batch of records, its alarms and the terminal's new bookmark in
//! one transaction. Records are unique on (terminal, record number), so a retry, a
//! re-extraction or a crash between commit and the terminal's ack never counts twice.
//!
//! A batch is first written with a binary `COPY`: the bookmark means the rows are almost always
//! new, and the primary key is the only check that costs nothing extra (an anti-join probes the
//! key once more per row; `ON CONFLICT` costs half again as much and `INSERT ... UNNEST` parses
//! arrays and logs a WAL record per row). When the key refuses a row (a re-read after a crash
//! between commit and ack, the same record twice in one batch) the whole batch is rolled back
//! and written again with `INSERT ... ON CONFLICT DO NOTHING`.

use super::alarm::{self, NewAlarm};
use super::copy::{copy_in, Binary};
use super::notify::Change;
use crate::domain::alarm::AlarmKind;
use crate::domain::money::Money;
use crate::domain::settlement::Tally;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::fmt;

/// What an alarm raised by a terminal says, as data: stored as JSON in `alarm.detail`, worded
/// by the console in the reader's language ([`AlarmDetail::parse`]; [`fmt::Display`] gives
/// English for logs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlarmDetail {
    /// Raised by the terminal's record `record_no` (onecard's numbering).
    Record { record_no: i64 },
    /// The terminal stopped answering on line `line`.
    NoAnswer { line: String },
    /// The terminal's answers on line `line` are garbled: what was heard instead of a reply
    /// (`fault`), and the address it came from when known (`address`: on a shared bus, the
    /// device that babbles may not be the one asked).
    Garbled {
        line: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fault: Option<LineFault>,
    },
    /// Its clock is `secs` seconds off onecard's (negative: behind).
    ClockDrift { secs: i64 },
    /// Its record memory is full: it refuses new records.
    MemoryFull,
    /// Its record memory is `percent` full, past the alarm threshold: clear it (after
    /// extracting) before it refuses or overwrites records.
    MemoryNearlyFull { percent: u8 },
    /// Its record numbers began again (`why`); its records are stored after record `base`.
    Restarted { why: Restart, base: i64 },
    /// Its records `first..=last` (onecard's numbering) were overwritten before they were
    /// collected.
    RecordsLost { first: i64, last: i64 },
    /// An offline purchase of `amount` on card `card` took its holder's balance to `balance`
    /// (below zero).
    Overdrawn {
        card: i64,
        amount: Money,
        balance: Money,
    },
    /// A POS skipped transaction numbers `first..=last`, `missing` of them (a few may lie
    /// between and be known).
    TxnGap { first: i64, last: i64, missing: i64 },
    /// Punches after `after` and before `before` (the machine's clock) were overwritten before
    /// they were collected: an attendance log numbers nothing, so the span is in time.
    PunchesLost {
        after: NaiveDateTime,
        before: NaiveDateTime,
    },
    /// Its clock is not valid: it reads `reads` (None: nothing readable).
    ClockInvalid { reads: Option<String> },
    /// It says its clock was not set since power-up, after `tries` settings of it.
    ClockNotSet { tries: u32 },
    /// It says a table was never downloaded, after it was sent again `tries` times.
    TablesMissing { tries: u32 },
    /// It claims records up to `claimed` (its own numbering) with `collected` collected, which
    /// cannot be true (`why`): nothing more is stored from it until the claim is plausible.
    Implausible {
        claimed: i64,
        collected: i64,
        why: Implausible,
    },
    /// A POS has no totals of its own for `day` (it did not upload its day).
    NotUploaded { day: NaiveDate },
    /// A POS's three figures for `day` disagree: its own totals, the purchases received from
    /// it, the ledger's purchases for it.
    ReconciliationDifference {
        day: NaiveDate,
        pos: Tally,
        received: Tally,
        ledger: Tally,
    },
    /// Checkpoint `checkpoint` (`tag`) was due at `due` (site time) in `guard`'s round and
    /// is not scanned.
    PatrolOverdue {
        checkpoint: String,
        tag: i64,
        guard: String,
        due: NaiveDateTime,
    },
}

/// Why a terminal's claim of records cannot be true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Implausible {
    /// It still holds record `record`, older than a memory of `capacity` records can keep.
    Memory { record: i64, capacity: i64 },
    /// Its newest record grew by `grew` in `secs` seconds, faster than it can record.
    Rate { grew: i64, secs: u64 },
}

/// Why a terminal's record numbers are taken to have begun again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Restart {
    /// It counts from 1 again: its newest is `newest`, onecard had collected up to `collected`
    /// (both its own numbers).
    CountsAgain { newest: i64, collected: i64 },
    /// Its record `record` (its own number) is not the one onecard collected: reset or replaced.
    NotTheSame { record: i64 },
    /// Another machine answers at its address: serial `serial` where `was` was.
    Swapped { serial: String, was: String },
}

/// What a terminal sent instead of a sensible reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum LineFault {
    /// The line never went quiet: a device kept transmitting through whole exchanges
    /// (`frames` of its frames failed their CRC).
    Babbling { frames: u32 },
    /// `frames` frames failed their CRC.
    BadCrc { frames: u32 },
    /// A frame (packet) was cut short: `got` of `expected` bytes.
    Truncated { got: u32, expected: u32 },
    /// A length field no frame (packet) can have.
    BadLength { len: u32 },
    /// Bytes that were no frame (packet) at all.
    Noise { bytes: u32 },
    /// A reply from another address than the one asked.
    OtherAddress,
    /// A well-formed frame whose content is wrong (`detail`, in English).
    Invalid { detail: String },
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::Babbling { frames } => {
                write!(f, "never quiet ({frames} frames with a bad CRC)")
            }
            LineFault::BadCrc { frames } => write!(f, "{frames} frames with a bad CRC"),
            LineFault::Truncated { got, expected } => {
                write!(f, "a frame cut short ({got} of {expected} bytes)")
            }
            LineFault::BadLength { len } => write!(f, "a frame announcing {len} bytes"),
            LineFault::Noise { bytes } => write!(f, "{bytes} bytes of noise"),
            LineFault::OtherAddress => write!(f, "a reply from another address"),
            LineFault::Invalid { detail } => write!(f, "{detail}"),
        }
    }
}

impl AlarmDetail {
    /// The text stored in `alarm.detail`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored detail as data; None for free text (an alarm raised by hand, or by a newer
    /// onecard).
    pub fn parse(detail: &str) -> Option<AlarmDetail> {
        serde_json::from_str(detail).ok()
    }
}

impl fmt::Display for AlarmDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmDetail::Record { record_no } => write!(f, "record {record_no}"),
            AlarmDetail::NoAnswer { line } => write!(f, "no answer on line {line}"),
            AlarmDetail::Garbled {
                line,
                address,
                fault,
            } => {
                write!(f, "garbled answers on line {line}")?;
                if let Some(fault) = fault {
                    write!(f, ": {fault}")?;
                }
                if let Some(a) = address {
                    write!(f, " from address {a}")?;
                }
                Ok(())
            }
            AlarmDetail::ClockDrift { secs } => write!(
                f,
                "clock {} s {}",
                secs.abs(),
                if *secs < 0 { "behind" } else { "ahead" }
            ),
            AlarmDetail::MemoryFull => write!(f, "record memory full"),
            AlarmDetail::MemoryNearlyFull { percent } => {
                write!(f, "record memory {percent}% full")
            }
            AlarmDetail::Restarted { why, base } => {
                write!(f, "{why}; its records continue after record {base}")
            }
            AlarmDetail::RecordsLost { first, last } => write!(
                f,
                "records {first}-{last} ({}) overwritten before they were collected",
                last - first + 1
            ),
            AlarmDetail::Overdrawn {
                card,
                amount,
                balance,
            } => write!(
                f,
                "card {card}: an offline purchase of {amount} left the balance at {balance}"
            ),
            AlarmDetail::TxnGap {
                first,
                last,
                missing,
            } => write!(
                f,
                "transactions {first}-{last} missing ({missing}): chased, never guessed"
            ),
            AlarmDetail::PunchesLost { after, before } => write!(
                f,
                "punches after {after} and before {before} overwritten before they were collected"
            ),
            AlarmDetail::ClockInvalid { reads } => match reads {
                Some(r) => write!(f, "clock not valid: it reads {r}"),
                None => write!(f, "clock not valid: it reads no date"),
            },
            AlarmDetail::ClockNotSet { tries } => {
                write!(f, "its clock is still not set after {tries} settings")
            }
            AlarmDetail::TablesMissing { tries } => {
                write!(f, "a table is still missing after {tries} downloads")
            }
            AlarmDetail::Implausible {
                claimed,
                collected,
                why,
            } => write!(
                f,
                "claims records up to {claimed} with {collected} collected: {why}"
            ),
            AlarmDetail::NotUploaded { day } => write!(f, "no totals uploaded for {day}"),
            AlarmDetail::ReconciliationDifference {
                day,
                pos,
                received,
                ledger,
            } => write!(
                f,
                "{day}: the POS says {} for {}, {} for {} received, the ledger {} for {}",
                pos.count, pos.sum, received.count, received.sum, ledger.count, ledger.sum
            ),
            AlarmDetail::PatrolOverdue {
                checkpoint,
                tag,
                guard,
                due,
            } => write!(
                f,
                "checkpoint {checkpoint} ({tag}) due {} in {guard}'s round is not scanned",
                due.format("%Y-%m-%d %H:%M")
            ),
        }
    }
}

impl fmt::Display for Implausible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Implausible::Memory { record, capacity } => write!(
                f,
                "it still holds record {record}, older than its memory of {capacity} records keeps"
            ),
            Implausible::Rate { grew, secs } => {
                write!(
                    f,
                    "{grew} new records in {secs} s, faster than it can record"
                )
            }
        }
    }
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::CountsAgain { newest, collected } => write!(
                f,
                "counts its records from 1 again: its newest is {newest}, onecard had collected up to {collected}"
            ),
            Restart::NotTheSame { record } => write!(
                f,
                "reset or replaced: its record {record} is not the one onecard collected"
            ),
            Restart::Swapped { serial, was } => {
                write!(f, "swapped: serial {serial} where {was} was")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DoorEventRow {
    pub record_no: i64,
    pub door: i16,
    /// onecard's event kind, e.g. `granted`, `denied`, `forced_open`.
    pub kind: String,
    pub granted: bool,
    pub card: Option<i64>,
    pub reason: i16,
    pub terminal_time: Option<NaiveDateTime>,
    /// The alarm this event raises, if any.
    pub alarm: Option<AlarmKind>,
    /// `in` or `out` (the reader it was read at); None when the controller said neither.
    pub direction: Option<&'static str>,
    /// Stamped by a clock that was not valid: `terminal_time` is not when it happened.
    pub clock_invalid: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseRow {
    pub record_no: i64,
    pub card: i64,
    pub amount: Money,
    pub balance_after: Money,
    pub txn_no: i64,
    pub meal_slot: i16,
    pub online: bool,
    pub terminal_time: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanRow {
    pub record_no: i64,
    pub guard_card: i64,
    pub checkpoint_tag: i64,
    pub event: i16,
    pub terminal_time: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PunchRow {
    pub user_id: String,
    pub terminal_time: NaiveDateTime,
    pub verify: i16,
    pub state: i16,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Rows new to the database (the rest were already there).
    pub inserted: u64,
    pub alarms: Vec<i64>,
}

/// How a batch keeps out rows already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dedup {
    /// `COPY` every row in: the fastest way in; a duplicate fails the batch.
    Copy,
    /// `INSERT ... ON CONFLICT DO NOTHING`: never fails on a duplicate, but slower.
    OnConflict,
}

/// `INSERT INTO {table} ({columns}) SELECT $1, u.* FROM {from} ON CONFLICT DO NOTHING`.
fn on_conflict(table: &str, columns: &str, from: &str, returning: &str) -> String {
    format!(
        "INSERT INTO {table} ({columns}) SELECT $1, u.* FROM {from} ON CONFLICT DO NOTHING {returning}"
    )
}

/// Runs a batch the fast way and, if it met a duplicate, again the safe way.
async fn idempotent<T, F, Fut>(attempt: F) -> Result<T, sqlx::Error>
where
    F: Fn(Dedup) -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    match attempt(Dedup::Copy).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            attempt(Dedup::OnConflict).await
        }
        other => other,
    }
}

/// Moves the bookmark forward only: a late, smaller batch never rewinds it.
async fn advance(
    tx: &mut sqlx::PgConnection,
    terminal_id: i64,
    bookmark: Option<i64>,
) -> Result<(), sqlx::Error> {
    if let Some(b) = bookmark {
        sqlx::query("UPDATE terminal SET bookmark = greatest(bookmark, $2) WHERE id = $1")
            .bind(terminal_id)
            .bind(b)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// First key of every line's advisory lock (the second is the line id): "ocln". The poller
/// takes it; the ingest checks it ([`as_owner`]).
pub const LINE_LOCK_CLASS: i32 = 0x6F63_6C6E;

tokio::task_local! {
    /// The line a poller's actor task owns, and the backend whose session holds its lock.
    static OWNER: (i64, i32);
}

/// Runs `f` (a line actor) as the owner of `line_id` through the lock held by backend
/// `backend_pid`: every batch it stores first checks that this session still holds the lock,
/// so an owner fenced while frozen stores nothing when it wakes (and, storing nothing, tells
/// its terminals nothing is stored).
pub async fn as_owner<F: std::future::Future>(line_id: i64, backend_pid: i32, f: F) -> F::Output {
    OWNER.scope((line_id, backend_pid), f).await
}

/// Err when this task stores as a line's owner (see [`as_owner`]) that lost the line's lock.
async fn still_owner(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    let Ok((line_id, pid)) = OWNER.try_with(|o| *o) else {
        return Ok(());
    };
    let held: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
             AND classid = $1::int4::oid AND objid::int8 = $2 AND objsubid = 2 AND granted
             AND pid = $3
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
    )
    .bind(LINE_LOCK_CLASS)
    .bind(line_id)
    .bind(pid)
    .fetch_one(&mut *tx)
    .await?;
    if held {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!(
            "line {line_id} is no longer ours (its lock was taken): nothing stored"
        )))
    }
}

/// The setting naming how old (seconds) an event may be when collected and still count as live:
/// older ones are late, whatever the reason they waited (the terminal offline, `serve` down).
pub const LATE_AFTER_KEY: &str = "alarm.late_after_s";
/// [`LATE_AFTER_KEY`] when unset: five minutes.
pub const LATE_AFTER_DEFAULT_S: i64 = 300;

/// Which of `rows` are late: all when `late` (replayed from a terminal that was offline), else
/// those whose terminal time is older than the grace period when collected, measured on the
/// terminal's own clock (`clock_drift_s`). A row without a time (or stamped by an invalid
/// clock) takes its place in the backlog: it is older than every row after it, so late when one of them is.
async fn classify_late(
    tx: &mut sqlx::PgConnection,
    terminal_id: i64,
    rows: &[DoorEventRow],
    late: bool,
) -> Result<Vec<bool>, sqlx::Error> {
    if late {
        return Ok(vec![true; rows.len()]);
    }
    let (drift_s, grace): (i64, Option<serde_json::Value>) = sqlx::query_as(
        "SELECT coalesce(clock_drift_s, 0)::int8, (SELECT value FROM setting WHERE key = $2)
         FROM terminal WHERE id = $1",
    )
    .bind(terminal_id)
    .bind(LATE_AFTER_KEY)
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or((0, None));
    let grace_s = grace
        .and_then(|v| v.as_i64())
        .filter(|&g| g >= 0)
        .unwrap_or(LATE_AFTER_DEFAULT_S);
    // Terminal clocks show the site's wall time.
    let terminal_now = crate::domain::time::now() + chrono::Duration::seconds(drift_s);
    let cutoff = terminal_now - chrono::Duration::seconds(grace_s);
    let mut out = vec![false; rows.len()];
    let mut later_is_late = false;
    for (i, r) in rows.iter().enumerate().rev() {
        // A time from a clock known to be wrong says nothing of age: its place does.
        out[i] = match r.terminal_time.filter(|_| !r.clock_invalid) {
            Some(t) => t < cutoff,
            None => later_is_late,
        };
        later_is_late |= out[i];
    }
    Ok(out)
}

/// Door events. `late`: replayed from a terminal that was offline. Besides, an event older
/// than the grace period ([`LATE_AFTER_KEY`]) when collected is late. Late alarms never ring.
pub async fn store_door_events(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[DoorEventRow],
    bookmark: Option<i64>,
    late: bool,
) -> Result<Stored, sqlx::Error> {
    idempotent(|dedup| door_events_once(pool, terminal_id, rows, bookmark, late, dedup)).await
}

async fn door_events_once(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[DoorEventRow],
    bookmark: Option<i64>,
    late: bool,
    dedup: Dedup,
) -> Result<Stored, sqlx::Error> {
    const COLUMNS: &str =
        "terminal_id, record_no, door, kind, granted, card, reason, terminal_time, late, direction, clock_invalid";
    let mut tx = pool.begin().await?;
    let lateness = classify_late(&mut tx, terminal_id, rows, late).await?;
    let mut fresh: std::collections::HashSet<i64> = match dedup {
        Dedup::Copy => {
            let mut b = Binary::new(rows.len(), 100);
            for (r, &late) in rows.iter().zip(&lateness) {
                let row = b
                    .row(11)
                    .i64(terminal_id)
                    .i64(r.record_no)
                    .i16(r.door)
                    .text(&r.kind)
                    .bool(r.granted)
                    .opt_i64(r.card)
                    .i16(r.reason)
                    .timestamp(r.terminal_time)
                    .bool(late);
                match r.direction {
                    Some(d) => row.text(d),
                    None => row.null(),
                }
                .bool(r.clock_invalid);
            }
            copy_in(&mut tx, "door_event", COLUMNS, b).await?;
            // Every row went in, or none did.
            rows.iter().map(|r| r.record_no).collect()
        }
        Dedup::OnConflict => sqlx::query_scalar(&on_conflict(
            "door_event",
            COLUMNS,
            "unnest($2::bigint[], $3::smallint[], $4::text[], $5::bool[], $6::bigint[], $7::smallint[], $8::timestamp[], $9::bool[], $10::text[], $11::bool[])
             AS u(record_no, door, kind, granted, card, reason, terminal_time, late, direction, clock_invalid)",
            "RETURNING record_no",
        ))
        .bind(terminal_id)
        .bind(rows.iter().map(|r| r.record_no).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.door).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.kind.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.granted).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.card).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.reason).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.terminal_time).collect::<Vec<_>>())
        .bind(&lateness)
        .bind(rows.iter().map(|r| r.direction).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.clock_invalid).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect(),
    };
    let inserted = fresh.len() as u64;
    let mut alarms = Vec::new();
    // Only a record stored now raises its alarm, once: a re-read one raised it the first time.
    for (r, &late) in rows
        .iter()
        .zip(&lateness)
        .filter(|(r, _)| r.alarm.is_some() && fresh.remove(&r.record_no))
    {
        let Some(kind) = r.alarm else { continue };
        let new = NewAlarm {
            kind,
            terminal_id: Some(terminal_id),
            door: Some(r.door),
            card: r.card,
            detail: AlarmDetail::Record {
                record_no: r.record_no,
            }
            .to_json(),
            late,
        };
        if let Some(id) = alarm::raise(&mut tx, &new).await? {
            alarms.push(id);
        }
    }
    advance(&mut tx, terminal_id, bookmark).await?;
    finish(tx, terminal_id, "door_event", inserted, alarms).await
}

pub async fn store_purchases(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[PurchaseRow],
    bookmark: Option<i64>,
) -> Result<Stored, sqlx::Error> {
    idempotent(|dedup| purchases_once(pool, terminal_id, rows, bookmark, dedup)).await
}

async fn purchases_once(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[PurchaseRow],
    bookmark: Option<i64>,
    dedup: Dedup,
) -> Result<Stored, sqlx::Error> {
    const COLUMNS: &str = "terminal_id, record_no, card, amount, balance_after, txn_no, meal_slot, online, terminal_time, txn_epoch";
    let mut tx = pool.begin().await?;
    // The numbering the records were made in: they are posted in it (`db::pos`).
    let epoch = super::pos::txn_epoch(&mut *tx, terminal_id).await?;
    let n = match dedup {
        Dedup::Copy => {
            let mut b = Binary::new(rows.len(), 110);
            for r in rows {
                b.row(10)
                    .i64(terminal_id)
                    .i64(r.record_no)
                    .i64(r.card)
                    .numeric(r.amount.as_decimal())
                    .numeric(r.balance_after.as_decimal())
                    .i64(r.txn_no)
                    .i16(r.meal_slot)
                    .bool(r.online)
                    .timestamp(r.terminal_time)
                    .i64(epoch);
            }
            copy_in(&mut tx, "pos_purchase", COLUMNS, b).await?
        }
        Dedup::OnConflict => sqlx::query(&on_conflict(
            "pos_purchase",
            COLUMNS,
            "unnest($2::bigint[], $3::bigint[], $4::numeric[], $5::numeric[], $6::bigint[], $7::smallint[], $8::bool[], $9::timestamp[],
                    array_fill($10::bigint, ARRAY[cardinality($2::bigint[])]))
             AS u(record_no, card, amount, balance_after, txn_no, meal_slot, online, terminal_time, txn_epoch)",
            "",
        ))
        .bind(terminal_id)
        .bind(rows.iter().map(|r| r.record_no).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.card).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.balance_after).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.txn_no).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.meal_slot).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.online).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.terminal_time).collect::<Vec<_>>())
        .bind(epoch)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    let uploaded: Vec<super::pos::Uploaded> = rows
        .iter()
        .map(|r| super::pos::Uploaded {
            card: r.card,
            amount: r.amount,
            txn_no: r.txn_no,
        })
        .collect();
    let alarms = super::pos::post_uploaded(&mut tx, terminal_id, epoch, &uploaded).await?;
    advance(&mut tx, terminal_id, bookmark).await?;
    finish(tx, terminal_id, "pos_purchase", n, alarms).await
}

pub async fn store_scans(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[ScanRow],
    bookmark: Option<i64>,
) -> Result<Stored, sqlx::Error> {
    idempotent(|dedup| scans_once(pool, terminal_id, rows, bookmark, dedup)).await
}

async fn scans_once(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[ScanRow],
    bookmark: Option<i64>,
    dedup: Dedup,
) -> Result<Stored, sqlx::Error> {
    const COLUMNS: &str =
        "terminal_id, record_no, guard_card, checkpoint_tag, event, terminal_time";
    let mut tx = pool.begin().await?;
    let n = match dedup {
        Dedup::Copy => {
            let mut b = Binary::new(rows.len(), 70);
            for r in rows {
                b.row(6)
                    .i64(terminal_id)
                    .i64(r.record_no)
                    .i64(r.guard_card)
                    .i64(r.checkpoint_tag)
                    .i16(r.event)
                    .timestamp(r.terminal_time);
            }
            copy_in(&mut tx, "patrol_scan", COLUMNS, b).await?
        }
        Dedup::OnConflict => sqlx::query(&on_conflict(
            "patrol_scan",
            COLUMNS,
            "unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::smallint[], $6::timestamp[])
             AS u(record_no, guard_card, checkpoint_tag, event, terminal_time)",
            "",
        ))
        .bind(terminal_id)
        .bind(rows.iter().map(|r| r.record_no).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.guard_card).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.checkpoint_tag).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.event).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.terminal_time).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    advance(&mut tx, terminal_id, bookmark).await?;
    finish(tx, terminal_id, "patrol_scan", n, Vec::new()).await
}

/// Punches have no record number: the same user at the same second is the same punch.
pub async fn store_punches(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[PunchRow],
) -> Result<Stored, sqlx::Error> {
    idempotent(|dedup| punches_once(pool, terminal_id, rows, dedup)).await
}

async fn punches_once(
    pool: &PgPool,
    terminal_id: i64,
    rows: &[PunchRow],
    dedup: Dedup,
) -> Result<Stored, sqlx::Error> {
    const COLUMNS: &str = "terminal_id, user_id, terminal_time, verify, state";
    let mut tx = pool.begin().await?;
    let n = match dedup {
        Dedup::Copy => {
            let mut b = Binary::new(rows.len(), 60);
            for r in rows {
                b.row(5)
                    .i64(terminal_id)
                    .text(&r.user_id)
                    .timestamp(Some(r.terminal_time))
                    .i16(r.verify)
                    .i16(r.state);
            }
            copy_in(&mut tx, "punch", COLUMNS, b).await?
        }
        Dedup::OnConflict => insert_punches(&mut tx, terminal_id, rows).await?,
    };
    finish(tx, terminal_id, "punch", n, Vec::new()).await
}

/// Stores punches in the caller's transaction, keeping out those stored already (an import
/// of a machine's file writes its audit row in the same transaction). Returns how many were
/// new.
pub async fn insert_punches(
    tx: &mut sqlx::PgConnection,
    terminal_id: i64,
    rows: &[PunchRow],
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(&on_conflict(
        "punch",
        "terminal_id, user_id, terminal_time, verify, state",
        "unnest($2::text[], $3::timestamp[], $4::smallint[], $5::smallint[])
         AS u(user_id, terminal_time, verify, state)",
        "",
    ))
    .bind(terminal_id)
    .bind(rows.iter().map(|r| r.user_id.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.terminal_time).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.verify).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.state).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    terminal_id: i64,
    table: &str,
    inserted: u64,
    alarms: Vec<i64>,
) -> Result<Stored, sqlx::Error> {
    still_owner(&mut tx).await?;
    if inserted > 0 || !alarms.is_empty() {
        Change {
            alarm: alarms.clone(),
            terminal: vec![terminal_id],
            records: if inserted > 0 {
                vec![table.to_string()]
            } else {
                vec![]
            },
            ..Change::default()
        }
        .send(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Stored { inserted, alarms })
}

/// Records `first..=last` (onecard's numbering) of a terminal were overwritten before they were
/// collected: the gap is recorded for reports, one `records_lost` alarm names the range, and
/// the bookmark moves past it, all in one transaction. A gap recorded already (a retry after
/// a crash) raises nothing again. Returns the alarm raised, if any.
pub async fn records_lost(
    pool: &PgPool,
    terminal_id: i64,
    first: i64,
    last: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let new: Option<i64> = sqlx::query_scalar(
        "INSERT INTO record_gap (terminal_id, first_record, last_record, reason)
         VALUES ($1, $2, $3, 'overwritten') ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(terminal_id)
    .bind(first)
    .bind(last)
    .fetch_optional(&mut *tx)
    .await?;
    advance(&mut tx, terminal_id, Some(last)).await?;
    gap_noted(
        tx,
        terminal_id,
        new,
        AlarmDetail::RecordsLost { first, last },
    )
    .await
}

/// Raises `records_lost` for a gap just recorded (`new`), tells the consoles and commits.
async fn gap_noted(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    terminal_id: i64,
    new: Option<i64>,
    detail: AlarmDetail,
) -> Result<Option<i64>, sqlx::Error> {
    let mut alarms = Vec::new();
    if new.is_some() {
        let a = NewAlarm {
            kind: AlarmKind::RecordsLost,
            terminal_id: Some(terminal_id),
            door: None,
            card: None,
            detail: detail.to_json(),
            late: false,
        };
        alarms.extend(alarm::raise(&mut tx, &a).await?);
    }
    Change {
        alarm: alarms.clone(),
        terminal: vec![terminal_id],
        ..Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(alarms.first().copied())
}

/// Punches an attendance machine held after `after` and before `before` (its clock) were
/// overwritten before they were collected: the gap is recorded and one `records_lost` alarm
/// names the span, in one transaction; a span recorded already raises nothing again. Returns
/// the alarm raised, if any.
pub async fn punches_lost(
    pool: &PgPool,
    terminal_id: i64,
    after: NaiveDateTime,
    before: NaiveDateTime,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let new: Option<i64> = sqlx::query_scalar(
        "INSERT INTO record_gap (terminal_id, lost_after, lost_before, reason)
         VALUES ($1, $2, $3, 'overwritten') ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(terminal_id)
    .bind(after)
    .bind(before)
    .fetch_optional(&mut *tx)
    .await?;
    gap_noted(
        tx,
        terminal_id,
        new,
        AlarmDetail::PunchesLost { after, before },
    )
    .await
}

/// A gap in a terminal's records, lost before they were collected: record numbers
/// `first..=last`, or for an attendance machine the span between two times of its clock.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordGap {
    pub terminal_id: i64,
    pub first_record: Option<i64>,
    pub last_record: Option<i64>,
    pub lost_after: Option<NaiveDateTime>,
    pub lost_before: Option<NaiveDateTime>,
    pub detected_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// A terminal's gaps, oldest first (every terminal's with None).
pub async fn record_gaps(
    pool: &PgPool,
    terminal_id: Option<i64>,
) -> Result<Vec<RecordGap>, sqlx::Error> {
    sqlx::query_as(
        "SELECT terminal_id, first_record, last_record, lost_after, lost_before, detected_at,
                reason
         FROM record_gap WHERE $1::bigint IS NULL OR terminal_id = $1
         ORDER BY terminal_id, detected_at, id",
    )
    .bind(terminal_id)
    .fetch_all(pool)
    .await
}

/// The serial number a terminal first reported of itself.
pub async fn note_hardware_serial(
    pool: &PgPool,
    terminal_id: i64,
    serial: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE terminal SET hardware_serial = $2 WHERE id = $1")
        .bind(terminal_id)
        .bind(serial)
        .execute(pool)
        .await?;
    Ok(())
}

/// A terminal's clock drift (seconds ahead of the site's), as just measured.
pub async fn note_clock_drift(
    pool: &PgPool,
    terminal_id: i64,
    drift_s: i64,
) -> Result<(), sqlx::Error> {
    let drift = i32::try_from(drift_s).unwrap_or(if drift_s < 0 { i32::MIN } else { i32::MAX });
    sqlx::query("UPDATE terminal SET clock_drift_s = $2 WHERE id = $1")
        .bind(terminal_id)
        .bind(drift)
        .execute(pool)
        .await?;
    Ok(())
}

/// A terminal's own record numbers began again (reset to factory settings, or swapped): from
/// now on its record n is stored as `bookmark + n`, so nothing new collides with what is
/// stored. Raises `event_log_restarted` in the same transaction. Returns the new base.
pub async fn restart_numbering(
    pool: &PgPool,
    terminal_id: i64,
    why: Restart,
    hardware_serial: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let base: i64 = sqlx::query_scalar(
        "UPDATE terminal SET record_base = bookmark, hardware_serial = coalesce($2, hardware_serial)
         WHERE id = $1 RETURNING record_base",
    )
    .bind(terminal_id)
    .bind(hardware_serial)
    .fetch_one(&mut *tx)
    .await?;
    let new = NewAlarm {
        kind: AlarmKind::EventLogRestarted,
        terminal_id: Some(terminal_id),
        door: None,
        card: None,
        detail: AlarmDetail::Restarted { why, base }.to_json(),
        late: false,
    };
    let alarms: Vec<i64> = alarm::raise(&mut tx, &new).await?.into_iter().collect();
    Change {
        alarm: alarms,
        terminal: vec![terminal_id],
        ..Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the console parses: a tag, numbers and names, never a sentence.
    #[test]
    fn alarm_details_are_tagged_data() {
        let d = AlarmDetail::Restarted {
            why: Restart::CountsAgain {
                newest: 2,
                collected: 3,
            },
            base: 3,
        };
        assert_eq!(
            d.to_json(),
            r#"{"kind":"restarted","why":{"kind":"counts_again","newest":2,"collected":3},"base":3}"#
        );
        assert_eq!(AlarmDetail::parse(&d.to_json()), Some(d));
        assert_eq!(
            AlarmDetail::ClockDrift { secs: -95 }.to_string(),
            "clock 95 s behind"
        );
        // Free text (an alarm raised by hand) is not data.
        assert_eq!(AlarmDetail::parse("door 2 opened without a swipe"), None);
    }
}
