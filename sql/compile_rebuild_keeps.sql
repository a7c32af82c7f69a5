-- A rebuild (an upstream redefined by another role) keeps what the owner
-- set on the view's relation besides indexes, grants, comments and row
-- security: storage parameters, column statistics targets and options, and
-- the triggers the owner added to a table-backed view (after its rows are
-- in, in their enabled state).  The redefiner has a hostile schema first in
-- search_path: the restored trigger still calls the owner's function.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rk_alice LOGIN;
CREATE ROLE rk_bob LOGIN;
CREATE SCHEMA rk;
GRANT CREATE, USAGE ON SCHEMA rk TO rk_alice, rk_bob;
CREATE SCHEMA rk_trap;
GRANT CREATE, USAGE ON SCHEMA rk_trap TO rk_alice;
RESET client_min_messages;

SET ROLE rk_alice;
CREATE TABLE rk.src (k int, x int);
INSERT INTO rk.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('rk', 'up', 'SELECT k, x FROM rk.src', '1 hour');
GRANT SELECT ON rk.mv_up TO rk_bob;
-- alice's trap: a function of the name bob's trigger calls
CREATE FUNCTION rk_trap.on_change() RETURNS trigger LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END $f$;
RESET ROLE;

SET ROLE rk_bob;
CREATE TABLE rk.log (what text);
CREATE FUNCTION rk.on_change() RETURNS trigger LANGUAGE plpgsql AS
  $f$ BEGIN INSERT INTO rk.log VALUES (TG_NAME || ' ' || TG_OP); RETURN NULL; END $f$;
SELECT pipeline.create_matview('rk', 'down', 'SELECT k, x * 2 AS y, x::text AS label FROM rk.mv_up', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('rk', 'full', 'SELECT k, x * 3 AS z FROM rk.mv_up', '1 hour',
                               refresh_mode => 'full');
ALTER TABLE rk.mv_down SET (fillfactor = 55, autovacuum_enabled = off, toast.autovacuum_enabled = off);
ALTER TABLE rk.mv_down ALTER COLUMN y SET STATISTICS 321;
ALTER TABLE rk.mv_down ALTER COLUMN k SET (n_distinct = -0.5);
ALTER MATERIALIZED VIEW rk.mv_full SET (fillfactor = 60);
ALTER MATERIALIZED VIEW rk.mv_full ALTER COLUMN z SET STATISTICS 42;
CREATE TRIGGER down_changed AFTER INSERT OR UPDATE OR DELETE ON rk.mv_down
  FOR EACH STATEMENT EXECUTE FUNCTION rk.on_change();
CREATE TRIGGER down_row_changed AFTER UPDATE ON rk.mv_down
  FOR EACH ROW EXECUTE FUNCTION rk.on_change();
CREATE TRIGGER down_off AFTER INSERT ON rk.mv_down
  FOR EACH ROW EXECUTE FUNCTION rk.on_change();
ALTER TABLE rk.mv_down DISABLE TRIGGER down_off;
RESET ROLE;

-- what bob set, as the catalogs say it
CREATE FUNCTION pg_temp.settings() RETURNS TABLE (what text)
LANGUAGE sql AS $$
  SELECT c.relname || ' ' || coalesce(array_to_string(c.reloptions, ','), '-') || ' toast '
         || coalesce((SELECT array_to_string(t.reloptions, ',') FROM pg_class t WHERE t.oid = c.reltoastrelid), '-')
    FROM pg_class c WHERE c.oid IN ('rk.mv_down'::regclass, 'rk.mv_full'::regclass)
  UNION ALL
  SELECT a.attrelid::regclass || '.' || a.attname || ' statistics ' || a.attstattarget
         || ' options ' || coalesce(array_to_string(ARRAY(SELECT o FROM unnest(a.attoptions) o
                                                          WHERE o NOT LIKE 'pg\_attver=%'), ','), '-')
    FROM pg_attribute a
   WHERE a.attrelid IN ('rk.mv_down'::regclass, 'rk.mv_full'::regclass) AND a.attnum > 0
     AND NOT a.attisdropped
  UNION ALL
  SELECT t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t
   WHERE t.tgrelid = 'rk.mv_down'::regclass AND t.tgname LIKE 'down%'
  ORDER BY 1
$$;
SELECT * FROM pg_temp.settings();
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.settings();

-- alice redefines her view (a new column, so bob's views are rebuilt), her
-- trap first in search_path
SET ROLE rk_alice;
SET search_path = rk_trap, public, pg_catalog;
SELECT pipeline.create_matview('rk', 'up', 'SELECT k, x, 1 AS extra FROM rk.src', '1 hour');
RESET search_path;
RESET ROLE;
SELECT count(*) AS settings_before FROM before;
-- everything bob set is there again (the relations are new ones)
SELECT * FROM pg_temp.settings() EXCEPT SELECT * FROM before;
SELECT * FROM before EXCEPT SELECT * FROM pg_temp.settings();
-- the rebuild's inserts fired none of bob's triggers
SELECT what FROM rk.log;
-- a refresh does, with bob's function, whoever's path ran the rebuild
UPDATE rk.src SET x = 11 WHERE k = 1;
SET ROLE rk_alice;
SELECT status FROM pipeline.refresh('rk.mv_up', cascade => false);
RESET ROLE;
SET ROLE rk_bob;
SELECT status FROM pipeline.refresh('rk.mv_down');
SELECT what FROM rk.log ORDER BY 1;
RESET ROLE;

-- bob's own redefinition keeps them too; a table-backed view that becomes
-- a materialized view keeps its storage parameters but no trigger (a
-- NOTICE names each)
SET ROLE rk_bob;
SELECT pipeline.create_matview('rk', 'down', 'SELECT k, x AS w FROM rk.mv_up', '1 hour',
                               refresh_mode => 'differential');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'rk.mv_down'::regclass AND tgname LIKE 'down%' ORDER BY 1;
SELECT pipeline.create_matview('rk', 'down', 'SELECT k, x AS w FROM rk.mv_up', '1 hour',
                               refresh_mode => 'full');
SELECT relkind, reloptions FROM pg_class WHERE oid = 'rk.mv_down'::regclass;
-- a trigger that names a column is a dependent the compile step will not break
SELECT pipeline.create_matview('rk', 'down', 'SELECT k, x AS w FROM rk.mv_up', '1 hour',
                               refresh_mode => 'differential');
CREATE TRIGGER down_w_changed AFTER UPDATE OF w ON rk.mv_down
  FOR EACH ROW EXECUTE FUNCTION rk.on_change();
SELECT pipeline.create_matview('rk', 'down', 'SELECT k, x AS w, 1 AS v FROM rk.mv_up', '1 hour',
                               refresh_mode => 'differential');
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview('rk.mv_up', cascade => true);
DROP SCHEMA rk CASCADE;
DROP SCHEMA rk_trap CASCADE;
DROP ROLE rk_alice, rk_bob;
