//! Merchants, settlement and reconciliation: states and refusals in the operator's language.

use super::*;
use crate::db::merchant::MerchantError;
use crate::db::reconcile::{ReconState, ReconcileError};
use crate::db::settlement::SettleError;
use crate::export::ExportError;

pub fn merchant_state(lang: Lang, state: &str) -> String {
    catalogued(lang, "merchant.state", state)
}

pub fn recon_state(lang: Lang, s: ReconState) -> &'static str {
    tr(lang, &format!("reconcile.state.{}", s.name()))
}

fn db_error(lang: Lang, e: &sqlx::Error) -> String {
    db_trouble(lang, &DbTrouble::from(e))
}

pub fn merchant_refusal(lang: Lang, e: &MerchantError) -> String {
    let k = |key: &str| format!("merchant.refusal.{key}");
    match e {
        MerchantError::NameEmpty => tr(lang, &k("name_empty")).to_string(),
        MerchantError::NameTaken(name) => trf(lang, &k("name_taken"), &[("name", name)]),
        MerchantError::BadRate(rate) => trf(lang, &k("bad_rate"), &[("rate", &rate.to_string())]),
        MerchantError::NotFound(name) => trf(lang, &k("not_found"), &[("name", name)]),
        MerchantError::WrongState {
            name,
            state,
            wanted,
        } => trf(
            lang,
            &k("wrong_state"),
            &[
                ("name", name),
                ("state", &merchant_state(lang, state)),
                ("wanted", &merchant_state(lang, wanted.name())),
            ],
        ),
        MerchantError::NoSuchPos(t) => trf(lang, &k("no_such_pos"), &[("terminal", t)]),
        MerchantError::OwnedElsewhere { terminal, owner } => trf(
            lang,
            &k("owned_elsewhere"),
            &[("terminal", terminal), ("owner", owner)],
        ),
        MerchantError::Denied(d) => denied(lang, d),
        MerchantError::Sql(e) => db_error(lang, e),
    }
}

pub fn settle_refusal(lang: Lang, e: &SettleError) -> String {
    let k = |key: &str| format!("settle.refusal.{key}");
    match e {
        SettleError::NotEnded { period, ends } => trf(
            lang,
            &k("not_ended"),
            &[
                ("period", &period.to_string()),
                ("ends", &crate::export::local_time(*ends)),
            ],
        ),
        SettleError::Overlaps {
            merchant,
            period,
            settled,
        } => trf(
            lang,
            &k("overlaps"),
            &[
                ("merchant", merchant),
                ("period", &period.to_string()),
                ("settled", &settled.to_string()),
            ],
        ),
        SettleError::Merchant(m) => merchant_refusal(lang, m),
        SettleError::Export(ExportError::Exists(p)) => trf(
            lang,
            &k("file_exists"),
            &[("file", &p.display().to_string())],
        ),
        SettleError::Export(other) => trf(lang, &k("file"), &[("detail", &other.to_string())]),
        SettleError::Denied(d) => denied(lang, d),
        SettleError::Sql(e) => db_error(lang, e),
    }
}

pub fn reconcile_refusal(lang: Lang, e: &ReconcileError) -> String {
    match e {
        ReconcileError::NotEnded { day } => trf(
            lang,
            "reconcile.refusal.not_ended",
            &[("day", &day.to_string())],
        ),
        ReconcileError::Denied(d) => denied(lang, d),
        ReconcileError::Sql(e) => db_error(lang, e),
    }
}

/// Ascending transaction numbers with runs compacted: `1041–1043, 1050`.
pub fn txn_ranges(numbers: &[i64]) -> String {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &n in numbers {
        match runs.last_mut() {
            Some(r) if n == r.1 + 1 => r.1 = n,
            _ => runs.push((n, n)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}–{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
