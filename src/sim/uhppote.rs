//! Simulated UHPPOTE UT0311-L0x controllers, speaking the real protocol over UDP and TCP on one
//! port (see `crate::terminal::uhppote` for the frames, `PROTOCOLS.md` 1 for the behaviour).
//!
//! Each [`Controller`] keeps 1..=4 doors, a card table, a bounded event ring whose indices start
//! at 1 and whose oldest records are overwritten when it is full (and then read back as type
//! 0xFF), the host's event-index bookmark, a listener to push every new event to, and its own
//! drifting [`SimClock`]. [`serve`] answers for any number of controllers on one address.
//!
//! Control verbs (the `SimTerminal` interface):
//!
//! | verb | event |
//! |---|---|
//! | `swipe CARD DOOR [in\|out]` | type 1, reason 1 granted, or denied: 6 no privilege (unknown card, or no grant for the door), 13 outside the card's dates, 11 door normally closed |
//! | `forced DOOR` | type 3, reason 38 (door forced open), door sensor open |
//! | `held DOOR` | type 3, reason 37 (door held open), door sensor open |
//! | `tamper [DOOR]` | type 3, reason 41 "guard against theft" (防盗): the anti-theft input, which sites wire to the enclosure's tamper switch; door 1 unless given |
//! | `fire [off]` | type 3, reason 39 on door 1, fire input bit set (cleared by `fire off`, no event) |
//! | `button DOOR` | type 2, reason 20, door released for its unlock time |
//! | `open DOOR` / `close DOOR` | door sensor; type 2 reason 23/24 when special events are on |
//! | `offline` / `online` | offline answers nothing and pushes nothing, but still records |
//!
//! Time profiles are not simulated: a door grant of 2..=254 counts as "all hours".

use super::clock::SimClock;
use super::{SimTerminal, TerminalKind};
use crate::terminal::uhppote::{
    encode_event_frame, Card, CardSlot, ControllerInfo, Direction, DoorControl, DoorMode,
    EventRecord, EventSlot, EventType, ListenerConfig, Request, Response, Status, Version,
    FRAME_LEN, INPUT_FIRE,
};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Card numbers a controller refuses to store (PROTOCOLS.md 1.3, put-card).
const INVALID_CARDS: [u32; 3] = [0, 0x00FF_FFFF, u32::MAX];

/// One door as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorState {
    pub mode: DoorMode,
    /// Unlock time, seconds.
    pub delay: u8,
    /// Door sensor.
    pub open: bool,
    /// Relay energised (momentarily after a grant or remote open, always when normally open).
    pub unlocked: bool,
    pub button: bool,
}

#[derive(Debug)]
struct Door {
    mode: DoorMode,
    delay: u8,
    open: bool,
    button: bool,
    unlocked_until: Option<Instant>,
}

impl Door {
    fn unlocked(&self, now: Instant) -> bool {
        match self.mode {
            DoorMode::NormallyOpen => true,
            DoorMode::NormallyClosed => false,
            _ => self.unlocked_until.is_some_and(|t| t > now),
        }
    }

    fn release(&mut self, now: Instant) {
        // A zero delay still clicks the relay: keep it visible for a moment.
        let secs = u64::from(self.delay.max(1));
        self.unlocked_until = Some(now + Duration::from_secs(secs));
    }
}

#[derive(Debug)]
struct State {
    online: bool,
    doors: Vec<Door>,
    /// Slots in insertion order; `None` is a deleted slot (get-card-by-index reads 0xFFFFFFFF).
    cards: Vec<Option<Card>>,
    events: VecDeque<EventRecord>,
    memory: usize,
    last_index: u32,
    overwritten: u64,
    bookmark: u32,
    special_events: bool,
    listener: Option<ListenerConfig>,
    last_auto_send: Instant,
    inputs: u8,
    system_error: u8,
    sequence: u32,
    address: Ipv4Addr,
    netmask: Ipv4Addr,
    gateway: Ipv4Addr,
    mac: [u8; 6],
    version: u16,
    released: Option<NaiveDate>,
    /// Who swipes here in background traffic, and the doors each goes to (a bit per door).
    population: Vec<(u32, u8)>,
}

/// Every door.
const ANY_DOOR: u8 = 0b1111;

/// A simulated controller. Cheap to share: everything is behind one short-held lock.
#[derive(Debug)]
pub struct Controller {
    serial: u32,
    clock: SimClock,
    state: Mutex<State>,
    generated: AtomicU64,
    /// get-event requests answered: what reading the ring cost.
    get_events: AtomicU64,
    push: OnceLock<Option<StdUdpSocket>>,
}

impl Controller {
    /// `doors` is clamped to 1..=4 and `memory` (event ring size) to at least 1. `cards` are
    /// the cards that swipe here in background traffic; the card table starts empty, as a new
    /// controller's does, until the host downloads grants.
    pub fn new(
        serial: u32,
        doors: u8,
        clock: SimClock,
        memory: usize,
        cards: Vec<u32>,
    ) -> Arc<Controller> {
        let doors = (0..doors.clamp(1, 4))
            .map(|_| Door {
                mode: DoorMode::Controlled,
                delay: 3,
                open: false,
                button: false,
                unlocked_until: None,
            })
            .collect();
        let s = serial.to_le_bytes();
        Arc::new(Controller {
            serial,
            clock,
            state: Mutex::new(State {
                online: true,
                doors,
                cards: Vec::new(),
                events: VecDeque::new(),
                memory: memory.max(1),
                last_index: 0,
                overwritten: 0,
                bookmark: 0,
                special_events: false,
                listener: None,
                last_auto_send: Instant::now(),
                inputs: 0,
                system_error: 0,
                sequence: 0,
                address: Ipv4Addr::new(192, 168, 1, 100),
                netmask: Ipv4Addr::new(255, 255, 255, 0),
                gateway: Ipv4Addr::new(192, 168, 1, 1),
                mac: [0x00, 0x12, s[0], s[1], s[2], s[3]],
                version: 0x0892,
                released: NaiveDate::from_ymd_opt(2018, 11, 5),
                population: cards.into_iter().map(|c| (c, ANY_DOOR)).collect(),
            }),
            generated: AtomicU64::new(0),
            get_events: AtomicU64::new(0),
            push: OnceLock::new(),
        })
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_online(&self) -> bool {
        self.lock().online
    }

    pub fn set_online(&self, online: bool) {
        self.lock().online = online;
    }

    /// Firmware version as BCD, e.g. `0x0662`; v6.62 pushes events with start byte 0x19.
    pub fn set_version(&self, version: u16) {
        self.lock().version = version;
    }

    pub fn door(&self, door: u8) -> Option<DoorState> {
        let s = self.lock();
        let d = s.doors.get(usize::from(door).checked_sub(1)?)?;
        Some(DoorState {
            mode: d.mode,
            delay: d.delay,
            open: d.open,
            unlocked: d.unlocked(Instant::now()),
            button: d.button,
        })
    }

    pub fn doors(&self) -> u8 {
        self.lock().doors.len() as u8
    }

    /// Who swipes here in background traffic from now on: each card with the doors its holder
    /// goes to (empty: any door). Nine swipes in ten of a card are at one of its doors.
    pub fn set_population(&self, population: &[(u32, Vec<u8>)]) {
        self.lock().population = population
            .iter()
            .map(|(card, doors)| {
                let mask = doors
                    .iter()
                    .filter(|d| (1..=4).contains(*d))
                    .fold(0u8, |m, d| m | 1 << (d - 1));
                (*card, if mask == 0 { ANY_DOOR } else { mask })
            })
            .collect();
    }

    /// Stores or updates a card as put-card does; false for the numbers a controller refuses.
    pub fn put_card(&self, card: Card) -> bool {
        put_card(&mut self.lock(), card)
    }

    pub fn card(&self, number: u32) -> Option<Card> {
        find_card(&self.lock(), number).copied()
    }

    /// The card table, deleted slots left out.
    pub fn cards(&self) -> Vec<Card> {
        self.lock().cards.iter().flatten().copied().collect()
    }

    /// The ring, oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        self.lock().events.iter().copied().collect()
    }

    /// Index of the newest event (0 = none yet).
    pub fn last_event_index(&self) -> u32 {
        self.lock().last_index
    }

    /// get-event requests answered so far.
    pub fn get_events(&self) -> u64 {
        self.get_events.load(Ordering::Relaxed)
    }

    /// Events lost because the ring was full.
    pub fn overwritten(&self) -> u64 {
        self.lock().overwritten
    }

    /// The host's "downloaded up to" bookmark (set-event-index).
    pub fn bookmark(&self) -> u32 {
        self.lock().bookmark
    }

    pub fn special_events(&self) -> bool {
        self.lock().special_events
    }

    pub fn listener(&self) -> Option<ListenerConfig> {
        self.lock().listener
    }

    pub fn inputs(&self) -> u8 {
        self.lock().inputs
    }

    // ---- what happens at the doors ----

    /// A card at a reader. Returns the event recorded.
    pub fn swipe(&self, card: u32, door: u8, direction: Direction) -> Result<EventRecord, String> {
        let today = self.now().date();
        let now = Instant::now();
        self.record(|s| {
            let d = door_mut(s, door)?;
            let mode = d.mode;
            let reason = match find_card(s, card) {
                None => 6,
                Some(c) if c.doors.get(usize::from(door) - 1).copied().unwrap_or(0) == 0 => 6,
                Some(c) if c.from.is_none_or(|f| today < f) || c.to.is_none_or(|t| today > t) => 13,
                Some(_) if mode == DoorMode::NormallyClosed => 11,
                Some(_) => 1,
            };
            if reason == 1 {
                if let Some(d) = s.doors.get_mut(usize::from(door) - 1) {
                    d.release(now);
                }
            }
            Ok(Pending {
                event_type: EventType::Swipe,
                granted: reason == 1,
                door,
                direction,
                card,
                reason,
            })
        })
    }

    fn alarm(&self, door: u8, reason: u8, sensor_open: bool) -> Result<EventRecord, String> {
        self.record(|s| {
            let d = door_mut(s, door)?;
            if sensor_open {
                d.open = true;
            }
            Ok(Pending::alarm(door, reason))
        })
    }

    /// Door sensor change; recorded only when special events are on.
    fn sensor(&self, door: u8, open: bool) -> Result<Option<EventRecord>, String> {
        let special = {
            let mut s = self.lock();
            door_mut(&mut s, door)?.open = open;
            s.special_events
        };
        if !special {
            return Ok(None);
        }
        self.record(|_| {
            Ok(Pending::door(
                door,
                Direction::In,
                if open { 23 } else { 24 },
            ))
        })
        .map(Some)
    }

    fn button(&self, door: u8) -> Result<EventRecord, String> {
        let now = Instant::now();
        self.record(|s| {
            let d = door_mut(s, door)?;
            d.release(now);
            Ok(Pending::door(door, Direction::Out, 20))
        })
    }

    fn now(&self) -> NaiveDateTime {
        let t = self.clock.now();
        t.with_nanosecond(0).unwrap_or(t)
    }

    /// Appends an event (overwriting the oldest when full), counts it and pushes it.
    fn record(
        &self,
        make: impl FnOnce(&mut State) -> Result<Pending, String>,
    ) -> Result<EventRecord, String> {
        let timestamp = self.now();
        let (event, push) = {
            let mut s = self.lock();
            let p = make(&mut s)?;
            s.last_index = s.last_index.wrapping_add(1).max(1);
            let event = EventRecord {
                index: s.last_index,
                event_type: p.event_type,
                granted: p.granted,
                door: p.door,
                direction: p.direction,
                card: p.card,
                timestamp: Some(timestamp),
                reason: p.reason,
            };
            if s.events.len() >= s.memory {
                s.events.pop_front();
                s.overwritten += 1;
            }
            s.events.push_back(event);
            (event, self.push_frame(&mut s))
        };
        self.generated.fetch_add(1, Ordering::Relaxed);
        if let Some((frame, to)) = push {
            self.send_push(&frame, to);
        }
        Ok(event)
    }

    /// The status frame to push now, if online with a listener.
    fn push_frame(&self, s: &mut State) -> Option<([u8; FRAME_LEN], SocketAddr)> {
        let l = s.listener.filter(|l| s.online && l.port != 0)?;
        let status = self.status(s);
        let v6_62 = s.version == 0x0662;
        let to = SocketAddr::from((l.address, l.port));
        Some((encode_event_frame(self.serial, &status, v6_62), to))
    }

    fn send_push(&self, frame: &[u8], to: SocketAddr) {
        let socket = self
            .push
            .get_or_init(|| StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok());
        if let Some(socket) = socket {
            if let Err(e) = socket.send_to(frame, to) {
                tracing::debug!(serial = self.serial, %to, error = %e, "event push failed");
            }
        }
    }

    /// Pushes the status unasked when the listener's interval has elapsed (see [`serve`]).
    fn auto_send(&self) {
        let push = {
            let mut s = self.lock();
            let Some(l) = s.listener.filter(|l| l.interval > 0) else {
                return;
            };
            if s.last_auto_send.elapsed() < Duration::from_secs(u64::from(l.interval)) {
                return;
            }
            s.last_auto_send = Instant::now();
            self.push_frame(&mut s)
        };
        if let Some((frame, to)) = push {
            self.send_push(&frame, to);
        }
    }

    fn status(&self, s: &mut State) -> Status {
        let now = Instant::now();
        let clock = self.now();
        s.sequence = s.sequence.wrapping_add(1);
        let mut status = Status {
            event: s.events.back().copied(),
            doors_open: [false; 4],
            buttons: [false; 4],
            system_error: s.system_error,
            system_date: Some(clock.date()),
            system_time: Some(clock.time()),
            sequence: s.sequence,
            special_info: 0,
            relays: 0,
            inputs: s.inputs,
        };
        for (i, d) in s.doors.iter().enumerate() {
            status.doors_open[i] = d.open;
            status.buttons[i] = d.button;
            if d.unlocked(now) {
                status.relays |= 1 << i;
            }
        }
        status
    }

    // ---- the protocol ----

    /// Answers one request addressed to this controller; `None` = no reply (offline, set-ipv4).
    pub fn handle(&self, request: &Request) -> Option<Response> {
        if !self.is_online() {
            return None;
        }
        if matches!(request, Request::GetEvent { .. }) {
            self.get_events.fetch_add(1, Ordering::Relaxed);
        }
        let now = Instant::now();
        let response = match *request {
            Request::GetController => {
                let s = self.lock();
                Response::GetController(ControllerInfo {
                    address: s.address,
                    netmask: s.netmask,
                    gateway: s.gateway,
                    mac: s.mac,
                    version: Version(s.version),
                    released: s.released,
                })
            }
            Request::SetIpv4 {
                address,
                netmask,
                gateway,
            } => {
                let mut s = self.lock();
                (s.address, s.netmask, s.gateway) = (address, netmask, gateway);
                return None;
            }
            Request::GetTime => Response::GetTime(Some(self.now())),
            Request::SetTime(t) => {
                self.clock.set(t);
                Response::SetTime(Some(self.now()))
            }
            Request::GetStatus => Response::GetStatus(self.status(&mut self.lock())),
            Request::GetListener => {
                Response::GetListener(self.lock().listener.unwrap_or(ListenerConfig {
                    address: Ipv4Addr::UNSPECIFIED,
                    port: 0,
                    interval: 0,
                }))
            }
            Request::SetListener(l) => {
                let mut s = self.lock();
                s.listener = Some(l);
                s.last_auto_send = now;
                Response::SetListener { ok: true }
            }
            Request::GetDoorControl { door } => {
                Response::GetDoorControl(self.door_control(&mut self.lock(), door))
            }
            Request::SetDoorControl(wanted) => {
                let mut s = self.lock();
                let known = !matches!(wanted.mode, DoorMode::Other(_));
                if let (true, Ok(d)) = (known, door_mut(&mut s, wanted.door)) {
                    d.mode = wanted.mode;
                    d.delay = wanted.delay;
                }
                // Echo what is in force: a refused change shows as a difference.
                Response::SetDoorControl(self.door_control(&mut s, wanted.door))
            }
            Request::OpenDoor { door } => Response::OpenDoor {
                ok: self.remote_open(door).is_ok(),
            },
            Request::GetCards => Response::GetCards {
                count: self.lock().cards.iter().flatten().count() as u32,
            },
            Request::GetCard { card } => Response::GetCard(match find_card(&self.lock(), card) {
                Some(c) => CardSlot::Found(*c),
                None => CardSlot::NotFound,
            }),
            Request::GetCardByIndex { index } => {
                let s = self.lock();
                let slot = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| s.cards.get(i));
                Response::GetCardByIndex(match slot {
                    Some(Some(c)) => CardSlot::Found(*c),
                    Some(None) => CardSlot::Deleted,
                    None => CardSlot::NotFound,
                })
            }
            Request::PutCard(card) => Response::PutCard {
                ok: put_card(&mut self.lock(), card),
            },
            Request::DeleteCard { card } => {
                let mut s = self.lock();
                let slot = s
                    .cards
                    .iter_mut()
                    .find(|c| c.is_some_and(|c| c.number == card));
                let ok = slot.map(|c| c.take()).is_some();
                Response::DeleteCard { ok }
            }
            Request::DeleteAllCards => {
                self.lock().cards.clear();
                Response::DeleteAllCards { ok: true }
            }
            Request::GetEvent { index } => Response::GetEvent(event_at(&self.lock(), index)),
            Request::GetEventIndex => Response::GetEventIndex {
                index: self.lock().bookmark,
            },
            Request::SetEventIndex { index } => {
                self.lock().bookmark = index;
                Response::SetEventIndex { ok: true }
            }
            Request::RecordSpecialEvents { enabled } => {
                self.lock().special_events = enabled;
                Response::RecordSpecialEvents { ok: true }
            }
        };
        Some(response)
    }

    fn door_control(&self, s: &mut State, door: u8) -> DoorControl {
        match door_mut(s, door) {
            Ok(d) => DoorControl {
                door,
                mode: d.mode,
                delay: d.delay,
            },
            // No such door: mode 0, which no real door has.
            Err(_) => DoorControl {
                door,
                mode: DoorMode::Other(0),
                delay: 0,
            },
        }
    }

    /// Momentary unlock from the host: event type 2, reason 44. Refused on a door set normally
    /// closed.
    pub fn remote_open(&self, door: u8) -> Result<EventRecord, String> {
        let now = Instant::now();
        self.record(|s| {
            let d = door_mut(s, door)?;
            if d.mode == DoorMode::NormallyClosed {
                return Err(format!("door {door} is normally closed"));
            }
            d.release(now);
            Ok(Pending::door(door, Direction::In, 44))
        })
    }
}

/// An event before it gets its index and timestamp.
struct Pending {
    event_type: EventType,
    granted: bool,
    door: u8,
    direction: Direction,
    card: u32,
    reason: u8,
}

impl Pending {
    /// A door event with no card: sensor, button, remote open.
    fn door(door: u8, direction: Direction, reason: u8) -> Pending {
        Pending {
            event_type: EventType::Door,
            granted: true,
            door,
            direction,
            card: 0,
            reason,
        }
    }

    fn alarm(door: u8, reason: u8) -> Pending {
        Pending {
            event_type: EventType::Alarm,
            granted: false,
            door,
            direction: Direction::In,
            card: 0,
            reason,
        }
    }
}

fn door_mut(s: &mut State, door: u8) -> Result<&mut Door, String> {
    let count = s.doors.len();
    usize::from(door)
        .checked_sub(1)
        .and_then(|i| s.doors.get_mut(i))
        .ok_or_else(|| format!("no door {door} (this controller has {count})"))
}

fn find_card(s: &State, number: u32) -> Option<&Card> {
    s.cards.iter().flatten().find(|c| c.number == number)
}

fn put_card(s: &mut State, card: Card) -> bool {
    if INVALID_CARDS.contains(&card.number) || card.from.is_none() || card.to.is_none() {
        return false;
    }
    match s
        .cards
        .iter_mut()
        .flatten()
        .find(|c| c.number == card.number)
    {
        Some(c) => *c = card,
        None => s.cards.push(Some(card)),
    }
    true
}

/// get-event: 0 = oldest, `u32::MAX` = newest, older than the ring = overwritten, newer = not
/// found.
fn event_at(s: &State, index: u32) -> EventSlot {
    let (Some(first), Some(last)) = (s.events.front(), s.events.back()) else {
        return if index != 0 && index != u32::MAX && index <= s.last_index {
            EventSlot::Overwritten { index }
        } else {
            EventSlot::NotFound { index }
        };
    };
    let wanted = match index {
        0 => first.index,
        u32::MAX => last.index,
        i => i,
    };
    if wanted < first.index {
        EventSlot::Overwritten { index }
    } else if wanted > last.index {
        EventSlot::NotFound { index }
    } else {
        let offset = (wanted - first.index) as usize;
        s.events
            .get(offset)
            .map_or(EventSlot::NotFound { index }, |e| EventSlot::Found(*e))
    }
}

fn parse<T: std::str::FromStr>(what: &str, arg: Option<&&str>) -> Result<T, String> {
    let arg = arg.ok_or_else(|| format!("missing {what}"))?;
    arg.parse()
        .map_err(|_| format!("{what} {arg:?} is not a number"))
}

fn describe(e: &EventRecord) -> String {
    format!(
        "event {}: {} door {} card {}",
        e.index,
        e.kind(),
        e.door,
        e.card
    )
}

impl SimTerminal for Controller {
    fn id(&self) -> String {
        format!("door/{}", self.serial)
    }

    fn kind(&self) -> TerminalKind {
        TerminalKind::DoorController
    }

    fn traffic(&self, rng: &mut StdRng) {
        let (doors, special, population) = {
            let s = self.lock();
            (s.doors.len() as u8, s.special_events, s.population.clone())
        };
        let mut door = rng.gen_range(1..=doors);
        if special && rng.gen_bool(0.25) {
            let open = !self.door(door).is_some_and(|d| d.open);
            let _ = self.sensor(door, open);
            return;
        }
        let card = if population.is_empty() || rng.gen_bool(0.1) {
            // An unknown card: outside the population, so always denied unless granted by hand.
            loop {
                let c = rng.gen_range(1..=99_999_999u32);
                if !population.iter().any(|p| p.0 == c) {
                    break c;
                }
            }
        } else {
            let (card, mask) = population[rng.gen_range(0..population.len())];
            // Holders mostly go to their own doors; now and then they try another one.
            let theirs: Vec<u8> = (1..=doors).filter(|d| mask & 1 << (d - 1) != 0).collect();
            if !theirs.is_empty() && !theirs.contains(&door) && rng.gen_bool(0.9) {
                door = theirs[rng.gen_range(0..theirs.len())];
            }
            card
        };
        let direction = if rng.gen_bool(0.5) {
            Direction::In
        } else {
            Direction::Out
        };
        let _ = self.swipe(card, door, direction);
    }

    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String> {
        let door = |i: usize| parse::<u8>("door", args.get(i));
        match verb {
            "swipe" => {
                let card = parse::<u32>("card", args.first())?;
                let direction = match args.get(2).copied() {
                    None | Some("in") => Direction::In,
                    Some("out") => Direction::Out,
                    Some(other) => return Err(format!("direction {other:?}: in or out")),
                };
                self.swipe(card, door(1)?, direction).map(|e| describe(&e))
            }
            "forced" => self.alarm(door(0)?, 38, true).map(|e| describe(&e)),
            "held" => self.alarm(door(0)?, 37, true).map(|e| describe(&e)),
            // Locked by the force input (reason 40).
            "forced_close" => self.alarm(door(0)?, 40, false).map(|e| describe(&e)),
            // The controller's clock, e.g. after its battery failed: `clock 1970-01-01 00:00:00`.
            "clock" => {
                let text = args.join(" ");
                let t = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
                    .map_err(|_| format!("clock {text:?}: YYYY-MM-DD HH:MM:SS"))?;
                self.clock.set(t);
                Ok(format!("controller {} clock set to {t}", self.serial))
            }
            "tamper" => {
                let d = if args.is_empty() { 1 } else { door(0)? };
                self.alarm(d, 41, false).map(|e| describe(&e))
            }
            "fire" => {
                if args.first() == Some(&"off") {
                    self.lock().inputs &= !INPUT_FIRE;
                    return Ok("fire input cleared".into());
                }
                self.lock().inputs |= INPUT_FIRE;
                self.alarm(1, 39, false).map(|e| describe(&e))
            }
            "button" => self.button(door(0)?).map(|e| describe(&e)),
            "open" | "close" => match self.sensor(door(0)?, verb == "open")? {
                Some(e) => Ok(describe(&e)),
                None => Ok(format!("door {verb}, not recorded (special events off)")),
            },
            "card" => {
                let number = parse::<u32>("card", args.first())?;
                Ok(match self.card(number) {
                    Some(c) => {
                        let doors: Vec<String> = (1u8..=4)
                            .filter(|d| c.doors[usize::from(*d) - 1] != 0)
                            .map(|d| d.to_string())
                            .collect();
                        let day = |d: Option<chrono::NaiveDate>| {
                            d.map_or_else(|| "-".to_string(), |d| d.to_string())
                        };
                        format!(
                            "card {number} stored: doors {} from {} to {}",
                            if doors.is_empty() {
                                "none".to_string()
                            } else {
                                doors.join(",")
                            },
                            day(c.from),
                            day(c.to)
                        )
                    }
                    None => format!("card {number} not stored"),
                })
            }
            "offline" => {
                self.set_online(false);
                Ok(format!("controller {} offline", self.serial))
            }
            "online" => {
                self.set_online(true);
                Ok(format!("controller {} online", self.serial))
            }
            "reset" => {
                // Factory settings: the event numbers begin again at 1.
                let mut s = self.lock();
                s.events.clear();
                s.last_index = 0;
                s.bookmark = 0;
                s.cards.clear();
                s.listener = None;
                Ok(format!(
                    "controller {} reset: events, cards and listener cleared",
                    self.serial
                ))
            }
            other => Err(format!(
                "unknown verb {other:?}: swipe, forced, held, forced_close, clock, tamper, fire, button, open, close, card, offline, online, reset"
            )),
        }
    }

    fn generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }
}

// ---- serving ----

/// The running server: UDP and TCP on the same address. Dropping it stops the server.
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    garbage: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServeHandle {
    /// The bound address (UDP and TCP share the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Frames that did not decode, over both transports.
    pub fn garbage(&self) -> u64 {
        self.garbage.load(Ordering::Relaxed)
    }

    pub fn stop(self) {}
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serves `controllers` on `addr` over UDP and TCP. Port 0 picks a free port that is free for
/// both transports.
pub async fn serve(
    addr: SocketAddr,
    controllers: Vec<Arc<Controller>>,
) -> std::io::Result<ServeHandle> {
    let (tcp, udp) = bind_pair(addr).await?;
    let addr = udp.local_addr()?;
    let controllers = Arc::new(controllers);
    let garbage = Arc::new(AtomicU64::new(0));
    let udp = Arc::new(udp);

    let udp_task = {
        let (controllers, garbage, udp) = (controllers.clone(), garbage.clone(), udp.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let (n, from) = match udp.recv_from(&mut buf).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(error = %e, "uhppote sim: udp receive failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                for reply in dispatch(&controllers, &buf[..n], &garbage) {
                    if let Err(e) = udp.send_to(&reply, from).await {
                        tracing::debug!(%from, error = %e, "uhppote sim: udp reply failed");
                    }
                }
            }
        })
    };

    let tcp_task = {
        let (controllers, garbage) = (controllers.clone(), garbage.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = crate::sim::accept(&tcp).await else {
                    break;
                };
                tokio::spawn(serve_tcp(stream, controllers.clone(), garbage.clone()));
            }
        })
    };

    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            for c in controllers.iter() {
                if c.is_online() {
                    c.auto_send();
                }
            }
        }
    });

    Ok(ServeHandle {
        addr,
        garbage,
        tasks: vec![udp_task, tcp_task, ticker],
    })
}

/// TCP first (on port 0 the kernel picks), then UDP on the same port; retried when that port
/// happens to be taken for UDP.
async fn bind_pair(addr: SocketAddr) -> std::io::Result<(TcpListener, UdpSocket)> {
    if addr.port() != 0 {
        return Ok((TcpListener::bind(addr).await?, UdpSocket::bind(addr).await?));
    }
    let mut last = None;
    for _ in 0..32 {
        let tcp = TcpListener::bind(addr).await?;
        let port = tcp.local_addr()?.port();
        match UdpSocket::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free for both UDP and TCP")))
}

/// One 64-byte frame after another until the peer closes (clients send one and close).
async fn serve_tcp(
    mut stream: TcpStream,
    controllers: Arc<Vec<Arc<Controller>>>,
    garbage: Arc<AtomicU64>,
) {
    loop {
        let mut frame = [0u8; FRAME_LEN];
        let read =
            tokio::time::timeout(Duration::from_secs(30), read_frame(&mut stream, &mut frame))
                .await;
        match read {
            Ok(Ok(FRAME_LEN)) => {}
            Ok(Ok(0)) | Err(_) => return,
            Ok(Ok(_)) | Ok(Err(_)) => {
                // A short frame before the peer went away.
                garbage.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        // Over TCP one connection reaches one controller: the first answer is the answer.
        if let Some(reply) = dispatch(&controllers, &frame, &garbage).into_iter().next() {
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

/// Reads up to a whole frame; returns how many bytes arrived before EOF.
async fn read_frame(stream: &mut TcpStream, frame: &mut [u8; FRAME_LEN]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < FRAME_LEN {
        let n = stream.read(&mut frame[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// The replies to one frame: several for discovery (serial 0), none for frames meant for other
/// serials, for set-ipv4, from offline controllers, or for garbage (counted).
fn dispatch(
    controllers: &[Arc<Controller>],
    bytes: &[u8],
    garbage: &AtomicU64,
) -> Vec<[u8; FRAME_LEN]> {
    let (serial, request) = match Request::decode(bytes) {
        Ok(r) => r,
        Err(e) => {
            garbage.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "uhppote sim: ignored a frame");
            return Vec::new();
        }
    };
    controllers
        .iter()
        .filter(|c| c.serial == serial || (serial == 0 && request == Request::GetController))
        .filter_map(|c| Some(c.handle(&request)?.encode(c.serial)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::uhppote::DoorEventKind;

    fn controller(memory: usize) -> Arc<Controller> {
        let t0 = NaiveDate::from_ymd_opt(2026, 3, 2)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        Controller::new(
            405419896,
            2,
            SimClock::new(t0, 0, 0.0),
            memory,
            vec![8165537],
        )
    }

    fn grant(c: &Controller, number: u32, doors: [u8; 4]) {
        assert!(c.put_card(Card {
            number,
            from: NaiveDate::from_ymd_opt(2026, 1, 1),
            to: NaiveDate::from_ymd_opt(2026, 12, 31),
            doors,
            pin: 0,
        }));
    }

    #[test]
    fn swipes_are_granted_or_denied_with_the_right_reason() {
        let c = controller(16);
        grant(&c, 8165537, [1, 0, 0, 0]);
        let e = c.swipe(8165537, 1, Direction::In).unwrap();
        assert_eq!((e.index, e.kind()), (1, DoorEventKind::Granted));
        assert!(c.door(1).unwrap().unlocked);
        let e = c.swipe(8165537, 2, Direction::In).unwrap();
        assert_eq!(
            e.kind(),
            DoorEventKind::Denied(crate::terminal::uhppote::DenyReason::NoPrivilege)
        );
        let e = c.swipe(42, 1, Direction::In).unwrap();
        assert_eq!(e.reason, 6);
        assert!(
            c.swipe(42, 3, Direction::In).is_err(),
            "a two-door controller has no door 3"
        );
        assert_eq!(c.generated(), 3);
    }

    #[test]
    fn the_ring_overwrites_the_oldest_and_says_so() {
        let c = controller(3);
        for _ in 0..5 {
            c.control("swipe", &["1", "1"]).unwrap();
        }
        assert_eq!(
            (c.overwritten(), c.last_event_index(), c.generated()),
            (2, 5, 5)
        );
        let s = c.lock();
        assert_eq!(event_at(&s, 1), EventSlot::Overwritten { index: 1 });
        assert!(matches!(event_at(&s, 3), EventSlot::Found(e) if e.index == 3));
        assert!(matches!(event_at(&s, 0), EventSlot::Found(e) if e.index == 3));
        assert!(matches!(event_at(&s, u32::MAX), EventSlot::Found(e) if e.index == 5));
        assert_eq!(event_at(&s, 6), EventSlot::NotFound { index: 6 });
    }

    #[test]
    fn control_verbs_make_alarms() {
        let c = controller(16);
        c.control("forced", &["2"]).unwrap();
        c.control("held", &["1"]).unwrap();
        c.control("tamper", &[]).unwrap();
        c.control("fire", &[]).unwrap();
        let kinds: Vec<_> = c.events().iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [
                DoorEventKind::ForcedOpen,
                DoorEventKind::HeldOpen,
                DoorEventKind::Tamper,
                DoorEventKind::Fire
            ]
        );
        assert!(c.events().iter().all(|e| e.is_alarm()));
        assert_eq!(c.inputs() & INPUT_FIRE, INPUT_FIRE);
        assert!(c.control("forced", &["9"]).is_err());
        assert!(c.control("dance", &[]).is_err());
        c.control("offline", &[]).unwrap();
        assert!(c.handle(&Request::GetStatus).is_none());
    }

    #[test]
    fn garbage_and_other_serials_get_no_reply() {
        let c = controller(4);
        let garbage = AtomicU64::new(0);
        let all = [c.clone()];
        assert!(dispatch(&all, b"hello", &garbage).is_empty());
        assert!(dispatch(&all, &Request::GetStatus.encode(1), &garbage).is_empty());
        assert!(dispatch(&all, &Request::GetStatus.encode(0), &garbage).is_empty());
        assert_eq!(
            dispatch(&all, &Request::GetController.encode(0), &garbage).len(),
            1
        );
        assert_eq!(garbage.load(Ordering::Relaxed), 1);
    }
}
