//! `onecard doors ...`: door events for scripts and campus security, remote open, the purge.
//! Messages in plain domain words on stderr; a refusal or a failed open exits non-zero.

use crate::db::command;
use crate::db::door::{self, DoorError, DoorRow, EventQuery};
use crate::domain::permission::Actor;
use crate::export::{Existing, ExportError};
use anyhow::{anyhow, bail};
use chrono::{NaiveDate, NaiveTime};
use clap::Subcommand;
use sqlx::PgPool;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum DoorsCmd {
    /// Every door with its controller, mode, state and last event.
    List,
    /// Door events of a period: a table, or every row as CSV (exports are audited).
    Events(EventsArgs),
    /// Open a door remotely (a momentary unlock) and wait for the controller's answer.
    Open {
        /// The door's name, or `<serial>/<n>` (also `<controller name>/<n>`).
        door: String,
        /// Seconds to wait for the answer; a request no poller took by then is withdrawn.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Delete door records received before a day (asks first, unless --yes).
    Purge {
        /// The first day kept, YYYY-MM-DD (records received before its local midnight go).
        #[arg(long)]
        before: NaiveDate,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Also delete records younger than the retention period (door.retention_days).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// First day, YYYY-MM-DD (inclusive; the controllers' local time).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub to: NaiveDate,
    /// A person: person number or name (a part of a name finds everyone whose name has it).
    #[arg(long)]
    pub person: Option<String>,
    /// A card number.
    #[arg(long)]
    pub card: Option<i64>,
    /// A department's code or name.
    #[arg(long)]
    pub department: Option<String>,
    /// A door: its name, or `<serial>/<n>`.
    #[arg(long)]
    pub door: Option<String>,
    /// Openings (granted swipes) only.
    #[arg(long)]
    pub granted: bool,
    /// Loss query: swipes of cards that were lost, replaced, surrendered or cancelled then.
    #[arg(long)]
    pub lost: bool,
    /// Write every row as CSV to FILE (`-`: standard output) instead of a table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Replace FILE if it exists (otherwise an existing file is refused).
    #[arg(long, requires = "csv")]
    pub overwrite: bool,
    /// Rows shown in the table (the CSV always has them all).
    #[arg(long, default_value_t = 200)]
    pub limit: i64,
}

/// Runs one `onecard doors` command; its report goes to `out`, progress and refusals to stderr.
pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    cmd: &DoorsCmd,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        DoorsCmd::List => list(pool, out).await,
        DoorsCmd::Events(args) => events(pool, actor, args, out).await,
        DoorsCmd::Open { door, timeout } => {
            open(pool, actor, door, Duration::from_secs(*timeout), out).await
        }
        DoorsCmd::Purge { before, yes, force } => {
            purge(pool, actor, *before, *yes, *force, out).await
        }
    }
}

/// "图书馆东门 door 2 (405419896/2)", or the door's own name when it has one.
fn label(d: &DoorRow) -> String {
    let name = if d.name.is_empty() {
        format!("{} door {}", d.controller, d.door)
    } else {
        d.name.clone()
    };
    format!("{name} ({}/{})", d.serial, d.door)
}

/// A door refusal in plain words (never raw SQL), with the flag that gets past it.
fn words(e: DoorError) -> anyhow::Error {
    match e {
        DoorError::Sql(e) => anyhow!(crate::error::describe_sql(&e)),
        DoorError::InsideRetention {
            retention_days,
            latest,
            ..
        } => anyhow!(
            "door records are kept {retention_days} days: only records received before {} go without --force",
            crate::export::local_time(latest)
        ),
        DoorError::Export(ExportError::Exists(p)) => anyhow!(
            "{} exists already: choose another name, or --overwrite to replace it",
            p.display()
        ),
        other => anyhow!(other),
    }
}

async fn the_door(pool: &PgPool, text: &str) -> anyhow::Result<DoorRow> {
    let mut found = door::find(pool, text).await.map_err(|e| words(e.into()))?;
    match found.len() {
        0 => bail!("no door `{text}`: give a door's name or <serial>/<n> (onecard doors list)"),
        1 => Ok(found.remove(0)),
        n => bail!(
            "{n} doors are called `{text}`: give one as <serial>/<n> ({})",
            found
                .iter()
                .map(|d| format!("{}/{}", d.serial, d.door))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn list(pool: &PgPool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let doors = door::list(pool).await.map_err(|e| words(e.into()))?;
    let yes_no = |b: Option<bool>, yes: &str, no: &str| match b {
        Some(true) => yes.to_string(),
        Some(false) => no.to_string(),
        None => "?".to_string(),
    };
    let rows: Vec<Vec<String>> = doors
        .iter()
        .map(|d| {
            vec![
                format!("{}/{}", d.serial, d.door),
                d.controller.clone(),
                d.name.clone(),
                d.location.clone(),
                d.status.clone(),
                door::mode_name(d.mode).to_string(),
                d.unlock_secs.to_string(),
                yes_no(d.open, "open", "closed"),
                yes_no(d.unlocked, "unlocked", "locked"),
                d.last_kind.clone().unwrap_or_default(),
                d.last_time
                    .map(crate::export::terminal_time)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let columns = [
        "door",
        "controller",
        "name",
        "location",
        "status",
        "mode",
        "unlock_s",
        "open",
        "lock",
        "last",
        "last_at",
    ];
    let mut numeric = vec![false; columns.len()];
    numeric[6] = true;
    out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes())?;
    writeln!(out, "{} doors", doors.len())?;
    Ok(ExitCode::SUCCESS)
}

async fn events(
    pool: &PgPool,
    actor: &Actor,
    args: &EventsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if args.from > args.to {
        bail!("--from {} is after --to {}", args.from, args.to);
    }
    let to = args
        .to
        .succ_opt()
        .ok_or_else(|| anyhow!("--to {} is too far ahead", args.to))?;
    let (terminal_id, door) = match &args.door {
        Some(text) => {
            let d = the_door(pool, text).await?;
            (Some(d.terminal_id), Some(d.door))
        }
        None => (None, None),
    };
    let q = EventQuery {
        from: Some(args.from.and_time(NaiveTime::MIN)),
        to: Some(to.and_time(NaiveTime::MIN)),
        person: args.person.clone(),
        card: args.card,
        department: args.department.clone(),
        terminal_id,
        door,
        granted: args.granted.then_some(true),
        lost_cards: args.lost,
        offset: 0,
        limit: args.limit,
    };
    match &args.csv {
        Some(path) if path.as_os_str() == "-" => {
            let n = door::export_events(pool, actor, &q, &mut *out)
                .await
                .map_err(words)?;
            say_err(&format!("{n} door events"));
        }
        Some(path) => {
            let existing = if args.overwrite {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            let n = door::export_events_file(pool, actor, &q, path, existing)
                .await
                .map_err(words)?;
            writeln!(out, "{n} door events written to {}", path.display())?;
        }
        None => {
            let page = door::query(pool, &q).await.map_err(words)?;
            let mut columns = vec![
                "time",
                "door",
                "kind",
                "card",
                "person_no",
                "person",
                "department",
            ];
            if q.lost_cards {
                columns.push("card_state");
            }
            let rows: Vec<Vec<String>> = page
                .rows
                .iter()
                .map(|e| {
                    let door = if e.door_name.is_empty() {
                        format!("{} door {}", e.controller, e.door)
                    } else {
                        e.door_name.clone()
                    };
                    let mut row = vec![
                        e.terminal_time
                            .map(crate::export::terminal_time)
                            .unwrap_or_default(),
                        door,
                        e.kind.clone(),
                        e.card.map(|c| c.to_string()).unwrap_or_default(),
                        e.person_no.clone().unwrap_or_default(),
                        e.person_name.clone().unwrap_or_default(),
                        e.department.clone().unwrap_or_default(),
                    ];
                    if q.lost_cards {
                        row.push(e.card_state.clone().unwrap_or_default());
                    }
                    row
                })
                .collect();
            let mut numeric = vec![false; columns.len()];
            numeric[3] = true;
            out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes())?;
            let shown = rows.len() as u64;
            if shown < page.total {
                writeln!(
                    out,
                    "{shown} of {} door events shown (--limit); --csv FILE writes them all",
                    page.total
                )?;
            } else {
                writeln!(out, "{} door events", page.total)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn say_err(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

async fn open(
    pool: &PgPool,
    actor: &Actor,
    text: &str,
    timeout: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let d = the_door(pool, text).await?;
    let id = door::remote_open(pool, actor, d.terminal_id, d.door)
        .await
        .map_err(words)?;
    say_err(&format!(
        "opening {} (command {id}); waiting up to {} s for the controller",
        label(&d),
        timeout.as_secs()
    ));
    let started = Instant::now();
    loop {
        let row = command::by_id(pool, &[id])
            .await
            .map_err(|e| words(e.into()))?
            .pop()
            .ok_or_else(|| anyhow!("command {id} vanished from the queue"))?;
        let result = row.result.unwrap_or_default();
        match row.state.as_str() {
            "queued" | "running" => {}
            "done" => {
                writeln!(out, "{}: {result}", label(&d))?;
                return Ok(ExitCode::SUCCESS);
            }
            _ => {
                say_err(&format!("{} was not opened: {result}", label(&d)));
                return Ok(ExitCode::FAILURE);
            }
        }
        if started.elapsed() >= timeout {
            if door::withdraw_open(pool, actor, id).await.map_err(words)? {
                say_err(&format!(
                    "{} was not opened: no poller took the request within {} s (is `onecard serve` running?); it is withdrawn and will not open the door later",
                    label(&d),
                    timeout.as_secs()
                ));
            } else {
                say_err(&format!(
                    "{}: the controller has not answered within {} s; it may still open the door (command {id})",
                    label(&d),
                    timeout.as_secs()
                ));
            }
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn purge(
    pool: &PgPool,
    actor: &Actor,
    before: NaiveDate,
    yes: bool,
    force: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let cutoff = crate::report::local_midnight(before);
    let preview = door::purge_preview(pool, cutoff)
        .await
        .map_err(|e| words(e.into()))?;
    if preview.inside_retention() && !force {
        return Err(words(DoorError::InsideRetention {
            cutoff,
            retention_days: preview.retention_days,
            latest: preview.latest,
        }));
    }
    if preview.rows == 0 {
        writeln!(out, "no door records were received before {before}")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "delete {} door records received before {before}{}? [y/N] ",
            preview.rows,
            if preview.inside_retention() {
                format!(
                    ", inside the {}-day retention period",
                    preview.retention_days
                )
            } else {
                String::new()
            }
        );
        let _ = err.flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            say_err("nothing deleted");
            return Ok(ExitCode::FAILURE);
        }
    }
    let live = std::io::stderr().is_terminal();
    let deleted = door::purge(pool, actor, cutoff, force, |done, total| {
        let mut err = std::io::stderr();
        let _ = if live {
            write!(err, "\rdeleted {done} of {total}")
        } else {
            writeln!(err, "deleted {done} of {total}")
        };
    })
    .await
    .map_err(words)?;
    if live {
        say_err("");
    }
    writeln!(
        out,
        "{deleted} door records received before {before} deleted"
    )?;
    Ok(ExitCode::SUCCESS)
}
