//! Pure rendering of `app::State`: the header (tabs and the alarm strip), the view shown, the
//! hint line and the status bar, and the shell's popups. Each tab draws itself in `ui::tabs`.
//! Reads the state, `app::words` and `domain`; never the database or terminals.

pub mod form;
pub mod help;
pub mod tabs;
pub mod theme;
pub mod wallboard;
pub mod widgets;

use crate::app::layout;
use crate::app::msg::DbState;
use crate::app::router::{self, ViewId};
use crate::app::session::SignInKind;
use crate::app::state::{DbWhere, Level, Overlay, Screen, Shell, State, TabId};
use crate::app::words;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::{Command, Section};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;
use theme::Theme;
use unicode_width::UnicodeWidthStr;
pub use widgets::{centered, clear_popup, fit};

pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    let sh = &state.shell;
    let th = theme::theme(sh.theme);
    frame.render_widget(Block::default().style(th.base), area);
    if area.width < 80 || area.height < 24 {
        let text = trf(
            sh.lang,
            "status.size_too_small",
            &[
                ("w", &area.width.to_string()),
                ("h", &area.height.to_string()),
            ],
        );
        let y = area.height / 2;
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true })
                .style(th.error),
            Rect::new(
                area.x,
                area.y + y.saturating_sub(1),
                area.width,
                3.min(area.height),
            ),
        );
        return;
    }
    let areas = layout::areas(area);
    match &sh.screen {
        Screen::Starting => {
            let msg = tr(sh.lang, "screen.starting");
            frame.render_widget(
                Paragraph::new(msg)
                    .alignment(Alignment::Center)
                    .style(th.muted),
                Rect::new(area.x, area.height / 2, area.width, 1),
            );
        }
        Screen::SignIn(s) => {
            let lang = sh.lang;
            let (title, intro, esc) = match s.kind {
                SignInKind::Login => ("form.title.login", "form.intro.login", "form.esc_quit"),
                SignInKind::FirstRun => (
                    "form.title.first_run",
                    "form.intro.first_run",
                    "form.esc_quit",
                ),
                SignInKind::ChangePassword { forced: true } => (
                    "form.title.change_password",
                    "form.intro.must_change",
                    "form.esc_logout",
                ),
                SignInKind::ChangePassword { forced: false } => (
                    "form.title.change_password",
                    "form.intro.change_password",
                    "form.esc_back",
                ),
            };
            let mut f = s.form.clone();
            f.intro = vec![tr(lang, intro).to_string()];
            form::render(
                frame,
                lang,
                &f,
                &form::Placement {
                    width: 60,
                    title: format!("onecard · {}", tr(lang, title)),
                    keys: trf(lang, "form.keys", &[("esc", tr(lang, esc))]),
                },
                areas.body,
                &th,
            );
        }
        Screen::Main if sh.lock.is_some() => {
            render_locked(frame, state, &areas, &th);
            render_alarms(frame, state, areas.alarms, true, &th);
            render_hint(frame, state, areas.hint, &th);
        }
        Screen::Main if crate::app::wallboard::on(sh) => {
            wallboard::render(frame, state, &areas, &th)
        }
        Screen::Main => {
            render_tabs(frame, sh, areas.tabs, &th);
            render_alarms(frame, state, areas.alarms, true, &th);
            render_body(frame, state, areas.body, &th);
            render_hint(frame, state, areas.hint, &th);
        }
    }
    render_status(frame, sh, areas.status, &th);
    match &sh.overlay {
        Some(Overlay::Help { scroll }) => help::render_help(frame, state, areas.body, *scroll, &th),
        Some(Overlay::Palette(p)) => help::render_palette(frame, state, p, areas.body, &th),
        Some(Overlay::Quit) => render_confirm(
            frame,
            sh.lang,
            tr(
                sh.lang,
                if crate::app::wallboard::on(sh) {
                    "confirm.wallboard_quit"
                } else {
                    "confirm.quit"
                },
            ),
            "confirm.keys",
            areas.body,
            &th,
        ),
        Some(Overlay::Notice { title, lines }) => {
            render_notice(frame, sh.lang, title, lines, areas.body, &th)
        }
        None => {
            if let Some(question) = router::confirming(state) {
                render_confirm(frame, sh.lang, question, "confirm.keys", areas.body, &th);
            }
        }
    }
}

/// The idle lock: who is signed in and the password asked, over the live alarm list (the
/// header's counts stay above it).
fn render_locked(frame: &mut Frame, state: &State, areas: &layout::Areas, th: &Theme) {
    let sh = &state.shell;
    let lang = sh.lang;
    let Some(lock) = &sh.lock else {
        return;
    };
    let who = sh
        .session
        .as_ref()
        .map(|s| format!("{} ({})", s.operator.display_name, s.operator.login))
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            format!(" {} ", trf(lang, "lock.title", &[("who", &who)])),
            th.alarm_loud,
        ))),
        areas.tabs,
    );
    let body = areas.body;
    // Borders, the intro (up to five lines at 60 columns), the password and the keys.
    let form_h = 12.min(body.height);
    let top = Rect::new(body.x, body.y, body.width, form_h);
    let rest = Rect::new(
        body.x,
        body.y + form_h,
        body.width,
        body.height.saturating_sub(form_h),
    );
    if rest.height > 2 {
        tabs::alarms::render(frame, state, rest, th);
    }
    let mut f = lock.form.clone();
    f.intro = vec![trf(lang, "lock.intro", &[("who", &who)])];
    if sh.demo {
        // The demo signed its director in without a password: say where the passwords are.
        f.intro.push(tr(lang, "lock.demo").to_string());
    }
    form::render(
        frame,
        lang,
        &f,
        &form::Placement {
            width: 60,
            title: format!("onecard · {}", tr(lang, "lock.form_title")),
            keys: tr(lang, "lock.keys").to_string(),
        },
        top,
        th,
    );
}

fn render_tabs(frame: &mut Frame, sh: &Shell, row: Rect, th: &Theme) {
    let titles: Vec<Line> = TabId::ALL
        .iter()
        .map(|t| Line::from(layout::tab_label(sh.lang, *t)))
        .collect();
    let tabs = Tabs::new(titles)
        .select(sh.tab.index())
        .style(th.tab)
        .highlight_style(th.tab_active)
        .divider("")
        .padding("", "");
    // One column in, as `layout::tab_spans` counts for the mouse.
    frame.render_widget(
        tabs,
        Rect::new(row.x + 1, row.y, row.width.saturating_sub(1), 1),
    );
}

/// The alarm strip: unacknowledged alarms by priority, loud while any P1 is unacknowledged;
/// with `hint`, the key that opens the Alarms view.
fn render_alarms(frame: &mut Frame, state: &State, row: Rect, hint: bool, th: &Theme) {
    let sh = &state.shell;
    let counts = &state.alarms.counts;
    let total = counts.total();
    let p1 = counts.of(1) > 0;
    let mut spans = vec![Span::styled(
        format!(" {} ", tr(sh.lang, "alarm.strip")),
        if p1 { th.alarm_loud } else { th.title },
    )];
    if total == 0 {
        spans.push(Span::styled(tr(sh.lang, "alarm.none"), th.alarm_quiet));
    } else {
        for p in 1..=3u8 {
            let n = counts.of(p);
            let style = match (p, n) {
                (_, 0) => th.muted,
                (1, _) => th.alarm_loud,
                _ => th.header,
            };
            spans.push(Span::raw(" "));
            spans.push(Span::styled(format!(" P{p} {n} "), style));
        }
        spans.push(Span::styled(
            format!("  {}", tr(sh.lang, "alarm.unacknowledged")),
            th.muted,
        ));
    }
    if let Some(key) = sh
        .key_for(sh.tab.section(), Command::Alarms)
        .filter(|_| hint)
    {
        let open = tr(
            sh.lang,
            if state.alarms.open {
                "alarm.close_hint"
            } else {
                "alarm.open_hint"
            },
        );
        spans.push(Span::styled(format!("   {key} "), th.title));
        spans.push(Span::styled(open, th.muted));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), row);
}

fn render_body(frame: &mut Frame, state: &State, body: Rect, th: &Theme) {
    match router::shown(state) {
        ViewId::Alarms => tabs::alarms::render(frame, state, body, th),
        ViewId::Tab(TabId::Cards) => tabs::cards::render(frame, state, body, th),
        ViewId::Tab(TabId::Doors) => tabs::doors::render(frame, state, body, th),
        ViewId::Tab(TabId::Settlement) => tabs::settlement::render(frame, state, body, th),
        ViewId::Tab(TabId::Terminals) => tabs::terminals::render(frame, state, body, th),
        ViewId::Tab(TabId::Operators) => tabs::operators::render(frame, state, body, th),
        ViewId::Tab(TabId::Patrol) => tabs::patrol::render(frame, state, body, th),
        ViewId::Tab(TabId::Attendance) => tabs::attendance::render(frame, state, body, th),
    }
}

/// A list's title with its `/` filter, if it has one: " Alarms · 5 open · filter “图书馆” · 2
/// shown ", the number shown when the title does not already count the rows shown.
pub fn filtered_title(lang: Lang, title: &str, filter: &str, shown: Option<usize>) -> String {
    if filter.is_empty() {
        return format!(" {title} ");
    }
    let active = trf(lang, "filter.active", &[("text", filter)]);
    match shown {
        Some(n) => format!(
            " {title} · {active} · {} ",
            trf(lang, "filter.shown", &[("n", &n.to_string())])
        ),
        None => format!(" {title} · {active} "),
    }
}

/// What a filtered list shows when nothing passes its filter.
pub fn no_match(lang: Lang, filter: &str, th: &Theme) -> Line<'static> {
    Line::from(Span::styled(
        trf(lang, "filter.no_match", &[("text", filter)]),
        th.muted,
    ))
}

/// The hint line: a filter being typed, else the message if there is one, else the view's
/// keys from the loaded keymap.
fn render_hint(frame: &mut Frame, state: &State, row: Rect, th: &Theme) {
    let sh = &state.shell;
    if let Some((prompt, input)) = router::typing_filter(state) {
        let label = format!(" {} ", tr(sh.lang, prompt));
        let width = (row.width as usize).saturating_sub(label.width());
        let mut spans = vec![Span::styled(label, th.title)];
        spans.extend(widgets::input_spans(
            input,
            false,
            width,
            true,
            th.input_focus,
        ));
        frame.render_widget(Paragraph::new(Line::from(spans)), row);
        return;
    }
    if let Some((level, text)) = &sh.message {
        let style = match level {
            Level::Info => th.info,
            Level::Error => th.error,
        };
        let text = widgets::clip(&format!(" {text}"), row.width as usize);
        frame.render_widget(Paragraph::new(Span::styled(text, style)), row);
        return;
    }
    if sh.lock.is_some() {
        // Locked, no tab's key works: only the lock's.
        let text = widgets::clip(
            &format!(" {}", tr(sh.lang, "lock.keys")),
            row.width as usize,
        );
        frame.render_widget(Paragraph::new(Span::styled(text, th.info)), row);
        return;
    }
    let commands = router::hints(state);
    frame.render_widget(
        Paragraph::new(hint_line(
            sh,
            router::key_section(state),
            &commands,
            row.width as usize,
            th,
        )),
        row,
    );
}

/// The hints that fit in `width` columns, whole: a hint is never cut in the middle.
pub fn hint_line(
    sh: &Shell,
    section: Section,
    commands: &[Command],
    width: usize,
    th: &Theme,
) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for cmd in commands {
        if let Some(keys) = sh.keymap.keys_for(section, *cmd).into_iter().next() {
            // On the Card service tab the filter key searches the register.
            let key = if *cmd == Command::Filter && section == Section::Cards {
                "hint.search".to_string()
            } else {
                format!("hint.{}", cmd.name())
            };
            let word = format!(" {}", tr(sh.lang, &key));
            let w = keys.width() + word.width();
            if used + w > width {
                break;
            }
            used += w + 2;
            spans.push(Span::styled(keys, th.title));
            spans.push(Span::styled(format!("{word}  "), th.muted));
        }
    }
    Line::from(spans)
}

fn render_status(frame: &mut Frame, sh: &Shell, row: Rect, th: &Theme) {
    let lang = sh.lang;
    let who = match &sh.session {
        Some(s) => format!(
            " {} ({}) · {} ",
            s.operator.login,
            s.operator.display_name,
            tr(lang, &format!("role.{}", s.operator.role.name()))
        ),
        None => format!(" {} ", tr(lang, "status.signed_out")),
    };
    let (db_text, db_style) = match &sh.db {
        DbState::Connecting => (tr(lang, "db.connecting").to_string(), th.muted),
        DbState::Ready => (tr(lang, "db.ready").to_string(), th.info),
        DbState::Lost(_) => (tr(lang, "db.lost").to_string(), th.error),
    };
    let clock = sh
        .now
        .with_timezone(&sh.utc_offset)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut left = vec![
        Span::styled(who, th.status),
        Span::styled(
            format!("│ {}: {} ", tr(lang, "status.db"), db_where(sh)),
            th.status,
        ),
        Span::styled(
            format!("{db_text} "),
            db_style.patch(Style::default().bg(th.status.bg.unwrap_or_default())),
        ),
    ];
    if sh.demo {
        left.push(Span::styled(
            format!(" {} ", tr(lang, "status.demo")),
            th.badge,
        ));
    }
    let used: usize = left.iter().map(|s| s.content.width()).sum();
    let pad = (row.width as usize).saturating_sub(used + clock.width() + 1);
    left.push(Span::styled(" ".repeat(pad), th.status));
    left.push(Span::styled(format!("{clock} "), th.status));
    frame.render_widget(Paragraph::new(Line::from(left)).style(th.status), row);
}

fn db_where(sh: &Shell) -> String {
    match &sh.db_where {
        DbWhere::Embedded => tr(sh.lang, "db.embedded").to_string(),
        DbWhere::Demo => tr(sh.lang, "db.demo").to_string(),
        DbWhere::External(host) => host.clone(),
    }
}

fn render_confirm(
    frame: &mut Frame,
    lang: Lang,
    question: &str,
    keys: &str,
    body: Rect,
    th: &Theme,
) {
    let w = (question.width() as u16 + 6).clamp(40, body.width);
    let inner = w.saturating_sub(2) as usize;
    let mut text: Vec<Line> = widgets::wrap(question, inner)
        .into_iter()
        .map(Line::from)
        .collect();
    text.push(Line::raw(""));
    text.push(Line::from(Span::styled(tr(lang, keys), th.title)));
    let popup = centered(body, w, text.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.error)
        .title(Span::styled(
            format!(" {} ", tr(lang, "confirm.title")),
            th.error,
        ))
        .style(th.base);
    frame.render_widget(Paragraph::new(text).block(block), popup);
}

fn render_notice(
    frame: &mut Frame,
    lang: Lang,
    title: &str,
    lines: &[String],
    body: Rect,
    th: &Theme,
) {
    let w = body.width.min(100);
    let inner = w.saturating_sub(2) as usize;
    let mut text: Vec<Line> = lines
        .iter()
        .flat_map(|l| widgets::wrap(l, inner))
        .map(|l| Line::from(Span::styled(l, th.base)))
        .collect();
    text.push(Line::raw(""));
    text.push(Line::from(Span::styled(tr(lang, "notice.keys"), th.muted)));
    let popup = centered(body, w, (text.len() as u16 + 2).min(body.height));
    clear_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.error)
        .title(Span::styled(format!(" {title} "), th.error))
        .style(th.base);
    frame.render_widget(Paragraph::new(text).block(block), popup);
}

/// What the newest command this console sent a terminal is doing ("提取记录 45% · 3,200 条/秒"),
/// while it runs or just finished.
pub fn command_line(sh: &Shell, terminal_id: i64) -> Option<String> {
    let lang = sh.lang;
    let sent = sh.commands.latest(terminal_id, |_| true)?;
    let mut s = format!(
        "{}: {}",
        words::command(lang, &sent.command),
        words::command_state(lang, sent.state())
    );
    if let Some(r) = sent.row.as_ref() {
        s.push_str(" · ");
        s.push_str(&words::command_result(lang, r));
        if let (Some(p), Some(started), "running") = (r.progress, r.started_at, r.state.as_str()) {
            let rate = p.per_second(started, sh.now);
            s.push_str(" · ");
            s.push_str(&trf(lang, "command.rate", &[("n", &words::count(rate))]));
        }
    }
    Some(s)
}

/// A time in the console's local zone.
pub fn local(sh: &Shell, at: chrono::DateTime<chrono::Utc>, format: &str) -> String {
    at.with_timezone(&sh.utc_offset).format(format).to_string()
}

/// A recent time, short: the time of day when it is today (locally), else date and minute.
pub fn when(sh: &Shell, at: chrono::DateTime<chrono::Utc>) -> String {
    let today = sh.now.with_timezone(&sh.utc_offset).date_naive();
    if at.with_timezone(&sh.utc_offset).date_naive() == today {
        local(sh, at, "%H:%M:%S")
    } else {
        local(sh, at, "%m-%d %H:%M")
    }
}
