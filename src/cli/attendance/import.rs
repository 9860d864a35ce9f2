//! `onecard attendance import shifts|schedules|holidays FILE`: the attendance plan from CSV,
//! all or nothing, every bad row named by its line (the CSV rules of `onecard patrol import`).
//!
//! * shifts: name, start, end, grace_late, grace_early, day_change, pairs, overtime_threshold
//! * schedules: shift, department or person, rest_days (e.g. `6 7`), valid_from, valid_to
//! * holidays: day, name, works

use crate::cli::patrol::{
    bad_rows, date_of, need, number, opt, read_rows, time_of, yes_no, BadRow,
};
use crate::db::attendance::{
    department_id, person_id, shifts, AttendanceError, Holiday, NewSchedule, NewShift, ScheduleFor,
};
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor};
use anyhow::anyhow;

use sqlx::{PgConnection, PgPool};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanPart {
    Shifts,
    Schedules,
    Holidays,
}

pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    what: PlanPart,
    path: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    actor.authorize(Action::AttendanceEdit)?;
    let rows = read_rows(path)?;
    let mut tx = pool.begin().await?;
    let mut bad = Vec::new();
    let mut applied = 0usize;
    for (line, row) in &rows {
        let parsed: Result<Part, String> = match what {
            PlanPart::Shifts => (|| {
                let start = time_of(row, "start")?;
                let end = time_of(row, "end")?;
                let mut s = NewShift::new(need(row, "name")?, start, end);
                s.grace_late_min = number(row, "grace_late")?.unwrap_or(0);
                s.grace_early_min = number(row, "grace_early")?.unwrap_or(0);
                if opt(row, "day_change").is_some() {
                    s.day_change = time_of(row, "day_change")?;
                }
                s.pairs = yes_no(row, "pairs")?.unwrap_or(false);
                s.overtime_threshold_min = number(row, "overtime_threshold")?.unwrap_or(30);
                Ok(Part::Shift(s))
            })(),
            PlanPart::Schedules => (|| {
                let rest = match opt(row, "rest_days") {
                    None => Vec::new(),
                    Some(t) => t
                        .split([' ', ',', ';'])
                        .filter(|d| !d.is_empty())
                        .map(|d| {
                            d.parse::<i16>()
                                .map_err(|_| format!("rest_days `{t}`: weekdays 1 to 7"))
                        })
                        .collect::<Result<_, _>>()?,
                };
                if opt(row, "department").is_some() == opt(row, "person").is_some() {
                    return Err("give a department or a person (one of the two)".to_string());
                }
                Ok(Part::Schedule {
                    shift: need(row, "shift")?.to_string(),
                    department: opt(row, "department").map(str::to_string),
                    person: opt(row, "person").map(str::to_string),
                    rest,
                    from: date_of(row, "valid_from")?.ok_or("valid_from is empty")?,
                    to: date_of(row, "valid_to")?,
                })
            })(),
            PlanPart::Holidays => (|| {
                Ok(Part::Holiday(Holiday {
                    day: date_of(row, "day")?.ok_or("day is empty")?,
                    name: need(row, "name")?.to_string(),
                    works: yes_no(row, "works")?.unwrap_or(false),
                }))
            })(),
        };
        let part = match parsed {
            Ok(p) => p,
            Err(m) => {
                bad.push(BadRow {
                    line: *line,
                    message: m,
                });
                continue;
            }
        };
        sqlx::query("SAVEPOINT attendance_row")
            .execute(&mut *tx)
            .await?;
        let saved = save(&mut tx, actor, part).await;
        match saved {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT attendance_row")
                    .execute(&mut *tx)
                    .await?;
                applied += 1;
            }
            Err(AttendanceError::Sql(e)) => return Err(anyhow!(crate::error::describe_sql(&e))),
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT attendance_row")
                    .execute(&mut *tx)
                    .await?;
                bad.push(BadRow {
                    line: *line,
                    message: e.to_string(),
                });
            }
        }
    }
    if !bad.is_empty() {
        return Err(bad_rows(path, bad));
    }
    Change::attendance().send(&mut tx).await?;
    tx.commit().await?;
    writeln!(out, "{applied} imported from {}", path.display())?;
    Ok(())
}

enum Part {
    Shift(NewShift),
    Schedule {
        shift: String,
        department: Option<String>,
        person: Option<String>,
        rest: Vec<i16>,
        from: chrono::NaiveDate,
        to: Option<chrono::NaiveDate>,
    },
    Holiday(Holiday),
}

async fn save(tx: &mut PgConnection, actor: &Actor, part: Part) -> Result<(), AttendanceError> {
    match part {
        Part::Shift(s) => shifts::add_shift_in(tx, actor, &s).await.map(|_| ()),
        Part::Holiday(h) => shifts::set_holiday_in(tx, actor, &h).await,
        Part::Schedule {
            shift,
            department,
            person,
            rest,
            from,
            to,
        } => {
            let shift_id = shifts::shift_id(&mut *tx, &shift).await?;
            let whom = match (department, person) {
                (Some(d), _) => ScheduleFor::Department(department_id(&mut *tx, &d).await?),
                (None, p) => {
                    ScheduleFor::Person(person_id(&mut *tx, &p.unwrap_or_default()).await?)
                }
            };
            let rest = if rest.is_empty() { vec![6, 7] } else { rest };
            let s = NewSchedule {
                whom,
                shift_id,
                rest_days: rest,
                valid_from: from,
                valid_to: to,
            };
            shifts::add_schedule_in(tx, actor, &s).await.map(|_| ())
        }
    }
}
