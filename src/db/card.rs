//! The card desk: issue, rewrite, report lost/found, reissue, exchange, return/cancel, extend
//! (one card or a batch), PINs and purchase limits, and what the desk reads about a card.
//!
//! Every transition is one transaction: the card row is locked first (`FOR UPDATE`, so two
//! desks racing on one card get one winner and one clear refusal), the state machine in
//! `domain::card` decides, then the change, its `card_event` row, any ledger movement, the
//! audit row (`card.<transition>`, before and after), `propagation::sync_card` for what the
//! terminals must accept, and one `Change` notification. An error drops the transaction, so
//! nothing is left half done.
//!
//! Lock order, the same everywhere: the card-sync lock (for transitions that tell terminals),
//! person row, card rows (in id order), accounts (in id order, inside `ledger`), then the audit
//! chain's lock (taken by the first audit row).

use super::ledger::{self, LedgerError, MovementKind, SystemAccount};
use super::notify::Change;
use super::{audit, propagation, stock};
use crate::domain::card::Transition;
use crate::domain::card::{self as machine, CardKind, CardState, Context, Refusal, Subsystem};
use crate::domain::money::Money;
use crate::domain::password;
use crate::domain::permission::{Action, Actor, Denied};
use crate::domain::role::Role;
use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

mod pins;
mod reads;
mod transitions;

pub use pins::*;
pub use reads::*;
pub use transitions::*;

/// Why the desk could not do it, in the desk's words.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("no such card")]
    NotFound,
    #[error("card number {card_no} was already issued (to {holder}): a card number belongs to one card for ever")]
    CardNumberTaken { card_no: i64, holder: String },
    #[error("{person_name} ({person_no}) already holds card {card_no} ({state}): one card in service per person; return, cancel or reissue it")]
    PersonHasCard {
        person_no: String,
        person_name: String,
        card_no: i64,
        state: CardState,
    },
    #[error(
        "the cardholder has left: no card is issued, reissued or extended for a person who left"
    )]
    PersonLeft,
    #[error("the old PIN is wrong")]
    WrongPin,
    #[error("the balance {balance} does not cover the fee of {needed}: take it in cash")]
    InsufficientBalance { balance: Money, needed: Money },
    #[error("{0}")]
    BadInput(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl From<LedgerError> for CardError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Sql(e) => CardError::Sql(e),
            LedgerError::Denied(d) => CardError::Denied(d),
            other => CardError::BadInput(other.to_string()),
        }
    }
}

fn decode(e: String) -> CardError {
    CardError::Sql(sqlx::Error::Decode(e.into()))
}

/// Who pays a fee: cash at the desk, or the person's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaidFrom {
    Cash,
    Balance,
}

crate::domain::named!(PaidFrom, "payment source", {
    Cash => "cash",
    Balance => "balance",
});

/// 查詢密碼 or 消費密碼.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinKind {
    Query,
    Payment,
}

crate::domain::named!(PinKind, "PIN kind", {
    Query => "query",
    Payment => "payment",
});

impl PinKind {
    fn column(self) -> &'static str {
        match self {
            PinKind::Query => "query_pin_hash",
            PinKind::Payment => "payment_pin_hash",
        }
    }
}

/// What happens to the balance when a card of this kind is returned or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BalancePolicy {
    /// The college's rule: the balance goes to the forfeited-balance account.
    Kept,
    /// Paid back in cash at the desk.
    Refunded,
}

crate::domain::named!(BalancePolicy, "balance policy", {
    Kept => "kept",
    Refunded => "refunded",
});

/// 發行: what the operator picked for a blank card the desk reader read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    pub card_no: i64,
    pub person_id: i64,
    pub kind: CardKind,
    pub subsystems: Vec<Subsystem>,
    pub door_groups: Vec<i64>,
    /// POS and attendance machines granted.
    pub terminals: Vec<i64>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// Who pays the kind's issue fee, when it has one.
    pub paid_from: PaidFrom,
}

/// A card written: its initial PINs are shown once and stored only as hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub card_id: i64,
    pub card_no: i64,
    pub query_pin: String,
    pub payment_pin: String,
    /// The fee charged, if the kind has one.
    pub fee: Option<Money>,
}

impl fmt::Debug for Issued {
    // PINs stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("card_id", &self.card_id)
            .field("card_no", &self.card_no)
            .field("query_pin", &"******")
            .field("payment_pin", &"******")
            .field("fee", &self.fee)
            .finish()
    }
}

/// 改寫: the card's new grants and validity (everything is replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub subsystems: Vec<Subsystem>,
    pub door_groups: Vec<i64>,
    pub terminals: Vec<i64>,
    pub valid_until: NaiveDate,
}

/// What a return or cancel did with the balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Closed {
    /// Paid back in cash.
    pub refunded: Money,
    /// Moved to the forfeited-balance account.
    pub kept: Money,
}

/// The purchase limits in force for a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_purchase: Money,
    pub daily_count: i32,
    /// Above this amount the POS asks for the payment PIN (the per-purchase limit).
    pub pin_above: Money,
}

/// One thing the card may use: a door (1-4) of a controller, or a POS / attendance machine
/// (door 0).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    pub terminal_id: i64,
    pub terminal_name: String,
    /// terminal.kind: door_controller, pos, attendance_machine
    pub terminal_kind: String,
    pub door: i16,
}

/// A card as the desk shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    pub card_id: i64,
    pub card_no: i64,
    pub person_id: i64,
    pub person_no: String,
    pub person_name: String,
    pub department: String,
    /// The person has left.
    pub person_left: bool,
    pub kind: CardKind,
    pub state: CardState,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub subsystems: Vec<Subsystem>,
    pub grants: Vec<Grant>,
    /// Door groups whose every door the card is granted, by name.
    pub door_groups: Vec<(i64, String)>,
    /// The person's balance (it follows the person from card to card).
    pub balance: Money,
    pub limits: Limits,
    /// The card's own limits; None: the kind's default.
    pub own_per_purchase: Option<Money>,
    pub own_daily_count: Option<i32>,
    pub lost_at: Option<DateTime<Utc>>,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
    pub replaces_card_no: Option<i64>,
    pub replaced_by_card_no: Option<i64>,
}

impl CardView {
    /// "2 doors, 1 POS, 1 attendance machine"
    pub fn grants_summary(&self) -> String {
        let count = |k: &str| self.grants.iter().filter(|g| g.terminal_kind == k).count();
        let mut parts = Vec::new();
        let doors = count("door_controller");
        if doors > 0 {
            parts.push(format!("{doors} door{}", if doors == 1 { "" } else { "s" }));
        }
        let pos = count("pos");
        if pos > 0 {
            parts.push(format!("{pos} POS"));
        }
        let att = count("attendance_machine");
        if att > 0 {
            parts.push(format!(
                "{att} attendance machine{}",
                if att == 1 { "" } else { "s" }
            ));
        }
        if parts.is_empty() {
            "no grants".into()
        } else {
            parts.join(", ")
        }
    }

    pub fn expired(&self, today: NaiveDate) -> bool {
        self.valid_until < today
    }
}

/// What the desk reader's card is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLookup {
    /// Never issued: a blank.
    New,
    /// In service (active).
    Issued(CardView),
    /// Lost, replaced, surrendered or cancelled: refused on every terminal.
    Blacklisted(CardView),
}

/// One line of a card's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CardEventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub event: String,
    pub actor: String,
    pub old_until: Option<NaiveDate>,
    pub new_until: Option<NaiveDate>,
    pub other_card_no: Option<i64>,
    pub reason: String,
    pub detail: Value,
}

/// A card kind's policy (a settings row). `doors` and `attendance` are fixed by the domain
/// (temporary cards only pay); the rest is changed with `set_card_kind_policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKindPolicy {
    pub kind: CardKind,
    pub doors: bool,
    pub attendance: bool,
    pub balance_on_return: BalancePolicy,
    pub per_purchase_limit: Money,
    pub daily_count_limit: i32,
    /// Longest validity one issue or extension may give; None: no limit.
    pub max_validity_days: Option<i32>,
    pub issue_fee: Money,
    pub reissue_fee: Money,
    pub exchange_fee: Money,
}

impl CardKindPolicy {
    fn max_days(&self) -> Option<i64> {
        self.max_validity_days.map(i64::from)
    }
}

/// One card a batch extension would (or did) extend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub card_id: i64,
    pub card_no: i64,
    pub person_no: String,
    pub person_name: String,
    pub old_until: NaiveDate,
    pub new_until: NaiveDate,
}

/// One card a batch cannot extend, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRefusal {
    pub card_id: i64,
    /// None when there is no card with that id.
    pub card_no: Option<i64>,
    pub why: BatchWhy,
}

/// Why a batch cannot extend one card: data, so the console says it in the operator's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchWhy {
    ListedTwice,
    NoSuchCard,
    Refused(Refusal),
    PersonLeft,
    /// Anything else, in English for the command line.
    Other(String),
}

impl fmt::Display for BatchWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchWhy::ListedTwice => f.write_str("listed twice"),
            BatchWhy::NoSuchCard => f.write_str("no such card"),
            BatchWhy::Refused(r) => write!(f, "{r}"),
            BatchWhy::PersonLeft => write!(f, "{}", CardError::PersonLeft),
            BatchWhy::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for BatchRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.card_no {
            Some(no) => write!(f, "card {no}: {}", self.why),
            None => write!(f, "card id {}: {}", self.card_id, self.why),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("nothing extended; {} card(s) cannot be extended:\n{}", .0.len(), .0.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<BatchRefusal>),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

// ---------------------------------------------------------------------------------------------
// Rows and helpers

/// The card row as a transition sees it (locked), with the holder's status and the database's
/// clock.
#[derive(Debug, Clone, sqlx::FromRow)]
struct CardRow {
    id: i64,
    card_no: i64,
    person_id: i64,
    kind: String,
    state: String,
    subsystems: Vec<String>,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    lost_at: Option<DateTime<Utc>>,
    per_purchase_limit: Option<Money>,
    daily_count_limit: Option<i32>,
    replaces_card_id: Option<i64>,
    replaced_by_card_id: Option<i64>,
    query_pin_hash: String,
    payment_pin_hash: String,
    person_no: String,
    person_name: String,
    person_status: String,
    db_now: DateTime<Utc>,
}

impl CardRow {
    fn kind(&self) -> Result<CardKind, CardError> {
        self.kind.parse().map_err(decode)
    }

    fn state(&self) -> Result<CardState, CardError> {
        self.state.parse().map_err(decode)
    }

    fn pin_hash(&self, pin: PinKind) -> &str {
        match pin {
            PinKind::Query => &self.query_pin_hash,
            PinKind::Payment => &self.payment_pin_hash,
        }
    }

    fn context(&self, actor: &Actor, override_reason: Option<&str>) -> Result<Context, CardError> {
        Ok(Context {
            card_no: self.card_no,
            state: self.state()?,
            lost_at: self.lost_at,
            now: self.db_now,
            director_override: override_reason.is_some(),
            override_reason_given: override_reason.is_some_and(|r| !r.trim().is_empty()),
            is_director: is_director(actor),
        })
    }

    fn check(&self, t: Transition, actor: &Actor) -> Result<(), CardError> {
        machine::check(t, &self.context(actor, None)?)?;
        Ok(())
    }
}

const CARD_ROW: &str =
    "SELECT c.id, c.card_no, c.person_id, c.kind, c.state, c.subsystems, c.valid_from,
        c.valid_until, c.lost_at, c.per_purchase_limit, c.daily_count_limit, c.replaces_card_id,
        c.replaced_by_card_id, c.query_pin_hash, c.payment_pin_hash, p.person_no,
        p.name AS person_name, p.status AS person_status, now() AS db_now
    FROM card c JOIN person p ON p.id = c.person_id";

/// The local shell acts with no role and may do what a director may.
fn is_director(actor: &Actor) -> bool {
    matches!(actor.role, None | Some(Role::Director))
}

/// The desk's today (local calendar date).
fn today() -> NaiveDate {
    crate::domain::time::today()
}

async fn lock(conn: &mut PgConnection, card_id: i64) -> Result<CardRow, CardError> {
    sqlx::query_as(&format!("{CARD_ROW} WHERE c.id = $1 FOR UPDATE OF c"))
        .bind(card_id)
        .fetch_optional(conn)
        .await?
        .ok_or(CardError::NotFound)
}

async fn load(conn: &mut PgConnection, card_id: i64) -> Result<CardRow, CardError> {
    sqlx::query_as(&format!("{CARD_ROW} WHERE c.id = $1"))
        .bind(card_id)
        .fetch_optional(conn)
        .await?
        .ok_or(CardError::NotFound)
}

/// The card as the audit log records it (never the PIN hashes).
async fn snapshot(conn: &mut PgConnection, card_id: i64) -> Result<Value, CardError> {
    let c = load(&mut *conn, card_id).await?;
    let grants: Vec<(i64, i16)> = sqlx::query_as(
        "SELECT terminal_id, door FROM card_grant WHERE card_id = $1 ORDER BY terminal_id, door",
    )
    .bind(card_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(json!({
        "id": c.id,
        "card_no": c.card_no,
        "person_id": c.person_id,
        "person_no": c.person_no,
        "kind": c.kind,
        "state": c.state,
        "subsystems": c.subsystems,
        "valid_from": c.valid_from,
        "valid_until": c.valid_until,
        "lost_at": c.lost_at,
        "per_purchase_limit": c.per_purchase_limit,
        "daily_count_limit": c.daily_count_limit,
        "replaces_card_id": c.replaces_card_id,
        "replaced_by_card_id": c.replaced_by_card_id,
        "grants": grants.iter().map(|(t, d)| json!([t, d])).collect::<Vec<_>>(),
    }))
}

/// The optional columns of a `card_event` row.
struct Event<'a> {
    old_until: Option<NaiveDate>,
    new_until: Option<NaiveDate>,
    other_card_id: Option<i64>,
    reason: &'a str,
    detail: Value,
}

impl Default for Event<'_> {
    fn default() -> Self {
        Event {
            old_until: None,
            new_until: None,
            other_card_id: None,
            reason: "",
            detail: json!({}),
        }
    }
}

async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    card_id: i64,
    event: &str,
    e: Event<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO card_event (card_id, event, operator_id, actor, old_until, new_until,
                                 other_card_id, reason, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(card_id)
    .bind(event)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .bind(e.old_until)
    .bind(e.new_until)
    .bind(e.other_card_id)
    .bind(e.reason)
    .bind(e.detail)
    .execute(conn)
    .await?;
    Ok(())
}

async fn audit_card(
    conn: &mut PgConnection,
    actor: &Actor,
    transition: &str,
    card_id: i64,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), sqlx::Error> {
    audit::append(
        conn,
        actor,
        &format!("card.{transition}"),
        "card",
        &card_id.to_string(),
        before,
        after,
    )
    .await?;
    Ok(())
}

/// A transaction for a transition that tells the terminals: the sync lock first (see the lock
/// order above).
async fn begin_syncing(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    propagation::lock(&mut tx).await?;
    Ok(tx)
}

/// Tells the terminals (when `sync`), announces the cards and commits.
async fn finish(
    mut tx: Transaction<'static, Postgres>,
    actor: &Actor,
    cards: &[i64],
    sync: bool,
) -> Result<(), CardError> {
    // One notification for the commit: the cards, and the commands their sync queued.
    let mut change = Change::cards(cards.to_vec());
    if sync {
        for &id in cards {
            change.merge(propagation::sync_card(&mut tx, actor, id).await?.change);
        }
    }
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

fn new_pin() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
}

/// A PIN is exactly 6 digits.
pub fn valid_pin(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// argon2 is slow on purpose: off the async threads.
async fn hash_pins(pins: Vec<String>) -> Result<Vec<String>, CardError> {
    tokio::task::spawn_blocking(move || pins.iter().map(|p| password::hash(p)).collect())
        .await
        .map_err(|e| CardError::BadInput(format!("hashing the PIN failed: {e}")))
}

pub(crate) async fn verify_hash(pin: &str, hash: &str) -> bool {
    let (pin, hash) = (pin.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || password::verify(&pin, &hash))
        .await
        .unwrap_or(false)
}

/// Two fresh PINs (query, payment) and their hashes.
async fn fresh_pins() -> Result<([String; 2], [String; 2]), CardError> {
    let pins = [new_pin(), new_pin()];
    let hashes = hash_pins(pins.to_vec()).await?;
    let [q, p]: [String; 2] = hashes
        .try_into()
        .map_err(|_| CardError::BadInput("hashing the PINs failed".into()))?;
    Ok((pins, [q, p]))
}

fn check_card_no(card_no: i64) -> Result<(), CardError> {
    if (1..=u32::MAX as i64).contains(&card_no) {
        Ok(())
    } else {
        Err(CardError::BadInput(format!(
            "card number {card_no} is not a card number (1 to {})",
            u32::MAX
        )))
    }
}

async fn card_no_free(conn: &mut PgConnection, card_no: i64) -> Result<(), CardError> {
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT p.name || ' (' || p.person_no || ')' FROM card c JOIN person p ON p.id = c.person_id
         WHERE c.card_no = $1",
    )
    .bind(card_no)
    .fetch_optional(conn)
    .await?;
    match holder {
        Some(holder) => Err(CardError::CardNumberTaken { card_no, holder }),
        None => Ok(()),
    }
}

/// A clash found by a unique index (another desk wrote the card number, or a card for the
/// person, first): name the holder now that our transaction is gone.
async fn explain(pool: &PgPool, e: CardError) -> CardError {
    match e {
        CardError::CardNumberTaken { card_no, holder } if holder.is_empty() => {
            let mut conn = match pool.acquire().await {
                Ok(c) => c,
                Err(e) => return CardError::Sql(e),
            };
            match card_no_free(&mut conn, card_no).await {
                Err(named) => named,
                Ok(()) => CardError::CardNumberTaken {
                    card_no,
                    holder: "another person".into(),
                },
            }
        }
        CardError::PersonHasCard {
            person_no,
            person_name,
            card_no: 0,
            state,
        } if person_name.is_empty() => {
            let named = async {
                let mut conn = pool.acquire().await?;
                let id: i64 = person_no.parse().unwrap_or_default();
                let p: Option<Person> =
                    sqlx::query_as("SELECT id, person_no, name, status FROM person WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                Ok::<_, CardError>(match p {
                    Some(p) => no_card_in_service(&mut conn, &p).await.err(),
                    None => None,
                })
            };
            match named.await {
                Ok(Some(e)) => e,
                Ok(None) => CardError::PersonHasCard {
                    person_no,
                    person_name: "the person".into(),
                    card_no: 0,
                    state,
                },
                Err(e) => e,
            }
        }
        other => other,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Person {
    id: i64,
    person_no: String,
    name: String,
    status: String,
}

/// Locks the person (so two desks cannot issue to one person at once) and checks they are
/// still here.
async fn lock_person(conn: &mut PgConnection, person_id: i64) -> Result<Person, CardError> {
    let p: Person = sqlx::query_as(
        "SELECT id, person_no, name, status FROM person WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(person_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| CardError::BadInput(format!("no person with id {person_id}")))?;
    if p.status == "left" {
        return Err(CardError::PersonLeft);
    }
    Ok(p)
}

async fn no_card_in_service(conn: &mut PgConnection, p: &Person) -> Result<(), CardError> {
    let held: Option<(i64, String)> = sqlx::query_as(
        "SELECT card_no, state FROM card WHERE person_id = $1 AND state IN ('active', 'lost')",
    )
    .bind(p.id)
    .fetch_optional(conn)
    .await?;
    match held {
        Some((card_no, state)) => Err(CardError::PersonHasCard {
            person_no: p.person_no.clone(),
            person_name: p.name.clone(),
            card_no,
            state: state.parse().map_err(decode)?,
        }),
        None => Ok(()),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct KindRow {
    kind: String,
    doors: bool,
    attendance: bool,
    balance_on_return: String,
    per_purchase_limit: Money,
    daily_count_limit: i32,
    max_validity_days: Option<i32>,
    issue_fee: Money,
    reissue_fee: Money,
    exchange_fee: Money,
}

impl TryFrom<KindRow> for CardKindPolicy {
    type Error = CardError;
    fn try_from(r: KindRow) -> Result<Self, CardError> {
        Ok(CardKindPolicy {
            kind: r.kind.parse().map_err(decode)?,
            doors: r.doors,
            attendance: r.attendance,
            balance_on_return: r.balance_on_return.parse().map_err(decode)?,
            per_purchase_limit: r.per_purchase_limit,
            daily_count_limit: r.daily_count_limit,
            max_validity_days: r.max_validity_days,
            issue_fee: r.issue_fee,
            reissue_fee: r.reissue_fee,
            exchange_fee: r.exchange_fee,
        })
    }
}

const KIND_ROW: &str = "SELECT kind, doors, attendance, balance_on_return, per_purchase_limit,
        daily_count_limit, max_validity_days, issue_fee, reissue_fee, exchange_fee FROM card_kind";

async fn kind_policy(conn: &mut PgConnection, kind: CardKind) -> Result<CardKindPolicy, CardError> {
    let row: KindRow = sqlx::query_as(&format!("{KIND_ROW} WHERE kind = $1"))
        .bind(kind.name())
        .fetch_one(conn)
        .await?;
    row.try_into()
}

async fn kind_policies(
    conn: &mut PgConnection,
) -> Result<HashMap<CardKind, CardKindPolicy>, CardError> {
    let rows: Vec<KindRow> = sqlx::query_as(KIND_ROW).fetch_all(conn).await?;
    rows.into_iter()
        .map(|r| CardKindPolicy::try_from(r).map(|p| (p.kind, p)))
        .collect()
}

/// Checks subsystems and grants against the kind and the inventory; returns the subsystems in
/// canonical order without repeats.
async fn check_setup(
    conn: &mut PgConnection,
    kind: &CardKindPolicy,
    subsystems: &[Subsystem],
    door_groups: &[i64],
    terminals: &[i64],
) -> Result<Vec<Subsystem>, CardError> {
    let subs: Vec<Subsystem> = Subsystem::ALL
        .into_iter()
        .filter(|s| subsystems.contains(s))
        .collect();
    if subs.is_empty() {
        return Err(CardError::BadInput(
            "pick at least one subsystem (door, pos, attendance)".into(),
        ));
    }
    machine::check_subsystems(kind.kind, &subs)?;
    let refuse =
        |s: Subsystem| CardError::BadInput(format!("a {} card cannot be given {s}", kind.kind));
    if subs.contains(&Subsystem::Door) && !kind.doors {
        return Err(refuse(Subsystem::Door));
    }
    if subs.contains(&Subsystem::Attendance) && !kind.attendance {
        return Err(refuse(Subsystem::Attendance));
    }
    if !door_groups.is_empty() {
        machine::check_subsystems(kind.kind, &[Subsystem::Door])?;
        if !subs.contains(&Subsystem::Door) {
            return Err(CardError::BadInput(
                "door groups are granted only with the door subsystem".into(),
            ));
        }
        let found: Vec<i64> = sqlx::query_scalar("SELECT id FROM door_group WHERE id = ANY($1)")
            .bind(door_groups)
            .fetch_all(&mut *conn)
            .await?;
        if let Some(g) = door_groups.iter().find(|g| !found.contains(g)) {
            return Err(CardError::BadInput(format!("no door group {g}")));
        }
    }
    let found: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, kind, name FROM terminal WHERE id = ANY($1)")
            .bind(terminals)
            .fetch_all(&mut *conn)
            .await?;
    for t in terminals {
        let Some((_, tkind, name)) = found.iter().find(|f| f.0 == *t) else {
            return Err(CardError::BadInput(format!("no terminal {t}")));
        };
        let needs = match tkind.as_str() {
            "pos" => Subsystem::Pos,
            "attendance_machine" => Subsystem::Attendance,
            other => {
                return Err(CardError::BadInput(format!(
                    "{name} is a {}: only POS and attendance machines are granted one by one; doors come in door groups",
                    other.replace('_', " ")
                )))
            }
        };
        machine::check_subsystems(kind.kind, &[needs])?;
        if !subs.contains(&needs) {
            return Err(CardError::BadInput(format!(
                "{name} is granted only with the {needs} subsystem"
            )));
        }
    }
    Ok(subs)
}

fn subsystem_names(subs: &[Subsystem]) -> Vec<String> {
    subs.iter().map(|s| s.name().to_string()).collect()
}

/// Replaces the card's grants: door groups expanded to (controller, door), terminals as
/// (terminal, 0).
async fn write_grants(
    conn: &mut PgConnection,
    card_id: i64,
    door_groups: &[i64],
    terminals: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM card_grant WHERE card_id = $1")
        .bind(card_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO card_grant (card_id, terminal_id, door)
         SELECT DISTINCT $1::bigint, terminal_id, door FROM door_group_door WHERE door_group_id = ANY($2)
         UNION
         SELECT $1::bigint, t, 0::smallint FROM unnest($3::bigint[]) AS t",
    )
    .bind(card_id)
    .bind(door_groups)
    .bind(terminals)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

struct NewCard<'a> {
    card_no: i64,
    person_id: i64,
    kind: CardKind,
    subsystems: Vec<String>,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    replaces: Option<i64>,
    per_purchase_limit: Option<Money>,
    daily_count_limit: Option<i32>,
    hashes: &'a [String; 2],
}

async fn insert_card(
    conn: &mut PgConnection,
    actor: &Actor,
    c: NewCard<'_>,
) -> Result<i64, CardError> {
    sqlx::query_scalar(
        "INSERT INTO card (card_no, person_id, kind, subsystems, valid_from, valid_until, issued_by,
                           replaces_card_id, query_pin_hash, payment_pin_hash, per_purchase_limit,
                           daily_count_limit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(c.card_no)
    .bind(c.person_id)
    .bind(c.kind.name())
    .bind(&c.subsystems)
    .bind(c.valid_from)
    .bind(c.valid_until)
    .bind(&actor.name)
    .bind(c.replaces)
    .bind(&c.hashes[0])
    .bind(&c.hashes[1])
    .bind(c.per_purchase_limit)
    .bind(c.daily_count_limit)
    .fetch_one(conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("card_card_no_key") => {
            CardError::CardNumberTaken {
                card_no: c.card_no,
                holder: String::new(),
            }
        }
        sqlx::Error::Database(d) if d.constraint() == Some("card_one_in_service") => {
            // Named by `explain` once the transaction is gone.
            CardError::PersonHasCard {
                person_no: c.person_id.to_string(),
                person_name: String::new(),
                card_no: 0,
                state: CardState::Active,
            }
        }
        _ => CardError::Sql(e),
    })
}

/// The fee a new card costs, and whose card it is.
struct NewCardFee<'a> {
    kind: &'a str,
    card_id: i64,
    card_no: i64,
    person_id: i64,
    amount: Money,
    paid_from: PaidFrom,
}

/// A new card leaves the desk: its blank leaves the stock (`stock_note` says why) and its fee,
/// if it has one, is posted and listed with who collected it. Returns the fee charged.
async fn hand_over(
    conn: &mut PgConnection,
    actor: &Actor,
    fee: NewCardFee<'_>,
    stock_note: &str,
) -> Result<Option<Money>, CardError> {
    stock::take_blank(&mut *conn, actor, fee.card_id, stock_note).await?;
    let NewCardFee {
        kind: fee_kind,
        card_id,
        card_no,
        person_id,
        amount,
        paid_from,
    } = fee;
    if amount <= Money::ZERO {
        return Ok(None);
    }
    let holder = ledger::cardholder_account(&mut *conn, person_id).await?;
    let income = ledger::system_account(&mut *conn, SystemAccount::FeeIncome).await?;
    let source = match paid_from {
        PaidFrom::Cash => ledger::system_account(&mut *conn, SystemAccount::Cash).await?,
        PaidFrom::Balance => holder,
    };
    let balances = ledger::lock_accounts(&mut *conn, &[source, income]).await?;
    if paid_from == PaidFrom::Balance {
        let balance = balances.get(&holder).copied().unwrap_or_default();
        if balance < amount {
            return Err(CardError::InsufficientBalance {
                balance,
                needed: amount,
            });
        }
    }
    let movement = ledger::post(
        &mut *conn,
        actor,
        MovementKind::Fee,
        Some(card_id),
        &format!("{fee_kind} fee, card {card_no}"),
        &[(source, amount), (income, -amount)],
    )
    .await?;
    sqlx::query(
        "INSERT INTO fee (kind, card_id, amount, paid_from, movement_id, collected_by, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(fee_kind)
    .bind(card_id)
    .bind(amount)
    .bind(paid_from.name())
    .bind(movement)
    .bind(actor.operator_id)
    .bind(&actor.name)
    .execute(conn)
    .await?;
    Ok(Some(amount))
}
