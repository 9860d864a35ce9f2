//! Attendance results (考勤): shifts, schedules, holidays, corrections, and one row of results
//! per person per attendance day, by DOMAIN.md's day rules.
//!
//! The rules live in one place, the SQL function `att_compute` (migration `…080_attendance`,
//! where the decisions are written down). `att_day` holds its results and is kept current:
//! new punches and corrections mark person-days dirty (triggers), and [`refresh_dirty`] (run by
//! `serve` every 2 s) recomputes those and sweeps forward day by day, so days without punches
//! (absent) get their rows and a plan change is caught up. Reports read `att_day`.

pub mod corrections;
pub mod results;
pub mod shifts;

use crate::db::notify::Change;
use crate::i18n::{tr, Lang};
use chrono::NaiveDate;
use sqlx::PgPool;

pub use corrections::{Correction, CorrectionKind};
pub use results::{DayRow, ResultQuery, Totals};
pub use shifts::{Holiday, NewSchedule, NewShift, Schedule, ScheduleFor, Shift};

/// Why an attendance change or query was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttendanceError {
    #[error("a name is needed")]
    NoName,
    #[error("there is already a shift called {0}")]
    ShiftTaken(String),
    #[error("no shift {0}")]
    NoShift(String),
    #[error("no department {0}")]
    NoDepartment(String),
    #[error("no person {0}")]
    NoPerson(String),
    #[error("no schedule {0}")]
    NoSchedule(i64),
    #[error("no holiday on {0}")]
    NoHoliday(NaiveDate),
    #[error("no correction {0}")]
    NoCorrection(i64),
    #[error("a shift's start and end are different times")]
    SameStartEnd,
    #[error(
        "the shift does not fit in one attendance day: move its day change into its off-duty hours"
    )]
    OutsideDay,
    #[error("a grace is 0 to 720 minutes, an overtime threshold 0 to 1440")]
    BadMinutes,
    #[error("rest days are weekdays 1 (Monday) to 7 (Sunday)")]
    BadRestDays,
    #[error("the range ends before it starts")]
    BadRange,
    #[error("the schedule overlaps another one of the same {0}")]
    Overlaps(&'static str),
    #[error("shift {name} is used by {schedules} schedule(s): delete them first")]
    ShiftInUse { name: String, schedules: i64 },
    #[error("a correction needs a reason")]
    NoReason,
    #[error("correction {0} was revoked already")]
    AlreadyRevoked(i64),
    #[error("no status {0}: present, late, left_early, late_left_early, absent, missing_punch, leave, trip, rest or holiday")]
    BadStatus(String),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Denied(#[from] crate::domain::permission::Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A person's attendance day, as `att_compute` classes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Present,
    Late,
    LeftEarly,
    LateLeftEarly,
    Absent,
    MissingPunch,
    Leave,
    Trip,
    Rest,
    Holiday,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Present,
        Status::Late,
        Status::LeftEarly,
        Status::LateLeftEarly,
        Status::Absent,
        Status::MissingPunch,
        Status::Leave,
        Status::Trip,
        Status::Rest,
        Status::Holiday,
    ];

    /// The name in SQL and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Late => "late",
            Status::LeftEarly => "left_early",
            Status::LateLeftEarly => "late_left_early",
            Status::Absent => "absent",
            Status::MissingPunch => "missing_punch",
            Status::Leave => "leave",
            Status::Trip => "trip",
            Status::Rest => "rest",
            Status::Holiday => "holiday",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        let s = s.trim().replace('-', "_");
        Status::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The status in `lang` (`attendance.status.<name>`).
    pub fn words(self, lang: Lang) -> &'static str {
        tr(lang, &format!("attendance.status.{}", self.name()))
    }
}

impl std::str::FromStr for Status {
    type Err = AttendanceError;
    fn from_str(s: &str) -> Result<Status, AttendanceError> {
        Status::parse(s).ok_or_else(|| AttendanceError::BadStatus(s.trim().to_string()))
    }
}

/// What one pass of [`refresh_dirty`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Refreshed {
    /// Result rows written.
    pub rows: i64,
    /// The sweep has not reached today yet: another pass has more to do.
    pub behind: bool,
}

/// Days the sweep computes in one pass (10,000 people: about a second).
pub const SWEEP_DAYS: i32 = 7;

/// One pass: recomputes every dirty person-day up to today (site time) and sweeps at most
/// [`SWEEP_DAYS`] further; announces `Change::attendance()` when rows were written.
pub async fn refresh_dirty(pool: &PgPool) -> Result<Refreshed, sqlx::Error> {
    refresh_dirty_until(pool, None).await
}

/// [`refresh_dirty`] as if today were `today` (tests, and a report of a closed period).
pub async fn refresh_dirty_until(
    pool: &PgPool,
    today: Option<NaiveDate>,
) -> Result<Refreshed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (rows, behind): (i64, bool) =
        sqlx::query_as("SELECT rows, behind FROM att_refresh_dirty($1, $2)")
            .bind(today)
            .bind(SWEEP_DAYS)
            .fetch_one(&mut *tx)
            .await?;
    if rows > 0 {
        Change::attendance().send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Refreshed { rows, behind })
}

/// Passes of [`refresh_dirty`] until the sweep has reached today (at most `passes`): what a
/// report runs first so that it never reads a day not yet computed.
pub async fn catch_up(pool: &PgPool, passes: usize) -> Result<Refreshed, sqlx::Error> {
    let mut all = Refreshed::default();
    for _ in 0..passes.max(1) {
        let r = refresh_dirty(pool).await?;
        all.rows += r.rows;
        all.behind = r.behind;
        if !r.behind {
            break;
        }
    }
    Ok(all)
}

/// The last day the sweep has computed for everyone (None: it has not run yet).
pub async fn swept_through(pool: &PgPool) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar("SELECT through FROM att_sweep")
        .fetch_one(pool)
        .await
}

/// Makes the results of [from, to] current before a report reads them: the sweep caught up
/// (at most `passes` passes), then the days it has not reached (today's, days ahead) computed
/// directly. Days ahead keep their punches dirty until their day comes.
pub async fn ensure_current(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    passes: usize,
) -> Result<(), sqlx::Error> {
    catch_up(pool, passes).await?;
    let start = match swept_through(pool).await? {
        Some(t) if t >= to => return Ok(()),
        Some(t) => from.max(t.succ_opt().unwrap_or(t)),
        None => from,
    };
    refresh(pool, start, to).await?;
    Ok(())
}

/// Recomputes every result of [from, to] for everyone, in one transaction. Returns the rows.
pub async fn refresh(pool: &PgPool, from: NaiveDate, to: NaiveDate) -> Result<i64, sqlx::Error> {
    refresh_people(pool, from, to, None).await
}

/// Recomputes [from, to] for `people` (None: everyone). The same computation as every other
/// path; the bench runs it on chunks of people over several connections.
pub async fn refresh_people(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    people: Option<&[i64]>,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: i64 = sqlx::query_scalar("SELECT att_refresh($1, $2, $3)")
        .bind(from)
        .bind(to)
        .bind(people)
        .fetch_one(&mut *tx)
        .await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The results from `from` on are stale after a plan change: the sweep recomputes them.
pub(crate) async fn replan(
    tx: &mut sqlx::PgConnection,
    from: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT att_replan($1)")
        .bind(from)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A department by code or name.
pub async fn department_id<'e>(
    db: impl sqlx::PgExecutor<'e>,
    department: &str,
) -> Result<i64, AttendanceError> {
    let d = department.trim();
    sqlx::query_scalar(
        "SELECT id FROM department WHERE code = $1 OR name = $1 ORDER BY code = $1 DESC LIMIT 1",
    )
    .bind(d)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AttendanceError::NoDepartment(d.to_string()))
}

/// A person by person number.
pub async fn person_id<'e>(
    db: impl sqlx::PgExecutor<'e>,
    person: &str,
) -> Result<i64, AttendanceError> {
    let p = person.trim();
    sqlx::query_scalar("SELECT id FROM person WHERE person_no = $1")
        .bind(p)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AttendanceError::NoPerson(p.to_string()))
}
