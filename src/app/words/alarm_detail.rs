//! What an alarm's stored detail says, in the operator's language: the detail is data (a tag,
//! numbers, names), never a sentence.

use super::*;
use crate::db::ingest::{AlarmDetail, Implausible, LineFault, Restart};

/// A stored detail in words; free text (an alarm raised by hand, or by a newer onecard) as it
/// is.
pub fn alarm_detail(lang: Lang, detail: &str) -> String {
    match AlarmDetail::parse(detail) {
        Some(d) => alarm_detail_of(lang, &d),
        None => detail.to_string(),
    }
}

pub fn alarm_detail_of(lang: Lang, d: &AlarmDetail) -> String {
    let k = |key: &str| format!("alarm.about.{key}");
    match d {
        AlarmDetail::Record { record_no } => {
            trf(lang, &k("record"), &[("n", &record_no.to_string())])
        }
        AlarmDetail::NoAnswer { line } => trf(lang, &k("no_answer"), &[("line", line)]),
        AlarmDetail::Garbled {
            line,
            address,
            fault,
        } => {
            let what = fault
                .as_ref()
                .map(|f| line_fault(lang, f))
                .unwrap_or_else(|| tr(lang, "alarm.about.garbled_unknown").to_string());
            match address {
                Some(a) => trf(
                    lang,
                    &k("garbled_at"),
                    &[("line", line), ("address", &a.to_string()), ("what", &what)],
                ),
                None => trf(lang, &k("garbled"), &[("line", line), ("what", &what)]),
            }
        }
        AlarmDetail::ClockDrift { secs } => {
            trf(lang, &k("clock_drift"), &[("secs", &secs.to_string())])
        }
        AlarmDetail::MemoryFull => tr(lang, &k("memory_full")).to_string(),
        AlarmDetail::MemoryNearlyFull { percent } => trf(
            lang,
            &k("memory_nearly_full"),
            &[("percent", &percent.to_string())],
        ),
        AlarmDetail::Restarted { why, base } => {
            let why = match why {
                Restart::CountsAgain { newest, collected } => trf(
                    lang,
                    &k("counts_again"),
                    &[
                        ("newest", &newest.to_string()),
                        ("collected", &collected.to_string()),
                    ],
                ),
                Restart::NotTheSame { record } => {
                    trf(lang, &k("not_the_same"), &[("record", &record.to_string())])
                }
                Restart::Swapped { serial, was } => {
                    trf(lang, &k("swapped"), &[("serial", serial), ("was", was)])
                }
            };
            trf(
                lang,
                &k("restarted"),
                &[("why", &why), ("base", &base.to_string())],
            )
        }
        AlarmDetail::RecordsLost { first, last } => trf(
            lang,
            &k("records_lost"),
            &[("first", &first.to_string()), ("last", &last.to_string())],
        ),
        AlarmDetail::Overdrawn {
            card,
            amount,
            balance,
        } => trf(
            lang,
            &k("overdrawn"),
            &[
                ("card", &card.to_string()),
                ("amount", &amount.to_string()),
                ("balance", &balance.to_string()),
            ],
        ),
        AlarmDetail::TxnGap {
            first,
            last,
            missing,
        } => trf(
            lang,
            &k("txn_gap"),
            &[
                ("first", &first.to_string()),
                ("last", &last.to_string()),
                ("missing", &missing.to_string()),
            ],
        ),
        AlarmDetail::PunchesLost { after, before } => trf(
            lang,
            &k("punches_lost"),
            &[
                ("after", &after.format("%Y-%m-%d %H:%M:%S").to_string()),
                ("before", &before.format("%Y-%m-%d %H:%M:%S").to_string()),
            ],
        ),
        AlarmDetail::ClockInvalid { reads } => match reads {
            Some(r) => trf(lang, &k("clock_invalid"), &[("reads", r)]),
            None => tr(lang, &k("clock_unreadable")).to_string(),
        },
        AlarmDetail::ClockNotSet { tries } => {
            trf(lang, &k("clock_not_set"), &[("tries", &tries.to_string())])
        }
        AlarmDetail::TablesMissing { tries } => {
            trf(lang, &k("tables_missing"), &[("tries", &tries.to_string())])
        }
        AlarmDetail::Implausible {
            claimed,
            collected,
            why,
        } => {
            let why = match why {
                Implausible::Memory { record, capacity } => trf(
                    lang,
                    &k("implausible_memory"),
                    &[
                        ("record", &record.to_string()),
                        ("capacity", &capacity.to_string()),
                    ],
                ),
                Implausible::Rate { grew, secs } => trf(
                    lang,
                    &k("implausible_rate"),
                    &[("grew", &grew.to_string()), ("secs", &secs.to_string())],
                ),
            };
            trf(
                lang,
                &k("implausible"),
                &[
                    ("claimed", &claimed.to_string()),
                    ("collected", &collected.to_string()),
                    ("why", &why),
                ],
            )
        }
        AlarmDetail::NotUploaded { day } => {
            trf(lang, &k("not_uploaded"), &[("day", &day.to_string())])
        }
        AlarmDetail::ReconciliationDifference {
            day,
            pos,
            received,
            ledger,
        } => {
            let tally = |t: &crate::domain::settlement::Tally| {
                trf(
                    lang,
                    &k("tally"),
                    &[("n", &count(t.count)), ("sum", &t.sum.to_string())],
                )
            };
            trf(
                lang,
                &k("reconciliation_difference"),
                &[
                    ("day", &day.to_string()),
                    ("pos", &tally(pos)),
                    ("received", &tally(received)),
                    ("ledger", &tally(ledger)),
                ],
            )
        }
        AlarmDetail::PatrolOverdue {
            checkpoint,
            tag,
            guard,
            due,
        } => trf(
            lang,
            &k("patrol_overdue"),
            &[
                ("checkpoint", checkpoint),
                ("tag", &tag.to_string()),
                ("guard", guard),
                ("due", &due.format("%Y-%m-%d %H:%M").to_string()),
            ],
        ),
    }
}

/// What a terminal sent instead of a sensible reply.
pub fn line_fault(lang: Lang, f: &LineFault) -> String {
    let k = |key: &str| format!("alarm.fault.{key}");
    match f {
        LineFault::Babbling { frames } => {
            trf(lang, &k("babbling"), &[("frames", &frames.to_string())])
        }
        LineFault::BadCrc { frames } => {
            trf(lang, &k("bad_crc"), &[("frames", &frames.to_string())])
        }
        LineFault::Truncated { got, expected } => trf(
            lang,
            &k("truncated"),
            &[
                ("got", &got.to_string()),
                ("expected", &expected.to_string()),
            ],
        ),
        LineFault::BadLength { len } => trf(lang, &k("bad_length"), &[("len", &len.to_string())]),
        LineFault::Noise { bytes } => trf(lang, &k("noise"), &[("bytes", &bytes.to_string())]),
        LineFault::OtherAddress => tr(lang, &k("other_address")).to_string(),
        // The device's own words (a protocol field out of range): shown as they are.
        LineFault::Invalid { detail } => trf(lang, &k("invalid"), &[("detail", detail)]),
    }
}
