//! READ_TXN: what the POS's journal says about one of its transaction numbers, for the host
//! chasing a number missing from the records it received (§8.8).

use super::{bad, DecodeError, PurchaseRecord, Rd};

/// The journal's word on a transaction number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// The number was used for no sale (voided, skipped).
    Void,
    /// A sale: its record, which may have left the upload memory already.
    Sold(PurchaseRecord),
    /// Older than the journal, or not issued yet: the POS cannot say.
    Unknown,
}

impl TxnState {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TxnState::Void => out.push(0),
            TxnState::Sold(r) => {
                out.push(1);
                r.encode(out);
            }
            TxnState::Unknown => out.push(2),
        }
    }

    pub(super) fn read(r: &mut Rd<'_>) -> Result<TxnState, DecodeError> {
        Ok(match r.u8()? {
            0 => TxnState::Void,
            1 => TxnState::Sold(PurchaseRecord::read(r)?),
            2 => TxnState::Unknown,
            s => return Err(bad(format!("transaction state {s}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{cmd, PurchaseMode, Reply, Request};
    use super::*;

    #[test]
    fn read_txn_round_trips_and_refuses_a_state_it_does_not_know() {
        let sold = TxnState::Sold(PurchaseRecord {
            record_no: 7,
            at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(12, 5, 0)
                .unwrap(),
            card: 8_165_500,
            amount_fen: 1250,
            balance_after_fen: 0,
            txn_no: 42,
            meal_slot: 2,
            mode: PurchaseMode::Offline,
        });
        for s in [TxnState::Void, sold, TxnState::Unknown] {
            let data = Reply::Txn(s).encode();
            assert!(data.len() <= Request::ReadTxn(42).max_reply_data());
            assert_eq!(Reply::decode(cmd::READ_TXN, &data).unwrap(), Reply::Txn(s));
        }
        let req = Request::ReadTxn(42);
        assert_eq!(
            Request::decode(cmd::READ_TXN, &req.encode()).unwrap(),
            Some(req)
        );
        assert!(Reply::decode(cmd::READ_TXN, &[3]).is_err());
        assert!(Reply::decode(cmd::READ_TXN, &[1, 0, 0]).is_err());
        assert!(Reply::decode(cmd::READ_TXN, &[0, 0]).is_err());
    }
}
