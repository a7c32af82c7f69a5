-- Upgrading from 1.1: the tracking triggers 1.1 made (enabled for origin
-- sessions only) fire always, and get their row-level companion for
-- replication apply workers; the snapshots 1.1 saved keep skipping views.
-- In a database of its own.
SET client_min_messages = warning;
CREATE DATABASE pipeline_tracking_upgrade;
\c pipeline_tracking_upgrade
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE EXTENSION pipeline VERSION '1.1';
CREATE TABLE src (x int);
INSERT INTO src VALUES (1);
SELECT pipeline.create_matview('public', 'counted', 'SELECT count(*) AS n FROM public.src', '1 hour');
-- under the 1.1 catalog the library judges as 1.1 did
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');
-- the trigger as 1.1 made it (with the guard out of the way: this
-- library's guard refuses it)
ALTER EVENT TRIGGER pipeline_guard_ddl DISABLE;
DROP TRIGGER pipeline_record_change_replica ON src;
ALTER TABLE src ENABLE TRIGGER pipeline_record_change;
ALTER EVENT TRIGGER pipeline_guard_ddl ENABLE;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'src'::regclass ORDER BY tgname;

ALTER EXTENSION pipeline UPDATE TO '1.2';
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS def
  FROM pg_trigger WHERE tgrelid = 'src'::regclass ORDER BY tgname;
SELECT matview, xid, command_id FROM pipeline.refresh_snapshots;
-- the snapshot 1.1 saved still says unchanged; writes are seen
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
SET session_replication_role = replica;
INSERT INTO src VALUES (2);
RESET session_replication_role;
SELECT * FROM pipeline.run_due('2026-01-01 03:00+00');
SELECT n FROM mv_counted;
SELECT * FROM pipeline.run_due('2026-01-01 04:00+00');

\c contrib_regression
DROP DATABASE pipeline_tracking_upgrade;
