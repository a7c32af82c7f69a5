-- A differential refresh pairs one source's changed rows with another's
-- rows of the other snapshot (a join's delta, term by term), and an
-- expression can fail on such a pair, which neither snapshot holds: the
-- refresh failed where the query runs.  Now such a data error makes the
-- refresh recompute the view, and only the query's own error fails it.
-- And a query with HAVING but no GROUP BY and no aggregate is grouped (one
-- row, or none): it was maintained as a plain select list, one row per
-- source row.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
RESET client_min_messages;
CREATE SCHEMA mix;
CREATE TABLE mix.a (id int, v int);
CREATE TABLE mix.b (id int, v int);
INSERT INTO mix.a VALUES (1, 5), (2, 7);
INSERT INTO mix.b VALUES (1, 3), (2, 1);
SELECT pipeline.create_matview('mix', 'ratio',
  'SELECT x.id, 10 / (x.v - y.v) AS r FROM mix.a x JOIN mix.b y ON x.id = y.id',
  '1 hour', refresh_mode => 'differential');
-- both sides of id 1 change in one window: (3, 3) pairs the new a with
-- the old b, 3 - 3 = 0
UPDATE mix.a SET v = 3 WHERE id = 1;
UPDATE mix.b SET v = 1 WHERE id = 1;
SELECT matview, status FROM pipeline.run_due(now() + interval '2 hours');
SELECT detail FROM pipeline.runs WHERE matview = 'mix.mv_ratio'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT * FROM mix.mv_ratio ORDER BY id;
-- the next change goes differentially again
UPDATE mix.a SET v = 12 WHERE id = 2;
SELECT matview, status FROM pipeline.run_due(now() + interval '4 hours');
SELECT detail FROM pipeline.runs WHERE matview = 'mix.mv_ratio'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT * FROM mix.mv_ratio ORDER BY id;
-- the query's own error still fails the refresh, and the view keeps its rows
UPDATE mix.b SET v = 3 WHERE id = 1;
SELECT matview, status FROM pipeline.run_due(now() + interval '6 hours');
SELECT error FROM pipeline.runs WHERE matview = 'mix.mv_ratio'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT * FROM mix.mv_ratio ORDER BY id;

-- HAVING without GROUP BY or aggregates: refused differentially, full in auto
SELECT pipeline.create_matview('mix', 'having', 'SELECT 1 AS one FROM mix.a HAVING 1 = 1',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('mix', 'having', 'SELECT 1 AS one FROM mix.a HAVING 1 = 1', '1 hour');
SELECT refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE matview = 'mix.mv_having'::regclass;
INSERT INTO mix.a VALUES (3, 9);
SELECT count(*) FROM pipeline.refresh('mix.mv_having');
SELECT (SELECT count(*) FROM mix.mv_having) AS view_rows,
       (SELECT count(*) FROM (SELECT 1 AS one FROM mix.a HAVING 1 = 1) q) AS query_rows;

SET client_min_messages = warning;
SELECT pipeline.drop_matview('mix.mv_ratio');
SELECT pipeline.drop_matview('mix.mv_having');
DROP SCHEMA mix CASCADE;
