//! Patrol (巡更): checkpoints placed on maps, routes, guards and their schedules, and the
//! omission calculation (遗漏计算) of DOMAIN.md.
//!
//! The rounds are laid out in SQL (`patrol_rounds`, migration `…070_patrol`) and expanded ahead
//! into `patrol_visit`, one row per due visit; scans are matched to them as they are stored, so
//! a report is a range read. `serve` keeps the visits [`HORIZON`] ahead, sweeps closed rounds
//! into exceptions and raises overdue alarms ([`watch`]).

pub mod exceptions;
pub mod live;
pub mod omissions;
pub mod purge;
pub mod setup;
pub mod watch;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

pub use setup::{Checkpoint, Guard, GuardGroup, MapKind, PatrolMap, Route, RoutePoint, Schedule};

/// How far ahead of now due visits are laid out.
pub const HORIZON: chrono::Duration = chrono::Duration::hours(30);
/// A report never lays out rounds further ahead of now than this.
pub const FURTHEST: chrono::Duration = chrono::Duration::days(31);

#[derive(Debug, thiserror::Error)]
pub enum PatrolError {
    #[error("a name is needed")]
    NoName,
    #[error("tag {0} is not a checkpoint tag (1 to 4294967295)")]
    BadTag(i64),
    #[error("card {0} is not a guard card number (1 to 4294967295)")]
    BadCard(i64),
    #[error("there is already a {what} called {name}")]
    NameTaken { what: &'static str, name: String },
    #[error("card {card} already belongs to guard {name}")]
    CardTaken { card: i64, name: String },
    #[error("no checkpoint has tag {0}")]
    NoCheckpoint(i64),
    #[error("no route {0}")]
    NoRoute(String),
    #[error("no guard {0}")]
    NoGuard(String),
    #[error("no guard group {0}")]
    NoGroup(String),
    #[error("no map {0}")]
    NoMap(String),
    #[error("no schedule {0}")]
    NoSchedule(i64),
    #[error("a route needs at least one checkpoint")]
    EmptyRoute,
    #[error("checkpoint {tag} is due before the one before it on the route")]
    OffsetsOutOfOrder { tag: i64 },
    #[error("checkpoint {tag} is on route {route}: take it off the route first")]
    CheckpointInUse { tag: i64, route: String },
    #[error("guard group {name} walks {schedules} schedule(s): delete or reassign them first")]
    GroupInUse { name: String, schedules: i64 },
    #[error("a schedule repeats every 1 minute to 24 hours")]
    BadEvery,
    #[error("a schedule runs on at least one day of the week")]
    NoDays,
    #[error("a schedule ends its validity before it starts")]
    BadValidity,
    #[error("a tolerance or time is a number of seconds from 0 to 86400")]
    BadSeconds,
    #[error("the map's plan is empty or larger than 400 × 200 characters")]
    BadPlan,
    #[error("the picture is not a PNG this console can read: {0}")]
    BadImage(String),
    #[error("the place ({x}, {y}) is outside the map")]
    OffMap { x: f32, y: f32 },
    #[error("no exception for visit {0}")]
    NoException(i64),
    #[error("the exception was closed already")]
    AlreadyClosed,
    #[error("closing an exception needs a comment")]
    NoComment,
    #[error("the range ends before it starts")]
    BadRange,
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Denied(#[from] crate::domain::permission::Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// What became of a due visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitClass {
    OnTime,
    Early,
    Late,
    Missed,
    /// Not scanned, and its round is still open.
    Pending,
}

impl VisitClass {
    pub const ALL: [VisitClass; 5] = [
        VisitClass::OnTime,
        VisitClass::Early,
        VisitClass::Late,
        VisitClass::Missed,
        VisitClass::Pending,
    ];

    /// The name used in SQL and CSV.
    pub fn name(self) -> &'static str {
        match self {
            VisitClass::OnTime => "on_time",
            VisitClass::Early => "early",
            VisitClass::Late => "late",
            VisitClass::Missed => "missed",
            VisitClass::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<VisitClass> {
        VisitClass::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Every schedule's rounds up to `to` are laid out (never further than [`FURTHEST`] ahead of
/// now). Returns the visits added.
pub async fn ensure_expanded(pool: &PgPool, to: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    let to = to.min(Utc::now() + FURTHEST);
    sqlx::query_scalar("SELECT patrol_expand_to($1)")
        .bind(to)
        .fetch_one(pool)
        .await
}

/// The visits of rounds not started by now are laid out again for `schedules` (after a change
/// to them, their routes or their checkpoints), and new schedules are laid out, inside the
/// change's transaction.
pub(crate) async fn replan(
    tx: &mut sqlx::PgConnection,
    schedules: &[i64],
) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    sqlx::query("SELECT patrol_replan($1, $2)")
        .bind(schedules)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    // New schedules are laid out from their first day, replanned ones from now.
    sqlx::query("SELECT patrol_expand_to($1)")
        .bind(horizon_end(now))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The end of the laid-out horizon at `now`: on the hour, so `serve` expands once an hour.
pub fn horizon_end(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    (now + HORIZON)
        .duration_trunc(TimeDelta::hours(1))
        .unwrap_or(now + HORIZON)
}

/// A checkpoint's place from a row's `map_id`, `x` and `y` (None when it is not on a map).
pub(crate) fn place_of(r: &sqlx::postgres::PgRow) -> Result<Option<(i64, f32, f32)>, sqlx::Error> {
    use sqlx::Row;
    let map: Option<i64> = r.try_get("map_id")?;
    let x: Option<f32> = r.try_get("x")?;
    let y: Option<f32> = r.try_get("y")?;
    Ok(match (map, x, y) {
        (Some(m), Some(x), Some(y)) => Some((m, x, y)),
        _ => None,
    })
}

/// Maps a unique violation to `taken`.
fn unique(e: sqlx::Error, taken: impl FnOnce() -> PatrolError) -> PatrolError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => taken(),
        _ => PatrolError::Sql(e),
    }
}
