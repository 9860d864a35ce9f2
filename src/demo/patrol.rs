//! The demo's patrol: a text plan of the campus with eight checkpoints, three guards, a night
//! route walked every 2 h from 22:00 and a short route walked every 10 minutes all day (so
//! rounds run live whenever the demo does), some visits late and some skipped; and a week of
//! past rounds, so the omission report and the exceptions have content from the start.

use crate::db::ingest::{self, ScanRow};
use crate::sim::patrol::{PatrolPlan, PlanCheckpoint, PlanGuard, PlanMap, PlanRoute, PlanSchedule};
use crate::sim::register::RegisteredTerminal;
use chrono::{Duration, NaiveDateTime};
use sqlx::PgPool;

/// The campus, 70 × 20 columns (CJK counting two).
pub const CAMPUS: &str = include_str!("campus.txt");

const NIGHT_READER: &str = "patrol/patrol/1";
const LIVE_READER: &str = "patrol/patrol/2";
/// Past rounds are seeded this many days back.
const HISTORY_DAYS: u32 = 7;

/// (tag, name, where, column, row on the plan).
const CHECKPOINTS: [(u32, &str, &str, f32, f32); 8] = [
    (0xC0_0101, "校门岗亭", "校门 南侧", 30.0, 18.0),
    (0xC0_0102, "食堂后门", "食堂 北侧", 9.0, 16.0),
    (0xC0_0103, "荷花池", "荷花池 东岸", 20.0, 17.0),
    (0xC0_0104, "图书馆东门", "图书馆一层 东侧入口", 19.0, 7.0),
    (0xC0_0105, "实验楼大门", "实验楼一层 正门", 34.0, 7.0),
    (0xC0_0106, "体育馆正门", "体育馆一层 东侧", 57.0, 8.0),
    (0xC0_0107, "3号楼正门", "学生宿舍3号楼 南侧", 55.0, 16.0),
    (0xC0_0108, "中心广场", "中心广场 中央", 31.0, 12.0),
];

const GUARDS: [(u32, &str); 3] = [
    (9_200_001, "张建国"),
    (9_200_002, "李卫东"),
    (9_200_003, "王海涛"),
];

fn tag(i: usize) -> u32 {
    CHECKPOINTS[i].0
}

/// The demo site's patrol plan.
pub fn plan() -> PatrolPlan {
    PatrolPlan {
        map: Some(PlanMap {
            name: "校园平面图".into(),
            plan: CAMPUS.into(),
            metres_per_unit: 6.0,
        }),
        checkpoints: CHECKPOINTS
            .iter()
            .map(|(tag, name, location, x, y)| PlanCheckpoint {
                tag: *tag,
                name: (*name).into(),
                location: (*location).into(),
                place: Some([*x, *y]),
            })
            .collect(),
        guards: GUARDS
            .iter()
            .map(|(card, name)| PlanGuard {
                card: *card,
                name: (*name).into(),
            })
            .collect(),
        routes: vec![
            PlanRoute {
                name: "夜间全园巡逻".into(),
                points: [0, 1, 2, 3, 4, 5, 6, 7]
                    .into_iter()
                    .zip([0, 300, 600, 1200, 1500, 1800, 2100, 2400])
                    .map(|(i, o)| (tag(i), o))
                    .collect(),
                early_s: 300,
                late_s: 300,
                grace_s: 600,
            },
            PlanRoute {
                name: "日间快巡".into(),
                points: [0, 7, 6, 3]
                    .into_iter()
                    .zip([0, 120, 240, 360])
                    .map(|(i, o)| (tag(i), o))
                    .collect(),
                early_s: 60,
                late_s: 60,
                grace_s: 120,
            },
        ],
        schedules: vec![
            PlanSchedule {
                route: "夜间全园巡逻".into(),
                guard: GUARDS[0].0,
                reader: NIGHT_READER.into(),
                shift: "夜班".into(),
                first_start: "22:00".into(),
                last_start: "04:00".into(),
                every_min: 120,
                days_back: HISTORY_DAYS,
            },
            PlanSchedule {
                route: "日间快巡".into(),
                guard: GUARDS[2].0,
                reader: LIVE_READER.into(),
                shift: "全天".into(),
                first_start: "00:00".into(),
                last_start: "23:50".into(),
                every_min: 10,
                days_back: 0,
            },
        ],
        late_percent: 12.0,
        skip_percent: 8.0,
        on_time_delay_s: 20,
    }
}

/// The past rounds of every schedule (a week of nights, today's short rounds) up to `now`,
/// site time, stored as the readers' scans under record numbers below zero, which no reader
/// uses. Once: a database that has them already is left alone. Returns the scans stored.
pub async fn seed_history(
    pool: &PgPool,
    plan: &PatrolPlan,
    registered: &[RegisteredTerminal],
    seed: u64,
    now: NaiveDateTime,
) -> Result<u64, sqlx::Error> {
    let ids: Vec<i64> = registered
        .iter()
        .filter(|r| r.sim_id.starts_with("patrol/"))
        .map(|r| r.terminal_id)
        .collect();
    let seeded: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM patrol_scan WHERE terminal_id = ANY($1) AND record_no < 0)",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await?;
    if seeded {
        return Ok(0);
    }
    let mut stored = 0;
    for r in registered
        .iter()
        .filter(|r| r.sim_id.starts_with("patrol/"))
    {
        let Some(mut walker) = plan.walker(&r.sim_id, seed ^ 0x5eed) else {
            continue;
        };
        let days = plan
            .schedules
            .iter()
            .filter(|s| s.reader == r.sim_id)
            .map(|s| s.days_back)
            .max()
            .unwrap_or(0);
        let from = (now.date() - Duration::days(i64::from(days)))
            .and_hms_opt(0, 0, 0)
            .unwrap_or(now);
        let rows: Vec<ScanRow> = walker
            .walked_between(from, now)
            .into_iter()
            .filter_map(|v| Some((v.at?, v)))
            .zip(1i64..)
            .map(|((at, v), n)| ScanRow {
                record_no: -n,
                guard_card: i64::from(v.guard),
                checkpoint_tag: i64::from(v.tag),
                event: 0,
                terminal_time: Some(at),
            })
            .collect();
        for chunk in rows.chunks(1000) {
            stored += ingest::store_scans(pool, r.terminal_id, chunk, None)
                .await?
                .inserted;
        }
    }
    Ok(stored)
}
