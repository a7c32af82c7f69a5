-- Redefining incremental views through the compile step: checks, kept and
-- rebuilt tables, the high-water mark, type switches, update sets.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';

CREATE SCHEMA stream;
CREATE TABLE stream.clicks (seq bigint, at timestamptz, player text, action text);
INSERT INTO stream.clicks
SELECT g, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute', 'p' || (g % 3),
       CASE WHEN g % 2 = 1 THEN 'entered' ELSE 'left' END
  FROM generate_series(1, 6) g;
CREATE ROLE incr_redef_owner;
CREATE ROLE incr_redef_reader;
CREATE ROLE incr_redef_other;
GRANT USAGE, CREATE ON SCHEMA stream TO incr_redef_owner;
GRANT SELECT ON stream.clicks TO incr_redef_owner;
GRANT USAGE ON SCHEMA stream TO incr_redef_reader;

-- an incremental view owned by a role, and a regular view reading it
SET ROLE incr_redef_owner;
SELECT pipeline.define($$
/**
 * @matview-schema stream
 * @matview-name entrances
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 5
 */
SELECT seq, player FROM stream.clicks WHERE action = 'entered'
$$);
RESET ROLE;
SELECT pipeline.create_matview('stream', 'entrance_count', $$
  SELECT count(*) AS n, max(e.seq) AS last_seq, count(DISTINCT e.player) AS players
    FROM stream.mv_entrances e
$$, '5 minutes');
-- what a rebuild must keep: grants (also one by a grantee with grant
-- option), a comment, a column comment, a user's index; run history
SET ROLE incr_redef_owner;
GRANT SELECT ON stream.mv_entrances TO incr_redef_reader WITH GRANT OPTION;
COMMENT ON TABLE stream.mv_entrances IS 'who entered';
COMMENT ON COLUMN stream.mv_entrances.player IS 'the player';
CREATE INDEX entrances_player ON stream.mv_entrances (player);
SET ROLE incr_redef_reader;
GRANT SELECT ON stream.mv_entrances TO incr_redef_other;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2024-01-01 00:05+00') ORDER BY 1;

-- rows deleted from the source stay in the append-only view
DELETE FROM stream.clicks WHERE seq = 1;

CREATE FUNCTION pg_temp.state() RETURNS TABLE (what text, val text) LANGUAGE sql AS $$
  SELECT 'catalog ' || m.name,
         concat_ws(' | ', m.matview_type, m.refresh_interval, m.query, m.columns, m.owner, m.version,
                   d.incremental_key)
    FROM pipeline.matviews m JOIN pipeline.matview_definitions d USING (matview)
  UNION ALL
  SELECT 'relation ' || c.relname, concat_ws(' | ', c.relkind, c.relacl::text,
         obj_description(c.oid, 'pg_class'), col_description(c.oid, 2))
    FROM pg_class c WHERE c.relnamespace = 'stream'::regnamespace AND c.relkind IN ('r', 'm')
  UNION ALL
  SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = 'stream'::regnamespace
  UNION ALL
  SELECT 'edge', e.upstream::text || ' -> ' || e.downstream::text FROM pipeline.edges e
  UNION ALL
  SELECT 'mark ' || s.matview::text, s.high_water FROM pipeline.incremental_state s
  UNION ALL
  SELECT 'runs ' || r.matview::text, count(*)::text FROM pipeline.runs r GROUP BY r.matview
  UNION ALL
  SELECT 'data entrances', string_agg(format('%s:%s', seq, player), ' ' ORDER BY seq)
    FROM stream.mv_entrances
  UNION ALL
  SELECT 'data entrance_count', format('%s %s %s', n, last_seq, players) FROM stream.mv_entrance_count
  ORDER BY 1, 2
$$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.state();
SELECT what, val FROM before;
-- which relations are still the same ones
CREATE TEMP TABLE oids AS SELECT relname, oid FROM pg_class WHERE relnamespace = 'stream'::regnamespace;
CREATE FUNCTION pg_temp.same() RETURNS TABLE (relname name, same boolean) LANGUAGE sql AS $$
  SELECT o.relname, c.oid IS NOT DISTINCT FROM o.oid FROM oids o
    LEFT JOIN pg_class c ON c.relname = o.relname AND c.relnamespace = 'stream'::regnamespace
   WHERE o.relname LIKE 'mv%' ORDER BY 1
$$;

-- check(): a new query without a column the reader uses breaks it, with the
-- analyzer's reason; adding a column does not
SELECT * FROM pipeline.check('stream.mv_entrances',
  $$SELECT seq, at FROM stream.clicks WHERE action = 'entered'$$);
SELECT * FROM pipeline.check('stream.mv_entrances',
  $$SELECT seq, player, at FROM stream.clicks WHERE action = 'entered'$$);
-- the key must still be an ordered output column
SELECT * FROM pipeline.check('stream.mv_entrances',
  $$SELECT seq AS s, player FROM stream.clicks WHERE action = 'entered'$$);

-- refused like a regular view: every break and why, nothing changed
SELECT pipeline.define($$
/**
 * @matview-schema stream
 * @matview-name entrances
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 5
 */
SELECT seq, at FROM stream.clicks WHERE action = 'entered'
$$);
-- its own errors are raised as such: the key, the query
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player FROM stream.clicks WHERE action = 'entered'$$, '5 minutes',
  matview_type => 'incremental', incremental_key => 'nope');
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT point(seq, seq) AS p, player FROM stream.clicks$$, '5 minutes',
  matview_type => 'incremental', incremental_key => 'p');
SELECT pipeline.create_matview('stream', 'entrances', 'SELECT nope FROM stream.clicks', '5 minutes',
  matview_type => 'incremental', incremental_key => 'nope');
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player FROM stream.clicks$$, '5 minutes', matview_type => 'incremental');
-- only the owner may redefine it
SET ROLE incr_redef_other;
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player FROM stream.clicks WHERE action = 'entered'$$, '1 minute',
  matview_type => 'incremental', incremental_key => 'seq');
RESET ROLE;
-- a redefinition that fails while re-appending (here: division by zero on
-- one row) is rolled back as a whole
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player, 10 / (seq - 3) AS boom FROM stream.clicks WHERE action = 'entered'$$,
  '5 minutes', matview_type => 'incremental', incremental_key => 'seq');
SELECT what, val FROM pg_temp.state() EXCEPT SELECT what, val FROM before;
SELECT what, val FROM before EXCEPT SELECT what, val FROM pg_temp.state();
SELECT * FROM pg_temp.same();

-- the same query and key (a new interval): the table, its rows (seq 1,
-- deleted from the source, included) and its mark are kept
INSERT INTO stream.clicks VALUES (7, '2024-01-01 00:07+00', 'p1', 'entered');
SET ROLE incr_redef_owner;
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player FROM stream.clicks WHERE action = 'entered'$$, '1 minute',
  matview_type => 'incremental', incremental_key => 'seq');
RESET ROLE;
SELECT what, val FROM pg_temp.state() EXCEPT SELECT what, val FROM before ORDER BY 1;
SELECT what, val FROM before EXCEPT SELECT what, val FROM pg_temp.state() ORDER BY 1;
SELECT * FROM pg_temp.same();
-- and the next refresh appends from the kept mark
SELECT matview, status, rows FROM pipeline.refresh('stream.mv_entrances');
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'stream.mv_entrances'::regclass;
DROP TABLE before, oids;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.state();
CREATE TEMP TABLE oids AS SELECT relname, oid FROM pg_class WHERE relnamespace = 'stream'::regnamespace;

-- a new query: the table is rebuilt from scratch with every row of the new
-- query (seq 1 is gone from the source, so from the view), the mark is
-- reset to the greatest key appended (here lower than before), the reader
-- is rebuilt and sees the new rows; owner, grants, comments, the user's
-- index and run history stay
SET ROLE incr_redef_owner;
SELECT pipeline.define($$
/**
 * @matview-schema stream
 * @matview-name entrances
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 1
 */
SELECT seq, player, at FROM stream.clicks WHERE seq >= 3 AND seq <> 7
$$);
RESET ROLE;
SELECT what, val FROM pg_temp.state() EXCEPT SELECT what, val FROM before ORDER BY 1;
SELECT what, val FROM before EXCEPT SELECT what, val FROM pg_temp.state() ORDER BY 1;
SELECT * FROM pg_temp.same();
-- one index on the key (the new table's own), the user's index restored
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'stream.mv_entrances'::regclass ORDER BY 1;
SELECT name, version, refresh_interval FROM pipeline.matviews ORDER BY name;
SET ROLE incr_redef_reader;
SELECT count(*) AS reader_still_reads FROM stream.mv_entrances;
RESET ROLE;

-- a new key, same query: from scratch too, and the mark is in the new key
SET ROLE incr_redef_owner;
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player, at FROM stream.clicks WHERE seq >= 3 AND seq <> 7$$, '1 minute',
  matview_type => 'incremental', incremental_key => 'at');
RESET ROLE;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'stream.mv_entrances'::regclass;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'stream.mv_entrances'::regclass ORDER BY 1;
-- seq 9 arrives late by the new key
INSERT INTO stream.clicks VALUES (8, '2024-01-01 00:08+00', 'p2', 'entered'),
                                 (9, '2023-12-31 00:00+00', 'late', 'entered');
SELECT matview, status, rows FROM pipeline.refresh('stream.mv_entrances');
SELECT string_agg(seq::text, ' ' ORDER BY seq) AS seqs FROM stream.mv_entrances;

-- switching to regular: a materialized view, no mark, still owned and
-- granted as before; the reader is rebuilt
SET ROLE incr_redef_owner;
SELECT pipeline.create_matview('stream', 'entrances',
  $$SELECT seq, player, at FROM stream.clicks WHERE action = 'entered'$$, '1 minute');
RESET ROLE;
SELECT relkind, relacl, obj_description(oid, 'pg_class') FROM pg_class WHERE oid = 'stream.mv_entrances'::regclass;
SELECT matview_type, owner, version FROM pipeline.matviews WHERE name = 'entrances';
SELECT count(*) AS marks FROM pipeline.incremental_state;
SELECT n, last_seq, players FROM stream.mv_entrance_count;
-- and back to incremental: a table again, populated, with a mark
SET ROLE incr_redef_owner;
SELECT pipeline.define($$
/**
 * @matview-schema stream
 * @matview-name entrances
 * @update-mode append
 * @incremental-key seq
 * @interval-in-minutes 1
 */
SELECT seq, player, at FROM stream.clicks WHERE action = 'entered'
$$);
RESET ROLE;
SELECT relkind, relacl, obj_description(oid, 'pg_class') FROM pg_class WHERE oid = 'stream.mv_entrances'::regclass;
SELECT matview_type, owner, version FROM pipeline.matviews WHERE name = 'entrances';
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'stream.mv_entrances'::regclass;
SELECT n, last_seq, players FROM stream.mv_entrance_count;
SELECT status, count(*) FROM pipeline.runs WHERE matview = 'stream.mv_entrances'::regclass GROUP BY 1;

-- an incremental view downstream of a changed regular view
SELECT pipeline.create_matview('stream', 'visits',
  $$SELECT seq, player, action::varchar(10) AS action FROM stream.clicks$$, '1 minute');
SELECT pipeline.create_matview('stream', 'visit_log',
  $$SELECT * FROM stream.mv_visits$$, '1 minute',
  matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('stream', 'visit_players',
  $$SELECT count(DISTINCT player) AS players FROM stream.mv_visit_log$$, '1 minute');
DELETE FROM stream.clicks WHERE seq = 2;
-- its columns stay the same: it is kept (rows, mark), its reader rebuilt
SELECT 'visit_log' AS v, oid FROM pg_class WHERE oid = 'stream.mv_visit_log'::regclass \gset keep_
SELECT pipeline.create_matview('stream', 'visits',
  $$SELECT seq, player, action::varchar(10) AS action FROM stream.clicks WHERE seq > 2$$, '1 minute');
SELECT oid = :keep_oid AS kept, (SELECT count(*) FROM stream.mv_visit_log) AS rows,
       (SELECT high_water FROM pipeline.incremental_state WHERE matview = oid) AS mark
  FROM pg_class WHERE oid = 'stream.mv_visit_log'::regclass;
-- a plain view on a kept incremental view does not get in the way
CREATE VIEW stream.visit_log_view AS SELECT seq FROM stream.mv_visit_log;
SELECT * FROM pipeline.check('stream.mv_visits',
  $$SELECT seq, player, action::varchar(10) AS action FROM stream.clicks WHERE seq > 1$$);
-- its SELECT * was bound to the columns it had when defined (as a
-- PostgreSQL view is): a new upstream column does not reach it
SELECT * FROM pipeline.check('stream.mv_visits',
  $$SELECT seq, player, action::varchar(10) AS action, at FROM stream.clicks$$);
-- a wider column does (a typmod change propagates): its table would be
-- rebuilt, which the plain view now blocks
SELECT * FROM pipeline.check('stream.mv_visits',
  $$SELECT seq, player, action::varchar(40) AS action FROM stream.clicks$$);
DROP VIEW stream.visit_log_view;
-- rebuilt from scratch with the wider column: seq 2 is gone, the mark reset
SELECT pipeline.create_matview('stream', 'visits',
  $$SELECT seq, player, action::varchar(40) AS action FROM stream.clicks$$, '1 minute');
SELECT oid = :keep_oid AS kept, (SELECT string_agg(seq::text, ' ' ORDER BY seq) FROM stream.mv_visit_log) AS seqs,
       (SELECT high_water FROM pipeline.incremental_state WHERE matview = oid) AS mark
  FROM pg_class WHERE oid = 'stream.mv_visit_log'::regclass;
SELECT columns FROM pipeline.matviews WHERE name = 'visit_log';
-- a column it needs disappears: refused, naming the incremental view
SELECT pipeline.create_matview('stream', 'visits',
  $$SELECT player, action FROM stream.clicks$$, '1 minute');

-- update sets: an incremental view may be staged with the fix of its reader
SELECT pipeline.stage($$/**
 * @matview-schema stream
 * @matview-name visit_log
 * @matview-type incremental
 * @interval-in-minutes 1
 */ SELECT seq FROM stream.mv_visits$$);
SELECT pipeline.stage($$/**
 * @matview-schema stream
 * @matview-name visit_log
 * @incremental-key seq
 * @interval-in-minutes 1
 */ SELECT seq FROM stream.mv_visits$$);
SELECT pipeline.stage($$/**
 * @matview-schema stream
 * @matview-name visit_log
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 1
 */ SELECT seq, action AS what FROM stream.mv_visits$$);
SELECT * FROM pipeline.check_staged();
SELECT * FROM pipeline.apply_staged();
SELECT count(*) AS still_staged FROM pipeline.staged;
SELECT pipeline.stage($$/**
 * @matview-schema stream
 * @matview-name visit_players
 * @interval-in-minutes 1
 */ SELECT count(DISTINCT what) AS kinds FROM stream.mv_visit_log$$);
-- and a new incremental view reading it, in the same set
SELECT pipeline.stage($$/**
 * @matview-schema stream
 * @matview-name left_log
 * @update-mode append
 * @incremental-key seq
 * @interval-in-minutes 1
 */ SELECT seq FROM stream.mv_visit_log WHERE what = 'left'$$);
SELECT * FROM pipeline.check_staged();
SELECT * FROM pipeline.apply_staged();
SELECT name, matview_type, columns, version FROM pipeline.matviews
 WHERE name IN ('visit_log', 'visit_players', 'left_log') ORDER BY name;
SELECT kinds FROM stream.mv_visit_players;
SELECT string_agg(seq::text, ' ' ORDER BY seq) AS left_seqs FROM stream.mv_left_log;
SELECT m.name, s.high_water FROM pipeline.incremental_state s JOIN pipeline.matviews m USING (matview)
 ORDER BY 1;

-- the guard: an incremental view's table is renamed, moved or dropped only
-- through the API
ALTER TABLE stream.mv_visit_log RENAME TO mv_elsewhere;
ALTER TABLE stream.mv_visit_log RENAME COLUMN seq TO n;
ALTER TABLE stream.mv_visit_log SET SCHEMA public;
DROP TABLE stream.mv_visit_log CASCADE;
SELECT count(*) AS still_there FROM stream.mv_visit_log;

-- an index of the user's on the new key, named by default, takes another
-- name when the key index has its own, and a differential view's key
-- index is not carried along into another kind of view
SELECT pipeline.create_matview('stream', 'keyed', 'SELECT seq, at FROM stream.clicks', '5 minutes',
                               'incremental', incremental_key => 'seq');
CREATE INDEX ON stream.mv_keyed (at);
SET client_min_messages = notice;
SELECT pipeline.create_matview('stream', 'keyed', 'SELECT seq, at FROM stream.clicks', '5 minutes',
                               'incremental', incremental_key => 'at');
SET client_min_messages = warning;
SELECT pipeline.create_matview('stream', 'grouped', 'SELECT seq, player FROM stream.clicks',
                               '5 minutes', refresh_mode => 'differential');
SELECT pipeline.create_matview('stream', 'grouped', 'SELECT seq, player FROM stream.clicks',
                               '5 minutes', 'incremental', incremental_key => 'seq');
SELECT c.relname AS view, i.indexrelid::regclass AS index, pg_get_indexdef(i.indexrelid) LIKE '%(' || a.attname || ')' AS on_key
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
  JOIN pipeline.matview_definitions d ON d.matview = c.oid
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = d.incremental_key
 WHERE c.relname IN ('mv_keyed', 'mv_grouped') ORDER BY 1, 2::text;
SELECT pipeline.drop_matview('stream.mv_grouped');
SELECT pipeline.drop_matview('stream.mv_keyed');

-- clean up
SELECT pipeline.drop_matview('stream.mv_visits', cascade => true);
SELECT pipeline.drop_matview('stream.mv_entrances', cascade => true);
SELECT count(*) AS marks_left FROM pipeline.incremental_state;
DROP SCHEMA stream CASCADE;
DROP ROLE incr_redef_owner, incr_redef_reader, incr_redef_other;
