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
    /// bad row named). Departments are created as needed.
    Persons {
        file: PathBuf,
        /// Only say what would change (new, updated, left alone).
        #[arg(long)]
        dry_run: bool,
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
        ImportCmd::Persons { file, dry_run } => {
            persons::cli(pool, actor, file, *dry_run, out).await
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
