-- Bad input to define()/create_matview()/drop_matview(): each is a clear
-- error, and the catalog is unchanged afterwards.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA errs;
CREATE TABLE errs.raw (id int, v text);
CREATE TEMP TABLE catalog_before AS
  SELECT (SELECT count(*) FROM pipeline.matview_definitions) AS views,
         (SELECT count(*) FROM pipeline.edges) AS edges,
         (SELECT count(*) FROM pg_class WHERE relnamespace = 'errs'::regnamespace) AS rels;

-- two documents pasted into one: the second header is not left out as a
-- comment without a word; a comment that only mentions an @ stays a comment
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */
/**
 * @matview-name b
 */ SELECT 1 AS x$$);
SELECT pipeline.define(E'/**\n * @matview-schema errs\n * @matview-name a\n * @interval-in-minutes 5\n */\n/**\n\u00a0* @matview-name b\n */ SELECT 1 AS x');
-- only before the query's first token: a header in a string, a comment
-- after a token or a glob in a string followed by a prefix operator is
-- the query's own
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x /* mail @matview-name owners; see @nobody */,
  format($t$/**
 * @matview-schema %s
 * @matview-name copy
 */ SELECT 1$t$, 'errs') AS document,
  '/static/*' AS glob, -- a /* in a comment
  @ -1 AS expect$$);
SELECT pipeline.drop_matview('errs.mv_a');

-- missing required keys
SELECT pipeline.define($$/**
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 */ SELECT 1 AS x$$);
-- bad intervals
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 1.5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 0
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes -5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 99999999999
 */ SELECT 1 AS x$$);
-- unknown and duplicated keys, bad values
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 * @colour blue
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @matview-name b
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @matview-type sometimes
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @matview-type regular
 * @update-mode append
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes
 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * this line is prose
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
-- a header on one line: the missing key's error says where it went
SELECT pipeline.define($$/** @matview-schema errs @matview-name a @interval-in-minutes 5 */ SELECT 1 AS x$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 * @incremental-key id
 */ SELECT 1 AS id$$);
-- a lake publication has no key to add a type for
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name lake_key
 * @matview-type unload
 * @unload-destination /tmp/pipeline_never_written
 * @interval-in-minutes 5
 * @incremental-key id
 */ SELECT 1 AS id$$);
-- header problems
SELECT pipeline.define('SELECT 1');
SELECT pipeline.define('/** @matview-schema errs');
SELECT pipeline.define(NULL);
-- no query, two statements, not a query
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ $$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ ;$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x; SELECT 2 AS y$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x; DROP TABLE errs.raw$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ INSERT INTO errs.raw VALUES (1, 'x')$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ DELETE FROM errs.raw$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ CREATE TABLE errs.other (x int)$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT * INTO errs.other FROM errs.raw$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ WITH d AS (DELETE FROM errs.raw RETURNING *) SELECT * FROM d$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELEC 1$$);
-- missing table and column
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT * FROM errs.no_such_table$$);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT no_such_column FROM errs.raw$$);
-- missing schema: an error with a hint, never created behind the user's back
SELECT pipeline.define($$/**
 * @matview-schema no_such_schema
 * @matview-name a
 * @interval-in-minutes 5
 */ SELECT 1 AS x$$);
SELECT count(*) FROM pg_namespace WHERE nspname = 'no_such_schema';
-- create_matview's own checks
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '0.5 seconds');
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '-1 minute');
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '1 day -23 hours');
-- at most 1,000 years, also beyond int64 microseconds (not a bare
-- "interval out of range", nor a wrapped value)
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '1001 years');
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '178000000 years');
SELECT pipeline.time_label('178000000 years', '2026-01-01');
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x', '1 minute', 'weekly');
SELECT pipeline.create_matview('errs', 'a', NULL, '1 minute');
SELECT pipeline.create_matview('errs', '', 'SELECT 1 AS x', '1 minute');
SELECT pipeline.create_matview('', 'a', 'SELECT 1 AS x', '1 minute');
SELECT pipeline.create_matview('errs', '  ', 'SELECT 1 AS x', '1 minute');
SELECT pipeline.create_matview('errs', ' a', 'SELECT 1 AS x', '1 minute');
SELECT pipeline.create_matview('errs', repeat('x', 61), 'SELECT 1 AS x', '1 minute');
-- a relation of that name that pipeline does not manage
CREATE TABLE errs.mv_taken (x int);
SELECT pipeline.create_matview('errs', 'taken', 'SELECT 1 AS x', '1 minute');
DROP TABLE errs.mv_taken;
-- create_matview's query is checked as a DPL document's is; the errors name the argument
SELECT pipeline.create_matview('errs', 'a', ' ; ', '1 minute');
SELECT pipeline.create_matview('errs', 'a', 'SELECT 1 AS x; SELECT 2 AS y', '1 minute');
-- the second statement shown from its first token (past comments), up to
-- its end, by its first 40 bytes, whole characters, on one line
SELECT pipeline.create_matview('errs', 'a', E'SELECT 1 AS x; -- why\n /* note */ SELECT 2; SELECT 3', '1 minute');
SELECT pipeline.create_matview('errs', 'a', E'SELECT 1 AS x;\n\tSELECT ''ééééééééééééééééééééé'' AS y FROM errs.raw', '1 minute');
SELECT pipeline.create_matview('errs', 'a', 'DELETE FROM errs.raw', '1 minute');
SELECT pipeline.create_matview('errs', 'a', 'SELECT * INTO errs.other FROM errs.raw', '1 minute');
-- drop_matview of something unmanaged
SELECT pipeline.drop_matview('errs.raw');
SELECT pipeline.drop_matview(NULL);

-- nothing above left anything behind
SELECT (SELECT count(*) FROM pipeline.matview_definitions) = views AS views_unchanged,
       (SELECT count(*) FROM pipeline.edges) = edges AS edges_unchanged,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'errs'::regnamespace) = rels AS relations_unchanged
  FROM catalog_before;

-- a value may hold "@key" itself: PostgreSQL's @ (absolute value) of a
-- column named like a key, in an expectation
CREATE TABLE errs.at_keys (expect int);
INSERT INTO errs.at_keys VALUES (-3), (7);
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name at_keys
 * @interval-in-minutes 5
 * @expect bounded: @expect < 100
 */ SELECT expect FROM errs.at_keys$$);
SELECT count(*) FROM errs.mv_at_keys;
SELECT pipeline.drop_matview('errs.mv_at_keys');

-- key values are read ignoring case, as create_matview() reads them
SELECT pipeline.define($$/**
 * @matview-schema errs
 * @matview-name spelled
 * @matview-type Regular
 * @refresh-mode FULL
 * @interval-in-minutes 5
 */ SELECT expect FROM errs.at_keys$$);
SELECT matview_type, refresh_mode FROM pipeline.matviews WHERE matview = 'errs.mv_spelled'::regclass;
SELECT pipeline.create_matview('errs', 'spelled2', 'SELECT expect FROM errs.at_keys', '5 minutes',
                               matview_type => 'Regular', refresh_mode => 'FULL');
SELECT pipeline.drop_matview('errs.mv_spelled');
SELECT pipeline.drop_matview('errs.mv_spelled2');

-- in a read-only transaction the write calls refuse by their own name
BEGIN READ ONLY;
SELECT pipeline.create_matview('errs', 'ro', 'SELECT 1 AS x', '5 minutes');
ROLLBACK;
BEGIN READ ONLY;
SELECT pipeline.stage('/** @matview-schema errs
@matview-name ro
@interval-in-minutes 5 */ SELECT 1 AS x');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM pipeline.ingest('errs.at_keys', '[]');
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM pipeline.apply_changes('errs.at_keys', 'errs.at_keys', ARRAY['expect'], 'expect');
ROLLBACK;

DROP SCHEMA errs CASCADE;
