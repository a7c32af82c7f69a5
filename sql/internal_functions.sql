-- Which of pipeline's functions PUBLIC may execute: the API's, and the
-- internal ones that SQL running as some caller or view owner calls
-- (README "Internal functions PUBLIC may execute").  A function added to
-- either list changes this test's output on purpose.  Since 1.22 the step
-- and final functions of the internal aggregates are not among them:
-- PostgreSQL checks those as the aggregates' owner, so a view owner
-- without superuser still refreshes min/max/avg differentially.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'pipeline'::regnamespace
   AND has_function_privilege('pg_database_owner', p.oid, 'EXECUTE')
 ORDER BY p.proname, p.oid::regprocedure::text;

-- a view owner without superuser, a hostile schema first in its path
CREATE ROLE if_owner;
CREATE SCHEMA if_s AUTHORIZATION if_owner;
CREATE SCHEMA if_trap AUTHORIZATION if_owner;
SET ROLE if_owner;
CREATE FUNCTION if_trap.max(numeric) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE TABLE if_s.ev (g int, x numeric);
INSERT INTO if_s.ev SELECT g % 4, (g * 7 % 13)::numeric / 4 FROM generate_series(1, 40) g;
SELECT pipeline.create_matview('if_s', 'agg',
    'SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi, avg(x) AS mean FROM if_s.ev GROUP BY g',
    '1 hour', refresh_mode => 'differential');
SET search_path = if_trap, public;
INSERT INTO if_s.ev VALUES (1, 99.5), (5, -1);
DELETE FROM if_s.ev WHERE g = 2 AND x = (SELECT pg_catalog.max(x) FROM if_s.ev WHERE g = 2);
SELECT status FROM pipeline.refresh('if_s.mv_agg');
RESET search_path;
-- the view equals its query
(SELECT * FROM if_s.mv_agg EXCEPT ALL
 SELECT g, count(*), min(x), max(x), avg(x) FROM if_s.ev GROUP BY g)
UNION ALL
(SELECT g, count(*), min(x), max(x), avg(x) FROM if_s.ev GROUP BY g EXCEPT ALL
 SELECT * FROM if_s.mv_agg);
SELECT count(*) AS groups FROM if_s.mv_agg;
RESET ROLE;

SELECT pipeline.drop_matview('if_s.mv_agg');
DROP SCHEMA if_s, if_trap CASCADE;
DROP ROLE if_owner;
