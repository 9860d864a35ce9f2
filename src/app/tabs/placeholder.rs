//! A tab still to be built (Attendance): it says what it will hold.

use super::{Rows, View};
use crate::app::filter::Filter;
use crate::app::shell::{Shell, TabId};
use crate::db::notify::Change;
use crate::keymap::{Command, Section};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

#[derive(Debug, Clone)]
pub struct Placeholder {
    pub tab: TabId,
}

impl Placeholder {
    pub fn new(tab: TabId) -> Placeholder {
        Placeholder { tab }
    }
}

impl View for Placeholder {
    type Effect = std::convert::Infallible;

    fn section(&self) -> Section {
        self.tab.section()
    }

    fn key(&mut self, _sh: &mut Shell, _key: &KeyEvent) -> Option<Vec<Self::Effect>> {
        None
    }

    fn run(&mut self, _sh: &mut Shell, _cmd: Command) -> Option<Vec<Self::Effect>> {
        None
    }

    fn rows(&self, _sh: &Shell, _body: Rect) -> Rows {
        Rows::default()
    }

    fn select(&mut self, _sh: &mut Shell, _to: usize) -> Vec<Self::Effect> {
        vec![]
    }

    fn click(&mut self, _sh: &mut Shell, _body: Rect, _x: u16, _y: u16) -> Vec<Self::Effect> {
        vec![]
    }

    fn reload(&mut self, _sh: &mut Shell) -> Vec<Self::Effect> {
        vec![]
    }

    fn frame(&mut self, _sh: &mut Shell, _change: &Change) -> Vec<Self::Effect> {
        vec![]
    }

    fn hints(&self, _sh: &Shell) -> Vec<Command> {
        vec![
            Command::Help,
            Command::Palette,
            Command::TabNext,
            Command::Alarms,
            Command::Quit,
        ]
    }

    fn filter(&self) -> Option<&Filter> {
        None
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        None
    }

    fn filtered(&mut self, _sh: &mut Shell) -> Vec<Self::Effect> {
        vec![]
    }

    fn reset(&mut self) -> Vec<Self::Effect> {
        vec![]
    }
}
