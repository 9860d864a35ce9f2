//! The Operators tab: accounts and the latest audit entries.

use crate::app::state::{Shell, State};
use crate::app::tabs::operators::{split, Operators};
use crate::app::words;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, column_widths, fit_columns, table, TableRow};
use crate::ui::{filtered_title, local, no_match};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    if !sh.may(Action::OperatorManage) && !sh.may(Action::AuditRead) {
        let title = Span::styled(format!(" {} ", tr(lang, "tab.operators.title")), th.title);
        frame.render_widget(
            Paragraph::new(tr(lang, "tab.operators.no_access"))
                .block(block(title, th))
                .style(th.muted)
                .wrap(Wrap { trim: true }),
            body,
        );
        return;
    }
    let o = &state.operators;
    let (top, bottom) = split(body);
    render_table(frame, sh, o, top, th);
    render_audit(frame, sh, o, bottom, th);
    if let Some(form) = &o.form {
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
}

fn render_table(frame: &mut Frame, sh: &Shell, o: &Operators, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let rows = o.visible(sh);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|op| {
            let status = if op.disabled {
                tr(lang, "operator.state.disabled")
            } else if op.is_locked(sh.now) {
                tr(lang, "operator.state.locked")
            } else if op.must_change_password {
                tr(lang, "operator.state.must_change")
            } else {
                tr(lang, "operator.state.active")
            };
            let last = op
                .last_login_at
                .map(|t| local(sh, t, "%Y-%m-%d %H:%M"))
                .unwrap_or_else(|| "—".into());
            vec![
                op.login.clone(),
                op.display_name.clone(),
                words::role(lang, op.role).to_string(),
                status.to_string(),
                last,
            ]
        })
        .collect();
    let headers: Vec<String> = [
        "operator.col.login",
        "operator.col.name",
        "operator.col.role",
        "operator.col.state",
        "operator.col.last_login",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    // Column widths in display columns, so 王芳 lines up with Alice.
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    fit_columns(&mut widths, &[6, 6, 6, 6, 10], inner, 1);
    let filter = o.filter.text();
    let empty = if o.list.is_empty() {
        Line::from(Span::styled(tr(lang, "table.empty"), th.muted))
    } else {
        no_match(lang, filter, th)
    };
    let title = filtered_title(
        lang,
        &format!("{} ({})", tr(lang, "tab.operators.title"), rows.len()),
        filter,
        None,
    );
    let selected = (!rows.is_empty()).then_some(o.selected);
    table(
        frame,
        area,
        block(Span::styled(title, th.title), th),
        &headers,
        &widths,
        cells
            .into_iter()
            .map(|c| TableRow::plain(c, th.base))
            .collect(),
        selected,
        Some(empty),
        th,
    );
}

fn render_audit(frame: &mut Frame, sh: &Shell, o: &Operators, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let headers: Vec<String> = [
        "audit.col.at",
        "audit.col.actor",
        "audit.col.action",
        "audit.col.object",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let cells: Vec<Vec<String>> = o
        .audit
        .iter()
        .map(|e| {
            vec![
                local(sh, e.at, "%m-%d %H:%M:%S"),
                e.actor.clone(),
                e.action.clone(),
                format!("{} {}", e.object_kind, e.object_id),
            ]
        })
        .collect();
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    fit_columns(&mut widths, &[14, 8, 12, 8], inner, 1);
    let title = trf(
        lang,
        "audit.title",
        &[("n", &words::shown_of(lang, o.audit.len(), o.audit_total))],
    );
    table(
        frame,
        area,
        block(Span::styled(format!(" {title} "), th.title), th),
        &headers,
        &widths,
        cells
            .into_iter()
            .map(|c| TableRow::plain(c, th.base))
            .collect(),
        None,
        Some(Line::from(Span::styled(tr(lang, "table.empty"), th.muted))),
        th,
    );
}
