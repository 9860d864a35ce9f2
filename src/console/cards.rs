//! The Card service tab's effects against the database: reads for the screen, the card desk's
//! operations, stock, reports and imports. Each answer is one `Msg`; refusals come back in the
//! card desk's words.

use super::denied_words;
use crate::app::cards::{
    CardDetail, CardDone, CardOp, CardRefs, Named, PinNote, StockInfo, StockOp, REPORT_ROWS,
};
use crate::app::update::cards::{money, refusal_words};
use crate::app::{Effect, Msg};
use crate::db::card::{self, CardError, Closed, Issued, PinKind};
use crate::db::person::{self, PersonQuery};
use crate::db::{door_group, ledger, propagation, stock, terminal};
use crate::domain::permission::Actor;
use crate::error::describe_sql;
use crate::i18n::{tr, trf, Lang};
use sqlx::PgPool;

/// People a search shows at most.
const SEARCH_LIMIT: i64 = 200;
/// Days of fees the stock view lists.
const FEE_DAYS: i64 = 90;

/// A card desk refusal as the operator reads it.
fn card_words(lang: Lang, e: CardError) -> String {
    match e {
        CardError::Refused(r) => refusal_words(lang, &r),
        CardError::Denied(d) => denied_words(lang, &d),
        CardError::Sql(e) => describe_sql(&e),
        other => other.to_string(),
    }
}

fn sql(e: sqlx::Error) -> String {
    describe_sql(&e)
}

/// "card 8165537 of 王芳 (T10003)", read again after the change.
async fn named(pool: &PgPool, lang: Lang, card_id: i64) -> (String, Option<card::CardView>) {
    match card::view(pool, card_id).await {
        Ok(v) => (crate::app::update::cards::card_named(lang, &v), Some(v)),
        Err(_) => (format!("#{card_id}"), None),
    }
}

fn balance_words(lang: Lang, closed: &Closed) -> String {
    if closed.refunded > rust_decimal::Decimal::ZERO {
        trf(
            lang,
            "card.done.refunded",
            &[("amount", &money(closed.refunded))],
        )
    } else {
        trf(lang, "card.done.kept", &[("amount", &money(closed.kept))])
    }
}

/// Runs a Card service effect; None when `effect` is not one.
pub(super) async fn execute(
    effect: Effect,
    pool: &PgPool,
    lang: Lang,
    actor: Option<Actor>,
    report: &(dyn Fn(Msg) + Send + Sync),
) -> Option<Result<Msg, String>> {
    let need_actor = || {
        actor
            .clone()
            .ok_or_else(|| tr(lang, "status.signed_out").to_string())
    };
    Some(match effect {
        Effect::LoadCardRefs => load_refs(pool, lang).await,
        Effect::SearchPeople { query } => {
            person::search(pool, &PersonQuery::text(&query), SEARCH_LIMIT)
                .await
                .map(|people| Msg::PeopleFound { query, people })
                .map_err(sql)
        }
        Effect::LoadPersonCards { person_id } => card::cards_of_person(pool, person_id)
            .await
            .map(|cards| Msg::PersonCardsLoaded { person_id, cards })
            .map_err(|e| card_words(lang, e)),
        Effect::LoadCard { card_id } => {
            let (view, history, confirmations) = tokio::join!(
                card::view(pool, card_id),
                card::history(pool, card_id),
                propagation::confirmations(pool, card_id)
            );
            match (view, history, confirmations) {
                (Ok(view), Ok(mut history), Ok(confirmations)) => {
                    history.reverse();
                    Ok(Msg::CardLoaded(Box::new(CardDetail {
                        view,
                        history,
                        confirmations,
                    })))
                }
                (Err(e), _, _) => Err(card_words(lang, e)),
                (_, Err(e), _) | (_, _, Err(e)) => Err(sql(e)),
            }
        }
        Effect::LoadConfirmations { card_id } => propagation::confirmations(pool, card_id)
            .await
            .map(|confirmations| Msg::ConfirmationsLoaded {
                card_id,
                confirmations,
            })
            .map_err(sql),
        Effect::LookupCard { card_no } => card::lookup(pool, card_no)
            .await
            .map(|lookup| Msg::CardLookedUp { card_no, lookup })
            .map_err(|e| card_words(lang, e)),
        Effect::Card(op) => match need_actor() {
            Ok(a) => card_op(pool, lang, &a, op).await,
            Err(e) => Err(e),
        },
        Effect::LoadStock => {
            let since = chrono::Local::now().date_naive() - chrono::Duration::days(FEE_DAYS);
            let (level, counts, fees) = tokio::join!(
                stock::level(pool),
                stock::counts(pool),
                stock::fees(pool, Some(since), None)
            );
            match (level, counts, fees) {
                (Ok(level), Ok(counts), Ok(mut fees)) => {
                    fees.reverse();
                    Ok(Msg::StockLoaded(StockInfo {
                        level,
                        counts,
                        fees,
                    }))
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(sql(e)),
            }
        }
        Effect::Stock(op) => match need_actor() {
            Ok(a) => stock_op(pool, lang, &a, op).await,
            Err(e) => Err(e),
        },
        Effect::LoadReport { kind, filter } => {
            crate::report::query(pool, kind, &filter, REPORT_ROWS)
                .await
                .map(Msg::ReportLoaded)
                .map_err(|e| report_words(lang, e))
        }
        Effect::ExportReport { kind, filter, path } => match need_actor() {
            Ok(a) => export(pool, lang, &a, kind, &filter, &path).await,
            Err(e) => Err(e),
        },
        Effect::ImportPersons { path, dry_run } => match need_actor() {
            Ok(a) => import_persons(pool, lang, &a, &path, dry_run, report).await,
            Err(e) => Err(e),
        },
        Effect::DeskPresent { card_no } => {
            return match crate::demo::ask_desk(pool, card_no).await {
                Ok(()) => None,
                Err(e) => Some(Err(sql(e))),
            }
        }
        _ => return None,
    })
}

fn report_words(lang: Lang, e: crate::report::ReportError) -> String {
    match e {
        crate::report::ReportError::Denied(d) => denied_words(lang, &d),
        crate::report::ReportError::Sql(e) => describe_sql(&e),
        other => other.to_string(),
    }
}

async fn load_refs(pool: &PgPool, lang: Lang) -> Result<Msg, String> {
    let kinds = card::card_kinds(pool)
        .await
        .map_err(|e| card_words(lang, e))?;
    let door_groups = door_group::list(pool).await.map_err(sql)?;
    let terminals = terminal::terminals(pool).await.map_err(sql)?;
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
    Ok(Msg::CardRefsLoaded(CardRefs {
        kinds,
        door_groups,
        pos: of("pos"),
        attendance: of("attendance_machine"),
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

fn fee_words(lang: Lang, fee: Option<rust_decimal::Decimal>) -> String {
    match fee {
        Some(f) if f > rust_decimal::Decimal::ZERO => {
            trf(lang, "card.done.fee", &[("fee", &money(f))])
        }
        _ => String::new(),
    }
}

async fn card_op(pool: &PgPool, lang: Lang, a: &Actor, op: CardOp) -> Result<Msg, String> {
    let words = |e| card_words(lang, e);
    let done = |text: String, card_id: Option<i64>, person_id: Option<i64>, pins| {
        Msg::CardDone(CardDone {
            text,
            card_id,
            person_id,
            pins,
        })
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
            let bytes = tokio::fs::read(&path).await.map_err(|e| {
                trf(
                    lang,
                    "card.msg.cannot_read",
                    &[("path", &path), ("error", &e.to_string())],
                )
            })?;
            let outcome = crate::import::extensions::import(pool, a, &path, &bytes, until, false)
                .await
                .map_err(|e| e.to_string())?;
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
        } => {
            let t = ledger::top_up(pool, a, person_id, amount, "card desk")
                .await
                .map_err(|e| match e {
                    ledger::LedgerError::Denied(d) => denied_words(lang, &d),
                    ledger::LedgerError::Sql(e) => describe_sql(&e),
                    other => other.to_string(),
                })?;
            let (name, _) = named(pool, lang, card_id).await;
            Ok(done(
                trf(
                    lang,
                    "card.done.topped_up",
                    &[
                        ("amount", &money(amount)),
                        ("card", &name),
                        ("balance", &money(t.balance)),
                    ],
                ),
                Some(card_id),
                None,
                None,
            ))
        }
        CardOp::Resend { card_id } => {
            let n = propagation::resend(pool, a, card_id)
                .await
                .map_err(|e| match e {
                    crate::db::command::CommandError::Denied(d) => denied_words(lang, &d),
                    crate::db::command::CommandError::Sql(e) => describe_sql(&e),
                })?;
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

async fn simple(pool: &PgPool, lang: Lang, key: &str, card_id: i64) -> Result<Msg, String> {
    let (name, _) = named(pool, lang, card_id).await;
    Ok(Msg::CardDone(CardDone {
        text: trf(lang, key, &[("card", &name)]),
        card_id: Some(card_id),
        person_id: None,
        pins: None,
    }))
}

/// A reissue or exchange went through: the new card is shown, with its PINs once.
async fn replaced(
    pool: &PgPool,
    lang: Lang,
    key: &str,
    old: &str,
    issued: &Issued,
) -> Result<Msg, String> {
    let (_, view) = named(pool, lang, issued.card_id).await;
    let (person_id, person) = view
        .map(|v| (Some(v.person_id), v.person_name))
        .unwrap_or_default();
    Ok(Msg::CardDone(CardDone {
        text: trf(
            lang,
            key,
            &[("old", old), ("card", &issued.card_no.to_string())],
        ) + &fee_words(lang, issued.fee),
        card_id: Some(issued.card_id),
        person_id,
        pins: Some(pins_of(issued, &person)),
    }))
}

async fn stock_op(pool: &PgPool, lang: Lang, a: &Actor, op: StockOp) -> Result<Msg, String> {
    let words = |e: stock::StockError| match e {
        stock::StockError::Denied(d) => denied_words(lang, &d),
        stock::StockError::Sql(e) => describe_sql(&e),
        other => other.to_string(),
    };
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
) -> Result<Msg, String> {
    let file = std::fs::File::create(path).map_err(|e| {
        trf(
            lang,
            "card.msg.cannot_write",
            &[("path", path), ("error", &e.to_string())],
        )
    })?;
    let n = crate::report::export_csv(pool, a, kind, filter, std::io::BufWriter::new(file))
        .await
        .map_err(|e| report_words(lang, e))?;
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

async fn import_persons(
    pool: &PgPool,
    lang: Lang,
    a: &Actor,
    path: &str,
    dry_run: bool,
    report: &(dyn Fn(Msg) + Send + Sync),
) -> Result<Msg, String> {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        trf(
            lang,
            "card.msg.cannot_read",
            &[("path", path), ("error", &e.to_string())],
        )
    })?;
    let mut progress = |p: crate::import::persons::Progress| {
        if !dry_run {
            report(Msg::ImportProgress {
                done: p.done as u64,
                total: p.total as u64,
            });
        }
    };
    let summary = crate::import::persons::import(pool, a, path, &bytes, dry_run, &mut progress)
        .await
        .map_err(|e| match e {
            crate::import::ImportError::Denied(d) => denied_words(lang, &d),
            other => other.to_string(),
        })?;
    Ok(if dry_run {
        Msg::ImportPreview {
            path: path.to_string(),
            summary,
        }
    } else {
        Msg::ImportDone { summary }
    })
}
