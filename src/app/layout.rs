//! Screen geometry shared by rendering and mouse hit-testing, so a click lands where the eye
//! sees. A tab's own split of the body lives in its tab module.

use super::state::TabId;
use crate::i18n::Lang;
use ratatui::layout::Rect;
use unicode_width::UnicodeWidthStr;

pub struct Areas {
    pub tabs: Rect,
    pub alarms: Rect,
    pub body: Rect,
    pub hint: Rect,
    pub status: Rect,
}

pub fn areas(size: Rect) -> Areas {
    let row = |y: u16| Rect::new(size.x, size.y + y, size.width, 1);
    let h = size.height;
    Areas {
        tabs: row(0),
        alarms: row(1),
        body: Rect::new(size.x, size.y + 2, size.width, h.saturating_sub(4)),
        hint: row(h.saturating_sub(2)),
        status: row(h.saturating_sub(1)),
    }
}

/// A tab's title as the header shows it.
pub fn tab_label(lang: Lang, tab: TabId) -> String {
    format!(" {} ", tab.title(lang))
}

/// Where each tab title sits on the tab row: (tab, first column, one past the last).
pub fn tab_spans(lang: Lang, row: Rect) -> Vec<(TabId, u16, u16)> {
    let mut x = row.x + 1;
    TabId::ALL
        .iter()
        .map(|tab| {
            let w = tab_label(lang, *tab).width() as u16;
            let span = (*tab, x, x + w);
            x += w;
            span
        })
        .collect()
}

/// Rows of a bordered table with a header line: how many fit, and the first visible one.
pub fn table_window(area: Rect, selected: usize) -> (usize, usize) {
    let rows = area.height.saturating_sub(3).max(1) as usize;
    (rows, selected.saturating_sub(rows - 1))
}

/// The row index under a click in a bordered table, if any.
pub fn table_row_at(area: Rect, selected: usize, len: usize, x: u16, y: u16) -> Option<usize> {
    let first_row_y = area.y + 2;
    if x <= area.x || x >= area.x + area.width.saturating_sub(1) || y < first_row_y {
        return None;
    }
    let (rows, offset) = table_window(area, selected);
    let i = (y - first_row_y) as usize;
    (i < rows && offset + i < len).then_some(offset + i)
}
