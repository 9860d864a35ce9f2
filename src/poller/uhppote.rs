//! UHPPOTE door controllers on one address (UDP or TCP): the controllers' own event index is
//! the record number. Status first (online, clock, newest event, the doors' live state), then
//! the events after the bookmark one by one, a batch per transaction, and only then
//! set-event-index (the ack). Pushed events arrive on a listener the owner points every
//! controller at; the next one in order is stored at once, anything else just wakes the poll.
//! The [`super::line::LineDriver`] face and the commands are in `commands`.

mod commands;

use super::line::{garbled, local_now, resolve, Ctx, PollError, Polled, Term};
use super::options::Options;
use crate::db::alarm::{self, NewAlarm};
use crate::db::command::DoorMode as CmdDoorMode;
use crate::db::door::{self, LiveState};
use crate::db::ingest::{self, AlarmDetail, DoorEventRow, Implausible, Restart};
use crate::db::terminal::Line;
use crate::domain::alarm::AlarmKind;
use crate::terminal::uhppote::{
    Direction, DoorEventKind, DoorMode, EventListener, EventRecord, EventSlot, ListenerConfig,
    ListenerEvent, Request, Response, Status, Transport, UhppoteClient, CONTROLLER_PORT,
};

use crate::terminal::TerminalError;
use chrono::{Datelike, NaiveDateTime};
use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) struct UhppoteLine {
    client: UhppoteClient,
    listener: Option<(mpsc::Receiver<ListenerEvent>, JoinHandle<()>, SocketAddrV4)>,
    /// Controllers already pointed at our listener.
    listening: HashSet<u32>,
    /// Each controller's newest event (its own number) when its claim was last plausible.
    claims: HashMap<u32, (i64, Instant)>,
    /// The faults this driver raises itself, per terminal, as last settled.
    faults: HashMap<(i64, AlarmKind), bool>,
}

/// The most events a UHPPOTE controller keeps: its boards hold 100,000 (200,000 on the newest
/// firmware). A controller that still holds an event older than this many before its newest
/// is lying.
pub(crate) const RING_CAPACITY: i64 = 200_000;
/// The fastest a controller records: four doors, each with two readers, a button and a sensor,
/// far beyond what people can do at them.
const MAX_EVENTS_PER_SEC: i64 = 100;
/// Events a controller may record in a burst beyond its rate (a flood of button presses).
const RATE_BURST: i64 = 2_000;

/// A controller's clock is valid in the years its two-digit status year can say.
fn clock_valid(t: Option<NaiveDateTime>) -> bool {
    t.is_some_and(|t| (2000..=2099).contains(&t.year()))
}

impl Drop for UhppoteLine {
    fn drop(&mut self) {
        if let Some((_, task, _)) = &self.listener {
            task.abort();
        }
    }
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
fn kind_name(k: DoorEventKind) -> &'static str {
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
fn alarm_of(k: DoorEventKind) -> Option<AlarmKind> {
    match k {
        DoorEventKind::ForcedOpen => Some(AlarmKind::ForcedOpen),
        DoorEventKind::HeldOpen => Some(AlarmKind::HeldOpen),
        // A warning in the public reason table: someone locked the door by force.
        DoorEventKind::ForcedClosed => Some(AlarmKind::ForcedClosed),
        DoorEventKind::Fire => Some(AlarmKind::Fire),
        DoorEventKind::Duress | DoorEventKind::EmergencyCall => Some(AlarmKind::Duress),
        // The anti-theft input, and alarm reasons onecard has no name for: someone must look.
        DoorEventKind::Tamper | DoorEventKind::Alarm(_) => Some(AlarmKind::Tamper),
        _ => None,
    }
}

/// The event as stored: its number is `base` + the controller's own.
fn door_row(e: &EventRecord, base: i64) -> DoorEventRow {
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
        direction: match e.direction {
            Direction::In => Some("in"),
            Direction::Out => Some("out"),
            Direction::Other(_) => None,
        },
        clock_invalid: !clock_valid(e.timestamp),
    }
}

/// Each door's sensor and relay as a status reports them (doors a board lacks match no row).
fn live_state(s: &Status) -> Vec<LiveState> {
    (1u8..=4)
        .map(|d| LiveState {
            door: i16::from(d),
            open: s.doors_open[usize::from(d - 1)],
            unlocked: s.unlocked(d),
        })
        .collect()
}

/// onecard's name for a door mode the controller reports; None for one it has no name for.
fn mode_of(m: DoorMode) -> Option<CmdDoorMode> {
    match m {
        DoorMode::Controlled => Some(CmdDoorMode::Controlled),
        DoorMode::NormallyOpen => Some(CmdDoorMode::NormallyOpen),
        DoorMode::NormallyClosed => Some(CmdDoorMode::NormallyClosed),
        DoorMode::Other(_) => None,
    }
}

fn serial_of(t: &Term) -> Option<u32> {
    u32::try_from(t.row.address).ok()
}

fn unexpected(r: &Response) -> TerminalError {
    TerminalError::Malformed(format!("unexpected {} reply", r.function()))
}

/// A status read, and the newest event in onecard's numbering.
struct Prepared {
    status: Status,
    newest: i64,
    /// The controller claims events that cannot be true: `newest` is the bookmark then, and
    /// nothing is read.
    implausible: Option<AlarmDetail>,
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
            claims: HashMap::new(),
            faults: HashMap::new(),
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
            Some(Restart::CountsAgain {
                newest: own_newest,
                collected: own,
            })
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
                        .then_some(Restart::NotTheSame { record: own })
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(why) = why {
            tracing::warn!(terminal = %t.row.name, serial, "controller {why}");
            t.base = ingest::restart_numbering(&ctx.pool, t.row.id, why, None).await?;
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

    /// Marks the controller's events collected up to its own event `index`.
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

    /// The status, checked for a restart, with the ack repeated once after taking the line.
    async fn prepare(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
    ) -> Result<Prepared, PollError> {
        let status = match self.exchange(ctx, t, serial, Request::GetStatus).await? {
            Response::GetStatus(s) => s,
            r => return Err(unexpected(&r).into()),
        };
        // The controller's own newest index, then in onecard's numbering.
        let own_newest = status.event.map(|e| i64::from(e.index)).unwrap_or(0);
        self.check_restart(ctx, t, serial, own_newest).await?;
        let newest = t.base + own_newest;
        if t.online == Some(false) {
            // Back from offline: everything stored meanwhile is a replay.
            t.late_until = Some(newest);
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
        let implausible = self.implausible(ctx, t, serial, own_newest).await?;
        let newest = if implausible.is_some() {
            t.bookmark
        } else {
            newest
        };
        Ok(Prepared {
            status,
            newest,
            implausible,
        })
    }

    /// Whether the controller's claim of `own_newest` events cannot be true: it still holds an
    /// event older than its memory keeps, or its newest grew faster than it can record.
    async fn implausible(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        own_newest: i64,
    ) -> Result<Option<AlarmDetail>, PollError> {
        let own = (t.bookmark - t.base).max(0);
        let detail = |why| AlarmDetail::Implausible {
            claimed: own_newest,
            collected: own,
            why,
        };
        let now = Instant::now();
        if let Some(&(before, at)) = self.claims.get(&serial) {
            let grew = own_newest - before;
            let secs = now.duration_since(at).as_secs();
            let allowed = MAX_EVENTS_PER_SEC
                .saturating_mul(i64::try_from(secs).unwrap_or(i64::MAX))
                .saturating_add(RATE_BURST);
            if grew > allowed {
                return Ok(Some(detail(Implausible::Rate { grew, secs })));
            }
        }
        if own_newest - own > RING_CAPACITY {
            // Its ring cannot hold the next one to collect: a real controller says it was
            // overwritten.
            let next = own + 1;
            let index = u32::try_from(next).unwrap_or(u32::MAX);
            if let EventSlot::Found(e) = self.event(ctx, t, serial, index).await? {
                if e.index == index {
                    return Ok(Some(detail(Implausible::Memory {
                        record: next,
                        capacity: RING_CAPACITY,
                    })));
                }
            }
        }
        self.claims.insert(serial, (own_newest, now));
        Ok(None)
    }

    /// Raises a fault this driver watches (`Some`) or clears it (None), when it changed.
    async fn settle(
        &mut self,
        ctx: &Ctx,
        t: &Term,
        kind: AlarmKind,
        raise: Option<AlarmDetail>,
    ) -> Result<(), sqlx::Error> {
        let on = raise.is_some();
        if self.faults.get(&(t.row.id, kind)) == Some(&on) {
            return Ok(());
        }
        match raise {
            Some(detail) => {
                tracing::warn!(terminal = %t.row.name, %kind, "{detail}");
                let a = NewAlarm {
                    kind,
                    terminal_id: Some(t.row.id),
                    door: None,
                    card: None,
                    detail: detail.to_json(),
                    late: false,
                };
                alarm::raise_fault(&ctx.pool, &a).await?;
            }
            None => {
                alarm::clear_fault(&ctx.pool, t.row.id, kind).await?;
            }
        }
        self.faults.insert((t.row.id, kind), on);
        Ok(())
    }

    /// Reads, stores and acks the events after the bookmark up to `newest`, a batch per
    /// transaction: at most `batches` of them, or all with progress reported. Returns the
    /// records new to the database.
    async fn drain(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        newest: i64,
        batches: Option<usize>,
    ) -> Result<u64, PollError> {
        let batch = i64::try_from(ctx.options.batch.max(1)).unwrap_or(100);
        let start = t.bookmark;
        let total = u64::try_from(newest - start).unwrap_or(0);
        let mut inserted = 0;
        let mut round = 0;
        while t.bookmark < newest && batches.is_none_or(|b| round < b.max(1)) {
            round += 1;
            let late_cap = t.late_cap();
            let end = newest
                .min(t.bookmark + batch)
                .min(late_cap.unwrap_or(i64::MAX));
            let mut rows = Vec::new();
            let mut last = t.bookmark;
            let mut lost = false;
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
                        // Those before it are stored first; the gap is the next round's.
                        lost = rows.is_empty();
                        break;
                    }
                    EventSlot::NotFound { .. } => break,
                }
                last = i;
            }
            if lost {
                self.skip_lost(ctx, t, serial, newest).await?;
                continue;
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
            inserted += stored.inserted;
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
            if batches.is_none() {
                let done = u64::try_from(t.bookmark - start).unwrap_or(0);
                ctx.progress(done, total).await;
            }
        }
        Ok(inserted)
    }

    /// The event after the bookmark was overwritten before it was collected: one exchange
    /// asks for the oldest the controller still holds, and everything between is a gap,
    /// recorded with one `records_lost` alarm; the bookmark moves past it.
    async fn skip_lost(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
        newest: i64,
    ) -> Result<(), PollError> {
        let first = t.bookmark + 1;
        // Index 0: the oldest it holds.
        let oldest = match self.event(ctx, t, serial, 0).await? {
            EventSlot::Found(e) => t.base + i64::from(e.index),
            // It holds none: everything it claimed is gone.
            EventSlot::NotFound { .. } | EventSlot::Overwritten { .. } => newest + 1,
        };
        if oldest <= first {
            return Err(garbled(format!(
                "controller {serial} says event {} was overwritten, but holds events from {}",
                first - t.base,
                oldest - t.base
            )));
        }
        // Never past what its status claimed: a later round sees the rest.
        let last = (oldest - 1).min(newest);
        tracing::warn!(
            terminal = %t.row.name,
            serial,
            first,
            last,
            "records overwritten before they were collected"
        );
        ingest::records_lost(&ctx.pool, t.row.id, first, last).await?;
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
        Ok(())
    }

    /// Firmware, and each door's settings into the door table.
    async fn identify(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
    ) -> Result<Option<String>, PollError> {
        let firmware = match self
            .exchange(ctx, t, serial, Request::GetController)
            .await?
        {
            Response::GetController(info) => Some(info.version.to_string()),
            _ => None,
        };
        let doors: Vec<i16> =
            sqlx::query_scalar("SELECT door FROM door WHERE terminal_id = $1 ORDER BY door")
                .bind(t.row.id)
                .fetch_all(&ctx.pool)
                .await?;
        for d in doors {
            let door = u8::try_from(d).unwrap_or(0);
            let control = match self
                .exchange(ctx, t, serial, Request::GetDoorControl { door })
                .await?
            {
                Response::GetDoorControl(c) => c,
                r => return Err(unexpected(&r).into()),
            };
            match mode_of(control.mode) {
                Some(mode) if control.delay > 0 => {
                    door::record_settings(
                        &ctx.pool,
                        t.row.id,
                        d,
                        mode.name(),
                        i16::from(control.delay),
                    )
                    .await?;
                }
                _ => tracing::debug!(serial, door, ?control, "door settings onecard cannot name"),
            }
        }
        Ok(firmware)
    }

    /// Points the controller's pushed events at our listener, once.
    async fn listen_here(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        serial: u32,
    ) -> Result<(), TerminalError> {
        let Some((_, _, at)) = self.listener else {
            return Ok(());
        };
        if self.listening.contains(&serial) {
            return Ok(());
        }
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
        Ok(())
    }

    async fn visit(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        let serial = serial_of(t).ok_or_else(|| {
            PollError::from(TerminalError::Refused(format!(
                "address {} is not a controller serial number",
                t.row.address
            )))
        })?;
        let started = Instant::now();
        let p = self.prepare(ctx, t, serial).await?;
        let mut polled = Polled {
            rtt: Some(started.elapsed()),
            ..Polled::default()
        };
        let clock = p.status.system_datetime();
        if clock_valid(clock) {
            if let Some(clock) = clock {
                polled.drift_s = Some((clock - local_now()).num_seconds());
            }
            self.settle(ctx, t, AlarmKind::ClockInvalid, None).await?;
        } else {
            let reads = clock.map(|c| c.to_string());
            self.settle(
                ctx,
                t,
                AlarmKind::ClockInvalid,
                Some(AlarmDetail::ClockInvalid { reads }),
            )
            .await?;
        }
        let implausible = p.implausible.clone();
        let lying = implausible.is_some();
        self.settle(ctx, t, AlarmKind::RecordsImplausible, implausible)
            .await?;
        ctx.note_doors(t, live_state(&p.status)).await?;
        if !t.identified {
            polled.firmware = self.identify(ctx, t, serial).await?;
            t.identified = true;
        }
        self.listen_here(ctx, t, serial).await?;
        let batches = ctx.options.batches_per_visit;
        self.drain(ctx, t, serial, p.newest, Some(batches)).await?;
        if !lying {
            polled.waiting = Some((p.newest - t.bookmark).max(0));
        }
        polled.more = t.bookmark < p.newest;
        Ok(polled)
    }

    /// The next event in order is stored at once; anything else waits for the poll.
    async fn store_pushed(&mut self, ctx: &mut Ctx, t: &mut Term, mut row: DoorEventRow) {
        let own = row.record_no;
        let index = t.base + own;
        // A controller whose claims cannot be true has nothing stored, pushed or not.
        let lying = self.faults.get(&(t.row.id, AlarmKind::RecordsImplausible)) == Some(&true);
        if lying || t.online != Some(true) || t.late_cap().is_some() || index != t.bookmark + 1 {
            return;
        }
        row.record_no = index;
        match ingest::store_door_events(&ctx.pool, t.row.id, &[row], Some(index), false).await {
            Ok(stored) => {
                ctx.stored(&stored);
                t.bookmark = index;
                let (Some(serial), Ok(own)) = (serial_of(t), u32::try_from(own)) else {
                    return;
                };
                if let Err(err) = self.ack(ctx, t, serial, own).await {
                    tracing::debug!(serial, error = %err, "ack after a pushed event failed");
                }
            }
            Err(err) => {
                tracing::warn!(terminal = t.row.id, error = %err, "storing a pushed event failed")
            }
        }
    }
}
