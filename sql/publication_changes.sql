-- Lake publications go by their sources' changes: a run reads the
-- changed partitions' rows only, and reads everything when it cannot know
-- what changed (first run, a truncate, a redefinition, damaged files, a
-- query a differential refresh could not follow).  After every run the
-- files hold exactly the query's rows, and each partition's digest is the
-- one a whole run would compute.
SET client_min_messages = warning;
-- the expected lines and digests below print dates as publications do
SET DateStyle = ISO;
CREATE EXTENSION IF NOT EXISTS pipeline;
SELECT current_setting('data_directory') || '/publication_changes' AS lake \gset
CREATE SCHEMA pc;
CREATE TABLE pc.events (id int PRIMARY KEY, day date, region text, amount numeric);
INSERT INTO pc.events
SELECT g, date '2026-01-01' + g % 3, CASE WHEN g % 4 = 0 THEN NULL ELSE 'r' || g % 2 END, g * 1.5
  FROM generate_series(1, 30) g;
CREATE INDEX ON pc.events (day, region);
CREATE TABLE pc.prices (id int PRIMARY KEY, price numeric);
INSERT INTO pc.prices VALUES (1, 1.0), (2, 1.00), (3, 2);

-- a publication's files, as (partition, CSV line) without headers
CREATE FUNCTION pg_temp.lake_lines(manifest regclass) RETURNS TABLE (partition text, line text)
LANGUAGE plpgsql AS $$
DECLARE m record; f text;
BEGIN
  FOR m IN EXECUTE format('SELECT partition, files FROM %s', manifest) LOOP
    FOREACH f IN ARRAY m.files LOOP
      RETURN QUERY SELECT m.partition, l
                     FROM regexp_split_to_table(rtrim(pg_read_file(f), E'\n'), E'\n') WITH ORDINALITY AS t(l, n)
                    WHERE n > 1;
    END LOOP;
  END LOOP;
END $$;
-- lines in the files but not in expected, and the other way round
CREATE FUNCTION pg_temp.differences(manifest regclass, expected text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM ((SELECT * FROM pg_temp.lake_lines(%L) EXCEPT ALL %s)
                  UNION ALL (%s EXCEPT ALL SELECT * FROM pg_temp.lake_lines(%L))) d',
                 manifest, expected, expected, manifest) INTO n;
  RETURN n;
END $$;
-- partitions whose saved digest is not the one of the query's rows now
CREATE FUNCTION pg_temp.stale_digests(manifest regclass, query text, partition text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM pipeline.publication_state s
                   WHERE s.publication = %L::regclass
                     AND s.digest IS DISTINCT FROM
                         (SELECT pg_catalog.sum(pg_catalog.hashtextextended(q::text, 0)::numeric)::text
                            FROM (%s) q WHERE %s = s.partition)',
                 manifest, query, partition) INTO n;
  RETURN n;
END $$;
CREATE FUNCTION pg_temp.last_detail(v regclass) RETURNS text LANGUAGE sql AS $$
  SELECT detail FROM pipeline.runs WHERE matview = v ORDER BY run_id DESC LIMIT 1
$$;

SELECT pipeline.create_matview('pc', 'events_lake', 'SELECT id, amount, day, region FROM pc.events', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/events', 'unload-partition-by', 'day, region'));
CREATE FUNCTION pg_temp.check_events() RETURNS TABLE (differences bigint, stale_digests bigint)
LANGUAGE sql AS $$
  SELECT pg_temp.differences('pc.mv_events_lake',
           $q$SELECT 'day=' || day || '/region=' || coalesce(region, '__HIVE_DEFAULT_PARTITION__'),
                     id || ',' || amount FROM pc.events$q$),
         pg_temp.stale_digests('pc.mv_events_lake', 'SELECT id, amount, day, region FROM pc.events',
           $p$'day=' || q.day || '/region=' || coalesce(q.region, '__HIVE_DEFAULT_PARTITION__')$p$)
$$;
SELECT * FROM pg_temp.check_events();
SELECT partition, rows FROM pc.mv_events_lake ORDER BY partition;

-- the first scheduled run has no position yet: it reads everything
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_events_lake');

-- an update in one partition, a new partition, a partition emptied: those
-- three are read and written, the others are not
UPDATE pc.events SET amount = amount + 1 WHERE id = 7;
INSERT INTO pc.events VALUES (31, '2026-02-01', 'r9', 99);
DELETE FROM pc.events WHERE day = '2026-01-01' AND region IS NULL;
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_events_lake');
SELECT * FROM pg_temp.check_events();
SELECT partition, rows FROM pc.mv_events_lake ORDER BY partition;

-- a row moving to another partition; a row that came and went in the
-- window; an update that changes no column the query reads
UPDATE pc.events SET day = '2026-02-01', region = 'r9' WHERE id = 8;
INSERT INTO pc.events VALUES (32, '2026-03-01', 'gone', 1);
DELETE FROM pc.events WHERE id = 32;
ALTER TABLE pc.events ADD COLUMN note text;
UPDATE pc.events SET note = 'x' WHERE id = 9;
SELECT matview, status FROM pipeline.run_due('2030-01-01 02:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_events_lake');
SELECT * FROM pg_temp.check_events();

-- a damaged file: the next run reads everything and writes it again
SELECT files[1] AS damaged FROM pc.mv_events_lake WHERE partition = 'day=2026-01-03/region=r0' \gset
COPY (SELECT 'garbage') TO :'damaged';
UPDATE pc.events SET amount = 0 WHERE id = 5;
SELECT matview, status FROM pipeline.run_due('2030-01-01 03:00+00') WHERE matview::text LIKE 'pc.%';
SELECT regexp_replace(pg_temp.last_detail('pc.mv_events_lake'), '\(.*\)', '(...)', 'g');
SELECT * FROM pg_temp.check_events();

-- a redefinition writes nothing; its next run reads everything
SELECT pipeline.create_matview('pc', 'events_lake', 'SELECT id, amount, day, region FROM pc.events WHERE id > 2', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/events', 'unload-partition-by', 'day, region'));
SELECT matview, status FROM pipeline.run_due('2030-01-01 04:00+00') WHERE matview::text LIKE 'pc.%';
SELECT regexp_replace(pg_temp.last_detail('pc.mv_events_lake'), '\(.*\)', '(...)', 'g');
SELECT pg_temp.differences('pc.mv_events_lake',
         $q$SELECT 'day=' || day || '/region=' || coalesce(region, '__HIVE_DEFAULT_PARTITION__'),
                   id || ',' || amount FROM pc.events WHERE id > 2$q$);
-- and the runs after it go by the changes again
UPDATE pc.events SET amount = amount * 2 WHERE id IN (3, 4);
SELECT matview, status FROM pipeline.run_due('2030-01-01 05:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_events_lake');
SELECT pg_temp.differences('pc.mv_events_lake',
         $q$SELECT 'day=' || day || '/region=' || coalesce(region, '__HIVE_DEFAULT_PARTITION__'),
                   id || ',' || amount FROM pc.events WHERE id > 2$q$);

-- equal values, different partitions: 1.0 and 1.00 are equal numerics but
-- two partitions; a change in one does not rewrite the other
SELECT pipeline.create_matview('pc', 'prices_lake', 'SELECT id, price FROM pc.prices', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/prices', 'unload-partition-by', 'price'));
SELECT matview, status FROM pipeline.run_due('2030-01-01 06:00+00') WHERE matview::text LIKE 'pc.%';
INSERT INTO pc.prices VALUES (4, 1.0);
SELECT matview, status FROM pipeline.run_due('2030-01-01 07:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_prices_lake');
SELECT partition, rows FROM pc.mv_prices_lake ORDER BY partition;
SELECT pg_temp.differences('pc.mv_prices_lake', $q$SELECT 'price=' || price, id::text FROM pc.prices$q$);
-- a truncated source: everything is read, the emptied partitions removed
TRUNCATE pc.prices;
INSERT INTO pc.prices VALUES (5, 3);
SELECT matview, status FROM pipeline.run_due('2030-01-01 08:00+00') WHERE matview::text LIKE 'pc.%';
SELECT pg_temp.last_detail('pc.mv_prices_lake');
SELECT partition, rows FROM pc.mv_prices_lake ORDER BY partition;
SELECT count(*) AS price_dirs FROM pg_ls_dir(:'lake' || '/prices') d WHERE d <> '.pipeline-publication';

-- char(n) and boolean partition columns: rows found by their typed values
-- (char without a length, not char(1)), directories named as the files are
-- (t, not true)
CREATE TABLE pc.flags (id int PRIMARY KEY, country char(2), active boolean);
INSERT INTO pc.flags VALUES (1, 'US', true), (2, 'FR', false), (3, 'US', NULL);
SELECT pipeline.create_matview('pc', 'flags_lake', 'SELECT id, country, active FROM pc.flags', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/flags', 'unload-partition-by', 'country, active'));
UPDATE pc.flags SET id = 10 WHERE id = 1;
INSERT INTO pc.flags VALUES (4, 'US', NULL);
SELECT matview, status FROM pipeline.run_due('2030-01-01 08:30+00') WHERE matview::text = 'pc.mv_flags_lake';
SELECT pg_temp.last_detail('pc.mv_flags_lake');
SELECT partition, rows FROM pc.mv_flags_lake ORDER BY partition;
SELECT pg_temp.differences('pc.mv_flags_lake',
         $q$SELECT 'country=' || country || '/active=' || coalesce(CASE active WHEN true THEN 't' WHEN false THEN 'f' END, '__HIVE_DEFAULT_PARTITION__'),
                   id::text FROM pc.flags$q$);
-- a partition's text does not depend on the session's TimeZone: runs
-- write a timestamptz in UTC, so a run from a session in another time zone
-- goes by the changes as any other (before 1.30's library it read
-- everything and published every partition again under new names)
CREATE TABLE pc.ticks (id int PRIMARY KEY, at timestamptz);
INSERT INTO pc.ticks VALUES (1, '2026-01-01 00:00+00'), (2, '2026-01-02 00:00+00');
SELECT pipeline.create_matview('pc', 'ticks_lake', 'SELECT id, at FROM pc.ticks', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/ticks', 'unload-partition-by', 'at'));
SET TimeZone = 'Europe/Paris';
UPDATE pc.ticks SET id = 3 WHERE id = 2;
SELECT matview, status FROM pipeline.run_due('2030-01-01 08:40+00') WHERE matview::text = 'pc.mv_ticks_lake';
SELECT regexp_replace(regexp_replace(pg_temp.last_detail('pc.mv_ticks_lake'), '\(at=[^)]*\)', '(...)', 'g'),
                      '\(TimeZone=Europe/Paris, .*$', '(TimeZone=Europe/Paris, ...)');
SELECT partition, rows FROM pc.mv_ticks_lake ORDER BY partition;
RESET TimeZone;

-- grouped: partitions by a group key follow the changes; by an aggregate
-- or of a query a differential refresh cannot follow, runs read everything
SELECT pipeline.create_matview('pc', 'daily_lake',
       'SELECT day, region, count(*) AS n, sum(amount) AS total FROM pc.events GROUP BY day, region', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/daily', 'unload-partition-by', 'day'));
SELECT pipeline.create_matview('pc', 'sizes_lake',
       'SELECT region, count(*) AS n FROM pc.events GROUP BY region', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/sizes', 'unload-partition-by', 'n'));
SELECT pipeline.create_matview('pc', 'amounts_lake',
       'SELECT amount, count(*) AS n FROM pc.events GROUP BY amount', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/amounts', 'unload-partition-by', 'amount'));
SELECT pipeline.create_matview('pc', 'first_lake',
       'SELECT id, day FROM pc.events ORDER BY id LIMIT 5', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/first', 'unload-partition-by', 'day'));
SELECT matview, status FROM pipeline.run_due('2030-01-01 09:00+00') WHERE matview::text LIKE 'pc.%' ORDER BY 1;
UPDATE pc.events SET amount = amount + 10 WHERE id = 10;
SELECT matview, status FROM pipeline.run_due('2030-01-01 10:00+00') WHERE matview::text LIKE 'pc.%' ORDER BY 1;
SELECT v, pg_temp.last_detail(v::regclass)
  FROM unnest(ARRAY['pc.mv_daily_lake', 'pc.mv_sizes_lake', 'pc.mv_amounts_lake', 'pc.mv_first_lake']) v;
SELECT pg_temp.differences('pc.mv_daily_lake',
         $q$SELECT 'day=' || day, coalesce(region, '') || ',' || count(*) || ',' || sum(amount)
              FROM pc.events GROUP BY day, region$q$);

-- a partition whose files are already gone (a run whose delete function
-- failed after removing them, rolled back; or removed by hand) is removed
-- from the manifest by the retry, never a PANIC on its missing directory
CREATE TABLE pc.refusals (refuse boolean);
INSERT INTO pc.refusals VALUES (true);
CREATE FUNCTION pc.delete_partition(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT refuse FROM pc.refusals) THEN RAISE EXCEPTION 'delete refused for %', path; END IF;
  RETURN true;
END $f$;
CREATE TABLE pc.kinds (id int PRIMARY KEY, kind int);
INSERT INTO pc.kinds VALUES (1, 1), (2, 2), (3, 3);
SELECT pipeline.create_matview('pc', 'kinds_lake', 'SELECT id, kind FROM pc.kinds', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/kinds', 'unload-partition-by', 'kind',
                                     'unload-delete-function', 'pc.delete_partition'));
DELETE FROM pc.kinds WHERE id = 2;
SELECT matview, status FROM pipeline.run_due('2030-01-01 11:00+00') WHERE matview = 'pc.mv_kinds_lake'::regclass;
SELECT error FROM pipeline.runs WHERE matview = 'pc.mv_kinds_lake'::regclass AND status = 'failed';
SELECT partition FROM pc.mv_kinds_lake ORDER BY 1;
UPDATE pc.refusals SET refuse = false;
SELECT matview, status FROM pipeline.run_due('2030-01-01 12:00+00') WHERE matview = 'pc.mv_kinds_lake'::regclass;
SELECT partition FROM pc.mv_kinds_lake ORDER BY 1;
-- a rolled-back refresh that removed a partition's files, then another
DELETE FROM pc.kinds WHERE id = 3;
BEGIN;
SELECT matview, status FROM pipeline.refresh('pc.mv_kinds_lake');
ROLLBACK;
SELECT matview, status FROM pipeline.refresh('pc.mv_kinds_lake');
SELECT partition FROM pc.mv_kinds_lake ORDER BY 1;
SELECT pipeline.drop_matview('pc.mv_kinds_lake');

-- seed 004 declares its delete function deletePartition(path VARCHAR):
-- taken as (path text) is, the same bytes passed; other types are refused
CREATE TABLE pc.deleted_paths (path text);
CREATE FUNCTION pc.deletepartition(path varchar) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN INSERT INTO pc.deleted_paths VALUES (path); RETURN true; END $f$;
CREATE FUNCTION pc.delete_by_number(path int) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE TABLE pc.seeded (id int PRIMARY KEY, kind int);
INSERT INTO pc.seeded VALUES (1, 1), (2, 2);
SELECT pipeline.create_matview('pc', 'seeded_lake', 'SELECT id, kind FROM pc.seeded', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/seeded', 'unload-partition-by', 'kind',
                                     'unload-delete-function', 'pc.deletepartition'));
DELETE FROM pc.seeded WHERE id = 2;
SELECT matview, status FROM pipeline.refresh('pc.mv_seeded_lake');
SELECT path FROM pc.deleted_paths;
SELECT partition FROM pc.mv_seeded_lake ORDER BY 1;
SELECT pipeline.drop_matview('pc.mv_seeded_lake');
SELECT pipeline.create_matview('pc', 'seeded_lake', 'SELECT id, kind FROM pc.seeded', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/seeded', 'unload-partition-by', 'kind',
                                     'unload-delete-function', 'pc.delete_by_number'));

-- files written by a run that did not commit: a new partition (the
-- state never listed it) is removed, a partition rewritten with other rows
-- of the same size is written again, by the next run
CREATE TABLE pc.rolled (id int PRIMARY KEY, kind int);
INSERT INTO pc.rolled VALUES (1, 1), (2, 1), (3, 2);
SELECT pipeline.create_matview('pc', 'rolled_lake', 'SELECT id, kind FROM pc.rolled', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rolled', 'unload-partition-by', 'kind'));
BEGIN;
INSERT INTO pc.rolled VALUES (4, 9);
UPDATE pc.rolled SET id = 5 WHERE id = 1;
SELECT matview, status FROM pipeline.refresh('pc.mv_rolled_lake');
ROLLBACK;
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_rolled_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
SELECT matview, status FROM pipeline.refresh('pc.mv_rolled_lake');
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_rolled_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
-- the same by a scheduled run rolled back: the next label is not skipped,
-- though no source changed
SELECT matview, status FROM pipeline.run_due('2030-01-02 00:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
BEGIN;
INSERT INTO pc.rolled VALUES (4, 9);
UPDATE pc.rolled SET id = 5 WHERE id = 1;
SELECT matview, status FROM pipeline.run_due('2030-01-02 01:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
ROLLBACK;
SELECT matview, status FROM pipeline.run_due('2030-01-02 01:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_rolled_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
SELECT matview, status FROM pipeline.run_due('2030-01-02 02:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
-- a partition a rolled-back run removed comes back at the next label
BEGIN;
DELETE FROM pc.rolled WHERE kind = 2;
SELECT matview, status FROM pipeline.run_due('2030-01-02 03:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
ROLLBACK;
SELECT matview, status FROM pipeline.run_due('2030-01-02 04:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_rolled_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
-- and by a run that failed (its delete function) in a transaction that
-- committed: its files are undone once the changes are taken back
CREATE FUNCTION pc.refusing_delete(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT refuse FROM pc.refusals) THEN RAISE EXCEPTION 'delete refused for %', path; END IF;
  RETURN true;
END $f$;
SELECT pipeline.create_matview('pc', 'rolled_lake', 'SELECT id, kind FROM pc.rolled', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rolled', 'unload-partition-by', 'kind',
                                     'unload-delete-function', 'pc.refusing_delete'));
SELECT matview, status FROM pipeline.run_due('2030-01-02 05:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
UPDATE pc.refusals SET refuse = true;
INSERT INTO pc.rolled VALUES (4, 9);
UPDATE pc.rolled SET id = 5 WHERE id = 1;
SELECT matview, status FROM pipeline.run_due('2030-01-02 06:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
UPDATE pc.refusals SET refuse = false;
DELETE FROM pc.rolled WHERE id = 4;
UPDATE pc.rolled SET id = 1 WHERE id = 5;
SELECT matview, status FROM pipeline.run_due('2030-01-02 07:00+00') WHERE matview = 'pc.mv_rolled_lake'::regclass;
SELECT d FROM pg_ls_dir(:'lake' || '/rolled') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_rolled_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
-- the list of a dropped publication, and the lists of a dropped database,
-- are forgotten by the next run of a publication
SELECT format('%s.%s', d.oid, 'pc.mv_rolled_lake'::regclass::oid) AS rolled_list
  FROM pg_database d WHERE d.datname = current_database() \gset
SELECT format('COPY (SELECT) TO %L', current_setting('data_directory') || '/pipeline_publications/4000000000.1') AS fake_list \gset
:fake_list;
SELECT CASE f WHEN :'rolled_list' THEN 'rolled_lake''s' ELSE f END AS list
  FROM pg_ls_dir('pipeline_publications') f WHERE f IN (:'rolled_list', '4000000000.1') ORDER BY 1;
SELECT pipeline.drop_matview('pc.mv_rolled_lake');
SELECT matview, status FROM pipeline.refresh('pc.mv_events_lake');
SELECT CASE f WHEN :'rolled_list' THEN 'rolled_lake''s' ELSE f END AS list
  FROM pg_ls_dir('pipeline_publications') f WHERE f IN (:'rolled_list', '4000000000.1') ORDER BY 1;
-- a creation rolled back leaves its files; made again on the same
-- destination, its first run removes those it does not publish, also when
-- another publication's run came in between (which keeps the list of files
-- outside its own destination)
BEGIN;
INSERT INTO pc.rolled VALUES (8, 8);
SELECT pipeline.create_matview('pc', 'again_lake', 'SELECT id, kind FROM pc.rolled', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/again', 'unload-partition-by', 'kind'));
ROLLBACK;
SELECT d FROM pg_ls_dir(:'lake' || '/again') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT matview, status FROM pipeline.refresh('pc.mv_events_lake');
SELECT pipeline.create_matview('pc', 'again_lake', 'SELECT id, kind FROM pc.rolled', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/again', 'unload-partition-by', 'kind'));
SELECT d FROM pg_ls_dir(:'lake' || '/again') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pg_temp.differences('pc.mv_again_lake', $q$SELECT 'kind=' || kind, id::text FROM pc.rolled$q$);
SELECT pipeline.drop_matview('pc.mv_again_lake');
-- a run rolled back, then the destination changed: what did not commit in
-- the tree left behind goes too (the rest of it stays, for its readers)
CREATE TABLE pc.moved (id int, k text);
INSERT INTO pc.moved VALUES (1, 'a');
SELECT pipeline.create_matview('pc', 'moved_lake', 'SELECT id, k FROM pc.moved', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/moved1', 'unload-partition-by', 'k'));
BEGIN;
INSERT INTO pc.moved VALUES (2, 'b');
SELECT matview, status FROM pipeline.refresh('pc.mv_moved_lake');
ROLLBACK;
SELECT d FROM pg_ls_dir(:'lake' || '/moved1') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pipeline.create_matview('pc', 'moved_lake', 'SELECT id, k FROM pc.moved', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/moved2', 'unload-partition-by', 'k'));
SELECT matview, status FROM pipeline.refresh('pc.mv_moved_lake');
SELECT d FROM pg_ls_dir(:'lake' || '/moved1') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT d FROM pg_ls_dir(:'lake' || '/moved2') d WHERE d <> '.pipeline-publication' ORDER BY 1;
SELECT pipeline.drop_matview('pc.mv_moved_lake');

-- destinations overlap where their files would go, too: a link to another
-- publication's tree is refused like the tree itself
SELECT pipeline.create_matview('pc', 'linked_lake', 'SELECT id, day FROM pc.events', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/linked', 'unload-partition-by', 'day'));
SELECT set_config('pc.lake', :'lake', false) IS NOT NULL AS lake_set;
DO $$
DECLARE lake text := current_setting('pc.lake');
BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L', format('cat > /dev/null; ln -s %s/linked %s/alias', lake, lake));
  PERFORM pipeline.create_matview('pc', 'alias_lake', 'SELECT id, day FROM pc.events', '1 hour', 'unload',
          options => jsonb_build_object('unload-destination', lake || '/alias/inner', 'unload-partition-by', 'day'));
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE WARNING '%', replace(SQLERRM, lake, '<lake>');
END $$;
SELECT pipeline.drop_matview('pc.mv_linked_lake');

-- a link made after the definitions (by whoever may write in the lake's
-- folder) that leads one publication's tree into another's fails the run
-- instead of removing or writing the other's files: at the destination,
-- and at a partition directory
CREATE TABLE pc.sa (id int, k int);
CREATE TABLE pc.sb (id int, k int);
INSERT INTO pc.sa VALUES (1, 1);
INSERT INTO pc.sb VALUES (2, 1);
SELECT pipeline.create_matview('pc', 'sa_lake', 'SELECT id, k FROM pc.sa', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/sa', 'unload-partition-by', 'k'));
SELECT pipeline.create_matview('pc', 'sb_lake', 'SELECT id, k FROM pc.sb', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/sb', 'unload-partition-by', 'k'));
CREATE FUNCTION pg_temp.shell(command text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L', 'cat > /dev/null; ' || replace(command, '<lake>', current_setting('pc.lake')));
END $$;
CREATE FUNCTION pg_temp.try_refresh(v regclass) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pipeline.refresh(v);
  RETURN 'refreshed';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  RETURN replace(SQLERRM, current_setting('pc.lake'), '<lake>');
END $$;
SELECT pg_temp.shell('mv <lake>/sa <lake>/sa_aside && ln -s <lake>/sb <lake>/sa');
DELETE FROM pc.sa;
SELECT pg_temp.try_refresh('pc.mv_sa_lake');
SELECT pg_temp.shell('rm <lake>/sa && mv <lake>/sa_aside <lake>/sa');
SELECT pg_temp.shell('rm -r <lake>/sa/k=1 && ln -s <lake>/sb/k=1 <lake>/sa/k=1');
SELECT pg_temp.try_refresh('pc.mv_sa_lake');
INSERT INTO pc.sa VALUES (3, 1);
SELECT pg_temp.try_refresh('pc.mv_sa_lake');
SELECT pg_temp.differences('pc.mv_sb_lake', $q$SELECT 'k=' || k, id::text FROM pc.sb$q$) AS sb_differences;
SELECT pg_temp.shell('rm <lake>/sa/k=1');
SELECT pg_temp.try_refresh('pc.mv_sa_lake');
SELECT pg_temp.differences('pc.mv_sa_lake', $q$SELECT 'k=' || k, id::text FROM pc.sa$q$) AS sa_differences;
SELECT pipeline.drop_matview('pc.mv_sa_lake');
-- a run checks what a definition checks, no more: trees apart where they
-- really are and as written (one through a link inside the other's
-- written path, the other a link to that path's parent) keep running
SELECT pg_temp.shell('mkdir -p <lake>/cx/x <lake>/cx/y && ln -s <lake>/cx/y <lake>/cx/x/link && ln -s <lake>/cx/x <lake>/cx/l2');
SELECT pipeline.create_matview('pc', 'sc_lake', 'SELECT id, k FROM pc.sa', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/cx/x/link/p1', 'unload-partition-by', 'k'));
SELECT pipeline.create_matview('pc', 'sd_lake', 'SELECT id, k FROM pc.sb', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/cx/l2', 'unload-partition-by', 'k'));
INSERT INTO pc.sa VALUES (4, 2);
INSERT INTO pc.sb VALUES (5, 2);
SELECT pg_temp.try_refresh('pc.mv_sc_lake') AS sc, pg_temp.try_refresh('pc.mv_sd_lake') AS sd;
SELECT pipeline.drop_matview('pc.mv_sc_lake');
SELECT pipeline.drop_matview('pc.mv_sd_lake');
SELECT pipeline.drop_matview('pc.mv_sb_lake');

-- a publication redefined in place lets go of what its old query named:
-- here a table named by a regclass constant, not read
CREATE TABLE pc.lookup (id int);
CREATE FUNCTION pc.kind_of(id int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT id % 2';
SELECT pipeline.create_matview('pc', 'named_lake',
       $q$SELECT id, pc.kind_of(id) AS kind, 'pc.lookup'::regclass::text AS named FROM pc.events$q$, '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/named', 'unload-partition-by', 'kind'));
DROP TABLE pc.lookup;
DROP FUNCTION pc.kind_of(int);
SELECT pipeline.create_matview('pc', 'named_lake',
       $q$SELECT id, id % 2 AS kind, 'none' AS named FROM pc.events$q$, '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/named', 'unload-partition-by', 'kind'));
DROP TABLE pc.lookup;
DROP FUNCTION pc.kind_of(int);
SELECT pipeline.drop_matview('pc.mv_named_lake');

-- a publication writes files, not a table of its query's shape: a row
-- value, or a name twice, is a column of its files, and a rename of its
-- source rebinds it
SELECT pipeline.create_matview('pc', 'rows_lake', 'SELECT id, ROW(id, amount) AS r, id, day FROM pc.events',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rows', 'unload-partition-by', 'day')) IS NOT NULL AS made;
ALTER TABLE pc.events RENAME COLUMN amount TO amount_renamed;
ALTER TABLE pc.events RENAME COLUMN amount_renamed TO amount;
SELECT pipeline.drop_matview('pc.mv_rows_lake');
-- a partition column names one column of a real type: its value is a
-- directory's name
SELECT pipeline.create_matview('pc', 'rows_lake', 'SELECT id, amount AS day, day FROM pc.events',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rows', 'unload-partition-by', 'day'));
SELECT pipeline.create_matview('pc', 'rows_lake', 'SELECT id, pg_sleep(0) AS nap FROM pc.events',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rows', 'unload-partition-by', 'nap'));
-- but its audits read a view of its query's shape: with an expectation
-- such columns are refused in the view's words
SELECT pipeline.create_matview('pc', 'rows_lake', 'SELECT id, ROW(id, amount) AS r, id, day FROM pc.events',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/rows', 'unload-partition-by', 'day',
                                     'expect', 'positive: id > 0'));

-- a subquery in FROM is followed as a plain view is: a run reads the
-- changed partitions only
SELECT pipeline.create_matview('pc', 'sub_lake',
       'SELECT q.id, q.big, q.day FROM (SELECT id, amount > 20 AS big, day FROM pc.events WHERE region IS NOT NULL) q',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/sub', 'unload-partition-by', 'day'));
SELECT status FROM pipeline.run_due('2030-01-02 08:00+00') WHERE matview = 'pc.mv_sub_lake'::regclass;
UPDATE pc.events SET amount = 1 WHERE id = 14;
SELECT status FROM pipeline.run_due('2030-01-02 09:00+00') WHERE matview = 'pc.mv_sub_lake'::regclass;
SELECT pg_temp.last_detail('pc.mv_sub_lake');
SELECT pg_temp.differences('pc.mv_sub_lake',
         $q$SELECT 'day=' || day, id || ',' || CASE WHEN amount > 20 THEN 't' ELSE 'f' END FROM pc.events WHERE region IS NOT NULL$q$);
SELECT pipeline.drop_matview('pc.mv_sub_lake');

-- dropping a publication stops following its sources
SELECT pipeline.drop_matview('pc.mv_prices_lake');
SELECT count(*) AS consumers FROM pipeline.capture_consumers WHERE source = 'pc.prices'::regclass;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'pc.prices'::regclass AND tgname LIKE 'pipeline_capture%';

SELECT pipeline.drop_matview(v)
  FROM unnest(ARRAY['pc.mv_events_lake', 'pc.mv_daily_lake', 'pc.mv_sizes_lake', 'pc.mv_amounts_lake', 'pc.mv_first_lake',
                    'pc.mv_flags_lake', 'pc.mv_ticks_lake']::regclass[]) v;
DROP SCHEMA pc CASCADE;
