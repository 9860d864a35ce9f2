//! The attendance machines' person register sync and punch files, from the command line, in
//! the operator's language:
//! * `onecard import punches FILE --machine M [--dry-run]`: an offline machine's file;
//! * `onecard attendance sync [--machine M] [--read] [--push]`: which machine lacks whom, and
//!   which users on a machine the register does not know. `--push` makes each machine hold
//!   the register (a `DownloadCards`, which ends by reading the users back); `--read` only
//!   reads the users. Both wait for the poller owning the machine's line (`onecard serve`).
//!   (To become `onecard attendance sync` when the attendance command group exists.)

use crate::app::words;
use crate::db::command::{self, CommandRow, TerminalCommand};
use crate::db::machine_sync::{self, MachineSnapshot, SyncDifference};
use crate::domain::permission::Actor;
use crate::export::local_time;
use crate::i18n::{tr, trf, Lang};
use crate::import::punches::{self, PunchImportReport};
use anyhow::anyhow;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct AttendanceSyncArgs {
    /// One attendance machine (its name), instead of all.
    #[arg(long)]
    pub machine: Option<String>,
    /// Read each machine's users first (the differences are those of the last read).
    #[arg(long)]
    pub read: bool,
    /// Make each machine hold the register first: the persons missing written, the cards no
    /// longer in service removed (users enrolled at the machine without a card stay).
    #[arg(long)]
    pub push: bool,
    /// How long to wait for each machine's command, in seconds.
    #[arg(long, default_value_t = 120)]
    pub wait_secs: u64,
}

/// `onecard import punches`: the report, or why nothing was imported.
pub async fn import_punches(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    file: &Path,
    machine: &str,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let said = |e: punches::PunchImportError| anyhow!(words::punch_import_error(lang, &e));
    let m = punches::machine(pool, machine).await.map_err(said)?;
    let report = punches::import_punches_file(pool, actor, m.id, file, dry_run)
        .await
        .map_err(said)?;
    write_report(lang, &report, out)?;
    Ok(())
}

/// What an import did, in `lang`: the counts, then every bad line.
pub fn write_report(lang: Lang, r: &PunchImportReport, out: &mut dyn Write) -> std::io::Result<()> {
    let format = tr(lang, &format!("punch_import.format.{}", r.format.name()));
    let title = if r.dry_run {
        "punch_import.report.title_dry"
    } else {
        "punch_import.report.title"
    };
    writeln!(
        out,
        "{}",
        trf(
            lang,
            title,
            &[
                ("file", &r.file),
                ("machine", &r.machine),
                ("format", format),
                ("lines", &words::count(r.lines)),
            ],
        )
    )?;
    writeln!(
        out,
        "{}",
        trf(
            lang,
            "punch_import.report.counts",
            &[
                ("new", &words::count(r.new)),
                ("known", &words::count(r.known())),
                ("known_in_db", &words::count(r.known_in_db)),
                ("repeated", &words::count(r.repeated_in_file)),
                ("bad", &words::count(r.bad.len() as u64)),
            ],
        )
    )?;
    if !r.bad.is_empty() {
        writeln!(out, "{}", tr(lang, "punch_import.report.bad"))?;
        for b in &r.bad {
            writeln!(out, "  {}", words::bad_punch_line(lang, b))?;
        }
    }
    Ok(())
}

/// `onecard attendance sync`.
pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    args: &AttendanceSyncArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let only = match &args.machine {
        Some(name) => Some(
            punches::machine(pool, name)
                .await
                .map_err(|e| anyhow!(words::punch_import_error(lang, &e)))?
                .id,
        ),
        None => None,
    };
    let machines = machine_sync::snapshots(pool, only).await?;
    let wait = Duration::from_secs(args.wait_secs);
    let mut ok = true;
    let steps = [
        (args.push, TerminalCommand::DownloadCards),
        (args.read && !args.push, TerminalCommand::ReadUsers),
    ];
    for (_, cmd) in steps.iter().filter(|(wanted, _)| *wanted) {
        let mut queued = Vec::new();
        for m in &machines {
            if !m.reachable {
                let what = words::command(lang, cmd);
                let args = [("machine", m.machine.as_str()), ("what", what.as_str())];
                writeln!(out, "{}", trf(lang, "attendance_sync.offline", &args))?;
                continue;
            }
            let id = command::enqueue(pool, actor, m.terminal_id, cmd)
                .await
                .map_err(|e| match e {
                    command::CommandError::Denied(d) => anyhow!(words::denied(lang, &d)),
                    e => anyhow!(e),
                })?;
            queued.push((m, id));
        }
        let what = words::command(lang, cmd);
        for (m, id) in queued {
            ok &= waited(pool, lang, m, id, &what, wait, out).await?;
        }
    }
    let machines = machine_sync::snapshots(pool, only).await?;
    let differences = machine_sync::sync_differences(pool, only).await?;
    write_differences(lang, &machines, &differences, out)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Waits for command `id` to `m`, then says how it ended; false if it did not succeed.
async fn waited(
    pool: &PgPool,
    lang: Lang,
    m: &MachineSnapshot,
    id: i64,
    what: &str,
    wait: Duration,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    loop {
        let row: CommandRow = command::by_id(pool, &[id])
            .await?
            .pop()
            .ok_or_else(|| anyhow!("command {id} vanished from the queue"))?;
        let args = |result: &str| {
            vec![
                ("machine", m.machine.clone()),
                ("what", what.to_string()),
                ("result", result.to_string()),
                ("id", id.to_string()),
                ("secs", wait.as_secs().to_string()),
            ]
        };
        let say = |key: &str, a: Vec<(&str, String)>| {
            let a: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
            trf(lang, key, &a)
        };
        match row.state.as_str() {
            "queued" | "running" if started.elapsed() < wait => {}
            "queued" | "running" => {
                writeln!(out, "{}", say("attendance_sync.waiting", args("")))?;
                return Ok(false);
            }
            state => {
                let result = words::command_result(lang, &row);
                let key = if state == "done" {
                    "attendance_sync.done"
                } else {
                    "attendance_sync.failed"
                };
                writeln!(out, "{}", say(key, args(&result)))?;
                return Ok(state == "done");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each machine's last read, then its differences, one a line.
pub fn write_differences(
    lang: Lang,
    machines: &[MachineSnapshot],
    differences: &[SyncDifference],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for m in machines {
        let line = match m.read_at {
            None if !m.reachable => trf(
                lang,
                "attendance_sync.never_read_offline",
                &[("machine", &m.machine)],
            ),
            None => trf(
                lang,
                "attendance_sync.never_read",
                &[("machine", &m.machine)],
            ),
            Some(at) => trf(
                lang,
                "attendance_sync.read_at",
                &[
                    ("machine", &m.machine),
                    ("users", &words::count(m.users)),
                    ("at", &local_time(at)),
                ],
            ),
        };
        writeln!(out, "{line}")?;
    }
    if differences.is_empty() {
        writeln!(out, "{}", tr(lang, "attendance_sync.none"))?;
        return Ok(());
    }
    writeln!(out, "{}", tr(lang, "attendance_sync.header"))?;
    let who = |name: &Option<String>, card: Option<u32>| {
        let card = match card {
            Some(0) | None => tr(lang, "attendance_sync.no_card").to_string(),
            Some(c) => c.to_string(),
        };
        match name {
            Some(n) => format!("{n} {card}"),
            None => "—".to_string(),
        }
    };
    for d in differences {
        writeln!(
            out,
            "{} | {} | {} | {} | {}",
            d.machine,
            words::difference_kind(lang, d.kind),
            d.user_id,
            who(&d.person_name, d.card),
            if d.machine_name.is_some() {
                who(&d.machine_name, d.machine_card)
            } else {
                "—".to_string()
            },
        )?;
    }
    Ok(())
}
