-- Doors: each door controller's doors with a name and place for the control room, their
-- settings, and their live state as the controller last reported it.
CREATE TABLE door (
    terminal_id  bigint NOT NULL REFERENCES terminal (id),
    door         smallint NOT NULL CHECK (door BETWEEN 1 AND 4),
    -- '' until someone names it: the console then says "<controller> door N"
    name         text NOT NULL DEFAULT '',
    location     text NOT NULL DEFAULT '',
    mode         text NOT NULL DEFAULT 'controlled'
                 CHECK (mode IN ('controlled', 'normally_open', 'normally_closed')),
    unlock_secs  smallint NOT NULL DEFAULT 3 CHECK (unlock_secs BETWEEN 1 AND 255),
    -- live state from the controller's status (NULL: not read yet)
    open         boolean,
    unlocked     boolean,
    state_at     timestamptz,
    PRIMARY KEY (terminal_id, door)
);

-- A UHPPOTE serial number says how many doors its board has: 1xxxxxxxx one, 2xxxxxxxx two,
-- any other four.
CREATE FUNCTION door_count(serial bigint) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE left(serial::text, 1) WHEN '1' THEN 1 WHEN '2' THEN 2 ELSE 4 END::smallint
$$;

CREATE FUNCTION door_controller_doors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'door_controller' THEN
        INSERT INTO door (terminal_id, door)
        SELECT NEW.id, n FROM generate_series(1, door_count(NEW.address)) AS n
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER door_controller_doors AFTER INSERT OR UPDATE OF kind, address ON terminal
    FOR EACH ROW EXECUTE FUNCTION door_controller_doors();

INSERT INTO door (terminal_id, door)
SELECT t.id, n FROM terminal t, generate_series(1, door_count(t.address)) AS n
WHERE t.kind = 'door_controller'
ON CONFLICT DO NOTHING;

-- Door queries by door and time, and the purge by age.
CREATE INDEX door_event_door_time ON door_event (terminal_id, door, terminal_time);

-- A force-cleared alarm (never acknowledged) says why.
ALTER TABLE alarm ADD COLUMN clear_reason text;
CREATE INDEX alarm_closed ON alarm (cleared_at) WHERE state = 'cleared';

-- A command's result as data, rendered in the reader's language (`result` keeps the English
-- text for logs and scripts), and how far a long one (an extraction, a download) has come.
ALTER TABLE terminal_command ADD COLUMN outcome jsonb;
ALTER TABLE terminal_command ADD COLUMN progress jsonb;
