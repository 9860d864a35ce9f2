//! The command queue: the console inserts, the poller owning the terminal's line claims with
//! FOR UPDATE SKIP LOCKED, runs it with a timeout, and records the terminal's answer.

use super::audit;
use super::notify::Change;
use crate::domain::permission::{Action, Actor, Denied};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgConnection, PgPool};

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
    /// Stores or updates cards: on a door controller with their doors and validity, on an
    /// attendance machine as users (`user_id`, `name`, card), on a patrol reader as its whole
    /// guards table.
    PushCards {
        cards: Vec<CardGrant>,
    },
    /// Removes cards a door controller or an attendance machine held; a card it does not hold
    /// is fine.
    RevokeCards {
        cards: Vec<CardRevoke>,
    },
    /// A POS's whole blacklist (a full, versioned table). On a door controller: deletes the
    /// cards.
    PushBlacklist {
        cards: Vec<u32>,
    },
}

/// One card as a terminal is to accept it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardGrant {
    pub card: u32,
    /// Door controllers: the doors (1-4) it opens. Empty elsewhere.
    #[serde(default)]
    pub doors: Vec<u8>,
    /// Validity, first and last day (the controller enforces it).
    pub from: NaiveDate,
    pub until: NaiveDate,
    /// Attendance machines: the user id (the person's person_no) and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl CardGrant {
    /// A door controller's grant: `doors` sorted, each once.
    pub fn for_doors(card: u32, doors: &[u8], from: NaiveDate, until: NaiveDate) -> CardGrant {
        let mut doors = doors.to_vec();
        doors.sort_unstable();
        doors.dedup();
        CardGrant {
            card,
            doors,
            from,
            until,
            user_id: None,
            name: None,
        }
    }
}

/// One card a terminal is to refuse from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRevoke {
    pub card: u32,
    /// Attendance machines: the user that held the card (deleted only while it still holds
    /// this card; a person's newer card may have taken the user over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
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
            TerminalCommand::PushCards { .. }
            | TerminalCommand::RevokeCards { .. }
            | TerminalCommand::PushBlacklist { .. } => Action::DoorGrant,
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
    let mut tx = pool.begin().await?;
    let id = enqueue_in(&mut tx, actor, terminal_id, cmd).await?;
    Change::command(id).send(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// Queues a command (checked and audited) inside the caller's transaction, with the change
/// that asked for it; the caller announces it (`Change::command`).
pub async fn enqueue_in(
    tx: &mut PgConnection,
    actor: &Actor,
    terminal_id: i64,
    cmd: &TerminalCommand,
) -> Result<i64, CommandError> {
    actor.authorize(cmd.action())?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO terminal_command (terminal_id, command, requested_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(terminal_id)
    .bind(sqlx::types::Json(cmd))
    .bind(actor.operator_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        tx,
        actor,
        "terminal.command",
        "terminal",
        &terminal_id.to_string(),
        None,
        serde_json::to_value(cmd).ok(),
    )
    .await?;
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

/// Records a command's outcome. The notification names the command and the cards whose
/// terminal confirmations it settles (their `card_sync` rows point at it).
pub async fn finish(pool: &PgPool, id: i64, ok: bool, result: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE terminal_command SET state = $2, finished_at = now(), result = $3 WHERE id = $1 AND state = 'running'")
        .bind(id)
        .bind(if ok { "done" } else { "failed" })
        .bind(result)
        .execute(&mut *tx)
        .await?;
    let cards: Vec<i64> =
        sqlx::query_scalar("SELECT card_id FROM card_sync WHERE command_id = $1 ORDER BY card_id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let mut change = Change::command(id);
    change.merge(Change::cards(cards));
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A command that was running on a line whose owner died: its outcome is unknown, and it is
/// never replayed blindly (opening a door twice is not harmless). Called by a new line owner.
pub async fn orphaned_to_unknown(pool: &PgPool, line_id: i64) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE terminal_command c SET state = 'unknown', finished_at = now(),
             result = 'the poller running it stopped; check the terminal before repeating'
         FROM terminal t WHERE t.id = c.terminal_id AND t.line_id = $1 AND c.state = 'running'
         RETURNING c.id",
    )
    .bind(line_id)
    .fetch_all(&mut *tx)
    .await?;
    if !ids.is_empty() {
        let cards: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT card_id FROM card_sync WHERE command_id = ANY($1) ORDER BY card_id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let change = Change {
            command: ids.clone(),
            card: cards,
            ..Change::default()
        };
        change.send(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}

pub async fn by_id(pool: &PgPool, ids: &[i64]) -> Result<Vec<CommandRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, terminal_id, command, state, requested_at, result FROM terminal_command WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_commands_travel_as_json() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let push = TerminalCommand::PushCards {
            cards: vec![CardGrant::for_doors(
                8165537,
                &[3, 1, 3],
                d("2026-11-22"),
                d("2027-07-31"),
            )],
        };
        let json = serde_json::to_value(&push).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"op": "push_cards", "cards": [
                {"card": 8165537, "doors": [1, 3], "from": "2026-11-22", "until": "2027-07-31"}
            ]})
        );
        assert_eq!(
            serde_json::from_value::<TerminalCommand>(json).unwrap(),
            push
        );
        let revoke: TerminalCommand = serde_json::from_value(serde_json::json!({
            "op": "revoke_cards", "cards": [{"card": 1, "user_id": "S1"}, {"card": 2}]
        }))
        .unwrap();
        assert_eq!(
            revoke,
            TerminalCommand::RevokeCards {
                cards: vec![
                    CardRevoke {
                        card: 1,
                        user_id: Some("S1".into())
                    },
                    CardRevoke {
                        card: 2,
                        user_id: None
                    }
                ]
            }
        );
        assert_eq!(revoke.action(), Action::DoorGrant);
    }
}
