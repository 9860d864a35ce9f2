//! What a line actor and its protocol driver share: the [`LineDriver`] trait, the terminal as
//! the actor keeps it ([`Term`]), the context a driver works in ([`Ctx`]: the database, the
//! trace, a running command's progress) and what a visit yields ([`Polled`], [`PollError`]).
//! The actor and every driver import this module; it imports neither.

use super::options::Options;
use super::stats::Counters;
use crate::db::command::{self, CommandFailure, CommandResult, Progress, TerminalCommand};
use crate::db::door::LiveState;
use crate::db::ingest::{DoorEventRow, LineFault, Stored};
use crate::db::listen::TRACE_CHANNEL;
use crate::db::terminal::Terminal;
use crate::terminal::TerminalError;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A terminal's clock is read this often.
pub(crate) const CLOCK_EVERY: Duration = Duration::from_secs(30);
/// Bytes of one traced frame published; the rest is counted in its note.
const TRACE_BYTES: usize = 256;
/// A long command's progress is written at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// One protocol's side of a line. The actor calls these and nothing else of a driver.
pub(crate) trait LineDriver {
    /// One visit to `t`: its status, clock and identity when due, and new records (a few
    /// batches, each committed before the terminal is told).
    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError>;

    /// Runs one command on `t` to its end. A long one reports [`Ctx::progress`].
    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> CommandResult;

    /// After a command was cut off by its deadline: the link may be mid-exchange.
    fn reset(&mut self);

    /// The next thing a terminal of the line sent unasked. Never resolves on a line whose
    /// terminals push nothing.
    async fn next_push(&mut self) -> Option<Pushed> {
        std::future::pending().await
    }

    /// Handles what `t` pushed (`t` is the terminal at `ev.address`).
    async fn on_push(&mut self, _ctx: &mut Ctx, _t: &mut Term, _ev: Pushed) {}

    /// A quick look at `t` before the round's visits, for what cannot wait for its turn (a POS
    /// waiting for the host's authorisation). Errors are left for its visit to find.
    async fn glance(&mut self, _ctx: &mut Ctx, _t: &mut Term) {}
}

/// Something a terminal sent unasked, in onecard's terms.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    /// The terminal's address on the line (a door controller's serial number).
    pub address: i64,
    /// Its newest record, numbered as the terminal numbers it (no base added).
    pub record: Option<PushedRecord>,
    /// Its doors as it reports them now (empty when it has none).
    pub doors: Vec<LiveState>,
}

#[derive(Debug, Clone)]
pub(crate) enum PushedRecord {
    Door(DoorEventRow),
}

/// What a driver learned in one visit.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    pub rtt: Option<Duration>,
    pub firmware: Option<String>,
    pub drift_s: Option<i64>,
    pub waiting: Option<i64>,
    pub memory_full: Option<bool>,
    /// How full its record memory is, percent (said in a `memory_full` alarm raised early).
    pub memory_percent: Option<u8>,
    /// Records it holds and how many it can hold (shown in the Attendance tab).
    pub memory: Option<(i64, i64)>,
    /// The drift that raises `clock_drift` for this terminal, when its settings say (else
    /// [`Options::drift_threshold_s`]).
    pub drift_threshold_s: Option<i64>,
    /// More records are waiting: visit again without sleeping.
    pub more: bool,
}

#[derive(Debug)]
pub(crate) enum PollError {
    /// The terminal or the line failed; `garbled` when something answered but not sensibly
    /// (a comm fault), as opposed to plain silence.
    Terminal { error: TerminalError, garbled: bool },
    /// The terminal transmitted, but no sensible reply: what was heard instead, and the
    /// address it came from when known. A comm fault, never "offline".
    Fault {
        error: TerminalError,
        fault: LineFault,
        address: Option<i64>,
    },
    /// The database failed: the terminal is not to blame.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for PollError {
    fn from(e: sqlx::Error) -> Self {
        PollError::Db(e)
    }
}

impl From<TerminalError> for PollError {
    fn from(error: TerminalError) -> Self {
        let garbled = matches!(error, TerminalError::Malformed(_));
        PollError::Terminal { error, garbled }
    }
}

/// A reply that decoded but cannot be true (records out of order, another record than asked).
pub(crate) fn garbled(what: String) -> PollError {
    PollError::Terminal {
        error: TerminalError::Malformed(what),
        garbled: true,
    }
}

/// A terminal error as a command's failure.
pub(crate) fn failure(e: &TerminalError) -> CommandFailure {
    match e {
        TerminalError::Timeout(_) | TerminalError::Io(_) => CommandFailure::NoAnswer,
        TerminalError::Malformed(_) => CommandFailure::Garbled,
        TerminalError::Refused(text) => CommandFailure::Device { text: text.clone() },
    }
}

impl From<TerminalError> for CommandFailure {
    fn from(e: TerminalError) -> Self {
        failure(&e)
    }
}

impl From<PollError> for CommandFailure {
    fn from(e: PollError) -> Self {
        match e {
            PollError::Terminal { error, .. } => failure(&error),
            PollError::Fault { .. } => CommandFailure::Garbled,
            PollError::Db(e) => {
                tracing::warn!(error = %e, "a command's storing failed");
                CommandFailure::Database
            }
        }
    }
}

impl From<sqlx::Error> for CommandFailure {
    fn from(e: sqlx::Error) -> Self {
        PollError::Db(e).into()
    }
}

/// Link counters gathered since the last health write.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LinkDelta {
    pub retries: i64,
    pub crc_errors: i64,
    pub timeouts: i64,
}

/// One terminal as its line's driver sees it.
pub(crate) struct Term {
    pub row: Terminal,
    /// The last record number stored (mirrors `terminal.bookmark`, which only moves forward).
    pub bookmark: i64,
    /// Added to the terminal's own record numbers (mirrors `terminal.record_base`).
    pub base: i64,
    /// None until the first poll decides.
    pub online: Option<bool>,
    /// Records numbered up to here were waiting while the terminal was offline: late.
    pub late_until: Option<i64>,
    /// The terminal's own bookmark was re-sent after taking the line.
    pub acked_once: bool,
    pub identified: bool,
    pub last_clock: Option<Instant>,
    pub delta: LinkDelta,
    /// Driver-private baseline of cumulative link counters.
    pub baseline: [u64; 3],
    /// The doors' state as last written to the database.
    pub doors: Option<Vec<LiveState>>,
}

impl Term {
    pub fn new(row: Terminal) -> Term {
        let online = (row.status == "offline").then_some(false);
        Term {
            bookmark: row.bookmark,
            base: row.record_base,
            online,
            late_until: None,
            acked_once: false,
            identified: false,
            last_clock: None,
            delta: LinkDelta::default(),
            baseline: [0; 3],
            doors: None,
            row,
        }
    }

    /// While records from the offline period are still to be read: the last of them.
    pub fn late_cap(&self) -> Option<i64> {
        self.late_until.filter(|&l| self.bookmark < l)
    }

    pub fn kind(&self) -> &str {
        &self.row.kind
    }
}

/// The command a driver runs now, for its progress.
struct Running {
    id: i64,
    written: Option<Progress>,
    latest: Option<Progress>,
    last_write: Option<Instant>,
}

/// What drivers share with the actor.
pub(crate) struct Ctx {
    pub pool: PgPool,
    pub line_id: i64,
    pub options: Arc<Options>,
    counters: Arc<Counters>,
    pub tracing: bool,
    trace: Vec<String>,
    running: Option<Running>,
    /// Bumped at every progress report: a long command's deadline counts from the last one.
    ticks: Arc<AtomicU64>,
}

impl Ctx {
    pub fn new(pool: PgPool, line_id: i64, options: Arc<Options>, counters: Arc<Counters>) -> Ctx {
        Ctx {
            pool,
            line_id,
            options,
            counters,
            tracing: false,
            trace: Vec::new(),
            running: None,
            ticks: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a committed batch. A batch is progress: it keeps a visit's deadline away.
    pub fn stored(&self, s: &Stored) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        Counters::add(&self.counters.records, s.inserted);
        Counters::add(&self.counters.batches, 1);
    }

    /// A frame sent or received, published while the line is traced. A long one (a ZKTeco
    /// log chunk) shows its head: a NOTIFY payload holds 8000 bytes.
    pub fn trace(&mut self, dir: &str, bytes: &[u8]) {
        if self.tracing {
            let shown = &bytes[..bytes.len().min(TRACE_BYTES)];
            let mut entry =
                serde_json::json!({ "line": self.line_id, "dir": dir, "hex": hex::encode(shown) });
            if shown.len() < bytes.len() {
                entry["note"] =
                    format!("{} bytes, first {} shown", bytes.len(), shown.len()).into();
            }
            self.trace.push(entry.to_string());
        }
    }

    /// A step with no frame of its own (connecting).
    pub fn trace_note(&mut self, dir: &str, note: &str) {
        if self.tracing {
            self.trace.push(
                serde_json::json!({ "line": self.line_id, "dir": dir, "hex": "", "note": note })
                    .to_string(),
            );
        }
    }

    pub async fn flush_trace(&mut self) {
        if self.trace.is_empty() {
            return;
        }
        let payloads = std::mem::take(&mut self.trace);
        if let Err(e) = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(TRACE_CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await
        {
            tracing::debug!(error = %e, "publishing the trace failed");
        }
    }

    /// Writes the doors' live state when it differs from what was written last: a poll that
    /// saw nothing new costs nothing.
    pub async fn note_doors(
        &self,
        t: &mut Term,
        states: Vec<LiveState>,
    ) -> Result<(), sqlx::Error> {
        if states.is_empty() || t.doors.as_ref() == Some(&states) {
            return Ok(());
        }
        crate::db::door::record_live_state(&self.pool, t.row.id, &states).await?;
        t.doors = Some(states);
        Ok(())
    }

    /// The command running now, if any.
    pub fn command_id(&self) -> Option<i64> {
        self.running.as_ref().map(|r| r.id)
    }

    /// The ticks a long command's deadline watches.
    pub fn ticks(&self) -> Arc<AtomicU64> {
        self.ticks.clone()
    }

    /// Command `id` starts: its progress reports go to its row.
    pub fn begin_command(&mut self, id: i64) {
        self.running = Some(Running {
            id,
            written: None,
            latest: None,
            last_write: None,
        });
    }

    /// The command ended: its last progress is written if it was not yet.
    pub async fn end_command(&mut self) {
        if let Some(r) = self.running.take() {
            if let Some(p) = r.latest.filter(|p| Some(*p) != r.written) {
                write_progress(&self.pool, r.id, p).await;
            }
        }
    }

    /// A long command's progress: written (and announced) at most every [`PROGRESS_EVERY`];
    /// it also keeps the command's deadline away.
    pub async fn progress(&mut self, done: u64, total: u64) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        let Some(r) = &mut self.running else {
            return;
        };
        let p = Progress { done, total };
        r.latest = Some(p);
        if r.last_write.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        r.last_write = Some(Instant::now());
        r.written = Some(p);
        let id = r.id;
        write_progress(&self.pool, id, p).await;
        // A long command traced holds its frames until here, not until it ends.
        self.flush_trace().await;
    }
}

async fn write_progress(pool: &PgPool, id: i64, p: Progress) {
    if let Err(e) = command::set_progress(pool, id, p).await {
        tracing::debug!(command = id, error = %e, "writing a command's progress failed");
    }
}

/// The terminal's local wall clock we set and compare with.
pub(crate) fn local_now() -> chrono::NaiveDateTime {
    crate::domain::time::now()
}

/// `address` (`host` or `host:port`) as a socket address.
pub(crate) async fn resolve(address: &str, default_port: u16) -> Result<SocketAddr, String> {
    let with_port = if address.contains(':') {
        address.to_string()
    } else {
        format!("{address}:{default_port}")
    };
    let mut found = tokio::net::lookup_host(with_port)
        .await
        .map_err(|e| format!("address {address}: {e}"))?;
    found
        .next()
        .ok_or_else(|| format!("address {address} resolves to nothing"))
}

/// Milliseconds since `t`, for outcomes.
pub(crate) fn millis(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A count as the u32 outcomes carry.
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
