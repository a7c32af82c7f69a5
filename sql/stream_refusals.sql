-- An incremental (append-only) view refuses a query whose rows are answers
-- that change as data arrives (aggregates, GROUP BY, HAVING, DISTINCT,
-- window functions, LIMIT/OFFSET, set operations other than UNION ALL), at
-- definition, at redefinition and in update sets; a refused call creates
-- and changes nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE SCHEMA streams;
CREATE TABLE streams.events (seq bigint, user_id int, t timestamptz, kind text);
CREATE TABLE streams.more_events (seq bigint, user_id int, t timestamptz, kind text);
INSERT INTO streams.events
SELECT g, g % 3, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', 'click'
  FROM generate_series(1, 9) g;

\set VERBOSITY default
-- the issue's query: one row per changed group appended on every refresh
SELECT pipeline.create_matview('streams', 'per_user',
  'SELECT user_id, max(t) AS t, count(*) AS n FROM streams.events GROUP BY user_id',
  interval '1 hour', matview_type => 'incremental', incremental_key => 't');
\set VERBOSITY terse
-- the same through DPL, with Datacoral's spelling
SELECT pipeline.define($$/**
 * @matview-schema streams
 * @matview-name per_user
 * @update-mode append
 * @incremental-key t
 * @interval-in-minutes 60
 */
SELECT user_id, max(t) AS t, count(*) AS n FROM streams.events GROUP BY user_id$$);
-- one refusal per reason
SELECT pipeline.create_matview('streams', 'r1', 'SELECT max(seq) AS seq FROM streams.events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r2', 'SELECT seq FROM streams.events GROUP BY seq',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r3', 'SELECT 1::bigint AS seq FROM streams.events HAVING true',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r4', 'SELECT DISTINCT seq, kind FROM streams.events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r5',
  'SELECT DISTINCT ON (user_id) seq, user_id FROM streams.events ORDER BY user_id, seq DESC',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r6',
  'SELECT seq, row_number() OVER (PARTITION BY user_id ORDER BY seq) AS nth FROM streams.events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r7', 'SELECT seq FROM streams.events ORDER BY seq LIMIT 5',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r8',
  'SELECT seq FROM streams.events ORDER BY seq FETCH FIRST 5 ROWS ONLY',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r9', 'SELECT seq FROM streams.events OFFSET 2',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r10',
  'SELECT seq FROM streams.events UNION SELECT seq FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r11',
  'SELECT seq FROM streams.events INTERSECT SELECT seq FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r12',
  'SELECT seq FROM streams.events EXCEPT ALL SELECT seq FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
-- inside a UNION ALL branch, a mixed set operation, a subquery or WITH query
-- the key comes from (also through a join)
SELECT pipeline.create_matview('streams', 'r13',
  'SELECT seq FROM streams.events UNION ALL SELECT max(seq) FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r14',
  'SELECT seq FROM streams.events UNION ALL (SELECT seq FROM streams.more_events UNION SELECT 0)',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r15',
  'SELECT * FROM (SELECT user_id, max(t) AS t, count(*) AS n FROM streams.events GROUP BY user_id) s',
  interval '1 hour', matview_type => 'incremental', incremental_key => 't');
SELECT pipeline.create_matview('streams', 'r16',
  'WITH latest AS (SELECT DISTINCT seq FROM streams.events) SELECT seq FROM latest',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'r17',
  'SELECT l.seq, e.kind FROM (SELECT seq FROM streams.events ORDER BY seq LIMIT 3) l JOIN streams.events e USING (seq)',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT count(*) AS nothing_created FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'streams' AND c.relname LIKE 'mv\_%';
SELECT count(*) AS no_catalog_rows FROM pipeline.matviews WHERE schema_name = 'streams';

-- what stays allowed: a plain query, UNION ALL, LIMIT ALL, OFFSET 0, an
-- aggregate that does not make the rows (scalar subquery, a joined lookup
-- the key does not come from), a wrapping subquery
SELECT pipeline.create_matview('streams', 'plain',
  $$SELECT e.seq, e.user_id, e.kind, (SELECT count(*) FROM streams.more_events m WHERE m.user_id = e.user_id) AS seen,
           c.n AS clicks
      FROM (SELECT * FROM streams.events OFFSET 0) e
      LEFT JOIN (SELECT user_id, count(*) AS n FROM streams.events GROUP BY user_id) c USING (user_id)
     WHERE e.kind = 'click' LIMIT ALL$$,
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.create_matview('streams', 'both',
  'SELECT seq, kind FROM streams.events UNION ALL SELECT seq, kind FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT count(*) AS plain_rows FROM streams.mv_plain;
SELECT count(*) AS both_rows FROM streams.mv_both;
-- the same aggregate is fine in a regular view
SELECT pipeline.create_matview('streams', 'per_user',
  'SELECT user_id, max(t) AS t, count(*) AS n FROM streams.events GROUP BY user_id',
  interval '1 hour');

-- redefinition of an existing incremental view (the compile step): refused,
-- the view and its catalog row unchanged
SELECT version, query FROM pipeline.matviews WHERE matview = 'streams.mv_both'::regclass;
SELECT pipeline.create_matview('streams', 'both',
  'SELECT seq, kind FROM streams.events UNION SELECT seq, kind FROM streams.more_events',
  interval '1 hour', matview_type => 'incremental', incremental_key => 'seq');
SELECT pipeline.define($$/**
 * @matview-schema streams
 * @matview-name plain
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 60
 */
SELECT DISTINCT seq, user_id, kind FROM streams.events$$);
-- nor can a regular view become an incremental one with an aggregate
SELECT pipeline.create_matview('streams', 'per_user',
  'SELECT user_id, max(t) AS t, count(*) AS n FROM streams.events GROUP BY user_id',
  interval '1 hour', matview_type => 'incremental', incremental_key => 't');
SELECT name, matview_type, version FROM pipeline.matviews WHERE schema_name = 'streams' ORDER BY name;
SELECT count(*) AS plain_rows_kept FROM streams.mv_plain;

-- check() says why, and changes nothing
SELECT matview, status, detail FROM pipeline.check('streams.mv_plain',
  'SELECT seq, user_id, kind FROM streams.events WINDOW w AS (ORDER BY seq) ORDER BY seq LIMIT 1');
SELECT matview, status, detail FROM pipeline.check($$/**
 * @matview-schema streams
 * @matview-name newer
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 60
 */
SELECT seq, count(*) OVER () AS total FROM streams.events$$);

-- update sets: check_staged reports the refusal, apply_staged refuses and
-- keeps the staged set
SELECT pipeline.stage($$/**
 * @matview-schema streams
 * @matview-name both
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 60
 */
SELECT seq, kind FROM streams.events EXCEPT SELECT seq, kind FROM streams.more_events$$);
SELECT pipeline.stage($$/**
 * @matview-schema streams
 * @matview-name staged_new
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 60
 */
SELECT seq FROM streams.events GROUP BY seq$$);
SELECT matview, status, detail FROM pipeline.check_staged() ORDER BY detail;
SELECT * FROM pipeline.apply_staged();
SELECT name FROM pipeline.staged ORDER BY name;
SELECT name, matview_type, version FROM pipeline.matviews WHERE schema_name = 'streams' ORDER BY name;
SELECT count(*) AS not_created FROM pg_class WHERE relname = 'mv_staged_new';
SELECT pipeline.discard_staged();

-- a staged good redefinition still applies
SELECT pipeline.stage($$/**
 * @matview-schema streams
 * @matview-name both
 * @matview-type incremental
 * @incremental-key seq
 * @interval-in-minutes 60
 */
SELECT seq, kind FROM streams.events WHERE kind = 'click' UNION ALL SELECT seq, kind FROM streams.more_events$$);
SELECT matview, action FROM pipeline.apply_staged();

-- clean up
SELECT pipeline.drop_matview('streams.mv_both');
SELECT pipeline.drop_matview('streams.mv_plain');
SELECT pipeline.drop_matview('streams.mv_per_user');
DROP SCHEMA streams CASCADE;
