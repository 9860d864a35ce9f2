//! The poller: which process talks on which line, and the line actors that do the talking.
//!
//! * [`Supervisor`] runs ownership for every enabled line. A line is owned by exactly one task
//!   in exactly one process, chosen with a session-level PostgreSQL advisory lock
//!   (`pg_try_advisory_lock(LOCK_CLASS, line id)`) taken on a connection of its own that the
//!   owner keeps open while it owns the line. When the owner dies its session ends, the lock
//!   goes with it, and another supervisor takes the line at its next re-check (every
//!   [`Options::recheck`], 2 s by default).
//! * Ownership also rests on progress: a live session is not enough. The owner names the
//!   session holding each line's lock in `line_owner` and beats there every
//!   [`Options::heartbeat`]. A supervisor that finds a line's lock held by a session whose beat
//!   is older than [`Options::stale_after`] (a frozen or wedged owner) fences it: it ends that
//!   session with `pg_terminate_backend`, which frees the lock, and takes the line. An owner
//!   whose beat finds its row taken over stops its actor, which then says nothing more on the
//!   line (its lock connection is gone, and the actor checks it before every visit).
//! * The line actor (`actor`) polls its terminals round-robin, stores new records in batches
//!   (one transaction each, through [`crate::db::ingest`]), and only after the commit moves the
//!   terminal's own bookmark (UHPPOTE event index, RS-485 ACK_RECORDS). It claims the line's
//!   queued commands, keeps each terminal's status, statistics and fault alarms, and publishes
//!   the line's frames on NOTIFY channel [`TRACE_CHANNEL`] while `line.trace_until` is ahead.
//! * One driver per protocol (`uhppote`, `native`, `zk`) behind the `line::LineDriver` trait;
//!   `drivers` picks one by the line's protocol. The actor knows only the trait.
//! * Once a terminal answers again (after silence, or first after `serve` starts), the card changes it never
//!   confirmed are queued again ([`crate::db::propagation::requeue_unconfirmed`]).

mod actor;
pub(crate) mod attendance;
pub(crate) mod balances;
mod drivers;
pub mod extraction;
mod line;
mod native;
mod options;
pub(crate) mod patrol;
mod stats;
mod uhppote;
mod wake;
mod zk;

use sqlx::{Connection, PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::db::listen::{CARD_CHANNEL, TRACE_CHANNEL};
pub use options::Options;
pub use stats::{Counters, Stats};

/// First key of every line's advisory lock (the second is the line id): "ocln".
pub const LOCK_CLASS: i32 = crate::db::ingest::LINE_LOCK_CLASS;

struct Shared {
    counters: Arc<Counters>,
    owned: Mutex<BTreeSet<i64>>,
    wakers: Arc<wake::Wakers>,
}

/// The longest [`Supervisor::stop`] waits for the supervising task, beyond the actors' grace.
const STOP_LIMIT: Duration = Duration::from_secs(4);

/// How often `serve` tells terminals about cards whose validity began or ended.
const VALIDITY_SWEEP: Duration = Duration::from_secs(3600);

/// Runs line ownership for every enabled line until stopped.
pub struct Supervisor {
    stop_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
    worker: String,
}

impl Supervisor {
    /// Starts with the default [`Options`]. `worker` names this process in the command queue
    /// (`claimed_by`) and the logs, e.g. `host:pid`.
    pub fn start(pool: PgPool, worker: impl Into<String>) -> Supervisor {
        Supervisor::start_with(pool, worker, Options::default())
    }

    pub fn start_with(pool: PgPool, worker: impl Into<String>, options: Options) -> Supervisor {
        let worker = worker.into();
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            counters: Arc::new(Counters::default()),
            owned: Mutex::new(BTreeSet::new()),
            wakers: Arc::new(wake::Wakers::default()),
        });
        let task = tokio::spawn(supervise(
            pool,
            worker.clone(),
            Arc::new(options),
            shared.clone(),
            stop_rx,
        ));
        Supervisor {
            stop_tx,
            task,
            shared,
            worker,
        }
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Lines this supervisor owns now.
    pub fn owned_lines(&self) -> Vec<i64> {
        lock(&self.shared.owned).iter().copied().collect()
    }

    /// False once the supervising task has ended (it only ends when stopped).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops every line actor after its current step (a visit is cut short), releases the
    /// locks, and waits: within a few seconds whatever a device does, since an actor that
    /// does not stop within [`Options::stop_grace`] is aborted (its lock connection is
    /// dropped, which frees its lock).
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_LIMIT, &mut task).await.is_err() {
            tracing::warn!("the supervisor did not stop in time; aborted");
            task.abort();
            let _ = task.await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Owned {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The backend of the session holding the line's lock (`line_owner.backend_pid`).
    backend_pid: i32,
}

impl Drop for Owned {
    /// An actor never outlives its supervisor, even one that was itself aborted.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Line ids whose lock some session of this database holds.
async fn held_locks(pool: &PgPool) -> Result<BTreeSet<i64>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT objid::int8 FROM pg_locks
         WHERE locktype = 'advisory' AND classid = $1::int4::oid AND objsubid = 2 AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(LOCK_CLASS)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Opens a connection of its own and tries the line's lock on it. Some((conn, backend pid)) =
/// owner, named in `line_owner` with a fresh beat.
async fn try_own(
    pool: &PgPool,
    line_id: i64,
    worker: &str,
) -> Result<Option<(PgConnection, i32)>, sqlx::Error> {
    let Ok(key) = i32::try_from(line_id) else {
        tracing::error!(line_id, "line id does not fit an advisory lock key");
        return Ok(None);
    };
    let options = pool.connect_options();
    let mut conn = PgConnection::connect_with(&options).await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(key)
        .fetch_one(&mut conn)
        .await?;
    if !got {
        let _ = conn.close().await;
        return Ok(None);
    }
    let named = sqlx::query_scalar(
        "INSERT INTO line_owner (line_id, worker, backend_pid) VALUES ($1, $2, pg_backend_pid())
         ON CONFLICT (line_id) DO UPDATE SET worker = EXCLUDED.worker,
             backend_pid = EXCLUDED.backend_pid, taken_at = now(), heartbeat_at = now()
         RETURNING backend_pid",
    )
    .bind(line_id)
    .bind(worker)
    .fetch_one(&mut conn)
    .await;
    match named {
        Ok(pid) => Ok(Some((conn, pid))),
        Err(e) => {
            // Closing the session lets the lock go: an owner nobody can see is no owner.
            let _ = conn.close().await;
            Err(e)
        }
    }
}

/// The beat for every line owned: the lines still ours (their `line_owner` row names the
/// session holding our lock). A line missing was fenced and taken by another process.
async fn beat(pool: &PgPool, owned: &[(i64, i32)]) -> Result<BTreeSet<i64>, sqlx::Error> {
    if owned.is_empty() {
        return Ok(BTreeSet::new());
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE line_owner o SET heartbeat_at = now()
         FROM unnest($1::int8[], $2::int4[]) AS u(line_id, pid)
         WHERE o.line_id = u.line_id AND o.backend_pid = u.pid
         RETURNING o.line_id",
    )
    .bind(owned.iter().map(|o| o.0).collect::<Vec<_>>())
    .bind(owned.iter().map(|o| o.1).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Ends the sessions holding the locks of `lines` whose owner has not beaten for
/// `stale_after`: their locks are free when this returns. Returns the lines fenced.
async fn fence_stalled(
    pool: &PgPool,
    lines: &[i64],
    stale_after: Duration,
    worker: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    // Only the session that holds the lock now is ended: never a backend whose pid was reused.
    let stalled: Vec<(i64, i32, String, f64)> = sqlx::query_as(
        "SELECT o.line_id, o.backend_pid, o.worker,
                extract(epoch FROM now() - o.heartbeat_at)::float8
         FROM line_owner o
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.classid = $1::int4::oid
              AND l.objid::int8 = o.line_id AND l.objsubid = 2 AND l.granted
              AND l.pid = o.backend_pid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         WHERE o.line_id = ANY($2) AND o.heartbeat_at < now() - make_interval(secs => $3)",
    )
    .bind(LOCK_CLASS)
    .bind(lines)
    .bind(stale_after.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let mut fenced = Vec::new();
    for (line_id, pid, owner, silent_s) in stalled {
        // As the owner (serve's role may not end another login's session), only the session
        // holding this line's lock; waits up to 5 s until it is gone, and with it the lock.
        let ended: bool = sqlx::query_scalar("SELECT onecard_fence_line_owner($1, $2, $3)")
            .bind(pid)
            .bind(LOCK_CLASS)
            .bind(line_id)
            .fetch_one(pool)
            .await?;
        if ended {
            tracing::warn!(
                line_id,
                owner = %owner,
                worker = %worker,
                silent_s = format!("{silent_s:.1}"),
                "the line's owner made no progress; ended its session to take the line"
            );
            fenced.push(line_id);
        } else {
            tracing::warn!(line_id, owner = %owner, "ending a stalled owner's session failed");
        }
    }
    Ok(fenced)
}

async fn supervise(
    pool: PgPool,
    worker: String,
    options: Arc<Options>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut actors: HashMap<i64, Owned> = HashMap::new();
    let mut ear = tokio::spawn(wake::listen(
        pool.clone(),
        shared.wakers.clone(),
        stop.clone(),
    ));
    // Uploaded purchase batches folded into balances while the lines run, and after them.
    let (fold_stop, fold_stopped) = watch::channel(false);
    let mut folder = tokio::spawn(balances::run(pool.clone(), fold_stopped));
    // Due visits laid out, closed rounds swept, overdue checkpoints alarmed.
    let mut patrolling = tokio::spawn(patrol::run(pool.clone(), fold_stop.subscribe()));
    // Attendance results kept current from new punches and corrections.
    let mut attending = tokio::spawn(attendance::run(pool.clone(), fold_stop.subscribe()));
    let service = crate::domain::permission::Actor {
        operator_id: None,
        name: format!("serve:{worker}"),
        role: None,
        session: None,
    };
    // Attendance machines extracted when due (serve's; a test's supervisor opts in).
    let mut extracting = options.extract_schedule.then(|| {
        tokio::spawn(extraction::run(
            pool.clone(),
            service.clone(),
            fold_stop.subscribe(),
        ))
    });
    let mut swept: Option<std::time::Instant> = None;
    let mut scanned: Option<std::time::Instant> = None;
    // Several beats within the bound, so one slow query does not get an owner fenced.
    let beat_every = options
        .heartbeat
        .min(options.stale_after / 4)
        .max(Duration::from_millis(50));
    loop {
        // The beat for our lines; a line fenced by another process is given up at once.
        let ours: Vec<(i64, i32)> = actors
            .iter()
            .filter(|(_, a)| !a.task.is_finished())
            .map(|(id, a)| (*id, a.backend_pid))
            .collect();
        match beat(&pool, &ours).await {
            Ok(kept) => {
                for (id, _) in ours.iter().filter(|(id, _)| !kept.contains(id)) {
                    tracing::warn!(line_id = id, worker = %worker, "another process fenced us and took the line; giving it up");
                    if let Some(a) = actors.get(id) {
                        let _ = a.stop.send(true);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "the owner's beat failed"),
        }
        if scanned.is_some_and(|at| at.elapsed() < options.recheck) {
            let wait = options
                .recheck
                .saturating_sub(scanned.map_or(Duration::ZERO, |at| at.elapsed()))
                .min(beat_every);
            let dropped = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                r = stop.changed() => r.is_err(),
            };
            if dropped || *stop.borrow() {
                break;
            }
            continue;
        }
        scanned = Some(std::time::Instant::now());
        // Cards whose validity began or ended: hourly, and at start.
        if swept.is_none_or(|at| at.elapsed() >= VALIDITY_SWEEP) {
            swept = Some(std::time::Instant::now());
            match crate::db::propagation::sweep_validity(&pool, &service).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(commands = n, "validity sweep queued card changes"),
                Err(e) => tracing::warn!(error = %e, "validity sweep failed"),
            }
        }
        // Actors that ended (lost lock, line disabled, a failure) give the line back.
        actors.retain(|id, a| {
            if a.task.is_finished() {
                lock(&shared.owned).remove(id);
                shared.wakers.forget(*id);
                false
            } else {
                true
            }
        });
        match crate::db::terminal::lines(&pool).await {
            Ok(lines) => {
                let enabled: BTreeSet<i64> =
                    lines.iter().filter(|l| l.enabled).map(|l| l.id).collect();
                for (id, a) in &actors {
                    if !enabled.contains(id) {
                        let _ = a.stop.send(true);
                    }
                }
                let free: Vec<_> = lines
                    .into_iter()
                    .filter(|l| l.enabled && !actors.contains_key(&l.id))
                    .collect();
                if !free.is_empty() {
                    let ids: Vec<i64> = free.iter().map(|l| l.id).collect();
                    if let Err(e) = fence_stalled(&pool, &ids, options.stale_after, &worker).await {
                        tracing::warn!(error = %e, "looking for stalled owners failed");
                    }
                    let held = held_locks(&pool).await.unwrap_or_default();
                    for line in free.into_iter().filter(|l| !held.contains(&l.id)) {
                        if *stop.borrow() {
                            break;
                        }
                        match try_own(&pool, line.id, &worker).await {
                            Ok(Some((conn, backend_pid))) => {
                                tracing::info!(line = %line.name, worker = %worker, "took the line");
                                Counters::add(&shared.counters.takeovers, 1);
                                lock(&shared.owned).insert(line.id);
                                let (tx, rx) = watch::channel(false);
                                let wake = shared.wakers.register(line.id);
                                let ctx = actor::ActorSetup {
                                    pool: pool.clone(),
                                    line,
                                    worker: worker.clone(),
                                    service: service.clone(),
                                    options: options.clone(),
                                    counters: shared.counters.clone(),
                                    lock_conn: conn,
                                    wake,
                                    stop: rx,
                                };
                                let id = ctx.line.id;
                                let task = tokio::spawn(crate::db::ingest::as_owner(
                                    id,
                                    backend_pid,
                                    actor::run(ctx),
                                ));
                                actors.insert(
                                    id,
                                    Owned {
                                        stop: tx,
                                        task,
                                        backend_pid,
                                    },
                                );
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, "taking a line failed"),
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the lines failed"),
        }
        let dropped = tokio::select! {
            _ = tokio::time::sleep(options.recheck.min(beat_every)) => false,
            // Err: the Supervisor was dropped without stop(); treat it as stop, never spin.
            r = stop.changed() => r.is_err(),
        };
        if dropped || *stop.borrow() {
            break;
        }
    }
    for a in actors.values() {
        let _ = a.stop.send(true);
    }
    let grace = tokio::time::Instant::now() + options.stop_grace;
    for (id, mut a) in actors {
        if tokio::time::timeout_at(grace, &mut a.task).await.is_err() {
            tracing::warn!(line = id, "the line's actor did not stop in time; aborted");
            a.task.abort();
            let _ = (&mut a.task).await;
        }
        lock(&shared.owned).remove(&id);
        shared.wakers.forget(id);
    }
    let _ = fold_stop.send(true);
    if tokio::time::timeout(Duration::from_secs(1), &mut patrolling)
        .await
        .is_err()
    {
        tracing::debug!("the patrol pass did not stop in time");
        patrolling.abort();
    }
    if tokio::time::timeout(Duration::from_secs(1), &mut attending)
        .await
        .is_err()
    {
        tracing::debug!("the attendance pass did not stop in time");
        attending.abort();
    }
    if let Some(task) = &mut extracting {
        if tokio::time::timeout(Duration::from_secs(1), &mut *task)
            .await
            .is_err()
        {
            tracing::debug!("the extraction schedule did not stop in time");
            task.abort();
        }
    }
    if tokio::time::timeout(balances::LAST + Duration::from_millis(200), &mut folder)
        .await
        .is_err()
    {
        tracing::warn!("the balance folder did not stop in time");
        folder.abort();
    }
    if tokio::time::timeout(Duration::from_secs(1), &mut ear)
        .await
        .is_err()
    {
        tracing::debug!("the wake listener did not stop in time");
        ear.abort();
    }
}
