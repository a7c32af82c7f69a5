-- Hardening (1.11): functions pipeline calls are kept and called by OID,
-- and cannot be dropped from under the views that call them.
--
-- 1. A lake publication's delete function was kept as qualified text and
--    looked up by name at every run: once its owner renamed (or dropped)
--    it, whoever could create a function of that name in that schema had
--    it called by the publication's owner (a superuser or a role with
--    pg_write_server_files), with the paths of the lake.  It is kept by
--    OID now (pipeline.matview_definitions.delete_function): a renamed one
--    keeps working, and another role's function of its old name never runs.
-- 2. DROP FUNCTION of an after-refresh hook or a delete function went
--    through, and every refresh of the view failed from then on.  The guard
--    refuses it (CASCADE, DROP SCHEMA, DROP OWNED and
--    drop_external_function() too); a drop past the guard still fails the
--    run with an error that says what to do.
-- The victim works with the attacker's schema first in its search_path;
-- the spy logs who runs the attacker's code: only ever the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE a11_attacker LOGIN;
CREATE ROLE a11_victim LOGIN IN ROLE pg_write_server_files;
CREATE SCHEMA a11_attacker AUTHORIZATION a11_attacker;
CREATE SCHEMA a11_victim AUTHORIZATION a11_victim;
-- a schema where everyone may create, as public was before PostgreSQL 15
CREATE SCHEMA a11_shared;
GRANT USAGE, CREATE ON SCHEMA a11_shared TO PUBLIC;
GRANT USAGE ON SCHEMA a11_attacker TO PUBLIC;
CREATE TABLE public.a11_log (who name, what text);
GRANT SELECT, INSERT ON public.a11_log TO PUBLIC;
SELECT current_setting('data_directory') || '/security_function_oids' AS lake \gset

SET SESSION AUTHORIZATION a11_attacker;
SET search_path = a11_attacker, pg_catalog;
CREATE FUNCTION a11_attacker.spy(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.a11_log VALUES (current_user, what);
    RETURN true;
END $f$;
-- look-alikes of what pipeline's SQL around these functions uses
CREATE FUNCTION a11_attacker.to_regprocedure(text) RETURNS regprocedure LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM a11_attacker.spy('to_regprocedure');
    RETURN pg_catalog.to_regprocedure($1);
END $f$;
CREATE FUNCTION a11_attacker.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM a11_attacker.spy('=');
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $f$;
CREATE OPERATOR a11_attacker.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = a11_attacker.oid_eq);
CREATE FUNCTION a11_attacker.delete_partition(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    RETURN a11_attacker.spy('delete_partition ' || path);
END $f$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA a11_attacker TO PUBLIC;

-- the victim's publication, its delete function in the shared schema
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
CREATE TABLE a11_victim.cases (id int, day int);
INSERT INTO a11_victim.cases VALUES (1, 1), (2, 2), (3, 3);
CREATE FUNCTION a11_shared.delete_partition(path text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.a11_log VALUES (current_user, 'victim deletes ' || path);
    RETURN true;
END $f$;
SELECT pipeline.define(format($d$/**
 * @matview-schema a11_victim
 * @matview-name lake
 * @matview-type unload
 * @unload-destination %s
 * @unload-partition-by day
 * @unload-delete-function a11_shared.delete_partition
 * @interval-in-minutes 60
 */
SELECT id, day FROM a11_victim.cases$d$, :'lake'));
-- kept by OID; the options keep the key as it was written
SELECT options ->> 'unload-delete-function' AS given, delete_function
  FROM pipeline.matview_definitions WHERE matview::text = 'a11_victim.mv_lake';

-- 1: the victim renames its function; the attacker takes the old name
ALTER FUNCTION a11_shared.delete_partition(text) RENAME TO delete_lake_partition;
SET SESSION AUTHORIZATION a11_attacker;
SET search_path = a11_attacker, pg_catalog;
CREATE FUNCTION a11_shared.delete_partition(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    RETURN a11_attacker.spy('shared delete_partition ' || path);
END $f$;
GRANT EXECUTE ON FUNCTION a11_shared.delete_partition(text) TO PUBLIC;
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
DELETE FROM a11_victim.cases WHERE id = 2;
SELECT status, rows FROM pipeline.refresh('a11_victim.mv_lake');
-- the victim's renamed function was called, as the victim
SELECT who, what FROM public.a11_log ORDER BY what;
SELECT delete_function FROM pipeline.matview_definitions WHERE matview::text = 'a11_victim.mv_lake';
-- check() of a new query judges with the function the publication keeps
SELECT status FROM pipeline.check('a11_victim.mv_lake', 'SELECT id, day FROM a11_victim.cases WHERE id > 0');

-- 2: the function cannot be dropped while the publication calls it
DROP FUNCTION a11_shared.delete_lake_partition(text);
DROP FUNCTION a11_shared.delete_lake_partition(text) CASCADE;

-- nor an after-refresh hook while it is set
CREATE TABLE a11_victim.raw (n int);
SELECT pipeline.create_matview('a11_victim', 'total', 'SELECT sum(n) AS n FROM a11_victim.raw', '1 hour');
CREATE FUNCTION a11_victim.announce(matview regclass, time_label timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.a11_log VALUES (current_user, 'hook of ' || matview::text);
END $f$;
SELECT pipeline.set_after_refresh('a11_victim.mv_total', 'a11_victim.announce(regclass, timestamptz)'::regprocedure);
DROP FUNCTION a11_victim.announce(regclass, timestamptz);
-- dropping the shared schema drops the delete function, by CASCADE
RESET SESSION AUTHORIZATION;
DROP SCHEMA a11_shared CASCADE;
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
-- a renamed hook keeps working
ALTER FUNCTION a11_victim.announce(regclass, timestamptz) RENAME TO announce_total;
SELECT status FROM pipeline.refresh('a11_victim.mv_total');
SELECT who, what FROM public.a11_log WHERE what LIKE 'hook%';
-- the attacker's function as the victim's hook: since 1.30 its owner may
-- drop it (as DROP ... CASCADE drops another role's view calling it; before,
-- any role's hook kept a function from its owner), and the victim's
-- refreshes fail, saying so, until the victim clears the hook
CREATE FUNCTION a11_victim.noop(matview regclass, time_label timestamptz) RETURNS void
LANGUAGE sql AS $f$ SELECT $f$;
SET SESSION AUTHORIZATION a11_attacker;
SET search_path = a11_attacker, pg_catalog;
CREATE FUNCTION a11_attacker.hook(matview regclass, time_label timestamptz) RETURNS void
LANGUAGE sql AS $f$ SELECT $f$;
GRANT EXECUTE ON FUNCTION a11_attacker.hook(regclass, timestamptz) TO a11_victim;
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
SELECT pipeline.set_after_refresh('a11_victim.mv_total', 'a11_attacker.hook(regclass, timestamptz)'::regprocedure);
SET SESSION AUTHORIZATION a11_attacker;
DROP FUNCTION a11_attacker.hook(regclass, timestamptz);
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
SELECT status FROM pipeline.refresh('a11_victim.mv_total');
SELECT pipeline.set_after_refresh('a11_victim.mv_total', NULL);

-- a drop that the guard does not see (here: the guard switched off by a
-- superuser) still fails the runs, saying what to do
RESET SESSION AUTHORIZATION;
SELECT pipeline.set_after_refresh('a11_victim.mv_total', 'a11_victim.noop(regclass, timestamptz)'::regprocedure);
ALTER EVENT TRIGGER pipeline_guard_function_drop DISABLE;
DROP FUNCTION a11_victim.noop(regclass, timestamptz);
DROP FUNCTION a11_shared.delete_lake_partition(text);
ALTER EVENT TRIGGER pipeline_guard_function_drop ENABLE ALWAYS;
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
SELECT status FROM pipeline.refresh('a11_victim.mv_total');
DELETE FROM a11_victim.cases WHERE id = 3;
SELECT status FROM pipeline.refresh('a11_victim.mv_lake');
-- the attacker's function of the old name never ran
SELECT count(*) AS attacker_calls FROM public.a11_log WHERE what LIKE 'shared%';

-- a redefinition with another function, resolved with the victim's path
-- as it is written (here qualified), and without one
SELECT pipeline.set_after_refresh('a11_victim.mv_total', NULL);
CREATE FUNCTION a11_victim.delete_v2(path text) RETURNS boolean LANGUAGE sql AS $f$ SELECT true $f$;
SELECT pipeline.create_matview('a11_victim', 'lake', 'SELECT id, day FROM a11_victim.cases', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day',
                                  'unload-delete-function', 'a11_victim.delete_v2'));
SELECT options ->> 'unload-delete-function' AS given, delete_function
  FROM pipeline.matview_definitions WHERE matview::text = 'a11_victim.mv_lake';
DROP FUNCTION a11_victim.delete_v2(text);
SELECT pipeline.create_matview('a11_victim', 'lake', 'SELECT id, day FROM a11_victim.cases', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day'));
SELECT delete_function FROM pipeline.matview_definitions WHERE matview::text = 'a11_victim.mv_lake';
DROP FUNCTION a11_victim.delete_v2(text);

-- an external function that a publication calls: drop_external_function()
-- is refused too
RESET SESSION AUTHORIZATION;
SELECT pipeline.create_external_function('a11_shared.delete_remote(path text)', 'boolean',
                                         'http://127.0.0.1:9/delete_partition');
GRANT EXECUTE ON FUNCTION a11_shared.delete_remote(text) TO a11_victim;
SET SESSION AUTHORIZATION a11_victim;
SET search_path = a11_attacker, public, pg_catalog;
SELECT pipeline.create_matview('a11_victim', 'lake', 'SELECT id, day FROM a11_victim.cases', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day',
                                  'unload-delete-function', 'a11_shared.delete_remote(text)'));
RESET SESSION AUTHORIZATION;
SELECT pipeline.drop_external_function('a11_shared.delete_remote(text)');
-- dropped with the view that calls it, it may go
SET SESSION AUTHORIZATION a11_victim;
SELECT pipeline.drop_matview('a11_victim.mv_lake');
RESET SESSION AUTHORIZATION;
SELECT pipeline.drop_external_function('a11_shared.delete_remote(text)');

-- the verdict: the attacker's code ran only as the attacker
SELECT who, count(*) AS calls FROM public.a11_log WHERE what NOT LIKE 'victim%' AND what NOT LIKE 'hook%'
 GROUP BY who ORDER BY who;
SELECT count(*) AS ran_as_another_role FROM public.a11_log
 WHERE who <> 'a11_attacker' AND what NOT LIKE 'victim%' AND what NOT LIKE 'hook%';

SELECT pipeline.drop_matview('a11_victim.mv_total');
DROP SCHEMA a11_victim CASCADE;
DROP SCHEMA a11_attacker CASCADE;
DROP SCHEMA a11_shared CASCADE;
DROP TABLE public.a11_log;
DROP ROLE a11_victim;
DROP ROLE a11_attacker;

-- DROP EXTENSION pipeline goes through with a hook and a delete function
-- set (in a database of its own); the functions stay
CREATE DATABASE pipeline_a11;
\c pipeline_a11
SET client_min_messages = warning;
CREATE EXTENSION pipeline;
CREATE TABLE raw (n int, day int);
INSERT INTO raw VALUES (1, 1);
CREATE FUNCTION announce(matview regclass, time_label timestamptz) RETURNS void LANGUAGE sql AS $f$ SELECT $f$;
CREATE FUNCTION delete_partition(path text) RETURNS boolean LANGUAGE sql AS $f$ SELECT true $f$;
SELECT pipeline.create_matview('public', 'total', 'SELECT sum(n) AS n FROM raw', '1 hour');
SELECT pipeline.set_after_refresh('mv_total', 'announce');
SELECT current_setting('data_directory') || '/security_function_oids_drop' AS lake \gset
SELECT pipeline.create_matview('public', 'lake', 'SELECT n, day FROM raw', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day',
                                  'unload-delete-function', 'delete_partition'));
SELECT pipeline.create_external_function('public.shout(s text)', 'text', 'http://127.0.0.1:1/shout');
DROP EXTENSION pipeline;
SELECT count(*) AS functions_kept FROM pg_proc WHERE proname IN ('announce', 'delete_partition');
-- an external function stays, and a call says what it lacks
SELECT shout('a');
DROP FUNCTION shout(text);
DROP FUNCTION announce(regclass, timestamptz);
DROP FUNCTION delete_partition(text);
\c contrib_regression
DROP DATABASE pipeline_a11;
