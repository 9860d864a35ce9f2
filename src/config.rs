//! Where onecard keeps things, and `<config dir>/config.toml`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The directories onecard uses. `ONECARD_CONFIG_DIR` / `ONECARD_DATA_DIR` override the
/// platform defaults (`~/.config/onecard`, `~/.local/share/onecard` on Linux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Paths, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "onecard");
        let pick = |var: &str, default: Option<&Path>| -> Result<PathBuf, ConfigError> {
            match std::env::var_os(var) {
                Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                _ => default.map(Path::to_path_buf).ok_or(ConfigError::NoHome),
            }
        };
        Ok(Paths {
            config_dir: pick("ONECARD_CONFIG_DIR", dirs.as_ref().map(|d| d.config_dir()))?,
            data_dir: pick("ONECARD_DATA_DIR", dirs.as_ref().map(|d| d.data_dir()))?,
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
    pub fn keymap_file(&self) -> PathBuf {
        self.config_dir.join("keymap.toml")
    }
    /// The embedded cluster's directory (data, socket, server log).
    pub fn cluster_dir(&self) -> PathBuf {
        self.data_dir.join("pg")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
    pub fn backup_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no home directory: set ONECARD_CONFIG_DIR and ONECARD_DATA_DIR")]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub ui: UiConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    #[serde(default)]
    pub wallboard: WallboardConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WallboardConfig {
    /// Seconds each wallboard screen stays (default 15; 3 to 3600).
    pub screen_secs: Option<u32>,
    /// The wallboard operator `onecard wallboard` signs in as when no `--login` is given.
    pub login: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// An external server; unset means the embedded cluster.
    pub url: Option<String>,
    /// The embedded cluster's database name.
    pub name: Option<String>,
    /// With an external server: how the console and the operators' commands connect, as
    /// `onecard_console` (`ONECARD_CONSOLE_URL` wins). Unset: `url` with `SET ROLE`.
    pub console_url: Option<String>,
    /// With an external server: how `serve` connects, as `onecard_serve` (`ONECARD_SERVE_URL`
    /// wins). Unset: `url` with `SET ROLE`.
    pub serve_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// `en` or `zh-CN`; unset follows the locale.
    pub language: Option<String>,
    /// `default`, `basic` (16 colours) or `light`.
    pub theme: Option<String>,
    /// The preset under `<config dir>/keymap.toml`: `default` or `vim`.
    pub keymap: Option<String>,
    /// This card desk's reader, by its name in the terminal inventory: only cards laid on it
    /// reach this console. Unset: cards from every desk reader.
    pub desk_reader: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where `onecard db backup` writes; default `<data dir>/backups`.
    pub dir: Option<PathBuf>,
}

impl Config {
    /// A missing file is the default configuration; a bad one is an error naming file and line.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                message: e.message().to_string(),
            }
        })
    }

    /// The URL a role connects with on an external server: its variable, then the file.
    pub fn role_url(&self, access: crate::db::roles::Access) -> Option<String> {
        use crate::db::roles::Access;
        let (var, file) = match access {
            Access::Owner => return self.database_url(),
            Access::Console => ("ONECARD_CONSOLE_URL", &self.database.console_url),
            Access::Serve => ("ONECARD_SERVE_URL", &self.database.serve_url),
        };
        std::env::var(var)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| file.clone())
    }

    /// `DATABASE_URL` wins over the file.
    pub fn database_url(&self) -> Option<String> {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.database.url.clone())
    }
}
