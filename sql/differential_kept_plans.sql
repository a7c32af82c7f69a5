-- A session that refreshes many differential views keeps the plans of
-- their statements (the last ones, up to a bound), apart by the size of the
-- change; views stay exact whichever plan runs, and the session's kept
-- plans stay bounded.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA kept;
CREATE TABLE kept.src (k int, v numeric);
INSERT INTO kept.src SELECT g % 50, g FROM generate_series(1, 5000) g;
SELECT count(*) AS views FROM generate_series(1, 12) i,
  LATERAL pipeline.create_matview('kept', 'v' || i,
    format('SELECT k, count(*) AS n, sum(v) AS s, max(v) + %s AS m FROM kept.src GROUP BY k', i),
    '1 hour', refresh_mode => 'differential');
CREATE FUNCTION kept.refresh_all() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT DISTINCT r.status FROM generate_series(1, 12) i,
      LATERAL pipeline.refresh(format('kept.mv_v%s', i)::regclass) r
$$;
CREATE FUNCTION kept.differences() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    total bigint := 0;
    d bigint;
BEGIN
    FOR i IN 1..12 LOOP
        EXECUTE format('SELECT count(*) FROM ((SELECT * FROM kept.mv_v%1$s EXCEPT ALL
                          SELECT k, count(*), sum(v), max(v) + %1$s FROM kept.src GROUP BY k)
                        UNION ALL (SELECT k, count(*), sum(v), max(v) + %1$s FROM kept.src GROUP BY k
                          EXCEPT ALL SELECT * FROM kept.mv_v%1$s)) x', i) INTO d;
        total := total + d;
    END LOOP;
    RETURN total;
END $$;
SELECT * FROM kept.refresh_all();
-- changes of a few rows, of thousands, and a few again: every view
-- refreshed differentially each time, by plans kept or made anew
INSERT INTO kept.src SELECT g % 60, g FROM generate_series(1, 10) g;
SELECT * FROM kept.refresh_all();
SELECT kept.differences();
INSERT INTO kept.src SELECT g % 70, -g FROM generate_series(1, 3000) g;
DELETE FROM kept.src WHERE v BETWEEN 100 AND 1100;
SELECT * FROM kept.refresh_all();
SELECT kept.differences();
UPDATE kept.src SET v = v + 1 WHERE k = 3;
SELECT * FROM kept.refresh_all();
SELECT kept.differences();
SELECT count(*) FILTER (WHERE refresh_mode = 'differential') AS differential
  FROM pipeline.matviews WHERE schema_name = 'kept';
-- the plans kept stay bounded (256 statements of pipeline's, and the
-- session's few others: foreign-key checks, this test's functions)
SELECT count(*) <= 256 + 8 AS bounded FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource';
SELECT count(*) AS dropped FROM generate_series(1, 12) i,
  LATERAL pipeline.drop_matview(format('kept.mv_v%s', i)::regclass);
DROP SCHEMA kept CASCADE;
