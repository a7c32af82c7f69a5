-- Hardening: a view whose rows live in a table (differential, stream,
-- mirror, lake publication) depends on the functions, operators and types
-- its query names, as a materialized view's rule makes it depend on them.
-- Before, its query was read by name at every run and nothing recorded
-- that it used them: its function's owner could drop the function (every
-- run failing from then on), and whoever created one of the same name in
-- that schema had it called by the view's owner.  Now DROP FUNCTION is
-- refused while a view calls it (CASCADE too, by the guard), and goes
-- through once the view is redefined without it.
-- The victim works with the attacker's schema first in its search_path;
-- the spy logs who runs the attacker's code: only ever the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE qo_attacker LOGIN;
CREATE ROLE qo_victim LOGIN;
CREATE SCHEMA qo_attacker AUTHORIZATION qo_attacker;
CREATE SCHEMA qo_victim AUTHORIZATION qo_victim;
-- a schema where everyone may create, as public was before PostgreSQL 15
CREATE SCHEMA qo_shared;
GRANT USAGE, CREATE ON SCHEMA qo_shared TO PUBLIC;
GRANT USAGE ON SCHEMA qo_attacker TO PUBLIC;
CREATE TABLE public.qo_log (who name, what text);
GRANT SELECT, INSERT ON public.qo_log TO PUBLIC;

SET SESSION AUTHORIZATION qo_attacker;
SET search_path = qo_attacker, pg_catalog;
CREATE FUNCTION qo_attacker.spy(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.qo_log VALUES (current_user, what);
    RETURN true;
END $f$;
GRANT EXECUTE ON FUNCTION qo_attacker.spy(text) TO PUBLIC;
-- traps for what pipeline's own SQL might resolve through the path
CREATE FUNCTION qo_attacker.now() RETURNS timestamptz LANGUAGE sql
AS $f$ SELECT pg_catalog.now() WHERE qo_attacker.spy('now') $f$;
CREATE FUNCTION qo_attacker.evil_eq(oid, oid) RETURNS boolean LANGUAGE sql
AS $f$ SELECT $1 OPERATOR(pg_catalog.=) $2 AND qo_attacker.spy('=') $f$;
CREATE OPERATOR qo_attacker.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = qo_attacker.evil_eq);

SET SESSION AUTHORIZATION qo_victim;
SET search_path = qo_attacker, pg_catalog;
CREATE FUNCTION qo_shared.norm(v int) RETURNS int LANGUAGE sql IMMUTABLE
AS $f$ SELECT v OPERATOR(pg_catalog.*) 2 $f$;
CREATE TYPE qo_victim.size AS ENUM ('s', 'l');
CREATE TABLE qo_victim.events (id int PRIMARY KEY, g int, v int);
INSERT INTO qo_victim.events VALUES (1, 1, 10), (2, 1, 20), (3, 2, 30);
-- differential, stream: both call the shared function; one casts to the type
SELECT pipeline.create_matview('qo_victim', 'totals',
       'SELECT g, sum(qo_shared.norm(v)) AS total, count(*) AS n FROM qo_victim.events GROUP BY g', '1 hour');
SELECT pipeline.create_matview('qo_victim', 'feed',
       $q$SELECT id, qo_shared.norm(v) AS nv, 's'::qo_victim.size AS size FROM qo_victim.events$q$, '1 hour',
       'incremental', incremental_key => 'id');
SELECT matview, refresh_mode FROM pipeline.matviews WHERE matview::text LIKE 'qo_victim.%' ORDER BY 1;

-- the function and the type cannot go from under the views
DROP FUNCTION qo_shared.norm(int);
DROP FUNCTION qo_shared.norm(int) CASCADE;
DROP TYPE qo_victim.size;
-- so the attacker cannot put its own in their place
SET SESSION AUTHORIZATION qo_attacker;
SET search_path = qo_attacker, pg_catalog;
CREATE FUNCTION qo_shared.norm(v int) RETURNS int LANGUAGE sql
AS $f$ SELECT v WHERE qo_attacker.spy('norm') $f$;
SET SESSION AUTHORIZATION qo_victim;
SET search_path = qo_attacker, pg_catalog;
INSERT INTO qo_victim.events VALUES (4, 2, 40);
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_totals');
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_feed');
TABLE qo_victim.mv_totals ORDER BY g;
SELECT * FROM qo_victim.mv_feed ORDER BY id;

-- What a text cannot pin (README, "Stored queries are bound at definition"):
-- an overload PostgreSQL cannot tell from the victim's makes the refreshes
-- fail, leaving the rows as they were; the overload never runs.
SET SESSION AUTHORIZATION qo_attacker;
SET search_path = qo_attacker, pg_catalog;
CREATE FUNCTION qo_shared.norm(v int, extra int DEFAULT 0) RETURNS int LANGUAGE sql
AS $f$ SELECT v WHERE qo_attacker.spy('norm overload') $f$;
SET SESSION AUTHORIZATION qo_victim;
SET search_path = qo_attacker, pg_catalog;
INSERT INTO qo_victim.events VALUES (5, 2, 50);
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_totals');
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_feed');
TABLE qo_victim.mv_totals ORDER BY g;
SET SESSION AUTHORIZATION qo_attacker;
DROP FUNCTION qo_shared.norm(int, int);
SET SESSION AUTHORIZATION qo_victim;
SET search_path = qo_attacker, pg_catalog;
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_totals');
SELECT matview, status FROM pipeline.refresh('qo_victim.mv_feed');
TABLE qo_victim.mv_totals ORDER BY g;
SELECT * FROM qo_victim.mv_feed ORDER BY id;

-- redefined without them, the views let them go
SELECT pipeline.create_matview('qo_victim', 'totals',
       'SELECT g, sum(v) AS total, count(*) AS n FROM qo_victim.events GROUP BY g', '1 hour');
SELECT pipeline.create_matview('qo_victim', 'feed',
       'SELECT id, v AS nv FROM qo_victim.events', '1 hour',
       'incremental', incremental_key => 'id');
DROP FUNCTION qo_shared.norm(int);
DROP TYPE qo_victim.size;
SELECT pipeline.drop_matview('qo_victim.mv_totals');
SELECT pipeline.drop_matview('qo_victim.mv_feed');

RESET SESSION AUTHORIZATION;
RESET search_path;
SELECT who, what, count(*) FROM public.qo_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS victim_ran_attacker_code FROM public.qo_log WHERE who <> 'qo_attacker';
DROP TABLE public.qo_log;
DROP SCHEMA qo_victim CASCADE;
DROP SCHEMA qo_attacker CASCADE;
DROP SCHEMA qo_shared CASCADE;
DROP ROLE qo_attacker;
DROP ROLE qo_victim;
