//! The Patrol tab, for duty staff: the live map (checkpoints coloured by their rounds' state,
//! the guards' last positions, the latest scans) and its edit mode (move checkpoints by keys or
//! by mouse drag, place and take them off, add and delete maps), the open exceptions closed
//! with a comment, the omission report with its CSV export, and the setup lists.

pub mod lists;
pub mod map;
mod popups;
pub mod setup;

use super::{Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::Filter;
use crate::app::form::{Confirm, Field, Form};
use crate::app::shell::Shell;
use crate::db::command::TerminalCommand;
use crate::db::notify::Change;
use crate::db::patrol::exceptions::PatrolException;
use crate::db::patrol::live::{CheckpointLive, GuardPosition, RecentScan};
use crate::db::patrol::purge::Purged;
use crate::db::patrol::{Guard, Route, Schedule};
use crate::domain::permission::Action;
use crate::i18n::{tr, trf};
use crate::keymap::{Command, Section};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use lists::{ExceptionsModel, OmissionsModel, Range, Report};
use map::{Geometry, LoadedMap, MapModel, Moving};
pub use popups::{CloseField, MapField, Popup, PurgeField, PurgeView};
use ratatui::layout::Rect;
use setup::{Item, List, SetupData, SetupModel};

/// How often the live map is read again with nothing announced (states move with the clock).
pub const LIVE_EVERY_S: i64 = 15;

/// Which part of the tab is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pane {
    #[default]
    Map,
    Exceptions,
    Omissions,
    Setup,
}

/// A place on a map: (map, x, y) in the map's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spot {
    pub map: i64,
    pub x: f32,
    pub y: f32,
}

// Places are compared as the numbers they were given (never NaN: they come from the screen).
impl Eq for Spot {}

impl Spot {
    pub fn tuple(self) -> (i64, f32, f32) {
        (self.map, self.x, self.y)
    }
}

/// A checkpoint as its form saves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointEdit {
    pub tag: i64,
    pub name: String,
    pub location: String,
    pub place: Option<Spot>,
    pub early_s: Option<i32>,
    pub late_s: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct Patrol {
    pub pane: Pane,
    pub map: MapModel,
    pub exceptions: ExceptionsModel,
    pub omissions: OmissionsModel,
    pub setup: SetupModel,
    pub popup: Option<Popup>,
    pub confirm: Option<Confirm<Effect>>,
    /// When the live map was last asked for.
    pub live_at: Option<DateTime<Utc>>,
    pub purge_shown: crate::app::load::Shown,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Maps {
        gen: u64,
        maps: Vec<LoadedMap>,
    },
    Live {
        gen: u64,
        live: Vec<CheckpointLive>,
        positions: Vec<GuardPosition>,
        recent: Vec<RecentScan>,
    },
    Exceptions {
        gen: u64,
        open: Vec<PatrolException>,
        history: Vec<PatrolException>,
    },
    Report {
        gen: u64,
        report: Box<Report>,
    },
    Setup {
        gen: u64,
        data: Box<SetupData>,
    },
    Exported {
        rows: u64,
        path: String,
    },
    PurgePreview {
        gen: u64,
        before: chrono::NaiveDate,
        preview: Purged,
    },
    PurgeProgress(Purged),
    Purged {
        before: chrono::NaiveDate,
        purged: Purged,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadMaps {
        gen: u64,
    },
    LoadLive {
        gen: u64,
        now: DateTime<Utc>,
    },
    LoadExceptions {
        gen: u64,
        now: DateTime<Utc>,
    },
    /// The report as it stands at `now` (visits of rounds still open are pending).
    LoadReport {
        gen: u64,
        range: Range,
        now: DateTime<Utc>,
    },
    LoadSetup {
        gen: u64,
    },
    /// Places a checkpoint (or takes it off the map, with None).
    Place {
        tag: i64,
        place: Option<Spot>,
    },
    /// A map from a file: a text plan or a PNG, told apart by its content.
    CreateMap {
        name: String,
        path: String,
    },
    DeleteMap {
        id: i64,
        name: String,
    },
    Close {
        visit_id: i64,
        comment: String,
    },
    SaveCheckpoint(CheckpointEdit),
    SaveRoute(Route),
    SaveGuard(Guard),
    SaveGroup {
        id: i64,
        name: String,
    },
    SaveSchedule(Schedule),
    Delete(Item),
    Export {
        range: Range,
        path: String,
        now: DateTime<Utc>,
    },
    /// A command to a reader, through the queue every tab uses.
    Enqueue {
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    PurgePreview {
        gen: u64,
        before: chrono::NaiveDate,
    },
    Purge {
        before: chrono::NaiveDate,
    },
}

pub fn update(p: &mut Patrol, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Maps { gen, maps } => {
            if p.map.maps_shown.take(gen) {
                let id = p.map.map_id();
                p.map.maps = maps;
                p.map.at = id
                    .and_then(|id| p.map.maps.iter().position(|m| m.map.id == id))
                    .unwrap_or(0);
                p.map.reselect();
            }
            vec![]
        }
        Msg::Live {
            gen,
            live,
            positions,
            recent,
        } => {
            p.map.loading = false;
            if p.map.live_shown.take(gen) {
                p.map.live = live;
                p.map.positions = positions;
                p.map.recent = recent;
                p.map.reselect();
            }
            if std::mem::take(&mut p.map.again) {
                return p.load_live(sh);
            }
            vec![]
        }
        Msg::Exceptions { gen, open, history } => {
            if p.exceptions.shown.take(gen) {
                p.exceptions.open = open;
                p.exceptions.history = history;
                p.exceptions.loaded = true;
                p.exceptions.at = p
                    .exceptions
                    .at
                    .min(p.exceptions.open.len().saturating_sub(1));
            }
            vec![]
        }
        Msg::Report { gen, report } => {
            if p.omissions.shown.take(gen) {
                p.omissions.report = Some(*report);
                p.omissions.at = 0;
            }
            vec![]
        }
        Msg::Setup { gen, data } => {
            if p.setup.shown.take(gen) {
                p.setup.data = *data;
                p.setup.loaded = true;
                p.setup.at = p.setup.at.min(p.setup.len().saturating_sub(1));
            }
            vec![]
        }
        Msg::PurgePreview {
            gen,
            before,
            preview,
        } => {
            if !p.purge_shown.take(gen) {
                return vec![];
            }
            let Some(Popup::Purge(v)) = &mut p.popup else {
                return vec![];
            };
            v.preview = Some(preview);
            v.form.busy = false;
            let n = |x: u64| x.to_string();
            let question = trf(
                sh.lang,
                "patrol.purge.confirm",
                &[
                    ("day", &before.to_string()),
                    ("scans", &n(preview.scans)),
                    ("visits", &n(preview.visits)),
                    ("exceptions", &n(preview.exceptions)),
                ],
            );
            p.ask(question, Effect::Purge { before })
        }
        Msg::PurgeProgress(done) => {
            if let Some(Popup::Purge(v)) = &mut p.popup {
                v.progress = Some(done);
            }
            vec![]
        }
        Msg::Purged { before, purged } => {
            if matches!(p.popup, Some(Popup::Purge(_))) {
                p.popup = None;
            }
            let n = |x: u64| x.to_string();
            sh.info(trf(
                sh.lang,
                "patrol.purge.done",
                &[
                    ("day", &before.to_string()),
                    ("scans", &n(purged.scans)),
                    ("visits", &n(purged.visits)),
                    ("exceptions", &n(purged.exceptions)),
                ],
            ))
        }
        Msg::Exported { rows, path } => {
            p.popup = None;
            sh.info(trf(
                sh.lang,
                "patrol.msg.exported",
                &[("rows", &rows.to_string()), ("path", &path)],
            ))
        }
    }
}

/// The Patrol tab's tick: the live map is read again every [`LIVE_EVERY_S`] while shown, so
/// a window opening or closing shows without a scan to announce it.
pub fn tick(p: &mut Patrol, sh: &mut Shell) -> Vec<Effect> {
    if p.pane != Pane::Map || sh.screen != crate::app::shell::Screen::Main {
        return vec![];
    }
    match p.live_at {
        Some(at) if (sh.now - at).num_seconds() < LIVE_EVERY_S => vec![],
        _ => p.load_live(sh),
    }
}

impl Patrol {
    fn load_live(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.map.loading {
            self.map.again = true;
            return vec![];
        }
        self.map.loading = true;
        self.live_at = Some(sh.now);
        vec![Effect::LoadLive {
            gen: sh.next_gen(),
            now: sh.now,
        }]
    }

    fn load_pane(&mut self, sh: &mut Shell) -> Vec<Effect> {
        match self.pane {
            Pane::Map => {
                // A frozen clock (a test) asks again when it is read again.
                self.map.loading = false;
                let mut fx = vec![Effect::LoadMaps { gen: sh.next_gen() }];
                fx.extend(self.load_live(sh));
                fx
            }
            Pane::Exceptions => vec![Effect::LoadExceptions {
                gen: sh.next_gen(),
                now: sh.now,
            }],
            Pane::Omissions => {
                let range = self.omissions.range.get_or_insert_with(|| Range {
                    from: sh.now - chrono::Duration::hours(24),
                    to: sh.now,
                    guard: String::new(),
                    route: String::new(),
                });
                vec![Effect::LoadReport {
                    gen: sh.next_gen(),
                    range: range.clone(),
                    now: sh.now,
                }]
            }
            Pane::Setup => vec![Effect::LoadSetup { gen: sh.next_gen() }],
        }
    }

    fn show(&mut self, sh: &mut Shell, pane: Pane) -> Vec<Effect> {
        self.pane = pane;
        self.map.moving = None;
        self.load_pane(sh)
    }

    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    /// The map's geometry in the body as the view lays it out now.
    pub fn geometry(&self, body: Rect) -> Option<Geometry> {
        self.map.geometry(map::split(body).plan)
    }

    fn edit_allowed(&self, sh: &mut Shell) -> Result<(), Vec<Effect>> {
        if sh.may(Action::PatrolEdit) {
            Ok(())
        } else {
            Err(sh.denied(Action::PatrolEdit))
        }
    }

    /// Saves a move in progress.
    fn save_move(&mut self) -> Vec<Effect> {
        let (Some(m), Some(map)) = (self.map.moving.take(), self.map.map_id()) else {
            return vec![];
        };
        vec![Effect::Place {
            tag: m.tag,
            place: Some(Spot {
                map,
                x: m.x,
                y: m.y,
            }),
        }]
    }

    /// An arrow key in edit mode moves the selected checkpoint one cell.
    fn nudge(&mut self, sh: &Shell, dx: f32, dy: f32) {
        let body = crate::app::layout::areas(Rect::new(0, 0, sh.size.0, sh.size.1)).body;
        let (Some(g), Some(lm)) = (self.geometry(body), self.map.map()) else {
            return;
        };
        let (w, h) = (lm.map.width as f32, lm.map.height as f32);
        let Some(c) = self.map.selected_live().cloned() else {
            return;
        };
        let Some((x, y)) = self.map.spot(&c) else {
            return;
        };
        let (sx, sy) = g.step();
        let x = (x + dx * sx).clamp(0.0, (w - 1.0).max(0.0)).round();
        let y = (y + dy * sy).clamp(0.0, (h - 1.0).max(0.0)).round();
        self.map.moving = Some(Moving {
            tag: c.tag,
            x,
            y,
            dragging: false,
        });
    }

    fn run_map(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        let lang = sh.lang;
        match cmd {
            Command::PatrolNext => {
                if !self.map.maps.is_empty() {
                    self.map.moving = None;
                    self.map.at = (self.map.at + 1) % self.map.maps.len();
                    self.map.follow_map();
                }
                vec![]
            }
            Command::PatrolEdit => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                self.map.editing = !self.map.editing;
                self.map.moving = None;
                sh.info_key(if self.map.editing {
                    "patrol.msg.editing"
                } else {
                    "patrol.msg.not_editing"
                })
            }
            Command::PatrolPlace => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let (Some(c), Some(lm)) = (self.map.selected_live().cloned(), self.map.map())
                else {
                    return sh.info_key("patrol.msg.no_checkpoint");
                };
                let here = lm.map.id;
                match c.place {
                    Some((m, _, _)) if m == here => {
                        self.map.moving = None;
                        vec![Effect::Place {
                            tag: c.tag,
                            place: None,
                        }]
                    }
                    _ => vec![Effect::Place {
                        tag: c.tag,
                        place: Some(Spot {
                            map: here,
                            x: (lm.map.width / 2) as f32,
                            y: (lm.map.height / 2) as f32,
                        }),
                    }],
                }
            }
            Command::PatrolAdd => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let form = Form::new(
                    tr(lang, "patrol.form.title.add_map").to_string(),
                    vec![
                        Field::text(MapField::Name, ""),
                        Field::text(MapField::Path, ""),
                    ],
                )
                .with_intro(vec![tr(lang, "patrol.form.intro.map").to_string()]);
                self.popup = Some(Popup::AddMap(form));
                vec![]
            }
            Command::PatrolDelete => {
                if let Err(fx) = self.edit_allowed(sh) {
                    return fx;
                }
                let Some(lm) = self.map.map() else {
                    return sh.info_key("patrol.msg.no_map");
                };
                let (id, name) = (lm.map.id, lm.map.name.clone());
                let question = trf(lang, "patrol.confirm.delete_map", &[("name", &name)]);
                self.ask(question, Effect::DeleteMap { id, name })
            }
            _ => vec![],
        }
    }

    fn on_edit_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        let (dx, dy) = match key.code {
            KeyCode::Left => (-1.0, 0.0),
            KeyCode::Right => (1.0, 0.0),
            KeyCode::Up => (0.0, -1.0),
            KeyCode::Down => (0.0, 1.0),
            KeyCode::Enter if self.map.moving.is_some() => return Some(self.save_move()),
            KeyCode::Esc if self.map.moving.is_some() => {
                self.map.moving = None;
                return Some(sh.cancelled());
            }
            _ => return None,
        };
        self.map.selected_live()?;
        self.nudge(sh, dx, dy);
        Some(vec![])
    }
}

impl View for Patrol {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Patrol
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = super::answer(&mut self.confirm, sh, key) {
            if let (Some(Effect::Purge { .. }), Some(Popup::Purge(v))) =
                (fx.first(), self.popup.as_mut())
            {
                v.progress = Some(Purged::default());
            } else if fx.is_empty() && matches!(self.popup, Some(Popup::Purge(_))) {
                // No to the purge: its popup closes too.
                self.popup = None;
            }
            return Some(fx);
        }
        if self.popup.is_some() {
            return Some(self.on_popup_key(sh, key));
        }
        if self.pane == Pane::Map && self.map.editing {
            return self.on_edit_key(sh, key);
        }
        None
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        Some(match cmd {
            Command::PatrolMap => self.show(sh, Pane::Map),
            Command::PatrolExceptions => self.show(sh, Pane::Exceptions),
            Command::PatrolOmissions => self.show(sh, Pane::Omissions),
            Command::PatrolSetup => self.show(sh, Pane::Setup),
            Command::PatrolPurge => self.open_purge(sh),
            Command::PatrolNext
            | Command::PatrolEdit
            | Command::PatrolPlace
            | Command::PatrolAdd
            | Command::PatrolDelete
            | Command::PatrolClose
            | Command::PatrolRange
            | Command::PatrolExport
            | Command::PatrolDownload
            | Command::PatrolExtract => match self.pane {
                Pane::Map => self.run_map(sh, cmd),
                _ => self.run_list(sh, cmd),
            },
            _ => return None,
        })
    }

    fn rows(&self, _sh: &Shell, body: Rect) -> Rows {
        let page = body.height.saturating_sub(4).max(1) as usize;
        match self.pane {
            Pane::Map => Rows {
                n: self.map.live.len(),
                at: self.map.selected_index(),
                page,
            },
            Pane::Exceptions => Rows {
                n: self.exceptions.open.len(),
                at: self.exceptions.at,
                page,
            },
            Pane::Omissions => Rows {
                n: self.omissions.report.as_ref().map_or(0, |r| r.visits.len()),
                at: self.omissions.at,
                page,
            },
            Pane::Setup => Rows {
                n: self.setup.len(),
                at: self.setup.at,
                page,
            },
        }
    }

    fn select(&mut self, _sh: &mut Shell, to: usize) -> Vec<Effect> {
        let clamp = |n: usize| to.min(n.saturating_sub(1));
        match self.pane {
            Pane::Map => {
                self.map.moving = None;
                self.map.select(to);
            }
            Pane::Exceptions => self.exceptions.at = clamp(self.exceptions.open.len()),
            Pane::Omissions => {
                let n = self.omissions.report.as_ref().map_or(0, |r| r.visits.len());
                self.omissions.at = clamp(n);
            }
            Pane::Setup => self.setup.at = clamp(self.setup.len()),
        }
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        if self.pane != Pane::Map {
            return vec![];
        }
        let Some(g) = self.geometry(body) else {
            return vec![];
        };
        let Some(tag) = self.map.hit(&g, x, y) else {
            return vec![];
        };
        self.map.selected = Some(tag);
        if self.map.editing && sh.may(Action::PatrolEdit) {
            if let Some(c) = self.map.selected_live().cloned() {
                if let Some((px, py)) = self.map.spot(&c) {
                    self.map.moving = Some(Moving {
                        tag,
                        x: px,
                        y: py,
                        dragging: true,
                    });
                }
            }
        }
        vec![]
    }

    fn drag(&mut self, _sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        let (Some(g), Some(lm)) = (self.geometry(body), self.map.map()) else {
            return vec![];
        };
        let (w, h) = (lm.map.width as f32, lm.map.height as f32);
        if let Some(m) = self.map.moving.as_mut().filter(|m| m.dragging) {
            let (px, py) = g.place(x, y, w, h);
            m.x = px;
            m.y = py;
        }
        vec![]
    }

    fn release(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        if !self.map.moving.is_some_and(|m| m.dragging) {
            return vec![];
        }
        self.drag(sh, body, x, y);
        self.save_move()
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.load_pane(sh)
    }

    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        let scans = change.records.iter().any(|r| r == "patrol_scan");
        let readers = self.pane == Pane::Setup
            && self.setup.list == List::Readers
            && (!change.terminal.is_empty() || !change.command.is_empty());
        if !change.patrol && !scans && !readers {
            return vec![];
        }
        match self.pane {
            Pane::Map => {
                let mut fx = Vec::new();
                if change.patrol {
                    fx.push(Effect::LoadMaps { gen: sh.next_gen() });
                }
                fx.extend(self.load_live(sh));
                fx
            }
            _ => self.load_pane(sh),
        }
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        let edit = sh.may(Action::PatrolEdit);
        let mut h = vec![Command::Help];
        match self.pane {
            Pane::Map => {
                h.push(Command::PatrolNext);
                if edit {
                    h.push(Command::PatrolEdit);
                    if self.map.editing {
                        h.extend([
                            Command::PatrolPlace,
                            Command::PatrolAdd,
                            Command::PatrolDelete,
                        ]);
                    }
                }
                h.extend([
                    Command::PatrolExceptions,
                    Command::PatrolOmissions,
                    Command::PatrolSetup,
                ]);
            }
            Pane::Exceptions => {
                if edit {
                    h.push(Command::PatrolClose);
                }
                h.extend([
                    Command::PatrolMap,
                    Command::PatrolOmissions,
                    Command::PatrolSetup,
                ]);
            }
            Pane::Omissions => {
                h.extend([
                    Command::PatrolRange,
                    Command::PatrolNext,
                    Command::PatrolExport,
                ]);
                h.extend([Command::PatrolMap, Command::PatrolExceptions]);
            }
            Pane::Setup if self.setup.list == List::Readers => {
                h.extend([
                    Command::PatrolNext,
                    Command::PatrolDownload,
                    Command::PatrolExtract,
                    Command::PatrolPurge,
                    Command::PatrolMap,
                ]);
            }
            Pane::Setup => {
                h.push(Command::PatrolNext);
                if edit {
                    h.extend([
                        Command::PatrolAdd,
                        Command::PatrolEdit,
                        Command::PatrolDelete,
                    ]);
                }
                h.push(Command::PatrolMap);
            }
        }
        h.extend([Command::TabNext, Command::Quit]);
        h
    }

    fn filter(&self) -> Option<&Filter> {
        None
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        None
    }

    fn filtered(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        vec![]
    }

    fn cancel(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        if self.map.moving.take().is_none() && self.pane == Pane::Map {
            self.map.editing = false;
        }
        vec![]
    }

    fn activate(&mut self, sh: &mut Shell) -> Vec<Effect> {
        match self.pane {
            Pane::Setup => self.run_list(sh, Command::PatrolEdit),
            Pane::Exceptions => self.run_list(sh, Command::PatrolClose),
            _ => vec![],
        }
    }

    fn leave(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        self.map.moving = None;
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        let text = || crate::app::words::failure(sh.lang, f);
        match &mut self.popup {
            Some(Popup::Close { form, .. }) if form.busy => form.refused(text()),
            Some(Popup::AddMap(form)) if form.busy => form.refused(text()),
            Some(Popup::Export(form)) if form.busy => form.refused(text()),
            Some(Popup::Setup(s)) if s.form.busy => s.form.refused(text()),
            Some(Popup::Purge(v)) if v.form.busy || v.progress.is_some() => {
                v.progress = None;
                v.form.refused(text());
            }
            _ => return false,
        }
        true
    }

    fn done(&mut self, _sh: &mut Shell) {
        let busy = match &self.popup {
            Some(Popup::Close { form, .. }) => form.busy,
            Some(Popup::AddMap(form)) => form.busy,
            Some(Popup::Export(form)) => form.busy,
            Some(Popup::Setup(s)) => s.form.busy,
            Some(Popup::Range(_)) | Some(Popup::Purge(_)) | None => false,
        };
        if busy {
            self.popup = None;
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Patrol::default();
        vec![]
    }
}
