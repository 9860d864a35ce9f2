//! WeiGeng (微耕) / UHPPOTE UT0311-L0x access controllers, written once: 64-byte frames over UDP
//! (port 60000, one datagram each way), the same frames over TCP (one connection per request),
//! and status frames pushed to a listener (port 60001 by convention).
//!
//! * [`message`]: typed requests and responses with `encode`/`decode`; decoders never panic.
//! * [`event`]: the controller's event record and onecard's own [`DoorEventKind`].
//! * [`client`]: [`UhppoteClient`], one exchange per call over UDP or TCP, and discovery.
//! * [`listener`]: [`EventListener`], the socket controllers push their events to.
//!
//! Facts and sources: `PROTOCOLS.md` section 1.

pub mod client;
pub mod event;
pub mod listener;
pub mod message;

pub use client::{Discovered, Transport, UhppoteClient};
pub use event::{DenyReason, Direction, DoorEventKind, EventRecord, EventType};
pub use listener::{EventListener, ListenerEvent};
pub use message::{
    decode_event_frame, encode_event_frame, Card, CardSlot, ControllerInfo, DoorControl, DoorMode,
    EventSlot, Function, ListenerConfig, Request, Response, Status, Version,
};

/// Every frame, request or reply, is exactly this long.
pub const FRAME_LEN: usize = 64;
/// Start of message.
pub const SOM: u8 = 0x17;
/// Start of message of events pushed by v6.62 firmware.
pub const SOM_V6_62: u8 = 0x19;
/// Guards the destructive functions (delete all cards, set event index, set IPv4).
pub const MAGIC: u32 = 0x55AA_AA55;
/// The controllers' UDP and TCP port.
pub const CONTROLLER_PORT: u16 = 60000;
/// The port hosts conventionally listen on for pushed events.
pub const LISTENER_PORT: u16 = 60001;
/// Status `inputs` bit: lock forced (PROTOCOLS.md 1.2; the PyPI client reads these two bits the
/// other way round).
pub const INPUT_LOCK_FORCED: u8 = 0x01;
/// Status `inputs` bit: fire alarm input.
pub const INPUT_FIRE: u8 = 0x02;

/// A whole frame.
pub type Frame = [u8; FRAME_LEN];
