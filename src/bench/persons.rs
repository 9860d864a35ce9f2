//! `onecard bench --persons N`: the person import and the register search, in the benchmark's
//! own database. A CSV of N persons (Chinese names, a few Latin ones, 24 departments) is
//! written to a temp file, then: a dry run, the import, a re-import with nothing changed, and
//! one with 10% of the rows changed; then a card for everyone and the search the card desk
//! types into (median and worst of 5 runs per kind of query). Prints; never fails on a number.

use super::{fresh_database, say, Server};
use crate::db::person::{self, PersonQuery};
use crate::domain::permission::Actor;
use crate::import::persons::{import_with, Options, Progress, Summary};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "欧阳",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "文", "华", "建国", "晓东", "子涵", "浩然",
    "梓萱", "一诺", "欣怡", "宇轩", "思远", "雨桐", "俊杰", "佳怡", "博文", "天宇", "诗涵",
];
const LATIN: &[&str] = &[
    "Wei Zhang",
    "Li Na",
    "John Smith",
    "Anna Müller",
    "Ivan Petrov",
    "Maria Garcia",
    "Kenji Sato",
    "Aisha Khan",
    "Tom Becker",
    "Emma Wilson",
];
const DEPARTMENTS: &[&str] = &[
    "计算机学院",
    "数学学院",
    "物理学院",
    "化学学院",
    "生命科学学院",
    "外国语学院",
    "文学院",
    "历史学院",
    "经济学院",
    "管理学院",
    "法学院",
    "医学院",
    "建筑学院",
    "艺术学院",
    "体育部",
    "图书馆",
    "后勤处",
    "保卫处",
    "财务处",
    "人事处",
    "教务处",
    "学生处",
    "信息中心",
    "校医院",
];

/// The CSV: `person_no,name,department,category,id_document,status`. With `changed`, every
/// tenth person has another name and every twentieth another department.
fn generate(n: usize, seed: u64, changed: bool) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(n * 64 + 64);
    out.push_str("person_no,name,department,category,id_document,status\n");
    for i in 0..n {
        let year = 2018 + (i % 8);
        let name = if rng.gen_ratio(1, 20) {
            LATIN[rng.gen_range(0..LATIN.len())].to_string()
        } else {
            format!(
                "{}{}",
                SURNAMES[rng.gen_range(0..SURNAMES.len())],
                GIVEN[rng.gen_range(0..GIVEN.len())]
            )
        };
        let mut dept = DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())];
        let category = if i % 9 == 0 { "staff" } else { "student" };
        let id = format!(
            "1101011{}{:02}{:02}{:04}",
            rng.gen_range(950..=999),
            rng.gen_range(1..=12),
            rng.gen_range(1..=28),
            i % 10_000
        );
        let status = if rng.gen_ratio(3, 100) {
            "left"
        } else {
            "active"
        };
        let name = if changed && i % 10 == 0 {
            format!("{name}新")
        } else {
            name
        };
        if changed && i % 20 == 5 {
            dept = DEPARTMENTS[(i / 20) % DEPARTMENTS.len()];
        }
        let _ = writeln!(out, "{year}{i:07},{name},{dept},{category},{id},{status}");
    }
    out.into_bytes()
}

async fn timed(
    pool: &sqlx::PgPool,
    actor: &Actor,
    path: &str,
    bytes: &[u8],
    dry_run: bool,
) -> anyhow::Result<(f64, Summary)> {
    let started = Instant::now();
    let mut progress = |_: Progress| {};
    // A fresh register: the file's departments are created by the first import.
    let options = Options {
        dry_run,
        create_departments: true,
    };
    let summary = import_with(pool, actor, path, bytes, options, &mut progress).await?;
    Ok((started.elapsed().as_secs_f64(), summary))
}

fn median_max(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        v.get(v.len() / 2).copied().map_or(0.0, ms),
        v.last().copied().map_or(0.0, ms),
    )
}

pub async fn run(server: &Server, n: usize, seed: u64) -> anyhow::Result<()> {
    let n = n.max(1);
    say(format!(
        "onecard bench --persons {n}: import (dry run, apply, unchanged, 10% changed) and search"
    ));
    let (options, _url) = fresh_database(server, super::DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')",
    )
    .fetch_one(&pool)
    .await?;
    say(format!(
        "database: {} on PostgreSQL {}, fsync {}, synchronous_commit {}",
        super::DATABASE,
        settings.0,
        settings.1,
        settings.2
    ));

    let actor = Actor::shell("bench");
    let file =
        std::env::temp_dir().join(format!("onecard-bench-persons-{}.csv", std::process::id()));
    let bytes = generate(n, seed, false);
    std::fs::write(&file, &bytes)?;
    let path = file.display().to_string();
    say(format!(
        "file: {path}, {} rows, {:.1} MiB",
        n,
        bytes.len() as f64 / (1024.0 * 1024.0)
    ));

    let result = async {
        let bytes = std::fs::read(&file)?;
        let (dry_s, dry) = timed(&pool, &actor, &path, &bytes, true).await?;
        say(format!("dry run: {dry_s:.2} s ({})", dry.counts()));
        let (import_s, done) = timed(&pool, &actor, &path, &bytes, false).await?;
        let rows_per_s = n as f64 / import_s.max(1e-9);
        say(format!(
            "import: {import_s:.2} s, {rows_per_s:.0} rows/s ({})",
            done.counts()
        ));
        let (reimport_s, again) = timed(&pool, &actor, &path, &bytes, false).await?;
        say(format!(
            "re-import, nothing changed: {reimport_s:.2} s ({})",
            again.counts()
        ));
        let changed = generate(n, seed, true);
        let (update_s, upd) = timed(&pool, &actor, &path, &changed, false).await?;
        say(format!(
            "re-import, 10% changed: {update_s:.2} s ({})",
            upd.counts()
        ));

        // The search, with a card for everyone.
        sqlx::query(
            "INSERT INTO card (card_no, person_id, kind, valid_from, valid_until, issued_by,
                               query_pin_hash, payment_pin_hash)
             SELECT 10000000 + id, id, CASE category WHEN 'staff' THEN 'staff' ELSE 'student' END,
                    current_date, current_date + 365, 'bench', 'x', 'x'
             FROM person",
        )
        .execute(&pool)
        .await?;
        sqlx::query("ANALYZE").execute(&pool).await?;
        let some: (i64, String, i64, String) = sqlx::query_as(
            "SELECT p.id, p.person_no, c.card_no, p.id_document FROM person p JOIN card c ON c.person_id = p.id
             ORDER BY p.id OFFSET $1 LIMIT 1",
        )
        .bind((n / 2) as i64)
        .fetch_one(&pool)
        .await?;
        let queries: Vec<(String, PersonQuery)> = vec![
            ("name 王 (substring)".into(), PersonQuery::text("王")),
            ("name 欧阳子涵".into(), PersonQuery::text("欧阳子涵")),
            ("Latin name `müller`".into(), PersonQuery::text("müller")),
            (
                format!("person_no prefix {}", &some.1[..7]),
                PersonQuery::text(&some.1[..7]),
            ),
            (
                format!("person_no {}", some.1),
                PersonQuery::text(&some.1),
            ),
            (
                format!("card_no {}", some.2),
                PersonQuery::text(&some.2.to_string()),
            ),
            (
                format!("id_document {}", some.3),
                PersonQuery::text(&some.3),
            ),
            (
                format!("id_document ending {}", &some.3[some.3.len() - 6..]),
                PersonQuery::text(&some.3[some.3.len() - 6..]),
            ),
            ("department 计算机".into(), PersonQuery::text("计算机")),
            ("no match 不存在".into(), PersonQuery::text("不存在")),
            (
                "structured: department 图书馆 + name 李".into(),
                PersonQuery {
                    department: Some("图书馆".into()),
                    name: Some("李".into()),
                    ..PersonQuery::default()
                },
            ),
        ];
        let mut worst = 0.0f64;
        let mut medians = Vec::new();
        for (label, q) in &queries {
            let mut times = Vec::new();
            let mut hits = 0;
            for _ in 0..5 {
                let t = Instant::now();
                hits = person::search(&pool, q, 50).await?.len();
                times.push(t.elapsed());
            }
            let (p50, max) = median_max(times);
            worst = worst.max(max);
            medians.push(p50);
            say(format!(
                "search {label}: {hits} rows (limit 50), median {p50:.1} ms, max {max:.1} ms"
            ));
        }
        medians.sort_by(f64::total_cmp);
        let search_p50 = medians.get(medians.len() / 2).copied().unwrap_or(0.0);
        say(format!(
            "bench: persons={n} import_s={import_s:.2} dry_run_s={dry_s:.2} reimport_s={reimport_s:.2} rows_per_s={rows_per_s:.0} \
             update10_s={update_s:.2} search_p50_ms={search_p50:.1} search_max_ms={worst:.1}"
        ));
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&file);
    pool.close().await;
    result
}
