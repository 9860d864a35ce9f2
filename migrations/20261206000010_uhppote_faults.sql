-- Door controllers' faults made visible (issue 10, items 5, 6, 10, 12, 13).

-- Which way the card was read (the controller's reader: in or out); NULL when it said neither.
ALTER TABLE door_event ADD COLUMN direction text CHECK (direction IN ('in', 'out'));
-- Stamped by a controller whose clock was not valid (1970, a year outside 2000-2099, none):
-- its terminal_time is what the controller said, not when it happened.
ALTER TABLE door_event ADD COLUMN clock_invalid boolean NOT NULL DEFAULT false;

-- Record numbers a terminal lost before they were collected (its memory overflowed and the
-- oldest were overwritten): first..last in onecard's numbering, both included.
CREATE TABLE record_gap (
    id           bigserial PRIMARY KEY,
    terminal_id  bigint NOT NULL REFERENCES terminal (id),
    first_record bigint NOT NULL,
    last_record  bigint NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL CHECK (reason IN ('overwritten')),
    CHECK (first_record <= last_record),
    UNIQUE (terminal_id, first_record)
);

-- The new terminal faults stay one open alarm each, like the others.
DROP INDEX alarm_one_open_fault;
CREATE UNIQUE INDEX alarm_one_open_fault ON alarm (terminal_id, kind)
    WHERE state = 'active' AND kind IN ('terminal_offline', 'comm_fault', 'clock_drift', 'memory_full',
                                        'clock_invalid', 'records_implausible');
