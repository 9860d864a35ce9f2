//! `onecard ssh`, `serve --ssh` and `operator key ...`: the console over SSH and the keys
//! operators sign in with.

use super::{ui_choices, Cli, Database};
use crate::config::{Config, Paths};
use crate::db::operator_key;
use crate::domain::permission::Actor;
use crate::keymap::Keymap;
use crate::ssh::{self, Limits, Server, Site};
use anyhow::Context;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Register an OpenSSH public key (a `.pub` file) to an operator, to sign in over SSH.
    Add { login: String, file: PathBuf },
    /// The registered keys, of everyone or of one operator.
    List { login: Option<String> },
    /// Remove an operator's key by its fingerprint (SHA256:..., as `key list` shows it).
    Remove { login: String, fingerprint: String },
}

/// Binds the SSH server on `addr` and says where, with the host key's fingerprint.
pub async fn start(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    db: &Database,
    addr: &str,
) -> anyhow::Result<Server> {
    let (lang, theme) = ui_choices(cli, config, false)?;
    let preset = cli
        .keymap
        .as_deref()
        .or(config.ui.keymap.as_deref())
        .unwrap_or("default");
    let (keymap, errors) = Keymap::load(preset, Some(&paths.keymap_file()));
    for e in &errors {
        tracing::warn!(error = %e, "keymap");
    }
    let site = Site {
        lang,
        theme,
        keymap: Arc::new(keymap),
        db_where: db.place(),
        desk_reader: config.ui.desk_reader.clone(),
        wallboard_secs: config
            .wallboard
            .screen_secs
            .unwrap_or(crate::app::wallboard::DEFAULT_SECS),
    };
    let path = ssh::host_key_path(&paths.data_dir);
    let key = ssh::host_key(&path)?;
    let limits = Limits::read(&db.pool).await?;
    let fingerprint = ssh::fingerprint(&key);
    let server = Server::bind(addr, key, db.pool.clone(), site, limits).await?;
    let at = server.local_addr()?;
    tracing::info!(%at, %fingerprint, "ssh: listening");
    say(&format!(
        "onecard ssh: listening on {at}\nhost key {fingerprint} ({})\n\
         at most {} consoles, {} per operator; {} idle minutes close one",
        path.display(),
        limits.total,
        limits.per_operator,
        limits.idle.as_secs() / 60
    ));
    Ok(server)
}

/// SIGINT or SIGTERM.
pub async fn stopped() {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn say(text: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

pub async fn key(db: &Database, actor: &Actor, command: &KeyCmd) -> anyhow::Result<()> {
    match command {
        KeyCmd::Add { login, file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let k = operator_key::add(&db.pool, actor, login, &text).await?;
            say(&format!(
                "key {} ({}{}) added to {}",
                k.fingerprint,
                k.algorithm,
                if k.comment.is_empty() {
                    String::new()
                } else {
                    format!(", {}", k.comment)
                },
                k.login
            ));
        }
        KeyCmd::List { login } => {
            let keys = operator_key::list(&db.pool, login.as_deref()).await?;
            say(&format!(
                "{:<16} {:<52} {:<20} {:<16} comment",
                "login", "fingerprint", "algorithm", "added"
            ));
            for k in keys {
                say(&format!(
                    "{:<16} {:<52} {:<20} {:<16} {}",
                    k.login,
                    k.fingerprint,
                    k.algorithm,
                    crate::domain::time::local(k.added_at).format("%Y-%m-%d %H:%M"),
                    k.comment
                ));
            }
        }
        KeyCmd::Remove { login, fingerprint } => {
            let k = operator_key::remove(&db.pool, actor, login, fingerprint).await?;
            say(&format!("key {} of {} removed", k.fingerprint, k.login));
        }
    }
    Ok(())
}
