//! The simulator's control interface: a line-based TCP protocol on 127.0.0.1 so tests and
//! scripts can trigger a specific swipe or alarm and read the tally.
//!
//! One request per line, one reply line each:
//!
//! | request | reply |
//! |---|---|
//! | `list` | `ok [{"id":"door/405419896","kind":"door_controller"},...]` |
//! | `tally` | `ok {"door/405419896":12,...}` (records generated per terminal so far, as `--tally` writes them) |
//! | `tally patrol` | `ok {"patrol/patrol/1":{"on_time":9,"late":2,"missed":1},...}` (visits of a patrol plan walked so far, as meant) |
//! | `pause` / `resume` | `ok paused` / `ok resumed`: background traffic stops and starts again; the terminals stay up and answer |
//! | `<id> <verb> [args...]`, e.g. `door/405419896 swipe 8165537 1` | `ok <what happened>` or `error <why>` |
//! | `quit` | `ok bye`, then the simulator stops (writing `--tally` if asked) |

use super::SimTerminal;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Records generated per terminal id.
pub fn tally(terminals: &[Arc<dyn SimTerminal>]) -> BTreeMap<String, u64> {
    terminals.iter().map(|t| (t.id(), t.generated())).collect()
}

/// Visits walked per patrol reader that walks a plan.
pub fn patrol_tally(
    terminals: &[Arc<dyn SimTerminal>],
) -> BTreeMap<String, super::patrol::PatrolCounts> {
    terminals
        .iter()
        .filter_map(|t| {
            let v = t.patrol_visits()?;
            Some((t.id(), super::patrol::PatrolCounts::of(&v)))
        })
        .collect()
}

/// Whether the site's background traffic is paused (the `pause` and `resume` verbs).
#[derive(Debug, Default)]
pub struct Gate(AtomicBool);

impl Gate {
    pub fn paused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set_paused(&self, paused: bool) {
        self.0.store(paused, Ordering::Relaxed);
    }
}

/// Answers one request line, without a site's traffic (`pause` and `resume` are refused).
pub fn handle(terminals: &[Arc<dyn SimTerminal>], line: &str) -> (String, bool) {
    handle_with(terminals, None, line)
}

/// Answers one request line; `gate` is the site's traffic, for `pause` and `resume`.
pub fn handle_with(
    terminals: &[Arc<dyn SimTerminal>],
    gate: Option<&Gate>,
    line: &str,
) -> (String, bool) {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return ("error empty request".into(), false);
    };
    match first {
        "quit" => ("ok bye".into(), true),
        "pause" | "resume" => match gate {
            Some(g) => {
                g.set_paused(first == "pause");
                let word = if first == "pause" {
                    "paused"
                } else {
                    "resumed"
                };
                (format!("ok {word}"), false)
            }
            None => ("error no background traffic here to pause".into(), false),
        },
        "list" => {
            let list: Vec<_> = terminals
                .iter()
                .map(|t| serde_json::json!({ "id": t.id(), "kind": t.kind().name() }))
                .collect();
            (format!("ok {}", serde_json::Value::Array(list)), false)
        }
        "tally" => {
            let json = match words.next() {
                None => serde_json::to_string(&tally(terminals)),
                Some("patrol") => serde_json::to_string(&patrol_tally(terminals)),
                Some(other) => {
                    return (
                        format!("error tally {other}: try tally or tally patrol"),
                        false,
                    )
                }
            };
            (format!("ok {}", json.unwrap_or_default()), false)
        }
        id => {
            let Some(t) = terminals.iter().find(|t| t.id() == id) else {
                return (format!("error no terminal {id} (try `list`)"), false);
            };
            let Some(verb) = words.next() else {
                return (format!("error {id}: which command?"), false);
            };
            let args: Vec<&str> = words.collect();
            match t.control(verb, &args) {
                Ok(s) => (format!("ok {s}"), false),
                Err(e) => (format!("error {e}"), false),
            }
        }
    }
}

/// Serves the control interface until `quit` is asked for (which flips `stop`).
pub async fn serve(
    listener: TcpListener,
    terminals: Vec<Arc<dyn SimTerminal>>,
    gate: Arc<Gate>,
    stop: watch::Sender<bool>,
) {
    let terminals = Arc::new(terminals);
    let stop = Arc::new(stop);
    loop {
        let Ok((socket, _)) = crate::sim::accept(&listener).await else {
            break;
        };
        let terminals = terminals.clone();
        let stop = stop.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // The control calls touch only in-memory state: quick enough to run inline.
                let (reply, quit) = handle_with(&terminals, Some(&gate), line.trim());
                if write
                    .write_all(format!("{reply}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                if quit {
                    let _ = stop.send(true);
                    return;
                }
            }
        });
    }
}
