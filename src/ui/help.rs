//! The help overlay and the command palette, both generated from the loaded keymap.

use super::theme::Theme;
use super::{centered, fit};
use crate::app::state::{Palette, State};
use crate::app::update::palette_candidates;
use crate::i18n::tr;
use crate::keymap::{Keymap, Section};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// A command's description: the keymap's `desc` when the operator wrote one, else the catalogue's.
fn describe(state: &State, desc: Option<&str>, name: &str) -> String {
    match desc {
        Some(d) if state.lang == crate::i18n::Lang::EN => d.to_string(),
        _ => tr(state.lang, &format!("cmd.{name}")).to_string(),
    }
}

pub fn help_lines(state: &State, keymap: &Keymap) -> Vec<(Option<String>, String, String)> {
    let mut out = Vec::new();
    let sections = if state.key_section() == Section::Global {
        vec![Section::Global]
    } else {
        vec![state.key_section(), Section::Global]
    };
    for section in sections {
        let bindings = keymap.bindings(section);
        if bindings.is_empty() {
            continue;
        }
        out.push((
            Some(tr(state.lang, &format!("section.{}", section.name())).to_string()),
            String::new(),
            String::new(),
        ));
        for b in bindings {
            out.push((
                None,
                Keymap::sequence_string(&b.keys),
                describe(state, b.desc.as_deref(), b.command.name()),
            ));
        }
    }
    out
}

pub fn render_help(frame: &mut Frame, state: &State, body: Rect, scroll: u16, th: &Theme) {
    let popup = centered(body, 70, body.height);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = help_lines(state, &state.keymap)
        .into_iter()
        .map(|(section, keys, desc)| match section {
            Some(title) => Line::from(Span::styled(title, th.header)),
            None => Line::from(vec![
                Span::styled(fit(&keys, 14), th.title),
                Span::raw(desc),
            ]),
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", tr(state.lang, "help.title")),
            th.title,
        ))
        .title_bottom(Span::styled(
            format!(" {} ", tr(state.lang, "help.keys")),
            th.muted,
        ))
        .style(th.base);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

pub fn render_palette(frame: &mut Frame, state: &State, palette: &Palette, body: Rect, th: &Theme) {
    let candidates = palette_candidates(&palette.input);
    let height = (candidates.len() as u16 + 4).min(body.height.saturating_sub(1));
    let popup = Rect::new(
        body.x + 2,
        body.y + 1,
        body.width.saturating_sub(4).min(76),
        height,
    );
    frame.render_widget(Clear, popup);
    let visible = height.saturating_sub(4) as usize;
    let offset = palette.selected.saturating_sub(visible.saturating_sub(1));
    let mut lines = vec![
        Line::from(vec![
            Span::styled(": ", th.title),
            Span::styled(format!("{}▏", palette.input), th.input_focus),
        ]),
        Line::raw(""),
    ];
    for (i, cmd) in candidates.iter().enumerate().skip(offset).take(visible) {
        let style = if i == palette.selected {
            th.selected
        } else {
            th.base
        };
        let keys = state.keymap.keys_for(state.key_section(), *cmd).join(", ");
        lines.push(Line::from(vec![
            Span::styled(fit(cmd.name(), 26), style),
            Span::styled(fit(&keys, 14), th.title),
            Span::styled(tr(state.lang, &format!("cmd.{}", cmd.name())), style),
        ]));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", tr(state.lang, "palette.title")),
            th.title,
        ))
        .style(th.base);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
