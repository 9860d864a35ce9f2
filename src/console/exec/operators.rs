//! The Operators tab: accounts, their passwords, and the audit log.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::operators::{Effect, Msg as OperatorsMsg, AUDIT_ROWS};
use crate::app::Msg;
use crate::db::{audit, operator};
use crate::domain::password::one_time;
use crate::i18n::trf;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang) = (env.pool, env.lang);
    answer(match effect {
        Effect::Load { gen } => operator::list(pool)
            .await
            .map(|operators| Msg::Operators(OperatorsMsg::Loaded { gen, operators }))
            .map_err(Failure::from),
        Effect::LoadAudit { gen } => {
            match (
                audit::recent(pool, AUDIT_ROWS).await,
                audit::count(pool).await,
            ) {
                (Ok(entries), Ok(total)) => Ok(Msg::Operators(OperatorsMsg::AuditLoaded {
                    gen,
                    entries,
                    total,
                })),
                (Err(e), _) | (_, Err(e)) => Err(e.into()),
            }
        }
        Effect::Add {
            login,
            display_name,
            role,
        } => match env.actor() {
            Ok(a) => {
                let password = one_time();
                operator::create(
                    pool,
                    &a,
                    operator::NewOperator {
                        login: &login,
                        display_name: &display_name,
                        role,
                        password: &password,
                        must_change_password: true,
                    },
                )
                .await
                .map(|_| {
                    Msg::Done(trf(
                        lang,
                        "msg.operator_added",
                        &[("login", &login), ("password", &password)],
                    ))
                })
                .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::Unlock { login } => match env.actor() {
            Ok(a) => operator::unlock(pool, &a, &login)
                .await
                .map(|_| Msg::Done(trf(lang, "msg.unlocked", &[("login", &login)])))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::ResetPassword { login } => match env.actor() {
            Ok(a) => {
                let password = one_time();
                operator::set_password(pool, &a, &login, &password)
                    .await
                    .map(|_| {
                        Msg::Done(trf(
                            lang,
                            "msg.password_reset",
                            &[("login", &login), ("password", &password)],
                        ))
                    })
                    .map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Effect::Disable { login } => match env.actor() {
            Ok(a) => operator::set_disabled(pool, &a, &login, true)
                .await
                .map(|_| Msg::Done(trf(lang, "msg.disabled", &[("login", &login)])))
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::VerifyAudit => match audit::verify(pool).await {
            Ok(v) => match v.first_break {
                None => Ok(Msg::Done(trf(
                    lang,
                    "msg.audit_ok",
                    &[("rows", &v.rows.to_string())],
                ))),
                Some((id, why)) => Err(Failure::AuditBroken {
                    id,
                    edited: why == audit::Break::Edited,
                }),
            },
            Err(e) => Err(e.into()),
        },
    })
}
