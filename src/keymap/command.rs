//! What a keymap can bind. Names are kebab-case; tab-specific commands are `<tab>.<verb>`.

use std::fmt;
use std::str::FromStr;

macro_rules! commands {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every bindable command. `Msg` (what happened) is a different enum and never bindable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command {
            $($variant),+
        }

        impl Command {
            pub const ALL: &'static [Command] = &[$(Command::$variant),+];

            /// The name used in keymap files and the command palette.
            pub fn name(self) -> &'static str {
                match self {
                    $(Command::$variant => $name),+
                }
            }
        }
    };
}

commands! {
    Noop => "noop",
    Quit => "quit",
    Help => "help",
    Palette => "palette",
    Filter => "filter",
    Cancel => "cancel",
    Activate => "activate",
    Refresh => "refresh",
    Logout => "logout",
    PasswordChange => "password-change",
    LanguageNext => "language-next",
    ThemeNext => "theme-next",
    TabNext => "tab-next",
    TabPrev => "tab-prev",
    TabCards => "tab.cards",
    TabDoors => "tab.doors",
    TabPatrol => "tab.patrol",
    TabAttendance => "tab.attendance",
    TabSettlement => "tab.settlement",
    TabTerminals => "tab.terminals",
    TabOperators => "tab.operators",
    SelectNext => "select-next",
    SelectPrev => "select-prev",
    SelectFirst => "select-first",
    SelectLast => "select-last",
    PageDown => "page-down",
    PageUp => "page-up",
    OperatorAdd => "operator.add",
    OperatorUnlock => "operator.unlock",
    OperatorResetPassword => "operator.reset-password",
    OperatorDisable => "operator.disable",
    AuditVerify => "audit.verify",
    Alarms => "alarms",
    AlarmTake => "alarm.take",
    AlarmAcknowledge => "alarm.acknowledge",
    AlarmClear => "alarm.clear",
    AlarmForceClear => "alarm.force-clear",
    AlarmHistory => "alarm.history",
    TerminalOnlineTest => "terminal.online-test",
    TerminalSetTime => "terminal.set-time",
    TerminalClearRecords => "terminal.clear-records",
    TerminalScanToggle => "terminal.scan-toggle",
    TerminalEdit => "terminal.edit",
    TerminalTrace => "terminal.trace",
    DeskView => "cards.view",
    CardNumber => "card.number",
    CardIssue => "card.issue",
    CardRewrite => "card.rewrite",
    CardReportLost => "card.report-lost",
    CardReportFound => "card.report-found",
    CardReissue => "card.reissue",
    CardExchange => "card.exchange",
    CardReturn => "card.return",
    CardCancel => "card.cancel",
    CardExtend => "card.extend",
    CardExtendBatch => "card.extend-batch",
    CardPinChange => "card.pin-change",
    CardPinReset => "card.pin-reset",
    CardLimits => "card.limits",
    CardTopUp => "card.top-up",
    CardResend => "card.resend",
    CardStatement => "card.statement",
    CardRefund => "card.refund",
    CardCorrect => "card.correct",
    DeskShiftClose => "desk.shift-close",
    PersonImport => "person.import",
    StockReceive => "stock.receive",
    StockSpoil => "stock.spoil",
    StockCount => "stock.count",
    ReportFilter => "report.filter",
    ReportExport => "report.export",
    DeskPresentBlank => "desk.present-blank",
    DeskPresentCard => "desk.present-card",
    DoorsView => "doors.view",
    DoorsFocus => "doors.focus",
    DoorsPause => "doors.pause",
    DoorRemoteOpen => "door.remote-open",
    DoorSettings => "door.settings",
    DoorScanToggle => "door.scan-toggle",
    DoorOnlineTest => "door.online-test",
    DoorSetTime => "door.set-time",
    DoorMark => "door.mark",
    DoorExtract => "door.extract",
    DoorExtractAll => "door.extract-all",
    DoorClearRecords => "door.clear-records",
    DoorDownloadCards => "door.download-cards",
    // The records sub-view's commands follow.
    DoorQuery => "door.query",
    DoorPageNext => "door.page-next",
    DoorPagePrev => "door.page-prev",
    DoorExport => "door.export",
    DoorSyncs => "door.syncs",
    DoorPurge => "door.purge",
    SettleView => "settlement.view",
    SettleDayPrev => "settlement.day-prev",
    SettleDayNext => "settlement.day-next",
    SettleExport => "settlement.export",
    SettlePeriod => "settlement.settle",
    PatrolMap => "patrol.map",
    PatrolExceptions => "patrol.exceptions",
    PatrolOmissions => "patrol.omissions",
    PatrolSetup => "patrol.setup",
    PatrolNext => "patrol.next",
    PatrolEdit => "patrol.edit",
    PatrolPlace => "patrol.place",
    PatrolAdd => "patrol.add",
    PatrolDelete => "patrol.delete",
    PatrolClose => "patrol.close",
    PatrolRange => "patrol.range",
    PatrolExport => "patrol.export",
    PatrolDownload => "patrol.download",
    PatrolExtract => "patrol.extract",
    PatrolPurge => "patrol.purge",
    AttView => "attendance.view",
    AttMark => "attendance.mark",
    AttExtract => "attendance.extract",
    AttExtractAll => "attendance.extract-all",
    AttSetTime => "attendance.set-time",
    AttClear => "attendance.clear",
    AttPush => "attendance.push",
    AttDayPrev => "attendance.day-prev",
    AttDayNext => "attendance.day-next",
    AttGrouping => "attendance.grouping",
    AttExport => "attendance.export",
    AttCorrect => "attendance.correct",
    AttRevoke => "attendance.revoke",
    AttReadUsers => "attendance.read-users",
    AttImport => "attendance.import",
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command `{0}`")]
pub struct UnknownCommand(pub String);

impl FromStr for Command {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Command::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCommand(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Command::ALL {
            assert!(seen.insert(c.name()), "duplicate name {}", c.name());
            assert_eq!(c.name().parse::<Command>().unwrap(), *c);
        }
        assert!("no-such".parse::<Command>().is_err());
    }
}
