//! The console shell without I/O: `update` transitions and `TestBackend` snapshots.

use chrono::{FixedOffset, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use onecard::app::msg::DbState;
use onecard::app::state::{DbWhere, Overlay, Screen, State, Tab, ThemeName};
use onecard::app::{update, Effect, Msg};
use onecard::db::operator::{Operator, Session};
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
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
    assert!(fx.is_empty() || role == Role::Director || role == Role::SystemAdministrator);
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

fn render(s: &mut State, w: u16, h: u16) -> Terminal<TestBackend> {
    s.size = (w, h);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| onecard::ui::render(f, s)).unwrap();
    t
}

fn screen_text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            // A wide character's second cell is a hidden placeholder: leave it out.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            out.push_str(sym);
        }
        out.push('\n');
    }
    out
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
