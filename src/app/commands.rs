//! Commands this console sent to terminals, as last read: what the Terminals and Doors tabs
//! show of them (state, outcome, progress). `queue` keeps them up to date.

use super::load::Shown;
use crate::db::command::{CommandRow, TerminalCommand};
use std::collections::HashMap;

/// A command as this console knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub terminal_id: i64,
    /// What it was sent to, as the tab named it ("图书馆东门 (405419896 门 1)").
    pub about: String,
    pub command: TerminalCommand,
    /// The queue row as last read; None until read once.
    pub row: Option<CommandRow>,
    /// Its outcome was said on the message line.
    pub reported: bool,
}

impl Sent {
    pub fn state(&self) -> &str {
        self.row.as_ref().map_or("queued", |r| r.state.as_str())
    }

    pub fn finished(&self) -> bool {
        matches!(self.state(), "done" | "failed" | "unknown")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Commands {
    pub sent: HashMap<i64, Sent>,
    pub(crate) shown: Shown,
}

impl Commands {
    /// The newest command sent to a terminal that matches `f`.
    pub fn latest(&self, terminal_id: i64, f: impl Fn(&TerminalCommand) -> bool) -> Option<&Sent> {
        self.sent
            .iter()
            .filter(|(_, s)| s.terminal_id == terminal_id && f(&s.command))
            .max_by_key(|(id, _)| **id)
            .map(|(_, s)| s)
    }

    pub(crate) fn unfinished(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .sent
            .iter()
            .filter(|(_, s)| !s.finished())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}
