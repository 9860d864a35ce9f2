//! The poller on native RS-485 lines against hostile devices and slow buses: a device that
//! babbles on a bus shared with good POS, replies that are garbage of each kind, replies that
//! trickle in byte by byte, and a POS behind a serial-to-TCP (and a serial-to-UDP) converter at
//! 9,600 baud. Nothing hangs a line, garbage is a comm fault (with what was heard) and not
//! "offline", and stopping takes seconds whatever a device does.

use crate::poller::{eventually, fast, scalar};
use crate::support::test_db;
use onecard::poller::Supervisor;
use onecard::sim::clock::SimClock;
use onecard::sim::native::{serve_bus, NativeDevice, Pos};
use onecard::terminal::native::message::cmd;
use onecard::terminal::native::{Frame, Framer, FramerEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const CARD0: u32 = 5_000_000;

fn pos(line: &str, addr: u8) -> Arc<Pos> {
    Pos::new(
        line,
        addr,
        SimClock::local(0.0),
        10_000,
        (CARD0..CARD0 + 500).collect(),
    )
}

/// `n` purchases on `p`, each by another card.
fn buy(p: &Pos, from: u32, n: u32) {
    for i in 0..n {
        p.purchase(CARD0 + from + i, 100).unwrap();
    }
}

/// A native TCP line at `addr` (optionally naming its bus speed) with POS at `machines`;
/// their terminal ids, in order.
async fn register(
    pool: &PgPool,
    name: &str,
    addr: SocketAddr,
    baud: Option<i32>,
    machines: &[u8],
) -> Vec<i64> {
    register_over(pool, "tcp", name, addr, baud, machines).await
}

async fn register_over(
    pool: &PgPool,
    transport: &str,
    name: &str,
    addr: SocketAddr,
    baud: Option<i32>,
    machines: &[u8],
) -> Vec<i64> {
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, baud, poll_interval_ms)
         VALUES ($1, 'native', $4, $2, $3, 100) RETURNING id",
    )
    .bind(name)
    .bind(addr.to_string())
    .bind(baud)
    .bind(transport)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for m in machines {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO terminal (line_id, kind, address, name) VALUES ($1, 'pos', $2, $3) RETURNING id",
        )
        .bind(line)
        .bind(i64::from(*m))
        .bind(format!("{name} POS {m}"))
        .fetch_one(pool)
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

async fn purchases(pool: &PgPool, terminal: i64) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT record_no) FROM pos_purchase WHERE terminal_id = $1",
    )
    .bind(terminal)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn alarms(pool: &PgPool, terminal: i64, kind: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT detail FROM alarm WHERE terminal_id = $1 AND kind = $2 AND state <> 'cleared'",
    )
    .bind(terminal)
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An alarm's detail (`AlarmDetail` as stored: a comm fault says what was heard, `fault`, and
/// from which address).
fn json(detail: &str) -> Value {
    serde_json::from_str(detail).unwrap_or_else(|e| panic!("{detail}: {e}"))
}

/// Stops the supervisor; it must be done within 5 s.
async fn stop_within_5s(sup: Supervisor) {
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), sup.stop())
        .await
        .expect("the supervisor stops within 5 s");
    println!("stopped in {:.2} s", t0.elapsed().as_secs_f64());
}

// ------------------------------------------------------------------ a babbling device

/// A plausible reply of machine `addr` (SOM, address, length, control, command, data) whose
/// CRC is wrong.
fn babble_frame(addr: u8) -> Vec<u8> {
    let mut b = Frame {
        addr,
        seq: 1,
        reply: true,
        cmd: cmd::POLL,
        data: vec![0; 11],
    }
    .encode()
    .unwrap();
    let last = b.len() - 1;
    b[last] ^= 0x5A;
    b
}

/// A TCP bus: the simulated `devices` answer as on [`serve_bus`], and machine `babbler` sends a
/// bad-CRC frame every `every`, between the others' frames. One master at a time.
async fn babbling_bus(
    devices: Vec<Arc<dyn NativeDevice>>,
    babbler: u8,
    every: Duration,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut current: Vec<JoinHandle<()>> = Vec::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            current.drain(..).for_each(|t| t.abort());
            let _ = sock.set_nodelay(true);
            let (mut rx, mut tx) = sock.into_split();
            let (master, bus) = tokio::io::duplex(1 << 16);
            let devices = devices.clone();
            current.push(tokio::spawn(async move {
                let _ = serve_bus(bus, devices).await;
            }));
            let (mut from_devices, mut to_devices) = tokio::io::split(master);
            current.push(tokio::spawn(async move {
                let _ = tokio::io::copy(&mut rx, &mut to_devices).await;
            }));
            current.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                let mut buf = vec![0u8; 4096];
                loop {
                    tokio::select! {
                        r = from_devices.read(&mut buf) => match r {
                            Ok(0) | Err(_) => return,
                            Ok(n) => if tx.write_all(&buf[..n]).await.is_err() { return },
                        },
                        _ = tick.tick() => {
                            if tx.write_all(&babble_frame(babbler)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
    });
    (addr, task)
}

/// A device stuck transmitting (bad-CRC frames of machine 9 every 20 ms) shares the bus with
/// two good POS. The POS keep being read, machine 9 is a comm fault that names it, nobody is
/// called offline, and stopping takes seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_babbling_device_never_hangs_its_bus() {
    let db = test_db().await;
    let (a, b) = (pos("babble", 1), pos("babble", 2));
    buy(&a, 0, 5);
    buy(&b, 100, 7);
    let devices: Vec<Arc<dyn NativeDevice>> = vec![a.clone(), b.clone()];
    let (addr, bus) = babbling_bus(devices, 9, Duration::from_millis(20)).await;
    let ids = register(&db.pool, "babble", addr, None, &[1, 2, 9]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "babble", fast());

    eventually(Duration::from_secs(30), "both POS read", || async {
        purchases(&db.pool, ids[0]).await == (5, 5) && purchases(&db.pool, ids[1]).await == (7, 7)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "machine 9's comm_fault",
        || async { !alarms(&db.pool, ids[2], "comm_fault").await.is_empty() },
    )
    .await;
    let detail = alarms(&db.pool, ids[2], "comm_fault").await.remove(0);
    let d = json(&detail);
    assert_eq!(
        (&d["kind"], &d["address"], &d["fault"]["what"]),
        (&"garbled".into(), &9.into(), &"babbling".into()),
        "{detail}"
    );
    assert!(d["fault"]["frames"].as_u64() > Some(0), "{detail}");

    // Still read, round after round, while machine 9 babbles on.
    for round in 1..=3u32 {
        buy(&a, round * 10, 2);
        buy(&b, 100 + round * 10, 3);
        let (na, nb) = (5 + 2 * i64::from(round), 7 + 3 * i64::from(round));
        eventually(Duration::from_secs(20), "the POS read again", || async {
            purchases(&db.pool, ids[0]).await == (na, na)
                && purchases(&db.pool, ids[1]).await == (nb, nb)
        })
        .await;
    }
    for id in &ids {
        assert!(
            alarms(&db.pool, *id, "terminal_offline").await.is_empty(),
            "terminal {id} called offline"
        );
    }
    assert!(alarms(&db.pool, ids[0], "comm_fault").await.is_empty());
    assert!(sup.is_running());
    stop_within_5s(sup).await;
    eventually(
        Duration::from_secs(5),
        "the line's lock released",
        || async { crate::poller::lock_holders(&db.pool).await.is_empty() },
    )
    .await;
    bus.abort();
}

/// `onecard serve` owning a line where machine 9 babbles ends on SIGTERM within 5 s, and its
/// lock goes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_ends_on_sigterm_within_5s_while_a_device_babbles() {
    let db = test_db().await;
    let dirs = tempfile::tempdir().unwrap();
    let a = pos("babble", 1);
    buy(&a, 0, 4);
    let (addr, bus) = babbling_bus(vec![a.clone()], 9, Duration::from_millis(20)).await;
    let ids = register(&db.pool, "babble", addr, None, &[1, 9]).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(["serve", "--worker", "babble", "--recheck-ms", "200"])
        .env("DATABASE_URL", db.child_url())
        .env("ONECARD_CONFIG_DIR", dirs.path().join("config"))
        .env("ONECARD_DATA_DIR", dirs.path().join("data"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn onecard serve");
    eventually(Duration::from_secs(30), "the POS read", || async {
        purchases(&db.pool, ids[0]).await == (4, 4)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "machine 9's comm_fault",
        || async { !alarms(&db.pool, ids[1], "comm_fault").await.is_empty() },
    )
    .await;
    // Mid-round: the line is busy with the babbler (or about to be).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not end within 5 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "serve ended {:.2} s after SIGTERM",
        t0.elapsed().as_secs_f64()
    );
    assert!(status.success(), "serve exited with {status}");
    eventually(
        Duration::from_secs(5),
        "the line's lock released",
        || async { crate::poller::lock_holders(&db.pool).await.is_empty() },
    )
    .await;
    bus.abort();
}

// ------------------------------------------------------------------ garbage of each kind

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Random bytes (no SOM) instead of the reply.
    Random,
    /// The first half of the reply.
    Truncated,
    /// SOM, its address, a length of 4096, then bytes.
    Oversize,
    /// The whole reply, one byte every `ms`.
    Trickle(u64),
}

/// A POS that answers every request through `how`; the number of requests it heard.
async fn hostile(p: Arc<Pos>, how: Misbehaviour) -> (SocketAddr, Arc<AtomicU64>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let _ = sock.set_nodelay(true);
            let (p, counter) = (p.clone(), counter.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(10);
                let mut framer = Framer::new();
                let mut buf = [0u8; 1024];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    framer.push(&buf[..n]);
                    while let Some(ev) = framer.next_event() {
                        let FramerEvent::Frame(req) = ev else {
                            continue;
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        let Some(good) = p.respond(&req) else {
                            continue;
                        };
                        let ok = match how {
                            Misbehaviour::Random => {
                                let junk: Vec<u8> = (0..good.len())
                                    .map(|_| rng.gen_range(0..=0xFFu8))
                                    .map(|b| if b == 0xA5 { 0x5A } else { b })
                                    .collect();
                                sock.write_all(&junk).await
                            }
                            Misbehaviour::Truncated => {
                                sock.write_all(&good[..good.len() / 2]).await
                            }
                            Misbehaviour::Oversize => {
                                let mut b = good.clone();
                                b[2..4].copy_from_slice(&4096u16.to_le_bytes());
                                sock.write_all(&b).await
                            }
                            Misbehaviour::Trickle(ms) => {
                                let mut r = Ok(());
                                for byte in &good {
                                    r = sock.write_all(&[*byte]).await;
                                    if r.is_err() {
                                        break;
                                    }
                                    tokio::time::sleep(Duration::from_millis(ms)).await;
                                }
                                r
                            }
                        };
                        if ok.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen, task)
}

/// A POS answering with `how` is a comm fault whose detail `fits`, never offline.
async fn garbage_is_a_comm_fault(how: Misbehaviour, fits: fn(&Value) -> bool) {
    let db = test_db().await;
    let p = pos("garbage", 1);
    buy(&p, 0, 3);
    let (addr, seen, server) = hostile(p, how).await;
    let ids = register(&db.pool, "garbage", addr, None, &[1]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "garbage", fast());
    eventually(Duration::from_secs(20), "a comm_fault alarm", || async {
        !alarms(&db.pool, ids[0], "comm_fault").await.is_empty()
    })
    .await;
    let detail = alarms(&db.pool, ids[0], "comm_fault").await.remove(0);
    let d = json(&detail);
    assert_eq!(d["kind"], "garbled", "{detail}");
    assert!(fits(&d["fault"]), "{how:?}: {detail}");
    // Polled on and on (more than `offline_after` visits), and never called offline.
    let before = seen.load(Ordering::Relaxed);
    eventually(Duration::from_secs(20), "more visits", || async {
        seen.load(Ordering::Relaxed) >= before + 16
    })
    .await;
    assert!(
        alarms(&db.pool, ids[0], "terminal_offline")
            .await
            .is_empty(),
        "{how:?}: called offline"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM terminal WHERE id = $1")
        .bind(ids[0])
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_ne!(status, "offline", "{how:?}");
    assert_eq!(
        scalar(&db.pool, "SELECT count(*) FROM pos_purchase").await,
        0
    );
    stop_within_5s(sup).await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_bytes_are_a_comm_fault_not_offline() {
    garbage_is_a_comm_fault(Misbehaviour::Random, |f| {
        f["what"] == "noise" && f["bytes"].as_u64() > Some(0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_frames_are_a_comm_fault_not_offline() {
    garbage_is_a_comm_fault(Misbehaviour::Truncated, |f| {
        f["what"] == "truncated" && f["got"].as_u64() < f["expected"].as_u64()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversize_length_is_a_comm_fault_not_offline() {
    garbage_is_a_comm_fault(Misbehaviour::Oversize, |f| {
        f["what"] == "bad_length" && f["len"] == 4096
    })
    .await;
}

/// Replies that arrive a byte every 6 ms (a POLL reply takes longer than the old flat 100 ms)
/// but complete within the exchange's deadline are read, and the records collected once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn byte_at_a_time_replies_are_accepted() {
    let db = test_db().await;
    let p = pos("trickle", 1);
    buy(&p, 0, 1);
    let (addr, _, server) = hostile(p.clone(), Misbehaviour::Trickle(6)).await;
    let ids = register(&db.pool, "trickle", addr, None, &[1]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "trickle", fast());
    eventually(Duration::from_secs(30), "the purchase", || async {
        purchases(&db.pool, ids[0]).await == (1, 1)
    })
    .await;
    buy(&p, 10, 1);
    eventually(Duration::from_secs(30), "the second purchase", || async {
        purchases(&db.pool, ids[0]).await == (2, 2)
    })
    .await;
    assert!(alarms(&db.pool, ids[0], "terminal_offline")
        .await
        .is_empty());
    assert!(alarms(&db.pool, ids[0], "comm_fault").await.is_empty());
    stop_within_5s(sup).await;
    server.abort();
}

// ------------------------------------------------------------------ a slow bus behind TCP

/// Copies `from` to `to` at the pace of a 9,600 baud 8N1 wire (a converter's serial side).
async fn paced<R, W>(mut from: R, mut to: W, baud: u64)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = [0u8; 16];
    let start = tokio::time::Instant::now();
    let mut sent_bits = 0u64;
    let mut origin = start;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // The wire is idle between frames: time restarts from the first byte after a pause.
        let now = tokio::time::Instant::now();
        let due = origin + Duration::from_micros(sent_bits * 1_000_000 / baud);
        if due < now {
            origin = now;
            sent_bits = 0;
        }
        sent_bits += n as u64 * 10;
        tokio::time::sleep_until(origin + Duration::from_micros(sent_bits * 1_000_000 / baud))
            .await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A serial-to-TCP converter in front of a bus at `baud`.
async fn converter(devices: Vec<Arc<dyn NativeDevice>>, baud: u64) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut current: Vec<JoinHandle<()>> = Vec::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            current.drain(..).for_each(|t| t.abort());
            let _ = sock.set_nodelay(true);
            let (rx, tx) = sock.into_split();
            let (master, bus) = tokio::io::duplex(1 << 16);
            let devices = devices.clone();
            current.push(tokio::spawn(async move {
                let _ = serve_bus(bus, devices).await;
            }));
            let (from_devices, to_devices) = tokio::io::split(master);
            current.push(tokio::spawn(paced(rx, to_devices, baud)));
            current.push(tokio::spawn(paced(from_devices, tx, baud)));
        }
    });
    (addr, task)
}

/// A POS on a 9,600 baud bus behind a serial-to-TCP converter: a full READ_RECORDS reply takes
/// over half a second on the wire. The line names its baud, and every record arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_bus_behind_tcp_delivers_every_record_once() {
    let db = test_db().await;
    let p = pos("converter", 4);
    buy(&p, 0, 60);
    let (addr, conv) = converter(vec![p.clone()], 9600).await;
    let ids = register(&db.pool, "converter", addr, Some(9600), &[4]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "converter", fast());
    eventually(Duration::from_secs(60), "60 purchases", || async {
        purchases(&db.pool, ids[0]).await == (60, 60)
    })
    .await;
    buy(&p, 100, 20);
    eventually(Duration::from_secs(60), "80 purchases", || async {
        purchases(&db.pool, ids[0]).await == (80, 80)
    })
    .await;
    let top: i64 = sqlx::query_scalar("SELECT max(record_no) FROM pos_purchase")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(top, 80);
    eventually(Duration::from_secs(20), "the POS emptied", || async {
        p.stored() == 0
    })
    .await;
    assert!(alarms(&db.pool, ids[0], "terminal_offline")
        .await
        .is_empty());
    stop_within_5s(sup).await;
    conv.abort();
}

/// A serial-to-UDP converter in front of a bus at `baud`: bus bytes go out in datagrams of at
/// most 64 bytes (as a converter's packing timer cuts them) to whoever sent the last one.
async fn udp_converter(
    devices: Vec<Arc<dyn NativeDevice>>,
    baud: u64,
) -> (SocketAddr, JoinHandle<()>) {
    let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (master, bus) = tokio::io::duplex(1 << 16);
        let (from_devices, to_devices) = tokio::io::split(master);
        let (host_in, wire_in) = tokio::io::duplex(1 << 16);
        let (wire_out, mut host_out) = tokio::io::duplex(1 << 16);
        let peer = Arc::new(std::sync::Mutex::new(None::<SocketAddr>));
        let _bus = AbortOnDrop(tokio::spawn(async move {
            let _ = serve_bus(bus, devices).await;
        }));
        let _down = AbortOnDrop(tokio::spawn(paced(wire_in, to_devices, baud)));
        let _up = AbortOnDrop(tokio::spawn(paced(from_devices, wire_out, baud)));
        let (s, p) = (socket.clone(), peer.clone());
        let _send = AbortOnDrop(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = host_out.read(&mut buf).await {
                let to = *p.lock().unwrap();
                match (n, to) {
                    (0, _) => return,
                    (_, Some(to)) => {
                        let _ = s.send_to(&buf[..n], to).await;
                    }
                    (_, None) => {}
                }
            }
        }));
        let mut host_in = host_in;
        let mut buf = [0u8; 2048];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            *peer.lock().unwrap() = Some(from);
            if host_in.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    (addr, task)
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The same slow bus behind a converter in UDP mode: replies arrive split over datagrams, and
/// every record still arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_bus_behind_udp_delivers_every_record_once() {
    let db = test_db().await;
    let p = pos("udp-converter", 5);
    buy(&p, 0, 40);
    let (addr, conv) = udp_converter(vec![p.clone()], 9600).await;
    let ids = register_over(&db.pool, "udp", "udp-converter", addr, Some(9600), &[5]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "udp-converter", fast());
    eventually(Duration::from_secs(60), "40 purchases", || async {
        purchases(&db.pool, ids[0]).await == (40, 40)
    })
    .await;
    buy(&p, 100, 10);
    eventually(Duration::from_secs(60), "50 purchases", || async {
        purchases(&db.pool, ids[0]).await == (50, 50)
    })
    .await;
    eventually(Duration::from_secs(20), "the POS emptied", || async {
        p.stored() == 0
    })
    .await;
    assert!(alarms(&db.pool, ids[0], "terminal_offline")
        .await
        .is_empty());
    stop_within_5s(sup).await;
    conv.abort();
}

// ------------------------------------------------------------------ a POS that overwrites

/// A POS whose full memory overwrites its oldest records (as some third-party devices do)
/// while `serve` is down: the records it no longer holds are one `records_lost` alarm naming
/// the range and one gap, and everything it still holds is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_a_pos_overwrote_are_one_alarm_and_one_gap() {
    let db = test_db().await;
    let p = Pos::new(
        "overwriter",
        6,
        SimClock::local(0.0),
        10,
        (CARD0..CARD0 + 500).collect(),
    );
    p.overwrite_when_full();
    buy(&p, 0, 5);
    let (addr, conv) = converter(vec![p.clone()], 115_200).await;
    let ids = register(&db.pool, "overwriter", addr, None, &[6]).await;
    let sup = Supervisor::start_with(db.pool.clone(), "overwriter", fast());
    eventually(Duration::from_secs(30), "5 purchases", || async {
        purchases(&db.pool, ids[0]).await == (5, 5) && p.stored() == 0
    })
    .await;
    stop_within_5s(sup).await;
    // serve is down: 25 more, in a memory of 10. Records 6-20 are overwritten.
    buy(&p, 10, 25);
    assert_eq!(p.stored(), 10);
    let sup = Supervisor::start_with(db.pool.clone(), "overwriter", fast());
    eventually(Duration::from_secs(30), "the 10 still held", || async {
        purchases(&db.pool, ids[0]).await == (15, 15) && p.stored() == 0
    })
    .await;
    let lost = alarms(&db.pool, ids[0], "records_lost").await;
    assert_eq!(lost.len(), 1, "{lost:?}");
    let detail = json(&lost[0]);
    assert_eq!(
        (detail["first"].as_i64(), detail["last"].as_i64()),
        (Some(6), Some(20)),
        "{detail}"
    );
    let gaps: Vec<(i64, i64)> =
        sqlx::query_as("SELECT first_record, last_record FROM record_gap WHERE terminal_id = $1")
            .bind(ids[0])
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(gaps, vec![(6, 20)]);
    let numbers: Vec<i64> = sqlx::query_scalar(
        "SELECT record_no FROM pos_purchase WHERE terminal_id = $1 ORDER BY record_no",
    )
    .bind(ids[0])
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(numbers, (1..=5).chain(21..=30).collect::<Vec<i64>>());
    // More purchases later raise nothing more.
    buy(&p, 50, 3);
    eventually(Duration::from_secs(30), "3 more", || async {
        purchases(&db.pool, ids[0]).await == (18, 18)
    })
    .await;
    assert_eq!(alarms(&db.pool, ids[0], "records_lost").await.len(), 1);
    stop_within_5s(sup).await;
    conv.abort();
}

// ------------------------------------------------------------------ a ZKTeco machine cut short

/// A ZKTeco machine that answers every packet with the first half of an ACK (its TCP prefix
/// and length, then nothing): it transmits, so it is a comm fault saying the packet was cut
/// short, not offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zk_packet_cut_short_is_a_comm_fault_not_offline() {
    use onecard::terminal::zk::{cmd as zk_cmd, Packet};
    let db = test_db().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let ack = Packet::new(zk_cmd::ACK_OK, 1, 0, vec![]).encode_tcp();
                let mut buf = [0u8; 1024];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 || sock.write_all(&ack[..ack.len() / 2]).await.is_err() {
                        return;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms)
         VALUES ('zk cut', 'zk', 'tcp', $1, 100) RETURNING id",
    )
    .bind(addr.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name) VALUES ($1, 'attendance_machine', 1, 'zk cut') RETURNING id",
    )
    .bind(line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let options = onecard::poller::Options {
        zk_timeout: Duration::from_millis(300),
        ..fast()
    };
    let sup = Supervisor::start_with(db.pool.clone(), "zk cut", options);
    eventually(Duration::from_secs(20), "a comm_fault alarm", || async {
        !alarms(&db.pool, id, "comm_fault").await.is_empty()
    })
    .await;
    let detail = alarms(&db.pool, id, "comm_fault").await.remove(0);
    let d = json(&detail);
    assert_eq!(d["kind"], "garbled", "{detail}");
    assert!(
        d["fault"]["detail"]
            .as_str()
            .is_some_and(|t| t.contains("cut short")),
        "{detail}"
    );
    let before = seen.load(Ordering::Relaxed);
    eventually(Duration::from_secs(20), "more visits", || async {
        seen.load(Ordering::Relaxed) >= before + 5
    })
    .await;
    assert!(
        alarms(&db.pool, id, "terminal_offline").await.is_empty(),
        "called offline"
    );
    stop_within_5s(sup).await;
    server.abort();
}

// ------------------------------------------------------------------ the link alone

/// On the link alone: an exchange with a machine that never answers, on a line where machine
/// 9 never stops transmitting, ends within its deadline, names machine 9, and is no timeout.
#[tokio::test]
async fn an_exchange_ends_within_its_deadline_whatever_the_line_does() {
    use onecard::terminal::native::{Bus, Heard, Timing};
    use onecard::terminal::TerminalError;
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let babbler = tokio::spawn(async move {
        let mut sink = [0u8; 1024];
        loop {
            tokio::select! {
                r = server.read(&mut sink) => if matches!(r, Ok(0) | Err(_)) { return },
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    if server.write_all(&babble_frame(9)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let timing = Timing::network(Duration::from_millis(50));
    let mut bus = Bus::new(client, timing);
    let t0 = Instant::now();
    let err = bus.poll(3).await.unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, TerminalError::Malformed(_)), "{err}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    match bus.last_heard() {
        Some((
            3,
            Heard::Babbling {
                addr: Some(9),
                frames,
            },
        )) => assert!(*frames > 0),
        other => panic!("{other:?}"),
    }
    // Every attempt counted, none as silence.
    let st = bus.stats(3);
    assert_eq!((st.timeouts, st.failures), (0, 1), "{st:?}");
    babbler.abort();
}
