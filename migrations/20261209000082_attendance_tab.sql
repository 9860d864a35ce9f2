-- What the Attendance tab shows of each machine: the memory it uses (punches held, capacity),
-- as the machine last said, and whether its log is cleared after each verified extraction.
ALTER TABLE terminal
    ADD COLUMN IF NOT EXISTS memory_used bigint,
    ADD COLUMN IF NOT EXISTS memory_capacity bigint,
    ADD COLUMN IF NOT EXISTS clear_after_extract boolean NOT NULL DEFAULT false;

-- A day's punches across every machine, newest first (today's punches, live).
CREATE INDEX IF NOT EXISTS punch_time ON punch (terminal_time);
