//! The command queue: the console inserts, the poller owning the terminal's line claims with
//! FOR UPDATE SKIP LOCKED, runs it with a timeout, and records the terminal's answer.

use super::audit;
use super::notify::Change;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgPool, Row};
use std::fmt;

/// What goes to hardware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TerminalCommand {
    OpenDoor {
        door: u8,
    },
    SetTime,
    ClearRecords,
    OnlineTest,
    SetDoorMode {
        door: u8,
        mode: DoorMode,
        unlock_secs: u8,
    },
    /// Stores or updates cards: on a door controller with their doors and validity, on an
    /// attendance machine as users (`user_id`, `name`, card), on a patrol reader as its whole
    /// guards table.
    PushCards {
        cards: Vec<CardGrant>,
    },
    /// Removes cards a door controller or an attendance machine held; a card it does not hold
    /// is fine.
    RevokeCards {
        cards: Vec<CardRevoke>,
    },
    /// A POS's whole blacklist (a full, versioned table). On a door controller: deletes the
    /// cards.
    PushBlacklist {
        cards: Vec<u32>,
    },
    /// Reads every record the terminal holds now and stores it (commit, then ack), as polling
    /// does, reporting progress.
    Extract,
    /// Makes the terminal hold exactly what the database says it must accept, read when the
    /// command runs: a door controller's grants, an attendance machine's users, a POS's
    /// blacklist. Cards it holds and must not are removed.
    DownloadCards,
    /// Reads a POS's own totals (count, sum) of a day and stores them for the daily
    /// reconciliation (`pos_daily_total`).
    DailyTotals {
        date: NaiveDate,
    },
    /// Reads an attendance machine's users and keeps them as its snapshot (`machine_user`),
    /// for the person register sync's differences.
    ReadUsers,
}

/// One card as a terminal is to accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardGrant {
    pub card: u32,
    /// Door controllers: the doors (1-4) it opens. Empty elsewhere.
    #[serde(default)]
    pub doors: Vec<u8>,
    /// Validity, first and last day (the controller enforces it).
    pub from: NaiveDate,
    pub until: NaiveDate,
    /// Attendance machines: the user id (the person's person_no) and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl CardGrant {
    /// The user id an attendance machine holds the card under (the person number; the card
    /// number when there is none).
    pub fn machine_user_id(&self) -> String {
        self.user_id
            .clone()
            .unwrap_or_else(|| self.card.to_string())
    }

    /// A door controller's grant: `doors` sorted, each once.
    pub fn for_doors(card: u32, doors: &[u8], from: NaiveDate, until: NaiveDate) -> CardGrant {
        let mut doors = doors.to_vec();
        doors.sort_unstable();
        doors.dedup();
        CardGrant {
            card,
            doors,
            from,
            until,
            user_id: None,
            name: None,
        }
    }
}

/// One card a terminal is to refuse from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRevoke {
    pub card: u32,
    /// Attendance machines: the user that held the card (deleted only while it still holds
    /// this card; a person's newer card may have taken the user over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorMode {
    Controlled,
    NormallyOpen,
    NormallyClosed,
}

impl TerminalCommand {
    /// The permission each command needs.
    pub fn action(&self) -> Action {
        match self {
            TerminalCommand::OpenDoor { .. } => Action::DoorRemoteOpen,
            TerminalCommand::SetDoorMode { .. } => Action::DoorSetting,
            TerminalCommand::PushCards { .. }
            | TerminalCommand::RevokeCards { .. }
            | TerminalCommand::PushBlacklist { .. }
            | TerminalCommand::DownloadCards => Action::DoorGrant,
            TerminalCommand::ClearRecords => Action::RecordPurge,
            TerminalCommand::Extract => Action::DoorRecordExtract,
            TerminalCommand::SetTime | TerminalCommand::OnlineTest => Action::TerminalDiagnose,
            TerminalCommand::DailyTotals { .. } => Action::MerchantSettle,
            TerminalCommand::ReadUsers => Action::AttendanceEdit,
        }
    }

    /// The actions, any of which allows this command to a terminal of `kind`. An attendance
    /// machine is the attendance administrator's: its extraction, log, register and clock;
    /// technicians still extract, set clocks and test it.
    pub fn actions_on(&self, kind: &str) -> Vec<Action> {
        let own = self.action();
        if kind != "attendance_machine" {
            return vec![own];
        }
        match self {
            TerminalCommand::Extract | TerminalCommand::SetTime | TerminalCommand::OnlineTest => {
                vec![Action::AttendanceEdit, own, Action::TerminalDiagnose]
            }
            _ => vec![Action::AttendanceEdit, own],
        }
    }
}

/// How a finished command ended, as stored in `terminal_command.outcome`.
pub type CommandResult = Result<CommandOutcome, CommandFailure>;

/// What a command achieved. Pure data (numbers, ids, the device's own identifiers): the console
/// words it in the reader's language; [`fmt::Display`] gives the English kept in `result` for
/// logs and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandOutcome {
    /// The door was unlocked from the host.
    DoorOpened { door: u8 },
    /// The terminal's clock was set; it now reads `to` (its own local time).
    ClockSet { to: NaiveDateTime },
    /// The terminal answered the online test: what it says of itself and the round trip.
    Online {
        firmware: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serial: Option<String>,
        /// A door controller's own IP address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// Records it holds that are not collected yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        records_held: Option<u64>,
        rtt_ms: u32,
    },
    /// The controller runs the door in `mode`, unlocking for `unlock_secs`.
    DoorModeSet {
        door: u8,
        mode: DoorMode,
        unlock_secs: u8,
    },
    /// `written` of `of` cards stored (grants, attendance users, a patrol reader's guards).
    CardsWritten { written: u32, of: u32 },
    /// `removed` cards deleted; `absent` were not held (already refused).
    CardsRemoved { removed: u32, absent: u32 },
    /// A POS took its new blacklist of `cards` entries.
    BlacklistInstalled { cards: u32 },
    /// Every record the terminal held was stored: `records` new to the database, in `millis`.
    Extracted { records: u64, millis: u64 },
    /// Every record was stored (`stored` new ones), then the terminal's memory was cleared.
    RecordsCleared { stored: u64 },
    /// A door controller cannot erase: every record was stored (`stored` new ones), then all
    /// were marked collected, up to its own event number `up_to`.
    RecordsMarkedCollected { stored: u64, up_to: u32 },
    /// The terminal holds what the database says it must accept: `written` cards written,
    /// `unchanged` already right, `removed` deleted.
    CardsDownloaded {
        written: u32,
        unchanged: u32,
        removed: u32,
    },
    /// Never sent: command `by` (a newer whole table) replaced it first.
    Superseded { by: i64 },
    /// A POS's own totals of `date`, stored for reconciliation.
    DailyTotalsRead {
        date: NaiveDate,
        count: i64,
        sum: crate::domain::money::Money,
    },
    /// An attendance machine's `users` were read and kept for the person register sync.
    UsersRead { users: u32 },
}

/// Why a command failed. Pure data, like [`CommandOutcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandFailure {
    /// No answer from the terminal (silence, or the line is down).
    NoAnswer,
    /// The terminal answered nonsense (a garbled or unexpected reply).
    Garbled,
    /// The terminal answered and said no.
    Refused { what: Refusal },
    /// The terminal refused in its own terms (a NAK reason, an error code), given as it said.
    Device { text: String },
    /// This kind of terminal cannot do that.
    Unsupported { what: Feature },
    /// The terminal is not on the line whose poller took the command any more.
    NotOnLine,
    /// No progress for `secs` seconds: the command was cut off.
    Deadline { secs: u32 },
    /// `waiting` records were still not stored after extracting: nothing was cleared.
    RecordsNotStored { waiting: u64 },
    /// The log changed after it was read: `read` entries were read and stored, the machine
    /// now holds `held`. Nothing was cleared.
    LogChanged { read: u64, held: u64 },
    /// The machine's newest entry (user `user_id` at `at`, its own clock) is no stored punch:
    /// the log changed after it was read. Nothing was cleared.
    NewestNotStored { user_id: String, at: NaiveDateTime },
    /// The inventory's address cannot be one of this protocol's (a serial number, a machine
    /// number 1-247).
    BadAddress { address: i64 },
    /// The database failed while storing what the terminal sent; the terminal still holds it.
    Database,
    /// The poller running it stopped: check the terminal before repeating.
    Interrupted,
    /// Refused before sending: the controller has no door `door`; it has `doors`.
    NoSuchDoor { door: u8, doors: Vec<u8> },
}

/// What a terminal refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// To open the door (normally closed, or no such door).
    OpenDoor { door: u8 },
    /// The door settings: it kept `mode` (None: a mode onecard has no name for) and
    /// `unlock_secs`.
    DoorMode {
        door: u8,
        mode: Option<DoorMode>,
        unlock_secs: u8,
    },
    /// Card `card`, after `written` of `of` were stored.
    Card { card: u32, written: u32, of: u32 },
    /// To set its clock (it answered without a valid one).
    Clock,
    /// To mark its events collected up to its event `index`.
    EventIndex { index: u32 },
    /// A new user: the attendance machine has no free user number left.
    UsersFull,
}

/// What a kind of terminal does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// A door (to open or to set).
    Door,
    /// Door modes (an attendance machine's door only unlocks).
    DoorModes,
    /// A card list of its own (a POS refuses by its blacklist).
    CardList,
    /// A blacklist (door controllers and attendance machines drop the card instead).
    Blacklist,
    /// Removing single cards (it takes whole tables).
    CardRemoval,
    /// Cards the database decides (a patrol reader's guards, a desk reader).
    Download,
    /// Day totals of its own (only a POS keeps them).
    DailyTotals,
    /// Records (a desk reader keeps none).
    Records,
    /// A user list to read (only an attendance machine keeps one).
    UserList,
}

/// How far a long command has come (`terminal_command.progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

impl Progress {
    /// Records (or steps) a second since `started` (when a poller took the command) at `now`.
    pub fn per_second(self, started: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
        let secs = (now - started).num_milliseconds().max(1) as f64 / 1000.0;
        (self.done as f64 / secs).round() as u64
    }
}

impl DoorMode {
    /// The name `door.mode` stores.
    pub fn name(self) -> &'static str {
        match self {
            DoorMode::Controlled => "controlled",
            DoorMode::NormallyOpen => "normally_open",
            DoorMode::NormallyClosed => "normally_closed",
        }
    }
}

impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandOutcome::DoorOpened { door } => write!(f, "door {door} opened"),
            CommandOutcome::ClockSet { to } => write!(f, "clock set to {to}"),
            CommandOutcome::Online {
                firmware,
                model,
                serial,
                address,
                records_held,
                rtt_ms,
            } => {
                write!(f, "online: firmware {firmware}")?;
                if let Some(m) = model {
                    write!(f, ", model {m}")?;
                }
                if let Some(s) = serial {
                    write!(f, ", serial {s}")?;
                }
                if let Some(a) = address {
                    write!(f, ", address {a}")?;
                }
                if let Some(n) = records_held {
                    write!(f, ", {n} records held")?;
                }
                write!(f, ", {rtt_ms} ms")
            }
            CommandOutcome::DoorModeSet {
                door,
                mode,
                unlock_secs,
            } => write!(f, "door {door}: {}, unlock {unlock_secs} s", mode.name()),
            CommandOutcome::CardsWritten { written, of } => {
                write!(f, "{written} of {of} cards written")
            }
            CommandOutcome::CardsRemoved { removed, absent } => {
                write!(f, "{removed} cards removed ({absent} were not held)")
            }
            CommandOutcome::BlacklistInstalled { cards } => {
                write!(f, "blacklist of {cards} cards installed")
            }
            CommandOutcome::Extracted { records, millis } => {
                write!(f, "{records} records extracted in {millis} ms")
            }
            CommandOutcome::RecordsCleared { stored } => {
                write!(f, "{stored} records stored, then the memory cleared")
            }
            CommandOutcome::RecordsMarkedCollected { stored, up_to } => write!(
                f,
                "{stored} records stored, then every event up to {up_to} marked collected (the controller cannot erase)"
            ),
            CommandOutcome::CardsDownloaded {
                written,
                unchanged,
                removed,
            } => write!(
                f,
                "cards downloaded: {written} written, {unchanged} already right, {removed} removed"
            ),
            CommandOutcome::Superseded { by } => write!(f, "superseded by command {by}"),
            CommandOutcome::DailyTotalsRead { date, count, sum } => {
                write!(f, "totals of {date}: {count} purchases, {sum}")
            }
            CommandOutcome::UsersRead { users } => write!(f, "{users} users read"),
        }
    }
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandFailure::NoAnswer => write!(f, "no answer"),
            CommandFailure::Garbled => write!(f, "garbled answer"),
            CommandFailure::Refused { what } => write!(f, "refused: {what}"),
            CommandFailure::Device { text } => write!(f, "the terminal said: {text}"),
            CommandFailure::Unsupported { what } => {
                write!(f, "this terminal has no {}", what.name())
            }
            CommandFailure::NotOnLine => write!(f, "the terminal is not on this line any more"),
            CommandFailure::Deadline { secs } => write!(f, "no progress within {secs} s"),
            CommandFailure::RecordsNotStored { waiting } => write!(
                f,
                "{waiting} records are not stored yet: nothing was cleared"
            ),
            CommandFailure::LogChanged { read, held } => write!(
                f,
                "the log changed while it was read ({read} entries read, {held} held now): nothing was cleared"
            ),
            CommandFailure::NewestNotStored { user_id, at } => write!(
                f,
                "the newest entry on the machine (user {user_id} at {at}) is not stored: nothing was cleared"
            ),
            CommandFailure::BadAddress { address } => {
                write!(f, "address {address} is not valid for this protocol")
            }
            CommandFailure::Database => write!(f, "storing the records failed"),
            CommandFailure::Interrupted => write!(
                f,
                "the poller running it stopped; check the terminal before repeating"
            ),
            CommandFailure::NoSuchDoor { door, doors } => write!(
                f,
                "the controller has no door {door}: its doors are {}",
                doors
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OpenDoor { door } => write!(f, "to open door {door}"),
            Refusal::DoorMode {
                door,
                mode,
                unlock_secs,
            } => write!(
                f,
                "door {door} kept mode {}, unlock {unlock_secs} s",
                mode.map_or("unknown", DoorMode::name)
            ),
            Refusal::Card { card, written, of } => {
                write!(f, "card {card} ({written} of {of} written)")
            }
            Refusal::Clock => write!(f, "no valid clock"),
            Refusal::EventIndex { index } => write!(f, "event index {index}"),
            Refusal::UsersFull => write!(f, "no free user number"),
        }
    }
}

impl Feature {
    /// The stored name (also the catalogue key's last part).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Door => "door",
            Feature::DoorModes => "door_modes",
            Feature::CardList => "card_list",
            Feature::Blacklist => "blacklist",
            Feature::CardRemoval => "card_removal",
            Feature::Download => "download",
            Feature::Records => "records",
            Feature::DailyTotals => "daily_totals",
            Feature::UserList => "user_list",
        }
    }
}

/// `terminal_command.outcome`: `{"ok": {...}}` or `{"failed": {...}}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stored {
    Ok(CommandOutcome),
    Failed(CommandFailure),
}

impl Stored {
    fn of(r: &CommandResult) -> Stored {
        match r {
            Ok(o) => Stored::Ok(o.clone()),
            Err(e) => Stored::Failed(e.clone()),
        }
    }

    fn into_result(self) -> CommandResult {
        match self {
            Stored::Ok(o) => Ok(o),
            Stored::Failed(e) => Err(e),
        }
    }
}

/// A stored outcome as data; None when absent or written by a newer onecard.
pub fn parse_outcome(v: &serde_json::Value) -> Option<CommandResult> {
    serde_json::from_value::<Stored>(v.clone())
        .ok()
        .map(Stored::into_result)
}

fn outcome_json(r: &CommandResult) -> serde_json::Value {
    serde_json::to_value(Stored::of(r)).unwrap_or(serde_json::Value::Null)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRow {
    pub id: i64,
    pub terminal_id: i64,
    pub command: sqlx::types::Json<TerminalCommand>,
    pub state: String,
    pub requested_at: DateTime<Utc>,
    /// English, for logs and scripts; the console renders `outcome`.
    pub result: Option<String>,
    /// How it ended, as data (None while queued or running, or from a newer onecard).
    pub outcome: Option<CommandResult>,
    /// How far a long command has come.
    pub progress: Option<Progress>,
    /// When a poller took it (its rate is counted from then).
    pub started_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, terminal_id, command, state, requested_at, result, outcome, progress, started_at";

impl<'r> FromRow<'r, PgRow> for CommandRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let outcome: Option<serde_json::Value> = row.try_get("outcome")?;
        let progress: Option<serde_json::Value> = row.try_get("progress")?;
        Ok(CommandRow {
            id: row.try_get("id")?,
            terminal_id: row.try_get("terminal_id")?,
            command: row.try_get("command")?,
            state: row.try_get("state")?,
            requested_at: row.try_get("requested_at")?,
            result: row.try_get("result")?,
            // Leniently: a value this onecard cannot read must not hide the command.
            outcome: outcome.as_ref().and_then(parse_outcome),
            progress: progress.and_then(|v| serde_json::from_value(v).ok()),
            started_at: row.try_get("started_at")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub async fn enqueue(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    cmd: &TerminalCommand,
) -> Result<i64, CommandError> {
    let mut tx = pool.begin().await?;
    let id = enqueue_in(&mut tx, actor, terminal_id, cmd).await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues a command (checked and audited) inside the caller's transaction, with the change
/// that asked for it; the caller announces it (`Change::command`).
pub async fn enqueue_in(
    tx: &mut PgConnection,
    actor: &Actor,
    terminal_id: i64,
    cmd: &TerminalCommand,
) -> Result<i64, CommandError> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM terminal WHERE id = $1")
        .bind(terminal_id)
        .fetch_optional(&mut *tx)
        .await?;
    let actions = cmd.actions_on(kind.as_deref().unwrap_or(""));
    if !actions.iter().any(|a| actor.authorize(*a).is_ok()) {
        actor.authorize(actions[0])?;
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal_command (terminal_id, command, requested_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(terminal_id)
    .bind(sqlx::types::Json(cmd))
    .bind(actor.operator_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        tx,
        actor,
        "terminal.command",
        "terminal",
        &terminal_id.to_string(),
        None,
        serde_json::to_value(cmd).ok(),
    )
    .await?;
    Ok(id)
}

/// Claims the oldest queued command for any terminal of `line_id`; None when there is none.
pub async fn claim(
    pool: &PgPool,
    line_id: i64,
    worker: &str,
) -> Result<Option<CommandRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE terminal_command c SET state = 'running', claimed_by = $2, started_at = now()
         WHERE c.id = (
             SELECT q.id FROM terminal_command q JOIN terminal t ON t.id = q.terminal_id
             WHERE q.state = 'queued' AND t.line_id = $1
             ORDER BY q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED)
         RETURNING {}",
        prefixed("c.")
    ))
    .bind(line_id)
    .bind(worker)
    .fetch_optional(pool)
    .await
}

fn prefixed(p: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{p}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records a running command's outcome: `state` done or failed, the outcome as data and its
/// English text in `result`. The notification names the command and the cards whose terminal
/// confirmations it settles (their `card_sync` rows point at it).
pub async fn finish(pool: &PgPool, id: i64, outcome: &CommandResult) -> Result<(), sqlx::Error> {
    let (state, text) = match outcome {
        Ok(o) => ("done", o.to_string()),
        Err(e) => ("failed", e.to_string()),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE terminal_command SET state = $2, finished_at = now(), result = $3, outcome = $4
         WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(state)
    .bind(text)
    .bind(outcome_json(outcome))
    .execute(&mut *tx)
    .await?;
    let cards: Vec<i64> =
        sqlx::query_scalar("SELECT card_id FROM card_sync WHERE command_id = $1 ORDER BY card_id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let mut change = Change::command(id);
    change.merge(Change::cards(cards));
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// How far a running command has come; consoles are told (`Change.command`) and re-read it.
pub async fn set_progress(pool: &PgPool, id: i64, progress: Progress) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE terminal_command SET progress = $2 WHERE id = $1 AND state = 'running'")
        .bind(id)
        .bind(sqlx::types::Json(progress))
        .execute(&mut *tx)
        .await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await
}

/// A command that was running on a line whose owner died: its outcome is unknown, and it is
/// never replayed blindly (opening a door twice is not harmless). Called by a new line owner.
pub async fn orphaned_to_unknown(pool: &PgPool, line_id: i64) -> Result<u64, sqlx::Error> {
    let interrupted: CommandResult = Err(CommandFailure::Interrupted);
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE terminal_command c SET state = 'unknown', finished_at = now(), result = $2, outcome = $3
         FROM terminal t WHERE t.id = c.terminal_id AND t.line_id = $1 AND c.state = 'running'
         RETURNING c.id",
    )
    .bind(line_id)
    .bind(CommandFailure::Interrupted.to_string())
    .bind(outcome_json(&interrupted))
    .fetch_all(&mut *tx)
    .await?;
    if !ids.is_empty() {
        let cards: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT card_id FROM card_sync WHERE command_id = ANY($1) ORDER BY card_id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let change = Change {
            command: ids.clone(),
            card: cards,
            ..Change::default()
        };
        change.send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}

/// A queued command that a newer one makes pointless (a POS's older blacklist): done without
/// running, saying so. In the caller's transaction; returns the commands superseded.
pub(crate) async fn supersede(
    tx: &mut PgConnection,
    terminal_id: i64,
    op: &str,
    by: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let outcome: CommandResult = Ok(CommandOutcome::Superseded { by });
    sqlx::query_scalar(
        "UPDATE terminal_command SET state = 'done', finished_at = now(), result = $4, outcome = $5
         WHERE terminal_id = $1 AND state = 'queued' AND id < $3 AND command->>'op' = $2
         RETURNING id",
    )
    .bind(terminal_id)
    .bind(op)
    .bind(by)
    .bind(CommandOutcome::Superseded { by }.to_string())
    .bind(outcome_json(&outcome))
    .fetch_all(&mut *tx)
    .await
}

pub async fn by_id(pool: &PgPool, ids: &[i64]) -> Result<Vec<CommandRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM terminal_command WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_commands_travel_as_json() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let push = TerminalCommand::PushCards {
            cards: vec![CardGrant::for_doors(
                8165537,
                &[3, 1, 3],
                d("2026-11-22"),
                d("2027-07-31"),
            )],
        };
        let json = serde_json::to_value(&push).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"op": "push_cards", "cards": [
                {"card": 8165537, "doors": [1, 3], "from": "2026-11-22", "until": "2027-07-31"}
            ]})
        );
        assert_eq!(
            serde_json::from_value::<TerminalCommand>(json).unwrap(),
            push
        );
        let revoke: TerminalCommand = serde_json::from_value(serde_json::json!({
            "op": "revoke_cards", "cards": [{"card": 1, "user_id": "S1"}, {"card": 2}]
        }))
        .unwrap();
        assert_eq!(
            revoke,
            TerminalCommand::RevokeCards {
                cards: vec![
                    CardRevoke {
                        card: 1,
                        user_id: Some("S1".into())
                    },
                    CardRevoke {
                        card: 2,
                        user_id: None
                    }
                ]
            }
        );
        assert_eq!(revoke.action(), Action::DoorGrant);
    }

    /// The stored forms the console reads: stable names, numbers, no prose.
    #[test]
    fn outcomes_are_stored_as_tagged_data() {
        let ok: CommandResult = Ok(CommandOutcome::Extracted {
            records: 100_000,
            millis: 8250,
        });
        assert_eq!(
            outcome_json(&ok),
            serde_json::json!({"ok": {"kind": "extracted", "records": 100000, "millis": 8250}})
        );
        let refused: CommandResult = Err(CommandFailure::Refused {
            what: Refusal::DoorMode {
                door: 2,
                mode: None,
                unlock_secs: 3,
            },
        });
        assert_eq!(
            outcome_json(&refused),
            serde_json::json!({"failed": {"kind": "refused",
                "what": {"kind": "door_mode", "door": 2, "mode": null, "unlock_secs": 3}}})
        );
        let unsupported: CommandResult = Err(CommandFailure::Unsupported {
            what: Feature::Blacklist,
        });
        assert_eq!(
            outcome_json(&unsupported),
            serde_json::json!({"failed": {"kind": "unsupported", "what": "blacklist"}})
        );
        for r in [ok, refused, unsupported, Err(CommandFailure::NoAnswer)] {
            assert_eq!(parse_outcome(&outcome_json(&r)), Some(r));
        }
        // A newer onecard's outcome is not an error, only unknown here.
        assert_eq!(
            parse_outcome(&serde_json::json!({"ok": {"kind": "teleported"}})),
            None
        );
        assert_eq!(
            serde_json::to_value(Progress { done: 5, total: 9 }).unwrap(),
            serde_json::json!({"done": 5, "total": 9})
        );
        assert_eq!(
            serde_json::to_value(TerminalCommand::DownloadCards).unwrap(),
            serde_json::json!({"op": "download_cards"})
        );
        assert_eq!(TerminalCommand::Extract.action(), Action::DoorRecordExtract);
    }
}
