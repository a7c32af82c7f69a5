-- Stepping the schedule with run_due(as_of): labels, DAG order, skipping
-- unchanged views, a failure blocking its downstream, and recovery.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET pipeline.retry_backoff = 0;

CREATE SCHEMA sched;
CREATE TABLE sched.events (user_id int, n int);
CREATE TABLE sched.tickets (user_id int, score int);
INSERT INTO sched.events VALUES (1, 1), (2, 2);
INSERT INTO sched.tickets VALUES (1, 5), (2, 4);
SELECT pipeline.create_matview('sched', 'engagement',
    'SELECT user_id, sum(n) AS touchpoints FROM sched.events GROUP BY user_id', '30 minutes');
SELECT pipeline.create_matview('sched', 'satisfaction',
    'SELECT user_id, score, 60 / score AS minutes_per_point FROM sched.tickets', '1 hour');
SELECT pipeline.create_matview('sched', 'health',
    'SELECT e.user_id, e.touchpoints * s.score AS score
       FROM sched.mv_engagement e JOIN sched.mv_satisfaction s USING (user_id)', '4 hours');
-- the window a run sees
SELECT pipeline.create_matview('sched', 'windows',
    'SELECT pipeline.window_start() AS window_start, pipeline.window_end() AS window_end', '30 minutes');
SELECT pipeline.window_start(), pipeline.window_end();

-- 00:00: every view is due for its label; DAG order, health after its upstreams
SELECT * FROM pipeline.run_due('2026-01-01 00:00:00+00');
SELECT * FROM sched.mv_windows;
-- 00:10: nothing due
SELECT * FROM pipeline.run_due('2026-01-01 00:10:00+00');
-- 00:30: only the 30-minute views; unchanged sources are skipped
SELECT * FROM pipeline.run_due('2026-01-01 00:30:00+00');
SELECT * FROM sched.mv_windows;
-- 01:00 after new events: engagement refreshes, satisfaction is skipped
INSERT INTO sched.events VALUES (1, 10);
SELECT * FROM pipeline.run_due('2026-01-01 01:00:00+00');
SELECT * FROM sched.mv_engagement ORDER BY user_id;
-- a downtime: at 03:50 only the latest label of each view runs
UPDATE sched.tickets SET score = score + 1;
SELECT * FROM pipeline.run_due('2026-01-01 03:50:00+00');
SELECT * FROM sched.mv_satisfaction ORDER BY user_id;
-- 04:00: health runs after its upstreams succeeded for 04:00
SELECT * FROM pipeline.run_due('2026-01-01 04:00:00+00');
SELECT * FROM sched.mv_health ORDER BY user_id;

-- a failing upstream blocks health; retried up to max_attempts, then waits
INSERT INTO sched.tickets VALUES (3, 0);
SELECT * FROM pipeline.run_due('2026-01-01 08:00:00+00');
-- its next label is the failed one, to be retried (1.12: before, its last
-- success's label plus the interval, 05:00, a label long past)
SELECT matview, last_success_label, attempt, next_label FROM pipeline.status
  JOIN pipeline.runs USING (matview)
 WHERE matview = 'sched.mv_satisfaction'::regclass AND time_label = '2026-01-01 08:00:00+00';
SELECT * FROM pipeline.run_due('2026-01-01 08:01:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 08:02:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 08:03:00+00');
SELECT matview, time_label, attempt, status, error FROM pipeline.runs
 WHERE matview = 'sched.mv_satisfaction'::regclass AND time_label = '2026-01-01 08:00:00+00' ORDER BY attempt;
-- the failed label was given up on: the next is 09:00 (health waits for 08:00)
SELECT matview, last_success_label, last_status, next_label, blocked_by FROM pipeline.status ORDER BY matview::text;
-- the failed view kept its last good data
SELECT * FROM sched.mv_satisfaction ORDER BY user_id;
-- fixed: it recovers at the next label, and health follows
DELETE FROM sched.tickets WHERE score = 0;
SELECT * FROM pipeline.run_due('2026-01-01 09:00:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 12:00:00+00');
SELECT matview, last_success_label, last_status, next_label, blocked_by FROM pipeline.status ORDER BY matview::text;

-- skip-unchanged never misses a change: writes in a rolled-back
-- subtransaction, then a real write in the same transaction
BEGIN;
SAVEPOINT s;
INSERT INTO sched.events VALUES (3, 1);
ROLLBACK TO SAVEPOINT s;
INSERT INTO sched.events VALUES (4, 1);
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 12:30:00+00') WHERE matview = 'sched.mv_engagement'::regclass;
SELECT user_id FROM sched.mv_engagement ORDER BY user_id;
TRUNCATE sched.events;
SELECT * FROM pipeline.run_due('2026-01-01 13:00:00+00') WHERE matview = 'sched.mv_engagement'::regclass;
SELECT count(*) FROM sched.mv_engagement;
-- a volatile query is never skipped
SELECT pipeline.create_matview('sched', 'clock', 'SELECT random() < 2 AS yes', '30 minutes');
SELECT * FROM pipeline.run_due('2026-01-01 13:30:00+00') WHERE matview = 'sched.mv_clock'::regclass;
SELECT * FROM pipeline.run_due('2026-01-01 14:00:00+00') WHERE matview = 'sched.mv_clock'::regclass;

-- history is readable, not writable, by others
CREATE ROLE pipeline_reader;
SET ROLE pipeline_reader;
SELECT count(*) > 0 AS sees_runs FROM pipeline.runs;
DELETE FROM pipeline.runs;
SELECT count(*) FROM pipeline.changes;
-- run_due runs only what the caller owns
SELECT * FROM pipeline.run_due('2026-01-01 14:30:00+00');
RESET ROLE;
DROP ROLE pipeline_reader;

-- consecutive skipped labels are one row: 03:30 to 12:00 for engagement
SELECT time_label, last_time_label, label_count, status FROM pipeline.runs
 WHERE matview = 'sched.mv_engagement'::regclass ORDER BY time_label;
-- a redefinition keeps the run history linked to the new relation
SELECT count(*) AS engagement_runs FROM pipeline.runs WHERE matview = 'sched.mv_engagement'::regclass;
SELECT pipeline.create_matview('sched', 'engagement',
    'SELECT user_id, sum(n) AS touchpoints, count(*) AS events FROM sched.events GROUP BY user_id', '30 minutes');
SELECT count(*) AS engagement_runs FROM pipeline.runs WHERE matview = 'sched.mv_engagement'::regclass;
SELECT * FROM pipeline.run_due('2026-01-01 15:00:00+00') WHERE matview = 'sched.mv_engagement'::regclass;
SELECT pipeline.drop_matview('sched.mv_engagement', cascade => true);
SELECT pipeline.drop_matview('sched.mv_satisfaction');
SELECT pipeline.drop_matview('sched.mv_windows');
SELECT pipeline.drop_matview('sched.mv_clock');
SELECT count(*) AS runs_left FROM pipeline.runs;

-- a cancel (here a statement timeout) ends run_due(); its claims go with it
CREATE TABLE sched.slow_source (x int);
SELECT pipeline.create_matview('sched', 'slow',
    'SELECT count(*) AS n, pg_sleep(CASE WHEN count(*) > 0 THEN 5 ELSE 0 END)::text AS slept FROM sched.slow_source',
    '1 hour');
INSERT INTO sched.slow_source VALUES (1);
SET statement_timeout = '300ms';
SELECT * FROM pipeline.run_due('2026-01-02 00:00:00+00');
RESET statement_timeout;
SELECT count(*) AS runs_after_cancel FROM pipeline.runs;
SELECT pipeline.drop_matview('sched.mv_slow');

-- run_due() labels a year-long interval as time_label() does: a year is 12
-- months of 30 days in both (extract(epoch) would say 365.25 days)
SELECT pipeline.create_matview('sched', 'yearly', 'SELECT count(*) AS n FROM sched.slow_source', '1 year');
SELECT r.time_label = pipeline.time_label('1 year', '2026-03-15 00:00+00') AS same_label, r.status
  FROM pipeline.run_due('2026-03-15 00:00+00') r WHERE r.matview = 'sched.mv_yearly'::regclass;
SELECT pipeline.drop_matview('sched.mv_yearly');

-- pipeline.status.lag: how far behind its schedule a view is, from the first
-- label after its last success (a new view counts as up to date for the label
-- it was defined in); unknown to a role that may not see its runs
SELECT pipeline.create_matview('sched', 'hourly', 'SELECT count(*) AS n FROM sched.slow_source', '1 hour');
SELECT lag AS lag_when_defined FROM pipeline.status WHERE matview = 'sched.mv_hourly'::regclass;
INSERT INTO pipeline.runs (matview, time_label, attempt, status, started_at, finished_at, worker_pid)
VALUES ('sched.mv_hourly', pipeline.time_label('1 hour', now()) - interval '3 hours', 1, 'succeeded',
        now(), now(), 0);
SELECT lag > interval '2 hours' AND lag <= interval '3 hours' AS lag_two_labels_behind
  FROM pipeline.status WHERE matview = 'sched.mv_hourly'::regclass;
SELECT 'sched.mv_hourly'::regclass::oid AS hourly_oid \gset
CREATE ROLE sched_outsider;
SET ROLE sched_outsider;
SELECT lag IS NULL AS lag_unknown_to_others FROM pipeline.status WHERE matview::oid = :hourly_oid;
RESET ROLE;
DROP ROLE sched_outsider;
-- an infinite as_of is refused: it has no label, and recording one would
-- leave the view with a last run no later label could follow
SELECT * FROM pipeline.run_due('infinity');
SELECT * FROM pipeline.run_due('-infinity');
SELECT * FROM pipeline.run_due('294276-12-31 23:59:59+00');
-- and so is one near the start of the range, where a long interval's
-- label would fall before it (it failed with a bare "timestamp out of range")
SELECT * FROM pipeline.run_due('4713-01-01 00:00:00+00 BC');
-- time labels hold to the ends of the range (the sum of a time near its
-- end and the distance between the epochs overflowed)
SELECT pipeline.time_label('1 hour', '294276-12-31 23:59:59+00'),
       pipeline.time_label('1 day', '4713-11-25 00:00:01+00 BC'),
       pipeline.time_label('1 minute', '1969-12-31 23:59:30+00');
SELECT count(*) AS infinite_runs FROM pipeline.runs WHERE NOT isfinite(time_label);
SELECT pipeline.drop_matview('sched.mv_hourly');
DROP SCHEMA sched CASCADE;
