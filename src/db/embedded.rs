//! onecard's private PostgreSQL cluster: the default when no `DATABASE_URL` is given.
//!
//! Layout under `root` (the app passes `<data dir>/pg`):
//! `data/` (PGDATA), `server.log`, and the Unix socket `.s.PGSQL.5432`. The server listens on
//! the socket only (`listen_addresses = ''`), so no TCP port can clash and `trust` is safe: the
//! socket directory is 0700 and owned by the server account. A lock file beside `root`
//! (`<root>.lock`) serialises start/stop between consoles on the same machine.
//!
//! Under root the server runs as the `postgres` system user (PostgreSQL refuses to run as root).

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, Executor, PgConnection};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The superuser initdb creates: the schema's owner. Migrations, backups and restores connect
/// as it; the console and `serve` as their own roles (`db::roles`), over the same socket.
pub const SUPERUSER: &str = "onecard";
/// Only names the socket file (`.s.PGSQL.5432`); there is no TCP listener.
pub const PORT: u16 = 5432;
/// Where Debian/Ubuntu put versioned server binaries.
pub const LIB_ROOT: &str = "/usr/lib/postgresql";

/// sun_path is 104 bytes on the BSDs/macOS (108 on Linux); stay under the smaller.
const MAX_SOCKET_PATH: usize = 103;
const START_TIMEOUT_SECS: u64 = 60;
const LOG_TAIL_LINES: usize = 20;
/// server.log is only ever appended to by pg_ctl; rotate it at start past this size.
const LOG_ROTATE_BYTES: u64 = 8 << 20;
const SETTINGS_FILE: &str = "onecard.conf";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("PostgreSQL server binaries not found (looked for pg_ctl, initdb and postgres in $ONECARD_PG_BIN, PATH and /usr/lib/postgresql/*/bin). Install the server package (Debian/Ubuntu: apt-get install postgresql), or point onecard at a server with DATABASE_URL.")]
    BinariesNotFound,
    #[error("the database directory {root} is too deep for a PostgreSQL socket: {socket} is {len} bytes, at most {MAX_SOCKET_PATH} are allowed; choose a shorter data directory or use DATABASE_URL")]
    SocketPathTooLong {
        root: PathBuf,
        socket: PathBuf,
        len: usize,
    },
    #[error("onecard is running as root, and PostgreSQL refuses to run as root, but there is no `postgres` system user to run it as; create one (installing the postgresql package does) or run onecard as an ordinary user")]
    NoPostgresUser,
    #[error("could not look up the `postgres` system user: {0}")]
    UserLookup(#[source] nix::Error),
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not run {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("initdb could not create the database cluster in {data}:\n{output}")]
    Initdb { data: PathBuf, output: String },
    #[error(
        "the database server in {data} did not start:\n{output}\nlast lines of {log}:\n{log_tail}"
    )]
    Start {
        data: PathBuf,
        log: PathBuf,
        output: String,
        log_tail: String,
    },
    #[error("the database server in {data} did not stop:\n{output}")]
    Stop { data: PathBuf, output: String },
    #[error("the database server in {data} (pid {pid}) was still {state} after {START_TIMEOUT_SECS} seconds; see {log}")]
    NotReady {
        data: PathBuf,
        log: PathBuf,
        pid: i32,
        state: String,
    },
    #[error("could not {action} database {name} on the server at {socket}: {source}")]
    Sql {
        action: &'static str,
        name: String,
        socket: PathBuf,
        #[source]
        source: sqlx::Error,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> EmbeddedError + 'a {
    move |source| EmbeddedError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStatus {
    NotInitialised,
    Stopped,
    Running { pid: i32 },
}

/// What [`Cluster::ensure_running`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// Another console (or an earlier run) had already started it; we share it.
    pub already_running: bool,
    /// initdb ran on this call (first run).
    pub created: bool,
    pub pid: i32,
}

/// The account the server processes run as when we are root.
#[derive(Debug, Clone)]
struct RunAs {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    ephemeral: bool,
}

/// `$ONECARD_PG_BIN`, then PATH, then `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Result<PathBuf, EmbeddedError> {
    find_bin_dir_in(
        std::env::var_os("ONECARD_PG_BIN").as_deref(),
        std::env::var_os("PATH").as_deref(),
        Path::new(LIB_ROOT),
    )
}

/// [`find_bin_dir`] with its inputs explicit, so tests need not touch the process environment.
pub fn find_bin_dir_in(
    env_dir: Option<&OsStr>,
    path: Option<&OsStr>,
    lib_root: &Path,
) -> Result<PathBuf, EmbeddedError> {
    if let Some(dir) = env_dir.filter(|d| !d.is_empty()) {
        let dir = Path::new(dir);
        if has_server_bins(dir) {
            return Ok(fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()));
        }
        tracing::warn!(dir = %dir.display(), "ONECARD_PG_BIN lacks pg_ctl, initdb or postgres; looking elsewhere");
    }
    if let Some(path) = path {
        for dir in std::env::split_paths(path) {
            let pg_ctl = dir.join("pg_ctl");
            if !is_executable(&pg_ctl) {
                continue;
            }
            // /usr/local/bin/pg_ctl is often a symlink; initdb and postgres live beside its target.
            if let Some(real) = fs::canonicalize(&pg_ctl)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                if has_server_bins(&real) {
                    return Ok(real);
                }
            }
            if has_server_bins(&dir) {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(lib_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = name
                .to_str()?
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|(_, bin)| bin)
        .find(|bin| has_server_bins(bin))
        .ok_or(EmbeddedError::BinariesNotFound)
}

fn has_server_bins(dir: &Path) -> bool {
    ["pg_ctl", "initdb", "postgres"]
        .iter()
        .all(|tool| is_executable(&dir.join(tool)))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Double-quotes an SQL identifier (`"` doubled), for names that cannot be bind parameters.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted postgresql.conf string.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

impl Cluster {
    /// A cluster at `root`, with server binaries from [`find_bin_dir`]. Touches nothing on disk.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, EmbeddedError> {
        Self::with_bin_dir(root, find_bin_dir()?)
    }

    pub fn with_bin_dir(
        root: impl Into<PathBuf>,
        bin_dir: impl Into<PathBuf>,
    ) -> Result<Self, EmbeddedError> {
        let root = root.into();
        // The socket directory must be absolute; relative paths would move with the cwd.
        let root = std::path::absolute(&root).map_err(io_err("resolve", &root))?;
        let socket = root.join(format!(".s.PGSQL.{PORT}"));
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong { root, socket, len });
        }
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .map_err(EmbeddedError::UserLookup)?
                .ok_or(EmbeddedError::NoPostgresUser)?;
            Some(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
                home: user.dir,
            })
        } else {
            None
        };
        Ok(Self {
            root,
            bin_dir: bin_dir.into(),
            run_as,
            ephemeral: false,
        })
    }

    /// Trades crash safety for speed (fsync off, initdb --no-sync): for throwaway test clusters.
    /// Takes effect at the next initdb/start.
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Unix socket lives in `root` itself.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// A client or server tool from the same installation (pg_dump, pg_restore, psql, ...).
    pub fn bin(&self, tool: &str) -> PathBuf {
        self.bin_dir.join(tool)
    }

    /// Beside `root`, not in it: under root, `root` belongs to the server account.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self
            .root
            .file_name()
            .map(OsStr::to_os_string)
            .unwrap_or_else(|| OsString::from("pg"));
        name.push(".lock");
        match self.root.parent() {
            Some(parent) => parent.join(name),
            None => self.root.join(".lock"),
        }
    }

    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        self.connect_options_as(database, SUPERUSER)
    }

    /// As another role of the cluster (`onecard_console`, `onecard_serve`): every local login
    /// is `trust`, and only onecard's own account can reach the socket.
    pub fn connect_options_as(&self, database: &str, user: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.root)
            .port(PORT)
            .username(user)
            .database(database)
            .ssl_mode(PgSslMode::Disable)
    }

    pub fn status(&self) -> ClusterStatus {
        if !self.is_initialised() {
            return ClusterStatus::NotInitialised;
        }
        match self.probe() {
            Probe::Running { pid, .. } => ClusterStatus::Running { pid },
            Probe::NoFile | Probe::Stale(_) => ClusterStatus::Stopped,
        }
    }

    fn is_initialised(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// Initialises on first use and starts the server unless it already runs. Blocking: from
    /// async code call it through `spawn_blocking`.
    pub fn ensure_running(&self) -> Result<Started, EmbeddedError> {
        let _lock = self.lock()?;
        self.prepare_root()?;
        let created = if self.is_initialised() {
            false
        } else {
            self.initdb()?;
            true
        };
        let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT_SECS);
        loop {
            match self.probe() {
                Probe::NoFile => break,
                Probe::Stale(pid) => {
                    self.clear_stale(pid)?;
                    break;
                }
                Probe::Running { pid, state } => {
                    // Older servers do not write the status line: treat as ready.
                    if state.is_empty() || state == "ready" {
                        return Ok(Started {
                            already_running: true,
                            created,
                            pid,
                        });
                    }
                    // "starting" (e.g. crash recovery) or "stopping": wait it out.
                    if Instant::now() >= deadline {
                        return Err(EmbeddedError::NotReady {
                            data: self.data_dir(),
                            log: self.log_path(),
                            pid,
                            state,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.write_settings()?;
        self.rotate_log();
        self.start()?;
        let pid = match self.probe() {
            Probe::Running { pid, .. } => pid,
            _ => 0,
        };
        tracing::info!(root = %self.root.display(), pid, "embedded PostgreSQL started");
        Ok(Started {
            already_running: false,
            created,
            pid,
        })
    }

    /// Fast shutdown (open sessions are disconnected). Ok(false) if it was not running.
    pub fn stop(&self) -> Result<bool, EmbeddedError> {
        let _lock = self.lock()?;
        if !matches!(self.probe(), Probe::Running { .. }) {
            return Ok(false);
        }
        let data = self.data_dir();
        let out = self.run(
            self.command("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "-w", "-t"])
                .arg(START_TIMEOUT_SECS.to_string()),
        )?;
        if !out.status.success() {
            return Err(EmbeddedError::Stop {
                data,
                output: output_text(&out),
            });
        }
        tracing::info!(root = %self.root.display(), "embedded PostgreSQL stopped");
        Ok(true)
    }

    /// `CREATE DATABASE` unless it exists; Ok(true) if this call created it.
    pub async fn create_database_if_missing(&self, name: &str) -> Result<bool, EmbeddedError> {
        let sql_err = |source| EmbeddedError::Sql {
            action: "create",
            name: name.to_string(),
            socket: self.root.clone(),
            source,
        };
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(sql_err)?;
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .map_err(sql_err)?;
        let created = if exists {
            false
        } else {
            match conn
                .execute(format!("CREATE DATABASE {}", quote_ident(name)).as_str())
                .await
            {
                Ok(_) => true,
                // Another console created it between our check and now.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => false,
                Err(e) => return Err(sql_err(e)),
            }
        };
        let _ = conn.close().await;
        Ok(created)
    }

    /// `DROP DATABASE IF EXISTS ... WITH (FORCE)`: open sessions on it are terminated.
    pub async fn drop_database(&self, name: &str) -> Result<(), EmbeddedError> {
        let sql_err = |source| EmbeddedError::Sql {
            action: "drop",
            name: name.to_string(),
            socket: self.root.clone(),
            source,
        };
        let mut conn = PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(sql_err)?;
        conn.execute(
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)).as_str(),
        )
        .await
        .map_err(sql_err)?;
        let _ = conn.close().await;
        Ok(())
    }

    // ---- internals ----

    fn lock(&self) -> Result<File, EmbeddedError> {
        let path = self.lock_path();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("open lock file", &path))?;
        file.lock().map_err(io_err("lock", &path))?;
        Ok(file)
    }

    /// Creates `root` (0700, owned by the server account) and makes its ancestors traversable.
    /// The socket lives in `root` and every local login is `trust`: whoever can enter `root`
    /// could connect as the owner, so it is made 0700 again at every start.
    fn prepare_root(&self) -> Result<(), EmbeddedError> {
        let root = &self.root;
        if !root.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(io_err("create directory", root))?;
        }
        if self.run_as.is_none() {
            let meta = fs::metadata(root).map_err(io_err("inspect", root))?;
            if meta.mode() & 0o777 != 0o700 {
                fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                    .map_err(io_err("set permissions on", root))?;
                tracing::warn!(root = %root.display(), "the database directory was open to others; made it 0700");
            }
        }
        if let Some(run_as) = &self.run_as {
            let meta = fs::metadata(root).map_err(io_err("inspect", root))?;
            if meta.uid() != run_as.uid || meta.gid() != run_as.gid {
                std::os::unix::fs::chown(root, Some(run_as.uid), Some(run_as.gid))
                    .map_err(io_err("change the owner of", root))?;
            }
            if meta.mode() & 0o777 != 0o700 {
                fs::set_permissions(root, fs::Permissions::from_mode(0o700))
                    .map_err(io_err("set permissions on", root))?;
            }
            let real = fs::canonicalize(root).map_err(io_err("resolve", root))?;
            for dir in real.ancestors().skip(1) {
                self.ensure_traversable(dir, run_as)?;
            }
        }
        Ok(())
    }

    /// The server account must be able to reach `root`: add only o+x (never read) where missing.
    fn ensure_traversable(&self, dir: &Path, run_as: &RunAs) -> Result<(), EmbeddedError> {
        let meta = fs::metadata(dir).map_err(io_err("inspect", dir))?;
        let mode = meta.mode();
        let bit = if meta.uid() == run_as.uid {
            0o100
        } else if meta.gid() == run_as.gid {
            0o010
        } else {
            0o001
        };
        if mode & bit != 0 {
            return Ok(());
        }
        if bit != 0o001 {
            tracing::warn!(dir = %dir.display(), "the postgres account cannot traverse this directory; the server may fail to start");
            return Ok(());
        }
        fs::set_permissions(dir, fs::Permissions::from_mode((mode & 0o7777) | 0o001))
            .map_err(io_err("add o+x (search only) to", dir))?;
        tracing::info!(dir = %dir.display(), "added o+x (search, not read) so the postgres account can reach the embedded database");
        Ok(())
    }

    /// A server tool, as the server account when we are root.
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin(tool));
        cmd.current_dir(&self.root).stdin(Stdio::null());
        if let Some(run_as) = &self.run_as {
            // std drops supplementary groups when switching uid from root.
            cmd.uid(run_as.uid)
                .gid(run_as.gid)
                .env("HOME", &run_as.home)
                .env("USER", "postgres")
                .env("LOGNAME", "postgres");
        }
        cmd
    }

    fn run(&self, cmd: &mut Command) -> Result<Output, EmbeddedError> {
        cmd.output().map_err(|source| EmbeddedError::Spawn {
            program: PathBuf::from(cmd.get_program()),
            source,
        })
    }

    /// initdb into a scratch directory renamed into place on success, so a crash mid-initdb
    /// never leaves a half-made `data/` that looks initialised.
    fn initdb(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir();
        let scratch = self.root.join("data.initdb");
        if data.exists() {
            // No PG_VERSION: a leftover from something else; initdb would refuse it.
            fs::remove_dir_all(&data).map_err(io_err("remove incomplete", &data))?;
        }
        let mut outputs = Vec::new();
        let mut ok = false;
        for locale in ["C.UTF-8", "C"] {
            if scratch.exists() {
                fs::remove_dir_all(&scratch).map_err(io_err("remove", &scratch))?;
            }
            let mut cmd = self.command("initdb");
            cmd.arg("-D")
                .arg(&scratch)
                .args(["-U", SUPERUSER, "--auth-local=trust", "--auth-host=reject"])
                .args(["--encoding=UTF8", &format!("--locale={locale}")]);
            if self.ephemeral {
                cmd.arg("--no-sync");
            }
            let out = self.run(&mut cmd)?;
            if out.status.success() {
                ok = true;
                break;
            }
            outputs.push(format!("(locale {locale})\n{}", output_text(&out)));
        }
        if !ok {
            let _ = fs::remove_dir_all(&scratch);
            return Err(EmbeddedError::Initdb {
                data,
                output: outputs.join("\n"),
            });
        }
        let conf = scratch.join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io_err("open", &conf))?;
        writeln!(
            file,
            "\n# onecard rewrites {SETTINGS_FILE} at every start; settings below this line override it.\ninclude_if_exists = '{SETTINGS_FILE}'"
        )
        .map_err(io_err("write", &conf))?;
        fs::rename(&scratch, &data).map_err(io_err("rename into place", &scratch))?;
        tracing::info!(data = %data.display(), "initialised the embedded database cluster");
        Ok(())
    }

    /// Rewritten each start so a moved `root` still gets the right socket directory.
    fn write_settings(&self) -> Result<(), EmbeddedError> {
        let path = self.data_dir().join(SETTINGS_FILE);
        let mut text = format!(
            "# Written by onecard at every start.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = {}\n\
             unix_socket_permissions = 0700\n\
             shared_buffers = 256MB\n\
             wal_buffers = 16MB\n\
             max_wal_size = 2GB\n\
             commit_delay = 100\n\
             commit_siblings = 4\n\
             max_connections = 200\n\
             logging_collector = off\n",
            conf_string(&self.root.to_string_lossy()),
        );
        if self.ephemeral {
            text.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        fs::write(&path, text).map_err(io_err("write", &path))?;
        if let Some(run_as) = &self.run_as {
            std::os::unix::fs::chown(&path, Some(run_as.uid), Some(run_as.gid))
                .map_err(io_err("change the owner of", &path))?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(io_err("set permissions on", &path))?;
        Ok(())
    }

    fn rotate_log(&self) {
        let log = self.log_path();
        if fs::metadata(&log).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
            let _ = fs::rename(&log, self.root.join("server.log.1"));
        }
    }

    fn start(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir();
        let log = self.log_path();
        let mut cmd = self.command("pg_ctl");
        cmd.arg("start")
            .args(["-w", "-t", &START_TIMEOUT_SECS.to_string()])
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            // Own process group: a Ctrl-C aimed at the console must not reach the server.
            .process_group(0);
        let out = self.run(&mut cmd)?;
        if out.status.success() {
            return Ok(());
        }
        Err(EmbeddedError::Start {
            log_tail: log_tail(&log, LOG_TAIL_LINES),
            data,
            log,
            output: output_text(&out),
        })
    }

    fn probe(&self) -> Probe {
        let pid_file = self.data_dir().join("postmaster.pid");
        let Ok(text) = fs::read_to_string(&pid_file) else {
            return Probe::NoFile;
        };
        let pid = match text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok())
        {
            Some(pid) if pid > 0 => pid,
            // Empty or garbled: a crash while writing it.
            _ => return Probe::Stale(0),
        };
        if !is_our_postmaster(pid, &self.data_dir()) {
            return Probe::Stale(pid);
        }
        let state = text.lines().nth(7).unwrap_or("").trim().to_string();
        Probe::Running { pid, state }
    }

    /// The postmaster is gone (or its pid now belongs to someone else): PostgreSQL would refuse
    /// to start over a reused pid, so clear its lock files after its orphans are gone.
    fn clear_stale(&self, pid: i32) -> Result<(), EmbeddedError> {
        tracing::warn!(root = %self.root.display(), pid, "removing a stale postmaster.pid left by a crashed server");
        let data = self.data_dir();
        // Orphaned backends still hold the shared memory; the new postmaster refuses while they live.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let orphans = cluster_processes(&data);
            if orphans.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for orphan in orphans {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(orphan),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for path in [
            data.join("postmaster.pid"),
            self.root.join(format!(".s.PGSQL.{PORT}.lock")),
            self.root.join(format!(".s.PGSQL.{PORT}")),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove stale", &path)(e)),
            }
        }
        Ok(())
    }
}

enum Probe {
    NoFile,
    Stale(i32),
    Running { pid: i32, state: String },
}

/// Alive, not a zombie, named postgres, and (where /proc lets us see) working in `data`.
fn is_our_postmaster(pid: i32, data: &Path) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self").exists() {
        return true; // no procfs: alive is all we can tell
    }
    if is_zombie(&proc_dir) {
        return false;
    }
    match fs::read_to_string(proc_dir.join("comm")) {
        Ok(comm) if matches!(comm.trim(), "postgres" | "postmaster") => {}
        Ok(_) => return false,
        // Unreadable comm: the process vanished meanwhile.
        Err(_) => return false,
    }
    // The postmaster chdirs into its data directory; a postgres of another cluster does not match.
    match (fs::read_link(proc_dir.join("cwd")), fs::canonicalize(data)) {
        (Ok(cwd), Ok(data)) => cwd == data,
        _ => true,
    }
}

fn is_zombie(proc_dir: &Path) -> bool {
    fs::read_to_string(proc_dir.join("stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name, which may itself contain ')'.
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X")
    })
}

/// Live postgres processes whose working directory is `data` (a dead postmaster's children).
fn cluster_processes(data: &Path) -> Vec<i32> {
    let Ok(data) = fs::canonicalize(data) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let dir = PathBuf::from(format!("/proc/{pid}"));
            fs::read_link(dir.join("cwd")).is_ok_and(|cwd| cwd == data)
                && fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim() == "postgres")
                && !is_zombie(&dir)
        })
        .collect()
}

fn output_text(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.trim_end().to_string()
}

fn log_tail(log: &Path, lines: usize) -> String {
    match fs::read(log) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(could not read it: {e})"),
    }
}
