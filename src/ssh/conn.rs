//! One SSH connection: signing in, its one session channel, and the console on it.

use super::io::{ChannelOut, Keyboard};
use super::{Full, Shared, Slot, DB_DEADLINE, SIGN_IN_DEADLINE};
use crate::app::state::ThemeName;
use crate::console::{self, ConsoleOptions};
use crate::db::operator::{self, LoginError, Operator, Session};
use crate::db::operator_key;
use crate::i18n::{tr, trf, Lang};
use chrono::{DateTime, Utc};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use russh::server::{Auth, Handle, Msg, PublicKeyOffer, Session as SshSession, VerifiedPublicKey};
use russh::{Channel, ChannelId, Disconnect};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

/// Events typed but not yet taken by the console; past this, keys are dropped.
const INPUT_QUEUE: usize = 1024;
/// How long closing a channel may take.
const CLOSE_DEADLINE: Duration = Duration::from_secs(5);

/// Serves one connection to its end: signed in within the deadline, closed when the server
/// stops.
pub(super) async fn connection(
    shared: Arc<Shared>,
    config: Arc<russh::server::Config>,
    socket: TcpStream,
    peer: SocketAddr,
    mut closing: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let (authed_tx, mut authed) = oneshot::channel();
    let conn = Conn {
        shared,
        peer,
        authed: Some(authed_tx),
        who: None,
        channel: None,
        pty: None,
        env: Env::default(),
        input: None,
        keyboard: Keyboard::default(),
        console_started: false,
    };
    let deadline = tokio::time::Instant::now() + SIGN_IN_DEADLINE;
    let session =
        match tokio::time::timeout_at(deadline, russh::server::run_stream(config, socket, conn))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "ssh handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "ssh: no handshake in time; dropped");
                return;
            }
        };
    let handle = session.handle();
    tokio::pin!(session);
    let mut signed_in = false;
    loop {
        tokio::select! {
            _ = &mut session => return,
            r = &mut authed, if !signed_in => {
                // A dropped sender means the connection ends anyway.
                signed_in = r.is_ok();
            }
            _ = tokio::time::sleep_until(deadline), if !signed_in => {
                tracing::info!(%peer, "ssh: not signed in within {SIGN_IN_DEADLINE:?}; closed");
                break;
            }
            _ = closing.wait_for(|c| *c) => break,
        }
    }
    let _ = tokio::time::timeout(
        CLOSE_DEADLINE,
        handle.disconnect(Disconnect::ByApplication, "closing".into(), "en".into()),
    )
    .await;
    let _ = tokio::time::timeout(CLOSE_DEADLINE, session).await;
}

/// Who signed in, or why they get no console.
enum Who {
    Operator {
        op: Operator,
        /// Opened by the password check; a key's is opened with the console.
        session: Option<Session>,
    },
    Locked(DateTime<Utc>),
    Disabled,
}

/// What the client said about its terminal.
struct Pty {
    cols: u16,
    rows: u16,
}

#[derive(Default)]
struct Env {
    lc_all: Option<String>,
    lc_messages: Option<String>,
    lang: Option<String>,
    no_color: bool,
}

impl Env {
    /// The client's language, in POSIX order; the site's when it says none onecard speaks.
    fn lang(&self, site: Lang) -> Lang {
        [&self.lc_all, &self.lc_messages, &self.lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .and_then(|v| Lang::from_code(v))
            .unwrap_or(site)
    }
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    authed: Option<oneshot::Sender<()>>,
    who: Option<Who>,
    channel: Option<ChannelId>,
    pty: Option<Pty>,
    env: Env,
    input: Option<mpsc::Sender<Event>>,
    keyboard: Keyboard,
    console_started: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Signed in by password but no console opened: that session ends here.
        if self.console_started {
            return;
        }
        if let Some(Who::Operator {
            session: Some(s), ..
        }) = &self.who
        {
            let (pool, id) = (self.shared.pool.clone(), s.id);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ =
                        tokio::time::timeout(DB_DEADLINE, operator::end_session(&pool, id)).await;
                });
            }
        }
    }
}

impl Conn {
    /// The operator `user` if `key` is registered to them; None when not, or when the check
    /// failed or took too long (said in the log).
    async fn key_owner(&self, user: &str, key: &russh::keys::PublicKey) -> Option<Operator> {
        let known = tokio::time::timeout(
            DB_DEADLINE,
            operator_key::operator_with_key(&self.shared.pool, user, key),
        )
        .await;
        match known {
            Ok(Ok(op)) => op,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "ssh: key check failed");
                None
            }
            Err(_) => {
                tracing::warn!("ssh: key check timed out");
                None
            }
        }
    }

    fn client(&self, login: &str) -> String {
        format!("{login}@{} ssh", self.peer.ip())
    }

    fn lang(&self) -> Lang {
        self.env.lang(self.shared.site.lang)
    }

    fn signed(&mut self, who: Who) -> Auth {
        self.who = Some(who);
        Auth::Accept
    }

    /// Says `text` on the channel and closes it: no console.
    fn refuse(&mut self, channel: ChannelId, text: &str, session: &mut SshSession) {
        let line = format!("{text}\r\n");
        let _ = session.data(channel, line.into_bytes());
        let _ = session.exit_status_request(channel, 1);
        let _ = session.eof(channel);
        let _ = session.close(channel);
    }

    /// Why this connection gets no console, in its language; or its place among the consoles.
    async fn admit(&mut self) -> Result<(Slot, Session), String> {
        let lang = self.lang();
        if self.pty.is_none() {
            return Err(tr(lang, "ssh.no_terminal").to_string());
        }
        let op = match &self.who {
            None => return Err(tr(lang, "login.wrong").to_string()),
            Some(Who::Disabled) => return Err(tr(lang, "login.disabled").to_string()),
            Some(Who::Locked(until)) => {
                let until = crate::domain::time::local(*until)
                    .format("%H:%M")
                    .to_string();
                return Err(trf(lang, "login.locked", &[("until", &until)]));
            }
            Some(Who::Operator { op, .. }) => op.clone(),
        };
        let slot = self.shared.reserve(op.id).map_err(|full| match full {
            Full::Operator(max) => trf(
                lang,
                "ssh.too_many_sessions",
                &[("login", &op.login), ("max", &max.to_string())],
            ),
            Full::Server(max) => trf(lang, "ssh.server_full", &[("max", &max.to_string())]),
        })?;
        let opened = match &mut self.who {
            Some(Who::Operator { session, .. }) => session.take(),
            _ => None,
        };
        let session = match opened {
            Some(s) => s,
            None => {
                let client = self.client(&op.login);
                match tokio::time::timeout(
                    DB_DEADLINE,
                    operator::open_session(&self.shared.pool, &op.login, &client),
                )
                .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "ssh: could not open the operator session");
                        return Err(tr(lang, "ssh.unavailable").to_string());
                    }
                    Err(_) => return Err(tr(lang, "ssh.unavailable").to_string()),
                }
            }
        };
        Ok((slot, session))
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let client = self.client(user);
        let answer = tokio::time::timeout(
            DB_DEADLINE,
            operator::authenticate(&self.shared.pool, user, password, &client),
        )
        .await;
        Ok(match answer {
            Ok(Ok(session)) => {
                tracing::info!(peer = %self.peer, login = user, "ssh: signed in by password");
                self.signed(Who::Operator {
                    op: session.operator.clone(),
                    session: Some(session),
                })
            }
            // The console's sign-in screen says so whatever the password: so does the console
            // here (and gives nothing else).
            Ok(Err(LoginError::Locked(until))) => self.signed(Who::Locked(until)),
            Ok(Err(LoginError::Disabled)) => self.signed(Who::Disabled),
            Ok(Err(LoginError::WrongCredentials)) => {
                tracing::info!(peer = %self.peer, login = user, "ssh: wrong password");
                try_again()
            }
            Ok(Err(LoginError::Sql(e))) => {
                tracing::warn!(error = %e, "ssh: password check failed");
                Auth::reject()
            }
            Err(_) => {
                tracing::warn!("ssh: password check timed out");
                Auth::reject()
            }
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(match self.key_owner(user, offer.public_key).await {
            Some(_) => Auth::Accept,
            None => Auth::reject(),
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let Some(op) = self.key_owner(user, key.public_key).await else {
            return Ok(Auth::reject());
        };
        tracing::info!(peer = %self.peer, login = user, "ssh: signed in by key");
        let now = Utc::now();
        Ok(if op.disabled {
            self.signed(Who::Disabled)
        } else if let Some(until) = op.locked_until.filter(|t| *t > now) {
            self.signed(Who::Locked(until))
        } else {
            self.signed(Who::Operator { op, session: None })
        })
    }

    async fn auth_succeeded(&mut self, _session: &mut SshSession) -> Result<(), Self::Error> {
        if let Some(tx) = self.authed.take() {
            let _ = tx.send(());
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        // One console per connection.
        if self.channel.is_some() {
            reply
                .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        self.channel = Some(channel.id());
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.pty = Some(Pty {
            cols: clamp(col_width),
            rows: clamp(row_height),
        });
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let value = Some(value.to_string());
        match name {
            "LC_ALL" => self.env.lc_all = value,
            "LC_MESSAGES" => self.env.lc_messages = value,
            "LANG" => self.env.lang = value,
            "NO_COLOR" => self.env.no_color = value.is_some_and(|v| !v.is_empty()),
            _ => {
                session.channel_failure(channel)?;
                return Ok(());
            }
        }
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if self.channel != Some(channel) || self.console_started {
            session.channel_failure(channel)?;
            return Ok(());
        }
        session.channel_success(channel)?;
        match self.admit().await {
            Err(text) => {
                tracing::info!(peer = %self.peer, "ssh: no console: {text}");
                self.refuse(channel, &text, session);
            }
            Ok((slot, signed_in)) => {
                let (tx, rx) = mpsc::channel(INPUT_QUEUE);
                self.input = Some(tx);
                self.console_started = true;
                let pty = self.pty.as_ref().map_or((80, 24), |p| (p.cols, p.rows));
                let site = &self.shared.site;
                let options = ConsoleOptions {
                    lang: self.lang(),
                    theme: if self.env.no_color {
                        ThemeName::Basic
                    } else {
                        site.theme
                    },
                    keymap: site.keymap.clone(),
                    keymap_errors: Vec::new(),
                    db_where: site.db_where.clone(),
                    demo_login: None,
                    signed_in: Some(signed_in),
                    leave_on_sign_out: true,
                    desk_reader: site.desk_reader.clone(),
                    wallboard_secs: site.wallboard_secs,
                };
                let task = tokio::spawn(run_console(
                    self.shared.clone(),
                    slot,
                    options,
                    session.handle(),
                    channel,
                    pty,
                    rx,
                ));
                let mut consoles = self
                    .shared
                    .consoles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                consoles.retain(|c| !c.is_finished());
                consoles.push(task);
            }
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        tracing::info!(peer = %self.peer, "ssh: exec refused");
        self.no_commands(channel, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        tracing::info!(peer = %self.peer, subsystem = name, "ssh: subsystem refused");
        self.no_commands(channel, session)
    }

    async fn window_change_request(
        &mut self,
        _channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let (cols, rows) = (clamp(col_width), clamp(row_height));
        self.pty = Some(Pty { cols, rows });
        if let Some(tx) = &self.input {
            let _ = tx.try_send(Event::Resize(cols, rows));
        }
        Ok(())
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        data: &[u8],
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if let Some(tx) = &self.input {
            for ev in self.keyboard.feed(data) {
                let _ = tx.try_send(ev);
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        _channel: ChannelId,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.input = None;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        _channel: ChannelId,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.input = None;
        Ok(())
    }
}

impl Conn {
    fn no_commands(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), russh::Error> {
        session.channel_failure(channel)?;
        let text = tr(self.lang(), "ssh.no_commands").to_string();
        let _ = session.extended_data(channel, 1, format!("{text}\r\n").into_bytes());
        let _ = session.exit_status_request(channel, 1);
        let _ = session.close(channel);
        Ok(())
    }
}

/// A refusal that lets the client try again, a password as well as a key (russh would strike
/// the password method off after one wrong password): the attempts a connection has are
/// bounded by the server's configuration, the wrong passwords by the account's lockout.
fn try_again() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(super::methods()),
        partial_success: false,
    }
}

/// The largest screen side a client may ask for: a console's buffers grow with its area, and a
/// hostile client asking for 65535 × 65535 would take every console down with the server.
const MOST_CELLS: u16 = 500;

fn clamp(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX).clamp(1, MOST_CELLS)
}

/// The console on one channel, to its end; then the screen is given back and the channel
/// closed.
async fn run_console(
    shared: Arc<Shared>,
    slot: Slot,
    options: ConsoleOptions,
    handle: Handle,
    channel: ChannelId,
    (cols, rows): (u16, u16),
    input: mpsc::Receiver<Event>,
) {
    let lang = options.lang;
    let session_id = options.signed_in.as_ref().map(|s| s.id);
    let (mut out, pump) = ChannelOut::start(handle.clone(), channel, shared.sent.clone());
    let _ = crossterm::execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        crossterm::cursor::Hide
    );
    let idle = shared.limits.idle;
    let went_idle = Arc::new(AtomicBool::new(false));
    let events = Box::pin(futures::stream::unfold(
        (input, went_idle.clone()),
        move |(mut input, went_idle)| async move {
            match tokio::time::timeout(idle, input.recv()).await {
                Ok(Some(ev)) => Some((Ok(ev), (input, went_idle))),
                Ok(None) => None,
                Err(_) => {
                    went_idle.store(true, Ordering::Relaxed);
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "idle");
                    Some((Err(e), (input, went_idle)))
                }
            }
        },
    ));
    let viewport = Viewport::Fixed(Rect::new(0, 0, cols, rows));
    match Terminal::with_options(CrosstermBackend::new(out), TerminalOptions { viewport }) {
        Ok(mut terminal) => {
            let _ = terminal.clear();
            let result = console::run_on(
                &mut terminal,
                events,
                (cols, rows),
                shared.pool.clone(),
                options,
            )
            .await;
            let why = match result {
                Ok(why) => why,
                Err(e) => {
                    tracing::info!(error = %e, "ssh console ended");
                    None
                }
            };
            let out = terminal.backend_mut();
            let _ = crossterm::execute!(
                out,
                DisableMouseCapture,
                LeaveAlternateScreen,
                crossterm::cursor::Show
            );
            if went_idle.load(Ordering::Relaxed) {
                let secs = idle.as_secs();
                let minutes = if secs.is_multiple_of(60) {
                    (secs / 60).to_string()
                } else {
                    format!("{:.1}", idle.as_secs_f64() / 60.0)
                };
                let text = trf(lang, "ssh.idle", &[("minutes", &minutes)]);
                let _ = write!(out, "{text}\r\n");
                let _ = out.flush();
            }
            // Signed out by the database (kicked, disabled): why, on the client's screen.
            if let Some(why) = why {
                let _ = write!(out, "{why}\r\n");
                let _ = out.flush();
            }
            // ratatui's Drop shows a hidden cursor and prints to stderr when it cannot: shown
            // here, and on a dead channel that Drop is skipped (its bytes go nowhere).
            if terminal.show_cursor().is_err() {
                std::mem::forget(terminal);
                pump.abort();
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "ssh console could not start");
            if let Some(id) = session_id {
                let _ = tokio::time::timeout(DB_DEADLINE, operator::end_session(&shared.pool, id))
                    .await;
            }
        }
    }
    // The writer is gone: the pump sends what is left, then stops.
    let _ = tokio::time::timeout(CLOSE_DEADLINE, pump).await;
    let _ = tokio::time::timeout(CLOSE_DEADLINE, handle.exit_status_request(channel, 0)).await;
    let _ = tokio::time::timeout(CLOSE_DEADLINE, handle.eof(channel)).await;
    let _ = tokio::time::timeout(CLOSE_DEADLINE, handle.close(channel)).await;
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_side_is_kept_between_one_and_the_most() {
        assert_eq!(clamp(0), 1);
        assert_eq!(clamp(80), 80);
        assert_eq!(clamp(65_535), MOST_CELLS);
        assert_eq!(clamp(u32::MAX), MOST_CELLS);
    }
}
