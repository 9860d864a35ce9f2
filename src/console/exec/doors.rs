//! The Doors tab's effects: the tree, its alarm flags and the live feed read; remote open,
//! door settings and controller commands sent.

mod records;

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::queue::{Effect as QueueEffect, Msg as QueueMsg};
use crate::app::tabs::doors::feed::{FEED_BATCH, FEED_START};
use crate::app::tabs::doors::{Effect, Msg as DoorsMsg};
use crate::app::Msg;
use crate::db::command::TerminalCommand;
use crate::db::{door, terminal};
use crate::i18n::tr;

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang) = (env.pool, env.lang);
    answer(match effect {
        Effect::Records(e) => return records::run(e, env).await,
        Effect::Enqueue {
            terminal_id,
            about,
            command,
        } => {
            let queued = QueueEffect::Enqueue {
                terminal_id,
                about,
                command,
            };
            return super::queue::run(queued, env).await;
        }
        Effect::Load { gen } => door::list(pool)
            .await
            .map(|doors| Msg::Doors(DoorsMsg::Loaded { gen, doors }))
            .map_err(Failure::from),
        Effect::LoadById { gen, ids } => door::of_terminals(pool, &ids)
            .await
            .map(|doors| Msg::Doors(DoorsMsg::Changed { gen, ids, doors }))
            .map_err(Failure::from),
        Effect::Flags { gen } => door::alarm_flags(pool)
            .await
            .map(|flags| Msg::Doors(DoorsMsg::Flags { gen, flags }))
            .map_err(Failure::from),
        Effect::FeedStart => match door::recent(pool, FEED_START).await {
            Ok(events) => Ok(Msg::Doors(DoorsMsg::Feed {
                start: true,
                events,
                more: false,
            })),
            // The feed must not stay "loading" for ever: it answers empty, and the next
            // notification reads again.
            Err(e) => {
                tracing::warn!(error = %e, "reading the door feed failed");
                Ok(Msg::Doors(DoorsMsg::Feed {
                    start: true,
                    events: vec![],
                    more: false,
                }))
            }
        },
        Effect::FeedSince { after } => match door::since(pool, after, FEED_BATCH).await {
            Ok(events) => {
                let more = events.len() as i64 >= FEED_BATCH;
                Ok(Msg::Doors(DoorsMsg::Feed {
                    start: false,
                    events,
                    more,
                }))
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the door feed failed");
                Ok(Msg::Doors(DoorsMsg::Feed {
                    start: false,
                    events: vec![],
                    more: false,
                }))
            }
        },
        Effect::RemoteOpen {
            terminal_id,
            door: n,
            about,
        } => match env.actor() {
            Ok(a) => door::remote_open(pool, &a, terminal_id, n)
                .await
                .map(|id| {
                    Msg::Queue(QueueMsg::Queued {
                        id,
                        terminal_id,
                        about,
                        command: TerminalCommand::OpenDoor {
                            door: u8::try_from(n).unwrap_or(0),
                        },
                    })
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Effect::Settings {
            terminal_id,
            door: n,
            about,
            rename,
            remode,
        } => match env.actor() {
            Ok(a) => settings(env, &a, terminal_id, n, about, rename, remode).await,
            Err(e) => Err(e),
        },
        Effect::Follow {
            id,
            terminal_id,
            about,
            command,
        } => Ok(Msg::Queue(QueueMsg::Queued {
            id,
            terminal_id,
            about,
            command,
        })),
        Effect::SetInScan {
            terminal_id,
            in_scan,
        } => match env.actor() {
            Ok(a) => terminal::set_in_scan(pool, &a, terminal_id, in_scan)
                .await
                .map(|()| {
                    let key = if in_scan {
                        "msg.scan_included"
                    } else {
                        "msg.scan_excluded"
                    };
                    Msg::Info(tr(lang, key).to_string())
                })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
    })
}

/// Name and place first (audited on their own), then the mode, which queues the controller's
/// command: its outcome is followed like any command this console sent.
async fn settings(
    env: &Env<'_>,
    actor: &crate::domain::permission::Actor,
    terminal_id: i64,
    n: i16,
    about: String,
    rename: Option<(String, String)>,
    remode: Option<(crate::db::command::DoorMode, u8)>,
) -> Result<Msg, Failure> {
    let pool = env.pool;
    if let Some((name, location)) = &rename {
        door::rename(pool, actor, terminal_id, n, name, location).await?;
    }
    let Some((mode, unlock_secs)) = remode else {
        return Ok(Msg::Doors(DoorsMsg::Saved {
            about,
            queued: None,
        }));
    };
    let id = door::set_mode(pool, actor, terminal_id, n, mode, unlock_secs).await?;
    Ok(Msg::Doors(DoorsMsg::Saved {
        about,
        queued: Some((
            id,
            terminal_id,
            TerminalCommand::SetDoorMode {
                door: u8::try_from(n).unwrap_or(0),
                mode,
                unlock_secs,
            },
        )),
    }))
}
