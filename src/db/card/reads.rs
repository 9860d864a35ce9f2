//! What the card desk reads: cards, their history and holders.

use super::*;

#[derive(Debug, sqlx::FromRow)]
struct ViewRow {
    card_id: i64,
    card_no: i64,
    person_id: i64,
    person_no: String,
    person_name: String,
    department: String,
    person_status: String,
    kind: String,
    state: String,
    subsystems: Vec<String>,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    own_per_purchase: Option<Money>,
    own_daily_count: Option<i32>,
    per_purchase: Money,
    daily_count: i32,
    balance: Money,
    lost_at: Option<DateTime<Utc>>,
    issued_at: DateTime<Utc>,
    issued_by: String,
    replaces_card_no: Option<i64>,
    replaced_by_card_no: Option<i64>,
}

const VIEW: &str =
    "SELECT c.id AS card_id, c.card_no, c.person_id, p.person_no, p.name AS person_name,
        d.name AS department, p.status AS person_status, c.kind, c.state, c.subsystems,
        c.valid_from, c.valid_until, c.per_purchase_limit AS own_per_purchase,
        c.daily_count_limit AS own_daily_count,
        coalesce(c.per_purchase_limit, k.per_purchase_limit) AS per_purchase,
        coalesce(c.daily_count_limit, k.daily_count_limit) AS daily_count,
        coalesce(a.balance - coalesce(ap.amount, 0), 0) AS balance, c.lost_at, c.issued_at, c.issued_by,
        (SELECT r.card_no FROM card r WHERE r.id = c.replaces_card_id) AS replaces_card_no,
        (SELECT r.card_no FROM card r WHERE r.id = c.replaced_by_card_id) AS replaced_by_card_no
    FROM card c
    JOIN person p ON p.id = c.person_id
    JOIN department d ON d.id = p.department_id
    JOIN card_kind k ON k.kind = c.kind
    LEFT JOIN account a ON a.person_id = c.person_id
    LEFT JOIN account_pending ap ON ap.account_id = a.id";

async fn complete(pool: &PgPool, r: ViewRow) -> Result<CardView, CardError> {
    let grants: Vec<Grant> = sqlx::query_as(
        "SELECT g.terminal_id, t.name AS terminal_name, t.kind AS terminal_kind, g.door
         FROM card_grant g JOIN terminal t ON t.id = g.terminal_id
         WHERE g.card_id = $1 ORDER BY t.name, g.terminal_id, g.door",
    )
    .bind(r.card_id)
    .fetch_all(pool)
    .await?;
    let door_groups: Vec<(i64, String)> = sqlx::query_as(
        "SELECT g.id, g.name FROM door_group g
         WHERE EXISTS (SELECT 1 FROM door_group_door d WHERE d.door_group_id = g.id)
           AND NOT EXISTS (
               SELECT 1 FROM door_group_door d
               WHERE d.door_group_id = g.id
                 AND NOT EXISTS (SELECT 1 FROM card_grant cg
                                 WHERE cg.card_id = $1 AND cg.terminal_id = d.terminal_id
                                   AND cg.door = d.door))
         ORDER BY g.name",
    )
    .bind(r.card_id)
    .fetch_all(pool)
    .await?;
    let subsystems = r
        .subsystems
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<Subsystem>, String>>()
        .map_err(decode)?;
    Ok(CardView {
        card_id: r.card_id,
        card_no: r.card_no,
        person_id: r.person_id,
        person_no: r.person_no,
        person_name: r.person_name,
        department: r.department,
        person_left: r.person_status == "left",
        kind: r.kind.parse().map_err(decode)?,
        state: r.state.parse().map_err(decode)?,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        subsystems,
        grants,
        door_groups,
        balance: r.balance,
        limits: Limits {
            per_purchase: r.per_purchase,
            daily_count: r.daily_count,
            pin_above: r.per_purchase,
        },
        own_per_purchase: r.own_per_purchase,
        own_daily_count: r.own_daily_count,
        lost_at: r.lost_at,
        issued_at: r.issued_at,
        issued_by: r.issued_by,
        replaces_card_no: r.replaces_card_no,
        replaced_by_card_no: r.replaced_by_card_no,
    })
}

/// One card as the desk shows it.
pub async fn view(pool: &PgPool, card_id: i64) -> Result<CardView, CardError> {
    let row: ViewRow = sqlx::query_as(&format!("{VIEW} WHERE c.id = $1"))
        .bind(card_id)
        .fetch_optional(pool)
        .await?
        .ok_or(CardError::NotFound)?;
    complete(pool, row).await
}

/// What the card on the desk reader is: a blank, a card in service, or a blacklisted one.
pub async fn lookup(pool: &PgPool, card_no: i64) -> Result<CardLookup, CardError> {
    check_card_no(card_no)?;
    let row: Option<ViewRow> = sqlx::query_as(&format!("{VIEW} WHERE c.card_no = $1"))
        .bind(card_no)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Ok(CardLookup::New);
    };
    let view = complete(pool, row).await?;
    Ok(if view.state.blacklisted() {
        CardLookup::Blacklisted(view)
    } else {
        CardLookup::Issued(view)
    })
}

/// Every card a person has held, newest first.
pub async fn cards_of_person(pool: &PgPool, person_id: i64) -> Result<Vec<CardView>, CardError> {
    let rows: Vec<ViewRow> = sqlx::query_as(&format!(
        "{VIEW} WHERE c.person_id = $1 ORDER BY c.issued_at DESC, c.id DESC"
    ))
    .bind(person_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(complete(pool, r).await?);
    }
    Ok(out)
}

/// The card's history, oldest first.
pub async fn history(pool: &PgPool, card_id: i64) -> Result<Vec<CardEventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, e.at, e.event, e.actor, e.old_until, e.new_until,
                o.card_no AS other_card_no, e.reason, e.detail
         FROM card_event e LEFT JOIN card o ON o.id = e.other_card_id
         WHERE e.card_id = $1 ORDER BY e.at, e.id",
    )
    .bind(card_id)
    .fetch_all(pool)
    .await
}

/// The three card kinds and their policies.
pub async fn card_kinds(pool: &PgPool) -> Result<Vec<CardKindPolicy>, CardError> {
    let rows: Vec<KindRow> = sqlx::query_as(&format!("{KIND_ROW} ORDER BY kind"))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(CardKindPolicy::try_from).collect()
}

fn policy_json(p: &CardKindPolicy) -> Value {
    json!({
        "kind": p.kind.name(),
        "doors": p.doors,
        "attendance": p.attendance,
        "balance_on_return": p.balance_on_return.name(),
        "per_purchase_limit": p.per_purchase_limit,
        "daily_count_limit": p.daily_count_limit,
        "max_validity_days": p.max_validity_days,
        "issue_fee": p.issue_fee,
        "reissue_fee": p.reissue_fee,
        "exchange_fee": p.exchange_fee,
    })
}

/// Changes a card kind's policy (balance on return, limits, longest validity, fees): a setting,
/// audited as `card_kind.change`. What the kind may use (doors, attendance) is fixed.
pub async fn set_card_kind_policy(
    pool: &PgPool,
    actor: &Actor,
    policy: &CardKindPolicy,
) -> Result<(), CardError> {
    actor.authorize(Action::SettingChange)?;
    ledger::check_amount(policy.per_purchase_limit)?;
    if policy.daily_count_limit < 1 {
        return Err(CardError::BadInput(
            "a daily purchase count limit is at least 1".into(),
        ));
    }
    for fee in [policy.issue_fee, policy.reissue_fee, policy.exchange_fee] {
        if !fee.is_zero() {
            ledger::check_amount(fee)?;
        }
    }
    match (policy.kind, policy.max_validity_days) {
        (_, Some(d)) if d < 1 => {
            return Err(CardError::BadInput(
                "the longest validity is at least 1 day".into(),
            ))
        }
        (CardKind::Temporary, None) => {
            return Err(CardError::BadInput(
                "a temporary card is valid at most 1 year at a time: give a longest validity of 365 days or less".into(),
            ))
        }
        (CardKind::Temporary, Some(d)) if d > 365 => {
            return Err(CardError::BadInput(
                "a temporary card is valid at most 1 year at a time: give a longest validity of 365 days or less".into(),
            ))
        }
        _ => {}
    }
    let mut tx = pool.begin().await?;
    let row: KindRow = sqlx::query_as(&format!("{KIND_ROW} WHERE kind = $1 FOR UPDATE"))
        .bind(policy.kind.name())
        .fetch_one(&mut *tx)
        .await?;
    let before = CardKindPolicy::try_from(row)?;
    if (before.doors, before.attendance) != (policy.doors, policy.attendance) {
        return Err(CardError::BadInput(format!(
            "what a {} card may use (doors, attendance) is fixed",
            policy.kind
        )));
    }
    if before == *policy {
        return Ok(());
    }
    sqlx::query(
        "UPDATE card_kind SET balance_on_return = $2, per_purchase_limit = $3,
                daily_count_limit = $4, max_validity_days = $5, issue_fee = $6, reissue_fee = $7,
                exchange_fee = $8
         WHERE kind = $1",
    )
    .bind(policy.kind.name())
    .bind(policy.balance_on_return.name())
    .bind(policy.per_purchase_limit)
    .bind(policy.daily_count_limit)
    .bind(policy.max_validity_days)
    .bind(policy.issue_fee)
    .bind(policy.reissue_fee)
    .bind(policy.exchange_fee)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        "card_kind.change",
        "card_kind",
        policy.kind.name(),
        Some(policy_json(&before)),
        Some(policy_json(policy)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The id of the card with this number (in any state).
pub async fn id_of(pool: &PgPool, card_no: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM card WHERE card_no = $1")
        .bind(card_no)
        .fetch_optional(pool)
        .await
}
