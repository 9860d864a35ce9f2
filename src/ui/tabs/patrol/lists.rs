//! The Patrol tab's lists: open exceptions and their history, the omission report (totals,
//! due visits, scan findings) and the setup lists.

use crate::app::state::Shell;
use crate::app::tabs::patrol::setup::{days_text, List};
use crate::app::tabs::patrol::Patrol;
use crate::app::words;
use crate::db::patrol::VisitClass;
use crate::i18n::{tr, trf, Lang};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, column_widths, fit_columns, table, TableRow};
use crate::ui::{command_line, local, when};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// A row's cells, each with its style.
type Cells = Vec<(String, Style)>;

fn headers(lang: Lang, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| tr(lang, &format!("patrol.col.{k}")).to_string())
        .collect()
}

/// A table of plain text rows fitted to `area`.
#[allow(clippy::too_many_arguments)]
fn list(
    frame: &mut Frame,
    area: Rect,
    title: String,
    heads: Vec<String>,
    cells: Vec<Vec<(String, Style)>>,
    selected: Option<usize>,
    empty: &str,
    th: &Theme,
) {
    let texts: Vec<Vec<String>> = cells
        .iter()
        .map(|r| r.iter().map(|(t, _)| t.clone()).collect())
        .collect();
    let mut widths = column_widths(&heads, &texts);
    let min = vec![4; widths.len()];
    fit_columns(&mut widths, &min, area.width.saturating_sub(2) as usize, 1);
    let rows = cells.into_iter().map(TableRow::new).collect();
    let title = Span::styled(
        format!(" {} ", clip(&title, area.width.saturating_sub(4) as usize)),
        th.title,
    );
    table(
        frame,
        area,
        block(title, th),
        &heads,
        &widths,
        rows,
        selected,
        Some(Line::from(Span::styled(empty.to_string(), th.muted))),
        th,
    );
}

fn class_style(c: VisitClass, th: &Theme) -> Style {
    use ratatui::style::Color;
    match c {
        VisitClass::OnTime => th.base,
        VisitClass::Early => Style::default().fg(Color::Cyan),
        VisitClass::Late => Style::default().fg(Color::Yellow),
        VisitClass::Missed => th.error,
        VisitClass::Pending => th.muted,
    }
}

pub fn exceptions(frame: &mut Frame, sh: &Shell, p: &Patrol, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let e = &p.exceptions;
    let top = (body.height * 3 / 5).max(5).min(body.height);
    let open_area = Rect::new(body.x, body.y, body.width, top);
    let hist_area = Rect::new(body.x, body.y + top, body.width, body.height - top);
    let t = |at| local(sh, at, "%m-%d %H:%M");
    let open: Vec<Vec<(String, Style)>> = e
        .open
        .iter()
        .map(|x| {
            let class = words::patrol_exception(lang, x.class);
            vec![
                (class, th.error),
                (format!("{} {}", x.checkpoint_tag, x.checkpoint), th.base),
                (x.guard.clone(), th.base),
                (x.route.clone(), th.base),
                (t(x.due), th.base),
                (x.scanned_at.map(t).unwrap_or_default(), th.base),
            ]
        })
        .collect();
    list(
        frame,
        open_area,
        trf(
            lang,
            "patrol.exceptions.title",
            &[("n", &e.open.len().to_string())],
        ),
        headers(
            lang,
            &["class", "checkpoint", "guard", "route", "due", "scanned"],
        ),
        open,
        (!e.open.is_empty()).then_some(e.at),
        tr(lang, "patrol.exceptions.none"),
        th,
    );
    let hist: Vec<Vec<(String, Style)>> = e
        .history
        .iter()
        .map(|x| {
            vec![
                (x.closed_at.map(t).unwrap_or_default(), th.base),
                (x.closed_by.clone().unwrap_or_default(), th.base),
                (format!("{} {}", x.checkpoint_tag, x.checkpoint), th.base),
                (words::patrol_exception(lang, x.class), th.muted),
                (x.comment.clone().unwrap_or_default(), th.base),
            ]
        })
        .collect();
    list(
        frame,
        hist_area,
        tr(lang, "patrol.history.title").to_string(),
        headers(lang, &["closed", "by", "checkpoint", "class", "comment"]),
        hist,
        None,
        tr(lang, "patrol.history.none"),
        th,
    );
}

pub fn omissions(frame: &mut Frame, sh: &Shell, p: &Patrol, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let o = &p.omissions;
    let t = |at| local(sh, at, "%m-%d %H:%M");
    let (totals, all) = o.totals();
    let pct = |c: &crate::db::patrol::omissions::Counts| {
        c.compliance()
            .map(|v| format!("{v:.1}%"))
            .unwrap_or_else(|| "—".into())
    };
    // The summary: range, filters, grouping, all totals.
    let mut summary = match &o.range {
        Some(r) => trf(
            lang,
            "patrol.report.range",
            &[("from", &t(r.from)), ("to", &t(r.to))],
        ),
        None => String::new(),
    };
    if let Some(r) = &o.range {
        if !r.guard.is_empty() {
            summary.push_str(&trf(lang, "patrol.report.guard", &[("name", &r.guard)]));
        }
        if !r.route.is_empty() {
            summary.push_str(&trf(lang, "patrol.report.route", &[("name", &r.route)]));
        }
    }
    let counts = trf(
        lang,
        "patrol.report.counts",
        &[
            ("visits", &all.visits.to_string()),
            ("on_time", &all.on_time.to_string()),
            ("early", &all.early.to_string()),
            ("late", &all.late.to_string()),
            ("missed", &all.missed.to_string()),
            ("pct", &pct(&all)),
        ],
    );
    let head = Rect::new(body.x, body.y, body.width, 2.min(body.height));
    let w = body.width as usize;
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(clip(&summary, w), th.header)),
            Line::from(Span::styled(clip(&counts, w), th.base)),
        ]),
        head,
    );
    let rest = Rect::new(
        body.x,
        body.y + head.height,
        body.width,
        body.height - head.height,
    );
    let (totals_area, visits_area, findings_area) = if rest.width >= 120 {
        let left = rest.width * 2 / 5;
        let th_ = rest.height / 2;
        (
            Rect::new(rest.x, rest.y, left, th_),
            Rect::new(rest.x + left, rest.y, rest.width - left, rest.height),
            Rect::new(rest.x, rest.y + th_, left, rest.height - th_),
        )
    } else {
        let a = (rest.height / 3).max(4).min(rest.height);
        let c = (rest.height / 4).max(4).min(rest.height - a);
        let b = rest.height - a - c;
        (
            Rect::new(rest.x, rest.y, rest.width, a),
            Rect::new(rest.x, rest.y + a, rest.width, b),
            Rect::new(rest.x, rest.y + a + b, rest.width, c),
        )
    };
    let total_rows: Vec<Vec<(String, Style)>> = totals
        .iter()
        .map(|x| {
            let c = &x.counts;
            vec![
                (x.key.clone(), th.base),
                (c.visits.to_string(), th.base),
                (c.on_time.to_string(), th.base),
                (c.early.to_string(), th.base),
                (c.late.to_string(), th.base),
                (c.missed.to_string(), th.base),
                (pct(c), th.header),
            ]
        })
        .collect();
    list(
        frame,
        totals_area,
        trf(
            lang,
            "patrol.report.totals",
            &[("by", words::patrol_grouping(lang, o.grouping()))],
        ),
        headers(
            lang,
            &[
                "key",
                "visits",
                "on_time",
                "early",
                "late",
                "missed",
                "compliance",
            ],
        ),
        total_rows,
        None,
        tr(lang, "patrol.report.none"),
        th,
    );
    let visits = o
        .report
        .as_ref()
        .map(|r| r.visits.as_slice())
        .unwrap_or(&[]);
    let visit_rows: Vec<Vec<(String, Style)>> = visits
        .iter()
        .map(|v| {
            let mut scanned = v.scanned_at.map(t).unwrap_or_default();
            if let Some(d) = v.drift_s.filter(|d| *d != 0) {
                scanned = format!("{scanned} ({})", words::patrol_drift(lang, d));
            }
            vec![
                (
                    words::patrol_class(lang, v.class).to_string(),
                    class_style(v.class, th),
                ),
                (v.guard.clone(), th.base),
                (v.route.clone(), th.base),
                (format!("{} {}", v.checkpoint_tag, v.checkpoint), th.base),
                (t(v.due), th.base),
                (scanned, th.base),
            ]
        })
        .collect();
    list(
        frame,
        visits_area,
        trf(
            lang,
            "patrol.report.visits",
            &[("n", &visits.len().to_string())],
        ),
        headers(
            lang,
            &["class", "guard", "route", "checkpoint", "due", "scanned"],
        ),
        visit_rows,
        (!visits.is_empty()).then_some(o.at),
        tr(lang, "patrol.report.none"),
        th,
    );
    let findings: Vec<Vec<(String, Style)>> = o
        .report
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| {
            f.class != crate::db::patrol::omissions::ScanClass::Matched
                || f.clock_suspect
                || f.too_fast
        })
        .map(|f| {
            let mut what = words::patrol_scan_class(lang, f.class).to_string();
            if f.clock_suspect {
                what.push_str(" · ");
                what.push_str(tr(lang, "patrol.scan.clock_suspect"));
            }
            if f.too_fast {
                what.push_str(" · ");
                what.push_str(tr(lang, "patrol.scan.too_fast"));
            }
            vec![
                (what, th.header),
                (
                    f.guard.clone().unwrap_or_else(|| f.guard_card.to_string()),
                    th.base,
                ),
                (
                    match &f.checkpoint {
                        Some(n) => format!("{} {n}", f.checkpoint_tag),
                        None => f.checkpoint_tag.to_string(),
                    },
                    th.base,
                ),
                (f.scanned_at.map(t).unwrap_or_default(), th.base),
                (
                    if f.drift_s != 0 {
                        words::patrol_drift(lang, f.drift_s)
                    } else {
                        String::new()
                    },
                    th.muted,
                ),
            ]
        })
        .collect();
    list(
        frame,
        findings_area,
        tr(lang, "patrol.report.findings").to_string(),
        headers(
            lang,
            &["finding", "guard", "checkpoint", "scanned", "drift"],
        ),
        findings,
        None,
        tr(lang, "patrol.report.no_findings"),
        th,
    );
}

pub fn setup(frame: &mut Frame, sh: &Shell, p: &Patrol, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let s = &p.setup;
    let d = &s.data;
    let mut spans = Vec::new();
    for l in List::ALL {
        let style = if l == s.list { th.tab_active } else { th.tab };
        spans.push(Span::styled(
            format!(" {} ", tr(lang, &format!("patrol.list.{}", l.key()))),
            style,
        ));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)),
        Rect::new(body.x, body.y, body.width, 1),
    );
    let area = Rect::new(
        body.x,
        body.y + 1,
        body.width,
        body.height.saturating_sub(1),
    );
    let b = th.base;
    let secs = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".into());
    let yes = |v: bool| tr(lang, if v { "patrol.yes" } else { "patrol.no" }).to_string();
    let (heads, rows): (Vec<&str>, Vec<Cells>) = match s.list {
        List::Checkpoints => (
            vec!["tag", "name", "location", "early", "late", "place"],
            d.checkpoints
                .iter()
                .map(|c| {
                    vec![
                        (c.tag.to_string(), b),
                        (c.name.clone(), b),
                        (c.location.clone(), b),
                        (secs(c.early_s), b),
                        (secs(c.late_s), b),
                        (
                            c.place
                                .map(|(m, x, y)| format!("#{m} ({x:.0}, {y:.0})"))
                                .unwrap_or_else(|| tr(lang, "patrol.detail.unplaced").into()),
                            th.muted,
                        ),
                    ]
                })
                .collect(),
        ),
        List::Routes => (
            vec!["name", "points", "any_order", "early", "late", "online"],
            d.routes
                .iter()
                .map(|r| {
                    let points = r
                        .points
                        .iter()
                        .map(|p| format!("{}:{}", p.checkpoint_tag, p.offset_s / 60))
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        (r.name.clone(), b),
                        (points, b),
                        (yes(r.any_order), b),
                        (r.early_s.to_string(), b),
                        (r.late_s.to_string(), b),
                        (yes(r.online), b),
                    ]
                })
                .collect(),
        ),
        List::Guards => (
            vec!["card", "name", "group"],
            d.guards
                .iter()
                .map(|g| {
                    vec![
                        (g.card.to_string(), b),
                        (g.name.clone(), b),
                        (g.group_id.map(|i| s.group_name(i)).unwrap_or_default(), b),
                    ]
                })
                .collect(),
        ),
        List::Readers => (
            vec![
                "reader", "status", "drift_s", "waiting", "contact", "command",
            ],
            d.readers
                .iter()
                .map(|t| {
                    let drift = t
                        .clock_drift_s
                        .map(|d| format!("{d:+} s"))
                        .unwrap_or_else(|| "—".into());
                    vec![
                        (t.name.clone(), b),
                        (words::terminal_status(lang, &t.status), b),
                        (drift, b),
                        (t.records_waiting.to_string(), b),
                        (
                            t.last_contact.map(|at| when(sh, at)).unwrap_or_default(),
                            th.muted,
                        ),
                        (command_line(sh, t.id).unwrap_or_default(), th.muted),
                    ]
                })
                .collect(),
        ),
        List::Groups => (
            vec!["name"],
            d.groups.iter().map(|g| vec![(g.name.clone(), b)]).collect(),
        ),
        List::Schedules => (
            vec!["route", "who", "shift", "days", "starts", "every", "valid"],
            d.schedules
                .iter()
                .map(|x| {
                    let who = match (x.guard_id, x.group_id) {
                        (Some(g), _) => s.guard_name(g),
                        (None, Some(g)) => s.group_name(g),
                        _ => String::new(),
                    };
                    let valid = match x.valid_to {
                        Some(to) => format!("{} – {to}", x.valid_from),
                        None => format!("{} –", x.valid_from),
                    };
                    vec![
                        (s.route_name(x.route_id), b),
                        (who, b),
                        (x.shift.clone(), b),
                        (days_text(x.dow_mask), b),
                        (
                            format!(
                                "{}–{}",
                                x.first_start.format("%H:%M"),
                                x.last_start.format("%H:%M")
                            ),
                            b,
                        ),
                        (x.every_min.to_string(), b),
                        (valid, th.muted),
                    ]
                })
                .collect(),
        ),
    };
    let n = rows.len();
    list(
        frame,
        area,
        trf(
            lang,
            "patrol.setup.title",
            &[
                ("list", tr(lang, &format!("patrol.list.{}", s.list.key()))),
                ("n", &n.to_string()),
            ],
        ),
        headers(lang, &heads),
        rows,
        (n > 0).then_some(s.at),
        tr(lang, "patrol.setup.none"),
        th,
    );
}
