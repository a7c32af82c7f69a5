-- A refresh whose changes are rows that came alone (inserts, COPY) into one
-- source a branch reads: the grouped view's statements leave out what rows
-- that went need (src/views/diff_sql_group.c, "a delta of gains alone").
-- Views compared with their full recompute after every refresh: appends of
-- new groups, NULL keys and values, scales, NaN and infinities, then
-- appends into both sides of a join and into a self-join (not gains alone:
-- one term takes rows back), then a delete after appends.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA gains;
CREATE TABLE gains.events (id serial PRIMARY KEY, k int, x numeric, f boolean, t text COLLATE "C");
CREATE TABLE gains.kinds (k int, label text);
INSERT INTO gains.events (k, x, f, t)
SELECT i % 4, (i * 7 % 23)::numeric / 4, i % 3 = 0, chr(65 + i % 26) FROM generate_series(1, 40) i;
INSERT INTO gains.kinds VALUES (0, 'zero'), (1, 'one'), (2, 'two'), (3, 'three');

CREATE FUNCTION gains.per_key() RETURNS TABLE (k int, n bigint, nx bigint, total numeric, mean numeric,
    lo numeric, hi numeric, all_f boolean, any_f boolean, first_t text, last_t text)
LANGUAGE sql STABLE AS $$
    SELECT k, count(*), count(x), sum(x), avg(x), min(x), max(x), bool_and(f), bool_or(f), min(t), max(t)
      FROM gains.events GROUP BY k
$$;
SELECT pipeline.create_matview('gains', 'per_key',
    'SELECT k, count(*) AS n, count(x) AS nx, sum(x) AS total, avg(x) AS mean, min(x) AS lo,
            max(x) AS hi, bool_and(f) AS all_f, bool_or(f) AS any_f, min(t) AS first_t, max(t) AS last_t
       FROM gains.events GROUP BY k', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('gains', 'overall',
    'SELECT count(*) AS n, sum(x) AS total, max(x) AS hi, min(t) AS first_t FROM gains.events',
    '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('gains', 'per_label',
    'SELECT s.label, count(*) AS n, sum(e.x) AS total, max(e.x) AS hi
       FROM gains.events e JOIN gains.kinds s ON s.k = e.k GROUP BY s.label', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('gains', 'pairs',
    'SELECT a.k, count(*) AS n, max(b.x) AS hi FROM gains.events a JOIN gains.events b ON b.k = a.k
      GROUP BY a.k', '1 hour', refresh_mode => 'differential');
SELECT name, refresh_mode FROM pipeline.matviews WHERE schema_name = 'gains' ORDER BY 1;

CREATE FUNCTION gains.differences() RETURNS TABLE (view text, rows bigint) LANGUAGE sql AS $$
    SELECT 'per_key', count(*) FROM (
        (SELECT * FROM gains.mv_per_key EXCEPT ALL SELECT * FROM gains.per_key())
        UNION ALL (SELECT * FROM gains.per_key() EXCEPT ALL SELECT * FROM gains.mv_per_key)) x
    UNION ALL
    SELECT 'overall', count(*) FROM (
        (SELECT * FROM gains.mv_overall
         EXCEPT ALL SELECT count(*), sum(x), max(x), min(t) FROM gains.events)
        UNION ALL (SELECT count(*), sum(x), max(x), min(t) FROM gains.events
                   EXCEPT ALL SELECT * FROM gains.mv_overall)) x
    UNION ALL
    SELECT 'per_label', count(*) FROM (
        (SELECT * FROM gains.mv_per_label
         EXCEPT ALL SELECT s.label, count(*), sum(e.x), max(e.x)
                      FROM gains.events e JOIN gains.kinds s ON s.k = e.k GROUP BY s.label)
        UNION ALL (SELECT s.label, count(*), sum(e.x), max(e.x)
                     FROM gains.events e JOIN gains.kinds s ON s.k = e.k GROUP BY s.label
                   EXCEPT ALL SELECT * FROM gains.mv_per_label)) x
    UNION ALL
    SELECT 'pairs', count(*) FROM (
        (SELECT * FROM gains.mv_pairs
         EXCEPT ALL SELECT a.k, count(*), max(b.x) FROM gains.events a JOIN gains.events b ON b.k = a.k
                     GROUP BY a.k)
        UNION ALL (SELECT a.k, count(*), max(b.x) FROM gains.events a JOIN gains.events b ON b.k = a.k
                    GROUP BY a.k
                   EXCEPT ALL SELECT * FROM gains.mv_pairs)) x
$$;
CREATE FUNCTION gains.refresh() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT name || ' ' || status FROM (
        SELECT 'per_key' AS name, status FROM pipeline.refresh('gains.mv_per_key') UNION ALL
        SELECT 'overall', status FROM pipeline.refresh('gains.mv_overall') UNION ALL
        SELECT 'per_label', status FROM pipeline.refresh('gains.mv_per_label') UNION ALL
        SELECT 'pairs', status FROM pipeline.refresh('gains.mv_pairs')) r
$$;
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;

-- appends: existing and new groups, a NULL key, NULL values, larger and
-- smaller scales, the same row twice
INSERT INTO gains.events (k, x, f, t) VALUES
    (1, 100.125, true, 'a'), (1, -3, false, 'zz'), (5, 2.5, NULL, NULL), (NULL, 7.00, true, 'q'),
    (NULL, NULL, NULL, NULL), (2, NULL, false, 'B'), (6, 1.5, true, 'x'), (6, 1.5, true, 'x');
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;
SELECT k, n, total, mean, lo, hi FROM gains.mv_per_key WHERE k IS NULL OR k >= 5 ORDER BY k;

-- a group of NULL values alone, appended to twice: still without a value
-- (its state's sums, scales and extremes stay zero and NULL)
INSERT INTO gains.events (k, x, f, t) VALUES (8, NULL, NULL, NULL);
SELECT * FROM gains.refresh();
INSERT INTO gains.events (k, x, f, t) VALUES (8, NULL, NULL, NULL), (8, NULL, true, NULL);
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;
SELECT k, n, nx, total, mean, lo, hi, all_f, any_f, first_t FROM gains.mv_per_key WHERE k = 8;

-- 100 rows at once, scales 0 to 3: the one-row overall view's delta has
-- more than 32 rows per view row and sums by sum(), the others by adding
-- each value to the last (pipeline.numeric_sum(), 1.21)
INSERT INTO gains.events (k, x, f, t)
SELECT i % 3, round((i * 37 % 101)::numeric / 7, i % 4) - 5, i % 2 = 0, chr(97 + i % 26)
  FROM generate_series(1, 100) i;
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;
SELECT n, total FROM gains.mv_overall;

-- NaN and infinities come, COPY appends
INSERT INTO gains.events (k, x, f, t) VALUES (2, 'NaN', true, 'n'), (3, 'Infinity', false, 'i'),
    (3, '-Infinity', true, 'j');
COPY gains.events (k, x, f, t) FROM stdin;
7	0.0001	t	c
7	12	f	d
1	-50.5	t	A
\.
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;
SELECT k, total, mean, lo, hi FROM gains.mv_per_key WHERE k IN (2, 3, 7) ORDER BY k;

-- both sides of the join and the self-join get rows: terms that take rows
-- back, handled as before
INSERT INTO gains.kinds VALUES (7, 'seven'), (1, 'one again');
INSERT INTO gains.events (k, x, f, t) VALUES (7, 3, true, 'e'), (1, 1000, false, 'f');
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;

-- appends inside a transaction that also deletes them, or deletes others
BEGIN;
INSERT INTO gains.events (k, x, f, t) VALUES (8, 9, true, 'g');
DELETE FROM gains.events WHERE k = 8;
INSERT INTO gains.events (k, x, f, t) VALUES (9, 10, false, 'h');
COMMIT;
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;
DELETE FROM gains.events WHERE x = (SELECT max(x) FROM gains.events WHERE k = 1 AND x <> 'NaN');
INSERT INTO gains.events (k, x, f, t) VALUES (1, 0.5, true, 'h');
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;

-- and appends again after it, into groups whose kept values changed
INSERT INTO gains.events (k, x, f, t) SELECT i % 10, i, i % 2 = 0, 'r' || i FROM generate_series(1, 30) i;
SELECT * FROM gains.refresh();
SELECT * FROM gains.differences() WHERE rows <> 0;

SELECT pipeline.drop_matview('gains.mv_' || v) FROM unnest('{pairs,per_label,overall,per_key}'::text[]) v;
DROP SCHEMA gains CASCADE;
