//! The Doors tab's records sub-view, for the door administrator and campus security: door
//! openings queried by person, card, department, door and time; loss queries; CSV export
//! (audited); the pending and failed card syncs of every terminal; the purge of records older
//! than the retention period.

mod forms;

use super::super::Rows;
use crate::app::failure::{Failure, FileTrouble};
use crate::app::form::{Answer, Confirm, Form, FormKey};
use crate::app::layout;
use crate::app::load::Shown;
use crate::app::shell::Shell;
use crate::app::words;
pub use crate::db::door::{DoorEvent, EventPage, EventQuery, PurgePreview};
use crate::db::notify::Change;
pub use crate::db::propagation::UnconfirmedSync;
use crate::domain::permission::Action;
use crate::i18n::trf;
use crate::keymap::Command;
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
pub use forms::{parse_time, NotATime, RecordField};
use ratatui::layout::Rect;

/// Rows a page of a query holds; the export writes them all.
pub const PAGE: i64 = 200;

/// What the sub-view's list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pane {
    /// The query's page of door records.
    #[default]
    Events,
    /// Every terminal lacking a card change, and why.
    Syncs,
}

/// The purge popup: the retention period and what the cut-off would delete, then its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeView {
    pub form: Form<RecordField>,
    /// None until the database has said.
    pub preview: Option<PurgePreview>,
    /// The cut-off as the preview's text says it: typed unchanged, the preview's exact time.
    pub shown: String,
    /// Records deleted of all, while it runs.
    pub progress: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Query(Form<RecordField>),
    Export(Form<RecordField>),
    Purge(PurgeView),
}

/// What a yes does: run the effect, or ask a second question first (a forced purge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Run(Effect),
    Again { question: String, effect: Effect },
}

#[derive(Debug, Clone, Copy, Default)]
struct Loads {
    page: Shown,
    syncs: Shown,
    purge: Shown,
}

#[derive(Debug, Clone)]
pub struct Records {
    pub pane: Pane,
    /// The query shown (its door resolved), with the page asked for last.
    pub query: EventQuery,
    /// What the operator typed for the door, shown in the heading.
    pub door_text: String,
    pub page: Option<EventPage>,
    pub selected: usize,
    pub syncs: Option<Vec<UnconfirmedSync>>,
    pub sync_selected: usize,
    pub popup: Option<Popup>,
    pub confirm: Option<Confirm<Step>>,
    loads: Loads,
}

impl Default for Records {
    fn default() -> Self {
        Records {
            pane: Pane::Events,
            query: EventQuery {
                limit: PAGE,
                ..EventQuery::default()
            },
            door_text: String::new(),
            page: None,
            selected: 0,
            syncs: None,
            sync_selected: 0,
            popup: None,
            confirm: None,
            loads: Loads::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Msg {
    /// A page of a query; `door_text`: what the door was typed as (None: a page of the same).
    Page {
        gen: u64,
        page: EventPage,
        door_text: Option<String>,
    },
    Syncs {
        gen: u64,
        syncs: Vec<UnconfirmedSync>,
    },
    /// The query was written to `path` (in full).
    Exported {
        rows: u64,
        path: String,
    },
    PurgePreview {
        gen: u64,
        preview: PurgePreview,
    },
    /// Records deleted of all.
    PurgeProgress {
        done: u64,
        total: u64,
    },
    Purged {
        rows: u64,
        cutoff: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A page of `query`; a `door` typed ("" none) is resolved to its controller and door first.
    Query {
        gen: u64,
        query: EventQuery,
        door: String,
    },
    LoadSyncs {
        gen: u64,
    },
    /// Every row of `query` as CSV; an existing file is replaced only when `overwrite`.
    Export {
        query: EventQuery,
        path: String,
        overwrite: bool,
    },
    /// What a purge would delete (None: at the retention period's cut-off).
    PurgePreview {
        gen: u64,
        cutoff: Option<DateTime<Utc>>,
    },
    Purge {
        cutoff: DateTime<Utc>,
        force: bool,
    },
}

pub fn update(r: &mut Records, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    let lang = sh.lang;
    match msg {
        Msg::Page {
            gen,
            page,
            door_text,
        } => {
            if !r.loads.page.take(gen) {
                return vec![];
            }
            if matches!(&r.popup, Some(Popup::Query(f)) if f.busy) {
                r.popup = None;
            }
            if let Some(text) = door_text {
                r.door_text = text;
            }
            r.query = page.query.clone();
            r.selected = r.selected.min(page.rows.len().saturating_sub(1));
            r.page = Some(page);
            vec![]
        }
        Msg::Syncs { gen, syncs } => {
            if r.loads.syncs.take(gen) {
                r.sync_selected = r.sync_selected.min(syncs.len().saturating_sub(1));
                r.syncs = Some(syncs);
            }
            vec![]
        }
        Msg::Exported { rows, path } => {
            if matches!(r.popup, Some(Popup::Export(_))) {
                r.popup = None;
            }
            sh.info(trf(
                lang,
                "door.records.exported",
                &[("n", &words::count(rows as i64)), ("path", &path)],
            ))
        }
        Msg::PurgePreview { gen, preview } => {
            if !r.loads.purge.take(gen) {
                return vec![];
            }
            if let Some(Popup::Purge(p)) = &mut r.popup {
                forms::previewed(p, sh, preview);
            }
            vec![]
        }
        Msg::PurgeProgress { done, total } => {
            if let Some(Popup::Purge(p)) = &mut r.popup {
                p.progress = Some((done, total));
                p.form.intro = vec![forms::progress_text(lang, done, total)];
            }
            vec![]
        }
        Msg::Purged { rows, cutoff } => {
            if matches!(r.popup, Some(Popup::Purge(_))) {
                r.popup = None;
            }
            sh.info::<Effect>(trf(
                lang,
                "door.records.purged",
                &[
                    ("n", &words::count(rows as i64)),
                    ("cutoff", &forms::time_text(sh, cutoff)),
                ],
            ));
            r.reload(sh)
        }
    }
}

impl Records {
    /// Asks y/n before `step` (the question names the object).
    fn ask(&mut self, question: String, step: Step) -> Vec<Effect> {
        self.confirm = Some(Confirm {
            question,
            effect: step,
        });
        vec![]
    }

    fn answer(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        let confirm = self.confirm.take()?;
        Some(match Answer::of(key) {
            Answer::Yes => match confirm.effect {
                Step::Run(effect) => self.send(effect),
                Step::Again { question, effect } => self.ask(question, Step::Run(effect)),
            },
            Answer::No => sh.cancelled(),
            Answer::Wait => {
                self.confirm = Some(confirm);
                vec![]
            }
        })
    }

    /// Sends a confirmed effect: a purge shows its progress from now on.
    fn send(&mut self, effect: Effect) -> Vec<Effect> {
        if let (Effect::Purge { .. }, Some(Popup::Purge(p))) = (&effect, &mut self.popup) {
            let total = p.preview.map_or(0, |x| x.rows);
            p.progress = Some((0, total));
            p.form.busy = true;
        }
        vec![effect]
    }

    /// The rows shown: the page's events.
    pub fn events(&self) -> &[DoorEvent] {
        self.page.as_ref().map_or(&[], |p| p.rows.as_slice())
    }

    pub fn sync_rows(&self) -> &[UnconfirmedSync] {
        self.syncs.as_deref().unwrap_or(&[])
    }

    /// Whether the query is a loss query (its rows carry the card's state then).
    pub fn loss_query(&self) -> bool {
        self.page.as_ref().is_some_and(|p| p.query.lost_cards)
    }

    fn load_page(&mut self, sh: &mut Shell, offset: i64) -> Vec<Effect> {
        self.query.offset = offset.max(0);
        self.query.limit = PAGE;
        vec![Effect::Query {
            gen: sh.next_gen(),
            query: self.query.clone(),
            door: String::new(),
        }]
    }

    fn turn_page(&mut self, sh: &mut Shell, forward: bool) -> Vec<Effect> {
        let total = self.page.as_ref().map_or(0, |p| p.total);
        let at = self.query.offset;
        let to = if forward { at + PAGE } else { at - PAGE };
        if to < 0 || (forward && to as u64 >= total) {
            return sh.info_key(if forward {
                "door.records.last_page"
            } else {
                "door.records.first_page"
            });
        }
        self.selected = 0;
        self.load_page(sh, to)
    }

    fn load_syncs(&mut self, sh: &mut Shell) -> Vec<Effect> {
        vec![Effect::LoadSyncs { gen: sh.next_gen() }]
    }

    /// Keys taken before the keymap (a form or popup open). None: not taken.
    pub fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = self.answer(sh, key) {
            return Some(fx);
        }
        let popup = self.popup.take()?;
        Some(match popup {
            Popup::Query(mut form) => match form.key(key) {
                FormKey::Cancel => sh.cancelled(),
                FormKey::Submit => {
                    let fx = forms::submit_query(sh, &mut form);
                    self.popup = Some(Popup::Query(form));
                    fx
                }
                _ => {
                    self.popup = Some(Popup::Query(form));
                    vec![]
                }
            },
            Popup::Export(mut form) => match form.key(key) {
                FormKey::Cancel => sh.cancelled(),
                FormKey::Submit => {
                    let fx = forms::submit_export(sh, &self.query, &mut form);
                    self.popup = Some(Popup::Export(form));
                    fx
                }
                _ => {
                    self.popup = Some(Popup::Export(form));
                    vec![]
                }
            },
            Popup::Purge(mut p) => {
                // A purge once running ends on its own (each batch is committed).
                if p.progress.is_some() {
                    self.popup = Some(Popup::Purge(p));
                    return Some(vec![]);
                }
                match p.form.key(key) {
                    FormKey::Cancel => sh.cancelled(),
                    FormKey::Submit => {
                        let next = forms::submit_purge(sh, &mut p);
                        self.popup = Some(Popup::Purge(p));
                        match next {
                            forms::PurgeNext::Nothing => vec![],
                            forms::PurgeNext::Preview(cutoff) => {
                                vec![Effect::PurgePreview {
                                    gen: sh.next_gen(),
                                    cutoff: Some(cutoff),
                                }]
                            }
                            forms::PurgeNext::Ask(question, step) => self.ask(question, *step),
                        }
                    }
                    _ => {
                        self.popup = Some(Popup::Purge(p));
                        vec![]
                    }
                }
            }
        })
    }

    /// One of the sub-view's commands. None: not one of them.
    pub fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        Some(match cmd {
            Command::DoorQuery => {
                self.pane = Pane::Events;
                self.popup = Some(Popup::Query(forms::query_form(
                    sh,
                    &self.query,
                    &self.door_text,
                )));
                vec![]
            }
            Command::DoorPageNext | Command::DoorPagePrev if self.pane == Pane::Events => {
                self.turn_page(sh, cmd == Command::DoorPageNext)
            }
            Command::DoorPageNext | Command::DoorPagePrev => vec![],
            Command::DoorExport => {
                if !sh.may(Action::ReportExport) {
                    return Some(sh.denied(Action::ReportExport));
                }
                self.pane = Pane::Events;
                self.popup = Some(Popup::Export(forms::export_form(sh)));
                vec![]
            }
            Command::DoorSyncs => match self.pane {
                Pane::Syncs => {
                    self.pane = Pane::Events;
                    vec![]
                }
                Pane::Events => {
                    self.pane = Pane::Syncs;
                    self.load_syncs(sh)
                }
            },
            Command::DoorPurge => {
                if !sh.may(Action::RecordPurge) {
                    return Some(sh.denied(Action::RecordPurge));
                }
                self.popup = Some(Popup::Purge(forms::purge_view(sh)));
                vec![Effect::PurgePreview {
                    gen: sh.next_gen(),
                    cutoff: None,
                }]
            }
            _ => return None,
        })
    }

    /// The list laid out in `body`: a heading line, then the table.
    pub fn split(body: Rect) -> (Rect, Rect) {
        let head = body.height.min(1);
        (
            Rect::new(body.x, body.y, body.width, head),
            Rect::new(body.x, body.y + head, body.width, body.height - head),
        )
    }

    pub fn rows(&self, _sh: &Shell, body: Rect) -> Rows {
        let (n, at) = match self.pane {
            Pane::Events => (self.events().len(), self.selected),
            Pane::Syncs => (self.sync_rows().len(), self.sync_selected),
        };
        Rows {
            n,
            at,
            page: layout::table_window(Records::split(body).1, 0).0,
        }
    }

    pub fn select(&mut self, _sh: &mut Shell, to: usize) -> Vec<Effect> {
        match self.pane {
            Pane::Events => self.selected = to.min(self.events().len().saturating_sub(1)),
            Pane::Syncs => self.sync_selected = to.min(self.sync_rows().len().saturating_sub(1)),
        }
        vec![]
    }

    /// Everything shown, read again (entering the sub-view, a refresh).
    pub fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let mut fx = self.load_page(sh, self.query.offset);
        if self.pane == Pane::Syncs {
            fx.extend(self.load_syncs(sh));
        }
        fx
    }

    /// Once per frame while shown: a card change or a command's progress moves the syncs.
    pub fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if self.pane == Pane::Syncs && (!change.card.is_empty() || !change.command.is_empty()) {
            return self.load_syncs(sh);
        }
        vec![]
    }

    pub fn hints(&self, _sh: &Shell) -> Vec<Command> {
        let mut h = vec![Command::Help, Command::DoorQuery];
        if self.pane == Pane::Events {
            h.extend([Command::DoorPageNext, Command::DoorPagePrev]);
        }
        h.extend([
            Command::DoorExport,
            Command::DoorSyncs,
            Command::DoorPurge,
            Command::DoorsView,
            Command::Quit,
        ]);
        h
    }

    pub fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    /// Esc with nothing open: None leaves the sub-view.
    pub fn cancel(&mut self, _sh: &mut Shell) -> Option<Vec<Effect>> {
        match self.pane {
            Pane::Syncs => {
                self.pane = Pane::Events;
                Some(vec![])
            }
            Pane::Events => None,
        }
    }

    /// A refusal arrived: a popup waiting for its answer takes it.
    pub fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        let lang = sh.lang;
        match &mut self.popup {
            Some(Popup::Query(form)) if form.busy => {
                form.refused(words::failure(lang, f));
                true
            }
            Some(Popup::Export(form)) if form.busy => {
                // A file of that name: replaced only when the operator says so.
                if let Failure::File(FileTrouble::Exists { path }) = f {
                    let effect = Effect::Export {
                        query: self.query.clone(),
                        path: path.clone(),
                        overwrite: true,
                    };
                    self.popup = None;
                    self.ask(
                        trf(lang, "confirm.overwrite", &[("path", path)]),
                        Step::Run(effect),
                    );
                } else {
                    form.refused(words::failure(lang, f));
                }
                true
            }
            Some(Popup::Purge(p)) if p.progress.is_some() => {
                // What went is gone (and audited); the message line says why the rest did not.
                self.popup = None;
                false
            }
            Some(Popup::Purge(p)) if p.form.busy => {
                p.form.refused(words::failure(lang, f));
                true
            }
            _ => false,
        }
    }
}
