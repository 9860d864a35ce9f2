//! onecard RS-485 lines (POS, patrol readers, the desk reader) over a serial port, a PTY or a
//! serial-to-TCP converter: POLL each machine, READ_RECORDS from the bookmark, one transaction
//! per batch, ACK_RECORDS only after the commit. The ack frees the records, so extracting
//! everything is also what clears a machine.

mod auth;
mod chase;

use super::line::{
    count, garbled, local_now, millis, resolve, Ctx, LineDriver, PollError, Polled, Term,
    CLOCK_EVERY,
};
use crate::db::command::{CommandFailure, CommandOutcome, CommandResult, Feature, TerminalCommand};
use crate::db::ingest::{self, LineFault, PurchaseRow, Restart, ScanRow};
use crate::db::listen::CARD_CHANNEL;
use crate::db::propagation::{self, Holdings};
use crate::db::terminal::Line;
use crate::domain::money::Money;
use crate::terminal::native::frame::{MAX_FRAME, MIN_FRAME};
use crate::terminal::native::link::HOST_SLACK;
use crate::terminal::native::message::MAX_PURCHASES_PER_REPLY;
use crate::terminal::native::message::{
    Condition, PurchaseMode, PurchaseRecord, RecordBatch, Records,
};
use crate::terminal::native::{Bus, Heard, PollStatus, Table, Timing, TraceDir, TraceEntry};
use crate::terminal::transport::{self, Endpoint, LineConfig, Parity, StopBits};
use crate::terminal::TerminalError;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Extract-and-check rounds before clearing gives up on a machine that keeps recording.
const CLEAR_ROUNDS: usize = 3;
/// What a network adds to a reply's time (a serial-to-TCP converter, the LAN).
const NETWORK_SLACK: Duration = Duration::from_millis(50);
/// On a bus with a known speed, a batch holds no more records than this much wire time.
const BATCH_WIRE_TIME: Duration = Duration::from_secs(2);

pub(crate) struct NativeLine {
    endpoint: Endpoint,
    timing: Timing,
    bus: Option<Bus<transport::Line>>,
    trace_rx: Option<mpsc::Receiver<TraceEntry>>,
    table_version: u32,
    /// What each terminal's CLOCK_LOST and TABLES_MISSING made us do, by terminal id.
    acting: std::collections::HashMap<i64, Acting>,
    /// POLL replies a glance got, by machine number, for the visit that follows (a POLL
    /// reports a card once: it must not be asked twice).
    glanced: std::collections::HashMap<u8, PollStatus>,
}

/// Polls in a row a device reported a state we act on, and whether its fault is raised.
#[derive(Debug, Default)]
struct Acting {
    clock_lost: u32,
    clock_raised: bool,
    tables_missing: u32,
    tables_raised: bool,
    last_download: Option<Instant>,
}

/// Polls a state may outlast our acting on it before it is a fault.
const STATE_PATIENCE: u32 = 3;
/// Tables are sent again at most this often while a device still lacks them.
const TABLES_AGAIN: Duration = Duration::from_secs(60);

fn machine_no(t: &Term) -> Option<u8> {
    u8::try_from(t.row.address)
        .ok()
        .filter(|n| (1..=247).contains(n))
}

/// Record numbers must rise one by one from at least `from` and stay below `next_record`:
/// anything else is a device (or a line) that cannot be believed.
fn check(batch: &RecordBatch, from: u32) -> Result<(), String> {
    let numbers = batch.records.numbers();
    let mut prev: Option<u32> = None;
    for &n in &numbers {
        if n < from || n >= batch.next_record || prev.is_some_and(|p| n <= p) {
            return Err(format!(
                "records {numbers:?} read from {from} with next record {}",
                batch.next_record
            ));
        }
        prev = Some(n);
    }
    Ok(())
}

/// What reading records came to.
#[derive(Debug, Default)]
struct Drained {
    /// Records new to the database.
    inserted: u64,
    /// Records the machine still holds after the last batch (None: it sent none).
    waiting: Option<i64>,
    more: bool,
}

impl NativeLine {
    pub async fn open(line: &Line) -> Result<NativeLine, String> {
        let baud = line
            .baud
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| *b > 0);
        let serial = |path: &str, baud: u32| LineConfig {
            path: path.to_string(),
            baud,
            parity: match line.parity.as_str() {
                "even" => Parity::Even,
                "odd" => Parity::Odd,
                _ => Parity::None,
            },
            stop_bits: if line.stop_bits == 2 {
                StopBits::Two
            } else {
                StopBits::One
            },
        };
        let (endpoint, timing) = match line.transport.as_str() {
            "tcp" | "udp" => {
                let addr = resolve(&line.address, 4001).await?;
                // Behind a serial-to-Ethernet converter the bus keeps its speed: a line that
                // names it gets a serial line's timing, plus the network's slack.
                let timing = match baud {
                    Some(b) => Timing::serial(b, serial("", b).bits_per_char())
                        .with_slack(NETWORK_SLACK + HOST_SLACK),
                    None => Timing::network(NETWORK_SLACK),
                };
                let endpoint = if line.transport == "udp" {
                    Endpoint::Udp(addr)
                } else {
                    Endpoint::Tcp {
                        addr,
                        connect_timeout: Duration::from_secs(3),
                    }
                };
                (endpoint, timing)
            }
            "serial" => {
                let cfg = serial(&line.address, baud.unwrap_or(9600));
                let timing = Timing::serial(cfg.baud, cfg.bits_per_char());
                (Endpoint::Serial(cfg), timing)
            }
            other => return Err(format!("an RS-485 line is not reached over {other}")),
        };
        Ok(NativeLine {
            endpoint,
            timing,
            bus: None,
            trace_rx: None,
            table_version: 0,
            acting: Default::default(),
            glanced: Default::default(),
        })
    }

    /// Records per batch: the configured batch, but on a bus with a speed no more than the
    /// replies that fit [`BATCH_WIRE_TIME`] on the wire, so that a slow bus commits (and
    /// acks) often and a visit stays short.
    fn batch_size(&self, configured: usize) -> usize {
        let configured = configured.max(1);
        if self.timing.baud.is_none() {
            return configured;
        }
        let reply = self.timing.reply_timeout(MIN_FRAME + 5, MAX_FRAME);
        let replies = (BATCH_WIRE_TIME.as_millis() / reply.as_millis().max(1)).max(1);
        let fits = usize::try_from(replies).unwrap_or(1) * MAX_PURCHASES_PER_REPLY;
        configured.min(fits)
    }

    /// What the bus heard instead of a reply to the last exchange, as a poll error.
    fn fault(&self, error: TerminalError) -> PollError {
        let heard = match (&error, self.bus.as_ref().and_then(|b| b.last_heard())) {
            (TerminalError::Malformed(_), Some((_, heard))) => heard.clone(),
            _ => return error.into(),
        };
        let (fault, address) = match heard {
            Heard::Babbling { addr, frames } => (LineFault::Babbling { frames }, addr),
            Heard::BadCrc { addr, frames } => (LineFault::BadCrc { frames }, Some(addr)),
            Heard::Truncated { got, expected } => (
                LineFault::Truncated {
                    got: count(got),
                    expected: count(expected),
                },
                None,
            ),
            Heard::BadLength { addr, len } => {
                (LineFault::BadLength { len: count(len) }, Some(addr))
            }
            Heard::Noise { bytes } => (
                LineFault::Noise {
                    bytes: count(bytes),
                },
                None,
            ),
            Heard::OtherMachine { addr } => (LineFault::OtherAddress, Some(addr)),
        };
        PollError::Fault {
            error,
            fault,
            address: address.map(i64::from),
        }
    }

    async fn bus(&mut self) -> Result<&mut Bus<transport::Line>, TerminalError> {
        if self.bus.is_none() {
            let line = transport::open(&self.endpoint).await?;
            let mut bus = Bus::new(line, self.timing);
            let (tx, rx) = mpsc::channel(4096);
            bus.set_trace(Some(tx));
            self.bus = Some(bus);
            self.trace_rx = Some(rx);
        }
        self.bus
            .as_mut()
            .ok_or_else(|| TerminalError::Io(std::io::Error::other("line not open")))
    }

    /// Moves the bus's trace into the published trace; true when something that was not a
    /// good reply was heard (another machine's reply, a bad CRC).
    fn take_trace(&mut self, ctx: &mut Ctx) -> bool {
        let mut noise = false;
        if let Some(rx) = &mut self.trace_rx {
            while let Ok(e) = rx.try_recv() {
                if e.dir == TraceDir::Rx && matches!(e.note, "ignored" | "bad crc" | "garbled") {
                    noise = true;
                }
                if !e.bytes.is_empty() {
                    let dir = if e.dir == TraceDir::Tx { "tx" } else { "rx" };
                    let mut bytes = e.bytes;
                    Self::mask_pin(&mut bytes);
                    ctx.trace(dir, &bytes);
                }
            }
        }
        noise
    }

    /// Link counters since the last look, into the terminal's health.
    fn account(&mut self, t: &mut Term, addr: u8) -> Option<Duration> {
        let bus = self.bus.as_ref()?;
        let s = bus.stats(addr);
        let now = [s.retries, s.crc_errors, s.timeouts];
        for (i, v) in now.iter().enumerate() {
            let base = if *v < t.baseline[i] { 0 } else { t.baseline[i] };
            let d = i64::try_from(v - base).unwrap_or(0);
            match i {
                0 => t.delta.retries += d,
                1 => t.delta.crc_errors += d,
                // Whole-poll timeouts are counted by the actor; these are attempts.
                _ => t.delta.timeouts += d,
            }
        }
        t.baseline = now;
        s.last_rtt
    }

    async fn poll_inner(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
    ) -> Result<Polled, PollError> {
        let status = match self.glanced.remove(&addr) {
            Some(s) => s,
            None => self.bus().await?.poll(addr).await?,
        };
        let mut polled = Polled {
            memory_full: Some(status.conditions.has(Condition::MemoryFull)),
            waiting: Some(i64::from(status.stored)),
            ..Polled::default()
        };
        if let Some(card) = status.card {
            let payload = serde_json::json!({ "terminal": t.row.id, "card": card.card, "new": card.new_card });
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CARD_CHANNEL)
                .bind(payload.to_string())
                .execute(&ctx.pool)
                .await?;
        }
        polled.firmware = self.ready(ctx, t, addr).await?;
        if status.conditions.has(Condition::AuthPending) {
            self.answer_pending(ctx, t, addr).await?;
        }
        self.act_on_state(ctx, t, addr, status.conditions).await?;
        if t.last_clock.is_none_or(|c| c.elapsed() >= CLOCK_EVERY) {
            polled.drift_s = Some(self.measure_clock(ctx, t, addr).await?);
        }
        if status.stored == 0 && !status.conditions.has(Condition::RecordsPending) {
            return Ok(polled);
        }
        let batches = ctx.options.batches_per_visit;
        let d = self.drain(ctx, t, addr, Some(batches), 0).await?;
        if d.waiting.is_some() {
            polled.waiting = d.waiting;
        }
        if d.inserted > 0 && t.row.kind == "pos" {
            self.chase(ctx, t, addr).await?;
        }
        polled.more = d.more;
        Ok(polled)
    }

    /// Reads the machine's clock: its drift, seconds ahead of ours. A patrol reader's is
    /// written at once, before its records are read: its scans are corrected by the drift
    /// measured at that read (a docked reader's first extraction included), not by one
    /// the batched statistics would write later.
    async fn measure_clock(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
    ) -> Result<i64, PollError> {
        let theirs = self.bus().await?.get_time(addr).await?;
        let drift = (theirs - local_now()).num_seconds();
        t.last_clock = Some(Instant::now());
        if t.kind() == "patrol_reader" {
            ingest::note_clock_drift(&ctx.pool, t.row.id, drift).await?;
        }
        Ok(drift)
    }

    /// Identifies the machine when it is new to us (firmware, and a swap noticed), and says
    /// the bookmark again once after taking the line. Some(firmware) when identified now.
    async fn ready(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
    ) -> Result<Option<String>, PollError> {
        let mut firmware = None;
        if !t.identified {
            let info = self.bus().await?.get_info(addr).await?;
            firmware = Some(format!("{} {}", info.model, info.firmware));
            // Another machine at this address numbers its records anew; noticed before the
            // re-ack below, which would free its records unread.
            let serial = info.serial.to_string();
            let known = t.row.hardware_serial.clone();
            if known.is_empty() {
                ingest::note_hardware_serial(&ctx.pool, t.row.id, &serial).await?;
            } else if known != serial {
                let why = Restart::Swapped {
                    serial: serial.clone(),
                    was: known,
                };
                tracing::warn!(terminal = %t.row.name, "machine {addr} {why}");
                t.base = ingest::restart_numbering(&ctx.pool, t.row.id, why, Some(&serial)).await?;
            }
            t.row.hardware_serial = serial;
            t.identified = true;
        }
        if !t.acked_once {
            // A crash between our commit and the device's ack: say it again.
            if t.bookmark > t.base {
                let b = u32::try_from(t.bookmark - t.base).unwrap_or(u32::MAX);
                match self.bus().await?.ack_records(addr, b).await {
                    Ok(_) | Err(TerminalError::Refused(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            t.acked_once = true;
        }
        Ok(firmware)
    }

    /// Reads, stores and acks records from the bookmark on: at most `batches` batches, or all
    /// of them with progress against `total`.
    ///
    /// A reply holds at most 17 purchases or 24 scans, far fewer than a batch: replies are read
    /// until a batch's worth is in hand, stored in one transaction, then acked once. The
    /// per-transaction cost, not the wire, bounds ingest on a network line.
    async fn drain(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
        batches: Option<usize>,
        total: u64,
    ) -> Result<Drained, PollError> {
        let want = self.batch_size(ctx.options.batch);
        let max = u8::try_from(want.min(255)).unwrap_or(255);
        let mut out = Drained::default();
        let mut round = 0;
        let mut done = 0u64;
        while batches.is_none_or(|b| round < b.max(1)) {
            round += 1;
            let mut purchases: Vec<PurchaseRow> = Vec::new();
            let mut scans: Vec<ScanRow> = Vec::new();
            let mut last: Option<u32> = None;
            let mut next_record;
            loop {
                // The terminal's own numbers: onecard's less the base.
                let from = last.map_or_else(
                    || u32::try_from(t.bookmark - t.base + 1).unwrap_or(u32::MAX),
                    |l| l.saturating_add(1),
                );
                let batch = self.bus().await?.read_records(addr, from, max).await?;
                if last.is_none() && from > 1 && batch.next_record < from {
                    // Replaced or reset: it numbers from 1 again. Carry on after our records.
                    let why = Restart::CountsAgain {
                        newest: i64::from(batch.next_record) - 1,
                        collected: i64::from(from) - 1,
                    };
                    tracing::warn!(terminal = %t.row.name, "machine {addr} {why}");
                    // Swapped while we polled: its serial is noted now, or the next start
                    // would take it for a second swap.
                    let serial = match self.bus().await?.get_info(addr).await {
                        Ok(info) => Some(info.serial.to_string()),
                        Err(_) => None,
                    };
                    t.base = ingest::restart_numbering(&ctx.pool, t.row.id, why, serial.as_deref())
                        .await?;
                    if let Some(serial) = serial {
                        t.row.hardware_serial = serial;
                    }
                    continue;
                }
                check(&batch, from).map_err(|e| garbled(format!("machine {addr}: {e}")))?;
                next_record = batch.next_record;
                let Some(n) = batch.records.last_number() else {
                    break;
                };
                let first = batch.records.numbers().first().copied().unwrap_or(n);
                if last.is_none() && from > 1 && first > from {
                    // It answers from the oldest it holds: from..first-1 were overwritten
                    // before they were collected. One alarm and one gap, and on. (Before the
                    // first collection, records freed earlier were another host's to take.)
                    let (lost_from, lost_to) =
                        (t.base + i64::from(from), t.base + i64::from(first) - 1);
                    tracing::warn!(terminal = %t.row.name, lost_from, lost_to, "records overwritten before they were collected");
                    ingest::records_lost(&ctx.pool, t.row.id, lost_from, lost_to).await?;
                    t.bookmark = t.bookmark.max(lost_to);
                }
                match &batch.records {
                    Records::Purchases(v) if scans.is_empty() => {
                        purchases.extend(v.iter().map(|r| purchase_row(t.base, r)))
                    }
                    Records::Scans(v) if purchases.is_empty() => {
                        scans.extend(v.iter().map(|r| ScanRow {
                            record_no: t.base + i64::from(r.record_no),
                            guard_card: i64::from(r.guard),
                            checkpoint_tag: i64::from(r.checkpoint),
                            event: r.event as i16,
                            terminal_time: Some(r.at),
                        }))
                    }
                    // One kind per terminal; a reply of the other kind waits for the next batch.
                    _ => break,
                }
                last = Some(n);
                if purchases.len() + scans.len() >= want || n.saturating_add(1) >= next_record {
                    break;
                }
            }
            let Some(last) = last else {
                out.more = false;
                break;
            };
            let bookmark = Some(t.base + i64::from(last));
            let read = (purchases.len() + scans.len()) as u64;
            let stored = if purchases.is_empty() {
                ingest::store_scans(&ctx.pool, t.row.id, &scans, bookmark).await?
            } else {
                ingest::store_purchases(&ctx.pool, t.row.id, &purchases, bookmark).await?
            };
            ctx.stored(&stored);
            out.inserted += stored.inserted;
            t.bookmark = t.bookmark.max(t.base + i64::from(last));
            self.bus().await?.ack_records(addr, last).await?;
            out.waiting = Some(i64::from(next_record.saturating_sub(last + 1)));
            out.more = last.saturating_add(1) < next_record;
            if batches.is_none() {
                done += read;
                ctx.progress(done, total.max(done)).await;
            }
            if !out.more {
                break;
            }
        }
        Ok(out)
    }

    fn next_version(&mut self) -> u32 {
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(1);
        self.table_version = now.max(self.table_version.wrapping_add(1)).max(1);
        self.table_version
    }

    /// Downloads a whole table chunk by chunk, reporting progress.
    async fn table(
        &mut self,
        ctx: &mut Ctx,
        addr: u8,
        table: Table,
        entries: &[u32],
    ) -> Result<u32, TerminalError> {
        let version = self.next_version();
        let mut offset = 0;
        loop {
            let (p, next) = self
                .bus()
                .await?
                .download_chunk(addr, table, version, entries, offset)
                .await?;
            let Some(n) = next else {
                ctx.progress(entries.len() as u64, entries.len() as u64)
                    .await;
                return Ok(p.active.count);
            };
            offset = n;
            ctx.progress(offset as u64, entries.len() as u64).await;
        }
    }

    /// Everything the machine holds, stored; (records new to the database, records still
    /// held after).
    async fn extract(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
    ) -> Result<(u64, u32), PollError> {
        let held = self.bus().await?.poll(addr).await?.stored;
        self.ready(ctx, t, addr).await?;
        if t.kind() == "patrol_reader" && t.last_clock.is_none_or(|c| c.elapsed() >= CLOCK_EVERY) {
            self.measure_clock(ctx, t, addr).await?;
        }
        let d = self.drain(ctx, t, addr, None, u64::from(held)).await?;
        let left = self.bus().await?.poll(addr).await?.stored;
        Ok((d.inserted, left))
    }

    /// Outer error: the line or the database; inner: what the command came to.
    async fn run(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
        cmd: &TerminalCommand,
    ) -> Result<CommandResult, PollError> {
        let kind = t.kind().to_string();
        let unsupported = |what| Ok(Err(CommandFailure::Unsupported { what }));
        match cmd {
            TerminalCommand::OpenDoor { .. } | TerminalCommand::SetDoorMode { .. } => {
                unsupported(Feature::Door)
            }
            TerminalCommand::SetTime => {
                let now = local_now();
                self.bus().await?.set_time(addr, now).await?;
                t.last_clock = None;
                Ok(Ok(CommandOutcome::ClockSet { to: now }))
            }
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                let info = self.bus().await?.get_info(addr).await?;
                Ok(Ok(CommandOutcome::Online {
                    firmware: info.firmware,
                    model: Some(info.model),
                    serial: Some(info.serial.to_string()),
                    address: None,
                    records_held: Some(u64::from(
                        info.next_record.saturating_sub(info.first_unacked),
                    )),
                    rtt_ms: u32::try_from(millis(started)).unwrap_or(u32::MAX),
                }))
            }
            TerminalCommand::PushCards { cards } => {
                if kind != "patrol_reader" {
                    return unsupported(Feature::CardList);
                }
                let guards: Vec<u32> = cards.iter().map(|g| g.card).collect();
                let n = self.table(ctx, addr, Table::Guards, &guards).await?;
                Ok(Ok(CommandOutcome::CardsWritten {
                    written: n,
                    of: count(guards.len()),
                }))
            }
            TerminalCommand::RevokeCards { .. } => unsupported(Feature::CardRemoval),
            TerminalCommand::PushBlacklist { cards } => {
                if kind != "pos" {
                    return unsupported(Feature::Blacklist);
                }
                let n = self.table(ctx, addr, Table::Blacklist, cards).await?;
                Ok(Ok(CommandOutcome::BlacklistInstalled { cards: n }))
            }
            TerminalCommand::Extract => {
                let started = Instant::now();
                let (records, _) = self.extract(ctx, t, addr).await?;
                Ok(Ok(CommandOutcome::Extracted {
                    records,
                    millis: millis(started),
                }))
            }
            TerminalCommand::ClearRecords => {
                // The ack frees what was stored: clearing is extracting until nothing is left.
                let mut stored = 0;
                for _ in 0..CLEAR_ROUNDS {
                    let (n, left) = self.extract(ctx, t, addr).await?;
                    stored += n;
                    if left == 0 {
                        return Ok(Ok(CommandOutcome::RecordsCleared { stored }));
                    }
                }
                let left = self.bus().await?.poll(addr).await?.stored;
                Ok(Err(CommandFailure::RecordsNotStored {
                    waiting: u64::from(left),
                }))
            }
            TerminalCommand::DownloadCards => {
                let h = propagation::holdings(&ctx.pool, t.row.id).await?;
                if let Holdings::Patrol {
                    guards,
                    checkpoints,
                } = &h
                {
                    let g = self.table(ctx, addr, Table::Guards, guards).await?;
                    let c = self
                        .table(ctx, addr, Table::Checkpoints, checkpoints)
                        .await?;
                    return Ok(Ok(CommandOutcome::CardsDownloaded {
                        written: g + c,
                        unchanged: 0,
                        removed: 0,
                    }));
                }
                let Holdings::Blacklist(cards) = &h else {
                    return unsupported(Feature::Download);
                };
                let n = self.table(ctx, addr, Table::Blacklist, cards).await?;
                // What it may sell by itself while it cannot ask.
                let rules = crate::db::pos::offline_rules(&ctx.pool).await?;
                let fen = |m: crate::domain::money::Money| {
                    m.to_fen().and_then(|f| u32::try_from(f).ok()).unwrap_or(0)
                };
                let limits = crate::terminal::native::Limits {
                    per_purchase_fen: 0,
                    daily_count: 0,
                    pin_above_fen: fen(rules.pin_above),
                    offline_daily_fen: fen(rules.daily),
                };
                self.bus().await?.set_limits(addr, limits).await?;
                if let Some(id) = ctx.command_id() {
                    propagation::downloaded(&ctx.pool, t.row.id, id, &h).await?;
                }
                Ok(Ok(CommandOutcome::CardsDownloaded {
                    written: n,
                    unchanged: 0,
                    removed: 0,
                }))
            }
            TerminalCommand::DailyTotals { date } => self.daily_totals(ctx, t, addr, *date).await,
            TerminalCommand::ReadUsers => unsupported(Feature::UserList),
        }
    }

    /// DAILY_TOTALS: the POS's own count and sum of `date`, stored for reconciliation.
    async fn daily_totals(
        &mut self,
        ctx: &mut Ctx,
        t: &Term,
        addr: u8,
        date: chrono::NaiveDate,
    ) -> Result<CommandResult, PollError> {
        if t.kind() != "pos" {
            return Ok(Err(CommandFailure::Unsupported {
                what: Feature::DailyTotals,
            }));
        }
        let got = self.bus().await?.daily_totals(addr, date).await?;
        let totals = crate::db::reconcile::Tally {
            count: i64::from(got.count),
            sum: crate::domain::money::Money::from_fen(got.sum_fen),
        };
        crate::db::reconcile::store_daily_total(&ctx.pool, t.row.id, date, totals).await?;
        Ok(Ok(CommandOutcome::DailyTotalsRead {
            date,
            count: totals.count,
            sum: totals.sum,
        }))
    }
}

impl NativeLine {
    /// CLOCK_LOST: its clock is set at once. TABLES_MISSING: its tables are sent again (one
    /// download command, not again within [`TABLES_AGAIN`]). A state still there after
    /// [`STATE_PATIENCE`] polls of acting on it raises a fault, cleared when it goes.
    async fn act_on_state(
        &mut self,
        ctx: &mut Ctx,
        t: &Term,
        addr: u8,
        c: crate::terminal::native::message::Conditions,
    ) -> Result<(), PollError> {
        use crate::db::alarm::{self, NewAlarm};
        use crate::db::ingest::AlarmDetail;
        use crate::domain::alarm::AlarmKind;
        let clock_lost = c.has(Condition::ClockLost);
        let tables_missing = c.has(Condition::TablesMissing);
        if clock_lost {
            self.bus().await?.set_time(addr, local_now()).await?;
        }
        let a = self.acting.entry(t.row.id).or_default();
        a.clock_lost = if clock_lost { a.clock_lost + 1 } else { 0 };
        a.tables_missing = if tables_missing {
            a.tables_missing + 1
        } else {
            0
        };
        let send_tables =
            tables_missing && a.last_download.is_none_or(|d| d.elapsed() >= TABLES_AGAIN);
        if send_tables {
            a.last_download = Some(Instant::now());
        }
        let mut raise: Vec<(AlarmKind, bool, AlarmDetail)> = Vec::new();
        let clock_fault = a.clock_lost > STATE_PATIENCE;
        if clock_fault != a.clock_raised {
            a.clock_raised = clock_fault;
            raise.push((
                AlarmKind::ClockInvalid,
                clock_fault,
                AlarmDetail::ClockNotSet {
                    tries: a.clock_lost,
                },
            ));
        }
        let tables_fault = a.tables_missing > STATE_PATIENCE;
        if tables_fault != a.tables_raised {
            a.tables_raised = tables_fault;
            raise.push((
                AlarmKind::TablesMissing,
                tables_fault,
                AlarmDetail::TablesMissing {
                    tries: a.tables_missing,
                },
            ));
        }
        if send_tables {
            let queued: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM terminal_command WHERE terminal_id = $1
                   AND state IN ('queued', 'running') AND command->>'op' = 'download_cards')",
            )
            .bind(t.row.id)
            .fetch_one(&ctx.pool)
            .await?;
            if !queued {
                tracing::info!(terminal = %t.row.name, "tables missing: sent again");
                crate::db::command::enqueue(
                    &ctx.pool,
                    &crate::domain::permission::Actor::shell("serve"),
                    t.row.id,
                    &TerminalCommand::DownloadCards,
                )
                .await
                .map_err(|e| {
                    PollError::Db(match e {
                        crate::db::command::CommandError::Sql(e) => e,
                        // The service may do anything: never here.
                        other => sqlx::Error::Protocol(other.to_string()),
                    })
                })?;
            }
        }
        for (kind, on, detail) in raise {
            if on {
                tracing::warn!(terminal = %t.row.name, %kind, "{detail}");
                alarm::raise_fault(
                    &ctx.pool,
                    &NewAlarm {
                        kind,
                        terminal_id: Some(t.row.id),
                        door: None,
                        card: None,
                        detail: detail.to_json(),
                        late: false,
                    },
                )
                .await?;
            } else {
                alarm::clear_fault(&ctx.pool, t.row.id, kind).await?;
            }
        }
        Ok(())
    }
}

impl LineDriver for NativeLine {
    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let Some(addr) = machine_no(t) else {
            return Err(TerminalError::Refused(format!(
                "machine number {} is outside 1-247",
                t.row.address
            ))
            .into());
        };
        self.take_trace(ctx);
        let result = match self.poll_inner(ctx, t, addr).await {
            Err(PollError::Terminal {
                error: error @ TerminalError::Malformed(_),
                ..
            }) => Err(self.fault(error)),
            r => r,
        };
        let noise = self.take_trace(ctx);
        let rtt = self.account(t, addr);
        match result {
            Ok(mut p) => {
                p.rtt = rtt;
                Ok(p)
            }
            Err(PollError::Terminal { error, garbled }) => {
                if matches!(error, TerminalError::Io(_)) {
                    self.reset();
                }
                Err(PollError::Terminal {
                    error,
                    garbled: garbled || noise,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> CommandResult {
        let addr = machine_no(t).ok_or(CommandFailure::BadAddress {
            address: t.row.address,
        })?;
        let result = self.run(ctx, t, addr, cmd).await;
        self.take_trace(ctx);
        self.account(t, addr);
        if let Err(PollError::Terminal {
            error: TerminalError::Io(_),
            ..
        }) = &result
        {
            self.reset();
        }
        result?
    }

    fn reset(&mut self) {
        self.bus = None;
        self.trace_rx = None;
        self.glanced.clear();
    }

    /// A POS's POLL, and its authorisation answered at once; the reply is kept for its visit.
    async fn glance(&mut self, ctx: &mut Ctx, t: &mut Term) {
        let Some(addr) = machine_no(t).filter(|_| t.identified && t.kind() == "pos") else {
            return;
        };
        self.take_trace(ctx);
        let status = match self.bus().await {
            Ok(bus) => bus.poll(addr).await,
            Err(e) => Err(e),
        };
        if let Ok(mut status) = status {
            if status.conditions.has(Condition::AuthPending)
                && self.answer_pending(ctx, t, addr).await.is_ok()
            {
                status.conditions = status.conditions.with(Condition::AuthPending, false);
            }
            // A reply its visit has not used yet may hold a card: kept.
            if let Some(old) = self.glanced.remove(&addr) {
                status.card = status.card.or(old.card);
            }
            self.glanced.insert(addr, status);
        }
        self.take_trace(ctx);
    }
}

/// A POS's purchase record as onecard stores it: its record number in onecard's numbering.
fn purchase_row(base: i64, r: &PurchaseRecord) -> PurchaseRow {
    PurchaseRow {
        record_no: base + i64::from(r.record_no),
        card: i64::from(r.card),
        amount: Money::from_fen(i64::from(r.amount_fen)),
        balance_after: Money::from_fen(i64::from(r.balance_after_fen)),
        txn_no: i64::from(r.txn_no),
        meal_slot: i16::from(r.meal_slot),
        online: r.mode == PurchaseMode::Online,
        terminal_time: Some(r.at),
    }
}
