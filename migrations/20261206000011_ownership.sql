-- Line ownership rests on progress, not only on a live session: the owner of a line (the
-- session holding its advisory lock) beats here every second or so; a standby that sees the
-- beat stale beyond a bound ends that session (pg_terminate_backend), which frees the lock,
-- and takes the line.
CREATE TABLE line_owner (
    line_id       bigint PRIMARY KEY REFERENCES line (id) ON DELETE CASCADE,
    -- `serve --worker`, host:pid by default
    worker        text NOT NULL,
    -- the backend of the session holding the line's lock
    backend_pid   integer NOT NULL,
    taken_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

-- A ZKTeco machine's comm key (0: none), used when connecting. Kept out of every screen.
ALTER TABLE terminal ADD COLUMN comm_key bigint NOT NULL DEFAULT 0
    CHECK (comm_key BETWEEN 0 AND 4294967295);
