-- Hardening: a source column of a domain does not run the domain's code as
-- the catalog owner when a change log is made or widened.
--
-- Adding a column of a domain to a table holding rows checks the domain's
-- constraints (and computes its default) on every row.  Change logs are the
-- catalog owner's: a log widened for a second differential view over a
-- column of the attacker's domain ran the attacker's CHECK as the superuser
-- who installed pipeline, once per row in the log (attack pass 6, F1).  The
-- log keeps the domain's base type now; the view still reads the domain.
-- The spy records who runs the domain's CHECK and DEFAULT: only ever the
-- attacker, writing its own rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE ROLE cd_attacker LOGIN;
CREATE SCHEMA cd_attacker AUTHORIZATION cd_attacker;
CREATE TABLE public.cd_log (who name, what text);
GRANT SELECT, INSERT ON public.cd_log TO PUBLIC;

SET SESSION AUTHORIZATION cd_attacker;
-- a hostile schema first in the path, shadowing names pipeline's SQL uses
SET search_path = cd_attacker, pg_catalog;
CREATE FUNCTION cd_attacker.spy(v int, what text) RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.cd_log VALUES (current_user, what);
    RETURN v IS NULL OR v >= 0;
END $f$;
CREATE FUNCTION cd_attacker.spy_default() RETURNS int LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.cd_log VALUES (current_user, 'default');
    RETURN 7;
END $f$;
CREATE FUNCTION cd_attacker.evil_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS
$f$ SELECT $1 OPERATOR(pg_catalog.=) $2 AND (SELECT true FROM public.cd_log LIMIT 0) IS NULL $f$;
CREATE OPERATOR cd_attacker.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = cd_attacker.evil_eq);
CREATE DOMAIN cd_attacker.checked AS int CHECK (cd_attacker.spy(VALUE, 'check'));
CREATE DOMAIN cd_attacker.defaulted AS int DEFAULT cd_attacker.spy_default();
CREATE TABLE cd_attacker.src (id int PRIMARY KEY, a int, c cd_attacker.checked,
                              d cd_attacker.defaulted);
INSERT INTO cd_attacker.src VALUES (1, 1, 10, 1), (2, 1, 20, 2);

-- a first view reads only a: the log has no column for c or d
SELECT pipeline.create_matview('cd_attacker', 'by_a',
    'SELECT a, count(*) AS n FROM cd_attacker.src GROUP BY a', '1 hour',
    refresh_mode => 'differential');
-- rows left in the log, then views that need c and d: the log is widened
INSERT INTO cd_attacker.src VALUES (3, 2, 30, 3), (4, 2, NULL, NULL);
SELECT pipeline.create_matview('cd_attacker', 'by_c',
    'SELECT c, count(*) AS n, sum(d) AS total FROM cd_attacker.src GROUP BY c', '1 hour',
    refresh_mode => 'differential');
SELECT status, rows FROM pipeline.refresh('cd_attacker.mv_by_a'::regclass);
SELECT status, rows FROM pipeline.refresh('cd_attacker.mv_by_c'::regclass);

-- the log's columns are the base type; the view's stay the domain
RESET SESSION AUTHORIZATION;
SELECT a.attname, a.atttypid::regtype
  FROM pg_catalog.pg_attribute a
  JOIN pipeline.capture_sources s ON s.log_table = a.attrelid
 WHERE s.source = 'cd_attacker.src'::regclass AND a.attnum > 3
 ORDER BY a.attnum;
SELECT attname, atttypid::regtype FROM pg_catalog.pg_attribute
 WHERE attrelid = 'cd_attacker.mv_by_c'::regclass AND attnum > 0 ORDER BY attnum;

-- differential refreshes after each kind of write equal the query
SET SESSION AUTHORIZATION cd_attacker;
SET search_path = cd_attacker, pg_catalog;
INSERT INTO cd_attacker.src VALUES (5, 3, 10, 5);
UPDATE cd_attacker.src SET c = 30 WHERE id = 1;
DELETE FROM cd_attacker.src WHERE id = 2;
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') ORDER BY 1;
SELECT matview, detail FROM pipeline.runs ORDER BY 1;
SELECT * FROM cd_attacker.mv_by_c ORDER BY c;
SELECT count(*) AS differs FROM (
    (TABLE cd_attacker.mv_by_c EXCEPT ALL
     SELECT c, count(*), sum(d) FROM cd_attacker.src GROUP BY c)
    UNION ALL
    (SELECT c, count(*), sum(d) FROM cd_attacker.src GROUP BY c EXCEPT ALL
     TABLE cd_attacker.mv_by_c)) x;
-- the view's column is still the domain
SELECT pg_catalog.pg_typeof(c) FROM cd_attacker.mv_by_c LIMIT 1;

-- the verdict: the domain's code ran only as the attacker
RESET SESSION AUTHORIZATION;
SELECT who, what, count(*) > 0 AS ran FROM public.cd_log GROUP BY who, what ORDER BY who, what;
SELECT count(*) AS ran_as_another_role FROM public.cd_log WHERE who <> 'cd_attacker';

SELECT pipeline.drop_matview('cd_attacker.mv_by_c');
SELECT pipeline.drop_matview('cd_attacker.mv_by_a');
DROP SCHEMA cd_attacker CASCADE;
DROP TABLE public.cd_log;
DROP ROLE cd_attacker;
