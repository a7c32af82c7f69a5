-- A grouped view that reads one table with plain columns (no WHERE, no
-- expression on a source row) reads its change log as logged, each row
-- image with its sign, without consolidating it (src/views/differential.c,
-- reads_rows_as_logged()): a row that came and went inside one window is
-- counted both ways.  Views compared with their full recompute after every
-- refresh: rows inserted and deleted before the refresh (a new extreme, a
-- new group, a larger numeric scale), a row updated twice, rolled back
-- writes, a TRUNCATE; and a view with a WHERE clause, which consolidates,
-- over a row that would fail its expression.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA logged;
CREATE TABLE logged.events (id serial PRIMARY KEY, k int, x numeric, t timestamptz, f boolean);
INSERT INTO logged.events (k, x, t, f)
SELECT i % 3, (i * 7 % 23)::numeric / 4, '2026-01-01'::timestamptz + i * interval '1 hour', i % 2 = 0
  FROM generate_series(1, 60) i;

CREATE FUNCTION logged.per_key() RETURNS TABLE (k int, n bigint, nx bigint, total numeric, mean numeric,
    lo numeric, hi numeric, last_t timestamptz, all_f boolean, any_f boolean)
LANGUAGE sql STABLE AS $$
    SELECT k, count(*), count(x), sum(x), avg(x), min(x), max(x), max(t), bool_and(f), bool_or(f)
      FROM logged.events GROUP BY k
$$;
CREATE FUNCTION logged.inverse() RETURNS TABLE (k int, n bigint, s numeric)
LANGUAGE sql STABLE AS $$
    SELECT k, count(*), sum(1 / x) FROM logged.events WHERE x <> 0 OR k < 0 GROUP BY k
$$;
SELECT pipeline.create_matview('logged', 'per_key',
    'SELECT k, count(*) AS n, count(x) AS nx, sum(x) AS total, avg(x) AS mean, min(x) AS lo,
            max(x) AS hi, max(t) AS last_t, bool_and(f) AS all_f, bool_or(f) AS any_f
       FROM logged.events GROUP BY k', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('logged', 'inverse',
    'SELECT k, count(*) AS n, sum(1 / x) AS s FROM logged.events WHERE x <> 0 OR k < 0 GROUP BY k',
    '1 hour', refresh_mode => 'differential');
SELECT name, refresh_mode FROM pipeline.matviews WHERE schema_name = 'logged' ORDER BY 1;

CREATE FUNCTION logged.differences() RETURNS TABLE (view text, rows bigint) LANGUAGE sql AS $$
    SELECT 'per_key', count(*) FROM (
        (SELECT * FROM logged.mv_per_key EXCEPT ALL SELECT * FROM logged.per_key())
        UNION ALL (SELECT * FROM logged.per_key() EXCEPT ALL SELECT * FROM logged.mv_per_key)) x
    UNION ALL
    SELECT 'inverse', count(*) FROM (
        (SELECT * FROM logged.mv_inverse EXCEPT ALL SELECT * FROM logged.inverse())
        UNION ALL (SELECT * FROM logged.inverse() EXCEPT ALL SELECT * FROM logged.mv_inverse)) x
$$;
-- run both at the next label, then: rows differing from the recompute,
-- and how each ran (a view reading as logged counts both images of a row)
\set refresh 'SELECT r.matview, r.status FROM (SELECT ''2030-01-01 00:00+00''::timestamptz + pg_catalog.count(*) * interval ''1 hour'' AS label FROM pipeline.runs) x, LATERAL pipeline.run_due(x.label) r WHERE r.matview::text LIKE ''logged.%'' ORDER BY 1; SELECT * FROM logged.differences() ORDER BY 1; SELECT matview, detail FROM pipeline.runs WHERE run_id IN (SELECT max(run_id) FROM pipeline.runs WHERE matview::text LIKE ''logged.%'' GROUP BY matview) ORDER BY 1;'
:refresh

-- a new largest value per key that goes again before the refresh
INSERT INTO logged.events (k, x, t, f) SELECT k, 100 + k, '2027-01-01', false FROM generate_series(0, 2) k;
DELETE FROM logged.events WHERE x >= 100;
:refresh

-- the same with a smallest value, and a later time, updated twice
INSERT INTO logged.events (k, x, t, f) VALUES (1, -5, '2027-02-01', true);
UPDATE logged.events SET x = -6 WHERE x = -5;
UPDATE logged.events SET x = -7, t = '2027-03-01' WHERE x = -6;
:refresh
DELETE FROM logged.events WHERE x = -7;
:refresh

-- a group that comes and goes inside one window; a larger scale likewise
INSERT INTO logged.events (k, x, t, f) VALUES (7, 1.5, '2027-04-01', true), (NULL, 2.125, NULL, NULL);
INSERT INTO logged.events (k, x, t, f) VALUES (0, 3.14159, '2027-04-02', false);
DELETE FROM logged.events WHERE k = 7 OR k IS NULL OR x = 3.14159;
:refresh

-- a row that would fail the filtered view's expression (1 / 0), there only
-- inside the window: that view consolidates, so nothing evaluates it
INSERT INTO logged.events (k, x, t, f) VALUES (-1, 0, '2027-05-01', true);
DELETE FROM logged.events WHERE k = -1;
:refresh

-- rolled back writes and a change that stays
BEGIN;
INSERT INTO logged.events (k, x, t, f) VALUES (2, 1000, '2028-01-01', true);
DELETE FROM logged.events WHERE k = 0;
ROLLBACK;
UPDATE logged.events SET x = x + 1 WHERE id % 5 = 0;
:refresh

-- a TRUNCATE inside the window: a full refresh
INSERT INTO logged.events (k, x, t, f) VALUES (1, 2, '2028-02-01', true);
TRUNCATE logged.events;
INSERT INTO logged.events (k, x, t, f) VALUES (1, 2, '2028-02-01', true), (2, 3.5, NULL, false);
:refresh
SELECT * FROM logged.mv_per_key ORDER BY k;

SET client_min_messages = warning;
SELECT pipeline.drop_matview('logged.mv_per_key');
SELECT pipeline.drop_matview('logged.mv_inverse');
DROP SCHEMA logged CASCADE;
