//! The line actor: one task that owns one line while its supervisor holds the line's lock.
//!
//! Each round it makes sure the lock connection is alive, re-reads the line and its
//! terminals now and then, runs the line's queued commands, glances at every terminal for what
//! cannot wait (a POS's authorisation), then visits every terminal in the scan once (a busy
//! terminal gets a few batches per visit, then the next one's turn). Rounds start a poll
//! interval apart, earlier when woken by pushed events and queued commands.
//! It talks to the terminals only through [`LineDriver`].

use super::drivers::{self, Driver};
use super::line::{Ctx, LineDriver, PollError, Polled, Pushed, Term};
use super::options::Options;
use super::stats::Counters;
use crate::db::alarm::{self, NewAlarm};
use crate::db::command::{self, CommandFailure, CommandResult};
use crate::db::ingest::{AlarmDetail, LineFault};
use crate::db::propagation;
use crate::db::terminal::{self as inventory, Health, Line, Terminal};
use crate::domain::alarm::AlarmKind;
use crate::domain::permission::Actor;
use crate::terminal::TerminalError;
use futures::FutureExt;
use sqlx::{Connection, PgConnection, PgPool};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Terminals are re-read this often (new ones, scan changes).
const RELOAD_TERMINALS: Duration = Duration::from_secs(5);
/// The line row (enabled, trace) is re-read this often.
const RELOAD_LINE: Duration = Duration::from_secs(1);
/// Statistics are written at most this often per terminal, unless the status changes.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// Commands run per round at most, so polling goes on under a flood.
const COMMANDS_PER_ROUND: usize = 8;
/// The shortest pause between rounds, however long the last one took.
const MIN_GAP: Duration = Duration::from_millis(10);
/// The command queue is read at least this often without a wake.
const CLAIM_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct ActorSetup {
    pub pool: PgPool,
    pub line: Line,
    pub worker: String,
    /// Who queues what the poller queues by itself (the audit's actor).
    pub service: Actor,
    pub options: Arc<Options>,
    pub counters: Arc<Counters>,
    pub lock_conn: PgConnection,
    /// Rung when a command is queued for this line: the round starts at once.
    pub wake: Arc<tokio::sync::Notify>,
    pub stop: watch::Receiver<bool>,
}

/// A terminal, and what the actor keeps of its standing: failures, faults raised, health.
struct Slot {
    t: Term,
    failures: u32,
    successes: u32,
    next_due: Instant,
    comm_fault: Option<bool>,
    drift_alarm: Option<bool>,
    memory_alarm: Option<bool>,
    last_health: Instant,
    pending: Health,
    /// Its unconfirmed card changes are to be queued again at its next good poll: it was
    /// silent (a failed poll, offline) or unknown (the line was just taken).
    resync: bool,
}

impl Slot {
    fn new(row: Terminal) -> Slot {
        Slot {
            t: Term::new(row),
            failures: 0,
            successes: 0,
            next_due: Instant::now(),
            comm_fault: None,
            drift_alarm: None,
            memory_alarm: None,
            last_health: Instant::now(),
            pending: Health::default(),
            resync: false,
        }
    }

    fn id(&self) -> i64 {
        self.t.row.id
    }
}

enum Wake {
    Timer,
    Command,
    Stop,
    Push(Option<Pushed>),
}

pub(crate) async fn run(setup: ActorSetup) {
    let ActorSetup {
        pool,
        mut line,
        worker,
        service,
        options,
        counters,
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
    let mut ctx = Ctx::new(pool.clone(), line.id, options.clone(), counters);
    let mut driver = match drivers::open(&line, &options).await {
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
    let mut slots: Vec<Slot> = Vec::new();
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
                    merge_terminals(&mut slots, rows);
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
            claim_next = run_commands(&mut driver, &mut ctx, &mut slots, &worker).await;
        }

        let round = Instant::now();
        glance_all(&mut driver, &mut ctx, &mut slots, &stop).await;
        let mut glanced = Instant::now();
        let mut busy = false;
        let mut lost = false;
        for i in 0..slots.len() {
            if *stop.borrow() {
                break;
            }
            // A round longer than the poll period looks for authorisations again meanwhile.
            if glanced.elapsed() >= poll_interval(&line) {
                glance_all(&mut driver, &mut ctx, &mut slots, &stop).await;
                glanced = Instant::now();
            }
            let s = &mut slots[i];
            // A round of long visits (a backlog on every terminal) checks between terminals,
            // so a standby that took the line over never shares it for more than one visit.
            if !still_ours(&mut lock_conn, &mut last_lock, options.lock_check).await {
                lost = true;
                break;
            }
            if !s.t.row.in_scan || s.next_due > Instant::now() {
                continue;
            }
            busy |= visit(&mut driver, &mut ctx, s, &line, &service, &stop).await;
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
        // A period from round to round, not a pause after each: a long round (a busy line)
        // must not push every terminal's next look a whole interval further.
        let interval = poll_interval(&line)
            .saturating_sub(round.elapsed())
            .max(MIN_GAP);
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
                if let Some(s) = slots.iter_mut().find(|s| s.t.row.address == ev.address) {
                    driver.on_push(&mut ctx, &mut s.t, ev).await;
                }
                ctx.flush_trace().await;
            }
            Wake::Push(None) => {}
        }
    }
    for s in slots.iter_mut() {
        flush_health(&ctx, s).await;
    }
    let _ = lock_conn.close().await;
    tracing::info!(line = %line.name, "released the line");
}

/// Authorisations first: every due terminal that answers is glanced at ([`LineDriver::glance`]),
/// so a POS waiting for the host is answered within the poll period, not when the round's
/// visits (records, clocks, alarms) come round to it.
async fn glance_all(
    driver: &mut Driver,
    ctx: &mut Ctx,
    slots: &mut [Slot],
    stop: &watch::Receiver<bool>,
) {
    for s in slots.iter_mut() {
        if *stop.borrow() {
            break;
        }
        if s.t.row.in_scan && s.next_due <= Instant::now() && s.t.online == Some(true) {
            let ticks = ctx.ticks();
            let limit = ctx.options.visit_timeout;
            if within(limit, &ticks, driver.glance(ctx, &mut s.t))
                .await
                .is_none()
            {
                driver.reset();
            }
        }
    }
}

fn poll_interval(line: &Line) -> Duration {
    Duration::from_millis(u64::try_from(line.poll_interval_ms.max(50)).unwrap_or(1000))
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

fn merge_terminals(slots: &mut Vec<Slot>, rows: Vec<Terminal>) {
    slots.retain(|s| rows.iter().any(|r| r.id == s.id()));
    for row in rows {
        match slots.iter_mut().find(|s| s.id() == row.id) {
            Some(s) => {
                s.t.bookmark = s.t.bookmark.max(row.bookmark);
                s.t.base = s.t.base.max(row.record_base);
                s.t.row = row;
            }
            None => slots.push(Slot::new(row)),
        }
    }
}

/// One visit to a terminal, within [`Options::visit_timeout`] of its last committed batch,
/// and cut short by a stop (whatever was committed stays; the terminal was not acked for the
/// rest and gives it again). True when it has more records waiting.
async fn visit(
    driver: &mut Driver,
    ctx: &mut Ctx,
    s: &mut Slot,
    line: &Line,
    service: &Actor,
    stop: &watch::Receiver<bool>,
) -> bool {
    Counters::add(&ctx.counters().polls, 1);
    let limit = ctx.options.visit_timeout;
    let ticks = ctx.ticks();
    let mut stop = stop.clone();
    let result = tokio::select! {
        r = within(limit, &ticks, driver.poll(ctx, &mut s.t)) => r,
        _ = stop.wait_for(|stopped| *stopped) => {
            driver.reset();
            return false;
        }
    };
    let Some(result) = result else {
        tracing::warn!(terminal = %s.t.row.name, ?limit, "a visit made no progress within its deadline; cut short");
        driver.reset();
        Counters::add(&ctx.counters().poll_failures, 1);
        failed(ctx, s, line, &TerminalError::Timeout(limit), None).await;
        return false;
    };
    match result {
        Ok(p) => {
            succeeded(ctx, s, &p, service).await;
            p.more
        }
        Err(PollError::Terminal { error, garbled }) => {
            Counters::add(&ctx.counters().poll_failures, 1);
            let fault = garbled.then(|| Garbled {
                address: None,
                fault: match &error {
                    TerminalError::Malformed(m) => Some(LineFault::Invalid { detail: m.clone() }),
                    _ => None,
                },
            });
            failed(ctx, s, line, &error, fault).await;
            false
        }
        Err(PollError::Fault {
            error,
            fault,
            address,
        }) => {
            Counters::add(&ctx.counters().poll_failures, 1);
            let fault = Some(Garbled {
                address,
                fault: Some(fault),
            });
            failed(ctx, s, line, &error, fault).await;
            false
        }
        Err(PollError::Db(e)) => {
            tracing::warn!(terminal = s.id(), error = %e, "storing failed; will retry");
            s.next_due = Instant::now() + Duration::from_secs(1);
            false
        }
    }
}

/// What a terminal sent instead of a sensible reply, for its `comm_fault`.
struct Garbled {
    address: Option<i64>,
    fault: Option<LineFault>,
}

/// Raises a fault (`Some(detail)`) or clears it (None) when its state changed (or was never
/// settled).
async fn settle(
    ctx: &Ctx,
    terminal_id: i64,
    kind: AlarmKind,
    flag: &mut Option<bool>,
    raise: Option<AlarmDetail>,
) {
    let on = raise.is_some();
    if *flag == Some(on) {
        return;
    }
    let r = if let Some(detail) = raise {
        let a = NewAlarm {
            kind,
            terminal_id: Some(terminal_id),
            door: None,
            card: None,
            detail: detail.to_json(),
            late: false,
        };
        alarm::raise_fault(&ctx.pool, &a).await.map(drop)
    } else {
        alarm::clear_fault(&ctx.pool, terminal_id, kind)
            .await
            .map(drop)
    };
    match r {
        Ok(()) => *flag = Some(on),
        Err(e) => tracing::warn!(terminal = terminal_id, %kind, error = %e, "alarm update failed"),
    }
}

async fn succeeded(ctx: &Ctx, s: &mut Slot, p: &Polled, service: &Actor) {
    let id = s.id();
    s.failures = 0;
    s.successes = s.successes.saturating_add(1);
    s.next_due = Instant::now();
    if let Some(rtt) = p.rtt {
        s.pending.rtt_ms = Some(rtt.as_secs_f32() * 1000.0);
    }
    if p.firmware.is_some() {
        s.pending.firmware.clone_from(&p.firmware);
    }
    if let Some(d) = p.drift_s {
        s.pending.clock_drift_s = Some(i32::try_from(d).unwrap_or(i32::MAX));
    }
    if p.waiting.is_some() {
        s.pending.records_waiting = p.waiting;
    }
    if p.memory.is_some() {
        s.pending.memory = p.memory;
    }
    let came_back = s.t.online != Some(true);
    s.t.online = Some(true);
    if came_back {
        flush_health(ctx, s).await;
        let mut flag = None;
        settle(ctx, id, AlarmKind::TerminalOffline, &mut flag, None).await;
        tracing::info!(terminal = %s.t.row.name, "terminal online");
        s.resync = true;
    } else if s.last_health.elapsed() >= HEALTH_EVERY {
        flush_health(ctx, s).await;
    }
    if s.resync {
        // What it missed while silent (or while nobody polled it) goes out again by itself.
        match propagation::requeue_unconfirmed(&ctx.pool, service, id).await {
            Ok(n) => {
                s.resync = false;
                if n > 0 {
                    tracing::info!(terminal = %s.t.row.name, commands = n, "unconfirmed card changes queued again");
                }
            }
            Err(e) => {
                tracing::warn!(terminal = id, error = %e, "queueing unconfirmed card changes failed")
            }
        }
    }
    if s.successes >= ctx.options.clear_fault_after {
        let mut flag = s.comm_fault;
        settle(ctx, id, AlarmKind::CommFault, &mut flag, None).await;
        s.comm_fault = flag;
    }
    if let Some(d) = p.drift_s {
        let bad = d.abs() > p.drift_threshold_s.unwrap_or(ctx.options.drift_threshold_s);
        let mut flag = s.drift_alarm;
        let detail = bad.then_some(AlarmDetail::ClockDrift { secs: d });
        settle(ctx, id, AlarmKind::ClockDrift, &mut flag, detail).await;
        s.drift_alarm = flag;
    }
    if let Some(full) = p.memory_full {
        let mut flag = s.memory_alarm;
        let detail = full.then_some(match p.memory_percent {
            Some(percent) if percent < 100 => AlarmDetail::MemoryNearlyFull { percent },
            _ => AlarmDetail::MemoryFull,
        });
        settle(ctx, id, AlarmKind::MemoryFull, &mut flag, detail).await;
        s.memory_alarm = flag;
    }
}

/// A failed visit. Garbage (`garbled`) is a comm fault: the terminal, or something on its
/// line, transmits, so it is not offline. Only silence counts towards offline.
async fn failed(
    ctx: &Ctx,
    s: &mut Slot,
    line: &Line,
    error: &TerminalError,
    garbled: Option<Garbled>,
) {
    let id = s.id();
    s.failures = s.failures.saturating_add(1);
    s.successes = 0;
    // A card change sent while it was silent failed; what it missed goes out once it answers.
    s.resync = true;
    if matches!(error, TerminalError::Timeout(_)) {
        s.t.delta.timeouts += 1;
    }
    tracing::debug!(terminal = %s.t.row.name, failures = s.failures, error = %error, "poll failed");
    // Silence with noise around it (another machine's reply, a bad frame earlier in the
    // visit) raises the fault too, but still counts towards offline.
    let transmits = garbled.is_some() && matches!(error, TerminalError::Malformed(_));
    if let Some(g) = garbled {
        tracing::debug!(terminal = %s.t.row.name, error = %error, "garbled answer");
        let mut flag = s.comm_fault;
        let detail = Some(AlarmDetail::Garbled {
            line: line.name.clone(),
            address: g.address,
            fault: g.fault,
        });
        settle(ctx, id, AlarmKind::CommFault, &mut flag, detail).await;
        s.comm_fault = flag;
    }
    if transmits {
        // It transmits: silence, not garbage, makes a terminal offline.
        s.failures = 0;
        s.next_due = Instant::now() + poll_interval(line);
        if s.last_health.elapsed() >= HEALTH_EVERY {
            flush_health(ctx, s).await;
        }
        return;
    }
    let offline_after = ctx.options.offline_after.max(1);
    if s.failures >= offline_after {
        if s.t.online != Some(false) {
            s.t.online = Some(false);
            // Whatever answers next at this address is identified again, and its clock read
            // before its records (a patrol reader back from a round is corrected by it).
            s.t.identified = false;
            s.t.last_clock = None;
            flush_health(ctx, s).await;
            let mut flag = None;
            let detail = Some(AlarmDetail::NoAnswer {
                line: line.name.clone(),
            });
            settle(ctx, id, AlarmKind::TerminalOffline, &mut flag, detail).await;
            tracing::warn!(terminal = %s.t.row.name, error = %error, "terminal offline");
        }
        let steps = (s.failures - offline_after).min(8);
        let backoff = (poll_interval(line) * 2u32.pow(steps)).min(ctx.options.max_backoff);
        s.next_due = Instant::now() + backoff;
    } else if s.last_health.elapsed() >= HEALTH_EVERY {
        flush_health(ctx, s).await;
    }
}

async fn flush_health(ctx: &Ctx, s: &mut Slot) {
    let mut h = std::mem::take(&mut s.pending);
    h.online = s.t.online == Some(true);
    h.retries = s.t.delta.retries;
    h.crc_errors = s.t.delta.crc_errors;
    h.timeouts = s.t.delta.timeouts;
    match inventory::record_health(&ctx.pool, s.id(), &h).await {
        Ok(_) => {
            s.t.delta = Default::default();
            s.last_health = Instant::now();
        }
        Err(e) => {
            tracing::warn!(terminal = s.id(), error = %e, "writing terminal health failed");
            s.pending = h;
        }
    }
}

/// Runs `fut` until it ends, or until it has reported no progress for `limit` (None). A
/// short command reports none, so `limit` is its whole deadline; a long one keeps it away.
async fn within<F: Future>(limit: Duration, ticks: &AtomicU64, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut seen = ticks.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            r = &mut fut => return Some(r),
            _ = tokio::time::sleep(limit) => {
                let now = ticks.load(Ordering::Relaxed);
                if now == seen {
                    return None;
                }
                seen = now;
            }
        }
    }
}

/// Runs up to [`COMMANDS_PER_ROUND`] queued commands; true when there may be more.
async fn run_commands(
    driver: &mut Driver,
    ctx: &mut Ctx,
    slots: &mut [Slot],
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
        let outcome: CommandResult = match slots.iter_mut().find(|s| s.id() == claimed.terminal_id)
        {
            None => Err(CommandFailure::NotOnLine),
            Some(s) => {
                let limit = ctx.options.command_timeout;
                let ticks = ctx.ticks();
                ctx.begin_command(claimed.id);
                let r = within(limit, &ticks, driver.execute(ctx, &mut s.t, &cmd)).await;
                ctx.end_command().await;
                r.unwrap_or_else(|| {
                    driver.reset();
                    Err(CommandFailure::Deadline {
                        secs: u32::try_from(limit.as_secs()).unwrap_or(u32::MAX),
                    })
                })
            }
        };
        let ok = outcome.is_ok();
        Counters::add(
            if ok {
                &ctx.counters().commands_done
            } else {
                &ctx.counters().commands_failed
            },
            1,
        );
        match &outcome {
            Ok(o) => tracing::info!(command = claimed.id, result = %o, "command done"),
            Err(e) => tracing::info!(command = claimed.id, result = %e, "command failed"),
        }
        if let Err(e) = command::finish(&ctx.pool, claimed.id, &outcome).await {
            tracing::warn!(command = claimed.id, error = %e, "recording a command's outcome failed");
        }
        ctx.flush_trace().await;
    }
    true
}
