//! `onecard import extensions`: a batch of card extensions from a CSV list. (Being built.)

use crate::domain::permission::Actor;
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

pub async fn cli(
    _pool: &PgPool,
    _actor: &Actor,
    file: &Path,
    _until: chrono::NaiveDate,
    _dry_run: bool,
    _out: &mut dyn Write,
) -> anyhow::Result<()> {
    anyhow::bail!("{}: batch extension is not built yet", file.display())
}
