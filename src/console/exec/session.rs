//! Signing in and out.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::session::{Effect, Msg as SessionMsg, LOCK_AFTER_DEFAULT, LOCK_AFTER_KEY};
use crate::app::Msg;
use crate::db::operator;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let pool = env.pool;
    let session = |m| Msg::Session(m);
    answer(match effect {
        Effect::CheckFirstRun => operator::count(pool)
            .await
            .map(|n| session(SessionMsg::OperatorsExist(n > 0)))
            .map_err(Failure::from),
        Effect::Login { login, password } => {
            operator::authenticate(pool, &login, &password, &crate::console::client_label())
                .await
                .map(|s| session(SessionMsg::LoggedIn(s)))
                .map_err(Failure::from)
        }
        Effect::CreateFirstDirector {
            login,
            display_name,
            password,
        } => match operator::create_first_director(pool, &login, &display_name, &password).await {
            Ok(_) => {
                operator::authenticate(pool, &login, &password, &crate::console::client_label())
                    .await
                    .map(|s| session(SessionMsg::LoggedIn(s)))
                    .map_err(Failure::from)
            }
            Err(e) => Err(e.into()),
        },
        Effect::ChangeOwnPassword { password } => match env.actor() {
            Ok(a) => operator::set_password(pool, &a, &a.name, &password)
                .await
                .map(|_| session(SessionMsg::PasswordChanged))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Check => match &env.session {
            Some((id, _)) => check(pool, *id).await,
            None => Err(Failure::SignedOut),
        },
        Effect::Unlock { password } => match &env.session {
            Some((id, _)) => operator::reauthenticate(pool, *id, &password)
                .await
                .map(|op| session(SessionMsg::Unlocked(op)))
                .map_err(Failure::from),
            None => Err(Failure::SignedOut),
        },
        Effect::Logout => {
            if let Some((id, _)) = &env.session {
                let _ = operator::end_session(pool, *id).await;
            }
            Ok(session(SessionMsg::LoggedOut))
        }
    })
}

/// The session row asked again, with the idle lock's setting.
async fn check(pool: &sqlx::PgPool, session_id: i64) -> Result<Msg, Failure> {
    let operator = operator::session_operator(pool, session_id).await?;
    let lock_after_min = crate::db::settings::get(pool, LOCK_AFTER_KEY)
        .await?
        .and_then(|v| v.as_u64())
        .map_or(LOCK_AFTER_DEFAULT, |m| u32::try_from(m).unwrap_or(u32::MAX));
    Ok(Msg::Session(SessionMsg::Checked {
        operator,
        lock_after_min,
    }))
}
