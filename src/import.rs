//! Imports from CSV files: validated whole, applied in one transaction, every bad row named.

pub mod extensions;
pub mod persons;
pub mod terminals;

use crate::domain::permission::Actor;
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
    }
}

/// One rejected row: its line in the file (1 = the header) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
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
pub(crate) fn one(path: &str, line: u64, message: impl Into<String>) -> ImportError {
    bad(
        path,
        vec![RowError {
            line,
            message: message.into(),
        }],
    )
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
pub(crate) fn decode<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, ImportError> {
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.valid_up_to();
            let line = body[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let message = if e.error_len().is_none() {
                "the file ends in the middle of a character: it was cut short (copy it again)"
                    .to_string()
            } else if looks_like_gbk(body) {
                "the file is not UTF-8: it looks like GBK (Excel on Chinese Windows); \
                 save it as “CSV UTF-8” (另存为 CSV UTF-8) and import again"
                    .to_string()
            } else {
                format!(
                    "the file is not UTF-8 text (byte {} of the file): save it as UTF-8 and import again",
                    at + 1
                )
            };
            Err(one(path, line, message))
        }
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
            Err(e) => Err(RowError {
                line: e.position().map_or(0, |p| self.of(p.byte())),
                message: format!("unreadable row: {e}"),
            }),
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
