//! The person register: import (all or nothing, every bad row named, one audit row), the
//! department list, add/update, and the search.

use crate::support::test_db;
use onecard::db::person::{self, Category, PersonFields, PersonQuery, Status};
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use onecard::import::persons::{
    import, import_with, FieldChange, NewPerson, Options, PersonField, Progress, Stage, Summary,
    UpdatedPerson,
};
use onecard::import::ImportError;
use sqlx::PgPool;

fn shell() -> Actor {
    Actor::shell("root")
}

/// An import that creates the departments it names (the register's own checks are tested
/// with [`strict`]).
async fn run(
    pool: &PgPool,
    name: &str,
    bytes: &[u8],
    dry_run: bool,
) -> Result<Summary, ImportError> {
    let mut progress = |_: Progress| {};
    let options = Options {
        dry_run,
        create_departments: true,
    };
    import_with(pool, &shell(), name, bytes, options, &mut progress).await
}

/// An import as the console's and the command line's default: departments must exist.
async fn strict(
    pool: &PgPool,
    name: &str,
    bytes: &[u8],
    dry_run: bool,
) -> Result<Summary, ImportError> {
    let mut progress = |_: Progress| {};
    import(pool, &shell(), name, bytes, dry_run, &mut progress).await
}

/// Everything an import could change, as one value.
async fn snapshot(pool: &PgPool) -> (i64, i64, i64, String) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM department),
                (SELECT count(*) FROM audit_log),
                coalesce((SELECT string_agg(concat_ws('|', person_no, name, department_id, category,
                                                      id_document, status, updated_at), E'\\n' ORDER BY person_no)
                          FROM person), '')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

fn bad_rows(e: ImportError) -> Vec<(u64, String)> {
    match e {
        ImportError::BadRows { rows, .. } => {
            rows.into_iter().map(|r| (r.line, r.message())).collect()
        }
        other => panic!("expected bad rows, got {other}"),
    }
}

async fn computing(pool: &PgPool) {
    person::create_department(pool, &shell(), "CS", "计算机学院", None)
        .await
        .unwrap();
}

/// Chinese header aliases, a BOM, CRLF line ends, a department by code, by name and unknown.
const GOOD: &str = "\u{feff}学号,姓名,部门,类别,证件号,状态\r\n\
2021001,张三,CS,学生,110101200301011234,在读\r\n\
2021002,李四,计算机学院,student,,\r\n\
T0001,Wei ZHANG,CS,staff,E12345678,active\r\n\
T0002,欧阳娜娜,图书馆,教职工,,在职\r\n\
V0001,Anna Müller,图书馆,other,P998877,left\r\n";

#[tokio::test]
async fn a_good_file_imports_and_a_second_import_leaves_it_alone() {
    let db = test_db().await;
    computing(&db.pool).await;
    let done = run(&db.pool, "/tmp/hr/people.csv", GOOD.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(
        (done.rows, done.new, done.updated, done.unchanged),
        (5, 5, 0, 0),
        "{done:?}"
    );
    assert_eq!(done.departments_created, vec!["图书馆".to_string()]);
    let audit_id = done.audit_id.expect("an audit row");

    let p = person::get_by_no(&db.pool, "2021001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.name.as_str(),
            p.department_code.as_str(),
            p.category.as_str(),
            p.id_document.as_str(),
            p.status.as_str()
        ),
        ("张三", "CS", "student", "110101200301011234", "active")
    );
    let p = person::get_by_no(&db.pool, "2021002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.department_code.as_str(), p.status.as_str()),
        ("CS", "active")
    );
    let p = person::get_by_no(&db.pool, "V0001").await.unwrap().unwrap();
    assert_eq!(
        (
            p.department.as_str(),
            p.category.as_str(),
            p.status.as_str()
        ),
        ("图书馆", "other", "left")
    );

    // The one audit row: file, hash, counts.
    let (action, object_id, after): (String, String, serde_json::Value) =
        sqlx::query_as("SELECT action, object_id, after FROM audit_log WHERE id = $1")
            .bind(audit_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (action.as_str(), object_id.as_str()),
        ("person.import", "people.csv")
    );
    assert_eq!(after["sha256"], done.sha256);
    assert_eq!(done.sha256.len(), 64);
    assert_eq!(after["new"], 5);
    assert_eq!(after["departments_created"][0], "图书馆");
    let imports: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'person.import'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(imports, 1);

    // The same file again: every row left alone, nothing written, no audit row.
    let before = snapshot(&db.pool).await;
    let again = run(&db.pool, "people.csv", GOOD.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((again.new, again.updated, again.unchanged), (0, 0, 5));
    assert_eq!(again.audit_id, None);
    assert_eq!(snapshot(&db.pool).await, before);

    // One name and one status changed; a file without the optional columns keeps what is stored.
    let changed = "person_no,name,department,category\n\
2021001,张叁,CS,student\n\
2021002,李四,CS,student\n\
T0001,Wei Zhang,CS,staff\n";
    let dry = run(&db.pool, "changed.csv", changed.as_bytes(), true)
        .await
        .unwrap();
    assert_eq!((dry.new, dry.updated, dry.unchanged), (0, 2, 1));
    assert_eq!(
        dry.updated_persons,
        vec![
            UpdatedPerson {
                line: 2,
                person_no: "2021001".into(),
                name: "张叁".into(),
                fields: vec![FieldChange {
                    field: PersonField::Name,
                    old: "张三".into(),
                    new: "张叁".into()
                }],
            },
            UpdatedPerson {
                line: 4,
                person_no: "T0001".into(),
                name: "Wei Zhang".into(),
                fields: vec![FieldChange {
                    field: PersonField::Name,
                    old: "Wei ZHANG".into(),
                    new: "Wei Zhang".into()
                }],
            },
        ]
    );
    assert!(dry.new_persons.is_empty());
    assert_eq!(
        dry.updated_persons[0].fields[0].to_string(),
        "name 张三 → 张叁"
    );
    let applied = run(&db.pool, "changed.csv", changed.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((applied.new, applied.updated, applied.unchanged), (0, 2, 1));
    let p = person::get_by_no(&db.pool, "2021001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.name.as_str(), p.id_document.as_str()),
        ("张叁", "110101200301011234")
    );
    let v = person::get_by_no(&db.pool, "V0001").await.unwrap().unwrap();
    assert_eq!(
        v.status, "left",
        "persons not in the file are left as they are"
    );

    // Marking a cardholder left says that their card is still in service.
    sqlx::query(
        "INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT 8165500, id, 'student', current_date, current_date + 365, 'test', 'x', 'x'
         FROM person WHERE person_no = '2021002'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let leaving = "person_no,name,department,category,status\n2021002,李四,CS,student,离校\n";
    let done = run(&db.pool, "leaving.csv", leaving.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((done.updated, done.left_holding_cards), (1, 1));
    assert!(
        done.counts()
            .contains("1 person(s) marked left still hold a card"),
        "{}",
        done.counts()
    );
    assert_eq!(done.left_holding.len(), 1);
    assert_eq!(
        done.left_holding[0].to_string(),
        "2021002 李四 is marked left and still holds card 8165500 (active): return or cancel it"
    );
    assert_eq!(
        done.updated_persons[0].fields,
        vec![FieldChange {
            field: PersonField::Status,
            old: "active".into(),
            new: "left".into()
        }]
    );
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let db = test_db().await;
    computing(&db.pool).await;
    let before = snapshot(&db.pool).await;
    let dry = run(&db.pool, "people.csv", GOOD.as_bytes(), true)
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.new, dry.updated, dry.unchanged), (5, 0, 0));
    assert_eq!(dry.departments_created, vec!["图书馆".to_string()]);
    assert_eq!(dry.audit_id, None);
    assert_eq!(
        dry.new_persons[0],
        NewPerson {
            line: 2,
            person_no: "2021001".into(),
            name: "张三".into(),
            department: "计算机学院".into(),
            new_department: false,
            category: Category::Student,
        }
    );
    assert_eq!(
        dry.new_persons
            .iter()
            .map(|p| (p.line, p.department.as_str(), p.new_department))
            .collect::<Vec<_>>(),
        vec![
            (2, "计算机学院", false),
            (3, "计算机学院", false),
            (4, "计算机学院", false),
            (5, "图书馆", true),
            (6, "图书馆", true)
        ]
    );
    assert_eq!(snapshot(&db.pool).await, before);
}

#[tokio::test]
async fn bad_files_are_refused_whole_and_every_bad_row_is_named() {
    let db = test_db().await;
    computing(&db.pool).await;
    run(&db.pool, "people.csv", GOOD.as_bytes(), false)
        .await
        .unwrap();
    let before = snapshot(&db.pool).await;

    // GBK (what Excel on a Chinese Windows writes): 张三 is D5C5 C8FD.
    let mut gbk = b"person_no,name,department,category\n2021009,".to_vec();
    gbk.extend_from_slice(&[0xd5, 0xc5, 0xc8, 0xfd]);
    gbk.extend_from_slice(b",CS,student\n");
    let rows = bad_rows(run(&db.pool, "gbk.csv", &gbk, false).await.unwrap_err());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, 2);
    assert!(
        rows[0].1.contains("GBK") && rows[0].1.contains("UTF-8"),
        "{}",
        rows[0].1
    );

    // Other bytes that are not UTF-8.
    let rows = bad_rows(
        run(
            &db.pool,
            "latin1.csv",
            b"person_no,name,department,category\n1,M\xfcller,CS,staff\n",
            false,
        )
        .await
        .unwrap_err(),
    );
    assert!(rows[0].1.contains("not UTF-8"), "{rows:?}");

    // A missing column.
    let rows = bad_rows(
        run(
            &db.pool,
            "m.csv",
            "person_no,name,department\n1,张三,CS\n".as_bytes(),
            false,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, 1);
    assert!(
        rows[0].1.contains("missing column(s): category"),
        "{}",
        rows[0].1
    );

    // Every bad row at once: duplicate, bad category, empty fields, bad status, wrong field
    // count; the good rows around them are not written either.
    let bad = "person_no,name,department,category,id_document,status\n\
3000001,赵六,CS,student,,\n\
3000002,钱七,CS,teacher,,\n\
3000001,孙八,CS,student,,\n\
,周九,CS,student,,\n\
3000004,,,student,,\n\
3000005,吴十,CS,,,\n\
3000006,郑十一,CS,staff,,gone\n\
3000007,王十二,CS,staff\n\
3000008,冯十三,CS,staff,,\n";
    let rows = bad_rows(
        run(&db.pool, "bad.csv", bad.as_bytes(), false)
            .await
            .unwrap_err(),
    );
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9], "{rows:?}");
    assert!(rows[0].1.contains("category `teacher`"), "{rows:?}");
    assert!(rows[1].1.contains("also on line 2"), "{rows:?}");
    assert!(rows[2].1.contains("person_no is empty"), "{rows:?}");
    assert!(
        rows[3].1.contains("name is empty") && rows[3].1.contains("department is empty"),
        "{rows:?}"
    );
    assert!(rows[4].1.contains("category is empty"), "{rows:?}");
    assert!(rows[5].1.contains("status `gone`"), "{rows:?}");
    assert!(
        rows[6].1.contains("4 field(s), the header has 6"),
        "{rows:?}"
    );

    // CRLF line ends (as Excel writes them): the lines are still counted right.
    let crlf = "person_no,name,department,category\r\n3000001,赵六,CS,student\r\n3000002,钱七,CS,teacher\r\n";
    let rows = bad_rows(
        run(&db.pool, "crlf.csv", crlf.as_bytes(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![3],
        "{rows:?}"
    );

    // Half a file: cut in the middle of the last line.
    let full = "person_no,name,department,category,id_document,status\n\
4000001,赵六,CS,student,110101200301011234,active\n\
4000002,钱七,CS,student,110101200301015678,active\n";
    let cut = &full[..full.len() - 30];
    let rows = bad_rows(
        run(&db.pool, "cut.csv", cut.as_bytes(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, 3);
    assert!(rows[0].1.contains("cut short"), "{}", rows[0].1);

    // Cut in the middle of a character.
    let bytes = full.as_bytes();
    let at = full.rfind("钱").unwrap() + 1;
    let rows = bad_rows(
        run(&db.pool, "cut2.csv", &bytes[..at], false)
            .await
            .unwrap_err(),
    );
    assert_eq!(rows[0].0, 3);
    assert!(rows[0].1.contains("cut short"), "{}", rows[0].1);

    // Cut inside a quoted field.
    let quoted =
        "person_no,name,department,category\n5000001,\"Zhang, San\",CS,staff\n5000002,\"Li";
    let rows = bad_rows(
        run(&db.pool, "cut3.csv", quoted.as_bytes(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(rows, vec![(3, rows[0].1.clone())]);
    assert!(rows[0].1.contains("never closed"), "{}", rows[0].1);

    // An empty file, and a header alone.
    let rows = bad_rows(run(&db.pool, "empty.csv", b"", false).await.unwrap_err());
    assert_eq!(rows[0].0, 1);
    let rows = bad_rows(
        run(
            &db.pool,
            "header.csv",
            b"person_no,name,department,category\n",
            false,
        )
        .await
        .unwrap_err(),
    );
    assert!(rows[0].1.contains("no rows"), "{rows:?}");

    // Nothing of any of it was written.
    assert_eq!(snapshot(&db.pool).await, before);

    // A department name two departments share must be given by its code.
    for code in ["HQ1", "HQ2"] {
        person::create_department(&db.pool, &shell(), code, "后勤处", None)
            .await
            .unwrap();
    }
    let before = snapshot(&db.pool).await;
    let twice = "person_no,name,department,category\n6000001,甲,后勤处,staff\n6000002,乙,HQ1,staff\n6000003,丙,后勤处,staff\n";
    let rows = bad_rows(
        run(&db.pool, "twice.csv", twice.as_bytes(), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2, 4],
        "{rows:?}"
    );
    assert!(rows[0].1.contains("write the code (HQ1, HQ2)"), "{rows:?}");
    assert_eq!(snapshot(&db.pool).await, before);
}

#[tokio::test]
async fn only_a_person_importer_may_import() {
    let db = test_db().await;
    let desk = Actor::operator(1, "desk", Role::CardDesk);
    let mut progress = |_: Progress| {};
    let e = import(
        &db.pool,
        &desk,
        "p.csv",
        GOOD.as_bytes(),
        true,
        &mut progress,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ImportError::Denied(_)), "{e}");
}

#[tokio::test]
async fn ten_thousand_rows_import_in_one_go_with_progress() {
    let db = test_db().await;
    let mut csv = String::from("工号,姓名,院系,身份\n");
    for i in 0..10_000 {
        let dept = ["计算机学院", "数学学院", "图书馆"][i % 3];
        let cat = if i % 7 == 0 { "staff" } else { "student" };
        csv.push_str(&format!("{:010},学生{i},{dept},{cat}\n", 2_021_000_000 + i));
    }
    let mut seen: Vec<Progress> = Vec::new();
    let mut progress = |p: Progress| seen.push(p);
    let options = Options {
        dry_run: false,
        create_departments: true,
    };
    let done = import_with(
        &db.pool,
        &shell(),
        "big.csv",
        csv.as_bytes(),
        options,
        &mut progress,
    )
    .await
    .unwrap();
    assert_eq!((done.new, done.updated, done.unchanged), (10_000, 0, 0));
    assert_eq!(done.departments_created.len(), 3);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM person")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 10_000);
    assert!(seen.contains(&Progress {
        stage: Stage::Validating,
        done: 10_000,
        total: 10_000
    }));
    assert!(seen.contains(&Progress {
        stage: Stage::Writing,
        done: 10_000,
        total: 10_000
    }));
    assert!(
        seen.iter().filter(|p| p.stage == Stage::Writing).count() >= 3,
        "{seen:?}"
    );
    let audits: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(audits, 1, "one audit row for the whole import");

    // Again, with every tenth person renamed.
    let renamed: String = csv
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > 0 && (i - 1) % 10 == 0 {
                l.replacen("学生", "研究生", 1) + "\n"
            } else {
                l.to_string() + "\n"
            }
        })
        .collect();
    let again = run(&db.pool, "big.csv", renamed.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(
        (again.new, again.updated, again.unchanged),
        (0, 1_000, 9_000)
    );
}

#[tokio::test]
async fn departments_and_persons_are_added_and_edited_with_an_audit_row() {
    let db = test_db().await;
    let shell = shell();
    let cs = person::create_department(&db.pool, &shell, "CS", "计算机学院", None)
        .await
        .unwrap();
    let ai = person::create_department(&db.pool, &shell, "AI", "人工智能系", Some("计算机学院"))
        .await
        .unwrap();
    assert_eq!(ai.parent_id, Some(cs.id));
    assert!(matches!(
        person::create_department(&db.pool, &shell, "CS", "again", None).await,
        Err(person::PersonError::Exists(_))
    ));
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(
        person::find_department(&mut conn, "cs")
            .await
            .unwrap()
            .unwrap()
            .id,
        cs.id
    );
    assert_eq!(
        person::find_department(&mut conn, "人工智能系")
            .await
            .unwrap()
            .unwrap()
            .id,
        ai.id
    );
    assert!(person::find_department(&mut conn, "nowhere")
        .await
        .unwrap()
        .is_none());
    drop(conn);

    let fields = PersonFields {
        person_no: " 2021001 ".into(),
        name: "张三".into(),
        department: "CS".into(),
        category: Category::Student,
        id_document: "110101200301011234".into(),
        status: Status::Active,
    };
    let p = person::add(&db.pool, &shell, &fields).await.unwrap();
    assert_eq!(
        (p.person_no.as_str(), p.department.as_str()),
        ("2021001", "计算机学院")
    );
    assert!(matches!(
        person::add(&db.pool, &shell, &fields).await,
        Err(person::PersonError::Exists(_))
    ));
    let moved = PersonFields {
        department: "AI".into(),
        status: Status::Left,
        ..fields.clone()
    };
    let after = person::update(&db.pool, &shell, p.id, &moved)
        .await
        .unwrap();
    assert_eq!(
        (after.department_code.as_str(), after.status.as_str()),
        ("AI", "left")
    );
    // Saving what is stored writes nothing.
    person::update(&db.pool, &shell, p.id, &moved)
        .await
        .unwrap();
    let audit: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> =
        sqlx::query_as(
            "SELECT action, before, after FROM audit_log WHERE object_kind = 'person' ORDER BY id",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].0, "person.add");
    assert_eq!(audit[1].0, "person.update");
    let (before, after) = (audit[1].1.as_ref().unwrap(), audit[1].2.as_ref().unwrap());
    assert_eq!(
        (before["department"].as_str(), after["department"].as_str()),
        (Some("CS"), Some("AI"))
    );
    assert_eq!(
        after["id_document"], "****1234",
        "the audit log keeps only the last four"
    );

    let bad = PersonFields {
        name: "".into(),
        ..fields.clone()
    };
    assert!(matches!(
        person::add(&db.pool, &shell, &bad).await,
        Err(person::PersonError::Invalid(_))
    ));
    let desk = Actor::operator(1, "desk", Role::CardDesk);
    assert!(matches!(
        person::update(&db.pool, &desk, p.id, &fields).await,
        Err(person::PersonError::Denied(_))
    ));
    let list = person::departments(&db.pool).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|d| (d.code.as_str(), d.persons))
            .collect::<Vec<_>>(),
        vec![("AI", 1), ("CS", 0)]
    );
}

async fn card(pool: &PgPool, card_no: i64, person_no: &str, state: &str) {
    sqlx::query(
        "INSERT INTO card (card_no, person_id, kind, state, valid_from, valid_until, issued_by,
                           query_pin_hash, payment_pin_hash)
         SELECT $1, id, 'student', $3, current_date, current_date + 365, 'test', 'x', 'x'
         FROM person WHERE person_no = $2",
    )
    .bind(card_no)
    .bind(person_no)
    .bind(state)
    .execute(pool)
    .await
    .unwrap();
}

fn nos(rows: &[person::PersonRow]) -> Vec<&str> {
    rows.iter().map(|r| r.person_no.as_str()).collect()
}

#[tokio::test]
async fn search_by_number_name_card_and_department() {
    let db = test_db().await;
    computing(&db.pool).await;
    run(&db.pool, "people.csv", GOOD.as_bytes(), false)
        .await
        .unwrap();
    card(&db.pool, 8_165_501, "2021001", "replaced").await;
    card(&db.pool, 8_165_502, "2021001", "active").await;
    card(&db.pool, 2_021_003, "T0001", "lost").await;
    let pool = &db.pool;
    let find = |q: PersonQuery| async move { person::search(pool, &q, 50).await.unwrap() };

    // Digits: a person number prefix, or a card number (even one no longer in service).
    assert_eq!(
        nos(&find(PersonQuery::text("2021")).await),
        vec!["2021001", "2021002"]
    );
    assert_eq!(
        nos(&find(PersonQuery::text("2021002")).await),
        vec!["2021002"]
    );
    let hit = find(PersonQuery::text("8165502")).await;
    assert_eq!(nos(&hit), vec!["2021001"]);
    assert_eq!(
        (hit[0].card_no, hit[0].card_state.as_deref()),
        (Some(8_165_502), Some("active"))
    );
    assert_eq!(
        nos(&find(PersonQuery::text("8165501")).await),
        vec!["2021001"]
    );
    // A card number that is also a person number prefix: the card's holder first.
    assert_eq!(
        nos(&find(PersonQuery::text("2021003")).await),
        vec!["T0001"],
        "card 2021003 belongs to T0001; no person number starts with 2021003"
    );
    let t = &find(PersonQuery::text("T0001")).await[0];
    assert_eq!(
        (t.card_no, t.card_state.as_deref()),
        (Some(2_021_003), Some("lost"))
    );
    assert_eq!(
        nos(&find(PersonQuery::text("202")).await),
        vec!["2021001", "2021002"]
    );

    // Names: any substring, Chinese or Latin, any case.
    assert_eq!(nos(&find(PersonQuery::text("三")).await), vec!["2021001"]);
    assert_eq!(nos(&find(PersonQuery::text("娜娜")).await), vec!["T0002"]);
    assert_eq!(nos(&find(PersonQuery::text("zhang")).await), vec!["T0001"]);
    assert_eq!(nos(&find(PersonQuery::text("MÜLLER")).await), vec!["V0001"]);
    // Departments: by name substring or code.
    assert_eq!(
        nos(&find(PersonQuery::text("图书")).await),
        vec!["T0002", "V0001"]
    );
    assert_eq!(
        nos(&find(PersonQuery::text("cs")).await),
        vec!["2021001", "2021002", "T0001"]
    );
    // Several words: each must match.
    assert_eq!(
        nos(&find(PersonQuery::text("计算机 李")).await),
        vec!["2021002"]
    );
    assert!(find(PersonQuery::text("不存在")).await.is_empty());
    // LIKE's wildcards are plain characters here.
    assert!(find(PersonQuery::text("T_")).await.is_empty());
    assert!(find(PersonQuery::text("%")).await.is_empty());
    // An empty query lists everyone (up to the limit).
    assert_eq!(find(PersonQuery::text("  ")).await.len(), 5);
    assert_eq!(
        person::search(pool, &PersonQuery::default(), 2)
            .await
            .unwrap()
            .len(),
        2
    );

    // The structured filter.
    let q = PersonQuery {
        department: Some("图书馆".into()),
        status: Some(Status::Active),
        ..PersonQuery::default()
    };
    assert_eq!(nos(&find(q).await), vec!["T0002"]);
    let q = PersonQuery {
        card_no: Some(8_165_501),
        ..PersonQuery::default()
    };
    assert_eq!(nos(&find(q).await), vec!["2021001"]);
    let q = PersonQuery {
        person_no: Some("T".into()),
        category: Some(Category::Staff),
        ..PersonQuery::default()
    };
    assert_eq!(nos(&find(q).await), vec!["T0001", "T0002"]);
    let q = PersonQuery {
        name: Some("wei".into()),
        department: Some("cs".into()),
        ..PersonQuery::default()
    };
    assert_eq!(nos(&find(q).await), vec!["T0001"]);
    let row = &find(PersonQuery::text("V0001")).await[0];
    assert_eq!(
        (
            row.name.as_str(),
            row.department.as_str(),
            row.category.as_str(),
            row.status.as_str(),
            row.card_no
        ),
        ("Anna Müller", "图书馆", "other", "left", None)
    );
}

/// The console runs these on its runtime's worker threads.
#[tokio::test]
async fn the_import_and_the_search_can_be_spawned() {
    fn send<T: Send>(_: T) {}
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://x@localhost/x")
        .unwrap();
    let actor = shell();
    let mut progress = |_: Progress| {};
    send(import(&pool, &actor, "p.csv", b"", true, &mut progress));
    send(import_with(
        &pool,
        &actor,
        "p.csv",
        b"",
        Options::default(),
        &mut progress,
    ));
    send(person::search(&pool, &PersonQuery::text("x"), 10));
}

#[tokio::test]
async fn the_cli_says_what_it_did() {
    let db = test_db().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, GOOD).unwrap();
    let cli = |dry_run: bool, create_departments: bool| {
        let (pool, file) = (db.pool.clone(), file.clone());
        async move {
            let mut out = Vec::new();
            let options = Options {
                dry_run,
                create_departments,
            };
            onecard::import::persons::cli(&pool, &shell(), &file, options, false, &mut out)
                .await
                .map(|()| String::from_utf8(out).unwrap())
        }
    };
    // Without --create-departments the unknown ones are bad rows.
    let e = cli(true, false).await.unwrap_err().to_string();
    assert!(
        e.contains("line 2: no department `CS`") && e.contains("--create-departments"),
        "{e}"
    );
    let text = cli(true, true).await.unwrap();
    assert!(text.contains("dry run") && text.contains("5 new"), "{text}");
    assert!(
        text.contains("new (5):\n  line 2: 2021001 张三, CS (new department), student\n"),
        "{text}"
    );
    assert!(
        text.contains("departments to create (3):\n  CS\n  图书馆\n  计算机学院\n"),
        "{text}"
    );
    let text = cli(false, true).await.unwrap();
    assert!(text.contains("5 new, 0 updated, 0 left alone"), "{text}");
    // Both CS and 计算机学院 are unknown here: two departments (the dry run lists them).
    assert!(
        text.contains("3 new department(s): CS, 图书馆, 计算机学院"),
        "{text}"
    );
    // A change, field by field.
    std::fs::write(
        &file,
        "person_no,name,department,category,id_document\n2021001,张叁,图书馆,staff,110101200301019999\n",
    )
    .unwrap();
    let text = cli(true, false).await.unwrap();
    assert!(
        text.contains(
            "updated (1):\n  line 2: 2021001 张叁: name 张三 → 张叁; department CS → 图书馆; \
             category student → staff; id_document ****1234 → ****9999\n"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_department_is_a_bad_row_with_the_closest_name() {
    let db = test_db().await;
    computing(&db.pool).await;
    person::create_department(&db.pool, &shell(), "LIB", "图书馆", None)
        .await
        .unwrap();
    person::create_department(&db.pool, &shell(), "IO", "International Office", None)
        .await
        .unwrap();
    let before = snapshot(&db.pool).await;
    let typo = "person_no,name,department,category\n\
2021001,张三,计算机学员,student\n\
2021002,李四,计算机学院,student\n\
2021003,王五,计算机学员,student\n\
T0001,Emma Berg,International Ofice,staff\n\
T0002,陈六,后勤处,staff\n\
T0003,刘七,计算机,staff\n\
T0004,周八,cs,staff\n";
    for dry_run in [true, false] {
        let rows = bad_rows(
            strict(&db.pool, "typo.csv", typo.as_bytes(), dry_run)
                .await
                .unwrap_err(),
        );
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2, 4, 5, 6, 7],
            "every row naming an unknown department, and only those: {rows:?}"
        );
        assert!(
            rows[0]
                .1
                .starts_with("no department `计算机学员` (did you mean `计算机学院`, code CS?)"),
            "{rows:?}"
        );
        assert_eq!(rows[0].1, rows[1].1);
        assert!(
            rows[2]
                .1
                .contains("`International Ofice` (did you mean `International Office`, code IO?)"),
            "{rows:?}"
        );
        assert!(
            rows[3].1.starts_with("no department `后勤处`: "),
            "nothing close: no guess: {rows:?}"
        );
        assert!(
            rows[4].1.contains("(did you mean `计算机学院`, code CS?)"),
            "a part of a name: {rows:?}"
        );
    }
    assert_eq!(snapshot(&db.pool).await, before, "nothing written");

    // Told to create departments, the import creates them: the dry run says which.
    let dry = run(&db.pool, "typo.csv", typo.as_bytes(), true)
        .await
        .unwrap();
    assert_eq!(
        dry.departments_created,
        vec![
            "International Ofice".to_string(),
            "后勤处".into(),
            "计算机".into(),
            "计算机学员".into()
        ]
    );
    assert_eq!(snapshot(&db.pool).await, before);
    // A file without the typo imports under the default.
    let fixed = typo
        .replace("计算机学员", "计算机学院")
        .replace("International Ofice", "IO")
        .replace("后勤处", "LIB")
        .replace("计算机,", "CS,");
    let done = strict(&db.pool, "fixed.csv", fixed.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((done.new, done.departments_created.len()), (7, 0));
}

#[tokio::test]
async fn search_by_id_document_whole_or_its_last_six() {
    let db = test_db().await;
    computing(&db.pool).await;
    run(&db.pool, "people.csv", GOOD.as_bytes(), false)
        .await
        .unwrap();
    let more = "person_no,name,department,category,id_document\n\
2021010,赵六,CS,student,11010120030101123X\n\
2021011,钱七,CS,student,320102199905061234\n";
    run(&db.pool, "more.csv", more.as_bytes(), false)
        .await
        .unwrap();
    let pool = &db.pool;
    let find = |q: &'static str| async move {
        nos(&person::search(pool, &PersonQuery::text(q), 50)
            .await
            .unwrap())
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    // The whole number.
    assert_eq!(find("110101200301011234").await, vec!["2021001"]);
    assert_eq!(find("E12345678").await, vec!["T0001"]);
    // Latin letters in any case (a check digit X, a passport).
    assert_eq!(find("11010120030101123x").await, vec!["2021010"]);
    assert_eq!(find("p998877").await, vec!["V0001"]);
    // Its last six characters or more.
    assert_eq!(find("011234").await, vec!["2021001"]);
    assert_eq!(find("01123X").await, vec!["2021010"]);
    assert_eq!(find("5061234").await, vec!["2021011"]);
    // Fewer than six: too ambiguous (and the ID documents are not shown).
    assert!(find("1234").await.is_empty());
    // With another word.
    assert_eq!(find("011234 张").await, vec!["2021001"]);
    assert!(find("011234 李").await.is_empty());
    // A middle part is not a match.
    assert!(find("20030101").await.is_empty());
    // An exact ID document comes before the person numbers starting with the same digits.
    let twin = "person_no,name,department,category\n110101200301011234-2,孙九,CS,staff\n";
    run(&db.pool, "twin.csv", twin.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!(
        find("110101200301011234").await,
        vec!["2021001", "110101200301011234-2"]
    );
}
