//! The Terminals tab: the inventory, scan membership, inventory edits and line traces.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::terminals::{Effect, Msg as TerminalsMsg};
use crate::app::Msg;
use crate::db::{listen, terminal};
use crate::i18n::tr;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang) = (env.pool, env.lang);
    answer(match effect {
        Effect::Enqueue {
            terminal_id,
            about,
            command,
        } => {
            let queued = crate::app::queue::Effect::Enqueue {
                terminal_id,
                about,
                command,
            };
            return super::queue::run(queued, env).await;
        }
        Effect::Load { gen } => {
            match (terminal::lines(pool).await, terminal::terminals(pool).await) {
                (Ok(lines), Ok(terminals)) => Ok(Msg::Terminals(TerminalsMsg::Loaded {
                    gen,
                    lines,
                    terminals,
                })),
                (Err(e), _) | (_, Err(e)) => Err(e.into()),
            }
        }
        Effect::LoadById { gen, ids } => terminal::terminals_by_id(pool, &ids)
            .await
            .map(|terminals| {
                Msg::Terminals(TerminalsMsg::Changed {
                    gen,
                    ids,
                    terminals,
                })
            })
            .map_err(Failure::from),
        Effect::SetInScan {
            terminal_id,
            in_scan,
        } => match env.actor() {
            Ok(a) => terminal::set_in_scan(pool, &a, terminal_id, in_scan)
                .await
                .map(|()| {
                    Msg::Info(
                        tr(
                            lang,
                            if in_scan {
                                "msg.scan_included"
                            } else {
                                "msg.scan_excluded"
                            },
                        )
                        .to_string(),
                    )
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Edit {
            terminal_id,
            fields,
        } => match env.actor() {
            Ok(a) => terminal::update_inventory(pool, &a, terminal_id, &fields)
                .await
                .map(|()| {
                    Msg::Terminals(TerminalsMsg::Edited {
                        terminal_id,
                        name: fields.name,
                    })
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Trace { line } => match (env.actor(), line) {
            (Ok(a), Some(line)) => match listen::request_trace(pool, &a, line).await {
                Ok(()) => return None,
                Err(e) => Err(e.into()),
            },
            (Err(e), Some(_)) => Err(e),
            (_, None) => return None,
        },
    })
}
