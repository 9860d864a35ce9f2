//! The selected person's statement popup: the balances on its title, a row a movement.

use crate::app::state::Shell;
use crate::app::tabs::cards::statement::StatementView;
use crate::app::words;
use crate::i18n::{tr, trf};
use crate::ui::local;
use crate::ui::theme::Theme;
use crate::ui::widgets::{self, centered, clear_popup, column_widths, fit_columns, TableRow};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, sh: &Shell, v: &StatementView, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let popup = centered(body, body.width.saturating_sub(4).max(40), body.height);
    clear_popup(frame, popup);
    let Some(s) = &v.statement else {
        let block = widgets::block(
            Span::styled(format!(" {} ", tr(lang, "statement.title")), th.title),
            th,
        );
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Line::from(Span::styled(
                tr(lang, "card.panel.reading"),
                th.muted,
            )))
            .block(block)
            .style(th.base),
            popup,
        );
        return;
    };
    let title = trf(
        lang,
        "statement.popup",
        &[
            ("name", &s.person_name),
            ("person_no", &s.person_no),
            ("balance", &s.balance.to_string()),
            ("n", &s.rows.len().to_string()),
        ],
    );
    let headers: Vec<String> = [
        "time", "kind", "channel", "card_no", "where", "amount", "balance",
    ]
    .iter()
    .map(|c| tr(lang, &format!("statement.column.{c}")).to_string())
    .collect();
    let cells: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            vec![
                local(sh, r.at, "%m-%d %H:%M"),
                words::movement_kind(lang, &r.kind),
                words::channel(lang, r),
                r.card_no.map(|n| n.to_string()).unwrap_or_default(),
                words::statement_where(r),
                r.amount.to_string(),
                r.balance.to_string(),
            ]
        })
        .collect();
    let inner = popup.width.saturating_sub(2) as usize;
    let mut widths = column_widths(&headers, &cells);
    let min: Vec<usize> = widths.iter().map(|w| (*w).min(6)).collect();
    fit_columns(&mut widths, &min, inner, 1);
    // Money right-aligned, as on paper.
    let right = |i: usize, c: &str| {
        let w = widths[i];
        if i >= 5 && c.width() <= w {
            format!("{}{c}", " ".repeat(w - c.width()))
        } else {
            c.to_string()
        }
    };
    let rows: Vec<TableRow> = cells
        .iter()
        .zip(&s.rows)
        .map(|(row, r)| {
            let style = if r.amount.is_negative() {
                th.base
            } else {
                th.info
            };
            TableRow::plain(
                row.iter().enumerate().map(|(i, c)| right(i, c)).collect(),
                style,
            )
        })
        .collect();
    let selected = (!s.rows.is_empty()).then_some(v.selected);
    widgets::table(
        frame,
        popup,
        widgets::block(Span::styled(format!(" {title} "), th.title), th),
        &headers,
        &widths,
        rows,
        selected,
        Some(Line::from(Span::styled(
            tr(lang, "statement.empty"),
            th.muted,
        ))),
        th,
    );
}
