//! Terminal protocols and transports. Knows nothing of the console or the database: a protocol
//! is written once over any byte stream or datagram socket, so it runs on serial, TCP, UDP or an
//! in-memory duplex in tests.

pub mod bcd;
pub mod native;
pub mod transport;
pub mod uhppote;
pub mod zk;

use std::time::Duration;

/// Why an exchange with a terminal failed. Transport failures mean "reconnect and retry";
/// a refusal means the terminal answered and said no: report it and stay connected.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("line error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("garbled frame: {0}")]
    Malformed(String),
    #[error("the terminal refused: {0}")]
    Refused(String),
}

impl TerminalError {
    /// True when the line itself is in doubt (reconnect), false when the terminal answered.
    pub fn is_transport(&self) -> bool {
        !matches!(self, TerminalError::Refused(_))
    }
}

/// Runs one exchange with a deadline.
pub async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, TerminalError>>,
) -> Result<T, TerminalError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(TerminalError::Timeout(limit)))
}
