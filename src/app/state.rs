//! Everything the console shows, in one place: the shell (what every tab shares) and one model
//! per tab. `ui` renders it; only `update` changes it.

use super::tabs::{alarms, attendance, cards, doors, operators, patrol, settlement, terminals};
use crate::db::notify::Change;
use crate::i18n::{tr, Lang};
use crate::keymap::Keymap;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use super::shell::{
    DbState, DbWhere, Level, Lock, Overlay, Palette, Screen, SessionInfo, Shell, TabId, ThemeName,
};

/// Notifications collected since the last frame: reloaded once per frame, each id once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Reload everything (the listener (re)connected, or a payload overflowed).
    pub all: bool,
    pub change: Change,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        !self.all && self.change.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub shell: Shell,
    pub alarms: alarms::Alarms,
    pub cards: cards::Cards,
    pub doors: doors::Doors,
    pub patrol: patrol::Patrol,
    pub attendance: attendance::Attendance,
    pub settlement: settlement::Settlement,
    pub terminals: terminals::Terminals,
    pub operators: operators::Operators,
    /// The wall screen, shown instead of the tabs to an operator of the wallboard role.
    pub wallboard: super::wallboard::Wallboard,
    pub pending: Pending,
}

impl State {
    pub fn new(
        keymap: Arc<Keymap>,
        lang: Lang,
        theme: ThemeName,
        db_where: DbWhere,
        now: DateTime<Utc>,
    ) -> State {
        State {
            shell: Shell {
                lang,
                theme,
                keymap,
                screen: Screen::Starting,
                session: None,
                demo: false,
                tab: TabId::Cards,
                db: DbState::Connecting,
                db_where,
                now,
                utc_offset: crate::domain::time::offset_at(chrono::Utc::now()),
                overlay: None,
                pending_keys: Vec::new(),
                message: None,
                size: (80, 24),
                gen: 0,
                commands: Default::default(),
                bell: false,
                last_input: now,
                lock_after_min: super::session::LOCK_AFTER_DEFAULT,
                lock: None,
            },
            alarms: Default::default(),
            cards: Default::default(),
            doors: Default::default(),
            patrol: Default::default(),
            attendance: attendance::Attendance::new(),
            settlement: settlement::Settlement::new(),
            terminals: Default::default(),
            operators: Default::default(),
            wallboard: Default::default(),
            pending: Pending::default(),
        }
    }

    /// Problems with the user's keymap file, shown on screen until a key is pressed.
    pub fn show_keymap_errors(&mut self, errors: &[String]) {
        if errors.is_empty() {
            return;
        }
        self.shell.overlay = Some(Overlay::Notice {
            title: tr(self.shell.lang, "keymap.errors_title").to_string(),
            lines: errors.to_vec(),
        });
    }
}
