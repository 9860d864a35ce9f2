//! The Attendance tab's results: one day's results for everyone, a month's totals per person
//! or department, the corrections, and the popups.

use super::{empty, view_title};
use crate::app::state::Shell;
use crate::app::tabs::attendance::{closed_month, month_of, AttForm, Attendance, Grouping};
use crate::db::attendance::Status;
use crate::i18n::{tr, trf, Lang};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::when;
use crate::ui::widgets::{grid, TableRow};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::Frame;

fn minutes(m: i64) -> String {
    if m == 0 {
        String::new()
    } else {
        m.to_string()
    }
}

fn status_style(status: Status, th: &Theme) -> Style {
    match status {
        Status::Present => Style::default(),
        Status::Absent | Status::MissingPunch => th.error,
        Status::Late | Status::LeftEarly | Status::LateLeftEarly => th.info,
        _ => th.muted,
    }
}

pub fn render_results(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let day = a.day(sh);
    let rows = a.result_rows(sh);
    // "2026-12-06 · 出勤 180 · 迟到 9 · 缺勤 2": the day's count of each status shown.
    let mut counts: Vec<(Status, usize)> = Vec::new();
    for r in &a.results {
        match counts.iter_mut().find(|(s, _)| *s == r.status.0) {
            Some(c) => c.1 += 1,
            None => counts.push((r.status.0, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| s.name());
    let mut name = day.to_string();
    for (s, n) in counts {
        name.push_str(&format!(" · {} {n}", s.words(lang)));
    }
    let cells: Vec<TableRow> = rows
        .iter()
        .map(|r| {
            let t = |p: Option<chrono::NaiveDateTime>| {
                p.map(|p| {
                    if p.date() == r.day {
                        p.format("%H:%M:%S").to_string()
                    } else {
                        p.format("%m-%d %H:%M").to_string()
                    }
                })
                .unwrap_or_default()
            };
            TableRow::new(vec![
                (r.person_no.clone(), Style::default()),
                (r.name.clone(), Style::default()),
                (r.department.clone(), Style::default()),
                (r.shift.clone(), th.muted),
                (
                    r.status.0.words(lang).to_string(),
                    status_style(r.status.0, th),
                ),
                (t(r.first_punch), Style::default()),
                // One punch is a first punch only.
                (
                    t(r.last_punch.filter(|_| r.punch_count > 1)),
                    Style::default(),
                ),
                (minutes(i64::from(r.late_min)), th.info),
                (minutes(i64::from(r.early_min)), th.info),
                (minutes(i64::from(r.overtime_min)), Style::default()),
                (minutes(i64::from(r.worked_min)), th.muted),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        body,
        view_title(lang, a, &name),
        &[
            "att.col.number",
            "att.col.name",
            "att.col.department",
            "att.col.shift",
            "att.col.status",
            "att.col.first",
            "att.col.last",
            "att.col.late",
            "att.col.early",
            "att.col.overtime",
            "att.col.worked",
        ],
        cells,
        &[6, 6, 6, 4, 6, 8, 8, 3, 3, 3, 3],
        Some(a.selected),
        empty(lang, a, a.loaded[a.view.slot()], !a.results.is_empty(), th),
        th,
    );
}

pub fn render_totals(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let (from, to) = closed_month(a.day(sh), sh.today()).unwrap_or_else(|| month_of(a.day(sh)));
    let per = match a.grouping {
        Grouping::Person => tr(lang, "att.per.person"),
        Grouping::Department => tr(lang, "att.per.department"),
    };
    let name = trf(
        lang,
        "att.totals_title",
        &[
            ("from", &from.to_string()),
            ("to", &to.to_string()),
            ("per", per),
        ],
    );
    let cells: Vec<TableRow> = a
        .total_rows()
        .iter()
        .map(|t| {
            let n = |v: i64| (minutes(v), Style::default());
            TableRow::new(vec![
                (t.key.clone(), Style::default()),
                (t.name.clone(), Style::default()),
                (t.department.clone(), th.muted),
                n(t.work_days),
                n(t.present),
                (minutes(t.late), th.info),
                (minutes(t.left_early), th.info),
                (minutes(t.absent), th.error),
                (minutes(t.missing_punch), th.error),
                n(t.leave + t.trip),
                n(t.late_min),
                n(t.overtime_min),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        body,
        view_title(lang, a, &name),
        &[
            "att.col.key",
            "att.col.name",
            "att.col.department",
            "att.col.work_days",
            "att.col.present",
            "att.col.late_days",
            "att.col.early_days",
            "att.col.absent",
            "att.col.missing",
            "att.col.leave",
            "att.col.late",
            "att.col.overtime",
        ],
        cells,
        &[6, 6, 6, 3, 3, 3, 3, 3, 3, 3, 3, 3],
        Some(a.selected),
        empty(lang, a, a.loaded[a.view.slot()], !a.totals.is_empty(), th),
        th,
    );
}

pub fn render_corrections(frame: &mut Frame, sh: &Shell, a: &Attendance, body: Rect, th: &Theme) {
    use crate::db::attendance::corrections::CorrectionKind as K;
    let lang = sh.lang;
    let (from, to) = month_of(a.day(sh));
    let name = trf(
        lang,
        "att.corrections_title",
        &[("from", &from.to_string()), ("to", &to.to_string())],
    );
    let span = |f: chrono::NaiveDateTime, t: chrono::NaiveDateTime| {
        format!("{} – {}", f.format("%m-%d %H:%M"), t.format("%m-%d %H:%M"))
    };
    let cells: Vec<TableRow> = a
        .correction_rows()
        .iter()
        .map(|c| {
            let (what, when_) = match &c.kind {
                K::Punch { at } => (
                    tr(lang, "att.correction.punch").to_string(),
                    at.format("%m-%d %H:%M").to_string(),
                ),
                K::Leave {
                    from,
                    to,
                    leave_type,
                } => {
                    let mut w = tr(lang, "att.correction.leave").to_string();
                    if let Some(t) = leave_type {
                        w.push_str(&format!(" ({t})"));
                    }
                    (w, span(*from, *to))
                }
                K::Trip { from, to } => (
                    tr(lang, "att.correction.trip").to_string(),
                    span(*from, *to),
                ),
            };
            let style = if c.revoked.is_some() {
                th.muted
            } else {
                Style::default()
            };
            let state = match &c.revoked {
                Some((at, by, why)) => trf(
                    lang,
                    "att.revoked_by",
                    &[("by", by), ("at", &when(sh, *at)), ("why", why)],
                ),
                None => String::new(),
            };
            TableRow::new(vec![
                (c.id.to_string(), style),
                (c.person_no.clone(), style),
                (c.person_name.clone(), style),
                (what, style),
                (when_, style),
                (c.reason.clone(), style),
                (format!("{} · {}", c.made_by, when(sh, c.made_at)), th.muted),
                (state, th.muted),
            ])
        })
        .collect();
    grid(
        frame,
        lang,
        body,
        view_title(lang, a, &name),
        &[
            "att.col.id",
            "att.col.number",
            "att.col.name",
            "att.col.correction",
            "att.col.when",
            "att.col.reason",
            "att.col.made_by",
            "att.col.revoked",
        ],
        cells,
        &[3, 6, 6, 4, 10, 6, 8, 4],
        Some(a.selected),
        empty(
            lang,
            a,
            a.loaded[a.view.slot()],
            !a.corrections.is_empty(),
            th,
        ),
        th,
    );
}

pub fn render_form(frame: &mut Frame, lang: Lang, f: &AttForm, body: Rect, th: &Theme) {
    macro_rules! popup {
        ($form:expr, $width:expr) => {
            crate::ui::form::render(
                frame,
                lang,
                $form,
                &Placement {
                    width: $width,
                    title: $form.title.clone(),
                    keys: popup_keys(lang, $form),
                },
                body,
                th,
            )
        };
    }
    match f {
        AttForm::Correct(form) => popup!(form, 70),
        AttForm::Revoke { form, .. } => popup!(form, 64),
        AttForm::Export { form, .. } => popup!(form, 64),
        AttForm::Import { form, .. } => popup!(form, 72),
    }
}
