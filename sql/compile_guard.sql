-- DDL outside the API that would drop or rename a managed view is refused.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE SCHEMA guarded;
CREATE TABLE guarded.src (id int, v int, unused int);
INSERT INTO guarded.src VALUES (1, 10, 0);
SELECT pipeline.create_matview('guarded', 'top', 'SELECT id, v FROM guarded.src', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('guarded', 'down', 'SELECT id FROM guarded.mv_top', '1 hour', refresh_mode => 'full');

DROP MATERIALIZED VIEW guarded.mv_down;
DROP MATERIALIZED VIEW IF EXISTS guarded.mv_top CASCADE;
ALTER MATERIALIZED VIEW guarded.mv_top RENAME TO mv_other;
ALTER MATERIALIZED VIEW guarded.mv_top RENAME COLUMN v TO w;
ALTER TABLE guarded.mv_top RENAME TO mv_other;
ALTER INDEX guarded.mv_top RENAME TO mv_other;
CREATE SCHEMA elsewhere;
ALTER MATERIALIZED VIEW guarded.mv_top SET SCHEMA elsewhere;
ALTER TABLE guarded.src DROP COLUMN v CASCADE;
DROP TABLE guarded.src CASCADE;
DROP SCHEMA guarded CASCADE;
-- the same through commands PostgreSQL applies to a relation's columns
-- too, as its owner (not a superuser) with a trap schema first in its path
CREATE ROLE guard_owner;
GRANT CREATE, USAGE ON SCHEMA guarded TO guard_owner;
CREATE SCHEMA guard_trap AUTHORIZATION guard_owner;
CREATE FUNCTION guard_trap.lower(text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: lower ran as %', current_user; END $f$;
SELECT pipeline.create_matview('guarded', 'owned', 'SELECT id, v FROM guarded.src', '1 hour');
ALTER TABLE guarded.mv_owned OWNER TO guard_owner;
SET ROLE guard_owner;
SET search_path = guard_trap, pg_catalog;
ALTER FOREIGN TABLE guarded.mv_top RENAME COLUMN v TO w;
ALTER FOREIGN TABLE guarded.mv_owned RENAME COLUMN v TO w;
ALTER TYPE guarded.mv_owned RENAME ATTRIBUTE v TO w;
ALTER FOREIGN TABLE guarded.mv_owned RENAME TO mv_other;
RESET search_path;
RESET ROLE;
SELECT pipeline.drop_matview('guarded.mv_owned');
DROP SCHEMA guard_trap CASCADE;
REVOKE ALL ON SCHEMA guarded FROM guard_owner;
DROP ROLE guard_owner;
-- all still there
SELECT matview, columns FROM pipeline.matviews ORDER BY 1;
SELECT count(*) FROM guarded.mv_down;

-- DDL that breaks nothing passes
ALTER TABLE guarded.src ADD COLUMN extra text;
ALTER TABLE guarded.src DROP COLUMN unused;
CREATE INDEX top_id ON guarded.mv_top (id);
ALTER INDEX guarded.top_id RENAME TO top_id2;
COMMENT ON MATERIALIZED VIEW guarded.mv_top IS 'fine';
CREATE MATERIALIZED VIEW guarded.unmanaged AS SELECT 1 AS x;
ALTER MATERIALIZED VIEW guarded.unmanaged RENAME TO unmanaged2;
DROP MATERIALIZED VIEW guarded.unmanaged2;
DROP MATERIALIZED VIEW IF EXISTS guarded.nothing_here;

-- the API itself passes its own DDL
SELECT pipeline.create_matview('guarded', 'top', 'SELECT id, v, 1 AS one FROM guarded.src', '1 hour', refresh_mode => 'full');
SELECT pipeline.drop_matview('guarded.mv_top', cascade => true);
SELECT count(*) FROM pipeline.matviews;
DROP SCHEMA guarded CASCADE;
DROP SCHEMA elsewhere;
