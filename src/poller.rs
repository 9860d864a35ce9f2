//! The poller: which process talks on which line, and the line actors that do the talking.
//!
//! * [`Supervisor`] runs ownership for every enabled line. A line is owned by exactly one task
//!   in exactly one process, chosen with a session-level PostgreSQL advisory lock
//!   (`pg_try_advisory_lock(LOCK_CLASS, line id)`) taken on a connection of its own that the
//!   owner keeps open while it owns the line. When the owner dies its session ends, the lock
//!   goes with it, and another supervisor takes the line at its next re-check (every
//!   [`Options::recheck`], 2 s by default).
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
mod drivers;
mod line;
mod native;
mod options;
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
pub const LOCK_CLASS: i32 = 0x6F63_6C6E;

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

/// Opens a connection of its own and tries the line's lock on it. Some(conn) = owner.
async fn try_own(pool: &PgPool, line_id: i64) -> Result<Option<PgConnection>, sqlx::Error> {
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
    if got {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
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
    let service = crate::domain::permission::Actor {
        operator_id: None,
        name: format!("serve:{worker}"),
        role: None,
    };
    let mut swept: Option<std::time::Instant> = None;
    loop {
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
                    let held = held_locks(&pool).await.unwrap_or_default();
                    for line in free.into_iter().filter(|l| !held.contains(&l.id)) {
                        if *stop.borrow() {
                            break;
                        }
                        match try_own(&pool, line.id).await {
                            Ok(Some(conn)) => {
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
                                let task = tokio::spawn(actor::run(ctx));
                                actors.insert(id, Owned { stop: tx, task });
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
            _ = tokio::time::sleep(options.recheck) => false,
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
    if tokio::time::timeout(Duration::from_secs(1), &mut ear)
        .await
        .is_err()
    {
        tracing::debug!("the wake listener did not stop in time");
        ear.abort();
    }
}
