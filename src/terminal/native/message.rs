//! Application layer: every command and reply, the records, BCD time and money in fen, each
//! encoded and decoded once. Layouts are tabulated in the module docs of [`super`].

use super::frame::MAX_DATA;
use crate::terminal::bcd;
use chrono::{NaiveDate, NaiveDateTime};
use std::fmt;

mod auth;
mod records;
mod txn;
pub use auth::{AuthResult, DenyReason, PendingAuth, PIN_LEN};
pub use records::{PurchaseMode, PurchaseRecord, RecordBatch, Records, ScanEvent, ScanRecord};
pub use txn::TxnState;

/// Command codes (the CMD byte of a request; a good reply echoes it).
pub mod cmd {
    pub const POLL: u8 = 0x01;
    pub const GET_INFO: u8 = 0x02;
    pub const GET_STATUS: u8 = 0x03;
    pub const GET_TIME: u8 = 0x04;
    pub const SET_TIME: u8 = 0x05;
    pub const READ_RECORDS: u8 = 0x06;
    pub const ACK_RECORDS: u8 = 0x07;
    pub const DOWNLOAD_BLACKLIST: u8 = 0x11;
    pub const SET_PRICE_TABLE: u8 = 0x12;
    pub const SET_LIMITS: u8 = 0x13;
    pub const DAILY_TOTALS: u8 = 0x14;
    pub const AUTH_REQUEST: u8 = 0x15;
    pub const AUTH_RESULT: u8 = 0x16;
    pub const READ_TXN: u8 = 0x17;
    pub const DOWNLOAD_GUARDS: u8 = 0x20;
    pub const DOWNLOAD_CHECKPOINTS: u8 = 0x21;
    pub const CARD_PRESENT: u8 = 0x30;
    /// A NAK's CMD is the request's CMD with this bit set.
    pub const NAK_BIT: u8 = 0x80;
    /// NAK of a request whose CMD could not be trusted (bad CRC).
    pub const NAK_UNREADABLE: u8 = 0xFF;
}

/// Entries per table chunk: 13 bytes of chunk header + 120 × 4 fits in MAX_DATA.
pub const CHUNK_MAX: usize = 120;
/// Price table entries.
pub const PRICE_TABLE_MAX: usize = 16;
// A full chunk and a full price table each fit in one frame.
const _: () = assert!(13 + CHUNK_MAX * 4 <= MAX_DATA);
const _: () = assert!(PRICE_TABLE_MAX * 7 < MAX_DATA);
pub const PURCHASE_RECORD_LEN: usize = 29;
pub const SCAN_RECORD_LEN: usize = 20;
/// READ_RECORDS reply header: kind, count, next_record.
pub const RECORDS_HEADER_LEN: usize = 6;
pub const MAX_PURCHASES_PER_REPLY: usize = (MAX_DATA - RECORDS_HEADER_LEN) / PURCHASE_RECORD_LEN;
pub const MAX_SCANS_PER_REPLY: usize = (MAX_DATA - RECORDS_HEADER_LEN) / SCAN_RECORD_LEN;
pub const MODEL_LEN: usize = 16;
pub const FIRMWARE_LEN: usize = 8;

/// Why application data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn bad(msg: impl Into<String>) -> DecodeError {
    DecodeError(msg.into())
}

/// Little-endian cursor over a DATA field; every read is bounds-checked.
struct Rd<'a> {
    b: &'a [u8],
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8]) -> Self {
        Rd { b }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(bad(format!("data ends {} bytes early", n - self.b.len())));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_le_bytes(a))
    }
    fn time(&mut self) -> Result<NaiveDateTime, DecodeError> {
        let s = self.take(7)?;
        let mut a = [0u8; 7];
        a.copy_from_slice(s);
        bcd_to_time(&a)
    }
    fn date(&mut self) -> Result<NaiveDate, DecodeError> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        bcd_to_date(&a)
    }
    fn text(&mut self, n: usize) -> Result<String, DecodeError> {
        let s = self.take(n)?;
        let end = s.iter().position(|&c| c == 0).unwrap_or(n);
        Ok(String::from_utf8_lossy(&s[..end]).into_owned())
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(bad(format!("{} unexpected trailing bytes", self.b.len())))
        }
    }
}

fn put_text(out: &mut Vec<u8>, s: &str, n: usize) {
    let mut field = vec![0u8; n];
    for (dst, src) in field.iter_mut().zip(s.bytes()) {
        *dst = src;
    }
    out.extend_from_slice(&field);
}

/// 4 BCD bytes YYYYMMDD (years past 9999 written as 9999).
pub fn date_to_bcd(d: NaiveDate) -> [u8; 4] {
    bcd::encode_date(d).unwrap_or([0x99, 0x99, 0x12, 0x31])
}

pub fn bcd_to_date(b: &[u8; 4]) -> Result<NaiveDate, DecodeError> {
    bcd::decode_date(b).ok_or_else(|| bad(format!("{} is not a BCD date", hex::encode(b))))
}

/// 7 BCD bytes YYYYMMDDhhmmss, terminal local time (no zone, no sub-second part).
pub fn time_to_bcd(t: NaiveDateTime) -> [u8; 7] {
    let d = date_to_bcd(t.date());
    let h = bcd::encode_time(t.time());
    [d[0], d[1], d[2], d[3], h[0], h[1], h[2]]
}

pub fn bcd_to_time(b: &[u8; 7]) -> Result<NaiveDateTime, DecodeError> {
    bcd::decode_datetime(b).ok_or_else(|| bad(format!("{} is not a BCD time", hex::encode(b))))
}

/// What a device is (GET_INFO / GET_STATUS byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    Pos = 1,
    PatrolReader = 2,
    DeskReader = 3,
}

impl DeviceKind {
    fn from_code(c: u8) -> Result<DeviceKind, DecodeError> {
        match c {
            1 => Ok(DeviceKind::Pos),
            2 => Ok(DeviceKind::PatrolReader),
            3 => Ok(DeviceKind::DeskReader),
            _ => Err(bad(format!("unknown device kind {c}"))),
        }
    }
}

/// A pending condition reported by POLL. The code is also the priority: 1 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    MemoryFull = 1,
    ClockLost = 2,
    MemoryNearlyFull = 3,
    TablesMissing = 4,
    CardPresent = 5,
    RecordsPending = 6,
    /// POS: a cardholder waits for an online authorisation (read it with AUTH_REQUEST).
    AuthPending = 7,
}

impl Condition {
    pub const ALL: [Condition; 7] = [
        Condition::MemoryFull,
        Condition::ClockLost,
        Condition::MemoryNearlyFull,
        Condition::TablesMissing,
        Condition::CardPresent,
        Condition::RecordsPending,
        Condition::AuthPending,
    ];

    /// The bit in the conditions byte.
    pub fn bit(self) -> u8 {
        1 << (self as u8 - 1)
    }

    pub fn name(self) -> &'static str {
        match self {
            Condition::MemoryFull => "memory full",
            Condition::ClockLost => "clock lost",
            Condition::MemoryNearlyFull => "memory nearly full",
            Condition::TablesMissing => "tables missing",
            Condition::CardPresent => "card present",
            Condition::RecordsPending => "records pending",
            Condition::AuthPending => "authorisation pending",
        }
    }
}

/// The set of active conditions (bit n = condition code n+1; bit 7 reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Conditions(pub u8);

impl Conditions {
    pub fn with(mut self, c: Condition, on: bool) -> Self {
        if on {
            self.0 |= c.bit();
        }
        self
    }
    pub fn has(self, c: Condition) -> bool {
        self.0 & c.bit() != 0
    }
    /// The highest-priority active condition (POLL's status byte), None when all is well.
    pub fn highest(self) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| self.has(*c))
    }
    fn status_code(self) -> u8 {
        self.highest().map_or(0, |c| c as u8)
    }
}

/// A card on the desk reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardPresence {
    pub card: u32,
    /// True when the reader does not know the card (a blank to issue), false when already used.
    pub new_card: bool,
}

fn put_presence(out: &mut Vec<u8>, p: Option<CardPresence>) {
    match p {
        Some(p) => {
            out.extend_from_slice(&p.card.to_le_bytes());
            out.push(if p.new_card { 1 } else { 2 });
        }
        None => out.extend_from_slice(&[0; 5]),
    }
}

fn get_presence(r: &mut Rd<'_>) -> Result<Option<CardPresence>, DecodeError> {
    let card = r.u32()?;
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(CardPresence {
            card,
            new_card: true,
        })),
        2 => Ok(Some(CardPresence {
            card,
            new_card: false,
        })),
        s => Err(bad(format!("card state {s}"))),
    }
}

/// POLL reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollStatus {
    pub conditions: Conditions,
    /// Records in memory not yet acknowledged.
    pub stored: u32,
    pub card: Option<CardPresence>,
}

impl PollStatus {
    pub fn status(&self) -> Option<Condition> {
        self.conditions.highest()
    }
}

/// GET_INFO reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    pub model: String,
    pub firmware: String,
    pub serial: u32,
    /// The oldest record still held (== next_record when memory is empty).
    pub first_unacked: u32,
    /// The number the next record will get.
    pub next_record: u32,
    /// Records the memory holds.
    pub capacity: u32,
}

/// A downloaded table's state: the version in force and its entry count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableState {
    pub version: u32,
    pub count: u32,
}

/// GET_STATUS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceStatus {
    pub kind: DeviceKind,
    pub conditions: Conditions,
    pub clock: NaiveDateTime,
    pub stored: u32,
    pub capacity: u32,
    /// POS: blacklist; patrol: guards; desk: unused (zero).
    pub table_a: TableState,
    /// POS: price table (version 0, count = entries); patrol: checkpoints; desk: unused.
    pub table_b: TableState,
    pub uptime_secs: u32,
}

/// One chunk of a downloaded table (blacklist, guards, checkpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChunk {
    /// Version of the whole list; nonzero.
    pub version: u32,
    /// Entries in the whole list.
    pub total: u32,
    /// Index of this chunk's first entry; 0 starts a new list.
    pub offset: u32,
    /// At most CHUNK_MAX.
    pub entries: Vec<u32>,
}

/// Reply to a table chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableProgress {
    /// The table in force (changes only when a list is complete).
    pub active: TableState,
    /// Entries of the list being received (== total once installed).
    pub received: u32,
}

/// One meal slot of the price table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceEntry {
    pub slot: u8,
    /// Minutes after local midnight at which the slot starts (0..1440).
    pub start_minute: u16,
    /// Fixed price; 0 = the cashier keys the amount.
    pub price_fen: u32,
}

/// Purchase limits; 0 means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub per_purchase_fen: u32,
    pub daily_count: u16,
    pub pin_above_fen: u32,
    /// Offline, the most one card may spend on one local day.
    pub offline_daily_fen: u32,
}

/// DAILY_TOTALS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyTotals {
    pub date: NaiveDate,
    pub count: u32,
    pub sum_fen: i64,
}

/// NAK reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NakReason {
    BadCrc,
    UnknownCommand,
    BadParameter,
    MemoryFull,
    Busy,
    Other(u8),
}

impl NakReason {
    pub fn code(self) -> u8 {
        match self {
            NakReason::BadCrc => 1,
            NakReason::UnknownCommand => 2,
            NakReason::BadParameter => 3,
            NakReason::MemoryFull => 4,
            NakReason::Busy => 5,
            NakReason::Other(c) => c,
        }
    }
    pub fn from_code(c: u8) -> NakReason {
        match c {
            1 => NakReason::BadCrc,
            2 => NakReason::UnknownCommand,
            3 => NakReason::BadParameter,
            4 => NakReason::MemoryFull,
            5 => NakReason::Busy,
            c => NakReason::Other(c),
        }
    }
    /// Not executed, so neither cached by the device nor final for the master: retry.
    pub fn is_transient(self) -> bool {
        matches!(self, NakReason::BadCrc | NakReason::Busy)
    }
}

impl fmt::Display for NakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NakReason::BadCrc => f.write_str("bad CRC"),
            NakReason::UnknownCommand => f.write_str("unknown command"),
            NakReason::BadParameter => f.write_str("bad parameter"),
            NakReason::MemoryFull => f.write_str("memory full"),
            NakReason::Busy => f.write_str("busy"),
            NakReason::Other(c) => write!(f, "reason {c:#04x}"),
        }
    }
}

/// A request from the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Poll,
    GetInfo,
    GetStatus,
    GetTime,
    SetTime(NaiveDateTime),
    ReadRecords {
        from: u32,
        max: u8,
    },
    AckRecords {
        up_to: u32,
    },
    DownloadBlacklist(TableChunk),
    SetPriceTable(Vec<PriceEntry>),
    SetLimits(Limits),
    DailyTotals(NaiveDate),
    DownloadGuards(TableChunk),
    DownloadCheckpoints(TableChunk),
    CardPresent,
    AuthRequest,
    AuthResult(AuthResult),
    /// What the journal says about a transaction number.
    ReadTxn(u32),
}

fn put_chunk(out: &mut Vec<u8>, c: &TableChunk) {
    out.extend_from_slice(&c.version.to_le_bytes());
    out.extend_from_slice(&c.total.to_le_bytes());
    out.extend_from_slice(&c.offset.to_le_bytes());
    out.push(c.entries.len().min(CHUNK_MAX) as u8);
    for e in c.entries.iter().take(CHUNK_MAX) {
        out.extend_from_slice(&e.to_le_bytes());
    }
}

fn get_chunk(r: &mut Rd<'_>) -> Result<TableChunk, DecodeError> {
    let version = r.u32()?;
    let total = r.u32()?;
    let offset = r.u32()?;
    let n = usize::from(r.u8()?);
    if n > CHUNK_MAX {
        return Err(bad(format!("chunk of {n} entries")));
    }
    let entries = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    Ok(TableChunk {
        version,
        total,
        offset,
        entries,
    })
}

impl Request {
    pub fn cmd(&self) -> u8 {
        match self {
            Request::Poll => cmd::POLL,
            Request::GetInfo => cmd::GET_INFO,
            Request::GetStatus => cmd::GET_STATUS,
            Request::GetTime => cmd::GET_TIME,
            Request::SetTime(_) => cmd::SET_TIME,
            Request::ReadRecords { .. } => cmd::READ_RECORDS,
            Request::AckRecords { .. } => cmd::ACK_RECORDS,
            Request::DownloadBlacklist(_) => cmd::DOWNLOAD_BLACKLIST,
            Request::SetPriceTable(_) => cmd::SET_PRICE_TABLE,
            Request::SetLimits(_) => cmd::SET_LIMITS,
            Request::DailyTotals(_) => cmd::DAILY_TOTALS,
            Request::DownloadGuards(_) => cmd::DOWNLOAD_GUARDS,
            Request::DownloadCheckpoints(_) => cmd::DOWNLOAD_CHECKPOINTS,
            Request::CardPresent => cmd::CARD_PRESENT,
            Request::AuthRequest => cmd::AUTH_REQUEST,
            Request::AuthResult(_) => cmd::AUTH_RESULT,
            Request::ReadTxn(_) => cmd::READ_TXN,
        }
    }

    pub fn name(&self) -> &'static str {
        command_name(self.cmd())
    }

    /// The DATA field. Lists longer than the protocol allows are cut at the limit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::Poll
            | Request::GetInfo
            | Request::GetStatus
            | Request::GetTime
            | Request::CardPresent
            | Request::AuthRequest => {}
            Request::AuthResult(a) => a.encode(&mut out),
            Request::ReadTxn(n) => out.extend_from_slice(&n.to_le_bytes()),
            Request::SetTime(t) => out.extend_from_slice(&time_to_bcd(*t)),
            Request::ReadRecords { from, max } => {
                out.extend_from_slice(&from.to_le_bytes());
                out.push(*max);
            }
            Request::AckRecords { up_to } => out.extend_from_slice(&up_to.to_le_bytes()),
            Request::DownloadBlacklist(c)
            | Request::DownloadGuards(c)
            | Request::DownloadCheckpoints(c) => put_chunk(&mut out, c),
            Request::SetPriceTable(entries) => {
                out.push(entries.len().min(PRICE_TABLE_MAX) as u8);
                for e in entries.iter().take(PRICE_TABLE_MAX) {
                    out.push(e.slot);
                    out.extend_from_slice(&e.start_minute.to_le_bytes());
                    out.extend_from_slice(&e.price_fen.to_le_bytes());
                }
            }
            Request::SetLimits(l) => {
                out.extend_from_slice(&l.per_purchase_fen.to_le_bytes());
                out.extend_from_slice(&l.daily_count.to_le_bytes());
                out.extend_from_slice(&l.pin_above_fen.to_le_bytes());
                out.extend_from_slice(&l.offline_daily_fen.to_le_bytes());
            }
            Request::DailyTotals(d) => out.extend_from_slice(&date_to_bcd(*d)),
        }
        out
    }

    /// Decodes a request's DATA; `Ok(None)` for an unknown CMD (NAK UNKNOWN_COMMAND),
    /// `Err` for bad data (NAK BAD_PARAMETER).
    pub fn decode(cmd_code: u8, data: &[u8]) -> Result<Option<Request>, DecodeError> {
        let mut r = Rd::new(data);
        let req = match cmd_code {
            cmd::POLL => Request::Poll,
            cmd::GET_INFO => Request::GetInfo,
            cmd::GET_STATUS => Request::GetStatus,
            cmd::GET_TIME => Request::GetTime,
            cmd::CARD_PRESENT => Request::CardPresent,
            cmd::AUTH_REQUEST => Request::AuthRequest,
            cmd::AUTH_RESULT => Request::AuthResult(AuthResult::read(&mut r)?),
            cmd::READ_TXN => Request::ReadTxn(r.u32()?),
            cmd::SET_TIME => Request::SetTime(r.time()?),
            cmd::READ_RECORDS => Request::ReadRecords {
                from: r.u32()?,
                max: r.u8()?,
            },
            cmd::ACK_RECORDS => Request::AckRecords { up_to: r.u32()? },
            cmd::DOWNLOAD_BLACKLIST => Request::DownloadBlacklist(get_chunk(&mut r)?),
            cmd::DOWNLOAD_GUARDS => Request::DownloadGuards(get_chunk(&mut r)?),
            cmd::DOWNLOAD_CHECKPOINTS => Request::DownloadCheckpoints(get_chunk(&mut r)?),
            cmd::SET_PRICE_TABLE => {
                let n = usize::from(r.u8()?);
                if n > PRICE_TABLE_MAX {
                    return Err(bad(format!("price table of {n} entries")));
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let e = PriceEntry {
                        slot: r.u8()?,
                        start_minute: r.u16()?,
                        price_fen: r.u32()?,
                    };
                    if e.start_minute >= 1440 {
                        return Err(bad(format!("slot starts at minute {}", e.start_minute)));
                    }
                    entries.push(e);
                }
                Request::SetPriceTable(entries)
            }
            cmd::SET_LIMITS => Request::SetLimits(Limits {
                per_purchase_fen: r.u32()?,
                daily_count: r.u16()?,
                pin_above_fen: r.u32()?,
                offline_daily_fen: r.u32()?,
            }),
            cmd::DAILY_TOTALS => Request::DailyTotals(r.date()?),
            _ => return Ok(None),
        };
        r.end()?;
        Ok(Some(req))
    }

    /// The longest reply this request can get, for the reply timeout.
    pub fn max_reply_data(&self) -> usize {
        match self {
            Request::Poll => 11,
            Request::GetInfo => 1 + MODEL_LEN + FIRMWARE_LEN + 16,
            Request::GetStatus => 2 + 7 + 8 + 16 + 4,
            Request::GetTime => 7,
            Request::SetTime(_) | Request::SetPriceTable(_) | Request::SetLimits(_) => 1,
            Request::ReadRecords { max, .. } => {
                let n = usize::from(*max).min(MAX_SCANS_PER_REPLY);
                (RECORDS_HEADER_LEN + n * PURCHASE_RECORD_LEN).min(MAX_DATA)
            }
            Request::AckRecords { .. } => 4,
            Request::DownloadBlacklist(_)
            | Request::DownloadGuards(_)
            | Request::DownloadCheckpoints(_) => 12,
            Request::DailyTotals(_) => 16,
            Request::CardPresent => 5,
            Request::AuthRequest => PendingAuth::LEN,
            Request::AuthResult(_) => 4,
            Request::ReadTxn(_) => 1 + PURCHASE_RECORD_LEN,
        }
    }
}

/// Name of a command code, for logs and the frame trace.
pub fn command_name(code: u8) -> &'static str {
    match code & !cmd::NAK_BIT {
        cmd::POLL => "POLL",
        cmd::GET_INFO => "GET_INFO",
        cmd::GET_STATUS => "GET_STATUS",
        cmd::GET_TIME => "GET_TIME",
        cmd::SET_TIME => "SET_TIME",
        cmd::READ_RECORDS => "READ_RECORDS",
        cmd::ACK_RECORDS => "ACK_RECORDS",
        cmd::DOWNLOAD_BLACKLIST => "DOWNLOAD_BLACKLIST",
        cmd::SET_PRICE_TABLE => "SET_PRICE_TABLE",
        cmd::SET_LIMITS => "SET_LIMITS",
        cmd::DAILY_TOTALS => "DAILY_TOTALS",
        cmd::DOWNLOAD_GUARDS => "DOWNLOAD_GUARDS",
        cmd::DOWNLOAD_CHECKPOINTS => "DOWNLOAD_CHECKPOINTS",
        cmd::CARD_PRESENT => "CARD_PRESENT",
        cmd::AUTH_REQUEST => "AUTH_REQUEST",
        cmd::AUTH_RESULT => "AUTH_RESULT",
        cmd::READ_TXN => "READ_TXN",
        _ => "UNKNOWN",
    }
}

/// A reply from a device. Its CMD is the request's (a NAK's has bit 7 set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Poll(PollStatus),
    Info(DeviceInfo),
    Status(DeviceStatus),
    Time(NaiveDateTime),
    /// SET_TIME, SET_PRICE_TABLE, SET_LIMITS: done (one byte 0x00).
    Done,
    Records(RecordBatch),
    /// ACK_RECORDS: the oldest record still held afterwards.
    Acked {
        first_unacked: u32,
    },
    Table(TableProgress),
    Totals(DailyTotals),
    CardPresent(Option<CardPresence>),
    /// AUTH_REQUEST: the authorisation the POS waits for, if any.
    Pending(Option<PendingAuth>),
    /// AUTH_RESULT: the online record stored (0 when declined).
    Answered {
        record_no: u32,
    },
    /// READ_TXN.
    Txn(TxnState),
    Nak(NakReason),
}

impl Reply {
    /// The reply frame's CMD byte for a request with `request_cmd`.
    pub fn cmd_for(&self, request_cmd: u8) -> u8 {
        match self {
            Reply::Nak(NakReason::BadCrc) => cmd::NAK_UNREADABLE,
            Reply::Nak(_) => request_cmd | cmd::NAK_BIT,
            _ => request_cmd,
        }
    }

    /// The DATA field. Record lists longer than a frame holds are cut to fit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Reply::Poll(p) => {
                out.push(p.conditions.status_code());
                out.push(p.conditions.0);
                out.extend_from_slice(&p.stored.to_le_bytes());
                put_presence(&mut out, p.card);
            }
            Reply::Info(i) => {
                out.push(i.kind as u8);
                put_text(&mut out, &i.model, MODEL_LEN);
                put_text(&mut out, &i.firmware, FIRMWARE_LEN);
                out.extend_from_slice(&i.serial.to_le_bytes());
                out.extend_from_slice(&i.first_unacked.to_le_bytes());
                out.extend_from_slice(&i.next_record.to_le_bytes());
                out.extend_from_slice(&i.capacity.to_le_bytes());
            }
            Reply::Status(s) => {
                out.push(s.kind as u8);
                out.push(s.conditions.0);
                out.extend_from_slice(&time_to_bcd(s.clock));
                out.extend_from_slice(&s.stored.to_le_bytes());
                out.extend_from_slice(&s.capacity.to_le_bytes());
                for t in [s.table_a, s.table_b] {
                    out.extend_from_slice(&t.version.to_le_bytes());
                    out.extend_from_slice(&t.count.to_le_bytes());
                }
                out.extend_from_slice(&s.uptime_secs.to_le_bytes());
            }
            Reply::Time(t) => out.extend_from_slice(&time_to_bcd(*t)),
            Reply::Done => out.push(0),
            Reply::Records(b) => {
                let (kind, n) = match &b.records {
                    Records::None => (0u8, 0usize),
                    Records::Purchases(v) => (1, v.len().min(MAX_PURCHASES_PER_REPLY)),
                    Records::Scans(v) => (2, v.len().min(MAX_SCANS_PER_REPLY)),
                };
                out.push(kind);
                out.push(n as u8);
                out.extend_from_slice(&b.next_record.to_le_bytes());
                match &b.records {
                    Records::None => {}
                    Records::Purchases(v) => v.iter().take(n).for_each(|r| r.encode(&mut out)),
                    Records::Scans(v) => v.iter().take(n).for_each(|r| r.encode(&mut out)),
                }
            }
            Reply::Acked { first_unacked } => out.extend_from_slice(&first_unacked.to_le_bytes()),
            Reply::Table(t) => {
                out.extend_from_slice(&t.active.version.to_le_bytes());
                out.extend_from_slice(&t.active.count.to_le_bytes());
                out.extend_from_slice(&t.received.to_le_bytes());
            }
            Reply::Totals(t) => {
                out.extend_from_slice(&date_to_bcd(t.date));
                out.extend_from_slice(&t.count.to_le_bytes());
                out.extend_from_slice(&t.sum_fen.to_le_bytes());
            }
            Reply::CardPresent(p) => put_presence(&mut out, *p),
            Reply::Pending(p) => PendingAuth::encode(p.as_ref(), &mut out),
            Reply::Answered { record_no } => out.extend_from_slice(&record_no.to_le_bytes()),
            Reply::Txn(t) => t.encode(&mut out),
            Reply::Nak(reason) => out.push(reason.code()),
        }
        out
    }

    /// Decodes a reply's DATA given the reply frame's CMD.
    pub fn decode(cmd_code: u8, data: &[u8]) -> Result<Reply, DecodeError> {
        let mut r = Rd::new(data);
        if cmd_code & cmd::NAK_BIT != 0 {
            let reason = if data.is_empty() {
                NakReason::Other(0)
            } else {
                NakReason::from_code(r.u8()?)
            };
            r.end()?;
            return Ok(Reply::Nak(reason));
        }
        let reply = match cmd_code {
            cmd::POLL => {
                let status = r.u8()?;
                let conditions = Conditions(r.u8()?);
                if status != conditions.status_code() {
                    return Err(bad(format!(
                        "POLL status {status} disagrees with conditions {:#04x}",
                        conditions.0
                    )));
                }
                Reply::Poll(PollStatus {
                    conditions,
                    stored: r.u32()?,
                    card: get_presence(&mut r)?,
                })
            }
            cmd::GET_INFO => Reply::Info(DeviceInfo {
                kind: DeviceKind::from_code(r.u8()?)?,
                model: r.text(MODEL_LEN)?,
                firmware: r.text(FIRMWARE_LEN)?,
                serial: r.u32()?,
                first_unacked: r.u32()?,
                next_record: r.u32()?,
                capacity: r.u32()?,
            }),
            cmd::GET_STATUS => Reply::Status(DeviceStatus {
                kind: DeviceKind::from_code(r.u8()?)?,
                conditions: Conditions(r.u8()?),
                clock: r.time()?,
                stored: r.u32()?,
                capacity: r.u32()?,
                table_a: TableState {
                    version: r.u32()?,
                    count: r.u32()?,
                },
                table_b: TableState {
                    version: r.u32()?,
                    count: r.u32()?,
                },
                uptime_secs: r.u32()?,
            }),
            cmd::GET_TIME => Reply::Time(r.time()?),
            cmd::SET_TIME | cmd::SET_PRICE_TABLE | cmd::SET_LIMITS => {
                let status = r.u8()?;
                if status != 0 {
                    return Err(bad(format!("done status {status}")));
                }
                Reply::Done
            }
            cmd::READ_RECORDS => {
                let kind = r.u8()?;
                let n = usize::from(r.u8()?);
                let next_record = r.u32()?;
                let records = match kind {
                    0 if n == 0 => Records::None,
                    1 => Records::Purchases(
                        (0..n)
                            .map(|_| PurchaseRecord::read(&mut r))
                            .collect::<Result<_, _>>()?,
                    ),
                    2 => Records::Scans(
                        (0..n)
                            .map(|_| ScanRecord::read(&mut r))
                            .collect::<Result<_, _>>()?,
                    ),
                    k => return Err(bad(format!("record kind {k} with {n} records"))),
                };
                Reply::Records(RecordBatch {
                    next_record,
                    records,
                })
            }
            cmd::ACK_RECORDS => Reply::Acked {
                first_unacked: r.u32()?,
            },
            cmd::DOWNLOAD_BLACKLIST | cmd::DOWNLOAD_GUARDS | cmd::DOWNLOAD_CHECKPOINTS => {
                Reply::Table(TableProgress {
                    active: TableState {
                        version: r.u32()?,
                        count: r.u32()?,
                    },
                    received: r.u32()?,
                })
            }
            cmd::DAILY_TOTALS => Reply::Totals(DailyTotals {
                date: r.date()?,
                count: r.u32()?,
                sum_fen: r.i64()?,
            }),
            cmd::CARD_PRESENT => Reply::CardPresent(get_presence(&mut r)?),
            cmd::AUTH_REQUEST => Reply::Pending(PendingAuth::read(&mut r)?),
            cmd::AUTH_RESULT => Reply::Answered {
                record_no: r.u32()?,
            },
            cmd::READ_TXN => Reply::Txn(TxnState::read(&mut r)?),
            c => return Err(bad(format!("reply with unknown CMD {c:#04x}"))),
        };
        r.end()?;
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_time_bytes() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(8, 5, 9)
            .unwrap();
        assert_eq!(time_to_bcd(t), [0x20, 0x26, 0x11, 0x22, 0x08, 0x05, 0x09]);
        assert_eq!(bcd_to_time(&time_to_bcd(t)).unwrap(), t);
        assert!(bcd_to_time(&[0x20, 0x26, 0x13, 0x01, 0, 0, 0]).is_err());
        assert!(bcd_to_time(&[0x20, 0x2A, 0x01, 0x01, 0, 0, 0]).is_err());
    }

    #[test]
    fn sizes_fit_a_frame() {
        assert_eq!(MAX_PURCHASES_PER_REPLY, 17);
        assert_eq!(MAX_SCANS_PER_REPLY, 24);
    }
}
