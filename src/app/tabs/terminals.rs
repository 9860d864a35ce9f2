//! The Terminals tab, for technicians: the inventory grouped by line with live status, the
//! selected terminal's diagnostics, its commands (online test, clock, clear, scan, edit) and the
//! live frame trace of its line.

use super::{Arrive, Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::{self, Filter};
use crate::app::form::{Confirm, Field, FieldId, Form, FormKey};
use crate::app::layout;
use crate::app::load::Keyed;
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::command::TerminalCommand;
use crate::db::listen::TraceFrame;
use crate::db::notify::Change;
use crate::db::terminal::{Inventory, InventoryError, Line, Terminal};
use crate::domain::permission::Action;
use crate::i18n::{trf, Lang};
use crate::keymap::{Command, Section};
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use std::collections::VecDeque;

/// How many frames a trace keeps.
pub const TRACE_FRAMES: usize = 200;
/// A trace is asked for again this often while shown (it runs for `TRACE_SECONDS`).
const TRACE_RENEW_SECS: i64 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalField {
    Name,
    Location,
    InstalledAt,
    InstalledBy,
}

impl FieldId for TerminalField {
    fn label(self) -> &'static str {
        match self {
            TerminalField::Name => "form.terminal_name",
            TerminalField::Location => "form.location",
            TerminalField::InstalledAt => "form.installed_at",
            TerminalField::InstalledBy => "form.installed_by",
        }
    }
}

/// The live frame trace of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub line_id: i64,
    pub frames: VecDeque<TraceFrame>,
    /// When the trace was last asked for; renewed before it runs out.
    pub requested_at: DateTime<Utc>,
}

/// A terminal's inventory fields being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub terminal_id: i64,
    pub form: Form<TerminalField>,
}

#[derive(Debug, Clone, Default)]
pub struct Terminals {
    pub lines: Vec<Line>,
    /// Ordered by line (as `lines`), then address.
    pub list: Keyed<Terminal>,
    /// The selected terminal, by id.
    pub selected: Option<i64>,
    pub trace: Option<Trace>,
    pub filter: Filter,
    pub edit: Option<Edit>,
    pub confirm: Option<Confirm<Effect>>,
}

/// A row of the list: a line's heading (with how many of its terminals are shown), or a
/// terminal.
#[derive(Debug, Clone, Copy)]
pub enum TerminalRow<'a> {
    Line(&'a Line, usize),
    Terminal(&'a Terminal),
}

#[derive(Debug, Clone)]
pub enum Msg {
    Loaded {
        gen: u64,
        lines: Vec<Line>,
        terminals: Vec<Terminal>,
    },
    Changed {
        gen: u64,
        ids: Vec<i64>,
        terminals: Vec<Terminal>,
    },
    /// A frame on a traced line.
    Trace(TraceFrame),
    /// A terminal's inventory fields were saved (the row itself arrives by notification).
    Edited { terminal_id: i64, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Load {
        gen: u64,
    },
    LoadById {
        gen: u64,
        ids: Vec<i64>,
    },
    SetInScan {
        terminal_id: i64,
        in_scan: bool,
    },
    /// A terminal's name, location and installation, checked already.
    Edit {
        terminal_id: i64,
        fields: Inventory,
    },
    /// A command to the terminal, through the queue its line's poller consumes.
    Enqueue {
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    /// Trace `line` (asking its poller to publish frames, and listening), or stop listening.
    Trace {
        line: Option<i64>,
    },
}

/// What a terminal's row and its line's heading say, in `lang`: name, line, kind, address
/// (machine number or serial), location, status and firmware.
pub fn texts(lang: Lang, t: &Terminal, line: &Line) -> Vec<String> {
    vec![
        t.name.clone(),
        line.name.clone(),
        words::terminal_kind(lang, &t.kind),
        t.kind.clone(),
        t.address.to_string(),
        t.location.clone(),
        words::terminal_status(lang, &t.status),
        t.status.clone(),
        t.firmware.clone(),
    ]
}

/// The tab's split: the inventory above; below, the selected terminal's diagnostics and the
/// line trace side by side.
pub fn split(body: Rect) -> (Rect, Rect, Rect) {
    let top = (body.height / 2).max(6).min(body.height);
    let bottom = Rect::new(body.x, body.y + top, body.width, body.height - top);
    let left = (bottom.width * 2 / 5).clamp(38.min(bottom.width), 60.min(bottom.width));
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(bottom.x, bottom.y, left, bottom.height),
        Rect::new(
            bottom.x + left,
            bottom.y,
            bottom.width - left,
            bottom.height,
        ),
    )
}

/// Renews the trace before it runs out, while it is shown.
pub fn tick(t: &mut Terminals, sh: &mut Shell) -> Vec<Effect> {
    match &mut t.trace {
        Some(tr) if (sh.now - tr.requested_at).num_seconds() >= TRACE_RENEW_SECS => {
            tr.requested_at = sh.now;
            vec![
                (Effect::Trace {
                    line: Some(tr.line_id),
                }),
            ]
        }
        _ => vec![],
    }
}

impl Terminals {
    /// Asks y/n before `effect` (the question names the object).
    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    /// A confirmation's answer: yes runs it, no cancels it, any other key keeps asking.
    fn answer(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        super::answer(&mut self.confirm, sh, key)
    }

    pub fn line(&self, id: i64) -> Option<&Line> {
        self.lines.iter().find(|l| l.id == id)
    }

    pub fn terminal(&self, id: i64) -> Option<&Terminal> {
        self.list.rows.iter().find(|t| t.id == id)
    }

    /// Whether the inventory shows a terminal: its line is known and it passes the filter.
    fn shows(&self, lang: Lang, t: &Terminal) -> bool {
        let f = self.filter.text();
        self.line(t.line_id)
            .is_some_and(|line| f.is_empty() || filter::matches(f, texts(lang, t, line)))
    }

    /// The rows: each line's heading, then its terminals that pass the filter. Under a filter,
    /// a line none of whose terminals pass is left out.
    pub fn rows(&self, lang: Lang) -> Vec<TerminalRow<'_>> {
        let filtered = !self.filter.is_empty();
        let mut rows = Vec::new();
        for line in &self.lines {
            let on: Vec<&Terminal> = self
                .list
                .rows
                .iter()
                .filter(|t| t.line_id == line.id && self.shows(lang, t))
                .collect();
            if filtered && on.is_empty() {
                continue;
            }
            rows.push(TerminalRow::Line(line, on.len()));
            rows.extend(on.into_iter().map(TerminalRow::Terminal));
        }
        rows
    }

    /// The terminals shown, in the order of the rows.
    pub fn visible(&self, lang: Lang) -> Vec<&Terminal> {
        self.rows(lang)
            .into_iter()
            .filter_map(|r| match r {
                TerminalRow::Terminal(t) => Some(t),
                TerminalRow::Line(..) => None,
            })
            .collect()
    }

    /// The selected terminal while it is shown: what the terminal commands act on.
    pub fn selected(&self, lang: Lang) -> Option<&Terminal> {
        let id = self.selected?;
        self.terminal(id).filter(|t| self.shows(lang, t))
    }

    /// The selected terminal's place among the terminals shown (0 when none is).
    pub fn selected_index(&self, lang: Lang) -> usize {
        self.selected
            .and_then(|id| self.visible(lang).iter().position(|t| t.id == id))
            .unwrap_or(0)
    }

    /// The selected terminal's row, headings counted (0 when none is shown).
    pub fn selected_row(&self, lang: Lang) -> usize {
        let id = self.selected;
        self.rows(lang)
            .iter()
            .position(|r| matches!(r, TerminalRow::Terminal(t) if Some(t.id) == id))
            .unwrap_or(0)
    }

    fn sort(&mut self) {
        let order = |line_id: i64| {
            self.lines
                .iter()
                .position(|l| l.id == line_id)
                .unwrap_or(usize::MAX)
        };
        let mut list = std::mem::take(&mut self.list.rows);
        list.sort_by_key(|t| (order(t.line_id), t.address, t.id));
        self.list.rows = list;
    }

    fn reselect(&mut self, sh: &Shell, index: usize) -> Vec<Effect> {
        let shown: Vec<i64> = self.visible(sh.lang).iter().map(|t| t.id).collect();
        let exists = self.selected.is_some_and(|id| self.terminal(id).is_some());
        self.selected = filter::keep_selection(self.selected, &shown, exists, index);
        self.follow_trace(sh)
    }

    /// The trace shows the selected terminal's line: when the selection moves to another line,
    /// the trace moves with it.
    fn follow_trace(&mut self, sh: &Shell) -> Vec<Effect> {
        let line = self.selected(sh.lang).map(|t| t.line_id);
        match (&mut self.trace, line) {
            (Some(t), Some(line)) if t.line_id != line => {
                *t = Trace {
                    line_id: line,
                    frames: Default::default(),
                    requested_at: sh.now,
                };
                vec![(Effect::Trace { line: Some(line) })]
            }
            _ => vec![],
        }
    }

    /// "3 · 图书馆东门 (库房)": what the popups and messages call a terminal.
    pub fn named(&self, lang: Lang, t: &Terminal) -> String {
        trf(
            lang,
            "terminal.named",
            &[
                ("address", &t.address.to_string()),
                ("name", &t.name),
                ("location", &t.location),
            ],
        )
    }

    fn open_edit(&mut self, sh: &Shell, t: &Terminal) {
        let lang = sh.lang;
        let line = self
            .line(t.line_id)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("#{}", t.line_id));
        let date = t.installed_at.map(|d| d.to_string()).unwrap_or_default();
        let form = Form::new(
            crate::i18n::tr(lang, "form.title.terminal_edit").to_string(),
            vec![
                Field::text(TerminalField::Name, &t.name),
                Field::text(TerminalField::Location, &t.location),
                Field::text(TerminalField::InstalledAt, &date),
                Field::text(TerminalField::InstalledBy, &t.installed_by),
            ],
        )
        .with_intro(vec![trf(
            lang,
            "form.intro.terminal_edit",
            &[("address", &t.address.to_string()), ("line", &line)],
        )]);
        self.edit = Some(Edit {
            terminal_id: t.id,
            form,
        });
    }

    /// The edit popup: Enter saves from any field (every field is filled already), Esc cancels,
    /// even while a save is on its way (its outcome then shows on the message line).
    fn on_edit_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let Some(edit) = self.edit.as_mut() else {
            return vec![];
        };
        let form = &mut edit.form;
        match form.key(key) {
            FormKey::Cancel => {
                self.edit = None;
                sh.cancelled()
            }
            FormKey::Submit => {
                let parsed = Inventory::parse(
                    form.text(TerminalField::Name),
                    form.text(TerminalField::Location),
                    form.text(TerminalField::InstalledAt),
                    form.text(TerminalField::InstalledBy),
                    sh.now,
                );
                match parsed {
                    Ok(fields) => {
                        form.busy = true;
                        form.error = None;
                        vec![
                            (Effect::Edit {
                                terminal_id: edit.terminal_id,
                                fields,
                            }),
                        ]
                    }
                    Err(e) => {
                        // The cursor goes to the field at fault.
                        match e {
                            InventoryError::NameEmpty => form.focus_on(TerminalField::Name),
                            InventoryError::BadDate(_) => form.focus_on(TerminalField::InstalledAt),
                            _ => {}
                        }
                        form.error = Some(words::failure(sh.lang, &Failure::from(e)));
                        vec![]
                    }
                }
            }
            _ => vec![],
        }
    }

    fn run_terminal(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        let action = action_of(cmd);
        if !sh.may(action) {
            return sh.denied(action);
        }
        let lang = sh.lang;
        let Some(t) = self.selected(lang).cloned() else {
            return sh.info_key("msg.no_terminal");
        };
        let named = self.named(lang, &t);
        let enqueue = |command| Effect::Enqueue {
            terminal_id: t.id,
            about: t.name.clone(),
            command,
        };
        match cmd {
            Command::TerminalOnlineTest => vec![enqueue(TerminalCommand::OnlineTest)],
            Command::TerminalSetTime => vec![enqueue(TerminalCommand::SetTime)],
            Command::TerminalClearRecords => self.ask(
                trf(lang, "confirm.clear_records", &[("terminal", &named)]),
                enqueue(TerminalCommand::ClearRecords),
            ),
            Command::TerminalScanToggle => vec![
                (Effect::SetInScan {
                    terminal_id: t.id,
                    in_scan: !t.in_scan,
                }),
            ],
            Command::TerminalEdit => {
                self.open_edit(sh, &t);
                vec![]
            }
            _ => {
                if self.trace.take().is_some() {
                    vec![(Effect::Trace { line: None })]
                } else {
                    self.trace = Some(Trace {
                        line_id: t.line_id,
                        frames: Default::default(),
                        requested_at: sh.now,
                    });
                    vec![
                        (Effect::Trace {
                            line: Some(t.line_id),
                        }),
                    ]
                }
            }
        }
    }
}

/// The permission each of the tab's commands needs.
fn action_of(cmd: Command) -> Action {
    match cmd {
        Command::TerminalOnlineTest => TerminalCommand::OnlineTest.action(),
        Command::TerminalSetTime => TerminalCommand::SetTime.action(),
        Command::TerminalClearRecords => TerminalCommand::ClearRecords.action(),
        Command::TerminalScanToggle | Command::TerminalEdit => Action::TerminalEdit,
        _ => Action::TerminalDiagnose,
    }
}

pub fn update(t: &mut Terminals, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    let lang = sh.lang;
    match msg {
        Msg::Loaded {
            gen,
            lines,
            terminals,
        } => {
            let index = t.selected_index(lang);
            if t.list.full(gen, terminals, |x| x.id) {
                t.lines = lines;
            }
            t.sort();
            t.reselect(sh, index)
        }
        Msg::Changed {
            gen,
            ids,
            terminals,
        } => {
            if !t.list.loaded {
                return vec![];
            }
            if !terminals.iter().all(|x| t.line(x.line_id).is_some()) {
                // A terminal on a line this console has not read: read the inventory again.
                return vec![(Effect::Load { gen: sh.next_gen() })];
            }
            let index = t.selected_index(lang);
            t.list.some(gen, &ids, terminals, |x| x.id);
            t.sort();
            t.reselect(sh, index)
        }
        Msg::Trace(frame) => {
            if let Some(tr) = &mut t.trace {
                if tr.line_id == frame.line {
                    tr.frames.push_back(frame);
                    while tr.frames.len() > TRACE_FRAMES {
                        tr.frames.pop_front();
                    }
                }
            }
            vec![]
        }
        Msg::Edited { terminal_id, name } => {
            if t.edit
                .as_ref()
                .is_some_and(|e| e.terminal_id == terminal_id && e.form.busy)
            {
                t.edit = None;
            }
            // The row is re-read when its notification arrives, like any other change.
            sh.info(trf(lang, "msg.terminal_saved", &[("terminal", &name)]))
        }
    }
}

impl View for Terminals {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Terminals
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = self.answer(sh, key) {
            return Some(fx);
        }
        self.edit.is_some().then(|| self.on_edit_key(sh, key))
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        match cmd {
            Command::TerminalOnlineTest
            | Command::TerminalSetTime
            | Command::TerminalClearRecords
            | Command::TerminalScanToggle
            | Command::TerminalEdit
            | Command::TerminalTrace => Some(self.run_terminal(sh, cmd)),
            _ => None,
        }
    }

    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        let action = action_of(cmd);
        if sh.may(action) {
            Arrive::Go { run: false }
        } else {
            {
                sh.denied::<Effect>(action);
                Arrive::Stay
            }
        }
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        Rows {
            n: self.visible(sh.lang).len(),
            at: self.selected_index(sh.lang),
            page: layout::table_window(split(body).0, 0).0,
        }
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        let shown = self.visible(sh.lang);
        if let Some(t) = shown.get(to.min(shown.len().saturating_sub(1))) {
            self.selected = Some(t.id);
        }
        self.follow_trace(sh)
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        let (list, _, _) = split(body);
        let rows = self.rows(sh.lang);
        let at = self.selected_row(sh.lang);
        let hit = layout::table_row_at(list, at, rows.len(), x, y).and_then(|i| match rows[i] {
            TerminalRow::Terminal(t) => Some(t.id),
            // A line's heading is no terminal to select.
            TerminalRow::Line(..) => None,
        });
        match hit {
            Some(id) => {
                self.selected = Some(id);
                self.follow_trace(sh)
            }
            None => vec![],
        }
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        vec![(Effect::Load { gen: sh.next_gen() })]
    }

    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if change.terminal.is_empty() || !self.list.loaded {
            return vec![];
        }
        vec![
            (Effect::LoadById {
                gen: sh.next_gen(),
                ids: change.terminal.clone(),
            }),
        ]
    }

    fn hints(&self, _sh: &Shell) -> Vec<Command> {
        vec![
            Command::Help,
            Command::Filter,
            Command::TerminalOnlineTest,
            Command::TerminalSetTime,
            Command::TerminalClearRecords,
            Command::TerminalScanToggle,
            Command::TerminalEdit,
            Command::TerminalTrace,
            Command::TabNext,
            Command::Quit,
        ]
    }

    fn filter(&self) -> Option<&Filter> {
        Some(&self.filter)
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        Some(&mut self.filter)
    }

    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.reselect(sh, 0)
    }

    fn leave(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        // The trace belongs to the tab: leaving it stops listening.
        match self.trace.take() {
            Some(_) => vec![(Effect::Trace { line: None })],
            None => vec![],
        }
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        match self.edit.as_mut().filter(|e| e.form.busy) {
            Some(e) => {
                e.form.refused(words::failure(sh.lang, f));
                true
            }
            None => false,
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        let traced = std::mem::take(self).trace.is_some();
        if traced {
            vec![(Effect::Trace { line: None })]
        } else {
            vec![]
        }
    }
}
