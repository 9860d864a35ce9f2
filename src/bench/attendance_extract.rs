//! The extraction rate from an online attendance machine: a simulated ZKTeco machine holding
//! 100,000 punches, extracted on request through the real driver (chunked buffer reads over
//! TCP, each chunk stored and bookmarked) into a fresh database.

use super::{fresh_database, say, Server};
use crate::db::command::{self, CommandOutcome, TerminalCommand};
use crate::domain::permission::Actor;
use crate::poller::{Options, Supervisor};
use crate::sim::runner::Site;
use crate::sim::site::{Ports, SiteConfig};
use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

pub const DATABASE: &str = "onecard_bench_extract";
pub const PUNCHES: usize = 100_000;

/// One machine of the demo's, nothing else, no traffic; its log big enough for `punches`.
fn site_config(punches: usize) -> SiteConfig {
    let mut c = SiteConfig::demo();
    c.rate = 0.0;
    c.door_controllers.clear();
    c.lines.clear();
    c.attendance_machines.truncate(1);
    for m in &mut c.attendance_machines {
        m.capacity = m.capacity.max(punches);
    }
    c
}

/// Extracts `punches` punches from a simulated machine; returns records/s (stored punches over
/// the command's run, from a poller taking it to its end) and prints the run's numbers.
pub async fn rps(server: &Server, punches: usize) -> anyhow::Result<f64> {
    say(format!(
        "extraction: one simulated ZKTeco machine holding {punches} punches"
    ));
    let (options, _url) = fresh_database(server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    let site = Site::start(&site_config(punches), Ports::ephemeral()).await?;
    let reg = crate::sim::register::register_site(&pool, &site).await?;
    let (machine, terminal) = site
        .attendance_machines()
        .first()
        .zip(reg.first())
        .ok_or_else(|| anyhow!("the simulated site has no attendance machine"))?;
    let held = machine.fill(punches).map_err(|e| anyhow!(e))?;
    if held < punches {
        bail!("the simulated machine took {held} of {punches} punches");
    }
    // Out of the scan: only the command reads the log, so the whole log is its work.
    sqlx::query("UPDATE terminal SET in_scan = false WHERE id = $1")
        .bind(terminal.terminal_id)
        .execute(&pool)
        .await?;
    let sup = Supervisor::start_with(pool.clone(), "bench-attendance", Options::default());
    let actor = Actor::shell("bench");
    let wall = Instant::now();
    let id = command::enqueue(
        &pool,
        &actor,
        terminal.terminal_id,
        &TerminalCommand::Extract,
    )
    .await?;
    let row = loop {
        let row = command::by_id(&pool, &[id]).await?.pop();
        match row {
            Some(r) if !matches!(r.state.as_str(), "queued" | "running") => break r,
            Some(_) if wall.elapsed() < Duration::from_secs(600) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => bail!("the extraction did not end within 10 minutes"),
        }
    };
    sup.stop().await;
    let Some(Ok(CommandOutcome::Extracted { records, millis })) = row.outcome else {
        bail!("the extraction failed: {}", row.result.unwrap_or_default());
    };
    let (started, finished): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT started_at, finished_at FROM terminal_command WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await?;
    let secs = match (started, finished) {
        (Some(s), Some(f)) => (f - s).num_milliseconds().max(1) as f64 / 1000.0,
        _ => millis.max(1) as f64 / 1000.0,
    };
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM punch WHERE terminal_id = $1")
        .bind(terminal.terminal_id)
        .fetch_one(&pool)
        .await?;
    if stored != punches as i64 || records != punches as u64 {
        bail!("{stored} punches stored ({records} by the command) of {punches}");
    }
    let rate = stored as f64 / secs;
    say(format!(
        "extracted {stored} punches in {secs:.2} s ({rate:.0} records/s; driver {millis} ms, {:.2} s from the request)",
        wall.elapsed().as_secs_f64()
    ));
    Ok(rate)
}
