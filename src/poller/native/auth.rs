//! Online authorisation at a POS: its POLL says AUTH_PENDING, the poller reads the request,
//! onecard decides and posts it (`db::pos`), and the answer goes back. A lost answer is sent
//! again (same SEQ, from the device's cache); a request read again after a crash gets the
//! answer kept in the database, so nothing is posted twice.

use super::NativeLine;
use crate::db::pos::{self, AuthRequest, Decline};
use crate::domain::money::Money;
use crate::poller::line::{Ctx, PollError, Term};
use crate::terminal::native::message::{cmd, PendingAuth, PIN_LEN};
use crate::terminal::native::{AuthResult, DenyReason};

/// The reason the POS shows for onecard's decline.
fn deny_reason(d: Decline) -> DenyReason {
    match d {
        Decline::InsufficientBalance => DenyReason::InsufficientBalance,
        Decline::Blacklisted => DenyReason::Blacklisted,
        Decline::OverLimitNoPin => DenyReason::PinRequired,
        Decline::WrongPin => DenyReason::WrongPin,
        Decline::DailyCount => DenyReason::DailyCountReached,
        Decline::UnknownCard => DenyReason::UnknownCard,
        Decline::CardNotValid => DenyReason::CardNotValid,
        Decline::NotForPos => DenyReason::NotForPos,
        Decline::NoMerchant => DenyReason::NotInService,
    }
}

/// The purchase's (terminal, epoch, transaction) is in the books already.
fn posted_already(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some(ONE_PURCHASE))
}

/// The unique index of one posting per terminal, epoch and transaction number.
const ONE_PURCHASE: &str = "ledger_entry_one_purchase";

impl NativeLine {
    /// Answers the authorisation machine `addr` waits for, if it still does.
    pub(super) async fn answer_pending(
        &mut self,
        ctx: &mut Ctx,
        t: &Term,
        addr: u8,
    ) -> Result<(), PollError> {
        let Some(p) = self.bus().await?.auth_request(addr).await? else {
            return Ok(());
        };
        let req = AuthRequest {
            terminal_id: t.row.id,
            txn_no: i64::from(p.txn_no),
            card: i64::from(p.card),
            amount: Money::from_fen(i64::from(p.amount_fen)),
            pin: p.pin.clone(),
        };
        // An upload that posted this number between the look-up and the posting: asked again,
        // `authorise` finds that posting and answers by it.
        let first = pos::authorise(&ctx.pool, &req).await;
        let again = match first {
            Err(e) if posted_already(&e) => pos::authorise(&ctx.pool, &req).await,
            other => other,
        };
        let result = match again {
            Ok(a) => AuthResult {
                txn_no: p.txn_no,
                denied: a.declined.map(deny_reason),
                balance_fen: a
                    .balance
                    .to_fen()
                    .map(|f| f.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
                    .unwrap_or(0),
            },
            // Still refused: retrying can never succeed and the POS would wait for ever, so it
            // is declined like any number used again (§8.5).
            Err(e) if posted_already(&e) => {
                tracing::warn!(
                    terminal = %t.row.name,
                    txn = p.txn_no,
                    "a transaction number already posted by an upload: declined"
                );
                AuthResult {
                    txn_no: p.txn_no,
                    denied: Some(DenyReason::NotInService),
                    balance_fen: 0,
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.bus().await?.auth_result(addr, result).await?;
        Ok(())
    }

    /// The payment PIN in an AUTH_REQUEST reply, blanked for the frame trace (which technicians
    /// read): `*` over its digits.
    pub(super) fn mask_pin(frame: &mut [u8]) {
        // SOM, address, length (2), control, CMD, then DATA.
        const DATA: usize = 6;
        const PIN_AT: usize = DATA + 1 + 4 + 4 + 4;
        if frame.len() >= DATA + PendingAuth::LEN
            && frame[5] == cmd::AUTH_REQUEST
            && frame[DATA] == 1
        {
            frame[PIN_AT..PIN_AT + PIN_LEN].fill(b'*');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terminal::native::{Frame, Reply};

    #[test]
    fn the_trace_never_shows_a_payment_pin() {
        let pending = PendingAuth {
            txn_no: 7,
            card: 8_165_500,
            amount_fen: 6000,
            pin: Some("482916".into()),
            at: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_opt(12, 1, 0)
                .unwrap(),
        };
        let frame = Frame {
            addr: 3,
            seq: 1,
            reply: true,
            cmd: cmd::AUTH_REQUEST,
            data: Reply::Pending(Some(pending)).encode(),
        };
        let mut bytes = frame.encode().unwrap();
        assert!(bytes.windows(6).any(|w| w == b"482916"));
        NativeLine::mask_pin(&mut bytes);
        assert!(!bytes.windows(6).any(|w| w == b"482916"));
        assert!(bytes.windows(6).any(|w| w == b"******"));
        // Anything else passes untouched.
        let mut poll = Frame {
            addr: 3,
            seq: 1,
            reply: false,
            cmd: cmd::POLL,
            data: vec![],
        }
        .encode()
        .unwrap();
        let before = poll.clone();
        NativeLine::mask_pin(&mut poll);
        assert_eq!(poll, before);
    }
}
