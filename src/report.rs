//! The card desk's four reports. (Being built.)

use crate::domain::permission::Actor;
use sqlx::PgPool;
use std::io::Write;

/// `onecard report ...`
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// issued, balances, extensions or losses.
    pub report: String,
}

pub async fn cli(
    _pool: &PgPool,
    _actor: &Actor,
    args: &ReportArgs,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("report {} is not built yet", args.report)
}
