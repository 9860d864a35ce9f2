//! `onecard bench --attendance [--people N]`: the daily results of a month for N people (10,000)
//! computed into `att_day`, in a database of its own.
//!
//! The site (the research's generator, seeded): 50 departments; 85 % on a day shift 08:30-17:30
//! (first and last punch), one department on every-pair, 10 % on a night shift 22:00-06:00
//! (day change 14:00); January 2027 with New Year's Day a holiday. Per working day 5 % absent,
//! 3 % one punch only, 10 % late, 5 % early, 10 % overtime, lunch out and in for most, a
//! duplicate in-punch on a second machine for 40 %, 3 % work on rest days; forgotten-punch
//! corrections and 2,000 leaves. About 77 punches per person.
//!
//! Timed: the whole month into `att_day` by `db::attendance::refresh_people` (the one
//! computation, `att_compute`), the people in two chunks over two connections at once; best
//! of three. Also shown: the same as one statement on one connection, and a dirty refresh after
//! one new punch. Ends with `bench: attendance_month_s=… extract_rps=…`.

use super::{fresh_database, say, Server};
use crate::db::attendance;
use chrono::NaiveDate;
use sqlx::PgPool;
use std::time::{Duration, Instant};

pub const DATABASE: &str = "onecard_bench_attendance";
/// Connections (and chunks of people) the month is computed over: the machine's two cores.
const CHUNKS: usize = 2;

pub async fn run(server: &Server, people: i64, seed: u64) -> anyhow::Result<()> {
    let people = people.max(50);
    let (first, last) = (date(2027, 1, 1), date(2027, 1, 31));
    say(format!(
        "onecard bench --attendance: {people} people, {first} to {last}, in {CHUNKS} chunks over {CHUNKS} connections"
    ));
    let (options, _url) = fresh_database(server, DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CHUNKS as u32 + 1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    let started = Instant::now();
    generate(&pool, people, seed).await?;
    let (punches, corrections): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM punch), (SELECT count(*) FROM att_correction)",
    )
    .fetch_one(&pool)
    .await?;
    say(format!(
        "site ready in {:.1} s: {punches} punches, {corrections} corrections",
        started.elapsed().as_secs_f64()
    ));

    // Chunks of people, contiguous by id.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM person ORDER BY id")
        .fetch_all(&pool)
        .await?;
    let size = ids.len().div_ceil(CHUNKS).max(1);
    let chunks: Vec<Vec<i64>> = ids.chunks(size).map(<[i64]>::to_vec).collect();

    // Each round's 310,000 new rows would wake autovacuum on att_day during the next round,
    // on the same two cores: the rounds measure the computation, not that worker.
    sqlx::query("ALTER TABLE att_day SET (autovacuum_enabled = off)")
        .execute(&pool)
        .await?;
    let mut best = f64::MAX;
    let mut rows = 0;
    for round in 1..=3 {
        sqlx::query("TRUNCATE att_day").execute(&pool).await?;
        let t = Instant::now();
        let runs = chunks
            .iter()
            .map(|c| attendance::refresh_people(&pool, first, last, Some(c)));
        rows = futures::future::try_join_all(runs)
            .await?
            .iter()
            .sum::<i64>();
        let s = t.elapsed().as_secs_f64();
        say(format!(
            "month into att_day, {CHUNKS} connections, round {round}: {s:.3} s ({rows} rows)"
        ));
        best = best.min(s);
    }
    let t = Instant::now();
    let one = attendance::refresh(&pool, first, last).await?;
    say(format!(
        "month into att_day, one statement on one connection: {:.3} s ({one} rows)",
        t.elapsed().as_secs_f64()
    ));
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM att_day GROUP BY 1 ORDER BY 2 DESC")
            .fetch_all(&pool)
            .await?;
    say(format!(
        "statuses: {}",
        counts
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    sqlx::query("ANALYZE att_day").execute(&pool).await?;
    let t = Instant::now();
    let month: Vec<attendance::DayRow> =
        attendance::results::results(&pool, &attendance::ResultQuery::new(first, last)).await?;
    say(format!(
        "month read back from att_day: {:.3} s ({} rows)",
        t.elapsed().as_secs_f64(),
        month.len()
    ));
    // One new punch, then the dirty pass (as serve runs it) for the last day of the month.
    sqlx::query(
        "INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state)
         SELECT 1, person_no, '2027-01-29 18:45:00', 1, 1 FROM person ORDER BY id LIMIT 1",
    )
    .execute(&pool)
    .await?;
    let t = Instant::now();
    let r = attendance::refresh_dirty_until(&pool, Some(last)).await?;
    say(format!(
        "one new punch, then the dirty pass: {:.3} s ({} rows)",
        t.elapsed().as_secs_f64(),
        r.rows
    ));
    pool.close().await;
    if rows == 0 {
        anyhow::bail!("the month computed no results");
    }
    // The extraction rate from a simulated machine holding 100,000 punches.
    let rps = super::attendance_extract::rps(server, super::attendance_extract::PUNCHES).await?;
    say(format!(
        "bench: attendance_month_s={best:.3} extract_rps={rps:.0}"
    ));
    Ok(())
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The research's generator (`04_perf_data.sql`), seeded, on one connection (the seed holds
/// per session). The dirty queue the punches fill is emptied: the month is computed whole.
async fn generate(pool: &PgPool, people: i64, seed: u64) -> anyhow::Result<()> {
    let mut c = pool.acquire().await?;
    let seed = (seed % 1000) as f64 / 1000.0;
    sqlx::query("SELECT setseed($1)")
        .bind(seed)
        .execute(&mut *c)
        .await?;
    for sql in [
        "INSERT INTO setting (key, value, updated_by) VALUES ('site.time_zone', '\"Asia/Shanghai\"', 'bench')",
        "INSERT INTO department (id, code, name) SELECT 1000 + i, 'D' || i, 'Dept ' || i FROM generate_series(1, 50) i",
        "INSERT INTO att_shift (id, name, start_time, end_time, grace_late_min, grace_early_min, day_change, punch_rule) VALUES
          (1, 'day',   '08:30', '17:30', 5, 5, '04:00', 'first_last'),
          (2, 'pairs', '08:30', '17:30', 5, 5, '04:00', 'pairs'),
          (3, 'night', '22:00', '06:00', 5, 5, '14:00', 'first_last')",
        "INSERT INTO att_schedule (department_id, valid_from, valid_to, shift_id)
         SELECT id, '2026-12-01', '2027-02-28', CASE WHEN id = 1050 THEN 2 ELSE 1 END FROM department",
        "INSERT INTO att_holiday (day, name) VALUES ('2027-01-01', 'New Year')",
    ] {
        sqlx::query(sql).execute(&mut *c).await?;
    }
    sqlx::query(
        "INSERT INTO person (id, person_no, name, department_id, category)
         SELECT 10000 + i, 'P' || lpad(i::text, 6, '0'), 'Person ' || i, 1001 + (i % 50), 'staff'
         FROM generate_series(1, $1::bigint) i",
    )
    .bind(people)
    .execute(&mut *c)
    .await?;
    for sql in [
        "INSERT INTO att_schedule (person_id, valid_from, valid_to, shift_id, rest_days)
         SELECT id, '2026-12-01', '2027-02-28', 3, '{6,7}' FROM person
         WHERE id % 10 = 0 AND department_id <> 1050",
        "CREATE TEMP TABLE pd AS
         SELECT p.id, p.person_no, d::date AS day,
                CASE WHEN p.id % 10 = 0 AND p.department_id <> 1050 THEN 'night' ELSE 'day' END AS kind,
                date_part('isodow', d) IN (6, 7) OR d::date = '2027-01-01' AS off,
                random() AS r, random() AS r_late, random() AS r_out, random() AS r_lunch, random() AS r_dup,
                random() AS j1, random() AS j2, random() AS j3, random() AS j4
         FROM person p CROSS JOIN generate_series('2027-01-01'::date, '2027-01-31', '1 day') d
         ORDER BY p.id, d",
        "CREATE TEMP TABLE pt AS
         SELECT pd.person_no, pd.day, pd.off, pd.r,
                pd.day + CASE WHEN pd.kind = 'night' THEN time '22:00' ELSE time '08:30' END AS t1,
                pd.day + CASE WHEN pd.kind = 'night' THEN interval '30 hours' ELSE interval '17 hours 30 minutes' END AS t2,
                pd.kind, pd.r_late, pd.r_out, pd.r_lunch, pd.r_dup, pd.j1, pd.j2, pd.j3, pd.j4
         FROM pd",
        "INSERT INTO punch (terminal_id, user_id, terminal_time, verify, state)
         SELECT DISTINCT ON (1, 2, 3) x.term, x.person_no, date_trunc('second', x.t), 1, 0
         FROM (
             SELECT pt.person_no, v.term, v.t FROM pt
             CROSS JOIN LATERAL (VALUES
                 (1, CASE WHEN pt.r_late < 0.10 THEN pt.t1 + interval '6 min' + pt.j1 * interval '55 min'
                          ELSE pt.t1 - interval '25 min' + pt.j1 * interval '25 min' END),
                 (2, CASE WHEN pt.r_dup < 0.40 THEN (CASE WHEN pt.r_late < 0.10 THEN pt.t1 + interval '6 min' + pt.j1 * interval '55 min'
                          ELSE pt.t1 - interval '25 min' + pt.j1 * interval '25 min' END) + pt.j4 * interval '30 s' END),
                 (1, CASE WHEN pt.kind = 'day' AND pt.r_lunch < 0.95 AND pt.r >= 0.08 THEN pt.day + time '12:00' + pt.j2 * interval '10 min' END),
                 (1, CASE WHEN pt.kind = 'day' AND pt.r_lunch < 0.95 AND pt.r >= 0.08 THEN pt.day + time '12:50' + pt.j3 * interval '10 min' END),
                 (1, CASE WHEN pt.r < 0.08 THEN NULL
                          WHEN pt.r_out < 0.05 THEN pt.t2 - interval '10 min' - pt.j2 * interval '50 min'
                          WHEN pt.r_out < 0.15 THEN pt.t2 + interval '40 min' + pt.j3 * interval '140 min'
                          ELSE pt.t2 + pt.j3 * interval '25 min' END)
             ) v(term, t)
             WHERE NOT pt.off AND pt.r >= 0.05 AND v.t IS NOT NULL
             UNION ALL
             SELECT pt.person_no, 1, pt.day + time '09:00' + pt.j1 * interval '30 min' FROM pt WHERE pt.off AND pt.r < 0.03
             UNION ALL
             SELECT pt.person_no, 1, pt.day + time '15:00' + pt.j2 * interval '60 min' FROM pt WHERE pt.off AND pt.r < 0.03
         ) x",
        "INSERT INTO att_correction (person_id, kind, punch_at, reason, made_by)
         SELECT p.id, 'punch', pt.t2 + interval '3 min', 'forgot to punch out', 'bench'
         FROM pt JOIN person p ON p.person_no = pt.person_no
         WHERE NOT pt.off AND pt.r >= 0.05 AND pt.r < 0.06",
        "INSERT INTO att_correction (person_id, kind, span_from, span_to, leave_type, reason, made_by)
         SELECT DISTINCT ON (p.id, pt.day) p.id, 'leave',
                CASE WHEN pt.j4 < 0.5 THEN pt.day::timestamp ELSE pt.t1 END,
                CASE WHEN pt.j4 < 0.5 THEN pt.day + 1 ELSE pt.t1 + interval '4 hours' END,
                'annual', 'approved', 'bench'
         FROM pt JOIN person p ON p.person_no = pt.person_no
         WHERE NOT pt.off AND pt.r_dup > 0.99 AND pt.j4 < 0.7
         ORDER BY p.id, pt.day LIMIT 2000",
        "DROP TABLE pt",
        "DROP TABLE pd",
        "TRUNCATE att_dirty",
        // Computed whole below: the sweep has nothing left to do in the month.
        "UPDATE att_sweep SET through = '2027-01-31'",
        "VACUUM ANALYZE",
    ] {
        sqlx::query(sql).execute(&mut *c).await?;
    }
    Ok(())
}
