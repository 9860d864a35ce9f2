//! The Doors tab: the controller tree (and the selected item's details when wide), the live
//! feed with its rate sparkline, the settings form. The feed draws only the rows on screen.

pub mod records;

use crate::app::state::{Shell, State};
use crate::app::tabs::doors::feed::{FeedLine, Item, RATE_SECS};
use crate::app::tabs::doors::tree::{Controller, Tree, TreeRow};
use crate::app::tabs::doors::{alarmed, split, Doors, Focus};
use crate::app::words;
use crate::db::door::DoorRow;
use crate::i18n::{tr, trf, Lang};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, column_widths, fit_columns, scrollbar, table, TableRow};
use crate::ui::{filtered_title, local, no_match, when};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let d = &state.doors;
    let sh = &state.shell;
    if d.showing_records {
        return records::render(frame, sh, &d.records, body, th);
    }
    let areas = split(body);
    render_tree(frame, sh, d, areas.tree, th);
    if let Some(area) = areas.detail {
        render_detail(frame, sh, d, area, th);
    }
    render_feed(frame, sh, d, areas.feed, th);
    if let Some(s) = &d.settings {
        crate::ui::form::render(
            frame,
            sh.lang,
            &s.form,
            &Placement {
                width: 60,
                title: s.form.title.clone(),
                keys: popup_keys(sh.lang, &s.form),
            },
            body,
            th,
        );
    }
}

fn focus_title(th: &Theme, focused: bool, text: String) -> Span<'static> {
    let style = if focused {
        th.title.add_modifier(Modifier::UNDERLINED)
    } else {
        th.title
    };
    Span::styled(text, style)
}

/// "开 · 未锁 · 受控": a door's state.
fn door_state(lang: Lang, d: &DoorRow) -> String {
    let open = match d.open {
        Some(true) => tr(lang, "door.state.open"),
        Some(false) => tr(lang, "door.state.closed"),
        None => "?",
    };
    let lock = match d.unlocked {
        Some(true) => tr(lang, "door.state.unlocked"),
        Some(false) => tr(lang, "door.state.locked"),
        None => "?",
    };
    // The mode is said only when it is not the usual one.
    match d.mode {
        crate::db::command::DoorMode::Controlled => format!("{open} · {lock}"),
        m => format!(
            "{open} · {lock} · {}",
            words::door_mode(lang, crate::db::door::mode_name(m))
        ),
    }
}

/// The controller's state: online or offline, with its last contact, and its flags.
fn controller_state(sh: &Shell, c: &Controller) -> String {
    let lang = sh.lang;
    let h = c.head();
    let mut s = words::terminal_status(lang, &h.status);
    if let Some(at) = h.last_contact {
        s.push_str(" · ");
        s.push_str(&when(sh, at));
    }
    if !h.in_scan {
        s.push_str(" · ");
        s.push_str(tr(lang, "door.not_in_scan"));
    }
    s
}

/// What a controller's row says last: its tamper and full-memory flags, then what the newest
/// command this console sent it is doing.
fn controller_note(sh: &Shell, t: &Tree, terminal_id: i64) -> String {
    let mut parts: Vec<String> = t
        .hardware_flags(terminal_id)
        .into_iter()
        .map(|k| format!("⚑{}", words::alarm_kind(sh.lang, k)))
        .collect();
    parts.extend(command_line(sh, terminal_id));
    parts.join(" · ")
}

/// The door's last event: kind, who, when.
fn last_event(sh: &Shell, d: &DoorRow) -> String {
    let lang = sh.lang;
    let Some(kind) = &d.last_kind else {
        return String::new();
    };
    let mut s = words::door_event_kind(lang, kind);
    if let Some(p) = &d.last_person {
        s.push(' ');
        s.push_str(p);
    } else if let Some(card) = d.last_card {
        s.push(' ');
        s.push_str(&card.to_string());
    }
    if let Some(at) = d.last_received_at {
        s.push_str(" · ");
        s.push_str(&when(sh, at));
    }
    s
}

/// What the newest command this console sent to a controller is doing ("提取记录 45% · 3,200
/// 条/秒"), while it runs or just finished.
fn command_line(sh: &Shell, terminal_id: i64) -> Option<String> {
    let lang = sh.lang;
    let sent = sh.commands.latest(terminal_id, |_| true)?;
    let row = sent.row.as_ref();
    let mut s = format!(
        "{}: {}",
        words::command(lang, &sent.command),
        words::command_state(lang, sent.state())
    );
    if let Some(r) = row {
        s.push_str(" · ");
        s.push_str(&words::command_result(lang, r));
        if let (Some(p), Some(started), "running") = (r.progress, r.started_at, r.state.as_str()) {
            let rate = p.per_second(started, sh.now);
            s.push_str(" · ");
            s.push_str(&trf(lang, "door.rate", &[("n", &words::count(rate))]));
        }
    }
    Some(s)
}

fn render_tree(frame: &mut Frame, sh: &Shell, d: &Doors, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let t = &d.tree;
    let headers: Vec<String> = [
        "door.col.name",
        "door.col.location",
        "door.col.state",
        "door.col.last",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let rows = t.rows(lang);
    let cells = |row: &TreeRow| -> Vec<String> {
        match row {
            TreeRow::Site(..) => vec![],
            TreeRow::Controller(c) => {
                let h = c.head();
                let mark = if t.marked.contains(&c.terminal_id) {
                    "✓"
                } else {
                    "▸"
                };
                vec![
                    format!("{mark} {} ({})", h.controller, h.serial),
                    h.controller_location.clone(),
                    controller_state(sh, c),
                    controller_note(sh, t, c.terminal_id),
                ]
            }
            TreeRow::Door(_, x) => vec![
                format!(
                    "   {} {}",
                    x.door,
                    words::door_label(lang, &x.name, &x.controller, x.door)
                ),
                x.location.clone(),
                door_state(lang, x),
                last_event(sh, x),
            ],
        }
    };
    let all: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| !matches!(r, TreeRow::Site(..)))
        .map(cells)
        .collect();
    let mut widths = column_widths(&headers, &all);
    let inner = area.width.saturating_sub(2) as usize;
    fit_columns(&mut widths, &[14, 6, 12, 8], inner, 1);
    let table_rows: Vec<TableRow> = rows
        .iter()
        .map(|row| match row {
            TreeRow::Site(name, n) => TableRow::heading(
                trf(
                    lang,
                    "door.site_heading",
                    &[("site", name), ("n", &n.to_string())],
                ),
                th.header,
            ),
            TreeRow::Controller(c) => {
                let status = match c.head().status.as_str() {
                    "online" => th.info,
                    "offline" => th.error,
                    _ => th.muted,
                };
                let flagged = !t.hardware_flags(c.terminal_id).is_empty();
                let styles = [
                    th.base.add_modifier(Modifier::BOLD),
                    th.muted,
                    status,
                    if flagged { th.error } else { th.muted },
                ];
                TableRow::new(cells(row).into_iter().zip(styles).collect())
            }
            TreeRow::Door(..) => {
                let style = if alarmed(t, row) {
                    th.alarm_loud
                } else {
                    th.base
                };
                TableRow::plain(cells(row), style)
            }
        })
        .collect();
    let filter = t.filter.text();
    let controllers = t.list.rows.len();
    let online = t.list.rows.iter().filter(|c| c.online()).count();
    let title = trf(
        lang,
        "door.tree.title",
        &[
            ("n", &controllers.to_string()),
            ("online", &online.to_string()),
            ("offline", &(controllers - online).to_string()),
        ],
    );
    let shown = rows
        .iter()
        .filter(|r| !matches!(r, TreeRow::Site(..)))
        .count();
    let title = focus_title(
        th,
        d.focus == Focus::Tree,
        filtered_title(lang, &title, filter, Some(shown)),
    );
    let empty = if t.list.rows.is_empty() {
        Line::from(Span::styled(tr(lang, "door.tree.empty"), th.muted))
    } else {
        no_match(lang, filter, th)
    };
    let table_rows = if shown == 0 { vec![] } else { table_rows };
    table(
        frame,
        area,
        block(title, th),
        &headers,
        &widths,
        table_rows,
        t.selected_row(lang),
        Some(empty),
        th,
    );
}

fn render_detail(frame: &mut Frame, sh: &Shell, d: &Doors, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let t = &d.tree;
    let mut lines: Vec<Line> = Vec::new();
    let labels = [
        "door.detail.controller",
        "door.detail.state",
        "door.detail.mode",
        "door.detail.unlock_secs",
        "door.detail.last",
        "door.detail.serial",
        "door.detail.site",
        "door.detail.status",
        "door.detail.doors",
        "door.detail.command",
    ];
    let label_w = labels
        .iter()
        .map(|k| unicode_width::UnicodeWidthStr::width(tr(lang, k)))
        .max()
        .unwrap_or(0);
    let label = |k: &str| {
        let text = tr(lang, k);
        let pad = label_w.saturating_sub(unicode_width::UnicodeWidthStr::width(text));
        Span::styled(format!("  {text}{} ", " ".repeat(pad)), th.muted)
    };
    let title = match (t.door(), t.selected_controller()) {
        (Some((c, x)), _) => {
            lines.push(Line::from(vec![
                label("door.detail.controller"),
                Span::raw(crate::app::tabs::doors::controller_named(lang, c)),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.state"),
                Span::raw(door_state(lang, x)),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.mode"),
                Span::raw(words::door_mode(lang, crate::db::door::mode_name(x.mode))),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.unlock_secs"),
                Span::raw(trf(
                    lang,
                    "door.seconds",
                    &[("n", &x.unlock_secs.to_string())],
                )),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.last"),
                Span::raw(last_event(sh, x)),
            ]));
            for f in t.flags_of(c.terminal_id, Some(x.door)) {
                let state = if f.acknowledged {
                    tr(lang, "door.alarm.acknowledged")
                } else {
                    tr(lang, "door.alarm.unacknowledged")
                };
                let style = if f.acknowledged { th.muted } else { th.error };
                lines.push(Line::from(Span::styled(
                    format!("  ⚑ {} · {state}", words::alarm_kind(lang, &f.kind)),
                    style,
                )));
            }
            crate::app::tabs::doors::door_named(lang, x)
        }
        (None, Some(c)) => {
            let h = c.head();
            lines.push(Line::from(vec![
                label("door.detail.serial"),
                Span::raw(h.serial.to_string()),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.site"),
                Span::raw(h.line.clone()),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.status"),
                Span::raw(controller_state(sh, c)),
            ]));
            lines.push(Line::from(vec![
                label("door.detail.doors"),
                Span::raw(c.doors.len().to_string()),
            ]));
            for f in t.flags_of(c.terminal_id, None) {
                lines.push(Line::from(Span::styled(
                    format!("  ⚑ {}", words::alarm_kind(lang, &f.kind)),
                    th.error,
                )));
            }
            crate::app::tabs::doors::controller_named(lang, c)
        }
        _ => tr(lang, "door.detail.none").to_string(),
    };
    if let Some(c) = t.selected_controller() {
        if let Some(s) = command_line(sh, c.terminal_id) {
            lines.push(Line::from(vec![label("door.detail.command"), Span::raw(s)]));
        }
    }
    let inner = area.width.saturating_sub(4) as usize;
    let block = block(
        Span::styled(format!(" {} ", clip(&title, inner)), th.title),
        th,
    );
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// One feed line's cells: time, door, person (department) or unknown card, kind, late mark.
/// And whether it is a refusal (or a controller lost), and whether it is an alarm.
fn feed_cells(sh: &Shell, l: &FeedLine) -> (Vec<String>, bool, bool) {
    let lang = sh.lang;
    match &l.item {
        Item::Event(e) => {
            let time = e
                .terminal_time
                .map(|t| t.format("%H:%M:%S").to_string())
                .unwrap_or_else(|| local(sh, e.received_at, "%H:%M:%S"));
            let who = match (&e.person_name, e.card) {
                (Some(name), _) => match &e.department {
                    Some(dep) => format!("{name} ({dep})"),
                    None => name.clone(),
                },
                (None, Some(card)) => trf(
                    lang,
                    "door.feed.unknown_card",
                    &[("card", &card.to_string())],
                ),
                (None, None) => String::new(),
            };
            let kind = words::door_event(lang, &e.kind, e.granted, e.reason);
            let late = if e.late {
                tr(lang, "door.feed.late").to_string()
            } else {
                String::new()
            };
            let loud = matches!(
                e.kind.as_str(),
                "forced_open" | "held_open" | "tamper" | "fire" | "duress"
            );
            let refused = e.kind == "denied" || (e.kind == "granted" && !e.granted);
            (
                vec![
                    time,
                    words::door_label(lang, &e.door_name, &e.controller, e.door),
                    who,
                    kind,
                    late,
                ],
                refused || loud,
                loud,
            )
        }
        Item::Controller { name, online, .. } => (
            vec![
                local(sh, l.at, "%H:%M:%S"),
                name.clone(),
                String::new(),
                tr(
                    lang,
                    if *online {
                        "door.feed.online"
                    } else {
                        "door.feed.offline"
                    },
                )
                .to_string(),
                String::new(),
            ],
            !online,
            false,
        ),
    }
}

fn render_feed(frame: &mut Frame, sh: &Shell, d: &Doors, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let f = &d.feed;
    let rate = f.rate(sh.now);
    let last = rate.last().copied().unwrap_or(0);
    let per_min: u64 = rate.iter().sum();
    let mut title = trf(
        lang,
        "door.feed.title",
        &[
            ("n", &words::count(f.len() as u64)),
            ("rate", &words::count(per_min)),
        ],
    );
    if f.paused.is_some() {
        title.push_str(" · ");
        title.push_str(&trf(
            lang,
            "door.feed.paused",
            &[("n", &words::count(f.waiting() as u64))],
        ));
    }
    let title = focus_title(
        th,
        d.focus == Focus::Feed,
        filtered_title(lang, &title, f.filter.text(), None),
    );
    let outer = block(title, th);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if inner.height < 2 {
        return;
    }
    // The sparkline: events per second over the last minute.
    let spark = Rect::new(inner.x, inner.y, inner.width, 1);
    let label = trf(lang, "door.feed.per_second", &[("n", &words::count(last))]);
    let label_w = unicode_width::UnicodeWidthStr::width(label.as_str()) as u16 + 1;
    let bars = spark.width.saturating_sub(label_w).min(RATE_SECS as u16);
    let data: Vec<u64> = rate[rate.len().saturating_sub(bars as usize)..].to_vec();
    frame.render_widget(
        Sparkline::default().data(&data).style(th.info),
        Rect::new(spark.x, spark.y, bars, 1),
    );
    frame.render_widget(
        Paragraph::new(Span::styled(label, th.muted)),
        Rect::new(
            spark.x + bars + 1,
            spark.y,
            spark.width.saturating_sub(bars + 1),
            1,
        ),
    );
    let list = Rect::new(inner.x, inner.y + 1, inner.width, inner.height - 1);
    let visible = list.height.saturating_sub(1).max(1) as usize;
    let n = f.len();
    if n == 0 {
        let text = if f.filter.is_empty() {
            Line::from(Span::styled(tr(lang, "door.feed.empty"), th.muted))
        } else {
            no_match(lang, f.filter.text(), th)
        };
        frame.render_widget(
            Paragraph::new(text),
            Rect::new(
                list.x,
                list.y + 1,
                list.width,
                list.height.saturating_sub(1),
            ),
        );
    }
    // Only the rows on screen are built: the window that keeps the cursor in view.
    let offset = f.at.saturating_sub(visible.saturating_sub(1));
    let lines = f.window(offset, visible);
    let headers: Vec<String> = [
        "door.feed.col.time",
        "door.feed.col.door",
        "door.feed.col.who",
        "door.feed.col.kind",
        "door.feed.col.late",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let built: Vec<(Vec<String>, bool, bool)> = lines.iter().map(|l| feed_cells(sh, l)).collect();
    let texts: Vec<Vec<String>> = built.iter().map(|b| b.0.clone()).collect();
    let mut widths = column_widths(&headers, &texts);
    widths[0] = 8;
    fit_columns(&mut widths, &[8, 8, 8, 8, 2], list.width as usize, 1);
    let rows: Vec<Row> = built
        .into_iter()
        .map(|(cells, refused, loud)| {
            let kind_style = if refused { th.error } else { th.base };
            let row = Row::new(
                cells
                    .into_iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        let style = match i {
                            3 => kind_style,
                            4 => th.header,
                            0 => th.muted,
                            _ => th.base,
                        };
                        Cell::from(Span::styled(clip(&c, *w), style))
                    })
                    .collect::<Vec<_>>(),
            );
            if loud {
                row.style(th.alarm_loud)
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(
        headers
            .iter()
            .zip(&widths)
            .map(|(h, w)| Cell::from(clip(h, *w)))
            .collect::<Vec<_>>(),
    )
    .style(th.header);
    let constraints: Vec<Constraint> = widths
        .iter()
        .map(|w| Constraint::Length(*w as u16))
        .collect();
    let selected = (d.focus == Focus::Feed && n > 0).then_some(f.at - offset);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(
        Table::new(rows, constraints)
            .header(header)
            .column_spacing(1)
            .row_highlight_style(th.selected),
        list,
        &mut state,
    );
    // The scrollbar on the block's border, over the list's rows.
    scrollbar(
        frame,
        Rect::new(area.x, list.y, area.width, list.height + 1),
        n,
        visible,
        f.at,
    );
}
