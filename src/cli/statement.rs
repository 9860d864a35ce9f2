//! `onecard statement --card N [--from D] [--to D] [--csv FILE]`: a card's balance and every
//! movement of its holder's account, on screen or as CSV (audited, never overwriting unless
//! told).

use crate::app::words;
use crate::db::desk::{self, Statement};
use crate::domain::permission::Actor;
use crate::export::{local_time, CsvFile, Existing};
use crate::i18n::{tr, trf, Lang};
use chrono::NaiveDate;
use sqlx::PgPool;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct StatementArgs {
    /// The card number (the statement is its holder's account, across reissued cards).
    #[arg(long)]
    pub card: i64,
    /// First day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Write the statement as CSV to FILE (`-`: standard output) instead of a table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Replace FILE if it exists (otherwise an existing file is refused).
    #[arg(long, requires = "csv")]
    pub overwrite: bool,
}

/// From `dispatch`: the operator's language and the database, then `run`.
pub async fn main(
    cli: &super::Cli,
    config: &crate::config::Config,
    paths: &crate::config::Paths,
    demo: bool,
    args: &StatementArgs,
) -> anyhow::Result<()> {
    let (lang, _) = super::ui_choices(cli, config, true)?;
    let db = super::database_for(paths, config, demo).await?;
    let mut out = std::io::stdout();
    run(&db.pool, &super::shell_actor(), lang, args, &mut out).await
}

pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    args: &StatementArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let person = desk::statement::person_of_card(pool, args.card).await?;
    let s = desk::statement(pool, person, args.from, args.to).await?;
    match &args.csv {
        Some(path) if path.as_os_str() == "-" => {
            desk::export_statement(pool, actor, &s, &mut *out, None).await?;
        }
        Some(path) => {
            let existing = if args.overwrite {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            let mut file = CsvFile::create(path, existing)?;
            let n = desk::export_statement(pool, actor, &s, &mut file, Some(path)).await?;
            let path = file.commit()?;
            writeln!(
                out,
                "{}",
                trf(
                    lang,
                    "statement.exported",
                    &[("n", &n.to_string()), ("path", &path.display().to_string())]
                )
            )?;
        }
        None => out.write_all(table(lang, args.card, &s).as_bytes())?,
    }
    Ok(())
}

/// The holder and balances on top, then one line a movement.
pub fn table(lang: Lang, card_no: i64, s: &Statement) -> String {
    let head = trf(
        lang,
        "statement.head",
        &[
            ("card", &card_no.to_string()),
            ("name", &s.person_name),
            ("person_no", &s.person_no),
            ("opening", &s.opening.to_string()),
            ("balance", &s.balance.to_string()),
        ],
    );
    let columns: Vec<&str> = [
        "time", "kind", "channel", "card_no", "where", "amount", "balance",
    ]
    .iter()
    .map(|c| tr(lang, &format!("statement.column.{c}")))
    .collect();
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            vec![
                local_time(r.at),
                words::movement_kind(lang, &r.kind),
                words::channel(lang, r),
                r.card_no.map(|n| n.to_string()).unwrap_or_default(),
                words::statement_where(r),
                r.amount.to_string(),
                r.balance.to_string(),
            ]
        })
        .collect();
    let numeric = [false, false, false, true, false, true, true];
    format!(
        "{head}\n{}",
        crate::report::text_table(&columns, &numeric, &rows, None)
    )
}
