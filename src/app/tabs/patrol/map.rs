//! The patrol map's model: the maps (a PNG decoded once per load), the checkpoints' live states,
//! the guards' last positions, the latest scans, the selection, and the edit mode's move in
//! progress. The geometry from a map's own units to screen cells lives here too, so the view
//! draws and the mouse hits with the same arithmetic.

use crate::app::load::Shown;
use crate::db::patrol::live::{CheckpointLive, GuardPosition, LiveState, RecentScan};
use crate::db::patrol::{MapKind, PatrolMap};
use ratatui::layout::Rect;
use std::sync::Arc;

/// How many of the latest scans the side panel keeps.
pub const RECENT: i64 = 50;

/// A decoded picture: RGB pixels, row after row.
#[derive(Clone, PartialEq, Eq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<[u8; 3]>,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Raster({}×{})", self.width, self.height)
    }
}

impl Raster {
    /// Decodes a PNG (None when it is not one this console reads).
    pub fn decode(bytes: &[u8]) -> Option<Raster> {
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).ok()?;
        let rgb = img.to_rgb8();
        let (width, height) = rgb.dimensions();
        if width == 0 || height == 0 {
            return None;
        }
        Some(Raster {
            width,
            height,
            pixels: rgb.pixels().map(|p| p.0).collect(),
        })
    }

    /// The pixel at (x, y), clamped to the picture.
    pub fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let x = x.min(self.width - 1);
        let y = y.min(self.height - 1);
        self.pixels[(y * self.width + x) as usize]
    }
}

/// A map as the tab holds it: its row and, for a PNG, the picture decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedMap {
    pub map: PatrolMap,
    pub raster: Option<Arc<Raster>>,
}

impl LoadedMap {
    pub fn new(map: PatrolMap) -> LoadedMap {
        let raster = match &map.kind {
            MapKind::Png { image } => Raster::decode(image).map(Arc::new),
            MapKind::Text { .. } => None,
        };
        LoadedMap { map, raster }
    }
}

/// From a map's units to the cells of `area` (the map's inside) and back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Geometry {
    /// A text plan: one unit is one cell, drawn from column `ox` and row `oy` of the plan (a
    /// plan larger than the area scrolls to keep the focus in view).
    Text { area: Rect, ox: u16, oy: u16 },
    /// A picture scaled by `scale` cells (horizontally) per pixel; a cell is two pixels high
    /// (half blocks), so a row is `2 / scale` pixels.
    Png {
        area: Rect,
        scale: f32,
        width: u32,
        height: u32,
    },
}

impl Geometry {
    /// The geometry of `map` in `area`, a text plan scrolled to keep `focus` in view.
    pub fn of(map: &PatrolMap, area: Rect, focus: Option<(f32, f32)>) -> Geometry {
        match map.kind {
            MapKind::Text { .. } => {
                // The first unit shown: 0 while the focus fits, else the focus centred (not past
                // the plan's end).
                let scroll = |size: i32, view: u16, f: f32| -> u16 {
                    let (size, view, f) = (size.max(0) as u32, u32::from(view), f.max(0.0) as u32);
                    if size <= view || f < view {
                        return 0;
                    }
                    (f - view / 2).min(size - view) as u16
                };
                let (fx, fy) = focus.unwrap_or((0.0, 0.0));
                Geometry::Text {
                    area,
                    ox: scroll(map.width, area.width, fx),
                    oy: scroll(map.height, area.height, fy),
                }
            }
            MapKind::Png { .. } => {
                let (w, h) = (map.width.max(1) as f32, map.height.max(1) as f32);
                let scale = (area.width as f32 / w).min(area.height as f32 * 2.0 / h);
                Geometry::Png {
                    area,
                    scale: if scale.is_finite() && scale > 0.0 {
                        scale
                    } else {
                        1.0
                    },
                    width: map.width.max(1) as u32,
                    height: map.height.max(1) as u32,
                }
            }
        }
    }

    pub fn area(&self) -> Rect {
        match *self {
            Geometry::Text { area, .. } | Geometry::Png { area, .. } => area,
        }
    }

    /// The cell a place falls in, if it is on screen.
    pub fn cell(&self, x: f32, y: f32) -> Option<(u16, u16)> {
        let area = self.area();
        let (cx, cy) = match *self {
            Geometry::Text { ox, oy, .. } => (x.floor() - f32::from(ox), y.floor() - f32::from(oy)),
            Geometry::Png { scale, .. } => ((x * scale).floor(), (y * scale / 2.0).floor()),
        };
        if cx < 0.0 || cy < 0.0 || cx >= area.width as f32 || cy >= area.height as f32 {
            return None;
        }
        Some((area.x + cx as u16, area.y + cy as u16))
    }

    /// The place at the middle of a screen cell, clamped to the map's size `(w, h)`.
    pub fn place(&self, col: u16, row: u16, w: f32, h: f32) -> (f32, f32) {
        let area = self.area();
        let cx = col.saturating_sub(area.x).min(area.width.saturating_sub(1)) as f32;
        let cy = row
            .saturating_sub(area.y)
            .min(area.height.saturating_sub(1)) as f32;
        let (x, y) = match *self {
            Geometry::Text { ox, oy, .. } => (cx + f32::from(ox), cy + f32::from(oy)),
            Geometry::Png { scale, .. } => ((cx + 0.5) / scale, (cy * 2.0 + 1.0) / scale),
        };
        (
            x.floor().clamp(0.0, (w - 1.0).max(0.0)),
            y.floor().clamp(0.0, (h - 1.0).max(0.0)),
        )
    }

    /// One cell's step in map units (for moving by keys).
    pub fn step(&self) -> (f32, f32) {
        match *self {
            Geometry::Text { .. } => (1.0, 1.0),
            Geometry::Png { scale, .. } => ((1.0 / scale).max(1.0), (2.0 / scale).max(1.0)),
        }
    }

    /// The cells the picture takes (width, rows), for a PNG.
    pub fn picture_cells(&self) -> (u16, u16) {
        match *self {
            Geometry::Text { area, .. } => (area.width, area.height),
            Geometry::Png {
                area,
                scale,
                width,
                height,
            } => (
                ((width as f32 * scale).round() as u16).min(area.width),
                ((height as f32 * scale / 2.0).ceil() as u16).min(area.height),
            ),
        }
    }
}

/// A checkpoint being moved in edit mode: where it is drawn until saved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moving {
    pub tag: i64,
    pub x: f32,
    pub y: f32,
    /// Moved by the mouse: saved when the button is let go.
    pub dragging: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MapModel {
    pub maps: Vec<LoadedMap>,
    /// The map shown (an index into `maps`).
    pub at: usize,
    pub maps_shown: Shown,
    pub live: Vec<CheckpointLive>,
    pub positions: Vec<GuardPosition>,
    pub recent: Vec<RecentScan>,
    pub live_shown: Shown,
    /// The selected checkpoint's tag.
    pub selected: Option<i64>,
    pub editing: bool,
    pub moving: Option<Moving>,
    /// A live load is on its way: a notification meanwhile asks for one more after it.
    pub loading: bool,
    pub again: bool,
}

impl MapModel {
    pub fn map(&self) -> Option<&LoadedMap> {
        self.maps.get(self.at)
    }

    /// The shown map's geometry in `area`, kept on the selected checkpoint.
    pub fn geometry(&self, area: Rect) -> Option<Geometry> {
        let m = self.map()?;
        let focus = self.selected_live().and_then(|c| self.spot(c));
        Some(Geometry::of(&m.map, area, focus))
    }

    pub fn map_id(&self) -> Option<i64> {
        self.map().map(|m| m.map.id)
    }

    /// The checkpoints in the order the cursor moves: those on the map shown first, then the
    /// others, each by tag.
    pub fn order(&self) -> Vec<&CheckpointLive> {
        let here = self.map_id();
        let mut v: Vec<&CheckpointLive> = self.live.iter().collect();
        v.sort_by_key(|c| (c.place.map(|p| p.0) != here || c.place.is_none(), c.tag));
        v
    }

    pub fn selected_index(&self) -> usize {
        let order = self.order();
        self.selected
            .and_then(|t| order.iter().position(|c| c.tag == t))
            .unwrap_or(0)
    }

    pub fn selected_live(&self) -> Option<&CheckpointLive> {
        let tag = self.selected?;
        self.live.iter().find(|c| c.tag == tag)
    }

    pub fn select(&mut self, to: usize) {
        let order = self.order();
        if let Some(c) = order.get(to.min(order.len().saturating_sub(1))) {
            self.selected = Some(c.tag);
        }
    }

    /// Where a checkpoint is drawn on the map shown: its move in progress, else its place.
    pub fn spot(&self, c: &CheckpointLive) -> Option<(f32, f32)> {
        if let Some(m) = self.moving.filter(|m| m.tag == c.tag) {
            return Some((m.x, m.y));
        }
        match c.place {
            Some((map, x, y)) if Some(map) == self.map_id() => Some((x, y)),
            _ => None,
        }
    }

    /// The checkpoint drawn at a screen cell, if any.
    pub fn hit(&self, g: &Geometry, col: u16, row: u16) -> Option<i64> {
        self.live
            .iter()
            .find(|c| {
                self.spot(c)
                    .and_then(|(x, y)| g.cell(x, y))
                    .is_some_and(|cell| cell == (col, row))
            })
            .map(|c| c.tag)
    }

    /// Another map is shown: the selection moves to its first checkpoint unless it is on it.
    pub fn follow_map(&mut self) {
        let here = self.map_id();
        let on_map = |c: &CheckpointLive| c.place.is_some_and(|p| Some(p.0) == here);
        if self.selected_live().is_some_and(on_map) {
            return;
        }
        if let Some(first) = self.order().first().filter(|c| on_map(c)) {
            self.selected = Some(first.tag);
        }
    }

    /// Keeps the selection on a checkpoint that still exists, else the first.
    pub fn reselect(&mut self) {
        let exists = self
            .selected
            .is_some_and(|t| self.live.iter().any(|c| c.tag == t));
        if !exists {
            self.selected = self.order().first().map(|c| c.tag);
        }
    }
}

/// The states the legend explains, in its order.
pub const LEGEND: [LiveState; 7] = [
    LiveState::OnTime,
    LiveState::Early,
    LiveState::Late,
    LiveState::DueSoon,
    LiveState::Overdue,
    LiveState::Missed,
    LiveState::Waiting,
];

/// Where the map's parts go: the map (with its legend under it) left, the side panel right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapAreas {
    /// The map's block.
    pub map: Rect,
    /// The plan's cells inside it.
    pub plan: Rect,
    /// The legend's rows inside the block, under the plan.
    pub legend: Rect,
    pub detail: Rect,
    pub recent: Rect,
}

/// Rows the legend takes at `width` columns (each entry "● name ", names at most 4 columns
/// wide in Chinese, 9 in English).
pub fn legend_rows(width: u16) -> u16 {
    if width >= 100 {
        1
    } else {
        2
    }
}

pub fn split(body: Rect) -> MapAreas {
    let side = if body.width >= 120 { 46 } else { 30 };
    let side = side.min(body.width / 2);
    let map = Rect::new(body.x, body.y, body.width - side, body.height);
    let inner = Rect::new(
        map.x + 1,
        map.y + 1,
        map.width.saturating_sub(2),
        map.height.saturating_sub(2),
    );
    let lr = legend_rows(inner.width).min(inner.height);
    let plan = Rect::new(inner.x, inner.y, inner.width, inner.height - lr);
    let legend = Rect::new(inner.x, inner.y + plan.height, inner.width, lr);
    let sx = body.x + body.width - side;
    let detail_h = 9.min(body.height / 2);
    MapAreas {
        map,
        plan,
        legend,
        detail: Rect::new(sx, body.y, side, detail_h),
        recent: Rect::new(sx, body.y + detail_h, side, body.height - detail_h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kind: MapKind, width: i32, height: i32) -> PatrolMap {
        PatrolMap {
            id: 1,
            name: "图".into(),
            kind,
            width,
            height,
            metres_per_unit: 1.0,
        }
    }

    #[test]
    fn a_text_plan_larger_than_the_area_scrolls_to_the_focus() {
        let m = map(
            MapKind::Text {
                plan: String::new(),
            },
            300,
            100,
        );
        let area = Rect::new(10, 5, 60, 20);
        let g = Geometry::of(&m, area, Some((3.0, 2.0)));
        assert_eq!(g, Geometry::Text { area, ox: 0, oy: 0 });
        assert_eq!(g.cell(3.0, 2.0), Some((13, 7)));
        let g = Geometry::of(&m, area, Some((200.0, 90.0)));
        assert_eq!(
            g,
            Geometry::Text {
                area,
                ox: 170,
                oy: 80
            }
        );
        assert_eq!(g.cell(200.0, 90.0), Some((40, 15)));
        assert_eq!(g.cell(3.0, 2.0), None);
        assert_eq!(g.place(40, 15, 300.0, 100.0), (200.0, 90.0));
    }

    #[test]
    fn a_picture_maps_pixels_to_half_block_cells_and_back() {
        let m = map(MapKind::Png { image: vec![] }, 40, 20);
        let area = Rect::new(0, 0, 80, 20);
        let g = Geometry::of(&m, area, None);
        // 80 columns over 40 pixels and 40 half rows over 20: two cells a pixel.
        assert_eq!(g.picture_cells(), (80, 20));
        assert_eq!(g.cell(10.0, 10.0), Some((20, 10)));
        assert_eq!(g.place(20, 10, 40.0, 20.0), (10.0, 10.0));
        assert_eq!(g.step(), (1.0, 1.0));
    }
}
