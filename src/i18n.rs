//! Every visible string, from one catalogue per language. A third language is one more file
//! in `src/i18n/` and one line in `CATALOGUES`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// (code, name in its own language, catalogue text).
const CATALOGUES: &[(&str, &str, &str)] = &[
    ("en", "English", include_str!("i18n/en.toml")),
    ("zh-CN", "简体中文", include_str!("i18n/zh-CN.toml")),
];

/// A language: an index into the catalogues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lang(usize);

impl Lang {
    pub const EN: Lang = Lang(0);
    pub const ZH_CN: Lang = Lang(1);

    pub fn all() -> impl Iterator<Item = Lang> {
        (0..CATALOGUES.len()).map(Lang)
    }
    pub fn code(self) -> &'static str {
        CATALOGUES[self.0].0
    }
    pub fn native_name(self) -> &'static str {
        CATALOGUES[self.0].1
    }
    pub fn next(self) -> Lang {
        Lang((self.0 + 1) % CATALOGUES.len())
    }
    /// Accepts `zh-CN`, `zh_CN.UTF-8`, `zh`, `en_US.UTF-8` ...
    pub fn from_code(code: &str) -> Option<Lang> {
        let norm = code
            .split('.')
            .next()
            .unwrap_or("")
            .replace('_', "-")
            .to_lowercase();
        if norm.is_empty() {
            return None;
        }
        Lang::all()
            .find(|l| l.code().to_lowercase() == norm)
            .or_else(|| {
                let primary = norm.split('-').next().unwrap_or("");
                Lang::all().find(|l| l.code().to_lowercase().split('-').next() == Some(primary))
            })
    }
    /// From `LC_ALL`, `LC_MESSAGES`, `LANG`, in POSIX order; English otherwise.
    pub fn from_locale() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .next()
            .and_then(|v| Lang::from_code(&v))
            .unwrap_or(Lang::EN)
    }
}

fn tables() -> &'static Vec<HashMap<String, String>> {
    static TABLES: OnceLock<Vec<HashMap<String, String>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        CATALOGUES
            .iter()
            .map(|(code, _, text)| {
                // The catalogues are compiled in and checked by tests; a bad one is a build bug.
                let table: toml::Table = toml::from_str(text)
                    .unwrap_or_else(|e| panic!("catalogue {code} is not valid TOML: {e}"));
                let mut flat = HashMap::new();
                flatten("", &table, &mut flat);
                flat
            })
            .collect()
    })
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// The string for `key`; English when the language lacks it, the key itself when both do.
pub fn tr(lang: Lang, key: &str) -> &'static str {
    let t = tables();
    t[lang.0]
        .get(key)
        .or_else(|| t[0].get(key))
        .map(String::as_str)
        .unwrap_or_else(|| {
            tracing::warn!(key, "missing catalogue entry");
            // Leak once per missing key is bounded by the code's keys; keeps the &'static API.
            Box::leak(key.to_string().into_boxed_str())
        })
}

/// `tr` with `{name}` placeholders filled.
pub fn trf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = tr(lang, key).to_string();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Whether a key exists in the English catalogue (for tests of the code's keys).
pub fn has_key(key: &str) -> bool {
    tables()[0].contains_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_the_same_keys() {
        let t = tables();
        let mut en: Vec<_> = t[0].keys().collect();
        en.sort();
        for l in Lang::all().skip(1) {
            let mut other: Vec<_> = t[l.0].keys().collect();
            other.sort();
            let missing: Vec<_> = en.iter().filter(|k| !t[l.0].contains_key(**k)).collect();
            let extra: Vec<_> = other.iter().filter(|k| !t[0].contains_key(**k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, extra {extra:?}",
                l.code()
            );
        }
    }

    #[test]
    fn placeholders_match_across_languages() {
        let t = tables();
        let holes = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next())
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        for (k, en) in &t[0] {
            for l in Lang::all().skip(1) {
                assert_eq!(
                    holes(en),
                    holes(&t[l.0][k]),
                    "placeholders differ for {k} in {}",
                    l.code()
                );
            }
        }
    }

    #[test]
    fn locale_codes() {
        assert_eq!(Lang::from_code("zh_CN.UTF-8"), Some(Lang::ZH_CN));
        assert_eq!(Lang::from_code("zh"), Some(Lang::ZH_CN));
        assert_eq!(Lang::from_code("en_GB.UTF-8"), Some(Lang::EN));
        assert_eq!(Lang::from_code("C.UTF-8"), None);
        assert_eq!(
            trf(
                Lang::EN,
                "status.size_too_small",
                &[("w", "70"), ("h", "20")]
            ),
            "onecard needs a terminal of at least 80×24; this one is 70×20."
        );
    }
}
