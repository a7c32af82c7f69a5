-- The change-tracking triggers record every write, also under
-- session_replication_role = replica (as logical replication applies
-- changes), and a table owner cannot drop, disable, rename or replace them
-- while a managed view reads the table.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE ROLE trk_owner;
GRANT SET ON PARAMETER session_replication_role TO trk_owner;
CREATE SCHEMA trk_owner AUTHORIZATION trk_owner;
SET ROLE trk_owner;
CREATE TABLE trk_owner.src (x int);
CREATE TABLE trk_owner.other (x int);
INSERT INTO trk_owner.src VALUES (1), (2);
CREATE FUNCTION trk_owner.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER mine AFTER INSERT ON trk_owner.src FOR EACH STATEMENT EXECUTE FUNCTION trk_owner.noop();
SELECT pipeline.create_matview('trk_owner', 'counted', 'SELECT count(*) AS n FROM trk_owner.src', '1 hour', refresh_mode => 'full');

-- the first run adds the triggers: statement level always, row level for replicas
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
SELECT tgname, tgenabled, tgfoid::regprocedure, pg_get_triggerdef(oid) AS def
  FROM pg_trigger WHERE tgrelid = 'trk_owner.src'::regclass ORDER BY tgname;
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');

-- writes under session_replication_role = replica are recorded
SET session_replication_role = replica;
INSERT INTO trk_owner.src VALUES (3);
RESET session_replication_role;
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
SELECT n FROM trk_owner.mv_counted;
SET session_replication_role = replica;
TRUNCATE trk_owner.src;
RESET session_replication_role;
SELECT * FROM pipeline.run_due('2026-01-01 03:00+00');
SELECT n FROM trk_owner.mv_counted;
SELECT * FROM pipeline.run_due('2026-01-01 04:00+00');

-- the owner cannot drop, disable, rename or replace them
\set VERBOSITY default
DROP TRIGGER pipeline_record_change ON trk_owner.src;
\set VERBOSITY terse
DROP TRIGGER IF EXISTS pipeline_record_change ON trk_owner.src;
DROP TRIGGER pipeline_record_change_replica ON trk_owner.src;
ALTER TABLE trk_owner.src DISABLE TRIGGER pipeline_record_change;
ALTER TABLE trk_owner.src DISABLE TRIGGER pipeline_record_change_replica;
\set VERBOSITY default
ALTER TABLE trk_owner.src DISABLE TRIGGER ALL;
\set VERBOSITY terse
ALTER TABLE trk_owner.src DISABLE TRIGGER USER;
ALTER TABLE trk_owner.src ENABLE TRIGGER ALL;
ALTER TABLE trk_owner.src ENABLE TRIGGER USER;
ALTER TABLE trk_owner.src ENABLE TRIGGER pipeline_record_change;
ALTER TABLE trk_owner.src ENABLE REPLICA TRIGGER pipeline_record_change;
ALTER TABLE trk_owner.src ENABLE ALWAYS TRIGGER pipeline_record_change_replica;
ALTER TABLE trk_owner.src ENABLE TRIGGER pipeline_record_change_replica;
ALTER TABLE trk_owner.src DISABLE TRIGGER mine, DISABLE TRIGGER pipeline_record_change;
ALTER TRIGGER pipeline_record_change ON trk_owner.src RENAME TO not_tracking;
ALTER TRIGGER mine ON trk_owner.src RENAME TO pipeline_record_change_replica;
CREATE OR REPLACE TRIGGER pipeline_record_change AFTER INSERT ON trk_owner.src
    FOR EACH STATEMENT EXECUTE FUNCTION trk_owner.noop();
CREATE TRIGGER pipeline_record_change AFTER INSERT ON trk_owner.other
    FOR EACH STATEMENT EXECUTE FUNCTION trk_owner.noop();
-- also in replica mode, where event triggers do not fire unless ALWAYS
SET session_replication_role = replica;
DROP TRIGGER pipeline_record_change ON trk_owner.src;
ALTER TABLE trk_owner.src DISABLE TRIGGER ALL;
RESET session_replication_role;
-- what keeps their firing mode, and the table's other triggers, is allowed
ALTER TABLE trk_owner.src ENABLE ALWAYS TRIGGER pipeline_record_change;
ALTER TABLE trk_owner.src ENABLE REPLICA TRIGGER pipeline_record_change_replica;
ALTER TABLE trk_owner.src DISABLE TRIGGER mine;
ALTER TABLE trk_owner.src ENABLE ALWAYS TRIGGER mine;
ALTER TRIGGER mine ON trk_owner.src RENAME TO still_mine;
DROP TRIGGER still_mine ON trk_owner.src;
RESET ROLE;
-- a superuser is refused as well
DROP TRIGGER pipeline_record_change ON trk_owner.src;
ALTER TABLE trk_owner.src DISABLE TRIGGER pipeline_record_change_replica;
-- nothing changed
SELECT tgname, tgenabled, tgfoid::regprocedure
  FROM pg_trigger WHERE tgrelid = 'trk_owner.src'::regclass ORDER BY tgname;
SELECT count(*) AS triggers_on_other FROM pg_trigger WHERE tgrelid = 'trk_owner.other'::regclass;

-- a source can still be dropped (PostgreSQL's dependency error while the
-- view reads it, as before); once no managed view reads the table, its
-- triggers go with the view (every write of the table still recorded a
-- change)
SET ROLE trk_owner;
DROP TABLE trk_owner.src;
SELECT pipeline.drop_matview('trk_owner.mv_counted');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'trk_owner.src'::regclass;
DROP TABLE trk_owner.src;
-- the name stays reserved
CREATE TRIGGER pipeline_record_change_replica AFTER INSERT ON trk_owner.other
    FOR EACH ROW EXECUTE FUNCTION trk_owner.noop();
-- made exactly as pipeline makes it, it passes the guard, but PUBLIC may
-- not execute pipeline.record_change()
CREATE TRIGGER pipeline_record_change_replica AFTER INSERT OR DELETE OR UPDATE ON trk_owner.other
    FOR EACH ROW EXECUTE FUNCTION pipeline.record_change();
RESET ROLE;
-- as a restored dump makes them: allowed; anything else is not
CREATE TRIGGER pipeline_record_change AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON trk_owner.other
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.record_change();
ALTER TABLE trk_owner.other ENABLE ALWAYS TRIGGER pipeline_record_change;
CREATE TRIGGER pipeline_record_change_replica AFTER INSERT OR DELETE OR UPDATE ON trk_owner.other
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.record_change();
CREATE TRIGGER pipeline_record_change_replica AFTER INSERT OR DELETE ON trk_owner.other
    FOR EACH ROW EXECUTE FUNCTION pipeline.record_change();
CREATE OR REPLACE TRIGGER pipeline_record_change AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON trk_owner.other
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.record_change();
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'trk_owner.other'::regclass;

-- a view redefined to read another table: the first one's triggers go
SET ROLE trk_owner;
CREATE TABLE trk_owner.first (x int);
CREATE TABLE trk_owner.second (x int);
SELECT pipeline.create_matview('trk_owner', 'moved', 'SELECT x FROM trk_owner.first', '1 hour',
                               refresh_mode => 'full');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00');
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgrelid IN ('trk_owner.first'::regclass, 'trk_owner.second'::regclass) GROUP BY 1 ORDER BY 1;
SELECT pipeline.create_matview('trk_owner', 'moved', 'SELECT x FROM trk_owner.second', '1 hour',
                               refresh_mode => 'full');
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgrelid IN ('trk_owner.first'::regclass, 'trk_owner.second'::regclass) GROUP BY 1 ORDER BY 1;
SELECT pipeline.drop_matview('trk_owner.mv_moved');
RESET ROLE;
-- a drop releases its own views' former sources only: a table with
-- triggers left over (made here as a restored dump makes them) keeps them
-- through the drop of a view that reads nothing
CREATE TABLE trk_owner.leftover (x int);
CREATE TRIGGER pipeline_record_change AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON trk_owner.leftover
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.record_change();
ALTER TABLE trk_owner.leftover ENABLE ALWAYS TRIGGER pipeline_record_change;
SET ROLE trk_owner;
SELECT pipeline.create_matview('trk_owner', 'constant', 'SELECT 1 AS x', '1 hour');
SELECT pipeline.drop_matview('trk_owner.mv_constant');
SELECT count(*) AS leftover_triggers FROM pg_trigger WHERE tgrelid = 'trk_owner.leftover'::regclass;
RESET ROLE;

DROP SCHEMA trk_owner CASCADE;
REVOKE SET ON PARAMETER session_replication_role FROM trk_owner;
DROP ROLE trk_owner;
