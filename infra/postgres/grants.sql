-- Traceport: (re)apply the app role's privileges on every table (requirement P11-05).
--
-- Run as the OWNER role (or a superuser) in the Traceport database, after roles.sql and after
-- EVERY migration: the owner's default privileges give each new table UPDATE and DELETE, and
-- only this script takes them back from the append-only ones.
--
--   psql "postgresql://traceport_owner@HOST/traceport" -X -v ON_ERROR_STOP=1 \
--        -v app_role=traceport_app -f infra/postgres/grants.sql
--   (or: TRACEPORT_DATABASE_URL=<owner URL> traceport db grants --app-role traceport_app)
--
-- It is one statement, so it applies entirely or not at all, and a concurrent session never
-- sees the moment in between GRANT and REVOKE.

\set ON_ERROR_STOP on
\if :{?app_role}
\else
  \set app_role traceport_app
\endif
SELECT set_config('traceport.app_role', :'app_role', false) AS app_role \gset

-- ---8<--- plain SQL from here on: `traceport db grants` sets traceport.app_role and runs it ---
DO $grants$
DECLARE
    -- The append-only tables: the app may SELECT and INSERT, nothing else. Add a table here
    -- when a migration creates one. (A table carrying the traceport_refuse_change() trigger is
    -- treated as append-only even when missing here, with a warning to add it.)
    append_only CONSTANT text[] := ARRAY[
        'audit_events',
        'record_versions',
        'signatures',
        'server_keys',
        'audit_checkpoints',
        'identity_verifications',
        'epcis_captures',
        'epcis_events',
        'epcis_event_identifiers',
        'epcis_objects',
        'packing_events',
        'ended_trace_edges',
        'inspection_results'
    ];
    -- Tables the app reads but never writes: the schema version belongs to the migrations.
    read_only CONSTANT text[] := ARRAY['alembic_version'];
    app CONSTANT text := current_setting('traceport.app_role');
    tbl text;
    guarded boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = app) THEN
        RAISE EXCEPTION 'role "%" does not exist: run roles.sql first', app;
    END IF;
    -- Privileges bind neither superusers nor owners; refuse to pretend they do.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = app AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role "%" is a superuser or bypasses row security', app;
    END IF;
    IF EXISTS (SELECT FROM pg_tables
                WHERE schemaname = 'public' AND pg_has_role(app, tableowner, 'MEMBER')) THEN
        RAISE EXCEPTION 'role "%" owns tables in schema public (or is a member of their owner)',
            app;
    END IF;
    IF EXISTS (SELECT FROM pg_tables
                WHERE schemaname = 'public'
                  AND NOT pg_has_role(current_user, tableowner, 'MEMBER')) THEN
        RAISE EXCEPTION 'run grants.sql as the owner of the tables in schema public';
    END IF;

    EXECUTE 'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC';
    EXECUTE 'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC';

    -- Every table: read and change rows. Never TRUNCATE (it skips row triggers and empties a
    -- table in one statement), REFERENCES or TRIGGER: the app defines no schema.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I',
                   app);
    EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM %I',
                   app);

    -- Then take UPDATE and DELETE back where history lives (also from views, should one over
    -- such a table be listed: a view's owner, not the app, is checked against its base table).
    FOR tbl, guarded IN
        SELECT c.relname,
               EXISTS (SELECT FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                        WHERE t.tgrelid = c.oid AND p.proname = 'traceport_refuse_change')
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
         ORDER BY c.relname
    LOOP
        IF tbl = ANY (append_only) OR guarded THEN
            IF NOT tbl = ANY (append_only) THEN
                RAISE WARNING 'table % has the append-only trigger but is not in grants.sql''s '
                    'list; restricted anyway, add it to the list', tbl;
            END IF;
            EXECUTE format('REVOKE UPDATE, DELETE ON public.%I FROM %I', tbl, app);
        ELSIF tbl = ANY (read_only) THEN
            EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON public.%I FROM %I', tbl, app);
        END IF;
    END LOOP;

    -- Sequences: nextval() for the id defaults, never setval().
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', app);
    EXECUTE format('REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA public FROM %I', app);
END
$grants$;
