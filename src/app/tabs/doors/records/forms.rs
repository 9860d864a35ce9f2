//! The records sub-view's popups: the query form, the export's file name, the purge's cut-off.
//! Each checks what the console can check, so the database is asked only sensible questions.

use super::{Effect, PurgeView, Step, PAGE};
use crate::app::form::{Field, FieldId, Form, Input, Opt};
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::door::{EventQuery, PurgePreview};
use crate::i18n::{tr, trf, Lang};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordField {
    From,
    To,
    Person,
    Card,
    Department,
    Door,
    Granted,
    LostOnly,
    Path,
    Cutoff,
}

impl FieldId for RecordField {
    fn label(self) -> &'static str {
        match self {
            RecordField::From => "door.records.field.from",
            RecordField::To => "door.records.field.to",
            RecordField::Person => "door.records.field.person",
            RecordField::Card => "door.records.field.card",
            RecordField::Department => "door.records.field.department",
            RecordField::Door => "door.records.field.door",
            RecordField::Granted => "door.records.field.granted",
            RecordField::LostOnly => "door.records.field.lost_only",
            RecordField::Path => "door.records.field.path",
            RecordField::Cutoff => "door.records.field.cutoff",
        }
    }
}

/// Text that is not a date or date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotATime;

/// A local date or date-time as typed: "2026-11-20", "2026-11-20 08:30" or with seconds.
/// A date alone is the day's start, or with `end` the next day's start (the day included,
/// since a query's `to` is exclusive). "" is none.
pub fn parse_time(text: &str, end: bool) -> Result<Option<NaiveDateTime>, NotATime> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t));
        }
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| NotATime)?;
    let start = day.and_time(NaiveTime::MIN);
    Ok(Some(if end {
        start + Duration::days(1)
    } else {
        start
    }))
}

/// A query time as the form shows it again: a day's start as the date alone (`to`: the day
/// before it, as it was typed).
fn time_field(t: Option<NaiveDateTime>, end: bool) -> String {
    match t {
        None => String::new(),
        Some(t) if t.time() == NaiveTime::MIN => {
            let day = if end { t - Duration::days(1) } else { t };
            day.format("%Y-%m-%d").to_string()
        }
        Some(t) if t.format("%S").to_string() == "00" => t.format("%Y-%m-%d %H:%M").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// A moment as the operator reads and types it: local "2026-08-22 14:05".
pub fn time_text(sh: &Shell, t: DateTime<Utc>) -> String {
    t.with_timezone(&sh.utc_offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn query_form(sh: &Shell, q: &EventQuery, door_text: &str) -> Form<RecordField> {
    let lang = sh.lang;
    let opt = |value: &str, key: &str| Opt::new(value, tr(lang, key));
    let granted = match q.granted {
        None => "all",
        Some(true) => "granted",
        Some(false) => "refused",
    };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    Form::new(
        tr(lang, "door.records.form.query").to_string(),
        vec![
            Field::text(RecordField::From, &time_field(q.from, false)),
            Field::text(RecordField::To, &time_field(q.to, true)),
            Field::text(RecordField::Person, &text(&q.person)),
            Field::text(
                RecordField::Card,
                &q.card.map(|c| c.to_string()).unwrap_or_default(),
            ),
            Field::text(RecordField::Department, &text(&q.department)),
            Field::text(
                RecordField::Door,
                if q.terminal_id.is_some() {
                    door_text
                } else {
                    ""
                },
            ),
            Field::with(
                RecordField::Granted,
                Input::choice(
                    vec![
                        opt("all", "door.records.granted.all"),
                        opt("granted", "door.records.granted.granted"),
                        opt("refused", "door.records.granted.refused"),
                    ],
                    granted,
                ),
            ),
            Field::with(
                RecordField::LostOnly,
                Input::choice(
                    vec![
                        opt("no", "door.records.lost.no"),
                        opt("yes", "door.records.lost.yes"),
                    ],
                    if q.lost_cards { "yes" } else { "no" },
                ),
            ),
        ],
    )
    .with_intro(vec![tr(lang, "door.records.form.query_intro").to_string()])
}

/// The query typed, checked: the effect asking for its first page, or the field at fault.
pub fn submit_query(sh: &mut Shell, form: &mut Form<RecordField>) -> Vec<Effect> {
    let lang = sh.lang;
    let fault = |form: &mut Form<RecordField>, field: RecordField, key: &str| {
        form.focus_on(field);
        form.error = Some(trf(lang, key, &[("text", form.text(field))]));
        vec![]
    };
    let Ok(from) = parse_time(form.text(RecordField::From), false) else {
        return fault(form, RecordField::From, "door.records.error.time");
    };
    let Ok(to) = parse_time(form.text(RecordField::To), true) else {
        return fault(form, RecordField::To, "door.records.error.time");
    };
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return fault(form, RecordField::To, "door.records.error.range");
        }
    }
    let card = match form.text(RecordField::Card) {
        "" => None,
        c => match c.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return fault(form, RecordField::Card, "door.records.error.card"),
        },
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let query = EventQuery {
        from,
        to,
        person: some(form.text(RecordField::Person)),
        card,
        department: some(form.text(RecordField::Department)),
        terminal_id: None,
        door: None,
        granted: match form.choice(RecordField::Granted) {
            "granted" => Some(true),
            "refused" => Some(false),
            _ => None,
        },
        lost_cards: form.choice(RecordField::LostOnly) == "yes",
        offset: 0,
        limit: PAGE,
    };
    form.error = None;
    form.busy = true;
    vec![Effect::Query {
        gen: sh.next_gen(),
        query,
        door: form.text(RecordField::Door).to_string(),
    }]
}

/// The export's file: a name of now, in the console's working directory.
pub fn export_form(sh: &Shell) -> Form<RecordField> {
    let lang = sh.lang;
    let name = format!(
        "door-events-{}.csv",
        sh.now.with_timezone(&sh.utc_offset).format("%Y%m%d-%H%M")
    );
    Form::new(
        tr(lang, "door.records.form.export").to_string(),
        vec![Field::text(RecordField::Path, &name)],
    )
    .with_intro(vec![tr(lang, "door.records.form.export_intro").to_string()])
}

pub fn submit_export(sh: &mut Shell, q: &EventQuery, form: &mut Form<RecordField>) -> Vec<Effect> {
    let path = form.text(RecordField::Path).to_string();
    if path.is_empty() {
        form.error = Some(tr(sh.lang, "door.records.error.path").to_string());
        return vec![];
    }
    form.error = None;
    form.busy = true;
    vec![Effect::Export {
        query: EventQuery {
            offset: 0,
            ..q.clone()
        },
        path,
        overwrite: false,
    }]
}

/// The purge popup while the database is asked what the default cut-off deletes.
pub fn purge_view(sh: &Shell) -> PurgeView {
    let mut form = Form::new(
        tr(sh.lang, "door.records.form.purge").to_string(),
        vec![Field::text(RecordField::Cutoff, "")],
    )
    .with_intro(vec![tr(sh.lang, "door.records.purge.reading").to_string()]);
    form.busy = true;
    PurgeView {
        form,
        preview: None,
        shown: String::new(),
        progress: None,
    }
}

/// The database's answer: the retention period, and what this cut-off deletes.
pub fn previewed(p: &mut PurgeView, sh: &Shell, preview: PurgePreview) {
    let lang = sh.lang;
    p.shown = time_text(sh, preview.cutoff);
    p.form.set_text(RecordField::Cutoff, &p.shown);
    p.form.busy = false;
    p.preview = Some(preview);
    let mut intro = vec![
        trf(
            lang,
            "door.records.purge.retention",
            &[("days", &preview.retention_days.to_string())],
        ),
        trf(
            lang,
            "door.records.purge.preview",
            &[
                ("n", &words::count(preview.rows as i64)),
                ("cutoff", &p.shown),
            ],
        ),
    ];
    if preview.inside_retention() {
        intro.push(trf(
            lang,
            "door.records.purge.inside",
            &[("days", &preview.retention_days.to_string())],
        ));
    }
    p.form.intro = intro;
}

pub fn progress_text(lang: Lang, done: u64, total: u64) -> String {
    trf(
        lang,
        "door.records.purge.progress",
        &[
            ("done", &words::count(done as i64)),
            ("total", &words::count(total as i64)),
        ],
    )
}

/// What enter in the purge popup leads to.
pub enum PurgeNext {
    Nothing,
    /// Another cut-off was typed: ask what it deletes first.
    Preview(DateTime<Utc>),
    Ask(String, Box<Step>),
}

pub fn submit_purge(sh: &mut Shell, p: &mut PurgeView) -> PurgeNext {
    let lang = sh.lang;
    let Some(preview) = p.preview else {
        return PurgeNext::Nothing;
    };
    let typed = p.form.text(RecordField::Cutoff).to_string();
    if typed != p.shown {
        let cutoff = parse_time(&typed, false)
            .ok()
            .flatten()
            .and_then(|t| t.and_local_timezone(sh.utc_offset).single())
            .map(|t| t.with_timezone(&Utc));
        return match cutoff {
            Some(c) => {
                p.form.error = None;
                p.form.busy = true;
                PurgeNext::Preview(c)
            }
            None => {
                p.form.error = Some(trf(lang, "door.records.error.time", &[("text", &typed)]));
                PurgeNext::Nothing
            }
        };
    }
    if preview.rows == 0 {
        p.form.error = Some(tr(lang, "door.records.purge.nothing").to_string());
        return PurgeNext::Nothing;
    }
    let n = words::count(preview.rows as i64);
    let question = trf(
        lang,
        "door.records.confirm.purge",
        &[("n", &n), ("cutoff", &p.shown)],
    );
    let step = if preview.inside_retention() {
        // Younger records than the retention period keeps: a second, explicit yes.
        Step::Again {
            question: trf(
                lang,
                "door.records.confirm.purge_force",
                &[
                    ("days", &preview.retention_days.to_string()),
                    ("cutoff", &p.shown),
                ],
            ),
            effect: Effect::Purge {
                cutoff: preview.cutoff,
                force: true,
            },
        }
    } else {
        Step::Run(Effect::Purge {
            cutoff: preview.cutoff,
            force: false,
        })
    };
    PurgeNext::Ask(question, Box::new(step))
}
