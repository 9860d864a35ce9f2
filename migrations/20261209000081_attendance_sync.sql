-- Person register sync (issue 13): what each attendance machine said it holds, the last time
-- its users were read (a ReadUsers command, or the end of a DownloadCards). Replaced whole per
-- machine; the differences against the register are computed from it (`db::machine_sync`).
CREATE TABLE machine_user_read (
    terminal_id bigint PRIMARY KEY REFERENCES terminal (id),
    read_at     timestamptz NOT NULL,
    users       integer NOT NULL CHECK (users >= 0)
);

CREATE TABLE machine_user (
    terminal_id bigint NOT NULL REFERENCES machine_user_read (terminal_id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    name        text NOT NULL,
    -- 0: no card (a user enrolled at the machine by finger or password)
    card        bigint NOT NULL CHECK (card >= 0),
    read_at     timestamptz NOT NULL,
    PRIMARY KEY (terminal_id, user_id)
);
