//! Doors: their names, modes, events, refusals, and the records sub-view's texts.

use super::*;

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

/// What a door event says, cell by cell: door, controller, person, department, card, kind
/// with the way it was read (in, out), "late" when a controller that was offline replayed it,
/// and "clock invalid" when the controller's clock that stamped it was not valid.
pub fn door_event_cells(lang: Lang, e: &crate::db::door::DoorEvent) -> Vec<String> {
    vec![
        door_label(lang, &e.door_name, &e.controller, e.door),
        e.controller.clone(),
        e.person_name.clone().unwrap_or_default(),
        e.department.clone().unwrap_or_default(),
        e.card.map(|c| c.to_string()).unwrap_or_default(),
        match e.direction.as_deref() {
            Some(d @ ("in" | "out")) => format!(
                "{} · {}",
                door_event(lang, &e.kind, e.granted, e.reason),
                tr(lang, &format!("door.direction.{d}"))
            ),
            _ => door_event(lang, &e.kind, e.granted, e.reason),
        },
        [
            (e.late, "door.feed.late"),
            (e.clock_invalid, "door.feed.clock_invalid"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, key)| tr(lang, key))
        .collect::<Vec<_>>()
        .join(" · "),
    ]
}
