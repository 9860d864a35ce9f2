//! `onecard bench --patrol`: the omission calculation over a month, in a database of its own.
//!
//! The site: `--guards` guards (500), each walking a route of 40 checkpoints of their own
//! (two minutes apart, 5 minutes early or late allowed), every night from 22:00 to 06:00
//! every 2 hours: five rounds a night for a month (about 3 million due visits). Scans are made
//! for 88 % of the visits inside their windows, 3 % early, 4 % late and 5 % missed, with 2 %
//! repeats, as the readers would have uploaded them.
//!
//! Timed:
//! * the month's omission totals (per guard, route, shift and day, with compliance): what the
//!   report and the tab ask; best of three;
//! * one guard's month of due visits, row by row;
//! * a day of due visits for all guards, row by row;
//! * 500 scans uploaded at once into tonight's rounds (matched by the trigger as stored).
//!
//! Ends with `bench: omission_month_s=…` (the other timings are printed above it).

use super::{fresh_database, say, Server};
use crate::db::patrol::omissions::{self, Grouping, OmissionQuery};
use chrono::{Duration as Days, NaiveDate, Utc};
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub const DATABASE: &str = "onecard_bench_patrol";
const CHECKPOINTS_PER_ROUTE: i64 = 40;
const DAYS: i64 = 30;

pub async fn run(server: &Server, guards: i64, seed: u64) -> anyhow::Result<()> {
    say(format!(
        "onecard bench --patrol: {guards} guards × {CHECKPOINTS_PER_ROUTE} checkpoints, rounds 22:00-06:00 every 2 h, {DAYS} nights"
    ));
    let (options, _url) = fresh_database(server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    sqlx::query("INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'bench')")
        .execute(&pool)
        .await?;
    // The month that ended last night (site days).
    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let first = today - Days::days(DAYS);
    let last = today - Days::days(1);
    let started = Instant::now();
    plan(&pool, guards, first, last).await?;
    let laid = Instant::now();
    let visits: i64 = sqlx::query_scalar("SELECT patrol_expand_to($1)")
        .bind(instant(today))
        .fetch_one(&pool)
        .await?;
    let laid_s = laid.elapsed().as_secs_f64();
    say(format!(
        "laid out {visits} due visits in {laid_s:.1} s ({:.0} visits/s)",
        visits as f64 / laid_s.max(1e-9)
    ));
    let scanned = Instant::now();
    let scans = scans(&pool, seed, first, today).await?;
    say(format!(
        "stored {scans} scans and matched them in {:.1} s",
        scanned.elapsed().as_secs_f64()
    ));
    sqlx::query("VACUUM ANALYZE patrol_visit")
        .execute(&pool)
        .await?;
    sqlx::query("VACUUM ANALYZE patrol_day_total")
        .execute(&pool)
        .await?;
    sqlx::query("VACUUM ANALYZE patrol_scan")
        .execute(&pool)
        .await?;
    say(format!(
        "site ready in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    // The month's omission totals, all guards.
    let q = OmissionQuery {
        from: instant(first),
        to: instant(today),
        guard: None,
        route: None,
    };
    let mut best = f64::MAX;
    let mut counts = omissions::Counts::default();
    for round in 1..=3 {
        let t = Instant::now();
        let days = omissions::day_totals(&pool, &q, Utc::now()).await?;
        let mut groups = 0;
        for by in [
            Grouping::Guard,
            Grouping::Route,
            Grouping::Shift,
            Grouping::Day,
        ] {
            let (rows, all) = omissions::group(&days, by);
            groups += rows.len();
            counts = all;
        }
        let s = t.elapsed().as_secs_f64();
        say(format!(
            "month's totals, round {round}: {s:.3} s ({} day rows, {groups} group rows)",
            days.len()
        ));
        best = best.min(s);
    }
    say(format!(
        "month: {} visits, {} on time, {} early, {} late, {} missed, compliance {:.1} %",
        counts.visits,
        counts.on_time,
        counts.early,
        counts.late,
        counts.missed,
        counts.compliance().unwrap_or(0.0)
    ));
    // One guard's month, and one day for all guards, row by row.
    let guard: i64 = sqlx::query_scalar("SELECT min(id) FROM guard")
        .fetch_one(&pool)
        .await?;
    let t = Instant::now();
    let mine = omissions::visits(
        &pool,
        &OmissionQuery {
            guard: Some(guard),
            ..q.clone()
        },
        Utc::now(),
    )
    .await?;
    let guard_ms = t.elapsed().as_secs_f64() * 1e3;
    say(format!(
        "one guard's month: {} visits in {guard_ms:.1} ms",
        mine.len()
    ));
    let t = Instant::now();
    let day = omissions::visits(
        &pool,
        &OmissionQuery {
            from: instant(last),
            to: instant(today),
            guard: None,
            route: None,
        },
        Utc::now(),
    )
    .await?;
    let day_ms = t.elapsed().as_secs_f64() * 1e3;
    say(format!(
        "one day, all guards: {} visits in {day_ms:.1} ms",
        day.len()
    ));
    // Tonight: 500 scans at once into rounds laid out ahead.
    let match_ms = upload(&pool, today).await?;
    say(format!(
        "500 scans uploaded and matched in {match_ms:.1} ms"
    ));
    say(format!("bench: omission_month_s={best:.3}"));
    Ok(())
}

/// Local midnight of a site day.
fn instant(d: NaiveDate) -> chrono::DateTime<Utc> {
    use chrono::TimeZone;
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// The plan, in bulk (the bench's own database; the console would audit each change).
async fn plan(pool: &PgPool, guards: i64, first: NaiveDate, last: NaiveDate) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for sql in [
        "INSERT INTO checkpoint (tag, name) SELECT g * 100 + k, '巡更点 ' || g || '-' || k
         FROM generate_series(1, $1) g, generate_series(1, 40) k",
        "INSERT INTO guard (card, name) SELECT 7000000 + g, '保安' || g FROM generate_series(1, $1) g",
        "INSERT INTO patrol_route (id, name, early_s, late_s, grace_s) SELECT g, '路线' || g, 300, 300, 600
         FROM generate_series(1, $1) g",
        "INSERT INTO route_checkpoint (route_id, seq, checkpoint_tag, offset_s)
         SELECT g, k, g * 100 + k, (k - 1) * 120 FROM generate_series(1, $1) g, generate_series(1, 40) k",
    ] {
        sqlx::query(sql).bind(guards).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO patrol_schedule (route_id, guard_id, shift, first_start, last_start, every, valid_from, valid_to)
         SELECT g.id - (SELECT min(id) FROM guard) + 1, g.id, '夜班', '22:00', '06:00', '2 hours', $1, $2 FROM guard g",
    )
    .bind(first)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Scans for the month's visits, stored in bulk and then matched day by day, as the trigger
/// would have done as they arrived.
async fn scans(
    pool: &PgPool,
    seed: u64,
    first: NaiveDate,
    today: NaiveDate,
) -> anyhow::Result<i64> {
    sqlx::query("SELECT setseed($1)")
        .bind((seed % 1000) as f64 / 1000.0)
        .execute(pool)
        .await?;
    sqlx::query("ALTER TABLE patrol_scan DISABLE TRIGGER patrol_scan_match")
        .execute(pool)
        .await?;
    let n = sqlx::query(
        "INSERT INTO patrol_scan (terminal_id, record_no, guard_card, checkpoint_tag, event, terminal_time, drift_s)
         SELECT 1 + (v.guard_id % 50), row_number() OVER (), g.card, v.checkpoint_tag, 0,
                (CASE WHEN r < 0.88 THEN v.due + (random() * 500 - 250) * interval '1 second'
                      WHEN r < 0.91 THEN v.win_start - (30 + random() * 200) * interval '1 second'
                      ELSE v.win_end + (30 + random() * 200) * interval '1 second' END)
                  AT TIME ZONE 'Asia/Shanghai',
                0
         FROM (SELECT v.*, random() AS r FROM patrol_visit v) v JOIN guard g ON g.id = v.guard_id
         WHERE v.r < 0.95",
    )
    .execute(pool)
    .await?
    .rows_affected() as i64;
    let repeats = sqlx::query(
        "INSERT INTO patrol_scan (terminal_id, record_no, guard_card, checkpoint_tag, event, terminal_time, drift_s)
         SELECT terminal_id, record_no + 100000000, guard_card, checkpoint_tag, 0, terminal_time + interval '40 seconds', 0
         FROM patrol_scan WHERE random() < 0.02",
    )
    .execute(pool)
    .await?
    .rows_affected() as i64;
    sqlx::query("ALTER TABLE patrol_scan ENABLE TRIGGER patrol_scan_match")
        .execute(pool)
        .await?;
    let mut d = first;
    while d < today {
        sqlx::query(
            "SELECT count(*) FROM patrol_rematch(ARRAY(SELECT id FROM patrol_visit WHERE day = $1 AND occ = 1))",
        )
        .bind(d)
        .execute(pool)
        .await?;
        sqlx::query(
            "SELECT patrol_refresh_totals(array_agg(day), array_agg(schedule_id))
             FROM (SELECT DISTINCT day, schedule_id FROM patrol_visit WHERE day = $1) k",
        )
        .bind(d)
        .execute(pool)
        .await?;
        d += Days::days(1);
    }
    sqlx::query("SELECT patrol_sweep(now())")
        .execute(pool)
        .await?;
    Ok(n + repeats)
}

/// 500 scans of tonight's first rounds, stored through the ingest path; milliseconds.
async fn upload(pool: &PgPool, today: NaiveDate) -> anyhow::Result<f64> {
    sqlx::query("SELECT patrol_expand(now() - interval '1 day', now() + interval '1 day', NULL)")
        .execute(pool)
        .await?;
    let rows: Vec<(i64, i64, chrono::NaiveDateTime)> = sqlx::query_as(
        "SELECT g.card, v.checkpoint_tag, (v.due AT TIME ZONE 'Asia/Shanghai')
         FROM patrol_visit v JOIN guard g ON g.id = v.guard_id
         WHERE v.day >= $1 ORDER BY v.start_at, v.guard_id, v.seq LIMIT 500",
    )
    .bind(today)
    .fetch_all(pool)
    .await?;
    let scans: Vec<crate::db::ingest::ScanRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (card, tag, at))| crate::db::ingest::ScanRow {
            record_no: 900_000_000 + i as i64,
            guard_card: card,
            checkpoint_tag: tag,
            event: 0,
            terminal_time: Some(at),
        })
        .collect();
    let t = Instant::now();
    crate::db::ingest::store_scans(pool, 999, &scans, None).await?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}
