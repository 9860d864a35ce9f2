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
//!   card not active: lost, replaced, surrendered, cancelled) when the card enters or leaves
//!   it. Other cards' rows for that POS still waiting on an earlier list are moved to the new
//!   command, which carries them too.
//!
//! Every sync takes one transaction-level advisory lock, so two cards changing at once never
//! push two blacklists each missing the other's card (under READ COMMITTED the second one
//! reads the first one's committed change once it holds the lock).
//!
//! [`confirmations`] says how far a card's last change has reached; [`resend`] queues again
//! what failed or whose outcome is unknown.

use super::audit;
use super::command::{CardGrant, CardRevoke, CommandError, TerminalCommand};
use super::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::NaiveDate;
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

impl Plan {
    async fn load(tx: &mut PgConnection, card_id: i64) -> Result<Plan, sqlx::Error> {
        let card = sqlx::query(
            "SELECT c.card_no, c.state, c.subsystems, c.valid_from, c.valid_until,
                    p.person_no, p.name, k.doors AS kind_doors, k.attendance AS kind_attendance
             FROM card c JOIN person p ON p.id = c.person_id JOIN card_kind k ON k.kind = c.kind
             WHERE c.id = $1",
        )
        .bind(card_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
        let card_no: i64 = card.try_get("card_no")?;
        let card_no = u32::try_from(card_no).map_err(|_| sqlx::Error::ColumnDecode {
            index: "card_no".into(),
            source: format!("card number {card_no} does not fit a terminal").into(),
        })?;
        let state: String = card.try_get("state")?;
        let subsystems: Vec<String> = card.try_get("subsystems")?;
        let from: NaiveDate = card.try_get("valid_from")?;
        let until: NaiveDate = card.try_get("valid_until")?;
        let person_no: String = card.try_get("person_no")?;
        let name: String = card.try_get("name")?;
        let kind_doors: bool = card.try_get("kind_doors")?;
        let kind_attendance: bool = card.try_get("kind_attendance")?;

        // The terminals' own calendar: their clocks run on local time.
        let today = chrono::Local::now().date_naive();
        let usable = state == "active" && from <= today && today <= until;
        let has = |s: &str| subsystems.iter().any(|x| x == s);
        let door_ok = usable && kind_doors && has("door");
        let attendance_ok = usable && kind_attendance && has("attendance");

        let grants: Vec<(i64, String, i16)> = sqlx::query_as(
            "SELECT g.terminal_id, t.kind, g.door FROM card_grant g
             JOIN terminal t ON t.id = g.terminal_id WHERE g.card_id = $1
             ORDER BY g.terminal_id, g.door",
        )
        .bind(card_id)
        .fetch_all(&mut *tx)
        .await?;
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
                            card: card_no,
                            doors: Vec::new(),
                            from,
                            until,
                            user_id: Some(person_no.clone()),
                            name: Some(name.clone()),
                        },
                    );
                }
                _ => {}
            }
        }
        for (terminal, d) in doors {
            // A door controller granted no door (door 0 only) refuses the card.
            if !d.is_empty() {
                accept.insert(terminal, CardGrant::for_doors(card_no, &d, from, until));
            }
        }

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
            card_no,
            person_no,
            accept,
            blacklisted: state != "active",
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
            Step::Blacklist => {
                if self.blacklist.is_none() {
                    self.blacklist = Some(current_blacklist(tx).await?);
                }
                TerminalCommand::PushBlacklist {
                    cards: self.blacklist.clone().unwrap_or_default(),
                }
            }
        };
        let id = self.insert(tx, actor, terminal, &cmd).await?;
        sqlx::query(
            "INSERT INTO card_sync (card_id, terminal_id, stance, command_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (card_id, terminal_id) DO UPDATE
                 SET stance = EXCLUDED.stance, command_id = EXCLUDED.command_id, queued_at = now()",
        )
        .bind(plan.card_id)
        .bind(terminal)
        .bind(stance)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if matches!(cmd, TerminalCommand::PushBlacklist { .. }) {
            // The new list is the whole table: it settles every other card still waiting on an
            // earlier list for this POS (whose stance the list agrees with).
            let moved: Vec<i64> = sqlx::query_scalar(
                "UPDATE card_sync s SET command_id = $2, queued_at = now()
                 FROM terminal_command c, card k
                 WHERE s.terminal_id = $1 AND s.card_id <> $3 AND c.id = s.command_id
                   AND c.state <> 'done' AND k.id = s.card_id
                   AND (s.stance = 'refuse') = (k.state <> 'active')
                 RETURNING s.card_id",
            )
            .bind(terminal)
            .bind(id)
            .bind(plan.card_id)
            .fetch_all(&mut *tx)
            .await?;
            self.cards.extend(moved);
            // A POS takes the whole table: an older list still waiting (its cards now wait on
            // this one) would only be downloaded to be replaced at once.
            sqlx::query(
                "UPDATE terminal_command SET state = 'done', finished_at = now(),
                     result = 'superseded by command ' || $2
                 WHERE terminal_id = $1 AND state = 'queued' AND id < $2
                   AND command->>'op' = 'push_blacklist'",
            )
            .bind(terminal)
            .bind(id)
            .execute(&mut *tx)
            .await?;
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
/// surrendered, cancelled), sorted.
async fn current_blacklist(tx: &mut PgConnection) -> Result<Vec<u32>, sqlx::Error> {
    let numbers: Vec<i64> =
        sqlx::query_scalar("SELECT card_no FROM card WHERE state <> 'active' ORDER BY card_no")
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
    let today = chrono::Local::now().date_naive();
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
    /// The terminal's answer when it failed.
    pub result: Option<String>,
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
    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT s.terminal_id, t.name, s.stance, c.state, c.result
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
    for (terminal_id, terminal_name, stance, command_state, result) in rows {
        if command_state == "done" {
            out.confirmed += 1;
        } else {
            out.pending.push(Pending {
                terminal_id,
                terminal_name,
                stance,
                command_state,
                result,
            });
        }
    }
    Ok(out)
}
