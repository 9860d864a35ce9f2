//! `onecard merchant ...`: the merchant register from the command line, in the operator's
//! language. A refusal is said on stderr and exits non-zero.

use crate::app::words;
use crate::db::merchant::{self, MerchantError, MerchantState};
use crate::domain::permission::Actor;
use crate::i18n::{tr, trf, Lang};
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MerchantArgs {
    /// Act on the demo's database (the one `onecard demo` opens).
    #[arg(long, global = true)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: MerchantCmd,
}

#[derive(Debug, Subcommand)]
pub enum MerchantCmd {
    /// Every merchant: state, commission rate, terminals.
    List,
    /// A merchant applies (state `applied`): its name and commission rate (0.025 is 2.5 %).
    Apply {
        name: String,
        #[arg(long, default_value = "0")]
        commission: Decimal,
    },
    /// Approve a merchant (opens its ledger account), or lift a suspension.
    Approve { merchant: String },
    /// Suspend a merchant: its POS refuse purchases until it is approved again.
    Suspend { merchant: String },
    /// Close a merchant for good (its statements and entries remain).
    Close { merchant: String },
    /// Change a merchant's commission rate (for periods settled from now on).
    Commission { merchant: String, rate: Decimal },
    /// Give a POS (its name or id) to a merchant.
    Assign { merchant: String, terminal: String },
    /// Take a POS from its merchant.
    Unassign { terminal: String },
}

pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    cmd: &MerchantCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match change(pool, actor, lang, cmd, out).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let _ = writeln!(err, "{}", words::merchant_refusal(lang, &e));
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn change(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    cmd: &MerchantCmd,
    out: &mut dyn Write,
) -> Result<(), MerchantError> {
    let state = |m: &merchant::Merchant| words::merchant_state(lang, &m.state);
    let line = match cmd {
        MerchantCmd::List => return list(pool, lang, out).await,
        MerchantCmd::Apply { name, commission } => {
            let m = merchant::apply(pool, actor, name, *commission).await?;
            trf(
                lang,
                "merchant.done.applied",
                &[("name", &m.name), ("rate", &rate(m.commission_rate))],
            )
        }
        MerchantCmd::Approve { merchant: m } => {
            let m = merchant::set_state(pool, actor, m, MerchantState::Approved).await?;
            trf(
                lang,
                "merchant.done.state",
                &[("name", &m.name), ("state", &state(&m))],
            )
        }
        MerchantCmd::Suspend { merchant: m } => {
            let m = merchant::set_state(pool, actor, m, MerchantState::Suspended).await?;
            trf(
                lang,
                "merchant.done.state",
                &[("name", &m.name), ("state", &state(&m))],
            )
        }
        MerchantCmd::Close { merchant: m } => {
            let m = merchant::set_state(pool, actor, m, MerchantState::Closed).await?;
            trf(
                lang,
                "merchant.done.state",
                &[("name", &m.name), ("state", &state(&m))],
            )
        }
        MerchantCmd::Commission {
            merchant: m,
            rate: r,
        } => {
            let m = merchant::set_commission(pool, actor, m, *r).await?;
            trf(
                lang,
                "merchant.done.commission",
                &[("name", &m.name), ("rate", &rate(m.commission_rate))],
            )
        }
        MerchantCmd::Assign {
            merchant: m,
            terminal,
        } => {
            merchant::assign(pool, actor, m, terminal).await?;
            trf(
                lang,
                "merchant.done.assigned",
                &[("terminal", terminal), ("name", m)],
            )
        }
        MerchantCmd::Unassign { terminal } => {
            merchant::unassign(pool, actor, terminal).await?;
            trf(lang, "merchant.done.unassigned", &[("terminal", terminal)])
        }
    };
    let _ = writeln!(out, "{line}");
    Ok(())
}

/// A rate as a percentage: 0.0250 is "2.5%".
pub fn rate(r: Decimal) -> String {
    format!("{}%", (r * Decimal::ONE_HUNDRED).normalize())
}

async fn list(pool: &PgPool, lang: Lang, out: &mut dyn Write) -> Result<(), MerchantError> {
    let all = merchant::list(pool).await?;
    let col = |k: &str| tr(lang, &format!("merchant.col.{k}")).to_string();
    let columns = [
        col("id"),
        col("name"),
        col("state"),
        col("commission"),
        col("terminals"),
        col("approved"),
    ];
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                m.name.clone(),
                words::merchant_state(lang, &m.state),
                rate(m.commission_rate),
                m.terminals.to_string(),
                m.approved_at
                    .map(crate::export::local_time)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let numeric = [true, false, false, true, true, false];
    let _ = out.write_all(crate::report::text_table(&columns, &numeric, &rows, None).as_bytes());
    let _ = writeln!(
        out,
        "{}",
        trf(
            lang,
            "merchant.done.count",
            &[("n", &all.len().to_string())]
        )
    );
    Ok(())
}
