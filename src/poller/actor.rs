//! The line actor: one task that owns one line while its supervisor holds the line's lock.
//!
//! Each round it makes sure the lock connection is alive, re-reads the line and its
//! terminals now and then, runs the line's queued commands, then visits every terminal in the
//! scan once (a busy terminal gets a few batches per visit, then the next one's turn). Between
//! rounds it sleeps the line's poll interval, woken early by pushed events and queued commands.

use super::{native, uhppote, zk, Counters, Options, Shared, TRACE_CHANNEL};
use crate::db::alarm::{self, NewAlarm};
use crate::db::command::{self, TerminalCommand};
use crate::db::ingest::Stored;
use crate::db::terminal::{self as inventory, Health, Line, Terminal};
use crate::domain::alarm::AlarmKind;
use crate::terminal::TerminalError;
use futures::FutureExt;
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Terminals are re-read this often (new ones, scan changes).
const RELOAD_TERMINALS: Duration = Duration::from_secs(5);
/// Bytes of one traced frame published; the rest is counted in its note.
const TRACE_BYTES: usize = 256;

/// The line row (enabled, trace) is re-read this often.
const RELOAD_LINE: Duration = Duration::from_secs(1);
/// Statistics are written at most this often per terminal, unless the status changes.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// A terminal's clock is read this often.
pub(crate) const CLOCK_EVERY: Duration = Duration::from_secs(30);
/// Commands run per round at most, so polling goes on under a flood.
const COMMANDS_PER_ROUND: usize = 8;
/// The command queue is read at least this often without a wake.
const CLAIM_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct ActorSetup {
    pub pool: PgPool,
    pub line: Line,
    pub worker: String,
    pub options: Arc<Options>,
    pub shared: Arc<Shared>,
    pub lock_conn: PgConnection,
    /// Rung when a command is queued for this line: the round starts at once.
    pub wake: Arc<tokio::sync::Notify>,
    pub stop: watch::Receiver<bool>,
}

/// What a driver learned in one visit.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    pub rtt: Option<Duration>,
    pub firmware: Option<String>,
    pub drift_s: Option<i64>,
    pub waiting: Option<i64>,
    pub memory_full: Option<bool>,
    /// More records are waiting: visit again without sleeping.
    pub more: bool,
}

#[derive(Debug)]
pub(crate) enum PollError {
    /// The terminal or the line failed; `garbled` when something answered but not sensibly
    /// (a comm fault), as opposed to plain silence.
    Terminal { error: TerminalError, garbled: bool },
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

/// Link counters gathered since the last health write.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LinkDelta {
    pub retries: i64,
    pub crc_errors: i64,
    pub timeouts: i64,
}

/// One terminal as its line actor keeps it.
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
    failures: u32,
    successes: u32,
    next_due: Instant,
    comm_fault: Option<bool>,
    drift_alarm: Option<bool>,
    memory_alarm: Option<bool>,
    last_health: Instant,
    pending: Health,
}

impl Term {
    fn new(row: Terminal) -> Term {
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
            failures: 0,
            successes: 0,
            next_due: Instant::now(),
            comm_fault: None,
            drift_alarm: None,
            memory_alarm: None,
            last_health: Instant::now(),
            pending: Health::default(),
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

/// What drivers share with the actor.
pub(crate) struct Ctx {
    pub pool: PgPool,
    pub line_id: i64,
    pub options: Arc<Options>,
    shared: Arc<Shared>,
    pub tracing: bool,
    trace: Vec<String>,
}

impl Ctx {
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Counts a committed batch.
    pub fn stored(&self, s: &Stored) {
        Counters::add(&self.counters().records, s.inserted);
        Counters::add(&self.counters().batches, 1);
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

    async fn flush_trace(&mut self) {
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
}

/// One protocol's side of a line.
pub(crate) enum Driver {
    Uhppote(uhppote::UhppoteLine),
    Native(Box<native::NativeLine>),
    Zk(zk::ZkLine),
}

impl Driver {
    async fn open(line: &Line, options: &Options) -> Result<Driver, String> {
        match line.protocol.as_str() {
            "uhppote" => Ok(Driver::Uhppote(
                uhppote::UhppoteLine::open(line, options).await?,
            )),
            "native" => Ok(Driver::Native(Box::new(
                native::NativeLine::open(line).await?,
            ))),
            "zk" => Ok(Driver::Zk(zk::ZkLine::open(line, options).await?)),
            other => Err(format!("unknown protocol {other}")),
        }
    }

    async fn poll(&mut self, ctx: &mut Ctx, t: &mut Term) -> Result<Polled, PollError> {
        match self {
            Driver::Uhppote(d) => d.poll(ctx, t).await,
            Driver::Native(d) => d.poll(ctx, t).await,
            Driver::Zk(d) => d.poll(ctx, t).await,
        }
    }

    async fn execute(
        &mut self,
        ctx: &mut Ctx,
        t: &mut Term,
        cmd: &TerminalCommand,
    ) -> Result<String, String> {
        match self {
            Driver::Uhppote(d) => d.execute(ctx, t, cmd).await,
            Driver::Native(d) => d.execute(ctx, t, cmd).await,
            Driver::Zk(d) => d.execute(ctx, t, cmd).await,
        }
    }

    /// After a command was cut off by its deadline: the link may be mid-exchange.
    fn reset(&mut self) {
        match self {
            Driver::Uhppote(_) => {}
            Driver::Native(d) => d.reset(),
            Driver::Zk(d) => d.reset(),
        }
    }

    async fn next_push(&mut self) -> Option<crate::terminal::uhppote::ListenerEvent> {
        match self {
            Driver::Uhppote(d) => d.next_push().await,
            _ => std::future::pending().await,
        }
    }

    /// True when a terminal should be visited at once.
    async fn on_push(
        &mut self,
        ctx: &mut Ctx,
        terms: &mut [Term],
        ev: crate::terminal::uhppote::ListenerEvent,
    ) -> bool {
        match self {
            Driver::Uhppote(d) => d.on_push(ctx, terms, ev).await,
            _ => false,
        }
    }
}

enum Wake {
    Timer,
    Command,
    Stop,
    Push(Option<crate::terminal::uhppote::ListenerEvent>),
}

pub(crate) async fn run(setup: ActorSetup) {
    let ActorSetup {
        pool,
        mut line,
        worker,
        options,
        shared,
        mut lock_conn,
        wake: command_queued,
        mut stop,
    } = setup;
    match command::orphaned_to_unknown(&pool, line.id).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(line = %line.name, n, "commands left running by the previous owner are now unknown")
        }
        Err(e) => tracing::warn!(line = %line.name, error = %e, "marking orphaned commands failed"),
    }
    let mut ctx = Ctx {
        pool: pool.clone(),
        line_id: line.id,
        options: options.clone(),
        shared,
        tracing: false,
        trace: Vec::new(),
    };
    let mut driver = match Driver::open(&line, &options).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(line = %line.name, error = %e, "cannot open the line");
            // Keep the line (nobody else could do better) and look again later.
            tokio::select! {
                _ = tokio::time::sleep(options.recheck * 10) => {}
                _ = stop.changed() => {}
            }
            let _ = lock_conn.close().await;
            return;
        }
    };
    let mut terms: Vec<Term> = Vec::new();
    let mut last_terminals: Option<Instant> = None;
    let mut last_line: Option<Instant> = None;
    let mut last_lock = Instant::now();
    let mut claim_next = true;
    let mut last_claim = Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        if !still_ours(&mut lock_conn, &mut last_lock, options.lock_check).await {
            tracing::warn!(line = %line.name, "lost the line's lock connection; giving the line up");
            break;
        }
        if last_line.is_none_or(|t| t.elapsed() >= RELOAD_LINE) {
            last_line = Some(Instant::now());
            match reload_line(&pool, &mut line).await {
                Ok(Some(tracing_on)) => ctx.tracing = tracing_on,
                Ok(None) => {
                    tracing::info!(line = %line.name, "line disabled or removed; giving it up");
                    break;
                }
                Err(e) => {
                    tracing::warn!(line = %line.name, error = %e, "re-reading the line failed")
                }
            }
        }
        if last_terminals.is_none_or(|t| t.elapsed() >= RELOAD_TERMINALS) {
            match inventory::terminals_on(&pool, line.id).await {
                Ok(rows) => {
                    merge_terminals(&mut terms, rows);
                    last_terminals = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(line = %line.name, error = %e, "reading the terminals failed");
                    if last_terminals.is_none() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
        }

        // The queue is read when a command was announced for this line (the wake, also sent
        // to every line after the listener reconnects), when the last read was full, and
        // every few seconds in case: not at every round.
        if claim_next
            || last_claim.elapsed() >= CLAIM_EVERY
            || command_queued.notified().now_or_never().is_some()
        {
            last_claim = Instant::now();
            claim_next = run_commands(&mut driver, &mut ctx, &mut terms, &worker).await;
        }

        let mut busy = false;
        let mut lost = false;
        for t in terms.iter_mut() {
            if *stop.borrow() {
                break;
            }
            // A round of long visits (a backlog on every terminal) checks between terminals,
            // so a standby that took the line over never shares it for more than one visit.
            if !still_ours(&mut lock_conn, &mut last_lock, options.lock_check).await {
                lost = true;
                break;
            }
            if !t.row.in_scan || t.next_due > Instant::now() {
                continue;
            }
            busy |= visit(&mut driver, &mut ctx, t, &line).await;
        }
        ctx.flush_trace().await;
        if lost {
            tracing::warn!(line = %line.name, "lost the line's lock connection; giving the line up");
            break;
        }
        if busy {
            tokio::task::yield_now().await;
            continue;
        }
        let interval =
            Duration::from_millis(u64::try_from(line.poll_interval_ms.max(50)).unwrap_or(1000));
        let wake = tokio::select! {
            _ = tokio::time::sleep(interval) => Wake::Timer,
            _ = stop.changed() => Wake::Stop,
            _ = command_queued.notified() => Wake::Command,
            ev = driver.next_push() => Wake::Push(ev),
        };
        match wake {
            Wake::Timer => {}
            Wake::Command => claim_next = true,
            Wake::Stop => break,
            Wake::Push(Some(ev)) => {
                Counters::add(&ctx.counters().pushed, 1);
                driver.on_push(&mut ctx, &mut terms, ev).await;
                ctx.flush_trace().await;
            }
            Wake::Push(None) => {}
        }
    }
    for t in terms.iter_mut() {
        flush_health(&ctx, t).await;
    }
    let _ = lock_conn.close().await;
    tracing::info!(line = %line.name, "released the line");
}

/// Whether the line's lock connection (whose session holds the advisory lock) is still alive;
/// asked at most once per `every`.
async fn still_ours(lock_conn: &mut PgConnection, last: &mut Instant, every: Duration) -> bool {
    if last.elapsed() < every {
        return true;
    }
    *last = Instant::now();
    let alive = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&mut *lock_conn),
    )
    .await;
    matches!(alive, Ok(Ok(_)))
}

/// Some(tracing) while the line is enabled; None when it is disabled or gone.
async fn reload_line(pool: &PgPool, line: &mut Line) -> Result<Option<bool>, sqlx::Error> {
    let row: Option<(bool, bool, i32)> = sqlx::query_as(
        "SELECT enabled, coalesce(trace_until > now(), false), poll_interval_ms FROM line WHERE id = $1",
    )
    .bind(line.id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((true, tracing_on, interval)) => {
            line.poll_interval_ms = interval;
            Some(tracing_on)
        }
        _ => None,
    })
}

fn merge_terminals(terms: &mut Vec<Term>, rows: Vec<Terminal>) {
    terms.retain(|t| rows.iter().any(|r| r.id == t.row.id));
    for row in rows {
        match terms.iter_mut().find(|t| t.row.id == row.id) {
            Some(t) => {
                t.bookmark = t.bookmark.max(row.bookmark);
                t.base = t.base.max(row.record_base);
                t.row = row;
            }
            None => terms.push(Term::new(row)),
        }
    }
}

async fn visit(driver: &mut Driver, ctx: &mut Ctx, t: &mut Term, line: &Line) -> bool {
    Counters::add(&ctx.counters().polls, 1);
    match driver.poll(ctx, t).await {
        Ok(p) => {
            succeeded(ctx, t, &p).await;
            p.more
        }
        Err(PollError::Terminal { error, garbled }) => {
            Counters::add(&ctx.counters().poll_failures, 1);
            failed(ctx, t, line, &error, garbled).await;
            false
        }
        Err(PollError::Db(e)) => {
            tracing::warn!(terminal = t.row.id, error = %e, "storing failed; will retry");
            t.next_due = Instant::now() + Duration::from_secs(1);
            false
        }
    }
}

fn fault(kind: AlarmKind, t: &Term, detail: String) -> NewAlarm {
    NewAlarm {
        kind,
        terminal_id: Some(t.row.id),
        door: None,
        card: None,
        detail,
        late: false,
    }
}

/// Raises or clears a fault when its state changed (or was never settled).
async fn settle(
    ctx: &Ctx,
    t: &Term,
    kind: AlarmKind,
    flag: &mut Option<bool>,
    on: bool,
    detail: String,
) {
    if *flag == Some(on) {
        return;
    }
    let r = if on {
        alarm::raise_fault(&ctx.pool, &fault(kind, t, detail))
            .await
            .map(drop)
    } else {
        alarm::clear_fault(&ctx.pool, t.row.id, kind)
            .await
            .map(drop)
    };
    match r {
        Ok(()) => *flag = Some(on),
        Err(e) => tracing::warn!(terminal = t.row.id, %kind, error = %e, "alarm update failed"),
    }
}

async fn succeeded(ctx: &Ctx, t: &mut Term, p: &Polled) {
    t.failures = 0;
    t.successes = t.successes.saturating_add(1);
    t.next_due = Instant::now();
    if let Some(rtt) = p.rtt {
        t.pending.rtt_ms = Some(rtt.as_secs_f32() * 1000.0);
    }
    if p.firmware.is_some() {
        t.pending.firmware.clone_from(&p.firmware);
    }
    if let Some(d) = p.drift_s {
        t.pending.clock_drift_s = Some(i32::try_from(d).unwrap_or(i32::MAX));
    }
    if p.waiting.is_some() {
        t.pending.records_waiting = p.waiting;
    }
    let came_back = t.online != Some(true);
    t.online = Some(true);
    if came_back {
        flush_health(ctx, t).await;
        let mut flag = None;
        settle(
            ctx,
            t,
            AlarmKind::TerminalOffline,
            &mut flag,
            false,
            String::new(),
        )
        .await;
        tracing::info!(terminal = %t.row.name, "terminal online");
    } else if t.last_health.elapsed() >= HEALTH_EVERY {
        flush_health(ctx, t).await;
    }
    if t.successes >= ctx.options.clear_fault_after {
        let mut flag = t.comm_fault;
        settle(
            ctx,
            t,
            AlarmKind::CommFault,
            &mut flag,
            false,
            String::new(),
        )
        .await;
        t.comm_fault = flag;
    }
    if let Some(d) = p.drift_s {
        let bad = d.abs() > ctx.options.drift_threshold_s;
        let detail = format!(
            "clock {} s {}",
            d.abs(),
            if d < 0 { "behind" } else { "ahead" }
        );
        let mut flag = t.drift_alarm;
        settle(ctx, t, AlarmKind::ClockDrift, &mut flag, bad, detail).await;
        t.drift_alarm = flag;
    }
    if let Some(full) = p.memory_full {
        let mut flag = t.memory_alarm;
        settle(
            ctx,
            t,
            AlarmKind::MemoryFull,
            &mut flag,
            full,
            "record memory full".into(),
        )
        .await;
        t.memory_alarm = flag;
    }
}

async fn failed(ctx: &Ctx, t: &mut Term, line: &Line, error: &TerminalError, garbled: bool) {
    t.failures = t.failures.saturating_add(1);
    t.successes = 0;
    if matches!(error, TerminalError::Timeout(_)) {
        t.delta.timeouts += 1;
    }
    tracing::debug!(terminal = %t.row.name, failures = t.failures, error = %error, "poll failed");
    if garbled {
        let mut flag = t.comm_fault;
        settle(
            ctx,
            t,
            AlarmKind::CommFault,
            &mut flag,
            true,
            error.to_string(),
        )
        .await;
        t.comm_fault = flag;
    }
    let offline_after = ctx.options.offline_after.max(1);
    if t.failures >= offline_after {
        if t.online != Some(false) {
            t.online = Some(false);
            // Whatever answers next at this address is identified again.
            t.identified = false;
            flush_health(ctx, t).await;
            let mut flag = None;
            let detail = format!("no answer on line {}: {error}", line.name);
            settle(ctx, t, AlarmKind::TerminalOffline, &mut flag, true, detail).await;
            tracing::warn!(terminal = %t.row.name, error = %error, "terminal offline");
        }
        let interval =
            Duration::from_millis(u64::try_from(line.poll_interval_ms.max(50)).unwrap_or(1000));
        let steps = (t.failures - offline_after).min(8);
        let backoff = (interval * 2u32.pow(steps)).min(ctx.options.max_backoff);
        t.next_due = Instant::now() + backoff;
    } else if t.last_health.elapsed() >= HEALTH_EVERY {
        flush_health(ctx, t).await;
    }
}

async fn flush_health(ctx: &Ctx, t: &mut Term) {
    let mut h = std::mem::take(&mut t.pending);
    h.online = t.online == Some(true);
    h.retries = t.delta.retries;
    h.crc_errors = t.delta.crc_errors;
    h.timeouts = t.delta.timeouts;
    match inventory::record_health(&ctx.pool, t.row.id, &h).await {
        Ok(_) => {
            t.delta = LinkDelta::default();
            t.last_health = Instant::now();
        }
        Err(e) => {
            tracing::warn!(terminal = t.row.id, error = %e, "writing terminal health failed");
            t.pending = h;
        }
    }
}

/// Runs up to [`COMMANDS_PER_ROUND`] queued commands; true when there may be more.
async fn run_commands(
    driver: &mut Driver,
    ctx: &mut Ctx,
    terms: &mut [Term],
    worker: &str,
) -> bool {
    for _ in 0..COMMANDS_PER_ROUND {
        let claimed = match command::claim(&ctx.pool, ctx.line_id, worker).await {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a command failed");
                return true;
            }
        };
        let cmd = claimed.command.0.clone();
        let outcome = match terms.iter_mut().find(|t| t.row.id == claimed.terminal_id) {
            None => Err(format!(
                "terminal {} is not on this line any more",
                claimed.terminal_id
            )),
            Some(t) => {
                let limit = ctx.options.command_timeout;
                match tokio::time::timeout(limit, driver.execute(ctx, t, &cmd)).await {
                    Ok(r) => r,
                    Err(_) => {
                        driver.reset();
                        Err(format!("no answer within {} s", limit.as_secs()))
                    }
                }
            }
        };
        let (ok, text) = match outcome {
            Ok(s) => (true, s),
            Err(s) => (false, s),
        };
        Counters::add(
            if ok {
                &ctx.counters().commands_done
            } else {
                &ctx.counters().commands_failed
            },
            1,
        );
        tracing::info!(command = claimed.id, ok, result = %text, "command finished");
        if let Err(e) = command::finish(&ctx.pool, claimed.id, ok, &text).await {
            tracing::warn!(command = claimed.id, error = %e, "recording a command's outcome failed");
        }
        ctx.flush_trace().await;
    }
    true
}

/// A terminal error in the words a command's result shows.
pub(crate) fn said(e: &TerminalError) -> String {
    match e {
        TerminalError::Timeout(_) | TerminalError::Io(_) => format!("no answer: {e}"),
        _ => e.to_string(),
    }
}

/// The terminal's local wall clock we set and compare with.
pub(crate) fn local_now() -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let now = chrono::Local::now().naive_local();
    now.with_nanosecond(0).unwrap_or(now)
}
