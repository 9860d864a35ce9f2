//! The Doors tab's records sub-view, for the door administrator and campus security: door
//! openings queried by person, card, department, door and time; loss queries; CSV export
//! (audited); the pending and failed card syncs of every terminal; the purge of records older
//! than the retention period.

use super::super::Rows;
use crate::app::shell::Shell;
use crate::keymap::Command;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

#[derive(Debug, Clone, Default)]
pub struct Records {}

#[derive(Debug, Clone)]
pub enum Msg {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {}

pub fn update(_r: &mut Records, _sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {}
}

impl Records {
    /// Keys taken before the keymap (a form or popup open). None: not taken.
    pub fn key(&mut self, _sh: &mut Shell, _key: &KeyEvent) -> Option<Vec<Effect>> {
        None
    }

    /// One of the sub-view's commands. None: not one of them.
    pub fn run(&mut self, _sh: &mut Shell, _cmd: Command) -> Option<Vec<Effect>> {
        None
    }

    pub fn rows(&self, _sh: &Shell, _body: Rect) -> Rows {
        Rows::default()
    }

    pub fn select(&mut self, _sh: &mut Shell, _to: usize) -> Vec<Effect> {
        vec![]
    }

    /// Everything shown, read again (entering the sub-view, a refresh).
    pub fn reload(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        vec![]
    }

    /// Once per frame while shown: what notifications named.
    pub fn frame(&mut self, _sh: &mut Shell, _change: &crate::db::notify::Change) -> Vec<Effect> {
        vec![]
    }

    pub fn hints(&self, _sh: &Shell) -> Vec<Command> {
        vec![]
    }

    pub fn confirming(&self) -> Option<&str> {
        None
    }

    /// Esc with nothing open: false leaves the sub-view.
    pub fn cancel(&mut self, _sh: &mut Shell) -> Option<Vec<Effect>> {
        None
    }

    /// A refusal arrived: a popup waiting for its answer takes it.
    pub fn failed(&mut self, _sh: &mut Shell, _f: &crate::app::failure::Failure) -> bool {
        false
    }
}
