//! One module per tab (and the Alarms view, which opens over any tab): each owns its model, its
//! messages, its `update`, its effects and its hints. The router (`app::router`) talks to the
//! active one through [`View`] and to none of them by name outside its one dispatch. A tab knows
//! the shell below it, never the app's own `Msg`, `Effect` or `State` above it.

pub mod alarms;
pub mod attendance;
pub mod cards;
pub mod doors;
pub mod operators;
pub mod patrol;
pub mod settlement;
pub mod terminals;

use super::failure::Failure;
use super::filter::Filter;
use super::form::{Answer, Confirm};
use super::shell::Shell;
use crate::db::notify::Change;
use crate::keymap::{Command, Section};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

/// The list the cursor keys move in: how many rows, where the cursor is, and how many rows a
/// page holds on screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rows {
    pub n: usize,
    pub at: usize,
    pub page: usize,
}

/// What a view says to one of its commands pressed elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrive {
    /// Stay where you are (the role may not do it: the reason is on the message line).
    Stay,
    /// Come here; `run`: and run the command at once (else the operator picks the object).
    Go { run: bool },
}

pub trait View {
    /// The tab's own effects (executed by its executor in `console::exec`).
    type Effect;

    /// The keymap section its keys resolve in (over `[global]`).
    fn section(&self) -> Section;

    /// Keys it takes before the keymap: its popup, a text being typed. None: not taken.
    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Self::Effect>>;

    /// A key the keymap does not bind (the card desk searches as a name is typed).
    fn unbound(&mut self, _sh: &mut Shell, _key: &KeyEvent) -> Vec<Self::Effect> {
        vec![]
    }

    /// One of its commands. None: not a command of this view.
    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Self::Effect>>;

    /// One of its commands, pressed while another view is shown.
    fn arrive(&mut self, _sh: &mut Shell, _cmd: Command) -> Arrive {
        Arrive::Go { run: false }
    }

    /// The list the cursor keys move in, laid out in `body`.
    fn rows(&self, sh: &Shell, body: Rect) -> Rows;

    /// Moves the cursor to row `to` (clamped).
    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Self::Effect>;

    /// A left click at (x, y) in the body.
    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Self::Effect>;

    /// The left button moved, held down, to (x, y) (a drag after a click).
    fn drag(&mut self, _sh: &mut Shell, _body: Rect, _x: u16, _y: u16) -> Vec<Self::Effect> {
        vec![]
    }

    /// The left button let go at (x, y).
    fn release(&mut self, _sh: &mut Shell, _body: Rect, _x: u16, _y: u16) -> Vec<Self::Effect> {
        vec![]
    }

    /// Everything it shows, read again: entering it, a refresh, a resync.
    fn reload(&mut self, sh: &mut Shell) -> Vec<Self::Effect>;

    /// Once per frame while it is shown: what notifications named since the last frame.
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Self::Effect>;

    /// Whether it has something of its own for the next frame (a search typed).
    fn wants_frame(&self) -> bool {
        false
    }

    /// The commands the hint line offers, in order (the role and the object allowing).
    fn hints(&self, sh: &Shell) -> Vec<Command>;

    /// The list `/` narrows, if it has one.
    fn filter(&self) -> Option<&Filter>;

    fn filter_mut(&mut self) -> Option<&mut Filter>;

    /// `/`: start typing the filter.
    fn begin_filter(&mut self, sh: &mut Shell) -> Vec<Self::Effect> {
        match self.filter_mut() {
            Some(f) => {
                f.typing = true;
                vec![]
            }
            None => sh.info_key("msg.no_table"),
        }
    }

    /// The filter's text changed: narrow the list, keep the cursor on its item.
    fn filtered(&mut self, sh: &mut Shell) -> Vec<Self::Effect>;

    /// Catalogue key of the prompt while its filter is typed.
    fn filter_prompt(&self) -> &'static str {
        "filter.prompt"
    }

    /// The question of a confirmation it waits for, if any (drawn over the tab).
    fn confirming(&self) -> Option<&str> {
        None
    }

    /// Whether Esc (not typing) clears its `/` filter before its own esc. The card desk's
    /// search stays: there Esc is for the card on the reader.
    fn esc_clears_filter(&self) -> bool {
        true
    }

    /// Esc with no popup and no filter to clear.
    fn cancel(&mut self, _sh: &mut Shell) -> Vec<Self::Effect> {
        vec![]
    }

    /// Enter on the list.
    fn activate(&mut self, _sh: &mut Shell) -> Vec<Self::Effect> {
        vec![]
    }

    /// Another view is shown from now on.
    fn leave(&mut self, _sh: &mut Shell) -> Vec<Self::Effect> {
        vec![]
    }

    /// A refusal arrived: a popup waiting for its answer takes it. Whether it was taken.
    fn failed(&mut self, _sh: &mut Shell, _f: &Failure) -> bool {
        false
    }

    /// An operation went through: a popup waiting for its answer closes.
    fn done(&mut self, _sh: &mut Shell) {}

    /// Signed out: forget everything shown. Returns effects to undo (stop a trace).
    fn reset(&mut self) -> Vec<Self::Effect>;
}

/// A confirmation's answer: yes gives its effect, no cancels it, any other key keeps asking.
/// None: nothing was being asked.
pub fn answer<E>(
    confirm: &mut Option<Confirm<E>>,
    sh: &mut Shell,
    key: &KeyEvent,
) -> Option<Vec<E>> {
    let asked = confirm.take()?;
    Some(match Answer::of(key) {
        Answer::Yes => vec![asked.effect],
        Answer::No => sh.cancelled(),
        Answer::Wait => {
            *confirm = Some(asked);
            vec![]
        }
    })
}
