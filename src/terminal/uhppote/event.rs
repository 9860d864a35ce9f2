//! The controller's event record (get-event reply, get-status reply and pushed status frames all
//! carry it at offsets 8..28) and onecard's own reading of it.

use chrono::NaiveDateTime;
use std::fmt;

/// Event type byte @12. Lossless: unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// 0x00: no event (get-event past the newest record).
    None,
    /// 0x01: card swipe.
    Swipe,
    /// 0x02: door, push button, reboot or remote open.
    Door,
    /// 0x03: alarm ("warn").
    Alarm,
    /// 0xFF: the record was overwritten by newer ones.
    Overwritten,
    Other(u8),
}

impl EventType {
    pub fn from_code(code: u8) -> EventType {
        match code {
            0x00 => EventType::None,
            0x01 => EventType::Swipe,
            0x02 => EventType::Door,
            0x03 => EventType::Alarm,
            0xFF => EventType::Overwritten,
            other => EventType::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            EventType::None => 0x00,
            EventType::Swipe => 0x01,
            EventType::Door => 0x02,
            EventType::Alarm => 0x03,
            EventType::Overwritten => 0xFF,
            EventType::Other(c) => c,
        }
    }
}

/// Direction byte @15. Lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    Other(u8),
}

impl Direction {
    pub fn from_code(code: u8) -> Direction {
        match code {
            1 => Direction::In,
            2 => Direction::Out,
            other => Direction::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Direction::In => 1,
            Direction::Out => 2,
            Direction::Other(c) => c,
        }
    }
}

/// Why a controller refused a card (reason codes 5..=19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// 5: the host has taken over access decisions (PC control).
    PcControl,
    /// 6: the card has no privilege for this door (or is not in the table at all).
    NoPrivilege,
    /// 7: wrong PIN.
    WrongPin,
    /// 8: anti-passback.
    AntiPassback,
    /// 9: more cards needed.
    MoreCards,
    /// 10: waiting for the first card.
    FirstCard,
    /// 11: the door is set normally closed.
    NormallyClosed,
    /// 12: interlock.
    Interlock,
    /// 13: outside the card's allowed period.
    OutOfPeriod,
    /// 15: invalid time zone (time profile).
    InvalidTimezone,
    /// 18: denied, no further reason.
    Denied,
    Other(u8),
}

impl DenyReason {
    pub fn from_code(code: u8) -> DenyReason {
        match code {
            5 => DenyReason::PcControl,
            6 => DenyReason::NoPrivilege,
            7 => DenyReason::WrongPin,
            8 => DenyReason::AntiPassback,
            9 => DenyReason::MoreCards,
            10 => DenyReason::FirstCard,
            11 => DenyReason::NormallyClosed,
            12 => DenyReason::Interlock,
            13 => DenyReason::OutOfPeriod,
            15 => DenyReason::InvalidTimezone,
            18 => DenyReason::Denied,
            other => DenyReason::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            DenyReason::PcControl => 5,
            DenyReason::NoPrivilege => 6,
            DenyReason::WrongPin => 7,
            DenyReason::AntiPassback => 8,
            DenyReason::MoreCards => 9,
            DenyReason::FirstCard => 10,
            DenyReason::NormallyClosed => 11,
            DenyReason::Interlock => 12,
            DenyReason::OutOfPeriod => 13,
            DenyReason::InvalidTimezone => 15,
            DenyReason::Denied => 18,
            DenyReason::Other(c) => c,
        }
    }

    pub fn describe(self) -> String {
        match self {
            DenyReason::PcControl => "host control".into(),
            DenyReason::NoPrivilege => "no privilege".into(),
            DenyReason::WrongPin => "wrong PIN".into(),
            DenyReason::AntiPassback => "anti-passback".into(),
            DenyReason::MoreCards => "more cards needed".into(),
            DenyReason::FirstCard => "first card not yet presented".into(),
            DenyReason::NormallyClosed => "door normally closed".into(),
            DenyReason::Interlock => "interlock".into(),
            DenyReason::OutOfPeriod => "outside the allowed period".into(),
            DenyReason::InvalidTimezone => "invalid time zone".into(),
            DenyReason::Denied => "denied".into(),
            DenyReason::Other(c) => format!("reason {c}"),
        }
    }
}

/// What an event means to onecard, whatever firmware sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorEventKind {
    Granted,
    Denied(DenyReason),
    /// 20: exit button pressed, door released.
    ButtonPressed,
    /// 30..=33: exit button pressed but ignored (disabled, forced lock, offline, interlock).
    ButtonRefused(u8),
    /// 23: door sensor opened (only with special events on).
    DoorOpened,
    /// 24: door sensor closed (only with special events on).
    DoorClosed,
    /// 25: opened with a supervisor password.
    SupervisorOpen,
    /// 44/45: remote open from the host (or a USB reader).
    RemoteOpen,
    /// 28.
    PowerOn,
    /// 29.
    Reset,
    /// 37: door held open too long.
    HeldOpen,
    /// 38: door forced open.
    ForcedOpen,
    /// 40: door forced closed (locked by force input).
    ForcedClosed,
    /// 39.
    Fire,
    /// 34: threat (duress card or PIN).
    Duress,
    /// 41: the anti-theft input ("guard against theft", 防盗), wired to the enclosure's tamper
    /// switch on our sites.
    Tamper,
    /// 43.
    EmergencyCall,
    /// An alarm-type event (type 3) with a reason onecard has no name for.
    Alarm(u8),
    /// Type 0xFF: the record was overwritten before it was collected.
    Overwritten,
    /// Type 0: no event.
    NoEvent,
    Other(u8),
}

impl DoorEventKind {
    /// Reads an event from its type, granted flag and reason code. The reason says the most, so
    /// it decides; the type only settles codes onecard has no name for.
    pub fn classify(event_type: EventType, granted: bool, reason: u8) -> DoorEventKind {
        match event_type {
            EventType::Overwritten => return DoorEventKind::Overwritten,
            EventType::None if reason == 0 => return DoorEventKind::NoEvent,
            _ => {}
        }
        match reason {
            1..=3 if granted => DoorEventKind::Granted,
            1..=3 => DoorEventKind::Denied(DenyReason::Other(reason)),
            5..=19 => DoorEventKind::Denied(DenyReason::from_code(reason)),
            20 => DoorEventKind::ButtonPressed,
            23 => DoorEventKind::DoorOpened,
            24 => DoorEventKind::DoorClosed,
            25 => DoorEventKind::SupervisorOpen,
            28 => DoorEventKind::PowerOn,
            29 => DoorEventKind::Reset,
            30..=33 => DoorEventKind::ButtonRefused(reason),
            34 => DoorEventKind::Duress,
            37 => DoorEventKind::HeldOpen,
            38 => DoorEventKind::ForcedOpen,
            39 => DoorEventKind::Fire,
            40 => DoorEventKind::ForcedClosed,
            41 => DoorEventKind::Tamper,
            43 => DoorEventKind::EmergencyCall,
            44 | 45 => DoorEventKind::RemoteOpen,
            _ => match event_type {
                EventType::Alarm => DoorEventKind::Alarm(reason),
                EventType::Swipe if granted => DoorEventKind::Granted,
                EventType::Swipe => DoorEventKind::Denied(DenyReason::Other(reason)),
                _ => DoorEventKind::Other(reason),
            },
        }
    }

    /// Raises an alarm in the control room.
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            DoorEventKind::HeldOpen
                | DoorEventKind::ForcedOpen
                | DoorEventKind::Fire
                | DoorEventKind::Duress
                | DoorEventKind::Tamper
                | DoorEventKind::EmergencyCall
                | DoorEventKind::Alarm(_)
        )
    }
}

impl fmt::Display for DoorEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DoorEventKind::Granted => f.write_str("access granted"),
            DoorEventKind::Denied(r) => write!(f, "access denied ({})", r.describe()),
            DoorEventKind::ButtonPressed => f.write_str("exit button"),
            DoorEventKind::ButtonRefused(c) => write!(f, "exit button ignored (reason {c})"),
            DoorEventKind::DoorOpened => f.write_str("door opened"),
            DoorEventKind::DoorClosed => f.write_str("door closed"),
            DoorEventKind::SupervisorOpen => f.write_str("opened by supervisor password"),
            DoorEventKind::RemoteOpen => f.write_str("remote open"),
            DoorEventKind::PowerOn => f.write_str("controller power on"),
            DoorEventKind::Reset => f.write_str("controller reset"),
            DoorEventKind::HeldOpen => f.write_str("door held open"),
            DoorEventKind::ForcedOpen => f.write_str("door forced open"),
            DoorEventKind::ForcedClosed => f.write_str("door forced closed"),
            DoorEventKind::Fire => f.write_str("fire alarm"),
            DoorEventKind::Duress => f.write_str("duress"),
            DoorEventKind::Tamper => f.write_str("tamper"),
            DoorEventKind::EmergencyCall => f.write_str("emergency call"),
            DoorEventKind::Alarm(c) => write!(f, "alarm (reason {c})"),
            DoorEventKind::Overwritten => f.write_str("record overwritten"),
            DoorEventKind::NoEvent => f.write_str("no event"),
            DoorEventKind::Other(c) => write!(f, "event reason {c}"),
        }
    }
}

/// One stored event as the controller reports it. The timestamp is the controller's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRecord {
    pub index: u32,
    pub event_type: EventType,
    pub granted: bool,
    pub door: u8,
    pub direction: Direction,
    pub card: u32,
    pub timestamp: Option<NaiveDateTime>,
    pub reason: u8,
}

impl EventRecord {
    pub fn kind(&self) -> DoorEventKind {
        DoorEventKind::classify(self.event_type, self.granted, self.reason)
    }

    pub fn is_alarm(&self) -> bool {
        self.kind().is_alarm()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(t: u8, granted: bool, reason: u8) -> DoorEventKind {
        DoorEventKind::classify(EventType::from_code(t), granted, reason)
    }

    #[test]
    fn uhppote_reasons_become_onecard_kinds() {
        assert_eq!(kind(1, true, 1), DoorEventKind::Granted);
        assert_eq!(
            kind(1, false, 6),
            DoorEventKind::Denied(DenyReason::NoPrivilege)
        );
        assert_eq!(
            kind(1, false, 13),
            DoorEventKind::Denied(DenyReason::OutOfPeriod)
        );
        assert_eq!(kind(3, false, 38), DoorEventKind::ForcedOpen);
        assert_eq!(kind(3, false, 37), DoorEventKind::HeldOpen);
        assert_eq!(kind(2, true, 44), DoorEventKind::RemoteOpen);
        assert_eq!(kind(2, true, 45), DoorEventKind::RemoteOpen);
        assert_eq!(kind(2, true, 23), DoorEventKind::DoorOpened);
        assert_eq!(kind(2, true, 24), DoorEventKind::DoorClosed);
        assert_eq!(kind(2, true, 20), DoorEventKind::ButtonPressed);
        assert_eq!(kind(2, false, 28), DoorEventKind::PowerOn);
        assert_eq!(kind(3, false, 39), DoorEventKind::Fire);
        assert_eq!(kind(3, false, 34), DoorEventKind::Duress);
        assert_eq!(kind(3, false, 99), DoorEventKind::Alarm(99));
        assert_eq!(kind(0xFF, false, 0), DoorEventKind::Overwritten);
        assert_eq!(kind(0, false, 0), DoorEventKind::NoEvent);
        assert_eq!(kind(2, true, 21), DoorEventKind::Other(21));
        for (t, r) in [
            (3, 38),
            (3, 37),
            (3, 39),
            (3, 34),
            (3, 41),
            (3, 43),
            (3, 99),
        ] {
            assert!(kind(t, false, r).is_alarm(), "{t}/{r}");
        }
        for (t, g, r) in [(1, true, 1), (1, false, 6), (2, true, 44), (2, true, 23)] {
            assert!(!kind(t, g, r).is_alarm(), "{t}/{r}");
        }
    }

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(EventType::from_code(c).code(), c);
            assert_eq!(Direction::from_code(c).code(), c);
            assert_eq!(DenyReason::from_code(c).code(), c);
        }
    }
}
