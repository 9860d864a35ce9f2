-- Attendance results (考勤): shifts, schedules, holidays, corrections, and one row of results per
-- person per attendance day (DOMAIN.md, "Day rules").
--
-- Times are the machine's wall clock: punch.terminal_time is a `timestamp` in site time, so every
-- attendance day is laid out on that clock. site_zone() only decides "today".
--
-- Decisions (issue 13; the research's open questions):
--  * A punch's user_id names a person when it equals person.person_no, else when it equals the
--    number of a card that person holds (the ZK driver falls back to the card number as user id).
--    One place: the view att_user.
--  * Punches of one person within attendance.dedup_seconds (default 60) of that person's previous
--    punch count as one, across day boundaries.
--  * Overtime on a working day is every minute past T2 once the threshold is reached, rounded
--    down. Lateness and early leave round up.
--  * A missing punch leaves late and early unassessed; a rest day or holiday with one punch
--    earns no overtime.
--  * When a person's shift changes between d and d+1, the boundary is d+1's start:
--    day d runs [d + C_d, d+1 + C_{d+1}); windows are contiguous and never overlap.
--  * Leave covering part of a shift moves T1 or T2; with no punches the day is still absent.
--  * No schedule on a day: no result row for it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A shift. Offsets are from 00:00 of the attendance day d, which runs [d + C, d+1 + C). A night
-- shift gets its own window by a day change inside its off-duty gap (22:00-06:00 with C 14:00).
CREATE TABLE att_shift (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    start_time         time NOT NULL,                                  -- T1
    end_time           time NOT NULL CHECK (end_time <> start_time),   -- T2 (<= T1: next day)
    grace_late_min     integer NOT NULL DEFAULT 0 CHECK (grace_late_min BETWEEN 0 AND 720),   -- G1
    grace_early_min    integer NOT NULL DEFAULT 0 CHECK (grace_early_min BETWEEN 0 AND 720), -- G2
    day_change         time NOT NULL DEFAULT '04:00',                  -- C
    punch_rule         text NOT NULL DEFAULT 'first_last' CHECK (punch_rule IN ('first_last', 'pairs')),
    overtime_threshold_min integer NOT NULL DEFAULT 30 CHECK (overtime_threshold_min BETWEEN 0 AND 1440),
    c_off  interval GENERATED ALWAYS AS (day_change - time '00:00') STORED,
    t1_off interval GENERATED ALWAYS AS (
        CASE WHEN start_time >= day_change THEN start_time - time '00:00'
             ELSE start_time - time '00:00' + interval '24 hours' END) STORED,
    t2_off interval GENERATED ALWAYS AS (
        CASE WHEN start_time >= day_change THEN start_time - time '00:00'
             ELSE start_time - time '00:00' + interval '24 hours' END
        + CASE WHEN end_time > start_time THEN end_time - start_time
               ELSE end_time - start_time + interval '24 hours' END) STORED,
    -- the whole shift lies inside its own attendance day
    CONSTRAINT att_shift_inside_day CHECK (t2_off <= c_off + interval '24 hours')
);

-- Who works which shift when: per department or per person; a person's row wins. valid_to is
-- the last day (inclusive), NULL: open.
CREATE TABLE att_schedule (
    id            bigserial PRIMARY KEY,
    department_id bigint REFERENCES department (id),
    person_id     bigint REFERENCES person (id),
    shift_id      bigint NOT NULL REFERENCES att_shift (id),
    rest_days     smallint[] NOT NULL DEFAULT '{6,7}'   -- ISO weekdays, 1 = Monday
                  CHECK (rest_days <@ '{1,2,3,4,5,6,7}'::smallint[]),
    valid_from    date NOT NULL,
    valid_to      date CHECK (valid_to >= valid_from),
    valid         daterange GENERATED ALWAYS AS (daterange(valid_from, valid_to, '[]')) STORED,
    CHECK ((department_id IS NULL) <> (person_id IS NULL)),
    CONSTRAINT att_schedule_department_overlap
        EXCLUDE USING gist (department_id WITH =, valid WITH &&) WHERE (department_id IS NOT NULL),
    CONSTRAINT att_schedule_person_overlap
        EXCLUDE USING gist (person_id WITH =, valid WITH &&) WHERE (person_id IS NOT NULL)
);
CREATE INDEX att_schedule_shift ON att_schedule (shift_id);

-- The site calendar: holidays (works = false) and make-up working days (works = true, 调休),
-- which override a rest weekday.
CREATE TABLE att_holiday (
    day   date PRIMARY KEY,
    name  text NOT NULL CHECK (btrim(name) <> ''),
    works boolean NOT NULL DEFAULT false
);

-- Corrections by the attendance administrator: a forgotten punch, a leave, a business trip.
-- Raw punches are never touched; a correction is never deleted or edited, only revoked, once,
-- with who, when and why. Adding and revoking are audited (db::attendance::corrections).
CREATE TABLE att_correction (
    id            bigserial PRIMARY KEY,
    person_id     bigint NOT NULL REFERENCES person (id),
    kind          text NOT NULL CHECK (kind IN ('punch', 'leave', 'trip')),
    punch_at      timestamp,          -- kind punch: the forgotten punch (site time)
    span_from     timestamp,          -- leave / trip: [span_from, span_to) in site time
    span_to       timestamp,
    leave_type    text,               -- annual, sick ... (leave only; free text)
    reason        text NOT NULL CHECK (btrim(reason) <> ''),
    made_by       text NOT NULL,
    operator_id   bigint REFERENCES operator (id),
    made_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoked_by    text,
    revoke_reason text,
    CHECK ((kind = 'punch') = (punch_at IS NOT NULL)),
    CHECK ((kind = 'punch') = (span_from IS NULL AND span_to IS NULL)),
    CHECK (span_from IS NULL OR span_to > span_from),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    CHECK (revoked_at IS NULL OR btrim(coalesce(revoke_reason, '')) <> '')
);
CREATE INDEX att_correction_person ON att_correction (person_id, coalesce(punch_at, span_from))
    WHERE revoked_at IS NULL;

CREATE FUNCTION att_correction_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'attendance corrections are revoked, never deleted';
    END IF;
    IF OLD.revoked_at IS NOT NULL
       OR (to_jsonb(NEW) - '{revoked_at,revoked_by,revoke_reason}'::text[])
          <> (to_jsonb(OLD) - '{revoked_at,revoked_by,revoke_reason}'::text[]) THEN
        RAISE EXCEPTION 'an attendance correction can only be revoked, once';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER att_correction_guard BEFORE UPDATE OR DELETE ON att_correction
    FOR EACH ROW EXECUTE FUNCTION att_correction_guard();

-- Which person a punch's user_id names (see the decisions above). person_no first; a card number
-- only when no person has it as person_no. card_no and person_no are unique, so each user_id
-- names at most one person. Cards in any state count: an old punch with a lost card is still
-- that person's. (Punches stored before their card was issued are recomputed by
-- `onecard attendance refresh`, not by the dirty queue.)
CREATE VIEW att_user AS
    SELECT p.person_no AS user_id, p.id AS person_id FROM person p
    UNION ALL
    SELECT c.card_no::text, c.person_id FROM card c
    WHERE NOT EXISTS (SELECT 1 FROM person o WHERE o.person_no = c.card_no::text);

-- The per-person time-ordered read the computation does (the primary key leads with terminal_id).
CREATE INDEX punch_user_time ON punch (user_id, terminal_time);

-- Results, one row per person per attendance day.
CREATE TABLE att_day (
    person_id    bigint NOT NULL,
    day          date NOT NULL,
    shift_id     bigint NOT NULL,
    day_kind     text NOT NULL,       -- work | rest | holiday
    -- present late left_early late_left_early absent missing_punch leave trip rest holiday
    status       text NOT NULL,
    punch_count  smallint NOT NULL,   -- after dedup, correction punches included
    first_punch  timestamp,
    last_punch   timestamp,
    late_min     integer NOT NULL,
    early_min    integer NOT NULL,
    overtime_min integer NOT NULL,
    worked_min   integer NOT NULL,
    leave_min    integer NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, day)
);

-- The computation: every result of [p_from, p_to] for p_persons (NULL: everyone), set-based.
--  * punches (and correction punches) are read per person in time order, deduplicated and
--    numbered with window functions;
--  * a punch at t belongs to t::date if t >= the start of t::date's window (its shift's day
--    change), else to t::date - 1: looked up in the schedules directly, not in the per-day plan;
--  * pairs are summed without a per-day sort: the day's punches at even global positions minus
--    those at odd ones (plus the last when the count is odd), the parity taken from the first.
CREATE FUNCTION att_compute(p_from date, p_to date, p_persons bigint[] DEFAULT NULL)
RETURNS TABLE (person_id bigint, day date, shift_id bigint, day_kind text, status text,
               punch_count smallint, first_punch timestamp, last_punch timestamp,
               late_min integer, early_min integer, overtime_min integer, worked_min integer,
               leave_min integer)
LANGUAGE sql STABLE AS $$
WITH ppl AS MATERIALIZED (
    SELECT p.id, p.department_id FROM person p
    WHERE p_persons IS NULL OR p.id = ANY (p_persons)
),
plan AS MATERIALIZED (
    SELECT pp.id AS person_id, d.day, s.id AS shift_id, s.punch_rule,
           s.grace_late_min * 60 AS grace_late_s, s.grace_early_min * 60 AS grace_early_s,
           s.overtime_threshold_min * 60 AS threshold_s,
           CASE WHEN d.works THEN 'work' WHEN d.holiday THEN 'holiday'
                WHEN d.isodow = ANY (coalesce(ps.rest_days, ds.rest_days)) THEN 'rest'
                ELSE 'work' END AS day_kind,
           d.day + s.t1_off AS t1, d.day + s.t2_off AS t2, d.day + s.c_off AS ws
    FROM ppl pp
    CROSS JOIN (SELECT g::date AS day, date_part('isodow', g)::smallint AS isodow,
                       h.day IS NOT NULL AS holiday, coalesce(h.works, false) AS works
                FROM generate_series(p_from, p_to + 1, interval '1 day') g
                LEFT JOIN att_holiday h ON h.day = g::date) d
    LEFT JOIN att_schedule ps ON ps.person_id = pp.id AND ps.valid @> d.day
    LEFT JOIN att_schedule ds ON ds.department_id = pp.department_id AND ds.valid @> d.day
    JOIN att_shift s ON s.id = coalesce(ps.shift_id, ds.shift_id)
),
raw AS (
    SELECT u.person_id, pp.department_id, pu.terminal_time AS t
    FROM punch pu JOIN att_user u ON u.user_id = pu.user_id
    JOIN ppl pp ON pp.id = u.person_id
    WHERE pu.terminal_time >= p_from - 1 AND pu.terminal_time < p_to + 2
    UNION ALL
    SELECT c.person_id, pp.department_id, c.punch_at FROM att_correction c JOIN ppl pp ON pp.id = c.person_id
    WHERE c.kind = 'punch' AND c.revoked_at IS NULL
      AND c.punch_at >= p_from - 1 AND c.punch_at < p_to + 2
),
dd AS (   -- dedup: drop a punch within the interval of the person's previous punch
    SELECT x.person_id, x.department_id, x.t, row_number() OVER (PARTITION BY x.person_id ORDER BY x.t) AS rn
    FROM (SELECT r.person_id, r.department_id, r.t, lag(r.t) OVER (PARTITION BY r.person_id ORDER BY r.t) AS prev
          FROM raw r) x
    WHERE x.prev IS NULL
       OR x.t - x.prev > make_interval(secs => coalesce(
              (SELECT (value #>> '{}')::numeric FROM setting
                WHERE key = 'attendance.dedup_seconds' AND jsonb_typeof(value) = 'number'), 60))
),
assigned AS (   -- day(t): t::date if t is past that day's change (its shift's C), else the day before
    SELECT dd.person_id,
           CASE WHEN dd.t >= dd.t::date + coalesce(sp.c_off, sd.c_off) THEN dd.t::date
                ELSE dd.t::date - 1 END AS day, dd.t, dd.rn
    FROM dd
    LEFT JOIN (att_schedule ps JOIN att_shift sp ON sp.id = ps.shift_id)
           ON ps.person_id = dd.person_id AND ps.valid @> dd.t::date
    LEFT JOIN (att_schedule ds JOIN att_shift sd ON sd.id = ds.shift_id)
           ON ds.department_id = dd.department_id AND ds.valid @> dd.t::date
    WHERE coalesce(sp.c_off, sd.c_off) IS NOT NULL
),
agg AS (
    SELECT a.person_id, a.day, count(*)::smallint AS n, min(a.t) AS first_t, max(a.t) AS last_t,
           min(a.rn) AS rn0,
           sum(date_part('epoch', a.t)) FILTER (WHERE a.rn % 2 = 0) AS s_even,
           sum(date_part('epoch', a.t)) FILTER (WHERE a.rn % 2 = 1) AS s_odd
    FROM assigned a
    GROUP BY 1, 2
),
lv AS (   -- leave and trips: a span over T1 moves T1 to its end, one over T2 moves T2 to its start
    SELECT pl.person_id, pl.day,
           max(c.span_to) FILTER (WHERE c.span_from <= pl.t1 AND c.span_to > pl.t1) AS t1_moved,
           min(c.span_from) FILTER (WHERE c.span_from < pl.t2 AND c.span_to >= pl.t2) AS t2_moved,
           bool_or(c.kind = 'trip') AS trip,
           sum(date_part('epoch', least(c.span_to, pl.t2) - greatest(c.span_from, pl.t1)))
               FILTER (WHERE c.kind = 'leave') AS leave_s
    FROM att_correction c
    JOIN ppl pp ON pp.id = c.person_id
    JOIN plan pl ON pl.person_id = c.person_id
         AND c.span_from < pl.t2 AND c.span_to > pl.t1
    WHERE c.kind IN ('leave', 'trip') AND c.revoked_at IS NULL AND pl.day <= p_to
      AND c.span_to > p_from - 1 AND c.span_from < p_to + 2
    GROUP BY 1, 2
),
j AS (
    SELECT pl.person_id, pl.day, pl.shift_id, pl.day_kind, pl.punch_rule,
           pl.grace_late_s, pl.grace_early_s, pl.threshold_s, pl.t2,
           coalesce(lv.t1_moved, pl.t1) AS et1, coalesce(lv.t2_moved, pl.t2) AS et2,
           coalesce(lv.t1_moved, pl.t1) >= coalesce(lv.t2_moved, pl.t2) AS off_all_shift,
           coalesce(lv.trip, false) AS trip, coalesce(lv.leave_s, 0) AS leave_s,
           coalesce(a.n, 0::smallint) AS n, a.first_t, a.last_t,
           CASE WHEN a.n IS NULL OR a.n < 2 THEN 0
                WHEN pl.punch_rule = 'first_last' THEN date_part('epoch', a.last_t - a.first_t)
                WHEN a.rn0 % 2 = 1   -- the day's first punch has an odd global number
                THEN coalesce(a.s_even, 0) - coalesce(a.s_odd, 0)
                     + CASE WHEN a.n % 2 = 1 THEN date_part('epoch', a.last_t) ELSE 0 END
                ELSE coalesce(a.s_odd, 0) - coalesce(a.s_even, 0)
                     + CASE WHEN a.n % 2 = 1 THEN date_part('epoch', a.last_t) ELSE 0 END
           END AS pair_s
    FROM plan pl
    LEFT JOIN agg a ON a.person_id = pl.person_id AND a.day = pl.day
    LEFT JOIN lv ON lv.person_id = pl.person_id AND lv.day = pl.day
    WHERE pl.day >= p_from AND pl.day <= p_to
),
k AS (
    SELECT j.*,
           j.day_kind = 'work' AND NOT j.off_all_shift AND j.n > 0
             AND (j.n = 1 OR (j.punch_rule = 'pairs' AND j.n % 2 = 1)) AS missing,
           date_part('epoch', j.first_t - j.et1) AS late_s,
           date_part('epoch', j.et2 - j.last_t) AS early_s,
           date_part('epoch', j.last_t - j.t2) AS over_s
    FROM j
),
r AS (
    SELECT k.*,
           CASE WHEN k.day_kind = 'work' AND NOT k.missing AND k.n >= 2 AND NOT k.off_all_shift
                     AND k.late_s > k.grace_late_s
                THEN ceil(k.late_s / 60)::int ELSE 0 END AS late_m,
           CASE WHEN k.day_kind = 'work' AND NOT k.missing AND k.n >= 2 AND NOT k.off_all_shift
                     AND k.early_s > k.grace_early_s
                THEN ceil(k.early_s / 60)::int ELSE 0 END AS early_m
    FROM k
)
SELECT r.person_id, r.day, r.shift_id, r.day_kind,
       CASE WHEN r.day_kind <> 'work' THEN r.day_kind
            WHEN r.off_all_shift THEN CASE WHEN r.trip THEN 'trip' ELSE 'leave' END
            WHEN r.n = 0 THEN 'absent'
            WHEN r.missing THEN 'missing_punch'
            WHEN r.late_m > 0 AND r.early_m > 0 THEN 'late_left_early'
            WHEN r.late_m > 0 THEN 'late'
            WHEN r.early_m > 0 THEN 'left_early'
            ELSE 'present' END,
       r.n, r.first_t, r.last_t, r.late_m, r.early_m,
       CASE WHEN r.day_kind <> 'work' THEN floor(r.pair_s / 60)::int
            WHEN r.n >= 2 AND NOT r.missing AND r.over_s >= r.threshold_s
            THEN floor(r.over_s / 60)::int ELSE 0 END,
       floor(r.pair_s / 60)::int,
       round(r.leave_s / 60)::int
FROM r
$$;

-- Recomputes [p_from, p_to] for p_persons (NULL: everyone) into att_day. A generic plan after a
-- few calls from PL/pgSQL took minutes (the research), hence force_custom_plan; JIT only costs.
CREATE FUNCTION att_refresh(p_from date, p_to date, p_persons bigint[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB' AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM att_day a WHERE a.day BETWEEN p_from AND p_to
       AND (p_persons IS NULL OR a.person_id = ANY (p_persons));
    INSERT INTO att_day (person_id, day, shift_id, day_kind, status, punch_count, first_punch,
                         last_punch, late_min, early_min, overtime_min, worked_min, leave_min)
    SELECT * FROM att_compute(p_from, p_to, p_persons);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Person-days whose inputs changed. A punch at t belongs to t::date - 1 or t::date.
CREATE TABLE att_dirty (
    person_id bigint NOT NULL,
    day       date NOT NULL,
    PRIMARY KEY (person_id, day)
);

-- Days up to `through` have been computed for everyone (the sweep); a plan change (shift,
-- schedule, holiday) moves it back to the change's first day, and the sweep catches up.
CREATE TABLE att_sweep (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    through date
);
INSERT INTO att_sweep (through) VALUES (NULL);

CREATE FUNCTION att_dirty_from_punch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO att_dirty (person_id, day)
    SELECT DISTINCT u.person_id, d.day
    FROM new_punch n JOIN att_user u ON u.user_id = n.user_id
    CROSS JOIN LATERAL (VALUES (n.terminal_time::date - 1), (n.terminal_time::date)) d(day)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER att_dirty_punch AFTER INSERT ON punch REFERENCING NEW TABLE AS new_punch
    FOR EACH STATEMENT EXECUTE FUNCTION att_dirty_from_punch();

CREATE FUNCTION att_dirty_from_correction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO att_dirty (person_id, day)
    SELECT NEW.person_id, g::date
    FROM generate_series(coalesce(NEW.punch_at, NEW.span_from)::date - 1,
                         coalesce(NEW.punch_at, NEW.span_to)::date, interval '1 day') g
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER att_dirty_correction AFTER INSERT OR UPDATE ON att_correction
    FOR EACH ROW EXECUTE FUNCTION att_dirty_from_correction();

-- A plan change from p_day on: the sweep recomputes from there (never later than it was).
CREATE FUNCTION att_replan(p_day date) RETURNS void LANGUAGE sql AS $$
    UPDATE att_sweep SET through = least(through, p_day - 1) WHERE through IS NOT NULL
$$;

-- One pass of keeping att_day current, up to today (site time; p_today for tests):
--  1. every dirty person-day up to today, one set-based computation per dirty day;
--  2. the sweep: at most p_sweep_days more days for everyone, so days without punches (absent)
--     get their rows and a plan change is caught up in bounded steps. The first sweep starts at
--     the earliest schedule (at most 400 days back).
-- Returns the rows written; `behind` says whether the sweep has not reached today yet.
CREATE FUNCTION att_refresh_dirty(p_today date DEFAULT NULL, p_sweep_days integer DEFAULT 7,
                                  OUT rows bigint, OUT behind boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB' AS $$
DECLARE
    v_today date := coalesce(p_today, (now() AT TIME ZONE site_zone())::date);
    v_day date; v_persons bigint[]; k bigint; v_through date; v_to date;
BEGIN
    rows := 0;
    FOR v_day IN SELECT DISTINCT d.day FROM att_dirty d WHERE d.day <= v_today ORDER BY 1 LOOP
        WITH taken AS (DELETE FROM att_dirty d WHERE d.day = v_day RETURNING d.person_id)
        SELECT array_agg(t.person_id) INTO v_persons FROM taken t;
        -- another process took them meanwhile (NULL would mean everyone)
        CONTINUE WHEN v_persons IS NULL;
        rows := rows + att_refresh(v_day, v_day, v_persons);
    END LOOP;

    SELECT through INTO v_through FROM att_sweep FOR UPDATE;
    IF v_through IS NULL THEN
        v_through := greatest((SELECT min(valid_from) FROM att_schedule), v_today - 400) - 1;
        IF v_through IS NULL THEN   -- no schedules yet: nothing to sweep
            v_through := v_today;
        END IF;
    END IF;
    IF v_through < v_today THEN
        v_to := least(v_today, v_through + p_sweep_days);
        rows := rows + att_refresh(v_through + 1, v_to);
        v_through := v_to;
    END IF;
    UPDATE att_sweep SET through = v_through;
    behind := v_through < v_today;
END $$;
