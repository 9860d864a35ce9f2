//! The balance folder: adds uploaded purchase batches to their payers' balances in the
//! background (`db::pos::fold`), so that uploads never queue on cardholders' rows. It folds
//! every [`EVERY`], all that is pending (a backlog in bounded steps): in a rush one fold takes
//! many batches, and a cardholder who paid in several of them has one balance row written.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

/// How often the folder folds: about the most an overdrawn card waits for its alarm and its
/// place on the blacklist. (Balances are read right meanwhile.)
const EVERY: Duration = Duration::from_millis(500);
/// One fold's deadline.
const LIMIT: Duration = Duration::from_secs(30);
/// The last fold's, when serve stops: what is left is folded by the next serve, and read
/// right meanwhile.
pub const LAST: Duration = Duration::from_millis(1500);

/// Folds until `stop`, then once more for what the lines stored last.
pub async fn run(pool: PgPool, mut stop: watch::Receiver<bool>) {
    loop {
        while fold_once(&pool, LIMIT).await {}
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            r = stop.changed() => if r.is_err() { break },
        }
    }
    fold_once(&pool, LAST).await;
}

/// One fold; true when it folded all it may at once (there is more).
async fn fold_once(pool: &PgPool, limit: Duration) -> bool {
    match tokio::time::timeout(limit, crate::db::pos::fold(pool)).await {
        Ok(Ok(f)) => {
            if !f.alarms.is_empty() {
                tracing::info!(
                    alarms = f.alarms.len(),
                    "uploaded purchases overdrew accounts"
                );
            }
            f.movements >= crate::db::pos::FOLD_AT_MOST
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "folding purchase batches into balances failed");
            false
        }
        Err(_) => {
            tracing::warn!("folding purchase batches into balances timed out");
            false
        }
    }
}
