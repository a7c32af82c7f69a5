-- unload: nothing half-done shows under a real name, and nothing temporary
-- stays behind, after a success or an error (a kill -9 is test/t/070).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SELECT current_setting('data_directory') || '/durable_unload' AS dir \gset

-- every entry under the lake, hidden ones included, and the journals
CREATE FUNCTION pg_temp.entries(root text) RETURNS SETOF text LANGUAGE sql AS $$
  WITH RECURSIVE t(path) AS (
    SELECT root || '/' || e FROM pg_ls_dir(root, true, false) e
    UNION ALL
    SELECT t.path || '/' || e FROM t, pg_ls_dir(t.path, true, false) e
     WHERE (pg_stat_file(t.path)).isdir)
  SELECT replace(path, root, '<dir>') FROM t ORDER BY 1
$$;
CREATE FUNCTION pg_temp.journals() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_ls_dir('pgsql_tmp_pipeline_unload', true, false)
$$;

-- a new tree, then an overwrite that adds a partition
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload($$SELECT * FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c')) v(p, x)$$,
                       :'dir' || '/t', '{p}');
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload($$SELECT * FROM (VALUES (1, 'A'), (3, 'D')) v(p, x)$$,
                       :'dir' || '/t', '{p}', overwrite => true);
SELECT pg_temp.entries(:'dir');
SELECT pg_read_file(:'dir' || '/t/p=1/part-00000.csv') AS overwritten;
SELECT pg_temp.journals() AS journals;

-- no rows: the destination is still made, empty, as before
SELECT count(*) AS files FROM pipeline.unload('SELECT 1 AS x WHERE false', :'dir' || '/empty');
SELECT pg_temp.entries(:'dir' || '/empty') AS nothing_inside;
SELECT (pg_stat_file(:'dir' || '/empty')).isdir AS made;

-- an error half-way leaves the existing tree as it was, creates nothing
-- and leaves no temporary: not in new directories, not beside files
SELECT * FROM pipeline.unload($$SELECT p, 1 / (p - 4) AS x FROM generate_series(1, 5) p$$,
                              :'dir' || '/t', '{p}', overwrite => true);
SELECT * FROM pipeline.unload($$SELECT p, 1 / (p - 4) AS x FROM generate_series(1, 5) p$$,
                              :'dir' || '/new/deeper', '{p}');
SELECT pg_temp.entries(:'dir');
SELECT pg_read_file(:'dir' || '/t/p=1/part-00000.csv') AS unchanged;
SELECT pg_temp.journals() AS journals;

-- an existing file is refused, and the partition written before it removed
\set VERBOSITY sqlstate
SELECT * FROM pipeline.unload($$SELECT * FROM (VALUES (0, 'z'), (1, 'y')) v(p, x)$$,
                              :'dir' || '/t', '{p}');
SELECT pg_temp.entries(:'dir');

-- a destination whose name is taken by a file
SELECT * FROM pipeline.unload('SELECT 1 AS x', :'dir' || '/t/p=1/part-00000.csv/sub');
\set VERBOSITY default
SELECT pg_temp.journals() AS journals;
