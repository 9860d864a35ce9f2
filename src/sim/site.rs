//! A simulated site: which terminals, where they listen, how busy they are.
//!
//! Fixed, documented addresses so scripts can rely on them (all on `bind`, 127.0.0.1 by default):
//!
//! | terminals | default | with `--base-port P` |
//! |---|---|---|
//! | every UHPPOTE door controller, UDP and TCP (told apart by serial number) | 60000 | P |
//! | ZKTeco attendance machine *i* (0-based), TCP | 4370 + i | P + 10 + i |
//! | RS-485 line *i* (0-based), TCP, besides its PTY | 4400 + i | P + 20 + i |
//! | the control interface, TCP | 4499 | P + 99 |
//!
//! The site file is TOML; unknown keys are refused with the line. An optional `[patrol]` table
//! (`sim::patrol::PatrolPlan`) gives checkpoints, guards, routes and schedules that the patrol
//! readers walk round by round, and that `sim::register` writes into the database.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Seed for every random choice: the same seed gives the same sequence of records.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Background records per second across the whole site (0 = only what the control asks for).
    #[serde(default = "default_rate")]
    pub rate: f64,
    #[serde(default = "default_bind")]
    pub bind: IpAddr,
    /// Percent of door-controller traffic that is an alarm (forced open, held open, tamper).
    #[serde(default = "default_alarm_percent")]
    pub alarm_percent: f64,
    /// Card numbers the terminals know; swipes, punches and purchases use them.
    #[serde(default)]
    pub cards: CardsConfig,
    #[serde(default)]
    pub door_controllers: Vec<DoorControllerConfig>,
    #[serde(default)]
    pub attendance_machines: Vec<AttendanceMachineConfig>,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    /// Checkpoints, guards, routes and schedules the patrol readers walk (none: each reader
    /// scans the next of a fixed round of tags at every traffic tick).
    #[serde(default)]
    pub patrol: Option<super::patrol::PatrolPlan>,
}

fn default_seed() -> u64 {
    1
}
fn default_rate() -> f64 {
    1.0
}
fn default_alarm_percent() -> f64 {
    1.0
}
fn default_bind() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsConfig {
    /// The first card number; cards are `first .. first + count`.
    pub first: u32,
    pub count: u32,
    /// The door controllers start holding nine cards in ten, granted on every door, as if a
    /// host had downloaded them. False: they start empty, as new controllers do, and open only
    /// for the cards a host downloads.
    #[serde(default = "yes")]
    pub granted: bool,
}

impl Default for CardsConfig {
    fn default() -> Self {
        CardsConfig {
            first: 8_165_500,
            count: 200,
            granted: true,
        }
    }
}

impl CardsConfig {
    pub fn numbers(&self) -> Vec<u32> {
        (0..self.count).map(|i| self.first + i).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorControllerConfig {
    pub serial: u32,
    #[serde(default = "default_doors")]
    pub doors: u8,
    /// Stored events before the ring overwrites the oldest.
    #[serde(default = "default_door_memory")]
    pub memory: usize,
    /// Seconds the clock is off at start.
    #[serde(default)]
    pub offset_secs: i64,
    /// How fast the clock runs, parts per million.
    #[serde(default)]
    pub drift_ppm: f64,
    /// What the site calls the controller (its building), and where it is installed: for a
    /// host's inventory; the protocol knows only the serial number.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub location: String,
    /// Door 1, 2, ... by name and place (fewer than `doors` is fine).
    #[serde(default)]
    pub named_doors: Vec<NamedDoor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedDoor {
    pub name: String,
    #[serde(default)]
    pub location: String,
}

fn default_doors() -> u8 {
    4
}
fn default_door_memory() -> usize {
    100_000
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceMachineConfig {
    pub serial: String,
    /// 0 = no comm key.
    #[serde(default)]
    pub comm_key: u32,
    #[serde(default = "default_att_capacity")]
    pub capacity: usize,
    /// Users enrolled (from the card list).
    #[serde(default = "default_users")]
    pub users: usize,
    /// Seconds the clock is off at start.
    #[serde(default)]
    pub offset_secs: i64,
    /// How fast the clock runs, parts per million.
    #[serde(default)]
    pub drift_ppm: f64,
}

fn default_att_capacity() -> usize {
    100_000
}
fn default_users() -> usize {
    50
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    /// Serve the line on a PTY pair (the poller opens the printed device path).
    #[serde(default = "yes")]
    pub pty: bool,
    /// Also serve it on TCP (an RS-485-to-Ethernet converter).
    #[serde(default = "yes")]
    pub tcp: bool,
    /// Percent of replies with one corrupted byte (CRC noise).
    #[serde(default)]
    pub noise_percent: f64,
    pub terminals: Vec<NativeTerminalConfig>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeTerminalConfig {
    pub kind: NativeKind,
    pub machine_no: u8,
    #[serde(default = "default_native_capacity")]
    pub capacity: usize,
    /// Seconds the clock is off at start.
    #[serde(default)]
    pub offset_secs: i64,
    /// How fast the clock runs, parts per million.
    #[serde(default)]
    pub drift_ppm: f64,
}

fn default_native_capacity() -> usize {
    20_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeKind {
    Pos,
    PatrolReader,
    DeskReader,
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl SiteConfig {
    pub fn load(path: &Path) -> Result<SiteConfig, SiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SiteError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SiteConfig::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, path: &str) -> Result<SiteConfig, SiteError> {
        let site: SiteConfig = toml::from_str(text).map_err(|e| SiteError::Parse {
            path: path.to_string(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1),
            message: e.message().to_string(),
        })?;
        site.validate()?;
        Ok(site)
    }

    fn validate(&self) -> Result<(), SiteError> {
        let bad = |m: String| Err(SiteError::Invalid(m));
        let mut serials = std::collections::HashSet::new();
        for c in &self.door_controllers {
            if c.serial == 0 || !serials.insert(c.serial) {
                return bad(format!(
                    "door controller serial {} is zero or used twice",
                    c.serial
                ));
            }
            if !(1..=4).contains(&c.doors) {
                return bad(format!(
                    "door controller {} has {} doors (1 to 4)",
                    c.serial, c.doors
                ));
            }
            if c.named_doors.len() > usize::from(c.doors) {
                return bad(format!(
                    "door controller {} names {} doors but has {}",
                    c.serial,
                    c.named_doors.len(),
                    c.doors
                ));
            }
        }
        for line in &self.lines {
            let mut nos = std::collections::HashSet::new();
            for t in &line.terminals {
                if !(1..=247).contains(&t.machine_no) || !nos.insert(t.machine_no) {
                    return bad(format!(
                        "line {}: machine number {} is outside 1-247 or used twice",
                        line.name, t.machine_no
                    ));
                }
            }
            if !line.pty && !line.tcp {
                return bad(format!(
                    "line {} is served on neither a PTY nor TCP",
                    line.name
                ));
            }
        }
        if let Some(plan) = &self.patrol {
            plan.validate(&self.patrol_readers())
                .map_err(SiteError::Invalid)?;
        }
        if !(0.0..=100.0).contains(&self.alarm_percent) {
            return bad(format!(
                "alarm_percent {} is not a percentage",
                self.alarm_percent
            ));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return bad(format!(
                "rate {} is not a number of records per second",
                self.rate
            ));
        }
        Ok(())
    }

    /// The simulator ids of the patrol readers (`patrol/<line>/<machine>`).
    pub fn patrol_readers(&self) -> Vec<String> {
        self.lines
            .iter()
            .flat_map(|l| {
                l.terminals
                    .iter()
                    .filter(|t| t.kind == NativeKind::PatrolReader)
                    .map(move |t| format!("patrol/{}/{}", l.name, t.machine_no))
            })
            .collect()
    }

    /// The built-in demo site: four door controllers (the library, a dormitory, the laboratory
    /// building and the gymnasium, every door named), two attendance machines, a canteen line
    /// of three POS, a patrol line of two readers, and the card desk's reader.
    pub fn demo() -> SiteConfig {
        let native = |kind, machine_no| NativeTerminalConfig {
            kind,
            machine_no,
            capacity: default_native_capacity(),
            offset_secs: 0,
            drift_ppm: 0.0,
        };
        SiteConfig {
            seed: 1,
            rate: 1.0,
            bind: default_bind(),
            alarm_percent: default_alarm_percent(),
            patrol: None,
            cards: CardsConfig::default(),
            door_controllers: DEMO_BUILDINGS
                .iter()
                .zip(0..)
                .map(|((name, location, doors), i)| DoorControllerConfig {
                    serial: 405_419_896 + i,
                    doors: 4,
                    memory: default_door_memory(),
                    offset_secs: i64::from(i) * 7,
                    drift_ppm: 0.0,
                    name: (*name).into(),
                    location: (*location).into(),
                    named_doors: doors
                        .iter()
                        .map(|(name, location)| NamedDoor {
                            name: (*name).into(),
                            location: (*location).into(),
                        })
                        .collect(),
                })
                .collect(),
            attendance_machines: vec![
                AttendanceMachineConfig {
                    serial: "OCK0000001".into(),
                    comm_key: 0,
                    capacity: default_att_capacity(),
                    users: default_users(),
                    offset_secs: 0,
                    drift_ppm: 0.0,
                },
                AttendanceMachineConfig {
                    serial: "OCK0000002".into(),
                    comm_key: 0,
                    capacity: default_att_capacity(),
                    users: default_users(),
                    offset_secs: -95,
                    drift_ppm: 20.0,
                },
            ],
            lines: vec![
                LineConfig {
                    name: "canteen".into(),
                    pty: true,
                    tcp: true,
                    noise_percent: 0.0,
                    terminals: (1..=3).map(|n| native(NativeKind::Pos, n)).collect(),
                },
                LineConfig {
                    name: "patrol".into(),
                    pty: true,
                    tcp: true,
                    noise_percent: 0.0,
                    terminals: (1..=2)
                        .map(|n| native(NativeKind::PatrolReader, n))
                        .collect(),
                },
                LineConfig {
                    name: "desk".into(),
                    pty: true,
                    tcp: true,
                    noise_percent: 0.0,
                    terminals: vec![native(NativeKind::DeskReader, 1)],
                },
            ],
        }
    }
}

/// The demo's door controllers: (name, where the controller is installed, its four doors by
/// name and place).
type Building = (
    &'static str,
    &'static str,
    [(&'static str, &'static str); 4],
);

const DEMO_BUILDINGS: [Building; 4] = [
    (
        "图书馆",
        "图书馆一层 弱电间",
        [
            ("图书馆东门", "图书馆一层 东侧入口"),
            ("图书馆西门", "图书馆一层 西侧入口"),
            ("古籍阅览室", "图书馆四层 401"),
            ("图书馆机房", "图书馆负一层 B102"),
        ],
    ),
    (
        "学生宿舍3号楼",
        "学生宿舍3号楼 一层值班室",
        [
            ("3号楼正门", "学生宿舍3号楼 南侧"),
            ("3号楼北侧门", "学生宿舍3号楼 北侧"),
            ("3号楼自行车库", "学生宿舍3号楼 负一层"),
            ("3号楼洗衣房", "学生宿舍3号楼 一层 112"),
        ],
    ),
    (
        "实验楼",
        "实验楼一层 配电间",
        [
            ("实验楼大门", "实验楼一层 正门"),
            ("化学实验室A201", "实验楼二层 A201"),
            ("计算机机房B105", "实验楼一层 B105"),
            ("危化品仓库", "实验楼一层 北侧 独立库房"),
        ],
    ),
    (
        "体育馆",
        "体育馆一层 器材管理室",
        [
            ("体育馆正门", "体育馆一层 东侧"),
            ("游泳馆入口", "体育馆一层 西侧"),
            ("健身房", "体育馆二层 205"),
            ("器材室", "体育馆一层 108"),
        ],
    ),
];

/// Where everything listens, from the documented defaults or `--base-port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub uhppote: u16,
    pub zk_first: u16,
    pub line_first: u16,
    pub control: u16,
    /// A port that is taken is replaced by a free one the system picks (the site still
    /// starts); otherwise a taken port stops the site from starting.
    pub free_if_taken: bool,
}

impl Ports {
    /// Every socket on a free port the system picks (tests): read the real ones from the listing.
    pub fn ephemeral() -> Ports {
        Ports {
            uhppote: 0,
            zk_first: 0,
            line_first: 0,
            control: 0,
            free_if_taken: false,
        }
    }

    /// The documented ports, each replaced by a free one when it is taken (the demo: a real
    /// site or an `onecard sim` on this machine keeps its ports). Read the real ones from the
    /// listing and `Site::control`.
    pub fn documented_or_free() -> Ports {
        Ports {
            free_if_taken: true,
            ..Ports::documented()
        }
    }

    fn documented() -> Ports {
        Ports {
            uhppote: 60000,
            zk_first: 4370,
            line_first: 4400,
            control: 4499,
            free_if_taken: false,
        }
    }

    /// The port of the `i`-th of a group starting at `first` (0 stays 0: any free port).
    pub fn nth(first: u16, i: usize) -> Option<u16> {
        if first == 0 {
            return Some(0);
        }
        u16::try_from(i).ok().and_then(|i| first.checked_add(i))
    }

    pub fn new(base: Option<u16>) -> Result<Ports, SiteError> {
        match base {
            None => Ok(Ports::documented()),
            Some(p) if (1024..=u16::MAX - 200).contains(&p) => Ok(Ports {
                uhppote: p,
                zk_first: p + 10,
                line_first: p + 20,
                control: p + 99,
                free_if_taken: false,
            }),
            Some(p) => Err(SiteError::Invalid(format!(
                "--base-port {p} must be between 1024 and 65335"
            ))),
        }
    }
}
