//! The effect runner: one executor per tab, each matching its tab's effects exhaustively.

mod alarms;
mod attendance;
mod cards;
mod doors;
mod operators;
mod patrol;
mod queue;
mod session;
mod settlement;
mod terminals;

use crate::app::failure::{DbTrouble, Failure};
use crate::app::rights::{self, Need};
use crate::app::{Effect, Msg};
use crate::db::notify::Change;
use crate::domain::permission::Actor;
use crate::i18n::Lang;
use sqlx::PgPool;

/// What an executor works with.
pub struct Env<'a> {
    pub pool: &'a PgPool,
    /// The operator's language, for the texts a finished operation reports.
    pub lang: Lang,
    /// The signed-in operator's session and actor.
    pub session: Option<(i64, Actor)>,
    /// Says how far a long effect (an import) has come.
    pub report: &'a (dyn Fn(Msg) + Send + Sync),
}

impl Env<'_> {
    pub fn actor(&self) -> Result<Actor, Failure> {
        self.session
            .as_ref()
            .map(|(_, a)| a.clone())
            .ok_or(Failure::SignedOut)
    }
}

/// The one door `text` names (its name, or `<controller>/<n>`), or why not: it names none, or
/// several (listed as `<serial>/<n>` to tell them apart).
pub(crate) async fn one_door(pool: &PgPool, text: &str) -> Result<(i64, i16), Failure> {
    let found = crate::db::door::find(pool, text).await?;
    match found.as_slice() {
        [d] => Ok((d.terminal_id, d.door)),
        [] => Err(Failure::DoorUnknown(text.to_string())),
        many => Err(Failure::DoorAmbiguous {
            text: text.to_string(),
            candidates: many
                .iter()
                .map(|d| format!("{}/{}", d.serial, d.door))
                .collect(),
        }),
    }
}

/// One effect's answer: a message, or a refusal in data.
pub(crate) fn answer(result: Result<Msg, Failure>) -> Option<Msg> {
    Some(result.unwrap_or_else(Msg::Failed))
}

/// Runs one effect, after asking the session row who acts (`session_actor`): an ended session
/// or a disabled operator is refused, and the effect runs as the operator's current role, which
/// must meet what the effect needs (`app::rights`). No effect runs around it.
pub async fn execute(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let need = rights::need(&effect);
    if need == Need::Nothing {
        return run(effect, env).await;
    }
    let Some((session_id, shown)) = &env.session else {
        return Some(Msg::Failed(Failure::SignedOut));
    };
    let actor = match acting(env.pool, *session_id).await {
        Ok(actor) => actor,
        Err(f) => return Some(Msg::Failed(f)),
    };
    if actor.role != shown.role {
        // The console still shows the old role: it asks the session row again and reloads.
        if let Some(id) = actor.operator_id {
            (env.report)(Msg::Changed(Change::operators(vec![id])));
        }
    }
    if let Some(role) = actor.role {
        if let Err(denied) = need.check(role) {
            return Some(Msg::Failed(Failure::Denied(denied)));
        }
    }
    let env = Env {
        pool: env.pool,
        lang: env.lang,
        session: Some((*session_id, actor)),
        report: env.report,
    };
    // A change refused at its audit row because the session stopped acting meanwhile (a kick
    // or a disable committed between the check above and the change) says so like the check.
    run(effect, &env).await.map(|msg| match msg {
        Msg::Failed(Failure::Db(DbTrouble::Refused { code })) if code == "OC001" => {
            Msg::Failed(Failure::SessionEnded { disabled: false })
        }
        Msg::Failed(Failure::Db(DbTrouble::Refused { code })) if code == "OC002" => {
            Msg::Failed(Failure::SessionEnded { disabled: true })
        }
        msg => msg,
    })
}

/// Who acts in `session_id` now, from the session row.
async fn acting(pool: &PgPool, session_id: i64) -> Result<Actor, Failure> {
    let mut conn = pool.acquire().await?;
    Ok(crate::db::operator::session_actor(&mut conn, session_id).await?)
}

async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    match effect {
        Effect::Session(e) => session::run(e, env).await,
        Effect::Queue(e) => queue::run(e, env).await,
        Effect::Alarms(e) => alarms::run(e, env).await,
        Effect::Cards(e) => cards::run(e, env).await,
        Effect::Doors(e) => doors::run(e, env).await,
        Effect::Patrol(e) => patrol::run(e, env).await,
        Effect::Attendance(e) => attendance::run(e, env).await,
        Effect::Settlement(e) => settlement::run(e, env).await,
        Effect::Terminals(e) => terminals::run(e, env).await,
        Effect::Operators(e) => operators::run(e, env).await,
        Effect::Bell | Effect::Quit => None,
    }
}
