-- Rights checked where the data is: every console action asks the session row who is acting,
-- with the operator's current role, and is refused when the session was ended (signed out,
-- kicked) or the operator disabled since. Called inside the action's transaction (or right
-- before it), it holds the rows FOR SHARE, so a kick or a disable waits for it, and the next
-- action sees the session ended.

CREATE FUNCTION session_actor(p_session bigint)
RETURNS TABLE (operator_id bigint, login text, role text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found_id bigint;
    found_login text;
    found_role text;
    found_disabled boolean;
    found_ended timestamptz;
BEGIN
    -- The operator's row first, then the session's: the order a kick or a disable takes them
    -- (FOR UPDATE of the operator, then the sessions), so the two never wait on each other.
    -- One locking join would take them in whatever order its plan reads them.
    SELECT o.id, o.login, o.role, o.disabled
      INTO found_id, found_login, found_role, found_disabled
      FROM operator o
     WHERE o.id = (SELECT s.operator_id FROM operator_session s WHERE s.id = p_session)
       FOR SHARE;
    SELECT s.ended_at INTO found_ended
      FROM operator_session s
     WHERE s.id = p_session AND s.operator_id = found_id
       FOR SHARE;
    -- Disabled first: disabling ends the sessions too, and the operator is told why.
    IF found_disabled THEN
        RAISE EXCEPTION 'operator % is disabled', found_login USING ERRCODE = 'OC002';
    END IF;
    IF found_id IS NULL OR found_ended IS NOT NULL THEN
        RAISE EXCEPTION 'session % is ended', p_session USING ERRCODE = 'OC001';
    END IF;
    RETURN QUERY SELECT found_id, found_login, found_role;
END
$$;
