//! The omission calculation (遗漏计算) for a time range: every due visit with its class, the
//! totals and compliance per guard, route, shift and day, and what the scans say (repeats,
//! off-route, suspicious).

use super::{ensure_expanded, PatrolError, VisitClass};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

/// Rounds starting in [from, to), optionally of one guard (rounds of their group included) or
/// one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmissionQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub guard: Option<i64>,
    pub route: Option<i64>,
}

impl OmissionQuery {
    fn check(&self) -> Result<(), PatrolError> {
        if self.to < self.from {
            Err(PatrolError::BadRange)
        } else {
            Ok(())
        }
    }
}

/// One due visit.
#[derive(Debug, Clone, PartialEq)]
pub struct DueVisit {
    pub visit_id: i64,
    /// The guard's name, or the group's when a group walks the round.
    pub guard: String,
    pub guard_card: Option<i64>,
    pub route: String,
    pub shift: String,
    pub day: NaiveDate,
    pub start_at: DateTime<Utc>,
    pub seq: i32,
    pub checkpoint_tag: i64,
    pub checkpoint: String,
    pub due: DateTime<Utc>,
    pub win_start: DateTime<Utc>,
    pub win_end: DateTime<Utc>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// The reader's clock minus site time when the scan was read, seconds.
    pub drift_s: Option<i32>,
    pub reader: Option<String>,
    pub class: VisitClass,
}

/// Resolves a guard by card number or name.
pub async fn guard_id(pool: &PgPool, guard: &str) -> Result<i64, PatrolError> {
    let g = guard.trim();
    let card = g.parse::<i64>().ok();
    sqlx::query_scalar(
        "SELECT id FROM guard WHERE card = $1 OR name = $2 ORDER BY card = $1 DESC LIMIT 1",
    )
    .bind(card)
    .bind(g)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| PatrolError::NoGuard(g.to_string()))
}

/// Resolves a route by name or id.
pub async fn route_id(pool: &PgPool, route: &str) -> Result<i64, PatrolError> {
    let r = route.trim();
    sqlx::query_scalar(
        "SELECT id FROM patrol_route WHERE name = $1 OR id::text = $1 ORDER BY name = $1 DESC LIMIT 1",
    )
    .bind(r)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| PatrolError::NoRoute(r.to_string()))
}

/// The visits' filter on guard and route, for `v` (patrol_visit) with $3 guard and $4 route.
const FILTER: &str = "($3::bigint IS NULL OR v.guard_id = $3
        OR v.group_id = (SELECT g.group_id FROM guard g WHERE g.id = $3))
    AND ($4::bigint IS NULL OR v.route_id = $4)";

/// Every visit due in the range, by round start and route order, classified at `now`.
pub async fn visits(
    pool: &PgPool,
    q: &OmissionQuery,
    now: DateTime<Utc>,
) -> Result<Vec<DueVisit>, PatrolError> {
    q.check()?;
    ensure_expanded(pool, q.to).await?;
    let rows = sqlx::query(&format!(
        "SELECT v.id, coalesce(g.name, gg.name) AS guard, g.card, r.name AS route, v.shift, v.day,
                v.start_at, v.seq, v.checkpoint_tag, c.name AS checkpoint, v.due, v.win_start,
                v.win_end, v.scanned_at, p.drift_s, t.name AS reader, patrol_class(v, $5) AS class
         FROM patrol_visit v
         JOIN patrol_route r ON r.id = v.route_id
         JOIN checkpoint c ON c.tag = v.checkpoint_tag
         LEFT JOIN guard g ON g.id = v.guard_id
         LEFT JOIN guard_group gg ON gg.id = v.group_id
         LEFT JOIN patrol_scan p ON p.terminal_id = v.scan_terminal_id AND p.record_no = v.scan_record_no
         LEFT JOIN terminal t ON t.id = v.scan_terminal_id
         WHERE v.start_at >= $1 AND v.start_at < $2 AND {FILTER}
         ORDER BY v.start_at, guard, v.route_id, v.seq"
    ))
    .bind(q.from)
    .bind(q.to)
    .bind(q.guard)
    .bind(q.route)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let class: String = r.try_get("class")?;
            Ok(DueVisit {
                visit_id: r.try_get("id")?,
                guard: r.try_get::<Option<String>, _>("guard")?.unwrap_or_default(),
                guard_card: r.try_get("card")?,
                route: r.try_get("route")?,
                shift: r.try_get("shift")?,
                day: r.try_get("day")?,
                start_at: r.try_get("start_at")?,
                seq: r.try_get("seq")?,
                checkpoint_tag: r.try_get("checkpoint_tag")?,
                checkpoint: r.try_get("checkpoint")?,
                due: r.try_get("due")?,
                win_start: r.try_get("win_start")?,
                win_end: r.try_get("win_end")?,
                scanned_at: r.try_get("scanned_at")?,
                drift_s: r.try_get("drift_s")?,
                reader: r.try_get("reader")?,
                class: VisitClass::parse(&class).unwrap_or(VisitClass::Pending),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(PatrolError::from)
}

/// The omission CSV's columns: one row per due visit.
pub const CSV_HEADER: [&str; 8] = [
    "guard",
    "route",
    "checkpoint",
    "due",
    "window_start",
    "window_end",
    "scanned_at",
    "class",
];

/// A due visit as a CSV row: times in local time, the checkpoint as `tag name`.
pub fn csv_row(v: &DueVisit) -> [String; 8] {
    use crate::export::local_time;
    [
        v.guard.clone(),
        v.route.clone(),
        format!("{} {}", v.checkpoint_tag, v.checkpoint),
        local_time(v.due),
        local_time(v.win_start),
        local_time(v.win_end),
        v.scanned_at.map(local_time).unwrap_or_default(),
        v.class.name().to_string(),
    ]
}

/// Writes `visits` as the omission CSV to `out` (the export's rules: a byte-order mark, local
/// times) and audits the export, who asked and what: `Action::ReportExport`.
pub async fn export<W: std::io::Write>(
    pool: &PgPool,
    actor: &crate::domain::permission::Actor,
    q: &OmissionQuery,
    visits: &[DueVisit],
    out: W,
    target: &str,
) -> Result<(W, u64), PatrolError> {
    actor.authorize(crate::domain::permission::Action::ReportExport)?;
    let mut csv = crate::export::Csv::new(out, &CSV_HEADER)?;
    for v in visits {
        csv.row(csv_row(v))?;
    }
    let rows = csv.rows();
    let out = csv.finish()?;
    let mut tx = pool.begin().await?;
    crate::db::audit::append(
        &mut tx,
        actor,
        "patrol.omissions.export",
        "patrol",
        "omissions",
        None,
        Some(serde_json::json!({
            "from": q.from, "to": q.to, "guard": q.guard, "route": q.route, "rows": rows,
            "file": target,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok((out, rows))
}

/// Counts of visits by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub visits: i64,
    pub on_time: i64,
    pub early: i64,
    pub late: i64,
    pub missed: i64,
    pub pending: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.visits += o.visits;
        self.on_time += o.on_time;
        self.early += o.early;
        self.late += o.late;
        self.missed += o.missed;
        self.pending += o.pending;
    }

    /// Visits on time as a share of those decided (pending ones are not yet), in percent;
    /// None when nothing is decided.
    pub fn compliance(&self) -> Option<f64> {
        let decided = self.visits - self.pending;
        (decided > 0).then(|| self.on_time as f64 * 100.0 / decided as f64)
    }

    pub fn of(&self, c: VisitClass) -> i64 {
        match c {
            VisitClass::OnTime => self.on_time,
            VisitClass::Early => self.early,
            VisitClass::Late => self.late,
            VisitClass::Missed => self.missed,
            VisitClass::Pending => self.pending,
        }
    }
}

/// What totals are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grouping {
    Guard,
    Route,
    Shift,
    Day,
}

/// One line of totals: its key (a guard or group name, a route, a shift or a day).
#[derive(Debug, Clone, PartialEq)]
pub struct Total {
    pub key: String,
    pub counts: Counts,
}

/// The totals of one (day, schedule), the finest grain.
#[derive(Debug, Clone, PartialEq)]
pub struct DayTotal {
    pub day: NaiveDate,
    pub guard: String,
    pub route: String,
    pub shift: String,
    pub counts: Counts,
}

/// Totals per (day, schedule) for the range: whole days come from `patrol_day_total`, the
/// range's partial first and last days from the visits themselves; visits still open at `now`
/// are pending, not missed.
pub async fn day_totals(
    pool: &PgPool,
    q: &OmissionQuery,
    now: DateTime<Utc>,
) -> Result<Vec<DayTotal>, PatrolError> {
    q.check()?;
    ensure_expanded(pool, q.to).await?;
    // The whole site days inside the range, and the instants they start and end at: passed
    // to the main query as values, so the partial days are index ranges.
    let (lo, hi, lo_at, hi_at): (NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "WITH z AS (SELECT site_zone() AS zone),
         b AS (
           SELECT CASE WHEN ($1 AT TIME ZONE z.zone)::time = '00:00'
                       THEN ($1 AT TIME ZONE z.zone)::date ELSE ($1 AT TIME ZONE z.zone)::date + 1 END AS lo,
                  ($2 AT TIME ZONE z.zone)::date AS hi, z.zone
           FROM z)
         SELECT lo, hi, lo::timestamp AT TIME ZONE zone, hi::timestamp AT TIME ZONE zone FROM b",
    )
    .bind(q.from)
    .bind(q.to)
    .fetch_one(pool)
    .await?;
    let first_end = q.to.min(lo_at);
    let last_start = q.from.max(hi_at).max(lo_at);
    let rows = sqlx::query(&format!(
        "WITH whole AS (
           SELECT v.day, v.schedule_id, v.guard_id, v.group_id, v.route_id, v.shift, v.visits,
                  v.on_time, v.early, v.late, v.unscanned
           FROM patrol_day_total v WHERE v.day >= $6 AND v.day < $7 AND {FILTER}),
         edge AS (
           SELECT v.day, v.schedule_id, min(v.guard_id) AS guard_id, min(v.group_id) AS group_id,
                  min(v.route_id) AS route_id, min(v.shift) AS shift, count(*)::int AS visits,
                  count(*) FILTER (WHERE v.scanned_at BETWEEN v.win_start AND v.win_end)::int AS on_time,
                  count(*) FILTER (WHERE v.scanned_at < v.win_start)::int AS early,
                  count(*) FILTER (WHERE v.scanned_at > v.win_end)::int AS late,
                  count(*) FILTER (WHERE v.scanned_at IS NULL)::int AS unscanned
           FROM patrol_visit v
           WHERE ((v.start_at >= $1 AND v.start_at < $8) OR (v.start_at >= $9 AND v.start_at < $2))
             AND {FILTER}
           GROUP BY v.day, v.schedule_id),
         open AS (
           SELECT v.day, v.schedule_id, count(*)::int AS pending FROM patrol_visit v
           WHERE v.start_at >= greatest($1, $5 - interval '3 days') AND v.start_at < $2
             AND v.scanned_at IS NULL AND v.period_end > $5 AND NOT v.swept AND {FILTER}
           GROUP BY v.day, v.schedule_id),
         t AS (SELECT * FROM whole UNION ALL SELECT * FROM edge)
         SELECT t.day, coalesce(g.name, gg.name, '') AS guard, r.name AS route, t.shift, t.visits,
                t.on_time, t.early, t.late, t.unscanned, coalesce(o.pending, 0) AS pending
         FROM t JOIN patrol_route r ON r.id = t.route_id
         LEFT JOIN guard g ON g.id = t.guard_id
         LEFT JOIN guard_group gg ON gg.id = t.group_id
         LEFT JOIN open o ON o.day = t.day AND o.schedule_id = t.schedule_id
         ORDER BY t.day, guard, route"
    ))
    .bind(q.from)
    .bind(q.to)
    .bind(q.guard)
    .bind(q.route)
    .bind(now)
    .bind(lo)
    .bind(hi)
    .bind(first_end)
    .bind(last_start)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let n = |c: &str| r.try_get::<i32, _>(c).map(i64::from);
            let pending = n("pending")?;
            Ok(DayTotal {
                day: r.try_get("day")?,
                guard: r.try_get("guard")?,
                route: r.try_get("route")?,
                shift: r.try_get("shift")?,
                counts: Counts {
                    visits: n("visits")?,
                    on_time: n("on_time")?,
                    early: n("early")?,
                    late: n("late")?,
                    missed: n("unscanned")? - pending,
                    pending,
                },
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(PatrolError::from)
}

/// Totals grouped by `by`, in key order, and the grand total.
pub fn group(days: &[DayTotal], by: Grouping) -> (Vec<Total>, Counts) {
    let mut map: BTreeMap<String, Counts> = BTreeMap::new();
    let mut all = Counts::default();
    for d in days {
        let key = match by {
            Grouping::Guard => d.guard.clone(),
            Grouping::Route => d.route.clone(),
            Grouping::Shift => d.shift.clone(),
            Grouping::Day => d.day.to_string(),
        };
        map.entry(key).or_default().add(&d.counts);
        all.add(&d.counts);
    }
    (
        map.into_iter()
            .map(|(key, counts)| Total { key, counts })
            .collect(),
        all,
    )
}

/// What a scan turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanClass {
    /// Used for a due visit.
    Matched,
    /// Another scan of a checkpoint already matched in the same round.
    Repeat,
    /// A checkpoint of the guard's rounds, but outside every round's period.
    OutsidePeriod,
    /// A checkpoint no round of that guard expects.
    OffRoute,
    /// The reader reported an unknown guard or tag, or no time.
    Unknown,
}

impl ScanClass {
    pub fn name(self) -> &'static str {
        match self {
            ScanClass::Matched => "matched",
            ScanClass::Repeat => "repeat",
            ScanClass::OutsidePeriod => "outside_period",
            ScanClass::OffRoute => "off_route",
            ScanClass::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> ScanClass {
        match s {
            "matched" => ScanClass::Matched,
            "repeat" => ScanClass::Repeat,
            "outside_period" => ScanClass::OutsidePeriod,
            "off_route" => ScanClass::OffRoute,
            _ => ScanClass::Unknown,
        }
    }
}

/// One scan, read against the rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFinding {
    pub terminal_id: i64,
    pub record_no: i64,
    pub reader: String,
    pub guard_card: i64,
    pub guard: Option<String>,
    pub checkpoint_tag: i64,
    pub checkpoint: Option<String>,
    /// The reader's own time, and the site time it stands for after the drift correction.
    pub terminal_time: Option<chrono::NaiveDateTime>,
    pub drift_s: i32,
    pub scanned_at: Option<DateTime<Utc>>,
    pub class: ScanClass,
    /// The reader's clock was off by more than `patrol.max_drift_s` when it was read.
    pub clock_suspect: bool,
    /// Closer in time to the same guard's previous scan on the same reader (another checkpoint)
    /// between them allows.
    pub too_fast: bool,
}

/// The walking speed (m/s), the shortest walk between two checkpoints (s), and the largest
/// drift (s) a reader may have before its scans are suspicious: settings `patrol.*`.
pub const WALK_SPEED_KEY: &str = "patrol.walk_speed_mps";
pub const MIN_WALK_KEY: &str = "patrol.min_walk_s";
pub const MAX_DRIFT_KEY: &str = "patrol.max_drift_s";

/// The scans stored for the range (site time), with what each turned out to be.
pub async fn scans(pool: &PgPool, q: &OmissionQuery) -> Result<Vec<ScanFinding>, PatrolError> {
    q.check()?;
    ensure_expanded(pool, q.to).await?;
    let rows = sqlx::query(
        "WITH s AS (
           SELECT p.*, lag(p.checkpoint_tag) OVER w AS prev_tag, lag(p.scanned_at) OVER w AS prev_at
           FROM patrol_scan p
           WHERE p.scanned_at >= $1 - interval '1 day' AND p.scanned_at < $2
           WINDOW w AS (PARTITION BY p.terminal_id, p.guard_card ORDER BY p.scanned_at, p.record_no)),
         cfg AS (SELECT patrol_setting('patrol.walk_speed_mps', 1.2) AS speed,
                        patrol_setting('patrol.min_walk_s', 10) AS min_walk,
                        patrol_setting('patrol.max_drift_s', 120) AS max_drift)
         SELECT s.terminal_id, s.record_no, coalesce(t.name, '') AS reader, s.guard_card,
                g.name AS guard, s.checkpoint_tag, c.name AS checkpoint, s.terminal_time,
                coalesce(s.drift_s, 0) AS drift_s, s.scanned_at,
                CASE WHEN s.event <> 0 OR s.scanned_at IS NULL OR g.id IS NULL THEN 'unknown'
                     WHEN mv.id IS NOT NULL THEN 'matched'
                     WHEN NOT EXISTS (
                        SELECT 1 FROM patrol_schedule sc JOIN route_checkpoint rc ON rc.route_id = sc.route_id
                        WHERE rc.checkpoint_tag = s.checkpoint_tag
                          AND (sc.guard_id = g.id OR sc.group_id = g.group_id)) THEN 'off_route'
                     WHEN EXISTS (
                        SELECT 1 FROM patrol_visit v
                        WHERE v.checkpoint_tag = s.checkpoint_tag AND (v.guard_id = g.id OR v.group_id = g.group_id)
                          AND v.period_start <= s.scanned_at AND v.period_start > s.scanned_at - interval '2 days'
                          AND v.period_end > s.scanned_at) THEN 'repeat'
                     ELSE 'outside_period' END AS class,
                abs(coalesce(s.drift_s, 0)) > cfg.max_drift AS clock_suspect,
                coalesce(s.prev_tag IS NOT NULL AND s.prev_tag <> s.checkpoint_tag
                  AND extract(epoch FROM s.scanned_at - s.prev_at) < greatest(cfg.min_walk,
                      CASE WHEN c.map_id IS NOT NULL AND c.map_id = c2.map_id
                           THEN sqrt((c.x - c2.x) ^ 2 + (c.y - c2.y) ^ 2) * m.metres_per_unit / cfg.speed
                           ELSE 0 END), false) AS too_fast
         FROM s CROSS JOIN cfg
         LEFT JOIN terminal t ON t.id = s.terminal_id
         LEFT JOIN guard g ON g.card = s.guard_card
         LEFT JOIN checkpoint c ON c.tag = s.checkpoint_tag
         LEFT JOIN checkpoint c2 ON c2.tag = s.prev_tag
         LEFT JOIN patrol_map m ON m.id = c.map_id
         LEFT JOIN patrol_visit mv ON mv.scan_terminal_id = s.terminal_id AND mv.scan_record_no = s.record_no
         WHERE s.scanned_at >= $1 AND ($3::bigint IS NULL OR g.id = $3)
           AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM route_checkpoint rc
                WHERE rc.route_id = $4 AND rc.checkpoint_tag = s.checkpoint_tag))
         ORDER BY s.scanned_at, s.terminal_id, s.record_no",
    )
    .bind(q.from)
    .bind(q.to)
    .bind(q.guard)
    .bind(q.route)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let class: String = r.try_get("class")?;
            Ok(ScanFinding {
                terminal_id: r.try_get("terminal_id")?,
                record_no: r.try_get("record_no")?,
                reader: r.try_get("reader")?,
                guard_card: r.try_get("guard_card")?,
                guard: r.try_get("guard")?,
                checkpoint_tag: r.try_get("checkpoint_tag")?,
                checkpoint: r.try_get("checkpoint")?,
                terminal_time: r.try_get("terminal_time")?,
                drift_s: r.try_get("drift_s")?,
                scanned_at: r.try_get("scanned_at")?,
                class: ScanClass::parse(&class),
                clock_suspect: r.try_get("clock_suspect")?,
                too_fast: r.try_get("too_fast")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(PatrolError::from)
}
