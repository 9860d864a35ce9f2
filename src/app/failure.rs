//! Refusals and failures as data: what the effect runner reports and `words::failure` renders
//! in the operator's language (at the moment it is shown, so `g l` renders it anew). Nothing
//! here holds English prose: a database's or a file system's own message never reaches the
//! screen, only its kind.

use crate::db::alarm::AlarmError;
use crate::db::card::{BatchError, BatchWhy, CardError};
use crate::db::command::CommandError;
use crate::db::ledger::LedgerError;
use crate::db::listen::TraceError;
use crate::db::operator::{LoginError, OperatorError};
use crate::db::stock::StockError;
use crate::db::terminal::InventoryError;
use crate::domain::card::{CardState, Refusal};
use crate::domain::money::Money;
use crate::domain::password::PolicyError;
use crate::domain::permission::Denied;

/// Why the database did not do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTrouble {
    /// Not reachable now; onecard keeps trying.
    Unreachable,
    /// A unique key refused a second one.
    Exists,
    /// A rule in the database refused the change (SQLSTATE).
    Refused {
        code: String,
    },
    Other,
}

impl From<&sqlx::Error> for DbTrouble {
    fn from(e: &sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                DbTrouble::Unreachable
            }
            sqlx::Error::Database(d) if d.is_unique_violation() => DbTrouble::Exists,
            sqlx::Error::Database(d) => DbTrouble::Refused {
                code: d.code().map(|c| c.to_string()).unwrap_or_default(),
            },
            _ => DbTrouble::Other,
        }
    }
}

/// A file the operator named could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTrouble {
    Read {
        path: String,
        kind: std::io::ErrorKind,
    },
    Write {
        path: String,
        kind: std::io::ErrorKind,
    },
    /// It exists already and nobody said to overwrite it.
    Exists { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The console has no operator signed in.
    SignedOut,
    Denied(Denied),
    Db(DbTrouble),
    File(FileTrouble),
    // Signing in and operators.
    WrongCredentials,
    /// Locked until this local time ("14:05").
    Locked {
        until: String,
    },
    Disabled,
    /// The console's session no longer acts: ended (signed out elsewhere, kicked) or its
    /// operator disabled since. The console goes back to the sign-in screen.
    SessionEnded {
        disabled: bool,
    },
    Policy(PolicyError),
    LoginTaken(String),
    BadLogin,
    NoOperator(String),
    NotFirstRun,
    SelfDisable,
    // The card desk.
    Refusal(Refusal),
    NoCard,
    CardNumberTaken {
        card_no: i64,
        holder: String,
    },
    PersonHasCard {
        person_no: String,
        person_name: String,
        card_no: i64,
        state: CardState,
    },
    PersonLeft,
    WrongPin,
    InsufficientBalance {
        balance: Money,
        needed: Money,
    },
    BadAmount(Money),
    /// A batch that changed nothing: each card number (or "#id") and why.
    BatchRefused(Vec<(String, Failure)>),
    StockBadQuantity,
    StockNotOnHand {
        on_hand: i64,
        quantity: i32,
    },
    // Alarms.
    AlarmGone(i64),
    AlarmState {
        id: i64,
        state: String,
    },
    NoteMissing,
    ReasonMissing,
    // Terminals.
    TerminalNameEmpty,
    TerminalBadDate(String),
    TerminalGone(i64),
    NoLine(i64),
    // Doors and their records.
    DoorGone {
        terminal_id: i64,
        door: i16,
    },
    /// A door's value refused (a department a query names, a retention period).
    DoorInvalid {
        field: crate::db::door::Field,
        value: String,
        problem: crate::db::door::Problem,
    },
    /// A door text that names no door, or several (`candidates`: `<controller>/<n>`).
    DoorUnknown(String),
    DoorAmbiguous {
        text: String,
        candidates: Vec<String>,
    },
    /// A purge cut-off inside the retention period, not forced; `latest` in local time.
    PurgeInsideRetention {
        retention_days: i32,
        latest: String,
    },
    /// An import that changed nothing: the file and each bad row (its line and problems, as
    /// data: `words` says them in the operator's language).
    ImportRows {
        path: String,
        rows: Vec<crate::import::RowError>,
    },
    /// The audit chain is broken at this row: edited, or a row before it removed.
    AuditBroken {
        id: i64,
        edited: bool,
    },
    // The desk's money.
    /// A refund beyond the cash the desk's drawer holds.
    DrawerShort {
        holds: Money,
        needed: Money,
    },
    /// A reversal of more than the purchase was.
    OverReversal {
        original: Money,
        asked: Money,
    },
    AlreadyReversed {
        purchase: i64,
        by: i64,
    },
    /// No purchase by that movement id, or terminal and transaction number.
    NoPurchase(String),
    NoDesk(String),
    /// A shift closed with a difference and no reason.
    ShiftDifference {
        difference: Money,
    },
    // Merchants and settlement.
    /// Not a period: the text typed.
    BadPeriod(String),
    PeriodNotEnded {
        period: String,
        ends: chrono::DateTime<chrono::Utc>,
    },
    PeriodOverlaps {
        merchant: String,
        period: String,
        settled: String,
    },
    /// Every merchant asked for is settled for this period already: it is locked.
    PeriodSettled {
        period: String,
        merchants: usize,
    },
    MerchantNameEmpty,
    MerchantNameTaken(String),
    MerchantBadRate(String),
    MerchantNotFound(String),
    /// `state` and `wanted` are state names (`approved`).
    MerchantState {
        name: String,
        state: String,
        wanted: String,
    },
    MerchantNoSuchPos(String),
    MerchantPosOwned {
        terminal: String,
        owner: String,
    },
    /// A refusal with nothing to fill in: its catalogue key.
    Invalid(&'static str),
    /// Patrol's setup, maps and exceptions refused it.
    Patrol(PatrolWhy),
    /// Attendance's shifts, schedules, corrections or reports refused it.
    Attendance(AttendanceWhy),
    /// A machine's punch file refused whole (nothing stored): the line and why.
    PunchFile {
        path: String,
        line: u64,
        problem: crate::import::punches::PunchProblem,
    },
}

/// Why attendance refused, as data ([`crate::db::attendance::AttendanceError`] without its
/// database, permission and file cases, which are failures of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendanceWhy {
    NoName,
    ShiftTaken(String),
    NoShift(String),
    NoDepartment(String),
    NoPerson(String),
    NoSchedule(i64),
    NoHoliday(chrono::NaiveDate),
    NoCorrection(i64),
    SameStartEnd,
    OutsideDay,
    BadMinutes,
    BadRestDays,
    BadRange,
    /// `whose`: department or person.
    Overlaps(&'static str),
    ShiftInUse {
        name: String,
        schedules: i64,
    },
    NoReason,
    AlreadyRevoked(i64),
    BadStatus(String),
}

impl From<crate::db::attendance::AttendanceError> for Failure {
    fn from(e: crate::db::attendance::AttendanceError) -> Self {
        use crate::db::attendance::AttendanceError as E;
        use AttendanceWhy as W;
        Failure::Attendance(match e {
            E::Denied(d) => return Failure::Denied(d),
            E::Sql(e) => return e.into(),
            E::Export(e) => return e.into(),
            E::NoName => W::NoName,
            E::ShiftTaken(n) => W::ShiftTaken(n),
            E::NoShift(n) => W::NoShift(n),
            E::NoDepartment(n) => W::NoDepartment(n),
            E::NoPerson(n) => W::NoPerson(n),
            E::NoSchedule(id) => W::NoSchedule(id),
            E::NoHoliday(d) => W::NoHoliday(d),
            E::NoCorrection(id) => W::NoCorrection(id),
            E::SameStartEnd => W::SameStartEnd,
            E::OutsideDay => W::OutsideDay,
            E::BadMinutes => W::BadMinutes,
            E::BadRestDays => W::BadRestDays,
            E::BadRange => W::BadRange,
            E::Overlaps(w) => W::Overlaps(w),
            E::ShiftInUse { name, schedules } => W::ShiftInUse { name, schedules },
            E::NoReason => W::NoReason,
            E::AlreadyRevoked(id) => W::AlreadyRevoked(id),
            E::BadStatus(s) => W::BadStatus(s),
        })
    }
}

/// Why patrol refused, as data ([`crate::db::patrol::PatrolError`] without its database and
/// permission cases, which are failures of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatrolWhy {
    NoName,
    BadTag(i64),
    BadCard(i64),
    /// `what`: map, checkpoint, route, guard, group.
    NameTaken {
        what: &'static str,
        name: String,
    },
    CardTaken {
        card: i64,
        name: String,
    },
    NoCheckpoint(i64),
    NoRoute(String),
    NoGuard(String),
    NoGroup(String),
    NoMap(String),
    NoSchedule(i64),
    EmptyRoute,
    OffsetsOutOfOrder {
        tag: i64,
    },
    CheckpointInUse {
        tag: i64,
        route: String,
    },
    GroupInUse {
        name: String,
        schedules: i64,
    },
    BadEvery,
    NoDays,
    BadValidity,
    BadSeconds,
    BadPlan,
    /// Not a PNG this console reads (the decoder's own words are not shown).
    BadImage,
    OffMap,
    NoException(i64),
    AlreadyClosed,
    NoComment,
    BadRange,
}

impl From<crate::db::patrol::PatrolError> for Failure {
    fn from(e: crate::db::patrol::PatrolError) -> Self {
        use crate::db::patrol::PatrolError as E;
        use PatrolWhy as W;
        Failure::Patrol(match e {
            E::Denied(d) => return Failure::Denied(d),
            E::Sql(e) => return e.into(),
            E::Export(e) => return e.into(),
            E::NoName => W::NoName,
            E::BadTag(t) => W::BadTag(t),
            E::BadCard(c) => W::BadCard(c),
            E::NameTaken { what, name } => W::NameTaken { what, name },
            E::CardTaken { card, name } => W::CardTaken { card, name },
            E::NoCheckpoint(t) => W::NoCheckpoint(t),
            E::NoRoute(r) => W::NoRoute(r),
            E::NoGuard(g) => W::NoGuard(g),
            E::NoGroup(g) => W::NoGroup(g),
            E::NoMap(m) => W::NoMap(m),
            E::NoSchedule(s) => W::NoSchedule(s),
            E::EmptyRoute => W::EmptyRoute,
            E::OffsetsOutOfOrder { tag } => W::OffsetsOutOfOrder { tag },
            E::CheckpointInUse { tag, route } => W::CheckpointInUse { tag, route },
            E::GroupInUse { name, schedules } => W::GroupInUse { name, schedules },
            E::BadEvery => W::BadEvery,
            E::NoDays => W::NoDays,
            E::BadValidity => W::BadValidity,
            E::BadSeconds => W::BadSeconds,
            E::BadPlan => W::BadPlan,
            E::BadImage(_) => W::BadImage,
            E::OffMap { .. } => W::OffMap,
            E::NoException(v) => W::NoException(v),
            E::AlreadyClosed => W::AlreadyClosed,
            E::NoComment => W::NoComment,
            E::BadRange => W::BadRange,
        })
    }
}

impl From<Denied> for Failure {
    fn from(d: Denied) -> Self {
        Failure::Denied(d)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(DbTrouble::from(&e))
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refusal(r)
    }
}

impl From<CardError> for Failure {
    fn from(e: CardError) -> Self {
        match e {
            CardError::Refused(r) => Failure::Refusal(r),
            CardError::Denied(d) => Failure::Denied(d),
            CardError::NotFound => Failure::NoCard,
            CardError::CardNumberTaken { card_no, holder } => {
                Failure::CardNumberTaken { card_no, holder }
            }
            CardError::PersonHasCard {
                person_no,
                person_name,
                card_no,
                state,
            } => Failure::PersonHasCard {
                person_no,
                person_name,
                card_no,
                state,
            },
            CardError::PersonLeft => Failure::PersonLeft,
            CardError::WrongPin => Failure::WrongPin,
            CardError::InsufficientBalance { balance, needed } => {
                Failure::InsufficientBalance { balance, needed }
            }
            CardError::BadInput(_) => Failure::Invalid("card.error.bad_input"),
            CardError::Sql(e) => e.into(),
        }
    }
}

impl From<BatchError> for Failure {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Refused(rows) => Failure::BatchRefused(
                rows.into_iter()
                    .map(|r| {
                        let card = r
                            .card_no
                            .map_or_else(|| format!("#{}", r.card_id), |n| n.to_string());
                        (card, r.why.into())
                    })
                    .collect(),
            ),
            BatchError::Denied(d) => Failure::Denied(d),
            BatchError::Sql(e) => e.into(),
        }
    }
}

impl From<BatchWhy> for Failure {
    fn from(w: BatchWhy) -> Self {
        match w {
            BatchWhy::ListedTwice => Failure::Invalid("card.batch.listed_twice"),
            BatchWhy::NoSuchCard => Failure::NoCard,
            BatchWhy::Refused(r) => Failure::Refusal(r),
            BatchWhy::PersonLeft => Failure::PersonLeft,
            BatchWhy::Other(_) => Failure::Invalid("card.error.bad_input"),
        }
    }
}

impl From<StockError> for Failure {
    fn from(e: StockError) -> Self {
        match e {
            StockError::BadQuantity => Failure::StockBadQuantity,
            StockError::NotOnHand { on_hand, quantity } => {
                Failure::StockNotOnHand { on_hand, quantity }
            }
            StockError::Denied(d) => Failure::Denied(d),
            StockError::Sql(e) => e.into(),
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::BadAmount(a) => Failure::BadAmount(a),
            LedgerError::Denied(d) => Failure::Denied(d),
            LedgerError::Sql(e) => e.into(),
            LedgerError::NoPerson(_) | LedgerError::NoAccount(_) => {
                Failure::Invalid("ledger.error.no_account")
            }
            LedgerError::Empty | LedgerError::Unbalanced { .. } => {
                Failure::Invalid("ledger.error.unbalanced")
            }
        }
    }
}

impl From<crate::db::desk::DeskError> for Failure {
    fn from(e: crate::db::desk::DeskError) -> Self {
        use crate::db::desk::DeskError as E;
        match e {
            E::NoDesk(name) => Failure::NoDesk(name),
            E::DeskExists(_) => Failure::Invalid("desk.error.exists"),
            E::ChannelNameMissing => Failure::Invalid("desk.error.channel_name_missing"),
            E::TextInvalid(_) => Failure::Invalid("desk.error.text_invalid"),
            E::InsufficientBalance { balance, needed } => {
                Failure::InsufficientBalance { balance, needed }
            }
            E::DrawerShort { holds, needed } => Failure::DrawerShort { holds, needed },
            E::NoPurchase(what) => Failure::NoPurchase(what),
            E::OverReversal { original, asked } => Failure::OverReversal { original, asked },
            E::AlreadyReversed { purchase, by } => Failure::AlreadyReversed { purchase, by },
            E::ReceiptMissing => Failure::Invalid("desk.error.receipt_missing"),
            E::ReasonMissing { difference } => Failure::ShiftDifference { difference },
            E::NoCard(_) => Failure::NoCard,
            E::Ledger(e) => e.into(),
            E::Export(e) => e.into(),
        }
    }
}

impl From<CommandError> for Failure {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Denied(d) => Failure::Denied(d),
            CommandError::Sql(e) => e.into(),
        }
    }
}

impl From<AlarmError> for Failure {
    fn from(e: AlarmError) -> Self {
        match e {
            AlarmError::Denied(d) => Failure::Denied(d),
            AlarmError::NotFound(id) => Failure::AlarmGone(id),
            AlarmError::NotActive { id, state } => Failure::AlarmState { id, state },
            AlarmError::Cleared(id) => Failure::AlarmState {
                id,
                state: "cleared".into(),
            },
            AlarmError::NoteMissing => Failure::NoteMissing,
            AlarmError::ReasonMissing => Failure::ReasonMissing,
            AlarmError::Sql(e) => e.into(),
        }
    }
}

impl From<crate::export::ExportError> for Failure {
    fn from(e: crate::export::ExportError) -> Self {
        use crate::export::ExportError;
        let shown = |p: &std::path::Path| p.display().to_string();
        match e {
            ExportError::Exists(path) => Failure::File(FileTrouble::Exists { path: shown(&path) }),
            ExportError::File { path, source } => Failure::write(&shown(&path), &source),
            ExportError::Io(source) => Failure::write("", &source),
        }
    }
}

impl From<InventoryError> for Failure {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Denied(d) => Failure::Denied(d),
            InventoryError::NameEmpty => Failure::TerminalNameEmpty,
            InventoryError::BadDate(text) => Failure::TerminalBadDate(text),
            InventoryError::NotFound(id) => Failure::TerminalGone(id),
            InventoryError::Invalid(_) => Failure::Invalid("terminal.error.invalid"),
            InventoryError::Sql(e) => e.into(),
        }
    }
}

impl From<crate::db::door::DoorError> for Failure {
    fn from(e: crate::db::door::DoorError) -> Self {
        use crate::db::door::DoorError;
        match e {
            DoorError::Denied(d) => Failure::Denied(d),
            DoorError::NotFound { terminal_id, door } => Failure::DoorGone { terminal_id, door },
            DoorError::Invalid {
                field,
                value,
                problem,
            } => Failure::DoorInvalid {
                field,
                value,
                problem,
            },
            DoorError::InsideRetention {
                retention_days,
                latest,
                ..
            } => Failure::PurgeInsideRetention {
                retention_days,
                latest: crate::domain::time::local(latest)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            },
            DoorError::Export(e) => e.into(),
            DoorError::Sql(e) => e.into(),
        }
    }
}

impl From<TraceError> for Failure {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::Denied(d) => Failure::Denied(d),
            TraceError::NoLine(id) => Failure::NoLine(id),
            TraceError::Sql(e) => e.into(),
        }
    }
}

impl From<LoginError> for Failure {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::WrongCredentials => Failure::WrongCredentials,
            LoginError::Locked(until) => Failure::Locked {
                until: crate::domain::time::local(until)
                    .format("%H:%M")
                    .to_string(),
            },
            LoginError::Disabled => Failure::Disabled,
            LoginError::Sql(e) => e.into(),
        }
    }
}

impl From<crate::db::operator::SessionError> for Failure {
    fn from(e: crate::db::operator::SessionError) -> Self {
        use crate::db::operator::SessionError as E;
        match e {
            E::Ended => Failure::SessionEnded { disabled: false },
            E::Disabled => Failure::SessionEnded { disabled: true },
            E::Sql(e) => e.into(),
        }
    }
}

impl From<crate::db::operator::ReauthError> for Failure {
    fn from(e: crate::db::operator::ReauthError) -> Self {
        use crate::db::operator::ReauthError as E;
        match e {
            E::Session(e) => e.into(),
            E::Login(e) => e.into(),
        }
    }
}

impl From<OperatorError> for Failure {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::Denied(d) => Failure::Denied(d),
            OperatorError::Policy(p) => Failure::Policy(p),
            OperatorError::LoginTaken(l) => Failure::LoginTaken(l),
            OperatorError::BadLogin => Failure::BadLogin,
            OperatorError::NotFound(l) => Failure::NoOperator(l),
            OperatorError::NotFirstRun => Failure::NotFirstRun,
            OperatorError::SelfDisable => Failure::SelfDisable,
            OperatorError::Sql(e) => e.into(),
        }
    }
}

impl Failure {
    pub fn read(path: &str, e: &std::io::Error) -> Failure {
        Failure::File(FileTrouble::Read {
            path: path.to_string(),
            kind: e.kind(),
        })
    }

    pub fn write(path: &str, e: &std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            return Failure::File(FileTrouble::Exists {
                path: path.to_string(),
            });
        }
        Failure::File(FileTrouble::Write {
            path: path.to_string(),
            kind: e.kind(),
        })
    }
}

impl From<crate::db::takings::TakingsExportError> for Failure {
    fn from(e: crate::db::takings::TakingsExportError) -> Self {
        use crate::db::takings::TakingsExportError as E;
        match e {
            E::Denied(d) => Failure::Denied(d),
            E::Export(e) => e.into(),
            E::Sql(e) => e.into(),
        }
    }
}

impl From<crate::db::merchant::MerchantError> for Failure {
    fn from(e: crate::db::merchant::MerchantError) -> Self {
        use crate::db::merchant::MerchantError as E;
        match e {
            E::NameEmpty => Failure::MerchantNameEmpty,
            E::NameTaken(name) => Failure::MerchantNameTaken(name),
            E::BadRate(rate) => Failure::MerchantBadRate(rate.to_string()),
            E::NotFound(name) => Failure::MerchantNotFound(name),
            E::WrongState {
                name,
                state,
                wanted,
            } => Failure::MerchantState {
                name,
                state,
                wanted: wanted.name().to_string(),
            },
            E::NoSuchPos(t) => Failure::MerchantNoSuchPos(t),
            E::OwnedElsewhere { terminal, owner } => Failure::MerchantPosOwned { terminal, owner },
            E::Denied(d) => Failure::Denied(d),
            E::Sql(e) => e.into(),
        }
    }
}

impl From<crate::db::settlement::SettleError> for Failure {
    fn from(e: crate::db::settlement::SettleError) -> Self {
        use crate::db::settlement::SettleError as E;
        match e {
            E::NotEnded { period, ends } => Failure::PeriodNotEnded {
                period: period.to_string(),
                ends,
            },
            E::Overlaps {
                merchant,
                period,
                settled,
            } => Failure::PeriodOverlaps {
                merchant,
                period: period.to_string(),
                settled: settled.to_string(),
            },
            E::Merchant(m) => m.into(),
            E::Export(e) => e.into(),
            E::Denied(d) => Failure::Denied(d),
            E::Sql(e) => e.into(),
        }
    }
}
