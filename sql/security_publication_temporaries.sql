-- The temporary names unload() and a lake publication's runs write under
-- are foreseeable: ".pipeline-unload-<pid>.<backend start>.<call>.<n>" in
-- the file's directory.  Whoever may write in a destination's directory (a
-- lake shared with the OS accounts of its readers and other writers) could
-- put a symbolic link there under the next name: the writer opened it with
-- fopen("w"), so the file it led to (any file of the server's OS user, one
-- of the data directory too) was truncated and filled with the rows, and
-- the link was then renamed into the tree as the published file.  A
-- temporary is now created, never opened: the call fails, and the link and
-- the file it leads to stay as they were; a later call takes the next name
-- (h138).  As a non-superuser allowed to write server files, with a trap
-- schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE sp_owner LOGIN;
GRANT pg_write_server_files TO sp_owner;
CREATE SCHEMA sp AUTHORIZATION sp_owner;
CREATE SCHEMA sp_trap AUTHORIZATION sp_owner;
RESET client_min_messages;
SELECT current_setting('data_directory') || '/security_publication_temporaries' AS lake \gset
SELECT set_config('sp.lake', :'lake', false) IS NOT NULL AS lake_set;
-- a file of the server's OS user, where the planted links lead
\set victim :lake '_victim'
COPY (SELECT 'precious') TO :'victim';

-- links to it, made as another OS account could, under the names the given
-- calls of this backend take first in dir (a fresh backend: its first
-- unload is call 1)
CREATE FUNCTION public.sp_plant(dir text, calls int[], victim text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  token text;
BEGIN
  SELECT format('%s.%s', pid, floor(extract(epoch FROM backend_start))::bigint) INTO token
    FROM pg_stat_activity WHERE pid = pg_backend_pid();
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s && for c in %2$s; do ln -s %3$s %1$s/.pipeline-unload-%4$s.$c.1; done',
                        dir, array_to_string(calls, ' '), victim, token));
END $$;
CREATE FUNCTION public.sp_try(command text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE command;
  RETURN 'done';
EXCEPTION WHEN OTHERS THEN
  RETURN regexp_replace(replace(SQLERRM, current_setting('sp.lake'), '<lake>'),
                        'pipeline-unload-[0-9.]+', 'pipeline-unload-<token>');
END $$;
-- what a directory holds, for the owner to see
CREATE FUNCTION public.sp_files(dir text) RETURNS SETOF text LANGUAGE sql
SECURITY DEFINER SET search_path = pg_catalog AS $$
  SELECT regexp_replace(d, 'pipeline-unload-[0-9.]+', 'pipeline-unload-<token>')
    FROM pg_ls_dir(current_setting('sp.lake') || dir, true, false) d ORDER BY 1
$$;
SELECT public.sp_plant(:'lake' || '/u', '{1}', :'victim');
SELECT public.sp_plant(:'lake' || '/p/k=1', '{3}', :'victim');

SET ROLE sp_owner;
CREATE FUNCTION sp_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR sp_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sp_trap.texteq);
CREATE FUNCTION sp_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR sp_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = sp_trap.int4eq);
SET search_path = sp_trap, public, pg_catalog;

-- unload(): its first call meets the link and fails; the next takes
-- another name
SELECT public.sp_try(format($c$SELECT pipeline.unload('SELECT 1 AS a, 2 AS b', %L)$c$,
                            current_setting('sp.lake') || '/u'));
SELECT public.sp_files('/u');
SELECT public.sp_try(format($c$SELECT pipeline.unload('SELECT 1 AS a, 2 AS b', %L)$c$,
                            current_setting('sp.lake') || '/u'));
SELECT public.sp_files('/u');

-- a publication's run writing a partition whose directory exists: the same
CREATE TABLE sp.t (k int, v text);
INSERT INTO sp.t VALUES (1, 'one');
SELECT public.sp_try(format($c$SELECT pipeline.create_matview('sp', 'lake', 'SELECT k, v FROM sp.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', %L, 'unload-partition-by', 'k'))$c$,
                            current_setting('sp.lake') || '/p'));
SELECT public.sp_files('/p/k=1');
SELECT pipeline.create_matview('sp', 'lake', 'SELECT k, v FROM sp.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/p', 'unload-partition-by', 'k'));
SELECT public.sp_files('/p/k=1');
RESET search_path;
RESET ROLE;

-- the file the links lead to is untouched; what was published is the rows
SELECT pg_read_file(:'victim') AS victim;
SELECT pg_read_file(:'lake' || '/u/part-00000.csv') AS unloaded;
SELECT pg_read_file(:'lake' || '/p/k=1/part-00000.csv') AS published;

SELECT pipeline.drop_matview('sp.mv_lake');
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm -rf %1$s %1$s_victim', current_setting('sp.lake')));
END $$;
DROP FUNCTION public.sp_plant(text, int[], text);
DROP FUNCTION public.sp_try(text);
DROP FUNCTION public.sp_files(text);
DROP SCHEMA sp CASCADE;
DROP SCHEMA sp_trap CASCADE;
REVOKE pg_write_server_files FROM sp_owner;
DROP ROLE sp_owner;
