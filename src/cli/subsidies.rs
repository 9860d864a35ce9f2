//! `onecard import subsidies FILE [--batch ID]`: what was paid, or every bad row named, in the
//! operator's language.

use crate::app::words;
use crate::domain::permission::Actor;
use crate::export::local_time;
use crate::i18n::{trf, Lang};
use crate::import::{subsidies, ImportCmd, ImportError};
use sqlx::PgPool;
use std::io::Write;
use std::path::Path;

/// `onecard import ...`: subsidies here, the other imports in `import::cli`.
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    cmd: &ImportCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        ImportCmd::Subsidies { file, batch } => {
            run(pool, actor, lang, file, batch.as_deref(), out).await
        }
        other => crate::import::cli(pool, actor, other, out).await,
    }
}

/// The command line's load: what was paid, or every bad row, in the operator's language.
pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    file: &Path,
    batch: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let path = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
        path: path.clone(),
        source,
    })?;
    let o = match subsidies::import(pool, actor, &path, &bytes, batch).await {
        Ok(o) => o,
        Err(ImportError::BadRows { path, rows }) => {
            let rows: Vec<String> = rows
                .iter()
                .map(|r| format!("  {}", words::import_row(lang, r)))
                .collect();
            anyhow::bail!(
                "{}\n{}",
                trf(
                    lang,
                    "subsidy.bad_rows",
                    &[("path", &path), ("n", &rows.len().to_string())]
                ),
                rows.join("\n")
            );
        }
        Err(e) => return Err(e.into()),
    };
    let args = [
        ("batch", o.batch_id.clone()),
        ("total", o.total.to_string()),
        ("n", o.persons.to_string()),
        ("at", local_time(o.at)),
    ];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let key = match (o.paid_now, o.same_file) {
        (true, _) => "subsidy.paid",
        (false, true) => "subsidy.paid_already",
        (false, false) => "subsidy.paid_already_other_file",
    };
    writeln!(out, "{}", trf(lang, key, &args))?;
    Ok(())
}
