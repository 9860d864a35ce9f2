-- Merchants settled by period, and each POS reconciled by day (issue 11, "Merchants and
-- settlement").

-- A period's takings are summed from the entries of the movements posted in it: one grouped
-- query over a range of `at` (a month of 10 million purchases).
CREATE INDEX ledger_movement_at ON ledger_movement (at) INCLUDE (kind, terminal_id);

-- A settled statement: the figures as they were when the period was locked. Settling again
-- shows these and changes nothing; a movement posted later lands in a later period.
CREATE TABLE settlement (
    id              bigserial PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchant (id),
    period_kind     text NOT NULL CHECK (period_kind IN ('daily', 'weekly', 'monthly')),
    -- the period's first day (site time); it runs [starts_at, ends_at)
    period_start    date NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    purchases       bigint NOT NULL,
    sales           numeric(14, 2) NOT NULL,
    refunds         numeric(14, 2) NOT NULL,
    corrections     numeric(14, 2) NOT NULL,
    commission_rate numeric(5, 4) NOT NULL,
    commission      numeric(14, 2) NOT NULL,
    net_payable     numeric(14, 2) NOT NULL
                    CHECK (net_payable = sales - refunds + corrections - commission),
    settled_at      timestamptz NOT NULL DEFAULT now(),
    operator_id     bigint REFERENCES operator (id),
    actor           text NOT NULL,
    UNIQUE (merchant_id, period_kind, period_start)
);
CREATE INDEX settlement_range ON settlement (merchant_id, starts_at);

-- A POS's own totals for a day, as it answered DAILY_TOTALS (the latest reading).
CREATE TABLE pos_daily_total (
    terminal_id bigint NOT NULL REFERENCES terminal (id),
    day         date NOT NULL,
    count       bigint NOT NULL CHECK (count >= 0),
    sum         numeric(14, 2) NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, day)
);

-- The received records of a day, per POS (reconciliation reads them by the POS's clock).
CREATE INDEX pos_purchase_day ON pos_purchase (terminal_id, terminal_time);

-- Each POS and day as last reconciled, for the board: ok, difference, not uploaded. The alarms
-- raised for it are kept so that reconciling again raises none twice.
CREATE TABLE pos_reconciliation (
    terminal_id      bigint NOT NULL REFERENCES terminal (id),
    day              date NOT NULL,
    state            text NOT NULL CHECK (state IN ('ok', 'difference', 'not_uploaded')),
    pos_count        bigint,
    pos_sum          numeric(14, 2),
    received_count   bigint NOT NULL,
    received_sum     numeric(14, 2) NOT NULL,
    ledger_count     bigint NOT NULL,
    ledger_sum       numeric(14, 2) NOT NULL,
    difference_alarm bigint REFERENCES alarm (id),
    missing_alarm    bigint REFERENCES alarm (id),
    checked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, day),
    CHECK ((state = 'not_uploaded') = (pos_count IS NULL))
);
