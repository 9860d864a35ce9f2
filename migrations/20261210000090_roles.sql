-- Least-privilege roles (issue 14). Only migrations run as the owner of the schema; the console
-- (and the SSH server) connect as onecard_console, `serve` as onecard_serve. Neither owns
-- anything, neither may create or drop objects, truncate a table, or edit or delete the books'
-- history: the audit log, the ledger's movements and entries and what the desk recorded about
-- them, fees, subsidy batches, shift closes, settled statements, card events and backup records.
-- They append to them; the audit log only through audit_append, which keeps the hash chain.
--
-- Roles are cluster-wide: several databases on one cluster (the tests', a demo beside the real
-- one) share them, so creating them never fails when they exist, and a server where the owner
-- may not create roles (a managed server without CREATEROLE) only gets a warning: every process
-- then connects as the owner, as before.
--
-- Grants are per database and per table. onecard_grant_roles() sets them all again, from
-- scratch; `db::migrate` calls it after every run of the migrations, so a later migration's new
-- tables are covered without remembering it (and ALTER DEFAULT PRIVILEGES covers tables the
-- owner makes outside migrations, the demo's own).

CREATE OR REPLACE FUNCTION onecard_create_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['onecard_console', 'onecard_serve'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', r);
            EXCEPTION
                -- another database's migration created it meanwhile
                WHEN duplicate_object OR unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE WARNING 'onecard: cannot create role % (the owner lacks CREATEROLE): every process connects as %', r, current_user;
                    CONTINUE;
            END;
        END IF;
        -- The owner may then act as the role (`SET ROLE`, the fallback when only DATABASE_URL
        -- is given). A superuser needs no membership.
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
                RAISE WARNING 'onecard: % cannot act as role %: grant it by hand', current_user, r;
            END;
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION onecard_grant_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text;
    t text;
    -- History: inserted, never updated or deleted (the triggers say so too).
    history text[] := ARRAY['audit_log', 'ledger_movement', 'ledger_entry', 'movement_detail',
        'fee', 'subsidy_batch', 'subsidy_payment', 'desk_shift', 'settlement', 'card_event',
        'backup', 'backup_day', '_sqlx_migrations'];
    -- What only operators change: serve reads them.
    operators_only text[] := ARRAY['operator', 'operator_session', 'role', 'card_kind',
        'department', 'person', 'desk', 'door_group', 'door_group_door', 'card_stock_movement',
        'card_stock_count', 'merchant', 'patrol_map', 'checkpoint', 'patrol_route',
        'route_checkpoint', 'guard', 'guard_group', 'att_shift', 'att_schedule', 'att_holiday',
        'att_correction', 'operator_key'];
BEGIN
    PERFORM onecard_create_roles();
    -- Before PostgreSQL 15 everyone may create in schema public; only its owner can stop that.
    BEGIN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'onecard: cannot revoke CREATE on schema public from PUBLIC (not its owner)';
    END;
    FOREACH r IN ARRAY ARRAY['onecard_console', 'onecard_serve'] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r);
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', r);
        EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', r);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', r);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', r);
        EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO %I', r);
        FOREACH t IN ARRAY history LOOP
            CONTINUE WHEN to_regclass(format('public.%I', t)) IS NULL;
            EXECUTE format('REVOKE UPDATE, DELETE ON public.%I FROM %I', t, r);
        END LOOP;
        EXECUTE format('REVOKE INSERT ON public.audit_log, public._sqlx_migrations FROM %I', r);
        IF r = 'onecard_serve' THEN
            FOREACH t IN ARRAY operators_only LOOP
                CONTINUE WHEN to_regclass(format('public.%I', t)) IS NULL;
                EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON public.%I FROM %I', t, r);
            END LOOP;
        END IF;
        -- Tables and sequences the owner makes later, outside migrations.
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', r);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', r);
    END LOOP;
    -- Administration stays the owner's.
    EXECUTE 'REVOKE EXECUTE ON FUNCTION onecard_grant_roles(), onecard_create_roles() FROM PUBLIC';
    FOREACH r IN ARRAY ARRAY['onecard_console', 'onecard_serve'] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r);
        EXECUTE format('REVOKE EXECUTE ON FUNCTION onecard_grant_roles(), onecard_create_roles() FROM %I', r);
    END LOOP;
END $$;

-- The audit log is written only through audit_append, which runs as the owner: the roles have
-- no INSERT on audit_log, so no row can skip the chain. The search path is fixed so a caller
-- cannot put its own audit_log or audit_digest first.
ALTER FUNCTION audit_append(bigint, text, text, text, text, jsonb, jsonb)
    SECURITY DEFINER SET search_path = public, pg_temp;

-- `serve --backup-at HH:MM`: each site day's backup, claimed once whatever the number of serve
-- processes (db::backup::daily_if_due). History, like the backup records.
CREATE TABLE backup_day (
    day       date PRIMARY KEY,
    backup_id bigint NOT NULL UNIQUE REFERENCES backup (id),
    worker    text NOT NULL
);

SELECT onecard_grant_roles();
