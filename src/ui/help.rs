//! The help overlay and the command palette, both generated from the loaded keymap.

use super::theme::Theme;
use super::widgets::{centered, clip, fit, input_spans};
use crate::app::router::{key_section, palette_candidates};
use crate::app::state::{Palette, State};
use crate::i18n::tr;
use crate::keymap::{Keymap, Section};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// A command's description: the keymap's `desc` when the operator wrote one, else the catalogue's.
fn describe(state: &State, desc: Option<&str>, name: &str) -> String {
    match desc {
        Some(d) if state.shell.lang == crate::i18n::Lang::EN => d.to_string(),
        _ => tr(state.shell.lang, &format!("cmd.{name}")).to_string(),
    }
}

pub fn help_lines(state: &State, keymap: &Keymap) -> Vec<(Option<String>, String, String)> {
    let mut out = Vec::new();
    let section = key_section(state);
    let sections = if section == Section::Global {
        vec![Section::Global]
    } else {
        vec![section, Section::Global]
    };
    for section in sections {
        let bindings = keymap.bindings(section);
        if bindings.is_empty() {
            continue;
        }
        out.push((
            Some(tr(state.shell.lang, &format!("section.{}", section.name())).to_string()),
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
    // What a description cannot show ends in "…" rather than at the border.
    let desc_w = popup.width.saturating_sub(2 + 14) as usize;
    let lines: Vec<Line> = help_lines(state, &state.shell.keymap)
        .into_iter()
        .map(|(section, keys, desc)| match section {
            Some(title) => Line::from(Span::styled(title, th.header)),
            None => Line::from(vec![
                Span::styled(fit(&keys, 14), th.title),
                Span::raw(clip(&desc, desc_w)),
            ]),
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", tr(state.shell.lang, "help.title")),
            th.title,
        ))
        .title_bottom(Span::styled(
            format!(" {} ", tr(state.shell.lang, "help.keys")),
            th.muted,
        ))
        .style(th.base);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

pub fn render_palette(frame: &mut Frame, state: &State, palette: &Palette, body: Rect, th: &Theme) {
    let candidates = palette_candidates(palette.input.value());
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
        Line::from(
            std::iter::once(Span::styled(": ", th.title))
                .chain(input_spans(
                    &palette.input,
                    false,
                    popup.width.saturating_sub(4) as usize,
                    true,
                    th.input_focus,
                ))
                .collect::<Vec<_>>(),
        ),
        Line::raw(""),
    ];
    for (i, cmd) in candidates.iter().enumerate().skip(offset).take(visible) {
        let style = if i == palette.selected {
            th.selected
        } else {
            th.base
        };
        let keys = state
            .shell
            .keymap
            .keys_for(key_section(state), *cmd)
            .join(", ");
        lines.push(Line::from(vec![
            Span::styled(fit(cmd.name(), 26), style),
            Span::styled(fit(&keys, 14), th.title),
            Span::styled(tr(state.shell.lang, &format!("cmd.{}", cmd.name())), style),
        ]));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.border)
        .title(Span::styled(
            format!(" {} ", tr(state.shell.lang, "palette.title")),
            th.title,
        ))
        .style(th.base);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
