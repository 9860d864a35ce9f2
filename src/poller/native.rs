//! onecard RS-485 lines (POS, patrol readers, the desk reader) over a serial port, a PTY or a
//! serial-to-TCP converter: POLL each machine, READ_RECORDS from the bookmark, one transaction
//! per batch, ACK_RECORDS only after the commit.

use super::actor::{garbled, local_now, said, Ctx, PollError, Polled, Term, CLOCK_EVERY};
use super::CARD_CHANNEL;
use crate::db::command::TerminalCommand;
use crate::db::ingest::{self, PurchaseRow, ScanRow};
use crate::db::terminal::Line;
use crate::terminal::native::message::{
    fen_to_yuan, Condition, PurchaseMode, RecordBatch, Records,
};
use crate::terminal::native::{Bus, Table, Timing, TraceDir, TraceEntry};
use crate::terminal::transport::{self, Endpoint, LineConfig, Parity, StopBits};
use crate::terminal::TerminalError;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(crate) struct NativeLine {
    endpoint: Endpoint,
    timing: Timing,
    bus: Option<Bus<transport::Line>>,
    trace_rx: Option<mpsc::Receiver<TraceEntry>>,
    table_version: u32,
}

fn machine_no(t: &Term) -> Result<u8, PollError> {
    u8::try_from(t.row.address)
        .ok()
        .filter(|n| (1..=247).contains(n))
        .ok_or_else(|| {
            PollError::from(TerminalError::Refused(format!(
                "machine number {} is outside 1-247",
                t.row.address
            )))
        })
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

impl NativeLine {
    pub async fn open(line: &Line) -> Result<NativeLine, String> {
        let (endpoint, timing) = match line.transport.as_str() {
            "tcp" => {
                let addr = super::uhppote::resolve(&line.address, 4001).await?;
                (
                    Endpoint::Tcp {
                        addr,
                        connect_timeout: Duration::from_secs(3),
                    },
                    Timing::network(Duration::from_millis(50)),
                )
            }
            "serial" => {
                let cfg = LineConfig {
                    path: line.address.clone(),
                    baud: line
                        .baud
                        .and_then(|b| u32::try_from(b).ok())
                        .unwrap_or(9600),
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
        })
    }

    pub fn reset(&mut self) {
        self.bus = None;
        self.trace_rx = None;
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
    fn drain(&mut self, ctx: &mut Ctx) -> bool {
        let mut noise = false;
        if let Some(rx) = &mut self.trace_rx {
            while let Ok(e) = rx.try_recv() {
                if e.dir == TraceDir::Rx && matches!(e.note, "ignored" | "bad crc") {
                    noise = true;
                }
                if !e.bytes.is_empty() {
                    let dir = if e.dir == TraceDir::Tx { "tx" } else { "rx" };
                    ctx.trace(dir, &e.bytes);
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

    pub async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let addr = machine_no(t)?;
        self.drain(ctx);
        let result = self.poll_inner(ctx, t, addr).await;
        let noise = self.drain(ctx);
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

    async fn poll_inner(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        addr: u8,
    ) -> Result<Polled, PollError> {
        let bus = self.bus().await?;
        let status = bus.poll(addr).await?;
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
        if !t.identified {
            let info = bus.get_info(addr).await?;
            polled.firmware = Some(format!("{} {}", info.model, info.firmware));
            // Another machine at this address numbers its records anew; noticed before the
            // re-ack below, which would free its records unread.
            let serial = info.serial.to_string();
            let known = t.row.hardware_serial.clone();
            if known.is_empty() {
                ingest::note_hardware_serial(&ctx.pool, t.row.id, &serial).await?;
            } else if known != serial {
                let why = format!("machine {addr} was swapped: serial {serial} where {known} was");
                tracing::warn!(terminal = %t.row.name, "{why}");
                t.base =
                    ingest::restart_numbering(&ctx.pool, t.row.id, &why, Some(&serial)).await?;
            }
            t.row.hardware_serial = serial;
            t.identified = true;
        }
        if t.last_clock.is_none_or(|c| c.elapsed() >= CLOCK_EVERY) {
            let theirs = bus.get_time(addr).await?;
            polled.drift_s = Some((theirs - local_now()).num_seconds());
            t.last_clock = Some(Instant::now());
        }
        if !t.acked_once {
            // A crash between our commit and the device's ack: say it again.
            if t.bookmark > t.base {
                let b = u32::try_from(t.bookmark - t.base).unwrap_or(u32::MAX);
                match bus.ack_records(addr, b).await {
                    Ok(_) | Err(TerminalError::Refused(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            t.acked_once = true;
        }
        if status.stored == 0 && !status.conditions.has(Condition::RecordsPending) {
            return Ok(polled);
        }
        // A reply holds at most 17 purchases or 24 scans, far fewer than a batch: read replies
        // until a batch's worth is in hand, store them in one transaction, then ack once. The
        // per-transaction cost, not the wire, bounds ingest on a network line.
        let want = ctx.options.batch.max(1);
        let max = u8::try_from(want.min(255)).unwrap_or(255);
        for _ in 0..ctx.options.batches_per_visit.max(1) {
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
                let batch = bus.read_records(addr, from, max).await?;
                if last.is_none() && from > 1 && batch.next_record < from {
                    // Replaced or reset: it numbers from 1 again. Carry on after our records.
                    let why = format!(
                        "machine {addr} counts its records from 1 again: its next is {}, onecard had collected up to {}",
                        batch.next_record,
                        from - 1
                    );
                    tracing::warn!(terminal = %t.row.name, "{why}");
                    t.base = ingest::restart_numbering(&ctx.pool, t.row.id, &why, None).await?;
                    continue;
                }
                check(&batch, from).map_err(|e| garbled(format!("machine {addr}: {e}")))?;
                next_record = batch.next_record;
                let Some(n) = batch.records.last_number() else {
                    break;
                };
                match &batch.records {
                    Records::Purchases(v) if scans.is_empty() => {
                        purchases.extend(v.iter().map(|r| PurchaseRow {
                            record_no: t.base + i64::from(r.record_no),
                            card: i64::from(r.card),
                            amount: fen_to_yuan(i64::from(r.amount_fen)),
                            balance_after: fen_to_yuan(i64::from(r.balance_after_fen)),
                            txn_no: i64::from(r.txn_no),
                            meal_slot: i16::from(r.meal_slot),
                            online: r.mode == PurchaseMode::Online,
                            terminal_time: Some(r.at),
                        }))
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
                polled.more = false;
                break;
            };
            let bookmark = Some(t.base + i64::from(last));
            let stored = if purchases.is_empty() {
                ingest::store_scans(&ctx.pool, t.row.id, &scans, bookmark).await?
            } else {
                ingest::store_purchases(&ctx.pool, t.row.id, &purchases, bookmark).await?
            };
            ctx.stored(&stored);
            t.bookmark = t.bookmark.max(t.base + i64::from(last));
            bus.ack_records(addr, last).await?;
            polled.waiting = Some(i64::from(next_record.saturating_sub(last + 1)));
            polled.more = last.saturating_add(1) < next_record;
            if !polled.more {
                break;
            }
        }
        Ok(polled)
    }

    fn next_version(&mut self) -> u32 {
        let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(1);
        self.table_version = now.max(self.table_version.wrapping_add(1)).max(1);
        self.table_version
    }

    pub async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<String, String> {
        let addr = machine_no(t)
            .map_err(|_| format!("machine number {} is outside 1-247", t.row.address))?;
        let kind = t.kind().to_string();
        let version = self.next_version();
        let result = self.execute_inner(t, addr, &kind, version, cmd).await;
        self.drain(ctx);
        self.account(t, addr);
        if let Err(TerminalError::Io(_)) = &result {
            self.reset();
        }
        match result {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(s)) => Err(s),
            Err(e) => Err(said(&e)),
        }
    }

    /// Outer error: the line; inner: the command makes no sense for this terminal.
    async fn execute_inner(
        &mut self,
        t: &mut Term,
        addr: u8,
        kind: &str,
        version: u32,
        cmd: &TerminalCommand,
    ) -> Result<Result<String, String>, TerminalError> {
        let no_door = || Ok(Err(format!("a {kind} on an RS-485 line has no door")));
        match cmd {
            TerminalCommand::OpenDoor { .. } | TerminalCommand::SetDoorMode { .. } => no_door(),
            TerminalCommand::ClearRecords => Ok(Err(
                "RS-485 terminals free records only when the poller has stored and acknowledged them; there is nothing to clear by hand"
                    .to_string(),
            )),
            TerminalCommand::SetTime => {
                let now = local_now();
                self.bus().await?.set_time(addr, now).await?;
                t.last_clock = None;
                Ok(Ok(format!("machine {addr} clock set to {now}")))
            }
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                let info = self.bus().await?.get_info(addr).await?;
                Ok(Ok(format!(
                    "machine {addr} online: {} firmware {}, serial {}, {} records held, {} ms",
                    info.model,
                    info.firmware,
                    info.serial,
                    info.next_record.saturating_sub(info.first_unacked),
                    started.elapsed().as_millis()
                )))
            }
            TerminalCommand::PushCards { cards } => {
                if kind != "patrol_reader" {
                    return Ok(Err(format!(
                        "a {kind} keeps no card list (POS terminals take the blacklist)"
                    )));
                }
                let guards: Vec<u32> = cards.iter().map(|g| g.card).collect();
                let p = self
                    .bus()
                    .await?
                    .download_table(addr, Table::Guards, version, &guards)
                    .await?;
                Ok(Ok(format!(
                    "machine {addr} guards table version {} with {} cards",
                    p.active.version, p.active.count
                )))
            }
            TerminalCommand::RevokeCards { .. } => Ok(Err(format!(
                "a {kind} takes whole tables: a card leaves a POS through the blacklist, a patrol reader through its guards table"
            ))),
            TerminalCommand::PushBlacklist { cards } => {
                if kind != "pos" {
                    return Ok(Err(format!("a {kind} keeps no blacklist")));
                }
                let p = self
                    .bus()
                    .await?
                    .download_table(addr, Table::Blacklist, version, cards)
                    .await?;
                Ok(Ok(format!(
                    "machine {addr} blacklist version {} with {} cards",
                    p.active.version, p.active.count
                )))
            }
        }
    }
}
