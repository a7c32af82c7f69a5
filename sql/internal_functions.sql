-- Which of pipeline's functions PUBLIC may execute: the API's, and the
-- internal ones that SQL running as some caller or view owner calls
-- (README "Internal functions PUBLIC may execute").  A function added to
-- either list changes this test's output on purpose.  Since 1.22 the step
-- and final functions of the internal aggregates are not among them:
-- PostgreSQL checks those as the aggregates' owner, so a view owner
-- without superuser still refreshes min/max/avg differentially.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'pipeline'::regnamespace
   AND has_function_privilege('pg_database_owner', p.oid, 'EXECUTE')
 ORDER BY p.proname, p.oid::regprocedure::text;

-- a view owner without superuser, a hostile schema first in its path
CREATE ROLE if_owner;
CREATE SCHEMA if_s AUTHORIZATION if_owner;
CREATE SCHEMA if_trap AUTHORIZATION if_owner;
SET ROLE if_owner;
CREATE FUNCTION if_trap.max(numeric) RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
CREATE TABLE if_s.ev (g int, x numeric);
INSERT INTO if_s.ev SELECT g % 4, (g * 7 % 13)::numeric / 4 FROM generate_series(1, 40) g;
SELECT pipeline.create_matview('if_s', 'agg',
    'SELECT g, count(*) AS n, min(x) AS lo, max(x) AS hi, avg(x) AS mean FROM if_s.ev GROUP BY g',
    '1 hour', refresh_mode => 'differential');
SET search_path = if_trap, public;
INSERT INTO if_s.ev VALUES (1, 99.5), (5, -1);
DELETE FROM if_s.ev WHERE g = 2 AND x = (SELECT pg_catalog.max(x) FROM if_s.ev WHERE g = 2);
SELECT status FROM pipeline.refresh('if_s.mv_agg');
RESET search_path;
-- the view equals its query
(SELECT * FROM if_s.mv_agg EXCEPT ALL
 SELECT g, count(*), min(x), max(x), avg(x) FROM if_s.ev GROUP BY g)
UNION ALL
(SELECT g, count(*), min(x), max(x), avg(x) FROM if_s.ev GROUP BY g EXCEPT ALL
 SELECT * FROM if_s.mv_agg);
SELECT count(*) AS groups FROM if_s.mv_agg;
RESET ROLE;

SELECT pipeline.drop_matview('if_s.mv_agg');
DROP SCHEMA if_s, if_trap CASCADE;
DROP ROLE if_owner;

-- Internal functions called by hand with hostile arguments, as a role
-- without superuser with a hostile schema first in its path (h65).
CREATE ROLE if_caller;
CREATE SCHEMA if_c AUTHORIZATION if_caller;
CREATE SCHEMA if_trap2 AUTHORIZATION if_caller;
SET ROLE if_caller;
SET search_path = if_trap2, if_c, public;
CREATE FUNCTION if_trap2.count(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';

-- apply_changes()'s MERGE helpers called by the target's CHECK constraint,
-- which the MERGE's executor evaluates itself, with a sequence of another
-- type than the change table's (text): refused before the memory copies or
-- compares the value as its own (a trigger's such calls crashed the
-- server, or read its memory into pipeline.deleted_keys), and the apply
-- leaves nothing done
CREATE TABLE if_c.t1 (id int PRIMARY KEY, v int, seq text);
CREATE TABLE if_c.t1_changes (id int, v int, seq text, op text);
INSERT INTO if_c.t1 VALUES (1, 10, 'a'), (3, 30, 'a');
INSERT INTO if_c.t1_changes VALUES (3, NULL, 'b', 'D');
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t1_changes', 'if_c.t1', '{id}', 'seq');
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'if_c.t1'::regclass;
TRUNCATE if_c.t1_changes;
INSERT INTO if_c.t1_changes VALUES (1, 11, 'b', 'U'), (2, 20, 'b', 'I'), (3, 31, 'a', 'I');
ALTER TABLE if_c.t1 ADD CONSTRAINT hostile CHECK (pipeline.apply_changes_deleting(123456789::bigint, 1)) NOT VALID;
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t1_changes', 'if_c.t1', '{id}', 'seq');
ALTER TABLE if_c.t1 DROP CONSTRAINT hostile;
ALTER TABLE if_c.t1 ADD CONSTRAINT hostile CHECK (pipeline.apply_changes_row('D', 'D', 1, 2) IS NOT FALSE) NOT VALID;
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t1_changes', 'if_c.t1', '{id}', 'seq');
ALTER TABLE if_c.t1 DROP CONSTRAINT hostile;
ALTER TABLE if_c.t1 ADD CONSTRAINT hostile CHECK (pipeline.apply_changes_insertable(987654321::bigint, 2)) NOT VALID;
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t1_changes', 'if_c.t1', '{id}', 'seq');
SELECT * FROM if_c.t1 ORDER BY id;
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'if_c.t1'::regclass;
-- without it the same changes apply; key 3's insert is older than its
-- remembered delete
ALTER TABLE if_c.t1 DROP CONSTRAINT hostile;
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t1_changes', 'if_c.t1', '{id}', 'seq');
SELECT * FROM if_c.t1 ORDER BY id;

-- the same called with the change table's types, from a trigger that
-- undoes its subtransaction: only the MERGE's own calls act, under its
-- snapshot and resource owner (such a call opened the memory's index scan
-- under the trigger's, which then went: an older change brought a
-- deleted key back, or the server crashed); so no key comes back and no
-- delete is made up
CREATE TABLE if_c.t2 (id int PRIMARY KEY, v int, seq bigint);
CREATE TABLE if_c.t2_changes (id int, v int, seq bigint, op text);
INSERT INTO if_c.t2 SELECT g, g, 1 FROM generate_series(1, 3000) g;
-- more keys remembered than the next batch has changes: probed by index
INSERT INTO if_c.t2_changes SELECT g, NULL, 2, 'D' FROM generate_series(10, 2500) g;
SELECT deleted FROM pipeline.apply_changes('if_c.t2_changes', 'if_c.t2', '{id}', 'seq');
TRUNCATE if_c.t2_changes;
INSERT INTO if_c.t2_changes VALUES (1, 100, 5, 'U'), (20, 200, 1, 'I'), (21, 201, 9, 'I');
CREATE FUNCTION if_c.probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pipeline.apply_changes_insertable(NEW.seq, NEW.id);
        PERFORM pipeline.apply_changes_deleting(NEW.seq, NEW.id);
        PERFORM pipeline.apply_changes_row('D', 'D', NEW.seq, NEW.id);
        RAISE EXCEPTION 'undone';
    EXCEPTION WHEN others THEN NULL;
    END;
    RETURN NEW;
END $$;
CREATE TRIGGER t2_probe BEFORE INSERT OR UPDATE ON if_c.t2 FOR EACH ROW EXECUTE FUNCTION if_c.probe();
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t2_changes', 'if_c.t2', '{id}', 'seq');
SELECT id, v, seq FROM if_c.t2 WHERE id IN (1, 20, 21) ORDER BY id;
SELECT key, sequence FROM pipeline.deleted_keys
 WHERE target = 'if_c.t2'::regclass AND key IN ('1', '20', '21') ORDER BY key;

-- a MERGE into the target that a function runs while the apply's own
-- MERGE is planned (an immutable default, which the planner folds) is not
-- taken for it (it was, and the apply's own calls then acted as outside
-- it: no delete remembered, an older change brought a deleted key back,
-- a bad change went in)
CREATE TABLE if_c.t3 (id int PRIMARY KEY, v int, seq bigint);
CREATE TABLE if_c.t3_changes (id int, v int, seq bigint, op text);
CREATE FUNCTION if_c.merging() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    MERGE INTO if_c.t3 t USING (SELECT 1 AS id) s ON t.id = s.id AND false WHEN MATCHED THEN DO NOTHING;
    RETURN 0;
END $$;
CREATE FUNCTION if_c.folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN if_c.merging(); END';
ALTER TABLE if_c.t3 ADD COLUMN d int DEFAULT if_c.folded();
INSERT INTO if_c.t3_changes VALUES (1, 1, 1, 'I'), (2, 2, 1, 'I'), (3, 3, 1, 'I');
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t3_changes', 'if_c.t3', '{id}', 'seq');
TRUNCATE if_c.t3_changes;
INSERT INTO if_c.t3_changes VALUES (1, NULL, 5, 'D'), (2, NULL, NULL, 'D');
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t3_changes', 'if_c.t3', '{id}', 'seq');
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'if_c.t3'::regclass ORDER BY key;
TRUNCATE if_c.t3_changes;
INSERT INTO if_c.t3_changes VALUES (1, 7, 2, 'I'), (2, 7, 0, 'I'), (4, 1, NULL, 'I');
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t3_changes', 'if_c.t3', '{id}', 'seq');
DELETE FROM if_c.t3_changes WHERE id = 4;
SELECT inserted, updated, deleted FROM pipeline.apply_changes('if_c.t3_changes', 'if_c.t3', '{id}', 'seq');
SELECT id, v, seq FROM if_c.t3 ORDER BY id;

-- extremes_after() with kept values far longer than a refresh keeps: cut
-- to the best eight, so removing 100,000 copies costs a few comparisons
-- (it took minutes, deaf to cancels); the answer is "unknown"
SET statement_timeout = '60s';
SELECT pipeline.extremes_after(array_cat(array_fill(1, ARRAY[100000]), array_fill(100, ARRAY[100000])),
       200000, ARRAY[1], ARRAY[100000]::bigint[], NULL::int, 100000, false) IS NULL AS unknown;
SELECT pipeline.extremes_merged(array_cat(array_fill(1, ARRAY[100000]), array_fill(100, ARRAY[100000])),
       200000, ARRAY[1], ARRAY[100000]::bigint[], NULL::int[], 100000, false) IS NULL AS unknown;
-- a short one still answers as before
SELECT pipeline.extremes_after(ARRAY[1, 2, 3], 5, ARRAY[1], ARRAY[1]::bigint[], NULL::int, 4, false);
RESET statement_timeout;
-- its answers kept for the next group hold small questions only: a large
-- one leaves nothing behind in the process
SELECT array_length(pipeline.extremes_merged(array_fill(n, ARRAY[8]), 10, array_fill(7, ARRAY[2000000]),
       NULL, NULL, 1, false), 1) FROM generate_series(1, 2) n;

-- kept_extremes() whose order differs by group keeps each group's order
SELECT g, pipeline.kept_extremes(x, g = 'b')
  FROM (VALUES ('a', 1), ('b', 1), ('a', 5), ('b', 5), ('a', 3), ('b', 3)) v(g, x)
 GROUP BY g ORDER BY g;
-- max_scale_rows() counts rows in a bigint: an overflow is an error
SELECT pipeline.max_scale_rows(x, c)
  FROM (VALUES (1.5, 9223372036854775807), (2.5, 1), (2.5, 9223372036854775807)) v(x, c);
SELECT pipeline.max_scale_rows(x, c) FROM (VALUES (1.5, -5), (1.5, 2)) v(x, c);
RESET search_path;
RESET ROLE;
SELECT total_bytes < 65536 AS answers_small
  FROM pg_backend_memory_contexts WHERE name = 'pipeline kept extremes';

DROP SCHEMA if_c, if_trap2 CASCADE;
DROP ROLE if_caller;
