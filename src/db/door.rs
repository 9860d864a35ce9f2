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

// ---------------------------------------------------------------- events

/// A door event with who it was: the door and controller by name, the card's holder and
/// department.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DoorEvent {
    pub terminal_id: i64,
    pub record_no: i64,
    pub door: i16,
    /// '' when the door is not named (or the event is the controller's, not a door's).
    pub door_name: String,
    pub controller: String,
    /// The controller's serial number.
    pub serial: i64,
    /// onecard's kind: granted, denied, forced_open, remote_open, ...
    pub kind: String,
    pub granted: bool,
    /// The controller's reason code.
    pub reason: i16,
    pub card: Option<i64>,
    pub person_id: Option<i64>,
    pub person_no: Option<String>,
    pub person_name: Option<String>,
    pub department: Option<String>,
    /// The controller's own clock (local time; None when it gave none).
    pub terminal_time: Option<NaiveDateTime>,
    pub received_at: DateTime<Utc>,
    /// Replayed by a controller that was offline.
    pub late: bool,
    /// `in` or `out`: the reader it was read at (None when the controller said neither).
    pub direction: Option<String>,
    /// Stamped by a controller clock that was not valid: `terminal_time` is not when it was.
    pub clock_invalid: bool,
    /// Loss queries only: what the card was at the time of the swipe (lost, replaced,
    /// surrendered, cancelled).
    pub card_state: Option<String>,
}

/// The view of `page e` (door_event columns plus `card_state`).
const EVENT_VIEW: &str =
    " SELECT e.terminal_id, e.record_no, e.door, coalesce(d.name, '') AS door_name,
        t.name AS controller, t.address AS serial, e.kind, e.granted, e.reason, e.card,
        p.id AS person_id, p.person_no, p.name AS person_name, dep.name AS department,
        e.terminal_time, e.received_at, e.late, e.direction, e.clock_invalid, e.card_state
     FROM page e
     JOIN terminal t ON t.id = e.terminal_id
     LEFT JOIN door d ON d.terminal_id = e.terminal_id AND d.door = e.door
     LEFT JOIN card c ON c.card_no = e.card
     LEFT JOIN person p ON p.id = c.person_id
     LEFT JOIN department dep ON dep.id = p.department_id";

/// How far back a live feed re-reads ([`since`]).
pub const FEED_REREAD: std::time::Duration = std::time::Duration::from_secs(30);

/// The newest `limit` events by when they were received, newest first: the live feed's start.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<DoorEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH page AS (SELECT e.*, NULL::text AS card_state FROM door_event e
             ORDER BY e.received_at DESC, e.terminal_id DESC, e.record_no DESC LIMIT $1)
         {EVENT_VIEW}
         ORDER BY e.received_at DESC, e.terminal_id DESC, e.record_no DESC"
    ))
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
}

/// Events received after `after`, oldest first, at most `limit`: the live feed's next rows.
///
/// `received_at` is the time the storing transaction *began* (`now()`), not when it committed.
/// Two pollers' batches commit in any order, so a batch that began first may become visible
/// after another's rows were read, with `received_at` values below them: a strict cursor
/// (`after` = the newest `received_at` seen) would skip it for ever. So the caller re-reads a
/// window: `after` = the newest `received_at` it has seen minus [`FEED_REREAD`] (longer than
/// any storing transaction lasts), and drops rows it holds already by (terminal, record no).
/// When a call returns `limit` rows, there may be more: call again from the last one.
pub async fn since(
    pool: &PgPool,
    after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<DoorEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH page AS (SELECT e.*, NULL::text AS card_state FROM door_event e
             WHERE e.received_at > $1
             ORDER BY e.received_at, e.terminal_id, e.record_no LIMIT $2)
         {EVENT_VIEW}
         ORDER BY e.received_at, e.terminal_id, e.record_no"
    ))
    .bind(after)
    .bind(limit.max(0))
    .fetch_all(pool)
    .await
}

/// Which door events: every filter given must hold. Times are the controllers' own clocks
/// (local time), since that is when the door was opened; an event without one is left out of
/// any time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventQuery {
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Before.
    pub to: Option<NaiveDateTime>,
    /// A person: their person number; else their whole name; else every person whose name
    /// contains it (ignoring Latin case). Their swipes with any card they ever held.
    pub person: Option<String>,
    /// A card number.
    pub card: Option<i64>,
    /// A department's code or name (the rule of [`person::match_department`]): its persons'
    /// swipes.
    pub department: Option<String>,
    /// A controller; with `door`, one of its doors.
    pub terminal_id: Option<i64>,
    pub door: Option<i16>,
    /// Some(true): openings (granted) only; Some(false): refusals only.
    pub granted: Option<bool>,
    /// Loss query: only swipes of cards that were out of service at the time (lost, replaced,
    /// surrendered or cancelled), each with that state.
    pub lost_cards: bool,
    /// The page: rows skipped, and at most `limit` rows. Exports ignore both.
    #[serde(skip)]
    pub offset: i64,
    #[serde(skip)]
    pub limit: i64,
}

/// A page of a query and how many rows match in all ("200 of 2,321").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// What the page was asked for with: a late page for an older query is not shown.
    pub query: EventQuery,
    pub rows: Vec<DoorEvent>,
    pub total: u64,
}

/// Newest first by the controller's clock (events without one first); the indexes on
/// `terminal_time` (by door, by card, and alone) all walk backwards in this order.
const EVENT_ORDER: &str = " ORDER BY e.terminal_time DESC, e.terminal_id DESC, e.record_no DESC";

/// When a card was out of service: from an event making it lost, replaced, surrendered or
/// cancelled until its next state change (a card found again is back in service), as local
/// times to compare with the controllers' clocks.
struct Losses {
    cards: Vec<i64>,
    starts: Vec<NaiveDateTime>,
    ends: Vec<Option<NaiveDateTime>>,
    states: Vec<String>,
}

/// What a query needs resolved before it runs.
struct Plan {
    department_id: Option<i64>,
    losses: Option<Losses>,
}

async fn plan(conn: &mut PgConnection, q: &EventQuery) -> Result<Plan, DoorError> {
    let department_id = match nonempty(&q.department) {
        None => None,
        Some(key) => Some(department_named(conn, key).await?),
    };
    let losses = if q.lost_cards {
        Some(losses(conn, q).await?)
    } else {
        None
    };
    Ok(Plan {
        department_id,
        losses,
    })
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The department `key` names, by the person register's rule.
async fn department_named(conn: &mut PgConnection, key: &str) -> Result<i64, DoorError> {
    let found: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, code, name FROM department
         WHERE lower(code) = lower($1) OR lower(name) = lower($1) ORDER BY id",
    )
    .bind(key)
    .fetch_all(&mut *conn)
    .await?;
    match person::match_department(&found, key, |d| (d.1.as_str(), d.2.as_str())) {
        Ok(Some(d)) => Ok(d.0),
        Ok(None) => Err(invalid(Field::Department, key, Problem::Unknown)),
        Err(candidates) => Err(invalid(
            Field::Department,
            key,
            Problem::Ambiguous { candidates },
        )),
    }
}

async fn losses(conn: &mut PgConnection, q: &EventQuery) -> Result<Losses, sqlx::Error> {
    // A reissue or an exchange is the old card's event; written on the new card as well
    // (`other_card_id` = the card it replaces), it says nothing of the new one.
    #[derive(FromRow)]
    struct StateChange {
        card_no: i64,
        event: String,
        at: DateTime<Utc>,
        next_at: Option<DateTime<Utc>>,
    }
    let rows: Vec<StateChange> = sqlx::query_as(
        "SELECT x.card_no, x.event, x.at, x.next_at FROM (
             SELECT c.card_no, ce.event, ce.at,
                    lead(ce.at) OVER (PARTITION BY ce.card_id ORDER BY ce.at, ce.id) AS next_at
             FROM card_event ce
             JOIN card c ON c.id = ce.card_id
             WHERE ce.event IN ('report_lost', 'report_found', 'reissue', 'exchange', 'return', 'cancel')
               AND NOT (ce.event IN ('reissue', 'exchange')
                        AND coalesce(ce.other_card_id = c.replaces_card_id, false))
               AND ($1::int8 IS NULL OR c.card_no = $1)) x
         WHERE x.event <> 'report_found'",
    )
    .bind(q.card)
    .fetch_all(&mut *conn)
    .await?;
    let local = crate::domain::time::local;
    let mut out = Losses {
        cards: Vec::new(),
        starts: Vec::new(),
        ends: Vec::new(),
        states: Vec::new(),
    };
    for StateChange {
        card_no: card,
        event,
        at,
        next_at,
    } in rows
    {
        let (start, end) = (local(at), next_at.map(local));
        // Periods that cannot meet the time range are left out of the join.
        let before = matches!((end, q.from), (Some(e), Some(f)) if e <= f);
        let after = matches!(q.to, Some(t) if start >= t);
        if before || after {
            continue;
        }
        let state = match event.as_str() {
            "report_lost" => "lost",
            "reissue" => "replaced",
            "exchange" => "surrendered",
            _ => "cancelled",
        };
        out.cards.push(card);
        out.starts.push(start);
        out.ends.push(end);
        out.states.push(state.to_string());
    }
    Ok(out)
}

/// `FROM door_event e ... WHERE ...` for `q`.
fn push_from_where(b: &mut QueryBuilder<'_, Postgres>, q: &EventQuery, plan: &Plan) {
    b.push(" FROM door_event e");
    if let Some(l) = &plan.losses {
        b.push(" JOIN unnest(")
            .push_bind(l.cards.clone())
            .push("::int8[], ")
            .push_bind(l.starts.clone())
            .push("::timestamp[], ")
            .push_bind(l.ends.clone())
            .push("::timestamp[], ")
            .push_bind(l.states.clone())
            .push(
                "::text[]) AS l(card, starts, ends, state)
                 ON e.card = l.card AND e.terminal_time >= l.starts
                    AND (l.ends IS NULL OR e.terminal_time < l.ends)",
            );
    }
    b.push(" WHERE true");
    if let Some(from) = q.from {
        b.push(" AND e.terminal_time >= ").push_bind(from);
    }
    if let Some(to) = q.to {
        b.push(" AND e.terminal_time < ").push_bind(to);
    }
    if let Some(t) = q.terminal_id {
        b.push(" AND e.terminal_id = ").push_bind(t);
    }
    if let Some(d) = q.door {
        b.push(" AND e.door = ").push_bind(d);
    }
    if let Some(card) = q.card {
        b.push(" AND e.card = ").push_bind(card);
    }
    if let Some(who) = nonempty(&q.person) {
        // The best kind of match decides: a person number, else a whole name, else a part.
        b.push(
            " AND e.card = ANY(ARRAY(SELECT c.card_no FROM card c WHERE c.person_id IN (
                 SELECT m.id FROM (
                     SELECT p.id, rank() OVER (ORDER BY CASE WHEN p.person_no = w.who THEN 0
                                                             WHEN p.name = w.who THEN 1
                                                             ELSE 2 END) AS best
                     FROM person p, (SELECT ",
        )
        .push_bind(who.to_string())
        .push(
            "::text AS who) w
                     WHERE p.person_no = w.who OR strpos(lower(p.name), lower(w.who)) > 0) m
                 WHERE m.best = 1)))",
        );
    }
    if let Some(dept) = plan.department_id {
        b.push(
            " AND e.card = ANY(ARRAY(SELECT c.card_no FROM card c
                 JOIN person p ON p.id = c.person_id WHERE p.department_id = ",
        )
        .push_bind(dept)
        .push("))");
    }
    if let Some(g) = q.granted {
        b.push(" AND e.granted = ").push_bind(g);
    }
}

/// The rows of `q` in [`EVENT_ORDER`], `limit`ed as given.
fn events_sql(
    q: &EventQuery,
    plan: &Plan,
    page: Option<(i64, i64)>,
) -> QueryBuilder<'static, Postgres> {
    let mut b = QueryBuilder::new("WITH page AS (SELECT e.*, ");
    b.push(if plan.losses.is_some() {
        "l.state"
    } else {
        "NULL::text"
    });
    b.push(" AS card_state");
    push_from_where(&mut b, q, plan);
    b.push(EVENT_ORDER);
    if let Some((offset, limit)) = page {
        b.push(" LIMIT ")
            .push_bind(limit.max(0))
            .push(" OFFSET ")
            .push_bind(offset.max(0));
    }
    b.push(")");
    b.push(EVENT_VIEW);
    b.push(EVENT_ORDER);
    b
}

/// One page of door events matching `q`, and how many match in all. Count and page are read
/// from one snapshot, so they agree.
pub async fn query(pool: &PgPool, q: &EventQuery) -> Result<EventPage, DoorError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let plan = plan(&mut tx, q).await?;
    let mut count = QueryBuilder::new("SELECT count(*)");
    push_from_where(&mut count, q, &plan);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
    let rows = events_sql(q, &plan, Some((q.offset, q.limit)))
        .build_query_as()
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(EventPage {
        query: q.clone(),
        rows,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// The export's columns; `card_state` only in a loss query's.
fn event_columns(q: &EventQuery) -> Vec<&'static str> {
    let mut c = vec![
        "time",
        "controller",
        "serial",
        "door",
        "door_name",
        "kind",
        "direction",
        "granted",
        "reason",
        "card",
        "person_no",
        "person",
        "department",
    ];
    if q.lost_cards {
        c.push("card_state");
    }
    c.extend([
        "received_at",
        "late",
        "clock_invalid",
        "terminal_id",
        "record_no",
    ]);
    c
}

fn event_cells(q: &EventQuery, e: &DoorEvent) -> Vec<String> {
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut c = vec![
        e.terminal_time
            .map(export::terminal_time)
            .unwrap_or_default(),
        e.controller.clone(),
        e.serial.to_string(),
        e.door.to_string(),
        e.door_name.clone(),
        e.kind.clone(),
        text(&e.direction),
        yes(e.granted),
        e.reason.to_string(),
        e.card.map(|c| c.to_string()).unwrap_or_default(),
        text(&e.person_no),
        text(&e.person_name),
        text(&e.department),
    ];
    if q.lost_cards {
        c.push(text(&e.card_state));
    }
    c.extend([
        export::local_time(e.received_at),
        yes(e.late),
        yes(e.clock_invalid),
        e.terminal_id.to_string(),
        e.record_no.to_string(),
    ]);
    c
}

/// Every event matching `q` (all pages) as CSV into `writer`, streamed, for campus security.
/// The audit row (who, the query, the row count) is written in the transaction the rows are
/// read in: an export that fails leaves no record of having happened, and none happens
/// unrecorded. An operator needs [`Action::ReportExport`]. Returns the rows written.
pub async fn export_events<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    writer: W,
) -> Result<u64, DoorError> {
    write_events(pool, actor, q, writer, None).await
}

/// [`export_events`] into a file, which replaces an existing one only with
/// [`Existing::Overwrite`].
pub async fn export_events_file(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    path: &Path,
    existing: Existing,
) -> Result<u64, DoorError> {
    actor.authorize(Action::ReportExport)?;
    let mut file = CsvFile::create(path, existing)?;
    let n = write_events(pool, actor, q, &mut file, Some(path)).await?;
    file.commit()?;
    Ok(n)
}

async fn write_events<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    q: &EventQuery,
    writer: W,
    file: Option<&Path>,
) -> Result<u64, DoorError> {
    actor.authorize(Action::ReportExport)?;
    let mut tx = pool.begin().await?;
    let plan = plan(&mut tx, q).await?;
    let mut csv = Csv::new(writer, &event_columns(q))?;
    {
        let mut b = events_sql(q, &plan, None);
        let mut rows = b.build_query_as::<DoorEvent>().fetch(&mut *tx);
        while let Some(e) = rows.try_next().await? {
            csv.row(event_cells(q, &e))?;
        }
    }
    let n = csv.rows();
    csv.finish()?;
    audit::append(
        &mut tx,
        actor,
        "door.export",
        "door_event",
        "",
        None,
        Some(json!({
            "query": q,
            "rows": n,
            "file": file.map(|p| p.display().to_string()),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------- retention and purge

/// The setting that holds how many days door records are kept.
pub const RETENTION_KEY: &str = "door.retention_days";
/// Three months, unless the setting says otherwise.
pub const DEFAULT_RETENTION_DAYS: i32 = 92;
/// The longest retention the setting takes (ten years).
pub const MAX_RETENTION_DAYS: i32 = 3650;
/// Rows deleted per transaction: a purge of millions never holds one long transaction.
pub const PURGE_BATCH: i64 = 5000;

/// How many days door records are kept.
pub async fn retention_days(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let value = settings::get(pool, RETENTION_KEY).await?;
    Ok(value
        .and_then(|v| v.as_i64())
        .and_then(|d| i32::try_from(d).ok())
        .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
        .unwrap_or(DEFAULT_RETENTION_DAYS))
}

/// Sets the retention period (1 day to ten years); a setting change, audited.
pub async fn set_retention_days(pool: &PgPool, actor: &Actor, days: i32) -> Result<(), DoorError> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(invalid(
            Field::RetentionDays,
            days,
            Problem::OutOfRange {
                min: 1,
                max: i64::from(MAX_RETENTION_DAYS),
            },
        ));
    }
    settings::set(pool, actor, RETENTION_KEY, json!(days)).await?;
    Ok(())
}

/// What a purge at a cut-off would do, to ask before doing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePreview {
    pub cutoff: DateTime<Utc>,
    /// Records received before the cut-off.
    pub rows: u64,
    pub retention_days: i32,
    /// The latest cut-off the retention period allows without forcing.
    pub latest: DateTime<Utc>,
}

impl PurgePreview {
    /// The cut-off would delete records younger than the retention period: only when forced.
    pub fn inside_retention(&self) -> bool {
        self.cutoff > self.latest
    }
}

pub async fn purge_preview(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
) -> Result<PurgePreview, sqlx::Error> {
    let retention = retention_days(pool).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM door_event WHERE received_at < $1")
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    Ok(PurgePreview {
        cutoff,
        rows: u64::try_from(rows).unwrap_or(0),
        retention_days: retention,
        latest: Utc::now() - chrono::Duration::days(i64::from(retention)),
    })
}

/// Deletes door records received before `cutoff`, [`PURGE_BATCH`] rows a transaction, calling
/// `progress(done, total)` after each. A cut-off inside the retention period is refused unless
/// `force` (the console asks first). One audit row says who, the cut-off and how many; it is
/// written with the last batch (or, if a batch fails, with what was deleted so far). Returns
/// the rows deleted.
///
/// Age is by `received_at`, our own clock: a controller's clock may be years off after a
/// reset, and a record just received must not go because its controller thinks it is old.
pub async fn purge(
    pool: &PgPool,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    force: bool,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<u64, DoorError> {
    actor.authorize(Action::RecordPurge)?;
    let PurgePreview {
        rows: total,
        retention_days: retention,
        latest,
        ..
    } = purge_preview(pool, cutoff).await?;
    if cutoff > latest && !force {
        return Err(DoorError::InsideRetention {
            cutoff,
            retention_days: retention,
            latest,
        });
    }
    progress(0, total);
    let audit_row = |done: u64, finished: bool| {
        json!({
            "cutoff": cutoff,
            "deleted": done,
            "forced": force && cutoff > latest,
            "retention_days": retention,
            "finished": finished,
        })
    };
    let mut done = 0u64;
    loop {
        match purge_batch(pool, actor, cutoff, done, &audit_row).await {
            Ok((n, last)) => {
                done += n;
                progress(done, total.max(done));
                if last {
                    return Ok(done);
                }
            }
            Err(e) => {
                if done > 0 {
                    // What went is recorded even when the rest could not go.
                    let _ = append_purge_audit(pool, actor, audit_row(done, false)).await;
                }
                return Err(e);
            }
        }
    }
}

/// One batch; the last one (fewer rows than a batch) carries the audit row. Returns the rows
/// deleted and whether it was the last.
async fn purge_batch(
    pool: &PgPool,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    done: u64,
    audit_row: &(dyn Fn(u64, bool) -> serde_json::Value + Sync),
) -> Result<(u64, bool), DoorError> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "DELETE FROM door_event WHERE (terminal_id, record_no) IN (
             SELECT terminal_id, record_no FROM door_event WHERE received_at < $1 LIMIT $2)",
    )
    .bind(cutoff)
    .bind(PURGE_BATCH)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let last = n < PURGE_BATCH as u64;
    if last {
        audit::append(
            &mut tx,
            actor,
            "door.purge",
            "door_event",
            "",
            None,
            Some(audit_row(done + n, true)),
        )
        .await?;
        Change {
            records: vec!["door_event".into()],
            ..Change::default()
        }
        .send(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok((n, last))
}

async fn append_purge_audit(
    pool: &PgPool,
    actor: &Actor,
    after: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    audit::append(
        &mut tx,
        actor,
        "door.purge",
        "door_event",
        "",
        None,
        Some(after),
    )
    .await?;
    tx.commit().await
}
