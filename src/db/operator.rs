//! Operators: accounts, login with lockout, sessions. Every change is authorised and audited.

use super::audit;
use super::notify::Change;
use crate::domain::password::{self, PolicyError};
use crate::domain::permission::{Action, Actor, Denied};
use crate::domain::role::Role;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{PgPool, Row};

/// Wrong passwords in a row that lock an account, and for how long.
pub const LOCKOUT_ATTEMPTS: i32 = 5;
pub const LOCKOUT_MINUTES: i64 = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub must_change_password: bool,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl Operator {
    pub fn actor(&self) -> Actor {
        Actor::operator(self.id, &self.login, self.role)
    }

    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("login `{0}` is taken")]
    LoginTaken(String),
    #[error("a login is 2-32 characters: lower-case letters, digits, '.', '_' or '-'")]
    BadLogin,
    #[error("no operator `{0}`")]
    NotFound(String),
    #[error(
        "operators exist already: the first-run account can only be created on an empty system"
    )]
    NotFirstRun,
    #[error("an operator may not disable their own account")]
    SelfDisable,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong login or password")]
    WrongCredentials,
    #[error("this account is locked after {LOCKOUT_ATTEMPTS} wrong passwords, until {}", .0.with_timezone(&chrono::Local).format("%H:%M"))]
    Locked(DateTime<Utc>),
    #[error("this account is disabled")]
    Disabled,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

const COLUMNS: &str = "id, login, display_name, role, must_change_password, failed_attempts, locked_until, disabled, last_login_at";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Operator, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(Operator {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        role: role
            .parse()
            .map_err(|e: crate::domain::role::UnknownRole| sqlx::Error::Decode(Box::new(e)))?,
        must_change_password: row.try_get("must_change_password")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked_until: row.try_get("locked_until")?,
        disabled: row.try_get("disabled")?,
        last_login_at: row.try_get("last_login_at")?,
    })
}

/// The audit view of an operator: never the hash.
fn snapshot(op: &Operator) -> serde_json::Value {
    json!({
        "login": op.login,
        "display_name": op.display_name,
        "role": op.role.name(),
        "must_change_password": op.must_change_password,
        "locked_until": op.locked_until,
        "disabled": op.disabled,
    })
}

/// The audit row of a change to an operator, in the change's transaction.
async fn audit_change(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    action: &str,
    before: Option<&Operator>,
    after: &Operator,
) -> Result<i64, sqlx::Error> {
    audit::append(
        tx,
        actor,
        action,
        "operator",
        &after.login,
        before.map(snapshot),
        Some(snapshot(after)),
    )
    .await
}

pub fn valid_login(login: &str) -> bool {
    let len = login.chars().count();
    (2..=32).contains(&len)
        && login.chars().enumerate().all(|(i, c)| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && matches!(c, '.' | '_' | '-'))
        })
}

pub struct NewOperator<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password: &'a str,
    /// True when someone other than the operator chose the password.
    pub must_change_password: bool,
}

pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    new: NewOperator<'_>,
) -> Result<Operator, OperatorError> {
    let mut tx = pool.begin().await?;
    let op = create_in(&mut tx, actor, new).await?;
    tx.commit().await?;
    Ok(op)
}

/// `create` inside the caller's transaction.
pub async fn create_in(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    new: NewOperator<'_>,
) -> Result<Operator, OperatorError> {
    actor.authorize(Action::OperatorManage)?;
    insert(tx, actor, &new).await
}

async fn insert(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    new: &NewOperator<'_>,
) -> Result<Operator, OperatorError> {
    if !valid_login(new.login) {
        return Err(OperatorError::BadLogin);
    }
    password::check_policy(new.login, new.password)?;
    let hash = password::hash(new.password);
    let row = sqlx::query(&format!(
        "INSERT INTO operator (login, display_name, role, password_hash, must_change_password)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(new.login)
    .bind(new.display_name)
    .bind(new.role.name())
    .bind(&hash)
    .bind(new.must_change_password)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            OperatorError::LoginTaken(new.login.to_string())
        }
        _ => OperatorError::Sql(e),
    })?;
    let op = from_row(&row)?;
    audit_change(tx, actor, "operator.add", None, &op).await?;
    Ok(op)
}

/// The first-run screen: a director on a system with no operators at all. Serialised so two
/// consoles on a fresh system cannot both create one.
pub async fn create_first_director(
    pool: &PgPool,
    login: &str,
    display_name: &str,
    password: &str,
) -> Result<Operator, OperatorError> {
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE operator IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM operator")
        .fetch_one(&mut *tx)
        .await?;
    if count > 0 {
        return Err(OperatorError::NotFirstRun);
    }
    let actor = Actor {
        operator_id: None,
        name: format!("first-run:{login}"),
        role: None,
        session: None,
    };
    let new = NewOperator {
        login,
        display_name,
        role: Role::Director,
        password,
        must_change_password: false,
    };
    let op = insert(&mut tx, &actor, &new).await?;
    tx.commit().await?;
    Ok(op)
}

pub async fn count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM operator")
        .fetch_one(pool)
        .await
}

pub async fn list(pool: &PgPool) -> Result<Vec<Operator>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM operator ORDER BY login"))
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn find(pool: &PgPool, login: &str) -> Result<Option<Operator>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM operator WHERE login = $1"))
        .bind(login)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Loads an operator under a row lock inside `tx`.
async fn lock_row(tx: &mut sqlx::PgConnection, login: &str) -> Result<Operator, OperatorError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator WHERE login = $1 FOR UPDATE"
    ))
    .bind(login)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| OperatorError::NotFound(login.to_string()))?;
    Ok(from_row(&row)?)
}

/// Sets a password. Changing one's own password needs no permission; anyone else's needs
/// operator management, and then the operator must choose a new one at next login.
pub async fn set_password(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    new_password: &str,
) -> Result<(), OperatorError> {
    let own = actor.role.is_some() && actor.name == login;
    if !own {
        actor.authorize(Action::OperatorManage)?;
    }
    password::check_policy(login, new_password)?;
    let hash = password::hash(new_password);
    let mut tx = pool.begin().await?;
    let before = lock_row(&mut tx, login).await?;
    let row = sqlx::query(&format!(
        "UPDATE operator SET password_hash = $2, must_change_password = $3, failed_attempts = 0, locked_until = NULL
         WHERE login = $1 RETURNING {COLUMNS}"
    ))
    .bind(login)
    .bind(&hash)
    .bind(!own)
    .fetch_one(&mut *tx)
    .await?;
    let after = from_row(&row)?;
    let action = if own {
        "operator.password-change"
    } else {
        "operator.password-reset"
    };
    audit_change(&mut tx, actor, action, Some(&before), &after).await?;
    tx.commit().await?;
    Ok(())
}

async fn update_flags(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    action: &str,
    sql_set: &str,
) -> Result<Operator, OperatorError> {
    actor.authorize(Action::OperatorManage)?;
    let mut tx = pool.begin().await?;
    let before = lock_row(&mut tx, login).await?;
    let row = sqlx::query(&format!(
        "UPDATE operator SET {sql_set} WHERE login = $1 RETURNING {COLUMNS}"
    ))
    .bind(login)
    .fetch_one(&mut *tx)
    .await?;
    let after = from_row(&row)?;
    audit_change(&mut tx, actor, action, Some(&before), &after).await?;
    if after.disabled {
        // A disabled operator's open consoles go back to the sign-in screen.
        end_sessions_in(&mut tx, after.id).await?;
    }
    // Their consoles ask the session row again (role, disabled, ended).
    Change::operators(vec![after.id]).send(&mut tx).await?;
    tx.commit().await?;
    Ok(after)
}

/// Ends every open session of `operator_id` inside `tx`; their ids.
async fn end_sessions_in(
    tx: &mut sqlx::PgConnection,
    operator_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE operator_session SET ended_at = now()
         WHERE operator_id = $1 AND ended_at IS NULL RETURNING id",
    )
    .bind(operator_id)
    .fetch_all(&mut *tx)
    .await
}

/// `onecard operator kick LOGIN`: ends every open session of the operator (audited with the
/// sessions ended, in the same transaction) and announces it, so each of their consoles goes
/// back to the sign-in screen at once. The number of sessions ended.
pub async fn kick(pool: &PgPool, actor: &Actor, login: &str) -> Result<usize, OperatorError> {
    actor.authorize(Action::OperatorManage)?;
    let mut tx = pool.begin().await?;
    let op = lock_row(&mut tx, login).await?;
    let mut ended = end_sessions_in(&mut tx, op.id).await?;
    ended.sort_unstable();
    audit::append(
        &mut tx,
        actor,
        "operator.kick",
        "operator",
        &op.login,
        None,
        Some(json!({ "sessions_ended": ended })),
    )
    .await?;
    Change::operators(vec![op.id]).send(&mut tx).await?;
    tx.commit().await?;
    Ok(ended.len())
}

/// Gives an operator another role (audited); their open consoles take it at their next
/// action, and are told at once.
pub async fn set_role(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    role: Role,
) -> Result<Operator, OperatorError> {
    actor.authorize(Action::OperatorManage)?;
    let mut tx = pool.begin().await?;
    let before = lock_row(&mut tx, login).await?;
    let row = sqlx::query(&format!(
        "UPDATE operator SET role = $2 WHERE login = $1 RETURNING {COLUMNS}"
    ))
    .bind(login)
    .bind(role.name())
    .fetch_one(&mut *tx)
    .await?;
    let after = from_row(&row)?;
    audit_change(&mut tx, actor, "operator.role", Some(&before), &after).await?;
    Change::operators(vec![after.id]).send(&mut tx).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn unlock(pool: &PgPool, actor: &Actor, login: &str) -> Result<Operator, OperatorError> {
    update_flags(
        pool,
        actor,
        login,
        "operator.unlock",
        "failed_attempts = 0, locked_until = NULL",
    )
    .await
}

/// Disables or re-enables an account (never deleted: the audit log refers to it).
pub async fn set_disabled(
    pool: &PgPool,
    actor: &Actor,
    login: &str,
    disabled: bool,
) -> Result<Operator, OperatorError> {
    if disabled && actor.name == login {
        return Err(OperatorError::SelfDisable);
    }
    let (action, set) = if disabled {
        ("operator.disable", "disabled = true")
    } else {
        ("operator.enable", "disabled = false")
    };
    update_flags(pool, actor, login, action, set).await
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub operator: Operator,
}

/// Checks a password, counting failures: the fifth wrong one in a row locks the account.
pub async fn authenticate(
    pool: &PgPool,
    login: &str,
    password: &str,
    client: &str,
) -> Result<Session, LoginError> {
    let mut tx = pool.begin().await?;
    let op = match check_password(&mut tx, login, password).await {
        Ok(op) => op,
        Err(e) => {
            if matches!(e, LoginError::WrongCredentials | LoginError::Locked(_)) {
                // The count (or the lock) stays.
                tx.commit().await?;
            }
            return Err(e);
        }
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO operator_session (operator_id, client) VALUES ($1, $2) RETURNING id",
    )
    .bind(op.id)
    .bind(client)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Session { id, operator: op })
}

/// The idle lock: the signed-in operator's password again, for the session `session_id`
/// (which must still be open). Wrong passwords count toward the lockout as at sign-in; a
/// lockout ends the session.
pub async fn reauthenticate(
    pool: &PgPool,
    session_id: i64,
    password: &str,
) -> Result<Operator, ReauthError> {
    let mut tx = pool.begin().await?;
    let actor = session_actor(&mut tx, session_id).await?;
    match check_password(&mut tx, &actor.name, password).await {
        Ok(op) => {
            tx.commit().await?;
            Ok(op)
        }
        Err(LoginError::Locked(until)) => {
            // Locked out: the session ends with the lock.
            sqlx::query(
                "UPDATE operator_session SET ended_at = now() WHERE id = $1 AND ended_at IS NULL",
            )
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Err(ReauthError::Login(LoginError::Locked(until)))
        }
        Err(LoginError::WrongCredentials) => {
            tx.commit().await?;
            Err(ReauthError::Login(LoginError::WrongCredentials))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Login(#[from] LoginError),
}

impl From<sqlx::Error> for ReauthError {
    fn from(e: sqlx::Error) -> Self {
        ReauthError::Session(SessionError::Sql(e))
    }
}

/// Why a session no longer acts.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("this session was ended")]
    Ended,
    #[error("this account is disabled")]
    Disabled,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Who acts in session `session_id`, from the session row: the operator's current role.
/// Refused when the session was ended or the operator disabled. Inside a transaction, the rows
/// stay held (FOR SHARE) until it ends, so a kick or a disable waits for the action.
pub async fn session_actor(
    conn: &mut sqlx::PgConnection,
    session_id: i64,
) -> Result<Actor, SessionError> {
    let row = sqlx::query("SELECT operator_id, login, role FROM session_actor($1)")
        .bind(session_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("OC001") => SessionError::Ended,
            sqlx::Error::Database(d) if d.code().as_deref() == Some("OC002") => {
                SessionError::Disabled
            }
            _ => SessionError::Sql(e),
        })?;
    let role: String = row.try_get("role")?;
    let role: Role = role
        .parse()
        .map_err(|e: crate::domain::role::UnknownRole| sqlx::Error::Decode(Box::new(e)))?;
    let login: String = row.try_get("login")?;
    Ok(Actor {
        session: Some(session_id),
        ..Actor::operator(row.try_get("operator_id")?, &login, role)
    })
}

/// The signed-in operator's account as it is now, if the session still acts.
pub async fn session_operator(pool: &PgPool, session_id: i64) -> Result<Operator, SessionError> {
    let mut conn = pool.acquire().await?;
    let actor = session_actor(&mut conn, session_id).await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM operator WHERE id = $1"))
        .bind(actor.operator_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(from_row(&row)?)
}

/// The password check with its counting, inside `tx`: the operator when it is right. A wrong
/// password (or the lock it leads to) is written in `tx` too: the caller commits it.
async fn check_password(
    tx: &mut sqlx::PgConnection,
    login: &str,
    password: &str,
) -> Result<Operator, LoginError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash, now() AS now FROM operator WHERE login = $1 FOR UPDATE"
    ))
    .bind(login)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        password::verify_dummy(password);
        return Err(LoginError::WrongCredentials);
    };
    let op = from_row(&row)?;
    let stored: String = row.try_get("password_hash")?;
    let now: DateTime<Utc> = row.try_get("now")?;
    if op.disabled {
        return Err(LoginError::Disabled);
    }
    if let Some(until) = op.locked_until.filter(|t| *t > now) {
        return Err(LoginError::Locked(until));
    }
    if !password::verify(password, &stored) {
        let attempts = op.failed_attempts + 1;
        if attempts >= LOCKOUT_ATTEMPTS {
            let until = now + Duration::minutes(LOCKOUT_MINUTES);
            sqlx::query("UPDATE operator SET failed_attempts = 0, locked_until = $2 WHERE id = $1")
                .bind(op.id)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            let system = Actor {
                operator_id: None,
                name: "system".into(),
                role: None,
                session: None,
            };
            let after = Operator {
                failed_attempts: 0,
                locked_until: Some(until),
                ..op.clone()
            };
            audit_change(tx, &system, "operator.lock", Some(&op), &after).await?;
            return Err(LoginError::Locked(until));
        }
        sqlx::query("UPDATE operator SET failed_attempts = $2 WHERE id = $1")
            .bind(op.id)
            .bind(attempts)
            .execute(&mut *tx)
            .await?;
        return Err(LoginError::WrongCredentials);
    }
    let row = sqlx::query(&format!(
        "UPDATE operator SET failed_attempts = 0, locked_until = NULL, last_login_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(op.id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(from_row(&row)?)
}

pub async fn end_session(pool: &PgPool, session_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE operator_session SET ended_at = now() WHERE id = $1 AND ended_at IS NULL")
        .bind(session_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Starts a session without a password: only for the demo, which logs straight in.
pub async fn open_session(
    pool: &PgPool,
    login: &str,
    client: &str,
) -> Result<Session, OperatorError> {
    let op = find(pool, login)
        .await?
        .ok_or_else(|| OperatorError::NotFound(login.to_string()))?;
    // A sign-in that needed no password (a registered SSH key, the demo) is a sign-in too.
    let id: i64 = sqlx::query_scalar(
        "WITH s AS (INSERT INTO operator_session (operator_id, client) VALUES ($1, $2) RETURNING id),
              u AS (UPDATE operator SET last_login_at = now() WHERE id = $1)
         SELECT id FROM s",
    )
    .bind(op.id)
    .bind(client)
    .fetch_one(pool)
    .await?;
    Ok(Session { id, operator: op })
}
