//! The Terminals tab, for technicians: the inventory grouped by line with live status, the
//! selected terminal's diagnostics, and the live frame trace of its line.

use crate::app::state::{Shell, State};
use crate::app::tabs::terminals::{split, TerminalRow, Terminals};
use crate::app::words;
use crate::db::listen::Direction;
use crate::db::terminal::Terminal;
use crate::i18n::{tr, trf};
use crate::keymap::Command;
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, column_widths, fit, fit_columns, table, TableRow};
use crate::ui::{filtered_title, local, no_match, when};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    draw(frame, state, body, th, false)
}

/// The tab; `read_only` (the wallboard): the inventory's health over the whole body, with no
/// selected terminal's diagnostics and no trace (whose keys do nothing there).
pub fn draw(frame: &mut Frame, state: &State, body: Rect, th: &Theme, read_only: bool) {
    let sh = &state.shell;
    let t = &state.terminals;
    if read_only {
        render_list(frame, sh, t, body, th);
        return;
    }
    let (list, diag, trace) = split(body);
    render_list(frame, sh, t, list, th);
    render_diagnostics(frame, sh, t, diag, th);
    render_trace(frame, sh, t, trace, th);
    if let Some(edit) = &t.edit {
        crate::ui::form::render(
            frame,
            sh.lang,
            &edit.form,
            &Placement {
                width: 60,
                title: edit.form.title.clone(),
                keys: popup_keys(sh.lang, &edit.form),
            },
            body,
            th,
        );
    }
}

fn status_style(th: &Theme, status: &str) -> Style {
    match status {
        "online" => th.info,
        "offline" => th.error,
        _ => th.muted,
    }
}

fn kind_word(sh: &Shell, kind: &str) -> String {
    words::terminal_kind(sh.lang, kind)
}

fn status_word(sh: &Shell, status: &str) -> String {
    words::terminal_status(sh.lang, status)
}

fn render_list(frame: &mut Frame, sh: &Shell, t: &Terminals, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let headers: Vec<String> = [
        "terminal.col.name",
        "terminal.col.kind",
        "terminal.col.address",
        "terminal.col.location",
        "terminal.col.status",
        "terminal.col.firmware",
        "terminal.col.scan",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let cells = |x: &Terminal| -> Vec<String> {
        vec![
            format!("  {}", x.name),
            kind_word(sh, &x.kind),
            x.address.to_string(),
            x.location.clone(),
            status_word(sh, &x.status),
            x.firmware.clone(),
            tr(
                lang,
                if x.in_scan {
                    "terminal.scan_yes"
                } else {
                    "terminal.scan_no"
                },
            )
            .to_string(),
        ]
    };
    let all: Vec<Vec<String>> = t.list.rows.iter().map(cells).collect();
    let mut widths = column_widths(&headers, &all);
    let inner = area.width.saturating_sub(2) as usize;
    fit_columns(&mut widths, &[12, 8, 6, 8, 4, 4, 2], inner, 1);
    let rows = t.rows(lang);
    let selected = t.selected(lang).map(|x| x.id);
    let table_rows: Vec<TableRow> = rows
        .iter()
        .map(|row| match row {
            TerminalRow::Line(line, n) => TableRow::heading(
                trf(
                    lang,
                    "terminal.line_heading",
                    &[
                        ("name", &line.name),
                        ("protocol", &line.protocol),
                        ("transport", &line.transport),
                        ("address", &line.address),
                        ("n", &n.to_string()),
                    ],
                ),
                th.title,
            ),
            TerminalRow::Terminal(x) => {
                let mut styles = [th.base; 7];
                styles[4] = status_style(th, &x.status);
                if !x.in_scan {
                    styles[6] = th.muted;
                }
                TableRow::new(cells(x).into_iter().zip(styles).collect())
            }
        })
        .collect();
    let filter = t.filter.text();
    let shown = rows
        .iter()
        .filter(|r| matches!(r, TerminalRow::Terminal(_)))
        .count();
    let empty = if t.list.rows.is_empty() {
        Some(Line::from(Span::styled(
            tr(lang, "terminal.empty"),
            th.muted,
        )))
    } else {
        Some(no_match(lang, filter, th))
    };
    let count = |status: &str| {
        t.list
            .rows
            .iter()
            .filter(|x| x.status == status)
            .count()
            .to_string()
    };
    let title = trf(
        lang,
        "terminal.title",
        &[
            ("n", &t.list.rows.len().to_string()),
            ("online", &count("online")),
            ("offline", &count("offline")),
        ],
    );
    let title = Span::styled(filtered_title(lang, &title, filter, Some(shown)), th.title);
    let at = selected.map(|_| t.selected_row(lang));
    let table_rows = if shown == 0 { vec![] } else { table_rows };
    table(
        frame,
        area,
        block(title, th),
        &headers,
        &widths,
        table_rows,
        at,
        empty,
        th,
    );
}

fn render_diagnostics(frame: &mut Frame, sh: &Shell, tabs: &Terminals, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let Some(t) = tabs.selected(lang) else {
        let title = Span::styled(format!(" {} ", tr(lang, "terminal.diag.title")), th.title);
        frame.render_widget(Paragraph::new("").block(block(title, th)), area);
        return;
    };
    let block = block(
        Span::styled(
            format!(" {} ", clip(&t.name, area.width.saturating_sub(4) as usize)),
            th.title,
        ),
        th,
    );
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
        status_word(sh, &t.status)
    } else {
        format!("{} · {}", status_word(sh, &t.status), t.firmware)
    };
    let last_contact = t
        .last_contact
        .map(|at| {
            let ago = (sh.now - at).num_seconds().max(0);
            trf(
                lang,
                "terminal.diag.ago",
                &[("at", &when(sh, at)), ("s", &ago.to_string())],
            )
        })
        .unwrap_or_else(|| tr(lang, "terminal.diag.never").to_string());
    let last_command = sh
        .commands
        .latest(t.id, |_| true)
        .map(|c| {
            let mut s = format!(
                "{} · {}",
                words::command(lang, &c.command),
                words::command_state(lang, c.state())
            );
            if let Some(row) = &c.row {
                s.push_str(": ");
                s.push_str(&words::command_result(lang, row));
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

fn render_trace(frame: &mut Frame, sh: &Shell, t: &Terminals, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let inner = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let key = sh
        .key_for(sh.tab.section(), Command::TerminalTrace)
        .unwrap_or_else(|| Command::TerminalTrace.name().to_string());
    let (title, lines) = match &t.trace {
        None => (
            tr(lang, "terminal.trace.title_off").to_string(),
            vec![Line::from(Span::styled(
                trf(lang, "terminal.trace.off", &[("key", &key)]),
                th.muted,
            ))],
        ),
        Some(trace) => {
            let line = t
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
                // Every byte of every frame: a long frame wraps under its time, so nothing is
                // cut off; the newest frames are at the bottom.
                let mut lines: Vec<Line> = Vec::new();
                for f in trace.frames.iter().rev() {
                    let (dir, style) = match f.dir {
                        Direction::Tx => ("tx", th.title),
                        Direction::Rx => ("rx", th.info),
                    };
                    let head = format!("{} {dir} ", local(sh, f.at, "%H:%M:%S%.3f"));
                    let room = inner.saturating_sub(head.width()).max(3);
                    let bytes = spaced_hex(&f.hex);
                    let per_line = (room + 1) / 3;
                    let mut chunks: Vec<String> = bytes
                        .split(' ')
                        .filter(|b| !b.is_empty())
                        .collect::<Vec<_>>()
                        .chunks(per_line.max(1))
                        .map(|c| c.join(" "))
                        .collect();
                    let note = words::trace_note(lang, &f.note);
                    if !note.is_empty() {
                        chunks.push(format!("({note})"));
                    }
                    if chunks.is_empty() {
                        chunks.push(String::new());
                    }
                    let mut frame_lines: Vec<Line> = chunks
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let lead = if i == 0 {
                                Span::styled(head.clone(), style)
                            } else {
                                Span::raw(" ".repeat(head.width()))
                            };
                            Line::from(vec![lead, Span::styled(fit(&c, room), th.base)])
                        })
                        .collect();
                    frame_lines.reverse();
                    lines.extend(frame_lines);
                    if lines.len() >= rows {
                        break;
                    }
                }
                lines.truncate(rows);
                lines.reverse();
                (title, lines)
            }
        }
    };
    let title = Span::styled(
        format!(" {} ", clip(&title, inner.saturating_sub(2))),
        th.title,
    );
    // Frames are fitted to the width already; what is said with no frame wraps.
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title, th))
            .wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
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
