//! The demo site: its own database in the embedded cluster (never the real one), with
//! departments, a few hundred people and one operator per role.

use crate::db::embedded::Cluster;
use crate::db::{self, operator};
use crate::domain::permission::Actor;
use crate::domain::role::Role;
use sqlx::PgPool;

pub const DATABASE: &str = "onecard_demo";
pub const DIRECTOR: &str = "director";

/// (login, role, display name)
const OPERATORS: [(&str, Role, &str); 8] = [
    (DIRECTOR, Role::Director, "周建国"),
    ("sysadmin", Role::SystemAdministrator, "李明"),
    ("dataadmin", Role::DataAdministrator, "Anna Müller"),
    ("carddesk", Role::CardDesk, "王芳"),
    ("dooradmin", Role::DoorAdministrator, "陈志强"),
    ("attendance", Role::AttendanceAdministrator, "刘洋"),
    ("duty", Role::DutyOperator, "张伟"),
    ("technician", Role::Technician, "David Okafor"),
];

/// (code, name)
const DEPARTMENTS: [(&str, &str); 10] = [
    ("D01", "计算机学院"),
    ("D02", "机械工程学院"),
    ("D03", "外国语学院"),
    ("D04", "经济管理学院"),
    ("D05", "图书馆"),
    ("D06", "后勤处"),
    ("D07", "保卫处"),
    ("D08", "学生处"),
    ("D09", "财务处"),
    ("D10", "International Office"),
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "高", "欧阳",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "晓东", "海燕", "志明", "雪梅", "子涵", "浩然",
];
const LATIN_FIRST: [&str; 12] = [
    "Emma", "Lucas", "Sofia", "Noah", "Amara", "Mateo", "Yuki", "Olga", "Kwame", "Priya", "Jonas",
    "Leila",
];
const LATIN_LAST: [&str; 12] = [
    "Schmidt", "Rossi", "García", "Novak", "Okafor", "Tanaka", "Ivanova", "Mensah", "Sharma",
    "Berg", "Haddad", "Dubois",
];

pub const PEOPLE: usize = 320;

/// Deterministic people: mostly Chinese names, one in eight Latin (exchange students and staff).
pub fn people() -> Vec<(String, String, usize, &'static str)> {
    (0..PEOPLE)
        .map(|i| {
            // A fixed multiplicative walk: varied names, same every run.
            let h = (i as u64).wrapping_mul(2654435761) >> 7;
            let name = if i % 8 == 7 {
                format!(
                    "{} {}",
                    LATIN_FIRST[(h % 12) as usize],
                    LATIN_LAST[((h / 12) % 12) as usize]
                )
            } else {
                format!(
                    "{}{}",
                    SURNAMES[(h % 20) as usize],
                    GIVEN[((h / 20) % 24) as usize]
                )
            };
            let dept = i % DEPARTMENTS.len();
            let (no, category) = if dept >= 4 || i % 5 == 0 {
                (format!("T{:05}", 10000 + i), "staff")
            } else {
                (format!("2026{:05}", i), "student")
            };
            (no, name, dept, category)
        })
        .collect()
}

fn demo_password() -> String {
    format!("demo-{}", crate::console::one_time_password())
}

/// Creates (or with `reset`, rebuilds) the demo database and returns a pool on it.
pub async fn prepare(cluster: &Cluster, reset: bool) -> anyhow::Result<PgPool> {
    if reset {
        cluster.drop_database(DATABASE).await?;
    }
    let created = cluster.create_database_if_missing(DATABASE).await?;
    let pool = db::connect(cluster.connect_options(DATABASE)).await?;
    db::migrate(&pool).await?;
    let loaded: bool = sqlx::query_scalar("SELECT to_regclass('demo_account') IS NOT NULL")
        .fetch_one(&pool)
        .await?;
    if created || !loaded {
        load(&pool).await?;
    }
    Ok(pool)
}

/// Loads the demo site in one transaction per part; a killed load is redone on the next start
/// because `demo_account` is written last.
pub async fn load(pool: &PgPool) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let codes: Vec<&str> = DEPARTMENTS.iter().map(|d| d.0).collect();
    let names: Vec<&str> = DEPARTMENTS.iter().map(|d| d.1).collect();
    sqlx::query(
        "INSERT INTO department (code, name) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(&codes)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    let people = people();
    let nos: Vec<&str> = people.iter().map(|p| p.0.as_str()).collect();
    let pnames: Vec<&str> = people.iter().map(|p| p.1.as_str()).collect();
    let depts: Vec<&str> = people.iter().map(|p| DEPARTMENTS[p.2].0).collect();
    let cats: Vec<&str> = people.iter().map(|p| p.3).collect();
    sqlx::query(
        "INSERT INTO person (person_no, name, department_id, category)
         SELECT p.no, p.name, d.id, p.category
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS p(no, name, dept, category)
         JOIN department d ON d.code = p.dept
         ON CONFLICT (person_no) DO NOTHING",
    )
    .bind(&nos)
    .bind(&pnames)
    .bind(&depts)
    .bind(&cats)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    sqlx::query(
        "CREATE TABLE IF NOT EXISTS demo_account (login text PRIMARY KEY, password text NOT NULL)",
    )
    .execute(pool)
    .await?;
    let actor = Actor::shell("demo");
    for (login, role, name) in OPERATORS {
        if operator::find(pool, login).await?.is_some() {
            continue;
        }
        let password = demo_password();
        let mut tx = pool.begin().await?;
        operator::create_in(
            &mut tx,
            &actor,
            operator::NewOperator {
                login,
                display_name: name,
                role,
                password: &password,
                must_change_password: false,
            },
        )
        .await?;
        sqlx::query("INSERT INTO demo_account (login, password) VALUES ($1, $2)")
            .bind(login)
            .bind(&password)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// (login, role, name, password) of every demo operator.
pub async fn accounts(pool: &PgPool) -> anyhow::Result<Vec<(String, String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT o.login, o.role, o.display_name, d.password FROM demo_account d JOIN operator o USING (login)
         ORDER BY o.id",
    )
    .fetch_all(pool)
    .await?)
}

/// The live half of the demo: a simulated site and the pollers, run inside the console's
/// process. Only one demo process runs them (an advisory lock on the demo database); a second
/// demo console just watches.
pub struct LiveSite {
    _site: crate::sim::runner::Site,
    traffic: tokio::task::JoinHandle<()>,
    supervisor: crate::poller::Supervisor,
    _lock: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// Lock key for "this process runs the demo site" ("demo" in ASCII).
const LIVE_LOCK: i64 = 0x6465_6d6f;

impl LiveSite {
    /// Starts the simulator and the pollers, or returns None when another demo runs them.
    pub async fn start(pool: &PgPool) -> anyhow::Result<Option<LiveSite>> {
        let mut lock = pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LIVE_LOCK)
            .fetch_one(&mut *lock)
            .await?;
        if !got {
            return Ok(None);
        }
        let mut config = crate::sim::site::SiteConfig::demo();
        config.rate = 2.0;
        config.alarm_percent = 2.0;
        // Private ports: the demo never clashes with a real site or an `onecard sim` running here.
        let site =
            crate::sim::runner::Site::start(&config, crate::sim::site::Ports::ephemeral()).await?;
        let registered = crate::poller::register_site(pool, &site).await?;
        // A new simulator numbers its records from 1 again: start the demo's books afresh.
        let ids: Vec<i64> = registered.iter().map(|r| r.terminal_id).collect();
        let mut tx = pool.begin().await?;
        for table in ["door_event", "pos_purchase", "patrol_scan", "punch"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE terminal_id = ANY($1)"))
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE terminal SET bookmark = 0 WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let supervisor =
            crate::poller::Supervisor::start(pool.clone(), format!("demo-{}", std::process::id()));
        let traffic = site.run_traffic(config.rate, config.seed, config.alarm_percent);
        Ok(Some(LiveSite {
            _site: site,
            traffic,
            supervisor,
            _lock: lock,
        }))
    }

    pub async fn stop(self) {
        self.traffic.abort();
        self.supervisor.stop().await;
    }
}
