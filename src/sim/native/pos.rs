//! A simulated POS: purchases offline and online, its blacklist, price table and limits.

use super::*;
use crate::terminal::native::TxnState;
use std::time::Duration;

/// A canteen or shop POS terminal.
#[derive(Debug)]
pub struct Pos {
    core: DeviceCore,
    state: Mutex<PosState>,
    /// Rung whenever an ask ends (answered, or gone offline).
    finished: tokio::sync::Notify,
}

/// Transaction numbers the journal keeps: far more than the upload memory, as a real POS's
/// journal does.
const JOURNAL_KEPT: usize = 100_000;

#[derive(Debug)]
struct PosState {
    records: RecordStore<PurchaseRecord>,
    /// Cards the simulator's traffic uses (the POS itself knows only its blacklist).
    cards: Vec<u32>,
    blacklist: ChunkedTable,
    limits: Limits,
    prices: Vec<PriceEntry>,
    txn_no: u32,
    totals: BTreeMap<NaiveDate, (u32, i64)>,
    daily_counts: HashMap<(u32, NaiveDate), u16>,
    /// What each card spent offline on each local day, against the offline limit.
    offline_spent: HashMap<(u32, NaiveDate), i64>,
    /// The purchase waiting for the host's AUTH_RESULT, and when the POS stops waiting.
    pending: Option<PendingAuth>,
    deadline: Option<Instant>,
    /// How long it waits for the host before it sells offline; None: for ever.
    auth_timeout: Option<Duration>,
    /// AUTH_RESULT frames never arrive (a fault on the way back, for tests).
    lose_answers: bool,
    /// Its journal: each transaction number it used lately, and the sale under it (None: none).
    journal: BTreeMap<u32, Option<PurchaseRecord>>,
    /// How its asks ended, newest last.
    answered: VecDeque<(PendingAuth, AuthOutcome)>,
}

/// Answers a POS remembers (for a repeated AUTH_RESULT and the `answer` verb).
const ANSWERS_KEPT: usize = 16;

/// A POS's default wait for the host's answer before it sells offline.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(3);

/// How a purchase the POS sent to the host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The host's answer, and the online record stored (0: declined).
    Host(AuthResult, u32),
    /// No answer in time: sold offline under the same transaction number (Ok: its record), or
    /// refused by the offline rules (Err: why).
    Offline(Result<u32, String>),
}

impl Pos {
    /// A POS whose simulated traffic uses `cards`. It keeps no balances: online the host's
    /// account decides and its balance is shown; offline it sells within its limits to any card
    /// not on its blacklist.
    pub fn new(
        line: &str,
        machine_no: u8,
        clock: SimClock,
        capacity: usize,
        mut cards: Vec<u32>,
    ) -> Arc<Pos> {
        cards.sort_unstable();
        Arc::new(Pos {
            core: DeviceCore::new(line, machine_no, clock),
            state: Mutex::new(PosState {
                records: RecordStore::new(capacity),
                cards,
                blacklist: ChunkedTable::default(),
                limits: Limits::default(),
                prices: Vec::new(),
                txn_no: 0,
                totals: BTreeMap::new(),
                daily_counts: HashMap::new(),
                offline_spent: HashMap::new(),
                pending: None,
                deadline: None,
                auth_timeout: Some(AUTH_TIMEOUT),
                lose_answers: false,
                journal: BTreeMap::new(),
                answered: VecDeque::new(),
            }),
            finished: tokio::sync::Notify::new(),
        })
    }

    /// From now on a full memory overwrites its oldest record instead of refusing purchases.
    pub fn overwrite_when_full(&self) {
        lock(&self.state).records.overwrite = true;
    }

    /// Records held (not yet acknowledged).
    pub fn stored(&self) -> usize {
        lock(&self.state).records.held.len()
    }

    pub fn is_blacklisted(&self, card: u32) -> bool {
        lock(&self.state).blacklist.contains(card)
    }

    pub fn blacklist_state(&self) -> TableState {
        lock(&self.state).blacklist.state
    }

    /// The active blacklist, sorted.
    pub fn blacklist(&self) -> Vec<u32> {
        let mut v: Vec<u32> = lock(&self.state).blacklist.active.iter().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn limits(&self) -> Limits {
        lock(&self.state).limits
    }

    /// Count and sum (fen) of purchases on a terminal-local date.
    pub fn totals(&self, date: NaiveDate) -> (u32, i64) {
        lock(&self.state)
            .totals
            .get(&date)
            .copied()
            .unwrap_or((0, 0))
    }

    /// How long it waits for the host's answer before it sells offline (None: for ever); a
    /// purchase waiting now keeps the deadline it had.
    pub fn set_auth_timeout(&self, timeout: Option<Duration>) {
        lock(&self.state).auth_timeout = timeout;
    }

    /// AUTH_RESULT frames are lost on the way (true) or arrive again (false).
    pub fn lose_answers(&self, lose: bool) {
        lock(&self.state).lose_answers = lose;
    }

    /// The cashier stops waiting for the host now: the purchase waiting, if any, goes offline.
    pub fn give_up(&self) {
        let mut s = lock(&self.state);
        self.expire(&mut s, true);
    }

    /// Past its deadline (or `now`), the waiting purchase is sold offline with its own
    /// transaction number, within the offline rules. Firmware checks its timer in its main
    /// loop; the simulator whenever the POS is touched (its bus, its keys, a look at it).
    fn expire(&self, s: &mut PosState, now: bool) {
        let due = now || s.deadline.is_some_and(|d| Instant::now() >= d);
        let Some(p) = s.pending.take_if(|_| due) else {
            return;
        };
        s.deadline = None;
        let sold = match s.purchase_as(p.at, p.card, i64::from(p.amount_fen), Some(p.txn_no)) {
            Ok(Ok(r)) => {
                self.core.generated.fetch_add(1, Ordering::SeqCst);
                Ok(r.record_no)
            }
            Ok(Err(deny)) => Err(deny.name().to_string()),
            Err(nak) => Err(nak.to_string()),
        };
        s.finish(p, AuthOutcome::Offline(sold));
        self.finished.notify_waiters();
    }

    /// An offline purchase keyed at the terminal, within its offline rules.
    pub fn purchase(&self, card: u32, amount_fen: i64) -> Result<PurchaseRecord, String> {
        let now = self.core.now();
        let mut s = lock(&self.state);
        self.expire(&mut s, false);
        match s.purchase_as(now, card, amount_fen, None) {
            Ok(Ok(r)) => {
                self.core.generated.fetch_add(1, Ordering::SeqCst);
                Ok(r)
            }
            Ok(Err(deny)) => Err(deny.name().to_string()),
            Err(nak) => Err(nak.to_string()),
        }
    }

    /// Transaction numbers used with nothing stored under them (a sale voided mid-way, a
    /// firmware fault): the next purchase numbers `n` past the last. The host sees a gap.
    /// Returns the numbers skipped.
    pub fn skip(&self, n: u32) -> Result<(u32, u32), String> {
        if n == 0 || n > 1_000_000 {
            return Err(format!("{n}: skip between 1 and 1000000 numbers"));
        }
        let mut s = lock(&self.state);
        if let Some(p) = &s.pending {
            return Err(format!("transaction {} still waits for the host", p.txn_no));
        }
        let first = s.txn_no.wrapping_add(1).max(1);
        s.txn_no = s.txn_no.wrapping_add(n);
        let last = s.txn_no;
        for t in first.max(last.saturating_sub(JOURNAL_KEPT as u32 - 1))..=last {
            s.journal_set(t, None);
        }
        Ok((first, last))
    }

    /// A purchase keyed with the card on the reader, sent to the host for authorisation: the
    /// POS waits for its answer (AUTH_PENDING until the host reads and answers it). Returns
    /// the transaction number.
    pub fn ask(&self, card: u32, amount_fen: i64, pin: Option<&str>) -> Result<u32, String> {
        let amount_fen = u32::try_from(amount_fen)
            .ok()
            .filter(|a| *a > 0 && *a <= i32::MAX as u32)
            .ok_or_else(|| format!("{amount_fen} fen is not an amount"))?;
        if pin.is_some_and(|p| p.len() != PIN_LEN || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("a payment PIN is {PIN_LEN} digits"));
        }
        let now = self.core.now();
        let mut s = lock(&self.state);
        self.expire(&mut s, false);
        if let Some(p) = &s.pending {
            return Err(format!("transaction {} still waits for the host", p.txn_no));
        }
        if s.records.is_full() && !s.records.overwrite {
            return Err(NakReason::MemoryFull.to_string());
        }
        let txn_no = s.txn_no.wrapping_add(1).max(1);
        s.txn_no = txn_no;
        s.journal_set(txn_no, None);
        s.pending = Some(PendingAuth {
            txn_no,
            card,
            amount_fen,
            pin: pin.map(str::to_string),
            at: now,
        });
        s.deadline = s.auth_timeout.map(|t| Instant::now() + t);
        Ok(txn_no)
    }

    /// The purchase waiting for the host, if any.
    pub fn pending(&self) -> Option<PendingAuth> {
        let mut s = lock(&self.state);
        self.expire(&mut s, false);
        s.pending.clone()
    }

    /// The host's answer to transaction `txn_no`, once it came: (its answer, the record stored).
    /// None too when the POS stopped waiting and went offline ([`Pos::outcome`]).
    pub fn answer(&self, txn_no: u32) -> Option<(AuthResult, u32)> {
        match self.outcome(txn_no)? {
            AuthOutcome::Host(a, record) => Some((a, record)),
            AuthOutcome::Offline(_) => None,
        }
    }

    /// How transaction `txn_no` ended, once it did: the host's answer or the offline fallback.
    pub fn outcome(&self, txn_no: u32) -> Option<AuthOutcome> {
        let mut s = lock(&self.state);
        self.expire(&mut s, false);
        s.answered
            .iter()
            .rev()
            .find(|(p, _)| p.txn_no == txn_no)
            .map(|(_, o)| o.clone())
    }

    /// How `txn_no` ended, waiting up to `patience` for it: woken by its end, not by polling.
    pub async fn settled(&self, txn_no: u32, patience: Duration) -> Option<AuthOutcome> {
        let end = tokio::time::Instant::now() + patience;
        loop {
            let woken = self.finished.notified();
            if let Some(o) = self.outcome(txn_no) {
                return Some(o);
            }
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            // Now and then anyway: the POS's own timeout is seen when it is looked at.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), woken).await;
        }
    }

    fn execute(&self, req: Request) -> Result<Reply, NakReason> {
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        self.expire(s, false);
        let conditions = s
            .records
            .conditions()
            .with(Condition::TablesMissing, !s.blacklist.loaded())
            .with(Condition::AuthPending, s.pending.is_some());
        let common = Common {
            core: &self.core,
            kind: DeviceKind::Pos,
            model: "OC-POS-200",
            memory: Some(&mut s.records),
            conditions,
            tables: (
                s.blacklist.state,
                TableState {
                    version: 0,
                    count: s.prices.len() as u32,
                },
            ),
        };
        if let Some(r) = common.execute(&req) {
            return r;
        }
        match req {
            Request::AuthRequest => Ok(Reply::Pending(s.pending.clone())),
            Request::AuthResult(r) => {
                let (record_no, stored) = s.answer_with(r)?;
                if stored {
                    self.core.generated.fetch_add(1, Ordering::SeqCst);
                }
                self.finished.notify_waiters();
                Ok(Reply::Answered { record_no })
            }
            Request::DownloadBlacklist(chunk) => s.blacklist.apply(chunk),
            Request::SetPriceTable(mut entries) => {
                entries.sort_by_key(|e| e.start_minute);
                s.prices = entries;
                Ok(Reply::Done)
            }
            Request::SetLimits(l) => {
                s.limits = l;
                Ok(Reply::Done)
            }
            Request::ReadTxn(t) => Ok(Reply::Txn(match s.journal.get(&t) {
                Some(Some(r)) => TxnState::Sold(*r),
                Some(None) => TxnState::Void,
                None => TxnState::Unknown,
            })),
            Request::DailyTotals(date) => {
                let (count, sum_fen) = s.totals.get(&date).copied().unwrap_or((0, 0));
                Ok(Reply::Totals(DailyTotals {
                    date,
                    count,
                    sum_fen,
                }))
            }
            _ => Err(NakReason::UnknownCommand),
        }
    }
}

impl PosState {
    /// The host's answer to the pending purchase: approved, it is stored as an online record
    /// with the host's balance. The same answer again gets the same reply; a late answer to a
    /// transaction the POS finished offline is acknowledged with 0 and changes nothing (§8.5);
    /// an answer to any other transaction is refused.
    /// Returns the record number, and whether it was stored now.
    fn answer_with(&mut self, r: AuthResult) -> Result<(u32, bool), NakReason> {
        let Some(p) = self.pending.clone().filter(|p| p.txn_no == r.txn_no) else {
            return self
                .answered
                .iter()
                .rev()
                .find(|(p, _)| p.txn_no == r.txn_no)
                .and_then(|(_, o)| match o {
                    AuthOutcome::Host(a, record) => (*a == r).then_some((*record, false)),
                    AuthOutcome::Offline(_) => Some((0, false)),
                })
                .ok_or(NakReason::BadParameter);
        };
        let mut record_no = 0;
        if r.denied.is_none() {
            let meal_slot = self.slot(p.at).map_or(0, |e| e.slot);
            let rec = self
                .records
                .push(|n| PurchaseRecord {
                    record_no: n,
                    at: p.at,
                    card: p.card,
                    amount_fen: p.amount_fen as i32,
                    balance_after_fen: r.balance_fen,
                    txn_no: p.txn_no,
                    meal_slot,
                    mode: PurchaseMode::Online,
                })
                .ok_or(NakReason::MemoryFull)?;
            record_no = rec.record_no;
            self.journal_set(p.txn_no, Some(rec));
            self.count(p.at.date(), p.card, i64::from(p.amount_fen));
        }
        self.pending = None;
        self.deadline = None;
        self.finish(p, AuthOutcome::Host(r, record_no));
        Ok((record_no, record_no != 0))
    }

    fn finish(&mut self, p: PendingAuth, outcome: AuthOutcome) {
        self.answered.push_back((p, outcome));
        while self.answered.len() > ANSWERS_KEPT {
            self.answered.pop_front();
        }
    }

    /// Notes what transaction `txn` became; the oldest fall out past [`JOURNAL_KEPT`].
    fn journal_set(&mut self, txn: u32, sale: Option<PurchaseRecord>) {
        self.journal.insert(txn, sale);
        while self.journal.len() > JOURNAL_KEPT {
            self.journal.pop_first();
        }
    }

    /// A purchase made on `day`, in the daily totals and the card's daily count.
    fn count(&mut self, day: NaiveDate, card: u32, amount: i64) {
        self.daily_counts
            .retain(|(_, d), _| *d + ChronoDuration::days(1) >= day);
        *self.daily_counts.entry((card, day)).or_insert(0) += 1;
        let t = self.totals.entry(day).or_insert((0, 0));
        t.0 += 1;
        t.1 += amount;
        let oldest = day - ChronoDuration::days(TOTALS_DAYS);
        self.totals.retain(|d, _| *d >= oldest);
    }

    fn slot(&self, now: NaiveDateTime) -> Option<PriceEntry> {
        let minute = (now.hour() * 60 + now.minute()) as u16;
        self.prices
            .iter()
            .rev()
            .find(|e| e.start_minute <= minute)
            .or(self.prices.last())
            .copied()
    }

    /// One offline purchase: Err = NAK (memory full), Ok(Err) = declined, Ok(Ok) = stored
    /// record. Offline the POS cannot check a PIN (the host holds it): above `pin_above` it
    /// refuses. Its record carries no balance: the account on the host is the truth. `txn`: the
    /// number an unanswered ask already took, else the next one.
    fn purchase_as(
        &mut self,
        now: NaiveDateTime,
        card: u32,
        amount: i64,
        txn: Option<u32>,
    ) -> Result<Result<PurchaseRecord, DenyReason>, NakReason> {
        if amount <= 0 || amount > i64::from(i32::MAX) {
            return Err(NakReason::BadParameter);
        }
        if self.records.is_full() && !self.records.overwrite {
            return Err(NakReason::MemoryFull);
        }
        if self.blacklist.contains(card) {
            return Ok(Err(DenyReason::Blacklisted));
        }
        let l = self.limits;
        if l.pin_above_fen != 0 && amount > i64::from(l.pin_above_fen) {
            return Ok(Err(DenyReason::PinRequired));
        }
        if l.per_purchase_fen != 0 && amount > i64::from(l.per_purchase_fen) {
            return Ok(Err(DenyReason::OverPurchaseLimit));
        }
        let today = now.date();
        let count = self.daily_counts.get(&(card, today)).copied().unwrap_or(0);
        if l.daily_count != 0 && count >= l.daily_count {
            return Ok(Err(DenyReason::DailyCountReached));
        }
        let spent = self.offline_spent.get(&(card, today)).copied().unwrap_or(0);
        if l.offline_daily_fen != 0 && spent + amount > i64::from(l.offline_daily_fen) {
            return Ok(Err(DenyReason::OfflineLimit));
        }
        let txn_no = txn.unwrap_or_else(|| self.txn_no.wrapping_add(1).max(1));
        let meal_slot = self.slot(now).map_or(0, |e| e.slot);
        let Some(rec) = self.records.push(|record_no| PurchaseRecord {
            record_no,
            at: now,
            card,
            amount_fen: amount as i32,
            balance_after_fen: 0,
            txn_no,
            meal_slot,
            mode: PurchaseMode::Offline,
        }) else {
            return Err(NakReason::MemoryFull);
        };
        if txn.is_none() {
            self.txn_no = txn_no;
        }
        self.journal_set(txn_no, Some(rec));
        self.offline_spent
            .retain(|(_, d), _| *d + ChronoDuration::days(1) >= today);
        *self.offline_spent.entry((card, today)).or_insert(0) += amount;
        self.count(today, card, amount);
        Ok(Ok(rec))
    }
}

impl SimTerminal for Pos {
    fn id(&self) -> String {
        format!("pos/{}/{}", self.core.line, self.core.machine_no)
    }

    fn kind(&self) -> TerminalKind {
        TerminalKind::Pos
    }

    /// An offline purchase by a random card: the slot's fixed price, or 3.00-25.00 yuan.
    fn traffic(&self, rng: &mut StdRng) {
        let (card, amount) = {
            let s = lock(&self.state);
            if s.cards.is_empty() {
                return;
            }
            let card = s.cards[rng.gen_range(0..s.cards.len())];
            let fixed = s.slot(self.core.now()).map_or(0, |e| e.price_fen);
            let amount = if fixed > 0 {
                i64::from(fixed)
            } else {
                rng.gen_range(300..=2500)
            };
            (card, amount)
        };
        // Declined or memory full: nothing stored, nothing generated.
        let _ = self.purchase(card, amount);
    }

    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String> {
        if let Some(r) = self.core.control_common(verb, args) {
            return r;
        }
        match verb {
            "purchase" => {
                let card = parse_u32(args.first(), "CARD")?;
                let yuan = args.get(1).ok_or("usage: purchase CARD AMOUNT_YUAN")?;
                let fen = yuan
                    .parse::<Money>()
                    .ok()
                    .filter(|m| m.is_positive())
                    .and_then(Money::to_fen)
                    .ok_or_else(|| format!("{yuan} is not a positive amount in fen"))?;
                let r = self.purchase(card, fen)?;
                Ok(format!(
                    "record {}: card {card} paid {} yuan offline (transaction {})",
                    r.record_no,
                    Money::from_fen(i64::from(r.amount_fen)).csv(),
                    r.txn_no
                ))
            }
            "skip" => {
                let n = parse_u32(args.first(), "N")?;
                let (first, last) = self.skip(n)?;
                Ok(format!(
                    "transaction numbers {first}-{last} skipped: the next purchase is {}",
                    last + 1
                ))
            }
            "pay" => {
                let card = parse_u32(args.first(), "CARD")?;
                let yuan = args.get(1).ok_or("usage: pay CARD AMOUNT_YUAN [PIN]")?;
                let fen = yuan
                    .parse::<Money>()
                    .ok()
                    .filter(|m| m.is_positive())
                    .and_then(Money::to_fen)
                    .ok_or_else(|| format!("{yuan} is not a positive amount in fen"))?;
                let txn = self.ask(card, fen, args.get(2).copied())?;
                Ok(format!("transaction {txn}: card {card}, {yuan} yuan, waits for the host"))
            }
            "answer" => {
                let mut s = lock(&self.state);
                self.expire(&mut s, false);
                if let Some(p) = &s.pending {
                    return Ok(format!("transaction {} still waits for the host", p.txn_no));
                }
                let (p, o) = s.answered.back().ok_or("no transaction answered yet")?;
                let (a, record) = match o {
                    AuthOutcome::Host(a, record) => (a, record),
                    AuthOutcome::Offline(Ok(record)) => {
                        return Ok(format!(
                            "transaction {}: no answer in time, sold offline, record {record}",
                            p.txn_no
                        ))
                    }
                    AuthOutcome::Offline(Err(why)) => {
                        return Ok(format!(
                            "transaction {}: no answer in time, refused offline ({why})",
                            p.txn_no
                        ))
                    }
                };
                let balance = Money::from_fen(i64::from(a.balance_fen)).csv();
                Ok(match a.denied {
                    None => format!(
                        "transaction {}: approved, record {record}, balance {balance} yuan",
                        p.txn_no
                    ),
                    Some(d) => format!(
                        "transaction {}: declined ({}), balance {balance} yuan",
                        p.txn_no,
                        d.name()
                    ),
                })
            }
            "blacklisted" => {
                let card = parse_u32(args.first(), "CARD")?;
                let s = lock(&self.state);
                let t = s.blacklist.state;
                Ok(format!(
                    "card {card} {} (blacklist version {}, {} cards)",
                    if s.blacklist.contains(card) {
                        "blacklisted"
                    } else {
                        "not blacklisted"
                    },
                    t.version,
                    t.count
                ))
            }
            "reset" | "swap" => {
                // Factory settings, or another machine at this address (another serial):
                // records numbered from 1 again, the blacklist gone.
                if verb == "swap" {
                    self.core.swaps.fetch_add(1, Ordering::SeqCst);
                }
                let mut s = lock(&self.state);
                let overwrite = s.records.overwrite;
                s.records = RecordStore::new(s.records.capacity);
                s.records.overwrite = overwrite;
                s.blacklist = ChunkedTable::default();
                s.txn_no = 0;
                s.pending = None;
                s.deadline = None;
                s.answered.clear();
                Ok(format!(
                    "machine {} {}: records and blacklist cleared, serial {}",
                    self.core.machine_no,
                    if verb == "swap" { "swapped" } else { "reset" },
                    self.core.serial()
                ))
            }
            "auth-timeout" => {
                let secs = args
                    .first()
                    .and_then(|a| a.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or("usage: auth-timeout SECONDS (0: wait for ever)")?;
                let t = (secs > 0.0).then(|| Duration::from_secs_f64(secs));
                self.set_auth_timeout(t);
                Ok(match t {
                    Some(_) => format!("waits {secs} s for the host, then sells offline"),
                    None => "waits for the host for ever".to_string(),
                })
            }
            "give-up" => {
                let txn = self.pending().map(|p| p.txn_no).ok_or("nothing waits for the host")?;
                self.give_up();
                Ok(format!("transaction {txn}: no longer waits for the host"))
            }
            "blacklist" => {
                let t = self.blacklist_state();
                let cards: Vec<String> = self.blacklist().iter().map(u32::to_string).collect();
                Ok(format!(
                    "blacklist version {}, {} cards: {}",
                    t.version,
                    t.count,
                    cards.join(" ")
                ))
            }
            _ => Err(format!(
                "{}: unknown verb {verb} (purchase, pay, skip, answer, auth-timeout, give-up, blacklisted, blacklist, reset, swap, offline, online, noise)",
                self.id()
            )),
        }
    }

    fn generated(&self) -> u64 {
        self.core.generated.load(Ordering::SeqCst)
    }
}

impl NativeDevice for Pos {
    fn core(&self) -> &DeviceCore {
        &self.core
    }

    fn respond(&self, request: &Frame) -> Option<Vec<u8>> {
        if request.cmd == cmd::AUTH_RESULT && lock(&self.state).lose_answers {
            return None;
        }
        self.core.respond(request, |req| self.execute(req))
    }
}
