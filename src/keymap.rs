//! Keymaps: parse, merge, resolve, describe.
//!
//! A keymap file (yazi/helix style) has one table per [`Section`]; each entry is
//! `"<key sequence>" = "<command>"` or `"<key sequence>" = { run = "<command>", desc = "..." }`.
//! A screen's own section is consulted before `[global]`. The chosen preset
//! (`keymaps/default.toml` or `keymaps/vim.toml`, compiled in) is the base; the user's file
//! merges over it key by key, and `"noop"` removes a binding. Bad entries are reported with
//! file, line and key and skipped; everything else still applies.

pub mod command;
pub mod key;

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

pub use command::Command;
pub use key::{Key, KeyParseError};

/// A keymap table: the screen a binding applies on, or `global` for every screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Global,
    Cards,
    Doors,
    Patrol,
    Attendance,
    Settlement,
    Terminals,
    Operators,
}

impl Section {
    pub const ALL: [Section; 8] = [
        Section::Global,
        Section::Cards,
        Section::Doors,
        Section::Patrol,
        Section::Attendance,
        Section::Settlement,
        Section::Terminals,
        Section::Operators,
    ];

    /// The table name in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Section::Global => "global",
            Section::Cards => "cards",
            Section::Doors => "doors",
            Section::Patrol => "patrol",
            Section::Attendance => "attendance",
            Section::Settlement => "settlement",
            Section::Terminals => "terminals",
            Section::Operators => "operators",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Section {
    type Err = String;
    fn from_str(s: &str) -> Result<Section, String> {
        Section::ALL
            .into_iter()
            .find(|sec| sec.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Section::ALL.iter().map(|s| s.name()).collect();
                format!("unknown section `{s}` (known: {})", known.join(", "))
            })
    }
}

/// One key sequence bound to a command; `desc` feeds the help overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub command: Command,
    pub desc: Option<String>,
}

/// A problem in a keymap file. `line` is 1-based; 0 means the problem is not on a line
/// (unreadable file, unknown preset), and `key` is empty when no entry is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeymapError {
    pub file: String,
    pub line: usize,
    pub key: String,
    /// In English, for the log and the command line.
    pub message: String,
    /// The same as data, for the console to say in the operator's language.
    pub problem: Problem,
}

/// What is wrong with a keymap entry or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    UnknownPreset(String),
    CannotRead,
    NotUtf8,
    /// Not valid TOML (the parser's words are in `message`).
    Syntax,
    NotATable(String),
    UnknownSection(String),
    BadKey,
    UnknownCommand(String),
    UnknownField(String),
    RunNotString,
    MissingRun,
    DescNotString,
    BadValue,
    AlreadyBound {
        line: usize,
    },
    PrefixConflict {
        other: String,
        line: usize,
    },
}

impl fmt::Display for KeymapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, " line {}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ", key {:?}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for KeymapError {}

/// What a key press means, given the keys already pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A complete binding: run it and clear the pending keys.
    Command(Command),
    /// A prefix of at least one binding: keep these keys pending.
    Pending(Vec<Key>),
    /// Nothing starts this way: clear the pending keys.
    Unbound,
}

/// The shipped presets, compiled in.
const PRESETS: [(&str, &str); 2] = [
    ("default", include_str!("../keymaps/default.toml")),
    ("vim", include_str!("../keymaps/vim.toml")),
];

/// Bindings per section, each section free of prefix conflicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    sections: [Vec<Binding>; Section::ALL.len()],
}

impl Default for Keymap {
    /// The `default` preset.
    fn default() -> Keymap {
        let (keymap, _) = Keymap::parse_preset(PRESETS[0].0, PRESETS[0].1);
        keymap
    }
}

impl Keymap {
    /// Names accepted by [`Keymap::preset`] and [`Keymap::load`].
    pub const PRESET_NAMES: [&'static str; 2] = [PRESETS[0].0, PRESETS[1].0];

    /// A keymap with no bindings at all.
    pub fn empty() -> Keymap {
        Keymap {
            sections: Default::default(),
        }
    }

    /// A shipped preset (`"default"` or `"vim"`).
    pub fn preset(name: &str) -> Option<Keymap> {
        let (name, src) = PRESETS.iter().find(|(n, _)| *n == name)?;
        Some(Keymap::parse_preset(name, src).0)
    }

    fn parse_preset(name: &str, src: &str) -> (Keymap, Vec<KeymapError>) {
        let mut keymap = Keymap::empty();
        let errors = keymap.merge(&format!("keymaps/{name}.toml"), src);
        (keymap, errors)
    }

    /// Starts from `preset` and merges `user_file` over it.
    ///
    /// A missing user file is not an error. An unreadable or unparsable one is reported and
    /// the preset stays whole. Otherwise each user entry replaces the preset binding of the
    /// same sequence in the same section, and also removes preset bindings it would clash
    /// with by prefix (user `"g"` drops preset `"g g"`): the user wins. Bad entries are
    /// reported and skipped. An unknown preset name is reported and `default` is used.
    pub fn load(preset: &str, user_file: Option<&Path>) -> (Keymap, Vec<KeymapError>) {
        let mut errors = Vec::new();
        let (name, src) = match PRESETS.iter().find(|(n, _)| *n == preset) {
            Some(found) => *found,
            None => {
                errors.push(KeymapError {
                    file: "keymap preset".to_string(),
                    line: 0,
                    key: String::new(),
                    message: format!(
                        "unknown preset `{preset}`, using `default` (known: {})",
                        Keymap::PRESET_NAMES.join(", ")
                    ),
                    problem: Problem::UnknownPreset(preset.to_string()),
                });
                PRESETS[0]
            }
        };
        let (mut keymap, preset_errors) = Keymap::parse_preset(name, src);
        errors.extend(preset_errors);

        let Some(path) = user_file else {
            return (keymap, errors);
        };
        let file = path.display().to_string();
        let whole_file = |message: String, problem: Problem| KeymapError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            message,
            problem,
        };
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(whole_file(format!("cannot read: {e}"), Problem::CannotRead)),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(src) => errors.extend(keymap.merge(&file, &src)),
                Err(e) => {
                    let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
                    errors.push(KeymapError {
                        line,
                        ..whole_file("not UTF-8 text".to_string(), Problem::NotUtf8)
                    });
                }
            },
        }
        (keymap, errors)
    }

    /// Merges keymap source `src` (named `file` in errors) over this keymap, with the rules of
    /// [`Keymap::load`]. Returns the entries it rejected; on a TOML syntax error nothing is
    /// merged.
    pub fn merge(&mut self, file: &str, src: &str) -> Vec<KeymapError> {
        let (entries, errors) = parse_entries(file, src);
        for entry in entries {
            self.apply(entry);
        }
        errors
    }

    fn apply(&mut self, entry: Entry) {
        let list = &mut self.sections[entry.section.index()];
        let unbind = entry.command == Command::Noop;
        let displaced = |b: &Binding| {
            b.keys == entry.keys
                || (!unbind
                    && (is_strict_prefix(&b.keys, &entry.keys)
                        || is_strict_prefix(&entry.keys, &b.keys)))
        };
        // Keep the replaced binding's place so hint order follows the preset.
        let slot = list.iter().position(displaced);
        list.retain(|b| !displaced(b));
        if !unbind {
            let binding = Binding {
                keys: entry.keys,
                command: entry.command,
                desc: entry.desc,
            };
            match slot {
                Some(i) => list.insert(i, binding),
                None => list.push(binding),
            }
        }
    }

    /// Looks up `pending` + `key` in `section`, then in `Global`.
    ///
    /// A section's binding shadows a global one, including by prefix: with `"g"` in the
    /// section, global `"g g"` cannot be typed on that screen.
    pub fn resolve(&self, section: Section, pending: &[Key], key: Key) -> Resolution {
        let mut seq = pending.to_vec();
        seq.push(key);
        let order: &[Section] = if section == Section::Global {
            &[Section::Global]
        } else {
            &[section, Section::Global]
        };
        for s in order {
            let list = &self.sections[s.index()];
            if let Some(b) = list.iter().find(|b| b.keys == seq) {
                return Resolution::Command(b.command);
            }
            if list.iter().any(|b| is_strict_prefix(&seq, &b.keys)) {
                return Resolution::Pending(seq);
            }
        }
        Resolution::Unbound
    }

    /// The bindings of one section (not including global), ordered by command, then as
    /// listed in the file.
    pub fn bindings(&self, section: Section) -> Vec<&Binding> {
        let mut list: Vec<&Binding> = self.sections[section.index()].iter().collect();
        list.sort_by_key(|b| b.command);
        list
    }

    /// Display strings of the sequences that run `command` on `section`'s screen: the
    /// section's own first, then global ones that the section does not shadow.
    pub fn keys_for(&self, section: Section, command: Command) -> Vec<String> {
        let own = self.sections[section.index()].iter();
        let global = self.sections[Section::Global.index()]
            .iter()
            .filter(|b| section == Section::Global || self.reaches(section, &b.keys, command));
        let mut out: Vec<String> = Vec::new();
        for b in own.chain(global).filter(|b| b.command == command) {
            let s = Keymap::sequence_string(&b.keys);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Whether typing `keys` on `section`'s screen runs `command`.
    fn reaches(&self, section: Section, keys: &[Key], command: Command) -> bool {
        let Some((last, init)) = keys.split_last() else {
            return false;
        };
        let prefixes_pend = (0..init.len()).all(|i| {
            matches!(
                self.resolve(section, &init[..i], init[i]),
                Resolution::Pending(_)
            )
        });
        prefixes_pend && self.resolve(section, init, *last) == Resolution::Command(command)
    }

    /// The canonical spelling of a key sequence, e.g. `"g g"`.
    pub fn sequence_string(keys: &[Key]) -> String {
        key::sequence_string(keys)
    }
}

fn is_strict_prefix(short: &[Key], long: &[Key]) -> bool {
    short.len() < long.len() && long.starts_with(short)
}

/// 1-based line of a byte offset.
fn line_of(src: &[u8], offset: usize) -> usize {
    let end = offset.min(src.len());
    src[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A well-formed entry of one file; `Noop` means unbind.
struct Entry {
    section: Section,
    keys: Vec<Key>,
    command: Command,
    desc: Option<String>,
    line: usize,
}

fn parse_entries(file: &str, src: &str) -> (Vec<Entry>, Vec<KeymapError>) {
    let error = |line: usize, key: &str, (message, problem): (String, Problem)| KeymapError {
        file: file.to_string(),
        line,
        key: key.to_string(),
        message,
        problem,
    };
    let doc: Ordered<RawSection> = match toml::from_str(src) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map_or(0, |s| line_of(src.as_bytes(), s.start));
            // Spans cannot be had for a top-level datetime, so the typed pass fails on
            // valid TOML: name the offending key instead of serde's internals.
            let message = match toml::from_str::<toml::Table>(src) {
                Ok(table) => match table.iter().find(|(_, v)| !v.is_table()) {
                    Some((key, value)) => (
                        format!(
                            "`{key}` must be a table of key bindings, found {}",
                            value.type_str()
                        ),
                        Problem::NotATable(key.clone()),
                    ),
                    None => (e.message().trim().to_string(), Problem::Syntax),
                },
                Err(_) => (e.message().trim().replace('\n', "; "), Problem::Syntax),
            };
            return (Vec::new(), vec![error(line, "", message)]);
        }
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut errors = Vec::new();
    for (name, raw) in doc.0 {
        let line = line_of(src.as_bytes(), name.span().start);
        let name = name.into_inner();
        let section = match name.parse::<Section>() {
            Ok(section) => section,
            Err(message) => {
                let problem = Problem::UnknownSection(name.clone());
                errors.push(error(line, &name, (message, problem)));
                continue;
            }
        };
        let table = match raw {
            RawSection::Table(table) => table,
            RawSection::Other(kind) => {
                let message = format!("`[{name}]` must be a table of key bindings, found {kind}");
                errors.push(error(
                    line,
                    &name,
                    (message, Problem::NotATable(name.clone())),
                ));
                continue;
            }
        };
        for (key, value) in table {
            let line = line_of(src.as_bytes(), key.span().start);
            let key = key.into_inner();
            let keys = match key::parse_sequence(&key) {
                Ok(keys) => keys,
                Err(e) => {
                    let message = format!("bad key sequence: {e}");
                    errors.push(error(line, &key, (message, Problem::BadKey)));
                    continue;
                }
            };
            let (command, desc) = match entry_value(value) {
                Ok(parsed) => parsed,
                Err(message) => {
                    errors.push(error(line, &key, message));
                    continue;
                }
            };
            if let Some(message) = clash(&entries, section, &keys, command) {
                errors.push(error(line, &key, message));
                continue;
            }
            entries.push(Entry {
                section,
                keys,
                command,
                desc,
                line,
            });
        }
    }
    (entries, errors)
}

/// Why a new entry cannot join the entries already accepted from the same file.
fn clash(
    entries: &[Entry],
    section: Section,
    keys: &[Key],
    command: Command,
) -> Option<(String, Problem)> {
    let seq = Keymap::sequence_string(keys);
    entries
        .iter()
        .filter(|e| e.section == section)
        .find_map(|e| {
            let other = Keymap::sequence_string(&e.keys);
            if e.keys == keys {
                Some((
                    format!("\"{seq}\" is already bound on line {}", e.line),
                    Problem::AlreadyBound { line: e.line },
                ))
            } else if command != Command::Noop
                && e.command != Command::Noop
                && (is_strict_prefix(&e.keys, keys) || is_strict_prefix(keys, &e.keys))
            {
                Some((
                    format!(
                        "\"{seq}\" conflicts with \"{other}\" on line {}: one is a prefix of the other",
                        e.line
                    ),
                    Problem::PrefixConflict {
                        other: other.clone(),
                        line: e.line,
                    },
                ))
            } else {
                None
            }
        })
}

fn entry_value(value: toml::Value) -> Result<(Command, Option<String>), (String, Problem)> {
    let parse = |name: &str| {
        name.parse::<Command>()
            .map_err(|e| (e.to_string(), Problem::UnknownCommand(name.to_string())))
    };
    match value {
        toml::Value::String(name) => Ok((parse(&name)?, None)),
        toml::Value::Table(table) => {
            if let Some(field) = table.keys().find(|k| *k != "run" && *k != "desc") {
                return Err((
                    format!("unknown field `{field}` (expected `run` and `desc`)"),
                    Problem::UnknownField(field.clone()),
                ));
            }
            let command = match table.get("run") {
                Some(toml::Value::String(name)) => parse(name)?,
                Some(other) => {
                    return Err((
                        format!("`run` must be a string, found {}", other.type_str()),
                        Problem::RunNotString,
                    ))
                }
                None => return Err(("missing `run`".to_string(), Problem::MissingRun)),
            };
            let desc = match table.get("desc") {
                Some(toml::Value::String(desc)) => Some(desc.trim().to_string()),
                Some(other) => {
                    return Err((
                        format!("`desc` must be a string, found {}", other.type_str()),
                        Problem::DescNotString,
                    ))
                }
                None => None,
            };
            Ok((command, desc.filter(|d| !d.is_empty())))
        }
        other => Err((
            format!(
                "expected a command name or {{ run = \"...\", desc = \"...\" }}, found {}",
                other.type_str()
            ),
            Problem::BadValue,
        )),
    }
}

/// A TOML table in document order, with the span of each key (for line numbers).
struct Ordered<V>(Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ordered<V>, A::Error> {
                read_map(map).map(Ordered)
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

fn read_map<'de, A: MapAccess<'de>, V: Deserialize<'de>>(
    mut map: A,
) -> Result<Vec<(Spanned<String>, V)>, A::Error> {
    let mut out = Vec::new();
    while let Some(key) = map.next_key::<Spanned<String>>()? {
        out.push((key, map.next_value()?));
    }
    Ok(out)
}

/// A top-level value: a section table, or anything else (reported, not fatal).
enum RawSection {
    Table(Vec<(Spanned<String>, toml::Value)>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for RawSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawSection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of key bindings")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSection, A::Error> {
                read_map(map).map(RawSection::Table)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSection, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawSection::Other("an array"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawSection, E> {
                Ok(RawSection::Other("a string"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawSection, E> {
                Ok(RawSection::Other("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawSection, E> {
                Ok(RawSection::Other("an integer"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawSection, E> {
                Ok(RawSection::Other("an integer"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawSection, E> {
                Ok(RawSection::Other("a float"))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn k(s: &str) -> Key {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn seq(s: &str) -> Vec<Key> {
        key::parse_sequence(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn presets() -> Vec<(&'static str, Keymap)> {
        Keymap::PRESET_NAMES
            .iter()
            .map(|name| (*name, Keymap::preset(name).expect("shipped preset")))
            .collect()
    }

    fn user_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("tempfile");
        f.write_all(text.as_bytes()).expect("write tempfile");
        f
    }

    #[test]
    fn every_file_in_keymaps_parses_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keymaps");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("keymaps/") {
            let path = entry.expect("dir entry").path();
            let src = std::fs::read_to_string(&path).expect("read keymap");
            let mut keymap = Keymap::empty();
            let errors = keymap.merge(&path.display().to_string(), &src);
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            seen += 1;
        }
        assert!(seen >= Keymap::PRESET_NAMES.len());
        for name in Keymap::PRESET_NAMES {
            let (_, errors) = Keymap::load(name, None);
            assert!(errors.is_empty(), "{name}: {errors:#?}");
        }
    }

    #[test]
    fn presets_have_no_conflicts() {
        for (name, keymap) in presets() {
            for section in Section::ALL {
                let list = &keymap.sections[section.index()];
                for (i, a) in list.iter().enumerate() {
                    for b in &list[i + 1..] {
                        assert!(
                            a.keys != b.keys
                                && !is_strict_prefix(&a.keys, &b.keys)
                                && !is_strict_prefix(&b.keys, &a.keys),
                            "{name} [{section}]: {:?} vs {:?}",
                            Keymap::sequence_string(&a.keys),
                            Keymap::sequence_string(&b.keys),
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn presets_bind_every_command_with_portable_keys() {
        for (name, keymap) in presets() {
            for &command in Command::ALL {
                let bound = Section::ALL
                    .iter()
                    .any(|&s| !keymap.keys_for(s, command).is_empty());
                assert_eq!(bound, command != Command::Noop, "{name}: {command}");
            }
            for section in Section::ALL {
                for b in keymap.bindings(section) {
                    assert!(b.desc.is_some(), "{name}: {:?} has no desc", b.keys);
                    for key in &b.keys {
                        assert!(!key.is_function_key(), "{name}: F-key {key}");
                        assert_ne!(*key, k("ctrl-a"), "{name}: ctrl-a");
                    }
                }
            }
        }
    }

    #[test]
    fn g_g_resolves_through_pending() {
        for (name, keymap) in presets() {
            for section in Section::ALL {
                let first = keymap.resolve(section, &[], k("g"));
                assert_eq!(first, Resolution::Pending(seq("g")), "{name} {section}");
                let Resolution::Pending(pending) = first else {
                    continue;
                };
                assert_eq!(
                    keymap.resolve(section, &pending, k("g")),
                    Resolution::Command(Command::SelectFirst),
                    "{name} {section}"
                );
                assert_eq!(
                    keymap.resolve(section, &pending, k("x")),
                    Resolution::Unbound
                );
            }
        }
        let vim = Keymap::preset("vim").expect("vim");
        let z = vim.resolve(Section::Global, &[], k("Z"));
        assert_eq!(z, Resolution::Pending(seq("Z")));
        assert_eq!(
            vim.resolve(Section::Global, &seq("Z"), k("Z")),
            Resolution::Command(Command::Quit)
        );
    }

    #[test]
    fn section_binding_overrides_global() {
        let mut keymap = Keymap::default();
        let errors = keymap.merge("test", "[doors]\n\"q\" = \"refresh\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            keymap.resolve(Section::Doors, &[], k("q")),
            Resolution::Command(Command::Refresh)
        );
        assert_eq!(
            keymap.resolve(Section::Cards, &[], k("q")),
            Resolution::Command(Command::Quit)
        );
        // Shadowed global keys drop out of hints for that screen only.
        assert!(!keymap
            .keys_for(Section::Doors, Command::Quit)
            .contains(&"q".to_string()));
        assert_eq!(keymap.keys_for(Section::Cards, Command::Quit), vec!["q"]);
        assert_eq!(keymap.keys_for(Section::Doors, Command::Refresh)[0], "q");

        let default = Keymap::default();
        assert_eq!(
            default.resolve(Section::Operators, &[], k("R")),
            Resolution::Command(Command::OperatorResetPassword)
        );
        assert_eq!(
            default.resolve(Section::Doors, &[], k("R")),
            Resolution::Unbound
        );
        // The same key means another thing on another tab.
        assert_eq!(
            default.resolve(Section::Cards, &[], k("R")),
            Resolution::Command(Command::CardReissue)
        );
        assert_eq!(
            default.resolve(Section::Operators, &[], k("j")),
            Resolution::Command(Command::SelectNext)
        );
    }

    #[test]
    fn section_prefix_shadows_global() {
        let mut keymap = Keymap::default();
        let errors = keymap.merge("test", "[cards]\n\"g\" = \"refresh\"\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            keymap.resolve(Section::Cards, &[], k("g")),
            Resolution::Command(Command::Refresh)
        );
        assert_eq!(
            keymap.keys_for(Section::Cards, Command::SelectFirst),
            vec!["home"]
        );
        assert_eq!(
            keymap.keys_for(Section::Doors, Command::SelectFirst),
            vec!["g g", "home"]
        );
    }

    #[test]
    fn user_file_merges_key_by_key_and_reports_bad_entries() {
        let text = "\
[global]
\"x\" = \"refresh\"
\"q\" = { run = \"help\", desc = \"Help instead\" }
\"y\" = \"door.opn\"
\"r\" = 42
\"entr\" = \"quit\"

[operators]
\"u\" = { desc = \"no run\" }
\"U\" = \"operator.unlock\"

[nowhere]
\"a\" = \"quit\"
";
        let f = user_file(text);
        let (keymap, errors) = Keymap::load("default", Some(f.path()));
        let file = f.path().display().to_string();

        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(
            got,
            vec![(4, "y"), (5, "r"), (6, "entr"), (9, "u"), (12, "nowhere")],
            "{errors:#?}"
        );
        assert!(errors.iter().all(|e| e.file == file));
        assert_eq!(errors[0].message, "unknown command `door.opn`");
        assert_eq!(
            errors[0].to_string(),
            format!("{file} line 4, key \"y\": unknown command `door.opn`")
        );
        assert!(errors[3].message.contains("run"), "{}", errors[3]);

        let global = |key: &str| keymap.resolve(Section::Global, &[], k(key));
        let ops = |key: &str| keymap.resolve(Section::Operators, &[], k(key));
        // Good entries applied.
        assert_eq!(global("x"), Resolution::Command(Command::Refresh));
        assert_eq!(global("q"), Resolution::Command(Command::Help));
        assert_eq!(ops("U"), Resolution::Command(Command::OperatorUnlock));
        let q = keymap
            .bindings(Section::Global)
            .into_iter()
            .find(|b| b.keys == seq("q"))
            .and_then(|b| b.desc.clone());
        assert_eq!(q.as_deref(), Some("Help instead"));
        // Preset kept where the user entry was bad.
        assert_eq!(global("r"), Resolution::Command(Command::Refresh));
        assert_eq!(ops("u"), Resolution::Command(Command::OperatorUnlock));
        // Untouched preset bindings still there.
        assert_eq!(global("j"), Resolution::Command(Command::SelectNext));
    }

    #[test]
    fn garbage_user_file_keeps_preset() {
        let f = user_file("[global]\n\"x\" = \"quit\"\nthis is not toml ][\n");
        let (keymap, errors) = Keymap::load("default", Some(f.path()));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].file, f.path().display().to_string());
        assert_eq!(errors[0].line, 3, "{}", errors[0]);
        assert_eq!(keymap, Keymap::default());

        let binary = user_file("");
        std::fs::write(binary.path(), b"[global]\n\xff\xfe\n").expect("write");
        let (keymap, errors) = Keymap::load("default", Some(binary.path()));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].line, 2);
        assert_eq!(keymap, Keymap::default());
    }

    #[test]
    fn missing_user_file_is_fine_but_a_directory_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (keymap, errors) = Keymap::load("vim", Some(&dir.path().join("keymap.toml")));
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(Some(keymap), Keymap::preset("vim"));

        let (keymap, errors) = Keymap::load("vim", Some(dir.path()));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].line, 0);
        assert_eq!(Some(keymap), Keymap::preset("vim"));
    }

    #[test]
    fn noop_unbinds() {
        let f = user_file(
            "[global]\n\"q\" = \"noop\"\n\"g g\" = \"noop\"\n[operators]\n\"V\" = \"noop\"\n",
        );
        let (keymap, errors) = Keymap::load("default", Some(f.path()));
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(
            keymap.resolve(Section::Global, &[], k("q")),
            Resolution::Unbound
        );
        assert_eq!(
            keymap.resolve(Section::Operators, &[], k("V")),
            Resolution::Unbound
        );
        // "g l" still makes "g" a prefix; "g g" is gone.
        assert_eq!(
            keymap.resolve(Section::Global, &[], k("g")),
            Resolution::Pending(seq("g"))
        );
        assert_eq!(
            keymap.resolve(Section::Global, &seq("g"), k("g")),
            Resolution::Unbound
        );
        assert!(keymap.keys_for(Section::Global, Command::Quit).is_empty());
        assert!(keymap
            .keys_for(Section::Operators, Command::AuditVerify)
            .is_empty());
    }

    #[test]
    fn user_binding_replaces_conflicting_preset_bindings() {
        let f = user_file("[global]\n\"g\" = \"refresh\"\n\"j j\" = \"select-last\"\n");
        let (keymap, errors) = Keymap::load("default", Some(f.path()));
        assert!(errors.is_empty(), "{errors:#?}");
        let global = &keymap.sections[Section::Global.index()];
        assert!(global
            .iter()
            .all(|b| b.keys.first() != Some(&k("g")) || b.keys.len() == 1));
        assert_eq!(
            keymap.resolve(Section::Global, &[], k("g")),
            Resolution::Command(Command::Refresh)
        );
        assert_eq!(
            keymap.resolve(Section::Global, &[], k("j")),
            Resolution::Pending(seq("j"))
        );
        assert_eq!(
            keymap.keys_for(Section::Global, Command::SelectNext),
            vec!["down"]
        );
    }

    #[test]
    fn conflicts_within_one_file_are_reported() {
        let text = "[global]\n\"x\" = \"quit\"\n\"x y\" = \"help\"\n\"shift-x\" = \"help\"\n\"X\" = \"refresh\"\n";
        let mut keymap = Keymap::empty();
        let errors = keymap.merge("mine.toml", text);
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(got, vec![(3, "x y"), (5, "X")], "{errors:#?}");
        assert!(errors[0].message.contains("prefix"), "{}", errors[0]);
        assert!(errors[1].message.contains("line 4"), "{}", errors[1]);
        assert_eq!(
            keymap.resolve(Section::Global, &[], k("X")),
            Resolution::Command(Command::Help)
        );
    }

    #[test]
    fn wrong_shapes_are_reported_per_entry() {
        let text = "\
global = 3
[cards]
\"a\" = { run = 1 }
\"b\" = { run = \"quit\", desc = [] }
\"c\" = { run = \"quit\", descr = \"typo\" }
\"d\" = [\"quit\"]
\"e\" = { run = \"quit\", desc = \"Fine\" }
";
        let mut keymap = Keymap::empty();
        let errors = keymap.merge("shapes.toml", text);
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(
            got,
            vec![(1, "global"), (3, "a"), (4, "b"), (5, "c"), (6, "d")],
            "{errors:#?}"
        );
        assert_eq!(
            keymap.resolve(Section::Cards, &[], k("e")),
            Resolution::Command(Command::Quit)
        );
    }

    #[test]
    fn unknown_preset_falls_back_to_default() {
        let (keymap, errors) = Keymap::load("emacs", None);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].message.contains("emacs"), "{}", errors[0]);
        assert_eq!(keymap, Keymap::default());
        assert!(Keymap::preset("emacs").is_none());
    }

    #[test]
    fn bindings_are_sorted_and_hints_follow_file_order() {
        let keymap = Keymap::default();
        let list = keymap.bindings(Section::Global);
        assert!(list.windows(2).all(|w| w[0].command <= w[1].command));
        assert_eq!(
            keymap.keys_for(Section::Cards, Command::SelectNext),
            vec!["j", "down"]
        );
        assert_eq!(
            keymap.keys_for(Section::Operators, Command::OperatorUnlock),
            vec!["u"]
        );
        assert_eq!(Keymap::sequence_string(&seq("g   g")), "g g");
        assert_eq!(
            Section::ALL.map(|s| s.name().parse::<Section>()),
            Section::ALL.map(Ok)
        );
    }
}
