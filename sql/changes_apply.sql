SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- a Type-1 mirror (a shopping cart) and its change table
CREATE TABLE cart (id bigint PRIMARY KEY, user_id bigint, price numeric(6,2), seq bigint);
CREATE TABLE cart_changes (id bigint, user_id bigint, price numeric(6,2), seq bigint, op char(1));
INSERT INTO cart VALUES (1, 10, 1.00, 5), (2, 20, 2.00, 5), (3, 30, 3.00, 50);

-- latest change per key wins; D deletes; I and U upsert; an older change
-- never overwrites a newer target row; identical redeliveries are fine
INSERT INTO cart_changes VALUES
  (1, 11, 1.50, 6, 'U'), (1, 12, 1.60, 7, 'U'),       -- two updates: seq 7 wins
  (2, NULL, NULL, 6, 'D'),                           -- delete
  (3, 31, 3.10, 10, 'U'),                            -- older than the target row (50): ignored
  (4, 40, 4.00, 1, 'I'),                             -- insert
  (5, 50, 5.00, 1, 'I'), (5, 50, 5.00, 1, 'I'),      -- redelivered twice
  (6, 60, 6.00, 1, 'I'), (6, NULL, NULL, 2, 'D'),    -- inserted then deleted: nothing
  (7, 70, 7.00, 3, 'U'),                             -- update of a missing row inserts
  (8, 80, 8.00, 9, 'I'), (8, 81, 8.10, 8, 'U');      -- out of order: seq 9 wins
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
TABLE cart ORDER BY id;
SELECT count(*) AS left_in_changes FROM cart_changes;

-- a delete older than the row is ignored too; an insert of an existing key updates
INSERT INTO cart_changes VALUES (3, NULL, NULL, 40, 'D'), (4, 41, 4.10, 2, 'I');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
TABLE cart ORDER BY id;

-- truncate_changes => false keeps the change table; custom op column and delete op
CREATE TABLE mirror (k1 int, k2 text, v text, PRIMARY KEY (k1, k2));
CREATE TABLE mirror_cdc ("Op Code" text, k1 int, k2 text, v text, lsn bigint);
INSERT INTO mirror VALUES (1, 'a', 'old'), (1, 'b', 'old');
INSERT INTO mirror_cdc VALUES ('X', 1, 'a', NULL, 100), ('U', 1, 'b', 'new', 101), ('I', 2, 'a', 'two', 102);
SELECT * FROM pipeline.apply_changes('mirror_cdc', 'mirror', ARRAY['k1', 'k2'], 'lsn',
                                     op_column => 'Op Code', delete_op => 'X',
                                     truncate_changes => false);
TABLE mirror ORDER BY k1, k2;
SELECT count(*) AS kept FROM mirror_cdc;
-- applying the same changes again is idempotent for the target
SELECT * FROM pipeline.apply_changes('mirror_cdc', 'mirror', ARRAY['k1', 'k2'], 'lsn',
                                     op_column => 'Op Code', delete_op => 'X');
TABLE mirror ORDER BY k1, k2;

-- a change table with only key columns
CREATE TABLE keys_only (id int PRIMARY KEY);
CREATE TABLE keys_only_changes (id int, s int, op text);
INSERT INTO keys_only_changes VALUES (1, 1, 'I'), (2, 1, 'I'), (2, 2, 'D');
SELECT * FROM pipeline.apply_changes('keys_only_changes', 'keys_only', '{id}', 's');
TABLE keys_only;

-- errors: each leaves target and change table as they were
CREATE FUNCTION cart_state() RETURNS text LANGUAGE sql AS
$$ SELECT (SELECT string_agg(c::text, ' ' ORDER BY id) FROM cart c) || ' | ' ||
          coalesce((SELECT string_agg(c::text, ' ' ORDER BY c::text) FROM cart_changes c), '') $$;
SELECT cart_state() AS before;
-- null key
INSERT INTO cart_changes VALUES (9, 90, 9.00, 1, 'I'), (NULL, 1, 1.00, 1, 'I'), (NULL, 2, 2.00, 2, 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT cart_state() AS after_null_key;
DELETE FROM cart_changes WHERE id IS NULL;
-- null sequence
INSERT INTO cart_changes VALUES (10, 1, 1.00, NULL, 'I');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
DELETE FROM cart_changes WHERE seq IS NULL;
-- unknown and null ops
INSERT INTO cart_changes VALUES (10, 1, 1.00, 1, 'X'), (11, 1, 1.00, 1, NULL);
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
DELETE FROM cart_changes WHERE op IS DISTINCT FROM 'I';
-- same key and sequence, different contents (the merge runs first; the error undoes it)
INSERT INTO cart_changes VALUES (1, 99, 9.99, 100, 'U'), (1, 98, 9.98, 100, 'U'), (1, 98, 9.98, 100, 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT cart_state() AS after_conflict;
DELETE FROM cart_changes WHERE id = 1;
-- a conflict hidden behind a newer change of the same key is found too
INSERT INTO cart_changes VALUES (1, 97, 9.97, 50, 'U'), (1, 96, 9.96, 50, 'U'), (1, 95, 9.95, 200, 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT cart_state() AS after_hidden_conflict;
DELETE FROM cart_changes WHERE id = 1;
-- a change column the target does not have
ALTER TABLE cart_changes ADD COLUMN note text;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
ALTER TABLE cart_changes DROP COLUMN note;
-- missing key, sequence and op columns
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{user_key}', 'seq');
CREATE TABLE cart_nokey (user_id bigint, seq bigint, op text);
SELECT * FROM pipeline.apply_changes('cart_nokey', 'cart', '{id}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'lsn');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq', op_column => 'kind');
-- types the MERGE could not compare or assign: said up front (it showed the
-- generated statement's error)
CREATE TABLE cart_text_key (id text, user_id bigint, qty int, seq bigint, op text);
SELECT * FROM pipeline.apply_changes('cart_text_key', 'cart', '{id}', 'seq');
CREATE TABLE cart_json_qty (id int, user_id bigint, price jsonb, seq bigint, op text);
SELECT * FROM pipeline.apply_changes('cart_json_qty', 'cart', '{id}', 'seq');
-- a key type without =: said as such (it said "xml in target but xml in
-- change table")
CREATE TABLE xml_target (k xml, v int, seq bigint);
CREATE TABLE xml_changes (k xml, v int, seq bigint, op text);
SELECT * FROM pipeline.apply_changes('xml_changes', 'xml_target', '{k}', 'seq');
DROP TABLE cart_text_key, cart_json_qty, xml_target, xml_changes;
-- bad arguments
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id,id}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id,NULL}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', NULL);
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq', delete_op => 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{seq}', 'seq');
SELECT * FROM pipeline.apply_changes('cart', 'cart', '{id}', 'seq');
CREATE VIEW cart_view AS SELECT * FROM cart;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart_view', '{id}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_view', 'cart', '{id}', 'seq');
-- a managed view is written only by its refresh: refused before the MERGE
SELECT pipeline.create_matview('public', 'cart_copy', 'SELECT * FROM public.cart', '1 hour',
                               refresh_mode => 'differential') IS NOT NULL AS made;
SELECT * FROM pipeline.apply_changes('cart_changes', 'mv_cart_copy', '{id}', 'seq');
SELECT pipeline.drop_matview('mv_cart_copy');
SELECT cart_state() AS after_errors;
-- finally the good row goes through
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT cart_state() AS applied;

-- inside a transaction that rolls back, nothing stays
BEGIN;
INSERT INTO cart_changes VALUES (1, 1, 1.00, 1000, 'D');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
ROLLBACK;
SELECT cart_state() AS rolled_back;

-- runs with the caller's privileges; identifiers are quoted
\set VERBOSITY terse
CREATE ROLE changes_reader;
GRANT USAGE ON SCHEMA public TO changes_reader;
GRANT SELECT ON cart, cart_changes TO changes_reader;
INSERT INTO cart_changes VALUES (1, 1, 1.00, 1000, 'D');
SET ROLE changes_reader;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq', truncate_changes => false);
RESET ROLE;
GRANT UPDATE, DELETE, INSERT ON cart TO changes_reader;
SET ROLE changes_reader;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq', truncate_changes => false);
RESET ROLE;
SELECT cart_state() AS deleted_by_reader;
-- a role that may delete from the change table but not truncate it
-- empties it by deleting (it failed on TRUNCATE, after the MERGE)
INSERT INTO cart_changes VALUES (2, 1, 2.00, 1001, 'U');
GRANT DELETE ON cart_changes TO changes_reader;
SET ROLE changes_reader;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
RESET ROLE;
SELECT count(*) AS changes_left FROM cart_changes;
-- under a transaction snapshot the table is emptied by DELETE: a role that
-- may only truncate is refused before applying anything
REVOKE DELETE ON cart_changes FROM changes_reader;
GRANT TRUNCATE ON cart_changes TO changes_reader;
INSERT INTO cart_changes VALUES (2, 1, 3.00, 1002, 'U');
SET ROLE changes_reader;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
ROLLBACK;
RESET ROLE;
SELECT count(*) AS changes_left FROM cart_changes;
DELETE FROM cart_changes;
\set VERBOSITY default
CREATE SCHEMA "odd schema";
CREATE TABLE "odd schema"."Target; x" ("Key" int PRIMARY KEY, "Value ""q""" text, "Seq" int);
CREATE TABLE "odd schema"."Changes" ("Key" int, "Value ""q""" text, "Seq" int, op text);
INSERT INTO "odd schema"."Changes" VALUES (1, 'one', 1, 'I'), (1, 'uno', 2, 'U');
SELECT * FROM pipeline.apply_changes('"odd schema"."Changes"', '"odd schema"."Target; x"', '{Key}', 'Seq');
TABLE "odd schema"."Target; x";

DROP SCHEMA "odd schema" CASCADE;
DROP VIEW cart_view;
DROP FUNCTION cart_state();
DROP TABLE cart, cart_changes, cart_nokey, mirror, mirror_cdc, keys_only, keys_only_changes;
REVOKE ALL ON SCHEMA public FROM changes_reader;
DROP ROLE changes_reader;

-- text keys and a numeric sequence (values passed by reference)
CREATE TABLE tags (owner text, tag text, note text, version numeric, PRIMARY KEY (owner, tag));
CREATE TABLE tag_changes (owner text, tag text, note text, version numeric, op text);
INSERT INTO tags VALUES ('ann', 'red', 'old', 1.5), ('bob', 'blue', 'old', 1);
INSERT INTO tag_changes VALUES
  ('ann', 'red', 'newer', 2.25, 'U'), ('ann', 'red', 'new', 2.125, 'U'),
  ('ann', 'green', 'g', 1, 'I'), ('ann', 'green', 'g', 1, 'I'),
  ('bob', 'blue', NULL, 3, 'D'), ('bob', 'blue', 'late', 0.5, 'U');
SELECT * FROM pipeline.apply_changes('tag_changes', 'tags', '{owner,tag}', 'version');
TABLE tags ORDER BY owner, tag;
INSERT INTO tag_changes VALUES ('cy', 'red', 'a', 7, 'I'), ('cy', 'red', 'b', 7, 'I');
SELECT * FROM pipeline.apply_changes('tag_changes', 'tags', '{owner,tag}', 'version');
SELECT count(*) AS tags_unchanged FROM tags;
-- the internal row check is harmless outside apply_changes()
SELECT pipeline.apply_changes_row('U', 'D', 1, 1) AS good,
       pipeline.apply_changes_row('X', 'D', 1, 1) AS unknown_op,
       pipeline.apply_changes_row('I', 'D', 1, NULL::int) AS null_key;
DROP TABLE tags, tag_changes;

-- ignore_columns: a stream's offset column is left out instead of refused;
-- a column that is not there, or is a key, the sequence or the operation,
-- is an error that applies nothing
CREATE TABLE cart (id int PRIMARY KEY, seq int, price numeric);
CREATE TABLE cart_changes (stream_offset bigint, id int, seq int, op text, price numeric);
INSERT INTO cart_changes VALUES (1, 1, 1, 'I', 10), (2, 2, 1, 'I', 20), (3, 1, 2, 'U', 11);
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq',
                                     ignore_columns => '{stream_offset,no_such}');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq',
                                     ignore_columns => '{seq}');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq',
                                     ignore_columns => ARRAY[NULL]);
SELECT count(*) AS nothing_applied FROM cart;
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq',
                                     ignore_columns => '{stream_offset}');
TABLE cart ORDER BY id;
SELECT count(*) AS changes_left FROM cart_changes;
DROP TABLE cart, cart_changes;

-- a partitioned target: the counts are the MERGE's on its root, and
-- deleted keys are remembered as for a plain table
CREATE TABLE parted_mirror (id int, seq int, region text, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE parted_mirror_eu PARTITION OF parted_mirror FOR VALUES IN ('eu');
CREATE TABLE parted_mirror_us PARTITION OF parted_mirror FOR VALUES IN ('us');
CREATE TABLE parted_changes (id int, seq int, region text, op text);
INSERT INTO parted_changes VALUES (1, 1, 'eu', 'I'), (2, 1, 'us', 'I'), (3, 1, 'us', 'I');
SELECT * FROM pipeline.apply_changes('parted_changes', 'parted_mirror', '{id,region}', 'seq');
INSERT INTO parted_changes VALUES (1, 2, 'eu', 'U'), (2, 2, 'us', 'D'), (4, 1, 'eu', 'I');
SELECT * FROM pipeline.apply_changes('parted_changes', 'parted_mirror', '{id,region}', 'seq');
-- an older change of the deleted key does not bring it back
INSERT INTO parted_changes VALUES (2, 1, 'us', 'U');
SELECT * FROM pipeline.apply_changes('parted_changes', 'parted_mirror', '{id,region}', 'seq');
SELECT tableoid::regclass AS partition, * FROM parted_mirror ORDER BY id;
DROP TABLE parted_mirror, parted_changes;

-- a redelivered change may spell its key and sequence differently (numeric
-- 5 and 5.0 are one value): it is the same change; its other columns and
-- its operation must still be identical
CREATE TABLE spelled (id numeric PRIMARY KEY, v text, seq numeric);
CREATE TABLE spelled_changes (id numeric, v text, seq numeric, op text);
INSERT INTO spelled_changes VALUES (1, 'a', 5, 'U'), (1, 'a', 5.0, 'U'),
                                   (2, 'b', 5, 'I'), (2.00, 'b', 5, 'I');
SELECT * FROM pipeline.apply_changes('spelled_changes', 'spelled', '{id}', 'seq');
SELECT id = 1 AS one, v, seq = 5 AS five FROM spelled ORDER BY id;
TRUNCATE spelled_changes;
INSERT INTO spelled_changes VALUES (3, 'a', 5, 'U'), (3.0, 'b', 5.0, 'U');
SELECT * FROM pipeline.apply_changes('spelled_changes', 'spelled', '{id}', 'seq');
TRUNCATE spelled_changes;
INSERT INTO spelled_changes VALUES (3, 'a', 5, 'U'), (3.0, 'a', 5.0, 'D');
SELECT * FROM pipeline.apply_changes('spelled_changes', 'spelled', '{id}', 'seq');
SELECT count(*) AS still_two FROM spelled;
DROP TABLE spelled, spelled_changes;

-- pipeline's own tables are neither target nor truncated change table,
-- not even for a superuser
CREATE TABLE own_changes (target regclass, key text, sequence text, deleted_at timestamptz, op text);
INSERT INTO own_changes VALUES ('pg_class', 'forged', '1', now(), 'I');
SELECT * FROM pipeline.apply_changes('own_changes', 'pipeline.deleted_keys', '{target,key}', 'sequence');
SELECT * FROM pipeline.apply_changes('pipeline.deleted_keys', 'own_changes', '{target,key}', 'sequence',
                                     truncate_changes => true);
SELECT count(*) AS none_forged FROM pipeline.deleted_keys WHERE key = 'forged';
SELECT count(*) AS change_kept FROM own_changes;
DROP TABLE own_changes;

-- an operation is exactly I, U or the delete op: 'Insert' or 'UPSERT' is
-- no upsert, the batch is refused and both tables are left as they were
CREATE TABLE spelled (id int PRIMARY KEY, v text);
CREATE TABLE spelled_changes (id int, v text, seq int, op text);
INSERT INTO spelled_changes VALUES (1, 'one', 1, 'Insert'), (2, 'two', 1, 'UPSERT');
SELECT * FROM pipeline.apply_changes('spelled_changes', 'spelled', '{id}', 'seq');
SELECT count(*) AS target_rows FROM spelled;
SELECT count(*) AS changes_kept FROM spelled_changes;
DROP TABLE spelled, spelled_changes;
