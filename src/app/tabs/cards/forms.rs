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

mod submit;

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

/// The default validity of a new card of `kind` from `from`: temporary cards a year (the
/// kind's longest), students four years, staff five.
fn default_until(kind: CardKind, from: NaiveDate, refs: Option<&CardRefs>) -> NaiveDate {
    let max = refs
        .and_then(|r| r.kind(kind))
        .and_then(|k| k.max_validity_days)
        .map(i64::from);
    let months = match kind {
        CardKind::Temporary => 12,
        CardKind::Student => 48,
        CardKind::Staff => 60,
    };
    let until = from.checked_add_months(Months::new(months)).unwrap_or(from);
    match max {
        Some(days) => until.min(from + chrono::Duration::days(days)),
        None if kind == CardKind::Temporary => until.min(from + chrono::Duration::days(365)),
        None => until,
    }
}

fn default_subsystems(kind: CardKind) -> &'static [Subsystem] {
    match kind {
        CardKind::Staff => &Subsystem::ALL,
        CardKind::Student => &[Subsystem::Door, Subsystem::Pos],
        CardKind::Temporary => &[Subsystem::Pos],
    }
}

/// The grant pickers: subsystems, door groups, POS and attendance machines.
fn grant_fields(lang: Lang, refs: Option<&CardRefs>) -> Vec<Field<CardField>> {
    let empty = CardRefs::default();
    let refs = refs.unwrap_or(&empty);
    let named = |list: &[Named]| {
        list.iter()
            .map(|n| Opt::new(n.id.to_string(), n.name.clone()))
            .collect::<Vec<_>>()
    };
    vec![
        Field::with(
            CardField::Subsystems,
            Input::multi(
                Subsystem::ALL
                    .iter()
                    .map(|s| Opt::new(s.name(), subsystem(lang, *s)))
                    .collect(),
                |_| false,
            ),
        ),
        Field::with(
            CardField::DoorGroups,
            Input::multi(
                refs.door_groups
                    .iter()
                    .map(|g| Opt::new(g.id.to_string(), g.name.clone()))
                    .collect(),
                |_| false,
            ),
        ),
        Field::with(CardField::Pos, Input::multi(named(&refs.pos), |_| false)),
        Field::with(
            CardField::Attendance,
            Input::multi(named(&refs.attendance), |_| false),
        ),
    ]
}

/// An issue form's defaults for a kind: subsystems, machines, validity and the fee.
fn apply_kind_defaults(c: &Cards, sh: &Shell, form: &mut Form<CardField>, kind: CardKind) {
    let lang = sh.lang;
    let subsystems = default_subsystems(kind);
    form.set_ticked(CardField::Subsystems, |o| {
        subsystems.iter().any(|s| s.name() == o.value)
    });
    form.set_ticked(CardField::Pos, |_| true);
    form.set_ticked(CardField::Attendance, |_| kind == CardKind::Staff);
    if !kind.allows(Subsystem::Door) {
        form.set_ticked(CardField::DoorGroups, |_| false);
    }
    let from = parse_date(form.text(CardField::ValidFrom)).unwrap_or_else(|| sh.today());
    form.set_text(
        CardField::ValidUntil,
        &default_until(kind, from, c.refs.as_ref()).to_string(),
    );
    let fee = c
        .refs
        .as_ref()
        .and_then(|r| r.kind(kind))
        .map(|k| k.issue_fee)
        .unwrap_or_default();
    form.intro = vec![if fee > Money::ZERO {
        trf(
            lang,
            "card.form.intro.issue_fee",
            &[("kind", card_kind(lang, kind)), ("fee", &fee.to_string())],
        )
    } else {
        trf(
            lang,
            "card.form.intro.issue_free",
            &[("kind", card_kind(lang, kind))],
        )
    }];
    if kind == CardKind::Temporary {
        form.intro
            .push(tr(lang, "card.form.intro.temporary").to_string());
    }
}

fn open_issue(c: &mut Cards, sh: &mut Shell) -> Vec<Effect> {
    let lang = sh.lang;
    let Some(person) = c.selected_person().cloned() else {
        return sh.info_key("card.msg.select_person");
    };
    if let (Some(card_no), Some(s)) = (person.card_no, card_state_of(&person)) {
        if !s.is_final() {
            return sh.error(trf(
                lang,
                "card.msg.holds_card",
                &[
                    ("name", &person.name),
                    ("card", &card_no.to_string()),
                    ("state", words::card_state(lang, s)),
                ],
            ));
        }
    }
    let kind = match person.category.as_str() {
        "staff" => CardKind::Staff,
        "student" => CardKind::Student,
        _ => CardKind::Temporary,
    };
    let kinds: Vec<Opt> = CardKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), card_kind(lang, *k)))
        .collect();
    let card_no = c
        .blank_on_reader()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let mut fields = vec![
        text_field(CardField::CardNo, &card_no),
        Field::with(CardField::Person, Input::Shown(person_line(&person))),
        Field::with(CardField::Kind, Input::choice(kinds, kind.name())),
    ];
    fields.extend(grant_fields(lang, c.refs.as_ref()));
    fields.push(text_field(CardField::ValidFrom, &sh.today().to_string()));
    fields.push(text_field(CardField::ValidUntil, ""));
    fields.push(paid_field(lang));
    let mut form = CardForm::new(
        CardFormKind::Issue {
            person_id: person.id,
        },
        trf(lang, "card.form.title.issue", &[("name", &person.name)]),
        fields,
    );
    apply_kind_defaults(c, sh, &mut form.form, kind);
    // With a blank card on the reader, the kind is the first thing to decide.
    if !card_no.is_empty() {
        form.form.focus_on(CardField::Kind);
    }
    open(c, form)
}

fn open_report_filter(c: &mut Cards, sh: &mut Shell) -> Vec<Effect> {
    let lang = sh.lang;
    let r = &c.reports;
    let kinds = ReportKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), tr(lang, &format!("report.kind.{}", k.name()))))
        .collect();
    let mut card_kinds = vec![Opt::new("", tr(lang, "report.all"))];
    card_kinds.extend(
        CardKind::ALL
            .iter()
            .map(|k| Opt::new(k.name(), card_kind(lang, *k))),
    );
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let fields = vec![
        Field::with(CardField::Report, Input::choice(kinds, r.kind.name())),
        text_field(CardField::From, &date(r.filter.from)),
        text_field(CardField::Until, &date(r.filter.to)),
        text_field(CardField::Department, &text(&r.filter.department)),
        Field::with(
            CardField::CardKind,
            Input::choice(card_kinds, r.filter.kind.map_or("", |k| k.name())),
        ),
        text_field(CardField::Operator, &text(&r.filter.operator)),
    ];
    let form = CardForm::new(
        CardFormKind::ReportFilter,
        tr(lang, "card.form.title.report_filter").to_string(),
        fields,
    )
    .intro(vec![tr(lang, "card.form.intro.report_filter").to_string()]);
    open(c, form)
}

/// The commands on the card shown: the card first, then whether its state allows it.
fn run_on_card(c: &mut Cards, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
    let lang = sh.lang;
    let Some(d) = c.shown().map(|d| d.view.clone()) else {
        let key = if c.selected.is_some() && c.cards_of.is_some() {
            "card.msg.no_card"
        } else {
            "card.msg.select_card"
        };
        return sh.info_key(key);
    };
    let transition = match cmd {
        Command::CardRewrite => Some(Transition::Rewrite),
        Command::CardReportLost => Some(Transition::ReportLost),
        Command::CardReportFound => Some(Transition::ReportFound),
        Command::CardReissue => Some(Transition::Reissue),
        Command::CardExchange => Some(Transition::Exchange),
        Command::CardReturn => Some(Transition::Return),
        Command::CardCancel => Some(Transition::Cancel),
        Command::CardExtend => Some(Transition::Extend),
        Command::CardPinChange => Some(Transition::PinChange),
        Command::CardPinReset => Some(Transition::PinReset),
        Command::CardLimits => Some(Transition::Limits),
        _ => None,
    };
    let mut too_soon = false;
    if let Some(t) = transition {
        let ctx = card::Context {
            card_no: d.card_no,
            state: d.state,
            lost_at: d.lost_at,
            now: sh.now,
            director_override: false,
            override_reason_given: false,
            is_director: is_director(sh),
        };
        match card::check(t, &ctx) {
            Ok(()) => {}
            // A director may override the wait, with a reason: the form asks for it.
            Err(Refusal::TooSoon { .. }) if is_director(sh) => too_soon = true,
            Err(r) => return sh.error(refusal(lang, &r)),
        }
    }
    let named = words::card_named(lang, &d);
    let policy = c.refs.as_ref().and_then(|r| r.kind(d.kind)).cloned();
    // What happens to the money when the card leaves service: refunded in cash, or kept
    // (forfeited) by the college.
    let balance_rule = || {
        let refunded = policy
            .as_ref()
            .is_some_and(|p| p.balance_on_return == BalancePolicy::Refunded);
        trf(
            lang,
            if refunded {
                "card.form.intro.balance_refunded"
            } else {
                "card.form.intro.balance_kept"
            },
            &[("balance", &d.balance.to_string())],
        )
    };
    let id = d.card_id;
    let confirm = |c: &mut Cards, key: &str, extra: String, op: CardOp| {
        let mut question = trf(lang, key, &[("card", &named)]);
        if !extra.is_empty() {
            question.push(' ');
            question.push_str(&extra);
        }
        c.ask(question, Effect::Op(op))
    };
    match cmd {
        Command::CardReportLost => confirm(
            c,
            "card.confirm.report_lost",
            String::new(),
            CardOp::ReportLost { card_id: id },
        ),
        Command::CardReportFound => confirm(
            c,
            "card.confirm.report_found",
            String::new(),
            CardOp::ReportFound { card_id: id },
        ),
        Command::CardReturn => confirm(
            c,
            "card.confirm.return",
            balance_rule(),
            CardOp::Return { card_id: id },
        ),
        Command::CardResend => vec![c.send(Effect::Op(CardOp::Resend { card_id: id }))],
        Command::CardRewrite => {
            let mut fields = grant_fields(lang, c.refs.as_ref());
            fields.push(text_field(
                CardField::ValidUntil,
                &d.valid_until.to_string(),
            ));
            let mut form = CardForm::new(
                CardFormKind::Rewrite {
                    card_id: id,
                    kind: d.kind,
                },
                trf(lang, "card.form.title.rewrite", &[("card", &named)]),
                fields,
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.rewrite",
                &[("from", &d.valid_from.to_string())],
            )]);
            let f = &mut form.form;
            f.set_ticked(CardField::Subsystems, |o| {
                d.subsystems.iter().any(|s| s.name() == o.value)
            });
            let has = |o: &Opt| {
                d.grants
                    .iter()
                    .any(|g| g.door == 0 && g.terminal_id.to_string() == o.value)
            };
            f.set_ticked(CardField::Pos, has);
            f.set_ticked(CardField::Attendance, has);
            // A door group is ticked when the card opens every door of it.
            f.set_ticked(CardField::DoorGroups, |o| {
                d.door_groups.iter().any(|(g, _)| g.to_string() == o.value)
            });
            open(c, form)
        }
        Command::CardReissue | Command::CardExchange => {
            let reissue = cmd == Command::CardReissue;
            let blank = c
                .blank_on_reader()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let mut fields = vec![text_field(CardField::CardNo, &blank)];
            if reissue && too_soon {
                fields.push(text_field(CardField::OverrideReason, ""));
            }
            if !reissue {
                fields.push(text_field(CardField::Reason, ""));
            }
            fields.push(paid_field(lang));
            let (kind, title) = if reissue {
                (
                    CardFormKind::Reissue { card_id: id },
                    "card.form.title.reissue",
                )
            } else {
                (
                    CardFormKind::Exchange { card_id: id },
                    "card.form.title.exchange",
                )
            };
            let fee = policy
                .as_ref()
                .map(|p| {
                    if reissue {
                        p.reissue_fee
                    } else {
                        p.exchange_fee
                    }
                })
                .unwrap_or_default();
            let mut intro = vec![
                trf(
                    lang,
                    if reissue {
                        "card.form.intro.reissue"
                    } else {
                        "card.form.intro.exchange"
                    },
                    &[
                        ("fee", &fee.to_string()),
                        ("balance", &d.balance.to_string()),
                    ],
                ),
                tr(lang, "card.form.intro.new_card").to_string(),
            ];
            if too_soon {
                let hours = d.lost_at.map_or(0, |at| (sh.now - at).num_hours());
                intro.push(trf(
                    lang,
                    "card.form.intro.override",
                    &[("hours", &hours.to_string())],
                ));
            }
            let form =
                CardForm::new(kind, trf(lang, title, &[("card", &named)]), fields).intro(intro);
            open(c, form)
        }
        Command::CardCancel => {
            let form = CardForm::new(
                CardFormKind::Cancel { card_id: id },
                trf(lang, "card.form.title.cancel", &[("card", &named)]),
                vec![text_field(CardField::Reason, "")],
            )
            .intro(vec![
                balance_rule(),
                tr(lang, "card.form.intro.cancel").to_string(),
            ]);
            open(c, form)
        }
        Command::CardExtend => {
            let from = d.valid_until.max(sh.today());
            let until = match d.kind {
                CardKind::Temporary => default_until(d.kind, from, c.refs.as_ref()),
                _ => from.checked_add_months(Months::new(12)).unwrap_or(from),
            };
            let mut intro = vec![trf(
                lang,
                "card.form.intro.extend",
                &[("until", &d.valid_until.to_string())],
            )];
            if d.kind == CardKind::Temporary {
                intro.push(tr(lang, "card.form.intro.temporary").to_string());
            }
            let form = CardForm::new(
                CardFormKind::Extend {
                    card_id: id,
                    kind: d.kind,
                    current: d.valid_until,
                },
                trf(lang, "card.form.title.extend", &[("card", &named)]),
                vec![text_field(CardField::Until, &until.to_string())],
            )
            .intro(intro);
            open(c, form)
        }
        Command::CardPinChange => {
            let form = CardForm::new(
                CardFormKind::PinChange { card_id: id },
                trf(lang, "card.form.title.pin_change", &[("card", &named)]),
                vec![
                    pin_field(lang),
                    pin_secret(CardField::OldPin),
                    pin_secret(CardField::NewPin),
                    pin_secret(CardField::PinAgain),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.pin_change").to_string()]);
            open(c, form)
        }
        Command::CardPinReset => {
            let form = CardForm::new(
                CardFormKind::PinReset { card_id: id },
                trf(lang, "card.form.title.pin_reset", &[("card", &named)]),
                vec![pin_field(lang)],
            )
            .intro(vec![tr(lang, "card.form.intro.pin_reset").to_string()]);
            open(c, form)
        }
        Command::CardLimits => {
            let amount = d
                .own_per_purchase
                .map(|a| format!("{a:.2}"))
                .unwrap_or_default();
            let count = d.own_daily_count.map(|n| n.to_string()).unwrap_or_default();
            let (kind_amount, kind_count) = policy
                .as_ref()
                .map(|p| (p.per_purchase_limit, p.daily_count_limit))
                .unwrap_or((d.limits.per_purchase, d.limits.daily_count));
            let form = CardForm::new(
                CardFormKind::Limits { card_id: id },
                trf(lang, "card.form.title.limits", &[("card", &named)]),
                vec![
                    text_field(CardField::PerPurchase, &amount),
                    text_field(CardField::DailyCount, &count),
                ],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.limits",
                &[
                    ("kind", card_kind(lang, d.kind)),
                    ("amount", &kind_amount.to_string()),
                    ("count", &kind_count.to_string()),
                ],
            )]);
            open(c, form)
        }
        Command::CardRefund => open(
            c,
            CardForm::new(
                CardFormKind::Refund {
                    card_id: id,
                    person_id: d.person_id,
                },
                trf(lang, "card.form.title.refund", &[("card", &named)]),
                vec![text_field(CardField::Amount, "")],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.refund",
                &[("balance", &d.balance.to_string())],
            )]),
        ),
        Command::CardCorrect => open(
            c,
            CardForm::new(
                CardFormKind::Correct { card_id: id },
                trf(lang, "card.form.title.correct", &[("card", &named)]),
                vec![
                    text_field(CardField::Purchase, ""),
                    text_field(CardField::Amount, ""),
                    text_field(CardField::Receipt, ""),
                    text_field(CardField::Note, ""),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.correct").to_string()]),
        ),
        Command::CardTopUp => {
            let form = CardForm::new(
                CardFormKind::TopUp {
                    card_id: id,
                    person_id: d.person_id,
                },
                trf(lang, "card.form.title.top_up", &[("card", &named)]),
                vec![
                    text_field(CardField::Amount, ""),
                    Field::with(
                        CardField::Channel,
                        Input::choice(
                            ["cash", "bank", "other"]
                                .iter()
                                .map(|c| Opt::new(*c, tr(lang, &format!("card.channel.{c}"))))
                                .collect(),
                            "cash",
                        ),
                    ),
                    text_field(CardField::ChannelName, ""),
                ],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.top_up",
                &[("balance", &d.balance.to_string())],
            )]);
            open(c, form)
        }
        _ => vec![],
    }
}
