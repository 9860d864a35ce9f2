//! Opening a line: a serial port (tokio-serial), a TCP connection or a UDP socket (a
//! serial-to-Ethernet converter or the simulator), or, for the simulator, the master end of a PTY pair whose slave
//! path a poller opens as if it were a serial port. Every one is an
//! `AsyncRead + AsyncWrite + Unpin + Send` stream, so a protocol is written once.

use crate::terminal::TerminalError;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::termios;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio_serial::SerialPortBuilderExt;

/// Parity bit of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// Stop bits of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum StopBits {
    #[default]
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
}

/// A serial line; data bits are always 8.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineConfig {
    pub path: String,
    pub baud: u32,
    #[serde(default)]
    pub parity: Parity,
    #[serde(default)]
    pub stop_bits: StopBits,
}

impl LineConfig {
    /// 8N1 at `baud`.
    pub fn new(path: impl Into<String>, baud: u32) -> LineConfig {
        LineConfig {
            path: path.into(),
            baud,
            parity: Parity::None,
            stop_bits: StopBits::One,
        }
    }

    /// Bits per character on the wire: start + 8 data + parity + stop.
    pub fn bits_per_char(&self) -> u32 {
        let parity = u32::from(self.parity != Parity::None);
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        1 + 8 + parity + stop
    }
}

/// Where a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Serial(LineConfig),
    Tcp {
        addr: SocketAddr,
        connect_timeout: Duration,
    },
    /// A converter in UDP mode: every datagram carries bus bytes, in order.
    Udp(SocketAddr),
}

/// An open line.
#[derive(Debug)]
pub enum Line {
    Serial(tokio_serial::SerialStream),
    Tcp(TcpStream),
    Udp(UdpLine),
    Pty(PtyMaster),
}

/// Opens any endpoint.
pub async fn open(endpoint: &Endpoint) -> Result<Line, TerminalError> {
    match endpoint {
        Endpoint::Serial(cfg) => open_serial(cfg),
        Endpoint::Tcp {
            addr,
            connect_timeout,
        } => connect_tcp(*addr, *connect_timeout).await,
        Endpoint::Udp(addr) => connect_udp(*addr).await,
    }
}

/// Opens a serial port (or a PTY slave) raw, 8 data bits, no flow control. Needs a tokio
/// runtime. The port is opened exclusive (TIOCEXCL) and the exclusivity is lifted when it is
/// dropped, so a reconnect can open it again.
pub fn open_serial(cfg: &LineConfig) -> Result<Line, TerminalError> {
    let parity = match cfg.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    let stop = match cfg.stop_bits {
        StopBits::One => tokio_serial::StopBits::One,
        StopBits::Two => tokio_serial::StopBits::Two,
    };
    let stream = tokio_serial::new(&cfg.path, cfg.baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(parity)
        .stop_bits(stop)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(|e| TerminalError::Io(io::Error::other(format!("{}: {e}", cfg.path))))?;
    Ok(Line::Serial(stream))
}

/// TCP connect with a deadline; Nagle off, because every frame waits for its answer.
pub async fn connect_tcp(addr: SocketAddr, limit: Duration) -> Result<Line, TerminalError> {
    let stream = tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(|_| TerminalError::Timeout(limit))??;
    stream.set_nodelay(true)?;
    Ok(Line::Tcp(stream))
}

/// A UDP socket connected to `addr`, so that only the converter's datagrams are heard.
pub async fn connect_udp(addr: SocketAddr) -> Result<Line, TerminalError> {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(Line::Udp(UdpLine {
        socket,
        datagram: vec![0; MAX_DATAGRAM],
        len: 0,
        at: 0,
    }))
}

/// A connected UDP socket read as a byte stream: a datagram larger than the reader's buffer is
/// kept and handed out over the following reads, never cut.
#[derive(Debug)]
pub struct UdpLine {
    socket: UdpSocket,
    datagram: Vec<u8>,
    /// The last datagram's length, and how much of it was read.
    len: usize,
    at: usize,
}

/// The largest datagram a converter sends; RS-485 frames are far smaller.
const MAX_DATAGRAM: usize = 65_536;

impl AsyncRead for UdpLine {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at >= this.len {
            let mut read = ReadBuf::new(&mut this.datagram);
            ready!(this.socket.poll_recv(cx, &mut read))?;
            this.len = read.filled().len();
            this.at = 0;
        }
        let n = buf.remaining().min(this.len - this.at);
        buf.put_slice(&this.datagram[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for UdpLine {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_send(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Line {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Line::Serial(s) => Pin::new(s).poll_read(cx, buf),
            Line::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Line::Udp(s) => Pin::new(s).poll_read(cx, buf),
            Line::Pty(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Line {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Line::Serial(s) => Pin::new(s).poll_write(cx, buf),
            Line::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Line::Udp(s) => Pin::new(s).poll_write(cx, buf),
            Line::Pty(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Line::Serial(s) => Pin::new(s).poll_flush(cx),
            Line::Tcp(s) => Pin::new(s).poll_flush(cx),
            Line::Udp(s) => Pin::new(s).poll_flush(cx),
            Line::Pty(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Line::Serial(s) => Pin::new(s).poll_shutdown(cx),
            Line::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Line::Udp(s) => Pin::new(s).poll_shutdown(cx),
            Line::Pty(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The master end of a PTY pair, as an async stream. It also holds the slave open, so the
/// pair survives a poller closing and reopening the slave path.
#[derive(Debug)]
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
    _slave: OwnedFd,
    slave_path: PathBuf,
}

/// Creates a PTY pair: both ends close-on-exec, the slave raw, the master non-blocking and
/// registered with the tokio reactor (so call it inside a runtime).
pub fn open_pty() -> io::Result<PtyMaster> {
    let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
    for fd in [&pair.master, &pair.slave] {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    }
    let mut t = termios::tcgetattr(pair.slave.as_fd()).map_err(io::Error::from)?;
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(pair.slave.as_fd(), termios::SetArg::TCSANOW, &t)
        .map_err(io::Error::from)?;
    let flags = fcntl(pair.master.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(pair.master.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    let slave_path = nix::unistd::ttyname(pair.slave.as_fd()).map_err(io::Error::from)?;
    // Deprecated as unsound for fds the AsyncFd does not own; it owns this OwnedFd, which is
    // closed only after deregistration. The replacement (`register`) is `unsafe`, which the
    // crate denies.
    #[allow(deprecated)]
    let fd = AsyncFd::new(pair.master)?;
    Ok(PtyMaster {
        fd,
        _slave: pair.slave,
        slave_path,
    })
}

impl PtyMaster {
    /// The slave's device path, e.g. `/dev/pts/7`: what a poller opens as a serial port.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyMaster {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), buf).map_err(io::Error::from))
            {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn bits_per_char() {
        let mut c = LineConfig::new("/dev/ttyUSB0", 9600);
        assert_eq!(c.bits_per_char(), 10);
        c.parity = Parity::Even;
        assert_eq!(c.bits_per_char(), 11);
        c.parity = Parity::None;
        c.stop_bits = StopBits::Two;
        assert_eq!(c.bits_per_char(), 11);
    }

    #[tokio::test]
    async fn pty_both_ways_and_reopen() {
        let mut master = open_pty().unwrap();
        let cfg = LineConfig::new(master.slave_path().to_string_lossy(), 115200);
        for round in 0..2u8 {
            let mut slave = open_serial(&cfg).unwrap();
            slave.write_all(&[1, 2, round]).await.unwrap();
            let mut b = [0u8; 3];
            master.read_exact(&mut b).await.unwrap();
            assert_eq!(b, [1, 2, round]);
            master.write_all(&[9, round]).await.unwrap();
            let mut b = [0u8; 2];
            slave.read_exact(&mut b).await.unwrap();
            assert_eq!(b, [9, round]);
        }
    }
}
