//! Answers that arrive out of order. The console runs its effects concurrently, so a load asked
//! for earlier can answer after one asked for later; every load carries a generation and an
//! answer older than what is shown must not replace it. Each test asks the real effect runner
//! against a real PostgreSQL, keeps the older answer back, and hands the answers to `update`
//! newest first (`Console::answers`, `Console::deliver`).

use crate::harness::{screen_text, Console};
use crate::support::{library_door, test_db};
use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::{alarms, cards, terminals};
use onecard::app::{router, update, Effect, Msg};
use onecard::db::alarm::{self, NewAlarm};
use onecard::db::terminal::{self, Inventory};
use onecard::domain::alarm::AlarmKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::sync::Arc;

fn state() -> State {
    State::new(
        Arc::new(Keymap::preset("default").unwrap()),
        Lang::EN,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    )
}

/// The signed-in operator, as the database knows them.
fn actor(c: &Console) -> Actor {
    c.state.shell.session.as_ref().unwrap().operator.actor()
}

/// The effects `pick` chooses, and the rest.
fn split(fx: Vec<Effect>, pick: impl Fn(&Effect) -> bool) -> (Vec<Effect>, Vec<Effect>) {
    fx.into_iter().partition(pick)
}

fn answers_of(msgs: Vec<Option<Msg>>) -> Vec<Msg> {
    msgs.into_iter()
        .map(|m| m.expect("a load answers"))
        .collect()
}

fn names(c: &Console) -> Vec<String> {
    let mut v: Vec<String> = c
        .state
        .cards
        .results
        .iter()
        .map(|p| p.name.clone())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn an_older_person_search_answering_last_does_not_replace_the_newer() {
    use onecard::db::person::{self, Category, PersonFields, Status};
    let db = test_db().await;
    let pool = db.pool.clone();
    let shell = Actor::shell("root");
    person::create_department(&pool, &shell, "D01", "计算机学院", None)
        .await
        .unwrap();
    let fields = |no: &str, name: &str| PersonFields {
        person_no: no.into(),
        name: name.into(),
        department: "D01".into(),
        category: Category::Staff,
        id_document: String::new(),
        status: Status::Active,
    };
    person::add(&pool, &shell, &fields("T10003", "王芳"))
        .await
        .unwrap();
    person::add(&pool, &shell, &fields("T10009", "李娜"))
        .await
        .unwrap();
    let mut c = Console::sign_in(&pool, state(), "desk", "值班员", Role::CardDesk).await;
    c.strict = true;
    assert_eq!(names(&c), ["李娜", "王芳"]);

    // The operator types 王: the frame asks for the search. Its answer is kept back.
    c.key('王').await;
    let fx = update(&mut c.state, Msg::Frame);
    let is_search = |e: &Effect| matches!(e, Effect::Cards(cards::Effect::Search { .. }));
    let (older, rest) = split(fx, is_search);
    assert_eq!(older.len(), 1, "{older:?}");
    c.run(rest).await;
    let older = answers_of(c.answers(older).await);

    // Another desk adds 王五: the register is searched again, for the same text.
    person::add(&pool, &shell, &fields("T10005", "王五"))
        .await
        .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if !ch.person.is_empty()))
        .await;
    let fx = update(&mut c.state, Msg::Frame);
    let (newer, rest) = split(fx, is_search);
    assert_eq!(newer.len(), 1, "{newer:?}");
    c.run(rest).await;
    let newer = answers_of(c.answers(newer).await);

    // Both searches are for 王; the newer answers first, the older last.
    let query = |m: &Msg| match m {
        Msg::Cards(cards::Msg::PeopleFound { gen, query, .. }) => (*gen, query.clone()),
        other => panic!("not a search's answer: {other:?}"),
    };
    let (g_old, q_old) = query(&older[0]);
    let (g_new, q_new) = query(&newer[0]);
    assert_eq!((q_old.as_str(), q_new.as_str()), ("王", "王"));
    assert!(g_old < g_new);
    c.deliver(newer).await;
    assert_eq!(names(&c), ["王五", "王芳"]);
    c.deliver(older).await;
    assert_eq!(names(&c), ["王五", "王芳"], "the older answer is dropped");
    assert_eq!(c.state.cards.total, 2);
    let screen = screen_text(&crate::harness::render(&mut c.state, 160, 48));
    assert!(screen.contains("王五"), "{screen}");

    // An older answer to another text (the operator typed on) is dropped as well.
    c.key('芳').await;
    let fx = update(&mut c.state, Msg::Frame);
    let (typed_on, rest) = split(fx, is_search);
    c.run(rest).await;
    let typed_on = answers_of(c.answers(typed_on).await);
    c.send(Msg::Key(KeyEvent::new(
        KeyCode::Backspace,
        KeyModifiers::NONE,
    )))
    .await;
    let fx = update(&mut c.state, Msg::Frame);
    let (back, rest) = split(fx, is_search);
    c.run(rest).await;
    let back = answers_of(c.answers(back).await);
    c.deliver(back).await;
    c.deliver(typed_on).await;
    assert_eq!(c.state.cards.query(), "王");
    assert_eq!(
        names(&c),
        ["王五", "王芳"],
        "王芳's answer came for 王芳, not 王"
    );
}

/// A terminal on the line of `door`, inserted without a notification (as if announced later).
async fn quiet_terminal(pool: &PgPool, door: i64, address: i64, name: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO terminal (line_id, kind, address, name)
         SELECT line_id, 'pos', $2, $3 FROM terminal WHERE id = $1 RETURNING id",
    )
    .bind(door)
    .bind(address)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_full_terminal_list_answering_after_a_newer_reload_by_id_keeps_its_rows() {
    let db = test_db().await;
    let pool = db.pool.clone();
    let (_, tid) = library_door(&pool).await;
    let mut c = Console::sign_in(&pool, state(), "tech", "技术员", Role::Technician).await;
    c.strict = true;
    c.key('6').await;
    assert_eq!(c.state.terminals.selected, Some(tid));

    // A POS terminal appears, and the tab asks for the whole inventory: kept back. It knows
    // the POS and the door as it is now.
    let pos = quiet_terminal(&pool, tid, 7, "一食堂收费机 07").await;
    let fx = router::switch_tab(&mut c.state, TabId::Terminals);
    assert!(
        matches!(fx[..], [Effect::Terminals(terminals::Effect::Load { .. })]),
        "{fx:?}"
    );
    let full = answers_of(c.answers(fx).await);

    // Then the door is renamed: its notification asks for that one terminal, which answers.
    let mut fields = Inventory::of(c.state.terminals.terminal(tid).unwrap());
    fields.name = "图书馆东门 主入口".into();
    terminal::update_inventory(&pool, &actor(&c), tid, &fields)
        .await
        .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.terminal.contains(&tid)))
        .await;
    let fx = update(&mut c.state, Msg::Frame);
    assert!(
        matches!(&fx[..], [Effect::Terminals(terminals::Effect::LoadById { ids, .. })] if ids == &[tid]),
        "{fx:?}"
    );
    let by_id = answers_of(c.answers(fx).await);
    c.deliver(by_id).await;
    assert_eq!(
        c.state.terminals.terminal(tid).unwrap().name,
        "图书馆东门 主入口"
    );

    // The full list, asked for before, answers last: its new POS is shown, but the door keeps
    // the newer row, not the old name the full list still had.
    let Msg::Terminals(terminals::Msg::Loaded {
        terminals: rows, ..
    }) = &full[0]
    else {
        panic!("{full:?}")
    };
    assert_eq!(
        rows.iter().find(|t| t.id == tid).unwrap().name,
        "图书馆东门",
        "read before the rename"
    );
    c.deliver(full).await;
    assert_eq!(
        c.state.terminals.terminal(tid).unwrap().name,
        "图书馆东门 主入口"
    );
    assert!(c.state.terminals.terminal(pos).is_some());
    assert_eq!(c.state.terminals.selected, Some(tid), "the cursor stayed");
    let screen = screen_text(&crate::harness::render(&mut c.state, 160, 48));
    assert!(
        screen.contains("图书馆东门 主入口") && screen.contains("一食堂收费机 07"),
        "{screen}"
    );
}

fn at_door(terminal: i64, kind: AlarmKind) -> NewAlarm {
    crate::support::new_alarm(kind, Some(terminal), Some(2))
}

#[tokio::test]
async fn an_alarms_reload_answering_late_changes_nothing_newer() {
    let db = test_db().await;
    let pool = db.pool.clone();
    let (_, tid) = library_door(&pool).await;
    let forced = alarm::raise_fault(&pool, &at_door(tid, AlarmKind::ForcedOpen))
        .await
        .unwrap()
        .unwrap();
    let mut c = Console::sign_in(&pool, state(), "duty", "值班员", Role::DutyOperator).await;
    c.strict = true;
    assert_eq!(c.state.alarms.counts.of(1), 1);

    // Every open alarm is asked for again (a resync, say): kept back, forced-open active.
    let fx = alarms::load_all(&mut c.state.alarms, &mut c.state.shell)
        .into_iter()
        .map(Into::into)
        .collect();
    let late = answers_of(c.answers(fx).await);

    // Meanwhile the alarm is acknowledged and a held-open door raises a P2: both announced,
    // read by id at the next frame.
    alarm::acknowledge(&pool, &actor(&c), forced, "guard sent")
        .await
        .unwrap();
    let held = alarm::raise_fault(&pool, &at_door(tid, AlarmKind::HeldOpen))
        .await
        .unwrap()
        .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if ch.alarm.contains(&held)))
        .await;
    let fx = c.frame().await;
    assert!(
        matches!(&fx[..], [Effect::Alarms(alarms::Effect::LoadById { .. })]),
        "{fx:?}"
    );
    let state_of = |c: &Console, id: i64| {
        c.state
            .alarms
            .list
            .rows
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.state.clone())
    };
    let counts = |c: &Console| (c.state.alarms.counts.of(1), c.state.alarms.counts.of(2));
    assert_eq!(state_of(&c, forced).as_deref(), Some("acknowledged"));
    assert_eq!(state_of(&c, held).as_deref(), Some("active"));
    assert_eq!(counts(&c), (0, 1));

    // The full reload answers now, from before: forced-open still active, no held-open, P1 1.
    let Msg::Alarms(alarms::Msg::Loaded {
        alarms: rows,
        counts: old_counts,
        ..
    }) = &late[0]
    else {
        panic!("{late:?}")
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "active");
    assert!(old_counts.contains(&(1, 1)));
    let bells = c.bells;
    c.deliver(late.clone()).await;
    assert_eq!(state_of(&c, forced).as_deref(), Some("acknowledged"));
    assert_eq!(state_of(&c, held).as_deref(), Some("active"));
    assert_eq!(counts(&c), (0, 1), "the strip keeps the newer counts");
    assert_eq!(c.bells, bells);

    // A newer full reload is shown; the old answer arriving once more is dropped whole.
    c.key('r').await;
    assert_eq!(c.state.alarms.list.rows.len(), 2);
    c.deliver(late).await;
    assert_eq!(c.state.alarms.list.rows.len(), 2);
    assert_eq!(state_of(&c, forced).as_deref(), Some("acknowledged"));
    assert_eq!(counts(&c), (0, 1));
}
