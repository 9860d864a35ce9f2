//! The card desk's popups: its forms, the PINs shown once, and a person import's dry run (what
//! it would change) and progress.

use crate::app::state::Shell;
use crate::app::tabs::cards::{change_rows, Cards, PinNote, Popup};
use crate::app::words;
use crate::i18n::{tr, trf};
use crate::ui::form::{popup_keys, Placement};
use crate::ui::theme::Theme;
use crate::ui::widgets::{centered, clear_popup, fit, wrap};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, sh: &Shell, c: &Cards, body: Rect, th: &Theme) {
    match &c.popup {
        Some(Popup::Form(f)) => crate::ui::form::render(
            frame,
            sh.lang,
            &f.form,
            &Placement {
                width: 84,
                title: f.form.title.clone(),
                keys: popup_keys(sh.lang, &f.form),
            },
            body,
            th,
        ),
        Some(Popup::Pins(note)) => render_pins(frame, sh, note, body, th),
        Some(Popup::Import) => render_import(frame, sh, c, body, th),
        Some(Popup::Statement(v)) => super::statement::render(frame, sh, v, body, th),
        None => {}
    }
}

fn render_pins(frame: &mut Frame, sh: &Shell, note: &PinNote, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let title = trf(
        lang,
        "card.pins.title",
        &[
            ("card", &note.card_no.to_string()),
            ("name", &note.person_name),
        ],
    );
    let width = (title.width() as u16 + 6).clamp(52, body.width);
    let inner = width.saturating_sub(2) as usize;
    let mut lines = vec![Line::raw("")];
    let label_w = note
        .pins
        .iter()
        .map(|(k, _)| tr(lang, k).width())
        .max()
        .unwrap_or(0)
        + 2;
    for (label, pin) in &note.pins {
        lines.push(Line::from(vec![
            Span::styled(format!("  {}", fit(tr(lang, label), label_w)), th.header),
            Span::styled(format!(" {pin} "), th.badge),
        ]));
    }
    lines.push(Line::raw(""));
    for l in wrap(tr(lang, "card.pins.once"), inner) {
        lines.push(Line::from(Span::styled(l, th.error)));
    }
    lines.push(Line::from(Span::styled(
        tr(lang, "card.pins.keys"),
        th.muted,
    )));
    let height = lines.len() as u16 + 2;
    let popup = centered(body, width, height);
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.error)
        .title(Span::styled(format!(" {title} "), th.title))
        .style(th.base);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn render_import(frame: &mut Frame, sh: &Shell, c: &Cards, body: Rect, th: &Theme) {
    let lang = sh.lang;
    let Some(import) = &c.import else {
        return;
    };
    let title = trf(lang, "card.import.title", &[("path", &import.path)]);
    let p = &import.preview;
    let changes = words::import_changes(lang, p);
    let widest = changes
        .iter()
        .map(|l| l.text().width() + 4)
        .max()
        .unwrap_or(0);
    let width = ((title.width() + 6).max(widest).max(56) as u16).min(body.width);
    let inner = width.saturating_sub(2) as usize;
    let mut lines = vec![
        Line::from(Span::styled(
            tr(
                lang,
                if import.progress.is_some() {
                    "card.import.running"
                } else {
                    "card.import.dry_run"
                },
            ),
            th.muted,
        )),
        Line::raw(""),
        Line::from(vec![
            Span::styled(format!("  {} ", tr(lang, "card.import.new")), th.header),
            Span::styled(format!("{:<8}", p.new), th.info),
            Span::styled(format!("{} ", tr(lang, "card.import.updated")), th.header),
            Span::styled(format!("{:<8}", p.updated), th.base),
            Span::styled(format!("{} ", tr(lang, "card.import.unchanged")), th.header),
            Span::styled(p.unchanged.to_string(), th.muted),
        ]),
        Line::raw(""),
    ];
    if p.left_holding_cards > 0 {
        let text = trf(
            lang,
            "card.import.left_holding",
            &[("n", &p.left_holding_cards.to_string())],
        );
        for l in wrap(&text, inner) {
            lines.push(Line::from(Span::styled(l, th.header)));
        }
        lines.push(Line::raw(""));
    }
    let mut tail = Vec::new();
    match import.progress {
        Some((done, total)) => {
            let bar = inner.saturating_sub(16).max(4);
            let filled = if total == 0 {
                0
            } else {
                ((done.min(total) as f64 / total as f64) * bar as f64).round() as usize
            };
            tail.push(Line::from(vec![
                Span::styled(format!("  {}", "█".repeat(filled)), th.info),
                Span::styled("░".repeat(bar - filled), th.muted),
                Span::styled(format!(" {done}/{total}"), th.base),
            ]));
            tail.push(Line::raw(""));
            tail.push(Line::from(Span::styled(
                tr(lang, "card.import.wait"),
                th.muted,
            )));
        }
        None => tail.push(Line::from(Span::styled(
            tr(lang, "card.import.keys"),
            th.title,
        ))),
    }
    // The changes take what room is left, from the line scrolled to; a line under them says
    // which are shown when not all fit.
    if !changes.is_empty() {
        let n = changes.len();
        let rows = change_rows(body.height).min(n);
        let fits = rows == n;
        let from = import.scroll.min(n - rows);
        for l in &changes[from..(from + rows).min(n)] {
            lines.push(match l {
                words::ImportLine::Heading(t) => Line::from(Span::styled(fit(t, inner), th.title)),
                words::ImportLine::Item(t) => {
                    Line::from(Span::styled(fit(&format!("  {t}"), inner), th.base))
                }
                words::ImportLine::Change(t) => {
                    Line::from(Span::styled(fit(&format!("      {t}"), inner), th.info))
                }
            });
        }
        if !fits {
            lines.push(Line::from(Span::styled(
                trf(
                    lang,
                    "card.import.shown",
                    &[
                        ("from", &(from + 1).to_string()),
                        ("to", &(from + rows).min(n).to_string()),
                        ("n", &n.to_string()),
                    ],
                ),
                th.muted,
            )));
        }
        lines.push(Line::raw(""));
    }
    lines.extend(tail);
    let height = (lines.len() as u16 + 2).min(body.height);
    let popup = centered(body, width, height);
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", fit(&title, inner.saturating_sub(2)).trim_end()),
            th.title,
        ))
        .style(th.base);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
