//! The card desk's commands and forms: what each command needs (permission, view, card), the
//! forms it opens (typed fields on the one form engine), and what a submitted form asks for.

use super::{
    card_state_of, CardOp, CardRefs, Cards, DeskView, Effect, Named, PaidFrom, PersonRow, PinKind,
    Popup, ReportFilter, ReportKind, StockOp,
};
use crate::app::form::{Field, FieldId, Form, FormKey, Input, Opt, TextInput};
use crate::app::shell::{owner, Shell, TabId, ViewId};
use crate::app::words::{self, card_kind, refusal, subsystem};
use crate::db::card::{BalancePolicy, IssueRequest, Rewrite};
use crate::domain::card::{self, CardKind, CardState, Refusal, Subsystem, Transition};
use crate::domain::money::Money;
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::Command;
use chrono::{Datelike, Months, NaiveDate};
use crossterm::event::KeyEvent;
use std::str::FromStr;

mod open;
mod submit;

use open::*;
pub use submit::*;

/// Longest free text in a card form (a reason, a note, a file path).
const MAX_TEXT: usize = 200;
/// Longest amount a single top-up takes.
const MAX_TOP_UP: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardField {
    CardNo,
    Person,
    Kind,
    Subsystems,
    DoorGroups,
    Pos,
    Attendance,
    ValidFrom,
    ValidUntil,
    PaidFrom,
    OverrideReason,
    Reason,
    Until,
    Path,
    WhichPin,
    OldPin,
    NewPin,
    PinAgain,
    PerPurchase,
    DailyCount,
    Amount,
    /// How top-up money came: cash, bank transfer, another channel.
    Channel,
    /// The other channel's name.
    ChannelName,
    /// The purchase a correction reverses, as on its receipt.
    Purchase,
    /// The receipt's reference.
    Receipt,
    /// The cash counted at a shift close.
    Counted,
    Quantity,
    Physical,
    Note,
    Report,
    From,
    Department,
    CardKind,
    Operator,
    /// A person import may create the departments it names.
    CreateDepartments,
}

impl FieldId for CardField {
    fn label(self) -> &'static str {
        match self {
            CardField::CardNo => "card.form.card_no",
            CardField::Person => "card.form.person",
            CardField::Kind => "card.form.kind",
            CardField::Subsystems => "card.form.subsystems",
            CardField::DoorGroups => "card.form.door_groups",
            CardField::Pos => "card.form.pos",
            CardField::Attendance => "card.form.attendance",
            CardField::ValidFrom => "card.form.valid_from",
            CardField::ValidUntil => "card.form.valid_until",
            CardField::PaidFrom => "card.form.paid_from",
            CardField::OverrideReason => "card.form.override_reason",
            CardField::Reason => "card.form.reason",
            CardField::Until => "card.form.until",
            CardField::Path => "card.form.path",
            CardField::WhichPin => "card.form.which_pin",
            CardField::OldPin => "card.form.old_pin",
            CardField::NewPin => "card.form.new_pin",
            CardField::PinAgain => "card.form.pin_again",
            CardField::PerPurchase => "card.form.per_purchase",
            CardField::DailyCount => "card.form.daily_count",
            CardField::Amount => "card.form.amount",
            CardField::Channel => "card.form.channel",
            CardField::ChannelName => "card.form.channel_name",
            CardField::Purchase => "card.form.purchase",
            CardField::Receipt => "card.form.receipt",
            CardField::Counted => "card.form.counted",
            CardField::Quantity => "card.form.quantity",
            CardField::Physical => "card.form.physical",
            CardField::Note => "card.form.note",
            CardField::Report => "card.form.report",
            CardField::From => "card.form.from",
            CardField::Department => "card.form.department",
            CardField::CardKind => "card.form.card_kind",
            CardField::Operator => "card.form.operator",
            CardField::CreateDepartments => "card.form.create_departments",
        }
    }
}

/// Which form, and the object it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardFormKind {
    /// A card number typed by an operator without a reader.
    CardNumber,
    /// Demo: lay a chosen card on the simulated desk reader.
    DeskPresent,
    Issue {
        person_id: i64,
    },
    Rewrite {
        card_id: i64,
        kind: CardKind,
    },
    Reissue {
        card_id: i64,
    },
    Exchange {
        card_id: i64,
    },
    Cancel {
        card_id: i64,
    },
    Extend {
        card_id: i64,
        kind: CardKind,
        current: NaiveDate,
    },
    ExtendBatch,
    PinChange {
        card_id: i64,
    },
    PinReset {
        card_id: i64,
    },
    Limits {
        card_id: i64,
    },
    TopUp {
        card_id: i64,
        person_id: i64,
    },
    Refund {
        card_id: i64,
        person_id: i64,
    },
    Correct {
        card_id: i64,
    },
    ShiftClose,
    ImportPersons,
    StockReceive,
    StockSpoil,
    StockCount,
    ReportFilter,
    ReportExport {
        /// The operator said to replace the file (asked after it was found to exist).
        overwrite: bool,
    },
}

/// A card desk form in a popup over the tab: Enter submits from any field, Esc cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardForm {
    pub kind: CardFormKind,
    pub form: Form<CardField>,
}

impl CardForm {
    fn new(kind: CardFormKind, title: String, fields: Vec<Field<CardField>>) -> CardForm {
        CardForm {
            kind,
            form: Form::new(title, fields),
        }
    }

    fn intro(mut self, intro: Vec<String>) -> CardForm {
        self.form.intro = intro;
        self
    }
}

fn text_field(id: CardField, value: &str) -> Field<CardField> {
    Field::with(id, Input::Text(TextInput::new(value).max(MAX_TEXT)))
}

fn pin_secret(id: CardField) -> Field<CardField> {
    Field::with(id, Input::Secret(TextInput::default().digits().max(12)))
}

fn paid_field(lang: Lang) -> Field<CardField> {
    Field::with(
        CardField::PaidFrom,
        Input::choice(
            [PaidFrom::Cash, PaidFrom::Balance]
                .iter()
                .map(|p| Opt::new(p.name(), tr(lang, &format!("card.paid.{}", p.name()))))
                .collect(),
            "cash",
        ),
    )
}

fn pin_field(lang: Lang) -> Field<CardField> {
    Field::with(
        CardField::WhichPin,
        Input::choice(
            [PinKind::Query, PinKind::Payment]
                .iter()
                .map(|p| Opt::new(p.name(), tr(lang, &format!("card.pin.{}", p.name()))))
                .collect(),
            "payment",
        ),
    )
}

/// "王芳 · T10003 · 计算机学院"
fn person_line(p: &PersonRow) -> String {
    format!("{} · {} · {}", p.name, p.person_no, p.department)
}

fn is_director(sh: &Shell) -> bool {
    sh.role() == Some(Role::Director)
}

// ---- Commands ---------------------------------------------------------------------------------

/// The tab's commands: `card.*`, `cards.*`, `person.*`, `stock.*`, `report.*`, `desk.*`.
pub fn is_ours(cmd: Command) -> bool {
    let name = cmd.name();
    ["card.", "cards.", "person.", "stock.", "report.", "desk."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// What a command needs the role to allow.
fn action_of(cmd: Command) -> Option<Action> {
    Some(match cmd {
        Command::CardIssue => Action::CardIssue,
        Command::CardRewrite
        | Command::CardLimits
        | Command::CardReportLost
        | Command::CardReportFound
        | Command::CardReissue
        | Command::CardExchange
        | Command::CardReturn
        | Command::CardCancel
        | Command::CardExtend
        | Command::CardExtendBatch
        | Command::CardResend => Action::CardLifecycle,
        Command::CardPinChange | Command::CardPinReset => Action::CardPin,
        Command::CardTopUp
        | Command::CardStatement
        | Command::CardRefund
        | Command::DeskShiftClose => Action::AccountTopUp,
        Command::CardCorrect => Action::AccountCorrection,
        Command::PersonImport => Action::PersonImport,
        Command::StockReceive | Command::StockSpoil | Command::StockCount => Action::CardIssue,
        Command::ReportFilter | Command::ReportExport => Action::ReportExport,
        _ => return None,
    })
}

/// The view a command belongs to.
fn view_of(cmd: Command) -> Option<DeskView> {
    match cmd {
        Command::StockReceive | Command::StockSpoil | Command::StockCount => Some(DeskView::Stock),
        Command::ReportFilter | Command::ReportExport => Some(DeskView::Reports),
        Command::DeskView | Command::DeskPresentBlank | Command::DeskPresentCard => None,
        Command::DeskShiftClose => None,
        Command::CardNumber | Command::PersonImport | Command::CardExtendBatch => None,
        _ => Some(DeskView::People),
    }
}

/// The role check; a resend is also a door administrator's (it only repeats what was granted).
fn may(sh: &Shell, cmd: Command, action: Action) -> bool {
    sh.may(action) || (cmd == Command::CardResend && sh.may(Action::DoorGrant))
}

/// Why a command cannot run here at all (the role, or the demo-only keys), said on the message
/// line; None when it may.
pub fn refuse(_c: &mut Cards, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
    if let Some(action) = action_of(cmd) {
        if !may(sh, cmd, action) {
            return Some(sh.denied(action));
        }
    }
    if matches!(cmd, Command::DeskPresentBlank | Command::DeskPresentCard) && !sh.demo {
        return Some(sh.info_key("card.msg.demo_only"));
    }
    None
}

/// Whether the operator may run `cmd` on the tab as it is now (the hint line offers only these).
pub fn offered(c: &Cards, sh: &Shell, cmd: Command) -> bool {
    if let Some(action) = action_of(cmd) {
        if !may(sh, cmd, action) {
            return false;
        }
    }
    if matches!(cmd, Command::DeskPresentBlank | Command::DeskPresentCard) {
        return sh.demo;
    }
    let detail = c.shown().map(|d| &d.view);
    let holds = c
        .selected_person()
        .is_some_and(|p| card_state_of(p).is_some_and(|s| !s.is_final()));
    let in_state = |t: Transition| {
        detail.is_some_and(|d| {
            card::check(
                t,
                &card::Context {
                    card_no: d.card_no,
                    state: d.state,
                    // The 24 h wait is not a reason to hide the key: the form explains it.
                    lost_at: None,
                    now: sh.now,
                    director_override: false,
                    override_reason_given: false,
                    is_director: false,
                },
            )
            .is_ok()
                || (t == Transition::Reissue && d.state == CardState::Lost)
        })
    };
    match cmd {
        Command::CardIssue => c.selected.is_some() && !holds,
        Command::CardRewrite => in_state(Transition::Rewrite),
        Command::CardReportLost => in_state(Transition::ReportLost),
        Command::CardReportFound => in_state(Transition::ReportFound),
        Command::CardReissue => in_state(Transition::Reissue),
        Command::CardExchange => in_state(Transition::Exchange),
        Command::CardReturn => in_state(Transition::Return),
        Command::CardCancel => in_state(Transition::Cancel),
        Command::CardExtend => in_state(Transition::Extend),
        Command::CardPinChange | Command::CardPinReset => in_state(Transition::PinChange),
        Command::CardLimits => in_state(Transition::Limits),
        Command::CardTopUp | Command::CardRefund | Command::CardCorrect => detail.is_some(),
        Command::CardStatement => c.selected.is_some(),
        Command::CardResend => c.shown().is_some_and(|d| {
            d.confirmations
                .pending
                .iter()
                .any(|p| matches!(p.command_state.as_str(), "failed" | "unknown"))
        }),
        _ => true,
    }
}

/// The tab's hints: only what the role may do to the card as it is now.
pub fn hints(c: &Cards, sh: &Shell) -> Vec<Command> {
    let candidates: &[Command] = match c.view {
        DeskView::People => &[
            Command::Help,
            Command::Filter,
            Command::CardIssue,
            Command::CardReportLost,
            Command::CardReportFound,
            Command::CardReissue,
            Command::CardExchange,
            Command::CardExtend,
            Command::CardTopUp,
            Command::CardStatement,
            Command::CardResend,
            Command::CardNumber,
            Command::DeskPresentBlank,
            Command::DeskView,
            Command::Quit,
        ],
        DeskView::Stock => &[
            Command::Help,
            Command::StockReceive,
            Command::StockSpoil,
            Command::StockCount,
            Command::DeskView,
            Command::Quit,
        ],
        DeskView::Reports => &[
            Command::Help,
            Command::ReportFilter,
            Command::ReportExport,
            Command::DeskView,
            Command::Quit,
        ],
    };
    candidates
        .iter()
        .copied()
        .filter(|cmd| offered(c, sh, *cmd))
        .collect()
}

/// Runs one of the tab's commands: permission first, then the view it belongs to, then the
/// object it acts on. None: not a command of this tab.
pub fn run(c: &mut Cards, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
    if owner(cmd) != Some(ViewId::Tab(TabId::Cards)) {
        return None;
    }
    if let Some(refused) = refuse(c, sh, cmd) {
        return Some(refused);
    }
    let mut out = Vec::new();
    if let Some(view) = view_of(cmd) {
        if c.view != view {
            c.view = view;
            out.extend(c.reload_all(sh));
            // A card command shows the card first; stock and report forms open at once.
            if view == DeskView::People {
                return Some(out);
            }
        }
    }
    out.extend(run_here(c, sh, cmd));
    Some(out)
}

fn open(c: &mut Cards, form: CardForm) -> Vec<Effect> {
    c.popup = Some(Popup::Form(form));
    vec![]
}

fn run_here(c: &mut Cards, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
    let lang = sh.lang;
    match cmd {
        Command::DeskView => {
            c.view = c.view.next();
            c.reload_all(sh)
        }
        Command::CardNumber => open(
            c,
            CardForm::new(
                CardFormKind::CardNumber,
                tr(lang, "card.form.title.card_number").to_string(),
                vec![text_field(CardField::CardNo, "")],
            ),
        ),
        Command::DeskPresentBlank => vec![(Effect::DeskPresent { card_no: None })],
        Command::CardStatement => c.open_statement(sh),
        Command::DeskShiftClose => open(
            c,
            CardForm::new(
                CardFormKind::ShiftClose,
                tr(lang, "card.form.title.shift_close").to_string(),
                vec![
                    text_field(CardField::Counted, ""),
                    text_field(CardField::Reason, ""),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.shift_close").to_string()]),
        ),
        Command::DeskPresentCard => open(
            c,
            CardForm::new(
                CardFormKind::DeskPresent,
                tr(lang, "card.form.title.desk_present").to_string(),
                vec![text_field(CardField::CardNo, "")],
            ),
        ),
        Command::PersonImport => open(
            c,
            CardForm::new(
                CardFormKind::ImportPersons,
                tr(lang, "card.form.title.import").to_string(),
                vec![
                    text_field(CardField::Path, ""),
                    Field::with(
                        CardField::CreateDepartments,
                        Input::choice(
                            vec![
                                Opt::new("no", tr(lang, "card.form.create_departments_no")),
                                Opt::new("yes", tr(lang, "card.form.create_departments_yes")),
                            ],
                            "no",
                        ),
                    ),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.import").to_string()]),
        ),
        Command::CardExtendBatch => open(
            c,
            CardForm::new(
                CardFormKind::ExtendBatch,
                tr(lang, "card.form.title.extend_batch").to_string(),
                vec![
                    text_field(CardField::Path, ""),
                    text_field(CardField::Until, ""),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.extend_batch").to_string()]),
        ),
        Command::CardIssue => open_issue(c, sh),
        Command::StockReceive | Command::StockSpoil | Command::StockCount => {
            let (kind, title, first) = match cmd {
                Command::StockReceive => (
                    CardFormKind::StockReceive,
                    "card.form.title.stock_receive",
                    CardField::Quantity,
                ),
                Command::StockSpoil => (
                    CardFormKind::StockSpoil,
                    "card.form.title.stock_spoil",
                    CardField::Quantity,
                ),
                _ => (
                    CardFormKind::StockCount,
                    "card.form.title.stock_count",
                    CardField::Physical,
                ),
            };
            let mut form = CardForm::new(
                kind,
                tr(lang, title).to_string(),
                vec![text_field(first, ""), text_field(CardField::Note, "")],
            );
            if let Some(s) = &c.stock {
                form = form.intro(vec![trf(
                    lang,
                    "card.form.intro.stock",
                    &[("on_hand", &s.level.on_hand.to_string())],
                )]);
            }
            open(c, form)
        }
        Command::ReportFilter => open_report_filter(c, sh),
        Command::ReportExport => {
            let r = &c.reports;
            let name = format!(
                "onecard-{}-{}.csv",
                r.kind.name(),
                sh.today().format("%Y%m%d")
            );
            let form = CardForm::new(
                CardFormKind::ReportExport { overwrite: false },
                trf(
                    lang,
                    "card.form.title.report_export",
                    &[(
                        "report",
                        tr(lang, &format!("report.kind.{}", r.kind.name())),
                    )],
                ),
                vec![text_field(CardField::Path, &name)],
            )
            .intro(vec![tr(lang, "card.form.intro.report_export").to_string()]);
            open(c, form)
        }
        _ => run_on_card(c, sh, cmd),
    }
}
