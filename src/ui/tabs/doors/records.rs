//! The Doors tab's records sub-view: queries, loss queries, pending syncs, purge.

use crate::app::shell::Shell;
use crate::app::tabs::doors::records::Records;
use crate::ui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::Frame;

pub fn render(_frame: &mut Frame, _sh: &Shell, _r: &Records, _body: Rect, _th: &Theme) {}
