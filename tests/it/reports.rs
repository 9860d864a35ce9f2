//! The card desk's four reports, on data written with plain SQL (as the card desk would write
//! it): rows, every filter, the CSV export (streamed: 100,000 rows) and its permission.

use crate::support::test_db;
use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use onecard::domain::card::CardKind;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::report::{self, Filter, ReportArgs, ReportError, ReportKind};
use sqlx::PgPool;

/// Local time on a day of 2026.
fn at(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Local
        .with_ymd_and_hms(2026, month, day, hour, 0, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn shown(month: u32, day: u32, hour: u32) -> String {
    format!("2026-{month:02}-{day:02} {hour:02}:00:00")
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(sql).execute(pool).await.unwrap();
}

async fn card(pool: &PgPool, card_no: i64, person_no: &str, kind: &str, state: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO card (card_no, person_id, kind, state, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT $1, id, $3, $4, '2026-01-01', '2026-07-01', 'desk', 'x', 'x'
         FROM person WHERE person_no = $2 RETURNING id",
    )
    .bind(card_no)
    .bind(person_no)
    .bind(kind)
    .bind(state)
    .fetch_one(pool)
    .await
    .unwrap()
}

struct Event<'a> {
    card: i64,
    event: &'a str,
    at: DateTime<Utc>,
    /// operator id, or None: the shell (`cli:root`)
    operator: Option<i64>,
    other: Option<i64>,
    old_until: Option<&'a str>,
    new_until: Option<&'a str>,
}

fn ev(card: i64, event: &str, at: DateTime<Utc>, operator: Option<i64>) -> Event<'_> {
    Event {
        card,
        event,
        at,
        operator,
        other: None,
        old_until: None,
        new_until: None,
    }
}

async fn event(pool: &PgPool, e: Event<'_>) {
    sqlx::query(
        "INSERT INTO card_event (card_id, event, at, operator_id, actor, other_card_id, old_until, new_until)
         VALUES ($1, $2, $3, $4, coalesce((SELECT login FROM operator WHERE id = $4), 'cli:root'), $5,
                 $6::date, $7::date)",
    )
    .bind(e.card)
    .bind(e.event)
    .bind(e.at)
    .bind(e.operator)
    .bind(e.other)
    .bind(e.old_until)
    .bind(e.new_until)
    .execute(pool)
    .await
    .unwrap();
}

const DESK1: Option<i64> = Some(1);
const DESK2: Option<i64> = Some(2);

/// Three people, five cards (a reissue written on the old card, an exchange written on both),
/// losses, extensions and three accounts.
async fn fixture(pool: &PgPool) {
    exec(
        pool,
        "INSERT INTO operator (id, login, display_name, role, password_hash) VALUES
             (1, 'desk1', '柜台一', 'card_desk', 'x'), (2, 'desk2', '柜台二', 'card_desk', 'x');
         INSERT INTO department (code, name) VALUES ('CS', '计算机学院'), ('LIB', '图书馆');
         INSERT INTO person (person_no, name, department_id, category)
             SELECT p.no, p.name, d.id, p.category
             FROM (VALUES ('2021001', '张三', 'CS', 'student'), ('E001', 'Li Wei', 'LIB', 'staff'),
                          ('2021003', '王五', 'CS', 'student')) AS p(no, name, dept, category)
             JOIN department d ON d.code = p.dept;
         INSERT INTO account (kind, person_id, name, balance)
             SELECT 'cardholder', p.id, p.name, b.balance
             FROM (VALUES ('2021001', 12.50), ('E001', 100.00), ('2021003', 0.05)) AS b(no, balance)
             JOIN person p ON p.person_no = b.no;",
    )
    .await;
    let c1001 = card(pool, 1001, "2021001", "student", "lost").await;
    let c2001 = card(pool, 2001, "E001", "staff", "replaced").await;
    let c2002 = card(pool, 2002, "E001", "staff", "active").await;
    let c3001 = card(pool, 3001, "2021003", "student", "surrendered").await;
    let c3002 = card(pool, 3002, "2021003", "student", "active").await;
    for (old, new) in [(c2001, c2002), (c3001, c3002)] {
        sqlx::query("UPDATE card SET replaced_by_card_id = $2 WHERE id = $1")
            .bind(old)
            .bind(new)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE card SET replaces_card_id = $1 WHERE id = $2")
            .bind(old)
            .bind(new)
            .execute(pool)
            .await
            .unwrap();
    }
    event(pool, ev(c1001, "issue", at(3, 1, 9), DESK1)).await;
    event(pool, ev(c2001, "issue", at(3, 2, 10), DESK2)).await;
    event(pool, ev(c2001, "report_lost", at(3, 3, 11), DESK2)).await;
    // The reissue written on the old card, naming the new one.
    event(
        pool,
        Event {
            other: Some(c2002),
            ..ev(c2001, "reissue", at(3, 5, 12), DESK1)
        },
    )
    .await;
    event(pool, ev(c3001, "issue", at(4, 1, 9), None)).await;
    // The exchange written on both cards.
    event(
        pool,
        Event {
            other: Some(c3002),
            ..ev(c3001, "exchange", at(4, 10, 9), DESK2)
        },
    )
    .await;
    event(
        pool,
        Event {
            other: Some(c3001),
            ..ev(c3002, "exchange", at(4, 10, 9), DESK2)
        },
    )
    .await;
    event(pool, ev(c1001, "report_lost", at(5, 1, 8), DESK1)).await;
    event(pool, ev(c1001, "report_found", at(5, 2, 8), DESK2)).await;
    event(pool, ev(c1001, "report_lost", at(5, 10, 8), DESK1)).await;
    event(
        pool,
        Event {
            old_until: Some("2026-07-01"),
            new_until: Some("2027-07-01"),
            ..ev(c1001, "extend", at(6, 10, 15), DESK1)
        },
    )
    .await;
    event(
        pool,
        Event {
            old_until: Some("2026-07-01"),
            new_until: Some("2026-12-31"),
            ..ev(c3002, "extend", at(6, 20, 15), DESK2)
        },
    )
    .await;
    // Events none of the reports show.
    event(pool, ev(c2002, "pin_reset", at(3, 6, 9), DESK1)).await;
    event(pool, ev(c3002, "rewrite", at(4, 11, 9), DESK1)).await;
}

async fn rows(pool: &PgPool, kind: ReportKind, filter: Filter) -> Vec<Vec<String>> {
    let page = report::query(pool, kind, &filter, 1000).await.unwrap();
    assert_eq!(page.total_rows, page.rows.len() as u64);
    assert_eq!(
        page.columns.len(),
        page.rows.first().map_or(page.columns.len(), Vec::len)
    );
    page.rows
}

/// One column of the rows.
fn col(rows: &[Vec<String>], i: usize) -> Vec<&str> {
    rows.iter().map(|r| r[i].as_str()).collect()
}

#[tokio::test]
async fn issued_cards_one_row_per_card_with_every_filter() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let all = rows(pool, ReportKind::Issued, Filter::default()).await;
    assert_eq!(
        ReportKind::Issued.columns(),
        vec![
            "card_no",
            "person_no",
            "name",
            "department",
            "kind",
            "how",
            "issued_at",
            "operator"
        ]
    );
    assert_eq!(
        all,
        vec![
            vec![
                "1001",
                "2021001",
                "张三",
                "计算机学院",
                "student",
                "issue",
                &shown(3, 1, 9),
                "desk1"
            ],
            vec![
                "2001",
                "E001",
                "Li Wei",
                "图书馆",
                "staff",
                "issue",
                &shown(3, 2, 10),
                "desk2"
            ],
            vec![
                "2002",
                "E001",
                "Li Wei",
                "图书馆",
                "staff",
                "reissue",
                &shown(3, 5, 12),
                "desk1"
            ],
            vec![
                "3001",
                "2021003",
                "王五",
                "计算机学院",
                "student",
                "issue",
                &shown(4, 1, 9),
                "cli:root"
            ],
            vec![
                "3002",
                "2021003",
                "王五",
                "计算机学院",
                "student",
                "exchange",
                &shown(4, 10, 9),
                "desk2"
            ],
        ]
    );
    let f = |from: Option<&str>,
             to: Option<&str>,
             dept: Option<&str>,
             kind: Option<CardKind>,
             op: Option<&str>| Filter {
        from: from.map(date),
        to: to.map(date),
        department: dept.map(String::from),
        kind,
        operator: op.map(String::from),
    };
    // Both ends of the range are whole local days.
    let r = rows(
        pool,
        ReportKind::Issued,
        f(Some("2026-03-02"), Some("2026-03-05"), None, None, None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["2001", "2002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(Some("2026-04-01"), None, None, None, None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["3001", "3002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, Some("2026-03-01"), None, None, None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["1001"]);
    // Department by code or name.
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, Some("LIB"), None, None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["2001", "2002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, Some("计算机学院"), None, None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["1001", "3001", "3002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, None, Some(CardKind::Staff), None),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["2001", "2002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, None, Some(CardKind::Temporary), None),
    )
    .await;
    assert!(r.is_empty());
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, None, None, Some("desk1")),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["1001", "2002"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, None, None, Some("cli:root")),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["3001"]);
    let r = rows(
        pool,
        ReportKind::Issued,
        f(None, None, Some("CS"), None, Some("desk2")),
    )
    .await;
    assert_eq!(col(&r, 0), vec!["3002"]);

    // A page: the first rows and the count of all.
    let page = report::query(pool, ReportKind::Issued, &Filter::default(), 2)
        .await
        .unwrap();
    assert_eq!(
        (page.rows.len(), page.total_rows, page.total.is_none()),
        (2, 5, true)
    );
    assert!(page.numeric[0] && !page.numeric[1]);
}

#[tokio::test]
async fn a_reissue_written_on_the_new_card_counts_once() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    exec(
        pool,
        "INSERT INTO person (person_no, name, department_id, category)
             SELECT 'E002', '赵六', id, 'staff' FROM department WHERE code = 'LIB'",
    )
    .await;
    let old = card(pool, 4001, "E002", "staff", "replaced").await;
    let new = card(pool, 4002, "E002", "staff", "active").await;
    sqlx::query("UPDATE card SET replaced_by_card_id = $2 WHERE id = $1")
        .bind(old)
        .bind(new)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE card SET replaces_card_id = $1, issued_at = $3 WHERE id = $2")
        .bind(old)
        .bind(new)
        .bind(at(7, 2, 10))
        .execute(pool)
        .await
        .unwrap();
    event(pool, ev(old, "issue", at(7, 1, 9), DESK1)).await;
    event(pool, ev(old, "report_lost", at(7, 1, 17), DESK1)).await;
    event(
        pool,
        Event {
            other: Some(old),
            ..ev(new, "reissue", at(7, 2, 10), DESK2)
        },
    )
    .await;
    let july = Filter {
        from: Some(date("2026-07-01")),
        ..Filter::default()
    };
    let r = rows(pool, ReportKind::Issued, july.clone()).await;
    assert_eq!(col(&r, 0), vec!["4001", "4002"]);
    assert_eq!(col(&r, 5), vec!["issue", "reissue"]);
    // The loss's outcome comes from the old card's state and the new card.
    let r = rows(pool, ReportKind::Losses, july).await;
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0][5..].to_vec(),
        vec![
            shown(7, 1, 17),
            "desk1".into(),
            "reissued".into(),
            shown(7, 2, 10),
            "4002".into()
        ]
    );
}

#[tokio::test]
async fn balances_with_the_card_in_service_and_a_total() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let page = report::query(pool, ReportKind::Balances, &Filter::default(), 100)
        .await
        .unwrap();
    assert_eq!(
        page.columns,
        vec![
            "person_no",
            "name",
            "department",
            "kind",
            "card_no",
            "card_state",
            "balance"
        ]
    );
    let mut got = page.rows.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            vec![
                "2021001",
                "张三",
                "计算机学院",
                "student",
                "1001",
                "lost",
                "¥12.50"
            ],
            vec![
                "2021003",
                "王五",
                "计算机学院",
                "student",
                "3002",
                "active",
                "¥0.05"
            ],
            vec![
                "E001",
                "Li Wei",
                "图书馆",
                "staff",
                "2002",
                "active",
                "¥100.00"
            ],
        ]
    );
    assert_eq!(
        page.total,
        Some(vec![
            "total".into(),
            "3 accounts".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "¥112.55".into()
        ])
    );
    let cs = report::query(
        pool,
        ReportKind::Balances,
        &Filter {
            department: Some("CS".into()),
            ..Filter::default()
        },
        1,
    )
    .await
    .unwrap();
    assert_eq!((cs.rows.len(), cs.total_rows), (1, 2));
    assert_eq!(
        cs.total.unwrap()[6],
        "¥12.55",
        "the total is of all rows, not the page"
    );
    let staff = rows(
        pool,
        ReportKind::Balances,
        Filter {
            kind: Some(CardKind::Staff),
            ..Filter::default()
        },
    )
    .await;
    assert_eq!(col(&staff, 0), vec!["E001"]);
    // An account whose card is no longer in service still shows its balance.
    exec(
        pool,
        "UPDATE card SET state = 'cancelled' WHERE card_no = 3002",
    )
    .await;
    let r = rows(pool, ReportKind::Balances, Filter::default()).await;
    let w = r.iter().find(|r| r[0] == "2021003").unwrap();
    assert_eq!(w[3..].to_vec(), vec!["", "", "", "¥0.05"]);
}

#[tokio::test]
async fn extensions_old_and_new_expiry() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let all = rows(pool, ReportKind::Extensions, Filter::default()).await;
    assert_eq!(
        all,
        vec![
            vec![
                "1001",
                "2021001",
                "张三",
                "计算机学院",
                "student",
                "2026-07-01",
                "2027-07-01",
                &shown(6, 10, 15),
                "desk1"
            ],
            vec![
                "3002",
                "2021003",
                "王五",
                "计算机学院",
                "student",
                "2026-07-01",
                "2026-12-31",
                &shown(6, 20, 15),
                "desk2"
            ],
        ]
    );
    let by = |filter: Filter| rows(pool, ReportKind::Extensions, filter);
    let r = by(Filter {
        operator: Some("desk2".into()),
        ..Filter::default()
    })
    .await;
    assert_eq!(col(&r, 0), vec!["3002"]);
    let r = by(Filter {
        from: Some(date("2026-06-15")),
        to: Some(date("2026-06-30")),
        ..Filter::default()
    })
    .await;
    assert_eq!(col(&r, 0), vec!["3002"]);
    let r = by(Filter {
        department: Some("LIB".into()),
        ..Filter::default()
    })
    .await;
    assert!(r.is_empty());
    let r = by(Filter {
        kind: Some(CardKind::Student),
        ..Filter::default()
    })
    .await;
    assert_eq!(r.len(), 2);
}

#[tokio::test]
async fn losses_and_what_came_of_them() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let all = rows(pool, ReportKind::Losses, Filter::default()).await;
    assert_eq!(
        all,
        vec![
            vec![
                "2001",
                "E001",
                "Li Wei",
                "图书馆",
                "staff",
                &shown(3, 3, 11),
                "desk2",
                "reissued",
                &shown(3, 5, 12),
                "2002"
            ],
            vec![
                "1001",
                "2021001",
                "张三",
                "计算机学院",
                "student",
                &shown(5, 1, 8),
                "desk1",
                "found",
                &shown(5, 2, 8),
                ""
            ],
            vec![
                "1001",
                "2021001",
                "张三",
                "计算机学院",
                "student",
                &shown(5, 10, 8),
                "desk1",
                "still lost",
                "",
                ""
            ],
        ]
    );
    let by = |filter: Filter| rows(pool, ReportKind::Losses, filter);
    let r = by(Filter {
        from: Some(date("2026-05-01")),
        ..Filter::default()
    })
    .await;
    assert_eq!(col(&r, 7), vec!["found", "still lost"]);
    let r = by(Filter {
        operator: Some("desk2".into()),
        ..Filter::default()
    })
    .await;
    assert_eq!(col(&r, 0), vec!["2001"]);
    let r = by(Filter {
        department: Some("计算机学院".into()),
        kind: Some(CardKind::Student),
        ..Filter::default()
    })
    .await;
    assert_eq!(r.len(), 2);
}

/// The CSV as text, after its byte-order mark (which Excel needs to read UTF-8).
fn csv_text(bytes: Vec<u8>) -> String {
    let text = String::from_utf8(bytes).unwrap();
    text.strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("no byte-order mark: {text}"))
        .to_string()
}

#[tokio::test]
async fn csv_export_is_utf8_with_a_header_exact_money_and_needs_the_permission() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let mut out = Vec::new();
    let desk = Actor::operator(1, "desk1", Role::CardDesk);
    let n = report::export_csv(
        pool,
        &desk,
        ReportKind::Balances,
        &Filter::default(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    let text = csv_text(out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "person_no,name,department,kind,card_no,card_state,balance"
    );
    assert!(
        lines.contains(&"2021001,张三,计算机学院,student,1001,lost,12.50"),
        "{text}"
    );
    // Money always with two decimals; the total is never a row among the data.
    assert!(lines.iter().any(|l| l.ends_with(",0.05")), "{text}");
    assert!(!text.contains("total"), "{text}");
    assert_eq!(lines.len(), 4);

    let mut out = Vec::new();
    let n = report::export_csv(
        pool,
        &desk,
        ReportKind::Issued,
        &Filter::default(),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(n, 5);
    let text = csv_text(out);
    assert!(
        text.starts_with(
            "card_no,person_no,name,department,kind,how,issued_at,operator\n1001,2021001,张三,"
        ),
        "{text}"
    );

    for role in [Role::DutyOperator, Role::Technician] {
        let who = Actor::operator(3, "someone", role);
        let e = report::export_csv(
            pool,
            &who,
            ReportKind::Losses,
            &Filter::default(),
            Vec::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ReportError::Denied(_)), "{e}");
    }
    // The shell is not limited.
    report::export_csv(
        pool,
        &Actor::shell("root"),
        ReportKind::Losses,
        &Filter::default(),
        Vec::new(),
    )
    .await
    .unwrap();
}

/// The console runs these on its runtime's worker threads.
#[tokio::test]
async fn the_reports_can_be_spawned() {
    fn send<T: Send>(_: T) {}
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://x@localhost/x")
        .unwrap();
    let actor = Actor::shell("root");
    let filter = Filter::default();
    send(report::query(&pool, ReportKind::Issued, &filter, 10));
    send(report::export_csv(
        &pool,
        &actor,
        ReportKind::Losses,
        &filter,
        Vec::new(),
    ));
}

/// Counts what is written and keeps nothing.
#[derive(Default)]
struct Counter {
    bytes: u64,
    lines: u64,
    writes: u64,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.writes += 1;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_hundred_thousand_rows_stream_out() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    exec(
        pool,
        "INSERT INTO person (person_no, name, department_id, category)
             SELECT 'S' || g, '学生' || g, (SELECT id FROM department WHERE code = 'CS'), 'student'
             FROM generate_series(1, 100000) g;
         INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by, query_pin_hash, payment_pin_hash)
             SELECT 50000000 + p.id, p.id, 'student', '2026-01-01', '2027-01-01', 'desk', 'x', 'x'
             FROM person p WHERE p.person_no LIKE 'S%';
         INSERT INTO card_event (card_id, event, at, actor)
             SELECT id, 'issue', '2026-09-01 10:00:00+08', 'cli:root' FROM card WHERE card_no > 50000000;
         INSERT INTO account (kind, person_id, name, balance)
             SELECT 'cardholder', id, name, 1.01 FROM person WHERE person_no LIKE 'S%';",
    )
    .await;
    let shell = Actor::shell("root");
    let sept = Filter {
        from: Some(date("2026-08-31")),
        ..Filter::default()
    };
    let mut out = Counter::default();
    let n = report::export_csv(pool, &shell, ReportKind::Issued, &sept, &mut out)
        .await
        .unwrap();
    assert_eq!(n, 100_000);
    assert_eq!(out.lines, 100_001);
    // Written as it came, in the CSV writer's small buffers, not in one piece at the end.
    assert!(out.writes > 100, "{} writes", out.writes);

    let cs = Filter {
        department: Some("CS".into()),
        ..Filter::default()
    };
    let mut out = Counter::default();
    let n = report::export_csv(pool, &shell, ReportKind::Balances, &cs, &mut out)
        .await
        .unwrap();
    assert_eq!(n, 100_002);
    assert_eq!(out.lines, 100_003, "a header and the rows, no total line");
    let page = report::query(pool, ReportKind::Balances, &cs, 10)
        .await
        .unwrap();
    assert_eq!(page.total_rows, 100_002);
    assert_eq!(page.total.unwrap()[6], "¥101,012.55");
}

#[tokio::test]
async fn the_cli_prints_a_table_or_writes_the_csv() {
    let db = test_db().await;
    let pool = &db.pool;
    fixture(pool).await;
    let args = |report: ReportKind| ReportArgs {
        report: report.into(),
        from: None,
        to: None,
        department: None,
        kind: None,
        operator: None,
        person: None,
        status: None,
        csv: None,
        overwrite: false,
        limit: 1000,
    };
    let shell = Actor::shell("root");
    let mut out = Vec::new();
    report::cli(pool, &shell, &args(ReportKind::Issued), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("card_no  person_no  name"), "{text}");
    assert!(text.contains("张三"), "{text}");
    assert!(text.ends_with("5 rows\n"), "{text}");
    let mut out = Vec::new();
    report::cli(
        pool,
        &shell,
        &ReportArgs {
            limit: 2,
            ..args(ReportKind::Issued)
        },
        &mut out,
    )
    .await
    .unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("2 of 5 rows shown"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("losses.csv");
    let mut out = Vec::new();
    report::cli(
        pool,
        &shell,
        &ReportArgs {
            csv: Some(file.clone()),
            operator: Some("desk1".into()),
            ..args(ReportKind::Losses)
        },
        &mut out,
    )
    .await
    .unwrap();
    assert!(String::from_utf8(out).unwrap().contains("2 rows written"));
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no .part file left"
    );
    // An existing file is never replaced unless asked.
    std::fs::write(&file, "kept").unwrap();
    let losses = ReportArgs {
        csv: Some(file.clone()),
        ..args(ReportKind::Losses)
    };
    let e = report::cli(pool, &shell, &losses, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    report::cli(
        pool,
        &shell,
        &ReportArgs {
            overwrite: true,
            ..losses
        },
        &mut Vec::new(),
    )
    .await
    .unwrap();
    assert!(csv_text(std::fs::read(&file).unwrap()).starts_with("card_no,"));
    // The balances total comes beside the file, not in it.
    let balances = dir.path().join("balances.csv");
    let mut out = Vec::new();
    report::cli(
        pool,
        &shell,
        &ReportArgs {
            csv: Some(balances.clone()),
            ..args(ReportKind::Balances)
        },
        &mut out,
    )
    .await
    .unwrap();
    let said = String::from_utf8(out).unwrap();
    assert!(said.contains("3 accounts  ¥112.55"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&balances).unwrap().lines().count(),
        4
    );

    let e = report::cli(
        pool,
        &shell,
        &ReportArgs {
            from: Some(date("2026-01-01")),
            ..args(ReportKind::Balances)
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("do not apply"), "{e}");
}
