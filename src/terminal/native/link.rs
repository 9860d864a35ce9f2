//! Link layer over any `AsyncRead + AsyncWrite`: the master's [`Bus`] (one outstanding request,
//! reply timeout from the baud rate, retries with the same SEQ, diagnostics counters) and the
//! device side ([`DeviceLink`], [`SeqCache`]).

use super::frame::{Frame, Framer, FramerEvent, BROADCAST, MAX_MACHINE_NO, MIN_FRAME};
use super::message::{
    cmd, AuthResult, CardPresence, DailyTotals, DeviceInfo, DeviceStatus, Limits, NakReason,
    PendingAuth, PollStatus, PriceEntry, RecordBatch, Reply, Request, TableChunk, TableProgress,
    TxnState, CHUNK_MAX,
};
use crate::terminal::TerminalError;
use chrono::{NaiveDate, NaiveDateTime};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The time a device has from the end of a request to the start of its reply.
pub const DEVICE_TURNAROUND: Duration = Duration::from_millis(50);
/// Host-side allowance for USB adapter latency timers (FTDI: 16 ms) and scheduling.
pub const HOST_SLACK: Duration = Duration::from_millis(20);
/// Modbus fixes t3.5 at 1.75 ms above 19200 baud; so do we.
pub const MIN_GAP: Duration = Duration::from_micros(1750);
/// Retries after the first attempt, each with the same SEQ.
pub const DEFAULT_RETRIES: u8 = 3;
/// No exchange lasts longer, whatever a device sends (a babbling device included).
pub const MAX_EXCHANGE: Duration = Duration::from_secs(10);

/// Reply timing for one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Serial line speed; None on a network or in-memory stream (no wire time).
    pub baud: Option<u32>,
    /// 10 for 8N1, 11 for 8E1, 8O1 or 8N2.
    pub bits_per_char: u32,
    pub turnaround: Duration,
    pub slack: Duration,
}

impl Timing {
    /// A serial line: `bits_per_char` 10 (8N1) or 11 (parity or two stop bits).
    pub fn serial(baud: u32, bits_per_char: u32) -> Timing {
        Timing {
            baud: Some(baud.max(1)),
            bits_per_char,
            turnaround: DEVICE_TURNAROUND,
            slack: HOST_SLACK,
        }
    }

    /// A TCP or in-memory stream: no wire time, `slack` covers the network.
    pub fn network(slack: Duration) -> Timing {
        Timing {
            baud: None,
            bits_per_char: 10,
            turnaround: DEVICE_TURNAROUND,
            slack,
        }
    }

    pub fn with_slack(mut self, slack: Duration) -> Timing {
        self.slack = slack;
        self
    }

    /// One character on the wire.
    pub fn char_time(&self) -> Duration {
        match self.baud {
            Some(b) => {
                Duration::from_nanos(u64::from(self.bits_per_char) * 1_000_000_000 / u64::from(b))
            }
            None => Duration::ZERO,
        }
    }

    /// t3.5: the idle gap that separates frames.
    pub fn gap(&self) -> Duration {
        match self.baud {
            Some(_) => (self.char_time() * 7 / 2).max(MIN_GAP),
            None => Duration::ZERO,
        }
    }

    pub fn frame_time(&self, len: usize) -> Duration {
        self.char_time() * len as u32
    }

    /// Wait for a reply: both frames' wire time + two gaps + device turnaround + host slack.
    pub fn reply_timeout(&self, request_len: usize, reply_max_len: usize) -> Duration {
        self.frame_time(request_len + reply_max_len) + self.gap() * 2 + self.turnaround + self.slack
    }

    /// The line is taken to be quiet after this long without a byte.
    pub fn quiet(&self) -> Duration {
        self.gap() + self.slack
    }

    /// The whole of one exchange, whatever the devices send: every attempt's reply timeout
    /// and a quiet period after it, capped at [`MAX_EXCHANGE`].
    pub fn exchange_limit(
        &self,
        request_len: usize,
        reply_max_len: usize,
        retries: u8,
    ) -> Duration {
        ((self.reply_timeout(request_len, reply_max_len) + self.quiet()) * (u32::from(retries) + 1))
            .min(MAX_EXCHANGE)
    }
}

/// Diagnostics for one machine number (or the whole bus).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Exchanges started.
    pub requests: u64,
    /// Exchanges that got a reply (a NAK included).
    pub round_trips: u64,
    /// Repeated sends (same SEQ).
    pub retries: u64,
    /// Attempts that heard no valid frame but not silence either (a bad CRC, a frame cut
    /// short or of an impossible length, noise), plus NAK BAD_CRC for our requests.
    pub crc_errors: u64,
    /// Attempts that got no reply in time.
    pub timeouts: u64,
    pub naks: u64,
    /// Exchanges that ended in an error (a NAK included).
    pub failures: u64,
    /// Exchanges in a row that got no reply: a line actor declares the device offline.
    pub consecutive_failures: u32,
    pub last_rtt: Option<Duration>,
    pub last_contact: Option<Instant>,
}

impl LinkStats {
    fn add(&mut self, o: &LinkStats) {
        self.requests += o.requests;
        self.round_trips += o.round_trips;
        self.retries += o.retries;
        self.crc_errors += o.crc_errors;
        self.timeouts += o.timeouts;
        self.naks += o.naks;
        self.failures += o.failures;
        self.consecutive_failures = self.consecutive_failures.max(o.consecutive_failures);
        if o.last_contact > self.last_contact {
            self.last_contact = o.last_contact;
            self.last_rtt = o.last_rtt;
        }
    }
}

/// Direction of a traced frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDir {
    Tx,
    Rx,
}

/// One entry of the live frame trace a technician watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    pub at: Instant,
    pub dir: TraceDir,
    pub bytes: Vec<u8>,
    /// "ok", "bad crc", "skipped", "retry", "timeout", "ignored".
    pub note: &'static str,
}

/// What a device sent instead of a reply: why an exchange failed though the line was not
/// silent. A terminal that answers with this is a comm fault, not offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The line never went quiet for the whole exchange: frames claimed by machine `addr`
    /// kept coming (`frames` of them failed their CRC). A device stuck transmitting.
    Babbling { addr: Option<u8>, frames: u32 },
    /// `frames` frames claimed by machine `addr` failed their CRC.
    BadCrc { addr: u8, frames: u32 },
    /// A frame announced `expected` bytes, and only `got` came.
    Truncated { got: usize, expected: usize },
    /// A frame of machine `addr` announced a length (`len`) no frame can have.
    BadLength { addr: u8, len: usize },
    /// `bytes` bytes that were no frame at all.
    Noise { bytes: usize },
    /// Only replies of other machines (`addr`, the last one) came.
    OtherMachine { addr: u8 },
}

impl std::fmt::Display for Heard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Heard::Babbling {
                addr: Some(a),
                frames,
            } => write!(
                f,
                "the line never went quiet: machine {a} keeps transmitting ({frames} frames with a bad CRC)"
            ),
            Heard::Babbling { addr: None, frames } => write!(
                f,
                "the line never went quiet ({frames} frames with a bad CRC)"
            ),
            Heard::BadCrc { addr, frames } => {
                write!(f, "{frames} frames of machine {addr} failed their CRC")
            }
            Heard::Truncated { got, expected } => {
                write!(f, "a frame cut short: {got} of {expected} bytes")
            }
            Heard::BadLength { addr, len } => {
                write!(f, "a frame of machine {addr} announces {len} bytes")
            }
            Heard::Noise { bytes } => write!(f, "{bytes} bytes that are no frame"),
            Heard::OtherMachine { addr } => write!(f, "only machine {addr} answered"),
        }
    }
}

/// What one attempt heard short of the reply.
#[derive(Debug, Default)]
struct Hearing {
    /// Bad-CRC frames per claimed address.
    bad_crc: BTreeMap<u8, u32>,
    bad_length: Option<(u8, usize)>,
    noise: usize,
    other: Option<u8>,
}

impl Hearing {
    fn anything(&self) -> bool {
        !self.bad_crc.is_empty()
            || self.bad_length.is_some()
            || self.noise > 0
            || self.other.is_some()
    }

    /// The worst of what was heard; `partial` is a frame still incomplete, `babbling` when
    /// the line never went quiet before the exchange's deadline.
    fn verdict(&self, partial: Option<(usize, usize)>, babbling: bool) -> Option<Heard> {
        let loudest = self
            .bad_crc
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, n)| (*a, *n));
        let frames = self.bad_crc.values().sum();
        if babbling && (frames > 0 || self.noise > 0 || self.bad_length.is_some()) {
            return Some(Heard::Babbling {
                addr: loudest.map(|(a, _)| a).or(self.bad_length.map(|(a, _)| a)),
                frames,
            });
        }
        if let Some((addr, _)) = loudest {
            return Some(Heard::BadCrc { addr, frames });
        }
        if let Some((addr, len)) = self.bad_length {
            return Some(Heard::BadLength { addr, len });
        }
        if let Some((got, expected)) = partial {
            return Some(Heard::Truncated { got, expected });
        }
        if self.noise > 0 {
            return Some(Heard::Noise { bytes: self.noise });
        }
        self.other.map(|addr| Heard::OtherMachine { addr })
    }
}

enum Attempt {
    Reply(Frame),
    Timeout,
    Garbage(Heard),
    Transient(NakReason),
}

/// The master side of one bus. `&mut self` on every exchange: one outstanding request.
pub struct Bus<S> {
    stream: S,
    timing: Timing,
    retries: u8,
    framer: Framer,
    /// Next SEQ per machine number; 0 = open (or reopen) the sequence.
    seq: [u8; 256],
    stats: BTreeMap<u8, LinkStats>,
    last_rx: Option<Instant>,
    trace: Option<tokio::sync::mpsc::Sender<TraceEntry>>,
    /// What the last failed exchange heard instead of a reply.
    last_heard: Option<(u8, Heard)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Bus<S> {
    pub fn new(stream: S, timing: Timing) -> Bus<S> {
        Bus {
            stream,
            timing,
            retries: DEFAULT_RETRIES,
            framer: Framer::new(),
            seq: [0; 256],
            stats: BTreeMap::new(),
            last_rx: None,
            trace: None,
            last_heard: None,
        }
    }

    pub fn with_retries(mut self, retries: u8) -> Bus<S> {
        self.retries = retries;
        self
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Frames sent and received go here too; entries are dropped when the receiver lags.
    pub fn set_trace(&mut self, tx: Option<tokio::sync::mpsc::Sender<TraceEntry>>) {
        self.trace = tx;
    }

    pub fn stats(&self, addr: u8) -> LinkStats {
        self.stats.get(&addr).cloned().unwrap_or_default()
    }

    pub fn totals(&self) -> LinkStats {
        let mut t = LinkStats::default();
        for s in self.stats.values() {
            t.add(s);
        }
        t
    }

    /// What the last exchange that failed on garbage heard instead of its reply, and the
    /// machine it asked; None once an exchange succeeded or failed on silence.
    pub fn last_heard(&self) -> Option<&(u8, Heard)> {
        self.last_heard.as_ref()
    }

    pub fn into_inner(self) -> S {
        self.stream
    }

    /// The SEQ the next request to `addr` will carry.
    pub fn next_seq(&self, addr: u8) -> u8 {
        self.seq[usize::from(addr)]
    }

    /// Forces the next request to `addr` to reset the sequence (SEQ 0).
    pub fn reset_seq(&mut self, addr: u8) {
        self.seq[usize::from(addr)] = 0;
    }

    fn tap(&self, dir: TraceDir, bytes: &[u8], note: &'static str) {
        if let Some(tx) = &self.trace {
            let _ = tx.try_send(TraceEntry {
                at: Instant::now(),
                dir,
                bytes: bytes.to_vec(),
                note,
            });
        }
    }

    /// One exchange: send, wait, retry up to `retries` times with the same SEQ, all within
    /// [`Timing::exchange_limit`]. A NAK is `Refused`; silence is `Timeout`; anything else
    /// heard instead of a reply (bad CRCs, a frame cut short, noise, a babbling device) is
    /// `Malformed`, with what was heard in [`Bus::last_heard`].
    pub async fn request(&mut self, addr: u8, req: &Request) -> Result<Reply, TerminalError> {
        if addr == 0 || addr > MAX_MACHINE_NO {
            return Err(TerminalError::Malformed(format!(
                "machine number {addr} is outside 1..={MAX_MACHINE_NO}"
            )));
        }
        let seq = self.seq[usize::from(addr)];
        let frame = Frame::request(addr, seq, req.cmd(), req.encode());
        let bytes = frame
            .encode()
            .map_err(|e| TerminalError::Malformed(format!("{} request: {e}", req.name())))?;
        let reply_max = MIN_FRAME + req.max_reply_data();
        let timeout = self.timing.reply_timeout(bytes.len(), reply_max);
        let limit = self
            .timing
            .exchange_limit(bytes.len(), reply_max, self.retries);
        let end = tokio::time::Instant::now() + limit;
        self.stats.entry(addr).or_default().requests += 1;

        let mut last = Attempt::Timeout;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                if tokio::time::Instant::now() >= end {
                    break;
                }
                self.stats.entry(addr).or_default().retries += 1;
                if let Attempt::Transient(NakReason::Busy) = last {
                    tokio::time::sleep(self.timing.turnaround).await;
                }
            }
            let sent = Instant::now();
            self.send(&bytes, if attempt == 0 { "ok" } else { "retry" })
                .await?;
            last = self.await_reply(addr, seq, req.cmd(), timeout, end).await?;
            let st = self.stats.entry(addr).or_default();
            match &last {
                Attempt::Reply(_) | Attempt::Transient(_) => {
                    st.round_trips += 1;
                    st.last_rtt = Some(sent.elapsed());
                    st.last_contact = Some(Instant::now());
                }
                Attempt::Timeout => st.timeouts += 1,
                Attempt::Garbage(_) => st.crc_errors += 1,
            }
            match &last {
                Attempt::Transient(NakReason::BadCrc) => st.crc_errors += 1,
                Attempt::Transient(_) => st.naks += 1,
                _ => {}
            }
            if let Attempt::Reply(_) = last {
                break;
            }
        }

        // The exchange is over whatever happened: the next one gets a new SEQ, and after
        // silence the device may have restarted, so the sequence reopens at 0.
        self.last_heard = None;
        let st = self.stats.entry(addr).or_default();
        let next = &mut self.seq[usize::from(addr)];
        *next = match last {
            Attempt::Timeout | Attempt::Garbage(_) => 0,
            _ => next_seq(seq),
        };
        match last {
            Attempt::Reply(reply) => {
                st.consecutive_failures = 0;
                match Reply::decode(reply.cmd, &reply.data) {
                    Ok(Reply::Nak(reason)) => {
                        st.naks += 1;
                        st.failures += 1;
                        Err(TerminalError::Refused(format!(
                            "machine {addr} answered {} with NAK: {reason}",
                            req.name()
                        )))
                    }
                    Ok(r) => Ok(r),
                    Err(e) => {
                        st.failures += 1;
                        Err(TerminalError::Malformed(format!(
                            "machine {addr}, {} reply: {e}",
                            req.name()
                        )))
                    }
                }
            }
            Attempt::Transient(reason) => {
                st.failures += 1;
                st.consecutive_failures = 0;
                Err(TerminalError::Refused(format!(
                    "machine {addr} answered {} with NAK: {reason} after {} attempts",
                    req.name(),
                    u32::from(self.retries) + 1
                )))
            }
            Attempt::Timeout => {
                st.failures += 1;
                st.consecutive_failures += 1;
                Err(TerminalError::Timeout(timeout))
            }
            Attempt::Garbage(heard) => {
                st.failures += 1;
                st.consecutive_failures += 1;
                let e = TerminalError::Malformed(format!(
                    "no reply from machine {addr} to {}: {heard}",
                    req.name()
                ));
                self.last_heard = Some((addr, heard));
                Err(e)
            }
        }
    }

    async fn send(&mut self, bytes: &[u8], note: &'static str) -> Result<(), TerminalError> {
        // The device needs t3.5 of silence after its reply before the next request.
        if let Some(rx) = self.last_rx {
            let quiet = rx + self.timing.gap();
            if quiet > Instant::now() {
                tokio::time::sleep_until(quiet.into()).await;
            }
        }
        self.framer.clear();
        self.tap(TraceDir::Tx, bytes, note);
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// One attempt: the reply, silence until `timeout`, or what was heard instead. Bytes
    /// arriving keep the attempt open until the line has been quiet a while (a reply that
    /// trickles in byte by byte is read to its end; a good reply may follow a bad frame), but
    /// never past `end`, the exchange's deadline.
    async fn await_reply(
        &mut self,
        addr: u8,
        seq: u8,
        request_cmd: u8,
        timeout: Duration,
        end: tokio::time::Instant,
    ) -> Result<Attempt, TerminalError> {
        let mut deadline = (tokio::time::Instant::now() + timeout).min(end);
        let mut heard = Hearing::default();
        let mut nak_bad_crc = false;
        let quiet = self.timing.quiet();
        let mut last_byte: Option<tokio::time::Instant> = None;
        let mut buf = [0u8; 1024];
        loop {
            while let Some(ev) = self.framer.next_event() {
                match ev {
                    FramerEvent::Frame(f) => {
                        self.last_rx = Some(Instant::now());
                        let bytes = f.encode().unwrap_or_default();
                        if !f.reply || f.addr != addr {
                            self.tap(TraceDir::Rx, &bytes, "ignored");
                            if f.reply {
                                heard.other = Some(f.addr);
                            }
                            continue;
                        }
                        if f.cmd == cmd::NAK_UNREADABLE {
                            self.tap(TraceDir::Rx, &bytes, "bad crc");
                            nak_bad_crc = true;
                            // It did not understand the request: no reply follows.
                            deadline = (tokio::time::Instant::now() + quiet).min(end);
                            continue;
                        }
                        if f.seq != seq || (f.cmd & !cmd::NAK_BIT) != request_cmd {
                            self.tap(TraceDir::Rx, &bytes, "ignored");
                            continue;
                        }
                        if f.cmd & cmd::NAK_BIT != 0 {
                            if let Ok(Reply::Nak(reason)) = Reply::decode(f.cmd, &f.data) {
                                if reason.is_transient() {
                                    self.tap(TraceDir::Rx, &bytes, "retry");
                                    return Ok(Attempt::Transient(reason));
                                }
                            }
                        }
                        self.tap(TraceDir::Rx, &bytes, "ok");
                        return Ok(Attempt::Reply(f));
                    }
                    FramerEvent::BadCrc { addr: a, .. } => {
                        self.last_rx = Some(Instant::now());
                        self.tap(TraceDir::Rx, &[], "bad crc");
                        *heard.bad_crc.entry(a).or_default() += 1;
                    }
                    FramerEvent::BadLength { addr: a, len } => {
                        self.last_rx = Some(Instant::now());
                        heard.bad_length = Some((a, len));
                    }
                    FramerEvent::Skipped(n) => {
                        self.last_rx = Some(Instant::now());
                        heard.noise += n;
                    }
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => {
                    if nak_bad_crc && !heard.anything() {
                        return Ok(Attempt::Transient(NakReason::BadCrc));
                    }
                    // Cut off by the exchange's deadline while bytes were still coming.
                    let babbling = deadline >= end && last_byte.is_some_and(|b| b + quiet > end);
                    return Ok(match heard.verdict(self.framer.partial(), babbling) {
                        Some(h) => {
                            self.tap(TraceDir::Rx, &[], "garbled");
                            Attempt::Garbage(h)
                        }
                        None if nak_bad_crc => Attempt::Transient(NakReason::BadCrc),
                        None => {
                            self.tap(TraceDir::Rx, &[], "timeout");
                            Attempt::Timeout
                        }
                    });
                }
                Ok(Ok(0)) => {
                    return Err(TerminalError::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the line closed",
                    )))
                }
                Ok(Ok(n)) => {
                    self.framer.push(&buf[..n]);
                    // Something is transmitting: wait for the line to go quiet.
                    let now = tokio::time::Instant::now();
                    last_byte = Some(now);
                    deadline = deadline.max(now + quiet).min(end);
                }
                Ok(Err(e)) => return Err(TerminalError::Io(e)),
            }
        }
    }

    /// SET_TIME to every device at once (address 255). Nobody replies; this waits long enough
    /// for every device to have set its clock before the bus is used again.
    pub async fn broadcast_set_time(&mut self, t: NaiveDateTime) -> Result<(), TerminalError> {
        let req = Request::SetTime(t);
        let frame = Frame::request(BROADCAST, 0, req.cmd(), req.encode());
        let bytes = frame
            .encode()
            .map_err(|e| TerminalError::Malformed(e.to_string()))?;
        self.send(&bytes, "broadcast").await?;
        tokio::time::sleep(
            self.timing.frame_time(bytes.len()) + self.timing.gap() + self.timing.turnaround,
        )
        .await;
        // Anything heard meanwhile is noise; nobody may answer a broadcast.
        self.framer.clear();
        Ok(())
    }

    fn unexpected(addr: u8, req: &str, reply: &Reply) -> TerminalError {
        TerminalError::Malformed(format!("machine {addr} answered {req} with {reply:?}"))
    }

    pub async fn poll(&mut self, addr: u8) -> Result<PollStatus, TerminalError> {
        match self.request(addr, &Request::Poll).await? {
            Reply::Poll(p) => Ok(p),
            r => Err(Self::unexpected(addr, "POLL", &r)),
        }
    }

    pub async fn get_info(&mut self, addr: u8) -> Result<DeviceInfo, TerminalError> {
        match self.request(addr, &Request::GetInfo).await? {
            Reply::Info(i) => Ok(i),
            r => Err(Self::unexpected(addr, "GET_INFO", &r)),
        }
    }

    pub async fn get_status(&mut self, addr: u8) -> Result<DeviceStatus, TerminalError> {
        match self.request(addr, &Request::GetStatus).await? {
            Reply::Status(s) => Ok(s),
            r => Err(Self::unexpected(addr, "GET_STATUS", &r)),
        }
    }

    pub async fn get_time(&mut self, addr: u8) -> Result<NaiveDateTime, TerminalError> {
        match self.request(addr, &Request::GetTime).await? {
            Reply::Time(t) => Ok(t),
            r => Err(Self::unexpected(addr, "GET_TIME", &r)),
        }
    }

    pub async fn set_time(&mut self, addr: u8, t: NaiveDateTime) -> Result<(), TerminalError> {
        self.expect_done(addr, &Request::SetTime(t)).await
    }

    async fn expect_done(&mut self, addr: u8, req: &Request) -> Result<(), TerminalError> {
        match self.request(addr, req).await? {
            Reply::Done => Ok(()),
            r => Err(Self::unexpected(addr, req.name(), &r)),
        }
    }

    /// Records numbered `from` and up, at most `max` (the device may send fewer to fit a frame).
    pub async fn read_records(
        &mut self,
        addr: u8,
        from: u32,
        max: u8,
    ) -> Result<RecordBatch, TerminalError> {
        match self
            .request(addr, &Request::ReadRecords { from, max })
            .await?
        {
            Reply::Records(b) => Ok(b),
            r => Err(Self::unexpected(addr, "READ_RECORDS", &r)),
        }
    }

    /// Frees every record numbered up to `up_to`; returns the oldest record still held.
    /// Send it only after the records are committed on the host.
    pub async fn ack_records(&mut self, addr: u8, up_to: u32) -> Result<u32, TerminalError> {
        match self.request(addr, &Request::AckRecords { up_to }).await? {
            Reply::Acked { first_unacked } => Ok(first_unacked),
            r => Err(Self::unexpected(addr, "ACK_RECORDS", &r)),
        }
    }

    /// The authorisation a POS waits for, if any (its POLL shows AUTH_PENDING).
    pub async fn auth_request(&mut self, addr: u8) -> Result<Option<PendingAuth>, TerminalError> {
        match self.request(addr, &Request::AuthRequest).await? {
            Reply::Pending(p) => Ok(p),
            r => Err(Self::unexpected(addr, "AUTH_REQUEST", &r)),
        }
    }

    /// The host's answer; returns the online record the POS stored (0 when declined). A
    /// retry after a lost reply gets the same answer from the device's SEQ cache.
    pub async fn auth_result(
        &mut self,
        addr: u8,
        result: AuthResult,
    ) -> Result<u32, TerminalError> {
        match self.request(addr, &Request::AuthResult(result)).await? {
            Reply::Answered { record_no } => Ok(record_no),
            r => Err(Self::unexpected(addr, "AUTH_RESULT", &r)),
        }
    }

    /// What the POS's journal says about transaction `txn_no` (READ_TXN).
    pub async fn read_txn(&mut self, addr: u8, txn_no: u32) -> Result<TxnState, TerminalError> {
        match self.request(addr, &Request::ReadTxn(txn_no)).await? {
            Reply::Txn(t) => Ok(t),
            r => Err(Self::unexpected(addr, "READ_TXN", &r)),
        }
    }

    pub async fn set_price_table(
        &mut self,
        addr: u8,
        entries: Vec<PriceEntry>,
    ) -> Result<(), TerminalError> {
        self.expect_done(addr, &Request::SetPriceTable(entries))
            .await
    }

    pub async fn set_limits(&mut self, addr: u8, limits: Limits) -> Result<(), TerminalError> {
        self.expect_done(addr, &Request::SetLimits(limits)).await
    }

    pub async fn daily_totals(
        &mut self,
        addr: u8,
        date: NaiveDate,
    ) -> Result<DailyTotals, TerminalError> {
        match self.request(addr, &Request::DailyTotals(date)).await? {
            Reply::Totals(t) => Ok(t),
            r => Err(Self::unexpected(addr, "DAILY_TOTALS", &r)),
        }
    }

    pub async fn card_present(&mut self, addr: u8) -> Result<Option<CardPresence>, TerminalError> {
        match self.request(addr, &Request::CardPresent).await? {
            Reply::CardPresent(p) => Ok(p),
            r => Err(Self::unexpected(addr, "CARD_PRESENT", &r)),
        }
    }

    /// Downloads a whole table in chunks; the device switches to it only once it is complete.
    pub async fn download_table(
        &mut self,
        addr: u8,
        table: Table,
        version: u32,
        entries: &[u32],
    ) -> Result<TableProgress, TerminalError> {
        let mut offset = 0;
        loop {
            let (progress, next) = self
                .download_chunk(addr, table, version, entries, offset)
                .await?;
            match next {
                Some(n) => offset = n,
                None => return Ok(progress),
            }
        }
    }

    /// Sends the chunk of `entries` that starts at `offset`: the next offset, or None once the
    /// device installed the whole table. A caller reporting progress steps through this.
    pub async fn download_chunk(
        &mut self,
        addr: u8,
        table: Table,
        version: u32,
        entries: &[u32],
        offset: usize,
    ) -> Result<(TableProgress, Option<usize>), TerminalError> {
        if version == 0 {
            return Err(TerminalError::Malformed(
                "table version 0 is reserved".into(),
            ));
        }
        let total = u32::try_from(entries.len())
            .map_err(|_| TerminalError::Malformed("table too long".into()))?;
        let end = (offset + CHUNK_MAX).min(entries.len());
        let chunk = TableChunk {
            version,
            total,
            offset: u32::try_from(offset)
                .map_err(|_| TerminalError::Malformed("table too long".into()))?,
            entries: entries.get(offset..end).unwrap_or_default().to_vec(),
        };
        let req = match table {
            Table::Blacklist => Request::DownloadBlacklist(chunk),
            Table::Guards => Request::DownloadGuards(chunk),
            Table::Checkpoints => Request::DownloadCheckpoints(chunk),
        };
        let progress = match self.request(addr, &req).await? {
            Reply::Table(p) => p,
            r => return Err(Self::unexpected(addr, req.name(), &r)),
        };
        if end < entries.len() {
            return Ok((progress, Some(end)));
        }
        if progress.active.version != version || progress.active.count != total {
            return Err(TerminalError::Malformed(format!(
                "machine {addr} did not install {} version {version}: {progress:?}",
                req.name()
            )));
        }
        Ok((progress, None))
    }
}

/// The tables a host downloads in chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Blacklist,
    Guards,
    Checkpoints,
}

/// 0 → 1 → 2 → 3 → 1 …
pub fn next_seq(seq: u8) -> u8 {
    match seq & 0x03 {
        3 => 1,
        s => s + 1,
    }
}

/// A device's memory of its last exchange: a request repeated with the same SEQ (a master
/// retry) gets the same reply again without being executed twice.
#[derive(Debug, Clone, Default)]
pub struct SeqCache {
    last: Option<Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    seq: u8,
    cmd: u8,
    data: Vec<u8>,
    reply: Vec<u8>,
}

impl SeqCache {
    pub fn new() -> SeqCache {
        SeqCache::default()
    }

    /// The cached reply bytes if `request` repeats the last one (same SEQ, CMD and DATA).
    pub fn lookup(&self, request: &Frame) -> Option<&[u8]> {
        let c = self.last.as_ref()?;
        (c.seq == request.seq && c.cmd == request.cmd && c.data == request.data)
            .then_some(c.reply.as_slice())
    }

    /// Remembers an executed request and its encoded reply.
    pub fn store(&mut self, request: &Frame, reply: Vec<u8>) {
        self.last = Some(Cached {
            seq: request.seq,
            cmd: request.cmd,
            data: request.data.clone(),
            reply,
        });
    }

    pub fn clear(&mut self) {
        self.last = None;
    }
}

/// What a device hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Request(Frame),
    /// A frame-aligned request addressed to `addr` that failed its CRC.
    BadCrc {
        addr: u8,
    },
}

/// The device side of a line: requests in, replies out. Replies from other devices on a
/// multi-drop bus (REPLY bit set) are passed over.
pub struct DeviceLink<S> {
    stream: S,
    framer: Framer,
    idle_reset: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> DeviceLink<S> {
    pub fn new(stream: S) -> DeviceLink<S> {
        DeviceLink {
            stream,
            framer: Framer::new(),
            idle_reset: None,
        }
    }

    /// Drops a partial frame after `idle` of silence (the t3.5 rule), so a false SOM that
    /// claims a long frame cannot swallow the master's retries.
    pub fn with_idle_reset(mut self, idle: Duration) -> DeviceLink<S> {
        self.idle_reset = Some(idle);
        self
    }

    /// The next request; None when the master closed the line.
    pub async fn next(&mut self) -> std::io::Result<Option<Incoming>> {
        let mut buf = [0u8; 1024];
        loop {
            while let Some(ev) = self.framer.next_event() {
                match ev {
                    FramerEvent::Frame(f) if !f.reply => return Ok(Some(Incoming::Request(f))),
                    FramerEvent::BadCrc {
                        addr,
                        aligned: true,
                        ..
                    } => return Ok(Some(Incoming::BadCrc { addr })),
                    _ => {}
                }
            }
            let n = match self.idle_reset {
                Some(idle) if self.framer.pending() > 0 => {
                    match tokio::time::timeout(idle, self.stream.read(&mut buf)).await {
                        Ok(r) => r?,
                        Err(_) => {
                            self.framer.clear();
                            continue;
                        }
                    }
                }
                _ => self.stream.read(&mut buf).await?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.framer.push(&buf[..n]);
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_cycle() {
        assert_eq!(next_seq(0), 1);
        assert_eq!(next_seq(1), 2);
        assert_eq!(next_seq(2), 3);
        assert_eq!(next_seq(3), 1);
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    /// The timeout table in the module docs, recomputed.
    #[test]
    fn timeout_table_matches_docs() {
        let rows = [
            (9600, 10, 3.65, 105.4, 624.2),
            (9600, 11, 4.01, 109.0, 679.6),
            (19200, 10, 1.82, 87.7, 347.1),
            (19200, 11, 2.01, 89.5, 374.8),
            (38400, 10, 1.75, 80.5, 210.2),
            (38400, 11, 1.75, 81.2, 223.9),
            (57600, 10, 1.75, 78.2, 164.6),
            (57600, 11, 1.75, 78.7, 173.8),
            (115200, 10, 1.75, 75.8, 119.1),
            (115200, 11, 1.75, 76.1, 123.6),
        ];
        for (baud, bits, gap, poll, max) in rows {
            let t = Timing::serial(baud, bits);
            assert!(
                (ms(t.gap()) - gap).abs() < 0.01,
                "{baud} {bits} gap {}",
                ms(t.gap())
            );
            let p = ms(t.reply_timeout(8, MIN_FRAME + Request::Poll.max_reply_data()));
            assert!((p - poll).abs() < 0.1, "{baud} {bits} poll {p}");
            let m = ms(t.reply_timeout(13, 512));
            assert!((m - max).abs() < 0.1, "{baud} {bits} max {m}");
        }
    }
}
