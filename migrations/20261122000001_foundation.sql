-- Foundation: operators, roles, sessions and lockouts, the audit log, settings, backups.

CREATE TABLE role (
    name text PRIMARY KEY
);
INSERT INTO role (name) VALUES
    ('director'), ('system_administrator'), ('data_administrator'), ('card_desk'),
    ('door_administrator'), ('attendance_administrator'), ('duty_operator'), ('technician');

CREATE TABLE operator (
    id                   bigserial PRIMARY KEY,
    login                text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,31}$'),
    display_name         text NOT NULL,
    role                 text NOT NULL REFERENCES role (name),
    password_hash        text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT true,
    failed_attempts      integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until         timestamptz,
    disabled             boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_login_at        timestamptz
);

CREATE TABLE operator_session (
    id          bigserial PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operator (id),
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    client      text NOT NULL DEFAULT ''
);
CREATE INDEX operator_session_open ON operator_session (operator_id) WHERE ended_at IS NULL;

-- Every change, chained: each row carries the hash of the previous one, so an edited or deleted
-- row is found by `onecard audit verify`.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    operator_id bigint REFERENCES operator (id),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_kind text NOT NULL,
    object_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);
CREATE INDEX audit_log_object ON audit_log (object_kind, object_id);
CREATE INDEX audit_log_at ON audit_log (at);

-- The one definition of a row's digest, used when appending and when verifying.
CREATE FUNCTION audit_digest(
    p_prev bytea, p_id bigint, p_at timestamptz, p_operator_id bigint, p_actor text,
    p_action text, p_object_kind text, p_object_id text, p_before jsonb, p_after jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(
        p_prev
        || convert_to(
            concat_ws(E'\x1f',
                p_id::text,
                extract(epoch FROM p_at)::text,
                coalesce(p_operator_id::text, ''),
                p_actor, p_action, p_object_kind, p_object_id,
                coalesce(p_before::text, 'null'),
                coalesce(p_after::text, 'null')),
            'UTF8'))
$$;

-- Appends one row. The advisory lock serialises appenders until commit, so the chain never forks.
CREATE FUNCTION audit_append(
    p_operator_id bigint, p_actor text, p_action text, p_object_kind text, p_object_id text,
    p_before jsonb, p_after jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_id bigint;
    v_at timestamptz := now();
BEGIN
    PERFORM pg_advisory_xact_lock(7340001);
    SELECT hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
    v_prev := coalesce(v_prev, '\x'::bytea);
    v_id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    INSERT INTO audit_log (id, at, operator_id, actor, action, object_kind, object_id, before, after, prev_hash, hash)
    VALUES (v_id, v_at, p_operator_id, p_actor, p_action, p_object_kind, p_object_id, p_before, p_after, v_prev,
            audit_digest(v_prev, v_id, v_at, p_operator_id, p_actor, p_action, p_object_kind, p_object_id, p_before, p_after));
    RETURN v_id;
END
$$;

-- The log is append-only for the application; the hash chain catches whoever bypasses this.
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

CREATE TABLE setting (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE backup (
    id         bigserial PRIMARY KEY,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    taken_by   text NOT NULL,
    database   text NOT NULL,
    path       text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0)
);
