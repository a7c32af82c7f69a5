-- A schema named pipeline made before the extension by a role with CREATE
-- on the database: CREATE EXTENSION would install into it, and its owner
-- could put an overload of a function pipeline's SQL calls by name beside
-- pipeline's (here pipeline.apply_changes_row(), which apply_changes()'
-- MERGE calls as its caller).  pipeline refuses to be installed there, and
-- to work from a schema a non-superuser owns (a database installed so by
-- an older library); dropped with CASCADE and made again, it works.  The
-- victim runs with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE DATABASE squat_db;
\c squat_db
SET client_min_messages = warning;
CREATE ROLE squat_mallory LOGIN;
CREATE ROLE squat_victim LOGIN;
GRANT CREATE ON DATABASE squat_db TO squat_mallory;
CREATE TABLE public.squat_log (who name, trap text);
GRANT SELECT, INSERT ON public.squat_log TO PUBLIC;

-- before any superuser installs pipeline here
SET ROLE squat_mallory;
CREATE SCHEMA pipeline;
CREATE SCHEMA squat_trap;
GRANT USAGE ON SCHEMA squat_trap TO PUBLIC;
CREATE FUNCTION squat_trap.sprung(trap text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN
    INSERT INTO public.squat_log VALUES (current_user, trap);
    IF current_user <> 'squat_mallory' THEN
        BEGIN
            EXECUTE 'ALTER ROLE squat_mallory SUPERUSER';
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
END $f$;
CREATE FUNCTION squat_trap.int4eq(integer, integer) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN
    PERFORM squat_trap.sprung('= integer');
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $f$;
CREATE OPERATOR squat_trap.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = squat_trap.int4eq);
RESET ROLE;

-- refused
CREATE EXTENSION pipeline;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pipeline';

-- as an older library installed it: into the schema mallory owns
DROP SCHEMA pipeline CASCADE;
CREATE EXTENSION pipeline;
ALTER SCHEMA pipeline OWNER TO squat_mallory;

-- the trap beside pipeline's own: an exact match wins over its "any"
SET ROLE squat_mallory;
CREATE FUNCTION pipeline.apply_changes_row(text, text, bigint, integer) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $f$
BEGIN
    PERFORM squat_trap.sprung('pipeline.apply_changes_row');
    RETURN true;
END $f$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA squat_trap TO PUBLIC;
RESET ROLE;

CREATE SCHEMA squat_victim AUTHORIZATION squat_victim;
SET ROLE squat_victim;
SET search_path = squat_trap, pg_catalog, squat_victim;
CREATE TABLE squat_victim.target (id integer PRIMARY KEY, seq bigint, v text);
CREATE TABLE squat_victim.changes (id integer, seq bigint, op text, v text);
INSERT INTO squat_victim.changes VALUES (1, 1, 'I', 'a');
-- refused before any SQL of its own runs
SELECT * FROM pipeline.apply_changes('squat_victim.changes', 'squat_victim.target', '{id}', 'seq');
SELECT pipeline.define($$/**
 * @matview-schema squat_victim
 * @matview-name squat_view
 * @interval-in-minutes 60
 */
SELECT id, v FROM squat_victim.target$$);
RESET ROLE;
RESET search_path;
SELECT who, trap FROM public.squat_log ORDER BY 1, 2;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'squat_mallory';

-- what the hint says: drop both, make them again
DROP EXTENSION pipeline;
DROP SCHEMA pipeline CASCADE;
CREATE EXTENSION pipeline;
SET ROLE squat_victim;
SET search_path = squat_trap, pg_catalog, squat_victim;
SELECT * FROM pipeline.apply_changes('squat_victim.changes', 'squat_victim.target', '{id}', 'seq');
SELECT id, seq, v FROM squat_victim.target;
RESET ROLE;
RESET search_path;
SELECT who, trap FROM public.squat_log ORDER BY 1, 2;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE squat_db;
DROP ROLE squat_mallory;
DROP ROLE squat_victim;
