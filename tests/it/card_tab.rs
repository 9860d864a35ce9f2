//! The Card service tab: `update` transitions (Msg → State → Effects) for the card desk's day,
//! `TestBackend` snapshots with Chinese names, and one run against a real PostgreSQL where a
//! card on the desk reader and a terminal's confirmation reach the screen.

use crate::harness::{render, screen_text};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::cards::{
    CardDetail, CardDone, CardEventRow, CardKindPolicy, CardLookup, CardOp, CardRefs, CardView,
    Confirmations, DeskView, DoorGroup, FeeRow, ImportSummary, IssueRequest, Named, PaidFrom,
    PersonRow, PinKind, PinNote, ReportFilter, ReportKind, ReportPage, StockCount, StockInfo,
    StockLevel, StockOp,
};
use onecard::app::msg::DbState;
use onecard::app::state::{DbWhere, Level, Overlay, State, Tab, ThemeName};
use onecard::app::{update, Effect, Msg};
use onecard::db::card::{BalancePolicy, Grant, Limits};
use onecard::db::door_group::GroupDoor;
use onecard::db::notify::Change;
use onecard::db::operator::{Operator, Session};
use onecard::db::propagation::Pending;
use onecard::domain::card::{CardKind, CardState, Subsystem};
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::Arc;

// ---- Fixtures ---------------------------------------------------------------------------------

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn state(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 3, 4, 5).unwrap();
    let mut s = State::new(keymap, lang, ThemeName::Default, DbWhere::Embedded, now);
    s.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
    s
}

fn operator(role: Role) -> Operator {
    Operator {
        id: 1,
        login: "wang.fang".into(),
        display_name: "王芳".into(),
        role,
        must_change_password: false,
        failed_attempts: 0,
        locked_until: None,
        disabled: false,
        last_login_at: None,
    }
}

fn signed_in(lang: Lang, role: Role) -> State {
    let mut s = state(lang);
    s.db = DbState::Ready;
    update(&mut s, Msg::OperatorsExist(true));
    let fx = update(
        &mut s,
        Msg::LoggedIn(Session {
            id: 1,
            operator: operator(role),
        }),
    );
    assert_eq!(
        s.tab,
        Tab::Cards,
        "the console opens on the Card service tab"
    );
    assert!(fx.contains(&Effect::LoadCardRefs));
    assert!(fx.contains(&Effect::SearchPeople {
        query: String::new()
    }));
    update(&mut s, Msg::CardRefsLoaded(refs()));
    s
}

fn kind_policy(kind: CardKind) -> CardKindPolicy {
    let temporary = kind == CardKind::Temporary;
    CardKindPolicy {
        kind,
        doors: !temporary,
        attendance: !temporary,
        balance_on_return: BalancePolicy::Kept,
        per_purchase_limit: if kind == CardKind::Staff {
            dec("50.00")
        } else {
            dec("30.00")
        },
        daily_count_limit: if kind == CardKind::Staff { 20 } else { 10 },
        max_validity_days: temporary.then_some(365),
        issue_fee: if temporary { dec("20.00") } else { dec("0") },
        reissue_fee: dec("20.00"),
        exchange_fee: dec("20.00"),
    }
}

fn refs() -> CardRefs {
    let door = |terminal_id, name: &str, door| GroupDoor {
        terminal_id,
        terminal_name: name.into(),
        door,
    };
    CardRefs {
        kinds: CardKind::ALL.iter().map(|k| kind_policy(*k)).collect(),
        door_groups: vec![
            DoorGroup {
                id: 1,
                name: "全部门禁".into(),
                doors: (1..=4)
                    .map(|d| door(1, "图书馆东门", d))
                    .chain((1..=4).map(|d| door(2, "学生宿舍三号楼北门", d)))
                    .collect(),
            },
            DoorGroup {
                id: 2,
                name: "图书馆".into(),
                doors: vec![door(1, "图书馆东门", 1), door(1, "图书馆东门", 2)],
            },
        ],
        pos: vec![
            Named {
                id: 3,
                name: "一食堂收费机 07".into(),
            },
            Named {
                id: 5,
                name: "二食堂收费机 08".into(),
            },
        ],
        attendance: vec![Named {
            id: 4,
            name: "后勤考勤机".into(),
        }],
    }
}

fn person(
    id: i64,
    no: &str,
    name: &str,
    dept: &str,
    category: &str,
    card: Option<(i64, &str)>,
) -> PersonRow {
    PersonRow {
        id,
        person_no: no.into(),
        name: name.into(),
        department: dept.into(),
        category: category.into(),
        status: "active".into(),
        card_no: card.map(|c| c.0),
        card_state: card.map(|c| c.1.to_string()),
    }
}

fn people() -> Vec<PersonRow> {
    vec![
        person(
            11,
            "T10003",
            "王芳",
            "计算机学院",
            "staff",
            Some((8165537, "active")),
        ),
        person(12, "T10004", "王芳芳", "图书馆", "staff", None),
        person(
            13,
            "202600017",
            "欧阳晓东",
            "机械工程学院",
            "student",
            Some((8165512, "lost")),
        ),
        person(
            14,
            "202600023",
            "Mateo García",
            "外国语学院",
            "student",
            None,
        ),
        person(15, "V00001", "李娜", "International Office", "other", None),
    ]
}

fn view(card_id: i64, card_no: i64, state: CardState) -> CardView {
    CardView {
        card_id,
        card_no,
        person_id: 11,
        person_no: "T10003".into(),
        person_name: "王芳".into(),
        department: "计算机学院".into(),
        person_left: false,
        kind: CardKind::Staff,
        state,
        valid_from: date("2025-09-01"),
        valid_until: date("2030-08-31"),
        subsystems: Subsystem::ALL.to_vec(),
        grants: (1..=4)
            .map(|d| Grant {
                terminal_id: 1,
                terminal_name: "图书馆东门".into(),
                terminal_kind: "door_controller".into(),
                door: d,
            })
            .chain([
                Grant {
                    terminal_id: 3,
                    terminal_name: "一食堂收费机 07".into(),
                    terminal_kind: "pos".into(),
                    door: 0,
                },
                Grant {
                    terminal_id: 4,
                    terminal_name: "后勤考勤机".into(),
                    terminal_kind: "attendance_machine".into(),
                    door: 0,
                },
            ])
            .collect(),
        door_groups: vec![(2, "图书馆".into())],
        balance: dec("128.50"),
        limits: Limits {
            per_purchase: dec("50.00"),
            daily_count: 20,
            pin_above: dec("50.00"),
        },
        own_per_purchase: None,
        own_daily_count: None,
        lost_at: (state == CardState::Lost).then(|| at(0, 4)),
        issued_at: Utc.with_ymd_and_hms(2025, 9, 1, 2, 0, 0).unwrap(),
        issued_by: "wang.fang".into(),
        replaces_card_no: None,
        replaced_by_card_no: None,
    }
}

fn event(id: i64, at: DateTime<Utc>, event: &str, actor: &str) -> CardEventRow {
    CardEventRow {
        id,
        at,
        event: event.into(),
        actor: actor.into(),
        old_until: None,
        new_until: None,
        other_card_no: None,
        reason: String::new(),
        detail: serde_json::Value::Null,
    }
}

fn pending(
    terminal_id: i64,
    name: &str,
    stance: &str,
    state: &str,
    result: Option<&str>,
) -> Pending {
    Pending {
        terminal_id,
        terminal_name: name.into(),
        stance: stance.into(),
        command_state: state.into(),
        result: result.map(String::from),
    }
}

fn detail(card_id: i64, card_no: i64, state: CardState) -> CardDetail {
    let mut lost = event(3, at(0, 4), "report_lost", "wang.fang");
    lost.reason = String::new();
    let mut extended = event(2, at(1, 0) - Duration::days(30), "extend", "li.ming");
    extended.old_until = Some(date("2029-08-31"));
    extended.new_until = Some(date("2030-08-31"));
    let mut history = vec![
        extended,
        event(
            1,
            Utc.with_ymd_and_hms(2025, 9, 1, 2, 0, 0).unwrap(),
            "issue",
            "wang.fang",
        ),
    ];
    if state == CardState::Lost {
        history.insert(0, lost);
    }
    CardDetail {
        view: view(card_id, card_no, state),
        history,
        confirmations: Confirmations {
            confirmed: 7,
            total: 9,
            pending: vec![
                pending(
                    2,
                    "学生宿舍三号楼北门",
                    "accept",
                    "failed",
                    Some("no reply after 3 tries"),
                ),
                pending(5, "二食堂收费机 08", "accept", "queued", None),
            ],
        },
    }
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

/// Signed in on the Card service tab, the register searched, 王芳 selected with her active
/// card 8165537 (and an older replaced one) shown.
fn at_desk(lang: Lang, role: Role) -> State {
    at_desk_with(lang, role, CardState::Active)
}

fn at_desk_with(lang: Lang, role: Role, card_state: CardState) -> State {
    let mut s = signed_in(lang, role);
    let fx = update(
        &mut s,
        Msg::PeopleFound {
            query: String::new(),
            people: people(),
        },
    );
    assert!(fx.is_empty());
    assert_eq!(s.cards.selected, Some(11), "the first person is selected");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadPersonCards { person_id: 11 }]
    );
    let mut old = view(20, 8100001, CardState::Replaced);
    old.replaced_by_card_no = Some(8165537);
    let fx = update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 11,
            cards: vec![view(21, 8165537, card_state), old],
        },
    );
    assert_eq!(
        fx,
        vec![Effect::LoadCard { card_id: 21 }],
        "the card in service"
    );
    update(
        &mut s,
        Msg::CardLoaded(Box::new(detail(21, 8165537, card_state))),
    );
    s
}

fn text(s: &mut State, w: u16, h: u16) -> String {
    screen_text(&render(s, w, h))
}

fn card_form(s: &State) -> &onecard::app::cards::CardForm {
    match &s.overlay {
        Some(Overlay::CardForm(f)) => f,
        other => panic!("no card form open: {other:?}"),
    }
}

fn message(s: &State) -> String {
    s.message.clone().map(|m| m.1).unwrap_or_default()
}

// ---- The register -------------------------------------------------------------------------------

#[test]
fn typing_searches_the_register_once_per_frame_and_keeps_the_newest_answer() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    // Typing a name starts the search box; nothing is asked until the frame.
    assert!(typed(&mut s, "王芳").is_empty());
    assert_eq!(s.filter_input.as_deref(), Some("王芳"));
    assert_eq!(s.cards.query, "王芳");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::SearchPeople {
            query: "王芳".into()
        }]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "asked once");
    // An answer to an older query, arriving late, is dropped.
    update(
        &mut s,
        Msg::PeopleFound {
            query: "王".into(),
            people: people(),
        },
    );
    assert!(s.cards.results.is_empty());
    let found = vec![people()[0].clone(), people()[1].clone()];
    update(
        &mut s,
        Msg::PeopleFound {
            query: "王芳".into(),
            people: found,
        },
    );
    assert_eq!(s.cards.selected, Some(11));
    // The arrows leave the box and move in the results; the person's cards are read at the
    // frame, once, however fast the cursor moved.
    update(&mut s, code(KeyCode::Down));
    assert!(s.filter_input.is_none());
    assert_eq!(s.cards.selected, Some(12));
    update(&mut s, key('k'));
    update(&mut s, key('j'));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadPersonCards { person_id: 12 }]
    );
    // An answer for someone the cursor left is dropped.
    update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 11,
            cards: vec![view(21, 8165537, CardState::Active)],
        },
    );
    assert!(s.cards.cards.is_empty());
    assert!(update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 12,
            cards: vec![],
        },
    )
    .is_empty());
    let screen = text(&mut s, 80, 24);
    assert!(screen.contains("No card yet."), "{screen}");
    // "/" opens the box again with the query; esc empties it.
    update(&mut s, key('/'));
    assert_eq!(s.filter_input.as_deref(), Some("王芳"));
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.cards.query, "");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::SearchPeople {
            query: String::new()
        }]
    );
}

#[test]
fn enter_steps_through_a_persons_cards() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(s.cards.card, Some(21));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::LoadCard { card_id: 20 }]
    );
    assert!(
        s.cards.shown().is_none(),
        "the old card's details are not shown as the new one's"
    );
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::LoadCard { card_id: 21 }]
    );
}

// ---- The desk reader ----------------------------------------------------------------------------

#[test]
fn a_blank_card_on_the_reader_is_issued_with_defaults_and_its_pins_shown_once() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    // 王芳芳 has no card yet.
    update(&mut s, key('j'));
    update(&mut s, Msg::Frame);
    update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 12,
            cards: vec![],
        },
    );
    assert_eq!(
        update(
            &mut s,
            Msg::CardPresented {
                terminal_id: 9,
                card_no: 48596572,
                new: true
            }
        ),
        vec![Effect::LookupCard { card_no: 48596572 }]
    );
    let screen = text(&mut s, 100, 30);
    assert!(screen.contains("card 48596572 looking it up"), "{screen}");
    update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 48596572,
            lookup: CardLookup::New,
        },
    );
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("NEW blank card") && screen.contains("i issue it to 王芳芳"),
        "{screen}"
    );

    assert!(update(&mut s, key('i')).is_empty());
    let f = card_form(&s);
    assert_eq!(
        f.text("card.form.card_no"),
        "48596572",
        "the card on the reader"
    );
    assert_eq!(
        f.choice("card.form.kind"),
        "staff",
        "from the person's category"
    );
    assert_eq!(
        f.ticked("card.form.subsystems"),
        ["door", "pos", "attendance"]
    );
    assert_eq!(f.ticked("card.form.pos"), ["3", "5"]);
    assert_eq!(f.ticked("card.form.attendance"), ["4"]);
    assert!(f.ticked("card.form.door_groups").is_empty());
    assert_eq!(
        f.text("card.form.valid_from"),
        "2026-11-22",
        "today, locally"
    );
    assert_eq!(f.text("card.form.valid_until"), "2031-11-22");
    assert_eq!(
        f.label_focused(),
        "card.form.kind",
        "the card is read: the kind comes next"
    );
    // Tick 全部门禁: tab to the door groups, space.
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, key(' '));
    let fx = update(&mut s, code(KeyCode::Enter));
    let issue = IssueRequest {
        card_no: 48596572,
        person_id: 12,
        kind: CardKind::Staff,
        subsystems: Subsystem::ALL.to_vec(),
        door_groups: vec![1],
        terminals: vec![3, 5, 4],
        valid_from: date("2026-11-22"),
        valid_until: date("2031-11-22"),
        paid_from: PaidFrom::Cash,
    };
    assert_eq!(fx, vec![Effect::Card(CardOp::Issue(issue.clone()))]);
    assert!(card_form(&s).busy, "waits for the answer; no second issue");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    // Refused: the words stay in the form with what was picked.
    let refusal = "card number 48596572 was already issued (to 李娜): a card number belongs to one card for ever";
    assert!(update(&mut s, Msg::Failed(refusal.into())).is_empty());
    assert_eq!(card_form(&s).error.as_deref(), Some(refusal));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::Issue(issue))]
    );
    // Written: the PINs show once, and the new card with them.
    let fx = update(
        &mut s,
        Msg::CardDone(CardDone {
            text: "Issued card 48596572 of 王芳芳 (T10004).".into(),
            card_id: Some(30),
            person_id: Some(12),
            pins: Some(PinNote {
                card_no: 48596572,
                person_name: "王芳芳".into(),
                pins: vec![
                    ("card.pins.query", "019766".into()),
                    ("card.pins.payment", "301358".into()),
                ],
            }),
        }),
    );
    assert_eq!(
        fx,
        vec![
            Effect::LoadPersonCards { person_id: 12 },
            Effect::LoadCard { card_id: 30 },
            Effect::LookupCard { card_no: 48596572 },
        ]
    );
    let screen = text(&mut s, 80, 24);
    assert!(
        screen.contains("019766") && screen.contains("301358"),
        "{screen}"
    );
    assert!(screen.contains("only this once"), "{screen}");
    // Another key leaves it up; enter dismisses it, and the PINs are gone from the console.
    update(&mut s, key('x'));
    assert!(matches!(s.overlay, Some(Overlay::Pins(_))));
    update(&mut s, code(KeyCode::Enter));
    assert!(s.overlay.is_none());
    let everything = format!("{s:?}");
    assert!(!everything.contains("019766") && !everything.contains("301358"));
    assert!(!text(&mut s, 80, 24).contains("019766"));
}

trait Focused {
    fn label_focused(&self) -> &'static str;
}
impl Focused for onecard::app::cards::CardForm {
    fn label_focused(&self) -> &'static str {
        self.fields[self.focus].label
    }
}

#[test]
fn the_kind_sets_the_defaults_and_a_temporary_card_only_pays() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.cards.selected_person().unwrap().name, "李娜");
    update(&mut s, Msg::Frame);
    update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 15,
            cards: vec![],
        },
    );
    update(&mut s, key('i'));
    let f = card_form(&s);
    assert_eq!(
        f.text("card.form.card_no"),
        "",
        "no card on the reader: typed"
    );
    assert_eq!(f.label_focused(), "card.form.card_no");
    assert_eq!(
        f.choice("card.form.kind"),
        "temporary",
        "a visitor gets a temporary card"
    );
    assert_eq!(f.ticked("card.form.subsystems"), ["pos"]);
    assert!(f.ticked("card.form.attendance").is_empty());
    assert_eq!(f.text("card.form.valid_until"), "2027-11-22", "a year");
    assert!(f.intro[0].contains("¥20.00"), "{:?}", f.intro);
    // A temporary card given doors is refused before anything is asked.
    typed(&mut s, "8165599");
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, key(' '));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let f = card_form(&s);
    assert_eq!(
        f.error.as_deref(),
        Some("a temporary card only pays: it cannot be given doors")
    );
    assert_eq!(f.label_focused(), "card.form.subsystems");
    // The kind moved to student: its own defaults.
    update(&mut s, code(KeyCode::Up));
    update(&mut s, code(KeyCode::Left));
    let f = card_form(&s);
    assert_eq!(f.choice("card.form.kind"), "student");
    assert_eq!(f.ticked("card.form.subsystems"), ["door", "pos"]);
    assert_eq!(f.text("card.form.valid_until"), "2030-11-22");
    assert!(f.intro[0].contains("No fee"), "{:?}", f.intro);
    // A bad date is named.
    for _ in 0..6 {
        update(&mut s, code(KeyCode::Tab));
    }
    assert_eq!(card_form(&s).label_focused(), "card.form.valid_until");
    for _ in 0..10 {
        update(&mut s, code(KeyCode::Backspace));
    }
    typed(&mut s, "2030-02-30");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("“2030-02-30” is not a date: write YYYY-MM-DD.")
    );
    // Esc leaves the form and nothing was asked.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.overlay.is_none());
}

#[test]
fn an_issued_card_on_the_reader_shows_its_holder_and_a_person_with_a_card_gets_no_second() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    update(
        &mut s,
        Msg::CardPresented {
            terminal_id: 9,
            card_no: 8165537,
            new: false,
        },
    );
    let fx = update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 8165537,
            lookup: CardLookup::Issued(view(21, 8165537, CardState::Active)),
        },
    );
    assert_eq!(fx, vec![Effect::LoadCard { card_id: 21 }]);
    assert_eq!(s.cards.selected, Some(11));
    assert_eq!(
        s.cards.query, "8165537",
        "the register is searched by the card"
    );
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            Effect::SearchPeople {
                query: "8165537".into()
            },
            Effect::LoadPersonCards { person_id: 11 },
        ]
    );
    update(
        &mut s,
        Msg::PeopleFound {
            query: "8165537".into(),
            people: vec![people()[0].clone()],
        },
    );
    assert_eq!(s.cards.selected, Some(11), "still on the holder");
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("issued to 王芳 (T10003) · active"),
        "{screen}"
    );
    // She holds a card in service: no second one.
    assert!(update(&mut s, key('i')).is_empty());
    assert!(s.overlay.is_none());
    assert_eq!(
        message(&s),
        "王芳 already holds card 8165537 (active): report it lost and reissue it, or exchange it."
    );
    // A blacklisted card says so.
    update(
        &mut s,
        Msg::CardPresented {
            terminal_id: 9,
            card_no: 8165512,
            new: false,
        },
    );
    let mut lost = view(40, 8165512, CardState::Lost);
    lost.person_id = 13;
    lost.person_name = "欧阳晓东".into();
    lost.person_no = "202600017".into();
    update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 8165512,
            lookup: CardLookup::Blacklisted(lost),
        },
    );
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("BLACKLISTED") && screen.contains("欧阳晓东 (202600017) · lost"),
        "{screen}"
    );
    // Esc: done with the card on the reader.
    update(&mut s, code(KeyCode::Esc));
    assert!(s.cards.reader.is_none());
}

#[test]
fn a_card_laid_while_a_form_waits_for_one_fills_it() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('X'));
    assert_eq!(card_form(&s).text("card.form.card_no"), "");
    update(
        &mut s,
        Msg::CardPresented {
            terminal_id: 9,
            card_no: 8165600,
            new: false,
        },
    );
    // A used card: named in the form, not taken.
    update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 8165600,
            lookup: CardLookup::Issued(view(50, 8165600, CardState::Active)),
        },
    );
    let f = card_form(&s);
    assert_eq!(f.text("card.form.card_no"), "");
    assert_eq!(
        f.error.as_deref(),
        Some("Card 8165600 is not blank: it belongs to 王芳 (active).")
    );
    assert_eq!(s.cards.selected, Some(11), "a form open: the cursor stays");
    update(
        &mut s,
        Msg::CardPresented {
            terminal_id: 9,
            card_no: 8165601,
            new: true,
        },
    );
    update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 8165601,
            lookup: CardLookup::New,
        },
    );
    assert_eq!(card_form(&s).text("card.form.card_no"), "8165601");
    assert_eq!(card_form(&s).error, None);
    // The exchange needs its reason.
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("This cannot be empty.")
    );
    assert_eq!(card_form(&s).label_focused(), "card.form.reason");
    typed(&mut s, "磁条损坏");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::Exchange {
            card_id: 21,
            new_card_no: 8165601,
            reason: "磁条损坏".into(),
            paid_from: PaidFrom::Cash,
        })]
    );
}

#[test]
fn typing_a_card_number_stands_in_for_a_reader() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    update(&mut s, key('n'));
    typed(&mut s, "8165x");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("“8165x” is not a card number (1 to 4294967295).")
    );
    update(&mut s, code(KeyCode::Backspace));
    typed(&mut s, "537");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::LookupCard { card_no: 8165537 }]
    );
    assert!(s.overlay.is_none());
}

// ---- Lifecycle ----------------------------------------------------------------------------------

#[test]
fn reissue_waits_24_hours_unless_the_director_gives_a_reason() {
    // Lost at 00:04, now 03:04: 3 hours.
    let mut desk = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    assert!(update(&mut desk, key('R')).is_empty());
    assert!(desk.overlay.is_none());
    assert_eq!(
        message(&desk),
        "card 8165537 was reported lost 3 h ago: a reissue needs 24 h unless a director overrides it with a reason"
    );

    let mut s = at_desk_with(Lang::EN, Role::Director, CardState::Lost);
    update(&mut s, key('R'));
    let f = card_form(&s);
    assert!(f.index("card.form.override_reason").is_some());
    assert!(
        f.intro.iter().any(|l| l.contains("3 h ago")),
        "{:?}",
        f.intro
    );
    typed(&mut s, "8165600");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(card_form(&s).label_focused(), "card.form.override_reason");
    typed(&mut s, "学生证件急用");
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Right));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::Reissue {
            card_id: 21,
            new_card_no: 8165600,
            override_reason: Some("学生证件急用".into()),
            paid_from: PaidFrom::Balance,
        })]
    );

    // A day later the card desk reissues without asking anyone.
    let mut later = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    update(&mut later, Msg::Tick(at(3, 4) + Duration::hours(24)));
    update(&mut later, key('R'));
    assert!(card_form(&later)
        .index("card.form.override_reason")
        .is_none());
}

#[test]
fn refusals_are_shown_in_the_card_desks_words() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    assert!(update(&mut s, key('x')).is_empty());
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("report lost confirms")
    };
    assert!(
        c.question.contains("card 8165537 of 王芳 (T10003)"),
        "{}",
        c.question
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::Card(CardOp::ReportLost { card_id: 21 })]
    );
    // Another desk was quicker: the database's words, as they are.
    assert_eq!(
        update(&mut s, Msg::Failed("card 8165537 is already lost".into())),
        vec![Effect::Bell]
    );
    assert_eq!(
        s.message,
        Some((Level::Error, "card 8165537 is already lost".into()))
    );
    // The card as it is now: lost. The console knows before asking.
    let mut lost = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    assert!(update(&mut lost, key('x')).is_empty());
    assert!(lost.overlay.is_none());
    assert_eq!(message(&lost), "card 8165537 is already lost");
    assert!(update(&mut lost, key('e')).is_empty());
    assert_eq!(
        message(&lost),
        "card 8165537 is lost: report it found first, or reissue it"
    );
    // Found: confirmed by name.
    update(&mut lost, key('f'));
    assert_eq!(
        update(&mut lost, key('y')),
        vec![Effect::Card(CardOp::ReportFound { card_id: 21 })]
    );
    // In Chinese too.
    let mut zh = at_desk_with(Lang::ZH_CN, Role::CardDesk, CardState::Lost);
    update(&mut zh, key('x'));
    assert_eq!(message(&zh), "卡 8165537 已挂失");
}

#[test]
fn return_says_what_happens_to_the_balance_and_cancel_needs_a_reason() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('b'));
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("return confirms")
    };
    assert!(
        c.question.contains("The balance of ¥128.50 is kept"),
        "{}",
        c.question
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::Card(CardOp::Return { card_id: 21 })]
    );
    update(&mut s, key('D'));
    assert!(card_form(&s).intro[0].contains("¥128.50 is kept"));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    typed(&mut s, "毕业离校");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::Cancel {
            card_id: 21,
            reason: "毕业离校".into()
        })]
    );
    // Done: the form closes, the card and the register are read again.
    let fx = update(
        &mut s,
        Msg::CardDone(CardDone {
            text: "Cancelled card 8165537 of 王芳 (T10003). Balance ¥128.50 kept.".into(),
            card_id: Some(21),
            person_id: None,
            pins: None,
        }),
    );
    assert!(s.overlay.is_none());
    assert_eq!(
        fx,
        vec![Effect::LoadCard { card_id: 21 }],
        "what else changed comes by notification"
    );
    assert!(s.pending.desk.search);
}

#[test]
fn extend_rewrite_pins_limits_and_top_up_check_what_is_typed() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    // Extend: a year past the current expiry by default; not earlier.
    update(&mut s, key('e'));
    assert_eq!(card_form(&s).text("card.form.until"), "2031-08-31");
    for _ in 0..10 {
        update(&mut s, code(KeyCode::Backspace));
    }
    typed(&mut s, "2030-01-01");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("the new expiry 2030-01-01 is not after the current one (2030-08-31)")
    );
    update(&mut s, code(KeyCode::Esc));
    // Rewrite: what the card has is ticked.
    update(&mut s, key('w'));
    let f = card_form(&s);
    assert_eq!(f.ticked("card.form.door_groups"), ["2"]);
    assert_eq!(f.ticked("card.form.pos"), ["3"]);
    assert_eq!(f.ticked("card.form.attendance"), ["4"]);
    assert_eq!(f.text("card.form.valid_until"), "2030-08-31");
    // Untick attendance as a subsystem: its machines are left out.
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, key(' '));
    let fx = update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Card(CardOp::Rewrite {
            card_id: 21,
            rewrite: onecard::app::cards::Rewrite {
                subsystems: vec![Subsystem::Door, Subsystem::Pos],
                door_groups: vec![2],
                terminals: vec![3],
                valid_until: date("2030-08-31"),
            }
        })]
    );
    update(&mut s, code(KeyCode::Esc));
    // PIN change: six digits, the old one too, twice the same.
    update(&mut s, key('p'));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "12345");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(card_form(&s).error.as_deref(), Some("A PIN is 6 digits."));
    typed(&mut s, "6x");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "654321");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "654320");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("The two new PINs differ.")
    );
    update(&mut s, code(KeyCode::Backspace));
    typed(&mut s, "1");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::ChangePin {
            card_id: 21,
            which: PinKind::Payment,
            old: "123456".into(),
            new: "654321".into(),
        })]
    );
    let shown = text(&mut s, 80, 24);
    assert!(
        !shown.contains("654321") && shown.contains("••••••"),
        "{shown}"
    );
    update(&mut s, code(KeyCode::Esc));
    // Limits: empty means the kind's default.
    update(&mut s, key('m'));
    typed(&mut s, "80");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "0");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("“0” is not a number of purchases a day (at least 1).")
    );
    update(&mut s, code(KeyCode::Backspace));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::SetLimits {
            card_id: 21,
            per_purchase: Some(dec("80")),
            daily_count: None,
        })]
    );
    update(&mut s, code(KeyCode::Esc));
    // Top-up: money moves only after a y/n naming the amount and the account.
    update(&mut s, key('u'));
    typed(&mut s, "12.345");
    update(&mut s, code(KeyCode::Enter));
    assert!(card_form(&s).error.as_deref().unwrap().contains("12.345"));
    update(&mut s, code(KeyCode::Backspace));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let Some(Overlay::Confirm(c)) = &s.overlay else {
        panic!("a top-up confirms")
    };
    assert_eq!(
        c.question,
        "Top up ¥12.34 in cash to the account of card 8165537 of 王芳 (T10003)?"
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::Card(CardOp::TopUp {
            person_id: 11,
            card_id: 21,
            amount: dec("12.34"),
        })]
    );
    // PIN reset: the new PIN comes back and shows once.
    update(&mut s, key('K'));
    update(&mut s, code(KeyCode::Left));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Card(CardOp::ResetPin {
            card_id: 21,
            which: PinKind::Query,
        })]
    );
}

// ---- Roles --------------------------------------------------------------------------------------

#[test]
fn roles_see_and_do_only_what_they_may() {
    // A technician reads the register and cards, and does nothing to them.
    let mut t = at_desk(Lang::EN, Role::Technician);
    assert_eq!(update(&mut t, key('x')), vec![Effect::Bell]);
    assert_eq!(
        message(&t),
        "A Technician may not change cards (loss, reissue, exchange, return, extend)."
    );
    t.message = None;
    let hints = text(&mut t, 160, 48);
    let hint_line = hints.lines().nth(46).unwrap();
    assert!(
        !hint_line.contains("lost") && !hint_line.contains("top up"),
        "{hint_line}"
    );
    assert!(hint_line.contains("search"), "{hint_line}");
    // The palette is no way around it.
    update(&mut t, key(':'));
    typed(&mut t, "card.top-up");
    assert_eq!(update(&mut t, code(KeyCode::Enter)), vec![Effect::Bell]);
    // The card desk sees the actions the card's state allows.
    let mut d = at_desk(Lang::EN, Role::CardDesk);
    let hint_line = text(&mut d, 160, 48).lines().nth(46).unwrap().to_string();
    assert!(
        hint_line.contains("x lost") && hint_line.contains("u top up"),
        "{hint_line}"
    );
    assert!(
        !hint_line.contains("f found") && !hint_line.contains("i issue"),
        "{hint_line}"
    );
    // A data administrator imports people but tops up nobody.
    let mut a = at_desk(Lang::EN, Role::DataAdministrator);
    assert!(update(&mut a, key('I')).is_empty());
    assert!(matches!(a.overlay, Some(Overlay::CardForm(_))));
    update(&mut a, code(KeyCode::Esc));
    assert_eq!(update(&mut a, key('u')), vec![Effect::Bell]);
    // A door administrator may resend a card's grants to the terminals that failed.
    let mut door = at_desk(Lang::EN, Role::DoorAdministrator);
    assert_eq!(
        update(&mut door, key('s')),
        vec![Effect::Card(CardOp::Resend { card_id: 21 })]
    );
    // The duty operator has no reports.
    let mut duty = at_desk(Lang::EN, Role::DutyOperator);
    update(&mut duty, key('v'));
    let fx = update(&mut duty, key('v'));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::LoadReport { .. })),
        "{fx:?}"
    );
    assert!(text(&mut duty, 80, 24).contains("no access to the card desk's reports"));
}

// ---- Terminal confirmations ---------------------------------------------------------------------

#[test]
fn terminal_confirmations_reload_when_a_command_or_the_card_changes() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    let screen = text(&mut s, 160, 48);
    assert!(screen.contains("Terminals: confirmed 7/9"), "{screen}");
    assert!(
        screen.contains("failed · 学生宿舍三号楼北门 · accept: no reply after 3 tries"),
        "{screen}"
    );
    assert!(
        screen.contains("queued · 二食堂收费机 08 · accept"),
        "{screen}"
    );
    // A storm of finished commands: one read of the confirmations per frame.
    for i in 0..500 {
        assert!(update(&mut s, Msg::Changed(Change::command(1000 + i))).is_empty());
    }
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![Effect::LoadConfirmations { card_id: 21 }]
    );
    let mut now = detail(21, 8165537, CardState::Active).confirmations;
    now.confirmed = 8;
    now.pending.remove(1);
    update(
        &mut s,
        Msg::ConfirmationsLoaded {
            card_id: 21,
            confirmations: now,
        },
    );
    assert!(text(&mut s, 160, 48).contains("Terminals: confirmed 8/9"));
    // The card itself changed (another desk): the card and the person's cards, once.
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    update(&mut s, Msg::Changed(Change::command(7)));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            Effect::LoadPersonCards { person_id: 11 },
            Effect::LoadCard { card_id: 21 },
        ]
    );
    // Cards of other people: nothing to read.
    update(&mut s, Msg::Changed(Change::cards(vec![99])));
    assert!(update(&mut s, Msg::Frame).is_empty());
    // All confirmed: finished commands no longer concern this card.
    let mut done = detail(21, 8165537, CardState::Active);
    done.confirmations = Confirmations {
        confirmed: 9,
        total: 9,
        pending: vec![],
    };
    update(&mut s, Msg::CardLoaded(Box::new(done)));
    update(&mut s, Msg::Changed(Change::command(8)));
    assert!(update(&mut s, Msg::Frame).is_empty());
    // Resend to the failed ones.
    let mut failed = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(
        update(&mut failed, key('s')),
        vec![Effect::Card(CardOp::Resend { card_id: 21 })]
    );
    // Off the tab, nothing is read for it.
    update(&mut failed, key('6'));
    update(&mut failed, Msg::Changed(Change::cards(vec![21])));
    assert!(!update(&mut failed, Msg::Frame)
        .iter()
        .any(|e| matches!(e, Effect::LoadCard { .. })));
}

// ---- Stock, reports, imports, demo --------------------------------------------------------------

fn stock() -> StockInfo {
    let fee = |id, kind: &str, card_no, name: &str, by: &str| FeeRow {
        id,
        at: at(2, 10 + id as u32),
        kind: kind.into(),
        card_no,
        person_no: "T10003".into(),
        person_name: name.into(),
        card_kind: "staff".into(),
        amount: dec("20.00"),
        paid_from: if id % 2 == 0 { "cash" } else { "balance" }.into(),
        collected_by: by.into(),
    };
    StockInfo {
        level: StockLevel {
            received: 500,
            issued: 41,
            spoiled: 2,
            on_hand: 457,
        },
        counts: vec![StockCount {
            id: 1,
            at: at(1, 0),
            recorded: 458,
            physical: 457,
            difference: -1,
            note: "每周盘点".into(),
            actor: "wang.fang".into(),
        }],
        fees: vec![
            fee(3, "reissue", 8165600, "欧阳晓东", "王芳"),
            fee(2, "issue", 8165599, "李娜", "王芳"),
            fee(1, "exchange", 8165598, "Mateo García", "周建国"),
        ],
    }
}

fn report() -> ReportPage {
    let row = |no: &str, pno: &str, name: &str, dept: &str, kind: &str, how: &str, t: &str| {
        vec![no, pno, name, dept, kind, how, t, "wang.fang"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    ReportPage {
        kind: ReportKind::Issued,
        filter: ReportFilter::default(),
        columns: ReportKind::Issued
            .columns()
            .into_iter()
            .map(String::from)
            .collect(),
        numeric: vec![true, false, false, false, false, false, false, false],
        rows: vec![
            row(
                "8165537",
                "T10003",
                "王芳",
                "计算机学院",
                "staff",
                "issue",
                "2026-11-20 10:04",
            ),
            row(
                "8165600",
                "202600017",
                "欧阳晓东",
                "机械工程学院",
                "student",
                "reissue",
                "2026-11-21 09:30",
            ),
            row(
                "8165599",
                "V00001",
                "李娜",
                "International Office",
                "temporary",
                "issue",
                "2026-11-22 08:12",
            ),
        ],
        total_rows: 3,
        total: None,
    }
}

#[test]
fn stock_counts_and_fees_and_the_reports() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(
        update(&mut s, key('v')),
        vec![Effect::LoadCardRefs, Effect::LoadStock]
    );
    assert_eq!(s.cards.view, DeskView::Stock);
    update(&mut s, Msg::StockLoaded(stock()));
    update(&mut s, key('H'));
    typed(&mut s, "455");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "weekly");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::Stock(StockOp::Count {
            physical: 455,
            note: "weekly".into()
        })]
    );
    let fx = update(
        &mut s,
        Msg::Done("Counted 455; the records say 457: difference -2.".into()),
    );
    assert!(s.overlay.is_none(), "done: the form closes");
    assert!(fx.contains(&Effect::LoadStock));
    // A spoil of nothing is no spoil.
    update(&mut s, key('W'));
    typed(&mut s, "0");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    update(&mut s, code(KeyCode::Esc));
    // A report key from the stock view opens the reports.
    let fx = update(&mut s, key('F'));
    assert_eq!(s.cards.view, DeskView::Reports);
    assert!(fx.contains(&Effect::LoadReport {
        kind: ReportKind::Issued,
        filter: ReportFilter::default()
    }));
    // The filters: balances of one department.
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "2026-11-01");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "2026-10-01");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        card_form(&s).error.as_deref(),
        Some("the validity ends (2026-10-01) before it starts (2026-11-01)")
    );
    for _ in 0..10 {
        update(&mut s, code(KeyCode::Backspace));
    }
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "计算机学院");
    let filter = ReportFilter {
        from: Some(date("2026-11-01")),
        to: None,
        department: Some("计算机学院".into()),
        kind: None,
        operator: None,
    };
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::LoadReport {
            kind: ReportKind::Balances,
            filter: filter.clone()
        }]
    );
    assert_eq!(s.cards.reports.kind, ReportKind::Balances);
    // A late answer to the old report is not shown as the new one.
    update(&mut s, Msg::ReportLoaded(report()));
    assert!(s.cards.reports.page.is_none());
    let mut page = report();
    page.kind = ReportKind::Balances;
    // Nor is the same report under the filters it had before.
    update(&mut s, Msg::ReportLoaded(page.clone()));
    assert!(s.cards.reports.page.is_none());
    page.filter = filter.clone();
    update(&mut s, Msg::ReportLoaded(page));
    assert!(s.cards.reports.page.is_some());
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(
        s.cards.reports.selected, 2,
        "the cursor stops on the last row"
    );
    update(&mut s, key('O'));
    assert_eq!(
        card_form(&s).text("card.form.path"),
        "onecard-balances-20261122.csv"
    );
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::ExportReport {
            kind: ReportKind::Balances,
            filter,
            path: "onecard-balances-20261122.csv".into()
        }]
    );
}

fn summary(path: &str, dry_run: bool) -> ImportSummary {
    ImportSummary {
        path: path.into(),
        sha256: "00".into(),
        dry_run,
        rows: 315,
        new: 12,
        updated: 3,
        unchanged: 300,
        departments_created: vec![],
        new_persons: vec![],
        updated_persons: vec![],
        left_holding: vec![],
        left_holding_cards: 2,
        audit_id: None,
    }
}

#[test]
fn a_person_import_is_dry_run_first_then_shows_its_progress() {
    let mut s = at_desk(Lang::EN, Role::DataAdministrator);
    update(&mut s, key('I'));
    typed(&mut s, "/srv/hr/2026-11.csv");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::ImportPersons {
            path: "/srv/hr/2026-11.csv".into(),
            dry_run: true
        }]
    );
    // A bad file: the words stay in the form.
    update(
        &mut s,
        Msg::Failed(
            "/srv/hr/2026-11.csv: nothing imported; 1 bad row(s):\n  line 7: no name".into(),
        ),
    );
    assert!(card_form(&s).error.as_deref().unwrap().contains("line 7"));
    update(&mut s, code(KeyCode::Enter));
    update(
        &mut s,
        Msg::ImportPreview {
            path: "/srv/hr/2026-11.csv".into(),
            summary: summary("/srv/hr/2026-11.csv", true),
        },
    );
    assert!(matches!(s.overlay, Some(Overlay::Import)));
    let screen = text(&mut s, 80, 24);
    assert!(
        screen.contains("new 12") && screen.contains("left alone 300"),
        "{screen}"
    );
    assert!(
        screen.contains("2 people marked left still hold a card"),
        "{screen}"
    );
    assert_eq!(
        update(&mut s, key('y')),
        vec![Effect::ImportPersons {
            path: "/srv/hr/2026-11.csv".into(),
            dry_run: false
        }]
    );
    update(
        &mut s,
        Msg::ImportProgress {
            done: 150,
            total: 300,
        },
    );
    // While it runs, keys do not stop it half way.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    let screen = text(&mut s, 80, 24);
    assert!(
        screen.contains("150/300") && screen.contains("████"),
        "{screen}"
    );
    update(
        &mut s,
        Msg::ImportDone {
            summary: summary("/srv/hr/2026-11.csv", false),
        },
    );
    assert!(s.overlay.is_none());
    assert_eq!(
        message(&s),
        "Imported /srv/hr/2026-11.csv: 12 new, 3 updated, 300 left alone."
    );
    assert!(s.pending.desk.search, "the register is read again");
}

#[test]
fn only_the_demo_lays_cards_on_a_simulated_reader() {
    let mut s = at_desk(Lang::EN, Role::Director);
    assert!(update(&mut s, key('d')).is_empty());
    assert_eq!(message(&s), "Only the demo has a simulated desk reader.");
    s.demo = true;
    assert_eq!(
        update(&mut s, key('d')),
        vec![Effect::DeskPresent { card_no: None }]
    );
    update(&mut s, key('N'));
    typed(&mut s, "8165537");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![Effect::DeskPresent {
            card_no: Some(8165537)
        }]
    );
    // Both presets bind every card desk command.
    for preset in Keymap::PRESET_NAMES {
        let keymap = Keymap::preset(preset).unwrap();
        for cmd in onecard::keymap::Command::ALL {
            if cmd.name().starts_with("card")
                || cmd.name().starts_with("stock")
                || cmd.name().starts_with("report")
                || cmd.name().starts_with("desk")
                || cmd.name() == "person.import"
            {
                assert!(
                    !keymap
                        .keys_for(onecard::keymap::Section::Cards, *cmd)
                        .is_empty(),
                    "{preset}: {cmd}"
                );
            }
        }
    }
}

// ---- Snapshots ----------------------------------------------------------------------------------

/// The desk as the card desk sees it in the morning: a blank card on the reader, 王芳's card
/// with two terminals not confirmed yet.
fn morning(lang: Lang) -> State {
    let mut s = at_desk(lang, Role::CardDesk);
    update(
        &mut s,
        Msg::CardPresented {
            terminal_id: 9,
            card_no: 48596572,
            new: true,
        },
    );
    update(
        &mut s,
        Msg::CardLookedUp {
            card_no: 48596572,
            lookup: CardLookup::New,
        },
    );
    update(&mut s, Msg::Tick(at(3, 4)));
    s
}

#[test]
fn snapshot_card_desk_zh_80x24() {
    let mut s = morning(Lang::ZH_CN);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_card_desk_zh_160x48() {
    let mut s = morning(Lang::ZH_CN);
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_lost_card_en_160x48() {
    let mut s = at_desk_with(Lang::EN, Role::Director, CardState::Lost);
    update(&mut s, key('j'));
    update(&mut s, key('k'));
    update(&mut s, Msg::Frame);
    let mut old = view(20, 8100001, CardState::Replaced);
    old.replaced_by_card_no = Some(8165537);
    update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 11,
            cards: vec![view(21, 8165537, CardState::Lost), old],
        },
    );
    update(
        &mut s,
        Msg::CardLoaded(Box::new(detail(21, 8165537, CardState::Lost))),
    );
    s.cards.results[0].card_state = Some("lost".into());
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_issue_form_zh_80x24() {
    let mut s = morning(Lang::ZH_CN);
    update(&mut s, key('j'));
    update(&mut s, Msg::Frame);
    update(
        &mut s,
        Msg::PersonCardsLoaded {
            person_id: 12,
            cards: vec![],
        },
    );
    update(&mut s, key('i'));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, key(' '));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_pins_zh_80x24() {
    let mut s = morning(Lang::ZH_CN);
    update(
        &mut s,
        Msg::CardDone(CardDone {
            text: "已发卡：王芳芳（T10004）的卡 48596572。".into(),
            card_id: Some(30),
            person_id: Some(12),
            pins: Some(PinNote {
                card_no: 48596572,
                person_name: "王芳芳".into(),
                pins: vec![
                    ("card.pins.query", "019766".into()),
                    ("card.pins.payment", "301358".into()),
                ],
            }),
        }),
    );
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_stock_zh_80x24() {
    let mut s = at_desk(Lang::ZH_CN, Role::CardDesk);
    update(&mut s, key('v'));
    update(&mut s, Msg::StockLoaded(stock()));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_report_zh_160x48() {
    let mut s = at_desk(Lang::ZH_CN, Role::CardDesk);
    update(&mut s, key('v'));
    update(&mut s, key('v'));
    update(&mut s, Msg::ReportLoaded(report()));
    update(&mut s, key('j'));
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

/// Every screen of the tab, in both languages.
fn every_screen(lang: Lang) -> Vec<State> {
    let mut out = vec![
        morning(lang),
        at_desk_with(lang, Role::Director, CardState::Lost),
    ];
    for k in [
        'i', 'w', 'X', 'D', 'e', 'E', 'p', 'K', 'm', 'u', 'n', 'I', 'x', 'b',
    ] {
        let mut s = morning(lang);
        if k == 'i' {
            update(&mut s, key('j'));
            update(&mut s, Msg::Frame);
            update(
                &mut s,
                Msg::PersonCardsLoaded {
                    person_id: 12,
                    cards: vec![],
                },
            );
        }
        update(&mut s, key(k));
        out.push(s);
    }
    let mut r = at_desk_with(lang, Role::Director, CardState::Lost);
    update(&mut r, key('R'));
    out.push(r);
    let mut stock_view = morning(lang);
    update(&mut stock_view, key('v'));
    out.push(stock_view.clone());
    update(&mut stock_view, Msg::StockLoaded(stock()));
    out.push(stock_view.clone());
    for k in ['B', 'W', 'H'] {
        let mut s = stock_view.clone();
        update(&mut s, key(k));
        out.push(s);
    }
    let mut reports = stock_view.clone();
    update(&mut reports, key('v'));
    out.push(reports.clone());
    update(&mut reports, Msg::ReportLoaded(report()));
    out.push(reports.clone());
    for k in ['F', 'O'] {
        let mut s = reports.clone();
        update(&mut s, key(k));
        out.push(s);
    }
    let mut import = morning(lang);
    update(&mut import, key('I'));
    typed(&mut import, "/srv/hr/persons.csv");
    update(&mut import, code(KeyCode::Enter));
    update(
        &mut import,
        Msg::ImportPreview {
            path: "/srv/hr/persons.csv".into(),
            summary: summary("/srv/hr/persons.csv", true),
        },
    );
    out.push(import.clone());
    update(&mut import, key('y'));
    update(
        &mut import,
        Msg::ImportProgress {
            done: 7,
            total: 315,
        },
    );
    out.push(import);
    let mut help = morning(lang);
    update(&mut help, key('?'));
    out.push(help);
    let mut empty = signed_in(lang, Role::Technician);
    out.push(empty.clone());
    typed(&mut empty, "无此人");
    update(
        &mut empty,
        Msg::PeopleFound {
            query: "无此人".into(),
            people: vec![],
        },
    );
    out.push(empty);
    out
}

#[test]
fn every_screen_renders_at_every_size_with_no_raw_keys() {
    for lang in [Lang::EN, Lang::ZH_CN] {
        for mut s in every_screen(lang) {
            for (w, h) in [(80, 24), (160, 48)] {
                let screen = text(&mut s, w, h);
                for prefix in [
                    "card.", "person.", "stock.", "fee.", "report.", "hint.", "cmd.", "msg.",
                    "form.",
                ] {
                    // A catalogue key is the prefix and a word right after it ("card.form");
                    // "a staff card." ends a sentence.
                    let raw = screen.match_indices(prefix).any(|(i, _)| {
                        screen[i + prefix.len()..]
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_lowercase())
                    });
                    assert!(!raw, "raw key {prefix}:\n{screen}");
                }
            }
            for w in (0..=200).step_by(13) {
                for h in (0..=60).step_by(7) {
                    update(&mut s, Msg::Resize(w, h));
                    render(&mut s, w, h);
                }
            }
        }
    }
}

#[test]
fn chinese_names_line_up_in_the_register() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    let screen = text(&mut s, 80, 24);
    let col = |needle: &str| {
        let line = screen
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on screen:\n{screen}"));
        let before = line.split(needle).next().unwrap();
        unicode_width::UnicodeWidthStr::width(before)
    };
    assert_eq!(col("计算机学院"), col("机械工程学院"));
    assert_eq!(col("机械工程学院"), col("外国语学院"));
}

// ---- Against PostgreSQL -------------------------------------------------------------------------

mod live {
    use super::*;
    use crate::harness::Console;
    use crate::support::{library_door, test_db};
    use sqlx::PgPool;

    impl Console {
        fn screen(&mut self) -> String {
            text(&mut self.state, 160, 48)
        }
    }

    /// A terminal on the library door's line (plain SQL: the inventory is not what is tested
    /// here).
    async fn add_terminal(pool: &PgPool, door: i64, kind: &str, address: i64, name: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO terminal (line_id, kind, address, name)
             SELECT line_id, $2, $3, $4 FROM terminal WHERE id = $1 RETURNING id",
        )
        .bind(door)
        .bind(kind)
        .bind(address)
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    async fn next_msg(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>) -> Msg {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("a message")
            .expect("the listener runs")
    }

    async fn notify(pool: &PgPool, channel: &str, payload: &str) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn persons_added_or_edited_at_another_desk_show_at_once() {
        use onecard::db::person::{self, Category, PersonFields, Status};
        let db = test_db().await;
        let pool = db.pool.clone();
        let shell = onecard::domain::permission::Actor::shell("root");
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
        let wang = person::add(&pool, &shell, &fields("T10003", "王芳"))
            .await
            .unwrap();
        let mut c =
            Console::sign_in(&pool, state(Lang::EN), "desk.two", "李娜", Role::CardDesk).await;
        c.strict = true;
        assert!(c.screen().contains("王芳"));

        // Another desk renames her and adds a colleague: one notification each, no key pressed.
        person::update(&pool, &shell, wang.id, &fields("T10003", "王芳芳"))
            .await
            .unwrap();
        person::add(&pool, &shell, &fields("T10004", "欧阳晓东"))
            .await
            .unwrap();
        for _ in 0..2 {
            c.pump_until(|m| matches!(m, Msg::Changed(ch) if !ch.person.is_empty()))
                .await;
        }
        let fx = c.frame().await;
        assert!(
            fx.iter().any(|e| matches!(e, Effect::SearchPeople { .. })),
            "{fx:?}"
        );
        let screen = c.screen();
        assert!(
            screen.contains("王芳芳") && screen.contains("欧阳晓东"),
            "{screen}"
        );
    }

    #[tokio::test]
    async fn a_console_with_its_own_desk_reader_hears_only_that_reader() {
        let db = test_db().await;
        let pool = db.pool.clone();
        let (_, door) = library_door(&pool).await;
        let readers = [
            add_terminal(&pool, door, "desk_reader", 1, "卡务中心读卡器").await,
            add_terminal(&pool, door, "desk_reader", 2, "二楼窗口读卡器").await,
        ];
        let ours = onecard::console::desk_reader_id(&pool, "卡务中心读卡器")
            .await
            .unwrap();
        assert_eq!(ours, readers[0]);
        // A door controller is no desk reader, and a name not in the inventory is said so.
        let e = onecard::console::desk_reader_id(&pool, "图书馆东门")
            .await
            .unwrap_err();
        assert!(e.contains("no desk reader named “图书馆东门”"), "{e}");

        let (inbox, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _listen = onecard::console::listen_into(pool.clone(), inbox, Some(ours));
        while !matches!(next_msg(&mut rx).await, Msg::Resync) {}
        for (reader, card) in [(readers[1], 8165001), (readers[0], 8165002)] {
            let payload = format!(r#"{{"terminal":{reader},"card":{card},"new":true}}"#);
            notify(&pool, onecard::poller::CARD_CHANNEL, &payload).await;
        }
        let heard = loop {
            if let Msg::CardPresented {
                terminal_id,
                card_no,
                ..
            } = next_msg(&mut rx).await
            {
                break (terminal_id, card_no);
            }
        };
        assert_eq!(heard, (ours, 8165002), "the other desk's card is not ours");
    }

    #[tokio::test]
    async fn a_card_on_the_desk_reader_and_a_terminals_confirmation_reach_the_screen() {
        let db = test_db().await;
        let pool = db.pool.clone();
        let (_, door) = library_door(&pool).await;
        // A second terminal and the desk reader on the same line.
        let pos = add_terminal(&pool, door, "pos", 7, "一食堂收费机 07").await;
        let reader = add_terminal(&pool, door, "desk_reader", 1, "卡务中心发卡器").await;
        // 王芳 and her card, with what two terminals must accept and the commands telling them.
        let (person, card): (i64, i64) = sqlx::query_as(
            "WITH d AS (INSERT INTO department (code, name) VALUES ('D01', '计算机学院') RETURNING id),
                  p AS (INSERT INTO person (person_no, name, department_id, category)
                        SELECT 'T10003', '王芳', id, 'staff' FROM d RETURNING id)
             INSERT INTO card (card_no, person_id, kind, subsystems, valid_from, valid_until,
                               issued_by, query_pin_hash, payment_pin_hash)
             SELECT 8165537, p.id, 'staff', '{door,pos}', current_date, current_date + 365,
                    'test', 'x', 'x' FROM p
             RETURNING person_id, id",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let mut commands = Vec::new();
        for terminal in [door, pos] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO terminal_command (terminal_id, command) VALUES ($1, '{}') RETURNING id",
            )
            .bind(terminal)
            .fetch_one(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO card_sync (card_id, terminal_id, stance, command_id)
                 VALUES ($1, $2, 'accept', $3)",
            )
            .bind(card)
            .bind(terminal)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
            commands.push(id);
        }

        let mut c =
            Console::sign_in(&pool, state(Lang::EN), "wang.fang", "王芳", Role::CardDesk).await;
        c.strict = true;
        assert_eq!(
            c.state.cards.results.len(),
            1,
            "the register, read at sign-in"
        );

        // The desk reader's poller announces the card laid on it.
        let payload = format!(r#"{{"terminal":{reader},"card":8165537,"new":false}}"#);
        notify(&pool, onecard::poller::CARD_CHANNEL, &payload).await;
        c.pump_until(|m| matches!(m, Msg::CardPresented { .. }))
            .await;
        assert!(matches!(
            &c.state.cards.reader,
            Some(p) if matches!(&p.lookup, Some(CardLookup::Issued(v)) if v.card_id == card)
        ));
        c.frame().await;
        assert_eq!(c.state.cards.selected, Some(person));
        let screen = c.screen();
        assert!(
            screen.contains("card 8165537 issued to 王芳 (T10003) · active"),
            "{screen}"
        );
        assert!(screen.contains("Terminals: confirmed 0/2"), "{screen}");
        assert!(
            screen.contains("queued · 一食堂收费机 07 · accept"),
            "{screen}"
        );

        // The POS confirms: its command is done, announced as the poller announces it.
        sqlx::query("UPDATE terminal_command SET state = 'done', result = 'ok' WHERE id = $1")
            .bind(commands[1])
            .execute(&pool)
            .await
            .unwrap();
        notify(
            &pool,
            onecard::db::notify::CHANNEL,
            &serde_json::to_string(&Change::command(commands[1])).unwrap(),
        )
        .await;
        c.pump_until(|m| matches!(m, Msg::Changed(_))).await;
        assert!(
            c.screen().contains("Terminals: confirmed 0/2"),
            "read at the frame"
        );
        c.frame().await;
        let screen = c.screen();
        assert!(screen.contains("Terminals: confirmed 1/2"), "{screen}");
        assert!(!screen.contains("一食堂收费机 07 · accept"), "{screen}");
        assert!(screen.contains("queued · 图书馆东门 · accept"), "{screen}");
    }
}

// ---- The demo ------------------------------------------------------------------------------------

#[tokio::test]
async fn the_demo_seeds_the_card_desk_through_its_own_api() {
    use onecard::sim::site::{Ports, SiteConfig};
    let db = crate::support::test_db().await;
    let pool = &db.pool;
    onecard::demo::load(pool).await.unwrap();
    let site = onecard::sim::runner::Site::start(&SiteConfig::demo(), Ports::ephemeral())
        .await
        .unwrap();
    onecard::poller::register_site(pool, &site).await.unwrap();
    onecard::demo::seed_card_desk(pool).await.unwrap();
    // Once: a second start adds nothing.
    onecard::demo::seed_card_desk(pool).await.unwrap();
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM door_group").await, 3);
    assert_eq!(
        count("SELECT count(*) FROM door_group_door dg JOIN door_group g ON g.id = dg.door_group_id WHERE g.name = '全部门禁'").await,
        16,
        "every door of the four controllers"
    );
    assert_eq!(count("SELECT count(*) FROM card").await, 37);
    assert_eq!(
        count("SELECT count(*) FROM card WHERE state = 'lost'").await,
        3
    );
    assert_eq!(
        count("SELECT count(*) FROM card WHERE state = 'replaced'").await,
        1
    );
    assert_eq!(
        count("SELECT count(DISTINCT kind) FROM card").await,
        3,
        "staff, student and temporary cards"
    );
    assert_eq!(
        count("SELECT count(*) FROM card_stock_movement WHERE kind = 'received'").await,
        1
    );
    // Through the card desk's API: every card has its history and its audit rows, and what
    // the terminals must accept is queued.
    assert_eq!(
        count("SELECT count(*) FROM card c WHERE NOT EXISTS (SELECT 1 FROM card_event e WHERE e.card_id = c.id)").await,
        0
    );
    assert!(count("SELECT count(*) FROM audit_log WHERE action LIKE 'card.%'").await >= 37);
    assert!(count("SELECT count(*) FROM card_sync").await > 0);
    // The swipes of the simulated site are made with cards the desk issued.
    let first = onecard::sim::site::CardsConfig::default().first as i64;
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT min(card_no) FROM card")
            .fetch_one(pool)
            .await
            .unwrap(),
        first
    );
    site.stop();
}
