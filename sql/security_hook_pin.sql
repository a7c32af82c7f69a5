-- Hardening (h140 F2): any role could keep another from dropping a
-- function of its own by naming it as the after-refresh hook of a view
-- (EXECUTE is PUBLIC's by default): the guard refused every drop of a
-- function a managed view calls, with CASCADE, DROP SCHEMA ... CASCADE and
-- DROP OWNED too, whoever dropped it.  Since 1.30 only a role with the
-- privileges of the view's owner is refused: the function's owner drops
-- it, as DROP ... CASCADE would drop another role's view calling it, and
-- that view's refreshes fail saying the hook no longer exists.  The
-- dropping role has a hostile schema first in its search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE hp_victim LOGIN;
CREATE ROLE hp_mallory LOGIN;
CREATE SCHEMA hp_v AUTHORIZATION hp_victim;
CREATE SCHEMA hp_m AUTHORIZATION hp_mallory;
CREATE SCHEMA hp_trap;
GRANT USAGE, CREATE ON SCHEMA hp_trap TO PUBLIC;
RESET client_min_messages;

SET SESSION AUTHORIZATION hp_victim;
SET search_path = hp_trap, pg_catalog;
-- a trap for a guard that would look its names up in the dropper's path
CREATE FUNCTION hp_trap.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION hp_v.notify(v regclass, at timestamptz) RETURNS void LANGUAGE sql AS '';
CREATE FUNCTION hp_v.own_hook(v regclass, at timestamptz) RETURNS void LANGUAGE sql AS '';
GRANT USAGE ON SCHEMA hp_v TO hp_mallory;
CREATE TABLE hp_v.src (id int);
SELECT pipeline.create_matview('hp_v', 'mine', 'SELECT id FROM hp_v.src', '1 hour');
SELECT pipeline.set_after_refresh('hp_v.mv_mine', 'hp_v.own_hook(regclass, timestamptz)');

SET SESSION AUTHORIZATION hp_mallory;
SET search_path = hp_trap, pg_catalog;
SELECT pipeline.create_matview('hp_m', 'pin', 'SELECT 1 AS one', '1 hour');
SELECT pipeline.set_after_refresh('hp_m.mv_pin', 'hp_v.notify(regclass, timestamptz)');
SELECT count(*) AS refreshed FROM pipeline.refresh('hp_m.mv_pin', false);

-- the function's owner drops it: mallory's hook does not pin it
SET SESSION AUTHORIZATION hp_victim;
SET search_path = hp_trap, pg_catalog;
DROP FUNCTION hp_v.notify(regclass, timestamptz);
SELECT pg_catalog.to_regprocedure('hp_v.notify(regclass, timestamptz)') IS NULL AS dropped;
-- its own view's hook still holds its own function
DROP FUNCTION hp_v.own_hook(regclass, timestamptz);
SELECT pg_catalog.to_regprocedure('hp_v.own_hook(regclass, timestamptz)') IS NOT NULL AS kept;

-- mallory's refreshes fail, saying so, until the hook is cleared
SET SESSION AUTHORIZATION hp_mallory;
SET search_path = hp_trap, pg_catalog;
SELECT count(*) FROM pipeline.refresh('hp_m.mv_pin', false);
SELECT pipeline.set_after_refresh('hp_m.mv_pin', NULL);
SELECT count(*) AS refreshed FROM pipeline.refresh('hp_m.mv_pin', false);

-- a superuser is held to it too, as before
RESET SESSION AUTHORIZATION;
RESET search_path;
DROP FUNCTION hp_v.own_hook(regclass, timestamptz);
SELECT pipeline.set_after_refresh('hp_v.mv_mine', NULL);

SET client_min_messages = warning;
SELECT pipeline.drop_matview('hp_m.mv_pin');
SELECT pipeline.drop_matview('hp_v.mv_mine');
DROP SCHEMA hp_v, hp_m, hp_trap CASCADE;
DROP ROLE hp_victim;
DROP ROLE hp_mallory;
