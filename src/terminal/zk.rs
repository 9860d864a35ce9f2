//! ZKTeco "standalone" attendance protocol (port 4370): packets, TCP framing, checksum, comm
//! key, ZK-time, attendance and user records, realtime events. The client lives in `zk/client.rs`.
//!
//! Every decoder takes untrusted bytes and returns `TerminalError::Malformed` instead of
//! panicking; every encoder writes what a real device or pyzk would.

mod client;

pub use client::{AttLog, ClientStats, DeviceInfo, EventStream, ZkClient};

use super::TerminalError;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Command and reply codes (`zk/const.py`).
pub mod cmd {
    pub const DB_RRQ: u16 = 7;
    pub const USER_WRQ: u16 = 8;
    pub const USERTEMP_RRQ: u16 = 9;
    pub const OPTIONS_RRQ: u16 = 11;
    pub const OPTIONS_WRQ: u16 = 12;
    pub const ATTLOG_RRQ: u16 = 13;
    pub const CLEAR_DATA: u16 = 14;
    pub const CLEAR_ATTLOG: u16 = 15;
    pub const DELETE_USER: u16 = 18;
    pub const UNLOCK: u16 = 31;
    pub const GET_FREE_SIZES: u16 = 50;
    pub const STARTVERIFY: u16 = 60;
    pub const CANCELCAPTURE: u16 = 62;
    pub const GET_PINWIDTH: u16 = 69;
    pub const GET_TIME: u16 = 201;
    pub const SET_TIME: u16 = 202;
    pub const REG_EVENT: u16 = 500;
    pub const CONNECT: u16 = 1000;
    pub const EXIT: u16 = 1001;
    pub const ENABLEDEVICE: u16 = 1002;
    pub const DISABLEDEVICE: u16 = 1003;
    pub const RESTART: u16 = 1004;
    pub const REFRESHDATA: u16 = 1013;
    pub const TESTVOICE: u16 = 1017;
    pub const GET_VERSION: u16 = 1100;
    pub const AUTH: u16 = 1102;
    pub const PREPARE_DATA: u16 = 1500;
    pub const DATA: u16 = 1501;
    pub const FREE_DATA: u16 = 1502;
    pub const PREPARE_BUFFER: u16 = 1503;
    pub const READ_BUFFER: u16 = 1504;
    pub const ACK_OK: u16 = 2000;
    pub const ACK_ERROR: u16 = 2001;
    pub const ACK_DATA: u16 = 2002;
    pub const ACK_UNAUTH: u16 = 2005;
    pub const ACK_UNKNOWN: u16 = 0xFFFF;
}

/// `fct` argument of a prepare-buffer request for the user table.
pub const FCT_USER: u32 = 5;
/// Realtime event flags for CMD_REG_EVENT, and event codes in pushed packets.
pub const EF_ATTLOG: u32 = 1;
pub const EF_ALARM: u32 = 0x200;

/// `50 50 82 7D`: the TCP prefix before every ZK packet.
pub const TCP_MAGIC: [u8; 4] = [0x50, 0x50, 0x82, 0x7D];
pub const TCP_TOP_LEN: usize = 8;
pub const HEADER_LEN: usize = 8;
/// Largest ZK packet a framer accepts; a bigger length field means the stream is garbage.
pub const MAX_PACKET_LEN: usize = 1 << 20;
/// Largest chunk one read-buffer request asks for over TCP (pyzk's `0xFFC0`).
pub const MAX_TCP_CHUNK: usize = 0xFFC0;

pub const ATT_RECORD_LEN: usize = 40;
pub const USER_RECORD_LEN: usize = 72;
pub const USER_RECORD_LEN_OLD: usize = 28;
pub const ATT_EVENT_LEN: usize = 32;

fn malformed(what: impl Into<String>) -> TerminalError {
    TerminalError::Malformed(what.into())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    u32_at(b, at).map(|v| v as i32)
}

/// RFC 1071 ones'-complement sum over little-endian u16 words, odd byte padded with zero.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_le_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// One ZK packet: the 8-byte header and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub command: u16,
    /// As received, or as computed by `Packet::new`.
    pub checksum: u16,
    /// Session id; in pushed realtime packets, the event code.
    pub session: u16,
    pub reply: u16,
    pub data: Vec<u8>,
}

impl Packet {
    /// A packet with a correct checksum.
    pub fn new(command: u16, session: u16, reply: u16, data: Vec<u8>) -> Packet {
        let mut p = Packet {
            command,
            checksum: 0,
            session,
            reply,
            data,
        };
        p.checksum = p.expected_checksum();
        p
    }

    pub fn expected_checksum(&self) -> u16 {
        let mut b = Vec::with_capacity(HEADER_LEN + self.data.len());
        self.write_header(&mut b, 0);
        b.extend_from_slice(&self.data);
        checksum(&b)
    }

    pub fn checksum_ok(&self) -> bool {
        self.checksum == self.expected_checksum()
    }

    fn write_header(&self, out: &mut Vec<u8>, checksum: u16) {
        out.extend_from_slice(&self.command.to_le_bytes());
        out.extend_from_slice(&checksum.to_le_bytes());
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.reply.to_le_bytes());
    }

    /// Header + data, as one UDP datagram carries it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len());
        self.write_header(&mut out, self.checksum);
        out.extend_from_slice(&self.data);
        out
    }

    /// TCP prefix + header + data.
    pub fn encode_tcp(&self) -> Vec<u8> {
        let len = (HEADER_LEN + self.data.len()) as u32;
        let mut out = Vec::with_capacity(TCP_TOP_LEN + len as usize);
        out.extend_from_slice(&TCP_MAGIC);
        out.extend_from_slice(&len.to_le_bytes());
        self.write_header(&mut out, self.checksum);
        out.extend_from_slice(&self.data);
        out
    }

    /// Decodes header + data (a UDP datagram, or a TCP frame without its prefix).
    pub fn decode(bytes: &[u8]) -> Result<Packet, TerminalError> {
        let (Some(command), Some(checksum), Some(session), Some(reply)) = (
            u16_at(bytes, 0),
            u16_at(bytes, 2),
            u16_at(bytes, 4),
            u16_at(bytes, 6),
        ) else {
            return Err(malformed(format!("{}-byte packet", bytes.len())));
        };
        Ok(Packet {
            command,
            checksum,
            session,
            reply,
            data: bytes[HEADER_LEN..].to_vec(),
        })
    }
}

/// Splits a TCP byte stream into ZK packets by the length field: several packets may arrive in
/// one read and one packet may be split across reads. A bad prefix or length is not
/// recoverable (there is no resync marker the data cannot contain): drop the connection.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unframed bytes in `buf`; consumed bytes are dropped on the next push, so
    /// a read carrying thousands of small packets costs one copy, not one per packet.
    pos: usize,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet framed.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn next_packet(&mut self) -> Result<Option<Packet>, TerminalError> {
        let rest = &self.buf[self.pos..];
        let have = rest.len().min(4);
        if rest[..have] != TCP_MAGIC[..have] {
            return Err(malformed(format!(
                "TCP prefix {:02x?}, expected 50 50 82 7d",
                &rest[..have]
            )));
        }
        let Some(len) = u32_at(rest, 4) else {
            return Ok(None);
        };
        let len = len as usize;
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(malformed(format!("TCP length {len}")));
        }
        let Some(frame) = rest.get(TCP_TOP_LEN..TCP_TOP_LEN + len) else {
            return Ok(None);
        };
        let packet = Packet::decode(frame)?;
        self.pos += TCP_TOP_LEN + len;
        Ok(Some(packet))
    }
}

/// The comm-key scrambling of CMD_AUTH (`make_commkey`, after the SDK's MakeKey).
pub fn make_commkey(key: u32, session: u16, ticks: u8) -> [u8; 4] {
    let k = key.reverse_bits().wrapping_add(u32::from(session));
    let b = k.to_le_bytes();
    let x = [b[0] ^ b'Z', b[1] ^ b'K', b[2] ^ b'S', b[3] ^ b'O'];
    // Swap the two u16 halves.
    let s = [x[2], x[3], x[0], x[1]];
    [s[0] ^ ticks, s[1] ^ ticks, ticks, s[3] ^ ticks]
}

/// The ticks value pyzk and the SDK use.
pub const COMMKEY_TICKS: u8 = 50;

/// First and last year ZK-time can carry (it stores the year modulo 100).
pub const ZK_TIME_YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// ZK-time: seconds in a calendar of 31-day months, years since 2000. `None` outside 2000-2099.
pub fn encode_time(t: NaiveDateTime) -> Option<u32> {
    if !ZK_TIME_YEARS.contains(&t.year()) {
        return None;
    }
    let days = ((t.year() as u32 % 100) * 12 + t.month0()) * 31 + t.day0();
    Some(days * 86_400 + (t.hour() * 60 + t.minute()) * 60 + t.second())
}

/// Inverse of `encode_time`; `None` for values naming no real date (e.g. 31 February).
pub fn decode_time(v: u32) -> Option<NaiveDateTime> {
    let second = v % 60;
    let v = v / 60;
    let minute = v % 60;
    let v = v / 60;
    let hour = v % 24;
    let v = v / 24;
    let day = v % 31 + 1;
    let v = v / 31;
    let month = v % 12 + 1;
    let year = (v / 12) as i32 + 2000;
    NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)
}

/// Realtime events' 6-byte time `YY MM DD hh mm ss`.
pub fn encode_time_hex(t: NaiveDateTime) -> Option<[u8; 6]> {
    if !ZK_TIME_YEARS.contains(&t.year()) {
        return None;
    }
    Some([
        (t.year() - 2000) as u8,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    ])
}

pub fn decode_time_hex(b: [u8; 6]) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(2000 + i32::from(b[0]), b[1].into(), b[2].into())?.and_hms_opt(
        b[3].into(),
        b[4].into(),
        b[5].into(),
    )
}

/// A NUL-padded text field: up to the first NUL, invalid UTF-8 replaced.
fn text_field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Writes `s` into a `width`-byte NUL-padded field, cut at a character boundary.
fn put_text(out: &mut Vec<u8>, s: &str, width: usize) {
    let mut end = s.len().min(width);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&s.as_bytes()[..end]);
    out.resize(out.len() + width - end, 0);
}

/// One punch in the attendance log (40-byte format; 8- and 16-byte formats decode into it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttRecord {
    /// The device's internal user index.
    pub uid: u16,
    /// The user's PIN as enrolled (what people call the user id).
    pub user_id: String,
    /// 0 password, 1 fingerprint, 2 card, 15 face (pyzk calls it "status").
    pub verify: u8,
    /// Raw ZK-time, kept as the device sent it: a corrupt date must not stop a download.
    pub timestamp: u32,
    /// 0 check-in, 1 check-out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out (pyzk's "punch").
    pub state: u8,
    /// Bytes 32..40 (work code on some firmware).
    pub reserved: [u8; 8],
}

impl AttRecord {
    /// A record at `time`; `None` when `time` is outside ZK-time's range.
    pub fn new(
        uid: u16,
        user_id: &str,
        verify: u8,
        state: u8,
        time: NaiveDateTime,
    ) -> Option<AttRecord> {
        Some(AttRecord {
            uid,
            user_id: user_id.to_string(),
            verify,
            timestamp: encode_time(time)?,
            state,
            reserved: [0, 0, 0, 0, 0xFF, 0, 0, 0],
        })
    }

    pub fn time(&self) -> Option<NaiveDateTime> {
        decode_time(self.timestamp)
    }

    pub fn encode(&self) -> [u8; ATT_RECORD_LEN] {
        let mut out = Vec::with_capacity(ATT_RECORD_LEN);
        out.extend_from_slice(&self.uid.to_le_bytes());
        put_text(&mut out, &self.user_id, 24);
        out.push(self.verify);
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.push(self.state);
        out.extend_from_slice(&self.reserved);
        let mut a = [0u8; ATT_RECORD_LEN];
        a.copy_from_slice(&out);
        a
    }

    /// The 40-byte record.
    pub fn decode(b: &[u8]) -> Result<AttRecord, TerminalError> {
        if b.len() != ATT_RECORD_LEN {
            return Err(malformed(format!("{}-byte attendance record", b.len())));
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&b[32..40]);
        Ok(AttRecord {
            uid: u16::from_le_bytes([b[0], b[1]]),
            user_id: text_field(&b[2..26]),
            verify: b[26],
            timestamp: u32::from_le_bytes([b[27], b[28], b[29], b[30]]),
            state: b[31],
            reserved,
        })
    }

    /// Old 8-byte format `<H B 4s B>`: uid, verify, time, state (no user id on the wire).
    pub fn decode_8(b: &[u8]) -> Result<AttRecord, TerminalError> {
        if b.len() != 8 {
            return Err(malformed(format!("{}-byte attendance record", b.len())));
        }
        let uid = u16::from_le_bytes([b[0], b[1]]);
        Ok(AttRecord {
            uid,
            user_id: uid.to_string(),
            verify: b[2],
            timestamp: u32::from_le_bytes([b[3], b[4], b[5], b[6]]),
            state: b[7],
            reserved: [0; 8],
        })
    }

    /// Old 16-byte format `<I 4s B B 2s I>`: numeric user id, time, verify, state, work code.
    pub fn decode_16(b: &[u8]) -> Result<AttRecord, TerminalError> {
        if b.len() != 16 {
            return Err(malformed(format!("{}-byte attendance record", b.len())));
        }
        let mut reserved = [0u8; 8];
        reserved[..6].copy_from_slice(&b[10..16]);
        Ok(AttRecord {
            uid: 0,
            user_id: u32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string(),
            verify: b[8],
            timestamp: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            state: b[9],
            reserved,
        })
    }
}

/// A device dataset: `[total_len u32][records…]`. Returns the records' bytes.
pub fn dataset_body(data: &[u8]) -> Result<&[u8], TerminalError> {
    let total = u32_at(data, 0).ok_or_else(|| malformed("dataset without a length"))? as usize;
    data.get(4..4 + total).ok_or_else(|| {
        malformed(format!(
            "dataset says {total} bytes, carries {}",
            data.len().saturating_sub(4)
        ))
    })
}

/// Wraps records' bytes as a dataset.
pub fn dataset(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Picks the record size: the one that divides evenly by the count the device reported, else
/// the largest format that divides the body (the count can change between the two requests).
fn record_size(body_len: usize, count: usize, sizes: &[usize]) -> Option<usize> {
    if body_len == 0 {
        return sizes.first().copied();
    }
    if count > 0 && body_len.is_multiple_of(count) && sizes.contains(&(body_len / count)) {
        return Some(body_len / count);
    }
    sizes.iter().copied().find(|s| body_len.is_multiple_of(*s))
}

/// Decodes an attendance dataset; `count` is the record count from the free-sizes reply.
pub fn decode_attendance(data: &[u8], count: usize) -> Result<Vec<AttRecord>, TerminalError> {
    let body = dataset_body(data)?;
    let size = attendance_record_size(body.len(), count)?;
    decode_attendance_records(body, size)
}

/// The size of one attendance record in a body of `body_len` bytes holding `count` records.
pub fn attendance_record_size(body_len: usize, count: usize) -> Result<usize, TerminalError> {
    record_size(body_len, count, &[ATT_RECORD_LEN, 16, 8])
        .ok_or_else(|| malformed(format!("{body_len} bytes of attendance records")))
}

/// Attendance records of `size` bytes each (a whole number of them).
pub fn decode_attendance_records(
    body: &[u8],
    size: usize,
) -> Result<Vec<AttRecord>, TerminalError> {
    if size == 0 || !body.len().is_multiple_of(size) {
        return Err(malformed(format!(
            "{} bytes are no whole {size}-byte records",
            body.len()
        )));
    }
    body.chunks_exact(size)
        .map(|r| match size {
            8 => AttRecord::decode_8(r),
            16 => AttRecord::decode_16(r),
            _ => AttRecord::decode(r),
        })
        .collect()
}

/// One entry of the device's user table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRecord {
    /// Internal index (1-based on real devices).
    pub uid: u16,
    /// 0 user, 2 enroller, 6 manager, 14 admin.
    pub privilege: u8,
    pub password: String,
    pub name: String,
    pub card: u32,
    pub group: String,
    pub user_id: String,
}

impl UserRecord {
    /// The 72-byte record `<HB8s24sIx7sx24s>` (also what pyzk's `set_user` sends over TCP).
    pub fn encode(&self) -> [u8; USER_RECORD_LEN] {
        let mut out = Vec::with_capacity(USER_RECORD_LEN);
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.push(self.privilege);
        put_text(&mut out, &self.password, 8);
        put_text(&mut out, &self.name, 24);
        out.extend_from_slice(&self.card.to_le_bytes());
        // Real devices write 1 here (pyzk's repack73 too); readers skip it.
        out.push(1);
        put_text(&mut out, &self.group, 7);
        out.push(0);
        put_text(&mut out, &self.user_id, 24);
        let mut a = [0u8; USER_RECORD_LEN];
        a.copy_from_slice(&out);
        a
    }

    pub fn decode(b: &[u8]) -> Result<UserRecord, TerminalError> {
        if b.len() != USER_RECORD_LEN {
            return Err(malformed(format!("{}-byte user record", b.len())));
        }
        Ok(UserRecord {
            uid: u16::from_le_bytes([b[0], b[1]]),
            privilege: b[2],
            password: text_field(&b[3..11]),
            name: text_field(&b[11..35]),
            card: u32::from_le_bytes([b[35], b[36], b[37], b[38]]),
            group: text_field(&b[40..47]),
            user_id: text_field(&b[48..72]),
        })
    }

    /// Old 28-byte record `<HB5s8sIxBhI>` (numeric user id and group).
    pub fn decode_28(b: &[u8]) -> Result<UserRecord, TerminalError> {
        if b.len() != USER_RECORD_LEN_OLD {
            return Err(malformed(format!("{}-byte user record", b.len())));
        }
        Ok(UserRecord {
            uid: u16::from_le_bytes([b[0], b[1]]),
            privilege: b[2],
            password: text_field(&b[3..8]),
            name: text_field(&b[8..16]),
            card: u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
            group: b[21].to_string(),
            user_id: u32::from_le_bytes([b[24], b[25], b[26], b[27]]).to_string(),
        })
    }
}

/// Decodes a user dataset; `count` is the user count from the free-sizes reply.
pub fn decode_users(data: &[u8], count: usize) -> Result<Vec<UserRecord>, TerminalError> {
    let body = dataset_body(data)?;
    let size = record_size(body.len(), count, &[USER_RECORD_LEN, USER_RECORD_LEN_OLD])
        .ok_or_else(|| malformed(format!("{} bytes of user records", body.len())))?;
    body.chunks_exact(size)
        .map(|r| {
            if size == USER_RECORD_LEN {
                UserRecord::decode(r)
            } else {
                UserRecord::decode_28(r)
            }
        })
        .collect()
}

/// A user the host wants on a machine, keyed by `user_id` (the PIN people know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedUser {
    pub user_id: String,
    pub name: String,
    pub card: u32,
}

/// The uid a new user gets: one past the highest (as pyzk's `next_uid`), or the lowest free
/// one when 65535 is taken; None when the machine has no uid left.
pub fn next_free_uid(users: &[UserRecord]) -> Option<u16> {
    let max = users.iter().map(|u| u.uid).max().unwrap_or(0);
    if let Some(next) = max.checked_add(1) {
        return Some(next);
    }
    let taken: std::collections::BTreeSet<u16> = users.iter().map(|u| u.uid).collect();
    (1..=u16::MAX).find(|uid| !taken.contains(uid))
}

/// The user records to write so the machine holds `wanted`: an existing user with the same
/// user id keeps its uid, privilege, password and group; a new one gets the next free uid.
/// Another user still holding one of the cards loses the card (a card number belongs to one
/// user). `users` is updated to what the machine will hold. None when uids run out.
pub fn plan_user_writes(
    users: &mut Vec<UserRecord>,
    wanted: &[WantedUser],
) -> Option<Vec<UserRecord>> {
    let mut writes: Vec<UserRecord> = Vec::new();
    let mut put = |users: &mut Vec<UserRecord>, rec: UserRecord| {
        match users.iter_mut().find(|u| u.uid == rec.uid) {
            Some(u) => *u = rec.clone(),
            None => users.push(rec.clone()),
        }
        match writes.iter_mut().find(|w| w.uid == rec.uid) {
            Some(w) => *w = rec,
            None => writes.push(rec),
        }
    };
    for w in wanted {
        let rec = match users.iter().find(|u| u.user_id == w.user_id) {
            Some(u) => UserRecord {
                name: w.name.clone(),
                card: w.card,
                ..u.clone()
            },
            None => UserRecord {
                uid: next_free_uid(users)?,
                privilege: 0,
                password: String::new(),
                name: w.name.clone(),
                card: w.card,
                group: "1".into(),
                user_id: w.user_id.clone(),
            },
        };
        let stale: Vec<UserRecord> = users
            .iter()
            .filter(|u| w.card != 0 && u.card == w.card && u.uid != rec.uid)
            .map(|u| UserRecord {
                card: 0,
                ..u.clone()
            })
            .collect();
        for u in stale {
            put(users, u);
        }
        put(users, rec);
    }
    Some(writes)
}

/// What makes the machine refuse `card`: the uids to delete (the user `user_id` while it still
/// holds that card, since a person's newer card may have taken the user over; with no user id,
/// every user holding it), and the other users still holding the card, to be written back
/// without it. Both empty when the machine does not hold the card.
pub fn plan_revoke(
    users: &[UserRecord],
    card: u32,
    user_id: Option<&str>,
) -> (Vec<u16>, Vec<UserRecord>) {
    let mut delete = Vec::new();
    let mut rewrite = Vec::new();
    for u in users.iter().filter(|u| card != 0 && u.card == card) {
        if user_id.is_none_or(|id| u.user_id == id) {
            delete.push(u.uid);
        } else {
            rewrite.push(UserRecord {
                card: 0,
                ..u.clone()
            });
        }
    }
    (delete, rewrite)
}

/// The GET_FREE_SIZES reply: counts, capacities and what is still free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreeSizes {
    pub users: i32,
    pub fingers: i32,
    pub records: i32,
    pub cards: i32,
    pub finger_cap: i32,
    pub user_cap: i32,
    pub record_cap: i32,
    pub finger_avail: i32,
    pub user_avail: i32,
    pub record_avail: i32,
    /// Present on face-capable firmware: (faces, face capacity).
    pub faces: Option<(i32, i32)>,
}

impl FreeSizes {
    pub fn decode(b: &[u8]) -> Result<FreeSizes, TerminalError> {
        if b.len() < 80 {
            return Err(malformed(format!("{}-byte free-sizes reply", b.len())));
        }
        let f = |i: usize| i32_at(b, i * 4).unwrap_or(0);
        let faces = match (i32_at(b, 80), i32_at(b, 88)) {
            (Some(n), Some(cap)) => Some((n, cap)),
            _ => None,
        };
        Ok(FreeSizes {
            users: f(4),
            fingers: f(6),
            records: f(8),
            cards: f(12),
            finger_cap: f(14),
            user_cap: f(15),
            record_cap: f(16),
            finger_avail: f(17),
            user_avail: f(18),
            record_avail: f(19),
            faces,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut f = [0i32; 20];
        f[4] = self.users;
        f[6] = self.fingers;
        f[8] = self.records;
        f[12] = self.cards;
        f[14] = self.finger_cap;
        f[15] = self.user_cap;
        f[16] = self.record_cap;
        f[17] = self.finger_avail;
        f[18] = self.user_avail;
        f[19] = self.record_avail;
        let mut out: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
        if let Some((n, cap)) = self.faces {
            for v in [n, 0, cap] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// The log is full: the device refuses further punches until it is cleared.
    pub fn log_full(&self) -> bool {
        self.record_cap > 0 && self.record_avail <= 0
    }
}

/// The data of a prepare-buffer (1503) request: `<b h i i>` = 1, inner command, fct, ext.
pub fn prepare_buffer_request(inner: u16, fct: u32, ext: u32) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&inner.to_le_bytes());
    out.extend_from_slice(&fct.to_le_bytes());
    out.extend_from_slice(&ext.to_le_bytes());
    out
}

/// `(inner command, fct, ext)` of a prepare-buffer request.
pub fn decode_prepare_buffer_request(b: &[u8]) -> Result<(u16, u32, u32), TerminalError> {
    match (u16_at(b, 1), u32_at(b, 3), u32_at(b, 7)) {
        (Some(inner), Some(fct), Some(ext)) if b.len() == 11 => Ok((inner, fct, ext)),
        _ => Err(malformed(format!(
            "{}-byte prepare-buffer request",
            b.len()
        ))),
    }
}

/// The "data stat" of an ACK_OK answer to 1503: 0, size, size, checksum.
pub fn data_stat(size: u32, sum: u32) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// The announced size in a data stat.
pub fn decode_data_stat(b: &[u8]) -> Result<u32, TerminalError> {
    u32_at(b, 1).ok_or_else(|| malformed(format!("{}-byte data stat", b.len())))
}

/// A read-buffer (1504) request: start and size.
pub fn read_buffer_request(start: u32, size: u32) -> Vec<u8> {
    let mut out = start.to_le_bytes().to_vec();
    out.extend_from_slice(&size.to_le_bytes());
    out
}

pub fn decode_read_buffer_request(b: &[u8]) -> Result<(u32, u32), TerminalError> {
    match (u32_at(b, 0), u32_at(b, 4)) {
        (Some(start), Some(size)) if b.len() == 8 => Ok((start, size)),
        _ => Err(malformed(format!("{}-byte read-buffer request", b.len()))),
    }
}

/// A realtime attendance event (EF_ATTLOG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttEvent {
    pub user_id: String,
    pub verify: u8,
    pub state: u8,
    /// `YY MM DD hh mm ss`, raw.
    pub time: [u8; 6],
}

impl AttEvent {
    pub fn time(&self) -> Option<NaiveDateTime> {
        decode_time_hex(self.time)
    }

    /// The 32-byte form: user id 24s, verify, state, time.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ATT_EVENT_LEN);
        put_text(&mut out, &self.user_id, 24);
        out.push(self.verify);
        out.push(self.state);
        out.extend_from_slice(&self.time);
        out
    }

    /// 12 bytes (numeric user id) or 32 and more (24-byte user id; longer firmware adds fields).
    pub fn decode(b: &[u8]) -> Result<AttEvent, TerminalError> {
        let time = |at: usize| -> Result<[u8; 6], TerminalError> {
            b.get(at..at + 6)
                .and_then(|t| t.try_into().ok())
                .ok_or_else(|| malformed("short event time"))
        };
        match b.len() {
            12 => Ok(AttEvent {
                user_id: u32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_string(),
                verify: b[4],
                state: b[5],
                time: time(6)?,
            }),
            n if n >= ATT_EVENT_LEN => Ok(AttEvent {
                user_id: text_field(&b[..24]),
                verify: b[24],
                state: b[25],
                time: time(26)?,
            }),
            n => Err(malformed(format!("{n}-byte attendance event"))),
        }
    }
}

/// What a device pushes after CMD_REG_EVENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    Attendance(AttEvent),
    /// Any other event code (alarm, finger, enrolment…) with its raw data.
    Other {
        code: u16,
        data: Vec<u8>,
    },
}

impl LiveEvent {
    /// A pushed packet: command 500, event code in the session field.
    pub fn from_packet(p: &Packet) -> Result<LiveEvent, TerminalError> {
        if p.command != cmd::REG_EVENT {
            return Err(malformed(format!("command {} is no event", p.command)));
        }
        if u32::from(p.session) == EF_ATTLOG {
            Ok(LiveEvent::Attendance(AttEvent::decode(&p.data)?))
        } else {
            Ok(LiveEvent::Other {
                code: p.session,
                data: p.data.clone(),
            })
        }
    }

    pub fn to_packet(&self) -> Packet {
        match self {
            LiveEvent::Attendance(e) => {
                Packet::new(cmd::REG_EVENT, EF_ATTLOG as u16, 0, e.encode())
            }
            LiveEvent::Other { code, data } => Packet::new(cmd::REG_EVENT, *code, 0, data.clone()),
        }
    }
}

/// The value of a `Key=value\0` options reply (pyzk: after the first `=`, up to NUL).
pub fn option_value(data: &[u8]) -> String {
    let text = data.split(|&c| c == 0).next().unwrap_or_default();
    let value = match text.iter().position(|&c| c == b'=') {
        Some(i) => &text[i + 1..],
        None => text,
    };
    String::from_utf8_lossy(value).into_owned()
}

/// NUL-terminated text of a reply (firmware version).
pub fn c_string(data: &[u8]) -> String {
    text_field(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn checksum_of_recorded_replies() {
        // ACK_OK from test.py: header with checksum zeroed sums to the wire value.
        let p = Packet::decode(&hex::decode("d0075fb2cf450100").unwrap()).unwrap();
        assert_eq!(p.checksum, 0xb25f);
        assert!(p.checksum_ok());
    }

    #[test]
    fn commkey_vectors() {
        assert_eq!(make_commkey(45, 0x45cf, 50), [0x61, 0xc9, 0x32, 0x3c]);
        assert_eq!(make_commkey(12, 0x45cf, 50), [0x61, 0x4d, 0x32, 0x3c]);
    }

    #[test]
    fn zk_time_examples() {
        let t = dt("2018-06-25 17:41:05");
        assert_eq!(decode_time(encode_time(t).unwrap()), Some(t));
        assert_eq!(encode_time(dt("2000-01-01 00:00:00")), Some(0));
        assert_eq!(encode_time(dt("1999-12-31 23:59:59")), None);
        // 31 February does not exist.
        assert_eq!(decode_time((31 + 30) * 86_400), None);
        assert_eq!(
            decode_time_hex([0x12, 0x06, 0x19, 0x11, 0x29, 0x05]),
            Some(t)
        );
    }

    #[test]
    fn framer_splits_and_joins() {
        let a = Packet::new(cmd::ACK_OK, 7, 1, vec![]);
        let b = Packet::new(cmd::DATA, 7, 1, vec![1, 2, 3]);
        let mut wire = a.encode_tcp();
        wire.extend(b.encode_tcp());
        let mut f = Framer::new();
        for byte in &wire[..20] {
            f.push(&[*byte]);
        }
        assert_eq!(f.next_packet().unwrap(), Some(a));
        assert_eq!(f.next_packet().unwrap(), None);
        f.push(&wire[20..]);
        assert_eq!(f.next_packet().unwrap(), Some(b));
        assert_eq!(f.pending(), 0);
        f.push(b"GET / HTTP/1.0");
        assert!(f.next_packet().is_err());
    }

    #[test]
    fn text_fields_cut_at_char_boundary() {
        let u = UserRecord {
            name: "張".repeat(10),
            ..UserRecord::default()
        };
        let back = UserRecord::decode(&u.encode()).unwrap();
        assert_eq!(back.name, "張".repeat(8));
    }

    fn user(uid: u16, user_id: &str, card: u32) -> UserRecord {
        UserRecord {
            uid,
            name: format!("u{uid}"),
            card,
            group: "1".into(),
            user_id: user_id.into(),
            ..UserRecord::default()
        }
    }

    #[test]
    fn users_are_put_by_user_id_and_a_card_belongs_to_one_user() {
        let mut users = vec![user(1, "P1", 100), user(7, "P2", 200)];
        let wanted = [
            // P1 gets a new card and name; keeps uid 1.
            WantedUser {
                user_id: "P1".into(),
                name: "李雷".into(),
                card: 101,
            },
            // A new user takes the next uid, and card 200 from P2.
            WantedUser {
                user_id: "P3".into(),
                name: "韩梅梅".into(),
                card: 200,
            },
        ];
        let writes = plan_user_writes(&mut users, &wanted).unwrap();
        assert_eq!(writes.len(), 3);
        let by = |id: &str| users.iter().find(|u| u.user_id == id).unwrap().clone();
        assert_eq!(
            (by("P1").uid, by("P1").card, by("P1").name.as_str()),
            (1, 101, "李雷")
        );
        assert_eq!((by("P3").uid, by("P3").card), (8, 200));
        assert_eq!(by("P2").card, 0);
        // Writing P1 again keeps its uid and adds no user.
        let again = plan_user_writes(&mut users, &wanted[..1]).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(users.len(), 3);
        // uids run out at 65535: the lowest free one, then none.
        assert_eq!(next_free_uid(&[user(u16::MAX, "x", 0)]), Some(1));
        assert_eq!(next_free_uid(&[]), Some(1));
    }

    #[test]
    fn a_revoke_deletes_the_user_only_while_it_holds_the_card() {
        let users = vec![user(1, "P1", 100), user(2, "P2", 300), user(3, "OLD", 300)];
        assert_eq!(plan_revoke(&users, 100, Some("P1")), (vec![1], vec![]));
        // P1 now holds a newer card: the old card's revoke leaves it alone.
        assert_eq!(plan_revoke(&users, 999, Some("P1")), (vec![], vec![]));
        let (delete, rewrite) = plan_revoke(&users, 300, Some("P2"));
        assert_eq!(delete, vec![2]);
        assert_eq!(rewrite.len(), 1);
        assert_eq!((rewrite[0].uid, rewrite[0].card), (3, 0));
        assert_eq!(plan_revoke(&users, 300, None).0, vec![2, 3]);
        assert_eq!(plan_revoke(&users, 0, None), (vec![], vec![]));
    }
}
