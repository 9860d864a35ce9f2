//! `onecard ledger ...`: the books, checked from the command line. In the operator's language;
//! a difference is named on stderr and exits non-zero.

use crate::db::ledger::{self, Verified};
use crate::i18n::{trf, Lang};
use clap::Subcommand;
use sqlx::PgPool;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum LedgerCmd {
    /// Check that all entries sum to zero (each movement's too) and that every account's
    /// balance equals its entries; name the first account that differs.
    Verify,
}

pub async fn run(
    pool: &PgPool,
    lang: Lang,
    cmd: &LedgerCmd,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        LedgerCmd::Verify => {
            let v = ledger::verify(pool).await?;
            let (text, ok) = (verify_words(lang, &v), v.is_ok());
            // A closed pipe is no reason to fail: the exit code still tells.
            let _ = if ok {
                out.write_all(text.as_bytes())
            } else {
                err.write_all(text.as_bytes())
            };
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The summary, then what is wrong (the first of each kind), one line each.
fn verify_words(lang: Lang, v: &Verified) -> String {
    let size = [
        ("movements", v.movements.to_string()),
        ("entries", v.entries.to_string()),
        ("accounts", v.accounts.to_string()),
    ];
    let size: Vec<(&str, &str)> = size.iter().map(|(k, s)| (*k, s.as_str())).collect();
    if v.is_ok() {
        return format!("{}\n", trf(lang, "ledger.verify.ok", &size));
    }
    let mut lines = vec![trf(lang, "ledger.verify.broken", &size)];
    if !v.trial_balance.is_zero() {
        lines.push(trf(
            lang,
            "ledger.verify.total",
            &[("sum", &v.trial_balance.to_string())],
        ));
    }
    if let Some((id, sum)) = v.first_bad_movement {
        // Grouped with no entries, a movement sums to zero; with entries, it does not.
        lines.push(if sum.is_zero() {
            trf(
                lang,
                "ledger.verify.movement_empty",
                &[("id", &id.to_string())],
            )
        } else {
            trf(
                lang,
                "ledger.verify.movement",
                &[("id", &id.to_string()), ("sum", &sum.to_string())],
            )
        });
    }
    if let Some(m) = v.mismatches.first() {
        lines.push(trf(
            lang,
            "ledger.verify.account",
            &[
                ("id", &m.account_id.to_string()),
                ("name", &m.name),
                ("balance", &m.balance.to_string()),
                ("from_entries", &m.from_entries.to_string()),
            ],
        ));
        if v.mismatches.len() > 1 {
            lines.push(trf(
                lang,
                "ledger.verify.accounts",
                &[("n", &v.mismatches.len().to_string())],
            ));
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}
