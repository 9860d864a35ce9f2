//! `onecard patrol ...`: the omission report on screen or as CSV, imports of the patrol plan
//! from CSV (all or nothing, every bad row named), and the purge of old patrol records.

use crate::db::audit;
use crate::db::patrol::omissions::{self, Grouping, OmissionQuery};
use crate::db::patrol::setup::{self, Checkpoint, Guard, Route, RoutePoint, Schedule};
use crate::db::patrol::{purge as purging, PatrolError};
use crate::domain::permission::{Action, Actor};
use crate::export::{CsvFile, Existing};
use anyhow::{anyhow, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use clap::Subcommand;
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PatrolCmd {
    /// The omission calculation (遗漏计算) for a range: totals per guard and every due visit
    /// with its class, or every due visit as CSV.
    Omissions(OmissionsArgs),
    /// Import the patrol plan from CSV, all or nothing: checkpoints (tag, name, location,
    /// early_s, late_s), guards (card, name, group), routes (route, tag, offset_min; the
    /// route's first row may set early_s, late_s, grace_s, any_order, online) or schedules
    /// (route, guard or group, shift, days, first_start, last_start, every_min, valid_from,
    /// valid_to).
    Import {
        #[arg(value_enum)]
        what: PlanPart,
        file: PathBuf,
    },
    /// Delete patrol records (scans, due visits, exceptions, totals) of days before a day (asks
    /// first, unless --yes).
    Purge {
        /// The first day kept, YYYY-MM-DD.
        #[arg(long)]
        before: NaiveDate,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanPart {
    Checkpoints,
    Guards,
    Routes,
    Schedules,
}

#[derive(Debug, Clone, clap::Args)]
pub struct OmissionsArgs {
    /// Rounds starting from this site time: YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS].
    #[arg(long)]
    pub from: String,
    /// ... until this site time (exclusive); a bare day means the end of that day.
    #[arg(long)]
    pub to: String,
    /// One guard: card number or name (rounds of their group included).
    #[arg(long)]
    pub guard: Option<String>,
    /// One route: its name.
    #[arg(long)]
    pub route: Option<String>,
    /// Write every due visit as CSV to FILE (`-`: standard output) instead of a table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "csv")]
    pub overwrite: bool,
    /// Due visits shown in the table (the CSV always has them all).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    cmd: &PatrolCmd,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        PatrolCmd::Omissions(args) => report(pool, actor, args, out).await,
        PatrolCmd::Import { what, file } => import(pool, actor, *what, file, out).await,
        PatrolCmd::Purge { before, yes } => purge(pool, actor, *before, *yes, out).await,
    }
}

fn words(e: PatrolError) -> anyhow::Error {
    match e {
        PatrolError::Sql(e) => anyhow!(crate::error::describe_sql(&e)),
        other => anyhow!(other),
    }
}

/// A site time: a day (its start, or with `end` its end) or a day and a time.
fn site_time(text: &str, end: bool) -> anyhow::Result<DateTime<Utc>> {
    let t = text.trim();
    let wall = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let d = if end {
            d.succ_opt()
                .ok_or_else(|| anyhow!("{t} is too far ahead"))?
        } else {
            d
        };
        d.and_time(NaiveTime::MIN)
    } else {
        [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| anyhow!("`{t}` is not a time: give YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"))?
    };
    Ok(crate::domain::time::instant(wall))
}

async fn report(
    pool: &PgPool,
    actor: &Actor,
    args: &OmissionsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let from = site_time(&args.from, false)?;
    let to = site_time(&args.to, true)?;
    if to <= from {
        bail!("--to {} is not after --from {}", args.to, args.from);
    }
    let guard = match &args.guard {
        Some(g) => Some(omissions::guard_id(pool, g).await.map_err(words)?),
        None => None,
    };
    let route = match &args.route {
        Some(r) => Some(omissions::route_id(pool, r).await.map_err(words)?),
        None => None,
    };
    let q = OmissionQuery {
        from,
        to,
        guard,
        route,
    };
    let now = Utc::now();
    let visits = omissions::visits(pool, &q, now).await.map_err(words)?;
    if let Some(path) = &args.csv {
        let target = path.display().to_string();
        let n = if path.as_os_str() == "-" {
            omissions::export(pool, actor, &q, &visits, &mut *out, &target)
                .await
                .map_err(words)?
                .1
        } else {
            let existing = if args.overwrite {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            let file = CsvFile::create(path, existing)?;
            let (file, n) = omissions::export(pool, actor, &q, &visits, file, &target)
                .await
                .map_err(words)?;
            file.commit()?;
            writeln!(out, "{n} due visits written to {}", path.display())?;
            n
        };
        let _ = writeln!(std::io::stderr(), "{n} due visits");
        return Ok(ExitCode::SUCCESS);
    }
    let days = omissions::day_totals(pool, &q, now).await.map_err(words)?;
    let (by_guard, all) = omissions::group(&days, Grouping::Guard);
    let pct = |c: &omissions::Counts| {
        c.compliance()
            .map(|p| format!("{p:.1}%"))
            .unwrap_or_else(|| "-".into())
    };
    let total_rows: Vec<Vec<String>> = by_guard
        .iter()
        .map(|t| {
            let c = &t.counts;
            vec![
                t.key.clone(),
                c.visits.to_string(),
                c.on_time.to_string(),
                c.early.to_string(),
                c.late.to_string(),
                c.missed.to_string(),
                c.pending.to_string(),
                pct(c),
            ]
        })
        .collect();
    let columns = [
        "guard",
        "visits",
        "on_time",
        "early",
        "late",
        "missed",
        "pending",
        "compliance",
    ];
    let numeric = [false, true, true, true, true, true, true, true];
    out.write_all(crate::report::text_table(&columns, &numeric, &total_rows, None).as_bytes())?;
    writeln!(
        out,
        "all: {} visits, {} on time, {} early, {} late, {} missed, {} pending; compliance {}\n",
        all.visits,
        all.on_time,
        all.early,
        all.late,
        all.missed,
        all.pending,
        pct(&all)
    )?;
    let rows: Vec<Vec<String>> = visits
        .iter()
        .take(args.limit)
        .map(|v| omissions::csv_row(v).to_vec())
        .collect();
    out.write_all(
        crate::report::text_table(&omissions::CSV_HEADER, &[false; 8], &rows, None).as_bytes(),
    )?;
    if visits.len() > rows.len() {
        writeln!(
            out,
            "{} of {} due visits shown (--limit); --csv FILE writes them all",
            rows.len(),
            visits.len()
        )?;
    } else {
        writeln!(out, "{} due visits", visits.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn purge(
    pool: &PgPool,
    actor: &Actor,
    before: NaiveDate,
    yes: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let p = purging::preview(pool, before).await?;
    if p.scans == 0 && p.visits == 0 {
        writeln!(out, "no patrol records before {before}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "purging {} scans and {} due visits needs --yes when no one can answer",
                p.scans,
                p.visits
            );
        }
        eprint!(
            "delete {} scans, {} due visits and {} exceptions before {before}? [y/N] ",
            p.scans, p.visits, p.exceptions
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "nothing deleted")?;
            return Ok(ExitCode::FAILURE);
        }
    }
    let done = purging::purge(pool, actor, before, |d| {
        let _ = writeln!(
            std::io::stderr(),
            "deleted {} scans, {} due visits, {} exceptions ...",
            d.scans,
            d.visits,
            d.exceptions
        );
    })
    .await
    .map_err(words)?;
    writeln!(
        out,
        "deleted {} scans, {} due visits and {} exceptions before {before}",
        done.scans, done.visits, done.exceptions
    )?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------- import

/// One rejected row: its line (1 = the header) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub message: String,
}

/// The rows of a CSV file by column name (header required; BOM and GBK-free UTF-8).
pub(super) fn read_rows(path: &Path) -> anyhow::Result<Vec<(u64, HashMap<String, String>)>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
    let bytes = bytes.strip_prefix(crate::export::BOM).unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{} is not UTF-8 text (byte {}): save it as CSV UTF-8",
            path.display(),
            e.valid_up_to() + 1
        )
    })?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| anyhow!("{}: the header cannot be read: {e}", path.display()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for rec in r.records() {
        match rec {
            Ok(rec) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                rows.push((
                    line,
                    header
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(str::to_string))
                        .collect(),
                ));
            }
            Err(e) => bad.push(BadRow {
                line: e.position().map(|p| p.line()).unwrap_or(0),
                message: format!("cannot be read: {e}"),
            }),
        }
    }
    if !bad.is_empty() {
        return Err(bad_rows(path, bad));
    }
    if rows.is_empty() {
        bail!("{}: a header and no rows: nothing imported", path.display());
    }
    Ok(rows)
}

pub(super) fn bad_rows(path: &Path, mut rows: Vec<BadRow>) -> anyhow::Error {
    rows.sort_by_key(|r| r.line);
    anyhow!(
        "{}: nothing imported; {} bad row(s):\n{}",
        path.display(),
        rows.len(),
        rows.iter()
            .map(|r| format!("  line {}: {}", r.line, r.message))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

pub(super) type Row = HashMap<String, String>;

pub(super) fn need<'a>(row: &'a Row, col: &str) -> Result<&'a str, String> {
    match row.get(col).map(String::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(format!("{col} is empty")),
        None => Err(format!("the file has no {col} column")),
    }
}

pub(super) fn opt<'a>(row: &'a Row, col: &str) -> Option<&'a str> {
    row.get(col).map(String::as_str).filter(|v| !v.is_empty())
}

pub(super) fn number<T: std::str::FromStr>(row: &Row, col: &str) -> Result<Option<T>, String> {
    opt(row, col)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| format!("{col} `{v}` is not a number"))
        })
        .transpose()
}

pub(super) fn yes_no(row: &Row, col: &str) -> Result<Option<bool>, String> {
    opt(row, col)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "1" | "yes" | "y" | "true" | "是" => Ok(true),
            "0" | "no" | "n" | "false" | "否" => Ok(false),
            _ => Err(format!("{col} `{v}` is not yes or no")),
        })
        .transpose()
}

/// Days of the week as ISO digits (`1-5`, `67`, `1,3,5`), or `daily`.
fn days(text: Option<&str>) -> Result<i16, String> {
    let Some(t) = text else {
        return Ok(127);
    };
    if matches!(t.to_ascii_lowercase().as_str(), "daily" | "all" | "每天") {
        return Ok(127);
    }
    let mut mask = 0i16;
    let chars: Vec<char> = t.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let mut i = 0;
    while i < chars.len() {
        let d = chars[i]
            .to_digit(10)
            .filter(|d| (1..=7).contains(d))
            .ok_or_else(|| format!("days `{t}`: give ISO weekdays 1 (Monday) to 7, e.g. 1-5"))?;
        if chars.get(i + 1) == Some(&'-') {
            let e = chars
                .get(i + 2)
                .and_then(|c| c.to_digit(10))
                .filter(|e| (d..=7).contains(e))
                .ok_or_else(|| format!("days `{t}`: a range runs up, e.g. 1-5"))?;
            for k in d..=e {
                mask |= 1 << (k - 1);
            }
            i += 3;
        } else {
            mask |= 1 << (d - 1);
            i += 1;
        }
    }
    Ok(mask)
}

pub(super) fn time_of(row: &Row, col: &str) -> Result<NaiveTime, String> {
    let v = need(row, col)?;
    NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .map_err(|_| format!("{col} `{v}` is not a time (HH:MM)"))
}

pub(super) fn date_of(row: &Row, col: &str) -> Result<Option<NaiveDate>, String> {
    opt(row, col)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| format!("{col} `{v}` is not a day (YYYY-MM-DD)"))
        })
        .transpose()
}

async fn import(
    pool: &PgPool,
    actor: &Actor,
    what: PlanPart,
    path: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    actor.authorize(Action::PatrolEdit)?;
    let rows = read_rows(path)?;
    let mut tx = pool.begin().await?;
    let mut bad = Vec::new();
    let mut applied = 0usize;
    let mut fail = |line: u64, message: String| bad.push(BadRow { line, message });
    match what {
        PlanPart::Checkpoints => {
            for (line, row) in &rows {
                let c = (|| {
                    Ok::<_, String>(Checkpoint {
                        tag: number(row, "tag")?.ok_or("tag is empty")?,
                        name: need(row, "name")?.to_string(),
                        location: opt(row, "location").unwrap_or_default().to_string(),
                        place: None,
                        early_s: number(row, "early_s")?,
                        late_s: number(row, "late_s")?,
                    })
                })();
                match c {
                    Ok(mut c) => {
                        // A checkpoint already placed keeps its place.
                        c.place = existing_place(&mut tx, c.tag).await?;
                        SAVEPOINT.run(&mut tx).await?;
                        let saved = setup::save_checkpoint_in(&mut tx, actor, &c).await;
                        match settle(&mut tx, saved).await? {
                            Ok(_) => applied += 1,
                            Err(e) => fail(*line, e.to_string()),
                        }
                    }
                    Err(m) => fail(*line, m),
                }
            }
        }
        PlanPart::Guards => {
            for (line, row) in &rows {
                let parsed = (|| {
                    Ok::<_, String>((
                        number::<i64>(row, "card")?.ok_or("card is empty")?,
                        need(row, "name")?.to_string(),
                        opt(row, "group").map(str::to_string),
                    ))
                })();
                let (card, name, group) = match parsed {
                    Ok(p) => p,
                    Err(m) => {
                        fail(*line, m);
                        continue;
                    }
                };
                let group_id = match group {
                    Some(g) => Some(group_of(&mut tx, actor, &g).await?),
                    None => None,
                };
                let id: i64 = sqlx::query_scalar("SELECT id FROM guard WHERE card = $1")
                    .bind(card)
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or(0);
                let g = Guard {
                    id,
                    card,
                    name,
                    group_id,
                };
                SAVEPOINT.run(&mut tx).await?;
                let saved = setup::save_guard_in(&mut tx, actor, &g).await;
                match settle(&mut tx, saved).await? {
                    Ok(_) => applied += 1,
                    Err(e) => fail(*line, e.to_string()),
                }
            }
        }
        PlanPart::Routes => {
            // Rows of one route are its checkpoints in file order.
            let mut order: Vec<String> = Vec::new();
            let mut routes: HashMap<String, (u64, Route)> = HashMap::new();
            for (line, row) in &rows {
                let parsed = (|| {
                    let name = need(row, "route")?.to_string();
                    let tag: i64 = number(row, "tag")?.ok_or("tag is empty")?;
                    let offset: f64 = number(row, "offset_min")?.ok_or("offset_min is empty")?;
                    if !(0.0..=1440.0).contains(&offset) {
                        return Err(format!("offset_min {offset} is not 0 to 1440 minutes"));
                    }
                    Ok::<_, String>((name, tag, (offset * 60.0).round() as i32))
                })();
                let (name, tag, offset_s) = match parsed {
                    Ok(p) => p,
                    Err(m) => {
                        fail(*line, m);
                        continue;
                    }
                };
                let entry = routes.entry(name.clone()).or_insert_with(|| {
                    order.push(name.clone());
                    (*line, Route::new(&name, Vec::new()))
                });
                if entry.1.points.is_empty() {
                    let rules = (|| {
                        let r = &mut entry.1;
                        r.early_s = number(row, "early_s")?.unwrap_or(r.early_s);
                        r.late_s = number(row, "late_s")?.unwrap_or(r.late_s);
                        r.grace_s = number(row, "grace_s")?.unwrap_or(r.grace_s);
                        r.any_order = yes_no(row, "any_order")?.unwrap_or(false);
                        r.online = yes_no(row, "online")?.unwrap_or(true);
                        if let Some(d) = number::<i32>(row, "duration_min")? {
                            r.duration_s = d.saturating_mul(60);
                        }
                        Ok::<_, String>(())
                    })();
                    if let Err(m) = rules {
                        fail(*line, m);
                    }
                }
                entry.1.points.push(RoutePoint {
                    checkpoint_tag: tag,
                    offset_s,
                });
            }
            for name in order {
                let (line, mut r) = routes
                    .remove(&name)
                    .unwrap_or((0, Route::new(&name, vec![])));
                r.id = sqlx::query_scalar("SELECT id FROM patrol_route WHERE name = $1")
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or(0);
                SAVEPOINT.run(&mut tx).await?;
                let saved = setup::save_route_in(&mut tx, actor, &r).await;
                match settle(&mut tx, saved).await? {
                    Ok(_) => applied += 1,
                    Err(e) => fail(line, format!("route {name}: {e}")),
                }
            }
        }
        PlanPart::Schedules => {
            for (line, row) in &rows {
                let parsed = (|| {
                    Ok::<_, String>((
                        need(row, "route")?.to_string(),
                        opt(row, "guard").map(str::to_string),
                        opt(row, "group").map(str::to_string),
                        Schedule {
                            id: 0,
                            route_id: 0,
                            guard_id: None,
                            group_id: None,
                            shift: need(row, "shift")?.to_string(),
                            dow_mask: days(opt(row, "days"))?,
                            first_start: time_of(row, "first_start")?,
                            last_start: time_of(row, "last_start")?,
                            every_min: number(row, "every_min")?.ok_or("every_min is empty")?,
                            valid_from: date_of(row, "valid_from")?.ok_or("valid_from is empty")?,
                            valid_to: date_of(row, "valid_to")?,
                        },
                    ))
                })();
                let (route, guard, group, mut s) = match parsed {
                    Ok(p) => p,
                    Err(m) => {
                        fail(*line, m);
                        continue;
                    }
                };
                let route_id: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM patrol_route WHERE name = $1")
                        .bind(&route)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(route_id) = route_id else {
                    fail(*line, format!("no route {route}"));
                    continue;
                };
                s.route_id = route_id;
                match (guard, group) {
                    (Some(g), None) => {
                        let card = g.parse::<i64>().ok();
                        s.guard_id = sqlx::query_scalar(
                            "SELECT id FROM guard WHERE card = $1 OR name = $2 LIMIT 1",
                        )
                        .bind(card)
                        .bind(&g)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if s.guard_id.is_none() {
                            fail(*line, format!("no guard {g}"));
                            continue;
                        }
                    }
                    (None, Some(g)) => {
                        s.group_id =
                            sqlx::query_scalar("SELECT id FROM guard_group WHERE name = $1")
                                .bind(&g)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if s.group_id.is_none() {
                            fail(*line, format!("no guard group {g}"));
                            continue;
                        }
                    }
                    _ => {
                        fail(*line, "give either a guard or a group".into());
                        continue;
                    }
                }
                SAVEPOINT.run(&mut tx).await?;
                let saved = setup::save_schedule_in(&mut tx, actor, &s).await;
                match settle(&mut tx, saved).await? {
                    Ok(_) => applied += 1,
                    Err(e) => fail(*line, e.to_string()),
                }
            }
        }
    }
    if !bad.is_empty() {
        return Err(bad_rows(path, bad));
    }
    if matches!(what, PlanPart::Checkpoints | PlanPart::Guards) {
        setup::tables_changed(&mut tx).await?;
    }
    crate::db::notify::Change::patrol().send(&mut tx).await?;
    tx.commit().await?;
    writeln!(out, "{applied} imported from {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Each row is saved under a savepoint, so a refused row leaves the transaction usable and
/// every bad row is named, not only the first.
struct Savepoint;
const SAVEPOINT: Savepoint = Savepoint;

impl Savepoint {
    async fn run(&self, tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SAVEPOINT patrol_row")
            .execute(tx)
            .await
            .map(|_| ())
    }
}

/// A refused row is rolled back to its savepoint; a database failure ends the import.
async fn settle<T>(
    tx: &mut sqlx::PgConnection,
    saved: Result<T, PatrolError>,
) -> anyhow::Result<Result<T, PatrolError>> {
    match saved {
        Ok(v) => {
            sqlx::query("RELEASE SAVEPOINT patrol_row")
                .execute(&mut *tx)
                .await?;
            Ok(Ok(v))
        }
        Err(PatrolError::Sql(e)) => Err(anyhow!(crate::error::describe_sql(&e))),
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT patrol_row")
                .execute(&mut *tx)
                .await?;
            Ok(Err(e))
        }
    }
}

/// The guard group called `name`, created (and audited) when there is none.
async fn group_of(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    name: &str,
) -> Result<i64, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM guard_group WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id: i64 = sqlx::query_scalar("INSERT INTO guard_group (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    audit::append(
        tx,
        actor,
        "patrol.group.save",
        "guard_group",
        &id.to_string(),
        None,
        Some(json!({ "name": name })),
    )
    .await?;
    Ok(id)
}

async fn existing_place(
    tx: &mut sqlx::PgConnection,
    tag: i64,
) -> Result<Option<(i64, f32, f32)>, sqlx::Error> {
    let p: Option<(Option<i64>, Option<f32>, Option<f32>)> =
        sqlx::query_as("SELECT map_id, x, y FROM checkpoint WHERE tag = $1")
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(match p {
        Some((Some(m), Some(x), Some(y))) => Some((m, x, y)),
        _ => None,
    })
}
