//! The one form renderer: every form (sign-in screens and popups) is drawn here.

use super::theme::Theme;
use super::widgets::{centered, clear_popup, fit, input_spans, wrap};
use crate::app::form::{FieldId, Form, Input};
use crate::i18n::{tr, Lang};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

/// How a form sits on screen.
pub struct Placement {
    /// Popup width at most (clipped to the body).
    pub width: u16,
    pub title: String,
    /// The key line at the bottom ("enter: submit · esc: cancel").
    pub keys: String,
}

/// A multi-select on one line: `[x] 全部门禁  [ ] 图书馆`, scrolled to keep the cursor in view.
fn multi_spans(
    lang: Lang,
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
            fit(tr(lang, "card.form.none_to_pick"), width),
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

/// Draws `form` in a popup centred in `body`.
pub fn render<F: FieldId>(
    frame: &mut Frame,
    lang: Lang,
    form: &Form<F>,
    how: &Placement,
    body: Rect,
    th: &Theme,
) {
    let width = body.width.min(how.width).max(40.min(body.width));
    let inner = width.saturating_sub(2) as usize;
    let label_w = form
        .fields
        .iter()
        .map(|f| tr(lang, f.id.label()).width())
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
    let first_field = lines.len();
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.focus && !form.busy;
        let label = Span::styled(
            fit(tr(lang, field.id.label()), label_w),
            if focused { th.title } else { th.base },
        );
        let style = if focused { th.input_focus } else { th.input };
        let value: Vec<Span> = match &field.input {
            Input::Text(t) => input_spans(t, false, value_w, focused, style),
            Input::Secret(t) => input_spans(t, true, value_w, focused, style),
            Input::Choice { options, at } => {
                let text = options.get(*at).map(|o| o.label.as_str()).unwrap_or("—");
                vec![Span::styled(fit(&format!("◂ {text} ▸"), value_w), style)]
            }
            Input::Multi { .. } => multi_spans(lang, &field.input, value_w, focused, th),
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
            let wrapped: Vec<String> = e.lines().flat_map(|l| wrap(l, inner)).collect();
            for l in wrapped.into_iter().take(6) {
                lines.push(Line::from(Span::styled(l, th.error)));
            }
        }
        (None, _) => {}
    }
    lines.push(Line::from(Span::styled(fit(&how.keys, inner), th.muted)));
    let height = (lines.len() as u16 + 2).min(body.height);
    let popup = centered(body, width, height);
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(format!(" {} ", how.title), th.title))
        .style(th.base);
    // Keep the focused field in sight when the form is taller than the screen.
    let focus_line = (first_field + form.focus) as u16;
    let room = height.saturating_sub(2);
    let scroll = (focus_line + 2).saturating_sub(room);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

/// The key line for a popup form: pickers add the keys that change them.
pub fn popup_keys<F: FieldId>(lang: Lang, form: &Form<F>) -> String {
    let pickers = form
        .fields
        .iter()
        .any(|f| matches!(f.input, Input::Choice { .. } | Input::Multi { .. }));
    tr(
        lang,
        if pickers {
            "card.form.keys_pick"
        } else {
            "card.form.keys"
        },
    )
    .to_string()
}
