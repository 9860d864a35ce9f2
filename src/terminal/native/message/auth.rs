//! Online authorisation: the POS's request that the host reads (AUTH_REQUEST) and answers
//! (AUTH_RESULT), and the reasons a purchase is declined (by the host, or by the POS offline).

use super::{bad, time_to_bcd, DecodeError, Rd};
use chrono::NaiveDateTime;

/// Digits of a payment PIN.
pub const PIN_LEN: usize = 6;

/// Why a purchase is declined (a normal answer, not a NAK): by the host (AUTH_RESULT), or by
/// the POS itself offline (it stores nothing and shows the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    InsufficientBalance = 1,
    Blacklisted = 2,
    OverPurchaseLimit = 3,
    DailyCountReached = 4,
    PinRequired = 5,
    UnknownCard = 6,
    /// The host's reasons (AUTH_RESULT) from here on.
    CardNotValid = 7,
    WrongPin = 8,
    NotForPos = 9,
    /// The terminal belongs to no approved merchant.
    NotInService = 10,
    /// Offline: the card's purchases today would pass the offline limit.
    OfflineLimit = 11,
}

impl DenyReason {
    pub(super) fn from_code(c: u8) -> Result<DenyReason, DecodeError> {
        Ok(match c {
            1 => DenyReason::InsufficientBalance,
            2 => DenyReason::Blacklisted,
            3 => DenyReason::OverPurchaseLimit,
            4 => DenyReason::DailyCountReached,
            5 => DenyReason::PinRequired,
            6 => DenyReason::UnknownCard,
            7 => DenyReason::CardNotValid,
            8 => DenyReason::WrongPin,
            9 => DenyReason::NotForPos,
            10 => DenyReason::NotInService,
            11 => DenyReason::OfflineLimit,
            _ => return Err(bad(format!("deny reason {c}"))),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            DenyReason::InsufficientBalance => "insufficient balance",
            DenyReason::Blacklisted => "card is blacklisted",
            DenyReason::OverPurchaseLimit => "over the per-purchase limit",
            DenyReason::DailyCountReached => "daily purchase count reached",
            DenyReason::PinRequired => "payment PIN required",
            DenyReason::UnknownCard => "card unknown",
            DenyReason::CardNotValid => "card not valid today",
            DenyReason::WrongPin => "wrong payment PIN",
            DenyReason::NotForPos => "card may not pay",
            DenyReason::NotInService => "terminal not in service",
            DenyReason::OfflineLimit => "over the offline limit",
        }
    }
}

/// What a POS waits for: a purchase keyed and a card presented, for the host to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuth {
    /// The POS's transaction number for this purchase.
    pub txn_no: u32,
    pub card: u32,
    /// Positive.
    pub amount_fen: u32,
    /// The payment PIN the cardholder typed (six digits), when the POS asked for it.
    pub pin: Option<String>,
    /// When the card was presented (terminal local time).
    pub at: NaiveDateTime,
}

impl PendingAuth {
    /// pending u8, txn_no u32, card u32, amount_fen u32, pin 6 B, time 7 B.
    pub const LEN: usize = 1 + 4 + 4 + 4 + PIN_LEN + 7;

    /// `None`: one byte 0.
    pub fn encode(p: Option<&PendingAuth>, out: &mut Vec<u8>) {
        let Some(p) = p else {
            out.push(0);
            return;
        };
        out.push(1);
        out.extend_from_slice(&p.txn_no.to_le_bytes());
        out.extend_from_slice(&p.card.to_le_bytes());
        out.extend_from_slice(&p.amount_fen.to_le_bytes());
        let mut pin = [0u8; PIN_LEN];
        if let Some(digits) = &p.pin {
            for (slot, b) in pin.iter_mut().zip(digits.bytes()) {
                *slot = b;
            }
        }
        out.extend_from_slice(&pin);
        out.extend_from_slice(&time_to_bcd(p.at));
    }

    pub(super) fn read(r: &mut Rd<'_>) -> Result<Option<PendingAuth>, DecodeError> {
        match r.u8()? {
            0 => return Ok(None),
            1 => {}
            f => return Err(bad(format!("pending flag {f}"))),
        }
        let txn_no = r.u32()?;
        let card = r.u32()?;
        let amount_fen = r.u32()?;
        if amount_fen == 0 || amount_fen > i32::MAX as u32 {
            return Err(bad(format!("amount {amount_fen} fen")));
        }
        let pin = r.take(PIN_LEN)?;
        let pin = match pin {
            [0, 0, 0, 0, 0, 0] => None,
            digits if digits.iter().all(u8::is_ascii_digit) => {
                Some(String::from_utf8_lossy(digits).into_owned())
            }
            other => return Err(bad(format!("PIN bytes {other:02x?}"))),
        };
        Ok(Some(PendingAuth {
            txn_no,
            card,
            amount_fen,
            pin,
            at: r.time()?,
        }))
    }
}

/// The host's answer to a pending authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthResult {
    /// The transaction answered: the one pending.
    pub txn_no: u32,
    /// None = approved.
    pub denied: Option<DenyReason>,
    /// The balance the POS shows: after the purchase, or as it stands when declined.
    pub balance_fen: i32,
}

impl AuthResult {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.txn_no.to_le_bytes());
        out.push(self.denied.map_or(0, |d| d as u8));
        out.extend_from_slice(&self.balance_fen.to_le_bytes());
    }

    pub(super) fn read(r: &mut Rd<'_>) -> Result<AuthResult, DecodeError> {
        Ok(AuthResult {
            txn_no: r.u32()?,
            denied: match r.u8()? {
                0 => None,
                c => Some(DenyReason::from_code(c)?),
            },
            balance_fen: r.i32()?,
        })
    }
}
