-- A managed view cannot depend on a session's temporary objects, directly
-- or through anything (a plain view's query, a type): the session's end
-- drops them with everything that depends on them, and fires no event
-- trigger, so the view's catalog rows were left under a gone OID (which
-- crashed a later drop_matview() of its upstream and made run_due() fail
-- for every other role).  And a function with its own search_path not
-- ending in pg_temp runs where the session's temporary schema is empty
-- (pipeline's REFRESH CONCURRENTLY made and dropped its tables there).
-- As a non-superuser with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE tmp_owner LOGIN;
CREATE SCHEMA tmp_o AUTHORIZATION tmp_owner;
CREATE SCHEMA tmp_trap AUTHORIZATION tmp_owner;
DO $$ BEGIN EXECUTE format('GRANT TEMP ON DATABASE %I TO tmp_owner', current_database()); END $$;
RESET client_min_messages;
SET ROLE tmp_owner;
CREATE FUNCTION tmp_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR tmp_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = tmp_trap.int4eq);
SET search_path = tmp_trap, public, pg_catalog;

-- the error, with the backend's temporary schema's number taken out
CREATE FUNCTION tmp_o.try(statement text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    detail text;
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || ' (' || detail || ')', 'pg_temp_[0-9]+', 'pg_temp_N', 'g');
END $f$;

CREATE TABLE tmp_o.src (id int PRIMARY KEY, v int);
INSERT INTO tmp_o.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('tmp_o', 'up', 'SELECT id, v FROM tmp_o.src', '1 hour');
-- immutable: expanding tmp_o.plain for a differential view drops its unused
-- k (a volatile one would not be expanded), the function still found
CREATE FUNCTION pg_temp.one() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE TYPE pg_temp.pair AS (a int, b int);
CREATE VIEW tmp_o.plain AS SELECT id, pg_temp.one() AS k FROM tmp_o.src;

SELECT tmp_o.try(statement) FROM (VALUES
  ($$SELECT pipeline.create_matview('tmp_o', 'down', 'SELECT id, pg_temp.one() AS k FROM tmp_o.mv_up', '1 hour')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'down', 'SELECT id, NULL::pg_temp.pair AS p FROM tmp_o.mv_up', '1 hour')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'down', 'SELECT id, k FROM tmp_o.plain', '1 hour')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'down', 'SELECT id, k FROM tmp_o.plain', '1 hour', refresh_mode => 'full')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'down', 'SELECT id, count(*) AS n FROM tmp_o.plain GROUP BY id', '1 hour', refresh_mode => 'differential')$$),
  ($$SELECT pipeline.define('/**
 * @matview-schema tmp_o
 * @matview-name down
 * @interval-in-minutes 60
 * @matview-type incremental
 * @incremental-key id
 */ SELECT id, pg_temp.one() AS k FROM tmp_o.src')$$),
  -- a view in a temporary schema: by its alias or its name
  ($$SELECT pipeline.create_matview('pg_temp', 'here', 'SELECT 1 AS x', '1 hour')$$),
  ($$SELECT pipeline.create_matview(pg_my_temp_schema()::regnamespace::name, 'here', 'SELECT 1 AS x', '1 hour')$$),
  -- a redefinition too: the view stays as it was
  ($$SELECT pipeline.create_matview('tmp_o', 'up', 'SELECT id, v, pg_temp.one() AS k FROM tmp_o.src', '1 hour')$$)
) t(statement);
-- a source whose ON INSERT rule writes a temporary table is no such
-- dependency: dropping the rule leaves the source
CREATE TEMP TABLE src_log (id int);
CREATE TABLE tmp_o.logged (id int);
CREATE RULE log_it AS ON INSERT TO tmp_o.logged DO ALSO INSERT INTO pg_temp.src_log VALUES (NEW.id);
SELECT pipeline.create_matview('tmp_o', 'from_logged', 'SELECT id FROM tmp_o.logged', '1 hour');
SELECT pipeline.drop_matview('tmp_o.mv_from_logged');
DROP TABLE tmp_o.logged, pg_temp.src_log;
-- nothing left behind
SELECT name, version, columns FROM pipeline.matviews WHERE schema_name = 'tmp_o';
SELECT relname FROM pg_class WHERE relnamespace = 'tmp_o'::regnamespace AND relkind IN ('r', 'm') ORDER BY 1;
DROP VIEW tmp_o.plain;

-- a hook with its own path that does not end with pg_temp, after a
-- CONCURRENTLY refresh in the same session made and dropped temporary tables
CREATE TABLE tmp_o.hook_log (m regclass);
CREATE FUNCTION tmp_o.hook(m regclass, t timestamptz) RETURNS void LANGUAGE sql
SET search_path = pg_catalog AS $$ INSERT INTO tmp_o.hook_log VALUES (m) $$;
SELECT pipeline.create_matview('tmp_o', 'hooked', 'SELECT count(*) AS n FROM tmp_o.src', '1 hour');
SELECT pipeline.set_after_refresh('tmp_o.mv_hooked', 'tmp_o.hook(regclass, timestamptz)');
CREATE UNIQUE INDEX ON tmp_o.mv_up (id);
DROP FUNCTION pg_temp.one();
DROP TYPE pg_temp.pair;
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_up', false);
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_hooked', false);
SELECT m FROM tmp_o.hook_log;
-- a temporary object in the schema: still refused (it would be found first)
CREATE TEMP TABLE hook_log (m regclass);
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_hooked', false);
DROP TABLE pg_temp.hook_log;
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_hooked', false);
SELECT count(*) FROM tmp_o.hook_log;

-- a hook or an expectation in a temporary schema (kept by OID or by name,
-- each would fail every refresh once the session ended), and ingest() or
-- apply_changes() into a temporary table (what they keep of a target by its
-- OID would outlive it): refused, nothing kept
CREATE FUNCTION pg_temp.temp_hook(m regclass, t timestamptz) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION pg_temp.positive(x bigint) RETURNS boolean LANGUAGE sql AS 'SELECT x > 0';
CREATE TYPE pg_temp.pair AS (a bigint, b bigint);
CREATE COLLATION pg_temp.c FROM "C";
CREATE FUNCTION tmp_o.same(bigint, bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
CREATE OPERATOR pg_temp.=== (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tmp_o.same);
CREATE FUNCTION tmp_o.atomic_positive(x bigint) RETURNS boolean LANGUAGE sql
BEGIN ATOMIC SELECT pg_temp.positive(x); END;
CREATE TEMP TABLE inbox (dedup_id text, id int);
CREATE TEMP TABLE changes (id int, seq int, op text, v int);
CREATE TEMP TABLE target (id int PRIMARY KEY, v int);
INSERT INTO changes VALUES (1, 1, 'I', 10), (2, 1, 'I', 20), (2, 2, 'D', NULL);
SELECT tmp_o.try(statement) FROM (VALUES
  ($$SELECT pipeline.set_after_refresh('tmp_o.mv_hooked', 'pg_temp.temp_hook(regclass, timestamptz)')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'audited', 'SELECT count(*) AS n FROM tmp_o.src', '1 hour',
                                     options => '{"expect": "positive: pg_temp.positive(n)"}')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'audited', 'SELECT count(*) AS n FROM tmp_o.src', '1 hour',
                                     options => '{"expect": "pair: (ROW(n, n)::pg_temp.pair).a > 0"}')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'audited', 'SELECT count(*)::text AS n FROM tmp_o.src', '1 hour',
                                     options => '{"expect": "collated: (n COLLATE pg_temp.c) >= n"}')$$),
  ($$SELECT pipeline.create_matview('tmp_o', 'audited', 'SELECT count(*) AS n FROM tmp_o.src', '1 hour',
                                     options => '{"expect": "operator: NOT (n OPERATOR(pg_temp.===) 0)"}')$$),
  -- through a function whose body calls one (BEGIN ATOMIC records it)
  ($$SELECT pipeline.create_matview('tmp_o', 'audited', 'SELECT count(*) AS n FROM tmp_o.src', '1 hour',
                                     options => '{"expect": "atomic: tmp_o.atomic_positive(n)"}')$$),
  ($$SELECT pipeline.ingest('pg_temp.inbox', '[{"dedup_id": "m1", "id": 1}]')$$),
  ($$SELECT pipeline.apply_changes('pg_temp.changes', 'pg_temp.target', '{id}', 'seq')$$),
  -- a relation that does not exist, by OID
  ($$SELECT pipeline.ingest(0, '[]')$$),
  ($$SELECT pipeline.apply_changes(0, 0, '{id}', 'seq')$$)
) t(statement);
SELECT fn FROM pipeline.after_refresh_hooks WHERE matview = 'tmp_o.mv_hooked'::regclass;
SELECT count(*) FROM pipeline.matviews WHERE name = 'audited';
SELECT count(*) AS ingested FROM pipeline.ingested WHERE target = 'pg_temp.inbox'::regclass;
SELECT count(*) AS applied FROM pg_temp.target;
DROP OPERATOR pg_temp.=== (bigint, bigint);
DROP FUNCTION tmp_o.atomic_positive(bigint);
DROP FUNCTION pg_temp.temp_hook(regclass, timestamptz), pg_temp.positive(bigint), tmp_o.same(bigint, bigint);
DROP TYPE pg_temp.pair;
DROP COLLATION pg_temp.c;
DROP TABLE pg_temp.inbox, pg_temp.changes, pg_temp.target;

-- a plain view the view reads, replaced after its definition to call a
-- temporary function: the session's end drops both, no event trigger
-- fires, and the view's catalog rows stay; defining the name again, or
-- drop_matview(), forgets them first (the name was taken for good)
CREATE VIEW tmp_o.later AS SELECT id, v FROM tmp_o.mv_up;
SELECT pipeline.create_matview('tmp_o', 'later', 'SELECT id, v FROM tmp_o.later', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('tmp_o', 'later2', 'SELECT id, v FROM tmp_o.later', '1 hour', refresh_mode => 'full');
SELECT 'tmp_o.mv_later2'::regclass::oid AS later2 \gset
CREATE FUNCTION pg_temp.zero() RETURNS int LANGUAGE sql AS 'SELECT 0';
CREATE OR REPLACE VIEW tmp_o.later AS SELECT id, v + pg_temp.zero() AS v FROM tmp_o.mv_up;
\c
SET client_min_messages = warning;
SET ROLE tmp_owner;
SET search_path = tmp_trap, public, pg_catalog;
-- (the old session's end drops them as it leaves)
DO $$ BEGIN
  FOR i IN 1..200 LOOP
    EXIT WHEN to_regclass('tmp_o.later') IS NULL;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT to_regclass('tmp_o.mv_later') AS relation, count(*) AS catalog_rows
  FROM pipeline.matview_definitions WHERE schema_name = 'tmp_o' AND name IN ('later', 'later2');
-- run_due() passes them over, for any role, and check() of their
-- upstream judges it without them (it failed: "managed view ... has no
-- relation")
SELECT count(*) FROM pipeline.run_due(now() + interval '2 hours') WHERE matview::oid = :later2;
SELECT matview, status FROM pipeline.check('tmp_o.mv_up', 'SELECT id, v FROM tmp_o.src');
-- and a cascade from it refreshes it alone (it asked to retry, for good)
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_up');
-- drop_matview() forgets them, also over a list in one statement (the
-- first call forgets both)
SELECT count(pipeline.drop_matview(d.matview)) FROM pipeline.matview_definitions d
 WHERE d.schema_name = 'tmp_o' AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = d.matview);
SELECT count(*) AS catalog_rows FROM pipeline.matview_definitions WHERE schema_name = 'tmp_o' AND name IN ('later', 'later2');
-- and the name of the other is free again
SELECT pipeline.create_matview('tmp_o', 'later', 'SELECT id, v FROM tmp_o.src', '1 hour');
SELECT name FROM pipeline.matview_definitions WHERE schema_name = 'tmp_o' AND name IN ('later', 'later2');
SELECT pipeline.drop_matview('tmp_o.mv_later');

-- a view with a unique index calling a function whose path does not end
-- with pg_temp: REFRESH CONCURRENTLY's own tables in the temporary schema
-- are no caller's objects (every refresh of it failed), while the
-- caller's own are still refused
CREATE FUNCTION tmp_o.doubled(int) RETURNS int LANGUAGE sql STABLE
SET search_path = tmp_o AS 'SELECT $1 * 2';
SELECT pipeline.create_matview('tmp_o', 'indexed', 'SELECT id, tmp_o.doubled(v) AS d FROM tmp_o.src', '1 hour',
                               refresh_mode => 'full');
CREATE UNIQUE INDEX ON tmp_o.mv_indexed (id);
UPDATE tmp_o.src SET v = v + 1;
SELECT matview, status, rows FROM pipeline.refresh('tmp_o.mv_indexed');
SELECT * FROM tmp_o.mv_indexed ORDER BY id;
CREATE TEMP TABLE mine (x int);
SELECT tmp_o.try($$SELECT pipeline.refresh('tmp_o.mv_indexed')$$);
DROP TABLE pg_temp.mine;
SELECT matview, status FROM pipeline.refresh('tmp_o.mv_indexed');
SELECT pipeline.drop_matview('tmp_o.mv_indexed');

RESET ROLE;
RESET search_path;
SET client_min_messages = warning;
SELECT pipeline.drop_matview('tmp_o.mv_hooked');
SELECT pipeline.drop_matview('tmp_o.mv_up');
DROP SCHEMA tmp_o CASCADE;
DROP SCHEMA tmp_trap CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE TEMP ON DATABASE %I FROM tmp_owner', current_database()); END $$;
DROP ROLE tmp_owner;
