//! `onecard attendance ...`: setting attendance up from the shell: shifts, schedules,
//! holidays, corrections (a forgotten punch, leave, a business trip) and their revocation.
//! Results are reported by `onecard report attendance`.
//!
//! Each subcommand is one variant of [`AttendanceCmd`] and one arm of [`run`]; a group of them
//! may live in a file of its own beside this one.

use crate::db::attendance::{
    self, corrections, shifts, AttendanceError, CorrectionKind, Holiday, NewSchedule, NewShift,
    ScheduleFor,
};
use crate::domain::permission::Actor;
use anyhow::anyhow;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use clap::Subcommand;
use sqlx::PgPool;
use std::io::Write;
use std::process::ExitCode;

mod import;

#[derive(Debug, Subcommand)]
pub enum AttendanceCmd {
    /// Shifts: start, end, graces, day change, punch rule, overtime threshold.
    Shift {
        #[command(subcommand)]
        command: ShiftCmd,
    },
    /// Schedules: who works which shift when, per department or per person (a person's wins).
    Schedule {
        #[command(subcommand)]
        command: ScheduleCmd,
    },
    /// The site calendar: holidays and make-up working days.
    Holiday {
        #[command(subcommand)]
        command: HolidayCmd,
    },
    /// Record a correction for a person: a forgotten punch (--punch), approved leave
    /// (--leave FROM TO) or a business trip (--trip FROM TO). The punches stay as they are.
    Correct(CorrectArgs),
    /// Revoke a correction, with a reason (a correction is never edited or deleted).
    Revoke {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// The machines: list, extract, clear, set-time, clear-policy.
    #[command(flatten)]
    Machines(super::attendance_machines::MachineCmd),
    /// The machines against the person register: which machine lacks whom, which users on a
    /// machine the register does not know; --read reads the machines' users first, --push
    /// makes them hold the register.
    Sync(super::attendance_sync::AttendanceSyncArgs),
    /// Import shifts (name, start, end, grace_late, grace_early, day_change, pairs,
    /// overtime_threshold), schedules (shift, department or person, rest_days, valid_from,
    /// valid_to) or holidays (day, name, works) from CSV, all or nothing.
    Import {
        #[arg(value_enum)]
        what: import::PlanPart,
        file: std::path::PathBuf,
    },
    /// Recompute the results of a period for everyone now (serve keeps them current anyway).
    Refresh {
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShiftCmd {
    /// Add a shift, e.g. `shift add Day --start 08:00 --end 17:00 --grace-late 5`.
    Add(ShiftArgs),
    /// List the shifts.
    List,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShiftArgs {
    pub name: String,
    /// T1, HH:MM.
    #[arg(long)]
    pub start: String,
    /// T2, HH:MM; at or before the start: the next day (a night shift).
    #[arg(long)]
    pub end: String,
    /// Minutes after the start before a first punch is late.
    #[arg(long, default_value_t = 0)]
    pub grace_late: i32,
    /// Minutes before the end before a last punch is early.
    #[arg(long, default_value_t = 0)]
    pub grace_early: i32,
    /// Where one attendance day ends, HH:MM (a night shift: inside its off-duty hours).
    #[arg(long, default_value = "04:00")]
    pub day_change: String,
    /// Every in/out pair counts (default: the first and the last punch).
    #[arg(long)]
    pub pairs: bool,
    /// Minutes past the end from which the time past it is overtime.
    #[arg(long, default_value_t = 30)]
    pub overtime_threshold: i32,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Add a schedule for a department (code or name) or a person (person number).
    Add(ScheduleArgs),
    /// List the schedules.
    List,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ScheduleArgs {
    /// The shift's name.
    #[arg(long)]
    pub shift: String,
    #[arg(long, required_unless_present = "person", conflicts_with = "person")]
    pub department: Option<String>,
    #[arg(long)]
    pub person: Option<String>,
    /// Rest weekdays, 1 = Monday .. 7 = Sunday, comma separated.
    #[arg(long, default_value = "6,7", value_delimiter = ',')]
    pub rest: Vec<i16>,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day (inclusive); none: open.
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum HolidayCmd {
    /// Make a day a holiday (or with --works a make-up working day).
    Add {
        day: NaiveDate,
        name: String,
        #[arg(long)]
        works: bool,
    },
    /// List the calendar.
    List,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CorrectArgs {
    /// The person's number.
    #[arg(long)]
    pub person: String,
    /// The forgotten punch, site time: YYYY-MM-DD HH:MM[:SS].
    #[arg(long, conflicts_with_all = ["leave", "trip"], required_unless_present_any = ["leave", "trip"])]
    pub punch: Option<String>,
    /// Leave from .. to (site times; a bare day is its 00:00).
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"], conflicts_with = "trip")]
    pub leave: Option<Vec<String>>,
    /// A business trip from .. to.
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
    pub trip: Option<Vec<String>>,
    /// The kind of leave: annual, sick ...
    #[arg(long, requires = "leave")]
    pub leave_type: Option<String>,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
}

pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: crate::i18n::Lang,
    cmd: &AttendanceCmd,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AttendanceCmd::Machines(c) => {
            return super::attendance_machines::run(pool, actor, c, out).await
        }
        AttendanceCmd::Sync(args) => {
            return super::attendance_sync::run(pool, actor, lang, args, out).await
        }
        AttendanceCmd::Shift { command } => shift(pool, actor, command, out).await?,
        AttendanceCmd::Schedule { command } => schedule(pool, actor, command, out).await?,
        AttendanceCmd::Holiday { command } => holiday(pool, actor, command, out).await?,
        AttendanceCmd::Correct(args) => correct(pool, actor, args, out).await?,
        AttendanceCmd::Revoke { id, reason } => {
            corrections::revoke(pool, actor, *id, reason)
                .await
                .map_err(words)?;
            writeln!(out, "correction {id} revoked")?;
        }
        AttendanceCmd::Import { what, file } => {
            import::import(pool, actor, *what, file, out).await?
        }
        AttendanceCmd::Refresh { from, to } => {
            if to < from {
                return Err(words(AttendanceError::BadRange));
            }
            let n = attendance::refresh(pool, *from, *to).await?;
            writeln!(out, "{n} results computed for {from} to {to}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An attendance refusal in the operator's words (English on the shell).
pub(crate) fn words(e: AttendanceError) -> anyhow::Error {
    match e {
        AttendanceError::Sql(e) => anyhow!(crate::error::describe_sql(&e)),
        other => anyhow!(other),
    }
}

fn clock(text: &str) -> anyhow::Result<NaiveTime> {
    let t = text.trim();
    NaiveTime::parse_from_str(t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
        .map_err(|_| anyhow!("`{t}` is not a time of day: give HH:MM"))
}

/// A site wall-clock time: YYYY-MM-DD HH:MM[:SS], or a bare day (its 00:00).
pub(crate) fn wall(text: &str) -> anyhow::Result<NaiveDateTime> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .ok_or_else(|| anyhow!("`{t}` is not a time: give YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"))
}

async fn shift(
    pool: &PgPool,
    actor: &Actor,
    cmd: &ShiftCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        ShiftCmd::Add(a) => {
            let s = NewShift {
                name: a.name.trim().to_string(),
                start_time: clock(&a.start)?,
                end_time: clock(&a.end)?,
                grace_late_min: a.grace_late,
                grace_early_min: a.grace_early,
                day_change: clock(&a.day_change)?,
                pairs: a.pairs,
                overtime_threshold_min: a.overtime_threshold,
            };
            let id = shifts::add_shift(pool, actor, &s).await.map_err(words)?;
            writeln!(out, "shift {} added (id {id})", s.name)?;
        }
        ShiftCmd::List => {
            let rows: Vec<Vec<String>> = shifts::shifts(pool)
                .await?
                .into_iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.name,
                        s.start_time.format("%H:%M").to_string(),
                        s.end_time.format("%H:%M").to_string(),
                        s.grace_late_min.to_string(),
                        s.grace_early_min.to_string(),
                        s.day_change.format("%H:%M").to_string(),
                        s.punch_rule,
                        s.overtime_threshold_min.to_string(),
                    ]
                })
                .collect();
            let columns = [
                "id",
                "name",
                "start",
                "end",
                "grace_late",
                "grace_early",
                "day_change",
                "punch_rule",
                "overtime_threshold",
            ];
            let numeric = [true, false, false, false, true, true, false, false, true];
            out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes())?;
        }
    }
    Ok(())
}

async fn schedule(
    pool: &PgPool,
    actor: &Actor,
    cmd: &ScheduleCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        ScheduleCmd::Add(a) => {
            let shift_id = shifts::shift_id(pool, &a.shift).await.map_err(words)?;
            let whom = match (&a.department, &a.person) {
                (Some(d), _) => ScheduleFor::Department(
                    attendance::department_id(pool, d).await.map_err(words)?,
                ),
                (None, Some(p)) => {
                    ScheduleFor::Person(attendance::person_id(pool, p).await.map_err(words)?)
                }
                (None, None) => return Err(anyhow!("give --department or --person")),
            };
            let s = NewSchedule {
                whom,
                shift_id,
                rest_days: a.rest.clone(),
                valid_from: a.from,
                valid_to: a.to,
            };
            let id = shifts::add_schedule(pool, actor, &s).await.map_err(words)?;
            writeln!(out, "schedule {id} added")?;
        }
        ScheduleCmd::List => {
            let rows: Vec<Vec<String>> = shifts::schedules(pool)
                .await?
                .into_iter()
                .map(|s| {
                    let whom = match (s.whom, &s.person_no) {
                        (ScheduleFor::Person(_), Some(no)) => format!("{no} {}", s.whom_name),
                        _ => s.whom_name.clone(),
                    };
                    vec![
                        s.id.to_string(),
                        whom,
                        s.shift,
                        s.rest_days
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                        s.valid_from.to_string(),
                        s.valid_to.map(|d| d.to_string()).unwrap_or_default(),
                    ]
                })
                .collect();
            let columns = ["id", "for", "shift", "rest_days", "from", "to"];
            let numeric = [true, false, false, false, false, false];
            out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes())?;
        }
    }
    Ok(())
}

async fn holiday(
    pool: &PgPool,
    actor: &Actor,
    cmd: &HolidayCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        HolidayCmd::Add { day, name, works } => {
            let h = Holiday {
                day: *day,
                name: name.trim().to_string(),
                works: *works,
            };
            shifts::set_holiday(pool, actor, &h).await.map_err(words)?;
            let what = if *works {
                "a make-up working day"
            } else {
                "a holiday"
            };
            writeln!(out, "{day} is {what}: {}", h.name)?;
        }
        HolidayCmd::List => {
            let rows: Vec<Vec<String>> = shifts::holidays(pool)
                .await?
                .into_iter()
                .map(|h| {
                    vec![
                        h.day.to_string(),
                        h.name,
                        if h.works { "work" } else { "holiday" }.to_string(),
                    ]
                })
                .collect();
            out.write_all(
                crate::report::text_table(&["day", "name", "kind"], &[false; 3], &rows, None)
                    .as_bytes(),
            )?;
        }
    }
    Ok(())
}

async fn correct(
    pool: &PgPool,
    actor: &Actor,
    a: &CorrectArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let person = attendance::person_id(pool, &a.person)
        .await
        .map_err(words)?;
    let span = |v: &Vec<String>| -> anyhow::Result<(NaiveDateTime, NaiveDateTime)> {
        match v.as_slice() {
            [from, to] => Ok((wall(from)?, wall(to)?)),
            _ => Err(anyhow!("give FROM and TO")),
        }
    };
    let kind = match (&a.punch, &a.leave, &a.trip) {
        (Some(p), _, _) => CorrectionKind::Punch { at: wall(p)? },
        (None, Some(l), _) => {
            let (from, to) = span(l)?;
            CorrectionKind::Leave {
                from,
                to,
                leave_type: a.leave_type.clone(),
            }
        }
        (None, None, Some(t)) => {
            let (from, to) = span(t)?;
            CorrectionKind::Trip { from, to }
        }
        (None, None, None) => return Err(anyhow!("give --punch, --leave or --trip")),
    };
    let id = corrections::add(pool, actor, person, &kind, &a.reason)
        .await
        .map_err(words)?;
    writeln!(out, "correction {id} recorded ({})", kind.name())?;
    Ok(())
}
