//! Who connects as whom (issue 14). Migrations run as the schema's owner; the console, the SSH
//! server and the operators' commands as `onecard_console`; `serve` as `onecard_serve`. The
//! roles and their grants are made by the migration `..._roles.sql`; [`grant`] sets the grants
//! again after every migration run, so a new table is covered without its migration saying so.
//!
//! How a role connects:
//! - the embedded cluster: the roles are LOGIN roles, reached over the cluster's Unix socket
//!   (`trust`, like the owner; the socket's directory is 0700, so only onecard's own account
//!   gets there);
//! - an external server: `ONECARD_CONSOLE_URL` / `ONECARD_SERVE_URL` (or `database.console_url`
//!   / `database.serve_url`) when set, a login of the role itself; otherwise the owner's
//!   `DATABASE_URL` with the role set at connection start (`-c role=...`, `SET ROLE`). A session
//!   could `RESET ROLE` back to the owner, so a real login is preferred where the server allows
//!   one. When the role does not exist or the owner may not act as it (a server where the owner
//!   could not create roles), the owner is used, as before, with a warning in the log.

use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

/// The console's role: reads everything, changes what operators change, never the schema, never
/// a truncate, never an edit or a deletion of the audit log or the books.
pub const CONSOLE: &str = "onecard_console";
/// `serve`'s role: the console's, less the tables only operators change.
pub const SERVE: &str = "onecard_serve";

/// Which role a process connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The schema's owner: migrations, backup, restore.
    Owner,
    /// The console, the SSH server, the operators' commands.
    Console,
    /// `onecard serve`.
    Serve,
}

impl Access {
    /// The database role, None for the owner (whoever the connection options name).
    pub fn role(self) -> Option<&'static str> {
        match self {
            Access::Owner => None,
            Access::Console => Some(CONSOLE),
            Access::Serve => Some(SERVE),
        }
    }
}

/// Key of the transaction lock that serialises [`grant`]: two processes starting at once would
/// otherwise update the same catalogue rows ("tuple concurrently updated").
const GRANT_LOCK: &str = "onecard roles grant";

/// Sets the roles' grants on every table again (`onecard_grant_roles()`), as the owner.
pub async fn grant(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(GRANT_LOCK)
        .execute(&mut *tx)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT to_regprocedure('onecard_grant_roles()') IS NOT NULL")
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        sqlx::query("SELECT onecard_grant_roles()")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Whether the session of `pool` (the owner's) may become `role`: it exists and the owner is a
/// member of it (a superuser is a member of every role).
pub async fn can_become(pool: &PgPool, role: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)
                AND pg_has_role(current_user, $1, 'MEMBER')",
    )
    .bind(role)
    .fetch_one(pool)
    .await
}

/// The owner's connection options turned into the role's by `SET ROLE` at connection start.
pub fn set_role(options: PgConnectOptions, role: &str) -> PgConnectOptions {
    options.options([("role", role)])
}
