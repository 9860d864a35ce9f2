//! The selected person's statement in a popup: their balance and every movement of their
//! account (newest at the bottom), scrolled with the cursor keys, closed with esc.

use super::{Cards, Effect, Popup};
use crate::app::shell::Shell;
pub use crate::db::desk::{Statement, StatementRow};
use crossterm::event::{KeyCode, KeyEvent};

/// Lines a page key scrolls.
const PAGE: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementView {
    pub person_id: i64,
    /// None until it is read.
    pub statement: Option<Statement>,
    /// The row the cursor is on.
    pub selected: usize,
}

impl Cards {
    /// Opens the selected person's statement and reads it.
    pub(super) fn open_statement(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let Some(person_id) = self.selected else {
            return vec![];
        };
        self.popup = Some(Popup::Statement(StatementView {
            person_id,
            statement: None,
            selected: 0,
        }));
        vec![Effect::LoadStatement {
            gen: sh.next_gen(),
            person_id,
        }]
    }

    /// The statement arrived: the cursor starts on the newest movement.
    pub(super) fn statement_loaded(&mut self, statement: Statement) {
        if let Some(Popup::Statement(v)) = &mut self.popup {
            if v.person_id == statement.person_id {
                v.selected = statement.rows.len().saturating_sub(1);
                v.statement = Some(statement);
            }
        }
    }

    /// Keys on the statement: the cursor keys scroll, esc, q or enter close it.
    pub(super) fn on_statement_key(&mut self, view: StatementView, key: &KeyEvent) -> Vec<Effect> {
        let n = view.statement.as_ref().map_or(0, |s| s.rows.len());
        let last = n.saturating_sub(1);
        let at = view.selected;
        let to = match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => return vec![],
            KeyCode::Down | KeyCode::Char('j') => at + 1,
            KeyCode::Up | KeyCode::Char('k') => at.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => at + PAGE,
            KeyCode::PageUp => at.saturating_sub(PAGE),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => last,
            _ => at,
        };
        self.popup = Some(Popup::Statement(StatementView {
            selected: to.min(last),
            ..view
        }));
        vec![]
    }
}
