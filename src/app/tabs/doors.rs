//! The Doors tab: the control room's main screen (built on the shell's tab shape).

pub mod records;

use super::{Rows, View};
use crate::app::filter::Filter;
use crate::app::shell::Shell;
use crate::db::notify::Change;
use crate::keymap::{Command, Section};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

#[derive(Debug, Clone, Default)]
pub struct Doors {
    pub filter: Filter,
    /// The records sub-view (queries, syncs, purge) is shown instead of the live screen.
    pub showing_records: bool,
    pub records: records::Records,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Records(records::Msg),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Records(records::Effect),
}

fn lift(fx: Vec<records::Effect>) -> Vec<Effect> {
    fx.into_iter().map(Effect::Records).collect()
}

pub fn update(d: &mut Doors, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Records(m) => lift(records::update(&mut d.records, sh, m)),
    }
}

impl View for Doors {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Doors
    }

    fn key(&mut self, _sh: &mut Shell, _key: &KeyEvent) -> Option<Vec<Effect>> {
        None
    }

    fn run(&mut self, _sh: &mut Shell, _cmd: Command) -> Option<Vec<Effect>> {
        None
    }

    fn rows(&self, _sh: &Shell, _body: Rect) -> Rows {
        Rows::default()
    }

    fn select(&mut self, _sh: &mut Shell, _to: usize) -> Vec<Effect> {
        vec![]
    }

    fn click(&mut self, _sh: &mut Shell, _body: Rect, _x: u16, _y: u16) -> Vec<Effect> {
        vec![]
    }

    fn reload(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        vec![]
    }

    fn frame(&mut self, _sh: &mut Shell, _change: &Change) -> Vec<Effect> {
        vec![]
    }

    fn hints(&self, _sh: &Shell) -> Vec<Command> {
        vec![
            Command::Help,
            Command::Palette,
            Command::TabNext,
            Command::Quit,
        ]
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

    fn reset(&mut self) -> Vec<Effect> {
        *self = Doors::default();
        vec![]
    }
}
