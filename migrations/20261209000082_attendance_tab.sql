-- What the Attendance tab shows of each machine: the memory it uses (punches held, capacity),
-- as the machine last said.
ALTER TABLE terminal
    ADD COLUMN memory_used bigint,
    ADD COLUMN memory_capacity bigint,
    -- When its punches were last stored (extracted or imported): kept where they are stored,
    -- so the tab does not scan a machine's punches for it.
    ADD COLUMN punches_stored_at timestamptz;

CREATE FUNCTION punches_stored() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE terminal SET punches_stored_at = now()
     WHERE id IN (SELECT DISTINCT terminal_id FROM new_punch);
    RETURN NULL;
END $$;
CREATE TRIGGER punch_stored AFTER INSERT ON punch REFERENCING NEW TABLE AS new_punch
    FOR EACH STATEMENT EXECUTE FUNCTION punches_stored();

-- A day's punches across every machine, newest first (today's punches, live).
CREATE INDEX punch_time ON punch (terminal_time);

-- Whom a stored punch names can change after it was stored: a card issued (or moved) to a
-- person later, when a machine enrolled from the card knows the card number as the user id; a
-- person's number changed. Their days with such punches are computed again. A person moved to
-- another department follows its schedule from today (the days before keep their results).
CREATE FUNCTION att_dirty_from_card() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO att_dirty (person_id, day)
    SELECT DISTINCT w.person_id, d.day
    FROM (VALUES (NEW.person_id), (CASE WHEN TG_OP = 'UPDATE' THEN OLD.person_id END)) w (person_id)
    CROSS JOIN punch p
    CROSS JOIN LATERAL (VALUES (p.terminal_time::date - 1), (p.terminal_time::date)) d (day)
    WHERE w.person_id IS NOT NULL AND p.user_id = NEW.card_no::text
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER att_dirty_card AFTER INSERT OR UPDATE OF person_id, card_no ON card
    FOR EACH ROW EXECUTE FUNCTION att_dirty_from_card();

CREATE FUNCTION att_dirty_from_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO att_dirty (person_id, day)
    SELECT DISTINCT NEW.id, d.day
    FROM punch p
    CROSS JOIN LATERAL (VALUES (p.terminal_time::date - 1), (p.terminal_time::date)) d (day)
    WHERE NEW.person_no IS DISTINCT FROM OLD.person_no
      AND p.user_id IN (OLD.person_no, NEW.person_no)
    UNION
    SELECT NEW.id, (now() AT TIME ZONE site_zone())::date
    WHERE NEW.department_id IS DISTINCT FROM OLD.department_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER att_dirty_person AFTER UPDATE OF person_no, department_id ON person
    FOR EACH ROW EXECUTE FUNCTION att_dirty_from_person();
