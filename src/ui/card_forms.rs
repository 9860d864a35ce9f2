//! The card desk's popups: its forms (text, choices, multi-selects), the PINs shown once, and a
//! person import's dry run and progress.

use super::theme::Theme;
use super::{centered, clear_popup, fit};
use crate::app::cards::{CardForm, Input, PinNote};
use crate::app::state::State;
use crate::i18n::{tr, trf};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

/// The end of a value that does not fit, where typing goes on.
fn tail(s: &str, width: usize) -> String {
    let mut used = 0;
    let mut out: Vec<char> = Vec::new();
    for c in s.chars().rev() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.into_iter().rev().collect()
}

/// Lines of `text` wrapped to `width` display columns (for the intro; CJK has no spaces).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split_inclusive(' ') {
        let w = word.width();
        if used + w > width && !line.is_empty() {
            lines.push(line.trim_end().to_string());
            line.clear();
            used = 0;
        }
        if w > width {
            // A long run without spaces (Chinese): cut by characters.
            for c in word.chars() {
                let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if used + cw > width {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        } else {
            line.push_str(word);
            used += w;
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// A multi-select on one line: `[x] 全部门禁  [ ] 图书馆`, scrolled to keep the cursor in view.
fn multi_spans(
    state: &State,
    input: &Input,
    width: usize,
    focused: bool,
    th: &Theme,
) -> Vec<Span<'static>> {
    let Input::Multi {
        options,
        checked,
        cursor,
    } = input
    else {
        return vec![];
    };
    if options.is_empty() {
        return vec![Span::styled(
            fit(tr(state.lang, "card.form.none_to_pick"), width),
            th.muted,
        )];
    }
    let items: Vec<String> = options
        .iter()
        .zip(checked)
        .map(|(o, c)| format!("[{}] {}", if *c { "x" } else { " " }, o.label))
        .collect();
    // The first item shown: as far right as needed for the cursor's item to fit.
    let mut first = 0;
    loop {
        let used: usize = items[first..=*cursor.min(&(items.len() - 1))]
            .iter()
            .map(|s| s.width() + 2)
            .sum();
        if used <= width.saturating_sub(2) || first >= *cursor {
            break;
        }
        first += 1;
    }
    let mut spans = Vec::new();
    let mut used = 0;
    if first > 0 {
        spans.push(Span::styled("‹ ", th.muted));
        used += 2;
    }
    for (i, item) in items.iter().enumerate().skip(first) {
        let w = item.width() + 2;
        if used + w > width {
            if used < width {
                spans.push(Span::styled("›", th.muted));
                used += 1;
            }
            break;
        }
        let style = if focused && i == *cursor {
            th.input_focus
        } else if checked[i] {
            th.base
        } else {
            th.muted
        };
        spans.push(Span::styled(item.clone(), style));
        spans.push(Span::raw("  "));
        used += w;
    }
    spans.push(Span::raw(" ".repeat(width.saturating_sub(used))));
    spans
}

pub fn render_form(frame: &mut Frame, state: &State, form: &CardForm, body: Rect, th: &Theme) {
    let lang = state.lang;
    let width = body.width.min(84).max(40.min(body.width));
    let inner = width.saturating_sub(2) as usize;
    let label_w = form
        .fields
        .iter()
        .map(|f| tr(lang, f.label).width())
        .max()
        .unwrap_or(0)
        .min(inner / 3)
        + 1;
    let value_w = inner.saturating_sub(label_w);
    let mut lines: Vec<Line> = Vec::new();
    for text in &form.intro {
        for l in wrap(text, inner) {
            lines.push(Line::from(Span::styled(l, th.muted)));
        }
    }
    if !form.intro.is_empty() {
        lines.push(Line::raw(""));
    }
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.focus && !form.busy;
        let label = Span::styled(
            fit(tr(lang, field.label), label_w),
            if focused { th.title } else { th.base },
        );
        let value: Vec<Span> = match &field.input {
            Input::Text(s) | Input::Secret(s) => {
                let shown = match &field.input {
                    Input::Secret(_) => "•".repeat(s.chars().count()),
                    _ => s.clone(),
                };
                let mut v = format!("{shown}{}", if focused { "▏" } else { " " });
                if focused {
                    v = tail(&v, value_w);
                }
                vec![Span::styled(
                    fit(&v, value_w),
                    if focused { th.input_focus } else { th.input },
                )]
            }
            Input::Choice { options, at } => {
                let text = options.get(*at).map(|o| o.label.as_str()).unwrap_or("—");
                vec![Span::styled(
                    fit(&format!("◂ {text} ▸"), value_w),
                    if focused { th.input_focus } else { th.input },
                )]
            }
            Input::Multi { .. } => multi_spans(state, &field.input, value_w, focused, th),
            Input::Shown(s) => vec![Span::styled(fit(s, value_w), th.header)],
        };
        let mut spans = vec![label];
        spans.extend(value);
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    match (&form.error, form.busy) {
        (_, true) => lines.push(Line::from(Span::styled(tr(lang, "form.busy"), th.muted))),
        (Some(e), _) => {
            // An import's refusal names its bad rows, one a line: show the first few.
            let wrapped: Vec<String> = e.lines().flat_map(|l| wrap(l, inner)).collect();
            for l in wrapped.into_iter().take(6) {
                lines.push(Line::from(Span::styled(l, th.error)));
            }
        }
        (None, _) => {}
    }
    let has_pickers = form
        .fields
        .iter()
        .any(|f| matches!(f.input, Input::Choice { .. } | Input::Multi { .. }));
    let keys = if has_pickers {
        tr(lang, "card.form.keys_pick")
    } else {
        tr(lang, "card.form.keys")
    };
    lines.push(Line::from(Span::styled(fit(keys, inner), th.muted)));
    let height = (lines.len() as u16 + 2).min(body.height);
    let popup = centered(body, width, height);
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(format!(" {} ", form.title), th.title))
        .style(th.base);
    // Keep the focused field in sight when the form is taller than the screen.
    let focus_line = form.intro.len() as u16 + 1 + form.focus as u16;
    let room = height.saturating_sub(2);
    let scroll = (focus_line + 2).saturating_sub(room);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

pub fn render_pins(frame: &mut Frame, state: &State, note: &PinNote, body: Rect, th: &Theme) {
    let lang = state.lang;
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

pub fn render_import(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    let lang = state.lang;
    let Some(import) = &state.cards.import else {
        return;
    };
    let title = trf(lang, "card.import.title", &[("path", &import.path)]);
    let width = (title.width() as u16 + 6).clamp(56, body.width);
    let inner = width.saturating_sub(2) as usize;
    let p = &import.preview;
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
    match import.progress {
        Some((done, total)) => {
            let bar = inner.saturating_sub(16).max(4);
            let filled = if total == 0 {
                0
            } else {
                ((done.min(total) as f64 / total as f64) * bar as f64).round() as usize
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {}", "█".repeat(filled)), th.info),
                Span::styled("░".repeat(bar - filled), th.muted),
                Span::styled(format!(" {done}/{total}"), th.base),
            ]));
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled(
                tr(lang, "card.import.wait"),
                th.muted,
            )));
        }
        None => lines.push(Line::from(Span::styled(
            tr(lang, "card.import.keys"),
            th.title,
        ))),
    }
    let height = lines.len() as u16 + 2;
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
