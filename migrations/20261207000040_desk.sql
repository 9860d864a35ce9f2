-- The card desk's money (issue 11, "Desk operations"): desks with their own cash drawers,
-- top-ups by channel, the accounts the other channels and subsidies come from, shift closes,
-- reversals of overcharged purchases, and subsidy batches.

-- New account kinds. `drawer`: a desk's cash drawer (the first desk keeps the old `cash` row,
-- so every earlier movement stays where it was). `bank_clearing`: bank transfers received and
-- not yet cleared. `channel_clearing`: one per other channel, named by it (WeChat, Alipay, a
-- campus kiosk...). `subsidy_funding`: what the college pays subsidies (补贴) from. All four
-- hold or are owed money for the centre, so they are assets: their balance runs negative.
ALTER TABLE account DROP CONSTRAINT account_kind_check;
ALTER TABLE account ADD CONSTRAINT account_kind_check
    CHECK (kind IN ('cardholder', 'cash', 'fee_income', 'forfeited_balance', 'merchant',
                    'suspense', 'drawer', 'bank_clearing', 'channel_clearing', 'subsidy_funding'));
DROP INDEX account_one_system;
CREATE UNIQUE INDEX account_one_system ON account (kind)
    WHERE kind NOT IN ('cardholder', 'merchant', 'drawer', 'channel_clearing');
CREATE UNIQUE INDEX account_channel_name ON account (name) WHERE kind = 'channel_clearing';
INSERT INTO account (kind, name, asset) VALUES
    ('bank_clearing', 'bank transfers', true),
    ('subsidy_funding', 'subsidy funding', true);

-- A card desk (a window of the card centre) and its cash drawer. A console works at the desk
-- of its desk reader (`ui.desk_reader`), or at the first desk.
CREATE TABLE desk (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name <> ''),
    drawer_account_id bigint NOT NULL UNIQUE REFERENCES account (id),
    desk_reader_id    bigint UNIQUE REFERENCES terminal (id),
    created_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO desk (name, drawer_account_id, created_at)
    SELECT 'card desk', id, created_at FROM account WHERE kind = 'cash';

-- What the desk recorded about a movement besides its entries: the desk, the channel money
-- came in by, the purchase a correction reverses (once: the unique key) and its receipt.
-- Written in the movement's transaction; history, like the entries.
CREATE TABLE movement_detail (
    movement_id          bigint PRIMARY KEY REFERENCES ledger_movement (id),
    desk_id              bigint REFERENCES desk (id),
    channel              text CHECK (channel IN ('cash', 'bank', 'other', 'subsidy')),
    -- the other channel's name, or the subsidy batch id
    channel_name         text NOT NULL DEFAULT '',
    reverses_movement_id bigint UNIQUE REFERENCES ledger_movement (id),
    receipt              text NOT NULL DEFAULT '',
    CHECK (channel IS DISTINCT FROM 'other' OR channel_name <> ''),
    CHECK ((reverses_movement_id IS NULL) = (receipt = ''))
);
CREATE INDEX movement_detail_desk ON movement_detail (desk_id);
CREATE TRIGGER movement_detail_append_only BEFORE UPDATE OR DELETE ON movement_detail
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- A closed shift of a desk: the cash its drawer took (its entries after the previous close,
-- up to `last_entry_id`) against what the operator counted, and why they differ.
CREATE TABLE desk_shift (
    id            bigserial PRIMARY KEY,
    desk_id       bigint NOT NULL REFERENCES desk (id),
    opened_at     timestamptz NOT NULL,
    closed_at     timestamptz NOT NULL DEFAULT now(),
    last_entry_id bigint NOT NULL,
    expected      numeric(14,2) NOT NULL,
    counted       numeric(14,2) NOT NULL CHECK (counted >= 0),
    difference    numeric(14,2) GENERATED ALWAYS AS (counted - expected) STORED,
    reason        text NOT NULL DEFAULT '',
    operator_id   bigint REFERENCES operator (id),
    actor         text NOT NULL,
    CHECK (counted = expected OR reason <> '')
);
CREATE INDEX desk_shift_desk ON desk_shift (desk_id, id);

-- A subsidy batch, paid once: loading the same batch id again pays nothing.
CREATE TABLE subsidy_batch (
    batch_id    text PRIMARY KEY CHECK (batch_id <> ''),
    file        text NOT NULL,
    sha256      text NOT NULL,
    persons     integer NOT NULL CHECK (persons > 0),
    total       numeric(14,2) NOT NULL CHECK (total > 0),
    movement_id bigint NOT NULL UNIQUE REFERENCES ledger_movement (id),
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE subsidy_payment (
    batch_id  text NOT NULL REFERENCES subsidy_batch (batch_id),
    person_id bigint NOT NULL REFERENCES person (id),
    amount    numeric(14,2) NOT NULL CHECK (amount > 0),
    line      integer NOT NULL,
    PRIMARY KEY (batch_id, person_id)
);
