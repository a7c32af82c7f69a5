-- Hardening: a view's code runs with the settings its owner gets in a
-- fresh session (role and database settings, then the server's), not only
-- its search_path: TimeZone, DateStyle, extra_float_digits and the other
-- settings a query's rows depend on.  So a refresh from a session with
-- another TimeZone, a rebuild in the session of the role that redefined
-- an upstream view and the scheduler's refresh all give the same rows;
-- the caller's own settings are back after the call, and after an error
-- inside the view's query.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE os_owner LOGIN;
CREATE ROLE os_other LOGIN;
CREATE SCHEMA os_owner AUTHORIZATION os_owner;
CREATE SCHEMA os_other AUTHORIZATION os_other;
GRANT USAGE ON SCHEMA os_other TO PUBLIC;
ALTER ROLE os_owner SET TimeZone = 'Asia/Tokyo';
ALTER ROLE os_owner SET DateStyle = 'SQL, DMY';
ALTER ROLE os_owner SET extra_float_digits = 0;

-- the upstream role: its events, a view of them, and look-alikes of the
-- built-ins the owner's view calls in a schema first on its path
SET SESSION AUTHORIZATION os_other;
SET search_path = os_other, pg_catalog;
CREATE TABLE os_other.events (id int PRIMARY KEY, ts timestamptz);
INSERT INTO os_other.events VALUES (1, '2026-06-01 20:30+00'), (2, '2026-06-02 01:00+00');
GRANT SELECT ON os_other.events TO PUBLIC;
CREATE FUNCTION os_other.to_char(timestamptz, text) RETURNS text LANGUAGE sql
    AS $f$SELECT 'hijacked'::pg_catalog.text$f$;
SELECT pipeline.create_matview('os_other', 'src', 'SELECT id, ts FROM os_other.events', '1 hour');
GRANT SELECT ON os_other.mv_src TO PUBLIC;

-- the owner's views: one refreshed in full, one differentially
SET SESSION AUTHORIZATION os_owner;
SET search_path = os_other, public, pg_catalog;
SET TimeZone = 'America/New_York';
SET DateStyle = 'Postgres, MDY';
SET extra_float_digits = 3;
-- (its expectation holds in the owner's TimeZone only, the one at first
-- and UTC later)
SELECT pipeline.create_matview('os_owner', 'days',
    $q$SELECT id, ts, ts::date AS d, pg_catalog.to_char(ts, 'DD Mon HH24:MI') AS c, ts::text AS t,
              (id / 3.0::float8)::text AS f
         FROM os_other.mv_src$q$, '1 hour', refresh_mode => 'full',
    options => '{"expect": ["owners_zone: pg_catalog.to_char(ts, ''TZ'') IN (''JST'', ''UTC'')"]}');
SELECT pipeline.create_matview('os_owner', 'counts',
    $q$SELECT ts::date AS d, count(*) AS n FROM os_other.events GROUP BY 1$q$, '1 hour',
    refresh_mode => 'differential');
-- the first fill is the owner's: Tokyo's day, the owner's DateStyle and
-- float digits
SELECT id, d, c, t, f FROM os_owner.mv_days ORDER BY id;
SELECT d, n FROM os_owner.mv_counts ORDER BY d;
-- the caller's settings are its own again
SHOW TimeZone;
SHOW DateStyle;
SHOW extra_float_digits;

-- a role without settings gets the server's (test/regress.conf: UTC, not
-- the built-in GMT), not the PST8PDT that pg_regress gives its sessions
SET SESSION AUTHORIZATION os_other;
SELECT pipeline.create_matview('os_other', 'plain',
    $q$SELECT id, ts::text AS t, pg_catalog.to_char(ts, 'TZ') AS zone FROM os_other.events$q$,
    '1 hour');
SELECT id, t, zone FROM os_other.mv_plain ORDER BY id;
SELECT pipeline.drop_matview('os_other.mv_plain');

-- a superuser's refresh from a session with other settings: the owner's rows
RESET SESSION AUTHORIZATION;
SET search_path = os_other, public, pg_catalog;
SET TimeZone = 'Pacific/Honolulu';
SET DateStyle = 'ISO, YMD';
INSERT INTO os_other.events VALUES (3, '2026-06-02 16:00+00');
SELECT status, rows FROM pipeline.refresh('os_other.mv_src');
SELECT id, d, c, t, f FROM os_owner.mv_days ORDER BY id;
-- the differential view follows the changes: the settings it depends on
-- are its owner's, the same as at its last refresh
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00')
 WHERE matview = 'os_owner.mv_counts'::regclass;
SELECT regexp_replace(detail, ', DateStyle=.*$', ', ...)') AS detail FROM pipeline.runs
 WHERE matview = 'os_owner.mv_counts'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT d, n FROM os_owner.mv_counts ORDER BY d;
SHOW TimeZone;
SHOW DateStyle;

-- an error inside the view's query: the caller's settings are back
SET SESSION AUTHORIZATION os_owner;
SET TimeZone = 'Europe/Paris';
SET DateStyle = 'Postgres, DMY';
SELECT pipeline.create_matview('os_owner', 'fragile',
    $q$SELECT id, 1 / (id - 4) AS x, ts::date AS d FROM os_other.events$q$, '1 hour',
    refresh_mode => 'full');
RESET SESSION AUTHORIZATION;
INSERT INTO os_other.events VALUES (4, '2026-06-03 00:00+00');
SET SESSION AUTHORIZATION os_owner;
SET TimeZone = 'Europe/Paris';
SET DateStyle = 'Postgres, DMY';
SELECT status, rows FROM pipeline.refresh('os_owner.mv_fragile');
SHOW TimeZone;
SHOW DateStyle;
SELECT current_user;
RESET SESSION AUTHORIZATION;
DELETE FROM os_other.events WHERE id = 4;

-- a redefinition upstream, by its role in a session of its own settings,
-- rebuilds the owner's view: with the owner's settings
SET SESSION AUTHORIZATION os_other;
SET search_path = os_other, pg_catalog;
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'Postgres, MDY';
SELECT pipeline.create_matview('os_other', 'src', 'SELECT id, ts FROM os_other.events WHERE id < 3',
                               '1 hour');
RESET SESSION AUTHORIZATION;
SELECT id, d, c, t, f FROM os_owner.mv_days ORDER BY id;

-- the owner's defaults change: a differential view depending on them is
-- recomputed, once
ALTER ROLE os_owner SET TimeZone = 'UTC';
INSERT INTO os_other.events VALUES (5, '2026-06-04 23:30+00');
SELECT matview, status FROM pipeline.run_due('2030-01-01 02:00+00')
 WHERE matview = 'os_owner.mv_counts'::regclass;
SELECT regexp_replace(detail, ', DateStyle=.*$', ', ...)') AS detail FROM pipeline.runs
 WHERE matview = 'os_owner.mv_counts'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT d, n FROM os_owner.mv_counts ORDER BY d;
INSERT INTO os_other.events VALUES (6, '2026-06-05 23:30+00');
SELECT matview, status FROM pipeline.run_due('2030-01-01 03:00+00')
 WHERE matview = 'os_owner.mv_counts'::regclass;
SELECT regexp_replace(detail, ', DateStyle=.*$', ', ...)') AS detail FROM pipeline.runs
 WHERE matview = 'os_owner.mv_counts'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT d, n FROM os_owner.mv_counts ORDER BY d;

-- the owner's setting in this database comes before its own, and the
-- database's after both
ALTER DATABASE :"DBNAME" SET extra_float_digits = 2;
ALTER ROLE os_owner RESET extra_float_digits;
SELECT status FROM pipeline.refresh('os_owner.mv_days');
SELECT id, f FROM os_owner.mv_days ORDER BY id;
ALTER ROLE os_owner IN DATABASE :"DBNAME" SET extra_float_digits = -2;
SELECT status FROM pipeline.refresh('os_owner.mv_days');
SELECT id, f FROM os_owner.mv_days ORDER BY id;
ALTER ROLE os_owner IN DATABASE :"DBNAME" RESET extra_float_digits;
ALTER DATABASE :"DBNAME" RESET extra_float_digits;

-- what a differential refresh builds from the bound query is read with
-- standard_conforming_strings on, whatever the caller's: 'a\b' stays
SET SESSION AUTHORIZATION os_owner;
CREATE TABLE os_owner.words (id int PRIMARY KEY, k text);
INSERT INTO os_owner.words VALUES (1, 'a\b'), (2, 'ab');
SELECT pipeline.create_matview('os_owner', 'slashes',
    $q$SELECT k, count(*) AS n FROM os_owner.words WHERE k = 'a\b' GROUP BY k$q$, '1 hour',
    refresh_mode => 'differential');
SET standard_conforming_strings = off;
INSERT INTO os_owner.words VALUES (3, E'a\\b'), (4, 'ab');
SELECT matview, status FROM pipeline.run_due('2030-01-01 04:00+00')
 WHERE matview = 'os_owner.mv_slashes'::regclass;
SELECT detail FROM pipeline.runs WHERE matview = 'os_owner.mv_slashes'::regclass
 ORDER BY run_id DESC LIMIT 1;
RESET standard_conforming_strings;
SELECT k, n FROM os_owner.mv_slashes;
SELECT pipeline.drop_matview('os_owner.mv_slashes');
RESET SESSION AUTHORIZATION;

-- a default that no longer applies (here written into the catalog past
-- ALTER ROLE's check) is skipped with a warning saying whose it is, and
-- the next one applies, as a new session of the role would
\set SHOW_CONTEXT always
UPDATE pg_db_role_setting SET setconfig = setconfig || '{TimeZone=No/Such_Zone}'::text[]
 WHERE setrole = 'os_owner'::regrole AND setdatabase = 0;
SELECT status FROM pipeline.refresh('os_owner.mv_days');
SELECT id, d, t FROM os_owner.mv_days ORDER BY id;
\set SHOW_CONTEXT errors

RESET TimeZone;
RESET DateStyle;
SELECT pipeline.drop_matview('os_owner.mv_days');
SELECT pipeline.drop_matview('os_owner.mv_counts');
SELECT pipeline.drop_matview('os_owner.mv_fragile');
SELECT pipeline.drop_matview('os_other.mv_src');
DROP SCHEMA os_owner CASCADE;
DROP SCHEMA os_other CASCADE;
DROP ROLE os_owner;
DROP ROLE os_other;
