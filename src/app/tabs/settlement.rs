//! The Settlement tab (结算): today's takings live, the reconciliation board of a day, the stored
//! statements and two charts. Read-only: settling stays with `onecard settle`, whose statements
//! this tab shows. Everything is read by effects (`console::exec::settlement`), never here.

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
use crate::db::takings::{Outstanding, PosTakings, Settled, TopUps};
use crate::domain::money::Money;
use crate::domain::permission::Action;
use crate::i18n::tr;
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
    Statements,
    Charts,
}

impl SettleView {
    pub fn next(self) -> SettleView {
        match self {
            SettleView::Today => SettleView::Board,
            SettleView::Board => SettleView::Statements,
            SettleView::Statements => SettleView::Charts,
            SettleView::Charts => SettleView::Today,
        }
    }

    /// Catalogue key of its name.
    pub fn key(self) -> &'static str {
        match self {
            SettleView::Today => "settletab.view.today",
            SettleView::Board => "settletab.view.board",
            SettleView::Statements => "settletab.view.statements",
            SettleView::Charts => "settletab.view.charts",
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
    pub selected: usize,
    pub filter: Filter,
    /// The export popup: where to write the view shown.
    pub export: Option<Form<ExportField>>,
    /// Whether each view's first answer came (else the view says it is loading).
    pub loaded: [bool; 4],
    today_shown: Shown,
    board_shown: Shown,
    statements_shown: Shown,
    daily_shown: Shown,
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
                s.loaded[0] = true;
            }
        }
        Msg::Board { gen, day, rows } => {
            if s.board_shown.take(gen) {
                s.board_day = Some(day);
                s.board = rows;
                s.loaded[1] = true;
            }
        }
        Msg::Statements { gen, rows } => {
            if s.statements_shown.take(gen) {
                s.statements = rows;
                s.loaded[2] = true;
            }
        }
        Msg::Daily { gen, days } => {
            if s.daily_shown.take(gen) {
                s.daily = days;
                s.loaded[3] = true;
            }
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
            SettleView::Statements => self.statement_rows().len(),
            SettleView::Charts => 0,
        }
    }

    fn clamp(&mut self, sh: &Shell) {
        self.selected = self.selected.min(self.len(sh).saturating_sub(1));
    }

    /// The view shown as CSV: a header of stable names, then the rows the filter lets through;
    /// amounts with two decimals and no currency sign.
    pub fn csv_rows(&self, sh: &Shell) -> (&'static str, Vec<String>, Vec<Vec<String>>) {
        let head = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self.view {
            SettleView::Today => (
                "today",
                head(&["merchant", "pos", "purchases", "sales"]),
                self.today_rows()
                    .into_iter()
                    .filter_map(|r| match r {
                        TodayRow::Pos(p) => Some(vec![
                            p.merchant.clone(),
                            p.terminal.clone(),
                            p.count.to_string(),
                            p.sum.csv(),
                        ]),
                        // The merchant's total is the sum of its rows: not written twice.
                        TodayRow::Merchant(..) => None,
                    })
                    .collect(),
            ),
            SettleView::Board => {
                let t = |t: &crate::db::reconcile::Tally| [t.count.to_string(), t.sum.csv()];
                (
                    "board",
                    head(&[
                        "day",
                        "merchant",
                        "pos",
                        "state",
                        "pos_count",
                        "pos_sum",
                        "received_count",
                        "received_sum",
                        "ledger_count",
                        "ledger_sum",
                    ]),
                    self.board_rows(sh)
                        .into_iter()
                        .map(|r| {
                            let pos = r.pos.as_ref().map(t).unwrap_or_default();
                            let mut row = vec![
                                r.day.to_string(),
                                r.merchant.clone(),
                                r.terminal.clone(),
                                r.state.name().to_string(),
                            ];
                            row.extend(pos);
                            row.extend(t(&r.received));
                            row.extend(t(&r.ledger));
                            row
                        })
                        .collect(),
                )
            }
            SettleView::Statements => (
                "statements",
                head(&[
                    "merchant",
                    "period_kind",
                    "period_start",
                    "purchases",
                    "sales",
                    "refunds",
                    "corrections",
                    "commission",
                    "net_payable",
                    "settled_at",
                    "settled_by",
                ]),
                self.statement_rows()
                    .into_iter()
                    .map(|s| {
                        vec![
                            s.merchant.clone(),
                            s.period_kind.clone(),
                            s.period_start.to_string(),
                            s.purchases.to_string(),
                            s.sales.csv(),
                            s.refunds.csv(),
                            s.corrections.csv(),
                            s.commission.csv(),
                            s.net_payable.csv(),
                            crate::export::local_time(s.settled_at),
                            s.actor.clone(),
                        ]
                    })
                    .collect(),
            ),
            SettleView::Charts => (
                "daily",
                head(&["day", "takings"]),
                self.daily
                    .iter()
                    .map(|(d, m)| vec![d.to_string(), m.csv()])
                    .collect(),
            ),
        }
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
        self.export.is_some().then(|| self.on_export_key(sh, key))
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
        ]
    }

    /// Today's takings and balances move with every purchase and top-up: a purchase record,
    /// or a card's account (a top-up, a refund names the card).
    fn frame(&mut self, sh: &mut Shell, change: &Change) -> Vec<Effect> {
        if !may_see(sh) {
            return vec![];
        }
        let purchases = change.records.iter().any(|r| r == "pos_purchase");
        if !purchases && change.card.is_empty() {
            return vec![];
        }
        let mut fx = vec![Effect::Today { gen: sh.next_gen() }];
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
