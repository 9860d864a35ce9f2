//! The console shell without I/O: `update` transitions and `TestBackend` snapshots.

use crate::harness::{render, screen_text};
use chrono::{FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use onecard::app::failure::Failure;
use onecard::app::form::{FieldId, Form, Input};
use onecard::app::msg::DbState;
use onecard::app::router::{self, palette_candidates};
use onecard::app::session::{self, SessionField, SignInKind};
use onecard::app::state::{DbWhere, Overlay, Screen, State, TabId, ThemeName};
use onecard::app::tabs::{alarms, cards, operators, terminals};
use onecard::app::{queue, update, Effect, Msg};
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
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s
}

fn exist(s: &mut State, exist: bool) -> Vec<Effect> {
    update(s, Msg::Session(session::Msg::OperatorsExist(exist)))
}

fn logged_in(s: &mut State, session: Session) -> Vec<Effect> {
    update(s, Msg::Session(session::Msg::LoggedIn(session)))
}

fn signed_in(lang: Lang, role: Role) -> State {
    let mut s = state(lang);
    s.shell.db = DbState::Ready;
    exist(&mut s, true);
    let fx = logged_in(
        &mut s,
        Session {
            id: 1,
            operator: op(1, "zhou", "周建国", role),
        },
    );
    // Every role reads the alarms for the strip, and what the Card service tab (where the
    // console starts) shows: the desk's pickers and the person register. Each load has its
    // generation, counted from 1. Then the session row is asked (role, idle lock).
    assert_eq!(
        fx,
        vec![
            Effect::Alarms(alarms::Effect::LoadAll { gen: 1 }),
            Effect::Cards(cards::Effect::LoadRefs { gen: 2 }),
            Effect::Cards(cards::Effect::Search {
                gen: 3,
                query: String::new()
            }),
            Effect::Session(session::Effect::Check),
        ]
    );
    s
}

/// The generation of a load asked for now: an answer made with it is newer than any shown.
fn fresh(s: &mut State) -> u64 {
    s.shell.next_gen()
}

fn with_operators(mut s: State) -> State {
    let mut locked = op(3, "wang.fang", "王芳", Role::CardDesk);
    locked.locked_until = Some(Utc.with_ymd_and_hms(2026, 11, 22, 3, 15, 0).unwrap());
    let mut fresh_op = op(4, "anna", "Anna Müller", Role::DataAdministrator);
    fresh_op.must_change_password = true;
    fresh_op.last_login_at = None;
    let mut gone = op(5, "ouyang.xd", "欧阳晓东", Role::DutyOperator);
    gone.disabled = true;
    let gen = fresh(&mut s);
    update(
        &mut s,
        Msg::Operators(operators::Msg::Loaded {
            gen,
            operators: vec![
                op(1, "zhou", "周建国", Role::Director),
                op(2, "li.ming", "李明", Role::SystemAdministrator),
                locked,
                fresh_op,
                gone,
                op(6, "david", "David Okafor", Role::Technician),
            ],
        }),
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

/// The text of the filter being typed in the view shown, if one is.
fn typing(s: &State) -> Option<String> {
    router::typing_filter(s).map(|(_, t)| t.value().to_string())
}

fn message(s: &State) -> String {
    s.shell.message.clone().map(|m| m.1).unwrap_or_default()
}

/// A field's text as typed (not trimmed).
fn raw<F: FieldId>(form: &Form<F>, i: usize) -> &str {
    match &form.fields[i].input {
        Input::Text(t) | Input::Secret(t) => t.value(),
        other => panic!("field {i} is no text: {other:?}"),
    }
}

/// Row `y` of the screen up to its first reversed cell (a text input's cursor).
fn before_cursor(t: &ratatui::Terminal<ratatui::backend::TestBackend>, y: u16) -> String {
    let buf = t.backend().buffer();
    let x = (0..buf.area.width)
        .find(|x| {
            buf[(*x, y)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        })
        .expect("a cursor on the row");
    let row = screen_text(t).lines().nth(y as usize).unwrap().to_string();
    let mut out = String::new();
    let mut col = 0;
    for c in row.chars() {
        if col >= x as usize {
            break;
        }
        col += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        out.push(c);
    }
    out
}

fn sign_in_form(s: &State) -> &session::SignIn {
    match &s.shell.screen {
        Screen::SignIn(si) => si,
        other => panic!("not on a sign-in screen: {other:?}"),
    }
}

fn visible_operators(s: &State) -> usize {
    s.operators.visible(&s.shell).len()
}

#[test]
fn snapshot_login_80x24() {
    let mut s = state(Lang::EN);
    exist(&mut s, true);
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "secret");
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_first_run_zh_80x24() {
    let mut s = state(Lang::ZH_CN);
    exist(&mut s, false);
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
    s.shell.demo = true;
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
fn keys_do_nothing_while_the_screen_is_too_small() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, Msg::Resize(60, 20));
    // Under the "too small" message nothing is shown to act on.
    assert!(update(&mut s, key('7')).is_empty());
    assert_eq!(s.shell.tab, TabId::Cards);
    assert!(update(&mut s, key('q')).is_empty());
    assert!(s.shell.overlay.is_none());
    // Ctrl-c still gets out.
    assert_eq!(
        update(
            &mut s,
            Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
        ),
        vec![Effect::Quit]
    );
    update(&mut s, Msg::Resize(80, 24));
    update(&mut s, key('7'));
    assert_eq!(s.shell.tab, TabId::Operators);
}

#[test]
fn quitting_asks_first_and_the_palette_quits_at_once() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    // `q` asks: a control-room console is not left by one stray key.
    assert!(update(&mut s, key('q')).is_empty());
    assert_eq!(s.shell.overlay, Some(Overlay::Quit));
    let text = screen_text(&render(&mut s, 80, 24));
    assert!(text.contains("Leave the onecard console?"), "{text}");
    assert!(update(&mut s, key('n')).is_empty());
    assert!(s.shell.overlay.is_none());
    update(&mut s, key('q'));
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.shell.overlay.is_none());
    update(&mut s, key('q'));
    assert_eq!(update(&mut s, key('y')), vec![Effect::Quit]);
    // `:quit` is the deliberate way out: no second question.
    let mut p = signed_in(Lang::EN, Role::DutyOperator);
    update(&mut p, key(':'));
    typed(&mut p, "quit");
    assert_eq!(update(&mut p, code(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn keymap_problems_are_shown_at_start_until_a_key() {
    let mut s = state(Lang::EN);
    let mut keymap = Keymap::preset("default").unwrap();
    let errors = keymap.merge("user", "[global]\n\"q\" = \"no-such-command\"\n");
    assert!(!errors.is_empty());
    let lines: Vec<String> = errors
        .iter()
        .map(|e| onecard::app::words::keymap_error(Lang::EN, e))
        .collect();
    s.show_keymap_errors(&lines);
    let Some(Overlay::Notice { lines: shown, .. }) = &s.shell.overlay else {
        panic!("a notice: {:?}", s.shell.overlay)
    };
    assert_eq!(shown, &lines);
    let text = screen_text(&render(&mut s, 100, 30));
    assert!(text.contains("no-such-command"), "{text}");
    // Any key closes it, and does nothing else.
    assert!(update(&mut s, key('x')).is_empty());
    assert!(s.shell.overlay.is_none());
    // No problems, no notice.
    let mut quiet = state(Lang::EN);
    quiet.show_keymap_errors(&[]);
    assert!(quiet.shell.overlay.is_none());
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
    exist(&mut login, false);
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
    exist(&mut s, true);
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Enter));
    typed(&mut s, "pa55word!x");
    let fx = update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Session(session::Effect::Login {
            login: "zhou".into(),
            password: "pa55word!x".into()
        })]
    );
    update(&mut s, Msg::Failed(Failure::WrongCredentials));
    let form = &sign_in_form(&s).form;
    assert_eq!(form.text(SessionField::Login), "zhou");
    assert_eq!(
        form.text(SessionField::Password),
        "",
        "password must be cleared"
    );
    assert_eq!(form.error.as_deref(), Some("Wrong login or password."));
}

#[test]
fn first_run_checks_the_password_before_asking_the_database() {
    let mut s = state(Lang::EN);
    exist(&mut s, false);
    typed(&mut s, "zhou");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "周建国");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "short");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "short");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let form = &sign_in_form(&s).form;
    assert!(form.error.as_deref().unwrap().contains("at least"));
}

#[test]
fn must_change_password_comes_first() {
    let mut s = state(Lang::EN);
    exist(&mut s, true);
    let mut o = op(9, "anna", "Anna", Role::CardDesk);
    o.must_change_password = true;
    logged_in(&mut s, Session { id: 3, operator: o });
    let si = sign_in_form(&s);
    assert_eq!(si.kind, SignInKind::ChangePassword { forced: true });
    assert_eq!(si.form.fields.len(), 2);
    // Esc on a forced change signs out rather than letting the operator in.
    assert_eq!(
        update(&mut s, code(KeyCode::Esc)),
        vec![Effect::Session(session::Effect::Logout)]
    );
}

#[test]
fn key_sequences_tabs_and_selection() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    let g = s.shell.gen;
    let fx = update(&mut s, key('7'));
    assert_eq!(s.shell.tab, TabId::Operators);
    assert_eq!(
        fx,
        vec![
            Effect::Operators(operators::Effect::Load { gen: g + 1 }),
            Effect::Operators(operators::Effect::LoadAudit { gen: g + 2 }),
        ]
    );
    update(&mut s, key('G'));
    assert_eq!(s.operators.selected, 5);
    update(&mut s, key('g'));
    assert!(
        !s.shell.pending_keys.is_empty(),
        "g waits for the rest of the sequence"
    );
    update(&mut s, key('g'));
    assert_eq!(s.operators.selected, 0);
    update(&mut s, code(KeyCode::Tab));
    assert_eq!(s.shell.tab, TabId::Cards, "tab wraps around");
}

#[test]
fn filter_narrows_and_escape_clears() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('/'));
    typed(&mut s, "admin");
    assert_eq!(visible_operators(&s), 2, "system and data administrators");
    update(&mut s, code(KeyCode::Enter));
    assert!(typing(&s).is_none());
    assert_eq!(visible_operators(&s), 2, "the filter stays after enter");
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(visible_operators(&s), 6);
}

#[test]
fn palette_completes_and_runs() {
    let mut s = signed_in(Lang::EN, Role::Director);
    update(&mut s, key(':'));
    typed(&mut s, "tab.op");
    update(&mut s, code(KeyCode::Tab));
    let Some(Overlay::Palette(p)) = &s.shell.overlay else {
        panic!("palette open")
    };
    assert_eq!(p.input.value(), "tab.operators");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.shell.tab, TabId::Operators);
    assert!(s.shell.overlay.is_none());
    // Every command is offered by the empty palette.
    let all = palette_candidates("");
    assert_eq!(all.len(), onecard::keymap::Command::ALL.len() - 1);
}

#[test]
fn denied_commands_say_so_in_domain_words() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    update(&mut s, key('7'));
    let fx = update(&mut s, key('u'));
    assert_eq!(fx, vec![Effect::Bell]);
    assert_eq!(message(&s), "A Duty operator may not manage operators.");
    assert!(s.shell.overlay.is_none());
}

#[test]
fn destructive_commands_confirm_naming_the_object() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    update(&mut s, key('7'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert!(update(&mut s, key('R')).is_empty());
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("confirm")
    };
    assert!(
        question.contains("wang.fang") && question.contains("王芳"),
        "{}",
        question
    );
    assert!(
        update(&mut s, key('x')).is_empty(),
        "other keys leave it open"
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::Operators(operators::Effect::ResetPassword {
            login: "wang.fang".into()
        })]
    );
    update(&mut s, key('D'));
    assert!(update(&mut s, key('n')).is_empty());
    assert!(s.shell.overlay.is_none());
}

#[test]
fn mouse_clicks_tabs_and_rows() {
    let mut s = with_operators(signed_in(Lang::EN, Role::Director));
    s.shell.size = (120, 30);
    let spans =
        onecard::app::layout::tab_spans(s.shell.lang, ratatui::layout::Rect::new(0, 0, 120, 1));
    let (_, x, _) = spans
        .iter()
        .find(|(t, _, _)| *t == TabId::Operators)
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
    assert_eq!(s.shell.tab, TabId::Operators);
    // Body starts at row 2; table border row 2, header row 3, first data row 4.
    update(&mut s, click(5, 4 + 3));
    assert_eq!(s.operators.selected, 3);
    assert_eq!(
        s.operators.selected_operator(&s.shell).unwrap().login,
        "anna"
    );
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
    assert_eq!(s.shell.lang, Lang::ZH_CN);
    let zh = screen_text(&render(&mut s, 100, 30));
    assert!(!zh.contains("Card service"), "{zh}");
    assert!(zh.contains("卡务") && !zh.contains("Card service"));
}

#[test]
fn every_theme_renders() {
    for theme in ThemeName::ALL {
        let mut s = with_operators(signed_in(Lang::EN, Role::Director));
        s.shell.theme = theme;
        update(&mut s, key('7'));
        let text = screen_text(&render(&mut s, 80, 24));
        assert!(text.contains("zhou"));
    }
}

// ---- Alarms and terminals -------------------------------------------------------------------

use onecard::app::tabs::alarms::PRESET_NOTES;
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
        door_name: None,
        door_location: None,
        card: (kind == AlarmKind::Duress).then_some(3_120_456_789),
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

/// Every open alarm, as a full reload asked for now answers.
fn loaded_alarms(s: &mut State, alarms: Vec<Alarm>) -> Vec<Effect> {
    let active = |p| {
        alarms
            .iter()
            .filter(|a| a.state == "active" && a.priority == p)
            .count() as i64
    };
    let counts = vec![(1, active(1)), (2, active(2)), (3, active(3))];
    let gen = fresh(s);
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

/// The alarms `ids` as they are now, as a read of what a notification named answers.
fn alarms_changed(
    s: &mut State,
    ids: Vec<i64>,
    alarms: Vec<Alarm>,
    counts: Vec<(i16, i64)>,
) -> Vec<Effect> {
    let gen = fresh(s);
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

fn shown_alarms(s: &State) -> Vec<i64> {
    s.alarms
        .visible(s.shell.lang)
        .iter()
        .map(|a| a.id)
        .collect()
}

fn selected_alarm(s: &State) -> Option<&Alarm> {
    s.alarms.selected(s.shell.lang)
}

fn selected_alarm_index(s: &State) -> usize {
    s.alarms.selected_index(s.shell.lang)
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
    let gen = s.shell.gen + 1;
    assert_eq!(
        update(&mut s, key('6')),
        vec![Effect::Terminals(terminals::Effect::Load { gen })]
    );
    let (lines, terminals) = site();
    update(
        &mut s,
        Msg::Terminals(terminals::Msg::Loaded {
            gen,
            lines,
            terminals,
        }),
    );
    s
}

/// The whole inventory, as a full reload asked for now answers.
fn terminals_loaded(s: &mut State, lines: Vec<Line>, terminals: Vec<Term>) -> Vec<Effect> {
    let gen = fresh(s);
    update(
        s,
        Msg::Terminals(terminals::Msg::Loaded {
            gen,
            lines,
            terminals,
        }),
    )
}

/// The terminals `ids` as they are now, as a read of what a notification named answers.
fn terminals_changed(s: &mut State, ids: Vec<i64>, terminals: Vec<Term>) -> Vec<Effect> {
    let gen = fresh(s);
    update(
        s,
        Msg::Terminals(terminals::Msg::Changed {
            gen,
            ids,
            terminals,
        }),
    )
}

fn shown_terminals(s: &State) -> Vec<i64> {
    s.terminals
        .visible(s.shell.lang)
        .iter()
        .map(|t| t.id)
        .collect()
}

fn selected_terminal(s: &State) -> Option<&Term> {
    s.terminals.selected(s.shell.lang)
}

fn enqueue(terminal_id: i64, about: &str, command: TerminalCommand) -> Effect {
    Effect::Queue(queue::Effect::Enqueue {
        terminal_id,
        about: about.into(),
        command,
    })
}

fn trace(line: Option<i64>) -> Effect {
    Effect::Terminals(terminals::Effect::Trace { line })
}

fn frame(line: i64, dir: Direction, hex: &str, ms: i64) -> Msg {
    Msg::Terminals(terminals::Msg::Trace(TraceFrame {
        line,
        dir,
        hex: hex.into(),
        note: String::new(),
        at: at(3, 4, 5) + chrono::Duration::milliseconds(ms),
    }))
}

#[test]
fn bell_rings_only_for_new_p1_alarms_that_are_not_late() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    // What is open at sign-in is the baseline: shown, not rung.
    assert!(loaded_alarms(&mut s, some_alarms()).is_empty());
    assert_eq!(s.alarms.counts.by_priority, vec![(1, 2), (2, 1), (3, 1)]);
    let changed = |s: &mut State, a: Alarm| alarms_changed(s, vec![a.id], vec![a], vec![(1, 3)]);
    assert!(changed(&mut s, alarm(20, AlarmKind::HeldOpen, None, at(3, 4, 0))).is_empty());
    let mut late = alarm(21, AlarmKind::ForcedOpen, Some("图书馆东门"), at(3, 4, 0));
    late.late = true;
    assert!(
        changed(&mut s, late).is_empty(),
        "a late P1 is shown, never rung"
    );
    let fresh_one = alarm(22, AlarmKind::Duress, Some("财务处"), at(3, 4, 1));
    assert_eq!(changed(&mut s, fresh_one.clone()), vec![Effect::Bell]);
    // The same alarm reloaded (taken, say) does not ring again; neither does a full reload.
    assert!(changed(&mut s, fresh_one.clone()).is_empty());
    let mut all = some_alarms();
    all.push(fresh_one);
    assert!(loaded_alarms(&mut s, all).is_empty());
    // An alarm raised while the listener was away arrives by a full reload, and rings.
    let mut all = some_alarms();
    all.push(alarm(23, AlarmKind::Fire, Some("实验楼 B 座"), at(3, 4, 2)));
    assert_eq!(loaded_alarms(&mut s, all), vec![Effect::Bell]);
    assert_eq!(s.alarms.counts.of(1), 3);
}

#[test]
fn a_notification_storm_is_one_reload_per_frame() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    // The alarms read at sign-in answered (before the first full list, partial reads wait).
    loaded_alarms(&mut s, vec![]);
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
    let g = s.shell.gen;
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            Effect::Alarms(alarms::Effect::LoadById {
                gen: g + 1,
                ids: (1..=7).collect()
            }),
            Effect::Terminals(terminals::Effect::LoadById {
                gen: g + 2,
                ids: vec![1, 2, 3]
            }),
        ]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "nothing left");
    // A (re)connect means notifications were lost: everything shown, once, whatever else came,
    // and the session row (a kick or a new role may have been missed).
    update(&mut s, Msg::Resync);
    update(&mut s, Msg::Changed(Change::alarms(vec![3])));
    update(&mut s, Msg::Resync);
    let g = s.shell.gen;
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            Effect::Alarms(alarms::Effect::LoadAll { gen: g + 1 }),
            Effect::Terminals(terminals::Effect::Load { gen: g + 2 }),
            Effect::Session(session::Effect::Check),
        ]
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
    assert_eq!(selected_terminal(&s).unwrap().name, "一食堂收费机 07");
    // A terminal added before it, and the list re-read: still the same terminal.
    let (lines, mut terminals) = site();
    terminals.push(term(9, 2, "pos", 1, "新收费机", "", "unknown"));
    terminals_loaded(&mut s, lines, terminals);
    assert_eq!(s.terminals.selected, Some(3));
    assert_eq!(
        s.terminals.selected_index(s.shell.lang),
        3,
        "it moved down a row, the cursor with it"
    );
    // Its status changes by notification: still selected, now offline.
    let mut t3 = site().1[2].clone();
    t3.status = "offline".into();
    terminals_changed(&mut s, vec![3], vec![t3]);
    assert_eq!(selected_terminal(&s).unwrap().status, "offline");
    // It is removed: the cursor stays on that row, on the next terminal.
    terminals_changed(&mut s, vec![3], vec![]);
    assert_eq!(s.terminals.selected, Some(5), "the next by address");
    // A terminal on a line this console never read: read the inventory again.
    let g = s.shell.gen;
    assert_eq!(
        terminals_changed(
            &mut s,
            vec![30],
            vec![term(30, 7, "pos", 1, "x", "", "unknown")]
        ),
        vec![Effect::Terminals(terminals::Effect::Load { gen: g + 2 })]
    );
}

#[test]
fn alarm_selection_stays_on_the_same_alarm_across_reloads() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('a'));
    assert!(s.alarms.open);
    // Active P1 first (newest first), then P2, P3, the acknowledged; the late one apart, last.
    let order: Vec<i64> = s.alarms.list.rows.iter().map(|a| a.id).collect();
    assert_eq!(order, vec![10, 11, 12, 13, 14]);
    update(&mut s, key('j'));
    assert_eq!(s.alarms.selected, Some(11));
    // A new P1 arrives above it: the cursor stays on alarm 11.
    alarms_changed(
        &mut s,
        vec![30],
        vec![alarm(30, AlarmKind::Fire, None, at(3, 4, 4))],
        vec![],
    );
    assert_eq!(s.alarms.selected, Some(11));
    assert_eq!(selected_alarm_index(&s), 2);
    // Another console clears it: the cursor stays on that row.
    let mut gone = selected_alarm(&s).unwrap().clone();
    gone.state = "cleared".into();
    alarms_changed(&mut s, vec![11], vec![gone], vec![]);
    assert_eq!(s.alarms.selected, Some(12));
}

fn alarm_effect(e: alarms::Effect) -> Vec<Effect> {
    vec![Effect::Alarms(e)]
}

#[test]
fn alarms_are_taken_acknowledged_with_a_note_and_cleared() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    loaded_alarms(&mut s, some_alarms());
    // From any tab, one key.
    update(&mut s, key('4'));
    update(&mut s, key('a'));
    assert!(s.alarms.open);
    assert_eq!(
        update(&mut s, key('t')),
        alarm_effect(alarms::Effect::Take { id: 10 })
    );
    assert!(update(&mut s, key('A')).is_empty());
    let note = s.alarms.note.as_ref().expect("note input");
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
        alarm_effect(alarms::Effect::Acknowledge {
            id: 10,
            note: "guard sent, 3 min".into()
        })
    );
    assert!(s.alarms.note.is_none());
    // An empty note is refused on the spot: said with the bell, nothing asked of the database.
    update(&mut s, key('A'));
    assert_eq!(update(&mut s, code(KeyCode::Enter)), vec![Effect::Bell]);
    assert!(s.alarms.note.is_some());
    assert!(message(&s).contains("note"), "{}", message(&s));
    update(&mut s, code(KeyCode::Esc));
    assert!(s.alarms.note.is_none());
    // Free text only.
    update(&mut s, key('A'));
    typed(&mut s, "door closed by cleaner");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        alarm_effect(alarms::Effect::Acknowledge {
            id: 10,
            note: "door closed by cleaner".into()
        })
    );
    // Clearing an unacknowledged alarm needs the force, and a reason, in a popup naming it.
    assert!(update(&mut s, key('c')).is_empty());
    assert!(message(&s).contains("not acknowledged"));
    assert!(update(&mut s, key('C')).is_empty());
    let note = s.alarms.note.as_ref().expect("the reason input");
    assert!(note.force_clear);
    assert!(
        note.title
            .contains("#10 P1 forced open · 图书馆东门 door 2"),
        "{}",
        note.title
    );
    // No reason, no force-clear; digits are text here, not presets.
    assert_eq!(update(&mut s, code(KeyCode::Enter)), vec![Effect::Bell]);
    assert_eq!(message(&s), "A force-clear needs a reason.");
    typed(&mut s, "2 sensors replaced");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        alarm_effect(alarms::Effect::Clear {
            id: 10,
            force: true,
            reason: Some("2 sensors replaced".into())
        })
    );
    // The acknowledged one clears normally, after a confirmation naming it (the late one is
    // listed after it, apart).
    update(&mut s, key('G'));
    update(&mut s, key('k'));
    assert_eq!(s.alarms.selected, Some(13));
    update(&mut s, key('c'));
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("confirm")
    };
    assert!(question.contains("#13 P"), "{}", question);
    assert_eq!(
        update(&mut s, key('y')),
        alarm_effect(alarms::Effect::Clear {
            id: 13,
            force: false,
            reason: None
        })
    );
    // Esc leaves the view, back on the tab.
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarms.open);
    assert_eq!(s.shell.tab, TabId::Attendance);
    assert_eq!(PRESET_NOTES.len(), 4);
}

#[test]
fn alarm_actions_need_the_role() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    loaded_alarms(&mut s, some_alarms());
    update(&mut s, key('a'));
    assert_eq!(update(&mut s, key('t')), vec![Effect::Bell]);
    assert_eq!(message(&s), "A Card desk may not acknowledge alarms.");
    assert_eq!(update(&mut s, key('A')), vec![Effect::Bell]);
    assert!(s.alarms.note.is_none());
    assert!(s.shell.overlay.is_none());
}

#[test]
fn terminal_commands_go_through_the_queue_and_report_their_answer() {
    let mut s = on_terminals(Lang::EN, Role::Director);
    assert_eq!(
        update(&mut s, key('o')),
        vec![enqueue(1, "图书馆东门", TerminalCommand::OnlineTest)]
    );
    assert_eq!(
        update(&mut s, key('T')),
        vec![enqueue(1, "图书馆东门", TerminalCommand::SetTime)]
    );
    assert!(update(&mut s, key('X')).is_empty());
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("confirm")
    };
    assert!(
        question.contains("405419896 “图书馆东门” (Library east)"),
        "{}",
        question
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![enqueue(1, "图书馆东门", TerminalCommand::ClearRecords)]
    );
    assert_eq!(
        update(&mut s, key('s')),
        vec![Effect::Terminals(terminals::Effect::SetInScan {
            terminal_id: 1,
            in_scan: false
        })]
    );
    // Queued: its outcome is read at once (it may have been announced before the id was
    // known), and again whenever it is announced.
    let gen = s.shell.gen + 1;
    assert_eq!(
        update(
            &mut s,
            Msg::Queue(queue::Msg::Queued {
                id: 77,
                terminal_id: 1,
                about: "图书馆东门".into(),
                command: TerminalCommand::OnlineTest,
            }),
        ),
        vec![Effect::Queue(queue::Effect::Load { gen, ids: vec![77] })]
    );
    assert!(message(&s).contains("Online test queued for 图书馆东门"));
    assert!(update(&mut s, Msg::Frame).is_empty());
    let row = |state: &str, result: Option<&str>| CommandRow {
        id: 77,
        terminal_id: 1,
        command: sqlx::types::Json(TerminalCommand::OnlineTest),
        state: state.into(),
        requested_at: at(3, 4, 5),
        result: result.map(String::from),
        outcome: None,
        progress: None,
        started_at: None,
    };
    update(
        &mut s,
        Msg::Queue(queue::Msg::Loaded {
            gen,
            rows: vec![row("running", None)],
        }),
    );
    assert!(message(&s).contains("queued"), "not finished yet");
    update(&mut s, Msg::Changed(Change::command(77)));
    let gen = s.shell.gen + 1;
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::Queue(queue::Effect::Load { gen, ids: vec![77] })]
    );
    update(
        &mut s,
        Msg::Queue(queue::Msg::Loaded {
            gen,
            rows: vec![row("done", Some("online, firmware 6.62, 11 ms"))],
        }),
    );
    assert_eq!(
        message(&s),
        "Online test on 图书馆东门: done — online, firmware 6.62, 11 ms"
    );
    // Reported once: later notifications of it are not read again.
    update(&mut s, Msg::Changed(Change::command(77)));
    assert!(update(&mut s, Msg::Frame).is_empty());
}

#[test]
fn the_trace_follows_the_selected_terminals_line_and_is_renewed() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    assert_eq!(update(&mut s, key('v')), vec![trace(Some(1))]);
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
        vec![trace(Some(1))]
    );
    // The selection moves to a terminal on the other line: the trace moves with it.
    update(&mut s, key('j'));
    assert!(update(&mut s, key('j')) == vec![trace(Some(2))]);
    assert!(s.terminals.trace.as_ref().unwrap().frames.is_empty());
    assert_eq!(update(&mut s, key('v')), vec![trace(None)]);
    // Leaving the tab stops it too, before the next tab reads what it shows.
    update(&mut s, key('v'));
    let fx = update(&mut s, key('4'));
    assert_eq!(fx.first(), Some(&trace(None)), "{fx:?}");
    assert_eq!(fx.iter().filter(|e| **e == trace(None)).count(), 1);
    // A duty operator may not diagnose terminals.
    let mut d = on_terminals(Lang::EN, Role::DutyOperator);
    assert_eq!(update(&mut d, key('o')), vec![Effect::Bell]);
    assert_eq!(message(&d), "A Duty operator may not diagnose terminals.");
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
    s.shell.keymap = Arc::new(remapped);
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
        let mut reason = alarms_view(lang);
        update(&mut reason, key('C'));
        screens.push(reason);
        let mut confirm = traced(lang);
        update(&mut confirm, key('X'));
        screens.push(confirm);
        let mut help = alarms_view(lang);
        update(&mut help, key('?'));
        screens.push(help);
        let mut quit = alarms_view(lang);
        update(&mut quit, key('q'));
        screens.push(quit);
        let mut empty = signed_in(lang, Role::Technician);
        update(&mut empty, key('6'));
        screens.push(empty);
        let mut ops = with_operators(signed_in(lang, Role::Director));
        update(&mut ops, key('7'));
        screens.push(ops.clone());
        update(&mut ops, key('n'));
        screens.push(ops);
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
                    "form.",
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

use onecard::app::tabs::terminals::TerminalField;
use onecard::db::terminal::Inventory;

fn edit_form(s: &State) -> &Form<TerminalField> {
    match &s.terminals.edit {
        Some(e) => &e.form,
        None => panic!("the edit form is not open"),
    }
}

/// Backspace until the focused field is empty.
fn clear_field(s: &mut State) {
    for _ in 0..80 {
        update(s, code(KeyCode::Backspace));
    }
}

fn edit_terminal(terminal_id: i64, fields: Inventory) -> Vec<Effect> {
    vec![Effect::Terminals(terminals::Effect::Edit {
        terminal_id,
        fields,
    })]
}

#[test]
fn a_terminal_is_edited_in_a_form_and_stays_selected() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.terminals.selected, Some(3));
    // `e` opens the form on the selected terminal, filled with what is stored.
    assert!(update(&mut s, key('e')).is_empty());
    assert_eq!(s.terminals.edit.as_ref().unwrap().terminal_id, 3);
    let f = edit_form(&s);
    let values: Vec<&str> = (0..f.fields.len()).map(|i| raw(f, i)).collect();
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
        edit_terminal(3, saved.clone())
    );
    // While it is saved the form takes no input and never saves twice.
    assert!(edit_form(&s).busy);
    assert!(update(&mut s, key('x')).is_empty());
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(raw(edit_form(&s), 3), "David & 王工");
    // A refusal from the database stays in the form, with what was typed.
    update(&mut s, Msg::Failed(Failure::TerminalGone(3)));
    let f = edit_form(&s);
    assert!(!f.busy);
    assert_eq!(f.error.as_deref(), Some("Terminal #3 no longer exists."));
    assert_eq!(raw(f, 0), "一食堂收费机 12");
    // Saved: the form closes and says so; the row is re-read by its notification.
    assert_eq!(update(&mut s, code(KeyCode::Enter)).len(), 1);
    let fx = update(
        &mut s,
        Msg::Terminals(terminals::Msg::Edited {
            terminal_id: 3,
            name: "一食堂收费机 12".into(),
        }),
    );
    assert!(fx.is_empty(), "nothing is read but what is announced");
    assert!(s.terminals.edit.is_none());
    assert_eq!(message(&s), "Terminal “一食堂收费机 12” saved.");
    update(&mut s, Msg::Changed(Change::terminal(3)));
    let gen = s.shell.gen + 1;
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::Terminals(terminals::Effect::LoadById {
            gen,
            ids: vec![3]
        })]
    );
    let mut row = site().1[2].clone();
    row.name = saved.name.clone();
    row.installed_at = saved.installed_at;
    row.installed_by = saved.installed_by.clone();
    update(
        &mut s,
        Msg::Terminals(terminals::Msg::Changed {
            gen,
            ids: vec![3],
            terminals: vec![row],
        }),
    );
    assert_eq!(s.terminals.selected, Some(3), "the cursor stays on it");
    assert_eq!(s.terminals.selected_index(s.shell.lang), 2);
    assert_eq!(selected_terminal(&s).unwrap().name, "一食堂收费机 12");
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
        edit_terminal(
            1,
            Inventory {
                name: "图书馆东门 B".into(),
                location: "Library east".into(),
                installed_at: None,
                installed_by: "David".into(),
            }
        )
    );
    // Esc cancels, even while saving; nothing else is asked for.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.terminals.edit.is_none());
    assert_eq!(message(&s), "Cancelled.");
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
        assert_eq!(message(&s), words);
        assert!(s.terminals.edit.is_none());
    }
    // The palette is no way around it.
    let mut s = on_terminals(Lang::EN, Role::DutyOperator);
    update(&mut s, key(':'));
    typed(&mut s, "terminal.edit");
    assert_eq!(update(&mut s, code(KeyCode::Enter)), vec![Effect::Bell]);
    assert!(s.shell.overlay.is_none());
    assert!(s.terminals.edit.is_none());
    // The vim preset binds it too.
    let mut v = on_terminals(Lang::EN, Role::Technician);
    v.shell.keymap = Arc::new(Keymap::preset("vim").unwrap());
    update(&mut v, key('e'));
    assert!(v.terminals.edit.is_some());
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

/// Opens the filter input, replaces its text with `text` and keeps it (enter).
fn filter_by(s: &mut State, text: &str) -> Vec<Effect> {
    let mut fx = update(s, key('/'));
    assert!(typing(s).is_some(), "/ opens the filter input");
    for _ in 0..70 {
        fx.extend(update(s, code(KeyCode::Backspace)));
    }
    fx.extend(typed(s, text));
    fx.extend(update(s, code(KeyCode::Enter)));
    assert!(typing(s).is_none(), "enter leaves the input");
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
    let (w, h) = s.shell.size;
    screen_text(&render(s, w, h))
        .lines()
        .nth(y)
        .unwrap()
        .to_string()
}

#[test]
fn the_alarms_view_filters_by_terminal_name_and_kind() {
    let mut s = alarms_view(Lang::EN);
    assert_eq!(shown_alarms(&s), vec![10, 11, 12, 13, 14]);
    assert!(update(&mut s, key('/')).is_empty());
    assert_eq!(typing(&s).as_deref(), Some(""));
    // The list narrows as the name is typed.
    assert!(typed(&mut s, "图").is_empty());
    assert_eq!(shown_alarms(&s), vec![10, 13]);
    typed(&mut s, "书馆");
    assert_eq!(s.alarms.filter.text(), "图书馆");
    assert_eq!(shown_alarms(&s), vec![10, 13]);
    let text = screen_text(&render(&mut s, 120, 30));
    assert!(
        text.contains("Alarms · 5 open · filter “图书馆” · 2 shown"),
        "{text}"
    );
    // The cursor is the reversed cell after what was typed.
    let t = render(&mut s, 120, 30);
    assert_eq!(before_cursor(&t, 28), " Filter: 图书馆");
    assert!(text.contains("图书馆东门"), "{text}");
    assert!(
        !text.contains("学生宿舍") && !text.contains("实验楼") && !text.contains("一食堂"),
        "{text}"
    );
    update(&mut s, code(KeyCode::Enter));
    assert!(typing(&s).is_none());
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
    assert_eq!(s.operators.filter.text(), "");
    let mut s = with_operators(s);
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarms.open);
    update(&mut s, key('7'));
    assert_eq!(visible_operators(&s), 6);
    filter_by(&mut s, "admin");
    assert_eq!(visible_operators(&s), 2);
    assert_eq!(s.alarms.filter.text(), "");
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
    assert!(typing(&s).is_none());
    assert_eq!(s.alarms.filter.text(), "");
    assert_eq!(shown_alarms(&s).len(), 5);
    assert!(s.alarms.open);
    // A kept filter: the first esc clears it, the next closes the view.
    filter_by(&mut s, "drift");
    assert_eq!(shown_alarms(&s), vec![12]);
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.alarms.filter.text(), "");
    assert!(s.alarms.open);
    update(&mut s, code(KeyCode::Esc));
    assert!(!s.alarms.open);
    // A filter kept when the view is closed with its key is there when it opens again.
    update(&mut s, key('a'));
    filter_by(&mut s, "drift");
    update(&mut s, key('a'));
    assert!(!s.alarms.open);
    update(&mut s, key('a'));
    assert_eq!(shown_alarms(&s), vec![12]);
    assert_eq!(s.alarms.selected, Some(12), "opened on the first shown");
}

#[test]
fn a_filtered_alarm_selection_survives_reloads() {
    let mut s = alarms_view(Lang::EN);
    update(&mut s, key('j'));
    assert_eq!(s.alarms.selected, Some(11));
    // 11 does not match: the cursor goes to the first match.
    filter_by(&mut s, "图书馆");
    assert_eq!(s.alarms.selected, Some(10));
    update(&mut s, key('j'));
    assert_eq!(s.alarms.selected, Some(13));
    update(&mut s, key('j'));
    assert_eq!(
        s.alarms.selected,
        Some(13),
        "the cursor stops at the last match"
    );
    // A narrower filter that still matches it keeps it.
    filter_by(&mut s, "东门");
    assert_eq!(s.alarms.selected, Some(13));
    // A new P1 on the same door arrives above it: the filter and the cursor stay.
    let fire = alarm(30, AlarmKind::Fire, Some("图书馆东门"), at(3, 4, 4));
    alarms_changed(&mut s, vec![30], vec![fire.clone()], vec![]);
    assert_eq!(s.alarms.filter.text(), "东门");
    assert_eq!(shown_alarms(&s), vec![30, 10, 13]);
    assert_eq!(s.alarms.selected, Some(13));
    assert_eq!(selected_alarm_index(&s), 2);
    // Notifications several times a second, then a full reload: the same.
    for _ in 0..5 {
        let mut again = some_alarms()[4].clone();
        again.note = Some("guard sent again".into());
        alarms_changed(&mut s, vec![13], vec![again], vec![]);
    }
    let mut all = some_alarms();
    all.push(fire);
    loaded_alarms(&mut s, all);
    assert_eq!(s.alarms.filter.text(), "东门");
    assert_eq!(shown_alarms(&s), vec![30, 10, 13]);
    assert_eq!(s.alarms.selected, Some(13));
    assert_eq!(
        selected_alarm(&s).unwrap().note.as_deref(),
        Some("guard sent")
    );
    // It is cleared: the cursor takes the row where it was among those shown.
    alarms_changed(&mut s, vec![13], vec![], vec![]);
    assert_eq!(s.alarms.selected, Some(10));
    // Without the filter, the cursor stays where it is.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.alarms.selected, Some(10));
    assert_eq!(selected_alarm_index(&s), 1);
}

#[test]
fn alarm_commands_act_on_the_selected_shown_alarm() {
    let mut s = alarms_view(Lang::EN);
    assert_eq!(s.alarms.selected, Some(10));
    filter_by(&mut s, "宿舍");
    assert_eq!(s.alarms.selected, Some(11));
    assert!(update(&mut s, key('A')).is_empty());
    let note = s.alarms.note.as_ref().expect("the note popup");
    assert_eq!(note.alarm_id, 11);
    assert!(note.title.contains("学生宿舍三号楼北门"), "{}", note.title);
    update(&mut s, key('2'));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        alarm_effect(alarms::Effect::Acknowledge {
            id: 11,
            note: "guard sent".into()
        })
    );
    assert_eq!(
        update(&mut s, key('t')),
        alarm_effect(alarms::Effect::Take { id: 11 })
    );
    // Nothing shown, nothing acted on, though the cursor's alarm is still open.
    filter_by(&mut s, "宿舍 x");
    assert!(shown_alarms(&s).is_empty());
    assert!(selected_alarm(&s).is_none());
    assert!(update(&mut s, key('t')).is_empty());
    assert!(update(&mut s, key('A')).is_empty());
    assert!(s.alarms.note.is_none());
    assert!(s.shell.overlay.is_none());
    assert_eq!(message(&s), "No open alarm is selected.");
    // Cleared, the cursor is back on it.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(selected_alarm(&s).map(|a| a.id), Some(11));
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
    terminals_loaded(&mut s, lines, terminals);
    assert_eq!(s.terminals.filter.text(), "收费机");
    assert_eq!(shown_terminals(&s), vec![3, 5]);
    assert_eq!(s.terminals.selected, Some(5));
    let mut t5 = site().1[4].clone();
    t5.status = "online".into();
    t5.firmware = "6.70".into();
    terminals_changed(&mut s, vec![5], vec![t5]);
    assert_eq!(s.terminals.selected, Some(5));
    assert_eq!(selected_terminal(&s).unwrap().firmware, "6.70");
    // A change that takes the selected terminal out of the filter: the row where it was.
    filter_by(&mut s, "在线");
    assert_eq!(shown_terminals(&s), vec![1, 3, 5, 4]);
    assert_eq!(s.terminals.selected, Some(5));
    let mut t5 = site().1[4].clone();
    t5.status = "offline".into();
    terminals_changed(&mut s, vec![5], vec![t5]);
    assert_eq!(shown_terminals(&s), vec![1, 3, 4]);
    assert_eq!(s.terminals.selected, Some(4));
    // Nothing matches: no headings, a muted line saying so.
    filter_by(&mut s, "zzz");
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("没有与“zzz”匹配的记录。"), "{text}");
    assert!(!text.contains('▸'), "{text}");
    // Esc clears it.
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.terminals.filter.text(), "");
    assert_eq!(shown_terminals(&s).len(), 5);
    assert_eq!(s.terminals.selected, Some(4));
}

#[test]
fn terminal_commands_act_on_the_selected_shown_terminal() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    assert_eq!(update(&mut s, key('v')), vec![trace(Some(1))]);
    // Typing narrows to a terminal on the other line: the cursor and the trace go there.
    update(&mut s, key('/'));
    assert_eq!(typed(&mut s, "后勤"), vec![trace(Some(2))]);
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(s.terminals.selected, Some(4));
    assert_eq!(
        update(&mut s, key('o')),
        vec![enqueue(4, "后勤考勤机", TerminalCommand::OnlineTest)]
    );
    // Typed into the filter, `o` is text, not a test.
    update(&mut s, key('/'));
    assert!(typed(&mut s, "o").is_empty());
    assert!(shown_terminals(&s).is_empty());
    update(&mut s, code(KeyCode::Enter));
    assert!(update(&mut s, key('o')).is_empty());
    assert!(update(&mut s, key('e')).is_empty());
    assert!(s.terminals.edit.is_none());
    assert_eq!(message(&s), "Select a terminal first.");
    // Clicking another tab while typing ends the input; the text stays the list's.
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, key('/'));
    typed(&mut s, "食堂");
    s.shell.size = (120, 30);
    let spans =
        onecard::app::layout::tab_spans(s.shell.lang, ratatui::layout::Rect::new(0, 0, 120, 1));
    let (_, x, _) = *spans
        .iter()
        .find(|(t, _, _)| *t == TabId::Operators)
        .unwrap();
    update(&mut s, click(x + 1, 0));
    assert_eq!(s.shell.tab, TabId::Operators);
    assert!(typing(&s).is_none());
    assert_eq!(s.terminals.filter.text(), "食堂");
    assert_eq!(s.operators.filter.text(), "");
}

#[test]
fn a_click_selects_the_alarm_under_it() {
    let mut s = alarms_view(Lang::EN);
    s.shell.size = (80, 24);
    // The body starts at row 2: the list's border, its header, the alarms from row 4. The live
    // pane holds four rows (to row 8); the late alarm is apart below, its pane from row 9.
    update(&mut s, click(10, 4 + 1));
    assert_eq!(s.alarms.selected, Some(11));
    // The header, the border, the late pane's border and header: nothing changes.
    for (x, y) in [(10, 3), (10, 2), (0, 5), (10, 9), (10, 10)] {
        assert!(update(&mut s, click(x, y)).is_empty());
        assert_eq!(s.alarms.selected, Some(11), "({x}, {y})");
    }
    update(&mut s, click(10, 11));
    assert_eq!(
        s.alarms.selected,
        Some(14),
        "the late alarm, in its own pane"
    );
    update(&mut s, click(10, 4 + 1));
    assert_eq!(s.alarms.selected, Some(11));
    // Filtered: the rows are the matches.
    filter_by(&mut s, "图书馆");
    update(&mut s, click(10, 4 + 1));
    assert_eq!(s.alarms.selected, Some(13));
    update(&mut s, click(10, 4 + 2));
    assert_eq!(s.alarms.selected, Some(13), "no third match");
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
    assert_eq!(selected_alarm_index(&s), 29);
    for y in [4, 6] {
        let row = screen_row(&mut s, y as usize);
        update(&mut s, click(10, y));
        let a = selected_alarm(&s).unwrap();
        let name = a.terminal_name.clone().unwrap();
        assert!(row.contains(&name), "row {y} is “{row}”, selected {name}");
        // Eight rows fit: this one is past the first page.
        assert!(
            selected_alarm_index(&s) >= 8,
            "{}",
            selected_alarm_index(&s)
        );
    }
    // Scrolled and filtered.
    filter_by(&mut s, "门 1");
    assert_eq!(shown_alarms(&s).len(), 10);
    update(&mut s, key('G'));
    let row = screen_row(&mut s, 5);
    update(&mut s, click(10, 5));
    let name = selected_alarm(&s).unwrap().terminal_name.clone().unwrap();
    assert!(row.contains(&name), "“{row}”, selected {name}");
    assert_eq!(selected_alarm_index(&s), 3, "offset 2, second row");
}

#[test]
fn a_click_selects_the_terminal_under_it_never_a_heading() {
    let mut s = on_terminals(Lang::EN, Role::Technician);
    s.shell.size = (80, 24);
    assert_eq!(update(&mut s, key('v')), vec![trace(Some(1))]);
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
    assert_eq!(update(&mut s, click(10, 4 + 5)), vec![trace(Some(2))]);
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
    terminals_loaded(&mut s, lines, terminals);
    update(&mut s, key('G'));
    assert_eq!(s.terminals.selected, Some(119));
    for y in [4, 7] {
        let row = screen_row(&mut s, y as usize);
        update(&mut s, click(10, y));
        let name = selected_terminal(&s).unwrap().name.clone();
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
        t.shell.keymap = Arc::new(Keymap::preset(preset).unwrap());
        assert!(
            hint(&mut t).contains("/ filter"),
            "{preset}: {}",
            hint(&mut t)
        );
        update(&mut t, key('a'));
        assert!(t.alarms.open);
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
    s.shell.keymap = Arc::new(remapped);
    assert!(hint(&mut s).contains("F filter") && !hint(&mut s).contains("/ filter"));
    update(&mut s, key('F'));
    assert!(typing(&s).is_some());
}

#[test]
fn snapshot_terminals_filtered_zh_80x24() {
    let mut s = on_terminals(Lang::ZH_CN, Role::Technician);
    update(&mut s, key('/'));
    typed(&mut s, "收费机");
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}
