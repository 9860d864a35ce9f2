//! The host socket controllers push their events to (set-listener points them at it).

use super::message::{decode_event_frame, Status};
use super::SOM_V6_62;
use crate::terminal::TerminalError;
use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One pushed status frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerEvent {
    pub serial: u32,
    pub status: Status,
    pub from: SocketAddr,
    /// Sent with the v6.62 start byte (0x19).
    pub v6_62: bool,
}

pub struct EventListener {
    socket: UdpSocket,
}

impl EventListener {
    /// Binds the listening socket, e.g. `0.0.0.0:60001`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<EventListener> {
        Ok(EventListener {
            socket: UdpSocket::bind(addr).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The next datagram, decoded. Garbage is `Malformed` (naming the sender); the socket stays
    /// usable.
    pub async fn recv(&self) -> Result<ListenerEvent, TerminalError> {
        let mut buf = [0u8; 1024];
        let (n, from) = self.socket.recv_from(&mut buf).await?;
        let bytes = &buf[..n];
        let (serial, status) = decode_event_frame(bytes)
            .map_err(|e| TerminalError::Malformed(format!("from {from}: {e}")))?;
        Ok(ListenerEvent {
            serial,
            status,
            from,
            v6_62: bytes.first() == Some(&SOM_V6_62),
        })
    }

    /// Runs the socket in its own task, sending every decodable event into a channel; garbage is
    /// logged and skipped. The task ends when the receiver is dropped or the socket fails.
    pub fn spawn(self, capacity: usize) -> (mpsc::Receiver<ListenerEvent>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    received = self.recv() => match received {
                        Ok(event) => {
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                        Err(TerminalError::Io(e)) => {
                            tracing::warn!(error = %e, "uhppote listener socket failed");
                            return;
                        }
                        Err(e) => tracing::debug!(error = %e, "uhppote listener: skipped a frame"),
                    },
                }
            }
        });
        (rx, task)
    }
}
