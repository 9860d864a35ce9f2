//! A tab still to be built: what it will hold, and that nothing here is simulated.

use crate::app::state::{Shell, TabId};
use crate::i18n::tr;
use crate::ui::theme::Theme;
use crate::ui::widgets::block;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, sh: &Shell, tab: TabId, body: Rect, th: &Theme) {
    let title = Span::styled(format!(" {} ", tab.title(sh.lang)), th.title);
    let text = vec![
        Line::from(Span::styled(
            tr(sh.lang, &format!("tab.{}.holds", tab.key())),
            th.base,
        )),
        Line::raw(""),
        Line::from(Span::styled(tr(sh.lang, "tab.not_yet"), th.muted)),
    ];
    frame.render_widget(
        Paragraph::new(text)
            .block(block(title, th))
            .wrap(Wrap { trim: true }),
        body,
    );
}
