//! `onecard settle` and `onecard reconcile`: a period's statements locked and shown (or written
//! as CSV), and a day's reconciliation of every merchant's POS. In the operator's language; a
//! refusal is said on stderr and exits non-zero, and so does a day that does not reconcile.

use super::merchant::rate;
use super::Cmd;
use crate::app::words;
use crate::db::reconcile::{self, ReconState, Tally};
use crate::db::settlement::{self, Statement};
use crate::domain::money::Money;
use crate::domain::permission::Actor;
use crate::domain::settlement::Period;
use crate::export::Existing;
use crate::i18n::{tr, trf, Lang};
use chrono::NaiveDate;
use sqlx::PgPool;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct SettleArgs {
    /// YYYY-MM (a month), YYYY-MM-DD (a day) or YYYY-Www (an ISO week); it must have ended.
    #[arg(long)]
    pub period: Period,
    /// One merchant (its name or id); default: every merchant.
    #[arg(long)]
    pub merchant: Option<String>,
    /// Also write the statements as CSV to FILE (audited).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Replace FILE if it exists (otherwise an existing file is refused).
    #[arg(long, requires = "csv")]
    pub overwrite: bool,
    /// Settle in the demo's database (the one `onecard demo` opens).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// The day, YYYY-MM-DD (it must have ended).
    #[arg(long)]
    pub date: NaiveDate,
    /// First ask every merchant's POS for its totals of the day (DAILY_TOTALS, run by the
    /// pollers of `onecard serve`) and wait up to this many seconds for the answers.
    #[arg(long, value_name = "SECS")]
    pub read_totals: Option<u64>,
    /// Reconcile in the demo's database (the one `onecard demo` opens).
    #[arg(long)]
    pub demo: bool,
}

/// Whether a money command acts on the demo's database.
pub fn demo(cmd: &Cmd) -> bool {
    match cmd {
        Cmd::Merchant(a) => a.demo,
        Cmd::Settle(a) => a.demo,
        Cmd::Reconcile(a) => a.demo,
        _ => false,
    }
}

/// `onecard merchant`, `settle` and `reconcile`: the report on stdout, refusals on stderr.
pub async fn run(pool: &PgPool, actor: &Actor, lang: Lang, cmd: &Cmd) -> anyhow::Result<ExitCode> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match cmd {
        Cmd::Merchant(a) => {
            super::merchant::run(pool, actor, lang, &a.command, &mut out, &mut err).await
        }
        Cmd::Settle(a) => settle(pool, actor, lang, a, &mut out, &mut err).await,
        Cmd::Reconcile(a) => {
            if let Some(secs) = a.read_totals {
                if let Err(e) = read_totals(pool, actor, lang, a.date, secs, &mut err).await {
                    let _ = writeln!(err, "{}", words::reconcile_refusal(lang, &e));
                    return Ok(ExitCode::FAILURE);
                }
            }
            reconcile(pool, actor, lang, a.date, &mut out, &mut err).await
        }
        _ => Ok(ExitCode::FAILURE),
    }
}

pub async fn settle(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    args: &SettleArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let done = settlement::settle(pool, actor, args.period, args.merchant.as_deref()).await;
    let statements = match done {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "{}", words::settle_refusal(lang, &e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let _ = out.write_all(statement_table(lang, &statements).as_bytes());
    if let Some(path) = &args.csv {
        let existing = if args.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        };
        match settlement::export(pool, actor, &statements, path, existing).await {
            Ok(n) => {
                let _ = writeln!(
                    out,
                    "{}",
                    trf(
                        lang,
                        "settle.written",
                        &[("n", &n.to_string()), ("file", &path.display().to_string())],
                    )
                );
            }
            Err(e) => {
                let _ = writeln!(err, "{}", words::settle_refusal(lang, &e));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each statement a row, then the total.
fn statement_table(lang: Lang, statements: &[Statement]) -> String {
    let col = |k: &str| tr(lang, &format!("settle.col.{k}")).to_string();
    let columns = [
        col("period"),
        col("merchant"),
        col("purchases"),
        col("sales"),
        col("refunds"),
        col("corrections"),
        col("rate"),
        col("commission"),
        col("net_payable"),
        col("settled"),
    ];
    let settled = |s: &Statement| match &s.settled {
        Some((at, by)) => format!("{} {by}", crate::export::local_time(*at)),
        None => tr(lang, "settle.open").to_string(),
    };
    let rows: Vec<Vec<String>> = statements
        .iter()
        .map(|s| {
            let f = &s.figures;
            vec![
                s.period.to_string(),
                s.merchant.clone(),
                words::count(f.takings.purchases),
                f.takings.sales.to_string(),
                f.takings.refunds.to_string(),
                f.takings.corrections.to_string(),
                rate(f.commission_rate),
                f.commission.to_string(),
                f.net_payable.to_string(),
                settled(s),
            ]
        })
        .collect();
    let sum = |pick: fn(&Statement) -> Money| statements.iter().map(pick).sum::<Money>();
    let total = vec![
        tr(lang, "settle.total").to_string(),
        String::new(),
        words::count(
            statements
                .iter()
                .map(|s| s.figures.takings.purchases)
                .sum::<i64>(),
        ),
        sum(|s| s.figures.takings.sales).to_string(),
        sum(|s| s.figures.takings.refunds).to_string(),
        sum(|s| s.figures.takings.corrections).to_string(),
        String::new(),
        sum(|s| s.figures.commission).to_string(),
        sum(|s| s.figures.net_payable).to_string(),
        String::new(),
    ];
    let numeric = [
        false, false, true, true, true, true, true, true, true, false,
    ];
    crate::report::text_table(&columns, &numeric, &rows, Some(&total))
}

/// Queues DAILY_TOTALS for every merchant's POS and waits for the answers (or `secs`); a POS
/// that did not answer stays "not uploaded" in the reconciliation that follows.
async fn read_totals(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    day: NaiveDate,
    secs: u64,
    err: &mut dyn Write,
) -> Result<(), reconcile::ReconcileError> {
    let ids = reconcile::request_totals(pool, actor, day).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let rows = crate::db::command::by_id(pool, &ids).await?;
        let open = rows
            .iter()
            .filter(|r| matches!(r.state.as_str(), "queued" | "running"))
            .count();
        if open == 0 || std::time::Instant::now() >= deadline {
            let read = rows.iter().filter(|r| r.state == "done").count();
            let _ = writeln!(
                err,
                "{}",
                trf(
                    lang,
                    "reconcile.totals_read",
                    &[("read", &read.to_string()), ("of", &ids.len().to_string())],
                )
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub async fn reconcile(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    day: NaiveDate,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let rows = match reconcile::reconcile(pool, actor, day).await {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{}", words::reconcile_refusal(lang, &e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let col = |k: &str| tr(lang, &format!("reconcile.col.{k}")).to_string();
    let columns = [
        col("merchant"),
        col("pos"),
        col("state"),
        col("pos_totals"),
        col("received"),
        col("ledger"),
    ];
    let tally = |t: &Tally| format!("{} / {}", t.count, t.sum);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.merchant.clone(),
                r.terminal.clone(),
                words::recon_state(lang, r.state).to_string(),
                r.pos.as_ref().map(tally).unwrap_or_else(|| "-".into()),
                tally(&r.received),
                tally(&r.ledger),
            ]
        })
        .collect();
    let numeric = [false, false, false, true, true, true];
    let _ = out.write_all(crate::report::text_table(&columns, &numeric, &table, None).as_bytes());
    let n = |s: ReconState| rows.iter().filter(|r| r.state == s).count().to_string();
    let raised = rows.iter().filter(|r| r.raised.is_some()).count();
    let _ = writeln!(
        out,
        "{}",
        trf(
            lang,
            "reconcile.summary",
            &[
                ("day", &day.to_string()),
                ("ok", &n(ReconState::Ok)),
                ("difference", &n(ReconState::Difference)),
                ("not_uploaded", &n(ReconState::NotUploaded)),
                ("alarms", &raised.to_string()),
            ],
        )
    );
    Ok(if rows.iter().all(|r| r.state == ReconState::Ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
