-- A mirror redefined with another @mirror-sequence (or operation column,
-- or delete value) is rebuilt from its stream, not kept: its deleted-key
-- memory holds values of the old sequence, which lost rows (same type) or
-- failed every later run (another type).  As a non-superuser owner with a
-- trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE mr_owner LOGIN;
CREATE SCHEMA mr AUTHORIZATION mr_owner;
CREATE SCHEMA mr_trap AUTHORIZATION mr_owner;
RESET client_min_messages;
SET ROLE mr_owner;
CREATE FUNCTION mr_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR mr_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = mr_trap.int4eq);
SET search_path = mr_trap, public, pg_catalog;

-- the same type
CREATE TABLE mr.ev (off bigint, seq int, ver int, op text, id int, v text);
SELECT pipeline.create_matview('mr', 'm', 'SELECT off, seq, ver, op, id, v FROM mr.ev', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev VALUES (1, 100, 1, 'I', 1, 'a'), (2, 200, 2, 'D', 1, NULL);
SELECT status FROM pipeline.refresh('mr.mv_m');
SELECT pipeline.create_matview('mr', 'm', 'SELECT off, seq, ver, op, id, v FROM mr.ev', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "ver"}');
INSERT INTO mr.ev VALUES (3, 300, 3, 'I', 1, 'newer by ver');
SELECT status FROM pipeline.refresh('mr.mv_m');
SELECT id, v FROM mr.mv_m;

-- another type
CREATE TABLE mr.ev2 (off bigint, seq int, ts timestamptz, op text, id int, v text);
SELECT pipeline.create_matview('mr', 'm2', 'SELECT off, seq, ts, op, id, v FROM mr.ev2', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev2 VALUES (1, 1, '2020-01-01', 'I', 1, 'a'), (2, 5, '2020-01-02', 'D', 1, NULL);
SELECT status FROM pipeline.refresh('mr.mv_m2');
SELECT pipeline.create_matview('mr', 'm2', 'SELECT off, seq, ts, op, id, v FROM mr.ev2', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "ts"}');
INSERT INTO mr.ev2 VALUES (3, 2, '2021-01-01', 'I', 1, 'back');
SELECT status FROM pipeline.refresh('mr.mv_m2');
SELECT id, v FROM mr.mv_m2;

-- the same name over another expression: "ver AS seq" instead of "seq"
CREATE TABLE mr.ev3 (off bigint, seq int, ver int, op text, id int, v text);
SELECT pipeline.create_matview('mr', 'm3', 'SELECT off, seq, op, id, v FROM mr.ev3', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev3 VALUES (1, 100, 1, 'I', 1, 'a'), (2, 200, 2, 'D', 1, NULL);
SELECT status FROM pipeline.refresh('mr.mv_m3');
-- a WHERE clause alone keeps the mirror (its table stays)
SELECT 'mr.mv_m3'::regclass::oid AS m3_before \gset
SELECT pipeline.create_matview('mr', 'm3', 'SELECT off, seq, op, id, v FROM mr.ev3 WHERE id > 0', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT 'mr.mv_m3'::regclass::oid = :m3_before AS kept;
SELECT pipeline.create_matview('mr', 'm3', 'SELECT off, ver AS seq, op, id, v FROM mr.ev3', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT 'mr.mv_m3'::regclass::oid = :m3_before AS kept;
INSERT INTO mr.ev3 VALUES (3, 50, 3, 'I', 1, 'newer by ver');
SELECT status FROM pipeline.refresh('mr.mv_m3');
SELECT id, seq, v FROM mr.mv_m3;

-- the same for a key: "id2 AS id" instead of "id" (the memory holds key 1
-- deleted at 200 by the old key; a change of the new key 1 at 150 was lost)
CREATE TABLE mr.ev4 (off bigint, seq int, op text, id int, id2 int, v text);
SELECT pipeline.create_matview('mr', 'm4', 'SELECT off, seq, op, id, v FROM mr.ev4', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev4 VALUES (1, 100, 'I', 1, 10, 'a'), (2, 200, 'D', 1, 10, NULL), (3, 300, 'I', 2, 20, 'b');
SELECT status FROM pipeline.refresh('mr.mv_m4');
SELECT pipeline.create_matview('mr', 'm4', 'SELECT off, seq, op, id2 AS id, v FROM mr.ev4', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev4 VALUES (4, 150, 'I', 7, 1, 'new key 1');
SELECT status FROM pipeline.refresh('mr.mv_m4');
SELECT id, seq, v FROM mr.mv_m4 ORDER BY id;

-- or through a plain view it reads: replacing that view is refused while
-- the mirror consumes it (its rows and memory hold values of the old one)
CREATE TABLE mr.ev5 (off bigint, seq int, ver int, op text, id int, v text);
CREATE VIEW mr.src5 AS SELECT off, seq, op, id, v FROM mr.ev5;
SELECT pipeline.create_matview('mr', 'm5', 'SELECT off, seq, op, id, v FROM mr.src5', '1 minute', 'mirror', 'off',
                               'auto', '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO mr.ev5 VALUES (1, 100, 1, 'I', 1, 'a'), (2, 200, 2, 'D', 1, NULL);
SELECT status FROM pipeline.refresh('mr.mv_m5');
CREATE OR REPLACE VIEW mr.src5 AS SELECT off, ver AS seq, op, id, v FROM mr.ev5;
SELECT pg_catalog.pg_get_viewdef('mr.src5'::regclass) OPERATOR(pg_catalog.~~) '%ver%' AS replaced;
RESET search_path;
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'mr';
DROP SCHEMA mr CASCADE;
DROP SCHEMA mr_trap CASCADE;
DROP ROLE mr_owner;
