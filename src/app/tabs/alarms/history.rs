//! The Alarms view's history: closed alarms, newest first, a page at a time, narrowed by a
//! small form (dates, kind, door). Read only: what is closed is not handled again.

use super::Effect;
use crate::app::form::{Field, FieldId, Form, FormKey, Input, Opt};
use crate::app::load::Shown;
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::alarm::{Alarm, AlarmHistoryQuery, AlarmPage};
use crate::domain::alarm::AlarmKind;
use crate::i18n::{tr, trf, Lang};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use crossterm::event::KeyEvent;

/// Rows read at a time.
pub const PAGE: i64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryField {
    From,
    To,
    Kind,
    Door,
}

impl FieldId for HistoryField {
    fn label(self) -> &'static str {
        match self {
            HistoryField::From => "alarm.history.from",
            HistoryField::To => "alarm.history.to",
            HistoryField::Kind => "alarm.history.kind",
            HistoryField::Door => "alarm.history.door",
        }
    }
}

/// What the history is narrowed to. Dates are local and inclusive; the door is a door's name
/// or `<controller>/<n>`, found when the history is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub kind: Option<AlarmKind>,
    pub door: String,
}

impl HistoryFilter {
    pub fn is_empty(&self) -> bool {
        *self == HistoryFilter::default()
    }

    /// The query for rows `offset..offset + limit`, with local days turned into instants; the
    /// door is left to the reader (it names it by text).
    pub fn query(&self, utc_offset: FixedOffset, offset: i64, limit: i64) -> AlarmHistoryQuery {
        let start = |d: NaiveDate| -> Option<DateTime<Utc>> {
            let midnight = d.and_hms_opt(0, 0, 0)?;
            utc_offset
                .from_local_datetime(&midnight)
                .single()
                .map(|t| t.with_timezone(&Utc))
        };
        AlarmHistoryQuery {
            from: self.from.and_then(start),
            // Inclusive: up to the start of the day after.
            to: self.to.and_then(|d| d.succ_opt()).and_then(start),
            kind: self.kind,
            terminal_id: None,
            door: None,
            offset,
            limit,
        }
    }

    /// In words, for the list's title: "2026-03-01 – 2026-03-31 · forced open · 东门".
    pub fn describe(&self, lang: Lang) -> String {
        let mut parts = Vec::new();
        match (self.from, self.to) {
            (Some(f), Some(t)) => parts.push(format!("{f} – {t}")),
            (Some(f), None) => parts.push(trf(
                lang,
                "alarm.history.since",
                &[("date", &f.to_string())],
            )),
            (None, Some(t)) => parts.push(trf(
                lang,
                "alarm.history.until",
                &[("date", &t.to_string())],
            )),
            (None, None) => {}
        }
        if let Some(k) = self.kind {
            parts.push(words::alarm_kind(lang, k.name()));
        }
        if !self.door.is_empty() {
            parts.push(self.door.clone());
        }
        parts.join(" · ")
    }
}

#[derive(Debug, Clone, Default)]
pub struct History {
    /// The view shows the history rather than the open alarms.
    pub shown: bool,
    /// The closed alarms read so far (whole pages), newest first.
    pub rows: Vec<Alarm>,
    /// How many closed alarms the filter lets through in all.
    pub total: u64,
    /// The filter the rows were read with.
    pub filter: HistoryFilter,
    pub selected: usize,
    /// A first page has arrived.
    pub loaded: bool,
    pub form: Option<Form<HistoryField>>,
    loads: Shown,
    /// The offset of a next page on its way, so moving on asks for it once.
    more: Option<i64>,
}

/// Reading the history: rows `offset..offset + limit` through `filter`.
fn load(sh: &mut Shell, filter: HistoryFilter, offset: i64, limit: i64) -> Effect {
    let query = filter.query(sh.utc_offset, offset, limit);
    Effect::LoadHistory {
        gen: sh.next_gen(),
        filter,
        query,
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

impl History {
    /// Shows the history (read from its first page) or the open alarms again.
    pub fn toggle(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.form = None;
        self.shown = !self.shown;
        if !self.shown {
            return vec![];
        }
        self.selected = 0;
        vec![load(sh, self.filter.clone(), 0, PAGE)]
    }

    /// The rows read so far again (an alarm closed meanwhile comes first).
    pub fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let n = i64::try_from(self.rows.len()).unwrap_or(PAGE).max(PAGE);
        vec![load(sh, self.filter.clone(), 0, n)]
    }

    pub fn selected(&self) -> Option<&Alarm> {
        self.rows.get(self.selected)
    }

    /// Moves the cursor; past the last row read, the next page is asked for.
    pub fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        let n = self.rows.len();
        self.selected = to.min(n.saturating_sub(1));
        let read = n as u64;
        if to >= n && read < self.total && self.loaded {
            let offset = n as i64;
            if self.more != Some(offset) {
                self.more = Some(offset);
                return vec![load(sh, self.filter.clone(), offset, PAGE)];
            }
        }
        vec![]
    }

    /// A page read: the first replaces what is shown, a next one is added to it. An answer
    /// older than what is shown is dropped, and so is a next page that no longer follows on.
    pub fn loaded(&mut self, gen: u64, filter: HistoryFilter, offset: i64, page: AlarmPage) {
        if offset > 0 && (offset != self.rows.len() as i64 || filter != self.filter) {
            return;
        }
        if !self.loads.take(gen) {
            return;
        }
        if offset == 0 {
            // Keep the cursor on its alarm when a reload brings rows before it.
            let at = self.selected().map(|a| a.id);
            self.rows = page.rows;
            self.selected = at
                .and_then(|id| self.rows.iter().position(|a| a.id == id))
                .unwrap_or(0);
        } else {
            self.rows.extend(page.rows);
        }
        self.total = page.total;
        self.filter = filter;
        self.loaded = true;
        self.more = None;
        // The filter asked for is in force: its form closes.
        if self.form.as_ref().is_some_and(|f| f.busy) {
            self.form = None;
        }
    }

    /// The filter form, filled with what is in force.
    pub fn open_form(&mut self, lang: Lang) {
        let f = &self.filter;
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let mut kinds = vec![Opt::new("", tr(lang, "alarm.history.all_kinds"))];
        kinds.extend(
            AlarmKind::ALL
                .iter()
                .map(|k| Opt::new(k.name(), words::alarm_kind(lang, k.name()))),
        );
        let kind = f.kind.map_or("", |k| k.name());
        self.form = Some(
            Form::new(
                tr(lang, "alarm.history.form_title").to_string(),
                vec![
                    Field::text(HistoryField::From, &date(f.from)),
                    Field::text(HistoryField::To, &date(f.to)),
                    Field::with(HistoryField::Kind, Input::choice(kinds, kind)),
                    Field::text(HistoryField::Door, &f.door),
                ],
            )
            .with_intro(vec![tr(lang, "alarm.history.intro").to_string()]),
        );
    }

    pub fn on_form_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(form) = self.form.as_mut() else {
            return vec![];
        };
        match form.key(key) {
            FormKey::Cancel => {
                self.form = None;
                sh.cancelled()
            }
            FormKey::Submit => {
                let mut dates = [None, None];
                for (i, field) in [HistoryField::From, HistoryField::To]
                    .into_iter()
                    .enumerate()
                {
                    let text = form.text(field);
                    if text.is_empty() {
                        continue;
                    }
                    match parse_date(text) {
                        Some(d) => dates[i] = Some(d),
                        None => {
                            let error = trf(lang, "alarm.history.bad_date", &[("text", text)]);
                            form.focus_on(field);
                            form.error = Some(error);
                            return vec![];
                        }
                    }
                }
                let [from, to] = dates;
                if matches!((from, to), (Some(f), Some(t)) if t < f) {
                    form.focus_on(HistoryField::To);
                    form.error = Some(tr(lang, "alarm.history.to_before_from").to_string());
                    return vec![];
                }
                let filter = HistoryFilter {
                    from,
                    to,
                    kind: AlarmKind::parse(form.choice(HistoryField::Kind)),
                    door: form.text(HistoryField::Door).to_string(),
                };
                form.busy = true;
                self.selected = 0;
                vec![load(sh, filter, 0, PAGE)]
            }
            _ => vec![],
        }
    }

    /// A refusal while the form waits (no such door): the form says it.
    pub fn refused(&mut self, text: String) -> bool {
        match self.form.as_mut().filter(|f| f.busy) {
            Some(form) => {
                form.refused(text);
                true
            }
            None => false,
        }
    }
}
