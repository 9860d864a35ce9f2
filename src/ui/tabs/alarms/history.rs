//! The history of closed alarms: newest first, as many as read of how many there are, with who
//! cleared each and why; and its filter form.

use crate::app::state::{Shell, State};
use crate::app::tabs::alarms::History;
use crate::app::words;
use crate::db::alarm::Alarm;
use crate::i18n::{tr, trf, Lang};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::when;
use crate::ui::widgets::{block, column_widths, fit_columns, table, TableRow};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

/// Who cleared it; a fault that went away cleared itself.
pub fn cleared_by(lang: Lang, a: &Alarm) -> String {
    a.cleared_by
        .clone()
        .unwrap_or_else(|| tr(lang, "alarm.history.cleared_by_itself").to_string())
}

/// The force-clear's reason, else the acknowledgement's note.
fn reason(lang: Lang, a: &Alarm) -> String {
    match (&a.clear_reason, &a.note) {
        (Some(r), _) => trf(lang, "alarm.col.force", &[("reason", r)]),
        (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    }
}

pub fn render(frame: &mut Frame, state: &State, area: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    let h = &state.alarms.history;
    let headers: Vec<String> = [
        "P",
        tr(lang, "alarm.col.raised"),
        tr(lang, "alarm.col.cleared"),
        tr(lang, "alarm.col.kind"),
        tr(lang, "alarm.col.where"),
        tr(lang, "alarm.col.cleared_by"),
        tr(lang, "alarm.col.reason"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let row_of = |a: &Alarm| -> Vec<String> {
        let place = words::alarm_place(lang, a);
        vec![
            format!("P{}", a.priority),
            when(sh, a.raised_at),
            a.cleared_at.map(|t| when(sh, t)).unwrap_or_default(),
            words::alarm_kind(lang, &a.kind),
            if place.is_empty() {
                "—".into()
            } else {
                place
            },
            cleared_by(lang, a),
            reason(lang, a),
        ]
    };
    let cells: Vec<Vec<String>> = h.rows.iter().map(row_of).collect();
    let mut widths = column_widths(&headers, &cells);
    let inner = area.width.saturating_sub(2) as usize;
    // The reason and the place give way first.
    fit_columns(&mut widths, &[2, 8, 8, 8, 10, 6, 6], inner, 1);
    let rows: Vec<TableRow> = cells
        .into_iter()
        .map(|c| TableRow::plain(c, th.base))
        .collect();
    let empty_key = if !h.loaded {
        "alarm.history.loading"
    } else if h.filter.is_empty() {
        "alarm.history.empty"
    } else {
        "alarm.history.none_match"
    };
    let empty = Some(Line::from(Span::styled(tr(lang, empty_key), th.muted)));
    let n = words::shown_of(
        lang,
        h.rows.len(),
        i64::try_from(h.total).unwrap_or(i64::MAX),
    );
    let mut title = trf(lang, "alarm.history.title", &[("n", &n)]);
    let narrowed = h.filter.describe(lang);
    if !narrowed.is_empty() {
        title.push_str(" · ");
        title.push_str(&narrowed);
    }
    let at = (!h.rows.is_empty()).then_some(h.selected);
    table(
        frame,
        area,
        block(Span::styled(format!(" {title} "), th.title), th),
        &headers,
        &widths,
        rows,
        at,
        empty,
        th,
    );
}

pub fn render_form(frame: &mut Frame, sh: &Shell, h: &History, body: Rect, th: &Theme) {
    let Some(form) = &h.form else {
        return;
    };
    crate::ui::form::render(
        frame,
        sh.lang,
        form,
        &Placement {
            width: 72,
            title: form.title.clone(),
            keys: popup_keys(sh.lang, form),
        },
        body,
        th,
    );
}
