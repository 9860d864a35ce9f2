-- What the Attendance tab shows of each machine: the memory it uses (punches held, capacity),
-- as the machine last said, and whether its log is cleared after each verified extraction.
ALTER TABLE terminal
    ADD COLUMN IF NOT EXISTS memory_used bigint,
    ADD COLUMN IF NOT EXISTS memory_capacity bigint,
    ADD COLUMN IF NOT EXISTS clear_after_extract boolean NOT NULL DEFAULT false;

-- A day's punches across every machine, newest first (today's punches, live).
CREATE INDEX IF NOT EXISTS punch_time ON punch (terminal_time);

-- The person a punch's user id names: the person number, else a card number the person holds
-- (a machine enrolled from a card alone knows the card number as the user id).
CREATE OR REPLACE FUNCTION punch_person(user_id text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT id FROM person WHERE person_no = user_id),
        (SELECT c.person_id FROM card c
          WHERE user_id ~ '^[0-9]{1,10}$' AND c.card_no = user_id::bigint))
$$;
