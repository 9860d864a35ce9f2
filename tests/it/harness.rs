//! The console without its terminal, for tests: rendering to text, and a live console (state,
//! the real listener, the real effect runner) against a test database.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use onecard::app::state::State;
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
    s.size = (w, h);
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
        c.send(Msg::OperatorsExist(true)).await;
        c.send(Msg::LoggedIn(session)).await;
        c
    }

    /// Feeds a message and runs every effect it asks for, as the shell does, to the end.
    pub async fn send(&mut self, msg: Msg) {
        let fx = update(&mut self.state, msg);
        self.run(fx).await;
    }

    pub async fn run(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Bell => self.bells += 1,
                Effect::Quit => {}
                other => {
                    if let Effect::Trace { line } = &other {
                        self.listen.trace(line.is_some());
                    }
                    let session = self
                        .state
                        .session
                        .as_ref()
                        .map(|s| (s.session_id, s.operator.actor()));
                    if let Some(msg) =
                        console::execute(other, &self.pool, self.state.lang, session).await
                    {
                        if let (true, Msg::Failed(e)) = (self.strict, &msg) {
                            panic!("an effect failed: {e}");
                        }
                        queue.extend(update(&mut self.state, msg));
                    }
                }
            }
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
