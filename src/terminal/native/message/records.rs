//! The records a terminal keeps and the host reads (§8.3, §8.4): POS purchases and patrol
//! scans, and one READ_RECORDS reply.

use super::{bad, time_to_bcd, DecodeError, Rd};
use chrono::NaiveDateTime;

/// How a purchase was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurchaseMode {
    /// Stored at the terminal, uploaded later.
    Offline = 0,
    /// Approved by the host (AUTH_RESULT).
    Online = 1,
}

/// A POS purchase record, 29 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseRecord {
    pub record_no: u32,
    pub at: NaiveDateTime,
    pub card: u32,
    pub amount_fen: i32,
    pub balance_after_fen: i32,
    pub txn_no: u32,
    pub meal_slot: u8,
    pub mode: PurchaseMode,
}

impl PurchaseRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.record_no.to_le_bytes());
        out.extend_from_slice(&time_to_bcd(self.at));
        out.extend_from_slice(&self.card.to_le_bytes());
        out.extend_from_slice(&self.amount_fen.to_le_bytes());
        out.extend_from_slice(&self.balance_after_fen.to_le_bytes());
        out.extend_from_slice(&self.txn_no.to_le_bytes());
        out.push(self.meal_slot);
        out.push(self.mode as u8);
    }

    pub fn decode(b: &[u8]) -> Result<PurchaseRecord, DecodeError> {
        let mut r = Rd::new(b);
        let rec = Self::read(&mut r)?;
        r.end()?;
        Ok(rec)
    }

    pub(super) fn read(r: &mut Rd<'_>) -> Result<PurchaseRecord, DecodeError> {
        Ok(PurchaseRecord {
            record_no: r.u32()?,
            at: r.time()?,
            card: r.u32()?,
            amount_fen: r.i32()?,
            balance_after_fen: r.i32()?,
            txn_no: r.u32()?,
            meal_slot: r.u8()?,
            mode: match r.u8()? {
                0 => PurchaseMode::Offline,
                1 => PurchaseMode::Online,
                m => return Err(bad(format!("purchase mode {m}"))),
            },
        })
    }
}

/// What a patrol scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanEvent {
    Normal = 0,
    UnknownGuard = 1,
    UnknownCheckpoint = 2,
}

/// A patrol scan record, 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanRecord {
    pub record_no: u32,
    pub at: NaiveDateTime,
    pub guard: u32,
    pub checkpoint: u32,
    pub event: ScanEvent,
}

impl ScanRecord {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.record_no.to_le_bytes());
        out.extend_from_slice(&time_to_bcd(self.at));
        out.extend_from_slice(&self.guard.to_le_bytes());
        out.extend_from_slice(&self.checkpoint.to_le_bytes());
        out.push(self.event as u8);
    }

    pub fn decode(b: &[u8]) -> Result<ScanRecord, DecodeError> {
        let mut r = Rd::new(b);
        let rec = Self::read(&mut r)?;
        r.end()?;
        Ok(rec)
    }

    pub(super) fn read(r: &mut Rd<'_>) -> Result<ScanRecord, DecodeError> {
        Ok(ScanRecord {
            record_no: r.u32()?,
            at: r.time()?,
            guard: r.u32()?,
            checkpoint: r.u32()?,
            event: match r.u8()? {
                0 => ScanEvent::Normal,
                1 => ScanEvent::UnknownGuard,
                2 => ScanEvent::UnknownCheckpoint,
                e => return Err(bad(format!("scan event {e}"))),
            },
        })
    }
}

/// The records of one READ_RECORDS reply; a device holds one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    /// A device that stores no records (the desk reader).
    None,
    Purchases(Vec<PurchaseRecord>),
    Scans(Vec<ScanRecord>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::None => 0,
            Records::Purchases(v) => v.len(),
            Records::Scans(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Record numbers in order.
    pub fn numbers(&self) -> Vec<u32> {
        match self {
            Records::None => vec![],
            Records::Purchases(v) => v.iter().map(|r| r.record_no).collect(),
            Records::Scans(v) => v.iter().map(|r| r.record_no).collect(),
        }
    }
    pub fn last_number(&self) -> Option<u32> {
        self.numbers().last().copied()
    }
}

/// READ_RECORDS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// The device's next record number: more are waiting when the last one read is below
    /// `next_record - 1`.
    pub next_record: u32,
    pub records: Records,
}
