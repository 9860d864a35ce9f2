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
