//! Commands this console sent to terminals (through the queue the line's poller consumes), and
//! what became of them. The Terminals and Doors tabs both send them and show their outcome and
//! progress; the outcome is also said once on the message line.

use super::commands::Sent;
use super::shell::{Level, Shell};
use super::words;
use crate::db::command::{CommandRow, TerminalCommand};
use crate::db::notify::Change;
use crate::i18n::trf;

#[derive(Debug, Clone)]
pub enum Msg {
    /// This console's command went into the queue.
    Queued {
        id: i64,
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    Loaded {
        gen: u64,
        rows: Vec<CommandRow>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A command to a terminal, through the queue its line's poller consumes.
    Enqueue {
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
    Load {
        gen: u64,
        ids: Vec<i64>,
    },
}

pub fn enqueue(terminal_id: i64, about: String, command: TerminalCommand) -> super::Effect {
    super::Effect::Queue(Effect::Enqueue {
        terminal_id,
        about,
        command,
    })
}

fn load(sh: &mut Shell, ids: Vec<i64>) -> Vec<super::Effect> {
    if ids.is_empty() {
        return vec![];
    }
    let gen = sh.next_gen();
    vec![super::Effect::Queue(Effect::Load { gen, ids })]
}

pub fn update(sh: &mut Shell, msg: Msg) -> Vec<super::Effect> {
    match msg {
        Msg::Queued {
            id,
            terminal_id,
            about,
            command,
        } => {
            sh.message = Some((
                Level::Info,
                trf(
                    sh.lang,
                    "msg.command_queued",
                    &[
                        ("command", &words::command(sh.lang, &command)),
                        ("terminal", &about),
                    ],
                ),
            ));
            sh.commands.sent.insert(
                id,
                Sent {
                    terminal_id,
                    about,
                    command,
                    row: None,
                    reported: false,
                },
            );
            // Its outcome may have been announced before this console knew the id.
            load(sh, vec![id])
        }
        Msg::Loaded { gen, rows } => {
            if !sh.commands.shown.take(gen) {
                // An older read answering late: a newer one is shown already.
                return vec![];
            }
            for row in rows {
                let lang = sh.lang;
                let Some(sent) = sh.commands.sent.get_mut(&row.id) else {
                    continue;
                };
                sent.row = Some(row);
                if sent.finished() && !sent.reported {
                    sent.reported = true;
                    let row = sent.row.as_ref().expect("just set");
                    let text = trf(
                        lang,
                        "msg.command_result",
                        &[
                            ("command", &words::command(lang, &sent.command)),
                            ("terminal", &sent.about),
                            ("state", &words::command_state(lang, &row.state)),
                            ("result", &words::command_result(lang, row)),
                        ],
                    );
                    let level = if row.state == "done" {
                        Level::Info
                    } else {
                        Level::Error
                    };
                    sh.message = Some((level, text));
                }
            }
            vec![]
        }
    }
}

/// The frame's reload: the commands of ours a notification named, while they are not finished
/// (a finished command's outcome was read and said once; it does not change again).
pub fn changed(sh: &mut Shell, change: &Change) -> Vec<super::Effect> {
    let ours: Vec<i64> = change
        .command
        .iter()
        .copied()
        .filter(|id| sh.commands.sent.get(id).is_some_and(|s| !s.finished()))
        .collect();
    load(sh, ours)
}

/// After a resync: every command of ours not finished yet.
pub fn reload(sh: &mut Shell) -> Vec<super::Effect> {
    let ids = sh.commands.unfinished();
    load(sh, ids)
}
