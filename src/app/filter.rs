//! The `/` filter, one mechanism for every list it narrows. Each list keeps a filter of its own;
//! a row passes when the filter appears, case-insensitively, in any text the row shows.

use super::form::TextInput;
use crossterm::event::{KeyCode, KeyEvent};

/// Whether a row passes `filter`: case-insensitively anywhere in any of `texts`. An empty
/// filter lets every row through.
pub fn matches<S: AsRef<str>>(filter: &str, texts: impl IntoIterator<Item = S>) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    texts
        .into_iter()
        .any(|t| t.as_ref().to_lowercase().contains(&needle))
}

/// A list's filter and whether it is being typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub input: TextInput,
    pub typing: bool,
}

/// What a key did to a filter being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey {
    /// The text changed: narrow the list again.
    Changed,
    /// Typing ended (enter keeps the text; esc cleared it, reported as `Changed` first).
    Done,
    /// Typing ended and the key is for the list (the arrows move in it).
    Passed,
    /// Not a key for the filter (the cursor moved within the text, say).
    Ignored,
}

impl Filter {
    pub fn text(&self) -> &str {
        self.input.value()
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Clears the filter (and stops typing); whether there was one.
    pub fn clear(&mut self) -> bool {
        self.typing = false;
        let had = !self.input.is_empty();
        self.input.clear();
        had
    }

    pub fn key(&mut self, key: &KeyEvent) -> FilterKey {
        match key.code {
            KeyCode::Esc => {
                self.typing = false;
                if self.input.is_empty() {
                    FilterKey::Done
                } else {
                    self.input.clear();
                    FilterKey::Changed
                }
            }
            KeyCode::Enter | KeyCode::Tab => {
                self.typing = false;
                FilterKey::Done
            }
            KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown => {
                self.typing = false;
                FilterKey::Passed
            }
            _ => {
                if self.input.key(key) {
                    FilterKey::Changed
                } else {
                    FilterKey::Ignored
                }
            }
        }
    }
}

/// Where the cursor of a list kept by id goes once its rows or its filter changed: it stays on
/// the same item while that is shown; else it takes the shown row at `index` (clamped), so a
/// vanished row's successor takes its place and a new filter starts on its first match. With
/// nothing shown it stays on its item while that `exists`, hidden until the filter lets it
/// through again.
pub fn keep_selection(
    selected: Option<i64>,
    shown: &[i64],
    exists: bool,
    index: usize,
) -> Option<i64> {
    match selected {
        Some(id) if shown.contains(&id) => Some(id),
        _ if !shown.is_empty() => Some(shown[index.min(shown.len() - 1)]),
        Some(id) if exists => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_ignores_case_and_takes_chinese() {
        assert!(matches("", ["anything"]));
        assert!(matches("", Vec::<String>::new()));
        assert!(matches("LIB", ["x", "Library east"]));
        assert!(matches("图书馆", ["图书馆东门"]));
        assert!(matches("东门", ["图书馆东门"]));
        assert!(!matches("西门", ["图书馆东门", "Library east"]));
        assert!(!matches("x", Vec::<String>::new()));
    }

    #[test]
    fn the_cursor_stays_moves_or_hides() {
        assert_eq!(keep_selection(Some(3), &[1, 3, 5], true, 0), Some(3));
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], true, 0), Some(1));
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], false, 2), Some(5));
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], false, 9), Some(5));
        assert_eq!(keep_selection(None, &[1, 3], false, 0), Some(1));
        assert_eq!(keep_selection(Some(4), &[], true, 0), Some(4));
        assert_eq!(keep_selection(Some(4), &[], false, 0), None);
        assert_eq!(keep_selection(None, &[], false, 0), None);
    }
}
