//! Settling a period from the tab (结算): a form asks the period and, optionally, one merchant;
//! a confirmation names them; then `db::settlement::settle` locks the period and the tab shows
//! the statements. The same period parser as `onecard settle --period`.

use super::{Effect, Settlement};
use crate::app::failure::Failure;
use crate::app::form::{Answer, Confirm, Field, FieldId, Form, FormKey};
use crate::app::shell::Shell;
use crate::app::words;
use crate::domain::permission::Action;
use crate::domain::settlement::Period;
use crate::i18n::{tr, trf};
use chrono::Months;
use crossterm::event::KeyEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleField {
    Period,
    Merchant,
}

impl FieldId for SettleField {
    fn label(self) -> &'static str {
        match self {
            SettleField::Period => "settletab.form.period",
            SettleField::Merchant => "settletab.form.merchant",
        }
    }
}

/// The settle popup, and its confirmation once filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleForm {
    pub form: Form<SettleField>,
    pub confirm: Option<Confirm<Effect>>,
}

impl Settlement {
    /// `settlement.settle`: the popup, offering last month (the usual period to settle).
    pub(super) fn open_settle(&mut self, sh: &mut Shell) -> Vec<Effect> {
        if !sh.may(Action::MerchantSettle) {
            return sh.denied(Action::MerchantSettle);
        }
        let today = sh.now.with_timezone(&sh.utc_offset).date_naive();
        let last_month = today
            .checked_sub_months(Months::new(1))
            .map(Period::month_of)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let lang = sh.lang;
        self.settle = Some(SettleForm {
            form: Form::new(
                tr(lang, "settletab.form.settle").to_string(),
                vec![
                    Field::text(SettleField::Period, &last_month),
                    Field::text(SettleField::Merchant, ""),
                ],
            )
            .with_intro(vec![tr(lang, "settletab.form.settle_intro").to_string()]),
            confirm: None,
        });
        vec![]
    }

    pub(super) fn on_settle_key(&mut self, sh: &mut Shell, key: &KeyEvent) -> Vec<Effect> {
        let Some(st) = self.settle.as_mut() else {
            return vec![];
        };
        if let Some(asked) = st.confirm.take() {
            return match Answer::of(key) {
                Answer::Yes => {
                    st.form.busy = true;
                    st.form.error = None;
                    vec![asked.effect]
                }
                // Back to the form, to change the period or leave.
                Answer::No => vec![],
                Answer::Wait => {
                    st.confirm = Some(asked);
                    vec![]
                }
            };
        }
        let form = &mut st.form;
        match form.key(key) {
            FormKey::Cancel => {
                self.settle = None;
                sh.cancelled()
            }
            FormKey::Submit if !form.busy => {
                let lang = sh.lang;
                let text = form.text(SettleField::Period).trim().to_string();
                let period: Period = match text.parse() {
                    Ok(p) => p,
                    Err(_) => {
                        form.focus_on(SettleField::Period);
                        form.error = Some(words::failure(lang, &Failure::BadPeriod(text)));
                        return vec![];
                    }
                };
                // Said before asking: the database would refuse it anyway.
                if !period.has_ended(sh.now) {
                    form.focus_on(SettleField::Period);
                    let f = Failure::PeriodNotEnded {
                        period: period.to_string(),
                        ends: period.bounds().1,
                    };
                    form.error = Some(words::failure(lang, &f));
                    return vec![];
                }
                form.error = None;
                let merchant = Some(form.text(SettleField::Merchant).trim().to_string())
                    .filter(|m| !m.is_empty());
                let question = match &merchant {
                    Some(m) => trf(
                        lang,
                        "settletab.confirm_one",
                        &[("period", &period.to_string()), ("merchant", m)],
                    ),
                    None => trf(
                        lang,
                        "settletab.confirm_all",
                        &[("period", &period.to_string())],
                    ),
                };
                st.confirm = Some(Confirm {
                    question,
                    effect: Effect::Settle { period, merchant },
                });
                vec![]
            }
            _ => vec![],
        }
    }
}
