-- pipeline's own DDL as another role than the caller's (a rebuild of
-- another owner's view: its relation as the owner, its triggers and its
-- publication membership as the catalog's owner) does not fire a DBA's
-- event triggers (enabled on origin, the default): they would run as that
-- role in the caller's session, where the caller's temporary tables answer
-- the names they leave unqualified (pg_temp is last in the pinned path,
-- but searched for relations).  Before, mallory became superuser through a
-- DBA's audit trigger on ALTER PUBLICATION.  pipeline's own event
-- triggers are ENABLE ALWAYS and still fire.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE et_mallory LOGIN;
CREATE ROLE et_bob LOGIN;
CREATE SCHEMA et_m AUTHORIZATION et_mallory;
CREATE SCHEMA et_b AUTHORIZATION et_bob;
GRANT USAGE ON SCHEMA et_m TO et_bob;
-- the DBA's audit of DDL, unqualified as such functions often are
CREATE TABLE public.et_ddl_log (who text, tag text);
GRANT INSERT, SELECT ON public.et_ddl_log TO PUBLIC;
CREATE FUNCTION public.et_log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO et_ddl_log (who, tag) VALUES (current_user, tg_tag); END$$;
RESET client_min_messages;

SET ROLE et_mallory;
CREATE TABLE et_m.src (k int, x int);
INSERT INTO et_m.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('et_m', 'up', 'SELECT k, x FROM et_m.src', '1 hour');
GRANT SELECT ON et_m.mv_up TO et_bob;
RESET ROLE;

SET ROLE et_bob;
SELECT pipeline.create_matview('et_b', 'down', 'SELECT k, x * 2 AS y FROM et_m.mv_up', '1 hour',
                               refresh_mode => 'differential');
CREATE FUNCTION et_b.noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER down_changed AFTER INSERT ON et_b.mv_down
  FOR EACH STATEMENT EXECUTE FUNCTION et_b.noop();
CREATE STATISTICS et_b.down_ky ON k, y FROM et_b.mv_down;
RESET ROLE;
CREATE PUBLICATION et_pub FOR TABLE et_b.mv_down;
CREATE EVENT TRIGGER et_log ON ddl_command_end
  WHEN TAG IN ('ALTER PUBLICATION', 'COMMENT')
  EXECUTE FUNCTION public.et_log_ddl();

-- mallory's trap: a temporary table of the log's name, whose trigger
-- makes her superuser if it ever runs as one, and notes who ran it
SET ROLE et_mallory;
CREATE TABLE et_m.who_ran (who text, tag text);
GRANT INSERT ON et_m.who_ran TO PUBLIC;
CREATE TEMP TABLE et_ddl_log (who text, tag text);
GRANT INSERT ON pg_temp.et_ddl_log TO PUBLIC;
CREATE FUNCTION pg_temp.pwn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO et_m.who_ran VALUES (current_user, NEW.tag);
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE et_mallory SUPERUSER';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER pwn BEFORE INSERT ON pg_temp.et_ddl_log FOR EACH ROW EXECUTE FUNCTION pg_temp.pwn();
-- her redefinition rebuilds bob's view: its relation, trigger, statistics
-- object and publication membership are made again as bob and as the
-- catalog's owner; her trap schema is first in her search_path too
CREATE FUNCTION et_m.lower(text) RETURNS text LANGUAGE sql AS $$SELECT 'trap'::text$$;
SET search_path = et_m, public, pg_catalog;
SELECT pipeline.create_matview('et_m', 'up', 'SELECT k, x, 1 AS extra FROM et_m.src', '1 hour');
RESET search_path;
RESET ROLE;

SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'et_mallory';
-- the trap ran only as mallory, for her own DDL
SELECT DISTINCT who FROM et_m.who_ran ORDER BY 1;
-- what was made again is there
SELECT tgname FROM pg_trigger WHERE tgrelid = 'et_b.mv_down'::regclass AND tgname = 'down_changed';
SELECT stxname FROM pg_statistic_ext WHERE stxrelid = 'et_b.mv_down'::regclass;
SELECT tablename FROM pg_publication_tables WHERE pubname = 'et_pub';
-- bob's own DDL in a session of his still fires the DBA's trigger, as bob
\c -
SET ROLE et_bob;
SET search_path = public, pg_catalog;
COMMENT ON TABLE et_b.mv_down IS 'bob''s';
RESET search_path;
RESET ROLE;
SELECT who, tag FROM public.et_ddl_log ORDER BY 1, 2;

-- clean up
SET client_min_messages = warning;
DROP EVENT TRIGGER et_log;
DROP PUBLICATION et_pub;
SELECT pipeline.drop_matview('et_m.mv_up', cascade => true);
DROP SCHEMA et_m CASCADE;
DROP SCHEMA et_b CASCADE;
DROP TABLE public.et_ddl_log;
DROP FUNCTION public.et_log_ddl();
DROP ROLE et_mallory, et_bob;
