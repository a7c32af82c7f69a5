-- Three ways a differential view parted from its recompute (h132):
-- (1) a column of a type without equality (json, point, xml) read inside
-- an expression: a refresh whose change had to be consolidated grouped the
-- change log by it and failed, every time; (2) an expression failing on a
-- pair of rows neither snapshot holds with an error other than a data
-- exception (a domain's CHECK, infinity as an integer) failed the refresh
-- instead of recomputing; (3) text read at refresh time as a range, an
-- array or a function's column of dates or times reads the clock ('now'),
-- which a refresh of the changed rows alone cannot follow.  Each view is
-- compared with its query after every refresh.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
RESET client_min_messages;
-- differential however large the change (a few rows are most of these tables)
SET pipeline.differential_max_fraction = 1;
CREATE SCHEMA dv;
CREATE FUNCTION dv.differs(view regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  query text := (SELECT d.bound_query FROM pipeline.matview_definitions d WHERE d.matview = view);
  n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT * FROM %s)) x',
                 view, query, query, view) INTO n;
  RETURN n;
END $$;

-- (1) json, point and xml read inside expressions, in a filter, a group
-- key's expression and a join condition
CREATE TABLE dv.docs (id int PRIMARY KEY, j json, p point, x xml);
CREATE TABLE dv.tags (id int PRIMARY KEY, j json);
INSERT INTO dv.docs VALUES (1, '{"a": 1}', '(1,1)', '<a>1</a>'), (2, '{"a": 2}', '(2,2)', '<a>2</a>');
INSERT INTO dv.tags VALUES (1, '{"a": 1}'), (2, '{"a": 9}');
SELECT pipeline.create_matview('dv', 'doc_a', 'SELECT id, j->>''a'' AS a FROM dv.docs', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'near', 'SELECT id FROM dv.docs WHERE p <-> point(0,0) < 2', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'by_x', 'SELECT x::text AS xt, count(*) AS n FROM dv.docs GROUP BY x::text', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'same_a', 'SELECT d.id FROM dv.docs d JOIN dv.tags t ON d.j->>''a'' = t.j->>''a''', '1 hour', refresh_mode => 'differential');
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE schema_name = 'dv' ORDER BY name;
INSERT INTO dv.docs VALUES (3, '{"a": 3}', '(0,1)', '<a>1</a>');
UPDATE dv.docs SET j = '{"a": 9}', p = '(0,0)' WHERE id = 2;
DELETE FROM dv.docs WHERE id = 1;
UPDATE dv.tags SET j = '{"a":3}' WHERE id = 1;
-- a row whose json changes only in how it is spelled
UPDATE dv.docs SET j = '{"a":3}' WHERE id = 3;
SELECT v, status, dv.differs(v) AS differs
  FROM unnest(ARRAY['dv.mv_doc_a', 'dv.mv_near', 'dv.mv_by_x', 'dv.mv_same_a']::regclass[]) v,
       pipeline.refresh(v, false) r;
DELETE FROM dv.docs;
SELECT v, status, dv.differs(v) AS differs
  FROM unnest(ARRAY['dv.mv_doc_a', 'dv.mv_near', 'dv.mv_by_x', 'dv.mv_same_a']::regclass[]) v,
       pipeline.refresh(v, false) r;
-- grouped by text written exactly whatever the session's settings: two
-- points that print alike with extra_float_digits = 0 stay two values
INSERT INTO dv.docs VALUES (1, '{}', point(1.0000000000000002, 0), NULL), (2, '{}', point(5, 5), NULL);
SELECT status FROM pipeline.refresh('dv.mv_near', false);
UPDATE dv.docs SET p = point(1, 0) WHERE id = 1;
SET extra_float_digits = 0;
SELECT status FROM pipeline.refresh('dv.mv_near', false);
RESET extra_float_digits;
SELECT dv.differs('dv.mv_near') AS differs;
-- an array of such a type is not read differentially: one value of a
-- group is taken as an array's element
CREATE TABLE dv.lists (id int PRIMARY KEY, a json[]);
SELECT pipeline.create_matview('dv', 'firsts', 'SELECT id, (a[1])->>''k'' AS k FROM dv.lists', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'firsts', 'SELECT id, (a[1])->>''k'' AS k FROM dv.lists', '1 hour');
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE schema_name = 'dv' AND name = 'firsts';

-- (2) both rows of a pair changed: the new row of one with the old of the
-- other is neither snapshot's, and its cast fails; the view is recomputed
CREATE DOMAIN dv.even AS int CHECK (VALUE % 2 = 0);
CREATE TABLE dv.a (k int PRIMARY KEY, v float8);
CREATE TABLE dv.b (k int PRIMARY KEY, w float8);
INSERT INTO dv.a VALUES (1, 1), (2, 1);
INSERT INTO dv.b VALUES (1, 1), (2, 1);
SELECT pipeline.create_matview('dv', 'evens', 'SELECT a.k, (a.v + b.w)::int::dv.even AS s FROM dv.a JOIN dv.b ON a.k = b.k', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'gaps', 'SELECT a.k, (CASE WHEN a.v = b.w THEN 0 ELSE a.v - b.w END)::int AS g FROM dv.a JOIN dv.b ON a.k = b.k', '1 hour', refresh_mode => 'differential');
BEGIN;
UPDATE dv.a SET v = 2 WHERE k = 1;
UPDATE dv.b SET w = 2 WHERE k = 1;
UPDATE dv.a SET v = 'Infinity' WHERE k = 2;
UPDATE dv.b SET w = 'Infinity' WHERE k = 2;
COMMIT;
SELECT v, status, dv.differs(v) AS differs
  FROM unnest(ARRAY['dv.mv_gaps']::regclass[]) v, pipeline.refresh(v, false) r;
UPDATE dv.a SET v = 1 WHERE k = 2;
UPDATE dv.b SET w = 1 WHERE k = 2;
SELECT v, status, dv.differs(v) AS differs
  FROM unnest(ARRAY['dv.mv_evens', 'dv.mv_gaps']::regclass[]) v, pipeline.refresh(v, false) r;
SELECT * FROM dv.mv_evens ORDER BY k;
-- an error of the data itself still fails the refresh, as the recompute does
UPDATE dv.a SET v = 2 WHERE k = 2;
SELECT v, status FROM unnest(ARRAY['dv.mv_evens']::regclass[]) v, pipeline.refresh(v, false) r;

-- (3) text read as a range, an array or a function's column of dates or
-- times: 'now' in the data is the refresh's clock
CREATE TABLE dv.spans (id int PRIMARY KEY, s text, j jsonb);
SELECT pipeline.create_matview('dv', 'ranges', 'SELECT id, (''['' || s || '','' || s || '']'')::tstzrange AS r FROM dv.spans', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'days', 'SELECT id, (''{'' || s || ''}'')::date[] AS d FROM dv.spans', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'stamps', 'SELECT t.id, x.at FROM dv.spans t, jsonb_to_record(t.j) AS x(at timestamptz)', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('dv', 'ranges', 'SELECT id, (''['' || s || '','' || s || '']'')::tstzrange AS r FROM dv.spans', '1 hour');
SELECT pipeline.create_matview('dv', 'stamps', 'SELECT t.id, x.at FROM dv.spans t, jsonb_to_record(t.j) AS x(at timestamptz)', '1 hour');
CREATE TYPE dv.stamped AS (at timestamptz, n int);
SELECT pipeline.create_matview('dv', 'rows', 'SELECT t.id, x.r FROM dv.spans t, jsonb_to_record(t.j) AS x(r dv.stamped)', '1 hour', refresh_mode => 'differential');
-- of numbers it is no clock
SELECT pipeline.create_matview('dv', 'numbers', 'SELECT id, (''{'' || s || ''}'')::int[] AS n, x.k FROM dv.spans t, jsonb_to_record(t.j) AS x(k int)', '1 hour');
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE schema_name = 'dv' AND name IN ('ranges', 'stamps', 'numbers') ORDER BY name;

SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'dv';
DROP SCHEMA dv CASCADE;
