//! `onecard sim`: a whole site of simulated terminals speaking the real protocols, so the poller,
//! the tabs, the demo, the benchmarks and the crash tests all run against something real.
//!
//! Each simulated terminal keeps its own bounded record memory and its own drifting clock, and
//! counts every record it generates (the tally), so a test can prove nothing was lost or
//! duplicated downstream.

pub mod clock;
pub mod control;
pub mod native;
pub mod patrol;
pub mod register;
pub mod runner;
pub mod site;
pub mod uhppote;
pub mod zk;

use rand::rngs::StdRng;
use std::fmt;

/// What kind of terminal a simulated device is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    DoorController,
    AttendanceMachine,
    Pos,
    PatrolReader,
    DeskReader,
}

impl TerminalKind {
    pub fn name(self) -> &'static str {
        match self {
            TerminalKind::DoorController => "door_controller",
            TerminalKind::AttendanceMachine => "attendance_machine",
            TerminalKind::Pos => "pos",
            TerminalKind::PatrolReader => "patrol_reader",
            TerminalKind::DeskReader => "desk_reader",
        }
    }
}

impl TerminalKind {
    /// The table its records land in (the desk reader stores none).
    pub fn record_table(self) -> Option<&'static str> {
        match self {
            TerminalKind::DoorController => Some("door_event"),
            TerminalKind::Pos => Some("pos_purchase"),
            TerminalKind::PatrolReader => Some("patrol_scan"),
            TerminalKind::AttendanceMachine => Some("punch"),
            TerminalKind::DeskReader => None,
        }
    }
}

impl fmt::Display for TerminalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One simulated terminal, as the site runner and the control interface see it.
pub trait SimTerminal: Send + Sync {
    /// Stable id used by the control interface and the tally, e.g. `door/405419896`,
    /// `attendance/4370`, `pos/canteen/3`.
    fn id(&self) -> String;
    fn kind(&self) -> TerminalKind;
    /// Generates one random record (a swipe, punch, purchase or scan) as background traffic.
    fn traffic(&self, rng: &mut StdRng);
    /// A control command, e.g. `swipe 8165537 1`, `forced 2`, `offline`. Returns what happened.
    fn control(&self, verb: &str, args: &[&str]) -> Result<String, String>;
    /// Records generated since start, whether or not anyone collected them.
    fn generated(&self) -> u64;
    /// A patrol reader walking a plan: every visit so far, as meant.
    fn patrol_visits(&self) -> Option<Vec<patrol::WalkedVisit>> {
        None
    }
}

/// The next connection to a simulated server. Per-connection failures (aborted handshakes, fd
/// pressure) pause briefly and try again, never spinning; anything else ends the server.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        match listener.accept().await {
            Ok(c) => return Ok(c),
            Err(e) if is_transient_accept_error(&e) => {
                tracing::warn!("sim accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_transient_accept_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24)
}
