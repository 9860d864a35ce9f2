//! The wallboard: the control room's wall screen. It cycles through the alarms by priority, the
//! door tree, the patrol map and the terminals' health, each for `secs` seconds; a fresh P1
//! alarm takes the alarms screen at once and holds it. It shows what an operator of the
//! wallboard role signs in to (`onecard wallboard`, or that role in the ordinary console), and
//! no key changes anything: quit (asked first; Ctrl-C at once) and the screen keys only.
//!
//! It reads through the tabs' own models, loads and notifications (the Alarms view, Doors,
//! Patrol and Terminals), kept live all four at once, so a screen shows current data the moment
//! it comes round. The router hands it the shell's messages while it is on.

use super::effect::Effect;
use super::shell::{Overlay, Screen, Shell};
use super::state::State;
use super::tabs::{alarms::Alarms, patrol, View};
use crate::db::notify::Change;
use crate::domain::role::Role;
use crate::keymap::key::Key;
use crate::keymap::{Command, Resolution, Section};
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

/// Seconds each screen stays, unless configured (`wallboard.screen_secs`, `--secs`).
pub const DEFAULT_SECS: u32 = 15;
/// The fewest and most seconds a screen may be given.
pub const MIN_SECS: u32 = 3;
pub const MAX_SECS: u32 = 3600;
/// A P1 alarm holds the alarms screen while it is unacknowledged and younger than this.
pub const HOLD_SECS: i64 = 60;

/// One of the wallboard's screens, in the order they come round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Page {
    #[default]
    Alarms,
    Doors,
    Patrol,
    Terminals,
}

impl Page {
    pub const ALL: [Page; 4] = [Page::Alarms, Page::Doors, Page::Patrol, Page::Terminals];

    /// Catalogue key: `wallboard.page.<key>`.
    pub fn key(self) -> &'static str {
        match self {
            Page::Alarms => "alarms",
            Page::Doors => "doors",
            Page::Patrol => "patrol",
            Page::Terminals => "terminals",
        }
    }

    fn step(self, by: i64) -> Page {
        let n = Page::ALL.len() as i64;
        let i = Page::ALL.iter().position(|p| *p == self).unwrap_or(0) as i64;
        Page::ALL[(i + by).rem_euclid(n) as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Wallboard {
    pub page: Page,
    /// When the page came on screen; None until the first tick starts the clock.
    pub since: Option<DateTime<Utc>>,
    /// Seconds each page stays.
    pub secs: u32,
    /// The P1 alarm holding the alarms page, if one does.
    pub held: Option<i64>,
}

impl Default for Wallboard {
    fn default() -> Self {
        Wallboard {
            page: Page::Alarms,
            since: None,
            secs: DEFAULT_SECS,
            held: None,
        }
    }
}

impl Wallboard {
    /// Seconds per page, kept within [`MIN_SECS`, `MAX_SECS`].
    pub fn with_secs(secs: u32) -> Wallboard {
        Wallboard {
            secs: secs.clamp(MIN_SECS, MAX_SECS),
            ..Wallboard::default()
        }
    }

    /// Whole seconds until the next page (the page's full time while a P1 holds it).
    pub fn left(&self, now: DateTime<Utc>) -> i64 {
        let secs = i64::from(self.secs);
        match self.since {
            Some(t) if self.held.is_none() => (secs - (now - t).num_seconds()).clamp(0, secs),
            _ => secs,
        }
    }
}

/// Whether the shell shows the wallboard: an operator of the wallboard role is signed in.
pub fn on(sh: &Shell) -> bool {
    sh.screen == Screen::Main && sh.role() == Some(Role::Wallboard)
}

/// The P1 alarm that holds the alarms page at `now`: the newest unacknowledged live P1 raised
/// less than [`HOLD_SECS`] ago.
pub fn holding(a: &Alarms, now: DateTime<Utc>) -> Option<i64> {
    a.list
        .rows
        .iter()
        .filter(|x| {
            x.priority == 1
                && x.state == "active"
                && !x.late
                && (now - x.raised_at).num_seconds() < HOLD_SECS
        })
        .max_by_key(|x| (x.raised_at, x.id))
        .map(|x| x.id)
}

fn lift<E: Into<Effect>>(fx: Vec<E>) -> Vec<Effect> {
    fx.into_iter().map(Into::into).collect()
}

/// Everything its screens show, read again (the alarms are the router's, as for every view).
pub fn reload(state: &mut State) -> Vec<Effect> {
    let sh = &mut state.shell;
    let mut fx = lift(View::reload(&mut state.doors, sh));
    fx.extend(lift(View::reload(&mut state.patrol, sh)));
    fx.extend(lift(View::reload(&mut state.terminals, sh)));
    fx
}

/// The frame's share: what notifications named, for every screen (not only the one shown).
pub fn frame(state: &mut State, change: &Change) -> Vec<Effect> {
    let sh = &mut state.shell;
    let mut fx = lift(View::frame(&mut state.doors, sh, change));
    fx.extend(lift(View::frame(&mut state.patrol, sh, change)));
    fx.extend(lift(View::frame(&mut state.terminals, sh, change)));
    fx
}

/// The clock: the patrol map's live read, and the page's time.
pub fn tick(state: &mut State) -> Vec<Effect> {
    let fx = lift(patrol::tick(&mut state.patrol, &mut state.shell));
    settle(state);
    fx
}

/// The alarms changed: a fresh P1 takes the alarms page at once.
pub fn alarms_changed(state: &mut State) {
    settle(state);
}

/// Puts the right page on screen at `shell.now`: the alarms page while a P1 holds it (its
/// clock starting again, so it stays a full period after the hold ends), else the next page
/// once the shown one's time is up.
fn settle(state: &mut State) {
    let now = state.shell.now;
    let w = &mut state.wallboard;
    match holding(&state.alarms, now) {
        Some(id) => {
            if w.held != Some(id) {
                w.page = Page::Alarms;
                state.alarms.selected = Some(id);
            }
            w.held = Some(id);
            w.since = Some(now);
        }
        None => {
            w.held = None;
            match w.since {
                Some(t) if (now - t).num_seconds() >= i64::from(w.secs) => {
                    w.page = w.page.step(1);
                    w.since = Some(now);
                }
                Some(_) => {}
                None => w.since = Some(now),
            }
        }
    }
}

/// A key on the wallboard: quit asks first; the arrows and the keymap's next and previous tab
/// change the screen (not while a P1 holds it); every other key does nothing.
pub fn key(state: &mut State, event: &KeyEvent) -> Vec<Effect> {
    let step = match event.code {
        KeyCode::Left => Some(-1),
        KeyCode::Right => Some(1),
        _ => match state
            .shell
            .keymap
            .resolve(Section::Global, &[], Key::from_event(event))
        {
            Resolution::Command(Command::Quit) => {
                state.shell.overlay = Some(Overlay::Quit);
                return vec![];
            }
            Resolution::Command(Command::TabNext) => Some(1),
            Resolution::Command(Command::TabPrev) => Some(-1),
            _ => None,
        },
    };
    let w = &mut state.wallboard;
    if let (Some(by), None) = (step, w.held) {
        w.page = w.page.step(by);
        w.since = Some(state.shell.now);
    }
    vec![]
}

/// Signed out: the next sign-in starts on the alarms page.
pub fn reset(w: &mut Wallboard) {
    *w = Wallboard::with_secs(w.secs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_go_round_both_ways() {
        assert_eq!(Page::Terminals.step(1), Page::Alarms);
        assert_eq!(Page::Alarms.step(-1), Page::Terminals);
        assert_eq!(Page::Doors.step(1), Page::Patrol);
    }

    #[test]
    fn seconds_are_kept_within_bounds() {
        assert_eq!(Wallboard::with_secs(0).secs, MIN_SECS);
        assert_eq!(Wallboard::with_secs(99_999).secs, MAX_SECS);
        assert_eq!(Wallboard::with_secs(20).secs, 20);
    }
}
