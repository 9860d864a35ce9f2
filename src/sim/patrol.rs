//! A simulated site's patrol plan: checkpoints, guards, routes and schedules, as the site file
//! gives them (`[patrol]`), written into the database by `sim::register`, and walked by the
//! simulated readers round by round: each visit on time, late or skipped by a seeded draw, and
//! tallied as intended so a test can hold the omission report against it.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatrolPlan {
    /// A text plan with the checkpoints placed on it.
    #[serde(default)]
    pub map: Option<PlanMap>,
    #[serde(default)]
    pub checkpoints: Vec<PlanCheckpoint>,
    #[serde(default)]
    pub guards: Vec<PlanGuard>,
    #[serde(default)]
    pub routes: Vec<PlanRoute>,
    #[serde(default)]
    pub schedules: Vec<PlanSchedule>,
    /// Percent of visits made late (after the late tolerance, inside the round's period).
    #[serde(default)]
    pub late_percent: f64,
    /// Percent of visits skipped (missed).
    #[serde(default)]
    pub skip_percent: f64,
    /// Seconds after its due time an on-time visit is made (at most half the late tolerance).
    #[serde(default = "default_delay")]
    pub on_time_delay_s: u32,
}

fn default_delay() -> u32 {
    2
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanMap {
    pub name: String,
    pub plan: String,
    #[serde(default = "default_metres")]
    pub metres_per_unit: f32,
}

fn default_metres() -> f32 {
    2.0
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCheckpoint {
    pub tag: u32,
    pub name: String,
    #[serde(default)]
    pub location: String,
    /// (x, y) on the map, in characters.
    #[serde(default)]
    pub place: Option<[f32; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanGuard {
    pub card: u32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRoute {
    pub name: String,
    /// In order: (tag, seconds after the round starts).
    pub points: Vec<(u32, u32)>,
    #[serde(default = "default_tolerance")]
    pub early_s: u32,
    #[serde(default = "default_tolerance")]
    pub late_s: u32,
    #[serde(default = "default_grace")]
    pub grace_s: u32,
}

fn default_tolerance() -> u32 {
    300
}
fn default_grace() -> u32 {
    600
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSchedule {
    pub route: String,
    /// The guard's card.
    pub guard: u32,
    /// The simulator id of the reader the guard carries (`patrol/patrol/1`).
    pub reader: String,
    #[serde(default = "default_shift")]
    pub shift: String,
    /// `HH:MM` or `HH:MM:SS`, site time; a last start before the first crosses midnight.
    pub first_start: String,
    pub last_start: String,
    pub every_min: u32,
    /// Valid from this many days before the site is registered.
    #[serde(default)]
    pub days_back: u32,
}

fn default_shift() -> String {
    "全天".into()
}

/// `HH:MM[:SS]`.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .ok()
}

impl PatrolPlan {
    pub fn validate(&self, readers: &[String]) -> Result<(), String> {
        let mut tags = std::collections::HashSet::new();
        for c in &self.checkpoints {
            if c.tag == 0 || !tags.insert(c.tag) {
                return Err(format!(
                    "patrol: checkpoint tag {} is zero or used twice",
                    c.tag
                ));
            }
        }
        let mut cards = std::collections::HashSet::new();
        for g in &self.guards {
            if g.card == 0 || !cards.insert(g.card) {
                return Err(format!(
                    "patrol: guard card {} is zero or used twice",
                    g.card
                ));
            }
        }
        for r in &self.routes {
            let mut seen = std::collections::HashSet::new();
            if r.points.is_empty() {
                return Err(format!("patrol: route {} has no checkpoints", r.name));
            }
            for (i, (tag, offset)) in r.points.iter().enumerate() {
                if !tags.contains(tag) || !seen.insert(*tag) {
                    return Err(format!(
                        "patrol: route {}: tag {tag} is no checkpoint, or on it twice",
                        r.name
                    ));
                }
                if i > 0 && *offset < r.points[i - 1].1 {
                    return Err(format!("patrol: route {}: offsets go back", r.name));
                }
            }
        }
        for s in &self.schedules {
            if !self.routes.iter().any(|r| r.name == s.route) {
                return Err(format!("patrol: schedule names no route {}", s.route));
            }
            if !cards.contains(&s.guard) {
                return Err(format!("patrol: schedule names no guard {}", s.guard));
            }
            if !readers.contains(&s.reader) {
                return Err(format!("patrol: schedule names no reader {}", s.reader));
            }
            if parse_time(&s.first_start).is_none() || parse_time(&s.last_start).is_none() {
                return Err(format!(
                    "patrol: schedule of {}: times are HH:MM or HH:MM:SS",
                    s.route
                ));
            }
            if !(1..=1440).contains(&s.every_min) {
                return Err(format!(
                    "patrol: schedule of {}: every 1 to 1440 minutes",
                    s.route
                ));
            }
        }
        for p in [self.late_percent, self.skip_percent] {
            if !(0.0..=100.0).contains(&p) || self.late_percent + self.skip_percent > 100.0 {
                return Err(format!("patrol: {p} is not a share of the visits"));
            }
        }
        Ok(())
    }

    /// What the reader `reader` walks, seeded by `seed`.
    pub fn walker(&self, reader: &str, seed: u64) -> Option<Walker> {
        let walks: Vec<Walk> = self
            .schedules
            .iter()
            .enumerate()
            .filter(|(_, s)| s.reader == reader)
            .filter_map(|(i, s)| {
                let route = self.routes.iter().find(|r| r.name == s.route)?;
                Some(Walk {
                    guard: s.guard,
                    route: route.clone(),
                    first_start: parse_time(&s.first_start)?,
                    last_start: parse_time(&s.last_start)?,
                    every_s: i64::from(s.every_min.max(1)) * 60,
                    rng: StdRng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9)),
                })
            })
            .collect();
        if walks.is_empty() {
            return None;
        }
        Some(Walker {
            walks,
            late_percent: self.late_percent,
            skip_percent: self.skip_percent,
            delay_s: self.on_time_delay_s,
            planned_to: None,
            steps: BTreeMap::new(),
            next: 0,
            tally: Vec::new(),
        })
    }
}

/// What a visit was meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intended {
    OnTime,
    Late,
    Missed,
}

/// One visit walked (or skipped), as the tally keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkedVisit {
    pub guard: u32,
    /// The round's start, site time.
    pub round_start: NaiveDateTime,
    pub tag: u32,
    pub class: Intended,
    /// When the guard scanned it (None: skipped), site time.
    pub at: Option<NaiveDateTime>,
}

/// Visits per intended class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolCounts {
    pub on_time: u64,
    pub late: u64,
    pub missed: u64,
}

impl PatrolCounts {
    pub fn of<'a>(visits: impl IntoIterator<Item = &'a WalkedVisit>) -> PatrolCounts {
        let mut c = PatrolCounts::default();
        for v in visits {
            match v.class {
                Intended::OnTime => c.on_time += 1,
                Intended::Late => c.late += 1,
                Intended::Missed => c.missed += 1,
            }
        }
        c
    }
}

/// One schedule a reader's guard walks.
#[derive(Debug)]
struct Walk {
    guard: u32,
    route: PlanRoute,
    first_start: NaiveTime,
    last_start: NaiveTime,
    every_s: i64,
    rng: StdRng,
}

impl Walk {
    /// Round starts on the days around [from, to), in order (as the database lays them out:
    /// day + first start + n × every).
    fn starts(&self, from: NaiveDateTime, to: NaiveDateTime) -> Vec<NaiveDateTime> {
        let mut span = (self.last_start - self.first_start).num_seconds();
        if span < 0 {
            span += 86_400;
        }
        let mut out = Vec::new();
        let mut day: NaiveDate = from.date() - Duration::days(1);
        while day <= to.date() + Duration::days(1) {
            for n in 0..=span / self.every_s {
                out.push(day.and_time(self.first_start) + Duration::seconds(n * self.every_s));
            }
            day += Duration::days(1);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A reader's guard walking its rounds: visits planned a round at a time, made when due.
#[derive(Debug)]
pub struct Walker {
    walks: Vec<Walk>,
    late_percent: f64,
    skip_percent: f64,
    delay_s: u32,
    /// Rounds starting before this are planned; None: nothing yet (rounds from the first
    /// look on are walked, not the one under way).
    planned_to: Option<NaiveDateTime>,
    /// Visits to make, by time.
    steps: BTreeMap<(NaiveDateTime, u64), WalkedVisit>,
    next: u64,
    tally: Vec<WalkedVisit>,
}

/// How far ahead rounds are planned.
const AHEAD_S: i64 = 120;

impl Walker {
    /// Plans rounds starting in [from, to).
    fn plan(&mut self, from: NaiveDateTime, to: NaiveDateTime) {
        let (late_p, skip_p, delay) = (self.late_percent, self.skip_percent, self.delay_s);
        let mut planned = Vec::new();
        for w in &mut self.walks {
            let starts = w.starts(from, to);
            let early = i64::from(w.route.early_s);
            let late = i64::from(w.route.late_s);
            let last_end = w
                .route
                .points
                .iter()
                .map(|(_, o)| i64::from(*o) + late)
                .max()
                .unwrap_or(late);
            for (i, &s) in starts.iter().enumerate() {
                if s < from || s >= to {
                    continue;
                }
                // The round's period, as DOMAIN.md has it.
                let cap = s + Duration::seconds(last_end + i64::from(w.route.grace_s));
                let period_end = starts
                    .get(i + 1)
                    .map_or(cap, |n| (*n - Duration::seconds(early)).min(cap));
                for &(tag, offset) in &w.route.points {
                    let due = s + Duration::seconds(i64::from(offset));
                    let win_end = due + Duration::seconds(late);
                    let gap = (period_end - win_end).num_seconds();
                    let draw = w.rng.gen_range(0.0..100.0);
                    let (class, at) = if draw < skip_p {
                        (Intended::Missed, None)
                    } else if draw < skip_p + late_p && gap >= 6 {
                        (
                            Intended::Late,
                            Some(win_end + Duration::seconds((gap / 2).min(600))),
                        )
                    } else {
                        let d = i64::from(delay).min(late / 2);
                        (Intended::OnTime, Some(due + Duration::seconds(d)))
                    };
                    let when = at.unwrap_or(win_end);
                    planned.push((
                        when,
                        WalkedVisit {
                            guard: w.guard,
                            round_start: s,
                            tag,
                            class,
                            at,
                        },
                    ));
                }
            }
        }
        for (when, v) in planned {
            self.next += 1;
            self.steps.insert((when, self.next), v);
        }
    }

    /// The visits due by `now` (site time), in order, tallied; rounds ahead planned.
    pub fn due(&mut self, now: NaiveDateTime) -> Vec<WalkedVisit> {
        let from = self.planned_to.unwrap_or(now);
        let to = now + Duration::seconds(AHEAD_S);
        if to > from {
            self.plan(from, to);
            self.planned_to = Some(to);
        }
        let mut out = Vec::new();
        while let Some(entry) = self.steps.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let v = entry.remove();
            self.tally.push(v.clone());
            out.push(v);
        }
        out
    }

    /// The visits of rounds starting in [from, to) made by `to`, as this walker would have
    /// made them (for a site's past); a round under way at `to` is cut there.
    pub fn walked_between(&mut self, from: NaiveDateTime, to: NaiveDateTime) -> Vec<WalkedVisit> {
        self.plan(from, to);
        let steps = std::mem::take(&mut self.steps);
        steps
            .into_iter()
            .filter(|((when, _), _)| *when <= to)
            .map(|(_, v)| v)
            .collect()
    }

    pub fn tally(&self) -> &[WalkedVisit] {
        &self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PatrolPlan {
        PatrolPlan {
            map: None,
            checkpoints: (1..=3)
                .map(|t| PlanCheckpoint {
                    tag: t,
                    name: format!("点{t}"),
                    location: String::new(),
                    place: None,
                })
                .collect(),
            guards: vec![PlanGuard {
                card: 7,
                name: "甲".into(),
            }],
            routes: vec![PlanRoute {
                name: "r".into(),
                points: vec![(1, 0), (2, 10), (3, 20)],
                early_s: 5,
                late_s: 8,
                grace_s: 10,
            }],
            schedules: vec![PlanSchedule {
                route: "r".into(),
                guard: 7,
                reader: "patrol/p/1".into(),
                shift: "全天".into(),
                first_start: "00:00".into(),
                last_start: "23:59".into(),
                every_min: 1,
                days_back: 0,
            }],
            late_percent: 30.0,
            skip_percent: 30.0,
            on_time_delay_s: 2,
        }
    }

    #[test]
    fn visits_are_on_time_late_or_skipped_inside_their_round() {
        let p = plan();
        p.validate(&["patrol/p/1".into()]).unwrap();
        let mut w = p.walker("patrol/p/1", 3).unwrap();
        let t0 = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(10, 0, 30)
            .unwrap();
        let mut seen = Vec::new();
        for s in 0..600 {
            seen.extend(w.due(t0 + Duration::seconds(s)));
        }
        // Rounds from 10:01 on (the one under way is not walked), three visits each.
        assert!(seen
            .iter()
            .all(|v| v.round_start.format("%S").to_string() == "00"));
        assert!(seen.len() >= 24, "{}", seen.len());
        let c = PatrolCounts::of(&seen);
        assert!(c.on_time > 0 && c.late > 0 && c.missed > 0, "{c:?}");
        for v in &seen {
            let due = v.round_start
                + Duration::seconds(match v.tag {
                    1 => 0,
                    2 => 10,
                    _ => 20,
                });
            match (v.class, v.at) {
                (Intended::OnTime, Some(at)) => {
                    assert!(at >= due && at <= due + Duration::seconds(8))
                }
                // After the window, before the next round's period (start + 60 − 5).
                (Intended::Late, Some(at)) => assert!(
                    at > due + Duration::seconds(8) && at < v.round_start + Duration::seconds(38)
                ),
                (Intended::Missed, None) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_site_file_gives_its_plan() {
        let text = r#"
[[lines]]
name = "p"
terminals = [{ kind = "patrol_reader", machine_no = 1 }]

[patrol]
late_percent = 10
skip_percent = 5
checkpoints = [{ tag = 1, name = "东门" }, { tag = 2, name = "北门", place = [3, 4] }]
guards = [{ card = 7, name = "甲" }]
routes = [{ name = "r", points = [[1, 0], [2, 60]], late_s = 30 }]
schedules = [{ route = "r", guard = 7, reader = "patrol/p/1", first_start = "22:00", last_start = "06:00", every_min = 120 }]
"#;
        let site = crate::sim::site::SiteConfig::parse(text, "site.toml").unwrap();
        let p = site.patrol.unwrap();
        assert_eq!(p.routes[0].points, vec![(1, 0), (2, 60)]);
        assert_eq!((p.routes[0].early_s, p.routes[0].late_s), (300, 30));
        assert_eq!(p.checkpoints[1].place, Some([3.0, 4.0]));
        assert_eq!(p.schedules[0].shift, "全天");
        let bad = text.replace("patrol/p/1", "patrol/p/9");
        assert!(crate::sim::site::SiteConfig::parse(&bad, "site.toml").is_err());
    }

    #[test]
    fn a_bad_plan_is_refused() {
        let mut p = plan();
        p.routes[0].points.push((9, 30));
        assert!(p.validate(&["patrol/p/1".into()]).is_err());
        let mut p = plan();
        p.schedules[0].reader = "patrol/p/2".into();
        assert!(p.validate(&["patrol/p/1".into()]).is_err());
    }
}
