//! The Patrol tab against a real database: the live map at a frozen "now" with checkpoints in
//! every live state, drawn on a text plan and on a PNG in half blocks (snapshots at 80x24 and
//! 160x48); the edit mode moving a checkpoint by keys and by a mouse drag (stored and audited);
//! an exception closed with a comment from the tab; a refusal shown in Chinese.

use crate::harness::{render, screen_text, Console};
use crate::support::test_db;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use onecard::app::msg::DbState;
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::patrol::lists::OmissionField;
use onecard::app::tabs::patrol::setup::List;
use onecard::app::tabs::patrol::{Pane, Popup, PurgeField};
use onecard::app::Msg;
use onecard::db::ingest::{store_scans, ScanRow};
use onecard::db::patrol::live::LiveState;
use onecard::db::patrol::VisitClass;
use onecard::db::patrol::{
    exceptions, setup, watch, Checkpoint, Guard, MapKind, Route, RoutePoint, Schedule,
};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use ratatui::layout::Rect;
use sqlx::PgPool;
use std::sync::Arc;

/// 11:27:12 in Shanghai on 2026-11-22.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 27, 12).unwrap()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

const PLAN: &str = "\
┌────────────────┬──────────────┐
│ 图书馆         │ 第一食堂     │
│                │              │
├───────┬────────┴──────┬───────┤
│ 宿舍  │    操场       │ 校门  │
│       │               │       │
└───────┴───────────────┴───────┘";

/// A 40 × 20 picture: sky blue above, grass green below, a grey road down the middle.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 20, |x, y| {
        if (18..22).contains(&x) {
            image::Rgb([128, 128, 128])
        } else if y < 10 {
            image::Rgb([80, 160, 240])
        } else {
            image::Rgb([60, 170, 60])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

struct Site {
    text_map: i64,
    png_map: i64,
}

/// Two maps, eight checkpoints, two routes, a guard and two schedules, and the scans that put
/// the checkpoints, at [`now`], on time (101), overdue (102), early (103), due soon (104),
/// waiting (105), late (106), missed (107) and idle (108).
async fn site(pool: &PgPool) -> Site {
    sqlx::query("INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'test')
                  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        .execute(pool)
        .await
        .unwrap();
    let root = Actor::shell("root");
    let text_map = setup::create_map(
        pool,
        &root,
        "校园总图",
        MapKind::Text { plan: PLAN.into() },
        2.0,
    )
    .await
    .unwrap();
    let png_map = setup::create_map(pool, &root, "北区航拍", MapKind::Png { image: png() }, 1.0)
        .await
        .unwrap();
    let points = [
        (101, "图书馆东门", (text_map, 3.0, 2.0)),
        (102, "第一食堂", (text_map, 20.0, 2.0)),
        (103, "操场北", (text_map, 12.0, 5.0)),
        (104, "校门岗亭", (text_map, 27.0, 5.0)),
        (105, "宿舍三号楼", (text_map, 3.0, 5.0)),
        (106, "北区路口", (png_map, 20.0, 4.0)),
        (107, "北区草坪", (png_map, 8.0, 15.0)),
        (108, "锅炉房", (png_map, 33.0, 15.0)),
    ];
    for (tag, name, place) in points {
        setup::save_checkpoint(
            pool,
            &root,
            &Checkpoint {
                tag,
                name: name.into(),
                location: String::new(),
                place: Some(place),
                early_s: None,
                late_s: None,
            },
        )
        .await
        .unwrap();
    }
    let guard = setup::save_guard(
        pool,
        &root,
        &Guard {
            id: 0,
            card: 8165537,
            name: "张伟".into(),
            group_id: None,
        },
    )
    .await
    .unwrap();
    let point = |tag, min| RoutePoint {
        checkpoint_tag: tag,
        offset_s: min * 60,
    };
    let north = setup::save_route(
        pool,
        &root,
        &Route::new(
            "北区夜巡",
            vec![
                point(101, 0),
                point(106, 5),
                point(102, 10),
                point(103, 20),
                point(104, 30),
                point(105, 40),
            ],
        ),
    )
    .await
    .unwrap();
    let south = setup::save_route(pool, &root, &Route::new("南区巡逻", vec![point(107, 0)]))
        .await
        .unwrap();
    for (route, start) in [(north, hm(11, 0)), (south, hm(10, 30))] {
        setup::save_schedule(
            pool,
            &root,
            &Schedule {
                id: 0,
                route_id: route,
                guard_id: Some(guard),
                group_id: None,
                shift: "白班".into(),
                dow_mask: 127,
                first_start: start,
                last_start: start,
                every_min: 60,
                valid_from: day(),
                valid_to: Some(day()),
            },
        )
        .await
        .unwrap();
    }
    let reader: i64 = sqlx::query_scalar(
        "WITH l AS (INSERT INTO line (name, protocol, transport, address)
                    VALUES ('巡更总线', 'native', 'tcp', '127.0.0.1:1') RETURNING id)
         INSERT INTO terminal (line_id, kind, address, name)
         SELECT id, 'patrol_reader', 1, '北区巡更器' FROM l RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let scan = |record_no, tag, h, m| ScanRow {
        record_no,
        guard_card: 8165537,
        checkpoint_tag: tag,
        event: 0,
        terminal_time: Some(day().and_time(hm(h, m))),
    };
    store_scans(
        pool,
        reader,
        &[
            scan(1, 101, 11, 1),
            scan(2, 103, 11, 12),
            scan(3, 106, 11, 14),
        ],
        None,
    )
    .await
    .unwrap();
    // The sweep `serve` runs: the south round's missed visit becomes an exception.
    watch::tick(pool, now()).await.unwrap();
    Site { text_map, png_map }
}

fn state(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let mut s = State::new(keymap, lang, ThemeName::Default, DbWhere::Embedded, now());
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s.shell.db = DbState::Ready;
    s
}

async fn console(pool: &PgPool, lang: Lang) -> Console {
    console_as(pool, lang, Role::DutyOperator).await
}

async fn console_as(pool: &PgPool, lang: Lang, role: Role) -> Console {
    let mut c = Console::sign_in(pool, state(lang), "duty", "值班员", role).await;
    c.strict = true;
    c.key('3').await;
    assert_eq!(c.state.shell.tab, TabId::Patrol);
    c
}

/// Shows the map `id` (`n` cycles the maps).
async fn show_map(c: &mut Console, id: i64) {
    for _ in 0..3 {
        if c.state.patrol.map.map_id() == Some(id) {
            return;
        }
        c.key('n').await;
    }
    panic!("map {id} not shown");
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

async fn mouse(c: &mut Console, kind: MouseEventKind, column: u16, row: u16) {
    c.send(Msg::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }))
    .await;
}

fn text(c: &mut Console, w: u16, h: u16) -> String {
    screen_text(&render(&mut c.state, w, h))
}

async fn place_of(pool: &PgPool, tag: i64) -> (Option<i64>, Option<f32>, Option<f32>) {
    sqlx::query_as("SELECT map_id, x, y FROM checkpoint WHERE tag = $1")
        .bind(tag)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn place_audits(pool: &PgPool, tag: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'patrol.checkpoint.place' AND object_id = $1",
    )
    .bind(tag.to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn live_states_and_map_snapshots() {
    let db = test_db().await;
    let site = site(&db.pool).await;
    let mut c = console(&db.pool, Lang::ZH_CN).await;
    let states: Vec<(i64, LiveState)> = c
        .state
        .patrol
        .map
        .live
        .iter()
        .map(|x| (x.tag, x.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (101, LiveState::OnTime),
            (102, LiveState::Overdue),
            (103, LiveState::Early),
            (104, LiveState::DueSoon),
            (105, LiveState::Waiting),
            (106, LiveState::Late),
            (107, LiveState::Missed),
            (108, LiveState::Idle),
        ]
    );
    // The late timer of 102: its window closed at 11:15:00.
    let overdue = c
        .state
        .patrol
        .map
        .live
        .iter()
        .find(|x| x.tag == 102)
        .unwrap();
    assert_eq!(
        overdue.overdue_by(now()).unwrap().num_seconds(),
        12 * 60 + 12
    );

    show_map(&mut c, site.text_map).await;
    let small = text(&mut c, 80, 24);
    assert!(small.contains("+12:12"), "{small}");
    assert!(small.contains("图书馆"), "{small}");
    insta::assert_snapshot!("patrol_text_map_zh_80x24", small);
    insta::assert_snapshot!("patrol_text_map_zh_160x48", text(&mut c, 160, 48));

    show_map(&mut c, site.png_map).await;
    let t = render(&mut c.state, 80, 24);
    let screen = screen_text(&t);
    assert!(screen.contains('▀'), "{screen}");
    // A half block's upper half is the sky, its lower half the sky too, at the top left.
    let body = onecard::app::layout::areas(Rect::new(0, 0, 80, 24)).body;
    let plan = onecard::app::tabs::patrol::map::split(body).plan;
    let cell = &t.backend().buffer()[(plan.x, plan.y)];
    assert_eq!(cell.symbol(), "▀");
    assert_eq!(cell.fg, ratatui::style::Color::Rgb(80, 160, 240));
    insta::assert_snapshot!("patrol_png_map_zh_80x24", screen);
    insta::assert_snapshot!("patrol_png_map_zh_160x48", text(&mut c, 160, 48));
}

#[tokio::test]
async fn edit_mode_moves_a_checkpoint_by_keys_and_by_mouse_drag() {
    let db = test_db().await;
    let site = site(&db.pool).await;
    let mut c = console(&db.pool, Lang::EN).await;
    c.state.shell.size = (160, 48);
    show_map(&mut c, site.text_map).await;
    c.key('e').await;
    assert!(c.state.patrol.map.editing);
    // The first checkpoint on this map is 101, at (3, 2).
    c.key('g').await;
    c.key('g').await;
    assert_eq!(c.state.patrol.map.selected, Some(101));
    code(&mut c, KeyCode::Right).await;
    code(&mut c, KeyCode::Right).await;
    code(&mut c, KeyCode::Down).await;
    // Nothing is stored until enter.
    assert_eq!(
        place_of(&db.pool, 101).await,
        (Some(site.text_map), Some(3.0), Some(2.0))
    );
    code(&mut c, KeyCode::Enter).await;
    assert_eq!(
        place_of(&db.pool, 101).await,
        (Some(site.text_map), Some(5.0), Some(3.0))
    );
    assert_eq!(place_audits(&db.pool, 101).await, 1);
    assert_eq!(c.state.patrol.map.moving, None);

    // A drag of 103 from its cell to five columns right and one row down.
    let body = onecard::app::layout::areas(Rect::new(0, 0, 160, 48)).body;
    let g = c.state.patrol.geometry(body).unwrap();
    let (x0, y0) = g.cell(12.0, 5.0).unwrap();
    mouse(&mut c, MouseEventKind::Down(MouseButton::Left), x0, y0).await;
    assert_eq!(c.state.patrol.map.selected, Some(103));
    mouse(&mut c, MouseEventKind::Drag(MouseButton::Left), x0 + 3, y0).await;
    mouse(
        &mut c,
        MouseEventKind::Drag(MouseButton::Left),
        x0 + 5,
        y0 + 1,
    )
    .await;
    mouse(
        &mut c,
        MouseEventKind::Up(MouseButton::Left),
        x0 + 5,
        y0 + 1,
    )
    .await;
    assert_eq!(
        place_of(&db.pool, 103).await,
        (Some(site.text_map), Some(17.0), Some(6.0))
    );
    assert_eq!(place_audits(&db.pool, 103).await, 1);

    // On the PNG, a drag lands on the pixel under the cell's middle.
    show_map(&mut c, site.png_map).await;
    let g = c.state.patrol.geometry(body).unwrap();
    let (x0, y0) = g.cell(8.0, 15.0).unwrap();
    mouse(&mut c, MouseEventKind::Down(MouseButton::Left), x0, y0).await;
    assert_eq!(c.state.patrol.map.selected, Some(107));
    mouse(
        &mut c,
        MouseEventKind::Up(MouseButton::Left),
        x0 + 4,
        y0 - 2,
    )
    .await;
    let (px, py) = g.place(x0 + 4, y0 - 2, 40.0, 20.0);
    assert_eq!(
        place_of(&db.pool, 107).await,
        (Some(site.png_map), Some(px), Some(py))
    );
    assert_ne!((px, py), (8.0, 15.0));

    // Taken off the map, and placed again in its middle.
    c.key('p').await;
    assert_eq!(place_of(&db.pool, 107).await, (None, None, None));
    c.key('p').await;
    assert_eq!(
        place_of(&db.pool, 107).await,
        (Some(site.png_map), Some(20.0), Some(10.0))
    );
    assert_eq!(place_audits(&db.pool, 107).await, 3);
}

#[tokio::test]
async fn an_exception_is_closed_with_a_comment_and_who_closed_it_is_recorded() {
    let db = test_db().await;
    site(&db.pool).await;
    let mut c = console(&db.pool, Lang::ZH_CN).await;
    c.key('x').await;
    assert_eq!(c.state.patrol.pane, Pane::Exceptions);
    assert_eq!(c.state.patrol.exceptions.open.len(), 1);
    assert_eq!(c.state.patrol.exceptions.open[0].checkpoint_tag, 107);
    let screen = text(&mut c, 80, 24);
    assert!(screen.contains("漏巡"), "{screen}");
    c.key('v').await;
    assert!(matches!(c.state.patrol.popup, Some(Popup::Close { .. })));
    typed(&mut c, "对讲机联系，张伟在锅炉房处理漏水").await;
    c.enter().await;
    assert_eq!(c.state.patrol.popup, None);
    let open = exceptions::open(&db.pool, 10).await.unwrap();
    assert!(open.is_empty());
    let all = exceptions::between(&db.pool, now() - chrono::Duration::days(1), now())
        .await
        .unwrap();
    let closed = all.iter().find(|e| e.checkpoint_tag == 107).unwrap();
    assert_eq!(closed.closed_by.as_deref(), Some("duty"));
    assert_eq!(
        closed.comment.as_deref(),
        Some("对讲机联系，张伟在锅炉房处理漏水")
    );
    // The tab shows it in the history, with who closed it.
    assert_eq!(c.state.patrol.exceptions.history.len(), 1);
    let screen = text(&mut c, 160, 48);
    assert!(screen.contains("duty"), "{screen}");
    assert!(screen.contains("对讲机联系"), "{screen}");
}

#[tokio::test]
async fn a_duplicate_route_name_is_refused_in_chinese() {
    let db = test_db().await;
    site(&db.pool).await;
    let mut c = console(&db.pool, Lang::ZH_CN).await;
    c.strict = false;
    c.key('s').await;
    assert_eq!(c.state.patrol.pane, Pane::Setup);
    c.key('n').await;
    assert_eq!(c.state.patrol.setup.data.routes.len(), 2);
    c.key('i').await;
    typed(&mut c, "北区夜巡").await;
    code(&mut c, KeyCode::Tab).await;
    typed(&mut c, "101:0, 102:5").await;
    c.enter().await;
    let Some(Popup::Setup(f)) = &c.state.patrol.popup else {
        panic!("the form stays open");
    };
    let error = f.form.error.clone().expect("a refusal");
    assert_eq!(error, "已有名为 北区夜巡 的路线。");
    let screen = text(&mut c, 80, 24);
    assert!(screen.contains("已有名为 北区夜巡 的路线"), "{screen}");
    // No English reaches the form.
    let english = error
        .split(|ch: char| !ch.is_ascii_alphabetic())
        .any(|w| w.len() >= 4);
    assert!(!english, "{error}");
    // A bad checkpoint list is caught before the database, in Chinese too.
    c.esc().await;
    c.key('i').await;
    typed(&mut c, "东区巡逻").await;
    code(&mut c, KeyCode::Tab).await;
    typed(&mut c, "101-0").await;
    c.enter().await;
    let Some(Popup::Setup(f)) = &c.state.patrol.popup else {
        panic!("the form stays open");
    };
    assert_eq!(
        f.form.error.as_deref(),
        Some("巡更点格式为 编号:分钟，以逗号分隔：101:0, 102:5。")
    );
}

#[tokio::test]
async fn the_report_its_csv_the_readers_and_a_purge() {
    let db = test_db().await;
    site(&db.pool).await;
    let mut c = console_as(&db.pool, Lang::EN, Role::Director).await;

    // The omission report over the last 24 hours: the north round's six visits and the south
    // round's one.
    c.key('o').await;
    let report = c.state.patrol.omissions.report.clone().expect("a report");
    assert_eq!(report.visits.len(), 7);
    let missed = report
        .visits
        .iter()
        .filter(|v| v.class == VisitClass::Missed)
        .count();
    assert_eq!(missed, 1);
    let screen = text(&mut c, 80, 24);
    assert!(screen.contains("Totals by guard"), "{screen}");
    assert!(
        screen.contains("7 due · 1 on time · 1 early · 1 late · 1 missed"),
        "{screen}"
    );
    c.key('n').await;
    assert!(text(&mut c, 160, 48).contains("Totals by route"));

    // Its due visits to CSV, one row each, with a byte-order mark.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("漏巡.csv");
    c.key('O').await;
    if let Some(Popup::Export(f)) = &mut c.state.patrol.popup {
        f.set_text(OmissionField::Path, path.to_str().unwrap());
    }
    c.enter().await;
    assert_eq!(c.state.patrol.popup, None);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "guard,route,checkpoint,due,window_start,window_end,scanned_at,class"
    );
    assert_eq!(lines.len(), 8);
    // Times in the console's local time, as every export writes them.
    let due = onecard::export::local_time(Utc.with_ymd_and_hms(2026, 11, 22, 2, 30, 0).unwrap());
    assert!(
        csv.contains(&format!("张伟,南区巡逻,107 北区草坪,{due},")),
        "{csv}"
    );
    assert!(lines[1].ends_with(",missed"), "{csv}");

    // The readers: the table download goes through the queue.
    c.key('s').await;
    while c.state.patrol.setup.list != List::Readers {
        c.key('n').await;
    }
    assert_eq!(c.state.patrol.setup.data.readers.len(), 1);
    let reader = c.state.patrol.setup.data.readers[0].id;
    let screen = text(&mut c, 80, 24);
    assert!(screen.contains("北区巡更器"), "{screen}");
    assert!(screen.contains("w download"), "{screen}");
    c.key('w').await;
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM terminal_command WHERE terminal_id = $1")
            .bind(reader)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(queued, 1);

    // A purge before the next day: previewed, confirmed, done.
    c.key('U').await;
    if let Some(Popup::Purge(v)) = &mut c.state.patrol.popup {
        v.form.set_text(PurgeField::Before, "2026-11-23");
    }
    c.enter().await;
    let Some(Popup::Purge(v)) = &c.state.patrol.popup else {
        panic!("the purge popup stays for the question");
    };
    assert_eq!(v.preview.map(|p| p.scans), Some(3));
    assert!(c.state.patrol.confirm.is_some());
    c.key('y').await;
    assert_eq!(c.state.patrol.popup, None);
    let scans: i64 = sqlx::query_scalar("SELECT count(*) FROM patrol_scan")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(scans, 0);
}

#[tokio::test]
async fn maps_are_added_from_files_and_deleted_and_bad_files_are_said_in_chinese() {
    let db = test_db().await;
    let site = site(&db.pool).await;
    let mut c = console(&db.pool, Lang::ZH_CN).await;
    c.strict = false;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("三号楼.txt");
    std::fs::write(&plan, "┌──────┐\n│ 三号楼 │\n└──────┘\n").unwrap();
    let picture = dir.path().join("航拍.png");
    std::fs::write(&picture, png()).unwrap();
    let junk = dir.path().join("乱码.bin");
    std::fs::write(&junk, [0xff, 0xfe, 0x00, 0x81]).unwrap();
    let missing = dir.path().join("没有.txt");

    c.key('e').await;
    for (name, path, refusal) in [
        ("三号楼", plan, None),
        ("航拍二", picture, None),
        ("乱码", junk, Some("既不是本控制台可读的文本平面图")),
        ("没有", missing.clone(), Some("无法读取")),
    ] {
        c.key('i').await;
        typed(&mut c, name).await;
        code(&mut c, KeyCode::Tab).await;
        typed(&mut c, path.to_str().unwrap()).await;
        c.enter().await;
        match refusal {
            None => assert_eq!(c.state.patrol.popup, None, "{name}"),
            Some(words) => {
                let Some(Popup::AddMap(f)) = &c.state.patrol.popup else {
                    panic!("the form stays open for {name}");
                };
                let error = f.error.clone().unwrap_or_default();
                assert!(error.contains(words), "{error}");
                c.esc().await;
            }
        }
    }
    let maps = setup::maps(&db.pool).await.unwrap();
    let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(maps.len(), 4, "{names:?}");
    let added = maps.iter().find(|m| m.name == "三号楼").unwrap();
    assert_eq!((added.width, added.height), (10, 3));
    assert!(matches!(
        maps.iter().find(|m| m.name == "航拍二").unwrap().kind,
        MapKind::Png { .. }
    ));

    // The map shown is deleted once confirmed; its checkpoints stay, no longer placed.
    show_map(&mut c, site.png_map).await;
    c.key('d').await;
    let question = c.state.patrol.confirm.as_ref().unwrap().question.clone();
    assert!(question.contains("北区航拍"), "{question}");
    c.key('y').await;
    assert_eq!(setup::maps(&db.pool).await.unwrap().len(), 3);
    assert_eq!(place_of(&db.pool, 106).await, (None, None, None));
}

#[tokio::test]
async fn a_scan_arriving_is_shown_on_the_live_map() {
    let db = test_db().await;
    site(&db.pool).await;
    let mut c = console(&db.pool, Lang::EN).await;
    let state_of = |c: &Console, tag: i64| {
        c.state
            .patrol
            .map
            .live
            .iter()
            .find(|x| x.tag == tag)
            .map(|x| x.state)
    };
    assert_eq!(state_of(&c, 104), Some(LiveState::DueSoon));
    let reader: i64 = sqlx::query_scalar("SELECT id FROM terminal WHERE kind = 'patrol_reader'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    store_scans(
        &db.pool,
        reader,
        &[ScanRow {
            record_no: 4,
            guard_card: 8165537,
            checkpoint_tag: 104,
            event: 0,
            terminal_time: Some(day().and_time(NaiveTime::from_hms_opt(11, 26, 30).unwrap())),
        }],
        None,
    )
    .await
    .unwrap();
    // Notify, then pull: the notification names the table, the frame reads the map again.
    c.pump_until(
        |m| matches!(m, Msg::Changed(ch) if ch.records.iter().any(|r| r == "patrol_scan")),
    )
    .await;
    let fx = c.frame().await;
    assert!(!fx.is_empty());
    assert_eq!(state_of(&c, 104), Some(LiveState::OnTime));
    assert_eq!(c.state.patrol.map.recent[0].checkpoint_tag, 104);
    assert!(text(&mut c, 80, 24).contains("11:26:30"));
}

#[tokio::test]
async fn setup_forms_add_and_change_rows_and_delete_one() {
    let db = test_db().await;
    site(&db.pool).await;
    let mut c = console(&db.pool, Lang::ZH_CN).await;
    c.key('s').await;
    assert_eq!(c.state.patrol.setup.list, List::Checkpoints);
    // A checkpoint: tag, name, location, an early override.
    c.key('i').await;
    typed(&mut c, "109").await;
    code(&mut c, KeyCode::Tab).await;
    typed(&mut c, "实验楼西门").await;
    code(&mut c, KeyCode::Tab).await;
    typed(&mut c, "实验楼一层").await;
    code(&mut c, KeyCode::Tab).await;
    typed(&mut c, "120").await;
    c.enter().await;
    assert_eq!(c.state.patrol.popup, None);
    let added = setup::checkpoints(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.tag == 109)
        .unwrap();
    assert_eq!(
        (added.name.as_str(), added.early_s, added.late_s),
        ("实验楼西门", Some(120), None)
    );
    // Changing 101's name keeps its place on the map.
    c.key('g').await;
    c.key('g').await;
    c.key('e').await;
    typed(&mut c, "北").await;
    c.enter().await;
    let first = setup::checkpoints(&db.pool).await.unwrap().remove(0);
    assert_eq!(first.name, "图书馆东门北");
    assert!(first.place.is_some());

    // A schedule with the defaults and a shift name, for the first route and guard.
    while c.state.patrol.setup.list != List::Schedules {
        c.key('n').await;
    }
    assert_eq!(c.state.patrol.setup.data.schedules.len(), 2);
    c.key('i').await;
    for _ in 0..3 {
        code(&mut c, KeyCode::Tab).await;
    }
    typed(&mut c, "夜班").await;
    c.enter().await;
    assert_eq!(c.state.patrol.popup, None, "{:?}", c.state.shell.message);
    let schedules = setup::schedules(&db.pool).await.unwrap();
    assert_eq!(schedules.len(), 3);
    let night = schedules.iter().find(|s| s.shift == "夜班").unwrap();
    assert_eq!(
        (night.first_start, night.last_start, night.every_min),
        (hm(22, 0), hm(6, 0), 120)
    );
    assert_eq!(night.dow_mask, 127);

    // Deleting the night schedule, confirmed.
    let at = c
        .state
        .patrol
        .setup
        .data
        .schedules
        .iter()
        .position(|s| s.shift == "夜班")
        .unwrap();
    c.state.patrol.setup.at = at;
    c.key('d').await;
    assert!(c.state.patrol.confirm.is_some());
    c.key('y').await;
    assert_eq!(setup::schedules(&db.pool).await.unwrap().len(), 2);
}
