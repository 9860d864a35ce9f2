//! Guards and guard groups.

use super::{finish, name_of, Guard, GuardGroup};
use crate::db::audit;
use crate::db::patrol::{unique, PatrolError};
use crate::domain::permission::{Action, Actor};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

pub async fn groups(pool: &PgPool) -> Result<Vec<GuardGroup>, sqlx::Error> {
    Ok(
        sqlx::query_as::<_, (i64, String)>("SELECT id, name FROM guard_group ORDER BY name")
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|(id, name)| GuardGroup { id, name })
            .collect(),
    )
}

/// Adds (id 0) or renames a guard group; returns its id.
pub async fn save_group(
    pool: &PgPool,
    actor: &Actor,
    id: i64,
    name: &str,
) -> Result<i64, PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let name = name_of(name)?;
    let mut tx = pool.begin().await?;
    let before: Option<String> = sqlx::query_scalar("SELECT name FROM guard_group WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if id != 0 && before.is_none() {
        return Err(PatrolError::NoGroup(id.to_string()));
    }
    let taken = || PatrolError::NameTaken {
        what: "guard group",
        name: name.clone(),
    };
    let id: i64 = if id == 0 {
        sqlx::query_scalar("INSERT INTO guard_group (name) VALUES ($1) RETURNING id").bind(&name)
    } else {
        sqlx::query_scalar("UPDATE guard_group SET name = $1 WHERE id = $2 RETURNING id")
            .bind(&name)
            .bind(id)
    }
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| unique(e, taken))?;
    audit::append(
        &mut tx,
        actor,
        "patrol.group.save",
        "guard_group",
        &id.to_string(),
        before.map(|b| json!({ "name": b })),
        Some(json!({ "name": name })),
    )
    .await?;
    finish(tx, false).await?;
    Ok(id)
}

pub async fn guards(pool: &PgPool) -> Result<Vec<Guard>, sqlx::Error> {
    Ok(sqlx::query_as::<_, (i64, i64, String, Option<i64>)>(
        "SELECT id, card, name, group_id FROM guard ORDER BY name, card",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, card, name, group_id)| Guard {
        id,
        card,
        name,
        group_id,
    })
    .collect())
}

/// Adds (id 0) or changes a guard; returns its id.
pub async fn save_guard(pool: &PgPool, actor: &Actor, g: &Guard) -> Result<i64, PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let id = save_guard_in(&mut tx, actor, g).await?;
    finish(tx, true).await?;
    Ok(id)
}

pub(crate) async fn save_guard_in(
    tx: &mut PgConnection,
    actor: &Actor,
    g: &Guard,
) -> Result<i64, PatrolError> {
    let name = name_of(&g.name)?;
    if !(1..=u32::MAX as i64).contains(&g.card) {
        return Err(PatrolError::BadCard(g.card));
    }
    let holder: Option<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM guard WHERE card = $1 AND id <> $2")
            .bind(g.card)
            .bind(g.id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((_, holder)) = holder {
        return Err(PatrolError::CardTaken {
            card: g.card,
            name: holder,
        });
    }
    let before: Option<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT card, name, group_id FROM guard WHERE id = $1 FOR UPDATE")
            .bind(g.id)
            .fetch_optional(&mut *tx)
            .await?;
    if g.id != 0 && before.is_none() {
        return Err(PatrolError::NoGuard(g.id.to_string()));
    }
    let id: i64 = if g.id == 0 {
        sqlx::query_scalar(
            "INSERT INTO guard (card, name, group_id) VALUES ($1, $2, $3) RETURNING id",
        )
    } else {
        sqlx::query_scalar(
            "UPDATE guard SET card = $1, name = $2, group_id = $3 WHERE id = $4 RETURNING id",
        )
    }
    .bind(g.card)
    .bind(&name)
    .bind(g.group_id)
    .bind(g.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            PatrolError::NoGroup(g.group_id.unwrap_or_default().to_string())
        }
        _ => PatrolError::Sql(e),
    })?;
    audit::append(
        tx,
        actor,
        if before.is_some() {
            "patrol.guard.change"
        } else {
            "patrol.guard.add"
        },
        "guard",
        &id.to_string(),
        before.map(|(card, name, group)| json!({ "card": card, "name": name, "group_id": group })),
        Some(json!({ "card": g.card, "name": name, "group_id": g.group_id })),
    )
    .await?;
    Ok(id)
}

/// Deletes a guard with the schedules only they walk.
pub async fn delete_guard(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('patrol_match'))")
        .execute(&mut *tx)
        .await?;
    let before: Option<(i64, String)> =
        sqlx::query_as("DELETE FROM guard WHERE id = $1 RETURNING card, name")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((card, name)) = before else {
        return Err(PatrolError::NoGuard(id.to_string()));
    };
    audit::append(
        &mut tx,
        actor,
        "patrol.guard.delete",
        "guard",
        &id.to_string(),
        Some(json!({ "card": card, "name": name })),
        None,
    )
    .await?;
    finish(tx, true).await
}

/// Deletes a guard group no schedule names; its guards stay, in no group.
pub async fn delete_group(pool: &PgPool, actor: &Actor, id: i64) -> Result<(), PatrolError> {
    actor.authorize(Action::PatrolEdit)?;
    let mut tx = pool.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM guard_group WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(name) = name else {
        return Err(PatrolError::NoGroup(id.to_string()));
    };
    let schedules: i64 =
        sqlx::query_scalar("SELECT count(*) FROM patrol_schedule WHERE group_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if schedules > 0 {
        return Err(PatrolError::GroupInUse { name, schedules });
    }
    let members: Vec<i64> =
        sqlx::query_scalar("UPDATE guard SET group_id = NULL WHERE group_id = $1 RETURNING id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM guard_group WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        "patrol.group.delete",
        "guard_group",
        &id.to_string(),
        Some(json!({ "name": name, "guards": members })),
        None,
    )
    .await?;
    finish(tx, false).await
}
