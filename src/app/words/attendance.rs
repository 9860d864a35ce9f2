//! Attendance: punch states, day statuses, corrections and sync differences.

use super::*;
use crate::app::failure::AttendanceWhy;

/// A ZKTeco punch state (0 check-in, 1 check-out, 2 break out, 3 break in, 4 overtime in,
/// 5 overtime out); another number as it is.
pub fn punch_state(lang: Lang, state: i16) -> String {
    catalogued(lang, "att.punch_state", &state.to_string())
}

/// An attendance refusal in `lang`.
pub fn attendance_refusal(lang: Lang, why: &AttendanceWhy) -> String {
    use AttendanceWhy as W;
    let k = |key: &str| format!("attendance.error.{key}");
    match why {
        W::NoName => tr(lang, &k("no_name")).to_string(),
        W::ShiftTaken(n) => trf(lang, &k("shift_taken"), &[("name", n)]),
        W::NoShift(n) => trf(lang, &k("no_shift"), &[("name", n)]),
        W::NoDepartment(n) => trf(lang, &k("no_department"), &[("name", n)]),
        W::NoPerson(n) => trf(lang, &k("no_person"), &[("name", n)]),
        W::NoSchedule(id) => trf(lang, &k("no_schedule"), &[("id", &id.to_string())]),
        W::NoHoliday(d) => trf(lang, &k("no_holiday"), &[("day", &d.to_string())]),
        W::NoCorrection(id) => trf(lang, &k("no_correction"), &[("id", &id.to_string())]),
        W::SameStartEnd => tr(lang, &k("same_start_end")).to_string(),
        W::OutsideDay => tr(lang, &k("outside_day")).to_string(),
        W::BadMinutes => tr(lang, &k("bad_minutes")).to_string(),
        W::BadRestDays => tr(lang, &k("bad_rest_days")).to_string(),
        W::BadRange => tr(lang, &k("bad_range")).to_string(),
        W::Overlaps(whose) => trf(
            lang,
            &k("overlaps"),
            &[("what", tr(lang, &format!("attendance.error.whose.{whose}")))],
        ),
        W::ShiftInUse { name, schedules } => trf(
            lang,
            &k("shift_in_use"),
            &[("name", name), ("n", &schedules.to_string())],
        ),
        W::NoReason => tr(lang, &k("no_reason")).to_string(),
        W::AlreadyRevoked(id) => trf(lang, &k("already_revoked"), &[("id", &id.to_string())]),
        W::BadStatus(s) => trf(lang, &k("bad_status"), &[("status", s)]),
    }
}
