//! The real binary in a real PTY: what an operator over SSH sees and types.

use crate::pty::Pty;
use crate::support::{test_db, TestDb};
use onecard::db::operator;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use std::process::Command;

const ROWS: u16 = 30;
const COLS: u16 = 100;

pub(crate) struct Console {
    pty: Pty,
    _dirs: tempfile::TempDir,
}

impl std::ops::Deref for Console {
    type Target = Pty;
    fn deref(&self) -> &Pty {
        &self.pty
    }
}

impl std::ops::DerefMut for Console {
    fn deref_mut(&mut self) -> &mut Pty {
        &mut self.pty
    }
}

impl Console {
    pub(crate) fn start(db: &TestDb, args: &[&str]) -> Console {
        let dirs = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_onecard"));
        command
            .args(args)
            .env("DATABASE_URL", db.child_url())
            .env("ONECARD_CONFIG_DIR", dirs.path().join("config"))
            .env("ONECARD_DATA_DIR", dirs.path().join("data"))
            .env("TERM", "xterm-256color")
            .env("LANG", "en_US.UTF-8")
            .env_remove("NO_COLOR");
        Console {
            pty: Pty::spawn(command, (ROWS, COLS)),
            _dirs: dirs,
        }
    }

    /// `q` asks first (a control-room console is not left by one stray key); `y` leaves.
    fn quit(&mut self, question: &str) {
        self.send("q");
        self.wait_for(question);
        self.send("y");
    }

    /// Whether the cell right after `needle` on screen is shown reversed (a text cursor).
    fn cursor_after(&self, needle: &str) -> bool {
        let parser = self.screen.lock().unwrap();
        let screen = parser.screen();
        for (row, text) in screen.rows(0, COLS).enumerate() {
            if let Some(i) = text.find(needle) {
                let col = unicode_width::UnicodeWidthStr::width(&text[..i + needle.len()]);
                return screen
                    .cell(row as u16, col as u16)
                    .is_some_and(|c| c.inverse());
            }
        }
        false
    }
}

async fn with_director(db: &TestDb) {
    operator::create(
        &db.pool,
        &Actor::shell("root"),
        operator::NewOperator {
            login: "zhou",
            display_name: "周建国",
            role: Role::Director,
            password: "a long password",
            must_change_password: false,
        },
    )
    .await
    .unwrap();
}

async fn open_sessions(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM operator_session WHERE ended_at IS NULL")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_browse_and_quit() {
    let db = test_db().await;
    with_director(&db).await;
    let mut c = Console::start(&db, &[]);
    c.wait_for("Sign in with your operator account");
    c.send("zhou\ta long password\r");
    c.wait_for("zhou (周建国) · Director");
    c.wait_for("ready");
    c.send("7");
    c.wait_for("Operators (1)");
    c.send("?");
    c.wait_for("Keys");
    c.send("\x1b");
    // A lone ESC must not merge with the next key into alt-q.
    c.wait_gone("j/k scroll");
    c.quit("Leave the onecard console?");
    let status = c.wait_exit();
    assert!(status.success(), "{status:?}\n{}", c.contents());
    assert_eq!(open_sessions(&db).await, 0, "quitting ends the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_creates_the_director() {
    let db = test_db().await;
    let mut c = Console::start(&db, &["--lang", "zh-CN"]);
    c.wait_for("尚无任何操作员");
    c.send("zhou\t周建国\tlong password 1\tlong password 1\r");
    c.wait_for("zhou (周建国) · 主任");
    c.quit("退出 onecard 控制台？");
    assert!(c.wait_exit().success());
    let ops = operator::list(&db.pool).await.unwrap();
    assert_eq!((ops.len(), ops[0].role), (1, Role::Director));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_terminal_ends_the_session_without_a_panic() {
    let db = test_db().await;
    with_director(&db).await;
    let mut c = Console::start(&db, &[]);
    c.wait_for("Sign in");
    c.send("zhou\ta long password\r");
    c.wait_for("zhou (周建国)");
    assert_eq!(open_sessions(&db).await, 1);
    // The SSH connection drops: the terminal side disappears.
    c.hang_up();
    let status = c.wait_exit();
    assert!(
        status.code().is_some(),
        "exited, not killed by a signal: {status:?}"
    );
    assert_eq!(
        open_sessions(&db).await,
        0,
        "the session was closed on the way out"
    );
    let log = std::fs::read_dir(c._dirs.path().join("data/logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(!log.contains("panic"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_raised_outside_rings_appears_and_is_acknowledged_with_a_note() {
    use onecard::db::alarm::{self, NewAlarm};
    use onecard::domain::alarm::AlarmKind;
    let db = test_db().await;
    with_director(&db).await;
    let tid = crate::support::library_door(&db.pool).await.1;
    let mut c = Console::start(&db, &[]);
    c.wait_for("Sign in");
    c.send("zhou\ta long password\r");
    c.wait_for("zhou (周建国) · Director");
    c.wait_for("none unacknowledged");
    let bells = c.screen.lock().unwrap().screen().audible_bell_count();
    // A poller (another process) raises an alarm: the strip and the bell tell the operator.
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
    assert_eq!(
        c.screen.lock().unwrap().screen().audible_bell_count(),
        bells + 1,
        "a new P1 alarm rings once"
    );
    c.send("a");
    c.wait_for("forced open");
    c.wait_for("图书馆东门");
    c.wait_for("Send the nearest guard");
    c.send("A");
    c.wait_for(&format!("Acknowledge #{id} P1 forced open"));
    c.send("2");
    c.wait_for("Note: guard sent");
    assert!(c.cursor_after("Note: guard sent"), "{}", c.contents());
    c.send("\r");
    c.wait_for(&format!("Alarm #{id} acknowledged: guard sent"));
    // The acknowledgement comes back by notification: the strip is quiet, the row says so.
    c.wait_for("none unacknowledged");
    c.wait_for("acknowledged");
    let a = &alarm::by_id(&db.pool, &[id]).await.unwrap()[0];
    assert_eq!(
        (
            a.state.as_str(),
            a.note.as_deref(),
            a.acknowledged_by.as_deref()
        ),
        ("acknowledged", Some("guard sent"), Some("zhou"))
    );
    c.quit("Leave the onecard console?");
    assert!(c.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_asks_the_password_signs_in_its_role_only_and_quits() {
    let db = test_db().await;
    with_director(&db).await;
    operator::create(
        &db.pool,
        &Actor::shell("root"),
        operator::NewOperator {
            login: "wall",
            display_name: "值班大屏",
            role: Role::Wallboard,
            password: "a long password",
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    // A director is refused: a wall screen is unattended, its account must be able to do
    // nothing. The session opened to check the password is closed again.
    let mut c = Console::start(&db, &["wallboard", "--login", "zhou"]);
    c.wait_for("Password of zhou:");
    c.send("a long password\r");
    c.wait_for("the wallboard signs in only");
    assert!(!c.wait_exit().success());
    assert_eq!(open_sessions(&db).await, 0);
    drop(c);
    // The wallboard operator gets the wallboard; `q` asks, `y` leaves and ends the session.
    let mut c = Console::start(&db, &["wallboard", "--login", "wall", "--secs", "5"]);
    c.wait_for("Password of wall:");
    c.send("a long password\r");
    c.wait_for("wall (值班大屏) · Wallboard");
    c.wait_for("next screen in");
    c.wait_for("no key changes anything");
    c.quit("Leave the wallboard?");
    let status = c.wait_exit();
    assert!(status.success(), "{status:?}\n{}", c.contents());
    assert_eq!(open_sessions(&db).await, 0, "quitting ends the session");
}
