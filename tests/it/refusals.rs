//! Every refusal and failure the console can show, and every command outcome, rendered through
//! `app::words` in both languages: none shows a catalogue key or an unfilled `{placeholder}`,
//! and no English reaches the Chinese screen. The variants are read from the source, so a new
//! one that is not listed here fails the test.

use chrono::NaiveDate;
use onecard::app::failure::{AttendanceWhy, DbTrouble, Failure, FileTrouble, PatrolWhy};
use onecard::app::words;
use onecard::db::card::{BatchRefusal, BatchWhy};
use onecard::db::command::{CommandFailure, CommandOutcome, DoorMode, Feature, Refusal};
use onecard::db::door::{Field as DoorField, Problem as DoorProblem};
use onecard::db::machine_sync::DifferenceKind;
use onecard::db::person::FieldProblem;
use onecard::domain::card::{CardState, Refusal as CardRefusal, Subsystem};
use onecard::domain::money::Money;
use onecard::domain::password::PolicyError;
use onecard::domain::permission::{Action, Denied};
use onecard::domain::role::Role;
use onecard::i18n::{has_key, Lang};
use onecard::import::punches::{BadPunchLine, PunchImportError, PunchProblem};
use onecard::import::{Column, RowError, RowProblem};
use onecard::keymap::{KeymapError, Problem};
use std::collections::BTreeSet;
use std::path::Path;

/// Runs of four or more Latin letters a Chinese text may hold: the product's own name, and the
/// brands of the controllers it drives, which the centre's staff know by them.
const LATIN_ALLOWED: [&str; 3] = ["onecard", "UHPPOTE", "ZKTeco"];

/// What a keymap file is written in (TOML): its sections, fields, preset names and key names are typed
/// as they are, in any language, so a keymap error names them as they are.
const KEYMAP_SYNTAX: [&str; 14] = [
    "TOML",
    "global",
    "cards",
    "doors",
    "patrol",
    "attendance",
    "settlement",
    "terminals",
    "operators",
    "desc",
    "default",
    "ctrl",
    "noop",
    "vim",
];

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// One of every card refusal.
fn card_refusals() -> Vec<CardRefusal> {
    vec![
        CardRefusal::AlreadyLost { card_no: 8165537 },
        CardRefusal::NotLost { card_no: 8165537 },
        CardRefusal::Final {
            card_no: 8165537,
            state: CardState::Cancelled,
            done: "rewritten",
        },
        CardRefusal::LostCard { card_no: 8165537 },
        CardRefusal::TooSoon {
            card_no: 8165537,
            hours: 3,
        },
        CardRefusal::OverrideWithoutReason,
        CardRefusal::OverrideNotDirector,
        CardRefusal::TemporarySubsystem {
            subsystem: Subsystem::Door,
        },
        CardRefusal::TemporaryTooLong {
            latest: date("2027-11-22"),
        },
        CardRefusal::NotLater {
            until: date("2026-06-30"),
            current: date("2027-06-30"),
        },
        CardRefusal::EndsBeforeStart {
            from: date("2026-09-01"),
            until: date("2026-08-31"),
        },
    ]
}

/// One of every failure (several where the words differ by a value's kind).
/// Every way a person's field is refused.
fn field_problems() -> Vec<FieldProblem> {
    vec![
        FieldProblem::PersonNoEmpty,
        FieldProblem::PersonNoTooLong {
            text: "二〇二一〇〇一二〇二一〇〇一二〇二一〇〇一二〇二一〇〇一二〇二一〇〇一".into(),
            max: 32,
        },
        FieldProblem::PersonNoSpace {
            text: "2021 001".into(),
        },
        FieldProblem::NameEmpty,
        FieldProblem::NameTooLong {
            text: "张三".repeat(40),
            max: 64,
        },
        FieldProblem::NameControl {
            text: "张\t三".into(),
        },
        FieldProblem::IdDocumentTooLong { max: 40 },
        FieldProblem::IdDocumentControl,
    ]
}

/// Every reason an import refuses a row, the header or the file.
fn import_problems() -> Vec<RowProblem> {
    let mut out = vec![
        RowProblem::CutMidCharacter,
        RowProblem::Gbk,
        RowProblem::NotUtf8 { byte: 1234 },
        RowProblem::HeaderUnreadable {
            detail: "CSV error: record 1 (line: 1, byte: 0): invalid UTF-8".into(),
        },
        RowProblem::Unreadable {
            detail: "CSV error: record 3 (line: 4, byte: 80): found record with 4 fields".into(),
        },
        RowProblem::HeaderEmpty,
        RowProblem::DuplicateColumn {
            column: Column::Name,
            first: 2,
            second: 5,
            first_text: "姓名".into(),
            second_text: "名字".into(),
        },
        RowProblem::MissingColumns(vec![Column::Department, Column::Category]),
        RowProblem::NoRows,
        RowProblem::UnclosedQuote,
        RowProblem::FieldCount {
            fields: 4,
            header: 6,
            cut_short: false,
        },
        RowProblem::FieldCount {
            fields: 3,
            header: 6,
            cut_short: true,
        },
        RowProblem::DepartmentEmpty,
        RowProblem::DepartmentInvalid {
            text: "计算机学院".repeat(13),
        },
        RowProblem::CategoryEmpty,
        RowProblem::CategoryUnknown {
            text: "博士后".into(),
        },
        RowProblem::StatusUnknown {
            text: "休学".into(),
        },
        RowProblem::DuplicatePersonNo {
            person_no: "2021001".into(),
            line: 2,
        },
        RowProblem::UnknownDepartment {
            text: "图书舘".into(),
            closest: None,
        },
        RowProblem::UnknownDepartment {
            text: "计算机学员".into(),
            closest: Some(("计算机学院".into(), None)),
        },
        RowProblem::UnknownDepartment {
            text: "计算机学员".into(),
            closest: Some(("计算机学院".into(), Some("D01".into()))),
        },
        RowProblem::AmbiguousDepartment {
            text: "办公室".into(),
            codes: vec!["D07".into(), "D12".into()],
        },
        RowProblem::NoCardOrPersonColumn,
        RowProblem::CardAndPerson,
        RowProblem::NoCardNorPerson,
        RowProblem::NotACardNo {
            text: "八一六五".into(),
        },
        RowProblem::NoCard { card_no: 8165537 },
        RowProblem::NoPerson {
            person_no: "2021001".into(),
        },
        RowProblem::NoCardInService {
            person_no: "2021001".into(),
        },
        RowProblem::SameCard { line: 3 },
        RowProblem::CardRefused(BatchRefusal {
            card_id: 7,
            card_no: Some(8165537),
            why: BatchWhy::PersonLeft,
        }),
        RowProblem::CardRefused(BatchRefusal {
            card_id: 7,
            card_no: None,
            why: BatchWhy::NoSuchCard,
        }),
        RowProblem::BadAmount {
            text: "12.345".into(),
        },
        RowProblem::NoSubsidyColumns,
    ];
    out.extend(field_problems().into_iter().map(RowProblem::Field));
    out
}

fn failures() -> Vec<Failure> {
    let denied = Denied {
        role: Role::DutyOperator,
        action: Action::AlarmAcknowledge,
    };
    let mut v = vec![
        Failure::SignedOut,
        Failure::Denied(denied),
        Failure::Db(DbTrouble::Unreachable),
        Failure::Db(DbTrouble::Exists),
        Failure::Db(DbTrouble::Refused {
            code: "23514".into(),
        }),
        Failure::Db(DbTrouble::Other),
        Failure::WrongCredentials,
        Failure::Locked {
            until: "14:05".into(),
        },
        Failure::Disabled,
        Failure::SessionEnded { disabled: false },
        Failure::SessionEnded { disabled: true },
        Failure::Policy(PolicyError::TooShort),
        Failure::Policy(PolicyError::ContainsLogin),
        Failure::Policy(PolicyError::Mismatch),
        Failure::LoginTaken("王芳".into()),
        Failure::BadLogin,
        Failure::NoOperator("王芳".into()),
        Failure::NotFirstRun,
        Failure::SelfDisable,
        Failure::NoCard,
        Failure::CardNumberTaken {
            card_no: 8165537,
            holder: "王芳".into(),
        },
        Failure::PersonHasCard {
            person_no: "T10003".into(),
            person_name: "王芳".into(),
            card_no: 8165537,
            state: CardState::Lost,
        },
        Failure::PersonLeft,
        Failure::WrongPin,
        Failure::InsufficientBalance {
            balance: Money::from_fen(1250),
            needed: Money::from_fen(2000),
        },
        Failure::BadAmount(Money::from_yuan(-5)),
        Failure::BatchRefused(vec![
            ("8165537".into(), Failure::NoCard),
            (
                "#12".into(),
                Failure::Refusal(CardRefusal::AlreadyLost { card_no: 12 }),
            ),
        ]),
        Failure::StockBadQuantity,
        Failure::StockNotOnHand {
            on_hand: 3,
            quantity: 5,
        },
        Failure::AlarmGone(12),
        Failure::AlarmState {
            id: 12,
            state: "cleared".into(),
        },
        Failure::NoteMissing,
        Failure::ReasonMissing,
        Failure::DrawerShort {
            holds: Money::from_yuan(20),
            needed: Money::from_yuan(50),
        },
        Failure::OverReversal {
            original: Money::from_fen(1250),
            asked: Money::from_yuan(13),
        },
        Failure::AlreadyReversed {
            purchase: 41,
            by: 57,
        },
        Failure::NoPurchase("#41".into()),
        Failure::NoDesk("二楼窗口".into()),
        Failure::ShiftDifference {
            difference: Money::from_fen(-1050),
        },
        Failure::TerminalNameEmpty,
        Failure::TerminalBadDate("2026-13-01".into()),
        Failure::TerminalGone(7),
        Failure::NoLine(3),
        // Every reason an import gives, each on a row of its own (the words show the first
        // three rows; `every_import_problem_is_worded_in_both_languages` says each).
        Failure::ImportRows {
            path: "/srv/hr/2026-11.csv".into(),
            rows: import_problems()
                .into_iter()
                .enumerate()
                .map(|(i, p)| RowError::new(i as u64 + 2, p))
                .collect(),
        },
        // Several problems on one row.
        Failure::ImportRows {
            path: "/srv/hr/2026-11.csv".into(),
            rows: vec![RowError {
                line: 7,
                problems: vec![RowProblem::DepartmentEmpty, RowProblem::CategoryEmpty],
            }],
        },
        Failure::AuditBroken {
            id: 40,
            edited: true,
        },
        Failure::AuditBroken {
            id: 41,
            edited: false,
        },
        Failure::DoorGone {
            terminal_id: 7,
            door: 2,
        },
        Failure::PurgeInsideRetention {
            retention_days: 90,
            latest: "2026-09-01 00:00".into(),
        },
        Failure::DoorUnknown("东门侧门".into()),
        Failure::DoorAmbiguous {
            text: "东门".into(),
            candidates: vec!["405419896/1".into(), "405419897/1".into()],
        },
        Failure::BadPeriod("2026-13".into()),
        Failure::PeriodNotEnded {
            period: "2026-12".into(),
            ends: chrono::DateTime::from_timestamp(1_798_732_800, 0).unwrap(),
        },
        Failure::PeriodOverlaps {
            merchant: "第一食堂".into(),
            period: "2026-W48".into(),
            settled: "2026-11".into(),
        },
        Failure::PeriodSettled {
            period: "2026-11".into(),
            merchants: 2,
        },
        Failure::MerchantNameEmpty,
        Failure::MerchantNameTaken("第一食堂".into()),
        Failure::MerchantBadRate("1.5".into()),
        Failure::MerchantNotFound("第二食堂".into()),
        Failure::MerchantState {
            name: "第一食堂".into(),
            state: "suspended".into(),
            wanted: "approved".into(),
        },
        Failure::MerchantNoSuchPos("一食堂 POS 9".into()),
        Failure::MerchantPosOwned {
            terminal: "一食堂 POS 1".into(),
            owner: "第二食堂".into(),
        },
    ];
    for field in door_fields() {
        for problem in door_problems() {
            v.push(Failure::DoorInvalid {
                field,
                value: "东门".into(),
                problem,
            });
        }
    }
    for kind in [
        std::io::ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied,
        std::io::ErrorKind::AlreadyExists,
        std::io::ErrorKind::IsADirectory,
        std::io::ErrorKind::InvalidData,
        std::io::ErrorKind::StorageFull,
        std::io::ErrorKind::Other,
    ] {
        let path = "/srv/导出/2026.csv".to_string();
        v.push(Failure::File(FileTrouble::Read {
            path: path.clone(),
            kind,
        }));
        v.push(Failure::File(FileTrouble::Write { path, kind }));
    }
    v.push(Failure::File(FileTrouble::Exists {
        path: "/srv/导出/2026.csv".into(),
    }));
    v.extend(card_refusals().into_iter().map(Failure::Refusal));
    v.extend(patrol_whys().into_iter().map(Failure::Patrol));
    // Every attendance refusal is worded by its own test; one stands for the variant here.
    v.push(Failure::Attendance(AttendanceWhy::NoReason));
    v.push(Failure::PunchFile {
        path: "/媒体/优盘/考勤.dat".into(),
        line: 7,
        problem: PunchProblem::NoTime,
    });
    // Every catalogue key a refusal with nothing to fill in is raised with.
    for key in invalid_keys() {
        v.push(Failure::Invalid(Box::leak(key.into_boxed_str())));
    }
    v
}

fn door_fields() -> Vec<DoorField> {
    vec![
        DoorField::Name,
        DoorField::Location,
        DoorField::UnlockSecs,
        DoorField::RetentionDays,
        DoorField::Department,
    ]
}

fn door_problems() -> Vec<DoorProblem> {
    vec![
        DoorProblem::TooLong { max: 40 },
        DoorProblem::OutOfRange { min: 1, max: 60 },
        DoorProblem::Unknown,
        DoorProblem::Ambiguous {
            candidates: vec!["计算机".into(), "图书馆".into()],
        },
    ]
}

fn outcomes() -> Vec<CommandOutcome> {
    vec![
        CommandOutcome::DoorOpened { door: 2 },
        CommandOutcome::ClockSet {
            to: date("2026-11-22").and_hms_opt(8, 0, 0).unwrap(),
        },
        CommandOutcome::Online {
            firmware: "V6.62".into(),
            model: None,
            serial: Some("405419896".into()),
            address: None,
            records_held: Some(120),
            rtt_ms: 12,
        },
        CommandOutcome::DoorModeSet {
            door: 1,
            mode: DoorMode::NormallyOpen,
            unlock_secs: 5,
        },
        CommandOutcome::CardsWritten { written: 3, of: 4 },
        CommandOutcome::CardsRemoved {
            removed: 2,
            absent: 1,
        },
        CommandOutcome::BlacklistInstalled { cards: 40 },
        CommandOutcome::Extracted {
            records: 2321,
            millis: 1500,
        },
        CommandOutcome::RecordsCleared { stored: 12 },
        CommandOutcome::RecordsMarkedCollected {
            stored: 12,
            up_to: 9000,
        },
        CommandOutcome::CardsDownloaded {
            written: 1,
            unchanged: 2,
            removed: 3,
        },
        CommandOutcome::Superseded { by: 44 },
        CommandOutcome::DailyTotalsRead {
            date: date("2026-11-10"),
            count: 1234,
            sum: "10234.50".parse().unwrap(),
        },
        CommandOutcome::UsersRead { users: 312 },
    ]
}

fn terminal_refusals() -> Vec<Refusal> {
    vec![
        Refusal::OpenDoor { door: 2 },
        Refusal::DoorMode {
            door: 2,
            mode: Some(DoorMode::NormallyClosed),
            unlock_secs: 5,
        },
        Refusal::DoorMode {
            door: 2,
            mode: None,
            unlock_secs: 5,
        },
        Refusal::Card {
            card: 8165537,
            written: 3,
            of: 4,
        },
        Refusal::Clock,
        Refusal::EventIndex { index: 9000 },
        Refusal::UsersFull,
    ]
}

fn command_failures() -> Vec<CommandFailure> {
    let mut v = vec![
        CommandFailure::NoAnswer,
        CommandFailure::Garbled,
        // A device's own words are shown as it said them: a code here.
        CommandFailure::Device {
            text: "0x05".into(),
        },
        CommandFailure::NotOnLine,
        CommandFailure::Deadline { secs: 30 },
        CommandFailure::RecordsNotStored { waiting: 12 },
        CommandFailure::LogChanged {
            read: 100_000,
            held: 12,
        },
        CommandFailure::NewestNotStored {
            user_id: "1001".into(),
            at: "2026-12-07T08:30:05".parse().unwrap(),
        },
        CommandFailure::BadAddress { address: 0 },
        CommandFailure::Database,
        CommandFailure::Interrupted,
        CommandFailure::NoSuchDoor {
            door: 9,
            doors: vec![1, 2, 3, 4],
        },
    ];
    v.extend(
        terminal_refusals()
            .into_iter()
            .map(|what| CommandFailure::Refused { what }),
    );
    v.extend(
        [
            Feature::Door,
            Feature::DoorModes,
            Feature::CardList,
            Feature::Blacklist,
            Feature::CardRemoval,
            Feature::Download,
            Feature::Records,
            Feature::DailyTotals,
            Feature::UserList,
        ]
        .into_iter()
        .map(|what| CommandFailure::Unsupported { what }),
    );
    v
}

fn problems() -> Vec<Problem> {
    vec![
        Problem::UnknownPreset("ab".into()),
        Problem::CannotRead,
        Problem::NotUtf8,
        Problem::Syntax,
        Problem::NotATable("ab".into()),
        Problem::UnknownSection("xyz".into()),
        Problem::BadKey,
        Problem::UnknownCommand("x.y".into()),
        Problem::UnknownField("rn".into()),
        Problem::RunNotString,
        Problem::MissingRun,
        Problem::DescNotString,
        Problem::BadValue,
        Problem::AlreadyBound { line: 4 },
        Problem::PrefixConflict {
            other: "g g".into(),
            line: 5,
        },
    ]
}

// ---- Reading the source ---------------------------------------------------------------------------

fn source(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The variant names of `enum name` in the file at `path`.
fn variants(path: &str, name: &str) -> BTreeSet<String> {
    let text = source(path);
    let start = text
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("no enum {name} in {path}"));
    let mut out = BTreeSet::new();
    for line in text[start..].lines().skip(1) {
        if line.starts_with('}') {
            break;
        }
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        if rest.starts_with(char::is_uppercase) {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(ident);
        }
    }
    assert!(!out.is_empty(), "{name} has no variants?");
    out
}

/// The variant names `values` show (their `Debug` starts with it).
fn shown<T: std::fmt::Debug>(values: &[T]) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| {
            format!("{v:?}")
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The keys `Failure::Invalid` is raised with anywhere in the source.
fn invalid_keys() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("Failure::Invalid(\"").skip(1) {
                    if let Some(key) = part.split('"').next() {
                        out.push(key.to_string());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out.dedup();
    assert!(!out.is_empty());
    out
}

// ---- What the words may not hold ------------------------------------------------------------------

/// What is wrong with `text` shown in `lang`, if anything.
fn fault(lang: Lang, text: &str) -> Option<String> {
    fault_but(lang, text, &[])
}

/// The same, with `also` allowed in Chinese besides [`LATIN_ALLOWED`].
fn fault_but(lang: Lang, text: &str, also: &[&str]) -> Option<String> {
    if text.trim().is_empty() {
        return Some("empty".into());
    }
    // `{name}`: a catalogue placeholder nobody filled.
    for part in text.split('{').skip(1) {
        if let Some((inner, _)) = part.split_once('}') {
            if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Some(format!("the placeholder {{{inner}}}"));
            }
        }
    }
    for token in text.split(|c: char| c.is_whitespace() || "“”\"'()（）:：,，;；".contains(c))
    {
        let token = token.trim_end_matches(['.', '。']);
        if token.contains('.') && has_key(token) {
            return Some(format!("the catalogue key {token}"));
        }
    }
    if lang == Lang::ZH_CN {
        let mut run = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphabetic() {
                run.push(c);
                continue;
            }
            if run.len() >= 4
                && !LATIN_ALLOWED.contains(&run.as_str())
                && !also.contains(&run.as_str())
            {
                return Some(format!("English “{run}”"));
            }
            run.clear();
        }
    }
    None
}

fn check(texts: impl IntoIterator<Item = (String, Lang, String)>, also: &[&str]) {
    let bad: Vec<String> = texts
        .into_iter()
        .filter_map(|(what, lang, text)| {
            fault_but(lang, &text, also).map(|f| format!("{} {what}: {f}: {text}", lang.code()))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

const BOTH: [Lang; 2] = [Lang::EN, Lang::ZH_CN];

/// One of every patrol refusal.
fn patrol_whys() -> Vec<PatrolWhy> {
    use PatrolWhy as W;
    vec![
        W::NoName,
        W::BadTag(0),
        W::BadCard(-1),
        W::NameTaken {
            what: "route",
            name: "北区夜巡".into(),
        },
        W::NameTaken {
            what: "guard group",
            name: "校园总图".into(),
        },
        W::CardTaken {
            card: 8165537,
            name: "张伟".into(),
        },
        W::NoCheckpoint(101),
        W::NoRoute("北区夜巡".into()),
        W::NoGuard("张伟".into()),
        W::NoGroup("夜班组".into()),
        W::NoMap("校园总图".into()),
        W::NoSchedule(7),
        W::EmptyRoute,
        W::OffsetsOutOfOrder { tag: 102 },
        W::CheckpointInUse {
            tag: 101,
            route: "北区夜巡".into(),
        },
        W::GroupInUse {
            name: "夜班组".into(),
            schedules: 2,
        },
        W::BadEvery,
        W::NoDays,
        W::BadValidity,
        W::BadSeconds,
        W::BadPlan,
        W::BadImage,
        W::OffMap,
        W::NoException(9),
        W::AlreadyClosed,
        W::NoComment,
        W::BadRange,
    ]
}

#[test]
fn every_refusal_lists_every_variant() {
    let pairs: [(&str, &str, BTreeSet<String>); 14] = [
        (
            "src/import/punches.rs",
            "PunchProblem",
            shown(&punch_problems()),
        ),
        (
            "src/import/punches.rs",
            "PunchImportError",
            shown(&punch_import_errors()),
        ),
        ("src/app/failure.rs", "PatrolWhy", shown(&patrol_whys())),
        ("src/import.rs", "RowProblem", shown(&import_problems())),
        ("src/db/person.rs", "FieldProblem", shown(&field_problems())),
        ("src/db/door.rs", "Field", shown(&door_fields())),
        ("src/db/door.rs", "Problem", shown(&door_problems())),
        ("src/app/failure.rs", "Failure", shown(&failures())),
        ("src/app/failure.rs", "DbTrouble", {
            let all = failures();
            let db: Vec<_> = all
                .iter()
                .filter_map(|f| match f {
                    Failure::Db(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            shown(&db)
        }),
        ("src/domain/card.rs", "Refusal", shown(&card_refusals())),
        ("src/db/command.rs", "CommandOutcome", shown(&outcomes())),
        (
            "src/db/command.rs",
            "CommandFailure",
            shown(&command_failures()),
        ),
        ("src/db/command.rs", "Refusal", shown(&terminal_refusals())),
        ("src/keymap.rs", "Problem", shown(&problems())),
    ];
    for (path, name, listed) in pairs {
        let all = variants(path, name);
        let missing: Vec<_> = all.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "{name} ({path}): list one of {missing:?} in tests/it/refusals.rs"
        );
    }
}

#[test]
fn every_refusal_and_outcome_is_worded_in_both_languages() {
    let mut texts = Vec::new();
    for lang in BOTH {
        for f in failures() {
            texts.push((format!("{f:?}"), lang, words::failure(lang, &f)));
        }
        for o in outcomes() {
            texts.push((format!("{o:?}"), lang, words::command_outcome(lang, &o)));
        }
        for f in command_failures() {
            texts.push((format!("{f:?}"), lang, words::command_failure(lang, &f)));
        }
        for role in Role::ALL {
            for action in Action::ALL {
                let d = Denied { role, action };
                texts.push((format!("{d:?}"), lang, words::denied(lang, &d)));
            }
        }
    }
    check(texts, &[]);
}

#[test]
fn every_import_problem_is_worded_in_both_languages() {
    let mut texts = Vec::new();
    for lang in BOTH {
        for p in import_problems() {
            texts.push((format!("{p:?}"), lang, words::row_problem(lang, &p)));
        }
    }
    check(texts, &[]);
    // The command line keeps its English, the console's English says the same.
    let dup = RowProblem::DuplicatePersonNo {
        person_no: "2021001".into(),
        line: 2,
    };
    assert_eq!(
        dup.to_string(),
        "person_no 2021001 is also on line 2 of the file"
    );
    assert_eq!(
        words::row_problem(Lang::ZH_CN, &dup),
        "第 2 行也有学号 2021001"
    );
    let row = RowError {
        line: 7,
        problems: vec![RowProblem::DepartmentEmpty, RowProblem::CategoryEmpty],
    };
    assert_eq!(
        row.to_string(),
        "line 7: department is empty; category is empty (staff, student or other)"
    );
    assert_eq!(
        words::import_row(Lang::ZH_CN, &row),
        "第 7 行：部门为空；类别为空（应为教职工、学生或其他）"
    );
}

/// One of every reason a punch line or file is refused.
fn punch_problems() -> Vec<PunchProblem> {
    vec![
        PunchProblem::Row(RowProblem::CutMidCharacter),
        PunchProblem::NoPunchColumns,
        PunchProblem::NotAPunch { fields: 1 },
        PunchProblem::NoUserId,
        PunchProblem::UserIdInvalid {
            text: "张 伟".into(),
        },
        PunchProblem::NoTime,
        PunchProblem::BadTime {
            text: "昨天".into(),
        },
        PunchProblem::BadVerify {
            text: "指纹".into(),
        },
        PunchProblem::BadState {
            text: "迟到".into(),
        },
        PunchProblem::Incomplete {
            fields: 3,
            expected: 6,
        },
    ]
}

fn punch_import_errors() -> Vec<PunchImportError> {
    vec![
        PunchImportError::UnknownMachine {
            name: "分校考勤机".into(),
        },
        PunchImportError::NotAnAttendanceMachine {
            name: "图书馆东门".into(),
            kind: "door_controller".into(),
        },
        PunchImportError::AmbiguousMachine {
            name: "分校考勤机".into(),
            n: 2,
        },
        PunchImportError::Read {
            path: "分校.dat".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        },
        PunchImportError::File {
            path: "分校.dat".into(),
            line: 1,
            problem: PunchProblem::NoPunchColumns,
        },
        PunchImportError::Denied(Denied {
            role: Role::CardDesk,
            action: Action::AttendanceEdit,
        }),
        PunchImportError::Sql(sqlx::Error::PoolTimedOut),
    ]
}

#[test]
fn every_punch_import_refusal_and_sync_difference_is_worded_in_both_languages() {
    let mut texts = Vec::new();
    for lang in BOTH {
        for p in punch_problems() {
            let line = BadPunchLine {
                line: 12,
                problem: p,
                cut_short: true,
            };
            texts.push((
                format!("{line:?}"),
                lang,
                words::bad_punch_line(lang, &line),
            ));
        }
        for e in punch_import_errors() {
            texts.push((format!("{e:?}"), lang, words::punch_import_error(lang, &e)));
        }
        for k in [
            DifferenceKind::MissingOnMachine,
            DifferenceKind::UnknownOnMachine,
            DifferenceKind::NotEntitled,
            DifferenceKind::Differs,
        ] {
            texts.push((
                format!("{k:?}"),
                lang,
                words::difference_kind(lang, k).to_string(),
            ));
        }
    }
    check(texts, &[]);
}

#[test]
fn every_keymap_problem_is_worded_in_both_languages() {
    let mut texts = Vec::new();
    for lang in BOTH {
        for problem in problems() {
            let e = KeymapError {
                file: "按键表".into(),
                line: 4,
                key: "y".into(),
                message: String::new(),
                problem,
            };
            texts.push((
                format!("{:?}", e.problem),
                lang,
                words::keymap_error(lang, &e),
            ));
        }
    }
    check(texts, &KEYMAP_SYNTAX);
}

#[test]
fn the_checker_sees_keys_placeholders_and_english() {
    assert!(fault(Lang::EN, "msg.note_empty").is_some());
    assert!(fault(Lang::EN, "卡 {card} 已挂失").is_some());
    assert!(fault(Lang::EN, "write { run = \"…\" }").is_none());
    assert!(fault(Lang::ZH_CN, "终端 offline").is_some());
    assert!(fault(Lang::ZH_CN, "UHPPOTE 控制器离线").is_none());
    assert!(fault(Lang::EN, "Card 8165537 is already lost.").is_none());
}

/// One of every alarm detail (every restart, claim and line fault).
fn alarm_details() -> Vec<onecard::db::ingest::AlarmDetail> {
    use onecard::db::ingest::{AlarmDetail as D, Implausible, LineFault, Restart};
    use onecard::domain::settlement::Tally;
    let mut v = vec![
        D::Record { record_no: 55 },
        D::PatrolOverdue {
            checkpoint: "图书馆东门".into(),
            tag: 101,
            guard: "张伟".into(),
            due: NaiveDate::from_ymd_opt(2026, 11, 22)
                .unwrap()
                .and_hms_opt(3, 0, 0)
                .unwrap(),
        },
        D::NoAnswer {
            line: "食堂 RS-485".into(),
        },
        D::Garbled {
            line: "食堂 RS-485".into(),
            address: None,
            fault: None,
        },
        D::ClockDrift { secs: -28800 },
        D::MemoryFull,
        D::MemoryNearlyFull { percent: 91 },
        D::RecordsLost {
            first: 501,
            last: 2501,
        },
        D::Overdrawn {
            card: 8_165_500,
            amount: "12.50".parse().unwrap(),
            balance: "-4.30".parse().unwrap(),
        },
        D::TxnGap {
            first: 1017,
            last: 1019,
            missing: 3,
        },
        D::PunchesLost {
            after: chrono::NaiveDate::from_ymd_opt(2026, 12, 5)
                .unwrap()
                .and_hms_opt(18, 2, 0)
                .unwrap(),
            before: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_opt(7, 41, 30)
                .unwrap(),
        },
        D::ClockInvalid {
            reads: Some("1970-01-01 00:00:00".into()),
        },
        D::ClockInvalid { reads: None },
        D::ClockNotSet { tries: 3 },
        D::TablesMissing { tries: 3 },
        D::NotUploaded {
            day: date("2026-11-10"),
        },
        D::ReconciliationDifference {
            day: date("2026-11-10"),
            pos: Tally {
                count: 3,
                sum: "31.00".parse().unwrap(),
            },
            received: Tally {
                count: 2,
                sum: "25.50".parse().unwrap(),
            },
            ledger: Tally {
                count: 1,
                sum: "20.00".parse().unwrap(),
            },
        },
    ];
    for why in [
        Restart::CountsAgain {
            newest: 2,
            collected: 3,
        },
        Restart::NotTheSame { record: 9 },
        Restart::Swapped {
            serial: "7001".into(),
            was: "7000".into(),
        },
    ] {
        v.push(D::Restarted { why, base: 3 });
    }
    for why in [
        Implausible::Memory {
            record: 1,
            capacity: 200_000,
        },
        Implausible::Rate {
            grew: 50_000,
            secs: 10,
        },
    ] {
        v.push(D::Implausible {
            claimed: 4_294_967_295,
            collected: 10,
            why,
        });
    }
    for fault in [
        LineFault::Babbling { frames: 40 },
        LineFault::BadCrc { frames: 3 },
        LineFault::Truncated {
            got: 9,
            expected: 27,
        },
        LineFault::BadLength { len: 4000 },
        LineFault::Noise { bytes: 64 },
        LineFault::OtherAddress,
        LineFault::Invalid {
            detail: "7-7".into(),
        },
    ] {
        v.push(D::Garbled {
            line: "食堂 RS-485".into(),
            address: Some(9),
            fault: Some(fault),
        });
    }
    v
}

#[test]
fn every_alarm_detail_is_worded_in_both_languages() {
    let listed = shown(&alarm_details());
    let all = variants("src/db/ingest.rs", "AlarmDetail");
    let missing: Vec<_> = all.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "AlarmDetail: list one of {missing:?} in tests/it/refusals.rs"
    );
    let mut texts = Vec::new();
    for lang in BOTH {
        for d in alarm_details() {
            let stored = d.to_json();
            texts.push((format!("{d:?}"), lang, words::alarm_detail(lang, &stored)));
        }
    }
    check(texts, &[]);
}

/// Every refusal of the merchant register, settlement and reconciliation.
fn settlement_refusals(
    lang: Lang,
) -> (
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
    Vec<String>,
) {
    use onecard::db::merchant::{MerchantError as M, MerchantState};
    use onecard::db::reconcile::ReconcileError as R;
    use onecard::db::settlement::SettleError as S;
    use onecard::domain::settlement::Period;
    let denied = || Denied {
        role: Role::CardDesk,
        action: Action::MerchantSettle,
    };
    let sql = || sqlx::Error::PoolTimedOut;
    let m = vec![
        M::NameEmpty,
        M::NameTaken("第一食堂".into()),
        M::BadRate("1.5".parse().unwrap()),
        M::NotFound("第九食堂".into()),
        M::WrongState {
            name: "第一食堂".into(),
            state: "closed".into(),
            wanted: MerchantState::Approved,
        },
        M::NoSuchPos("小卖部 POS".into()),
        M::OwnedElsewhere {
            terminal: "一食堂 POS 1".into(),
            owner: "第一食堂".into(),
        },
        M::Denied(denied()),
        M::Sql(sql()),
    ];
    let nov: Period = "2026-11".parse().unwrap();
    let s = vec![
        S::NotEnded {
            period: nov,
            ends: chrono::Utc::now(),
        },
        S::Overlaps {
            merchant: "小卖部".into(),
            period: "2026-11-10".parse().unwrap(),
            settled: nov,
        },
        S::Merchant(M::NameEmpty),
        S::Export(onecard::export::ExportError::Exists("结算.csv".into())),
        S::Denied(denied()),
        S::Sql(sql()),
    ];
    let r = vec![
        R::NotEnded {
            day: date("2026-12-06"),
        },
        R::Denied(denied()),
        R::Sql(sql()),
    ];
    let mut texts: Vec<String> = m.iter().map(|e| words::merchant_refusal(lang, e)).collect();
    texts.extend(s.iter().map(|e| words::settle_refusal(lang, e)));
    texts.extend(r.iter().map(|e| words::reconcile_refusal(lang, e)));
    (shown(&m), shown(&s), shown(&r), texts)
}

#[test]
fn every_settlement_refusal_is_listed_and_worded_in_both_languages() {
    let (m, s, r, _) = settlement_refusals(Lang::EN);
    for (path, name, listed) in [
        ("src/db/merchant.rs", "MerchantError", m),
        ("src/db/settlement.rs", "SettleError", s),
        ("src/db/reconcile.rs", "ReconcileError", r),
    ] {
        let missing: Vec<_> = variants(path, name).difference(&listed).cloned().collect();
        assert!(missing.is_empty(), "{name}: list one of {missing:?} here");
    }
    let mut texts = Vec::new();
    for lang in BOTH {
        for t in settlement_refusals(lang).3 {
            texts.push(("settlement".to_string(), lang, t));
        }
    }
    // `--overwrite` is typed as it is.
    check(texts, &["overwrite"]);
}

/// One of every attendance refusal (db::attendance::AttendanceError); the database, permission
/// and export cases are worded by their own failures, so only the others are checked for words.
fn attendance_refusals() -> Vec<onecard::db::attendance::AttendanceError> {
    use onecard::db::attendance::AttendanceError as E;
    vec![
        E::NoName,
        E::ShiftTaken("白班".into()),
        E::NoShift("夜班".into()),
        E::NoDepartment("图书馆".into()),
        E::NoPerson("2021001".into()),
        E::NoSchedule(7),
        E::NoHoliday(date("2027-03-02")),
        E::NoCorrection(12),
        E::SameStartEnd,
        E::OutsideDay,
        E::BadMinutes,
        E::BadRestDays,
        E::BadRange,
        E::Overlaps("department"),
        E::Overlaps("person"),
        E::ShiftInUse {
            name: "白班".into(),
            schedules: 3,
        },
        E::NoReason,
        E::AlreadyRevoked(12),
        E::BadStatus("迟到".into()),
        E::Export(onecard::export::ExportError::Exists("考勤.csv".into())),
        E::Denied(Denied {
            role: Role::CardDesk,
            action: Action::AttendanceEdit,
        }),
        E::Sql(sqlx::Error::PoolTimedOut),
    ]
}

#[test]
fn every_attendance_refusal_is_listed_and_worded_in_both_languages() {
    use onecard::db::attendance::AttendanceError as E;
    let all = attendance_refusals();
    let missing: Vec<_> = variants("src/db/attendance.rs", "AttendanceError")
        .difference(&shown(&all))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "AttendanceError: list one of {missing:?} here"
    );
    let mut texts = Vec::new();
    for lang in BOTH {
        // Through the console's own path: the refusal as a failure, worded.
        for e in attendance_refusals()
            .into_iter()
            .filter(|e| !matches!(e, E::Export(_) | E::Denied(_) | E::Sql(_)))
        {
            let name = format!("{e:?}");
            texts.push((name, lang, words::failure(lang, &Failure::from(e))));
        }
        for s in onecard::db::attendance::Status::ALL {
            texts.push((format!("{s:?}"), lang, s.words(lang).to_string()));
        }
    }
    check(texts, &[]);
}
