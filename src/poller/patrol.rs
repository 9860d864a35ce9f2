//! Serve's patrol pass: every [`EVERY`], `db::patrol::watch::tick` lays due visits out ahead,
//! sweeps closed rounds into exceptions and raises overdue alarms.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

/// How often: about the most an overdue checkpoint waits for its alarm.
const EVERY: Duration = Duration::from_secs(2);
/// One pass's deadline.
const LIMIT: Duration = Duration::from_secs(30);

/// Ticks until `stop`.
pub async fn run(pool: PgPool, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        tick_once(&pool).await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            r = stop.changed() => if r.is_err() { break },
        }
    }
}

async fn tick_once(pool: &PgPool) {
    let now = chrono::Utc::now();
    match tokio::time::timeout(LIMIT, crate::db::patrol::watch::tick(pool, now)).await {
        Ok(Ok(t)) => {
            if t.exceptions > 0 || t.alarms > 0 {
                tracing::info!(
                    exceptions = t.exceptions,
                    alarms = t.alarms,
                    "patrol: rounds swept"
                );
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "the patrol pass failed"),
        Err(_) => tracing::warn!("the patrol pass timed out"),
    }
}
