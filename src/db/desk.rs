//! The card desk's money (issue 11, "Desk operations"): each desk has its own cash drawer; a
//! top-up comes by a channel (cash into the desk's drawer, a bank transfer into bank clearing,
//! another channel into that channel's clearing account); a refund pays a balance out of the
//! drawer; an overcharged purchase is reversed at the centre against the original; a shift
//! close compares the cash counted with what the ledger says the drawer took.
//!
//! An undercharge needs nothing here: it is a second purchase at the POS (the regulations'
//! rule), posted like any other.
//!
//! Every movement goes through `ledger::post` (entries, balances, audit row) in one
//! transaction with its `movement_detail` row (desk, channel, the purchase reversed).

mod shift;
pub mod statement;

pub use shift::{close_shift, shifts, Shift};
pub use statement::{export_statement, person_of_card, statement, Statement, StatementRow};

use super::audit;
use super::ledger::{self, LedgerError, MovementKind, SystemAccount, TopUp};
use super::notify::Change;
use crate::domain::money::Money;
use crate::domain::permission::{Action, Actor, Denied};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

/// Longest channel name, receipt reference or reason.
pub const MAX_TEXT: usize = 200;

/// A card desk and its cash drawer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Desk {
    pub id: i64,
    pub name: String,
    pub drawer_account_id: i64,
    /// The desk reader whose consoles work at this desk.
    pub desk_reader_id: Option<i64>,
}

/// How money for a top-up came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Into the desk's cash drawer.
    Cash,
    /// A bank transfer, into bank clearing.
    Bank,
    /// Another channel, by its name (微信, 支付宝, a kiosk): into that channel's clearing
    /// account, created when the name is first used.
    Other(String),
}

impl Channel {
    /// `movement_detail.channel`: cash, bank, other.
    pub fn key(&self) -> &'static str {
        match self {
            Channel::Cash => "cash",
            Channel::Bank => "bank",
            Channel::Other(_) => "other",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no card desk named {0}")]
    NoDesk(String),
    #[error("a card desk named {0} exists already")]
    DeskExists(String),
    #[error("name the channel the money came by")]
    ChannelNameMissing,
    #[error("at most {MAX_TEXT} characters, no control characters: {0}")]
    TextInvalid(String),
    #[error("the balance is {balance}, less than {needed}")]
    InsufficientBalance { balance: Money, needed: Money },
    #[error("the drawer holds {holds}, less than {needed}")]
    DrawerShort { holds: Money, needed: Money },
    #[error("no purchase {0}")]
    NoPurchase(String),
    #[error("the purchase was {original}: a reversal of {asked} is more than that")]
    OverReversal { original: Money, asked: Money },
    #[error("purchase {purchase} was reversed already (movement {by})")]
    AlreadyReversed { purchase: i64, by: i64 },
    #[error("a reversal needs the receipt's reference")]
    ReceiptMissing,
    #[error("the counted cash differs from the drawer's takings by {difference}: say why")]
    ReasonMissing { difference: Money },
    #[error("no card {0}")]
    NoCard(i64),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}

impl From<Denied> for DeskError {
    fn from(d: Denied) -> Self {
        DeskError::Ledger(d.into())
    }
}

impl From<sqlx::Error> for DeskError {
    fn from(e: sqlx::Error) -> Self {
        DeskError::Ledger(e.into())
    }
}

/// What a movement's detail row says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    pub desk_id: Option<i64>,
    pub channel: Option<&'static str>,
    pub channel_name: String,
    pub reverses: Option<i64>,
    pub receipt: String,
}

impl Detail {
    pub fn cash(desk_id: i64) -> Detail {
        Detail {
            desk_id: Some(desk_id),
            channel: Some("cash"),
            ..Detail::default()
        }
    }
}

/// Writes a movement's detail row, in its transaction.
pub async fn record(
    tx: &mut PgConnection,
    movement_id: i64,
    d: &Detail,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO movement_detail (movement_id, desk_id, channel, channel_name,
                                      reverses_entry_id, receipt)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(movement_id)
    .bind(d.desk_id)
    .bind(d.channel)
    .bind(&d.channel_name)
    .bind(d.reverses)
    .bind(&d.receipt)
    .execute(tx)
    .await?;
    Ok(())
}

const DESK_COLUMNS: &str = "id, name, drawer_account_id, desk_reader_id";

/// The first desk (the one whose drawer is the old `cash` account): where a console without a
/// desk of its own works.
pub async fn first_desk(tx: &mut PgConnection) -> Result<Desk, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DESK_COLUMNS} FROM desk
         WHERE drawer_account_id = (SELECT id FROM account WHERE kind = 'cash')"
    ))
    .fetch_one(tx)
    .await
}

/// Every desk, the first first.
pub async fn desks(pool: &PgPool) -> Result<Vec<Desk>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {DESK_COLUMNS} FROM desk ORDER BY id"))
        .fetch_all(pool)
        .await
}

/// The desk by name; None: the first desk.
pub async fn find(tx: &mut PgConnection, name: Option<&str>) -> Result<Desk, DeskError> {
    let Some(name) = name else {
        return Ok(first_desk(tx).await?);
    };
    sqlx::query_as(&format!("SELECT {DESK_COLUMNS} FROM desk WHERE name = $1"))
        .bind(name)
        .fetch_optional(tx)
        .await?
        .ok_or_else(|| DeskError::NoDesk(name.to_string()))
}

/// The desk a console at this desk reader works at: the reader's desk, else the first.
pub async fn of_reader(pool: &PgPool, desk_reader_id: Option<i64>) -> Result<Desk, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if let Some(reader) = desk_reader_id {
        let desk: Option<Desk> = sqlx::query_as(&format!(
            "SELECT {DESK_COLUMNS} FROM desk WHERE desk_reader_id = $1"
        ))
        .bind(reader)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(d) = desk {
            return Ok(d);
        }
    }
    first_desk(&mut conn).await
}

fn checked_text(text: &str) -> Result<String, DeskError> {
    let t = text.trim();
    if t.chars().count() > MAX_TEXT || t.chars().any(char::is_control) {
        return Err(DeskError::TextInvalid(t.to_string()));
    }
    Ok(t.to_string())
}

/// Opens a desk with a drawer of its own, optionally tied to a desk reader. A setting.
pub async fn add_desk(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    desk_reader_id: Option<i64>,
) -> Result<Desk, DeskError> {
    actor.authorize(Action::SettingChange)?;
    let name = checked_text(name)?;
    if name.is_empty() {
        return Err(DeskError::TextInvalid(name));
    }
    let mut tx = pool.begin().await?;
    if find(&mut tx, Some(&name)).await.is_ok() {
        return Err(DeskError::DeskExists(name));
    }
    let drawer: i64 = sqlx::query_scalar(
        "INSERT INTO account (kind, name, asset) VALUES ('drawer', $1, true) RETURNING id",
    )
    .bind(format!("{name} cash"))
    .fetch_one(&mut *tx)
    .await?;
    let desk: Desk = sqlx::query_as(&format!(
        "INSERT INTO desk (name, drawer_account_id, desk_reader_id) VALUES ($1, $2, $3)
         RETURNING {DESK_COLUMNS}"
    ))
    .bind(&name)
    .bind(drawer)
    .bind(desk_reader_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DeskError::DeskExists(name.clone()),
        _ => e.into(),
    })?;
    audit::append(
        &mut tx,
        actor,
        "desk.add",
        "desk",
        &desk.id.to_string(),
        None,
        Some(json!({ "name": desk.name, "drawer_account_id": drawer, "desk_reader_id": desk_reader_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(desk)
}

/// The clearing account of another channel, created at its first use.
async fn channel_account(tx: &mut PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    // Two desks naming a new channel at once: one inserts, the other finds it.
    sqlx::query(
        "INSERT INTO account (kind, name, asset) VALUES ('channel_clearing', $1, true)
         ON CONFLICT (name) WHERE kind = 'channel_clearing' DO NOTHING",
    )
    .bind(name)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar("SELECT id FROM account WHERE kind = 'channel_clearing' AND name = $1")
        .bind(name)
        .fetch_one(&mut *tx)
        .await
}

/// 圈存 at a desk (None: the first desk) by a channel.
pub async fn top_up(
    pool: &PgPool,
    actor: &Actor,
    desk: Option<&str>,
    person_id: i64,
    amount: Money,
    channel: &Channel,
    note: &str,
) -> Result<TopUp, DeskError> {
    actor.authorize(Action::AccountTopUp)?;
    ledger::check_amount(amount)?;
    let channel_name = match channel {
        Channel::Other(name) => {
            let name = checked_text(name)?;
            if name.is_empty() {
                return Err(DeskError::ChannelNameMissing);
            }
            name
        }
        _ => String::new(),
    };
    let note = checked_text(note)?;
    let mut tx = pool.begin().await?;
    let desk = find(&mut tx, desk).await?;
    let from = match channel {
        Channel::Cash => desk.drawer_account_id,
        Channel::Bank => ledger::system_account(&mut tx, SystemAccount::BankClearing).await?,
        Channel::Other(_) => channel_account(&mut tx, &channel_name).await?,
    };
    let t = ledger::credit_cardholder(
        &mut tx,
        actor,
        MovementKind::TopUp,
        person_id,
        from,
        amount,
        &note,
    )
    .await?;
    let detail = Detail {
        desk_id: Some(desk.id),
        channel: Some(channel.key()),
        channel_name,
        ..Detail::default()
    };
    record(&mut tx, t.movement_id, &detail).await?;
    tx.commit().await?;
    Ok(t)
}

/// Pays (part of) a person's balance out in cash from the desk's drawer (None: the first
/// desk): never more than the balance, nor than the drawer holds.
pub async fn refund(
    pool: &PgPool,
    actor: &Actor,
    desk: Option<&str>,
    person_id: i64,
    amount: Money,
    note: &str,
) -> Result<TopUp, DeskError> {
    actor.authorize(Action::AccountTopUp)?;
    ledger::check_amount(amount)?;
    let note = checked_text(note)?;
    let mut tx = pool.begin().await?;
    let desk = find(&mut tx, desk).await?;
    let account = ledger::cardholder_account(&mut tx, person_id).await?;
    let drawer = desk.drawer_account_id;
    let balances = ledger::lock_accounts(&mut tx, &[account, drawer]).await?;
    let balance = balances[&account];
    if balance < amount {
        return Err(DeskError::InsufficientBalance {
            balance,
            needed: amount,
        });
    }
    // The drawer's cash is minus its balance (an asset).
    let holds = -balances[&drawer];
    if holds < amount {
        return Err(DeskError::DrawerShort {
            holds,
            needed: amount,
        });
    }
    let card_id = ledger::card_in_service(&mut tx, person_id).await?;
    let movement_id = ledger::post(
        &mut tx,
        actor,
        MovementKind::Refund,
        card_id,
        &note,
        &[(account, amount), (drawer, -amount)],
    )
    .await?;
    record(&mut tx, movement_id, &Detail::cash(desk.id)).await?;
    Change::cards(card_id.into_iter().collect())
        .send(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(TopUp {
        movement_id,
        balance: balance - amount,
    })
}

/// The purchase a correction is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseRef {
    /// The purchase's number: its payer's ledger entry, as the statement shows it.
    Purchase(i64),
    /// The POS and its own transaction number (on the receipt); written `terminal/txn_no`.
    Terminal { terminal_id: i64, txn_no: i64 },
}

impl std::fmt::Display for PurchaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PurchaseRef::Purchase(id) => write!(f, "#{id}"),
            PurchaseRef::Terminal {
                terminal_id,
                txn_no,
            } => write!(f, "{terminal_id}/{txn_no}"),
        }
    }
}

/// A POS by its name or id, as an operator types it from a receipt.
pub async fn find_pos(pool: &PgPool, text: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM terminal WHERE kind = 'pos' AND (name = $1 OR id::text = $1)
         ORDER BY (name = $1) DESC, id LIMIT 1",
    )
    .bind(text.trim())
    .fetch_optional(pool)
    .await
}

/// What a reversal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversed {
    pub movement_id: i64,
    pub purchase_id: i64,
    pub amount: Money,
    /// The cardholder's balance afterwards.
    pub balance: Money,
}

/// An overcharge, reversed at the centre against the original purchase with the receipt's
/// reference: `amount` (None: the whole purchase, never more) back from the merchant to the
/// cardholder, once per purchase. Only a role with `AccountCorrection`.
pub async fn reverse_purchase(
    pool: &PgPool,
    actor: &Actor,
    purchase: PurchaseRef,
    amount: Option<Money>,
    receipt: &str,
    note: &str,
) -> Result<Reversed, DeskError> {
    actor.authorize(Action::AccountCorrection)?;
    let receipt = checked_text(receipt)?;
    if receipt.is_empty() {
        return Err(DeskError::ReceiptMissing);
    }
    let note = checked_text(note)?;
    if let Some(a) = amount {
        ledger::check_amount(a)?;
    }
    let mut tx = pool.begin().await?;
    let (by_id, terminal_id, txn_no) = match purchase {
        PurchaseRef::Purchase(id) => (Some(id), None, None),
        PurchaseRef::Terminal {
            terminal_id,
            txn_no,
        } => (None, Some(terminal_id), Some(txn_no)),
    };
    // The purchase is its payer's traced entry; a receipt's number is of the POS's current
    // numbering. A lock on the purchase (below; not a row lock: the ledger is not the console's
    // to update) makes two reversals of one purchase queue; the second finds the first.
    let found: Option<(i64, Option<i64>, i64, Money, i64)> = sqlx::query_as(
        "SELECT e.id, e.card_id, e.account_id, e.amount, me.account_id
         FROM ledger_entry e
         JOIN account ca ON ca.id = e.account_id AND ca.kind = 'cardholder'
         JOIN ledger_entry me ON me.movement_id = e.movement_id AND me.txn_no IS NULL
         JOIN account ma ON ma.id = me.account_id AND ma.kind = 'merchant'
         WHERE e.txn_no IS NOT NULL
           AND (e.id = $1 OR (e.terminal_id = $2 AND e.txn_no = $3
                              AND e.txn_epoch = (SELECT record_base FROM terminal WHERE id = $2)))",
    )
    .bind(by_id)
    .bind(terminal_id)
    .bind(txn_no)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((purchase_id, card_id, cardholder, original, merchant)) = found else {
        return Err(DeskError::NoPurchase(purchase.to_string()));
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('reversal ' || $1::text, 0))")
        .bind(purchase_id)
        .execute(&mut *tx)
        .await?;
    if let Some(by) = sqlx::query_scalar::<_, i64>(
        "SELECT movement_id FROM movement_detail WHERE reverses_entry_id = $1",
    )
    .bind(purchase_id)
    .fetch_optional(&mut *tx)
    .await?
    {
        return Err(DeskError::AlreadyReversed {
            purchase: purchase_id,
            by,
        });
    }
    let amount = amount.unwrap_or(original);
    if amount > original {
        return Err(DeskError::OverReversal {
            original,
            asked: amount,
        });
    }
    let text = if note.is_empty() {
        format!("reversal of purchase #{purchase_id}, receipt {receipt}")
    } else {
        format!("reversal of purchase #{purchase_id}, receipt {receipt}: {note}")
    };
    let movement_id = ledger::post(
        &mut tx,
        actor,
        MovementKind::Correction,
        card_id,
        &text,
        &[(merchant, amount), (cardholder, -amount)],
    )
    .await?;
    let detail = Detail {
        reverses: Some(purchase_id),
        receipt,
        ..Detail::default()
    };
    record(&mut tx, movement_id, &detail).await?;
    let balance = ledger::balance_of(&mut tx, cardholder).await?;
    Change::cards(card_id.into_iter().collect())
        .send(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Reversed {
        movement_id,
        purchase_id,
        amount,
        balance,
    })
}
