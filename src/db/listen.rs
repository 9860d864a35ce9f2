//! The console's ear: a task owning a `PgListener` on [`CHANNEL`] and on the desk readers'
//! [`CARD_CHANNEL`] (and a second one on [`TRACE_CHANNEL`] while a trace is shown) that hands
//! the console compact messages.
//!
//! Notifications are lost while a listener reconnects, so every (re)connect is announced as
//! [`Heard::ReloadAll`]: the console then re-reads everything it shows.

use super::notify::{Change, CHANNEL};
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// While `line.trace_until` is in the future, the line's poller publishes every frame here as
/// `{"line":ID,"dir":"tx"|"rx","hex":"...","note":"..."}` (the note optional).
pub const TRACE_CHANNEL: &str = "onecard_trace";

/// NOTIFY channel on which a desk reader's presented card is announced:
/// `{"terminal":ID,"card":N,"new":true|false}`.
pub const CARD_CHANNEL: &str = "onecard_card_present";

/// How long one trace request keeps a line's poller publishing frames; the console renews it.
pub const TRACE_SECONDS: i32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Tx,
    Rx,
}

/// One frame on a traced line, stamped when it was heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFrame {
    pub line: i64,
    pub dir: Direction,
    pub hex: String,
    /// What the bytes do not say: "connect", "1200 bytes, first 256 shown".
    pub note: String,
    pub at: DateTime<Utc>,
}

impl TraceFrame {
    pub fn parse(payload: &str, at: DateTime<Utc>) -> Option<TraceFrame> {
        #[derive(serde::Deserialize)]
        struct Raw {
            line: i64,
            dir: String,
            hex: String,
            #[serde(default)]
            note: String,
        }
        let raw: Raw = serde_json::from_str(payload).ok()?;
        let dir = match raw.dir.as_str() {
            "tx" => Direction::Tx,
            "rx" => Direction::Rx,
            _ => return None,
        };
        Some(TraceFrame {
            line: raw.line,
            dir,
            hex: raw.hex,
            note: raw.note,
            at,
        })
    }
}

/// A card laid on a desk reader, as its poller announced it on [`CARD_CHANNEL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardPresence {
    pub terminal: i64,
    pub card: i64,
    /// The reader's own idea of whether the card is blank; the database decides.
    pub new: bool,
}

impl CardPresence {
    pub fn parse(payload: &str) -> Option<CardPresence> {
        #[derive(serde::Deserialize)]
        struct Raw {
            terminal: i64,
            card: i64,
            #[serde(default)]
            new: bool,
        }
        let raw: Raw = serde_json::from_str(payload).ok()?;
        Some(CardPresence {
            terminal: raw.terminal,
            card: raw.card,
            new: raw.new,
        })
    }
}

/// What the listener tells the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Connected or reconnected: anything may have changed meanwhile, reload everything.
    ReloadAll,
    /// Ids that changed, several notifications merged when they arrived together.
    Change(Change),
    Trace(TraceFrame),
    /// A card on a desk reader. Missed while reconnecting, like any notification: the operator
    /// lays it on again.
    CardPresent(CardPresence),
    /// The listener lost the database and is retrying.
    Lost(String),
}

/// What a notification payload means. An empty or unreadable change means "everything".
pub fn interpret(n: &PgNotification, at: DateTime<Utc>) -> Option<Heard> {
    if n.channel() == TRACE_CHANNEL {
        return TraceFrame::parse(n.payload(), at).map(Heard::Trace);
    }
    if n.channel() == CARD_CHANNEL {
        return CardPresence::parse(n.payload()).map(Heard::CardPresent);
    }
    match Change::parse(n.payload()) {
        Some(c) if !c.is_empty() => Some(Heard::Change(c)),
        _ => Some(Heard::ReloadAll),
    }
}

/// Where heard messages go; returning false (the console is gone) stops the listener.
pub type Sink = Arc<dyn Fn(Heard) -> bool + Send + Sync>;

/// The running listener. Dropping it stops its tasks.
pub struct Listen {
    trace: watch::Sender<bool>,
    changes: JoinHandle<()>,
    tracer: JoinHandle<()>,
}

impl Listen {
    /// Starts listening on [`CHANNEL`]; the first message is [`Heard::ReloadAll`] once the
    /// listener is connected.
    pub fn spawn(pool: PgPool, sink: Sink) -> Listen {
        let (trace, trace_rx) = watch::channel(false);
        let changes = tokio::spawn(listen_changes(pool.clone(), sink.clone()));
        let tracer = tokio::spawn(listen_trace(pool, sink, trace_rx));
        Listen {
            trace,
            changes,
            tracer,
        }
    }

    /// Listens on [`TRACE_CHANNEL`] too (or stops). Frames of every line arrive; the console
    /// keeps those of the line it shows.
    pub fn trace(&self, on: bool) {
        self.trace
            .send_if_modified(|now| std::mem::replace(now, on) != on);
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        self.changes.abort();
        self.tracer.abort();
    }
}

async fn connect(pool: &PgPool, channels: &[&str]) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
}

/// Folds what arrived together: changes merge into one, "reload everything" swallows them, and
/// every card presence is kept, in order (the last one is on the reader).
fn fold(heard: Vec<Heard>) -> Vec<Heard> {
    let mut change: Option<Change> = None;
    let mut all = false;
    let mut rest = Vec::new();
    for h in heard {
        match h {
            Heard::Change(c) => match &mut change {
                Some(a) => a.merge(c),
                None => change = Some(c),
            },
            Heard::ReloadAll => all = true,
            other => rest.push(other),
        }
    }
    let mut out = Vec::new();
    if all {
        out.push(Heard::ReloadAll);
    } else if let Some(c) = change {
        out.push(Heard::Change(c));
    }
    out.extend(rest);
    out
}

async fn listen_changes(pool: PgPool, sink: Sink) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match connect(&pool, &[CHANNEL, CARD_CHANNEL]).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(250);
                if !sink(Heard::ReloadAll) {
                    return;
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            // Merge whatever else is already buffered into one message.
                            let mut heard: Vec<Heard> =
                                interpret(&n, Utc::now()).into_iter().collect();
                            while let Some(more) = listener.next_buffered() {
                                heard.extend(interpret(&more, Utc::now()));
                            }
                            for h in fold(heard) {
                                if !sink(h) {
                                    return;
                                }
                            }
                        }
                        // The connection dropped and sqlx re-established it: whatever was sent
                        // in between is lost.
                        Ok(None) => {
                            if !sink(Heard::ReloadAll) {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change listener lost the database");
                            if !sink(Heard::Lost(e.to_string())) {
                                return;
                            }
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "change listener cannot connect");
                if !sink(Heard::Lost(e.to_string())) {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// A second listener, only while a trace is wanted, so the change listener is never
/// interrupted to LISTEN or UNLISTEN.
async fn listen_trace(pool: PgPool, sink: Sink, mut wanted: watch::Receiver<bool>) {
    loop {
        while !*wanted.borrow_and_update() {
            if wanted.changed().await.is_err() {
                return;
            }
        }
        let mut listener = match connect(&pool, &[TRACE_CHANNEL]).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "trace listener cannot connect");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                changed = wanted.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if !*wanted.borrow() {
                        break; // drops the listener: UNLISTEN
                    }
                }
                n = listener.recv() => match n {
                    Ok(n) => {
                        if let Some(heard) = interpret(&n, Utc::now()) {
                            if !sink(heard) {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "trace listener lost the database");
                        break;
                    }
                },
            }
        }
    }
}

/// Asks the poller owning `line_id` to publish its frames for the next [`TRACE_SECONDS`].
pub async fn request_trace(pool: &PgPool, actor: &Actor, line_id: i64) -> Result<(), TraceError> {
    actor.authorize(Action::TerminalDiagnose)?;
    let n = sqlx::query(
        "UPDATE line SET trace_until = now() + make_interval(secs => $2) WHERE id = $1",
    )
    .bind(line_id)
    .bind(f64::from(TRACE_SECONDS))
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(TraceError::NoLine(line_id));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("line {0} does not exist")]
    NoLine(i64),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// NOTIFY channel on which a demo console asks the demo's simulated desk reader to read a card:
/// the payload is a card number, or `blank` for a blank card of the demo's choosing.
pub const DESK_CHANNEL: &str = "onecard_demo_desk";

/// Asks the running demo site (in this process or another demo console's) to lay a card on its
/// desk reader; None: a blank card.
pub async fn ask_desk(pool: &PgPool, card_no: Option<i64>) -> Result<(), sqlx::Error> {
    let payload = card_no.map_or_else(|| "blank".to_string(), |n| n.to_string());
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(DESK_CHANNEL)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_presence_payloads_and_folding() {
        let p = CardPresence::parse(r#"{"terminal":7,"card":8165537,"new":true}"#).unwrap();
        assert_eq!(
            p,
            CardPresence {
                terminal: 7,
                card: 8165537,
                new: true
            }
        );
        assert!(CardPresence::parse(r#"{"card":1}"#).is_none());
        let q = CardPresence { card: 9, ..p };
        let folded = fold(vec![
            Heard::Change(Change::cards(vec![2])),
            Heard::CardPresent(p),
            Heard::Change(Change::command(5)),
            Heard::CardPresent(q),
        ]);
        let mut merged = Change::cards(vec![2]);
        merged.merge(Change::command(5));
        assert_eq!(
            folded,
            vec![
                Heard::Change(merged),
                Heard::CardPresent(p),
                Heard::CardPresent(q)
            ]
        );
        assert_eq!(
            fold(vec![
                Heard::Change(Change::cards(vec![2])),
                Heard::ReloadAll,
                Heard::CardPresent(p)
            ]),
            vec![Heard::ReloadAll, Heard::CardPresent(p)]
        );
    }

    #[test]
    fn trace_payloads() {
        let at = Utc::now();
        let f = TraceFrame::parse(r#"{"line":3,"dir":"rx","hex":"7e01"}"#, at).unwrap();
        assert_eq!((f.line, f.dir, f.hex.as_str()), (3, Direction::Rx, "7e01"));
        assert!(TraceFrame::parse(r#"{"line":3,"dir":"up","hex":""}"#, at).is_none());
        assert!(TraceFrame::parse("garbage", at).is_none());
    }
}
