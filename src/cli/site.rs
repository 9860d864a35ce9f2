//! `onecard site ...`: the site's time zone and its settings. Each setting is read where it is
//! used (the console, serve, the SSH server); this is the one place that knows them all, says
//! what each means, and refuses a value its reader would not take. Every change is audited.

use super::{shell_actor, Database};
use crate::db::settings;
use crate::domain::money::Money;
use anyhow::bail;
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum SiteCmd {
    /// The site's time zone (terminal clocks, days, shifts, reports): shows it, or sets it to
    /// an IANA name such as Asia/Shanghai ("system": the system's). Audited; processes already
    /// running take it at their next start.
    TimeZone { name: Option<String> },
    /// The site's settings: each with its value, its default and what it does.
    Settings,
    /// Set a site setting (audited); `onecard site settings` lists them.
    Set {
        key: String,
        /// The value (a negative number is taken as a value, and refused if out of bounds).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Put a site setting back to its default (audited).
    Reset { key: String },
}

/// What a setting's value is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A whole number within bounds.
    Whole(i64, i64),
    /// A number above zero, fractions allowed.
    Positive,
    /// An amount of money above zero.
    Money,
    /// Times of day, `HH:MM[,HH:MM...]`.
    Times,
}

struct Known {
    key: &'static str,
    kind: Kind,
    default: &'static str,
    what: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        key: crate::app::session::LOCK_AFTER_KEY,
        kind: Kind::Whole(0, 1440),
        default: "15",
        what: "minutes without input before a console locks and asks for the password (0: never)",
    },
    Known {
        key: crate::ssh::PER_OPERATOR_KEY,
        kind: Kind::Whole(1, 1000),
        default: "3",
        what: "consoles one operator may have open over SSH at once",
    },
    Known {
        key: crate::ssh::TOTAL_KEY,
        kind: Kind::Whole(1, 10_000),
        default: "50",
        what: "consoles the SSH server serves at once",
    },
    Known {
        key: crate::ssh::IDLE_KEY,
        kind: Kind::Positive,
        default: "30",
        what:
            "minutes without input before an SSH console is closed (read when onecard ssh starts)",
    },
    Known {
        key: crate::db::ingest::LATE_AFTER_KEY,
        kind: Kind::Whole(1, 86_400),
        default: "300",
        what: "seconds an event may be old when collected and still count as live (older: late)",
    },
    Known {
        key: crate::db::door::RETENTION_KEY,
        kind: Kind::Whole(1, crate::db::door::MAX_RETENTION_DAYS as i64),
        default: "92",
        what: "days door records are kept before a purge may delete them",
    },
    Known {
        key: crate::db::pos::OFFLINE_DAILY_KEY,
        kind: Kind::Money,
        default: "50.00",
        what: "what one card may spend offline in a day at the POS",
    },
    Known {
        key: crate::poller::extraction::EVERY_KEY,
        kind: Kind::Whole(0, 1440),
        default: "60",
        what: "minutes between extractions from the attendance machines (0: only at the set times)",
    },
    Known {
        key: crate::poller::extraction::AT_KEY,
        kind: Kind::Times,
        default: "none",
        what: "times of day (HH:MM, comma-separated) to extract from every attendance machine",
    },
    Known {
        key: crate::poller::extraction::MEMORY_ALARM_KEY,
        kind: Kind::Whole(1, 100),
        default: "90",
        what: "percent of an attendance machine's log memory in use that raises an alarm",
    },
    Known {
        key: crate::poller::extraction::DRIFT_ALARM_KEY,
        kind: Kind::Whole(1, 86_400),
        default: "60",
        what: "seconds of clock drift of an attendance machine that raise an alarm",
    },
    Known {
        key: "patrol.walk_speed_mps",
        kind: Kind::Positive,
        default: "1.2",
        what: "a guard's walking speed (m/s), for the omission calculation",
    },
    Known {
        key: "patrol.min_walk_s",
        kind: Kind::Positive,
        default: "10",
        what: "the shortest walk between two checkpoints (s); faster is suspicious",
    },
    Known {
        key: "patrol.max_drift_s",
        kind: Kind::Positive,
        default: "120",
        what: "the largest clock drift (s) of a patrol reader before its scans are suspicious",
    },
];

fn known(key: &str) -> anyhow::Result<&'static Known> {
    KNOWN.iter().find(|k| k.key == key).ok_or_else(|| {
        let keys: Vec<&str> = KNOWN.iter().map(|k| k.key).collect();
        anyhow::anyhow!(
            "{key} is no site setting; the settings are: {}",
            keys.join(", ")
        )
    })
}

/// The value as stored, or why its reader would not take it.
fn parse(k: &Known, text: &str) -> anyhow::Result<Value> {
    let text = text.trim();
    Ok(match k.kind {
        Kind::Whole(lo, hi) => match text.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => json!(n),
            _ => bail!("{}: a whole number from {lo} to {hi}, not {text:?}", k.key),
        },
        Kind::Positive => match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => json!(n),
            _ => bail!("{}: a number above 0, not {text:?}", k.key),
        },
        Kind::Money => match Money::parse(text, None) {
            Ok(m) if m.is_positive() => json!(format!("{:.2}", m.as_decimal())),
            _ => bail!("{}: an amount above 0 such as 50.00, not {text:?}", k.key),
        },
        Kind::Times => {
            let times: Vec<Value> = text
                .split(',')
                .map(str::trim)
                .map(|t| {
                    chrono::NaiveTime::parse_from_str(t, "%H:%M")
                        .map(|_| json!(t))
                        .map_err(|_| anyhow::anyhow!("{}: times as HH:MM, not {t:?}", k.key))
                })
                .collect::<Result<_, _>>()?;
            Value::Array(times)
        }
    })
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(shown).collect::<Vec<_>>().join(","),
        v => v.to_string(),
    }
}

pub async fn run(db: &Database, command: &SiteCmd) -> anyhow::Result<()> {
    let pool = &db.pool;
    match command {
        SiteCmd::TimeZone { name } => {
            let key = crate::domain::time::ZONE_KEY;
            match name.as_deref().map(str::trim) {
                None => {
                    let set = settings::get(pool, key).await?;
                    match set.as_ref().and_then(|v| v.as_str()) {
                        Some(zone) => say!("{zone}"),
                        None => say!("system ({})", chrono::Local::now().format("%:z")),
                    }
                }
                Some("system") => {
                    settings::set(pool, &shell_actor(), key, Value::Null).await?;
                    say!("the site's time zone is the system's");
                }
                Some(zone) => {
                    let tz = crate::domain::time::parse_zone(zone).map_err(anyhow::Error::msg)?;
                    settings::set(pool, &shell_actor(), key, json!(tz.name())).await?;
                    say!("the site's time zone is {}", tz.name());
                }
            }
        }
        SiteCmd::Settings => {
            say!("{:<36} {:<12} {:<10} what", "setting", "value", "default");
            for k in KNOWN {
                let value = match settings::get(pool, k.key).await? {
                    Some(v) if !v.is_null() => shown(&v),
                    _ => "–".into(),
                };
                say!("{:<36} {:<12} {:<10} {}", k.key, value, k.default, k.what);
            }
        }
        SiteCmd::Set { key, value } => {
            let k = known(key)?;
            let v = parse(k, value)?;
            settings::set(pool, &shell_actor(), k.key, v.clone()).await?;
            say!("{} = {}", k.key, shown(&v));
        }
        SiteCmd::Reset { key } => {
            let k = known(key)?;
            settings::clear(pool, &shell_actor(), k.key).await?;
            say!("{} is back to its default, {}", k.key, k.default);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_their_readers_read_them() {
        let lock = known("console.lock_after_min").unwrap();
        assert_eq!(parse(lock, "0").unwrap(), json!(0));
        assert!(parse(lock, "-1").is_err());
        assert!(parse(lock, "ten").is_err());
        let idle = known("ssh.idle_minutes").unwrap();
        assert_eq!(parse(idle, "0.5").unwrap(), json!(0.5));
        assert!(parse(idle, "0").is_err());
        let daily = known("pos.offline_daily_limit").unwrap();
        assert_eq!(parse(daily, "80").unwrap(), json!("80.00"));
        let at = known("attendance.extract_at").unwrap();
        assert_eq!(
            parse(at, "06:00, 18:30").unwrap(),
            json!(["06:00", "18:30"])
        );
        assert!(parse(at, "25:00").is_err());
        assert!(known("no.such").is_err());
    }
}
