-- Terminals II: lines and terminals, the records they store, alarms, and the command queue.

-- A line is one serial port or one network endpoint, owned by exactly one poller at a time
-- (a PostgreSQL advisory lock on the line id).
CREATE TABLE line (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    protocol        text NOT NULL CHECK (protocol IN ('uhppote', 'zk', 'native')),
    transport       text NOT NULL CHECK (transport IN ('serial', 'tcp', 'udp')),
    -- a device path (/dev/ttyUSB0) or host:port
    address         text NOT NULL,
    baud            integer CHECK (baud > 0),
    parity          text NOT NULL DEFAULT 'none' CHECK (parity IN ('none', 'even', 'odd')),
    stop_bits       smallint NOT NULL DEFAULT 1 CHECK (stop_bits IN (1, 2)),
    poll_interval_ms integer NOT NULL DEFAULT 1000 CHECK (poll_interval_ms >= 50),
    enabled         boolean NOT NULL DEFAULT true,
    -- while in the future, the line's owner publishes every frame on NOTIFY channel onecard_trace
    trace_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE terminal (
    id              bigserial PRIMARY KEY,
    line_id         bigint NOT NULL REFERENCES line (id),
    kind            text NOT NULL CHECK (kind IN ('door_controller', 'attendance_machine', 'pos', 'patrol_reader', 'desk_reader')),
    -- UHPPOTE serial number, or machine number (1-247) on an RS-485 line; 0 for a ZK machine
    address         bigint NOT NULL CHECK (address >= 0),
    name            text NOT NULL,
    location        text NOT NULL DEFAULT '',
    installed_at    date,
    installed_by    text NOT NULL DEFAULT '',
    in_scan         boolean NOT NULL DEFAULT true,
    status          text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline')),
    firmware        text NOT NULL DEFAULT '',
    -- the last record number stored here (UHPPOTE event index, RS-485 record number)
    bookmark        bigint NOT NULL DEFAULT 0,
    last_contact    timestamptz,
    rtt_ms          real,
    retries         bigint NOT NULL DEFAULT 0,
    crc_errors      bigint NOT NULL DEFAULT 0,
    timeouts        bigint NOT NULL DEFAULT 0,
    clock_drift_s   integer,
    records_waiting bigint NOT NULL DEFAULT 0,
    UNIQUE (line_id, address)
);

-- Records: each unique on (terminal, record number), so a retry or re-extraction never counts
-- twice. terminal_time is the terminal's own clock (local, no zone); received_at is ours.
CREATE TABLE door_event (
    terminal_id   bigint NOT NULL REFERENCES terminal (id),
    record_no     bigint NOT NULL,
    door          smallint NOT NULL,
    kind          text NOT NULL,
    granted       boolean NOT NULL,
    card          bigint,
    reason        smallint NOT NULL,
    terminal_time timestamp,
    received_at   timestamptz NOT NULL DEFAULT now(),
    late          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (terminal_id, record_no)
);
CREATE INDEX door_event_card ON door_event (card, terminal_time);
CREATE INDEX door_event_received ON door_event (received_at);

CREATE TABLE pos_purchase (
    terminal_id   bigint NOT NULL REFERENCES terminal (id),
    record_no     bigint NOT NULL,
    card          bigint NOT NULL,
    amount        numeric(14, 2) NOT NULL,
    balance_after numeric(14, 2) NOT NULL,
    txn_no        bigint NOT NULL,
    meal_slot     smallint NOT NULL,
    online        boolean NOT NULL,
    terminal_time timestamp,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, record_no)
);
CREATE INDEX pos_purchase_card ON pos_purchase (card, terminal_time);

-- ZKTeco machines number nothing: a punch is the same punch when user and time agree.
CREATE TABLE punch (
    terminal_id   bigint NOT NULL REFERENCES terminal (id),
    user_id       text NOT NULL,
    terminal_time timestamp NOT NULL,
    verify        smallint NOT NULL,
    state         smallint NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, user_id, terminal_time)
);

CREATE TABLE patrol_scan (
    terminal_id    bigint NOT NULL REFERENCES terminal (id),
    record_no      bigint NOT NULL,
    guard_card     bigint NOT NULL,
    checkpoint_tag bigint NOT NULL,
    event          smallint NOT NULL,
    terminal_time  timestamp,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal_id, record_no)
);

CREATE TABLE alarm (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    priority        smallint NOT NULL CHECK (priority BETWEEN 1 AND 3),
    terminal_id     bigint REFERENCES terminal (id),
    door            smallint,
    card            bigint,
    detail          text NOT NULL DEFAULT '',
    raised_at       timestamptz NOT NULL DEFAULT now(),
    -- raised from a record replayed after the terminal was offline: shown, never rung
    late            boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'acknowledged', 'cleared')),
    handling_by     bigint REFERENCES operator (id),
    acknowledged_by bigint REFERENCES operator (id),
    acknowledged_at timestamptz,
    note            text,
    cleared_at      timestamptz,
    cleared_by      bigint REFERENCES operator (id)
);
CREATE INDEX alarm_open ON alarm (priority, raised_at) WHERE state <> 'cleared';
-- At most one open comm-fault alarm per terminal: a flapping line does not flood the list.
CREATE UNIQUE INDEX alarm_one_open_fault ON alarm (terminal_id, kind)
    WHERE state = 'active' AND kind IN ('terminal_offline', 'comm_fault', 'clock_drift', 'memory_full');

CREATE TABLE terminal_command (
    id           bigserial PRIMARY KEY,
    terminal_id  bigint NOT NULL REFERENCES terminal (id),
    command      jsonb NOT NULL,
    requested_by bigint REFERENCES operator (id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed', 'unknown')),
    claimed_by   text,
    started_at   timestamptz,
    finished_at  timestamptz,
    result       text
);
CREATE INDEX terminal_command_queued ON terminal_command (terminal_id, id) WHERE state = 'queued';
