//! A console's screen and keyboard over an SSH channel: a writer that sends what ratatui draws to
//! the channel, and the channel's bytes turned into crossterm events by terminput's parser.

use crossterm::event::Event;
use russh::server::Handle;
use russh::ChannelId;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bytes drawn but not yet taken by the connection: past this the client is not reading, and
/// the console gives up rather than hold an ever longer queue.
const MOST_QUEUED: usize = 4 << 20;

/// How long one write may wait for the client's window before the screen counts as gone.
const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// The console's screen: collects what is drawn and hands it to the connection on `flush`.
pub struct ChannelOut {
    buf: Vec<u8>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

/// Bytes sent to one session's channel so far (a bench reads it).
#[derive(Clone, Default)]
pub struct Sent(pub Arc<AtomicU64>);

impl ChannelOut {
    /// The writer, and the task that sends its bytes in order until the writer is dropped or
    /// the connection is gone.
    pub fn start(
        handle: Handle,
        channel: ChannelId,
        sent: Sent,
    ) -> (ChannelOut, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let left = queued.clone();
        let pump = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                let n = bytes.len();
                let sent_ok =
                    tokio::time::timeout(SEND_DEADLINE, handle.data(channel, bytes)).await;
                left.fetch_sub(n, Ordering::Relaxed);
                match sent_ok {
                    Ok(Ok(())) => {
                        sent.0.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    // The connection is gone or stuck: what is queued goes nowhere.
                    _ => return,
                }
            }
        });
        let out = ChannelOut {
            buf: Vec::new(),
            tx,
            queued,
        };
        (out, pump)
    }
}

impl Write for ChannelOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.queued.load(Ordering::Relaxed) > MOST_QUEUED {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the SSH client is not reading",
            ));
        }
        let bytes = std::mem::take(&mut self.buf);
        self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
        self.tx
            .send(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the SSH channel is closed"))
    }
}

/// Turns the bytes a client types into events, across packets: a sequence cut between two
/// packets waits for the rest. A lone ESC at the end of a packet is the Esc key (a terminal
/// sends a whole sequence in one write).
#[derive(Default)]
pub struct Keyboard {
    pending: Vec<u8>,
}

/// Longest unfinished sequence kept: anything longer is no key.
const LONGEST: usize = 64;

impl Keyboard {
    pub fn feed(&mut self, data: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        for (i, &b) in data.iter().enumerate() {
            self.pending.push(b);
            let more = i + 1 < data.len();
            // ESC followed by more in the same packet starts a sequence (or alt-key).
            if self.pending == [0x1b] && more {
                continue;
            }
            match terminput::Event::parse_from(&self.pending) {
                Ok(Some(ev)) => {
                    self.pending.clear();
                    if let Ok(ev) = terminput_crossterm::to_crossterm(ev) {
                        out.push(ev);
                    }
                }
                Ok(None) if self.pending.len() < LONGEST => {}
                Ok(None) | Err(_) => self.pending.clear(),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers, MouseEventKind};

    fn keys(k: &mut Keyboard, bytes: &[u8]) -> Vec<(KeyCode, KeyModifiers)> {
        k.feed(bytes)
            .into_iter()
            .filter_map(|e| match e {
                Event::Key(k) => Some((k.code, k.modifiers)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn keys_sequences_and_the_lone_escape() {
        let mut k = Keyboard::default();
        assert_eq!(
            keys(&mut k, b"a7\r"),
            vec![
                (KeyCode::Char('a'), KeyModifiers::NONE),
                (KeyCode::Char('7'), KeyModifiers::NONE),
                (KeyCode::Enter, KeyModifiers::NONE)
            ]
        );
        assert_eq!(
            keys(&mut k, b"\x1b[A"),
            vec![(KeyCode::Up, KeyModifiers::NONE)]
        );
        assert_eq!(
            keys(&mut k, b"\x1b"),
            vec![(KeyCode::Esc, KeyModifiers::NONE)]
        );
        assert_eq!(
            keys(&mut k, b"\x1bq"),
            vec![(KeyCode::Char('q'), KeyModifiers::ALT)]
        );
        // A sequence cut in two packets.
        assert_eq!(keys(&mut k, b"\x1b["), vec![]);
        assert_eq!(
            keys(&mut k, b"B"),
            vec![(KeyCode::Down, KeyModifiers::NONE)]
        );
        assert_eq!(
            keys(&mut k, "周".as_bytes()),
            vec![(KeyCode::Char('周'), KeyModifiers::NONE)]
        );
    }

    #[test]
    fn mouse_reports_in_sgr_form() {
        let mut k = Keyboard::default();
        let evs = k.feed(b"\x1b[<0;10;5M");
        match &evs[..] {
            [Event::Mouse(m)] => {
                assert!(matches!(m.kind, MouseEventKind::Down(_)));
                assert_eq!((m.column, m.row), (9, 4));
            }
            other => panic!("{other:?}"),
        }
    }
}
