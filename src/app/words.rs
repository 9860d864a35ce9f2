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
use rust_decimal::Decimal;

/// A catalogued name (`<section>.<name>`); an unknown name (from a newer onecard) as stored.
pub fn catalogued(lang: Lang, section: &str, name: &str) -> String {
    let key = format!("{section}.{name}");
    if has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        name.to_string()
    }
}

/// "¥12.50": an amount always with two decimals.
pub fn money(d: Decimal) -> String {
    format!("¥{:.2}", d.round_dp(2))
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

// ---- Doors ------------------------------------------------------------------------------------

/// A door's name, or "<controller> door N" while nobody named it.
pub fn door_label(lang: Lang, name: &str, controller: &str, door: i16) -> String {
    if name.is_empty() {
        trf(
            lang,
            "door.unnamed",
            &[("controller", controller), ("door", &door.to_string())],
        )
    } else {
        name.to_string()
    }
}

pub fn door_mode(lang: Lang, mode: &str) -> String {
    catalogued(lang, "door.mode", mode)
}

/// A door event's kind alone, without its reason (a door's last event in the tree).
pub fn door_event_kind(lang: Lang, kind: &str) -> String {
    catalogued(lang, "door.event", kind)
}

/// A door event's kind in words ("granted", "denied: not in the time profile" ...).
pub fn door_event(lang: Lang, kind: &str, granted: bool, reason: i16) -> String {
    if kind == "denied" || (kind == "granted" && !granted) {
        let why = catalogued(lang, "door.reason", &reason.to_string());
        let why = if why == reason.to_string() {
            trf(lang, "door.reason.other", &[("code", &why)])
        } else {
            why
        };
        return trf(lang, "door.event.denied_because", &[("why", &why)]);
    }
    catalogued(lang, "door.event", kind)
}

/// The value a door refusal is about.
pub fn door_field(lang: Lang, f: crate::db::door::Field) -> &'static str {
    use crate::db::door::Field;
    tr(
        lang,
        match f {
            Field::Name => "door.field.name",
            Field::Location => "door.field.location",
            Field::UnlockSecs => "door.field.unlock_secs",
            Field::RetentionDays => "door.field.retention_days",
            Field::Department => "door.field.department",
        },
    )
}

/// What is wrong with a door value.
pub fn door_problem(lang: Lang, p: &crate::db::door::Problem) -> String {
    use crate::db::door::Problem;
    match p {
        Problem::TooLong { max } => {
            trf(lang, "door.problem.too_long", &[("max", &max.to_string())])
        }
        Problem::OutOfRange { min, max } => trf(
            lang,
            "door.problem.out_of_range",
            &[("min", &min.to_string()), ("max", &max.to_string())],
        ),
        Problem::Unknown => tr(lang, "door.problem.unknown").to_string(),
        Problem::Ambiguous { candidates } => trf(
            lang,
            "door.problem.ambiguous",
            &[("candidates", &candidates.join(", "))],
        ),
    }
}

/// A column of a person file, as the operator's language names it in a header.
pub fn import_column(lang: Lang, c: crate::import::Column) -> &'static str {
    tr(lang, &format!("import.column.{}", c.name()))
}

/// A person's field refused: "person_no is empty", "学号为空".
pub fn field_problem(lang: Lang, p: &crate::db::person::FieldProblem) -> String {
    use crate::db::person::FieldProblem as P;
    match p {
        P::PersonNoEmpty => tr(lang, "import.problem.person_no_empty").to_string(),
        P::PersonNoTooLong { text, max } => trf(
            lang,
            "import.problem.person_no_too_long",
            &[("text", text), ("max", &max.to_string())],
        ),
        P::PersonNoSpace { text } => trf(lang, "import.problem.person_no_space", &[("text", text)]),
        P::NameEmpty => tr(lang, "import.problem.name_empty").to_string(),
        P::NameTooLong { text, max } => trf(
            lang,
            "import.problem.name_too_long",
            &[("text", text), ("max", &max.to_string())],
        ),
        P::NameControl { text } => trf(lang, "import.problem.name_control", &[("text", text)]),
        P::IdDocumentTooLong { max } => trf(
            lang,
            "import.problem.id_document_too_long",
            &[("max", &max.to_string())],
        ),
        P::IdDocumentControl => tr(lang, "import.problem.id_document_control").to_string(),
    }
}

/// Why an import refuses a row, the header or the file, in the operator's language.
pub fn row_problem(lang: Lang, p: &crate::import::RowProblem) -> String {
    use crate::import::RowProblem as P;
    let key = |k: &str| tr(lang, &format!("import.problem.{k}")).to_string();
    let with = |k: &str, args: &[(&str, &str)]| trf(lang, &format!("import.problem.{k}"), args);
    match p {
        P::CutMidCharacter => key("cut_mid_character"),
        P::Gbk => key("gbk"),
        P::NotUtf8 { byte } => with("not_utf8", &[("byte", &byte.to_string())]),
        P::HeaderUnreadable { .. } => key("header_unreadable"),
        P::Unreadable { .. } => key("unreadable"),
        P::HeaderEmpty => key("header_empty"),
        P::DuplicateColumn {
            column,
            first,
            second,
            first_text,
            second_text,
        } => with(
            "duplicate_column",
            &[
                ("column", import_column(lang, *column)),
                ("first", &first.to_string()),
                ("second", &second.to_string()),
                ("first_text", first_text),
                ("second_text", second_text),
            ],
        ),
        P::MissingColumns(columns) => with(
            "missing_columns",
            &[(
                "columns",
                &columns
                    .iter()
                    .map(|c| import_column(lang, *c))
                    .collect::<Vec<_>>()
                    .join(tr(lang, "import.column_separator")),
            )],
        ),
        P::NoRows => key("no_rows"),
        P::UnclosedQuote => key("unclosed_quote"),
        P::FieldCount {
            fields,
            header,
            cut_short,
        } => with(
            if *cut_short {
                "field_count_cut_short"
            } else {
                "field_count"
            },
            &[
                ("fields", &fields.to_string()),
                ("header", &header.to_string()),
            ],
        ),
        P::Field(f) => field_problem(lang, f),
        P::DepartmentEmpty => key("department_empty"),
        P::DepartmentInvalid { text } => with(
            "department_invalid",
            &[
                ("text", text),
                ("max", &crate::import::DEPARTMENT_MAX.to_string()),
            ],
        ),
        P::CategoryEmpty => key("category_empty"),
        P::CategoryUnknown { text } => with("category_unknown", &[("text", text)]),
        P::StatusUnknown { text } => with("status_unknown", &[("text", text)]),
        P::DuplicatePersonNo { person_no, line } => with(
            "duplicate_person_no",
            &[("person_no", person_no), ("line", &line.to_string())],
        ),
        P::UnknownDepartment { text, closest } => match closest {
            None => with("unknown_department", &[("text", text)]),
            Some((name, None)) => {
                with("unknown_department_like", &[("text", text), ("name", name)])
            }
            Some((name, Some(code))) => with(
                "unknown_department_like_code",
                &[("text", text), ("name", name), ("code", code)],
            ),
        },
        P::AmbiguousDepartment { text, codes } => with(
            "ambiguous_department",
            &[
                ("n", &codes.len().to_string()),
                ("text", text),
                ("codes", &codes.join(", ")),
            ],
        ),
        P::NoCardOrPersonColumn => key("no_card_or_person_column"),
        P::CardAndPerson => key("card_and_person"),
        P::NoCardNorPerson => key("no_card_nor_person"),
        P::NotACardNo { text } => with("not_a_card_no", &[("text", text)]),
        P::NoCard { card_no } => with("no_card", &[("card_no", &card_no.to_string())]),
        P::NoPerson { person_no } => with("no_person", &[("person_no", person_no)]),
        P::NoCardInService { person_no } => with("no_card_in_service", &[("person_no", person_no)]),
        P::SameCard { line } => with("same_card", &[("line", &line.to_string())]),
        P::CardRefused(r) => {
            let card = r
                .card_no
                .map_or_else(|| format!("#{}", r.card_id), |n| n.to_string());
            let why = failure(lang, &Failure::from(r.why.clone()));
            with("card_refused", &[("card", &card), ("why", &why)])
        }
    }
}

/// One bad row of an import: "第 7 行：部门为空；类别为空（教职工、学生或其他）".
pub fn import_row(lang: Lang, row: &crate::import::RowError) -> String {
    let why = row
        .problems
        .iter()
        .map(|p| row_problem(lang, p))
        .collect::<Vec<_>>()
        .join(tr(lang, "import.separator"));
    trf(
        lang,
        "import.row",
        &[("line", &row.line.to_string()), ("why", &why)],
    )
}

/// A page of door records: "200 of 2,321" on the first page, "201–400 of 2,321" after it.
pub fn records_range(lang: Lang, offset: i64, shown: usize, total: u64) -> String {
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    if offset <= 0 {
        return shown_of(lang, shown, total);
    }
    let last = offset + shown as i64;
    trf(
        lang,
        "door.records.range",
        &[
            ("first", &count((offset + 1).min(last))),
            ("last", &count(last)),
            ("total", &count(total)),
        ],
    )
}

/// What a door records query asks, in words: "from 2026-11-20 · person 张三 · openings only".
pub fn records_query(lang: Lang, q: &crate::db::door::EventQuery, door: &str) -> String {
    let time = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    let mut parts = Vec::new();
    let mut part = |key: &str, value: &str| {
        parts.push(trf(lang, &format!("door.records.q.{key}"), &[("v", value)]));
    };
    if let Some(t) = q.from {
        part("from", &time(t));
    }
    if let Some(t) = q.to {
        part("to", &time(t));
    }
    if let Some(p) = q.person.as_deref().filter(|s| !s.is_empty()) {
        part("person", p);
    }
    if let Some(c) = q.card {
        part("card", &c.to_string());
    }
    if let Some(d) = q.department.as_deref().filter(|s| !s.is_empty()) {
        part("department", d);
    }
    if q.terminal_id.is_some() {
        part("door", door);
    }
    match q.granted {
        Some(true) => part("granted", ""),
        Some(false) => part("refused", ""),
        None => {}
    }
    if q.lost_cards {
        part("lost", "");
    }
    if parts.is_empty() {
        return tr(lang, "door.records.q.all").to_string();
    }
    parts.join(" · ")
}

// ---- Terminals --------------------------------------------------------------------------------

/// A terminal's kind in words; an unknown kind as stored.
pub fn terminal_kind(lang: Lang, kind: &str) -> String {
    catalogued(lang, "terminal.kind", kind)
}

/// A terminal's status in words; an unknown status as stored.
pub fn terminal_status(lang: Lang, status: &str) -> String {
    catalogued(lang, "terminal.status", status)
}

pub fn command_state(lang: Lang, state: &str) -> String {
    catalogued(lang, "command.state", state)
}

/// The words for a command to a terminal ("online test", "remote open, door 2").
pub fn command(lang: Lang, cmd: &TerminalCommand) -> String {
    let key = match cmd {
        TerminalCommand::OpenDoor { .. } => "open_door",
        TerminalCommand::SetTime => "set_time",
        TerminalCommand::ClearRecords => "clear_records",
        TerminalCommand::OnlineTest => "online_test",
        TerminalCommand::SetDoorMode { .. } => "set_door_mode",
        TerminalCommand::PushCards { .. } => "push_cards",
        TerminalCommand::RevokeCards { .. } => "revoke_cards",
        TerminalCommand::PushBlacklist { .. } => "push_blacklist",
        TerminalCommand::Extract => "extract",
        TerminalCommand::DownloadCards => "download_cards",
    };
    let label = tr(lang, &format!("command.name.{key}"));
    match cmd {
        TerminalCommand::OpenDoor { door } | TerminalCommand::SetDoorMode { door, .. } => trf(
            lang,
            "command.door",
            &[("what", label), ("door", &door.to_string())],
        ),
        _ => label.to_string(),
    }
}

/// A traced frame's note: "connect", or "1200 bytes, first 256 shown" for a long one. The
/// poller writes them in a fixed form; anything else is shown as written.
pub fn trace_note(lang: Lang, note: &str) -> String {
    if note == "connect" {
        return tr(lang, "trace.connect").to_string();
    }
    let numbers: Vec<&str> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    if note.ends_with("shown") && numbers.len() == 2 {
        return trf(
            lang,
            "trace.cut",
            &[("bytes", numbers[0]), ("shown", numbers[1])],
        );
    }
    note.to_string()
}

/// What a finished command did, or why it failed; how far a running one has come; "—" when
/// it says nothing. An outcome this onecard cannot read is shown as the poller wrote it.
pub fn command_result(lang: Lang, row: &crate::db::command::CommandRow) -> String {
    match (&row.outcome, row.progress) {
        (Some(Ok(o)), _) => command_outcome(lang, o),
        (Some(Err(f)), _) => command_failure(lang, f),
        (None, Some(p)) if row.state == "running" => trf(
            lang,
            "command.progress",
            &[("done", &count(p.done)), ("total", &count(p.total))],
        ),
        (None, _) => row.result.clone().unwrap_or_else(|| "—".to_string()),
    }
}

pub fn command_outcome(lang: Lang, o: &crate::db::command::CommandOutcome) -> String {
    use crate::db::command::CommandOutcome as O;
    let k = |key: &str| format!("command.outcome.{key}");
    match o {
        O::DoorOpened { door } => trf(lang, &k("door_opened"), &[("door", &door.to_string())]),
        O::ClockSet { to } => trf(
            lang,
            &k("clock_set"),
            &[("to", &to.format("%Y-%m-%d %H:%M:%S").to_string())],
        ),
        O::Online {
            firmware,
            records_held,
            rtt_ms,
            ..
        } => {
            let mut text = trf(
                lang,
                &k("online"),
                &[("firmware", firmware), ("rtt", &rtt_ms.to_string())],
            );
            if let Some(n) = records_held.filter(|n| *n > 0) {
                text.push_str(&trf(lang, &k("online_held"), &[("n", &count(n))]));
            }
            text
        }
        O::DoorModeSet {
            door,
            mode,
            unlock_secs,
        } => trf(
            lang,
            &k("door_mode_set"),
            &[
                ("door", &door.to_string()),
                ("mode", &door_mode(lang, mode.name())),
                ("secs", &unlock_secs.to_string()),
            ],
        ),
        O::CardsWritten { written, of } => trf(
            lang,
            &k("cards_written"),
            &[("written", &written.to_string()), ("of", &of.to_string())],
        ),
        O::CardsRemoved { removed, absent } => trf(
            lang,
            &k("cards_removed"),
            &[
                ("removed", &removed.to_string()),
                ("absent", &absent.to_string()),
            ],
        ),
        O::BlacklistInstalled { cards } => trf(
            lang,
            &k("blacklist_installed"),
            &[("cards", &cards.to_string())],
        ),
        O::Extracted { records, millis } => trf(
            lang,
            &k("extracted"),
            &[
                ("records", &count(*records)),
                ("secs", &format!("{:.1}", *millis as f64 / 1000.0)),
            ],
        ),
        O::RecordsCleared { stored } => {
            trf(lang, &k("records_cleared"), &[("stored", &count(*stored))])
        }
        O::RecordsMarkedCollected { stored, up_to } => trf(
            lang,
            &k("records_marked"),
            &[("stored", &count(*stored)), ("up_to", &up_to.to_string())],
        ),
        O::CardsDownloaded {
            written,
            unchanged,
            removed,
        } => trf(
            lang,
            &k("cards_downloaded"),
            &[
                ("written", &written.to_string()),
                ("unchanged", &unchanged.to_string()),
                ("removed", &removed.to_string()),
            ],
        ),
        O::Superseded { by } => trf(lang, &k("superseded"), &[("by", &by.to_string())]),
    }
}

pub fn command_failure(lang: Lang, f: &crate::db::command::CommandFailure) -> String {
    use crate::db::command::CommandFailure as F;
    let k = |key: &str| format!("command.failure.{key}");
    match f {
        F::NoAnswer => tr(lang, &k("no_answer")).to_string(),
        F::Garbled => tr(lang, &k("garbled")).to_string(),
        F::Refused { what } => trf(
            lang,
            &k("refused"),
            &[("what", &command_refusal(lang, what))],
        ),
        F::Device { text } => trf(lang, &k("device"), &[("text", text)]),
        F::Unsupported { what } => trf(
            lang,
            &k("unsupported"),
            &[(
                "what",
                tr(lang, &format!("command.feature.{}", feature_name(*what))),
            )],
        ),
        F::NotOnLine => tr(lang, &k("not_on_line")).to_string(),
        F::Deadline { secs } => trf(lang, &k("deadline"), &[("secs", &secs.to_string())]),
        F::RecordsNotStored { waiting } => trf(
            lang,
            &k("records_not_stored"),
            &[("waiting", &count(*waiting))],
        ),
        F::BadAddress { address } => trf(
            lang,
            &k("bad_address"),
            &[("address", &address.to_string())],
        ),
        F::Database => tr(lang, &k("database")).to_string(),
        F::Interrupted => tr(lang, &k("interrupted")).to_string(),
    }
}

fn command_refusal(lang: Lang, r: &crate::db::command::Refusal) -> String {
    use crate::db::command::Refusal as R;
    let k = |key: &str| format!("command.refusal.{key}");
    match r {
        R::OpenDoor { door } => trf(lang, &k("open_door"), &[("door", &door.to_string())]),
        R::DoorMode {
            door,
            mode,
            unlock_secs,
        } => trf(
            lang,
            &k("door_mode"),
            &[
                ("door", &door.to_string()),
                (
                    "mode",
                    &mode.map_or_else(
                        || tr(lang, &k("mode_unknown")).to_string(),
                        |m| door_mode(lang, m.name()),
                    ),
                ),
                ("secs", &unlock_secs.to_string()),
            ],
        ),
        R::Card { card, written, of } => trf(
            lang,
            &k("card"),
            &[
                ("card", &card.to_string()),
                ("written", &written.to_string()),
                ("of", &of.to_string()),
            ],
        ),
        R::Clock => tr(lang, &k("clock")).to_string(),
        R::EventIndex { index } => trf(lang, &k("event_index"), &[("index", &index.to_string())]),
        R::UsersFull => tr(lang, &k("users_full")).to_string(),
    }
}

fn feature_name(f: crate::db::command::Feature) -> &'static str {
    use crate::db::command::Feature;
    match f {
        Feature::Door => "door",
        Feature::DoorModes => "door_modes",
        Feature::CardList => "card_list",
        Feature::Blacklist => "blacklist",
        Feature::CardRemoval => "card_removal",
        Feature::Download => "download",
        Feature::Records => "records",
    }
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

// ---- Person import ----------------------------------------------------------------------------

/// A person field's name ("department", "部门").
pub fn person_field(lang: Lang, f: PersonField) -> &'static str {
    tr(lang, &format!("person.field.{}", f.name()))
}

/// A field's value as the operator reads it: a category or status in words, "(none)" for empty.
fn person_value(lang: Lang, f: PersonField, v: &str) -> String {
    if v.is_empty() {
        return tr(lang, "person.field.none").to_string();
    }
    match f {
        PersonField::Category => category(lang, v),
        PersonField::Status => catalogued(lang, "person.status", v),
        PersonField::Name | PersonField::Department | PersonField::IdDocument => v.to_string(),
    }
}

/// "department: 计算机学院 → 图书馆"
pub fn field_change(lang: Lang, c: &FieldChange) -> String {
    trf(
        lang,
        "card.import.change",
        &[
            ("field", person_field(lang, c.field)),
            ("old", &person_value(lang, c.field, &c.old)),
            ("new", &person_value(lang, c.field, &c.new)),
        ],
    )
}

/// One line of what an import changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportLine {
    /// "New people (2)"
    Heading(String),
    /// A person or a department.
    Item(String),
    /// A field of the person above that changes.
    Change(String),
}

impl ImportLine {
    pub fn text(&self) -> &str {
        match self {
            ImportLine::Heading(t) | ImportLine::Item(t) | ImportLine::Change(t) => t,
        }
    }
}

/// Everything an import adds or changes, person by person: new people (number, name,
/// department), updated people with each field "old → new", departments created, and people
/// marked left who still hold a card.
pub fn import_changes(lang: Lang, s: &Summary) -> Vec<ImportLine> {
    let mut out = Vec::new();
    let heading =
        |key: &str, n: usize| ImportLine::Heading(trf(lang, key, &[("n", &count(n as i64))]));
    if !s.new_persons.is_empty() {
        out.push(heading("card.import.new_people", s.new_persons.len()));
        for p in &s.new_persons {
            let mut dept = p.department.clone();
            if p.new_department {
                dept.push_str(tr(lang, "card.import.dept_is_new"));
            }
            out.push(ImportLine::Item(format!(
                "{}  {}  {}  {}",
                p.person_no,
                p.name,
                dept,
                category(lang, p.category.name())
            )));
        }
    }
    if !s.updated_persons.is_empty() {
        out.push(heading(
            "card.import.updated_people",
            s.updated_persons.len(),
        ));
        for p in &s.updated_persons {
            out.push(ImportLine::Item(format!("{}  {}", p.person_no, p.name)));
            out.extend(
                p.fields
                    .iter()
                    .map(|c| ImportLine::Change(field_change(lang, c))),
            );
        }
    }
    if !s.departments_created.is_empty() {
        out.push(heading(
            "card.import.new_departments",
            s.departments_created.len(),
        ));
        out.extend(s.departments_created.iter().cloned().map(ImportLine::Item));
    }
    if !s.left_holding.is_empty() {
        out.push(heading("card.import.left_people", s.left_holding.len()));
        for l in &s.left_holding {
            out.push(ImportLine::Item(trf(
                lang,
                "card.import.left_card",
                &[
                    ("no", &l.person_no),
                    ("name", &l.name),
                    ("card", &l.card_no.to_string()),
                    ("state", &catalogued(lang, "card.state", &l.card_state)),
                ],
            )));
        }
    }
    out
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
            &[("balance", &money(*balance)), ("needed", &money(*needed))],
        ),
        F::BadAmount(a) => trf(lang, "card.error.bad_amount", &[("amount", &money(*a))]),
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

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(Decimal::ZERO), "¥0.00");
        assert_eq!(money(Decimal::new(125, 1)), "¥12.50");
    }
}
