//! The Card service tab, the card desk's day: the person register search, the desk reader, the
//! selected person's cards and the card panel, the card desk's forms, stock and fees, reports
//! and imports.
//!
//! The rows are the card desk's own types (`db::card`, `db::person`, `db::stock`,
//! `db::propagation`, `report`), read by the console shell; `update` and `ui` only hold and
//! show them.

pub mod forms;
mod import;
mod messages;
pub mod statement;
mod update;

pub use messages::{Effect, Msg};
pub use update::update;

pub use import::{change_rows, ImportView};

use super::{Arrive, Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::Filter;
use crate::app::form::{Answer, Confirm};
use crate::app::layout;
use crate::app::load::Shown;
use crate::app::shell::{Level, Shell, TabId};
use crate::app::words;
pub use crate::db::card::{
    CardEventRow, CardKindPolicy, CardLookup, CardView, IssueRequest, PaidFrom, PinKind, Rewrite,
};
pub use crate::db::door_group::DoorGroup;
use crate::db::notify::Change;
pub use crate::db::person::PersonRow;
pub use crate::db::propagation::Confirmations;
pub use crate::db::stock::{FeeRow, StockCount, StockLevel};
use crate::domain::card::{CardKind, CardState};
use crate::domain::money::Money;
pub use crate::import::persons::Summary as ImportSummary;
use crate::keymap::{Command, Section};
pub use crate::report::{Filter as ReportFilter, ReportKind, ReportPage};
use chrono::{DateTime, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
pub use forms::{CardField, CardForm, CardFormKind};
use ratatui::layout::Rect;

/// People a search shows at most.
pub const SEARCH_LIMIT: i64 = 200;
/// Rows a report shows on screen; the export writes them all.
pub const REPORT_ROWS: i64 = 500;

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
        per_purchase: Option<Money>,
        daily_count: Option<i32>,
    },
    TopUp {
        person_id: i64,
        card_id: i64,
        amount: Money,
        channel: crate::db::desk::Channel,
        /// The console's desk reader: the top-up is booked at its desk (the first desk
        /// without one).
        desk_reader: Option<i64>,
    },
    Resend {
        card_id: i64,
    },
    /// Cash paid out of the console's desk drawer from the person's balance.
    Refund {
        person_id: i64,
        card_id: i64,
        amount: Money,
        desk_reader: Option<i64>,
    },
    /// An overcharge reversed against the original purchase (`None`: the whole of it).
    Correct {
        card_id: i64,
        purchase: PurchaseText,
        amount: Option<Money>,
        receipt: String,
        note: String,
    },
    /// The console's desk closes its shift with the cash counted.
    CloseShift {
        counted: Money,
        reason: String,
        desk_reader: Option<i64>,
    },
}

/// A purchase as typed from its receipt: its purchase number (the statement's), or the POS
/// (name or id) and the POS's transaction number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseText {
    Purchase(i64),
    Pos { pos: String, txn_no: i64 },
}

impl PurchaseText {
    /// "41", "#41", "一食堂 POS 1/1001"; None: neither.
    pub fn parse(text: &str) -> Option<PurchaseText> {
        let text = text.trim();
        if let Ok(id) = text.trim_start_matches('#').parse::<i64>() {
            return (id > 0).then_some(PurchaseText::Purchase(id));
        }
        let (pos, txn) = text.rsplit_once('/')?;
        let txn_no = txn.trim().parse::<i64>().ok()?;
        let pos = pos.trim();
        (!pos.is_empty()).then(|| PurchaseText::Pos {
            pos: pos.to_string(),
            txn_no,
        })
    }
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

/// The tab's popups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    Form(CardForm),
    /// PINs shown once; dismissed, they are gone.
    Pins(PinNote),
    /// A person import: its dry run's answer, then its progress.
    Import,
    /// The selected person's statement.
    Statement(statement::StatementView),
}

/// What the next frame reads for the tab: a search typed, the cursor moved to another person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeskPending {
    pub search: bool,
    pub person: bool,
}

/// One kind of read's newest generation shown, per kind.
#[derive(Debug, Clone, Copy, Default)]
struct Loads {
    refs: Shown,
    search: Shown,
    person_cards: Shown,
    card: Shown,
    lookup: Shown,
    stock: Shown,
    report: Shown,
    statement: Shown,
}

/// The Card service tab.
#[derive(Debug, Clone, Default)]
pub struct Cards {
    pub view: DeskView,
    /// The search as typed (number, name, card number, department or ID document): `/` or
    /// just typing edits it.
    pub search: Filter,
    /// The query `results` answer; None before the first search.
    pub searched: Option<String>,
    pub results: Vec<PersonRow>,
    /// How many persons match in all (the list shows at most `SEARCH_LIMIT`).
    pub total: i64,
    /// The selected person, by id, so a new search keeps the cursor on them when it can.
    pub selected: Option<i64>,
    /// The selected person's cards (newest first), and whose they are.
    pub cards: Vec<CardView>,
    pub cards_of: Option<i64>,
    /// The card the panel shows, by id.
    pub card: Option<i64>,
    pub detail: Option<CardDetail>,
    pub reader: Option<Presented>,
    /// `ui.desk_reader`, as a terminal id: the console works at its desk.
    pub desk_reader: Option<i64>,
    pub refs: Option<CardRefs>,
    pub stock: Option<StockInfo>,
    pub reports: Reports,
    /// The dry run or the run of a person import (shown in a popup).
    pub import: Option<ImportView>,
    pub popup: Option<Popup>,
    pub confirm: Option<Confirm<Effect>>,
    pub pending: DeskPending,
    /// While an operation of ours is on its way: what notifications said meanwhile. Its
    /// reads wait for the answer, so an operation is read again once (see `done`).
    held: Option<Change>,
    /// What the next frame reads besides the notifications (an operation's held change).
    queued: Change,
    loads: Loads,
}

// ---- Geometry ---------------------------------------------------------------------------------

/// The people view: the desk reader's line on top; below, the people found and the selected
/// person's card panel, side by side on a wide screen, stacked on a narrow one.
pub fn split(body: Rect) -> (Rect, Rect, Rect) {
    let reader = Rect::new(body.x, body.y, body.width, body.height.min(1));
    let rest = Rect::new(
        body.x,
        body.y + reader.height,
        body.width,
        body.height - reader.height,
    );
    if rest.width >= 140 {
        let left = rest.width * 9 / 20;
        (
            reader,
            Rect::new(rest.x, rest.y, left, rest.height),
            Rect::new(rest.x + left, rest.y, rest.width - left, rest.height),
        )
    } else {
        // The card panel needs about a dozen rows; the people list takes the rest.
        let panel = 12.min(rest.height.saturating_sub(5)).max(rest.height / 2);
        let top = rest.height - panel;
        (
            reader,
            Rect::new(rest.x, rest.y, rest.width, top),
            Rect::new(rest.x, rest.y + top, rest.width, panel),
        )
    }
}

/// The card panel: the card's facts, then terminals and history: below them when the panel is
/// tall, on their right when it is short.
pub fn panel_split(panel: Rect) -> (Rect, Rect) {
    if panel.height >= 22 {
        let top = 10;
        return (
            Rect::new(panel.x, panel.y, panel.width, top),
            Rect::new(panel.x, panel.y + top, panel.width, panel.height - top),
        );
    }
    let left = (panel.width * 3 / 5).clamp(38.min(panel.width), 58.min(panel.width));
    (
        Rect::new(panel.x, panel.y, left, panel.height),
        Rect::new(panel.x + left, panel.y, panel.width - left, panel.height),
    )
}

/// The stock view: stock and counts on the left, the fees collected on the right.
pub fn stock_split(body: Rect) -> (Rect, Rect) {
    let left = (body.width * 2 / 5).clamp(36.min(body.width), 56.min(body.width));
    (
        Rect::new(body.x, body.y, left, body.height),
        Rect::new(body.x + left, body.y, body.width - left, body.height),
    )
}

/// The reports view: the report and its filters on one line, the rows below.
pub fn reports_split(body: Rect) -> (Rect, Rect) {
    let head = body.height.min(1);
    (
        Rect::new(body.x, body.y, body.width, head),
        Rect::new(body.x, body.y + head, body.width, body.height - head),
    )
}

// ---- The model --------------------------------------------------------------------------------

impl Cards {
    pub fn query(&self) -> &str {
        self.search.text()
    }

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

    pub fn form(&self) -> Option<&CardForm> {
        match &self.popup {
            Some(Popup::Form(f)) => Some(f),
            _ => None,
        }
    }

    fn form_mut(&mut self) -> Option<&mut CardForm> {
        match &mut self.popup {
            Some(Popup::Form(f)) => Some(f),
            _ => None,
        }
    }

    /// Moves the cursor to a person: their cards are read at the next frame (so holding a key
    /// reads only where it stops).
    fn select_person(&mut self, person_id: Option<i64>) {
        if self.selected == person_id {
            return;
        }
        self.selected = person_id;
        self.cards.clear();
        self.cards_of = None;
        self.card = None;
        self.detail = None;
        self.pending.person = person_id.is_some();
    }

    /// Shows a card in the panel, reading it when it is another one (or `force`).
    fn show_card(&mut self, sh: &mut Shell, card_id: Option<i64>, force: bool) -> Vec<Effect> {
        let same = self.card == card_id && self.shown().is_some();
        self.card = card_id;
        if self.detail.as_ref().map(|d| d.id()) != card_id {
            self.detail = None;
        }
        match card_id {
            Some(card_id) if force || !same => vec![
                (Effect::LoadCard {
                    gen: sh.next_gen(),
                    card_id,
                }),
            ],
            _ => vec![],
        }
    }

    fn lookup(&mut self, sh: &mut Shell, card_no: i64) -> Effect {
        Effect::Lookup {
            gen: sh.next_gen(),
            card_no,
        }
    }

    /// Asks y/n before `effect` (the question names the object).
    pub(crate) fn ask(&mut self, question: String, effect: Effect) -> Vec<Effect> {
        self.confirm = Some(Confirm { question, effect });
        vec![]
    }

    /// Sends an operation; until its answer, what notifications say is held (`held`).
    pub(crate) fn send(&mut self, effect: Effect) -> Effect {
        if matches!(effect, Effect::Op(_)) {
            self.held.get_or_insert_with(Change::default);
        }
        effect
    }

    /// The operation's answer came: what was held is read at the next frame, with the new
    /// selection in place, so the change is read once.
    fn release(&mut self) {
        if let Some(held) = self.held.take() {
            self.queued.merge(held);
        }
    }

    /// Enter on the people list: the person's next card, when they have several.
    fn next_card(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if self.view != DeskView::People || self.cards.len() < 2 {
            return vec![];
        }
        let at = self
            .card
            .and_then(|id| self.cards.iter().position(|c| c.card_id == id))
            .map_or(0, |i| (i + 1) % self.cards.len());
        let id = self.cards[at].card_id;
        self.show_card(sh, Some(id), false)
    }

    /// The rows the cursor keys move in: (count, cursor).
    fn cursor(&self) -> (usize, usize) {
        match self.view {
            DeskView::People => (self.results.len(), self.selected_index()),
            DeskView::Reports => (
                self.reports.page.as_ref().map_or(0, |p| p.rows.len()),
                self.reports.selected,
            ),
            DeskView::Stock => (0, 0),
        }
    }

    /// What the tab shows, asked for again (entering the tab, refresh, a resync).
    fn reload_all(&mut self, sh: &mut Shell) -> Vec<Effect> {
        let mut out = vec![(Effect::LoadRefs { gen: sh.next_gen() })];
        match self.view {
            DeskView::People => {
                out.push(Effect::Search {
                    gen: sh.next_gen(),
                    query: self.query().to_string(),
                });
                if let Some(person_id) = self.selected {
                    out.push(Effect::LoadPersonCards {
                        gen: sh.next_gen(),
                        person_id,
                    });
                }
                if let Some(card_id) = self.card {
                    out.push(Effect::LoadCard {
                        gen: sh.next_gen(),
                        card_id,
                    });
                }
            }
            DeskView::Stock => out.push(Effect::LoadStock { gen: sh.next_gen() }),
            DeskView::Reports => {
                if sh.may(crate::domain::permission::Action::ReportExport) {
                    out.push(Effect::LoadReport {
                        gen: sh.next_gen(),
                        kind: self.reports.kind,
                        filter: self.reports.filter.clone(),
                    });
                }
            }
        }
        if let Some(p) = &self.reader {
            let card_no = p.card_no;
            out.push(self.lookup(sh, card_no));
        }
        self.pending = DeskPending::default();
        out
    }

    /// The frame's reads: the search typed and the person moved to since the last frame, and
    /// the cards notifications named. Each at most once.
    fn flush(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if let Some(held) = &mut self.held {
            held.merge(change.clone());
            return vec![];
        }
        let mut change = change.clone();
        change.merge(std::mem::take(&mut self.queued));
        let desk = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        // A person added or edited elsewhere, or a card's state changed, may change the list.
        let list_changed = !change.person.is_empty() || !change.card.is_empty();
        if desk.search || (list_changed && self.view == DeskView::People) {
            out.push(Effect::Search {
                gen: sh.next_gen(),
                query: self.query().to_string(),
            });
        }
        let named =
            |id: &i64| self.card == Some(*id) || self.cards.iter().any(|c| c.card_id == *id);
        let person_cards_changed = change.card.iter().any(named);
        if let Some(person_id) = self.selected {
            if desk.person || person_cards_changed {
                out.push(Effect::LoadPersonCards {
                    gen: sh.next_gen(),
                    person_id,
                });
            }
        }
        if let Some(card_id) = self.card {
            if change.card.contains(&card_id) {
                out.push(Effect::LoadCard {
                    gen: sh.next_gen(),
                    card_id,
                });
            } else if let Some(d) = self.shown() {
                if !change.command.is_empty() && d.confirmations.confirmed < d.confirmations.total {
                    // Which card a finished command was for is the database's to say.
                    out.push(Effect::LoadConfirmations {
                        gen: sh.next_gen(),
                        card_id,
                    });
                }
            }
        }
        if let Some(p) = &self.reader {
            let is_named = match &p.lookup {
                Some(CardLookup::Issued(b) | CardLookup::Blacklisted(b)) => {
                    change.card.contains(&b.card_id)
                }
                // A blank card issued meanwhile (at another desk) is a new card id.
                Some(CardLookup::New) | None => !change.card.is_empty(),
            };
            if is_named {
                let card_no = p.card_no;
                out.push(self.lookup(sh, card_no));
            }
        }
        out
    }

    /// Opens the search with a first character when the operator just started typing.
    fn start_search(&mut self, first: Option<char>) -> Vec<Effect> {
        self.view = DeskView::People;
        if let Some(c) = first {
            self.search.input.set(&c.to_string());
            self.pending.search = true;
        }
        self.search.typing = true;
        vec![]
    }

    fn on_lookup(&mut self, sh: &mut Shell, card_no: i64, lookup: CardLookup) -> Vec<Effect> {
        let lang = sh.lang;
        let Some(p) = self.reader.as_mut().filter(|p| p.card_no == card_no) else {
            return vec![];
        };
        let first = p.lookup.is_none();
        p.lookup = Some(lookup.clone());
        // A form waiting for a card takes a blank one; an issued one is named in it.
        if let Some(form) = self.form_mut() {
            if form.form.busy || !form.form.has(CardField::CardNo) || !first {
                return vec![];
            }
            match &lookup {
                CardLookup::New => {
                    form.form.set_text(CardField::CardNo, &card_no.to_string());
                    form.form.error = None;
                }
                CardLookup::Issued(b) | CardLookup::Blacklisted(b) => {
                    form.form.error = Some(crate::i18n::trf(
                        lang,
                        "card.msg.not_blank",
                        &[
                            ("card", &card_no.to_string()),
                            ("name", &b.person_name),
                            ("state", words::card_state(lang, b.state)),
                        ],
                    ));
                }
            }
            return vec![];
        }
        match lookup {
            // An issued card on the reader shows its holder and the card at once.
            CardLookup::Issued(b) | CardLookup::Blacklisted(b)
                if first && sh.tab == TabId::Cards && self.popup.is_none() =>
            {
                self.view = DeskView::People;
                self.search.input.set(&card_no.to_string());
                self.pending.search = true;
                self.select_person(Some(b.person_id));
                self.show_card(sh, Some(b.card_id), true)
            }
            _ => vec![],
        }
    }

    fn on_done(&mut self, sh: &mut Shell, done: CardDone) -> Vec<Effect> {
        if self.form().is_some_and(|f| f.form.busy) {
            self.popup = None;
        }
        sh.message = Some((Level::Info, done.text));
        if let Some(note) = done.pins {
            self.popup = Some(Popup::Pins(note));
        }
        if let Some(person_id) = done.person_id {
            self.select_person(Some(person_id));
        }
        if let Some(card_id) = done.card_id {
            if self.card != Some(card_id) {
                self.card = Some(card_id);
                self.detail = None;
            }
        }
        // The change itself is read from its notification (held until now, or on its way).
        self.release();
        vec![]
    }
}

impl View for Cards {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Cards
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if let Some(confirm) = self.confirm.take() {
            return Some(match Answer::of(key) {
                // An operation is sent when the operator says yes, not when asked.
                Answer::Yes => vec![self.send(confirm.effect)],
                Answer::No => sh.cancelled(),
                Answer::Wait => {
                    self.confirm = Some(confirm);
                    vec![]
                }
            });
        }
        match self.popup.take()? {
            Popup::Form(form) => Some(forms::on_key(self, sh, form, key)),
            Popup::Import => {
                self.popup = Some(Popup::Import);
                Some(self.on_import_key(sh, key))
            }
            Popup::Statement(view) => Some(self.on_statement_key(view, key)),
            Popup::Pins(note) => {
                // Shown once: dismissed, the PINs are gone from the console.
                if !matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char(' ')) {
                    self.popup = Some(Popup::Pins(note));
                }
                Some(vec![])
            }
        }
    }

    fn unbound(&mut self, _sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        // Typing a name or a number searches the register.
        match key.code {
            KeyCode::Char(ch)
                if !ch.is_control()
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                self.start_search(Some(ch))
            }
            _ => vec![],
        }
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        forms::run(self, sh, cmd)
    }

    fn arrive(&mut self, sh: &mut Shell, cmd: Command) -> Arrive {
        match forms::refuse(self, sh, cmd) {
            Some(_) => Arrive::Stay,
            None => Arrive::Go { run: true },
        }
    }

    fn rows(&self, _sh: &Shell, body: Rect) -> Rows {
        let (n, at) = self.cursor();
        let list = match self.view {
            DeskView::Reports => reports_split(body).1,
            _ => split(body).1,
        };
        Rows {
            n,
            at,
            page: layout::table_window(list, 0).0,
        }
    }

    fn select(&mut self, _sh: &mut Shell, to: usize) -> Vec<Effect> {
        match self.view {
            DeskView::People => {
                let n = self.results.len();
                let id = (n > 0).then(|| self.results[to.min(n - 1)].id);
                self.select_person(id);
            }
            DeskView::Reports => {
                let n = self.cursor().0;
                self.reports.selected = to.min(n.saturating_sub(1));
            }
            DeskView::Stock => {}
        }
        vec![]
    }

    fn click(&mut self, sh: &mut Shell, body: Rect, x: u16, y: u16) -> Vec<Effect> {
        if self.view != DeskView::People {
            return vec![];
        }
        let (_, people, _) = split(body);
        let len = self.results.len();
        let at = self.selected_index();
        match layout::table_row_at(people, at, len, x, y) {
            Some(i) => self.select(sh, i),
            None => vec![],
        }
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.reload_all(sh)
    }

    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        self.flush(sh, change)
    }

    fn wants_frame(&self) -> bool {
        self.held.is_none() && (self.pending != DeskPending::default() || !self.queued.is_empty())
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        forms::hints(self, sh)
    }

    fn filter(&self) -> Option<&Filter> {
        Some(&self.search)
    }

    fn filter_mut(&mut self) -> Option<&mut Filter> {
        Some(&mut self.search)
    }

    fn begin_filter(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        self.start_search(None)
    }

    fn filtered(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        // The next frame searches: holding a key searches once, where it stops.
        self.pending.search = true;
        vec![]
    }

    fn filter_prompt(&self) -> &'static str {
        "card.search_prompt"
    }

    fn confirming(&self) -> Option<&str> {
        self.confirm.as_ref().map(|c| c.question.as_str())
    }

    fn esc_clears_filter(&self) -> bool {
        // The search is cleared while it is typed (esc in the box); after that the register
        // keeps it, and esc is for the card on the reader.
        false
    }

    fn cancel(&mut self, _sh: &mut Shell) -> Vec<Effect> {
        // The card on the reader is done with.
        self.reader = None;
        vec![]
    }

    fn activate(&mut self, sh: &mut Shell) -> Vec<Effect> {
        self.next_card(sh)
    }

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        let lang = sh.lang;
        if matches!(self.popup, Some(Popup::Import)) {
            // A failed import changes nothing (all or nothing): say why, and close.
            self.popup = None;
            self.import = None;
            return false;
        }
        let waiting = self.form().is_some_and(|form| form.form.busy);
        // An operation refused: nothing changed, so what was held is read as it is.
        self.release();
        if !waiting {
            return false;
        }
        // An export to a file that exists: replace it only when the operator says so.
        if let (Failure::File(crate::app::failure::FileTrouble::Exists { path }), Some(form)) =
            (f, self.form())
        {
            if matches!(form.kind, CardFormKind::ReportExport { .. }) {
                let effect = Effect::ExportReport {
                    kind: self.reports.kind,
                    filter: self.reports.filter.clone(),
                    path: path.clone(),
                    overwrite: true,
                };
                self.popup = None;
                self.ask(
                    crate::i18n::trf(lang, "confirm.overwrite", &[("path", path)]),
                    effect,
                );
                return true;
            }
        }
        if let Some(form) = self.form_mut() {
            // A refused save stays in its popup with what was typed.
            form.form.refused(words::failure(lang, f));
        }
        true
    }

    fn done(&mut self, _sh: &mut Shell) {
        if self.form().is_some_and(|f| f.form.busy) {
            self.popup = None;
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        // The desk is the console's, not the operator's.
        *self = Cards {
            desk_reader: self.desk_reader,
            ..Cards::default()
        };
        vec![]
    }
}
