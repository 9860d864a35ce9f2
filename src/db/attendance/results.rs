//! Reading the daily results (`att_day`) with filters, the totals per person and per
//! department over a period, and the CSV.

use super::{AttendanceError, Status};
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::PgPool;

/// Results of [from, to] (attendance days, both inclusive), optionally of one department, one
/// person, one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub department: Option<i64>,
    pub person: Option<i64>,
    pub status: Option<Status>,
}

impl ResultQuery {
    pub fn new(from: NaiveDate, to: NaiveDate) -> ResultQuery {
        ResultQuery {
            from,
            to,
            department: None,
            person: None,
            status: None,
        }
    }

    fn check(&self) -> Result<(), AttendanceError> {
        if self.to < self.from {
            Err(AttendanceError::BadRange)
        } else {
            Ok(())
        }
    }
}

/// One person's attendance day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayRow {
    pub person_id: i64,
    pub person_no: String,
    pub name: String,
    pub department: String,
    pub day: NaiveDate,
    pub shift: String,
    /// work, rest or holiday.
    pub day_kind: String,
    #[sqlx(try_from = "String")]
    pub status: StatusText,
    pub punch_count: i16,
    pub first_punch: Option<NaiveDateTime>,
    pub last_punch: Option<NaiveDateTime>,
    pub late_min: i32,
    pub early_min: i32,
    pub overtime_min: i32,
    pub worked_min: i32,
    pub leave_min: i32,
}

/// A status read from the database (`att_compute` writes only known ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusText(pub Status);

impl TryFrom<String> for StatusText {
    type Error = AttendanceError;
    fn try_from(s: String) -> Result<StatusText, AttendanceError> {
        s.parse().map(StatusText)
    }
}

/// The filter on `a` (att_day) and `p` (person): $1 from, $2 to, $3 department, $4 person,
/// $5 status.
const FILTER: &str = "a.day BETWEEN $1 AND $2
    AND ($3::bigint IS NULL OR p.department_id = $3)
    AND ($4::bigint IS NULL OR a.person_id = $4)
    AND ($5::text IS NULL OR a.status = $5)";

/// Every result row of the query, by department, person number and day.
pub async fn results(pool: &PgPool, q: &ResultQuery) -> Result<Vec<DayRow>, AttendanceError> {
    q.check()?;
    let rows = sqlx::query_as(&format!(
        "SELECT a.person_id, p.person_no, p.name, d.name AS department, a.day, s.name AS shift,
                a.day_kind, a.status, a.punch_count, a.first_punch, a.last_punch, a.late_min,
                a.early_min, a.overtime_min, a.worked_min, a.leave_min
         FROM att_day a JOIN person p ON p.id = a.person_id
         JOIN department d ON d.id = p.department_id
         JOIN att_shift s ON s.id = a.shift_id
         WHERE {FILTER}
         ORDER BY d.name, p.person_no, a.day"
    ))
    .bind(q.from)
    .bind(q.to)
    .bind(q.department)
    .bind(q.person)
    .bind(q.status.map(Status::name))
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Totals over a period: days of each status and the minutes.
#[derive(Debug, Clone, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct Totals {
    /// The person's number and name, or the department's code and name.
    pub key: String,
    pub name: String,
    pub department: String,
    pub days: i64,
    pub work_days: i64,
    pub present: i64,
    pub late: i64,
    pub left_early: i64,
    pub absent: i64,
    pub missing_punch: i64,
    pub leave: i64,
    pub trip: i64,
    pub late_min: i64,
    pub early_min: i64,
    pub overtime_min: i64,
    pub worked_min: i64,
    pub leave_min: i64,
}

const SUMS: &str = "count(*) AS days,
    count(*) FILTER (WHERE a.day_kind = 'work') AS work_days,
    count(*) FILTER (WHERE a.status = 'present') AS present,
    count(*) FILTER (WHERE a.status IN ('late', 'late_left_early')) AS late,
    count(*) FILTER (WHERE a.status IN ('left_early', 'late_left_early')) AS left_early,
    count(*) FILTER (WHERE a.status = 'absent') AS absent,
    count(*) FILTER (WHERE a.status = 'missing_punch') AS missing_punch,
    count(*) FILTER (WHERE a.status = 'leave') AS leave,
    count(*) FILTER (WHERE a.status = 'trip') AS trip,
    coalesce(sum(a.late_min), 0)::bigint AS late_min,
    coalesce(sum(a.early_min), 0)::bigint AS early_min,
    coalesce(sum(a.overtime_min), 0)::bigint AS overtime_min,
    coalesce(sum(a.worked_min), 0)::bigint AS worked_min,
    coalesce(sum(a.leave_min), 0)::bigint AS leave_min";

/// Totals per person (late counts the days late, late-and-left-early ones included).
pub async fn totals_by_person(
    pool: &PgPool,
    q: &ResultQuery,
) -> Result<Vec<Totals>, AttendanceError> {
    q.check()?;
    Ok(sqlx::query_as(&format!(
        "SELECT p.person_no AS key, p.name, d.name AS department, {SUMS}
         FROM att_day a JOIN person p ON p.id = a.person_id
         JOIN department d ON d.id = p.department_id
         WHERE {FILTER}
         GROUP BY p.person_no, p.name, d.name
         ORDER BY d.name, p.person_no"
    ))
    .bind(q.from)
    .bind(q.to)
    .bind(q.department)
    .bind(q.person)
    .bind(q.status.map(Status::name))
    .fetch_all(pool)
    .await?)
}

/// Totals per department.
pub async fn totals_by_department(
    pool: &PgPool,
    q: &ResultQuery,
) -> Result<Vec<Totals>, AttendanceError> {
    q.check()?;
    Ok(sqlx::query_as(&format!(
        "SELECT d.code AS key, d.name, d.name AS department, {SUMS}
         FROM att_day a JOIN person p ON p.id = a.person_id
         JOIN department d ON d.id = p.department_id
         WHERE {FILTER}
         GROUP BY d.code, d.name
         ORDER BY d.name"
    ))
    .bind(q.from)
    .bind(q.to)
    .bind(q.department)
    .bind(q.person)
    .bind(q.status.map(Status::name))
    .fetch_all(pool)
    .await?)
}

/// The results CSV's columns: one row per person per day. Minutes are whole numbers.
pub const CSV_HEADER: [&str; 15] = [
    "person_no",
    "name",
    "department",
    "day",
    "shift",
    "day_kind",
    "status",
    "punches",
    "first_punch",
    "last_punch",
    "late_min",
    "early_min",
    "overtime_min",
    "worked_min",
    "leave_min",
];

/// A result as a CSV row; punch times are the machines' own (site) clock.
pub fn csv_row(r: &DayRow) -> [String; 15] {
    use crate::export::terminal_time;
    [
        r.person_no.clone(),
        r.name.clone(),
        r.department.clone(),
        r.day.to_string(),
        r.shift.clone(),
        r.day_kind.clone(),
        r.status.0.name().to_string(),
        r.punch_count.to_string(),
        r.first_punch.map(terminal_time).unwrap_or_default(),
        r.last_punch.map(terminal_time).unwrap_or_default(),
        r.late_min.to_string(),
        r.early_min.to_string(),
        r.overtime_min.to_string(),
        r.worked_min.to_string(),
        r.leave_min.to_string(),
    ]
}

/// Writes `rows` as the results CSV to `out` (the export's rules: a byte-order mark, a header)
/// and audits the export, who asked and what: `Action::ReportExport`.
pub async fn export<W: std::io::Write>(
    pool: &PgPool,
    actor: &crate::domain::permission::Actor,
    q: &ResultQuery,
    rows: &[DayRow],
    out: W,
    target: &str,
) -> Result<(W, u64), AttendanceError> {
    actor.authorize(crate::domain::permission::Action::ReportExport)?;
    let mut csv = crate::export::Csv::new(out, &CSV_HEADER)?;
    for r in rows {
        csv.row(csv_row(r))?;
    }
    let n = csv.rows();
    let out = csv.finish()?;
    let mut tx = pool.begin().await?;
    crate::db::audit::append(
        &mut tx,
        actor,
        "attendance.results.export",
        "attendance",
        "results",
        None,
        Some(serde_json::json!({
            "from": q.from, "to": q.to, "department": q.department, "person": q.person,
            "status": q.status.map(Status::name), "rows": n, "file": target,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok((out, n))
}
