//! The Alarms view (over any tab): open alarms by priority, the selected one's details and what
//! to do about it, and the acknowledgement note popup.

use super::theme::Theme;
use super::{
    centered, column_widths, filtered_title, fit, fit_columns, local, no_match, table_line, when,
};
use crate::app::layout;
use crate::app::state::{NoteInput, State, PRESET_NOTES};
use crate::app::update::{alarm_kind_label, alarm_name};
use crate::db::alarm::Alarm;
use crate::domain::alarm::AlarmKind;
use crate::i18n::{tr, trf};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let (list, detail) = layout::alarms_split(body);
    render_list(frame, state, list, th);
    render_detail(frame, state, detail, th);
}

fn state_word(state: &State, a: &Alarm) -> &'static str {
    tr(state.lang, &format!("alarm.state.{}", a.state))
}

fn render_list(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let headers = [
        "P",
        tr(lang, "alarm.col.raised"),
        tr(lang, "alarm.col.kind"),
        tr(lang, "alarm.col.terminal"),
        tr(lang, "alarm.col.door"),
        tr(lang, "alarm.col.card"),
        tr(lang, "alarm.col.state"),
        tr(lang, "alarm.col.handling"),
        tr(lang, "alarm.col.late"),
    ];
    let row_of = |a: &Alarm| -> [String; 9] {
        [
            format!("P{}", a.priority),
            when(state, a.raised_at),
            alarm_kind_label(lang, &a.kind),
            a.terminal_name.clone().unwrap_or_else(|| "—".into()),
            a.door.map(|d| d.to_string()).unwrap_or_default(),
            a.card.map(|c| c.to_string()).unwrap_or_default(),
            state_word(state, a).to_string(),
            a.handling_by.clone().unwrap_or_default(),
            if a.late {
                tr(lang, "alarm.late").to_string()
            } else {
                String::new()
            },
        ]
    };
    // Widths from every open alarm, so the columns hold still while a filter is typed.
    let cells: Vec<[String; 9]> = state.alarm.list.iter().map(row_of).collect();
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    // Kind, terminal, handler and card give way first; the rest stays readable.
    fit_columns(&mut widths, &[2, 8, 8, 8, 2, 4, 6, 4, 2], inner, 1);
    let line_of = |cols: &[&str]| table_line(cols, &widths, 1, inner);
    let shown = state.visible_alarms();
    let selected = state.selected_alarm().map(|a| a.id);
    let (visible, offset) = layout::table_window(area, state.selected_alarm_index());
    let mut lines = vec![Line::from(Span::styled(line_of(&headers), th.header))];
    for a in shown.iter().skip(offset).take(visible) {
        let row = row_of(a);
        let cols: Vec<&str> = row.iter().map(String::as_str).collect();
        let mut style = if a.state == "active" && a.priority == 1 {
            th.error
        } else if a.state == "active" {
            th.base
        } else {
            th.muted
        };
        if Some(a.id) == selected {
            style = style.patch(th.selected);
        }
        lines.push(Line::from(Span::styled(line_of(&cols), style)));
    }
    let filter = &state.alarm.filter;
    if cells.is_empty() {
        lines.push(Line::from(Span::styled(
            tr(lang, "alarm.view.empty"),
            th.muted,
        )));
    } else if shown.is_empty() {
        lines.push(no_match(lang, filter, th));
    }
    let title = trf(
        lang,
        "alarm.view.title",
        &[("n", &state.alarm.list.len().to_string())],
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            filtered_title(lang, &title, filter, Some(shown.len())),
            th.title,
        ));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_detail(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border);
    let Some(a) = state.selected_alarm() else {
        frame.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let block = block.title(Span::styled(
        format!(" {} ", alarm_name(lang, a)),
        if a.priority == 1 { th.error } else { th.title },
    ));
    let label = |k: &str| Span::styled(format!("{}: ", tr(lang, k)), th.header);
    let dash = || "—".to_string();
    let mut first = vec![
        label("alarm.col.raised"),
        Span::raw(local(state, a.raised_at, "%Y-%m-%d %H:%M:%S")),
    ];
    if let Some(c) = a.card {
        first.push(Span::raw("  "));
        first.push(label("alarm.col.card"));
        first.push(Span::raw(c.to_string()));
    }
    if a.late {
        first.push(Span::raw("  "));
        first.push(Span::styled(tr(lang, "alarm.late_long"), th.muted));
    }
    let mut lines = vec![
        Line::from(first),
        Line::from(vec![
            label("alarm.col.state"),
            Span::raw(state_word(state, a)),
            Span::raw("  "),
            label("alarm.col.handling"),
            Span::raw(a.handling_by.clone().unwrap_or_else(dash)),
            Span::raw("  "),
            label("alarm.acknowledged_by"),
            Span::raw(a.acknowledged_by.clone().unwrap_or_else(dash)),
        ]),
    ];
    if let Some(note) = &a.note {
        lines.push(Line::from(vec![
            label("alarm.note.label"),
            Span::raw(note.clone()),
        ]));
    }
    if !a.detail.is_empty() {
        lines.push(Line::from(vec![
            label("alarm.detail"),
            Span::raw(a.detail.clone()),
        ]));
    }
    let todo = match AlarmKind::parse(&a.kind) {
        Some(k) => tr(lang, &format!("alarm.todo.{}", k.name())),
        None => tr(lang, "alarm.todo.unknown"),
    };
    lines.push(Line::from(vec![
        label("alarm.todo.title"),
        Span::styled(todo, th.base),
    ]));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(th.base)
            .wrap(Wrap { trim: true }),
        area,
    );
}

/// The note popup: number keys pick a preset, anything else is typed.
pub fn render_note(frame: &mut Frame, state: &State, note: &NoteInput, body: Rect, th: &Theme) {
    let lang = state.lang;
    let title = trf(lang, "alarm.note.title", &[("alarm", &note.title)]);
    let w = (title.width() as u16 + 4).clamp(60, body.width);
    let popup = centered(body, w, 11);
    frame.render_widget(Clear, popup);
    let inner = popup.width.saturating_sub(2) as usize;
    let label = tr(lang, "alarm.note.label");
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{label}: "), th.title),
            Span::styled(
                fit(
                    &format!("{}▏", note.text),
                    inner.saturating_sub(label.width() + 2),
                ),
                th.input_focus,
            ),
        ]),
        Line::raw(""),
    ];
    for (i, preset) in PRESET_NOTES.iter().enumerate() {
        let style = if note.text.is_empty() {
            th.base
        } else {
            th.muted
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", i + 1), th.title),
            Span::styled(tr(lang, preset), style),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        tr(lang, "alarm.note.keys"),
        th.muted,
    )));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(format!(" {title} "), th.title))
        .style(th.base);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(Style::default())
            .wrap(Wrap { trim: false }),
        popup,
    );
}
