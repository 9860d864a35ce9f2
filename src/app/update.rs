//! State transitions. No I/O: anything slow or outside becomes an `Effect`.

use super::layout;
use super::msg::{DbState, Msg};
use super::state::{Confirm, Form, FormKind, Level, Overlay, Palette, Screen, State, Tab};
use super::Effect;
use crate::db::operator::valid_login;
use crate::domain::password;
use crate::domain::permission::Action;
use crate::i18n::{tr, trf};
use crate::keymap::key::Key;
use crate::keymap::{Command, Resolution};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

/// Longest text a form field or filter takes: enough for any name, bounded against paste floods.
const MAX_INPUT: usize = 64;

pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Mouse(mouse) => on_mouse(state, mouse),
        Msg::Resize(w, h) => {
            state.size = (w, h);
            vec![]
        }
        Msg::Tick(now) => {
            state.now = now;
            vec![]
        }
        Msg::Db(db) => {
            let recovered = db == DbState::Ready && state.db != DbState::Ready;
            state.db = db;
            // Notifications may have been missed while the link was down: reload what is shown.
            if recovered && state.screen == Screen::Main {
                reload(state)
            } else {
                vec![]
            }
        }
        Msg::OperatorsExist(exist) => {
            if state.screen == Screen::Starting {
                state.screen = Screen::Form(if exist {
                    Form::login()
                } else {
                    Form::first_run()
                });
            }
            vec![]
        }
        Msg::LoggedIn(session) => {
            let must_change = session.operator.must_change_password;
            state.session = Some(super::state::SessionInfo {
                session_id: session.id,
                operator: session.operator,
            });
            state.message = None;
            if must_change {
                state.screen = Screen::Form(Form::change_password(true));
                vec![]
            } else {
                state.screen = Screen::Main;
                reload(state)
            }
        }
        Msg::LoginFailed(text) => {
            if let Screen::Form(form) = &mut state.screen {
                form.busy = false;
                form.error = Some(text);
                // Never leave a typed password on screen state after a failure.
                for f in form.fields.iter_mut().filter(|f| f.secret) {
                    f.value.clear();
                }
                form.focus = form.fields.iter().position(|f| f.secret).unwrap_or(0);
            }
            vec![]
        }
        Msg::PasswordChanged => {
            if let Some(s) = &mut state.session {
                s.operator.must_change_password = false;
            }
            state.screen = Screen::Main;
            state.message = Some((
                Level::Info,
                tr(state.lang, "msg.password_changed").to_string(),
            ));
            reload(state)
        }
        Msg::LoggedOut => {
            state.session = None;
            state.overlay = None;
            state.filter_input = None;
            state.operators.clear();
            state.audit.clear();
            state.tab = Tab::Cards;
            state.screen = Screen::Form(Form::login());
            vec![]
        }
        Msg::OperatorsLoaded(ops) => {
            state.operators = ops;
            clamp_selection(state);
            vec![]
        }
        Msg::AuditLoaded(entries) => {
            state.audit = entries;
            vec![]
        }
        Msg::Done(text) => {
            state.message = Some((Level::Info, text));
            reload(state)
        }
        Msg::Failed(text) => {
            if let Screen::Form(form) = &mut state.screen {
                if form.busy {
                    form.busy = false;
                    form.error = Some(text);
                    return vec![];
                }
            }
            state.message = Some((Level::Error, text));
            vec![Effect::Bell]
        }
    }
}

/// What the current tab shows, asked for again.
fn reload(state: &State) -> Vec<Effect> {
    match state.tab {
        Tab::Operators if state.may(Action::OperatorManage) || state.may(Action::AuditRead) => {
            vec![Effect::LoadOperators, Effect::LoadAudit]
        }
        _ => vec![],
    }
}

fn clamp_selection(state: &mut State) {
    let len = state.visible_operators().len();
    let view = &mut state.operators_view;
    view.selected = view.selected.min(len.saturating_sub(1));
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return vec![];
    }
    // The one hard-wired key: an operator can always get out.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return vec![Effect::Quit];
    }
    match state.overlay.take() {
        Some(Overlay::Confirm(confirm)) => return on_confirm_key(state, confirm, key),
        Some(Overlay::Palette(palette)) => return on_palette_key(state, palette, key),
        Some(Overlay::Help { scroll }) => {
            state.overlay = match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter => None,
                KeyCode::Down | KeyCode::Char('j') => Some(Overlay::Help {
                    scroll: scroll.saturating_add(1),
                }),
                KeyCode::Up | KeyCode::Char('k') => Some(Overlay::Help {
                    scroll: scroll.saturating_sub(1),
                }),
                _ => Some(Overlay::Help { scroll }),
            };
            return vec![];
        }
        None => {}
    }
    if let Some(text) = state.filter_input.take() {
        return on_filter_key(state, text, key);
    }
    match &mut state.screen {
        Screen::Starting => {
            if key.code == KeyCode::Esc {
                vec![Effect::Quit]
            } else {
                vec![]
            }
        }
        Screen::Form(_) => on_form_key(state, key),
        Screen::Main => on_main_key(state, key),
    }
}

fn edit_text(text: &mut String, key: &KeyEvent) -> bool {
    match key.code {
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            if text.chars().count() < MAX_INPUT {
                text.push(c);
            }
            true
        }
        KeyCode::Backspace => {
            text.pop();
            true
        }
        _ => false,
    }
}

fn on_form_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let lang = state.lang;
    let Screen::Form(form) = &mut state.screen else {
        return vec![];
    };
    if form.busy {
        return vec![];
    }
    let last = form.fields.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc => {
            return match form.kind {
                FormKind::Login | FormKind::FirstRun => vec![Effect::Quit],
                FormKind::ChangePassword { forced: true } => vec![Effect::Logout],
                FormKind::ChangePassword { forced: false } => {
                    state.screen = Screen::Main;
                    vec![]
                }
            };
        }
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1).min(last),
        KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.saturating_sub(1),
        KeyCode::Enter if form.focus < last => form.focus += 1,
        KeyCode::Enter => return submit_form(state, lang),
        _ => {
            if let Some(field) = form.fields.get_mut(form.focus) {
                if edit_text(&mut field.value, &key) {
                    form.error = None;
                }
            }
        }
    }
    vec![]
}

fn submit_form(state: &mut State, lang: crate::i18n::Lang) -> Vec<Effect> {
    let own_login = state
        .session
        .as_ref()
        .map(|s| s.operator.login.clone())
        .unwrap_or_default();
    let Screen::Form(form) = &mut state.screen else {
        return vec![];
    };
    let result: Result<Effect, String> = match form.kind {
        FormKind::Login => {
            if form.value(0).trim().is_empty() {
                Err(tr(lang, "form.error.login_empty").to_string())
            } else {
                Ok(Effect::Login {
                    login: form.value(0).trim().to_string(),
                    password: form.value(1).to_string(),
                })
            }
        }
        FormKind::FirstRun => {
            let login = form.value(0).trim();
            if !valid_login(login) {
                Err(tr(lang, "form.error.bad_login").to_string())
            } else if form.value(1).trim().is_empty() {
                Err(tr(lang, "form.error.name_empty").to_string())
            } else {
                new_password(lang, login, form.value(2), form.value(3)).map(|password| {
                    Effect::CreateFirstDirector {
                        login: login.to_string(),
                        display_name: form.value(1).trim().to_string(),
                        password,
                    }
                })
            }
        }
        FormKind::ChangePassword { .. } => {
            new_password(lang, &own_login, form.value(0), form.value(1))
                .map(|password| Effect::ChangeOwnPassword { password })
        }
    };
    match result {
        Ok(effect) => {
            form.busy = true;
            form.error = None;
            vec![effect]
        }
        Err(e) => {
            form.error = Some(e);
            vec![]
        }
    }
}

fn new_password(lang: crate::i18n::Lang, login: &str, a: &str, b: &str) -> Result<String, String> {
    if a != b {
        return Err(tr(lang, "form.error.mismatch").to_string());
    }
    password::check_policy(login, a).map_err(|e| match e {
        password::PolicyError::TooShort => trf(
            lang,
            "form.error.too_short",
            &[("n", &password::MIN_LENGTH.to_string())],
        ),
        password::PolicyError::ContainsLogin => tr(lang, "form.error.contains_login").to_string(),
        password::PolicyError::Mismatch => tr(lang, "form.error.mismatch").to_string(),
    })?;
    Ok(a.to_string())
}

fn on_filter_key(state: &mut State, mut text: String, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            state.operators_view.filter.clear();
        }
        KeyCode::Enter => {
            state.operators_view.filter = text;
        }
        _ => {
            edit_text(&mut text, &key);
            // Filter as you type.
            state.operators_view.filter = text.clone();
            state.filter_input = Some(text);
        }
    }
    state.operators_view.selected = 0;
    clamp_selection(state);
    vec![]
}

fn on_confirm_key(state: &mut State, confirm: Confirm, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => vec![confirm.effect],
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
            state.message = Some((Level::Info, tr(state.lang, "msg.cancelled").to_string()));
            vec![]
        }
        _ => {
            state.overlay = Some(Overlay::Confirm(confirm));
            vec![]
        }
    }
}

/// Commands the palette offers for `input`: prefix matches first, then substring matches.
pub fn palette_candidates(input: &str) -> Vec<Command> {
    let input = input.trim();
    let all = Command::ALL.iter().copied().filter(|c| *c != Command::Noop);
    let mut prefix: Vec<Command> = all
        .clone()
        .filter(|c| c.name().starts_with(input))
        .collect();
    let mut inner: Vec<Command> = all
        .filter(|c| !c.name().starts_with(input) && c.name().contains(input))
        .collect();
    prefix.sort_by_key(|c| c.name());
    inner.sort_by_key(|c| c.name());
    prefix.extend(inner);
    prefix
}

fn on_palette_key(state: &mut State, mut palette: Palette, key: KeyEvent) -> Vec<Effect> {
    let candidates = palette_candidates(&palette.input);
    match key.code {
        KeyCode::Esc => return vec![],
        KeyCode::Enter => {
            let exact = palette.input.trim().parse::<Command>().ok();
            return match exact.or_else(|| candidates.get(palette.selected).copied()) {
                Some(cmd) => run(state, cmd),
                None => {
                    state.message = Some((
                        Level::Error,
                        trf(
                            state.lang,
                            "msg.unknown_command",
                            &[("name", palette.input.trim())],
                        ),
                    ));
                    vec![]
                }
            };
        }
        KeyCode::Tab => {
            // Complete to the longest prefix the candidates share, or the selected one.
            if let Some(first) = candidates.get(palette.selected) {
                let common = candidates
                    .iter()
                    .filter(|c| c.name().starts_with(palette.input.trim()))
                    .map(|c| c.name())
                    .reduce(|a, b| {
                        let n = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
                        &a[..n]
                    })
                    .unwrap_or(first.name());
                palette.input = if common.len() > palette.input.trim().len() {
                    common.to_string()
                } else {
                    first.name().to_string()
                };
                palette.selected = 0;
            }
        }
        KeyCode::Down => {
            palette.selected = (palette.selected + 1).min(candidates.len().saturating_sub(1))
        }
        KeyCode::Up => palette.selected = palette.selected.saturating_sub(1),
        _ => {
            if edit_text(&mut palette.input, &key) {
                palette.selected = 0;
            }
        }
    }
    state.overlay = Some(Overlay::Palette(palette));
    vec![]
}

fn on_main_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let key = Key::from_event(&key);
    let pending = std::mem::take(&mut state.pending_keys);
    match state.keymap.resolve(state.tab.section(), &pending, key) {
        Resolution::Command(cmd) => run(state, cmd),
        Resolution::Pending(keys) => {
            state.pending_keys = keys;
            vec![]
        }
        Resolution::Unbound => vec![],
    }
}

fn denied(state: &mut State, action: Action) -> Vec<Effect> {
    let role = state
        .session
        .as_ref()
        .map(|s| tr(state.lang, &format!("role.{}", s.role().name())))
        .unwrap_or("");
    state.message = Some((
        Level::Error,
        trf(
            state.lang,
            "msg.denied",
            &[
                ("role", role),
                (
                    "action",
                    tr(state.lang, &format!("action.{}", action.name())),
                ),
            ],
        ),
    ));
    vec![Effect::Bell]
}

fn switch_tab(state: &mut State, tab: Tab) -> Vec<Effect> {
    state.tab = tab;
    state.pending_keys.clear();
    reload(state)
}

/// Runs a bound or palette command.
pub fn run(state: &mut State, cmd: Command) -> Vec<Effect> {
    state.message = None;
    let n = state.visible_operators().len();
    let page = layout::table_window(
        layout::operators_split(layout::areas(Rect::new(0, 0, state.size.0, state.size.1)).body).0,
        0,
    )
    .0;
    let move_to = |state: &mut State, to: usize| {
        state.operators_view.selected = to.min(n.saturating_sub(1));
        vec![]
    };
    match cmd {
        Command::Noop => vec![],
        Command::Quit => vec![Effect::Quit],
        Command::Help => {
            state.overlay = Some(Overlay::Help { scroll: 0 });
            vec![]
        }
        Command::Palette => {
            state.overlay = Some(Overlay::Palette(Palette {
                input: String::new(),
                selected: 0,
            }));
            vec![]
        }
        Command::Filter => {
            if state.tab == Tab::Operators {
                state.filter_input = Some(state.operators_view.filter.clone());
            } else {
                state.message = Some((Level::Info, tr(state.lang, "msg.no_table").to_string()));
            }
            vec![]
        }
        Command::Cancel => {
            state.pending_keys.clear();
            state.operators_view.filter.clear();
            vec![]
        }
        Command::Activate => vec![],
        Command::Refresh => reload(state),
        Command::Logout => vec![Effect::Logout],
        Command::PasswordChange => {
            state.screen = Screen::Form(Form::change_password(false));
            vec![]
        }
        Command::LanguageNext => {
            state.lang = state.lang.next();
            state.message = Some((Level::Info, state.lang.native_name().to_string()));
            vec![]
        }
        Command::ThemeNext => {
            state.theme = state.theme.next();
            vec![]
        }
        Command::TabNext => switch_tab(state, Tab::ALL[(state.tab.index() + 1) % Tab::ALL.len()]),
        Command::TabPrev => switch_tab(
            state,
            Tab::ALL[(state.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()],
        ),
        Command::TabCards => switch_tab(state, Tab::Cards),
        Command::TabDoors => switch_tab(state, Tab::Doors),
        Command::TabPatrol => switch_tab(state, Tab::Patrol),
        Command::TabAttendance => switch_tab(state, Tab::Attendance),
        Command::TabSettlement => switch_tab(state, Tab::Settlement),
        Command::TabTerminals => switch_tab(state, Tab::Terminals),
        Command::TabOperators => switch_tab(state, Tab::Operators),
        Command::SelectNext => move_to(state, state.operators_view.selected + 1),
        Command::SelectPrev => move_to(state, state.operators_view.selected.saturating_sub(1)),
        Command::SelectFirst => move_to(state, 0),
        Command::SelectLast => move_to(state, n.saturating_sub(1)),
        Command::PageDown => move_to(state, state.operators_view.selected + page),
        Command::PageUp => move_to(state, state.operators_view.selected.saturating_sub(page)),
        Command::OperatorUnlock | Command::OperatorResetPassword | Command::OperatorDisable => {
            if !state.may(Action::OperatorManage) {
                return denied(state, Action::OperatorManage);
            }
            if state.tab != Tab::Operators {
                return switch_tab(state, Tab::Operators);
            }
            let Some(op) = state.selected_operator() else {
                state.message = Some((
                    Level::Info,
                    tr(state.lang, "msg.nothing_selected").to_string(),
                ));
                return vec![];
            };
            let (key, effect) = match cmd {
                Command::OperatorUnlock => (
                    "confirm.unlock",
                    Effect::UnlockOperator {
                        login: op.login.clone(),
                    },
                ),
                Command::OperatorResetPassword => (
                    "confirm.reset_password",
                    Effect::ResetOperatorPassword {
                        login: op.login.clone(),
                    },
                ),
                _ => (
                    "confirm.disable",
                    Effect::DisableOperator {
                        login: op.login.clone(),
                    },
                ),
            };
            let question = trf(
                state.lang,
                key,
                &[("login", &op.login), ("name", &op.display_name)],
            );
            state.overlay = Some(Overlay::Confirm(Confirm { question, effect }));
            vec![]
        }
        Command::AuditVerify => {
            if !state.may(Action::AuditRead) {
                return denied(state, Action::AuditRead);
            }
            vec![Effect::VerifyAudit]
        }
    }
}

fn on_mouse(state: &mut State, mouse: MouseEvent) -> Vec<Effect> {
    if state.screen != Screen::Main || state.overlay.is_some() || state.is_small() {
        return vec![];
    }
    let size = Rect::new(0, 0, state.size.0, state.size.1);
    let areas = layout::areas(size);
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if mouse.row == areas.tabs.y {
                let hit = layout::tab_spans(state, areas.tabs)
                    .into_iter()
                    .find(|(_, a, b)| (*a..*b).contains(&mouse.column));
                if let Some((tab, _, _)) = hit {
                    return switch_tab(state, tab);
                }
            } else if state.tab == Tab::Operators {
                let (table, _) = layout::operators_split(areas.body);
                let len = state.visible_operators().len();
                if let Some(i) = layout::table_row_at(
                    table,
                    state.operators_view.selected,
                    len,
                    mouse.column,
                    mouse.row,
                ) {
                    state.operators_view.selected = i;
                }
            }
            vec![]
        }
        MouseEventKind::ScrollDown => run(state, Command::SelectNext),
        MouseEventKind::ScrollUp => run(state, Command::SelectPrev),
        _ => vec![],
    }
}
