//! `onecard report attendance --from D --to D [--department X] [--person P] [--status S]
//! [--csv FILE]`: every person's attendance days and their totals, on screen or as CSV. The
//! results are brought up to date first (the same pass `serve` runs).

use super::{text_table, ReportArgs};
use crate::db::attendance::{self, results, AttendanceError, ResultQuery, Status};
use crate::domain::permission::Actor;
use crate::export::{CsvFile, Existing, ExportError};
use anyhow::{anyhow, bail};
use sqlx::PgPool;
use std::io::Write;

/// Passes of the sweep a report waits for at most (a week each).
const CATCH_UP: usize = 60;

fn words(e: AttendanceError) -> anyhow::Error {
    match e {
        AttendanceError::Export(ExportError::Exists(p)) => anyhow!(
            "{} exists already: choose another name, or --overwrite to replace it",
            p.display()
        ),
        AttendanceError::Sql(e) => anyhow!(crate::error::describe_sql(&e)),
        other => anyhow!(other),
    }
}

pub async fn cli(
    pool: &PgPool,
    actor: &Actor,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if args.kind.is_some() || args.operator.is_some() {
        bail!("--kind and --operator do not apply to the attendance report");
    }
    let (Some(from), Some(to)) = (args.from, args.to) else {
        bail!("the attendance report needs --from and --to (YYYY-MM-DD)");
    };
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    let department = match &args.department {
        Some(d) => Some(attendance::department_id(pool, d).await.map_err(words)?),
        None => None,
    };
    let person = match &args.person {
        Some(p) => Some(attendance::person_id(pool, p).await.map_err(words)?),
        None => None,
    };
    let status = match &args.status {
        Some(s) => Some(s.parse::<Status>().map_err(words)?),
        None => None,
    };
    let q = ResultQuery {
        from,
        to,
        department,
        person,
        status,
    };
    attendance::ensure_current(pool, from, to, CATCH_UP).await?;
    let rows = results::results(pool, &q).await.map_err(words)?;
    if let Some(path) = &args.csv {
        let target = path.display().to_string();
        let n = if path.as_os_str() == "-" {
            results::export(pool, actor, &q, &rows, &mut *out, &target)
                .await
                .map_err(words)?
                .1
        } else {
            let existing = if args.overwrite {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            let file = CsvFile::create(path, existing).map_err(|e| words(e.into()))?;
            let (file, n) = results::export(pool, actor, &q, &rows, file, &target)
                .await
                .map_err(words)?;
            file.commit().map_err(|e| words(e.into()))?;
            writeln!(
                out,
                "report attendance: {n} rows written to {}",
                path.display()
            )?;
            n
        };
        let _ = writeln!(std::io::stderr(), "{n} rows");
        return Ok(());
    }
    let limit = usize::try_from(args.limit.max(0)).unwrap_or(usize::MAX);
    let day_rows: Vec<Vec<String>> = rows
        .iter()
        .take(limit)
        .map(|r| results::csv_row(r).to_vec())
        .collect();
    let numeric: Vec<bool> = results::CSV_HEADER
        .iter()
        .map(|c| c.ends_with("_min") || *c == "punches")
        .collect();
    out.write_all(text_table(&results::CSV_HEADER, &numeric, &day_rows, None).as_bytes())?;
    if day_rows.len() < rows.len() {
        writeln!(
            out,
            "{} of {} rows shown (--limit); --csv FILE writes them all",
            day_rows.len(),
            rows.len()
        )?;
    } else {
        writeln!(out, "{} rows", rows.len())?;
    }
    let totals = results::totals_by_person(pool, &q).await.map_err(words)?;
    let columns = [
        "person_no",
        "name",
        "department",
        "work_days",
        "present",
        "late",
        "left_early",
        "absent",
        "missing_punch",
        "leave",
        "trip",
        "late_min",
        "early_min",
        "overtime_min",
        "worked_min",
    ];
    let numeric: Vec<bool> = (0..columns.len()).map(|i| i >= 3).collect();
    let total_rows: Vec<Vec<String>> = totals
        .iter()
        .map(|t| {
            vec![
                t.key.clone(),
                t.name.clone(),
                t.department.clone(),
                t.work_days.to_string(),
                t.present.to_string(),
                t.late.to_string(),
                t.left_early.to_string(),
                t.absent.to_string(),
                t.missing_punch.to_string(),
                t.leave.to_string(),
                t.trip.to_string(),
                t.late_min.to_string(),
                t.early_min.to_string(),
                t.overtime_min.to_string(),
                t.worked_min.to_string(),
            ]
        })
        .collect();
    writeln!(out)?;
    out.write_all(text_table(&columns, &numeric, &total_rows, None).as_bytes())?;
    Ok(())
}
