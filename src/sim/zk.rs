//! A simulated ZKTeco attendance machine speaking the standalone protocol over TCP: users,
//! a bounded punch log, a drifting clock, comm key, several sessions, realtime events.

use super::clock::SimClock;
use super::{SimTerminal, TerminalKind};
use crate::terminal::zk::{
    cmd, data_stat, dataset, decode_prepare_buffer_request, decode_read_buffer_request,
    decode_time, encode_time, encode_time_hex, make_commkey, AttEvent, AttRecord, Framer,
    FreeSizes, LiveEvent, Packet, EF_ATTLOG, FCT_USER, USER_RECORD_LEN,
};
use chrono::{Duration as ChronoDuration, NaiveDateTime, Timelike};
use rand::rngs::StdRng;
use rand::Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

/// The user table entry is the wire record itself.
pub use crate::terminal::zk::UserRecord as User;

pub const FIRMWARE: &str = "Ver 6.60 Apr 28 2017";
pub const PLATFORM: &str = "ZEM560_TFT";
pub const DEVICE_NAME: &str = "onecard-sim K40";
pub const USER_CAPACITY: usize = 10_000;
/// Datasets up to this size are answered at once with CMD_DATA, larger ones through the buffer.
const DIRECT_DATA_MAX: usize = 1024;

/// What went on at the machine, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineStats {
    /// Sessions opened with CMD_CONNECT.
    pub sessions: u64,
    /// Connections closed at once because the machine was offline.
    pub connections_refused: u64,
    pub auth_failures: u64,
    /// Packets with a wrong checksum (processed all the same).
    pub bad_checksums: u64,
    /// Connections dropped because their bytes were not ZK frames.
    pub garbage: u64,
    pub unknown_commands: u64,
    /// Punches refused because the log was full.
    pub punches_refused: u64,
    pub unlocks: u64,
    /// Realtime events a slow session missed.
    pub events_lost: u64,
    /// Chunks of a prepared dataset answered (1504).
    pub chunks_read: u64,
}

#[derive(Debug)]
struct State {
    users: Vec<User>,
    log: Vec<AttRecord>,
    enabled: bool,
    listeners: usize,
    stats: MachineStats,
}

/// One attendance machine. Shared (`Arc`) between the site runner, the control interface and
/// the TCP sessions.
#[derive(Debug)]
pub struct Machine {
    serial: String,
    comm_key: u32,
    clock: SimClock,
    capacity: usize,
    state: Mutex<State>,
    online: watch::Sender<bool>,
    events: broadcast::Sender<AttRecord>,
    next_session: AtomicU16,
    generated: AtomicU64,
    /// A full log drops its oldest punch for a new one (the "circular delete" setting)
    /// instead of refusing it.
    overwrite: AtomicBool,
    /// Faults a test sets: see [`Machine::set_stay_disabled`] and the rest.
    faults: Faults,
}

/// Ways the machine misbehaves on purpose, for tests of the host's care.
#[derive(Debug, Default)]
struct Faults {
    /// A host session that ends leaves the machine disabled (firmware that waits to be told).
    stay_disabled: AtomicBool,
    /// The session reading this many more log chunks is cut before answering the last (< 0: never).
    cut_after: AtomicI64,
    /// Each log chunk is answered this much later (a slow link).
    chunk_delay_ms: AtomicU64,
    /// Punches that land at the next freeing of a read log, even while disabled.
    sneak: AtomicUsize,
}

impl Machine {
    /// `comm_key` 0 means none; `capacity` bounds the punch log.
    pub fn new(
        serial: &str,
        comm_key: u32,
        clock: SimClock,
        capacity: usize,
        mut users: Vec<User>,
    ) -> Arc<Machine> {
        users.sort_by_key(|u| u.uid);
        let (events, _) = broadcast::channel(1024);
        let first_session = 0x45cf_u16.wrapping_add(serial.len() as u16 * 97);
        Arc::new(Machine {
            serial: serial.to_string(),
            comm_key,
            clock,
            capacity,
            state: Mutex::new(State {
                users,
                log: Vec::new(),
                enabled: true,
                listeners: 0,
                stats: MachineStats::default(),
            }),
            online: watch::Sender::new(true),
            events,
            next_session: AtomicU16::new(first_session),
            generated: AtomicU64::new(0),
            overwrite: AtomicBool::new(false),
            faults: Faults {
                cut_after: AtomicI64::new(-1),
                ..Faults::default()
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn serial(&self) -> &str {
        &self.serial
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The comm key a host must authenticate with (0: none).
    pub fn comm_key(&self) -> u32 {
        self.comm_key
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn users(&self) -> Vec<User> {
        self.lock().users.clone()
    }

    /// The user enrolled as `user_id`.
    pub fn user(&self, user_id: &str) -> Option<User> {
        self.lock()
            .users
            .iter()
            .find(|u| u.user_id == user_id)
            .cloned()
    }

    /// The users holding `card`.
    pub fn users_with_card(&self, card: u32) -> Vec<User> {
        self.lock()
            .users
            .iter()
            .filter(|u| u.card == card)
            .cloned()
            .collect()
    }

    /// The punch log, oldest first.
    pub fn records(&self) -> Vec<AttRecord> {
        self.lock().log.clone()
    }

    pub fn record_count(&self) -> usize {
        self.lock().log.len()
    }

    pub fn stats(&self) -> MachineStats {
        self.lock().stats
    }

    pub fn is_enabled(&self) -> bool {
        self.lock().enabled
    }

    pub fn is_online(&self) -> bool {
        *self.online.borrow()
    }

    /// Offline: new connections are closed at once and open sessions end.
    pub fn set_online(&self, online: bool) {
        self.online.send_replace(online);
    }

    /// Sessions registered for realtime attendance events.
    pub fn live_listeners(&self) -> usize {
        self.lock().listeners
    }

    pub fn free_sizes(&self) -> FreeSizes {
        let s = self.lock();
        Self::sizes_of(&s, self.capacity)
    }

    fn sizes_of(s: &State, capacity: usize) -> FreeSizes {
        let n = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
        FreeSizes {
            users: n(s.users.len()),
            fingers: 0,
            records: n(s.log.len()),
            cards: n(s.users.iter().filter(|u| u.card != 0).count()),
            finger_cap: 3000,
            user_cap: n(USER_CAPACITY),
            record_cap: n(capacity),
            finger_avail: 3000,
            user_avail: n(USER_CAPACITY.saturating_sub(s.users.len())),
            record_avail: n(capacity.saturating_sub(s.log.len())),
            faces: Some((0, 0)),
        }
    }

    fn now(&self) -> NaiveDateTime {
        let t = self.clock.now();
        t.with_nanosecond(0).unwrap_or(t)
    }

    /// From now on a full log overwrites its oldest punch instead of refusing new ones.
    pub fn overwrite_when_full(&self) {
        self.overwrite.store(true, Ordering::SeqCst);
    }

    /// Appends a record unless the log is full (or overwrites the oldest, when set to);
    /// tells the live listeners.
    fn record(&self, s: &mut State, r: AttRecord) -> Result<(), String> {
        if s.log.len() >= self.capacity
            && self.overwrite.load(Ordering::SeqCst)
            && !s.log.is_empty()
        {
            s.log.remove(0);
        }
        if s.log.len() >= self.capacity {
            s.stats.punches_refused += 1;
            return Err(format!("log full ({} records)", self.capacity));
        }
        s.log.push(r.clone());
        self.generated.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(r);
        Ok(())
    }

    /// A punch by `user_id` now; `state` defaults to check-in before noon, check-out after.
    pub fn punch(&self, user_id: &str, state: Option<u8>) -> Result<AttRecord, String> {
        let now = self.now();
        let mut s = self.lock();
        if !s.enabled {
            return Err("machine disabled by a host session".to_string());
        }
        let user = s
            .users
            .iter()
            .find(|u| u.user_id == user_id)
            .ok_or_else(|| format!("no user {user_id}"))?;
        let state = state.unwrap_or(if now.hour() < 12 { 0 } else { 1 });
        let r = AttRecord::new(user.uid, &user.user_id, verify_of(user), state, now)
            .ok_or_else(|| format!("clock {now} outside ZK time"))?;
        // A punch is known by its user and second (a log numbers nothing): a second one in the
        // same second would be the same punch, so it is refused and the tally stays exact.
        if punched_at(&s.log, &r.user_id, r.timestamp) {
            return Err(format!("user {user_id} punched already at {now}"));
        }
        self.record(&mut s, r.clone())?;
        Ok(r)
    }

    /// Adds up to `n` punches at once, users in turn, 30 s apart and ending now. Returns how
    /// many fitted before the log was full.
    pub fn fill(&self, n: usize) -> Result<usize, String> {
        let now = self.now();
        let mut s = self.lock();
        if s.users.is_empty() {
            return Err("no users to punch".to_string());
        }
        let start = now - ChronoDuration::seconds(30 * n as i64);
        let mut added = 0;
        for i in 0..n {
            let u = &s.users[i % s.users.len()];
            let t = start + ChronoDuration::seconds(30 * i as i64);
            let state = if t.hour() < 12 { 0 } else { 1 };
            let Some(r) = AttRecord::new(u.uid, &u.user_id, verify_of(u), state, t) else {
                continue;
            };
            if self.record(&mut s, r).is_err() {
                s.stats.punches_refused += (n - i - 1) as u64;
                break;
            }
            added += 1;
        }
        Ok(added)
    }

    /// A session that ends leaves the machine disabled when `on` (real firmware varies).
    pub fn set_stay_disabled(&self, on: bool) {
        self.faults.stay_disabled.store(on, Ordering::SeqCst);
    }

    /// The session reading the `n`th log chunk from now is cut before it is answered.
    pub fn cut_after_chunks(&self, n: u32) {
        self.faults.cut_after.store(i64::from(n), Ordering::SeqCst);
    }

    /// Each log chunk is answered `ms` later.
    pub fn set_chunk_delay_ms(&self, ms: u64) {
        self.faults.chunk_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// `n` punches land at the next freeing of a read log, disabled or not (as if a reader
    /// wired to the machine ignored the host's lock).
    pub fn sneak_punches(&self, n: usize) {
        self.faults.sneak.store(n, Ordering::SeqCst);
    }

    /// Whether this log chunk's session is cut now.
    fn cut_now(&self) -> bool {
        let left = self.faults.cut_after.load(Ordering::SeqCst);
        if left < 0 {
            return false;
        }
        self.faults.cut_after.store(left - 1, Ordering::SeqCst);
        left <= 1
    }

    /// The sneaked punches, a second after the latest in the log (users in turn).
    fn land_sneaked(&self, s: &mut State) {
        let n = self.faults.sneak.swap(0, Ordering::SeqCst);
        for i in 0..n {
            let Some(u) = s.users.get(i % s.users.len().max(1)).cloned() else {
                return;
            };
            let newest = s
                .log
                .iter()
                .map(|r| r.timestamp)
                .max()
                .and_then(decode_time);
            let t = newest.map_or(self.now(), |t| {
                t.max(self.now()) + ChronoDuration::seconds(1)
            });
            if let Some(r) = AttRecord::new(u.uid, &u.user_id, verify_of(&u), 0, t) {
                let _ = self.record(s, r);
            }
        }
    }

    fn next_session_id(&self) -> u16 {
        loop {
            let id = self.next_session.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// Whether `user_id` has a punch at ZK-time `at` among the newest of `log`.
fn punched_at(log: &[AttRecord], user_id: &str, at: u32) -> bool {
    log.iter()
        .rev()
        .take_while(|p| p.timestamp == at)
        .any(|p| p.user_id == user_id)
}

/// Card users verify by card, the rest by fingerprint.
fn verify_of(u: &User) -> u8 {
    if u.card != 0 {
        2
    } else {
        1
    }
}

impl SimTerminal for Machine {
    fn id(&self) -> String {
        format!("attendance/{}", self.serial)
    }

    fn kind(&self) -> TerminalKind {
        TerminalKind::AttendanceMachine
    }

    fn traffic(&self, rng: &mut StdRng) {
        let users = self.users();
        if users.is_empty() {
            return;
        }
        // A user who punched this second is not picked again (see `punch`): the next one in
        // turn is, so a step still yields a punch while anyone is free.
        let first = rng.gen_range(0..users.len());
        let Some(at) = encode_time(self.now()) else {
            return;
        };
        let free = (0..users.len())
            .map(|k| &users[(first + k) % users.len()])
            .find(|u| !punched_at(&self.lock().log, &u.user_id, at));
        if let Some(u) = free {
            let _ = self.punch(&u.user_id, None);
        }
    }

    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String> {
        match (verb, args) {
            ("punch", [user_id, rest @ ..]) if rest.len() <= 1 => {
                let state = match rest.first() {
                    Some(s) => Some(s.parse::<u8>().map_err(|_| format!("bad state {s}"))?),
                    None => None,
                };
                let r = self.punch(user_id, state)?;
                let at = r.time().map(|t| t.to_string()).unwrap_or_default();
                Ok(format!("punch {} state {} at {at}", r.user_id, r.state))
            }
            ("user", [user_id]) => Ok(match self.user(user_id) {
                Some(u) => format!(
                    "user {} uid {} name {:?} card {}",
                    u.user_id, u.uid, u.name, u.card
                ),
                None => format!("no user {user_id}"),
            }),
            ("card", [card]) => {
                let card: u32 = card.parse().map_err(|_| format!("bad card {card}"))?;
                let users = self.users_with_card(card);
                Ok(if users.is_empty() {
                    format!("card {card} not held")
                } else {
                    let ids: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
                    format!("card {card} held by user {}", ids.join(", "))
                })
            }
            ("offline", []) => {
                self.set_online(false);
                Ok("offline".to_string())
            }
            ("online", []) => {
                self.set_online(true);
                Ok("online".to_string())
            }
            ("stay-disabled", [on]) => {
                self.set_stay_disabled(*on == "on");
                Ok(format!("stay-disabled {on}"))
            }
            ("cut-after", [n]) => {
                let n: u32 = n.parse().map_err(|_| format!("bad count {n}"))?;
                self.cut_after_chunks(n);
                Ok(format!("the session reading log chunk {n} from now is cut"))
            }
            ("slow", [ms]) => {
                let ms: u64 = ms.parse().map_err(|_| format!("bad milliseconds {ms}"))?;
                self.set_chunk_delay_ms(ms);
                Ok(format!("log chunks answered {ms} ms late"))
            }
            ("sneak", [n]) => {
                let n: usize = n.parse().map_err(|_| format!("bad count {n}"))?;
                self.sneak_punches(n);
                Ok(format!("{n} punches land at the next freed log read"))
            }
            ("fill", [n]) => {
                let n: usize = n.parse().map_err(|_| format!("bad count {n}"))?;
                let added = self.fill(n)?;
                Ok(format!(
                    "added {added} punches, {} in the log",
                    self.record_count()
                ))
            }
            _ => Err(format!(
                "unknown command {verb} {}; try: punch USER_ID [STATE], user USER_ID, card CARD, offline, online, fill N, stay-disabled on|off, cut-after N, slow MS, sneak N",
                args.join(" ")
            )),
        }
    }

    fn generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }
}

/// The running server; dropping it stops the listener and every session.
pub struct ServeHandle {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ServeHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        self.task.abort();
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `machine` on `listener`, one session per connection.
pub async fn serve(listener: TcpListener, machine: Arc<Machine>) -> ServeHandle {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let task = tokio::spawn(async move {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = crate::sim::accept(&listener) => {
                    let Ok((stream, _)) = accepted else { break };
                    if !machine.is_online() {
                        machine.lock().stats.connections_refused += 1;
                        drop(stream);
                        continue;
                    }
                    sessions.spawn(run_session(stream, machine.clone()));
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
    });
    ServeHandle { addr, task }
}

/// Per-connection state.
#[derive(Debug, Default)]
struct Session {
    id: u16,
    authed: bool,
    event_flags: u32,
    disabled_device: bool,
    buffer: Option<Vec<u8>>,
}

enum Next {
    Continue,
    Close,
}

async fn run_session(mut stream: TcpStream, machine: Arc<Machine>) {
    let _ = stream.set_nodelay(true);
    let mut online = machine.online.subscribe();
    let mut events = machine.events.subscribe();
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut s = Session::default();
    'conn: loop {
        tokio::select! {
            biased;
            changed = online.changed() => {
                if changed.is_err() || !*online.borrow() {
                    break;
                }
            }
            read = stream.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !machine.is_online() {
                    break;
                }
                framer.push(&buf[..n]);
                let mut out = Vec::new();
                let mut close = false;
                let mut chunks = false;
                loop {
                    match framer.next_packet() {
                        Ok(Some(p)) => {
                            chunks |= p.command == cmd::READ_BUFFER;
                            let (replies, next) = handle(&machine, &mut s, &p, &mut events);
                            for r in replies {
                                out.extend_from_slice(&r.encode_tcp());
                            }
                            if matches!(next, Next::Close) {
                                close = true;
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(serial = machine.serial, "dropping connection: {e}");
                            machine.lock().stats.garbage += 1;
                            close = true;
                            break;
                        }
                    }
                }
                let delay = machine.faults.chunk_delay_ms.load(Ordering::SeqCst);
                if chunks && delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                // One write per batch of replies: pyzk reads a reply with a single recv.
                if !out.is_empty() && stream.write_all(&out).await.is_err() {
                    break 'conn;
                }
                if close {
                    break;
                }
            }
            ev = events.recv(), if s.event_flags & EF_ATTLOG != 0 => {
                match ev {
                    Ok(r) => {
                        let Some(time) = r.time().and_then(encode_time_hex) else { continue };
                        let e = LiveEvent::Attendance(AttEvent {
                            user_id: r.user_id.clone(),
                            verify: r.verify,
                            state: r.state,
                            time,
                        });
                        if stream.write_all(&e.to_packet().encode_tcp()).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        machine.lock().stats.events_lost += n;
                    }
                    Err(broadcast::error::RecvError::Closed) => {}
                }
            }
        }
    }
    let mut st = machine.lock();
    if s.event_flags & EF_ATTLOG != 0 {
        st.listeners = st.listeners.saturating_sub(1);
    }
    // A host that vanished mid-download must not leave the keypad locked (as ZK firmware
    // does at the session's end; `stay-disabled` plays firmware that waits to be told).
    if s.disabled_device && !machine.faults.stay_disabled.load(Ordering::SeqCst) {
        st.enabled = true;
    }
}

fn le_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// Answers one request. Replies carry the session id and echo the reply number.
fn handle(
    m: &Machine,
    s: &mut Session,
    p: &Packet,
    events: &mut broadcast::Receiver<AttRecord>,
) -> (Vec<Packet>, Next) {
    let mut st = m.lock();
    if !p.checksum_ok() {
        st.stats.bad_checksums += 1;
    }
    let reply = |code: u16, data: Vec<u8>| Packet::new(code, s.id, p.reply, data);
    let ok = |data: Vec<u8>| vec![Packet::new(cmd::ACK_OK, s.id, p.reply, data)];
    let err = || vec![Packet::new(cmd::ACK_ERROR, s.id, p.reply, Vec::new())];

    match p.command {
        cmd::CONNECT => {
            s.id = m.next_session_id();
            s.authed = m.comm_key == 0;
            st.stats.sessions += 1;
            let code = if s.authed {
                cmd::ACK_OK
            } else {
                cmd::ACK_UNAUTH
            };
            return (
                vec![Packet::new(code, s.id, p.reply, Vec::new())],
                Next::Continue,
            );
        }
        cmd::AUTH => {
            // The ticks byte travels in clear in byte 2, so the key can be checked for any ticks.
            let good = s.id != 0
                && p.data.len() == 4
                && p.data[..] == make_commkey(m.comm_key, s.id, p.data[2])[..];
            s.authed = good;
            if !good {
                st.stats.auth_failures += 1;
            }
            let code = if good { cmd::ACK_OK } else { cmd::ACK_UNAUTH };
            return (vec![reply(code, Vec::new())], Next::Continue);
        }
        cmd::EXIT => return (ok(Vec::new()), Next::Close),
        // The host's acknowledgement of a pushed event: nothing to answer.
        cmd::ACK_OK => return (Vec::new(), Next::Continue),
        _ if !s.authed => {
            return (vec![reply(cmd::ACK_UNAUTH, Vec::new())], Next::Continue);
        }
        _ => {}
    }

    let replies = match p.command {
        cmd::ENABLEDEVICE => {
            st.enabled = true;
            s.disabled_device = false;
            ok(Vec::new())
        }
        cmd::DISABLEDEVICE => {
            st.enabled = false;
            s.disabled_device = true;
            ok(Vec::new())
        }
        cmd::GET_TIME => match encode_time(m.now()) {
            Some(v) => ok(v.to_le_bytes().to_vec()),
            None => err(),
        },
        cmd::SET_TIME => match le_u32(&p.data).and_then(decode_time) {
            Some(t) => {
                m.clock.set(t);
                ok(Vec::new())
            }
            None => err(),
        },
        cmd::GET_FREE_SIZES => ok(Machine::sizes_of(&st, m.capacity).encode()),
        cmd::OPTIONS_RRQ => {
            let name = crate::terminal::zk::c_string(&p.data);
            let value = match name.as_str() {
                "~SerialNumber" => Some(m.serial.clone()),
                "~Platform" => Some(PLATFORM.to_string()),
                "~DeviceName" => Some(DEVICE_NAME.to_string()),
                "MAC" => Some("00:17:61:c8:ec:17".to_string()),
                "~ZKFPVersion" => Some("10".to_string()),
                "ZKFaceVersion" | "FaceFunOn" | "CompatOldFirmware" => Some("0".to_string()),
                "~ExtendFmt" | "~UserExtFmt" => Some("1".to_string()),
                "IPAddress" => Some("127.0.0.1".to_string()),
                "NetMask" => Some("255.255.255.0".to_string()),
                "GATEIPAddress" => Some("0.0.0.0".to_string()),
                _ => None,
            };
            match value {
                Some(v) => ok(format!("{name}={v}\0").into_bytes()),
                None => err(),
            }
        }
        cmd::GET_VERSION => ok(format!("{FIRMWARE}\0").into_bytes()),
        cmd::GET_PINWIDTH => ok(vec![9]),
        cmd::PREPARE_BUFFER => match decode_prepare_buffer_request(&p.data) {
            Ok((inner, fct, _)) => {
                let body: Option<Vec<u8>> = match (inner, fct) {
                    (cmd::ATTLOG_RRQ, _) => Some(st.log.iter().flat_map(|r| r.encode()).collect()),
                    (cmd::USERTEMP_RRQ, FCT_USER) => {
                        Some(st.users.iter().flat_map(|u| u.encode()).collect())
                    }
                    // Fingerprint templates: the simulator has none.
                    (cmd::DB_RRQ, _) => Some(Vec::new()),
                    _ => None,
                };
                match body.map(|b| dataset(&b)) {
                    Some(d) if d.len() <= DIRECT_DATA_MAX => vec![reply(cmd::DATA, d)],
                    Some(d) => {
                        let sum = d.iter().fold(0u32, |a, &b| a.wrapping_add(b.into()));
                        let stat = data_stat(d.len() as u32, sum);
                        s.buffer = Some(d);
                        ok(stat)
                    }
                    None => err(),
                }
            }
            Err(_) => err(),
        },
        cmd::READ_BUFFER if m.cut_now() => return (Vec::new(), Next::Close),
        cmd::READ_BUFFER => {
            let chunk = decode_read_buffer_request(&p.data)
                .ok()
                .and_then(|(start, size)| {
                    let (start, size) = (start as usize, size as usize);
                    let b = s.buffer.as_ref()?;
                    (size > 0).then_some(())?;
                    b.get(start..start.checked_add(size)?).map(<[u8]>::to_vec)
                });
            match chunk {
                Some(c) => {
                    st.stats.chunks_read += 1;
                    let mut prep = (c.len() as u32).to_le_bytes().to_vec();
                    prep.extend_from_slice(&0x1000u32.to_le_bytes());
                    vec![
                        reply(cmd::PREPARE_DATA, prep),
                        reply(cmd::DATA, c),
                        reply(cmd::ACK_OK, Vec::new()),
                    ]
                }
                None => err(),
            }
        }
        cmd::FREE_DATA => {
            s.buffer = None;
            m.land_sneaked(&mut st);
            ok(Vec::new())
        }
        cmd::USER_WRQ => match p.data.get(..USER_RECORD_LEN).map(User::decode) {
            Some(Ok(u)) => {
                let at = st.users.partition_point(|x| x.uid < u.uid);
                if st.users.get(at).is_some_and(|x| x.uid == u.uid) {
                    st.users[at] = u;
                    ok(Vec::new())
                } else if st.users.len() < USER_CAPACITY {
                    st.users.insert(at, u);
                    ok(Vec::new())
                } else {
                    err()
                }
            }
            _ => err(),
        },
        cmd::DELETE_USER => match p.data.get(..2) {
            Some(b) => {
                let uid = u16::from_le_bytes([b[0], b[1]]);
                st.users.retain(|u| u.uid != uid);
                ok(Vec::new())
            }
            None => err(),
        },
        cmd::CLEAR_ATTLOG => {
            st.log.clear();
            ok(Vec::new())
        }
        cmd::CLEAR_DATA => {
            st.log.clear();
            st.users.clear();
            ok(Vec::new())
        }
        cmd::UNLOCK => {
            st.stats.unlocks += 1;
            ok(Vec::new())
        }
        cmd::REG_EVENT => {
            let flags = le_u32(&p.data).unwrap_or(0);
            let was = s.event_flags & EF_ATTLOG != 0;
            let now = flags & EF_ATTLOG != 0;
            if now && !was {
                // Only punches from now on; under the state lock, so none slips between.
                *events = events.resubscribe();
                st.listeners += 1;
            } else if was && !now {
                st.listeners = st.listeners.saturating_sub(1);
            }
            s.event_flags = flags;
            ok(Vec::new())
        }
        cmd::REFRESHDATA
        | cmd::OPTIONS_WRQ
        | cmd::CANCELCAPTURE
        | cmd::STARTVERIFY
        | cmd::TESTVOICE => ok(Vec::new()),
        _ => {
            st.stats.unknown_commands += 1;
            vec![reply(cmd::ACK_UNKNOWN, Vec::new())]
        }
    };
    (replies, Next::Continue)
}
