//! The demo site: its own database in the embedded cluster (never the real one), with
//! departments, a few hundred people and one operator per role; once its simulated terminals
//! are registered (controllers and doors named after the campus's buildings), door groups, a
//! batch of blank cards and a few dozen cards issued through the card desk's own API (some
//! lost, one reissued), so the Card service tab is alive at once, and [`LiveSite`] runs the
//! simulated campus. `onecard demo` and every command's `--demo` reach this database through
//! `cli::demo_database`.

use crate::db::embedded::Cluster;
use crate::db::{self, operator};
use crate::domain::permission::Actor;
use crate::domain::role::Role;
use crate::sim::site::{Ports, SiteConfig};
use crate::sim::uhppote::Controller;
use crate::sim::SimTerminal;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;

pub mod attendance;
mod books;
pub mod patrol;

pub const DATABASE: &str = "onecard_demo";
pub const DIRECTOR: &str = "director";
/// The demo's wall screen (`onecard demo --wallboard`).
pub const WALLBOARD: &str = "wallboard";

/// (login, role, display name)
const OPERATORS: [(&str, Role, &str); 9] = [
    (DIRECTOR, Role::Director, "周建国"),
    ("sysadmin", Role::SystemAdministrator, "李明"),
    ("dataadmin", Role::DataAdministrator, "Anna Müller"),
    ("carddesk", Role::CardDesk, "王芳"),
    ("dooradmin", Role::DoorAdministrator, "陈志强"),
    ("attendance", Role::AttendanceAdministrator, "刘洋"),
    ("duty", Role::DutyOperator, "张伟"),
    ("technician", Role::Technician, "David Okafor"),
    (WALLBOARD, Role::Wallboard, "值班大屏"),
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
    format!("demo-{}", crate::domain::password::one_time())
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
    } else {
        // A demo database from before a role was added gets that role's operator.
        operators(&pool).await?;
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

    operators(pool).await
}

/// One operator per role, each with its password listed in `demo_account`.
async fn operators(pool: &PgPool) -> anyhow::Result<()> {
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

/// How the live half of the demo runs; the defaults are the demo's.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Where the simulator listens: the documented addresses (control interface
    /// 127.0.0.1:4499), a free port for any that is taken.
    pub ports: Ports,
    /// Background records per second across the site.
    pub rate: f64,
    /// Percent of door-controller traffic that is an alarm (forced open, held open, tamper).
    pub alarm_percent: f64,
    /// How often the cardholders at the doors follow the card desk (a card issued in the demo
    /// console is swiped at its doors from then on).
    pub follow_desk: std::time::Duration,
    pub poller: crate::poller::Options,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            ports: Ports::documented_or_free(),
            rate: 2.0,
            alarm_percent: 2.0,
            follow_desk: std::time::Duration::from_secs(15),
            poller: crate::poller::Options::default(),
        }
    }
}

/// The live half of the demo: a simulated site and the pollers, run inside the console's
/// process. Only one demo process runs them (an advisory lock on the demo database); a second
/// demo console just watches.
///
/// The simulated door controllers start empty, as new ones do: the cards the desk issued reach
/// them the real way (card grants, the propagation queue, the poller), and the site's traffic
/// is swiped by those cards at the doors they are granted (now and then at another door, with
/// a lost card or with an unknown one), so most swipes are granted and name a person.
pub struct LiveSite {
    site: crate::sim::runner::Site,
    traffic: tokio::task::JoinHandle<()>,
    desk: Option<tokio::task::JoinHandle<()>>,
    walkers: tokio::task::JoinHandle<()>,
    supervisor: crate::poller::Supervisor,
    lock: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// Lock key for "this process runs the demo site" ("demo" in ASCII).
const LIVE_LOCK: i64 = 0x6465_6d6f;

impl LiveSite {
    /// Starts the simulator and the pollers, or returns None when another demo runs them.
    pub async fn start(pool: &PgPool) -> anyhow::Result<Option<LiveSite>> {
        LiveSite::start_with(pool, LiveOptions::default()).await
    }

    pub async fn start_with(
        pool: &PgPool,
        options: LiveOptions,
    ) -> anyhow::Result<Option<LiveSite>> {
        let mut lock = pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LIVE_LOCK)
            .fetch_one(&mut *lock)
            .await?;
        if !got {
            return Ok(None);
        }
        let mut config = SiteConfig::demo();
        config.rate = options.rate;
        config.alarm_percent = options.alarm_percent;
        config.cards.granted = false;
        config.patrol = Some(patrol::plan());
        let site = crate::sim::runner::Site::start(&config, options.ports).await?;
        tracing::info!(control = %site.control, "demo: simulated site started; its control interface listens on {}", site.control);
        let registered = crate::sim::register::register_site(pool, &site).await?;
        // A new simulator numbers its records from 1 again: start the demo's books afresh.
        let ids: Vec<i64> = registered.iter().map(|r| r.terminal_id).collect();
        let mut tx = pool.begin().await?;
        // Patrol scans stay: a reader's numbers start a new epoch instead (below), so the
        // rounds already matched keep their scans.
        for table in ["door_event", "pos_purchase", "punch"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE terminal_id = ANY($1)"))
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE terminal SET bookmark = 0 WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        // Its POS number their transactions from 1 again, too: a new numbering epoch, so this
        // run's purchases are not taken for the last run's, which stay in the books.
        sqlx::query(
            "UPDATE terminal SET record_base = record_base + 1000000000,
                                 bookmark = record_base + 1000000000
             WHERE id = ANY($1) AND kind IN ('pos', 'patrol_reader')",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if let Some(plan) = &config.patrol {
            let now = crate::domain::time::now();
            let n = patrol::seed_history(pool, plan, &registered, config.seed, now).await?;
            if n > 0 {
                tracing::info!(scans = n, "demo: a week of past patrol rounds seeded");
            }
        }
        let today = crate::domain::time::today();
        attendance::name_machines(pool, &registered).await?;
        attendance::seed_plan(pool, today).await?;
        let n = attendance::seed_month(pool, &registered, config.seed, today).await?;
        tracing::info!(punches = n, "demo: a month of past punches seeded");
        seed_merchants(pool, &registered).await?;
        name_doors(pool, &site, &config, &registered).await?;
        if !seed_card_desk(pool).await? {
            tell_terminals_again(pool, &ids).await?;
        }
        let controllers: Vec<(i64, Arc<Controller>)> = site
            .controllers()
            .iter()
            .filter_map(|c| {
                let r = registered.iter().find(|r| r.sim_id == c.id())?;
                Some((r.terminal_id, c.clone()))
            })
            .collect();
        walk_to_doors(pool, &controllers).await?;
        let walkers = {
            let pool = pool.clone();
            let every = options
                .follow_desk
                .max(std::time::Duration::from_millis(100));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if let Err(e) = walk_to_doors(&pool, &controllers).await {
                        tracing::warn!(error = %e, "demo: cannot read who may open which door");
                    }
                }
            })
        };
        // The reader's own idea of "new" follows the register.
        let issued: Vec<i64> = sqlx::query_scalar("SELECT card_no FROM card")
            .fetch_all(pool)
            .await?;
        for n in issued {
            if let Ok(n) = u32::try_from(n) {
                let _ = site.desk_mark_known(n);
            }
        }
        record_control(&mut lock, site.control).await?;
        let desk = site
            .desk_readers()
            .first()
            .cloned()
            .map(|reader| tokio::spawn(serve_desk(pool.clone(), reader)));
        let supervisor = crate::poller::Supervisor::start_with(
            pool.clone(),
            format!("demo-{}", std::process::id()),
            options.poller,
        );
        let traffic = site.run_traffic(config.rate, config.seed, config.alarm_percent);
        Ok(Some(LiveSite {
            site,
            traffic,
            desk,
            walkers,
            supervisor,
            lock,
        }))
    }

    /// The simulator's control interface (`list`, `tally`, `<id> <verb> ...`).
    pub fn control(&self) -> SocketAddr {
        self.site.control
    }

    /// The simulated site itself, to look inside its terminals.
    pub fn site(&self) -> &crate::sim::runner::Site {
        &self.site
    }

    pub async fn stop(mut self) {
        self.traffic.abort();
        self.walkers.abort();
        if let Some(desk) = &self.desk {
            desk.abort();
        }
        self.supervisor.stop().await;
        self.site.stop();
        // The lock's connection goes back to the pool: let go of the lock and the address.
        let _ = sqlx::query("DELETE FROM demo_site")
            .execute(&mut *self.lock)
            .await;
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LIVE_LOCK)
            .execute(&mut *self.lock)
            .await;
    }
}

/// Where the demo's simulator takes commands, for every demo process to find (the console,
/// `onecard demo --accounts`).
/// The demo's merchant: the canteen, approved, owning every simulated POS (each run makes sure,
/// changing nothing that is so already).
async fn seed_merchants(
    pool: &PgPool,
    registered: &[crate::sim::register::RegisteredTerminal],
) -> anyhow::Result<()> {
    use crate::db::merchant::{self, MerchantState};
    let actor = Actor::shell("demo");
    let name = "第一食堂";
    let m = match merchant::find(pool, name).await? {
        Some(m) => m,
        None => merchant::apply(pool, &actor, name, rust_decimal::Decimal::new(25, 3)).await?,
    };
    if m.state != MerchantState::Approved.name() {
        merchant::set_state(pool, &actor, name, MerchantState::Approved).await?;
    }
    for r in registered
        .iter()
        .filter(|r| r.kind == crate::sim::TerminalKind::Pos)
    {
        merchant::assign(pool, &actor, name, &r.terminal_id.to_string()).await?;
    }
    Ok(())
}

async fn record_control(
    conn: &mut sqlx::PgConnection,
    control: SocketAddr,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS demo_site (
             only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
             control    text NOT NULL,
             pid        integer NOT NULL,
             started_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO demo_site (control, pid) VALUES ($1, $2)
         ON CONFLICT (only_row) DO UPDATE SET control = EXCLUDED.control, pid = EXCLUDED.pid,
             started_at = now()",
    )
    .bind(control.to_string())
    .bind(i32::try_from(std::process::id()).unwrap_or(0))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The control interface of the demo's simulator while a demo process runs it (this one or
/// another), else None. For `onecard demo --accounts` and the console.
pub async fn control_address(pool: &PgPool) -> Result<Option<SocketAddr>, sqlx::Error> {
    let table: bool = sqlx::query_scalar("SELECT to_regclass('demo_site') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !table {
        return Ok(None);
    }
    // Running while someone holds the lock: a killed demo leaves its row behind, not its lock.
    let control: Option<String> = sqlx::query_scalar(
        "SELECT control FROM demo_site
         WHERE EXISTS (SELECT 1 FROM pg_locks
                       WHERE locktype = 'advisory' AND granted AND classid = 0 AND objsubid = 1
                         AND objid::int8 = $1
                         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
    )
    .bind(LIVE_LOCK)
    .fetch_optional(pool)
    .await?;
    Ok(control.and_then(|c| c.parse().ok()))
}

/// Names the demo's door controllers and their doors after the site's buildings, where nobody
/// named them yet (registered, a terminal is named by its simulator id; a door has no name).
async fn name_doors(
    pool: &PgPool,
    site: &crate::sim::runner::Site,
    config: &SiteConfig,
    registered: &[crate::sim::register::RegisteredTerminal],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut named = Vec::new();
    for ctl in site.controllers() {
        let sim_id = ctl.id();
        let (Some(c), Some(r)) = (
            config
                .door_controllers
                .iter()
                .find(|c| c.serial == ctl.serial()),
            registered.iter().find(|r| r.sim_id == sim_id),
        ) else {
            continue;
        };
        sqlx::query("UPDATE terminal SET name = $2, location = $3 WHERE id = $1 AND name = $4")
            .bind(r.terminal_id)
            .bind(&c.name)
            .bind(&c.location)
            .bind(&sim_id)
            .execute(&mut *tx)
            .await?;
        let doors: Vec<i16> = (1..=c.named_doors.len() as i16).collect();
        let names: Vec<&str> = c.named_doors.iter().map(|d| d.name.as_str()).collect();
        let places: Vec<&str> = c.named_doors.iter().map(|d| d.location.as_str()).collect();
        sqlx::query(
            "UPDATE door d SET name = n.name, location = n.location
             FROM unnest($2::smallint[], $3::text[], $4::text[]) AS n(door, name, location)
             WHERE d.terminal_id = $1 AND d.door = n.door AND d.name = ''",
        )
        .bind(r.terminal_id)
        .bind(&doors)
        .bind(&names)
        .bind(&places)
        .execute(&mut *tx)
        .await?;
        named.push(r.terminal_id);
    }
    crate::db::notify::Change::doors(named)
        .send(&mut tx)
        .await?;
    tx.commit().await
}

/// A new simulator's terminals hold nothing, as new terminals do: what each must hold (door
/// grants, attendance users, the POS blacklist) is queued again through the card desk's own
/// propagation, as for terminals just installed. Returns the commands queued.
async fn tell_terminals_again(pool: &PgPool, terminal_ids: &[i64]) -> anyhow::Result<usize> {
    let actor = Actor::shell("demo");
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM card_sync WHERE terminal_id = ANY($1)")
        .bind(terminal_ids)
        .execute(&mut *tx)
        .await?;
    let cards: Vec<i64> = sqlx::query_scalar("SELECT id FROM card ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    let mut queued = 0;
    let mut change = crate::db::notify::Change::default();
    for card in cards {
        let s = crate::db::propagation::sync_card(&mut tx, &actor, card).await?;
        queued += s.queued;
        change.merge(s.change);
    }
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Who swipes at each door controller (its terminal id, the simulated controller): every card
/// granted on its doors, at those doors (lost and replaced cards too, which it refuses), and a
/// few cardholders of other buildings, at any door (refused too).
async fn walk_to_doors(
    pool: &PgPool,
    controllers: &[(i64, Arc<Controller>)],
) -> Result<(), sqlx::Error> {
    const STRANGERS: usize = 3;
    let grants: Vec<(i64, i64, Vec<i16>)> = sqlx::query_as(
        "SELECT c.card_no, g.terminal_id, array_agg(g.door ORDER BY g.door)
         FROM card_grant g JOIN card c ON c.id = g.card_id
         JOIN terminal t ON t.id = g.terminal_id AND t.kind = 'door_controller'
         WHERE g.door > 0
         GROUP BY c.card_no, g.terminal_id
         ORDER BY c.card_no",
    )
    .fetch_all(pool)
    .await?;
    for (terminal_id, ctl) in controllers {
        let mut walkers: Vec<(u32, Vec<u8>)> = grants
            .iter()
            .filter(|g| g.1 == *terminal_id)
            .filter_map(|g| {
                let doors = g.2.iter().filter_map(|d| u8::try_from(*d).ok()).collect();
                Some((u32::try_from(g.0).ok()?, doors))
            })
            .collect();
        let mut strangers: Vec<u32> = grants
            .iter()
            .filter_map(|g| u32::try_from(g.0).ok())
            .filter(|n| !walkers.iter().any(|w| w.0 == *n))
            .collect();
        strangers.dedup();
        walkers.extend(
            strangers
                .into_iter()
                .take(STRANGERS)
                .map(|n| (n, Vec::new())),
        );
        ctl.set_population(&walkers);
    }
    Ok(())
}

/// Lays the cards demo consoles ask for ([`ask_desk`]) on the simulated desk reader; its
/// poller then announces each on [`crate::poller::CARD_CHANNEL`] like a real reader's.
async fn serve_desk(pool: PgPool, reader: std::sync::Arc<crate::sim::native::DeskReader>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "demo desk reader cannot listen");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(DESK_CHANNEL).await {
            tracing::warn!(error = %e, "demo desk reader cannot listen");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        while let Ok(n) = listener.recv().await {
            let card = match n.payload() {
                "blank" => blank_card_no(&pool).await.ok(),
                other => other.parse::<u32>().ok(),
            };
            match card {
                Some(card) => {
                    reader.present(card);
                }
                None => tracing::warn!(payload = n.payload(), "demo desk reader: no card to lay"),
            }
        }
    }
}

/// A card number never issued, as a blank card from the stock would have.
async fn blank_card_no(pool: &PgPool) -> Result<u32, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT n FROM (SELECT (10000000 + floor(random() * 89999999))::int8 AS n
                        FROM generate_series(1, 16)) r
         WHERE NOT EXISTS (SELECT 1 FROM card c WHERE c.card_no = r.n)
         LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(u32::try_from(n).unwrap_or(10_000_000))
}

/// The first card number the demo issues: the simulator's card population, so the swipes,
/// punches and purchases of the live site are made with cards the desk issued.
const FIRST_CARD: i64 = 8_165_500;
/// Cards issued by the demo (the sim's population is 200 cards).
const DEMO_CARDS: usize = 36;

/// Door groups, a batch of blank cards and a few dozen cards (some topped up, some lost, one
/// reissued), through the card desk's own API, once: when the demo has no card yet. True when
/// it issued them now.
pub async fn seed_card_desk(pool: &PgPool) -> anyhow::Result<bool> {
    use crate::db::card::{self, IssueRequest, PaidFrom};
    use crate::domain::card::{CardKind, Subsystem};
    let cards: i64 = sqlx::query_scalar("SELECT count(*) FROM card")
        .fetch_one(pool)
        .await?;
    if cards > 0 {
        return Ok(false);
    }
    let actor = Actor::shell("demo");
    let level = crate::db::stock::level(pool).await?;
    if level.received == 0 {
        crate::db::stock::receive(pool, &actor, 500, "demo: first batch of blank cards").await?;
    }
    // Door groups over the site's door controllers.
    let doors: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, name FROM terminal WHERE kind = 'door_controller' ORDER BY address",
    )
    .fetch_all(pool)
    .await?;
    let all_doors: Vec<(i64, i16)> = doors
        .iter()
        .flat_map(|(id, _)| (1..=4).map(move |d| (*id, d)))
        .collect();
    let mut groups: Vec<(&str, i64)> = Vec::new();
    let existing = crate::db::door_group::list(pool).await?;
    let wanted: [(&str, Vec<(i64, i16)>); 3] = [
        ("全部门禁", all_doors.clone()),
        (
            "图书馆",
            doors
                .first()
                .map(|(id, _)| vec![(*id, 1), (*id, 2)])
                .unwrap_or_default(),
        ),
        (
            "学生宿舍",
            doors
                .get(1)
                .map(|(id, _)| (1..=4).map(|d| (*id, d)).collect())
                .unwrap_or_default(),
        ),
    ];
    for (name, group_doors) in wanted {
        if let Some(g) = existing.iter().find(|g| g.name == name) {
            groups.push((name, g.id));
        } else if !group_doors.is_empty() {
            let id = crate::db::door_group::create(pool, &actor, name, &group_doors).await?;
            groups.push((name, id));
        }
    }
    let group = |name: &str| groups.iter().find(|g| g.0 == name).map(|g| g.1);
    let machines = |kind: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM terminal WHERE kind = $1 ORDER BY id")
            .bind(kind)
            .fetch_all(pool)
            .await
    };
    let pos = machines("pos").await?;
    let attendance = machines("attendance_machine").await?;
    let people: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, category FROM person ORDER BY person_no")
            .fetch_all(pool)
            .await?;
    let today = crate::domain::time::today();
    // Issued at the start of last month: the canteen's books hold that month, settled.
    let since = books::last_month().first().copied().unwrap_or(today);
    let mut issued = Vec::new();
    let mut holders: Vec<(i64, i64, crate::domain::money::Money)> = Vec::new();
    // Spread over the register: students and staff, every department.
    let step = (people.len() / DEMO_CARDS).max(1);
    for (i, (person_id, category)) in people.iter().step_by(step).take(DEMO_CARDS).enumerate() {
        let kind = match category.as_str() {
            _ if i % 12 == 11 => CardKind::Temporary,
            "staff" => CardKind::Staff,
            "student" => CardKind::Student,
            _ => CardKind::Temporary,
        };
        let (subsystems, door_groups, terminals, years) = match kind {
            CardKind::Staff => (
                Subsystem::ALL.to_vec(),
                group("全部门禁").into_iter().collect(),
                pos.iter().chain(attendance.iter()).copied().collect(),
                5,
            ),
            CardKind::Student => (
                vec![Subsystem::Door, Subsystem::Pos],
                [group("图书馆"), group("学生宿舍")]
                    .into_iter()
                    .flatten()
                    .collect(),
                pos.clone(),
                4,
            ),
            CardKind::Temporary => (vec![Subsystem::Pos], vec![], pos.clone(), 1),
        };
        let valid_until = match kind {
            CardKind::Temporary => since + chrono::Duration::days(365),
            _ => since
                .checked_add_months(chrono::Months::new(12 * years))
                .unwrap_or(since),
        };
        let card = card::issue(
            pool,
            &actor,
            &IssueRequest {
                card_no: FIRST_CARD + i as i64,
                person_id: *person_id,
                kind,
                subsystems,
                door_groups,
                terminals,
                valid_from: since,
                valid_until,
                paid_from: PaidFrom::Cash,
            },
        )
        .await?;
        let amount = crate::domain::money::Money::from_yuan(20 + (i as i64 * 37) % 300);
        holders.push((*person_id, FIRST_CARD + i as i64, amount));
        issued.push(card.card_id);
    }
    // Topped up with what they will have left today and what they ate last month, which is
    // posted and settled next.
    let card_nos: Vec<i64> = holders.iter().map(|h| h.1).collect();
    for ((person_id, _, left), ate) in holders.iter().zip(books::spent(&card_nos)) {
        crate::db::ledger::top_up(pool, &actor, *person_id, *left + ate, "demo: first top-up")
            .await?;
    }
    books::post_and_settle(pool, &card_nos).await?;
    // Some cards reported lost; the first of them reissued at once (the shell overrides the
    // 24 h wait with a reason, as a director would).
    for (n, i) in [5usize, 13, 22, 30].into_iter().enumerate() {
        let Some(&card_id) = issued.get(i) else {
            continue;
        };
        card::report_lost(pool, &actor, card_id).await?;
        if n == 0 {
            card::reissue(
                pool,
                &actor,
                card_id,
                FIRST_CARD + DEMO_CARDS as i64,
                Some("demo: lost on the first day of term".into()),
                PaidFrom::Cash,
            )
            .await?;
        }
    }
    Ok(true)
}

pub use crate::db::listen::{ask_desk, DESK_CHANNEL};
