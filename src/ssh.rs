//! `onecard ssh` (and `onecard serve --ssh`): the console served over SSH by onecard itself.
//! Operators sign in with their onecard account (a password, counted toward the same lockout
//! as the console's sign-in screen, or a public key registered to them); each connection gets a
//! console of its own, at its client's size and in its client's language, and never a shell.
//!
//! Every wait has a deadline: the handshake and sign-in, each database call, each write to a
//! client; a connection without input for `ssh.idle_minutes` is closed. A dropped connection
//! ends its operator session and stops its console's tasks.

mod conn;
pub mod io;

use crate::app::state::{DbWhere, ThemeName};
use crate::i18n::Lang;
use crate::keymap::Keymap;
use anyhow::Context;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};
use russh::MethodKind;
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The address `onecard ssh` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:2222";

/// Settings (`onecard` site settings) and their defaults.
pub const PER_OPERATOR_KEY: &str = "ssh.max_sessions_per_operator";
pub const DEFAULT_PER_OPERATOR: usize = 3;
pub const TOTAL_KEY: &str = "ssh.max_sessions";
pub const DEFAULT_TOTAL: usize = 50;
pub const IDLE_KEY: &str = "ssh.idle_minutes";
pub const DEFAULT_IDLE_MINUTES: u64 = 30;

/// From connecting to being signed in.
const SIGN_IN_DEADLINE: Duration = Duration::from_secs(60);
/// Wrong passwords or keys one connection may try.
const AUTH_ATTEMPTS: usize = 6;
/// One database call made for a connection.
const DB_DEADLINE: Duration = Duration::from_secs(10);
/// Connections not yet signed in, beyond the consoles allowed.
const HANDSHAKES: usize = 16;

/// How operators sign in: a registered key or their password.
fn methods() -> russh::MethodSet {
    russh::MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
}

/// How many consoles, and how long one may sit idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_operator: usize,
    pub total: usize,
    pub idle: Duration,
}

impl Limits {
    /// The site's settings (absent or unreadable values: the defaults, said in the log).
    pub async fn read(pool: &PgPool) -> Result<Limits, sqlx::Error> {
        async fn number(pool: &PgPool, key: &str, default: u64) -> Result<u64, sqlx::Error> {
            Ok(match crate::db::settings::get(pool, key).await? {
                None => default,
                Some(v) => v.as_u64().filter(|n| *n > 0).unwrap_or_else(|| {
                    tracing::warn!("{key} = {v} is no positive number; {default} is used");
                    default
                }),
            })
        }
        let per_operator = number(pool, PER_OPERATOR_KEY, DEFAULT_PER_OPERATOR as u64).await?;
        let total = number(pool, TOTAL_KEY, DEFAULT_TOTAL as u64).await?;
        // Minutes, fractions allowed (0.5: half a minute); at most a week.
        let idle = match crate::db::settings::get(pool, IDLE_KEY).await? {
            None => DEFAULT_IDLE_MINUTES as f64,
            Some(v) => v
                .as_f64()
                .filter(|m| m.is_finite() && *m > 0.0)
                .unwrap_or_else(|| {
                    tracing::warn!(
                        "{IDLE_KEY} = {v} is no positive number; {DEFAULT_IDLE_MINUTES} is used"
                    );
                    DEFAULT_IDLE_MINUTES as f64
                }),
        };
        Ok(Limits {
            per_operator: usize::try_from(per_operator).unwrap_or(usize::MAX),
            total: usize::try_from(total).unwrap_or(usize::MAX),
            idle: Duration::from_secs_f64((idle * 60.0).clamp(1.0, 7.0 * 24.0 * 3600.0)),
        })
    }
}

/// What every SSH console starts with unless its client says otherwise (the language).
#[derive(Clone)]
pub struct Site {
    pub lang: Lang,
    pub theme: ThemeName,
    pub keymap: Arc<Keymap>,
    pub db_where: DbWhere,
    pub desk_reader: Option<String>,
    /// Seconds each wallboard screen stays, for an operator of the wallboard role.
    pub wallboard_secs: u32,
}

/// The host key's file in the data directory.
pub fn host_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ssh_host_ed25519_key")
}

/// The server's host key: read from `path`, or made (Ed25519) and written there, mode 0600, on
/// first start. A key file others can read is made private again.
pub fn host_key(path: &Path) -> anyhow::Result<PrivateKey> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let meta = std::fs::metadata(path)?;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "host key readable by others; made 0600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            PrivateKey::from_openssh(text.as_bytes())
                .with_context(|| format!("{} is no OpenSSH private key", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = new_host_key();
            let text = key.to_openssh(LineEnding::LF)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "host key created");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A fresh Ed25519 host key.
pub fn new_host_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment("onecard host key");
    key
}

/// `SHA256:...`, as `ssh-keygen -l` and the client's first-connection question show it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The consoles open now, per operator and in all.
#[derive(Default)]
struct Live {
    total: usize,
    per_operator: HashMap<i64, usize>,
}

/// A console's place among the live ones, given back on drop.
struct Slot {
    shared: Arc<Shared>,
    operator: i64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        live.total = live.total.saturating_sub(1);
        if let Some(n) = live.per_operator.get_mut(&self.operator) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.per_operator.remove(&self.operator);
            }
        }
    }
}

/// Why no console was given.
enum Full {
    Operator(usize),
    Server(usize),
}

/// What every connection shares.
struct Shared {
    pool: PgPool,
    site: Site,
    limits: Limits,
    live: Mutex<Live>,
    /// The consoles' tasks, awaited at shutdown so each ends its session.
    consoles: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Bytes sent to each console, for the bench.
    sent: io::Sent,
}

impl Shared {
    fn reserve(self: &Arc<Self>, operator: i64) -> Result<Slot, Full> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.total >= self.limits.total {
            return Err(Full::Server(self.limits.total));
        }
        let mine = live.per_operator.entry(operator).or_default();
        if *mine >= self.limits.per_operator {
            return Err(Full::Operator(self.limits.per_operator));
        }
        *mine += 1;
        live.total += 1;
        Ok(Slot {
            shared: self.clone(),
            operator,
        })
    }
}

/// The consoles served now (for tests and the bench).
#[derive(Clone)]
pub struct Stats {
    shared: Arc<Shared>,
}

impl Stats {
    pub fn consoles(&self) -> usize {
        self.shared.live.lock().map(|l| l.total).unwrap_or(0)
    }

    /// Bytes sent to every console so far.
    pub fn bytes_sent(&self) -> u64 {
        self.shared
            .sent
            .0
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A bound SSH server, not yet serving.
pub struct Server {
    listener: TcpListener,
    key: PrivateKey,
    shared: Arc<Shared>,
}

impl Server {
    pub async fn bind(
        addr: &str,
        key: PrivateKey,
        pool: PgPool,
        site: Site,
        limits: Limits,
    ) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Server {
            listener,
            key,
            shared: Arc::new(Shared {
                pool,
                site,
                limits,
                live: Mutex::default(),
                consoles: Mutex::default(),
                sent: io::Sent::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            shared: self.shared.clone(),
        }
    }

    /// Serves until `stop` completes; then every connection is closed and every console's
    /// session ended before it returns.
    pub async fn serve(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let config = Arc::new(russh::server::Config {
            server_id: russh::SshId::Standard(
                concat!("SSH-2.0-onecard_", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: methods(),
            auth_rejection_time: Duration::from_secs(1),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![self.key],
            max_auth_attempts: AUTH_ATTEMPTS,
            // The console's own idle limit closes a quiet session; this one only catches a
            // connection that went silent below it.
            inactivity_timeout: Some(self.shared.limits.idle + Duration::from_secs(60)),
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let (closing, closed) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(
            self.shared.limits.total.saturating_add(HANDSHAKES),
        ));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "ssh accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = gate.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "ssh: too many connections; dropped");
                        continue;
                    };
                    let task = conn::connection(
                        self.shared.clone(),
                        config.clone(),
                        socket,
                        peer,
                        closed.clone(),
                    );
                    tokio::spawn(async move {
                        task.await;
                        drop(permit);
                    });
                }
            }
        }
        let _ = closing.send(true);
        let consoles = std::mem::take(
            &mut *self
                .shared
                .consoles
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for c in consoles {
            if tokio::time::timeout(DB_DEADLINE, c).await.is_err() {
                tracing::warn!("ssh: a console did not end in time");
            }
        }
        Ok(())
    }
}
