//! The Card service tab: the desk reader's line, the people found and the selected person's card
//! (facts, terminal confirmations, history); card stock and fees; the four reports.

mod popups;
mod statement;
use crate::app::state::{Shell, State};
use crate::app::tabs::cards::{
    card_state_of, panel_split, reports_split, split, stock_split, CardDetail, CardLookup,
    CardView, Cards, DeskView, PersonRow, ReportPage,
};
use crate::app::words::{self, card_event as event_word, card_kind as kind_word};
use crate::domain::card::CardState;
use crate::domain::money::Money;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::{Command, Section};
use crate::ui::theme::Theme;
use crate::ui::widgets::{self, column_widths, fit, fit_columns, table, TableRow};
use crate::ui::{local, when};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let sh = &state.shell;
    let c = &state.cards;
    match c.view {
        DeskView::People => {
            let (reader, people, panel) = split(body);
            render_reader(frame, sh, c, reader, th);
            render_people(frame, sh, c, people, th);
            render_panel(frame, sh, c, panel, th);
        }
        DeskView::Stock => render_stock(frame, sh, c, body, th),
        DeskView::Reports => render_reports(frame, sh, c, body, th),
    }
    popups::render(frame, sh, c, body, th);
}

fn block<'a>(title: String, th: &Theme) -> Block<'a> {
    widgets::block(Span::styled(format!(" {title} "), th.title), th)
}

fn state_word(lang: Lang, s: CardState) -> &'static str {
    words::card_state(lang, s)
}

fn subsystem_word(lang: Lang, s: crate::domain::card::Subsystem) -> &'static str {
    words::subsystem(lang, s)
}

fn category_word(lang: Lang, c: &str) -> String {
    words::category(lang, c)
}

/// The first key bound to `cmd` on the tab, for inline hints.
fn key_of(sh: &Shell, cmd: Command) -> Option<String> {
    sh.key_for(Section::Cards, cmd)
}

fn state_style(th: &Theme, s: CardState) -> Style {
    match s {
        CardState::Active => th.info,
        CardState::Lost => th.error,
        _ => th.muted,
    }
}

fn render_reader(frame: &mut Frame, sh: &Shell, c: &Cards, row: Rect, th: &Theme) {
    let lang = sh.lang;
    let mut spans = vec![Span::styled(
        format!(" {} ", tr(lang, "card.reader.title")),
        th.title,
    )];
    match &c.reader {
        None => {
            spans.push(Span::styled(tr(lang, "card.reader.none"), th.muted));
            if let Some(k) = key_of(sh, Command::CardNumber) {
                spans.push(Span::styled(
                    format!(" · {k} {}", tr(lang, "card.reader.type")),
                    th.muted,
                ));
            }
            if sh.demo {
                if let Some(k) = key_of(sh, Command::DeskPresentBlank) {
                    spans.push(Span::styled(
                        format!(" · {k} {}", tr(lang, "card.reader.demo_blank")),
                        th.muted,
                    ));
                }
            }
        }
        Some(p) => {
            let card = trf(
                lang,
                "card.reader.card",
                &[("card", &p.card_no.to_string())],
            );
            spans.push(Span::styled(format!("{card} "), th.header));
            match &p.lookup {
                None => spans.push(Span::styled(tr(lang, "card.reader.looking"), th.muted)),
                Some(CardLookup::New) => {
                    spans.push(Span::styled(
                        format!(" {} ", tr(lang, "card.reader.new")),
                        th.badge,
                    ));
                    let to = c.selected_person().map(|p| p.name.clone());
                    if let (Some(k), Some(name)) = (key_of(sh, Command::CardIssue), to) {
                        if sh.may(Action::CardIssue) {
                            spans.push(Span::styled(
                                format!(
                                    " {k} {}",
                                    trf(lang, "card.reader.issue_to", &[("name", &name)])
                                ),
                                th.muted,
                            ));
                        }
                    }
                }
                Some(CardLookup::Issued(b)) => {
                    spans.push(Span::styled(issued_to(lang, b), th.info));
                }
                Some(CardLookup::Blacklisted(b)) => {
                    spans.push(Span::styled(
                        format!(" {} ", tr(lang, "card.reader.blacklisted")),
                        th.alarm_loud,
                    ));
                    spans.push(Span::styled(format!(" {}", issued_to(lang, b)), th.error));
                }
            }
            if p.terminal_id.is_none() {
                spans.push(Span::styled(
                    format!(" ({})", tr(lang, "card.reader.typed")),
                    th.muted,
                ));
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(th.base), row);
}

/// "issued to 王芳 (T10003) · active": whose the card on the reader is.
fn issued_to(lang: Lang, b: &CardView) -> String {
    trf(
        lang,
        "card.reader.issued",
        &[
            ("name", &b.person_name),
            ("no", &b.person_no),
            ("state", state_word(lang, b.state)),
        ],
    )
}

fn person_cells(sh: &Shell, p: &PersonRow) -> Vec<String> {
    let lang = sh.lang;
    let mut name = p.name.clone();
    if p.status == "left" {
        name.push_str(&format!(" ({})", tr(lang, "person.left")));
    }
    vec![
        p.person_no.clone(),
        name,
        p.department.clone(),
        category_word(lang, &p.category),
        p.card_no.map(|n| n.to_string()).unwrap_or_default(),
        match (card_state_of(p), &p.card_state) {
            (Some(s), _) => state_word(lang, s).to_string(),
            (None, Some(other)) => other.clone(),
            (None, None) => String::new(),
        },
    ]
}

fn render_people(frame: &mut Frame, sh: &Shell, desk: &Cards, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let headers: Vec<String> = [
        "person.col.no",
        "person.col.name",
        "person.col.department",
        "person.col.category",
        "person.col.card",
        "person.col.state",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let cells: Vec<Vec<String>> = desk.results.iter().map(|p| person_cells(sh, p)).collect();
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    fit_columns(&mut widths, &[6, 6, 6, 4, 7, 4], inner, 1);
    let rows: Vec<TableRow> = cells
        .into_iter()
        .zip(desk.results.iter())
        .map(|(row, p)| {
            let style = match card_state_of(p) {
                Some(CardState::Lost) => th.error,
                _ if p.status == "left" => th.muted,
                _ => th.base,
            };
            TableRow::plain(row, style)
        })
        .collect();
    let empty = {
        let text = match &desk.searched {
            Some(q) if !q.is_empty() => trf(lang, "person.none_match", &[("query", q)]),
            Some(_) => tr(lang, "person.register_empty").to_string(),
            None => tr(lang, "person.searching").to_string(),
        };
        Line::from(vec![
            Span::styled(text, th.muted),
            Span::raw("  "),
            Span::styled(tr(lang, "person.search_help"), th.muted),
        ])
    };
    let n = words::shown_of(lang, desk.results.len(), desk.total);
    let title = if desk.query().is_empty() {
        trf(lang, "person.title", &[("n", &n)])
    } else {
        trf(
            lang,
            "person.title_query",
            &[("query", desk.query()), ("n", &n)],
        )
    };
    let selected = desk.selected.map(|_| desk.selected_index());
    table(
        frame,
        area,
        block(title, th),
        &headers,
        &widths,
        rows,
        selected,
        Some(empty),
        th,
    );
}

fn render_panel(frame: &mut Frame, sh: &Shell, desk: &Cards, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let Some(person) = desk.selected_person() else {
        let lines = vec![Line::from(Span::styled(
            tr(lang, "card.panel.no_person"),
            th.muted,
        ))];
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(tr(lang, "card.panel.title").to_string(), th))
                .style(th.base),
            area,
        );
        return;
    };
    let title = format!(
        "{} · {} · {} · {}",
        person.name,
        person.person_no,
        person.department,
        category_word(lang, &person.category)
    );
    let outer = block(title, th);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let Some(d) = desk.shown() else {
        let text = if desk.cards_of == Some(person.id) && desk.cards.is_empty() {
            let mut t = tr(lang, "card.panel.no_card").to_string();
            if let Some(k) = key_of(sh, Command::CardIssue) {
                if sh.may(Action::CardIssue) {
                    t.push_str(&trf(lang, "card.panel.issue_hint", &[("key", &k)]));
                }
            }
            t
        } else {
            tr(lang, "card.panel.reading").to_string()
        };
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(text, th.muted))),
            inner,
        );
        return;
    };
    let (facts, side) = panel_split(inner);
    render_facts(frame, sh, desk, d, facts, th);
    render_side(frame, sh, d, side, th);
}

fn render_facts(
    frame: &mut Frame,
    sh: &Shell,
    desk: &Cards,
    d: &CardDetail,
    area: Rect,
    th: &Theme,
) {
    let lang = sh.lang;
    let d = &d.view;
    let labels = [
        "card.fact.card",
        "card.fact.state",
        "card.fact.valid",
        "card.fact.subsystems",
        "card.fact.grants",
        "card.fact.balance",
        "card.fact.limits",
        "card.fact.issued",
        "card.fact.cards",
    ];
    let label_w = labels
        .iter()
        .map(|k| tr(lang, k).width())
        .max()
        .unwrap_or(0)
        .min(area.width as usize / 3)
        + 1;
    let value_w = (area.width as usize).saturating_sub(label_w + 1);
    let mut rows: Vec<(&str, String, Style)> = Vec::new();
    rows.push((
        "card.fact.card",
        format!("{} · {}", d.card_no, kind_word(lang, d.kind)),
        th.header,
    ));
    let mut state_text = state_word(lang, d.state).to_string();
    if let (CardState::Lost, Some(at)) = (d.state, d.lost_at) {
        state_text.push_str(&format!(
            " · {}",
            trf(lang, "card.fact.lost_since", &[("at", &when(sh, at))])
        ));
    }
    if let Some(n) = d.replaced_by_card_no {
        state_text.push_str(&format!(
            " · {}",
            trf(lang, "card.fact.replaced_by", &[("card", &n.to_string())])
        ));
    }
    rows.push(("card.fact.state", state_text, state_style(th, d.state)));
    let expired = d.valid_until < sh.today();
    let mut valid = format!("{} – {}", d.valid_from, d.valid_until);
    if expired {
        valid.push_str(&format!(" ({})", tr(lang, "card.fact.expired")));
    }
    rows.push((
        "card.fact.valid",
        valid,
        if expired { th.error } else { th.base },
    ));
    let subsystems: Vec<&str> = d
        .subsystems
        .iter()
        .map(|s| subsystem_word(lang, *s))
        .collect();
    rows.push((
        "card.fact.subsystems",
        if subsystems.is_empty() {
            "—".into()
        } else {
            subsystems.join(", ")
        },
        th.base,
    ));
    let count = |kind: &str| d.grants.iter().filter(|g| g.terminal_kind == kind).count();
    let mut grants = trf(
        lang,
        "card.fact.grants_value",
        &[
            ("doors", &count("door_controller").to_string()),
            ("pos", &count("pos").to_string()),
            ("attendance", &count("attendance_machine").to_string()),
        ],
    );
    if !d.door_groups.is_empty() {
        let names: Vec<&str> = d.door_groups.iter().map(|(_, n)| n.as_str()).collect();
        grants.push_str(&format!(" · {}", names.join(", ")));
    }
    rows.push(("card.fact.grants", grants, th.base));
    rows.push(("card.fact.balance", d.balance.to_string(), th.base));
    let mut limits = trf(
        lang,
        "card.fact.limits_value",
        &[
            ("amount", &d.limits.per_purchase.to_string()),
            ("count", &d.limits.daily_count.to_string()),
        ],
    );
    if d.own_per_purchase.is_none() && d.own_daily_count.is_none() {
        limits.push_str(&format!(" ({})", tr(lang, "card.fact.limits_default")));
    }
    rows.push(("card.fact.limits", limits, th.base));
    let mut issued = trf(
        lang,
        "card.fact.issued_value",
        &[
            ("at", &local(sh, d.issued_at, "%Y-%m-%d")),
            ("by", &d.issued_by),
        ],
    );
    if let Some(n) = d.replaces_card_no {
        issued.push_str(&format!(
            " · {}",
            trf(lang, "card.fact.replaces", &[("card", &n.to_string())])
        ));
    }
    rows.push(("card.fact.issued", issued, th.muted));
    if desk.cards.len() > 1 {
        let others: Vec<String> = desk
            .cards
            .iter()
            .map(|c| {
                let mark = if Some(c.card_id) == desk.card {
                    "▸"
                } else {
                    ""
                };
                format!("{mark}{} {}", c.card_no, state_word(lang, c.state))
            })
            .collect();
        let mut text = others.join(" · ");
        if let Some(k) = key_of(sh, Command::Activate) {
            let hint = format!(" ({k})");
            if text.width() + hint.width() <= value_w {
                text.push_str(&hint);
            }
        }
        rows.push(("card.fact.cards", text, th.muted));
    }
    let lines: Vec<Line> = rows
        .into_iter()
        .take(area.height as usize)
        .map(|(k, v, style)| {
            Line::from(vec![
                Span::styled(fit(tr(lang, k), label_w), th.header),
                Span::styled(fit(&v, value_w), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// The terminals' confirmations of the card's last change, then its history.
fn render_side(frame: &mut Frame, sh: &Shell, d: &CardDetail, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let w = area.width.saturating_sub(1) as usize;
    let c = &d.confirmations;
    let all = c.confirmed >= c.total;
    let mut lines = vec![Line::from(vec![
        Span::raw(" "),
        Span::styled(
            fit(
                &trf(
                    lang,
                    "card.confirm_count",
                    &[
                        ("confirmed", &c.confirmed.to_string()),
                        ("total", &c.total.to_string()),
                    ],
                ),
                w,
            ),
            if all { th.info } else { th.header },
        ),
    ])];
    let history_rows = 1 + d.history.len().min(3);
    let room = (area.height as usize).saturating_sub(1 + history_rows);
    let pending = &c.pending;
    let shown = if pending.len() > room {
        room.saturating_sub(1)
    } else {
        pending.len()
    };
    for p in pending.iter().take(shown) {
        let stance = tr(lang, &format!("card.stance.{}", p.stance));
        let cmd_state = words::command_state(lang, &p.command_state);
        let failed = matches!(p.command_state.as_str(), "failed" | "unknown");
        // The state first: on a narrow screen it is what must stay in sight.
        let mut text = format!(" {cmd_state} · {} · {stance}", p.terminal_name);
        if let Some(r) = &p.result {
            text.push_str(&format!(": {r}"));
        }
        lines.push(Line::from(Span::styled(
            fit(&text, w + 1),
            if failed { th.error } else { th.base },
        )));
    }
    if shown < pending.len() {
        lines.push(Line::from(Span::styled(
            fit(
                &format!(
                    " {}",
                    trf(
                        lang,
                        "card.more_pending",
                        &[("n", &(pending.len() - shown).to_string())]
                    )
                ),
                w + 1,
            ),
            th.muted,
        )));
    }
    let failed = pending
        .iter()
        .any(|p| matches!(p.command_state.as_str(), "failed" | "unknown"));
    if failed && lines.len() < area.height as usize {
        if let Some(k) = key_of(sh, Command::CardResend) {
            if sh.may(Action::CardLifecycle) {
                lines.push(Line::from(Span::styled(
                    fit(
                        &format!(" {}", trf(lang, "card.resend_hint", &[("key", &k)])),
                        w + 1,
                    ),
                    th.muted,
                )));
            }
        }
    }
    let left = (area.height as usize).saturating_sub(lines.len());
    if left >= 2 {
        lines.push(Line::from(Span::styled(
            fit(&format!(" {}", tr(lang, "card.history")), w + 1),
            th.title,
        )));
        for h in d.history.iter().take(left - 1) {
            let mut text = format!(
                " {} {} · {}",
                when(sh, h.at),
                event_word(lang, &h.event),
                h.actor
            );
            if let Some(until) = h.new_until {
                text.push_str(&format!(" · → {until}"));
            }
            if let Some(n) = h.other_card_no {
                text.push_str(&format!(
                    " · {}",
                    trf(lang, "card.fact.other_card", &[("card", &n.to_string())])
                ));
            }
            if !h.reason.is_empty() {
                text.push_str(&format!(" · {}", h.reason));
            }
            lines.push(Line::from(Span::styled(fit(&text, w + 1), th.base)));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_stock(frame: &mut Frame, sh: &Shell, c: &Cards, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let (left, right) = stock_split(body);
    let Some(s) = &c.stock else {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                tr(lang, "card.panel.reading"),
                th.muted,
            )))
            .block(block(tr(lang, "stock.title").to_string(), th))
            .style(th.base),
            body,
        );
        return;
    };
    let inner = left.width.saturating_sub(2) as usize;
    let label_w = [
        "stock.received",
        "stock.issued",
        "stock.spoiled",
        "stock.on_hand",
    ]
    .iter()
    .map(|k| tr(lang, k).width())
    .max()
    .unwrap_or(0)
        + 2;
    let row = |k: &str, n: i64, style: Style| {
        Line::from(vec![
            Span::styled(fit(tr(lang, k), label_w), th.header),
            Span::styled(
                fit(&format!("{n:>7}"), inner.saturating_sub(label_w)),
                style,
            ),
        ])
    };
    let mut lines = vec![
        row("stock.received", s.level.received, th.base),
        row("stock.issued", s.level.issued, th.base),
        row("stock.spoiled", s.level.spoiled, th.base),
        row("stock.on_hand", s.level.on_hand, th.info),
        Line::raw(""),
        Line::from(Span::styled(tr(lang, "stock.counts"), th.title)),
    ];
    if s.counts.is_empty() {
        lines.push(Line::from(Span::styled(
            tr(lang, "stock.no_counts"),
            th.muted,
        )));
    }
    let room = left.height.saturating_sub(2) as usize;
    for c in s.counts.iter().take(room.saturating_sub(lines.len())) {
        let diff = c.difference;
        let text = trf(
            lang,
            "stock.count_row",
            &[
                ("at", &local(sh, c.at, "%m-%d")),
                ("physical", &c.physical.to_string()),
                ("recorded", &c.recorded.to_string()),
                ("diff", &format!("{diff:+}")),
                ("by", &c.actor),
            ],
        );
        lines.push(Line::from(Span::styled(
            fit(&text, inner),
            if diff == 0 { th.base } else { th.error },
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(tr(lang, "stock.title").to_string(), th))
            .style(th.base),
        left,
    );

    let headers: Vec<String> = [
        "fee.col.at",
        "fee.col.kind",
        "fee.col.card",
        "fee.col.name",
        "fee.col.amount",
        "fee.col.paid",
        "fee.col.by",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let cells: Vec<Vec<String>> = s
        .fees
        .iter()
        .map(|f| {
            vec![
                when(sh, f.at),
                event_word(lang, &f.kind),
                f.card_no.to_string(),
                f.person_name.clone(),
                f.amount.to_string(),
                tr(lang, &format!("card.paid.{}", f.paid_from)).to_string(),
                f.collected_by.clone(),
            ]
        })
        .collect();
    let inner = right.width.saturating_sub(2) as usize;
    let mut widths = column_widths(&headers, &cells);
    fit_columns(&mut widths, &[5, 4, 7, 4, 6, 4, 4], inner, 1);
    let total: Money = s.fees.iter().map(|f| f.amount).sum();
    let title = trf(
        lang,
        "fee.title",
        &[
            ("n", &s.fees.len().to_string()),
            ("total", &total.to_string()),
        ],
    );
    table(
        frame,
        right,
        block(title, th),
        &headers,
        &widths,
        cells
            .into_iter()
            .map(|r| TableRow::plain(r, th.base))
            .collect(),
        None,
        Some(Line::from(Span::styled(tr(lang, "fee.none"), th.muted))),
        th,
    );
}

fn render_reports(frame: &mut Frame, sh: &Shell, c: &Cards, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let r = &c.reports;
    let (head, table) = reports_split(body);
    if !sh.may(Action::ReportExport) {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                tr(lang, "report.no_access"),
                th.muted,
            )))
            .block(block(tr(lang, "report.title").to_string(), th))
            .style(th.base),
            body,
        );
        return;
    }
    let all = tr(lang, "report.all");
    let range = match (r.filter.from, r.filter.to) {
        (None, None) => all.to_string(),
        (from, until) => format!(
            "{} – {}",
            from.map(|d| d.to_string()).unwrap_or_default(),
            until.map(|d| d.to_string()).unwrap_or_default()
        ),
    };
    let or_all = |s: &Option<String>| s.clone().unwrap_or_else(|| all.to_string());
    let filters = trf(
        lang,
        "report.filters",
        &[
            ("range", &range),
            ("department", &or_all(&r.filter.department)),
            ("kind", r.filter.kind.map_or(all, |k| kind_word(lang, k))),
            ("operator", &or_all(&r.filter.operator)),
        ],
    );
    let mut spans = vec![Span::styled(format!(" {filters}"), th.muted)];
    if let Some(k) = key_of(sh, Command::ReportFilter) {
        spans.push(Span::styled(format!("  {k} "), th.title));
        spans.push(Span::styled(tr(lang, "hint.report.filter"), th.muted));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(th.base), head);

    let name = tr(lang, &format!("report.kind.{}", r.kind.name()));
    let Some(page) = &r.page else {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                tr(lang, "card.panel.reading"),
                th.muted,
            )))
            .block(block(name.to_string(), th))
            .style(th.base),
            table,
        );
        return;
    };
    let inner = table.width.saturating_sub(2) as usize;
    // The CSV's column names and values, in the operator's words on screen.
    let word = |prefixes: &[&str], v: &str| -> String {
        prefixes
            .iter()
            .map(|p| format!("{p}.{v}"))
            .find(|k| crate::i18n::has_key(k))
            .map(|k| tr(lang, &k).to_string())
            .unwrap_or_else(|| v.to_string())
    };
    let columns: Vec<String> = page
        .columns
        .iter()
        .map(|c| word(&["report.col"], c))
        .collect();
    let rows: Vec<Vec<String>> = page
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&page.columns)
                .map(|(v, c)| match c.as_str() {
                    "kind" => word(&["card.kind"], v),
                    "how" | "outcome" => word(&["card.event", "card.state"], v),
                    "card_state" => word(&["card.state"], v),
                    _ => v.clone(),
                })
                .collect()
        })
        .collect();
    let page = &ReportPage {
        columns,
        rows,
        ..page.clone()
    };
    let mut widths = column_widths(&page.columns, &page.rows);
    let min: Vec<usize> = widths.iter().map(|w| (*w).min(6)).collect();
    fit_columns(&mut widths, &min, inner, 1);
    // Numbers and money right-aligned, as in the printed report.
    let cells_of = |cols: &[String]| -> Vec<String> {
        cols.iter()
            .zip(widths.iter())
            .enumerate()
            .map(|(i, (c, w))| {
                if page.numeric.get(i).copied().unwrap_or(false) && c.width() <= *w {
                    format!("{}{c}", " ".repeat(*w - c.width()))
                } else {
                    c.clone()
                }
            })
            .collect()
    };
    let mut rows: Vec<TableRow> = page
        .rows
        .iter()
        .map(|row| TableRow::plain(cells_of(row), th.base))
        .collect();
    // The total line of balances closes the list; it is not a row of the report's data.
    if let (Some(total), false) = (&page.total, page.rows.is_empty()) {
        rows.push(TableRow::plain(cells_of(total), th.header));
    }
    let title = if (page.rows.len() as u64) < page.total_rows {
        trf(
            lang,
            "report.title_some",
            &[
                ("report", name),
                ("n", &words::count(page.rows.len() as i64)),
                ("total", &words::count(page.total_rows as i64)),
            ],
        )
    } else {
        trf(
            lang,
            "report.title_all",
            &[
                ("report", name),
                ("total", &words::count(page.total_rows as i64)),
            ],
        )
    };
    let selected = (!page.rows.is_empty()).then_some(r.selected);
    widgets::table(
        frame,
        table,
        block(title, th),
        &page.columns,
        &widths,
        rows,
        selected,
        Some(Line::from(Span::styled(tr(lang, "table.empty"), th.muted))),
        th,
    );
}
