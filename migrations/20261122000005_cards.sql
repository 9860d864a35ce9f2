-- The card desk (发行, 挂失, 补卡, 换卡, 退卡, 延期), the accounts' double-entry ledger, blank card
-- stock, fees, and what each terminal must accept for each card. Names as in DOMAIN.md.

-- People: staff, student or other; an ID document; a status (a person who left keeps history).
ALTER TABLE person DROP CONSTRAINT person_category_check;
UPDATE person SET category = 'other' WHERE category = 'visitor';
ALTER TABLE person ADD CONSTRAINT person_category_check CHECK (category IN ('staff', 'student', 'other'));
ALTER TABLE person
    ADD COLUMN id_document text NOT NULL DEFAULT '',
    ADD COLUMN status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'left')),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
CREATE INDEX person_name ON person (name);

-- Card kinds and their policies; rows are settings (changed with an audit row).
CREATE TABLE card_kind (
    kind               text PRIMARY KEY CHECK (kind IN ('staff', 'student', 'temporary')),
    -- temporary cards only pay: no doors, no attendance
    doors              boolean NOT NULL,
    attendance         boolean NOT NULL,
    -- on return/cancel the balance is kept (the college's rule) or refunded in cash
    balance_on_return  text NOT NULL CHECK (balance_on_return IN ('kept', 'refunded')),
    per_purchase_limit numeric(14,2) NOT NULL CHECK (per_purchase_limit > 0),
    daily_count_limit  integer NOT NULL CHECK (daily_count_limit > 0),
    -- longest validity one issue or one extension may give; NULL: no limit
    max_validity_days  integer CHECK (max_validity_days > 0),
    issue_fee          numeric(14,2) NOT NULL DEFAULT 0 CHECK (issue_fee >= 0),
    reissue_fee        numeric(14,2) NOT NULL DEFAULT 0 CHECK (reissue_fee >= 0),
    exchange_fee       numeric(14,2) NOT NULL DEFAULT 0 CHECK (exchange_fee >= 0)
);
INSERT INTO card_kind VALUES
    ('staff',     true,  true,  'kept', 50.00, 20, NULL, 0.00, 20.00, 20.00),
    ('student',   true,  true,  'kept', 30.00, 10, NULL, 0.00, 20.00, 20.00),
    ('temporary', false, false, 'kept', 30.00, 10, 365,  20.00, 20.00, 20.00);

-- Accounts: one per person (created at the person's first issue) and the centre's own.
-- Entries are signed, debit positive; every movement's entries sum to zero. A cardholder's
-- balance is what the centre owes: minus the sum of the account's entries.
CREATE TABLE account (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('cardholder', 'cash', 'fee_income', 'forfeited_balance')),
    person_id  bigint UNIQUE REFERENCES person (id),
    name       text NOT NULL,
    -- kept in the movement's transaction; always minus the sum of the entries (cardholder view)
    balance    numeric(14,2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'cardholder') = (person_id IS NOT NULL))
);
CREATE UNIQUE INDEX account_one_system ON account (kind) WHERE kind <> 'cardholder';
INSERT INTO account (kind, name) VALUES
    ('cash', 'card desk cash'), ('fee_income', 'fee income'), ('forfeited_balance', 'balances kept on return');

CREATE TABLE ledger_movement (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('top_up', 'fee', 'refund', 'forfeit', 'correction')),
    card_id     bigint,
    note        text NOT NULL DEFAULT '',
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entry (
    id          bigserial PRIMARY KEY,
    movement_id bigint NOT NULL REFERENCES ledger_movement (id),
    account_id  bigint NOT NULL REFERENCES account (id),
    amount      numeric(14,2) NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entry_account ON ledger_entry (account_id, id);
CREATE INDEX ledger_entry_movement ON ledger_entry (movement_id);

-- The books balance: checked at commit, so a movement's entries may be inserted one by one.
CREATE FUNCTION ledger_movement_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    SELECT coalesce(sum(amount), 0) INTO total FROM ledger_entry WHERE movement_id = NEW.movement_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger movement % does not balance: its entries sum to %', NEW.movement_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_movement_balances AFTER INSERT OR UPDATE ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_movement_balances();

-- Entries are history: never edited, never deleted (a mistake is corrected by a new movement).
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: correct a movement with a new one'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_movement_append_only BEFORE UPDATE OR DELETE ON ledger_movement
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Door groups: named sets of doors an issue grants in one pick.
CREATE TABLE door_group (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);
CREATE TABLE door_group_door (
    door_group_id bigint NOT NULL REFERENCES door_group (id),
    terminal_id   bigint NOT NULL REFERENCES terminal (id),
    door          smallint NOT NULL CHECK (door BETWEEN 1 AND 4),
    PRIMARY KEY (door_group_id, terminal_id, door)
);

-- Cards. A card number belongs to one card for ever: a lost, replaced, surrendered or
-- cancelled card is never issued again.
--   active --report_lost--> lost --report_found--> active
--   lost --reissue--> replaced (blacklisted for ever; the new card is active)
--   active --exchange--> surrendered (the new card is active)
--   active | lost --return/cancel--> cancelled
CREATE TABLE card (
    id                 bigserial PRIMARY KEY,
    card_no            bigint NOT NULL UNIQUE CHECK (card_no BETWEEN 1 AND 4294967295),
    person_id          bigint NOT NULL REFERENCES person (id),
    kind               text NOT NULL REFERENCES card_kind (kind),
    state              text NOT NULL DEFAULT 'active'
                       CHECK (state IN ('active', 'lost', 'replaced', 'surrendered', 'cancelled')),
    -- subsystems this card may use: any of door, pos, attendance
    subsystems         text[] NOT NULL DEFAULT '{pos}',
    valid_from         date NOT NULL,
    valid_until        date NOT NULL,
    issued_at          timestamptz NOT NULL DEFAULT now(),
    issued_by          text NOT NULL,
    lost_at            timestamptz,
    -- the card this one replaced (reissue, exchange) and the one that replaced it
    replaces_card_id   bigint REFERENCES card (id),
    replaced_by_card_id bigint REFERENCES card (id),
    query_pin_hash     text NOT NULL,
    payment_pin_hash   text NOT NULL,
    -- NULL: the card kind's default
    per_purchase_limit numeric(14,2) CHECK (per_purchase_limit > 0),
    daily_count_limit  integer CHECK (daily_count_limit > 0),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until >= valid_from)
);
CREATE INDEX card_person ON card (person_id);
CREATE INDEX card_state ON card (state) WHERE state <> 'active';
-- A person holds at most one card in service (active or lost).
CREATE UNIQUE INDEX card_one_in_service ON card (person_id) WHERE state IN ('active', 'lost');

-- What the card may use: a door of a door controller (door 1-4), or a POS or an attendance
-- machine (door 0).
CREATE TABLE card_grant (
    card_id     bigint NOT NULL REFERENCES card (id),
    terminal_id bigint NOT NULL REFERENCES terminal (id),
    door        smallint NOT NULL DEFAULT 0 CHECK (door BETWEEN 0 AND 4),
    PRIMARY KEY (card_id, terminal_id, door)
);
CREATE INDEX card_grant_terminal ON card_grant (terminal_id);

-- The card's history, one row per transition: the four reports read it.
CREATE TABLE card_event (
    id          bigserial PRIMARY KEY,
    card_id     bigint NOT NULL REFERENCES card (id),
    event       text NOT NULL CHECK (event IN ('issue', 'rewrite', 'report_lost', 'report_found',
                    'reissue', 'exchange', 'return', 'cancel', 'extend', 'pin_change', 'pin_reset',
                    'limits')),
    at          timestamptz NOT NULL DEFAULT now(),
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    -- extend: the validity before and after
    old_until   date,
    new_until   date,
    -- reissue/exchange: the other card
    other_card_id bigint REFERENCES card (id),
    reason      text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX card_event_card ON card_event (card_id, at);
CREATE INDEX card_event_kind_at ON card_event (event, at);

-- What each terminal must accept for each card, and the command that tells it. Confirmed
-- when that command is done; a newer change for the same card and terminal replaces the row.
CREATE TABLE card_sync (
    card_id     bigint NOT NULL REFERENCES card (id),
    terminal_id bigint NOT NULL REFERENCES terminal (id),
    -- accept: the card is granted there; refuse: deleted or blacklisted there
    stance      text NOT NULL CHECK (stance IN ('accept', 'refuse')),
    command_id  bigint NOT NULL REFERENCES terminal_command (id),
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (card_id, terminal_id)
);
CREATE INDEX card_sync_command ON card_sync (command_id);

-- Blank card stock: batches received, cards issued from it, cards spoiled, and counts.
CREATE TABLE card_stock_movement (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('received', 'issued', 'spoiled')),
    -- received: positive; issued and spoiled: the count taken out (positive too)
    quantity    integer NOT NULL CHECK (quantity > 0),
    card_id     bigint REFERENCES card (id),
    note        text NOT NULL DEFAULT '',
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE card_stock_count (
    id          bigserial PRIMARY KEY,
    physical    integer NOT NULL CHECK (physical >= 0),
    recorded    integer NOT NULL,
    note        text NOT NULL DEFAULT '',
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

-- Fees collected at the desk, with who collected them and the ledger movement that booked them.
CREATE TABLE fee (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('issue', 'reissue', 'exchange')),
    card_id      bigint NOT NULL REFERENCES card (id),
    amount       numeric(14,2) NOT NULL CHECK (amount > 0),
    paid_from    text NOT NULL CHECK (paid_from IN ('cash', 'balance')),
    movement_id  bigint NOT NULL REFERENCES ledger_movement (id),
    collected_by bigint REFERENCES operator (id),
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fee_at ON fee (at);
