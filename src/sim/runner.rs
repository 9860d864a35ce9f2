//! Starts a site: builds every simulated terminal, binds its sockets and PTYs, runs background
//! traffic, and serves the control interface.

use super::clock::SimClock;
use super::site::{NativeKind, Ports, SiteConfig, SiteError};
use super::{control, SimTerminal, TerminalKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One line of the start-up listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub kind: TerminalKind,
    pub id: String,
    /// Serial number or machine number, as the protocol addresses it.
    pub address: String,
    /// Where to reach it.
    pub endpoint: String,
}

pub struct Site {
    pub terminals: Vec<Arc<dyn SimTerminal>>,
    pub listing: Vec<Listing>,
    pub control: SocketAddr,
    /// Paused by the control interface's `pause`: background traffic generates nothing.
    pub gate: Arc<control::Gate>,
    /// The same terminals by type, for tests and the demo to look inside.
    controllers: Vec<Arc<super::uhppote::Controller>>,
    machines: Vec<Arc<super::zk::Machine>>,
    pos: Vec<Arc<super::native::Pos>>,
    patrols: Vec<Arc<super::native::PatrolReader>>,
    /// The patrol plan its readers walk, for `sim::register` to write into the database.
    pub patrol: Option<super::patrol::PatrolPlan>,
    desks: Vec<Arc<super::native::DeskReader>>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    /// Sockets, PTYs and tasks that must live as long as the site.
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

impl Site {
    /// Builds and binds the whole site. Nothing runs traffic until `run_traffic`.
    pub async fn start(config: &SiteConfig, ports: Ports) -> Result<Site, SiteError> {
        let io = |what: String| move |e: std::io::Error| SiteError::Invalid(format!("{what}: {e}"));
        let cards = config.cards.numbers();
        let mut terminals: Vec<Arc<dyn SimTerminal>> = Vec::new();
        let mut listing = Vec::new();
        let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        let mut machines = Vec::new();
        let mut pos_terminals = Vec::new();
        let mut desks = Vec::new();
        let mut patrols = Vec::new();
        let mut all_controllers = Vec::new();
        let clock = |offset: i64, drift: f64| {
            SimClock::new(chrono::Local::now().naive_local(), offset, drift)
        };

        if !config.door_controllers.is_empty() {
            let today = chrono::Local::now().date_naive();
            let controllers: Vec<_> = config
                .door_controllers
                .iter()
                .map(|c| {
                    let ctl = super::uhppote::Controller::new(
                        c.serial,
                        c.doors,
                        clock(c.offset_secs, c.drift_ppm),
                        c.memory,
                        cards.clone(),
                    );
                    // Nine cards in ten hold grants, so background swipes show both outcomes.
                    let granted = cards
                        .iter()
                        .filter(|n| config.cards.granted && *n % 10 != 9);
                    for &number in granted {
                        ctl.put_card(crate::terminal::uhppote::Card {
                            number,
                            from: today.checked_sub_signed(chrono::Duration::days(365)),
                            to: today.checked_add_signed(chrono::Duration::days(365)),
                            doors: [1, 1, 1, 1],
                            pin: 0,
                        });
                    }
                    ctl
                })
                .collect();
            let addr = SocketAddr::new(config.bind, ports.uhppote);
            let handle = bind(addr, ports, "door controllers", |a| {
                super::uhppote::serve(a, controllers.clone())
            })
            .await
            .map_err(io(format!("door controllers on UDP/TCP {addr}")))?;
            for (c, ctl) in config.door_controllers.iter().zip(&controllers) {
                listing.push(Listing {
                    kind: TerminalKind::DoorController,
                    id: ctl.id(),
                    address: format!("serial {}", c.serial),
                    endpoint: format!("udp+tcp {}", handle.addr()),
                });
                terminals.push(ctl.clone());
            }
            all_controllers = controllers;
            keep.push(Box::new(handle));
        }

        for (i, m) in config.attendance_machines.iter().enumerate() {
            let users = cards
                .iter()
                .take(m.users)
                .enumerate()
                .map(|(n, &card)| crate::terminal::zk::UserRecord {
                    uid: n as u16 + 1,
                    privilege: 0,
                    password: String::new(),
                    name: format!("user{}", n + 1),
                    card,
                    group: "1".into(),
                    user_id: card.to_string(),
                })
                .collect();
            let machine = super::zk::Machine::new(
                &m.serial,
                m.comm_key,
                clock(m.offset_secs, m.drift_ppm),
                m.capacity,
                users,
            );
            let port = Ports::nth(ports.zk_first, i)
                .filter(|p| ports.line_first == 0 || *p < ports.line_first)
                .ok_or_else(|| {
                    SiteError::Invalid("too many attendance machines for the port plan".into())
                })?;
            let addr = SocketAddr::new(config.bind, port);
            let listener = bind(
                addr,
                ports,
                "attendance machine",
                tokio::net::TcpListener::bind,
            )
            .await
            .map_err(io(format!("attendance machine {} on TCP {addr}", m.serial)))?;
            let handle = super::zk::serve(listener, machine.clone()).await;
            listing.push(Listing {
                kind: TerminalKind::AttendanceMachine,
                id: machine.id(),
                address: format!("serial {}", m.serial),
                endpoint: format!("tcp {}", handle.local_addr()),
            });
            terminals.push(machine.clone());
            machines.push(machine);
            keep.push(Box::new(handle));
        }

        for (i, line) in config.lines.iter().enumerate() {
            let mut devices: Vec<Arc<dyn super::native::NativeDevice>> = Vec::new();
            let guards: Vec<u32> = cards.iter().take(8).copied().collect();
            let checkpoints: Vec<u32> = (1..=12).map(|n| 0xC0_0000 + n).collect();
            for t in &line.terminals {
                let c = clock(t.offset_secs, t.drift_ppm);
                let device: Arc<dyn super::native::NativeDevice> = match t.kind {
                    NativeKind::Pos => {
                        let pos = super::native::Pos::new(
                            &line.name,
                            t.machine_no,
                            c,
                            t.capacity,
                            cards.clone(),
                        );
                        pos_terminals.push(pos.clone());
                        pos
                    }
                    NativeKind::PatrolReader => {
                        let reader = super::native::PatrolReader::new(
                            &line.name,
                            t.machine_no,
                            c,
                            t.capacity,
                            guards.clone(),
                            checkpoints.clone(),
                        );
                        let id = reader.id();
                        if let Some(w) = config
                            .patrol
                            .as_ref()
                            .and_then(|p| p.walker(&id, config.seed))
                        {
                            reader.walk_rounds(w);
                        }
                        patrols.push(reader.clone());
                        reader
                    }
                    NativeKind::DeskReader => {
                        let desk = super::native::DeskReader::new(
                            &line.name,
                            t.machine_no,
                            c,
                            cards.clone(),
                        );
                        desks.push(desk.clone());
                        desk
                    }
                };
                device.core().set_noise(line.noise_percent.round() as u32);
                devices.push(device);
            }
            let mut endpoints = Vec::new();
            if line.pty {
                let pty = crate::terminal::transport::open_pty()
                    .map_err(io(format!("line {}: PTY", line.name)))?;
                endpoints.push(format!("pty {}", pty.slave_path().display()));
                let devices = devices.clone();
                let name = line.name.clone();
                tokio::spawn(async move {
                    if let Err(e) = super::native::serve_bus(pty, devices).await {
                        tracing::warn!(line = %name, error = %e, "simulated PTY line stopped");
                    }
                });
            }
            if line.tcp {
                let port = Ports::nth(ports.line_first, i)
                    .filter(|p| ports.control == 0 || *p < ports.control)
                    .ok_or_else(|| SiteError::Invalid("too many lines for the port plan".into()))?;
                let addr = SocketAddr::new(config.bind, port);
                let listener = bind(addr, ports, "RS-485 line", tokio::net::TcpListener::bind)
                    .await
                    .map_err(io(format!("line {} on TCP {addr}", line.name)))?;
                endpoints.push(format!(
                    "tcp {}",
                    listener.local_addr().map_err(io("line address".into()))?
                ));
                let devices = devices.clone();
                let task = tokio::spawn(async move {
                    let _ = super::native::serve_tcp(listener, devices).await;
                });
                keep.push(Box::new(AbortOnDrop(task)));
            }
            let endpoint = endpoints.join(", ");
            for d in devices {
                listing.push(Listing {
                    kind: d.kind(),
                    id: d.id(),
                    address: format!("line {} machine {}", line.name, d.core().machine_no()),
                    endpoint: endpoint.clone(),
                });
                terminals.push(d);
            }
        }

        let control_addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), ports.control);
        let listener = bind(
            control_addr,
            ports,
            "control interface",
            tokio::net::TcpListener::bind,
        )
        .await
        .map_err(io(format!("control interface on TCP {control_addr}")))?;
        let control = listener
            .local_addr()
            .map_err(io("control address".into()))?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let gate = Arc::new(control::Gate::default());
        let task = tokio::spawn(control::serve(
            listener,
            terminals.clone(),
            gate.clone(),
            stop_tx.clone(),
        ));
        keep.push(Box::new(AbortOnDrop(task)));
        Ok(Site {
            terminals,
            listing,
            control,
            gate,
            controllers: all_controllers,
            machines,
            pos: pos_terminals,
            patrols,
            patrol: config.patrol.clone(),
            desks,
            stop_tx,
            stop_rx,
            _keep: keep,
        })
    }

    /// The door controller with simulator id `id` (`door/405419896`).
    pub fn controller(&self, id: &str) -> Option<&Arc<super::uhppote::Controller>> {
        self.controllers.iter().find(|c| c.id() == id)
    }

    pub fn controllers(&self) -> &[Arc<super::uhppote::Controller>] {
        &self.controllers
    }

    /// The attendance machine with simulator id `id` (`attendance/OCK0000001`).
    pub fn attendance_machine(&self, id: &str) -> Option<&Arc<super::zk::Machine>> {
        self.machines.iter().find(|m| m.id() == id)
    }

    pub fn attendance_machines(&self) -> &[Arc<super::zk::Machine>] {
        &self.machines
    }

    /// The POS with simulator id `id` (`pos/canteen/1`).
    pub fn pos(&self, id: &str) -> Option<&Arc<super::native::Pos>> {
        self.pos.iter().find(|p| p.id() == id)
    }

    pub fn pos_terminals(&self) -> &[Arc<super::native::Pos>] {
        &self.pos
    }

    pub fn desk_readers(&self) -> &[Arc<super::native::DeskReader>] {
        &self.desks
    }

    /// Lays `card` on the (first) desk reader, as the card desk does before issuing: the poller
    /// owning the reader's line hears it at its next poll and announces it on
    /// [`crate::poller::CARD_CHANNEL`], new or used. Err when the site has no desk reader.
    pub fn desk_present(
        &self,
        card: u32,
    ) -> Result<crate::terminal::native::message::CardPresence, String> {
        let desk = self
            .desks
            .first()
            .ok_or("this simulated site has no desk reader")?;
        Ok(desk.present(card))
    }

    /// From now on the desk reader reports `card` as used (it was issued).
    pub fn desk_mark_known(&self, card: u32) -> Result<(), String> {
        let desk = self
            .desks
            .first()
            .ok_or("this simulated site has no desk reader")?;
        desk.mark_known(card);
        Ok(())
    }

    /// The background traffic generator, seeded: the same seed gives the same records.
    pub fn traffic(&self, seed: u64, alarm_percent: f64) -> Traffic {
        let sources: Vec<Arc<dyn SimTerminal>> = self
            .terminals
            .iter()
            .filter(|t| t.kind() != TerminalKind::DeskReader)
            .cloned()
            .collect();
        let doors = sources
            .iter()
            .map(|t| self.controller(&t.id()).map_or(0, |c| c.doors()))
            .collect();
        Traffic {
            rng: StdRng::seed_from_u64(seed),
            sources,
            doors,
            alarm: (alarm_percent / 100.0).clamp(0.0, 1.0),
            step: 0,
            to_close: Vec::new(),
        }
    }

    /// Runs `traffic` at `rate` records per second spread over the terminals that generate
    /// records (the desk reader only reports cards put on it), until the site stops.
    pub fn run_traffic(
        &self,
        rate: f64,
        seed: u64,
        alarm_percent: f64,
    ) -> tokio::task::JoinHandle<()> {
        let mut traffic = self.traffic(seed, alarm_percent);
        let mut stop = self.stop_rx.clone();
        let gate = self.gate.clone();
        let walking = walk(
            self.patrols
                .iter()
                .filter(|p| p.walks_rounds())
                .cloned()
                .collect(),
            self.stop_rx.clone(),
            self.gate.clone(),
        );
        let records = async move {
            if !(rate > 0.0 && rate.is_finite()) || traffic.sources.is_empty() {
                return;
            }
            // Ticks of at most 1000/s; each tick emits its share, so high rates stay exact.
            let ticks = rate.min(1000.0);
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / ticks));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let per_tick = rate / ticks;
            let mut owed = 0.0;
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop.changed() => return,
                }
                if gate.paused() {
                    owed = 0.0;
                    continue;
                }
                owed += per_tick;
                while owed >= 1.0 {
                    owed -= 1.0;
                    traffic.step();
                }
            }
        };
        tokio::spawn(async move {
            tokio::join!(records, walking);
        })
    }

    pub fn patrol_readers(&self) -> &[Arc<super::native::PatrolReader>] {
        &self.patrols
    }

    /// Patrol visits per reader walking a plan, as meant (on time, late, missed).
    pub fn patrol_tally(&self) -> std::collections::BTreeMap<String, super::patrol::PatrolCounts> {
        control::patrol_tally(&self.terminals)
    }

    /// Answers one control request as the control interface would (`pause` and `resume`
    /// included).
    pub fn control_line(&self, line: &str) -> (String, bool) {
        control::handle_with(&self.terminals, Some(&self.gate), line)
    }

    /// Records generated per terminal.
    pub fn tally(&self) -> std::collections::BTreeMap<String, u64> {
        control::tally(&self.terminals)
    }

    pub fn stop(&self) {
        let _ = self.stop_tx.send(true);
    }

    /// Resolves when `quit` is asked on the control interface (or `stop` is called).
    pub async fn stopped(&self) {
        let mut rx = self.stop_rx.clone();
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Background traffic: which terminal generates the next record, and what it is.
pub struct Traffic {
    rng: StdRng,
    sources: Vec<Arc<dyn SimTerminal>>,
    /// Each source's doors (0: not a door controller).
    doors: Vec<u8>,
    alarm: f64,
    /// Steps taken.
    step: u64,
    /// Doors an alarm left open: (source, door, the step at which someone closes it).
    to_close: Vec<(usize, u8, u64)>,
}

/// Steps after which a door left open by an alarm is closed again.
const OPEN_STEPS: std::ops::RangeInclusive<u64> = 10..=40;

impl Traffic {
    /// One record from a terminal picked at random; now and then a door alarm instead: a door
    /// forced open or held open (closed again some steps later), or a tamper.
    pub fn step(&mut self) {
        if self.sources.is_empty() {
            return;
        }
        self.step += 1;
        let now = self.step;
        let (due, later): (Vec<_>, Vec<_>) = self.to_close.drain(..).partition(|d| d.2 <= now);
        self.to_close = later;
        for (i, door) in due.into_iter().map(|(i, door, _)| (i, door)) {
            let _ = self.sources[i].control("close", &[&door.to_string()]);
        }
        let i = self.rng.gen_range(0..self.sources.len());
        let t = &self.sources[i];
        if t.kind() == TerminalKind::DoorController && self.rng.gen_bool(self.alarm) {
            let door = self.rng.gen_range(1..=self.doors[i].max(1));
            // Forced and held open are what a control room mostly sees; tampers are rare.
            let verb = match self.rng.gen_range(0..10) {
                0..=4 => "forced",
                5..=8 => "held",
                _ => "tamper",
            };
            if t.control(verb, &[&door.to_string()]).is_ok() && verb != "tamper" {
                let at = now + self.rng.gen_range(OPEN_STEPS);
                self.to_close.push((i, door, at));
            }
        } else {
            t.traffic(&mut self.rng);
        }
    }
}

/// The patrol readers walking their rounds, a few times a second, until the site stops;
/// paused with the rest of the traffic (a paused guard's visits are made when it resumes,
/// stamped when they were due).
async fn walk(
    readers: Vec<Arc<super::native::PatrolReader>>,
    mut stop: watch::Receiver<bool>,
    gate: Arc<control::Gate>,
) {
    if readers.is_empty() {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        if gate.paused() {
            continue;
        }
        let now = chrono::Local::now().naive_local();
        for r in &readers {
            r.walk(now);
        }
    }
}

/// Binds `addr` with `bind`; when the port is taken and `ports.free_if_taken`, a free port
/// instead (said in the log: the listing has the real address).
async fn bind<T, F, Fut>(addr: SocketAddr, ports: Ports, what: &str, bind: F) -> std::io::Result<T>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<T>>,
{
    match bind(addr).await {
        Err(e)
            if ports.free_if_taken
                && addr.port() != 0
                && e.kind() == std::io::ErrorKind::AddrInUse =>
        {
            tracing::info!(%addr, what, "simulator: port taken, using a free one");
            bind(SocketAddr::new(addr.ip(), 0)).await
        }
        other => other,
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `onecard sim`: start, print the site, run until Ctrl-C, SIGTERM or `quit`, write the tally.
pub async fn run(config: SiteConfig, ports: Ports, tally: Option<PathBuf>) -> anyhow::Result<()> {
    use std::io::Write;
    let site = Site::start(&config, ports).await?;
    let traffic = site.run_traffic(config.rate, config.seed, config.alarm_percent);
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "onecard sim: {} terminals, seed {}, {} records/s",
            site.terminals.len(),
            config.seed,
            config.rate
        );
        let _ = writeln!(
            out,
            "{:<20} {:<26} {:<26} endpoint",
            "kind", "id", "address"
        );
        for l in &site.listing {
            let _ = writeln!(
                out,
                "{:<20} {:<26} {:<26} {}",
                l.kind.name(),
                l.id,
                l.address,
                l.endpoint
            );
        }
        let _ = writeln!(
            out,
            "control: tcp {} (list, tally, tally patrol, pause, resume, <id> <verb> ..., quit)",
            site.control
        );
        let _ = out.flush();
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = site.stopped() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    site.stop();
    traffic.abort();
    if let Some(path) = tally {
        let json = serde_json::to_string_pretty(&site.tally())?;
        // Written whole then renamed: a reader never sees half a tally.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &path)?;
        // Patrol visits as meant, beside it (`tally.json`: `tally.patrol.json`).
        let patrol = site.patrol_tally();
        if !patrol.is_empty() {
            let json = serde_json::to_string_pretty(&patrol)?;
            std::fs::write(&tmp, json)?;
            std::fs::rename(&tmp, path.with_extension("patrol.json"))?;
        }
    }
    Ok(())
}
