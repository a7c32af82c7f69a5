-- The status picture: pipeline.graph(format, with_status => true) colours
-- each managed view by its health (running > failed > blocked >
-- sla_breached > skipped > ok; never_run; unknown to a role that may not
-- see it) and adds its last status, freshness and last duration.
-- Freshness and durations depend on the clock: they are normalised here,
-- and duration_label() is checked on fixed values.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET pipeline.retry_backoff = 0;

-- the compact durations of the labels: the largest unit, rounded down
SELECT d, pipeline.duration_label(d)
  FROM unnest(ARRAY[interval '0', '0.3405 s', '0.9999 s', '1 s', '1.25 s', '9.99 s', '42.7 s',
                    '59.9 s', '60 s', '5 min 59 s', '1 h', '2 h 59 min', '23 h 59 min',
                    '1 day', '3 days 4 hours', '-90 s']) d;
SELECT pipeline.duration_label(NULL) IS NULL AS null_is_null;

-- what the picture shows is every view of the database: none is left from
-- another test
SELECT count(*) AS other_views FROM pipeline.matviews;

CREATE SCHEMA gs;
CREATE TABLE gs.orders (id int, amount text);
CREATE TABLE gs.events (id int);
CREATE TABLE gs.products (id int);
INSERT INTO gs.orders VALUES (1, '10.5'), (2, '4');
INSERT INTO gs.events VALUES (1);
INSERT INTO gs.products VALUES (1);
SELECT pipeline.create_matview('gs', 'amounts', 'SELECT id, amount::numeric AS amount FROM gs.orders', '1 hour');
SELECT pipeline.create_matview('gs', 'revenue', 'SELECT sum(amount) AS total FROM gs.mv_amounts', '1 hour');
SELECT pipeline.create_matview('gs', 'activity', 'SELECT count(*) AS n FROM gs.events', '30 minutes');
SELECT pipeline.create_matview('gs', 'catalog', 'SELECT count(*) AS n FROM gs.products', '30 minutes');
-- an SLA of an hour, which labels of January 2026 are far beyond
SELECT pipeline.create_matview('gs', 'late', 'SELECT max(id) AS last_id FROM gs.events', '1 hour',
                               options => '{"freshness-sla-minutes": "60"}');

-- 00:00 every view runs; 01:00 a bad amount fails amounts, which blocks
-- revenue; activity and late read a new event, catalog is unchanged
-- (skipped); late succeeded but is over its SLA
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
INSERT INTO gs.orders VALUES (3, 'n/a');
INSERT INTO gs.events VALUES (2);
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');
-- defined now: never run
SELECT pipeline.create_matview('gs', 'later', 'SELECT n FROM gs.mv_catalog', '1 day');
SELECT matview, last_status, blocked_by FROM pipeline.status ORDER BY matview::text;

-- with_status false (the default) or NULL: the graph without status (whose
-- output sql/dag.sql and sql/access.sql check)
SELECT pipeline.graph('dot', false) = pipeline.graph('dot') AS dot_same,
       pipeline.graph('mermaid', with_status => false) = pipeline.graph('mermaid') AS mermaid_same,
       pipeline.graph('json', NULL) = pipeline.graph('json') AS json_same;

-- dot: filled by health, a status line, "blocked by", a legend; the age
-- of the data and the last run's duration vary, so they are replaced
SELECT regexp_replace(regexp_replace(pipeline.graph('dot', true),
                      ' · -?[0-9.]+ (ms|s|min|h|d) fresh', ' · <age> fresh', 'g'),
                      ' · [0-9.]+ (ms|s|min|h|d)', ' · <took>', 'g') AS dot
\g (format=unaligned tuples_only=on)

-- mermaid: a classDef per health shown, and its nodes
SELECT regexp_replace(regexp_replace(pipeline.graph('mermaid', true),
                      ' · -?[0-9.]+ (ms|s|min|h|d) fresh', ' · <age> fresh', 'g'),
                      ' · [0-9.]+ (ms|s|min|h|d)', ' · <took>', 'g') AS mermaid
\g (format=unaligned tuples_only=on)

-- json: each managed node gains status, health, freshness (whole seconds
-- since its last successful label), last_duration_ms, sla_breached and
-- blocked_by; source relations are as without status
SELECT n->>'relation' AS relation, n->>'status' AS status, n->>'health' AS health,
       jsonb_typeof(n->'freshness') AS freshness, (n->>'freshness')::bigint > 0 AS aged,
       jsonb_typeof(n->'last_duration_ms') AS last_duration_ms,
       n->'sla_breached' AS sla_breached, n->'blocked_by' AS blocked_by
  FROM jsonb_array_elements(pipeline.graph('json', true)::jsonb->'nodes') n;
SELECT count(*) FILTER (WHERE n ? 'health') AS nodes_with_health,
       count(*) FILTER (WHERE n->>'managed' = 'false' AND n ? 'health') AS sources_with_health
  FROM jsonb_array_elements(pipeline.graph('json', true)::jsonb->'nodes') n;
SELECT (pipeline.graph('json', true)::jsonb->'edges') = (pipeline.graph('json')::jsonb->'edges') AS same_edges;

-- a run in progress outranks everything; it shows the last finished duration
INSERT INTO pipeline.runs (matview, time_label, status, worker_pid)
VALUES ('gs.mv_amounts', '2026-01-01 01:30+00', 'running', 0);
SELECT n->>'relation' AS relation, n->>'status' AS status, n->>'health' AS health
  FROM jsonb_array_elements(pipeline.graph('json', true)::jsonb->'nodes') n
 WHERE n->>'relation' = 'gs.mv_amounts';
DELETE FROM pipeline.runs WHERE status = 'running' AND matview = 'gs.mv_amounts'::regclass;

-- fixed: amounts and revenue recover
DELETE FROM gs.orders WHERE amount = 'n/a';
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
SELECT n->>'relation' AS relation, n->>'status' AS status, n->>'health' AS health, n->'blocked_by' AS blocked_by
  FROM jsonb_array_elements(pipeline.graph('json', true)::jsonb->'nodes') n
 WHERE n->>'managed' = 'true';

-- a role that may read only activity: the rest is "unknown", without status
CREATE ROLE gs_reader;
GRANT USAGE ON SCHEMA gs TO gs_reader;
GRANT SELECT ON gs.mv_activity TO gs_reader;
SET ROLE gs_reader;
SELECT n->>'relation' AS relation, n->>'managed' AS managed, n->>'status' AS status,
       n->>'health' AS health, jsonb_typeof(n->'freshness') AS freshness, n->'blocked_by' AS blocked_by
  FROM jsonb_array_elements(pipeline.graph('json', true)::jsonb->'nodes') n;
SELECT regexp_replace(regexp_replace(pipeline.graph('mermaid', true),
                      ' · -?[0-9.]+ (ms|s|min|h|d) fresh', ' · <age> fresh', 'g'),
                      ' · [0-9.]+ (ms|s|min|h|d)', ' · <took>', 'g') AS mermaid
\g (format=unaligned tuples_only=on)
RESET ROLE;

-- a bad format is refused with status too
SELECT pipeline.graph('png', true);

SELECT pipeline.drop_matview('gs.mv_amounts', cascade => true);
SELECT pipeline.drop_matview('gs.mv_catalog', cascade => true);
SELECT pipeline.drop_matview('gs.mv_activity');
SELECT pipeline.drop_matview('gs.mv_late');
DROP SCHEMA gs CASCADE;
DROP ROLE gs_reader;
