//! The Alarms view (over any tab): open alarms by priority (or the history of closed ones), the
//! selected one's details and what to do about it, and the note (or force-clear reason) popup.

mod history;

use crate::app::state::{Shell, State};
use crate::app::tabs::alarms::{list_panes, split, NoteInput, PRESET_NOTES};
use crate::app::words;
use crate::db::alarm::Alarm;
use crate::i18n::{tr, trf};
use crate::ui::theme::Theme;
use crate::ui::widgets::{
    block, centered, clear_popup, column_widths, fit_columns, input_spans, table, TableRow,
};
use crate::ui::{filtered_title, local, no_match, when};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let (list, detail) = split(body);
    if state.alarms.history.shown {
        history::render(frame, state, list, th);
        render_detail(
            frame,
            &state.shell,
            state.alarms.history.selected(),
            detail,
            th,
        );
        history::render_form(frame, &state.shell, &state.alarms.history, body, th);
        return;
    }
    render_list(frame, state, list, th);
    render_detail(
        frame,
        &state.shell,
        state.alarms.selected(state.shell.lang),
        detail,
        th,
    );
    if let Some(note) = &state.alarms.note {
        render_note(frame, &state.shell, note, body, th);
    }
}

fn render_list(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    let alarms = &state.alarms;
    let headers: Vec<String> = [
        "P",
        tr(lang, "alarm.col.raised"),
        tr(lang, "alarm.col.kind"),
        tr(lang, "alarm.col.where"),
        tr(lang, "alarm.col.card"),
        tr(lang, "alarm.col.state"),
        tr(lang, "alarm.col.handling"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let row_of = |a: &Alarm| -> Vec<String> {
        let place = words::alarm_place(lang, a);
        vec![
            format!("P{}", a.priority),
            when(sh, a.raised_at),
            words::alarm_kind(lang, &a.kind),
            if place.is_empty() {
                "—".into()
            } else {
                place
            },
            a.card.map(|c| c.to_string()).unwrap_or_default(),
            words::alarm_state(lang, &a.state),
            a.handling_by.clone().unwrap_or_default(),
        ]
    };
    // Widths from every open alarm, so the columns hold still while a filter is typed.
    let cells: Vec<Vec<String>> = alarms.list.rows.iter().map(row_of).collect();
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    // The place, kind and handler give way first; the rest stays readable.
    fit_columns(&mut widths, &[2, 8, 8, 10, 4, 6, 4], inner, 1);
    let shown = alarms.visible(lang);
    let live = shown.iter().take_while(|a| !a.late).count();
    let (top, low) = list_panes(area, shown.len() - live);
    let at = alarms
        .selected(lang)
        .map(|a| a.id)
        .and_then(|id| shown.iter().position(|a| a.id == id));
    let rows = |part: &[&Alarm]| -> Vec<TableRow> {
        part.iter()
            .map(|a| {
                let style = if a.late {
                    th.muted
                } else if a.state == "active" && a.priority == 1 {
                    th.error
                } else if a.state == "active" {
                    th.base
                } else {
                    th.muted
                };
                TableRow::plain(row_of(a), style)
            })
            .collect()
    };
    let filter = alarms.filter.text();
    let empty = if cells.is_empty() {
        Some(Line::from(Span::styled(
            tr(lang, "alarm.view.empty"),
            th.muted,
        )))
    } else {
        Some(no_match(lang, filter, th))
    };
    let n = words::shown_of(lang, alarms.list.rows.len(), alarms.total);
    let title = trf(lang, "alarm.view.title", &[("n", &n)]);
    let title = Span::styled(
        filtered_title(lang, &title, filter, Some(shown.len())),
        th.title,
    );
    let Some(low) = low else {
        let all = rows(&shown);
        table(
            frame,
            area,
            block(title, th),
            &headers,
            &widths,
            all,
            at,
            empty,
            th,
        );
        return;
    };
    table(
        frame,
        top,
        block(title, th),
        &headers,
        &widths,
        rows(&shown[..live]),
        at.filter(|i| *i < live),
        Some(Line::from(Span::styled(
            tr(lang, "alarm.view.no_live"),
            th.muted,
        ))),
        th,
    );
    let late_title = trf(
        lang,
        "alarm.view.late_title",
        &[("n", &(shown.len() - live).to_string())],
    );
    table(
        frame,
        low,
        block(Span::styled(format!(" {late_title} "), th.title), th),
        &headers,
        &widths,
        rows(&shown[live..]),
        at.and_then(|i| i.checked_sub(live)),
        None,
        th,
    );
}

fn render_detail(frame: &mut Frame, sh: &Shell, a: Option<&Alarm>, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let Some(a) = a else {
        frame.render_widget(Paragraph::new("").block(block("", th)), area);
        return;
    };
    let title = Span::styled(
        format!(" {} ", words::alarm_name(lang, a)),
        if a.priority == 1 { th.error } else { th.title },
    );
    let label = |k: &str| Span::styled(format!("{}: ", tr(lang, k)), th.header);
    let dash = || "—".to_string();
    let mut first = vec![
        label("alarm.col.raised"),
        Span::raw(local(sh, a.raised_at, "%Y-%m-%d %H:%M:%S")),
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
            Span::raw(words::alarm_state(lang, &a.state)),
            Span::raw("  "),
            label("alarm.col.handling"),
            Span::raw(a.handling_by.clone().unwrap_or_else(dash)),
            Span::raw("  "),
            label("alarm.acknowledged_by"),
            Span::raw(a.acknowledged_by.clone().unwrap_or_else(dash)),
        ]),
    ];
    if a.door.is_some() {
        lines.push(Line::from(vec![
            label("alarm.col.door"),
            Span::raw(words::alarm_place(lang, a)),
        ]));
    }
    if let Some(t) = &a.terminal_name {
        let at = match a.terminal_location.as_deref().filter(|l| !l.is_empty()) {
            Some(loc) => format!("{t} ({loc})"),
            None => t.clone(),
        };
        lines.push(Line::from(vec![label("alarm.col.terminal"), Span::raw(at)]));
    }
    if let Some(at) = a.cleared_at {
        lines.push(Line::from(vec![
            label("alarm.col.cleared"),
            Span::raw(local(sh, at, "%Y-%m-%d %H:%M:%S")),
            Span::raw("  "),
            label("alarm.col.cleared_by"),
            Span::raw(history::cleared_by(lang, a)),
        ]));
    }
    if let Some(reason) = &a.clear_reason {
        lines.push(Line::from(vec![
            label("alarm.reason.label"),
            Span::raw(reason.clone()),
        ]));
    }
    if let Some(note) = &a.note {
        lines.push(Line::from(vec![
            label("alarm.note.label"),
            Span::raw(note.clone()),
        ]));
    }
    if !a.detail.is_empty() {
        lines.push(Line::from(vec![
            label("alarm.detail"),
            Span::raw(words::alarm_detail(lang, &a.detail)),
        ]));
    }
    if a.cleared_at.is_none() {
        lines.push(Line::from(vec![
            label("alarm.todo.title"),
            Span::styled(words::alarm_todo(lang, &a.kind), th.base),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title, th))
            .wrap(Wrap { trim: true }),
        area,
    );
}

/// The note popup: number keys pick a preset, anything else is typed. A force-clear's reason
/// has no presets.
fn render_note(frame: &mut Frame, sh: &Shell, note: &NoteInput, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let (title_key, label_key, keys_key) = if note.force_clear {
        (
            "alarm.reason.title",
            "alarm.reason.label",
            "alarm.reason.keys",
        )
    } else {
        ("alarm.note.title", "alarm.note.label", "alarm.note.keys")
    };
    let title = trf(lang, title_key, &[("alarm", &note.title)]);
    let w = (title.width() as u16 + 4).clamp(60, body.width);
    let h = if note.force_clear { 6 } else { 11 };
    let popup = centered(body, w, h);
    clear_popup(frame, popup);
    let inner = popup.width.saturating_sub(2) as usize;
    let label = tr(lang, label_key);
    let mut first = vec![Span::styled(format!("{label}: "), th.title)];
    first.extend(input_spans(
        &note.text,
        false,
        inner.saturating_sub(label.width() + 2),
        true,
        th.input_focus,
    ));
    let mut lines = vec![Line::from(first), Line::raw("")];
    if !note.force_clear {
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
    }
    lines.push(Line::from(Span::styled(tr(lang, keys_key), th.muted)));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(Span::styled(format!(" {title} "), th.title), th))
            .wrap(Wrap { trim: false }),
        popup,
    );
}
