//! `onecard bench --doors`: the Doors tab's frame time at 200x50 with 100,000 events in the
//! feed (the console's own `ui::render` into an off-screen buffer), and the remote-open round
//! trip from the operator's key to the controller's confirmation on the message line, against
//! a simulated controller polled by the real poller, in the benchmark's own database. Prints;
//! never fails on a number.

use super::{fresh_database, percentile, say, Server};
use crate::app::msg::DbState;
use crate::app::state::{DbWhere, State, ThemeName};
use crate::app::tabs::doors::{self, feed::FEED_MAX, tree::Sel};
use crate::app::{session, update, Effect, Msg};
use crate::db::command::DoorMode;
use crate::db::door::{DoorEvent, DoorRow};
use crate::db::notify::{Change, CHANNEL};
use crate::db::operator::{self, NewOperator, Operator, Session};
use crate::domain::permission::Actor;
use crate::domain::role::Role;
use crate::i18n::Lang;
use crate::keymap::Keymap;
use crate::poller::{Options, Supervisor};
use crate::sim::register::{register_site_with, RegisterOptions};
use crate::sim::runner::Site;
use crate::sim::site::{Ports, SiteConfig};
use chrono::{Duration as ChronoDuration, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sqlx::postgres::PgListener;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames drawn for the frame time.
const FRAMES: usize = 200;
/// How long one remote open may take before the run gives up on it.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn signed_in(role: Role, operator: Operator, session_id: i64) -> State {
    let keymap = Arc::new(Keymap::preset("default").unwrap_or_default());
    let mut s = State::new(
        keymap,
        Lang::ZH_CN,
        ThemeName::Default,
        DbWhere::Embedded,
        Utc::now(),
    );
    s.shell.db = DbState::Ready;
    update(&mut s, Msg::Session(session::Msg::OperatorsExist(true)));
    update(
        &mut s,
        Msg::Session(session::Msg::LoggedIn(Session {
            id: session_id,
            operator: Operator { role, ..operator },
        })),
    );
    update(&mut s, key('2'));
    s
}

fn synthetic_operator() -> Operator {
    Operator {
        id: 1,
        login: "bench".into(),
        display_name: "值班员".into(),
        role: Role::DutyOperator,
        must_change_password: false,
        failed_attempts: 0,
        locked_until: None,
        disabled: false,
        last_login_at: None,
    }
}

/// 40 controllers of 4 doors, and 100,000 events.
fn big_site(now: chrono::DateTime<Utc>) -> (Vec<DoorRow>, Vec<DoorEvent>) {
    let mut doors = Vec::new();
    for t in 0..40i64 {
        for n in 1..=4i16 {
            doors.push(DoorRow {
                terminal_id: t + 1,
                serial: 405_419_800 + t,
                controller: format!("{}号楼门禁", t + 1),
                controller_location: format!("{}号楼 一层 弱电间", t + 1),
                line_id: 1 + t / 10,
                line: format!("校区 {}", 1 + t / 10),
                status: if t % 7 == 0 { "offline" } else { "online" }.into(),
                last_contact: Some(now),
                in_scan: true,
                door: n,
                name: format!("{}号楼 {}号门", t + 1, n),
                location: format!("{}号楼 {}侧", t + 1, n),
                mode: DoorMode::Controlled,
                unlock_secs: 3,
                open: Some(n == 2),
                unlocked: Some(false),
                state_at: Some(now),
                last_kind: Some("granted".into()),
                last_time: None,
                last_received_at: Some(now),
                last_card: Some(8_165_500),
                last_person: Some("欧阳超".into()),
            });
        }
    }
    let day = NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap_or_default();
    let events = (0..FEED_MAX as i64)
        .map(|i| DoorEvent {
            terminal_id: 1 + i % 40,
            record_no: i,
            door: (1 + i % 4) as i16,
            door_name: format!("{}号楼 {}号门", 1 + i % 40, 1 + i % 4),
            controller: format!("{}号楼门禁", 1 + i % 40),
            serial: 405_419_800 + i % 40,
            kind: if i % 50 == 0 { "denied" } else { "granted" }.into(),
            granted: i % 50 != 0,
            reason: 6,
            card: Some(8_165_500 + i % 3000),
            person_id: Some(i % 3000),
            person_no: Some(format!("2026{:05}", i % 3000)),
            person_name: Some(format!("学生{}", i % 3000)),
            department: Some("计算机学院".into()),
            terminal_time: Some(day + ChronoDuration::seconds(i)),
            received_at: now - ChronoDuration::seconds(FEED_MAX as i64 - i),
            late: i % 997 == 0,
            direction: None,
            clock_invalid: false,
            card_state: None,
        })
        .collect();
    (doors, events)
}

/// The frame time of the Doors tab at 200x50 with a full feed: (p50, p99, mean) in ms.
fn frame_time() -> anyhow::Result<(f64, f64, f64)> {
    let mut s = signed_in(Role::DutyOperator, synthetic_operator(), 1);
    let (doors, events) = big_site(s.shell.now);
    update(&mut s, Msg::Doors(doors::Msg::Loaded { gen: 1_000, doors }));
    update(
        &mut s,
        Msg::Doors(doors::Msg::Feed {
            start: false,
            events,
            more: false,
        }),
    );
    s.shell.size = (200, 50);
    let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // The cursor moves in the feed as an operator scrolls: each frame draws other rows.
        s.doors.focus = doors::Focus::Feed;
        s.doors.feed.select(i * 37 % 5_000);
        let t = Instant::now();
        terminal.draw(|f| crate::ui::render(f, &s))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 50.0), percentile(&times, 99.0), mean))
}

/// Runs effects as the console does, one after the other, each answer fed back.
async fn run_effects(
    s: &mut State,
    pool: &sqlx::PgPool,
    session: &Option<(i64, Actor)>,
    effects: Vec<Effect>,
) {
    let mut queue: VecDeque<Effect> = effects.into();
    while let Some(effect) = queue.pop_front() {
        if matches!(effect, Effect::Bell | Effect::Quit) {
            continue;
        }
        if let Some(msg) =
            crate::console::execute(effect, pool, s.shell.lang, session.clone()).await
        {
            queue.extend(update(s, msg));
        }
    }
}

/// One remote open, from the key that confirms it to the controller's answer on the message
/// line: its time in ms, or None when it did not come in time or failed.
async fn one_open(
    s: &mut State,
    pool: &sqlx::PgPool,
    session: &Option<(i64, Actor)>,
    listener: &mut PgListener,
) -> anyhow::Result<Option<f64>> {
    let before: usize = s.shell.commands.sent.len();
    let fx = update(s, key('o'));
    run_effects(s, pool, session, fx).await;
    let start = Instant::now();
    let fx = update(s, key('y'));
    run_effects(s, pool, session, fx).await;
    let id = s.shell.commands.sent.keys().max().copied();
    if s.shell.commands.sent.len() == before {
        return Ok(None);
    }
    let Some(id) = id else { return Ok(None) };
    while start.elapsed() < OPEN_PATIENCE {
        if s.shell.commands.sent.get(&id).is_some_and(|c| c.finished()) {
            let ok = s.shell.commands.sent[&id].state() == "done";
            return Ok(ok.then(|| start.elapsed().as_secs_f64() * 1000.0));
        }
        let left = OPEN_PATIENCE.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, listener.recv()).await {
            Ok(Ok(n)) => {
                if let Some(change) = Change::parse(n.payload()) {
                    update(s, Msg::Changed(change));
                    let fx = update(s, Msg::Frame);
                    run_effects(s, pool, session, fx).await;
                }
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok(None)
}

pub async fn run(server: &Server, opens: usize, poll_ms: u32) -> anyhow::Result<()> {
    say(format!(
        "onecard bench --doors: the Doors tab at 200x50 with {FEED_MAX} events in the feed ({FRAMES} frames), \
         then {opens} remote opens of a simulated controller polled every {poll_ms} ms"
    ));
    let (frame_p50, frame_p99, frame_mean) = tokio::task::spawn_blocking(frame_time).await??;
    say(format!(
        "frame: p50 {frame_p50:.2} ms, p99 {frame_p99:.2} ms, mean {frame_mean:.2} ms"
    ));

    let (options, _url) = fresh_database(server, super::DOORS_DATABASE).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(6)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    crate::db::migrate(&pool).await?;
    let mut config = SiteConfig::demo();
    config.rate = 0.0;
    config.door_controllers.truncate(1);
    config.attendance_machines.clear();
    config.lines.clear();
    let site = Site::start(&config, Ports::ephemeral()).await?;
    let reg = register_site_with(
        &pool,
        &site,
        &RegisterOptions {
            poll_interval_ms: poll_ms as i32,
            ..RegisterOptions::default()
        },
    )
    .await?;
    let Some(controller) = reg.first() else {
        anyhow::bail!("the simulated site has no door controller");
    };
    let terminal_id = controller.terminal_id;
    let supervisor = Supervisor::start_with(pool.clone(), "bench-doors", Options::default());
    let root = Actor::shell("bench");
    operator::create(
        &pool,
        &root,
        NewOperator {
            login: "bench.duty",
            display_name: "值班员",
            role: Role::DutyOperator,
            password: "a long bench password",
            must_change_password: false,
        },
    )
    .await?;
    let session = operator::open_session(&pool, "bench.duty", "bench").await?;
    let mut s = signed_in(Role::DutyOperator, session.operator.clone(), session.id);
    let actor = Some((session.id, session.operator.actor()));
    let fx = update(&mut s, Msg::Frame);
    run_effects(&mut s, &pool, &actor, fx).await;
    let fx = update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)),
    );
    run_effects(&mut s, &pool, &actor, fx).await;
    s.doors.tree.selected = Some(Sel {
        terminal_id,
        door: Some(1),
    });
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;

    // The poller identifies the controller before the first open is timed.
    let ready = Instant::now();
    while ready.elapsed() < Duration::from_secs(30) {
        let online: Option<String> =
            sqlx::query_scalar("SELECT status FROM terminal WHERE id = $1")
                .bind(terminal_id)
                .fetch_optional(&pool)
                .await?;
        if online.as_deref() == Some("online") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut times = Vec::with_capacity(opens);
    let mut failed = 0usize;
    for _ in 0..opens {
        match one_open(&mut s, &pool, &actor, &mut listener).await? {
            Some(ms) => times.push(ms),
            None => failed += 1,
        }
    }
    supervisor.stop().await;
    drop(site);
    times.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    say(format!(
        "remote open, key to confirmation on screen: {} done, {failed} failed, p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms (goal: p99 at most 300 ms + one poll period = {} ms)",
        times.len(),
        times.last().copied().unwrap_or(f64::NAN),
        300 + poll_ms
    ));
    say(format!(
        "frame p99: {frame_p99:.2} ms; remote opens failed: {failed}"
    ));
    say(format!(
        "bench: doors_frame_ms={frame_p50:.2} remote_open_p50_ms={p50:.1} remote_open_p99_ms={p99:.1}"
    ));
    Ok(())
}
