//! `onecard ssh` driven by the system's OpenSSH client in a real PTY: signing in by key and by
//! password, tabs, resizing, an alarm acknowledged, a dropped connection, refusals.

use crate::pty::{Pty, PATIENCE};
use crate::support::{test_db, TestDb};
use onecard::db::{operator, operator_key, settings};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `onecard ssh` on a free port of 127.0.0.1.
struct Server {
    child: Child,
    port: u16,
    dirs: tempfile::TempDir,
}

impl Server {
    fn start(db: &TestDb) -> Server {
        let dirs = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
            .args(["ssh", "--listen", "127.0.0.1:0", "--lang", "en"])
            .env("DATABASE_URL", db.child_url())
            .env("ONECARD_CONFIG_DIR", dirs.path().join("config"))
            .env("ONECARD_DATA_DIR", dirs.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn onecard ssh");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut port = None;
        let mut fingerprint = None;
        while port.is_none() || fingerprint.is_none() {
            let line = lines
                .next()
                .expect("onecard ssh said where it listens")
                .unwrap();
            if let Some(at) = line.strip_prefix("onecard ssh: listening on ") {
                port = Some(at.rsplit(':').next().unwrap().parse().unwrap());
            }
            if let Some(rest) = line.strip_prefix("host key ") {
                fingerprint = Some(rest.split(' ').next().unwrap().to_string());
            }
        }
        // The rest of what it prints is read and dropped, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let key = dirs.path().join("data/ssh_host_ed25519_key");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the host key is private");
        let printed = Command::new("ssh-keygen")
            .args(["-l", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&printed.stdout).contains(fingerprint.as_deref().unwrap()),
            "the fingerprint printed is the host key's"
        );
        Server {
            child,
            port: port.unwrap(),
            dirs,
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key pair made by `ssh-keygen`.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// The OpenSSH client's options for a test: no known hosts, no user config.
fn ssh_args(port: u16) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-p",
        &port.to_string(),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "SendEnv=LANG",
        "-o",
        "IdentitiesOnly=yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn key_args(key: &Path) -> Vec<String> {
    vec![
        "-i".into(),
        key.display().to_string(),
        "-o".into(),
        "PreferredAuthentications=publickey".into(),
        "-o".into(),
        "BatchMode=yes".into(),
    ]
}

fn password_args(prompts: u32) -> Vec<String> {
    vec![
        "-o".into(),
        "PreferredAuthentications=password".into(),
        "-o".into(),
        "PubkeyAuthentication=no".into(),
        "-o".into(),
        format!("NumberOfPasswordPrompts={prompts}"),
    ]
}

/// An `ssh` client in a PTY of its own (its controlling terminal, so it asks for passwords
/// there and hears the PTY resized).
struct Client {
    pty: Pty,
    _home: tempfile::TempDir,
}

impl std::ops::Deref for Client {
    type Target = Pty;
    fn deref(&self) -> &Pty {
        &self.pty
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Pty {
        &mut self.pty
    }
}

impl Client {
    fn start(args: &[String], lang: &str, size: (u16, u16)) -> Client {
        let home = tempfile::tempdir().unwrap();
        let mut command = Command::new("setsid");
        command
            .arg("-c")
            .arg("ssh")
            .args(args)
            .env("HOME", home.path())
            .env("TERM", "xterm-256color")
            .env("LANG", lang)
            .env_remove("LC_ALL")
            .env_remove("SSH_AUTH_SOCK");
        Client {
            pty: Pty::spawn(command, size),
            _home: home,
        }
    }
}

async fn add_operator(db: &TestDb, login: &str, name: &str) {
    add_operator_as(db, login, name, Role::Director).await
}

async fn add_operator_as(db: &TestDb, login: &str, name: &str, role: Role) {
    operator::create(
        &db.pool,
        &Actor::shell("root"),
        operator::NewOperator {
            login,
            display_name: name,
            role,
            password: "a long password",
            must_change_password: false,
        },
    )
    .await
    .unwrap();
}

/// A key made by ssh-keygen, registered to `login` as `operator key add` does.
async fn registered_key(db: &TestDb, dir: &Path, login: &str) -> PathBuf {
    let key = keygen(dir, login);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    operator_key::add(&db.pool, &Actor::shell("root"), login, &public)
        .await
        .unwrap();
    key
}

async fn open_sessions(db: &TestDb, login: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM operator_session s JOIN operator o ON o.id = s.operator_id
         WHERE o.login = $1 AND s.ended_at IS NULL",
    )
    .bind(login)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Polls the database until `want` open sessions of `login` remain.
async fn wait_sessions(db: &TestDb, login: &str, want: i64) {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if open_sessions(db, login).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{login} has {} open sessions, not {want}",
        open_sessions(db, login).await
    );
}

fn console_by_key(
    server: &Server,
    key: &Path,
    login: &str,
    lang: &str,
    size: (u16, u16),
) -> Client {
    let mut args = ssh_args(server.port);
    args.extend(key_args(key));
    args.push(format!("{login}@127.0.0.1"));
    Client::start(&args, lang, size)
}

/// A console by key once the server has a place for it: a connection closes a moment after its
/// session ends, and until then the server may still say it is full (then try again).
fn admitted(server: &Server, key: &Path, login: &str, lang: &str, header: &str) -> Client {
    let start = Instant::now();
    loop {
        let mut c = console_by_key(server, key, login, lang, (30, 100));
        loop {
            let screen = c.contents();
            if screen.contains(header) {
                return c;
            }
            if screen.contains("已达上限") || screen.contains("the most allowed") {
                c.wait_exit();
                break;
            }
            assert!(start.elapsed() < PATIENCE, "{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_opens_the_console_which_follows_the_terminal_and_ends_with_the_connection() {
    use onecard::db::alarm::{self, NewAlarm};
    use onecard::domain::alarm::AlarmKind;
    let db = test_db().await;
    add_operator(&db, "zhou", "周建国").await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let mut server = Server::start(&db);
    let key = registered_key(&db, server.dirs.path(), "zhou").await;
    let c = console_by_key(&server, &key, "zhou", "en_US.UTF-8", (30, 100));
    // Signed in already: the key was the sign-in.
    c.wait_for("zhou (周建国) · Director");
    c.wait_for("none unacknowledged");
    assert_eq!(open_sessions(&db, "zhou").await, 1);
    // A key sign-in is a sign-in: the Operators tab shows when.
    let last: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_login_at FROM operator WHERE login = 'zhou'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(last.is_some());
    c.send("7");
    c.wait_for("Operators (1)");
    // The window grows: the console is drawn again at the new size.
    c.resize(40, 140);
    let start = Instant::now();
    loop {
        let widest = c
            .contents()
            .lines()
            .map(unicode_width::UnicodeWidthStr::width)
            .max()
            .unwrap_or(0);
        if widest > 100 && c.contents().lines().count() > 30 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the layout did not follow the resize:\n{}",
            c.contents()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c.wait_for("Operators (1)");
    // An alarm raised elsewhere, acknowledged over SSH.
    let id = alarm::raise_fault(
        &db.pool,
        &NewAlarm {
            kind: AlarmKind::ForcedOpen,
            terminal_id: Some(tid),
            door: Some(2),
            card: None,
            detail: "door 2 opened without a swipe".into(),
            late: false,
        },
    )
    .await
    .unwrap()
    .unwrap();
    c.wait_for("P1 1");
    c.send("a");
    c.wait_for("forced open");
    c.send("A");
    c.wait_for(&format!("Acknowledge #{id} P1 forced open"));
    c.send("2");
    c.wait_for("Note: guard sent");
    c.send("\r");
    c.wait_for(&format!("Alarm #{id} acknowledged: guard sent"));
    let a = &alarm::by_id(&db.pool, &[id]).await.unwrap()[0];
    assert_eq!(
        (a.state.as_str(), a.acknowledged_by.as_deref()),
        ("acknowledged", Some("zhou"))
    );
    // The connection drops mid-operation (a form open): the session ends, the server goes on.
    c.send("A");
    c.wait_for(&format!("#{id}"));
    drop(c);
    wait_sessions(&db, "zhou", 0).await;
    assert!(server.alive());
    let again = console_by_key(&server, &key, "zhou", "en_US.UTF-8", (30, 100));
    again.wait_for("zhou (周建国) · Director");
    wait_sessions(&db, "zhou", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_over_ssh_lock_the_account_like_the_console() {
    let db = test_db().await;
    add_operator(&db, "zhou", "周建国").await;
    let server = Server::start(&db);
    let mut args = ssh_args(server.port);
    args.extend(password_args(5));
    args.push("zhou@127.0.0.1".into());
    let mut c = Client::start(&args, "en_US.UTF-8", (30, 100));
    for n in 1..=4 {
        // Each prompt appears anew after a wrong answer.
        let start = Instant::now();
        while c.contents().matches("password:").count() < n {
            assert!(start.elapsed() < PATIENCE, "{}", c.contents());
            std::thread::sleep(Duration::from_millis(50));
        }
        c.send("not the password\r");
    }
    let start = Instant::now();
    loop {
        let attempts: i32 =
            sqlx::query_scalar("SELECT failed_attempts FROM operator WHERE login = 'zhou'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if attempts == 4 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{attempts} failures counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The fifth locks it, as at the console's sign-in screen.
    let start = Instant::now();
    while c.contents().matches("password:").count() < 5 {
        assert!(start.elapsed() < PATIENCE, "{}", c.contents());
        std::thread::sleep(Duration::from_millis(50));
    }
    c.send("not the password\r");
    c.wait_exit();
    let op = operator::find(&db.pool, "zhou").await.unwrap().unwrap();
    assert!(op.is_locked(chrono::Utc::now()), "{op:?}");
    // Now even the right password gets the refusal, in the client's language, and no console.
    let mut args = ssh_args(server.port);
    args.extend(password_args(1));
    args.push("zhou@127.0.0.1".into());
    let mut c = Client::start(&args, "zh_CN.UTF-8", (30, 100));
    c.wait_for("password:");
    c.send("a long password\r");
    c.wait_for("账户锁定至");
    assert!(!c.wait_exit().success());
    assert_eq!(open_sessions(&db, "zhou").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_gets_no_shell_and_the_session_cap_holds() {
    let db = test_db().await;
    add_operator(&db, "zhou", "周建国").await;
    settings::set(
        &db.pool,
        &Actor::shell("root"),
        onecard::ssh::PER_OPERATOR_KEY,
        serde_json::json!(1),
    )
    .await
    .unwrap();
    let server = Server::start(&db);
    let key = registered_key(&db, server.dirs.path(), "zhou").await;
    // `ssh host command`: refused, nothing runs.
    let mut args = ssh_args(server.port);
    args.extend(key_args(&key));
    args.push("zhou@127.0.0.1".into());
    args.push("echo".into());
    args.push("ran-a-command".into());
    let out = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new("ssh")
            .args(&args)
            .env("HOME", server.dirs.path())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("ssh with a command ended")
    .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran-a-command"));
    wait_sessions(&db, "zhou", 0).await;
    // One console allowed: the second is refused, in its own language.
    let first = console_by_key(&server, &key, "zhou", "en_US.UTF-8", (30, 100));
    first.wait_for("zhou (周建国) · Director");
    let mut second = console_by_key(&server, &key, "zhou", "zh_CN.UTF-8", (30, 100));
    second.wait_for("已达上限");
    second.wait_exit();
    assert_eq!(open_sessions(&db, "zhou").await, 1);
    // The first one, in English, still works.
    first.send("7");
    first.wait_for("Operators (1)");
    // In Chinese once the first is gone.
    drop(first);
    wait_sessions(&db, "zhou", 0).await;
    admitted(&server, &key, "zhou", "zh_CN.UTF-8", "zhou (周建国) · 主任");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_role_gets_the_wall_screen_and_a_kick_closes_the_connection() {
    let db = test_db().await;
    add_operator_as(&db, "wall", "值班大屏", Role::Wallboard).await;
    let mut server = Server::start(&db);
    let key = registered_key(&db, server.dirs.path(), "wall").await;
    let mut c = console_by_key(&server, &key, "wall", "en_US.UTF-8", (48, 160));
    c.wait_for("wall (值班大屏) · Wallboard");
    c.wait_for("no key changes anything");
    wait_sessions(&db, "wall", 1).await;
    // Ending the operator's sessions from elsewhere closes the connection at once.
    let ended = operator::kick(&db.pool, &Actor::shell("root"), "wall")
        .await
        .unwrap();
    assert_eq!(ended, 1);
    c.wait_exit();
    // And says why once the screen is given back.
    c.wait_for("Your session was ended");
    wait_sessions(&db, "wall", 0).await;
    assert!(server.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_console_is_closed_and_says_why() {
    let db = test_db().await;
    add_operator(&db, "zhou", "周建国").await;
    // Six seconds without input close it (the console's own goodbye says it ran).
    settings::set(
        &db.pool,
        &Actor::shell("root"),
        onecard::ssh::IDLE_KEY,
        serde_json::json!(0.1),
    )
    .await
    .unwrap();
    let mut server = Server::start(&db);
    let key = registered_key(&db, server.dirs.path(), "zhou").await;
    let mut c = console_by_key(&server, &key, "zhou", "zh_CN.UTF-8", (30, 100));
    c.wait_exit();
    c.wait_for("0.1 分钟无输入，连接已关闭。");
    wait_sessions(&db, "zhou", 0).await;
    assert!(server.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_wide_cap_holds_across_operators() {
    let db = test_db().await;
    add_operator(&db, "zhou", "周建国").await;
    add_operator(&db, "li", "李明").await;
    settings::set(
        &db.pool,
        &Actor::shell("root"),
        onecard::ssh::TOTAL_KEY,
        serde_json::json!(1),
    )
    .await
    .unwrap();
    let server = Server::start(&db);
    let zhou = registered_key(&db, server.dirs.path(), "zhou").await;
    let li = registered_key(&db, server.dirs.path(), "li").await;
    let first = console_by_key(&server, &zhou, "zhou", "en_US.UTF-8", (30, 100));
    first.wait_for("zhou (周建国) · Director");
    // Another operator, within their own cap, finds the server full, and is told so.
    let mut second = console_by_key(&server, &li, "li", "en_US.UTF-8", (30, 100));
    second.wait_for("the most allowed: try again later");
    assert!(!second.wait_exit().success());
    assert_eq!(open_sessions(&db, "li").await, 0);
    // A place is free again once the first is gone (its connection closes a moment after its
    // session ends: until then the server may still say it is full).
    drop(first);
    wait_sessions(&db, "zhou", 0).await;
    admitted(&server, &li, "li", "en_US.UTF-8", "li (李明) · Director");
}
