//! The wallboard: its screens' names (the one shown lit) with the time to the next or the P1
//! alarm holding it, the alarm strip, the screen itself drawn by its tab's own renderer, the
//! keys, and the status bar. Nothing here invites a key that would act.

use super::theme::Theme;
use super::{render_alarms, tabs, widgets};
use crate::app::layout::Areas;
use crate::app::state::State;
use crate::app::wallboard::{Page, HOLD_SECS};
use crate::app::words;
use crate::i18n::{tr, trf};
use crate::keymap::{Command, Section};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn render(frame: &mut Frame, state: &State, areas: &Areas, th: &Theme) {
    render_pages(frame, state, areas.tabs, th);
    render_alarms(frame, state, areas.alarms, false, th);
    let body = areas.body;
    match state.wallboard.page {
        Page::Alarms => tabs::alarms::render(frame, state, body, th),
        Page::Doors => tabs::doors::render(frame, state, body, th),
        Page::Patrol => tabs::patrol::render(frame, state, body, th),
        Page::Terminals => tabs::terminals::draw(frame, state, body, th, true),
    }
    render_keys(frame, state, areas.hint, th);
}

/// " 值班大屏  报警  门禁  巡更  终端          12 秒后换屏 ".
fn render_pages(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    let w = &state.wallboard;
    let mut spans = vec![Span::styled(
        format!(" {} ", tr(lang, "wallboard.title")),
        th.title,
    )];
    for page in Page::ALL {
        spans.push(Span::raw(" "));
        let name = format!(" {} ", tr(lang, &format!("wallboard.page.{}", page.key())));
        let style = if page == w.page {
            th.tab_active
        } else {
            th.tab
        };
        spans.push(Span::styled(name, style));
    }
    let held = w
        .held
        .and_then(|id| state.alarms.list.rows.iter().find(|a| a.id == id));
    let (right, style) = match held {
        Some(a) => (
            trf(
                lang,
                "wallboard.held",
                &[
                    ("alarm", &words::alarm_name(lang, a)),
                    ("s", &HOLD_SECS.to_string()),
                ],
            ),
            th.alarm_loud,
        ),
        None => (
            trf(
                lang,
                "wallboard.next",
                &[("s", &w.left(sh.now).to_string())],
            ),
            th.muted,
        ),
    };
    let used: usize = spans.iter().map(|s| s.content.width()).sum();
    let room = (row.width as usize).saturating_sub(used + 2);
    let right = widgets::clip(&right, room);
    let pad = room.saturating_sub(right.width());
    spans.push(Span::raw(" ".repeat(pad + 1)));
    spans.push(Span::styled(right, style));
    frame.render_widget(Paragraph::new(Line::from(spans)), row);
}

/// The message if there is one, else the only keys there are.
fn render_keys(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let sh = &state.shell;
    if let Some((level, text)) = &sh.message {
        let style = match level {
            crate::app::state::Level::Info => th.info,
            crate::app::state::Level::Error => th.error,
        };
        let text = widgets::clip(&format!(" {text}"), row.width as usize);
        frame.render_widget(Paragraph::new(Span::styled(text, style)), row);
        return;
    }
    let quit = sh
        .key_for(Section::Global, Command::Quit)
        .unwrap_or_else(|| "ctrl-c".to_string());
    let text = trf(
        sh.lang,
        "wallboard.keys",
        &[("prev", "←"), ("next", "→"), ("quit", &quit)],
    );
    let text = widgets::clip(&format!(" {text}"), row.width as usize);
    frame.render_widget(Paragraph::new(Span::styled(text, th.muted)), row);
}
