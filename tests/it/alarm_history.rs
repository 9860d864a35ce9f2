//! The Alarms view's history of closed alarms, driven as an operator drives it ("g h", "/",
//! the cursor past the last row) against a real PostgreSQL; and a force-clear asked for in the
//! view, whose reason lands in the audit log.

use crate::harness::{render, screen_text, Console};
use crate::support::{library_door, test_db};
use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::state::{DbWhere, State, ThemeName};
use onecard::app::tabs::alarms::{self, HistoryFilter, PAGE};
use onecard::app::{Effect, Msg};
use onecard::db::alarm::{self, NewAlarm};
use onecard::db::door;
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::sync::Arc;

fn state(lang: Lang) -> State {
    State::new(
        Arc::new(Keymap::preset("default").unwrap()),
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    )
}

async fn code(c: &mut Console, code: KeyCode) {
    c.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        .await;
}

async fn typed(c: &mut Console, text: &str) {
    for ch in text.chars() {
        c.key(ch).await;
    }
}

async fn raise(pool: &PgPool, terminal: i64, kind: AlarmKind, door: Option<i16>) -> i64 {
    alarm::raise_fault(
        pool,
        &NewAlarm {
            kind,
            terminal_id: Some(terminal),
            door,
            card: None,
            detail: String::new(),
            late: false,
        },
    )
    .await
    .unwrap()
    .unwrap()
}

fn ids(c: &Console) -> Vec<i64> {
    c.state.alarms.history.rows.iter().map(|a| a.id).collect()
}

/// The signed-in operator, as the database knows them.
fn actor(c: &Console) -> Actor {
    c.state.shell.session.as_ref().unwrap().operator.actor()
}

/// The history's filter form: field `at` (from, to, kind, door) cleared, then `text` typed.
async fn set_field(c: &mut Console, at: usize, text: &str) {
    for _ in 0..4 {
        code(c, KeyCode::Up).await;
    }
    for _ in 0..at {
        code(c, KeyCode::Tab).await;
    }
    c.send(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )))
    .await;
    typed(c, text).await;
}

/// The kind field moved `steps` to the right.
async fn step_kind(c: &mut Console, steps: usize) {
    set_field(c, 2, "").await;
    for _ in 0..steps {
        code(c, KeyCode::Right).await;
    }
}

/// Three closed alarms (a forced-open door force-cleared with a reason, a held-open door
/// acknowledged and cleared, a terminal fault that went away) and one still open.
async fn fixture(pool: &PgPool, lib: i64, ops: &Actor) -> [i64; 4] {
    door::rename(pool, &Actor::shell("root"), lib, 2, "东门侧门", "一楼北侧")
        .await
        .unwrap();
    let forced = raise(pool, lib, AlarmKind::ForcedOpen, Some(2)).await;
    let held = raise(pool, lib, AlarmKind::HeldOpen, Some(1)).await;
    let offline = raise(pool, lib, AlarmKind::TerminalOffline, None).await;
    alarm::force_clear(pool, ops, forced, "误报：门磁故障")
        .await
        .unwrap();
    alarm::acknowledge(pool, ops, held, "guard closed it")
        .await
        .unwrap();
    alarm::clear(pool, ops, held).await.unwrap();
    alarm::clear_fault(pool, lib, AlarmKind::TerminalOffline)
        .await
        .unwrap();
    let open = raise(pool, lib, AlarmKind::Tamper, Some(3)).await;
    [forced, held, offline, open]
}

#[tokio::test]
async fn alarm_history_lists_closed_alarms_newest_first_and_filters_them() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, lib) = library_door(pool).await;
    let mut c = Console::sign_in(pool, state(Lang::EN), "duty", "值班员", Role::DutyOperator).await;
    c.strict = true;
    let [forced, held, offline, open] = fixture(pool, lib, &actor(&c)).await;

    // From a tab, "g h" opens the Alarms view on its history.
    c.key('g').await;
    c.key('h').await;
    assert!(c.state.alarms.open && c.state.alarms.history.shown);
    assert_eq!(ids(&c), vec![offline, held, forced]);
    assert_eq!(c.state.alarms.history.total, 3);
    let screen = screen_text(&render(&mut c.state, 160, 48));
    assert!(screen.contains("Alarm history · 3 closed"), "{screen}");
    assert!(
        screen.contains("东门侧门 (一楼北侧)") && screen.contains("force-cleared: 误报：门磁故障"),
        "{screen}"
    );
    assert!(
        screen.contains("图书馆东门 (Library east)") && screen.contains("cleared by itself"),
        "{screen}"
    );
    assert!(screen.contains("guard closed it"), "{screen}");
    // Closed alarms are not handled again.
    c.key('t').await;
    let said = c.state.shell.message.clone().unwrap().1;
    assert!(said.contains("closed alarms"), "{said}");

    // "/" opens the filter form: one door, by its name.
    c.key('/').await;
    assert!(c.state.alarms.history.form.is_some());
    set_field(&mut c, 3, "东门侧门").await;
    c.enter().await;
    assert!(c.state.alarms.history.form.is_none());
    assert_eq!((ids(&c), c.state.alarms.history.total), (vec![forced], 1));
    let screen = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        screen.contains("Alarm history · 1 closed · 东门侧门"),
        "{screen}"
    );

    // A door nobody has is said in the form, which stays open with what was typed.
    c.strict = false;
    c.key('/').await;
    set_field(&mut c, 3, "nowhere").await;
    c.enter().await;
    let form = c
        .state
        .alarms
        .history
        .form
        .as_ref()
        .expect("the form stays");
    assert!(!form.busy);
    assert!(form
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("No door is called “nowhere”")));
    // A bad date never reaches the database.
    set_field(&mut c, 3, "").await;
    set_field(&mut c, 0, "2026-13-01").await;
    c.enter().await;
    let form = c.state.alarms.history.form.as_ref().unwrap();
    assert!(!form.busy);
    assert!(form
        .error
        .as_deref()
        .unwrap()
        .contains("“2026-13-01” is not a date"));
    c.strict = true;

    // Kind (two steps right of "all kinds" is held open), no door, no date.
    set_field(&mut c, 0, "").await;
    step_kind(&mut c, 2).await;
    c.enter().await;
    assert_eq!((ids(&c), c.state.alarms.history.total), (vec![held], 1));
    let today = c.state.shell.today();
    c.key('/').await;
    set_field(&mut c, 0, &today.succ_opt().unwrap().to_string()).await;
    c.enter().await;
    assert_eq!((ids(&c), c.state.alarms.history.total), (vec![], 0));
    let screen = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        screen.contains("No closed alarm passes this filter."),
        "{screen}"
    );
    // The same day range up to today holds them all again, with the kind back to all.
    c.key('/').await;
    set_field(&mut c, 0, &today.to_string()).await;
    set_field(&mut c, 1, &today.to_string()).await;
    step_kind(&mut c, AlarmKind::ALL.len() - 1).await;
    c.enter().await;
    assert_eq!(
        c.state.alarms.history.filter,
        HistoryFilter {
            from: Some(today),
            to: Some(today),
            kind: None,
            door: String::new(),
        }
    );
    assert_eq!(ids(&c), vec![offline, held, forced]);

    // An alarm closed meanwhile comes to the top when the notification is read.
    alarm::force_clear(pool, &actor(&c), open, "sensor replaced")
        .await
        .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.alarm.contains(&open)))
        .await;
    c.frame().await;
    assert_eq!(ids(&c), vec![open, offline, held, forced]);

    // "g h" again: the open alarms (none left).
    c.key('g').await;
    c.key('h').await;
    assert!(!c.state.alarms.history.shown);
    assert!(c.state.alarms.list.rows.is_empty());
    // Closed on its history, the view opens on the open alarms next time.
    c.key('g').await;
    c.key('h').await;
    c.key('a').await;
    assert!(!c.state.alarms.open);
    c.key('a').await;
    assert!(c.state.alarms.open && !c.state.alarms.history.shown);
}

#[tokio::test]
async fn alarm_history_reads_a_page_at_a_time_and_drops_an_older_answer() {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, lib) = library_door(pool).await;
    let mut c = Console::sign_in(
        pool,
        state(Lang::ZH_CN),
        "duty",
        "值班员",
        Role::DutyOperator,
    )
    .await;
    c.strict = true;
    fixture(pool, lib, &actor(&c)).await;
    // PAGE + 50 more closed faults, an hour apart, older than the fixture's.
    sqlx::query(
        "INSERT INTO alarm (kind, priority, terminal_id, state, raised_at, cleared_at)
         SELECT 'comm_fault', 2, $1, 'cleared', now() - make_interval(hours => i),
                now() - make_interval(hours => i) + interval '5 minutes'
         FROM generate_series(1, $2) i",
    )
    .bind(lib)
    .bind(PAGE as i32 + 50)
    .execute(pool)
    .await
    .unwrap();
    let all = 3 + PAGE as u64 + 50;
    c.key('a').await;
    c.key('g').await;
    c.key('h').await;
    let h = &c.state.alarms.history;
    assert_eq!((h.rows.len(), h.total), (PAGE as usize, all));
    let screen = screen_text(&render(&mut c.state, 160, 48));
    assert!(
        screen.contains(&format!("报警历史 · 已关闭 200 / 共 {all} 条")),
        "{screen}"
    );
    // The cursor past the last row reads the next page, once.
    c.key('G').await;
    assert_eq!(c.state.alarms.history.selected, PAGE as usize - 1);
    c.key('j').await;
    let h = &c.state.alarms.history;
    assert_eq!(h.rows.len() as u64, all);
    let raised: Vec<_> = h.rows.iter().map(|a| a.raised_at).collect();
    assert!(raised.windows(2).all(|w| w[0] >= w[1]), "newest first");
    c.key('j').await;
    assert_eq!(c.state.alarms.history.rows.len() as u64, all);

    // Two filters asked one after the other: the older answering last is dropped.
    let sh = &mut c.state.shell;
    let h = &mut c.state.alarms.history;
    h.open_form(sh.lang);
    let older = h.on_form_key(sh, &KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    h.open_form(sh.lang);
    let form = h.form.as_mut().unwrap();
    form.focus = 2;
    form.key(&KeyEvent::new(KeyCode::Right, KeyModifiers::NONE));
    let newer = h.on_form_key(sh, &KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let lift = |fx: Vec<alarms::Effect>| fx.into_iter().map(Effect::from).collect::<Vec<_>>();
    let older = c.answers(lift(older)).await;
    let newer = c.answers(lift(newer)).await;
    c.deliver(newer.into_iter().flatten()).await;
    assert_eq!(c.state.alarms.history.total, 1);
    c.deliver(older.into_iter().flatten()).await;
    let h = &c.state.alarms.history;
    assert_eq!((h.total, h.rows.len()), (1, 1));
    assert_eq!(h.filter.kind, Some(AlarmKind::ForcedOpen));
}

#[tokio::test]
async fn alarm_force_clear_in_the_view_asks_a_reason_that_is_audited() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = library_door(pool).await;
    let forced = raise(pool, lib, AlarmKind::ForcedOpen, Some(2)).await;
    let mut c = Console::sign_in(
        pool,
        state(Lang::ZH_CN),
        "duty",
        "值班员",
        Role::DutyOperator,
    )
    .await;
    c.strict = true;
    c.key('a').await;
    c.key('C').await;
    assert!(c.state.alarms.note.as_ref().unwrap().force_clear);
    // No reason: refused on the spot, in Chinese.
    c.enter().await;
    assert!(c.state.alarms.note.is_some());
    let said = c.state.shell.message.clone().unwrap().1;
    assert!(!said.is_ascii(), "{said}");
    typed(&mut c, "门磁故障，已报修").await;
    c.enter().await;
    let (action, after): (String, serde_json::Value) = sqlx::query_as(
        "SELECT action, after FROM audit_log WHERE object_kind = 'alarm' AND object_id = $1
         ORDER BY id DESC LIMIT 1",
    )
    .bind(forced.to_string())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(action, "alarm.force-clear");
    assert_eq!(after["reason"], "门磁故障，已报修");
    // It is history now, with its reason.
    c.key('g').await;
    c.key('h').await;
    let h = &c.state.alarms.history;
    assert_eq!(h.rows[0].clear_reason.as_deref(), Some("门磁故障，已报修"));
    assert_eq!(h.rows[0].cleared_by.as_deref(), Some("duty"));
}
