//! UHPPOTE door controllers on one address (UDP or TCP): the controllers' own event index is
//! the record number. Status first (online, clock, newest event), then the events after the
//! bookmark one by one, a batch per transaction, and only then set-event-index (the ack).
//! Pushed events arrive on a listener the owner points every controller at; the next one in
//! order is stored at once, anything else just wakes the poll.

use super::actor::{garbled, local_now, said, Ctx, PollError, Polled, Term};
use super::Options;
use crate::db::command::{DoorMode as CmdDoorMode, TerminalCommand};
use crate::db::ingest::{self, DoorEventRow};
use crate::db::terminal::Line;
use crate::domain::alarm::AlarmKind;
use crate::terminal::uhppote::{
    Card, DoorControl, DoorEventKind, DoorMode, EventListener, EventRecord, EventSlot,
    ListenerConfig, ListenerEvent, Request, Response, Transport, UhppoteClient, CONTROLLER_PORT,
};
use crate::terminal::TerminalError;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) struct UhppoteLine {
    client: UhppoteClient,
    listener: Option<(mpsc::Receiver<ListenerEvent>, JoinHandle<()>, SocketAddrV4)>,
    /// Controllers already pointed at our listener.
    listening: HashSet<u32>,
}

impl Drop for UhppoteLine {
    fn drop(&mut self) {
        if let Some((_, task, _)) = &self.listener {
            task.abort();
        }
    }
}

pub(crate) async fn resolve(address: &str, default_port: u16) -> Result<SocketAddr, String> {
    let with_port = if address.contains(':') {
        address.to_string()
    } else {
        format!("{address}:{default_port}")
    };
    let mut found = tokio::net::lookup_host(with_port)
        .await
        .map_err(|e| format!("address {address}: {e}"))?;
    found
        .next()
        .ok_or_else(|| format!("address {address} resolves to nothing"))
}

/// The IPv4 address of ours that `peer` would see us on.
fn local_ip_for(peer: SocketAddr) -> Option<Ipv4Addr> {
    let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect(peer).ok()?;
    match s.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) => Some(ip),
        std::net::IpAddr::V6(_) => None,
    }
}

/// onecard's name for an event kind (`door_event.kind`).
pub fn kind_name(k: DoorEventKind) -> &'static str {
    match k {
        DoorEventKind::Granted => "granted",
        DoorEventKind::Denied(_) => "denied",
        DoorEventKind::ButtonPressed => "button",
        DoorEventKind::ButtonRefused(_) => "button_refused",
        DoorEventKind::DoorOpened => "door_opened",
        DoorEventKind::DoorClosed => "door_closed",
        DoorEventKind::SupervisorOpen => "supervisor_open",
        DoorEventKind::RemoteOpen => "remote_open",
        DoorEventKind::PowerOn => "power_on",
        DoorEventKind::Reset => "reset",
        DoorEventKind::HeldOpen => "held_open",
        DoorEventKind::ForcedOpen => "forced_open",
        DoorEventKind::ForcedClosed => "forced_closed",
        DoorEventKind::Fire => "fire",
        DoorEventKind::Duress => "duress",
        DoorEventKind::Tamper => "tamper",
        DoorEventKind::EmergencyCall => "emergency_call",
        DoorEventKind::Alarm(_) => "alarm",
        DoorEventKind::Overwritten => "overwritten",
        DoorEventKind::NoEvent => "no_event",
        DoorEventKind::Other(_) => "other",
    }
}

/// The control-room alarm an event raises, if any.
pub fn alarm_of(k: DoorEventKind) -> Option<AlarmKind> {
    match k {
        DoorEventKind::ForcedOpen => Some(AlarmKind::ForcedOpen),
        DoorEventKind::HeldOpen => Some(AlarmKind::HeldOpen),
        DoorEventKind::Fire => Some(AlarmKind::Fire),
        DoorEventKind::Duress | DoorEventKind::EmergencyCall => Some(AlarmKind::Duress),
        // The anti-theft input, and alarm reasons onecard has no name for: someone must look.
        DoorEventKind::Tamper | DoorEventKind::Alarm(_) => Some(AlarmKind::Tamper),
        _ => None,
    }
}

/// The event as stored: its number is `base` + the controller's own.
pub fn door_row(e: &EventRecord, base: i64) -> DoorEventRow {
    let kind = e.kind();
    DoorEventRow {
        record_no: base + i64::from(e.index),
        door: i16::from(e.door),
        kind: kind_name(kind).to_string(),
        granted: e.granted,
        card: (e.card != 0).then_some(i64::from(e.card)),
        reason: i16::from(e.reason),
        terminal_time: e.timestamp,
        alarm: alarm_of(kind),
    }
}

fn serial_of(t: &Term) -> Result<u32, PollError> {
    u32::try_from(t.row.address).map_err(|_| {
        PollError::from(TerminalError::Refused(format!(
            "address {} is not a controller serial number",
            t.row.address
        )))
    })
}

fn unexpected(r: &Response) -> TerminalError {
    TerminalError::Malformed(format!("unexpected {} reply", r.function()))
}

impl UhppoteLine {
    pub async fn open(line: &Line, options: &Options) -> Result<UhppoteLine, String> {
        let transport = match line.transport.as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other => return Err(format!("UHPPOTE controllers are not reached over {other}")),
        };
        let addr = resolve(&line.address, CONTROLLER_PORT).await?;
        let client = UhppoteClient::new(addr, transport).with_timeout(options.uhppote_timeout);
        let mut listener = None;
        if options.uhppote_listener {
            if let Some(ip) = local_ip_for(addr) {
                match EventListener::bind(SocketAddr::from((ip, 0))).await {
                    Ok(l) => {
                        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                        let (rx, task) = l.spawn(1024);
                        listener = Some((rx, task, SocketAddrV4::new(ip, port)));
                    }
                    Err(e) => tracing::warn!(error = %e, "no event listener; polling only"),
                }
            }
        }
        Ok(UhppoteLine {
            client,
            listener,
            listening: HashSet::new(),
        })
    }

    /// One exchange, traced, with one retry after a timeout.
    async fn exchange(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        req: Request,
    ) -> Result<Response, TerminalError> {
        let frame = req.encode(serial);
        let mut retried = false;
        loop {
            ctx.trace("tx", &frame);
            match self.client.exchange(serial, &req).await {
                Ok(r) => {
                    ctx.trace("rx", &r.encode(serial));
                    return Ok(r);
                }
                Err(TerminalError::Timeout(_)) if !retried => {
                    retried = true;
                    t.delta.timeouts += 1;
                    t.delta.retries += 1;
                }
                Err(e) => {
                    if matches!(e, TerminalError::Malformed(_)) {
                        t.delta.crc_errors += 1;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Notices a controller whose event numbers began again: its newest is below what we
    /// stored, or (checked on taking the line and when it comes back) its event at our
    /// bookmark is not the one stored. Its events then continue after ours.
    async fn check_restart(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        own_newest: i64,
    ) -> Result<(), PollError> {
        let own = t.bookmark - t.base;
        if own <= 0 {
            return Ok(());
        }
        let why = if own_newest < own {
            Some(format!(
                "controller {serial} counts its events from 1 again: its newest is {own_newest}, onecard had collected up to {own}"
            ))
        } else if !t.acked_once || t.online == Some(false) {
            let index = u32::try_from(own).unwrap_or(u32::MAX);
            match self.event(ctx, t, serial, index).await? {
                EventSlot::Found(e) if e.index == index => {
                    let ours = door_row(&e, t.base);
                    let stored: Option<(Option<i64>, i16, Option<chrono::NaiveDateTime>)> =
                        sqlx::query_as(
                            "SELECT card, door, terminal_time FROM door_event
                             WHERE terminal_id = $1 AND record_no = $2",
                        )
                        .bind(t.row.id)
                        .bind(t.bookmark)
                        .fetch_optional(&ctx.pool)
                        .await?;
                    stored
                        .is_some_and(|s| s != (ours.card, ours.door, ours.terminal_time))
                        .then(|| {
                            format!(
                                "controller {serial} was reset or replaced: its event {own} is not the one onecard collected"
                            )
                        })
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(why) = why {
            tracing::warn!(terminal = %t.row.name, "{why}");
            t.base = ingest::restart_numbering(&ctx.pool, t.row.id, &why, None).await?;
            t.late_until = None;
            // A reset controller forgot our listener too.
            self.listening.remove(&serial);
        }
        Ok(())
    }

    async fn event(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        index: u32,
    ) -> Result<EventSlot, TerminalError> {
        match self
            .exchange(ctx, t, serial, Request::GetEvent { index })
            .await?
        {
            Response::GetEvent(slot) => Ok(slot),
            r => Err(unexpected(&r)),
        }
    }

    async fn ack(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        index: u32,
    ) -> Result<(), TerminalError> {
        match self
            .exchange(ctx, t, serial, Request::SetEventIndex { index })
            .await?
        {
            Response::SetEventIndex { ok: true } => Ok(()),
            Response::SetEventIndex { ok: false } => Err(TerminalError::Refused(format!(
                "controller {serial} refused event index {index}"
            ))),
            r => Err(unexpected(&r)),
        }
    }

    pub async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let serial = serial_of(t)?;
        let started = Instant::now();
        let status = match self.exchange(ctx, t, serial, Request::GetStatus).await? {
            Response::GetStatus(s) => s,
            r => return Err(unexpected(&r).into()),
        };
        let mut polled = Polled {
            rtt: Some(started.elapsed()),
            ..Polled::default()
        };
        // The controller's own newest index, then in onecard's numbering.
        let own_newest = status.event.map(|e| i64::from(e.index)).unwrap_or(0);
        self.check_restart(ctx, t, serial, own_newest).await?;
        let newest = t.base + own_newest;
        if t.online == Some(false) {
            // Back from offline: everything stored meanwhile is a replay.
            t.late_until = Some(newest);
        }
        if let Some(clock) = status.system_datetime() {
            polled.drift_s = Some((clock - local_now()).num_seconds());
        }
        if !t.identified {
            if let Response::GetController(info) = self
                .exchange(ctx, t, serial, Request::GetController)
                .await?
            {
                polled.firmware = Some(info.version.to_string());
            }
            t.identified = true;
        }
        if let Some((_, _, at)) = self.listener {
            if !self.listening.contains(&serial) {
                let config = ListenerConfig {
                    address: *at.ip(),
                    port: at.port(),
                    interval: 0,
                };
                match self
                    .exchange(ctx, t, serial, Request::SetListener(config))
                    .await?
                {
                    Response::SetListener { ok: true } => {
                        self.listening.insert(serial);
                    }
                    _ => tracing::warn!(serial, "controller refused our event listener"),
                }
            }
        }
        if !t.acked_once {
            // A crash between our commit and the controller's ack: say it again.
            let own = t.bookmark - t.base;
            if own > 0 && own <= own_newest {
                let b = u32::try_from(own).unwrap_or(u32::MAX);
                match self.ack(ctx, t, serial, b).await {
                    Ok(()) | Err(TerminalError::Refused(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            t.acked_once = true;
        }
        let batch = i64::try_from(ctx.options.batch.max(1)).unwrap_or(100);
        for _ in 0..ctx.options.batches_per_visit.max(1) {
            if t.bookmark >= newest {
                break;
            }
            let late_cap = t.late_cap();
            let end = newest
                .min(t.bookmark + batch)
                .min(late_cap.unwrap_or(i64::MAX));
            let mut rows = Vec::new();
            let mut last = t.bookmark;
            for i in (t.bookmark + 1)..=end {
                let index = u32::try_from(i - t.base).unwrap_or(u32::MAX);
                match self.event(ctx, t, serial, index).await? {
                    EventSlot::Found(e) if e.index == index => rows.push(door_row(&e, t.base)),
                    EventSlot::Found(e) => {
                        return Err(garbled(format!(
                            "asked controller {serial} for event {index}, got event {}",
                            e.index
                        )))
                    }
                    EventSlot::Overwritten { .. } => {
                        tracing::warn!(serial, index, "event overwritten before it was collected");
                    }
                    EventSlot::NotFound { .. } => break,
                }
                last = i;
            }
            if last == t.bookmark {
                break;
            }
            let stored = ingest::store_door_events(
                &ctx.pool,
                t.row.id,
                &rows,
                Some(last),
                late_cap.is_some(),
            )
            .await?;
            ctx.stored(&stored);
            t.bookmark = last;
            if t.late_until.is_some_and(|l| t.bookmark >= l) {
                t.late_until = None;
            }
            self.ack(
                ctx,
                t,
                serial,
                u32::try_from(last - t.base).unwrap_or(u32::MAX),
            )
            .await?;
        }
        polled.waiting = Some((newest - t.bookmark).max(0));
        polled.more = t.bookmark < newest;
        Ok(polled)
    }

    pub async fn next_push(&mut self) -> Option<ListenerEvent> {
        match &mut self.listener {
            Some((rx, _, _)) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// The next event in order is stored at once; anything else waits for the poll.
    pub async fn on_push(&mut self, ctx: &mut Ctx, terms: &mut [Term], ev: ListenerEvent) -> bool {
        let Some(t) = terms
            .iter_mut()
            .find(|t| t.row.address == i64::from(ev.serial))
        else {
            return false;
        };
        let Some(e) = ev.status.event else {
            return false;
        };
        let index = t.base + i64::from(e.index);
        if t.online != Some(true) || t.late_cap().is_some() || index != t.bookmark + 1 {
            return index > t.bookmark;
        }
        let row = door_row(&e, t.base);
        match ingest::store_door_events(&ctx.pool, t.row.id, &[row], Some(index), false).await {
            Ok(stored) => {
                ctx.stored(&stored);
                t.bookmark = index;
                if let Err(err) = self.ack(ctx, t, ev.serial, e.index).await {
                    tracing::debug!(serial = ev.serial, error = %err, "ack after a pushed event failed");
                }
                false
            }
            Err(err) => {
                tracing::warn!(serial = ev.serial, error = %err, "storing a pushed event failed");
                true
            }
        }
    }

    pub async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<String, String> {
        let serial = serial_of(t)
            .map_err(|_| format!("address {} is not a serial number", t.row.address))?;
        match cmd {
            TerminalCommand::OpenDoor { door } => {
                match self
                    .exchange(ctx, t, serial, Request::OpenDoor { door: *door })
                    .await
                    .map_err(|e| said(&e))?
                {
                    Response::OpenDoor { ok: true } => {
                        Ok(format!("controller {serial} opened door {door}"))
                    }
                    Response::OpenDoor { ok: false } => {
                        Err(format!("controller {serial} refused to open door {door}"))
                    }
                    r => Err(unexpected(&r).to_string()),
                }
            }
            TerminalCommand::SetTime => {
                let now = local_now();
                match self
                    .exchange(ctx, t, serial, Request::SetTime(now))
                    .await
                    .map_err(|e| said(&e))?
                {
                    Response::SetTime(Some(set)) => {
                        t.last_clock = None;
                        Ok(format!("controller {serial} clock set to {set}"))
                    }
                    Response::SetTime(None) => {
                        Err(format!("controller {serial} answered without a valid clock"))
                    }
                    r => Err(unexpected(&r).to_string()),
                }
            }
            TerminalCommand::ClearRecords => Err(
                "UHPPOTE controllers cannot erase their stored events: the oldest are overwritten when the memory is full"
                    .to_string(),
            ),
            TerminalCommand::OnlineTest => {
                let started = Instant::now();
                match self
                    .exchange(ctx, t, serial, Request::GetController)
                    .await
                    .map_err(|e| said(&e))?
                {
                    Response::GetController(info) => Ok(format!(
                        "controller {serial} online: firmware {}, address {}, {} ms",
                        info.version,
                        info.address,
                        started.elapsed().as_millis()
                    )),
                    r => Err(unexpected(&r).to_string()),
                }
            }
            TerminalCommand::SetDoorMode {
                door,
                mode,
                unlock_secs,
            } => {
                let wanted = DoorControl {
                    door: *door,
                    mode: match mode {
                        CmdDoorMode::Controlled => DoorMode::Controlled,
                        CmdDoorMode::NormallyOpen => DoorMode::NormallyOpen,
                        CmdDoorMode::NormallyClosed => DoorMode::NormallyClosed,
                    },
                    delay: *unlock_secs,
                };
                match self
                    .exchange(ctx, t, serial, Request::SetDoorControl(wanted))
                    .await
                    .map_err(|e| said(&e))?
                {
                    Response::SetDoorControl(d) if d == wanted => Ok(format!(
                        "controller {serial} door {door}: mode {mode:?}, unlock {unlock_secs} s"
                    )),
                    Response::SetDoorControl(d) => Err(format!(
                        "controller {serial} kept door {door} at mode {} with {} s",
                        d.mode.code(),
                        d.delay
                    )),
                    r => Err(unexpected(&r).to_string()),
                }
            }
            TerminalCommand::PushCards { cards } => {
                let mut stored = 0;
                for g in cards {
                    let mut doors = [0u8; 4];
                    for &d in &g.doors {
                        if let Some(slot) = usize::from(d)
                            .checked_sub(1)
                            .and_then(|i| doors.get_mut(i))
                        {
                            // 1: at all hours (no time profile).
                            *slot = 1;
                        }
                    }
                    let card = Card {
                        number: g.card,
                        from: Some(g.from),
                        to: Some(g.until),
                        doors,
                        pin: 0,
                    };
                    match self
                        .exchange(ctx, t, serial, Request::PutCard(card))
                        .await
                        .map_err(|e| said(&e))?
                    {
                        Response::PutCard { ok: true } => stored += 1,
                        Response::PutCard { ok: false } => {
                            return Err(format!(
                                "controller {serial} refused card {} ({stored} of {} stored)",
                                g.card,
                                cards.len()
                            ))
                        }
                        r => return Err(unexpected(&r).to_string()),
                    }
                }
                Ok(format!("controller {serial} stored {stored} cards"))
            }
            TerminalCommand::RevokeCards { cards } => {
                let numbers: Vec<u32> = cards.iter().map(|c| c.card).collect();
                let (removed, absent) = self.delete_cards(ctx, t, serial, &numbers).await?;
                Ok(format!(
                    "controller {serial} removed {removed} cards ({absent} were not stored)"
                ))
            }
            TerminalCommand::PushBlacklist { cards } => {
                // A controller has no blacklist: a blacklisted card is one it no longer holds.
                let (removed, absent) = self.delete_cards(ctx, t, serial, cards).await?;
                Ok(format!(
                    "controller {serial} removed {removed} blacklisted cards ({absent} were not stored)"
                ))
            }
        }
    }

    /// Deletes cards one by one: (removed, not stored). A card the controller does not hold is
    /// no failure: it refuses the card already.
    async fn delete_cards(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        cards: &[u32],
    ) -> Result<(usize, usize), String> {
        let (mut removed, mut absent) = (0, 0);
        for &card in cards {
            match self
                .exchange(ctx, t, serial, Request::DeleteCard { card })
                .await
                .map_err(|e| said(&e))?
            {
                Response::DeleteCard { ok: true } => removed += 1,
                Response::DeleteCard { ok: false } => absent += 1,
                r => return Err(unexpected(&r).to_string()),
            }
        }
        Ok((removed, absent))
    }
}
