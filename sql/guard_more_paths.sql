-- Paths around the DDL guard found by an attack pass, each refused: ALTER
-- SCHEMA ... RENAME of a schema holding managed views, a view's table made
-- a child (the parent's ALTERs recurse into it) or a parent (a child's rows
-- reach its readers), by ALTER TABLE ... INHERIT, ATTACH PARTITION or
-- CREATE TABLE ... INHERITS; a rule on a view's table.  And
-- drop_matview() tells a caller who may not drop a view so, before what
-- depends on it.  As a non-superuser owner
-- with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE gm_owner LOGIN;
CREATE ROLE gm_other LOGIN;
CREATE SCHEMA gm AUTHORIZATION gm_owner;
CREATE SCHEMA gm_trap AUTHORIZATION gm_owner;
CREATE SCHEMA gm_src AUTHORIZATION gm_owner;
GRANT USAGE ON SCHEMA gm TO gm_other;
RESET client_min_messages;
SET ROLE gm_owner;
CREATE FUNCTION gm_trap.oideq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: oid = oid ran as %', current_user; END $f$;
CREATE OPERATOR gm_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = gm_trap.oideq);
SET search_path = gm_trap, public, pg_catalog;
CREATE TABLE gm.src (k int, v int);
INSERT INTO gm.src VALUES (1, 1), (2, 2);
SELECT pipeline.create_matview('gm', 'diff', 'SELECT k, v FROM gm.src', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('gm', 'down', 'SELECT k FROM gm.mv_diff', '1 hour');

-- the schema cannot be renamed under them
ALTER SCHEMA gm RENAME TO gm2;

-- a view's table as a child or a parent
CREATE TABLE gm.parent (k int, v int);
ALTER TABLE gm.mv_diff INHERIT gm.parent;
CREATE TABLE gm.child (k int, v int);
ALTER TABLE gm.child INHERIT gm.mv_diff;
CREATE TABLE gm.child2 () INHERITS (gm.mv_diff);
CREATE TABLE gm.parted (k int, v int) PARTITION BY RANGE (k);
ALTER TABLE gm.parted ATTACH PARTITION gm.mv_diff FOR VALUES FROM (0) TO (100);
SELECT count(*) AS no_inheritance FROM pg_inherits
 WHERE inhrelid = 'gm.mv_diff'::regclass OR inhparent = 'gm.mv_diff'::regclass;
-- a rule on a view's table rewrote its refreshes' writes (DO INSTEAD
-- NOTHING left new rows out while the refresh succeeded): refused; a
-- table that is not a view's takes rules as before
CREATE RULE no_ins AS ON INSERT TO gm.mv_diff DO INSTEAD NOTHING;
CREATE RULE forge AS ON INSERT TO gm.mv_diff DO INSTEAD INSERT INTO gm.parent VALUES (NEW.k, 999);
SELECT count(*) AS no_rules FROM pg_rewrite WHERE ev_class OPERATOR(pg_catalog.=) 'gm.mv_diff'::regclass;
CREATE RULE no_ins AS ON INSERT TO gm.parent DO INSTEAD NOTHING;
DROP RULE no_ins ON gm.parent;
-- nor through an index expression of a view rebuilt by a redefinition:
-- its function runs while the index is made again (folded as PostgreSQL
-- loads the expressions), which the guard saw as pipeline's own DDL
CREATE TABLE gm.cmds (sql text);
CREATE FUNCTION gm.smuggle() RETURNS void LANGUAGE plpgsql VOLATILE AS $f$
DECLARE s text;
BEGIN
  FOR s IN SELECT sql FROM gm.cmds LOOP
    BEGIN EXECUTE s; EXCEPTION WHEN others THEN RAISE NOTICE 'smuggled: %', SQLERRM; END;
  END LOOP;
END $f$;
CREATE FUNCTION gm.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $f$ BEGIN PERFORM gm.smuggle(); RETURN $1; END $f$;
CREATE INDEX down_smuggler ON gm.mv_down ((k OPERATOR(pg_catalog.+) gm.folded(1)));
INSERT INTO gm.cmds VALUES ('CREATE RULE no_ins AS ON INSERT TO gm.mv_diff DO INSTEAD NOTHING'),
                           ('DROP TRIGGER pipeline_view_guard ON gm.mv_diff');
SET client_min_messages = warning;
SELECT pipeline.create_matview('gm', 'down', 'SELECT k, 1 AS one FROM gm.mv_diff', '1 hour');
RESET client_min_messages;
SELECT count(*) AS no_rules FROM pg_rewrite WHERE ev_class OPERATOR(pg_catalog.=) 'gm.mv_diff'::regclass;
SELECT count(*) AS view_guard_kept FROM pg_trigger
 WHERE tgrelid OPERATOR(pg_catalog.=) 'gm.mv_diff'::regclass AND tgname OPERATOR(pg_catalog.=) 'pipeline_view_guard';
DELETE FROM gm.cmds;
-- tables that are not views' still inherit as before
ALTER TABLE gm.child INHERIT gm.parent;
ALTER TABLE gm.child NO INHERIT gm.parent;

-- a mirror's stream and a lake publication's source: PostgreSQL records no
-- dependency on them, the guard refuses dropping or changing what they read
CREATE TABLE gm.stream (off bigint, seq int, op text, id int, v text);
SELECT pipeline.create_matview('gm', 'mirror', 'SELECT off, seq, op, id, v FROM gm.stream', '1 hour', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
-- naming every managed view that reads it, a materialized one too
SELECT pipeline.create_matview('gm', 'stream_size', 'SELECT count(*) AS n FROM gm.stream', '1 hour');
DROP TABLE gm.stream;
SELECT pipeline.drop_matview('gm.mv_stream_size');
-- one who may not drop it at all hears that from PostgreSQL, not the names
RESET ROLE;
SET ROLE gm_other;
DROP TABLE gm.stream;
RESET ROLE;
SET ROLE gm_owner;
ALTER TABLE gm.stream DROP COLUMN v;
ALTER TABLE gm.stream ALTER COLUMN v TYPE varchar(3);
ALTER TABLE gm.stream RENAME COLUMN v TO w;
-- a column no view reads can go
ALTER TABLE gm.stream ADD COLUMN extra int;
ALTER TABLE gm.stream DROP COLUMN extra;
SELECT count(*) AS stream_intact FROM gm.stream;
-- a drop reaching the stream through its schema is refused as well
CREATE TABLE gm_src.stream2 (off bigint, seq int, op text, id int, v text);
SELECT pipeline.create_matview('gm', 'mirror2', 'SELECT off, seq, op, id, v FROM gm_src.stream2', '1 hour', 'mirror',
                               'off', 'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
DROP SCHEMA gm_src CASCADE;
SELECT count(*) AS stream2_intact FROM gm_src.stream2;
SELECT pipeline.drop_matview('gm.mv_mirror2');
DROP SCHEMA gm_src CASCADE;
RESET search_path;
RESET ROLE;
-- nor may a foreign table inherit from a view's table
CREATE FOREIGN DATA WRAPPER gm_fdw;
CREATE SERVER gm_server FOREIGN DATA WRAPPER gm_fdw;
CREATE FOREIGN TABLE gm.fchild () INHERITS (gm.mv_diff) SERVER gm_server;
DROP SERVER gm_server;
DROP FOREIGN DATA WRAPPER gm_fdw;

-- a caller who may not drop a view hears that first
SET ROLE gm_other;
SELECT pipeline.drop_matview('gm.mv_diff');
RESET ROLE;
-- a NULL cascade is an error, not a drop
SELECT pipeline.drop_matview('gm.mv_down', NULL);
SELECT count(*) AS still_managed FROM pipeline.matviews WHERE name = 'down';
-- nor a cascading refresh
SELECT * FROM pipeline.refresh('gm.mv_down', NULL);
-- a read-only transaction refreshes nothing, as REFRESH MATERIALIZED VIEW
BEGIN READ ONLY;
SELECT * FROM pipeline.refresh('gm.mv_down', false);
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM pipeline.run_due('2030-01-01 00:00+00');
ROLLBACK;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview('gm.mv_diff', cascade => true);
SELECT pipeline.drop_matview('gm.mv_mirror');
DROP SCHEMA gm CASCADE;
DROP SCHEMA gm_trap CASCADE;
DROP ROLE gm_owner, gm_other;
