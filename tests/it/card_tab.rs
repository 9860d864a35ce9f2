//! The Card service tab: `update` transitions (Msg → State → Effects) for the card desk's day,
//! `TestBackend` snapshots with Chinese names, and one run against a real PostgreSQL where a
//! card on the desk reader and a terminal's confirmation reach the screen.

use crate::harness::{render, screen_text};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::failure::Failure;
use onecard::app::msg::DbState;
use onecard::app::session;
use onecard::app::state::{DbWhere, Level, State, TabId, ThemeName};
use onecard::app::tabs::cards::{
    self, CardDetail, CardDone, CardEventRow, CardField, CardForm, CardKindPolicy, CardLookup,
    CardOp, CardRefs, CardView, Confirmations, DeskView, DoorGroup, FeeRow, ImportSummary,
    IssueRequest, Named, PaidFrom, PersonRow, PinKind, PinNote, Popup, PurchaseText, ReportFilter,
    ReportKind, ReportPage, StockCount, StockInfo, StockLevel, StockOp,
};
use onecard::app::{update, Effect, Msg};
use onecard::db::card::{BalancePolicy, Grant, Limits};
use onecard::db::desk::Channel;
use onecard::db::door_group::GroupDoor;
use onecard::db::notify::Change;
use onecard::db::operator::{Operator, Session};
use onecard::db::propagation::Pending;
use onecard::domain::card::{CardKind, CardState, Refusal, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::role::Role;
use onecard::i18n::Lang;
use onecard::keymap::Keymap;
use std::str::FromStr;
use std::sync::Arc;

// ---- Fixtures ---------------------------------------------------------------------------------

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap()
}

fn dec(s: &str) -> Money {
    Money::from_str(s).unwrap()
}

fn state(lang: Lang) -> State {
    let keymap = Arc::new(Keymap::preset("default").expect("default preset"));
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 3, 4, 5).unwrap();
    let mut s = State::new(keymap, lang, ThemeName::Default, DbWhere::Embedded, now);
    s.shell.utc_offset = FixedOffset::east_opt(8 * 3600).unwrap();
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
    s.shell.db = DbState::Ready;
    update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
    let fx = update(
        &mut s,
        Msg::Session(session::Msg::LoggedIn(Session {
            id: 1,
            operator: operator(role),
        })),
    );
    assert_eq!(
        s.shell.tab,
        TabId::Cards,
        "the console opens on the Card service tab"
    );
    // The alarms (1), the desk's pickers (2) and the register (3).
    assert!(fx.contains(&card_fx(cards::Effect::LoadRefs { gen: 2 })));
    assert!(fx.contains(&card_fx(cards::Effect::Search {
        gen: 3,
        query: String::new()
    })));
    update(
        &mut s,
        card_msg(cards::Msg::RefsLoaded {
            gen: 2,
            refs: refs(),
        }),
    );
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
        // The register's rows say how many matched in all: five in these fixtures.
        total: 5,
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
        failure: None,
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

fn card_fx(e: cards::Effect) -> Effect {
    Effect::Cards(e)
}

fn card_msg(m: cards::Msg) -> Msg {
    Msg::Cards(m)
}

fn op(op: CardOp) -> Vec<Effect> {
    vec![card_fx(cards::Effect::Op(op))]
}

/// The newest load generation handed out: an answer made with it is shown whatever came
/// before.
fn newest(s: &State) -> u64 {
    s.shell.gen
}

/// The generation of the one effect of `fx` that `pick` chooses.
fn gen_of(fx: &[Effect], pick: impl Fn(&cards::Effect) -> Option<u64>) -> u64 {
    let gens: Vec<u64> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Cards(c) => pick(c),
            _ => None,
        })
        .collect();
    assert_eq!(gens.len(), 1, "one such effect in {fx:?}");
    gens[0]
}

fn people_found(s: &mut State, gen: u64, query: &str, people: Vec<PersonRow>) -> Vec<Effect> {
    let total = people.len() as i64;
    update(
        s,
        card_msg(cards::Msg::PeopleFound {
            gen,
            query: query.into(),
            people,
            total,
        }),
    )
}

fn person_cards(s: &mut State, gen: u64, person_id: i64, cards: Vec<CardView>) -> Vec<Effect> {
    update(
        s,
        card_msg(cards::Msg::PersonCardsLoaded {
            gen,
            person_id,
            cards,
        }),
    )
}

fn card_loaded(s: &mut State, gen: u64, detail: CardDetail) -> Vec<Effect> {
    update(
        s,
        card_msg(cards::Msg::CardLoaded {
            gen,
            detail: Box::new(detail),
        }),
    )
}

/// A card laid on desk reader 9; returns the lookup's generation.
fn presented(s: &mut State, card_no: i64, new: bool) -> u64 {
    let gen = newest(s) + 1;
    assert_eq!(
        update(
            s,
            card_msg(cards::Msg::Presented {
                terminal_id: 9,
                card_no,
                new,
            })
        ),
        vec![card_fx(cards::Effect::Lookup { gen, card_no })]
    );
    gen
}

fn looked_up(s: &mut State, gen: u64, card_no: i64, lookup: CardLookup) -> Vec<Effect> {
    update(
        s,
        card_msg(cards::Msg::LookedUp {
            gen,
            card_no,
            lookup,
        }),
    )
}

fn done(s: &mut State, done: CardDone) -> Vec<Effect> {
    update(s, card_msg(cards::Msg::Done(done)))
}

/// Signed in on the Card service tab, the register searched, 王芳 selected with her active
/// card 8165537 (and an older replaced one) shown.
fn at_desk(lang: Lang, role: Role) -> State {
    at_desk_with(lang, role, CardState::Active)
}

fn at_desk_with(lang: Lang, role: Role, card_state: CardState) -> State {
    let mut s = signed_in(lang, role);
    let fx = people_found(&mut s, 3, "", people());
    assert!(fx.is_empty());
    assert_eq!(s.cards.selected, Some(11), "the first person is selected");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::LoadPersonCards {
            gen: 4,
            person_id: 11
        })]
    );
    let mut old = view(20, 8100001, CardState::Replaced);
    old.replaced_by_card_no = Some(8165537);
    let fx = person_cards(&mut s, 4, 11, vec![view(21, 8165537, card_state), old]);
    assert_eq!(
        fx,
        vec![card_fx(cards::Effect::LoadCard {
            gen: 5,
            card_id: 21
        })],
        "the card in service"
    );
    card_loaded(&mut s, 5, detail(21, 8165537, card_state));
    s
}

/// Moves to the next person and answers the read of their cards: none.
fn next_person_without_cards(s: &mut State, person_id: i64) {
    update(s, key('j'));
    let fx = update(s, Msg::Frame);
    let gen = gen_of(&fx, |e| match e {
        cards::Effect::LoadPersonCards { gen, .. } => Some(*gen),
        _ => None,
    });
    person_cards(s, gen, person_id, vec![]);
}

fn text(s: &mut State, w: u16, h: u16) -> String {
    screen_text(&render(s, w, h))
}

fn card_form(s: &State) -> &CardForm {
    match &s.cards.popup {
        Some(Popup::Form(f)) => f,
        other => panic!("no card form open: {other:?}"),
    }
}

fn focused(s: &State) -> CardField {
    card_form(s).form.focused().expect("a field has the focus")
}

fn form_error(s: &State) -> Option<&str> {
    card_form(s).form.error.as_deref()
}

fn message(s: &State) -> String {
    s.shell.message.clone().map(|m| m.1).unwrap_or_default()
}

fn typing(s: &State) -> Option<String> {
    onecard::app::router::typing_filter(s).map(|(_, t)| t.value().to_string())
}

// ---- The register -------------------------------------------------------------------------------

#[test]
fn typing_searches_the_register_once_per_frame_and_keeps_the_newest_answer() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    // Typing a name starts the search box; nothing is asked until the frame.
    assert!(typed(&mut s, "王芳").is_empty());
    assert_eq!(typing(&s).as_deref(), Some("王芳"));
    assert_eq!(s.cards.query(), "王芳");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::Search {
            gen: 4,
            query: "王芳".into()
        })]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "asked once");
    // The answer to the older search (of everyone, at sign-in), arriving late, is dropped.
    people_found(&mut s, 3, "", people());
    assert!(s.cards.results.is_empty());
    let found = vec![people()[0].clone(), people()[1].clone()];
    people_found(&mut s, 4, "王芳", found.clone());
    assert_eq!(s.cards.selected, Some(11));
    // An older answer to the same query arriving after it is dropped too.
    people_found(&mut s, 3, "王芳", people());
    assert_eq!(s.cards.results, found);
    // The arrows leave the box and move in the results; the person's cards are read at the
    // frame, once, however fast the cursor moved.
    update(&mut s, code(KeyCode::Down));
    assert!(typing(&s).is_none());
    assert_eq!(s.cards.selected, Some(12));
    update(&mut s, key('k'));
    update(&mut s, key('j'));
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::LoadPersonCards {
            gen: 5,
            person_id: 12
        })]
    );
    // An answer for someone the cursor left is dropped.
    person_cards(&mut s, 5, 11, vec![view(21, 8165537, CardState::Active)]);
    assert!(s.cards.cards.is_empty());
    assert!(person_cards(&mut s, 5, 12, vec![]).is_empty());
    let screen = text(&mut s, 80, 24);
    assert!(screen.contains("No card yet."), "{screen}");
    // "/" opens the box again with the query; esc empties it.
    update(&mut s, key('/'));
    assert_eq!(typing(&s).as_deref(), Some("王芳"));
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(s.cards.query(), "");
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::Search {
            gen: 6,
            query: String::new()
        })]
    );
}

#[test]
fn enter_steps_through_a_persons_cards() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(s.cards.card, Some(21));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::LoadCard {
            gen: 6,
            card_id: 20
        })]
    );
    assert!(
        s.cards.shown().is_none(),
        "the old card's details are not shown as the new one's"
    );
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::LoadCard {
            gen: 7,
            card_id: 21
        })]
    );
}

// ---- The desk reader ----------------------------------------------------------------------------

#[test]
fn a_blank_card_on_the_reader_is_issued_with_defaults_and_its_pins_shown_once() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    // 王芳芳 has no card yet.
    next_person_without_cards(&mut s, 12);
    let gen = presented(&mut s, 48596572, true);
    let screen = text(&mut s, 100, 30);
    assert!(screen.contains("card 48596572 looking it up"), "{screen}");
    looked_up(&mut s, gen, 48596572, CardLookup::New);
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("NEW blank card") && screen.contains("i issue it to 王芳芳"),
        "{screen}"
    );

    assert!(update(&mut s, key('i')).is_empty());
    let f = &card_form(&s).form;
    assert_eq!(
        f.text(CardField::CardNo),
        "48596572",
        "the card on the reader"
    );
    assert_eq!(
        f.choice(CardField::Kind),
        "staff",
        "from the person's category"
    );
    assert_eq!(
        f.ticked(CardField::Subsystems),
        ["door", "pos", "attendance"]
    );
    assert_eq!(f.ticked(CardField::Pos), ["3", "5"]);
    assert_eq!(f.ticked(CardField::Attendance), ["4"]);
    assert!(f.ticked(CardField::DoorGroups).is_empty());
    assert_eq!(f.text(CardField::ValidFrom), "2026-11-22", "today, locally");
    assert_eq!(f.text(CardField::ValidUntil), "2031-11-22");
    assert_eq!(
        focused(&s),
        CardField::Kind,
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
    assert_eq!(fx, op(CardOp::Issue(issue.clone())));
    assert!(
        card_form(&s).form.busy,
        "waits for the answer; no second issue"
    );
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    // Refused: the words stay in the form with what was picked.
    let refusal = Failure::CardNumberTaken {
        card_no: 48596572,
        holder: "李娜".into(),
    };
    let words = onecard::app::words::failure(Lang::EN, &refusal);
    assert!(
        words.contains("48596572") && words.contains("李娜"),
        "{words}"
    );
    assert!(update(&mut s, Msg::Failed(refusal)).is_empty());
    assert_eq!(form_error(&s), Some(words.as_str()));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::Issue(issue))
    );
    // The database announces the new card while the answer is on its way: held.
    update(&mut s, Msg::Changed(Change::cards(vec![30])));
    assert!(
        update(&mut s, Msg::Frame).is_empty(),
        "held until the answer"
    );
    // Written: the PINs show once, and the new card with them. What changed is read once,
    // at the next frame, from the notification.
    let fx = done(
        &mut s,
        CardDone {
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
        },
    );
    assert!(fx.is_empty(), "{fx:?}");
    let g = newest(&s);
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            card_fx(cards::Effect::Search {
                gen: g + 1,
                query: String::new()
            }),
            card_fx(cards::Effect::LoadPersonCards {
                gen: g + 2,
                person_id: 12
            }),
            card_fx(cards::Effect::LoadCard {
                gen: g + 3,
                card_id: 30
            }),
            card_fx(cards::Effect::Lookup {
                gen: g + 4,
                card_no: 48596572
            }),
        ]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "read once");
    let screen = text(&mut s, 80, 24);
    assert!(
        screen.contains("019766") && screen.contains("301358"),
        "{screen}"
    );
    assert!(screen.contains("only this once"), "{screen}");
    // Another key leaves it up; enter dismisses it, and the PINs are gone from the console.
    update(&mut s, key('x'));
    assert!(matches!(s.cards.popup, Some(Popup::Pins(_))));
    update(&mut s, code(KeyCode::Enter));
    assert!(s.cards.popup.is_none());
    let everything = format!("{s:?}");
    assert!(!everything.contains("019766") && !everything.contains("301358"));
    assert!(!text(&mut s, 80, 24).contains("019766"));
}

#[test]
fn the_kind_sets_the_defaults_and_a_temporary_card_only_pays() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    assert_eq!(s.cards.selected_person().unwrap().id, 14);
    next_person_without_cards(&mut s, 15);
    assert_eq!(s.cards.selected_person().unwrap().name, "李娜");
    update(&mut s, key('i'));
    let f = &card_form(&s).form;
    assert_eq!(
        f.text(CardField::CardNo),
        "",
        "no card on the reader: typed"
    );
    assert_eq!(focused(&s), CardField::CardNo);
    assert_eq!(
        f.choice(CardField::Kind),
        "temporary",
        "a visitor gets a temporary card"
    );
    assert_eq!(f.ticked(CardField::Subsystems), ["pos"]);
    assert!(f.ticked(CardField::Attendance).is_empty());
    assert_eq!(f.text(CardField::ValidUntil), "2027-11-22", "a year");
    assert!(f.intro[0].contains("¥20.00"), "{:?}", f.intro);
    // A temporary card given doors is refused before anything is asked.
    typed(&mut s, "8165599");
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, key(' '));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        form_error(&s),
        Some("a temporary card only pays: it cannot be given doors")
    );
    assert_eq!(focused(&s), CardField::Subsystems);
    // The kind moved to student: its own defaults.
    update(&mut s, code(KeyCode::Up));
    update(&mut s, code(KeyCode::Left));
    let f = &card_form(&s).form;
    assert_eq!(f.choice(CardField::Kind), "student");
    assert_eq!(f.ticked(CardField::Subsystems), ["door", "pos"]);
    assert_eq!(f.text(CardField::ValidUntil), "2030-11-22");
    assert!(f.intro[0].contains("No fee"), "{:?}", f.intro);
    // A bad date is named.
    for _ in 0..6 {
        update(&mut s, code(KeyCode::Tab));
    }
    assert_eq!(focused(&s), CardField::ValidUntil);
    for _ in 0..10 {
        update(&mut s, code(KeyCode::Backspace));
    }
    typed(&mut s, "2030-02-30");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        form_error(&s),
        Some("“2030-02-30” is not a date: write YYYY-MM-DD.")
    );
    // Esc leaves the form and nothing was asked.
    assert!(update(&mut s, code(KeyCode::Esc)).is_empty());
    assert!(s.cards.popup.is_none());
}

#[test]
fn an_issued_card_on_the_reader_shows_its_holder_and_a_person_with_a_card_gets_no_second() {
    let mut s = signed_in(Lang::EN, Role::CardDesk);
    let gen = presented(&mut s, 8165537, false);
    let fx = looked_up(
        &mut s,
        gen,
        8165537,
        CardLookup::Issued(view(21, 8165537, CardState::Active)),
    );
    assert_eq!(
        fx,
        vec![card_fx(cards::Effect::LoadCard {
            gen: gen + 1,
            card_id: 21
        })]
    );
    assert_eq!(s.cards.selected, Some(11));
    assert_eq!(
        s.cards.query(),
        "8165537",
        "the register is searched by the card"
    );
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            card_fx(cards::Effect::Search {
                gen: gen + 2,
                query: "8165537".into()
            }),
            card_fx(cards::Effect::LoadPersonCards {
                gen: gen + 3,
                person_id: 11
            }),
        ]
    );
    people_found(&mut s, gen + 2, "8165537", vec![people()[0].clone()]);
    assert_eq!(s.cards.selected, Some(11), "still on the holder");
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("issued to 王芳 (T10003) · active"),
        "{screen}"
    );
    // She holds a card in service: no second one (said with the bell).
    assert_eq!(update(&mut s, key('i')), vec![Effect::Bell]);
    assert!(s.cards.popup.is_none());
    assert_eq!(
        message(&s),
        "王芳 already holds card 8165537 (active): report it lost and reissue it, or exchange it."
    );
    // A blacklisted card says so.
    let gen = presented(&mut s, 8165512, false);
    let mut lost = view(40, 8165512, CardState::Lost);
    lost.person_id = 13;
    lost.person_name = "欧阳晓东".into();
    lost.person_no = "202600017".into();
    looked_up(&mut s, gen, 8165512, CardLookup::Blacklisted(lost));
    let screen = text(&mut s, 100, 30);
    assert!(
        screen.contains("BLACKLISTED") && screen.contains("欧阳晓东 (202600017) · lost"),
        "{screen}"
    );
    // Esc: done with the card on the reader; the register keeps its search.
    update(&mut s, code(KeyCode::Esc));
    assert!(s.cards.reader.is_none());
    assert_eq!(s.cards.query(), "8165512");
}

#[test]
fn a_card_laid_while_a_form_waits_for_one_fills_it() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('X'));
    assert_eq!(card_form(&s).form.text(CardField::CardNo), "");
    let gen = presented(&mut s, 8165600, false);
    // A used card: named in the form, not taken.
    looked_up(
        &mut s,
        gen,
        8165600,
        CardLookup::Issued(view(50, 8165600, CardState::Active)),
    );
    assert_eq!(card_form(&s).form.text(CardField::CardNo), "");
    assert_eq!(
        form_error(&s),
        Some("Card 8165600 is not blank: it belongs to 王芳 (active).")
    );
    assert_eq!(s.cards.selected, Some(11), "a form open: the cursor stays");
    let gen = presented(&mut s, 8165601, true);
    looked_up(&mut s, gen, 8165601, CardLookup::New);
    assert_eq!(card_form(&s).form.text(CardField::CardNo), "8165601");
    assert_eq!(form_error(&s), None);
    // The exchange needs its reason.
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(form_error(&s), Some("This cannot be empty."));
    assert_eq!(focused(&s), CardField::Reason);
    typed(&mut s, "磁条损坏");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::Exchange {
            card_id: 21,
            new_card_no: 8165601,
            reason: "磁条损坏".into(),
            paid_from: PaidFrom::Cash,
        })
    );
}

#[test]
fn typing_a_card_number_stands_in_for_a_reader() {
    let mut s = signed_in(Lang::EN, Role::DutyOperator);
    update(&mut s, key('n'));
    typed(&mut s, "8165x");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        form_error(&s),
        Some("“8165x” is not a card number (1 to 4294967295).")
    );
    update(&mut s, code(KeyCode::Backspace));
    typed(&mut s, "537");
    let gen = newest(&s) + 1;
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::Lookup {
            gen,
            card_no: 8165537
        })]
    );
    assert!(s.cards.popup.is_none());
    // The typed card is on the desk as if laid on a reader: its answer shows its holder.
    let p = s
        .cards
        .reader
        .as_ref()
        .expect("the typed card is on the desk");
    assert_eq!((p.card_no, p.terminal_id), (8165537, None));
    looked_up(
        &mut s,
        gen,
        8165537,
        CardLookup::Issued(view(21, 8165537, CardState::Active)),
    );
    assert_eq!(s.cards.selected, Some(11));
    assert_eq!(s.cards.card, Some(21));
}

// ---- Lifecycle ----------------------------------------------------------------------------------

#[test]
fn reissue_waits_24_hours_unless_the_director_gives_a_reason() {
    // Lost at 00:04, now 03:04: 3 hours.
    let mut desk = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    assert_eq!(update(&mut desk, key('R')), vec![Effect::Bell]);
    assert!(desk.cards.popup.is_none());
    assert_eq!(
        message(&desk),
        "card 8165537 was reported lost 3 h ago: a reissue needs 24 h unless a director overrides it with a reason"
    );

    let mut s = at_desk_with(Lang::EN, Role::Director, CardState::Lost);
    update(&mut s, key('R'));
    let f = &card_form(&s).form;
    assert!(f.has(CardField::OverrideReason));
    assert!(
        f.intro.iter().any(|l| l.contains("3 h ago")),
        "{:?}",
        f.intro
    );
    typed(&mut s, "8165600");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(focused(&s), CardField::OverrideReason);
    typed(&mut s, "学生证件急用");
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Right));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::Reissue {
            card_id: 21,
            new_card_no: 8165600,
            override_reason: Some("学生证件急用".into()),
            paid_from: PaidFrom::Balance,
        })
    );

    // A day later the card desk reissues without asking anyone.
    let mut later = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    // A day without a key would lock the console: this desk has no idle lock.
    later.shell.lock_after_min = 0;
    update(&mut later, Msg::Tick(at(3, 4) + Duration::hours(24)));
    update(&mut later, key('R'));
    assert!(!card_form(&later).form.has(CardField::OverrideReason));
}

#[test]
fn refusals_are_shown_in_the_card_desks_words() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    assert!(update(&mut s, key('x')).is_empty());
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("report lost confirms")
    };
    assert!(
        question.contains("card 8165537 of 王芳 (T10003)"),
        "{}",
        question
    );
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::ReportLost { card_id: 21 })
    );
    // Another desk was quicker: the database's refusal, in the desk's words.
    assert_eq!(
        update(
            &mut s,
            Msg::Failed(Failure::Refusal(Refusal::AlreadyLost { card_no: 8165537 }))
        ),
        vec![Effect::Bell]
    );
    assert_eq!(
        s.shell.message,
        Some((Level::Error, "card 8165537 is already lost".into()))
    );
    // The card as it is now: lost. The console knows before asking (and says so with the
    // bell).
    let mut lost = at_desk_with(Lang::EN, Role::CardDesk, CardState::Lost);
    assert_eq!(update(&mut lost, key('x')), vec![Effect::Bell]);
    assert!(lost.shell.overlay.is_none());
    assert_eq!(message(&lost), "card 8165537 is already lost");
    assert_eq!(update(&mut lost, key('e')), vec![Effect::Bell]);
    assert_eq!(
        message(&lost),
        "card 8165537 is lost: report it found first, or reissue it"
    );
    // Found: confirmed by name.
    update(&mut lost, key('f'));
    assert_eq!(
        update(&mut lost, key('y')),
        op(CardOp::ReportFound { card_id: 21 })
    );
    // In Chinese too.
    let mut zh = at_desk_with(Lang::ZH_CN, Role::CardDesk, CardState::Lost);
    update(&mut zh, key('x'));
    assert_eq!(message(&zh), "卡 8165537 已挂失");
}

#[test]
fn a_confirmation_answered_no_leaves_the_desk_listening() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('x'));
    assert!(update(&mut s, key('n')).is_empty());
    assert!(s.shell.overlay.is_none());
    // Nothing was sent: what the database announces is read at the next frame.
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    let fx = update(&mut s, Msg::Frame);
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Cards(cards::Effect::LoadCard { card_id: 21, .. })
        )),
        "{fx:?}"
    );
    // Also after a top-up left unconfirmed.
    update(&mut s, key('u'));
    typed(&mut s, "10");
    update(&mut s, code(KeyCode::Enter));
    assert!(onecard::app::router::confirming(&s).is_some());
    update(&mut s, code(KeyCode::Esc));
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    let fx = update(&mut s, Msg::Frame);
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Cards(cards::Effect::LoadCard { card_id: 21, .. })
        )),
        "{fx:?}"
    );
    // Said yes, the operation is on its way: notifications wait for its answer.
    update(&mut s, key('x'));
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::ReportLost { card_id: 21 })
    );
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    assert!(update(&mut s, Msg::Frame).is_empty());
}

#[test]
fn return_says_what_happens_to_the_balance_and_cancel_needs_a_reason() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    update(&mut s, key('b'));
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("return confirms")
    };
    assert!(
        question.contains("The balance of ¥128.50 is forfeited"),
        "{}",
        question
    );
    assert_eq!(update(&mut s, key('y')), op(CardOp::Return { card_id: 21 }));
    update(&mut s, key('D'));
    assert!(card_form(&s).form.intro[0].contains("¥128.50 is forfeited"));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    typed(&mut s, "毕业离校");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::Cancel {
            card_id: 21,
            reason: "毕业离校".into()
        })
    );
    // The database announces the card changed, before its answer is here: held.
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    assert!(update(&mut s, Msg::Frame).is_empty());
    // Done: the form closes; the card, the person's cards and the register are read again
    // once, from the notification.
    let fx = done(
        &mut s,
        CardDone {
            text: "Cancelled card 8165537 of 王芳 (T10003). Balance ¥128.50 kept.".into(),
            card_id: Some(21),
            person_id: None,
            pins: None,
        },
    );
    assert!(s.cards.popup.is_none());
    assert!(fx.is_empty(), "what changed comes by notification");
    let g = newest(&s);
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            card_fx(cards::Effect::Search {
                gen: g + 1,
                query: String::new()
            }),
            card_fx(cards::Effect::LoadPersonCards {
                gen: g + 2,
                person_id: 11
            }),
            card_fx(cards::Effect::LoadCard {
                gen: g + 3,
                card_id: 21
            }),
        ]
    );
    assert!(update(&mut s, Msg::Frame).is_empty(), "once");
}

#[test]
fn extend_rewrite_pins_limits_and_top_up_check_what_is_typed() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    // Extend: a year past the current expiry by default; not earlier.
    update(&mut s, key('e'));
    assert_eq!(card_form(&s).form.text(CardField::Until), "2031-08-31");
    for _ in 0..10 {
        update(&mut s, code(KeyCode::Backspace));
    }
    typed(&mut s, "2030-01-01");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        form_error(&s),
        Some("the new expiry 2030-01-01 is not after the current one (2030-08-31)")
    );
    update(&mut s, code(KeyCode::Esc));
    // Rewrite: what the card has is ticked.
    update(&mut s, key('w'));
    let f = &card_form(&s).form;
    assert_eq!(f.ticked(CardField::DoorGroups), ["2"]);
    assert_eq!(f.ticked(CardField::Pos), ["3"]);
    assert_eq!(f.ticked(CardField::Attendance), ["4"]);
    assert_eq!(f.text(CardField::ValidUntil), "2030-08-31");
    // Untick attendance as a subsystem: its machines are left out.
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, key(' '));
    let fx = update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        fx,
        op(CardOp::Rewrite {
            card_id: 21,
            rewrite: cards::Rewrite {
                subsystems: vec![Subsystem::Door, Subsystem::Pos],
                door_groups: vec![2],
                terminals: vec![3],
                valid_until: date("2030-08-31"),
            }
        })
    );
    update(&mut s, code(KeyCode::Esc));
    // PIN change: six digits, the old one too, twice the same.
    update(&mut s, key('p'));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "12345");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(form_error(&s), Some("A PIN is 6 digits."));
    typed(&mut s, "6x");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "654321");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "654320");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(form_error(&s), Some("The two new PINs differ."));
    update(&mut s, code(KeyCode::Backspace));
    typed(&mut s, "1");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::ChangePin {
            card_id: 21,
            which: PinKind::Payment,
            old: "123456".into(),
            new: "654321".into(),
        })
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
        form_error(&s),
        Some("“0” is not a number of purchases a day (at least 1).")
    );
    update(&mut s, code(KeyCode::Backspace));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::SetLimits {
            card_id: 21,
            per_purchase: Some(dec("80")),
            daily_count: None,
        })
    );
    update(&mut s, code(KeyCode::Esc));
    // Top-up: money moves only after a y/n naming the amount and the account. Money is
    // counted in fen: a third decimal is refused, not rounded.
    update(&mut s, key('u'));
    typed(&mut s, "12.345");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        form_error(&s),
        Some("“12.345”: an amount has at most two decimals (fen).")
    );
    update(&mut s, code(KeyCode::Backspace));
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let Some(question) = onecard::app::router::confirming(&s) else {
        panic!("a top-up confirms")
    };
    assert_eq!(
        question,
        "Top up ¥12.34 (cash) to the account of card 8165537 of 王芳 (T10003)?"
    );
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::TopUp {
            person_id: 11,
            card_id: 21,
            amount: dec("12.34"),
            channel: Channel::Cash,
            desk_reader: None,
        })
    );
    // Another channel is recorded by its name: without one the form says so.
    update(&mut s, key('u'));
    typed(&mut s, "50");
    update(&mut s, code(KeyCode::Down));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(form_error(&s), Some("Name the channel the money came by."));
    update(&mut s, code(KeyCode::Down));
    typed(&mut s, "微信");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        onecard::app::router::confirming(&s),
        Some("Top up ¥50.00 (微信) to the account of card 8165537 of 王芳 (T10003)?")
    );
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::TopUp {
            person_id: 11,
            card_id: 21,
            amount: dec("50"),
            channel: Channel::Other("微信".into()),
            desk_reader: None,
        })
    );
    // PIN reset: the new PIN comes back and shows once.
    update(&mut s, key('K'));
    update(&mut s, code(KeyCode::Left));
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::ResetPin {
            card_id: 21,
            which: PinKind::Query,
        })
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
    t.shell.message = None;
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
    assert!(matches!(a.cards.popup, Some(Popup::Form(_))));
    update(&mut a, code(KeyCode::Esc));
    assert_eq!(update(&mut a, key('u')), vec![Effect::Bell]);
    // A door administrator may resend a card's grants to the terminals that failed.
    let mut door = at_desk(Lang::EN, Role::DoorAdministrator);
    assert_eq!(
        update(&mut door, key('s')),
        op(CardOp::Resend { card_id: 21 })
    );
    // The duty operator has no reports.
    let mut duty = at_desk(Lang::EN, Role::DutyOperator);
    update(&mut duty, key('v'));
    let fx = update(&mut duty, key('v'));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Cards(cards::Effect::LoadReport { .. }))),
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
    let gen = newest(&s) + 1;
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::LoadConfirmations {
            gen,
            card_id: 21
        })]
    );
    let mut now = detail(21, 8165537, CardState::Active).confirmations;
    now.confirmed = 8;
    now.pending.remove(1);
    update(
        &mut s,
        card_msg(cards::Msg::ConfirmationsLoaded {
            gen,
            card_id: 21,
            confirmations: now,
        }),
    );
    assert!(text(&mut s, 160, 48).contains("Terminals: confirmed 8/9"));
    // The card itself changed (another desk): the card and the person's cards, once (and the
    // register, whose rows show each person's card state).
    update(&mut s, Msg::Changed(Change::cards(vec![21])));
    update(&mut s, Msg::Changed(Change::command(7)));
    let g = newest(&s);
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![
            card_fx(cards::Effect::Search {
                gen: g + 1,
                query: String::new()
            }),
            card_fx(cards::Effect::LoadPersonCards {
                gen: g + 2,
                person_id: 11
            }),
            card_fx(cards::Effect::LoadCard {
                gen: g + 3,
                card_id: 21
            }),
        ]
    );
    // Cards of other people: only the register is read again, not this person's cards.
    update(&mut s, Msg::Changed(Change::cards(vec![99])));
    let g = newest(&s);
    assert_eq!(
        update(&mut s, Msg::Frame),
        vec![card_fx(cards::Effect::Search {
            gen: g + 1,
            query: String::new()
        })]
    );
    // All confirmed: finished commands no longer concern this card.
    let mut all = detail(21, 8165537, CardState::Active);
    all.confirmations = Confirmations {
        confirmed: 9,
        total: 9,
        pending: vec![],
    };
    let gen = newest(&s);
    card_loaded(&mut s, gen, all);
    update(&mut s, Msg::Changed(Change::command(8)));
    assert!(update(&mut s, Msg::Frame).is_empty());
    // Resend to the failed ones.
    let mut failed = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(
        update(&mut failed, key('s')),
        op(CardOp::Resend { card_id: 21 })
    );
    // Off the tab, nothing is read for it.
    update(&mut failed, key('6'));
    update(&mut failed, Msg::Changed(Change::cards(vec![21])));
    assert!(!update(&mut failed, Msg::Frame)
        .iter()
        .any(|e| matches!(e, Effect::Cards(cards::Effect::LoadCard { .. }))));
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
fn stock_counts_and_fees_and_the_reports() {
    let mut s = at_desk(Lang::EN, Role::CardDesk);
    let g = newest(&s);
    assert_eq!(
        update(&mut s, key('v')),
        vec![
            card_fx(cards::Effect::LoadRefs { gen: g + 1 }),
            card_fx(cards::Effect::LoadStock { gen: g + 2 }),
        ]
    );
    assert_eq!(s.cards.view, DeskView::Stock);
    update(
        &mut s,
        card_msg(cards::Msg::StockLoaded {
            gen: g + 2,
            stock: stock(),
        }),
    );
    update(&mut s, key('H'));
    typed(&mut s, "455");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "weekly");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::Stock(StockOp::Count {
            physical: 455,
            note: "weekly".into()
        }))]
    );
    let fx = update(
        &mut s,
        Msg::Done("Counted 455; the records say 457: difference -2.".into()),
    );
    assert!(s.cards.popup.is_none(), "done: the form closes");
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Cards(cards::Effect::LoadStock { .. }))));
    // A spoil of nothing is no spoil.
    update(&mut s, key('W'));
    typed(&mut s, "0");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    update(&mut s, code(KeyCode::Esc));
    // A report key from the stock view opens the reports.
    let fx = update(&mut s, key('F'));
    assert_eq!(s.cards.view, DeskView::Reports);
    let old = gen_of(&fx, |e| match e {
        cards::Effect::LoadReport { gen, kind, filter }
            if *kind == ReportKind::Issued && *filter == ReportFilter::default() =>
        {
            Some(*gen)
        }
        _ => None,
    });
    // The filters: balances of one department.
    update(&mut s, code(KeyCode::Right));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "2026-11-01");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "2026-10-01");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        form_error(&s),
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
    let gen = newest(&s) + 1;
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::LoadReport {
            gen,
            kind: ReportKind::Balances,
            filter: filter.clone()
        })]
    );
    assert_eq!(s.cards.reports.kind, ReportKind::Balances);
    let page_loaded = |s: &mut State, gen: u64, page: ReportPage| {
        update(s, card_msg(cards::Msg::ReportLoaded { gen, page }))
    };
    // A late answer to the old report is not shown as the new one.
    page_loaded(&mut s, old, report());
    assert!(s.cards.reports.page.is_none());
    let mut page = report();
    page.kind = ReportKind::Balances;
    // Nor is the same report under the filters it had before.
    page_loaded(&mut s, old, page.clone());
    assert!(s.cards.reports.page.is_none());
    page.filter = filter.clone();
    page_loaded(&mut s, gen, page);
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
        card_form(&s).form.text(CardField::Path),
        "onecard-balances-20261122.csv"
    );
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::ExportReport {
            kind: ReportKind::Balances,
            filter,
            path: "onecard-balances-20261122.csv".into(),
            overwrite: false,
        })]
    );
}

fn import(path: &str, dry_run: bool) -> Vec<Effect> {
    vec![card_fx(cards::Effect::Import {
        path: path.into(),
        dry_run,
        create_departments: false,
    })]
}

fn preview(s: &mut State, path: &str) {
    update(
        s,
        card_msg(cards::Msg::ImportPreview {
            path: path.into(),
            create_departments: false,
            summary: summary(path, true),
        }),
    );
}

#[test]
fn a_person_import_is_dry_run_first_then_shows_its_progress() {
    let mut s = at_desk(Lang::EN, Role::DataAdministrator);
    update(&mut s, key('I'));
    typed(&mut s, "/srv/hr/2026-11.csv");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        import("/srv/hr/2026-11.csv", true)
    );
    // A bad file: the words stay in the form.
    update(
        &mut s,
        Msg::Failed(Failure::ImportRows {
            path: "/srv/hr/2026-11.csv".into(),
            rows: vec![onecard::import::RowError::new(
                7,
                onecard::import::RowProblem::Field(onecard::db::person::FieldProblem::NameEmpty),
            )],
        }),
    );
    let error = form_error(&s).unwrap();
    assert!(
        error.contains("line 7") && error.contains("name is empty"),
        "{error}"
    );
    update(&mut s, code(KeyCode::Enter));
    preview(&mut s, "/srv/hr/2026-11.csv");
    assert!(matches!(s.cards.popup, Some(Popup::Import)));
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
        import("/srv/hr/2026-11.csv", false)
    );
    update(
        &mut s,
        card_msg(cards::Msg::ImportProgress {
            done: 150,
            total: 300,
        }),
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
        card_msg(cards::Msg::ImportDone {
            summary: summary("/srv/hr/2026-11.csv", false),
        }),
    );
    assert!(s.cards.popup.is_none());
    assert_eq!(
        message(&s),
        "Imported /srv/hr/2026-11.csv: 12 new, 3 updated, 300 left alone."
    );
    assert!(s.cards.pending.search, "the register is read again");
}

/// A dry run that adds twelve people (two to a new department), changes three and creates
/// one department.
fn detailed_summary(path: &str) -> ImportSummary {
    use onecard::db::person::Category;
    use onecard::import::persons::{FieldChange, NewPerson, PersonField, UpdatedPerson};
    let mut s = summary(path, true);
    s.new_persons = (1..=12)
        .map(|i| NewPerson {
            line: i + 1,
            person_no: format!("S20260{i:02}"),
            name: format!("新生{i}"),
            department: if i > 10 {
                "新能源学院"
            } else {
                "计算机学院"
            }
            .into(),
            new_department: i > 10,
            category: Category::Student,
        })
        .collect();
    let change = |field, old: &str, new: &str| FieldChange {
        field,
        old: old.into(),
        new: new.into(),
    };
    s.updated_persons = vec![
        UpdatedPerson {
            line: 14,
            person_no: "T10001".into(),
            name: "张叁".into(),
            fields: vec![
                change(PersonField::Name, "张三", "张叁"),
                change(PersonField::Department, "计算机学院", "图书馆"),
            ],
        },
        UpdatedPerson {
            line: 15,
            person_no: "S20250001".into(),
            name: "李四".into(),
            fields: vec![
                change(PersonField::Category, "student", "staff"),
                change(PersonField::IdDocument, "", "****1234"),
            ],
        },
        UpdatedPerson {
            line: 16,
            person_no: "S20200007".into(),
            name: "王五".into(),
            fields: vec![change(PersonField::Status, "active", "left")],
        },
    ];
    s.departments_created = vec!["新能源学院".into()];
    s
}

#[test]
fn an_import_preview_lists_each_change_in_the_operators_language_and_scrolls() {
    let path = "/srv/hr/2026-11.csv";
    let mut s = at_desk(Lang::EN, Role::DataAdministrator);
    update(
        &mut s,
        card_msg(cards::Msg::ImportPreview {
            path: path.into(),
            create_departments: true,
            summary: detailed_summary(path),
        }),
    );
    let screen = text(&mut s, 160, 48);
    for line in [
        "New people (12)",
        "S2026001  新生1  计算机学院  student",
        "S2026012  新生12  新能源学院 (new department)  student",
        "People updated (3)",
        "T10001  张叁",
        "name: 张三 → 张叁",
        "department: 计算机学院 → 图书馆",
        "category: student → staff",
        "ID document: (none) → ****1234",
        "status: active → left",
        "Departments created (1)",
    ] {
        assert!(screen.contains(line), "{line}\n{screen}");
    }

    // In Chinese, on a small screen: what does not fit is scrolled to with j/k.
    let mut s = at_desk(Lang::ZH_CN, Role::DataAdministrator);
    update(
        &mut s,
        card_msg(cards::Msg::ImportPreview {
            path: path.into(),
            create_departments: true,
            summary: detailed_summary(path),
        }),
    );
    let screen = text(&mut s, 80, 24);
    assert!(screen.contains("新增人员（12）"), "{screen}");
    assert!(
        screen.contains("S2026001  新生1  计算机学院  学生"),
        "{screen}"
    );
    assert!(!screen.contains("新建部门（1）"), "{screen}");
    assert!(screen.contains("/ 共 24 行"), "{screen}");
    for _ in 0..30 {
        update(&mut s, key('j'));
    }
    let last = s.cards.import.as_ref().unwrap().scroll;
    let screen = text(&mut s, 80, 24);
    for line in [
        "类别：学生 → 教职工",
        "证件号：（无） → ****1234",
        "状态：在职/在校 → 已离开",
        "新建部门（1）",
        "新能源学院",
        "/ 共 24 行",
    ] {
        assert!(screen.contains(line), "{line}\n{screen}");
    }
    // The scroll stops at the last screenful: each line up shows one more line above.
    update(&mut s, key('j'));
    assert_eq!(s.cards.import.as_ref().unwrap().scroll, last);
    for _ in 0..4 {
        update(&mut s, key('k'));
    }
    let screen = text(&mut s, 80, 24);
    for line in [
        "更新人员（3）",
        "姓名：张三 → 张叁",
        "部门：计算机学院 → 图书馆",
    ] {
        assert!(screen.contains(line), "{line}\n{screen}");
    }
    assert!(!screen.contains("新增人员（12）"), "{screen}");
    // No English reaches the Chinese popup (the path and the ID mask aside).
    assert!(
        !["department", "category", "status", "none", "People"]
            .iter()
            .any(|w| screen.contains(w)),
        "{screen}"
    );
    update(&mut s, code(KeyCode::Home));
    assert_eq!(s.cards.import.as_ref().unwrap().scroll, 0);
    // y still imports.
    assert_eq!(update(&mut s, key('y')), {
        let mut fx = import(path, false);
        if let Effect::Cards(cards::Effect::Import {
            create_departments, ..
        }) = &mut fx[0]
        {
            *create_departments = true;
        }
        fx
    });
}

#[test]
fn only_the_demo_lays_cards_on_a_simulated_reader() {
    let mut s = at_desk(Lang::EN, Role::Director);
    assert!(update(&mut s, key('d')).is_empty());
    assert_eq!(message(&s), "Only the demo has a simulated desk reader.");
    s.shell.demo = true;
    assert_eq!(
        update(&mut s, key('d')),
        vec![card_fx(cards::Effect::DeskPresent { card_no: None })]
    );
    update(&mut s, key('N'));
    typed(&mut s, "8165537");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        vec![card_fx(cards::Effect::DeskPresent {
            card_no: Some(8165537)
        })]
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
    let gen = presented(&mut s, 48596572, true);
    looked_up(&mut s, gen, 48596572, CardLookup::New);
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
    let fx = update(&mut s, Msg::Frame);
    let gen = gen_of(&fx, |e| match e {
        cards::Effect::LoadPersonCards { gen, .. } => Some(*gen),
        _ => None,
    });
    let mut old = view(20, 8100001, CardState::Replaced);
    old.replaced_by_card_no = Some(8165537);
    let fx = person_cards(
        &mut s,
        gen,
        11,
        vec![view(21, 8165537, CardState::Lost), old],
    );
    let gen = gen_of(&fx, |e| match e {
        cards::Effect::LoadCard { gen, .. } => Some(*gen),
        _ => None,
    });
    card_loaded(&mut s, gen, detail(21, 8165537, CardState::Lost));
    s.cards.results[0].card_state = Some("lost".into());
    insta::assert_snapshot!(render(&mut s, 160, 48).backend());
}

#[test]
fn snapshot_issue_form_zh_80x24() {
    let mut s = morning(Lang::ZH_CN);
    next_person_without_cards(&mut s, 12);
    update(&mut s, key('i'));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Right));
    update(&mut s, key(' '));
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

fn pins_done(s: &mut State) {
    done(
        s,
        CardDone {
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
        },
    );
}

#[test]
fn snapshot_pins_zh_80x24() {
    let mut s = morning(Lang::ZH_CN);
    pins_done(&mut s);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

fn stock_loaded(s: &mut State) {
    let gen = newest(s);
    update(
        s,
        card_msg(cards::Msg::StockLoaded {
            gen,
            stock: stock(),
        }),
    );
}

fn report_loaded(s: &mut State) {
    let gen = newest(s);
    update(
        s,
        card_msg(cards::Msg::ReportLoaded {
            gen,
            page: report(),
        }),
    );
}

#[test]
fn snapshot_stock_zh_80x24() {
    let mut s = at_desk(Lang::ZH_CN, Role::CardDesk);
    update(&mut s, key('v'));
    stock_loaded(&mut s);
    insta::assert_snapshot!(render(&mut s, 80, 24).backend());
}

#[test]
fn snapshot_report_zh_160x48() {
    let mut s = at_desk(Lang::ZH_CN, Role::CardDesk);
    update(&mut s, key('v'));
    update(&mut s, key('v'));
    report_loaded(&mut s);
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
            next_person_without_cards(&mut s, 12);
        }
        update(&mut s, key(k));
        out.push(s);
    }
    let mut r = at_desk_with(lang, Role::Director, CardState::Lost);
    update(&mut r, key('R'));
    out.push(r);
    let mut pins = morning(lang);
    pins_done(&mut pins);
    out.push(pins);
    let mut stock_view = morning(lang);
    update(&mut stock_view, key('v'));
    out.push(stock_view.clone());
    stock_loaded(&mut stock_view);
    out.push(stock_view.clone());
    for k in ['B', 'W', 'H'] {
        let mut s = stock_view.clone();
        update(&mut s, key(k));
        out.push(s);
    }
    let mut reports = stock_view.clone();
    update(&mut reports, key('v'));
    out.push(reports.clone());
    report_loaded(&mut reports);
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
    preview(&mut import, "/srv/hr/persons.csv");
    out.push(import.clone());
    update(&mut import, key('y'));
    update(
        &mut import,
        card_msg(cards::Msg::ImportProgress {
            done: 7,
            total: 315,
        }),
    );
    out.push(import);
    let mut help = morning(lang);
    update(&mut help, key('?'));
    out.push(help);
    let mut empty = signed_in(lang, Role::Technician);
    out.push(empty.clone());
    typed(&mut empty, "无此人");
    let gen = empty.shell.next_gen();
    people_found(&mut empty, gen, "无此人", vec![]);
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
            fx.iter()
                .any(|e| matches!(e, Effect::Cards(cards::Effect::Search { .. }))),
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
        let ours = onecard::console::desk_reader_id(&pool, Lang::EN, "卡务中心读卡器")
            .await
            .unwrap();
        assert_eq!(ours, readers[0]);
        // A door controller is no desk reader, and a name not in the inventory is said so.
        let e = onecard::console::desk_reader_id(&pool, Lang::EN, "图书馆东门")
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
            if let Msg::Cards(cards::Msg::Presented {
                terminal_id,
                card_no,
                ..
            }) = next_msg(&mut rx).await
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
        c.pump_until(|m| matches!(m, Msg::Cards(cards::Msg::Presented { .. })))
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

    /// A person file with bad rows, imported from a Chinese console: every reason in Chinese,
    /// each with its line, and nothing written.
    #[tokio::test]
    async fn a_bad_person_file_is_refused_in_chinese_line_by_line() {
        use onecard::db::person;
        let db = test_db().await;
        let pool = db.pool.clone();
        let shell = onecard::domain::permission::Actor::shell("root");
        person::create_department(&pool, &shell, "D01", "计算机学院", None)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = Console::sign_in(
            &pool,
            state(Lang::ZH_CN),
            "data.admin",
            "赵敏",
            Role::DataAdministrator,
        )
        .await;
        let write = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            path.display().to_string()
        };
        let bad = write(
            "bad.csv",
            "学号,姓名,部门,类别\n\
             2026001,林晓东,计算机学院,学生\n\
             2026002,,,学生\n\
             2026001,陈静,计算机学院,博士后\n",
        );
        let unknown = write(
            "unknown.csv",
            "学号,姓名,部门,类别\n2026003,周洁,计算机学员,学生\n",
        );
        for (path, said) in [
            (
                &bad,
                vec![
                    "2 行有误",
                    "第 3 行：姓名为空；部门为空",
                    "第 4 行：类别“博士后”不是教职工、学生或其他；第 2 行也有学号 2026001",
                ],
            ),
            (
                &unknown,
                vec!["第 2 行：没有部门“计算机学员”（是不是“计算机学院”，代码 D01？）"],
            ),
        ] {
            c.key('I').await;
            for ch in path.chars() {
                c.key(ch).await;
            }
            c.enter().await;
            let error = form_error(&c.state).expect("the form says why").to_string();
            for s in said {
                assert!(error.contains(s), "{s} missing from: {error}");
            }
            // Besides the path, only the department's code (D01) is Latin.
            let words: Vec<char> = error.replace(path.as_str(), "").chars().collect();
            assert!(
                !words
                    .windows(2)
                    .any(|w| w.iter().all(char::is_ascii_alphabetic)),
                "English on the Chinese screen: {error}"
            );
            c.esc().await;
        }
        let persons: i64 = sqlx::query_scalar("SELECT count(*) FROM person")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(persons, 0, "nothing imported");
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
    onecard::sim::register::register_site(pool, &site)
        .await
        .unwrap();
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
    crate::support::verify_ledger(pool).await;
    site.stop();
}

// ---- The statement ------------------------------------------------------------------------------

#[test]
fn the_statement_of_the_selected_person_opens_scrolls_and_closes() {
    use onecard::db::desk::{Statement, StatementRow};
    let mut s = at_desk(Lang::ZH_CN, Role::CardDesk);
    let gen = newest(&s) + 1;
    assert_eq!(
        update(&mut s, key('S')),
        vec![card_fx(cards::Effect::LoadStatement { gen, person_id: 11 })]
    );
    assert!(text(&mut s, 160, 48).contains("读取中"));
    let at = Utc.with_ymd_and_hms(2026, 9, 1, 2, 0, 0).unwrap();
    let row =
        |id: i64, kind: &str, channel: Option<&str>, amount: &str, balance: &str| StatementRow {
            movement_id: id,
            purchase_id: None,
            at,
            kind: kind.into(),
            channel: channel.map(str::to_string),
            channel_name: String::new(),
            amount: dec(amount),
            balance: dec(balance),
            card_no: Some(8165537),
            terminal: (kind == "purchase").then(|| "一食堂 POS 1".to_string()),
            txn_no: (kind == "purchase").then_some(31),
            merchant: (kind == "purchase").then(|| "第一食堂".to_string()),
            note: String::new(),
        };
    let statement = Statement {
        person_id: 11,
        person_no: "T10003".into(),
        person_name: "王芳".into(),
        opening: Money::ZERO,
        balance: dec("87.50"),
        from: None,
        to: None,
        rows: vec![
            row(1, "top_up", Some("cash"), "100", "100"),
            row(2, "purchase", None, "-12.50", "87.50"),
        ],
    };
    // Another person's statement (the cursor moved meanwhile) is not shown for this one.
    update(
        &mut s,
        card_msg(cards::Msg::StatementLoaded {
            gen,
            statement: Box::new(Statement {
                person_id: 12,
                ..statement.clone()
            }),
        }),
    );
    assert!(matches!(&s.cards.popup, Some(Popup::Statement(v)) if v.statement.is_none()));
    update(
        &mut s,
        card_msg(cards::Msg::StatementLoaded {
            gen,
            statement: Box::new(statement),
        }),
    );
    let screen = text(&mut s, 160, 48);
    for want in [
        "王芳（T10003）",
        "余额 ¥87.50",
        "充值",
        "现金",
        "消费",
        "一食堂 POS 1 · 第一食堂 · #31",
        "-¥12.50",
    ] {
        assert!(screen.contains(want), "{want} in\n{screen}");
    }
    // The cursor starts on the newest movement and scrolls up; esc closes.
    assert!(matches!(&s.cards.popup, Some(Popup::Statement(v)) if v.selected == 1));
    update(&mut s, key('k'));
    assert!(matches!(&s.cards.popup, Some(Popup::Statement(v)) if v.selected == 0));
    update(&mut s, code(KeyCode::Esc));
    assert!(s.cards.popup.is_none());
    // A role that may not top up sees no statement either.
    let mut t = at_desk(Lang::EN, Role::Technician);
    assert_eq!(update(&mut t, key('S')), vec![Effect::Bell]);
}

#[test]
fn refund_correction_and_shift_close_forms_ask_for_what_the_books_need() {
    let mut s = at_desk(Lang::EN, Role::Director);
    // Refund: cash out of the drawer, after a y/n naming the amount.
    update(&mut s, key('U'));
    typed(&mut s, "5");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        onecard::app::router::confirming(&s),
        Some("Refund ¥5.00 in cash from the account of card 8165537 of 王芳 (T10003)?")
    );
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::Refund {
            person_id: 11,
            card_id: 21,
            amount: dec("5"),
            desk_reader: None,
        })
    );
    // Correction: the purchase as on the receipt, an amount (empty: all of it), the receipt.
    update(&mut s, key('C'));
    typed(&mut s, "一食堂");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(
        form_error(&s),
        Some("“一食堂” names no purchase: write its purchase number (the statement's purchase column), or POS/transaction number.")
    );
    typed(&mut s, " POS 1/1001");
    update(&mut s, code(KeyCode::Down));
    typed(&mut s, "2.50");
    update(&mut s, code(KeyCode::Enter));
    assert_eq!(focused(&s), CardField::Receipt);
    typed(&mut s, "R-1001");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    assert_eq!(
        onecard::app::router::confirming(&s),
        Some("Reverse ¥2.50 of purchase 一食堂 POS 1/1001 to card 8165537 of 王芳 (T10003), receipt R-1001?")
    );
    assert_eq!(
        update(&mut s, key('y')),
        op(CardOp::Correct {
            card_id: 21,
            purchase: PurchaseText::Pos {
                pos: "一食堂 POS 1".into(),
                txn_no: 1001,
            },
            amount: Some(dec("2.50")),
            receipt: "R-1001".into(),
            note: String::new(),
        })
    );
    // Shift close: nothing taken is a count too.
    update(&mut s, key('Z'));
    typed(&mut s, "0");
    assert_eq!(
        update(&mut s, code(KeyCode::Enter)),
        op(CardOp::CloseShift {
            counted: Money::ZERO,
            reason: String::new(),
            desk_reader: None,
        })
    );
    // The card desk tops up and refunds, and may not correct.
    let mut d = at_desk(Lang::EN, Role::CardDesk);
    assert_eq!(update(&mut d, key('C')), vec![Effect::Bell]);
    assert_eq!(PurchaseText::parse("#41"), Some(PurchaseText::Purchase(41)));
    assert_eq!(PurchaseText::parse("0"), None);
}
