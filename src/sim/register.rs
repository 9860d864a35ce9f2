//! Enters a running simulated site into the line and terminal tables, so a supervisor polls it.
//! Used by the demo, the benchmark and the tests.

use super::patrol::{parse_time, PatrolPlan};
use super::runner::{Listing, Site};
use super::TerminalKind;
use crate::db::audit;
use crate::db::patrol::setup::{self, Checkpoint, Guard, MapKind, Route, RoutePoint, Schedule};
use crate::db::patrol::PatrolError;
use crate::db::terminal::InventoryError;
use crate::domain::permission::Actor;
use sqlx::PgPool;

/// One simulated terminal and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTerminal {
    /// The simulator's id (`door/405419896`, `pos/canteen/3`): the key of `Site::tally`.
    pub sim_id: String,
    pub kind: TerminalKind,
    pub line_id: i64,
    pub terminal_id: i64,
}

/// How to register.
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// Put before every line name (two sites in one database need different ones).
    pub prefix: String,
    /// Reach RS-485 lines through their PTY (as a serial port) rather than TCP.
    pub native_via_pty: bool,
    pub poll_interval_ms: i32,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            prefix: "sim ".into(),
            native_via_pty: false,
            poll_interval_ms: 250,
        }
    }
}

/// Registers `site` with the default options: lines `sim doors` (every UHPPOTE controller,
/// UDP), `sim attendance <serial>` (one per ZKTeco machine) and `sim <line>` (RS-485 over
/// TCP), each terminal named by its simulator id. Running it again updates the addresses
/// (a restarted simulator gets new ports) and keeps the terminals and their records.
pub async fn register_site(
    pool: &PgPool,
    site: &Site,
) -> Result<Vec<RegisteredTerminal>, InventoryError> {
    register_site_with(pool, site, &RegisterOptions::default()).await
}

struct Planned {
    line: String,
    protocol: &'static str,
    transport: &'static str,
    address: String,
    baud: Option<i32>,
    terminal_address: i64,
}

fn endpoint(l: &Listing, scheme: &str) -> Option<String> {
    l.endpoint
        .split(", ")
        .find_map(|e| e.strip_prefix(scheme).map(|s| s.trim().to_string()))
}

fn plan(l: &Listing, o: &RegisterOptions) -> Result<Planned, String> {
    let bad = || format!("cannot read the listing of {}: {l:?}", l.id);
    match l.kind {
        TerminalKind::DoorController => Ok(Planned {
            line: format!("{}doors", o.prefix),
            protocol: "uhppote",
            transport: "udp",
            address: endpoint(l, "udp+tcp ").ok_or_else(bad)?,
            baud: None,
            terminal_address: l
                .address
                .strip_prefix("serial ")
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
        }),
        TerminalKind::AttendanceMachine => Ok(Planned {
            line: format!(
                "{}attendance {}",
                o.prefix,
                l.address.strip_prefix("serial ").unwrap_or(&l.address)
            ),
            protocol: "zk",
            transport: "tcp",
            address: endpoint(l, "tcp ").ok_or_else(bad)?,
            baud: None,
            terminal_address: 0,
        }),
        TerminalKind::Pos | TerminalKind::PatrolReader | TerminalKind::DeskReader => {
            // "line canteen machine 3"
            let rest = l.address.strip_prefix("line ").ok_or_else(bad)?;
            let (name, machine) = rest.rsplit_once(" machine ").ok_or_else(bad)?;
            let machine: i64 = machine.parse().map_err(|_| bad())?;
            let pty = endpoint(l, "pty ");
            let (transport, address, baud) = match (o.native_via_pty, pty) {
                (true, Some(path)) => ("serial", path, Some(115_200)),
                _ => ("tcp", endpoint(l, "tcp ").ok_or_else(bad)?, None),
            };
            Ok(Planned {
                line: format!("{}{name}", o.prefix),
                protocol: "native",
                transport,
                address,
                baud,
                terminal_address: machine,
            })
        }
    }
}

pub async fn register_site_with(
    pool: &PgPool,
    site: &Site,
    options: &RegisterOptions,
) -> Result<Vec<RegisteredTerminal>, InventoryError> {
    let actor = Actor::shell("sim");
    let mut tx = pool.begin().await?;
    let mut out = Vec::new();
    for l in &site.listing {
        let p = plan(l, options).map_err(InventoryError::Invalid)?;
        let line_id: i64 = sqlx::query_scalar(
            "INSERT INTO line (name, protocol, transport, address, baud, poll_interval_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET protocol = EXCLUDED.protocol, transport = EXCLUDED.transport,
                 address = EXCLUDED.address, baud = EXCLUDED.baud, poll_interval_ms = EXCLUDED.poll_interval_ms
             RETURNING id",
        )
        .bind(&p.line)
        .bind(p.protocol)
        .bind(p.transport)
        .bind(&p.address)
        .bind(p.baud)
        .bind(options.poll_interval_ms)
        .fetch_one(&mut *tx)
        .await?;
        let terminal_id: i64 = sqlx::query_scalar(
            "INSERT INTO terminal (line_id, kind, address, name, location, installed_by)
             VALUES ($1, $2, $3, $4, 'simulator', 'onecard sim')
             ON CONFLICT (line_id, address) DO UPDATE SET kind = EXCLUDED.kind
             RETURNING id",
        )
        .bind(line_id)
        .bind(l.kind.name())
        .bind(p.terminal_address)
        .bind(&l.id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(m) = site.attendance_machine(&l.id) {
            crate::db::terminal::set_comm_key(&mut tx, &actor, terminal_id, m.comm_key()).await?;
        }
        out.push(RegisteredTerminal {
            sim_id: l.id.clone(),
            kind: l.kind,
            line_id,
            terminal_id,
        });
    }
    audit::append(
        &mut tx,
        &actor,
        "sim.register",
        "line",
        &options.prefix,
        None,
        Some(serde_json::json!({
            "terminals": out.iter().map(|r| &r.sim_id).collect::<Vec<_>>()
        })),
    )
    .await?;
    tx.commit().await?;
    if let Some(plan) = &site.patrol {
        register_patrol(pool, plan, crate::domain::time::today())
            .await
            .map_err(|e| InventoryError::Invalid(format!("patrol plan: {e}")))?;
    }
    Ok(out)
}

/// Writes a site's patrol plan through `db::patrol::setup`, so that the database lays out the
/// rounds the simulated readers walk. Again: what exists is updated (by tag, card, name), and a
/// schedule that is so already is left as it is (its rounds are not laid out again).
pub async fn register_patrol(
    pool: &PgPool,
    plan: &PatrolPlan,
    today: chrono::NaiveDate,
) -> Result<(), PatrolError> {
    let actor = Actor::shell("sim");
    let map = match &plan.map {
        Some(m) => Some(
            match setup::maps(pool)
                .await?
                .into_iter()
                .find(|x| x.name == m.name)
            {
                Some(x) => x.id,
                None => {
                    let kind = MapKind::Text {
                        plan: m.plan.clone(),
                    };
                    setup::create_map(pool, &actor, &m.name, kind, m.metres_per_unit).await?
                }
            },
        ),
        None => None,
    };
    for c in &plan.checkpoints {
        let checkpoint = Checkpoint {
            tag: i64::from(c.tag),
            name: c.name.clone(),
            location: c.location.clone(),
            place: map.zip(c.place).map(|(m, [x, y])| (m, x, y)),
            early_s: None,
            late_s: None,
        };
        setup::save_checkpoint(pool, &actor, &checkpoint).await?;
    }
    let guards = setup::guards(pool).await?;
    let mut guard_ids = std::collections::HashMap::new();
    for g in &plan.guards {
        let card = i64::from(g.card);
        let known = guards.iter().find(|x| x.card == card);
        let guard = Guard {
            id: known.map_or(0, |x| x.id),
            card,
            name: g.name.clone(),
            group_id: known.and_then(|x| x.group_id),
        };
        let id = setup::save_guard(pool, &actor, &guard).await?;
        guard_ids.insert(g.card, id);
    }
    let routes = setup::routes(pool).await?;
    let mut route_ids = std::collections::HashMap::new();
    for r in &plan.routes {
        let mut route = Route::new(
            &r.name,
            r.points
                .iter()
                .map(|(tag, offset)| RoutePoint {
                    checkpoint_tag: i64::from(*tag),
                    offset_s: i32::try_from(*offset).unwrap_or(i32::MAX),
                })
                .collect(),
        );
        route.id = routes.iter().find(|x| x.name == r.name).map_or(0, |x| x.id);
        route.early_s = i32::try_from(r.early_s).unwrap_or(i32::MAX);
        route.late_s = i32::try_from(r.late_s).unwrap_or(i32::MAX);
        route.grace_s = i32::try_from(r.grace_s).unwrap_or(i32::MAX);
        let same = routes.contains(&route);
        let id = if same {
            route.id
        } else {
            setup::save_route(pool, &actor, &route).await?
        };
        route_ids.insert(r.name.clone(), id);
    }
    let schedules = setup::schedules(pool).await?;
    for s in &plan.schedules {
        let (Some(&route_id), Some(&guard_id)) = (route_ids.get(&s.route), guard_ids.get(&s.guard))
        else {
            return Err(PatrolError::NoRoute(s.route.clone()));
        };
        let (Some(first_start), Some(last_start)) =
            (parse_time(&s.first_start), parse_time(&s.last_start))
        else {
            return Err(PatrolError::BadEvery);
        };
        let known = schedules
            .iter()
            .find(|x| x.route_id == route_id && x.guard_id == Some(guard_id) && x.shift == s.shift);
        let schedule = Schedule {
            id: known.map_or(0, |x| x.id),
            route_id,
            guard_id: Some(guard_id),
            group_id: None,
            shift: s.shift.clone(),
            dow_mask: 127,
            first_start,
            last_start,
            every_min: i32::try_from(s.every_min).unwrap_or(i32::MAX),
            valid_from: known.map_or_else(
                || today - chrono::Duration::days(i64::from(s.days_back)),
                |x| x.valid_from,
            ),
            valid_to: None,
        };
        if known != Some(&schedule) {
            setup::save_schedule(pool, &actor, &schedule).await?;
        }
    }
    Ok(())
}
