//! Pure rendering of `app::State`. Reads state and domain; never the database or terminals.

pub mod forms;
pub mod help;
pub mod operators;
pub mod theme;

use crate::app::layout;
use crate::app::msg::DbState;
use crate::app::state::{DbWhere, Level, Overlay, Screen, State, Tab};
use crate::i18n::{tr, trf};
use crate::keymap::{Command, Section};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use theme::Theme;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let th = theme::theme(state.theme);
    frame.render_widget(Block::default().style(th.base), area);
    if area.width < 80 || area.height < 24 {
        let text = trf(
            state.lang,
            "status.size_too_small",
            &[
                ("w", &area.width.to_string()),
                ("h", &area.height.to_string()),
            ],
        );
        let y = area.height / 2;
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true })
                .style(th.error),
            Rect::new(
                area.x,
                area.y + y.saturating_sub(1),
                area.width,
                3.min(area.height),
            ),
        );
        return;
    }
    let areas = layout::areas(area);
    match &state.screen {
        Screen::Starting => {
            let msg = tr(state.lang, "screen.starting");
            frame.render_widget(
                Paragraph::new(msg)
                    .alignment(Alignment::Center)
                    .style(th.muted),
                Rect::new(area.x, area.height / 2, area.width, 1),
            );
        }
        Screen::Form(form) => forms::render(frame, state, form, areas.body, &th),
        Screen::Main => {
            render_tabs(frame, state, areas.tabs, &th);
            render_alarms(frame, state, areas.alarms, &th);
            render_body(frame, state, areas.body, &th);
            render_hint(frame, state, areas.hint, &th);
        }
    }
    render_status(frame, state, areas.status, &th);
    match &state.overlay {
        Some(Overlay::Help { scroll }) => help::render_help(frame, state, areas.body, *scroll, &th),
        Some(Overlay::Palette(p)) => help::render_palette(frame, state, p, areas.body, &th),
        Some(Overlay::Confirm(c)) => render_confirm(frame, state, &c.question, areas.body, &th),
        None => {}
    }
}

fn render_tabs(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let mut spans = vec![Span::raw(" ")];
    for (tab, _, _) in layout::tab_spans(state, row) {
        let style = if tab == state.tab {
            th.tab_active
        } else {
            th.tab
        };
        spans.push(Span::styled(layout::tab_label(state, tab), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), row);
}

fn render_alarms(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let total: u32 = state.alarms.by_priority.iter().map(|(_, n)| n).sum();
    let line = if total == 0 {
        Line::from(vec![
            Span::styled(format!(" {} ", tr(state.lang, "alarm.strip")), th.title),
            Span::styled(tr(state.lang, "alarm.none"), th.alarm_quiet),
        ])
    } else {
        let mut spans = vec![Span::styled(
            format!(" {} ", tr(state.lang, "alarm.strip")),
            th.title,
        )];
        for (p, n) in &state.alarms.by_priority {
            let style = if *n > 0 { th.alarm_loud } else { th.muted };
            spans.push(Span::styled(format!(" P{p} {n} "), style));
            spans.push(Span::raw(" "));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), row);
}

fn render_body(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    match state.tab {
        Tab::Operators => operators::render(frame, state, body, th),
        tab => {
            let title = tr(state.lang, &format!("tab.{}.title", tab.key()));
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(th.border)
                .title(Span::styled(format!(" {title} "), th.title));
            let text = vec![
                Line::from(Span::styled(
                    tr(state.lang, &format!("tab.{}.holds", tab.key())),
                    th.base,
                )),
                Line::raw(""),
                Line::from(Span::styled(tr(state.lang, "tab.not_yet"), th.muted)),
            ];
            frame.render_widget(
                Paragraph::new(text).block(block).wrap(Wrap { trim: true }),
                body,
            );
        }
    }
}

/// The hint line: the message if there is one, else the main keys, from the loaded keymap.
fn render_hint(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    if let Some(text) = &state.filter_input {
        let line = Line::from(vec![
            Span::styled(format!(" {} ", tr(state.lang, "filter.prompt")), th.title),
            Span::styled(format!("{text}▏"), th.input_focus),
        ]);
        frame.render_widget(Paragraph::new(line), row);
        return;
    }
    if let Some((level, text)) = &state.message {
        let style = match level {
            Level::Info => th.info,
            Level::Error => th.error,
        };
        frame.render_widget(Paragraph::new(Span::styled(format!(" {text}"), style)), row);
        return;
    }
    let mut commands = vec![
        Command::Help,
        Command::Palette,
        Command::Filter,
        Command::TabNext,
    ];
    if state.tab == Tab::Operators {
        commands.extend([
            Command::OperatorUnlock,
            Command::OperatorResetPassword,
            Command::AuditVerify,
        ]);
    }
    commands.push(Command::Quit);
    frame.render_widget(
        Paragraph::new(hint_line(state, state.tab.section(), &commands, th)),
        row,
    );
}

pub fn hint_line(
    state: &State,
    section: Section,
    commands: &[Command],
    th: &Theme,
) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for cmd in commands {
        if let Some(keys) = state.keymap.keys_for(section, *cmd).into_iter().next() {
            spans.push(Span::styled(keys, th.title));
            spans.push(Span::styled(
                format!(" {}  ", tr(state.lang, &format!("hint.{}", cmd.name()))),
                th.muted,
            ));
        }
    }
    Line::from(spans)
}

fn render_status(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let lang = state.lang;
    let who = match &state.session {
        Some(s) => format!(
            " {} ({}) · {} ",
            s.operator.login,
            s.operator.display_name,
            tr(lang, &format!("role.{}", s.operator.role.name()))
        ),
        None => format!(" {} ", tr(lang, "status.signed_out")),
    };
    let (db_text, db_style) = match &state.db {
        DbState::Connecting => (tr(lang, "db.connecting").to_string(), th.muted),
        DbState::Ready => (tr(lang, "db.ready").to_string(), th.info),
        DbState::Lost(_) => (tr(lang, "db.lost").to_string(), th.error),
    };
    let clock = state
        .now
        .with_timezone(&state.utc_offset)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut left = vec![
        Span::styled(who, th.status),
        Span::styled(
            format!("│ {}: {} ", tr(lang, "status.db"), db_where(state)),
            th.status,
        ),
        Span::styled(
            format!("{db_text} "),
            db_style.patch(Style::default().bg(th.status.bg.unwrap_or_default())),
        ),
    ];
    if state.demo {
        left.push(Span::styled(
            format!(" {} ", tr(lang, "status.demo")),
            th.badge,
        ));
    }
    let used: usize = left.iter().map(|s| s.content.width()).sum();
    let pad = (row.width as usize).saturating_sub(used + clock.width() + 1);
    left.push(Span::styled(" ".repeat(pad), th.status));
    left.push(Span::styled(format!("{clock} "), th.status));
    frame.render_widget(Paragraph::new(Line::from(left)).style(th.status), row);
}

fn db_where(state: &State) -> String {
    match &state.db_where {
        DbWhere::Embedded => tr(state.lang, "db.embedded").to_string(),
        DbWhere::Demo => tr(state.lang, "db.demo").to_string(),
        DbWhere::External(host) => host.clone(),
    }
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

fn render_confirm(frame: &mut Frame, state: &State, question: &str, body: Rect, th: &Theme) {
    let w = (question.width() as u16 + 6).clamp(40, body.width);
    let popup = centered(body, w, 6);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.error)
        .title(Span::styled(
            format!(" {} ", tr(state.lang, "confirm.title")),
            th.error,
        ))
        .style(th.base);
    let text = vec![
        Line::from(question.to_string()),
        Line::raw(""),
        Line::from(Span::styled(tr(state.lang, "confirm.keys"), th.title)),
    ];
    frame.render_widget(
        Paragraph::new(text).block(block).wrap(Wrap { trim: true }),
        popup,
    );
}

/// Pads or cuts `s` to exactly `width` display columns (CJK characters are two wide).
pub fn fit(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push_str(&" ".repeat(width - used));
    out
}
