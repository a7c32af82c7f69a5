-- Defining views, inferring the DAG, refreshing in its order, dropping.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE SCHEMA src;
CREATE SCHEMA "we;ird ""schema";
CREATE TABLE src.a (id int PRIMARY KEY, v int);
CREATE TABLE src.b (id int, w int);
INSERT INTO src.a SELECT g, g * 10 FROM generate_series(1, 5) g;
INSERT INTO src.b SELECT g, g FROM generate_series(1, 3) g;
-- a plain (unmanaged) view between a source and a managed view
CREATE VIEW src.a_view AS SELECT id, v FROM src.a WHERE v > 10;

-- Datacoral spellings, trailing semicolon, comment in the query
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema src
 * @matview-name level1
 * @table-type regular
 * @update-mode replace
 * @interval-in-minutes 30
 */
SELECT x.id, x.v + coalesce(y.w, 0) AS total   -- alias x, y
  FROM src.a AS x LEFT JOIN src.b y USING (id);
$$);

-- subquery, CTE and a plain view: all found by the analyzer
SELECT pipeline.create_matview('src', 'level2', $$
  WITH big AS (SELECT id, total FROM src.mv_level1 WHERE total > 20)
  SELECT big.id, big.total, (SELECT count(*) FROM src.b) AS nb
    FROM big WHERE big.id IN (SELECT id FROM src.a_view)
$$, '1 hour');

-- names that need quoting, with quotes and semicolons, never executed as SQL
SELECT pipeline.create_matview('we;ird "schema', 'top"; DROP TABLE src.a; --', $$
  SELECT l2.id, l2.total * 2 AS doubled FROM src.mv_level2 l2
$$, '2 hours');
SELECT count(*) AS src_a_still_there FROM src.a;

-- a managed view read only through a plain view still is an upstream
CREATE VIEW src.level1_view AS SELECT * FROM src.mv_level1;
SELECT pipeline.create_matview('src', 'via_view', 'SELECT count(*) AS n FROM src.level1_view', '1 minute');

SELECT matview, schema_name, name, matview_type, refresh_interval, columns, version
  FROM pipeline.matviews ORDER BY matview::text;
SELECT upstream, downstream FROM pipeline.edges ORDER BY downstream::text, upstream::text;

SELECT * FROM pipeline.upstream('"we;ird ""schema"."mv_top""; DROP TABLE src.a; --"');
SELECT * FROM pipeline.downstream('src.a');
SELECT * FROM pipeline.downstream('src.mv_level2');
SELECT * FROM pipeline.refresh_order();
SELECT * FROM pipeline.upstream('src.a');
-- a null argument is refused by name (1.14), an OID of no relation too
SELECT * FROM pipeline.upstream(NULL);
SELECT * FROM pipeline.upstream(0);
SELECT * FROM pipeline.downstream(NULL);
SELECT * FROM pipeline.downstream(0);
SELECT pipeline.graph(NULL);

-- views are created populated
SELECT * FROM "we;ird ""schema"."mv_top""; DROP TABLE src.a; --" ORDER BY id;

-- refresh with cascade: every downstream view, each once, after its upstreams
INSERT INTO src.a VALUES (6, 60);
UPDATE src.b SET w = 100 WHERE id = 3;
SELECT matview, status, rows FROM pipeline.refresh('src.mv_level1');
SELECT * FROM "we;ird ""schema"."mv_top""; DROP TABLE src.a; --" ORDER BY id;
SELECT * FROM src.mv_via_view;
-- without cascade only the view itself
INSERT INTO src.a VALUES (7, 70);
SELECT matview, status, rows FROM pipeline.refresh('src.mv_level1', cascade => false);
SELECT count(*) FROM src.mv_level1;
SELECT count(*) FROM src.mv_level2;
-- a unique index makes refresh CONCURRENTLY (readers are not blocked)
CREATE UNIQUE INDEX ON src.mv_level1 (id);
SELECT matview, status, rows FROM pipeline.refresh('src.mv_level1', false);
SELECT count(*) FROM src.mv_level1;

-- graph renderings
SELECT pipeline.graph('dot');
SELECT pipeline.graph('mermaid');
SELECT jsonb_pretty(pipeline.graph('json')::jsonb);
SELECT pipeline.graph('png');

-- time labels: epoch aligned, UTC
SELECT pipeline.time_label('2 hours', '2026-11-21 13:45:00+00');
SELECT pipeline.time_label('30 minutes', '2026-11-21 13:45:00+05');
SELECT pipeline.time_label('7 seconds', '1970-01-01 00:00:13+00');
SELECT pipeline.time_label('1 hour', '1969-12-31 23:30:00+00');
SELECT pipeline.time_label('0 seconds', now());

-- drop: refused while managed views depend on it, unless cascade
SELECT pipeline.drop_matview('src.mv_level2');
SELECT count(*) FROM pipeline.matviews;
SELECT pipeline.drop_matview('src.mv_via_view');
DROP VIEW src.level1_view;
SELECT pipeline.drop_matview('src.mv_level2', cascade => true);
SELECT matview FROM pipeline.matviews;
SELECT * FROM pipeline.edges;
SELECT count(*) FROM pg_class WHERE relname IN ('mv_level2', 'mv_top"; DROP TABLE src.a; --');
-- a plain view over it: PostgreSQL's refusal, with a hint naming
-- drop_matview()'s cascade (DROP's own would meet the guard); nothing dropped
CREATE VIEW src.level1_plain AS SELECT * FROM src.mv_level1;
SELECT pipeline.drop_matview('src.mv_level1');
SELECT count(*) FROM pipeline.matviews WHERE matview = 'src.mv_level1'::regclass;
DROP VIEW src.level1_plain;
SELECT pipeline.drop_matview('src.mv_level1');

-- dropped over a list in one statement, the downstream view first: each
-- call sees what the calls before it dropped
SELECT pipeline.create_matview('src', 'first', 'SELECT id FROM src.a', '1 minute');
SELECT pipeline.create_matview('src', 'second', 'SELECT id FROM src.mv_first', '1 minute');
SELECT pipeline.drop_matview(v) FROM unnest('{src.mv_second,src.mv_first}'::regclass[]) v;
SELECT count(*) FROM pipeline.matviews WHERE schema_name = 'src';

-- ownership and rights: CREATE on the schema + SELECT on the sources suffice
CREATE ROLE pipeline_analyst;
CREATE SCHEMA analytics AUTHORIZATION pipeline_analyst;
GRANT USAGE ON SCHEMA src TO pipeline_analyst;
GRANT SELECT ON src.a TO pipeline_analyst;
SET ROLE pipeline_analyst;
SELECT pipeline.create_matview('analytics', 'mine', 'SELECT id FROM src.a', '1 minute');
SELECT owner FROM pipeline.matviews WHERE name = 'mine';
SELECT relation FROM pipeline.upstream('analytics.mv_mine');
-- no SELECT on src.b: refused by PostgreSQL's own permission check
SELECT pipeline.create_matview('analytics', 'theirs', 'SELECT id FROM src.b', '1 minute');
-- no CREATE on schema src
SELECT pipeline.create_matview('src', 'mine', 'SELECT id FROM src.a', '1 minute');
-- the catalogs are readable but not writable
SELECT count(*) FROM pipeline.matview_definitions;
DELETE FROM pipeline.matview_definitions;
INSERT INTO pipeline.edges VALUES ('src.a', 'analytics.mv_mine');
UPDATE pipeline.matview_definitions SET version = 99;
SELECT matview, status FROM pipeline.refresh('analytics.mv_mine');
GRANT USAGE ON SCHEMA analytics TO PUBLIC;
RESET ROLE;
-- someone else may not refresh or drop it
CREATE ROLE pipeline_stranger;
SET ROLE pipeline_stranger;
SELECT matview, status FROM pipeline.refresh('analytics.mv_mine');
SELECT pipeline.drop_matview('analytics.mv_mine');
RESET ROLE;
-- a view another role built on it: the owner's refresh (cascade) refreshes
-- its own views and leaves that one to its schedule, saying so (it failed
-- with "must be owner", refreshing nothing)
CREATE SCHEMA stranger AUTHORIZATION pipeline_stranger;
GRANT SELECT ON analytics.mv_mine TO pipeline_stranger;
SET ROLE pipeline_stranger;
SELECT pipeline.create_matview('stranger', 'theirs', 'SELECT count(*) AS n FROM analytics.mv_mine', '1 minute');
RESET ROLE;
SET ROLE pipeline_analyst;
SELECT pipeline.create_matview('analytics', 'mine_too', 'SELECT count(*) AS n FROM analytics.mv_mine', '1 minute');
RESET ROLE;
INSERT INTO src.a SELECT max(id) + 1 FROM src.a;
SET ROLE pipeline_analyst;
SET client_min_messages = notice;
SELECT matview, status FROM pipeline.refresh('analytics.mv_mine');
SET client_min_messages = warning;
RESET ROLE;
SELECT (SELECT n FROM stranger.mv_theirs) + 1 = (SELECT n FROM analytics.mv_mine_too) AS theirs_left_as_it_was;
SELECT pipeline.drop_matview('stranger.mv_theirs');
SELECT pipeline.drop_matview('analytics.mv_mine_too');
DROP SCHEMA stranger;
SELECT pipeline.drop_matview('analytics.mv_mine');
SELECT count(*) FROM pipeline.matviews;

-- mermaid renders labels as HTML: markup in a name is written as entities
CREATE TABLE src."<b>#x" (id int);
SELECT pipeline.create_matview('src', '<img src=x>', 'SELECT id FROM src."<b>#x"', '1 hour');
SELECT line FROM regexp_split_to_table(pipeline.graph('mermaid'), E'\n') line
 WHERE line LIKE '%#lt;%' ORDER BY 1;
SELECT pipeline.drop_matview('src."mv_<img src=x>"');

-- a cascade that fails in a downstream view says which view: nothing is
-- refreshed (the upstream keeps its rows), and the error's context names
-- the downstream view (before, only "division by zero")
CREATE TABLE src.divisors (id int, v int);
INSERT INTO src.divisors VALUES (1, 1), (2, 2);
SELECT pipeline.create_matview('src', 'divisors', 'SELECT id, v FROM src.divisors', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('src', 'quotients', 'SELECT id, 10 / v AS q FROM src.mv_divisors', '1 hour', refresh_mode => 'full');
UPDATE src.divisors SET v = 0 WHERE id = 2;
SELECT matview, status FROM pipeline.refresh('src.mv_divisors');
SELECT id, v FROM src.mv_divisors ORDER BY id;
SELECT pipeline.drop_matview('src.mv_divisors', cascade => true);

-- downstream() of a partition lists the views that read its parent (they
-- read its rows), and of a parent those that read one of its partitions,
-- through levels of partitions and inheritance alike, and with multiple
-- inheritance those that read another parent of a child (they read the
-- child's rows) (1.29; before, only what views name: a partition's came
-- out empty)
CREATE TABLE src.sales (region text, day date, amount int) PARTITION BY LIST (region);
CREATE TABLE src.sales_eu PARTITION OF src.sales FOR VALUES IN ('eu') PARTITION BY RANGE (day);
CREATE TABLE src.sales_eu_2026 PARTITION OF src.sales_eu FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE src.sales_us PARTITION OF src.sales FOR VALUES IN ('us');
CREATE TABLE src.notes (id int, body text);
CREATE TABLE src.notes_archived (archived_at date) INHERITS (src.notes);
CREATE TABLE src.flags (flag text);
CREATE TABLE src.notes_flagged () INHERITS (src.notes, src.flags);
SELECT pipeline.create_matview('src', 'sales_total', 'SELECT sum(amount) AS total FROM src.sales', '1 hour');
SELECT pipeline.create_matview('src', 'eu_sales', 'SELECT day, sum(amount) AS total FROM src.sales_eu GROUP BY day', '1 hour');
SELECT pipeline.create_matview('src', 'eu_days', 'SELECT count(*) AS days FROM src.mv_eu_sales', '1 hour');
SELECT pipeline.create_matview('src', 'archived', 'SELECT count(*) AS n FROM src.notes_archived', '1 hour');
SELECT pipeline.create_matview('src', 'flagged', 'SELECT count(*) AS n FROM src.flags', '1 hour');
SELECT r AS relation, d.matview, d.depth
  FROM unnest(ARRAY['src.sales_eu_2026', 'src.sales_eu', 'src.sales_us', 'src.sales',
                    'src.notes', 'src.notes_archived', 'src.notes_flagged', 'src.flags']::regclass[]) r,
       pipeline.downstream(r) d
 ORDER BY r::text, d.depth, d.matview::text;
SELECT pipeline.drop_matview(v, cascade => true)
  FROM unnest(ARRAY['src.mv_sales_total', 'src.mv_eu_sales', 'src.mv_archived', 'src.mv_flagged']::regclass[]) v;

DROP SCHEMA analytics CASCADE;
DROP SCHEMA src CASCADE;
DROP SCHEMA "we;ird ""schema" CASCADE;
DROP ROLE pipeline_analyst;
DROP ROLE pipeline_stranger;
