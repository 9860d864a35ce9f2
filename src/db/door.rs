//! Doors: the name, place, settings and live state of each door controller's doors (table
//! `door`, one row per door, created with the controller), and what the control room does with
//! them and their records (`door_event`):
//!
//! * the tree: every door with its controller and its last event ([`list`], [`of_terminals`]);
//! * settings, audited: name and place ([`rename`]), mode and unlock time ([`set_mode`], which
//!   queues the controller's command in the same transaction); remote open ([`remote_open`]);
//! * events with who they were: the live feed ([`recent`], [`since`]), queries by person,
//!   card, department, door and time, and loss queries ([`query`], [`EventQuery`]), exported
//!   for campus security ([`export_events`], audited);
//! * the purge of records older than the retention period ([`purge`], [`retention_days`]).
//!
//! Who swiped is the card's holder: a card number belongs to one card, and so to one person,
//! for ever (migration 0005), so a swipe is attributed through `card` without any copy.

use super::audit;
use super::command::{self, CommandError, DoorMode, TerminalCommand};
use super::notify::Change;
use super::settings::{self, SettingError};
use crate::db::person;
use crate::domain::permission::{Action, Actor, Denied};
use crate::export::{self, Csv, CsvFile, Existing, ExportError};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use std::fmt;
use std::io::Write;
use std::path::Path;

mod events;
mod purge;

pub use events::*;
pub use purge::*;

/// A door's live state as its controller reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveState {
    pub door: i16,
    pub open: bool,
    pub unlocked: bool,
}

/// Records what a controller's status said of its doors. Only doors whose state changed are
/// written, and only then are consoles told (`Change.door`): a poll that saw nothing new costs
/// one read-only statement. True when anything changed.
pub async fn record_live_state(
    pool: &PgPool,
    terminal_id: i64,
    states: &[LiveState],
) -> Result<bool, sqlx::Error> {
    if states.is_empty() {
        return Ok(false);
    }
    let doors: Vec<i16> = states.iter().map(|s| s.door).collect();
    let open: Vec<bool> = states.iter().map(|s| s.open).collect();
    let unlocked: Vec<bool> = states.iter().map(|s| s.unlocked).collect();
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE door d SET open = s.open, unlocked = s.unlocked, state_at = now()
         FROM unnest($2::smallint[], $3::bool[], $4::bool[]) AS s(door, open, unlocked)
         WHERE d.terminal_id = $1 AND d.door = s.door
           AND (d.open IS DISTINCT FROM s.open OR d.unlocked IS DISTINCT FROM s.unlocked)",
    )
    .bind(terminal_id)
    .bind(&doors)
    .bind(&open)
    .bind(&unlocked)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        Change::doors(vec![terminal_id]).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed > 0)
}

/// Records a door's mode and unlock time as its controller reports them (read back after a
/// change, or read when the controller is first identified). Not an operator's change, so not
/// audited; the operator's change is audited where it is asked for. True when anything changed.
/// The doors a controller has, as the inventory lists them (empty when it lists none).
pub async fn doors_of(pool: &PgPool, terminal_id: i64) -> Result<Vec<u8>, sqlx::Error> {
    let doors: Vec<i16> =
        sqlx::query_scalar("SELECT door FROM door WHERE terminal_id = $1 ORDER BY door")
            .bind(terminal_id)
            .fetch_all(pool)
            .await?;
    Ok(doors
        .into_iter()
        .filter_map(|d| u8::try_from(d).ok())
        .collect())
}

pub async fn record_settings(
    pool: &PgPool,
    terminal_id: i64,
    door: i16,
    mode: &str,
    unlock_secs: i16,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE door SET mode = $3, unlock_secs = $4
         WHERE terminal_id = $1 AND door = $2 AND (mode <> $3 OR unlock_secs <> $4)",
    )
    .bind(terminal_id)
    .bind(door)
    .bind(mode)
    .bind(unlock_secs)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        Change::doors(vec![terminal_id]).send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed > 0)
}

// ---------------------------------------------------------------- refusals

/// The value a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Location,
    UnlockSecs,
    RetentionDays,
    Department,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Location => "location",
            Field::UnlockSecs => "unlock time",
            Field::RetentionDays => "retention",
            Field::Department => "department",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Longer than `max` characters.
    TooLong { max: usize },
    /// Outside `min..=max`.
    OutOfRange { min: i64, max: i64 },
    /// Names nothing there is.
    Unknown,
    /// Names several things; `candidates` (department codes) tell them apart.
    Ambiguous { candidates: Vec<String> },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooLong { max } => write!(f, "at most {max} characters"),
            Problem::OutOfRange { min, max } => write!(f, "from {min} to {max}"),
            Problem::Unknown => f.write_str("names nothing there is"),
            Problem::Ambiguous { candidates } => {
                write!(f, "names several: {}", candidates.join(", "))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("door {door} of terminal #{terminal_id} does not exist")]
    NotFound { terminal_id: i64, door: i16 },
    #[error("{field} `{value}`: {problem}")]
    Invalid {
        field: Field,
        value: String,
        problem: Problem,
    },
    /// A purge cut-off later than the retention period allows, not forced.
    #[error(
        "door records are kept {retention_days} days: a cut-off after {latest} must be forced"
    )]
    InsideRetention {
        cutoff: DateTime<Utc>,
        retention_days: i32,
        /// The latest cut-off allowed without forcing.
        latest: DateTime<Utc>,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl From<CommandError> for DoorError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Denied(d) => DoorError::Denied(d),
            CommandError::Sql(e) => DoorError::Sql(e),
        }
    }
}

impl From<SettingError> for DoorError {
    fn from(e: SettingError) -> Self {
        match e {
            SettingError::Denied(d) => DoorError::Denied(d),
            SettingError::Sql(e) => DoorError::Sql(e),
        }
    }
}

fn invalid(field: Field, value: impl fmt::Display, problem: Problem) -> DoorError {
    DoorError::Invalid {
        field,
        value: value.to_string(),
        problem,
    }
}

// ---------------------------------------------------------------- the tree

/// The `door.mode` text of a mode (the same word the command carries in JSON).
pub fn mode_name(mode: DoorMode) -> &'static str {
    match mode {
        DoorMode::Controlled => "controlled",
        DoorMode::NormallyOpen => "normally_open",
        DoorMode::NormallyClosed => "normally_closed",
    }
}

impl TryFrom<String> for DoorMode {
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        [
            DoorMode::Controlled,
            DoorMode::NormallyOpen,
            DoorMode::NormallyClosed,
        ]
        .into_iter()
        .find(|m| mode_name(*m) == s)
        .ok_or_else(|| format!("unknown door mode `{s}`").into())
    }
}

/// One door of the tree: its controller, the door, and the door's last event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DoorRow {
    pub terminal_id: i64,
    /// The controller's serial number (its address).
    pub serial: i64,
    pub controller: String,
    pub controller_location: String,
    pub line_id: i64,
    pub line: String,
    /// unknown, online or offline.
    pub status: String,
    pub last_contact: Option<DateTime<Utc>>,
    pub in_scan: bool,
    /// 1-4.
    pub door: i16,
    /// '' until someone names it.
    pub name: String,
    pub location: String,
    #[sqlx(try_from = "String")]
    pub mode: DoorMode,
    pub unlock_secs: i16,
    /// As the controller last reported (None: not read yet).
    pub open: Option<bool>,
    pub unlocked: Option<bool>,
    pub state_at: Option<DateTime<Utc>>,
    /// The door's last event: kind, the controller's time, when we received it, the card and
    /// its holder.
    pub last_kind: Option<String>,
    pub last_time: Option<NaiveDateTime>,
    pub last_received_at: Option<DateTime<Utc>>,
    pub last_card: Option<i64>,
    pub last_person: Option<String>,
}

/// The last event of a door costs an index probe, never a scan: first the door's newest among
/// the controller's last 256 records, walking the primary key back from the newest record (a
/// busy door is found at once); failing that (a quiet door), its latest by the controller's
/// clock from `door_event_door_time`. `UNION ALL ... LIMIT 1` runs the second only when the
/// first found nothing.
const DOOR_SELECT: &str = "SELECT t.id AS terminal_id, t.address AS serial, t.name AS controller,
        t.location AS controller_location, l.id AS line_id, l.name AS line, t.status,
        t.last_contact, t.in_scan, d.door, d.name, d.location, d.mode, d.unlock_secs, d.open,
        d.unlocked, d.state_at, le.kind AS last_kind, le.terminal_time AS last_time,
        le.received_at AS last_received_at, le.card AS last_card, p.name AS last_person
     FROM door d
     JOIN terminal t ON t.id = d.terminal_id AND t.kind = 'door_controller'
     JOIN line l ON l.id = t.line_id
     LEFT JOIN LATERAL (
         (SELECT e.kind, e.terminal_time, e.received_at, e.card FROM door_event e
          WHERE e.terminal_id = d.terminal_id AND e.door = d.door
            AND e.record_no > (SELECT max(m.record_no) FROM door_event m
                               WHERE m.terminal_id = d.terminal_id) - 256
          ORDER BY e.record_no DESC LIMIT 1)
         UNION ALL
         (SELECT e.kind, e.terminal_time, e.received_at, e.card FROM door_event e
          WHERE e.terminal_id = d.terminal_id AND e.door = d.door AND e.terminal_time IS NOT NULL
          ORDER BY e.terminal_time DESC LIMIT 1)
         LIMIT 1) le ON true
     LEFT JOIN card c ON c.card_no = le.card
     LEFT JOIN person p ON p.id = c.person_id";

const DOOR_ORDER: &str = " ORDER BY t.name, t.id, d.door";

/// Every door, by controller (name) then door number.
pub async fn list(pool: &PgPool) -> Result<Vec<DoorRow>, sqlx::Error> {
    sqlx::query_as(&format!("{DOOR_SELECT}{DOOR_ORDER}"))
        .fetch_all(pool)
        .await
}

/// The doors of these controllers (a `Change.door` or `Change.terminal` notification's ids).
pub async fn of_terminals(
    pool: &PgPool,
    terminal_ids: &[i64],
) -> Result<Vec<DoorRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{DOOR_SELECT} WHERE d.terminal_id = ANY($1){DOOR_ORDER}"
    ))
    .bind(terminal_ids)
    .fetch_all(pool)
    .await
}

/// An open alarm on a door controller (or one of its doors): what the tree flags.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AlarmFlag {
    pub alarm_id: i64,
    pub terminal_id: i64,
    pub door: Option<i16>,
    /// forced_open, held_open, tamper, memory_full, offline ...
    pub kind: String,
    pub acknowledged: bool,
}

/// Every open alarm of every door controller (few: the alarm index holds only open ones).
pub async fn alarm_flags(pool: &PgPool) -> Result<Vec<AlarmFlag>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id AS alarm_id, a.terminal_id, a.door, a.kind,
                a.state = 'acknowledged' AS acknowledged
         FROM alarm a JOIN terminal t ON t.id = a.terminal_id AND t.kind = 'door_controller'
         WHERE a.state <> 'cleared' ORDER BY a.id",
    )
    .fetch_all(pool)
    .await
}

/// The doors `text` names: a door's name (ignoring Latin case), or `<controller>/<n>` where
/// the controller is its serial number or its name. Several when the name is shared.
pub async fn find(pool: &PgPool, text: &str) -> Result<Vec<DoorRow>, sqlx::Error> {
    let text = text.trim();
    let (controller, door) = match text.rsplit_once('/') {
        Some((c, n)) => (Some(c.trim()), n.trim().parse::<i16>().ok()),
        None => (None, None),
    };
    let serial = controller.and_then(|c| c.parse::<i64>().ok());
    sqlx::query_as(&format!(
        "{DOOR_SELECT} WHERE (d.name <> '' AND lower(d.name) = lower($1))
            OR (d.door = $2 AND (t.address = $3 OR lower(t.name) = lower($4))){DOOR_ORDER}"
    ))
    .bind(text)
    .bind(door)
    .bind(serial)
    .bind(controller)
    .fetch_all(pool)
    .await
}

// ---------------------------------------------------------------- settings

/// Longest door name and location, in characters.
pub const NAME_MAX: usize = 40;
pub const LOCATION_MAX: usize = 80;

/// Locks a door's row; NotFound when there is no such door on a door controller.
async fn lock_door(
    tx: &mut PgConnection,
    terminal_id: i64,
    door: i16,
) -> Result<(String, String, String, i16), DoorError> {
    sqlx::query_as(
        "SELECT d.name, d.location, d.mode, d.unlock_secs FROM door d
         JOIN terminal t ON t.id = d.terminal_id AND t.kind = 'door_controller'
         WHERE d.terminal_id = $1 AND d.door = $2 FOR UPDATE OF d",
    )
    .bind(terminal_id)
    .bind(door)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(DoorError::NotFound { terminal_id, door })
}

fn door_key(terminal_id: i64, door: i16) -> String {
    format!("{terminal_id}/{door}")
}

/// Names a door and says where it is (both trimmed; an empty name: "<controller> door N").
/// Audited; saving what is stored writes nothing.
pub async fn rename(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    door: i16,
    name: &str,
    location: &str,
) -> Result<(), DoorError> {
    actor.authorize(Action::DoorSetting)?;
    let (name, location) = (name.trim(), location.trim());
    if name.chars().count() > NAME_MAX {
        return Err(invalid(
            Field::Name,
            name,
            Problem::TooLong { max: NAME_MAX },
        ));
    }
    if location.chars().count() > LOCATION_MAX {
        return Err(invalid(
            Field::Location,
            location,
            Problem::TooLong { max: LOCATION_MAX },
        ));
    }
    let mut tx = pool.begin().await?;
    let (old_name, old_location, _, _) = lock_door(&mut tx, terminal_id, door).await?;
    if (old_name.as_str(), old_location.as_str()) == (name, location) {
        return Ok(());
    }
    sqlx::query("UPDATE door SET name = $3, location = $4 WHERE terminal_id = $1 AND door = $2")
        .bind(terminal_id)
        .bind(door)
        .bind(name)
        .bind(location)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "door.rename",
        "door",
        &door_key(terminal_id, door),
        Some(json!({ "name": old_name, "location": old_location })),
        Some(json!({ "name": name, "location": location })),
    )
    .await?;
    Change::doors(vec![terminal_id]).send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a door's mode and unlock time (1-255 s) and queues the controller's `SetDoorMode` in
/// the same transaction; returns the command's id, whose state says whether the controller
/// took it. The row shows what was asked at once; the poller records what the controller
/// reports ([`record_settings`]).
pub async fn set_mode(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    door: i16,
    mode: DoorMode,
    unlock_secs: u8,
) -> Result<i64, DoorError> {
    actor.authorize(Action::DoorSetting)?;
    if unlock_secs == 0 {
        return Err(invalid(
            Field::UnlockSecs,
            unlock_secs,
            Problem::OutOfRange { min: 1, max: 255 },
        ));
    }
    let number = u8::try_from(door).map_err(|_| DoorError::NotFound { terminal_id, door })?;
    let mut tx = pool.begin().await?;
    let (_, _, old_mode, old_secs) = lock_door(&mut tx, terminal_id, door).await?;
    sqlx::query("UPDATE door SET mode = $3, unlock_secs = $4 WHERE terminal_id = $1 AND door = $2")
        .bind(terminal_id)
        .bind(door)
        .bind(mode_name(mode))
        .bind(i16::from(unlock_secs))
        .execute(&mut *tx)
        .await?;
    let cmd = TerminalCommand::SetDoorMode {
        door: number,
        mode,
        unlock_secs,
    };
    let id = command::enqueue_in(&mut tx, actor, terminal_id, &cmd).await?;
    audit::append(
        &mut tx,
        actor,
        "door.setting",
        "door",
        &door_key(terminal_id, door),
        Some(json!({ "mode": old_mode, "unlock_secs": old_secs })),
        Some(json!({ "mode": mode_name(mode), "unlock_secs": unlock_secs, "command": id })),
    )
    .await?;
    Change {
        door: vec![terminal_id],
        command: vec![id],
        ..Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues a remote open (a momentary unlock) of one door; returns the command's id.
pub async fn remote_open(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    door: i16,
) -> Result<i64, DoorError> {
    actor.authorize(Action::DoorRemoteOpen)?;
    let number = u8::try_from(door).map_err(|_| DoorError::NotFound { terminal_id, door })?;
    let mut tx = pool.begin().await?;
    lock_door(&mut tx, terminal_id, door).await?;
    let id = command::enqueue_in(
        &mut tx,
        actor,
        terminal_id,
        &TerminalCommand::OpenDoor { door: number },
    )
    .await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Withdraws a remote open that no poller has taken yet, so a door is never opened long after
/// it was asked for (its asker gave up waiting). False when it was taken already (or is not a
/// queued remote open): then the controller's answer decides.
pub async fn withdraw_open(
    pool: &PgPool,
    actor: &Actor,
    command_id: i64,
) -> Result<bool, DoorError> {
    actor.authorize(Action::DoorRemoteOpen)?;
    let mut tx = pool.begin().await?;
    let terminal: Option<i64> = sqlx::query_scalar(
        "UPDATE terminal_command SET state = 'failed', finished_at = now(),
             result = 'withdrawn: no poller took it in time'
         WHERE id = $1 AND state = 'queued' AND command->>'op' = 'open_door'
         RETURNING terminal_id",
    )
    .bind(command_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(terminal_id) = terminal else {
        return Ok(false);
    };
    audit::append(
        &mut tx,
        actor,
        "terminal.command-withdraw",
        "terminal",
        &terminal_id.to_string(),
        Some(json!({ "command": command_id, "state": "queued" })),
        Some(json!({ "command": command_id, "state": "failed" })),
    )
    .await?;
    Change::command(command_id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}
