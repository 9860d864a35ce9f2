//! The login, first-run and password screens, and the edit popups over a tab.

use super::theme::Theme;
use super::{centered, clear_popup, fit};
use crate::app::state::{Form, FormKind, State};
use crate::i18n::{tr, trf};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

const LABEL: usize = 18;
const INPUT: usize = 30;

/// The last `width` display columns of `s`: the end of a long value, where the cursor is.
fn tail(s: &str, width: usize) -> String {
    let mut used = 0;
    let mut out: Vec<char> = Vec::new();
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.into_iter().rev().collect()
}

/// Names the terminal being edited by what does not change here: its address and line.
fn terminal_intro(state: &State, terminal_id: i64) -> String {
    let (address, line) = match state.terminal(terminal_id) {
        Some(t) => (
            t.address.to_string(),
            state
                .line(t.line_id)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| format!("#{}", t.line_id)),
        ),
        None => (format!("#{terminal_id}"), "—".to_string()),
    };
    trf(
        state.lang,
        "form.intro.terminal_edit",
        &[("address", &address), ("line", &line)],
    )
}

pub fn render(frame: &mut Frame, state: &State, form: &Form, body: Rect, th: &Theme) {
    let lang = state.lang;
    let (title, intro) = match form.kind {
        FormKind::Login => ("form.title.login", tr(lang, "form.intro.login").to_string()),
        FormKind::FirstRun => (
            "form.title.first_run",
            tr(lang, "form.intro.first_run").to_string(),
        ),
        FormKind::ChangePassword { forced: true } => (
            "form.title.change_password",
            tr(lang, "form.intro.must_change").to_string(),
        ),
        FormKind::ChangePassword { forced: false } => (
            "form.title.change_password",
            tr(lang, "form.intro.change_password").to_string(),
        ),
        FormKind::TerminalEdit { terminal_id } => (
            "form.title.terminal_edit",
            terminal_intro(state, terminal_id),
        ),
    };
    let height = form.fields.len() as u16 * 2 + 8;
    let popup = centered(body, 60, height);
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            match form.kind {
                // A popup over a tab: onecard is all around it already.
                FormKind::TerminalEdit { .. } => format!(" {} ", tr(lang, title)),
                _ => format!(" onecard · {} ", tr(lang, title)),
            },
            th.title,
        ))
        .style(th.base);
    let mut lines = vec![Line::from(Span::styled(intro, th.muted)), Line::raw("")];
    for (i, field) in form.fields.iter().enumerate() {
        let shown = if field.secret {
            "•".repeat(field.value.chars().count())
        } else {
            field.value.clone()
        };
        let focused = i == form.focus;
        let cursor = if focused && !form.busy { "▏" } else { " " };
        let mut value = format!("{shown}{cursor}");
        if focused {
            // Typing goes on at the end: keep the end in sight.
            value = tail(&value, INPUT);
        }
        lines.push(Line::from(vec![
            Span::styled(
                fit(tr(lang, field.label), LABEL),
                if focused { th.title } else { th.base },
            ),
            Span::styled(
                fit(&value, INPUT),
                if focused { th.input_focus } else { th.input },
            ),
        ]));
        lines.push(Line::raw(""));
    }
    match (&form.error, form.busy) {
        (_, true) => lines.push(Line::from(Span::styled(tr(lang, "form.busy"), th.muted))),
        (Some(e), _) => lines.push(Line::from(Span::styled(e.clone(), th.error))),
        (None, _) => lines.push(Line::raw("")),
    }
    let keys = match form.kind {
        FormKind::Login | FormKind::FirstRun => {
            trf(lang, "form.keys", &[("esc", tr(lang, "form.esc_quit"))])
        }
        FormKind::ChangePassword { forced: true } => {
            trf(lang, "form.keys", &[("esc", tr(lang, "form.esc_logout"))])
        }
        FormKind::ChangePassword { forced: false } => {
            trf(lang, "form.keys", &[("esc", tr(lang, "form.esc_back"))])
        }
        FormKind::TerminalEdit { .. } => tr(lang, "form.keys_edit").to_string(),
    };
    lines.push(Line::from(Span::styled(keys, th.muted)));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
