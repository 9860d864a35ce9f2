//! The console's I/O shell: terminal, input events, the inbox, the frame clock, and the effect
//! runner (`exec`, one executor per tab). All decisions are in `app::update`; all drawing is in
//! `ui::render`.

pub mod exec;

use crate::app::msg::DbState;
use crate::app::state::{DbWhere, Level, State, ThemeName};
use crate::app::tabs::{cards, terminals};
use crate::app::{router, session, update, Effect, Msg};
use crate::db::listen::{Heard, Listen};
use crate::db::operator;
use crate::i18n::{trf, Lang};
use crate::keymap::Keymap;
use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::ExecutableCommand;
use futures::{Stream, StreamExt};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use sqlx::PgPool;
use std::io::{stdout, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub struct ConsoleOptions {
    pub lang: Lang,
    pub theme: ThemeName,
    pub keymap: Arc<Keymap>,
    /// Problems with the user's keymap file, shown on screen at start (the preset stays in
    /// force), in the operator's language.
    pub keymap_errors: Vec<crate::keymap::KeymapError>,
    pub db_where: DbWhere,
    /// The demo logs straight in as this operator.
    pub demo_login: Option<String>,
    /// A session opened before the console starts (an SSH sign-in, `onecard wallboard`): the
    /// console opens on it.
    pub signed_in: Option<operator::Session>,
    /// Signing out leaves the console instead of showing the sign-in screen (over SSH, the
    /// connection is the sign-in).
    pub leave_on_sign_out: bool,
    /// `ui.desk_reader`: the one desk reader whose cards this console shows.
    pub desk_reader: Option<String>,
    /// Seconds each wallboard screen stays (`wallboard.screen_secs`, `--secs`).
    pub wallboard_secs: u32,
}

/// The desk reader named in the configuration, as a terminal id; None (with the reason in the
/// operator's language) when the inventory has no desk reader of that name.
pub async fn desk_reader_id(pool: &PgPool, lang: Lang, name: &str) -> Result<i64, String> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM terminal WHERE name = $1 AND kind = 'desk_reader'")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                trf(
                    lang,
                    "desk.reader_lookup_failed",
                    &[
                        ("name", name),
                        (
                            "why",
                            &crate::app::words::failure(
                                lang,
                                &crate::app::failure::Failure::from(e),
                            ),
                        ),
                    ],
                )
            })?;
    id.ok_or_else(|| trf(lang, "desk.reader_unknown", &[("name", name)]))
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

pub(crate) fn client_label() -> String {
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

/// The console on the process's own terminal (`onecard console`, `demo`).
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
    let size = terminal.size()?;
    let events = EventStream::new();
    let result = run_on(
        &mut terminal,
        events,
        (size.width, size.height),
        pool,
        options,
    )
    .await;
    // ratatui's Drop shows the cursor and eprintln!s on failure, which panics on a dead
    // terminal: show it here, and if the terminal is gone, skip that Drop.
    if terminal.show_cursor().is_err() {
        std::mem::forget(terminal);
    }
    result.map(|_| ())
}

/// The console on any screen and any input: the local terminal, or an SSH channel (whose
/// screen is a writer, its size `size`, and whose input arrives as crossterm events). Ends on
/// quit, when the input ends or fails, or when the screen can no longer be written; the
/// operator's session is ended and every task the console started is stopped either way.
/// With `leave_on_sign_out`, a console the database signed out (kicked, disabled) returns why,
/// for the caller to say once the screen is given back.
pub async fn run_on<W, E>(
    terminal: &mut Terminal<CrosstermBackend<W>>,
    events: E,
    size: (u16, u16),
    pool: PgPool,
    options: ConsoleOptions,
) -> anyhow::Result<Option<String>>
where
    W: Write,
    E: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let mut state = State::new(
        options.keymap.clone(),
        options.lang,
        options.theme,
        options.db_where.clone(),
        Utc::now(),
    );
    state.shell.size = size;
    state.shell.demo = options.demo_login.is_some();
    state.wallboard = crate::app::wallboard::Wallboard::with_secs(options.wallboard_secs);
    for e in &options.keymap_errors {
        tracing::warn!(error = %e, "keymap");
    }
    let lines: Vec<String> = options
        .keymap_errors
        .iter()
        .map(|e| crate::app::words::keymap_error(options.lang, e))
        .collect();
    state.show_keymap_errors(&lines);

    let (inbox, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut tasks = JoinSet::new();
    tasks.spawn(watch_database(pool.clone(), inbox.clone()));
    let desk = match &options.desk_reader {
        None => None,
        Some(name) => match desk_reader_id(&pool, options.lang, name).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "desk reader");
                state.shell.message = Some((Level::Error, e));
                None
            }
        },
    };
    state.cards.desk_reader = desk;
    let listener = listen_into(pool.clone(), inbox.clone(), desk);
    let first = match (&options.signed_in, &options.demo_login) {
        (Some(session), _) => vec![
            Msg::Session(session::Msg::OperatorsExist(true)),
            Msg::Session(session::Msg::LoggedIn(session.clone())),
        ],
        (None, Some(login)) => match operator::open_session(&pool, login, &client_label()).await {
            Ok(session) => vec![Msg::Session(session::Msg::LoggedIn(session))],
            Err(e) => vec![
                Msg::Failed(e.into()),
                Msg::Session(session::Msg::OperatorsExist(true)),
            ],
        },
        (None, None) => {
            spawn_effect(
                Effect::Session(session::Effect::CheckFirstRun),
                &state,
                &pool,
                &inbox,
                &mut tasks,
            );
            vec![]
        }
    };
    for msg in first {
        let _ = inbox.send(msg);
    }

    let mut shell = Shell {
        state: &mut state,
        pool: &pool,
        inbox: &inbox,
        rx: &mut rx,
        listener: &listener,
        tasks: &mut tasks,
        leave_on_sign_out: options.leave_on_sign_out,
    };
    let result = shell.event_loop(terminal, events).await;
    // Effects under way, the health watch and the listener stop with the console.
    tasks.shutdown().await;
    drop(listener);
    let mut ended = state.shell.session.as_ref().map(|s| s.session_id);
    if let Some(s) = &options.signed_in {
        // Signed out meanwhile, the session handed in is over too (ending twice is harmless).
        ended.get_or_insert(s.id);
    }
    if let Some(id) = ended {
        if let Err(e) = operator::end_session(&pool, id).await {
            tracing::warn!(error = %e, "could not close the operator session");
        }
    }
    let why = match &state.shell.screen {
        crate::app::shell::Screen::SignIn(s) if options.leave_on_sign_out => s.form.error.clone(),
        _ => None,
    };
    result.map(|()| why)
}

/// What the listener heard, as the console's message.
pub fn heard(heard: Heard) -> Option<Msg> {
    match heard {
        Heard::ReloadAll => Some(Msg::Resync),
        Heard::Change(c) => Some(Msg::Changed(c)),
        Heard::Trace(f) => Some(Msg::Terminals(terminals::Msg::Trace(f))),
        Heard::CardPresent(p) => Some(Msg::Cards(cards::Msg::Presented {
            terminal_id: p.terminal,
            card_no: p.card,
            new: p.new,
        })),
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

/// What the event loop works with.
struct Shell<'a> {
    state: &'a mut State,
    pool: &'a PgPool,
    inbox: &'a mpsc::UnboundedSender<Msg>,
    rx: &'a mut mpsc::UnboundedReceiver<Msg>,
    listener: &'a Listen,
    tasks: &'a mut JoinSet<()>,
    leave_on_sign_out: bool,
}

impl Shell<'_> {
    /// Runs until quit or until the terminal goes away; the caller cleans up either way.
    async fn event_loop<W: Write, E>(
        &mut self,
        terminal: &mut Terminal<CrosstermBackend<W>>,
        mut events: E,
    ) -> anyhow::Result<()>
    where
        E: Stream<Item = std::io::Result<Event>> + Unpin,
    {
        let mut clock = tokio::time::interval(Duration::from_secs(1));
        let mut frame = tokio::time::interval(FRAME);
        frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = true;
        let mut signed_in = false;
        loop {
            if dirty {
                terminal.draw(|f| crate::ui::render(f, self.state))?;
                dirty = false;
            }
            // Effects that are done are forgotten (their answers are in the inbox).
            while self.tasks.try_join_next().is_some() {}
            let pending = router::wants_frame(self.state);
            let msg = tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Event::Key(k))) => Msg::Key(k),
                    Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                    Some(Ok(Event::Resize(w, h))) => {
                        terminal.resize(Rect::new(0, 0, w, h))?;
                        Msg::Resize(w, h)
                    }
                    Some(Ok(_)) => continue,
                    // The terminal is gone (SSH dropped): end the session and leave quietly.
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "terminal input failed; closing the console");
                        return Ok(());
                    }
                    None => return Ok(()),
                },
                Some(msg) = self.rx.recv() => msg,
                _ = clock.tick() => Msg::Tick(Utc::now()),
                _ = frame.tick(), if pending => Msg::Frame,
            };
            dirty = true;
            let (quit, bell) = self.handle(msg);
            if bell {
                let out = terminal.backend_mut();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            }
            if quit {
                return Ok(());
            }
            let now_signed_in = self.state.shell.session.is_some();
            if self.leave_on_sign_out && signed_in && !now_signed_in {
                return Ok(());
            }
            signed_in = now_signed_in;
        }
    }

    /// Updates the state with `msg` and whatever else already waits in the inbox, running the
    /// effects asked for; whether to quit and whether to ring the bell.
    fn handle(&mut self, msg: Msg) -> (bool, bool) {
        let mut quit = false;
        let mut bell = false;
        let mut next = Some(msg);
        let mut handled = 0;
        while let Some(msg) = next.take() {
            for effect in update(self.state, msg) {
                match effect {
                    Effect::Quit => quit = true,
                    Effect::Bell => bell = true,
                    Effect::Terminals(terminals::Effect::Trace { line }) => {
                        // The listener forwards trace frames only while one is shown.
                        self.listener.trace(line.is_some());
                        if line.is_some() {
                            spawn_effect(
                                Effect::Terminals(terminals::Effect::Trace { line }),
                                self.state,
                                self.pool,
                                self.inbox,
                                self.tasks,
                            );
                        }
                    }
                    other => spawn_effect(other, self.state, self.pool, self.inbox, self.tasks),
                }
            }
            handled += 1;
            // Whatever else already waits in the inbox is folded into this frame.
            if handled < BATCH && !quit {
                next = self.rx.try_recv().ok();
            }
        }
        (quit, bell)
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
            Ok(Err(e)) => DbState::Lost(e.to_string()),
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

fn spawn_effect(
    effect: Effect,
    state: &State,
    pool: &PgPool,
    inbox: &mpsc::UnboundedSender<Msg>,
    tasks: &mut JoinSet<()>,
) {
    let pool = pool.clone();
    let inbox = inbox.clone();
    let lang = state.shell.lang;
    let session = state
        .shell
        .session
        .as_ref()
        .map(|s| (s.session_id, s.operator.actor()));
    tasks.spawn(async move {
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
    session: Option<(i64, crate::domain::permission::Actor)>,
) -> Option<Msg> {
    execute_reporting(effect, pool, lang, session, &|_| {}).await
}

/// `execute`, with a way to say how far a long effect (an import) has come.
pub async fn execute_reporting(
    effect: Effect,
    pool: &PgPool,
    lang: Lang,
    session: Option<(i64, crate::domain::permission::Actor)>,
    report: &(dyn Fn(Msg) + Send + Sync),
) -> Option<Msg> {
    let env = exec::Env {
        pool,
        lang,
        session,
        report,
    };
    exec::execute(effect, &env).await
}
