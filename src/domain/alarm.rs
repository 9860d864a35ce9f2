//! Alarm kinds and their priorities. 1 is the most urgent.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmKind {
    ForcedOpen,
    HeldOpen,
    Tamper,
    Fire,
    Duress,
    TerminalOffline,
    CommFault,
    ClockDrift,
    MemoryFull,
    /// A POS that has not uploaded a day's records.
    UploadMissing,
    /// A door controller's event numbers began again (replaced or reset).
    EventLogRestarted,
    /// A door forced closed (locked by its force input): a warning.
    ForcedClosed,
    /// Records overwritten before they were collected: one alarm per overrun.
    RecordsLost,
    /// A terminal's clock is not valid (1970, a year outside 2000-2099, or none).
    ClockInvalid,
    /// A terminal claims more records than its memory can hold or its rate allows.
    RecordsImplausible,
    /// A POS or patrol reader still lacks a table (blacklist, guards, checkpoints) after it
    /// was sent again.
    TablesMissing,
    /// An offline purchase took a cardholder's balance below zero: booked anyway, the card
    /// blacklisted until a top-up.
    AccountOverdrawn,
    /// A POS skipped transaction numbers: the purchases they were are chased, never guessed.
    TxnGap,
    /// A POS's own day totals, the records received and the ledger disagree.
    ReconciliationDifference,
    /// A checkpoint of an online patrol route passed its window unscanned.
    PatrolOverdue,
}

impl AlarmKind {
    pub const ALL: [AlarmKind; 20] = [
        AlarmKind::ForcedOpen,
        AlarmKind::HeldOpen,
        AlarmKind::Tamper,
        AlarmKind::Fire,
        AlarmKind::Duress,
        AlarmKind::TerminalOffline,
        AlarmKind::CommFault,
        AlarmKind::ClockDrift,
        AlarmKind::MemoryFull,
        AlarmKind::UploadMissing,
        AlarmKind::EventLogRestarted,
        AlarmKind::ForcedClosed,
        AlarmKind::RecordsLost,
        AlarmKind::ClockInvalid,
        AlarmKind::RecordsImplausible,
        AlarmKind::TablesMissing,
        AlarmKind::AccountOverdrawn,
        AlarmKind::TxnGap,
        AlarmKind::ReconciliationDifference,
        AlarmKind::PatrolOverdue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::ForcedOpen => "forced_open",
            AlarmKind::HeldOpen => "held_open",
            AlarmKind::Tamper => "tamper",
            AlarmKind::Fire => "fire",
            AlarmKind::Duress => "duress",
            AlarmKind::TerminalOffline => "terminal_offline",
            AlarmKind::CommFault => "comm_fault",
            AlarmKind::ClockDrift => "clock_drift",
            AlarmKind::MemoryFull => "memory_full",
            AlarmKind::UploadMissing => "upload_missing",
            AlarmKind::EventLogRestarted => "event_log_restarted",
            AlarmKind::ForcedClosed => "forced_closed",
            AlarmKind::RecordsLost => "records_lost",
            AlarmKind::ClockInvalid => "clock_invalid",
            AlarmKind::RecordsImplausible => "records_implausible",
            AlarmKind::TablesMissing => "tables_missing",
            AlarmKind::AccountOverdrawn => "account_overdrawn",
            AlarmKind::TxnGap => "txn_gap",
            AlarmKind::ReconciliationDifference => "reconciliation_difference",
            AlarmKind::PatrolOverdue => "patrol_overdue",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmKind> {
        AlarmKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Life and building first, then security, then the equipment.
    pub fn priority(self) -> i16 {
        match self {
            AlarmKind::Fire | AlarmKind::Duress | AlarmKind::ForcedOpen | AlarmKind::Tamper => 1,
            AlarmKind::HeldOpen
            | AlarmKind::TerminalOffline
            | AlarmKind::MemoryFull
            | AlarmKind::UploadMissing
            | AlarmKind::EventLogRestarted
            | AlarmKind::RecordsLost
            | AlarmKind::RecordsImplausible
            | AlarmKind::TablesMissing
            | AlarmKind::AccountOverdrawn
            | AlarmKind::TxnGap
            | AlarmKind::ReconciliationDifference
            | AlarmKind::PatrolOverdue => 2,
            AlarmKind::CommFault
            | AlarmKind::ClockDrift
            | AlarmKind::ClockInvalid
            | AlarmKind::ForcedClosed => 3,
        }
    }

    /// Faults of a terminal that stay one open alarm however often they recur.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            AlarmKind::TerminalOffline
                | AlarmKind::CommFault
                | AlarmKind::ClockDrift
                | AlarmKind::MemoryFull
                | AlarmKind::ClockInvalid
                | AlarmKind::RecordsImplausible
                | AlarmKind::TablesMissing
        )
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_priorities_are_1_to_3() {
        for k in AlarmKind::ALL {
            assert_eq!(AlarmKind::parse(k.name()), Some(k));
            assert!((1..=3).contains(&k.priority()));
        }
        assert_eq!(AlarmKind::ForcedOpen.priority(), 1);
        assert_eq!(AlarmKind::ForcedClosed.priority(), 3);
        assert!(!AlarmKind::RecordsLost.is_fault(), "one alarm per overrun");
        assert!(AlarmKind::CommFault.is_fault() && !AlarmKind::ForcedOpen.is_fault());
    }
}
