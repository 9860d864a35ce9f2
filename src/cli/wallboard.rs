//! `onecard wallboard`: the control room's wall screen. It signs in before the screen opens, as
//! an operator of the wallboard role only: a wall screen is unattended, so the account behind it
//! can change nothing even if a key got through (and none does: `app::wallboard`).

use super::{console_options, open_database, Cli};
use crate::config::{Config, Paths};
use crate::console;
use crate::db::operator;
use crate::domain::role::Role;
use anyhow::{anyhow, bail};
use std::io::{BufRead, IsTerminal};

#[derive(Debug, clap::Args)]
pub struct WallboardArgs {
    /// The wallboard operator to sign in as (default: wallboard.login in config.toml).
    #[arg(long)]
    pub login: Option<String>,
    /// Seconds each screen stays (default: wallboard.screen_secs in config.toml, else 15; 3 to
    /// 3600).
    #[arg(long)]
    pub secs: Option<u32>,
}

/// The password: asked on the terminal (standard input, echo off), or the first line of
/// standard input when that is not a terminal (a kiosk started at boot).
fn read_password(login: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::Write;
    let stdin = std::io::stdin();
    let mut line = String::new();
    if !stdin.is_terminal() {
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "Password of {login}: ");
    let _ = err.flush();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &saved)?;
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Why `role` may not sign in to the wallboard, if it may not.
pub fn refusal(login: &str, role: Role) -> Option<String> {
    (role != Role::Wallboard).then(|| {
        format!(
            "{login} is a {role}: the wallboard signs in only as an operator of the wallboard role, \
             which can change nothing (onecard operator add wall --role wallboard --name 值班大屏)"
        )
    })
}

pub async fn run(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    args: &WallboardArgs,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!("the wallboard needs a terminal to draw on");
    }
    let login = args
        .login
        .clone()
        .or_else(|| config.wallboard.login.clone())
        .ok_or_else(|| {
            anyhow!("which operator? --login L, or wallboard.login in config.toml (an operator of the wallboard role)")
        })?;
    let db = open_database(paths, config, super::Access::Console).await?;
    let password = read_password(&login)?;
    let session =
        operator::authenticate(&db.pool, &login, &password, &console::client_label()).await?;
    let refused = refusal(&login, session.operator.role).or_else(|| {
        session.operator.must_change_password.then(|| {
            format!("{login} must choose a password first: sign in once to the console (onecard) as {login}")
        })
    });
    if let Some(why) = refused {
        operator::end_session(&db.pool, session.id).await?;
        bail!(why);
    }
    let mut options = console_options(cli, config, paths, db.place(), None)?;
    options.signed_in = Some(session);
    if let Some(secs) = args.secs {
        options.wallboard_secs = secs;
    }
    console::run(db.pool, options).await
}
