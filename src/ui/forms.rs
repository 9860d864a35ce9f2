//! The login, first-run and password screens.

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::{Form, FormKind, State};
use crate::i18n::{tr, trf};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

const LABEL: usize = 18;
const INPUT: usize = 30;

pub fn render(frame: &mut Frame, state: &State, form: &Form, body: Rect, th: &Theme) {
    let lang = state.lang;
    let (title, intro) = match form.kind {
        FormKind::Login => ("form.title.login", "form.intro.login"),
        FormKind::FirstRun => ("form.title.first_run", "form.intro.first_run"),
        FormKind::ChangePassword { forced: true } => {
            ("form.title.change_password", "form.intro.must_change")
        }
        FormKind::ChangePassword { forced: false } => {
            ("form.title.change_password", "form.intro.change_password")
        }
    };
    let height = form.fields.len() as u16 * 2 + 8;
    let popup = centered(body, 60, height);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" onecard · {} ", tr(lang, title)),
            th.title,
        ))
        .style(th.base);
    let mut lines = vec![
        Line::from(Span::styled(tr(lang, intro), th.muted)),
        Line::raw(""),
    ];
    for (i, field) in form.fields.iter().enumerate() {
        let shown = if field.secret {
            "•".repeat(field.value.chars().count())
        } else {
            field.value.clone()
        };
        let focused = i == form.focus;
        let cursor = if focused && !form.busy { "▏" } else { " " };
        lines.push(Line::from(vec![
            Span::styled(
                fit(tr(lang, field.label), LABEL),
                if focused { th.title } else { th.base },
            ),
            Span::styled(
                fit(&format!("{shown}{cursor}"), INPUT),
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
    let esc = match form.kind {
        FormKind::Login | FormKind::FirstRun => tr(lang, "form.esc_quit"),
        FormKind::ChangePassword { forced: true } => tr(lang, "form.esc_logout"),
        FormKind::ChangePassword { forced: false } => tr(lang, "form.esc_back"),
    };
    lines.push(Line::from(Span::styled(
        trf(lang, "form.keys", &[("esc", esc)]),
        th.muted,
    )));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
