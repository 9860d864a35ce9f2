//! config.toml: defaults, strictness, and what the binary says about a bad one.

use onecard::config::{Config, ConfigError};
use std::path::Path;
use std::process::Command;

#[test]
fn a_missing_file_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        Config::load(&dir.path().join("config.toml")).unwrap(),
        Config::default()
    );
}

#[test]
fn a_full_file_parses() {
    let text = r#"
[database]
url = "postgres://onecard@db.campus.example/onecard"

[ui]
language = "zh-CN"
theme = "light"
keymap = "vim"

[backup]
dir = "/srv/backups"
"#;
    let c = Config::parse(text, Path::new("config.toml")).unwrap();
    assert_eq!(c.ui.language.as_deref(), Some("zh-CN"));
    assert_eq!(
        c.database.url.as_deref(),
        Some("postgres://onecard@db.campus.example/onecard")
    );
    assert_eq!(c.backup.dir.as_deref(), Some(Path::new("/srv/backups")));
}

#[test]
fn unknown_keys_are_rejected_with_file_and_line() {
    let text = "[ui]\nlanguage = \"en\"\n\n[database]\nurll = \"postgres://x\"\n";
    let e = Config::parse(text, Path::new("/etc/onecard/config.toml")).unwrap_err();
    let ConfigError::Parse { line, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*line, 5);
    let msg = e.to_string();
    assert!(msg.starts_with("/etc/onecard/config.toml line 5:"), "{msg}");
    assert!(msg.contains("urll"), "{msg}");
    let e = Config::parse("[ui\nlanguage=", Path::new("c.toml")).unwrap_err();
    assert!(e.to_string().starts_with("c.toml line 1:"), "{e}");
}

#[test]
fn the_binary_refuses_a_bad_config_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[ui]\ncolour = \"red\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .args(["operator", "list"])
        .env("ONECARD_CONFIG_DIR", dir.path())
        .env("ONECARD_DATA_DIR", dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml line 2") && err.contains("colour"),
        "{err}"
    );
    // Nothing was started or created for a refused configuration.
    assert!(!dir.path().join("data").join("pg").exists());
}

#[test]
fn the_console_needs_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .env("ONECARD_CONFIG_DIR", dir.path())
        .env("ONECARD_DATA_DIR", dir.path().join("data"))
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}

#[test]
fn theme_and_language_precedence() {
    use clap::Parser;
    use onecard::app::state::ThemeName;
    use onecard::cli::{ui_choices, Cli};
    use onecard::i18n::Lang;
    let mut config = Config::default();
    let plain = Cli::parse_from(["onecard"]);
    assert_eq!(
        ui_choices(&plain, &config, true).unwrap().1,
        ThemeName::Basic,
        "NO_COLOR picks basic"
    );
    assert_eq!(
        ui_choices(&plain, &config, false).unwrap().1,
        ThemeName::Default
    );
    config.ui.theme = Some("light".into());
    config.ui.language = Some("zh-CN".into());
    assert_eq!(
        ui_choices(&plain, &config, true).unwrap(),
        (Lang::ZH_CN, ThemeName::Light),
        "the file wins over NO_COLOR"
    );
    let flags = Cli::parse_from(["onecard", "--theme", "basic", "--lang", "en"]);
    assert_eq!(
        ui_choices(&flags, &config, false).unwrap(),
        (Lang::EN, ThemeName::Basic),
        "flags win over the file"
    );
    let bad = Cli::parse_from(["onecard", "--theme", "neon"]);
    assert!(ui_choices(&bad, &config, false)
        .unwrap_err()
        .to_string()
        .contains("unknown theme `neon`"));
}
