//! Imports from CSV files: validated whole, applied in one transaction, every bad row named.

pub mod extensions;
pub mod persons;
pub mod punches;
pub mod subsidies;
pub mod terminals;

use crate::db::card::BatchRefusal;
use crate::db::person::FieldProblem;
use crate::domain::permission::Actor;
pub use persons::Column;
use sqlx::PgPool;
use std::io::Write;
use std::path::PathBuf;

/// `onecard import ...`
#[derive(Debug, clap::Subcommand)]
pub enum ImportCmd {
    /// People: person number, name, department, category, ID document (all or nothing; every
    /// bad row named). A department the register lacks is a bad row unless
    /// --create-departments is given.
    Persons {
        file: PathBuf,
        /// Only say what would change: every person added and updated, field by field, and the
        /// departments to create.
        #[arg(long)]
        dry_run: bool,
        /// Create the departments the file names that do not exist (the text as code and name).
        #[arg(long)]
        create_departments: bool,
        /// List every change, not only the first 50 of each kind.
        #[arg(long)]
        all: bool,
    },
    /// Extend a batch of cards (June's delayed graduates): a CSV naming cards or persons.
    Extensions {
        file: PathBuf,
        /// The new expiry date (YYYY-MM-DD) for every card in the file.
        #[arg(long)]
        until: chrono::NaiveDate,
        /// Only say what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pay a batch of subsidies (补贴): a CSV of person numbers and amounts, all or nothing,
    /// once per batch id (loading the same batch again pays nothing).
    Subsidies {
        file: PathBuf,
        /// The batch id (default: the file's name and the start of its content's SHA-256).
        #[arg(long)]
        batch: Option<String>,
    },
    /// Punches from an attendance machine's own file (an offline machine's USB log
    /// `*_attlog.dat`, or a CSV with a user id and a time column): each punch stored once, the
    /// lines new, already known and bad counted, every bad line named.
    Punches {
        file: PathBuf,
        /// The attendance machine the file came from (its name in the inventory).
        #[arg(long)]
        machine: String,
        /// Only count what would be stored; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs one import from the command line, writing what happened to `out`.
pub async fn cli(
    pool: &PgPool,
    actor: &Actor,
    cmd: &ImportCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        ImportCmd::Persons {
            file,
            dry_run,
            create_departments,
            all,
        } => {
            let options = persons::Options {
                dry_run: *dry_run,
                create_departments: *create_departments,
            };
            persons::cli(pool, actor, file, options, *all, out).await
        }
        ImportCmd::Extensions {
            file,
            until,
            dry_run,
        } => extensions::cli(pool, actor, file, *until, *dry_run, out).await,
        // Said in the operator's language, which is the command line's (`cli::subsidies`).
        ImportCmd::Subsidies { .. } => anyhow::bail!("subsidies are paid by cli::subsidies"),
        ImportCmd::Punches { .. } => anyhow::bail!("punches are imported by cli::attendance_sync"),
    }
}

/// One rejected row: its line in the file (1 = the header) and why (one or more problems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub problems: Vec<RowProblem>,
}

impl RowError {
    pub fn new(line: u64, problem: RowProblem) -> RowError {
        RowError {
            line,
            problems: vec![problem],
        }
    }

    /// Why, in the command line's English: the problems joined with "; ".
    pub fn message(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message())
    }
}

/// Why a row, the header or the file is refused: data, so the console says it in the
/// operator's language (`app::words::row_problem`); `Display` is the command line's English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// The file ends in the middle of a UTF-8 character: it was cut short.
    CutMidCharacter,
    /// Not UTF-8, and it looks like GBK (Excel on a Chinese Windows).
    Gbk,
    /// Not UTF-8 text at this byte of the file (1-based).
    NotUtf8 {
        byte: usize,
    },
    /// The csv reader could not read the header (`detail`: its words, English).
    HeaderUnreadable {
        detail: String,
    },
    /// The csv reader could not read the row (`detail`: its words, English).
    Unreadable {
        detail: String,
    },
    /// The first line is empty.
    HeaderEmpty,
    /// Two columns of the header mean the same column (1-based positions, their texts).
    DuplicateColumn {
        column: Column,
        first: usize,
        second: usize,
        first_text: String,
        second_text: String,
    },
    /// Required columns the header lacks.
    MissingColumns(Vec<Column>),
    /// A header and nothing under it.
    NoRows,
    /// A quote opened and never closed (it swallowed the rest of the file).
    UnclosedQuote,
    /// The row has `fields` fields, the header `header`; `cut_short`: the last line, with no
    /// line break after it.
    FieldCount {
        fields: usize,
        header: usize,
        cut_short: bool,
    },
    /// The person number, name or ID document.
    Field(FieldProblem),
    DepartmentEmpty,
    /// Longer than [`DEPARTMENT_MAX`] characters, or a control character in it.
    DepartmentInvalid {
        text: String,
    },
    CategoryEmpty,
    CategoryUnknown {
        text: String,
    },
    StatusUnknown {
        text: String,
    },
    /// The person number is on an earlier line too.
    DuplicatePersonNo {
        person_no: String,
        line: u64,
    },
    /// No department has this code or name; `closest`: the department's name and (when it
    /// differs from the name) code nearest to the text.
    UnknownDepartment {
        text: String,
        closest: Option<(String, Option<String>)>,
    },
    /// Several departments share this name: their codes.
    AmbiguousDepartment {
        text: String,
        codes: Vec<String>,
    },
    /// An extension file's header has neither a card number nor a person number column.
    NoCardOrPersonColumn,
    /// An extension row fills both.
    CardAndPerson,
    /// An extension row fills neither.
    NoCardNorPerson,
    NotACardNo {
        text: String,
    },
    NoCard {
        card_no: i64,
    },
    NoPerson {
        person_no: String,
    },
    NoCardInService {
        person_no: String,
    },
    /// The same card as an earlier line.
    SameCard {
        line: u64,
    },
    /// The card cannot be extended.
    CardRefused(BatchRefusal),
    /// Not an amount in yuan above zero with at most two decimals (a subsidy row).
    BadAmount {
        text: String,
    },
    /// A subsidy file's header lacks the person number or the amount column.
    NoSubsidyColumns,
}

/// Longest department text a person import accepts.
pub const DEPARTMENT_MAX: usize = 64;

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use RowProblem as P;
        match self {
            P::CutMidCharacter => f.write_str(
                "the file ends in the middle of a character: it was cut short (copy it again)",
            ),
            P::Gbk => f.write_str(
                "the file is not UTF-8: it looks like GBK (Excel on Chinese Windows); \
                 save it as “CSV UTF-8” (另存为 CSV UTF-8) and import again",
            ),
            P::NotUtf8 { byte } => write!(
                f,
                "the file is not UTF-8 text (byte {byte} of the file): save it as UTF-8 and import again"
            ),
            P::HeaderUnreadable { detail } => write!(f, "the header is unreadable: {detail}"),
            P::Unreadable { detail } => write!(f, "unreadable row: {detail}"),
            P::HeaderEmpty => f.write_str("the file is empty: the first line must be the header"),
            P::DuplicateColumn {
                column,
                first,
                second,
                first_text,
                second_text,
            } => write!(
                f,
                "columns {first} and {second} are both {column} (`{first_text}`, `{second_text}`)"
            ),
            P::MissingColumns(columns) => write!(
                f,
                "missing column(s): {}. The first line must be the header: \
                 person_no,name,department,category[,id_document,status] (or 学号,姓名,部门,类别,证件号,状态)",
                columns
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            P::NoRows => f.write_str("no rows under the header"),
            P::UnclosedQuote => f.write_str(
                "a quoted field is never closed: the file was cut short (copy it again)",
            ),
            P::FieldCount {
                fields,
                header,
                cut_short,
            } => write!(
                f,
                "{fields} field(s), the header has {header}{}",
                if *cut_short {
                    " (the last line has no line break: the file was cut short?)"
                } else {
                    ""
                }
            ),
            P::Field(p) => write!(f, "{p}"),
            P::DepartmentEmpty => f.write_str("department is empty"),
            P::DepartmentInvalid { text } => write!(
                f,
                "department `{text}`: at most {DEPARTMENT_MAX} characters, no control characters"
            ),
            P::CategoryEmpty => f.write_str("category is empty (staff, student or other)"),
            P::CategoryUnknown { text } => write!(
                f,
                "category `{text}` is not staff, student or other (教职工, 学生, 其他)"
            ),
            P::StatusUnknown { text } => {
                write!(f, "status `{text}` is not active or left (在职, 离职)")
            }
            P::DuplicatePersonNo { person_no, line } => {
                write!(f, "person_no {person_no} is also on line {line} of the file")
            }
            P::UnknownDepartment { text, closest } => {
                write!(f, "no department `{text}`")?;
                match closest {
                    Some((name, Some(code))) => write!(f, " (did you mean `{name}`, code {code}?)")?,
                    Some((name, None)) => write!(f, " (did you mean `{name}`?)")?,
                    None => {}
                }
                f.write_str(
                    ": correct the file, add the department first, \
                     or import with departments created (--create-departments)",
                )
            }
            P::AmbiguousDepartment { text, codes } => write!(
                f,
                "{} departments are named `{text}`: write the code ({})",
                codes.len(),
                codes.join(", ")
            ),
            P::NoCardOrPersonColumn => {
                f.write_str("the header needs a card_no or a person_no column")
            }
            P::CardAndPerson => f.write_str("give a card_no or a person_no, not both"),
            P::NoCardNorPerson => f.write_str("no card_no or person_no on this row"),
            P::NotACardNo { text } => write!(f, "card_no `{text}` is not a card number"),
            P::NoCard { card_no } => write!(f, "no card {card_no}"),
            P::NoPerson { person_no } => write!(f, "no person {person_no}"),
            P::NoCardInService { person_no } => {
                write!(f, "person {person_no} has no card in service")
            }
            P::SameCard { line } => write!(f, "the same card as line {line}"),
            P::CardRefused(r) => write!(f, "{r}"),
            P::BadAmount { text } => write!(
                f,
                "amount `{text}` is not an amount in yuan above zero with at most two decimals"
            ),
            P::NoSubsidyColumns => f.write_str(
                "the header needs a person_no (学号, 工号) and an amount (金额) column",
            ),
        }
    }
}

impl From<FieldProblem> for RowProblem {
    fn from(p: FieldProblem) -> Self {
        RowProblem::Field(p)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: nothing imported; {} bad row(s):\n{}", .rows.len(), .rows.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"))]
    BadRows { path: String, rows: Vec<RowError> },
    #[error(transparent)]
    Denied(#[from] crate::domain::permission::Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

// Reading a CSV file: shared by every import so each says the same about the same mistakes.

/// Every bad row, in file order.
pub(crate) fn bad(path: &str, mut rows: Vec<RowError>) -> ImportError {
    rows.sort_by_key(|r| r.line);
    ImportError::BadRows {
        path: path.to_string(),
        rows,
    }
}

/// One bad row.
pub(crate) fn one(path: &str, line: u64, problem: RowProblem) -> ImportError {
    bad(path, vec![RowError::new(line, problem)])
}

/// Could these bytes be GBK / GB18030 (what Excel on a Chinese Windows writes)? Every byte
/// above 0x7f starts a two-byte pair with a GBK trail byte.
fn looks_like_gbk(bytes: &[u8]) -> bool {
    let mut i = 0;
    let mut pairs = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        if !(0x81..=0xfe).contains(&b) {
            return false;
        }
        match bytes.get(i + 1) {
            Some(&t) if (0x40..=0xfe).contains(&t) && t != 0x7f => {
                pairs += 1;
                i += 2;
            }
            _ => return false,
        }
    }
    pairs > 0
}

/// The text of the file: UTF-8, a leading BOM dropped.
/// A CSV text's reader (fields trimmed, rows of any length) and its header row; a header that
/// cannot be read is line 1's problem.
pub(crate) fn open_csv<'a>(
    path: &str,
    text: &'a str,
) -> Result<(csv::Reader<&'a [u8]>, csv::StringRecord), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            one(
                path,
                1,
                RowProblem::HeaderUnreadable {
                    detail: e.to_string(),
                },
            )
        })?
        .clone();
    Ok((reader, headers))
}

/// The column whose header is one of `names` (any case).
pub(crate) fn column_of(headers: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

pub(crate) fn decode<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, ImportError> {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.valid_up_to();
            let line = body[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let problem = if e.error_len().is_none() {
                RowProblem::CutMidCharacter
            } else if looks_like_gbk(body) {
                RowProblem::Gbk
            } else {
                RowProblem::NotUtf8 { byte: at + 1 }
            };
            Err(one(path, line, problem))
        }
    }
}

/// The text of a file a machine's PC software (or Excel on a Chinese Windows) may have written
/// in GBK: UTF-8 as [`decode`] reads it, else, when it looks like GBK, decoded as GB18030.
pub(crate) fn decode_or_gbk<'a>(
    path: &str,
    bytes: &'a [u8],
) -> Result<std::borrow::Cow<'a, str>, ImportError> {
    match decode(path, bytes) {
        Ok(text) => Ok(std::borrow::Cow::Borrowed(text)),
        Err(ImportError::BadRows { rows, .. })
            if rows.len() == 1 && rows[0].problems == [RowProblem::Gbk] =>
        {
            Ok(encoding_rs::GB18030.decode_without_bom_handling(bytes).0)
        }
        Err(e) => Err(e),
    }
}

/// Line numbers from byte offsets. The csv reader's own line count is one short after a CRLF
/// header (a record's position is taken before the header's `\n`), and registrar exports are
/// CRLF as often as not.
pub(crate) struct Lines<'a> {
    text: &'a [u8],
    newlines: Vec<usize>,
}

impl Lines<'_> {
    pub(crate) fn new(text: &str) -> Lines<'_> {
        Lines {
            text: text.as_bytes(),
            newlines: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// A record read by the csv reader with its line, or the row error naming its line.
    pub(crate) fn record(
        &self,
        result: Result<csv::StringRecord, csv::Error>,
    ) -> Result<(u64, csv::StringRecord), RowError> {
        match result {
            Ok(r) => Ok((r.position().map_or(0, |p| self.of(p.byte())), r)),
            Err(e) => Err(RowError::new(
                e.position().map_or(0, |p| self.of(p.byte())),
                RowProblem::Unreadable {
                    detail: e.to_string(),
                },
            )),
        }
    }

    /// The 1-based line of the record starting at `byte` (line ends before it skipped).
    pub(crate) fn of(&self, byte: u64) -> u64 {
        let mut at = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while at < self.text.len() && matches!(self.text[at], b'\r' | b'\n') {
            at += 1;
        }
        self.newlines.partition_point(|&n| n < at) as u64 + 1
    }
}
