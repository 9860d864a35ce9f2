//! The shell's `update`: routes keys, mouse, notifications, reloads and hints to the view shown,
//! and each tab's messages to its tab. The one place that knows the tabs by name is
//! [`view`]; everything else goes through [`View`], seen here as [`Dispatch`] (a tab's own
//! effects lifted into the app's).

use super::failure::Failure;
use super::filter::{Filter, FilterKey};
use super::layout;
use super::msg::{DbState, Msg};
use super::queue;
use super::session;
pub use super::shell::{owner, ViewId};
use super::shell::{Level, Overlay, Palette, Screen, Shell, TabId};
use super::state::State;
use super::tabs::{
    alarms, attendance, cards, doors, operators, patrol, settlement, terminals, Arrive, Rows, View,
};
use super::wallboard;
use super::words;
use super::Effect;
use crate::db::notify::Change;
use crate::i18n::trf;
use crate::keymap::key::Key;
use crate::keymap::{Command, Resolution, Section};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

/// A view as the router drives it: [`View`] with the tab's effects lifted into the app's.
pub trait Dispatch {
    fn section(&self) -> Section;
    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>>;
    fn unbound(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect>;
    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>>;
    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive;
    fn rows(&self, sh: &Shell, body: Rect) -> Rows;
    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect>;
    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect>;
    fn drag(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect>;
    fn release(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect>;
    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect>;
    fn wants_frame(&self) -> bool;
    fn hints(&self, sh: &Shell) -> Vec<Command>;
    fn filter(&self) -> Option<&Filter>;
    fn filter_mut(&mut self) -> Option<&mut Filter>;
    fn begin_filter(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn filter_prompt(&self) -> &'static str;
    fn confirming(&self) -> Option<&str>;
    fn esc_clears_filter(&self) -> bool;
    fn cancel(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn activate(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn leave(&mut self, sh: &mut Shell) -> Vec<Effect>;
    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool;
    fn done(&mut self, sh: &mut Shell);
    fn reset(&mut self) -> Vec<Effect>;
}

fn lift<E: Into<Effect>>(fx: Vec<E>) -> Vec<Effect> {
    fx.into_iter().map(Into::into).collect()
}

impl<T: View> Dispatch for T
where
    T::Effect: Into<Effect>,
{
    fn section(&self) -> Section {
        View::section(self)
    }
    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        View::key(self, sh, key).map(lift)
    }
    fn unbound(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        lift(View::unbound(self, sh, key))
    }
    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        View::run(self, sh, cmd).map(lift)
    }
    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        View::arrive(self, sh, cmd)
    }
    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        View::rows(self, sh, body)
    }
    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        lift(View::select(self, sh, to))
    }
    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        lift(View::click(self, sh, body, x, y))
    }
    fn drag(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        lift(View::drag(self, sh, body, x, y))
    }
    fn release(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        lift(View::release(self, sh, body, x, y))
    }
    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::reload(self, sh))
    }
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        lift(View::frame(self, sh, change))
    }
    fn wants_frame(&self) -> bool {
        View::wants_frame(self)
    }
    fn hints(&self, sh: &Shell) -> Vec<Command> {
        View::hints(self, sh)
    }
    fn filter(&self) -> Option<&Filter> {
        View::filter(self)
    }
    fn filter_mut(&mut self) -> Option<&mut Filter> {
        View::filter_mut(self)
    }
    fn begin_filter(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::begin_filter(self, sh))
    }
    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::filtered(self, sh))
    }
    fn filter_prompt(&self) -> &'static str {
        View::filter_prompt(self)
    }
    fn confirming(&self) -> Option<&str> {
        View::confirming(self)
    }
    fn esc_clears_filter(&self) -> bool {
        View::esc_clears_filter(self)
    }
    fn cancel(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::cancel(self, sh))
    }
    fn activate(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::activate(self, sh))
    }
    fn leave(&mut self, sh: &mut Shell) -> Vec<Effect> {
        lift(View::leave(self, sh))
    }
    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        View::failed(self, sh, f)
    }
    fn done(&mut self, sh: &mut Shell) {
        View::done(self, sh)
    }
    fn reset(&mut self) -> Vec<Effect> {
        lift(View::reset(self))
    }
}

/// The one dispatch from a view's id to the view.
pub fn view(state: &mut State, id: ViewId) -> (&mut Shell, &mut dyn Dispatch) {
    let State {
        shell,
        alarms,
        cards,
        doors,
        patrol,
        attendance,
        settlement,
        terminals,
        operators,
        ..
    } = state;
    let v: &mut dyn Dispatch = match id {
        ViewId::Alarms => alarms,
        ViewId::Tab(TabId::Cards) => cards,
        ViewId::Tab(TabId::Doors) => doors,
        ViewId::Tab(TabId::Patrol) => patrol,
        ViewId::Tab(TabId::Attendance) => attendance,
        ViewId::Tab(TabId::Settlement) => settlement,
        ViewId::Tab(TabId::Terminals) => terminals,
        ViewId::Tab(TabId::Operators) => operators,
    };
    (shell, v)
}

/// The same, to read.
pub fn view_ref(state: &State, id: ViewId) -> &dyn Dispatch {
    match id {
        ViewId::Alarms => &state.alarms,
        ViewId::Tab(TabId::Cards) => &state.cards,
        ViewId::Tab(TabId::Doors) => &state.doors,
        ViewId::Tab(TabId::Patrol) => &state.patrol,
        ViewId::Tab(TabId::Attendance) => &state.attendance,
        ViewId::Tab(TabId::Settlement) => &state.settlement,
        ViewId::Tab(TabId::Terminals) => &state.terminals,
        ViewId::Tab(TabId::Operators) => &state.operators,
    }
}

/// The view shown: the Alarms view while open, else the tab.
pub fn shown(state: &State) -> ViewId {
    if state.alarms.open {
        ViewId::Alarms
    } else {
        ViewId::Tab(state.shell.tab)
    }
}

fn all_views() -> impl Iterator<Item = ViewId> {
    std::iter::once(ViewId::Alarms).chain(TabId::ALL.into_iter().map(ViewId::Tab))
}

/// The keymap section keys resolve in now.
pub fn key_section(state: &State) -> Section {
    view_ref(state, shown(state)).section()
}

/// Whether the next frame has anything to do.
pub fn wants_frame(state: &State) -> bool {
    !state.pending.is_empty() || view_ref(state, shown(state)).wants_frame()
}

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut fx = handle(state, msg);
    // An error said or an alarm raised during the update rings once.
    if std::mem::take(&mut state.shell.bell) {
        fx.push(Effect::Bell);
    }
    fx
}

fn handle(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            state.shell.last_input = state.shell.now;
            if state.shell.lock.is_some() {
                // Locked: the password, and nothing else (not even ctrl-c).
                return session::lock_key(&mut state.shell, &key);
            }
            on_key(state, key)
        }
        Msg::Mouse(mouse) => {
            state.shell.last_input = state.shell.now;
            if state.shell.lock.is_some() {
                return vec![];
            }
            on_mouse(state, mouse)
        }
        Msg::Resize(w, h) => {
            state.shell.size = (w, h);
            vec![]
        }
        Msg::Tick(now) => {
            state.shell.now = now;
            session::tick(&mut state.shell);
            let mut fx = lift(terminals::tick(&mut state.terminals, &mut state.shell));
            if wallboard::on(&state.shell) {
                fx.extend(wallboard::tick(state));
                return fx;
            }
            if shown(state) == ViewId::Tab(TabId::Patrol) {
                fx.extend(lift(patrol::tick(&mut state.patrol, &mut state.shell)));
            }
            fx
        }
        Msg::Db(db) => {
            let recovered = db == DbState::Ready && state.shell.db != DbState::Ready;
            state.shell.db = db;
            // Notifications may have been missed while the link was down: reload what is shown.
            if recovered && state.shell.screen == Screen::Main {
                reload_all(state)
            } else {
                vec![]
            }
        }
        Msg::Frame => flush(state),
        Msg::Resync => {
            // Before sign-in nothing is shown; sign-in reads everything anyway.
            state.pending.all = state.shell.screen == Screen::Main;
            vec![]
        }
        Msg::Changed(change) => {
            // This operator's account or sessions changed (kicked, disabled, another role):
            // the session row is asked at once, not at the next frame or action.
            let mine = state
                .shell
                .session
                .as_ref()
                .is_some_and(|s| change.operator.contains(&s.operator.id));
            state.pending.change.merge(change);
            if mine {
                vec![Effect::Session(session::Effect::Check)]
            } else {
                vec![]
            }
        }
        Msg::Session(m) => match session::update(&mut state.shell, m) {
            session::Outcome::Nothing => vec![],
            session::Outcome::Main => reload_all(state),
            session::Outcome::Role => reload_views(state),
            session::Outcome::Out => {
                let mut fx = Vec::new();
                for id in all_views() {
                    fx.extend(view(state, id).1.reset());
                }
                state.pending = Default::default();
                wallboard::reset(&mut state.wallboard);
                fx
            }
        },
        Msg::Queue(m) => queue::update(&mut state.shell, m),
        Msg::Alarms(m) => {
            let fx = lift(alarms::update(&mut state.alarms, &mut state.shell, m));
            if wallboard::on(&state.shell) {
                wallboard::alarms_changed(state);
            }
            fx
        }
        Msg::Cards(m) => lift(cards::update(&mut state.cards, &mut state.shell, m)),
        Msg::Doors(m) => lift(doors::update(&mut state.doors, &mut state.shell, m)),
        Msg::Patrol(m) => lift(patrol::update(&mut state.patrol, &mut state.shell, m)),
        Msg::Attendance(m) => lift(attendance::update(
            &mut state.attendance,
            &mut state.shell,
            m,
        )),
        Msg::Settlement(m) => lift(settlement::update(
            &mut state.settlement,
            &mut state.shell,
            m,
        )),
        Msg::Terminals(m) => lift(terminals::update(&mut state.terminals, &mut state.shell, m)),
        Msg::Operators(m) => lift(operators::update(&mut state.operators, &mut state.shell, m)),
        Msg::Done(text) => {
            for id in all_views() {
                let (sh, v) = view(state, id);
                v.done(sh);
            }
            state.shell.message = Some((Level::Info, text));
            if wallboard::on(&state.shell) {
                return vec![];
            }
            let (sh, v) = view(state, shown(state));
            v.reload(sh)
        }
        Msg::Failed(f) => failed(state, &f),
        Msg::Info(text) => {
            state.shell.message = Some((Level::Info, text));
            vec![]
        }
    }
}

/// A refusal goes to whatever waits for it (a sign-in screen, a popup), else to the message
/// line with the bell.
fn failed(state: &mut State, f: &Failure) -> Vec<Effect> {
    // The session no longer acts (kicked, disabled, ended elsewhere), or the lock screen's
    // wrong passwords locked the account: back to the sign-in screen, saying why.
    let locked_out = state.shell.lock.is_some() && matches!(f, Failure::Locked { .. });
    if matches!(f, Failure::SessionEnded { .. }) || locked_out {
        return signed_out(state, f);
    }
    if session::lock_failed(&mut state.shell, f) {
        return vec![];
    }
    if session::failed(&mut state.shell, f) {
        return vec![];
    }
    for id in all_views() {
        let (sh, v) = view(state, id);
        if v.failed(sh, f) {
            return vec![];
        }
    }
    let text = words::failure(state.shell.lang, f);
    state.shell.error::<Effect>(text)
}

/// Signed out by the database: the sign-in screen, with why on it, and the bell.
fn signed_out(state: &mut State, f: &Failure) -> Vec<Effect> {
    let text = words::failure(state.shell.lang, f);
    let login = state
        .shell
        .session
        .as_ref()
        .map(|s| s.operator.login.clone());
    let fx = handle(state, Msg::Session(session::Msg::LoggedOut));
    if let Screen::SignIn(s) = &mut state.shell.screen {
        if let Some(login) = login {
            s.form.set_text(session::SessionField::Login, &login);
            s.form.focus_on(session::SessionField::Password);
        }
        s.form.error = Some(text);
    }
    state.shell.bell = true;
    fx
}

/// Reloads what notifications announced since the last frame: each kind of row once, with
/// every changed id in one query, however many notifications arrived.
fn flush(state: &mut State) -> Vec<Effect> {
    let pending = std::mem::take(&mut state.pending);
    if state.shell.screen != Screen::Main {
        return vec![];
    }
    if pending.all {
        return reload_all(state);
    }
    let change = pending.change;
    let mut fx = lift(alarms::strip(&mut state.alarms, &mut state.shell, &change));
    fx.extend(queue::changed(&mut state.shell, &change));
    if wallboard::on(&state.shell) {
        fx.extend(wallboard::frame(state, &change));
        return fx;
    }
    let id = shown(state);
    if id != ViewId::Alarms {
        let (sh, v) = view(state, id);
        fx.extend(v.frame(sh, &change));
    } else {
        // The Alarms view is over a tab whose own reads (a search typed) still happen.
        let tab = ViewId::Tab(state.shell.tab);
        let (sh, v) = view(state, tab);
        fx.extend(v.frame(sh, &change));
    }
    fx
}

/// Everything shown, read again: after sign-in, and whenever notifications may have been lost.
/// What notifications announced so far is part of it.
fn reload_all(state: &mut State) -> Vec<Effect> {
    let mut fx = reload_views(state);
    // The session row too (the role, the idle lock's setting): a kick or another role may have
    // been missed meanwhile.
    fx.push(Effect::Session(session::Effect::Check));
    fx
}

/// Everything shown, read again (the session row aside).
fn reload_views(state: &mut State) -> Vec<Effect> {
    state.pending = Default::default();
    let mut fx = lift(alarms::load_all(&mut state.alarms, &mut state.shell));
    if wallboard::on(&state.shell) {
        fx.extend(wallboard::reload(state));
        return fx;
    }
    let (sh, v) = view(state, ViewId::Tab(state.shell.tab));
    fx.extend(v.reload(sh));
    fx.extend(queue::reload(&mut state.shell));
    fx
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return vec![];
    }
    // The one hard-wired key: an operator can always get out.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return vec![Effect::Quit];
    }
    if let Some(overlay) = state.shell.overlay.take() {
        return on_overlay_key(state, overlay, key);
    }
    // Under the "too small" message nothing is shown to act on.
    if state.shell.is_small() {
        return vec![];
    }
    match state.shell.screen {
        Screen::Starting => {
            if key.code == KeyCode::Esc {
                vec![Effect::Quit]
            } else {
                vec![]
            }
        }
        Screen::SignIn(_) => session::on_key(&mut state.shell, &key),
        Screen::Main if wallboard::on(&state.shell) => wallboard::key(state, &key),
        Screen::Main => on_main_key(state, key),
    }
}

fn on_overlay_key(state: &mut State, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    let sh = &mut state.shell;
    match overlay {
        Overlay::Quit => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => vec![Effect::Quit],
            _ => vec![],
        },
        Overlay::Notice { .. } => vec![],
        Overlay::Help { scroll } => {
            sh.overlay = match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => None,
                KeyCode::Down | KeyCode::Char('j') => Some(Overlay::Help {
                    scroll: scroll.saturating_add(1),
                }),
                KeyCode::Up | KeyCode::Char('k') => Some(Overlay::Help {
                    scroll: scroll.saturating_sub(1),
                }),
                _ => Some(Overlay::Help { scroll }),
            };
            vec![]
        }
        Overlay::Palette(palette) => on_palette_key(state, palette, key),
    }
}

/// Commands the palette offers for `input`: prefix matches first, then substring matches.
pub fn palette_candidates(input: &str) -> Vec<Command> {
    let input = input.trim();
    let all = Command::ALL.iter().copied().filter(|c| *c != Command::Noop);
    let mut prefix: Vec<Command> = all
        .clone()
        .filter(|c| c.name().starts_with(input))
        .collect();
    let mut inner: Vec<Command> = all
        .filter(|c| !c.name().starts_with(input) && c.name().contains(input))
        .collect();
    prefix.sort_by_key(|c| c.name());
    inner.sort_by_key(|c| c.name());
    prefix.extend(inner);
    prefix
}

fn on_palette_key(state: &mut State, mut palette: Palette, key: KeyEvent) -> Vec<Effect> {
    let typed = palette.input.value().trim().to_string();
    let candidates = palette_candidates(&typed);
    match key.code {
        KeyCode::Esc => return vec![],
        KeyCode::Enter => {
            let exact = typed.parse::<Command>().ok();
            return match exact.or_else(|| candidates.get(palette.selected).copied()) {
                // `:quit` is the deliberate way out: no second question.
                Some(Command::Quit) => vec![Effect::Quit],
                Some(cmd) => run(state, cmd),
                None => {
                    let text = trf(state.shell.lang, "msg.unknown_command", &[("name", &typed)]);
                    state.shell.error::<Effect>(text)
                }
            };
        }
        KeyCode::Tab => {
            // Complete to the longest prefix the candidates share, or the selected one.
            if let Some(first) = candidates.get(palette.selected) {
                let common = candidates
                    .iter()
                    .filter(|c| c.name().starts_with(&typed))
                    .map(|c| c.name())
                    .reduce(|a, b| {
                        let n = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
                        &a[..n]
                    })
                    .unwrap_or(first.name());
                let completed = if common.len() > typed.len() {
                    common
                } else {
                    first.name()
                };
                palette.input.set(completed);
                palette.selected = 0;
            }
        }
        KeyCode::Down => {
            palette.selected = (palette.selected + 1).min(candidates.len().saturating_sub(1))
        }
        KeyCode::Up => palette.selected = palette.selected.saturating_sub(1),
        _ => {
            if palette.input.key(&key) {
                palette.selected = 0;
            }
        }
    }
    state.shell.overlay = Some(Overlay::Palette(palette));
    vec![]
}

fn on_main_key(state: &mut State, event: KeyEvent) -> Vec<Effect> {
    let id = shown(state);
    {
        let (sh, v) = view(state, id);
        if let Some(fx) = v.key(sh, &event) {
            return fx;
        }
        if let Some(filter) = v.filter_mut().filter(|f| f.typing) {
            match filter.key(&event) {
                FilterKey::Changed => return v.filtered(sh),
                FilterKey::Done | FilterKey::Ignored => return vec![],
                // The arrows leave the input and move in the list.
                FilterKey::Passed => {}
            }
        }
    }
    let key = Key::from_event(&event);
    let pending = std::mem::take(&mut state.shell.pending_keys);
    let first = pending.is_empty();
    let section = key_section(state);
    match state.shell.keymap.resolve(section, &pending, key) {
        Resolution::Command(cmd) => run(state, cmd),
        Resolution::Pending(keys) => {
            state.shell.pending_keys = keys;
            vec![]
        }
        Resolution::Unbound if first => {
            let (sh, v) = view(state, id);
            v.unbound(sh, &event)
        }
        Resolution::Unbound => vec![],
    }
}

/// Shows another tab: the one shown now is left, the new one read again.
pub fn switch_tab(state: &mut State, tab: TabId) -> Vec<Effect> {
    let mut fx = Vec::new();
    let before = shown(state);
    state.shell.pending_keys.clear();
    if let Some(f) = view(state, before).1.filter_mut() {
        // A filter being typed belongs to its list: what was typed stays, the input ends.
        f.typing = false;
    }
    if before != ViewId::Tab(tab) {
        let (sh, v) = view(state, before);
        fx.extend(v.leave(sh));
    }
    // Leaving the Alarms view for the tab under it leaves that tab too.
    if before == ViewId::Alarms && state.shell.tab != tab {
        let old = ViewId::Tab(state.shell.tab);
        let (sh, v) = view(state, old);
        fx.extend(v.leave(sh));
    }
    state.alarms.open = false;
    state.shell.tab = tab;
    let (sh, v) = view(state, ViewId::Tab(tab));
    fx.extend(v.reload(sh));
    fx
}

fn open_alarms(state: &mut State) -> Vec<Effect> {
    state.shell.pending_keys.clear();
    state.alarms.open = true;
    // Opened, the cursor starts on the most urgent alarm (that the filter shows).
    let (sh, v) = view(state, ViewId::Alarms);
    v.select(sh, 0)
}

fn body(state: &State) -> Rect {
    layout::areas(Rect::new(0, 0, state.shell.size.0, state.shell.size.1)).body
}

/// Runs a bound or palette command.
pub fn run(state: &mut State, cmd: Command) -> Vec<Effect> {
    state.shell.message = None;
    let id = shown(state);
    let body = body(state);
    let rows = view_ref(state, id).rows(&state.shell, body);
    let select = |state: &mut State, to: usize| {
        let (sh, v) = view(state, id);
        v.select(sh, to)
    };
    match cmd {
        Command::Noop => vec![],
        Command::Quit => {
            state.shell.overlay = Some(Overlay::Quit);
            vec![]
        }
        Command::Help => {
            state.shell.overlay = Some(Overlay::Help { scroll: 0 });
            vec![]
        }
        Command::Palette => {
            state.shell.overlay = Some(Overlay::Palette(Palette {
                input: Default::default(),
                selected: 0,
            }));
            vec![]
        }
        Command::Filter => {
            let (sh, v) = view(state, id);
            v.begin_filter(sh)
        }
        Command::Cancel => {
            state.shell.pending_keys.clear();
            let (sh, v) = view(state, id);
            // A filter is cleared first; then the view's own esc; the Alarms view closes last.
            if v.esc_clears_filter() {
                if let Some(f) = v.filter_mut() {
                    if f.clear() {
                        return v.filtered(sh);
                    }
                }
            }
            let fx = v.cancel(sh);
            if id == ViewId::Alarms {
                state.alarms.open = false;
            }
            fx
        }
        Command::Activate => {
            let (sh, v) = view(state, id);
            v.activate(sh)
        }
        Command::Refresh => reload_all(state),
        Command::Logout => vec![Effect::Session(session::Effect::Logout)],
        Command::PasswordChange => {
            state.shell.screen = Screen::SignIn(session::SignIn::change_password(false));
            vec![]
        }
        Command::LanguageNext => {
            let sh = &mut state.shell;
            sh.lang = sh.lang.next();
            sh.info(sh.lang.native_name().to_string())
        }
        Command::ThemeNext => {
            state.shell.theme = state.shell.theme.next();
            vec![]
        }
        Command::TabNext => {
            let i = state.shell.tab.index();
            switch_tab(state, TabId::ALL[(i + 1) % TabId::ALL.len()])
        }
        Command::TabPrev => {
            let i = state.shell.tab.index();
            switch_tab(
                state,
                TabId::ALL[(i + TabId::ALL.len() - 1) % TabId::ALL.len()],
            )
        }
        Command::TabCards => switch_tab(state, TabId::Cards),
        Command::TabDoors => switch_tab(state, TabId::Doors),
        Command::TabPatrol => switch_tab(state, TabId::Patrol),
        Command::TabAttendance => switch_tab(state, TabId::Attendance),
        Command::TabSettlement => switch_tab(state, TabId::Settlement),
        Command::TabTerminals => switch_tab(state, TabId::Terminals),
        Command::TabOperators => switch_tab(state, TabId::Operators),
        Command::SelectNext => select(state, rows.at + 1),
        Command::SelectPrev => select(state, rows.at.saturating_sub(1)),
        Command::SelectFirst => select(state, 0),
        Command::SelectLast => select(state, rows.n.saturating_sub(1)),
        Command::PageDown => select(state, rows.at + rows.page.max(1)),
        Command::PageUp => select(state, rows.at.saturating_sub(rows.page.max(1))),
        Command::Alarms => {
            if state.alarms.open {
                state.alarms.open = false;
                // Its history is not kept up to date while hidden: it opens on the open alarms.
                state.alarms.history.shown = false;
                vec![]
            } else {
                open_alarms(state)
            }
        }
        cmd => {
            let Some(target) = owner(cmd) else {
                return vec![];
            };
            if target == id {
                let (sh, v) = view(state, id);
                return v.run(sh, cmd).unwrap_or_default();
            }
            let arrive = {
                let (sh, v) = view(state, target);
                v.arrive(sh, cmd)
            };
            match arrive {
                Arrive::Stay => vec![],
                Arrive::Go { run } => {
                    let mut fx = match target {
                        ViewId::Alarms => open_alarms(state),
                        ViewId::Tab(tab) => switch_tab(state, tab),
                    };
                    if run {
                        let (sh, v) = view(state, target);
                        fx.extend(v.run(sh, cmd).unwrap_or_default());
                    }
                    fx
                }
            }
        }
    }
}

fn on_mouse(state: &mut State, mouse: MouseEvent) -> Vec<Effect> {
    let sh = &state.shell;
    if sh.screen != Screen::Main || sh.overlay.is_some() || sh.is_small() || wallboard::on(sh) {
        return vec![];
    }
    let size = Rect::new(0, 0, sh.size.0, sh.size.1);
    let areas = layout::areas(size);
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if mouse.row == areas.tabs.y {
                let hit = layout::tab_spans(sh.lang, areas.tabs)
                    .into_iter()
                    .find(|(_, a, b)| (*a..*b).contains(&mouse.column));
                if let Some((tab, _, _)) = hit {
                    return switch_tab(state, tab);
                }
                return vec![];
            }
            let id = shown(state);
            let (sh, v) = view(state, id);
            v.click(sh, areas.body, mouse.column, mouse.row)
        }
        MouseEventKind::Drag(MouseButton::Left) => {
            let id = shown(state);
            let (sh, v) = view(state, id);
            v.drag(sh, areas.body, mouse.column, mouse.row)
        }
        MouseEventKind::Up(MouseButton::Left) => {
            let id = shown(state);
            let (sh, v) = view(state, id);
            v.release(sh, areas.body, mouse.column, mouse.row)
        }
        MouseEventKind::ScrollDown => run(state, Command::SelectNext),
        MouseEventKind::ScrollUp => run(state, Command::SelectPrev),
        _ => vec![],
    }
}

/// The hint line's commands for the view shown.
pub fn hints(state: &State) -> Vec<Command> {
    view_ref(state, shown(state)).hints(&state.shell)
}

/// The prompt and text of a filter being typed, if one is.
pub fn typing_filter(state: &State) -> Option<(&'static str, &super::form::TextInput)> {
    let v = view_ref(state, shown(state));
    let prompt = v.filter_prompt();
    v.filter().filter(|f| f.typing).map(|f| (prompt, &f.input))
}

/// The question of a confirmation the view shown waits for, if any.
pub fn confirming(state: &State) -> Option<&str> {
    view_ref(state, shown(state)).confirming()
}
