//! `ZkClient`: one session with a ZKTeco attendance machine over any byte stream (TCP in
//! production, an in-memory duplex in tests).

use super::{
    attendance_record_size, cmd, decode_attendance, decode_attendance_records, decode_data_stat,
    decode_time, decode_users, encode_time, make_commkey, option_value, plan_revoke,
    plan_user_writes, prepare_buffer_request, read_buffer_request, AttRecord, Framer, FreeSizes,
    LiveEvent, Packet, UserRecord, WantedUser, COMMKEY_TICKS, FCT_USER, MAX_TCP_CHUNK,
};
use crate::terminal::{with_timeout, TerminalError};
use chrono::NaiveDateTime;
use futures::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// Largest dataset a download accepts (a 100,000-record log is 4 MB).
const MAX_DATASET: usize = 64 << 20;

/// An attendance log prepared in the machine's buffer (1503), to be read a range at a time:
/// a fixed record size, so record `i` is at byte `4 + i × record_len` of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttLog {
    /// Records in the prepared dataset.
    pub count: usize,
    pub record_len: usize,
    /// A small log the machine sent whole with its answer (nothing to free).
    whole: Option<Vec<AttRecord>>,
}

impl AttLog {
    /// Records in one chunk of [`ZkClient::read_attendance_range`].
    pub fn records_per_chunk(&self) -> usize {
        (MAX_TCP_CHUNK / self.record_len).max(1)
    }
}

/// What the line diagnostics show for one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub sent: u64,
    pub received: u64,
    /// Packets whose checksum was wrong (accepted all the same, as devices do).
    pub bad_checksums: u64,
    /// Replies carrying another reply number than the request's (accepted, counted).
    pub reply_mismatches: u64,
    pub events: u64,
    /// Pushed events whose data could not be decoded (acknowledged and dropped).
    pub bad_events: u64,
    /// Packets that arrived outside any exchange and were no event.
    pub stray: u64,
}

/// Identity and memory of a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub serial: String,
    pub firmware: String,
    pub platform: String,
    pub sizes: FreeSizes,
}

/// Realtime events until the connection ends (a transport error is the last item).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<LiveEvent, TerminalError>> + Send>>;

/// A connected, authenticated session. After a transport error (I/O, timeout, garbled frame)
/// every further call fails: drop the client and connect again.
pub struct ZkClient<S = TcpStream> {
    stream: S,
    framer: Framer,
    rbuf: Vec<u8>,
    session: u16,
    next_reply: u16,
    timeout: Duration,
    events: VecDeque<LiveEvent>,
    stats: ClientStats,
    broken: bool,
    /// Packets sent and received, kept while a technician traces the line.
    trace: Option<Vec<Traced>>,
}

/// A packet as it went over the wire: "tx" or "rx", and its bytes.
pub type Traced = (&'static str, Vec<u8>);

impl ZkClient<TcpStream> {
    /// Connects over TCP (port 4370 on real machines) and opens a session.
    pub async fn connect_tcp(
        addr: impl ToSocketAddrs,
        comm_key: u32,
        timeout: Duration,
    ) -> Result<ZkClient<TcpStream>, TerminalError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| TerminalError::Timeout(timeout))??;
        stream.set_nodelay(true)?;
        ZkClient::connect(stream, comm_key, timeout).await
    }
}

fn refusal(what: &str, code: u16) -> TerminalError {
    match code {
        cmd::ACK_ERROR => TerminalError::Refused(format!("{what}: ACK_ERROR")),
        cmd::ACK_UNAUTH => TerminalError::Refused(format!("{what}: not authorised")),
        cmd::ACK_UNKNOWN => TerminalError::Refused(format!("{what}: unknown command")),
        2001..=2005 | 0xFFF0..=0xFFFF => {
            TerminalError::Refused(format!("{what}: refused with code {code}"))
        }
        other => TerminalError::Malformed(format!("{what}: unexpected reply {other}")),
    }
}

fn expect_ok(what: &str, p: Packet) -> Result<Packet, TerminalError> {
    if p.command == cmd::ACK_OK {
        Ok(p)
    } else {
        Err(refusal(what, p.command))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> ZkClient<S> {
    /// Opens a session on `stream`: CMD_CONNECT, then CMD_AUTH with `comm_key` when the machine
    /// asks for it. A wrong key is `Refused`.
    pub async fn connect(
        stream: S,
        comm_key: u32,
        timeout: Duration,
    ) -> Result<ZkClient<S>, TerminalError> {
        let mut c = ZkClient {
            stream,
            framer: Framer::new(),
            rbuf: vec![0; 64 * 1024],
            session: 0,
            next_reply: 0,
            timeout,
            events: VecDeque::new(),
            stats: ClientStats::default(),
            broken: false,
            trace: None,
        };
        let r = c.call(cmd::CONNECT, Vec::new()).await?;
        c.session = r.session;
        match r.command {
            cmd::ACK_OK => Ok(c),
            cmd::ACK_UNAUTH => {
                let key = make_commkey(comm_key, c.session, COMMKEY_TICKS).to_vec();
                let r = c.call(cmd::AUTH, key).await?;
                match r.command {
                    cmd::ACK_OK => Ok(c),
                    cmd::ACK_UNAUTH => Err(TerminalError::Refused("comm key rejected".to_string())),
                    other => Err(refusal("auth", other)),
                }
            }
            other => Err(refusal("connect", other)),
        }
    }

    pub fn session(&self) -> u16 {
        self.session
    }

    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Changes the deadline of each exchange.
    /// Starts or stops keeping the packets for [`ZkClient::take_trace`].
    pub fn set_tracing(&mut self, on: bool) {
        match (on, &self.trace) {
            (true, None) => self.trace = Some(Vec::new()),
            (false, Some(_)) => self.trace = None,
            _ => {}
        }
    }

    /// The packets kept since the last call, oldest first.
    pub fn take_trace(&mut self) -> Vec<Traced> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn usable(&self) -> Result<(), TerminalError> {
        if self.broken {
            return Err(TerminalError::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "session lost after an earlier line error",
            )));
        }
        Ok(())
    }

    /// Marks the session lost when `e` puts the stream in doubt.
    fn fail(&mut self, e: TerminalError) -> TerminalError {
        if e.is_transport() {
            self.broken = true;
        }
        e
    }

    async fn send(&mut self, p: &Packet) -> Result<(), TerminalError> {
        let bytes = p.encode_tcp();
        self.stream.write_all(&bytes).await?;
        if let Some(t) = &mut self.trace {
            t.push(("tx", bytes));
        }
        self.stream.flush().await?;
        self.stats.sent += 1;
        Ok(())
    }

    /// The next packet that is not a pushed event (events are queued and acknowledged).
    async fn recv(&mut self) -> Result<Packet, TerminalError> {
        loop {
            if let Some(p) = self.recv_any().await? {
                return Ok(p);
            }
        }
    }

    /// The next packet, or `None` when it was an event (now queued and acknowledged).
    async fn recv_any(&mut self) -> Result<Option<Packet>, TerminalError> {
        loop {
            if let Some(p) = self.framer.next_packet()? {
                self.stats.received += 1;
                if let Some(t) = &mut self.trace {
                    // The packet keeps the checksum it came with: these are the wire bytes.
                    t.push(("rx", p.encode_tcp()));
                }
                if !p.checksum_ok() {
                    self.stats.bad_checksums += 1;
                }
                if p.command == cmd::REG_EVENT {
                    self.take_event(&p).await?;
                    return Ok(None);
                }
                return Ok(Some(p));
            }
            let n = self.stream.read(&mut self.rbuf).await?;
            if n == 0 {
                return Err(TerminalError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the machine closed the connection",
                )));
            }
            self.framer.push(&self.rbuf[..n]);
        }
    }

    async fn take_event(&mut self, p: &Packet) -> Result<(), TerminalError> {
        match LiveEvent::from_packet(p) {
            Ok(e) => {
                self.stats.events += 1;
                self.events.push_back(e);
            }
            Err(_) => self.stats.bad_events += 1,
        }
        // Devices resend an unacknowledged event; pyzk acks with reply number 0 too.
        let ack = Packet::new(cmd::ACK_OK, self.session, 0, Vec::new());
        self.send(&ack).await
    }

    async fn exchange(&mut self, command: u16, data: Vec<u8>) -> Result<Packet, TerminalError> {
        let reply = self.next_reply;
        self.next_reply = self.next_reply.wrapping_add(1);
        self.send(&Packet::new(command, self.session, reply, data))
            .await?;
        let p = self.recv().await?;
        if p.reply != reply {
            self.stats.reply_mismatches += 1;
        }
        Ok(p)
    }

    /// One request and its first reply, within the deadline.
    async fn call(&mut self, command: u16, data: Vec<u8>) -> Result<Packet, TerminalError> {
        self.usable()?;
        let limit = self.timeout;
        let r = with_timeout(limit, self.exchange(command, data)).await;
        let r = self.cut_short(r);
        r.map_err(|e| self.fail(e))
    }

    /// A further packet of the same exchange, within the deadline.
    async fn recv_more(&mut self) -> Result<Packet, TerminalError> {
        let limit = self.timeout;
        let r = with_timeout(limit, self.recv()).await;
        let r = self.cut_short(r);
        r.map_err(|e| self.fail(e))
    }

    /// A deadline that passed with a packet begun is a packet cut short (the machine
    /// transmitted: garbled), not silence.
    fn cut_short(&self, r: Result<Packet, TerminalError>) -> Result<Packet, TerminalError> {
        match r {
            Err(TerminalError::Timeout(limit)) if self.framer.pending() > 0 => {
                Err(TerminalError::Malformed(format!(
                    "a packet cut short: {} bytes, then nothing for {limit:?}",
                    self.framer.pending()
                )))
            }
            r => r,
        }
    }

    async fn simple(
        &mut self,
        what: &str,
        command: u16,
        data: Vec<u8>,
    ) -> Result<Packet, TerminalError> {
        let p = self.call(command, data).await?;
        expect_ok(what, p)
    }

    /// Ends the session (CMD_EXIT) and closes the stream.
    pub async fn disconnect(mut self) -> Result<(), TerminalError> {
        self.simple("exit", cmd::EXIT, Vec::new()).await?;
        let _ = self.stream.shutdown().await;
        Ok(())
    }

    pub async fn enable_device(&mut self) -> Result<(), TerminalError> {
        self.simple("enable device", cmd::ENABLEDEVICE, Vec::new())
            .await
            .map(drop)
    }

    /// Locks the keypad and sensor ("working…") so the log stays still during a download.
    pub async fn disable_device(&mut self) -> Result<(), TerminalError> {
        self.simple("disable device", cmd::DISABLEDEVICE, Vec::new())
            .await
            .map(drop)
    }

    pub async fn get_time(&mut self) -> Result<NaiveDateTime, TerminalError> {
        let p = self.simple("get time", cmd::GET_TIME, Vec::new()).await?;
        let raw = p
            .data
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| TerminalError::Malformed("time reply without a time".into()))?;
        decode_time(raw)
            .ok_or_else(|| TerminalError::Malformed(format!("machine time {raw} is no date")))
    }

    pub async fn set_time(&mut self, t: NaiveDateTime) -> Result<(), TerminalError> {
        let v = encode_time(t)
            .ok_or_else(|| TerminalError::Malformed(format!("{t} is outside 2000-2099")))?;
        self.simple("set time", cmd::SET_TIME, v.to_le_bytes().to_vec())
            .await
            .map(drop)
    }

    pub async fn free_sizes(&mut self) -> Result<FreeSizes, TerminalError> {
        let p = self
            .simple("free sizes", cmd::GET_FREE_SIZES, Vec::new())
            .await?;
        FreeSizes::decode(&p.data)
    }

    /// Reads one option, e.g. `~SerialNumber`, `~Platform`, `~DeviceName`.
    pub async fn read_option(&mut self, name: &str) -> Result<String, TerminalError> {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        let p = self.simple(name, cmd::OPTIONS_RRQ, data).await?;
        Ok(option_value(&p.data))
    }

    pub async fn serial_number(&mut self) -> Result<String, TerminalError> {
        self.read_option("~SerialNumber").await
    }

    pub async fn firmware_version(&mut self) -> Result<String, TerminalError> {
        let p = self
            .simple("firmware version", cmd::GET_VERSION, Vec::new())
            .await?;
        Ok(super::c_string(&p.data))
    }

    pub async fn device_info(&mut self) -> Result<DeviceInfo, TerminalError> {
        Ok(DeviceInfo {
            serial: self.serial_number().await?,
            firmware: self.firmware_version().await?,
            platform: self.read_option("~Platform").await?,
            sizes: self.free_sizes().await?,
        })
    }

    /// A whole dataset through the device's buffer: prepare (1503), read in chunks (1504),
    /// free (1502). Small datasets come back at once.
    pub async fn read_buffer(
        &mut self,
        inner: u16,
        fct: u32,
        ext: u32,
    ) -> Result<Vec<u8>, TerminalError> {
        let p = self
            .call(cmd::PREPARE_BUFFER, prepare_buffer_request(inner, fct, ext))
            .await?;
        match p.command {
            cmd::DATA => return Ok(p.data),
            cmd::ACK_OK => {}
            other => return Err(refusal("prepare buffer", other)),
        }
        let size = decode_data_stat(&p.data)? as usize;
        if size > MAX_DATASET {
            return Err(TerminalError::Malformed(format!("{size}-byte dataset")));
        }
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            let len = (size - out.len()).min(MAX_TCP_CHUNK);
            let chunk = self.read_chunk(out.len(), len).await?;
            out.extend_from_slice(&chunk);
        }
        self.simple("free data", cmd::FREE_DATA, Vec::new()).await?;
        Ok(out)
    }

    /// One 1504 exchange: PREPARE_DATA, then DATA packets up to the announced size, then ACK_OK
    /// (or a single DATA reply, which some firmware sends).
    async fn read_chunk(&mut self, start: usize, size: usize) -> Result<Vec<u8>, TerminalError> {
        let p = self
            .call(
                cmd::READ_BUFFER,
                read_buffer_request(start as u32, size as u32),
            )
            .await?;
        match p.command {
            cmd::DATA if p.data.len() == size => return Ok(p.data),
            cmd::PREPARE_DATA => {}
            cmd::DATA => {
                let e = TerminalError::Malformed(format!(
                    "chunk of {} bytes, asked for {size}",
                    p.data.len()
                ));
                return Err(self.fail(e));
            }
            other => return Err(refusal("read buffer", other)),
        }
        let announced = p
            .data
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0) as usize;
        if announced != size {
            let e =
                TerminalError::Malformed(format!("chunk of {announced} bytes, asked for {size}"));
            return Err(self.fail(e));
        }
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            let p = self.recv_more().await?;
            if p.command != cmd::DATA || out.len() + p.data.len() > size {
                let e = TerminalError::Malformed(format!(
                    "command {} with {} bytes inside a {size}-byte chunk",
                    p.command,
                    p.data.len()
                ));
                return Err(self.fail(e));
            }
            out.extend_from_slice(&p.data);
        }
        let ack = self.recv_more().await?;
        if ack.command != cmd::ACK_OK {
            let e = TerminalError::Malformed(format!("chunk ended by command {}", ack.command));
            return Err(self.fail(e));
        }
        Ok(out)
    }

    /// The user table (72-byte records; 28-byte ones from old firmware decode too).
    pub async fn read_users(&mut self) -> Result<Vec<UserRecord>, TerminalError> {
        let sizes = self.free_sizes().await?;
        if sizes.users <= 0 {
            return Ok(Vec::new());
        }
        let data = self.read_buffer(cmd::USERTEMP_RRQ, FCT_USER, 0).await?;
        decode_users(&data, sizes.users as usize)
    }

    /// Adds or replaces users (by `uid`), then lets the machine refresh its tables once.
    pub async fn write_users(&mut self, users: &[UserRecord]) -> Result<(), TerminalError> {
        for u in users {
            self.simple("write user", cmd::USER_WRQ, u.encode().to_vec())
                .await?;
        }
        self.simple("refresh data", cmd::REFRESHDATA, Vec::new())
            .await
            .map(drop)
    }

    pub async fn write_user(&mut self, user: &UserRecord) -> Result<(), TerminalError> {
        self.write_users(std::slice::from_ref(user)).await
    }

    pub async fn delete_user(&mut self, uid: u16) -> Result<(), TerminalError> {
        self.delete_users(&[uid]).await
    }

    /// Deletes users by `uid` (CMD_DELETE_USER, as pyzk sends it), then refreshes once.
    pub async fn delete_users(&mut self, uids: &[u16]) -> Result<(), TerminalError> {
        for uid in uids {
            self.simple("delete user", cmd::DELETE_USER, uid.to_le_bytes().to_vec())
                .await?;
        }
        self.simple("refresh data", cmd::REFRESHDATA, Vec::new())
            .await
            .map(drop)
    }

    /// Puts users on the machine by user id (see [`plan_user_writes`]): reads the user table,
    /// writes what changed. Returns the records written.
    pub async fn set_users_by_id(
        &mut self,
        wanted: &[WantedUser],
    ) -> Result<Vec<UserRecord>, TerminalError> {
        let mut users = self.read_users().await?;
        let writes = plan_user_writes(&mut users, wanted).ok_or_else(|| {
            TerminalError::Refused("the machine has no free user number left".into())
        })?;
        if !writes.is_empty() {
            self.write_users(&writes).await?;
        }
        Ok(writes)
    }

    /// Makes the machine refuse cards (see [`plan_revoke`]): `(card, user id)` pairs. Returns
    /// (users deleted, cards the machine did not hold).
    pub async fn revoke_cards(
        &mut self,
        cards: &[(u32, Option<String>)],
    ) -> Result<(usize, usize), TerminalError> {
        let users = self.read_users().await?;
        let (mut delete, mut rewrite) = (Vec::new(), Vec::new());
        let mut absent = 0;
        for (card, user_id) in cards {
            let (d, r) = plan_revoke(&users, *card, user_id.as_deref());
            if d.is_empty() && r.is_empty() {
                absent += 1;
            }
            delete.extend(d);
            rewrite.extend(r);
        }
        delete.sort_unstable();
        delete.dedup();
        rewrite.retain(|u| !delete.contains(&u.uid));
        rewrite.sort_by_key(|u| u.uid);
        rewrite.dedup_by_key(|u| u.uid);
        if !rewrite.is_empty() {
            self.write_users(&rewrite).await?;
        }
        if !delete.is_empty() {
            self.delete_users(&delete).await?;
        }
        Ok((delete.len(), absent))
    }

    /// The whole attendance log, oldest first. Disable the device around it when the log must
    /// not grow meanwhile (e.g. before `clear_attendance`).
    pub async fn read_attendance(&mut self) -> Result<Vec<AttRecord>, TerminalError> {
        let sizes = self.free_sizes().await?;
        if sizes.records <= 0 {
            return Ok(Vec::new());
        }
        let data = self.read_buffer(cmd::ATTLOG_RRQ, 0, 0).await?;
        decode_attendance(&data, sizes.records as usize)
    }

    /// Prepares the attendance log for [`ZkClient::read_attendance_range`]; free it with
    /// [`ZkClient::free_log`]. The machine snapshots its log here: disable it first when the
    /// log must not change meanwhile.
    pub async fn prepare_attendance(&mut self) -> Result<AttLog, TerminalError> {
        let sizes = self.free_sizes().await?;
        let held = usize::try_from(sizes.records.max(0)).unwrap_or(0);
        if held == 0 {
            return Ok(AttLog {
                count: 0,
                record_len: super::ATT_RECORD_LEN,
                whole: Some(Vec::new()),
            });
        }
        let p = self
            .call(
                cmd::PREPARE_BUFFER,
                prepare_buffer_request(cmd::ATTLOG_RRQ, 0, 0),
            )
            .await?;
        match p.command {
            cmd::DATA => {
                let records = decode_attendance(&p.data, held)?;
                return Ok(AttLog {
                    count: records.len(),
                    record_len: super::ATT_RECORD_LEN,
                    whole: Some(records),
                });
            }
            cmd::ACK_OK => {}
            other => return Err(refusal("prepare buffer", other)),
        }
        let size = decode_data_stat(&p.data)? as usize;
        if !(4..=MAX_DATASET).contains(&size) {
            return Err(TerminalError::Malformed(format!("{size}-byte dataset")));
        }
        let body = size - 4;
        let record_len = attendance_record_size(body, held)?;
        Ok(AttLog {
            count: body / record_len,
            record_len,
            whole: None,
        })
    }

    /// Records `from..to` of a prepared log, in as few exchanges as the chunk size allows;
    /// each exchange has its own deadline, so no size of log runs into one.
    pub async fn read_attendance_range(
        &mut self,
        log: &AttLog,
        from: usize,
        to: usize,
    ) -> Result<Vec<AttRecord>, TerminalError> {
        let to = to.min(log.count);
        if from >= to {
            return Ok(Vec::new());
        }
        if let Some(all) = &log.whole {
            return Ok(all[from..to].to_vec());
        }
        let per_chunk = log.records_per_chunk();
        let mut out = Vec::with_capacity(to - from);
        let mut at = from;
        while at < to {
            let n = (to - at).min(per_chunk);
            let bytes = self
                .read_chunk(4 + at * log.record_len, n * log.record_len)
                .await?;
            out.extend(decode_attendance_records(&bytes, log.record_len)?);
            at += n;
        }
        Ok(out)
    }

    /// Frees what [`ZkClient::prepare_attendance`] prepared.
    pub async fn free_log(&mut self, log: &AttLog) -> Result<(), TerminalError> {
        if log.whole.is_none() {
            self.simple("free data", cmd::FREE_DATA, Vec::new()).await?;
        }
        Ok(())
    }

    pub async fn clear_attendance(&mut self) -> Result<(), TerminalError> {
        self.simple("clear attendance", cmd::CLEAR_ATTLOG, Vec::new())
            .await
            .map(drop)
    }

    /// Opens the attached lock for `hold` (sent in tenths of a second, like pyzk).
    pub async fn unlock(&mut self, hold: Duration) -> Result<(), TerminalError> {
        let tenths = u32::try_from(hold.as_millis() / 100).unwrap_or(u32::MAX);
        self.simple("unlock", cmd::UNLOCK, tenths.to_le_bytes().to_vec())
            .await
            .map(drop)
    }

    /// Asks for realtime events (`EF_ATTLOG`, …; 0 stops them).
    pub async fn register_events(&mut self, flags: u32) -> Result<(), TerminalError> {
        self.simple(
            "register events",
            cmd::REG_EVENT,
            flags.to_le_bytes().to_vec(),
        )
        .await
        .map(drop)
    }

    /// Waits for the next realtime event, however long it takes (wrap it in a timeout).
    /// Cancelling it loses nothing already received.
    pub async fn next_event(&mut self) -> Result<LiveEvent, TerminalError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            self.usable()?;
            match self.recv_any().await {
                Ok(Some(_)) => self.stats.stray += 1,
                Ok(None) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// The realtime events as a stream (register for them first).
    pub fn into_events(self) -> EventStream
    where
        S: 'static,
    {
        Box::pin(futures::stream::unfold(Some(self), |c| async move {
            let mut c = c?;
            match c.next_event().await {
                Ok(e) => Some((Ok(e), Some(c))),
                Err(e) => Some((Err(e), None)),
            }
        }))
    }
}
