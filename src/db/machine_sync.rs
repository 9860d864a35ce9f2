//! Person register sync: each attendance machine's users as last read (`machine_user`, replaced
//! whole by a `ReadUsers` command and at the end of every `DownloadCards`), and how they differ
//! from who the register says must be there ([`propagation::holdings`]: every person with a
//! card in service granted the machine, as user id = person number, name, card).

use super::notify::Change;
use super::propagation::{self, Holdings};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashSet};

/// A ZKTeco machine keeps a user's name in 24 bytes.
const NAME_BYTES: usize = 24;

/// One user as a machine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineUser {
    pub user_id: String,
    pub name: String,
    /// 0: none (enrolled at the machine by finger or password).
    pub card: u32,
}

/// Replaces machine `terminal_id`'s users with `users`, read now, and tells the consoles.
pub async fn store_users(
    pool: &PgPool,
    terminal_id: i64,
    users: &[MachineUser],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM machine_user_read WHERE terminal_id = $1")
        .bind(terminal_id)
        .execute(&mut *tx)
        .await?;
    let read_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO machine_user_read (terminal_id, read_at, users) VALUES ($1, now(), $2)
         RETURNING read_at",
    )
    .bind(terminal_id)
    .bind(i32::try_from(users.len()).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    // A machine may hold one user id twice (enrolled by hand): the first is kept.
    sqlx::query(
        "INSERT INTO machine_user (terminal_id, user_id, name, card, read_at)
         SELECT $1, u, n, c, $5 FROM unnest($2::text[], $3::text[], $4::bigint[]) AS x (u, n, c)
         ON CONFLICT DO NOTHING",
    )
    .bind(terminal_id)
    .bind(users.iter().map(|u| u.user_id.clone()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.name.clone()).collect::<Vec<_>>())
    .bind(users.iter().map(|u| i64::from(u.card)).collect::<Vec<_>>())
    .bind(read_at)
    .execute(&mut *tx)
    .await?;
    // Named as a table of its own: a machine's punches (which name the terminal) do not make
    // every console work out the differences again.
    Change {
        records: vec!["machine_user".to_string()],
        ..Change::default()
    }
    .send(&mut tx)
    .await?;
    tx.commit().await
}

/// An attendance machine and when its users were last read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MachineSnapshot {
    pub terminal_id: i64,
    pub machine: String,
    /// None: never read (its differences cannot be known yet).
    pub read_at: Option<DateTime<Utc>>,
    pub users: i64,
    /// Its line is polled: false for an offline machine (no address, or the line disabled),
    /// whose users cannot be read or pushed, only its files imported.
    pub reachable: bool,
}

/// Every attendance machine (or only `machine`), with its last read, by name.
pub async fn snapshots(
    pool: &PgPool,
    machine: Option<i64>,
) -> Result<Vec<MachineSnapshot>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS terminal_id, t.name AS machine, r.read_at,
                coalesce(r.users, 0)::bigint AS users, l.enabled AS reachable
         FROM terminal t JOIN line l ON l.id = t.line_id
         LEFT JOIN machine_user_read r ON r.terminal_id = t.id
         WHERE t.kind = 'attendance_machine' AND ($1::bigint IS NULL OR t.id = $1)
         ORDER BY t.name, t.id",
    )
    .bind(machine)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// A person who must be on the machine is not.
    MissingOnMachine,
    /// A user on the machine whose user id is no person number of the register.
    UnknownOnMachine,
    /// A user on the machine who is a person of the register but has no card in service
    /// granted the machine (left, card lost, grant withdrawn).
    NotEntitled,
    /// On the machine under another name or card than the register's.
    Differs,
}

impl DifferenceKind {
    /// The stored name (also the catalogue key's last part).
    pub fn name(self) -> &'static str {
        match self {
            DifferenceKind::MissingOnMachine => "missing_on_machine",
            DifferenceKind::UnknownOnMachine => "unknown_on_machine",
            DifferenceKind::NotEntitled => "not_entitled",
            DifferenceKind::Differs => "differs",
        }
    }
}

/// One difference between a machine and the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDifference {
    pub kind: DifferenceKind,
    pub terminal_id: i64,
    pub machine: String,
    pub user_id: String,
    /// The register's name for the user id, when it is a person number.
    pub person_name: Option<String>,
    /// The card the register says the machine must hold for the user.
    pub card: Option<u32>,
    /// What the machine holds (none when missing).
    pub machine_name: Option<String>,
    pub machine_card: Option<u32>,
}

/// `name` as a machine keeps it: its first 24 bytes, cut at a character.
fn as_held(name: &str) -> &str {
    let mut end = name.len().min(NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The differences of every attendance machine whose users were read (or only `machine`'s),
/// by machine, kind and user id. A machine never read has none yet: see [`snapshots`].
pub async fn sync_differences(
    pool: &PgPool,
    machine: Option<i64>,
) -> Result<Vec<SyncDifference>, sqlx::Error> {
    let mut out = Vec::new();
    for snap in snapshots(pool, machine).await? {
        if snap.read_at.is_none() {
            continue;
        }
        let Holdings::Cards(grants) = propagation::holdings(pool, snap.terminal_id).await? else {
            continue;
        };
        let held: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT user_id, name, card FROM machine_user WHERE terminal_id = $1")
                .bind(snap.terminal_id)
                .fetch_all(pool)
                .await?;
        let held: BTreeMap<String, (String, u32)> = held
            .into_iter()
            .map(|(u, n, c)| (u, (n, u32::try_from(c).unwrap_or(0))))
            .collect();
        let diff = |kind, user_id: &str, person: Option<&str>, card, on: Option<&(String, u32)>| {
            SyncDifference {
                kind,
                terminal_id: snap.terminal_id,
                machine: snap.machine.clone(),
                user_id: user_id.to_string(),
                person_name: person.map(str::to_string),
                card,
                machine_name: on.map(|o| o.0.clone()),
                machine_card: on.map(|o| o.1),
            }
        };
        let mut wanted = HashSet::new();
        for g in &grants {
            let user_id = g.machine_user_id();
            let name = g.name.clone().unwrap_or_default();
            wanted.insert(user_id.clone());
            match held.get(&user_id) {
                None => out.push(diff(
                    DifferenceKind::MissingOnMachine,
                    &user_id,
                    Some(&name),
                    Some(g.card),
                    None,
                )),
                Some(on) if on.1 != g.card || on.0 != as_held(&name) => out.push(diff(
                    DifferenceKind::Differs,
                    &user_id,
                    Some(&name),
                    Some(g.card),
                    Some(on),
                )),
                Some(_) => {}
            }
        }
        let strays: Vec<&String> = held.keys().filter(|u| !wanted.contains(*u)).collect();
        let persons: BTreeMap<String, String> =
            // A user id names a person by number or by a card they hold (`att_user`).
            sqlx::query_as(
                "SELECT u.user_id, p.name FROM att_user u JOIN person p ON p.id = u.person_id
                  WHERE u.user_id = ANY($1)",
            )
                .bind(strays.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .fetch_all(pool)
                .await?
                .into_iter()
                .collect();
        for user_id in strays {
            let person = persons.get(user_id);
            let kind = if person.is_some() {
                DifferenceKind::NotEntitled
            } else {
                DifferenceKind::UnknownOnMachine
            };
            out.push(diff(
                kind,
                user_id,
                person.map(String::as_str),
                None,
                held.get(user_id),
            ));
        }
    }
    out.sort_by(|a, b| {
        (
            a.machine.as_str(),
            a.terminal_id,
            a.kind,
            a.user_id.as_str(),
        )
            .cmp(&(
                b.machine.as_str(),
                b.terminal_id,
                b.kind,
                b.user_id.as_str(),
            ))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_name_is_compared_as_the_machine_keeps_it() {
        assert_eq!(super::as_held("李雷"), "李雷");
        // 9 CJK characters are 27 bytes: 8 fit.
        assert_eq!(super::as_held("一二三四五六七八九"), "一二三四五六七八");
    }
}
