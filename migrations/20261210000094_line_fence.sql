-- Fencing a frozen line owner ends its database session. serve runs as onecard_serve, which may
-- end only sessions of its own login; reached by SET ROLE (an external server with one URL) the
-- frozen session belongs to the owner, which it may not end. This function runs as the owner
-- and ends only a session that holds a line's poller lock now, so it can fence nothing else.
CREATE OR REPLACE FUNCTION onecard_fence_line_owner(p_pid int, p_class int, p_line bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.classid = p_class::oid AND l.objid::int8 = p_line
          AND l.objsubid = 2 AND l.granted AND l.pid = p_pid
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    ) THEN
        RETURN false;
    END IF;
    -- Waits (up to 5 s) until the backend is gone, and with it the lock.
    RETURN pg_terminate_backend(p_pid, 5000);
END $$;
