//! The operators tab: accounts and the latest audit entries.

use super::theme::Theme;
use super::{column_widths, filtered_title, fit, table_line};
use crate::app::layout;
use crate::app::state::State;
use crate::domain::permission::Action;
use crate::i18n::tr;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let lang = state.lang;
    if !state.may(Action::OperatorManage) && !state.may(Action::AuditRead) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(th.border)
            .title(Span::styled(
                format!(" {} ", tr(lang, "tab.operators.title")),
                th.title,
            ));
        frame.render_widget(
            Paragraph::new(tr(lang, "tab.operators.no_access"))
                .block(block)
                .style(th.muted)
                .wrap(Wrap { trim: true }),
            body,
        );
        return;
    }
    let (top, bottom) = layout::operators_split(body);
    render_table(frame, state, top, th);
    render_audit(frame, state, bottom, th);
}

fn render_table(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let rows = state.visible_operators();
    let now = state.now;
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|o| {
            let status = if o.disabled {
                tr(lang, "operator.state.disabled")
            } else if o.is_locked(now) {
                tr(lang, "operator.state.locked")
            } else if o.must_change_password {
                tr(lang, "operator.state.must_change")
            } else {
                tr(lang, "operator.state.active")
            };
            let last = o
                .last_login_at
                .map(|t| {
                    t.with_timezone(&state.utc_offset)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_else(|| "—".into());
            [
                o.login.clone(),
                o.display_name.clone(),
                tr(lang, &format!("role.{}", o.role.name())).to_string(),
                status.to_string(),
                last,
            ]
        })
        .collect();
    let headers = [
        tr(lang, "operator.col.login"),
        tr(lang, "operator.col.name"),
        tr(lang, "operator.col.role"),
        tr(lang, "operator.col.state"),
        tr(lang, "operator.col.last_login"),
    ];
    // Column widths in display columns, so 王芳 lines up with Alice.
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    let mut budget = inner;
    for w in widths.iter_mut() {
        *w = (*w).min(24).min(budget.saturating_sub(2));
        budget = budget.saturating_sub(*w + 2);
    }
    let line_of = |cols: &[&str]| table_line(cols, &widths, 2, inner);
    let (visible, offset) = layout::table_window(area, state.operators_view.selected);
    let mut lines = vec![Line::from(Span::styled(line_of(&headers), th.header))];
    for (i, row) in cells.iter().enumerate().skip(offset).take(visible) {
        let cols: Vec<&str> = row.iter().map(String::as_str).collect();
        let style = if i == state.operators_view.selected {
            th.selected
        } else {
            th.base
        };
        lines.push(Line::from(Span::styled(line_of(&cols), style)));
    }
    if cells.is_empty() {
        lines.push(Line::from(Span::styled(tr(lang, "table.empty"), th.muted)));
    }
    let title = filtered_title(
        lang,
        &format!("{} ({})", tr(lang, "tab.operators.title"), rows.len()),
        &state.operators_view.filter,
        None,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(title, th.title));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_audit(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let lang = state.lang;
    let inner = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = state
        .audit
        .iter()
        .take(area.height.saturating_sub(2) as usize)
        .map(|e| {
            let at =
                e.at.with_timezone(&state.utc_offset)
                    .format("%m-%d %H:%M:%S")
                    .to_string();
            let text = format!(
                "{at}  {}  {}  {}",
                fit(&e.actor, 16),
                fit(&e.action, 26),
                e.object_id
            );
            Line::from(Span::styled(fit(&text, inner), th.base))
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", tr(lang, "audit.title")),
            th.title,
        ));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
