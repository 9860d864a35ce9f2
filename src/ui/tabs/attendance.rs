//! The Attendance tab: the machines with their commands' progress, today's punches, the daily
//! results, the corrections and the person-sync differences.

mod results;

use crate::app::state::{Shell, State};
use crate::app::tabs::attendance::{machines_split, may_see, AttView, Attendance};
use crate::app::words;
use crate::i18n::{tr, trf, Lang};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, grid, TableRow};
use crate::ui::{command_line, filtered_title, no_match, when};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    if !may_see(sh) {
        let title = Span::styled(format!(" {} ", tr(lang, "tab.attendance.title")), th.title);
        frame.render_widget(
            Paragraph::new(tr(lang, "att.no_access"))
                .block(block(title, th))
                .style(th.muted)
                .wrap(Wrap { trim: true }),
            body,
        );
        return;
    }
    let a = &state.attendance;
    match a.view {
        AttView::Machines => render_machines(frame, sh, a, body, th),
        AttView::Punches => render_punches(frame, sh, a, body, th),
        AttView::Results => results::render_results(frame, sh, a, body, th),
        AttView::Totals => results::render_totals(frame, sh, a, body, th),
        AttView::Corrections => results::render_corrections(frame, sh, a, body, th),
        AttView::Sync => render_sync(frame, sh, a, body, th),
    }
    if let Some(f) = &a.form {
        results::render_form(frame, lang, f, body, th);
    }
}

/// What an empty table says: still reading, nothing at all, or nothing matching the filter.
pub(super) fn empty(
    lang: Lang,
    a: &Attendance,
    loaded: bool,
    any: bool,
    th: &Theme,
) -> Line<'static> {
    if !loaded {
        Line::from(Span::styled(tr(lang, "att.loading"), th.muted))
    } else if any {
        no_match(lang, a.filter.text(), th)
    } else {
        Line::from(Span::styled(tr(lang, "table.empty"), th.muted))
    }
}

pub(super) fn view_title(lang: Lang, a: &Attendance, name: &str) -> String {
    filtered_title(
        lang,
        &format!("{} · {}", tr(lang, a.view.key()), name),
        a.filter.text(),
        None,
    )
}

fn drift_text(lang: Lang, s: Option<i32>) -> String {
    match s {
        None => "–".to_string(),
        Some(s) => trf(lang, "att.drift", &[("s", &format!("{s:+}"))]),
    }
}

fn render_machines(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let (top, bottom) = machines_split(body);
    let rows = a.machine_rows();
    let online = a.machines.iter().filter(|m| m.status == "online").count();
    let name = trf(
        lang,
        "att.machines_title",
        &[
            ("n", &a.machines.len().to_string()),
            ("online", &online.to_string()),
        ],
    );
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|m| {
            let mark = if a.marked.contains(&m.terminal_id) {
                "✓ "
            } else {
                ""
            };
            let status = if m.enabled {
                words::terminal_status(lang, &m.status)
            } else {
                tr(lang, "att.status.file").to_string()
            };
            let style = match m.status.as_str() {
                "online" => th.alarm_quiet,
                "offline" if m.enabled => th.error,
                _ => th.muted,
            };
            let memory = match (m.memory_percent(), m.memory_used) {
                (Some(p), Some(u)) => format!("{p}% ({})", words::count(u.max(0) as u64)),
                _ => "–".to_string(),
            };
            TableRow::new(vec![
                (format!("{mark}{}", m.name), Style::default()),
                (m.location.clone(), Style::default()),
                (status, style),
                (
                    m.last_extraction.map(|t| when(sh, t)).unwrap_or_default(),
                    Style::default(),
                ),
                (
                    words::count(m.records_waiting.max(0) as u64),
                    Style::default(),
                ),
                (drift_text(lang, m.clock_drift_s), Style::default()),
                (memory, Style::default()),
                (words::count(m.today.max(0) as u64), Style::default()),
                (
                    if m.clear_after_extract {
                        tr(lang, "att.policy.clear").to_string()
                    } else {
                        tr(lang, "att.policy.keep").to_string()
                    },
                    th.muted,
                ),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        top,
        view_title(lang, a, &name),
        &[
            "att.col.machine",
            "att.col.location",
            "att.col.status",
            "att.col.last_extraction",
            "att.col.waiting",
            "att.col.drift",
            "att.col.memory",
            "att.col.today",
            "att.col.policy",
        ],
        cells,
        &[8, 6, 4, 8, 4, 6, 6, 4, 4],
        Some(a.selected),
        empty(lang, a, a.loaded[0], !a.machines.is_empty(), th),
        th,
    );
    // The selected machine's latest command, with its progress and rate.
    let text = a
        .selected_machine()
        .and_then(|m| command_line(sh, m.terminal_id))
        .unwrap_or_else(|| tr(lang, "att.no_command").to_string());
    frame.render_widget(
        Paragraph::new(text)
            .block(block(
                Span::styled(format!(" {} ", tr(lang, "att.command_title")), th.title),
                th,
            ))
            .wrap(Wrap { trim: true }),
        bottom,
    );
}

fn render_punches(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let rows = a.punch_rows();
    let day = a.day.map(|d| d.to_string()).unwrap_or_default();
    let name = trf(
        lang,
        "att.punches_title",
        &[
            ("day", &day),
            ("shown", &words::count(a.punches.len() as u64)),
            ("n", &words::count(a.punches_total.max(0) as u64)),
        ],
    );
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|p| {
            let who = match &p.name {
                Some(n) => (n.clone(), Style::default()),
                None => (tr(lang, "att.unknown_user").to_string(), th.info),
            };
            TableRow::new(vec![
                (
                    p.terminal_time.format("%H:%M:%S").to_string(),
                    Style::default(),
                ),
                who,
                (
                    p.person_no.clone().unwrap_or_else(|| p.user_id.clone()),
                    Style::default(),
                ),
                (p.department.clone().unwrap_or_default(), Style::default()),
                (p.machine.clone(), Style::default()),
                (words::punch_state(lang, p.state).to_string(), th.muted),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        body,
        view_title(lang, a, &name),
        &[
            "att.col.time",
            "att.col.name",
            "att.col.number",
            "att.col.department",
            "att.col.machine",
            "att.col.state",
        ],
        cells,
        &[8, 6, 6, 6, 6, 4],
        Some(a.selected),
        empty(lang, a, a.loaded[1], !a.punches.is_empty(), th),
        th,
    );
}

fn render_sync(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    let lang = sh.lang;
    // Above: each machine's last read of its users; below: the differences.
    let top_h = (a.snapshots.len() as u16 + 2).clamp(3, body.height / 3);
    let top = Rect::new(body.x, body.y, body.width, top_h);
    let rest = Rect::new(
        body.x,
        body.y + top_h,
        body.width,
        body.height.saturating_sub(top_h),
    );
    let lines: Vec<Line> = a
        .snapshots
        .iter()
        .map(|m| {
            let text = match (m.read_at, m.reachable) {
                (_, false) => trf(
                    lang,
                    "attendance_sync.never_read_offline",
                    &[("machine", &m.machine)],
                ),
                (None, true) => trf(lang, "att.sync.never_read", &[("machine", &m.machine)]),
                (Some(at), true) => trf(
                    lang,
                    "attendance_sync.read_at",
                    &[
                        ("machine", &m.machine),
                        ("users", &words::count(m.users.max(0) as u64)),
                        ("at", &when(sh, at)),
                    ],
                ),
            };
            let style = if m.read_at.is_none() && m.reachable {
                th.info
            } else {
                Style::default()
            };
            Line::from(Span::styled(text, style))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(block(
            Span::styled(format!(" {} ", tr(lang, "att.sync.machines")), th.title),
            th,
        )),
        top,
    );
    let rows = a.sync_rows(sh);
    let name = trf(
        lang,
        "att.sync_title",
        &[("n", &words::count(a.sync.len() as u64))],
    );
    let card = |c: Option<u32>| match c {
        Some(0) => tr(lang, "attendance_sync.no_card").to_string(),
        Some(c) => c.to_string(),
        None => String::new(),
    };
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|d| {
            TableRow::new(vec![
                (d.machine.clone(), Style::default()),
                (words::difference_kind(lang, d.kind).to_string(), th.info),
                (d.user_id.clone(), Style::default()),
                (d.person_name.clone().unwrap_or_default(), Style::default()),
                (card(d.card), Style::default()),
                (d.machine_name.clone().unwrap_or_default(), th.muted),
                (card(d.machine_card), th.muted),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        rest,
        view_title(lang, a, &name),
        &[
            "att.col.machine",
            "att.col.difference",
            "att.col.user_id",
            "att.col.register_name",
            "att.col.register_card",
            "att.col.machine_name",
            "att.col.machine_card",
        ],
        cells,
        &[6, 6, 4, 6, 4, 6, 4],
        Some(a.selected),
        empty(lang, a, a.loaded[a.view.slot()], !a.sync.is_empty(), th),
        th,
    );
}
