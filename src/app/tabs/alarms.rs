//! The Alarms view, over any tab: open alarms by priority (take, acknowledge with a note or a
//! preset note, clear, force-clear with a reason), the history of closed ones, and the strip's
//! counts in the header.

mod history;

pub use history::{History, HistoryField, HistoryFilter, PAGE};

use super::{Arrive, Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::{self, Filter};
use crate::app::form::{Confirm, TextInput};
use crate::app::layout;
use crate::app::load::{Keyed, Shown};
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::alarm::{Alarm, AlarmHistoryQuery, AlarmPage};
use crate::db::notify::Change;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::{Command, Section};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use std::collections::HashSet;

/// Longest acknowledgement note or force-clear reason.
const MAX_NOTE: usize = 200;

/// Catalogue keys of the preset acknowledgement notes, chosen with 1, 2, 3 ...
pub const PRESET_NOTES: [&str; 4] = [
    "alarm.note.preset.false_alarm",
    "alarm.note.preset.guard_sent",
    "alarm.note.preset.maintenance",
    "alarm.note.preset.police",
];

/// Unacknowledged alarms by priority, P1 to P3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmCounts {
    pub by_priority: Vec<(u8, u32)>,
}

impl AlarmCounts {
    pub fn of(&self, priority: u8) -> u32 {
        self.by_priority
            .iter()
            .find(|(p, _)| *p == priority)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u32 {
        self.by_priority.iter().map(|(_, n)| n).sum()
    }
}

/// What is typed for an alarm: an acknowledgement note (number keys pick a preset while it is
/// empty) or the reason a never-acknowledged alarm is force-cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteInput {
    pub alarm_id: i64,
    /// Names the alarm, as the confirm popups do.
    pub title: String,
    pub text: TextInput,
    /// A force-clear's reason rather than an acknowledgement's note.
    pub force_clear: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Alarms {
    /// Whether the Alarms view covers the tab body.
    pub open: bool,
    /// Open alarms: active first, then by priority, newest first.
    pub list: Keyed<Alarm>,
    /// How many alarms are open in all (the list holds the most urgent 500).
    pub total: i64,
    /// The selected alarm, by id, so a reload never moves the cursor to another alarm.
    pub selected: Option<i64>,
    /// Every alarm id this console has seen, so a reload does not ring twice.
    pub seen: HashSet<i64>,
    pub filter: Filter,
    pub counts: AlarmCounts,
    counts_shown: Shown,
    pub note: Option<NoteInput>,
    pub confirm: Option<Confirm<Effect>>,
    /// Closed alarms, shown instead of the open ones while `history.shown`.
    pub history: History,
}

#[derive(Debug, Clone)]
pub enum Msg {
    /// Every open alarm, how many are open, and the unacknowledged counts by priority.
    Loaded {
        gen: u64,
        alarms: Vec<Alarm>,
        total: i64,
        counts: Vec<(i16, i64)>,
    },
    /// The alarms of `ids` as they are now (cleared ones included), and the counts.
    Changed {
        gen: u64,
        ids: Vec<i64>,
        alarms: Vec<Alarm>,
        counts: Vec<(i16, i64)>,
    },
    /// A page of closed alarms read through `filter`, from row `offset`.
    HistoryLoaded {
        gen: u64,
        filter: HistoryFilter,
        offset: i64,
        page: AlarmPage,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadAll {
        gen: u64,
    },
    /// The alarms a notification named: one query, whatever the number of ids.
    LoadById {
        gen: u64,
        ids: Vec<i64>,
    },
    Take {
        id: i64,
    },
    Acknowledge {
        id: i64,
        note: String,
    },
    Clear {
        id: i64,
        force: bool,
        reason: Option<String>,
    },
    /// Closed alarms: `query` with the door `filter` names (found by the reader).
    LoadHistory {
        gen: u64,
        filter: HistoryFilter,
        query: AlarmHistoryQuery,
    },
}

/// Reads every open alarm (after sign-in and after a resync).
pub fn load_all(a: &mut Alarms, sh: &mut Shell) -> Vec<Effect> {
    let _ = a;
    vec![(Effect::LoadAll { gen: sh.next_gen() })]
}

/// The frame's share for the strip and the view: the alarms notifications named.
pub fn strip(a: &mut Alarms, sh: &mut Shell, change: &Change) -> Vec<Effect> {
    if change.alarm.is_empty() || !a.list.loaded {
        return vec![];
    }
    let mut fx = vec![
        (Effect::LoadById {
            gen: sh.next_gen(),
            ids: change.alarm.clone(),
        }),
    ];
    // An alarm closed meanwhile belongs at the top of the history shown.
    if a.open && a.history.shown {
        fx.extend(a.history.reload(sh));
    }
    fx
}

/// What an alarm's row says, in `lang`: its name in full, its kind's stored name, card,
/// detail, state, handler and lateness.
pub fn texts(lang: Lang, a: &Alarm) -> Vec<String> {
    let mut texts = vec![
        words::alarm_name(lang, a),
        words::alarm_kind(lang, &a.kind),
        a.kind.clone(),
        format!("P{}", a.priority),
        a.detail.clone(),
        words::alarm_state(lang, &a.state),
        a.state.clone(),
    ];
    texts.extend(a.terminal_name.clone());
    texts.extend(a.door.map(|d| d.to_string()));
    texts.extend(a.door_location.clone());
    texts.extend(a.card.map(|c| c.to_string()));
    texts.extend(a.handling_by.clone());
    if a.late {
        texts.push(tr(lang, "alarm.late").to_string());
    }
    texts
}

/// The view's split: the open alarms above, the selected one's details below.
pub fn split(body: Rect) -> (Rect, Rect) {
    let top = (body.height * 11 / 20).max(6).min(body.height);
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, body.height - top),
    )
}

/// The list's panes: live alarms above, late ones (collected after they happened, which never
/// ring) apart below, when there are any.
pub fn list_panes(list: Rect, late: usize) -> (Rect, Option<Rect>) {
    if late == 0 || list.height < 10 {
        return (list, None);
    }
    let wanted = u16::try_from(late).unwrap_or(u16::MAX).saturating_add(3);
    let low = wanted.min(list.height * 2 / 5).max(4);
    (
        Rect::new(list.x, list.y, list.width, list.height - low),
        Some(Rect::new(
            list.x,
            list.y + list.height - low,
            list.width,
            low,
        )),
    )
}

impl Alarms {
    fn shows(&self, lang: Lang, a: &Alarm) -> bool {
        let f = self.filter.text();
        f.is_empty() || filter::matches(f, texts(lang, a))
    }

    /// The alarms the view shows: the open ones, narrowed by its `/` filter; live ones first,
    /// then the late ones.
    pub fn visible(&self, lang: Lang) -> Vec<&Alarm> {
        self.list
            .rows
            .iter()
            .filter(|a| self.shows(lang, a))
            .collect()
    }

    /// The selected alarm while it is shown: what the alarm commands act on.
    pub fn selected(&self, lang: Lang) -> Option<&Alarm> {
        let id = self.selected?;
        self.list
            .rows
            .iter()
            .find(|a| a.id == id)
            .filter(|a| self.shows(lang, a))
    }

    /// The selected alarm's row among those shown (0 when none is).
    pub fn selected_index(&self, lang: Lang) -> usize {
        self.selected
            .and_then(|id| self.visible(lang).iter().position(|a| a.id == id))
            .unwrap_or(0)
    }

    fn reselect(&mut self, lang: Lang, index: usize) {
        let shown: Vec<i64> = self.visible(lang).iter().map(|a| a.id).collect();
        let exists = self
            .selected
            .is_some_and(|id| self.list.rows.iter().any(|a| a.id == id));
        self.selected = filter::keep_selection(self.selected, &shown, exists, index);
    }

    fn sort(&mut self) {
        self.list.rows.sort_by(|a, b| {
            (
                a.late,
                a.state == "acknowledged",
                a.priority,
                b.raised_at,
                b.id,
            )
                .cmp(&(
                    b.late,
                    b.state == "acknowledged",
                    b.priority,
                    a.raised_at,
                    a.id,
                ))
        });
    }

    /// Whether any alarm not seen before rings: P1, active, and not late (raised from a record
    /// replayed after an outage). The first full list is the baseline and never rings.
    fn ring(&mut self, alarms: &[Alarm]) -> bool {
        let baseline = !self.list.loaded;
        let mut ring = false;
        for a in alarms {
            let new = self.seen.insert(a.id);
            if new && !baseline && a.priority == 1 && !a.late && a.state == "active" {
                ring = true;
            }
        }
        ring
    }

    fn set_counts(&mut self, gen: u64, counts: &[(i16, i64)]) {
        if !self.counts_shown.take(gen) {
            return;
        }
        self.counts.by_priority = (1..=3u8)
            .map(|p| {
                let n = counts
                    .iter()
                    .find(|(q, _)| *q == i16::from(p))
                    .map_or(0, |(_, n)| *n);
                (p, u32::try_from(n).unwrap_or(u32::MAX))
            })
            .collect();
    }
}

/// New alarms that ring ring the terminal's bell.
fn bell_if(sh: &mut Shell, ring: bool) -> Vec<Effect> {
    sh.bell |= ring;
    vec![]
}

pub fn update(a: &mut Alarms, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    let lang = sh.lang;
    match msg {
        Msg::Loaded {
            gen,
            alarms,
            total,
            counts,
        } => {
            let ring = a.ring(&alarms);
            let index = a.selected_index(lang);
            if a.list.full(gen, alarms, |x| x.id) {
                a.total = total;
            }
            a.sort();
            a.reselect(lang, index);
            a.set_counts(gen, &counts);
            bell_if(sh, ring)
        }
        Msg::Changed {
            gen,
            ids,
            alarms,
            counts,
        } => {
            if !a.list.loaded {
                // The full list is on its way; it will hold these.
                return vec![];
            }
            let ring = a.ring(&alarms);
            let index = a.selected_index(lang);
            let before = a.list.rows.len() as i64;
            let open: Vec<Alarm> = alarms
                .into_iter()
                .filter(|x| x.state != "cleared")
                .collect();
            a.list.some(gen, &ids, open, |x| x.id);
            a.total = (a.total + a.list.rows.len() as i64 - before).max(a.list.rows.len() as i64);
            a.sort();
            a.reselect(lang, index);
            a.set_counts(gen, &counts);
            bell_if(sh, ring)
        }
        Msg::HistoryLoaded {
            gen,
            filter,
            offset,
            page,
        } => {
            a.history.loaded(gen, filter, offset, page);
            vec![]
        }
    }
}

impl Alarms {
    /// Asks y/n before `effect` (the question names the object).
    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    /// A confirmation's answer: yes runs it, no cancels it, any other key keeps asking.
    fn answer(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        super::answer(&mut self.confirm, sh, key)
    }

    fn on_note_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let Some(note) = self.note.as_mut() else {
            return vec![];
        };
        match key.code {
            KeyCode::Esc => {
                self.note = None;
                sh.cancelled()
            }
            KeyCode::Enter => {
                let text = note.text.value().trim().to_string();
                if text.is_empty() {
                    let key = if note.force_clear {
                        "msg.reason_empty"
                    } else {
                        "msg.note_empty"
                    };
                    return sh.error(tr(sh.lang, key).to_string());
                }
                sh.message = None;
                let note = self.note.take().expect("checked above");
                vec![if note.force_clear {
                    Effect::Clear {
                        id: note.alarm_id,
                        force: true,
                        reason: Some(text),
                    }
                } else {
                    Effect::Acknowledge {
                        id: note.alarm_id,
                        note: text,
                    }
                }]
            }
            // A number picks a preset while nothing is typed; after that digits are text.
            KeyCode::Char(c @ '1'..='9')
                if note.text.is_empty()
                    && !note.force_clear
                    && key.modifiers.difference(KeyModifiers::SHIFT).is_empty() =>
            {
                if let Some(preset) = PRESET_NOTES.get(c as usize - '1' as usize) {
                    note.text.set(tr(sh.lang, preset));
                }
                vec![]
            }
            _ => {
                note.text.key(key);
                vec![]
            }
        }
    }

    fn run_alarm(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        if !sh.may(Action::AlarmAcknowledge) {
            return sh.denied(Action::AlarmAcknowledge);
        }
        let lang = sh.lang;
        let Some(alarm) = self.selected(lang).cloned() else {
            return sh.info_key("msg.no_alarm");
        };
        let name = words::alarm_name(lang, &alarm);
        match cmd {
            Command::AlarmTake => vec![(Effect::Take { id: alarm.id })],
            Command::AlarmAcknowledge => {
                if alarm.state != "active" {
                    return sh.info(trf(lang, "msg.alarm_not_active", &[("alarm", &name)]));
                }
                self.note = Some(NoteInput {
                    alarm_id: alarm.id,
                    title: name,
                    text: TextInput::default().max(MAX_NOTE),
                    force_clear: false,
                });
                vec![]
            }
            Command::AlarmClear if alarm.state == "active" => sh.info(trf(
                lang,
                "msg.alarm_acknowledge_first",
                &[("alarm", &name)],
            )),
            Command::AlarmClear => self.ask(
                trf(lang, "confirm.alarm_clear", &[("alarm", &name)]),
                Effect::Clear {
                    id: alarm.id,
                    force: false,
                    reason: None,
                },
            ),
            _ => {
                // Force-clearing an alarm nobody acknowledged says why; the reason is audited.
                self.note = Some(NoteInput {
                    alarm_id: alarm.id,
                    title: name,
                    text: TextInput::default().max(MAX_NOTE),
                    force_clear: true,
                });
                vec![]
            }
        }
    }
}

impl View for Alarms {
    type Effect = Effect;

    fn section(&self) -> Section {
        // Only global keys: a tab's own bindings never shadow the alarm commands here.
        Section::Global
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = self.answer(sh, key) {
            return Some(fx);
        }
        if self.history.form.is_some() {
            return Some(self.history.on_form_key(sh, key));
        }
        self.note.is_some().then(|| self.on_note_key(sh, key))
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        match cmd {
            Command::AlarmTake
            | Command::AlarmAcknowledge
            | Command::AlarmClear
            | Command::AlarmForceClear
                if self.history.shown =>
            {
                Some(sh.info_key("alarm.history.read_only"))
            }
            Command::AlarmTake
            | Command::AlarmAcknowledge
            | Command::AlarmClear
            | Command::AlarmForceClear => Some(self.run_alarm(sh, cmd)),
            Command::AlarmHistory if !sh.may(Action::AlarmAcknowledge) => {
                Some(sh.denied(Action::AlarmAcknowledge))
            }
            Command::AlarmHistory => Some(self.history.toggle(sh)),
            _ => None,
        }
    }

    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        // From a tab, an alarm key opens the view; the operator then picks the alarm. The
        // history key opens it on the history.
        if sh.may(Action::AlarmAcknowledge) {
            if cmd == Command::AlarmHistory {
                self.history.shown = false;
                return Arrive::Go { run: true };
            }
            Arrive::Go { run: false }
        } else {
            {
                sh.denied::<Effect>(Action::AlarmAcknowledge);
                Arrive::Stay
            }
        }
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        let page = layout::table_window(split(body).0, 0).0;
        if self.history.shown {
            return Rows {
                n: self.history.rows.len(),
                at: self.history.selected,
                page,
            };
        }
        Rows {
            n: self.visible(sh.lang).len(),
            at: self.selected_index(sh.lang),
            page,
        }
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        if self.history.shown {
            return self.history.select(sh, to);
        }
        let shown = self.visible(sh.lang);
        if let Some(a) = shown.get(to.min(shown.len().saturating_sub(1))) {
            self.selected = Some(a.id);
        }
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        let (list, _) = split(body);
        if self.history.shown {
            let (len, at) = (self.history.rows.len(), self.history.selected);
            return match layout::table_row_at(list, at, len, x, y) {
                Some(i) => self.select(sh, i),
                None => vec![],
            };
        }
        let shown = self.visible(sh.lang);
        let live = shown.iter().take_while(|a| !a.late).count();
        let late = shown.len() - live;
        let at = self.selected_index(sh.lang);
        let hit = match list_panes(list, late) {
            (_, Some(low)) if y >= low.y => {
                layout::table_row_at(low, at.saturating_sub(live), late, x, y).map(|i| live + i)
            }
            (top, _) => layout::table_row_at(top, if at < live { at } else { 0 }, live, x, y),
        };
        match hit {
            Some(i) => self.select(sh, i),
            None => vec![],
        }
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let mut fx = load_all(self, sh);
        if self.history.shown {
            fx.extend(self.history.reload(sh));
        }
        fx
    }

    fn frame(&mut self, _sh: &mut Shell, _change: &Change) -> Vec<Effect> {
        // The strip's reads serve the view as well (`strip`).
        vec![]
    }

    fn hints(&self, _sh: &Shell) -> Vec<Command> {
        if self.history.shown {
            return vec![
                Command::Help,
                Command::Filter,
                Command::AlarmHistory,
                Command::Cancel,
                Command::Quit,
            ];
        }
        vec![
            Command::Help,
            Command::Filter,
            Command::AlarmTake,
            Command::AlarmAcknowledge,
            Command::AlarmClear,
            Command::AlarmForceClear,
            Command::Cancel,
            Command::Quit,
            Command::AlarmHistory,
        ]
    }

    fn filter(&self) -> Option<&Filter> {
        // The history is narrowed by its form, in the database, not by `/` over a page.
        (!self.history.shown).then_some(&self.filter)
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        (!self.history.shown).then_some(&mut self.filter)
    }

    fn begin_filter(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.history.shown {
            self.history.open_form(sh.lang);
        } else {
            self.filter.typing = true;
        }
        vec![]
    }

    fn cancel(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        // Closed, the view opens on the open alarms next time.
        self.history.shown = false;
        vec![]
    }

    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.reselect(sh.lang, 0);
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        self.history.refused(words::failure(sh.lang, f))
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Alarms::default();
        vec![]
    }
}
