//! The Doors tab: snapshots with Chinese door and person names, the selection kept by id while
//! states change, the feed at 100,000 events, who may do what, and two runs against the
//! simulator through the real poller: a forced door raises an alarm and marks its door; a
//! remote open reaches the controller and its confirmation reaches the screen.

use crate::harness::{render, screen_text, Console};
use crate::poller::{ctl, eventually, fast, quiet_demo, start, term};
use crate::support::test_db;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::msg::DbState;
use onecard::app::session;
use onecard::app::state::{DbWhere, State, TabId, ThemeName};
use onecard::app::tabs::doors::tree::Sel;
use onecard::app::tabs::doors::{self, feed::FEED_MAX, Focus};
use onecard::app::{router, update, Effect, Msg};
use onecard::db::command::DoorMode;
use onecard::db::door::{AlarmFlag, DoorEvent, DoorRow};
use onecard::db::operator::{Operator, Session};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use onecard::poller::Supervisor;
use onecard::sim::register::register_site;
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
}

fn state(lang: Lang, role: Role) -> State {
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
    update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
    update(
        &mut s,
        Msg::Session(session::Msg::LoggedIn(Session {
            id: 1,
            operator: Operator {
                id: 1,
                login: "li.lei".into(),
                display_name: "李雷".into(),
                role,
                must_change_password: false,
                failed_attempts: 0,
                locked_until: None,
                disabled: false,
                last_login_at: None,
            },
        })),
    );
    update(&mut s, Msg::Key(key('2')));
    assert_eq!(s.shell.tab, TabId::Doors);
    s
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn door(
    terminal_id: i64,
    serial: i64,
    controller: &str,
    n: i16,
    name: &str,
    location: &str,
) -> DoorRow {
    DoorRow {
        terminal_id,
        serial,
        controller: controller.into(),
        controller_location: format!("{controller} 弱电间"),
        line_id: 1,
        line: "校园东区".into(),
        status: "online".into(),
        last_contact: Some(at(3, 4, 1)),
        in_scan: true,
        door: n,
        name: name.into(),
        location: location.into(),
        mode: DoorMode::Controlled,
        unlock_secs: 3,
        open: Some(false),
        unlocked: Some(false),
        state_at: Some(at(3, 0, 0)),
        last_kind: Some("granted".into()),
        last_time: None,
        last_received_at: Some(at(3, 3, 0)),
        last_card: Some(8165500),
        last_person: Some("欧阳超".into()),
    }
}

fn site() -> Vec<DoorRow> {
    let mut rows = vec![
        door(
            1,
            405419896,
            "图书馆",
            1,
            "图书馆东门",
            "图书馆一层 东侧入口",
        ),
        door(1, 405419896, "图书馆", 2, "古籍阅览室", "图书馆四层 401"),
        door(
            2,
            405419897,
            "学生宿舍3号楼",
            1,
            "3号楼正门",
            "学生宿舍3号楼 南侧",
        ),
        door(
            2,
            405419897,
            "学生宿舍3号楼",
            2,
            "3号楼北侧门",
            "学生宿舍3号楼 北侧",
        ),
    ];
    rows[1].open = Some(true);
    rows[1].last_kind = Some("forced_open".into());
    rows[1].last_person = None;
    rows[1].last_card = None;
    rows[2].mode = DoorMode::NormallyOpen;
    rows[2].unlocked = Some(true);
    rows[3].status = "offline".into();
    rows[2].status = "offline".into();
    rows
}

fn event(
    n: i64,
    door_name: &str,
    person: Option<(&str, &str)>,
    kind: &str,
    late: bool,
) -> DoorEvent {
    DoorEvent {
        terminal_id: 1,
        record_no: n,
        door: 1,
        door_name: door_name.into(),
        controller: "图书馆".into(),
        serial: 405419896,
        kind: kind.into(),
        granted: kind == "granted",
        reason: if kind == "denied" { 6 } else { 1 },
        card: Some(8165500 + n),
        person_id: person.map(|_| n),
        person_no: person.map(|_| format!("2026{n:05}")),
        person_name: person.map(|p| p.0.into()),
        department: person.map(|p| p.1.into()),
        terminal_time: Some(
            NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(11, 0, 0)
                .unwrap()
                + chrono::Duration::seconds(n),
        ),
        received_at: at(3, 0, 0) + chrono::Duration::seconds(n),
        late,
        direction: None,
        clock_invalid: false,
        card_state: None,
    }
}

/// The demo-like site loaded into a Doors tab, with a forced door nobody acknowledged.
fn loaded(lang: Lang, role: Role) -> State {
    let mut s = state(lang, role);
    let doors = |m| Msg::Doors(m);
    update(
        &mut s,
        doors(doors::Msg::Loaded {
            gen: 10,
            doors: site(),
        }),
    );
    update(
        &mut s,
        doors(doors::Msg::Flags {
            gen: 11,
            flags: vec![
                AlarmFlag {
                    alarm_id: 7,
                    terminal_id: 1,
                    door: Some(2),
                    kind: "forced_open".into(),
                    acknowledged: false,
                },
                // Someone opened a reader's case: its controller is flagged.
                AlarmFlag {
                    alarm_id: 8,
                    terminal_id: 2,
                    door: Some(1),
                    kind: "tamper".into(),
                    acknowledged: false,
                },
            ],
        }),
    );
    let events = vec![
        event(
            3,
            "图书馆东门",
            Some(("欧阳超", "机械工程学院")),
            "granted",
            false,
        ),
        event(4, "古籍阅览室", None, "forced_open", false),
        event(5, "图书馆东门", None, "denied", false),
        event(
            6,
            "图书馆东门",
            Some(("Mateo García", "经济管理学院")),
            "granted",
            true,
        ),
    ];
    update(
        &mut s,
        doors(doors::Msg::Feed {
            start: false,
            events,
            more: false,
        }),
    );
    s
}

#[test]
fn snapshot_doors_zh_80x24() {
    let mut s = loaded(Lang::ZH_CN, Role::DoorAdministrator);
    let t = render(&mut s, 80, 24);
    insta::assert_snapshot!(screen_text(&t));
}

#[test]
fn snapshot_doors_zh_160x48() {
    let mut s = loaded(Lang::ZH_CN, Role::DoorAdministrator);
    // The cursor on the forced door: its details show under the tree.
    s.doors.tree.selected = Some(Sel {
        terminal_id: 1,
        door: Some(2),
    });
    let t = render(&mut s, 160, 48);
    let text = screen_text(&t);
    assert!(
        text.lines()
            .any(|l| l.contains("▸ 学生宿舍3号楼 (") && l.contains("⚑防拆报警")),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn a_forced_door_stands_out_until_its_alarm_is_acknowledged() {
    let mut s = loaded(Lang::ZH_CN, Role::DutyOperator);
    let theme = onecard::ui::theme::theme(ThemeName::Default);
    let row_bg = |s: &mut State, name: &str| {
        let t = render(s, 160, 48);
        let text = screen_text(&t);
        let y = text
            .lines()
            .position(|l| l.contains(name) && l.contains("4 "))
            .or_else(|| text.lines().position(|l| l.contains(name)));
        let y = y.unwrap_or_else(|| panic!("{name} not on screen:\n{text}")) as u16;
        let buf = t.backend().buffer();
        (1..40).map(|x| buf[(x, y)].bg).collect::<Vec<_>>()
    };
    let loud = theme.alarm_loud.bg.unwrap();
    assert!(row_bg(&mut s, "古籍阅览室 ").contains(&loud));
    assert!(!row_bg(&mut s, "图书馆东门 ").contains(&loud));
    update(
        &mut s,
        Msg::Doors(doors::Msg::Flags {
            gen: 12,
            flags: vec![AlarmFlag {
                alarm_id: 7,
                terminal_id: 1,
                door: Some(2),
                kind: "forced_open".into(),
                acknowledged: true,
            }],
        }),
    );
    assert!(!row_bg(&mut s, "古籍阅览室 ").contains(&loud));
}

#[test]
fn the_selection_stays_on_its_door_while_states_change() {
    let mut s = loaded(Lang::EN, Role::DutyOperator);
    let want = Sel {
        terminal_id: 2,
        door: Some(2),
    };
    s.doors.tree.selected = Some(want);
    // Controller 1 loses a door and changes state; controller 2's rows come back reordered.
    let mut rows = site();
    rows.remove(0);
    rows[0].open = Some(false);
    rows.swap(1, 2);
    update(
        &mut s,
        Msg::Doors(doors::Msg::Changed {
            gen: 20,
            ids: vec![1, 2],
            doors: rows,
        }),
    );
    assert_eq!(s.doors.tree.selected, Some(want));
    // Its door vanishes: the cursor goes to its controller, not to a stranger's door.
    let rows: Vec<DoorRow> = site()
        .into_iter()
        .filter(|d| !(d.terminal_id == 2 && d.door == 2))
        .collect();
    update(
        &mut s,
        Msg::Doors(doors::Msg::Loaded {
            gen: 21,
            doors: rows,
        }),
    );
    assert_eq!(
        s.doors.tree.selected,
        Some(Sel {
            terminal_id: 2,
            door: None
        })
    );
    // An older load answering late changes nothing.
    update(
        &mut s,
        Msg::Doors(doors::Msg::Loaded {
            gen: 15,
            doors: vec![],
        }),
    );
    assert_eq!(s.doors.tree.list.rows.len(), 2);
}

#[test]
fn the_feed_holds_100_000_events_pauses_and_filters() {
    let mut s = loaded(Lang::EN, Role::DutyOperator);
    let many: Vec<DoorEvent> = (100..100 + FEED_MAX as i64 + 50)
        .map(|n| {
            event(
                n,
                if n % 1000 == 0 {
                    "North gate"
                } else {
                    "East gate"
                },
                None,
                "granted",
                false,
            )
        })
        .collect();
    update(
        &mut s,
        Msg::Doors(doors::Msg::Feed {
            start: false,
            events: many,
            more: false,
        }),
    );
    assert_eq!(s.doors.feed.len(), FEED_MAX);
    // The feed has focus; `p` pauses, new events wait, the top line stays.
    update(&mut s, Msg::Key(key('f')));
    assert_eq!(s.doors.focus, Focus::Feed);
    update(&mut s, Msg::Key(key('p')));
    let top = s.doors.feed.get(0).unwrap().seq;
    update(
        &mut s,
        Msg::Doors(doors::Msg::Feed {
            start: false,
            events: vec![event(900_000, "West gate", None, "granted", false)],
            more: false,
        }),
    );
    assert_eq!(s.doors.feed.get(0).unwrap().seq, top);
    assert_eq!(s.doors.feed.waiting(), 1);
    let text = screen_text(&render(&mut s, 120, 40));
    assert!(text.contains("paused, 1 new"), "{text}");
    update(&mut s, Msg::Key(key('p')));
    // `/` filters the feed.
    update(&mut s, Msg::Key(key('/')));
    for c in "north".chars() {
        update(&mut s, Msg::Key(key(c)));
    }
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert_eq!(s.doors.feed.len(), 100);
    let text = screen_text(&render(&mut s, 120, 40));
    assert!(
        text.contains("North gate") && !text.contains("East gate"),
        "{text}"
    );
    // Esc clears it.
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
    assert_eq!(s.doors.feed.len(), FEED_MAX);
}

fn message(s: &State) -> String {
    s.shell
        .message
        .as_ref()
        .map(|(_, t)| t.clone())
        .unwrap_or_default()
}

fn on_door(s: &mut State, terminal_id: i64, n: i16) {
    s.doors.tree.selected = Some(Sel {
        terminal_id,
        door: Some(n),
    });
}

#[test]
fn who_may_open_doors_and_change_their_settings() {
    // A duty operator opens doors, after a confirmation naming the door and the controller.
    let mut s = loaded(Lang::ZH_CN, Role::DutyOperator);
    on_door(&mut s, 1, 1);
    assert!(update(&mut s, Msg::Key(key('o'))).is_empty());
    let q = router::confirming(&s).expect("a confirmation").to_string();
    assert!(q.contains("图书馆东门") && q.contains("405419896"), "{q}");
    let fx = update(&mut s, Msg::Key(key('y')));
    assert!(matches!(
        fx.as_slice(),
        [Effect::Doors(doors::Effect::RemoteOpen {
            terminal_id: 1,
            door: 1,
            ..
        })]
    ));
    // ... but may not change a door's settings, nor its scan.
    assert!(update(&mut s, Msg::Key(key('e')))
        .iter()
        .all(|e| matches!(e, Effect::Bell)));
    assert!(s.doors.settings.is_none());
    assert!(message(&s).contains("值班员"), "{}", message(&s));
    assert!(update(&mut s, Msg::Key(key('s')))
        .iter()
        .all(|e| matches!(e, Effect::Bell)));

    // A technician may not open doors.
    let mut t = loaded(Lang::EN, Role::Technician);
    on_door(&mut t, 1, 1);
    update(&mut t, Msg::Key(key('o')));
    assert!(router::confirming(&t).is_none());
    assert!(message(&t).contains("may not"), "{}", message(&t));

    // The door administrator changes the settings: only what changed is sent.
    let mut a = loaded(Lang::EN, Role::DoorAdministrator);
    on_door(&mut a, 1, 1);
    update(&mut a, Msg::Key(key('e')));
    assert!(a.doors.settings.is_some());
    // Name, location, mode (→ normally open), unlock time: Tab to the mode and pick the next.
    update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
    );
    update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
    );
    update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Right, KeyModifiers::NONE)),
    );
    let fx = update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert_eq!(
        fx,
        vec![Effect::Doors(doors::Effect::Settings {
            terminal_id: 1,
            door: 1,
            about: "图书馆东门 (图书馆, door 1)".into(),
            rename: None,
            remode: Some((DoorMode::NormallyOpen, 3)),
        })]
    );
    // An unlock time of 0 is refused in the form, in the operator's language.
    let mut z = loaded(Lang::ZH_CN, Role::DoorAdministrator);
    on_door(&mut z, 1, 1);
    update(&mut z, Msg::Key(key('e')));
    let form = &mut z.doors.settings.as_mut().unwrap().form;
    form.set_text(doors::SettingsField::UnlockSecs, "0");
    let fx = update(
        &mut z,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    assert!(fx.is_empty());
    let error = z
        .doors
        .settings
        .as_ref()
        .unwrap()
        .form
        .error
        .clone()
        .unwrap();
    assert!(
        error.contains("开锁时长") && error.contains("1 到 255"),
        "{error}"
    );
}

/// Takes notifications and runs frames until `pred` holds of the console.
async fn until(c: &mut Console, what: &str, pred: impl Fn(&State) -> bool) {
    let start = std::time::Instant::now();
    loop {
        if pred(&c.state) {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), c.rx.recv()).await {
            c.send(msg).await;
        }
        c.frame().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forced_door_alarms_and_a_remote_open_is_confirmed_on_screen() {
    let db = test_db().await;
    let mut cfg = quiet_demo();
    cfg.door_controllers.truncate(1);
    cfg.attendance_machines.clear();
    cfg.lines.clear();
    let site = start(&cfg).await;
    let reg = register_site(&db.pool, &site).await.unwrap();
    let id = term(&reg, "door/405419896").terminal_id;
    onecard::db::door::rename(
        &db.pool,
        &Actor::shell("root"),
        id,
        2,
        "古籍阅览室",
        "图书馆四层 401",
    )
    .await
    .unwrap();
    let sup = Supervisor::start_with(db.pool.clone(), "doors-tab", fast());
    let state = State::new(
        Arc::new(Keymap::preset("default").unwrap()),
        Lang::EN,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    );
    let mut c = Console::sign_in(&db.pool, state, "duty", "值班员", Role::DutyOperator).await;
    c.key('2').await;
    until(&mut c, "the controller online in the tree", |s| {
        s.doors.tree.controller(id).is_some_and(|c| c.online())
    })
    .await;

    // Someone forces door 2: an alarm, the door marked, the event in the feed.
    ctl(&site, "door/405419896 forced 2");
    until(&mut c, "the forced door marked", |s| {
        s.doors.tree.door_alarmed(id, 2)
    })
    .await;
    until(&mut c, "the forced-open event in the feed", |s| {
        (0..s.doors.feed.len()).any(|i| {
            matches!(&s.doors.feed.get(i).unwrap().item,
                doors::feed::Item::Event(e) if e.kind == "forced_open" && e.door_name == "古籍阅览室")
        })
    })
    .await;
    let text = screen_text(&render(&mut c.state, 160, 48));
    assert!(text.contains("forced open"), "{text}");
    assert!(c.state.alarms.counts.total() >= 1);

    // Remote open of door 1: confirmed by the operator, sent through the queue, and the
    // controller's confirmation on the message line.
    c.state.doors.tree.selected = Some(Sel {
        terminal_id: id,
        door: Some(1),
    });
    c.key('o').await;
    let q = router::confirming(&c.state)
        .expect("asks first")
        .to_string();
    assert!(q.contains("405419896"), "{q}");
    c.key('y').await;
    until(&mut c, "the controller's confirmation", |s| {
        message(s).contains("door 1 opened")
    })
    .await;
    eventually(
        PATIENCE,
        "the remote open in the controller's records",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM door_event WHERE terminal_id = $1 AND kind = 'remote_open'",
            )
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap()
                > 0
        },
    )
    .await;

    // Acknowledged elsewhere: the door no longer stands out.
    let alarm: i64 =
        sqlx::query_scalar("SELECT id FROM alarm WHERE terminal_id = $1 AND kind = 'forced_open'")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    onecard::db::alarm::acknowledge(&db.pool, &Actor::shell("root"), alarm, "guard sent")
        .await
        .unwrap();
    until(&mut c, "the door back to normal", |s| {
        !s.doors.tree.door_alarmed(id, 2)
    })
    .await;
    sup.stop().await;
}

#[test]
fn a_controller_going_offline_is_a_line_in_the_feed() {
    let mut s = loaded(Lang::ZH_CN, Role::DutyOperator);
    let before = s.doors.feed.len();
    let mut rows: Vec<DoorRow> = site().into_iter().filter(|d| d.terminal_id == 1).collect();
    for r in &mut rows {
        r.status = "offline".into();
    }
    update(
        &mut s,
        Msg::Doors(doors::Msg::Changed {
            gen: 30,
            ids: vec![1],
            doors: rows,
        }),
    );
    assert_eq!(s.doors.feed.len(), before + 1);
    assert!(matches!(
        &s.doors.feed.get(0).unwrap().item,
        doors::feed::Item::Controller {
            terminal_id: 1,
            online: false,
            ..
        }
    ));
    let text = screen_text(&render(&mut s, 160, 48));
    assert!(text.contains("控制器离线"), "{text}");
}

#[test]
fn extraction_runs_on_the_marked_controllers_or_all_of_them() {
    let mut s = loaded(Lang::EN, Role::DoorAdministrator);
    let extracts = |fx: &[Effect]| -> Vec<i64> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Doors(doors::Effect::Enqueue {
                    terminal_id,
                    command: onecard::db::command::TerminalCommand::Extract,
                    ..
                }) => Some(*terminal_id),
                _ => None,
            })
            .collect()
    };
    // Space marks a controller (on any of its rows); x extracts the marked ones.
    on_door(&mut s, 1, 2);
    update(&mut s, Msg::Key(key(' ')));
    on_door(&mut s, 2, 1);
    update(&mut s, Msg::Key(key(' ')));
    let text = screen_text(&render(&mut s, 160, 48));
    assert_eq!(text.matches('✓').count(), 2, "{text}");
    assert_eq!(extracts(&update(&mut s, Msg::Key(key('x')))), vec![1, 2]);
    // The marks are spent; x alone extracts the selected controller, E every one.
    assert!(s.doors.tree.marked.is_empty());
    assert_eq!(extracts(&update(&mut s, Msg::Key(key('x')))), vec![2]);
    assert_eq!(extracts(&update(&mut s, Msg::Key(key('E')))), vec![1, 2]);
    // Clearing a controller's records is a purge: not the door administrator's; the director
    // is asked first, naming the controller.
    update(&mut s, Msg::Key(key('D')));
    assert!(router::confirming(&s).is_none());
    let mut boss = loaded(Lang::EN, Role::Director);
    on_door(&mut boss, 2, 1);
    assert!(update(&mut boss, Msg::Key(key('D'))).is_empty());
    let q = router::confirming(&boss).unwrap().to_string();
    assert!(q.contains("405419897"), "{q}");
    // A duty operator may not extract.
    let mut d = loaded(Lang::EN, Role::DutyOperator);
    on_door(&mut d, 1, 1);
    assert!(extracts(&update(&mut d, Msg::Key(key('x')))).is_empty());
    assert!(message(&d).contains("may not"), "{}", message(&d));
}

#[tokio::test]
async fn the_live_scan_is_a_door_setting_audited() {
    let db = test_db().await;
    let (_, id) = crate::support::library_door(&db.pool).await;
    let mut admin = onecard::domain::permission::Actor::shell("root");
    admin.role = Some(Role::DoorAdministrator);
    onecard::db::terminal::set_in_scan(&db.pool, &admin, id, false)
        .await
        .expect("a door administrator takes a controller out of the scan");
    let in_scan: bool = sqlx::query_scalar("SELECT in_scan FROM terminal WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!in_scan);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'terminal.scan'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    let mut desk = onecard::domain::permission::Actor::shell("root");
    desk.role = Some(Role::CardDesk);
    assert!(
        onecard::db::terminal::set_in_scan(&db.pool, &desk, id, true)
            .await
            .is_err()
    );
}
