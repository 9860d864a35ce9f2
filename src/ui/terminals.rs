//! The Terminals tab, for technicians: the inventory grouped by line with live status, the
//! selected terminal's diagnostics, and the live frame trace of its line.

use super::theme::Theme;
use super::{column_widths, filtered_title, fit, fit_columns, local, no_match, when};
use crate::app::layout;
use crate::app::state::{State, TerminalRow};
use crate::app::update::{command_label, terminal_kind_label, terminal_status_label};
use crate::db::listen::Direction;
use crate::db::terminal::Terminal;
use crate::i18n::{tr, trf};
use crate::keymap::Command;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let (list, diag, trace) = layout::terminals_split(body);
    render_list(frame, state, list, th);
    render_diagnostics(frame, state, diag, th);
    render_trace(frame, state, trace, th);
}

fn status_style(th: &Theme, status: &str) -> Style {
    match status {
        "online" => th.info,
        "offline" => th.error,
        _ => th.muted,
    }
}

fn kind_word(state: &State, kind: &str) -> String {
    terminal_kind_label(state.lang, kind)
}

fn status_word(state: &State, status: &str) -> String {
    terminal_status_label(state.lang, status)
}

fn render_list(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let headers = [
        tr(lang, "terminal.col.name"),
        tr(lang, "terminal.col.kind"),
        tr(lang, "terminal.col.address"),
        tr(lang, "terminal.col.location"),
        tr(lang, "terminal.col.status"),
        tr(lang, "terminal.col.firmware"),
        tr(lang, "terminal.col.scan"),
    ];
    let cells = |t: &Terminal| -> [String; 7] {
        [
            t.name.clone(),
            kind_word(state, &t.kind),
            t.address.to_string(),
            t.location.clone(),
            status_word(state, &t.status),
            t.firmware.clone(),
            if t.in_scan {
                tr(lang, "terminal.scan_yes").to_string()
            } else {
                tr(lang, "terminal.scan_no").to_string()
            },
        ]
    };
    let all: Vec<[String; 7]> = state.terminals.list.iter().map(cells).collect();
    let mut widths = column_widths(&headers, &all);
    let inner = area.width.saturating_sub(2) as usize;
    // Two columns of indent under each line heading; narrow screens get narrow gaps.
    let gap = if inner < 100 { 1 } else { 2 };
    fit_columns(
        &mut widths,
        &[10, 8, 6, 8, 4, 4, 2],
        inner.saturating_sub(2),
        gap,
    );
    let spans_of = |cols: &[String], styles: &[Style]| -> Vec<Span<'static>> {
        let mut spans = vec![Span::styled("  ".to_string(), styles[0])];
        let mut used = 2;
        for ((c, w), style) in cols.iter().zip(widths.iter()).zip(styles.iter()) {
            let cell = format!("{}{}", fit(c, *w), " ".repeat(gap));
            used += cell.width();
            spans.push(Span::styled(cell, *style));
        }
        spans.push(Span::styled(
            " ".repeat(inner.saturating_sub(used)),
            styles[0],
        ));
        spans
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut lines = vec![Line::from(spans_of(&header, &[th.header; 7]))];
    let rows = state.terminal_rows();
    let selected = state.selected_terminal().map(|t| t.id);
    let (visible, offset) = layout::table_window(area, state.selected_terminal_row());
    for row in rows.iter().skip(offset).take(visible) {
        match row {
            TerminalRow::Line(line, n) => {
                let heading = trf(
                    lang,
                    "terminal.line_heading",
                    &[
                        ("name", &line.name),
                        ("protocol", &line.protocol),
                        ("transport", &line.transport),
                        ("address", &line.address),
                        ("n", &n.to_string()),
                    ],
                );
                lines.push(Line::from(Span::styled(fit(&heading, inner), th.title)));
            }
            TerminalRow::Terminal(t) => {
                let mut styles = [th.base; 7];
                styles[4] = status_style(th, &t.status);
                if !t.in_scan {
                    styles[6] = th.muted;
                }
                if Some(t.id) == selected {
                    for s in styles.iter_mut() {
                        *s = s.patch(th.selected);
                    }
                }
                lines.push(Line::from(spans_of(&cells(t), &styles)));
            }
        }
    }
    let filter = &state.terminals.filter;
    let shown = rows
        .iter()
        .filter(|r| matches!(r, TerminalRow::Terminal(_)))
        .count();
    if state.terminals.list.is_empty() {
        lines.push(Line::from(Span::styled(
            tr(lang, "terminal.empty"),
            th.muted,
        )));
    } else if shown == 0 {
        lines.push(no_match(lang, filter, th));
    }
    let count = |status: &str| {
        state
            .terminals
            .list
            .iter()
            .filter(|t| t.status == status)
            .count()
            .to_string()
    };
    let title = trf(
        lang,
        "terminal.title",
        &[
            ("n", &state.terminals.list.len().to_string()),
            ("online", &count("online")),
            ("offline", &count("offline")),
        ],
    );
    let title = filtered_title(lang, &title, filter, Some(shown));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(title, th.title));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_diagnostics(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border);
    let Some(t) = state.selected_terminal() else {
        let block = block.title(Span::styled(
            format!(" {} ", tr(lang, "terminal.diag.title")),
            th.title,
        ));
        frame.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let block = block.title(Span::styled(format!(" {} ", t.name), th.title));
    let inner = area.width.saturating_sub(2) as usize;
    let labels = [
        "terminal.diag.status",
        "terminal.diag.rtt",
        "terminal.diag.errors",
        "terminal.diag.drift",
        "terminal.diag.waiting",
        "terminal.diag.last_contact",
        "terminal.diag.last_command",
        "terminal.diag.scan",
        "terminal.diag.installed",
    ];
    let label_w = labels
        .iter()
        .map(|k| tr(lang, k).width())
        .max()
        .unwrap_or(0)
        .min(inner / 2)
        + 1;
    let dash = || "—".to_string();
    let status = if t.firmware.is_empty() {
        status_word(state, &t.status)
    } else {
        format!("{} · {}", status_word(state, &t.status), t.firmware)
    };
    let last_contact = t
        .last_contact
        .map(|at| {
            let ago = (state.now - at).num_seconds().max(0);
            trf(
                lang,
                "terminal.diag.ago",
                &[("at", &when(state, at)), ("s", &ago.to_string())],
            )
        })
        .unwrap_or_else(|| tr(lang, "terminal.diag.never").to_string());
    let last_command = state
        .terminals
        .commands
        .values()
        .filter(|c| c.terminal_id == t.id)
        .max_by_key(|c| c.id)
        .map(|c| {
            let mut s = format!(
                "{} · {}",
                command_label(lang, &c.command.0),
                tr(lang, &format!("command.state.{}", c.state))
            );
            if let Some(r) = &c.result {
                s.push_str(": ");
                s.push_str(r);
            }
            s
        })
        .unwrap_or_else(dash);
    let installed = match (t.installed_at, t.installed_by.is_empty()) {
        (Some(d), false) => format!("{d} · {}", t.installed_by),
        (Some(d), true) => d.to_string(),
        (None, false) => t.installed_by.clone(),
        (None, true) => dash(),
    };
    let values: [(String, Style); 9] = [
        (status, status_style(th, &t.status)),
        (
            t.rtt_ms.map(|r| format!("{r:.1} ms")).unwrap_or_else(dash),
            th.base,
        ),
        (
            trf(
                lang,
                "terminal.diag.errors_value",
                &[
                    ("retries", &t.retries.to_string()),
                    ("crc", &t.crc_errors.to_string()),
                    ("timeouts", &t.timeouts.to_string()),
                ],
            ),
            if t.crc_errors + t.timeouts > 0 {
                th.header
            } else {
                th.base
            },
        ),
        (
            t.clock_drift_s
                .map(|d| format!("{d:+} s"))
                .unwrap_or_else(dash),
            if t.clock_drift_s.is_some_and(|d| d.abs() >= 60) {
                th.header
            } else {
                th.base
            },
        ),
        (t.records_waiting.to_string(), th.base),
        (last_contact, th.base),
        (last_command, th.base),
        (
            tr(
                lang,
                if t.in_scan {
                    "terminal.scan_yes"
                } else {
                    "terminal.scan_no"
                },
            )
            .to_string(),
            th.base,
        ),
        (installed, th.base),
    ];
    let lines: Vec<Line> = labels
        .iter()
        .zip(values)
        .map(|(k, (v, style))| {
            Line::from(vec![
                Span::styled(fit(tr(lang, k), label_w), th.header),
                Span::styled(fit(&v, inner.saturating_sub(label_w)), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block).style(th.base), area);
}

fn render_trace(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let inner = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let key = state
        .keymap
        .keys_for(state.tab.section(), Command::TerminalTrace)
        .into_iter()
        .next()
        .unwrap_or_else(|| Command::TerminalTrace.name().to_string());
    let (title, lines) = match &state.terminals.trace {
        None => (
            tr(lang, "terminal.trace.title_off").to_string(),
            vec![Line::from(Span::styled(
                trf(lang, "terminal.trace.off", &[("key", &key)]),
                th.muted,
            ))],
        ),
        Some(trace) => {
            let line = state
                .line(trace.line_id)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| format!("#{}", trace.line_id));
            let title = trf(lang, "terminal.trace.title", &[("line", &line)]);
            if trace.frames.is_empty() {
                (
                    title,
                    vec![Line::from(Span::styled(
                        tr(lang, "terminal.trace.waiting"),
                        th.muted,
                    ))],
                )
            } else {
                let skip = trace.frames.len().saturating_sub(rows);
                let lines = trace
                    .frames
                    .iter()
                    .skip(skip)
                    .map(|f| {
                        let (dir, style) = match f.dir {
                            Direction::Tx => ("tx", th.title),
                            Direction::Rx => ("rx", th.info),
                        };
                        let at = local(state, f.at, "%H:%M:%S%.3f");
                        let mut hex = spaced_hex(&f.hex);
                        if !f.note.is_empty() {
                            if !hex.is_empty() {
                                hex.push_str("  ");
                            }
                            hex.push_str(&format!("({})", f.note));
                        }
                        let head = format!("{at} {dir} ");
                        Line::from(vec![
                            Span::styled(head.clone(), style),
                            Span::styled(fit(&hex, inner.saturating_sub(head.width())), th.base),
                        ])
                    })
                    .collect();
                (title, lines)
            }
        }
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(format!(" {title} "), th.title));
    frame.render_widget(Paragraph::new(lines).block(block).style(th.base), area);
}

/// "7e0102" as "7E 01 02".
fn spaced_hex(hex: &str) -> String {
    let chars: Vec<char> = hex.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .chunks(2)
        .map(|p| p.iter().collect::<String>().to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}
