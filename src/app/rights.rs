//! What each effect needs of the session that asks for it. The effect runner asks the session
//! row (`session_actor`) before every effect but the few that sign in, so an ended session, a
//! disabled operator or a role taken away is refused at the action, whatever the console showed.
//!
//! Reads are listed with the actions that may see what they read (the UI hides the same ones).
//! A write needs an open session here, and its own action where the data is: each `db`
//! function authorises the actor it is given, and the runner gives it the actor the session row
//! names now, with the operator's current role.

use super::effect::Effect;
use super::queue;
use super::session;
use super::tabs::doors::records;
use super::tabs::{alarms, attendance, cards, doors, operators, patrol, settlement, terminals};
use crate::domain::permission::{allows, Action, Denied};
use crate::domain::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Signing in (or out): no session to ask.
    Nothing,
    /// An open session of an enabled operator; the `db` function authorises its own action.
    Session,
    /// An open session, and a role that may do one of these.
    Any(&'static [Action]),
    /// An open session, and a role that may do both.
    Both(Action, Action),
}

impl Need {
    /// Whether `role` meets it (the session aside); the first action refused when not.
    pub fn check(self, role: Role) -> Result<(), Denied> {
        let refused = |action| Err(Denied { role, action });
        match self {
            Need::Nothing | Need::Session => Ok(()),
            Need::Any(actions) => match actions.iter().find(|a| allows(role, **a)) {
                Some(_) => Ok(()),
                None => match actions.first() {
                    Some(a) => refused(*a),
                    None => Ok(()),
                },
            },
            Need::Both(a, b) => {
                for action in [a, b] {
                    if !allows(role, action) {
                        return refused(action);
                    }
                }
                Ok(())
            }
        }
    }
}

const AUDIT: &[Action] = &[Action::AuditRead];
const OPERATORS: &[Action] = &[Action::OperatorManage, Action::AuditRead];
const REPORTS: &[Action] = &[Action::ReportExport];
const MONEY: &[Action] = &[Action::MerchantSettle, Action::ReportExport];
const MACHINES: &[Action] = &[Action::AttendanceEdit, Action::TerminalDiagnose];
const ATTENDANCE: &[Action] = &[Action::AttendanceEdit];
const ALARM_HISTORY: &[Action] = &[Action::AlarmAcknowledge];
const PURGE: &[Action] = &[Action::RecordPurge];
const STATEMENT: &[Action] = &[Action::AccountTopUp];

/// What `effect` needs of its session.
pub fn need(effect: &Effect) -> Need {
    use Need::{Any, Both, Nothing, Session};
    match effect {
        Effect::Bell | Effect::Quit => Nothing,
        Effect::Session(e) => match e {
            session::Effect::CheckFirstRun
            | session::Effect::Login { .. }
            | session::Effect::CreateFirstDirector { .. }
            | session::Effect::Logout => Nothing,
            // The session is asked inside (its answer says who is signed in now).
            session::Effect::Check | session::Effect::Unlock { .. } => Nothing,
            session::Effect::ChangeOwnPassword { .. } => Session,
        },
        Effect::Queue(e) => match e {
            queue::Effect::Enqueue { .. } | queue::Effect::Load { .. } => Session,
        },
        Effect::Alarms(e) => match e {
            alarms::Effect::LoadHistory { .. } => Any(ALARM_HISTORY),
            alarms::Effect::LoadAll { .. }
            | alarms::Effect::LoadById { .. }
            | alarms::Effect::Take { .. }
            | alarms::Effect::Acknowledge { .. }
            | alarms::Effect::Clear { .. } => Session,
        },
        Effect::Cards(e) => match e {
            cards::Effect::LoadReport { .. } | cards::Effect::ExportReport { .. } => Any(REPORTS),
            cards::Effect::LoadStatement { .. } => Any(STATEMENT),
            cards::Effect::Import { .. } => Any(&[Action::PersonImport]),
            cards::Effect::LoadRefs { .. }
            | cards::Effect::Search { .. }
            | cards::Effect::LoadPersonCards { .. }
            | cards::Effect::LoadCard { .. }
            | cards::Effect::LoadConfirmations { .. }
            | cards::Effect::Lookup { .. }
            | cards::Effect::Op(_)
            | cards::Effect::LoadStock { .. }
            | cards::Effect::Stock(_)
            | cards::Effect::DeskPresent { .. } => Session,
        },
        Effect::Doors(e) => match e {
            doors::Effect::Records(r) => match r {
                records::Effect::Query { .. } | records::Effect::Export { .. } => Any(REPORTS),
                records::Effect::PurgePreview { .. } | records::Effect::Purge { .. } => Any(PURGE),
                records::Effect::LoadSyncs { .. } => Session,
            },
            doors::Effect::Load { .. }
            | doors::Effect::LoadById { .. }
            | doors::Effect::Flags { .. }
            | doors::Effect::FeedStart
            | doors::Effect::FeedSince { .. }
            | doors::Effect::RemoteOpen { .. }
            | doors::Effect::Settings { .. }
            | doors::Effect::SetInScan { .. }
            | doors::Effect::Follow { .. }
            | doors::Effect::Enqueue { .. } => Session,
        },
        Effect::Patrol(e) => match e {
            patrol::Effect::Export { .. } => Any(REPORTS),
            patrol::Effect::PurgePreview { .. } | patrol::Effect::Purge { .. } => Any(PURGE),
            // The omission report on screen is the control room's (duty operators) too.
            patrol::Effect::LoadReport { .. }
            | patrol::Effect::LoadMaps { .. }
            | patrol::Effect::LoadLive { .. }
            | patrol::Effect::LoadExceptions { .. }
            | patrol::Effect::LoadSetup { .. }
            | patrol::Effect::Place { .. }
            | patrol::Effect::CreateMap { .. }
            | patrol::Effect::DeleteMap { .. }
            | patrol::Effect::Close { .. }
            | patrol::Effect::SaveCheckpoint(_)
            | patrol::Effect::SaveRoute(_)
            | patrol::Effect::SaveGuard(_)
            | patrol::Effect::SaveGroup { .. }
            | patrol::Effect::SaveSchedule(_)
            | patrol::Effect::Delete(_)
            | patrol::Effect::Enqueue { .. } => Session,
        },
        Effect::Attendance(e) => match e {
            attendance::Effect::Machines { .. } | attendance::Effect::Punches { .. } => {
                Any(MACHINES)
            }
            attendance::Effect::Results { .. }
            | attendance::Effect::Totals { .. }
            | attendance::Effect::Corrections { .. }
            | attendance::Effect::Sync { .. }
            | attendance::Effect::Correct { .. }
            | attendance::Effect::Revoke { .. }
            | attendance::Effect::Import { .. } => Any(ATTENDANCE),
            attendance::Effect::Export { .. } => Both(Action::AttendanceEdit, Action::ReportExport),
            attendance::Effect::Enqueue { .. } => Session,
        },
        Effect::Settlement(e) => match e {
            settlement::Effect::Today { .. }
            | settlement::Effect::Board { .. }
            | settlement::Effect::Statements { .. }
            | settlement::Effect::Daily { .. }
            | settlement::Effect::Missing { .. } => Any(MONEY),
            settlement::Effect::Settle { .. } => Any(&[Action::MerchantSettle]),
            settlement::Effect::Export { .. } => Any(REPORTS),
        },
        Effect::Terminals(e) => match e {
            terminals::Effect::Load { .. }
            | terminals::Effect::LoadById { .. }
            | terminals::Effect::SetInScan { .. }
            | terminals::Effect::Edit { .. }
            | terminals::Effect::Enqueue { .. }
            | terminals::Effect::Trace { .. } => Session,
        },
        Effect::Operators(e) => match e {
            operators::Effect::Load { .. } => Any(OPERATORS),
            operators::Effect::LoadAudit { .. } | operators::Effect::VerifyAudit => Any(AUDIT),
            operators::Effect::Add { .. }
            | operators::Effect::Unlock { .. }
            | operators::Effect::ResetPassword { .. }
            | operators::Effect::Disable { .. } => Any(&[Action::OperatorManage]),
        },
    }
}
