//! The host side: one request, one reply, over UDP (a fresh socket per exchange, so a late reply
//! to an earlier request can never be taken for this one) or TCP (one connection per request,
//! as the controllers expect).

use super::message::{
    Card, CardSlot, ControllerInfo, DoorControl, DoorMode, EventSlot, Function, ListenerConfig,
    Request, Response, Status,
};
use super::{CONTROLLER_PORT, FRAME_LEN};
use crate::terminal::{with_timeout, TerminalError};
use chrono::NaiveDateTime;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A controller that answered discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discovered {
    pub serial: u32,
    /// Where the reply came from: the address to talk to it on.
    pub from: SocketAddr,
    pub info: ControllerInfo,
}

/// Talks to the controllers behind one address (a controller, or a broadcast address over UDP).
#[derive(Debug, Clone)]
pub struct UhppoteClient {
    addr: SocketAddr,
    transport: Transport,
    bind: SocketAddr,
    timeout: Duration,
    retries: u32,
}

impl UhppoteClient {
    pub fn udp(addr: SocketAddr) -> UhppoteClient {
        UhppoteClient::new(addr, Transport::Udp)
    }

    pub fn tcp(addr: SocketAddr) -> UhppoteClient {
        UhppoteClient::new(addr, Transport::Tcp)
    }

    /// UDP to 255.255.255.255:60000: every controller on the segment hears it.
    pub fn broadcast() -> UhppoteClient {
        UhppoteClient::udp(SocketAddr::from((Ipv4Addr::BROADCAST, CONTROLLER_PORT)))
    }

    pub fn new(addr: SocketAddr, transport: Transport) -> UhppoteClient {
        UhppoteClient {
            addr,
            transport,
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            timeout: Duration::from_millis(2500),
            retries: 0,
        }
    }

    /// Per-attempt deadline (default 2.5 s, as the reference client).
    pub fn with_timeout(mut self, timeout: Duration) -> UhppoteClient {
        self.timeout = timeout;
        self
    }

    /// Attempts after a timeout (default 0). Only timeouts are retried: a refusal is an answer.
    pub fn with_retries(mut self, retries: u32) -> UhppoteClient {
        self.retries = retries;
        self
    }

    /// Local address for UDP sockets (default 0.0.0.0:0).
    pub fn with_bind(mut self, bind: SocketAddr) -> UhppoteClient {
        self.bind = bind;
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// One exchange: the reply from `serial` to `request`.
    pub async fn exchange(
        &self,
        serial: u32,
        request: &Request,
    ) -> Result<Response, TerminalError> {
        if !request.expects_reply() {
            // Nothing would come back: a caller asking for a reply has the wrong function.
            return Err(TerminalError::Malformed(format!(
                "{} has no reply; use send_only",
                request.function()
            )));
        }
        let mut attempt = 0;
        loop {
            let result = match self.transport {
                Transport::Udp => self.udp_exchange(serial, request).await,
                Transport::Tcp => self.tcp_exchange(serial, request).await,
            };
            match result {
                Err(TerminalError::Timeout(_)) if attempt < self.retries => attempt += 1,
                other => return other,
            }
        }
    }

    /// Sends without waiting for a reply (set-ipv4).
    pub async fn send_only(&self, serial: u32, request: &Request) -> Result<(), TerminalError> {
        let frame = request.encode(serial);
        match self.transport {
            Transport::Udp => {
                let socket = self.udp_socket().await?;
                socket.send_to(&frame, self.addr).await?;
            }
            Transport::Tcp => {
                with_timeout(self.timeout, async {
                    let mut stream = TcpStream::connect(self.addr).await?;
                    stream.write_all(&frame).await?;
                    stream.shutdown().await?;
                    Ok(())
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Broadcasts get-controller with serial 0 (UDP only) and gathers every reply within `window`.
    pub async fn discover(&self, window: Duration) -> Result<Vec<Discovered>, TerminalError> {
        let socket = self.udp_socket().await?;
        socket
            .send_to(&Request::GetController.encode(0), self.addr)
            .await?;
        let deadline = Instant::now() + window;
        let mut found: Vec<Discovered> = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            let (n, from) = received?;
            match Response::decode(&buf[..n]) {
                Ok((serial, Response::GetController(info))) => {
                    if !found.iter().any(|d| d.serial == serial) {
                        found.push(Discovered { serial, from, info });
                    }
                }
                Ok((serial, other)) => tracing::debug!(
                    serial,
                    function = %other.function(),
                    "discovery: ignored a reply to another function"
                ),
                Err(e) => tracing::debug!(%from, error = %e, "discovery: ignored a garbled frame"),
            }
        }
        found.sort_by_key(|d| d.serial);
        Ok(found)
    }

    async fn udp_socket(&self) -> Result<UdpSocket, TerminalError> {
        let socket = UdpSocket::bind(self.bind).await?;
        // Needed when the address is a broadcast one; harmless otherwise.
        socket.set_broadcast(true)?;
        Ok(socket)
    }

    async fn udp_exchange(
        &self,
        serial: u32,
        request: &Request,
    ) -> Result<Response, TerminalError> {
        let socket = self.udp_socket().await?;
        socket.send_to(&request.encode(serial), self.addr).await?;
        let deadline = Instant::now() + self.timeout;
        let function = request.function();
        // Remember garbage so a line that only ever answers nonsense is reported as such.
        let mut garbled: Option<String> = None;
        let mut buf = [0u8; 1024];
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
            else {
                return Err(match garbled {
                    Some(words) => TerminalError::Malformed(words),
                    None => TerminalError::Timeout(self.timeout),
                });
            };
            let (n, from) = received?;
            match Response::decode(&buf[..n]) {
                Ok((s, response)) if s == serial && response.function() == function => {
                    return Ok(response)
                }
                // Another controller on a broadcast address, or a stray reply: not ours. If
                // nothing else comes, what answered was not silent: a garbled line, not an
                // offline controller.
                Ok((s, _)) if s != serial => {
                    tracing::trace!(%from, serial = s, "ignored a reply from another controller");
                    garbled.get_or_insert_with(|| {
                        format!("only controller {s} answered, for controller {serial}")
                    });
                }
                Ok((_, response)) => {
                    garbled = Some(format!(
                        "controller {serial} answered {} to {function}",
                        response.function()
                    ))
                }
                Err(e) => garbled = Some(format!("from {from}: {e}")),
            }
        }
    }

    async fn tcp_exchange(
        &self,
        serial: u32,
        request: &Request,
    ) -> Result<Response, TerminalError> {
        let frame = request.encode(serial);
        let function = request.function();
        with_timeout(self.timeout, async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(&frame).await?;
            let mut reply = [0u8; FRAME_LEN];
            stream.read_exact(&mut reply).await?;
            let (s, response) = Response::decode(&reply)?;
            if s != serial {
                return Err(TerminalError::Malformed(format!(
                    "reply from controller {s}, expected {serial}"
                )));
            }
            if response.function() != function {
                return Err(TerminalError::Malformed(format!(
                    "controller {serial} answered {} to {function}",
                    response.function()
                )));
            }
            Ok(response)
        })
        .await
    }

    // ---- one method per function ----

    pub async fn get_controller(&self, serial: u32) -> Result<ControllerInfo, TerminalError> {
        match self.exchange(serial, &Request::GetController).await? {
            Response::GetController(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// Controllers send no reply; this only sends.
    pub async fn set_ipv4(
        &self,
        serial: u32,
        address: Ipv4Addr,
        netmask: Ipv4Addr,
        gateway: Ipv4Addr,
    ) -> Result<(), TerminalError> {
        let request = Request::SetIpv4 {
            address,
            netmask,
            gateway,
        };
        self.send_only(serial, &request).await
    }

    pub async fn get_time(&self, serial: u32) -> Result<NaiveDateTime, TerminalError> {
        match self.exchange(serial, &Request::GetTime).await? {
            Response::GetTime(Some(t)) => Ok(t),
            Response::GetTime(None) => Err(no_clock(serial)),
            other => Err(unexpected(other)),
        }
    }

    /// Returns the time the controller actually set.
    pub async fn set_time(
        &self,
        serial: u32,
        time: NaiveDateTime,
    ) -> Result<NaiveDateTime, TerminalError> {
        match self.exchange(serial, &Request::SetTime(time)).await? {
            Response::SetTime(Some(t)) => Ok(t),
            Response::SetTime(None) => Err(no_clock(serial)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn get_status(&self, serial: u32) -> Result<Status, TerminalError> {
        match self.exchange(serial, &Request::GetStatus).await? {
            Response::GetStatus(s) => Ok(s),
            other => Err(unexpected(other)),
        }
    }

    pub async fn get_listener(&self, serial: u32) -> Result<ListenerConfig, TerminalError> {
        match self.exchange(serial, &Request::GetListener).await? {
            Response::GetListener(l) => Ok(l),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_listener(
        &self,
        serial: u32,
        listener: SocketAddrV4,
        interval: u8,
    ) -> Result<(), TerminalError> {
        let config = ListenerConfig {
            address: *listener.ip(),
            port: listener.port(),
            interval,
        };
        match self.exchange(serial, &Request::SetListener(config)).await? {
            Response::SetListener { ok } => accepted(ok, || format!("listener {listener}")),
            other => Err(unexpected(other)),
        }
    }

    pub async fn get_door_control(
        &self,
        serial: u32,
        door: u8,
    ) -> Result<DoorControl, TerminalError> {
        match self
            .exchange(serial, &Request::GetDoorControl { door })
            .await?
        {
            Response::GetDoorControl(d)
                if d.door == door && !matches!(d.mode, DoorMode::Other(_)) =>
            {
                Ok(d)
            }
            Response::GetDoorControl(_) => Err(TerminalError::Refused(format!(
                "controller {serial} has no door {door}"
            ))),
            other => Err(unexpected(other)),
        }
    }

    /// Mode and unlock time of one door; refused unless the controller echoes what was asked.
    pub async fn set_door_control(
        &self,
        serial: u32,
        door: u8,
        mode: DoorMode,
        delay: u8,
    ) -> Result<DoorControl, TerminalError> {
        let wanted = DoorControl { door, mode, delay };
        match self
            .exchange(serial, &Request::SetDoorControl(wanted))
            .await?
        {
            Response::SetDoorControl(d) if d == wanted => Ok(d),
            Response::SetDoorControl(d) => Err(TerminalError::Refused(format!(
                "controller {serial} kept door {door} at mode {} delay {} s",
                d.mode.code(),
                d.delay
            ))),
            other => Err(unexpected(other)),
        }
    }

    /// Momentary remote unlock (the controller records event reason 44).
    pub async fn open_door(&self, serial: u32, door: u8) -> Result<(), TerminalError> {
        match self.exchange(serial, &Request::OpenDoor { door }).await? {
            Response::OpenDoor { ok } => accepted(ok, || format!("opening door {door}")),
            other => Err(unexpected(other)),
        }
    }

    pub async fn get_cards(&self, serial: u32) -> Result<u32, TerminalError> {
        match self.exchange(serial, &Request::GetCards).await? {
            Response::GetCards { count } => Ok(count),
            other => Err(unexpected(other)),
        }
    }

    /// `None` when the card is not in the controller's table.
    pub async fn get_card(&self, serial: u32, card: u32) -> Result<Option<Card>, TerminalError> {
        match self.exchange(serial, &Request::GetCard { card }).await? {
            Response::GetCard(CardSlot::Found(c)) if c.number == card => Ok(Some(c)),
            Response::GetCard(CardSlot::Found(c)) => Err(TerminalError::Malformed(format!(
                "asked for card {card}, controller {serial} sent card {}",
                c.number
            ))),
            Response::GetCard(_) => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Index from 1.
    pub async fn get_card_by_index(
        &self,
        serial: u32,
        index: u32,
    ) -> Result<CardSlot, TerminalError> {
        match self
            .exchange(serial, &Request::GetCardByIndex { index })
            .await?
        {
            Response::GetCardByIndex(slot) => Ok(slot),
            other => Err(unexpected(other)),
        }
    }

    pub async fn put_card(&self, serial: u32, card: &Card) -> Result<(), TerminalError> {
        match self.exchange(serial, &Request::PutCard(*card)).await? {
            Response::PutCard { ok } => accepted(ok, || format!("storing card {}", card.number)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn delete_card(&self, serial: u32, card: u32) -> Result<(), TerminalError> {
        match self.exchange(serial, &Request::DeleteCard { card }).await? {
            Response::DeleteCard { ok } => accepted(ok, || format!("deleting card {card}")),
            other => Err(unexpected(other)),
        }
    }

    pub async fn delete_all_cards(&self, serial: u32) -> Result<(), TerminalError> {
        match self.exchange(serial, &Request::DeleteAllCards).await? {
            Response::DeleteAllCards { ok } => accepted(ok, || "deleting all cards".to_string()),
            other => Err(unexpected(other)),
        }
    }

    /// Index 0 = oldest stored, `u32::MAX` = newest.
    pub async fn get_event(&self, serial: u32, index: u32) -> Result<EventSlot, TerminalError> {
        match self.exchange(serial, &Request::GetEvent { index }).await? {
            Response::GetEvent(slot) => Ok(slot),
            other => Err(unexpected(other)),
        }
    }

    /// The host's "downloaded up to" bookmark kept on the controller (not the newest event).
    pub async fn get_event_index(&self, serial: u32) -> Result<u32, TerminalError> {
        match self.exchange(serial, &Request::GetEventIndex).await? {
            Response::GetEventIndex { index } => Ok(index),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_event_index(&self, serial: u32, index: u32) -> Result<(), TerminalError> {
        match self
            .exchange(serial, &Request::SetEventIndex { index })
            .await?
        {
            Response::SetEventIndex { ok } => {
                accepted(ok, || format!("setting event index {index}"))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Door opened/closed and button events are only recorded when this is on.
    pub async fn record_special_events(
        &self,
        serial: u32,
        enabled: bool,
    ) -> Result<(), TerminalError> {
        match self
            .exchange(serial, &Request::RecordSpecialEvents { enabled })
            .await?
        {
            Response::RecordSpecialEvents { ok } => {
                accepted(ok, || "recording door and button events".to_string())
            }
            other => Err(unexpected(other)),
        }
    }
}

fn accepted(ok: bool, what: impl FnOnce() -> String) -> Result<(), TerminalError> {
    if ok {
        Ok(())
    } else {
        Err(TerminalError::Refused(format!("{} refused", what())))
    }
}

fn no_clock(serial: u32) -> TerminalError {
    TerminalError::Malformed(format!(
        "controller {serial} reported no valid date and time"
    ))
}

/// `exchange` checks the function, so this only guards against a mismatch in this file.
fn unexpected(r: Response) -> TerminalError {
    let f: Function = r.function();
    TerminalError::Malformed(format!("unexpected {f} reply"))
}
