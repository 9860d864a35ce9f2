//! Rights checked where the data is: every effect asks the session row (the operator's current
//! role, the session open, the account enabled), reads included; kick and disable end a running
//! console's session at once; the idle lock.

use crate::console_pty::Console as PtyConsole;
use crate::harness::{render, screen_text, Console};
use crate::support::{library_door, test_db};
use chrono::{Duration, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::failure::Failure;
use onecard::app::queue;
use onecard::app::session;
use onecard::app::state::{DbWhere, Screen, State, ThemeName};
use onecard::app::tabs::attendance::{self, Grouping};
use onecard::app::tabs::cards::{self, CardOp, StockOp};
use onecard::app::tabs::doors::{self, records};
use onecard::app::tabs::patrol::{self, lists::Range};
use onecard::app::tabs::{alarms, operators, settlement};
use onecard::app::{update, Effect, Msg};
use onecard::console;
use onecard::db::alarm;
use onecard::db::attendance::corrections::CorrectionKind;
use onecard::db::command::TerminalCommand;
use onecard::db::operator;
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::{allows, Action, Actor};
use onecard::domain::role::Role;
use onecard::domain::settlement::Period;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;

const PASSWORD: &str = "a long password";

fn state() -> State {
    State::new(
        Arc::new(Keymap::preset("default").unwrap()),
        Lang::EN,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    )
}

async fn add_operator(pool: &PgPool, login: &str, role: Role) -> operator::Operator {
    operator::create(
        pool,
        &Actor::shell("root"),
        operator::NewOperator {
            login,
            display_name: login,
            role,
            password: PASSWORD,
            must_change_password: false,
        },
    )
    .await
    .unwrap()
}

/// What `permission` says of an effect: one of the actions, or both.
#[derive(Clone, Copy)]
enum Rule {
    Any(&'static [Action]),
    Both(Action, Action),
    /// Any signed-in operator.
    Signed,
}

impl Rule {
    fn allows(self, role: Role) -> bool {
        match self {
            Rule::Any(actions) => actions.iter().any(|a| allows(role, *a)),
            Rule::Both(a, b) => allows(role, a) && allows(role, b),
            Rule::Signed => true,
        }
    }
}

/// Each tab's reads (reports, the audit log, statements, exports, queries) and writes, with the
/// actions `permission` knows them by.
fn cases(dir: &Path, tag: &str, terminal: i64) -> Vec<(&'static str, Effect, Rule)> {
    use Action as A;
    let path = |name: &str| dir.join(format!("{tag}-{name}.csv")).display().to_string();
    let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
    let now = Utc::now();
    let range = Range {
        from: now - Duration::hours(24),
        to: now,
        guard: String::new(),
        route: String::new(),
    };
    const MONEY: &[Action] = &[Action::MerchantSettle, Action::ReportExport];
    const MACHINES: &[Action] = &[Action::AttendanceEdit, Action::TerminalDiagnose];
    let set_time: &'static [Action] = Box::leak(Box::new([TerminalCommand::SetTime.action()]));
    vec![
        // Reads.
        (
            "alarms.list",
            Effect::Alarms(alarms::Effect::LoadAll { gen: 1 }),
            Rule::Signed,
        ),
        (
            "alarms.history",
            Effect::Alarms(alarms::Effect::LoadHistory {
                gen: 1,
                filter: Default::default(),
                query: Default::default(),
            }),
            Rule::Any(&[A::AlarmAcknowledge]),
        ),
        (
            "operators.list",
            Effect::Operators(operators::Effect::Load { gen: 1 }),
            Rule::Any(&[A::OperatorManage, A::AuditRead]),
        ),
        (
            "audit.log",
            Effect::Operators(operators::Effect::LoadAudit { gen: 1 }),
            Rule::Any(&[A::AuditRead]),
        ),
        (
            "audit.verify",
            Effect::Operators(operators::Effect::VerifyAudit),
            Rule::Any(&[A::AuditRead]),
        ),
        (
            "cards.report",
            Effect::Cards(cards::Effect::LoadReport {
                gen: 1,
                kind: onecard::report::ReportKind::Issued,
                filter: Default::default(),
            }),
            Rule::Any(&[A::ReportExport]),
        ),
        (
            "cards.report-export",
            Effect::Cards(cards::Effect::ExportReport {
                kind: onecard::report::ReportKind::Balances,
                filter: Default::default(),
                path: path("report"),
                overwrite: true,
            }),
            Rule::Any(&[A::ReportExport]),
        ),
        (
            "cards.statement",
            Effect::Cards(cards::Effect::LoadStatement {
                gen: 1,
                person_id: -1,
            }),
            Rule::Any(&[A::AccountTopUp]),
        ),
        (
            "cards.person-import",
            Effect::Cards(cards::Effect::Import {
                path: path("no-such-file"),
                dry_run: true,
                create_departments: false,
            }),
            Rule::Any(&[A::PersonImport]),
        ),
        (
            "doors.list",
            Effect::Doors(doors::Effect::Load { gen: 1 }),
            Rule::Signed,
        ),
        (
            "doors.records-export",
            Effect::Doors(doors::Effect::Records(records::Effect::Export {
                query: Default::default(),
                path: path("doors"),
                overwrite: true,
            })),
            Rule::Any(&[A::ReportExport]),
        ),
        (
            "doors.purge-preview",
            Effect::Doors(doors::Effect::Records(records::Effect::PurgePreview {
                gen: 1,
                cutoff: Some(now - Duration::days(400)),
            })),
            Rule::Any(&[A::RecordPurge]),
        ),
        (
            "patrol.export",
            Effect::Patrol(patrol::Effect::Export {
                range: range.clone(),
                path: path("patrol"),
                now,
            }),
            Rule::Any(&[A::ReportExport]),
        ),
        (
            "patrol.purge-preview",
            Effect::Patrol(patrol::Effect::PurgePreview {
                gen: 1,
                before: day,
            }),
            Rule::Any(&[A::RecordPurge]),
        ),
        (
            "attendance.results",
            Effect::Attendance(attendance::Effect::Results { gen: 1, day }),
            Rule::Any(&[A::AttendanceEdit]),
        ),
        (
            "attendance.totals",
            Effect::Attendance(attendance::Effect::Totals {
                gen: 1,
                day,
                grouping: Grouping::Person,
            }),
            Rule::Any(&[A::AttendanceEdit]),
        ),
        (
            "attendance.corrections",
            Effect::Attendance(attendance::Effect::Corrections { gen: 1, day }),
            Rule::Any(&[A::AttendanceEdit]),
        ),
        (
            "attendance.sync",
            Effect::Attendance(attendance::Effect::Sync { gen: 1 }),
            Rule::Any(&[A::AttendanceEdit]),
        ),
        (
            "attendance.machines",
            Effect::Attendance(attendance::Effect::Machines { gen: 1 }),
            Rule::Any(MACHINES),
        ),
        (
            "attendance.punches",
            Effect::Attendance(attendance::Effect::Punches { gen: 1 }),
            Rule::Any(MACHINES),
        ),
        (
            "attendance.export",
            Effect::Attendance(attendance::Effect::Export {
                from: day,
                to: day,
                path: path("attendance"),
                overwrite: true,
            }),
            Rule::Both(A::AttendanceEdit, A::ReportExport),
        ),
        (
            "settlement.today",
            Effect::Settlement(settlement::Effect::Today { gen: 1 }),
            Rule::Any(MONEY),
        ),
        (
            "settlement.board",
            Effect::Settlement(settlement::Effect::Board { gen: 1, back: 1 }),
            Rule::Any(MONEY),
        ),
        (
            "settlement.statements",
            Effect::Settlement(settlement::Effect::Statements { gen: 1 }),
            Rule::Any(MONEY),
        ),
        (
            "settlement.daily",
            Effect::Settlement(settlement::Effect::Daily { gen: 1 }),
            Rule::Any(MONEY),
        ),
        (
            "settlement.missing",
            Effect::Settlement(settlement::Effect::Missing { gen: 1 }),
            Rule::Any(MONEY),
        ),
        (
            "settlement.export",
            Effect::Settlement(settlement::Effect::Export {
                view: "today",
                header: vec!["merchant".into()],
                rows: vec![],
                path: path("settlement"),
                overwrite: true,
            }),
            Rule::Any(&[A::ReportExport]),
        ),
        // Writes.
        (
            "settlement.settle",
            Effect::Settlement(settlement::Effect::Settle {
                period: Period::day(day),
                merchant: Some("no such merchant".into()),
            }),
            Rule::Any(&[A::MerchantSettle]),
        ),
        (
            "operator.add",
            Effect::Operators(operators::Effect::Add {
                login: format!("new.{tag}"),
                display_name: "新人".into(),
                role: Role::DutyOperator,
            }),
            Rule::Any(&[A::OperatorManage]),
        ),
        (
            "operator.unlock",
            Effect::Operators(operators::Effect::Unlock {
                login: "nobody".into(),
            }),
            Rule::Any(&[A::OperatorManage]),
        ),
        (
            "alarm.acknowledge",
            Effect::Alarms(alarms::Effect::Acknowledge {
                id: -1,
                note: "checked".into(),
            }),
            Rule::Any(&[A::AlarmAcknowledge]),
        ),
        (
            "door.remote-open",
            Effect::Doors(doors::Effect::RemoteOpen {
                terminal_id: terminal,
                door: 1,
                about: "图书馆东门".into(),
            }),
            Rule::Any(&[A::DoorRemoteOpen]),
        ),
        (
            "card.report-lost",
            Effect::Cards(cards::Effect::Op(CardOp::ReportLost { card_id: -1 })),
            Rule::Any(&[A::CardLifecycle]),
        ),
        (
            "stock.receive",
            Effect::Cards(cards::Effect::Stock(StockOp::Receive {
                quantity: 1,
                note: String::new(),
            })),
            Rule::Any(&[A::CardIssue]),
        ),
        (
            "patrol.group",
            Effect::Patrol(patrol::Effect::SaveGroup {
                id: 0,
                name: format!("组 {tag}"),
            }),
            Rule::Any(&[A::PatrolEdit]),
        ),
        (
            "attendance.correct",
            Effect::Attendance(attendance::Effect::Correct {
                person: "nobody".into(),
                kind: CorrectionKind::Punch {
                    at: day.and_hms_opt(8, 0, 0).unwrap(),
                },
                reason: "forgot".into(),
            }),
            Rule::Any(&[A::AttendanceEdit]),
        ),
        (
            "terminal.set-time",
            Effect::Queue(queue::Effect::Enqueue {
                terminal_id: terminal,
                about: "图书馆东门".into(),
                command: TerminalCommand::SetTime,
            }),
            Rule::Any(set_time),
        ),
    ]
}

fn refused(msg: &Option<Msg>) -> bool {
    matches!(msg, Some(Msg::Failed(Failure::Denied(_))))
}

/// Every role × each tab's reads and writes, run through the effect runner with a real
/// session. The console's copy of the actor says director for all of them: the session row's
/// role is what counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_each_tabs_reads_and_writes() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, terminal) = library_door(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let login = format!("op{i}");
        let op = add_operator(pool, &login, role).await;
        let session = operator::open_session(pool, &login, "test").await.unwrap();
        let snapshot = Actor::operator(op.id, &login, Role::Director);
        for (name, effect, rule) in cases(dir.path(), &login, terminal) {
            let msg =
                console::execute(effect, pool, Lang::EN, Some((session.id, snapshot.clone())))
                    .await;
            let allowed = rule.allows(role);
            if refused(&msg) == allowed {
                wrong.push(format!("{role} × {name}: allowed {allowed}, got {msg:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Another operator gives a signed-in operator another role: their next action is authorised
/// against the new one, and their console takes it (which tabs show) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_changed_while_the_console_is_open() {
    let db = test_db().await;
    let pool = &db.pool;
    let admin = add_operator(pool, "admin", Role::SystemAdministrator).await;
    let mut c = Console::sign_in(pool, state(), "duty", "值班员", Role::DutyOperator).await;
    let session = |c: &Console| {
        let s = c.state.shell.session.as_ref().unwrap();
        Some((s.session_id, s.operator.actor()))
    };
    let audit = || Effect::Operators(operators::Effect::LoadAudit { gen: 1 });
    let before = console::execute(audit(), pool, Lang::EN, session(&c)).await;
    assert!(refused(&before), "{before:?}");

    operator::set_role(pool, &admin.actor(), "duty", Role::DataAdministrator)
        .await
        .unwrap();
    // The console still thinks duty operator; the action is authorised from the session row.
    assert_eq!(c.state.shell.role(), Some(Role::DutyOperator));
    let after = console::execute(audit(), pool, Lang::EN, session(&c)).await;
    assert!(
        matches!(
            after,
            Some(Msg::Operators(operators::Msg::AuditLoaded { .. }))
        ),
        "{after:?}"
    );
    // And the other way: what the old role could do, the new one may not.
    let ack = console::execute(
        Effect::Alarms(alarms::Effect::Acknowledge {
            id: -1,
            note: "x".into(),
        }),
        pool,
        Lang::EN,
        session(&c),
    )
    .await;
    assert!(refused(&ack), "{ack:?}");
    // The announcement reaches the console, which asks its session row again.
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if !ch.operator.is_empty()))
        .await;
    assert_eq!(c.state.shell.role(), Some(Role::DataAdministrator));
    assert_eq!(c.state.shell.screen, Screen::Main);
}

async fn session_ended(pool: &PgPool, login: &str) -> bool {
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM operator_session s JOIN operator o ON o.id = s.operator_id
         WHERE o.login = $1 AND s.ended_at IS NULL",
    )
    .bind(login)
    .fetch_one(pool)
    .await
    .unwrap();
    open == 0
}

/// `onecard operator kick` and disabling, while the operator's console runs in a real PTY: it
/// goes back to the sign-in screen and says why; the session row is ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicked_and_disabled_consoles_go_back_to_sign_in() {
    let db = test_db().await;
    let pool = &db.pool;
    let director = add_operator(pool, "zhou", Role::Director).await;
    add_operator(pool, "wang", Role::DutyOperator).await;
    add_operator(pool, "li", Role::CardDesk).await;

    let wang = PtyConsole::start(&db, &[]);
    wang.wait_for("Sign in with your operator account");
    wang.send(&format!("wang\t{PASSWORD}\r"));
    wang.wait_for("wang (wang) · Duty operator");
    let li = PtyConsole::start(&db, &[]);
    li.wait_for("Sign in with your operator account");
    li.send(&format!("li\t{PASSWORD}\r"));
    li.wait_for("li (li) · Card desk");

    // Kicked from the command line (the shell user), audited.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(["operator", "kick", "wang"])
        .env("DATABASE_URL", db.child_url())
        .env("ONECARD_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .env("ONECARD_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 open session(s) ended"));
    wang.wait_for("Your session was ended");
    wang.wait_for("Sign in with your operator account");
    assert!(session_ended(pool, "wang").await);
    let kicks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'operator.kick'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(kicks, 1);

    // Disabled by another operator: the same, with the reason.
    operator::set_disabled(pool, &director.actor(), "li", true)
        .await
        .unwrap();
    li.wait_for("Your account was disabled");
    li.wait_for("Sign in with your operator account");
    assert!(session_ended(pool, "li").await);
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

async fn type_password(c: &mut Console, text: &str) {
    for ch in text.chars() {
        c.key(ch).await;
    }
    c.enter().await;
}

async fn failed_attempts(pool: &PgPool, login: &str) -> i32 {
    sqlx::query_scalar("SELECT failed_attempts FROM operator WHERE login = $1")
        .bind(login)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The idle lock, driven by the clock's ticks (no waiting): locked after
/// `console.lock_after_min`, keys ignored, a new alarm shown with the bell, a wrong password
/// refused and counted, the right one unlocks; five wrong ones sign out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_lock() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, terminal) = library_door(pool).await;
    onecard::db::settings::set(
        pool,
        &Actor::shell("root"),
        session::LOCK_AFTER_KEY,
        serde_json::json!(10),
    )
    .await
    .unwrap();
    let mut c = Console::sign_in(pool, state(), "duty", "值班员", Role::DutyOperator).await;
    assert_eq!(c.state.shell.lock_after_min, 10);
    let t0 = c.state.shell.now;
    c.send(Msg::Tick(t0 + Duration::minutes(9))).await;
    assert!(c.state.shell.lock.is_none());
    // A key is input: the ten minutes start again.
    c.send(key('j')).await;
    c.send(Msg::Tick(t0 + Duration::minutes(18))).await;
    assert!(c.state.shell.lock.is_none());
    c.send(Msg::Tick(t0 + Duration::minutes(19))).await;
    assert!(
        c.state.shell.lock.is_some(),
        "locked after ten idle minutes"
    );
    // The screen says so, and offers only the lock's key, not the tab's.
    let text = screen_text(&render(&mut c.state, 120, 40));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[lines.len() - 2].trim(), "enter: unlock", "{text}");

    // Keys do nothing: no tab, no help, no quitting.
    let tab = c.state.shell.tab;
    for k in ['2', '?', 'q', ':'] {
        assert!(update(&mut c.state, key(k)).is_empty());
    }
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(update(&mut c.state, ctrl_c).is_empty());
    assert_eq!(c.state.shell.tab, tab);
    assert!(c.state.shell.overlay.is_none());
    // Erase what those keys typed into the password.
    for _ in 0..4 {
        c.send(Msg::Key(KeyEvent::new(
            KeyCode::Backspace,
            KeyModifiers::NONE,
        )))
        .await;
    }

    // A new alarm: shown on the lock screen, with the bell.
    let bells = c.bells;
    let id = alarm::raise_fault(
        pool,
        &crate::support::new_alarm(AlarmKind::ForcedOpen, Some(terminal), Some(1)),
    )
    .await
    .unwrap()
    .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.alarm.contains(&id)))
        .await;
    c.frame().await;
    assert!(c.bells > bells, "the bell rings while locked");
    assert!(c.state.alarms.list.rows.iter().any(|a| a.id == id));
    let mut screen = c.state.clone();
    let text = screen_text(&render(&mut screen, 120, 40));
    assert!(text.contains("Locked"), "{text}");
    assert!(text.contains("P1 1"), "the header's counts: {text}");
    assert!(text.contains("forced open"), "the alarm list: {text}");

    // A wrong password: refused, counted, still locked.
    type_password(&mut c, "not the password").await;
    assert!(c.state.shell.lock.is_some());
    assert_eq!(failed_attempts(pool, "duty").await, 1);
    let lock = c.state.shell.lock.as_ref().unwrap();
    assert_eq!(lock.form.error.as_deref(), Some("Wrong login or password."));
    // The right one: unlocked, the count cleared.
    type_password(&mut c, PASSWORD).await;
    assert!(c.state.shell.lock.is_none());
    assert_eq!(failed_attempts(pool, "duty").await, 0);

    // Locked again; five wrong passwords lock the account and end the session.
    let later = c.state.shell.now + Duration::minutes(10);
    c.send(Msg::Tick(later)).await;
    assert!(c.state.shell.lock.is_some());
    for _ in 0..operator::LOCKOUT_ATTEMPTS {
        type_password(&mut c, "still not it").await;
    }
    assert!(c.state.shell.lock.is_none());
    assert!(matches!(c.state.shell.screen, Screen::SignIn(_)));
    assert!(c.state.shell.session.is_none());
    assert!(session_ended(pool, "duty").await);
}

/// The lock in the pure state: after the default 15 minutes, or never when the setting is 0.
#[test]
fn the_lock_follows_the_setting() {
    for (minutes, locks) in [(15, true), (0, false)] {
        let mut s = state();
        let op = operator::Operator {
            id: 1,
            login: "duty".into(),
            display_name: "值班员".into(),
            role: Role::DutyOperator,
            must_change_password: false,
            failed_attempts: 0,
            locked_until: None,
            disabled: false,
            last_login_at: None,
        };
        update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
        update(
            &mut s,
            Msg::Session(session::Msg::LoggedIn(operator::Session {
                id: 1,
                operator: op.clone(),
            })),
        );
        update(
            &mut s,
            Msg::Session(session::Msg::Checked {
                operator: op,
                lock_after_min: minutes,
            }),
        );
        let now = s.shell.now;
        update(&mut s, Msg::Tick(now + Duration::minutes(14)));
        assert!(s.shell.lock.is_none());
        update(&mut s, Msg::Tick(now + Duration::days(3)));
        assert_eq!(s.shell.lock.is_some(), locks, "{minutes}");
    }
}

/// A kick (the operator's row, then the sessions) racing the consoles' actions (each asks the
/// session row): both take the rows in one order, so none is ever chosen as a deadlock victim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_racing_the_consoles_actions_never_deadlocks() {
    let db = test_db().await;
    let pool = &db.pool;
    add_operator(pool, "duty", Role::DutyOperator).await;
    for round in 0..40 {
        let s = operator::open_session(pool, "duty", "race").await.unwrap();
        let actions: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut tx = pool.begin().await.unwrap();
                    let asked = operator::session_actor(&mut tx, s.id).await;
                    tokio::task::yield_now().await;
                    let _ = tx.commit().await;
                    asked.err().map(|e| format!("{e:?}"))
                })
            })
            .collect();
        let kicked = operator::kick(pool, &Actor::shell("root"), "duty").await;
        assert!(kicked.is_ok(), "round {round}: {kicked:?}");
        for a in actions {
            if let Some(e) = a.await.unwrap() {
                // Refused because the kick came first: that is the point. A deadlock is not.
                assert!(!e.contains("40P01"), "round {round}: {e}");
            }
        }
    }
}

/// A kick committed after the console asked who acts, but before its change: the change's own
/// transaction asks again at its audit row, and nothing of it stays.
#[tokio::test]
async fn a_change_after_a_kick_is_refused_inside_its_own_transaction() {
    let db = test_db().await;
    let pool = &db.pool;
    add_operator(pool, "zhou", Role::Director).await;
    let s = operator::open_session(pool, "zhou", "race").await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let actor = operator::session_actor(&mut conn, s.id).await.unwrap();
    drop(conn);
    assert_eq!(actor.session, Some(s.id));
    operator::kick(pool, &Actor::shell("root"), "zhou")
        .await
        .unwrap();
    let refused =
        onecard::db::settings::set(pool, &actor, session::LOCK_AFTER_KEY, serde_json::json!(5))
            .await;
    assert!(format!("{refused:?}").contains("OC001"), "{refused:?}");
    assert_eq!(
        onecard::db::settings::get(pool, session::LOCK_AFTER_KEY)
            .await
            .unwrap(),
        None
    );
}
