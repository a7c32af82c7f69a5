-- pipeline.status.next_label is the label run_due() runs next, in every
-- TimeZone: labels are a whole number of seconds apart, so a '1 day'
-- view's next label is 86,400 s after its last, across a DST change too
-- (before 1.20 it was 23, 24.5 or 25 hours on, no label at all).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';

CREATE SCHEMA dst;
CREATE TABLE dst.t (x int);
INSERT INTO dst.t VALUES (1);
SELECT pipeline.create_matview('dst', 'daily', 'SELECT count(*) AS n FROM dst.t', '1 day',
                               refresh_mode => 'full');
SELECT matview, time_label, status FROM pipeline.run_due('2026-03-08 12:00+00');
CREATE FUNCTION dst.next_label() RETURNS text LANGUAGE sql AS $$
    SELECT (next_label AT TIME ZONE 'UTC')::text || ' UTC'
      FROM pipeline.status WHERE matview = 'dst.mv_daily'::regclass
$$;
SELECT dst.next_label() AS in_utc;
SET timezone = 'America/New_York';     -- summer time from 2026-03-08 02:00
SELECT dst.next_label() AS in_new_york;
SET timezone = 'Australia/Lord_Howe';  -- half an hour off, 2026-04-05
SELECT matview, time_label, status FROM pipeline.run_due('2026-04-04 12:00+00');
SELECT dst.next_label() AS in_lord_howe;
SET timezone = 'UTC';
UPDATE dst.t SET x = 2;
SELECT matview, time_label, status FROM pipeline.run_due('2026-04-05 00:10+00');

-- a year is 360 days to labels, as a month is 30: the next label is the
-- one run_due() runs (extract(epoch) counts 365.25 days)
SELECT pipeline.create_matview('dst', 'yearly', 'SELECT count(*) AS n FROM dst.t', '1 year',
                               refresh_mode => 'full');
SELECT matview, time_label, status FROM pipeline.run_due('2030-06-01 00:00+00')
 WHERE matview = 'dst.mv_yearly'::regclass;
SELECT next_label FROM pipeline.status WHERE matview = 'dst.mv_yearly'::regclass;
UPDATE dst.t SET x = 3;
SELECT matview, time_label, status FROM pipeline.run_due('2031-06-01 00:00+00')
 WHERE matview = 'dst.mv_yearly'::regclass;

-- a new interval: the next label is one of the new interval's, as run_due()
-- runs it (1.27: it was the last label of the old interval plus the new one)
SELECT pipeline.create_matview('dst', 'retimed', 'SELECT count(*) AS n FROM dst.t', '7 seconds',
                               refresh_mode => 'full');
SELECT matview, time_label, status FROM pipeline.run_due('2026-11-05 08:09:52+00')
 WHERE matview = 'dst.mv_retimed'::regclass;
SELECT pipeline.create_matview('dst', 'retimed', 'SELECT count(*) AS n FROM dst.t', '1 minute',
                               refresh_mode => 'full');
SELECT last_success_label, next_label FROM pipeline.status WHERE matview = 'dst.mv_retimed'::regclass;
UPDATE dst.t SET x = 4;
SELECT matview, time_label, status FROM pipeline.run_due('2026-11-05 08:10:01+00')
 WHERE matview = 'dst.mv_retimed'::regclass;
SELECT pipeline.drop_matview('dst.mv_retimed');
SELECT pipeline.drop_matview('dst.mv_yearly');
SELECT pipeline.drop_matview('dst.mv_daily');
DROP SCHEMA dst CASCADE;
