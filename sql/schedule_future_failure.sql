-- A view that failed for a later label (run_due() as of a later time, as
-- tests step time) is not claimed again for an earlier one: the claim
-- found its row, recorded nothing and drew a run id, and the scheduler did
-- so on every tick (about 2,000 a second).  run_due() now leaves it alone
-- until its time comes.  As a non-superuser with a trap schema first.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE sf_owner LOGIN;
CREATE SCHEMA sf AUTHORIZATION sf_owner;
CREATE SCHEMA sf_trap AUTHORIZATION sf_owner;
CREATE TABLE sf.src (x int);
GRANT SELECT ON sf.src TO sf_owner;
RESET client_min_messages;
SET ROLE sf_owner;
CREATE FUNCTION sf_trap.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
SET search_path = sf_trap, public, pg_catalog;
SELECT pipeline.create_matview('sf', 'v', 'SELECT x FROM sf.src', '1 hour');
RESET ROLE;
REVOKE SELECT ON sf.src FROM sf_owner;
SET ROLE sf_owner;
SELECT status FROM pipeline.run_due(pg_catalog.now());
SELECT status FROM pipeline.run_due(pg_catalog.now() + interval '2 hours');
RESET ROLE;
SELECT last_value AS run_ids_before FROM pipeline.runs_run_id_seq \gset
SET ROLE sf_owner;
SELECT count(*) AS nothing_due FROM pipeline.run_due(pg_catalog.now());
RESET ROLE;
SELECT last_value - :run_ids_before AS run_ids_drawn FROM pipeline.runs_run_id_seq;
SET ROLE sf_owner;
SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'failed') AS failed
  FROM pipeline.runs WHERE matview = 'sf.mv_v'::regclass;
-- a failed label of another interval holds nothing back: an hourly label
-- failed, then the view was redefined daily: it runs its day's label
SELECT status FROM pipeline.run_due('2030-01-02 11:30+00');
RESET ROLE;
GRANT SELECT ON sf.src TO sf_owner;
SET ROLE sf_owner;
SELECT pipeline.create_matview('sf', 'v', 'SELECT x FROM sf.src', '1 day');
SELECT time_label AT TIME ZONE 'UTC' AS day, status FROM pipeline.run_due('2030-01-02 11:40+00');
RESET search_path;
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview('sf.mv_v');
DROP SCHEMA sf CASCADE;
DROP SCHEMA sf_trap CASCADE;
DROP ROLE sf_owner;
