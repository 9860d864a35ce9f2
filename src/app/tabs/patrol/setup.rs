//! The Patrol tab's setup lists (checkpoints, routes, guards, guard groups, schedules) and their
//! add and edit forms, on the one form engine. What is typed is read here; the database checks
//! the rest and its refusals come back in the operator's language.

use super::Effect;
use crate::app::failure::Failure;
use crate::app::form::{Field, FieldId, Form, Input, Opt};
use crate::app::load::Shown;
use crate::db::patrol::{Checkpoint, Guard, GuardGroup, Route, RoutePoint, Schedule};
use crate::db::terminal::Terminal;
use crate::i18n::{tr, Lang};
use chrono::{NaiveDate, NaiveTime};

/// Everything the setup lists show, read at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupData {
    pub checkpoints: Vec<Checkpoint>,
    pub routes: Vec<Route>,
    pub guards: Vec<Guard>,
    pub groups: Vec<GuardGroup>,
    pub schedules: Vec<Schedule>,
    /// The patrol readers (terminals of kind `patrol_reader`).
    pub readers: Vec<Terminal>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum List {
    #[default]
    Checkpoints,
    Routes,
    Guards,
    Groups,
    Schedules,
    Readers,
}

impl List {
    pub const ALL: [List; 6] = [
        List::Checkpoints,
        List::Routes,
        List::Guards,
        List::Groups,
        List::Schedules,
        List::Readers,
    ];

    pub fn key(self) -> &'static str {
        match self {
            List::Checkpoints => "checkpoints",
            List::Routes => "routes",
            List::Guards => "guards",
            List::Groups => "groups",
            List::Schedules => "schedules",
            List::Readers => "readers",
        }
    }

    pub fn next(self) -> List {
        let i = List::ALL.iter().position(|l| *l == self).unwrap_or(0);
        List::ALL[(i + 1) % List::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupField {
    Tag,
    Name,
    Location,
    Early,
    Late,
    Points,
    AnyOrder,
    Grace,
    Duration,
    Online,
    ReaderType,
    Card,
    Group,
    Route,
    Guard,
    Shift,
    Days,
    FirstStart,
    LastStart,
    Every,
    ValidFrom,
    ValidTo,
}

impl FieldId for SetupField {
    fn label(self) -> &'static str {
        match self {
            SetupField::Tag => "patrol.form.tag",
            SetupField::Name => "patrol.form.name",
            SetupField::Location => "patrol.form.location",
            SetupField::Early => "patrol.form.early",
            SetupField::Late => "patrol.form.late",
            SetupField::Points => "patrol.form.points",
            SetupField::AnyOrder => "patrol.form.any_order",
            SetupField::Grace => "patrol.form.grace",
            SetupField::Duration => "patrol.form.duration",
            SetupField::Online => "patrol.form.online",
            SetupField::ReaderType => "patrol.form.reader_type",
            SetupField::Card => "patrol.form.card",
            SetupField::Group => "patrol.form.group",
            SetupField::Route => "patrol.form.route",
            SetupField::Guard => "patrol.form.guard",
            SetupField::Shift => "patrol.form.shift",
            SetupField::Days => "patrol.form.days",
            SetupField::FirstStart => "patrol.form.first_start",
            SetupField::LastStart => "patrol.form.last_start",
            SetupField::Every => "patrol.form.every",
            SetupField::ValidFrom => "patrol.form.valid_from",
            SetupField::ValidTo => "patrol.form.valid_to",
        }
    }
}

/// An add or edit form of one list's row (`id` 0: a new one; a checkpoint's is its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupForm {
    pub list: List,
    pub id: i64,
    pub form: Form<SetupField>,
}

#[derive(Debug, Clone, Default)]
pub struct SetupModel {
    pub list: List,
    pub data: SetupData,
    pub at: usize,
    pub shown: Shown,
    pub loaded: bool,
}

/// A row to delete: its list, id and what the question calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub list: List,
    pub id: i64,
    pub name: String,
}

impl SetupModel {
    pub fn len(&self) -> usize {
        let d = &self.data;
        match self.list {
            List::Checkpoints => d.checkpoints.len(),
            List::Routes => d.routes.len(),
            List::Guards => d.guards.len(),
            List::Groups => d.groups.len(),
            List::Schedules => d.schedules.len(),
            List::Readers => d.readers.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn route_name(&self, id: i64) -> String {
        self.data
            .routes
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| format!("#{id}"), |r| r.name.clone())
    }

    pub fn guard_name(&self, id: i64) -> String {
        self.data
            .guards
            .iter()
            .find(|g| g.id == id)
            .map_or_else(|| format!("#{id}"), |g| g.name.clone())
    }

    pub fn group_name(&self, id: i64) -> String {
        self.data
            .groups
            .iter()
            .find(|g| g.id == id)
            .map_or_else(|| format!("#{id}"), |g| g.name.clone())
    }

    /// The selected row, as something to delete.
    pub fn item(&self) -> Option<Item> {
        let d = &self.data;
        let i = self.at;
        let (id, name) = match self.list {
            List::Checkpoints => d.checkpoints.get(i).map(|c| (c.tag, c.name.clone()))?,
            List::Routes => d.routes.get(i).map(|r| (r.id, r.name.clone()))?,
            List::Guards => d.guards.get(i).map(|g| (g.id, g.name.clone()))?,
            List::Groups => d.groups.get(i).map(|g| (g.id, g.name.clone()))?,
            List::Schedules => d.schedules.get(i).map(|s| {
                (
                    s.id,
                    format!("{} · {}", self.route_name(s.route_id), s.shift),
                )
            })?,
            List::Readers => d.readers.get(i).map(|t| (t.id, t.name.clone()))?,
        };
        Some(Item {
            list: self.list,
            id,
            name,
        })
    }

    /// The form for the selected row (`edit`) or a new one.
    pub fn form(&self, lang: Lang, edit: bool) -> Option<SetupForm> {
        if self.list == List::Readers {
            // Readers are added in the Terminals tab.
            return None;
        }
        let d = &self.data;
        let title_key = format!(
            "patrol.form.title.{}_{}",
            if edit { "edit" } else { "add" },
            self.list.key()
        );
        let title = tr(lang, &title_key).to_string();
        let yes_no = |v: bool| {
            Input::choice(
                vec![
                    Opt::new("yes", tr(lang, "patrol.yes")),
                    Opt::new("no", tr(lang, "patrol.no")),
                ],
                if v { "yes" } else { "no" },
            )
        };
        let opt_s = |s: Option<i32>| s.map(|s| s.to_string()).unwrap_or_default();
        let none = || Opt::new("", tr(lang, "patrol.none"));
        let (id, fields) = match self.list {
            List::Checkpoints => {
                let c = if edit {
                    d.checkpoints.get(self.at).cloned()?
                } else {
                    Checkpoint {
                        tag: 0,
                        name: String::new(),
                        location: String::new(),
                        place: None,
                        early_s: None,
                        late_s: None,
                    }
                };
                let tag = if edit {
                    Field::with(SetupField::Tag, Input::Shown(c.tag.to_string()))
                } else {
                    Field::text(SetupField::Tag, "")
                };
                (
                    c.tag,
                    vec![
                        tag,
                        Field::text(SetupField::Name, &c.name),
                        Field::text(SetupField::Location, &c.location),
                        Field::text(SetupField::Early, &opt_s(c.early_s)),
                        Field::text(SetupField::Late, &opt_s(c.late_s)),
                    ],
                )
            }
            List::Routes => {
                let r = if edit {
                    d.routes.get(self.at).cloned()?
                } else {
                    Route::new("", vec![])
                };
                let points = r
                    .points
                    .iter()
                    .map(|p| format!("{}:{}", p.checkpoint_tag, p.offset_s / 60))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    r.id,
                    vec![
                        Field::text(SetupField::Name, &r.name),
                        Field::text(SetupField::Points, &points),
                        Field::with(SetupField::AnyOrder, yes_no(r.any_order)),
                        Field::text(SetupField::Early, &r.early_s.to_string()),
                        Field::text(SetupField::Late, &r.late_s.to_string()),
                        Field::text(SetupField::Grace, &r.grace_s.to_string()),
                        Field::text(SetupField::Duration, &(r.duration_s / 60).to_string()),
                        Field::with(SetupField::Online, yes_no(r.online)),
                        Field::text(SetupField::ReaderType, &r.reader_type),
                    ],
                )
            }
            List::Guards => {
                let g = if edit {
                    d.guards.get(self.at).cloned()?
                } else {
                    Guard {
                        id: 0,
                        card: 0,
                        name: String::new(),
                        group_id: None,
                    }
                };
                let mut groups = vec![none()];
                groups.extend(d.groups.iter().map(|x| Opt::new(x.id.to_string(), &x.name)));
                let card = if g.card == 0 {
                    String::new()
                } else {
                    g.card.to_string()
                };
                (
                    g.id,
                    vec![
                        Field::text(SetupField::Card, &card),
                        Field::text(SetupField::Name, &g.name),
                        Field::with(
                            SetupField::Group,
                            Input::choice(
                                groups,
                                &g.group_id.map(|i| i.to_string()).unwrap_or_default(),
                            ),
                        ),
                    ],
                )
            }
            List::Groups => {
                let g = if edit {
                    d.groups.get(self.at).cloned()?
                } else {
                    GuardGroup {
                        id: 0,
                        name: String::new(),
                    }
                };
                (g.id, vec![Field::text(SetupField::Name, &g.name)])
            }
            List::Readers => return None,
            List::Schedules => {
                let s = if edit {
                    d.schedules.get(self.at).cloned()?
                } else {
                    Schedule {
                        id: 0,
                        route_id: d.routes.first().map_or(0, |r| r.id),
                        guard_id: d.guards.first().map(|g| g.id),
                        group_id: None,
                        shift: String::new(),
                        dow_mask: 127,
                        first_start: NaiveTime::from_hms_opt(22, 0, 0).unwrap_or_default(),
                        last_start: NaiveTime::from_hms_opt(6, 0, 0).unwrap_or_default(),
                        every_min: 120,
                        valid_from: chrono::Utc::now().date_naive(),
                        valid_to: None,
                    }
                };
                let routes = d
                    .routes
                    .iter()
                    .map(|r| Opt::new(r.id.to_string(), &r.name))
                    .collect();
                let mut guards = vec![none()];
                guards.extend(d.guards.iter().map(|g| Opt::new(g.id.to_string(), &g.name)));
                let mut groups = vec![none()];
                groups.extend(d.groups.iter().map(|g| Opt::new(g.id.to_string(), &g.name)));
                let id_of = |i: Option<i64>| i.map(|i| i.to_string()).unwrap_or_default();
                (
                    s.id,
                    vec![
                        Field::with(
                            SetupField::Route,
                            Input::choice(routes, &s.route_id.to_string()),
                        ),
                        Field::with(SetupField::Guard, Input::choice(guards, &id_of(s.guard_id))),
                        Field::with(SetupField::Group, Input::choice(groups, &id_of(s.group_id))),
                        Field::text(SetupField::Shift, &s.shift),
                        Field::text(SetupField::Days, &days_text(s.dow_mask)),
                        Field::text(
                            SetupField::FirstStart,
                            &s.first_start.format("%H:%M").to_string(),
                        ),
                        Field::text(
                            SetupField::LastStart,
                            &s.last_start.format("%H:%M").to_string(),
                        ),
                        Field::text(SetupField::Every, &s.every_min.to_string()),
                        Field::text(SetupField::ValidFrom, &s.valid_from.to_string()),
                        Field::text(
                            SetupField::ValidTo,
                            &s.valid_to.map(|d| d.to_string()).unwrap_or_default(),
                        ),
                    ],
                )
            }
        };
        let form = Form::new(title, fields).with_intro(vec![tr(
            lang,
            &format!("patrol.form.intro.{}", self.list.key()),
        )
        .to_string()]);
        Some(SetupForm {
            list: self.list,
            id,
            form,
        })
    }
}

/// "1234567": the ISO weekdays (Monday 1) a mask holds.
pub fn days_text(mask: i16) -> String {
    (1..=7)
        .filter(|d| (mask >> (d - 1)) & 1 == 1)
        .map(|d| char::from(b'0' + d as u8))
        .collect()
}

/// The effect a filled form asks for, or the field at fault and why.
pub fn submit(
    f: &SetupForm,
    place: Option<(i64, f32, f32)>,
) -> Result<Effect, (SetupField, Failure)> {
    let form = &f.form;
    let text = |id| form.text(id).trim().to_string();
    let int = |id: SetupField| -> Result<i32, (SetupField, Failure)> {
        text(id)
            .parse::<i32>()
            .map_err(|_| (id, Failure::Invalid("patrol.error.not_a_number")))
    };
    let opt_int = |id: SetupField| -> Result<Option<i32>, (SetupField, Failure)> {
        if text(id).is_empty() {
            Ok(None)
        } else {
            int(id).map(Some)
        }
    };
    let id_choice = |id: SetupField| form.choice(id).parse::<i64>().ok();
    Ok(match f.list {
        List::Readers => return Err((SetupField::Name, Failure::Invalid("patrol.error.not_here"))),
        List::Checkpoints => {
            let tag = if f.id != 0 {
                f.id
            } else {
                text(SetupField::Tag).parse::<i64>().map_err(|_| {
                    (
                        SetupField::Tag,
                        Failure::Invalid("patrol.error.not_a_number"),
                    )
                })?
            };
            Effect::SaveCheckpoint(super::CheckpointEdit {
                tag,
                name: text(SetupField::Name),
                location: text(SetupField::Location),
                place: place.map(|(map, x, y)| super::Spot { map, x, y }),
                early_s: opt_int(SetupField::Early)?,
                late_s: opt_int(SetupField::Late)?,
            })
        }
        List::Routes => {
            let points = parse_points(&text(SetupField::Points)).ok_or((
                SetupField::Points,
                Failure::Invalid("patrol.error.bad_points"),
            ))?;
            Effect::SaveRoute(Route {
                id: f.id,
                name: text(SetupField::Name),
                any_order: form.choice(SetupField::AnyOrder) == "yes",
                early_s: int(SetupField::Early)?,
                late_s: int(SetupField::Late)?,
                grace_s: int(SetupField::Grace)?,
                duration_s: int(SetupField::Duration)?.saturating_mul(60),
                online: form.choice(SetupField::Online) == "yes",
                reader_type: text(SetupField::ReaderType),
                points,
            })
        }
        List::Guards => Effect::SaveGuard(Guard {
            id: f.id,
            card: text(SetupField::Card).parse::<i64>().map_err(|_| {
                (
                    SetupField::Card,
                    Failure::Invalid("patrol.error.not_a_number"),
                )
            })?,
            name: text(SetupField::Name),
            group_id: id_choice(SetupField::Group),
        }),
        List::Groups => Effect::SaveGroup {
            id: f.id,
            name: text(SetupField::Name),
        },
        List::Schedules => {
            let time = |id: SetupField| {
                NaiveTime::parse_from_str(&text(id), "%H:%M")
                    .map_err(|_| (id, Failure::Invalid("patrol.error.not_a_time")))
            };
            let date = |id: SetupField| {
                NaiveDate::parse_from_str(&text(id), "%Y-%m-%d")
                    .map_err(|_| (id, Failure::Invalid("patrol.error.not_a_date")))
            };
            let mut dow_mask = 0i16;
            for c in text(SetupField::Days).chars() {
                match c.to_digit(10) {
                    Some(d @ 1..=7) => dow_mask |= 1 << (d - 1),
                    _ if c == ' ' || c == ',' => {}
                    _ => return Err((SetupField::Days, Failure::Invalid("patrol.error.bad_days"))),
                }
            }
            Effect::SaveSchedule(Schedule {
                id: f.id,
                route_id: id_choice(SetupField::Route).ok_or((
                    SetupField::Route,
                    Failure::Invalid("patrol.error.no_route_yet"),
                ))?,
                guard_id: id_choice(SetupField::Guard),
                group_id: id_choice(SetupField::Group),
                shift: text(SetupField::Shift),
                dow_mask,
                first_start: time(SetupField::FirstStart)?,
                last_start: time(SetupField::LastStart)?,
                every_min: int(SetupField::Every)?,
                valid_from: date(SetupField::ValidFrom)?,
                valid_to: if text(SetupField::ValidTo).is_empty() {
                    None
                } else {
                    Some(date(SetupField::ValidTo)?)
                },
            })
        }
    })
}

/// "101:0, 102:5, 103:12": checkpoint tags with their minutes after the round starts. None
/// when a part is not `tag:minutes` (an empty list is for the database to refuse).
pub fn parse_points(text: &str) -> Option<Vec<RoutePoint>> {
    text.split([',', '，', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (tag, min) = p.split_once([':', '：'])?;
            Some(RoutePoint {
                checkpoint_tag: tag.trim().parse().ok()?,
                offset_s: min.trim().parse::<i32>().ok()?.checked_mul(60)?,
            })
        })
        .collect()
}
