//! Screen geometry, shared by rendering and mouse hit-testing so a click lands where the eye sees.

use super::state::{State, Tab};
use crate::i18n::tr;
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

/// Where each tab title sits on the tab row: (tab, first column, one past the last).
pub fn tab_spans(state: &State, row: Rect) -> Vec<(Tab, u16, u16)> {
    let mut x = row.x + 1;
    Tab::ALL
        .iter()
        .map(|tab| {
            let w = tab_label(state, *tab).width() as u16;
            let span = (*tab, x, x + w);
            x += w;
            span
        })
        .collect()
}

pub fn tab_label(state: &State, tab: Tab) -> String {
    format!(" {} ", tr(state.lang, &format!("tab.{}.title", tab.key())))
}

/// The operators tab: the operator table above, recent audit entries below.
pub fn operators_split(body: Rect) -> (Rect, Rect) {
    let top = (body.height * 3 / 5).max(6).min(body.height);
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, body.height - top),
    )
}

/// The Alarms view: the open alarms above, the selected one's details and instructions below.
pub fn alarms_split(body: Rect) -> (Rect, Rect) {
    let top = (body.height * 11 / 20).max(6).min(body.height);
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, body.height - top),
    )
}

/// The Terminals tab: the inventory above; below, the selected terminal's diagnostics and the
/// line trace side by side.
pub fn terminals_split(body: Rect) -> (Rect, Rect, Rect) {
    let top = (body.height / 2).max(6).min(body.height);
    let bottom = Rect::new(body.x, body.y + top, body.width, body.height - top);
    let left = (bottom.width * 2 / 5).clamp(38.min(bottom.width), 60.min(bottom.width));
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(bottom.x, bottom.y, left, bottom.height),
        Rect::new(
            bottom.x + left,
            bottom.y,
            bottom.width - left,
            bottom.height,
        ),
    )
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

/// The Card service tab's people view: the desk reader's line on top; below, the people found
/// and the selected person's card panel, side by side on a wide screen, stacked on a narrow one.
pub fn cards_split(body: Rect) -> (Rect, Rect, Rect) {
    let reader = Rect::new(body.x, body.y, body.width, body.height.min(1));
    let rest = Rect::new(
        body.x,
        body.y + reader.height,
        body.width,
        body.height - reader.height,
    );
    if rest.width >= 140 {
        let left = rest.width * 9 / 20;
        (
            reader,
            Rect::new(rest.x, rest.y, left, rest.height),
            Rect::new(rest.x + left, rest.y, rest.width - left, rest.height),
        )
    } else {
        // The card panel needs about a dozen rows; the people list takes the rest.
        let panel = 12.min(rest.height.saturating_sub(5)).max(rest.height / 2);
        let top = rest.height - panel;
        (
            reader,
            Rect::new(rest.x, rest.y, rest.width, top),
            Rect::new(rest.x, rest.y + top, rest.width, panel),
        )
    }
}

/// The card panel: the card's facts, then terminals and history: below them when the panel is
/// tall, on their right when it is short.
pub fn card_panel_split(panel: Rect) -> (Rect, Rect) {
    if panel.height >= 22 {
        let top = 10;
        return (
            Rect::new(panel.x, panel.y, panel.width, top),
            Rect::new(panel.x, panel.y + top, panel.width, panel.height - top),
        );
    }
    let left = (panel.width * 3 / 5).clamp(38.min(panel.width), 58.min(panel.width));
    (
        Rect::new(panel.x, panel.y, left, panel.height),
        Rect::new(panel.x + left, panel.y, panel.width - left, panel.height),
    )
}

/// The stock view: stock and counts on the left, the fees collected on the right.
pub fn stock_split(body: Rect) -> (Rect, Rect) {
    let left = (body.width * 2 / 5).clamp(36.min(body.width), 56.min(body.width));
    (
        Rect::new(body.x, body.y, left, body.height),
        Rect::new(body.x + left, body.y, body.width - left, body.height),
    )
}

/// The reports view: the report and its filters on one line, the rows below.
pub fn reports_split(body: Rect) -> (Rect, Rect) {
    let head = body.height.min(1);
    (
        Rect::new(body.x, body.y, body.width, head),
        Rect::new(body.x, body.y + head, body.width, body.height - head),
    )
}
