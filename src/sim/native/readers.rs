//! The simulated patrol reader and the card desk's reader.

use super::*;

// ---------------------------------------------------------------- patrol reader

/// A guard-tour reader: guards carry it round the checkpoints.
#[derive(Debug)]
pub struct PatrolReader {
    core: DeviceCore,
    state: Mutex<PatrolState>,
}

#[derive(Debug)]
struct PatrolState {
    records: RecordStore<ScanRecord>,
    /// Who walks and which tags exist, whatever the downloaded tables say.
    walkers: Vec<u32>,
    route: Vec<u32>,
    guards: ChunkedTable,
    checkpoints: ChunkedTable,
    skip: HashSet<u32>,
    route_pos: usize,
    walker: usize,
    /// Rounds of a patrol plan; when set, background traffic scans nothing else.
    rounds: Option<crate::sim::patrol::Walker>,
}

impl PatrolState {
    fn scan(&mut self, now: NaiveDateTime, guard: u32, checkpoint: u32) -> Option<ScanRecord> {
        let event = if self.guards.loaded() && !self.guards.contains(guard) {
            ScanEvent::UnknownGuard
        } else if self.checkpoints.loaded() && !self.checkpoints.contains(checkpoint) {
            ScanEvent::UnknownCheckpoint
        } else {
            ScanEvent::Normal
        };
        self.records.push(|record_no| ScanRecord {
            record_no,
            at: now,
            guard,
            checkpoint,
            event,
        })
    }
}

impl PatrolReader {
    /// A reader walked by `guards` round `checkpoints` (tag numbers) in order.
    pub fn new(
        line: &str,
        machine_no: u8,
        clock: SimClock,
        capacity: usize,
        guards: Vec<u32>,
        checkpoints: Vec<u32>,
    ) -> Arc<PatrolReader> {
        Arc::new(PatrolReader {
            core: DeviceCore::new(line, machine_no, clock),
            state: Mutex::new(PatrolState {
                records: RecordStore::new(capacity),
                walkers: guards,
                route: checkpoints,
                guards: ChunkedTable::default(),
                checkpoints: ChunkedTable::default(),
                skip: HashSet::new(),
                route_pos: 0,
                walker: 0,
                rounds: None,
            }),
        })
    }

    /// From now on the reader's guards walk `rounds` instead of the fixed route.
    pub fn walk_rounds(&self, rounds: crate::sim::patrol::Walker) {
        lock(&self.state).rounds = Some(rounds);
    }

    pub fn walks_rounds(&self) -> bool {
        lock(&self.state).rounds.is_some()
    }

    /// Makes the visits due by `site_now` (the site's true time), each stamped by the
    /// reader's own clock at the moment it was due, however late this call comes.
    pub fn walk(&self, site_now: NaiveDateTime) {
        let clock = self.core.clock.now();
        let mut s = lock(&self.state);
        let Some(rounds) = s.rounds.as_mut() else {
            return;
        };
        let due = rounds.due(site_now);
        for v in due {
            let Some(at) = v.at else { continue };
            // Half a second on: the reader's seconds, truncated, show the intended second.
            let stamp = clock - (site_now - at) + ChronoDuration::milliseconds(500);
            let stamp = stamp.with_nanosecond(0).unwrap_or(stamp);
            if s.scan(stamp, v.guard, v.tag).is_some() {
                self.core.generated.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Every visit of the plan walked so far (or skipped), as meant.
    pub fn visits(&self) -> Vec<crate::sim::patrol::WalkedVisit> {
        lock(&self.state)
            .rounds
            .as_ref()
            .map(|r| r.tally().to_vec())
            .unwrap_or_default()
    }

    pub fn stored(&self) -> usize {
        lock(&self.state).records.held.len()
    }

    /// (guards, checkpoints) tables in force.
    pub fn tables(&self) -> (TableState, TableState) {
        let s = lock(&self.state);
        (s.guards.state, s.checkpoints.state)
    }

    /// (guards, checkpoints) the tables in force hold, in order.
    pub fn table_entries(&self) -> (Vec<u32>, Vec<u32>) {
        let s = lock(&self.state);
        let sorted = |t: &ChunkedTable| {
            let mut v: Vec<u32> = t.active.iter().copied().collect();
            v.sort_unstable();
            v
        };
        (sorted(&s.guards), sorted(&s.checkpoints))
    }

    /// A scan now; Err when memory is full.
    pub fn scan(&self, guard: u32, checkpoint: u32) -> Result<ScanRecord, String> {
        let now = self.core.now();
        let r = lock(&self.state)
            .scan(now, guard, checkpoint)
            .ok_or("memory full: scan not stored")?;
        self.core.generated.fetch_add(1, Ordering::SeqCst);
        Ok(r)
    }

    fn execute(&self, req: Request) -> Result<Reply, NakReason> {
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        let missing = !s.guards.loaded() || !s.checkpoints.loaded();
        let common = Common {
            core: &self.core,
            kind: DeviceKind::PatrolReader,
            model: "OC-PATROL-10",
            conditions: s
                .records
                .conditions()
                .with(Condition::TablesMissing, missing),
            memory: Some(&mut s.records),
            tables: (s.guards.state, s.checkpoints.state),
        };
        if let Some(r) = common.execute(&req) {
            return r;
        }
        match req {
            Request::DownloadGuards(c) => s.guards.apply(c),
            Request::DownloadCheckpoints(c) => s.checkpoints.apply(c),
            _ => Err(NakReason::UnknownCommand),
        }
    }
}

impl SimTerminal for PatrolReader {
    fn id(&self) -> String {
        format!("patrol/{}/{}", self.core.line, self.core.machine_no)
    }

    fn kind(&self) -> TerminalKind {
        TerminalKind::PatrolReader
    }

    /// The next checkpoint of the round, unless it is marked skipped or randomly missed.
    fn traffic(&self, rng: &mut StdRng) {
        let now = self.core.now();
        let mut s = lock(&self.state);
        if s.walkers.is_empty() || s.route.is_empty() || s.rounds.is_some() {
            return;
        }
        let checkpoint = s.route[s.route_pos % s.route.len()];
        let guard = s.walkers[s.walker % s.walkers.len()];
        s.route_pos += 1;
        if s.route_pos >= s.route.len() {
            s.route_pos = 0;
            s.walker = (s.walker + 1) % s.walkers.len();
        }
        if s.skip.contains(&checkpoint) || rng.gen_range(0..100) < RANDOM_SKIP_PERCENT {
            return;
        }
        if s.scan(now, guard, checkpoint).is_some() {
            self.core.generated.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String> {
        if let Some(r) = self.core.control_common(verb, args) {
            return r;
        }
        match verb {
            "scan" => {
                let guard = parse_u32(args.first(), "GUARD")?;
                let checkpoint = parse_u32(args.get(1), "CHECKPOINT")?;
                let r = self.scan(guard, checkpoint)?;
                Ok(format!(
                    "record {}: guard {guard} at checkpoint {checkpoint}",
                    r.record_no
                ))
            }
            "skip" => {
                let checkpoint = parse_u32(args.first(), "CHECKPOINT")?;
                lock(&self.state).skip.insert(checkpoint);
                Ok(format!("checkpoint {checkpoint} will be skipped"))
            }
            "visits" => serde_json::to_string(&self.visits()).map_err(|e| e.to_string()),
            _ => Err(format!(
                "{}: unknown verb {verb} (scan, skip, visits, offline, online, noise)",
                self.id()
            )),
        }
    }

    fn generated(&self) -> u64 {
        self.core.generated.load(Ordering::SeqCst)
    }

    fn patrol_visits(&self) -> Option<Vec<crate::sim::patrol::WalkedVisit>> {
        self.walks_rounds().then(|| self.visits())
    }
}

impl NativeDevice for PatrolReader {
    fn core(&self) -> &DeviceCore {
        &self.core
    }

    fn respond(&self, request: &Frame) -> Option<Vec<u8>> {
        self.core.respond(request, |req| self.execute(req))
    }
}

// ---------------------------------------------------------------- desk reader

/// The card desk's reader: reports the card laid on it, new or already issued.
#[derive(Debug)]
pub struct DeskReader {
    core: DeviceCore,
    state: Mutex<DeskState>,
}

#[derive(Debug)]
struct DeskState {
    known: HashSet<u32>,
    present: Option<CardPresence>,
}

impl DeskReader {
    /// `known`: cards already issued (reported "used"); any other card is "new".
    pub fn new(line: &str, machine_no: u8, clock: SimClock, known: Vec<u32>) -> Arc<DeskReader> {
        Arc::new(DeskReader {
            core: DeviceCore::new(line, machine_no, clock),
            state: Mutex::new(DeskState {
                known: known.into_iter().collect(),
                present: None,
            }),
        })
    }

    /// Lays a card on the reader: the next POLL or CARD_PRESENT reports it once.
    pub fn present(&self, card: u32) -> CardPresence {
        let mut s = lock(&self.state);
        let p = CardPresence {
            card,
            new_card: !s.known.contains(&card),
        };
        s.present = Some(p);
        p
    }

    /// The card is now issued: from now on it reads as used.
    pub fn mark_known(&self, card: u32) {
        lock(&self.state).known.insert(card);
    }

    fn execute(&self, req: Request) -> Result<Reply, NakReason> {
        let mut s = lock(&self.state);
        match req {
            Request::Poll => {
                let card = s.present.take();
                Ok(Reply::Poll(PollStatus {
                    conditions: Conditions::default().with(Condition::CardPresent, card.is_some()),
                    stored: 0,
                    card,
                }))
            }
            Request::CardPresent => Ok(Reply::CardPresent(s.present.take())),
            req => {
                let conditions =
                    Conditions::default().with(Condition::CardPresent, s.present.is_some());
                drop(s);
                let common: Common<'_, PurchaseRecord> = Common {
                    core: &self.core,
                    kind: DeviceKind::DeskReader,
                    model: "OC-DESK-1",
                    memory: None,
                    conditions,
                    tables: (TableState::default(), TableState::default()),
                };
                common
                    .execute(&req)
                    .unwrap_or(Err(NakReason::UnknownCommand))
            }
        }
    }
}

impl SimTerminal for DeskReader {
    fn id(&self) -> String {
        format!("desk/{}/{}", self.core.line, self.core.machine_no)
    }

    fn kind(&self) -> TerminalKind {
        TerminalKind::DeskReader
    }

    /// Cards are laid on the desk reader by an operator, never by background traffic.
    fn traffic(&self, _rng: &mut StdRng) {}

    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String> {
        if let Some(r) = self.core.control_common(verb, args) {
            return r;
        }
        match verb {
            "present" => {
                let card = parse_u32(args.first(), "CARD")?;
                let p = self.present(card);
                Ok(format!(
                    "card {card} on the reader ({})",
                    if p.new_card { "new" } else { "used" }
                ))
            }
            _ => Err(format!(
                "{}: unknown verb {verb} (present, offline, online, noise)",
                self.id()
            )),
        }
    }

    /// The desk reader stores no records.
    fn generated(&self) -> u64 {
        0
    }
}

impl NativeDevice for DeskReader {
    fn core(&self) -> &DeviceCore {
        &self.core
    }

    fn respond(&self, request: &Frame) -> Option<Vec<u8>> {
        self.core.respond(request, |req| self.execute(req))
    }
}
