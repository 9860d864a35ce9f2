-- POS purchases uploaded after the fact are posted too (issue 11, "POS, offline").

-- A purchase by a card onecard does not know (an offline POS knows only its blacklist) is owed
-- by nobody yet: its debit waits in one suspense account, what the centre is owed, until
-- someone finds whose it is.
ALTER TABLE account DROP CONSTRAINT account_kind_check;
ALTER TABLE account ADD CONSTRAINT account_kind_check
    CHECK (kind IN ('cardholder', 'cash', 'fee_income', 'forfeited_balance', 'merchant', 'suspense'));
INSERT INTO account (kind, name, asset) VALUES ('suspense', 'purchases by unknown cards', true);

-- An offline purchase that overdraws an account is booked anyway; the card is on every POS's
-- blacklist until a top-up brings the balance back to zero or more.
ALTER TABLE card ADD COLUMN overdrawn boolean NOT NULL DEFAULT false;

-- Transaction numbers a POS skipped: each is chased (its record may still come in an upload)
-- and never guessed. `found_at` is set when the transaction turns up after all.
CREATE TABLE pos_txn_missing (
    terminal_id bigint NOT NULL REFERENCES terminal (id),
    txn_epoch   bigint NOT NULL,
    txn_no      bigint NOT NULL,
    noticed_at  timestamptz NOT NULL DEFAULT now(),
    found_at    timestamptz,
    PRIMARY KEY (terminal_id, txn_epoch, txn_no)
);
CREATE INDEX pos_txn_missing_open ON pos_txn_missing (terminal_id) WHERE found_at IS NULL;
