//! The desk's money: movement kinds and channels on a statement.

use super::*;
use crate::db::desk::StatementRow;

/// A movement's kind: "top-up", "充值".
pub fn movement_kind(lang: Lang, kind: &str) -> String {
    let key = format!("statement.kind.{kind}");
    if has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        kind.to_string()
    }
}

/// How a top-up came: "cash", "bank transfer", "微信" (another channel by its name),
/// "subsidy 2026-09".
pub fn channel(lang: Lang, r: &StatementRow) -> String {
    match r.channel.as_deref() {
        None => String::new(),
        Some("other") => r.channel_name.clone(),
        Some("subsidy") => trf(
            lang,
            "statement.channel.subsidy",
            &[("batch", &r.channel_name)],
        ),
        Some(c) => tr(lang, &format!("statement.channel.{c}")).to_string(),
    }
}

/// Where a movement was: "一食堂 POS 1 · 第一食堂 · #1005", or its note for the desk's own.
pub fn statement_where(r: &StatementRow) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = &r.terminal {
        parts.push(t.clone());
    }
    if let Some(m) = &r.merchant {
        parts.push(m.clone());
    }
    if let Some(n) = r.txn_no {
        parts.push(format!("#{n}"));
    }
    if parts.is_empty() {
        r.note.clone()
    } else {
        parts.join(" · ")
    }
}

/// "Shift closed: the drawer took ¥130.50, counted ¥125.50, difference -¥5.00 (找错零钱)."
pub fn shift_closed(lang: Lang, s: &crate::db::desk::Shift) -> String {
    trf(
        lang,
        if s.difference.is_zero() {
            "desk.shift_closed"
        } else {
            "desk.shift_closed_difference"
        },
        &[
            ("expected", &s.expected.to_string()),
            ("counted", &s.counted.to_string()),
            ("difference", &s.difference.to_string()),
            ("reason", &s.reason),
        ],
    )
}
