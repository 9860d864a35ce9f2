//! PINs and purchase limits.

use super::*;

/// The holder changes a PIN: the old one must be right; the new one is 6 digits.
pub async fn change_pin(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    pin: PinKind,
    old: &str,
    new: &str,
) -> Result<(), CardError> {
    actor.authorize(Action::CardPin)?;
    if !valid_pin(new) {
        return Err(CardError::BadInput("a PIN is 6 digits".into()));
    }
    let hash = hash_pins(vec![new.to_string()]).await?.remove(0);
    let mut tx = pool.begin().await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(Transition::PinChange, actor)?;
    if !verify_hash(old, card.pin_hash(pin)).await {
        return Err(CardError::WrongPin);
    }
    set_pin(&mut tx, actor, &card, pin, &hash, Transition::PinChange).await?;
    finish(tx, actor, &[card_id], false).await
}

/// The desk resets a forgotten PIN (needs `Action::CardPin`): the new PIN is returned once, to
/// be shown once.
pub async fn reset_pin(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    pin: PinKind,
) -> Result<String, CardError> {
    actor.authorize(Action::CardPin)?;
    let new = new_pin();
    let hash = hash_pins(vec![new.clone()]).await?.remove(0);
    let mut tx = pool.begin().await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(Transition::PinReset, actor)?;
    set_pin(&mut tx, actor, &card, pin, &hash, Transition::PinReset).await?;
    finish(tx, actor, &[card_id], false).await?;
    Ok(new)
}

async fn set_pin(
    conn: &mut PgConnection,
    actor: &Actor,
    card: &CardRow,
    pin: PinKind,
    hash: &str,
    t: Transition,
) -> Result<(), CardError> {
    sqlx::query(&format!(
        "UPDATE card SET {} = $2, updated_at = now() WHERE id = $1",
        pin.column()
    ))
    .bind(card.id)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    record(
        &mut *conn,
        actor,
        card.id,
        t.name(),
        Event {
            detail: json!({ "pin": pin.name() }),
            ..Event::default()
        },
    )
    .await?;
    audit_card(
        conn,
        actor,
        t.name(),
        card.id,
        Some(json!({ "card_no": card.card_no, "pin": pin.name() })),
        Some(json!({ "card_no": card.card_no, "pin": pin.name(), "changed": true })),
    )
    .await?;
    Ok(())
}

/// Whether `pin` is the card's PIN of that kind (false for an unknown card).
pub async fn verify_pin(
    pool: &PgPool,
    card_id: i64,
    pin: PinKind,
    given: &str,
) -> Result<bool, sqlx::Error> {
    let hash: Option<String> =
        sqlx::query_scalar(&format!("SELECT {} FROM card WHERE id = $1", pin.column()))
            .bind(card_id)
            .fetch_optional(pool)
            .await?;
    Ok(match hash {
        Some(h) => verify_hash(given, &h).await,
        None => false,
    })
}

/// 限額: the card's own purchase limits; None puts the kind's default back.
pub async fn set_limits(
    pool: &PgPool,
    actor: &Actor,
    card_id: i64,
    per_purchase: Option<Money>,
    daily_count: Option<i32>,
) -> Result<(), CardError> {
    actor.authorize(Action::CardLifecycle)?;
    if let Some(a) = per_purchase {
        ledger::check_amount(a)?;
    }
    if daily_count.is_some_and(|n| n < 1) {
        return Err(CardError::BadInput(
            "a daily purchase count limit is at least 1".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let card = lock(&mut tx, card_id).await?;
    card.check(Transition::Limits, actor)?;
    let before = json!({
        "card_no": card.card_no,
        "per_purchase_limit": card.per_purchase_limit,
        "daily_count_limit": card.daily_count_limit,
    });
    sqlx::query(
        "UPDATE card SET per_purchase_limit = $2, daily_count_limit = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(card_id)
    .bind(per_purchase)
    .bind(daily_count)
    .execute(&mut *tx)
    .await?;
    let after = json!({
        "card_no": card.card_no,
        "per_purchase_limit": per_purchase,
        "daily_count_limit": daily_count,
    });
    record(
        &mut tx,
        actor,
        card_id,
        "limits",
        Event {
            detail: json!({ "before": before, "after": after }),
            ..Event::default()
        },
    )
    .await?;
    audit_card(&mut tx, actor, "limits", card_id, Some(before), Some(after)).await?;
    finish(tx, actor, &[card_id], false).await
}

/// The limits in force: the card's own, else its kind's. Above the per-purchase limit the POS
/// asks for the payment PIN.
pub async fn effective_limits(pool: &PgPool, card_id: i64) -> Result<Limits, CardError> {
    let row: Option<(Money, i32)> = sqlx::query_as(
        "SELECT coalesce(c.per_purchase_limit, k.per_purchase_limit),
                coalesce(c.daily_count_limit, k.daily_count_limit)
         FROM card c JOIN card_kind k ON k.kind = c.kind WHERE c.id = $1",
    )
    .bind(card_id)
    .fetch_optional(pool)
    .await?;
    let (per_purchase, daily_count) = row.ok_or(CardError::NotFound)?;
    Ok(Limits {
        per_purchase,
        daily_count,
        pin_above: per_purchase,
    })
}
