-- Patrol: checkpoints on maps, routes, guards, schedules, and the omission calculation
-- (遗漏计算, DOMAIN.md "Omission rules").
--
-- Due visits are expanded ahead into patrol_visit (one row per round × route checkpoint) and
-- scans are matched to them as they are stored, by a statement trigger on patrol_scan. A report
-- is then an index range read, and a month's totals come from patrol_day_total.
-- Instants are timestamptz; rounds are laid out on the site's wall clock (site_zone()).

-- The site's zone: the setting, else the server's.
CREATE FUNCTION site_zone() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT value #>> '{}' FROM setting WHERE key = 'site.time_zone'),
                    current_setting('TimeZone'))
$$;

-- A patrol setting (patrol.*) as a number, or its default.
CREATE FUNCTION patrol_setting(p_key text, p_default numeric) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT (value #>> '{}')::numeric FROM setting WHERE key = p_key
                     AND jsonb_typeof(value) = 'number'), p_default)
$$;

CREATE TABLE patrol_map (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    -- 'text': `plan` is a floor plan drawn in characters; 'png': `image` holds the picture.
    kind        text NOT NULL CHECK (kind IN ('text', 'png')),
    plan        text NOT NULL DEFAULT '',
    image       bytea,
    -- the plan's size in its own units: characters (text) or pixels (png)
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    -- metres per unit, for walking times between checkpoints
    metres_per_unit real NOT NULL DEFAULT 2 CHECK (metres_per_unit > 0),
    CHECK ((kind = 'png') = (image IS NOT NULL))
);

CREATE TABLE checkpoint (
    tag      bigint PRIMARY KEY CHECK (tag > 0 AND tag <= 4294967295),
    name     text NOT NULL CHECK (name <> ''),
    location text NOT NULL DEFAULT '',
    map_id   bigint REFERENCES patrol_map (id) ON DELETE SET NULL,
    x        real,
    y        real,
    -- overrides of the route's tolerances (NULL: the route's)
    early_s  integer CHECK (early_s >= 0),
    late_s   integer CHECK (late_s >= 0),
    CHECK ((map_id IS NULL) OR (x IS NOT NULL AND y IS NOT NULL))
);

CREATE TABLE patrol_route (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    any_order   boolean NOT NULL DEFAULT false,
    early_s     integer NOT NULL DEFAULT 300 CHECK (early_s >= 0),
    late_s      integer NOT NULL DEFAULT 300 CHECK (late_s >= 0),
    -- how long after the last window a late scan still counts for the round
    grace_s     integer NOT NULL DEFAULT 600 CHECK (grace_s >= 0),
    -- any-order rounds: the round's length
    duration_s  integer NOT NULL DEFAULT 3600 CHECK (duration_s > 0),
    -- online: readers report as the guard walks (overdue alarms); offline: docked afterwards
    online      boolean NOT NULL DEFAULT true,
    reader_type text NOT NULL DEFAULT 'rs485' CHECK (reader_type IN ('rs485', 'docked'))
);

CREATE TABLE route_checkpoint (
    route_id       bigint NOT NULL REFERENCES patrol_route (id) ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq > 0),
    checkpoint_tag bigint NOT NULL REFERENCES checkpoint (tag),
    offset_s       integer NOT NULL CHECK (offset_s >= 0),
    PRIMARY KEY (route_id, seq)
);
CREATE INDEX route_checkpoint_tag ON route_checkpoint (checkpoint_tag);

CREATE TABLE guard_group (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name <> '')
);

CREATE TABLE guard (
    id       bigserial PRIMARY KEY,
    card     bigint NOT NULL UNIQUE CHECK (card > 0 AND card <= 4294967295),
    name     text NOT NULL CHECK (name <> ''),
    group_id bigint REFERENCES guard_group (id) ON DELETE SET NULL
);
CREATE INDEX guard_group_members ON guard (group_id);

CREATE TABLE patrol_schedule (
    id          bigserial PRIMARY KEY,
    route_id    bigint NOT NULL REFERENCES patrol_route (id) ON DELETE CASCADE,
    guard_id    bigint REFERENCES guard (id) ON DELETE CASCADE,
    group_id    bigint REFERENCES guard_group (id) ON DELETE CASCADE,
    -- the shift's name, e.g. 夜班
    shift       text NOT NULL CHECK (shift <> ''),
    -- bit (isodow - 1): Monday 1 ... Sunday 64
    dow_mask    smallint NOT NULL DEFAULT 127 CHECK (dow_mask BETWEEN 1 AND 127),
    first_start time NOT NULL,
    -- earlier than first_start: the shift crosses midnight
    last_start  time NOT NULL,
    every       interval NOT NULL CHECK (every >= interval '1 minute'),
    valid_from  date NOT NULL,
    valid_to    date,
    -- rounds starting before this are in patrol_visit
    expanded_to timestamptz NOT NULL DEFAULT '-infinity',
    CHECK ((guard_id IS NULL) <> (group_id IS NULL)),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- Scans: the reader's clock drift when it was read, and the site instant that gives.
ALTER TABLE patrol_scan
    ADD COLUMN drift_s integer,
    ADD COLUMN scanned_at timestamptz;
CREATE INDEX patrol_scan_guard ON patrol_scan (guard_card, checkpoint_tag, scanned_at);
CREATE INDEX patrol_scan_time ON patrol_scan (scanned_at);

CREATE FUNCTION patrol_scan_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.drift_s IS NULL THEN
        SELECT coalesce(t.clock_drift_s, 0) INTO NEW.drift_s FROM terminal t WHERE t.id = NEW.terminal_id;
        NEW.drift_s := coalesce(NEW.drift_s, 0);
    END IF;
    NEW.scanned_at := (NEW.terminal_time AT TIME ZONE site_zone()) - NEW.drift_s * interval '1 second';
    RETURN NEW;
END $$;
CREATE TRIGGER patrol_scan_time BEFORE INSERT ON patrol_scan
    FOR EACH ROW EXECUTE FUNCTION patrol_scan_time();

-- Rounds whose start is in [p_from, p_to), with their periods ([period_start, period_end)).
CREATE FUNCTION patrol_rounds(p_from timestamptz, p_to timestamptz, p_schedules bigint[] DEFAULT NULL)
RETURNS TABLE (schedule_id bigint, route_id bigint, guard_id bigint, group_id bigint, shift text,
               day date, start_at timestamptz, period_start timestamptz, period_end timestamptz,
               any_order boolean)
LANGUAGE sql STABLE AS $$
WITH z AS (SELECT site_zone() AS zone),
rt AS (
    SELECT r.id, r.any_order, r.early_s, r.late_s, r.grace_s, r.duration_s,
           max(rc.offset_s + coalesce(c.late_s, r.late_s)) AS last_end,
           least(-r.early_s, min(rc.offset_s - coalesce(c.early_s, r.early_s))) AS first_open
    FROM patrol_route r JOIN route_checkpoint rc ON rc.route_id = r.id
    JOIN checkpoint c ON c.tag = rc.checkpoint_tag
    WHERE p_schedules IS NULL
       OR r.id IN (SELECT s.route_id FROM patrol_schedule s WHERE s.id = ANY (p_schedules))
    GROUP BY r.id),
st AS (
    SELECT s.id, s.route_id, s.guard_id, s.group_id, s.shift, rt.any_order, rt.late_s, rt.grace_s,
           rt.duration_s, rt.last_end, rt.first_open,
           (d::date + s.first_start + n * s.every) AS local_start
    FROM patrol_schedule s JOIN rt ON rt.id = s.route_id CROSS JOIN z
    CROSS JOIN generate_series((p_from AT TIME ZONE z.zone)::date - 1,
                               (p_to AT TIME ZONE z.zone)::date + 1, interval '1 day') d
    CROSS JOIN LATERAL generate_series(0, floor(extract(epoch FROM (s.last_start - s.first_start
            + CASE WHEN s.last_start < s.first_start THEN interval '24 hours' ELSE interval '0' END))
            / extract(epoch FROM s.every))::int) n
    WHERE (p_schedules IS NULL OR s.id = ANY (p_schedules))
      AND d::date BETWEEN s.valid_from AND coalesce(s.valid_to, 'infinity')
      AND (s.dow_mask >> (extract(isodow FROM d)::int - 1)) & 1 = 1),
-- A start in a spring-forward gap lands on the start after it: one round, not two.
pr AS (
    SELECT DISTINCT ON (st.id, s_at) st.*, st.local_start AT TIME ZONE z.zone AS s_at
    FROM st CROSS JOIN z ORDER BY st.id, s_at, st.local_start),
pp AS (
    SELECT pr.*, pr.s_at + pr.first_open * interval '1 second' AS ps,
           lead(pr.s_at + pr.first_open * interval '1 second')
               OVER (PARTITION BY pr.id ORDER BY pr.s_at) AS next_ps
    FROM pr)
SELECT pp.id, pp.route_id, pp.guard_id, pp.group_id, pp.shift, pp.local_start::date, pp.s_at, pp.ps,
       CASE WHEN pp.any_order
            THEN pp.s_at + (pp.duration_s + pp.late_s) * interval '1 second' + interval '1 microsecond'
            ELSE least(pp.next_ps, pp.s_at + (pp.last_end + pp.grace_s) * interval '1 second'
                                   + interval '1 microsecond') END,
       pp.any_order
FROM pp WHERE pp.s_at >= p_from AND pp.s_at < p_to
$$;

CREATE TABLE patrol_visit (
    id               bigserial PRIMARY KEY,
    schedule_id      bigint NOT NULL REFERENCES patrol_schedule (id) ON DELETE CASCADE,
    start_at         timestamptz NOT NULL,
    seq              integer NOT NULL,
    route_id         bigint NOT NULL,
    guard_id         bigint,
    group_id         bigint,
    shift            text NOT NULL,
    -- the site day the round started on
    day              date NOT NULL,
    checkpoint_tag   bigint NOT NULL,
    -- the 1st, 2nd ... visit of this checkpoint in the round
    occ              integer NOT NULL,
    due              timestamptz NOT NULL,
    win_start        timestamptz NOT NULL,
    win_end          timestamptz NOT NULL,
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    scan_terminal_id bigint,
    scan_record_no   bigint,
    scanned_at       timestamptz,
    -- its period has closed and its exception (if any) was written
    swept            boolean NOT NULL DEFAULT false,
    -- an overdue alarm was raised for it
    alarmed          boolean NOT NULL DEFAULT false,
    UNIQUE (schedule_id, start_at, seq)
) WITH (fillfactor = 90);
CREATE INDEX patrol_visit_start ON patrol_visit (start_at);
CREATE INDEX patrol_visit_guard ON patrol_visit (guard_id, start_at);
CREATE INDEX patrol_visit_group ON patrol_visit (group_id, start_at) WHERE group_id IS NOT NULL;
CREATE INDEX patrol_visit_checkpoint ON patrol_visit (checkpoint_tag, period_start);
CREATE INDEX patrol_visit_scan ON patrol_visit (scan_terminal_id, scan_record_no)
    WHERE scan_terminal_id IS NOT NULL;
CREATE INDEX patrol_visit_open ON patrol_visit (period_end) WHERE NOT swept;
CREATE INDEX patrol_visit_overdue ON patrol_visit (win_end)
    WHERE NOT swept AND NOT alarmed AND scanned_at IS NULL;

-- The class of a visit at `now`: on_time, early, late, missed, or pending (unscanned, its
-- period still open).
CREATE FUNCTION patrol_class(v patrol_visit, now timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v.scanned_at IS NULL THEN CASE WHEN v.period_end > now THEN 'pending' ELSE 'missed' END
                WHEN v.scanned_at < v.win_start THEN 'early'
                WHEN v.scanned_at > v.win_end THEN 'late'
                ELSE 'on_time' END
$$;

CREATE TABLE patrol_day_total (
    day         date NOT NULL,
    schedule_id bigint NOT NULL REFERENCES patrol_schedule (id) ON DELETE CASCADE,
    guard_id    bigint,
    group_id    bigint,
    route_id    bigint NOT NULL,
    shift       text NOT NULL,
    visits      integer NOT NULL,
    on_time     integer NOT NULL,
    early       integer NOT NULL,
    late        integer NOT NULL,
    unscanned   integer NOT NULL,
    PRIMARY KEY (day, schedule_id)
);

CREATE FUNCTION patrol_refresh_totals(p_days date[], p_schedules bigint[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM patrol_day_total t USING (SELECT DISTINCT * FROM unnest(p_days, p_schedules) k(d, s)) k
    WHERE t.day = k.d AND t.schedule_id = k.s;
    INSERT INTO patrol_day_total
    SELECT v.day, v.schedule_id, min(v.guard_id), min(v.group_id), min(v.route_id), min(v.shift), count(*),
           count(*) FILTER (WHERE v.scanned_at BETWEEN v.win_start AND v.win_end),
           count(*) FILTER (WHERE v.scanned_at < v.win_start),
           count(*) FILTER (WHERE v.scanned_at > v.win_end),
           count(*) FILTER (WHERE v.scanned_at IS NULL)
    FROM patrol_visit v JOIN (SELECT DISTINCT * FROM unnest(p_days, p_schedules) k(d, s)) k
      ON v.schedule_id = k.s AND v.day = k.d
    GROUP BY v.day, v.schedule_id;
$$;

-- Matches the (round, checkpoint) groups named by their first visits: inside a group the
-- i-th scan in the period (by time, then reader and record) goes to the i-th visit (by seq),
-- which is "the earliest unmatched visit"; scans beyond the visits are repeats. Returns the
-- visits whose scan changed.
CREATE FUNCTION patrol_rematch(p_visits bigint[]) RETURNS SETOF bigint LANGUAGE sql AS $$
WITH g AS (
    SELECT DISTINCT v.schedule_id, v.start_at, v.checkpoint_tag, v.guard_id, v.group_id,
           v.period_start, v.period_end
    FROM patrol_visit v WHERE v.id = ANY (p_visits)),
asg AS (
    SELECT g.schedule_id, g.start_at, z.seq, z.tid, z.rno, z.t
    FROM g
    CROSS JOIN LATERAL (
        SELECT array_agg(v.seq ORDER BY v.seq) seqs FROM patrol_visit v
        WHERE v.schedule_id = g.schedule_id AND v.start_at = g.start_at
          AND v.checkpoint_tag = g.checkpoint_tag) vv
    CROSS JOIN LATERAL (
        SELECT array_agg(p.terminal_id ORDER BY p.scanned_at, p.terminal_id, p.record_no) tids,
               array_agg(p.record_no ORDER BY p.scanned_at, p.terminal_id, p.record_no) rnos,
               array_agg(p.scanned_at ORDER BY p.scanned_at, p.terminal_id, p.record_no) ts
        FROM (SELECT m.card FROM guard m WHERE m.id = g.guard_id
              UNION ALL SELECT m.card FROM guard m WHERE m.group_id = g.group_id) m
        JOIN patrol_scan p ON p.guard_card = m.card
             AND p.checkpoint_tag = g.checkpoint_tag
             AND p.scanned_at >= g.period_start AND p.scanned_at < g.period_end) ss
    CROSS JOIN LATERAL unnest(vv.seqs, ss.tids, ss.rnos, ss.ts) AS z(seq, tid, rno, t)
    WHERE z.seq IS NOT NULL),
upd AS (
    UPDATE patrol_visit v SET scan_terminal_id = asg.tid, scan_record_no = asg.rno, scanned_at = asg.t
    FROM asg
    WHERE v.schedule_id = asg.schedule_id AND v.start_at = asg.start_at AND v.seq = asg.seq
      AND (v.scan_terminal_id, v.scan_record_no) IS DISTINCT FROM (asg.tid, asg.rno)
    RETURNING v.id)
SELECT id FROM upd
$$;

CREATE TABLE patrol_exception (
    visit_id    bigint PRIMARY KEY REFERENCES patrol_visit (id) ON DELETE CASCADE,
    class       text NOT NULL CHECK (class IN ('missed', 'late')),
    raised_at   timestamptz NOT NULL DEFAULT now(),
    -- 'closed' by a duty operator with a comment; 'scanned': a scan uploaded afterwards
    -- (a docked reader) made the visit on time
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'scanned')),
    closed_at   timestamptz,
    closed_by   bigint REFERENCES operator (id),
    closed_name text,
    comment     text,
    CHECK ((state = 'closed') = (comment IS NOT NULL AND closed_at IS NOT NULL))
);
CREATE INDEX patrol_exception_open ON patrol_exception (raised_at) WHERE state = 'open';

-- After visits' scans changed: the exceptions of swept visits follow their new class.
CREATE FUNCTION patrol_reclass(p_visits bigint[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO patrol_exception (visit_id, class)
    SELECT v.id, CASE WHEN v.scanned_at IS NULL THEN 'missed' ELSE 'late' END
    FROM patrol_visit v
    WHERE v.id = ANY (p_visits) AND v.swept AND (v.scanned_at IS NULL OR v.scanned_at > v.win_end)
    ON CONFLICT (visit_id) DO UPDATE SET class = EXCLUDED.class,
        state = CASE WHEN patrol_exception.state = 'scanned' THEN 'open' ELSE patrol_exception.state END;
    UPDATE patrol_exception e SET state = 'scanned'
    FROM patrol_visit v
    WHERE e.visit_id = v.id AND v.id = ANY (p_visits) AND e.state = 'open'
      AND v.scanned_at IS NOT NULL AND v.scanned_at <= v.win_end;
$$;

-- Scans stored: the groups whose periods hold them are matched again.
CREATE FUNCTION patrol_scan_match() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    firsts bigint[];
    changed bigint[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_scans n JOIN guard gd ON gd.card = n.guard_card) THEN
        RETURN NULL;
    END IF;
    -- One matcher at a time (two uploads re-ranking one group would each miss the other's
    -- scans), and after any expansion in flight has committed its visits.
    PERFORM pg_advisory_xact_lock(hashtext('patrol_match'));
    SELECT array_agg(DISTINCT v.id) INTO firsts
    FROM new_scans n JOIN guard gd ON gd.card = n.guard_card
    JOIN patrol_visit v ON v.checkpoint_tag = n.checkpoint_tag
         AND v.period_start <= n.scanned_at AND v.period_start > n.scanned_at - interval '2 days'
         AND v.period_end > n.scanned_at AND v.occ = 1
         AND (v.guard_id = gd.id OR v.group_id = gd.group_id)
    WHERE n.scanned_at IS NOT NULL;
    IF firsts IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c) INTO changed FROM patrol_rematch(firsts) c;
    IF changed IS NOT NULL THEN
        PERFORM patrol_refresh_totals(array_agg(v.day), array_agg(v.schedule_id))
        FROM (SELECT DISTINCT day, schedule_id FROM patrol_visit WHERE id = ANY (changed)) v;
        PERFORM patrol_reclass(changed);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER patrol_scan_match AFTER INSERT ON patrol_scan REFERENCING NEW TABLE AS new_scans
    FOR EACH STATEMENT EXECUTE FUNCTION patrol_scan_match();

-- Expands the rounds of `p_schedules` (NULL: all) starting in [p_from, p_to) into visits,
-- matches the scans already stored, and refreshes their totals. Returns the visits added.
CREATE FUNCTION patrol_expand(p_from timestamptz, p_to timestamptz, p_schedules bigint[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    added bigint[];
    firsts bigint[];
    lo timestamptz;
    hi timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('patrol_match'));
    WITH ins AS (
        INSERT INTO patrol_visit (schedule_id, start_at, seq, route_id, guard_id, group_id, shift, day,
                                  checkpoint_tag, occ, due, win_start, win_end, period_start, period_end)
        SELECT r.schedule_id, r.start_at, rc.seq, r.route_id, r.guard_id, r.group_id, r.shift, r.day,
               rc.checkpoint_tag,
               (count(*) OVER (PARTITION BY r.schedule_id, r.start_at, rc.checkpoint_tag ORDER BY rc.seq))::int,
               r.start_at + rc.offset_s * interval '1 second',
               CASE WHEN r.any_order THEN r.period_start
                    ELSE r.start_at + (rc.offset_s - coalesce(c.early_s, ro.early_s)) * interval '1 second' END,
               CASE WHEN r.any_order THEN r.period_end - interval '1 microsecond'
                    ELSE r.start_at + (rc.offset_s + coalesce(c.late_s, ro.late_s)) * interval '1 second' END,
               r.period_start, r.period_end
        FROM patrol_rounds(p_from, p_to, p_schedules) r
        JOIN patrol_route ro ON ro.id = r.route_id
        JOIN route_checkpoint rc ON rc.route_id = r.route_id
        JOIN checkpoint c ON c.tag = rc.checkpoint_tag
        ON CONFLICT (schedule_id, start_at, seq) DO NOTHING
        RETURNING id, occ, day, schedule_id, period_start, period_end)
    SELECT array_agg(id), array_agg(id) FILTER (WHERE occ = 1), min(period_start), max(period_end)
    INTO added, firsts, lo, hi FROM ins;
    IF added IS NULL THEN
        RETURN 0;
    END IF;
    -- Rounds laid out ahead have no scans yet: nothing to match.
    IF EXISTS (SELECT 1 FROM patrol_scan WHERE scanned_at >= lo AND scanned_at < hi) THEN
        PERFORM patrol_rematch(firsts);
    END IF;
    PERFORM patrol_refresh_totals(array_agg(v.day), array_agg(v.schedule_id))
    FROM (SELECT DISTINCT day, schedule_id FROM patrol_visit WHERE id = ANY (added)) v;
    RETURN cardinality(added);
END $$;

-- Rounds of `p_schedules` not started by `p_now` are laid out again (after a change to a
-- schedule, its route or a checkpoint); rounds already started keep what they were due.
CREATE FUNCTION patrol_replan(p_schedules bigint[], p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    days date[];
    scheds bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('patrol_match'));
    WITH gone AS (
        DELETE FROM patrol_visit WHERE schedule_id = ANY (p_schedules) AND start_at >= p_now
        RETURNING day, schedule_id)
    SELECT array_agg(g.day), array_agg(g.schedule_id) INTO days, scheds
    FROM (SELECT DISTINCT day, schedule_id FROM gone) g;
    UPDATE patrol_schedule SET expanded_to = least(expanded_to, p_now) WHERE id = ANY (p_schedules);
    IF days IS NOT NULL THEN
        PERFORM patrol_refresh_totals(days, scheds);
    END IF;
END $$;

-- Every schedule's rounds are in patrol_visit up to `p_to`. Returns the visits added.
CREATE FUNCTION patrol_expand_to(p_to timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    s record;
    total bigint := 0;
    lo timestamptz;
BEGIN
    FOR s IN SELECT id, expanded_to, valid_from FROM patrol_schedule
             WHERE expanded_to < p_to ORDER BY id FOR UPDATE LOOP
        lo := greatest(s.expanded_to, s.valid_from::timestamp AT TIME ZONE site_zone());
        IF lo < p_to THEN
            total := total + patrol_expand(lo, p_to, ARRAY[s.id]);
        END IF;
        UPDATE patrol_schedule SET expanded_to = p_to WHERE id = s.id;
    END LOOP;
    RETURN total;
END $$;

-- Visits whose period closed by `p_now` are swept: missed and late ones become exceptions.
-- Returns the exceptions raised.
CREATE FUNCTION patrol_sweep(p_now timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    WITH done AS (
        UPDATE patrol_visit SET swept = true
        WHERE NOT swept AND period_end <= p_now
        RETURNING id, scanned_at, win_end),
    ins AS (
        INSERT INTO patrol_exception (visit_id, class)
        SELECT id, CASE WHEN scanned_at IS NULL THEN 'missed' ELSE 'late' END FROM done
        WHERE scanned_at IS NULL OR scanned_at > win_end
        ON CONFLICT (visit_id) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO n FROM ins;
    RETURN n;
END $$;
