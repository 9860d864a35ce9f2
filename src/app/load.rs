//! Loads in order. Effects run concurrently, so an older load can answer after a newer one.
//! Every load carries a generation (numbered as loads are asked for, one counter per console);
//! an answer older than what is shown is dropped.

use std::collections::HashMap;

/// The generation of one kind of load (a search, a card, a report page): the newest shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shown(u64);

impl Shown {
    /// Whether an answer of generation `g` may be shown; if so it becomes the newest.
    pub fn take(&mut self, g: u64) -> bool {
        if g < self.0 {
            return false;
        }
        self.0 = g;
        true
    }

    pub fn gen(self) -> u64 {
        self.0
    }
}

/// Rows kept by id that arrive whole (a full load) or a few at a time (the ids a notification
/// named). Each row remembers the generation it came with: a full load never puts back an
/// older row over a newer one, and an older partial load never overwrites a newer row.
#[derive(Debug, Clone)]
pub struct Keyed<T> {
    pub rows: Vec<T>,
    gens: HashMap<i64, u64>,
    full: u64,
    /// A full load has arrived: partial loads before it would show a list with holes.
    pub loaded: bool,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed {
            rows: Vec::new(),
            gens: HashMap::new(),
            full: 0,
            loaded: false,
        }
    }
}

impl<T> Keyed<T> {
    /// A full load of generation `g`. Dropped when an equal or newer full load is shown; rows
    /// a newer partial load brought stay as they are. Whether it was taken.
    pub fn full(&mut self, g: u64, rows: Vec<T>, id: impl Fn(&T) -> i64) -> bool {
        if self.loaded && g <= self.full {
            return false;
        }
        let newer: HashMap<i64, u64> = self
            .gens
            .iter()
            .filter(|(_, &rg)| rg > g)
            .map(|(k, v)| (*k, *v))
            .collect();
        let mut kept: Vec<T> = std::mem::take(&mut self.rows)
            .into_iter()
            .filter(|r| newer.contains_key(&id(r)))
            .collect();
        let mut gens = newer.clone();
        for r in rows {
            let k = id(&r);
            if newer.contains_key(&k) {
                continue;
            }
            gens.insert(k, g);
            kept.push(r);
        }
        // Rows a newer partial load found gone stay gone: they are in `newer` with no row.
        self.rows = kept;
        self.gens = gens;
        self.full = g;
        self.loaded = true;
        true
    }

    /// A partial load of generation `g`: the rows `ids` as they are now (absent: gone). Each id
    /// is taken only when this answer is newer than what is shown of it.
    pub fn some(&mut self, g: u64, ids: &[i64], rows: Vec<T>, id: impl Fn(&T) -> i64) {
        // Before the first full load the list is on its way and will hold these; a full load
        // asked after this one is newer for every row.
        if !self.loaded || g <= self.full {
            return;
        }
        let fresh: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|k| self.gens.get(k).is_none_or(|&rg| g > rg))
            .collect();
        self.rows.retain(|r| !fresh.contains(&id(r)));
        for k in &fresh {
            self.gens.insert(*k, g);
        }
        self.rows
            .extend(rows.into_iter().filter(|r| fresh.contains(&id(r))));
    }

    pub fn clear(&mut self) {
        *self = Keyed::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(k: &Keyed<(i64, &'static str)>) -> Vec<(i64, &'static str)> {
        let mut v = k.rows.clone();
        v.sort();
        v
    }

    #[test]
    fn an_older_answer_is_dropped() {
        let mut s = Shown::default();
        assert!(s.take(2));
        assert!(!s.take(1));
        assert!(s.take(3));
    }

    #[test]
    fn rows_keep_the_newest_they_were_seen_with() {
        let id = |r: &(i64, &'static str)| r.0;
        let mut k = Keyed::default();
        // A partial before any full load is left for the full load.
        k.some(1, &[1], vec![(1, "early")], id);
        assert!(k.rows.is_empty());
        assert!(k.full(2, vec![(1, "a"), (2, "b")], id));
        // A newer partial changes row 2 and removes row 1.
        k.some(4, &[1, 2], vec![(2, "b4")], id);
        assert_eq!(ids(&k), vec![(2, "b4")]);
        // An older partial answering late changes nothing.
        k.some(3, &[2], vec![(2, "b3")], id);
        assert_eq!(ids(&k), vec![(2, "b4")]);
        // A full load asked before the partial keeps the partial's rows (and its removal).
        assert!(k.full(3, vec![(1, "a3"), (2, "b3"), (3, "c3")], id));
        assert_eq!(ids(&k), vec![(2, "b4"), (3, "c3")]);
        // An older full load is dropped whole.
        assert!(!k.full(2, vec![(9, "z")], id));
        assert_eq!(ids(&k), vec![(2, "b4"), (3, "c3")]);
        // A newer full load replaces all.
        assert!(k.full(5, vec![(1, "a5")], id));
        assert_eq!(ids(&k), vec![(1, "a5")]);
    }
}
