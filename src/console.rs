//! The console's I/O shell: terminal, input events, the inbox, the frame clock, and the effect
//! runner. All decisions are in `app::update`; all drawing is in `ui::render`.

use crate::app::msg::DbState;
use crate::app::state::{DbWhere, State, ThemeName};
use crate::app::{update, Effect, Msg};
use crate::db::{audit, operator};
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

    let result = event_loop(&mut terminal, &mut state, &pool, &inbox, &mut rx).await;
    health.abort();
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

/// Runs until quit or until the terminal goes away; the caller cleans up either way.
async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    state: &mut State,
    pool: &PgPool,
    inbox: &mpsc::UnboundedSender<Msg>,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| crate::ui::render(f, state))?;
            dirty = false;
        }
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
        };
        dirty = true;
        let mut quit = false;
        for effect in update(state, msg) {
            match effect {
                Effect::Quit => quit = true,
                Effect::Bell => {
                    let _ = stdout().write_all(b"\x07");
                }
                other => spawn_effect(other, state, pool, inbox),
            }
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
        let msg = execute(effect, &pool, lang, session).await;
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
        Effect::Bell | Effect::Quit => return None,
    };
    Some(result.unwrap_or_else(Msg::Failed))
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
