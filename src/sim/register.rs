//! Enters a running simulated site into the line and terminal tables, so a supervisor polls it.
//! Used by the demo, the benchmark and the tests.

use super::runner::{Listing, Site};
use super::TerminalKind;
use crate::db::audit;
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
    Ok(out)
}
