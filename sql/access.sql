-- Who may read what: row-level security on pipeline.runs (a role sees the
-- runs of the views it owns or may SELECT from), pipeline.status as
-- security_invoker, and upstream views a caller cannot see shown as unknown
-- in blocked_by (a NULL element) and graph() ("unknown N").  Two
-- non-superuser roles, each with its own views; bob's view reads alice's
-- view through a plain view alice shares, so its upstream is a view bob may
-- not read.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET pipeline.retry_backoff = 0;

CREATE ROLE acc_alice;
CREATE ROLE acc_bob;
CREATE ROLE acc_nobody;
CREATE SCHEMA acc_a AUTHORIZATION acc_alice;
CREATE SCHEMA acc_b AUTHORIZATION acc_bob;

SET ROLE acc_alice;
CREATE TABLE acc_a.raw (v text);
INSERT INTO acc_a.raw VALUES ('1'), ('2');
SELECT pipeline.create_matview('acc_a', 'parsed', 'SELECT v::int AS n FROM acc_a.raw', '1 hour');
CREATE VIEW acc_a.shared AS SELECT sum(n) AS n FROM acc_a.mv_parsed;
GRANT USAGE ON SCHEMA acc_a TO acc_bob;
GRANT SELECT ON acc_a.shared TO acc_bob;
RESET ROLE;

SET ROLE acc_bob;
CREATE TABLE acc_b.own (n int);
SELECT pipeline.create_matview('acc_b', 'total', 'SELECT n FROM acc_a.shared', '1 hour');
SELECT pipeline.create_matview('acc_b', 'mine', 'SELECT count(*) AS n FROM acc_b.own', '1 hour');
RESET ROLE;
-- the status view runs with the reader's rights, so the policy applies there
SELECT relname, reloptions FROM pg_class WHERE oid = 'pipeline.status'::regclass;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'pipeline.runs'::regclass;
-- bob's view waits for alice's, which bob may not read
SELECT upstream, downstream FROM pipeline.edges
 WHERE downstream::text LIKE 'acc_%' ORDER BY 1::text, 2::text;
SELECT pipeline.can_see('acc_a.mv_parsed') AS superuser_sees;
SET ROLE acc_bob;
SELECT pipeline.can_see('acc_a.mv_parsed') AS bob_sees_parsed,
       pipeline.can_see('acc_a.shared') AS bob_sees_shared,
       pipeline.can_see('acc_b.mv_total') AS bob_sees_total;
RESET ROLE;

-- 00:00: each runs its own views; bob's run_due must see that alice's view
-- succeeded although bob may not read its runs
SET ROLE acc_alice;
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
RESET ROLE;
SET ROLE acc_bob;
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
RESET ROLE;

-- 01:00: a bad value makes alice's view fail, with the value in the error
SET ROLE acc_alice;
INSERT INTO acc_a.raw VALUES ('s3cr3t-value');
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');
RESET ROLE;
SET ROLE acc_bob;
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');

-- bob: only the runs of his views; alice's error text nowhere
SELECT matview, time_label, status, error FROM pipeline.runs ORDER BY run_id;
SELECT count(*) AS leaked FROM pipeline.runs WHERE error LIKE '%s3cr3t%';
SELECT count(*) AS leaked FROM pipeline.status WHERE last_error LIKE '%s3cr3t%';
-- alice's view has no run history for bob; his view is blocked by "unknown"
SELECT matview, last_success_label, last_status, last_error, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'acc_%' ORDER BY matview::text;
SELECT * FROM pipeline.blocking_upstreams('acc_b.mv_total');
-- no view has OID 0: nothing (it returned every blocked view before)
SELECT * FROM pipeline.blocking_upstreams(0);
-- the policy cannot be switched off
SET row_security = off;
SELECT count(*) FROM pipeline.runs;
RESET row_security;
-- the DAG: the relations bob may not see have no names
SELECT pipeline.graph('dot');
SELECT pipeline.graph('mermaid');
SELECT jsonb_pretty(pipeline.graph('json')::jsonb);
RESET ROLE;

-- alice: her view's failure and why; bob's view has no history for her, and
-- the upstream blocking it is hers, so she sees its name
SET ROLE acc_alice;
SELECT matview, time_label, status, error FROM pipeline.runs ORDER BY run_id;
SELECT matview, last_success_label, last_status, last_error, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'acc_%' ORDER BY matview::text;
SELECT pipeline.graph('dot');
-- an owner sees its runs even without SELECT on its own view
REVOKE SELECT ON acc_a.mv_parsed FROM acc_alice;
SELECT count(*) > 0 AS owner_sees_runs FROM pipeline.runs WHERE matview = 'acc_a.mv_parsed'::regclass;
GRANT SELECT ON acc_a.mv_parsed TO acc_alice;
RESET ROLE;

-- a role with no rights sees no runs at all, nor that a view it may not
-- see is held back (which told that its upstream failed); a trap schema of
-- its own first in its path, whose = would say if anyone else ran it
CREATE SCHEMA acc_trap AUTHORIZATION acc_nobody;
SET ROLE acc_nobody;
CREATE FUNCTION acc_trap.trap_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'acc_nobody' THEN RAISE EXCEPTION 'trap ran as %', current_user; END IF;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR acc_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = acc_trap.trap_eq);
SET search_path = acc_trap, pg_catalog;
SELECT count(*) AS runs_seen FROM pipeline.runs;
-- nor when any of them runs next (1.24: the current label, as if never run)
SELECT matview, last_status, last_error, next_label, lag, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'acc_%' ORDER BY matview::text;
SELECT count(*) AS blocked_seen FROM pipeline.blocked_views();
SELECT count(*) AS blocking_seen FROM pipeline.blocking_upstreams(
  (SELECT matview FROM pipeline.matviews WHERE name = 'total' AND schema_name = 'acc_b'));
RESET search_path;
RESET ROLE;
DROP SCHEMA acc_trap CASCADE;

-- the superuser (and so the scheduler) and the catalog owner see everything
SELECT matview, status, error FROM pipeline.runs
 WHERE matview::text LIKE 'acc_%' ORDER BY run_id;
SELECT matview, last_status, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'acc_%' ORDER BY matview::text;

-- 02:00: alice fixes her data; bob's view runs again once hers succeeded
SET ROLE acc_alice;
DELETE FROM acc_a.raw WHERE v = 's3cr3t-value';
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
RESET ROLE;
SET ROLE acc_bob;
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
SELECT * FROM acc_b.mv_total;
SELECT matview, last_success_label, last_status, blocked_by
  FROM pipeline.status WHERE matview::text LIKE 'acc_%' ORDER BY matview::text;
RESET ROLE;

-- run_due(NULL) is refused (it ran what was due now); leave it out for now
SELECT * FROM pipeline.run_due(NULL);

-- a hook the view's owner may not execute is refused when it is set, not
-- at every later refresh
CREATE FUNCTION public.acc_private_hook(matview regclass, time_label timestamptz)
RETURNS void LANGUAGE sql AS $$ SELECT $$;
REVOKE EXECUTE ON FUNCTION public.acc_private_hook(regclass, timestamptz) FROM PUBLIC;
SELECT pipeline.set_after_refresh('acc_b.mv_total', 'public.acc_private_hook');
SELECT count(*) FROM pipeline.after_refresh_hooks WHERE matview = 'acc_b.mv_total'::regclass;
GRANT EXECUTE ON FUNCTION public.acc_private_hook(regclass, timestamptz) TO acc_bob;
SET ROLE acc_bob;
SELECT pipeline.set_after_refresh('acc_b.mv_total', 'public.acc_private_hook');
SELECT status FROM pipeline.refresh('acc_b.mv_total');
SELECT pipeline.set_after_refresh('acc_b.mv_total', NULL);
RESET ROLE;
DROP FUNCTION public.acc_private_hook(regclass, timestamptz);

-- clean up
SET ROLE acc_bob;
SELECT pipeline.drop_matview('acc_b.mv_total');
SELECT pipeline.drop_matview('acc_b.mv_mine');
RESET ROLE;
SET ROLE acc_alice;
SELECT pipeline.drop_matview('acc_a.mv_parsed', true);
RESET ROLE;
DROP SCHEMA acc_a CASCADE;
DROP SCHEMA acc_b CASCADE;
DROP ROLE acc_alice;
DROP ROLE acc_bob;
DROP ROLE acc_nobody;
