//! The wallboard: what signing in as the wallboard role loads, its screens coming round after
//! the configured seconds (driven by the shell's Tick, never the wall clock), a fresh P1 alarm
//! taking the alarms screen at once (in `update`, and through the real listener), a snapshot at
//! 160x48, every key of the keymap fed with nothing written, and the role refused every write.

use crate::harness::{render, screen_text, Console};
use crate::support::test_db;
use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::msg::DbState;
use onecard::app::session;
use onecard::app::state::{DbWhere, Overlay, State, ThemeName};
use onecard::app::tabs::{alarms, doors, patrol, terminals};
use onecard::app::wallboard::{self, Page, Wallboard, HOLD_SECS};
use onecard::app::{update, Effect, Msg};
use onecard::db::alarm::{self as db_alarm, Alarm};
use onecard::db::notify::Change;
use onecard::db::operator::{Operator, Session};
use onecard::db::terminal::{Line, Terminal as Term};
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::{allows, Action};
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::{Keymap, Section};
use sqlx::PgPool;
use std::sync::Arc;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
}

fn wall_operator(role: Role) -> Operator {
    Operator {
        id: 1,
        login: "wall".into(),
        display_name: "值班大屏".into(),
        role,
        must_change_password: false,
        failed_attempts: 0,
        locked_until: None,
        disabled: false,
        last_login_at: None,
    }
}

/// A console signed in as `role` at 03:04:05 UTC (11:04:05 local), with what signing in asked
/// for.
fn signed_in(lang: Lang, role: Role) -> (State, Vec<Effect>) {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let mut s = State::new(
        keymap,
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        at(3, 4, 5),
    );
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s.shell.db = DbState::Ready;
    s.wallboard = Wallboard::with_secs(10);
    update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
    let fx = update(
        &mut s,
        Msg::Session(session::Msg::LoggedIn(Session {
            id: 1,
            operator: wall_operator(role),
        })),
    );
    (s, fx)
}

/// A console about to sign in against a real database, its clock the real one.
fn live(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let mut s = State::new(
        keymap,
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    );
    s.wallboard = Wallboard::with_secs(10);
    s
}

fn board(lang: Lang) -> State {
    signed_in(lang, Role::Wallboard).0
}

fn alarm(id: i64, kind: AlarmKind, terminal: &str, raised: DateTime<Utc>) -> Alarm {
    Alarm {
        id,
        kind: kind.name().into(),
        priority: kind.priority(),
        terminal_id: Some(1),
        terminal_name: Some(terminal.into()),
        door: (kind == AlarmKind::ForcedOpen || kind == AlarmKind::HeldOpen).then_some(2),
        door_name: None,
        door_location: None,
        card: None,
        detail: String::new(),
        raised_at: raised,
        late: false,
        state: "active".into(),
        handling_by: None,
        acknowledged_by: None,
        note: None,
        terminal_location: None,
        cleared_at: None,
        cleared_by: None,
        clear_reason: None,
    }
}

fn counts(alarms: &[Alarm]) -> Vec<(i16, i64)> {
    (1..=3)
        .map(|p| {
            let n = alarms
                .iter()
                .filter(|a| a.state == "active" && a.priority == p)
                .count();
            (p, n as i64)
        })
        .collect()
}

/// Every open alarm, as a full reload asked for now answers.
fn alarms_loaded(s: &mut State, alarms: Vec<Alarm>) -> Vec<Effect> {
    let gen = s.shell.next_gen();
    let counts = counts(&alarms);
    update(
        s,
        Msg::Alarms(alarms::Msg::Loaded {
            gen,
            total: alarms.len() as i64,
            alarms,
            counts,
        }),
    )
}

/// The alarms a notification named, as they are now.
fn alarms_changed(s: &mut State, alarms: Vec<Alarm>) -> Vec<Effect> {
    let gen = s.shell.next_gen();
    let ids = alarms.iter().map(|a| a.id).collect();
    let counts = counts(&alarms);
    update(
        s,
        Msg::Alarms(alarms::Msg::Changed {
            gen,
            ids,
            alarms,
            counts,
        }),
    )
}

fn quiet_alarms() -> Vec<Alarm> {
    let mut held = alarm(11, AlarmKind::HeldOpen, "学生宿舍三号楼北门", at(2, 50, 0));
    held.handling_by = Some("zhou".into());
    let mut drift = alarm(12, AlarmKind::ClockDrift, "一食堂收费机 07", at(1, 10, 0));
    drift.detail = "terminal clock 94 s ahead".into();
    // A P1 of an hour ago holds nothing: it is on the list, first, like any P1.
    let old = alarm(13, AlarmKind::Tamper, "图书馆东门", at(2, 0, 0));
    vec![held, drift, old]
}

fn tick(s: &mut State, t: DateTime<Utc>) -> Vec<Effect> {
    update(s, Msg::Tick(t))
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn signing_in_as_the_wallboard_reads_every_screen_and_no_tab() {
    let (s, fx) = signed_in(Lang::EN, Role::Wallboard);
    assert!(wallboard::on(&s.shell));
    assert_eq!(s.wallboard.page, Page::Alarms);
    assert!(fx.contains(&Effect::Alarms(alarms::Effect::LoadAll { gen: 1 })));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Doors(doors::Effect::Load { .. }))));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Patrol(patrol::Effect::LoadMaps { .. }))));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Terminals(terminals::Effect::Load { .. }))));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Cards(_))),
        "the card desk is not the wallboard's: {fx:?}"
    );
    // Any other role gets the ordinary console.
    let (duty, _) = signed_in(Lang::EN, Role::DutyOperator);
    assert!(!wallboard::on(&duty.shell));
}

#[test]
fn screens_come_round_after_the_configured_seconds() {
    let mut s = board(Lang::EN);
    alarms_loaded(&mut s, quiet_alarms());
    let t0 = at(3, 4, 5);
    // The first tick starts the clock.
    tick(&mut s, t0);
    assert_eq!(s.wallboard.page, Page::Alarms);
    tick(&mut s, t0 + Duration::seconds(9));
    assert_eq!(s.wallboard.page, Page::Alarms);
    assert_eq!(s.wallboard.left(s.shell.now), 1);
    let mut seen = Vec::new();
    for i in 1..=5 {
        tick(&mut s, t0 + Duration::seconds(10 * i));
        seen.push(s.wallboard.page);
    }
    assert_eq!(
        seen,
        vec![
            Page::Doors,
            Page::Patrol,
            Page::Terminals,
            Page::Alarms,
            Page::Doors
        ]
    );
    // The arrows change the screen and start its time again; the keymap's next and previous
    // tab do the same.
    let t = t0 + Duration::seconds(53);
    tick(&mut s, t);
    update(&mut s, key(KeyCode::Right));
    assert_eq!(s.wallboard.page, Page::Patrol);
    tick(&mut s, t + Duration::seconds(9));
    assert_eq!(s.wallboard.page, Page::Patrol);
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Left));
    assert_eq!(s.wallboard.page, Page::Alarms);
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.wallboard.page, Page::Doors);
    update(&mut s, key(KeyCode::BackTab));
    assert_eq!(s.wallboard.page, Page::Alarms);
    // The seconds are a setting: another console cycles at its own pace.
    let mut slow = board(Lang::EN);
    slow.wallboard = Wallboard::with_secs(30);
    tick(&mut slow, t0);
    tick(&mut slow, t0 + Duration::seconds(29));
    assert_eq!(slow.wallboard.page, Page::Alarms);
    tick(&mut slow, t0 + Duration::seconds(30));
    assert_eq!(slow.wallboard.page, Page::Doors);
}

#[test]
fn a_new_p1_alarm_takes_the_alarms_screen_at_once_and_holds_it() {
    let mut s = board(Lang::EN);
    alarms_loaded(&mut s, quiet_alarms());
    let t0 = at(3, 4, 5);
    tick(&mut s, t0);
    tick(&mut s, t0 + Duration::seconds(10));
    tick(&mut s, t0 + Duration::seconds(20));
    assert_eq!(s.wallboard.page, Page::Patrol);
    assert_eq!(s.wallboard.held, None, "a P1 of an hour ago holds nothing");
    // A P2 does not take the screen.
    let now = t0 + Duration::seconds(21);
    tick(&mut s, now);
    alarms_changed(
        &mut s,
        vec![alarm(20, AlarmKind::TerminalOffline, "后勤考勤机", now)],
    );
    assert_eq!(s.wallboard.page, Page::Patrol);
    // A P1 does, the moment its row arrives (no tick), and it is the one selected.
    let forced = alarm(21, AlarmKind::ForcedOpen, "图书馆东门", now);
    let fx = alarms_changed(&mut s, vec![forced.clone()]);
    assert_eq!(s.wallboard.page, Page::Alarms);
    assert_eq!(s.wallboard.held, Some(21));
    assert_eq!(s.alarms.selected, Some(21));
    assert!(fx.contains(&Effect::Bell), "a new P1 rings: {fx:?}");
    // Held: the time runs out and the arrows are pressed, and it stays.
    for i in 1..=30 {
        tick(&mut s, now + Duration::seconds(i));
    }
    update(&mut s, key(KeyCode::Right));
    assert_eq!(s.wallboard.page, Page::Alarms);
    // Acknowledged, it holds no more: the alarms screen has its full time, then the next.
    let mut acked = forced.clone();
    acked.state = "acknowledged".into();
    let t = now + Duration::seconds(31);
    tick(&mut s, t);
    alarms_changed(&mut s, vec![acked]);
    assert_eq!(s.wallboard.held, None);
    tick(&mut s, t + Duration::seconds(9));
    assert_eq!(s.wallboard.page, Page::Alarms);
    tick(&mut s, t + Duration::seconds(10));
    assert_eq!(s.wallboard.page, Page::Doors);
    // Unacknowledged, a P1 holds until it is HOLD_SECS old.
    let t = t + Duration::seconds(11);
    tick(&mut s, t);
    alarms_changed(&mut s, vec![alarm(22, AlarmKind::Duress, "财务处", t)]);
    assert_eq!(
        (s.wallboard.page, s.wallboard.held),
        (Page::Alarms, Some(22))
    );
    tick(&mut s, t + Duration::seconds(HOLD_SECS - 1));
    assert_eq!(s.wallboard.held, Some(22));
    tick(&mut s, t + Duration::seconds(HOLD_SECS));
    assert_eq!(s.wallboard.held, None);
    tick(&mut s, t + Duration::seconds(HOLD_SECS + 10));
    assert_eq!(s.wallboard.page, Page::Doors);
}

fn site() -> (Vec<Line>, Vec<Term>) {
    let line = |id: i64, name: &str, protocol: &str, transport: &str, address: &str| Line {
        id,
        name: name.into(),
        protocol: protocol.into(),
        transport: transport.into(),
        address: address.into(),
        baud: (transport == "serial").then_some(9600),
        parity: "none".into(),
        stop_bits: 1,
        poll_interval_ms: 1000,
        enabled: true,
    };
    let term = |id: i64, line_id: i64, kind: &str, address: i64, name: &str, status: &str| Term {
        id,
        line_id,
        kind: kind.into(),
        address,
        name: name.into(),
        location: String::new(),
        installed_at: chrono::NaiveDate::from_ymd_opt(2025, 9, 1),
        installed_by: "David".into(),
        in_scan: true,
        status: status.into(),
        firmware: "6.62".into(),
        bookmark: 0,
        record_base: 0,
        hardware_serial: String::new(),
        last_contact: Some(at(3, 4, 1)),
        rtt_ms: (status == "online").then_some(12.5),
        retries: 3,
        crc_errors: if status == "offline" { 17 } else { 0 },
        timeouts: if status == "offline" { 42 } else { 1 },
        clock_drift_s: Some(-2),
        records_waiting: 0,
    };
    (
        vec![
            line(1, "主门禁", "uhppote", "udp", "10.0.3.20:60000"),
            line(2, "食堂 RS-485", "native", "serial", "/dev/ttyUSB0"),
        ],
        vec![
            term(1, 1, "door_controller", 405419896, "图书馆东门", "online"),
            term(
                2,
                1,
                "door_controller",
                405419897,
                "学生宿舍三号楼北门",
                "offline",
            ),
            term(3, 2, "pos", 7, "一食堂收费机 07", "online"),
        ],
    )
}

#[test]
fn snapshot_wallboard_zh_160x48() {
    let mut s = board(Lang::ZH_CN);
    let now = at(3, 4, 5);
    tick(&mut s, now);
    let mut alarms = quiet_alarms();
    alarms.push(alarm(21, AlarmKind::ForcedOpen, "图书馆东门", at(3, 3, 50)));
    alarms_loaded(&mut s, alarms);
    assert_eq!(s.wallboard.held, Some(21));
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("值班大屏"), "{text}");
    assert!(text.contains("保持本屏"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn snapshot_wallboard_terminals_en_160x48() {
    let mut s = board(Lang::EN);
    let t0 = at(3, 4, 5);
    tick(&mut s, t0);
    alarms_loaded(&mut s, quiet_alarms());
    let gen = s.shell.next_gen();
    let (lines, terminals) = site();
    update(
        &mut s,
        Msg::Terminals(terminals::Msg::Loaded {
            gen,
            lines,
            terminals,
        }),
    );
    for i in 1..=3 {
        tick(&mut s, t0 + Duration::seconds(10 * i));
    }
    assert_eq!(s.wallboard.page, Page::Terminals);
    let text = screen_text(&render(&mut s, 160, 48));
    // Read only: no trace pane inviting a key that does nothing here.
    assert!(!text.contains("Trace"), "{text}");
    insta::assert_snapshot!(text);
}

/// Every row of every table, as text: equal before and after means nothing was written.
async fn everything(pool: &PgPool) -> Vec<(String, i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let (n, digest): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM \"{t}\" x"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((t, n, digest));
    }
    out
}

/// Every key sequence of every section of a keymap, and the keys a form or a popup takes.
fn every_key(keymap: &Keymap) -> Vec<KeyEvent> {
    let mut keys: Vec<KeyEvent> = Section::ALL
        .iter()
        .flat_map(|s| keymap.bindings(*s))
        .flat_map(|b| b.keys.iter().map(|k| KeyEvent::new(k.code, k.mods)))
        .collect();
    for code in [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Char('y'),
        KeyCode::Char('Y'),
        KeyCode::Char('n'),
        KeyCode::Char(' '),
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
    ] {
        keys.push(KeyEvent::new(code, KeyModifiers::NONE));
    }
    keys
}

#[tokio::test]
async fn no_key_changes_anything() {
    let db = test_db().await;
    let pool = &db.pool;
    // Something to act on: an open P1 alarm (take, acknowledge, clear would write).
    let mut tx = pool.begin().await.unwrap();
    db_alarm::raise(
        &mut tx,
        &crate::support::new_alarm(AlarmKind::ForcedOpen, None, None),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = Console::sign_in(pool, live(Lang::EN), "wall", "值班大屏", Role::Wallboard).await;
    c.strict = true;
    assert!(wallboard::on(&c.state.shell));
    assert_eq!(c.state.alarms.list.rows.len(), 1);
    let before = everything(pool).await;
    for lang in [Lang::EN, Lang::ZH_CN] {
        c.state.shell.lang = lang;
        for preset in ["default", "vim"] {
            let keymap = Keymap::preset(preset).unwrap();
            c.state.shell.keymap = Arc::new(keymap.clone());
            for k in every_key(&keymap) {
                let quit_asked = c.state.shell.overlay == Some(Overlay::Quit);
                let fx = update(&mut c.state, Msg::Key(k));
                // The one thing a key may ask for is to leave: `y` when quitting was asked.
                let yes = quit_asked && matches!(k.code, KeyCode::Char('y' | 'Y'));
                let expected: Vec<Effect> = if yes { vec![Effect::Quit] } else { vec![] };
                assert_eq!(fx, expected, "{preset}: {k:?}");
                assert!(wallboard::on(&c.state.shell), "{preset}: {k:?}");
                c.run(fx.into_iter().filter(|e| *e != Effect::Quit).collect())
                    .await;
            }
        }
    }
    // Ctrl-C leaves at once, as everywhere.
    let fx = update(
        &mut c.state,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(fx, vec![Effect::Quit]);
    assert_eq!(everything(pool).await, before, "a key wrote something");
    assert_eq!(c.state.alarms.list.rows[0].state, "active");
    assert_eq!(c.state.alarms.list.rows[0].handling_by, None);
}

#[tokio::test]
async fn a_p1_raised_anywhere_reaches_the_wallboard_through_the_listener() {
    let db = test_db().await;
    let pool = &db.pool;
    let mut c = Console::sign_in(pool, live(Lang::EN), "wall", "值班大屏", Role::Wallboard).await;
    c.strict = true;
    c.send(Msg::Tick(Utc::now())).await;
    c.send(key(KeyCode::Right)).await;
    assert_eq!(c.state.wallboard.page, Page::Doors);
    let mut tx = pool.begin().await.unwrap();
    let id = db_alarm::raise(
        &mut tx,
        &crate::support::new_alarm(AlarmKind::ForcedOpen, None, None),
    )
    .await
    .unwrap()
    .unwrap();
    // Announced on commit, as the poller's ingest does.
    Change::alarms(vec![id]).send(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    c.send(Msg::Tick(Utc::now())).await;
    // Notified, then pulled at the next frame: the alarms screen, holding that alarm.
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.alarm.contains(&id)))
        .await;
    c.frame().await;
    assert_eq!(c.state.wallboard.page, Page::Alarms);
    assert_eq!(c.state.wallboard.held, Some(id));
    assert_eq!(c.state.alarms.selected, Some(id));
}

#[tokio::test]
async fn the_wallboard_role_is_refused_every_write() {
    assert!(
        Action::ALL.iter().all(|a| !allows(Role::Wallboard, *a)),
        "the wallboard may do nothing"
    );
    let db = test_db().await;
    let pool = &db.pool;
    let mut tx = pool.begin().await.unwrap();
    let id = db_alarm::raise(
        &mut tx,
        &crate::support::new_alarm(AlarmKind::Tamper, None, None),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let mut c =
        Console::sign_in(pool, live(Lang::ZH_CN), "wall", "值班大屏", Role::Wallboard).await;
    let before = everything(pool).await;
    // Were a write asked for on its behalf anyway, the database layer refuses it.
    let writes = vec![
        Effect::Alarms(alarms::Effect::Take { id }),
        Effect::Alarms(alarms::Effect::Acknowledge {
            id,
            note: "误报".into(),
        }),
        Effect::Alarms(alarms::Effect::Clear {
            id,
            force: true,
            reason: Some("测试".into()),
        }),
    ];
    for effect in writes {
        let answers = c.answers(vec![effect.clone()]).await;
        assert!(
            matches!(answers.as_slice(), [Some(Msg::Failed(_))]),
            "{effect:?}: {answers:?}"
        );
    }
    let actor = c.state.shell.session.as_ref().unwrap().operator.actor();
    assert!(db_alarm::take(pool, &actor, id).await.is_err());
    assert!(db_alarm::acknowledge(pool, &actor, id, "误报")
        .await
        .is_err());
    assert_eq!(everything(pool).await, before);
}
