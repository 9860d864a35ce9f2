//! The card desk against a real PostgreSQL: every transition and its refusals, fees and the
//! ledger, PINs, limits, stock, batch extension, audit rows and a race on one card.

use crate::support::{library_door, test_db, verify_ledger, TestDb};
use chrono::{Duration, Local, NaiveDate};
use onecard::db::card::{
    self, BatchError, CardError, CardLookup, IssueRequest, Issued, PaidFrom, PinKind, Rewrite,
};
use onecard::db::ledger::{self, LedgerError, MovementKind};
use onecard::db::operator::{self, NewOperator};
use onecard::db::{door_group, stock};
use onecard::domain::card::{CardKind, CardState, Refusal, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::import::{extensions, ImportError};
use sqlx::PgPool;

fn today() -> NaiveDate {
    Local::now().date_naive()
}

fn days(n: i64) -> NaiveDate {
    today() + Duration::days(n)
}

fn yuan(s: &str) -> Money {
    s.parse().unwrap()
}

/// A site with a door controller (in a door group "library"), a POS, an attendance machine and
/// three operators: a card desk, a director and a technician.
struct Site {
    db: TestDb,
    desk: Actor,
    director: Actor,
    tech: Actor,
    door: i64,
    pos: i64,
    att: i64,
    library: i64,
}

impl Site {
    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// A person in department "CS".
    async fn person(&self, no: &str, name: &str) -> i64 {
        sqlx::query(
            "INSERT INTO department (code, name) VALUES ('cs', 'Computer Science') ON CONFLICT DO NOTHING",
        )
        .execute(self.pool())
        .await
        .unwrap();
        sqlx::query_scalar(
            "INSERT INTO person (person_no, name, department_id, category)
             VALUES ($1, $2, (SELECT id FROM department WHERE code = 'cs'), 'student') RETURNING id",
        )
        .bind(no)
        .bind(name)
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    fn staff(&self, card_no: i64, person_id: i64) -> IssueRequest {
        IssueRequest {
            card_no,
            person_id,
            kind: CardKind::Staff,
            subsystems: Subsystem::ALL.to_vec(),
            door_groups: vec![self.library],
            terminals: vec![self.pos, self.att],
            valid_from: today(),
            valid_until: days(365),
            paid_from: PaidFrom::Cash,
        }
    }

    fn temporary(&self, card_no: i64, person_id: i64) -> IssueRequest {
        IssueRequest {
            card_no,
            person_id,
            kind: CardKind::Temporary,
            subsystems: vec![Subsystem::Pos],
            door_groups: vec![],
            terminals: vec![self.pos],
            valid_from: today(),
            valid_until: days(90),
            paid_from: PaidFrom::Cash,
        }
    }

    /// A staff card for a new person.
    async fn card(&self, card_no: i64, person_no: &str) -> (i64, Issued) {
        let p = self.person(person_no, &format!("持卡人{person_no}")).await;
        let issued = card::issue(self.pool(), &self.desk, &self.staff(card_no, p))
            .await
            .unwrap();
        (p, issued)
    }

    async fn state(&self, card_id: i64) -> CardState {
        card::view(self.pool(), card_id).await.unwrap().state
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    async fn assert_books_balance(&self) {
        verify_ledger(self.pool()).await;
    }
}

async fn operator(pool: &PgPool, login: &str, name: &str, role: Role) -> Actor {
    operator::create(
        pool,
        &Actor::shell("root"),
        NewOperator {
            login,
            display_name: name,
            role,
            password: "correct horse battery",
            must_change_password: false,
        },
    )
    .await
    .unwrap()
    .actor()
}

async fn site() -> Site {
    let db = test_db().await;
    let pool = &db.pool;
    let (_, door) = library_door(pool).await;
    let ids = crate::pos_online::inventory(
        pool,
        &[
            ("canteen bus", "native", "serial", "/dev/ttyUSB0"),
            ("attendance", "zk", "tcp", "10.0.0.9:4370"),
        ],
        &[
            ("canteen bus", "pos", 1, "一食堂 POS 1"),
            ("attendance", "attendance_machine", 0, "行政楼考勤机"),
        ],
    )
    .await;
    let director = operator(pool, "li.director", "李主任", Role::Director).await;
    let desk = operator(pool, "wang.desk", "王卡务", Role::CardDesk).await;
    let tech = operator(pool, "zhao.tech", "赵技术", Role::Technician).await;
    let library = door_group::create(pool, &director, "library", &[(door, 1), (door, 2)])
        .await
        .unwrap();
    Site {
        desk,
        director,
        tech,
        door,
        pos: ids[0],
        att: ids[1],
        library,
        db,
    }
}

// ---------------------------------------------------------------------------------------------
// Issue

#[tokio::test]
async fn issue_writes_card_grants_stock_event_audit_and_hashed_pins() {
    let s = site().await;
    stock::receive(s.pool(), &s.desk, 100, "batch 2026-11")
        .await
        .unwrap();
    let p = s.person("2023001", "张三").await;
    assert_eq!(
        card::lookup(s.pool(), 8165537).await.unwrap(),
        CardLookup::New
    );
    let issued = card::issue(s.pool(), &s.desk, &s.staff(8165537, p))
        .await
        .unwrap();
    assert_eq!(issued.card_no, 8165537);
    assert_eq!(issued.fee, None, "staff cards are issued free");
    for pin in [&issued.query_pin, &issued.payment_pin] {
        assert!(card::valid_pin(pin), "{pin:?} is not 6 digits");
    }
    let CardLookup::Issued(v) = card::lookup(s.pool(), 8165537).await.unwrap() else {
        panic!("the card is in service");
    };
    assert_eq!(
        (v.person_name.as_str(), v.department.as_str()),
        ("张三", "Computer Science")
    );
    assert_eq!((v.kind, v.state), (CardKind::Staff, CardState::Active));
    assert_eq!(v.subsystems, Subsystem::ALL.to_vec());
    assert_eq!((v.valid_from, v.valid_until), (today(), days(365)));
    assert_eq!(v.grants_summary(), "2 doors, 1 POS, 1 attendance machine");
    assert_eq!(v.door_groups, vec![(s.library, "library".to_string())]);
    let doors: Vec<(i64, i16)> = v.grants.iter().map(|g| (g.terminal_id, g.door)).collect();
    for want in [(s.door, 1), (s.door, 2), (s.pos, 0), (s.att, 0)] {
        assert!(doors.contains(&want), "{want:?} granted");
    }
    assert_eq!(v.balance, Money::ZERO);
    assert_eq!(v.limits.per_purchase, yuan("50.00"));
    assert_eq!(v.limits.pin_above, v.limits.per_purchase);
    // The person's account exists now; one blank left the drawer.
    assert_eq!(
        s.count("SELECT count(*) FROM account WHERE kind = 'cardholder'")
            .await,
        1
    );
    let level = stock::level(s.pool()).await.unwrap();
    assert_eq!((level.received, level.issued, level.on_hand), (100, 1, 99));
    // PINs: verified, stored only as salted argon2 hashes, never in the audit log.
    for (kind, pin) in [
        (PinKind::Query, &issued.query_pin),
        (PinKind::Payment, &issued.payment_pin),
    ] {
        assert!(card::verify_pin(s.pool(), issued.card_id, kind, pin)
            .await
            .unwrap());
    }
    let wrong = if issued.query_pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(
        !card::verify_pin(s.pool(), issued.card_id, PinKind::Query, wrong)
            .await
            .unwrap()
    );
    let (qh, ph): (String, String) =
        sqlx::query_as("SELECT query_pin_hash, payment_pin_hash FROM card WHERE id = $1")
            .bind(issued.card_id)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert!(qh.starts_with("$argon2id$") && ph.starts_with("$argon2id$"));
    assert!(!qh.contains(&issued.query_pin) && !ph.contains(&issued.payment_pin));
    assert_eq!(
        s.count("SELECT count(*) FROM audit_log WHERE after::text LIKE '%argon2%'")
            .await,
        0
    );
    let shown = format!("{issued:?}");
    assert!(
        !shown.contains(&format!("\"{}\"", issued.query_pin)),
        "{shown}"
    );
    // History and audit.
    let h = card::history(s.pool(), issued.card_id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].event.as_str(), h[0].actor.as_str()),
        ("issue", "wang.desk")
    );
    assert_eq!(s.audit_count("card.issue").await, 1);
    assert_eq!(card::cards_of_person(s.pool(), p).await.unwrap().len(), 1);
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn issue_refusals_leave_nothing_behind() {
    let s = site().await;
    let (_, first) = s.card(1001, "2023001").await;
    let p = s.person("2023002", "李四").await;
    let before = s.count("SELECT count(*) FROM card").await;

    // A temporary card only pays: no doors, no attendance, at most a year.
    let mut r = s.temporary(2001, p);
    r.subsystems = vec![Subsystem::Pos, Subsystem::Door];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::Refused(Refusal::TemporarySubsystem {
            subsystem: Subsystem::Door
        }))
    ));
    let mut r = s.temporary(2001, p);
    r.door_groups = vec![s.library];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::Refused(Refusal::TemporarySubsystem { .. }))
    ));
    let mut r = s.temporary(2001, p);
    r.terminals = vec![s.att];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::Refused(Refusal::TemporarySubsystem {
            subsystem: Subsystem::Attendance
        }))
    ));
    let mut r = s.temporary(2001, p);
    r.valid_until = days(366);
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::Refused(Refusal::TemporaryTooLong { .. }))
    ));
    let mut r = s.temporary(2001, p);
    r.valid_from = days(1);
    r.valid_until = days(-1);
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::Refused(Refusal::EndsBeforeStart { .. }))
    ));
    // Grants need their subsystem; doors come in groups.
    let mut r = s.staff(2001, p);
    r.subsystems = vec![Subsystem::Pos, Subsystem::Attendance];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::BadInput(m)) if m.contains("door subsystem")
    ));
    let mut r = s.staff(2001, p);
    r.subsystems = vec![Subsystem::Door, Subsystem::Pos];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::BadInput(m)) if m.contains("attendance subsystem")
    ));
    let mut r = s.staff(2001, p);
    r.terminals = vec![s.door];
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::BadInput(m)) if m.contains("door groups")
    ));
    let mut r = s.staff(2001, p);
    r.subsystems.clear();
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &r).await,
        Err(CardError::BadInput(_))
    ));
    // A card number belongs to one card for ever.
    let e = card::issue(s.pool(), &s.desk, &s.staff(first.card_no, p))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CardError::CardNumberTaken { card_no: 1001, holder } if holder.contains("2023001")),
        "{e}"
    );
    // One card in service per person.
    let holder = sqlx::query_scalar::<_, i64>("SELECT person_id FROM card WHERE id = $1")
        .bind(first.card_id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    let e = card::issue(s.pool(), &s.desk, &s.staff(2001, holder))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            CardError::PersonHasCard {
                card_no: 1001,
                state: CardState::Active,
                ..
            }
        ),
        "{e}"
    );
    // A person who left gets no card.
    sqlx::query("UPDATE person SET status = 'left' WHERE id = $1")
        .bind(p)
        .execute(s.pool())
        .await
        .unwrap();
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &s.staff(2001, p)).await,
        Err(CardError::PersonLeft)
    ));
    // Only the card desk (or a director) issues.
    assert!(matches!(
        card::issue(s.pool(), &s.tech, &s.staff(2001, p)).await,
        Err(CardError::Denied(_))
    ));
    assert_eq!(s.count("SELECT count(*) FROM card").await, before);
    assert_eq!(s.count("SELECT count(*) FROM fee").await, 0);
    assert_eq!(
        stock::level(s.pool()).await.unwrap().issued,
        1,
        "only the first card took a blank"
    );
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn a_card_number_is_never_issued_again() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    card::return_card(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    let p = s.person("2023002", "李四").await;
    assert!(matches!(
        card::issue(s.pool(), &s.desk, &s.staff(1001, p)).await,
        Err(CardError::CardNumberTaken { card_no: 1001, .. })
    ));
    assert!(matches!(
        card::lookup(s.pool(), 1001).await.unwrap(),
        CardLookup::Blacklisted(v) if v.state == CardState::Cancelled
    ));
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// Lost, found, reissue, exchange

#[tokio::test]
async fn lost_and_found() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    assert!(matches!(
        card::report_found(s.pool(), &s.desk, c.card_id).await,
        Err(CardError::Refused(Refusal::NotLost { card_no: 1001 }))
    ));
    card::report_lost(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    let v = card::view(s.pool(), c.card_id).await.unwrap();
    assert_eq!(v.state, CardState::Lost);
    assert!(v.lost_at.is_some());
    assert!(matches!(
        card::lookup(s.pool(), 1001).await.unwrap(),
        CardLookup::Blacklisted(_)
    ));
    assert!(matches!(
        card::report_lost(s.pool(), &s.desk, c.card_id).await,
        Err(CardError::Refused(Refusal::AlreadyLost { card_no: 1001 }))
    ));
    // A lost card is not rewritten, extended or exchanged.
    assert!(matches!(
        card::extend(s.pool(), &s.desk, c.card_id, days(700)).await,
        Err(CardError::Refused(Refusal::LostCard { .. }))
    ));
    assert!(matches!(
        card::exchange(
            s.pool(),
            &s.desk,
            c.card_id,
            1002,
            "damaged",
            PaidFrom::Cash
        )
        .await,
        Err(CardError::Refused(Refusal::LostCard { .. }))
    ));
    card::report_found(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    let v = card::view(s.pool(), c.card_id).await.unwrap();
    assert_eq!((v.state, v.lost_at), (CardState::Active, None));
    let events: Vec<String> = card::history(s.pool(), c.card_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["issue", "report_lost", "report_found"]);
    assert_eq!(s.audit_count("card.report_lost").await, 1);
    assert_eq!(s.audit_count("card.report_found").await, 1);
    assert!(matches!(
        card::report_lost(s.pool(), &s.tech, c.card_id).await,
        Err(CardError::Denied(_))
    ));
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn reissue_waits_24_hours_unless_a_director_overrides_with_a_reason() {
    let s = site().await;
    let (p, c) = s.card(1001, "2023001").await;
    card::set_limits(s.pool(), &s.desk, c.card_id, Some(yuan("80.00")), Some(5))
        .await
        .unwrap();
    ledger::top_up(s.pool(), &s.desk, p, yuan("100.00"), "")
        .await
        .unwrap();
    // Not lost: nothing to reissue.
    assert!(matches!(
        card::reissue(s.pool(), &s.desk, c.card_id, 1002, None, PaidFrom::Cash).await,
        Err(CardError::Refused(Refusal::NotLost { .. }))
    ));
    card::report_lost(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    assert!(matches!(
        card::reissue(s.pool(), &s.desk, c.card_id, 1002, None, PaidFrom::Cash).await,
        Err(CardError::Refused(Refusal::TooSoon { hours: 0, .. }))
    ));
    assert!(matches!(
        card::reissue(
            s.pool(),
            &s.desk,
            c.card_id,
            1002,
            Some("holder leaves tomorrow".into()),
            PaidFrom::Cash
        )
        .await,
        Err(CardError::Refused(Refusal::OverrideNotDirector))
    ));
    assert!(matches!(
        card::reissue(
            s.pool(),
            &s.director,
            c.card_id,
            1002,
            Some("  ".into()),
            PaidFrom::Cash
        )
        .await,
        Err(CardError::Refused(Refusal::OverrideWithoutReason))
    ));
    assert_eq!(s.count("SELECT count(*) FROM card").await, 1);
    let new = card::reissue(
        s.pool(),
        &s.director,
        c.card_id,
        1002,
        Some("holder leaves tomorrow".into()),
        PaidFrom::Cash,
    )
    .await
    .unwrap();
    assert_eq!(new.fee, Some(yuan("20.00")));
    assert_ne!(new.card_id, c.card_id);
    let old = card::view(s.pool(), c.card_id).await.unwrap();
    let v = card::view(s.pool(), new.card_id).await.unwrap();
    assert_eq!(old.state, CardState::Replaced);
    assert_eq!(old.replaced_by_card_no, Some(1002));
    assert_eq!(v.replaces_card_no, Some(1001));
    assert_eq!(v.state, CardState::Active);
    assert_eq!(
        (
            v.person_id,
            v.kind,
            &v.subsystems,
            v.valid_from,
            v.valid_until
        ),
        (
            p,
            old.kind,
            &old.subsystems,
            old.valid_from,
            old.valid_until
        )
    );
    assert_eq!(v.grants, old.grants);
    assert_eq!(
        (v.own_per_purchase, v.own_daily_count),
        (Some(yuan("80.00")), Some(5))
    );
    assert_eq!(
        v.balance,
        yuan("100.00"),
        "the balance stays with the person"
    );
    assert!(
        card::verify_pin(s.pool(), new.card_id, PinKind::Payment, &new.payment_pin)
            .await
            .unwrap()
    );
    // The override and its reason are on record.
    let h = card::history(s.pool(), c.card_id).await.unwrap();
    let last = h.last().unwrap();
    assert_eq!(
        (
            last.event.as_str(),
            last.reason.as_str(),
            last.other_card_no
        ),
        ("reissue", "holder leaves tomorrow", Some(1002))
    );
    assert_eq!(last.detail["director_override"], true);
    assert_eq!(last.detail["balance"], "100.00");
    let audit_after: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'card.reissue' AND actor = 'li.director'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(audit_after["reason"], "holder leaves tomorrow");
    // Replaced is final: blacklisted for ever.
    assert!(matches!(
        card::report_found(s.pool(), &s.desk, c.card_id).await,
        Err(CardError::Refused(Refusal::Final {
            state: CardState::Replaced,
            ..
        }))
    ));
    assert!(matches!(
        card::lookup(s.pool(), 1001).await.unwrap(),
        CardLookup::Blacklisted(_)
    ));
    assert_eq!(stock::level(s.pool()).await.unwrap().issued, 2);
    s.assert_books_balance().await;
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn after_24_hours_the_desk_reissues_without_an_override() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    card::report_lost(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    sqlx::query("UPDATE card SET lost_at = lost_at - interval '25 hours' WHERE id = $1")
        .bind(c.card_id)
        .execute(s.pool())
        .await
        .unwrap();
    // The new number must be a new one.
    assert!(matches!(
        card::reissue(s.pool(), &s.desk, c.card_id, 1001, None, PaidFrom::Cash).await,
        Err(CardError::CardNumberTaken { card_no: 1001, .. })
    ));
    // Paying from an empty balance is refused; nothing is written.
    assert!(matches!(
        card::reissue(s.pool(), &s.desk, c.card_id, 1002, None, PaidFrom::Balance).await,
        Err(CardError::InsufficientBalance { .. })
    ));
    assert_eq!(s.state(c.card_id).await, CardState::Lost);
    let new = card::reissue(s.pool(), &s.desk, c.card_id, 1002, None, PaidFrom::Cash)
        .await
        .unwrap();
    assert_eq!(s.state(c.card_id).await, CardState::Replaced);
    assert_eq!(s.state(new.card_id).await, CardState::Active);
    let h = card::history(s.pool(), c.card_id).await.unwrap();
    assert_eq!(h.last().unwrap().detail["director_override"], false);
    let h = card::history(s.pool(), new.card_id).await.unwrap();
    assert_eq!(
        (h[0].event.as_str(), h[0].other_card_no),
        ("issue", Some(1001))
    );
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn exchange_surrenders_the_old_card() {
    let s = site().await;
    let (p, c) = s.card(1001, "2023001").await;
    ledger::top_up(s.pool(), &s.desk, p, yuan("50.00"), "")
        .await
        .unwrap();
    assert!(matches!(
        card::exchange(s.pool(), &s.desk, c.card_id, 1002, " ", PaidFrom::Cash).await,
        Err(CardError::BadInput(_))
    ));
    let new = card::exchange(
        s.pool(),
        &s.desk,
        c.card_id,
        1002,
        "cracked",
        PaidFrom::Balance,
    )
    .await
    .unwrap();
    assert_eq!(new.fee, Some(yuan("20.00")));
    let old = card::view(s.pool(), c.card_id).await.unwrap();
    assert_eq!(old.state, CardState::Surrendered);
    let v = card::view(s.pool(), new.card_id).await.unwrap();
    assert_eq!((v.state, v.balance), (CardState::Active, yuan("30.00")));
    assert!(matches!(
        card::exchange(s.pool(), &s.desk, c.card_id, 1003, "again", PaidFrom::Cash).await,
        Err(CardError::Refused(Refusal::Final {
            state: CardState::Surrendered,
            ..
        }))
    ));
    let fees = stock::fees(s.pool(), None, None).await.unwrap();
    assert_eq!(fees.len(), 1);
    assert_eq!(
        (
            fees[0].kind.as_str(),
            fees[0].card_no,
            fees[0].paid_from.as_str(),
            fees[0].collected_by.as_str()
        ),
        ("exchange", 1002, "balance", "王卡务")
    );
    assert_eq!(s.audit_count("card.exchange").await, 1);
    s.assert_books_balance().await;
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// Return, cancel, balance policy

#[tokio::test]
async fn return_keeps_or_refunds_the_balance_as_the_kind_says() {
    let s = site().await;
    let (p1, c1) = s.card(1001, "2023001").await;
    ledger::top_up(s.pool(), &s.desk, p1, yuan("100.00"), "")
        .await
        .unwrap();
    // Staff cards: the college keeps the balance.
    let closed = card::return_card(s.pool(), &s.desk, c1.card_id)
        .await
        .unwrap();
    assert_eq!(
        (closed.kept, closed.refunded),
        (yuan("100.00"), Money::ZERO)
    );
    assert_eq!(ledger::balance(s.pool(), p1).await.unwrap(), Money::ZERO);
    let forfeited: Money =
        sqlx::query_scalar("SELECT balance FROM account WHERE kind = 'forfeited_balance'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(forfeited, yuan("100.00"));
    assert_eq!(s.state(c1.card_id).await, CardState::Cancelled);
    assert!(matches!(
        card::extend(s.pool(), &s.desk, c1.card_id, days(700)).await,
        Err(CardError::Refused(Refusal::Final {
            state: CardState::Cancelled,
            ..
        }))
    ));
    assert!(matches!(
        card::return_card(s.pool(), &s.desk, c1.card_id).await,
        Err(CardError::Refused(Refusal::Final { .. }))
    ));

    // The director switches staff cards to refunds; a lost card is cancelled with a reason.
    let mut staff = card::card_kinds(s.pool())
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kind == CardKind::Staff)
        .unwrap();
    staff.balance_on_return = card::BalancePolicy::Refunded;
    assert!(matches!(
        card::set_card_kind_policy(s.pool(), &s.desk, &staff).await,
        Err(CardError::Denied(_))
    ));
    card::set_card_kind_policy(s.pool(), &s.director, &staff)
        .await
        .unwrap();
    assert_eq!(s.audit_count("card_kind.change").await, 1);
    let (p2, c2) = s.card(1002, "2023002").await;
    ledger::top_up(s.pool(), &s.desk, p2, yuan("55.50"), "")
        .await
        .unwrap();
    card::report_lost(s.pool(), &s.desk, c2.card_id)
        .await
        .unwrap();
    assert!(matches!(
        card::cancel(s.pool(), &s.desk, c2.card_id, "").await,
        Err(CardError::BadInput(_))
    ));
    let closed = card::cancel(s.pool(), &s.desk, c2.card_id, "graduated, card never found")
        .await
        .unwrap();
    assert_eq!((closed.kept, closed.refunded), (Money::ZERO, yuan("55.50")));
    assert_eq!(ledger::balance(s.pool(), p2).await.unwrap(), Money::ZERO);
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM ledger_movement WHERE card_id = $1 ORDER BY id")
            .bind(c2.card_id)
            .fetch_all(s.pool())
            .await
            .unwrap();
    assert_eq!(kinds, ["top_up", "refund"]);
    let h = card::history(s.pool(), c2.card_id).await.unwrap();
    assert_eq!(
        (
            h.last().unwrap().event.as_str(),
            h.last().unwrap().reason.as_str()
        ),
        ("cancel", "graduated, card never found")
    );
    // The person may hold a card again: a new number.
    let again = card::issue(s.pool(), &s.desk, &s.staff(1003, p2))
        .await
        .unwrap();
    assert_eq!(s.state(again.card_id).await, CardState::Active);
    s.assert_books_balance().await;
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// Fees, ledger, stock

#[tokio::test]
async fn the_books_balance_after_a_day_at_the_desk() {
    let s = site().await;
    stock::receive(s.pool(), &s.desk, 10, "").await.unwrap();
    // A temporary card costs its issue fee, in cash.
    let visitor = s.person("V0001", "访客甲").await;
    let t = card::issue(s.pool(), &s.director, &s.temporary(3001, visitor))
        .await
        .unwrap();
    assert_eq!(t.fee, Some(yuan("20.00")));
    ledger::top_up(
        s.pool(),
        &s.desk,
        visitor,
        yuan("30.00"),
        "cash at the desk",
    )
    .await
    .unwrap();
    let (p, c) = s.card(1001, "2023001").await;
    ledger::top_up(s.pool(), &s.desk, p, yuan("200.00"), "")
        .await
        .unwrap();
    card::report_lost(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    sqlx::query("UPDATE card SET lost_at = lost_at - interval '2 days' WHERE id = $1")
        .bind(c.card_id)
        .execute(s.pool())
        .await
        .unwrap();
    let r = card::reissue(s.pool(), &s.desk, c.card_id, 1002, None, PaidFrom::Balance)
        .await
        .unwrap();
    card::exchange(
        s.pool(),
        &s.desk,
        r.card_id,
        1003,
        "name changed",
        PaidFrom::Cash,
    )
    .await
    .unwrap();
    card::return_card(s.pool(), &s.desk, t.card_id)
        .await
        .unwrap();
    s.assert_books_balance().await;

    assert_eq!(ledger::balance(s.pool(), p).await.unwrap(), yuan("180.00"));
    assert_eq!(
        ledger::balance(s.pool(), visitor).await.unwrap(),
        Money::ZERO,
        "kept on return"
    );
    let accounts = ledger::system_accounts(s.pool()).await.unwrap();
    let of = |k: &str| accounts.iter().find(|a| a.kind == k).unwrap().balance;
    // Cash received: 20 + 30 + 200 + 20; minus the sum of entries is the cardholder view.
    assert_eq!(of("cash"), yuan("-270.00"));
    assert_eq!(of("fee_income"), yuan("60.00"));
    assert_eq!(of("forfeited_balance"), yuan("30.00"));

    let fees = stock::fees(s.pool(), Some(days(-1)), Some(days(1)))
        .await
        .unwrap();
    let got: Vec<(&str, i64, Money, &str, &str)> = fees
        .iter()
        .map(|f| {
            (
                f.kind.as_str(),
                f.card_no,
                f.amount,
                f.paid_from.as_str(),
                f.collected_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("issue", 3001, yuan("20.00"), "cash", "李主任"),
            ("reissue", 1002, yuan("20.00"), "balance", "王卡务"),
            ("exchange", 1003, yuan("20.00"), "cash", "王卡务"),
        ]
    );
    assert_eq!(fees[0].person_name, "访客甲");
    assert_eq!(fees[0].card_kind, "temporary");
    assert!(stock::fees(s.pool(), Some(days(2)), None)
        .await
        .unwrap()
        .is_empty());
    let level = stock::level(s.pool()).await.unwrap();
    assert_eq!((level.issued, level.on_hand), (4, 6));
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn the_ledger_refuses_what_does_not_balance() {
    let s = site().await;
    let p = s.person("2023001", "张三").await;
    let mut tx = s.pool().begin().await.unwrap();
    let holder = ledger::cardholder_account(&mut tx, p).await.unwrap();
    assert_eq!(
        ledger::cardholder_account(&mut tx, p).await.unwrap(),
        holder,
        "one account per person"
    );
    let cash = ledger::system_account(&mut tx, ledger::SystemAccount::Cash)
        .await
        .unwrap();
    for entries in [
        vec![],
        vec![(cash, yuan("10.00"))],
        vec![(cash, yuan("10.00")), (holder, yuan("-9.99"))],
        vec![(cash, yuan("10.00")), (cash, yuan("-10.00"))],
    ] {
        let e = ledger::post(
            &mut tx,
            &s.desk,
            MovementKind::Correction,
            None,
            "",
            &entries,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, LedgerError::Empty | LedgerError::Unbalanced { .. }),
            "{entries:?}: {e}"
        );
    }
    // A fraction of a fen is no amount at all: it never gets as far as the ledger.
    assert!("0.001".parse::<Money>().is_err());
    assert!(matches!(
        ledger::post(
            &mut tx,
            &s.desk,
            MovementKind::Correction,
            None,
            "",
            &[
                (cash, Money::from_yuan(1_000_000_000_000)),
                (holder, Money::from_yuan(-1_000_000_000_000))
            ]
        )
        .await,
        Err(LedgerError::BadAmount(_))
    ));
    tx.rollback().await.unwrap();
    assert!(matches!(
        ledger::top_up(s.pool(), &s.desk, p, yuan("-5"), "").await,
        Err(LedgerError::BadAmount(_))
    ));
    assert!(matches!(
        ledger::top_up(s.pool(), &s.tech, p, yuan("5"), "").await,
        Err(LedgerError::Denied(_))
    ));
    let t = ledger::top_up(s.pool(), &s.desk, p, yuan("12.34"), "")
        .await
        .unwrap();
    assert_eq!(t.balance, yuan("12.34"));
    assert_eq!(s.audit_count("ledger.top_up").await, 1);
    s.assert_books_balance().await;
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn stock_is_received_spoiled_issued_and_counted() {
    let s = site().await;
    stock::receive(s.pool(), &s.desk, 10, "batch A")
        .await
        .unwrap();
    stock::spoil(s.pool(), &s.desk, 2, "misprinted")
        .await
        .unwrap();
    s.card(1001, "2023001").await;
    assert!(matches!(
        stock::spoil(s.pool(), &s.desk, 100, "typo").await,
        Err(stock::StockError::NotOnHand { on_hand: 7, .. })
    ));
    assert!(matches!(
        stock::receive(s.pool(), &s.desk, 0, "").await,
        Err(stock::StockError::BadQuantity)
    ));
    assert!(matches!(
        stock::receive(s.pool(), &s.tech, 5, "").await,
        Err(stock::StockError::Denied(_))
    ));
    assert_eq!(
        stock::level(s.pool()).await.unwrap(),
        stock::StockLevel {
            received: 10,
            issued: 1,
            spoiled: 2,
            on_hand: 7
        }
    );
    let c = stock::count(s.pool(), &s.desk, 6, "one missing")
        .await
        .unwrap();
    assert_eq!((c.recorded, c.physical, c.difference), (7, 6, -1));
    let all = stock::counts(s.pool()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].difference, -1);
    for a in ["stock.receive", "stock.spoil", "stock.count"] {
        assert_eq!(s.audit_count(a).await, 1, "{a}");
    }
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn issuing_with_no_stock_on_hand_takes_the_level_negative() {
    let s = site().await;
    s.card(1001, "2023001").await;
    assert_eq!(stock::level(s.pool()).await.unwrap().on_hand, -1);
    let c = stock::count(s.pool(), &s.desk, 0, "").await.unwrap();
    assert_eq!((c.recorded, c.difference), (-1, 1));
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// Rewrite, extend

#[tokio::test]
async fn rewrite_replaces_grants_and_validity() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    card::rewrite(
        s.pool(),
        &s.desk,
        c.card_id,
        &Rewrite {
            subsystems: vec![Subsystem::Pos],
            door_groups: vec![],
            terminals: vec![s.pos],
            valid_until: days(30),
        },
    )
    .await
    .unwrap();
    let v = card::view(s.pool(), c.card_id).await.unwrap();
    assert_eq!(v.subsystems, vec![Subsystem::Pos]);
    assert_eq!(v.grants_summary(), "1 POS");
    assert_eq!(v.valid_until, days(30));
    assert!(v.door_groups.is_empty());
    let h = card::history(s.pool(), c.card_id).await.unwrap();
    assert_eq!(
        (
            h.last().unwrap().event.as_str(),
            h.last().unwrap().old_until,
            h.last().unwrap().new_until
        ),
        ("rewrite", Some(days(365)), Some(days(30)))
    );
    let audit: (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'card.rewrite'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(audit.0["grants"].as_array().unwrap().len(), 4);
    assert_eq!(audit.1["grants"].as_array().unwrap().len(), 1);
    assert!(matches!(
        card::rewrite(
            s.pool(),
            &s.desk,
            c.card_id,
            &Rewrite {
                subsystems: vec![Subsystem::Pos],
                door_groups: vec![],
                terminals: vec![],
                valid_until: days(-400),
            },
        )
        .await,
        Err(CardError::Refused(Refusal::EndsBeforeStart { .. }))
    ));
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn extend_one_card_and_the_temporary_rule() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    card::extend(s.pool(), &s.desk, c.card_id, days(730))
        .await
        .unwrap();
    assert_eq!(
        card::view(s.pool(), c.card_id).await.unwrap().valid_until,
        days(730)
    );
    assert!(matches!(
        card::extend(s.pool(), &s.desk, c.card_id, days(730)).await,
        Err(CardError::Refused(Refusal::NotLater { .. }))
    ));
    let h = card::history(s.pool(), c.card_id).await.unwrap();
    let e = h.last().unwrap();
    assert_eq!(
        (e.event.as_str(), e.old_until, e.new_until),
        ("extend", Some(days(365)), Some(days(730)))
    );
    let v = s.person("V0001", "访客甲").await;
    let t = card::issue(s.pool(), &s.desk, &s.temporary(3001, v))
        .await
        .unwrap();
    // At most a year past the current expiry (90 days from now).
    assert!(matches!(
        card::extend(s.pool(), &s.desk, t.card_id, days(90 + 366)).await,
        Err(CardError::Refused(Refusal::TemporaryTooLong { .. }))
    ));
    card::extend(s.pool(), &s.desk, t.card_id, days(90 + 365))
        .await
        .unwrap();
    assert_eq!(s.audit_count("card.extend").await, 2);
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn batch_extension_is_all_or_nothing() {
    let s = site().await;
    let (_, a) = s.card(1001, "2023001").await;
    let (_, b) = s.card(1002, "2023002").await;
    let (_, c) = s.card(1003, "2023003").await;
    card::cancel(s.pool(), &s.desk, b.card_id, "left early")
        .await
        .unwrap();
    let ids = [a.card_id, b.card_id, c.card_id];
    let until = days(500);
    let e = card::extend_batch(s.pool(), &s.desk, &ids, until)
        .await
        .unwrap_err();
    let BatchError::Refused(refusals) = &e else {
        panic!("{e}");
    };
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].card_no, Some(1002));
    assert!(refusals[0].to_string().starts_with("card 1002: "), "{e}");
    assert!(e.to_string().contains("cancelled"), "{e}");
    for id in ids {
        assert_ne!(card::view(s.pool(), id).await.unwrap().valid_until, until);
    }
    assert_eq!(
        s.count("SELECT count(*) FROM card_event WHERE event = 'extend'")
            .await,
        0
    );
    // Listed twice, or unknown: named too.
    let e = card::extend_batch(s.pool(), &s.desk, &[a.card_id, a.card_id, 999_999], until)
        .await
        .unwrap_err();
    let BatchError::Refused(refusals) = e else {
        panic!()
    };
    assert_eq!(refusals.len(), 2);
    // A preview changes nothing.
    let plan = card::preview_batch(s.pool(), &s.desk, &[a.card_id, c.card_id], until)
        .await
        .unwrap();
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[0].old_until, days(365));
    assert_eq!(
        s.count("SELECT count(*) FROM card_event WHERE event = 'extend'")
            .await,
        0
    );
    assert_eq!(
        card::extend_batch(s.pool(), &s.desk, &[a.card_id, c.card_id], until)
            .await
            .unwrap()
            .len(),
        2
    );
    for id in [a.card_id, c.card_id] {
        assert_eq!(card::view(s.pool(), id).await.unwrap().valid_until, until);
    }
    assert_eq!(s.audit_count("card.extend").await, 2);
    assert!(matches!(
        card::extend_batch(s.pool(), &s.tech, &[a.card_id], days(900)).await,
        Err(BatchError::Denied(_))
    ));
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn the_extension_file_is_checked_whole_and_applied_whole() {
    let s = site().await;
    let (_, a) = s.card(1001, "2023001").await;
    let (_, b) = s.card(1002, "2023002").await;
    let (_, c) = s.card(1003, "2023003").await;
    card::report_lost(s.pool(), &s.desk, c.card_id)
        .await
        .unwrap();
    let until = days(500);
    let import = |bytes: Vec<u8>, dry: bool| {
        let pool = s.pool().clone();
        let actor = s.desk.clone();
        async move { extensions::import(&pool, &actor, "june.csv", &bytes, until, dry).await }
    };
    let rows = |e: ImportError| match e {
        ImportError::BadRows { rows, .. } => rows
            .into_iter()
            .map(|r| (r.line, r.message()))
            .collect::<Vec<_>>(),
        other => panic!("{other}"),
    };
    // Every bad row named by its line.
    let bad = "card_no,person_no,name\n\
               1001,,张三\n\
               ,2023002,李四\n\
               4242,,nobody\n\
               1003,,lost one\n\
               ,2023001,same card as line 2\n\
               ,9999999,unknown person\n\
               abc,,not a number\n";
    let errors = rows(import(bad.as_bytes().to_vec(), false).await.unwrap_err());
    let lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8], "{errors:?}");
    assert!(errors[0].1.contains("no card 4242"));
    assert!(errors[1].1.contains("card 1003") && errors[1].1.contains("lost"));
    assert!(errors[2].1.contains("line 2"));
    assert!(errors[3].1.contains("9999999"));
    for id in [a.card_id, b.card_id, c.card_id] {
        assert_eq!(
            card::view(s.pool(), id).await.unwrap().valid_until,
            days(365)
        );
    }
    // Rows that read well but one card refuses: the batch itself names it, and writes nothing.
    let errors = rows(
        import(b"card_no\n1001\n1003\n".to_vec(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 3);
    assert!(errors[0].1.contains("lost"), "{errors:?}");
    assert_eq!(
        card::view(s.pool(), a.card_id).await.unwrap().valid_until,
        days(365)
    );
    // Not UTF-8 (a GBK export), or no card column.
    let mut gbk = b"card_no,name\n1001,".to_vec();
    gbk.extend_from_slice(&[0xd5, 0xc5, 0xc8, 0xfd]);
    assert_eq!(rows(import(gbk, false).await.unwrap_err())[0].0, 2);
    let errors = rows(import(b"name\nzhang\n".to_vec(), false).await.unwrap_err());
    assert_eq!(errors[0].0, 1);
    assert!(errors[0].1.contains("card_no"));
    // A dry run says what would change and changes nothing; then the real run.
    let good = "\u{feff}card_no,person_no\n1001,\n,2023002\n";
    let dry = import(good.as_bytes().to_vec(), true).await.unwrap();
    assert!(!dry.applied);
    assert_eq!(
        dry.cards.iter().map(|c| c.card_no).collect::<Vec<_>>(),
        [1001, 1002]
    );
    assert_eq!(
        card::view(s.pool(), a.card_id).await.unwrap().valid_until,
        days(365)
    );
    let done = import(good.as_bytes().to_vec(), false).await.unwrap();
    assert!(done.applied);
    for id in [a.card_id, b.card_id] {
        assert_eq!(card::view(s.pool(), id).await.unwrap().valid_until, until);
    }
    assert_eq!(
        card::view(s.pool(), c.card_id).await.unwrap().valid_until,
        days(365)
    );
    // The command-line form writes what it did.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more.csv");
    std::fs::write(&file, "card_no\n1001\n").unwrap();
    let mut out = Vec::new();
    extensions::cli(s.pool(), &s.desk, &file, days(600), true, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("would extend 1 card(s)"), "{out}");
    assert!(out.contains("dry run"), "{out}");
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// PINs and limits

#[tokio::test]
async fn pins_change_and_reset() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    let wrong = if c.query_pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(matches!(
        card::change_pin(
            s.pool(),
            &s.desk,
            c.card_id,
            PinKind::Query,
            wrong,
            "246810"
        )
        .await,
        Err(CardError::WrongPin)
    ));
    assert!(matches!(
        card::change_pin(
            s.pool(),
            &s.desk,
            c.card_id,
            PinKind::Query,
            &c.query_pin,
            "12345"
        )
        .await,
        Err(CardError::BadInput(_))
    ));
    card::change_pin(
        s.pool(),
        &s.desk,
        c.card_id,
        PinKind::Query,
        &c.query_pin,
        "246810",
    )
    .await
    .unwrap();
    assert!(
        card::verify_pin(s.pool(), c.card_id, PinKind::Query, "246810")
            .await
            .unwrap()
    );
    assert!(
        card::verify_pin(s.pool(), c.card_id, PinKind::Payment, &c.payment_pin)
            .await
            .unwrap()
    );
    // Reset: the card desk or a director, never a technician.
    assert!(matches!(
        card::reset_pin(s.pool(), &s.tech, c.card_id, PinKind::Payment).await,
        Err(CardError::Denied(_))
    ));
    let fresh = card::reset_pin(s.pool(), &s.desk, c.card_id, PinKind::Payment)
        .await
        .unwrap();
    assert!(card::valid_pin(&fresh));
    assert!(
        card::verify_pin(s.pool(), c.card_id, PinKind::Payment, &fresh)
            .await
            .unwrap()
    );
    assert_eq!(s.audit_count("card.pin_change").await, 1);
    assert_eq!(s.audit_count("card.pin_reset").await, 1);
    assert_eq!(
        s.count(
            "SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') LIKE '%argon2%'"
        )
        .await,
        0
    );
    assert!(
        !card::verify_pin(s.pool(), 424242, PinKind::Query, "246810")
            .await
            .unwrap()
    );
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn limits_default_to_the_kind_and_can_be_set_per_card() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    let l = card::effective_limits(s.pool(), c.card_id).await.unwrap();
    assert_eq!((l.per_purchase, l.daily_count), (yuan("50.00"), 20));
    card::set_limits(s.pool(), &s.desk, c.card_id, Some(yuan("15.00")), None)
        .await
        .unwrap();
    let l = card::effective_limits(s.pool(), c.card_id).await.unwrap();
    assert_eq!(
        (l.per_purchase, l.daily_count, l.pin_above),
        (yuan("15.00"), 20, yuan("15.00"))
    );
    assert!(matches!(
        card::set_limits(s.pool(), &s.desk, c.card_id, Some(yuan("0")), None).await,
        Err(CardError::BadInput(_))
    ));
    assert!(matches!(
        card::set_limits(s.pool(), &s.desk, c.card_id, None, Some(0)).await,
        Err(CardError::BadInput(_))
    ));
    card::set_limits(s.pool(), &s.desk, c.card_id, None, None)
        .await
        .unwrap();
    let v = card::view(s.pool(), c.card_id).await.unwrap();
    assert_eq!(
        (v.own_per_purchase, v.limits.per_purchase),
        (None, yuan("50.00"))
    );
    assert_eq!(s.audit_count("card.limits").await, 2);
    assert!(matches!(
        card::effective_limits(s.pool(), 424242).await,
        Err(CardError::NotFound)
    ));
    verify_ledger(s.pool()).await;
}

// ---------------------------------------------------------------------------------------------
// Door groups, audit, races

#[tokio::test]
async fn door_groups_hold_doors_of_door_controllers() {
    let s = site().await;
    assert!(matches!(
        door_group::create(s.pool(), &s.director, "canteen", &[(s.pos, 1)]).await,
        Err(door_group::DoorGroupError::NotADoorController(_))
    ));
    assert!(matches!(
        door_group::create(s.pool(), &s.director, "library", &[(s.door, 3)]).await,
        Err(door_group::DoorGroupError::NameTaken(_))
    ));
    assert!(matches!(
        door_group::create(s.pool(), &s.director, "x", &[(s.door, 5)]).await,
        Err(door_group::DoorGroupError::BadDoor { door: 5 })
    ));
    assert!(matches!(
        door_group::create(s.pool(), &s.desk, "x", &[(s.door, 3)]).await,
        Err(door_group::DoorGroupError::Denied(_))
    ));
    door_group::create(
        s.pool(),
        &s.director,
        "archive",
        &[(s.door, 3), (s.door, 3)],
    )
    .await
    .unwrap();
    let groups = door_group::list(s.pool()).await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["archive", "library"]
    );
    assert_eq!(groups[0].doors.len(), 1);
    assert_eq!(groups[1].doors[0].terminal_name, "图书馆东门");
}

#[tokio::test]
async fn every_transition_leaves_an_audit_row_and_a_card_event() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    let id = c.card_id;
    card::rewrite(
        s.pool(),
        &s.desk,
        id,
        &Rewrite {
            subsystems: vec![Subsystem::Pos],
            door_groups: vec![],
            terminals: vec![],
            valid_until: days(365),
        },
    )
    .await
    .unwrap();
    card::extend(s.pool(), &s.desk, id, days(400))
        .await
        .unwrap();
    card::set_limits(s.pool(), &s.desk, id, None, Some(3))
        .await
        .unwrap();
    card::change_pin(
        s.pool(),
        &s.desk,
        id,
        PinKind::Query,
        &c.query_pin,
        "135790",
    )
    .await
    .unwrap();
    card::reset_pin(s.pool(), &s.desk, id, PinKind::Payment)
        .await
        .unwrap();
    card::report_lost(s.pool(), &s.desk, id).await.unwrap();
    card::report_found(s.pool(), &s.desk, id).await.unwrap();
    let e = card::exchange(s.pool(), &s.desk, id, 1002, "faded", PaidFrom::Cash)
        .await
        .unwrap();
    card::report_lost(s.pool(), &s.desk, e.card_id)
        .await
        .unwrap();
    let r = card::reissue(
        s.pool(),
        &s.director,
        e.card_id,
        1003,
        Some("exam week".into()),
        PaidFrom::Cash,
    )
    .await
    .unwrap();
    card::return_card(s.pool(), &s.desk, r.card_id)
        .await
        .unwrap();
    let actions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, count(*) FROM audit_log WHERE action LIKE 'card.%' GROUP BY action ORDER BY action",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let want = [
        ("card.exchange", 1),
        ("card.extend", 1),
        ("card.issue", 1),
        ("card.limits", 1),
        ("card.pin_change", 1),
        ("card.pin_reset", 1),
        ("card.reissue", 1),
        ("card.report_found", 1),
        ("card.report_lost", 2),
        ("card.return", 1),
        ("card.rewrite", 1),
    ];
    assert_eq!(
        actions,
        want.iter()
            .map(|(a, n)| (a.to_string(), *n))
            .collect::<Vec<_>>()
    );
    // One card_event per transition, plus the issue rows of the two new cards.
    assert_eq!(s.count("SELECT count(*) FROM card_event").await, 12 + 2);
    let verified = onecard::db::audit::verify(s.pool()).await.unwrap();
    assert_eq!(verified.first_break, None);
    s.assert_books_balance().await;
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn two_desks_reporting_one_card_lost_get_one_success() {
    let s = site().await;
    let (_, c) = s.card(1001, "2023001").await;
    let other = operator(s.pool(), "chen.desk", "陈卡务", Role::CardDesk).await;
    for _ in 0..5 {
        let (a, b) = tokio::join!(
            card::report_lost(s.pool(), &s.desk, c.card_id),
            card::report_lost(s.pool(), &other, c.card_id),
        );
        let refused = [&a, &b]
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(CardError::Refused(Refusal::AlreadyLost { card_no: 1001 }))
                )
            })
            .count();
        assert_eq!(
            (a.is_ok() as usize + b.is_ok() as usize, refused),
            (1, 1),
            "{a:?} {b:?}"
        );
        card::report_found(s.pool(), &s.desk, c.card_id)
            .await
            .unwrap();
    }
    assert_eq!(s.audit_count("card.report_lost").await, 5);
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn two_desks_issuing_one_blank_get_one_card() {
    let s = site().await;
    let p1 = s.person("2023001", "张三").await;
    let p2 = s.person("2023002", "李四").await;
    let (r1, r2) = (s.staff(5005, p1), s.staff(5005, p2));
    let (a, b) = tokio::join!(
        card::issue(s.pool(), &s.desk, &r1),
        card::issue(s.pool(), &s.director, &r2),
    );
    assert_eq!(a.is_ok() as usize + b.is_ok() as usize, 1, "{a:?} {b:?}");
    let e = a.err().or(b.err()).unwrap();
    assert!(
        matches!(&e, CardError::CardNumberTaken { card_no: 5005, holder } if holder.contains("2023")),
        "{e}"
    );
    assert_eq!(s.count("SELECT count(*) FROM card").await, 1);
    assert_eq!(stock::level(s.pool()).await.unwrap().issued, 1);
    verify_ledger(s.pool()).await;
}

/// What one commit announced: exactly one notification, naming the commit's cards.
async fn one_commit(
    listener: &mut sqlx::postgres::PgListener,
    mut cards: Vec<i64>,
) -> Vec<onecard::db::notify::Change> {
    use onecard::db::notify::Change;
    cards.sort_unstable();
    // One notification per commit: the cards, with the commands their sync queued.
    let n = listener.recv().await.unwrap();
    let change = Change::parse(n.payload()).unwrap();
    assert_eq!(change.card, cards, "{change:?}");
    vec![change]
}

#[tokio::test]
async fn a_change_is_announced_only_when_it_commits() {
    use onecard::db::notify::CHANNEL;
    let s = site().await;
    let (_, a) = s.card(1001, "2023001").await;
    let (_, b) = s.card(1002, "2023002").await;
    let mut listener = sqlx::postgres::PgListener::connect_with(s.pool())
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();
    // Refused: rolled back, never announced. What is heard next is card b's report only.
    assert!(card::report_found(s.pool(), &s.desk, a.card_id)
        .await
        .is_err());
    card::report_lost(s.pool(), &s.desk, b.card_id)
        .await
        .unwrap();
    let heard = one_commit(&mut listener, vec![b.card_id]).await;
    assert!(
        heard.iter().all(|c| !c.card.contains(&a.card_id)),
        "{heard:?}"
    );
    // A reissue announces both cards.
    sqlx::query("UPDATE card SET lost_at = lost_at - interval '25 hours' WHERE id = $1")
        .bind(b.card_id)
        .execute(s.pool())
        .await
        .unwrap();
    let n = card::reissue(s.pool(), &s.desk, b.card_id, 1003, None, PaidFrom::Cash)
        .await
        .unwrap();
    one_commit(&mut listener, vec![b.card_id, n.card_id]).await;
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn card_kind_policy_is_a_setting_within_the_domain_rules() {
    let s = site().await;
    let kinds = card::card_kinds(s.pool()).await.unwrap();
    assert_eq!(
        kinds.iter().map(|k| k.kind).collect::<Vec<_>>(),
        [CardKind::Staff, CardKind::Student, CardKind::Temporary]
    );
    let temporary = kinds[2].clone();
    assert!(!temporary.doors && !temporary.attendance);
    let mut p = temporary.clone();
    p.max_validity_days = Some(400);
    assert!(matches!(
        card::set_card_kind_policy(s.pool(), &s.director, &p).await,
        Err(CardError::BadInput(_))
    ));
    let mut p = temporary.clone();
    p.doors = true;
    assert!(matches!(
        card::set_card_kind_policy(s.pool(), &s.director, &p).await,
        Err(CardError::BadInput(_))
    ));
    let mut p = temporary.clone();
    p.issue_fee = yuan("0");
    p.per_purchase_limit = yuan("25.50");
    card::set_card_kind_policy(s.pool(), &s.director, &p)
        .await
        .unwrap();
    assert_eq!(card::card_kinds(s.pool()).await.unwrap()[2], p);
    // A free temporary card now, with the new default limit.
    let v = s.person("V0001", "访客甲").await;
    let t = card::issue(s.pool(), &s.desk, &s.temporary(3001, v))
        .await
        .unwrap();
    assert_eq!(t.fee, None);
    assert_eq!(
        card::effective_limits(s.pool(), t.card_id)
            .await
            .unwrap()
            .per_purchase,
        yuan("25.50")
    );
    let (before, after): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'card_kind.change'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(
        (&before["issue_fee"], &after["issue_fee"]),
        (&"20.00".into(), &"0.00".into())
    );
    verify_ledger(s.pool()).await;
}

#[tokio::test]
async fn the_validity_sweep_tells_the_terminals_a_card_expired_once() {
    let s = site().await;
    let (_, expiring) = s.card(8165537, "2023001").await;
    let (_, valid) = s.card(8165538, "2023002").await;
    // The terminals confirmed both cards.
    sqlx::query("UPDATE terminal_command SET state = 'done', finished_at = now()")
        .execute(s.pool())
        .await
        .unwrap();
    let queued = || s.count("SELECT count(*) FROM terminal_command WHERE state = 'queued'");
    assert_eq!(queued().await, 0);
    let shell = Actor::shell("root");
    assert_eq!(
        onecard::db::propagation::sweep_validity(s.pool(), &shell)
            .await
            .unwrap(),
        0,
        "nothing began or ended"
    );
    // The first card's validity ended yesterday: its door controller and attendance machine
    // must drop it, with nobody at the desk doing anything.
    sqlx::query("UPDATE card SET valid_from = $2, valid_until = $3 WHERE id = $1")
        .bind(expiring.card_id)
        .bind(days(-30))
        .bind(days(-1))
        .execute(s.pool())
        .await
        .unwrap();
    let n = onecard::db::propagation::sweep_validity(s.pool(), &shell)
        .await
        .unwrap();
    assert_eq!(n, 2, "the door controller and the attendance machine");
    let revoked: Vec<i64> = sqlx::query_scalar(
        "SELECT terminal_id FROM terminal_command
         WHERE state = 'queued' AND command->>'op' = 'revoke_cards' ORDER BY terminal_id",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let mut want = vec![s.door, s.att];
    want.sort_unstable();
    assert_eq!(revoked, want);
    // Once told, the next sweep has nothing to say; the valid card was never touched.
    assert_eq!(
        onecard::db::propagation::sweep_validity(s.pool(), &shell)
            .await
            .unwrap(),
        0
    );
    let stances: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT stance FROM card_sync WHERE card_id = $1 AND terminal_id <> $2",
    )
    .bind(valid.card_id)
    .bind(s.pos)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(stances, vec!["accept".to_string()]);
    verify_ledger(s.pool()).await;
}
