//! What each terminal must accept for each card, and the commands that tell it.
//!
//! [`sync_card`] works out, from the card as it now is in the database, each terminal's
//! required stance on it and queues a command only where that stance (or what the terminal is
//! to hold) changed, recording it in `card_sync` (one row per card and terminal, pointing at
//! the newest command). The rules:
//!
//! * a door controller accepts the card when it is active, within its validity, has the `door`
//!   subsystem (and a kind that allows doors) and card_grant rows for that controller: the
//!   doors are those rows, the validity goes with it (`PushCards`);
//! * an attendance machine accepts it when it is active, within its validity, has the
//!   `attendance` subsystem and a grant row for the machine: a user with the person's
//!   person_no as user id, the person's name and the card (`PushCards`);
//! * a door controller or attendance machine that accepted it before (per `card_sync`) and
//!   must not any more gets `RevokeCards`;
//! * every POS gets its whole blacklist (`PushBlacklist`, a full versioned table of every
//!   card not active: lost, replaced, surrendered, cancelled, or overdrawn) when the card enters or leaves
//!   it. Other cards' rows for that POS still waiting on an earlier list are moved to the new
//!   command, which carries them too.
//!
//! Every sync takes one transaction-level advisory lock, so two cards changing at once never
//! push two blacklists each missing the other's card (under READ COMMITTED the second one
//! reads the first one's committed change once it holds the lock).
//!
//! [`confirmations`] says how far a card's last change has reached; [`resend`] queues again
//! what failed or whose outcome is unknown, for one card; [`requeue_unconfirmed`] does it for
//! one terminal that answers again (its poller calls it, nobody has to); [`unconfirmed`] lists
//! every change some terminal lacks. [`holdings`] is everything a terminal must hold (a
//! download), by the same rules, and [`downloaded`] settles the changes a download wrote.

use super::audit;
use super::command::{self, CardGrant, CardRevoke, CommandError, CommandFailure, TerminalCommand};
use super::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::BTreeMap;

/// Advisory lock serialising every card sync ("ocsync").
const SYNC_LOCK: i64 = 0x6F63_7379_6E63;

const ACCEPT: &str = "accept";
const REFUSE: &str = "refuse";

/// What `sync_card` queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Terminal commands queued (one per terminal whose stance on the card changed).
    pub queued: usize,
    /// The commands queued and the cards they concern: the caller folds this into the one
    /// notification its transaction sends.
    pub change: Change,
}

/// The card as it now is, and what every terminal concerned must do with it.
struct Plan {
    card_id: i64,
    card_no: u32,
    person_no: String,
    /// Door controllers and attendance machines that must accept the card, with what.
    accept: BTreeMap<i64, CardGrant>,
    /// The card is on every POS's blacklist.
    blacklisted: bool,
    pos: Vec<i64>,
    /// The card's `card_sync` rows, by terminal.
    rows: BTreeMap<i64, SyncRow>,
}

struct SyncRow {
    kind: String,
    stance: String,
    /// The newest command for the card there (None when it no longer decodes).
    command: Option<TerminalCommand>,
    command_state: String,
}

/// One step for one terminal.
enum Step {
    Push(CardGrant),
    Revoke(CardRevoke),
    Blacklist,
}

/// A card as the rules need it.
struct Facts {
    card_id: i64,
    card_no: u32,
    state: String,
    /// An offline purchase overdrew the account: refused at every POS until topped up.
    overdrawn: bool,
    subsystems: Vec<String>,
    from: NaiveDate,
    until: NaiveDate,
    person_no: String,
    name: String,
    kind_doors: bool,
    kind_attendance: bool,
}

/// The columns [`Facts::read`] reads, from `card c`, `person p` and `card_kind k`.
const FACTS: &str =
    "c.id AS card_id, c.card_no, c.state, c.overdrawn, c.subsystems, c.valid_from, c.valid_until,
     p.person_no, p.name, k.doors AS kind_doors, k.attendance AS kind_attendance";

impl Facts {
    fn read(row: &PgRow) -> Result<Facts, sqlx::Error> {
        let card_no: i64 = row.try_get("card_no")?;
        let card_no = u32::try_from(card_no).map_err(|_| sqlx::Error::ColumnDecode {
            index: "card_no".into(),
            source: format!("card number {card_no} does not fit a terminal").into(),
        })?;
        Ok(Facts {
            card_id: row.try_get("card_id")?,
            card_no,
            state: row.try_get("state")?,
            overdrawn: row.try_get("overdrawn")?,
            subsystems: row.try_get("subsystems")?,
            from: row.try_get("valid_from")?,
            until: row.try_get("valid_until")?,
            person_no: row.try_get("person_no")?,
            name: row.try_get("name")?,
            kind_doors: row.try_get("kind_doors")?,
            kind_attendance: row.try_get("kind_attendance")?,
        })
    }

    /// The terminals its grants make accept it, with what: the rules in the module docs.
    /// `grants` are (terminal, terminal kind, door), sorted by door.
    fn accept(
        &self,
        grants: impl IntoIterator<Item = (i64, String, i16)>,
    ) -> BTreeMap<i64, CardGrant> {
        // The terminals' own calendar: their clocks run on local time.
        let today = crate::domain::time::today();
        let usable = self.state == "active" && self.from <= today && today <= self.until;
        let has = |s: &str| self.subsystems.iter().any(|x| x == s);
        let door_ok = usable && self.kind_doors && has("door");
        let attendance_ok = usable && self.kind_attendance && has("attendance");
        let mut doors: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
        let mut accept = BTreeMap::new();
        for (terminal, kind, door) in grants {
            match kind.as_str() {
                "door_controller" if door_ok => {
                    let d = doors.entry(terminal).or_default();
                    if let Ok(door @ 1..=4) = u8::try_from(door) {
                        d.push(door);
                    }
                }
                "attendance_machine" if attendance_ok => {
                    accept.insert(
                        terminal,
                        CardGrant {
                            card: self.card_no,
                            doors: Vec::new(),
                            from: self.from,
                            until: self.until,
                            user_id: Some(self.person_no.clone()),
                            name: Some(self.name.clone()),
                        },
                    );
                }
                _ => {}
            }
        }
        for (terminal, d) in doors {
            // A door controller granted no door (door 0 only) refuses the card.
            if !d.is_empty() {
                accept.insert(
                    terminal,
                    CardGrant::for_doors(self.card_no, &d, self.from, self.until),
                );
            }
        }
        accept
    }
}

impl Plan {
    async fn load(tx: &mut PgConnection, card_id: i64) -> Result<Plan, sqlx::Error> {
        let facts = sqlx::query(&format!(
            "SELECT {FACTS} FROM card c JOIN person p ON p.id = c.person_id
             JOIN card_kind k ON k.kind = c.kind WHERE c.id = $1"
        ))
        .bind(card_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
        let facts = Facts::read(&facts)?;
        let grants: Vec<(i64, String, i16)> = sqlx::query_as(
            "SELECT g.terminal_id, t.kind, g.door FROM card_grant g
             JOIN terminal t ON t.id = g.terminal_id WHERE g.card_id = $1
             ORDER BY g.terminal_id, g.door",
        )
        .bind(card_id)
        .fetch_all(&mut *tx)
        .await?;
        let accept = facts.accept(grants);

        let rows = sqlx::query(
            "SELECT s.terminal_id, t.kind, s.stance, c.command, c.state
             FROM card_sync s JOIN terminal t ON t.id = s.terminal_id
             JOIN terminal_command c ON c.id = s.command_id
             WHERE s.card_id = $1",
        )
        .bind(card_id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            let command: serde_json::Value = r.try_get("command")?;
            Ok((
                r.try_get::<i64, _>("terminal_id")?,
                SyncRow {
                    kind: r.try_get("kind")?,
                    stance: r.try_get("stance")?,
                    command: serde_json::from_value(command).ok(),
                    command_state: r.try_get("state")?,
                },
            ))
        })
        .collect::<Result<BTreeMap<_, _>, sqlx::Error>>()?;

        let pos: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM terminal WHERE kind = 'pos' ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        Ok(Plan {
            card_id,
            card_no: facts.card_no,
            person_no: facts.person_no,
            accept,
            blacklisted: facts.state != "active" || facts.overdrawn,
            pos,
            rows,
        })
    }

    /// What `terminal` must hold now: (stance, step). None when the terminal has no business
    /// with the card (never accepted it and must not).
    fn wanted(&self, terminal: i64, kind: &str) -> Option<(&'static str, Step)> {
        if kind == "pos" {
            let stance = if self.blacklisted { REFUSE } else { ACCEPT };
            return Some((stance, Step::Blacklist));
        }
        if let Some(g) = self.accept.get(&terminal) {
            return Some((ACCEPT, Step::Push(g.clone())));
        }
        let row = self.rows.get(&terminal)?;
        if !matches!(row.kind.as_str(), "door_controller" | "attendance_machine") {
            return None;
        }
        // What was pushed there names the user to delete (a person_no may have changed since).
        let pushed_user = match &row.command {
            Some(TerminalCommand::PushCards { cards }) => cards
                .iter()
                .find(|g| g.card == self.card_no)
                .and_then(|g| g.user_id.clone()),
            _ => None,
        };
        let user_id = (row.kind == "attendance_machine")
            .then(|| pushed_user.unwrap_or_else(|| self.person_no.clone()));
        Some((
            REFUSE,
            Step::Revoke(CardRevoke {
                card: self.card_no,
                user_id,
            }),
        ))
    }

    /// True when the terminal already was told exactly this (whatever became of the command:
    /// a failure is for `resend`, not for a new sync).
    fn unchanged(&self, terminal: i64, stance: &str, step: &Step) -> bool {
        let Some(row) = self.rows.get(&terminal) else {
            // No row: a POS holds no card it was never told to refuse; a door controller or an
            // attendance machine holds none it was never given.
            return match step {
                Step::Blacklist => stance == ACCEPT,
                Step::Revoke(_) => true,
                Step::Push(_) => false,
            };
        };
        if row.stance != stance {
            return false;
        }
        match step {
            Step::Blacklist | Step::Revoke(_) => true,
            Step::Push(g) => matches!(
                &row.command,
                Some(TerminalCommand::PushCards { cards }) if cards.iter().any(|c| c == g)
            ),
        }
    }

    /// Every terminal concerned: POS terminals, granted ones, those that have a row.
    fn terminals(&self) -> Vec<(i64, String)> {
        let mut out: BTreeMap<i64, String> = BTreeMap::new();
        for &p in &self.pos {
            out.insert(p, "pos".into());
        }
        for (&t, r) in &self.rows {
            out.entry(t).or_insert_with(|| r.kind.clone());
        }
        for &t in self.accept.keys() {
            // A granted terminal is a door controller or an attendance machine; its kind only
            // matters for POS terminals, which are listed above.
            out.entry(t).or_insert_with(|| "granted".into());
        }
        out.into_iter().collect()
    }
}

/// Commands queued in one transaction, and the cards whose confirmations they touch.
struct Queued {
    commands: Vec<i64>,
    cards: Vec<i64>,
    /// Each POS's full blacklist, read once.
    blacklist: Option<Vec<u32>>,
}

impl Queued {
    fn new(card_id: i64) -> Queued {
        Queued {
            commands: Vec::new(),
            cards: vec![card_id],
            blacklist: None,
        }
    }

    async fn insert(
        &mut self,
        tx: &mut PgConnection,
        actor: &Actor,
        terminal: i64,
        cmd: &TerminalCommand,
    ) -> Result<i64, sqlx::Error> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO terminal_command (terminal_id, command, requested_by)
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(terminal)
        .bind(sqlx::types::Json(cmd))
        .bind(actor.operator_id)
        .fetch_one(&mut *tx)
        .await?;
        self.commands.push(id);
        Ok(id)
    }

    /// Queues `step` for `terminal` and points the card's row there at it.
    async fn run(
        &mut self,
        tx: &mut PgConnection,
        actor: &Actor,
        plan: &Plan,
        terminal: i64,
        stance: &str,
        step: Step,
    ) -> Result<(), sqlx::Error> {
        let cmd = match step {
            Step::Push(g) => TerminalCommand::PushCards { cards: vec![g] },
            Step::Revoke(r) => TerminalCommand::RevokeCards { cards: vec![r] },
            Step::Blacklist => self.blacklist_command(tx).await?,
        };
        self.send(tx, actor, terminal, &[(plan.card_id, stance)], &cmd)
            .await
    }

    async fn blacklist_command(
        &mut self,
        tx: &mut PgConnection,
    ) -> Result<TerminalCommand, sqlx::Error> {
        if self.blacklist.is_none() {
            self.blacklist = Some(current_blacklist(tx).await?);
        }
        Ok(TerminalCommand::PushBlacklist {
            cards: self.blacklist.clone().unwrap_or_default(),
        })
    }

    /// Queues `cmd` for `terminal` and points the rows of `cards` (card, stance) there at it.
    async fn send(
        &mut self,
        tx: &mut PgConnection,
        actor: &Actor,
        terminal: i64,
        cards: &[(i64, &str)],
        cmd: &TerminalCommand,
    ) -> Result<(), sqlx::Error> {
        let id = self.insert(tx, actor, terminal, cmd).await?;
        let ids: Vec<i64> = cards.iter().map(|(c, _)| *c).collect();
        let stances: Vec<&str> = cards.iter().map(|(_, s)| *s).collect();
        sqlx::query(
            "INSERT INTO card_sync (card_id, terminal_id, stance, command_id)
             SELECT u.card, $1, u.stance, $2 FROM unnest($3::bigint[], $4::text[]) AS u(card, stance)
             ON CONFLICT (card_id, terminal_id) DO UPDATE
                 SET stance = EXCLUDED.stance, command_id = EXCLUDED.command_id, queued_at = now()",
        )
        .bind(terminal)
        .bind(id)
        .bind(&ids)
        .bind(&stances)
        .execute(&mut *tx)
        .await?;
        self.cards.extend(&ids);
        if matches!(cmd, TerminalCommand::PushBlacklist { .. }) {
            // The new list is the whole table: it settles every other card still waiting on an
            // earlier list for this POS (whose stance the list agrees with).
            let moved: Vec<i64> = sqlx::query_scalar(
                "UPDATE card_sync s SET command_id = $2, queued_at = now()
                 FROM terminal_command c, card k
                 WHERE s.terminal_id = $1 AND s.card_id <> ALL($3) AND c.id = s.command_id
                   AND c.state <> 'done' AND k.id = s.card_id
                   AND (s.stance = 'refuse') = (k.state <> 'active')
                 RETURNING s.card_id",
            )
            .bind(terminal)
            .bind(id)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            self.cards.extend(moved);
            // A POS takes the whole table: an older list still waiting (its cards now wait on
            // this one) would only be downloaded to be replaced at once.
            command::supersede(tx, terminal, "push_blacklist", id).await?;
        }
        Ok(())
    }

    /// What was queued, as the notification to send (empty when nothing was).
    fn change(mut self) -> Change {
        if self.commands.is_empty() {
            return Change::default();
        }
        self.cards.sort_unstable();
        self.cards.dedup();
        Change {
            command: self.commands,
            card: self.cards,
            ..Change::default()
        }
    }
}

/// Every card number a POS must refuse: the cards that are not active (lost, replaced,
/// surrendered, cancelled) or overdrawn, sorted.
async fn current_blacklist(tx: &mut PgConnection) -> Result<Vec<u32>, sqlx::Error> {
    let numbers: Vec<i64> = sqlx::query_scalar(
        "SELECT card_no FROM card WHERE state <> 'active' OR overdrawn ORDER BY card_no",
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(numbers
        .into_iter()
        .filter_map(|n| u32::try_from(n).ok())
        .collect())
}

/// Card syncs one at a time. A transaction that also writes audit rows takes this first: the
/// audit chain's lock comes after it everywhere, so the two never deadlock.
pub(crate) async fn lock(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SYNC_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Brings every terminal's stance on a card in line with the card as it now is in the
/// database (state, validity, subsystems, grants), in the caller's transaction: queues a
/// command for every terminal that must change and records it in `card_sync`. Called by every
/// card transition after it wrote the card. The caller has authorised the transition; the
/// commands are requested by `actor`.
pub async fn sync_card(
    tx: &mut PgConnection,
    actor: &Actor,
    card_id: i64,
) -> Result<SyncSummary, sqlx::Error> {
    lock(tx).await?;
    let plan = Plan::load(tx, card_id).await?;
    let mut queued = Queued::new(card_id);
    for (terminal, kind) in plan.terminals() {
        let Some((stance, step)) = plan.wanted(terminal, &kind) else {
            continue;
        };
        if plan.unchanged(terminal, stance, &step) {
            continue;
        }
        queued.run(tx, actor, &plan, terminal, stance, step).await?;
    }
    Ok(SyncSummary {
        queued: queued.commands.len(),
        change: queued.change(),
    })
}

/// Cards whose validity began or ended in the last week: their terminals learn it, so a card
/// stops opening doors and punching the day after it expires without anyone touching it.
/// `serve` runs this hourly; `sync_card` queues nothing where the terminals already agree.
/// Returns the commands queued.
pub async fn sweep_validity(pool: &PgPool, actor: &Actor) -> Result<usize, sqlx::Error> {
    let today = crate::domain::time::today();
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM card WHERE state = 'active'
           AND (valid_until BETWEEN $1::date - 7 AND $1::date - 1
                OR valid_from BETWEEN $1::date - 6 AND $1::date)
         ORDER BY id",
    )
    .bind(today)
    .fetch_all(pool)
    .await?;
    let mut queued = 0;
    for id in ids {
        let mut tx = pool.begin().await?;
        let s = sync_card(&mut tx, actor, id).await?;
        s.change.send(&mut tx).await?;
        tx.commit().await?;
        queued += s.queued;
    }
    Ok(queued)
}

/// Queues again, for every terminal whose command for the card failed or has an unknown
/// outcome, what that terminal must hold now. Audited. Returns how many were queued.
pub async fn resend(pool: &PgPool, actor: &Actor, card_id: i64) -> Result<usize, CommandError> {
    if actor.authorize(Action::CardLifecycle).is_err() {
        actor.authorize(Action::DoorGrant)?;
    }
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let plan = Plan::load(&mut tx, card_id).await?;
    let mut queued = Queued::new(card_id);
    let mut terminals = Vec::new();
    for (&terminal, row) in &plan.rows {
        if !matches!(row.command_state.as_str(), "failed" | "unknown") {
            continue;
        }
        let Some((stance, step)) = plan.wanted(terminal, &row.kind) else {
            continue;
        };
        queued
            .run(&mut tx, actor, &plan, terminal, stance, step)
            .await?;
        terminals.push(terminal);
    }
    let commands = queued.commands.clone();
    let n = commands.len();
    queued.change().send(&mut tx).await?;
    if n > 0 {
        audit::append(
            &mut tx,
            actor,
            "card.resend",
            "card",
            &card_id.to_string(),
            None,
            Some(serde_json::json!({
                "card_no": plan.card_no,
                "terminals": terminals,
                "commands": commands,
            })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// One terminal that has not confirmed a card yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub terminal_id: i64,
    pub terminal_name: String,
    /// accept or refuse
    pub stance: String,
    /// The command's state: queued, running, failed or unknown.
    pub command_state: String,
    /// The terminal's answer when it failed, in English (for logs and scripts).
    pub result: Option<String>,
    /// Why it failed, as data (None while queued or running).
    pub failure: Option<CommandFailure>,
}

/// How far a card's last change has reached the terminals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmations {
    pub confirmed: usize,
    pub total: usize,
    pub pending: Vec<Pending>,
}

/// Each terminal's newest command for the card: confirmed when it is done.
pub async fn confirmations(pool: &PgPool, card_id: i64) -> Result<Confirmations, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.terminal_id, t.name, s.stance, c.state, c.result, c.outcome
         FROM card_sync s JOIN terminal t ON t.id = s.terminal_id
         JOIN terminal_command c ON c.id = s.command_id
         WHERE s.card_id = $1 ORDER BY t.name, t.id",
    )
    .bind(card_id)
    .fetch_all(pool)
    .await?;
    let mut out = Confirmations {
        total: rows.len(),
        ..Confirmations::default()
    };
    for r in rows {
        let command_state: String = r.try_get("state")?;
        if command_state == "done" {
            out.confirmed += 1;
            continue;
        }
        let outcome: Option<serde_json::Value> = r.try_get("outcome")?;
        out.pending.push(Pending {
            terminal_id: r.try_get("terminal_id")?,
            terminal_name: r.try_get("name")?,
            stance: r.try_get("stance")?,
            command_state,
            result: r.try_get("result")?,
            failure: failure_of(outcome.as_ref()),
        });
    }
    Ok(out)
}

fn failure_of(outcome: Option<&serde_json::Value>) -> Option<CommandFailure> {
    command::parse_outcome(outcome?)?.err()
}

/// One card change a terminal has not confirmed: its command is queued, running, failed or of
/// unknown outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnconfirmedSync {
    pub terminal_id: i64,
    pub terminal_name: String,
    pub card_id: i64,
    pub card_no: i64,
    /// The cardholder's name.
    pub person_name: String,
    /// accept or refuse
    pub stance: String,
    pub command_id: i64,
    /// queued, running, failed or unknown
    pub command_state: String,
    /// When the change was queued for this terminal.
    pub queued_at: DateTime<Utc>,
    /// Why it failed, as data (None while queued or running).
    pub failure: Option<CommandFailure>,
}

/// Every card change some terminal lacks (of one terminal, or of all), by terminal, oldest
/// first: the "pending and failed syncs" list.
pub async fn unconfirmed(
    pool: &PgPool,
    terminal_id: Option<i64>,
) -> Result<Vec<UnconfirmedSync>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.terminal_id, t.name AS terminal_name, s.card_id, k.card_no, p.name AS person_name,
                s.stance, s.command_id, c.state, s.queued_at, c.outcome
         FROM card_sync s JOIN terminal t ON t.id = s.terminal_id
         JOIN terminal_command c ON c.id = s.command_id
         JOIN card k ON k.id = s.card_id JOIN person p ON p.id = k.person_id
         WHERE c.state <> 'done' AND ($1::bigint IS NULL OR s.terminal_id = $1)
         ORDER BY t.name, s.terminal_id, s.queued_at, s.card_id",
    )
    .bind(terminal_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let outcome: Option<serde_json::Value> = r.try_get("outcome")?;
            Ok(UnconfirmedSync {
                terminal_id: r.try_get("terminal_id")?,
                terminal_name: r.try_get("terminal_name")?,
                card_id: r.try_get("card_id")?,
                card_no: r.try_get("card_no")?,
                person_name: r.try_get("person_name")?,
                stance: r.try_get("stance")?,
                command_id: r.try_get("command_id")?,
                command_state: r.try_get("state")?,
                queued_at: r.try_get("queued_at")?,
                failure: failure_of(outcome.as_ref()),
            })
        })
        .collect()
}

/// Queues again, for one terminal that answers again, every card change it has not confirmed
/// (its `card_sync` rows whose command failed or has an unknown outcome): what it must hold
/// now, as one command per kind of step (the cards to store, those to remove; a POS's whole
/// blacklist). Called by its line's poller, with nobody asking. Audited when it queued
/// anything. Returns the commands queued.
pub async fn requeue_unconfirmed(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
) -> Result<usize, sqlx::Error> {
    const UNCONFIRMED: &str = "SELECT s.card_id FROM card_sync s
         JOIN terminal_command c ON c.id = s.command_id
         WHERE s.terminal_id = $1 AND c.state IN ('failed', 'unknown') ORDER BY s.card_id";
    // Asked at every come-back and at every start: nothing to do costs no lock.
    let any: Option<i64> = sqlx::query_scalar(&format!("{UNCONFIRMED} LIMIT 1"))
        .bind(terminal_id)
        .fetch_optional(pool)
        .await?;
    if any.is_none() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let cards: Vec<i64> = sqlx::query_scalar(UNCONFIRMED)
        .bind(terminal_id)
        .fetch_all(&mut *tx)
        .await?;
    if cards.is_empty() {
        return Ok(0);
    }
    let kind: String = sqlx::query_scalar("SELECT kind FROM terminal WHERE id = $1")
        .bind(terminal_id)
        .fetch_one(&mut *tx)
        .await?;
    let mut queued = Queued::new(cards[0]);
    let (mut push, mut revoke, mut blacklist) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pushed, mut revoked) = (Vec::new(), Vec::new());
    for &card in &cards {
        let plan = Plan::load(&mut tx, card).await?;
        match plan.wanted(terminal_id, &kind) {
            Some((stance, Step::Push(g))) => {
                push.push((card, stance));
                pushed.push(g);
            }
            Some((stance, Step::Revoke(r))) => {
                revoke.push((card, stance));
                revoked.push(r);
            }
            Some((stance, Step::Blacklist)) => blacklist.push((card, stance)),
            None => {}
        }
    }
    if !push.is_empty() {
        let cmd = TerminalCommand::PushCards { cards: pushed };
        queued
            .send(&mut tx, actor, terminal_id, &push, &cmd)
            .await?;
    }
    if !revoke.is_empty() {
        let cmd = TerminalCommand::RevokeCards { cards: revoked };
        queued
            .send(&mut tx, actor, terminal_id, &revoke, &cmd)
            .await?;
    }
    if !blacklist.is_empty() {
        let cmd = queued.blacklist_command(&mut tx).await?;
        queued
            .send(&mut tx, actor, terminal_id, &blacklist, &cmd)
            .await?;
    }
    let commands = queued.commands.clone();
    if !commands.is_empty() {
        audit::append(
            &mut tx,
            actor,
            "terminal.resync",
            "terminal",
            &terminal_id.to_string(),
            None,
            Some(serde_json::json!({ "cards": cards, "commands": commands })),
        )
        .await?;
    }
    queued.change().send(&mut tx).await?;
    tx.commit().await?;
    Ok(commands.len())
}

/// What a terminal must hold, from the database as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holdings {
    /// A door controller's grants, an attendance machine's users: each card it must accept
    /// (any other card it must refuse).
    Cards(Vec<CardGrant>),
    /// A POS's whole blacklist.
    Blacklist(Vec<u32>),
    /// A patrol reader's tables: every guard's card and every checkpoint's tag.
    Patrol {
        guards: Vec<u32>,
        checkpoints: Vec<u32>,
    },
    /// A terminal the database decides no cards for (a desk reader).
    Nothing,
}

/// What `terminal_id` must hold now: the same rules as [`sync_card`], for every card at once.
pub async fn holdings(pool: &PgPool, terminal_id: i64) -> Result<Holdings, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let kind: String = sqlx::query_scalar("SELECT kind FROM terminal WHERE id = $1")
        .bind(terminal_id)
        .fetch_one(&mut *conn)
        .await?;
    match kind.as_str() {
        "pos" => Ok(Holdings::Blacklist(current_blacklist(&mut conn).await?)),
        "door_controller" | "attendance_machine" => {
            let rows = sqlx::query(&format!(
                "SELECT {FACTS}, g.door FROM card_grant g JOIN card c ON c.id = g.card_id
                 JOIN person p ON p.id = c.person_id JOIN card_kind k ON k.kind = c.kind
                 WHERE g.terminal_id = $1 ORDER BY c.card_no, g.door"
            ))
            .bind(terminal_id)
            .fetch_all(&mut *conn)
            .await?;
            let mut cards = Vec::new();
            let mut i = 0;
            while i < rows.len() {
                let facts = Facts::read(&rows[i])?;
                let mut grants = Vec::new();
                while i < rows.len() && rows[i].try_get::<i64, _>("card_id")? == facts.card_id {
                    grants.push((terminal_id, kind.clone(), rows[i].try_get("door")?));
                    i += 1;
                }
                cards.extend(facts.accept(grants).remove(&terminal_id));
            }
            Ok(Holdings::Cards(cards))
        }
        "patrol_reader" => {
            // Both columns are checked to fit 32 bits; a row that did not would be skipped.
            let guards: Vec<i64> = sqlx::query_scalar("SELECT card FROM guard ORDER BY card")
                .fetch_all(&mut *conn)
                .await?;
            let checkpoints: Vec<i64> =
                sqlx::query_scalar("SELECT tag FROM checkpoint ORDER BY tag")
                    .fetch_all(&mut *conn)
                    .await?;
            let narrow = |v: Vec<i64>| {
                v.into_iter()
                    .filter_map(|n| u32::try_from(n).ok())
                    .collect()
            };
            Ok(Holdings::Patrol {
                guards: narrow(guards),
                checkpoints: narrow(checkpoints),
            })
        }
        _ => Ok(Holdings::Nothing),
    }
}

/// After command `command_id` made `terminal_id` hold `h` (a download): every card change
/// there not confirmed yet that asks exactly what the download wrote is settled by it (its
/// `card_sync` row points at the download, and is confirmed when that is done). A change that
/// asks anything else keeps waiting for its own command. Returns the rows settled.
pub async fn downloaded(
    pool: &PgPool,
    terminal_id: i64,
    command_id: i64,
    h: &Holdings,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let rows: Vec<(i64, i64, String, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT s.card_id, k.card_no, s.stance, c.command, c.id
         FROM card_sync s JOIN card k ON k.id = s.card_id
         JOIN terminal_command c ON c.id = s.command_id
         WHERE s.terminal_id = $1 AND c.state <> 'done' AND c.id <> $2",
    )
    .bind(terminal_id)
    .bind(command_id)
    .fetch_all(&mut *tx)
    .await?;
    let settled: Vec<(i64, i64)> = rows
        .into_iter()
        .filter(|(_, card_no, stance, cmd, _)| {
            let refuse = stance == REFUSE;
            match h {
                Holdings::Blacklist(list) => {
                    refuse == u32::try_from(*card_no).is_ok_and(|n| list.binary_search(&n).is_ok())
                }
                Holdings::Cards(grants) => {
                    let written = grants.iter().find(|g| i64::from(g.card) == *card_no);
                    match (refuse, written) {
                        (true, None) => true,
                        (false, Some(g)) => matches!(
                            serde_json::from_value(cmd.clone()),
                            Ok(TerminalCommand::PushCards { cards }) if cards.contains(g)
                        ),
                        _ => false,
                    }
                }
                Holdings::Patrol { .. } | Holdings::Nothing => false,
            }
        })
        .map(|(card, _, _, _, old)| (card, old))
        .collect();
    let mut n = 0;
    for (card, old) in &settled {
        n += sqlx::query(
            "UPDATE card_sync SET command_id = $3
             WHERE card_id = $1 AND terminal_id = $2 AND command_id = $4",
        )
        .bind(card)
        .bind(terminal_id)
        .bind(command_id)
        .bind(old)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(usize::try_from(n).unwrap_or(0))
}
