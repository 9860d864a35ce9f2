//! Card transitions: issue, rewrite, loss, reissue, exchange, return, cancel, extend.

use super::*;

/// 發行. See the module comment for what one issue writes.
pub async fn issue(pool: &PgPool, actor: &Actor, req: &IssueRequest) -> Result<Issued, CardError> {
    match issue_in(pool, actor, req).await {
        Ok(i) => Ok(i),
        Err(e) => Err(explain(pool, e).await),
    }
}

async fn issue_in(pool: &PgPool, actor: &Actor, req: &IssueRequest) -> Result<Issued, CardError> {
    actor.authorize(Action::CardIssue)?;
    check_card_no(req.card_no)?;
    let (pins, hashes) = fresh_pins().await?;
    let mut tx = begin_syncing(pool).await?;
    let person = lock_person(&mut tx, req.person_id).await?;
    let policy = kind_policy(&mut tx, req.kind).await?;
    let subs = check_setup(
        &mut tx,
        &policy,
        &req.subsystems,
        &req.door_groups,
        &req.terminals,
    )
    .await?;
    machine::check_validity(req.kind, req.valid_from, req.valid_until, policy.max_days())?;
    if req.valid_until < today() {
        return Err(CardError::BadInput(format!(
            "valid until {}: the card would be expired already",
            req.valid_until
        )));
    }
    card_no_free(&mut tx, req.card_no).await?;
    no_card_in_service(&mut tx, &person).await?;
    ledger::cardholder_account(&mut tx, person.id).await?;
    let card_id = insert_card(
        &mut tx,
        actor,
        NewCard {
            card_no: req.card_no,
            person_id: person.id,
            kind: req.kind,
            subsystems: subsystem_names(&subs),
            valid_from: req.valid_from,
            valid_until: req.valid_until,
            replaces: None,
            per_purchase_limit: None,
            daily_count_limit: None,
            hashes: &hashes,
        },
    )
    .await?;
    write_grants(&mut tx, card_id, &req.door_groups, &req.terminals).await?;
    let fee = hand_over(
        &mut tx,
        actor,
        NewCardFee {
            kind: "issue",
            card_id,
            card_no: req.card_no,
            person_id: person.id,
            amount: policy.issue_fee,
            paid_from: req.paid_from,
        },
        &format!("issue, card {}", req.card_no),
    )
    .await?;
    record(
        &mut tx,
        actor,
        card_id,
        "issue",
        Event {
            new_until: Some(req.valid_until),
            detail: json!({
                "door_groups": req.door_groups,
                "terminals": req.terminals,
                "fee": fee,
                "paid_from": fee.map(|_| req.paid_from.name()),
            }),
            ..Event::default()
        },
    )
    .await?;
    let after = snapshot(&mut tx, card_id).await?;
    audit_card(&mut tx, actor, "issue", card_id, None, Some(after)).await?;
    finish(tx, actor, &[card_id], true).await?;
    let [query_pin, payment_pin] = pins;
    Ok(Issued {
        card_id,
        card_no: req.card_no,
        query_pin,
        payment_pin,
        fee,
    })
}

/// 改寫: replaces the card's subsystems and grants, and moves its expiry (later: the extension
/// rules; earlier: not before it starts).
pub async fn rewrite(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    w: &Rewrite,
) -> Result<(), CardError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = begin_syncing(pool).await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(Transition::Rewrite, actor)?;
    let kind = card.kind()?;
    let policy = kind_policy(&mut tx, kind).await?;
    let subs = check_setup(
        &mut tx,
        &policy,
        &w.subsystems,
        &w.door_groups,
        &w.terminals,
    )
    .await?;
    if w.valid_until > card.valid_until {
        machine::check_extension(
            kind,
            card.valid_until,
            w.valid_until,
            today(),
            policy.max_days(),
        )?;
    } else if w.valid_until < card.valid_from {
        return Err(Refusal::EndsBeforeStart {
            from: card.valid_from,
            until: w.valid_until,
        }
        .into());
    }
    let before = snapshot(&mut tx, card_id).await?;
    sqlx::query(
        "UPDATE card SET subsystems = $2, valid_until = $3, updated_at = now() WHERE id = $1",
    )
    .bind(card_id)
    .bind(subsystem_names(&subs))
    .bind(w.valid_until)
    .execute(&mut *tx)
    .await?;
    write_grants(&mut tx, card_id, &w.door_groups, &w.terminals).await?;
    let moved = w.valid_until != card.valid_until;
    record(
        &mut tx,
        actor,
        card_id,
        "rewrite",
        Event {
            old_until: moved.then_some(card.valid_until),
            new_until: moved.then_some(w.valid_until),
            detail: json!({
                "subsystems": subsystem_names(&subs),
                "door_groups": w.door_groups,
                "terminals": w.terminals,
            }),
            ..Event::default()
        },
    )
    .await?;
    let after = snapshot(&mut tx, card_id).await?;
    audit_card(
        &mut tx,
        actor,
        "rewrite",
        card_id,
        Some(before),
        Some(after),
    )
    .await?;
    finish(tx, actor, &[card_id], true).await
}

/// 掛失: the card is refused on every terminal until found or replaced.
pub async fn report_lost(pool: &PgPool, actor: &Actor, card_id: i64) -> Result<(), CardError> {
    lost_or_found(pool, actor, card_id, Transition::ReportLost).await
}

/// 解掛: a lost card is back in the holder's hand.
pub async fn report_found(pool: &PgPool, actor: &Actor, card_id: i64) -> Result<(), CardError> {
    lost_or_found(pool, actor, card_id, Transition::ReportFound).await
}

async fn lost_or_found(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    t: Transition,
) -> Result<(), CardError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = begin_syncing(pool).await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(t, actor)?;
    let before = snapshot(&mut tx, card_id).await?;
    let sql = if t == Transition::ReportLost {
        "UPDATE card SET state = 'lost', lost_at = now(), updated_at = now() WHERE id = $1"
    } else {
        "UPDATE card SET state = 'active', lost_at = NULL, updated_at = now() WHERE id = $1"
    };
    sqlx::query(sql).bind(card_id).execute(&mut *tx).await?;
    let detail = match card.lost_at {
        Some(at) if t == Transition::ReportFound => json!({ "lost_at": at }),
        _ => json!({}),
    };
    record(
        &mut tx,
        actor,
        card_id,
        t.name(),
        Event {
            detail,
            ..Event::default()
        },
    )
    .await?;
    let after = snapshot(&mut tx, card_id).await?;
    audit_card(&mut tx, actor, t.name(), card_id, Some(before), Some(after)).await?;
    finish(tx, actor, &[card_id], true).await
}

/// 補卡: a new card for a lost one, at least 24 h after the loss report unless a director
/// overrides with a reason. The old card is replaced (blacklisted for ever); the new one has the
/// same holder, kind, subsystems, grants, validity and limits, and new PINs. The balance stays
/// on the person's account. The kind's reissue fee is charged.
pub async fn reissue(
    pool: &PgPool,
    actor: &Actor,
    old_card_id: i64,
    new_card_no: i64,
    override_reason: Option<String>,
    paid_from: PaidFrom,
) -> Result<Issued, CardError> {
    let r = replace(
        pool,
        actor,
        old_card_id,
        new_card_no,
        Transition::Reissue,
        override_reason.as_deref(),
        paid_from,
    )
    .await;
    match r {
        Ok(i) => Ok(i),
        Err(e) => Err(explain(pool, e).await),
    }
}

/// 換卡: a new card for a damaged one or changed details; the old card (in hand, active) is
/// surrendered. Same holder, kind, grants, validity and limits; new PINs; the kind's exchange
/// fee is charged.
pub async fn exchange(
    pool: &PgPool,
    actor: &Actor,
    old_card_id: i64,
    new_card_no: i64,
    reason: &str,
    paid_from: PaidFrom,
) -> Result<Issued, CardError> {
    if reason.trim().is_empty() {
        return Err(CardError::BadInput(
            "say why the card is exchanged (damaged, details changed...)".into(),
        ));
    }
    let r = replace(
        pool,
        actor,
        old_card_id,
        new_card_no,
        Transition::Exchange,
        Some(reason),
        paid_from,
    )
    .await;
    match r {
        Ok(i) => Ok(i),
        Err(e) => Err(explain(pool, e).await),
    }
}

/// Reissue and exchange: `reason` is the override reason (reissue) or the exchange reason.
async fn replace(
    pool: &PgPool,
    actor: &Actor,
    old_card_id: i64,
    new_card_no: i64,
    t: Transition,
    reason: Option<&str>,
    paid_from: PaidFrom,
) -> Result<Issued, CardError> {
    actor.authorize(Action::CardLifecycle)?;
    check_card_no(new_card_no)?;
    let (pins, hashes) = fresh_pins().await?;
    let mut tx = begin_syncing(pool).await?;
    let old = lock(&mut tx, old_card_id).await?;
    let reissue = t == Transition::Reissue;
    let ctx = old.context(actor, if reissue { reason } else { None })?;
    machine::check(t, &ctx)?;
    let overridden = reissue
        && old
            .lost_at
            .is_some_and(|at| old.db_now - at < machine::REISSUE_WAIT);
    let person = lock_person(&mut tx, old.person_id).await?;
    card_no_free(&mut tx, new_card_no).await?;
    let kind = old.kind()?;
    let policy = kind_policy(&mut tx, kind).await?;
    let before = snapshot(&mut tx, old.id).await?;
    let (old_state, fee_kind, fee_amount) = if reissue {
        ("replaced", "reissue", policy.reissue_fee)
    } else {
        ("surrendered", "exchange", policy.exchange_fee)
    };
    // Out of service first: the person may hold one card in service.
    sqlx::query("UPDATE card SET state = $2, updated_at = now() WHERE id = $1")
        .bind(old.id)
        .bind(old_state)
        .execute(&mut *tx)
        .await?;
    let new_id = insert_card(
        &mut tx,
        actor,
        NewCard {
            card_no: new_card_no,
            person_id: person.id,
            kind,
            subsystems: old.subsystems.clone(),
            valid_from: old.valid_from,
            valid_until: old.valid_until,
            replaces: Some(old.id),
            per_purchase_limit: old.per_purchase_limit,
            daily_count_limit: old.daily_count_limit,
            hashes: &hashes,
        },
    )
    .await?;
    sqlx::query("UPDATE card SET replaced_by_card_id = $2 WHERE id = $1")
        .bind(old.id)
        .bind(new_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO card_grant (card_id, terminal_id, door)
         SELECT $2, terminal_id, door FROM card_grant WHERE card_id = $1",
    )
    .bind(old.id)
    .bind(new_id)
    .execute(&mut *tx)
    .await?;
    let fee = hand_over(
        &mut tx,
        actor,
        NewCardFee {
            kind: fee_kind,
            card_id: new_id,
            card_no: new_card_no,
            person_id: person.id,
            amount: fee_amount,
            paid_from,
        },
        &format!("{fee_kind} of card {}, card {new_card_no}", old.card_no),
    )
    .await?;
    let balance: Money = sqlx::query_scalar(
        "SELECT coalesce(max(account_balance(id)), 0) FROM account WHERE person_id = $1",
    )
    .bind(person.id)
    .fetch_one(&mut *tx)
    .await?;
    let reason = reason.map(str::trim).unwrap_or("");
    record(
        &mut tx,
        actor,
        old.id,
        t.name(),
        Event {
            other_card_id: Some(new_id),
            reason,
            detail: json!({
                "new_card_no": new_card_no,
                "balance": balance,
                "fee": fee,
                "paid_from": fee.map(|_| paid_from.name()),
                "director_override": overridden,
                "lost_at": old.lost_at,
            }),
            ..Event::default()
        },
    )
    .await?;
    record(
        &mut tx,
        actor,
        new_id,
        "issue",
        Event {
            new_until: Some(old.valid_until),
            other_card_id: Some(old.id),
            reason,
            detail: json!({ "via": t.name(), "replaces_card_no": old.card_no, "balance": balance }),
            ..Event::default()
        },
    )
    .await?;
    let after = json!({
        "old": snapshot(&mut tx, old.id).await?,
        "new": snapshot(&mut tx, new_id).await?,
        "reason": reason,
        "director_override": overridden,
        "balance": balance,
        "fee": fee,
    });
    audit_card(&mut tx, actor, t.name(), old.id, Some(before), Some(after)).await?;
    finish(tx, actor, &[old.id, new_id], true).await?;
    let [query_pin, payment_pin] = pins;
    Ok(Issued {
        card_id: new_id,
        card_no: new_card_no,
        query_pin,
        payment_pin,
        fee,
    })
}

/// 退卡: the holder hands the card back. The balance follows the kind's `balance_on_return`
/// (kept: moved to the forfeited-balance account; refunded: paid out in cash), and only when
/// the person has no other card in service. A negative balance (overdrawn) is left on the
/// account: it is a debt, not something to pay out.
pub async fn return_card(pool: &PgPool, actor: &Actor, card_id: i64) -> Result<Closed, CardError> {
    close(pool, actor, card_id, Transition::Return, "").await
}

/// 註銷: the centre takes the card out of service (a reason is required). Balance as for a
/// return.
pub async fn cancel(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    reason: &str,
) -> Result<Closed, CardError> {
    if reason.trim().is_empty() {
        return Err(CardError::BadInput("say why the card is cancelled".into()));
    }
    close(pool, actor, card_id, Transition::Cancel, reason.trim()).await
}

async fn close(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    t: Transition,
    reason: &str,
) -> Result<Closed, CardError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = begin_syncing(pool).await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(t, actor)?;
    let policy = kind_policy(&mut tx, card.kind()?).await?;
    let before = snapshot(&mut tx, card_id).await?;
    sqlx::query("UPDATE card SET state = 'cancelled', updated_at = now() WHERE id = $1")
        .bind(card_id)
        .execute(&mut *tx)
        .await?;
    let mut closed = Closed::default();
    let account: Option<i64> = sqlx::query_scalar("SELECT id FROM account WHERE person_id = $1")
        .bind(card.person_id)
        .fetch_optional(&mut *tx)
        .await?;
    // The card closed was the person's only one in service (a unique index says so): the
    // balance follows the card kind's policy.
    if let Some(account) = account {
        let (target, kind) = match policy.balance_on_return {
            BalancePolicy::Kept => (SystemAccount::ForfeitedBalance, MovementKind::Forfeit),
            BalancePolicy::Refunded => (SystemAccount::Cash, MovementKind::Refund),
        };
        let target = ledger::system_account(&mut tx, target).await?;
        let balances = ledger::lock_accounts(&mut tx, &[account, target]).await?;
        let balance = balances.get(&account).copied().unwrap_or_default();
        if balance > Money::ZERO {
            ledger::post(
                &mut tx,
                actor,
                kind,
                Some(card_id),
                &format!("{} of card {}", t.name(), card.card_no),
                &[(account, balance), (target, -balance)],
            )
            .await?;
            match policy.balance_on_return {
                BalancePolicy::Kept => closed.kept = balance,
                BalancePolicy::Refunded => closed.refunded = balance,
            }
        }
    }
    record(
        &mut tx,
        actor,
        card_id,
        t.name(),
        Event {
            reason,
            detail: json!({
                "from_state": card.state,
                "balance_on_return": policy.balance_on_return.name(),
                "refunded": closed.refunded,
                "kept": closed.kept,
            }),
            ..Event::default()
        },
    )
    .await?;
    let mut after = snapshot(&mut tx, card_id).await?;
    after["refunded"] = json!(closed.refunded);
    after["kept"] = json!(closed.kept);
    after["reason"] = json!(reason);
    audit_card(&mut tx, actor, t.name(), card_id, Some(before), Some(after)).await?;
    finish(tx, actor, &[card_id], true).await?;
    Ok(closed)
}

/// Why this card cannot be extended to `until`, if it cannot.
fn check_extendable(
    card: &CardRow,
    policy: &CardKindPolicy,
    until: NaiveDate,
    today: NaiveDate,
    actor: &Actor,
) -> Result<(), CardError> {
    card.check(Transition::Extend, actor)?;
    if card.person_status == "left" {
        return Err(CardError::PersonLeft);
    }
    machine::check_extension(
        card.kind()?,
        card.valid_until,
        until,
        today,
        policy.max_days(),
    )?;
    Ok(())
}

async fn write_extension(
    conn: &mut PgConnection,
    actor: &Actor,
    card: &CardRow,
    until: NaiveDate,
    batch: bool,
) -> Result<(), CardError> {
    let before = snapshot(&mut *conn, card.id).await?;
    sqlx::query("UPDATE card SET valid_until = $2, updated_at = now() WHERE id = $1")
        .bind(card.id)
        .bind(until)
        .execute(&mut *conn)
        .await?;
    record(
        &mut *conn,
        actor,
        card.id,
        "extend",
        Event {
            old_until: Some(card.valid_until),
            new_until: Some(until),
            detail: json!({ "batch": batch }),
            ..Event::default()
        },
    )
    .await?;
    let after = snapshot(&mut *conn, card.id).await?;
    audit_card(conn, actor, "extend", card.id, Some(before), Some(after)).await?;
    Ok(())
}

/// 延期: moves the expiry later (temporary cards at most a year past the later of today and the
/// current expiry).
pub async fn extend(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    until: NaiveDate,
) -> Result<(), CardError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = begin_syncing(pool).await?;
    let card = lock(&mut tx, card_id).await?;
    let policy = kind_policy(&mut tx, card.kind()?).await?;
    check_extendable(&card, &policy, until, today(), actor)?;
    write_extension(&mut tx, actor, &card, until, false).await?;
    finish(tx, actor, &[card_id], true).await
}

/// Locks the batch's cards (in id order) and checks each: Ok with what would change, or every
/// refusal by card.
async fn plan_batch(
    conn: &mut PgConnection,
    actor: &Actor,
    card_ids: &[i64],
    until: NaiveDate,
) -> Result<Vec<(CardRow, Extension)>, BatchError> {
    let unique: BTreeSet<i64> = card_ids.iter().copied().collect();
    let ids: Vec<i64> = unique.iter().copied().collect();
    let rows: Vec<CardRow> = sqlx::query_as(&format!(
        "{CARD_ROW} WHERE c.id = ANY($1) ORDER BY c.id FOR UPDATE OF c"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let policies = kind_policies(&mut *conn).await.map_err(|e| match e {
        CardError::Sql(e) => BatchError::Sql(e),
        other => BatchError::Sql(sqlx::Error::Protocol(other.to_string())),
    })?;
    let today = today();
    let mut refusals = Vec::new();
    let mut seen = BTreeSet::new();
    for &id in card_ids {
        if !seen.insert(id) {
            refusals.push(BatchRefusal {
                card_id: id,
                card_no: rows.iter().find(|r| r.id == id).map(|r| r.card_no),
                why: BatchWhy::ListedTwice,
            });
        }
    }
    for id in &ids {
        if !rows.iter().any(|r| r.id == *id) {
            refusals.push(BatchRefusal {
                card_id: *id,
                card_no: None,
                why: BatchWhy::NoSuchCard,
            });
        }
    }
    let mut plan = Vec::new();
    for row in rows {
        let checked = row.kind().and_then(|k| {
            let policy = policies
                .get(&k)
                .ok_or_else(|| CardError::BadInput(format!("no card kind {k}")))?;
            check_extendable(&row, policy, until, today, actor)
        });
        match checked {
            Ok(()) => {
                let ext = Extension {
                    card_id: row.id,
                    card_no: row.card_no,
                    person_no: row.person_no.clone(),
                    person_name: row.person_name.clone(),
                    old_until: row.valid_until,
                    new_until: until,
                };
                plan.push((row, ext));
            }
            Err(CardError::Sql(e)) => return Err(BatchError::Sql(e)),
            Err(e) => refusals.push(BatchRefusal {
                card_id: row.id,
                card_no: Some(row.card_no),
                why: match e {
                    CardError::Refused(r) => BatchWhy::Refused(r),
                    CardError::PersonLeft => BatchWhy::PersonLeft,
                    other => BatchWhy::Other(other.to_string()),
                },
            }),
        }
    }
    if refusals.is_empty() {
        Ok(plan)
    } else {
        Err(BatchError::Refused(refusals))
    }
}

/// What `extend_batch` would do, changing nothing (the same checks, the same refusals).
pub async fn preview_batch(
    pool: &PgPool,
    actor: &Actor,
    card_ids: &[i64],
    until: NaiveDate,
) -> Result<Vec<Extension>, BatchError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = pool.begin().await?;
    let plan = plan_batch(&mut tx, actor, card_ids, until).await?;
    tx.rollback().await?;
    Ok(plan.into_iter().map(|(_, e)| e).collect())
}

/// 延期 in batch (June's delayed graduates): every card or none. Each refusal is named (card
/// number and reason); a card listed twice is a refusal too. Returns the extensions made.
pub async fn extend_batch(
    pool: &PgPool,
    actor: &Actor,
    card_ids: &[i64],
    until: NaiveDate,
) -> Result<Vec<Extension>, BatchError> {
    actor.authorize(Action::CardLifecycle)?;
    let mut tx = begin_syncing(pool).await?;
    let plan = plan_batch(&mut tx, actor, card_ids, until).await?;
    let into_batch = |e: CardError| match e {
        CardError::Sql(e) => BatchError::Sql(e),
        other => BatchError::Sql(sqlx::Error::Protocol(other.to_string())),
    };
    let mut change = Change::cards(plan.iter().map(|(c, _)| c.id).collect());
    for (card, _) in &plan {
        write_extension(&mut tx, actor, card, until, true)
            .await
            .map_err(into_batch)?;
        change.merge(
            propagation::sync_card(&mut tx, actor, card.id)
                .await?
                .change,
        );
    }
    change.send(&mut tx).await?;
    tx.commit().await?;
    Ok(plan.into_iter().map(|(_, e)| e).collect())
}
