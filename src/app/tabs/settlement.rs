//! The Settlement tab (结算): today's takings live, the reconciliation board of a day, the POS
//! transaction numbers still missing, the stored statements and two charts; a period is settled
//! from here as with `onecard settle` (`settle`). Everything is read by effects
//! (`console::exec::settlement`), never here.

mod csv;
mod settle;

pub use settle::{SettleField, SettleForm};

use super::{Rows, View};
use crate::app::failure::Failure;
use crate::app::filter::{self, Filter};
use crate::app::form::{Field, FieldId, Form, FormKey};
use crate::app::layout;
use crate::app::load::Shown;
use crate::app::shell::Shell;
use crate::app::words;
use crate::db::notify::Change;
use crate::db::reconcile::Reconciled;
use crate::db::settlement::Statement;
use crate::db::takings::{MissingTxns, Outstanding, PosTakings, Settled, TopUps};
use crate::domain::money::Money;
use crate::domain::permission::Action;
use crate::domain::settlement::Period;
use crate::i18n::{tr, trf};
use crate::keymap::{Command, Section};
use chrono::NaiveDate;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

/// Days the takings line covers.
pub const DAILY_DAYS: u32 = 30;
/// Stored statements listed.
pub const STATEMENT_ROWS: i64 = 500;

/// What the tab shows; `settlement.view` cycles through them in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SettleView {
    #[default]
    Today,
    Board,
    Missing,
    Statements,
    Charts,
}

impl SettleView {
    pub fn next(self) -> SettleView {
        match self {
            SettleView::Today => SettleView::Board,
            SettleView::Board => SettleView::Missing,
            SettleView::Missing => SettleView::Statements,
            SettleView::Statements => SettleView::Charts,
            SettleView::Charts => SettleView::Today,
        }
    }

    /// Catalogue key of its name.
    pub fn key(self) -> &'static str {
        match self {
            SettleView::Today => "settletab.view.today",
            SettleView::Board => "settletab.view.board",
            SettleView::Missing => "settletab.view.missing",
            SettleView::Statements => "settletab.view.statements",
            SettleView::Charts => "settletab.view.charts",
        }
    }

    /// Its slot in `Settlement::loaded`.
    pub fn slot(self) -> usize {
        match self {
            SettleView::Today => 0,
            SettleView::Board => 1,
            SettleView::Statements => 2,
            SettleView::Charts => 3,
            SettleView::Missing => 4,
        }
    }
}

/// Today's figures, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Today {
    pub day: Option<NaiveDate>,
    pub pos: Vec<PosTakings>,
    pub top_ups: Vec<TopUps>,
    pub outstanding: Outstanding,
}

impl Today {
    /// Per merchant: (name, count, sum), in the order the POS rows come (by merchant name).
    pub fn merchants(&self) -> Vec<(String, i64, Money)> {
        let mut out: Vec<(i64, String, i64, Money)> = Vec::new();
        for p in &self.pos {
            match out.last_mut() {
                Some(m) if m.0 == p.merchant_id => {
                    m.2 += p.count;
                    m.3 += p.sum;
                }
                _ => out.push((p.merchant_id, p.merchant.clone(), p.count, p.sum)),
            }
        }
        out.into_iter().map(|(_, n, c, s)| (n, c, s)).collect()
    }

    pub fn total(&self) -> (i64, Money) {
        (
            self.pos.iter().map(|p| p.count).sum(),
            self.pos.iter().map(|p| p.sum).sum(),
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub view: SettleView,
    pub today: Today,
    /// Days before today the board shows (1: yesterday, the default).
    pub back: u32,
    /// The day the board's rows are of (as the executor resolved `back`).
    pub board_day: Option<NaiveDate>,
    pub board: Vec<Reconciled>,
    pub statements: Vec<Settled>,
    pub daily: Vec<(NaiveDate, Money)>,
    /// Per POS (and numbering), the transaction numbers still missing.
    pub missing: Vec<MissingTxns>,
    pub selected: usize,
    pub filter: Filter,
    /// The export popup: where to write the view shown.
    pub export: Option<Form<ExportField>>,
    /// The settle popup.
    pub settle: Option<SettleForm>,
    /// The period last settled from this console: its statements are marked.
    pub just_settled: Option<Period>,
    /// The cursor goes to the settled period's statements when they arrive.
    seek_settled: bool,
    /// Whether each view's first answer came (else the view says it is loading), by `slot`.
    pub loaded: [bool; 5],
    today_shown: Shown,
    board_shown: Shown,
    statements_shown: Shown,
    daily_shown: Shown,
    missing_shown: Shown,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Today {
        gen: u64,
        today: Today,
    },
    Board {
        gen: u64,
        day: NaiveDate,
        rows: Vec<Reconciled>,
    },
    Statements {
        gen: u64,
        rows: Vec<Settled>,
    },
    Daily {
        gen: u64,
        days: Vec<(NaiveDate, Money)>,
    },
    Missing {
        gen: u64,
        rows: Vec<MissingTxns>,
    },
    /// A period was settled: its statements (a merchant settled for it before keeps its own).
    Settled {
        period: Period,
        statements: Vec<Statement>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Today {
        gen: u64,
    },
    /// The board of the day `back` days before the site's today.
    Board {
        gen: u64,
        back: u32,
    },
    Statements {
        gen: u64,
    },
    Daily {
        gen: u64,
    },
    Missing {
        gen: u64,
    },
    /// Locks the period for one merchant (by name or id) or every one; refused when it is
    /// settled already for all of them.
    Settle {
        period: Period,
        merchant: Option<String>,
    },
    /// Writes the rows shown (as `csv_rows` gave them) to `path`; never over a file unless told.
    Export {
        view: &'static str,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        path: String,
        overwrite: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportField {
    Path,
}

impl FieldId for ExportField {
    fn label(self) -> &'static str {
        "settletab.form.path"
    }
}

pub fn update(s: &mut Settlement, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Today { gen, today } => {
            if s.today_shown.take(gen) {
                s.today = today;
                s.loaded[SettleView::Today.slot()] = true;
            }
        }
        Msg::Board { gen, day, rows } => {
            if s.board_shown.take(gen) {
                s.board_day = Some(day);
                s.board = rows;
                s.loaded[SettleView::Board.slot()] = true;
            }
        }
        Msg::Statements { gen, rows } => {
            if s.statements_shown.take(gen) {
                s.statements = rows;
                s.loaded[SettleView::Statements.slot()] = true;
                if std::mem::take(&mut s.seek_settled) && s.view == SettleView::Statements {
                    s.selected = s
                        .statement_rows()
                        .iter()
                        .position(|r| s.is_just_settled(r))
                        .unwrap_or(0);
                }
            }
        }
        Msg::Daily { gen, days } => {
            if s.daily_shown.take(gen) {
                s.daily = days;
                s.loaded[SettleView::Charts.slot()] = true;
            }
        }
        Msg::Missing { gen, rows } => {
            if s.missing_shown.take(gen) {
                s.missing = rows;
                s.loaded[SettleView::Missing.slot()] = true;
            }
        }
        Msg::Settled { period, statements } => {
            s.settle = None;
            s.just_settled = Some(period);
            s.seek_settled = true;
            s.view = SettleView::Statements;
            s.selected = 0;
            // A filter could hide what was just settled.
            s.filter = Filter::default();
            let net: Money = statements.iter().map(|st| st.figures.net_payable).sum();
            sh.info::<Effect>(trf(
                sh.lang,
                "settletab.settled",
                &[
                    ("period", &period.to_string()),
                    ("n", &statements.len().to_string()),
                    ("sum", &net.to_string()),
                ],
            ));
            s.clamp(sh);
            return vec![Effect::Statements { gen: sh.next_gen() }];
        }
    }
    s.clamp(sh);
    vec![]
}

/// Viewing takings and statements needs a role that may see money.
pub fn may_see(sh: &Shell) -> bool {
    sh.may(Action::MerchantSettle) || sh.may(Action::ReportExport)
}

/// One row of the Today table: a merchant's total, or one of its POS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TodayRow<'a> {
    Merchant(String, i64, Money),
    Pos(&'a PosTakings),
}

impl Settlement {
    pub fn new() -> Settlement {
        Settlement {
            back: 1,
            ..Settlement::default()
        }
    }

    /// Today's table as shown: each merchant's total followed by its POS, narrowed by `/`
    /// (a merchant stays when its name or any of its POS matches).
    pub fn today_rows(&self) -> Vec<TodayRow<'_>> {
        let f = self.filter.text();
        let mut out = Vec::new();
        for (name, count, sum) in self.today.merchants() {
            let pos: Vec<&PosTakings> = self
                .today
                .pos
                .iter()
                .filter(|p| p.merchant == name)
                .filter(|p| filter::matches(f, [p.merchant.as_str(), p.terminal.as_str()]))
                .collect();
            if pos.is_empty() {
                continue;
            }
            out.push(TodayRow::Merchant(name, count, sum));
            out.extend(pos.into_iter().map(TodayRow::Pos));
        }
        out
    }

    pub fn board_rows(&self, sh: &Shell) -> Vec<&Reconciled> {
        let f = self.filter.text();
        self.board
            .iter()
            .filter(|r| {
                filter::matches(
                    f,
                    [
                        r.merchant.as_str(),
                        r.terminal.as_str(),
                        words::recon_state(sh.lang, r.state),
                    ],
                )
            })
            .collect()
    }

    /// The POS with numbers missing, narrowed by `/` (merchant or POS name).
    pub fn missing_rows(&self) -> Vec<&MissingTxns> {
        let f = self.filter.text();
        self.missing
            .iter()
            .filter(|m| filter::matches(f, [m.merchant.as_str(), m.terminal.as_str()]))
            .collect()
    }

    /// Whether a stored statement is of the period settled last from this console.
    pub fn is_just_settled(&self, s: &Settled) -> bool {
        self.just_settled
            .is_some_and(|p| p.kind.name() == s.period_kind && p.first_day == s.period_start)
    }

    pub fn statement_rows(&self) -> Vec<&Settled> {
        let f = self.filter.text();
        self.statements
            .iter()
            .filter(|s| {
                filter::matches(
                    f,
                    [
                        s.merchant.as_str(),
                        s.actor.as_str(),
                        s.period_kind.as_str(),
                        &s.period_start.to_string(),
                    ],
                )
            })
            .collect()
    }

    /// Rows the cursor moves in, in the view shown (the charts have none).
    pub fn len(&self, sh: &Shell) -> usize {
        match self.view {
            SettleView::Today => self.today_rows().len(),
            SettleView::Board => self.board_rows(sh).len(),
            SettleView::Missing => self.missing_rows().len(),
            SettleView::Statements => self.statement_rows().len(),
            SettleView::Charts => 0,
        }
    }

    fn clamp(&mut self, sh: &Shell) {
        self.selected = self.selected.min(self.len(sh).saturating_sub(1));
    }

    fn open_export(&mut self, sh: &Shell) {
        let name = format!(
            "settlement-{}-{}.csv",
            self.csv_rows(sh).0,
            sh.now.with_timezone(&sh.utc_offset).format("%Y%m%d-%H%M")
        );
        self.export = Some(
            Form::new(
                tr(sh.lang, "settletab.form.export").to_string(),
                vec![Field::text(ExportField::Path, &name)],
            )
            .with_intro(vec![tr(sh.lang, "settletab.form.export_intro").to_string()]),
        );
    }

    fn on_export_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let Some(form) = self.export.as_mut() else {
            return vec![];
        };
        match form.key(key) {
            FormKey::Cancel => {
                self.export = None;
                sh.cancelled()
            }
            FormKey::Submit => {
                let path = form.text(ExportField::Path).trim().to_string();
                if path.is_empty() {
                    form.error = Some(tr(sh.lang, "settletab.form.no_path").to_string());
                    return vec![];
                }
                form.error = None;
                form.busy = true;
                let (view, header, rows) = self.csv_rows(sh);
                vec![Effect::Export {
                    view,
                    header,
                    rows,
                    path,
                    overwrite: false,
                }]
            }
            _ => vec![],
        }
    }

    fn load_board(&self, sh: &mut Shell) -> Effect {
        Effect::Board {
            gen: sh.next_gen(),
            back: self.back,
        }
    }
}

/// The Today view's split: the takings table above, top-ups and balances below.
pub fn today_split(body: Rect) -> (Rect, Rect) {
    let bottom = (body.height / 3).clamp(5.min(body.height), 9);
    let top = body.height - bottom;
    (
        Rect::new(body.x, body.y, body.width, top),
        Rect::new(body.x, body.y + top, body.width, bottom),
    )
}

/// Where the cursor's table is drawn in the view shown.
pub fn table_area(view: SettleView, body: Rect) -> Rect {
    match view {
        SettleView::Today => today_split(body).0,
        _ => body,
    }
}

impl View for Settlement {
    type Effect = Effect;

    fn section(&self) -> Section {
        Section::Settlement
    }

    fn key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Option<Vec<Effect>> {
        if self.settle.is_some() {
            return Some(self.on_settle_key(sh, key));
        }
        self.export.is_some().then(|| self.on_export_key(sh, key))
    }

    fn confirming(&self) -> Option<&str> {
        let c = self.settle.as_ref()?.confirm.as_ref()?;
        Some(c.question.as_str())
    }

    fn run(&mut self, sh: &mut Shell, cmd: Command) -> Option<Vec<Effect>> {
        Some(match cmd {
            Command::SettleView => {
                self.view = self.view.next();
                self.selected = 0;
                self.clamp(sh);
                // The line is only re-read live while shown: bring it up to date.
                if self.view == SettleView::Charts && may_see(sh) {
                    vec![Effect::Daily { gen: sh.next_gen() }]
                } else {
                    vec![]
                }
            }
            Command::SettleDayPrev | Command::SettleDayNext => {
                if !may_see(sh) {
                    return Some(sh.denied(Action::MerchantSettle));
                }
                if self.view != SettleView::Board {
                    // The day only moves where a day is shown.
                    self.view = SettleView::Board;
                    self.selected = 0;
                }
                self.back = if cmd == Command::SettleDayPrev {
                    self.back.saturating_add(1).min(3650)
                } else {
                    self.back.saturating_sub(1)
                };
                vec![self.load_board(sh)]
            }
            Command::SettleExport => {
                if !sh.may(Action::ReportExport) {
                    return Some(sh.denied(Action::ReportExport));
                }
                self.open_export(sh);
                vec![]
            }
            Command::SettlePeriod => self.open_settle(sh),
            _ => return None,
        })
    }

    fn rows(&self, sh: &Shell, body: Rect) -> Rows {
        Rows {
            n: self.len(sh),
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
        if let Some(i) = layout::table_row_at(area, self.selected, self.len(sh), x, y) {
            self.selected = i;
        }
        vec![]
    }

    fn reload(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        vec![
            Effect::Today { gen: sh.next_gen() },
            self.load_board(sh),
            Effect::Statements { gen: sh.next_gen() },
            Effect::Daily { gen: sh.next_gen() },
            Effect::Missing { gen: sh.next_gen() },
        ]
    }

    /// Today's takings and balances move with every purchase and top-up: a purchase record,
    /// or a card's account (a top-up, a refund names the card). Missing transaction numbers
    /// are noticed, and found, by the same uploads and online purchases. A period settled or a
    /// day reconciled anywhere re-reads the statements or the board.
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        let named = |t: &str| change.records.iter().any(|r| r == t);
        let mut fx = Vec::new();
        if named("settlement") {
            fx.push(Effect::Statements { gen: sh.next_gen() });
        }
        if named("pos_reconciliation") {
            fx.push(Effect::Board {
                gen: sh.next_gen(),
                back: self.back,
            });
        }
        let purchases = named("pos_purchase");
        if !purchases && change.card.is_empty() {
            return fx;
        }
        fx.extend([
            Effect::Today { gen: sh.next_gen() },
            Effect::Missing { gen: sh.next_gen() },
        ]);
        // An online purchase names only its card; the line is re-read where it is shown.
        if purchases || self.view == SettleView::Charts {
            fx.push(Effect::Daily { gen: sh.next_gen() });
        }
        fx
    }

    fn hints(&self, sh: &Shell) -> Vec<Command> {
        let mut v = vec![Command::Help, Command::Palette];
        if may_see(sh) {
            v.extend([Command::SettleView, Command::Filter]);
            if self.view == SettleView::Board {
                v.extend([Command::SettleDayPrev, Command::SettleDayNext]);
            }
            if sh.may(Action::ReportExport) {
                v.push(Command::SettleExport);
            }
            if sh.may(Action::MerchantSettle) {
                v.push(Command::SettlePeriod);
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

    fn failed(&mut self, sh: &mut Shell, f: &Failure) -> bool {
        if let Some(st) = self.settle.as_mut().filter(|st| st.form.busy) {
            st.form.refused(words::failure(sh.lang, f));
            return true;
        }
        match self.export.as_mut().filter(|f| f.busy) {
            Some(form) => {
                form.refused(words::failure(sh.lang, f));
                true
            }
            None => false,
        }
    }

    fn done(&mut self, _sh: &mut Shell) {
        if self.export.as_ref().is_some_and(|f| f.busy) {
            self.export = None;
        }
    }

    fn reset(&mut self) -> Vec<Effect> {
        *self = Settlement::new();
        vec![]
    }
}
