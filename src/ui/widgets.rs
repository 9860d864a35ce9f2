//! The pieces every view draws with: text fitted to display columns (CJK counts two; what does
//! not fit ends in "…"), tables on ratatui's `Table` with a scrollbar when they run long,
//! wrapped text and popups.

use super::theme::Theme;
use ratatui::layout::{Constraint, Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Row, Scrollbar, ScrollbarOrientation, ScrollbarState, Table,
    TableState,
};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// `s` cut to at most `width` display columns; what does not fit ends in "…".
pub fn clip(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` in exactly `width` display columns: padded, or clipped with "…".
pub fn fit(s: &str, width: usize) -> String {
    let mut out = clip(s, width);
    let w = out.width();
    out.push_str(&" ".repeat(width.saturating_sub(w)));
    out
}

/// The last `width` display columns of `s` (the end of a long value, where typing goes on).
pub fn tail(s: &str, width: usize) -> String {
    let mut used = 0;
    let mut out: Vec<char> = Vec::new();
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.into_iter().rev().collect()
}

/// Lines of `text` wrapped to `width` display columns (CJK has no spaces: cut by characters).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split_inclusive(' ') {
        let w = word.width();
        if used + w > width && !line.is_empty() {
            lines.push(line.trim_end().to_string());
            line.clear();
            used = 0;
        }
        if w > width {
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > width {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        } else {
            line.push_str(word);
            used += w;
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// Each column as wide as its header or its widest cell, in display columns.
pub fn column_widths<H, R, C>(headers: &[H], rows: &[R]) -> Vec<usize>
where
    H: AsRef<str>,
    R: AsRef<[C]>,
    C: AsRef<str>,
{
    let mut widths: Vec<usize> = headers.iter().map(|h| h.as_ref().width()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(c.as_ref().width());
        }
    }
    widths
}

/// Shrinks column widths until they and their gaps fit `inner` columns: the widest column above
/// its minimum gives way first, one display column at a time.
pub fn fit_columns(widths: &mut [usize], min: &[usize], inner: usize, gap: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + gap * w.len().saturating_sub(1);
    while total(widths) > inner {
        let widest = widths
            .iter()
            .enumerate()
            .filter(|(i, w)| **w > min.get(*i).copied().unwrap_or(1))
            .max_by_key(|(_, w)| **w)
            .map(|(i, _)| i);
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
}

/// A bordered block with a title.
pub fn block<'a>(title: impl Into<Line<'a>>, th: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(title)
        .style(th.base)
}

/// One row of a table: its cells (text and style each) and whether it is a heading that spans
/// the row (a line's name above its terminals).
pub struct TableRow {
    pub cells: Vec<(String, Style)>,
    pub heading: bool,
}

impl TableRow {
    pub fn new(cells: Vec<(String, Style)>) -> TableRow {
        TableRow {
            cells,
            heading: false,
        }
    }

    /// Every cell in one style.
    pub fn plain(cells: Vec<String>, style: Style) -> TableRow {
        TableRow::new(cells.into_iter().map(|c| (c, style)).collect())
    }

    pub fn heading(text: String, style: Style) -> TableRow {
        TableRow {
            cells: vec![(text, style)],
            heading: true,
        }
    }
}

/// A table in a bordered block: a header row, the rows (cells clipped with "…" to their
/// columns), the selected row highlighted and kept in view, a scrollbar on the right border
/// when the rows do not all fit, and `empty` when there are none.
#[allow(clippy::too_many_arguments)]
pub fn table(
    frame: &mut Frame,
    area: Rect,
    block: Block,
    headers: &[String],
    widths: &[usize],
    rows: Vec<TableRow>,
    selected: Option<usize>,
    empty: Option<Line>,
    th: &Theme,
) {
    let gap = 1;
    let inner = area.width.saturating_sub(2) as usize;
    let n = rows.len();
    let total: usize = widths.iter().sum::<usize>() + gap * widths.len().saturating_sub(1);
    let mut headings: Vec<(usize, String, Style)> = Vec::new();
    let body: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if r.heading {
                // A heading spans the row: drawn over its empty row once the table is drawn.
                let (text, style) = r.cells.into_iter().next().unwrap_or_default();
                headings.push((i, text, style));
                return Row::new(Vec::<Cell>::new());
            }
            Row::new(
                r.cells
                    .into_iter()
                    .zip(widths)
                    .map(|((text, style), w)| Cell::from(Span::styled(clip(&text, *w), style)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let header = Row::new(
        headers
            .iter()
            .zip(widths)
            .map(|(h, w)| Cell::from(clip(h, *w)))
            .collect::<Vec<_>>(),
    )
    .style(th.header);
    let constraints: Vec<Constraint> = widths
        .iter()
        .map(|w| Constraint::Length(*w as u16))
        .chain((total < inner).then_some(Constraint::Fill(1)))
        .collect();
    let visible = area.height.saturating_sub(3).max(1) as usize;
    let offset = selected
        .unwrap_or(0)
        .saturating_sub(visible.saturating_sub(1));
    let mut state = TableState::default()
        .with_offset(offset)
        .with_selected(selected);
    let table = Table::new(body, constraints)
        .header(header)
        .block(block)
        .column_spacing(gap as u16)
        .row_highlight_style(th.selected);
    frame.render_stateful_widget(table, area, &mut state);
    let offset = state.offset();
    for (i, text, style) in headings {
        if i < offset || i >= offset + visible {
            continue;
        }
        let y = area.y + 2 + (i - offset) as u16;
        if y + 1 >= area.bottom() {
            continue;
        }
        let at = Rect::new(area.x + 1, y, area.width.saturating_sub(2), 1);
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Span::styled(fit(&text, inner), style)),
            at,
        );
    }
    if n == 0 {
        if let Some(line) = empty {
            // What the empty list says may take more than a row: it wraps over the rows the
            // list has rather than running past the border.
            let at = Rect::new(
                area.x + 1,
                area.y + 2,
                area.width.saturating_sub(2),
                area.height.saturating_sub(3),
            );
            frame.render_widget(
                ratatui::widgets::Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: true }),
                at,
            );
        }
    }
    scrollbar(frame, area, n, visible, selected.unwrap_or(0));
}

/// A table of text cells, its columns fitted to the width (`mins` each at least).
#[allow(clippy::too_many_arguments)]
pub fn grid(
    frame: &mut Frame,
    lang: crate::i18n::Lang,
    area: Rect,
    title: String,
    header_keys: &[&str],
    rows: Vec<TableRow>,
    mins: &[usize],
    selected: Option<usize>,
    empty: Line<'static>,
    th: &Theme,
) {
    let headers: Vec<String> = header_keys
        .iter()
        .map(|k| crate::i18n::tr(lang, k).to_string())
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.cells.iter().map(|c| c.0.clone()).collect())
        .collect();
    let mut widths = column_widths(&headers, &cells);
    fit_columns(&mut widths, mins, area.width.saturating_sub(2) as usize, 1);
    table(
        frame,
        area,
        block(Span::styled(title, th.title), th),
        &headers,
        &widths,
        rows,
        selected.filter(|_| !cells.is_empty()),
        Some(empty),
        th,
    );
}

/// A scrollbar on the right border of a bordered list of `n` rows, `visible` at a time, when
/// they do not all fit.
pub fn scrollbar(frame: &mut Frame, area: Rect, n: usize, visible: usize, position: usize) {
    if n <= visible || area.height < 4 {
        return;
    }
    let mut state = ScrollbarState::new(n.saturating_sub(visible) + 1)
        .position(position.saturating_sub(visible.saturating_sub(1)).min(n));
    frame.render_stateful_widget(
        Scrollbar::new(ScrollbarOrientation::VerticalRight)
            .begin_symbol(None)
            .end_symbol(None),
        area.inner(Margin {
            vertical: 1,
            horizontal: 0,
        }),
        &mut state,
    );
}

/// A rectangle of `w`×`h` centred in `area`, clipped to it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Clears `area` for a popup. A wide character just left of it would lose its right half under
/// the popup's border, and a terminal would draw the border over half a glyph: blank it.
pub fn clear_popup(frame: &mut Frame, area: Rect) {
    frame.render_widget(Clear, area);
    if area.x == 0 {
        return;
    }
    let buf = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        let cell = &mut buf[(area.x - 1, y)];
        if cell.symbol().width() > 1 {
            cell.set_symbol(" ");
        }
    }
}

/// A text being typed, `width` columns wide, scrolled to keep its cursor in sight; the cursor
/// is the reversed cell (on the character it is before, or a blank at the end).
pub fn input_spans(
    input: &crate::app::form::TextInput,
    secret: bool,
    width: usize,
    focused: bool,
    style: Style,
) -> Vec<Span<'static>> {
    let value: String = if secret {
        "•".repeat(input.value().chars().count())
    } else {
        input.value().to_string()
    };
    if !focused {
        return vec![Span::styled(fit(&value, width), style)];
    }
    let scroll = input.scroll(width);
    let cursor = input.cursor();
    let (mut before, mut at, mut after) = (String::new(), String::new(), String::new());
    let mut col = 0;
    for c in value.chars() {
        let w = c.width().unwrap_or(0);
        if col >= scroll {
            if col < cursor {
                before.push(c);
            } else if col == cursor && at.is_empty() {
                at.push(c);
            } else {
                after.push(c);
            }
        }
        col += w;
    }
    if at.is_empty() {
        at.push(' ');
    }
    let used = before.width() + at.width();
    let after = clip(&after, width.saturating_sub(used));
    let pad = width.saturating_sub(used + after.width());
    vec![
        Span::styled(before, style),
        Span::styled(at, style.add_modifier(ratatui::style::Modifier::REVERSED)),
        Span::styled(after, style),
        Span::styled(" ".repeat(pad), style),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_does_not_fit_ends_in_an_ellipsis() {
        assert_eq!(clip("学生宿舍3号楼", 8), "学生宿…");
        assert_eq!(clip("学生宿舍", 8), "学生宿舍");
        assert_eq!(clip("Library east", 7), "Librar…");
        assert_eq!(fit("学生", 6), "学生  ");
        assert_eq!(fit("学生宿舍3号楼", 5), "学生…");
        assert_eq!(fit("学生宿舍3号楼", 6), "学生… ");
        assert_eq!(clip("abc", 0), "");
    }
}
