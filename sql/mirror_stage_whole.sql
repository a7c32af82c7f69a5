-- A stage mirror (no @incremental-key) empties its whole stage table after
-- each run, so it must read all of it: a WHERE, LIMIT, ONLY, TABLESAMPLE
-- or grouping left rows out that were then emptied unapplied.  As a
-- non-superuser with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE ms_owner LOGIN;
CREATE SCHEMA ms AUTHORIZATION ms_owner;
CREATE SCHEMA ms_trap AUTHORIZATION ms_owner;
RESET client_min_messages;
SET ROLE ms_owner;
CREATE FUNCTION ms_trap.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trap' $$;
SET search_path = ms_trap, public, pg_catalog;
CREATE TABLE ms.stage (seq int, op text, id int, v text);
CREATE TABLE ms.stage_child () INHERITS (ms.stage);
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM pipeline.create_matview('ms', 'm', q, '1 hour', 'mirror', NULL, 'auto',
                                  '{"mirror-keys": "id", "mirror-sequence": "seq"}');
  RETURN 'accepted';
EXCEPTION WHEN feature_not_supported THEN
  RETURN SQLERRM;
END $f$;
SELECT q, pg_temp.try(q) AS verdict FROM (VALUES
  ('SELECT seq, op, id, v FROM ms.stage WHERE id > 1'),
  ('SELECT seq, op, id, v FROM ONLY ms.stage'),
  ('SELECT seq, op, id, v FROM ms.stage LIMIT 10'),
  ('SELECT seq, op, id, v FROM ms.stage TABLESAMPLE system (50)'),
  ('SELECT DISTINCT seq, op, id, v FROM ms.stage')) t(q);
SELECT count(*) AS none FROM pipeline.matviews WHERE schema_name = 'ms';
-- a plain read of the whole table, expressions and all, is a stage mirror
SELECT pg_temp.try('SELECT seq, op, id, pg_catalog.lower(v) AS v FROM ms.stage') AS plain;
INSERT INTO ms.stage VALUES (1, 'I', 1, 'A');
INSERT INTO ms.stage_child VALUES (1, 'I', 2, 'B');
SELECT status FROM pipeline.refresh('ms.mv_m');
SELECT id, v FROM ms.mv_m ORDER BY id;
SELECT count(*) AS stage_left FROM ms.stage;
-- a table another managed view reads is no stage: the mirror would empty
-- it under that view, the first time when it is defined
CREATE TABLE ms.shared (seq int, op text, id int, v text);
INSERT INTO ms.shared VALUES (1, 'I', 1, 'kept');
SELECT pipeline.create_matview('ms', 'shared_count', 'SELECT count(*) AS n FROM ms.shared', '1 hour');
SELECT pipeline.create_matview('ms', 'shared_m', 'SELECT seq, op, id, v FROM ms.shared', '1 hour', 'mirror',
       options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT count(*) AS shared_rows FROM ms.shared;
-- a stage mirror's own redefinition is no other reader
SELECT pipeline.create_matview('ms', 'm', 'SELECT seq, op, id, v FROM ms.stage', '2 hours', 'mirror',
       options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
DROP FUNCTION pg_temp.try(text);
RESET search_path;
RESET ROLE;
-- nor may another role's view start reading a stage a mirror empties
-- (attack pass, 2026-12-06): it saw only an emptied table, and its edge
-- refused every redefinition of the mirror, which the mirror's owner
-- could not undo
CREATE ROLE ms_reader LOGIN;
CREATE SCHEMA ms_reader AUTHORIZATION ms_reader;
GRANT USAGE ON SCHEMA ms, ms_trap TO ms_reader;
GRANT SELECT ON ms.stage, ms.stage_child TO ms_reader;
SET ROLE ms_reader;
SET search_path = ms_trap, public, pg_catalog;
SELECT pipeline.create_matview('ms_reader', 'peek', 'SELECT * FROM ms.stage', '1 hour');
SELECT pipeline.create_matview('ms_reader', 'peek', 'SELECT count(*) AS n FROM ms.stage', '1 hour',
       refresh_mode => 'full');
-- its inheritance child, which the mirror empties too (a fourth pass)
SELECT pipeline.create_matview('ms_reader', 'peek', 'SELECT count(*) AS n FROM ms.stage_child', '1 hour');
-- nor through a plain view replaced later (a fifth pass)
CREATE TABLE ms_reader.own (n int);
CREATE VIEW ms_reader.pv AS SELECT n FROM ms_reader.own;
SELECT pipeline.create_matview('ms_reader', 'through', 'SELECT n FROM ms_reader.pv', '1 hour');
CREATE OR REPLACE VIEW ms_reader.pv AS SELECT id AS n FROM ms.stage;
SELECT upstream::text FROM pipeline.edges WHERE downstream = 'ms_reader.mv_through'::regclass;
SELECT pipeline.drop_matview('ms_reader.mv_through');
RESET search_path;
RESET ROLE;
SET ROLE ms_owner;
SELECT pipeline.create_matview('ms', 'm', 'SELECT seq, op, id, v FROM ms.stage', '3 hours', 'mirror',
       options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
RESET ROLE;
-- a mirror of another role's table is refused up front: each run empties
-- it, firing that role's triggers with the mirror owner's rights (it failed
-- on LOCK TABLE's bare "permission denied" where it could only read)
SET ROLE ms_owner;
CREATE TABLE ms.read_only_stage (seq bigint, op text, id int, v text);
GRANT SELECT ON ms.read_only_stage TO ms_reader;
RESET ROLE;
SET ROLE ms_reader;
SET search_path = ms_trap, public, pg_catalog;
SELECT pipeline.create_matview('ms_reader', 'ro', 'SELECT seq, op, id, v FROM ms.read_only_stage', '1 hour',
       'mirror', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT count(*) AS half_done FROM pg_catalog.pg_class WHERE relname = 'mv_ro';
RESET search_path;
RESET ROLE;
-- nor a table of a role the mirror's owner is a member of: another member
-- could put a trigger on it
CREATE ROLE ms_member IN ROLE ms_owner;
GRANT CREATE ON SCHEMA ms TO ms_member;
SET ROLE ms_member;
SELECT pipeline.create_matview('ms', 'member', 'SELECT seq, op, id, v FROM ms.read_only_stage', '1 hour',
       'mirror', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
RESET ROLE;
-- nor does a run go on once the stage changed hands
ALTER TABLE ms.stage OWNER TO ms_reader;
SET ROLE ms_owner;
SELECT status FROM pipeline.refresh('ms.mv_m', false);
RESET ROLE;
ALTER TABLE ms.stage OWNER TO ms_owner;
-- nor its inheritance child, emptied with it
ALTER TABLE ms.stage_child OWNER TO ms_reader;
SET ROLE ms_owner;
SELECT status FROM pipeline.refresh('ms.mv_m', false);
RESET ROLE;
ALTER TABLE ms.stage_child OWNER TO ms_owner;
SET ROLE ms_owner;
SELECT status FROM pipeline.refresh('ms.mv_m', false);
RESET ROLE;
-- nor in one update set: a stage mirror beside a reader of its stage, or
-- beside another mirror that empties it too (a third pass); each passed
-- its checks against the views stored before the set
SET ROLE ms_owner;
SET search_path = ms_trap, public, pg_catalog;
CREATE TABLE ms.set_stage (seq int, op text, id int, v text);
SELECT pipeline.stage($$/**
 * @matview-schema ms
 * @matview-name set_m
 * @matview-type mirror
 * @interval-in-minutes 60
 * @mirror-keys id
 * @mirror-sequence seq
 */
SELECT seq, op, id, v FROM ms.set_stage$$);
SELECT pipeline.stage($$/**
 * @matview-schema ms
 * @matview-name set_reader
 * @interval-in-minutes 60
 */
SELECT count(*) AS n FROM ms.set_stage$$);
SELECT matview, status FROM pipeline.check_staged() ORDER BY 1;
SELECT * FROM pipeline.apply_staged();
SELECT pipeline.discard_staged();
SELECT pipeline.stage($$/**
 * @matview-schema ms
 * @matview-name set_m
 * @matview-type mirror
 * @interval-in-minutes 60
 * @mirror-keys id
 * @mirror-sequence seq
 */
SELECT seq, op, id, v FROM ms.set_stage$$);
SELECT pipeline.stage($$/**
 * @matview-schema ms
 * @matview-name set_m2
 * @matview-type mirror
 * @interval-in-minutes 60
 * @mirror-keys id
 * @mirror-sequence seq
 */
SELECT seq, op, id, v FROM ms.set_stage$$);
SELECT * FROM pipeline.apply_staged();
SELECT pipeline.discard_staged();
SELECT count(*) AS set_views FROM pipeline.matviews WHERE name LIKE 'set_%';
RESET search_path;
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'ms';
DROP SCHEMA ms CASCADE;
DROP SCHEMA ms_trap CASCADE;
DROP SCHEMA ms_reader CASCADE;
DROP ROLE ms_reader;
DROP ROLE ms_member;
DROP ROLE ms_owner;
