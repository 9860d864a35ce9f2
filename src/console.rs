//! The console's I/O shell: terminal, input events, the inbox, the frame clock, and the effect
//! runner. All decisions are in `app::update`; all drawing is in `ui::render`.

mod cards;

use crate::app::msg::DbState;
use crate::app::state::{DbWhere, State, ThemeName};
use crate::app::{update, Effect, Msg};
use crate::db::listen::{self, Heard, Listen};
use crate::db::{alarm, audit, command, operator, terminal};
use crate::domain::permission::Actor;
use crate::error::describe_sql;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::Keymap;
use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::ExecutableCommand;
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use sqlx::PgPool;
use std::io::{stdout, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct ConsoleOptions {
    pub lang: Lang,
    pub theme: ThemeName,
    pub keymap: Arc<Keymap>,
    /// Problems with the user's keymap file, shown once at start (the preset stays in force).
    pub keymap_errors: Vec<String>,
    pub db_where: DbWhere,
    /// The demo logs straight in as this operator.
    pub demo_login: Option<String>,
    /// `ui.desk_reader`: the one desk reader whose cards this console shows.
    pub desk_reader: Option<String>,
}

/// The desk reader named in the configuration, as a terminal id; an error in the desk's words
/// when the inventory has no desk reader of that name.
pub async fn desk_reader_id(pool: &PgPool, name: &str) -> Result<i64, String> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM terminal WHERE name = $1 AND kind = 'desk_reader'")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(|e| format!("could not look up the desk reader “{name}”: {e}"))?;
    id.ok_or_else(|| {
        format!(
            "the terminal inventory has no desk reader named “{name}” (ui.desk_reader in config.toml): cards laid on any desk reader are shown"
        )
    })
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let mut out = stdout();
    let _ = out.execute(DisableMouseCapture);
    let _ = out.execute(LeaveAlternateScreen);
    let _ = out.execute(crossterm::cursor::Show);
    let _ = out.flush();
}

/// Restores the terminal on drop, so an early return or error never leaves it raw.
struct TerminalGuard;
impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn client_label() -> String {
    let tty = std::env::var("SSH_TTY").ok();
    let ssh = std::env::var("SSH_CLIENT")
        .ok()
        .and_then(|s| s.split(' ').next().map(String::from));
    let user = std::env::var("USER").unwrap_or_default();
    match (ssh, tty) {
        (Some(host), Some(tty)) => format!("{user}@{host} {tty}"),
        _ => format!("{user} local pid {}", std::process::id()),
    }
}

pub async fn run(pool: PgPool, options: ConsoleOptions) -> anyhow::Result<()> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!(%info, %backtrace, "panic");
        default_hook(info);
    }));
    enable_raw_mode()?;
    let _guard = TerminalGuard;
    stdout()
        .execute(EnterAlternateScreen)?
        .execute(EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;

    let mut state = State::new(
        options.keymap.clone(),
        options.lang,
        options.theme,
        options.db_where.clone(),
        Utc::now(),
    );
    let size = terminal.size()?;
    state.size = (size.width, size.height);
    state.demo = options.demo_login.is_some();
    if !options.keymap_errors.is_empty() {
        state.message = Some((
            crate::app::state::Level::Error,
            format!(
                "{} (+{} more in the log)",
                options.keymap_errors[0],
                options.keymap_errors.len() - 1
            ),
        ));
        for e in &options.keymap_errors {
            tracing::warn!(error = %e, "keymap");
        }
    }

    let (inbox, mut rx) = mpsc::unbounded_channel::<Msg>();
    let health = tokio::spawn(watch_database(pool.clone(), inbox.clone()));
    let desk = match &options.desk_reader {
        None => None,
        Some(name) => match desk_reader_id(&pool, name).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "desk reader");
                state.message = Some((crate::app::state::Level::Error, e));
                None
            }
        },
    };
    let listener = listen_into(pool.clone(), inbox.clone(), desk);
    let first = match &options.demo_login {
        Some(login) => match operator::open_session(&pool, login, &client_label()).await {
            Ok(session) => vec![Msg::LoggedIn(session)],
            Err(e) => vec![Msg::Failed(e.to_string()), Msg::OperatorsExist(true)],
        },
        None => {
            spawn_effect(Effect::CheckFirstRun, &state, &pool, &inbox);
            vec![]
        }
    };
    for msg in first {
        let _ = inbox.send(msg);
    }

    let result = event_loop(&mut terminal, &mut state, &pool, &inbox, &mut rx, &listener).await;
    health.abort();
    drop(listener);
    if let Some(s) = &state.session {
        if let Err(e) = operator::end_session(&pool, s.session_id).await {
            tracing::warn!(error = %e, "could not close the operator session");
        }
    }
    // ratatui's Drop shows the cursor and eprintln!s on failure, which panics on a dead
    // terminal: show it here, and if the terminal is gone, skip that Drop.
    if terminal.show_cursor().is_err() {
        std::mem::forget(terminal);
    }
    result
}

/// What the listener heard, as the console's message.
pub fn heard(heard: Heard) -> Option<Msg> {
    match heard {
        Heard::ReloadAll => Some(Msg::Resync),
        Heard::Change(c) => Some(Msg::Changed(c)),
        Heard::Trace(f) => Some(Msg::Trace(f)),
        Heard::CardPresent(p) => Some(Msg::CardPresented {
            terminal_id: p.terminal,
            card_no: p.card,
            new: p.new,
        }),
        // The health watch reports the database itself; the listener retries on its own and
        // says ReloadAll when it is back.
        Heard::Lost(_) => None,
    }
}

/// Starts the notification listener, feeding the console's inbox. With `desk_reader`, cards
/// laid on other desk readers (other desks' business) are not passed on.
pub fn listen_into(
    pool: PgPool,
    inbox: mpsc::UnboundedSender<Msg>,
    desk_reader: Option<i64>,
) -> Listen {
    Listen::spawn(
        pool,
        Arc::new(move |h| {
            let ours = match (&h, desk_reader) {
                (Heard::CardPresent(p), Some(desk)) => p.terminal == desk,
                _ => true,
            };
            match heard(h).filter(|_| ours) {
                Some(msg) => inbox.send(msg).is_ok(),
                None => !inbox.is_closed(),
            }
        }),
    )
}

/// How often notifications collected meanwhile are reloaded: at most once per frame.
pub const FRAME: Duration = Duration::from_millis(100);

/// Most inbox messages handled before drawing: a notification storm is folded, not drawn.
const BATCH: usize = 4096;

/// Runs until quit or until the terminal goes away; the caller cleans up either way.
async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    state: &mut State,
    pool: &PgPool,
    inbox: &mpsc::UnboundedSender<Msg>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    listener: &Listen,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| crate::ui::render(f, state))?;
            dirty = false;
        }
        let pending = !state.pending.is_empty();
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                // The terminal is gone (SSH dropped): end the session and leave quietly.
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "terminal input failed; closing the console");
                    return Ok(());
                }
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => msg,
            _ = clock.tick() => Msg::Tick(Utc::now()),
            _ = frame.tick(), if pending => Msg::Frame,
        };
        dirty = true;
        let mut quit = false;
        let mut bell = false;
        let mut next = Some(msg);
        let mut handled = 0;
        while let Some(msg) = next.take() {
            for effect in update(state, msg) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::Bell => bell = true,
                    Effect::Trace { line } => {
                        listener.trace(line.is_some());
                        if line.is_some() {
                            spawn_effect(Effect::Trace { line }, state, pool, inbox);
                        }
                    }
                    other => spawn_effect(other, state, pool, inbox),
                }
            }
            handled += 1;
            // Whatever else already waits in the inbox is folded into this frame.
            if handled < BATCH && !quit {
                next = rx.try_recv().ok();
            }
        }
        if bell {
            let _ = stdout().write_all(b"\x07");
            let _ = stdout().flush();
        }
        if quit {
            return Ok(());
        }
    }
}

/// Pings the database and reports transitions; the UI reloads on recovery.
async fn watch_database(pool: PgPool, inbox: mpsc::UnboundedSender<Msg>) {
    let mut last: Option<DbState> = None;
    loop {
        let now = match tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query("SELECT 1").execute(&pool),
        )
        .await
        {
            Ok(Ok(_)) => DbState::Ready,
            Ok(Err(e)) => DbState::Lost(describe_sql(&e)),
            Err(_) => DbState::Lost("timeout".into()),
        };
        if last.as_ref() != Some(&now) {
            if inbox.send(Msg::Db(now.clone())).is_err() {
                return;
            }
            last = Some(now);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn spawn_effect(effect: Effect, state: &State, pool: &PgPool, inbox: &mpsc::UnboundedSender<Msg>) {
    let pool = pool.clone();
    let inbox = inbox.clone();
    let lang = state.lang;
    let session = state
        .session
        .as_ref()
        .map(|s| (s.session_id, s.operator.actor()));
    tokio::spawn(async move {
        let progress = inbox.clone();
        let report = move |msg: Msg| {
            let _ = progress.send(msg);
        };
        let msg = execute_reporting(effect, &pool, lang, session, &report).await;
        if let Some(msg) = msg {
            let _ = inbox.send(msg);
        }
    });
}

/// Runs one effect against the database and says what happened.
pub async fn execute(
    effect: Effect,
    pool: &PgPool,
    lang: Lang,
    session: Option<(i64, Actor)>,
) -> Option<Msg> {
    execute_reporting(effect, pool, lang, session, &|_| {}).await
}

/// `execute`, with a way to say how far a long effect (an import) has come.
pub async fn execute_reporting(
    effect: Effect,
    pool: &PgPool,
    lang: Lang,
    session: Option<(i64, Actor)>,
    report: &(dyn Fn(Msg) + Send + Sync),
) -> Option<Msg> {
    let actor = session.as_ref().map(|(_, a)| a.clone());
    let need_actor = || {
        actor
            .clone()
            .ok_or_else(|| tr(lang, "status.signed_out").to_string())
    };
    let result: Result<Msg, String> = match effect {
        Effect::CheckFirstRun => operator::count(pool)
            .await
            .map(|n| Msg::OperatorsExist(n > 0))
            .map_err(|e| describe_sql(&e)),
        Effect::Login { login, password } => {
            match operator::authenticate(pool, &login, &password, &client_label()).await {
                Ok(s) => Ok(Msg::LoggedIn(s)),
                Err(e) => Ok(Msg::LoginFailed(e.to_string())),
            }
        }
        Effect::CreateFirstDirector {
            login,
            display_name,
            password,
        } => match operator::create_first_director(pool, &login, &display_name, &password).await {
            Ok(_) => match operator::authenticate(pool, &login, &password, &client_label()).await {
                Ok(s) => Ok(Msg::LoggedIn(s)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
        Effect::ChangeOwnPassword { password } => match need_actor() {
            Ok(a) => operator::set_password(pool, &a, &a.name, &password)
                .await
                .map(|_| Msg::PasswordChanged)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Effect::Logout => {
            if let Some((id, _)) = &session {
                let _ = operator::end_session(pool, *id).await;
            }
            Ok(Msg::LoggedOut)
        }
        Effect::LoadOperators => operator::list(pool)
            .await
            .map(Msg::OperatorsLoaded)
            .map_err(|e| describe_sql(&e)),
        Effect::LoadAudit => audit::recent(pool, 200)
            .await
            .map(Msg::AuditLoaded)
            .map_err(|e| describe_sql(&e)),
        Effect::UnlockOperator { login } => match need_actor() {
            Ok(a) => operator::unlock(pool, &a, &login)
                .await
                .map(|_| Msg::Done(trf(lang, "msg.unlocked", &[("login", &login)])))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Effect::ResetOperatorPassword { login } => match need_actor() {
            Ok(a) => {
                let one_time = one_time_password();
                operator::set_password(pool, &a, &login, &one_time)
                    .await
                    .map(|_| {
                        Msg::Done(trf(
                            lang,
                            "msg.password_reset",
                            &[("login", &login), ("password", &one_time)],
                        ))
                    })
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        },
        Effect::DisableOperator { login } => match need_actor() {
            Ok(a) => operator::set_disabled(pool, &a, &login, true)
                .await
                .map(|_| Msg::Done(trf(lang, "msg.disabled", &[("login", &login)])))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Effect::VerifyAudit => match audit::verify(pool).await {
            Ok(v) => Ok(match v.first_break {
                None => Msg::Done(trf(lang, "msg.audit_ok", &[("rows", &v.rows.to_string())])),
                Some((id, why)) => {
                    let reason = match why {
                        audit::Break::Edited => tr(lang, "msg.audit_edited"),
                        audit::Break::Unlinked => tr(lang, "msg.audit_unlinked"),
                    };
                    Msg::Failed(trf(
                        lang,
                        "msg.audit_broken",
                        &[("id", &id.to_string()), ("reason", reason)],
                    ))
                }
            }),
            Err(e) => Err(describe_sql(&e)),
        },
        Effect::LoadAlarms => match (alarm::open(pool).await, alarm::active_counts(pool).await) {
            (Ok(alarms), Ok(counts)) => Ok(Msg::AlarmsLoaded { alarms, counts }),
            (Err(e), _) | (_, Err(e)) => Err(describe_sql(&e)),
        },
        Effect::LoadAlarmsById(ids) => {
            match (
                alarm::by_id(pool, &ids).await,
                alarm::active_counts(pool).await,
            ) {
                (Ok(alarms), Ok(counts)) => Ok(Msg::AlarmsChanged {
                    ids,
                    alarms,
                    counts,
                }),
                (Err(e), _) | (_, Err(e)) => Err(describe_sql(&e)),
            }
        }
        Effect::TakeAlarm { id } => match need_actor() {
            Ok(a) => alarm::take(pool, &a, id)
                .await
                .map(|_| Msg::Info(trf(lang, "msg.alarm_taken", &[("id", &id.to_string())])))
                .map_err(|e| alarm_error(lang, e)),
            Err(e) => Err(e),
        },
        Effect::AcknowledgeAlarm { id, note } => match need_actor() {
            Ok(a) => alarm::acknowledge(pool, &a, id, &note)
                .await
                .map(|_| {
                    Msg::Info(trf(
                        lang,
                        "msg.alarm_acknowledged",
                        &[("id", &id.to_string()), ("note", &note)],
                    ))
                })
                .map_err(|e| alarm_error(lang, e)),
            Err(e) => Err(e),
        },
        Effect::ClearAlarm { id, force } => match need_actor() {
            // Until the console asks for a reason, a forced clear is refused (ReasonMissing).
            Ok(a) => if force {
                alarm::force_clear(pool, &a, id, "").await
            } else {
                alarm::clear(pool, &a, id).await
            }
            .map(|_| Msg::Info(trf(lang, "msg.alarm_cleared", &[("id", &id.to_string())])))
            .map_err(|e| alarm_error(lang, e)),
            Err(e) => Err(e),
        },
        Effect::LoadTerminals => {
            match (terminal::lines(pool).await, terminal::terminals(pool).await) {
                (Ok(lines), Ok(terminals)) => Ok(Msg::TerminalsLoaded { lines, terminals }),
                (Err(e), _) | (_, Err(e)) => Err(describe_sql(&e)),
            }
        }
        Effect::LoadTerminalsById(ids) => terminal::terminals_by_id(pool, &ids)
            .await
            .map(|terminals| Msg::TerminalsChanged { ids, terminals })
            .map_err(|e| describe_sql(&e)),
        Effect::LoadCommandsById(ids) => command::by_id(pool, &ids)
            .await
            .map(Msg::CommandsLoaded)
            .map_err(|e| describe_sql(&e)),
        Effect::Enqueue {
            terminal_id,
            command: cmd,
        } => match need_actor() {
            Ok(a) => match command::enqueue(pool, &a, terminal_id, &cmd).await {
                Ok(id) => Ok(Msg::CommandQueued {
                    id,
                    terminal_id,
                    command: cmd,
                }),
                Err(command::CommandError::Denied(d)) => Err(denied_words(lang, &d)),
                Err(command::CommandError::Sql(e)) => Err(describe_sql(&e)),
            },
            Err(e) => Err(e),
        },
        Effect::SetInScan {
            terminal_id,
            in_scan,
        } => match need_actor() {
            Ok(a) => match terminal::set_in_scan(pool, &a, terminal_id, in_scan).await {
                Ok(()) => Ok(Msg::Info(
                    tr(
                        lang,
                        if in_scan {
                            "msg.scan_included"
                        } else {
                            "msg.scan_excluded"
                        },
                    )
                    .to_string(),
                )),
                Err(terminal::InventoryError::Denied(d)) => Err(denied_words(lang, &d)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        },
        Effect::EditTerminal {
            terminal_id,
            fields,
        } => match need_actor() {
            Ok(a) => terminal::update_inventory(pool, &a, terminal_id, &fields)
                .await
                .map(|()| Msg::TerminalEdited {
                    terminal_id,
                    name: fields.name,
                })
                .map_err(|e| crate::app::update::inventory_words(lang, &e)),
            Err(e) => Err(e),
        },
        Effect::Trace { line } => match (need_actor(), line) {
            (Ok(a), Some(line)) => match listen::request_trace(pool, &a, line).await {
                Ok(()) => return None,
                Err(listen::TraceError::Denied(d)) => Err(denied_words(lang, &d)),
                Err(e) => Err(e.to_string()),
            },
            (Err(e), Some(_)) => Err(e),
            (_, None) => return None,
        },
        Effect::Bell | Effect::Quit => return None,
        other => match cards::execute(other, pool, lang, actor.clone(), report).await {
            Some(r) => r,
            None => return None,
        },
    };
    Some(result.unwrap_or_else(Msg::Failed))
}

/// "A Duty operator may not acknowledge alarms."
pub(crate) fn denied_words(lang: Lang, d: &crate::domain::permission::Denied) -> String {
    trf(
        lang,
        "msg.denied",
        &[
            ("role", tr(lang, &format!("role.{}", d.role.name()))),
            ("action", tr(lang, &format!("action.{}", d.action.name()))),
        ],
    )
}

/// An alarm operation's refusal in domain words.
fn alarm_error(lang: Lang, e: alarm::AlarmError) -> String {
    use alarm::AlarmError;
    match e {
        AlarmError::Denied(d) => denied_words(lang, &d),
        AlarmError::NotFound(id) => trf(lang, "msg.alarm_gone", &[("id", &id.to_string())]),
        AlarmError::NotActive { id, state } => trf(
            lang,
            "msg.alarm_state",
            &[
                ("id", &id.to_string()),
                ("state", tr(lang, &format!("alarm.state.{state}"))),
            ],
        ),
        AlarmError::Cleared(id) => trf(
            lang,
            "msg.alarm_state",
            &[
                ("id", &id.to_string()),
                ("state", tr(lang, "alarm.state.cleared")),
            ],
        ),
        AlarmError::NoteMissing => tr(lang, "msg.note_empty").to_string(),
        e @ AlarmError::ReasonMissing => e.to_string(),
        AlarmError::Sql(e) => describe_sql(&e),
    }
}

/// A one-time password an administrator reads out: unambiguous characters only.
pub fn one_time_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|i| {
            let c = ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
            if i == 4 || i == 8 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}
