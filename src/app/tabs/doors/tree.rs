//! The controller tree: site (the line the controllers are on), controller, its doors. Rows
//! are kept by controller (a notification names controllers), the selection by id, so states
//! changing under the cursor never move it.

use crate::app::filter::{self, Filter};
use crate::app::load::{Keyed, Shown};
use crate::app::words;
use crate::db::door::{AlarmFlag, DoorRow};
use crate::i18n::Lang;
use std::collections::BTreeSet;

/// One controller and its doors (every row carries the controller's own columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub terminal_id: i64,
    pub doors: Vec<DoorRow>,
}

impl Controller {
    /// The controller's own columns (every door row has them).
    pub fn head(&self) -> &DoorRow {
        &self.doors[0]
    }

    pub fn online(&self) -> bool {
        self.head().status == "online"
    }
}

/// What the cursor is on: a controller, or one of its doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sel {
    pub terminal_id: i64,
    pub door: Option<i16>,
}

#[derive(Debug, Clone, Copy)]
pub enum TreeRow<'a> {
    /// A site heading: its name and how many of its controllers are shown.
    Site(&'a str, usize),
    Controller(&'a Controller),
    Door(&'a Controller, &'a DoorRow),
}

impl TreeRow<'_> {
    pub fn sel(&self) -> Option<Sel> {
        match self {
            TreeRow::Site(..) => None,
            TreeRow::Controller(c) => Some(Sel {
                terminal_id: c.terminal_id,
                door: None,
            }),
            TreeRow::Door(c, d) => Some(Sel {
                terminal_id: c.terminal_id,
                door: Some(d.door),
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// By site, then controller name.
    pub list: Keyed<Controller>,
    /// Open alarms of door controllers.
    pub flags: Vec<AlarmFlag>,
    pub flags_shown: Shown,
    pub selected: Option<Sel>,
    /// Controllers marked for extraction.
    pub marked: BTreeSet<i64>,
    pub filter: Filter,
}

/// Groups door rows (ordered by controller) into controllers.
pub fn group(rows: Vec<DoorRow>) -> Vec<Controller> {
    let mut out: Vec<Controller> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(c) if c.terminal_id == r.terminal_id => c.doors.push(r),
            _ => out.push(Controller {
                terminal_id: r.terminal_id,
                doors: vec![r],
            }),
        }
    }
    out
}

/// A forced-open or held-open alarm nobody acknowledged marks its door until someone does.
pub fn is_loud(kind: &str) -> bool {
    matches!(kind, "forced_open" | "held_open")
}

impl Tree {
    pub fn sort(&mut self) {
        self.list.rows.sort_by(|a, b| {
            let (x, y) = (a.head(), b.head());
            (&x.line, x.line_id, &x.controller, x.terminal_id).cmp(&(
                &y.line,
                y.line_id,
                &y.controller,
                y.terminal_id,
            ))
        });
    }

    pub fn controller(&self, terminal_id: i64) -> Option<&Controller> {
        self.list.rows.iter().find(|c| c.terminal_id == terminal_id)
    }

    /// The open alarms of a controller (door None) or of one of its doors.
    pub fn flags_of(
        &self,
        terminal_id: i64,
        door: Option<i16>,
    ) -> impl Iterator<Item = &AlarmFlag> {
        self.flags
            .iter()
            .filter(move |f| f.terminal_id == terminal_id && f.door == door)
    }

    /// The controller's open tamper and full-memory alarms (its own or any of its doors'),
    /// each kind once.
    pub fn hardware_flags(&self, terminal_id: i64) -> Vec<&str> {
        let mut kinds: Vec<&str> = self
            .flags
            .iter()
            .filter(|f| f.terminal_id == terminal_id)
            .map(|f| f.kind.as_str())
            .filter(|k| matches!(*k, "tamper" | "memory_full"))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// Whether a door has a forced-open or held-open alarm nobody acknowledged.
    pub fn door_alarmed(&self, terminal_id: i64, door: i16) -> bool {
        self.flags_of(terminal_id, Some(door))
            .any(|f| is_loud(&f.kind) && !f.acknowledged)
    }

    fn door_texts(lang: Lang, c: &Controller, d: &DoorRow) -> Vec<String> {
        vec![
            words::door_label(lang, &d.name, &d.controller, d.door),
            d.location.clone(),
            c.head().controller.clone(),
            c.head().serial.to_string(),
            d.last_person.clone().unwrap_or_default(),
        ]
    }

    /// The rows: each site's heading, its controllers, each followed by its doors. Under a
    /// filter a controller shows when it or one of its doors matches (with its matching doors,
    /// or all of them when the controller itself matched).
    pub fn rows(&self, lang: Lang) -> Vec<TreeRow<'_>> {
        let f = self.filter.text();
        let mut out = Vec::new();
        let mut site: Option<(usize, i64)> = None;
        for c in &self.list.rows {
            let h = c.head();
            let own = filter::matches(
                f,
                [
                    h.controller.as_str(),
                    h.controller_location.as_str(),
                    &h.serial.to_string(),
                ],
            );
            let doors: Vec<&DoorRow> = c
                .doors
                .iter()
                .filter(|d| own || filter::matches(f, Self::door_texts(lang, c, d)))
                .collect();
            if !own && doors.is_empty() {
                continue;
            }
            match site {
                Some((at, line)) if line == h.line_id => {
                    if let TreeRow::Site(_, n) = &mut out[at] {
                        *n += 1;
                    }
                }
                _ => {
                    site = Some((out.len(), h.line_id));
                    out.push(TreeRow::Site(&h.line, 1));
                }
            }
            out.push(TreeRow::Controller(c));
            out.extend(doors.into_iter().map(|d| TreeRow::Door(c, d)));
        }
        out
    }

    /// What the cursor can be on, in the order of the rows.
    pub fn selectable(&self, lang: Lang) -> Vec<Sel> {
        self.rows(lang).iter().filter_map(|r| r.sel()).collect()
    }

    pub fn selected_index(&self, lang: Lang) -> usize {
        self.selected
            .and_then(|s| self.selectable(lang).iter().position(|x| *x == s))
            .unwrap_or(0)
    }

    /// The selected row, headings counted.
    pub fn selected_row(&self, lang: Lang) -> Option<usize> {
        let s = self.selected?;
        self.rows(lang).iter().position(|r| r.sel() == Some(s))
    }

    /// The selected door's row (None on a controller or nothing).
    pub fn door(&self) -> Option<(&Controller, &DoorRow)> {
        let s = self.selected?;
        let c = self.controller(s.terminal_id)?;
        let d = c.doors.iter().find(|d| Some(d.door) == s.door)?;
        Some((c, d))
    }

    /// The selected controller (the door's own on a door).
    pub fn selected_controller(&self) -> Option<&Controller> {
        self.controller(self.selected?.terminal_id)
    }

    /// Keeps the cursor on its item; else the item now at `index`.
    pub fn reselect(&mut self, lang: Lang, index: usize) {
        let shown = self.selectable(lang);
        if self.selected.is_some_and(|s| shown.contains(&s)) {
            return;
        }
        // A door gone from view: its controller, if shown, before the row at `index`.
        if let Some(s) = self.selected {
            let up = Sel {
                terminal_id: s.terminal_id,
                door: None,
            };
            if shown.contains(&up) && self.controller(s.terminal_id).is_some() {
                self.selected = Some(up);
                return;
            }
        }
        self.selected = shown.get(index.min(shown.len().saturating_sub(1))).copied();
    }

    /// Controllers whose status went between online and offline from `before` to now.
    pub fn status_changes(before: &[Controller], after: &[Controller]) -> Vec<(i64, String, bool)> {
        after
            .iter()
            .filter_map(|c| {
                let old = before.iter().find(|b| b.terminal_id == c.terminal_id)?;
                let (was, is) = (old.head().status.as_str(), c.head().status.as_str());
                (was != is && matches!(is, "online" | "offline"))
                    .then(|| (c.terminal_id, c.head().controller.clone(), is == "online"))
            })
            .collect()
    }
}
