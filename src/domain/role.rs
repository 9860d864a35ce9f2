//! The centre's duty list: who an operator is.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Director,
    SystemAdministrator,
    DataAdministrator,
    CardDesk,
    DoorAdministrator,
    AttendanceAdministrator,
    DutyOperator,
    Technician,
    /// The control room's wall screen: reads what the wallboard shows, changes nothing.
    Wallboard,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Director,
        Role::SystemAdministrator,
        Role::DataAdministrator,
        Role::CardDesk,
        Role::DoorAdministrator,
        Role::AttendanceAdministrator,
        Role::DutyOperator,
        Role::Technician,
        Role::Wallboard,
    ];

    /// The name in SQL (`role.name`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Director => "director",
            Role::SystemAdministrator => "system_administrator",
            Role::DataAdministrator => "data_administrator",
            Role::CardDesk => "card_desk",
            Role::DoorAdministrator => "door_administrator",
            Role::AttendanceAdministrator => "attendance_administrator",
            Role::DutyOperator => "duty_operator",
            Role::Technician => "technician",
            Role::Wallboard => "wallboard",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (one of: director, system_administrator, data_administrator, card_desk, door_administrator, attendance_administrator, duty_operator, technician, wallboard)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.name() == wanted)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}
