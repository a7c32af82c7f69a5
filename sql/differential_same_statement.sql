-- A differential refresh in the statement that writes one of its sources
-- (a data-modifying WITH around it, a statement trigger that refreshes)
-- would see the statement's rows in the source before its change log gets
-- them, with a later command id than the position the refresh saves: the
-- next refresh applied them again.  It is refused while the source has
-- trigger events pending; a refresh in a statement of its own is exact.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA same;
CREATE TABLE same.a (k int, x int);
CREATE TABLE same.b (k int, y int);
INSERT INTO same.a VALUES (0, 0);
INSERT INTO same.b VALUES (0, 0);
SELECT pipeline.create_matview('same', 'j', 'SELECT a.k, a.x, b.y FROM same.a a JOIN same.b b ON a.k = b.k',
                               '1 hour', refresh_mode => 'differential');
SELECT status FROM pipeline.refresh('same.mv_j');
\i test/differences.sql

-- a data-modifying WITH around the refresh
INSERT INTO same.b VALUES (1, 10);
WITH ins AS (INSERT INTO same.a VALUES (1, 100) RETURNING 1)
SELECT r.status FROM (SELECT count(*) FROM ins) s, LATERAL pipeline.refresh('same.mv_j') r;
-- nothing of it happened; a refresh of its own is exact
SELECT status FROM pipeline.refresh('same.mv_j');
SELECT pg_temp.differences('same.mv_j', 'SELECT a.k, a.x, b.y FROM same.a a JOIN same.b b ON a.k = b.k');

-- a statement trigger on a source that refreshes (fires before capture's)
CREATE FUNCTION same.refresh_j() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pipeline.refresh('same.mv_j'); RETURN NULL; END $$;
CREATE TRIGGER a_refresh AFTER INSERT ON same.a FOR EACH STATEMENT EXECUTE FUNCTION same.refresh_j();
INSERT INTO same.b VALUES (2, 20);
INSERT INTO same.a VALUES (2, 200);
DROP TRIGGER a_refresh ON same.a;
INSERT INTO same.a VALUES (2, 200);
SELECT status FROM pipeline.refresh('same.mv_j');
SELECT status FROM pipeline.refresh('same.mv_j');
SELECT pg_temp.differences('same.mv_j', 'SELECT a.k, a.x, b.y FROM same.a a JOIN same.b b ON a.k = b.k');
TABLE same.mv_j ORDER BY k;

-- writes earlier in the transaction, in statements of their own, are fine
BEGIN;
INSERT INTO same.a VALUES (0, 1);
SELECT status FROM pipeline.refresh('same.mv_j');
COMMIT;
SELECT pg_temp.differences('same.mv_j', 'SELECT a.k, a.x, b.y FROM same.a a JOIN same.b b ON a.k = b.k');

SELECT pipeline.drop_matview('same.mv_j');
DROP SCHEMA same CASCADE;
