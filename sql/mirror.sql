-- Mirrors (@matview-type mirror): the latest row per key of a change
-- stream, kept with apply_changes' rules (API.md section 9).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
CREATE SCHEMA shop;

-- seed 002 in DPL only: a stream table, a staging stream view shredding the
-- payload, and the mirror
CREATE TABLE shop.cart_events (stream_offset bigserial PRIMARY KEY, payload jsonb NOT NULL);
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart_staging
 * @matview-type incremental
 * @incremental-key stream_offset
 * @interval-in-minutes 1
 */
SELECT stream_offset, (payload->>'seq')::bigint AS seq, payload->>'op' AS op,
       (payload->>'id')::int AS id, (payload->>'user_id')::int AS user_id,
       (payload->>'price')::numeric AS current_price
  FROM shop.cart_events$d$);
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id
 * @mirror-sequence seq
 * @interval-in-minutes 1
 */
SELECT stream_offset, seq, op, id, user_id, current_price FROM shop.mv_cart_staging$d$);
SELECT name, matview_type, columns FROM pipeline.matviews WHERE schema_name = 'shop' ORDER BY name;
SELECT options, incremental_key FROM pipeline.matview_definitions WHERE matview = 'shop.mv_cart'::regclass;
SELECT upstream, downstream FROM pipeline.edges WHERE downstream = 'shop.mv_cart'::regclass;
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'shop.mv_cart'::regclass;

-- inserts, an update, a redelivered event (another offset, the same
-- change), and an update that arrives before the insert it follows
INSERT INTO shop.cart_events (payload) VALUES
  ('{"seq": 1, "op": "I", "id": 1, "user_id": 7, "price": 10}'),
  ('{"seq": 1, "op": "I", "id": 2, "user_id": 8, "price": 20}'),
  ('{"seq": 2, "op": "U", "id": 1, "user_id": 7, "price": 11}'),
  ('{"seq": 2, "op": "U", "id": 1, "user_id": 7, "price": 11}'),
  ('{"seq": 2, "op": "U", "id": 3, "user_id": 9, "price": 31}'),
  ('{"seq": 1, "op": "I", "id": 3, "user_id": 9, "price": 30}');
SELECT matview, status, rows FROM pipeline.refresh('shop.mv_cart_staging') ORDER BY matview::text;
TABLE shop.mv_cart ORDER BY id;
SELECT high_water, first_key FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass;

-- a delete, then a late update of the deleted key (older than the delete:
-- never brings it back), a NULL-sequence delete, and a re-insert that is
-- newer than its delete
INSERT INTO shop.cart_events (payload) VALUES
  ('{"seq": 5, "op": "D", "id": 1}'),
  ('{"seq": 4, "op": "U", "id": 1, "user_id": 7, "price": 12}'),
  ('{"op": "D", "id": 2}');
SELECT matview, status, rows FROM pipeline.refresh('shop.mv_cart_staging') ORDER BY matview::text;
TABLE shop.mv_cart ORDER BY id;
INSERT INTO shop.cart_events (payload) VALUES
  ('{"seq": 3, "op": "U", "id": 1, "user_id": 7, "price": 13}'),
  ('{"seq": 6, "op": "I", "id": 1, "user_id": 7, "price": 14}');
SELECT matview, status, rows FROM pipeline.refresh('shop.mv_cart_staging') ORDER BY matview::text;
TABLE shop.mv_cart ORDER BY id;
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'shop.mv_cart'::regclass ORDER BY key;

-- nothing new: the mirror applies nothing and keeps its mark
SELECT matview, status, rows FROM pipeline.refresh('shop.mv_cart');
-- a bad change (a NULL sequence on an update) fails the mirror's run:
-- nothing of its batch is applied and its mark stays; the stream view
-- upstream of it has run
INSERT INTO shop.cart_events (payload) VALUES
  ('{"seq": 7, "op": "U", "id": 3, "user_id": 9, "price": 32}'),
  ('{"op": "U", "id": 4, "user_id": 1, "price": 1}');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') ORDER BY matview::text;
SELECT error FROM pipeline.runs WHERE matview = 'shop.mv_cart'::regclass ORDER BY run_id DESC LIMIT 1;
TABLE shop.mv_cart ORDER BY id;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass;
-- without the bad change the next run applies the batch, and says what it did
DELETE FROM shop.mv_cart_staging WHERE seq IS NULL AND op = 'U';
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:10+00') ORDER BY matview::text;
SELECT status, detail FROM pipeline.runs WHERE matview = 'shop.mv_cart'::regclass ORDER BY run_id DESC LIMIT 1;
TABLE shop.mv_cart ORDER BY id;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass;
-- nothing new: the stream view appends nothing, so the mirror is skipped
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:20+00') ORDER BY matview::text;

-- a redefinition that keeps the columns and keys keeps the table, its rows
-- and its mark
SELECT matview::oid AS before_oid FROM pipeline.matview_definitions WHERE name = 'cart' \gset
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id
 * @mirror-sequence seq
 * @interval-in-minutes 5
 */
SELECT stream_offset, seq, op, id, user_id, current_price FROM shop.mv_cart_staging WHERE id > 0$d$);
SELECT matview::oid = :before_oid AS same_table, version FROM pipeline.matview_definitions
 WHERE name = 'cart';
TABLE shop.mv_cart ORDER BY id;
-- one that changes the columns rebuilds it from the stream, which still
-- holds everything it consumed
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id
 * @mirror-sequence seq
 * @interval-in-minutes 5
 */
SELECT stream_offset, seq, op, id, current_price FROM shop.mv_cart_staging$d$);
SELECT matview::oid = :before_oid AS same_table FROM pipeline.matview_definitions
 WHERE name = 'cart';
TABLE shop.mv_cart ORDER BY id;
SELECT high_water, first_key FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass;
-- once the stream has dropped what the mirror consumed first, a rebuild is
-- refused with the reason, and nothing changes
DELETE FROM shop.mv_cart_staging WHERE stream_offset <= 2;
SELECT * FROM pipeline.check('shop.mv_cart',
    'SELECT stream_offset, seq, op, id FROM shop.mv_cart_staging');
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id, current_price
 * @mirror-sequence seq
 * @interval-in-minutes 5
 */
SELECT stream_offset, seq, op, id, current_price FROM shop.mv_cart_staging$d$);
SELECT columns FROM pipeline.matviews WHERE name = 'cart';
SELECT options FROM pipeline.matview_definitions WHERE name = 'cart';

-- seed 004's stage: without an incremental key the mirror consumes and
-- empties the one table it reads; operation and delete value renamed
CREATE TABLE shop.cases_stage (change_kind text, changed_at timestamptz, case_id int,
                               opened date, status text);
SELECT pipeline.create_matview('shop', 'cases',
    'SELECT change_kind, changed_at, case_id, opened, upper(status) AS status FROM shop.cases_stage',
    '1 hour', 'mirror',
    options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                 "mirror-operation": "change_kind", "mirror-delete-value": "remove"}');
INSERT INTO shop.cases_stage VALUES
  ('I', '2020-05-12 10:00', 1, '2020-05-12', 'open'),
  ('I', '2020-05-13 10:00', 2, '2020-05-13', 'open'),
  ('U', '2020-05-14 10:00', 1, '2020-05-12', 'closed');
SELECT status, rows FROM pipeline.refresh('shop.mv_cases');
TABLE shop.mv_cases ORDER BY case_id;
SELECT count(*) AS stage_rows FROM shop.cases_stage;
INSERT INTO shop.cases_stage VALUES ('remove', '2020-05-15 10:00', 2, NULL, NULL);
SELECT status, rows FROM pipeline.refresh('shop.mv_cases');
TABLE shop.mv_cases ORDER BY case_id;
-- emptying its stage is not a change it must run for: an idle stage is skipped
SELECT status FROM pipeline.run_due('2030-01-01 01:00+00') WHERE matview = 'shop.mv_cases'::regclass;
SELECT status FROM pipeline.run_due('2030-01-01 02:00+00') WHERE matview = 'shop.mv_cases'::regclass;
INSERT INTO shop.cases_stage VALUES ('U', '2020-05-16 10:00', 1, '2020-05-12', 'reopened');
SELECT status FROM pipeline.run_due('2030-01-01 03:00+00') WHERE matview = 'shop.mv_cases'::regclass;
SELECT status FROM pipeline.run_due('2030-01-01 04:00+00') WHERE matview = 'shop.mv_cases'::regclass;
TABLE shop.mv_cases ORDER BY case_id;
-- a redefinition changing its columns cannot rebuild: the stage is gone
SELECT pipeline.create_matview('shop', 'cases',
    'SELECT change_kind, changed_at, case_id, opened FROM shop.cases_stage', '1 hour', 'mirror',
    options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                 "mirror-operation": "change_kind", "mirror-delete-value": "remove"}');
-- one that keeps them is applied
SELECT pipeline.create_matview('shop', 'cases',
    'SELECT change_kind, changed_at, case_id, opened, lower(status) AS status FROM shop.cases_stage',
    '1 hour', 'mirror',
    options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                 "mirror-operation": "change_kind", "mirror-delete-value": "remove"}');
TABLE shop.mv_cases ORDER BY case_id;

-- bad definitions: each a clear error that creates nothing
SELECT pipeline.create_matview('shop', 'bad', 'SELECT 1 AS id, 1 AS seq, ''I'' AS op', '1 hour', 'mirror');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT 1 AS id, 1 AS seq, ''I'' AS op', '1 hour', 'mirror',
                               options => '{"mirror-keys": "id"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "nope", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "case_id", "mirror-sequence": "nope"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT stream_offset, to_json(seq) AS seq, op, id FROM shop.mv_cart_staging',
                               '1 hour', 'mirror', 'stream_offset', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "case_id, case_id", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "case_id,", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "changed_at", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                                            "mirror-operation": "change_kind", "mirror-delete-value": "U"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'mirror',
                               refresh_mode => 'full',
                               options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'regular',
                               options => '{"mirror-keys": "case_id"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.cases_stage', '1 hour', 'incremental',
                               'changed_at', options => '{"mirror-sequence": "changed_at"}');
-- without an incremental key it must read exactly one table
SELECT pipeline.create_matview('shop', 'bad',
    'SELECT s.* FROM shop.cases_stage s JOIN shop.cart_events e ON e.stream_offset = s.case_id',
    '1 hour', 'mirror', options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                                     "mirror-operation": "change_kind"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.mv_cart', '1 hour', 'mirror',
                               options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
-- a stream key that is not a column, or a key that is the stream key
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.mv_cart_staging', '1 hour', 'mirror',
                               'nope', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT pipeline.create_matview('shop', 'bad', 'SELECT * FROM shop.mv_cart_staging', '1 hour', 'mirror',
                               'stream_offset', options => '{"mirror-keys": "stream_offset", "mirror-sequence": "seq"}');
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name bad
 * @mirror-keys id
 * @interval-in-minutes 5
 */
SELECT 1 AS id$d$);
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name bad
 * @matview-type mirror
 * @mirror-keys id
 * @mirror-sequence seq
 * @refresh-mode full
 * @interval-in-minutes 5
 */
SELECT * FROM shop.mv_cart_staging$d$);
-- an update set checks a mirror's keys as define() does
SELECT pipeline.stage($d$/**
 * @matview-schema shop
 * @matview-name bad
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys nope
 * @mirror-sequence seq
 * @interval-in-minutes 5
 */
SELECT * FROM shop.mv_cart_staging$d$);
SELECT status, detail FROM pipeline.check_staged();
\set VERBOSITY terse
SELECT * FROM pipeline.apply_staged();
\set VERBOSITY default
SELECT pipeline.discard_staged();
SELECT count(*) AS nothing_created FROM pg_class WHERE relname LIKE 'mv_bad%';

-- readers and other roles: the table is the owner's, like any managed view
CREATE ROLE mirror_reader;
GRANT USAGE ON SCHEMA shop TO mirror_reader;
SET ROLE mirror_reader;
SELECT count(*) FROM shop.mv_cases;
SELECT status FROM pipeline.refresh('shop.mv_cases');
RESET ROLE;
REVOKE USAGE ON SCHEMA shop FROM mirror_reader;
DROP ROLE mirror_reader;

SELECT pipeline.drop_matview('shop.mv_cases');
SELECT pipeline.drop_matview('shop.mv_cart_staging', true);
SELECT count(*) AS memory_gone FROM pipeline.deleted_keys;
SELECT count(*) AS marks_gone FROM pipeline.incremental_state;
DROP SCHEMA shop CASCADE;

-- A mirror redefined with a new query that keeps its columns and keys keeps
-- its rows and mark; rows of the new query above the mark are applied at
-- its next label, not skipped because the stream did not change.
CREATE SCHEMA redo;
CREATE TABLE redo.ev (seq bigint PRIMARY KEY, id int, op text, ver bigint, price numeric);
INSERT INTO redo.ev VALUES (1, 1, 'I', 1, 10), (2, 2, 'I', 1, 90), (3, 3, 'I', 1, 20), (4, 4, 'I', 1, 30);
SELECT pipeline.create_matview('redo', 'm', 'SELECT seq, id, op, ver, price FROM redo.ev WHERE price > 50',
       '1 hour', 'mirror', incremental_key => 'seq',
       options => '{"mirror-keys": "id", "mirror-sequence": "ver"}');
SELECT status FROM pipeline.run_due('2031-01-01 00:00+00') WHERE matview = 'redo.mv_m'::regclass;
SELECT status FROM pipeline.run_due('2031-01-01 01:00+00') WHERE matview = 'redo.mv_m'::regclass;
SELECT pipeline.create_matview('redo', 'm', 'SELECT seq, id, op, ver, price FROM redo.ev',
       '1 hour', 'mirror', incremental_key => 'seq',
       options => '{"mirror-keys": "id", "mirror-sequence": "ver"}');
SELECT status FROM pipeline.run_due('2031-01-01 02:00+00') WHERE matview = 'redo.mv_m'::regclass;
TABLE redo.mv_m ORDER BY id;
SELECT pipeline.drop_matview('redo.mv_m');
DROP SCHEMA redo CASCADE;
