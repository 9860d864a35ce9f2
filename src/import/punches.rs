//! `onecard import punches FILE --machine M [--dry-run]`: the punches of an attendance machine
//! that is never reached over the network (or whose log was taken off by USB), from the file
//! it exports.
//!
//! Two formats, told apart by the content (the file name only decides for a file that says
//! nothing, such as an empty one):
//! * ZKTeco's USB attendance log (`1_attlog.dat`): one punch a line, tab-separated: the user
//!   id (right-aligned with spaces), the time `YYYY-MM-DD HH:MM:SS`, then up to four numbers
//!   whose count varies by firmware: verify, state, work code, reserved. 2 to 6 columns; a
//!   line with no tab is read by whitespace (user id, date, time, numbers).
//! * A CSV (comma-separated, header first) with a user id column (`user_id`, `userid`,
//!   `person_no`, `enroll_no`, `工号`, `考勤号码`, `用户编号`, `人员编号`, `学工号`) and a time
//!   column (`time`, `punch_time`, `datetime`, `timestamp`, `打卡时间`, `考勤时间`, `日期时间`,
//!   `时间`); optionally `state` (`状态`, `考勤状态`: a number 0-5 or 签到 / 签退 ...) and
//!   `verify` (`验证方式`); other columns are ignored. Times as `2026-11-02 08:01:13`,
//!   `2026/11/2 8:01` (Excel), with or without seconds.
//!
//! Either may be UTF-8 (a BOM is dropped) or GBK (what the machine's PC software and Excel on
//! a Chinese Windows write); CRLF or LF; blank lines are skipped.
//!
//! Unlike the register's imports (all or nothing), a punch file is taken line by line: a
//! machine's file cut short by a pulled USB stick still holds good punches. Every good line is
//! stored once (a punch is unique on machine, user and time, as when extracted online), every
//! bad line is named with its line number and why, and the report counts the lines new,
//! already known (stored before, or repeated in the file) and bad. The punches and an audit row
//! (who, which file, which machine, the counts) are one transaction. A dry run does the same
//! and rolls it back, so its counts are exactly what the import would say.

use super::{column_of, decode_or_gbk, open_csv, ImportError, Lines, RowProblem};
use crate::db::audit;
use crate::db::ingest::{self, PunchRow};
use crate::db::notify::Change;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{Datelike, NaiveDateTime};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashSet;
use std::path::Path;

/// Header names of the user id column (any case).
pub const USER_ID_NAMES: [&str; 10] = [
    "user_id",
    "userid",
    "person_no",
    "enroll_no",
    "工号",
    "考勤号码",
    "用户编号",
    "用户号",
    "人员编号",
    "学工号",
];
/// Header names of the time column.
pub const TIME_NAMES: [&str; 8] = [
    "time",
    "punch_time",
    "datetime",
    "timestamp",
    "打卡时间",
    "考勤时间",
    "日期时间",
    "时间",
];
const STATE_NAMES: [&str; 4] = ["state", "status", "状态", "考勤状态"];
const VERIFY_NAMES: [&str; 3] = ["verify", "verify_type", "验证方式"];
/// A ZKTeco user id is at most 24 bytes on the machine.
pub const USER_ID_MAX: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PunchFormat {
    /// ZKTeco's USB attendance log (`*_attlog.dat`).
    AttLog,
    Csv,
}

impl PunchFormat {
    pub fn name(self) -> &'static str {
        match self {
            PunchFormat::AttLog => "attlog",
            PunchFormat::Csv => "csv",
        }
    }
}

/// Why a line (or the whole file) is refused: data, worded in the operator's language by
/// `app::words::punch_problem`; `Display` is the English of logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PunchProblem {
    /// What the shared CSV reader says (the encoding, an unreadable row).
    Row(RowProblem),
    /// A CSV header without a user id or without a time column.
    NoPunchColumns,
    /// Not a punch line: `fields` fields, where a log line has a user id, a time and up to
    /// four numbers.
    NotAPunch {
        fields: usize,
    },
    NoUserId,
    /// Longer than [`USER_ID_MAX`], or a space or control character inside.
    UserIdInvalid {
        text: String,
    },
    NoTime,
    /// Not a date and time between 2000 and 2099.
    BadTime {
        text: String,
    },
    BadVerify {
        text: String,
    },
    BadState {
        text: String,
    },
    /// Fewer fields than the line before it (a log) or the header (a CSV).
    Incomplete {
        fields: usize,
        expected: usize,
    },
}

impl std::fmt::Display for PunchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use PunchProblem as P;
        match self {
            P::Row(p) => write!(f, "{p}"),
            P::NoPunchColumns => f.write_str(
                "the header needs a user id column (user_id, 工号) and a time column (time, 打卡时间)",
            ),
            P::NotAPunch { fields } => write!(
                f,
                "not a punch: {fields} field(s), where a line has a user id, a time and up to four numbers"
            ),
            P::NoUserId => f.write_str("the user id is empty"),
            P::UserIdInvalid { text } => write!(
                f,
                "user id `{text}`: at most {USER_ID_MAX} characters, no spaces"
            ),
            P::NoTime => f.write_str("the time is empty"),
            P::BadTime { text } => write!(
                f,
                "`{text}` is not a time (YYYY-MM-DD HH:MM:SS, 2000 to 2099)"
            ),
            P::BadVerify { text } => write!(f, "verify `{text}` is not a number 0-255"),
            P::BadState { text } => {
                write!(f, "state `{text}` is not a number 0-255 nor a punch state")
            }
            P::Incomplete { fields, expected } => {
                write!(f, "{fields} field(s) where {expected} are expected")
            }
        }
    }
}

/// One bad line: its number in the file (1 = the first line, a CSV's header), why, and
/// whether it is the file's last line without a line break (a file cut short).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPunchLine {
    pub line: u64,
    pub problem: PunchProblem,
    pub cut_short: bool,
}

impl std::fmt::Display for BadPunchLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)?;
        if self.cut_short {
            f.write_str(" (the last line has no line break: the file was cut short)")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PunchImportError {
    #[error("no attendance machine {name} in the inventory")]
    UnknownMachine { name: String },
    #[error("{name} is a {kind}, not an attendance machine")]
    NotAnAttendanceMachine { name: String, kind: String },
    #[error("{n} attendance machines are named {name}: give the machine's number (#id)")]
    AmbiguousMachine { name: String, n: usize },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The whole file is refused (its encoding, a CSV header): nothing stored.
    #[error("{path}: nothing imported; line {line}: {problem}")]
    File {
        path: String,
        line: u64,
        problem: PunchProblem,
    },
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl From<ImportError> for PunchImportError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::BadRows { path, rows } => {
                let first = rows.into_iter().next();
                PunchImportError::File {
                    path,
                    line: first.as_ref().map_or(1, |r| r.line),
                    problem: PunchProblem::Row(
                        first
                            .and_then(|r| r.problems.into_iter().next())
                            .unwrap_or(RowProblem::NoRows),
                    ),
                }
            }
            ImportError::Read { path, source } => PunchImportError::Read { path, source },
            ImportError::Denied(d) => PunchImportError::Denied(d),
            ImportError::Sql(e) => PunchImportError::Sql(e),
        }
    }
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchImportReport {
    pub terminal_id: i64,
    pub machine: String,
    /// The file's path as given (kept in the audit row).
    pub file: String,
    pub sha256: String,
    pub format: PunchFormat,
    /// Punch lines read (good and bad; blank lines and a CSV's header not counted).
    pub lines: u64,
    /// Stored now (or, dry, would be).
    pub new: u64,
    /// Stored before this import.
    pub known_in_db: u64,
    /// The same user and time as an earlier line of the file.
    pub repeated_in_file: u64,
    /// In file order.
    pub bad: Vec<BadPunchLine>,
    pub dry_run: bool,
    /// The audit row written (none for a dry run).
    pub audit_id: Option<i64>,
}

impl PunchImportReport {
    /// Lines already known: stored before, or repeated in the file.
    pub fn known(&self) -> u64 {
        self.known_in_db + self.repeated_in_file
    }
}

/// An attendance machine of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: i64,
    pub name: String,
}

/// The attendance machine named `name` (or `#id`, or a bare id no name matches).
pub async fn machine(pool: &PgPool, name: &str) -> Result<Machine, PunchImportError> {
    let name = name.trim();
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, kind FROM terminal WHERE name = $1 ORDER BY id")
            .bind(name)
            .fetch_all(pool)
            .await?;
    let machines: Vec<&(i64, String, String)> = rows
        .iter()
        .filter(|r| r.2 == "attendance_machine")
        .collect();
    match (machines.as_slice(), rows.first()) {
        ([m], _) => {
            return Ok(Machine {
                id: m.0,
                name: m.1.clone(),
            })
        }
        ([], Some((_, name, kind))) => {
            return Err(PunchImportError::NotAnAttendanceMachine {
                name: name.clone(),
                kind: kind.clone(),
            })
        }
        ([], None) => {}
        (many, _) => {
            return Err(PunchImportError::AmbiguousMachine {
                name: name.to_string(),
                n: many.len(),
            })
        }
    }
    match name.trim_start_matches('#').parse::<i64>() {
        Ok(id) => machine_by_id(pool, id).await,
        Err(_) => Err(PunchImportError::UnknownMachine {
            name: name.to_string(),
        }),
    }
}

/// The attendance machine `id`.
pub async fn machine_by_id(pool: &PgPool, id: i64) -> Result<Machine, PunchImportError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT name, kind FROM terminal WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    match row {
        None => Err(PunchImportError::UnknownMachine {
            name: format!("#{id}"),
        }),
        Some((name, kind)) if kind != "attendance_machine" => {
            Err(PunchImportError::NotAnAttendanceMachine { name, kind })
        }
        Some((name, _)) => Ok(Machine { id, name }),
    }
}

/// Reads the file at `path` and imports it into machine `machine_id` ([`import_punches`]).
pub async fn import_punches_file(
    pool: &PgPool,
    actor: &Actor,
    machine_id: i64,
    path: &Path,
    dry_run: bool,
) -> Result<PunchImportReport, PunchImportError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PunchImportError::Read {
        path: name.clone(),
        source,
    })?;
    import_punches(pool, actor, machine_id, &name, &bytes, dry_run).await
}

/// Imports the punches of `bytes` (the file `path`) into attendance machine `machine_id`:
/// every good line stored once, the bad ones named; with the audit row and the consoles told,
/// in one transaction. `dry_run`: the same, rolled back.
pub async fn import_punches(
    pool: &PgPool,
    actor: &Actor,
    machine_id: i64,
    path: &str,
    bytes: &[u8],
    dry_run: bool,
) -> Result<PunchImportReport, PunchImportError> {
    actor.authorize(Action::AttendanceEdit)?;
    let m = machine_by_id(pool, machine_id).await?;
    let text = decode_or_gbk(path, bytes)?;
    let parsed = parse(path, &text)?;
    let mut seen = HashSet::new();
    let rows: Vec<PunchRow> = parsed
        .good
        .into_iter()
        .filter(|r| seen.insert((r.user_id.clone(), r.terminal_time)))
        .collect();
    let read = parsed.lines;
    let good = read - parsed.bad.len() as u64;
    let repeated_in_file = good - rows.len() as u64;
    let mut report = PunchImportReport {
        terminal_id: m.id,
        machine: m.name,
        file: path.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        format: parsed.format,
        lines: read,
        new: 0,
        known_in_db: 0,
        repeated_in_file,
        bad: parsed.bad,
        dry_run,
        audit_id: None,
    };
    let mut tx = pool.begin().await?;
    let mut new = 0;
    // One statement per slice keeps the bound arrays small on a year's log.
    for chunk in rows.chunks(20_000) {
        new += ingest::insert_punches(&mut tx, m.id, chunk).await?;
    }
    report.new = new;
    report.known_in_db = rows.len() as u64 - new;
    let bad_lines: Vec<u64> = report.bad.iter().map(|b| b.line).take(100).collect();
    let audit_id = audit::append(
        &mut tx,
        actor,
        "punch.import",
        "terminal",
        &m.id.to_string(),
        None,
        Some(json!({
            "machine": report.machine,
            "file": report.file,
            "sha256": report.sha256,
            "format": report.format,
            "lines": report.lines,
            "new": report.new,
            "known_in_db": report.known_in_db,
            "repeated_in_file": report.repeated_in_file,
            "bad": report.bad.len(),
            "bad_lines": bad_lines,
        })),
    )
    .await?;
    if new > 0 {
        Change {
            terminal: vec![m.id],
            records: vec!["punch".to_string()],
            ..Change::default()
        }
        .send(&mut tx)
        .await?;
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
        report.audit_id = Some(audit_id);
    }
    Ok(report)
}

/// A file read: its good punches in file order, its bad lines, how many punch lines.
#[derive(Debug)]
struct Parsed {
    format: PunchFormat,
    good: Vec<PunchRow>,
    bad: Vec<BadPunchLine>,
    lines: u64,
}

/// The format the content says (a header naming a user id or time column: CSV; a tab: the
/// log); the name decides for content that says nothing.
pub fn format_of(path: &str, text: &str) -> PunchFormat {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let cells: Vec<&str> = first
        .split(',')
        .map(|c| c.trim().trim_matches('"').trim())
        .collect();
    let named = |names: &[&str]| {
        cells
            .iter()
            .any(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
    };
    if named(&USER_ID_NAMES) || named(&TIME_NAMES) {
        PunchFormat::Csv
    } else if first.contains('\t') {
        PunchFormat::AttLog
    } else if cells.len() > 1 || path.to_ascii_lowercase().ends_with(".csv") {
        PunchFormat::Csv
    } else {
        PunchFormat::AttLog
    }
}

fn parse(path: &str, text: &str) -> Result<Parsed, PunchImportError> {
    match format_of(path, text) {
        PunchFormat::AttLog => Ok(parse_attlog(text)),
        PunchFormat::Csv => parse_csv(path, text),
    }
}

/// A machine's clock time: `2026-11-02 08:01:13`, `2026/11/2 8:01`, ..., 2000 to 2099 (what a
/// ZKTeco clock can hold).
pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 7] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y.%m.%d %H:%M:%S",
        "%Y%m%d%H%M%S",
    ];
    let text = text.trim();
    // chrono takes `18:0` for 18:00: a line cut after one digit of its minutes must not pass.
    let clock = text.rsplit([' ', 'T']).next().unwrap_or(text);
    let whole = if clock.contains(':') {
        clock.split(':').skip(1).all(|p| p.len() == 2)
    } else {
        text.len() == 14
    };
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .filter(|t| whole && (2000..=2099).contains(&t.year()))
}

fn user_id(text: &str) -> Result<String, PunchProblem> {
    let text = text.trim();
    if text.is_empty() {
        Err(PunchProblem::NoUserId)
    } else if text.chars().count() > USER_ID_MAX
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(PunchProblem::UserIdInvalid {
            text: text.to_string(),
        })
    } else {
        Ok(text.to_string())
    }
}

fn time(text: &str) -> Result<NaiveDateTime, PunchProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PunchProblem::NoTime);
    }
    parse_time(text).ok_or_else(|| PunchProblem::BadTime {
        text: text.to_string(),
    })
}

fn small_number(text: &str) -> Option<i16> {
    text.trim().parse::<u8>().ok().map(i16::from)
}

/// A punch state as a number, or as the machine's PC software words it.
fn state(text: &str) -> Result<i16, PunchProblem> {
    let t = text.trim();
    let word = match t.to_ascii_lowercase().as_str() {
        "" => Some(0),
        "in" | "check-in" | "签到" | "上班签到" | "上班" => Some(0),
        "out" | "check-out" | "签退" | "下班签退" | "下班" => Some(1),
        "break-out" | "外出" => Some(2),
        "break-in" | "外出返回" => Some(3),
        "overtime-in" | "加班签到" => Some(4),
        "overtime-out" | "加班签退" => Some(5),
        _ => None,
    };
    word.or_else(|| small_number(t))
        .ok_or_else(|| PunchProblem::BadState {
            text: t.to_string(),
        })
}

fn verify(text: &str) -> Result<i16, PunchProblem> {
    if text.trim().is_empty() {
        return Ok(0);
    }
    small_number(text).ok_or_else(|| PunchProblem::BadVerify {
        text: text.trim().to_string(),
    })
}

/// One line of the USB log: its fields, or why it is no punch.
fn attlog_line(line: &str) -> Result<(PunchRow, usize), PunchProblem> {
    let owned: Vec<String>;
    let fields: Vec<&str> = if line.contains('\t') {
        line.split('\t').collect()
    } else {
        // Some firmware pads with spaces instead of tabs: user, date, time, numbers.
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 {
            owned = std::iter::once(words[0].to_string())
                .chain(std::iter::once(format!("{} {}", words[1], words[2])))
                .chain(words[3..].iter().map(|w| w.to_string()))
                .collect();
            owned.iter().map(String::as_str).collect()
        } else {
            words
        }
    };
    if !(2..=6).contains(&fields.len()) {
        return Err(PunchProblem::NotAPunch {
            fields: fields.len(),
        });
    }
    let user_id = user_id(fields[0])?;
    let terminal_time = time(fields[1])?;
    let verify = fields.get(2).map_or(Ok(0), |v| verify(v))?;
    let state = match fields.get(3) {
        Some(s) => small_number(s).ok_or_else(|| PunchProblem::BadState {
            text: s.trim().to_string(),
        })?,
        None => 0,
    };
    Ok((
        PunchRow {
            user_id,
            terminal_time,
            verify,
            state,
        },
        fields.len(),
    ))
}

fn parse_attlog(text: &str) -> Parsed {
    let mut parsed = Parsed {
        format: PunchFormat::AttLog,
        good: Vec::new(),
        bad: Vec::new(),
        lines: 0,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let segments: Vec<&str> = text.split('\n').collect();
    let last = segments.len() - 1;
    let mut columns_before = None;
    for (i, segment) in segments.iter().enumerate() {
        let line = segment.strip_suffix('\r').unwrap_or(segment);
        if line.trim().is_empty() {
            continue;
        }
        parsed.lines += 1;
        // The last line with no line break after it: written to the end, or cut short.
        let unterminated = i == last;
        let number = i as u64 + 1;
        match attlog_line(line) {
            Ok((row, n)) => match columns_before {
                Some(expected) if unterminated && n < expected => parsed.bad.push(BadPunchLine {
                    line: number,
                    problem: PunchProblem::Incomplete {
                        fields: n,
                        expected,
                    },
                    cut_short: true,
                }),
                _ => {
                    columns_before = Some(n);
                    parsed.good.push(row);
                }
            },
            Err(problem) => parsed.bad.push(BadPunchLine {
                line: number,
                problem,
                cut_short: unterminated,
            }),
        }
    }
    parsed
}

fn parse_csv(path: &str, text: &str) -> Result<Parsed, PunchImportError> {
    let (mut reader, headers) = open_csv(path, text)?;
    let file = |problem| PunchImportError::File {
        path: path.to_string(),
        line: 1,
        problem,
    };
    if headers.iter().all(str::is_empty) {
        return Err(file(PunchProblem::Row(RowProblem::HeaderEmpty)));
    }
    let (Some(user_col), Some(time_col)) = (
        column_of(&headers, &USER_ID_NAMES),
        column_of(&headers, &TIME_NAMES),
    ) else {
        return Err(file(PunchProblem::NoPunchColumns));
    };
    let state_col = column_of(&headers, &STATE_NAMES);
    let verify_col = column_of(&headers, &VERIFY_NAMES);
    let needed = 1 + [Some(user_col), Some(time_col), state_col, verify_col]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    let lines = Lines::new(text);
    let body = text.trim_end_matches(['\r', '\n']);
    let last_line = lines.of(body.len().saturating_sub(1) as u64);
    let unterminated = !text.ends_with('\n');
    let mut parsed = Parsed {
        format: PunchFormat::Csv,
        good: Vec::new(),
        bad: Vec::new(),
        lines: 0,
    };
    for result in reader.records() {
        parsed.lines += 1;
        let (line, record) = match lines.record(result) {
            Ok(r) => r,
            Err(e) => {
                parsed.bad.push(BadPunchLine {
                    line: e.line,
                    problem: PunchProblem::Row(
                        e.problems.into_iter().next().unwrap_or(RowProblem::NoRows),
                    ),
                    cut_short: false,
                });
                continue;
            }
        };
        let cut_short = unterminated && line == last_line;
        let row = if record.len() < needed {
            Err(PunchProblem::Incomplete {
                fields: record.len(),
                expected: headers.len(),
            })
        } else {
            csv_row(&record, user_col, time_col, state_col, verify_col)
        };
        match row {
            Ok(row) => parsed.good.push(row),
            Err(problem) => parsed.bad.push(BadPunchLine {
                line,
                problem,
                cut_short,
            }),
        }
    }
    Ok(parsed)
}

fn csv_row(
    record: &csv::StringRecord,
    user_col: usize,
    time_col: usize,
    state_col: Option<usize>,
    verify_col: Option<usize>,
) -> Result<PunchRow, PunchProblem> {
    let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
    Ok(PunchRow {
        user_id: user_id(get(Some(user_col)))?,
        terminal_time: time(get(Some(time_col)))?,
        verify: verify(get(verify_col))?,
        state: state(get(state_col))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_decides_the_format() {
        assert_eq!(
            format_of("x.txt", "     1\t2026-11-02 08:01:13\t1\t0\t1\t0\n"),
            PunchFormat::AttLog
        );
        assert_eq!(
            format_of("1_attlog.dat", "工号,打卡时间\n1,2026-11-02 08:01:13\n"),
            PunchFormat::Csv
        );
        assert_eq!(format_of("a.dat", ""), PunchFormat::AttLog);
        assert_eq!(format_of("a.csv", ""), PunchFormat::Csv);
    }

    #[test]
    fn log_lines_of_two_to_six_columns() {
        let p = parse_attlog(
            "\u{feff}     1\t2026-11-02 08:01:13\t1\t0\t1\t0\r\n  22\t2026-11-02 08:02\r\n\r\n",
        );
        assert!(p.bad.is_empty(), "{:?}", p.bad);
        assert_eq!(p.good.len(), 2);
        assert_eq!(p.good[0].user_id, "1");
        assert_eq!((p.good[0].verify, p.good[0].state), (1, 0));
        assert_eq!(p.good[1].user_id, "22");
        let spaced = parse_attlog("7 2026/11/2 8:01:13 1 0");
        assert_eq!(spaced.good.len(), 1, "{:?}", spaced.bad);
    }

    #[test]
    fn a_time_cut_short_is_no_time() {
        assert!(parse_time("2026-11-02 18:0").is_none());
        assert!(parse_time("2026-11-02 18:01:1").is_none());
        assert!(parse_time("2026-11-02 18:01").is_some());
        assert!(parse_time("2026/11/2 8:01").is_some());
        assert!(parse_time("20261102180").is_none());
        assert!(parse_time("20261102180102").is_some());
    }

    #[test]
    fn a_cut_last_line_is_named() {
        let p = parse_attlog("1\t2026-11-02 08:01:13\t1\t0\n2\t2026-11-02 08:0");
        assert_eq!(p.good.len(), 1);
        assert_eq!(p.bad.len(), 1);
        assert!(p.bad[0].cut_short);
        assert_eq!(p.bad[0].line, 2);
        let p = parse_attlog("1\t2026-11-02 08:01:13\t1\t0\n2\t2026-11-02 08:05:00\t1");
        assert_eq!(
            p.bad[0].problem,
            PunchProblem::Incomplete {
                fields: 3,
                expected: 4
            }
        );
    }
}
