//! Running totals a supervisor keeps across its lines.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals, for the benchmark and the diagnostics screen.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records new to the database.
    pub records: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    pub polls: AtomicU64,
    pub poll_failures: AtomicU64,
    pub commands_done: AtomicU64,
    pub commands_failed: AtomicU64,
    /// Times this supervisor took a line.
    pub takeovers: AtomicU64,
    /// Events that arrived pushed (UHPPOTE listener).
    pub pushed: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub batches: u64,
    pub polls: u64,
    pub poll_failures: u64,
    pub commands_done: u64,
    pub commands_failed: u64,
    pub takeovers: u64,
    pub pushed: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            records: g(&self.records),
            batches: g(&self.batches),
            polls: g(&self.polls),
            poll_failures: g(&self.poll_failures),
            commands_done: g(&self.commands_done),
            commands_failed: g(&self.commands_failed),
            takeovers: g(&self.takeovers),
            pushed: g(&self.pushed),
        }
    }

    pub(crate) fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
}
