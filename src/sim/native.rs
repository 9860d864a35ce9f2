//! Simulated native-protocol devices: canteen POS terminals, patrol readers and the desk card
//! reader, multi-dropped on one bus (a PTY, a TCP connection or an in-memory duplex).
//!
//! Each device behaves as the protocol in [`crate::terminal::native`] requires of firmware:
//! bounded record memory freed only by ACK_RECORDS, a SEQ cache that answers a retry without
//! executing it again, a local drifting clock, and chunked tables that switch over only when
//! complete. For tests it can go offline (never answers) and corrupt replies on the wire.

use crate::domain::money::Money;
use crate::sim::clock::SimClock;
use crate::sim::{SimTerminal, TerminalKind};
use crate::terminal::native::frame::{crc16, Frame, BROADCAST};
use crate::terminal::native::link::{DeviceLink, Incoming, SeqCache};
use crate::terminal::native::message::{
    cmd, AuthResult, CardPresence, Condition, Conditions, DailyTotals, DenyReason, DeviceInfo,
    DeviceKind, DeviceStatus, Limits, NakReason, PendingAuth, PollStatus, PriceEntry, PurchaseMode,
    PurchaseRecord, RecordBatch, Records, Reply, Request, ScanEvent, ScanRecord, TableChunk,
    TableProgress, TableState, MAX_PURCHASES_PER_REPLY, MAX_SCANS_PER_REPLY, PIN_LEN,
};
use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime, Timelike};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

mod pos;
mod readers;

pub use pos::*;
pub use readers::*;

/// Daily totals kept this many days back.
const TOTALS_DAYS: i64 = 62;
/// Silence after which a device drops a partial frame. Longer than t3.5 at any baud, since
/// the simulator's input arrives in OS-sized chunks rather than character by character.
const IDLE_RESET: std::time::Duration = std::time::Duration::from_millis(50);
/// Chance that traffic skips a checkpoint, besides those marked `skip`.
const RANDOM_SKIP_PERCENT: u32 = 10;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A simulated device on a native bus.
pub trait NativeDevice: SimTerminal {
    fn core(&self) -> &DeviceCore;

    /// The reply bytes for a request addressed to this device; None = silence (offline).
    fn respond(&self, request: &Frame) -> Option<Vec<u8>>;

    fn machine_no(&self) -> u8 {
        self.core().machine_no()
    }

    /// NAK BAD_CRC for a corrupted request that was addressed here.
    fn respond_bad_crc(&self) -> Option<Vec<u8>> {
        let core = self.core();
        if !core.is_online() {
            return None;
        }
        let reply = Frame {
            addr: core.machine_no,
            seq: 0,
            reply: true,
            cmd: cmd::NAK_UNREADABLE,
            data: Reply::Nak(NakReason::BadCrc).encode(),
        };
        reply.encode().ok().map(|b| core.noisy(b))
    }

    /// A broadcast SET_TIME: set the clock, answer nothing.
    fn broadcast_time(&self, t: NaiveDateTime) {
        if self.core().is_online() {
            self.core().clock.set(t);
        }
    }
}

/// What every simulated device has: address, clock, online flag, SEQ cache, wire noise.
#[derive(Debug)]
pub struct DeviceCore {
    line: String,
    machine_no: u8,
    clock: SimClock,
    online: AtomicBool,
    seq: Mutex<SeqCache>,
    noise: Mutex<Noise>,
    generated: AtomicU64,
    executed: AtomicU64,
    started: Instant,
    /// Times the machine at this address was swapped for another: a new serial number.
    swaps: AtomicU32,
    /// Its clock was lost (a power cut with a flat clock battery) and not set since.
    clock_lost: AtomicBool,
}

#[derive(Debug)]
struct Noise {
    percent: u32,
    corrupt_next: u32,
    rng: StdRng,
}

impl DeviceCore {
    fn new(line: &str, machine_no: u8, clock: SimClock) -> DeviceCore {
        DeviceCore {
            line: line.to_string(),
            machine_no,
            clock,
            online: AtomicBool::new(true),
            seq: Mutex::new(SeqCache::new()),
            noise: Mutex::new(Noise {
                percent: 0,
                corrupt_next: 0,
                rng: StdRng::from_entropy(),
            }),
            generated: AtomicU64::new(0),
            executed: AtomicU64::new(0),
            started: Instant::now(),
            swaps: AtomicU32::new(0),
            clock_lost: AtomicBool::new(false),
        }
    }

    pub fn machine_no(&self) -> u8 {
        self.machine_no
    }

    pub fn line(&self) -> &str {
        &self.line
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Whether its clock is lost (not set since `clock-lost`).
    pub fn clock_lost(&self) -> bool {
        self.clock_lost.load(Ordering::SeqCst)
    }

    /// Offline = powered off or cut from the bus: never answers.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    /// Probability (0..=100 %) that a reply leaves with one byte corrupted.
    pub fn set_noise(&self, percent: u32) {
        lock(&self.noise).percent = percent.min(100);
    }

    /// Corrupts the next `n` replies in a byte the CRC covers after LEN (always detected as a
    /// bad CRC, never mistaken for silence).
    pub fn corrupt_next(&self, n: u32) {
        lock(&self.noise).corrupt_next = n;
    }

    /// Requests executed (a retry answered from the SEQ cache is not counted).
    pub fn executed(&self) -> u64 {
        self.executed.load(Ordering::SeqCst)
    }

    fn serial(&self) -> u32 {
        let own = (u32::from(crc16(self.line.as_bytes())) << 8) | u32::from(self.machine_no);
        own.wrapping_add(self.swaps.load(Ordering::SeqCst) << 24)
    }

    fn now(&self) -> NaiveDateTime {
        let t = self.clock.now();
        t.with_nanosecond(0).unwrap_or(t)
    }

    fn noisy(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let mut n = lock(&self.noise);
        let pos = if n.corrupt_next > 0 && bytes.len() > 4 {
            n.corrupt_next -= 1;
            Some(n.rng.gen_range(4..bytes.len()))
        } else if n.percent > 0 && n.rng.gen_range(0..100) < n.percent && !bytes.is_empty() {
            Some(n.rng.gen_range(0..bytes.len()))
        } else {
            None
        };
        if let Some(p) = pos {
            let flip: u8 = n.rng.gen_range(1..=255);
            bytes[p] ^= flip;
        }
        bytes
    }

    /// Answers from the SEQ cache, or decodes, executes and caches.
    fn respond(
        &self,
        request: &Frame,
        exec: impl FnOnce(Request) -> Result<Reply, NakReason>,
    ) -> Option<Vec<u8>> {
        if !self.is_online() || request.addr != self.machine_no || request.reply {
            return None;
        }
        let mut cache = lock(&self.seq);
        if let Some(cached) = cache.lookup(request) {
            let bytes = cached.to_vec();
            drop(cache);
            return Some(self.noisy(bytes));
        }
        let reply = match Request::decode(request.cmd, &request.data) {
            Ok(Some(req)) => exec(req).unwrap_or_else(Reply::Nak),
            Ok(None) => Reply::Nak(NakReason::UnknownCommand),
            Err(_) => Reply::Nak(NakReason::BadParameter),
        };
        self.executed.fetch_add(1, Ordering::SeqCst);
        let frame = Frame::reply_to(request, reply.cmd_for(request.cmd), reply.encode());
        let bytes = frame.encode().ok()?;
        if !matches!(reply, Reply::Nak(r) if r.is_transient()) {
            cache.store(request, bytes.clone());
        }
        drop(cache);
        Some(self.noisy(bytes))
    }

    fn control_common(&self, verb: &str, args: &[&str]) -> Option<Result<String, String>> {
        Some(match verb {
            "offline" => {
                self.set_online(false);
                Ok(format!("machine {} is offline", self.machine_no))
            }
            "online" => {
                self.set_online(true);
                Ok(format!("machine {} is online", self.machine_no))
            }
            "clock-lost" => {
                self.clock_lost.store(true, Ordering::SeqCst);
                Ok(format!(
                    "machine {}: clock lost until it is set",
                    self.machine_no
                ))
            }
            "noise" => match args.first().map(|a| a.trim_end_matches('%').parse::<u32>()) {
                Some(Ok(p)) if p <= 100 => {
                    self.set_noise(p);
                    Ok(format!(
                        "machine {}: {p}% of replies corrupted",
                        self.machine_no
                    ))
                }
                _ => Err("usage: noise PERCENT (0-100)".into()),
            },
            _ => return None,
        })
    }
}

trait Numbered: Clone {
    fn number(&self) -> u32;
    fn per_reply() -> usize;
    fn wrap(v: Vec<Self>) -> Records;
}

impl Numbered for PurchaseRecord {
    fn number(&self) -> u32 {
        self.record_no
    }
    fn per_reply() -> usize {
        MAX_PURCHASES_PER_REPLY
    }
    fn wrap(v: Vec<Self>) -> Records {
        Records::Purchases(v)
    }
}

impl Numbered for ScanRecord {
    fn number(&self) -> u32 {
        self.record_no
    }
    fn per_reply() -> usize {
        MAX_SCANS_PER_REPLY
    }
    fn wrap(v: Vec<Self>) -> Records {
        Records::Scans(v)
    }
}

/// Bounded record memory: numbers from 1, never reused, freed by ACK_RECORDS (or, on a device
/// that overwrites, by the next record when memory is full).
#[derive(Debug)]
struct RecordStore<R> {
    held: VecDeque<R>,
    next: u32,
    capacity: usize,
    /// Full memory drops the oldest record instead of refusing the new one: not what the
    /// protocol asks of a device, but what some third-party devices do.
    overwrite: bool,
}

impl<R: Numbered> RecordStore<R> {
    fn new(capacity: usize) -> Self {
        RecordStore {
            held: VecDeque::new(),
            next: 1,
            capacity,
            overwrite: false,
        }
    }

    fn is_full(&self) -> bool {
        self.held.len() >= self.capacity
    }

    fn first_unacked(&self) -> u32 {
        self.held.front().map_or(self.next, Numbered::number)
    }

    /// Stores a record made with the next number; None when memory is full.
    fn push(&mut self, make: impl FnOnce(u32) -> R) -> Option<R> {
        if self.is_full() && (!self.overwrite || self.held.pop_front().is_none()) {
            return None;
        }
        let r = make(self.next);
        self.next = self.next.wrapping_add(1).max(1);
        self.held.push_back(r.clone());
        Some(r)
    }

    fn read(&self, from: u32, max: u8) -> RecordBatch {
        let n = usize::from(max).min(R::per_reply());
        let records = self
            .held
            .iter()
            .filter(|r| r.number() >= from)
            .take(n)
            .cloned()
            .collect();
        RecordBatch {
            next_record: self.next,
            records: R::wrap(records),
        }
    }

    fn ack(&mut self, up_to: u32) -> Result<u32, NakReason> {
        if up_to >= self.next {
            return Err(NakReason::BadParameter);
        }
        while self.held.front().is_some_and(|r| r.number() <= up_to) {
            self.held.pop_front();
        }
        Ok(self.first_unacked())
    }

    fn conditions(&self) -> Conditions {
        let n = self.held.len();
        Conditions::default()
            .with(Condition::MemoryFull, self.is_full())
            .with(
                Condition::MemoryNearlyFull,
                n * 10 >= self.capacity * 9 && n > 0,
            )
            .with(Condition::RecordsPending, n > 0)
    }
}

/// A table downloaded in chunks; the new list is used only once complete.
#[derive(Debug, Default)]
struct ChunkedTable {
    active: HashSet<u32>,
    state: TableState,
    pending: Option<(u32, u32, Vec<u32>)>,
}

impl ChunkedTable {
    fn loaded(&self) -> bool {
        self.state.version != 0
    }

    fn contains(&self, v: u32) -> bool {
        self.active.contains(&v)
    }

    fn apply(&mut self, c: TableChunk) -> Result<Reply, NakReason> {
        if c.version == 0 || c.entries.len() as u64 > u64::from(c.total) {
            self.pending = None;
            return Err(NakReason::BadParameter);
        }
        if c.offset == 0 {
            self.pending = Some((c.version, c.total, Vec::new()));
        }
        let Some((version, total, mut got)) = self.pending.take() else {
            return Err(NakReason::BadParameter);
        };
        let fits = got.len() as u64 + c.entries.len() as u64 <= u64::from(total);
        if version != c.version
            || total != c.total
            || got.len() as u64 != u64::from(c.offset)
            || !fits
        {
            // Out of order: drop the partial list, the host starts again at offset 0.
            return Err(NakReason::BadParameter);
        }
        got.extend_from_slice(&c.entries);
        let received = got.len() as u32;
        if received == total {
            self.active = got.into_iter().collect();
            self.state = TableState {
                version,
                count: total,
            };
        } else {
            self.pending = Some((version, total, got));
        }
        Ok(Reply::Table(TableProgress {
            active: self.state,
            received,
        }))
    }
}

/// What the commands every device knows need from a device.
struct Common<'a, R> {
    core: &'a DeviceCore,
    kind: DeviceKind,
    model: &'static str,
    memory: Option<&'a mut RecordStore<R>>,
    conditions: Conditions,
    tables: (TableState, TableState),
}

impl<R: Numbered> Common<'_, R> {
    /// Answers POLL, GET_INFO, GET_STATUS, GET_TIME, SET_TIME, READ_RECORDS, ACK_RECORDS.
    fn execute(self, req: &Request) -> Option<Result<Reply, NakReason>> {
        let (stored, first, next, capacity) = match &self.memory {
            Some(m) => (
                m.held.len() as u32,
                m.first_unacked(),
                m.next,
                m.capacity as u32,
            ),
            None => (0, 1, 1, 0),
        };
        let conditions = self.conditions.with(
            Condition::ClockLost,
            self.core.clock_lost.load(Ordering::SeqCst),
        );
        Some(match req {
            Request::Poll => Ok(Reply::Poll(PollStatus {
                conditions,
                stored,
                card: None,
            })),
            Request::GetInfo => Ok(Reply::Info(DeviceInfo {
                kind: self.kind,
                model: self.model.into(),
                firmware: "1.4.2".into(),
                serial: self.core.serial(),
                first_unacked: first,
                next_record: next,
                capacity,
            })),
            Request::GetStatus => Ok(Reply::Status(DeviceStatus {
                kind: self.kind,
                conditions,
                clock: self.core.now(),
                stored,
                capacity,
                table_a: self.tables.0,
                table_b: self.tables.1,
                uptime_secs: self.core.started.elapsed().as_secs() as u32,
            })),
            Request::GetTime => Ok(Reply::Time(self.core.now())),
            Request::SetTime(t) => {
                self.core.clock.set(*t);
                self.core.clock_lost.store(false, Ordering::SeqCst);
                Ok(Reply::Done)
            }
            Request::ReadRecords { from, max } => Ok(Reply::Records(match self.memory {
                Some(m) => m.read(*from, *max),
                None => RecordBatch {
                    next_record: 1,
                    records: Records::None,
                },
            })),
            Request::AckRecords { up_to } => match self.memory {
                Some(m) => m
                    .ack(*up_to)
                    .map(|first_unacked| Reply::Acked { first_unacked }),
                None if *up_to == 0 => Ok(Reply::Acked { first_unacked: 1 }),
                None => Err(NakReason::BadParameter),
            },
            _ => return None,
        })
    }
}

fn parse_u32(s: Option<&&str>, what: &str) -> Result<u32, String> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what}: expected a number"))
}

// ---------------------------------------------------------------- serving

/// Serves one bus: every request goes to the device with its machine number (the first, if a
/// number is duplicated), which answers unless offline; a broadcast SET_TIME sets every online
/// device's clock and nobody answers. Returns when the master closes the stream. Garbage,
/// false SOMs and corrupted frames are skipped by the framer; nothing here panics on input.
pub async fn serve_bus<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: S,
    devices: Vec<Arc<dyn NativeDevice>>,
) -> io::Result<()> {
    let mut link = DeviceLink::new(stream).with_idle_reset(IDLE_RESET);
    while let Some(incoming) = link.next().await? {
        let reply = match incoming {
            Incoming::Request(f) if f.addr == BROADCAST => {
                if let Ok(Some(Request::SetTime(t))) = Request::decode(f.cmd, &f.data) {
                    devices.iter().for_each(|d| d.broadcast_time(t));
                }
                None
            }
            Incoming::Request(f) => devices
                .iter()
                .find(|d| d.machine_no() == f.addr)
                .and_then(|d| d.respond(&f)),
            Incoming::BadCrc { addr } => devices
                .iter()
                .find(|d| d.machine_no() == addr)
                .and_then(|d| d.respond_bad_crc()),
        };
        if let Some(bytes) = reply {
            link.send(&bytes).await?;
        }
    }
    Ok(())
}

/// Serves the bus to TCP masters. RS-485 has one master, so one connection at a time: a new
/// connection takes the bus and the previous one is closed. The newest wins because a poller
/// that reconnects after a network fault must not be locked out by its own half-open socket
/// (onecard's advisory lock already ensures one poller per line). Device state, SEQ caches
/// included, survives reconnects. Runs until accepting fails.
pub async fn serve_tcp(
    listener: TcpListener,
    devices: Vec<Arc<dyn NativeDevice>>,
) -> io::Result<()> {
    let mut current: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let (sock, peer) = super::accept(&listener).await?;
        if let Some(old) = current.take() {
            old.abort();
            tracing::info!("native sim: {peer} takes the bus over from the previous master");
        }
        let _ = sock.set_nodelay(true);
        let devices = devices.clone();
        current = Some(tokio::spawn(async move {
            if let Err(e) = serve_bus(sock, devices).await {
                tracing::debug!("native sim: connection from {peer} ended: {e}");
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::native::message::cmd;

    fn clock() -> SimClock {
        SimClock::local(0.0)
    }

    fn req(addr: u8, seq: u8, r: &Request) -> Frame {
        Frame::request(addr, seq, r.cmd(), r.encode())
    }

    fn reply(bytes: &[u8]) -> Reply {
        let f = Frame::decode(bytes).unwrap();
        Reply::decode(f.cmd, &f.data).unwrap()
    }

    #[test]
    fn retry_is_answered_from_cache() {
        let pos = Pos::new("canteen", 3, clock(), 10, vec![100]);
        let txn = pos.ask(100, 1000, None).unwrap();
        let answer = Request::AuthResult(AuthResult {
            txn_no: txn,
            denied: None,
            balance_fen: 9_000,
        });
        let a = pos.respond(&req(3, 1, &answer)).unwrap();
        let b = pos.respond(&req(3, 1, &answer)).unwrap();
        assert_eq!(a, b);
        assert_eq!(pos.stored(), 1, "stored once");
        // The same answer under a new SEQ: the same record, nothing stored again.
        assert_eq!(reply(&pos.respond(&req(3, 2, &answer)).unwrap()), reply(&a));
        assert_eq!(pos.stored(), 1);
        assert_eq!(pos.generated(), 1);
        assert_eq!(pos.answer(txn).map(|(r, _)| r.balance_fen), Some(9_000));
    }

    #[test]
    fn half_sent_blacklist_is_not_used() {
        let pos = Pos::new("canteen", 3, clock(), 10, vec![100]);
        let chunk = |offset, entries: Vec<u32>| {
            Request::DownloadBlacklist(TableChunk {
                version: 7,
                total: 3,
                offset,
                entries,
            })
        };
        pos.respond(&req(3, 1, &chunk(0, vec![100, 101]))).unwrap();
        assert!(!pos.is_blacklisted(100));
        // Out of order: refused and the partial list dropped.
        let r = reply(&pos.respond(&req(3, 2, &chunk(1, vec![102]))).unwrap());
        assert_eq!(r, Reply::Nak(NakReason::BadParameter));
        pos.respond(&req(3, 3, &chunk(0, vec![100, 101]))).unwrap();
        let r = reply(&pos.respond(&req(3, 1, &chunk(2, vec![102]))).unwrap());
        assert_eq!(
            r,
            Reply::Table(TableProgress {
                active: TableState {
                    version: 7,
                    count: 3
                },
                received: 3
            })
        );
        assert!(pos.is_blacklisted(100));
        assert!(pos.purchase(100, 100).is_err());
    }

    #[test]
    fn wrong_kind_and_garbage_data_are_naked() {
        let desk = DeskReader::new("desk", 1, clock(), vec![]);
        let r = reply(
            &desk
                .respond(&req(1, 1, &Request::DailyTotals(NaiveDate::MIN)))
                .unwrap(),
        );
        assert_eq!(r, Reply::Nak(NakReason::UnknownCommand));
        let bad = Frame::request(1, 2, cmd::SET_TIME, vec![0xFF; 3]);
        assert_eq!(
            reply(&desk.respond(&bad).unwrap()),
            Reply::Nak(NakReason::BadParameter)
        );
    }

    #[test]
    fn control_verbs() {
        let pos = Pos::new("canteen", 3, clock(), 1, vec![100]);
        assert!(pos.control("purchase", &["100", "12.50"]).is_ok());
        assert_eq!(pos.totals(clock().now().date()), (1, 1250));
        assert!(pos
            .control("purchase", &["100", "1"])
            .unwrap_err()
            .contains("memory full"));
        assert!(pos.control("purchase", &["100", "0.001"]).is_err());
        assert!(pos.control("fly", &[]).is_err());
        assert!(pos
            .control("blacklisted", &["100"])
            .unwrap()
            .contains("not blacklisted"));
        let desk = DeskReader::new("desk", 1, clock(), vec![5]);
        assert!(desk.control("present", &["5"]).unwrap().contains("used"));
        let p = PatrolReader::new("east", 2, clock(), 4, vec![9], vec![1, 2]);
        p.control("skip", &["1"]).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            p.traffic(&mut rng);
        }
        assert!(p.generated() > 0 && p.generated() <= 4);
    }
}
