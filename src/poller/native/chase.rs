//! Missing transaction numbers chased (§8.8): after a POS's upload, the numbers it skipped are
//! read from its journal with READ_TXN, never guessed. A sale found there is stored as the
//! record it is (and so posted, and the number found); a void number is no longer missing; one
//! the journal cannot speak for stays listed.

use super::NativeLine;
use crate::db::ingest;
use crate::db::pos;
use crate::poller::line::{Ctx, PollError, Term};
use crate::terminal::native::TxnState;

/// Numbers chased in one visit: a POS whose counter jumped by thousands is read a little at a
/// time, between its other work.
const PER_VISIT: i64 = 20;

impl NativeLine {
    /// Reads the journal of machine `addr` for the numbers missing from its uploads. A POS that
    /// cannot answer (an older firmware NAKs READ_TXN, a dropped reply) is asked again after
    /// its next upload; nothing is marked for it.
    pub(super) async fn chase(
        &mut self,
        ctx: &mut Ctx,
        t: &Term,
        addr: u8,
    ) -> Result<(), PollError> {
        for txn in pos::to_chase(&ctx.pool, t.row.id, PER_VISIT).await? {
            let Ok(n) = u32::try_from(txn) else {
                pos::chased(&ctx.pool, t.row.id, txn, "unknown").await?;
                continue;
            };
            let said = match self.bus().await?.read_txn(addr, n).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!(terminal = %t.row.name, txn, "the journal was not read: {e}");
                    return Ok(());
                }
            };
            let word = match said {
                TxnState::Sold(r) if r.txn_no == n && r.amount_fen > 0 => {
                    let row = super::purchase_row(t.base, &r);
                    // No bookmark: the record may still wait in its upload memory, and is
                    // then read again there and stored once.
                    let stored = ingest::store_purchases(&ctx.pool, t.row.id, &[row], None).await?;
                    ctx.stored(&stored);
                    "sold"
                }
                // A record for another number, or of nothing: the journal is not believed.
                TxnState::Sold(_) | TxnState::Unknown => "unknown",
                TxnState::Void => "void",
            };
            tracing::info!(terminal = %t.row.name, txn, word, "missing transaction chased");
            pos::chased(&ctx.pool, t.row.id, txn, word).await?;
        }
        Ok(())
    }
}
