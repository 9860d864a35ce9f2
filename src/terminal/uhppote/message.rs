//! Typed requests and responses, and their 64-byte frames.
//!
//! Layout: SOM @0, function @1, two reserved bytes, serial u32 LE @4, fields from @8, zero padded.
//! Decoders check the length and the SOM first, so every fixed offset below is in bounds; they
//! never panic and say in words what was wrong.

use super::event::{Direction, EventRecord, EventType};
use super::{Frame, FRAME_LEN, MAGIC, SOM, SOM_V6_62};
use crate::terminal::bcd;
use crate::terminal::TerminalError;
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use std::fmt;
use std::net::Ipv4Addr;

/// Function codes onecard speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    GetStatus,
    SetTime,
    GetTime,
    OpenDoor,
    PutCard,
    DeleteCard,
    DeleteAllCards,
    GetCards,
    GetCard,
    GetCardByIndex,
    SetDoorControl,
    GetDoorControl,
    RecordSpecialEvents,
    SetListener,
    GetListener,
    GetController,
    SetIpv4,
    GetEvent,
    SetEventIndex,
    GetEventIndex,
}

impl Function {
    pub fn code(self) -> u8 {
        match self {
            Function::GetStatus => 0x20,
            Function::SetTime => 0x30,
            Function::GetTime => 0x32,
            Function::OpenDoor => 0x40,
            Function::PutCard => 0x50,
            Function::DeleteCard => 0x52,
            Function::DeleteAllCards => 0x54,
            Function::GetCards => 0x58,
            Function::GetCard => 0x5A,
            Function::GetCardByIndex => 0x5C,
            Function::SetDoorControl => 0x80,
            Function::GetDoorControl => 0x82,
            Function::RecordSpecialEvents => 0x8E,
            Function::SetListener => 0x90,
            Function::GetListener => 0x92,
            Function::GetController => 0x94,
            Function::SetIpv4 => 0x96,
            Function::GetEvent => 0xB0,
            Function::SetEventIndex => 0xB2,
            Function::GetEventIndex => 0xB4,
        }
    }

    pub fn from_code(code: u8) -> Option<Function> {
        Some(match code {
            0x20 => Function::GetStatus,
            0x30 => Function::SetTime,
            0x32 => Function::GetTime,
            0x40 => Function::OpenDoor,
            0x50 => Function::PutCard,
            0x52 => Function::DeleteCard,
            0x54 => Function::DeleteAllCards,
            0x58 => Function::GetCards,
            0x5A => Function::GetCard,
            0x5C => Function::GetCardByIndex,
            0x80 => Function::SetDoorControl,
            0x82 => Function::GetDoorControl,
            0x8E => Function::RecordSpecialEvents,
            0x90 => Function::SetListener,
            0x92 => Function::GetListener,
            0x94 => Function::GetController,
            0x96 => Function::SetIpv4,
            0xB0 => Function::GetEvent,
            0xB2 => Function::SetEventIndex,
            0xB4 => Function::GetEventIndex,
            _ => return None,
        })
    }

    /// The kebab-case name used in messages and traces.
    pub fn name(self) -> &'static str {
        match self {
            Function::GetStatus => "get-status",
            Function::SetTime => "set-time",
            Function::GetTime => "get-time",
            Function::OpenDoor => "open-door",
            Function::PutCard => "put-card",
            Function::DeleteCard => "delete-card",
            Function::DeleteAllCards => "delete-all-cards",
            Function::GetCards => "get-cards",
            Function::GetCard => "get-card",
            Function::GetCardByIndex => "get-card-by-index",
            Function::SetDoorControl => "set-door-control",
            Function::GetDoorControl => "get-door-control",
            Function::RecordSpecialEvents => "record-special-events",
            Function::SetListener => "set-listener",
            Function::GetListener => "get-listener",
            Function::GetController => "get-controller",
            Function::SetIpv4 => "set-ipv4",
            Function::GetEvent => "get-event",
            Function::SetEventIndex => "set-event-index",
            Function::GetEventIndex => "get-event-index",
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Door control mode @9 of get/set door control. Lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorMode {
    NormallyOpen,
    NormallyClosed,
    Controlled,
    Other(u8),
}

impl DoorMode {
    pub fn from_code(code: u8) -> DoorMode {
        match code {
            1 => DoorMode::NormallyOpen,
            2 => DoorMode::NormallyClosed,
            3 => DoorMode::Controlled,
            other => DoorMode::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            DoorMode::NormallyOpen => 1,
            DoorMode::NormallyClosed => 2,
            DoorMode::Controlled => 3,
            DoorMode::Other(c) => c,
        }
    }
}

/// Firmware version, two BCD bytes (`08 92` is v8.92).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version(pub u16);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{:x}.{:02x}", self.0 >> 8, self.0 & 0xFF)
    }
}

/// get-controller reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControllerInfo {
    pub address: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
    pub version: Version,
    pub released: Option<NaiveDate>,
}

/// Where a controller pushes its events, and how often it pushes its status unasked
/// (seconds, 0 = only on events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerConfig {
    pub address: Ipv4Addr,
    pub port: u16,
    pub interval: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DoorControl {
    pub door: u8,
    pub mode: DoorMode,
    /// Unlock time, seconds.
    pub delay: u8,
}

/// A card record as put-card writes it and get-card reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Card {
    pub number: u32,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Per door 1..4: 0 none, 1 all hours, 2..=254 a time profile.
    pub doors: [u8; 4],
    /// Keypad PIN, 0 = none; 24 bits on the wire (valid 0..=999999).
    pub pin: u32,
}

/// get-card / get-card-by-index reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardSlot {
    Found(Card),
    /// Card number 0 in the reply.
    NotFound,
    /// Card number 0xFFFFFFFF in the reply: a deleted slot (by index only).
    Deleted,
}

/// get-event reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSlot {
    Found(EventRecord),
    /// Type 0: the index is past the newest event.
    NotFound {
        index: u32,
    },
    /// Type 0xFF: the index is older than the ring still holds.
    Overwritten {
        index: u32,
    },
}

/// get-status reply, and the frame a controller pushes to its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// The newest event; `None` when the controller has none (index 0).
    pub event: Option<EventRecord>,
    pub doors_open: [bool; 4],
    pub buttons: [bool; 4],
    pub system_error: u8,
    pub system_date: Option<NaiveDate>,
    pub system_time: Option<NaiveTime>,
    pub sequence: u32,
    pub special_info: u8,
    /// Bit n set: door n+1 unlocked.
    pub relays: u8,
    pub inputs: u8,
}

impl Status {
    /// The controller's own clock, when both halves are valid.
    pub fn system_datetime(&self) -> Option<NaiveDateTime> {
        Some(self.system_date?.and_time(self.system_time?))
    }

    /// Door 1..=4 unlocked (relay energised).
    pub fn unlocked(&self, door: u8) -> bool {
        (1..=4).contains(&door) && self.relays & (1 << (door - 1)) != 0
    }
}

/// What the host asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// With serial 0 every controller that hears it answers (discovery).
    GetController,
    /// Controllers never answer this one.
    SetIpv4 {
        address: Ipv4Addr,
        netmask: Ipv4Addr,
        gateway: Ipv4Addr,
    },
    GetTime,
    SetTime(NaiveDateTime),
    GetStatus,
    GetListener,
    SetListener(ListenerConfig),
    GetDoorControl {
        door: u8,
    },
    SetDoorControl(DoorControl),
    OpenDoor {
        door: u8,
    },
    GetCards,
    GetCard {
        card: u32,
    },
    GetCardByIndex {
        index: u32,
    },
    PutCard(Card),
    DeleteCard {
        card: u32,
    },
    DeleteAllCards,
    /// 0 = oldest stored, 0xFFFFFFFF = newest.
    GetEvent {
        index: u32,
    },
    GetEventIndex,
    SetEventIndex {
        index: u32,
    },
    RecordSpecialEvents {
        enabled: bool,
    },
}

/// What the controller answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    GetController(ControllerInfo),
    /// `None`: the controller's clock holds no valid date.
    GetTime(Option<NaiveDateTime>),
    SetTime(Option<NaiveDateTime>),
    GetStatus(Status),
    GetListener(ListenerConfig),
    SetListener {
        ok: bool,
    },
    GetDoorControl(DoorControl),
    SetDoorControl(DoorControl),
    OpenDoor {
        ok: bool,
    },
    GetCards {
        count: u32,
    },
    GetCard(CardSlot),
    GetCardByIndex(CardSlot),
    PutCard {
        ok: bool,
    },
    DeleteCard {
        ok: bool,
    },
    DeleteAllCards {
        ok: bool,
    },
    GetEvent(EventSlot),
    GetEventIndex {
        index: u32,
    },
    SetEventIndex {
        ok: bool,
    },
    RecordSpecialEvents {
        ok: bool,
    },
}

impl Request {
    pub fn function(&self) -> Function {
        match self {
            Request::GetController => Function::GetController,
            Request::SetIpv4 { .. } => Function::SetIpv4,
            Request::GetTime => Function::GetTime,
            Request::SetTime(_) => Function::SetTime,
            Request::GetStatus => Function::GetStatus,
            Request::GetListener => Function::GetListener,
            Request::SetListener(_) => Function::SetListener,
            Request::GetDoorControl { .. } => Function::GetDoorControl,
            Request::SetDoorControl(_) => Function::SetDoorControl,
            Request::OpenDoor { .. } => Function::OpenDoor,
            Request::GetCards => Function::GetCards,
            Request::GetCard { .. } => Function::GetCard,
            Request::GetCardByIndex { .. } => Function::GetCardByIndex,
            Request::PutCard(_) => Function::PutCard,
            Request::DeleteCard { .. } => Function::DeleteCard,
            Request::DeleteAllCards => Function::DeleteAllCards,
            Request::GetEvent { .. } => Function::GetEvent,
            Request::GetEventIndex => Function::GetEventIndex,
            Request::SetEventIndex { .. } => Function::SetEventIndex,
            Request::RecordSpecialEvents { .. } => Function::RecordSpecialEvents,
        }
    }

    /// Whether the controller sends a reply at all.
    pub fn expects_reply(&self) -> bool {
        !matches!(self, Request::SetIpv4 { .. })
    }

    pub fn encode(&self, serial: u32) -> Frame {
        let mut f = start(SOM, self.function(), serial);
        match *self {
            Request::GetController
            | Request::GetTime
            | Request::GetStatus
            | Request::GetListener
            | Request::GetCards
            | Request::GetEventIndex => {}
            Request::SetIpv4 {
                address,
                netmask,
                gateway,
            } => {
                put_ipv4(&mut f, 8, address);
                put_ipv4(&mut f, 12, netmask);
                put_ipv4(&mut f, 16, gateway);
                put_u32(&mut f, 20, MAGIC);
            }
            Request::SetTime(t) => put_datetime(&mut f, 8, Some(t)),
            Request::SetListener(l) => put_listener(&mut f, l),
            Request::GetDoorControl { door } | Request::OpenDoor { door } => f[8] = door,
            Request::SetDoorControl(d) => put_door_control(&mut f, d),
            Request::GetCard { card } | Request::DeleteCard { card } => put_u32(&mut f, 8, card),
            Request::GetCardByIndex { index } | Request::GetEvent { index } => {
                put_u32(&mut f, 8, index)
            }
            Request::PutCard(c) => put_card(&mut f, &c),
            Request::DeleteAllCards => put_u32(&mut f, 8, MAGIC),
            Request::SetEventIndex { index } => {
                put_u32(&mut f, 8, index);
                put_u32(&mut f, 12, MAGIC);
            }
            Request::RecordSpecialEvents { enabled } => f[8] = u8::from(enabled),
        }
        f
    }

    /// Decodes a request frame: `(serial, request)`. What a controller (or the simulator) does.
    pub fn decode(bytes: &[u8]) -> Result<(u32, Request), TerminalError> {
        let f = frame(bytes, false)?;
        let function = function_of(&f)?;
        let serial = u32_at(&f, 4);
        let request = match function {
            Function::GetController => Request::GetController,
            Function::SetIpv4 => {
                need_magic(&f, 20, function)?;
                Request::SetIpv4 {
                    address: ipv4_at(&f, 8),
                    netmask: ipv4_at(&f, 12),
                    gateway: ipv4_at(&f, 16),
                }
            }
            Function::GetTime => Request::GetTime,
            Function::SetTime => match datetime_at(&f, 8) {
                Some(t) => Request::SetTime(t),
                None => {
                    return Err(malformed(format!(
                        "set-time carries no valid date and time ({})",
                        hex::encode(&f[8..15])
                    )))
                }
            },
            Function::GetStatus => Request::GetStatus,
            Function::GetListener => Request::GetListener,
            Function::SetListener => Request::SetListener(listener_at(&f)),
            Function::GetDoorControl => Request::GetDoorControl { door: f[8] },
            Function::SetDoorControl => Request::SetDoorControl(door_control_at(&f)),
            Function::OpenDoor => Request::OpenDoor { door: f[8] },
            Function::GetCards => Request::GetCards,
            Function::GetCard => Request::GetCard {
                card: u32_at(&f, 8),
            },
            Function::GetCardByIndex => Request::GetCardByIndex {
                index: u32_at(&f, 8),
            },
            Function::PutCard => Request::PutCard(card_at(&f)),
            Function::DeleteCard => Request::DeleteCard {
                card: u32_at(&f, 8),
            },
            Function::DeleteAllCards => {
                need_magic(&f, 8, function)?;
                Request::DeleteAllCards
            }
            Function::GetEvent => Request::GetEvent {
                index: u32_at(&f, 8),
            },
            Function::GetEventIndex => Request::GetEventIndex,
            Function::SetEventIndex => {
                need_magic(&f, 12, function)?;
                Request::SetEventIndex {
                    index: u32_at(&f, 8),
                }
            }
            Function::RecordSpecialEvents => Request::RecordSpecialEvents { enabled: f[8] != 0 },
        };
        Ok((serial, request))
    }
}

impl Response {
    pub fn function(&self) -> Function {
        match self {
            Response::GetController(_) => Function::GetController,
            Response::GetTime(_) => Function::GetTime,
            Response::SetTime(_) => Function::SetTime,
            Response::GetStatus(_) => Function::GetStatus,
            Response::GetListener(_) => Function::GetListener,
            Response::SetListener { .. } => Function::SetListener,
            Response::GetDoorControl(_) => Function::GetDoorControl,
            Response::SetDoorControl(_) => Function::SetDoorControl,
            Response::OpenDoor { .. } => Function::OpenDoor,
            Response::GetCards { .. } => Function::GetCards,
            Response::GetCard(_) => Function::GetCard,
            Response::GetCardByIndex(_) => Function::GetCardByIndex,
            Response::PutCard { .. } => Function::PutCard,
            Response::DeleteCard { .. } => Function::DeleteCard,
            Response::DeleteAllCards { .. } => Function::DeleteAllCards,
            Response::GetEvent(_) => Function::GetEvent,
            Response::GetEventIndex { .. } => Function::GetEventIndex,
            Response::SetEventIndex { .. } => Function::SetEventIndex,
            Response::RecordSpecialEvents { .. } => Function::RecordSpecialEvents,
        }
    }

    pub fn encode(&self, serial: u32) -> Frame {
        let mut f = start(SOM, self.function(), serial);
        match *self {
            Response::GetController(info) => {
                put_ipv4(&mut f, 8, info.address);
                put_ipv4(&mut f, 12, info.netmask);
                put_ipv4(&mut f, 16, info.gateway);
                f[20..26].copy_from_slice(&info.mac);
                f[26..28].copy_from_slice(&info.version.0.to_be_bytes());
                put_date(&mut f, 28, info.released);
            }
            Response::GetTime(t) | Response::SetTime(t) => put_datetime(&mut f, 8, t),
            Response::GetStatus(s) => put_status(&mut f, &s),
            Response::GetListener(l) => put_listener(&mut f, l),
            Response::SetListener { ok }
            | Response::OpenDoor { ok }
            | Response::PutCard { ok }
            | Response::DeleteCard { ok }
            | Response::DeleteAllCards { ok }
            | Response::SetEventIndex { ok }
            | Response::RecordSpecialEvents { ok } => f[8] = u8::from(ok),
            Response::GetDoorControl(d) | Response::SetDoorControl(d) => {
                put_door_control(&mut f, d)
            }
            Response::GetCards { count } => put_u32(&mut f, 8, count),
            Response::GetCard(slot) | Response::GetCardByIndex(slot) => match slot {
                CardSlot::Found(c) => put_card(&mut f, &c),
                CardSlot::NotFound => {}
                CardSlot::Deleted => put_u32(&mut f, 8, u32::MAX),
            },
            Response::GetEvent(slot) => match slot {
                EventSlot::Found(e) => put_event(&mut f, &e),
                EventSlot::NotFound { index } => put_u32(&mut f, 8, index),
                EventSlot::Overwritten { index } => {
                    put_u32(&mut f, 8, index);
                    f[12] = EventType::Overwritten.code();
                }
            },
            Response::GetEventIndex { index } => put_u32(&mut f, 8, index),
        }
        f
    }

    /// Decodes a reply frame: `(serial, response)`.
    pub fn decode(bytes: &[u8]) -> Result<(u32, Response), TerminalError> {
        let f = frame(bytes, true)?;
        let function = function_of(&f)?;
        if f[0] == SOM_V6_62 && function != Function::GetStatus {
            return Err(malformed(format!(
                "start byte 0x19 is only used for pushed events, not {function}"
            )));
        }
        let serial = u32_at(&f, 4);
        let ok = f[8] != 0;
        let response = match function {
            Function::GetController => Response::GetController(ControllerInfo {
                address: ipv4_at(&f, 8),
                netmask: ipv4_at(&f, 12),
                gateway: ipv4_at(&f, 16),
                mac: [f[20], f[21], f[22], f[23], f[24], f[25]],
                version: Version(u16::from_be_bytes([f[26], f[27]])),
                released: date_at(&f, 28),
            }),
            Function::GetTime => Response::GetTime(datetime_at(&f, 8)),
            Function::SetTime => Response::SetTime(datetime_at(&f, 8)),
            Function::GetStatus => Response::GetStatus(status_at(&f)),
            Function::GetListener => Response::GetListener(listener_at(&f)),
            Function::SetListener => Response::SetListener { ok },
            Function::GetDoorControl => Response::GetDoorControl(door_control_at(&f)),
            Function::SetDoorControl => Response::SetDoorControl(door_control_at(&f)),
            Function::OpenDoor => Response::OpenDoor { ok },
            Function::GetCards => Response::GetCards {
                count: u32_at(&f, 8),
            },
            Function::GetCard => Response::GetCard(card_slot_at(&f)),
            Function::GetCardByIndex => Response::GetCardByIndex(card_slot_at(&f)),
            Function::PutCard => Response::PutCard { ok },
            Function::DeleteCard => Response::DeleteCard { ok },
            Function::DeleteAllCards => Response::DeleteAllCards { ok },
            Function::GetEvent => {
                let index = u32_at(&f, 8);
                Response::GetEvent(match EventType::from_code(f[12]) {
                    EventType::None => EventSlot::NotFound { index },
                    EventType::Overwritten => EventSlot::Overwritten { index },
                    _ => EventSlot::Found(event_at(&f)),
                })
            }
            Function::GetEventIndex => Response::GetEventIndex {
                index: u32_at(&f, 8),
            },
            Function::SetEventIndex => Response::SetEventIndex { ok },
            Function::RecordSpecialEvents => Response::RecordSpecialEvents { ok },
            Function::SetIpv4 => {
                return Err(malformed(
                    "a reply to set-ipv4, which controllers never send".to_string(),
                ))
            }
        };
        Ok((serial, response))
    }
}

/// Decodes a frame pushed to a listener: function 0x20, SOM 0x17 or 0x19 (v6.62 firmware).
pub fn decode_event_frame(bytes: &[u8]) -> Result<(u32, Status), TerminalError> {
    let f = frame(bytes, true)?;
    if f[1] != Function::GetStatus.code() {
        return Err(malformed(format!(
            "pushed frame has function 0x{:02x}, expected 0x20 (status)",
            f[1]
        )));
    }
    Ok((u32_at(&f, 4), status_at(&f)))
}

/// The frame a controller pushes to its listener; `v6_62` selects the 0x19 start byte.
pub fn encode_event_frame(serial: u32, status: &Status, v6_62: bool) -> Frame {
    let som = if v6_62 { SOM_V6_62 } else { SOM };
    let mut f = start(som, Function::GetStatus, serial);
    put_status(&mut f, status);
    f
}

// ---- frame checks ----

fn malformed(words: String) -> TerminalError {
    TerminalError::Malformed(words)
}

fn frame(bytes: &[u8], allow_v6_62: bool) -> Result<Frame, TerminalError> {
    let f: Frame = bytes.try_into().map_err(|_| {
        malformed(format!(
            "frame is {} bytes long, expected {FRAME_LEN}",
            bytes.len()
        ))
    })?;
    let som_ok = f[0] == SOM || (allow_v6_62 && f[0] == SOM_V6_62);
    if !som_ok {
        return Err(malformed(format!(
            "start byte 0x{:02x}, expected 0x{SOM:02x}",
            f[0]
        )));
    }
    Ok(f)
}

fn function_of(f: &Frame) -> Result<Function, TerminalError> {
    Function::from_code(f[1])
        .ok_or_else(|| malformed(format!("unknown function code 0x{:02x}", f[1])))
}

fn need_magic(f: &Frame, at: usize, function: Function) -> Result<(), TerminalError> {
    let got = u32_at(f, at);
    if got == MAGIC {
        Ok(())
    } else {
        Err(malformed(format!(
            "{function} without the magic word (found 0x{got:08x})"
        )))
    }
}

fn start(som: u8, function: Function, serial: u32) -> Frame {
    let mut f = [0u8; FRAME_LEN];
    f[0] = som;
    f[1] = function.code();
    put_u32(&mut f, 4, serial);
    f
}

// ---- fields ----
// Offsets are constants well inside 64 bytes: slicing cannot go out of bounds.

fn u32_at(f: &Frame, at: usize) -> u32 {
    u32::from_le_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

fn put_u32(f: &mut Frame, at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn ipv4_at(f: &Frame, at: usize) -> Ipv4Addr {
    Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3])
}

fn put_ipv4(f: &mut Frame, at: usize, a: Ipv4Addr) {
    f[at..at + 4].copy_from_slice(&a.octets());
}

fn pin_at(f: &Frame, at: usize) -> u32 {
    u32::from_le_bytes([f[at], f[at + 1], f[at + 2], 0])
}

fn put_pin(f: &mut Frame, at: usize, pin: u32) {
    f[at..at + 3].copy_from_slice(&pin.to_le_bytes()[..3]);
}

fn date_at(f: &Frame, at: usize) -> Option<NaiveDate> {
    bcd::decode_date(&f[at..])
}

/// `None`, and dates outside years 0..=9999, are written as zeros ("no date").
fn put_date(f: &mut Frame, at: usize, d: Option<NaiveDate>) {
    if let Some(b) = d.and_then(bcd::encode_date) {
        f[at..at + 4].copy_from_slice(&b);
    }
}

fn time_at(f: &Frame, at: usize) -> Option<NaiveTime> {
    bcd::decode_time(&f[at..])
}

/// `None` is written as zeros, which read back as midnight.
fn put_time(f: &mut Frame, at: usize, t: Option<NaiveTime>) {
    if let Some(t) = t {
        f[at..at + 3].copy_from_slice(&bcd::encode_time(t));
    }
}

fn datetime_at(f: &Frame, at: usize) -> Option<NaiveDateTime> {
    Some(date_at(f, at)?.and_time(time_at(f, at + 4)?))
}

fn put_datetime(f: &mut Frame, at: usize, t: Option<NaiveDateTime>) {
    if let Some(t) = t.filter(|t| (0..=9999).contains(&t.year())) {
        put_date(f, at, Some(t.date()));
        put_time(f, at + 4, Some(t.time()));
    }
}

/// YYMMDD, century 20.
fn shortdate_at(f: &Frame, at: usize) -> Option<NaiveDate> {
    let year = 2000 + bcd::decode_byte(f[at])?;
    NaiveDate::from_ymd_opt(
        year as i32,
        bcd::decode_byte(f[at + 1])?,
        bcd::decode_byte(f[at + 2])?,
    )
}

fn put_shortdate(f: &mut Frame, at: usize, d: Option<NaiveDate>) {
    if let Some(d) = d.filter(|d| (2000..=2099).contains(&d.year())) {
        f[at] = bcd::encode_byte(d.year() as u32 - 2000);
        f[at + 1] = bcd::encode_byte(d.month());
        f[at + 2] = bcd::encode_byte(d.day());
    }
}

fn listener_at(f: &Frame) -> ListenerConfig {
    ListenerConfig {
        address: ipv4_at(f, 8),
        port: u16::from_le_bytes([f[12], f[13]]),
        interval: f[14],
    }
}

fn put_listener(f: &mut Frame, l: ListenerConfig) {
    put_ipv4(f, 8, l.address);
    f[12..14].copy_from_slice(&l.port.to_le_bytes());
    f[14] = l.interval;
}

fn door_control_at(f: &Frame) -> DoorControl {
    DoorControl {
        door: f[8],
        mode: DoorMode::from_code(f[9]),
        delay: f[10],
    }
}

fn put_door_control(f: &mut Frame, d: DoorControl) {
    f[8] = d.door;
    f[9] = d.mode.code();
    f[10] = d.delay;
}

fn card_at(f: &Frame) -> Card {
    Card {
        number: u32_at(f, 8),
        from: date_at(f, 12),
        to: date_at(f, 16),
        doors: [f[20], f[21], f[22], f[23]],
        pin: pin_at(f, 24),
    }
}

fn put_card(f: &mut Frame, c: &Card) {
    put_u32(f, 8, c.number);
    put_date(f, 12, c.from);
    put_date(f, 16, c.to);
    f[20..24].copy_from_slice(&c.doors);
    put_pin(f, 24, c.pin);
}

fn card_slot_at(f: &Frame) -> CardSlot {
    match u32_at(f, 8) {
        0 => CardSlot::NotFound,
        u32::MAX => CardSlot::Deleted,
        _ => CardSlot::Found(card_at(f)),
    }
}

fn event_at(f: &Frame) -> EventRecord {
    EventRecord {
        index: u32_at(f, 8),
        event_type: EventType::from_code(f[12]),
        granted: f[13] != 0,
        door: f[14],
        direction: Direction::from_code(f[15]),
        card: u32_at(f, 16),
        timestamp: datetime_at(f, 20),
        reason: f[27],
    }
}

fn put_event(f: &mut Frame, e: &EventRecord) {
    put_u32(f, 8, e.index);
    f[12] = e.event_type.code();
    f[13] = u8::from(e.granted);
    f[14] = e.door;
    f[15] = e.direction.code();
    put_u32(f, 16, e.card);
    put_datetime(f, 20, e.timestamp);
    f[27] = e.reason;
}

fn status_at(f: &Frame) -> Status {
    Status {
        event: (u32_at(f, 8) != 0).then(|| event_at(f)),
        doors_open: [f[28] != 0, f[29] != 0, f[30] != 0, f[31] != 0],
        buttons: [f[32] != 0, f[33] != 0, f[34] != 0, f[35] != 0],
        system_error: f[36],
        system_time: time_at(f, 37),
        sequence: u32_at(f, 40),
        special_info: f[48],
        relays: f[49],
        inputs: f[50],
        system_date: shortdate_at(f, 51),
    }
}

fn put_status(f: &mut Frame, s: &Status) {
    if let Some(e) = &s.event {
        put_event(f, e);
    }
    for i in 0..4 {
        f[28 + i] = u8::from(s.doors_open[i]);
        f[32 + i] = u8::from(s.buttons[i]);
    }
    f[36] = s.system_error;
    put_time(f, 37, s.system_time);
    put_u32(f, 40, s.sequence);
    f[48] = s.special_info;
    f[49] = s.relays;
    f[50] = s.inputs;
    put_shortdate(f, 51, s.system_date);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcd_fields_and_none() {
        let t = NaiveDate::from_ymd_opt(2025, 11, 4)
            .unwrap()
            .and_hms_opt(12, 34, 56)
            .unwrap();
        let f = Request::SetTime(t).encode(405419896);
        assert_eq!(
            hex::encode(&f[..15]),
            "1730000078372a1820251104123456",
            "serial LE, datetime BCD"
        );
        assert_eq!(
            Request::decode(&f).unwrap(),
            (405419896, Request::SetTime(t))
        );
        // All-zero datetime is "none"; a non-digit nibble is invalid, not a panic.
        let mut g = f;
        g[8..15].fill(0);
        assert!(Request::decode(&g).is_err());
        g[8] = 0x2A;
        assert!(Request::decode(&g).is_err());
    }

    #[test]
    fn pin_is_u24_le() {
        let card = Card {
            number: 10058400,
            from: NaiveDate::from_ymd_opt(2025, 1, 1),
            to: NaiveDate::from_ymd_opt(2025, 12, 31),
            doors: [1, 0, 17, 1],
            pin: 999999,
        };
        let f = Request::PutCard(card).encode(1);
        assert_eq!(&f[24..28], &[0x3f, 0x42, 0x0f, 0x00]);
    }

    #[test]
    fn bad_frames_are_named() {
        let words = |b: &[u8]| match Response::decode(b) {
            Err(TerminalError::Malformed(w)) => w,
            other => panic!("{other:?}"),
        };
        assert!(words(&[0x17; 10]).contains("10 bytes"));
        let mut f = [0u8; 64];
        assert!(words(&f).contains("start byte 0x00"));
        f[0] = 0x17;
        f[1] = 0x77;
        assert!(words(&f).contains("unknown function code 0x77"));
        let mut g = Request::DeleteAllCards.encode(1);
        g[8] = 0;
        assert!(
            matches!(Request::decode(&g), Err(TerminalError::Malformed(w)) if w.contains("magic"))
        );
    }

    #[test]
    fn v6_62_start_byte_only_for_status() {
        let s = Status {
            event: None,
            doors_open: [false; 4],
            buttons: [false; 4],
            system_error: 0,
            system_date: None,
            system_time: NaiveTime::from_hms_opt(0, 0, 0),
            sequence: 0,
            special_info: 0,
            relays: 0,
            inputs: 0,
        };
        let f = encode_event_frame(7, &s, true);
        assert_eq!(f[0], 0x19);
        assert_eq!(decode_event_frame(&f).unwrap(), (7, s));
        let mut g = Response::GetCards { count: 3 }.encode(7);
        g[0] = 0x19;
        assert!(Response::decode(&g).is_err());
        assert!(Request::decode(&f).is_err(), "requests always start 0x17");
    }
}
