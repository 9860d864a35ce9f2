//! The Card service tab's transitions: the register search, the desk reader, the card panel,
//! the card desk's forms, stock and reports. No I/O: everything slow is an `Effect`.

use super::{denied, edit_text, edit_text_max, switch_tab};
use crate::app::cards::{
    card_state_of, CardDone, CardField, CardForm, CardFormKind, CardLookup, CardOp, CardRefs,
    DeskView, ImportView, Input, IssueRequest, Opt, PaidFrom, PersonRow, PinKind, Presented,
    ReportFilter, ReportKind, Rewrite, StockOp,
};
use crate::app::msg::Msg;
use crate::app::state::{Confirm, Level, Overlay, State, Tab};
use crate::app::Effect;
use crate::db::card::BalancePolicy;
use crate::db::notify::Change;
use crate::domain::card::{self, CardKind, CardState, Refusal, Subsystem, Transition};
use crate::domain::permission::Action;
use crate::domain::role::Role;
use crate::i18n::{tr, trf, Lang};
use crate::keymap::Command;
use chrono::{Datelike, Months, NaiveDate};
use crossterm::event::{KeyCode, KeyEvent};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Longest free text in a card form (a reason, a note, a file path).
const MAX_TEXT: usize = 200;
/// Longest amount a single top-up takes.
const MAX_TOP_UP: i64 = 10_000;

// ---- Words ------------------------------------------------------------------------------------

pub fn kind_word(lang: Lang, kind: CardKind) -> &'static str {
    tr(lang, &format!("card.kind.{}", kind.name()))
}

pub fn state_word(lang: Lang, state: CardState) -> &'static str {
    tr(lang, &format!("card.state.{}", state.name()))
}

pub fn subsystem_word(lang: Lang, s: Subsystem) -> &'static str {
    tr(lang, &format!("card.subsystem.{}", s.name()))
}

/// A person's category; an unknown one as stored.
pub fn category_word(lang: Lang, category: &str) -> String {
    let key = format!("person.category.{category}");
    if crate::i18n::has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        category.to_string()
    }
}

/// A card event's name; an unknown one as stored.
pub fn event_word(lang: Lang, event: &str) -> String {
    let key = format!("card.event.{event}");
    if crate::i18n::has_key(&key) {
        tr(lang, &key).to_string()
    } else {
        event.to_string()
    }
}

/// "¥12.50"
pub fn money(d: Decimal) -> String {
    format!("¥{:.2}", d.round_dp(2))
}

/// A refusal of the card state machine, in the operator's language.
pub fn refusal_words(lang: Lang, r: &Refusal) -> String {
    let card = |n: &i64| n.to_string();
    match r {
        Refusal::AlreadyLost { card_no } => trf(
            lang,
            "card.refusal.already_lost",
            &[("card", &card(card_no))],
        ),
        Refusal::NotLost { card_no } => {
            trf(lang, "card.refusal.not_lost", &[("card", &card(card_no))])
        }
        Refusal::Final { card_no, state, .. } => trf(
            lang,
            "card.refusal.final",
            &[
                ("card", &card(card_no)),
                ("state", state_word(lang, *state)),
            ],
        ),
        Refusal::LostCard { card_no } => {
            trf(lang, "card.refusal.lost_card", &[("card", &card(card_no))])
        }
        Refusal::TooSoon { card_no, hours } => trf(
            lang,
            "card.refusal.too_soon",
            &[("card", &card(card_no)), ("hours", &hours.to_string())],
        ),
        Refusal::OverrideWithoutReason => tr(lang, "card.refusal.override_reason").to_string(),
        Refusal::OverrideNotDirector => tr(lang, "card.refusal.override_director").to_string(),
        Refusal::TemporarySubsystem { subsystem } => trf(
            lang,
            "card.refusal.temporary_subsystem",
            &[("subsystem", subsystem_word(lang, *subsystem))],
        ),
        Refusal::TemporaryTooLong { latest } => trf(
            lang,
            "card.refusal.temporary_too_long",
            &[("latest", &latest.to_string())],
        ),
        Refusal::NotLater { until, current } => trf(
            lang,
            "card.refusal.not_later",
            &[
                ("until", &until.to_string()),
                ("current", &current.to_string()),
            ],
        ),
        Refusal::EndsBeforeStart { from, until } => trf(
            lang,
            "card.refusal.ends_before_start",
            &[("from", &from.to_string()), ("until", &until.to_string())],
        ),
    }
}

fn today(state: &State) -> NaiveDate {
    state.now.with_timezone(&state.utc_offset).date_naive()
}

fn is_director(state: &State) -> bool {
    state
        .session
        .as_ref()
        .is_some_and(|s| s.role() == Role::Director)
}

fn info(state: &mut State, text: String) -> Vec<Effect> {
    state.message = Some((Level::Info, text));
    vec![]
}

fn error(state: &mut State, text: String) -> Vec<Effect> {
    state.message = Some((Level::Error, text));
    vec![]
}

// ---- Loading ----------------------------------------------------------------------------------

/// What the tab shows, asked for again (entering the tab, refresh, a resync).
pub fn reload(state: &State) -> Vec<Effect> {
    let desk = &state.cards;
    let mut fx = vec![Effect::LoadCardRefs];
    match desk.view {
        DeskView::People => {
            fx.push(Effect::SearchPeople {
                query: desk.query.clone(),
            });
            if let Some(person_id) = desk.selected {
                fx.push(Effect::LoadPersonCards { person_id });
            }
            if let Some(card_id) = desk.card {
                fx.push(Effect::LoadCard { card_id });
            }
        }
        DeskView::Stock => fx.push(Effect::LoadStock),
        DeskView::Reports => {
            if state.may(Action::ReportExport) {
                fx.push(Effect::LoadReport {
                    kind: desk.reports.kind,
                    filter: desk.reports.filter.clone(),
                });
            }
        }
    }
    if let Some(p) = &desk.reader {
        fx.push(Effect::LookupCard { card_no: p.card_no });
    }
    fx
}

/// The frame's reload for the tab: the search typed and the person moved to since the last
/// frame, and the cards notifications named. Each at most once.
pub fn flush(
    state: &mut State,
    change: &Change,
    desk: crate::app::cards::DeskPending,
) -> Vec<Effect> {
    let mut fx = Vec::new();
    if state.tab != Tab::Cards {
        return fx;
    }
    let cards = &state.cards;
    // A person added or edited elsewhere may now match the search, or match it no more.
    if desk.search || (!change.person.is_empty() && cards.view == DeskView::People) {
        fx.push(Effect::SearchPeople {
            query: cards.query.clone(),
        });
    }
    let person_cards_changed = change
        .card
        .iter()
        .any(|id| cards.cards.iter().any(|c| c.card_id == *id));
    if let Some(person_id) = cards.selected {
        if desk.person || person_cards_changed {
            fx.push(Effect::LoadPersonCards { person_id });
        }
    }
    if let Some(d) = cards.shown() {
        if change.card.contains(&d.id()) {
            fx.push(Effect::LoadCard { card_id: d.id() });
        } else if !change.command.is_empty() && d.confirmations.confirmed < d.confirmations.total {
            // Which card a finished command was for is the database's to say: one query.
            fx.push(Effect::LoadConfirmations { card_id: d.id() });
        }
    }
    if let Some(p) = &cards.reader {
        let named = match &p.lookup {
            Some(CardLookup::Issued(b) | CardLookup::Blacklisted(b)) => {
                change.card.contains(&b.card_id)
            }
            // A blank card issued meanwhile (at another desk) is a new card id.
            Some(CardLookup::New) | None => !change.card.is_empty(),
        };
        if named {
            fx.push(Effect::LookupCard { card_no: p.card_no });
        }
    }
    fx
}

// ---- Messages ---------------------------------------------------------------------------------

pub fn on_msg(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::CardPresented {
            terminal_id,
            card_no,
            ..
        } => {
            if state.session.is_none() {
                return vec![];
            }
            state.cards.reader = Some(Presented {
                card_no,
                terminal_id: Some(terminal_id),
                lookup: None,
                at: state.now,
            });
            if state.tab != Tab::Cards {
                state.message = Some((
                    Level::Info,
                    trf(
                        state.lang,
                        "card.msg.on_reader_elsewhere",
                        &[("card", &card_no.to_string())],
                    ),
                ));
            }
            vec![Effect::LookupCard { card_no }]
        }
        Msg::CardLookedUp { card_no, lookup } => on_lookup(state, card_no, lookup),
        Msg::CardRefsLoaded(refs) => {
            state.cards.refs = Some(refs);
            vec![]
        }
        Msg::PeopleFound { query, people } => {
            if query != state.cards.query {
                // An older search answered after a newer one was typed.
                return vec![];
            }
            let desk = &mut state.cards;
            let index = desk.selected_index();
            desk.results = people;
            desk.searched = Some(query);
            let keep = desk
                .selected
                .is_some_and(|id| desk.results.iter().any(|p| p.id == id));
            if keep {
                return vec![];
            }
            let n = desk.results.len();
            let next = (n > 0).then(|| desk.results[index.min(n - 1)].id);
            select_person(state, next)
        }
        Msg::PersonCardsLoaded { person_id, cards } => {
            let desk = &mut state.cards;
            if desk.selected != Some(person_id) {
                return vec![];
            }
            desk.cards = cards;
            desk.cards_of = Some(person_id);
            let keep = desk
                .card
                .filter(|id| desk.cards.iter().any(|c| c.card_id == *id));
            // The card in service first, else the newest.
            let chosen = keep.or_else(|| {
                desk.cards
                    .iter()
                    .find(|c| matches!(c.state, CardState::Active | CardState::Lost))
                    .or(desk.cards.first())
                    .map(|c| c.card_id)
            });
            show_card(state, chosen, false)
        }
        Msg::CardLoaded(detail) => {
            if state.cards.card == Some(detail.id()) {
                state.cards.detail = Some(*detail);
            }
            vec![]
        }
        Msg::ConfirmationsLoaded {
            card_id,
            confirmations,
        } => {
            if let Some(d) = state.cards.detail.as_mut().filter(|d| d.id() == card_id) {
                d.confirmations = confirmations;
            }
            vec![]
        }
        Msg::CardDone(done) => on_done(state, done),
        Msg::StockLoaded(stock) => {
            state.cards.stock = Some(stock);
            vec![]
        }
        Msg::ReportLoaded(page) => {
            let r = &mut state.cards.reports;
            if page.kind != r.kind || page.filter != r.filter {
                return vec![];
            }
            r.selected = r.selected.min(page.rows.len().saturating_sub(1));
            r.page = Some(page);
            vec![]
        }
        Msg::ImportPreview { path, summary } => {
            close_busy_form(state);
            state.cards.import = Some(ImportView {
                path,
                preview: summary,
                progress: None,
            });
            state.overlay = Some(Overlay::Import);
            vec![]
        }
        Msg::ImportProgress { done, total } => {
            if let Some(i) = &mut state.cards.import {
                i.progress = Some((done, total));
            }
            vec![]
        }
        Msg::ImportDone { summary } => {
            state.cards.import = None;
            if matches!(state.overlay, Some(Overlay::Import)) {
                state.overlay = None;
            }
            state.pending.desk.search = true;
            info(
                state,
                trf(
                    state.lang,
                    "card.msg.imported",
                    &[
                        ("path", &summary.path),
                        ("new", &summary.new.to_string()),
                        ("updated", &summary.updated.to_string()),
                        ("unchanged", &summary.unchanged.to_string()),
                    ],
                ),
            )
        }
        _ => vec![],
    }
}

/// A card desk form waiting for its answer closes when the answer is "done".
pub fn close_busy_form(state: &mut State) {
    if matches!(&state.overlay, Some(Overlay::CardForm(f)) if f.busy) {
        state.overlay = None;
    }
}

/// A refusal while a card desk form waits: it stays open with the refusal and what was typed.
/// Returns whether the form took it.
pub fn form_failed(state: &mut State, text: &str) -> bool {
    if let Some(Overlay::CardForm(form)) = &mut state.overlay {
        if form.busy {
            form.busy = false;
            form.error = Some(text.to_string());
            return true;
        }
    }
    if matches!(state.overlay, Some(Overlay::Import)) {
        // A failed import changes nothing (all or nothing): say why, and close.
        state.overlay = None;
        state.cards.import = None;
    }
    false
}

fn on_lookup(state: &mut State, card_no: i64, lookup: CardLookup) -> Vec<Effect> {
    let lang = state.lang;
    let Some(p) = state.cards.reader.as_mut().filter(|p| p.card_no == card_no) else {
        return vec![];
    };
    let first = p.lookup.is_none();
    p.lookup = Some(lookup.clone());
    // A form waiting for a card takes a blank one; an issued one is named in it.
    if let Some(Overlay::CardForm(form)) = &mut state.overlay {
        if form.busy || form.index("card.form.card_no").is_none() || !first {
            return vec![];
        }
        match &lookup {
            CardLookup::New => {
                form.set_text("card.form.card_no", card_no.to_string());
                form.error = None;
            }
            CardLookup::Issued(b) | CardLookup::Blacklisted(b) => {
                form.error = Some(trf(
                    lang,
                    "card.msg.not_blank",
                    &[
                        ("card", &card_no.to_string()),
                        ("name", &b.person_name),
                        ("state", state_word(lang, b.state)),
                    ],
                ));
            }
        }
        return vec![];
    }
    match lookup {
        // An issued card on the reader shows its holder and the card at once.
        CardLookup::Issued(b) | CardLookup::Blacklisted(b)
            if first && state.tab == Tab::Cards && state.overlay.is_none() =>
        {
            let desk = &mut state.cards;
            desk.view = DeskView::People;
            desk.query = card_no.to_string();
            state.pending.desk.search = true;
            let mut fx = select_person(state, Some(b.person_id));
            fx.extend(show_card(state, Some(b.card_id), true));
            fx
        }
        _ => vec![],
    }
}

/// Moves the cursor to a person: their cards are read (at the next frame, so holding a key
/// reads only where it stops).
fn select_person(state: &mut State, person_id: Option<i64>) -> Vec<Effect> {
    let desk = &mut state.cards;
    if desk.selected == person_id {
        return vec![];
    }
    desk.selected = person_id;
    desk.cards.clear();
    desk.cards_of = None;
    desk.card = None;
    desk.detail = None;
    state.pending.desk.person = person_id.is_some();
    vec![]
}

/// Shows a card in the panel, reading it when it is another one (or `force`).
fn show_card(state: &mut State, card_id: Option<i64>, force: bool) -> Vec<Effect> {
    let desk = &mut state.cards;
    let same = desk.card == card_id && desk.shown().is_some();
    desk.card = card_id;
    if desk.detail.as_ref().map(|d| d.id()) != card_id {
        desk.detail = None;
    }
    match card_id {
        Some(card_id) if force || !same => vec![Effect::LoadCard { card_id }],
        _ => vec![],
    }
}

fn on_done(state: &mut State, done: CardDone) -> Vec<Effect> {
    close_busy_form(state);
    state.message = Some((Level::Info, done.text));
    if let Some(note) = done.pins {
        state.overlay = Some(Overlay::Pins(note));
    }
    let mut fx = Vec::new();
    if let Some(person_id) = done.person_id {
        if state.cards.selected != Some(person_id) {
            fx.extend(select_person(state, Some(person_id)));
        }
        state.pending.desk.person = false;
        fx.push(Effect::LoadPersonCards { person_id });
    }
    if let Some(card_id) = done.card_id {
        fx.extend(show_card(state, Some(card_id), true));
    } else if let Some(card_id) = state.cards.card {
        fx.push(Effect::LoadCard { card_id });
    }
    if let Some(p) = &state.cards.reader {
        fx.push(Effect::LookupCard { card_no: p.card_no });
    }
    // The people list shows each person's card and its state.
    state.pending.desk.search = true;
    fx
}

// ---- Keys -------------------------------------------------------------------------------------

/// The search box: every key edits the query; the next frame searches.
pub fn on_search_key(state: &mut State, mut text: String, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            text.clear();
            state.cards.query.clear();
            state.pending.desk.search = true;
            return vec![];
        }
        KeyCode::Enter => return vec![],
        KeyCode::Down | KeyCode::Up => {
            // Arrows leave the box and move in the results.
            state.filter_input = None;
            let cmd = if key.code == KeyCode::Down {
                Command::SelectNext
            } else {
                Command::SelectPrev
            };
            return super::run(state, cmd);
        }
        _ => {
            if edit_text(&mut text, &key) && text != state.cards.query {
                state.cards.query = text.clone();
                state.pending.desk.search = true;
            }
        }
    }
    state.filter_input = Some(text);
    vec![]
}

/// Opens the search box, with a first character when the operator just started typing.
pub fn start_search(state: &mut State, first: Option<char>) -> Vec<Effect> {
    state.cards.view = DeskView::People;
    let mut text = match first {
        Some(_) => String::new(),
        None => state.cards.query.clone(),
    };
    if let Some(c) = first {
        text.push(c);
        state.cards.query = text.clone();
        state.pending.desk.search = true;
    }
    state.filter_input = Some(text);
    vec![]
}

/// The rows the cursor keys move in on the tab: (count, cursor).
pub fn cursor(state: &State) -> (usize, usize) {
    let desk = &state.cards;
    match desk.view {
        DeskView::People => (desk.results.len(), desk.selected_index()),
        DeskView::Reports => (
            desk.reports.page.as_ref().map_or(0, |p| p.rows.len()),
            desk.reports.selected,
        ),
        DeskView::Stock => (0, 0),
    }
}

pub fn select_row(state: &mut State, to: usize) -> Vec<Effect> {
    match state.cards.view {
        DeskView::People => {
            let n = state.cards.results.len();
            let id = (n > 0).then(|| state.cards.results[to.min(n - 1)].id);
            select_person(state, id)
        }
        DeskView::Reports => {
            let n = cursor(state).0;
            state.cards.reports.selected = to.min(n.saturating_sub(1));
            vec![]
        }
        DeskView::Stock => vec![],
    }
}

/// Enter on the people list: the person's next card, when they have several.
pub fn activate(state: &mut State) -> Vec<Effect> {
    let desk = &state.cards;
    if desk.view != DeskView::People || desk.cards.len() < 2 {
        return vec![];
    }
    let at = desk
        .card
        .and_then(|id| desk.cards.iter().position(|c| c.card_id == id))
        .map_or(0, |i| (i + 1) % desk.cards.len());
    let id = desk.cards[at].card_id;
    show_card(state, Some(id), false)
}

/// Esc on the tab: the card on the reader is done with.
pub fn cancel(state: &mut State) {
    state.cards.reader = None;
}

// ---- Commands ---------------------------------------------------------------------------------

/// What a command needs the role to allow.
fn action_of(cmd: Command) -> Option<Action> {
    Some(match cmd {
        Command::CardIssue => Action::CardIssue,
        Command::CardRewrite
        | Command::CardLimits
        | Command::CardReportLost
        | Command::CardReportFound
        | Command::CardReissue
        | Command::CardExchange
        | Command::CardReturn
        | Command::CardCancel
        | Command::CardExtend
        | Command::CardExtendBatch
        | Command::CardResend => Action::CardLifecycle,
        Command::CardPinChange | Command::CardPinReset => Action::CardPin,
        Command::CardTopUp => Action::AccountTopUp,
        Command::PersonImport => Action::PersonImport,
        Command::StockReceive | Command::StockSpoil | Command::StockCount => Action::CardIssue,
        Command::ReportFilter | Command::ReportExport => Action::ReportExport,
        _ => return None,
    })
}

/// The view a command belongs to.
fn view_of(cmd: Command) -> Option<DeskView> {
    match cmd {
        Command::StockReceive | Command::StockSpoil | Command::StockCount => Some(DeskView::Stock),
        Command::ReportFilter | Command::ReportExport => Some(DeskView::Reports),
        Command::DeskView | Command::DeskPresentBlank | Command::DeskPresentCard => None,
        Command::CardNumber | Command::PersonImport | Command::CardExtendBatch => None,
        _ => Some(DeskView::People),
    }
}

/// The role check; a resend is also a door administrator's (it only repeats what was granted).
fn may(state: &State, cmd: Command, action: Action) -> bool {
    state.may(action) || (cmd == Command::CardResend && state.may(Action::DoorGrant))
}

/// Whether the operator may run `cmd` on the tab as it is now (the hint line offers only these).
pub fn offered(state: &State, cmd: Command) -> bool {
    if let Some(action) = action_of(cmd) {
        if !may(state, cmd, action) {
            return false;
        }
    }
    if matches!(cmd, Command::DeskPresentBlank | Command::DeskPresentCard) {
        return state.demo;
    }
    let detail = state.cards.shown().map(|d| &d.view);
    let holds = state
        .cards
        .selected_person()
        .is_some_and(|p| card_state_of(p).is_some_and(|s| !s.is_final()));
    let in_state = |t: Transition| {
        detail.is_some_and(|d| {
            card::check(
                t,
                &card::Context {
                    card_no: d.card_no,
                    state: d.state,
                    // The 24 h wait is not a reason to hide the key: the form explains it.
                    lost_at: None,
                    now: state.now,
                    director_override: false,
                    override_reason_given: false,
                    is_director: false,
                },
            )
            .is_ok()
                || (t == Transition::Reissue && d.state == CardState::Lost)
        })
    };
    match cmd {
        Command::CardIssue => state.cards.selected.is_some() && !holds,
        Command::CardRewrite => in_state(Transition::Rewrite),
        Command::CardReportLost => in_state(Transition::ReportLost),
        Command::CardReportFound => in_state(Transition::ReportFound),
        Command::CardReissue => in_state(Transition::Reissue),
        Command::CardExchange => in_state(Transition::Exchange),
        Command::CardReturn => in_state(Transition::Return),
        Command::CardCancel => in_state(Transition::Cancel),
        Command::CardExtend => in_state(Transition::Extend),
        Command::CardPinChange | Command::CardPinReset => in_state(Transition::PinChange),
        Command::CardLimits => in_state(Transition::Limits),
        Command::CardTopUp => detail.is_some(),
        Command::CardResend => state.cards.shown().is_some_and(|d| {
            d.confirmations
                .pending
                .iter()
                .any(|p| matches!(p.command_state.as_str(), "failed" | "unknown"))
        }),
        _ => true,
    }
}

/// Runs one of the tab's commands: permission first, then the view it belongs to, then the
/// object it acts on.
pub fn run(state: &mut State, cmd: Command) -> Vec<Effect> {
    if let Some(action) = action_of(cmd) {
        if !may(state, cmd, action) {
            return denied(state, action);
        }
    }
    if matches!(cmd, Command::DeskPresentBlank | Command::DeskPresentCard) && !state.demo {
        return info(state, tr(state.lang, "card.msg.demo_only").to_string());
    }
    let mut fx = Vec::new();
    if state.tab != Tab::Cards || state.alarm.open {
        fx = switch_tab(state, Tab::Cards);
    }
    if let Some(view) = view_of(cmd) {
        if state.cards.view != view {
            state.cards.view = view;
            fx.extend(reload(state));
            // A card command shows the card first; stock and report forms open at once.
            if view == DeskView::People {
                return fx;
            }
        }
    }
    fx.extend(run_here(state, cmd));
    fx
}

fn run_here(state: &mut State, cmd: Command) -> Vec<Effect> {
    let lang = state.lang;
    match cmd {
        Command::DeskView => {
            state.cards.view = state.cards.view.next();
            reload(state)
        }
        Command::CardNumber => open(
            state,
            CardForm::new(
                CardFormKind::CardNumber,
                tr(lang, "card.form.title.card_number").to_string(),
                vec![text_field("card.form.card_no", "")],
            ),
        ),
        Command::DeskPresentBlank => vec![Effect::DeskPresent { card_no: None }],
        Command::DeskPresentCard => open(
            state,
            CardForm::new(
                CardFormKind::DeskPresent,
                tr(lang, "card.form.title.desk_present").to_string(),
                vec![text_field("card.form.card_no", "")],
            ),
        ),
        Command::PersonImport => {
            let mut form = CardForm::new(
                CardFormKind::ImportPersons,
                tr(lang, "card.form.title.import").to_string(),
                vec![text_field("card.form.path", "")],
            );
            form.intro = vec![tr(lang, "card.form.intro.import").to_string()];
            open(state, form)
        }
        Command::CardExtendBatch => {
            let mut form = CardForm::new(
                CardFormKind::ExtendBatch,
                tr(lang, "card.form.title.extend_batch").to_string(),
                vec![
                    text_field("card.form.path", ""),
                    text_field("card.form.until", ""),
                ],
            );
            form.intro = vec![tr(lang, "card.form.intro.extend_batch").to_string()];
            open(state, form)
        }
        Command::CardIssue => open_issue(state),
        Command::StockReceive | Command::StockSpoil | Command::StockCount => {
            let (kind, title, first) = match cmd {
                Command::StockReceive => (
                    CardFormKind::StockReceive,
                    "card.form.title.stock_receive",
                    "card.form.quantity",
                ),
                Command::StockSpoil => (
                    CardFormKind::StockSpoil,
                    "card.form.title.stock_spoil",
                    "card.form.quantity",
                ),
                _ => (
                    CardFormKind::StockCount,
                    "card.form.title.stock_count",
                    "card.form.physical",
                ),
            };
            let mut form = CardForm::new(
                kind,
                tr(lang, title).to_string(),
                vec![text_field(first, ""), text_field("card.form.note", "")],
            );
            if let Some(s) = &state.cards.stock {
                form.intro = vec![trf(
                    lang,
                    "card.form.intro.stock",
                    &[("on_hand", &s.level.on_hand.to_string())],
                )];
            }
            open(state, form)
        }
        Command::ReportFilter => open_report_filter(state),
        Command::ReportExport => {
            let r = &state.cards.reports;
            let name = format!(
                "onecard-{}-{}.csv",
                r.kind.name(),
                today(state).format("%Y%m%d")
            );
            let mut form = CardForm::new(
                CardFormKind::ReportExport,
                trf(
                    lang,
                    "card.form.title.report_export",
                    &[(
                        "report",
                        tr(lang, &format!("report.kind.{}", r.kind.name())),
                    )],
                ),
                vec![text_field("card.form.path", &name)],
            );
            form.intro = vec![tr(lang, "card.form.intro.report_export").to_string()];
            open(state, form)
        }
        _ => run_on_card(state, cmd),
    }
}

fn open(state: &mut State, form: CardForm) -> Vec<Effect> {
    state.overlay = Some(Overlay::CardForm(form));
    vec![]
}

fn text_field(label: &'static str, value: &str) -> CardField {
    CardField {
        label,
        input: Input::Text(value.to_string()),
    }
}

fn paid_field(lang: Lang) -> CardField {
    CardField {
        label: "card.form.paid_from",
        input: Input::choice(
            [PaidFrom::Cash, PaidFrom::Balance]
                .iter()
                .map(|p| Opt::new(p.name(), tr(lang, &format!("card.paid.{}", p.name()))))
                .collect(),
            "cash",
        ),
    }
}

fn pin_field(lang: Lang) -> CardField {
    CardField {
        label: "card.form.which_pin",
        input: Input::choice(
            [PinKind::Query, PinKind::Payment]
                .iter()
                .map(|p| Opt::new(p.name(), tr(lang, &format!("card.pin.{}", p.name()))))
                .collect(),
            "payment",
        ),
    }
}

/// "王芳 · T10003 · 计算机学院"
fn person_line(p: &PersonRow) -> String {
    format!("{} · {} · {}", p.name, p.person_no, p.department)
}

/// The default validity of a new card of `kind` from `from`: temporary cards a year (the
/// kind's longest), students four years, staff five.
fn default_until(kind: CardKind, from: NaiveDate, refs: Option<&CardRefs>) -> NaiveDate {
    let max = refs
        .and_then(|r| r.kind(kind))
        .and_then(|k| k.max_validity_days)
        .map(i64::from);
    let months = match kind {
        CardKind::Temporary => 12,
        CardKind::Student => 48,
        CardKind::Staff => 60,
    };
    let until = from.checked_add_months(Months::new(months)).unwrap_or(from);
    match max {
        Some(days) => until.min(from + chrono::Duration::days(days)),
        None if kind == CardKind::Temporary => until.min(from + chrono::Duration::days(365)),
        None => until,
    }
}

fn default_subsystems(kind: CardKind) -> &'static [Subsystem] {
    match kind {
        CardKind::Staff => &Subsystem::ALL,
        CardKind::Student => &[Subsystem::Door, Subsystem::Pos],
        CardKind::Temporary => &[Subsystem::Pos],
    }
}

/// The grant pickers: subsystems, door groups, POS and attendance machines.
fn grant_fields(lang: Lang, refs: Option<&CardRefs>) -> Vec<CardField> {
    let empty = CardRefs::default();
    let refs = refs.unwrap_or(&empty);
    let named = |list: &[crate::app::cards::Named]| {
        list.iter()
            .map(|n| Opt::new(n.id.to_string(), n.name.clone()))
            .collect::<Vec<_>>()
    };
    vec![
        CardField {
            label: "card.form.subsystems",
            input: Input::multi(
                Subsystem::ALL
                    .iter()
                    .map(|s| Opt::new(s.name(), subsystem_word(lang, *s)))
                    .collect(),
                |_| false,
            ),
        },
        CardField {
            label: "card.form.door_groups",
            input: Input::multi(
                refs.door_groups
                    .iter()
                    .map(|g| Opt::new(g.id.to_string(), g.name.clone()))
                    .collect(),
                |_| false,
            ),
        },
        CardField {
            label: "card.form.pos",
            input: Input::multi(named(&refs.pos), |_| false),
        },
        CardField {
            label: "card.form.attendance",
            input: Input::multi(named(&refs.attendance), |_| false),
        },
    ]
}

/// An issue form's defaults for a kind: subsystems, machines, validity and the fee.
fn apply_kind_defaults(state: &State, form: &mut CardForm, kind: CardKind) {
    let lang = state.lang;
    let subsystems = default_subsystems(kind);
    form.set_ticked("card.form.subsystems", |o| {
        subsystems.iter().any(|s| s.name() == o.value)
    });
    form.set_ticked("card.form.pos", |_| true);
    form.set_ticked("card.form.attendance", |_| kind == CardKind::Staff);
    if !kind.allows(Subsystem::Door) {
        form.set_ticked("card.form.door_groups", |_| false);
    }
    let from = parse_date(form.text("card.form.valid_from")).unwrap_or_else(|| today(state));
    form.set_text(
        "card.form.valid_until",
        default_until(kind, from, state.cards.refs.as_ref()).to_string(),
    );
    let fee = state
        .cards
        .refs
        .as_ref()
        .and_then(|r| r.kind(kind))
        .map(|k| k.issue_fee)
        .unwrap_or_default();
    form.intro = vec![if fee > Decimal::ZERO {
        trf(
            lang,
            "card.form.intro.issue_fee",
            &[("kind", kind_word(lang, kind)), ("fee", &money(fee))],
        )
    } else {
        trf(
            lang,
            "card.form.intro.issue_free",
            &[("kind", kind_word(lang, kind))],
        )
    }];
    if kind == CardKind::Temporary {
        form.intro
            .push(tr(lang, "card.form.intro.temporary").to_string());
    }
}

fn open_issue(state: &mut State) -> Vec<Effect> {
    let lang = state.lang;
    let Some(person) = state.cards.selected_person().cloned() else {
        return info(state, tr(lang, "card.msg.select_person").to_string());
    };
    if let (Some(card_no), Some(s)) = (person.card_no, card_state_of(&person)) {
        if !s.is_final() {
            return error(
                state,
                trf(
                    lang,
                    "card.msg.holds_card",
                    &[
                        ("name", &person.name),
                        ("card", &card_no.to_string()),
                        ("state", state_word(lang, s)),
                    ],
                ),
            );
        }
    }
    let kind = match person.category.as_str() {
        "staff" => CardKind::Staff,
        "student" => CardKind::Student,
        _ => CardKind::Temporary,
    };
    let kinds: Vec<Opt> = CardKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), kind_word(lang, *k)))
        .collect();
    let card_no = state
        .cards
        .blank_on_reader()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let mut fields = vec![
        text_field("card.form.card_no", &card_no),
        CardField {
            label: "card.form.person",
            input: Input::Shown(person_line(&person)),
        },
        CardField {
            label: "card.form.kind",
            input: Input::choice(kinds, kind.name()),
        },
    ];
    fields.extend(grant_fields(lang, state.cards.refs.as_ref()));
    fields.push(text_field(
        "card.form.valid_from",
        &today(state).to_string(),
    ));
    fields.push(text_field("card.form.valid_until", ""));
    fields.push(paid_field(lang));
    let mut form = CardForm::new(
        CardFormKind::Issue {
            person_id: person.id,
        },
        trf(lang, "card.form.title.issue", &[("name", &person.name)]),
        fields,
    );
    apply_kind_defaults(state, &mut form, kind);
    // With a blank card on the reader, the kind is the first thing to decide.
    if !card_no.is_empty() {
        form.focus_on("card.form.kind");
    }
    open(state, form)
}

fn open_report_filter(state: &mut State) -> Vec<Effect> {
    let lang = state.lang;
    let r = &state.cards.reports;
    let kinds = ReportKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), tr(lang, &format!("report.kind.{}", k.name()))))
        .collect();
    let mut card_kinds = vec![Opt::new("", tr(lang, "report.all"))];
    card_kinds.extend(
        CardKind::ALL
            .iter()
            .map(|k| Opt::new(k.name(), kind_word(lang, *k))),
    );
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let fields = vec![
        CardField {
            label: "card.form.report",
            input: Input::choice(kinds, r.kind.name()),
        },
        text_field("card.form.from", &date(r.filter.from)),
        text_field("card.form.until", &date(r.filter.to)),
        text_field("card.form.department", &text(&r.filter.department)),
        CardField {
            label: "card.form.card_kind",
            input: Input::choice(card_kinds, r.filter.kind.map_or("", |k| k.name())),
        },
        text_field("card.form.operator", &text(&r.filter.operator)),
    ];
    let mut form = CardForm::new(
        CardFormKind::ReportFilter,
        tr(lang, "card.form.title.report_filter").to_string(),
        fields,
    );
    form.intro = vec![tr(lang, "card.form.intro.report_filter").to_string()];
    open(state, form)
}

/// The commands on the card shown: the card first, then whether its state allows it.
fn run_on_card(state: &mut State, cmd: Command) -> Vec<Effect> {
    let lang = state.lang;
    let Some(d) = state.cards.shown().map(|d| d.view.clone()) else {
        let key = if state.cards.selected.is_some() && state.cards.cards_of.is_some() {
            "card.msg.no_card"
        } else {
            "card.msg.select_card"
        };
        return info(state, tr(lang, key).to_string());
    };
    let transition = match cmd {
        Command::CardRewrite => Some(Transition::Rewrite),
        Command::CardReportLost => Some(Transition::ReportLost),
        Command::CardReportFound => Some(Transition::ReportFound),
        Command::CardReissue => Some(Transition::Reissue),
        Command::CardExchange => Some(Transition::Exchange),
        Command::CardReturn => Some(Transition::Return),
        Command::CardCancel => Some(Transition::Cancel),
        Command::CardExtend => Some(Transition::Extend),
        Command::CardPinChange => Some(Transition::PinChange),
        Command::CardPinReset => Some(Transition::PinReset),
        Command::CardLimits => Some(Transition::Limits),
        _ => None,
    };
    let mut too_soon = false;
    if let Some(t) = transition {
        let ctx = card::Context {
            card_no: d.card_no,
            state: d.state,
            lost_at: d.lost_at,
            now: state.now,
            director_override: false,
            override_reason_given: false,
            is_director: is_director(state),
        };
        match card::check(t, &ctx) {
            Ok(()) => {}
            // A director may override the wait, with a reason: the form asks for it.
            Err(Refusal::TooSoon { .. }) if is_director(state) => too_soon = true,
            Err(r) => return error(state, refusal_words(lang, &r)),
        }
    }
    let named = card_named(lang, &d);
    let policy = state
        .cards
        .refs
        .as_ref()
        .and_then(|r| r.kind(d.kind))
        .cloned();
    let balance_rule = || {
        let refunded = policy
            .as_ref()
            .is_some_and(|p| p.balance_on_return == BalancePolicy::Refunded);
        trf(
            lang,
            if refunded {
                "card.form.intro.balance_refunded"
            } else {
                "card.form.intro.balance_kept"
            },
            &[("balance", &money(d.balance))],
        )
    };
    let confirm = |state: &mut State, key: &str, extra: String, op: CardOp| {
        let mut question = trf(lang, key, &[("card", &named)]);
        if !extra.is_empty() {
            question.push(' ');
            question.push_str(&extra);
        }
        state.overlay = Some(Overlay::Confirm(Confirm {
            question,
            effect: Effect::Card(op),
        }));
        vec![]
    };
    let id = d.card_id;
    match cmd {
        Command::CardReportLost => confirm(
            state,
            "card.confirm.report_lost",
            String::new(),
            CardOp::ReportLost { card_id: id },
        ),
        Command::CardReportFound => confirm(
            state,
            "card.confirm.report_found",
            String::new(),
            CardOp::ReportFound { card_id: id },
        ),
        Command::CardReturn => confirm(
            state,
            "card.confirm.return",
            balance_rule(),
            CardOp::Return { card_id: id },
        ),
        Command::CardResend => vec![Effect::Card(CardOp::Resend { card_id: id })],
        Command::CardRewrite => {
            let mut fields = grant_fields(lang, state.cards.refs.as_ref());
            fields.push(text_field(
                "card.form.valid_until",
                &d.valid_until.to_string(),
            ));
            let mut form = CardForm::new(
                CardFormKind::Rewrite {
                    card_id: id,
                    kind: d.kind,
                },
                trf(lang, "card.form.title.rewrite", &[("card", &named)]),
                fields,
            );
            form.set_ticked("card.form.subsystems", |o| {
                d.subsystems.iter().any(|s| s.name() == o.value)
            });
            let has = |o: &Opt| {
                d.grants
                    .iter()
                    .any(|g| g.door == 0 && g.terminal_id.to_string() == o.value)
            };
            form.set_ticked("card.form.pos", has);
            form.set_ticked("card.form.attendance", has);
            // A door group is ticked when the card opens every door of it.
            form.set_ticked("card.form.door_groups", |o| {
                d.door_groups.iter().any(|(g, _)| g.to_string() == o.value)
            });
            form.intro = vec![trf(
                lang,
                "card.form.intro.rewrite",
                &[("from", &d.valid_from.to_string())],
            )];
            open(state, form)
        }
        Command::CardReissue | Command::CardExchange => {
            let reissue = cmd == Command::CardReissue;
            let blank = state
                .cards
                .blank_on_reader()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let mut fields = vec![text_field("card.form.card_no", &blank)];
            if reissue && too_soon {
                fields.push(text_field("card.form.override_reason", ""));
            }
            if !reissue {
                fields.push(text_field("card.form.reason", ""));
            }
            fields.push(paid_field(lang));
            let (kind, title) = if reissue {
                (
                    CardFormKind::Reissue { card_id: id },
                    "card.form.title.reissue",
                )
            } else {
                (
                    CardFormKind::Exchange { card_id: id },
                    "card.form.title.exchange",
                )
            };
            let mut form = CardForm::new(kind, trf(lang, title, &[("card", &named)]), fields);
            let fee = policy
                .as_ref()
                .map(|p| {
                    if reissue {
                        p.reissue_fee
                    } else {
                        p.exchange_fee
                    }
                })
                .unwrap_or_default();
            form.intro = vec![
                trf(
                    lang,
                    if reissue {
                        "card.form.intro.reissue"
                    } else {
                        "card.form.intro.exchange"
                    },
                    &[("fee", &money(fee)), ("balance", &money(d.balance))],
                ),
                tr(lang, "card.form.intro.new_card").to_string(),
            ];
            if too_soon {
                let hours = d.lost_at.map_or(0, |at| (state.now - at).num_hours());
                form.intro.push(trf(
                    lang,
                    "card.form.intro.override",
                    &[("hours", &hours.to_string())],
                ));
            }
            open(state, form)
        }
        Command::CardCancel => {
            let mut form = CardForm::new(
                CardFormKind::Cancel { card_id: id },
                trf(lang, "card.form.title.cancel", &[("card", &named)]),
                vec![text_field("card.form.reason", "")],
            );
            form.intro = vec![
                balance_rule(),
                tr(lang, "card.form.intro.cancel").to_string(),
            ];
            open(state, form)
        }
        Command::CardExtend => {
            let from = d.valid_until.max(today(state));
            let until = match d.kind {
                CardKind::Temporary => default_until(d.kind, from, state.cards.refs.as_ref()),
                _ => from.checked_add_months(Months::new(12)).unwrap_or(from),
            };
            let mut form = CardForm::new(
                CardFormKind::Extend {
                    card_id: id,
                    kind: d.kind,
                    current: d.valid_until,
                },
                trf(lang, "card.form.title.extend", &[("card", &named)]),
                vec![text_field("card.form.until", &until.to_string())],
            );
            form.intro = vec![trf(
                lang,
                "card.form.intro.extend",
                &[("until", &d.valid_until.to_string())],
            )];
            if d.kind == CardKind::Temporary {
                form.intro
                    .push(tr(lang, "card.form.intro.temporary").to_string());
            }
            open(state, form)
        }
        Command::CardPinChange => {
            let secret = |label| CardField {
                label,
                input: Input::Secret(String::new()),
            };
            let mut form = CardForm::new(
                CardFormKind::PinChange { card_id: id },
                trf(lang, "card.form.title.pin_change", &[("card", &named)]),
                vec![
                    pin_field(lang),
                    secret("card.form.old_pin"),
                    secret("card.form.new_pin"),
                    secret("card.form.pin_again"),
                ],
            );
            form.intro = vec![tr(lang, "card.form.intro.pin_change").to_string()];
            open(state, form)
        }
        Command::CardPinReset => {
            let mut form = CardForm::new(
                CardFormKind::PinReset { card_id: id },
                trf(lang, "card.form.title.pin_reset", &[("card", &named)]),
                vec![pin_field(lang)],
            );
            form.intro = vec![tr(lang, "card.form.intro.pin_reset").to_string()];
            open(state, form)
        }
        Command::CardLimits => {
            let amount = d
                .own_per_purchase
                .map(|a| format!("{a:.2}"))
                .unwrap_or_default();
            let count = d.own_daily_count.map(|n| n.to_string()).unwrap_or_default();
            let mut form = CardForm::new(
                CardFormKind::Limits { card_id: id },
                trf(lang, "card.form.title.limits", &[("card", &named)]),
                vec![
                    text_field("card.form.per_purchase", &amount),
                    text_field("card.form.daily_count", &count),
                ],
            );
            let (kind_amount, kind_count) = policy
                .as_ref()
                .map(|p| (p.per_purchase_limit, p.daily_count_limit))
                .unwrap_or((d.limits.per_purchase, d.limits.daily_count));
            form.intro = vec![trf(
                lang,
                "card.form.intro.limits",
                &[
                    ("kind", kind_word(lang, d.kind)),
                    ("amount", &money(kind_amount)),
                    ("count", &kind_count.to_string()),
                ],
            )];
            open(state, form)
        }
        Command::CardTopUp => {
            let mut form = CardForm::new(
                CardFormKind::TopUp {
                    card_id: id,
                    person_id: d.person_id,
                },
                trf(lang, "card.form.title.top_up", &[("card", &named)]),
                vec![text_field("card.form.amount", "")],
            );
            form.intro = vec![trf(
                lang,
                "card.form.intro.top_up",
                &[("balance", &money(d.balance))],
            )];
            open(state, form)
        }
        _ => vec![],
    }
}

/// "card 8165537 of 王芳 (T10003)"
pub fn card_named(lang: Lang, d: &crate::app::cards::CardView) -> String {
    trf(
        lang,
        "card.named",
        &[
            ("card", &d.card_no.to_string()),
            ("name", &d.person_name),
            ("no", &d.person_no),
        ],
    )
}

// ---- Forms ------------------------------------------------------------------------------------

/// Keys in a card desk form: tab and the arrows up and down move between fields, left and right
/// (or space) change a choice or move in a multi-select, space ticks, enter submits, esc cancels
/// (even while the form waits: the answer then shows on the message line).
pub fn on_form_key(state: &mut State, mut form: CardForm, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Esc {
        state.message = Some((Level::Info, tr(state.lang, "msg.cancelled").to_string()));
        return vec![];
    }
    if form.busy {
        state.overlay = Some(Overlay::CardForm(form));
        return vec![];
    }
    if key.code == KeyCode::Enter {
        return submit(state, form);
    }
    let editable: Vec<usize> = (0..form.fields.len())
        .filter(|i| !matches!(form.fields[*i].input, Input::Shown(_)))
        .collect();
    let pos = editable.iter().position(|i| *i == form.focus).unwrap_or(0);
    let mut kind_changed = false;
    match key.code {
        KeyCode::Tab | KeyCode::Down => {
            form.focus = editable[(pos + 1).min(editable.len().saturating_sub(1))];
        }
        KeyCode::BackTab | KeyCode::Up => form.focus = editable[pos.saturating_sub(1)],
        _ => {
            let focus = form.focus;
            if let Some(field) = form.fields.get_mut(focus) {
                let changed = edit_input(&mut field.input, &key);
                if changed {
                    form.error = None;
                    kind_changed = field.label == "card.form.kind";
                }
            }
        }
    }
    if kind_changed {
        if let Ok(kind) = CardKind::from_str(form.choice("card.form.kind")) {
            apply_kind_defaults(state, &mut form, kind);
        }
    }
    state.overlay = Some(Overlay::CardForm(form));
    vec![]
}

/// Edits one field; whether anything changed.
fn edit_input(input: &mut Input, key: &KeyEvent) -> bool {
    match input {
        Input::Text(s) => edit_text_max(s, key, MAX_TEXT),
        Input::Secret(s) => match key.code {
            KeyCode::Char(c) if c.is_ascii_digit() => edit_text_max(s, key, 12),
            KeyCode::Backspace => edit_text(s, key),
            _ => false,
        },
        Input::Choice { options, at } => {
            let n = options.len().max(1);
            match key.code {
                KeyCode::Right | KeyCode::Char(' ') => *at = (*at + 1) % n,
                KeyCode::Left => *at = (*at + n - 1) % n,
                _ => return false,
            }
            true
        }
        Input::Multi {
            options,
            checked,
            cursor,
        } => match key.code {
            KeyCode::Right => {
                *cursor = (*cursor + 1).min(options.len().saturating_sub(1));
                false
            }
            KeyCode::Left => {
                *cursor = cursor.saturating_sub(1);
                false
            }
            KeyCode::Char(' ') | KeyCode::Char('x') => {
                if let Some(c) = checked.get_mut(*cursor) {
                    *c = !*c;
                    true
                } else {
                    false
                }
            }
            KeyCode::Char('a') => {
                // All, or none when all are ticked already.
                let all = checked.iter().all(|c| *c);
                checked.iter_mut().for_each(|c| *c = !all);
                true
            }
            _ => false,
        },
        Input::Shown(_) => false,
    }
}

/// A strict YYYY-MM-DD date.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| d.year() >= 1900)
}

/// A card number as the readers report it: 1 to 4294967295.
fn parse_card_no(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 10 || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| (1..=4_294_967_295).contains(n))
}

/// An amount of money: positive, at most two decimals.
fn parse_money(text: &str) -> Option<Decimal> {
    let text = text.trim().trim_start_matches('¥');
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    Decimal::from_str(text)
        .ok()
        .filter(|d| *d > Decimal::ZERO && d.scale() <= 2)
}

fn parse_count(text: &str, min: i32) -> Option<i32> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<i32>().ok().filter(|n| *n >= min)
}

/// Why a form cannot be submitted: the field at fault and the words.
struct Fault(&'static str, String);

fn submit(state: &mut State, mut form: CardForm) -> Vec<Effect> {
    match check(state, &form) {
        Ok(Submit::Effect(effect)) => {
            form.busy = true;
            form.error = None;
            state.overlay = Some(Overlay::CardForm(form));
            vec![effect]
        }
        Ok(Submit::Confirm(question, effect)) => {
            state.overlay = Some(Overlay::Confirm(Confirm { question, effect }));
            vec![]
        }
        Ok(Submit::Done(fx)) => {
            state.overlay = None;
            for effect in &fx {
                note_report(state, effect);
            }
            fx
        }
        Err(Fault(label, words)) => {
            form.focus_on(label);
            form.error = Some(words);
            state.overlay = Some(Overlay::CardForm(form));
            vec![]
        }
    }
}

enum Submit {
    /// Ask for it and wait in the form for the answer.
    Effect(Effect),
    /// Money moves: a last y/n naming the amount.
    Confirm(String, Effect),
    /// Nothing to wait for: close the form.
    Done(Vec<Effect>),
}

/// What an issue or rewrite grants: (subsystems, door groups, POS and attendance machines).
type Picked = (Vec<Subsystem>, Vec<i64>, Vec<i64>);

fn picked(lang: Lang, form: &CardForm, kind: CardKind) -> Result<Picked, Fault> {
    let subsystems: Vec<Subsystem> = form
        .ticked("card.form.subsystems")
        .iter()
        .filter_map(|s| Subsystem::from_str(s).ok())
        .collect();
    card::check_subsystems(kind, &subsystems)
        .map_err(|r| Fault("card.form.subsystems", refusal_words(lang, &r)))?;
    let ids = |label: &str| -> Vec<i64> {
        form.ticked(label)
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect()
    };
    let has = |s: Subsystem| subsystems.contains(&s);
    // Grants of a subsystem the card does not get are left out.
    let door_groups = if has(Subsystem::Door) {
        ids("card.form.door_groups")
    } else {
        vec![]
    };
    let mut terminals = if has(Subsystem::Pos) {
        ids("card.form.pos")
    } else {
        vec![]
    };
    if has(Subsystem::Attendance) {
        terminals.extend(ids("card.form.attendance"));
    }
    Ok((subsystems, door_groups, terminals))
}

fn date_of(lang: Lang, form: &CardForm, label: &'static str) -> Result<NaiveDate, Fault> {
    let text = form.text(label);
    parse_date(text).ok_or_else(|| Fault(label, trf(lang, "card.msg.bad_date", &[("text", text)])))
}

fn max_days(state: &State, kind: CardKind) -> Option<i64> {
    state
        .cards
        .refs
        .as_ref()
        .and_then(|r| r.kind(kind))
        .and_then(|k| k.max_validity_days)
        .map(i64::from)
}

fn card_no_of(lang: Lang, form: &CardForm) -> Result<i64, Fault> {
    let text = form.text("card.form.card_no");
    if text.is_empty() {
        return Err(Fault(
            "card.form.card_no",
            tr(lang, "card.msg.card_no_empty").to_string(),
        ));
    }
    parse_card_no(text).ok_or_else(|| {
        Fault(
            "card.form.card_no",
            trf(lang, "card.msg.bad_card_no", &[("text", text)]),
        )
    })
}

fn paid_from(form: &CardForm) -> PaidFrom {
    if form.choice("card.form.paid_from") == "balance" {
        PaidFrom::Balance
    } else {
        PaidFrom::Cash
    }
}

fn pin_kind(form: &CardForm) -> PinKind {
    if form.choice("card.form.which_pin") == "query" {
        PinKind::Query
    } else {
        PinKind::Payment
    }
}

fn required(lang: Lang, form: &CardForm, label: &'static str) -> Result<String, Fault> {
    let text = form.text(label);
    if text.is_empty() {
        Err(Fault(label, tr(lang, "card.msg.required").to_string()))
    } else {
        Ok(text.to_string())
    }
}

fn check(state: &State, form: &CardForm) -> Result<Submit, Fault> {
    let lang = state.lang;
    let card = |op| Ok(Submit::Effect(Effect::Card(op)));
    match form.kind.clone() {
        CardFormKind::CardNumber => {
            let card_no = card_no_of(lang, form)?;
            Ok(Submit::Done(vec![Effect::LookupCard { card_no }]))
        }
        CardFormKind::DeskPresent => {
            let card_no = card_no_of(lang, form)?;
            Ok(Submit::Done(vec![Effect::DeskPresent {
                card_no: Some(card_no),
            }]))
        }
        CardFormKind::Issue { person_id } => {
            let card_no = card_no_of(lang, form)?;
            let kind = CardKind::from_str(form.choice("card.form.kind"))
                .map_err(|e| Fault("card.form.kind", e))?;
            let (subsystems, door_groups, terminals) = picked(lang, form, kind)?;
            let valid_from = date_of(lang, form, "card.form.valid_from")?;
            let valid_until = date_of(lang, form, "card.form.valid_until")?;
            card::check_validity(kind, valid_from, valid_until, max_days(state, kind))
                .map_err(|r| Fault("card.form.valid_until", refusal_words(lang, &r)))?;
            card(CardOp::Issue(IssueRequest {
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
            let valid_until = date_of(lang, form, "card.form.valid_until")?;
            card(CardOp::Rewrite {
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
            let override_reason = if form.index("card.form.override_reason").is_some() {
                Some(required(lang, form, "card.form.override_reason")?)
            } else {
                None
            };
            card(CardOp::Reissue {
                card_id,
                new_card_no,
                override_reason,
                paid_from: paid_from(form),
            })
        }
        CardFormKind::Exchange { card_id } => {
            let new_card_no = card_no_of(lang, form)?;
            let reason = required(lang, form, "card.form.reason")?;
            card(CardOp::Exchange {
                card_id,
                new_card_no,
                reason,
                paid_from: paid_from(form),
            })
        }
        CardFormKind::Cancel { card_id } => {
            let reason = required(lang, form, "card.form.reason")?;
            card(CardOp::Cancel { card_id, reason })
        }
        CardFormKind::Extend {
            card_id,
            kind,
            current,
        } => {
            let until = date_of(lang, form, "card.form.until")?;
            card::check_extension(kind, current, until, today(state), max_days(state, kind))
                .map_err(|r| Fault("card.form.until", refusal_words(lang, &r)))?;
            card(CardOp::Extend { card_id, until })
        }
        CardFormKind::ExtendBatch => {
            let path = required(lang, form, "card.form.path")?;
            let until = date_of(lang, form, "card.form.until")?;
            card(CardOp::ExtendBatch { path, until })
        }
        CardFormKind::PinChange { card_id } => {
            let old = form.text("card.form.old_pin");
            if !crate::db::card::valid_pin(old) {
                return Err(Fault(
                    "card.form.old_pin",
                    tr(lang, "card.msg.bad_pin").to_string(),
                ));
            }
            let new = form.text("card.form.new_pin");
            if !crate::db::card::valid_pin(new) {
                return Err(Fault(
                    "card.form.new_pin",
                    tr(lang, "card.msg.bad_pin").to_string(),
                ));
            }
            if new != form.text("card.form.pin_again") {
                return Err(Fault(
                    "card.form.pin_again",
                    tr(lang, "card.msg.pin_mismatch").to_string(),
                ));
            }
            card(CardOp::ChangePin {
                card_id,
                which: pin_kind(form),
                old: old.to_string(),
                new: new.to_string(),
            })
        }
        CardFormKind::PinReset { card_id } => card(CardOp::ResetPin {
            card_id,
            which: pin_kind(form),
        }),
        CardFormKind::Limits { card_id } => {
            let amount = form.text("card.form.per_purchase");
            let per_purchase = if amount.is_empty() {
                None
            } else {
                Some(parse_money(amount).ok_or_else(|| {
                    Fault(
                        "card.form.per_purchase",
                        trf(lang, "card.msg.bad_amount", &[("text", amount)]),
                    )
                })?)
            };
            let count = form.text("card.form.daily_count");
            let daily_count = if count.is_empty() {
                None
            } else {
                Some(parse_count(count, 1).ok_or_else(|| {
                    Fault(
                        "card.form.daily_count",
                        trf(lang, "card.msg.bad_daily", &[("text", count)]),
                    )
                })?)
            };
            card(CardOp::SetLimits {
                card_id,
                per_purchase,
                daily_count,
            })
        }
        CardFormKind::TopUp { card_id, person_id } => {
            let text = form.text("card.form.amount");
            let amount = parse_money(text)
                .filter(|a| *a <= Decimal::from(MAX_TOP_UP))
                .ok_or_else(|| {
                    Fault(
                        "card.form.amount",
                        trf(
                            lang,
                            "card.msg.bad_top_up",
                            &[("text", text), ("max", &money(Decimal::from(MAX_TOP_UP)))],
                        ),
                    )
                })?;
            let named = state
                .cards
                .shown()
                .filter(|d| d.id() == card_id)
                .map(|d| card_named(lang, &d.view))
                .unwrap_or_else(|| format!("#{card_id}"));
            Ok(Submit::Confirm(
                trf(
                    lang,
                    "card.confirm.top_up",
                    &[("amount", &money(amount)), ("card", &named)],
                ),
                Effect::Card(CardOp::TopUp {
                    person_id,
                    card_id,
                    amount,
                }),
            ))
        }
        CardFormKind::ImportPersons => {
            let path = required(lang, form, "card.form.path")?;
            Ok(Submit::Effect(Effect::ImportPersons {
                path,
                dry_run: true,
            }))
        }
        CardFormKind::StockReceive | CardFormKind::StockSpoil | CardFormKind::StockCount => {
            let counting = form.kind == CardFormKind::StockCount;
            let field = if counting {
                "card.form.physical"
            } else {
                "card.form.quantity"
            };
            let text = form.text(field);
            let n = parse_count(text, if counting { 0 } else { 1 })
                .ok_or_else(|| Fault(field, trf(lang, "card.msg.bad_count", &[("text", text)])))?;
            let note = form.text("card.form.note").to_string();
            let op = match form.kind {
                CardFormKind::StockReceive => StockOp::Receive { quantity: n, note },
                CardFormKind::StockSpoil => StockOp::Spoil { quantity: n, note },
                _ => StockOp::Count { physical: n, note },
            };
            Ok(Submit::Effect(Effect::Stock(op)))
        }
        CardFormKind::ReportFilter => {
            let date = |label: &'static str| -> Result<Option<NaiveDate>, Fault> {
                if form.text(label).is_empty() {
                    Ok(None)
                } else {
                    date_of(lang, form, label).map(Some)
                }
            };
            let text = |label: &str| Some(form.text(label).to_string()).filter(|t| !t.is_empty());
            let filter = ReportFilter {
                from: date("card.form.from")?,
                to: date("card.form.until")?,
                department: text("card.form.department"),
                kind: CardKind::from_str(form.choice("card.form.card_kind")).ok(),
                operator: text("card.form.operator"),
            };
            if let (Some(from), Some(until)) = (filter.from, filter.to) {
                if until < from {
                    return Err(Fault(
                        "card.form.until",
                        refusal_words(lang, &Refusal::EndsBeforeStart { from, until }),
                    ));
                }
            }
            let kind = ReportKind::ALL
                .into_iter()
                .find(|k| k.name() == form.choice("card.form.report"))
                .unwrap_or(ReportKind::Issued);
            Ok(Submit::Done(vec![Effect::LoadReport { kind, filter }]))
        }
        CardFormKind::ReportExport => {
            let path = required(lang, form, "card.form.path")?;
            let r = &state.cards.reports;
            Ok(Submit::Effect(Effect::ExportReport {
                kind: r.kind,
                filter: r.filter.clone(),
                path,
            }))
        }
    }
}

/// A report asked for with new filters: the view remembers them.
pub fn note_report(state: &mut State, effect: &Effect) {
    if let Effect::LoadReport { kind, filter } = effect {
        let r = &mut state.cards.reports;
        if r.kind != *kind || r.filter != *filter {
            r.kind = *kind;
            r.filter = filter.clone();
            r.page = None;
            r.selected = 0;
        }
    }
}

/// The import popup: y or enter imports for real after the dry run; n or esc leaves it.
pub fn on_import_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(import) = state.cards.import.clone() else {
        return vec![];
    };
    if import.progress.is_some() {
        // Running: it ends on its own (all or nothing).
        state.overlay = Some(Overlay::Import);
        return vec![];
    }
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
            if let Some(i) = &mut state.cards.import {
                i.progress = Some((0, 0));
            }
            state.overlay = Some(Overlay::Import);
            vec![Effect::ImportPersons {
                path: import.path,
                dry_run: false,
            }]
        }
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
            state.cards.import = None;
            info(state, tr(state.lang, "msg.cancelled").to_string())
        }
        _ => {
            state.overlay = Some(Overlay::Import);
            vec![]
        }
    }
}
