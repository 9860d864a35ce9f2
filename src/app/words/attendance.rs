//! Attendance: punch states, day statuses, corrections and sync differences.

use super::*;

/// A ZKTeco punch state (0 check-in, 1 check-out, 2 break out, 3 break in, 4 overtime in,
/// 5 overtime out); another number as it is.
pub fn punch_state(lang: Lang, state: i16) -> String {
    catalogued(lang, "att.punch_state", &state.to_string())
}
