-- Run history grows with work, not with the clock (issue 10), stepped with
-- run_due(as_of): consecutive skipped labels of a view are one row of
-- pipeline.runs, pipeline.run_history_per_view bounds the rows per view
-- (never deleting the latest success), a failed view is retried on
-- run_due's clock with the default backoff and shows as 'waiting' until then.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE SCHEMA hist;
CREATE TABLE hist.src (id int, v int);
INSERT INTO hist.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('hist', 'idle', 'SELECT count(*) AS n, sum(v) AS total FROM hist.src', '1 hour');
-- the window each refresh of mv_idle saw, recorded by its after-refresh hook
CREATE TABLE hist.windows (time_label timestamptz, window_start timestamptz);
CREATE FUNCTION hist.note_window(matview regclass, time_label timestamptz) RETURNS void
LANGUAGE sql AS $$ INSERT INTO hist.windows VALUES (time_label, pipeline.window_start()) $$;
SELECT pipeline.set_after_refresh('hist.mv_idle', 'hist.note_window(regclass,timestamptz)');
SELECT * FROM pipeline.run_due('2026-01-31 23:00+00') WHERE matview::text LIKE 'hist.%';
SELECT pipeline.create_matview('hist', 'down', 'SELECT n * 2 AS n2 FROM hist.mv_idle', '1 hour');
-- what run_due returned at each step
CREATE TABLE hist.steps (as_of timestamptz, matview regclass, time_label timestamptz, status text);

-- a day of hourly labels, sources unchanged
SELECT format('INSERT INTO hist.steps SELECT %L, * FROM pipeline.run_due(%L)', t, t)
  FROM generate_series('2026-02-01 00:00+00'::timestamptz, '2026-02-01 23:00+00', '1 hour') t
\gexec
-- every label ran: mv_idle was skipped 24 times, mv_down (new) refreshed
-- once and was then skipped 23 times; it was never blocked: its upstream's
-- collapsed row counts for its last label
SELECT matview, status, count(*), min(time_label), max(time_label)
  FROM hist.steps WHERE matview::text LIKE 'hist.%' GROUP BY 1, 2 ORDER BY matview::text, status;
-- ... and they are two rows per view
SELECT matview, time_label, last_time_label, label_count, attempt, status, rows
  FROM pipeline.runs WHERE matview::text LIKE 'hist.%' ORDER BY matview::text, time_label;
SELECT matview, last_success_label, last_status, next_label, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'hist.%' ORDER BY matview::text;
-- a collapsed label is never run again
SELECT * FROM pipeline.run_due('2026-02-01 05:00+00') WHERE matview::text LIKE 'hist.%';

-- a change: the next refresh's window starts at the collapsed row's last label
INSERT INTO hist.src VALUES (3, 30);
SELECT * FROM pipeline.run_due('2026-02-02 00:00+00') WHERE matview::text LIKE 'hist.%';
SELECT * FROM hist.windows ORDER BY time_label;
-- a skipped label after a success starts a new row
SELECT * FROM pipeline.run_due('2026-02-02 01:00+00') WHERE matview = 'hist.mv_idle'::regclass;
SELECT * FROM pipeline.run_due('2026-02-02 02:00+00') WHERE matview = 'hist.mv_idle'::regclass;
SELECT time_label, last_time_label, label_count, status
  FROM pipeline.runs WHERE matview = 'hist.mv_idle'::regclass AND time_label >= '2026-02-02'
 ORDER BY time_label;

-- Retries on run_due's clock with the default backoff (30 s, doubling):
-- attempt 2 of a label T is due at T + 30 s, attempt 3 at T + 90 s.
SHOW pipeline.retry_backoff;
SHOW pipeline.max_attempts;
CREATE TABLE hist.divisors (d int);
INSERT INTO hist.divisors VALUES (1);
SELECT pipeline.create_matview('hist', 'fragile', 'SELECT sum(60 / d) AS q FROM hist.divisors', '1 day');
UPDATE hist.divisors SET d = 0;
SELECT * FROM pipeline.run_due('2026-02-03 00:00:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
-- waits: no run, but run_due says so
SELECT * FROM pipeline.run_due('2026-02-03 00:00:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-03 00:00:29+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-03 00:00:30+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-03 00:01:29+00') WHERE matview = 'hist.mv_fragile'::regclass;
-- a role that does not own the view is not told about it
CREATE ROLE hist_other;
SET ROLE hist_other;
SELECT * FROM pipeline.run_due('2026-02-03 00:01:29+00');
RESET ROLE;
DROP ROLE hist_other;
-- fixed before the third attempt, which succeeds
UPDATE hist.divisors SET d = 2;
SELECT * FROM pipeline.run_due('2026-02-03 00:01:30+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT time_label, attempt, status, error FROM pipeline.runs
 WHERE matview = 'hist.mv_fragile'::regclass ORDER BY time_label, attempt;
-- max_attempts failures: no more retries for the label, and nothing to wait for
UPDATE hist.divisors SET d = 0;
SELECT * FROM pipeline.run_due('2026-02-04 00:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-04 01:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-04 02:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT * FROM pipeline.run_due('2026-02-04 23:00+00') WHERE matview = 'hist.mv_fragile'::regclass;
SELECT pipeline.drop_matview('hist.mv_fragile');

-- History bound: at most run_history_per_view rows per view, the newest,
-- and the latest success whatever its age.
SHOW pipeline.run_history_per_view;
SET pipeline.run_history_per_view = 4;
SET pipeline.max_attempts = 1;
CREATE TABLE hist.ticks (n int);
SELECT pipeline.create_matview('hist', 'busy', 'SELECT count(*) AS n FROM hist.ticks', '1 hour');
UPDATE hist.divisors SET d = 1;
SELECT pipeline.create_matview('hist', 'flaky', 'SELECT sum(60 / d) AS q FROM hist.divisors', '1 hour');
-- busy changes at every label; flaky succeeds at 00:00 and fails from 01:00 on
SELECT 'INSERT INTO hist.ticks VALUES (1)',
       format('UPDATE hist.divisors SET d = %s', CASE WHEN t = '2026-02-05 00:00+00' THEN 1 ELSE 0 END),
       format('INSERT INTO hist.steps SELECT %L, * FROM pipeline.run_due(%L)', t, t)
  FROM generate_series('2026-02-05 00:00+00'::timestamptz, '2026-02-05 09:00+00', '1 hour') t
\gexec
SELECT matview, status, count(*) FROM hist.steps
 WHERE matview IN ('hist.mv_busy'::regclass, 'hist.mv_flaky'::regclass) GROUP BY 1, 2 ORDER BY matview::text, status;
SELECT matview, time_label, status FROM pipeline.runs
 WHERE matview IN ('hist.mv_busy'::regclass, 'hist.mv_flaky'::regclass) ORDER BY matview::text, time_label;
SELECT matview, last_success_label, last_status FROM pipeline.status
 WHERE matview IN ('hist.mv_busy'::regclass, 'hist.mv_flaky'::regclass) ORDER BY matview::text;
-- the setting's range
SET pipeline.run_history_per_view = 0;
RESET pipeline.run_history_per_view;
RESET pipeline.max_attempts;

SELECT pipeline.drop_matview('hist.mv_idle', cascade => true);
SELECT pipeline.drop_matview('hist.mv_busy');
SELECT pipeline.drop_matview('hist.mv_flaky');
DROP SCHEMA hist CASCADE;

-- An upgrade from 1.1 keeps the history: every existing row stands for one
-- label, and a skipped label extends a skipped row 1.1 wrote.
CREATE DATABASE pipeline_history_upgrade;
\c pipeline_history_upgrade
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE EXTENSION pipeline VERSION '1.1';
CREATE TABLE raw (x int);
SELECT pipeline.create_matview('public', 'counted', 'SELECT count(*) AS n FROM raw', '1 hour');
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');
ALTER EXTENSION pipeline UPDATE TO '1.2';
SELECT time_label, last_time_label, label_count, status FROM pipeline.runs ORDER BY run_id;
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
SELECT time_label, last_time_label, label_count, status FROM pipeline.runs ORDER BY run_id;
SELECT last_success_label, next_label FROM pipeline.status;
\c contrib_regression
DROP DATABASE pipeline_history_upgrade;
