//! The command line: `onecard` and its subcommands. The binary's edge: errors become messages.

use crate::app::state::{DbWhere, ThemeName};
use crate::config::{Config, Paths};
use crate::console::{self, ConsoleOptions};
use crate::db::roles::Access;
use crate::db::{audit, operator};
use crate::domain::money::Money;
use crate::domain::permission::Actor;
use crate::domain::role::Role;
use crate::i18n::Lang;
use crate::keymap::Keymap;
use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

mod attendance;
mod attendance_machines;
mod attendance_sync;
mod desk;
mod doors;
mod ledger;
mod merchant;
mod patrol;
mod settle;
mod ssh;
mod statement;
mod subsidies;
mod wallboard;

// println!/eprintln! panic when the terminal or pipe is gone (a dropped SSH session, `| head`):
// a message nobody can read is not worth a crash.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! say_err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

// After the macros: these use them.
mod database;
mod db_cmd;
mod serve;
mod site;

use database::database_for;
pub use database::{as_role, cluster_for, demo_database, open_database, open_owner, Database};
use db_cmd::db_command;
use serve::{parse_hh_mm, serve};
use site::SiteCmd;

#[derive(Debug, Parser)]
#[command(
    name = "onecard",
    version,
    about = "The one-card (一卡通) control-room console"
)]
pub struct Cli {
    /// Colour theme: default, basic (16 colours; also chosen by NO_COLOR) or light.
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// Keymap preset under your keymap.toml: default or vim.
    #[arg(long, global = true)]
    pub keymap: Option<String>,
    /// Interface language: en or zh-CN (default: ui.language, then the locale).
    #[arg(long, global = true)]
    pub lang: Option<String>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Open the console (the default).
    Console,
    /// Open the console on the demo site, signed in as the demo director.
    Demo {
        /// List the demo operators and their passwords, then exit.
        #[arg(long)]
        accounts: bool,
        /// Rebuild the demo database from scratch.
        #[arg(long)]
        reset: bool,
        /// Open the wallboard instead, signed in as the demo's wallboard operator.
        #[arg(long)]
        wallboard: bool,
    },
    /// The control room's wall screen: alarms by priority, the door tree, the patrol map and
    /// the terminals' health in turn, live; read only. Signs in as an operator of the wallboard
    /// role (asks for the password, or reads it from standard input when that is not a
    /// terminal).
    Wallboard(wallboard::WallboardArgs),
    /// Simulate a site of terminals speaking the real protocols (UHPPOTE, ZKTeco, onecard RS-485).
    Sim {
        /// The built-in demo site (the default when no --site is given).
        #[arg(long)]
        demo: bool,
        /// A site file (TOML).
        #[arg(long, conflicts_with = "demo")]
        site: Option<PathBuf>,
        /// Seed for every random choice (overrides the site file).
        #[arg(long)]
        seed: Option<u64>,
        /// Background records per second across the site (overrides the site file).
        #[arg(long)]
        rate: Option<f64>,
        /// Shift every port: UHPPOTE on P, ZKTeco on P+10.., RS-485 lines on P+20.., control on P+99.
        #[arg(long)]
        base_port: Option<u16>,
        /// Write the records generated per terminal (JSON) here on exit.
        #[arg(long)]
        tally: Option<PathBuf>,
    },
    /// The database: the embedded cluster, migrations, backups.
    Db {
        #[command(subcommand)]
        command: DbCmd,
    },
    /// Operator accounts.
    Operator {
        #[command(subcommand)]
        command: OperatorCmd,
    },
    /// The terminal inventory.
    Terminal {
        #[command(subcommand)]
        command: TerminalCmd,
    },
    /// Import people (from the registrar or HR) or a batch of card extensions, from CSV.
    Import {
        /// Import into the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: crate::import::ImportCmd,
    },
    /// Card kinds and their policies: balance on return (kept or refunded), limits, fees,
    /// longest validity.
    CardKind {
        #[command(subcommand)]
        command: CardKindCmd,
    },
    /// The card desk's four reports (issued cards, balances, extensions, losses), on screen or
    /// streamed to CSV.
    Report {
        /// Report on the demo's database (the one `onecard demo` opens).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        args: crate::report::ReportArgs,
    },
    /// The site's settings.
    Site {
        #[command(subcommand)]
        command: SiteCmd,
    },
    /// Doors: events on screen or as CSV for campus security, remote open, the purge of old
    /// records.
    Doors {
        /// Act on the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: doors::DoorsCmd,
    },
    /// Patrol: the omission report (遗漏计算) on screen or as CSV, imports of the patrol plan,
    /// the purge of old patrol records.
    Patrol {
        /// Act on the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: patrol::PatrolCmd,
    },
    /// Attendance: the machines (extraction, clearing, clocks, the person sync), shifts,
    /// schedules, holidays, corrections. Results: `onecard report attendance`.
    Attendance {
        /// Act on the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: attendance::AttendanceCmd,
    },
    /// The books: `ledger verify` checks that they balance.
    Ledger {
        /// Check the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: ledger::LedgerCmd,
    },
    /// The merchant register: apply, approve, suspend, close, commission, POS terminals.
    Merchant(merchant::MerchantArgs),
    /// Settle a period: each merchant's statement locked and shown, with the total; or CSV.
    Settle(settle::SettleArgs),
    /// Reconcile a day: each POS's own totals against the records received and the ledger.
    Reconcile(settle::ReconcileArgs),
    /// The card desks and their cash drawers: list, add, close a shift.
    Desk {
        /// Act on the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: desk::DeskCmd,
    },
    /// A card's balance and statement: every movement of its holder's account, with its
    /// terminal and merchant, on screen or as CSV.
    Statement {
        /// Read the demo's database (the one `onecard demo` opens).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        args: statement::StatementArgs,
    },
    /// The audit log.
    Audit {
        /// Check the demo's database (the one `onecard demo` opens).
        #[arg(long, global = true)]
        demo: bool,
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Poll the terminals headless until SIGINT or SIGTERM: every enabled line this process can
    /// take (one owner per line across all `serve` processes; a standby takes over).
    Serve {
        /// This process's name in the command queue and the logs (default: host:pid).
        #[arg(long)]
        worker: Option<String>,
        /// How often free lines are looked for, in milliseconds (a standby's takeover delay).
        #[arg(long, default_value_t = 2000)]
        recheck_ms: u64,
        /// How long a line's owner may make no progress before a standby fences it and takes
        /// the line, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        stale_ms: u64,
        /// Take the day's `db backup` once the site's clock passes HH:MM (once a day across
        /// every serve process; into `backup.dir`, default `<data dir>/backups`).
        #[arg(long, value_name = "HH:MM", value_parser = parse_hh_mm)]
        backup_at: Option<chrono::NaiveTime>,
        /// Also serve the console over SSH on this address (as `onecard ssh` does).
        #[arg(long, value_name = "ADDR")]
        ssh: Option<String>,
    },
    /// Serve the console over SSH: operators sign in with their onecard account (password or a
    /// registered key, `operator key add`); each connection gets its own console, never a shell.
    Ssh {
        /// The address to listen on.
        #[arg(long, default_value = crate::ssh::DEFAULT_LISTEN)]
        listen: String,
    },
    /// Measure ingest, alarm latency and serve's CPU and memory against a simulated site, in a
    /// database of its own (onecard_bench, recreated each run). Prints; never fails on a number.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Where the database is and whether it is up.
    Status,
    /// Start the embedded cluster (consoles also start it on demand).
    Start,
    /// Stop the embedded cluster.
    Stop,
    /// Apply pending migrations.
    Migrate,
    /// Write a pg_dump (custom format) with a timestamped name and record it.
    Backup {
        /// Folder for the file (default: backup.dir, else <data dir>/backups).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Restore a backup file into an empty database.
    Restore {
        file: PathBuf,
        /// The embedded database to restore into (created if missing; must be empty).
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Create an operator; they must change the password at first sign-in.
    Add {
        login: String,
        #[arg(long)]
        role: String,
        /// Display name (Chinese or Latin).
        #[arg(long)]
        name: String,
        /// Read the password from standard input instead of asking twice on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// End every open session of an operator: each of their consoles goes back to the sign-in
    /// screen at once (audited).
    Kick { login: String },
    /// Set an operator's password (they must change it at next sign-in).
    Passwd {
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators.
    List,
    /// The public keys an operator signs in with over SSH (`onecard ssh`).
    Key {
        #[command(subcommand)]
        command: ssh::KeyCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum TerminalCmd {
    /// Add lines and terminals from a CSV file (all or nothing; every bad row named).
    Import { file: PathBuf },
    /// List lines and terminals with their status.
    List,
}

#[derive(Debug, Subcommand)]
pub enum CardKindCmd {
    /// Each card kind's policy.
    List,
    /// Change one card kind's policy (only the options given change; audited).
    Set {
        /// staff, student or temporary.
        kind: crate::domain::card::CardKind,
        /// What a return or cancellation does with the balance: kept or refunded.
        #[arg(long)]
        balance_on_return: Option<crate::db::card::BalancePolicy>,
        /// Default per-purchase amount limit (above it the POS asks for the payment PIN).
        #[arg(long)]
        per_purchase_limit: Option<Money>,
        /// Default daily purchase count limit.
        #[arg(long)]
        daily_count_limit: Option<i32>,
        /// Longest validity one issue or extension may give, in days (temporary: at most 365).
        #[arg(long)]
        max_validity_days: Option<i32>,
        #[arg(long)]
        issue_fee: Option<Money>,
        #[arg(long)]
        reissue_fee: Option<Money>,
        #[arg(long)]
        exchange_fee: Option<Money>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain and report the first broken link.
    Verify,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            say_err!("onecard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _log = crate::logging::init(&paths.log_dir());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            say_err!("onecard: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli, paths)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            say_err!("onecard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn shell_actor() -> Actor {
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "unknown".into());
    Actor::shell(&user)
}

fn read_new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: use --password-stdin");
    }
    let a = rpassword::prompt_password("New password: ")?;
    let b = rpassword::prompt_password("Again: ")?;
    if a != b {
        bail!("the two passwords differ");
    }
    Ok(a)
}

/// Language and theme: command line, then config.toml, then the locale and `NO_COLOR`.
pub fn ui_choices(cli: &Cli, config: &Config, no_color: bool) -> anyhow::Result<(Lang, ThemeName)> {
    let lang = match cli.lang.as_deref().or(config.ui.language.as_deref()) {
        Some(code) => {
            Lang::from_code(code).ok_or_else(|| anyhow!("unknown language `{code}` (en, zh-CN)"))?
        }
        None => Lang::from_locale(),
    };
    let theme = match cli.theme.as_deref().or(config.ui.theme.as_deref()) {
        Some(name) => ThemeName::parse(name)
            .ok_or_else(|| anyhow!("unknown theme `{name}` (default, basic, light)"))?,
        None if no_color => ThemeName::Basic,
        None => ThemeName::Default,
    };
    Ok((lang, theme))
}

fn console_options(
    cli: &Cli,
    config: &Config,
    paths: &Paths,
    db_where: DbWhere,
    demo_login: Option<String>,
) -> anyhow::Result<ConsoleOptions> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (lang, theme) = ui_choices(cli, config, no_color)?;
    let preset = cli
        .keymap
        .as_deref()
        .or(config.ui.keymap.as_deref())
        .unwrap_or("default");
    let (keymap, errors) = Keymap::load(preset, Some(&paths.keymap_file()));
    Ok(ConsoleOptions {
        lang,
        theme,
        keymap: Arc::new(keymap),
        keymap_errors: errors,
        db_where,
        demo_login,
        signed_in: None,
        leave_on_sign_out: false,
        desk_reader: config.ui.desk_reader.clone(),
        wallboard_secs: config
            .wallboard
            .screen_secs
            .unwrap_or(crate::app::wallboard::DEFAULT_SECS),
    })
}

fn require_terminal() -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("the console needs a terminal (run it in a terminal or over ssh -t)");
    }
    Ok(())
}

async fn dispatch(cli: Cli, paths: Paths) -> anyhow::Result<ExitCode> {
    let config = Config::load(&paths.config_file())?;
    match &cli.command {
        None | Some(Cmd::Console) => {
            require_terminal()?;
            let db = open_database(&paths, &config, Access::Console).await?;
            let options = console_options(&cli, &config, &paths, db.place(), None)?;
            console::run(db.pool, options).await?;
        }
        Some(Cmd::Wallboard(args)) => wallboard::run(&cli, &config, &paths, args).await?,
        Some(Cmd::Demo {
            accounts,
            reset,
            wallboard,
        }) => {
            let pool = demo_database(&paths, *reset).await?.pool;
            // The offline machine's exported log, ready to import (from the tab or the CLI).
            crate::demo::attendance::offline_machine(&pool).await?;
            let offline = crate::demo::attendance::write_offline_file(
                &pool,
                &paths.data_dir,
                1,
                crate::domain::time::today(),
            )
            .await?;
            if *accounts {
                say!("{:<14} {:<26} {:<10} password", "login", "role", "name");
                for (login, role, name, password) in crate::demo::accounts(&pool).await? {
                    say!("{login:<14} {role:<26} {name:<10} {password}");
                }
                match crate::demo::control_address(&pool).await? {
                    Some(addr) => say!(
                        "\nsimulator control interface: tcp {addr} (list, tally, <id> <verb> ..., quit)"
                    ),
                    None => say!(
                        "\nsimulator: not running; it runs while a demo console is open, its control \
                         interface on tcp 127.0.0.1:4499 (a free port when that one is taken)"
                    ),
                }
                say!(
                    "\noffline attendance machine {m}: its exported log is {f}\n  import it with: onecard import punches {f} --machine {m} --demo",
                    m = crate::demo::attendance::OFFLINE_MACHINE,
                    f = offline.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            require_terminal()?;
            let login = if *wallboard {
                crate::demo::WALLBOARD
            } else {
                crate::demo::DIRECTOR
            };
            let options =
                console_options(&cli, &config, &paths, DbWhere::Demo, Some(login.into()))?;
            let live = crate::demo::LiveSite::start(&pool).await?;
            // The simulated site's pollers keep the owner's pool; the console gets its role's.
            let demo = Database {
                pool: pool.clone(),
                options: cluster_for(&paths)?.connect_options(crate::demo::DATABASE),
                password: None,
                cluster: Some(cluster_for(&paths)?),
                label: "demo".to_string(),
            };
            let console_pool = as_role(demo, &config, Access::Console).await?.pool;
            let result = console::run(console_pool, options).await;
            if let Some(live) = live {
                live.stop().await;
            }
            result?;
        }
        Some(Cmd::Db { command }) => return db_command(command, &paths, &config).await,
        Some(Cmd::Serve {
            worker,
            recheck_ms,
            stale_ms,
            backup_at,
            ssh,
        }) => {
            serve(
                &cli,
                &paths,
                &config,
                worker.clone(),
                (*recheck_ms, *stale_ms),
                *backup_at,
                ssh.as_deref(),
            )
            .await?
        }
        Some(Cmd::Ssh { listen }) => {
            let db = open_database(&paths, &config, Access::Console).await?;
            let server = ssh::start(&cli, &config, &paths, &db, listen).await?;
            server.serve(ssh::stopped()).await?;
            say!("onecard ssh: stopped");
        }
        Some(Cmd::Bench(args)) => {
            let server = match config.database_url() {
                Some(url) => crate::bench::Server::External(url),
                None => crate::bench::Server::Embedded(cluster_for(&paths)?),
            };
            crate::bench::run(server, args.clone()).await?
        }
        Some(Cmd::Sim {
            demo: _,
            site,
            seed,
            rate,
            base_port,
            tally,
        }) => {
            let mut site = match site {
                Some(path) => crate::sim::site::SiteConfig::load(path)?,
                None => crate::sim::site::SiteConfig::demo(),
            };
            if let Some(seed) = seed {
                site.seed = *seed;
            }
            if let Some(rate) = rate {
                site.rate = *rate;
            }
            let ports = crate::sim::site::Ports::new(*base_port)?;
            crate::sim::runner::run(site, ports, tally.clone()).await?;
        }
        Some(Cmd::Operator { command }) => {
            let db = open_database(&paths, &config, Access::Console).await?;
            let actor = shell_actor();
            match command {
                OperatorCmd::Add {
                    login,
                    role,
                    name,
                    password_stdin,
                } => {
                    let role = Role::from_str(role)?;
                    let password = read_new_password(*password_stdin)?;
                    let op = operator::create(
                        &db.pool,
                        &actor,
                        operator::NewOperator {
                            login,
                            display_name: name,
                            role,
                            password: &password,
                            must_change_password: true,
                        },
                    )
                    .await?;
                    say!("operator {} ({}) added as {}; they choose their own password at first sign-in", op.login, op.display_name, op.role);
                }
                OperatorCmd::Passwd {
                    login,
                    password_stdin,
                } => {
                    let password = read_new_password(*password_stdin)?;
                    operator::set_password(&db.pool, &actor, login, &password).await?;
                    say!("password of {login} set; they must change it at next sign-in");
                }
                OperatorCmd::Kick { login } => {
                    let n = operator::kick(&db.pool, &actor, login).await?;
                    say!("{login}: {n} open session(s) ended");
                }
                OperatorCmd::Key { command } => ssh::key(&db, &actor, command).await?,
                OperatorCmd::List => {
                    let now = chrono::Utc::now();
                    say!("{:<16} {:<26} {:<12} name", "login", "role", "state");
                    for op in operator::list(&db.pool).await? {
                        let state = if op.disabled {
                            "disabled"
                        } else if op.is_locked(now) {
                            "locked"
                        } else if op.must_change_password {
                            "must-change"
                        } else {
                            "active"
                        };
                        say!(
                            "{:<16} {:<26} {:<12} {}",
                            op.login,
                            op.role.name(),
                            state,
                            op.display_name
                        );
                    }
                }
            }
        }
        Some(Cmd::Terminal { command }) => {
            let db = open_database(&paths, &config, Access::Console).await?;
            match command {
                TerminalCmd::Import { file } => {
                    let bytes = std::fs::read(file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let text = crate::import::decode(&file.display().to_string(), &bytes)?;
                    let (lines, terminals) = crate::import::terminals::import(
                        &db.pool,
                        &shell_actor(),
                        &file.display().to_string(),
                        text,
                    )
                    .await?;
                    say!(
                        "imported {terminals} terminals ({lines} new lines) from {}",
                        file.display()
                    );
                }
                TerminalCmd::List => {
                    let lines = crate::db::terminal::lines(&db.pool).await?;
                    for t in crate::db::terminal::terminals(&db.pool).await? {
                        let line = lines
                            .iter()
                            .find(|l| l.id == t.line_id)
                            .map(|l| l.name.as_str())
                            .unwrap_or("?");
                        say!(
                            "{:<16} {:<20} {:>10} {:<8} {}",
                            line,
                            t.kind,
                            t.address,
                            t.status,
                            t.name
                        );
                    }
                }
            }
        }
        Some(Cmd::Import { demo, command }) => {
            let (lang, _) = ui_choices(&cli, &config, true)?;
            let db = database_for(&paths, &config, *demo).await?;
            let mut out = std::io::stdout();
            if let crate::import::ImportCmd::Punches {
                file,
                machine,
                dry_run,
            } = command
            {
                let actor = shell_actor();
                attendance_sync::import_punches(
                    &db.pool, &actor, lang, file, machine, *dry_run, &mut out,
                )
                .await?;
                return Ok(ExitCode::SUCCESS);
            }
            subsidies::import(&db.pool, &shell_actor(), lang, command, &mut out).await?;
        }
        Some(Cmd::CardKind { command }) => {
            let db = open_database(&paths, &config, Access::Console).await?;
            if let CardKindCmd::Set {
                kind,
                balance_on_return,
                per_purchase_limit,
                daily_count_limit,
                max_validity_days,
                issue_fee,
                reissue_fee,
                exchange_fee,
            } = command
            {
                let kinds = crate::db::card::card_kinds(&db.pool).await?;
                let Some(mut p) = kinds.into_iter().find(|p| p.kind == *kind) else {
                    bail!("card kind {kind} is missing from the database");
                };
                p.balance_on_return = balance_on_return.unwrap_or(p.balance_on_return);
                p.per_purchase_limit = per_purchase_limit.unwrap_or(p.per_purchase_limit);
                p.daily_count_limit = daily_count_limit.unwrap_or(p.daily_count_limit);
                p.max_validity_days = max_validity_days.or(p.max_validity_days);
                p.issue_fee = issue_fee.unwrap_or(p.issue_fee);
                p.reissue_fee = reissue_fee.unwrap_or(p.reissue_fee);
                p.exchange_fee = exchange_fee.unwrap_or(p.exchange_fee);
                crate::db::card::set_card_kind_policy(&db.pool, &shell_actor(), &p).await?;
            }
            say!(
                "{:<10} {:<6} {:<10} {:<8} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8}",
                "kind",
                "doors",
                "attendance",
                "balance",
                "per buy",
                "a day",
                "max days",
                "issue",
                "reissue",
                "exchange"
            );
            for p in crate::db::card::card_kinds(&db.pool).await? {
                say!(
                    "{:<10} {:<6} {:<10} {:<8} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8}",
                    p.kind.name(),
                    if p.doors { "yes" } else { "no" },
                    if p.attendance { "yes" } else { "no" },
                    p.balance_on_return.name(),
                    p.per_purchase_limit,
                    p.daily_count_limit,
                    p.max_validity_days
                        .map_or("-".to_string(), |d| d.to_string()),
                    p.issue_fee,
                    p.reissue_fee,
                    p.exchange_fee
                );
            }
        }
        Some(Cmd::Desk { demo, command }) => {
            desk::main(&cli, &config, &paths, *demo, command).await?
        }
        Some(Cmd::Statement { demo, args }) => {
            statement::main(&cli, &config, &paths, *demo, args).await?
        }
        Some(Cmd::Report { demo, args }) => {
            let db = database_for(&paths, &config, *demo).await?;
            let mut out = std::io::stdout();
            crate::report::cli(&db.pool, &shell_actor(), args, &mut out).await?;
        }
        Some(Cmd::Site { command }) => {
            let db = open_database(&paths, &config, Access::Console).await?;
            site::run(&db, command).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Doors { demo, command }) => {
            let db = database_for(&paths, &config, *demo).await?;
            let mut out = std::io::stdout();
            return doors::run(&db.pool, &shell_actor(), command, &mut out).await;
        }
        Some(Cmd::Patrol { demo, command }) => {
            let db = database_for(&paths, &config, *demo).await?;
            let mut out = std::io::stdout();
            return patrol::run(&db.pool, &shell_actor(), command, &mut out).await;
        }
        Some(Cmd::Attendance { demo, command }) => {
            let db = database_for(&paths, &config, *demo).await?;
            let mut out = std::io::stdout();
            let (lang, _) = ui_choices(&cli, &config, true)?;
            return attendance::run(&db.pool, &shell_actor(), lang, command, &mut out).await;
        }
        Some(Cmd::Ledger { demo, command }) => {
            let (lang, _) = ui_choices(&cli, &config, true)?;
            let db = database_for(&paths, &config, *demo).await?;
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            return ledger::run(&db.pool, lang, command, &mut out, &mut err).await;
        }
        Some(cmd @ (Cmd::Merchant(_) | Cmd::Settle(_) | Cmd::Reconcile(_))) => {
            let (lang, _) = ui_choices(&cli, &config, true)?;
            let db = database_for(&paths, &config, settle::demo(cmd)).await?;
            return settle::run(&db.pool, &shell_actor(), lang, cmd).await;
        }
        Some(Cmd::Audit {
            demo,
            command: AuditCmd::Verify,
        }) => {
            let db = database_for(&paths, &config, *demo).await?;
            let v = audit::verify(&db.pool).await?;
            match v.first_break {
                None => say!("audit log intact: {} rows, every link verified", v.rows),
                Some((id, why)) => {
                    let reason = match why {
                        audit::Break::Edited => "the row was edited after it was written",
                        audit::Break::Unlinked => "a row before it was deleted or inserted",
                    };
                    say_err!("audit log BROKEN at row {id}: {reason}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
