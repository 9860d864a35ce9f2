//! One NOTIFY per commit, carrying ids only: consoles re-read what changed. PostgreSQL delivers
//! it only if the transaction commits, so a rolled-back change is never announced.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// The channel every onecard process listens on.
pub const CHANNEL: &str = "onecard_change";

/// What a transaction changed, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terminal: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<i64>,
    /// Cards whose state, grants, PINs, limits or terminal confirmations changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub card: Vec<i64>,
    /// Persons added or edited (an import of many says "everything").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub person: Vec<i64>,
    /// Door controllers whose doors changed: live state (open, unlocked) or settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub door: Vec<i64>,
    /// Record tables that gained rows (door_event, pos_purchase, punch, patrol_scan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    /// Patrol plans, due visits or exceptions changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub patrol: bool,
    /// Attendance plans (shifts, schedules, holidays), corrections or daily results changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attendance: bool,
    /// Operators whose account changed (role, disabled) or whose sessions were ended: their
    /// consoles ask the session row again at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator: Vec<i64>,
}

impl Change {
    pub fn alarms(ids: Vec<i64>) -> Change {
        Change {
            alarm: ids,
            ..Change::default()
        }
    }

    pub fn terminal(id: i64) -> Change {
        Change {
            terminal: vec![id],
            ..Change::default()
        }
    }

    pub fn command(id: i64) -> Change {
        Change {
            command: vec![id],
            ..Change::default()
        }
    }

    pub fn cards(ids: Vec<i64>) -> Change {
        Change {
            card: ids,
            ..Change::default()
        }
    }

    pub fn persons(ids: Vec<i64>) -> Change {
        Change {
            person: ids,
            ..Change::default()
        }
    }

    pub fn doors(terminal_ids: Vec<i64>) -> Change {
        Change {
            door: terminal_ids,
            ..Change::default()
        }
    }

    /// Operators whose account or sessions changed.
    pub fn operators(ids: Vec<i64>) -> Change {
        Change {
            operator: ids,
            ..Change::default()
        }
    }

    /// Patrol plans, due visits or exceptions changed.
    pub fn patrol() -> Change {
        Change {
            patrol: true,
            ..Change::default()
        }
    }

    /// Attendance plans, corrections or daily results changed.
    pub fn attendance() -> Change {
        Change {
            attendance: true,
            ..Change::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.card.is_empty()
            && self.person.is_empty()
            && self.alarm.is_empty()
            && self.terminal.is_empty()
            && self.command.is_empty()
            && self.door.is_empty()
            && self.records.is_empty()
            && !self.patrol
            && !self.attendance
            && self.operator.is_empty()
    }

    /// Folds another change in (the console collects a frame's worth before reloading).
    pub fn merge(&mut self, other: Change) {
        for (a, b) in [
            (&mut self.alarm, other.alarm),
            (&mut self.terminal, other.terminal),
            (&mut self.command, other.command),
            (&mut self.card, other.card),
            (&mut self.person, other.person),
            (&mut self.door, other.door),
            (&mut self.operator, other.operator),
        ] {
            a.extend(b);
            a.sort_unstable();
            a.dedup();
        }
        self.patrol |= other.patrol;
        self.attendance |= other.attendance;
        self.records.extend(other.records);
        self.records.sort();
        self.records.dedup();
    }

    /// Queues the notification inside `tx`; sent on commit. Payloads stay under PostgreSQL's
    /// 8000-byte limit by saying "everything" (`{}`) when the id list is too long.
    pub async fn send(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.is_empty() {
            return Ok(());
        }
        let mut payload = serde_json::to_string(self).unwrap_or_default();
        if payload.len() > 7000 {
            payload = "{}".into();
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// `{}` (an overflowed payload) means reload everything.
    pub fn parse(payload: &str) -> Option<Change> {
        serde_json::from_str(payload).ok()
    }
}
