//! Commands run at once: the supervisor LISTENs on [`CHANNEL`] and, for each newly queued
//! command, wakes the actor owning the command's line instead of leaving the command to the
//! actor's next poll round.
//!
//! Notifications are lost while the listener reconnects, so every (re)connect wakes every
//! actor: each then claims whatever was queued meanwhile.

use crate::db::notify::{Change, CHANNEL};
use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// One wake-up per owned line, keyed by line id.
#[derive(Default)]
pub(crate) struct Wakers(Mutex<HashMap<i64, Arc<Notify>>>);

impl Wakers {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wake-up of a line just taken; its actor selects on it while sleeping.
    pub fn register(&self, line_id: i64) -> Arc<Notify> {
        self.map()
            .entry(line_id)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    pub fn forget(&self, line_id: i64) {
        self.map().remove(&line_id);
    }

    /// A wake-up is kept when the actor is busy: it skips its next sleep.
    fn wake(&self, lines: impl IntoIterator<Item = i64>) {
        let map = self.map();
        for id in lines {
            if let Some(n) = map.get(&id) {
                n.notify_one();
            }
        }
    }

    fn wake_all(&self) {
        for n in self.map().values() {
            n.notify_one();
        }
    }
}

/// What a batch of notifications asks for.
enum Heard {
    All,
    Commands(BTreeSet<i64>),
}

impl Heard {
    fn add(&mut self, n: &PgNotification) {
        let Heard::Commands(ids) = self else {
            return;
        };
        match Change::parse(n.payload()) {
            // `{}` (an overflowed payload) or garbage: anything may have been queued.
            None => *self = Heard::All,
            Some(c) if c.is_empty() => *self = Heard::All,
            Some(c) => ids.extend(c.command),
        }
    }
}

/// Listens until `stop`, waking the actors of lines that got commands.
pub(crate) async fn listen(pool: PgPool, wakers: Arc<Wakers>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(250);
    while !*stop.borrow() {
        let connected = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        let listener = tokio::select! {
            r = connected => r,
            _ = stop.changed() => return,
        };
        match listener {
            Ok(mut listener) => {
                backoff = Duration::from_millis(250);
                wakers.wake_all();
                loop {
                    let next = tokio::select! {
                        n = listener.try_recv() => n,
                        _ = stop.changed() => return,
                    };
                    match next {
                        Ok(Some(n)) => {
                            let mut heard = Heard::Commands(BTreeSet::new());
                            heard.add(&n);
                            while let Some(more) = listener.next_buffered() {
                                heard.add(&more);
                            }
                            tokio::select! {
                                _ = deliver(&pool, &wakers, heard) => {}
                                _ = stop.changed() => return,
                            }
                        }
                        // The connection dropped. Listen afresh before waking every actor, or
                        // a command queued before the LISTEN would wait for a poll round.
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "command listener lost the database");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "command listener cannot connect"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn deliver(pool: &PgPool, wakers: &Wakers, heard: Heard) {
    let ids = match heard {
        Heard::All => return wakers.wake_all(),
        Heard::Commands(ids) if ids.is_empty() => return,
        Heard::Commands(ids) => ids.into_iter().collect::<Vec<_>>(),
    };
    // Finished commands are announced too; only queued ones need their line woken.
    let lines: Result<Vec<i64>, _> = sqlx::query_scalar(
        "SELECT DISTINCT t.line_id FROM terminal_command c JOIN terminal t ON t.id = c.terminal_id
         WHERE c.id = ANY($1) AND c.state = 'queued'",
    )
    .bind(ids)
    .fetch_all(pool)
    .await;
    match lines {
        Ok(lines) => wakers.wake(lines),
        Err(e) => {
            tracing::debug!(error = %e, "looking up the lines of new commands failed");
            wakers.wake_all();
        }
    }
}
