//! The Settlement tab's views as CSV rows (the file is written by `db::takings::export`).

use super::{SettleView, Settlement, TodayRow};
use crate::app::shell::Shell;
use crate::app::words;

impl Settlement {
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
            SettleView::Missing => (
                "missing",
                head(&[
                    "merchant",
                    "pos",
                    "numbering",
                    "missing",
                    "numbers",
                    "noticed_at",
                ]),
                self.missing_rows()
                    .into_iter()
                    .map(|m| {
                        vec![
                            m.merchant.clone(),
                            m.terminal.clone(),
                            m.txn_epoch.to_string(),
                            m.numbers.len().to_string(),
                            words::txn_ranges(&m.numbers),
                            crate::export::local_time(m.noticed_at),
                        ]
                    })
                    .collect(),
            ),
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
}
