//! The Card service tab's state: the person register search, the selected person's cards and the
//! card shown, the desk reader, card stock and fees, reports, and the card desk's forms.
//!
//! The rows are the card desk's own types (`db::card`, `db::person`, `db::stock`,
//! `db::propagation`, `report`), read by the console shell; `update` and `ui` only hold and
//! show them.

pub use crate::db::card::{
    CardEventRow, CardKindPolicy, CardLookup, CardView, IssueRequest, PaidFrom, PinKind, Rewrite,
};
pub use crate::db::door_group::DoorGroup;
pub use crate::db::person::PersonRow;
pub use crate::db::propagation::Confirmations;
pub use crate::db::stock::{FeeRow, StockCount, StockLevel};
use crate::domain::card::{CardKind, CardState};
pub use crate::import::persons::Summary as ImportSummary;
pub use crate::report::{Filter as ReportFilter, ReportKind, ReportPage};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

/// What the tab's body shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeskView {
    /// The person register and the selected person's cards.
    #[default]
    People,
    /// Blank card stock, counts and fees.
    Stock,
    /// The four reports.
    Reports,
}

impl DeskView {
    pub const ALL: [DeskView; 3] = [DeskView::People, DeskView::Stock, DeskView::Reports];
    pub fn key(self) -> &'static str {
        match self {
            DeskView::People => "people",
            DeskView::Stock => "stock",
            DeskView::Reports => "reports",
        }
    }
    pub fn next(self) -> DeskView {
        let i = DeskView::ALL.iter().position(|v| *v == self).unwrap_or(0);
        DeskView::ALL[(i + 1) % DeskView::ALL.len()]
    }
}

/// A person's card in service, as the search row says it.
pub fn card_state_of(p: &PersonRow) -> Option<CardState> {
    p.card_state.as_deref().and_then(|s| s.parse().ok())
}

/// Everything the card panel shows about one card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDetail {
    pub view: CardView,
    /// Newest first.
    pub history: Vec<CardEventRow>,
    pub confirmations: Confirmations,
}

impl CardDetail {
    pub fn id(&self) -> i64 {
        self.view.card_id
    }
}

/// The card on the desk reader (or typed by an operator without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub card_no: i64,
    /// The reader that reported it; None when typed.
    pub terminal_id: Option<i64>,
    /// None until the database has said what the card is.
    pub lookup: Option<CardLookup>,
    pub at: DateTime<Utc>,
}

/// A POS or attendance machine an issue can grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// What the desk's pickers offer, read when the tab opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardRefs {
    pub kinds: Vec<CardKindPolicy>,
    pub door_groups: Vec<DoorGroup>,
    pub pos: Vec<Named>,
    pub attendance: Vec<Named>,
}

impl CardRefs {
    pub fn kind(&self, kind: CardKind) -> Option<&CardKindPolicy> {
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

/// Blank card stock, its counts and the fees collected (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockInfo {
    pub level: StockLevel,
    pub counts: Vec<StockCount>,
    pub fees: Vec<FeeRow>,
}

/// Rows a report shows on screen; the export writes them all.
pub const REPORT_ROWS: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    pub kind: ReportKind,
    pub filter: ReportFilter,
    pub page: Option<ReportPage>,
    /// The row the cursor is on.
    pub selected: usize,
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            kind: ReportKind::Issued,
            filter: ReportFilter::default(),
            page: None,
            selected: 0,
        }
    }
}

/// A person import between its dry run and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportView {
    pub path: String,
    /// The dry run's answer.
    pub preview: ImportSummary,
    /// Rows done of all, while the import runs.
    pub progress: Option<(u64, u64)>,
}

/// A card desk operation, checked already as far as the console can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardOp {
    Issue(IssueRequest),
    Rewrite {
        card_id: i64,
        rewrite: Rewrite,
    },
    ReportLost {
        card_id: i64,
    },
    ReportFound {
        card_id: i64,
    },
    Reissue {
        card_id: i64,
        new_card_no: i64,
        override_reason: Option<String>,
        paid_from: PaidFrom,
    },
    Exchange {
        card_id: i64,
        new_card_no: i64,
        reason: String,
        paid_from: PaidFrom,
    },
    Return {
        card_id: i64,
    },
    Cancel {
        card_id: i64,
        reason: String,
    },
    Extend {
        card_id: i64,
        until: NaiveDate,
    },
    /// A CSV file naming cards or persons (June's delayed graduates).
    ExtendBatch {
        path: String,
        until: NaiveDate,
    },
    /// The holder's: the old PIN must be right.
    ChangePin {
        card_id: i64,
        which: PinKind,
        old: String,
        new: String,
    },
    ResetPin {
        card_id: i64,
        which: PinKind,
    },
    SetLimits {
        card_id: i64,
        per_purchase: Option<Decimal>,
        daily_count: Option<i32>,
    },
    TopUp {
        person_id: i64,
        card_id: i64,
        amount: Decimal,
    },
    Resend {
        card_id: i64,
    },
}

/// A blank card stock operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockOp {
    Receive { quantity: i32, note: String },
    Spoil { quantity: i32, note: String },
    Count { physical: i32, note: String },
}

/// PINs shown once, in a popup the operator dismisses; gone from the state after that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinNote {
    pub card_no: i64,
    pub person_name: String,
    /// (catalogue key of the label, the PIN)
    pub pins: Vec<(&'static str, String)>,
}

/// What a finished card desk operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDone {
    /// In the operator's language, naming the card.
    pub text: String,
    /// The card to show afterwards (a new card after issue, reissue or exchange).
    pub card_id: Option<i64>,
    pub person_id: Option<i64>,
    pub pins: Option<PinNote>,
}

// ---- Forms ----------------------------------------------------------------------------------

/// One option of a choice or a multi-select: a value for the operation and a label to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub value: String,
    pub label: String,
}

impl Opt {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Opt {
        Opt {
            value: value.into(),
            label: label.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(String),
    /// Shown as dots (PINs).
    Secret(String),
    /// One of the options: ←/→ or space moves.
    Choice {
        options: Vec<Opt>,
        at: usize,
    },
    /// Any of the options: ←/→ moves the cursor, space ticks.
    Multi {
        options: Vec<Opt>,
        checked: Vec<bool>,
        cursor: usize,
    },
    /// Shown, not edited (the person an issue is for).
    Shown(String),
}

impl Input {
    pub fn choice(options: Vec<Opt>, selected: &str) -> Input {
        let at = options
            .iter()
            .position(|o| o.value == selected)
            .unwrap_or(0);
        Input::Choice { options, at }
    }
    pub fn multi(options: Vec<Opt>, checked: impl Fn(&Opt) -> bool) -> Input {
        let checked = options.iter().map(checked).collect();
        Input::Multi {
            options,
            checked,
            cursor: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardField {
    /// Catalogue key of the label; unique within a form.
    pub label: &'static str,
    pub input: Input,
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
    ImportPersons,
    StockReceive,
    StockSpoil,
    StockCount,
    ReportFilter,
    ReportExport,
}

/// A card desk form in a popup over the tab: Enter submits from any field, Esc cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardForm {
    pub kind: CardFormKind,
    /// Names the object ("Reissue card 8165537 of 王芳").
    pub title: String,
    /// What the operator should know first: the fee, the balance rule, the 24 h rule.
    pub intro: Vec<String>,
    pub fields: Vec<CardField>,
    pub focus: usize,
    pub error: Option<String>,
    pub busy: bool,
}

impl CardForm {
    pub fn new(kind: CardFormKind, title: String, fields: Vec<CardField>) -> CardForm {
        let focus = fields
            .iter()
            .position(|f| !matches!(f.input, Input::Shown(_)))
            .unwrap_or(0);
        CardForm {
            kind,
            title,
            intro: Vec::new(),
            fields,
            focus,
            error: None,
            busy: false,
        }
    }

    pub fn field(&self, label: &str) -> Option<&CardField> {
        self.fields.iter().find(|f| f.label == label)
    }

    pub fn field_mut(&mut self, label: &str) -> Option<&mut CardField> {
        self.fields.iter_mut().find(|f| f.label == label)
    }

    pub fn index(&self, label: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.label == label)
    }

    /// A text or secret field's value, trimmed; "" when there is no such field.
    pub fn text(&self, label: &str) -> &str {
        match self.field(label).map(|f| &f.input) {
            Some(Input::Text(s) | Input::Secret(s)) => s.trim(),
            _ => "",
        }
    }

    /// The chosen option's value of a choice field.
    pub fn choice(&self, label: &str) -> &str {
        match self.field(label).map(|f| &f.input) {
            Some(Input::Choice { options, at }) => {
                options.get(*at).map(|o| o.value.as_str()).unwrap_or("")
            }
            _ => "",
        }
    }

    /// The ticked options' values of a multi-select field.
    pub fn ticked(&self, label: &str) -> Vec<&str> {
        match self.field(label).map(|f| &f.input) {
            Some(Input::Multi {
                options, checked, ..
            }) => options
                .iter()
                .zip(checked)
                .filter(|(_, c)| **c)
                .map(|(o, _)| o.value.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Sets a text field (defaults that follow another field).
    pub fn set_text(&mut self, label: &str, value: String) {
        if let Some(CardField {
            input: Input::Text(s),
            ..
        }) = self.field_mut(label)
        {
            *s = value;
        }
    }

    /// Ticks a multi-select's options by `f`.
    pub fn set_ticked(&mut self, label: &str, f: impl Fn(&Opt) -> bool) {
        if let Some(CardField {
            input: Input::Multi {
                options, checked, ..
            },
            ..
        }) = self.field_mut(label)
        {
            for (o, c) in options.iter().zip(checked.iter_mut()) {
                *c = f(o);
            }
        }
    }

    /// Points the form's cursor at a field (the one at fault).
    pub fn focus_on(&mut self, label: &str) {
        if let Some(i) = self.index(label) {
            self.focus = i;
        }
    }
}

/// The Card service tab.
#[derive(Debug, Clone, Default)]
pub struct CardDesk {
    pub view: DeskView,
    /// The search as typed (number, name, card number or department).
    pub query: String,
    /// The query `results` answer; None before the first search.
    pub searched: Option<String>,
    pub results: Vec<PersonRow>,
    /// The selected person, by id, so a new search keeps the cursor on them when it can.
    pub selected: Option<i64>,
    /// The selected person's cards (newest first), and whose they are.
    pub cards: Vec<CardView>,
    pub cards_of: Option<i64>,
    /// The card the panel shows, by id.
    pub card: Option<i64>,
    pub detail: Option<CardDetail>,
    pub reader: Option<Presented>,
    pub refs: Option<CardRefs>,
    pub stock: Option<StockInfo>,
    pub reports: Reports,
    /// The dry run or the run of a person import (shown in a popup).
    pub import: Option<ImportView>,
}

impl CardDesk {
    pub fn selected_index(&self) -> usize {
        self.selected
            .and_then(|id| self.results.iter().position(|p| p.id == id))
            .unwrap_or(0)
    }

    pub fn selected_person(&self) -> Option<&PersonRow> {
        let id = self.selected?;
        self.results.iter().find(|p| p.id == id)
    }

    /// The card shown, when its details have arrived.
    pub fn shown(&self) -> Option<&CardDetail> {
        self.detail.as_ref().filter(|d| Some(d.id()) == self.card)
    }

    /// The card a new issue would get from the reader: a blank card just read.
    pub fn blank_on_reader(&self) -> Option<i64> {
        self.reader
            .as_ref()
            .filter(|p| p.lookup == Some(CardLookup::New))
            .map(|p| p.card_no)
    }
}

/// What the next frame reloads for the tab: a search typed, the cursor moved to another person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeskPending {
    pub search: bool,
    pub person: bool,
}

impl DeskPending {
    pub fn is_empty(&self) -> bool {
        !self.search && !self.person
    }
}
