//! The Doors tab's records sub-view driven as an operator drives it: keys into `update`, the
//! effects through the real executor against a real PostgreSQL. Queries and paging, loss
//! queries, the audited export, the pending and failed syncs, the purge; refusals in the
//! operator's language.

use crate::doors::{event_fixture, swipe};
use crate::harness::{render, screen_text, Console};
use crate::support::test_db;
use chrono::{Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::failure::Failure;
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::doors;
use onecard::app::tabs::doors::records::{self, Pane, Popup};
use onecard::app::{router, words, Effect, Msg};
use onecard::db::command::{self, CommandFailure, TerminalCommand};
use onecard::db::door::EventQuery;
use onecard::domain::permission::Action;
use onecard::domain::role::Role;
use onecard::export::BOM;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use sqlx::PgPool;
use std::sync::Arc;

fn state(lang: Lang) -> State {
    let mut s = State::new(
        Arc::new(Keymap::preset("default").unwrap()),
        lang,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    );
    s.shell.size = (160, 48);
    s
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

/// The doors fixture (25 events on two controllers, operators 1-4), and 300 more swipes of
/// 张三's card 1001 at the library's door 1 in October. Operators signed in later are numbered
/// after the fixture's.
async fn site(pool: &PgPool) -> (i64, i64) {
    let (lib, annex) = event_fixture(pool).await;
    exec(
        pool,
        "SELECT setval(pg_get_serial_sequence('operator', 'id'), 100)",
    )
    .await;
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time)
         SELECT $1, 1000 + g, 1, 'granted', true, 1001, 1, '2026-10-01 07:00:00'::timestamp + g * interval '1 minute'
         FROM generate_series(1, 300) g",
    )
    .bind(lib)
    .execute(pool)
    .await
    .unwrap();
    (lib, annex)
}

/// A console signed in with `role`, on the Doors tab's records sub-view.
async fn on_records(pool: &PgPool, lang: Lang, login: &str, role: Role) -> Console {
    let mut c = Console::sign_in(pool, state(lang), login, login, role).await;
    let fx = router::switch_tab(&mut c.state, TabId::Doors);
    c.run(fx).await;
    c.key('v').await;
    assert!(c.state.doors.showing_records);
    c
}

fn recs(c: &Console) -> &records::Records {
    &c.state.doors.records
}

fn message(c: &Console) -> String {
    c.state
        .shell
        .message
        .as_ref()
        .map(|m| m.1.clone())
        .unwrap_or_default()
}

async fn press(c: &mut Console, code: KeyCode) {
    c.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        .await;
}

async fn typed(c: &mut Console, text: &str) {
    for ch in text.chars() {
        c.key(ch).await;
    }
}

/// Clears the focused field (ctrl-u) and types `text` into it.
async fn retype(c: &mut Console, text: &str) {
    c.send(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )))
    .await;
    typed(c, text).await;
}

async fn tabs(c: &mut Console, n: usize) {
    for _ in 0..n {
        press(c, KeyCode::Tab).await;
    }
}

fn title(c: &mut Console) -> String {
    let t = render(&mut c.state, 160, 48);
    screen_text(&t)
}

fn ascii_words(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| w.len() >= 2)
}

#[tokio::test]
async fn a_query_shows_the_matching_rows_and_pages_through_them() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    let mut c = on_records(pool, Lang::EN, "security", Role::DoorAdministrator).await;
    // Entering reads the first page of everything.
    let page = recs(&c).page.clone().expect("the first page");
    assert_eq!((page.rows.len(), page.total), (200, 325));
    assert!(title(&mut c).contains("Door records · 200 of 325"));

    // 张三 by name: his 305 swipes, 200 to a page.
    c.key('F').await;
    assert!(matches!(recs(&c).popup, Some(Popup::Query(_))));
    tabs(&mut c, 2).await;
    typed(&mut c, "张三").await;
    c.enter().await;
    assert!(recs(&c).popup.is_none(), "{:?}", recs(&c).popup);
    let page = recs(&c).page.clone().unwrap();
    assert_eq!((page.rows.len(), page.total), (200, 305));
    assert!(page
        .rows
        .iter()
        .all(|e| e.person_name.as_deref() == Some("张三")));
    let screen = title(&mut c);
    assert!(screen.contains("200 of 305"), "{screen}");
    assert!(screen.contains("person 张三"), "{screen}");

    // Next page: the rest; once more: the last page says so; back: the first again.
    c.key('n').await;
    let page = recs(&c).page.clone().unwrap();
    assert_eq!((page.query.offset, page.rows.len()), (200, 105));
    assert!(title(&mut c).contains("201–305 of 305"));
    c.key('n').await;
    assert_eq!(message(&c), "This is the last page.");
    assert_eq!(recs(&c).page.as_ref().unwrap().query.offset, 200);
    c.key('b').await;
    assert_eq!(recs(&c).page.as_ref().unwrap().query.offset, 0);

    // A door by controller/number, refusals only, over a time range.
    c.key('F').await;
    tabs(&mut c, 2).await;
    retype(&mut c, "").await;
    tabs(&mut c, 3).await;
    typed(&mut c, "405419896/1").await;
    press(&mut c, KeyCode::Tab).await;
    // Events: all → openings only → refusals only.
    typed(&mut c, "  ").await;
    for _ in 0..6 {
        press(&mut c, KeyCode::BackTab).await;
    }
    retype(&mut c, "2026-11-21").await;
    press(&mut c, KeyCode::Tab).await;
    retype(&mut c, "2026-11-23").await;
    c.enter().await;
    let page = recs(&c).page.clone().unwrap();
    let q = &page.query;
    assert_eq!(
        (q.terminal_id, q.door, q.granted, q.person.clone()),
        (Some(lib), Some(1), Some(false), None)
    );
    // Li Wei's denied swipes at door 1 on the 21st, 22nd and 23rd (the end day included).
    assert_eq!(page.total, 3);
    assert!(page.rows.iter().all(|e| !e.granted && e.door == 1));

    // A door nobody named: refused in the form, in domain words; the page stays.
    c.key('F').await;
    tabs(&mut c, 5).await;
    retype(&mut c, "Nowhere").await;
    c.enter().await;
    match &recs(&c).popup {
        Some(Popup::Query(f)) => {
            assert!(!f.busy);
            let e = f.error.clone().unwrap();
            assert!(e.contains("No door is called “Nowhere”"), "{e}");
        }
        other => panic!("the form stays open: {other:?}"),
    }
    assert_eq!(recs(&c).page.as_ref().unwrap().total, 3);
    press(&mut c, KeyCode::Esc).await;
    assert!(recs(&c).popup.is_none());
}

#[tokio::test]
async fn an_older_page_answering_last_is_dropped() {
    let db = test_db().await;
    let pool = &db.pool;
    site(pool).await;
    let mut c = on_records(pool, Lang::EN, "security", Role::DoorAdministrator).await;
    let fx = router::run(&mut c.state, onecard::keymap::Command::DoorPageNext);
    assert_eq!(fx.len(), 1);
    let first = c.answers(fx).await;
    // A newer load of the first page, answered first.
    let fx = router::run(&mut c.state, onecard::keymap::Command::DoorPagePrev);
    let second = c.answers(fx).await;
    let msgs: Vec<Msg> = second.into_iter().chain(first).flatten().collect();
    c.deliver(msgs).await;
    assert_eq!(recs(&c).page.as_ref().unwrap().query.offset, 0);
}

#[tokio::test]
async fn a_loss_query_shows_only_swipes_of_cards_out_of_service() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    // 张三丰's card 1002 reported lost on 2026-11-22 at noon.
    let at = chrono::Local
        .from_local_datetime(&crate::doors::t("2026-11-22 12:00:00"))
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    sqlx::query(
        "INSERT INTO card_event (card_id, event, at, actor)
         SELECT id, 'report_lost', $1, 'cli:root' FROM card WHERE card_no = 1002",
    )
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
    let _ = lib;
    let mut c = on_records(pool, Lang::EN, "security", Role::DoorAdministrator).await;
    c.key('F').await;
    tabs(&mut c, 7).await;
    c.key(' ').await;
    c.enter().await;
    let page = recs(&c).page.clone().unwrap();
    // Its swipes on the 23rd and 24th (the 22nd's was at 08:xx, before the loss).
    assert_eq!(page.total, 2, "{:?}", page.rows);
    assert!(page
        .rows
        .iter()
        .all(|e| e.card == Some(1002) && e.card_state.as_deref() == Some("lost")));
    assert!(recs(&c).loss_query());
    let screen = title(&mut c);
    assert!(screen.contains("Loss query · 2"), "{screen}");
    assert!(screen.contains("Card state"), "{screen}");
    assert!(screen.contains("lost cards only"), "{screen}");
}

async fn exports(pool: &PgPool) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'door.export' ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_export_writes_every_page_asks_before_overwriting_and_is_audited() {
    let db = test_db().await;
    let pool = &db.pool;
    site(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campus-security.csv");
    let mut c = on_records(pool, Lang::EN, "security", Role::DoorAdministrator).await;

    // The file name offered is of now, in the working directory.
    c.key('O').await;
    match &recs(&c).popup {
        Some(Popup::Export(f)) => {
            let name = f.text(records::RecordField::Path);
            assert!(
                name.starts_with("door-events-") && name.ends_with(".csv"),
                "{name}"
            );
        }
        other => panic!("the export asks for a file: {other:?}"),
    }
    retype(&mut c, path.to_str().unwrap()).await;
    c.enter().await;
    assert!(recs(&c).popup.is_none());
    assert!(
        message(&c).starts_with("Exported 325 door records to "),
        "{}",
        message(&c)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(BOM));
    let text = String::from_utf8(bytes[BOM.len()..].to_vec()).unwrap();
    assert_eq!(text.lines().count(), 326);
    assert!(text.contains("张三"));
    assert_eq!(exports(pool).await.len(), 1);

    // Again to the same file: nothing is written until the operator says yes.
    std::fs::write(&path, "kept").unwrap();
    c.key('O').await;
    retype(&mut c, path.to_str().unwrap()).await;
    c.enter().await;
    let q = recs(&c)
        .confirming()
        .expect("asks before overwriting")
        .to_string();
    assert!(q.contains("exists already"), "{q}");
    c.key('n').await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
    assert_eq!(exports(pool).await.len(), 1);
    c.key('O').await;
    retype(&mut c, path.to_str().unwrap()).await;
    c.enter().await;
    c.key('y').await;
    assert!(message(&c).starts_with("Exported 325"), "{}", message(&c));
    assert!(std::fs::read(&path).unwrap().starts_with(BOM));
    let audit = exports(pool).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1]["rows"], 325);
    assert_eq!(audit[1]["file"], path.display().to_string());
}

#[tokio::test]
async fn a_role_without_report_export_is_refused_in_its_language() {
    let db = test_db().await;
    let pool = &db.pool;
    site(pool).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    let mut c = on_records(pool, Lang::ZH_CN, "duty2", Role::DutyOperator).await;
    // Refused before asking for a file.
    c.key('O').await;
    assert!(recs(&c).popup.is_none());
    let said = message(&c);
    assert!(
        said.contains(words::action(Lang::ZH_CN, Action::ReportExport)),
        "{said}"
    );
    assert!(!ascii_words(&said), "English in the zh-CN UI: {said}");
    // And by the database, should the effect be asked for anyway.
    let fx = vec![Effect::Doors(doors::Effect::Records(
        records::Effect::Export {
            query: EventQuery::default(),
            path: path.display().to_string(),
            overwrite: false,
        },
    ))];
    let answer = c.answers(fx).await.pop().flatten();
    let Some(Msg::Failed(f @ Failure::Denied(_))) = answer else {
        panic!("refused: {answer:?}");
    };
    let said = words::failure(Lang::ZH_CN, &f);
    assert!(!ascii_words(&said), "{said}");
    assert!(!path.exists());
    assert!(exports(pool).await.is_empty());
}

async fn aged(pool: &PgPool, terminal: i64, first: i64, n: i64, days_ago: i64) {
    sqlx::query(
        "INSERT INTO door_event (terminal_id, record_no, door, kind, granted, card, reason, terminal_time, received_at)
         SELECT $1, $2 + g, 1, 'granted', true, 1001, 1, localtimestamp, now() - $4 * interval '1 day'
         FROM generate_series(0, $3 - 1) g",
    )
    .bind(terminal)
    .bind(first)
    .bind(n)
    .bind(days_ago as f64)
    .execute(pool)
    .await
    .unwrap();
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM door_event")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_purge_previews_confirms_deletes_only_old_rows_and_forcing_asks_twice() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    aged(pool, lib, 50_000, 40, 200).await;
    aged(pool, lib, 60_000, 10, 30).await;
    assert_eq!(stored(pool).await, 375);

    // The door administrator may not purge: refused before anything is asked.
    let mut admin = on_records(pool, Lang::ZH_CN, "doors2", Role::DoorAdministrator).await;
    admin.key('U').await;
    assert!(recs(&admin).popup.is_none());
    let said = message(&admin);
    assert!(
        said.contains(words::action(Lang::ZH_CN, Action::RecordPurge)),
        "{said}"
    );
    assert!(!ascii_words(&said), "{said}");

    let mut c = on_records(pool, Lang::EN, "sys2", Role::SystemAdministrator).await;
    c.key('U').await;
    let Some(Popup::Purge(p)) = &recs(&c).popup else {
        panic!("the purge popup");
    };
    let preview = p.preview.expect("a preview");
    assert_eq!((preview.rows, preview.retention_days), (40, 92));
    assert!(!preview.inside_retention());
    assert!(
        p.form.intro[0].contains("kept 92 days"),
        "{:?}",
        p.form.intro
    );
    assert!(
        p.form.intro[1].starts_with("40 records received before"),
        "{:?}",
        p.form.intro
    );
    c.enter().await;
    let q = recs(&c).confirming().unwrap().to_string();
    assert!(q.starts_with("Delete 40 door records"), "{q}");
    c.key('y').await;
    assert!(recs(&c).popup.is_none());
    assert!(
        message(&c).starts_with("Deleted 40 door records"),
        "{}",
        message(&c)
    );
    assert_eq!(stored(pool).await, 335);

    // A cut-off inside the retention period: previewed, then asked twice.
    c.key('U').await;
    let soon = (Utc::now() + Duration::minutes(2)).with_timezone(&c.state.shell.utc_offset);
    retype(&mut c, &soon.format("%Y-%m-%d %H:%M").to_string()).await;
    c.enter().await;
    let Some(Popup::Purge(p)) = &recs(&c).popup else {
        panic!("the purge popup");
    };
    let preview = p.preview.unwrap();
    assert_eq!(preview.rows, 335);
    assert!(preview.inside_retention());
    assert!(recs(&c).confirming().is_none());
    c.enter().await;
    c.key('y').await;
    let q = recs(&c).confirming().expect("asked again").to_string();
    assert!(q.contains("inside the 92-day retention period"), "{q}");
    assert_eq!(stored(pool).await, 335);
    c.key('y').await;
    assert!(message(&c).starts_with("Deleted 335"), "{}", message(&c));
    assert_eq!(stored(pool).await, 0);
    let audit: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'door.purge' ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(
        (audit[0]["forced"].clone(), audit[1]["forced"].clone()),
        (serde_json::json!(false), serde_json::json!(true))
    );
    // The page shown was read again after the purge.
    assert_eq!(recs(&c).page.as_ref().unwrap().total, 0);
}

#[tokio::test]
async fn the_syncs_list_shows_a_failed_sync_and_why_and_follows_notifications() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    let command_id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal_command (terminal_id, command, state, started_at)
         VALUES ($1, $2, 'running', now()) RETURNING id",
    )
    .bind(lib)
    .bind(serde_json::to_value(TerminalCommand::OnlineTest).unwrap())
    .fetch_one(pool)
    .await
    .unwrap();
    exec(
        pool,
        &format!(
            "INSERT INTO card_sync (card_id, terminal_id, stance, command_id)
             SELECT id, {lib}, 'refuse', {command_id} FROM card WHERE card_no = 1002"
        ),
    )
    .await;
    let mut c = on_records(pool, Lang::ZH_CN, "security", Role::DoorAdministrator).await;
    c.key('S').await;
    assert_eq!(recs(&c).pane, Pane::Syncs);
    let rows = recs(&c).sync_rows().to_vec();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].card_no, rows[0].command_state.as_str()),
        (1002, "running")
    );

    // The controller never answers: the list follows the notification.
    command::finish(pool, command_id, &Err(CommandFailure::NoAnswer))
        .await
        .unwrap();
    c.pump_until(|m| matches!(m, Msg::Changed(ch) if !ch.command.is_empty()))
        .await;
    c.frame().await;
    let rows = recs(&c).sync_rows().to_vec();
    assert_eq!(rows[0].command_state, "failed");
    assert_eq!(rows[0].failure, Some(CommandFailure::NoAnswer));
    let screen = title(&mut c);
    let why = words::command_failure(Lang::ZH_CN, &CommandFailure::NoAnswer);
    assert!(screen.contains("待同步及同步失败的卡 · 1"), "{screen}");
    assert!(screen.contains("张三丰"), "{screen}");
    assert!(screen.contains("失败"), "{screen}");
    let start: String = why.chars().take(3).collect();
    assert!(screen.contains(&start), "{screen}");
    // Esc goes back to the records, a second Esc leaves the sub-view.
    press(&mut c, KeyCode::Esc).await;
    assert_eq!(recs(&c).pane, Pane::Events);
    press(&mut c, KeyCode::Esc).await;
    assert!(!c.state.doors.showing_records);
}

#[tokio::test]
async fn the_sub_view_renders_at_80x24_with_its_total() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    swipe(
        pool,
        lib,
        9_999,
        2,
        Some(1002),
        "denied",
        "2026-11-25 09:00:00",
    )
    .await;
    for (i, lang) in [Lang::EN, Lang::ZH_CN].into_iter().enumerate() {
        let mut c = on_records(pool, lang, &format!("viewer{i}"), Role::Director).await;
        let t = render(&mut c.state, 80, 24);
        let screen = screen_text(&t);
        let total = words::shown_of(lang, 200, 326);
        assert!(screen.contains(&total), "{screen}");
        // The loss query's extra column and a popup fit too.
        c.key('F').await;
        let t = render(&mut c.state, 80, 24);
        assert!(!screen_text(&t).is_empty());
        press(&mut c, KeyCode::Esc).await;
        c.key('S').await;
        let t = render(&mut c.state, 80, 24);
        assert!(!screen_text(&t).is_empty());
    }
}

#[tokio::test]
async fn a_running_purge_reports_its_progress_in_the_popup() {
    let db = test_db().await;
    let pool = &db.pool;
    let (lib, _) = site(pool).await;
    aged(pool, lib, 50_000, 6_000, 200).await;
    let mut c = on_records(pool, Lang::ZH_CN, "sys3", Role::SystemAdministrator).await;
    c.key('U').await;
    c.enter().await;
    // Yes: the effect is asked for, and run here with a progress reporter.
    let fx = onecard::app::update(
        &mut c.state,
        Msg::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)),
    );
    let Some(Popup::Purge(p)) = &recs(&c).popup else {
        panic!("the purge popup");
    };
    assert_eq!(p.progress, Some((0, 6_000)));
    let seen = std::sync::Mutex::new(Vec::new());
    let report = |m: Msg| seen.lock().unwrap().push(m);
    let session = c
        .state
        .shell
        .session
        .as_ref()
        .map(|s| (s.session_id, s.operator.actor()));
    let mut done = None;
    for effect in fx {
        if let Effect::Doors(_) = effect {
            done = onecard::console::execute_reporting(
                effect,
                pool,
                Lang::ZH_CN,
                session.clone(),
                &report,
            )
            .await;
        }
    }
    let progress: Vec<Msg> = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(progress.len(), 3, "{progress:?}");
    // The middle report, shown: "5,000 / 6,000" in the popup.
    c.deliver([progress[1].clone()]).await;
    let Some(Popup::Purge(p)) = &recs(&c).popup else {
        panic!("the purge popup");
    };
    assert_eq!(p.progress, Some((5_000, 6_000)));
    let screen = screen_text(&render(&mut c.state, 80, 24));
    assert!(screen.contains("5,000 / 6,000"), "{screen}");
    // Keys wait while it runs; its end closes the popup and says so.
    c.key('x').await;
    assert!(recs(&c).popup.is_some());
    c.deliver(done).await;
    assert!(recs(&c).popup.is_none());
    assert!(message(&c).contains("6,000"), "{}", message(&c));
}
