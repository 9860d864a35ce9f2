//! Terminals and the commands sent to them: kinds, states, outcomes, failures.

use super::*;

/// A terminal's kind in words; an unknown kind as stored.
pub fn terminal_kind(lang: Lang, kind: &str) -> String {
    catalogued(lang, "terminal.kind", kind)
}

/// A terminal's status in words; an unknown status as stored.
pub fn terminal_status(lang: Lang, status: &str) -> String {
    catalogued(lang, "terminal.status", status)
}

pub fn command_state(lang: Lang, state: &str) -> String {
    catalogued(lang, "command.state", state)
}

/// The words for a command to a terminal ("online test", "remote open, door 2").
pub fn command(lang: Lang, cmd: &TerminalCommand) -> String {
    let key = match cmd {
        TerminalCommand::OpenDoor { .. } => "open_door",
        TerminalCommand::SetTime => "set_time",
        TerminalCommand::ClearRecords => "clear_records",
        TerminalCommand::OnlineTest => "online_test",
        TerminalCommand::SetDoorMode { .. } => "set_door_mode",
        TerminalCommand::PushCards { .. } => "push_cards",
        TerminalCommand::RevokeCards { .. } => "revoke_cards",
        TerminalCommand::PushBlacklist { .. } => "push_blacklist",
        TerminalCommand::Extract => "extract",
        TerminalCommand::DownloadCards => "download_cards",
        TerminalCommand::DailyTotals { .. } => "daily_totals",
        TerminalCommand::ReadUsers => "read_users",
    };
    let label = tr(lang, &format!("command.name.{key}"));
    match cmd {
        TerminalCommand::OpenDoor { door } | TerminalCommand::SetDoorMode { door, .. } => trf(
            lang,
            "command.door",
            &[("what", label), ("door", &door.to_string())],
        ),
        _ => label.to_string(),
    }
}

/// A traced frame's note: "connect", or "1200 bytes, first 256 shown" for a long one. The
/// poller writes them in a fixed form; anything else is shown as written.
pub fn trace_note(lang: Lang, note: &str) -> String {
    if note == "connect" {
        return tr(lang, "trace.connect").to_string();
    }
    let numbers: Vec<&str> = note
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    if note.ends_with("shown") && numbers.len() == 2 {
        return trf(
            lang,
            "trace.cut",
            &[("bytes", numbers[0]), ("shown", numbers[1])],
        );
    }
    note.to_string()
}

/// What a finished command did, or why it failed; how far a running one has come; "—" when
/// it says nothing. An outcome this onecard cannot read is shown as the poller wrote it.
pub fn command_result(lang: Lang, row: &crate::db::command::CommandRow) -> String {
    match (&row.outcome, row.progress) {
        (Some(Ok(o)), _) => command_outcome(lang, o),
        (Some(Err(f)), _) => command_failure(lang, f),
        (None, Some(p)) if row.state == "running" => trf(
            lang,
            "command.progress",
            &[("done", &count(p.done)), ("total", &count(p.total))],
        ),
        (None, _) => row.result.clone().unwrap_or_else(|| "—".to_string()),
    }
}

pub fn command_outcome(lang: Lang, o: &crate::db::command::CommandOutcome) -> String {
    use crate::db::command::CommandOutcome as O;
    let k = |key: &str| format!("command.outcome.{key}");
    match o {
        O::DoorOpened { door } => trf(lang, &k("door_opened"), &[("door", &door.to_string())]),
        O::ClockSet { to } => trf(
            lang,
            &k("clock_set"),
            &[("to", &to.format("%Y-%m-%d %H:%M:%S").to_string())],
        ),
        O::Online {
            firmware,
            records_held,
            rtt_ms,
            ..
        } => {
            let mut text = trf(
                lang,
                &k("online"),
                &[("firmware", firmware), ("rtt", &rtt_ms.to_string())],
            );
            if let Some(n) = records_held.filter(|n| *n > 0) {
                text.push_str(&trf(lang, &k("online_held"), &[("n", &count(n))]));
            }
            text
        }
        O::DoorModeSet {
            door,
            mode,
            unlock_secs,
        } => trf(
            lang,
            &k("door_mode_set"),
            &[
                ("door", &door.to_string()),
                ("mode", &door_mode(lang, mode.name())),
                ("secs", &unlock_secs.to_string()),
            ],
        ),
        O::CardsWritten { written, of } => trf(
            lang,
            &k("cards_written"),
            &[("written", &written.to_string()), ("of", &of.to_string())],
        ),
        O::CardsRemoved { removed, absent } => trf(
            lang,
            &k("cards_removed"),
            &[
                ("removed", &removed.to_string()),
                ("absent", &absent.to_string()),
            ],
        ),
        O::BlacklistInstalled { cards } => trf(
            lang,
            &k("blacklist_installed"),
            &[("cards", &cards.to_string())],
        ),
        O::Extracted { records, millis } => trf(
            lang,
            &k("extracted"),
            &[
                ("records", &count(*records)),
                ("secs", &format!("{:.1}", *millis as f64 / 1000.0)),
            ],
        ),
        O::RecordsCleared { stored } => {
            trf(lang, &k("records_cleared"), &[("stored", &count(*stored))])
        }
        O::RecordsMarkedCollected { stored, up_to } => trf(
            lang,
            &k("records_marked"),
            &[("stored", &count(*stored)), ("up_to", &up_to.to_string())],
        ),
        O::CardsDownloaded {
            written,
            unchanged,
            removed,
        } => trf(
            lang,
            &k("cards_downloaded"),
            &[
                ("written", &written.to_string()),
                ("unchanged", &unchanged.to_string()),
                ("removed", &removed.to_string()),
            ],
        ),
        O::Superseded { by } => trf(lang, &k("superseded"), &[("by", &by.to_string())]),
        O::DailyTotalsRead {
            date,
            count: n,
            sum,
        } => trf(
            lang,
            &k("daily_totals"),
            &[
                ("date", &date.to_string()),
                ("n", &count(*n)),
                ("sum", &sum.to_string()),
            ],
        ),
        O::UsersRead { users } => trf(lang, &k("users_read"), &[("n", &count(*users))]),
    }
}

pub fn command_failure(lang: Lang, f: &crate::db::command::CommandFailure) -> String {
    use crate::db::command::CommandFailure as F;
    let k = |key: &str| format!("command.failure.{key}");
    match f {
        F::NoAnswer => tr(lang, &k("no_answer")).to_string(),
        F::Garbled => tr(lang, &k("garbled")).to_string(),
        F::Refused { what } => trf(
            lang,
            &k("refused"),
            &[("what", &command_refusal(lang, what))],
        ),
        F::Device { text } => trf(lang, &k("device"), &[("text", text)]),
        F::Unsupported { what } => trf(
            lang,
            &k("unsupported"),
            &[(
                "what",
                tr(lang, &format!("command.feature.{}", feature_name(*what))),
            )],
        ),
        F::NotOnLine => tr(lang, &k("not_on_line")).to_string(),
        F::Deadline { secs } => trf(lang, &k("deadline"), &[("secs", &secs.to_string())]),
        F::RecordsNotStored { waiting } => trf(
            lang,
            &k("records_not_stored"),
            &[("waiting", &count(*waiting))],
        ),
        F::LogChanged { read, held } => trf(
            lang,
            &k("log_changed"),
            &[("read", &count(*read)), ("held", &count(*held))],
        ),
        F::NewestNotStored { user_id, at } => trf(
            lang,
            &k("newest_not_stored"),
            &[("user", user_id), ("at", &at.to_string())],
        ),
        F::BadAddress { address } => trf(
            lang,
            &k("bad_address"),
            &[("address", &address.to_string())],
        ),
        F::Database => tr(lang, &k("database")).to_string(),
        F::Interrupted => tr(lang, &k("interrupted")).to_string(),
        F::NoSuchDoor { door, doors } => trf(
            lang,
            &k("no_such_door"),
            &[
                ("door", &door.to_string()),
                (
                    "doors",
                    &doors
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
        ),
    }
}

fn command_refusal(lang: Lang, r: &crate::db::command::Refusal) -> String {
    use crate::db::command::Refusal as R;
    let k = |key: &str| format!("command.refusal.{key}");
    match r {
        R::OpenDoor { door } => trf(lang, &k("open_door"), &[("door", &door.to_string())]),
        R::DoorMode {
            door,
            mode,
            unlock_secs,
        } => trf(
            lang,
            &k("door_mode"),
            &[
                ("door", &door.to_string()),
                (
                    "mode",
                    &mode.map_or_else(
                        || tr(lang, &k("mode_unknown")).to_string(),
                        |m| door_mode(lang, m.name()),
                    ),
                ),
                ("secs", &unlock_secs.to_string()),
            ],
        ),
        R::Card { card, written, of } => trf(
            lang,
            &k("card"),
            &[
                ("card", &card.to_string()),
                ("written", &written.to_string()),
                ("of", &of.to_string()),
            ],
        ),
        R::Clock => tr(lang, &k("clock")).to_string(),
        R::EventIndex { index } => trf(lang, &k("event_index"), &[("index", &index.to_string())]),
        R::UsersFull => tr(lang, &k("users_full")).to_string(),
    }
}

fn feature_name(f: crate::db::command::Feature) -> &'static str {
    use crate::db::command::Feature;
    match f {
        Feature::Door => "door",
        Feature::DoorModes => "door_modes",
        Feature::CardList => "card_list",
        Feature::Blacklist => "blacklist",
        Feature::CardRemoval => "card_removal",
        Feature::Download => "download",
        Feature::Records => "records",
        Feature::DailyTotals => "daily_totals",
        Feature::UserList => "user_list",
    }
}
