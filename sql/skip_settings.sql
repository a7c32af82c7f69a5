-- Skip-unchanged and settings (1.14): a view's answer can depend on the
-- session's TimeZone, DateStyle, ... (ts::date, ts::text).  A run records
-- the settings it ran under; a run whose upstreams did not change is
-- skipped only under the same settings, and refresh() under other settings
-- than the last run's makes the next run refresh.  Before, run_due() under
-- another TimeZone skipped, and the view kept the old text.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA ss;
SET TimeZone = 'UTC';
CREATE TABLE ss.t (id int, ts timestamptz);
INSERT INTO ss.t VALUES (1, '2026-01-01 02:00+00');
SELECT pipeline.create_matview('ss', 'd', 'SELECT id, ts::date AS d, ts::text AS tt FROM ss.t', '1 hour');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00');
-- the same settings: skipped
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00');
-- another TimeZone: refreshed, the text is the new zone's
SET TimeZone = 'America/New_York';
SELECT matview, status FROM pipeline.run_due('2030-01-01 02:00+00');
SELECT * FROM ss.mv_d;
SELECT matview, status FROM pipeline.run_due('2030-01-01 03:00+00');
-- refresh() under UTC again; the next run (New York) refreshes, not skips
SET TimeZone = 'UTC';
SELECT matview, status FROM pipeline.refresh('ss.mv_d');
SELECT * FROM ss.mv_d;
SET TimeZone = 'America/New_York';
SELECT matview, status FROM pipeline.run_due('2030-01-01 04:00+00');
SELECT * FROM ss.mv_d;
-- refresh() under the run's own settings keeps the next skip
SELECT matview, status FROM pipeline.refresh('ss.mv_d');
SELECT matview, status FROM pipeline.run_due('2030-01-01 05:00+00');
-- DateStyle too
SET DateStyle = 'SQL, DMY';
SELECT matview, status FROM pipeline.run_due('2030-01-01 06:00+00');
SELECT * FROM ss.mv_d;
RESET DateStyle;
RESET TimeZone;

-- A view that reads a setting itself (current_setting(), pg_settings)
-- runs at every label: its answer follows settings no change row follows
-- (it was skipped, and kept the old value).  Owned by a plain role with a
-- hostile schema first in its path.
CREATE ROLE ss_owner;
CREATE SCHEMA ss_own AUTHORIZATION ss_owner;
CREATE SCHEMA ss_trap AUTHORIZATION ss_owner;
SET ROLE ss_owner;
CREATE FUNCTION ss_trap.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
SET search_path = ss_trap, public;
SET ss.tag = 'a';
SET work_mem = '4MB';
SELECT pipeline.create_matview('ss_own', 'tag',
    $$SELECT pg_catalog.current_setting('ss.tag', true) AS tag$$, '1 hour');
SELECT pipeline.create_matview('ss_own', 'settings',
    $$SELECT setting FROM pg_catalog.pg_settings WHERE name = 'work_mem'$$, '1 hour');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') ORDER BY 1;
SET ss.tag = 'b';
SET work_mem = '8MB';
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00') ORDER BY 1;
SELECT (SELECT tag FROM ss_own.mv_tag) AS tag, (SELECT setting FROM ss_own.mv_settings) AS setting;
RESET ss.tag;
RESET work_mem;
RESET search_path;
SELECT pipeline.drop_matview('ss_own.mv_tag');
SELECT pipeline.drop_matview('ss_own.mv_settings');
RESET ROLE;
DROP SCHEMA ss_own CASCADE;
DROP SCHEMA ss_trap CASCADE;
DROP ROLE ss_owner;

SELECT pipeline.drop_matview('ss.mv_d');
DROP SCHEMA ss CASCADE;
