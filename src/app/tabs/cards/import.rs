//! A person import between its dry run and its end: what it would change, scrolled with the
//! cursor keys, then y to import or n to leave it.

use super::{Cards, Effect, ImportSummary};
use crate::app::layout;
use crate::app::shell::Shell;
use crate::app::words;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

/// Lines a page key scrolls.
const PAGE: usize = 10;

/// The popup's lines other than the changes: its frame, the counts, the people marked left,
/// the line saying which changes are shown, and the keys.
const AROUND: usize = 13;

/// How many lines of changes the popup shows at once in a body `height` rows high.
pub fn change_rows(height: u16) -> usize {
    usize::from(height).saturating_sub(AROUND).max(3)
}

/// The furthest the changes scroll: the last screenful.
fn last_scroll(n: usize, height: u16) -> usize {
    n.saturating_sub(change_rows(height))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportView {
    pub path: String,
    pub create_departments: bool,
    /// The dry run's answer.
    pub preview: ImportSummary,
    /// Rows done of all, while the import runs.
    pub progress: Option<(u64, u64)>,
    /// The first line of the changes shown (`words::import_changes`).
    pub scroll: usize,
}

impl Cards {
    /// The import popup: y or enter imports for real after the dry run; n or esc leaves it.
    pub(super) fn on_import_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let Some(import) = self.import.clone() else {
            self.popup = None;
            return vec![];
        };
        if import.progress.is_some() {
            // Running: it ends on its own (all or nothing).
            return vec![];
        }
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                if let Some(i) = &mut self.import {
                    i.progress = Some((0, 0));
                }
                vec![
                    (Effect::Import {
                        path: import.path,
                        dry_run: false,
                        create_departments: import.create_departments,
                    }),
                ]
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.import = None;
                self.popup = None;
                sh.cancelled()
            }
            code => {
                // The changes scroll; the popup shows as many as fit from `scroll` on.
                let n = words::import_changes(sh.lang, &import.preview).len();
                let body = layout::areas(Rect::new(0, 0, sh.size.0, sh.size.1)).body;
                let last = last_scroll(n, body.height);
                let at = import.scroll;
                let to = match code {
                    KeyCode::Down | KeyCode::Char('j') => at + 1,
                    KeyCode::Up | KeyCode::Char('k') => at.saturating_sub(1),
                    KeyCode::PageDown | KeyCode::Char(' ') => at + PAGE,
                    KeyCode::PageUp => at.saturating_sub(PAGE),
                    KeyCode::Home | KeyCode::Char('g') => 0,
                    KeyCode::End | KeyCode::Char('G') => last,
                    _ => at,
                };
                if let Some(i) = &mut self.import {
                    i.scroll = to.min(last);
                }
                vec![]
            }
        }
    }
}
