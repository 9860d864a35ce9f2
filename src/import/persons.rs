//! `onecard import persons FILE.csv [--dry-run] [--create-departments]`: the person register
//! from the registrar or HR. The console's import dialog calls [`import_with`] with the file's
//! bytes, the [`Options`] and a progress callback.
//!
//! The file: UTF-8 (a BOM is fine; a GBK file is refused with a request to save it as UTF-8),
//! comma-separated, header required, columns in any order:
//!
//! | column | header aliases | |
//! |---|---|---|
//! | `person_no` | 学号, 工号, 学工号, 人员编号, 编号 | required, unique in the file |
//! | `name` | 姓名 | required |
//! | `department` | 部门, 院系, 单位 | required: a department's code or name |
//! | `category` | 类别, 人员类别, 身份 | required: staff, student, other (or 教职工, 学生, 其他) |
//! | `id_document` | 证件号, 证件号码, 身份证号 | optional column; an empty field means none on file |
//! | `status` | 状态 | optional column: active or left (在职, 离职); empty means active |
//!
//! Other columns are ignored. A person is found by `person_no`: new numbers are added, known
//! ones updated where a field differs, the rest left alone. Persons not in the file are left as
//! they are (an import adds and updates; it never removes or marks anyone left). When the file
//! has no `id_document` or `status` column, known persons keep theirs and new ones get none /
//! active.
//!
//! **Departments**: a department is matched by code, then by name (exact, then ignoring Latin
//! case). A department the register does not have is a bad row naming the text (and the
//! closest department there is, when one is close: `计算机学员` → `计算机学院`), unless the
//! import is told to create departments ([`Options::create_departments`],
//! `--create-departments`): it is then created with the text as both its code and its name
//! (rename it later in the department list). A name two departments share is a bad row (use
//! the code).
//!
//! **What changes**: the summary lists, as data, every person added (line, number, name,
//! department), every person updated (line, number, name, each changed field old → new) and
//! the departments created; a dry run gives the same lists for what would change. The lists
//! hold one small entry per row that changes (a 50,000-row first import: 50,000 entries, a few
//! MB); a screen shows a page of them at a time.
//!
//! The whole file is checked before the database is touched: every bad row is named with its
//! line number and reason, and nothing is written. Applying is one transaction (bulk `UNNEST`
//! upserts in chunks, only rows that differ) with one audit row for the whole import (file name,
//! SHA-256 of the file, counts, departments created). Imports run one at a time.

use super::{bad, decode, one, ImportError, Lines, RowError, RowProblem, DEPARTMENT_MAX};
use crate::db::audit;
use crate::db::notify;
use crate::db::person::{
    check_id_document, check_name, check_person_no, mask_id_document, match_department, Category,
    Status,
};
use crate::domain::permission::{Action, Actor};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Rows per `UNNEST` statement when writing.
const CHUNK: usize = 5_000;
/// Entries of each list the command line shows without `--all`.
const CLI_SHOWN: usize = 50;
/// Serialises person imports across processes ("persimpt" in ASCII).
const IMPORT_LOCK_KEY: i64 = 0x7065_7273_696d_7074;

/// Where an import is, for a progress bar: `done` of `total` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub done: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Rows read and checked.
    Validating,
    /// Rows new or changed, written to the database (total: those that differ).
    Writing,
}

/// How to import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Only check the file and say what would change; nothing is written.
    pub dry_run: bool,
    /// Create the departments the file names and the register lacks (the text as code and
    /// name). Without it such a row is a bad row.
    pub create_departments: bool,
}

/// What an import did, or (dry run) would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub path: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    pub dry_run: bool,
    /// Data rows in the file.
    pub rows: usize,
    pub new: usize,
    pub updated: usize,
    /// Rows identical to what is stored.
    pub unchanged: usize,
    /// Departments created (or, dry run, to be created), as written in the file, sorted.
    pub departments_created: Vec<String>,
    /// Every person added (or to be added), in file order.
    pub new_persons: Vec<NewPerson>,
    /// Every person updated (or to be updated), in file order, with what changes.
    pub updated_persons: Vec<UpdatedPerson>,
    /// Persons this import marks `left` who still hold a card in service, by person number:
    /// the card desk should return or cancel those cards (the import does not touch cards).
    pub left_holding: Vec<LeftHolding>,
    /// `left_holding.len()`.
    pub left_holding_cards: usize,
    /// The import's audit row (None for a dry run, or when nothing changed).
    pub audit_id: Option<i64>,
}

/// A person the import adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// The row's line in the file (1 = the header).
    pub line: u64,
    pub person_no: String,
    pub name: String,
    /// The department's name (for one the import creates: the text in the file).
    pub department: String,
    /// The import creates the department.
    pub new_department: bool,
    pub category: Category,
}

/// A person the import changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatedPerson {
    pub line: u64,
    pub person_no: String,
    /// The name after the import.
    pub name: String,
    /// Each field that changes, in the order of [`PersonField::ALL`].
    pub fields: Vec<FieldChange>,
}

/// One field of a person the import changes. ID documents are personal data: they appear
/// masked (`****1234`), as in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: PersonField,
    pub old: String,
    pub new: String,
}

impl std::fmt::Display for FieldChange {
    /// `name 张三 → 张叁`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &str| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.to_string()
            }
        };
        write!(
            f,
            "{} {} → {}",
            self.field,
            shown(&self.old),
            shown(&self.new)
        )
    }
}

/// The fields an import may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonField {
    Name,
    Department,
    Category,
    IdDocument,
    Status,
}

crate::domain::named!(PersonField, custom_from_str, {
    Name => "name",
    Department => "department",
    Category => "category",
    IdDocument => "id_document",
    Status => "status",
});

/// A person the import marks left who still holds a card in service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftHolding {
    pub person_no: String,
    pub name: String,
    pub card_no: i64,
    /// active or lost
    pub card_state: String,
}

impl std::fmt::Display for LeftHolding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} is marked left and still holds card {} ({}): return or cancel it",
            self.person_no, self.name, self.card_no, self.card_state
        )
    }
}

impl Summary {
    /// One line: "50000 rows: 49000 new, 500 updated, 500 left alone".
    pub fn counts(&self) -> String {
        let mut s = format!(
            "{} rows: {} new, {} updated, {} left alone",
            self.rows, self.new, self.updated, self.unchanged
        );
        if !self.departments_created.is_empty() {
            let shown: Vec<&str> = self
                .departments_created
                .iter()
                .take(10)
                .map(String::as_str)
                .collect();
            s.push_str(&format!(
                "; {} new department(s): {}{}",
                self.departments_created.len(),
                shown.join(", "),
                if self.departments_created.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        if self.left_holding_cards > 0 {
            s.push_str(&format!(
                "; {} person(s) marked left still hold a card in service",
                self.left_holding_cards
            ));
        }
        s
    }
}

// ---------------------------------------------------------------- reading the file

/// A column of a person file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    PersonNo,
    Name,
    Department,
    Category,
    IdDocument,
    Status,
}

impl Column {
    pub const ALL: [Column; 6] = [
        Column::PersonNo,
        Column::Name,
        Column::Department,
        Column::Category,
        Column::IdDocument,
        Column::Status,
    ];

    /// Its name in the header, in English.
    pub fn name(self) -> &'static str {
        match self {
            Column::PersonNo => "person_no",
            Column::Name => "name",
            Column::Department => "department",
            Column::Category => "category",
            Column::IdDocument => "id_document",
            Column::Status => "status",
        }
    }

    fn required(self) -> bool {
        !matches!(self, Column::IdDocument | Column::Status)
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::PersonNo => &[
                "person_no",
                "personno",
                "person_number",
                "number",
                "no",
                "学号",
                "工号",
                "学工号",
                "学号/工号",
                "工号/学号",
                "人员编号",
                "编号",
            ],
            Column::Name => &["name", "person_name", "姓名", "名字"],
            Column::Department => &[
                "department",
                "dept",
                "department_code",
                "部门",
                "院系",
                "单位",
                "部门名称",
                "所属部门",
            ],
            Column::Category => &["category", "type", "类别", "人员类别", "身份", "类型"],
            Column::IdDocument => &[
                "id_document",
                "id_no",
                "id_number",
                "id_card",
                "证件号",
                "证件号码",
                "身份证号",
                "身份证号码",
            ],
            Column::Status => &["status", "state", "状态"],
        }
    }

    /// The header text normalised: trimmed, Latin lower case, spaces and dashes as `_`.
    fn of(header: &str) -> Option<Column> {
        let h: String = header
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' || c == '-' { '_' } else { c })
            .collect();
        Column::ALL
            .into_iter()
            .find(|c| c.aliases().contains(&h.as_str()))
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One good row.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    person_no: String,
    name: String,
    department: String,
    category: Category,
    /// None: the file has no such column.
    id_document: Option<String>,
    status: Option<Status>,
}

/// Reads and checks every row; every problem becomes a `RowError`.
fn parse(
    path: &str,
    text: &str,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Vec<Row>, ImportError> {
    let (mut reader, headers) = super::open_csv(path, text)?;
    if headers.iter().all(str::is_empty) {
        return Err(one(path, 1, RowProblem::HeaderEmpty));
    }
    // Which column each field is.
    let mut index: HashMap<usize, Column> = HashMap::new();
    let mut seen: HashMap<Column, usize> = HashMap::new();
    let mut header_errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(col) = Column::of(h) {
            if let Some(prev) = seen.insert(col, i) {
                header_errors.push(RowProblem::DuplicateColumn {
                    column: col,
                    first: prev + 1,
                    second: i + 1,
                    first_text: headers.get(prev).unwrap_or("").to_string(),
                    second_text: h.to_string(),
                });
            }
            index.insert(i, col);
        }
    }
    let missing: Vec<Column> = Column::ALL
        .into_iter()
        .filter(|c| c.required() && !seen.contains_key(c))
        .collect();
    if !missing.is_empty() {
        header_errors.push(RowProblem::MissingColumns(missing));
    }
    if !header_errors.is_empty() {
        return Err(bad(
            path,
            vec![RowError {
                line: 1,
                problems: header_errors,
            }],
        ));
    }
    let has = [
        seen.contains_key(&Column::IdDocument),
        seen.contains_key(&Column::Status),
    ];

    let records: Vec<Result<csv::StringRecord, csv::Error>> = reader.records().collect();
    let lines = Lines::new(text);
    let total = records.len();
    let mut rows = Vec::with_capacity(total);
    let mut errors = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::with_capacity(total);
    // A quote opened and never closed swallows the rest of the file into one field.
    let unclosed_quote = text.bytes().filter(|&b| b == b'"').count() % 2 == 1;
    let cut_short = !text.is_empty() && !text.ends_with('\n');
    for (k, result) in records.into_iter().enumerate() {
        if k % 5_000 == 0 {
            progress(Progress {
                stage: Stage::Validating,
                done: k,
                total,
            });
        }
        let last = k + 1 == total;
        let (line, record) = match lines.record(result) {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut problems: Vec<RowProblem> = Vec::new();
        if last && unclosed_quote {
            problems.push(RowProblem::UnclosedQuote);
        } else if record.len() != headers.len() {
            problems.push(RowProblem::FieldCount {
                fields: record.len(),
                header: headers.len(),
                cut_short: last && cut_short,
            });
        } else {
            let get = |c: Column| seen.get(&c).and_then(|&i| record.get(i)).unwrap_or("");
            let person_no = get(Column::PersonNo);
            let name = get(Column::Name);
            let department = get(Column::Department);
            let category = get(Column::Category);
            if let Err(e) = check_person_no(person_no) {
                problems.push(e.into());
            }
            if let Err(e) = check_name(name) {
                problems.push(e.into());
            }
            if department.is_empty() {
                problems.push(RowProblem::DepartmentEmpty);
            } else if department.chars().count() > DEPARTMENT_MAX
                || department.chars().any(char::is_control)
            {
                problems.push(RowProblem::DepartmentInvalid {
                    text: department.to_string(),
                });
            }
            let category = if category.is_empty() {
                problems.push(RowProblem::CategoryEmpty);
                None
            } else {
                category
                    .parse::<Category>()
                    .map_err(|_| {
                        problems.push(RowProblem::CategoryUnknown {
                            text: category.to_string(),
                        })
                    })
                    .ok()
            };
            let id_document = has[0].then(|| get(Column::IdDocument).to_string());
            if let Some(Err(e)) = id_document.as_deref().map(check_id_document) {
                problems.push(e.into());
            }
            let status = if has[1] {
                let s = get(Column::Status);
                if s.is_empty() {
                    Some(Status::Active)
                } else {
                    s.parse::<Status>()
                        .map_err(|_| {
                            problems.push(RowProblem::StatusUnknown {
                                text: s.to_string(),
                            })
                        })
                        .ok()
                }
            } else {
                None
            };
            if !person_no.is_empty() {
                if let Some(prev) = first_line.get(person_no) {
                    problems.push(RowProblem::DuplicatePersonNo {
                        person_no: person_no.to_string(),
                        line: *prev,
                    });
                } else {
                    first_line.insert(person_no.to_string(), line);
                }
            }
            if let (true, Some(category)) = (problems.is_empty(), category) {
                rows.push(Row {
                    line,
                    person_no: person_no.to_string(),
                    name: name.to_string(),
                    department: department.to_string(),
                    category,
                    id_document,
                    status,
                });
            }
        }
        if !problems.is_empty() {
            errors.push(RowError { line, problems });
        }
    }
    progress(Progress {
        stage: Stage::Validating,
        done: total,
        total,
    });
    if errors.is_empty() && total == 0 {
        errors.push(RowError::new(2, RowProblem::NoRows));
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(bad(path, errors));
    }
    Ok(rows)
}

// ---------------------------------------------------------------- against the database

/// Where a row's department is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dept {
    Known(i64),
    /// To be created (its code and name: the text in the file).
    New(String),
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Stored {
    person_no: String,
    name: String,
    department_id: i64,
    category: String,
    id_document: String,
    status: String,
}

/// A department there is: id, code, name.
type Known = (i64, String, String);

/// Resolves each distinct department text against the departments there are. A text naming
/// none is created when `create` allows it, else every row naming it is a bad row.
fn resolve_departments(
    path: &str,
    rows: &[Row],
    known: &[Known],
    create: bool,
) -> Result<HashMap<String, Dept>, ImportError> {
    let mut out: HashMap<String, Dept> = HashMap::new();
    // Texts naming no department or two and more, and why.
    let mut refused: HashMap<String, RowProblem> = HashMap::new();
    for row in rows {
        let key = row.department.as_str();
        if out.contains_key(key) || refused.contains_key(key) {
            continue;
        }
        let found = match match_department(known, key, |d| (&d.1, &d.2)) {
            Ok(Some(d)) => Dept::Known(d.0),
            Ok(None) if create => Dept::New(key.to_string()),
            Ok(None) => {
                refused.insert(key.to_string(), unknown_department(key, known));
                continue;
            }
            Err(codes) => {
                refused.insert(
                    key.to_string(),
                    RowProblem::AmbiguousDepartment {
                        text: key.to_string(),
                        codes,
                    },
                );
                continue;
            }
        };
        out.insert(key.to_string(), found);
    }
    if refused.is_empty() {
        return Ok(out);
    }
    // Every row naming a refused department is named, not just the first.
    let errors = rows
        .iter()
        .filter_map(|r| {
            refused
                .get(&r.department)
                .map(|p| RowError::new(r.line, p.clone()))
        })
        .collect();
    Err(bad(path, errors))
}

/// "no department `计算机学员` (did you mean `计算机学院`, code D01?): ..."
fn unknown_department(key: &str, known: &[Known]) -> RowProblem {
    let closest = closest_department(key, known).map(|(_, code, name)| {
        let code = (name.to_lowercase() != code.to_lowercase()).then(|| code.clone());
        (name.clone(), code)
    });
    RowProblem::UnknownDepartment {
        text: key.to_string(),
        closest,
    }
}

/// The department whose name or code is closest to `key`, when one is close: a few
/// characters apart (one in four, at least one), or one text containing the other.
fn closest_department<'a>(key: &str, known: &'a [Known]) -> Option<&'a Known> {
    let key = key.to_lowercase();
    let len = key.chars().count();
    let allowed = (len / 4).max(1);
    known
        .iter()
        .flat_map(|d| [(d, d.1.to_lowercase()), (d, d.2.to_lowercase())])
        .filter_map(|(d, text)| {
            let distance = edit_distance(&key, &text);
            let contains = len >= 2 && (text.contains(&key) || key.contains(&text));
            (distance <= allowed || contains).then_some((distance, d))
        })
        .min_by_key(|(distance, d)| (*distance, d.0))
        .map(|(_, d)| d)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// What a row would write: the stored values it replaces (None: a new person).
struct Change<'a> {
    row: &'a Row,
    id_document: String,
    status: Status,
    before: Option<&'a Stored>,
    /// What differs (empty for a new person).
    fields: Vec<FieldChange>,
}

/// Checks `bytes` whole, then (unless `dry_run`) writes the new and changed persons in one
/// transaction with one audit row; departments are not created. See [`import_with`].
pub async fn import(
    pool: &PgPool,
    actor: &Actor,
    path: &str,
    bytes: &[u8],
    dry_run: bool,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Summary, ImportError> {
    let options = Options {
        dry_run,
        create_departments: false,
    };
    import_with(pool, actor, path, bytes, options, progress).await
}

/// Checks `bytes` whole, then (unless `options.dry_run`) writes the new and changed persons in
/// one transaction with one audit row. `path` names the file in messages and the audit row.
/// `progress` is called as rows are checked and written (often enough for a progress bar,
/// rarely enough to cost nothing).
pub async fn import_with(
    pool: &PgPool,
    actor: &Actor,
    path: &str,
    bytes: &[u8],
    options: Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Summary, ImportError> {
    let dry_run = options.dry_run;
    actor.authorize(Action::PersonImport)?;
    let sha256 = hex::encode(Sha256::digest(bytes));
    let text = decode(path, bytes)?;
    let rows = parse(path, text, progress)?;

    let mut tx = pool.begin().await?;
    if !dry_run {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(IMPORT_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
    }
    let known: Vec<Known> = sqlx::query_as("SELECT id, code, name FROM department ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    let depts = resolve_departments(path, &rows, &known, options.create_departments)?;
    let dept_name: HashMap<i64, &str> = known.iter().map(|d| (d.0, d.2.as_str())).collect();
    let label = |d: &Dept| -> String {
        match d {
            Dept::Known(id) => dept_name.get(id).copied().unwrap_or("?").to_string(),
            Dept::New(text) => text.clone(),
        }
    };
    let nos: Vec<&str> = rows.iter().map(|r| r.person_no.as_str()).collect();
    let stored: Vec<Stored> = sqlx::query_as(
        "SELECT person_no, name, department_id, category, id_document, status
         FROM person WHERE person_no = ANY($1)",
    )
    .bind(&nos)
    .fetch_all(&mut *tx)
    .await?;
    let stored: HashMap<&str, &Stored> = stored.iter().map(|s| (s.person_no.as_str(), s)).collect();

    // Classify: new, changed (with what differs), or the same.
    let mut changes: Vec<Change<'_>> = Vec::new();
    for row in &rows {
        let before = stored.get(row.person_no.as_str()).copied();
        let id_document = row
            .id_document
            .clone()
            .or_else(|| before.map(|b| b.id_document.clone()))
            .unwrap_or_default();
        let status = row
            .status
            .or_else(|| before.and_then(|b| b.status.parse().ok()))
            .unwrap_or_default();
        let dept = &depts[row.department.as_str()];
        let mut fields = Vec::new();
        if let Some(b) = before {
            let mut differs = |field, old: &str, new: &str| {
                if old != new {
                    fields.push(FieldChange {
                        field,
                        old: old.to_string(),
                        new: new.to_string(),
                    });
                }
            };
            differs(PersonField::Name, &b.name, &row.name);
            if *dept != Dept::Known(b.department_id) {
                differs(
                    PersonField::Department,
                    &label(&Dept::Known(b.department_id)),
                    &label(dept),
                );
            }
            differs(PersonField::Category, &b.category, row.category.name());
            if b.id_document != id_document {
                differs(
                    PersonField::IdDocument,
                    &mask_id_document(&b.id_document),
                    &mask_id_document(&id_document),
                );
            }
            differs(PersonField::Status, &b.status, status.name());
            if fields.is_empty() {
                continue;
            }
        }
        changes.push(Change {
            row,
            id_document,
            status,
            before,
            fields,
        });
    }
    let mut new_depts: Vec<String> = depts
        .values()
        .filter_map(|d| match d {
            Dept::New(name) => Some(name.clone()),
            Dept::Known(_) => None,
        })
        .collect();
    new_depts.sort();
    let leaving: Vec<&str> = changes
        .iter()
        .filter(|c| {
            c.status == Status::Left && c.before.is_some_and(|b| b.status != Status::Left.name())
        })
        .map(|c| c.row.person_no.as_str())
        .collect();
    let left_holding: Vec<LeftHolding> = if leaving.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as::<_, (String, String, i64, String)>(
            "SELECT p.person_no, p.name, c.card_no, c.state FROM card c JOIN person p ON p.id = c.person_id
             WHERE p.person_no = ANY($1) AND c.state IN ('active', 'lost') ORDER BY p.person_no",
        )
        .bind(&leaving)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(person_no, name, card_no, card_state)| LeftHolding {
            person_no,
            name,
            card_no,
            card_state,
        })
        .collect()
    };
    let new_persons: Vec<NewPerson> = changes
        .iter()
        .filter(|c| c.before.is_none())
        .map(|c| {
            let dept = &depts[c.row.department.as_str()];
            NewPerson {
                line: c.row.line,
                person_no: c.row.person_no.clone(),
                name: c.row.name.clone(),
                department: label(dept),
                new_department: matches!(dept, Dept::New(_)),
                category: c.row.category,
            }
        })
        .collect();
    let updated_persons: Vec<UpdatedPerson> = changes
        .iter()
        .filter(|c| c.before.is_some())
        .map(|c| UpdatedPerson {
            line: c.row.line,
            person_no: c.row.person_no.clone(),
            name: c.row.name.clone(),
            fields: c.fields.clone(),
        })
        .collect();
    let mut summary = Summary {
        path: path.to_string(),
        sha256,
        dry_run,
        rows: rows.len(),
        new: new_persons.len(),
        updated: updated_persons.len(),
        unchanged: rows.len() - changes.len(),
        departments_created: new_depts.clone(),
        new_persons,
        updated_persons,
        left_holding_cards: left_holding.len(),
        left_holding,
        audit_id: None,
    };
    if dry_run || changes.is_empty() {
        tx.rollback().await?;
        return Ok(summary);
    }

    // Departments first, then the persons in chunks.
    let mut dept_ids: HashMap<&str, i64> = HashMap::new();
    if !new_depts.is_empty() {
        let created: Vec<(i64, String)> = sqlx::query_as(
            "INSERT INTO department (code, name) SELECT n, n FROM unnest($1::text[]) AS n
             ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code
             RETURNING id, code",
        )
        .bind(&new_depts)
        .fetch_all(&mut *tx)
        .await?;
        for (id, code) in created {
            if let Some(name) = new_depts.iter().find(|n| **n == code) {
                dept_ids.insert(name.as_str(), id);
            }
        }
    }
    let dept_id = |text: &str| -> i64 {
        match &depts[text] {
            Dept::Known(id) => *id,
            Dept::New(name) => dept_ids.get(name.as_str()).copied().unwrap_or(0),
        }
    };
    let total = changes.len();
    let (mut inserted, mut updated) = (0usize, 0usize);
    let mut changed: Vec<i64> = Vec::new();
    progress(Progress {
        stage: Stage::Writing,
        done: 0,
        total,
    });
    for (k, chunk) in changes.chunks(CHUNK).enumerate() {
        let nos: Vec<&str> = chunk.iter().map(|c| c.row.person_no.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|c| c.row.name.as_str()).collect();
        let dept_ids: Vec<i64> = chunk.iter().map(|c| dept_id(&c.row.department)).collect();
        let cats: Vec<&str> = chunk.iter().map(|c| c.row.category.name()).collect();
        let docs: Vec<&str> = chunk.iter().map(|c| c.id_document.as_str()).collect();
        let statuses: Vec<&str> = chunk.iter().map(|c| c.status.name()).collect();
        let written: Vec<(i64, bool)> = sqlx::query_as(
            "INSERT INTO person (person_no, name, department_id, category, id_document, status)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[])
             ON CONFLICT (person_no) DO UPDATE SET
                 name = EXCLUDED.name, department_id = EXCLUDED.department_id,
                 category = EXCLUDED.category, id_document = EXCLUDED.id_document,
                 status = EXCLUDED.status, updated_at = now()
             WHERE (person.name, person.department_id, person.category, person.id_document, person.status)
                 IS DISTINCT FROM
                   (EXCLUDED.name, EXCLUDED.department_id, EXCLUDED.category, EXCLUDED.id_document, EXCLUDED.status)
             RETURNING id, xmax = 0",
        )
        .bind(&nos)
        .bind(&names)
        .bind(&dept_ids)
        .bind(&cats)
        .bind(&docs)
        .bind(&statuses)
        .fetch_all(&mut *tx)
        .await?;
        inserted += written.iter().filter(|w| w.1).count();
        updated += written.iter().filter(|w| !w.1).count();
        changed.extend(written.iter().map(|w| w.0));
        progress(Progress {
            stage: Stage::Writing,
            done: (k * CHUNK + chunk.len()).min(total),
            total,
        });
    }
    summary.new = inserted;
    summary.updated = updated;
    summary.unchanged = rows.len() - inserted - updated;
    let file_name = Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let audit_id = audit::append(
        &mut tx,
        actor,
        "person.import",
        "import",
        &file_name,
        None,
        Some(json!({
            "file": path,
            "sha256": summary.sha256,
            "rows": summary.rows,
            "new": summary.new,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "departments_created": summary.departments_created,
            "left_holding_cards": summary.left_holding_cards,
        })),
    )
    .await?;
    // A large import overflows the payload: consoles then reload everything.
    notify::Change::persons(changed).send(&mut tx).await?;
    tx.commit().await?;
    summary.audit_id = Some(audit_id);
    Ok(summary)
}

/// `onecard import persons FILE [--dry-run] [--create-departments] [--all]`: the summary on
/// `out` (a dry run lists what would change: the first 50 of each kind, every one with `all`),
/// progress on stderr for files of 10,000 rows or more.
pub async fn cli(
    pool: &PgPool,
    actor: &Actor,
    file: &Path,
    options: Options,
    all: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
        path: file.display().to_string(),
        source,
    })?;
    let started = std::time::Instant::now();
    // At most one line a second per stage, plus each stage's first and last.
    let mut last: Option<(Stage, std::time::Instant)> = None;
    let mut progress = move |p: Progress| {
        if p.total < 10_000 {
            return;
        }
        let due = match last {
            Some((stage, at)) => stage != p.stage || at.elapsed().as_secs_f64() >= 1.0,
            None => true,
        };
        if due || p.done == p.total {
            last = Some((p.stage, std::time::Instant::now()));
            let what = match p.stage {
                Stage::Validating => "checked",
                Stage::Writing => "written",
            };
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "  {what} {} of {} rows ({:.1} s)",
                p.done,
                p.total,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let summary = import_with(
        pool,
        actor,
        &file.display().to_string(),
        &bytes,
        options,
        &mut progress,
    )
    .await?;
    let shown = if all { usize::MAX } else { CLI_SHOWN };
    if options.dry_run {
        writeln!(
            out,
            "{} (dry run, nothing written): {}",
            summary.path,
            summary.counts()
        )?;
        write_changes(out, &summary, shown)?;
    } else if summary.audit_id.is_none() {
        writeln!(
            out,
            "{}: {}; nothing to change",
            summary.path,
            summary.counts()
        )?;
    } else {
        writeln!(
            out,
            "{}: imported in {:.1} s: {}",
            summary.path,
            started.elapsed().as_secs_f64(),
            summary.counts()
        )?;
        write_list(
            out,
            "marked left, still holding a card",
            &summary.left_holding,
            shown,
            |h| h.to_string(),
        )?;
    }
    Ok(())
}

/// The summary's lists, each under its heading, at most `shown` entries of each.
fn write_changes(out: &mut dyn Write, s: &Summary, shown: usize) -> std::io::Result<()> {
    write_list(out, "new", &s.new_persons, shown, |p| {
        format!(
            "line {}: {} {}, {}{}, {}",
            p.line,
            p.person_no,
            p.name,
            p.department,
            if p.new_department {
                " (new department)"
            } else {
                ""
            },
            p.category
        )
    })?;
    write_list(out, "updated", &s.updated_persons, shown, |p| {
        let fields: Vec<String> = p.fields.iter().map(ToString::to_string).collect();
        format!(
            "line {}: {} {}: {}",
            p.line,
            p.person_no,
            p.name,
            fields.join("; ")
        )
    })?;
    write_list(
        out,
        "departments to create",
        &s.departments_created,
        shown,
        |d| d.clone(),
    )?;
    write_list(
        out,
        "marked left, still holding a card",
        &s.left_holding,
        shown,
        |h| h.to_string(),
    )
}

fn write_list<T>(
    out: &mut dyn Write,
    heading: &str,
    items: &[T],
    shown: usize,
    line: impl Fn(&T) -> String,
) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    writeln!(out, "{heading} ({}):", items.len())?;
    for item in items.iter().take(shown) {
        writeln!(out, "  {}", line(item))?;
    }
    if items.len() > shown {
        writeln!(
            out,
            "  … {} more (--all lists every one)",
            items.len() - shown
        )?;
    }
    Ok(())
}
