//! `onecard serve`: the poller, the daily backup and, with `--ssh`, the console over SSH.

use super::{open_database, ssh, Cli};
use crate::config::{Config, Paths};
use crate::db::backup;
use crate::db::roles::Access;
use crate::domain::permission::Actor;
use sqlx::PgPool;

/// `onecard serve`: the poller (and with `ssh`, the console over SSH) until SIGINT or SIGTERM.
pub(super) async fn serve(
    cli: &Cli,
    paths: &Paths,
    config: &Config,
    worker: Option<String>,
    (recheck_ms, stale_ms): (u64, u64),
    backup_at: Option<chrono::NaiveTime>,
    ssh_at: Option<&str>,
) -> anyhow::Result<()> {
    let db = open_database(paths, config, Access::Serve).await?;
    let (stop_ssh, ssh_stopped) = tokio::sync::watch::channel(false);
    let ssh_server = match ssh_at {
        Some(addr) => {
            // The consoles it serves act as operators: the console's role, not serve's.
            let console_db = open_database(paths, config, Access::Console).await?;
            let server = ssh::start(cli, config, paths, &console_db, addr).await?;
            let mut stopped = ssh_stopped.clone();
            Some(tokio::spawn(server.serve(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })))
        }
        None => None,
    };
    let worker = worker.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}:{}", std::process::id())
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let options = crate::poller::Options {
        recheck: std::time::Duration::from_millis(recheck_ms.max(100)),
        stale_after: std::time::Duration::from_millis(stale_ms.max(500)),
        extract_schedule: true,
        ..crate::poller::Options::default()
    };
    let supervisor =
        crate::poller::Supervisor::start_with(db.pool.clone(), worker.clone(), options);
    let daily = backup_at.map(|at| {
        let daily = backup::Daily {
            at,
            folder: config
                .backup
                .dir
                .clone()
                .unwrap_or_else(|| paths.backup_dir()),
            pg_dump: db.tool("pg_dump"),
            options: db.options.clone(),
            password: db.password.clone(),
            worker: worker.clone(),
        };
        tokio::spawn(daily_backups(db.pool.clone(), daily))
    });
    say!(
        "onecard serve: polling as {worker} on {} (Ctrl-C to stop)",
        db.label
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    if let Some(daily) = daily {
        daily.abort();
    }
    let _ = stop_ssh.send(true);
    if let Some(task) = ssh_server {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "ssh server");
        }
    }
    let stats = supervisor.stats();
    supervisor.stop().await;
    say!("onecard serve: stopped; {} records stored", stats.records);
    Ok(())
}

pub(super) fn parse_hh_mm(text: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("`{text}` is not a time of day as HH:MM (02:00)"))
}

/// `serve --backup-at`: looks every half minute whether the day's backup is due and not taken;
/// a failed one is tried again a quarter of an hour later.
async fn daily_backups(pool: PgPool, daily: backup::Daily) {
    let actor = Actor {
        operator_id: None,
        name: format!("serve:{}", daily.worker),
        role: None,
        session: None,
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::domain::time::now();
        match backup::daily_if_due(&pool, &actor, &daily, now).await {
            Ok(Some(record)) => tracing::info!(
                id = record.id,
                path = record.path,
                size_bytes = record.size_bytes,
                "the day's backup is written"
            ),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "the day's backup failed; trying again in 15 minutes");
                tokio::time::sleep(std::time::Duration::from_secs(15 * 60)).await;
            }
        }
    }
}
