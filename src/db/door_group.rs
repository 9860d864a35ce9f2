//! Door groups: named sets of doors ("library", "dormitory 3") that an issue grants in one pick.
//! A group is expanded into the card's grants when the card is issued or rewritten.

use super::audit;
use crate::domain::permission::{Action, Actor, Denied};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub enum DoorGroupError {
    #[error("a door group needs a name")]
    NoName,
    #[error("a door group needs at least one door")]
    NoDoors,
    #[error("there is already a door group called {0}")]
    NameTaken(String),
    #[error("door {door}: a door controller has doors 1 to 4")]
    BadDoor { door: i16 },
    #[error("terminal {0} is not a door controller")]
    NotADoorController(i64),
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// One door of a group.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupDoor {
    pub terminal_id: i64,
    pub terminal_name: String,
    pub door: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorGroup {
    pub id: i64,
    pub name: String,
    pub doors: Vec<GroupDoor>,
}

/// A new group of doors (terminal id, door 1-4). Door administration: `Action::DoorGrant`.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    doors: &[(i64, i16)],
) -> Result<i64, DoorGroupError> {
    actor.authorize(Action::DoorGrant)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(DoorGroupError::NoName);
    }
    let doors: BTreeSet<(i64, i16)> = doors.iter().copied().collect();
    if doors.is_empty() {
        return Err(DoorGroupError::NoDoors);
    }
    if let Some(&(_, door)) = doors.iter().find(|(_, d)| !(1..=4).contains(d)) {
        return Err(DoorGroupError::BadDoor { door });
    }
    let terminals: Vec<i64> = doors.iter().map(|(t, _)| *t).collect();
    let controllers: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM terminal WHERE id = ANY($1) AND kind = 'door_controller'",
    )
    .bind(&terminals)
    .fetch_all(pool)
    .await?;
    if let Some(t) = terminals.iter().find(|t| !controllers.contains(t)) {
        return Err(DoorGroupError::NotADoorController(*t));
    }
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar("INSERT INTO door_group (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DoorGroupError::NameTaken(name.to_string())
            }
            _ => DoorGroupError::Sql(e),
        })?;
    let doors_of: Vec<i16> = doors.iter().map(|(_, d)| *d).collect();
    sqlx::query(
        "INSERT INTO door_group_door (door_group_id, terminal_id, door)
         SELECT $1, t, d FROM unnest($2::bigint[], $3::smallint[]) AS x (t, d)",
    )
    .bind(id)
    .bind(&terminals)
    .bind(&doors_of)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "door_group.create",
        "door_group",
        &id.to_string(),
        None,
        Some(json!({
            "name": name,
            "doors": doors.iter().map(|(t, d)| json!({ "terminal_id": t, "door": d })).collect::<Vec<_>>(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Every group with its doors, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<DoorGroup>, sqlx::Error> {
    let groups: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM door_group ORDER BY name")
            .fetch_all(pool)
            .await?;
    let doors: Vec<(i64, i64, String, i16)> = sqlx::query_as(
        "SELECT g.door_group_id, g.terminal_id, t.name, g.door
         FROM door_group_door g JOIN terminal t ON t.id = g.terminal_id
         ORDER BY t.name, g.terminal_id, g.door",
    )
    .fetch_all(pool)
    .await?;
    Ok(groups
        .into_iter()
        .map(|(id, name)| DoorGroup {
            id,
            name,
            doors: doors
                .iter()
                .filter(|d| d.0 == id)
                .map(|d| GroupDoor {
                    terminal_id: d.1,
                    terminal_name: d.2.clone(),
                    door: d.3,
                })
                .collect(),
        })
        .collect())
}
