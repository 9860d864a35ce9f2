//! The Patrol tab's lists: the open exceptions with who closed what lately, and the omission
//! report (totals, due visits, scan findings).

use crate::app::form::FieldId;
use crate::app::load::Shown;
use crate::db::patrol::exceptions::PatrolException;
use crate::db::patrol::omissions::{Counts, DayTotal, DueVisit, Grouping, ScanFinding};
use chrono::{DateTime, Utc};

/// How many open exceptions are read at most.
pub const OPEN_MAX: i64 = 1000;
/// How far back the closed ones are shown.
pub const HISTORY_DAYS: i64 = 7;

#[derive(Debug, Clone, Default)]
pub struct ExceptionsModel {
    pub open: Vec<PatrolException>,
    /// Closed (or scanned afterwards) in the last [`HISTORY_DAYS`], newest first.
    pub history: Vec<PatrolException>,
    pub at: usize,
    pub shown: Shown,
    pub loaded: bool,
}

impl ExceptionsModel {
    pub fn selected(&self) -> Option<&PatrolException> {
        self.open.get(self.at)
    }
}

pub const GROUPINGS: [Grouping; 4] = [
    Grouping::Guard,
    Grouping::Route,
    Grouping::Shift,
    Grouping::Day,
];

/// The report as read: the due visits, the day totals they sum up and the scan findings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub visits: Vec<DueVisit>,
    pub days: Vec<DayTotal>,
    pub findings: Vec<ScanFinding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OmissionField {
    From,
    To,
    Guard,
    Route,
    Path,
}

impl FieldId for OmissionField {
    fn label(self) -> &'static str {
        match self {
            OmissionField::From => "patrol.form.from",
            OmissionField::To => "patrol.form.to",
            OmissionField::Guard => "patrol.form.guard",
            OmissionField::Route => "patrol.form.route",
            OmissionField::Path => "patrol.form.path",
        }
    }
}

/// The report's range and filters as the operator gave them (names, resolved when read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub guard: String,
    pub route: String,
}

#[derive(Debug, Clone, Default)]
pub struct OmissionsModel {
    /// None until the tab is first shown: then the last 24 hours.
    pub range: Option<Range>,
    pub grouping: usize,
    pub report: Option<Report>,
    pub at: usize,
    pub shown: Shown,
}

impl OmissionsModel {
    pub fn grouping(&self) -> Grouping {
        GROUPINGS[self.grouping % GROUPINGS.len()]
    }

    /// The totals by the grouping chosen, and all of them.
    pub fn totals(&self) -> (Vec<crate::db::patrol::omissions::Total>, Counts) {
        match &self.report {
            Some(r) => crate::db::patrol::omissions::group(&r.days, self.grouping()),
            None => (vec![], Counts::default()),
        }
    }
}

/// "2026-11-22 03:04" in local time, or a date alone (midnight): a time as the operator types
/// it. None: not a time.
pub fn parse_local(text: &str, offset: chrono::FixedOffset) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let t = text.trim();
    let naive = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}
