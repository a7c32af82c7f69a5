-- Change capture for differential refresh (src/views/capture.h): the
-- triggers append every write's row images (the columns the consumers
-- need) to the table's change log, for a writer with no rights on the log
-- and a hostile search_path; widening, unregistering, pruning, the guard,
-- a dropped table and DROP EXTENSION.  Nothing consumes the logs yet: the
-- internal functions pipeline.capture_register/_unregister/_prune stand in
-- for the differential refresh, a managed regular view for the consumer.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE ROLE cap_owner;
CREATE ROLE cap_writer;
GRANT SET ON PARAMETER session_replication_role TO cap_writer;
CREATE SCHEMA cap AUTHORIZATION cap_owner;
GRANT USAGE ON SCHEMA cap TO cap_writer;
SET ROLE cap_owner;
CREATE TABLE cap.src (id int PRIMARY KEY, k int, v numeric(10,2), note text COLLATE "C", extra int);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON cap.src TO cap_writer;
SELECT pipeline.create_matview('cap', 'consumer', 'SELECT count(*) AS n FROM cap.src', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('cap', 'wider', 'SELECT count(*) AS n FROM cap.src', '1 hour', refresh_mode => 'full');
-- internal: not for PUBLIC
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.src', '{2,3}');
SELECT pipeline.capture_unregister('cap.mv_consumer');
SELECT pipeline.capture_prune('cap.src');
RESET ROLE;

-- a hostile schema first on everyone's search_path: its operators and
-- functions shadow what pipeline's SQL would use, and fail loudly if
-- anything resolves to them
CREATE SCHEMA cap_trap;
GRANT USAGE ON SCHEMA cap_trap TO PUBLIC;
CREATE FUNCTION cap_trap.trap_oid(oid, oid) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE FUNCTION cap_trap.trap_regclass(regclass, regclass) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE FUNCTION cap_trap.trap_xid8(xid8, xid8) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap < ran as %', current_user; END$f$;
CREATE OPERATOR cap_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = cap_trap.trap_oid);
CREATE OPERATOR cap_trap.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = cap_trap.trap_regclass);
CREATE OPERATOR cap_trap.< (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = cap_trap.trap_xid8);
CREATE FUNCTION cap_trap.pg_current_xact_id() RETURNS xid8
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap pg_current_xact_id ran as %', current_user; END$f$;
CREATE FUNCTION cap_trap.nextval(regclass) RETURNS bigint
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap nextval ran as %', current_user; END$f$;
CREATE TABLE cap_trap.capture_sources (source regclass, log_table regclass, columns int2[], capture_xid xid8);
GRANT ALL ON cap_trap.capture_sources TO PUBLIC;

-- The log of a table, emptied as it is shown: per row its transaction and
-- statement (numbered in order), sign and captured columns
CREATE FUNCTION take_log(src regclass)
RETURNS TABLE(txn bigint, stmt bigint, sign int2, cols jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    log regclass := (SELECT s.log_table FROM pipeline.capture_sources s WHERE s.source = src);
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH d AS (DELETE FROM %s RETURNING *) '
        'SELECT dense_rank() OVER (ORDER BY xid), dense_rank() OVER (PARTITION BY xid ORDER BY cid), '
        '       sign, to_jsonb(d) - ''xid'' - ''cid'' - ''sign'' FROM d '
        ' ORDER BY xid, cid, sign, 4', log);
END
$$;

-- (the hostile path is set for what pipeline runs, reset for the checks)
\set hostile 'SET search_path = cap_trap, pg_catalog'
:hostile;
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.src', '{2,3}');
RESET search_path;
SELECT source, log_table::text ~ '^pipeline\.capture_log_\d+$' AS log_named, columns
  FROM pipeline.capture_sources;
SELECT * FROM pipeline.capture_consumers;
SELECT tgname, tgenabled, pg_get_triggerdef(t.oid) AS def
  FROM pg_trigger t WHERE tgrelid = 'cap.src'::regclass AND tgname LIKE 'pipeline_capture%' ORDER BY tgname;
-- the log: no grants, no index, an extension member, WAL-logged
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attcollation::regcollation
  FROM pipeline.capture_sources s JOIN pg_attribute a ON a.attrelid = s.log_table
 WHERE a.attnum > 0 ORDER BY a.attnum;
SELECT NOT EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS owner_only,
       c.relhasindex, c.relpersistence,
       EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e') AS member
  FROM pipeline.capture_sources s JOIN pg_class c ON c.oid = s.log_table;
-- registering again changes nothing
SELECT capture_xid AS first_xid FROM pipeline.capture_sources \gset
:hostile;
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.src', '{2,3}');
RESET search_path;
SELECT capture_xid = :'first_xid' AS unchanged FROM pipeline.capture_sources;

-- the writer: no rights on the log, the hostile schema first on its path
SELECT has_table_privilege('cap_writer', log_table, 'SELECT') AS reads,
       has_table_privilege('cap_writer', log_table, 'INSERT') AS writes
  FROM pipeline.capture_sources;
SET ROLE cap_writer;
:hostile;
INSERT INTO cap.src VALUES (1, 10, 1.50, 'a', 0), (2, 20, 2.50, 'b', 0), (3, NULL, NULL, 'c', 0);
UPDATE cap.src SET k = k + 1 WHERE id = 1;
-- columns no consumer reads: nothing logged
UPDATE cap.src SET extra = 5;
UPDATE cap.src SET note = 'n' WHERE id = 2;
DELETE FROM cap.src WHERE id = 3;
BEGIN;
INSERT INTO cap.src VALUES (4, 40, 4.00, 'd', 0);
UPDATE cap.src SET v = 4.25 WHERE id = 4;
COMMIT;
SELECT * FROM pipeline.capture_sources;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');

-- a statement that changes no row logs nothing; with a BEFORE UPDATE row
-- trigger (which may change any column) an update of other columns is
-- logged
SET ROLE cap_owner;
CREATE FUNCTION cap.bump() RETURNS trigger LANGUAGE plpgsql
    AS 'BEGIN NEW.k := NEW.k + NEW.extra; RETURN NEW; END';
CREATE TRIGGER bump BEFORE UPDATE ON cap.src FOR EACH ROW EXECUTE FUNCTION cap.bump();
RESET ROLE;
SET ROLE cap_writer;
:hostile;
DELETE FROM cap.src WHERE id < 0;
UPDATE cap.src SET extra = 1 WHERE id = 4;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');
SET ROLE cap_owner;
DROP TRIGGER bump ON cap.src;
RESET ROLE;

-- an update of columns nobody consumes logs nothing; a statement updating
-- the table twice (a data-modifying WITH) fires the trigger once, with the
-- columns of the update that ran last: the rows say what changed
SET ROLE cap_writer;
:hostile;
UPDATE cap.src SET extra = 2 WHERE id = 4;
WITH u AS (UPDATE cap.src SET extra = 3 WHERE id = 3 RETURNING id)
UPDATE cap.src SET k = k + 100 WHERE id = 4;
WITH u AS (UPDATE cap.src SET extra = 4 WHERE id = 3 RETURNING id)
UPDATE cap.src SET extra = 5 WHERE id = 4;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');

-- TRUNCATE leaves a marker; COPY, MERGE and ON CONFLICT are captured
SET ROLE cap_writer;
:hostile;
TRUNCATE cap.src;
COPY cap.src FROM stdin;
1	10	1.00	a	0
2	20	2.00	b	0
\.
MERGE INTO cap.src s
USING (VALUES (1, 11), (2, NULL), (5, 50)) AS m(id, k) ON s.id = m.id
 WHEN MATCHED AND m.k IS NULL THEN DELETE
 WHEN MATCHED THEN UPDATE SET k = m.k
 WHEN NOT MATCHED THEN INSERT VALUES (m.id, m.k, 5.00, 'e', 0);
INSERT INTO cap.src VALUES (5, 55, 5.50, 'e', 0), (6, 60, 6.00, 'f', 0)
    ON CONFLICT (id) DO UPDATE SET v = excluded.v;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');

-- rolled back: a subtransaction's rows and a transaction's are invisible
SET ROLE cap_writer;
:hostile;
BEGIN;
INSERT INTO cap.src VALUES (7, 70, 7.00, 'g', 0);
SAVEPOINT s;
INSERT INTO cap.src VALUES (8, 80, 8.00, 'h', 0);
ROLLBACK TO s;
INSERT INTO cap.src VALUES (9, 90, 9.00, 'i', 0);
COMMIT;
BEGIN;
DELETE FROM cap.src;
ROLLBACK;
-- under session_replication_role = replica: captured, once
SET session_replication_role = replica;
INSERT INTO cap.src VALUES (10, 100, 10.00, 'j', 0);
DELETE FROM cap.src WHERE id = 10;
RESET session_replication_role;
-- a REPEATABLE READ writer
BEGIN ISOLATION LEVEL REPEATABLE READ;
UPDATE cap.src SET k = -k WHERE id = 9;
COMMIT;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');

-- widening: a second consumer needs a text column with its collation
:hostile;
SELECT pipeline.capture_register('cap.mv_wider', 'cap.src', '{2,4}');
RESET search_path;
SELECT columns, capture_xid <> :'first_xid' AS restarted FROM pipeline.capture_sources;
SELECT * FROM pipeline.capture_consumers ORDER BY matview;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attcollation::regcollation
  FROM pipeline.capture_sources s JOIN pg_attribute a ON a.attrelid = s.log_table
 WHERE a.attnum > 3 ORDER BY a.attnum;
SET ROLE cap_writer;
:hostile;
UPDATE cap.src SET note = 'widened' WHERE id = 9;
RESET search_path;
RESET ROLE;
SELECT * FROM take_log('cap.src');

-- the guard: the triggers and the captured columns stay while captured
SET ROLE cap_owner;
\set VERBOSITY default
DROP TRIGGER pipeline_capture_insert ON cap.src;
\set VERBOSITY terse
DROP TRIGGER pipeline_capture_replica ON cap.src;
ALTER TABLE cap.src DISABLE TRIGGER pipeline_capture_update;
ALTER TABLE cap.src ENABLE TRIGGER pipeline_capture_delete;
ALTER TABLE cap.src ENABLE ALWAYS TRIGGER pipeline_capture_replica;
ALTER TABLE cap.src DISABLE TRIGGER ALL;
ALTER TRIGGER pipeline_capture_truncate ON cap.src RENAME TO mine;
-- an extension's member goes with DROP EXTENSION, silently: refused, also
-- under the hostile path; dropping such a dependency is allowed
:hostile;
ALTER TRIGGER pipeline_capture_insert ON cap.src DEPENDS ON EXTENSION plpgsql;
ALTER TRIGGER pipeline_capture_insert ON cap.src NO DEPENDS ON EXTENSION plpgsql;
RESET search_path;
SELECT count(*) AS extension_members FROM pg_depend
 WHERE classid = 'pg_trigger'::regclass AND deptype = 'x'
   AND objid IN (SELECT oid FROM pg_trigger WHERE tgrelid = 'cap.src'::regclass);
-- nor the table itself a member of an extension its owner made: pg_dump
-- would leave it out, with its triggers
RESET ROLE;
SELECT format('GRANT CREATE ON DATABASE %I TO cap_owner', current_database()) \gexec
SET ROLE cap_owner;
:hostile;
CREATE EXTENSION hstore SCHEMA cap;
ALTER EXTENSION hstore ADD TABLE cap.src;
DROP EXTENSION hstore;
RESET search_path;
RESET ROLE;
SELECT format('REVOKE CREATE ON DATABASE %I FROM cap_owner', current_database()) \gexec
SET ROLE cap_owner;
ALTER TABLE cap.src DROP COLUMN k;
ALTER TABLE cap.src ALTER COLUMN note TYPE varchar;
\set VERBOSITY default
ALTER TABLE cap.src ALTER COLUMN v TYPE numeric;
\set VERBOSITY terse
CREATE FUNCTION cap.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TABLE cap.other (x int);
CREATE TRIGGER pipeline_capture_insert AFTER INSERT ON cap.other
    FOR EACH STATEMENT EXECUTE FUNCTION cap.noop();
CREATE TRIGGER mine AFTER INSERT ON cap.other FOR EACH STATEMENT EXECUTE FUNCTION cap.noop();
ALTER TRIGGER mine ON cap.other RENAME TO pipeline_capture_delete;
-- keeping the firing mode, and the uncaptured columns, are allowed
ALTER TABLE cap.src ENABLE ALWAYS TRIGGER pipeline_capture_insert;
ALTER TABLE cap.src ENABLE REPLICA TRIGGER pipeline_capture_replica;
ALTER TABLE cap.src DROP COLUMN extra;
RESET ROLE;
-- also for a superuser
DROP TRIGGER pipeline_capture_delete ON cap.src;
-- what pg_dump writes makes a trigger as pipeline does: allowed (a
-- restored dump); on a table not captured it logs nothing
CREATE TRIGGER pipeline_capture_update AFTER UPDATE ON cap.other
    REFERENCING OLD TABLE AS pipeline_old NEW TABLE AS pipeline_new
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.capture_change();
CREATE TRIGGER pipeline_capture_insert AFTER INSERT ON cap.other
    REFERENCING NEW TABLE AS other_name
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.capture_change();
INSERT INTO cap.other VALUES (1);
UPDATE cap.other SET x = 2;
SELECT count(*) AS logs FROM pipeline.capture_sources;
DROP TRIGGER pipeline_capture_update ON cap.other;

-- pruning: a consumer's position holds back what it has not seen;
-- consumers without one do not
SET ROLE cap_writer;
:hostile;
INSERT INTO cap.src VALUES (20, 200, 20.00, 'p');
RESET search_path;
RESET ROLE;
INSERT INTO pipeline.differential_positions (matview, snapshot, xid, command_id, row_count)
VALUES ('cap.mv_consumer', pg_current_snapshot(), pg_current_xact_id(), 0, 0);
SET ROLE cap_writer;
:hostile;
INSERT INTO cap.src VALUES (21, 210, 21.00, 'q');
RESET search_path;
RESET ROLE;
:hostile;
SELECT pipeline.capture_prune('cap.src');
RESET search_path;
SELECT * FROM take_log('cap.src');
SET ROLE cap_writer;
:hostile;
INSERT INTO cap.src VALUES (22, 220, 22.00, 'r');
RESET search_path;
RESET ROLE;
DELETE FROM pipeline.differential_positions WHERE matview = 'cap.mv_consumer'::regclass;
:hostile;
SELECT pipeline.capture_prune('cap.src');
RESET search_path;
SELECT count(*) AS left_after_prune FROM take_log('cap.src');

-- unregistering: the other consumer keeps the capture (and its columns)
:hostile;
SELECT pipeline.capture_unregister('cap.mv_wider');
RESET search_path;
SELECT source, columns FROM pipeline.capture_sources;
SELECT * FROM pipeline.capture_consumers;
-- the last one takes triggers, log and row with it
SELECT log_table AS last_log FROM pipeline.capture_sources \gset
:hostile;
SELECT pipeline.capture_unregister('cap.mv_consumer');
RESET search_path;
SELECT count(*) AS sources FROM pipeline.capture_sources;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'cap.src'::regclass AND tgname LIKE 'pipeline_capture%';
SELECT to_regclass(:'last_log') AS log;
-- and then the triggers and columns are the owner's again
SET ROLE cap_owner;
ALTER TABLE cap.src DROP COLUMN note;
RESET search_path;
RESET ROLE;

-- a captured table dropped: its log and rows go with it
SET ROLE cap_owner;
CREATE TABLE cap.doomed (a int, b text);
RESET search_path;
RESET ROLE;
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.doomed', '{1,2}');
SELECT log_table AS doomed_log FROM pipeline.capture_sources \gset
SET ROLE cap_owner;
:hostile;
DROP TABLE cap.doomed;
RESET search_path;
RESET ROLE;
SELECT count(*) AS sources FROM pipeline.capture_sources;
SELECT count(*) AS consumers FROM pipeline.capture_consumers;
SELECT to_regclass(:'doomed_log') AS log;

-- what cannot be captured
CREATE TABLE cap.parted (a int) PARTITION BY RANGE (a);
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.parted', '{1}');
SELECT pipeline.capture_register('cap.mv_consumer', 'cap.src', '{2,9}');
SELECT pipeline.capture_register('cap.src', 'cap.src', '{1}');

-- DROP EXTENSION with capture active removes triggers and logs
CREATE DATABASE cap_drop;
\c cap_drop
SET client_min_messages = warning;
CREATE EXTENSION pipeline;
CREATE TABLE t (a int, b int);
SELECT pipeline.create_matview('public', 'v', 'SELECT 1 AS one', '1 hour');
SELECT pipeline.capture_register('public.mv_v', 't', '{1,2}');
INSERT INTO t VALUES (1, 2);
DROP EXTENSION pipeline;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 't'::regclass;
SELECT count(*) AS logs FROM pg_class WHERE relname LIKE 'capture_log%';
INSERT INTO t VALUES (3, 4);
\c contrib_regression
DROP DATABASE cap_drop;

DROP FUNCTION take_log(regclass);
SELECT pipeline.drop_matview('cap.mv_consumer');
SELECT pipeline.drop_matview('cap.mv_wider');
DROP SCHEMA cap CASCADE;
DROP SCHEMA cap_trap CASCADE;
REVOKE SET ON PARAMETER session_replication_role FROM cap_writer;
DROP ROLE cap_owner;
DROP ROLE cap_writer;
