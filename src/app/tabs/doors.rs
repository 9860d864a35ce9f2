//! The Doors tab, for the duty operator and the door administrator: the controller tree with
//! live states, the live event feed, remote open, door settings and controller actions, and
//! the records sub-view (queries, exports, pending syncs, purge).

pub mod feed;
pub mod records;
pub mod tree;

use super::{Arrive, Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::Filter;
use crate::app::form::{Confirm, Field, FieldId, Form, FormKey, Input, Opt};
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::command::{DoorMode, TerminalCommand};
use crate::db::door::{self, AlarmFlag, DoorEvent, DoorRow};
use crate::db::notify::Change;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::{Command, Section};
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use feed::Feed;
use ratatui::layout::Rect;
use tree::{Controller, Tree, TreeRow};

/// Which list the cursor keys and `/` act on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Tree,
    Feed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsField {
    Name,
    Location,
    Mode,
    UnlockSecs,
}

impl FieldId for SettingsField {
    fn label(self) -> &'static str {
        match self {
            SettingsField::Name => "door.form.name",
            SettingsField::Location => "door.form.location",
            SettingsField::Mode => "door.form.mode",
            SettingsField::UnlockSecs => "door.form.unlock_secs",
        }
    }
}

/// A door's settings being edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub terminal_id: i64,
    pub door: i16,
    /// As the tree showed them when the form opened: only what changed is saved.
    pub was: DoorRow,
    pub form: Form<SettingsField>,
}

#[derive(Debug, Clone, Default)]
pub struct Doors {
    pub tree: Tree,
    pub feed: Feed,
    pub focus: Focus,
    pub settings: Option<Settings>,
    pub confirm: Option<Confirm<Effect>>,
    /// The records sub-view (queries, syncs, purge) is shown instead of the live screen.
    pub showing_records: bool,
    pub records: records::Records,
    /// Kept only so `filter()` has something to lend while the records sub-view has none.
    pub no_filter: Filter,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Loaded {
        gen: u64,
        doors: Vec<DoorRow>,
    },
    /// The doors of the controllers `ids` as they are now.
    Changed {
        gen: u64,
        ids: Vec<i64>,
        doors: Vec<DoorRow>,
    },
    Flags {
        gen: u64,
        flags: Vec<AlarmFlag>,
    },
    /// The feed's first read (newest first), or a read of new events (oldest first; `more`:
    /// the read was full, there may be more).
    Feed {
        start: bool,
        events: Vec<DoorEvent>,
        more: bool,
    },
    /// A door's settings were saved; a new mode was queued as this command (id, controller)
    /// for the controller, whose answer the queue follows.
    Saved {
        about: String,
        queued: Option<(i64, i64, TerminalCommand)>,
    },
    Records(records::Msg),
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
    Flags {
        gen: u64,
    },
    /// The feed's newest events.
    FeedStart,
    /// Events received after `after`.
    FeedSince {
        after: DateTime<Utc>,
    },
    /// A momentary unlock, through the queue; the controller's answer comes back through it.
    RemoteOpen {
        terminal_id: i64,
        door: i16,
        about: String,
    },
    /// A door's settings: its name and place when `rename`, its mode and unlock time when
    /// `remode` (a command to the controller).
    Settings {
        terminal_id: i64,
        door: i16,
        about: String,
        rename: Option<(String, String)>,
        remode: Option<(DoorMode, u8)>,
    },
    SetInScan {
        terminal_id: i64,
        in_scan: bool,
    },
    /// Follows a command queued already (a new mode) until the controller answers.
    Follow {
        id: i64,
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    /// A command to a controller, through the queue its line's poller consumes.
    Enqueue {
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    Records(records::Effect),
}

fn lift(fx: Vec<records::Effect>) -> Vec<Effect> {
    fx.into_iter().map(Effect::Records).collect()
}

/// "图书馆东门 (图书馆门禁 · 门 1)": what popups and messages call a door.
pub fn door_named(lang: Lang, d: &DoorRow) -> String {
    trf(
        lang,
        "door.named",
        &[
            (
                "door",
                &words::door_label(lang, &d.name, &d.controller, d.door),
            ),
            ("controller", &d.controller),
            ("serial", &d.serial.to_string()),
            ("n", &d.door.to_string()),
        ],
    )
}

/// "图书馆门禁 (405419896)": what popups and messages call a controller.
pub fn controller_named(lang: Lang, c: &Controller) -> String {
    let h = c.head();
    trf(
        lang,
        "door.controller_named",
        &[
            ("controller", &h.controller),
            ("serial", &h.serial.to_string()),
        ],
    )
}

fn mode_of(name: &str) -> DoorMode {
    match name {
        "normally_open" => DoorMode::NormallyOpen,
        "normally_closed" => DoorMode::NormallyClosed,
        _ => DoorMode::Controlled,
    }
}

/// The permission each of the tab's commands needs (None: anyone who sees the tab).
fn action_of(cmd: Command) -> Option<Action> {
    Some(match cmd {
        Command::DoorRemoteOpen => Action::DoorRemoteOpen,
        Command::DoorSettings | Command::DoorScanToggle => Action::DoorSetting,
        Command::DoorOnlineTest => TerminalCommand::OnlineTest.action(),
        Command::DoorSetTime => TerminalCommand::SetTime.action(),
        Command::DoorMark | Command::DoorExtract | Command::DoorExtractAll => {
            TerminalCommand::Extract.action()
        }
        Command::DoorClearRecords => TerminalCommand::ClearRecords.action(),
        Command::DoorDownloadCards => TerminalCommand::DownloadCards.action(),
        _ => return None,
    })
}

impl Doors {
    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    fn answer(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        super::answer(&mut self.confirm, sh, key)
    }

    /// A read of the feed's new events, unless one is on its way (then once it answers).
    fn read_feed(&mut self) -> Vec<Effect> {
        if self.feed.loading {
            self.feed.again = true;
            return vec![];
        }
        self.feed.loading = true;
        match (self.feed.loaded, self.feed.newest) {
            (true, Some(newest)) => {
                let window = chrono::Duration::from_std(door::FEED_REREAD).unwrap_or_default();
                vec![Effect::FeedSince {
                    after: newest - window,
                }]
            }
            _ => vec![Effect::FeedStart],
        }
    }

    fn open_settings(&mut self, sh: &Shell, d: &DoorRow) {
        let lang = sh.lang;
        let modes = ["controlled", "normally_open", "normally_closed"]
            .into_iter()
            .map(|m| Opt::new(m, words::door_mode(lang, m)))
            .collect();
        let form = Form::new(
            tr(lang, "door.form.title").to_string(),
            vec![
                Field::text(SettingsField::Name, &d.name),
                Field::text(SettingsField::Location, &d.location),
                Field::with(
                    SettingsField::Mode,
                    Input::choice(modes, door::mode_name(d.mode)),
                ),
                Field::text(SettingsField::UnlockSecs, &d.unlock_secs.to_string()),
            ],
        )
        .with_intro(vec![door_named(lang, d)]);
        self.settings = Some(Settings {
            terminal_id: d.terminal_id,
            door: d.door,
            was: d.clone(),
            form,
        });
    }

    fn on_settings_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(s) = self.settings.as_mut() else {
            return vec![];
        };
        match s.form.key(key) {
            FormKey::Cancel => {
                self.settings = None;
                sh.cancelled()
            }
            FormKey::Submit => {
                let form = &mut s.form;
                let secs = form.text(SettingsField::UnlockSecs).trim().parse::<u8>();
                let Ok(secs @ 1..) = secs else {
                    form.focus_on(SettingsField::UnlockSecs);
                    form.error = Some(words::failure(
                        lang,
                        &Failure::DoorInvalid {
                            field: door::Field::UnlockSecs,
                            value: form.text(SettingsField::UnlockSecs).to_string(),
                            problem: door::Problem::OutOfRange { min: 1, max: 255 },
                        },
                    ));
                    return vec![];
                };
                let mode = mode_of(form.choice(SettingsField::Mode));
                let (name, location) = (
                    form.text(SettingsField::Name).trim().to_string(),
                    form.text(SettingsField::Location).trim().to_string(),
                );
                let rename =
                    (name != s.was.name || location != s.was.location).then_some((name, location));
                let remode = (mode != s.was.mode || i16::from(secs) != s.was.unlock_secs)
                    .then_some((mode, secs));
                if rename.is_none() && remode.is_none() {
                    self.settings = None;
                    return sh.info_key("door.msg.unchanged");
                }
                form.busy = true;
                form.error = None;
                vec![Effect::Settings {
                    terminal_id: s.terminal_id,
                    door: s.door,
                    about: door_named(lang, &s.was),
                    rename,
                    remode,
                }]
            }
            _ => vec![],
        }
    }

    fn run_door(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        if let Some(action) = action_of(cmd) {
            if !sh.may(action) {
                return sh.denied(action);
            }
        }
        let lang = sh.lang;
        match cmd {
            Command::DoorRemoteOpen => {
                let Some((c, d)) = self.tree.door() else {
                    return sh.info_key("door.msg.no_door");
                };
                let about = door_named(lang, d);
                let question = trf(
                    lang,
                    "door.confirm.remote_open",
                    &[
                        (
                            "door",
                            &words::door_label(lang, &d.name, &d.controller, d.door),
                        ),
                        ("location", &d.location),
                        ("controller", &controller_named(lang, c)),
                    ],
                );
                let effect = Effect::RemoteOpen {
                    terminal_id: d.terminal_id,
                    door: d.door,
                    about,
                };
                self.ask(question, effect)
            }
            Command::DoorSettings => {
                let Some((_, d)) = self.tree.door() else {
                    return sh.info_key("door.msg.no_door");
                };
                let d = d.clone();
                self.open_settings(sh, &d);
                vec![]
            }
            Command::DoorScanToggle => {
                let Some(c) = self.tree.selected_controller() else {
                    return sh.info_key("door.msg.no_controller");
                };
                vec![Effect::SetInScan {
                    terminal_id: c.terminal_id,
                    in_scan: !c.head().in_scan,
                }]
            }
            Command::DoorMark => {
                let Some(id) = self.tree.selected_controller().map(|c| c.terminal_id) else {
                    return sh.info_key("door.msg.no_controller");
                };
                if !self.tree.marked.remove(&id) {
                    self.tree.marked.insert(id);
                }
                vec![]
            }
            Command::DoorExtract | Command::DoorExtractAll => {
                let ids: Vec<i64> = if cmd == Command::DoorExtractAll {
                    self.tree.list.rows.iter().map(|c| c.terminal_id).collect()
                } else if !self.tree.marked.is_empty() {
                    self.tree.marked.iter().copied().collect()
                } else {
                    self.tree
                        .selected_controller()
                        .map(|c| c.terminal_id)
                        .into_iter()
                        .collect()
                };
                if ids.is_empty() {
                    return sh.info_key("door.msg.no_controller");
                }
                self.tree.marked.clear();
                ids.into_iter()
                    .filter_map(|id| {
                        let c = self.tree.controller(id)?;
                        Some(Effect::Enqueue {
                            terminal_id: id,
                            about: controller_named(lang, c),
                            command: TerminalCommand::Extract,
                        })
                    })
                    .collect()
            }
            _ => {
                let Some(c) = self.tree.selected_controller() else {
                    return sh.info_key("door.msg.no_controller");
                };
                let named = controller_named(lang, c);
                let enqueue = |command| Effect::Enqueue {
                    terminal_id: c.terminal_id,
                    about: named.clone(),
                    command,
                };
                match cmd {
                    Command::DoorOnlineTest => vec![enqueue(TerminalCommand::OnlineTest)],
                    Command::DoorSetTime => vec![enqueue(TerminalCommand::SetTime)],
                    Command::DoorDownloadCards => vec![enqueue(TerminalCommand::DownloadCards)],
                    _ => {
                        let effect = enqueue(TerminalCommand::ClearRecords);
                        let question = trf(
                            lang,
                            "door.confirm.clear_records",
                            &[("controller", &named)],
                        );
                        self.ask(question, effect)
                    }
                }
            }
        }
    }

    fn tree_loaded(&mut self, sh: &mut Shell, before: Vec<Controller>, index: usize) {
        self.tree.sort();
        if !before.is_empty() {
            for (id, name, online) in Tree::status_changes(&before, &self.tree.list.rows) {
                self.feed.controller(sh.lang, sh.now, id, name, online);
            }
        }
        self.tree.reselect(sh.lang, index);
    }
}

pub fn update(d: &mut Doors, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    let lang = sh.lang;
    match msg {
        Msg::Loaded { gen, doors } => {
            let index = d.tree.selected_index(lang);
            let before = d.tree.list.rows.clone();
            d.tree.list.full(gen, tree::group(doors), |c| c.terminal_id);
            d.tree_loaded(sh, before, index);
            vec![]
        }
        Msg::Changed { gen, ids, doors } => {
            if !d.tree.list.loaded {
                return vec![];
            }
            let index = d.tree.selected_index(lang);
            let before = d.tree.list.rows.clone();
            d.tree
                .list
                .some(gen, &ids, tree::group(doors), |c| c.terminal_id);
            d.tree_loaded(sh, before, index);
            vec![]
        }
        Msg::Flags { gen, flags } => {
            if d.tree.flags_shown.take(gen) {
                d.tree.flags = flags;
            }
            vec![]
        }
        Msg::Feed {
            start,
            mut events,
            more,
        } => {
            d.feed.loading = false;
            if start {
                events.reverse();
            }
            let mut ids = d.feed.events(lang, events);
            let mut fx = Vec::new();
            // A new event is its door's last event: the controller's rows are read again
            // (not at the start: the tree's own load has them).
            if !start && d.tree.list.loaded {
                ids.sort_unstable();
                ids.dedup();
                if !ids.is_empty() {
                    fx.push(Effect::LoadById {
                        gen: sh.next_gen(),
                        ids,
                    });
                }
            }
            d.feed.loaded = true;
            if more || std::mem::take(&mut d.feed.again) {
                fx.extend(d.read_feed());
            }
            fx
        }
        Msg::Saved { about, queued } => {
            d.settings = None;
            sh.info::<Effect>(trf(lang, "door.msg.saved", &[("door", &about)]));
            queued
                .map(|(id, terminal_id, command)| Effect::Follow {
                    id,
                    terminal_id,
                    about,
                    command,
                })
                .into_iter()
                .collect()
        }
        Msg::Records(m) => lift(records::update(&mut d.records, sh, m)),
    }
}

impl View for Doors {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Doors
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(fx) = self.answer(sh, key) {
            return Some(fx);
        }
        if self.settings.is_some() {
            return Some(self.on_settings_key(sh, key));
        }
        if self.showing_records {
            return self.records.key(sh, key).map(lift);
        }
        None
    }

    fn confirming(&self) -> Option<&str> {
        if self.showing_records {
            if let Some(q) = self.records.confirming() {
                return Some(q);
            }
        }
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        if cmd == Command::DoorsView {
            self.showing_records = !self.showing_records;
            return Some(if self.showing_records {
                lift(self.records.reload(sh))
            } else {
                self.reload(sh)
            });
        }
        if self.showing_records {
            return self.records.run(sh, cmd).map(lift);
        }
        match cmd {
            Command::DoorsFocus => {
                self.focus = match self.focus {
                    Focus::Tree => Focus::Feed,
                    Focus::Feed => Focus::Tree,
                };
                Some(vec![])
            }
            Command::DoorsPause => {
                self.feed.toggle_pause();
                Some(vec![])
            }
            Command::DoorRemoteOpen
            | Command::DoorSettings
            | Command::DoorScanToggle
            | Command::DoorOnlineTest
            | Command::DoorSetTime
            | Command::DoorMark
            | Command::DoorExtract
            | Command::DoorExtractAll
            | Command::DoorClearRecords
            | Command::DoorDownloadCards => Some(self.run_door(sh, cmd)),
            _ => None,
        }
    }

    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        match action_of(cmd) {
            Some(action) if !sh.may(action) => {
                sh.denied::<Effect>(action);
                Arrive::Stay
            }
            _ => Arrive::Go { run: false },
        }
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        if self.showing_records {
            return self.records.rows(sh, body);
        }
        let areas = split(body);
        match self.focus {
            Focus::Tree => Rows {
                n: self.tree.selectable(sh.lang).len(),
                at: self.tree.selected_index(sh.lang),
                page: areas.tree.height.saturating_sub(3).max(1) as usize,
            },
            Focus::Feed => Rows {
                n: self.feed.len(),
                at: self.feed.at,
                page: areas.feed.height.saturating_sub(4).max(1) as usize,
            },
        }
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        if self.showing_records {
            return lift(self.records.select(sh, to));
        }
        match self.focus {
            Focus::Tree => {
                let shown = self.tree.selectable(sh.lang);
                if let Some(s) = shown.get(to.min(shown.len().saturating_sub(1))) {
                    self.tree.selected = Some(*s);
                }
            }
            Focus::Feed => self.feed.select(to),
        }
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        if self.showing_records {
            return vec![];
        }
        let areas = split(body);
        let inside = |r: Rect| x >= r.x && x < r.right() && y >= r.y && y < r.bottom();
        if inside(areas.tree) {
            self.focus = Focus::Tree;
            let rows = self.tree.rows(sh.lang);
            let at = self.tree.selected_row(sh.lang).unwrap_or(0);
            if let Some(i) = crate::app::layout::table_row_at(areas.tree, at, rows.len(), x, y) {
                if let Some(s) = rows[i].sel() {
                    self.tree.selected = Some(s);
                }
            }
        } else if inside(areas.feed) {
            self.focus = Focus::Feed;
        }
        vec![]
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let mut fx = vec![
            Effect::Load { gen: sh.next_gen() },
            Effect::Flags { gen: sh.next_gen() },
        ];
        fx.extend(self.read_feed());
        if self.showing_records {
            fx.extend(lift(self.records.reload(sh)));
        }
        fx
    }

    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.tree.list.loaded {
            let mut ids: Vec<i64> = change
                .door
                .iter()
                .chain(&change.terminal)
                .copied()
                .collect();
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                fx.push(Effect::LoadById {
                    gen: sh.next_gen(),
                    ids,
                });
            }
        }
        if !change.alarm.is_empty() {
            fx.push(Effect::Flags { gen: sh.next_gen() });
        }
        if change.records.iter().any(|r| r == "door_event") {
            fx.extend(self.read_feed());
        }
        if self.feed.stale_filter(sh.lang) {
            self.feed.refilter(sh.lang);
        }
        if self.showing_records {
            fx.extend(lift(self.records.frame(sh, change)));
        }
        fx
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        if self.showing_records {
            return self.records.hints(sh);
        }
        let mut h = vec![
            Command::Help,
            Command::Filter,
            Command::DoorsFocus,
            Command::DoorsPause,
        ];
        h.extend(
            [
                Command::DoorRemoteOpen,
                Command::DoorSettings,
                Command::DoorExtract,
                Command::DoorOnlineTest,
            ]
            .into_iter()
            .filter(|c| action_of(*c).is_none_or(|a| sh.may(a))),
        );
        h.extend([Command::DoorsView, Command::TabNext, Command::Quit]);
        h
    }

    fn filter(&self) -> Option<&Filter> {
        if self.showing_records {
            return None;
        }
        Some(match self.focus {
            Focus::Tree => &self.tree.filter,
            Focus::Feed => &self.feed.filter,
        })
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        if self.showing_records {
            return None;
        }
        Some(match self.focus {
            Focus::Tree => &mut self.tree.filter,
            Focus::Feed => &mut self.feed.filter,
        })
    }

    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        match self.focus {
            Focus::Tree => self.tree.reselect(sh.lang, 0),
            Focus::Feed => self.feed.refilter(sh.lang),
        }
        vec![]
    }

    fn cancel(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.showing_records {
            if let Some(fx) = self.records.cancel(sh) {
                return lift(fx);
            }
            self.showing_records = false;
            return vec![];
        }
        if self.feed.paused.is_some() {
            self.feed.toggle_pause();
        }
        vec![]
    }

    fn activate(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !self.showing_records && self.focus == Focus::Tree && self.tree.door().is_some() {
            return self.run_door(sh, Command::DoorSettings);
        }
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        if self.showing_records && self.records.failed(sh, f) {
            return true;
        }
        match self.settings.as_mut().filter(|s| s.form.busy) {
            Some(s) => {
                s.form.refused(words::failure(sh.lang, f));
                true
            }
            None => false,
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Doors::default();
        vec![]
    }
}

/// Where the tab's parts go: wide, the tree (and the selected item's details under it) left
/// of the feed; narrow, the tree above the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tree: Rect,
    pub detail: Option<Rect>,
    pub feed: Rect,
}

pub fn split(body: Rect) -> Areas {
    if body.width >= 120 {
        let left = body.width * 11 / 20;
        let (tree_h, detail) = if body.height >= 30 {
            let d = 12.min(body.height / 3);
            (
                body.height - d,
                Some(Rect::new(body.x, body.y + body.height - d, left, d)),
            )
        } else {
            (body.height, None)
        };
        Areas {
            tree: Rect::new(body.x, body.y, left, tree_h),
            detail,
            feed: Rect::new(body.x + left, body.y, body.width - left, body.height),
        }
    } else {
        let top = (body.height * 9 / 20).max(6).min(body.height);
        Areas {
            tree: Rect::new(body.x, body.y, body.width, top),
            detail: None,
            feed: Rect::new(body.x, body.y + top, body.width, body.height - top),
        }
    }
}

/// Whether `row` is a door with an unacknowledged forced- or held-open alarm.
pub fn alarmed(t: &Tree, row: &TreeRow) -> bool {
    matches!(row, TreeRow::Door(c, d) if t.door_alarmed(c.terminal_id, d.door))
}
