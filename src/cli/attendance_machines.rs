//! `onecard attendance ...` (to be folded under `onecard attendance`): extraction from
//! the online attendance machines on demand with its progress and records/s, clearing a
//! machine's log (only after verification, by the poller), setting its clock, and the
//! per-machine clear-after-extract policy. The commands run in `onecard serve`'s pollers; this
//! queues them and follows them.

use crate::db::command::{self, CommandOutcome, CommandRow, TerminalCommand};
use crate::domain::permission::Actor;
use crate::poller::extraction;
use anyhow::{anyhow, bail};
use clap::{Subcommand, ValueEnum};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum MachineCmd {
    /// The attendance machines: status, punches stored, waiting, clock drift, clear policy.
    List,
    /// Extract the punches of some machines (or all) now, following the progress.
    Extract {
        /// A machine's name or serial number (repeat for several).
        #[arg(long = "machine")]
        machines: Vec<String>,
        /// Every attendance machine.
        #[arg(long, conflicts_with = "machines")]
        all: bool,
        /// Stop following after this many seconds without progress (the commands go on).
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Clear a machine's log: everything on it is stored and verified first, or nothing goes.
    Clear {
        #[arg(long = "machine")]
        machine: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Set a machine's clock to the site's.
    SetTime {
        #[arg(long = "machine")]
        machine: String,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Clear a machine's log after each extraction (verified first), or stop doing so.
    ClearPolicy {
        #[arg(long = "machine")]
        machine: String,
        state: OnOff,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// An attendance machine as the commands name it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Machine {
    id: i64,
    name: String,
    hardware_serial: String,
    status: String,
    bookmark: i64,
    records_waiting: i64,
    clock_drift_s: Option<i32>,
    punches: i64,
}

const MACHINES: &str =
    "SELECT t.id, t.name, t.hardware_serial, t.status, t.bookmark, t.records_waiting,
        t.clock_drift_s, (SELECT count(*) FROM punch p WHERE p.terminal_id = t.id) AS punches
     FROM terminal t WHERE t.kind = 'attendance_machine'";

async fn machines(pool: &PgPool) -> anyhow::Result<Vec<Machine>> {
    Ok(sqlx::query_as(&format!("{MACHINES} ORDER BY t.name, t.id"))
        .fetch_all(pool)
        .await?)
}

async fn the_machine(pool: &PgPool, text: &str) -> anyhow::Result<Machine> {
    let all = machines(pool).await?;
    let found: Vec<Machine> = all
        .into_iter()
        .filter(|m| m.name == text || (!m.hardware_serial.is_empty() && m.hardware_serial == text))
        .collect();
    match found.len() {
        0 => bail!(
            "no attendance machine `{text}`: give its name or serial number (onecard attendance list)"
        ),
        1 => Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
        n => bail!("{n} attendance machines are called `{text}`: give its serial number"),
    }
}

/// Runs one command; its report goes to `out`, progress and refusals to stderr.
pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    cmd: &MachineCmd,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        MachineCmd::List => list(pool, out).await,
        MachineCmd::Extract {
            machines: names,
            all,
            timeout,
        } => {
            let chosen = if *all {
                machines(pool).await?
            } else if names.is_empty() {
                bail!("name a machine with --machine NAME (several times for several), or --all");
            } else {
                let mut v = Vec::new();
                for n in names {
                    v.push(the_machine(pool, n).await?);
                }
                v
            };
            if chosen.is_empty() {
                bail!("there are no attendance machines");
            }
            let mut ids = Vec::new();
            for m in &chosen {
                ids.push((
                    command::enqueue(pool, actor, m.id, &TerminalCommand::Extract).await?,
                    m.name.clone(),
                ));
            }
            follow(pool, &ids, Duration::from_secs(*timeout), out).await
        }
        MachineCmd::Clear {
            machine,
            yes,
            timeout,
        } => {
            let m = the_machine(pool, machine).await?;
            if !yes
                && !confirm(&format!(
                    "clear the log of {} once every punch on it is stored and verified? [y/N] ",
                    m.name
                ))?
            {
                say("nothing cleared");
                return Ok(ExitCode::FAILURE);
            }
            let id = command::enqueue(pool, actor, m.id, &TerminalCommand::ClearRecords).await?;
            follow(pool, &[(id, m.name)], Duration::from_secs(*timeout), out).await
        }
        MachineCmd::SetTime { machine, timeout } => {
            let m = the_machine(pool, machine).await?;
            let id = command::enqueue(pool, actor, m.id, &TerminalCommand::SetTime).await?;
            follow(pool, &[(id, m.name)], Duration::from_secs(*timeout), out).await
        }
        MachineCmd::ClearPolicy { machine, state } => {
            let m = the_machine(pool, machine).await?;
            let on = *state == OnOff::On;
            let changed = extraction::set_clear_policy(pool, actor, m.id, on).await?;
            let what = if on {
                "is cleared after each extraction, once everything on it is verified stored"
            } else {
                "keeps its log after extraction (cleared only on request)"
            };
            writeln!(
                out,
                "{} {what}{}",
                m.name,
                if changed { "" } else { " (no change)" }
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn say(s: &str) {
    let _ = writeln!(std::io::stderr(), "{s}");
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

async fn list(pool: &PgPool, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let all = machines(pool).await?;
    let clearing = crate::db::settings::get(pool, extraction::CLEAR_POLICY_KEY).await?;
    let clears = |id: i64| {
        clearing
            .as_ref()
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_i64() == Some(id)))
    };
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.hardware_serial.clone(),
                m.status.clone(),
                m.punches.to_string(),
                m.bookmark.to_string(),
                m.records_waiting.to_string(),
                m.clock_drift_s.map(|d| d.to_string()).unwrap_or_default(),
                if clears(m.id) { "on" } else { "off" }.to_string(),
            ]
        })
        .collect();
    let columns = [
        "machine",
        "serial",
        "status",
        "punches",
        "bookmark",
        "waiting",
        "drift_s",
        "clear_after",
    ];
    let numeric = [false, false, false, true, true, true, true, false];
    out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes())?;
    writeln!(out, "{} attendance machines", all.len())?;
    Ok(ExitCode::SUCCESS)
}

/// Follows commands to their end: a row at each change of a machine's progress (done of total,
/// records/s since a poller took it), then each result. Fails when any failed.
async fn follow(
    pool: &PgPool,
    ids: &[(i64, String)],
    quiet_limit: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let names: BTreeMap<i64, &str> = ids.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let only: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    let mut seen: BTreeMap<i64, (String, Option<command::Progress>)> = BTreeMap::new();
    let mut last_change = Instant::now();
    loop {
        let rows: Vec<CommandRow> = command::by_id(pool, &only).await?;
        if rows.len() != only.len() {
            return Err(anyhow!("a command vanished from the queue"));
        }
        let now = chrono::Utc::now();
        for r in &rows {
            let key = (r.state.clone(), r.progress);
            if seen.get(&r.id) == Some(&key) {
                continue;
            }
            seen.insert(r.id, key);
            last_change = Instant::now();
            let name = names.get(&r.id).copied().unwrap_or("?");
            if let (Some(p), Some(started), "running") =
                (r.progress, r.started_at, r.state.as_str())
            {
                writeln!(
                    out,
                    "{name}: {} of {} records, {} records/s",
                    p.done,
                    p.total,
                    p.per_second(started, now)
                )?;
            }
        }
        if rows
            .iter()
            .all(|r| !matches!(r.state.as_str(), "queued" | "running"))
        {
            let mut failed = false;
            for r in &rows {
                let name = names.get(&r.id).copied().unwrap_or("?");
                let result = r.result.clone().unwrap_or_default();
                if r.state == "done" {
                    let rate = match &r.outcome {
                        Some(Ok(CommandOutcome::Extracted { records, millis })) => format!(
                            " ({} records/s)",
                            records.saturating_mul(1000) / (*millis).max(1)
                        ),
                        _ => String::new(),
                    };
                    writeln!(out, "{name}: {result}{rate}")?;
                } else {
                    failed = true;
                    say(&format!("{name}: {} ({result})", r.state));
                }
            }
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        if last_change.elapsed() >= quiet_limit {
            say(&format!(
                "no progress within {} s (is `onecard serve` running?); the commands stay queued: {}",
                quiet_limit.as_secs(),
                only.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(ExitCode::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
