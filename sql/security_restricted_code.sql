-- User code (a view's query, full or differential, an expectation, an
-- after-refresh hook) runs as a security-restricted operation, as REFRESH
-- runs a materialized view's query (API.md section 7): it cannot create
-- temporary objects, which would outlive the refresh in the session of
-- whoever refreshes and come before pg_catalog in their search_path.  A
-- mutation pass found nothing tested it.  As a non-superuser with a trap
-- schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE src_owner LOGIN;
CREATE SCHEMA src AUTHORIZATION src_owner;
CREATE SCHEMA src_trap AUTHORIZATION src_owner;
RESET client_min_messages;
SET ROLE src_owner;
CREATE FUNCTION src_trap.count(int) RETURNS bigint LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: count ran as %', current_user; END $f$;
SET search_path = src_trap, public, pg_catalog;

CREATE TABLE src.events (k int, v int);
INSERT INTO src.events VALUES (1, 10), (2, 20);
CREATE TABLE src.armed (on_ boolean);
INSERT INTO src.armed VALUES (false);
-- once armed, leaves a temporary table in the session that runs it
CREATE FUNCTION src.plant_now() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT on_ FROM src.armed) THEN
    EXECUTE 'CREATE TEMP TABLE IF NOT EXISTS planted (x int)';
  END IF;
  RETURN true;
END $f$;
-- declared immutable, so that a differential view may call it
CREATE FUNCTION src.plant(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  RETURN src.plant_now();
END $f$;
CREATE FUNCTION src.hook(regclass, timestamptz) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM src.plant_now();
END $f$;

SELECT pipeline.create_matview('src', 'full_query',
  'SELECT k, v FROM src.events WHERE src.plant(k)', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('src', 'diff_query',
  'SELECT k, pg_catalog.count(*) AS n FROM src.events WHERE src.plant(k) GROUP BY k', '1 hour',
  refresh_mode => 'differential');
SELECT pipeline.define($d$/**
 * @matview-schema src
 * @matview-name expected
 * @interval-in-minutes 60
 * @expect planted: src.plant(k)
 */ SELECT k, v FROM src.events$d$);
SELECT pipeline.create_matview('src', 'stream',
  'SELECT k, v FROM src.events WHERE src.plant(k)', '1 hour', 'incremental', 'k');
SELECT pipeline.create_matview('src', 'hooked', 'SELECT k FROM src.events', '1 hour');
SELECT pipeline.set_after_refresh('src.mv_hooked', 'src.hook(regclass,timestamptz)');
SELECT matview, refresh_mode FROM pipeline.matviews WHERE matview::text LIKE 'src.%' ORDER BY 1;

UPDATE src.armed SET on_ = true;
INSERT INTO src.events VALUES (3, 30);
\set VERBOSITY terse
SELECT matview, status FROM pipeline.refresh('src.mv_full_query', false);
SELECT matview, status FROM pipeline.refresh('src.mv_diff_query', false);
SELECT matview, status FROM pipeline.refresh('src.mv_expected', false);
SELECT matview, status FROM pipeline.refresh('src.mv_stream', false);
SELECT matview, status FROM pipeline.refresh('src.mv_hooked', false);
\set VERBOSITY default
SELECT count(*) AS temporary_tables_left FROM pg_catalog.pg_class WHERE relname OPERATOR(pg_catalog.=) 'planted';
-- the views keep what they had
SELECT k, n FROM src.mv_diff_query ORDER BY k;
SELECT k FROM src.mv_stream ORDER BY k;
SELECT k FROM src.mv_hooked ORDER BY k;

-- a hook runs only while the view's owner may execute it: checked at
-- every run, not only when it was set
RESET ROLE;
CREATE TABLE src.hook_log (m regclass);
ALTER TABLE src.hook_log OWNER TO src_owner;
CREATE FUNCTION public.src_logged_hook(m regclass, t timestamptz) RETURNS void LANGUAGE sql
  AS 'INSERT INTO src.hook_log VALUES (m)';
REVOKE EXECUTE ON FUNCTION public.src_logged_hook(regclass, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.src_logged_hook(regclass, timestamptz) TO src_owner;
SET ROLE src_owner;
UPDATE src.armed SET on_ = false;
SELECT pipeline.set_after_refresh('src.mv_hooked', 'public.src_logged_hook(regclass,timestamptz)');
SELECT matview, status FROM pipeline.refresh('src.mv_hooked', false);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION public.src_logged_hook(regclass, timestamptz) FROM src_owner;
SET ROLE src_owner;
\set VERBOSITY terse
SELECT matview, status FROM pipeline.refresh('src.mv_hooked', false);
\set VERBOSITY default
SELECT count(*) AS hook_ran FROM src.hook_log;

RESET search_path;
RESET ROLE;
SET client_min_messages = warning;
SELECT pipeline.drop_matview('src.mv_full_query');
SELECT pipeline.drop_matview('src.mv_diff_query');
SELECT pipeline.drop_matview('src.mv_expected');
SELECT pipeline.drop_matview('src.mv_stream');
SELECT pipeline.drop_matview('src.mv_hooked');
DROP SCHEMA src, src_trap CASCADE;
DROP FUNCTION public.src_logged_hook(regclass, timestamptz);
DROP ROLE src_owner;
