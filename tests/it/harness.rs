//! The console without its terminal, for tests: rendering to text, and a live console (state,
//! the real listener, the real effect runner) against a test database.
//!
//! The live console runs effects one after the other by default (`run`). Effects run
//! concurrently in the real console, so a test can also take their answers without showing them
//! (`answers`) and hand them to `update` in an order of its choosing (`deliver`): an older load
//! answering after a newer one.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::session;
use onecard::app::state::State;
use onecard::app::tabs::terminals;
use onecard::app::{update, Effect, Msg};
use onecard::console;
use onecard::db::listen::Listen;
use onecard::db::operator;
use onecard::domain::permission::Actor;
use onecard::domain::role::Role;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;

pub fn render(s: &mut State, w: u16, h: u16) -> Terminal<TestBackend> {
    s.shell.size = (w, h);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| onecard::ui::render(f, s)).unwrap();
    t
}

/// The screen as text, one line per row.
pub fn screen_text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            // A wide character's second cell is a hidden placeholder: leave it out.
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            out.push_str(sym);
        }
        out.push('\n');
    }
    out
}

/// A signed-in console: `update` fed by the real listener, effects run by the real runner.
pub struct Console {
    pub state: State,
    pub pool: PgPool,
    pub rx: mpsc::UnboundedReceiver<Msg>,
    pub listen: Listen,
    pub bells: usize,
    /// A failed effect fails the test.
    pub strict: bool,
}

impl Console {
    /// Creates the operator, starts listening and signs in once the listener listens (its first
    /// "reload everything"): only then is nothing missed.
    pub async fn sign_in(
        pool: &PgPool,
        state: State,
        login: &str,
        display_name: &str,
        role: Role,
    ) -> Console {
        operator::create(
            pool,
            &Actor::shell("root"),
            operator::NewOperator {
                login,
                display_name,
                role,
                password: "a long password",
                must_change_password: false,
            },
        )
        .await
        .unwrap();
        let session = operator::open_session(pool, login, "test").await.unwrap();
        let (inbox, rx) = mpsc::unbounded_channel();
        let listen = console::listen_into(pool.clone(), inbox, None);
        let mut c = Console {
            state,
            pool: pool.clone(),
            rx,
            listen,
            bells: 0,
            strict: false,
        };
        c.pump_until(|m| matches!(m, Msg::Resync)).await;
        c.send(Msg::Session(session::Msg::OperatorsExist(true)))
            .await;
        c.send(Msg::Session(session::Msg::LoggedIn(session))).await;
        c
    }

    /// Feeds a message and runs every effect it asks for, as the shell does, to the end.
    pub async fn send(&mut self, msg: Msg) {
        let fx = update(&mut self.state, msg);
        self.run(fx).await;
    }

    /// Runs effects one at a time, each answer fed to `update` before the next effect runs;
    /// what the answers ask for runs too, to the end.
    pub async fn run(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            if let Some(msg) = self.execute(effect).await {
                queue.extend(update(&mut self.state, msg));
            }
        }
    }

    /// Runs one effect as the shell does and says its answer, without showing it: the bell is
    /// counted, quitting ignored, a trace tells the listener.
    async fn execute(&mut self, effect: Effect) -> Option<Msg> {
        match effect {
            Effect::Bell => {
                self.bells += 1;
                None
            }
            Effect::Quit => None,
            other => {
                if let Effect::Terminals(terminals::Effect::Trace { line }) = &other {
                    self.listen.trace(line.is_some());
                }
                let msg =
                    console::execute(other, &self.pool, self.state.shell.lang, self.session())
                        .await;
                if let (true, Some(Msg::Failed(f))) = (self.strict, &msg) {
                    panic!("an effect failed: {f:?}");
                }
                msg
            }
        }
    }

    fn session(&self) -> Option<(i64, Actor)> {
        self.state
            .shell
            .session
            .as_ref()
            .map(|s| (s.session_id, s.operator.actor()))
    }

    /// Runs `effects` concurrently against the database, as the shell does, and returns each
    /// one's answer in the order they were asked for, fed to nothing: the test hands them to
    /// `deliver` in the order it wants them to arrive. The bell is counted; an effect with no
    /// answer (a trace, the bell) gives None.
    pub async fn answers(&mut self, effects: Vec<Effect>) -> Vec<Option<Msg>> {
        let (pool, lang, session) = (self.pool.clone(), self.state.shell.lang, self.session());
        let mut runs = Vec::new();
        for effect in effects {
            match effect {
                Effect::Bell => self.bells += 1,
                Effect::Quit => {}
                Effect::Terminals(terminals::Effect::Trace { line }) => {
                    self.listen.trace(line.is_some());
                }
                _ => {}
            }
            let (pool, session) = (pool.clone(), session.clone());
            runs.push(async move {
                match effect {
                    Effect::Bell | Effect::Quit => None,
                    other => console::execute(other, &pool, lang, session).await,
                }
            });
        }
        let answers = futures::future::join_all(runs).await;
        if self.strict {
            for msg in answers.iter().flatten() {
                if let Msg::Failed(f) = msg {
                    panic!("an effect failed: {f:?}");
                }
            }
        }
        answers
    }

    /// Hands answers to `update` in the order given, as if they arrived so; what each asks for
    /// runs to the end before the next arrives.
    pub async fn deliver(&mut self, msgs: impl IntoIterator<Item = Msg>) {
        for msg in msgs {
            self.send(msg).await;
        }
    }

    /// One frame: what it asks for, then runs it.
    pub async fn frame(&mut self) -> Vec<Effect> {
        let fx = update(&mut self.state, Msg::Frame);
        self.run(fx.clone()).await;
        fx
    }

    pub async fn key(&mut self, c: char) {
        self.send(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
        .await;
    }

    pub async fn enter(&mut self) {
        self.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)))
            .await;
    }

    pub async fn esc(&mut self) {
        self.send(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)))
            .await;
    }

    /// Takes what the listener heard (feeding it to `update`) until one message matches.
    pub async fn pump_until(&mut self, pred: impl Fn(&Msg) -> bool) {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
                .await
                .expect("the listener went quiet")
                .expect("the listener stopped");
            let hit = pred(&msg);
            self.send(msg).await;
            if hit {
                return;
            }
        }
    }
}
