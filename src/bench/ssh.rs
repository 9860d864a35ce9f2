//! `onecard bench --ssh`: the bytes an SSH console costs. An SSH server (`onecard ssh`'s) on
//! 127.0.0.1 against the benchmark's own database, an in-process russh client signed in by
//! password at 120x40; then the bytes per second sent to (a) the console sitting idle and (b) the
//! console on the Doors tab while door events are stored at a steady rate, each over
//! `--seconds`. The server counts what it sends. Prints; never fails on a number.

use super::{fresh_database, say, Server};
use crate::app::state::{DbWhere, ThemeName};
use crate::db::ingest::{self, DoorEventRow};
use crate::db::operator::{self, NewOperator};
use crate::db::terminal::{self, NewLine, NewTerminal};
use crate::domain::permission::Actor;
use crate::domain::role::Role;
use crate::i18n::Lang;
use crate::keymap::Keymap;
use crate::ssh::{self, Limits, Site, Stats};
use anyhow::{bail, Context};
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The benchmark's database of its own.
const DATABASE: &str = "onecard_bench_ssh";
/// Door events stored per second during the feed window.
const FEED_RATE: u32 = 20;
/// The client's terminal.
const COLS: u32 = 120;
const ROWS: u32 = 40;
/// Signing in and the first screen.
const READY_PATIENCE: Duration = Duration::from_secs(30);
/// After a tab switch, its loads are let finish before a window starts.
const SETTLE: Duration = Duration::from_secs(3);
const LOGIN: &str = "bench.duty";
const PASSWORD: &str = "a long bench password";

/// Trusts the server it started itself.
struct Client;

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// What the client received: bytes, and the screen's text so far (the tail, to wait on).
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    tail: Mutex<String>,
}

impl Received {
    fn saw(&self, needle: &str) -> bool {
        self.tail.lock().is_ok_and(|t| t.contains(needle))
    }
}

/// Bytes per second sent by the server over `seconds`.
async fn window(stats: &Stats, seconds: u64) -> (u64, f64) {
    let (before, start) = (stats.bytes_sent(), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let bytes = stats.bytes_sent() - before;
    (bytes, bytes as f64 / start.elapsed().as_secs_f64())
}

/// One door controller to store events for.
async fn controller(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let root = Actor::shell("bench");
    let mut tx = pool.begin().await?;
    terminal::add_line(
        &mut tx,
        &root,
        &NewLine {
            name: "bench gate",
            protocol: "uhppote",
            transport: "udp",
            address: "",
            baud: None,
            poll_interval_ms: 1000,
        },
    )
    .await?;
    let id = terminal::add_terminal(
        &mut tx,
        &root,
        &NewTerminal {
            line: "bench gate",
            kind: "door_controller",
            address: 405_419_896,
            name: "图书馆东门",
            location: "Library east",
            installed_at: None,
            installed_by: "bench",
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Stores door events at `FEED_RATE` until `stop`; how many.
async fn feed(
    pool: sqlx::PgPool,
    terminal_id: i64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<i64> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / FEED_RATE);
    let mut n = 0i64;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(n),
            _ = tick.tick() => {}
        }
        n += 1;
        let row = DoorEventRow {
            record_no: n,
            door: (n % 4 + 1) as i16,
            kind: if n % 10 == 0 { "denied" } else { "granted" }.into(),
            granted: n % 10 != 0,
            card: Some(8_165_500 + n % 300),
            reason: if n % 10 == 0 { 6 } else { 1 },
            terminal_time: Some(chrono::Local::now().naive_local()),
            alarm: None,
            direction: Some("in"),
            clock_invalid: false,
        };
        ingest::store_door_events(&pool, terminal_id, &[row], Some(n), false).await?;
    }
}

pub async fn run(server: &Server, seconds: u64) -> anyhow::Result<()> {
    say(format!(
        "onecard bench --ssh: one console over SSH at {COLS}x{ROWS}, bytes per second sent to it \
         idle and on the Doors tab with {FEED_RATE} door events/s, {seconds} s each"
    ));
    let (options, _url) = fresh_database(server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    operator::create(
        &pool,
        &Actor::shell("bench"),
        NewOperator {
            login: LOGIN,
            display_name: "值班员",
            role: Role::DutyOperator,
            password: PASSWORD,
            must_change_password: false,
        },
    )
    .await?;
    let terminal_id = controller(&pool).await?;

    let site = Site {
        lang: Lang::EN,
        theme: ThemeName::Default,
        keymap: Arc::new(Keymap::preset("default").unwrap_or_default()),
        db_where: DbWhere::Embedded,
        desk_reader: None,
        wallboard_secs: crate::app::wallboard::DEFAULT_SECS,
    };
    let limits = Limits {
        per_operator: 1,
        total: 1,
        idle: Duration::from_secs(3600),
    };
    let ssh_server = ssh::Server::bind(
        "127.0.0.1:0",
        ssh::new_host_key(),
        pool.clone(),
        site,
        limits,
    )
    .await?;
    let at = ssh_server.local_addr()?;
    let stats = ssh_server.stats();
    let (stop_server, server_stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(ssh_server.serve(async move {
        let mut stopped = server_stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }));

    let result = measure(&pool, &stats, at, terminal_id, seconds).await;
    let _ = stop_server.send(true);
    match tokio::time::timeout(Duration::from_secs(30), serving).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => say(format!("ssh server: {e:#}")),
        Ok(Err(e)) => say(format!("ssh server: {e}")),
        Err(_) => say("ssh server did not stop in 30 s"),
    }
    let (idle, fed) = result?;
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operator_session WHERE ended_at IS NULL")
            .fetch_one(&pool)
            .await?;
    say(format!(
        "after the disconnect: {} consoles served, {open} operator sessions open",
        stats.consoles()
    ));
    say(format!(
        "bench: ssh_idle_bps={:.0} ssh_feed_bps={:.0}",
        idle, fed
    ));
    Ok(())
}

/// Connects, signs in, and measures both windows: (idle, feed) bytes per second.
async fn measure(
    pool: &sqlx::PgPool,
    stats: &Stats,
    at: std::net::SocketAddr,
    terminal_id: i64,
    seconds: u64,
) -> anyhow::Result<(f64, f64)> {
    let config = Arc::new(client::Config::default());
    let mut session: Handle<Client> =
        tokio::time::timeout(READY_PATIENCE, client::connect(config, at, Client))
            .await
            .context("no SSH handshake in time")??;
    let auth = session.authenticate_password(LOGIN, PASSWORD).await?;
    if !auth.success() {
        bail!("the SSH server refused {LOGIN}'s password");
    }
    let channel = session.channel_open_session().await?;
    channel.set_env(false, "LANG", "en_US.UTF-8").await?;
    channel
        .request_pty(false, "xterm-256color", COLS, ROWS, 0, 0, &[])
        .await?;
    channel.request_shell(true).await?;
    let (mut read, write) = channel.split();
    // The client reads everything, as a terminal would, so the server's window never fills.
    let received = Arc::new(Received::default());
    let seen = received.clone();
    let reader = tokio::spawn(async move {
        while let Some(msg) = read.wait().await {
            if let ChannelMsg::Data { data } = msg {
                seen.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                if let Ok(mut tail) = seen.tail.lock() {
                    tail.push_str(&String::from_utf8_lossy(&data));
                    if tail.len() > 1 << 16 {
                        let cut = tail.len() - (1 << 15);
                        let cut = (cut..tail.len())
                            .find(|i| tail.is_char_boundary(*i))
                            .unwrap_or(0);
                        tail.drain(..cut);
                    }
                }
            }
        }
    });
    let start = Instant::now();
    while !received.saw(LOGIN) {
        if start.elapsed() > READY_PATIENCE {
            bail!("the console never showed {LOGIN} signed in");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE).await;

    let (idle_bytes, idle) = window(stats, seconds).await;
    say(format!(
        "idle console: {idle_bytes} bytes in {seconds} s = {idle:.0} B/s (goal: at most 100 B/s)"
    ));

    // The Doors tab, its feed live.
    write.data(&b"2"[..]).await?;
    tokio::time::sleep(SETTLE).await;
    let (stop_feed, feed_stopped) = tokio::sync::watch::channel(false);
    let feeding = tokio::spawn(feed(pool.clone(), terminal_id, feed_stopped));
    let (feed_bytes, fed) = window(stats, seconds).await;
    let _ = stop_feed.send(true);
    let stored = feeding.await??;
    say(format!(
        "Doors tab, {FEED_RATE} events/s ({stored} stored): {feed_bytes} bytes in {seconds} s = {fed:.0} B/s"
    ));
    say(format!(
        "the client received {} bytes in all; the server sent {}",
        received.bytes.load(Ordering::Relaxed),
        stats.bytes_sent()
    ));
    session
        .disconnect(russh::Disconnect::ByApplication, "done", "en")
        .await?;
    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
    // The server ends the console and its operator session on its own.
    let start = Instant::now();
    while stats.consoles() > 0 && start.elapsed() < READY_PATIENCE {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((idle, fed))
}
