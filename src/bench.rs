//! `onecard bench`: a simulated site, a real `onecard serve` child process, and a database of
//! its own (`onecard_bench`, dropped and recreated each run). Measures and prints, never fails
//! on a number:
//!
//! * the raw rate of a multi-row `UNNEST` insert into `pos_purchase` (the ceiling), then
//! * the ingest rate while `serve` drains a backlog preloaded into every terminal, with live
//!   traffic at `--rate` on top, and the ratio of the two;
//! * terminal event → console notification latency: forced-open alarms triggered one at a time
//!   through the simulator's control interface while a `PgListener` waits for the `Change`
//!   naming that alarm;
//! * `serve`'s CPU (utime + stime from `/proc/<pid>/stat`, as cores) and resident memory, over a
//!   steady window of `--seconds` after the backlog is gone;
//! * lost and duplicated records: after traffic stops and `serve` drains, the simulator's tally
//!   against the rows stored per terminal.
//!
//! The last line printed is one machine-readable summary starting `bench:`.

use crate::db::embedded::{quote_ident, Cluster};
use crate::db::notify::{Change, CHANNEL};
use crate::domain::money::Money;
use crate::sim::register::{register_site_with, RegisterOptions, RegisteredTerminal};
use crate::sim::runner::Site;
use crate::sim::site::{
    CardsConfig, DoorControllerConfig, LineConfig, NativeKind, NativeTerminalConfig, Ports,
    SiteConfig,
};
use crate::sim::TerminalKind;
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod attendance;
pub mod attendance_extract;
mod doors;
mod patrol;
mod persons;
mod settlement;
mod ssh;

/// The benchmark's own database: dropped and recreated at every run.
pub const DATABASE: &str = "onecard_bench";
/// The Doors benchmark's: a database of its own, so the two can run at once.
pub const DOORS_DATABASE: &str = "onecard_bench_doors";
/// UHPPOTE controllers in every site (the alarm sources), counted in `--terminals`.
const DOOR_CONTROLLERS: usize = 4;
/// Linux reports `/proc/<pid>/stat` times in USER_HZ, fixed at 100 by the kernel ABI.
const USER_HZ: f64 = 100.0;
/// Rows inserted by the raw UNNEST measurement, and its batch size.
const RAW_ROWS: usize = 200_000;
const RAW_BATCH: usize = 1_000;
/// The same at the batch a native POS answers READ_RECORDS with (17 purchases per reply).
const RAW_DEVICE_ROWS: usize = 20_000;
const RAW_DEVICE_BATCH: usize = 17;
/// Connections the raw insert runs on at once (as many as `serve`'s pool has busy at most).
const RAW_STREAMS: usize = 4;

/// `onecard bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Terminals in the site: RS-485 POS and patrol readers over TCP, plus 4 door controllers.
    #[arg(long, default_value_t = 1000)]
    pub terminals: usize,
    /// Live background records per second across the site, during the whole run.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Length of the steady window (after the backlog is drained) in which CPU, memory and
    /// alarm latency are measured.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Poll period of every line, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u32,
    /// Records preloaded into every RS-485 terminal before `serve` starts (0: idle polling).
    /// A thousand makes the drain last long enough (about ten seconds) to measure steadily.
    #[arg(long, default_value_t = 1000)]
    pub backlog: usize,
    /// RS-485 terminals per TCP line (at most 247 machine numbers on a bus).
    #[arg(long, default_value_t = 40)]
    pub per_line: usize,
    /// Forced-open alarms triggered one at a time in the steady window.
    #[arg(long, default_value_t = 60)]
    pub alarms: usize,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Only the person import benchmark, with this many persons (and the register search).
    #[arg(long)]
    pub persons: Option<usize>,
    /// Only the Doors tab benchmark: its frame time with a full feed, and the remote-open
    /// round trip against a simulated controller (polled every `--poll-ms`).
    #[arg(long)]
    pub doors: bool,
    /// Only the settlement benchmark: purchases posted to the ledger, and online authorisation.
    #[arg(long)]
    pub settlement: bool,
    /// Simulated POS asking for authorisation at once in `--settlement`.
    #[arg(long, default_value_t = 200)]
    pub pos: usize,
    /// Purchases of the month `--settlement` settles (across 200 merchants).
    #[arg(long, default_value_t = 10_000_000)]
    pub month_purchases: i64,
    /// Only the patrol benchmark: a month's omission calculation for `--guards` guards of 40
    /// checkpoints each.
    #[arg(long)]
    pub patrol: bool,
    /// Guards in `--patrol`.
    #[arg(long, default_value_t = 500)]
    pub guards: i64,
    /// Remote opens timed by `--doors`.
    #[arg(long, default_value_t = 50)]
    pub opens: usize,
    /// Only the attendance benchmark: a month's daily results for `--people` people.
    #[arg(long)]
    pub attendance: bool,
    /// People in `--attendance`.
    #[arg(long, default_value_t = 10_000)]
    pub people: i64,
    /// Only the SSH benchmark: bytes per second sent to a console over SSH, idle and watching
    /// a live door feed, each over `--seconds`.
    #[arg(long)]
    pub ssh: bool,
}

/// Where the benchmark database lives.
pub enum Server {
    /// The embedded cluster (started if needed).
    Embedded(Cluster),
    /// `DATABASE_URL`: the benchmark uses database `onecard_bench` on that server.
    External(String),
}

// println! panics when stdout is gone; a benchmark report is not worth a crash.
fn say(s: impl AsRef<str>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", s.as_ref());
    let _ = out.flush();
}

/// The database's URL with its database name replaced (password kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Drops and recreates the benchmark database; returns its connect options and its URL for
/// the `serve` child.
async fn fresh_database(
    server: &Server,
    database: &str,
) -> anyhow::Result<(PgConnectOptions, String)> {
    match server {
        Server::Embedded(cluster) => {
            let c2 = cluster.clone();
            tokio::task::spawn_blocking(move || c2.ensure_running()).await??;
            cluster.drop_database(database).await?;
            cluster.create_database_if_missing(database).await?;
            let options = cluster.connect_options(database);
            let url = options.to_url_lossy().to_string();
            Ok((options, url))
        }
        Server::External(url) => {
            let admin = PgConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid PostgreSQL URL")?;
            let mut conn = PgConnection::connect_with(&admin).await?;
            if admin.get_database() == Some(database) {
                bail!("DATABASE_URL names {database} itself: point it at another database on the server (the benchmark drops and recreates {database})");
            }
            let q = quote_ident(database);
            conn.execute(format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)").as_str())
                .await?;
            conn.execute(format!("CREATE DATABASE {q}").as_str())
                .await?;
            let _ = conn.close().await;
            Ok((admin.database(database), with_database(url, database)))
        }
    }
}

/// The site: `n - 4` RS-485 terminals (POS and patrol readers alternating) on TCP lines of
/// `per_line`, and 4 UHPPOTE door controllers.
pub fn site_config(args: &BenchArgs) -> SiteConfig {
    let native = args.terminals.saturating_sub(DOOR_CONTROLLERS).max(1);
    let per_line = args.per_line.clamp(1, 247);
    // Room for the preloaded backlog plus the live traffic of a long run.
    let capacity = (args.backlog * 2).max(20_000);
    let lines = native.div_ceil(per_line);
    SiteConfig {
        seed: args.seed,
        rate: args.rate,
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        alarm_percent: 0.0,
        patrol: None,
        cards: CardsConfig {
            first: 8_165_500,
            count: 2_000,
            granted: true,
        },
        door_controllers: (0..DOOR_CONTROLLERS as u32)
            .map(|i| DoorControllerConfig {
                serial: 405_419_896 + i,
                doors: 4,
                memory: 100_000,
                offset_secs: 0,
                drift_ppm: 0.0,
                name: String::new(),
                location: String::new(),
                named_doors: Vec::new(),
            })
            .collect(),
        attendance_machines: Vec::new(),
        lines: (0..lines)
            .map(|l| {
                let here = per_line.min(native - l * per_line);
                LineConfig {
                    name: format!("bench{l:03}"),
                    pty: false,
                    tcp: true,
                    noise_percent: 0.0,
                    terminals: (0..here)
                        .map(|i| NativeTerminalConfig {
                            kind: if (l * per_line + i).is_multiple_of(2) {
                                NativeKind::Pos
                            } else {
                                NativeKind::PatrolReader
                            },
                            machine_no: (i + 1) as u8,
                            capacity,
                            offset_secs: 0,
                            drift_ppm: 0.0,
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- process accounting

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// A `kB` line of `/proc/<pid>/status` (VmRSS, VmHWM), in MiB.
fn status_mb(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Busy and total jiffies of the whole machine (`/proc/stat`).
fn machine_jiffies() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?;
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    Some((total - idle, total))
}

/// CPU used between two points: serve's, ours (the simulator), and the machine's.
#[derive(Clone, Copy)]
struct CpuMark {
    at: Instant,
    serve: f64,
    me: f64,
    machine: (f64, f64),
}

impl CpuMark {
    fn now(serve: u32) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            serve: cpu_seconds(serve).unwrap_or(0.0),
            me: cpu_seconds(std::process::id()).unwrap_or(0.0),
            machine: machine_jiffies().unwrap_or((0.0, 0.0)),
        }
    }

    /// (serve cores, our cores, machine cores busy, seconds) since `self`.
    fn since(&self, serve: u32) -> CpuUse {
        let end = CpuMark::now(serve);
        let wall = end.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let (busy, total) = (
            end.machine.0 - self.machine.0,
            end.machine.1 - self.machine.1,
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        CpuUse {
            serve: (end.serve - self.serve) / wall,
            me: (end.me - self.me) / wall,
            machine: if total > 0.0 {
                busy / total * cores
            } else {
                0.0
            },
            cores,
            wall,
        }
    }
}

#[derive(Clone, Copy, Default)]
struct CpuUse {
    serve: f64,
    me: f64,
    machine: f64,
    cores: f64,
    wall: f64,
}

impl CpuUse {
    fn line(&self) -> String {
        format!(
            "serve {:.2} cores, bench+simulator {:.2} cores, whole machine {:.2} of {} cores busy ({:.1} s)",
            self.serve, self.me, self.machine, self.cores, self.wall
        )
    }
}

/// The `serve` child, killed if the benchmark ends early.
struct ServeChild(Child);

impl ServeChild {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    /// SIGTERM, then up to 10 s for a clean stop, then SIGKILL.
    async fn stop(mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(self.0.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

// ---------------------------------------------------------------- measurements

/// Records stored for the site so far: every record number is consecutive from 1 and the
/// bookmark moves in the transaction that stores them, so the sum of bookmarks is the count.
async fn stored_now(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(sum(bookmark), 0)::int8 FROM terminal")
        .fetch_one(pool)
        .await
}

/// Inserts `rows` purchases for `terminal_id` in UNNEST batches of `batch` (one statement,
/// autocommit, each) with no duplicate check: the ceiling. Returns rows per second.
async fn raw_unnest(
    pool: &PgPool,
    terminal_id: i64,
    first_record: i64,
    rows: usize,
    batch: usize,
) -> Result<f64, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let at = chrono::Local::now().naive_local();
    let amount = Money::from_fen(1250);
    let balance_after = Money::from_fen(12500);
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = batch.min(rows - done);
        let nos: Vec<i64> = (0..n as i64)
            .map(|i| first_record + done as i64 + i)
            .collect();
        sqlx::query(
            "INSERT INTO pos_purchase (terminal_id, record_no, card, amount, balance_after, txn_no, meal_slot, online, terminal_time)
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::numeric[], $5::numeric[], $6::bigint[], $7::smallint[], $8::bool[], $9::timestamp[])",
        )
        .bind(terminal_id)
        .bind(&nos)
        .bind(nos.iter().map(|i| 8_165_500 + i % 2000).collect::<Vec<i64>>())
        .bind(vec![amount; n])
        .bind(vec![balance_after; n])
        .bind(&nos)
        .bind(vec![2i16; n])
        .bind(vec![false; n])
        .bind(vec![Some(at); n])
        .execute(&mut *conn)
        .await?;
        done += n;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// `raw_unnest` on `streams` connections at once, each on its own record range: the server's
/// rate with the same concurrency as `serve`'s pool gives it. Rows per second over all.
async fn raw_unnest_parallel(
    pool: &PgPool,
    terminal_id: i64,
    first_record: i64,
    rows: usize,
    batch: usize,
    streams: usize,
) -> Result<f64, sqlx::Error> {
    let per = rows / streams.max(1);
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams.max(1))
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                raw_unnest(
                    &pool,
                    terminal_id,
                    first_record + (i * per) as i64,
                    per,
                    batch,
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))??;
    }
    Ok((per * streams.max(1)) as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// A terminal on a disabled line (no poller touches it) to hold the raw rows.
async fn raw_terminal(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, enabled)
         VALUES ('bench raw unnest', 'native', 'tcp', '127.0.0.1:9', false) RETURNING id",
    )
    .fetch_one(pool)
    .await?;
    sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name, in_scan)
         VALUES ($1, 'pos', 1, 'bench raw unnest', false) RETURNING id",
    )
    .bind(line)
    .fetch_one(pool)
    .await
}

/// Every `Change` that names alarms, with the instant it arrived.
fn listen_alarms(listener: PgListener) -> mpsc::UnboundedReceiver<(Instant, Vec<i64>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut listener = listener;
        loop {
            match listener.recv().await {
                Ok(n) => {
                    let at = Instant::now();
                    if let Some(c) = Change::parse(n.payload()) {
                        if !c.alarm.is_empty() && tx.send((at, c.alarm)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bench listener failed");
                    return;
                }
            }
        }
    });
    rx
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One forced-open alarm on `door/<serial>`: the time from the event to its notification.
async fn one_alarm(
    site: &Site,
    pool: &PgPool,
    rx: &mut mpsc::UnboundedReceiver<(Instant, Vec<i64>)>,
    sim_id: &str,
    terminal_id: i64,
    door: u8,
) -> anyhow::Result<Option<f64>> {
    while rx.try_recv().is_ok() {}
    let started = Instant::now();
    let (reply, _) =
        crate::sim::control::handle(&site.terminals, &format!("{sim_id} forced {door}"));
    // "ok event 17: ForcedOpen door 2 card 0"
    let index: i64 = reply
        .strip_prefix("ok event ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("the simulator said {reply:?} to a forced-open alarm"))?;
    let detail = format!("record {index}");
    let deadline = started + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((at, ids))) = tokio::time::timeout(left, rx.recv()).await else {
            return Ok(None);
        };
        let ours: bool = sqlx::query_scalar(
            "SELECT exists (SELECT 1 FROM alarm WHERE id = ANY($1) AND terminal_id = $2
                 AND kind = 'forced_open' AND detail = $3)",
        )
        .bind(&ids)
        .bind(terminal_id)
        .bind(&detail)
        .fetch_one(pool)
        .await?;
        if ours {
            return Ok(Some(at.duration_since(started).as_secs_f64() * 1000.0));
        }
    }
}

/// (lost, duplicated, extra) after the drain: tally against rows per terminal.
async fn account(
    pool: &PgPool,
    site: &Site,
    reg: &[RegisteredTerminal],
) -> Result<(u64, u64, u64), sqlx::Error> {
    let mut rows: BTreeMap<i64, i64> = BTreeMap::new();
    let mut duplicated = 0i64;
    for table in ["door_event", "pos_purchase", "patrol_scan"] {
        let counts: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT terminal_id, count(*)::int8 FROM {table} GROUP BY terminal_id"
        ))
        .fetch_all(pool)
        .await?;
        for (t, n) in counts {
            *rows.entry(t).or_default() += n;
        }
        // Rows whose (terminal, record number) appears more than once: the key forbids it,
        // counted anyway.
        let d: i64 = sqlx::query_scalar(&format!(
            "SELECT coalesce(sum(n - 1), 0)::int8 FROM
                 (SELECT count(*) AS n FROM {table} GROUP BY terminal_id, record_no HAVING count(*) > 1) d"
        ))
        .fetch_one(pool)
        .await?;
        duplicated += d;
    }
    let tally = site.tally();
    let (mut lost, mut extra) = (0u64, 0u64);
    for r in reg.iter().filter(|r| r.kind.record_table().is_some()) {
        let want = tally.get(&r.sim_id).copied().unwrap_or(0);
        let have = u64::try_from(rows.get(&r.terminal_id).copied().unwrap_or(0)).unwrap_or(0);
        lost += want.saturating_sub(have);
        extra += have.saturating_sub(want);
    }
    Ok((lost, u64::try_from(duplicated).unwrap_or(0), extra))
}

fn generated(site: &Site) -> u64 {
    site.tally().values().sum()
}

// ---------------------------------------------------------------- the run

/// Runs the benchmark and prints its report; the last line is the `bench:` summary.
pub async fn run(server: Server, args: BenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.persons {
        return persons::run(&server, n, args.seed).await;
    }
    if args.settlement {
        return settlement::run(
            &server,
            args.pos,
            args.poll_ms,
            args.seed,
            args.month_purchases,
        )
        .await;
    }
    if args.patrol {
        return patrol::run(&server, args.guards, args.seed).await;
    }
    if args.attendance {
        return attendance::run(&server, args.people, args.seed).await;
    }
    if args.doors {
        return doors::run(&server, args.opens, args.poll_ms).await;
    }
    if args.ssh {
        return ssh::run(&server, args.seconds).await;
    }
    let config = site_config(&args);
    let native: usize = config.lines.iter().map(|l| l.terminals.len()).sum();
    say(format!(
        "onecard bench: {} terminals ({native} RS-485 on {} TCP lines of up to {}, {DOOR_CONTROLLERS} door controllers), \
         backlog {} per RS-485 terminal, live {} records/s, poll every {} ms, steady window {} s",
        native + DOOR_CONTROLLERS,
        config.lines.len(),
        args.per_line.clamp(1, 247),
        args.backlog,
        args.rate,
        args.poll_ms,
        args.seconds
    ));

    // The database.
    let (options, url) = fresh_database(&server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(6)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await?;
    crate::db::migrate(&pool).await?;
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')",
    )
    .fetch_one(&pool)
    .await?;
    say(format!(
        "database: {DATABASE} on PostgreSQL {} ({}), fsync {}, synchronous_commit {}",
        settings.0,
        match &server {
            Server::Embedded(_) => "embedded cluster",
            Server::External(_) => "DATABASE_URL",
        },
        settings.1,
        settings.2
    ));

    // The raw ceiling first, on a quiet server.
    let raw_id = raw_terminal(&pool).await?;
    let raw_first = raw_unnest_parallel(&pool, raw_id, 1, RAW_ROWS, RAW_BATCH, RAW_STREAMS).await?;
    let raw_device_rps = raw_unnest_parallel(
        &pool,
        raw_id,
        RAW_ROWS as i64 + 1,
        RAW_DEVICE_ROWS,
        RAW_DEVICE_BATCH,
        RAW_STREAMS,
    )
    .await?;
    say(format!(
        "raw UNNEST into pos_purchase on {RAW_STREAMS} connections: {raw_first:.0} rows/s ({RAW_ROWS} rows, {RAW_BATCH} a statement); \
         {raw_device_rps:.0} rows/s at {RAW_DEVICE_BATCH} a statement (a POS reply's worth)"
    ));

    // The site, its backlog and its registration.
    let site = Site::start(&config, Ports::ephemeral()).await?;
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x6265_6e63);
    for t in site
        .terminals
        .iter()
        .filter(|t| matches!(t.kind(), TerminalKind::Pos | TerminalKind::PatrolReader))
    {
        for _ in 0..args.backlog {
            t.traffic(&mut rng);
        }
    }
    let backlog = generated(&site);
    let reg = register_site_with(
        &pool,
        &site,
        &RegisterOptions {
            prefix: "bench ".into(),
            native_via_pty: false,
            poll_interval_ms: i32::try_from(args.poll_ms.max(50)).unwrap_or(1000),
        },
    )
    .await?;
    say(format!(
        "site up: {} terminals registered, {backlog} records waiting in them",
        reg.len()
    ));

    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    let mut alarms_rx = listen_alarms(listener);

    // `serve`, a child process of its own so its CPU and memory are its own.
    let exe = std::env::current_exe().context("cannot find the onecard binary")?;
    let child = Command::new(exe)
        .args(["serve", "--worker", "bench", "--recheck-ms", "500"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start onecard serve")?;
    let mut serve = ServeChild(child);
    let pid = serve.pid();
    let start_mark = CpuMark::now(pid);
    let traffic = site.run_traffic(args.rate, args.seed, 0.0);

    // Ingest: sample the stored count until the backlog is in.
    let drain_limit = Duration::from_secs(600);
    let (lo, hi) = (backlog as f64 * 0.1, backlog as f64 * 0.9);
    let mut t_lo: Option<(Instant, i64)> = None;
    let mut t_hi: Option<(Instant, i64)> = None;
    let mut first: Option<Instant> = None;
    let mut last_report = Instant::now();
    let mut stored;
    let mut drain_mark = start_mark;
    loop {
        if !serve.alive() {
            bail!("onecard serve exited early (see its messages above)");
        }
        stored = stored_now(&pool).await?;
        let now = Instant::now();
        if stored > 0 && first.is_none() {
            first = Some(now);
            drain_mark = CpuMark::now(pid);
        }
        if t_lo.is_none() && stored as f64 >= lo && stored > 0 {
            t_lo = Some((now, stored));
        }
        if t_hi.is_none() && stored as f64 >= hi && stored > 0 {
            t_hi = Some((now, stored));
        }
        if stored as u64 >= backlog {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            say(format!(
                "  … {stored} of {backlog} stored after {:.1} s",
                start_mark.at.elapsed().as_secs_f64()
            ));
        }
        if start_mark.at.elapsed() > drain_limit {
            say(format!(
                "  backlog not drained within {} s: measuring what there is",
                drain_limit.as_secs()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained_at = Instant::now();
    let drain_cpu = drain_mark.since(pid);
    let ingest_rps = match (t_lo, t_hi) {
        (Some((a, na)), Some((b, nb))) if b > a => (nb - na) as f64 / (b - a).as_secs_f64(),
        _ => first.map_or(0.0, |f| {
            stored as f64 / drained_at.duration_since(f).as_secs_f64().max(1e-9)
        }),
    };
    if backlog > 0 {
        say(format!(
            "ingest: {stored} records stored {:.1} s after serve started (first after {:.1} s); \
             {ingest_rps:.0} records/s between 10% and 90% of the backlog",
            drained_at.duration_since(start_mark.at).as_secs_f64(),
            first.map_or(0.0, |f| f.duration_since(start_mark.at).as_secs_f64())
        ));
        say(format!("  CPU while draining: {}", drain_cpu.line()));
    } else {
        say("ingest: not measured (--backlog 0: idle polling only; ingest_rps=0)");
    }

    // Every terminal answering before the steady window.
    let online_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let online: i64 = sqlx::query_scalar(
            "SELECT count(*)::int8 FROM terminal WHERE status = 'online' AND in_scan",
        )
        .fetch_one(&pool)
        .await?;
        if online as usize >= reg.len() || Instant::now() > online_deadline {
            say(format!(
                "{online} of {} terminals online after {:.1} s",
                reg.len(),
                start_mark.at.elapsed().as_secs_f64()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The steady window: live traffic, polling, and alarms one at a time.
    let doors: Vec<&RegisteredTerminal> = reg
        .iter()
        .filter(|r| r.kind == TerminalKind::DoorController)
        .collect();
    let window = Duration::from_secs(args.seconds.max(1));
    let steady_mark = CpuMark::now(pid);
    let steady_stored = stored_now(&pool).await?;
    let mut latencies = Vec::new();
    let mut timeouts = 0usize;
    let gap = window
        .checked_div(args.alarms.max(1) as u32)
        .unwrap_or(window);
    // Every sample is taken even if that outlasts the window; the gaps are random (0.5 to 1.5
    // of the mean) so triggers land at every phase of the poll period.
    for i in 0..args.alarms {
        if doors.is_empty() {
            break;
        }
        let d = doors[i % doors.len()];
        let door = (i / doors.len() % 4) as u8 + 1;
        let sample_start = Instant::now();
        match one_alarm(&site, &pool, &mut alarms_rx, &d.sim_id, d.terminal_id, door).await? {
            Some(ms) => latencies.push(ms),
            None => timeouts += 1,
        }
        let next = gap.mul_f64(rng.gen_range(0.5..1.5));
        tokio::time::sleep(next.saturating_sub(sample_start.elapsed())).await;
    }
    let left = window.saturating_sub(steady_mark.at.elapsed());
    tokio::time::sleep(left).await;
    let steady_cpu = steady_mark.since(pid);
    let steady_rps = (stored_now(&pool).await? - steady_stored) as f64 / steady_cpu.wall.max(1e-9);
    let rss_mb = status_mb(pid, "VmRSS:").unwrap_or(0.0);
    let hwm_mb = status_mb(pid, "VmHWM:").unwrap_or(0.0);
    say(format!(
        "steady window: {steady_rps:.0} records/s stored (live rate {}), CPU {}",
        args.rate,
        steady_cpu.line()
    ));
    say(format!(
        "serve memory: {rss_mb:.1} MiB resident now, {hwm_mb:.1} MiB at peak"
    ));
    latencies.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0.0),
    );
    say(format!(
        "alarm latency (forced open → NOTIFY received), {} samples{}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; poll period {} ms",
        latencies.len(),
        if timeouts > 0 {
            format!(", {timeouts} not notified within 5 s")
        } else {
            String::new()
        },
        args.poll_ms
    ));

    // Stop the traffic, let serve drain, and account for every record.
    site.stop();
    traffic.abort();
    let _ = traffic.await;
    let want = generated(&site) as i64;
    let settle = Instant::now();
    loop {
        let have = stored_now(&pool).await?;
        if have >= want || settle.elapsed() > Duration::from_secs(60) || !serve.alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total_cpu = start_mark.since(pid);
    serve.stop().await;
    let (lost, duplicated, extra) = account(&pool, &site, &reg).await?;
    // The raw rate again on the now quiet server (the machine is shared): the better of the
    // two is the ceiling the ratio is taken against.
    let raw_again = raw_unnest_parallel(
        &pool,
        raw_id,
        (RAW_ROWS + RAW_DEVICE_ROWS) as i64 + 1,
        RAW_ROWS,
        RAW_BATCH,
        RAW_STREAMS,
    )
    .await?;
    let raw_rps = raw_first.max(raw_again);
    say(format!(
        "raw UNNEST again after the run: {raw_again:.0} rows/s; ceiling taken: {raw_rps:.0} rows/s"
    ));
    say(format!(
        "accounting: {want} records generated, lost {lost}, duplicated {duplicated}{}",
        if extra > 0 {
            format!(", {extra} stored beyond the tally")
        } else {
            String::new()
        }
    ));
    say(format!("serve over the whole run: {}", total_cpu.line()));
    let ratio = if raw_rps > 0.0 {
        ingest_rps / raw_rps
    } else {
        0.0
    };
    say(format!(
        "bench: terminals={} ingest_rps={:.0} raw_unnest_rps={:.0} ratio={:.3} alarm_p50_ms={:.1} alarm_p99_ms={:.1} alarm_max_ms={:.1} serve_cpu={:.2} serve_rss_mb={:.1} lost={} duplicated={}",
        reg.len(),
        ingest_rps,
        raw_rps,
        ratio,
        p50,
        p99,
        max,
        steady_cpu.serve,
        hwm_mb,
        lost,
        duplicated
    ));
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gets_the_bench_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/main?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }

    #[test]
    fn the_site_has_the_asked_number_of_terminals() {
        let args = BenchArgs {
            terminals: 1000,
            rate: 0.0,
            seconds: 1,
            poll_ms: 1000,
            backlog: 0,
            per_line: 40,
            alarms: 0,
            seed: 1,
            persons: None,
            doors: false,
            settlement: false,
            patrol: false,
            guards: 0,
            pos: 0,
            month_purchases: 0,
            opens: 0,
            attendance: false,
            people: 0,
            ssh: false,
        };
        let c = site_config(&args);
        let native: usize = c.lines.iter().map(|l| l.terminals.len()).sum();
        assert_eq!(native + c.door_controllers.len(), 1000);
        assert!(c.lines.iter().all(|l| l.terminals.len() <= 40));
    }
}
