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

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if self.showing_records {
            return self.records.key(sh, key).map(lift);
        }
        None
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        if cmd == Command::DoorsView {
            self.showing_records = !self.showing_records;
            return Some(if self.showing_records {
                lift(self.records.reload(sh))
            } else {
                vec![]
            });
        }
        if self.showing_records {
            return self.records.run(sh, cmd).map(lift);
        }
        None
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        if self.showing_records {
            return self.records.rows(sh, body);
        }
        Rows::default()
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        if self.showing_records {
            return lift(self.records.select(sh, to));
        }
        vec![]
    }

    fn click(&mut self, _sh: &mut Shell, _body: Rect, _x: u16, _y: u16) -> Vec<Effect> {
        vec![]
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.showing_records {
            return lift(self.records.reload(sh));
        }
        vec![]
    }

    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if self.showing_records {
            return lift(self.records.frame(sh, change));
        }
        vec![]
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        if self.showing_records {
            return self.records.hints(sh);
        }
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

    fn confirming(&self) -> Option<&str> {
        self.records.confirming()
    }

    fn cancel(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.showing_records {
            match self.records.cancel(sh) {
                Some(fx) => return lift(fx),
                None => self.showing_records = false,
            }
        }
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &crate::app::failure::Failure) -> bool {
        self.records.failed(sh, f)
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Doors::default();
        vec![]
    }
}
