//! The Attendance tab (考勤): the machines (status, last extraction, records waiting, drift,
//! memory) with extraction and its progress, today's punches live, the daily results, the
//! corrections and the person-sync differences. Reads are effects (`console::exec::attendance`).

mod forms;

pub use forms::{AttForm, CorrectField, ExportField, ImportField, RevokeField};

use super::{Rows, View};
use crate::app::filter::{self, Filter};
use crate::app::form::Confirm;
use crate::app::layout;
use crate::app::load::Shown;
use crate::app::shell::Shell;
use crate::db::attendance::corrections::{Correction, CorrectionKind};
use crate::db::attendance::{DayRow, Totals};
use crate::db::command::TerminalCommand;
use crate::db::machine_sync::{MachineSnapshot, SyncDifference};
use crate::db::notify::Change;
use crate::db::punch::{DayPunch, MachineRow};
use crate::domain::permission::Action;
use crate::i18n::trf;
use crate::keymap::{Command, Section};
use chrono::{Datelike, NaiveDate};
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use std::collections::BTreeSet;

/// Punches of the day listed (the newest); the title says how many there are in all.
pub const PUNCH_ROWS: i64 = 500;

/// What the tab shows; `attendance.view` cycles through them in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AttView {
    #[default]
    Machines,
    Punches,
    Results,
    Totals,
    Corrections,
    Sync,
}

impl AttView {
    pub const ALL: [AttView; 6] = [
        AttView::Machines,
        AttView::Punches,
        AttView::Results,
        AttView::Totals,
        AttView::Corrections,
        AttView::Sync,
    ];

    pub fn next(self) -> AttView {
        let i = AttView::ALL.iter().position(|v| *v == self).unwrap_or(0);
        AttView::ALL[(i + 1) % AttView::ALL.len()]
    }

    /// Catalogue key of its name.
    pub fn key(self) -> &'static str {
        match self {
            AttView::Machines => "att.view.machines",
            AttView::Punches => "att.view.punches",
            AttView::Results => "att.view.results",
            AttView::Totals => "att.view.totals",
            AttView::Corrections => "att.view.corrections",
            AttView::Sync => "att.view.sync",
        }
    }

    /// Its slot in `Attendance::loaded`.
    pub fn slot(self) -> usize {
        AttView::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// Whether it shows a day (or that day's month), moved with `b`/`n`.
    pub fn dated(self) -> bool {
        matches!(
            self,
            AttView::Results | AttView::Totals | AttView::Corrections
        )
    }
}

/// What the totals add up: people or departments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Grouping {
    #[default]
    Person,
    Department,
}

/// The days of `day`'s month that are over by `today` (today is still under way): its first day
/// and the earlier of its last day and yesterday. None: none is over yet.
pub fn closed_month(day: NaiveDate, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let (from, to) = month_of(day);
    let to = to.min(today.pred_opt()?);
    (from <= to).then_some((from, to))
}

/// The first and last day of `day`'s month.
pub fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (first, next.pred_opt().unwrap_or(first))
}

#[derive(Debug, Clone, Default)]
pub struct Attendance {
    pub view: AttView,
    pub machines: Vec<MachineRow>,
    /// Machines marked for an extraction of several.
    pub marked: BTreeSet<i64>,
    pub day: Option<NaiveDate>,
    pub punches: Vec<DayPunch>,
    pub punches_total: i64,
    /// The day the results show; the totals and corrections show its month. None until the
    /// tab is first shown (then yesterday: today is not over).
    pub result_day: Option<NaiveDate>,
    pub results: Vec<DayRow>,
    pub grouping: Grouping,
    pub totals: Vec<Totals>,
    pub corrections: Vec<Correction>,
    /// The person-sync differences, and each machine's last read of its users.
    pub sync: Vec<SyncDifference>,
    pub snapshots: Vec<MachineSnapshot>,
    pub selected: usize,
    pub filter: Filter,
    pub confirm: Option<Confirm<Effect>>,
    pub form: Option<forms::AttForm>,
    /// Whether each view's first answer came (else it says it is loading), by `slot`.
    pub loaded: [bool; 6],
    machines_shown: Shown,
    punches_shown: Shown,
    results_shown: Shown,
    totals_shown: Shown,
    corrections_shown: Shown,
    sync_shown: Shown,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Machines {
        gen: u64,
        rows: Vec<MachineRow>,
    },
    Punches {
        gen: u64,
        day: NaiveDate,
        rows: Vec<DayPunch>,
        total: i64,
    },
    Results {
        gen: u64,
        day: NaiveDate,
        rows: Vec<DayRow>,
    },
    Totals {
        gen: u64,
        rows: Vec<Totals>,
    },
    Corrections {
        gen: u64,
        rows: Vec<Correction>,
    },
    Sync {
        gen: u64,
        rows: Vec<SyncDifference>,
        snapshots: Vec<MachineSnapshot>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Machines {
        gen: u64,
    },
    /// The site's today's punches.
    Punches {
        gen: u64,
    },
    /// Everyone's results of one attendance day.
    Results {
        gen: u64,
        day: NaiveDate,
    },
    /// Totals of `day`'s month, per person or department.
    Totals {
        gen: u64,
        day: NaiveDate,
        grouping: Grouping,
    },
    /// The corrections touching `day`'s month, revoked ones included.
    Corrections {
        gen: u64,
        day: NaiveDate,
    },
    /// The person-sync differences and the machines' last reads.
    Sync {
        gen: u64,
    },
    /// Records a correction (audited); `person` is a person number.
    Correct {
        person: String,
        kind: CorrectionKind,
        reason: String,
    },
    Revoke {
        id: i64,
        reason: String,
    },
    /// The daily results of [from, to] to a CSV file (audited); never over a file unless told.
    Export {
        from: NaiveDate,
        to: NaiveDate,
        path: String,
        overwrite: bool,
    },
    /// A file the machine exported, its punches stored once each (audited).
    Import {
        terminal_id: i64,
        path: String,
    },
    /// A command to a machine, through the queue its line's poller consumes.
    Enqueue {
        terminal_id: i64,
        about: String,
        command: TerminalCommand,
    },
}

pub fn update(s: &mut Attendance, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Machines { gen, rows } => {
            if s.machines_shown.take(gen) {
                let keep = s.selected_machine().map(|m| m.terminal_id);
                s.machines = rows;
                s.marked
                    .retain(|id| s.machines.iter().any(|m| m.terminal_id == *id));
                s.loaded[0] = true;
                if let (Some(id), AttView::Machines) = (keep, s.view) {
                    if let Some(i) = s.machine_rows().iter().position(|m| m.terminal_id == id) {
                        s.selected = i;
                    }
                }
            }
        }
        Msg::Punches {
            gen,
            day,
            rows,
            total,
        } => {
            if s.punches_shown.take(gen) {
                s.day = Some(day);
                s.punches = rows;
                s.punches_total = total;
                s.loaded[1] = true;
            }
        }
        Msg::Results { gen, day, rows } => {
            if s.results_shown.take(gen) {
                s.result_day = Some(day);
                s.results = rows;
                s.loaded[AttView::Results.slot()] = true;
            }
        }
        Msg::Totals { gen, rows } => {
            if s.totals_shown.take(gen) {
                s.totals = rows;
                s.loaded[AttView::Totals.slot()] = true;
            }
        }
        Msg::Corrections { gen, rows } => {
            if s.corrections_shown.take(gen) {
                s.corrections = rows;
                s.loaded[AttView::Corrections.slot()] = true;
            }
        }
        Msg::Sync {
            gen,
            rows,
            snapshots,
        } => {
            if s.sync_shown.take(gen) {
                s.sync = rows;
                s.snapshots = snapshots;
                s.loaded[AttView::Sync.slot()] = true;
            }
        }
    }
    s.clamp(sh);
    vec![]
}

/// Who sees the tab: the attendance administrator (and the director), and technicians for the
/// machines. Punches say where people were: nobody else reads them.
pub fn may_see(sh: &Shell) -> bool {
    sh.may(Action::AttendanceEdit) || sh.may(Action::TerminalDiagnose)
}

/// "考勤机 1号楼 (一楼大厅)": what popups and messages call a machine.
pub fn machine_named(m: &MachineRow) -> String {
    if m.location.is_empty() {
        m.name.clone()
    } else {
        format!("{} ({})", m.name, m.location)
    }
}

impl Attendance {
    pub fn new() -> Attendance {
        Attendance::default()
    }

    pub fn machine_rows(&self) -> Vec<&MachineRow> {
        let f = self.filter.text();
        self.machines
            .iter()
            .filter(|m| filter::matches(f, [m.name.as_str(), m.location.as_str()]))
            .collect()
    }

    pub fn punch_rows(&self) -> Vec<&DayPunch> {
        let f = self.filter.text();
        self.punches
            .iter()
            .filter(|p| {
                filter::matches(
                    f,
                    [
                        p.machine.as_str(),
                        p.user_id.as_str(),
                        p.name.as_deref().unwrap_or(""),
                        p.department.as_deref().unwrap_or(""),
                    ],
                )
            })
            .collect()
    }

    pub fn result_rows(&self, sh: &Shell) -> Vec<&DayRow> {
        let f = self.filter.text();
        self.results
            .iter()
            .filter(|r| {
                filter::matches(
                    f,
                    [
                        r.person_no.as_str(),
                        r.name.as_str(),
                        r.department.as_str(),
                        r.shift.as_str(),
                        r.status.0.words(sh.lang),
                    ],
                )
            })
            .collect()
    }

    pub fn total_rows(&self) -> Vec<&Totals> {
        let f = self.filter.text();
        self.totals
            .iter()
            .filter(|t| {
                filter::matches(f, [t.key.as_str(), t.name.as_str(), t.department.as_str()])
            })
            .collect()
    }

    pub fn correction_rows(&self) -> Vec<&Correction> {
        let f = self.filter.text();
        self.corrections
            .iter()
            .filter(|c| {
                filter::matches(
                    f,
                    [
                        c.person_no.as_str(),
                        c.person_name.as_str(),
                        c.reason.as_str(),
                        c.made_by.as_str(),
                    ],
                )
            })
            .collect()
    }

    pub fn sync_rows(&self, sh: &Shell) -> Vec<&SyncDifference> {
        let f = self.filter.text();
        self.sync
            .iter()
            .filter(|d| {
                filter::matches(
                    f,
                    [
                        d.machine.as_str(),
                        d.user_id.as_str(),
                        d.person_name.as_deref().unwrap_or(""),
                        d.machine_name.as_deref().unwrap_or(""),
                        crate::app::words::difference_kind(sh.lang, d.kind),
                    ],
                )
            })
            .collect()
    }

    pub fn selected_correction(&self) -> Option<&Correction> {
        (self.view == AttView::Corrections)
            .then(|| self.correction_rows().get(self.selected).copied())
            .flatten()
    }

    /// The day the dated views show (yesterday until the tab chose one).
    pub fn day(&self, sh: &Shell) -> NaiveDate {
        self.result_day
            .unwrap_or_else(|| sh.today().pred_opt().unwrap_or(sh.today()))
    }

    fn load_dated(&self, sh: &mut Shell) -> Vec<Effect> {
        let day = self.day(sh);
        vec![
            Effect::Results {
                gen: sh.next_gen(),
                day,
            },
            Effect::Totals {
                gen: sh.next_gen(),
                day,
                grouping: self.grouping,
            },
            Effect::Corrections {
                gen: sh.next_gen(),
                day,
            },
        ]
    }

    pub fn selected_machine(&self) -> Option<&MachineRow> {
        (self.view == AttView::Machines)
            .then(|| self.machine_rows().get(self.selected).copied())
            .flatten()
    }

    pub fn rows_shown(&self, sh: &Shell) -> usize {
        match self.view {
            AttView::Machines => self.machine_rows().len(),
            AttView::Punches => self.punch_rows().len(),
            AttView::Results => self.result_rows(sh).len(),
            AttView::Totals => self.total_rows().len(),
            AttView::Corrections => self.correction_rows().len(),
            AttView::Sync => self.sync_rows(sh).len(),
        }
    }

    fn clamp(&mut self, sh: &Shell) {
        self.selected = self.selected.min(self.rows_shown(sh).saturating_sub(1));
    }

    fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    fn enqueue(m: &MachineRow, command: TerminalCommand) -> Effect {
        Effect::Enqueue {
            terminal_id: m.terminal_id,
            about: machine_named(m),
            command,
        }
    }

    /// A machine command: the role must allow it and a machine must be chosen.
    fn machine_command(&mut self, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
        // Technicians extract and set clocks; the register and the log are the attendance
        // administrator's.
        let technical = matches!(
            cmd,
            Command::AttExtract | Command::AttExtractAll | Command::AttMark | Command::AttSetTime
        );
        if !(sh.may(Action::AttendanceEdit) || technical && sh.may(Action::TerminalDiagnose)) {
            return sh.denied(Action::AttendanceEdit);
        }
        if cmd == Command::AttExtractAll || cmd == Command::AttExtract {
            let ids: Vec<i64> = if cmd == Command::AttExtractAll {
                self.machines.iter().map(|m| m.terminal_id).collect()
            } else if !self.marked.is_empty() {
                self.marked.iter().copied().collect()
            } else {
                self.selected_machine()
                    .map(|m| m.terminal_id)
                    .into_iter()
                    .collect()
            };
            if ids.is_empty() {
                return sh.info_key("att.msg.no_machine");
            }
            self.marked.clear();
            return self
                .machines
                .iter()
                .filter(|m| ids.contains(&m.terminal_id))
                .map(|m| Attendance::enqueue(m, TerminalCommand::Extract))
                .collect();
        }
        let Some(m) = self.selected_machine().cloned() else {
            return sh.info_key("att.msg.no_machine");
        };
        match cmd {
            Command::AttMark => {
                if !self.marked.remove(&m.terminal_id) {
                    self.marked.insert(m.terminal_id);
                }
                vec![]
            }
            Command::AttSetTime => vec![Attendance::enqueue(&m, TerminalCommand::SetTime)],
            Command::AttPush => vec![Attendance::enqueue(&m, TerminalCommand::DownloadCards)],
            _ => {
                let question = trf(
                    sh.lang,
                    "att.confirm.clear",
                    &[("machine", &machine_named(&m))],
                );
                self.ask(
                    question,
                    Attendance::enqueue(&m, TerminalCommand::ClearRecords),
                )
            }
        }
    }
}

impl View for Attendance {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Attendance
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if self.form.is_some() {
            return Some(self.on_form_key(sh, key));
        }
        super::answer(&mut self.confirm, sh, key)
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        Some(match cmd {
            Command::AttView => {
                self.view = self.view.next();
                self.selected = 0;
                self.clamp(sh);
                vec![]
            }
            Command::AttDayPrev | Command::AttDayNext => {
                if !self.view.dated() {
                    self.view = AttView::Results;
                    self.selected = 0;
                }
                let day = self.day(sh);
                let moved = if cmd == Command::AttDayPrev {
                    day.pred_opt()
                } else {
                    day.succ_opt().filter(|d| *d <= sh.today())
                };
                self.result_day = Some(moved.unwrap_or(day));
                self.load_dated(sh)
            }
            Command::AttGrouping => {
                self.view = AttView::Totals;
                self.grouping = match self.grouping {
                    Grouping::Person => Grouping::Department,
                    Grouping::Department => Grouping::Person,
                };
                self.selected = 0;
                vec![Effect::Totals {
                    gen: sh.next_gen(),
                    day: self.day(sh),
                    grouping: self.grouping,
                }]
            }
            Command::AttExport => {
                if !sh.may(Action::ReportExport) {
                    return Some(sh.denied(Action::ReportExport));
                }
                self.open_export(sh);
                vec![]
            }
            Command::AttCorrect => {
                if !sh.may(Action::AttendanceEdit) {
                    return Some(sh.denied(Action::AttendanceEdit));
                }
                self.open_correct(sh);
                vec![]
            }
            Command::AttRevoke => {
                if !sh.may(Action::AttendanceEdit) {
                    return Some(sh.denied(Action::AttendanceEdit));
                }
                if self.view != AttView::Corrections {
                    self.view = AttView::Corrections;
                    self.selected = 0;
                    return Some(sh.info_key("att.msg.pick_correction"));
                }
                self.open_revoke(sh)
            }
            Command::AttImport => {
                if !sh.may(Action::AttendanceEdit) {
                    return Some(sh.denied(Action::AttendanceEdit));
                }
                if self.view != AttView::Machines {
                    self.view = AttView::Machines;
                    self.selected = 0;
                    return Some(sh.info_key("att.msg.pick_machine"));
                }
                self.open_import(sh)
            }
            Command::AttReadUsers => {
                if !sh.may(Action::AttendanceEdit) {
                    return Some(sh.denied(Action::AttendanceEdit));
                }
                self.view = AttView::Sync;
                let fx: Vec<Effect> = self
                    .snapshots
                    .iter()
                    .filter(|m| m.reachable)
                    .map(|m| Effect::Enqueue {
                        terminal_id: m.terminal_id,
                        about: m.machine.clone(),
                        command: TerminalCommand::ReadUsers,
                    })
                    .collect();
                if fx.is_empty() {
                    return Some(sh.info_key("att.msg.no_reachable"));
                }
                fx
            }
            Command::AttPush if self.view == AttView::Sync => {
                if !sh.may(Action::AttendanceEdit) {
                    return Some(sh.denied(Action::AttendanceEdit));
                }
                let Some(d) = self.sync_rows(sh).get(self.selected).copied() else {
                    return Some(sh.info_key("att.msg.no_difference"));
                };
                vec![Effect::Enqueue {
                    terminal_id: d.terminal_id,
                    about: d.machine.clone(),
                    command: TerminalCommand::DownloadCards,
                }]
            }
            Command::AttExtract
            | Command::AttExtractAll
            | Command::AttMark
            | Command::AttSetTime
            | Command::AttClear
            | Command::AttPush => {
                if self.view != AttView::Machines {
                    self.view = AttView::Machines;
                    self.selected = 0;
                    if cmd != Command::AttExtractAll {
                        return Some(sh.info_key("att.msg.pick_machine"));
                    }
                }
                self.machine_command(sh, cmd)
            }
            _ => return None,
        })
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        Rows {
            n: self.rows_shown(sh),
            at: self.selected,
            page: layout::table_window(table_area(self.view, body), 0).0,
        }
    }

    fn select(&mut self, sh: &mut Shell, to: usize) -> Vec<Effect> {
        self.selected = to;
        self.clamp(sh);
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        let area = table_area(self.view, body);
        if let Some(i) = layout::table_row_at(area, self.selected, self.rows_shown(sh), x, y) {
            self.selected = i;
        }
        vec![]
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        let mut fx = vec![
            Effect::Machines { gen: sh.next_gen() },
            Effect::Punches { gen: sh.next_gen() },
        ];
        if sh.may(Action::AttendanceEdit) {
            fx.extend(self.load_dated(sh));
            fx.push(Effect::Sync { gen: sh.next_gen() });
        }
        fx
    }

    /// A machine's state moves with its terminal row; a punch stored anywhere (a line, an
    /// import) re-reads today's punches and the machines' counts.
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        let punches = change.records.iter().any(|r| r == "punch");
        let mut fx = Vec::new();
        if punches || !change.terminal.is_empty() {
            fx.push(Effect::Machines { gen: sh.next_gen() });
        }
        if punches {
            fx.push(Effect::Punches { gen: sh.next_gen() });
        }
        // Results follow their own notification (the refresh after punches or corrections).
        if change.attendance && sh.may(Action::AttendanceEdit) {
            fx.extend(self.load_dated(sh));
        }
        // A machine's users read again, or the register changed: the differences move.
        let register = !change.card.is_empty() || !change.person.is_empty();
        let users = change.records.iter().any(|r| r == "machine_user");
        if (register || users) && sh.may(Action::AttendanceEdit) {
            fx.push(Effect::Sync { gen: sh.next_gen() });
        }
        fx
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        let mut v = vec![Command::Help, Command::Palette];
        if may_see(sh) {
            v.extend([Command::AttView, Command::Filter]);
            let edit = sh.may(Action::AttendanceEdit);
            match self.view {
                AttView::Machines if edit => v.extend([
                    Command::AttImport,
                    Command::AttExtract,
                    Command::AttExtractAll,
                    Command::AttMark,
                    Command::AttSetTime,
                    Command::AttPush,
                    Command::AttClear,
                ]),
                AttView::Machines if sh.may(Action::TerminalDiagnose) => v.extend([
                    Command::AttExtract,
                    Command::AttExtractAll,
                    Command::AttSetTime,
                ]),
                AttView::Sync if edit => v.extend([Command::AttReadUsers, Command::AttPush]),
                AttView::Results | AttView::Totals | AttView::Corrections if edit => {
                    v.extend([Command::AttDayPrev, Command::AttDayNext]);
                    match self.view {
                        AttView::Totals => v.push(Command::AttGrouping),
                        AttView::Corrections => v.extend([Command::AttCorrect, Command::AttRevoke]),
                        _ => v.push(Command::AttCorrect),
                    }
                    if sh.may(Action::ReportExport) {
                        v.push(Command::AttExport);
                    }
                }
                _ => {}
            }
        }
        v.extend([Command::TabNext, Command::Quit]);
        v
    }

    fn filter(&self) -> Option<&Filter> {
        Some(&self.filter)
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        Some(&mut self.filter)
    }

    fn filtered(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.selected = 0;
        self.clamp(sh);
        vec![]
    }

    fn failed(&mut self, sh: &mut Shell, f: &crate::app::failure::Failure) -> bool {
        match self.form.as_mut() {
            Some(form) if form.busy() => {
                form.refused(crate::app::words::failure(sh.lang, f));
                true
            }
            _ => false,
        }
    }

    fn done(&mut self, _sh: &mut Shell) {
        if self.form.as_ref().is_some_and(|f| f.busy()) {
            self.form = None;
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Attendance::new();
        vec![]
    }
}

/// The machines view's split: the table above, the selected machine's command below.
pub fn machines_split(body: Rect) -> (Rect, Rect) {
    let bottom = 4.min(body.height / 3);
    let top = body.height - bottom;
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, bottom),
    )
}

/// Where the cursor's table is drawn in the view shown.
pub fn table_area(view: AttView, body: Rect) -> Rect {
    match view {
        AttView::Machines => machines_split(body).0,
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use super::closed_month;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_month_counts_the_days_that_are_over() {
        // This month: up to yesterday; on the 1st, none yet.
        assert_eq!(
            closed_month(d("2026-12-06"), d("2026-12-07")),
            Some((d("2026-12-01"), d("2026-12-06")))
        );
        assert_eq!(closed_month(d("2026-12-01"), d("2026-12-01")), None);
        // A month that is over: whole.
        assert_eq!(
            closed_month(d("2026-11-15"), d("2026-12-07")),
            Some((d("2026-11-01"), d("2026-11-30")))
        );
    }
}
