//! The Doors tab.

pub mod records;

use crate::app::state::State;
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::Frame;

pub fn render(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    if state.doors.showing_records {
        return records::render(frame, &state.shell, &state.doors.records, body, th);
    }
    crate::ui::tabs::placeholder::render(
        frame,
        &state.shell,
        crate::app::state::TabId::Doors,
        body,
        th,
    );
}
