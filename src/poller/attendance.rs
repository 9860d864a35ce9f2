//! Serve's attendance pass: every [`EVERY`], `db::attendance::refresh_dirty` recomputes the
//! person-days new punches and corrections touched, and sweeps forward so that days without
//! punches get their results. It announces `Change::attendance()` itself when rows changed.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

/// How often: about the most a punch waits before its day's result shows it.
const EVERY: Duration = Duration::from_secs(2);
/// One pass's deadline (a pass is a few days for everyone at most).
const LIMIT: Duration = Duration::from_secs(60);

/// Passes until `stop`.
pub async fn run(pool: PgPool, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            break;
        }
        let behind = pass(&pool).await;
        if behind {
            // Catching up after a plan change or at first start: no pause between steps.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            r = stop.changed() => if r.is_err() { break },
        }
    }
}

/// One pass; whether the sweep is still behind today.
async fn pass(pool: &PgPool) -> bool {
    match tokio::time::timeout(LIMIT, crate::db::attendance::refresh_dirty(pool)).await {
        Ok(Ok(r)) => {
            if r.rows > 0 {
                tracing::debug!(
                    rows = r.rows,
                    behind = r.behind,
                    "attendance: results refreshed"
                );
            }
            r.behind
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the attendance pass failed");
            false
        }
        Err(_) => {
            tracing::warn!("the attendance pass timed out");
            false
        }
    }
}
