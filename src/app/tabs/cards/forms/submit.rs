//! A card form's keys, its values checked and parsed, and what it submits.

use super::*;
use crate::app::tabs::cards::PurchaseText;
use crate::db::desk::Channel;

/// Keys in a card desk form: tab and the arrows up and down move between fields, left and right
/// (or space) change a choice or move in a multi-select, space ticks, enter submits, esc cancels
/// (even while the form waits: the answer then shows on the message line).
pub fn on_key(c: &mut Cards, sh: &mut Shell, mut form: CardForm, key: &KeyEvent) -> Vec<Effect> {
    match form.form.key(key) {
        FormKey::Cancel => {
            if form.form.busy {
                // The answer still comes; what it changed is read then.
                c.popup = None;
                return sh.cancelled();
            }
            sh.cancelled()
        }
        FormKey::Submit => submit(c, sh, form),
        FormKey::Changed(CardField::Kind) => {
            if let Ok(kind) = CardKind::from_str(form.form.choice(CardField::Kind)) {
                apply_kind_defaults(c, sh, &mut form.form, kind);
            }
            c.popup = Some(Popup::Form(form));
            vec![]
        }
        _ => {
            c.popup = Some(Popup::Form(form));
            vec![]
        }
    }
}

/// A strict YYYY-MM-DD date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| d.year() >= 1900)
}

/// A card number as the readers report it: 1 to 4294967295.
pub fn parse_card_no(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 10 || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| (1..=4_294_967_295).contains(n))
}

// Amounts are read by `Money::parse`; the words for its refusals are the tab's.
pub use crate::domain::money::AmountError;

fn amount_words(lang: Lang, e: AmountError, text: &str, max: Option<Money>) -> String {
    let key = match e {
        AmountError::NotANumber => "card.msg.amount.not_a_number",
        AmountError::NotPositive => "card.msg.amount.not_positive",
        AmountError::TooManyDecimals => "card.msg.amount.decimals",
        AmountError::TooLarge => "card.msg.amount.too_large",
    };
    trf(
        lang,
        key,
        &[
            ("text", text),
            ("max", &max.map(|m| m.to_string()).unwrap_or_default()),
        ],
    )
}

fn parse_count(text: &str, min: i32) -> Option<i32> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<i32>().ok().filter(|n| *n >= min)
}

/// "card 8165537 of 王芳 (T10003)" when shown, else its id.
fn named_card(c: &Cards, lang: Lang, card_id: i64) -> String {
    c.shown()
        .filter(|d| d.id() == card_id)
        .map(|d| words::card_named(lang, &d.view))
        .unwrap_or_else(|| format!("#{card_id}"))
}

/// Why a form cannot be submitted: the field at fault and the words.
struct Fault(CardField, String);

enum Submit {
    /// Ask for it and wait in the form for the answer.
    Effect(Effect),
    /// Money moves: a last y/n naming the amount.
    Confirm(String, Effect),
    /// Nothing to wait for: close the form.
    Done(Vec<Effect>),
}

fn submit(c: &mut Cards, sh: &mut Shell, mut form: CardForm) -> Vec<Effect> {
    match check(c, sh, &form) {
        Ok(Submit::Effect(effect)) => {
            form.form.busy = true;
            form.form.error = None;
            c.popup = Some(Popup::Form(form));
            vec![c.send(effect)]
        }
        Ok(Submit::Confirm(question, effect)) => {
            // Sent, and held, when the operator says yes (`Cards::key`).
            c.popup = None;
            c.ask(question, effect)
        }
        Ok(Submit::Done(out)) => {
            c.popup = None;
            for effect in &out {
                note_report(c, effect);
                note_typed_card(c, sh, effect);
            }
            out
        }
        Err(Fault(field, words)) => {
            form.form.focus_on(field);
            form.form.error = Some(words);
            c.popup = Some(Popup::Form(form));
            vec![]
        }
    }
}

/// A card number typed by an operator without a reader is on the desk as if laid on one: its
/// lookup's answer shows it (and its holder) as a reader's would.
fn note_typed_card(c: &mut Cards, sh: &Shell, effect: &Effect) {
    if let Effect::Lookup { card_no, .. } = effect {
        c.reader = Some(super::super::Presented {
            card_no: *card_no,
            terminal_id: None,
            lookup: None,
            at: sh.now,
        });
    }
}

/// A report asked for with new filters: the view remembers them.
fn note_report(c: &mut Cards, effect: &Effect) {
    if let Effect::LoadReport { kind, filter, .. } = effect {
        let r = &mut c.reports;
        if r.kind != *kind || r.filter != *filter {
            r.kind = *kind;
            r.filter = filter.clone();
            r.page = None;
            r.selected = 0;
        }
    }
}

/// What an issue or rewrite grants: (subsystems, door groups, POS and attendance machines).
type Picked = (Vec<Subsystem>, Vec<i64>, Vec<i64>);

fn picked(lang: Lang, form: &Form<CardField>, kind: CardKind) -> Result<Picked, Fault> {
    let subsystems: Vec<Subsystem> = form
        .ticked(CardField::Subsystems)
        .iter()
        .filter_map(|s| Subsystem::from_str(s).ok())
        .collect();
    card::check_subsystems(kind, &subsystems)
        .map_err(|r| Fault(CardField::Subsystems, refusal(lang, &r)))?;
    let ids = |field: CardField| -> Vec<i64> {
        form.ticked(field)
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect()
    };
    let has = |s: Subsystem| subsystems.contains(&s);
    // Grants of a subsystem the card does not get are left out.
    let door_groups = if has(Subsystem::Door) {
        ids(CardField::DoorGroups)
    } else {
        vec![]
    };
    let mut terminals = if has(Subsystem::Pos) {
        ids(CardField::Pos)
    } else {
        vec![]
    };
    if has(Subsystem::Attendance) {
        terminals.extend(ids(CardField::Attendance));
    }
    Ok((subsystems, door_groups, terminals))
}

fn date_of(lang: Lang, form: &Form<CardField>, field: CardField) -> Result<NaiveDate, Fault> {
    let text = form.text(field);
    parse_date(text).ok_or_else(|| Fault(field, trf(lang, "card.msg.bad_date", &[("text", text)])))
}

fn max_days(c: &Cards, kind: CardKind) -> Option<i64> {
    c.refs
        .as_ref()
        .and_then(|r| r.kind(kind))
        .and_then(|k| k.max_validity_days)
        .map(i64::from)
}

fn card_no_of(lang: Lang, form: &Form<CardField>) -> Result<i64, Fault> {
    let text = form.text(CardField::CardNo);
    if text.is_empty() {
        return Err(Fault(
            CardField::CardNo,
            tr(lang, "card.msg.card_no_empty").to_string(),
        ));
    }
    parse_card_no(text).ok_or_else(|| {
        Fault(
            CardField::CardNo,
            trf(lang, "card.msg.bad_card_no", &[("text", text)]),
        )
    })
}

fn paid_from(form: &Form<CardField>) -> PaidFrom {
    if form.choice(CardField::PaidFrom) == "balance" {
        PaidFrom::Balance
    } else {
        PaidFrom::Cash
    }
}

fn pin_kind(form: &Form<CardField>) -> PinKind {
    if form.choice(CardField::WhichPin) == "query" {
        PinKind::Query
    } else {
        PinKind::Payment
    }
}

fn required(lang: Lang, form: &Form<CardField>, field: CardField) -> Result<String, Fault> {
    let text = form.text(field);
    if text.is_empty() {
        Err(Fault(field, tr(lang, "card.msg.required").to_string()))
    } else {
        Ok(text.to_string())
    }
}

fn check(c: &Cards, sh: &mut Shell, cf: &CardForm) -> Result<Submit, Fault> {
    let lang = sh.lang;
    let form = &cf.form;
    let op = |op| Ok(Submit::Effect(Effect::Op(op)));
    match cf.kind.clone() {
        CardFormKind::CardNumber => {
            let card_no = card_no_of(lang, form)?;
            Ok(Submit::Done(vec![
                (Effect::Lookup {
                    gen: sh.next_gen(),
                    card_no,
                }),
            ]))
        }
        CardFormKind::DeskPresent => {
            let card_no = card_no_of(lang, form)?;
            Ok(Submit::Done(vec![
                (Effect::DeskPresent {
                    card_no: Some(card_no),
                }),
            ]))
        }
        CardFormKind::Issue { person_id } => {
            let card_no = card_no_of(lang, form)?;
            let kind = CardKind::from_str(form.choice(CardField::Kind))
                .map_err(|e| Fault(CardField::Kind, e))?;
            let (subsystems, door_groups, terminals) = picked(lang, form, kind)?;
            let valid_from = date_of(lang, form, CardField::ValidFrom)?;
            let valid_until = date_of(lang, form, CardField::ValidUntil)?;
            card::check_validity(kind, valid_from, valid_until, max_days(c, kind))
                .map_err(|r| Fault(CardField::ValidUntil, refusal(lang, &r)))?;
            op(CardOp::Issue(IssueRequest {
                card_no,
                person_id,
                kind,
                subsystems,
                door_groups,
                terminals,
                valid_from,
                valid_until,
                paid_from: paid_from(form),
            }))
        }
        CardFormKind::Rewrite { card_id, kind } => {
            let (subsystems, door_groups, terminals) = picked(lang, form, kind)?;
            let valid_until = date_of(lang, form, CardField::ValidUntil)?;
            op(CardOp::Rewrite {
                card_id,
                rewrite: Rewrite {
                    subsystems,
                    door_groups,
                    terminals,
                    valid_until,
                },
            })
        }
        CardFormKind::Reissue { card_id } => {
            let new_card_no = card_no_of(lang, form)?;
            let override_reason = if form.has(CardField::OverrideReason) {
                Some(required(lang, form, CardField::OverrideReason)?)
            } else {
                None
            };
            op(CardOp::Reissue {
                card_id,
                new_card_no,
                override_reason,
                paid_from: paid_from(form),
            })
        }
        CardFormKind::Exchange { card_id } => {
            let new_card_no = card_no_of(lang, form)?;
            let reason = required(lang, form, CardField::Reason)?;
            op(CardOp::Exchange {
                card_id,
                new_card_no,
                reason,
                paid_from: paid_from(form),
            })
        }
        CardFormKind::Cancel { card_id } => {
            let reason = required(lang, form, CardField::Reason)?;
            op(CardOp::Cancel { card_id, reason })
        }
        CardFormKind::Extend {
            card_id,
            kind,
            current,
        } => {
            let until = date_of(lang, form, CardField::Until)?;
            card::check_extension(kind, current, until, sh.today(), max_days(c, kind))
                .map_err(|r| Fault(CardField::Until, refusal(lang, &r)))?;
            op(CardOp::Extend { card_id, until })
        }
        CardFormKind::ExtendBatch => {
            let path = required(lang, form, CardField::Path)?;
            let until = date_of(lang, form, CardField::Until)?;
            op(CardOp::ExtendBatch { path, until })
        }
        CardFormKind::PinChange { card_id } => {
            let old = form.text(CardField::OldPin);
            if !crate::db::card::valid_pin(old) {
                return Err(Fault(
                    CardField::OldPin,
                    tr(lang, "card.msg.bad_pin").to_string(),
                ));
            }
            let new = form.text(CardField::NewPin);
            if !crate::db::card::valid_pin(new) {
                return Err(Fault(
                    CardField::NewPin,
                    tr(lang, "card.msg.bad_pin").to_string(),
                ));
            }
            if new != form.text(CardField::PinAgain) {
                return Err(Fault(
                    CardField::PinAgain,
                    tr(lang, "card.msg.pin_mismatch").to_string(),
                ));
            }
            op(CardOp::ChangePin {
                card_id,
                which: pin_kind(form),
                old: old.to_string(),
                new: new.to_string(),
            })
        }
        CardFormKind::PinReset { card_id } => op(CardOp::ResetPin {
            card_id,
            which: pin_kind(form),
        }),
        CardFormKind::Limits { card_id } => {
            let amount = form.text(CardField::PerPurchase);
            let per_purchase = if amount.is_empty() {
                None
            } else {
                Some(Money::parse(amount, None).map_err(|e| {
                    Fault(CardField::PerPurchase, amount_words(lang, e, amount, None))
                })?)
            };
            let count = form.text(CardField::DailyCount);
            let daily_count = if count.is_empty() {
                None
            } else {
                Some(parse_count(count, 1).ok_or_else(|| {
                    Fault(
                        CardField::DailyCount,
                        trf(lang, "card.msg.bad_daily", &[("text", count)]),
                    )
                })?)
            };
            op(CardOp::SetLimits {
                card_id,
                per_purchase,
                daily_count,
            })
        }
        CardFormKind::TopUp { card_id, person_id } => {
            let text = form.text(CardField::Amount);
            let max = Some(Money::from_yuan(MAX_TOP_UP));
            let amount = Money::parse(text, max)
                .map_err(|e| Fault(CardField::Amount, amount_words(lang, e, text, max)))?;
            let name = form.text(CardField::ChannelName).trim().to_string();
            let channel = match form.choice(CardField::Channel) {
                "bank" => Channel::Bank,
                "other" if name.is_empty() => {
                    return Err(Fault(
                        CardField::ChannelName,
                        tr(lang, "desk.error.channel_name_missing").to_string(),
                    ))
                }
                "other" => Channel::Other(name),
                _ => Channel::Cash,
            };
            let how = match &channel {
                Channel::Other(name) => name.clone(),
                ch => tr(lang, &format!("card.channel.{}", ch.key())).to_string(),
            };
            let named = c
                .shown()
                .filter(|d| d.id() == card_id)
                .map(|d| words::card_named(lang, &d.view))
                .unwrap_or_else(|| format!("#{card_id}"));
            Ok(Submit::Confirm(
                trf(
                    lang,
                    "card.confirm.top_up",
                    &[
                        ("amount", &amount.to_string()),
                        ("card", &named),
                        ("channel", &how),
                    ],
                ),
                Effect::Op(CardOp::TopUp {
                    person_id,
                    card_id,
                    amount,
                    channel,
                    desk_reader: c.desk_reader,
                }),
            ))
        }
        CardFormKind::Refund { card_id, person_id } => {
            let text = form.text(CardField::Amount);
            let amount = Money::parse(text, None)
                .map_err(|e| Fault(CardField::Amount, amount_words(lang, e, text, None)))?;
            let named = named_card(c, lang, card_id);
            Ok(Submit::Confirm(
                trf(
                    lang,
                    "card.confirm.refund",
                    &[("amount", &amount.to_string()), ("card", &named)],
                ),
                Effect::Op(CardOp::Refund {
                    person_id,
                    card_id,
                    amount,
                    desk_reader: c.desk_reader,
                }),
            ))
        }
        CardFormKind::Correct { card_id } => {
            let text = form.text(CardField::Purchase);
            let purchase = PurchaseText::parse(text).ok_or_else(|| {
                Fault(
                    CardField::Purchase,
                    trf(lang, "card.msg.bad_purchase", &[("text", text)]),
                )
            })?;
            let text = form.text(CardField::Amount);
            let amount = if text.trim().is_empty() {
                None
            } else {
                Some(
                    Money::parse(text, None)
                        .map_err(|e| Fault(CardField::Amount, amount_words(lang, e, text, None)))?,
                )
            };
            let receipt = required(lang, form, CardField::Receipt)?;
            let whole = tr(lang, "card.msg.whole_purchase").to_string();
            Ok(Submit::Confirm(
                trf(
                    lang,
                    "card.confirm.correct",
                    &[
                        ("amount", &amount.map_or(whole, |a| a.to_string())),
                        ("purchase", form.text(CardField::Purchase).trim()),
                        ("card", &named_card(c, lang, card_id)),
                        ("receipt", &receipt),
                    ],
                ),
                Effect::Op(CardOp::Correct {
                    card_id,
                    purchase,
                    amount,
                    receipt,
                    note: form.text(CardField::Note).trim().to_string(),
                }),
            ))
        }
        CardFormKind::ShiftClose => {
            let text = form.text(CardField::Counted);
            // Nothing taken is a count too.
            let counted = match Money::parse(text, None) {
                Ok(m) => m,
                Err(_) if text.trim().parse::<Money>().is_ok_and(|m| m.is_zero()) => Money::ZERO,
                Err(e) => return Err(Fault(CardField::Counted, amount_words(lang, e, text, None))),
            };
            op(CardOp::CloseShift {
                counted,
                reason: form.text(CardField::Reason).trim().to_string(),
                desk_reader: c.desk_reader,
            })
        }
        CardFormKind::ImportPersons => {
            let path = required(lang, form, CardField::Path)?;
            Ok(Submit::Effect(Effect::Import {
                path,
                dry_run: true,
                create_departments: form.choice(CardField::CreateDepartments) == "yes",
            }))
        }
        CardFormKind::StockReceive | CardFormKind::StockSpoil | CardFormKind::StockCount => {
            let counting = cf.kind == CardFormKind::StockCount;
            let field = if counting {
                CardField::Physical
            } else {
                CardField::Quantity
            };
            let text = form.text(field);
            let n = parse_count(text, if counting { 0 } else { 1 })
                .ok_or_else(|| Fault(field, trf(lang, "card.msg.bad_count", &[("text", text)])))?;
            let note = form.text(CardField::Note).to_string();
            let op = match cf.kind {
                CardFormKind::StockReceive => StockOp::Receive { quantity: n, note },
                CardFormKind::StockSpoil => StockOp::Spoil { quantity: n, note },
                _ => StockOp::Count { physical: n, note },
            };
            Ok(Submit::Effect(Effect::Stock(op)))
        }
        CardFormKind::ReportFilter => {
            let date = |field: CardField| -> Result<Option<NaiveDate>, Fault> {
                if form.text(field).is_empty() {
                    Ok(None)
                } else {
                    date_of(lang, form, field).map(Some)
                }
            };
            let text =
                |field: CardField| Some(form.text(field).to_string()).filter(|t| !t.is_empty());
            let filter = ReportFilter {
                from: date(CardField::From)?,
                to: date(CardField::Until)?,
                department: text(CardField::Department),
                kind: CardKind::from_str(form.choice(CardField::CardKind)).ok(),
                operator: text(CardField::Operator),
            };
            if let (Some(from), Some(until)) = (filter.from, filter.to) {
                if until < from {
                    return Err(Fault(
                        CardField::Until,
                        refusal(lang, &Refusal::EndsBeforeStart { from, until }),
                    ));
                }
            }
            let kind = ReportKind::ALL
                .into_iter()
                .find(|k| k.name() == form.choice(CardField::Report))
                .unwrap_or(ReportKind::Issued);
            Ok(Submit::Done(vec![
                (Effect::LoadReport {
                    gen: sh.next_gen(),
                    kind,
                    filter,
                }),
            ]))
        }
        CardFormKind::ReportExport { overwrite } => {
            let path = required(lang, form, CardField::Path)?;
            let r = &c.reports;
            Ok(Submit::Effect(Effect::ExportReport {
                kind: r.kind,
                filter: r.filter.clone(),
                path,
                overwrite,
            }))
        }
    }
}
