-- A lake publication's paths and files do not depend on the TimeZone of
-- the session that runs it: a timestamptz is written in UTC (h138 R6:
-- before, a refresh() from a session in another time zone rewrote every
-- partition under new names, and called the delete function for each old
-- one).  unload() writes the same way.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SELECT current_setting('data_directory') || '/publication_timezone' AS lake \gset
CREATE SCHEMA ptz;
CREATE TABLE ptz.ticks (id int PRIMARY KEY, at timestamptz, v int);
INSERT INTO ptz.ticks VALUES (1, '2026-01-01 10:00+00', 1), (2, '2026-01-02 23:30+00', 2);
CREATE TABLE ptz.deleted (path text);
CREATE FUNCTION ptz.forget(path text) RETURNS void LANGUAGE sql AS 'INSERT INTO ptz.deleted VALUES (path)';

SET TimeZone = 'Asia/Tokyo';
SELECT pipeline.create_matview('ptz', 'ticks_lake', 'SELECT id, v, at FROM ptz.ticks', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/ticks', 'unload-partition-by', 'at',
                                     'unload-delete-function', 'ptz.forget'));
SELECT partition, rows FROM ptz.mv_ticks_lake ORDER BY partition;
-- from another time zone: nothing to write, nothing deleted
SET TimeZone = 'America/Los_Angeles';
SELECT count(*) FROM pipeline.refresh('ptz.mv_ticks_lake');
SELECT partition, rows FROM ptz.mv_ticks_lake ORDER BY partition;
SELECT count(*) AS delete_calls FROM ptz.deleted;
SELECT pg_read_file(:'lake' || '/ticks/at=2026-01-02%2023%3A30%3A00%2B00/part-00000.csv');

-- unload() alike
SELECT regexp_replace(path, '^.*/once/', '') AS path, rows
  FROM pipeline.unload('SELECT id, at FROM ptz.ticks', :'lake' || '/once', '{at}') ORDER BY 1;
SELECT pg_read_file(:'lake' || '/once/at=2026-01-01%2010%3A00%3A00%2B00/part-00000.csv');
RESET TimeZone;

SELECT pipeline.drop_matview('ptz.mv_ticks_lake');
DROP SCHEMA ptz CASCADE;
