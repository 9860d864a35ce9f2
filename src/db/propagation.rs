//! What each terminal must accept for each card, and the commands that tell it. (Being built:
//! the signatures below are the contract `db::card` and the console build on.)

use crate::domain::permission::Actor;
use sqlx::{PgConnection, PgPool};

/// What `sync_card` queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Terminal commands queued (one per terminal whose stance on the card changed).
    pub queued: usize,
}

/// Brings every terminal's stance on a card in line with the card as it now is in the
/// database (state, validity, subsystems, grants), in the caller's transaction: queues a
/// command for every terminal that must change and records it in `card_sync`. Called by every
/// card transition after it wrote the card.
pub async fn sync_card(
    _tx: &mut PgConnection,
    _actor: &Actor,
    _card_id: i64,
) -> Result<SyncSummary, sqlx::Error> {
    Ok(SyncSummary::default())
}

/// One terminal that has not confirmed a card yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub terminal_id: i64,
    pub terminal_name: String,
    /// accept or refuse
    pub stance: String,
    /// The command's state: queued, running, failed or unknown.
    pub command_state: String,
    /// The terminal's answer when it failed.
    pub result: Option<String>,
}

/// How far a card's last change has reached the terminals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmations {
    pub confirmed: usize,
    pub total: usize,
    pub pending: Vec<Pending>,
}

pub async fn confirmations(_pool: &PgPool, _card_id: i64) -> Result<Confirmations, sqlx::Error> {
    Ok(Confirmations::default())
}
