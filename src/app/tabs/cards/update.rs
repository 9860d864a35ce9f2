//! The Card service tab's update: each message, what it changes and what it asks for.

use super::*;

pub fn update(c: &mut Cards, sh: &mut Shell, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Presented {
            terminal_id,
            card_no,
            ..
        } => {
            if sh.session.is_none() {
                return vec![];
            }
            c.reader = Some(Presented {
                card_no,
                terminal_id: Some(terminal_id),
                lookup: None,
                at: sh.now,
            });
            if sh.tab != TabId::Cards {
                sh.message = Some((
                    Level::Info,
                    crate::i18n::trf(
                        sh.lang,
                        "card.msg.on_reader_elsewhere",
                        &[("card", &card_no.to_string())],
                    ),
                ));
            }
            vec![c.lookup(sh, card_no)]
        }
        Msg::LookedUp {
            gen,
            card_no,
            lookup,
        } => {
            if !c.loads.lookup.take(gen) {
                return vec![];
            }
            c.on_lookup(sh, card_no, lookup)
        }
        Msg::RefsLoaded { gen, refs } => {
            if c.loads.refs.take(gen) {
                c.refs = Some(refs);
            }
            vec![]
        }
        Msg::PeopleFound {
            gen,
            query,
            people,
            total,
        } => {
            // An older search answering after a newer one was typed, or answered, is dropped.
            if query != c.query() || !c.loads.search.take(gen) {
                return vec![];
            }
            let index = c.selected_index();
            c.results = people;
            c.total = total;
            c.searched = Some(query);
            let keep = c
                .selected
                .is_some_and(|id| c.results.iter().any(|p| p.id == id));
            if !keep {
                let n = c.results.len();
                let next = (n > 0).then(|| c.results[index.min(n - 1)].id);
                c.select_person(next);
            }
            vec![]
        }
        Msg::PersonCardsLoaded {
            gen,
            person_id,
            cards,
        } => {
            if c.selected != Some(person_id) || !c.loads.person_cards.take(gen) {
                return vec![];
            }
            c.cards = cards;
            c.cards_of = Some(person_id);
            let keep = c.card.filter(|id| c.cards.iter().any(|x| x.card_id == *id));
            // The card in service first, else the newest.
            let chosen = keep.or_else(|| {
                c.cards
                    .iter()
                    .find(|x| matches!(x.state, CardState::Active | CardState::Lost))
                    .or(c.cards.first())
                    .map(|x| x.card_id)
            });
            c.show_card(sh, chosen, false)
        }
        Msg::CardLoaded { gen, detail } => {
            if c.card == Some(detail.id()) && c.loads.card.take(gen) {
                c.detail = Some(*detail);
            }
            vec![]
        }
        Msg::ConfirmationsLoaded {
            gen,
            card_id,
            confirmations,
        } => {
            if gen < c.loads.card.gen() {
                return vec![];
            }
            if let Some(d) = c.detail.as_mut().filter(|d| d.id() == card_id) {
                d.confirmations = confirmations;
            }
            vec![]
        }
        Msg::Done(done) => c.on_done(sh, done),
        Msg::StockLoaded { gen, stock } => {
            if c.loads.stock.take(gen) {
                c.stock = Some(stock);
            }
            vec![]
        }
        Msg::ReportLoaded { gen, page } => {
            let r = &mut c.reports;
            if page.kind != r.kind || page.filter != r.filter || !c.loads.report.take(gen) {
                return vec![];
            }
            r.selected = r.selected.min(page.rows.len().saturating_sub(1));
            r.page = Some(page);
            vec![]
        }
        Msg::ImportPreview {
            path,
            create_departments,
            summary,
        } => {
            c.import = Some(ImportView {
                path,
                create_departments,
                preview: summary,
                progress: None,
                scroll: 0,
            });
            c.popup = Some(Popup::Import);
            vec![]
        }
        Msg::ImportProgress { done, total } => {
            if let Some(i) = &mut c.import {
                i.progress = Some((done, total));
            }
            vec![]
        }
        Msg::StatementLoaded { gen, statement } => {
            if c.loads.statement.take(gen) {
                c.statement_loaded(*statement);
            }
            vec![]
        }
        Msg::ImportDone { summary } => {
            c.import = None;
            if matches!(c.popup, Some(Popup::Import)) {
                c.popup = None;
            }
            c.pending.search = true;
            sh.info(crate::i18n::trf(
                sh.lang,
                "card.msg.imported",
                &[
                    ("path", &summary.path),
                    ("new", &summary.new.to_string()),
                    ("updated", &summary.updated.to_string()),
                    ("unchanged", &summary.unchanged.to_string()),
                ],
            ))
        }
    }
}
