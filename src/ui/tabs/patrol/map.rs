//! The patrol map: the plan (a text plan as drawn, CJK-width aware; a PNG in half blocks, upper
//! pixel the foreground of `▀` and lower pixel its background), checkpoints as markers coloured
//! by their live state with the running late timer of an overdue one, the guards' last
//! positions, the legend; beside it the selected checkpoint and the latest scans.

use crate::app::state::Shell;
use crate::app::tabs::patrol::map::{self as model, Geometry, Raster, LEGEND};
use crate::app::tabs::patrol::Patrol;
use crate::app::words;
use crate::db::patrol::live::LiveState;
use crate::db::patrol::MapKind;
use crate::i18n::{tr, trf};
use crate::ui::theme::Theme;
use crate::ui::widgets::{block, clip, column_widths, fit_columns, table, TableRow};
use crate::ui::{local, when};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

/// A live state's colour (the same in both themes: a state must read at a glance).
pub fn state_color(s: LiveState) -> Color {
    match s {
        LiveState::OnTime => Color::Green,
        LiveState::Early => Color::Cyan,
        LiveState::Late => Color::Yellow,
        LiveState::DueSoon => Color::LightBlue,
        LiveState::Overdue => Color::LightRed,
        LiveState::Missed => Color::Magenta,
        LiveState::Waiting => Color::Gray,
        LiveState::Idle => Color::DarkGray,
    }
}

const MARKER: &str = "●";
const GUARD: &str = "▲";
const GUARD_COLOR: Color = Color::LightCyan;

pub fn render(frame: &mut Frame, sh: &Shell, p: &Patrol, body: Rect, th: &Theme) {
    let areas = model::split(body);
    let lang = sh.lang;
    let m = &p.map;
    let title = match m.map() {
        Some(lm) => {
            let mut t = trf(
                lang,
                "patrol.map.title",
                &[
                    ("name", &lm.map.name),
                    ("n", &(m.at + 1).to_string()),
                    ("of", &m.maps.len().to_string()),
                ],
            );
            if m.editing {
                t.push_str(" · ");
                t.push_str(tr(lang, "patrol.map.editing"));
            }
            t
        }
        None => tr(lang, "patrol.map.none_title").to_string(),
    };
    let title_style = if m.editing { th.badge } else { th.title };
    frame.render_widget(
        block(
            Span::styled(
                format!(
                    " {} ",
                    clip(&title, areas.map.width.saturating_sub(4) as usize)
                ),
                title_style,
            ),
            th,
        ),
        areas.map,
    );
    match m.map() {
        Some(lm) => {
            let Some(g) = m.geometry(areas.plan) else {
                return;
            };
            let buf = frame.buffer_mut();
            match (&lm.map.kind, &lm.raster) {
                (MapKind::Text { plan }, _) => draw_text(buf, &g, plan, th.muted),
                (MapKind::Png { .. }, Some(r)) => draw_png(buf, &g, r),
                (MapKind::Png { .. }, None) => {
                    buf.set_stringn(
                        areas.plan.x,
                        areas.plan.y,
                        tr(lang, "patrol.map.unreadable"),
                        areas.plan.width as usize,
                        th.error,
                    );
                }
            }
            draw_markers(buf, sh, p, &g);
        }
        None => {
            let text = tr(lang, "patrol.map.none");
            frame.render_widget(
                Paragraph::new(text)
                    .style(th.muted)
                    .wrap(ratatui::widgets::Wrap { trim: true }),
                areas.plan,
            );
        }
    }
    draw_legend(frame.buffer_mut(), sh, areas.legend, th);
    render_detail(frame, sh, p, areas.detail, th);
    render_recent(frame, sh, p, areas.recent, th);
}

/// The plan's lines as drawn from the geometry's scroll, each clipped at the area's edges (a
/// wide character that would straddle one is left out).
fn draw_text(buf: &mut Buffer, g: &Geometry, plan: &str, style: Style) {
    let Geometry::Text { area, ox, oy } = *g else {
        return;
    };
    let lines = plan.lines().skip(oy as usize).take(area.height as usize);
    for (row, line) in lines.enumerate() {
        let y = area.y + row as u16;
        let mut x = area.x;
        let mut col = 0u16;
        for c in line.chars() {
            let w = c.width().unwrap_or(0) as u16;
            if w == 0 {
                continue;
            }
            // Columns left of the scroll are not drawn; half a wide character is a blank.
            if col < ox {
                col += w;
                if col > ox {
                    x += col - ox;
                }
                continue;
            }
            col += w;
            if x + w > area.right() {
                break;
            }
            buf[(x, y)].set_char(c).set_style(style);
            if w == 2 {
                buf[(x + 1, y)].set_symbol("");
            }
            x += w;
        }
    }
}

/// The picture in half blocks, scaled to fit: each cell samples the pixel under its upper and
/// its lower half.
fn draw_png(buf: &mut Buffer, g: &Geometry, r: &Raster) {
    let Geometry::Png { area, scale, .. } = *g else {
        return;
    };
    let (cols, rows) = g.picture_cells();
    let rgb = |p: [u8; 3]| Color::Rgb(p[0], p[1], p[2]);
    for cy in 0..rows {
        for cx in 0..cols {
            let px = ((cx as f32 + 0.5) / scale) as u32;
            let top = ((cy as f32 * 2.0 + 0.5) / scale) as u32;
            let bottom = ((cy as f32 * 2.0 + 1.5) / scale) as u32;
            let cell = &mut buf[(area.x + cx, area.y + cy)];
            cell.set_symbol("▀")
                .set_fg(rgb(r.at(px, top)))
                .set_bg(if bottom < r.height {
                    rgb(r.at(px, bottom))
                } else {
                    Color::Reset
                });
        }
    }
}

fn put(buf: &mut Buffer, area: Rect, x: u16, y: u16, s: &str, style: Style) -> u16 {
    if x >= area.right() || y >= area.bottom() {
        return 0;
    }
    let room = (area.right() - x) as usize;
    let (end, _) = buf.set_stringn(x, y, s, room, style);
    end - x
}

fn draw_markers(buf: &mut Buffer, sh: &Shell, p: &Patrol, g: &Geometry) {
    let m = &p.map;
    let area = g.area();
    // Guards first: a checkpoint's marker wins its own cell.
    for pos in &m.positions {
        let Some(c) = m.live.iter().find(|c| c.tag == pos.checkpoint_tag) else {
            continue;
        };
        if let Some((x, y)) = m.spot(c).and_then(|(x, y)| g.cell(x, y)) {
            put(buf, area, x + 1, y, GUARD, Style::default().fg(GUARD_COLOR));
        }
    }
    for c in &m.live {
        let Some((x, y)) = m.spot(c).and_then(|(x, y)| g.cell(x, y)) else {
            continue;
        };
        let color = state_color(c.state);
        let selected = m.selected == Some(c.tag);
        let mut style = Style::default().fg(color).add_modifier(Modifier::BOLD);
        if selected {
            style = style.add_modifier(Modifier::REVERSED);
        }
        put(buf, area, x, y, MARKER, style);
        let moving = m.moving.is_some_and(|mv| mv.tag == c.tag);
        let label = match c.overdue_by(sh.now) {
            Some(d) => Some(words::patrol_timer(d)),
            None if selected || moving => Some(c.tag.to_string()),
            None => None,
        };
        if let Some(label) = label {
            put(buf, area, x + 2, y, &label, Style::default().fg(color));
        }
    }
}

fn draw_legend(buf: &mut Buffer, sh: &Shell, area: Rect, th: &Theme) {
    if area.height == 0 {
        return;
    }
    let lang = sh.lang;
    let mut items: Vec<(String, Color)> = LEGEND
        .iter()
        .map(|s| (words::patrol_state(lang, *s).to_string(), state_color(*s)))
        .collect();
    items.push((tr(lang, "patrol.map.guard").to_string(), GUARD_COLOR));
    let per_row = items.len().div_ceil(area.height as usize);
    for (row, chunk) in items.chunks(per_row.max(1)).enumerate() {
        let y = area.y + row as u16;
        let mut x = area.x;
        for (i, (name, color)) in chunk.iter().enumerate() {
            let glyph = if row * per_row + i == items.len() - 1 {
                GUARD
            } else {
                MARKER
            };
            x += put(buf, area, x, y, glyph, Style::default().fg(*color));
            x += put(buf, area, x, y, &format!(" {name}  "), th.muted);
        }
    }
}

fn render_detail(frame: &mut Frame, sh: &Shell, p: &Patrol, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut push = |label: &str, value: String, style: Style| {
        let text = format!("{} {}", tr(lang, label), value);
        lines.push(Line::from(Span::styled(clip(&text, inner_w), style)));
    };
    match p.map.selected_live() {
        Some(c) => {
            let state = words::patrol_state(lang, c.state).to_string();
            let state = match c.overdue_by(sh.now) {
                Some(d) => format!("{state} {}", words::patrol_timer(d)),
                None => state,
            };
            push(
                "patrol.detail.checkpoint",
                format!("{} {}", c.tag, c.name),
                th.base,
            );
            push(
                "patrol.detail.state",
                state,
                Style::default().fg(state_color(c.state)),
            );
            if let Some(d) = c.due {
                push("patrol.detail.due", local(sh, d, "%H:%M"), th.base);
            }
            if let Some(s) = c.scanned_at {
                push("patrol.detail.scanned", when(sh, s), th.base);
            }
            if let Some(g) = &c.guard {
                push("patrol.detail.guard", g.clone(), th.base);
            }
            let place = match c.place {
                Some((map, x, y)) => {
                    let name = p
                        .map
                        .maps
                        .iter()
                        .find(|m| m.map.id == map)
                        .map_or_else(|| map.to_string(), |m| m.map.name.clone());
                    format!("{name} ({x:.0}, {y:.0})")
                }
                None => tr(lang, "patrol.detail.unplaced").to_string(),
            };
            push("patrol.detail.place", place, th.muted);
        }
        None => push("patrol.detail.none", String::new(), th.muted),
    }
    let title = Span::styled(format!(" {} ", tr(lang, "patrol.detail.title")), th.title);
    frame.render_widget(Paragraph::new(lines).block(block(title, th)), area);
}

fn render_recent(frame: &mut Frame, sh: &Shell, p: &Patrol, area: Rect, th: &Theme) {
    let lang = sh.lang;
    let headers: Vec<String> = [
        "patrol.col.time",
        "patrol.col.guard",
        "patrol.col.checkpoint",
    ]
    .iter()
    .map(|k| tr(lang, k).to_string())
    .collect();
    let cells: Vec<Vec<String>> = p
        .map
        .recent
        .iter()
        .map(|s| {
            vec![
                s.scanned_at.map(|t| when(sh, t)).unwrap_or_default(),
                s.guard.clone().unwrap_or_else(|| s.guard_card.to_string()),
                match &s.checkpoint {
                    Some(n) => format!("{} {n}", s.checkpoint_tag),
                    None => s.checkpoint_tag.to_string(),
                },
            ]
        })
        .collect();
    let mut widths = column_widths(&headers, &cells);
    fit_columns(
        &mut widths,
        &[5, 4, 4],
        area.width.saturating_sub(2) as usize,
        1,
    );
    let rows = cells
        .into_iter()
        .map(|c| TableRow::plain(c, th.base))
        .collect();
    let title = Span::styled(format!(" {} ", tr(lang, "patrol.recent.title")), th.title);
    table(
        frame,
        area,
        block(title, th),
        &headers,
        &widths,
        rows,
        None,
        Some(Line::from(Span::styled(
            tr(lang, "patrol.recent.none"),
            th.muted,
        ))),
        th,
    );
}
