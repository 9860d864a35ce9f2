//! The card desk's four reports: issued cards, balances, extensions, losses. Each on screen
//! ([`query`]: one page of rows as text, for the console's Card service tab) and exported
//! ([`export_csv`] / [`export_file`]: streamed row by row, so 100,000 rows never sit in memory;
//! written as [`crate::export`] writes every CSV).
//!
//! Every report reads `card_event` / `account` as the card desk wrote them:
//!
//! | report | one row per | date range applies to |
//! |---|---|---|
//! | `issued` | card issued (`issue`, or the new card of a `reissue` / `exchange`) | when it was issued |
//! | `balances` | cardholder account, with the card in service if any; a total (on screen, never in the CSV) | (balances are now: no date range, no operator) |
//! | `extensions` | `extend` event: old → new expiry | when it was extended |
//! | `losses` | `report_lost` event, with what came of it: found, reissued, returned, cancelled or still lost | when the loss was reported |
//!
//! [`Filter`]: `from` / `to` are local dates, both inclusive; `department` is a department's
//! code or name (exact); `kind` the card kind; `operator` an operator's login (or the shell's
//! actor name, `cli:<user>`), the one who wrote the event. Times are shown in local time, money
//! with two decimals (`12.50`, `0.00`).

use crate::domain::card::CardKind;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
use crate::export::{self, Csv, CsvFile, Existing, ExportError};
use chrono::{DateTime, Local, NaiveDate, NaiveTime, TimeZone, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use unicode_width::UnicodeWidthStr;

mod attendance;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ReportKind {
    /// Cards issued (new, reissued, exchanged).
    Issued,
    /// Each cardholder account's balance, with a total.
    Balances,
    /// Expiry dates moved.
    Extensions,
    /// Loss reports and what came of them.
    Losses,
}

impl ReportKind {
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Issued,
        ReportKind::Balances,
        ReportKind::Extensions,
        ReportKind::Losses,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Issued => "issued",
            ReportKind::Balances => "balances",
            ReportKind::Extensions => "extensions",
            ReportKind::Losses => "losses",
        }
    }

    /// The report's column names, in order (as in the CSV header).
    pub fn columns(self) -> Vec<&'static str> {
        spec(self).iter().map(|c| c.0).collect()
    }

    /// Whether the date range and the operator filter apply (not to balances, which are now).
    pub fn dated(self) -> bool {
        self != ReportKind::Balances
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to report on. Empty: everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// First day (local), inclusive.
    pub from: Option<NaiveDate>,
    /// Last day (local), inclusive.
    pub to: Option<NaiveDate>,
    /// A department's code or name (exact).
    pub department: Option<String>,
    /// The card kind.
    pub kind: Option<CardKind>,
    /// The operator's login, or an actor name such as `cli:root`.
    pub operator: Option<String>,
}

/// One page of a report for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPage {
    pub kind: ReportKind,
    /// What the page was asked for with: a page for older filters is not shown under newer.
    pub filter: Filter,
    pub columns: Vec<String>,
    /// Right-aligned columns (numbers, money), one flag per column.
    pub numeric: Vec<bool>,
    /// At most `limit` rows, every value as text (empty for none).
    pub rows: Vec<Vec<String>>,
    /// Rows the report has in all (more than `rows.len()` when the page is cut).
    pub total_rows: u64,
    /// The total line (balances: the number of accounts and the sum), shaped like a row.
    pub total: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// A report written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub path: PathBuf,
    /// Data rows written.
    pub rows: u64,
    /// The total line (balances), shaped like a row: for the caller to show, never in the file.
    pub total: Option<Vec<String>>,
}

// ---------------------------------------------------------------- the SQL

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Int,
    Date,
    Time,
    Money,
}

type Spec = &'static [(&'static str, Ty)];

/// Each report's columns: the SELECT list yields them in this order and these types.
fn spec(kind: ReportKind) -> Spec {
    use Ty::*;
    match kind {
        ReportKind::Issued => &[
            ("card_no", Int),
            ("person_no", Text),
            ("name", Text),
            ("department", Text),
            ("kind", Text),
            ("how", Text),
            ("issued_at", Time),
            ("operator", Text),
        ],
        ReportKind::Balances => &[
            ("person_no", Text),
            ("name", Text),
            ("department", Text),
            ("kind", Text),
            ("card_no", Int),
            ("card_state", Text),
            ("balance", Money),
        ],
        ReportKind::Extensions => &[
            ("card_no", Int),
            ("person_no", Text),
            ("name", Text),
            ("department", Text),
            ("kind", Text),
            ("old_until", Date),
            ("new_until", Date),
            ("extended_at", Time),
            ("operator", Text),
        ],
        ReportKind::Losses => &[
            ("card_no", Int),
            ("person_no", Text),
            ("name", Text),
            ("department", Text),
            ("kind", Text),
            ("lost_at", Time),
            ("operator", Text),
            ("outcome", Text),
            ("outcome_at", Time),
            ("new_card_no", Int),
        ],
    }
}

/// Local midnight of `d` as UTC (the earlier one if the clock went back; UTC midnight if the
/// local midnight does not exist).
pub fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_time(NaiveTime::MIN);
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// `at` (an event's time column) within the range.
fn push_range(b: &mut QueryBuilder<'_, Postgres>, at: &str, f: &Filter) {
    if let Some(from) = f.from {
        b.push(format!(" AND {at} >= "))
            .push_bind(local_midnight(from));
    }
    if let Some(to) = f.to.and_then(|d| d.succ_opt()) {
        b.push(format!(" AND {at} < "))
            .push_bind(local_midnight(to));
    }
}

fn push_common(b: &mut QueryBuilder<'_, Postgres>, card: &str, f: &Filter) {
    if let Some(dept) = f
        .department
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        b.push(" AND (d.code = ")
            .push_bind(dept.to_string())
            .push(" OR d.name = ")
            .push_bind(dept.to_string())
            .push(")");
    }
    if let Some(kind) = f.kind {
        b.push(format!(" AND {card}.kind = "))
            .push_bind(kind.name());
    }
}

fn push_operator(b: &mut QueryBuilder<'_, Postgres>, f: &Filter) {
    if let Some(op) = f
        .operator
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        b.push(" AND (o.login = ")
            .push_bind(op.to_string())
            .push(" OR ce.actor = ")
            .push_bind(op.to_string())
            .push(")");
    }
}

/// The report's rows in order (`SELECT` list as in `spec`), after `prefix` (to wrap it).
fn build(kind: ReportKind, f: &Filter, prefix: &str) -> QueryBuilder<'static, Postgres> {
    let mut b = QueryBuilder::new(prefix);
    match kind {
        ReportKind::Issued => {
            // One row per card issued. The card desk writes an `issue` event on a new card; a
            // reissue or an exchange is written on the old card (`other_card_id`: the new one)
            // or on the new card (`other_card_id`: the old one, which `replaces_card_id` names
            // too): either way the row is the new card's, once.
            b.push(
                "SELECT card_no, person_no, name, department, kind, how, issued_at, operator FROM (
                 SELECT DISTINCT ON (c.id) c.card_no, p.person_no, p.name, d.name AS department,
                        c.kind, ce.event AS how, ce.at AS issued_at,
                        coalesce(o.login, ce.actor) AS operator, ce.id AS event_id
                 FROM card_event ce
                 JOIN card ec ON ec.id = ce.card_id
                 JOIN card c ON c.id = CASE
                     WHEN ce.event = 'issue' THEN ce.card_id
                     WHEN ec.replaces_card_id IS NOT NULL AND ec.replaces_card_id = ce.other_card_id
                         THEN ce.card_id
                     ELSE coalesce(ce.other_card_id, ce.card_id) END
                 JOIN person p ON p.id = c.person_id
                 JOIN department d ON d.id = p.department_id
                 LEFT JOIN operator o ON o.id = ce.operator_id
                 WHERE ce.event IN ('issue', 'reissue', 'exchange')",
            );
            push_range(&mut b, "ce.at", f);
            push_common(&mut b, "c", f);
            push_operator(&mut b, f);
            b.push(
                " ORDER BY c.id, (ce.event = 'issue'), ce.at, ce.id) r
                 ORDER BY issued_at, event_id",
            );
        }
        ReportKind::Balances => {
            b.push(
                "SELECT p.person_no, p.name, d.name AS department, c.kind, c.card_no,
                        c.state AS card_state, a.balance - coalesce(ap.amount, 0) AS balance
                 FROM account a
                 LEFT JOIN account_pending ap ON ap.account_id = a.id
                 JOIN person p ON p.id = a.person_id
                 JOIN department d ON d.id = p.department_id
                 LEFT JOIN card c ON c.person_id = p.id AND c.state IN ('active', 'lost')
                 WHERE a.kind = 'cardholder'",
            );
            push_common(&mut b, "c", f);
            b.push(" ORDER BY d.name, p.person_no");
        }
        ReportKind::Extensions => {
            b.push(
                "SELECT c.card_no, p.person_no, p.name, d.name AS department, c.kind,
                        ce.old_until, ce.new_until, ce.at AS extended_at,
                        coalesce(o.login, ce.actor) AS operator
                 FROM card_event ce
                 JOIN card c ON c.id = ce.card_id
                 JOIN person p ON p.id = c.person_id
                 JOIN department d ON d.id = p.department_id
                 LEFT JOIN operator o ON o.id = ce.operator_id
                 WHERE ce.event = 'extend'",
            );
            push_range(&mut b, "ce.at", f);
            push_common(&mut b, "c", f);
            push_operator(&mut b, f);
            b.push(" ORDER BY ce.at, ce.id");
        }
        ReportKind::Losses => {
            // What came of the loss: the card's next found / reissue / return / cancel event;
            // failing that (a reissue written on the new card only), its state.
            b.push(
                "SELECT c.card_no, p.person_no, p.name, d.name AS department, c.kind,
                        ce.at AS lost_at, coalesce(o.login, ce.actor) AS operator,
                        CASE coalesce(nx.event, CASE c.state WHEN 'replaced' THEN 'reissue'
                                                             WHEN 'cancelled' THEN 'cancel' END)
                            WHEN 'report_found' THEN 'found'
                            WHEN 'reissue' THEN 'reissued'
                            WHEN 'return' THEN 'returned'
                            WHEN 'cancel' THEN 'cancelled'
                            ELSE 'still lost' END AS outcome,
                        coalesce(nx.at, CASE WHEN c.state = 'replaced' THEN nc.issued_at END) AS outcome_at,
                        nc.card_no AS new_card_no
                 FROM card_event ce
                 JOIN card c ON c.id = ce.card_id
                 JOIN person p ON p.id = c.person_id
                 JOIN department d ON d.id = p.department_id
                 LEFT JOIN operator o ON o.id = ce.operator_id
                 LEFT JOIN LATERAL (
                     SELECT e.event, e.at, e.other_card_id FROM card_event e
                     WHERE e.card_id = ce.card_id
                       AND e.event IN ('report_found', 'reissue', 'return', 'cancel')
                       AND (e.at, e.id) > (ce.at, ce.id)
                     ORDER BY e.at, e.id LIMIT 1) nx ON true
                 LEFT JOIN card nc ON nc.id = CASE
                     WHEN nx.event = 'reissue' THEN coalesce(nx.other_card_id, c.replaced_by_card_id)
                     WHEN nx.event IS NULL AND c.state = 'replaced' THEN c.replaced_by_card_id END
                 WHERE ce.event = 'report_lost'",
            );
            push_range(&mut b, "ce.at", f);
            push_common(&mut b, "c", f);
            push_operator(&mut b, f);
            b.push(" ORDER BY ce.at, ce.id");
        }
    }
    b
}

/// A row as text, column by column, amounts written by `write` (on screen `Money`'s `Display`,
/// in CSV `Money::csv`); the balance also as a number (for the total).
fn texts(
    kind: ReportKind,
    row: &PgRow,
    write: fn(&Money) -> String,
) -> Result<(Vec<String>, Option<Money>), sqlx::Error> {
    let mut out = Vec::with_capacity(spec(kind).len());
    let mut money = None;
    for (i, (_, ty)) in spec(kind).iter().enumerate() {
        let s = match ty {
            Ty::Text => row.try_get::<Option<String>, _>(i)?.unwrap_or_default(),
            Ty::Int => row
                .try_get::<Option<i64>, _>(i)?
                .map(|n| n.to_string())
                .unwrap_or_default(),
            Ty::Date => row
                .try_get::<Option<NaiveDate>, _>(i)?
                .map(|d| d.to_string())
                .unwrap_or_default(),
            Ty::Time => row
                .try_get::<Option<DateTime<Utc>>, _>(i)?
                .map(export::local_time)
                .unwrap_or_default(),
            Ty::Money => {
                let m = row.try_get::<Option<Money>, _>(i)?;
                money = m;
                m.as_ref().map(write).unwrap_or_default()
            }
        };
        out.push(s);
    }
    Ok((out, money))
}

/// The balances total line: the number of accounts and the sum, shaped like a row. Always on
/// screen (a total is never a row of the file).
fn total_line(kind: ReportKind, count: u64, sum: Money) -> Option<Vec<String>> {
    (kind == ReportKind::Balances).then(|| {
        let mut line = vec![String::new(); spec(kind).len()];
        line[0] = "total".into();
        line[1] = format!("{count} accounts");
        if let Some(last) = line.last_mut() {
            *last = sum.to_string();
        }
        line
    })
}

/// The first `limit` rows of a report, the number of rows in all and (balances) the total.
pub async fn query(
    pool: &PgPool,
    kind: ReportKind,
    filter: &Filter,
    limit: i64,
) -> Result<ReportPage, ReportError> {
    let sum = if kind == ReportKind::Balances {
        "coalesce(sum(r.balance), 0)::numeric"
    } else {
        "0::numeric"
    };
    let mut count = build(
        kind,
        filter,
        &format!("SELECT count(*)::int8, {sum} FROM ("),
    );
    count.push(") r");
    let (total_rows, sum): (i64, Money) = count.build_query_as().fetch_one(pool).await?;

    let mut page = build(kind, filter, "");
    page.push(" LIMIT ").push_bind(limit.max(0));
    let fetched = page.build().fetch_all(pool).await?;
    let mut rows = Vec::with_capacity(fetched.len());
    for r in &fetched {
        rows.push(texts(kind, r, Money::to_string)?.0);
    }
    let total_rows = u64::try_from(total_rows).unwrap_or(0);
    Ok(ReportPage {
        kind,
        filter: filter.clone(),
        columns: kind.columns().into_iter().map(String::from).collect(),
        numeric: spec(kind)
            .iter()
            .map(|c| matches!(c.1, Ty::Int | Ty::Money))
            .collect(),
        rows,
        total_rows,
        total: total_line(kind, total_rows, sum),
    })
}

/// Streams the whole report as CSV ([`crate::export`]'s: a byte-order mark, the header, data
/// rows only) into `writer`, row by row as the database sends them. Returns the number of rows
/// written. An operator needs [`Action::ReportExport`].
pub async fn export_csv<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    kind: ReportKind,
    filter: &Filter,
    writer: W,
) -> Result<u64, ReportError> {
    let (csv, _) = stream(pool, actor, kind, filter, writer).await?;
    let rows = csv.rows();
    csv.finish()?;
    Ok(rows)
}

/// The whole report as a CSV file at `path`; an existing file is replaced only with
/// [`Existing::Overwrite`]. The balances total comes back beside the file.
pub async fn export_file(
    pool: &PgPool,
    actor: &Actor,
    kind: ReportKind,
    filter: &Filter,
    path: &Path,
    existing: Existing,
) -> Result<Exported, ReportError> {
    actor.authorize(Action::ReportExport)?;
    let file = CsvFile::create(path, existing)?;
    let (csv, sum) = stream(pool, actor, kind, filter, file).await?;
    let rows = csv.rows();
    let path = csv.finish()?.commit()?;
    Ok(Exported {
        path,
        rows,
        total: total_line(kind, rows, sum),
    })
}

/// Writes every row; returns the writer (not yet finished) and the sum of the money column.
async fn stream<W: Write>(
    pool: &PgPool,
    actor: &Actor,
    kind: ReportKind,
    filter: &Filter,
    writer: W,
) -> Result<(Csv<W>, Money), ReportError> {
    actor.authorize(Action::ReportExport)?;
    let mut out = Csv::new(writer, &kind.columns())?;
    let mut b = build(kind, filter, "");
    let mut rows = b.build().fetch(pool);
    let mut sum = Money::ZERO;
    while let Some(row) = rows.try_next().await? {
        let (line, money) = texts(kind, &row, |m| m.csv())?;
        out.row(&line)?;
        sum += money.unwrap_or_default();
    }
    Ok((out, sum))
}

// ---------------------------------------------------------------- the command line

/// What `onecard report` reports on: one of the card desk's four, or attendance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ReportName {
    /// Cards issued (new, reissued, exchanged).
    Issued,
    /// Each cardholder account's balance, with a total.
    Balances,
    /// Expiry dates moved.
    Extensions,
    /// Loss reports and what came of them.
    Losses,
    /// Attendance per person per day, with totals per person (`--from` and `--to` needed).
    Attendance,
}

impl ReportName {
    /// The card desk's report, None for attendance.
    pub fn card_desk(self) -> Option<ReportKind> {
        match self {
            ReportName::Issued => Some(ReportKind::Issued),
            ReportName::Balances => Some(ReportKind::Balances),
            ReportName::Extensions => Some(ReportKind::Extensions),
            ReportName::Losses => Some(ReportKind::Losses),
            ReportName::Attendance => None,
        }
    }
}

impl From<ReportKind> for ReportName {
    fn from(k: ReportKind) -> ReportName {
        match k {
            ReportKind::Issued => ReportName::Issued,
            ReportKind::Balances => ReportName::Balances,
            ReportKind::Extensions => ReportName::Extensions,
            ReportKind::Losses => ReportName::Losses,
        }
    }
}

/// `onecard report issued|balances|extensions|losses|attendance [filters] [--csv FILE]`
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub report: ReportName,
    /// First day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// A department's code or name.
    #[arg(long)]
    pub department: Option<String>,
    /// Card kind: staff, student or temporary.
    #[arg(long)]
    pub kind: Option<CardKind>,
    /// The operator's login (who wrote the event).
    #[arg(long)]
    pub operator: Option<String>,
    /// Attendance: one person, by person number.
    #[arg(long)]
    pub person: Option<String>,
    /// Attendance: one status (present, late, left_early, late_left_early, absent,
    /// missing_punch, leave, trip, rest, holiday).
    #[arg(long)]
    pub status: Option<String>,
    /// Write the whole report as CSV to FILE (`-`: standard output) instead of a table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Replace FILE if it exists (otherwise an existing file is refused).
    #[arg(long, requires = "csv")]
    pub overwrite: bool,
    /// Rows shown in the table (the CSV always has them all).
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

impl ReportArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            from: self.from,
            to: self.to,
            department: self.department.clone(),
            kind: self.kind,
            operator: self.operator.clone(),
        }
    }
}

/// A table for a terminal: columns padded by display width (CJK names are two cells a
/// character), numbers right-aligned.
pub fn render_table(page: &ReportPage) -> String {
    text_table(
        &page.columns,
        &page.numeric,
        &page.rows,
        page.total.as_ref(),
    )
}

/// A text table (the reports', and any other command's): columns padded by display width,
/// the `numeric` ones right-aligned, a ruled-off total line if any.
pub fn text_table<S: AsRef<str>>(
    columns: &[S],
    numeric: &[bool],
    rows: &[Vec<String>],
    total: Option<&Vec<String>>,
) -> String {
    let columns: Vec<String> = columns.iter().map(|c| c.as_ref().to_string()).collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.width()).collect();
    for row in rows.iter().chain(total) {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.width());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (v, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(v.width()));
            if i > 0 {
                s.push_str("  ");
            }
            if numeric.get(i).copied().unwrap_or(false) {
                s.push_str(&pad);
                s.push_str(v);
            } else {
                s.push_str(v);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let rule = line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    let mut out = line(&columns);
    out.push_str(&rule);
    for row in rows {
        out.push_str(&line(row));
    }
    // Ruled off: the total is not one of the rows.
    if let Some(total) = total {
        out.push_str(&rule);
        out.push_str(&line(total));
    }
    out
}

/// Runs `onecard report ...`: a table on `out`, or the CSV to a file (never replacing one
/// unless `--overwrite`; a failed export leaves no half file) or to standard output (`-`).
pub async fn cli(
    pool: &PgPool,
    actor: &Actor,
    args: &ReportArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(kind) = args.report.card_desk() else {
        return attendance::cli(pool, actor, args, out).await;
    };
    if args.person.is_some() || args.status.is_some() {
        anyhow::bail!("--person and --status apply to the attendance report only");
    }
    if !kind.dated() && (args.from.is_some() || args.to.is_some() || args.operator.is_some()) {
        anyhow::bail!("balances are as they are now: --from, --to and --operator do not apply");
    }
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if from > to {
            anyhow::bail!("--from {from} is after --to {to}");
        }
    }
    let filter = args.filter();
    match &args.csv {
        Some(path) if path.as_os_str() == "-" => {
            let n = export_csv(pool, actor, kind, &filter, &mut *out).await?;
            let _ = writeln!(std::io::stderr(), "{n} rows");
        }
        Some(path) => {
            let existing = if args.overwrite {
                Existing::Overwrite
            } else {
                Existing::Refuse
            };
            let done = match export_file(pool, actor, kind, &filter, path, existing).await {
                Err(ReportError::Export(ExportError::Exists(p))) => anyhow::bail!(
                    "{} exists already: choose another name, or --overwrite to replace it",
                    p.display()
                ),
                other => other?,
            };
            writeln!(
                out,
                "report {}: {} rows written to {}",
                kind,
                done.rows,
                done.path.display()
            )?;
            if let Some(total) = &done.total {
                let words: Vec<&str> = total
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                writeln!(out, "{}", words.join("  "))?;
            }
        }
        None => {
            let page = query(pool, kind, &filter, args.limit).await?;
            out.write_all(render_table(&page).as_bytes())?;
            let shown = page.rows.len() as u64;
            if shown < page.total_rows {
                writeln!(
                    out,
                    "{shown} of {} rows shown (--limit); --csv FILE writes them all",
                    page.total_rows
                )?;
            } else {
                writeln!(out, "{} rows", page.total_rows)?;
            }
        }
    }
    Ok(())
}
