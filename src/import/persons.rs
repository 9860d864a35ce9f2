//! `onecard import persons`: the person register from the registrar or HR. (Being built.)

use crate::domain::permission::Actor;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

pub async fn cli(
    _pool: &PgPool,
    _actor: &Actor,
    file: &Path,
    _dry_run: bool,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("{}: person import is not built yet", file.display())
}
