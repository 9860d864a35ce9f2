//! Role → action. Every state-changing action is checked here and nowhere else.

use super::role::Role;
use std::fmt;

/// What an operator can do that changes state (or reveals protected data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    OperatorManage,
    SettingChange,
    DatabaseBackup,
    DatabaseRestore,
    AuditRead,
    PersonEdit,
    PersonImport,
    CardIssue,
    CardLifecycle,
    CardPin,
    AccountTopUp,
    AccountCorrection,
    DoorGrant,
    DoorSetting,
    DoorRemoteOpen,
    DoorRecordExtract,
    AlarmAcknowledge,
    PatrolEdit,
    AttendanceEdit,
    MerchantSettle,
    TerminalEdit,
    TerminalDiagnose,
    RecordPurge,
    ReportExport,
}

impl Action {
    pub const ALL: [Action; 24] = [
        Action::OperatorManage,
        Action::SettingChange,
        Action::DatabaseBackup,
        Action::DatabaseRestore,
        Action::AuditRead,
        Action::PersonEdit,
        Action::PersonImport,
        Action::CardIssue,
        Action::CardLifecycle,
        Action::CardPin,
        Action::AccountTopUp,
        Action::AccountCorrection,
        Action::DoorGrant,
        Action::DoorSetting,
        Action::DoorRemoteOpen,
        Action::DoorRecordExtract,
        Action::AlarmAcknowledge,
        Action::PatrolEdit,
        Action::AttendanceEdit,
        Action::MerchantSettle,
        Action::TerminalEdit,
        Action::TerminalDiagnose,
        Action::RecordPurge,
        Action::ReportExport,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::OperatorManage => "operator.manage",
            Action::SettingChange => "setting.change",
            Action::DatabaseBackup => "database.backup",
            Action::DatabaseRestore => "database.restore",
            Action::AuditRead => "audit.read",
            Action::PersonEdit => "person.edit",
            Action::PersonImport => "person.import",
            Action::CardIssue => "card.issue",
            Action::CardLifecycle => "card.lifecycle",
            Action::CardPin => "card.pin",
            Action::AccountTopUp => "account.top-up",
            Action::AccountCorrection => "account.correction",
            Action::DoorGrant => "door.grant",
            Action::DoorSetting => "door.setting",
            Action::DoorRemoteOpen => "door.remote-open",
            Action::DoorRecordExtract => "door.record-extract",
            Action::AlarmAcknowledge => "alarm.acknowledge",
            Action::PatrolEdit => "patrol.edit",
            Action::AttendanceEdit => "attendance.edit",
            Action::MerchantSettle => "merchant.settle",
            Action::TerminalEdit => "terminal.edit",
            Action::TerminalDiagnose => "terminal.diagnose",
            Action::RecordPurge => "record.purge",
            Action::ReportExport => "report.export",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The one permission check.
pub fn allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Director => true,
        // Runs the system; money and cards stay with the desks that answer for them.
        Role::SystemAdministrator => matches!(
            action,
            OperatorManage
                | SettingChange
                | DatabaseBackup
                | DatabaseRestore
                | AuditRead
                | DoorSetting
                | TerminalEdit
                | TerminalDiagnose
                | RecordPurge
                | ReportExport
        ),
        Role::DataAdministrator => matches!(
            action,
            PersonEdit | PersonImport | DatabaseBackup | AuditRead | ReportExport
        ),
        Role::CardDesk => matches!(
            action,
            CardIssue | CardLifecycle | CardPin | AccountTopUp | ReportExport
        ),
        Role::DoorAdministrator => matches!(
            action,
            DoorGrant
                | DoorSetting
                | DoorRemoteOpen
                | DoorRecordExtract
                | AlarmAcknowledge
                | ReportExport
        ),
        Role::AttendanceAdministrator => matches!(action, AttendanceEdit | ReportExport),
        // The control room: alarms, doors, patrol watch.
        Role::DutyOperator => matches!(action, DoorRemoteOpen | AlarmAcknowledge | PatrolEdit),
        Role::Technician => matches!(action, TerminalEdit | TerminalDiagnose | DoorRecordExtract),
        // The wall screen: it shows alarms, doors, patrol and terminals, and does nothing.
        Role::Wallboard => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {role} may not do {action}")]
pub struct Denied {
    pub role: Role,
    pub action: Action,
}

/// `allows` as a `Result`, for `?` at the top of every state-changing operation.
pub fn check(role: Role, action: Action) -> Result<(), Denied> {
    if allows(role, action) {
        Ok(())
    } else {
        Err(Denied { role, action })
    }
}

/// Who is acting. An operator acts with a role; the local shell (whoever owns the data directory
/// or holds the database URL) acts with none and is not limited, as it could edit the data anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub operator_id: Option<i64>,
    pub name: String,
    pub role: Option<Role>,
    /// The console session it acts in, when it acts from a console: the audit row of each
    /// change asks that session again inside the change's own transaction.
    pub session: Option<i64>,
}

impl Actor {
    pub fn operator(id: i64, login: &str, role: Role) -> Actor {
        Actor {
            operator_id: Some(id),
            name: login.to_string(),
            role: Some(role),
            session: None,
        }
    }

    /// The shell user, named `cli:<os user>` in the audit log.
    pub fn shell(os_user: &str) -> Actor {
        Actor {
            operator_id: None,
            name: format!("cli:{os_user}"),
            role: None,
            session: None,
        }
    }

    pub fn authorize(&self, action: Action) -> Result<(), Denied> {
        match self.role {
            Some(role) => check(role, action),
            None => Ok(()),
        }
    }
}
