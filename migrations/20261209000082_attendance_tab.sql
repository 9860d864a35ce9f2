-- What the Attendance tab shows of each machine: the memory it uses (punches held, capacity),
-- as the machine last said.
ALTER TABLE terminal
    ADD COLUMN memory_used bigint,
    ADD COLUMN memory_capacity bigint;

-- A day's punches across every machine, newest first (today's punches, live).
CREATE INDEX punch_time ON punch (terminal_time);
