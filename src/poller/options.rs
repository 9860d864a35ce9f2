//! A supervisor's tuning.

use std::time::Duration;

/// Tuning. The defaults suit a site; tests may shorten them.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often lines are re-read and free ones taken.
    pub recheck: Duration,
    /// How often an owner makes sure its lock connection is still alive.
    pub lock_check: Duration,
    /// How often an owner beats for its lines (`line_owner.heartbeat_at`).
    pub heartbeat: Duration,
    /// A beat older than this fences the owner: a standby ends its session and takes the line.
    pub stale_after: Duration,
    /// Failed polls in a row before a terminal is declared offline.
    pub offline_after: u32,
    /// Longest wait between attempts on an offline terminal.
    pub max_backoff: Duration,
    /// Clock drift that raises `clock_drift`, seconds.
    pub drift_threshold_s: i64,
    /// Records per batch (one transaction each).
    pub batch: usize,
    /// Batches read from one terminal per visit before the next terminal gets its turn.
    pub batches_per_visit: usize,
    /// UHPPOTE reply deadline per attempt (one retry after a timeout).
    pub uhppote_timeout: Duration,
    /// ZKTeco reply deadline.
    pub zk_timeout: Duration,
    /// A command's whole deadline.
    pub command_timeout: Duration,
    /// Point UHPPOTE controllers' event listener at the owner (pushed events).
    pub uhppote_listener: bool,
    /// Successful polls in a row that clear an open `comm_fault`.
    pub clear_fault_after: u32,
    /// A visit to one terminal is cut short after this long without a committed batch.
    pub visit_timeout: Duration,
    /// On stop, how long line actors get to finish their step before they are aborted.
    pub stop_grace: Duration,
    /// How often a full attendance log whose count did not change is read again (a machine
    /// that overwrites keeps its count while its punches change).
    pub full_log_every: Duration,
    /// Queue attendance machines' extraction when due (`attendance.extract_every_min`,
    /// `attendance.extract_at`): on in `onecard serve`.
    pub extract_schedule: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            recheck: Duration::from_secs(2),
            // Shorter than the 2 s recheck, so after a database restart the old owner lets go
            // before a standby can take the line.
            lock_check: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            stale_after: Duration::from_secs(10),
            offline_after: 3,
            max_backoff: Duration::from_secs(8),
            drift_threshold_s: 60,
            batch: 500,
            batches_per_visit: 10,
            uhppote_timeout: Duration::from_millis(800),
            zk_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(15),
            uhppote_listener: true,
            clear_fault_after: 10,
            visit_timeout: Duration::from_secs(20),
            stop_grace: Duration::from_secs(2),
            full_log_every: Duration::from_secs(30),
            extract_schedule: false,
        }
    }
}
