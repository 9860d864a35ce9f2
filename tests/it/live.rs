//! The console's live path against a real PostgreSQL: `db::listen` hears what another process
//! commits, `update` collects it, and once per frame the console's own effects re-read it.

use crate::harness::Console;
use crate::support::test_db;
use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::{alarms, terminals};
use onecard::app::{Effect, Msg};
use onecard::db::alarm::Alarm;
use onecard::db::alarm::{self, NewAlarm};
use onecard::db::command;
use onecard::db::listen;
use onecard::db::notify::{Change, CHANNEL};
use onecard::db::terminal;
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

fn forced_open(terminal: i64) -> NewAlarm {
    NewAlarm {
        kind: AlarmKind::ForcedOpen,
        terminal_id: Some(terminal),
        door: Some(2),
        card: None,
        detail: "door 2 opened without a swipe".into(),
        late: false,
    }
}

impl Console {
    async fn start(pool: &PgPool, role: Role) -> Console {
        let state = State::new(
            Arc::new(Keymap::preset("default").unwrap()),
            Lang::EN,
            ThemeName::Default,
            DbWhere::Embedded,
            Utc::now(),
        );
        Console::sign_in(pool, state, "duty", "值班员", role).await
    }

    fn selected_alarm(&self) -> Option<&Alarm> {
        self.state.alarms.selected(self.state.shell.lang)
    }

    fn selected_terminal(&self) -> Option<&terminal::Terminal> {
        self.state.terminals.selected(self.state.shell.lang)
    }

    /// What the next frame asks for when a notification named terminal `tid`.
    fn terminal_reload(&self, tid: i64) -> Vec<Effect> {
        vec![Effect::Terminals(terminals::Effect::LoadById {
            gen: self.state.shell.gen + 1,
            ids: vec![tid],
        })]
    }

    fn message(&self) -> String {
        self.state
            .shell
            .message
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }
}

fn changed_alarm(id: i64) -> impl Fn(&Msg) -> bool {
    move |m| matches!(m, Msg::Changed(c) if c.alarm.contains(&id))
}

#[tokio::test]
async fn an_alarm_raised_elsewhere_rings_shows_and_is_acknowledged_with_a_note() {
    let db = test_db().await;
    let (_, tid) = crate::support::library_door(&db.pool).await;
    // Open before the console starts: shown, counted, never rung.
    let old = alarm::raise_fault(&db.pool, &forced_open(tid))
        .await
        .unwrap()
        .unwrap();
    let mut c = Console::start(&db.pool, Role::DutyOperator).await;
    assert_eq!(c.state.alarms.list.rows.len(), 1);
    assert_eq!(c.state.alarms.counts.of(1), 1);
    assert_eq!(c.bells, 0);

    // Another process (a poller) raises one: heard, collected, re-read at the next frame.
    let id = alarm::raise_fault(&db.pool, &forced_open(tid))
        .await
        .unwrap()
        .unwrap();
    c.pump_until(changed_alarm(id)).await;
    assert_eq!(
        c.state.alarms.list.rows.len(),
        1,
        "nothing read before the frame"
    );
    let gen = c.state.shell.gen + 1;
    assert_eq!(
        c.frame().await,
        vec![Effect::Alarms(alarms::Effect::LoadById {
            gen,
            ids: vec![id]
        })]
    );
    assert_eq!(c.bells, 1, "a new P1 rings");
    assert_eq!(c.state.alarms.counts.of(1), 2);
    let a = c
        .state
        .alarms
        .list
        .rows
        .iter()
        .find(|a| a.id == id)
        .unwrap();
    assert_eq!(a.terminal_name.as_deref(), Some("图书馆东门"));

    // A late one is shown but does not ring.
    let late = alarm::raise_fault(
        &db.pool,
        &NewAlarm {
            late: true,
            ..forced_open(tid)
        },
    )
    .await
    .unwrap()
    .unwrap();
    c.pump_until(changed_alarm(late)).await;
    c.frame().await;
    assert_eq!((c.state.alarms.list.rows.len(), c.bells), (3, 1));

    // The operator opens the Alarms view, takes the newest and acknowledges it with preset 2.
    c.key('a').await;
    assert_eq!(
        c.state.alarms.selected,
        Some(id),
        "the newest live P1 first"
    );
    let last = c.state.alarms.list.rows.last().map(|a| a.id);
    assert_eq!(last, Some(late), "the late one apart, after the live ones");
    c.key('t').await;
    assert_eq!(c.message(), format!("You are handling alarm #{id}."));
    c.pump_until(changed_alarm(id)).await;
    c.frame().await;
    let a = c.selected_alarm().unwrap();
    assert_eq!(a.handling_by.as_deref(), Some("duty"));
    c.key('A').await;
    c.key('2').await;
    c.enter().await;
    assert_eq!(c.message(), format!("Alarm #{id} acknowledged: guard sent"));
    c.pump_until(changed_alarm(id)).await;
    c.frame().await;
    let a = c
        .state
        .alarms
        .list
        .rows
        .iter()
        .find(|a| a.id == id)
        .unwrap();
    assert_eq!(
        (
            a.state.as_str(),
            a.note.as_deref(),
            a.acknowledged_by.as_deref()
        ),
        ("acknowledged", Some("guard sent"), Some("duty"))
    );
    assert_eq!(c.state.alarms.counts.of(1), 2, "two still unacknowledged");
    assert_eq!(c.state.alarms.selected, Some(id), "the cursor stayed on it");
    // The database checked too: acknowledging twice is refused in domain words.
    c.run(vec![Effect::Alarms(alarms::Effect::Acknowledge {
        id,
        note: "again".into(),
    })])
    .await;
    assert_eq!(
        c.message(),
        format!("Alarm #{id} is acknowledged; that cannot be done now.")
    );
    // Cleared: it leaves the list.
    c.run(vec![Effect::Alarms(alarms::Effect::Clear {
        id,
        force: false,
        reason: None,
    })])
    .await;
    c.pump_until(changed_alarm(id)).await;
    c.frame().await;
    assert!(c.state.alarms.list.rows.iter().all(|a| a.id != id));
    assert!(c.state.alarms.list.rows.iter().any(|a| a.id == old));
}

#[tokio::test]
async fn a_notification_storm_becomes_one_query_per_kind() {
    let db = test_db().await;
    let (_, tid) = crate::support::library_door(&db.pool).await;
    let mut c = Console::start(&db.pool, Role::Director).await;
    c.key('6').await;
    assert_eq!(c.state.shell.tab, TabId::Terminals);
    assert_eq!(c.state.terminals.list.rows.len(), 1);
    let first = alarm::raise_fault(&db.pool, &forced_open(tid))
        .await
        .unwrap()
        .unwrap();
    // 1,000 notifications, each its own commit, as a busy line's poller would send.
    let payload = serde_json::to_string(&Change {
        alarm: vec![first],
        terminal: vec![tid],
        ..Change::default()
    })
    .unwrap();
    for _ in 0..1000 {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let last = alarm::raise_fault(
        &db.pool,
        &NewAlarm {
            kind: AlarmKind::Tamper,
            ..forced_open(tid)
        },
    )
    .await
    .unwrap()
    .unwrap();
    // Everything heard is folded into the state; nothing is read per notification.
    c.pump_until(changed_alarm(last)).await;
    let gen = c.state.shell.gen;
    assert_eq!(
        c.frame().await,
        vec![
            Effect::Alarms(alarms::Effect::LoadById {
                gen: gen + 1,
                ids: vec![first, last]
            }),
            Effect::Terminals(terminals::Effect::LoadById {
                gen: gen + 2,
                ids: vec![tid]
            }),
        ]
    );
    assert!(c.frame().await.is_empty());
    assert_eq!(c.state.alarms.list.rows.len(), 2);
    assert_eq!(c.bells, 1, "two new P1 alarms in one frame ring once");
}

#[tokio::test]
async fn terminal_commands_and_scan_changes_come_back_by_notification() {
    let db = test_db().await;
    let (line, tid) = crate::support::library_door(&db.pool).await;
    let mut c = Console::start(&db.pool, Role::Director).await;
    c.key('6').await;
    assert_eq!(c.state.terminals.selected, Some(tid));

    // Excluded from the scan: the change is read back through the listener.
    c.key('s').await;
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.terminal.contains(&tid)))
        .await;
    let reload = c.terminal_reload(tid);
    assert_eq!(c.frame().await, reload);
    assert!(!c.selected_terminal().unwrap().in_scan);

    // An online test: queued, then a poller claims and answers it.
    c.key('o').await;
    assert!(
        c.message().contains("Online test queued for 图书馆东门"),
        "{}",
        c.message()
    );
    let cmd = command::claim(&db.pool, line, "test-poller")
        .await
        .unwrap()
        .expect("queued");
    assert_eq!(cmd.terminal_id, tid);
    let online = Ok(command::CommandOutcome::Online {
        firmware: "6.62".into(),
        model: None,
        serial: None,
        address: None,
        records_held: None,
        rtt_ms: 11,
    });
    command::finish(&db.pool, cmd.id, &online).await.unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.command.contains(&cmd.id)))
        .await;
    c.frame().await;
    assert_eq!(
        c.message(),
        "Online test on 图书馆东门: done — online: firmware 6.62, round trip 11 ms"
    );

    // Clearing records asks first, naming the terminal; the queue row carries the command.
    c.key('X').await;
    c.key('y').await;
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT command->>'op' FROM terminal_command WHERE terminal_id = $1 ORDER BY id",
    )
    .bind(tid)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(queued, ["online_test", "clear_records"]);
}

#[tokio::test]
async fn the_trace_hears_its_line_and_a_lost_listener_reloads_everything() {
    let db = test_db().await;
    let (line, _) = crate::support::library_door(&db.pool).await;
    let mut c = Console::start(&db.pool, Role::Technician).await;
    c.key('6').await;
    c.key('v').await;
    let until: bool = sqlx::query_scalar(
        "SELECT trace_until > now() + interval '50 seconds' FROM line WHERE id = $1",
    )
    .bind(line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(until, "the console asked the line's poller for frames");
    // The poller publishes a frame (the trace listener may still be connecting: retry).
    let mut heard = false;
    for _ in 0..50 {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(listen::TRACE_CHANNEL)
            .bind(format!(r#"{{"line":{line},"dir":"rx","hex":"7e0102"}}"#))
            .execute(&db.pool)
            .await
            .unwrap();
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), c.rx.recv()).await {
            heard |= matches!(msg, Msg::Terminals(terminals::Msg::Trace(_)));
            c.send(msg).await;
            if heard {
                break;
            }
        }
    }
    assert!(heard, "a trace frame arrived");
    let trace = c.state.terminals.trace.as_ref().unwrap();
    assert_eq!(trace.frames.back().unwrap().hex, "7e0102");

    // The listener's connection is killed: when it is back, the console reloads everything.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%onecard_change%'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    c.pump_until(|m| matches!(m, Msg::Resync)).await;
    let gen = c.state.shell.gen;
    assert_eq!(
        c.frame().await,
        vec![
            Effect::Alarms(alarms::Effect::LoadAll { gen: gen + 1 }),
            Effect::Terminals(terminals::Effect::Load { gen: gen + 2 }),
            Effect::Session(onecard::app::session::Effect::Check),
        ]
    );
    // And it hears again.
    let tid = c.state.terminals.selected.unwrap();
    let id = alarm::raise_fault(&db.pool, &forced_open(tid))
        .await
        .unwrap()
        .unwrap();
    c.pump_until(changed_alarm(id)).await;
}

#[tokio::test]
async fn a_terminal_is_edited_from_the_console_audited_and_announced() {
    use onecard::db::terminal::{Inventory, InventoryError};
    let db = test_db().await;
    let (_, tid) = crate::support::library_door(&db.pool).await;
    let mut c = Console::start(&db.pool, Role::Technician).await;
    c.key('6').await;
    assert_eq!(c.state.terminals.selected, Some(tid));

    // The technician renames it and gives the installation date; enter saves.
    c.key('e').await;
    for _ in 0.."图书馆东门".chars().count() {
        c.send(Msg::Key(KeyEvent::new(
            KeyCode::Backspace,
            KeyModifiers::NONE,
        )))
        .await;
    }
    for ch in "图书馆东门 主入口".chars() {
        c.key(ch).await;
    }
    for _ in 0..2 {
        c.send(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)))
            .await;
    }
    for ch in "2025-09-01".chars() {
        c.key(ch).await;
    }
    c.enter().await;
    assert_eq!(c.message(), "Terminal “图书馆东门 主入口” saved.");
    assert!(c.state.terminals.edit.is_none(), "the form closed");
    // The row comes back through the notification, like every other change.
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.terminal.contains(&tid)))
        .await;
    let reload = c.terminal_reload(tid);
    assert_eq!(c.frame().await, reload);
    let t = c.selected_terminal().expect("still selected");
    assert_eq!(t.id, tid);
    assert_eq!(t.name, "图书馆东门 主入口");
    assert_eq!(t.installed_at, chrono::NaiveDate::from_ymd_opt(2025, 9, 1));
    assert_eq!(
        (t.location.as_str(), t.installed_by.as_str()),
        ("Library east", "David")
    );

    // One audit row, by the technician, with the fields before and after.
    let rows: Vec<(String, String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT actor, object_id, before, after FROM audit_log WHERE action = 'terminal.edit'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    let (actor, object, before, after) = &rows[0];
    assert_eq!((actor.as_str(), object.clone()), ("duty", tid.to_string()));
    assert_eq!(before["name"], "图书馆东门");
    assert_eq!(before["installed_at"], serde_json::Value::Null);
    assert_eq!(after["name"], "图书馆东门 主入口");
    assert_eq!(after["installed_at"], "2025-09-01");
    assert_eq!(after["location"], "Library east");

    // Straight to the database: a card-desk operator is refused, and nothing changes.
    let fields = |name: &str, date: Option<chrono::NaiveDate>| Inventory {
        name: name.into(),
        location: "Library east".into(),
        installed_at: date,
        installed_by: "David".into(),
    };
    let desk = Actor::operator(99, "desk", Role::CardDesk);
    let refused = terminal::update_inventory(&db.pool, &desk, tid, &fields("x", None)).await;
    match refused {
        Err(InventoryError::Denied(d)) => assert_eq!(d.role, Role::CardDesk),
        other => panic!("expected a denial, got {other:?}"),
    }
    let tech = Actor::operator(98, "tech", Role::Technician);
    // Bad input in domain words, checked by the database function too.
    let err = terminal::update_inventory(&db.pool, &tech, tid, &fields("  ", None))
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::NameEmpty), "{err:?}");
    let tomorrow_everywhere = (Utc::now() + chrono::Duration::days(2)).date_naive();
    let err = terminal::update_inventory(
        &db.pool,
        &tech,
        tid,
        &fields("图书馆东门", Some(tomorrow_everywhere)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, InventoryError::BadDate(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("“{tomorrow_everywhere}” is not an installation date: write YYYY-MM-DD, not later than today, or leave it empty")
    );
    let err = terminal::update_inventory(&db.pool, &tech, tid + 1000, &fields("x", None))
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::NotFound(_)), "{err:?}");
    // Saving what is stored writes nothing.
    let same = Inventory::of(c.selected_terminal().unwrap());
    terminal::update_inventory(&db.pool, &tech, tid, &same)
        .await
        .unwrap();
    let (name, audits): (String, i64) = sqlx::query_as(
        "SELECT (SELECT name FROM terminal WHERE id = $1),
                (SELECT count(*) FROM audit_log WHERE action = 'terminal.edit')",
    )
    .bind(tid)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((name.as_str(), audits), ("图书馆东门 主入口", 1));

    // A refusal from the database stays in the console's form: the terminal is gone.
    c.key('e').await;
    c.run(vec![Effect::Terminals(terminals::Effect::Edit {
        terminal_id: tid + 1000,
        fields: fields("x", None),
    })])
    .await;
    let Some(edit) = &c.state.terminals.edit else {
        panic!("the form stays open")
    };
    let form = &edit.form;
    assert_eq!(
        form.error.as_deref(),
        None,
        "only a save this form sent shows in it"
    );
    assert_eq!(
        c.message(),
        format!("Terminal #{} no longer exists.", tid + 1000)
    );
}
