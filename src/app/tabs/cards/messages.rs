//! What the Card service tab is told (its `Msg`) and what it asks for (its `Effect`).

use super::*;

#[derive(Debug, Clone)]
pub enum Msg {
    /// A desk reader reported a card laid on it.
    Presented {
        terminal_id: i64,
        card_no: i64,
        /// The reader's own idea; the database's lookup decides.
        new: bool,
    },
    LookedUp {
        gen: u64,
        card_no: i64,
        lookup: CardLookup,
    },
    RefsLoaded {
        gen: u64,
        refs: CardRefs,
    },
    PeopleFound {
        gen: u64,
        query: String,
        people: Vec<PersonRow>,
        total: i64,
    },
    PersonCardsLoaded {
        gen: u64,
        person_id: i64,
        cards: Vec<CardView>,
    },
    CardLoaded {
        gen: u64,
        detail: Box<CardDetail>,
    },
    ConfirmationsLoaded {
        gen: u64,
        card_id: i64,
        confirmations: Confirmations,
    },
    /// A card desk operation went through.
    Done(CardDone),
    StockLoaded {
        gen: u64,
        stock: StockInfo,
    },
    ReportLoaded {
        gen: u64,
        page: ReportPage,
    },
    /// A person import's dry run: what it would do.
    ImportPreview {
        path: String,
        create_departments: bool,
        summary: ImportSummary,
    },
    /// Rows done of all.
    ImportProgress {
        done: u64,
        total: u64,
    },
    ImportDone {
        summary: ImportSummary,
    },
    StatementLoaded {
        gen: u64,
        statement: Box<statement::Statement>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The desk's pickers: card kinds, door groups, POS and attendance machines.
    LoadRefs {
        gen: u64,
    },
    /// The person register: number, name (Chinese or Latin), card number, department or ID
    /// document number.
    Search {
        gen: u64,
        query: String,
    },
    /// A person's cards, newest first.
    LoadPersonCards {
        gen: u64,
        person_id: i64,
    },
    /// Everything the card panel shows about one card.
    LoadCard {
        gen: u64,
        card_id: i64,
    },
    /// Only the terminals' confirmations of a card (a command finished).
    LoadConfirmations {
        gen: u64,
        card_id: i64,
    },
    /// What a card number on the desk reader (or typed) is: new, issued or blacklisted.
    Lookup {
        gen: u64,
        card_no: i64,
    },
    /// A card desk operation (issue, report lost, top-up ...).
    Op(CardOp),
    LoadStock {
        gen: u64,
    },
    Stock(StockOp),
    LoadReport {
        gen: u64,
        kind: ReportKind,
        filter: ReportFilter,
    },
    ExportReport {
        kind: ReportKind,
        filter: ReportFilter,
        path: String,
        /// The operator said to replace a file of that name.
        overwrite: bool,
    },
    /// A person import from a CSV file: a dry run first, then the real one. Departments the
    /// file names that do not exist are refused, unless it may create them.
    Import {
        path: String,
        dry_run: bool,
        create_departments: bool,
    },
    /// A person's statement: every movement of their account.
    LoadStatement {
        gen: u64,
        person_id: i64,
    },
    /// Demo only: lay a card on the simulated desk reader (None: a blank card).
    DeskPresent {
        card_no: Option<i64>,
    },
}
