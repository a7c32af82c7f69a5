SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- a stream (a Kinesis staging table) and an append-only view over it
CREATE TABLE clicks (seq bigint, at timestamptz, player text, action text);
INSERT INTO clicks VALUES (1, '2024-01-01 00:00:01+00', 'alice', 'entered shop'),
                          (2, '2024-01-01 00:00:02+00', 'bob', 'left'),
                          (3, '2024-01-01 00:00:03+00', 'carol', 'entered shop');
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema public
 * @matview-name shop_entrances
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 5
 */
SELECT seq, at, player FROM clicks WHERE action = 'entered shop'
$$) AS shop_entrances;
SELECT c.relkind, d.matview_type, d.incremental_key
  FROM pipeline.matview_definitions d JOIN pg_class c ON c.oid = d.matview
 WHERE d.name = 'shop_entrances';
-- created populated, like a materialized view, with its mark
TABLE mv_shop_entrances ORDER BY seq;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_shop_entrances'::regclass;
-- nothing new: nothing appended, mark unchanged
SELECT matview, status, rows FROM pipeline.refresh('mv_shop_entrances');
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_shop_entrances'::regclass;
-- only rows above the mark are appended; a late row below the mark is not
INSERT INTO clicks VALUES (4, '2024-01-01 00:00:04+00', 'dave', 'entered shop'),
                          (0, '2024-01-01 00:00:00+00', 'early', 'entered shop'),
                          (NULL, NULL, 'nokey', 'entered shop');
SELECT matview, status, rows FROM pipeline.refresh('mv_shop_entrances');
TABLE mv_shop_entrances ORDER BY seq;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_shop_entrances'::regclass;
-- the mark follows the key's order, not its text's ("10" < "9" as text)
INSERT INTO clicks VALUES (9, '2024-01-01 00:00:09+00', 'nine', 'entered shop'),
                          (10, '2024-01-01 00:00:10+00', 'ten', 'entered shop');
SELECT rows FROM pipeline.refresh('mv_shop_entrances');
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_shop_entrances'::regclass;
SELECT rows AS nothing_twice FROM pipeline.refresh('mv_shop_entrances');
DELETE FROM clicks WHERE seq IN (9, 10);
-- rows removed from the source stay in the view (append-only)
DELETE FROM clicks WHERE seq = 1;
SELECT matview, status, rows FROM pipeline.refresh('mv_shop_entrances');
SELECT count(*) AS still_five FROM mv_shop_entrances;

-- a downstream view reads it; cascade refreshes in DAG order
SELECT pipeline.create_matview('public', 'shop_count', 'SELECT count(*) AS n FROM mv_shop_entrances',
                               interval '5 minutes');
SELECT relation, depth FROM pipeline.upstream('mv_shop_count');
INSERT INTO clicks VALUES (11, '2024-01-01 00:00:11+00', 'erin', 'entered shop');
SELECT matview, status, rows FROM pipeline.refresh('mv_shop_entrances');
SELECT n FROM mv_shop_count;

-- a timestamp key, through create_matview; the mark does not depend on DateStyle
SET datestyle = 'SQL, DMY';
SELECT pipeline.create_matview('public', 'by_time', 'SELECT at, player FROM clicks',
                               interval '1 hour', matview_type => 'incremental',
                               incremental_key => 'at');
SELECT count(*) AS appended_at_definition FROM mv_by_time;
SET datestyle = 'Postgres, MDY';
INSERT INTO clicks VALUES (6, '2024-01-02 00:00:00+00', 'frank', 'left');
SELECT rows FROM pipeline.refresh('mv_by_time');
RESET datestyle;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_by_time'::regclass;
SELECT count(*) AS rows, count(DISTINCT at) AS distinct_times FROM mv_by_time;

-- the query runs as the view's owner, not as the caller
CREATE ROLE incr_owner;
CREATE TABLE secret (k int);
INSERT INTO secret VALUES (1), (2);
GRANT CREATE ON SCHEMA public TO incr_owner;
SET ROLE incr_owner;
SELECT pipeline.create_matview('public', 'secret_copy', 'SELECT k FROM secret', interval '1 hour',
                               matview_type => 'incremental', incremental_key => 'k');
RESET ROLE;
GRANT SELECT ON secret TO incr_owner;
SET ROLE incr_owner;
SELECT pipeline.create_matview('public', 'secret_copy', 'SELECT k FROM secret', interval '1 hour',
                               matview_type => 'incremental', incremental_key => 'k');
RESET ROLE;
\set VERBOSITY terse
REVOKE SELECT ON secret FROM incr_owner;
INSERT INTO secret VALUES (3);
-- superuser refreshes, but the owner cannot read secret any more
SELECT rows FROM pipeline.refresh('mv_secret_copy');
GRANT SELECT ON secret TO incr_owner;
SELECT rows FROM pipeline.refresh('mv_secret_copy');
CREATE ROLE incr_other;
SET ROLE incr_other;
SELECT rows FROM pipeline.refresh('mv_secret_copy');
RESET ROLE;
-- the state table is written only by pipeline
SET ROLE incr_owner;
UPDATE pipeline.incremental_state SET high_water = '0';
RESET ROLE;

\set VERBOSITY default
-- definition errors
SELECT pipeline.create_matview('public', 'bad_key', 'SELECT seq, player FROM clicks',
                               interval '1 hour', matview_type => 'incremental',
                               incremental_key => 'nope');
SELECT pipeline.create_matview('public', 'bad_type', 'SELECT point(seq, seq) AS p FROM clicks',
                               interval '1 hour', matview_type => 'incremental',
                               incremental_key => 'p');
SELECT pipeline.create_matview('public', 'no_key', 'SELECT seq FROM clicks',
                               interval '1 hour', matview_type => 'incremental');
SELECT count(*) AS nothing_left FROM pg_class WHERE relname IN ('mv_bad_key', 'mv_bad_type', 'mv_no_key');

-- an incremental view's source cannot be dropped from under it (a
-- materialized view's source is protected by PostgreSQL's own dependency)
DROP TABLE clicks;
DROP TABLE clicks CASCADE;
SELECT count(*) AS clicks_still_there FROM clicks;
-- nor can its table's columns be changed outside the compile step
ALTER TABLE mv_shop_entrances ADD COLUMN extra int;
ALTER TABLE mv_shop_entrances DROP COLUMN player;
ALTER TABLE mv_shop_entrances ALTER COLUMN player TYPE varchar(3);
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid = 'mv_shop_entrances'::regclass AND attnum > 0 AND NOT attisdropped;
-- a source column it reads (output or WHERE) cannot be dropped or retyped;
-- a column no incremental view reads can
ALTER TABLE clicks DROP COLUMN player;
ALTER TABLE clicks ALTER COLUMN action TYPE varchar(40);
ALTER TABLE clicks ADD COLUMN unread int;
ALTER TABLE clicks ALTER COLUMN unread TYPE bigint;
ALTER TABLE clicks DROP COLUMN unread;

-- dropping removes the table and its mark
SELECT pipeline.drop_matview('mv_shop_entrances', cascade => true);
SELECT pipeline.drop_matview('mv_by_time');
SELECT pipeline.drop_matview('mv_secret_copy');
SELECT count(*) AS marks_left FROM pipeline.incremental_state;
DROP TABLE clicks, secret;
REVOKE ALL ON SCHEMA public FROM incr_owner;
DROP ROLE incr_owner, incr_other;

-- a key of a type with no comparison of its own in pg_catalog (an enum:
-- pg_catalog has anyenum's): the statements around the bound query run
-- under the owner's search_path (here "$user", public) and must compare
-- keys with the type's own operators, never a look-alike in public
CREATE TYPE public.tick AS ENUM ('t1', 't2', 't3', 't4', 't5', 't6');
CREATE TABLE ticks (at tick, seq int, op text, id int, v text);
INSERT INTO ticks VALUES ('t1', 1, 'I', 1, 'a'), ('t2', 2, 'I', 2, 'b');
SELECT pipeline.create_matview('public', 'tick_log', 'SELECT at, id, v FROM ticks',
                               interval '1 hour', matview_type => 'incremental',
                               incremental_key => 'at');
SELECT pipeline.define($d$/**
 * @matview-schema public
 * @matview-name tick_mirror
 * @matview-type mirror
 * @incremental-key at
 * @mirror-keys id
 * @mirror-sequence seq
 * @interval-in-minutes 60
 */
SELECT at, seq, op, id, v FROM public.ticks$d$);
CREATE FUNCTION public.trap_tick(tick, tick) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'trap operator called by %', current_user; END $$;
CREATE OPERATOR public.< (LEFTARG = tick, RIGHTARG = tick, FUNCTION = public.trap_tick);
CREATE OPERATOR public.> (LEFTARG = tick, RIGHTARG = tick, FUNCTION = public.trap_tick);
CREATE OPERATOR public.<= (LEFTARG = tick, RIGHTARG = tick, FUNCTION = public.trap_tick);
CREATE OPERATOR public.>= (LEFTARG = tick, RIGHTARG = tick, FUNCTION = public.trap_tick);
CREATE OPERATOR public.= (LEFTARG = tick, RIGHTARG = tick, FUNCTION = public.trap_tick);
INSERT INTO ticks VALUES ('t3', 3, 'U', 1, 'a2'), ('t4', 4, 'D', 2, NULL), ('t5', 5, 'I', 3, 'c');
SELECT matview, status, rows FROM pipeline.refresh('mv_tick_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_tick_mirror');
DROP FUNCTION public.trap_tick(tick, tick) CASCADE;
TABLE mv_tick_log ORDER BY at;
TABLE mv_tick_mirror ORDER BY id;
SELECT pipeline.drop_matview('mv_tick_mirror');
SELECT pipeline.drop_matview('mv_tick_log');
DROP TABLE ticks;
DROP TYPE public.tick;

-- A key of type char(n): its mark was cast to "character", which is
-- char(1), so 'bbbbb' compared as 'b' and every refresh appended the rows
-- above 'b' again.  Now cast to bpchar, whole.
CREATE TABLE public.coded (code char(5) PRIMARY KEY, v int);
INSERT INTO public.coded VALUES ('aaaaa', 1), ('bbbbb', 2);
SELECT pipeline.create_matview('public', 'coded_log', 'SELECT code, v FROM public.coded',
       '1 hour', 'incremental', incremental_key => 'code');
INSERT INTO public.coded VALUES ('ccccc', 3);
SELECT matview, status, rows FROM pipeline.refresh('mv_coded_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_coded_log');
TABLE mv_coded_log ORDER BY code;
SELECT pipeline.drop_matview('mv_coded_log');
DROP TABLE public.coded;

-- A stream view with nothing new is skipped, as any view whose upstreams
-- did not change (API.md section 5); a new row makes it run again.
CREATE TABLE public.beats (seq bigint, v text);
INSERT INTO public.beats VALUES (1, 'a');
SELECT pipeline.create_matview('public', 'beat_log', 'SELECT seq, v FROM public.beats',
       '1 hour', 'incremental', incremental_key => 'seq');
SELECT status FROM pipeline.run_due('2030-01-01 00:00+00') WHERE matview = 'mv_beat_log'::regclass;
SELECT status FROM pipeline.run_due('2030-01-01 01:00+00') WHERE matview = 'mv_beat_log'::regclass;
INSERT INTO public.beats VALUES (2, 'b');
SELECT status FROM pipeline.run_due('2030-01-01 02:00+00') WHERE matview = 'mv_beat_log'::regclass;
-- a write that adds nothing above the mark is still a change: it runs
UPDATE public.beats SET v = 'a2' WHERE seq = 1;
SELECT status FROM pipeline.run_due('2030-01-01 03:00+00') WHERE matview = 'mv_beat_log'::regclass;
SELECT status FROM pipeline.run_due('2030-01-01 04:00+00') WHERE matview = 'mv_beat_log'::regclass;
SELECT time_label, last_time_label, status, rows FROM pipeline.runs
 WHERE matview = 'mv_beat_log'::regclass ORDER BY run_id;
TABLE mv_beat_log ORDER BY seq;
SELECT pipeline.drop_matview('mv_beat_log');
DROP TABLE public.beats;

-- A stream over a view redefined as a new relation (a full-refresh view is
-- rebuilt and filled) is not skipped at its next label: the new rows are
-- a change it reads.
CREATE TABLE public.notes (id int, v text);
INSERT INTO public.notes VALUES (1, 'a'), (2, 'b'), (3, 'b');
SELECT pipeline.create_matview('public', 'a_notes', 'SELECT id, v FROM public.notes WHERE v = ''a''',
       '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('public', 'note_log', 'SELECT id, v FROM public.mv_a_notes',
       '1 hour', 'incremental', incremental_key => 'id');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00')
 WHERE matview::text ~ 'notes|note_log' ORDER BY matview::text;
SELECT pipeline.create_matview('public', 'a_notes', 'SELECT id, v FROM public.notes',
       '1 hour', refresh_mode => 'full');
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00')
 WHERE matview::text ~ 'notes|note_log' ORDER BY matview::text;
TABLE mv_note_log ORDER BY id;
SELECT pipeline.drop_matview('mv_note_log');
SELECT pipeline.drop_matview('mv_a_notes');
DROP TABLE public.notes;

-- A stream keyed on an enum follows a renamed label in its mark, as its
-- query follows it: its runs went on failing on the old label before.
CREATE TYPE public.level AS ENUM ('low', 'mid', 'high');
CREATE TABLE public.levels (k public.level, n int);
INSERT INTO public.levels VALUES ('low', 1), ('mid', 2);
SELECT pipeline.create_matview('public', 'level_log', 'SELECT k, n FROM public.levels', '1 hour',
       'incremental', incremental_key => 'k');
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_level_log'::regclass;
ALTER TYPE public.level RENAME VALUE 'mid' TO 'medium';
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_level_log'::regclass;
INSERT INTO public.levels VALUES ('high', 3);
SELECT matview, status, rows FROM pipeline.refresh('mv_level_log');
TABLE mv_level_log ORDER BY k;
SELECT pipeline.drop_matview('mv_level_log');
DROP TABLE public.levels;

-- A row-typed key: its mark follows a label renamed in one of its fields
-- and an attribute added, to a type or a table whose row type it holds
-- (each made every later run fail on the mark's old text).  A key with a
-- NULL field is left out (IS NOT NULL is false for it).  An attribute
-- dropped is not followed: keys would order otherwise, and a rewritten
-- mark would append rows twice or never: the run fails on the old text.
CREATE TYPE public.tagged AS (n int, l public.level, note text);
CREATE TABLE public.tag_row (a int);
CREATE TABLE public.tags (k public.tagged, r public.tag_row, v int);
INSERT INTO public.tags VALUES (ROW(1, 'low', 'a'), ROW(1), 1), (ROW(2, 'high', 'b'), ROW(2), 2);
SELECT pipeline.create_matview('public', 'tag_log', 'SELECT k, v FROM public.tags', '1 hour',
       'incremental', incremental_key => 'k');
SELECT pipeline.create_matview('public', 'row_log', 'SELECT r, v FROM public.tags', '1 hour',
       'incremental', incremental_key => 'r');
ALTER TYPE public.level RENAME VALUE 'high' TO 'top';
ALTER TYPE public.tagged ADD ATTRIBUTE extra int;
ALTER TABLE public.tag_row ADD COLUMN b int;
SELECT matview, high_water FROM pipeline.incremental_state
 WHERE matview::text ~ 'tag_log|row_log' ORDER BY matview::text;
INSERT INTO public.tags VALUES (ROW(3, 'top', 'c', 0), ROW(3, 0), 3), (ROW(4, 'top', 'd', NULL), ROW(4, 0), 4);
SELECT matview, status, rows FROM pipeline.refresh('mv_tag_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_row_log');
INSERT INTO public.tags VALUES (ROW(5, 'low', 'e', 7), ROW(5, 0), 5);
SELECT matview, status, rows FROM pipeline.refresh('mv_tag_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_row_log');
TABLE mv_tag_log ORDER BY k;
TABLE mv_row_log ORDER BY v;
ALTER TYPE public.tagged DROP ATTRIBUTE note;
SELECT matview, high_water FROM pipeline.incremental_state
 WHERE matview::text ~ 'tag_log|row_log' ORDER BY matview::text;
SELECT matview, status, rows FROM pipeline.refresh('mv_tag_log');
-- the row type of a table a column is added to through its parent, and of
-- a table made OF a type altered with CASCADE
CREATE TABLE public.tag_parent (a int);
CREATE TABLE public.tag_child () INHERITS (public.tag_parent);
CREATE TYPE public.tag_shape AS (a int);
CREATE TABLE public.tag_typed OF public.tag_shape;
CREATE TABLE public.tag_typed_parts OF public.tag_shape PARTITION BY RANGE (a);
CREATE TABLE public.tag_typed_part PARTITION OF public.tag_typed_parts FOR VALUES FROM (0) TO (100);
INSERT INTO public.tag_child VALUES (1), (2);
INSERT INTO public.tag_typed VALUES (1), (2);
INSERT INTO public.tag_typed_part VALUES (1), (2);
SELECT pipeline.create_matview('public', 'child_log', 'SELECT c AS k FROM public.tag_child c', '1 hour',
       'incremental', incremental_key => 'k');
SELECT pipeline.create_matview('public', 'typed_log', 'SELECT t AS k FROM public.tag_typed t', '1 hour',
       'incremental', incremental_key => 'k');
SELECT pipeline.create_matview('public', 'part_log', 'SELECT p AS k FROM public.tag_typed_part p', '1 hour',
       'incremental', incremental_key => 'k');
ALTER TABLE public.tag_parent ADD COLUMN b int;
ALTER TYPE public.tag_shape ADD ATTRIBUTE b int CASCADE;
SELECT matview, high_water FROM pipeline.incremental_state
 WHERE matview::text ~ 'child_log|typed_log|part_log' ORDER BY matview::text;
INSERT INTO public.tag_child VALUES (3, 0);
INSERT INTO public.tag_typed VALUES (3, 0);
INSERT INTO public.tag_typed_part VALUES (3, 0);
SELECT matview, status, rows FROM pipeline.refresh('mv_child_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_typed_log');
SELECT matview, status, rows FROM pipeline.refresh('mv_part_log');
SELECT pipeline.drop_matview('mv_child_log');
SELECT pipeline.drop_matview('mv_typed_log');
SELECT pipeline.drop_matview('mv_part_log');
DROP TABLE public.tag_child, public.tag_parent, public.tag_typed, public.tag_typed_parts;
DROP TYPE public.tag_shape;
SELECT pipeline.drop_matview('mv_row_log');
SELECT pipeline.drop_matview('mv_tag_log');
DROP TABLE public.tags;
DROP TABLE public.tag_row;
DROP TYPE public.tagged;
DROP TYPE public.level;
