//! The `/` filter, one mechanism for every list it narrows: the Alarms view, the Terminals tab
//! and the Operators tab. Each list keeps a filter of its own; a row passes when the filter
//! appears, case-insensitively, in any text the row shows.

use super::update::{alarm_kind_label, alarm_name, terminal_kind_label, terminal_status_label};
use crate::db::alarm::Alarm;
use crate::db::terminal::{Line, Terminal};
use crate::i18n::{tr, Lang};

/// A list `/` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Alarms,
    Terminals,
    Operators,
}

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

/// What an alarm's row says, in `lang`: its name in full ("#12 P1 forced open · 图书馆东门
/// door 2"), its kind's stored name, card, detail, state, handler and lateness.
pub fn alarm_texts(lang: Lang, a: &Alarm) -> Vec<String> {
    let mut texts = vec![
        alarm_name(lang, a),
        alarm_kind_label(lang, &a.kind),
        a.kind.clone(),
        format!("P{}", a.priority),
        a.detail.clone(),
        tr(lang, &format!("alarm.state.{}", a.state)).to_string(),
        a.state.clone(),
    ];
    texts.extend(a.terminal_name.clone());
    texts.extend(a.door.map(|d| d.to_string()));
    texts.extend(a.card.map(|c| c.to_string()));
    texts.extend(a.handling_by.clone());
    if a.late {
        texts.push(tr(lang, "alarm.late").to_string());
    }
    texts
}

/// What a terminal's row and its line's heading say, in `lang`: name, line, kind, address
/// (machine number or serial), location, status and firmware.
pub fn terminal_texts(lang: Lang, t: &Terminal, line: &Line) -> Vec<String> {
    vec![
        t.name.clone(),
        line.name.clone(),
        terminal_kind_label(lang, &t.kind),
        t.kind.clone(),
        t.address.to_string(),
        t.location.clone(),
        terminal_status_label(lang, &t.status),
        t.status.clone(),
        t.firmware.clone(),
    ]
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
        // Still shown: stays.
        assert_eq!(keep_selection(Some(3), &[1, 3, 5], true, 0), Some(3));
        // Filtered out: the first match (index 0), or the row where it was.
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], true, 0), Some(1));
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], false, 2), Some(5));
        assert_eq!(keep_selection(Some(4), &[1, 3, 5], false, 9), Some(5));
        assert_eq!(keep_selection(None, &[1, 3], false, 0), Some(1));
        // Nothing shown: kept while it exists, so clearing the filter finds it again.
        assert_eq!(keep_selection(Some(4), &[], true, 0), Some(4));
        assert_eq!(keep_selection(Some(4), &[], false, 0), None);
        assert_eq!(keep_selection(None, &[], false, 0), None);
    }
}
