//! Attendance machines' files and the person register sync: why a punch line is bad, why an
//! import is refused, the kinds of differences.

use super::*;
use crate::db::machine_sync::DifferenceKind;
use crate::import::punches::{BadPunchLine, PunchImportError, PunchProblem};

/// Why a punch line (or a punch file) is refused, in the operator's language.
pub fn punch_problem(lang: Lang, p: &PunchProblem) -> String {
    use PunchProblem as P;
    let key = |k: &str| tr(lang, &format!("punch_import.problem.{k}")).to_string();
    let with =
        |k: &str, args: &[(&str, &str)]| trf(lang, &format!("punch_import.problem.{k}"), args);
    match p {
        P::Row(p) => row_problem(lang, p),
        P::NoPunchColumns => key("no_punch_columns"),
        P::NotAPunch { fields } => with("not_a_punch", &[("fields", &fields.to_string())]),
        P::NoUserId => key("no_user_id"),
        P::UserIdInvalid { text } => with(
            "user_id_invalid",
            &[
                ("text", text),
                ("max", &crate::import::punches::USER_ID_MAX.to_string()),
            ],
        ),
        P::NoTime => key("no_time"),
        P::BadTime { text } => with("bad_time", &[("text", text)]),
        P::BadVerify { text } => with("bad_verify", &[("text", text)]),
        P::BadState { text } => with("bad_state", &[("text", text)]),
        P::Incomplete { fields, expected } => with(
            "incomplete",
            &[
                ("fields", &fields.to_string()),
                ("expected", &expected.to_string()),
            ],
        ),
    }
}

/// "line 7: the time is empty", with a note when the file was cut short there.
pub fn bad_punch_line(lang: Lang, b: &BadPunchLine) -> String {
    let mut why = punch_problem(lang, &b.problem);
    if b.cut_short {
        why.push_str(tr(lang, "punch_import.cut_short"));
    }
    trf(
        lang,
        "import.row",
        &[("line", &b.line.to_string()), ("why", &why)],
    )
}

/// Why a punch import stored nothing, in the operator's language.
pub fn punch_import_error(lang: Lang, e: &PunchImportError) -> String {
    use PunchImportError as E;
    let with = |k: &str, args: &[(&str, &str)]| trf(lang, &format!("punch_import.error.{k}"), args);
    match e {
        E::UnknownMachine { name } => with("unknown_machine", &[("name", name)]),
        E::NotAnAttendanceMachine { name, kind } => with(
            "not_an_attendance_machine",
            &[("name", name), ("kind", &terminal_kind(lang, kind))],
        ),
        E::AmbiguousMachine { name, n } => with(
            "ambiguous_machine",
            &[("name", name), ("n", &n.to_string())],
        ),
        E::Read { path, source } => with(
            match source.kind() {
                std::io::ErrorKind::NotFound => "not_found",
                std::io::ErrorKind::PermissionDenied => "not_allowed",
                _ => "unreadable",
            },
            &[("path", path)],
        ),
        E::File {
            path,
            line,
            problem,
        } => with(
            "file",
            &[
                ("path", path),
                ("line", &line.to_string()),
                ("why", &punch_problem(lang, problem)),
            ],
        ),
        E::Denied(d) => denied(lang, d),
        E::Sql(_) => with("database", &[]),
    }
}

/// A kind of person-sync difference ("missing on the machine", "机器上缺少").
pub fn difference_kind(lang: Lang, k: DifferenceKind) -> &'static str {
    tr(lang, &format!("attendance_sync.kind.{}", k.name()))
}
