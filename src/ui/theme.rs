//! Colours. `basic` uses only the 16 ANSI colours and is chosen under `NO_COLOR`.

use crate::app::state::ThemeName;
use ratatui::style::{Color, Modifier, Style};

pub struct Theme {
    pub base: Style,
    pub tab: Style,
    pub tab_active: Style,
    pub alarm_quiet: Style,
    pub alarm_loud: Style,
    pub border: Style,
    pub title: Style,
    pub header: Style,
    pub selected: Style,
    pub muted: Style,
    pub info: Style,
    pub error: Style,
    pub status: Style,
    pub badge: Style,
    pub input: Style,
    pub input_focus: Style,
}

pub fn theme(name: ThemeName) -> Theme {
    match name {
        ThemeName::Default => Theme {
            base: Style::default()
                .fg(Color::Rgb(220, 223, 228))
                .bg(Color::Rgb(24, 26, 31)),
            tab: Style::default().fg(Color::Rgb(150, 156, 168)),
            tab_active: Style::default()
                .fg(Color::Rgb(24, 26, 31))
                .bg(Color::Rgb(97, 175, 239))
                .add_modifier(Modifier::BOLD),
            alarm_quiet: Style::default().fg(Color::Rgb(120, 190, 120)),
            alarm_loud: Style::default()
                .fg(Color::Rgb(255, 255, 255))
                .bg(Color::Rgb(190, 40, 40))
                .add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::Rgb(80, 86, 98)),
            title: Style::default()
                .fg(Color::Rgb(97, 175, 239))
                .add_modifier(Modifier::BOLD),
            header: Style::default()
                .fg(Color::Rgb(229, 192, 123))
                .add_modifier(Modifier::BOLD),
            selected: Style::default()
                .bg(Color::Rgb(55, 62, 78))
                .add_modifier(Modifier::BOLD),
            muted: Style::default().fg(Color::Rgb(130, 136, 148)),
            info: Style::default().fg(Color::Rgb(152, 195, 121)),
            error: Style::default()
                .fg(Color::Rgb(240, 100, 100))
                .add_modifier(Modifier::BOLD),
            status: Style::default()
                .fg(Color::Rgb(220, 223, 228))
                .bg(Color::Rgb(40, 44, 52)),
            badge: Style::default()
                .fg(Color::Rgb(24, 26, 31))
                .bg(Color::Rgb(229, 192, 123))
                .add_modifier(Modifier::BOLD),
            input: Style::default()
                .fg(Color::Rgb(220, 223, 228))
                .bg(Color::Rgb(40, 44, 52)),
            input_focus: Style::default()
                .fg(Color::Rgb(255, 255, 255))
                .bg(Color::Rgb(55, 62, 78)),
        },
        ThemeName::Basic => Theme {
            base: Style::default(),
            tab: Style::default(),
            tab_active: Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            alarm_quiet: Style::default().fg(Color::Green),
            alarm_loud: Style::default()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
            border: Style::default(),
            title: Style::default().add_modifier(Modifier::BOLD),
            header: Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            muted: Style::default().fg(Color::DarkGray),
            info: Style::default().fg(Color::Green),
            error: Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            status: Style::default().add_modifier(Modifier::REVERSED),
            badge: Style::default()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            input: Style::default().add_modifier(Modifier::UNDERLINED),
            input_focus: Style::default().add_modifier(Modifier::REVERSED),
        },
        ThemeName::Light => Theme {
            base: Style::default()
                .fg(Color::Rgb(40, 42, 46))
                .bg(Color::Rgb(250, 250, 248)),
            tab: Style::default().fg(Color::Rgb(100, 104, 112)),
            tab_active: Style::default()
                .fg(Color::Rgb(255, 255, 255))
                .bg(Color::Rgb(30, 100, 200))
                .add_modifier(Modifier::BOLD),
            alarm_quiet: Style::default().fg(Color::Rgb(30, 130, 60)),
            alarm_loud: Style::default()
                .fg(Color::Rgb(255, 255, 255))
                .bg(Color::Rgb(200, 30, 30))
                .add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::Rgb(180, 184, 190)),
            title: Style::default()
                .fg(Color::Rgb(30, 100, 200))
                .add_modifier(Modifier::BOLD),
            header: Style::default()
                .fg(Color::Rgb(150, 90, 0))
                .add_modifier(Modifier::BOLD),
            selected: Style::default()
                .bg(Color::Rgb(215, 228, 248))
                .add_modifier(Modifier::BOLD),
            muted: Style::default().fg(Color::Rgb(120, 124, 130)),
            info: Style::default().fg(Color::Rgb(30, 130, 60)),
            error: Style::default()
                .fg(Color::Rgb(200, 30, 30))
                .add_modifier(Modifier::BOLD),
            status: Style::default()
                .fg(Color::Rgb(40, 42, 46))
                .bg(Color::Rgb(225, 228, 232)),
            badge: Style::default()
                .fg(Color::Rgb(255, 255, 255))
                .bg(Color::Rgb(200, 120, 0))
                .add_modifier(Modifier::BOLD),
            input: Style::default()
                .fg(Color::Rgb(40, 42, 46))
                .bg(Color::Rgb(235, 236, 238)),
            input_focus: Style::default()
                .fg(Color::Rgb(0, 0, 0))
                .bg(Color::Rgb(215, 228, 248)),
        },
    }
}
