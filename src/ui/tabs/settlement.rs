//! The Settlement tab: today's takings, the reconciliation board, missing transaction numbers,
//! statements and charts, and the settle popup.

use crate::app::state::{Shell, State};
use crate::app::tabs::settlement::{
    may_see, today_split, SettleView, Settlement, TodayRow, DAILY_DAYS,
};
use crate::app::words;
use crate::domain::money::Money;
use crate::i18n::{tr, trf, Lang};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, grid, TableRow};
use crate::ui::{filtered_title, local, no_match};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Sparkline, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    if !may_see(sh) {
        let title = Span::styled(format!(" {} ", tr(lang, "tab.settlement.title")), th.title);
        frame.render_widget(
            Paragraph::new(tr(lang, "tab.settlement.no_access"))
                .block(block(title, th))
                .style(th.muted)
                .wrap(Wrap { trim: true }),
            body,
        );
        return;
    }
    let s = &state.settlement;
    match s.view {
        SettleView::Today => render_today(frame, sh, s, body, th),
        SettleView::Board => render_board(frame, sh, s, body, th),
        SettleView::Missing => render_missing(frame, sh, s, body, th),
        SettleView::Statements => render_statements(frame, sh, s, body, th),
        SettleView::Charts => render_charts(frame, sh, s, body, th),
    }
    if let Some(form) = &s.export {
        crate::ui::form::render(
            frame,
            lang,
            form,
            &Placement {
                width: 64,
                title: form.title.clone(),
                keys: popup_keys(lang, form),
            },
            body,
            th,
        );
    }
    if let Some(st) = &s.settle {
        // Behind its confirmation (drawn by the shell) while one is asked.
        crate::ui::form::render(
            frame,
            lang,
            &st.form,
            &Placement {
                width: 64,
                title: st.form.title.clone(),
                keys: popup_keys(lang, &st.form),
            },
            body,
            th,
        );
    }
}

/// What an empty table says: still reading, nothing at all, or nothing matching the filter.
fn empty(lang: Lang, s: &Settlement, loaded: bool, any: bool, th: &Theme) -> Line<'static> {
    if !loaded {
        Line::from(Span::styled(tr(lang, "settletab.loading"), th.muted))
    } else if any {
        no_match(lang, s.filter.text(), th)
    } else {
        Line::from(Span::styled(tr(lang, "table.empty"), th.muted))
    }
}

fn view_title(lang: Lang, s: &Settlement, name: &str) -> String {
    filtered_title(
        lang,
        &format!("{} · {}", tr(lang, s.view.key()), name),
        s.filter.text(),
        None,
    )
}

fn render_today(frame: &mut Frame, sh: &Shell, s: &Settlement, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let (top, bottom) = today_split(body);
    let day = s.today.day.map(|d| d.to_string()).unwrap_or_default();
    let (count, sum) = s.today.total();
    let name = trf(
        lang,
        "settletab.today_title",
        &[
            ("day", &day),
            ("n", &words::count(count)),
            ("sum", &sum.to_string()),
        ],
    );
    let bold = th.base.add_modifier(Modifier::BOLD);
    let rows: Vec<TableRow> = s
        .today_rows()
        .into_iter()
        .map(|r| match r {
            TodayRow::Merchant(name, count, sum) => TableRow::plain(
                vec![
                    name,
                    tr(lang, "settletab.all_pos").to_string(),
                    words::count(count),
                    sum.to_string(),
                ],
                bold,
            ),
            TodayRow::Pos(p) => TableRow::plain(
                vec![
                    String::new(),
                    if p.terminal.is_empty() {
                        "—".to_string()
                    } else {
                        p.terminal.clone()
                    },
                    words::count(p.count),
                    p.sum.to_string(),
                ],
                th.base,
            ),
        })
        .collect();
    grid(
        frame,
        lang,
        top,
        view_title(lang, s, &name),
        &[
            "settle.col.merchant",
            "reconcile.col.pos",
            "settle.col.purchases",
            "settle.col.sales",
        ],
        rows,
        &[8, 8, 6, 10],
        Some(s.selected),
        empty(
            lang,
            s,
            s.loaded[SettleView::Today.slot()],
            !s.today.pos.is_empty(),
            th,
        ),
        th,
    );
    let halves = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(bottom);
    let top_ups: Vec<TableRow> = s
        .today
        .top_ups
        .iter()
        .map(|t| {
            let channel = words::catalogued(lang, "settletab.channel", &t.channel);
            let channel = if t.channel_name.is_empty() || t.channel == "subsidy" {
                channel
            } else {
                format!("{channel} · {}", t.channel_name)
            };
            TableRow::plain(
                vec![channel, words::count(t.count), t.sum.to_string()],
                th.base,
            )
        })
        .collect();
    let total: Money = s.today.top_ups.iter().map(|t| t.sum).sum();
    grid(
        frame,
        lang,
        halves[0],
        format!(
            " {} ",
            trf(lang, "settletab.top_ups", &[("sum", &total.to_string())])
        ),
        &[
            "settletab.col.channel",
            "settletab.col.count",
            "settletab.col.sum",
        ],
        top_ups,
        &[6, 4, 8],
        None,
        empty(lang, s, s.loaded[SettleView::Today.slot()], false, th),
        th,
    );
    let o = &s.today.outstanding;
    let lines = vec![
        Line::from(Span::styled(
            trf(
                lang,
                "settletab.outstanding",
                &[
                    ("sum", &o.total.to_string()),
                    ("n", &words::count(o.accounts)),
                ],
            ),
            th.base,
        )),
        Line::from(Span::styled(
            trf(
                lang,
                "settletab.negative",
                &[
                    ("n", &words::count(o.negative)),
                    ("sum", &o.negative_sum.to_string()),
                ],
            ),
            if o.negative > 0 { th.error } else { th.muted },
        )),
    ];
    let title = Span::styled(format!(" {} ", tr(lang, "settletab.balances")), th.title);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title, th))
            .wrap(Wrap { trim: true }),
        halves[1],
    );
}

fn render_board(frame: &mut Frame, sh: &Shell, s: &Settlement, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let rows = s.board_rows(sh);
    let tally = |t: &crate::db::reconcile::Tally| format!("{} / {}", words::count(t.count), t.sum);
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|r| {
            let style = match r.state {
                crate::db::reconcile::ReconState::Ok => th.base,
                _ => th.error,
            };
            TableRow::new(vec![
                (r.merchant.clone(), th.base),
                (r.terminal.clone(), th.base),
                (words::recon_state(lang, r.state).to_string(), style),
                (
                    r.pos.as_ref().map(tally).unwrap_or_else(|| "—".into()),
                    th.base,
                ),
                (tally(&r.received), th.base),
                (tally(&r.ledger), th.base),
            ])
        })
        .collect();
    let day = s.board_day.map(|d| d.to_string()).unwrap_or_default();
    let ok = s
        .board
        .iter()
        .filter(|r| r.state == crate::db::reconcile::ReconState::Ok)
        .count();
    let name = trf(
        lang,
        "settletab.board_title",
        &[
            ("day", &day),
            ("ok", &ok.to_string()),
            ("n", &s.board.len().to_string()),
        ],
    );
    grid(
        frame,
        lang,
        body,
        view_title(lang, s, &name),
        &[
            "reconcile.col.merchant",
            "reconcile.col.pos",
            "reconcile.col.state",
            "reconcile.col.pos_totals",
            "reconcile.col.received",
            "reconcile.col.ledger",
        ],
        cells,
        &[6, 8, 8, 15, 15, 15],
        Some(s.selected),
        if s.loaded[SettleView::Board.slot()] && s.board.is_empty() {
            Line::from(Span::styled(tr(lang, "settletab.board_empty"), th.muted))
        } else {
            empty(lang, s, s.loaded[SettleView::Board.slot()], true, th)
        },
        th,
    );
}

fn render_missing(frame: &mut Frame, sh: &Shell, s: &Settlement, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let cells: Vec<TableRow> = s
        .missing_rows()
        .into_iter()
        .map(|m| {
            TableRow::new(vec![
                (m.merchant.clone(), th.base),
                (m.terminal.clone(), th.base),
                (words::count(m.numbers.len() as i64), th.error),
                (local(sh, m.noticed_at, "%Y-%m-%d %H:%M"), th.base),
                // Last: the one column that may be long, and is clipped.
                (words::txn_ranges(&m.numbers), th.base),
            ])
        })
        .collect();
    let numbers: usize = s.missing.iter().map(|m| m.numbers.len()).sum();
    let name = trf(
        lang,
        "settletab.missing_title",
        &[
            ("n", &words::count(numbers as i64)),
            ("pos", &s.missing.len().to_string()),
        ],
    );
    grid(
        frame,
        lang,
        body,
        view_title(lang, s, &name),
        &[
            "settle.col.merchant",
            "reconcile.col.pos",
            "settletab.col.missing",
            "settletab.col.noticed",
            "settletab.col.numbers",
        ],
        cells,
        &[6, 8, 4, 16, 10],
        Some(s.selected),
        if s.loaded[SettleView::Missing.slot()] && s.missing.is_empty() {
            Line::from(Span::styled(tr(lang, "settletab.missing_empty"), th.muted))
        } else {
            empty(lang, s, s.loaded[SettleView::Missing.slot()], true, th)
        },
        th,
    );
}

fn render_statements(frame: &mut Frame, sh: &Shell, s: &Settlement, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let rows = s.statement_rows();
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|st| {
            // What was just settled from here stands out.
            let style = if s.is_just_settled(st) {
                th.base.add_modifier(Modifier::BOLD)
            } else {
                th.base
            };
            TableRow::plain(
                vec![
                    st.merchant.clone(),
                    // The date first: it is what a narrow column keeps.
                    format!(
                        "{} {}",
                        st.period_start,
                        words::catalogued(lang, "settletab.period", &st.period_kind)
                    ),
                    st.sales.to_string(),
                    st.refunds.to_string(),
                    st.corrections.to_string(),
                    st.commission.to_string(),
                    st.net_payable.to_string(),
                    format!(
                        "{} {}",
                        st.actor,
                        local(sh, st.settled_at, "%Y-%m-%d %H:%M")
                    ),
                ],
                style,
            )
        })
        .collect();
    let name = trf(
        lang,
        "settletab.statements_title",
        &[("n", &s.statements.len().to_string())],
    );
    grid(
        frame,
        lang,
        body,
        view_title(lang, s, &name),
        &[
            "settle.col.merchant",
            "settle.col.period",
            "settle.col.sales",
            "settle.col.refunds",
            "settle.col.corrections",
            "settle.col.commission",
            "settle.col.net_payable",
            "settle.col.settled",
        ],
        cells,
        &[6, 13, 10, 7, 7, 7, 10, 4],
        Some(s.selected),
        if s.loaded[SettleView::Statements.slot()] && s.statements.is_empty() {
            Line::from(Span::styled(
                tr(lang, "settletab.statements_empty"),
                th.muted,
            ))
        } else {
            empty(
                lang,
                s,
                s.loaded[SettleView::Statements.slot()],
                !s.statements.is_empty(),
                th,
            )
        },
        th,
    );
}

/// Whole yuan for a chart (bars are integers; the tables have the fen).
fn yuan(m: Money) -> u64 {
    m.to_fen().map(|f| (f.max(0) / 100) as u64).unwrap_or(0)
}

fn render_charts(frame: &mut Frame, sh: &Shell, s: &Settlement, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
        .split(body);
    let merchants = s.today.merchants();
    let label_w = 10usize;
    let bars: Vec<Bar> = merchants
        .iter()
        .map(|(name, _, sum)| {
            Bar::default()
                .value(yuan(*sum))
                .label(Line::from(clip(name, label_w)))
                .text_value(sum.to_string())
        })
        .collect();
    let title = Span::styled(
        format!(" {} ", tr(lang, "settletab.chart_merchants")),
        th.title,
    );
    if bars.is_empty() {
        let text = if s.loaded[SettleView::Today.slot()] {
            tr(lang, "settletab.no_takings")
        } else {
            tr(lang, "settletab.loading")
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, th.muted)).block(block(title, th)),
            parts[0],
        );
    } else {
        let n = bars.len() as u16;
        let inner = parts[0].width.saturating_sub(2);
        let width = (inner.saturating_sub(n) / n.max(1)).clamp(3, label_w as u16);
        frame.render_widget(
            BarChart::default()
                .block(block(title, th))
                .data(BarGroup::default().bars(&bars))
                .bar_width(width)
                .bar_gap(1)
                .bar_style(th.info)
                .value_style(th.badge)
                .label_style(th.base),
            parts[0],
        );
    }
    // A sparkline draws a column per value: each day is widened to fill the width.
    let per_day = (parts[1].width.saturating_sub(2) as usize / s.daily.len().max(1)).max(1);
    let values: Vec<u64> = s
        .daily
        .iter()
        .flat_map(|(_, m)| std::iter::repeat_n(yuan(*m), per_day))
        .collect();
    let total: Money = s.daily.iter().map(|(_, m)| *m).sum();
    let peak = s.daily.iter().map(|(_, m)| *m).max().unwrap_or(Money::ZERO);
    let title = trf(
        lang,
        "settletab.chart_daily",
        &[
            ("days", &DAILY_DAYS.to_string()),
            ("sum", &total.to_string()),
            ("max", &peak.to_string()),
        ],
    );
    frame.render_widget(
        Sparkline::default()
            .block(block(Span::styled(format!(" {title} "), th.title), th))
            .data(&values)
            .style(th.info),
        parts[1],
    );
}
