//! Words: every label, kind and state name, money text and refusal the console shows, in the
//! operator's language, from the catalogue. `update` and `ui` both take their words from here;
//! this module imports neither.

use super::failure::{DbTrouble, Failure, FileTrouble};
use crate::db::alarm::Alarm;
use crate::db::card::CardView;
use crate::db::command::TerminalCommand;
use crate::domain::alarm::AlarmKind;
use crate::domain::card::{CardKind, CardState, Refusal, Subsystem};
use crate::domain::password::{PolicyError, MIN_LENGTH};
use crate::domain::permission::{Action, Denied};
use crate::domain::role::Role;
use crate::i18n::{has_key, tr, trf, Lang};
use crate::import::persons::{FieldChange, PersonField, Summary};

mod alarm_detail;
mod attendance;
mod attendance_sync;
mod commands;
mod desk;
mod doors;
mod import;
mod patrol;
mod settlement;

pub use alarm_detail::*;
pub use attendance::*;
pub use attendance_sync::*;
pub use commands::*;
pub use desk::*;
pub use doors::*;
pub use import::*;
pub use patrol::*;
pub use settlement::*;

/// A catalogued name (`<section>.<name>`); an unknown name (from a newer onecard) as stored.
pub fn catalogued(lang: Lang, section: &str, name: &str) -> String {
    let key = format!("{section}.{name}");
    if has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        name.to_string()
    }
}

/// A count with thousands separated: "2,321".
pub fn count(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// "200 of 2,321" when a list shows fewer rows than exist, else just the number.
pub fn shown_of(lang: Lang, shown: usize, total: i64) -> String {
    if (shown as i64) < total {
        trf(
            lang,
            "list.shown_of",
            &[("shown", &count(shown as i64)), ("total", &count(total))],
        )
    } else {
        count(shown as i64)
    }
}

pub fn role(lang: Lang, r: Role) -> &'static str {
    tr(lang, &format!("role.{}", r.name()))
}

pub fn action(lang: Lang, a: Action) -> &'static str {
    tr(lang, &format!("action.{}", a.name()))
}

/// "A Duty operator may not acknowledge alarms."
pub fn denied(lang: Lang, d: &Denied) -> String {
    trf(
        lang,
        "msg.denied",
        &[
            ("role", role(lang, d.role)),
            ("action", action(lang, d.action)),
        ],
    )
}

// ---- Alarms -----------------------------------------------------------------------------------

/// An alarm's kind in words; an unknown kind as stored.
pub fn alarm_kind(lang: Lang, kind: &str) -> String {
    match AlarmKind::parse(kind) {
        Some(k) => tr(lang, &format!("alarm.kind.{}", k.name())).to_string(),
        None => kind.to_string(),
    }
}

pub fn alarm_state(lang: Lang, state: &str) -> String {
    catalogued(lang, "alarm.state", state)
}

/// What to do about an alarm of this kind.
pub fn alarm_todo(lang: Lang, kind: &str) -> &'static str {
    match AlarmKind::parse(kind) {
        Some(k) => tr(lang, &format!("alarm.todo.{}", k.name())),
        None => tr(lang, "alarm.todo.unknown"),
    }
}

/// Where an alarm happened: the door by name (and place) when it names one, else the terminal.
pub fn alarm_place(lang: Lang, a: &Alarm) -> String {
    match (a.door, &a.terminal_name) {
        (Some(d), Some(t)) => {
            let door = door_label(lang, a.door_name.as_deref().unwrap_or(""), t, d);
            match a.door_location.as_deref().filter(|l| !l.is_empty()) {
                Some(loc) => format!("{door} ({loc})"),
                None => door,
            }
        }
        (None, Some(t)) => match a.terminal_location.as_deref().filter(|l| !l.is_empty()) {
            Some(loc) => format!("{t} ({loc})"),
            None => t.clone(),
        },
        (Some(d), None) => trf(lang, "alarm.door_n", &[("door", &d.to_string())]),
        (None, None) => String::new(),
    }
}

/// Names an alarm in full, for confirmations and messages: "#12 P1 forced open · 图书馆东门".
pub fn alarm_name(lang: Lang, a: &Alarm) -> String {
    let mut s = format!("#{} P{} {}", a.id, a.priority, alarm_kind(lang, &a.kind));
    let place = alarm_place(lang, a);
    if !place.is_empty() {
        s.push_str(" · ");
        s.push_str(&place);
    }
    s
}

// ---- Cards ------------------------------------------------------------------------------------

pub fn card_kind(lang: Lang, kind: CardKind) -> &'static str {
    tr(lang, &format!("card.kind.{}", kind.name()))
}

pub fn card_state(lang: Lang, state: CardState) -> &'static str {
    tr(lang, &format!("card.state.{}", state.name()))
}

pub fn subsystem(lang: Lang, s: Subsystem) -> &'static str {
    tr(lang, &format!("card.subsystem.{}", s.name()))
}

/// A person's category; an unknown one as stored.
pub fn category(lang: Lang, category: &str) -> String {
    catalogued(lang, "person.category", category)
}

/// A card event's name; an unknown one as stored.
pub fn card_event(lang: Lang, event: &str) -> String {
    catalogued(lang, "card.event", event)
}

/// "card 8165537 of 王芳 (T10003)"
pub fn card_named(lang: Lang, d: &CardView) -> String {
    trf(
        lang,
        "card.named",
        &[
            ("card", &d.card_no.to_string()),
            ("name", &d.person_name),
            ("no", &d.person_no),
        ],
    )
}

/// A refusal of the card state machine.
pub fn refusal(lang: Lang, r: &Refusal) -> String {
    let card = |n: &i64| n.to_string();
    match r {
        Refusal::AlreadyLost { card_no } => trf(
            lang,
            "card.refusal.already_lost",
            &[("card", &card(card_no))],
        ),
        Refusal::NotLost { card_no } => {
            trf(lang, "card.refusal.not_lost", &[("card", &card(card_no))])
        }
        Refusal::Final { card_no, state, .. } => trf(
            lang,
            "card.refusal.final",
            &[
                ("card", &card(card_no)),
                ("state", card_state(lang, *state)),
            ],
        ),
        Refusal::LostCard { card_no } => {
            trf(lang, "card.refusal.lost_card", &[("card", &card(card_no))])
        }
        Refusal::TooSoon { card_no, hours } => trf(
            lang,
            "card.refusal.too_soon",
            &[("card", &card(card_no)), ("hours", &hours.to_string())],
        ),
        Refusal::OverrideWithoutReason => tr(lang, "card.refusal.override_reason").to_string(),
        Refusal::OverrideNotDirector => tr(lang, "card.refusal.override_director").to_string(),
        Refusal::TemporarySubsystem { subsystem: s } => trf(
            lang,
            "card.refusal.temporary_subsystem",
            &[("subsystem", subsystem(lang, *s))],
        ),
        Refusal::TemporaryTooLong { latest } => trf(
            lang,
            "card.refusal.temporary_too_long",
            &[("latest", &latest.to_string())],
        ),
        Refusal::NotLater { until, current } => trf(
            lang,
            "card.refusal.not_later",
            &[
                ("until", &until.to_string()),
                ("current", &current.to_string()),
            ],
        ),
        Refusal::EndsBeforeStart { from, until } => trf(
            lang,
            "card.refusal.ends_before_start",
            &[("from", &from.to_string()), ("until", &until.to_string())],
        ),
    }
}

pub fn password_policy(lang: Lang, e: &PolicyError) -> String {
    match e {
        PolicyError::TooShort => trf(
            lang,
            "form.error.too_short",
            &[("n", &MIN_LENGTH.to_string())],
        ),
        PolicyError::ContainsLogin => tr(lang, "form.error.contains_login").to_string(),
        PolicyError::Mismatch => tr(lang, "form.error.mismatch").to_string(),
    }
}

/// A problem in a keymap file, with where it is: "keymap.toml line 4, key \"y\": …".
pub fn keymap_error(lang: Lang, e: &crate::keymap::KeymapError) -> String {
    use crate::keymap::Problem as P;
    let what = match &e.problem {
        P::UnknownPreset(name) => trf(lang, "keymap.problem.unknown_preset", &[("name", name)]),
        P::CannotRead => tr(lang, "keymap.problem.cannot_read").to_string(),
        P::NotUtf8 => tr(lang, "keymap.problem.not_utf8").to_string(),
        P::Syntax => tr(lang, "keymap.problem.syntax").to_string(),
        P::NotATable(name) => trf(lang, "keymap.problem.not_a_table", &[("name", name)]),
        P::UnknownSection(name) => trf(lang, "keymap.problem.unknown_section", &[("name", name)]),
        P::BadKey => tr(lang, "keymap.problem.bad_key").to_string(),
        P::UnknownCommand(name) => trf(lang, "keymap.problem.unknown_command", &[("name", name)]),
        P::UnknownField(name) => trf(lang, "keymap.problem.unknown_field", &[("name", name)]),
        P::RunNotString => tr(lang, "keymap.problem.run_not_string").to_string(),
        P::MissingRun => tr(lang, "keymap.problem.missing_run").to_string(),
        P::DescNotString => tr(lang, "keymap.problem.desc_not_string").to_string(),
        P::BadValue => tr(lang, "keymap.problem.bad_value").to_string(),
        P::AlreadyBound { line } => trf(
            lang,
            "keymap.problem.already_bound",
            &[("line", &line.to_string())],
        ),
        P::PrefixConflict { other, line } => trf(
            lang,
            "keymap.problem.prefix",
            &[("other", other), ("line", &line.to_string())],
        ),
    };
    let mut at = e.file.clone();
    if e.line > 0 {
        at.push_str(&trf(
            lang,
            "keymap.at_line",
            &[("line", &e.line.to_string())],
        ));
    }
    if !e.key.is_empty() {
        at.push_str(&trf(lang, "keymap.at_key", &[("key", &e.key)]));
    }
    format!("{at}: {what}")
}

// ---- Failures ---------------------------------------------------------------------------------

fn io_kind(lang: Lang, kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind as K;
    let key = match kind {
        K::NotFound => "io.not_found",
        K::PermissionDenied => "io.permission",
        K::AlreadyExists => "io.exists",
        K::IsADirectory => "io.is_directory",
        K::InvalidData | K::InvalidInput => "io.unreadable",
        K::StorageFull => "io.full",
        _ => "io.other",
    };
    tr(lang, key)
}

pub fn db_trouble(lang: Lang, t: &DbTrouble) -> String {
    match t {
        DbTrouble::Unreachable => tr(lang, "db.trouble.unreachable").to_string(),
        DbTrouble::Exists => tr(lang, "db.trouble.exists").to_string(),
        DbTrouble::Refused { code } => trf(lang, "db.trouble.refused", &[("code", code)]),
        DbTrouble::Other => tr(lang, "db.trouble.other").to_string(),
    }
}

pub fn file_trouble(lang: Lang, t: &FileTrouble) -> String {
    match t {
        FileTrouble::Read { path, kind } => trf(
            lang,
            "file.cannot_read",
            &[("path", path), ("why", io_kind(lang, *kind))],
        ),
        FileTrouble::Write { path, kind } => trf(
            lang,
            "file.cannot_write",
            &[("path", path), ("why", io_kind(lang, *kind))],
        ),
        FileTrouble::Exists { path } => trf(lang, "file.exists", &[("path", path)]),
    }
}

/// Any refusal or failure, as the operator reads it.
pub fn failure(lang: Lang, f: &Failure) -> String {
    use super::failure::Failure as F;
    match f {
        F::SignedOut => tr(lang, "status.signed_out").to_string(),
        F::Denied(d) => denied(lang, d),
        F::Db(t) => db_trouble(lang, t),
        F::File(t) => file_trouble(lang, t),
        F::WrongCredentials => tr(lang, "login.wrong").to_string(),
        F::Locked { until } => trf(lang, "login.locked", &[("until", until)]),
        F::Disabled => tr(lang, "login.disabled").to_string(),
        F::SessionEnded { disabled: false } => tr(lang, "login.session_ended").to_string(),
        F::SessionEnded { disabled: true } => tr(lang, "login.session_disabled").to_string(),
        F::Policy(p) => password_policy(lang, p),
        F::LoginTaken(login) => trf(lang, "operator.error.taken", &[("login", login)]),
        F::BadLogin => tr(lang, "form.error.bad_login").to_string(),
        F::NoOperator(login) => trf(lang, "operator.error.not_found", &[("login", login)]),
        F::NotFirstRun => tr(lang, "operator.error.not_first_run").to_string(),
        F::SelfDisable => tr(lang, "operator.error.self_disable").to_string(),
        F::Refusal(r) => refusal(lang, r),
        F::NoCard => tr(lang, "card.error.not_found").to_string(),
        F::CardNumberTaken { card_no, holder } => trf(
            lang,
            "card.error.number_taken",
            &[("card", &card_no.to_string()), ("holder", holder)],
        ),
        F::PersonHasCard {
            person_no,
            person_name,
            card_no,
            state,
        } => trf(
            lang,
            "card.error.person_has_card",
            &[
                ("name", person_name),
                ("no", person_no),
                ("card", &card_no.to_string()),
                ("state", card_state(lang, *state)),
            ],
        ),
        F::PersonLeft => tr(lang, "card.error.person_left").to_string(),
        F::WrongPin => tr(lang, "card.error.wrong_pin").to_string(),
        F::InsufficientBalance { balance, needed } => trf(
            lang,
            "card.error.insufficient_balance",
            &[
                ("balance", &balance.to_string()),
                ("needed", &needed.to_string()),
            ],
        ),
        F::BadAmount(a) => trf(lang, "card.error.bad_amount", &[("amount", &a.to_string())]),
        F::BatchRefused(rows) => {
            let first = rows
                .iter()
                .take(3)
                .map(|(card, why)| format!("{card}: {}", failure(lang, why)))
                .collect::<Vec<_>>()
                .join("; ");
            trf(
                lang,
                "card.error.batch_refused",
                &[("n", &rows.len().to_string()), ("first", &first)],
            )
        }
        F::StockBadQuantity => tr(lang, "stock.error.bad_quantity").to_string(),
        F::StockNotOnHand { on_hand, quantity } => trf(
            lang,
            "stock.error.not_on_hand",
            &[
                ("on_hand", &on_hand.to_string()),
                ("quantity", &quantity.to_string()),
            ],
        ),
        F::AlarmGone(id) => trf(lang, "msg.alarm_gone", &[("id", &id.to_string())]),
        F::AlarmState { id, state } => trf(
            lang,
            "msg.alarm_state",
            &[
                ("id", &id.to_string()),
                ("state", &alarm_state(lang, state)),
            ],
        ),
        F::DrawerShort { holds, needed } => trf(
            lang,
            "desk.error.drawer_short",
            &[
                ("holds", &holds.to_string()),
                ("needed", &needed.to_string()),
            ],
        ),
        F::OverReversal { original, asked } => trf(
            lang,
            "desk.error.over_reversal",
            &[
                ("original", &original.to_string()),
                ("asked", &asked.to_string()),
            ],
        ),
        F::AlreadyReversed { purchase, by } => trf(
            lang,
            "desk.error.already_reversed",
            &[("purchase", &purchase.to_string()), ("by", &by.to_string())],
        ),
        F::NoPurchase(what) => trf(lang, "desk.error.no_purchase", &[("what", what)]),
        F::NoDesk(name) => trf(lang, "desk.error.no_desk", &[("name", name)]),
        F::ShiftDifference { difference } => trf(
            lang,
            "desk.error.shift_difference",
            &[("difference", &difference.to_string())],
        ),
        F::NoteMissing => tr(lang, "msg.note_empty").to_string(),
        F::ReasonMissing => tr(lang, "msg.reason_empty").to_string(),
        F::TerminalNameEmpty => tr(lang, "msg.terminal_name_empty").to_string(),
        F::TerminalBadDate(text) => trf(lang, "msg.terminal_bad_date", &[("text", text)]),
        F::TerminalGone(id) => trf(lang, "msg.terminal_gone", &[("id", &id.to_string())]),
        F::NoLine(id) => trf(lang, "msg.line_gone", &[("id", &id.to_string())]),
        F::DoorGone { terminal_id, door } => trf(
            lang,
            "door.error.gone",
            &[
                ("terminal", &terminal_id.to_string()),
                ("door", &door.to_string()),
            ],
        ),
        F::DoorInvalid {
            field,
            value,
            problem,
        } => trf(
            lang,
            "door.error.invalid",
            &[
                ("field", door_field(lang, *field)),
                ("value", value),
                ("problem", &door_problem(lang, problem)),
            ],
        ),
        F::DoorUnknown(text) => trf(lang, "door.error.unknown", &[("text", text)]),
        F::DoorAmbiguous { text, candidates } => trf(
            lang,
            "door.error.ambiguous",
            &[("text", text), ("candidates", &candidates.join(", "))],
        ),
        F::PurgeInsideRetention {
            retention_days,
            latest,
        } => trf(
            lang,
            "door.error.inside_retention",
            &[("days", &retention_days.to_string()), ("latest", latest)],
        ),
        F::ImportRows { path, rows } => {
            let first = rows
                .iter()
                .take(3)
                .map(|r| import_row(lang, r))
                .collect::<Vec<_>>()
                .join(tr(lang, "import.separator"));
            trf(
                lang,
                "import.bad_rows",
                &[
                    ("path", path),
                    ("n", &rows.len().to_string()),
                    ("first", &first),
                ],
            )
        }
        F::AuditBroken { id, edited } => trf(
            lang,
            "msg.audit_broken",
            &[
                ("id", &id.to_string()),
                (
                    "reason",
                    tr(
                        lang,
                        if *edited {
                            "msg.audit_edited"
                        } else {
                            "msg.audit_unlinked"
                        },
                    ),
                ),
            ],
        ),
        F::Patrol(why) => patrol_refusal(lang, why),
        F::Attendance(why) => attendance_refusal(lang, why),
        F::PunchFile {
            path,
            line,
            problem,
        } => trf(
            lang,
            "punch_import.error.file",
            &[
                ("path", path),
                ("line", &line.to_string()),
                ("why", &punch_problem(lang, problem)),
            ],
        ),
        F::BadPeriod(text) => trf(lang, "settletab.refusal.bad_period", &[("text", text)]),
        F::PeriodNotEnded { period, ends } => trf(
            lang,
            "settle.refusal.not_ended",
            &[
                ("period", period),
                ("ends", &crate::export::local_time(*ends)),
            ],
        ),
        F::PeriodOverlaps {
            merchant,
            period,
            settled,
        } => trf(
            lang,
            "settle.refusal.overlaps",
            &[
                ("merchant", merchant),
                ("period", period),
                ("settled", settled),
            ],
        ),
        F::PeriodSettled { period, merchants } => trf(
            lang,
            "settletab.refusal.settled",
            &[("period", period), ("n", &merchants.to_string())],
        ),
        F::MerchantNameEmpty => tr(lang, "merchant.refusal.name_empty").to_string(),
        F::MerchantNameTaken(name) => trf(lang, "merchant.refusal.name_taken", &[("name", name)]),
        F::MerchantBadRate(rate) => trf(lang, "merchant.refusal.bad_rate", &[("rate", rate)]),
        F::MerchantNotFound(name) => trf(lang, "merchant.refusal.not_found", &[("name", name)]),
        F::MerchantState {
            name,
            state,
            wanted,
        } => trf(
            lang,
            "merchant.refusal.wrong_state",
            &[
                ("name", name),
                ("state", &merchant_state(lang, state)),
                ("wanted", &merchant_state(lang, wanted)),
            ],
        ),
        F::MerchantNoSuchPos(t) => trf(lang, "merchant.refusal.no_such_pos", &[("terminal", t)]),
        F::MerchantPosOwned { terminal, owner } => trf(
            lang,
            "merchant.refusal.owned_elsewhere",
            &[("terminal", terminal), ("owner", owner)],
        ),
        F::Invalid(key) => tr(lang, key).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(2321), "2,321");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(-1234), "-1,234");
    }
}
