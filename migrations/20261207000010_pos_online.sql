-- POS purchases in the books (issue 11): merchants, their accounts, and online authorisation.

-- 商户: a canteen or shop that accepts the card. It applies, is approved, and owns terminals.
CREATE TABLE merchant (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    state           text NOT NULL DEFAULT 'applied'
                    CHECK (state IN ('applied', 'approved', 'suspended', 'closed')),
    -- the centre's share of sales, 0.0250 = 2.5 %
    commission_rate numeric(5, 4) NOT NULL DEFAULT 0 CHECK (commission_rate >= 0 AND commission_rate < 1),
    applied_at      timestamptz NOT NULL DEFAULT now(),
    approved_at     timestamptz,
    approved_by     text
);
ALTER TABLE terminal ADD COLUMN merchant_id bigint REFERENCES merchant (id);

-- A merchant's account. Its takings are derived from its entries when a period is settled:
-- purchases do not write its `balance` row, which every purchase of a busy canteen would
-- otherwise queue on.
ALTER TABLE account ADD COLUMN merchant_id bigint UNIQUE REFERENCES merchant (id);
ALTER TABLE account DROP CONSTRAINT account_kind_check;
ALTER TABLE account ADD CONSTRAINT account_kind_check
    CHECK (kind IN ('cardholder', 'cash', 'fee_income', 'forfeited_balance', 'merchant'));
ALTER TABLE account ADD CONSTRAINT account_merchant_check CHECK ((kind = 'merchant') = (merchant_id IS NOT NULL));
DROP INDEX account_one_system;
CREATE UNIQUE INDEX account_one_system ON account (kind) WHERE kind NOT IN ('cardholder', 'merchant');

-- A purchase is a movement traced to its terminal and the terminal's transaction number, not
-- to an operator: no audit row (those are for operators' actions).
ALTER TABLE ledger_movement DROP CONSTRAINT ledger_movement_kind_check;
ALTER TABLE ledger_movement ADD CONSTRAINT ledger_movement_kind_check
    CHECK (kind IN ('top_up', 'fee', 'refund', 'forfeit', 'correction', 'purchase'));
-- A POS numbers its transactions anew when it is reset or swapped; `txn_epoch` is the
-- terminal's record_base then (it moves at every restart onecard notices), so an old number
-- used again is another transaction.
ALTER TABLE ledger_movement ADD COLUMN terminal_id bigint REFERENCES terminal (id);
ALTER TABLE ledger_movement ADD COLUMN txn_epoch bigint;
ALTER TABLE ledger_movement ADD COLUMN txn_no bigint;
ALTER TABLE ledger_movement ADD CONSTRAINT ledger_movement_purchase_traced
    CHECK ((kind = 'purchase') = (terminal_id IS NOT NULL AND txn_epoch IS NOT NULL AND txn_no IS NOT NULL));
-- Each POS transaction is posted once, whether it came online or in an upload.
CREATE UNIQUE INDEX ledger_movement_one_purchase ON ledger_movement (terminal_id, txn_epoch, txn_no)
    WHERE kind = 'purchase';
-- The daily purchase count of a card.
CREATE INDEX ledger_movement_card_purchases ON ledger_movement (card_id, at) WHERE kind = 'purchase';

-- What onecard answered each online authorisation: a retried request (same terminal and
-- transaction number) gets the same answer and posts nothing twice.
CREATE TABLE pos_authorisation (
    terminal_id   bigint NOT NULL REFERENCES terminal (id),
    txn_epoch     bigint NOT NULL,
    txn_no        bigint NOT NULL,
    card          bigint NOT NULL,
    amount        numeric(14, 2) NOT NULL CHECK (amount > 0),
    result        text NOT NULL CHECK (result IN (
                      'approved', 'insufficient_balance', 'blacklisted', 'over_limit_no_pin',
                      'wrong_pin', 'daily_count', 'unknown_card', 'card_not_valid',
                      'not_for_pos', 'no_merchant')),
    -- the balance the POS shows: after the purchase, or as it stands when declined
    balance       numeric(14, 2) NOT NULL,
    movement_id   bigint REFERENCES ledger_movement (id),
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, txn_epoch, txn_no),
    CHECK ((result = 'approved') = (movement_id IS NOT NULL))
);
