//! Imports: what is wrong with a row, and what an import changes.

use super::*;

pub fn import_column(lang: Lang, c: crate::import::Column) -> &'static str {
    tr(lang, &format!("import.column.{}", c.name()))
}

/// A person's field refused: "person_no is empty", "学号为空".
pub fn field_problem(lang: Lang, p: &crate::db::person::FieldProblem) -> String {
    use crate::db::person::FieldProblem as P;
    match p {
        P::PersonNoEmpty => tr(lang, "import.problem.person_no_empty").to_string(),
        P::PersonNoTooLong { text, max } => trf(
            lang,
            "import.problem.person_no_too_long",
            &[("text", text), ("max", &max.to_string())],
        ),
        P::PersonNoSpace { text } => trf(lang, "import.problem.person_no_space", &[("text", text)]),
        P::NameEmpty => tr(lang, "import.problem.name_empty").to_string(),
        P::NameTooLong { text, max } => trf(
            lang,
            "import.problem.name_too_long",
            &[("text", text), ("max", &max.to_string())],
        ),
        P::NameControl { text } => trf(lang, "import.problem.name_control", &[("text", text)]),
        P::IdDocumentTooLong { max } => trf(
            lang,
            "import.problem.id_document_too_long",
            &[("max", &max.to_string())],
        ),
        P::IdDocumentControl => tr(lang, "import.problem.id_document_control").to_string(),
    }
}

/// Why an import refuses a row, the header or the file, in the operator's language.
pub fn row_problem(lang: Lang, p: &crate::import::RowProblem) -> String {
    use crate::import::RowProblem as P;
    let key = |k: &str| tr(lang, &format!("import.problem.{k}")).to_string();
    let with = |k: &str, args: &[(&str, &str)]| trf(lang, &format!("import.problem.{k}"), args);
    match p {
        P::CutMidCharacter => key("cut_mid_character"),
        P::Gbk => key("gbk"),
        P::NotUtf8 { byte } => with("not_utf8", &[("byte", &byte.to_string())]),
        P::HeaderUnreadable { .. } => key("header_unreadable"),
        P::Unreadable { .. } => key("unreadable"),
        P::HeaderEmpty => key("header_empty"),
        P::DuplicateColumn {
            column,
            first,
            second,
            first_text,
            second_text,
        } => with(
            "duplicate_column",
            &[
                ("column", import_column(lang, *column)),
                ("first", &first.to_string()),
                ("second", &second.to_string()),
                ("first_text", first_text),
                ("second_text", second_text),
            ],
        ),
        P::MissingColumns(columns) => with(
            "missing_columns",
            &[(
                "columns",
                &columns
                    .iter()
                    .map(|c| import_column(lang, *c))
                    .collect::<Vec<_>>()
                    .join(tr(lang, "import.column_separator")),
            )],
        ),
        P::NoRows => key("no_rows"),
        P::UnclosedQuote => key("unclosed_quote"),
        P::FieldCount {
            fields,
            header,
            cut_short,
        } => with(
            if *cut_short {
                "field_count_cut_short"
            } else {
                "field_count"
            },
            &[
                ("fields", &fields.to_string()),
                ("header", &header.to_string()),
            ],
        ),
        P::Field(f) => field_problem(lang, f),
        P::DepartmentEmpty => key("department_empty"),
        P::DepartmentInvalid { text } => with(
            "department_invalid",
            &[
                ("text", text),
                ("max", &crate::import::DEPARTMENT_MAX.to_string()),
            ],
        ),
        P::CategoryEmpty => key("category_empty"),
        P::CategoryUnknown { text } => with("category_unknown", &[("text", text)]),
        P::StatusUnknown { text } => with("status_unknown", &[("text", text)]),
        P::DuplicatePersonNo { person_no, line } => with(
            "duplicate_person_no",
            &[("person_no", person_no), ("line", &line.to_string())],
        ),
        P::UnknownDepartment { text, closest } => match closest {
            None => with("unknown_department", &[("text", text)]),
            Some((name, None)) => {
                with("unknown_department_like", &[("text", text), ("name", name)])
            }
            Some((name, Some(code))) => with(
                "unknown_department_like_code",
                &[("text", text), ("name", name), ("code", code)],
            ),
        },
        P::AmbiguousDepartment { text, codes } => with(
            "ambiguous_department",
            &[
                ("n", &codes.len().to_string()),
                ("text", text),
                ("codes", &codes.join(", ")),
            ],
        ),
        P::NoCardOrPersonColumn => key("no_card_or_person_column"),
        P::CardAndPerson => key("card_and_person"),
        P::NoCardNorPerson => key("no_card_nor_person"),
        P::NotACardNo { text } => with("not_a_card_no", &[("text", text)]),
        P::NoCard { card_no } => with("no_card", &[("card_no", &card_no.to_string())]),
        P::NoPerson { person_no } => with("no_person", &[("person_no", person_no)]),
        P::NoCardInService { person_no } => with("no_card_in_service", &[("person_no", person_no)]),
        P::SameCard { line } => with("same_card", &[("line", &line.to_string())]),
        P::CardRefused(r) => {
            let card = r
                .card_no
                .map_or_else(|| format!("#{}", r.card_id), |n| n.to_string());
            let why = failure(lang, &Failure::from(r.why.clone()));
            with("card_refused", &[("card", &card), ("why", &why)])
        }
        P::BadAmount { text } => with("bad_amount", &[("text", text)]),
        P::NoSubsidyColumns => key("no_subsidy_columns"),
    }
}

/// One bad row of an import: "第 7 行：部门为空；类别为空（教职工、学生或其他）".
pub fn import_row(lang: Lang, row: &crate::import::RowError) -> String {
    let why = row
        .problems
        .iter()
        .map(|p| row_problem(lang, p))
        .collect::<Vec<_>>()
        .join(tr(lang, "import.separator"));
    trf(
        lang,
        "import.row",
        &[("line", &row.line.to_string()), ("why", &why)],
    )
}

/// A page of door records: "200 of 2,321" on the first page, "201–400 of 2,321" after it.
/// A person field's name ("department", "部门").
pub fn person_field(lang: Lang, f: PersonField) -> &'static str {
    tr(lang, &format!("person.field.{}", f.name()))
}

/// A field's value as the operator reads it: a category or status in words, "(none)" for empty.
fn person_value(lang: Lang, f: PersonField, v: &str) -> String {
    if v.is_empty() {
        return tr(lang, "person.field.none").to_string();
    }
    match f {
        PersonField::Category => category(lang, v),
        PersonField::Status => catalogued(lang, "person.status", v),
        PersonField::Name | PersonField::Department | PersonField::IdDocument => v.to_string(),
    }
}

/// "department: 计算机学院 → 图书馆"
pub fn field_change(lang: Lang, c: &FieldChange) -> String {
    trf(
        lang,
        "card.import.change",
        &[
            ("field", person_field(lang, c.field)),
            ("old", &person_value(lang, c.field, &c.old)),
            ("new", &person_value(lang, c.field, &c.new)),
        ],
    )
}

/// One line of what an import changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportLine {
    /// "New people (2)"
    Heading(String),
    /// A person or a department.
    Item(String),
    /// A field of the person above that changes.
    Change(String),
}

impl ImportLine {
    pub fn text(&self) -> &str {
        match self {
            ImportLine::Heading(t) | ImportLine::Item(t) | ImportLine::Change(t) => t,
        }
    }
}

/// Everything an import adds or changes, person by person: new people (number, name,
/// department), updated people with each field "old → new", departments created, and people
/// marked left who still hold a card.
pub fn import_changes(lang: Lang, s: &Summary) -> Vec<ImportLine> {
    let mut out = Vec::new();
    let heading =
        |key: &str, n: usize| ImportLine::Heading(trf(lang, key, &[("n", &count(n as i64))]));
    if !s.new_persons.is_empty() {
        out.push(heading("card.import.new_people", s.new_persons.len()));
        for p in &s.new_persons {
            let mut dept = p.department.clone();
            if p.new_department {
                dept.push_str(tr(lang, "card.import.dept_is_new"));
            }
            out.push(ImportLine::Item(format!(
                "{}  {}  {}  {}",
                p.person_no,
                p.name,
                dept,
                category(lang, p.category.name())
            )));
        }
    }
    if !s.updated_persons.is_empty() {
        out.push(heading(
            "card.import.updated_people",
            s.updated_persons.len(),
        ));
        for p in &s.updated_persons {
            out.push(ImportLine::Item(format!("{}  {}", p.person_no, p.name)));
            out.extend(
                p.fields
                    .iter()
                    .map(|c| ImportLine::Change(field_change(lang, c))),
            );
        }
    }
    if !s.departments_created.is_empty() {
        out.push(heading(
            "card.import.new_departments",
            s.departments_created.len(),
        ));
        out.extend(s.departments_created.iter().cloned().map(ImportLine::Item));
    }
    if !s.left_holding.is_empty() {
        out.push(heading("card.import.left_people", s.left_holding.len()));
        for l in &s.left_holding {
            out.push(ImportLine::Item(trf(
                lang,
                "card.import.left_card",
                &[
                    ("no", &l.person_no),
                    ("name", &l.name),
                    ("card", &l.card_no.to_string()),
                    ("state", &catalogued(lang, "card.state", &l.card_state)),
                ],
            )));
        }
    }
    out
}
