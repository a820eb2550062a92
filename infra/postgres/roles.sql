-- Traceport's PostgreSQL roles and database (requirement P11-05, 21 CFR Part 11 §11.10(e)).
--
-- Two roles: the OWNER owns the database, the schema and every table and runs the migrations;
-- the APP role is what `traceport serve` connects as. The app may read and add rows of the
-- append-only history but holds no privilege to change or remove them (see grants.sql), so the
-- database refuses a rewrite by privilege before the append-only triggers are even reached.
--
-- Run as a superuser, on any database of the cluster, as often as you like (it converges):
--
--   psql -h HOST -U postgres -d postgres -X -v ON_ERROR_STOP=1 \
--        -v dbname=traceport -v owner_password="$OWNER_PW" -v app_password="$APP_PW" \
--        -f infra/postgres/roles.sql
--
-- psql variables (all optional):
--   owner_role      traceport_owner
--   app_role        traceport_app
--   dbname          traceport
--   owner_password  unset: the role's password is left as it is (none for a new role)
--   app_password    likewise
--
-- Order (README.md): roles.sql → migrate as the owner → grants.sql as the owner, and
-- grants.sql again after EVERY later migration. This script ends by running grants.sql itself,
-- so re-running it on a migrated database is also enough.

\set ON_ERROR_STOP on
\if :{?owner_role}
\else
  \set owner_role traceport_owner
\endif
\if :{?app_role}
\else
  \set app_role traceport_app
\endif
\if :{?dbname}
\else
  \set dbname traceport
\endif

-- Roles ------------------------------------------------------------------------------------
SELECT format('CREATE ROLE %I', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

-- Neither role needs more than LOGIN. The owner can still drop the triggers of its own tables,
-- which is why its credentials belong to the deployment pipeline, never to the running app.
ALTER ROLE :"owner_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

\if :{?owner_password}
ALTER ROLE :"owner_role" PASSWORD :'owner_password';
\endif
\if :{?app_password}
ALTER ROLE :"app_role" PASSWORD :'app_password';
\endif

-- The app role must hold privileges only through the grants below: membership in the owner
-- role, or in a predefined role such as pg_write_all_data, would give back UPDATE and DELETE.
SELECT format('REVOKE %I FROM %I', granted.rolname, :'app_role')
  FROM pg_auth_members AS m
  JOIN pg_roles AS granted ON granted.oid = m.roleid
  JOIN pg_roles AS member ON member.oid = m.member
 WHERE member.rolname = :'app_role' \gexec

-- Database, owned by the owner -------------------------------------------------------------
-- template0: a regulated database starts from a known-empty template, not from whatever was
-- installed into template1.
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'dbname', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
ALTER DATABASE :"dbname" OWNER TO :"owner_role";
-- PUBLIC gets CONNECT and TEMPORARY on every new database; only our two roles connect here.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO :"app_role";

\connect :"dbname"

-- Schema -----------------------------------------------------------------------------------
-- The owner creates the tables; the app may only use them (no CREATE: it cannot add objects).
ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";

-- Tables and sequences the owner creates from now on (that is, every later migration) are
-- usable by the app at once. These defaults are the MUTABLE grants: a new append-only table
-- also gets UPDATE and DELETE here, until grants.sql revokes them. That is why grants.sql must
-- run after every migration; until it has, the append-only triggers still refuse the change.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";

-- Tables created by another role (e.g. migrated as postgres before this set-up) are outside
-- the owner's default privileges and cannot be migrated by it; say so rather than half-work.
SELECT count(*) > 0 AS traceport_foreign_tables
  FROM pg_tables
 WHERE schemaname = 'public' AND tableowner <> :'owner_role' \gset
\if :traceport_foreign_tables
\warn 'Some tables in schema public are not owned by the owner role; transfer them (README.md, "An existing database") and run this script again.'
\endif

-- Privileges on the tables that exist now (none on a fresh database) ------------------------
\ir grants.sql
