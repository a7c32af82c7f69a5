-- Refresh modes (API.md section 8): what a definition asks for (DPL
-- @refresh-mode, create_matview's refresh_mode), what a view gets
-- (pipeline.matviews.refresh_mode and full_refresh_reason), and
-- create_matview's options, checked by the same code as a DPL header.
-- A query differential refresh cannot maintain (here: a window function)
-- refreshes fully in auto, with the reason, and asking for differential is
-- refused with that reason.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE SCHEMA modes;
CREATE TABLE modes.events (id int, user_id int, amount numeric);
INSERT INTO modes.events SELECT g, g % 3, g FROM generate_series(1, 9) g;

-- DPL: auto (the default and written out), full
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 */
SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name counts
 * @interval-in-minutes 60
 * @refresh-mode auto
 */
SELECT user_id, count(*) AS n FROM modes.events GROUP BY user_id$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name everything
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT id, user_id, amount FROM modes.events$$);
SELECT name, matview_type, refresh_mode, full_refresh_reason
  FROM pipeline.matviews WHERE schema_name = 'modes' ORDER BY name;
SELECT name, requested_refresh_mode FROM pipeline.matview_definitions
 WHERE schema_name = 'modes' ORDER BY name;
-- differential views are tables, full ones materialized views
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'modes'::regnamespace AND relname LIKE 'mv\_%' ORDER BY relname;

\set VERBOSITY default
-- differential is refused for a query it cannot maintain, with the reason
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name diff
 * @interval-in-minutes 60
 * @refresh-mode differential
 */
SELECT id, row_number() OVER (ORDER BY id) AS n FROM modes.events$$);
-- also when redefining a view
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode differential
 */
SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id LIMIT 10$$);
-- a bad value lists the good ones
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name bad
 * @interval-in-minutes 60
 * @refresh-mode fast
 */
SELECT id FROM modes.events$$);
-- only regular views have a refresh mode
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name stream
 * @interval-in-minutes 60
 * @refresh-mode full
 * @matview-type incremental
 * @incremental-key id
 */
SELECT id, amount FROM modes.events$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name stream
 * @interval-in-minutes 60
 * @update-mode append
 * @incremental-key id
 * @refresh-mode auto
 */
SELECT id, amount FROM modes.events$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name stream
 * @interval-in-minutes 60
 * @refresh-mode full
 * @refresh-mode auto
 */
SELECT id, amount FROM modes.events$$);
\set VERBOSITY terse
SELECT count(*) AS views_after_refusals FROM pipeline.matviews WHERE schema_name = 'modes';

-- check() reports the refusal and changes nothing
SELECT * FROM pipeline.check($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode differential
 */
SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id LIMIT 10$$);
SELECT * FROM pipeline.check($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id$$);
SELECT name, version, refresh_mode FROM pipeline.matviews WHERE name = 'totals';

-- a redefinition records the mode it asks for
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id$$);
SELECT name, version, refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE name = 'totals';

-- an update set keeps each definition's mode until it is applied
SELECT pipeline.stage($$/**
 * @matview-schema modes
 * @matview-name counts
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, count(*) AS n, max(amount) AS top FROM modes.events GROUP BY user_id$$);
SELECT pipeline.stage($$/**
 * @matview-schema modes
 * @matview-name staged_diff
 * @interval-in-minutes 60
 * @refresh-mode differential
 */
SELECT DISTINCT ON (id) id FROM modes.events$$);
SELECT matview, status, detail FROM pipeline.check_staged() ORDER BY detail;
SELECT * FROM pipeline.apply_staged();
SELECT pipeline.discard_staged();
SELECT pipeline.stage($$/**
 * @matview-schema modes
 * @matview-name counts
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, count(*) AS n, max(amount) AS top FROM modes.events GROUP BY user_id$$);
SELECT * FROM pipeline.apply_staged();
SELECT name, version, refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE name = 'counts';

-- a view rebuilt because its upstream changed keeps its mode
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name top_users
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id FROM modes.mv_totals WHERE total > 10$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 */
SELECT user_id, sum(amount) AS total FROM modes.events WHERE id > 1 GROUP BY user_id$$);
SELECT name, version, refresh_mode, full_refresh_reason
  FROM pipeline.matviews WHERE name IN ('totals', 'top_users') ORDER BY name;

-- a downstream left to choose follows its upstream's mode, and says why
-- (it named the upstream's new relation "a materialized view pipeline does
-- not manage": the catalog was read before the upstream's rows moved)
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name big_users
 * @interval-in-minutes 60
 */
SELECT user_id, total FROM modes.mv_totals WHERE total > 100$$);
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, sum(amount) AS total FROM modes.events WHERE id > 1 GROUP BY user_id$$);
SELECT name, refresh_mode, full_refresh_reason
  FROM pipeline.matviews WHERE name IN ('totals', 'big_users') ORDER BY name;
SELECT pipeline.define($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 */
SELECT user_id, sum(amount) AS total FROM modes.events WHERE id > 1 GROUP BY user_id$$);
SELECT name, refresh_mode, full_refresh_reason
  FROM pipeline.matviews WHERE name IN ('totals', 'big_users') ORDER BY name;

-- a view that must be differential breaks when its upstream would turn
-- full: the check says why (it said only "cannot be refreshed
-- differentially")
SELECT pipeline.create_matview('modes', 'must_diff', 'SELECT user_id, total FROM modes.mv_totals',
                               '1 hour', refresh_mode => 'differential');
SELECT * FROM pipeline.check($$/**
 * @matview-schema modes
 * @matview-name totals
 * @interval-in-minutes 60
 * @refresh-mode full
 */
SELECT user_id, sum(amount) AS total FROM modes.events WHERE id > 1 GROUP BY user_id$$)
 ORDER BY matview::text;
SELECT pipeline.drop_matview('modes.mv_must_diff');
-- and one level further down: an auto view between them turns full with
-- its upstream, which breaks the differential one reading it (the check
-- said ok, and the redefinition then failed on another error)
SELECT pipeline.create_matview('modes', 'passed_on', 'SELECT user_id, total FROM modes.mv_totals', '1 hour');
SELECT pipeline.create_matview('modes', 'must_diff', 'SELECT user_id, total FROM modes.mv_passed_on',
                               '1 hour', refresh_mode => 'differential');
SELECT * FROM pipeline.check('modes.mv_totals',
  'SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id ORDER BY user_id LIMIT 100')
 WHERE matview::text IN ('modes.mv_passed_on', 'modes.mv_must_diff') ORDER BY matview::text;
SELECT pipeline.create_matview('modes', 'totals',
  'SELECT user_id, sum(amount) AS total FROM modes.events GROUP BY user_id ORDER BY user_id LIMIT 100', '1 hour');
SELECT pipeline.drop_matview('modes.mv_must_diff');
SELECT pipeline.drop_matview('modes.mv_passed_on');

-- create_matview(): refresh_mode, and every other DPL key in options
SELECT pipeline.create_matview('modes', 'by_param', 'SELECT id FROM modes.events', '1 hour',
                               refresh_mode => 'full', options => '{"datacoral": "2.1"}');
SELECT pipeline.create_matview('modes', 'by_param_auto', 'SELECT id FROM modes.events', '1 hour',
                               refresh_mode => 'AUTO', options => NULL);
SELECT pipeline.create_matview('modes', 'stream', 'SELECT id, amount FROM modes.events', '1 hour',
                               'incremental', 'id');
SELECT d.name, d.matview_type, d.requested_refresh_mode, m.refresh_mode, m.full_refresh_reason,
       d.datacoral_version
  FROM pipeline.matview_definitions d JOIN pipeline.matviews m USING (matview)
 WHERE d.name IN ('by_param', 'by_param_auto', 'stream') ORDER BY d.name;

\set VERBOSITY default
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events LIMIT 1', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               refresh_mode => 'sometimes');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               refresh_mode => NULL);
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               'incremental', 'id', refresh_mode => 'full');
-- options: unknown keys, keys that have a parameter, values that are not strings
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"colour": "blue"}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"@datacoral": "1.0"}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"refresh-mode": "full"}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"matview-name": "other"}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"update-mode": "append"}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"datacoral": 1}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"datacoral": ["1", "2"]}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '{"datacoral": ""}');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '["datacoral"]');
SELECT pipeline.create_matview('modes', 'p', 'SELECT id FROM modes.events', '1 hour',
                               options => '"datacoral"');
\set VERBOSITY terse
SELECT count(*) AS views_after_refusals FROM pipeline.matviews WHERE schema_name = 'modes';

-- the new columns, in the order they are shown
SELECT attname FROM pg_attribute
 WHERE attrelid = 'pipeline.matviews'::regclass AND attnum > 10 ORDER BY attnum;
SELECT pg_get_function_arguments('pipeline.create_matview'::regproc);

-- runs.detail: what a refresh says about how it ran (nothing, so far)
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00')
 WHERE matview::text LIKE 'modes.%' ORDER BY matview::text;
SELECT r.matview, r.status, r.detail FROM pipeline.runs r
 WHERE r.matview::text LIKE 'modes.%' ORDER BY r.matview::text;

-- a column that depends on a grouped primary key (GROUP BY t.id, then
-- t.v) is refused differentially, as any column neither grouped nor
-- inside an aggregate
CREATE TABLE modes.pk_t (id int PRIMARY KEY, v int);
CREATE TABLE modes.pk_o (id int, t_id int);
INSERT INTO modes.pk_t VALUES (1, 10), (2, 20);
INSERT INTO modes.pk_o VALUES (1, 1), (2, 1), (3, 2);
SELECT pipeline.create_matview('modes', 'by_pk',
  'SELECT t.id, t.v, count(*) AS n FROM modes.pk_t t JOIN modes.pk_o o ON o.t_id = t.id GROUP BY t.id',
  '1 hour', refresh_mode => 'differential');

-- a full view left unpopulated (WITH NO DATA, as a restore leaves one)
-- is populated by its next refresh, which says it succeeded
CREATE TABLE modes.unfilled_src (id int);
INSERT INTO modes.unfilled_src VALUES (1), (2);
SELECT pipeline.create_matview('modes', 'unfilled', 'SELECT id FROM modes.unfilled_src', '1 hour',
       refresh_mode => 'full');
REFRESH MATERIALIZED VIEW modes.mv_unfilled WITH NO DATA;
SELECT status FROM pipeline.refresh('modes.mv_unfilled');
SELECT relispopulated FROM pg_class WHERE oid = 'modes.mv_unfilled'::regclass;
SELECT count(*) FROM modes.mv_unfilled;

-- wider than differential refresh can keep: more group keys than an index
-- takes, more aggregates than a row of their state holds; auto refreshes
-- such a view fully, with the reason, as CREATE MATERIALIZED VIEW would
CREATE TABLE modes.wide AS
  SELECT g AS id, g % 2 AS c1, g % 3 AS c2 FROM generate_series(1, 6) g;
SELECT pipeline.create_matview('modes', 'wide_keys',
  'SELECT DISTINCT ' || string_agg(format('c%s + %s AS k%s', 1 + i % 2, i, i), ', ') || ' FROM modes.wide',
  '1 hour')
  FROM generate_series(1, 33) i;
SELECT pipeline.create_matview('modes', 'wide_state',
  'SELECT c1, ' || string_agg(format('min(id + %s) AS m%s', i, i), ', ') || ' FROM modes.wide GROUP BY c1',
  '1 hour')
  FROM generate_series(1, 250) i;
-- (a key stored plain, as oidvector is, is never moved out of a row,
-- where the state's other columns could leave it no room)
CREATE TABLE modes.signatures AS SELECT '23 25'::oidvector AS args FROM generate_series(1, 3);
SELECT pipeline.create_matview('modes', 'wide_plain',
  'SELECT args, count(*) AS n FROM modes.signatures GROUP BY args', '1 hour');
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE name LIKE 'wide%' ORDER BY name;
SELECT count(*) FROM modes.mv_wide_keys;
SELECT c1, m1, m250 FROM modes.mv_wide_state ORDER BY c1;
SELECT pipeline.create_matview('modes', 'wide_refused',
  'SELECT c1, ' || string_agg(format('min(id + %s) AS m%s', i, i), ', ') || ' FROM modes.wide GROUP BY c1',
  '1 hour', refresh_mode => 'differential')
  FROM generate_series(1, 250) i;

-- a join with changes in more than 8 of its tables (here a self-join):
-- each changed occurrence is joined with the others as they were, where a
-- row changed in all of them counts 2^(n-1) times (40 occurrences filled a
-- disk), so such a refresh is full and says why; a join of more tables
-- with fewer of them changed (a star) stays differential
CREATE TABLE modes.kv (k int PRIMARY KEY, v int);
INSERT INTO modes.kv SELECT g, g FROM generate_series(1, 100) g;
SELECT pipeline.create_matview('modes', 'join_' || n,
  'SELECT t0.k, t0.v FROM modes.kv t0 ' || string_agg(format('JOIN modes.kv t%s USING (k)', i), ' '),
  '1 hour')
  FROM generate_series(8, 9) n, generate_series(1, n - 1) i GROUP BY n;
CREATE TABLE modes.fact (k int, v int);
INSERT INTO modes.fact SELECT g % 100 + 1, g FROM generate_series(1, 300) g;
SELECT pipeline.create_matview('modes', 'star',
  'SELECT f.k, sum(f.v) AS total, count(*) AS n FROM modes.fact f ' ||
  string_agg(format('JOIN modes.kv d%s ON d%s.k = f.k', i, i), ' ') || ' GROUP BY f.k',
  '1 hour', refresh_mode => 'differential')
  FROM generate_series(1, 9) i;
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE name LIKE 'join\_%' OR name = 'star' ORDER BY name;
INSERT INTO modes.kv VALUES (101, 101);
UPDATE modes.kv SET v = -v WHERE k <= 3;
INSERT INTO modes.fact VALUES (101, 7), (2, 5);
SELECT matview, status FROM pipeline.run_due('2031-01-01 00:00+00')
 WHERE matview::text LIKE 'modes.mv\_join\_%' OR matview = 'modes.mv_star'::regclass ORDER BY 1;
SELECT matview, detail FROM pipeline.runs
 WHERE matview::text LIKE 'modes.mv\_join\_%' AND time_label = '2031-01-01 00:00+00' ORDER BY 1;
SELECT count(*), sum(v) FROM modes.mv_join_8;
SELECT count(*), sum(v) FROM modes.mv_join_9;
INSERT INTO modes.fact VALUES (3, 1000);
SELECT matview, status FROM pipeline.run_due('2031-01-01 01:00+00') WHERE matview = 'modes.mv_star'::regclass;
SELECT detail FROM pipeline.runs WHERE matview = 'modes.mv_star'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS wrong FROM (
  (TABLE modes.mv_star EXCEPT ALL
   SELECT f.k, sum(f.v), count(*) FROM modes.fact f JOIN modes.kv d ON d.k = f.k GROUP BY f.k)
  UNION ALL
  (SELECT f.k, sum(f.v), count(*) FROM modes.fact f JOIN modes.kv d ON d.k = f.k GROUP BY f.k
   EXCEPT ALL TABLE modes.mv_star)) x;

SELECT pipeline.drop_matview('modes.mv_totals', cascade => true);
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'modes';
DROP SCHEMA modes CASCADE;
