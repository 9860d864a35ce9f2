//! One key press as a keymap names it: `"a"`, `"G"`, `"ctrl-s"`, `"enter"`, `"pgdn"`.
//!
//! Keys are normalised so that a parsed key and a crossterm event compare equal: for a
//! character the shift is part of the character (`"G"`, never `"shift-g"`), and shift-tab
//! is `"backtab"`.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A normalised key press. Build it with [`Key::new`], [`Key::from_event`] or `parse()`
/// so that equal presses compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// Named keys with their canonical spelling first; later spellings are accepted aliases.
const NAMED: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("return", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("escape", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("space", KeyCode::Char(' ')),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("del", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pgup", KeyCode::PageUp),
    ("pageup", KeyCode::PageUp),
    ("pgdn", KeyCode::PageDown),
    ("pagedown", KeyCode::PageDown),
];

/// Every canonical key name, for tests and for documentation.
pub const KEY_NAMES: &[&str] = &[
    "enter",
    "esc",
    "tab",
    "backtab",
    "space",
    "backspace",
    "delete",
    "insert",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
    "pgup",
    "pgdn",
];

/// Why a key string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("empty key")]
    Empty,
    #[error("modifier `{0}` is not followed by a key")]
    DanglingModifier(String),
    #[error("unknown key `{0}` (a single character, or a name such as enter, esc, tab, space, up, pgdn)")]
    UnknownKey(String),
    #[error("function key `{0}` out of range (f1 to f12)")]
    FunctionKey(String),
}

impl Key {
    /// A normalised key from a code and modifiers.
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        // SUPER/HYPER/META are not portable across terminals; keymaps cannot name them.
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                // Some terminals (kitty protocol) report shift-g as 'g' + SHIFT.
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(to_upper(c))
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// A plain character key, e.g. `Key::char('G')`.
    pub fn char(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    /// The key a crossterm event stands for, normalised like a parsed key.
    pub fn from_event(event: &KeyEvent) -> Key {
        Key::new(event.code, event.modifiers)
    }

    /// True for `f1`..`f12` and friends, which not every SSH client or tmux passes through.
    pub fn is_function_key(&self) -> bool {
        matches!(self.code, KeyCode::F(_))
    }
}

fn to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        // 'ß' uppercases to two chars: keep it as typed.
        _ => c,
    }
}

impl FromStr for Key {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Key, KeyParseError> {
        if s.is_empty() {
            return Err(KeyParseError::Empty);
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        // A single character is always a key, so "-" and "c" never read as modifiers.
        while rest.chars().nth(1).is_some() {
            let Some((head, tail)) = rest.split_once('-') else {
                break;
            };
            let m = match head.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => KeyModifiers::CONTROL,
                "alt" | "a" | "m" | "meta" => KeyModifiers::ALT,
                "shift" | "s" => KeyModifiers::SHIFT,
                _ => break,
            };
            if tail.is_empty() {
                return Err(KeyParseError::DanglingModifier(head.to_string()));
            }
            mods |= m;
            rest = tail;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some(&(_, code)) = NAMED.iter().find(|(name, _)| *name == lower) {
                    code
                } else if let Some(n) = lower.strip_prefix('f').filter(|n| !n.is_empty()) {
                    match n.parse::<u8>() {
                        Ok(n @ 1..=12) => KeyCode::F(n),
                        Ok(_) => return Err(KeyParseError::FunctionKey(rest.to_string())),
                        Err(_) => return Err(KeyParseError::UnknownKey(rest.to_string())),
                    }
                } else {
                    return Err(KeyParseError::UnknownKey(rest.to_string()));
                }
            }
        };
        Ok(Key::new(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            code => match NAMED.iter().find(|(_, c)| *c == code) {
                Some((name, _)) => f.write_str(name),
                // Not nameable in a keymap (media keys, caps lock...): shown, never bound.
                None => write!(f, "{}", format!("{code:?}").to_ascii_lowercase()),
            },
        }
    }
}

/// Parses a space-separated key sequence such as `"g g"` or `"ctrl-x ctrl-s"`.
pub fn parse_sequence(s: &str) -> Result<Vec<Key>, KeyParseError> {
    let keys = s
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<Key>, _>>()?;
    if keys.is_empty() {
        return Err(KeyParseError::Empty);
    }
    Ok(keys)
}

/// The canonical spelling of a key sequence, e.g. `"g g"`.
pub fn sequence_string(keys: &[Key]) -> String {
    keys.iter()
        .map(Key::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn event(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    fn key(s: &str) -> Key {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn named_keys_round_trip() {
        for name in KEY_NAMES {
            let k = key(name);
            assert_eq!(k.to_string(), *name);
            assert_eq!(key(&k.to_string()), k);
        }
        for n in 1..=12 {
            let s = format!("f{n}");
            assert_eq!(key(&s), Key::new(KeyCode::F(n), KeyModifiers::NONE));
            assert_eq!(key(&s).to_string(), s);
        }
    }

    #[test]
    fn chars_and_modifiers_round_trip() {
        for s in [
            "a",
            "G",
            "?",
            ":",
            "/",
            "-",
            "1",
            "[",
            "ctrl-s",
            "alt-x",
            "ctrl-alt-x",
            "ctrl--",
            "ctrl-space",
            "shift-up",
            "alt-enter",
            "é",
            "卡",
        ] {
            let k = key(s);
            assert_eq!(k.to_string(), s, "{s:?}");
            assert_eq!(key(&k.to_string()), k);
        }
    }

    #[test]
    fn aliases_and_case_normalise() {
        assert_eq!(key("Enter"), key("enter"));
        assert_eq!(key("return"), key("enter"));
        assert_eq!(key("escape"), key("esc"));
        assert_eq!(key("PageDown"), key("pgdn"));
        assert_eq!(key("Ctrl-s"), key("ctrl-s"));
        assert_eq!(key("shift-g"), key("G"));
        assert_eq!(key("shift-G"), key("G"));
        assert_eq!(key("shift-tab"), key("backtab"));
        assert_eq!(key("space"), Key::char(' '));
        assert_ne!(key("g"), key("G"));
    }

    #[test]
    fn events_normalise_like_parsed_keys() {
        let cases = [
            (event(KeyCode::Char('G'), KeyModifiers::SHIFT), "G"),
            (event(KeyCode::Char('g'), KeyModifiers::SHIFT), "G"),
            (event(KeyCode::Char('G'), KeyModifiers::NONE), "G"),
            (event(KeyCode::Char('?'), KeyModifiers::SHIFT), "?"),
            (event(KeyCode::Char('s'), KeyModifiers::CONTROL), "ctrl-s"),
            (event(KeyCode::BackTab, KeyModifiers::SHIFT), "backtab"),
            (event(KeyCode::Tab, KeyModifiers::SHIFT), "backtab"),
            (event(KeyCode::Char(' '), KeyModifiers::NONE), "space"),
            (
                event(KeyCode::Char('x'), KeyModifiers::ALT | KeyModifiers::SUPER),
                "alt-x",
            ),
            (event(KeyCode::Up, KeyModifiers::SHIFT), "shift-up"),
        ];
        for (ev, s) in cases {
            assert_eq!(Key::from_event(&ev), key(s), "{ev:?}");
        }
    }

    #[test]
    fn bad_keys_are_errors() {
        assert_eq!("".parse::<Key>(), Err(KeyParseError::Empty));
        assert!(matches!(
            "ctrl-".parse::<Key>(),
            Err(KeyParseError::DanglingModifier(_))
        ));
        assert!(matches!(
            "entr".parse::<Key>(),
            Err(KeyParseError::UnknownKey(_))
        ));
        assert!(matches!(
            "hyper-x".parse::<Key>(),
            Err(KeyParseError::UnknownKey(_))
        ));
        assert!(matches!(
            "f13".parse::<Key>(),
            Err(KeyParseError::FunctionKey(_))
        ));
        assert!(matches!(
            "f0".parse::<Key>(),
            Err(KeyParseError::FunctionKey(_))
        ));
        assert!(matches!(
            "fx".parse::<Key>(),
            Err(KeyParseError::UnknownKey(_))
        ));
    }

    #[test]
    fn sequences() {
        assert_eq!(
            parse_sequence("g g"),
            Ok(vec![Key::char('g'), Key::char('g')])
        );
        assert_eq!(
            parse_sequence("  Z   Z "),
            Ok(vec![Key::char('Z'), Key::char('Z')])
        );
        assert_eq!(parse_sequence("space"), Ok(vec![Key::char(' ')]));
        assert_eq!(parse_sequence(" "), Err(KeyParseError::Empty));
        assert!(parse_sequence("g bogus").is_err());
        let seq = parse_sequence("ctrl-x  ctrl-s").unwrap_or_default();
        assert_eq!(sequence_string(&seq), "ctrl-x ctrl-s");
    }
}
