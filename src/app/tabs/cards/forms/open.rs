//! Opening the card desk's forms: each command's form, filled from the selected card and
//! the kind's defaults.

use super::*;

/// The default validity of a new card of `kind` from `from`: temporary cards a year (the
/// kind's longest), students four years, staff five.
pub(super) fn default_until(kind: CardKind, from: NaiveDate, refs: Option<&CardRefs>) -> NaiveDate {
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

pub(super) fn default_subsystems(kind: CardKind) -> &'static [Subsystem] {
    match kind {
        CardKind::Staff => &Subsystem::ALL,
        CardKind::Student => &[Subsystem::Door, Subsystem::Pos],
        CardKind::Temporary => &[Subsystem::Pos],
    }
}

/// The grant pickers: subsystems, door groups, POS and attendance machines.
pub(super) fn grant_fields(lang: Lang, refs: Option<&CardRefs>) -> Vec<Field<CardField>> {
    let empty = CardRefs::default();
    let refs = refs.unwrap_or(&empty);
    let named = |list: &[Named]| {
        list.iter()
            .map(|n| Opt::new(n.id.to_string(), n.name.clone()))
            .collect::<Vec<_>>()
    };
    vec![
        Field::with(
            CardField::Subsystems,
            Input::multi(
                Subsystem::ALL
                    .iter()
                    .map(|s| Opt::new(s.name(), subsystem(lang, *s)))
                    .collect(),
                |_| false,
            ),
        ),
        Field::with(
            CardField::DoorGroups,
            Input::multi(
                refs.door_groups
                    .iter()
                    .map(|g| Opt::new(g.id.to_string(), g.name.clone()))
                    .collect(),
                |_| false,
            ),
        ),
        Field::with(CardField::Pos, Input::multi(named(&refs.pos), |_| false)),
        Field::with(
            CardField::Attendance,
            Input::multi(named(&refs.attendance), |_| false),
        ),
    ]
}

/// An issue form's defaults for a kind: subsystems, machines, validity and the fee.
pub(super) fn apply_kind_defaults(
    c: &Cards,
    sh: &Shell,
    form: &mut Form<CardField>,
    kind: CardKind,
) {
    let lang = sh.lang;
    let subsystems = default_subsystems(kind);
    form.set_ticked(CardField::Subsystems, |o| {
        subsystems.iter().any(|s| s.name() == o.value)
    });
    form.set_ticked(CardField::Pos, |_| true);
    form.set_ticked(CardField::Attendance, |_| kind == CardKind::Staff);
    if !kind.allows(Subsystem::Door) {
        form.set_ticked(CardField::DoorGroups, |_| false);
    }
    let from = parse_date(form.text(CardField::ValidFrom)).unwrap_or_else(|| sh.today());
    form.set_text(
        CardField::ValidUntil,
        &default_until(kind, from, c.refs.as_ref()).to_string(),
    );
    let fee = c
        .refs
        .as_ref()
        .and_then(|r| r.kind(kind))
        .map(|k| k.issue_fee)
        .unwrap_or_default();
    form.intro = vec![if fee > Money::ZERO {
        trf(
            lang,
            "card.form.intro.issue_fee",
            &[("kind", card_kind(lang, kind)), ("fee", &fee.to_string())],
        )
    } else {
        trf(
            lang,
            "card.form.intro.issue_free",
            &[("kind", card_kind(lang, kind))],
        )
    }];
    if kind == CardKind::Temporary {
        form.intro
            .push(tr(lang, "card.form.intro.temporary").to_string());
    }
}

pub(super) fn open_issue(c: &mut Cards, sh: &mut Shell) -> Vec<Effect> {
    let lang = sh.lang;
    let Some(person) = c.selected_person().cloned() else {
        return sh.info_key("card.msg.select_person");
    };
    if let (Some(card_no), Some(s)) = (person.card_no, card_state_of(&person)) {
        if !s.is_final() {
            return sh.error(trf(
                lang,
                "card.msg.holds_card",
                &[
                    ("name", &person.name),
                    ("card", &card_no.to_string()),
                    ("state", words::card_state(lang, s)),
                ],
            ));
        }
    }
    let kind = match person.category.as_str() {
        "staff" => CardKind::Staff,
        "student" => CardKind::Student,
        _ => CardKind::Temporary,
    };
    let kinds: Vec<Opt> = CardKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), card_kind(lang, *k)))
        .collect();
    let card_no = c
        .blank_on_reader()
        .map(|n| n.to_string())
        .unwrap_or_default();
    let mut fields = vec![
        text_field(CardField::CardNo, &card_no),
        Field::with(CardField::Person, Input::Shown(person_line(&person))),
        Field::with(CardField::Kind, Input::choice(kinds, kind.name())),
    ];
    fields.extend(grant_fields(lang, c.refs.as_ref()));
    fields.push(text_field(CardField::ValidFrom, &sh.today().to_string()));
    fields.push(text_field(CardField::ValidUntil, ""));
    fields.push(paid_field(lang));
    let mut form = CardForm::new(
        CardFormKind::Issue {
            person_id: person.id,
        },
        trf(lang, "card.form.title.issue", &[("name", &person.name)]),
        fields,
    );
    apply_kind_defaults(c, sh, &mut form.form, kind);
    // With a blank card on the reader, the kind is the first thing to decide.
    if !card_no.is_empty() {
        form.form.focus_on(CardField::Kind);
    }
    open(c, form)
}

pub(super) fn open_report_filter(c: &mut Cards, sh: &mut Shell) -> Vec<Effect> {
    let lang = sh.lang;
    let r = &c.reports;
    let kinds = ReportKind::ALL
        .iter()
        .map(|k| Opt::new(k.name(), tr(lang, &format!("report.kind.{}", k.name()))))
        .collect();
    let mut card_kinds = vec![Opt::new("", tr(lang, "report.all"))];
    card_kinds.extend(
        CardKind::ALL
            .iter()
            .map(|k| Opt::new(k.name(), card_kind(lang, *k))),
    );
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let fields = vec![
        Field::with(CardField::Report, Input::choice(kinds, r.kind.name())),
        text_field(CardField::From, &date(r.filter.from)),
        text_field(CardField::Until, &date(r.filter.to)),
        text_field(CardField::Department, &text(&r.filter.department)),
        Field::with(
            CardField::CardKind,
            Input::choice(card_kinds, r.filter.kind.map_or("", |k| k.name())),
        ),
        text_field(CardField::Operator, &text(&r.filter.operator)),
    ];
    let form = CardForm::new(
        CardFormKind::ReportFilter,
        tr(lang, "card.form.title.report_filter").to_string(),
        fields,
    )
    .intro(vec![tr(lang, "card.form.intro.report_filter").to_string()]);
    open(c, form)
}

/// The commands on the card shown: the card first, then whether its state allows it.
pub(super) fn run_on_card(c: &mut Cards, sh: &mut Shell, cmd: Command) -> Vec<Effect> {
    let lang = sh.lang;
    let Some(d) = c.shown().map(|d| d.view.clone()) else {
        let key = if c.selected.is_some() && c.cards_of.is_some() {
            "card.msg.no_card"
        } else {
            "card.msg.select_card"
        };
        return sh.info_key(key);
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
            now: sh.now,
            director_override: false,
            override_reason_given: false,
            is_director: is_director(sh),
        };
        match card::check(t, &ctx) {
            Ok(()) => {}
            // A director may override the wait, with a reason: the form asks for it.
            Err(Refusal::TooSoon { .. }) if is_director(sh) => too_soon = true,
            Err(r) => return sh.error(refusal(lang, &r)),
        }
    }
    let named = words::card_named(lang, &d);
    let policy = c.refs.as_ref().and_then(|r| r.kind(d.kind)).cloned();
    // What happens to the money when the card leaves service: refunded in cash, or kept
    // (forfeited) by the college.
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
            &[("balance", &d.balance.to_string())],
        )
    };
    let id = d.card_id;
    let confirm = |c: &mut Cards, key: &str, extra: String, op: CardOp| {
        let mut question = trf(lang, key, &[("card", &named)]);
        if !extra.is_empty() {
            question.push(' ');
            question.push_str(&extra);
        }
        c.ask(question, Effect::Op(op))
    };
    match cmd {
        Command::CardReportLost => confirm(
            c,
            "card.confirm.report_lost",
            String::new(),
            CardOp::ReportLost { card_id: id },
        ),
        Command::CardReportFound => confirm(
            c,
            "card.confirm.report_found",
            String::new(),
            CardOp::ReportFound { card_id: id },
        ),
        Command::CardReturn => confirm(
            c,
            "card.confirm.return",
            balance_rule(),
            CardOp::Return { card_id: id },
        ),
        Command::CardResend => vec![c.send(Effect::Op(CardOp::Resend { card_id: id }))],
        Command::CardRewrite => {
            let mut fields = grant_fields(lang, c.refs.as_ref());
            fields.push(text_field(
                CardField::ValidUntil,
                &d.valid_until.to_string(),
            ));
            let mut form = CardForm::new(
                CardFormKind::Rewrite {
                    card_id: id,
                    kind: d.kind,
                },
                trf(lang, "card.form.title.rewrite", &[("card", &named)]),
                fields,
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.rewrite",
                &[("from", &d.valid_from.to_string())],
            )]);
            let f = &mut form.form;
            f.set_ticked(CardField::Subsystems, |o| {
                d.subsystems.iter().any(|s| s.name() == o.value)
            });
            let has = |o: &Opt| {
                d.grants
                    .iter()
                    .any(|g| g.door == 0 && g.terminal_id.to_string() == o.value)
            };
            f.set_ticked(CardField::Pos, has);
            f.set_ticked(CardField::Attendance, has);
            // A door group is ticked when the card opens every door of it.
            f.set_ticked(CardField::DoorGroups, |o| {
                d.door_groups.iter().any(|(g, _)| g.to_string() == o.value)
            });
            open(c, form)
        }
        Command::CardReissue | Command::CardExchange => {
            let reissue = cmd == Command::CardReissue;
            let blank = c
                .blank_on_reader()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let mut fields = vec![text_field(CardField::CardNo, &blank)];
            if reissue && too_soon {
                fields.push(text_field(CardField::OverrideReason, ""));
            }
            if !reissue {
                fields.push(text_field(CardField::Reason, ""));
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
            let mut intro = vec![
                trf(
                    lang,
                    if reissue {
                        "card.form.intro.reissue"
                    } else {
                        "card.form.intro.exchange"
                    },
                    &[
                        ("fee", &fee.to_string()),
                        ("balance", &d.balance.to_string()),
                    ],
                ),
                tr(lang, "card.form.intro.new_card").to_string(),
            ];
            if too_soon {
                let hours = d.lost_at.map_or(0, |at| (sh.now - at).num_hours());
                intro.push(trf(
                    lang,
                    "card.form.intro.override",
                    &[("hours", &hours.to_string())],
                ));
            }
            let form =
                CardForm::new(kind, trf(lang, title, &[("card", &named)]), fields).intro(intro);
            open(c, form)
        }
        Command::CardCancel => {
            let form = CardForm::new(
                CardFormKind::Cancel { card_id: id },
                trf(lang, "card.form.title.cancel", &[("card", &named)]),
                vec![text_field(CardField::Reason, "")],
            )
            .intro(vec![
                balance_rule(),
                tr(lang, "card.form.intro.cancel").to_string(),
            ]);
            open(c, form)
        }
        Command::CardExtend => {
            let from = d.valid_until.max(sh.today());
            let until = match d.kind {
                CardKind::Temporary => default_until(d.kind, from, c.refs.as_ref()),
                _ => from.checked_add_months(Months::new(12)).unwrap_or(from),
            };
            let mut intro = vec![trf(
                lang,
                "card.form.intro.extend",
                &[("until", &d.valid_until.to_string())],
            )];
            if d.kind == CardKind::Temporary {
                intro.push(tr(lang, "card.form.intro.temporary").to_string());
            }
            let form = CardForm::new(
                CardFormKind::Extend {
                    card_id: id,
                    kind: d.kind,
                    current: d.valid_until,
                },
                trf(lang, "card.form.title.extend", &[("card", &named)]),
                vec![text_field(CardField::Until, &until.to_string())],
            )
            .intro(intro);
            open(c, form)
        }
        Command::CardPinChange => {
            let form = CardForm::new(
                CardFormKind::PinChange { card_id: id },
                trf(lang, "card.form.title.pin_change", &[("card", &named)]),
                vec![
                    pin_field(lang),
                    pin_secret(CardField::OldPin),
                    pin_secret(CardField::NewPin),
                    pin_secret(CardField::PinAgain),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.pin_change").to_string()]);
            open(c, form)
        }
        Command::CardPinReset => {
            let form = CardForm::new(
                CardFormKind::PinReset { card_id: id },
                trf(lang, "card.form.title.pin_reset", &[("card", &named)]),
                vec![pin_field(lang)],
            )
            .intro(vec![tr(lang, "card.form.intro.pin_reset").to_string()]);
            open(c, form)
        }
        Command::CardLimits => {
            let amount = d
                .own_per_purchase
                .map(|a| format!("{a:.2}"))
                .unwrap_or_default();
            let count = d.own_daily_count.map(|n| n.to_string()).unwrap_or_default();
            let (kind_amount, kind_count) = policy
                .as_ref()
                .map(|p| (p.per_purchase_limit, p.daily_count_limit))
                .unwrap_or((d.limits.per_purchase, d.limits.daily_count));
            let form = CardForm::new(
                CardFormKind::Limits { card_id: id },
                trf(lang, "card.form.title.limits", &[("card", &named)]),
                vec![
                    text_field(CardField::PerPurchase, &amount),
                    text_field(CardField::DailyCount, &count),
                ],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.limits",
                &[
                    ("kind", card_kind(lang, d.kind)),
                    ("amount", &kind_amount.to_string()),
                    ("count", &kind_count.to_string()),
                ],
            )]);
            open(c, form)
        }
        Command::CardRefund => open(
            c,
            CardForm::new(
                CardFormKind::Refund {
                    card_id: id,
                    person_id: d.person_id,
                },
                trf(lang, "card.form.title.refund", &[("card", &named)]),
                vec![text_field(CardField::Amount, "")],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.refund",
                &[("balance", &d.balance.to_string())],
            )]),
        ),
        Command::CardCorrect => open(
            c,
            CardForm::new(
                CardFormKind::Correct { card_id: id },
                trf(lang, "card.form.title.correct", &[("card", &named)]),
                vec![
                    text_field(CardField::Purchase, ""),
                    text_field(CardField::Amount, ""),
                    text_field(CardField::Receipt, ""),
                    text_field(CardField::Note, ""),
                ],
            )
            .intro(vec![tr(lang, "card.form.intro.correct").to_string()]),
        ),
        Command::CardTopUp => {
            let form = CardForm::new(
                CardFormKind::TopUp {
                    card_id: id,
                    person_id: d.person_id,
                },
                trf(lang, "card.form.title.top_up", &[("card", &named)]),
                vec![
                    text_field(CardField::Amount, ""),
                    Field::with(
                        CardField::Channel,
                        Input::choice(
                            ["cash", "bank", "other"]
                                .iter()
                                .map(|c| Opt::new(*c, tr(lang, &format!("card.channel.{c}"))))
                                .collect(),
                            "cash",
                        ),
                    ),
                    text_field(CardField::ChannelName, ""),
                ],
            )
            .intro(vec![trf(
                lang,
                "card.form.intro.top_up",
                &[("balance", &d.balance.to_string())],
            )]);
            open(c, form)
        }
        _ => vec![],
    }
}
