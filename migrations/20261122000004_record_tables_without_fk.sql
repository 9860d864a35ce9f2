-- Record tables take 100k rows/s: the per-row foreign-key check on terminal_id doubled the cost
-- of an insert. A terminal leaves service by leaving the scan, never by deletion, so its records
-- keep their terminal; the trigger below keeps that promise instead of the foreign keys.
ALTER TABLE door_event  DROP CONSTRAINT door_event_terminal_id_fkey;
ALTER TABLE pos_purchase DROP CONSTRAINT pos_purchase_terminal_id_fkey;
ALTER TABLE punch       DROP CONSTRAINT punch_terminal_id_fkey;
ALTER TABLE patrol_scan DROP CONSTRAINT patrol_scan_terminal_id_fkey;

CREATE FUNCTION terminal_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'terminal % cannot be deleted: its records name it; take it out of the scan instead', OLD.id
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER terminal_never_deleted BEFORE DELETE ON terminal
    FOR EACH ROW EXECUTE FUNCTION terminal_never_deleted();
