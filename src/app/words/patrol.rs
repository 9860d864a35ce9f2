//! Patrol: live states, visit classes, exceptions, groupings, scan findings and refusals.

use super::*;
use crate::app::failure::PatrolWhy;
use crate::db::patrol::exceptions::ExceptionClass;
use crate::db::patrol::live::LiveState;
use crate::db::patrol::omissions::{Grouping, ScanClass};
use crate::db::patrol::VisitClass;

pub fn patrol_state(lang: Lang, s: LiveState) -> &'static str {
    tr(
        lang,
        match s {
            LiveState::Idle => "patrol.state.idle",
            LiveState::Waiting => "patrol.state.waiting",
            LiveState::OnTime => "patrol.state.on_time",
            LiveState::Early => "patrol.state.early",
            LiveState::Late => "patrol.state.late",
            LiveState::DueSoon => "patrol.state.due_soon",
            LiveState::Missed => "patrol.state.missed",
            LiveState::Overdue => "patrol.state.overdue",
        },
    )
}

pub fn patrol_class(lang: Lang, c: VisitClass) -> &'static str {
    tr(lang, &format!("patrol.class.{}", c.name()))
}

pub fn patrol_exception(lang: Lang, c: ExceptionClass) -> String {
    patrol_class(
        lang,
        match c {
            ExceptionClass::Missed => VisitClass::Missed,
            ExceptionClass::Late => VisitClass::Late,
        },
    )
    .to_string()
}

pub fn patrol_grouping(lang: Lang, g: Grouping) -> &'static str {
    tr(
        lang,
        match g {
            Grouping::Guard => "patrol.grouping.guard",
            Grouping::Route => "patrol.grouping.route",
            Grouping::Shift => "patrol.grouping.shift",
            Grouping::Day => "patrol.grouping.day",
        },
    )
}

pub fn patrol_scan_class(lang: Lang, c: ScanClass) -> &'static str {
    tr(lang, &format!("patrol.scan.{}", c.name()))
}

/// "+07:12": how long overdue, for the running late timer (hours when it is that long).
pub fn patrol_timer(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 3600 {
        format!("+{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("+{:02}:{:02}", s / 60, s % 60)
    }
}

/// A drift correction: "+600 s" (the reader's clock ran ahead).
pub fn patrol_drift(lang: Lang, drift_s: i32) -> String {
    trf(lang, "patrol.drift", &[("s", &format!("{drift_s:+}"))])
}

pub fn patrol_refusal(lang: Lang, why: &PatrolWhy) -> String {
    use PatrolWhy as W;
    let k = |key: &str| format!("patrol.error.{key}");
    match why {
        W::NoName => tr(lang, &k("no_name")).to_string(),
        W::BadTag(t) => trf(lang, &k("bad_tag"), &[("tag", &t.to_string())]),
        W::BadCard(c) => trf(lang, &k("bad_card"), &[("card", &c.to_string())]),
        W::NameTaken { what, name } => trf(
            lang,
            &k("name_taken"),
            &[
                (
                    "what",
                    &catalogued(lang, "patrol.what", &what.replace(' ', "_")),
                ),
                ("name", name),
            ],
        ),
        W::CardTaken { card, name } => trf(
            lang,
            &k("card_taken"),
            &[("card", &card.to_string()), ("name", name)],
        ),
        W::NoCheckpoint(t) => trf(lang, &k("no_checkpoint"), &[("tag", &t.to_string())]),
        W::NoRoute(r) => trf(lang, &k("no_route"), &[("name", r)]),
        W::NoGuard(g) => trf(lang, &k("no_guard"), &[("name", g)]),
        W::NoGroup(g) => trf(lang, &k("no_group"), &[("name", g)]),
        W::NoMap(m) => trf(lang, &k("no_map"), &[("name", m)]),
        W::NoSchedule(s) => trf(lang, &k("no_schedule"), &[("id", &s.to_string())]),
        W::EmptyRoute => tr(lang, &k("empty_route")).to_string(),
        W::OffsetsOutOfOrder { tag } => trf(lang, &k("out_of_order"), &[("tag", &tag.to_string())]),
        W::CheckpointInUse { tag, route } => trf(
            lang,
            &k("in_use"),
            &[("tag", &tag.to_string()), ("route", route)],
        ),
        W::GroupInUse { name, schedules } => trf(
            lang,
            &k("group_in_use"),
            &[("name", name), ("n", &schedules.to_string())],
        ),
        W::BadEvery => tr(lang, &k("bad_every")).to_string(),
        W::NoDays => tr(lang, &k("no_days")).to_string(),
        W::BadValidity => tr(lang, &k("bad_validity")).to_string(),
        W::BadSeconds => tr(lang, &k("bad_seconds")).to_string(),
        W::BadPlan => tr(lang, &k("bad_plan")).to_string(),
        W::BadImage => tr(lang, &k("bad_image")).to_string(),
        W::OffMap => tr(lang, &k("off_map")).to_string(),
        W::NoException(v) => trf(lang, &k("no_exception"), &[("id", &v.to_string())]),
        W::AlreadyClosed => tr(lang, &k("already_closed")).to_string(),
        W::NoComment => tr(lang, &k("no_comment")).to_string(),
        W::BadRange => tr(lang, &k("bad_range")).to_string(),
    }
}
