//! Imports from CSV files: validated whole, applied in one transaction, every bad row named.

pub mod terminals;

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
