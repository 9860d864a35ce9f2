//! State transitions. No I/O: anything slow or outside becomes an `Effect`.

pub mod cards;

use super::filter;
use super::layout;
use super::msg::{DbState, Msg};
use super::state::{
    Confirm, Form, FormKind, Level, NoteInput, Overlay, Palette, Screen, State, Tab, TerminalRow,
    Trace, PRESET_NOTES, TRACE_FRAMES,
};
use super::Effect;
use crate::db::alarm::Alarm;
use crate::db::command::TerminalCommand;
use crate::db::operator::valid_login;
use crate::db::terminal::{Inventory, InventoryError};
use crate::domain::alarm::AlarmKind;
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
/// Longest acknowledgement note.
const MAX_NOTE: usize = 200;
/// A trace is asked for again this often while shown (it runs for `TRACE_SECONDS`).
const TRACE_RENEW_SECS: i64 = 20;

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
            match &mut state.terminals.trace {
                Some(t) if (now - t.requested_at).num_seconds() >= TRACE_RENEW_SECS => {
                    t.requested_at = now;
                    vec![Effect::Trace {
                        line: Some(t.line_id),
                    }]
                }
                _ => vec![],
            }
        }
        Msg::Db(db) => {
            let recovered = db == DbState::Ready && state.db != DbState::Ready;
            state.db = db;
            // Notifications may have been missed while the link was down: reload what is shown.
            if recovered && state.screen == Screen::Main {
                reload_all(state)
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
                reload_all(state)
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
            reload_all(state)
        }
        Msg::LoggedOut => {
            state.session = None;
            state.overlay = None;
            state.filter_input = None;
            state.operators.clear();
            state.audit.clear();
            state.alarm = Default::default();
            state.alarms = Default::default();
            let traced = std::mem::take(&mut state.terminals).trace.is_some();
            state.cards = Default::default();
            state.pending = Default::default();
            state.tab = Tab::Cards;
            state.screen = Screen::Form(Form::login());
            if traced {
                vec![Effect::Trace { line: None }]
            } else {
                vec![]
            }
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
            cards::close_busy_form(state);
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
            // A refused save stays in its popup with what was typed.
            if cards::form_failed(state, &text) {
                return vec![];
            }
            if let Some(Overlay::Edit(form)) = &mut state.overlay {
                if form.busy {
                    form.busy = false;
                    form.error = Some(text);
                    return vec![];
                }
            }
            state.message = Some((Level::Error, text));
            vec![Effect::Bell]
        }
        Msg::Info(text) => {
            state.message = Some((Level::Info, text));
            vec![]
        }
        Msg::Frame => flush(state),
        Msg::Resync => {
            // Before sign-in nothing is shown; sign-in reads everything anyway.
            state.pending.all = state.screen == Screen::Main;
            vec![]
        }
        Msg::Changed(change) => {
            state.pending.change.merge(change);
            vec![]
        }
        Msg::Trace(frame) => {
            if let Some(t) = &mut state.terminals.trace {
                if t.line_id == frame.line {
                    t.frames.push_back(frame);
                    while t.frames.len() > TRACE_FRAMES {
                        t.frames.pop_front();
                    }
                }
            }
            vec![]
        }
        Msg::AlarmsLoaded { alarms, counts } => {
            let ring = note_new_alarms(state, &alarms);
            state.alarm.loaded = true;
            let index = state.selected_alarm_index();
            state.alarm.list = alarms;
            sort_alarms(&mut state.alarm.list);
            reselect(state, filter::List::Alarms, index);
            set_counts(state, &counts);
            bell_if(ring)
        }
        Msg::AlarmsChanged {
            ids,
            alarms,
            counts,
        } => {
            if !state.alarm.loaded {
                // The full list is on its way; it will hold these.
                return vec![];
            }
            let ring = note_new_alarms(state, &alarms);
            let index = state.selected_alarm_index();
            state.alarm.list.retain(|a| !ids.contains(&a.id));
            state
                .alarm
                .list
                .extend(alarms.into_iter().filter(|a| a.state != "cleared"));
            sort_alarms(&mut state.alarm.list);
            reselect(state, filter::List::Alarms, index);
            set_counts(state, &counts);
            bell_if(ring)
        }
        Msg::TerminalsLoaded { lines, terminals } => {
            let index = state.selected_terminal_index();
            state.terminals.lines = lines;
            state.terminals.list = terminals;
            state.terminals.loaded = true;
            sort_terminals(state);
            reselect(state, filter::List::Terminals, index)
        }
        Msg::TerminalsChanged { ids, terminals } => {
            if !state.terminals.loaded {
                return vec![];
            }
            let known_lines = terminals.iter().all(|t| state.line(t.line_id).is_some());
            if !known_lines {
                // A terminal on a line this console has not read: read the inventory again.
                return vec![Effect::LoadTerminals];
            }
            let index = state.selected_terminal_index();
            state.terminals.list.retain(|t| !ids.contains(&t.id));
            state.terminals.list.extend(terminals);
            sort_terminals(state);
            reselect(state, filter::List::Terminals, index)
        }
        Msg::CommandQueued {
            id,
            terminal_id,
            command,
        } => {
            state.terminals.awaiting.insert(id, terminal_id);
            let terminal = state
                .terminal(terminal_id)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| format!("#{terminal_id}"));
            state.message = Some((
                Level::Info,
                trf(
                    state.lang,
                    "msg.command_queued",
                    &[
                        ("command", &command_label(state.lang, &command)),
                        ("terminal", &terminal),
                    ],
                ),
            ));
            // Its outcome may have been announced before this console knew the id.
            state.pending.change.merge(crate::db::notify::Change {
                command: vec![id],
                ..Default::default()
            });
            vec![]
        }
        Msg::CommandsLoaded(rows) => {
            for row in rows {
                let finished = matches!(row.state.as_str(), "done" | "failed" | "unknown");
                if finished && state.terminals.awaiting.remove(&row.id).is_some() {
                    let terminal = state
                        .terminal(row.terminal_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_else(|| format!("#{}", row.terminal_id));
                    let text = trf(
                        state.lang,
                        "msg.command_result",
                        &[
                            ("command", &command_label(state.lang, &row.command.0)),
                            ("terminal", &terminal),
                            (
                                "state",
                                tr(state.lang, &format!("command.state.{}", row.state)),
                            ),
                            ("result", row.result.as_deref().unwrap_or("—")),
                        ],
                    );
                    let level = if row.state == "done" {
                        Level::Info
                    } else {
                        Level::Error
                    };
                    state.message = Some((level, text));
                }
                state.terminals.commands.insert(row.id, row);
            }
            vec![]
        }
        msg @ (Msg::CardPresented { .. }
        | Msg::CardLookedUp { .. }
        | Msg::CardRefsLoaded(_)
        | Msg::PeopleFound { .. }
        | Msg::PersonCardsLoaded { .. }
        | Msg::CardLoaded(_)
        | Msg::ConfirmationsLoaded { .. }
        | Msg::CardDone(_)
        | Msg::StockLoaded(_)
        | Msg::ReportLoaded(_)
        | Msg::ImportPreview { .. }
        | Msg::ImportProgress { .. }
        | Msg::ImportDone { .. }) => cards::on_msg(state, msg),
        Msg::TerminalEdited { terminal_id, name } => {
            let kind = FormKind::TerminalEdit { terminal_id };
            if matches!(&state.overlay, Some(Overlay::Edit(f)) if f.kind == kind && f.busy) {
                state.overlay = None;
            }
            state.message = Some((
                Level::Info,
                trf(state.lang, "msg.terminal_saved", &[("terminal", &name)]),
            ));
            // The row is re-read when its notification arrives, like any other change.
            vec![]
        }
    }
}

fn bell_if(ring: bool) -> Vec<Effect> {
    if ring {
        vec![Effect::Bell]
    } else {
        vec![]
    }
}

/// Whether any alarm not seen before is one that rings: P1, active, and not late (raised from
/// a record replayed after an outage). The first full list is the baseline and never rings.
fn note_new_alarms(state: &mut State, alarms: &[Alarm]) -> bool {
    let mut ring = false;
    for a in alarms {
        let new = state.alarm.seen.insert(a.id);
        if new && state.alarm.loaded && a.priority == 1 && !a.late && a.state == "active" {
            ring = true;
        }
    }
    ring
}

/// Active first, then by priority, newest first: `db::alarm::open`'s order.
fn sort_alarms(list: &mut [Alarm]) {
    list.sort_by(|a, b| {
        (a.state == "acknowledged", a.priority, b.raised_at, b.id).cmp(&(
            b.state == "acknowledged",
            b.priority,
            a.raised_at,
            a.id,
        ))
    });
}

fn set_counts(state: &mut State, counts: &[(i16, i64)]) {
    state.alarms.by_priority = (1..=3u8)
        .map(|p| {
            let n = counts
                .iter()
                .find(|(q, _)| *q == i16::from(p))
                .map_or(0, |(_, n)| *n);
            (p, u32::try_from(n).unwrap_or(u32::MAX))
        })
        .collect();
}

/// By line (in the order of `lines`), then address.
fn sort_terminals(state: &mut State) {
    let order = |line_id: i64| {
        state
            .terminals
            .lines
            .iter()
            .position(|l| l.id == line_id)
            .unwrap_or(usize::MAX)
    };
    let mut list = std::mem::take(&mut state.terminals.list);
    list.sort_by_key(|t| (order(t.line_id), t.address, t.id));
    state.terminals.list = list;
}

/// Puts a list's cursor back after its rows or its filter changed. The alarms and terminals
/// keep theirs on the same item (see `filter::keep_selection`), `index` being the shown row to
/// fall back on; the operators keep theirs by position, at `index`.
fn reselect(state: &mut State, list: filter::List, index: usize) -> Vec<Effect> {
    match list {
        filter::List::Alarms => {
            let shown: Vec<i64> = state.visible_alarms().iter().map(|a| a.id).collect();
            let sel = state.alarm.selected;
            let exists = sel.is_some_and(|id| state.alarm.list.iter().any(|a| a.id == id));
            state.alarm.selected = filter::keep_selection(sel, &shown, exists, index);
            vec![]
        }
        filter::List::Terminals => {
            let shown: Vec<i64> = state.visible_terminals().iter().map(|t| t.id).collect();
            let sel = state.terminals.selected;
            let exists = sel.is_some_and(|id| state.terminal(id).is_some());
            state.terminals.selected = filter::keep_selection(sel, &shown, exists, index);
            follow_trace(state)
        }
        filter::List::Operators => {
            state.operators_view.selected = index;
            clamp_selection(state);
            vec![]
        }
    }
}

/// Sets a list's `/` filter. The cursor stays on its item if that still matches, else goes to
/// the first match (the operators' to their first row).
fn set_filter(state: &mut State, list: filter::List, text: String) -> Vec<Effect> {
    *state.filter_mut(list) = text;
    reselect(state, list, 0)
}

/// The trace shows the selected terminal's line: when the selection moves to another line,
/// the trace moves with it.
fn follow_trace(state: &mut State) -> Vec<Effect> {
    let line = state.selected_terminal().map(|t| t.line_id);
    let now = state.now;
    match (&mut state.terminals.trace, line) {
        (Some(t), Some(line)) if t.line_id != line => {
            *t = Trace {
                line_id: line,
                frames: Default::default(),
                requested_at: now,
            };
            vec![Effect::Trace { line: Some(line) }]
        }
        _ => vec![],
    }
}

/// The words for a command to a terminal ("online test").
pub fn command_label(lang: crate::i18n::Lang, cmd: &TerminalCommand) -> String {
    let key = match cmd {
        TerminalCommand::OpenDoor { .. } => "open_door",
        TerminalCommand::SetTime => "set_time",
        TerminalCommand::ClearRecords => "clear_records",
        TerminalCommand::OnlineTest => "online_test",
        TerminalCommand::SetDoorMode { .. } => "set_door_mode",
        TerminalCommand::PushCards { .. } => "push_cards",
        TerminalCommand::RevokeCards { .. } => "revoke_cards",
        TerminalCommand::PushBlacklist { .. } => "push_blacklist",
        TerminalCommand::Extract => "extract",
        TerminalCommand::DownloadCards => "download_cards",
    };
    let label = tr(lang, &format!("command.name.{key}"));
    match cmd {
        TerminalCommand::OpenDoor { door } | TerminalCommand::SetDoorMode { door, .. } => trf(
            lang,
            "command.door",
            &[("what", label), ("door", &door.to_string())],
        ),
        _ => label.to_string(),
    }
}

/// An alarm's kind in words; an unknown kind (from a newer onecard) as stored.
pub fn alarm_kind_label(lang: crate::i18n::Lang, kind: &str) -> String {
    match AlarmKind::parse(kind) {
        Some(k) => tr(lang, &format!("alarm.kind.{}", k.name())).to_string(),
        None => kind.to_string(),
    }
}

/// A terminal's kind in words; an unknown kind as stored.
pub fn terminal_kind_label(lang: crate::i18n::Lang, kind: &str) -> String {
    catalogued(lang, "terminal.kind", kind)
}

/// A terminal's status in words; an unknown status as stored.
pub fn terminal_status_label(lang: crate::i18n::Lang, status: &str) -> String {
    catalogued(lang, "terminal.status", status)
}

fn catalogued(lang: crate::i18n::Lang, section: &str, name: &str) -> String {
    let key = format!("{section}.{name}");
    if crate::i18n::has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        name.to_string()
    }
}

/// Names an alarm in full, for confirmations and messages: "#12 P1 forced open · 图书馆东门 door 2".
pub fn alarm_name(lang: crate::i18n::Lang, a: &Alarm) -> String {
    let mut s = format!(
        "#{} P{} {}",
        a.id,
        a.priority,
        alarm_kind_label(lang, &a.kind)
    );
    if let Some(t) = &a.terminal_name {
        s.push_str(" · ");
        s.push_str(t);
    }
    if let Some(d) = a.door {
        s.push(' ');
        s.push_str(&trf(lang, "alarm.door_n", &[("door", &d.to_string())]));
    }
    s
}

/// Reloads what notifications announced since the last frame: each kind of row once, with
/// every changed id in one query, however many notifications arrived.
fn flush(state: &mut State) -> Vec<Effect> {
    let pending = std::mem::take(&mut state.pending);
    if state.screen != Screen::Main || pending.is_empty() {
        return vec![];
    }
    if pending.all {
        return reload_all(state);
    }
    let change = pending.change;
    let mut fx = Vec::new();
    if !change.alarm.is_empty() {
        fx.push(Effect::LoadAlarmsById(change.alarm.clone()));
    }
    if !change.terminal.is_empty() && state.tab == Tab::Terminals && state.terminals.loaded {
        fx.push(Effect::LoadTerminalsById(change.terminal.clone()));
    }
    let mine: Vec<i64> = change
        .command
        .iter()
        .copied()
        .filter(|id| state.terminals.awaiting.contains_key(id))
        .collect();
    if !mine.is_empty() {
        fx.push(Effect::LoadCommandsById(mine));
    }
    fx.extend(cards::flush(state, &change, pending.desk));
    fx
}

/// Everything shown, read again: after sign-in, and whenever notifications may have been lost.
/// What notifications announced so far is part of it.
fn reload_all(state: &mut State) -> Vec<Effect> {
    state.pending = Default::default();
    let mut fx = vec![Effect::LoadAlarms];
    fx.extend(reload(state));
    let mut awaiting: Vec<i64> = state.terminals.awaiting.keys().copied().collect();
    if !awaiting.is_empty() {
        awaiting.sort_unstable();
        fx.push(Effect::LoadCommandsById(awaiting));
    }
    fx
}

/// What the current tab shows, asked for again.
fn reload(state: &State) -> Vec<Effect> {
    match state.tab {
        Tab::Operators if state.may(Action::OperatorManage) || state.may(Action::AuditRead) => {
            vec![Effect::LoadOperators, Effect::LoadAudit]
        }
        Tab::Terminals => vec![Effect::LoadTerminals],
        Tab::Cards => cards::reload(state),
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
        Some(Overlay::AlarmNote(note)) => return on_note_key(state, note, key),
        Some(Overlay::Edit(form)) => return on_edit_key(state, form, key),
        Some(Overlay::CardForm(form)) => return cards::on_form_key(state, form, key),
        Some(Overlay::Import) => return cards::on_import_key(state, key),
        Some(Overlay::Pins(note)) => {
            // Shown once: dismissed, the PINs are gone from the console.
            if !matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ')) {
                state.overlay = Some(Overlay::Pins(note));
            }
            return vec![];
        }
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
        if state.tab == Tab::Cards && !state.alarm.open {
            return cards::on_search_key(state, text, key);
        }
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
    edit_text_max(text, key, MAX_INPUT)
}

fn edit_text_max(text: &mut String, key: &KeyEvent, max: usize) -> bool {
    match key.code {
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            if text.chars().count() < max {
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
                FormKind::ChangePassword { forced: false } | FormKind::TerminalEdit { .. } => {
                    state.screen = Screen::Main;
                    vec![]
                }
            };
        }
        KeyCode::Enter if form.focus < last => form.focus += 1,
        KeyCode::Enter => return submit_form(state, lang),
        _ => {
            form_edit(form, &key);
        }
    }
    vec![]
}

/// Moves between a form's fields and edits the focused one.
fn form_edit(form: &mut Form, key: &KeyEvent) {
    let last = form.fields.len().saturating_sub(1);
    match key.code {
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1).min(last),
        KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.saturating_sub(1),
        _ => {
            if let Some(field) = form.fields.get_mut(form.focus) {
                if edit_text(&mut field.value, key) {
                    form.error = None;
                }
            }
        }
    }
}

/// The edit popup: Enter saves from any field (every field is filled already), Esc cancels,
/// even while a save is on its way (its outcome then shows on the message line).
fn on_edit_key(state: &mut State, mut form: Form, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Esc {
        state.message = Some((Level::Info, tr(state.lang, "msg.cancelled").to_string()));
        return vec![];
    }
    let mut fx = vec![];
    if !form.busy {
        if key.code == KeyCode::Enter {
            fx = submit_edit(state, &mut form);
        } else {
            form_edit(&mut form, &key);
        }
    }
    state.overlay = Some(Overlay::Edit(form));
    fx
}

fn submit_edit(state: &mut State, form: &mut Form) -> Vec<Effect> {
    let FormKind::TerminalEdit { terminal_id } = form.kind else {
        return vec![];
    };
    let parsed = Inventory::parse(
        form.value(0),
        form.value(1),
        form.value(2),
        form.value(3),
        state.now,
    );
    match parsed {
        Ok(fields) => {
            form.busy = true;
            form.error = None;
            vec![Effect::EditTerminal {
                terminal_id,
                fields,
            }]
        }
        Err(e) => {
            // The cursor goes to the field at fault.
            match e {
                InventoryError::NameEmpty => form.focus = 0,
                InventoryError::BadDate(_) => form.focus = 2,
                _ => {}
            }
            form.error = Some(inventory_words(state.lang, &e));
            vec![]
        }
    }
}

/// A terminal inventory refusal in domain words.
pub fn inventory_words(lang: crate::i18n::Lang, e: &InventoryError) -> String {
    match e {
        InventoryError::NameEmpty => tr(lang, "msg.terminal_name_empty").to_string(),
        InventoryError::BadDate(text) => trf(lang, "msg.terminal_bad_date", &[("text", text)]),
        InventoryError::NotFound(id) => trf(lang, "msg.terminal_gone", &[("id", &id.to_string())]),
        InventoryError::Denied(d) => trf(
            lang,
            "msg.denied",
            &[
                ("role", tr(lang, &format!("role.{}", d.role.name()))),
                ("action", tr(lang, &format!("action.{}", d.action.name()))),
            ],
        ),
        InventoryError::Invalid(text) => text.clone(),
        InventoryError::Sql(e) => crate::error::describe_sql(e),
    }
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
        // Edited in a popup (`on_edit_key`), never on a screen of its own.
        FormKind::TerminalEdit { .. } => return vec![],
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

/// The `/` input, the same for every list it filters: the list narrows as the text is typed;
/// Enter keeps the filter and leaves the input, Esc clears the filter and leaves.
fn on_filter_key(state: &mut State, mut text: String, key: KeyEvent) -> Vec<Effect> {
    let Some(list) = state.filtered_list() else {
        return vec![];
    };
    match key.code {
        KeyCode::Esc => text.clear(),
        KeyCode::Enter => {}
        _ => {
            edit_text(&mut text, &key);
            state.filter_input = Some(text.clone());
        }
    }
    set_filter(state, list, text)
}

fn on_note_key(state: &mut State, mut note: NoteInput, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            state.message = Some((Level::Info, tr(state.lang, "msg.cancelled").to_string()));
            return vec![];
        }
        KeyCode::Enter => {
            let text = note.text.trim().to_string();
            if !text.is_empty() {
                state.message = None;
                return vec![Effect::AcknowledgeAlarm {
                    id: note.alarm_id,
                    note: text,
                }];
            }
            state.message = Some((Level::Error, tr(state.lang, "msg.note_empty").to_string()));
        }
        // A number picks a preset while nothing is typed; after that digits are text.
        KeyCode::Char(c @ '1'..='9')
            if note.text.is_empty() && key.modifiers.difference(KeyModifiers::SHIFT).is_empty() =>
        {
            if let Some(preset) = PRESET_NOTES.get(c as usize - '1' as usize) {
                note.text = tr(state.lang, preset).to_string();
            }
        }
        _ => {
            edit_text_max(&mut note.text, &key, MAX_NOTE);
        }
    }
    state.overlay = Some(Overlay::AlarmNote(note));
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

fn on_main_key(state: &mut State, event: KeyEvent) -> Vec<Effect> {
    let key = Key::from_event(&event);
    let pending = std::mem::take(&mut state.pending_keys);
    let first = pending.is_empty();
    match state.keymap.resolve(state.key_section(), &pending, key) {
        Resolution::Command(cmd) => run(state, cmd),
        Resolution::Pending(keys) => {
            state.pending_keys = keys;
            vec![]
        }
        // On the Card service tab, typing a name or a number searches the register.
        Resolution::Unbound if first && state.key_section() == crate::keymap::Section::Cards => {
            match event.code {
                KeyCode::Char(c)
                    if !c.is_control()
                        && !event
                            .modifiers
                            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    cards::start_search(state, Some(c))
                }
                _ => vec![],
            }
        }
        Resolution::Unbound => vec![],
    }
}

pub(crate) fn denied(state: &mut State, action: Action) -> Vec<Effect> {
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

pub(crate) fn switch_tab(state: &mut State, tab: Tab) -> Vec<Effect> {
    // A filter being typed belongs to the list it narrows: what was typed stays, the input ends.
    state.filter_input = None;
    state.tab = tab;
    state.alarm.open = false;
    state.pending_keys.clear();
    let mut fx = reload(state);
    // The trace belongs to the Terminals tab: leaving it stops listening.
    if tab != Tab::Terminals && state.terminals.trace.take().is_some() {
        fx.push(Effect::Trace { line: None });
    }
    fx
}

/// The list the cursor keys move in: the Alarms view's, the Terminals tab's, the Card service
/// tab's (people or report rows), or the operators'.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Focus {
    Alarms,
    Terminals,
    Desk,
    Operators,
}

fn focus(state: &State) -> Focus {
    if state.alarm.open {
        Focus::Alarms
    } else if state.tab == Tab::Terminals {
        Focus::Terminals
    } else if state.tab == Tab::Cards {
        Focus::Desk
    } else {
        Focus::Operators
    }
}

/// Moves the cursor of the focused list to row `to` (clamped).
fn select_row(state: &mut State, to: usize) -> Vec<Effect> {
    match focus(state) {
        Focus::Alarms => {
            let shown = state.visible_alarms();
            if let Some(a) = shown.get(to.min(shown.len().saturating_sub(1))) {
                state.alarm.selected = Some(a.id);
            }
            vec![]
        }
        Focus::Terminals => {
            let shown = state.visible_terminals();
            if let Some(t) = shown.get(to.min(shown.len().saturating_sub(1))) {
                state.terminals.selected = Some(t.id);
            }
            follow_trace(state)
        }
        Focus::Desk => cards::select_row(state, to),
        Focus::Operators => {
            let n = state.visible_operators().len();
            state.operators_view.selected = to.min(n.saturating_sub(1));
            vec![]
        }
    }
}

fn no_selection(state: &mut State, key: &str) -> Vec<Effect> {
    state.message = Some((Level::Info, tr(state.lang, key).to_string()));
    vec![]
}

/// The alarm commands: permission first, then the selected alarm.
fn run_alarm(state: &mut State, cmd: Command) -> Vec<Effect> {
    if !state.may(Action::AlarmAcknowledge) {
        return denied(state, Action::AlarmAcknowledge);
    }
    if !state.alarm.open {
        // From a tab, the key opens the view; the operator then picks the alarm.
        state.alarm.open = true;
        select_row(state, 0);
        return vec![];
    }
    let lang = state.lang;
    let Some(a) = state.selected_alarm().cloned() else {
        return no_selection(state, "msg.no_alarm");
    };
    let name = alarm_name(lang, &a);
    match cmd {
        Command::AlarmTake => vec![Effect::TakeAlarm { id: a.id }],
        Command::AlarmAcknowledge => {
            if a.state != "active" {
                state.message = Some((
                    Level::Info,
                    trf(lang, "msg.alarm_not_active", &[("alarm", &name)]),
                ));
                return vec![];
            }
            state.overlay = Some(Overlay::AlarmNote(NoteInput {
                alarm_id: a.id,
                title: name,
                text: String::new(),
            }));
            vec![]
        }
        Command::AlarmClear if a.state == "active" => {
            state.message = Some((
                Level::Info,
                trf(lang, "msg.alarm_acknowledge_first", &[("alarm", &name)]),
            ));
            vec![]
        }
        _ => {
            let force = cmd == Command::AlarmForceClear;
            let key = if force {
                "confirm.alarm_force_clear"
            } else {
                "confirm.alarm_clear"
            };
            state.overlay = Some(Overlay::Confirm(Confirm {
                question: trf(lang, key, &[("alarm", &name)]),
                effect: Effect::ClearAlarm { id: a.id, force },
            }));
            vec![]
        }
    }
}

/// The Terminals tab's commands: permission first, then the selected terminal.
fn run_terminal(state: &mut State, cmd: Command) -> Vec<Effect> {
    let action = match cmd {
        Command::TerminalOnlineTest => TerminalCommand::OnlineTest.action(),
        Command::TerminalSetTime => TerminalCommand::SetTime.action(),
        Command::TerminalClearRecords => TerminalCommand::ClearRecords.action(),
        Command::TerminalScanToggle | Command::TerminalEdit => Action::TerminalEdit,
        _ => Action::TerminalDiagnose,
    };
    if !state.may(action) {
        return denied(state, action);
    }
    if state.tab != Tab::Terminals || state.alarm.open {
        return switch_tab(state, Tab::Terminals);
    }
    let lang = state.lang;
    let Some(t) = state.selected_terminal() else {
        return no_selection(state, "msg.no_terminal");
    };
    let (id, line_id, in_scan) = (t.id, t.line_id, t.in_scan);
    let named = trf(
        lang,
        "terminal.named",
        &[
            ("address", &t.address.to_string()),
            ("name", &t.name),
            ("location", &t.location),
        ],
    );
    let enqueue = |command| Effect::Enqueue {
        terminal_id: id,
        command,
    };
    match cmd {
        Command::TerminalOnlineTest => vec![enqueue(TerminalCommand::OnlineTest)],
        Command::TerminalSetTime => vec![enqueue(TerminalCommand::SetTime)],
        Command::TerminalClearRecords => {
            state.overlay = Some(Overlay::Confirm(Confirm {
                question: trf(lang, "confirm.clear_records", &[("terminal", &named)]),
                effect: enqueue(TerminalCommand::ClearRecords),
            }));
            vec![]
        }
        Command::TerminalScanToggle => vec![Effect::SetInScan {
            terminal_id: id,
            in_scan: !in_scan,
        }],
        Command::TerminalEdit => {
            let form = state.terminal(id).map(Form::terminal_edit);
            state.overlay = form.map(Overlay::Edit);
            vec![]
        }
        _ => {
            if state.terminals.trace.take().is_some() {
                vec![Effect::Trace { line: None }]
            } else {
                state.terminals.trace = Some(Trace {
                    line_id,
                    frames: Default::default(),
                    requested_at: state.now,
                });
                vec![Effect::Trace {
                    line: Some(line_id),
                }]
            }
        }
    }
}

/// Runs a bound or palette command.
pub fn run(state: &mut State, cmd: Command) -> Vec<Effect> {
    state.message = None;
    let body = layout::areas(Rect::new(0, 0, state.size.0, state.size.1)).body;
    let (n, at, list) = match focus(state) {
        Focus::Alarms => (
            state.visible_alarms().len(),
            state.selected_alarm_index(),
            layout::alarms_split(body).0,
        ),
        Focus::Terminals => (
            state.visible_terminals().len(),
            state.selected_terminal_index(),
            layout::terminals_split(body).0,
        ),
        Focus::Desk => {
            let (n, at) = cards::cursor(state);
            let list = match state.cards.view {
                super::cards::DeskView::Reports => layout::reports_split(body).1,
                _ => layout::cards_split(body).1,
            };
            (n, at, list)
        }
        Focus::Operators => (
            state.visible_operators().len(),
            state.operators_view.selected,
            layout::operators_split(body).0,
        ),
    };
    let page = layout::table_window(list, 0).0;
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
            if state.tab == Tab::Cards && !state.alarm.open {
                return cards::start_search(state, None);
            }
            match state.filtered_list() {
                Some(list) => state.filter_input = Some(state.filter(list).to_string()),
                None => {
                    state.message = Some((Level::Info, tr(state.lang, "msg.no_table").to_string()));
                }
            }
            vec![]
        }
        Command::Cancel => {
            if state.tab == Tab::Cards && !state.alarm.open {
                cards::cancel(state);
            }
            state.pending_keys.clear();
            // A filter is cleared first; in the Alarms view the next Esc closes the view.
            if let Some(list) = state.filtered_list() {
                if !state.filter(list).is_empty() {
                    return set_filter(state, list, String::new());
                }
            }
            state.alarm.open = false;
            vec![]
        }
        Command::Activate if state.tab == Tab::Cards && !state.alarm.open => cards::activate(state),
        Command::Activate => vec![],
        Command::Refresh => reload_all(state),
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
        Command::SelectNext => select_row(state, at + 1),
        Command::SelectPrev => select_row(state, at.saturating_sub(1)),
        Command::SelectFirst => select_row(state, 0),
        Command::SelectLast => select_row(state, n.saturating_sub(1)),
        Command::PageDown => select_row(state, at + page),
        Command::PageUp => select_row(state, at.saturating_sub(page)),
        Command::Alarms => {
            state.alarm.open = !state.alarm.open;
            // Opened, the cursor starts on the most urgent alarm (that the filter shows).
            if state.alarm.open {
                select_row(state, 0);
            }
            vec![]
        }
        Command::AlarmTake
        | Command::AlarmAcknowledge
        | Command::AlarmClear
        | Command::AlarmForceClear => run_alarm(state, cmd),
        Command::TerminalOnlineTest
        | Command::TerminalSetTime
        | Command::TerminalClearRecords
        | Command::TerminalScanToggle
        | Command::TerminalEdit
        | Command::TerminalTrace => run_terminal(state, cmd),
        Command::OperatorUnlock | Command::OperatorResetPassword | Command::OperatorDisable => {
            if !state.may(Action::OperatorManage) {
                return denied(state, Action::OperatorManage);
            }
            if state.tab != Tab::Operators || state.alarm.open {
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
        Command::DeskView
        | Command::CardNumber
        | Command::CardIssue
        | Command::CardRewrite
        | Command::CardReportLost
        | Command::CardReportFound
        | Command::CardReissue
        | Command::CardExchange
        | Command::CardReturn
        | Command::CardCancel
        | Command::CardExtend
        | Command::CardExtendBatch
        | Command::CardPinChange
        | Command::CardPinReset
        | Command::CardLimits
        | Command::CardTopUp
        | Command::CardResend
        | Command::PersonImport
        | Command::StockReceive
        | Command::StockSpoil
        | Command::StockCount
        | Command::ReportFilter
        | Command::ReportExport
        | Command::DeskPresentBlank
        | Command::DeskPresentCard => cards::run(state, cmd),
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
            } else if state.alarm.open {
                let (list, _) = layout::alarms_split(areas.body);
                let len = state.visible_alarms().len();
                let at = state.selected_alarm_index();
                if let Some(i) = layout::table_row_at(list, at, len, mouse.column, mouse.row) {
                    return select_row(state, i);
                }
            } else if state.tab == Tab::Terminals {
                let (list, _, _) = layout::terminals_split(areas.body);
                let rows = state.terminal_rows();
                let at = state.selected_terminal_row();
                let hit = layout::table_row_at(list, at, rows.len(), mouse.column, mouse.row)
                    .and_then(|i| match rows[i] {
                        TerminalRow::Terminal(t) => Some(t.id),
                        // A line's heading is no terminal to select.
                        TerminalRow::Line(..) => None,
                    });
                if let Some(id) = hit {
                    state.terminals.selected = Some(id);
                    return follow_trace(state);
                }
            } else if state.tab == Tab::Cards
                && !state.alarm.open
                && state.cards.view == super::cards::DeskView::People
            {
                let (_, people, _) = layout::cards_split(areas.body);
                let len = state.cards.results.len();
                let at = state.cards.selected_index();
                if let Some(i) = layout::table_row_at(people, at, len, mouse.column, mouse.row) {
                    return cards::select_row(state, i);
                }
            } else if state.tab == Tab::Operators && !state.alarm.open {
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
