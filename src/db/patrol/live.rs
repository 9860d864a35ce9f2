//! The patrol map's live state: each checkpoint by its most urgent visit in the rounds under
//! way, each guard's last position, and the latest scans.

use super::VisitClass;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// How soon before its window opens a visit is "due soon".
pub const DUE_SOON: chrono::Duration = chrono::Duration::minutes(5);
/// How long a closed round's missed visit stays on the map.
pub const MISSED_SHOWN: chrono::Duration = chrono::Duration::hours(1);

/// A checkpoint's state on the live map, most urgent last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LiveState {
    /// No round expects it now.
    Idle,
    /// Its visit is due later.
    Waiting,
    OnTime,
    Early,
    Late,
    /// Its window opens within [`DUE_SOON`], or is open and not scanned yet.
    DueSoon,
    /// Missed in a round that closed within [`MISSED_SHOWN`].
    Missed,
    /// Its window has passed, unscanned, and the round is still open.
    Overdue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointLive {
    pub tag: i64,
    pub name: String,
    pub place: Option<(i64, f32, f32)>,
    pub state: LiveState,
    pub due: Option<DateTime<Utc>>,
    pub win_end: Option<DateTime<Utc>>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub guard: Option<String>,
}

impl CheckpointLive {
    /// How long it has been overdue at `now`, for the running late timer.
    pub fn overdue_by(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        (self.state == LiveState::Overdue)
            .then(|| self.win_end.map(|w| now - w))
            .flatten()
    }
}

fn state_of(class: VisitClass, v: &Visit, now: DateTime<Utc>) -> LiveState {
    match class {
        VisitClass::OnTime => LiveState::OnTime,
        VisitClass::Early => LiveState::Early,
        VisitClass::Late => LiveState::Late,
        VisitClass::Missed => LiveState::Missed,
        VisitClass::Pending if now > v.win_end => LiveState::Overdue,
        VisitClass::Pending if now + DUE_SOON >= v.win_start => LiveState::DueSoon,
        VisitClass::Pending => LiveState::Waiting,
    }
}

struct Visit {
    tag: i64,
    due: DateTime<Utc>,
    win_start: DateTime<Utc>,
    win_end: DateTime<Utc>,
    scanned_at: Option<DateTime<Utc>>,
    guard: Option<String>,
    class: VisitClass,
}

/// Every checkpoint with its live state at `now`.
pub async fn checkpoints(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<Vec<CheckpointLive>, sqlx::Error> {
    let mut out: Vec<CheckpointLive> =
        sqlx::query("SELECT tag, name, map_id, x, y FROM checkpoint ORDER BY tag")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(CheckpointLive {
                    tag: r.try_get("tag")?,
                    name: r.try_get("name")?,
                    place: super::place_of(r)?,
                    state: LiveState::Idle,
                    due: None,
                    win_end: None,
                    scanned_at: None,
                    guard: None,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
    let visits = sqlx::query(
        "SELECT v.checkpoint_tag, v.due, v.win_start, v.win_end, v.scanned_at,
                coalesce(g.name, gg.name) AS guard, patrol_class(v, $1) AS class
         FROM patrol_visit v LEFT JOIN guard g ON g.id = v.guard_id
         LEFT JOIN guard_group gg ON gg.id = v.group_id
         WHERE v.start_at > $1 - interval '2 days' AND v.period_start <= $1 + $3
           AND v.period_end > $1 - $2",
    )
    .bind(now)
    .bind(MISSED_SHOWN)
    .bind(DUE_SOON)
    .fetch_all(pool)
    .await?;
    for r in &visits {
        let class: String = r.try_get("class")?;
        let v = Visit {
            tag: r.try_get("checkpoint_tag")?,
            due: r.try_get("due")?,
            win_start: r.try_get("win_start")?,
            win_end: r.try_get("win_end")?,
            scanned_at: r.try_get("scanned_at")?,
            guard: r.try_get("guard")?,
            class: VisitClass::parse(&class).unwrap_or(VisitClass::Pending),
        };
        let state = state_of(v.class, &v, now);
        if let Some(c) = out.iter_mut().find(|c| c.tag == v.tag) {
            // The most urgent visit speaks for the checkpoint; among equals, the soonest due.
            if state > c.state || (state == c.state && c.due.is_none_or(|d| v.due < d)) {
                c.state = state;
                c.due = Some(v.due);
                c.win_end = Some(v.win_end);
                c.scanned_at = v.scanned_at;
                c.guard = v.guard.clone();
            }
        }
    }
    Ok(out)
}

/// A guard's last scan.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardPosition {
    pub card: i64,
    pub name: String,
    pub checkpoint_tag: i64,
    pub place: Option<(i64, f32, f32)>,
    pub at: DateTime<Utc>,
}

/// Each guard's last scan since `since`.
pub async fn positions(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<GuardPosition>, sqlx::Error> {
    sqlx::query(
        "SELECT g.card, g.name, p.checkpoint_tag, c.map_id, c.x, c.y, p.scanned_at
         FROM guard g CROSS JOIN LATERAL (
             SELECT * FROM patrol_scan p WHERE p.guard_card = g.card AND p.scanned_at >= $1
             ORDER BY p.scanned_at DESC LIMIT 1) p
         LEFT JOIN checkpoint c ON c.tag = p.checkpoint_tag
         ORDER BY g.name",
    )
    .bind(since)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(GuardPosition {
            card: r.try_get("card")?,
            name: r.try_get("name")?,
            checkpoint_tag: r.try_get("checkpoint_tag")?,
            place: super::place_of(r)?,
            at: r.try_get("scanned_at")?,
        })
    })
    .collect()
}

/// One of the latest scans, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentScan {
    pub terminal_id: i64,
    pub record_no: i64,
    pub reader: String,
    pub guard_card: i64,
    pub guard: Option<String>,
    pub checkpoint_tag: i64,
    pub checkpoint: Option<String>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub drift_s: i32,
}

/// The latest `limit` scans by site time.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<RecentScan>, sqlx::Error> {
    sqlx::query(
        "SELECT p.terminal_id, p.record_no, coalesce(t.name, '') AS reader, p.guard_card, g.name AS guard,
                p.checkpoint_tag, c.name AS checkpoint, p.scanned_at, coalesce(p.drift_s, 0) AS drift_s
         FROM patrol_scan p LEFT JOIN terminal t ON t.id = p.terminal_id
         LEFT JOIN guard g ON g.card = p.guard_card LEFT JOIN checkpoint c ON c.tag = p.checkpoint_tag
         WHERE p.scanned_at IS NOT NULL
         ORDER BY p.scanned_at DESC, p.terminal_id, p.record_no DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(RecentScan {
            terminal_id: r.try_get("terminal_id")?,
            record_no: r.try_get("record_no")?,
            reader: r.try_get("reader")?,
            guard_card: r.try_get("guard_card")?,
            guard: r.try_get("guard")?,
            checkpoint_tag: r.try_get("checkpoint_tag")?,
            checkpoint: r.try_get("checkpoint")?,
            scanned_at: r.try_get("scanned_at")?,
            drift_s: r.try_get("drift_s")?,
        })
    })
    .collect()
}
