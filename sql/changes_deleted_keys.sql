SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- apply_changes remembers the sequence of every key a delete removed
-- (pipeline.deleted_keys), so a later batch's older change never brings the
-- row back; key-only deletes (NULL sequence) are the newest
-- change of their key.
CREATE TABLE cases (id int PRIMARY KEY, cases int, seq bigint);
CREATE TABLE cases_stage (id int, cases int, seq bigint, op text);
INSERT INTO cases VALUES (1, 10, 1), (2, 20, 1), (3, 30, 50), (4, 40, 1);
CREATE FUNCTION state() RETURNS text LANGUAGE sql AS
$$ SELECT coalesce((SELECT string_agg(format('%s:%s@%s', id, cases, seq), ' ' ORDER BY id) FROM cases), '')
       || ' | remembered ' ||
       coalesce((SELECT string_agg(key || '@' || sequence, ' ' ORDER BY key) FROM pipeline.deleted_keys
                  WHERE target = 'cases'::regclass), '')
       || ' | staged ' || (SELECT count(*) FROM cases_stage) $$;

-- batch 1: a delete at sequence 3
INSERT INTO cases_stage VALUES (1, NULL, 3, 'D');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
-- batch 2: an older update (2) and an insert at the delete's own sequence (3)
-- of the deleted key arrive late: the row stays deleted
INSERT INTO cases_stage VALUES (1, 11, 2, 'U'), (1, 12, 3, 'I');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
-- batch 3: a newer change brings the key back
INSERT INTO cases_stage VALUES (1, 14, 4, 'U');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
-- an older delete does not lower what is remembered
DELETE FROM cases WHERE id = 1;
INSERT INTO cases_stage VALUES (1, NULL, 2, 'D');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();

-- a delete with a NULL sequence deletes its key whatever the row's sequence
-- (3 is at 50), and is the newest change of its key in the batch (4's update
-- at 7 loses to it); it is remembered at the newest sequence known: the
-- deleted row's (50), or the batch's for the key (7 > 1)
INSERT INTO cases_stage VALUES (3, NULL, NULL, 'D'), (4, NULL, NULL, 'D'), (4, 41, 7, 'U');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
INSERT INTO cases_stage VALUES (3, 31, 49, 'U'), (4, 42, 6, 'I');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
-- a NULL-sequence delete of an absent key with nothing else known deletes
-- nothing and remembers nothing
INSERT INTO cases_stage VALUES (9, NULL, NULL, 'D'), (9, NULL, NULL, 'D');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();

-- a NULL sequence on an insert or update is an error that changes nothing
SELECT state() AS before;
INSERT INTO cases_stage VALUES (2, NULL, NULL, 'D'), (5, 50, NULL, 'U'), (6, 60, 1, 'I');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state() AS after_null_sequence;
DELETE FROM cases_stage WHERE op = 'U';
-- an error found after the merge (a conflicting repeat) also leaves the
-- memory as it was, as does a rollback
INSERT INTO cases_stage VALUES (7, 70, 5, 'I'), (7, 71, 5, 'I');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state() AS after_conflict;
DELETE FROM cases_stage WHERE id = 7;
BEGIN;
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
ROLLBACK;
SELECT state() AS rolled_back;
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state() AS applied;

-- a target without the sequence column: the memory still keeps deleted
-- rows deleted
CREATE TABLE plain (id int PRIMARY KEY, v text);
CREATE TABLE plain_changes (id int, v text, s int, op text);
INSERT INTO plain_changes VALUES (1, 'a', 1, 'I'), (2, 'b', 1, 'I'), (2, NULL, 5, 'D');
SELECT * FROM pipeline.apply_changes('plain_changes', 'plain', '{id}', 's');
INSERT INTO plain_changes VALUES (2, 'late', 4, 'U'), (1, NULL, NULL, 'D');
SELECT * FROM pipeline.apply_changes('plain_changes', 'plain', '{id}', 's');
INSERT INTO plain_changes VALUES (1, 'back', 1, 'U'), (2, 'back', 6, 'U');
SELECT * FROM pipeline.apply_changes('plain_changes', 'plain', '{id}', 's');
TABLE plain ORDER BY id;
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'plain'::regclass ORDER BY key;

-- several key columns, and keys and sequences whose text depends on
-- settings: remembered the same whatever the session's TimeZone/DateStyle
CREATE TABLE events (site text, at timestamptz, note text, changed timestamptz,
                     PRIMARY KEY (site, at));
CREATE TABLE event_changes (site text, at timestamptz, note text, changed timestamptz, op text);
INSERT INTO events VALUES ('north, "a"', '2024-05-01 10:00+00', 'x', '2024-05-01 10:00+00'),
                          ('', '2024-05-01 10:00+00', 'y', '2024-05-01 10:00+00');
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
INSERT INTO event_changes VALUES ('north, "a"', '2024-05-01 10:00+00', NULL, '2024-05-02 00:00+00', 'D'),
                                 ('', '2024-05-01 10:00+00', NULL, '2024-05-02 00:00+00', 'D');
SELECT * FROM pipeline.apply_changes('event_changes', 'events', '{site,at}', 'changed');
RESET DateStyle;
SET TimeZone = 'Asia/Tokyo';
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'events'::regclass ORDER BY key;
INSERT INTO event_changes VALUES ('north, "a"', '2024-05-01 19:00+09', 'late', '2024-05-02 08:59+09', 'U'),
                                 ('', '2024-05-01 10:00+00', 'newer', '2024-05-02 09:01+09', 'U');
SELECT * FROM pipeline.apply_changes('event_changes', 'events', '{site,at}', 'changed');
RESET TimeZone;
SELECT site, note FROM events ORDER BY site;

-- a sequence passed by reference (numeric) and text keys: a NULL-sequence
-- delete takes its batch's newest sequence for the key (many changes, so
-- the per-row memory is reused in between)
CREATE TABLE tags (owner text, tag text, note text, version numeric, PRIMARY KEY (owner, tag));
CREATE TABLE tag_changes (owner text, tag text, note text, version numeric, op text);
INSERT INTO tags VALUES ('ann', 'red', 'old', 1.5);
INSERT INTO tag_changes VALUES ('ann', 'red', NULL, NULL, 'D');
INSERT INTO tag_changes SELECT 'ann', 'red', 'n' || g, 1.5 + g / 1000.0, 'U' FROM generate_series(1, 2000) g;
INSERT INTO tag_changes SELECT 'bob', 't' || g, 'x', g, 'I' FROM generate_series(1, 2000) g;
SELECT * FROM pipeline.apply_changes('tag_changes', 'tags', '{owner,tag}', 'version');
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'tags'::regclass;
INSERT INTO tag_changes VALUES ('ann', 'red', 'late', 3.4999, 'U'), ('ann', 'red', 'late', 3.5, 'U');
SELECT * FROM pipeline.apply_changes('tag_changes', 'tags', '{owner,tag}', 'version');
INSERT INTO tag_changes VALUES ('ann', 'red', 'newer', 3.5001, 'U');
SELECT * FROM pipeline.apply_changes('tag_changes', 'tags', '{owner,tag}', 'version');
SELECT * FROM tags WHERE owner = 'ann';
DROP TABLE tags, tag_changes;

-- retention: keys older than pipeline.deleted_keys_retention are pruned by
-- an apply into the target once its last pruning is an eighth of the
-- retention old; then an old change can insert the key
SHOW pipeline.deleted_keys_retention;
SET pipeline.deleted_keys_retention = '1h';
UPDATE pipeline.deleted_keys SET deleted_at = now() - interval '61 minutes'
 WHERE target = 'cases'::regclass AND key = '1';
UPDATE pipeline.deleted_keys SET deleted_at = now() - interval '59 minutes'
 WHERE target = 'cases'::regclass AND key = '3';
-- pruned 7 minutes ago, under an eighth of the hour: key 1 is still remembered
UPDATE pipeline.deleted_keys_targets SET pruned_at = now() - interval '7 minutes'
 WHERE target = 'cases'::regclass;
INSERT INTO cases_stage VALUES (1, 15, 1, 'U');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT pruned_at < now() - interval '6 minutes' AS not_pruned
  FROM pipeline.deleted_keys_targets WHERE target = 'cases'::regclass;
-- 8 minutes ago: this apply prunes key 1 and inserts it, key 3 stays
UPDATE pipeline.deleted_keys_targets SET pruned_at = now() - interval '8 minutes'
 WHERE target = 'cases'::regclass;
INSERT INTO cases_stage VALUES (1, 15, 1, 'U'), (3, 32, 1, 'U');
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
SELECT state();
SELECT pruned_at > now() - interval '1 minute' AS pruned_now
  FROM pipeline.deleted_keys_targets WHERE target = 'cases'::regclass;
-- a target whose keys all expired is forgotten: its applies probe nothing
CREATE TABLE expiring (id int PRIMARY KEY, seq int);
CREATE TABLE expiring_changes (id int, seq int, op text);
INSERT INTO expiring VALUES (1, 1);
INSERT INTO expiring_changes VALUES (1, 2, 'D');
SELECT * FROM pipeline.apply_changes('expiring_changes', 'expiring', '{id}', 'seq');
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'expiring'::regclass;
SELECT count(*) AS tracked FROM pipeline.deleted_keys_targets WHERE target = 'expiring'::regclass;
UPDATE pipeline.deleted_keys SET deleted_at = now() - interval '2 hours'
 WHERE target = 'expiring'::regclass;
UPDATE pipeline.deleted_keys_targets SET pruned_at = now() - interval '1 hour'
 WHERE target = 'expiring'::regclass;
INSERT INTO expiring_changes VALUES (1, 1, 'I');
SELECT * FROM pipeline.apply_changes('expiring_changes', 'expiring', '{id}', 'seq');
SELECT count(*) AS tracked FROM pipeline.deleted_keys_targets WHERE target = 'expiring'::regclass;
DROP TABLE expiring, expiring_changes;
RESET pipeline.deleted_keys_retention;

-- a batch of fewer changes than the target has keys remembered probes them
-- one by one (an index scan each); a bigger one reads them whole (one
-- scan); both keep older changes out
CREATE TABLE many (id int PRIMARY KEY, v text, seq int);
CREATE TABLE many_changes (id int, v text, seq int, op text);
CREATE FUNCTION memory_scans() RETURNS bigint LANGUAGE sql AS
$$ SELECT idx_scan FROM pg_stat_all_indexes WHERE indexrelid = 'pipeline.deleted_keys_target_key_sequence_type_key'::regclass $$;
CREATE TEMP TABLE scans (step text, n bigint);
INSERT INTO many SELECT g, 'x', 1 FROM generate_series(1, 3000) g;
INSERT INTO many_changes SELECT g, NULL, 10, 'D' FROM generate_series(1, 3000) g;
SELECT * FROM pipeline.apply_changes('many_changes', 'many', '{id}', 'seq');
SELECT keys FROM pipeline.deleted_keys_targets WHERE target = 'many'::regclass;
INSERT INTO many_changes VALUES (1, 'old', 9, 'U'), (2, 'new', 11, 'U'), (3, 'old', 10, 'I'),
                                (5000, 'fresh', 1, 'I');
ANALYZE many_changes;
SELECT pg_stat_force_next_flush();
INSERT INTO scans SELECT 'before', memory_scans();
SELECT * FROM pipeline.apply_changes('many_changes', 'many', '{id}', 'seq', truncate_changes => false);
SELECT pg_stat_force_next_flush();
INSERT INTO scans SELECT 'four changes', memory_scans();
DELETE FROM many_changes;
INSERT INTO many_changes SELECT g, 'bulk', CASE WHEN g % 2 = 0 THEN 9 ELSE 12 END, 'U'
  FROM generate_series(4, 3999) g;
ANALYZE many_changes;
SELECT * FROM pipeline.apply_changes('many_changes', 'many', '{id}', 'seq');
SELECT pg_stat_force_next_flush();
INSERT INTO scans SELECT '3996 changes', memory_scans();
SELECT step, n - lag(n) OVER (ORDER BY n) AS memory_index_scans FROM scans ORDER BY n OFFSET 1;
SELECT count(*) AS rows, count(*) FILTER (WHERE v = 'bulk') AS bulk,
       count(*) FILTER (WHERE v = 'bulk' AND id % 2 = 0 AND id <= 3000) AS bulk_older_than_delete,
       string_agg(id || ':' || v, ' ' ORDER BY id) FILTER (WHERE id < 4 OR id = 5000) AS first
  FROM many;
DROP TABLE many, many_changes;
DROP FUNCTION memory_scans();

-- who sees and writes the memory: rows of targets a role may read, written
-- only by apply_changes
CREATE ROLE dk_reader;
CREATE ROLE dk_other;
GRANT SELECT ON cases TO dk_reader;
SET ROLE dk_reader;
SELECT DISTINCT target FROM pipeline.deleted_keys ORDER BY 1;
INSERT INTO pipeline.deleted_keys VALUES ('cases', '1', '1000', now());
DELETE FROM pipeline.deleted_keys;
SET pipeline.deleted_keys_retention = '1min';
INSERT INTO pipeline.deleted_keys_targets VALUES ('cases', now(), 0);
SELECT target FROM pipeline.deleted_keys_targets ORDER BY 1;
RESET ROLE;
SET ROLE dk_other;
SELECT count(*) AS visible_to_other FROM pipeline.deleted_keys;
SELECT count(*) AS targets_visible_to_other FROM pipeline.deleted_keys_targets;
RESET ROLE;
-- the internal functions do nothing outside apply_changes
SELECT pipeline.apply_changes_insertable(1, 3) AS insertable,
       pipeline.apply_changes_deleting(100, 5) AS deleting;
SELECT count(*) AS remembered_for_cases FROM pipeline.deleted_keys WHERE target = 'cases'::regclass;

-- apply_changes inside apply_changes (a trigger on the target) is refused
CREATE TABLE nested_changes (id int, cases int, seq bigint, op text);
CREATE FUNCTION nested() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pipeline.apply_changes('nested_changes', 'cases', '{id}', 'seq'); RETURN NEW; END $$;
CREATE TRIGGER nested BEFORE INSERT ON cases FOR EACH ROW EXECUTE FUNCTION nested();
INSERT INTO cases_stage VALUES (8, 80, 1, 'I');
\set VERBOSITY terse
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');
\set VERBOSITY default
DROP TRIGGER nested ON cases;
SELECT * FROM pipeline.apply_changes('cases_stage', 'cases', '{id}', 'seq');

-- dropping a target forgets its keys
SELECT count(*) > 0 AS remembered FROM pipeline.deleted_keys WHERE target = 'plain'::regclass;
CREATE TEMP TABLE plain_oid AS SELECT 'plain'::regclass::oid AS oid;
DROP TABLE plain;
SELECT count(*) AS left_of_dropped FROM pipeline.deleted_keys WHERE target::oid IN (SELECT oid FROM plain_oid);
SELECT count(*) AS tracked_dropped FROM pipeline.deleted_keys_targets WHERE target::oid IN (SELECT oid FROM plain_oid);

DROP TABLE cases, cases_stage, plain_changes, events, event_changes, nested_changes;
DROP FUNCTION state(), nested();
DROP ROLE dk_reader;
DROP ROLE dk_other;
SELECT count(*) AS left_in_memory FROM pipeline.deleted_keys;

-- the memory is written without the executor while pipeline.deleted_keys
-- has its installed shape; a trigger added by hand makes apply_changes
-- write it with SQL instead (the trigger sees each row), same results
CREATE TABLE fb (id int PRIMARY KEY, v text, seq int);
CREATE TABLE fb_changes (id int, v text, seq int, op text);
CREATE TABLE fb_log (key text, sequence text);
CREATE FUNCTION fb_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.fb_log VALUES (NEW.key, NEW.sequence); RETURN NEW; END $$;
CREATE TRIGGER fb_logged AFTER INSERT ON pipeline.deleted_keys
    FOR EACH ROW EXECUTE FUNCTION fb_logged();
INSERT INTO fb VALUES (1, 'a', 1), (2, 'b', 1);
INSERT INTO fb_changes VALUES (1, NULL, 5, 'D'), (2, NULL, 5, 'D');
SELECT * FROM pipeline.apply_changes('fb_changes', 'fb', '{id}', 'seq');
INSERT INTO fb_changes VALUES (1, NULL, 7, 'D');
SELECT * FROM pipeline.apply_changes('fb_changes', 'fb', '{id}', 'seq');
INSERT INTO fb_changes VALUES (1, 'old', 6, 'U'), (2, 'new', 6, 'U');
SELECT * FROM pipeline.apply_changes('fb_changes', 'fb', '{id}', 'seq');
TABLE fb;
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'fb'::regclass ORDER BY key;
SELECT key, sequence FROM fb_log ORDER BY key, sequence;
DROP TRIGGER fb_logged ON pipeline.deleted_keys;
DROP TABLE fb, fb_changes, fb_log;
DROP FUNCTION fb_logged();

-- keys that = takes as one but that print differently (numeric 1.0 and 1,
-- float -0 and 0, interval 1 day and 24 hours) are one key to the memory
-- too: a late change of another spelling does not bring the row back
CREATE TABLE spell (n numeric, f float8, i interval, v text, seq int,
                    PRIMARY KEY (n, f, i));
CREATE TABLE spell_changes (n numeric, f float8, i interval, v text, seq int, op text);
INSERT INTO spell_changes VALUES (1, 0, '1 day', 'a', 1, 'I'), (2.50, 1, '1 mon', 'b', 1, 'I');
SELECT * FROM pipeline.apply_changes('spell_changes', 'spell', '{n,f,i}', 'seq');
INSERT INTO spell_changes VALUES (1.0, '-0', '24 hours', NULL, 3, 'D'), (2.5, 1, '30 days', NULL, 3, 'D');
SELECT * FROM pipeline.apply_changes('spell_changes', 'spell', '{n,f,i}', 'seq');
SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'spell'::regclass ORDER BY key;
INSERT INTO spell_changes VALUES (1, 0, '1 day', 'late', 2, 'U'), (2.500, 1, '1 mon', 'late', 2, 'U');
SELECT * FROM pipeline.apply_changes('spell_changes', 'spell', '{n,f,i}', 'seq');
TABLE spell;
-- a key remembered as it was spelled before (the library of 1.11 until
-- now) still holds
INSERT INTO pipeline.deleted_keys (target, key, sequence, deleted_at)
VALUES ('spell'::regclass, '(3.0,1,"1 day")', '5', now());
INSERT INTO spell_changes VALUES (3.0, 1, '1 day', 'late', 4, 'I');
SELECT * FROM pipeline.apply_changes('spell_changes', 'spell', '{n,f,i}', 'seq');
TABLE spell;
DROP TABLE spell, spell_changes;

-- the memory probed by the merge row by row, through a key whose remembered
-- row was replaced (a dead index entry the probe marks): the probe's scan
-- kept what it marks in the merge's per-row memory and crashed the server
-- when it ended, or wrote over other memory (found by a randomized tester)
CREATE TABLE probed (k int PRIMARY KEY, seq numeric);
CREATE TABLE probed_changes (k int, seq numeric, op text);
INSERT INTO probed_changes SELECT g, 1, 'D' FROM generate_series(100, 104) g;
SELECT * FROM pipeline.apply_changes('probed_changes', 'probed', '{k}', 'seq');
INSERT INTO probed_changes VALUES (12, 18, 'I');
SELECT * FROM pipeline.apply_changes('probed_changes', 'probed', '{k}', 'seq');
INSERT INTO probed_changes VALUES (12, 15, 'D');
SELECT * FROM pipeline.apply_changes('probed_changes', 'probed', '{k}', 'seq');
INSERT INTO probed_changes VALUES (12, NULL, 'D');
SELECT * FROM pipeline.apply_changes('probed_changes', 'probed', '{k}', 'seq');
INSERT INTO probed_changes VALUES (13, 9, 'I'), (13, NULL, 'D'), (12, 3, 'U');
ANALYZE probed_changes;
SELECT * FROM pipeline.apply_changes('probed_changes', 'probed', '{k}', 'seq');
TABLE probed;
SELECT key, sequence FROM pipeline.deleted_keys
 WHERE target = 'probed'::regclass ORDER BY key;
DROP TABLE probed, probed_changes;

-- A remembered sequence keeps its type (1.25), as part of the key.
-- Sequences were read back in the reading apply's type, so a role that may
-- delete from the target could plant one of another type with a change
-- table of its own, and every later apply into the target failed until it
-- expired.  Now an apply reads and writes only the keys remembered in its
-- own type.  Every role has a hostile schema first in its path.
CREATE ROLE dk_planter;
CREATE ROLE dk_feed;
CREATE SCHEMA dk_plant AUTHORIZATION dk_planter;
GRANT USAGE ON SCHEMA dk_plant TO dk_feed;
CREATE TABLE typed (id int PRIMARY KEY, v text, seq bigint);
CREATE TABLE typed_changes (id int, v text, seq bigint, op text);
GRANT SELECT (id), INSERT (id, v), UPDATE (v), DELETE ON typed TO dk_planter;
GRANT SELECT, INSERT, UPDATE, DELETE ON typed TO dk_feed;
GRANT SELECT, INSERT, DELETE ON typed_changes TO dk_feed;
SET ROLE dk_planter;
CREATE FUNCTION dk_plant.trap_eq(int, int) RETURNS boolean LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
CREATE OPERATOR dk_plant.= (LEFTARG = int, RIGHTARG = int, FUNCTION = dk_plant.trap_eq);
CREATE TABLE dk_plant.planted (id int, v text, s2 text, op text);
RESET ROLE;
-- the feed remembers a delete in bigint
SET ROLE dk_feed;
SET search_path = dk_plant, public;
INSERT INTO public.typed_changes VALUES (1, 'a', 1, 'I'), (2, 'b', 1, 'I'), (3, 'c', 1, 'I'), (2, NULL, 5, 'D');
SELECT * FROM pipeline.apply_changes('public.typed_changes', 'public.typed', '{id}', 'seq');
RESET search_path;
RESET ROLE;
-- the planter deletes with sequences of another type: 1 (a row), 999 (no
-- row) and 2, which the feed remembers
SET ROLE dk_planter;
SET search_path = dk_plant, public;
INSERT INTO dk_plant.planted VALUES (999, NULL, 'not a number', 'D'), (1, NULL, 'zzz', 'D'),
                                    (2, NULL, 'yyy', 'D');
SELECT * FROM pipeline.apply_changes('dk_plant.planted', 'public.typed', '{id}', 's2');
RESET search_path;
RESET ROLE;
SELECT key, sequence, sequence_type FROM pipeline.deleted_keys
 WHERE target = 'typed'::regclass ORDER BY key, sequence_type;
-- the feed goes on, reading none of them: its own delete of 2 still holds
-- back a late change of 2; its late change of 1, which the planter deleted
-- out of band, is applied as it would be without the planter's delete
SET ROLE dk_feed;
SET search_path = dk_plant, public;
INSERT INTO public.typed_changes VALUES (1, 'late', 2, 'U'), (3, NULL, 9, 'D'), (4, 'ok', 11, 'I'),
                                        (999, NULL, 12, 'D');
SELECT * FROM pipeline.apply_changes('public.typed_changes', 'public.typed', '{id}', 'seq');
INSERT INTO public.typed_changes VALUES (2, 'late', 3, 'U'), (3, 'late', 8, 'U'), (999, 'late', 10, 'I');
SELECT * FROM pipeline.apply_changes('public.typed_changes', 'public.typed', '{id}', 'seq');
RESET search_path;
RESET ROLE;
TABLE typed ORDER BY id;
SELECT key, sequence, sequence_type FROM pipeline.deleted_keys
 WHERE target = 'typed'::regclass ORDER BY key, sequence_type;
-- a key remembered before 1.25 has no type and is read in the apply's
UPDATE pipeline.deleted_keys SET sequence_type = NULL WHERE target = 'typed'::regclass AND key = '3';
INSERT INTO typed_changes VALUES (3, 'late', 7, 'I');
SELECT * FROM pipeline.apply_changes('typed_changes', 'typed', '{id}', 'seq');
SELECT count(*) AS three FROM typed WHERE id = 3;
-- another role's apply with another sequence type writes its delete beside
-- it, never over it: replaced, the feed's delete of 3 was gone, and the
-- feed's late change brought 3 back (found by an attack pass)
SET ROLE dk_planter;
SET search_path = dk_plant, public;
CREATE TABLE dk_plant.planted_int (id int, v text, s int, op text);
INSERT INTO dk_plant.planted_int VALUES (3, NULL, 2147483647, 'D');
SELECT * FROM pipeline.apply_changes('dk_plant.planted_int', 'public.typed', '{id}', 's');
RESET search_path;
RESET ROLE;
INSERT INTO typed_changes VALUES (3, 'late', 8, 'U');
SELECT * FROM pipeline.apply_changes('typed_changes', 'typed', '{id}', 'seq');
SELECT count(*) AS three FROM typed WHERE id = 3;
-- and so is the feed's own newer delete, in its type
INSERT INTO typed_changes VALUES (3, NULL, 20, 'D');
SELECT * FROM pipeline.apply_changes('typed_changes', 'typed', '{id}', 'seq');
SELECT key, sequence, sequence_type FROM pipeline.deleted_keys
 WHERE target = 'typed'::regclass AND key = '3' ORDER BY sequence_type;
SELECT keys FROM pipeline.deleted_keys_targets WHERE target = 'typed'::regclass;
DROP TABLE typed, typed_changes;
DROP SCHEMA dk_plant CASCADE;
DROP ROLE dk_planter, dk_feed;

-- a library newer than the installed SQL (1.1, without pipeline.deleted_keys)
-- applies as 1.1 did; after ALTER EXTENSION UPDATE deleted keys are
-- remembered
CREATE DATABASE pipeline_changes_old;
\c pipeline_changes_old
SET client_min_messages = warning;
CREATE EXTENSION pipeline VERSION '1.1';
CREATE TABLE cart (id bigint PRIMARY KEY, v text, seq bigint);
CREATE TABLE cart_changes (id bigint, v text, seq bigint, op text);
INSERT INTO cart VALUES (1, 'a', 1);
INSERT INTO cart_changes VALUES (1, NULL, 3, 'D'), (2, 'b', 1, 'I');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
INSERT INTO cart_changes VALUES (1, 'late', 2, 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
ALTER EXTENSION pipeline UPDATE;
INSERT INTO cart_changes VALUES (2, NULL, 5, 'D');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
INSERT INTO cart_changes VALUES (2, 'late', 4, 'U');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
TABLE cart;
SELECT key, sequence FROM pipeline.deleted_keys;
\c contrib_regression
DROP DATABASE pipeline_changes_old;
