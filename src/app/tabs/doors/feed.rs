//! The live event feed: door events as they are stored, and controllers going offline or coming
//! back, newest on top. It holds [`FEED_MAX`] lines; a frame draws only the rows on screen, and
//! the `/` filter keeps the matching lines' numbers so a frame never scans them all.

use crate::app::filter::{self, Filter};
use crate::app::words;
use crate::db::door::DoorEvent;
use crate::i18n::{tr, Lang};
use chrono::{DateTime, Utc};
use std::collections::{HashSet, VecDeque};

/// How many lines the feed keeps (the oldest go first).
pub const FEED_MAX: usize = 100_000;
/// How many events the feed starts with.
pub const FEED_START: i64 = 2_000;
/// How many events one read of new ones brings at most (more: read again).
pub const FEED_BATCH: i64 = 5_000;
/// The sparkline's span: events per second over the last minute.
pub const RATE_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Box<DoorEvent>),
    /// A controller went offline or came back.
    Controller {
        terminal_id: i64,
        name: String,
        online: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedLine {
    /// Numbered as they arrive: the newest has the highest.
    pub seq: u64,
    /// When it reached the database (an event's `received_at`) or was seen.
    pub at: DateTime<Utc>,
    pub item: Item,
}

#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// Oldest first.
    pub lines: VecDeque<FeedLine>,
    next_seq: u64,
    /// Events held, by (controller, record number): a re-read window brings them again.
    keys: HashSet<(i64, i64)>,
    /// The newest `received_at` seen: the next read starts a window before it.
    pub newest: Option<DateTime<Utc>>,
    pub filter: Filter,
    /// The language the filter matched kinds in.
    matched_lang: Option<Lang>,
    /// Under a filter: the numbers of the lines that pass, oldest first.
    matched: Option<VecDeque<u64>>,
    /// Paused: the feed shows what it showed up to this line, while new lines gather.
    pub paused: Option<u64>,
    /// The cursor, counted from the top (newest) of what is shown.
    pub at: usize,
    /// Events per second, by second (Unix time), the last [`RATE_SECS`].
    rate: VecDeque<(i64, u64)>,
    /// A read is on its way (one at a time: the answers then arrive in order).
    pub loading: bool,
    /// Something arrived while it was: read again when it answers.
    pub again: bool,
    pub loaded: bool,
}

/// What the filter looks in: time is left out (digits would match everything).
pub fn texts(lang: Lang, item: &Item) -> Vec<String> {
    match item {
        Item::Event(e) => words::door_event_cells(lang, e),
        Item::Controller { name, online, .. } => vec![
            name.clone(),
            tr(
                lang,
                if *online {
                    "door.feed.online"
                } else {
                    "door.feed.offline"
                },
            )
            .to_string(),
        ],
    }
}

impl Feed {
    fn seq_index(&self, seq: u64) -> Option<usize> {
        let first = self.lines.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        (i < self.lines.len()).then_some(i)
    }

    fn passes(&self, lang: Lang, item: &Item) -> bool {
        filter::matches(self.filter.text(), texts(lang, item))
    }

    fn push(&mut self, lang: Lang, at: DateTime<Utc>, item: Item) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Item::Event(e) = &item {
            self.keys.insert((e.terminal_id, e.record_no));
            self.newest = Some(self.newest.map_or(e.received_at, |n| n.max(e.received_at)));
            let sec = e.received_at.timestamp();
            match self.rate.iter_mut().find(|(s, _)| *s == sec) {
                Some((_, n)) => *n += 1,
                None => {
                    self.rate.push_back((sec, 1));
                    self.rate.make_contiguous().sort_unstable();
                    while self.rate.len() > RATE_SECS as usize {
                        self.rate.pop_front();
                    }
                }
            }
        }
        if self.matched.is_some() && self.passes(lang, &item) {
            if let Some(m) = &mut self.matched {
                m.push_back(seq);
            }
        }
        self.lines.push_back(FeedLine { seq, at, item });
        while self.lines.len() > FEED_MAX {
            if let Some(old) = self.lines.pop_front() {
                if let Item::Event(e) = &old.item {
                    self.keys.remove(&(e.terminal_id, e.record_no));
                }
                if let Some(m) = &mut self.matched {
                    while m.front().is_some_and(|s| *s <= old.seq) {
                        m.pop_front();
                    }
                }
            }
        }
    }

    /// Events read from the database, oldest first; those held already are skipped. Returns
    /// the controllers of the new ones (one entry per event).
    pub fn events(&mut self, lang: Lang, events: Vec<DoorEvent>) -> Vec<i64> {
        let mut ids = Vec::new();
        for e in events {
            if self.keys.contains(&(e.terminal_id, e.record_no)) {
                continue;
            }
            ids.push(e.terminal_id);
            self.push(lang, e.received_at, Item::Event(Box::new(e)));
        }
        ids
    }

    pub fn controller(
        &mut self,
        lang: Lang,
        at: DateTime<Utc>,
        terminal_id: i64,
        name: String,
        online: bool,
    ) {
        self.push(
            lang,
            at,
            Item::Controller {
                terminal_id,
                name,
                online,
            },
        );
    }

    /// The filter's text changed (or the language): match every line again, once.
    pub fn refilter(&mut self, lang: Lang) {
        self.at = 0;
        if self.filter.is_empty() {
            self.matched = None;
            self.matched_lang = None;
            return;
        }
        let m: VecDeque<u64> = self
            .lines
            .iter()
            .filter(|l| self.passes(lang, &l.item))
            .map(|l| l.seq)
            .collect();
        self.matched = Some(m);
        self.matched_lang = Some(lang);
    }

    /// Whether the filter matched in another language than `lang` (the operator switched).
    pub fn stale_filter(&self, lang: Lang) -> bool {
        self.matched_lang.is_some_and(|l| l != lang)
    }

    /// The newest line shown (paused: where it paused).
    fn top_seq(&self) -> Option<u64> {
        let last = self.lines.back()?.seq;
        Some(self.paused.map_or(last, |p| p.min(last)))
    }

    /// How many lines are shown (paused: up to where it paused; filtered: those that pass).
    pub fn len(&self) -> usize {
        let Some(top) = self.top_seq() else {
            return 0;
        };
        match &self.matched {
            None => self.seq_index(top).map_or(0, |i| i + 1),
            Some(m) => m.partition_point(|s| *s <= top),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lines that arrived since the feed paused (and pass the filter).
    pub fn waiting(&self) -> usize {
        let Some(p) = self.paused else {
            return 0;
        };
        match &self.matched {
            None => self
                .lines
                .back()
                .map_or(0, |l| usize::try_from(l.seq.saturating_sub(p)).unwrap_or(0)),
            Some(m) => m.len() - m.partition_point(|s| *s <= p),
        }
    }

    /// The `i`-th line shown, counted from the top (newest).
    pub fn get(&self, i: usize) -> Option<&FeedLine> {
        let n = self.len();
        if i >= n {
            return None;
        }
        let k = n - 1 - i;
        match &self.matched {
            None => self.lines.get(k),
            Some(m) => self.lines.get(self.seq_index(*m.get(k)?)?),
        }
    }

    /// Up to `count` lines from the `from`-th: what a frame draws.
    pub fn window(&self, from: usize, count: usize) -> Vec<&FeedLine> {
        (from..from.saturating_add(count))
            .map_while(|i| self.get(i))
            .collect()
    }

    /// Pauses where it is, or follows the newest again.
    pub fn toggle_pause(&mut self) {
        if self.paused.take().is_none() {
            self.paused = self.lines.back().map(|l| l.seq).or(Some(0));
        } else {
            self.at = 0;
        }
    }

    /// Moves the cursor; moving off the top pauses the feed, so the lines under the cursor
    /// stay put while new ones arrive. Back at the top of a paused feed: it follows again.
    pub fn select(&mut self, to: usize) {
        let n = self.len();
        self.at = to.min(n.saturating_sub(1));
        if self.at > 0 && self.paused.is_none() {
            self.paused = self.lines.back().map(|l| l.seq);
        }
    }

    /// Events per second over the last [`RATE_SECS`] seconds before `now`, oldest first.
    pub fn rate(&self, now: DateTime<Utc>) -> Vec<u64> {
        let end = now.timestamp();
        (end - RATE_SECS + 1..=end)
            .map(|s| {
                self.rate
                    .iter()
                    .find(|(x, _)| *x == s)
                    .map_or(0, |(_, n)| *n)
            })
            .collect()
    }

    /// Forgets everything (signed out).
    pub fn clear(&mut self) {
        *self = Feed::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(terminal_id: i64, record_no: i64, name: &str) -> DoorEvent {
        DoorEvent {
            terminal_id,
            record_no,
            door: 1,
            door_name: name.into(),
            controller: "c".into(),
            serial: 1,
            kind: "granted".into(),
            granted: true,
            reason: 1,
            card: Some(5),
            person_id: None,
            person_no: None,
            person_name: None,
            department: None,
            terminal_time: None,
            received_at: Utc.timestamp_opt(1_000 + record_no, 0).unwrap(),
            late: false,
            direction: None,
            clock_invalid: false,
            card_state: None,
        }
    }

    fn names(f: &Feed) -> Vec<String> {
        f.window(0, 100)
            .iter()
            .map(|l| match &l.item {
                Item::Event(e) => e.door_name.clone(),
                Item::Controller { name, .. } => name.clone(),
            })
            .collect()
    }

    #[test]
    fn newest_on_top_duplicates_skipped_oldest_dropped() {
        let mut f = Feed::default();
        assert_eq!(
            f.events(Lang::EN, vec![event(1, 1, "a"), event(1, 2, "b")])
                .len(),
            2
        );
        assert_eq!(
            f.events(Lang::EN, vec![event(1, 2, "b"), event(1, 3, "c")])
                .len(),
            1
        );
        assert_eq!(names(&f), ["c", "b", "a"]);
        let many: Vec<DoorEvent> = (10..10 + FEED_MAX as i64)
            .map(|i| event(2, i, "x"))
            .collect();
        f.events(Lang::EN, many);
        assert_eq!(f.len(), FEED_MAX);
        // The oldest went, and can come again (it is no longer held).
        assert_eq!(f.events(Lang::EN, vec![event(1, 1, "a")]).len(), 1);
    }

    #[test]
    fn a_paused_feed_stays_put_and_counts_what_waits() {
        let mut f = Feed::default();
        f.events(Lang::EN, vec![event(1, 1, "a"), event(1, 2, "b")]);
        f.toggle_pause();
        f.events(Lang::EN, vec![event(1, 3, "c")]);
        assert_eq!(names(&f), ["b", "a"]);
        assert_eq!(f.waiting(), 1);
        f.toggle_pause();
        assert_eq!(names(&f), ["c", "b", "a"]);
        // Moving down pauses.
        f.select(1);
        assert!(f.paused.is_some());
    }

    #[test]
    fn the_filter_keeps_matching_lines_as_they_arrive() {
        let mut f = Feed::default();
        f.events(Lang::EN, vec![event(1, 1, "north"), event(1, 2, "south")]);
        f.filter.input.set("nor");
        f.refilter(Lang::EN);
        assert_eq!(names(&f), ["north"]);
        f.events(Lang::EN, vec![event(1, 3, "north 2"), event(1, 4, "east")]);
        assert_eq!(names(&f), ["north 2", "north"]);
        f.filter.input.set("");
        f.refilter(Lang::EN);
        assert_eq!(f.len(), 4);
    }
}
