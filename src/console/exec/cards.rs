//! The Card service tab's effects against the database: reads for the screen, the card desk's
//! operations, stock, reports and imports. Each answer is one `Msg`; refusals come back as data.

use super::{answer, Env};
use crate::app::failure::Failure;
use crate::app::tabs::cards::{
    CardDetail, CardDone, CardOp, CardRefs, Effect, Msg as CardsMsg, Named, PinNote, PurchaseText,
    StockInfo, StockOp, REPORT_ROWS, SEARCH_LIMIT,
};
use crate::app::words::card_named;
use crate::app::Msg;
use crate::db::card::{self, Closed, Issued, PinKind};
use crate::db::person::{self, PersonQuery};
use crate::db::{desk, door_group, listen, propagation, stock, terminal};
use crate::domain::money::Money;
use crate::domain::permission::Actor;
use crate::i18n::{tr, trf, Lang};
use sqlx::PgPool;

/// Days of fees the stock view lists.
const FEE_DAYS: i64 = 90;

fn cards(m: CardsMsg) -> Msg {
    Msg::Cards(m)
}

/// "card 8165537 of 王芳 (T10003)", read again after the change.
async fn named(pool: &PgPool, lang: Lang, card_id: i64) -> (String, Option<card::CardView>) {
    match card::view(pool, card_id).await {
        Ok(v) => (card_named(lang, &v), Some(v)),
        Err(_) => (format!("#{card_id}"), None),
    }
}

/// What became of the balance of a card taken out of service: refunded in cash, or kept by
/// the college (forfeited: it does not move to the person's next card).
fn balance_words(lang: Lang, closed: &Closed) -> String {
    if closed.refunded.is_positive() {
        trf(
            lang,
            "card.done.refunded",
            &[("amount", &closed.refunded.to_string())],
        )
    } else if closed.kept.is_positive() {
        trf(
            lang,
            "card.done.kept",
            &[("amount", &closed.kept.to_string())],
        )
    } else {
        tr(lang, "card.done.no_balance").to_string()
    }
}

pub async fn run(effect: Effect, env: &Env<'_>) -> Option<Msg> {
    let (pool, lang, report) = (env.pool, env.lang, env.report);
    answer(match effect {
        Effect::LoadRefs { gen } => load_refs(pool, gen).await,
        Effect::Search { gen, query } => {
            person::search(pool, &PersonQuery::text(&query), SEARCH_LIMIT)
                .await
                .map(|people| {
                    let total = people.first().map_or(0, |p| p.total);
                    cards(CardsMsg::PeopleFound {
                        gen,
                        query,
                        people,
                        total,
                    })
                })
                .map_err(Failure::from)
        }
        Effect::LoadPersonCards { gen, person_id } => card::cards_of_person(pool, person_id)
            .await
            .map(|list| {
                cards(CardsMsg::PersonCardsLoaded {
                    gen,
                    person_id,
                    cards: list,
                })
            })
            .map_err(Failure::from),
        Effect::LoadCard { gen, card_id } => {
            let (view, history, confirmations) = tokio::join!(
                card::view(pool, card_id),
                card::history(pool, card_id),
                propagation::confirmations(pool, card_id)
            );
            match (view, history, confirmations) {
                (Ok(view), Ok(mut history), Ok(confirmations)) => {
                    history.reverse();
                    Ok(cards(CardsMsg::CardLoaded {
                        gen,
                        detail: Box::new(CardDetail {
                            view,
                            history,
                            confirmations,
                        }),
                    }))
                }
                (Err(e), _, _) => Err(e.into()),
                (_, Err(e), _) | (_, _, Err(e)) => Err(e.into()),
            }
        }
        Effect::LoadConfirmations { gen, card_id } => propagation::confirmations(pool, card_id)
            .await
            .map(|confirmations| {
                cards(CardsMsg::ConfirmationsLoaded {
                    gen,
                    card_id,
                    confirmations,
                })
            })
            .map_err(Failure::from),
        Effect::Lookup { gen, card_no } => card::lookup(pool, card_no)
            .await
            .map(|lookup| {
                cards(CardsMsg::LookedUp {
                    gen,
                    card_no,
                    lookup,
                })
            })
            .map_err(Failure::from),
        Effect::Op(op) => match env.actor() {
            Ok(a) => card_op(pool, lang, &a, op).await,
            Err(e) => Err(e),
        },
        Effect::LoadStock { gen } => {
            let since = crate::domain::time::today() - chrono::Duration::days(FEE_DAYS);
            let (level, counts, fees) = tokio::join!(
                stock::level(pool),
                stock::counts(pool),
                stock::fees(pool, Some(since), None)
            );
            match (level, counts, fees) {
                (Ok(level), Ok(counts), Ok(mut fees)) => {
                    fees.reverse();
                    Ok(cards(CardsMsg::StockLoaded {
                        gen,
                        stock: StockInfo {
                            level,
                            counts,
                            fees,
                        },
                    }))
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.into()),
            }
        }
        Effect::Stock(op) => match env.actor() {
            Ok(a) => stock_op(pool, lang, &a, op).await,
            Err(e) => Err(e),
        },
        Effect::LoadReport { gen, kind, filter } => {
            crate::report::query(pool, kind, &filter, REPORT_ROWS)
                .await
                .map(|page| cards(CardsMsg::ReportLoaded { gen, page }))
                .map_err(report_failure)
        }
        Effect::ExportReport {
            kind,
            filter,
            path,
            overwrite,
        } => match env.actor() {
            Ok(a) => export(pool, lang, &a, kind, &filter, &path, overwrite).await,
            Err(e) => Err(e),
        },
        Effect::Import {
            path,
            dry_run,
            create_departments,
        } => match env.actor() {
            Ok(a) => import_persons(pool, &a, &path, dry_run, create_departments, report).await,
            Err(e) => Err(e),
        },
        Effect::LoadStatement { gen, person_id } => {
            crate::db::desk::statement(pool, person_id, None, None)
                .await
                .map(|s| {
                    cards(CardsMsg::StatementLoaded {
                        gen,
                        statement: Box::new(s),
                    })
                })
                .map_err(Failure::from)
        }
        Effect::DeskPresent { card_no } => {
            return match listen::ask_desk(pool, card_no).await {
                Ok(()) => None,
                Err(e) => Some(Msg::Failed(e.into())),
            }
        }
    })
}

fn report_failure(e: crate::report::ReportError) -> Failure {
    match e {
        crate::report::ReportError::Denied(d) => Failure::Denied(d),
        crate::report::ReportError::Sql(e) => e.into(),
        crate::report::ReportError::Export(e) => e.into(),
    }
}

async fn load_refs(pool: &PgPool, gen: u64) -> Result<Msg, Failure> {
    let kinds = card::card_kinds(pool).await?;
    let door_groups = door_group::list(pool).await?;
    let terminals = terminal::terminals(pool).await?;
    let of = |kind: &str| {
        let mut list: Vec<Named> = terminals
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| Named {
                id: t.id,
                name: t.name.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    };
    Ok(cards(CardsMsg::RefsLoaded {
        gen,
        refs: CardRefs {
            kinds,
            door_groups,
            pos: of("pos"),
            attendance: of("attendance_machine"),
        },
    }))
}

/// A new card's PINs, for the popup that shows them once.
fn pins_of(issued: &Issued, person_name: &str) -> PinNote {
    PinNote {
        card_no: issued.card_no,
        person_name: person_name.to_string(),
        pins: vec![
            ("card.pins.query", issued.query_pin.clone()),
            ("card.pins.payment", issued.payment_pin.clone()),
        ],
    }
}

fn fee_words(lang: Lang, fee: Option<Money>) -> String {
    match fee {
        Some(f) if f.is_positive() => trf(lang, "card.done.fee", &[("fee", &f.to_string())]),
        _ => String::new(),
    }
}

async fn card_op(pool: &PgPool, lang: Lang, a: &Actor, op: CardOp) -> Result<Msg, Failure> {
    let words = Failure::from;
    let done = |text: String, card_id: Option<i64>, person_id: Option<i64>, pins| {
        cards(CardsMsg::Done(CardDone {
            text,
            card_id,
            person_id,
            pins,
        }))
    };
    match op {
        CardOp::Issue(req) => {
            let issued = card::issue(pool, a, &req).await.map_err(words)?;
            let (name, view) = named(pool, lang, issued.card_id).await;
            let person = view.map(|v| v.person_name).unwrap_or_default();
            let text =
                trf(lang, "card.done.issued", &[("card", &name)]) + &fee_words(lang, issued.fee);
            Ok(done(
                text,
                Some(issued.card_id),
                Some(req.person_id),
                Some(pins_of(&issued, &person)),
            ))
        }
        CardOp::Reissue {
            card_id,
            new_card_no,
            override_reason,
            paid_from,
        } => {
            let (old, _) = named(pool, lang, card_id).await;
            let issued = card::reissue(pool, a, card_id, new_card_no, override_reason, paid_from)
                .await
                .map_err(words)?;
            replaced(pool, lang, "card.done.reissued", &old, &issued).await
        }
        CardOp::Exchange {
            card_id,
            new_card_no,
            reason,
            paid_from,
        } => {
            let (old, _) = named(pool, lang, card_id).await;
            let issued = card::exchange(pool, a, card_id, new_card_no, &reason, paid_from)
                .await
                .map_err(words)?;
            replaced(pool, lang, "card.done.exchanged", &old, &issued).await
        }
        CardOp::Rewrite { card_id, rewrite } => {
            card::rewrite(pool, a, card_id, &rewrite)
                .await
                .map_err(words)?;
            simple(pool, lang, "card.done.rewritten", card_id).await
        }
        CardOp::ReportLost { card_id } => {
            card::report_lost(pool, a, card_id).await.map_err(words)?;
            simple(pool, lang, "card.done.lost", card_id).await
        }
        CardOp::ReportFound { card_id } => {
            card::report_found(pool, a, card_id).await.map_err(words)?;
            simple(pool, lang, "card.done.found", card_id).await
        }
        CardOp::Return { card_id } => {
            let closed = card::return_card(pool, a, card_id).await.map_err(words)?;
            let (name, _) = named(pool, lang, card_id).await;
            let text = trf(lang, "card.done.returned", &[("card", &name)])
                + " "
                + &balance_words(lang, &closed);
            Ok(done(text, Some(card_id), None, None))
        }
        CardOp::Cancel { card_id, reason } => {
            let closed = card::cancel(pool, a, card_id, &reason)
                .await
                .map_err(words)?;
            let (name, _) = named(pool, lang, card_id).await;
            let text = trf(lang, "card.done.cancelled", &[("card", &name)])
                + " "
                + &balance_words(lang, &closed);
            Ok(done(text, Some(card_id), None, None))
        }
        CardOp::Extend { card_id, until } => {
            card::extend(pool, a, card_id, until).await.map_err(words)?;
            let (name, _) = named(pool, lang, card_id).await;
            Ok(done(
                trf(
                    lang,
                    "card.done.extended",
                    &[("card", &name), ("until", &until.to_string())],
                ),
                Some(card_id),
                None,
                None,
            ))
        }
        CardOp::ExtendBatch { path, until } => {
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| Failure::read(&path, &e))?;
            let outcome = crate::import::extensions::import(pool, a, &path, &bytes, until, false)
                .await
                .map_err(import_failure)?;
            Ok(done(
                trf(
                    lang,
                    "card.done.extended_batch",
                    &[
                        ("n", &outcome.cards.len().to_string()),
                        ("until", &until.to_string()),
                        ("path", &path),
                    ],
                ),
                None,
                None,
                None,
            ))
        }
        CardOp::ChangePin {
            card_id,
            which,
            old,
            new,
        } => {
            card::change_pin(pool, a, card_id, which, &old, &new)
                .await
                .map_err(words)?;
            let (name, _) = named(pool, lang, card_id).await;
            Ok(done(
                trf(
                    lang,
                    "card.done.pin_changed",
                    &[("card", &name), ("pin", pin_word(lang, which))],
                ),
                Some(card_id),
                None,
                None,
            ))
        }
        CardOp::ResetPin { card_id, which } => {
            let pin = card::reset_pin(pool, a, card_id, which)
                .await
                .map_err(words)?;
            let (name, view) = named(pool, lang, card_id).await;
            let (card_no, person) = view.map(|v| (v.card_no, v.person_name)).unwrap_or_default();
            Ok(done(
                trf(
                    lang,
                    "card.done.pin_reset",
                    &[("card", &name), ("pin", pin_word(lang, which))],
                ),
                Some(card_id),
                None,
                Some(PinNote {
                    card_no,
                    person_name: person,
                    pins: vec![(
                        match which {
                            PinKind::Query => "card.pins.query",
                            PinKind::Payment => "card.pins.payment",
                        },
                        pin,
                    )],
                }),
            ))
        }
        CardOp::SetLimits {
            card_id,
            per_purchase,
            daily_count,
        } => {
            card::set_limits(pool, a, card_id, per_purchase, daily_count)
                .await
                .map_err(words)?;
            simple(pool, lang, "card.done.limits", card_id).await
        }
        CardOp::TopUp {
            person_id,
            card_id,
            amount,
            channel,
            desk_reader,
        } => {
            let desk = desk::of_reader(pool, desk_reader).await?;
            let t = desk::top_up(pool, a, Some(&desk.name), person_id, amount, &channel, "")
                .await
                .map_err(Failure::from)?;
            let (name, _) = named(pool, lang, card_id).await;
            Ok(done(
                trf(
                    lang,
                    "card.done.topped_up",
                    &[
                        ("amount", &amount.to_string()),
                        ("card", &name),
                        ("balance", &t.balance.to_string()),
                    ],
                ),
                Some(card_id),
                None,
                None,
            ))
        }
        CardOp::Refund {
            person_id,
            card_id,
            amount,
            desk_reader,
        } => {
            let desk = desk::of_reader(pool, desk_reader).await?;
            let r = desk::refund(pool, a, Some(&desk.name), person_id, amount, "")
                .await
                .map_err(Failure::from)?;
            let (name, _) = named(pool, lang, card_id).await;
            let text = trf(
                lang,
                "card.done.refunded_cash",
                &[
                    ("amount", &amount.to_string()),
                    ("card", &name),
                    ("balance", &r.balance.to_string()),
                ],
            );
            Ok(done(text, Some(card_id), None, None))
        }
        CardOp::Correct {
            card_id,
            purchase,
            amount,
            receipt,
            note,
        } => {
            let purchase = match purchase {
                PurchaseText::Purchase(id) => desk::PurchaseRef::Purchase(id),
                PurchaseText::Pos { pos, txn_no } => match desk::find_pos(pool, &pos).await? {
                    Some(terminal_id) => desk::PurchaseRef::Terminal {
                        terminal_id,
                        txn_no,
                    },
                    None => return Err(Failure::NoPurchase(format!("{pos}/{txn_no}"))),
                },
            };
            let r = desk::reverse_purchase(pool, a, purchase, amount, &receipt, &note)
                .await
                .map_err(Failure::from)?;
            let (name, _) = named(pool, lang, card_id).await;
            let text = trf(
                lang,
                "card.done.corrected",
                &[
                    ("amount", &r.amount.to_string()),
                    ("purchase", &r.purchase_id.to_string()),
                    ("card", &name),
                    ("balance", &r.balance.to_string()),
                ],
            );
            Ok(done(text, Some(card_id), None, None))
        }
        CardOp::CloseShift {
            counted,
            reason,
            desk_reader,
        } => {
            let desk = desk::of_reader(pool, desk_reader).await?;
            let s = desk::close_shift(pool, a, Some(&desk.name), counted, &reason)
                .await
                .map_err(Failure::from)?;
            let text = format!(
                "{}: {}",
                desk.name,
                crate::app::words::shift_closed(lang, &s)
            );
            Ok(done(text, None, None, None))
        }
        CardOp::Resend { card_id } => {
            let n = propagation::resend(pool, a, card_id)
                .await
                .map_err(Failure::from)?;
            let (name, _) = named(pool, lang, card_id).await;
            Ok(done(
                trf(
                    lang,
                    "card.done.resent",
                    &[("card", &name), ("n", &n.to_string())],
                ),
                Some(card_id),
                None,
                None,
            ))
        }
    }
}

fn pin_word(lang: Lang, which: PinKind) -> &'static str {
    tr(lang, &format!("card.pin.{}", which.name()))
}

async fn simple(pool: &PgPool, lang: Lang, key: &str, card_id: i64) -> Result<Msg, Failure> {
    let (name, _) = named(pool, lang, card_id).await;
    Ok(cards(CardsMsg::Done(CardDone {
        text: trf(lang, key, &[("card", &name)]),
        card_id: Some(card_id),
        person_id: None,
        pins: None,
    })))
}

/// A reissue or exchange went through: the new card is shown, with its PINs once.
async fn replaced(
    pool: &PgPool,
    lang: Lang,
    key: &str,
    old: &str,
    issued: &Issued,
) -> Result<Msg, Failure> {
    let (_, view) = named(pool, lang, issued.card_id).await;
    let (person_id, person) = view
        .map(|v| (Some(v.person_id), v.person_name))
        .unwrap_or_default();
    Ok(cards(CardsMsg::Done(CardDone {
        text: trf(
            lang,
            key,
            &[("old", old), ("card", &issued.card_no.to_string())],
        ) + &fee_words(lang, issued.fee),
        card_id: Some(issued.card_id),
        person_id,
        pins: Some(pins_of(issued, &person)),
    })))
}

async fn stock_op(pool: &PgPool, lang: Lang, a: &Actor, op: StockOp) -> Result<Msg, Failure> {
    let words = Failure::from;
    let text = match op {
        StockOp::Receive { quantity, note } => {
            let level = stock::receive(pool, a, quantity, &note)
                .await
                .map_err(words)?;
            trf(
                lang,
                "stock.done.received",
                &[
                    ("n", &quantity.to_string()),
                    ("on_hand", &level.on_hand.to_string()),
                ],
            )
        }
        StockOp::Spoil { quantity, note } => {
            let level = stock::spoil(pool, a, quantity, &note)
                .await
                .map_err(words)?;
            trf(
                lang,
                "stock.done.spoiled",
                &[
                    ("n", &quantity.to_string()),
                    ("on_hand", &level.on_hand.to_string()),
                ],
            )
        }
        StockOp::Count { physical, note } => {
            let c = stock::count(pool, a, physical, &note)
                .await
                .map_err(words)?;
            trf(
                lang,
                "stock.done.counted",
                &[
                    ("physical", &c.physical.to_string()),
                    ("recorded", &c.recorded.to_string()),
                    ("diff", &format!("{:+}", c.difference)),
                ],
            )
        }
    };
    Ok(Msg::Done(text))
}

async fn export(
    pool: &PgPool,
    lang: Lang,
    a: &Actor,
    kind: crate::report::ReportKind,
    filter: &crate::report::Filter,
    path: &str,
    overwrite: bool,
) -> Result<Msg, Failure> {
    use crate::export::Existing;
    let existing = if overwrite {
        Existing::Overwrite
    } else {
        // Never over a file that is there already without the operator saying so.
        Existing::Refuse
    };
    let n = crate::report::export_file(pool, a, kind, filter, path.as_ref(), existing)
        .await
        .map_err(report_failure)?
        .rows;
    // Where it went, in full: the console's working directory is not the operator's concern.
    let shown = std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string());
    Ok(Msg::Done(trf(
        lang,
        "report.exported",
        &[("n", &n.to_string()), ("path", &shown)],
    )))
}

fn import_failure(e: crate::import::ImportError) -> Failure {
    use crate::import::ImportError;
    match e {
        ImportError::Read { path, source } => Failure::read(&path, &source),
        ImportError::BadRows { path, rows } => Failure::ImportRows { path, rows },
        ImportError::Denied(d) => Failure::Denied(d),
        ImportError::Sql(e) => e.into(),
    }
}

async fn import_persons(
    pool: &PgPool,
    a: &Actor,
    path: &str,
    dry_run: bool,
    create_departments: bool,
    report: &(dyn Fn(Msg) + Send + Sync),
) -> Result<Msg, Failure> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| Failure::read(path, &e))?;
    let mut progress = |p: crate::import::persons::Progress| {
        if !dry_run {
            report(cards(CardsMsg::ImportProgress {
                done: p.done as u64,
                total: p.total as u64,
            }));
        }
    };
    let _ = create_departments;
    let summary = crate::import::persons::import(pool, a, path, &bytes, dry_run, &mut progress)
        .await
        .map_err(import_failure)?;
    Ok(cards(if dry_run {
        CardsMsg::ImportPreview {
            path: path.to_string(),
            create_departments,
            summary,
        }
    } else {
        CardsMsg::ImportDone { summary }
    }))
}
