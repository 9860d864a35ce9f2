//! The demo's attendance: a month of past punches by the staff on the site's two machines (most
//! on time; some late, leaving early, forgetting a punch, absent or staying late; 保卫处 on
//! nights), and an offline machine whose exported log waits in a file to be imported.

use crate::db::ingest::{self, PunchRow};
use crate::sim::register::RegisteredTerminal;
use crate::sim::TerminalKind;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::path::{Path, PathBuf};

/// Past days seeded, before today (today's punches come live from the simulator).
pub const HISTORY_DAYS: i64 = 31;
/// The department on the night shift.
pub const NIGHT_DEPARTMENT: &str = "D07";
/// The machine nobody reaches over the network: its log is carried to the host as a file.
pub const OFFLINE_MACHINE: &str = "实验楼考勤机";
const OFFLINE_LINE: &str = "offline-attendance";
/// The file the offline machine "exported" (ZKTeco's USB attendance log), in the data directory.
pub const OFFLINE_FILE: &str = "demo-offline_attlog.dat";

/// The site's shifts, schedules and holidays, once: 白班 08:00–17:00 for the staff (the offices
/// by department, the colleges' staff each), but 保卫处 works 夜班 22:00–06:00 (its day changing
/// at 14:00); weekends off; New Year's Day a holiday. Schedules start before the seeded month, so
/// every seeded day has a result.
pub async fn seed_plan(pool: &PgPool, today: NaiveDate) -> anyhow::Result<bool> {
    use crate::db::attendance::{shifts, Holiday, NewSchedule, NewShift, ScheduleFor};
    use crate::domain::permission::Actor;
    if !shifts::shifts(pool).await?.is_empty() {
        return Ok(false);
    }
    let actor = Actor::shell("demo");
    let t = |h: u32| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
    let mut day = NewShift::new("白班", t(8), t(17));
    day.grace_late_min = 5;
    day.grace_early_min = 5;
    let mut night = NewShift::new("夜班", t(22), t(6));
    night.grace_late_min = 5;
    night.grace_early_min = 5;
    night.day_change = t(14);
    let day_id = shifts::add_shift(pool, &actor, &day).await?;
    let night_id = shifts::add_shift(pool, &actor, &night).await?;
    // The offices, all staff, by department; the colleges' staff one by one (their students
    // keep no hours).
    let whom: Vec<(Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT d.id, NULL::bigint, d.code FROM department d
          WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.department_id = d.id AND p.category <> 'staff')
         UNION ALL
         SELECT NULL, p.id, d.code FROM person p JOIN department d ON d.id = p.department_id
          WHERE p.category = 'staff'
            AND EXISTS (SELECT 1 FROM person o WHERE o.department_id = d.id AND o.category <> 'staff')",
    )
    .fetch_all(pool)
    .await?;
    for (department, person, code) in whom {
        let whom = match (department, person) {
            (Some(d), _) => ScheduleFor::Department(d),
            (None, Some(p)) => ScheduleFor::Person(p),
            (None, None) => continue,
        };
        shifts::add_schedule(
            pool,
            &actor,
            &NewSchedule {
                whom,
                shift_id: if code == NIGHT_DEPARTMENT {
                    night_id
                } else {
                    day_id
                },
                rest_days: vec![6, 7],
                valid_from: today - Duration::days(HISTORY_DAYS + 30),
                valid_to: None,
            },
        )
        .await?;
    }
    let new_year = NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap_or(today);
    shifts::set_holiday(
        pool,
        &actor,
        &Holiday {
            day: new_year,
            name: "元旦".into(),
            works: false,
        },
    )
    .await?;
    Ok(true)
}

/// The two simulated machines, named where they hang.
const MACHINES: [(&str, &str); 2] = [
    ("行政楼考勤机", "行政楼一层 大厅"),
    ("图书馆考勤机", "图书馆一层 员工入口"),
];

/// Names the simulated machines (a new simulator registers them under its own ids).
pub async fn name_machines(
    pool: &PgPool,
    registered: &[RegisteredTerminal],
) -> Result<(), sqlx::Error> {
    let machines = registered
        .iter()
        .filter(|r| r.kind == TerminalKind::AttendanceMachine);
    for (r, (name, location)) in machines.zip(MACHINES) {
        sqlx::query("UPDATE terminal SET name = $2, location = $3 WHERE id = $1")
            .bind(r.terminal_id)
            .bind(name)
            .bind(location)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The staff who punch: (person number, on the night shift).
async fn staff(pool: &PgPool) -> Result<Vec<(String, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.person_no, d.code = $1 FROM person p JOIN department d ON d.id = p.department_id
          WHERE p.category = 'staff' ORDER BY p.person_no",
    )
    .bind(NIGHT_DEPARTMENT)
    .fetch_all(pool)
    .await
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> NaiveDateTime {
    day.and_hms_opt(h, m, s).unwrap_or_default()
}

/// One person's punches for one working day, drawn from `rng`.
fn day_punches(rng: &mut StdRng, day: NaiveDate, night: bool) -> Vec<NaiveDateTime> {
    let r: u32 = rng.gen_range(0..100);
    if r < 3 {
        return vec![]; // absent
    }
    let jitter = |rng: &mut StdRng, minutes: i64| Duration::seconds(rng.gen_range(0..minutes * 60));
    let (start, end) = if night {
        (at(day, 21, 45, 0), at(day + Duration::days(1), 6, 0, 0))
    } else {
        (at(day, 7, 40, 0), at(day, 17, 0, 0))
    };
    let first = if r < 12 {
        start + Duration::minutes(26) + jitter(rng, 40) // late
    } else {
        start + jitter(rng, 18)
    };
    if (12..15).contains(&r) {
        return vec![first]; // forgot to punch out
    }
    // The way out is a draw of its own: a late arrival may still stay late, or leave early.
    let r: u32 = rng.gen_range(0..100);
    let last = if r < 6 {
        end - Duration::minutes(50) + jitter(rng, 40) // left early
    } else if r < 16 {
        end + Duration::minutes(45) + jitter(rng, 120) // stayed late
    } else {
        end + jitter(rng, 25)
    };
    vec![first, last]
}

/// Seeds the past month of punches on the two simulated machines (the staff split between
/// them). Weekends are rest days; one in thirty is worked anyway. Returns the punches stored.
pub async fn seed_month(
    pool: &PgPool,
    registered: &[RegisteredTerminal],
    seed: u64,
    today: NaiveDate,
) -> anyhow::Result<u64> {
    let machines: Vec<i64> = registered
        .iter()
        .filter(|r| r.kind == TerminalKind::AttendanceMachine)
        .map(|r| r.terminal_id)
        .collect();
    if machines.is_empty() {
        return Ok(0);
    }
    let staff = staff(pool).await?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xa77e);
    let mut rows: Vec<Vec<PunchRow>> = vec![Vec::new(); machines.len()];
    for back in (1..=HISTORY_DAYS).rev() {
        let day = today - Duration::days(back);
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        for (i, (no, night)) in staff.iter().enumerate() {
            if weekend && rng.gen_range(0..30) != 0 {
                continue;
            }
            for t in day_punches(&mut rng, day, *night) {
                rows[i % machines.len()].push(PunchRow {
                    user_id: no.clone(),
                    terminal_time: t,
                    verify: 1,
                    state: if t.time() < at(day, 12, 0, 0).time() {
                        0
                    } else {
                        1
                    },
                });
            }
        }
    }
    let mut stored = 0;
    for (terminal, rows) in machines.iter().zip(rows) {
        for chunk in rows.chunks(2_000) {
            stored += ingest::store_punches(pool, *terminal, chunk)
                .await?
                .inserted;
        }
    }
    Ok(stored)
}

/// The offline machine in the inventory (on a line that is never polled), created once.
pub async fn offline_machine(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO line (name, protocol, transport, address, poll_interval_ms, enabled)
         VALUES ($1, 'zk', 'tcp', '0.0.0.0:4370', 60000, false)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(OFFLINE_LINE)
    .execute(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "WITH l AS (SELECT id FROM line WHERE name = $1),
              t AS (INSERT INTO terminal (line_id, kind, address, name, location)
                    SELECT id, 'attendance_machine', 1, $2, '实验楼一层 东门' FROM l
                    ON CONFLICT DO NOTHING RETURNING id)
         SELECT id FROM t UNION ALL
         SELECT t.id FROM terminal t JOIN l ON l.id = t.line_id WHERE t.address = 1
         LIMIT 1",
    )
    .bind(OFFLINE_LINE)
    .bind(OFFLINE_MACHINE)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Writes the offline machine's exported log: the last week of its staff's punches, as ZKTeco
/// writes it (user id right-aligned, tab-separated, CRLF), with one punch twice (machines do
/// write a punch again after a power cut) so the import's duplicate count shows.
pub async fn write_offline_file(
    pool: &PgPool,
    dir: &Path,
    seed: u64,
    today: NaiveDate,
) -> anyhow::Result<PathBuf> {
    let staff = staff(pool).await?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0ff1);
    let mut out = String::new();
    for back in (1..=7).rev() {
        let day = today - Duration::days(back);
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        // A lab's few: every seventh of the day staff.
        for (no, _) in staff.iter().filter(|(_, night)| !night).step_by(7) {
            for t in day_punches(&mut rng, day, false) {
                let state = u8::from(t.time() >= at(day, 12, 0, 0).time());
                let line = format!(
                    "{no:>9}\t{}\t1\t{state}\t1\t0\r\n",
                    t.format("%Y-%m-%d %H:%M:%S")
                );
                out.push_str(&line);
            }
        }
    }
    if let Some(first) = out.split_inclusive("\r\n").next().map(str::to_string) {
        out.push_str(&first);
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(OFFLINE_FILE);
    std::fs::write(&path, out)?;
    Ok(path)
}
