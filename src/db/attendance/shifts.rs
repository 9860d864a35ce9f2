//! What attendance is planned from: shifts, schedules (per department or per person; a
//! person's wins) and the site's holidays. Every change is checked (`Action::AttendanceEdit`),
//! audited in its own transaction, moves the sweep back to the first day it touches, and is
//! announced.

use super::{replan, AttendanceError};
use crate::db::audit;
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgPool, Row};

/// Which punches count: the first and the last, or every in/out pair.
pub const PUNCH_RULES: [&str; 2] = ["first_last", "pairs"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Shift {
    pub id: i64,
    pub name: String,
    /// T1.
    pub start_time: NaiveTime,
    /// T2; at or before T1 it is on the next day.
    pub end_time: NaiveTime,
    /// G1 and G2.
    pub grace_late_min: i32,
    pub grace_early_min: i32,
    /// C: where one attendance day ends and the next begins.
    pub day_change: NaiveTime,
    /// `first_last` or `pairs`.
    pub punch_rule: String,
    pub overtime_threshold_min: i32,
}

/// A shift to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewShift {
    pub name: String,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub grace_late_min: i32,
    pub grace_early_min: i32,
    pub day_change: NaiveTime,
    pub pairs: bool,
    pub overtime_threshold_min: i32,
}

impl NewShift {
    /// A shift with the defaults: no grace, day change 04:00, first and last punch, a 30 minute
    /// overtime threshold.
    pub fn new(name: &str, start_time: NaiveTime, end_time: NaiveTime) -> NewShift {
        NewShift {
            name: name.trim().to_string(),
            start_time,
            end_time,
            grace_late_min: 0,
            grace_early_min: 0,
            day_change: NaiveTime::from_hms_opt(4, 0, 0).unwrap_or(NaiveTime::MIN),
            pairs: false,
            overtime_threshold_min: 30,
        }
    }

    /// Whether the shift lies inside its own attendance day [C, C + 24 h).
    pub fn check(&self) -> Result<(), AttendanceError> {
        if self.name.trim().is_empty() {
            return Err(AttendanceError::NoName);
        }
        if self.start_time == self.end_time {
            return Err(AttendanceError::SameStartEnd);
        }
        if !(0..=720).contains(&self.grace_late_min)
            || !(0..=720).contains(&self.grace_early_min)
            || !(0..=1440).contains(&self.overtime_threshold_min)
        {
            return Err(AttendanceError::BadMinutes);
        }
        // The migration's att_shift_inside_day, said before the database says it.
        let secs = |t: NaiveTime| {
            use chrono::Timelike;
            i64::from(t.num_seconds_from_midnight())
        };
        let (t1, t2, c) = (
            secs(self.start_time),
            secs(self.end_time),
            secs(self.day_change),
        );
        let t1_off = if t1 >= c { t1 } else { t1 + 86_400 };
        let len = if t2 > t1 { t2 - t1 } else { t2 - t1 + 86_400 };
        if t1_off + len > c + 86_400 {
            return Err(AttendanceError::OutsideDay);
        }
        Ok(())
    }
}

/// Whom a schedule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScheduleFor {
    Department(i64),
    Person(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub id: i64,
    pub whom: ScheduleFor,
    /// The department's or the person's name, and the person's number.
    pub whom_name: String,
    pub person_no: Option<String>,
    pub shift_id: i64,
    pub shift: String,
    /// ISO weekdays, 1 = Monday.
    pub rest_days: Vec<i16>,
    pub valid_from: NaiveDate,
    /// The last day, inclusive; None: open.
    pub valid_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewSchedule {
    pub whom: ScheduleFor,
    pub shift_id: i64,
    pub rest_days: Vec<i16>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Holiday {
    pub day: NaiveDate,
    pub name: String,
    /// A make-up working day (调休) rather than a holiday.
    pub works: bool,
}

const SHIFT_COLUMNS: &str = "id, name, start_time, end_time, grace_late_min, grace_early_min, \
     day_change, punch_rule, overtime_threshold_min";

pub async fn shifts(pool: &PgPool) -> Result<Vec<Shift>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SHIFT_COLUMNS} FROM att_shift ORDER BY name"
    ))
    .fetch_all(pool)
    .await
}

/// A shift by name (or id).
pub async fn shift_id<'e>(
    db: impl sqlx::PgExecutor<'e>,
    shift: &str,
) -> Result<i64, AttendanceError> {
    let s = shift.trim();
    sqlx::query_scalar(
        "SELECT id FROM att_shift WHERE name = $1 OR id::text = $1 ORDER BY name = $1 DESC LIMIT 1",
    )
    .bind(s)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AttendanceError::NoShift(s.to_string()))
}

pub async fn add_shift(
    pool: &PgPool,
    actor: &Actor,
    shift: &NewShift,
) -> Result<i64, AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    shift.check()?;
    let mut tx = pool.begin().await?;
    let id = add_shift_in(&mut tx, actor, shift).await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds inside a caller's transaction (an import of many), audited; no announcement.
pub(crate) async fn add_shift_in(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    shift: &NewShift,
) -> Result<i64, AttendanceError> {
    shift.check()?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO att_shift (name, start_time, end_time, grace_late_min, grace_early_min,
                                day_change, punch_rule, overtime_threshold_min)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(shift.name.trim())
    .bind(shift.start_time)
    .bind(shift.end_time)
    .bind(shift.grace_late_min)
    .bind(shift.grace_early_min)
    .bind(shift.day_change)
    .bind(if shift.pairs { "pairs" } else { "first_last" })
    .bind(shift.overtime_threshold_min)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            AttendanceError::ShiftTaken(shift.name.trim().to_string())
        }
        _ => AttendanceError::Sql(e),
    })?;
    audit::append(
        tx,
        actor,
        "attendance.shift.add",
        "att_shift",
        &id.to_string(),
        None,
        Some(json!(shift)),
    )
    .await?;
    Ok(id)
}

/// Deletes a shift no schedule uses.
pub async fn delete_shift(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let mut tx = pool.begin().await?;
    let before: Option<Shift> = sqlx::query_as(&format!(
        "SELECT {SHIFT_COLUMNS} FROM att_shift WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Err(AttendanceError::NoShift(id.to_string()));
    };
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM att_schedule WHERE shift_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if used > 0 {
        return Err(AttendanceError::ShiftInUse {
            name: before.name,
            schedules: used,
        });
    }
    sqlx::query("DELETE FROM att_shift WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "attendance.shift.delete",
        "att_shift",
        &id.to_string(),
        Some(json!(before)),
        None,
    )
    .await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn schedules(pool: &PgPool) -> Result<Vec<Schedule>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.id, s.department_id, s.person_id, coalesce(d.name, p.name) AS whom_name,
                p.person_no, s.shift_id, sh.name AS shift, s.rest_days, s.valid_from, s.valid_to
         FROM att_schedule s JOIN att_shift sh ON sh.id = s.shift_id
         LEFT JOIN department d ON d.id = s.department_id
         LEFT JOIN person p ON p.id = s.person_id
         ORDER BY s.person_id NULLS FIRST, whom_name, s.valid_from",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let dep: Option<i64> = r.try_get("department_id")?;
            let person: Option<i64> = r.try_get("person_id")?;
            Ok(Schedule {
                id: r.try_get("id")?,
                whom: match (dep, person) {
                    (Some(d), _) => ScheduleFor::Department(d),
                    (None, p) => ScheduleFor::Person(p.unwrap_or_default()),
                },
                whom_name: r.try_get("whom_name")?,
                person_no: r.try_get("person_no")?,
                shift_id: r.try_get("shift_id")?,
                shift: r.try_get("shift")?,
                rest_days: r.try_get("rest_days")?,
                valid_from: r.try_get("valid_from")?,
                valid_to: r.try_get("valid_to")?,
            })
        })
        .collect()
}

pub async fn add_schedule(
    pool: &PgPool,
    actor: &Actor,
    s: &NewSchedule,
) -> Result<i64, AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let mut tx = pool.begin().await?;
    let id = add_schedule_in(&mut tx, actor, s).await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn add_schedule_in(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    s: &NewSchedule,
) -> Result<i64, AttendanceError> {
    if s.valid_to.is_some_and(|to| to < s.valid_from) {
        return Err(AttendanceError::BadRange);
    }
    if s.rest_days.iter().any(|d| !(1..=7).contains(d)) {
        return Err(AttendanceError::BadRestDays);
    }
    let mut rest = s.rest_days.clone();
    rest.sort_unstable();
    rest.dedup();
    let (dep, person) = match s.whom {
        ScheduleFor::Department(d) => (Some(d), None),
        ScheduleFor::Person(p) => (None, Some(p)),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO att_schedule (department_id, person_id, shift_id, rest_days, valid_from, valid_to)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(dep)
    .bind(person)
    .bind(s.shift_id)
    .bind(&rest)
    .bind(s.valid_from)
    .bind(s.valid_to)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23P01") => {
            AttendanceError::Overlaps(if dep.is_some() { "department" } else { "person" })
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            match d.constraint().unwrap_or_default() {
                c if c.contains("shift") => AttendanceError::NoShift(s.shift_id.to_string()),
                c if c.contains("department") => {
                    AttendanceError::NoDepartment(dep.unwrap_or_default().to_string())
                }
                _ => AttendanceError::NoPerson(person.unwrap_or_default().to_string()),
            }
        }
        _ => AttendanceError::Sql(e),
    })?;
    audit::append(
        tx,
        actor,
        "attendance.schedule.add",
        "att_schedule",
        &id.to_string(),
        None,
        Some(json!(s)),
    )
    .await?;
    replan(tx, s.valid_from).await?;
    Ok(id)
}

pub async fn delete_schedule(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let mut tx = pool.begin().await?;
    /// department, person, shift, from, to
    type Row = (Option<i64>, Option<i64>, i64, NaiveDate, Option<NaiveDate>);
    let before: Option<Row> = sqlx::query_as(
        "DELETE FROM att_schedule WHERE id = $1
             RETURNING department_id, person_id, shift_id, valid_from, valid_to",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((dep, person, shift, from, to)) = before else {
        return Err(AttendanceError::NoSchedule(id));
    };
    audit::append(
        &mut tx,
        actor,
        "attendance.schedule.delete",
        "att_schedule",
        &id.to_string(),
        Some(
            json!({"department_id": dep, "person_id": person, "shift_id": shift,
                    "valid_from": from, "valid_to": to}),
        ),
        None,
    )
    .await?;
    replan(&mut tx, from).await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn holidays(pool: &PgPool) -> Result<Vec<Holiday>, sqlx::Error> {
    sqlx::query_as("SELECT day, name, works FROM att_holiday ORDER BY day")
        .fetch_all(pool)
        .await
}

/// Sets a day of the site calendar (a holiday, or a make-up working day), replacing what that
/// day was.
pub async fn set_holiday(pool: &PgPool, actor: &Actor, h: &Holiday) -> Result<(), AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let mut tx = pool.begin().await?;
    set_holiday_in(&mut tx, actor, h).await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn set_holiday_in(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    h: &Holiday,
) -> Result<(), AttendanceError> {
    if h.name.trim().is_empty() {
        return Err(AttendanceError::NoName);
    }
    let before: Option<Holiday> =
        sqlx::query_as("SELECT day, name, works FROM att_holiday WHERE day = $1 FOR UPDATE")
            .bind(h.day)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO att_holiday (day, name, works) VALUES ($1, $2, $3)
         ON CONFLICT (day) DO UPDATE SET name = excluded.name, works = excluded.works",
    )
    .bind(h.day)
    .bind(h.name.trim())
    .bind(h.works)
    .execute(&mut *tx)
    .await?;
    audit::append(
        tx,
        actor,
        "attendance.holiday.set",
        "att_holiday",
        &h.day.to_string(),
        before.map(|b| json!(b)),
        Some(json!(h)),
    )
    .await?;
    // A night shift's day d ends on d+1: the day before sees the change too.
    replan(tx, h.day.pred_opt().unwrap_or(h.day)).await?;
    Ok(())
}

pub async fn delete_holiday(
    pool: &PgPool,
    actor: &Actor,
    day: NaiveDate,
) -> Result<(), AttendanceError> {
    actor.authorize(Action::AttendanceEdit)?;
    let mut tx = pool.begin().await?;
    let before: Option<Holiday> =
        sqlx::query_as("DELETE FROM att_holiday WHERE day = $1 RETURNING day, name, works")
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(before) = before else {
        return Err(AttendanceError::NoHoliday(day));
    };
    audit::append(
        &mut tx,
        actor,
        "attendance.holiday.delete",
        "att_holiday",
        &day.to_string(),
        Some(json!(before)),
        None,
    )
    .await?;
    replan(&mut tx, day.pred_opt().unwrap_or(day)).await?;
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
