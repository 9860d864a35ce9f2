//! The command queue: the console inserts, the poller owning the terminal's line claims with
//! FOR UPDATE SKIP LOCKED, runs it with a timeout, and records the terminal's answer.

use super::audit;
use super::notify::Change;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgPool};

/// What goes to hardware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TerminalCommand {
    OpenDoor {
        door: u8,
    },
    SetTime,
    ClearRecords,
    OnlineTest,
    SetDoorMode {
        door: u8,
        mode: DoorMode,
        unlock_secs: u8,
    },
    PushCards {
        cards: Vec<u32>,
    },
    PushBlacklist {
        cards: Vec<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorMode {
    Controlled,
    NormallyOpen,
    NormallyClosed,
}

impl TerminalCommand {
    /// The permission each command needs.
    pub fn action(&self) -> Action {
        match self {
            TerminalCommand::OpenDoor { .. } => Action::DoorRemoteOpen,
            TerminalCommand::SetDoorMode { .. } => Action::DoorSetting,
            TerminalCommand::PushCards { .. } | TerminalCommand::PushBlacklist { .. } => {
                Action::DoorGrant
            }
            TerminalCommand::ClearRecords => Action::RecordPurge,
            TerminalCommand::SetTime | TerminalCommand::OnlineTest => Action::TerminalDiagnose,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CommandRow {
    pub id: i64,
    pub terminal_id: i64,
    pub command: sqlx::types::Json<TerminalCommand>,
    pub state: String,
    pub requested_at: DateTime<Utc>,
    pub result: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub async fn enqueue(
    pool: &PgPool,
    actor: &Actor,
    terminal_id: i64,
    cmd: &TerminalCommand,
) -> Result<i64, CommandError> {
    actor.authorize(cmd.action())?;
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal_command (terminal_id, command, requested_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(terminal_id)
    .bind(sqlx::types::Json(cmd))
    .bind(actor.operator_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "terminal.command",
        "terminal",
        &terminal_id.to_string(),
        None,
        serde_json::to_value(cmd).ok(),
    )
    .await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Claims the oldest queued command for any terminal of `line_id`; None when there is none.
pub async fn claim(
    pool: &PgPool,
    line_id: i64,
    worker: &str,
) -> Result<Option<CommandRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE terminal_command c SET state = 'running', claimed_by = $2, started_at = now()
         WHERE c.id = (
             SELECT q.id FROM terminal_command q JOIN terminal t ON t.id = q.terminal_id
             WHERE q.state = 'queued' AND t.line_id = $1
             ORDER BY q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED)
         RETURNING c.id, c.terminal_id, c.command, c.state, c.requested_at, c.result",
    )
    .bind(line_id)
    .bind(worker)
    .fetch_optional(pool)
    .await
}

pub async fn finish(pool: &PgPool, id: i64, ok: bool, result: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE terminal_command SET state = $2, finished_at = now(), result = $3 WHERE id = $1 AND state = 'running'")
        .bind(id)
        .bind(if ok { "done" } else { "failed" })
        .bind(result)
        .execute(&mut *tx)
        .await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A command that was running on a line whose owner died: its outcome is unknown, and it is
/// never replayed blindly (opening a door twice is not harmless). Called by a new line owner.
pub async fn orphaned_to_unknown(pool: &PgPool, line_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE terminal_command c SET state = 'unknown', finished_at = now(),
             result = 'the poller running it stopped; check the terminal before repeating'
         FROM terminal t WHERE t.id = c.terminal_id AND t.line_id = $1 AND c.state = 'running'",
    )
    .bind(line_id)
    .execute(pool)
    .await?
    .rows_affected())
}

pub async fn by_id(pool: &PgPool, ids: &[i64]) -> Result<Vec<CommandRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, terminal_id, command, state, requested_at, result FROM terminal_command WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}
