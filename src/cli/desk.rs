//! `onecard desk ...`: the card desks and their cash drawers from the command line: list them,
//! open one (tied to a desk reader), close a shift with the cash counted.

use crate::db::desk;
use crate::domain::money::Money;
use crate::domain::permission::Actor;
use crate::i18n::{trf, Lang};
use sqlx::PgPool;
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum DeskCmd {
    /// Every card desk, the cash its drawer holds and its last shift close.
    List,
    /// Open a card desk with its own cash drawer; consoles whose `ui.desk_reader` is READER
    /// work at it.
    Add {
        name: String,
        /// The desk reader's name in the terminal inventory.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Close the desk's shift (default: the first desk) with the cash counted, the shift's
    /// takings; a difference needs --reason.
    CloseShift {
        #[arg(long)]
        desk: Option<String>,
        #[arg(long)]
        counted: Money,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// From `dispatch`: the operator's language and the database, then `run`.
pub async fn main(
    cli: &super::Cli,
    config: &crate::config::Config,
    paths: &crate::config::Paths,
    demo: bool,
    cmd: &DeskCmd,
) -> anyhow::Result<()> {
    let (lang, _) = super::ui_choices(cli, config, true)?;
    let db = super::database_for(paths, config, demo).await?;
    let mut out = std::io::stdout();
    run(&db.pool, &super::shell_actor(), lang, cmd, &mut out).await
}

pub async fn run(
    pool: &PgPool,
    actor: &Actor,
    lang: Lang,
    cmd: &DeskCmd,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        DeskCmd::List => {
            for d in desk::desks(pool).await? {
                let holds: Money = sqlx::query_scalar("SELECT -balance FROM account WHERE id = $1")
                    .bind(d.drawer_account_id)
                    .fetch_one(pool)
                    .await?;
                let last = desk::shifts(pool, d.id, 1).await?;
                let closed = last
                    .first()
                    .map(|s| crate::export::local_time(s.closed_at))
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{}",
                    trf(
                        lang,
                        "desk.list_line",
                        &[
                            ("name", &d.name),
                            ("holds", &holds.to_string()),
                            ("closed", &closed)
                        ]
                    )
                )?;
            }
        }
        DeskCmd::Add { name, reader } => {
            let reader = match reader {
                Some(r) => Some(
                    crate::console::desk_reader_id(pool, lang, r)
                        .await
                        .map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            let d = desk::add_desk(pool, actor, name, reader).await?;
            writeln!(out, "{}", trf(lang, "desk.added", &[("name", &d.name)]))?;
        }
        DeskCmd::CloseShift {
            desk: name,
            counted,
            reason,
        } => {
            let s = desk::close_shift(pool, actor, name.as_deref(), *counted, reason).await?;
            writeln!(out, "{}", crate::app::words::shift_closed(lang, &s))?;
        }
    }
    Ok(())
}
