//! The Doors tab's records sub-view: queries, loss queries, pending syncs, purge.

use crate::app::shell::Shell;
use crate::app::tabs::doors::records::{DoorEvent, Pane, Popup, Records, UnconfirmedSync};
use crate::app::words;
use crate::domain::card::CardState;
use crate::i18n::{tr, trf};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::local;
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, column_widths, fit_columns, table, TableRow};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(frame: &mut Frame, sh: &Shell, r: &Records, body: Rect, th: &Theme) {
    let (head, list) = Records::split(body);
    let summary = format!(" {}", words::records_query(sh.lang, &r.query, &r.door_text));
    frame.render_widget(
        Paragraph::new(Span::styled(clip(&summary, head.width as usize), th.muted)),
        head,
    );
    match r.pane {
        Pane::Events => render_events(frame, sh, r, list, th),
        Pane::Syncs => render_syncs(frame, sh, r, list, th),
    }
    let (form, width) = match &r.popup {
        Some(Popup::Query(f)) => (f, 72),
        Some(Popup::Export(f)) => (f, 72),
        Some(Popup::Purge(p)) => (&p.form, 72),
        None => return,
    };
    crate::ui::form::render(
        frame,
        sh.lang,
        form,
        &Placement {
            width,
            title: form.title.clone(),
            keys: popup_keys(sh.lang, form),
        },
        body,
        th,
    );
}

fn event_cells(sh: &Shell, e: &DoorEvent, loss: bool) -> Vec<String> {
    let lang = sh.lang;
    let time = match e.terminal_time {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        // No controller clock: when it arrived.
        None => local(sh, e.received_at, "%Y-%m-%d %H:%M:%S"),
    };
    let mut cells = vec![time];
    cells.extend(words::door_event_cells(lang, e));
    if loss {
        let state = e.card_state.as_deref().unwrap_or("");
        cells.push(match state.parse::<CardState>() {
            Ok(s) => words::card_state(lang, s).to_string(),
            Err(_) => state.to_string(),
        });
    }
    cells
}

fn render_events(frame: &mut Frame, sh: &Shell, r: &Records, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let loss = r.loss_query();
    let mut keys = vec![
        "door.records.col.time",
        "door.records.col.door",
        "door.records.col.controller",
        "door.records.col.person",
        "door.records.col.department",
        "door.records.col.card",
        "door.records.col.event",
        "door.records.col.late",
    ];
    if loss {
        keys.push("door.records.col.card_state");
    }
    let headers: Vec<String> = keys.iter().map(|k| tr(lang, k).to_string()).collect();
    let rows: Vec<Vec<String>> = r
        .events()
        .iter()
        .map(|e| event_cells(sh, e, loss))
        .collect();
    let mut widths = column_widths(&headers, &rows);
    let min = [19, 8, 6, 6, 4, 4, 6, 2, 4];
    fit_columns(
        &mut widths,
        &min[..headers.len()],
        area.width.saturating_sub(2) as usize,
        1,
    );
    let title = match &r.page {
        None => tr(lang, "door.records.title").to_string(),
        Some(p) => trf(
            lang,
            if loss {
                "door.records.title_loss"
            } else {
                "door.records.title_n"
            },
            &[(
                "range",
                &words::records_range(lang, p.query.offset, p.rows.len(), p.total),
            )],
        ),
    };
    let empty = Line::from(Span::styled(
        tr(
            lang,
            if r.page.is_some() {
                "door.records.empty"
            } else {
                "door.records.loading"
            },
        ),
        th.muted,
    ));
    let n = rows.len();
    let table_rows = rows
        .into_iter()
        .zip(r.events())
        .map(|(cells, e)| {
            let style = if e.granted { th.base } else { th.error };
            TableRow::plain(cells, style)
        })
        .collect();
    table(
        frame,
        area,
        block(Span::styled(format!(" {title} "), th.title), th),
        &headers,
        &widths,
        table_rows,
        (n > 0).then_some(r.selected),
        Some(empty),
        th,
    );
}

fn sync_cells(sh: &Shell, s: &UnconfirmedSync) -> Vec<String> {
    let lang = sh.lang;
    vec![
        s.terminal_name.clone(),
        s.card_no.to_string(),
        s.person_name.clone(),
        words::catalogued(lang, "card.stance", &s.stance),
        words::command_state(lang, &s.command_state),
        local(sh, s.queued_at, "%Y-%m-%d %H:%M"),
        s.failure
            .as_ref()
            .map(|f| words::command_failure(lang, f))
            .unwrap_or_default(),
    ]
}

fn render_syncs(frame: &mut Frame, sh: &Shell, r: &Records, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let headers: Vec<String> = [
        "door.records.sync.terminal",
        "door.records.sync.card",
        "door.records.sync.person",
        "door.records.sync.stance",
        "door.records.sync.state",
        "door.records.sync.since",
        "door.records.sync.why",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let syncs = r.sync_rows();
    let rows: Vec<Vec<String>> = syncs.iter().map(|s| sync_cells(sh, s)).collect();
    let mut widths = column_widths(&headers, &rows);
    fit_columns(
        &mut widths,
        &[8, 6, 6, 4, 4, 10, 8],
        area.width.saturating_sub(2) as usize,
        1,
    );
    let title = trf(
        lang,
        "door.records.sync.title",
        &[("n", &words::count(syncs.len() as i64))],
    );
    let empty = Line::from(Span::styled(
        tr(
            lang,
            if r.syncs.is_some() {
                "door.records.sync.empty"
            } else {
                "door.records.loading"
            },
        ),
        th.muted,
    ));
    let table_rows = rows
        .into_iter()
        .zip(syncs)
        .map(|(cells, s)| {
            let style = if s.command_state == "failed" || s.command_state == "unknown" {
                th.error
            } else {
                th.base
            };
            TableRow::plain(cells, style)
        })
        .collect();
    table(
        frame,
        area,
        block(Span::styled(format!(" {title} "), th.title), th),
        &headers,
        &widths,
        table_rows,
        (!syncs.is_empty()).then_some(r.sync_selected),
        Some(empty),
        th,
    );
}
