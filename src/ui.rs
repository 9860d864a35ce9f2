//! Pure rendering of `app::State`. Reads state and domain; never the database or terminals.

pub mod alarms;
pub mod card_forms;
pub mod cards;
pub mod forms;
pub mod help;
pub mod operators;
pub mod terminals;
pub mod theme;

use crate::app::layout;
use crate::app::msg::DbState;
use crate::app::state::{DbWhere, Level, Overlay, Screen, State, Tab};
use crate::i18n::{tr, trf, Lang};
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
        Some(Overlay::AlarmNote(n)) => alarms::render_note(frame, state, n, areas.body, &th),
        Some(Overlay::Edit(f)) => forms::render(frame, state, f, areas.body, &th),
        Some(Overlay::CardForm(f)) => card_forms::render_form(frame, state, f, areas.body, &th),
        Some(Overlay::Pins(n)) => card_forms::render_pins(frame, state, n, areas.body, &th),
        Some(Overlay::Import) => card_forms::render_import(frame, state, areas.body, &th),
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

/// The alarm strip: unacknowledged alarms by priority, loud while any P1 is unacknowledged.
fn render_alarms(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let total: u32 = state.alarms.by_priority.iter().map(|(_, n)| n).sum();
    let p1 = state.alarms.of(1) > 0;
    let mut spans = vec![Span::styled(
        format!(" {} ", tr(state.lang, "alarm.strip")),
        if p1 { th.alarm_loud } else { th.title },
    )];
    if total == 0 {
        spans.push(Span::styled(tr(state.lang, "alarm.none"), th.alarm_quiet));
    } else {
        for p in 1..=3u8 {
            let n = state.alarms.of(p);
            let style = match (p, n) {
                (_, 0) => th.muted,
                (1, _) => th.alarm_loud,
                _ => th.header,
            };
            spans.push(Span::raw(" "));
            spans.push(Span::styled(format!(" P{p} {n} "), style));
        }
        spans.push(Span::styled(
            format!("  {}", tr(state.lang, "alarm.unacknowledged")),
            th.muted,
        ));
    }
    if let Some(key) = state
        .keymap
        .keys_for(state.tab.section(), Command::Alarms)
        .into_iter()
        .next()
    {
        let open = tr(
            state.lang,
            if state.alarm.open {
                "alarm.close_hint"
            } else {
                "alarm.open_hint"
            },
        );
        spans.push(Span::styled(format!("   {key} "), th.title));
        spans.push(Span::styled(open, th.muted));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), row);
}

fn render_body(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    if state.alarm.open {
        return alarms::render(frame, state, body, th);
    }
    match state.tab {
        Tab::Operators => operators::render(frame, state, body, th),
        Tab::Terminals => terminals::render(frame, state, body, th),
        Tab::Cards => cards::render(frame, state, body, th),
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

/// A list's title with its `/` filter, if it has one: " Alarms · 5 open · filter “图书馆” · 2
/// shown ", the number shown when the title does not already count the rows shown.
pub fn filtered_title(lang: Lang, title: &str, filter: &str, shown: Option<usize>) -> String {
    if filter.is_empty() {
        return format!(" {title} ");
    }
    let active = trf(lang, "filter.active", &[("text", filter)]);
    match shown {
        Some(n) => format!(
            " {title} · {active} · {} ",
            trf(lang, "filter.shown", &[("n", &n.to_string())])
        ),
        None => format!(" {title} · {active} "),
    }
}

/// What a filtered list shows when nothing passes its filter.
pub fn no_match(lang: Lang, filter: &str, th: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        trf(lang, "filter.no_match", &[("text", filter)]),
        th.muted,
    ))
}

/// The hint line: the message if there is one, else the main keys, from the loaded keymap.
fn render_hint(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    if let Some(text) = &state.filter_input {
        let prompt = if state.tab == Tab::Cards && !state.alarm.open {
            "card.search_prompt"
        } else {
            "filter.prompt"
        };
        let line = Line::from(vec![
            Span::styled(format!(" {} ", tr(state.lang, prompt)), th.title),
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
    let commands: &[Command] = if state.alarm.open {
        &[
            Command::Help,
            Command::Filter,
            Command::AlarmTake,
            Command::AlarmAcknowledge,
            Command::AlarmClear,
            Command::AlarmForceClear,
            Command::Cancel,
            Command::Quit,
        ]
    } else {
        match state.tab {
            Tab::Operators => &[
                Command::Help,
                Command::Palette,
                Command::Filter,
                Command::TabNext,
                Command::OperatorUnlock,
                Command::OperatorResetPassword,
                Command::AuditVerify,
                Command::Quit,
            ],
            Tab::Terminals => &[
                Command::Help,
                Command::Filter,
                Command::TerminalOnlineTest,
                Command::TerminalSetTime,
                Command::TerminalClearRecords,
                Command::TerminalScanToggle,
                Command::TerminalEdit,
                Command::TerminalTrace,
                Command::TabNext,
                Command::Quit,
            ],
            Tab::Cards => &[],
            _ => &[
                Command::Help,
                Command::Palette,
                Command::Filter,
                Command::TabNext,
                Command::Alarms,
                Command::Quit,
            ],
        }
    };
    let desk;
    let commands = if state.tab == Tab::Cards && !state.alarm.open {
        desk = desk_hints(state);
        &desk[..]
    } else {
        commands
    };
    frame.render_widget(
        Paragraph::new(hint_line(state, state.key_section(), commands, th)),
        row,
    );
}

/// The Card service tab's hints: only what the role may do to the card as it is now.
fn desk_hints(state: &State) -> Vec<Command> {
    use crate::app::cards::DeskView;
    let candidates: &[Command] = match state.cards.view {
        DeskView::People => &[
            Command::Help,
            Command::Filter,
            Command::CardIssue,
            Command::CardReportLost,
            Command::CardReportFound,
            Command::CardReissue,
            Command::CardExchange,
            Command::CardExtend,
            Command::CardTopUp,
            Command::CardResend,
            Command::CardNumber,
            Command::DeskPresentBlank,
            Command::DeskView,
            Command::Quit,
        ],
        DeskView::Stock => &[
            Command::Help,
            Command::StockReceive,
            Command::StockSpoil,
            Command::StockCount,
            Command::DeskView,
            Command::Quit,
        ],
        DeskView::Reports => &[
            Command::Help,
            Command::ReportFilter,
            Command::ReportExport,
            Command::DeskView,
            Command::Quit,
        ],
    };
    candidates
        .iter()
        .copied()
        .filter(|c| crate::app::update::cards::offered(state, *c))
        .collect()
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
            // On the Card service tab the filter key searches the register.
            let key = if *cmd == Command::Filter && section == Section::Cards {
                "hint.search".to_string()
            } else {
                format!("hint.{}", cmd.name())
            };
            spans.push(Span::styled(keys, th.title));
            spans.push(Span::styled(
                format!(" {}  ", tr(state.lang, &key)),
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

/// A time in the console's local zone.
pub fn local(state: &State, at: chrono::DateTime<chrono::Utc>, format: &str) -> String {
    at.with_timezone(&state.utc_offset)
        .format(format)
        .to_string()
}

/// A recent time, short: the time of day when it is today (locally), else date and minute.
pub fn when(state: &State, at: chrono::DateTime<chrono::Utc>) -> String {
    let today = state.now.with_timezone(&state.utc_offset).date_naive();
    if at.with_timezone(&state.utc_offset).date_naive() == today {
        local(state, at, "%H:%M:%S")
    } else {
        local(state, at, "%m-%d %H:%M")
    }
}

/// Each column as wide as its header or its widest cell, in display columns (CJK counts two).
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

/// One line of a text table: each cell fitted to its column and followed by `gap` spaces, the
/// whole fitted to `inner` columns.
pub fn table_line<S: AsRef<str>>(cols: &[S], widths: &[usize], gap: usize, inner: usize) -> String {
    let mut s = String::new();
    for (c, w) in cols.iter().zip(widths) {
        s.push_str(&fit(c.as_ref(), *w));
        s.push_str(&" ".repeat(gap));
    }
    fit(&s, inner)
}

/// Shrinks column widths until they and their gaps fit `inner` columns: the widest column above
/// its minimum gives way first, one display column at a time.
pub fn fit_columns(widths: &mut [usize], min: &[usize], inner: usize, gap: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + gap * w.len();
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
