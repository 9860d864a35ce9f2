//! The console shell without I/O: `update` transitions and `TestBackend` snapshots.

use crate::harness::{render, screen_text};
use chrono::{FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use onecard::app::msg::DbState;
use onecard::app::state::{DbWhere, Overlay, Screen, State, Tab, ThemeName};
use onecard::app::{update, Effect, Msg};
use onecard::db::operator::{Operator, Session};
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use std::sync::Arc;

fn op(id: i64, login: &str, name: &str, role: Role) -> Operator {
    Operator {
        id,
        login: login.into(),
        display_name: name.into(),
        role,
        must_change_password: false,
        failed_attempts: 0,
        locked_until: None,
        disabled: false,
        last_login_at: Some(Utc.with_ymd_and_hms(2026, 11, 20, 1, 30, 0).unwrap()),
    }
}

fn state(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 3, 4, 5).unwrap();
    let mut s = State::new(keymap, lang, ThemeName::Default, DbWhere::Embedded, now);
    s.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s
}

fn signed_in(lang: Lang, role: Role) -> State {
    let mut s = state(lang);
    s.db = DbState::Ready;
    update(&mut s, Msg::OperatorsExist(true));
    let fx = update(
        &mut s,
        Msg::LoggedIn(Session {
            id: 1,
            operator: op(1, "zhou", "周建国", role),
        }),
    );
    // Every role reads the alarms for the strip, and what the Card service tab (where the
    // console starts) shows: the desk's pickers and the person register.
    assert_eq!(
        fx,
        vec![
            Effect::LoadAlarms,
            Effect::LoadCardRefs,
            Effect::SearchPeople {
                query: String::new()
            }
        ]
    );
    s
}

fn with_operators(mut s: State) -> State {
    let mut locked = op(3, "wang.fang", "王芳", Role::CardDesk);
    locked.locked_until = Some(Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 0).unwrap());
    let mut fresh = op(4, "anna", "Anna Müller", Role::DataAdministrator);
    fresh.must_change_password = true;
    fresh.last_login_at = None;
    let mut gone = op(5, "ouyang.xd", "欧阳晓东", Role::DutyOperator);
    gone.disabled = true;
    update(
        &mut s,
        Msg::OperatorsLoaded(vec![
            op(1, "zhou", "周建国", Role::Director),
            op(2, "li.ming", "李明", Role::SystemAdministrator),
            locked,
            fresh,
            gone,
            op(6, "david", "David Okafor", Role::Technician),
        ]),
    );
    s
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(s, key(c))).collect()
}

#[test]
fn snapshot_login_80x24() {
    let mut s = state(Lang::EN);
    update(&mut s, Msg::OperatorsExist(true));
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "secret");
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_first_run_zh_80x24() {
    let mut s = state(Lang::ZH_CN);
    update(&mut s, Msg::OperatorsExist(false));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_cards_tab_80x24() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_operators_zh_160x48() {
    let mut s = with_operators(signed_in(Lang::ZH_CN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_operators_filtered_80x24() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    s.demo = true;
    update(&mut s, key('7'));
    update(&mut s, key('/'));
    typed(&mut s, "王");
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_help_80x24() {
    let mut s = signed_in(Lang::EN, Role::Director);
    update(&mut s, key('?'));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_palette_160x48() {
    let mut s = signed_in(Lang::EN, Role::Director);
    update(&mut s, key(':'));
    typed(&mut s, "tab");
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_confirm_and_too_small() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('G'));
    update(&mut s, key('u'));
    insta::assert_snapshot!("confirm_80x24", render(&mut s, 80, 24).backend());
    insta::assert_snapshot!("too_small_60x20", render(&mut s, 60, 20).backend());
}

#[test]
fn cjk_names_line_up() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    let t = render(&mut s, 120, 30);
    let text = screen_text(&t);
    // The role column starts at the same display column on every row, whatever the name.
    let col = |needle: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen"));
        let before: String = line.split(needle).next().unwrap().to_string();
        unicode_width::UnicodeWidthStr::width(before.as_str())
    };
    assert_eq!(col("System administrator"), col("Card desk"));
    assert_eq!(col("Card desk"), col("Technician"));
    assert_eq!(col("Technician"), col("Duty operator"));
}

#[test]
fn resizing_never_panics() {
    let base = with_operators(signed_in(Lang::ZH_CN, Role::Director));
    let mut variants = vec![state(Lang::EN), base.clone()];
    let mut login = state(Lang::ZH_CN);
    update(&mut login, Msg::OperatorsExist(false));
    variants.push(login);
    for k in ['7', '?', ':'] {
        let mut v = base.clone();
        update(&mut v, key('7'));
        update(&mut v, key(k));
        variants.push(v);
    }
    for mut v in variants {
        for w in (0..=200).step_by(9) {
            for h in (0..=60).step_by(5) {
                update(&mut v, Msg::Resize(w, h));
                render(&mut v, w, h);
            }
        }
    }
}

#[test]
fn login_form_submits_and_failure_clears_the_password() {
    let mut s = state(Lang::EN);
    update(&mut s, Msg::OperatorsExist(true));
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Enter));
    typed(&mut s, "pa55word!x");
    let fx = update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Login {
            login: "zhou".into(),
            password: "pa55word!x".into()
        }]
    );
    update(&mut s, Msg::LoginFailed("wrong login or password".into()));
    let Screen::Form(form) = &s.screen else {
        panic!("still on the form")
    };
    assert_eq!(form.fields[0].value, "zhou");
    assert_eq!(form.fields[1].value, "", "password must be cleared");
    assert_eq!(form.error.as_deref(), Some("wrong login or password"));
}

#[test]
fn first_run_checks_the_password_before_asking_the_database() {
    let mut s = state(Lang::EN);
    update(&mut s, Msg::OperatorsExist(false));
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "周建国");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "short");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "short");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let Screen::Form(form) = &s.screen else {
        panic!()
    };
    assert!(form.error.as_deref().unwrap().contains("at least"));
}

#[test]
fn must_change_password_comes_first() {
    let mut s = state(Lang::EN);
    update(&mut s, Msg::OperatorsExist(true));
    let mut o = op(9, "anna", "Anna", Role::CardDesk);
    o.must_change_password = true;
    update(&mut s, Msg::LoggedIn(Session { id: 3, operator: o }));
    assert!(matches!(&s.screen, Screen::Form(f) if f.fields.len() == 2));
    // Esc on a forced change signs out rather than letting the operator in.
    assert_eq!(update(&mut s, code(KeyCode::Esc)), vec![Effect::Logout]);
}

#[test]
fn key_sequences_tabs_and_selection() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    let fx = update(&mut s, key('7'));
    assert_eq!(s.tab, Tab::Operators);
    assert_eq!(fx, vec![Effect::LoadOperators, Effect::LoadAudit]);
    update(&mut s, key('G'));
    assert_eq!(s.operators_view.selected, 5);
    update(&mut s, key('g'));
    assert!(
        !s.pending_keys.is_empty(),
        "g waits for the rest of the sequence"
    );
    update(&mut s, key('g'));
    assert_eq!(s.operators_view.selected, 0);
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.tab, Tab::Cards, "tab wraps around");
}

#[test]
fn filter_narrows_and_escape_clears() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('/'));
    typed(&mut s, "admin");
    assert_eq!(
        s.visible_operators().len(),
        2,
        "system and data administrators"
    );
    update(&mut s, code(KeyCode::Enter));
    assert!(s.filter_input.is_none());
    assert_eq!(
        s.visible_operators().len(),
        2,
        "the filter stays after enter"
    );
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.visible_operators().len(), 6);
}

#[test]
fn palette_completes_and_runs() {
    let mut s = signed_in(Lang::EN, Role::Director);
    update(&mut s, key(':'));
    typed(&mut s, "tab.op");
    update(&mut s, code(KeyCode::Tab));
    let Some(Overlay::Palette(p)) = &s.overlay else {
        panic!("palette open")
    };
    assert_eq!(p.input, "tab.operators");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.tab, Tab::Operators);
    assert!(s.overlay.is_none());
    // Every command is offered by the empty palette.
    let all = onecard::app::update::palette_candidates("");
    assert_eq!(all.len(), onecard::keymap::Command::ALL.len() - 1);
}

#[test]
fn denied_commands_say_so_in_domain_words() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    update(&mut s, key('7'));
    let fx = update(&mut s, key('u'));
    assert_eq!(fx, vec![Effect::Bell]);
    let (_, text) = s.message.clone().expect("a message");
    assert_eq!(text, "A Duty operator may not manage operators.");
    assert!(s.overlay.is_none());
}

#[test]
fn destructive_commands_confirm_naming_the_object() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert!(update(&mut s, key('R')).is_empty());
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("confirm")
    };
    assert!(
        c.question.contains("wang.fang") && c.question.contains("王芳"),
        "{}",
        c.question
    );
    assert!(
        update(&mut s, key('x')).is_empty(),
        "other keys leave it open"
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::ResetOperatorPassword {
            login: "wang.fang".into()
        }]
    );
    update(&mut s, key('D'));
    assert!(update(&mut s, key('n')).is_empty());
    assert!(s.overlay.is_none());
}

#[test]
fn mouse_clicks_tabs_and_rows() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    s.size = (120, 30);
    let spans = onecard::app::layout::tab_spans(&s, ratatui::layout::Rect::new(0, 0, 120, 1));
    let (_, x, _) = spans
        .iter()
        .find(|(t, _, _)| *t == Tab::Operators)
        .copied()
        .unwrap();
    let click = |col, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut s, click(x + 1, 0));
    assert_eq!(s.tab, Tab::Operators);
    // Body starts at row 2; table border row 2, header row 3, first data row 4.
    update(&mut s, click(5, 4 + 3));
    assert_eq!(s.operators_view.selected, 3);
    assert_eq!(s.selected_operator().unwrap().login, "anna");
}

#[test]
fn language_switches_every_visible_string() {
    let mut s = signed_in(Lang::EN, Role::Director);
    let en = screen_text(&render(&mut s, 100, 30));
    assert!(en.contains("Card service"));
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE)),
    );
    update(&mut s, key('l'));
    assert_eq!(s.lang, Lang::ZH_CN);
    let zh = screen_text(&render(&mut s, 100, 30));
    assert!(!zh.contains("Card service"), "{zh}");
    assert!(zh.contains("卡务") && !zh.contains("Card service"));
}

#[test]
fn every_theme_renders() {
    for theme in ThemeName::ALL {
        let mut s = with_operators(signed_in(Lang::EN, Role::Director));
        s.theme = theme;
        update(&mut s, key('7'));
        let text = screen_text(&render(&mut s, 80, 24));
        assert!(text.contains("zhou"));
    }
}

// ---- Alarms and terminals -------------------------------------------------------------------

use onecard::app::state::PRESET_NOTES;
use onecard::db::alarm::Alarm;
use onecard::db::command::{CommandRow, TerminalCommand};
use onecard::db::listen::{Direction, TraceFrame};
use onecard::db::notify::Change;
use onecard::db::terminal::{Line, Terminal as Term};
use onecard::domain::alarm::AlarmKind;

fn at(h: u32, m: u32, sec: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, sec).unwrap()
}

fn alarm(id: i64, kind: AlarmKind, terminal: Option<&str>, raised: chrono::DateTime<Utc>) -> Alarm {
    Alarm {
        id,
        kind: kind.name().into(),
        priority: kind.priority(),
        terminal_id: terminal.map(|_| 1),
        terminal_name: terminal.map(String::from),
        door: (kind == AlarmKind::ForcedOpen || kind == AlarmKind::HeldOpen).then_some(2),
        card: (kind == AlarmKind::Duress).then_some(3_120_456_789),
        detail: String::new(),
        raised_at: raised,
        late: false,
        state: "active".into(),
        handling_by: None,
        acknowledged_by: None,
        note: None,
    }
}

fn some_alarms() -> Vec<Alarm> {
    let mut held = alarm(
        11,
        AlarmKind::HeldOpen,
        Some("学生宿舍三号楼北门"),
        at(2, 50, 0),
    );
    held.handling_by = Some("zhou".into());
    let mut drift = alarm(
        12,
        AlarmKind::ClockDrift,
        Some("一食堂收费机 07"),
        at(1, 10, 0),
    );
    drift.detail = "terminal clock 94 s ahead".into();
    let mut acked = alarm(13, AlarmKind::Tamper, Some("图书馆东门"), at(0, 5, 0));
    acked.state = "acknowledged".into();
    acked.acknowledged_by = Some("li.ming".into());
    acked.handling_by = Some("li.ming".into());
    acked.note = Some("guard sent".into());
    let mut late = alarm(14, AlarmKind::ForcedOpen, Some("实验楼 B 座"), at(2, 0, 0));
    late.late = true;
    vec![
        alarm(10, AlarmKind::ForcedOpen, Some("图书馆东门"), at(3, 1, 7)),
        late,
        held,
        drift,
        acked,
    ]
}

fn loaded_alarms(s: &mut State, alarms: Vec<Alarm>) -> Vec<Effect> {
    let active = |p| {
        alarms
            .iter()
            .filter(|a| a.state == "active" && a.priority == p)
            .count() as i64
    };
    let counts = vec![(1, active(1)), (2, active(2)), (3, active(3))];
    update(s, Msg::AlarmsLoaded { alarms, counts })
}

fn line(id: i64, name: &str, protocol: &str, transport: &str, address: &str) -> Line {
    Line {
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
    }
}

fn term(
    id: i64,
    line_id: i64,
    kind: &str,
    address: i64,
    name: &str,
    location: &str,
    status: &str,
) -> Term {
    Term {
        id,
        line_id,
        kind: kind.into(),
        address,
        name: name.into(),
        location: location.into(),
        installed_at: chrono::NaiveDate::from_ymd_opt(2025, 9, 1),
        installed_by: "David".into(),
        in_scan: true,
        status: status.into(),
        firmware: if status == "unknown" {
            String::new()
        } else {
            "6.62".into()
        },
        bookmark: 0,
        record_base: 0,
        hardware_serial: String::new(),
        last_contact: (status != "unknown").then(|| at(3, 4, 1)),
        rtt_ms: (status == "online").then_some(12.5),
        retries: 3,
        crc_errors: if status == "offline" { 17 } else { 0 },
        timeouts: if status == "offline" { 42 } else { 1 },
        clock_drift_s: Some(if status == "offline" { 94 } else { -2 }),
        records_waiting: 128,
    }
}

fn site() -> (Vec<Line>, Vec<Term>) {
    let lines = vec![
        line(1, "主门禁 main gate", "uhppote", "udp", "10.0.3.20:60000"),
        line(2, "食堂 RS-485", "native", "serial", "/dev/ttyUSB0"),
    ];
    let mut excluded = term(5, 2, "pos", 8, "二食堂收费机 08", "二食堂", "unknown");
    excluded.in_scan = false;
    let terminals = vec![
        term(
            1,
            1,
            "door_controller",
            405419896,
            "图书馆东门",
            "Library east",
            "online",
        ),
        term(
            2,
            1,
            "door_controller",
            405419897,
            "学生宿舍三号楼北门",
            "Dorm 3 north",
            "offline",
        ),
        term(3, 2, "pos", 7, "一食堂收费机 07", "一食堂 窗口 7", "online"),
        term(
            4,
            2,
            "attendance_machine",
            9,
            "后勤考勤机",
            "Facilities office",
            "online",
        ),
        excluded,
    ];
    (lines, terminals)
}

fn on_terminals(lang: Lang, role: Role) -> State {
    let mut s = signed_in(lang, role);
    assert_eq!(update(&mut s, key('6')), vec![Effect::LoadTerminals]);
    let (lines, terminals) = site();
    update(&mut s, Msg::TerminalsLoaded { lines, terminals });
    s
}

fn frame(line: i64, dir: Direction, hex: &str, ms: i64) -> Msg {
    Msg::Trace(TraceFrame {
        line,
        dir,
        hex: hex.into(),
        note: String::new(),
        at: at(3, 4, 5) + chrono::Duration::milliseconds(ms),
    })
}

#[test]
fn bell_rings_only_for_new_p1_alarms_that_are_not_late() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    // What is open at sign-in is the baseline: shown, not rung.
    assert!(loaded_alarms(&mut s, some_alarms()).is_empty());
    assert_eq!(s.alarms.by_priority, vec![(1, 2), (2, 1), (3, 1)]);
    let changed = |s: &mut State, a: Alarm| {
        update(
            s,
            Msg::AlarmsChanged {
                ids: vec![a.id],
                alarms: vec![a],
                counts: vec![(1, 3)],
            },
        )
    };
    assert!(changed(&mut s, alarm(20, AlarmKind::HeldOpen, None, at(3, 4, 0))).is_empty());
    let mut late = alarm(21, AlarmKind::ForcedOpen, Some("图书馆东门"), at(3, 4, 0));
    late.late = true;
    assert!(
        changed(&mut s, late).is_empty(),
        "a late P1 is shown, never rung"
    );
    let fresh = alarm(22, AlarmKind::Duress, Some("财务处"), at(3, 4, 1));
    assert_eq!(changed(&mut s, fresh.clone()), vec![Effect::Bell]);
    // The same alarm reloaded (taken, say) does not ring again; neither does a full reload.
    assert!(changed(&mut s, fresh.clone()).is_empty());
    let mut all = some_alarms();
    all.push(fresh);
    assert!(loaded_alarms(&mut s, all).is_empty());
    // An alarm raised while the listener was away arrives by a full reload, and rings.
    let mut all = some_alarms();
    all.push(alarm(23, AlarmKind::Fire, Some("实验楼 B 座"), at(3, 4, 2)));
    assert_eq!(loaded_alarms(&mut s, all), vec![Effect::Bell]);
    assert_eq!(s.alarms.of(1), 3);
}

#[test]
fn a_notification_storm_is_one_reload_per_frame() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    for i in 0..1000 {
        let fx = update(
            &mut s,
            Msg::Changed(Change {
                alarm: vec![i % 7 + 1],
                terminal: vec![i % 3 + 1],
                command: vec![500 + i],
                records: vec!["door_event".into()],
                ..Change::default()
            }),
        );
        assert!(fx.is_empty(), "nothing is queried per notification");
    }
    // Commands this console did not send are not read; alarms and terminals once each.
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            Effect::LoadAlarmsById((1..=7).collect()),
            Effect::LoadTerminalsById(vec![1, 2, 3]),
        ]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "nothing left");
    // A (re)connect means notifications were lost: everything shown, once, whatever else came.
    update(&mut s, Msg::Resync);
    update(&mut s, Msg::Changed(Change::alarms(vec![3])));
    update(&mut s, Msg::Resync);
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadAlarms, Effect::LoadTerminals]
    );
    // Off the Terminals tab, terminal changes wait for the tab's own reload.
    update(&mut s, key('1'));
    update(&mut s, Msg::Changed(Change::terminal(1)));
    assert!(update(&mut s, Msg::Frame).is_empty());
}

#[test]
fn terminal_selection_stays_on_the_same_terminal_across_reloads() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    assert_eq!(s.terminals.selected, Some(1), "the first terminal");
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.selected_terminal().unwrap().name, "一食堂收费机 07");
    // A terminal added before it, and the list re-read: still the same terminal.
    let (lines, mut terminals) = site();
    terminals.push(term(9, 2, "pos", 1, "新收费机", "", "unknown"));
    update(&mut s, Msg::TerminalsLoaded { lines, terminals });
    assert_eq!(s.terminals.selected, Some(3));
    assert_eq!(
        s.selected_terminal_index(),
        3,
        "it moved down a row, the cursor with it"
    );
    // Its status changes by notification: still selected, now offline.
    let mut t3 = site().1[2].clone();
    t3.status = "offline".into();
    update(
        &mut s,
        Msg::TerminalsChanged {
            ids: vec![3],
            terminals: vec![t3],
        },
    );
    assert_eq!(s.selected_terminal().unwrap().status, "offline");
    // It is removed: the cursor stays on that row, on the next terminal.
    update(
        &mut s,
        Msg::TerminalsChanged {
            ids: vec![3],
            terminals: vec![],
        },
    );
    assert_eq!(s.terminals.selected, Some(5), "the next by address");
    // A terminal on a line this console never read: read the inventory again.
    assert_eq!(
        update(
            &mut s,
            Msg::TerminalsChanged {
                ids: vec![30],
                terminals: vec![term(30, 7, "pos", 1, "x", "", "unknown")]
            }
        ),
        vec![Effect::LoadTerminals]
    );
}

#[test]
fn alarm_selection_stays_on_the_same_alarm_across_reloads() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('a'));
    assert!(s.alarm.open);
    // Active P1 first (newest first), then P2, P3, the acknowledged last.
    let order: Vec<i64> = s.alarm.list.iter().map(|a| a.id).collect();
    assert_eq!(order, vec![10, 14, 11, 12, 13]);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.alarm.selected, Some(11));
    // A new P1 arrives above it: the cursor stays on alarm 11.
    update(
        &mut s,
        Msg::AlarmsChanged {
            ids: vec![30],
            alarms: vec![alarm(30, AlarmKind::Fire, None, at(3, 4, 4))],
            counts: vec![],
        },
    );
    assert_eq!(s.alarm.selected, Some(11));
    assert_eq!(s.selected_alarm_index(), 3);
    // Another console clears it: the cursor stays on that row.
    let mut gone = s.selected_alarm().unwrap().clone();
    gone.state = "cleared".into();
    update(
        &mut s,
        Msg::AlarmsChanged {
            ids: vec![11],
            alarms: vec![gone],
            counts: vec![],
        },
    );
    assert_eq!(s.alarm.selected, Some(12));
}

#[test]
fn alarms_are_taken_acknowledged_with_a_note_and_cleared() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    loaded_alarms(&mut s, some_alarms());
    // From any tab, one key.
    update(&mut s, key('4'));
    update(&mut s, key('a'));
    assert!(s.alarm.open);
    assert_eq!(update(&mut s, key('t')), vec![Effect::TakeAlarm { id: 10 }]);
    assert!(update(&mut s, key('A')).is_empty());
    let Some(Overlay::AlarmNote(note)) = &s.overlay else {
        panic!("note input")
    };
    assert!(
        note.title.contains("#10") && note.title.contains("图书馆东门"),
        "{}",
        note.title
    );
    // A number picks a preset while the note is empty; then it is ordinary text.
    update(&mut s, key('2'));
    typed(&mut s, ", 3 min");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::AcknowledgeAlarm {
            id: 10,
            note: "guard sent, 3 min".into()
        }]
    );
    assert!(s.overlay.is_none());
    // An empty note is refused on the spot.
    update(&mut s, key('A'));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert!(matches!(s.overlay, Some(Overlay::AlarmNote(_))));
    update(&mut s, code(KeyCode::Esc));
    assert!(s.overlay.is_none());
    // Free text only.
    update(&mut s, key('A'));
    typed(&mut s, "door closed by cleaner");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::AcknowledgeAlarm {
            id: 10,
            note: "door closed by cleaner".into()
        }]
    );
    // Clearing an unacknowledged alarm needs the force, and a confirmation naming it.
    assert!(update(&mut s, key('c')).is_empty());
    assert!(s.message.as_ref().unwrap().1.contains("not acknowledged"));
    update(&mut s, key('C'));
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("confirm")
    };
    assert!(
        c.question
            .contains("#10 P1 forced open · 图书馆东门 door 2"),
        "{}",
        c.question
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::ClearAlarm {
            id: 10,
            force: true
        }]
    );
    // The acknowledged one clears normally.
    update(&mut s, key('G'));
    assert_eq!(s.alarm.selected, Some(13));
    update(&mut s, key('c'));
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::ClearAlarm {
            id: 13,
            force: false
        }]
    );
    // Esc leaves the view, back on the tab.
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarm.open);
    assert_eq!(s.tab, Tab::Attendance);
    assert_eq!(PRESET_NOTES.len(), 4);
}

#[test]
fn alarm_actions_need_the_role() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('a'));
    assert_eq!(update(&mut s, key('t')), vec![Effect::Bell]);
    assert_eq!(
        s.message.clone().unwrap().1,
        "A Card desk may not acknowledge alarms."
    );
    assert_eq!(update(&mut s, key('A')), vec![Effect::Bell]);
    assert!(s.overlay.is_none());
}

#[test]
fn terminal_commands_go_through_the_queue_and_report_their_answer() {
    let mut s = on_terminals(Lang::EN, Role::Director);
    assert_eq!(
        update(&mut s, key('o')),
        vec![Effect::Enqueue {
            terminal_id: 1,
            command: TerminalCommand::OnlineTest
        }]
    );
    assert_eq!(
        update(&mut s, key('T')),
        vec![Effect::Enqueue {
            terminal_id: 1,
            command: TerminalCommand::SetTime
        }]
    );
    assert!(update(&mut s, key('X')).is_empty());
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("confirm")
    };
    assert!(
        c.question.contains("405419896 “图书馆东门” (Library east)"),
        "{}",
        c.question
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::Enqueue {
            terminal_id: 1,
            command: TerminalCommand::ClearRecords
        }]
    );
    assert_eq!(
        update(&mut s, key('s')),
        vec![Effect::SetInScan {
            terminal_id: 1,
            in_scan: false
        }]
    );
    // Queued: its outcome is read when announced (even if announced before the id was known).
    update(
        &mut s,
        Msg::CommandQueued {
            id: 77,
            terminal_id: 1,
            command: TerminalCommand::OnlineTest,
        },
    );
    assert!(s
        .message
        .as_ref()
        .unwrap()
        .1
        .contains("Online test queued for 图书馆东门"));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadCommandsById(vec![77])]
    );
    let row = |state: &str, result: Option<&str>| CommandRow {
        id: 77,
        terminal_id: 1,
        command: sqlx::types::Json(TerminalCommand::OnlineTest),
        state: state.into(),
        requested_at: at(3, 4, 5),
        result: result.map(String::from),
        outcome: None,
        progress: None,
    };
    update(&mut s, Msg::CommandsLoaded(vec![row("running", None)]));
    assert!(
        s.message.as_ref().unwrap().1.contains("queued"),
        "not finished yet"
    );
    update(&mut s, Msg::Changed(Change::command(77)));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadCommandsById(vec![77])]
    );
    update(
        &mut s,
        Msg::CommandsLoaded(vec![row("done", Some("online, firmware 6.62, 11 ms"))]),
    );
    assert_eq!(
        s.message.clone().unwrap().1,
        "Online test on 图书馆东门: done — online, firmware 6.62, 11 ms"
    );
    // Reported once: later notifications of it are not read again.
    update(&mut s, Msg::Changed(Change::command(77)));
    assert!(update(&mut s, Msg::Frame).is_empty());
}

#[test]
fn the_trace_follows_the_selected_terminals_line_and_is_renewed() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    assert_eq!(
        update(&mut s, key('v')),
        vec![Effect::Trace { line: Some(1) }]
    );
    update(&mut s, frame(1, Direction::Tx, "7e01", 0));
    update(&mut s, frame(2, Direction::Rx, "7e02", 1));
    assert_eq!(
        s.terminals.trace.as_ref().unwrap().frames.len(),
        1,
        "only its line"
    );
    for i in 0..500 {
        update(&mut s, frame(1, Direction::Rx, "00", i));
    }
    assert_eq!(
        s.terminals.trace.as_ref().unwrap().frames.len(),
        200,
        "the last N"
    );
    assert!(update(&mut s, Msg::Tick(at(3, 4, 15))).is_empty());
    assert_eq!(
        update(&mut s, Msg::Tick(at(3, 4, 30))),
        vec![Effect::Trace { line: Some(1) }]
    );
    // The selection moves to a terminal on the other line: the trace moves with it.
    update(&mut s, key('j'));
    assert!(update(&mut s, key('j')) == vec![Effect::Trace { line: Some(2) }]);
    assert!(s.terminals.trace.as_ref().unwrap().frames.is_empty());
    assert_eq!(update(&mut s, key('v')), vec![Effect::Trace { line: None }]);
    // Leaving the tab stops it too.
    update(&mut s, key('v'));
    assert_eq!(update(&mut s, key('2')), vec![Effect::Trace { line: None }]);
    // A duty operator may not diagnose terminals.
    let mut d = on_terminals(Lang::EN, Role::DutyOperator);
    assert_eq!(update(&mut d, key('o')), vec![Effect::Bell]);
    assert_eq!(
        d.message.unwrap().1,
        "A Duty operator may not diagnose terminals."
    );
}

fn alarms_view(lang: Lang) -> State {
    let mut s = signed_in(lang, Role::DutyOperator);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('a'));
    s
}

#[test]
fn snapshot_alarms_view_80x24() {
    let mut s = alarms_view(Lang::EN);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_alarms_view_zh_160x48() {
    let mut s = alarms_view(Lang::ZH_CN);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_alarm_note_80x24() {
    let mut s = alarms_view(Lang::EN);
    update(&mut s, key('A'));
    update(&mut s, key('3'));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

fn traced(lang: Lang) -> State {
    let mut s = on_terminals(lang, Role::Technician);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('j'));
    update(&mut s, key('v'));
    for (i, (dir, hex)) in [
        (
            Direction::Tx,
            "17200000f8c1251800000000000000000000000000000000",
        ),
        (
            Direction::Rx,
            "172000007f8c1251820261122030405000000010000000001",
        ),
        (Direction::Tx, "17b00000f8c12518"),
        (Direction::Rx, "17b00000f8c1251801"),
    ]
    .into_iter()
    .enumerate()
    {
        update(&mut s, frame(1, dir, hex, i as i64 * 37));
    }
    s
}

#[test]
fn snapshot_terminals_tab_80x24() {
    let mut s = traced(Lang::EN);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_terminals_tab_zh_160x48() {
    let mut s = traced(Lang::ZH_CN);
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn new_views_render_at_every_size() {
    let mut variants = vec![traced(Lang::ZH_CN), alarms_view(Lang::ZH_CN)];
    let mut note = alarms_view(Lang::EN);
    update(&mut note, key('A'));
    variants.push(note);
    let mut empty = signed_in(Lang::EN, Role::Technician);
    update(&mut empty, key('6'));
    update(&mut empty, key('a'));
    variants.push(empty);
    for mut v in variants {
        for w in (0..=200).step_by(9) {
            for h in (0..=60).step_by(5) {
                update(&mut v, Msg::Resize(w, h));
                render(&mut v, w, h);
            }
        }
    }
}

#[test]
fn hints_follow_the_keymap() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    let text = screen_text(&render(&mut s, 100, 30));
    assert!(
        text.contains("o test") && text.contains("v trace"),
        "{text}"
    );
    let mut remapped = Keymap::preset("default").unwrap();
    let errors = remapped.merge(
        "user",
        "[terminals]\n\"v\" = \"noop\"\n\"w\" = { run = \"terminal.trace\", desc = \"Trace\" }\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    s.keymap = Arc::new(remapped);
    let text = screen_text(&render(&mut s, 100, 30));
    assert!(
        text.contains("w trace") && !text.contains("v trace"),
        "{text}"
    );
}

#[test]
fn no_catalogue_key_shows_raw() {
    for lang in [Lang::EN, Lang::ZH_CN] {
        let mut screens = vec![traced(lang), alarms_view(lang)];
        let mut note = alarms_view(lang);
        update(&mut note, key('A'));
        screens.push(note);
        let mut confirm = traced(lang);
        update(&mut confirm, key('X'));
        screens.push(confirm);
        let mut help = alarms_view(lang);
        update(&mut help, key('?'));
        screens.push(help);
        let mut empty = signed_in(lang, Role::Technician);
        update(&mut empty, key('6'));
        screens.push(empty);
        for mut s in screens {
            for (w, h) in [(80, 24), (160, 48)] {
                let text = screen_text(&render(&mut s, w, h));
                for prefix in [
                    "alarm.",
                    "terminal.",
                    "command.",
                    "msg.",
                    "confirm.",
                    "hint.",
                    "cmd.",
                ] {
                    assert!(
                        !text.contains(prefix),
                        "raw key {prefix} on screen:\n{text}"
                    );
                }
            }
        }
    }
}

// ---- Terminal inventory edit ------------------------------------------------------------------

use onecard::app::state::{Form, FormKind};
use onecard::db::terminal::Inventory;

fn edit_form(s: &State) -> &Form {
    match &s.overlay {
        Some(Overlay::Edit(f)) => f,
        other => panic!("the edit form is not open: {other:?}"),
    }
}

/// Backspace until the focused field is empty.
fn clear_field(s: &mut State) {
    for _ in 0..80 {
        update(s, code(KeyCode::Backspace));
    }
}

#[test]
fn a_terminal_is_edited_in_a_form_and_stays_selected() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.terminals.selected, Some(3));
    // `e` opens the form on the selected terminal, filled with what is stored.
    assert!(update(&mut s, key('e')).is_empty());
    let f = edit_form(&s);
    assert_eq!(f.kind, FormKind::TerminalEdit { terminal_id: 3 });
    let values: Vec<&str> = f.fields.iter().map(|f| f.value.as_str()).collect();
    assert_eq!(
        values,
        ["一食堂收费机 07", "一食堂 窗口 7", "2025-09-01", "David"]
    );
    assert_eq!(f.focus, 0);
    // Typing goes to the focused field; tab and the arrows move between fields.
    update(&mut s, code(KeyCode::Backspace));
    update(&mut s, code(KeyCode::Backspace));
    typed(&mut s, "12");
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Down));
    clear_field(&mut s);
    typed(&mut s, "2026-03-15 ");
    update(&mut s, code(KeyCode::Down));
    update(&mut s, code(KeyCode::Up));
    update(&mut s, code(KeyCode::Down));
    typed(&mut s, " & 王工");
    assert_eq!(edit_form(&s).focus, 3);
    // Enter saves from any field: one effect, the values trimmed and the date read.
    let saved = Inventory {
        name: "一食堂收费机 12".into(),
        location: "一食堂 窗口 7".into(),
        installed_at: chrono::NaiveDate::from_ymd_opt(2026, 3, 15),
        installed_by: "David & 王工".into(),
    };
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::EditTerminal {
            terminal_id: 3,
            fields: saved.clone()
        }]
    );
    // While it is saved the form takes no input and never saves twice.
    assert!(edit_form(&s).busy);
    assert!(update(&mut s, key('x')).is_empty());
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(edit_form(&s).fields[3].value, "David & 王工");
    // A refusal from the database stays in the form, with what was typed.
    update(&mut s, Msg::Failed("Terminal #3 no longer exists.".into()));
    let f = edit_form(&s);
    assert!(!f.busy);
    assert_eq!(f.error.as_deref(), Some("Terminal #3 no longer exists."));
    assert_eq!(f.fields[0].value, "一食堂收费机 12");
    // Saved: the form closes and says so; the row is re-read by its notification.
    assert_eq!(update(&mut s, code(KeyCode::Enter)).len(), 1);
    let fx = update(
        &mut s,
        Msg::TerminalEdited {
            terminal_id: 3,
            name: "一食堂收费机 12".into(),
        },
    );
    assert!(fx.is_empty(), "nothing is read but what is announced");
    assert!(s.overlay.is_none());
    assert_eq!(
        s.message.clone().unwrap().1,
        "Terminal “一食堂收费机 12” saved."
    );
    update(&mut s, Msg::Changed(Change::terminal(3)));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadTerminalsById(vec![3])]
    );
    let mut row = site().1[2].clone();
    row.name = saved.name.clone();
    row.installed_at = saved.installed_at;
    row.installed_by = saved.installed_by.clone();
    update(
        &mut s,
        Msg::TerminalsChanged {
            ids: vec![3],
            terminals: vec![row],
        },
    );
    assert_eq!(s.terminals.selected, Some(3), "the cursor stays on it");
    assert_eq!(s.selected_terminal_index(), 2);
    assert_eq!(s.selected_terminal().unwrap().name, "一食堂收费机 12");
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("一食堂收费机 12"), "{text}");
    assert!(text.contains("2026-03-15 · David & 王工"), "{text}");
}

#[test]
fn terminal_edit_refuses_bad_input_before_any_effect() {
    let mut s = on_terminals(Lang::EN, Role::Director);
    update(&mut s, key('e'));
    // A date that does not exist.
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    clear_field(&mut s);
    typed(&mut s, "2026-02-30");
    update(&mut s, code(KeyCode::Up));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let f = edit_form(&s);
    assert_eq!(
        f.error.as_deref(),
        Some("“2026-02-30” is not an installation date: write YYYY-MM-DD, not later than today, or leave it empty.")
    );
    assert_eq!(f.focus, 2, "the cursor goes to the date");
    assert!(!f.busy);
    // Other spellings, and a date after today (the console's clock says 2026-11-22).
    for bad in [
        "22.11.2026",
        "2026-1-5",
        "yesterday",
        "2027-01-01",
        "0226-05-01",
    ] {
        clear_field(&mut s);
        typed(&mut s, bad);
        assert!(update(&mut s, code(KeyCode::Enter)).is_empty(), "{bad}");
        assert!(
            edit_form(&s).error.as_deref().unwrap().contains(bad),
            "{bad}"
        );
    }
    // Typing clears the complaint.
    update(&mut s, code(KeyCode::Backspace));
    assert_eq!(edit_form(&s).error, None);
    // No name.
    clear_field(&mut s);
    for _ in 0..2 {
        update(&mut s, code(KeyCode::BackTab));
    }
    clear_field(&mut s);
    typed(&mut s, "   ");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let f = edit_form(&s);
    assert_eq!(f.error.as_deref(), Some("A terminal needs a name."));
    assert_eq!(f.focus, 0);
    // An empty date means "not known"; today is fine.
    typed(&mut s, "图书馆东门 B");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::EditTerminal {
            terminal_id: 1,
            fields: Inventory {
                name: "图书馆东门 B".into(),
                location: "Library east".into(),
                installed_at: None,
                installed_by: "David".into(),
            }
        }]
    );
    // Esc cancels, even while saving; nothing else is asked for.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.overlay.is_none());
    assert_eq!(s.message.clone().unwrap().1, "Cancelled.");
    update(&mut s, key('e'));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    clear_field(&mut s);
    typed(&mut s, "2026-11-22");
    assert_eq!(update(&mut s, code(KeyCode::Enter)).len(), 1);
}

#[test]
fn terminal_edit_needs_the_role() {
    for (role, words) in [
        (
            Role::DutyOperator,
            "A Duty operator may not edit terminals.",
        ),
        (Role::CardDesk, "A Card desk may not edit terminals."),
    ] {
        let mut s = on_terminals(Lang::EN, role);
        assert_eq!(update(&mut s, key('e')), vec![Effect::Bell]);
        assert_eq!(s.message.clone().unwrap().1, words);
        assert!(s.overlay.is_none());
    }
    // The palette is no way around it.
    let mut s = on_terminals(Lang::EN, Role::DutyOperator);
    update(&mut s, key(':'));
    typed(&mut s, "terminal.edit");
    assert_eq!(update(&mut s, code(KeyCode::Enter)), vec![Effect::Bell]);
    assert!(s.overlay.is_none());
    // The vim preset binds it too.
    let mut v = on_terminals(Lang::EN, Role::Technician);
    v.keymap = Arc::new(Keymap::preset("vim").unwrap());
    update(&mut v, key('e'));
    assert!(matches!(v.overlay, Some(Overlay::Edit(_))));
}

fn editing(lang: Lang) -> State {
    let mut s = on_terminals(lang, Role::Technician);
    update(&mut s, key('j'));
    update(&mut s, key('e'));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "，近东侧楼梯");
    s
}

#[test]
fn snapshot_terminal_edit_zh_80x24() {
    let mut s = editing(Lang::ZH_CN);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn the_edit_form_renders_at_every_size_with_no_raw_keys() {
    for lang in [Lang::EN, Lang::ZH_CN] {
        let mut s = editing(lang);
        for (w, h) in [(80, 24), (160, 48)] {
            let text = screen_text(&render(&mut s, w, h));
            for prefix in ["form.", "terminal.", "msg.", "hint."] {
                assert!(!text.contains(prefix), "raw key {prefix}:\n{text}");
            }
        }
        // A refusal shows in the form.
        update(&mut s, code(KeyCode::Tab));
        clear_field(&mut s);
        typed(&mut s, "2026-13-01");
        update(&mut s, code(KeyCode::Enter));
        let text = screen_text(&render(&mut s, 80, 24));
        assert!(text.contains("2026-13-01"), "{text}");
        for w in (0..=200).step_by(9) {
            for h in (0..=60).step_by(5) {
                update(&mut s, Msg::Resize(w, h));
                render(&mut s, w, h);
            }
        }
    }
}

// ---- The `/` filter and clicks in the Alarms view and the Terminals tab -----------------------

fn shown_alarms(s: &State) -> Vec<i64> {
    s.visible_alarms().iter().map(|a| a.id).collect()
}

fn shown_terminals(s: &State) -> Vec<i64> {
    s.visible_terminals().iter().map(|t| t.id).collect()
}

/// Opens the filter input, replaces its text with `text` and keeps it (enter).
fn filter_by(s: &mut State, text: &str) -> Vec<Effect> {
    let mut fx = update(s, key('/'));
    assert!(s.filter_input.is_some(), "/ opens the filter input");
    for _ in 0..70 {
        fx.extend(update(s, code(KeyCode::Backspace)));
    }
    fx.extend(typed(s, text));
    fx.extend(update(s, code(KeyCode::Enter)));
    assert!(s.filter_input.is_none(), "enter leaves the input");
    fx
}

fn click(column: u16, row: u16) -> Msg {
    Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

/// Row `y` of the screen as last drawn.
fn screen_row(s: &mut State, y: usize) -> String {
    let (w, h) = s.size;
    screen_text(&render(s, w, h))
        .lines()
        .nth(y)
        .unwrap()
        .to_string()
}

#[test]
fn the_alarms_view_filters_by_terminal_name_and_kind() {
    let mut s = alarms_view(Lang::EN);
    assert_eq!(shown_alarms(&s), vec![10, 14, 11, 12, 13]);
    assert!(update(&mut s, key('/')).is_empty());
    assert_eq!(s.filter_input.as_deref(), Some(""));
    // The list narrows as the name is typed.
    assert!(typed(&mut s, "图").is_empty());
    assert_eq!(shown_alarms(&s), vec![10, 13]);
    typed(&mut s, "书馆");
    assert_eq!(s.alarm.filter, "图书馆");
    assert_eq!(shown_alarms(&s), vec![10, 13]);
    let text = screen_text(&render(&mut s, 120, 30));
    assert!(
        text.contains("Alarms · 5 open · filter “图书馆” · 2 shown"),
        "{text}"
    );
    assert!(text.contains(" Filter: 图书馆▏"), "{text}");
    assert!(text.contains("图书馆东门"), "{text}");
    assert!(
        !text.contains("学生宿舍") && !text.contains("实验楼") && !text.contains("一食堂"),
        "{text}"
    );
    update(&mut s, code(KeyCode::Enter));
    assert!(s.filter_input.is_none());
    assert_eq!(shown_alarms(&s), vec![10, 13], "enter keeps the filter");
    // The kind in the language shown, whatever the case; the alarm keys (t takes, c clears)
    // are text while the input is open.
    update(&mut s, key('/'));
    for _ in 0.."图书馆".chars().count() {
        update(&mut s, code(KeyCode::Backspace));
    }
    assert!(typed(&mut s, "Clock DR").is_empty());
    assert_eq!(shown_alarms(&s), vec![12]);
    update(&mut s, code(KeyCode::Esc));
    filter_by(&mut s, "tamper");
    assert_eq!(shown_alarms(&s), vec![13]);
    filter_by(&mut s, "p2");
    assert_eq!(shown_alarms(&s), vec![11], "the priority as shown");
    // A Chinese kind name is no English alarm's text ...
    filter_by(&mut s, "强行");
    assert!(shown_alarms(&s).is_empty());
    let text = screen_text(&render(&mut s, 120, 30));
    assert!(text.contains("Nothing matches “强行”."), "{text}");
    assert!(text.contains("filter “强行” · 0 shown"), "{text}");
    // ... but is the Chinese console's.
    let mut zh = alarms_view(Lang::ZH_CN);
    filter_by(&mut zh, "强行");
    assert_eq!(shown_alarms(&zh), vec![10, 14]);
    filter_by(&mut zh, "已确认");
    assert_eq!(shown_alarms(&zh), vec![13], "the state as shown");
    let text = screen_text(&render(&mut zh, 160, 48));
    assert!(text.contains("筛选“已确认” · 显示 1 条"), "{text}");
    // Each list has its own filter: the operators' is untouched.
    assert_eq!(s.operators_view.filter, "");
    let mut s = with_operators(s);
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarm.open);
    update(&mut s, key('7'));
    assert_eq!(s.visible_operators().len(), 6);
    filter_by(&mut s, "admin");
    assert_eq!(s.visible_operators().len(), 2);
    assert_eq!(s.alarm.filter, "");
    assert_eq!(shown_alarms(&s).len(), 5);
}

#[test]
fn escape_clears_the_alarm_filter_then_closes_the_view() {
    let mut s = alarms_view(Lang::EN);
    update(&mut s, key('/'));
    typed(&mut s, "tamper");
    assert_eq!(shown_alarms(&s), vec![13]);
    // Esc in the input clears the filter and leaves the input; the view stays.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.filter_input.is_none());
    assert_eq!(s.alarm.filter, "");
    assert_eq!(shown_alarms(&s).len(), 5);
    assert!(s.alarm.open);
    // A kept filter: the first esc clears it, the next closes the view.
    filter_by(&mut s, "drift");
    assert_eq!(shown_alarms(&s), vec![12]);
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.alarm.filter, "");
    assert!(s.alarm.open);
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarm.open);
    // A filter kept when the view is closed with its key is there when it opens again.
    update(&mut s, key('a'));
    filter_by(&mut s, "drift");
    update(&mut s, key('a'));
    assert!(!s.alarm.open);
    update(&mut s, key('a'));
    assert_eq!(shown_alarms(&s), vec![12]);
    assert_eq!(s.alarm.selected, Some(12), "opened on the first shown");
}

#[test]
fn a_filtered_alarm_selection_survives_reloads() {
    let mut s = alarms_view(Lang::EN);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.alarm.selected, Some(11));
    // 11 does not match: the cursor goes to the first match.
    filter_by(&mut s, "图书馆");
    assert_eq!(s.alarm.selected, Some(10));
    update(&mut s, key('j'));
    assert_eq!(s.alarm.selected, Some(13));
    update(&mut s, key('j'));
    assert_eq!(
        s.alarm.selected,
        Some(13),
        "the cursor stops at the last match"
    );
    // A narrower filter that still matches it keeps it.
    filter_by(&mut s, "东门");
    assert_eq!(s.alarm.selected, Some(13));
    // A new P1 on the same door arrives above it: the filter and the cursor stay.
    let fire = alarm(30, AlarmKind::Fire, Some("图书馆东门"), at(3, 4, 4));
    update(
        &mut s,
        Msg::AlarmsChanged {
            ids: vec![30],
            alarms: vec![fire.clone()],
            counts: vec![],
        },
    );
    assert_eq!(s.alarm.filter, "东门");
    assert_eq!(shown_alarms(&s), vec![30, 10, 13]);
    assert_eq!(s.alarm.selected, Some(13));
    assert_eq!(s.selected_alarm_index(), 2);
    // Notifications several times a second, then a full reload: the same.
    for _ in 0..5 {
        let mut again = some_alarms()[4].clone();
        again.note = Some("guard sent again".into());
        update(
            &mut s,
            Msg::AlarmsChanged {
                ids: vec![13],
                alarms: vec![again],
                counts: vec![],
            },
        );
    }
    let mut all = some_alarms();
    all.push(fire);
    loaded_alarms(&mut s, all);
    assert_eq!(s.alarm.filter, "东门");
    assert_eq!(shown_alarms(&s), vec![30, 10, 13]);
    assert_eq!(s.alarm.selected, Some(13));
    assert_eq!(
        s.selected_alarm().unwrap().note.as_deref(),
        Some("guard sent")
    );
    // It is cleared: the cursor takes the row where it was among those shown.
    update(
        &mut s,
        Msg::AlarmsChanged {
            ids: vec![13],
            alarms: vec![],
            counts: vec![],
        },
    );
    assert_eq!(s.alarm.selected, Some(10));
    // Without the filter, the cursor stays where it is.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.alarm.selected, Some(10));
    assert_eq!(s.selected_alarm_index(), 1);
}

#[test]
fn alarm_commands_act_on_the_selected_shown_alarm() {
    let mut s = alarms_view(Lang::EN);
    assert_eq!(s.alarm.selected, Some(10));
    filter_by(&mut s, "宿舍");
    assert_eq!(s.alarm.selected, Some(11));
    assert!(update(&mut s, key('A')).is_empty());
    let Some(Overlay::AlarmNote(note)) = &s.overlay else {
        panic!("the note popup: {:?}", s.overlay)
    };
    assert_eq!(note.alarm_id, 11);
    assert!(note.title.contains("学生宿舍三号楼北门"), "{}", note.title);
    update(&mut s, key('2'));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::AcknowledgeAlarm {
            id: 11,
            note: "guard sent".into()
        }]
    );
    assert_eq!(update(&mut s, key('t')), vec![Effect::TakeAlarm { id: 11 }]);
    // Nothing shown, nothing acted on, though the cursor's alarm is still open.
    filter_by(&mut s, "宿舍 x");
    assert!(shown_alarms(&s).is_empty());
    assert!(s.selected_alarm().is_none());
    assert!(update(&mut s, key('t')).is_empty());
    assert!(update(&mut s, key('A')).is_empty());
    assert!(s.overlay.is_none());
    assert_eq!(s.message.clone().unwrap().1, "No open alarm is selected.");
    // Cleared, the cursor is back on it.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.selected_alarm().map(|a| a.id), Some(11));
}

#[test]
fn the_terminals_tab_filters_and_keeps_the_headings_of_matching_lines() {
    let mut s = on_terminals(Lang::ZH_CN, Role::Technician);
    // By line, then address.
    assert_eq!(shown_terminals(&s), vec![1, 2, 3, 5, 4]);
    update(&mut s, key('/'));
    typed(&mut s, "图书馆");
    assert_eq!(shown_terminals(&s), vec![1]);
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("▸ 主门禁 main gate"), "{text}");
    assert!(text.contains("图书馆东门"), "{text}");
    assert!(
        !text.contains("食堂 RS-485") && !text.contains("学生宿舍"),
        "{text}"
    );
    assert!(text.contains("筛选“图书馆” · 显示 1 条"), "{text}");
    update(&mut s, code(KeyCode::Enter));
    // A line's name lets through every terminal on it; the other line's heading goes.
    filter_by(&mut s, "食堂");
    assert_eq!(shown_terminals(&s), vec![3, 5, 4]);
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(
        text.contains("▸ 食堂 RS-485") && text.contains("后勤考勤机"),
        "{text}"
    );
    assert!(!text.contains("主门禁"), "{text}");
    // Kind and status in the language shown, address, firmware, location in any case.
    for (filter, ids) in [
        ("收费机", vec![3, 5]),
        ("离线", vec![2]),
        ("405419896", vec![1]),
        ("6.62", vec![1, 2, 3, 4]),
        ("FACILITIES", vec![4]),
        ("门禁控制器", vec![1, 2]),
    ] {
        filter_by(&mut s, filter);
        assert_eq!(shown_terminals(&s), ids, "{filter}");
    }
    // A reload keeps the filter and the cursor.
    filter_by(&mut s, "收费机");
    update(&mut s, key('j'));
    assert_eq!(s.terminals.selected, Some(5));
    let (lines, terminals) = site();
    update(&mut s, Msg::TerminalsLoaded { lines, terminals });
    assert_eq!(s.terminals.filter, "收费机");
    assert_eq!(shown_terminals(&s), vec![3, 5]);
    assert_eq!(s.terminals.selected, Some(5));
    let mut t5 = site().1[4].clone();
    t5.status = "online".into();
    t5.firmware = "6.70".into();
    update(
        &mut s,
        Msg::TerminalsChanged {
            ids: vec![5],
            terminals: vec![t5],
        },
    );
    assert_eq!(s.terminals.selected, Some(5));
    assert_eq!(s.selected_terminal().unwrap().firmware, "6.70");
    // A change that takes the selected terminal out of the filter: the row where it was.
    filter_by(&mut s, "在线");
    assert_eq!(shown_terminals(&s), vec![1, 3, 5, 4]);
    assert_eq!(s.terminals.selected, Some(5));
    let mut t5 = site().1[4].clone();
    t5.status = "offline".into();
    update(
        &mut s,
        Msg::TerminalsChanged {
            ids: vec![5],
            terminals: vec![t5],
        },
    );
    assert_eq!(shown_terminals(&s), vec![1, 3, 4]);
    assert_eq!(s.terminals.selected, Some(4));
    // Nothing matches: no headings, a muted line saying so.
    filter_by(&mut s, "zzz");
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("没有与“zzz”匹配的记录。"), "{text}");
    assert!(!text.contains('▸'), "{text}");
    // Esc clears it.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.terminals.filter, "");
    assert_eq!(shown_terminals(&s).len(), 5);
    assert_eq!(s.terminals.selected, Some(4));
}

#[test]
fn terminal_commands_act_on_the_selected_shown_terminal() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    assert_eq!(
        update(&mut s, key('v')),
        vec![Effect::Trace { line: Some(1) }]
    );
    // Typing narrows to a terminal on the other line: the cursor and the trace go there.
    update(&mut s, key('/'));
    assert_eq!(typed(&mut s, "后勤"), vec![Effect::Trace { line: Some(2) }]);
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.terminals.selected, Some(4));
    assert_eq!(
        update(&mut s, key('o')),
        vec![Effect::Enqueue {
            terminal_id: 4,
            command: TerminalCommand::OnlineTest
        }]
    );
    // Typed into the filter, `o` is text, not a test.
    update(&mut s, key('/'));
    assert!(typed(&mut s, "o").is_empty());
    assert!(shown_terminals(&s).is_empty());
    update(&mut s, code(KeyCode::Enter));
    assert!(update(&mut s, key('o')).is_empty());
    assert!(update(&mut s, key('e')).is_empty());
    assert!(s.overlay.is_none());
    assert_eq!(s.message.clone().unwrap().1, "Select a terminal first.");
    // Clicking another tab while typing ends the input; the text stays the list's.
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, key('/'));
    typed(&mut s, "食堂");
    s.size = (120, 30);
    let spans = onecard::app::layout::tab_spans(&s, ratatui::layout::Rect::new(0, 0, 120, 1));
    let (_, x, _) = *spans.iter().find(|(t, _, _)| *t == Tab::Operators).unwrap();
    update(&mut s, click(x + 1, 0));
    assert_eq!(s.tab, Tab::Operators);
    assert!(s.filter_input.is_none());
    assert_eq!(s.terminals.filter, "食堂");
    assert_eq!(s.operators_view.filter, "");
}

#[test]
fn a_click_selects_the_alarm_under_it() {
    let mut s = alarms_view(Lang::EN);
    s.size = (80, 24);
    // The body starts at row 2: the list's border, its header, the alarms from row 4.
    update(&mut s, click(10, 4 + 2));
    assert_eq!(s.alarm.selected, Some(11));
    // The header, the border, below the last alarm: nothing changes.
    for (x, y) in [(10, 3), (10, 2), (0, 5), (10, 4 + 5)] {
        assert!(update(&mut s, click(x, y)).is_empty());
        assert_eq!(s.alarm.selected, Some(11), "({x}, {y})");
    }
    // Filtered: the rows are the matches.
    filter_by(&mut s, "图书馆");
    update(&mut s, click(10, 4 + 1));
    assert_eq!(s.alarm.selected, Some(13));
    update(&mut s, click(10, 4 + 2));
    assert_eq!(s.alarm.selected, Some(13), "no third match");
    // Scrolled: thirty alarms, the cursor on the last; each click takes the row drawn there.
    let many: Vec<Alarm> = (0..30)
        .map(|i| {
            let name = format!("门 {i:02}");
            alarm(
                100 + i,
                AlarmKind::HeldOpen,
                Some(&name),
                at(1, i as u32, 0),
            )
        })
        .collect();
    loaded_alarms(&mut s, many);
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, key('G'));
    assert_eq!(s.selected_alarm_index(), 29);
    for y in [4, 6] {
        let row = screen_row(&mut s, y as usize);
        update(&mut s, click(10, y));
        let a = s.selected_alarm().unwrap();
        let name = a.terminal_name.clone().unwrap();
        assert!(row.contains(&name), "row {y} is “{row}”, selected {name}");
        // Eight rows fit: this one is past the first page.
        assert!(
            s.selected_alarm_index() >= 8,
            "{}",
            s.selected_alarm_index()
        );
    }
    // Scrolled and filtered.
    filter_by(&mut s, "门 1");
    assert_eq!(shown_alarms(&s).len(), 10);
    update(&mut s, key('G'));
    let row = screen_row(&mut s, 5);
    update(&mut s, click(10, 5));
    let name = s.selected_alarm().unwrap().terminal_name.clone().unwrap();
    assert!(row.contains(&name), "“{row}”, selected {name}");
    assert_eq!(s.selected_alarm_index(), 3, "offset 2, second row");
}

#[test]
fn a_click_selects_the_terminal_under_it_never_a_heading() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    s.size = (80, 24);
    assert_eq!(
        update(&mut s, key('v')),
        vec![Effect::Trace { line: Some(1) }]
    );
    // Rows from 4: line 1's heading, 图书馆东门, 学生宿舍三号楼北门, line 2's heading,
    // 一食堂收费机 07, 二食堂收费机 08, 后勤考勤机.
    assert!(screen_row(&mut s, 4).contains("▸ 主门禁 main gate"));
    assert!(update(&mut s, click(10, 4)).is_empty());
    assert_eq!(s.terminals.selected, Some(1), "a heading selects nothing");
    update(&mut s, click(10, 5 + 1));
    assert_eq!(s.terminals.selected, Some(2));
    assert!(update(&mut s, click(10, 4 + 3)).is_empty());
    assert_eq!(s.terminals.selected, Some(2), "nor does line 2's");
    // A click on the other line moves the trace with it.
    assert_eq!(
        update(&mut s, click(10, 4 + 5)),
        vec![Effect::Trace { line: Some(2) }]
    );
    assert_eq!(s.terminals.selected, Some(5));
    // Filtered: line 2's heading, then its POS terminals.
    filter_by(&mut s, "POS");
    assert!(screen_row(&mut s, 4).contains("▸ 食堂 RS-485"));
    update(&mut s, click(10, 4 + 1));
    assert_eq!(s.terminals.selected, Some(3));
    assert!(update(&mut s, click(10, 4)).is_empty());
    assert_eq!(s.terminals.selected, Some(3));
    update(&mut s, code(KeyCode::Esc));
    // Scrolled: twenty more on line 2, the cursor on the last.
    let (lines, mut terminals) = site();
    for i in 0..20 {
        let name = format!("收费机 {i:02}");
        terminals.push(term(100 + i, 2, "pos", 20 + i, &name, "", "online"));
    }
    update(&mut s, Msg::TerminalsLoaded { lines, terminals });
    update(&mut s, key('G'));
    assert_eq!(s.terminals.selected, Some(119));
    for y in [4, 7] {
        let row = screen_row(&mut s, y as usize);
        update(&mut s, click(10, y));
        let name = s.selected_terminal().unwrap().name.clone();
        assert!(row.contains(&name), "row {y} is “{row}”, selected {name}");
        assert!(s.terminals.selected.unwrap() >= 100);
    }
}

#[test]
fn the_filter_hint_shows_on_the_alarms_view_and_the_terminals_tab() {
    let hint = |s: &mut State| {
        let text = screen_text(&render(s, 160, 48));
        text.lines().nth(46).unwrap().to_string()
    };
    for preset in ["default", "vim"] {
        let mut t = on_terminals(Lang::EN, Role::Technician);
        t.keymap = Arc::new(Keymap::preset(preset).unwrap());
        assert!(
            hint(&mut t).contains("/ filter"),
            "{preset}: {}",
            hint(&mut t)
        );
        update(&mut t, key('a'));
        assert!(t.alarm.open);
        assert!(
            hint(&mut t).contains("/ filter"),
            "{preset}: {}",
            hint(&mut t)
        );
    }
    // Remapped, the hint follows.
    let mut remapped = Keymap::preset("default").unwrap();
    let errors = remapped.merge("user", "[global]\n\"/\" = \"noop\"\n\"F\" = \"filter\"\n");
    assert!(errors.is_empty(), "{errors:?}");
    let mut s = on_terminals(Lang::EN, Role::Technician);
    s.keymap = Arc::new(remapped);
    assert!(hint(&mut s).contains("F filter") && !hint(&mut s).contains("/ filter"));
    update(&mut s, key('F'));
    assert!(s.filter_input.is_some());
}

#[test]
fn snapshot_terminals_filtered_zh_80x24() {
    let mut s = on_terminals(Lang::ZH_CN, Role::Technician);
    update(&mut s, key('/'));
    typed(&mut s, "收费机");
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}
