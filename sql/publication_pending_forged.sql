-- A lake publication's next run removes the files a run that did not
-- commit left, as listed in $PGDATA/pipeline_publications/.  A role allowed
-- to write server files can write such a list with COPY ... TO: a run then
-- acts only on records naming a file a run writes (part-00000.csv in
-- directories spelled "column=value"); any other is ignored with a warning,
-- so the list cannot make a run remove another file or an empty directory
-- (h131).  As that non-superuser, with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE pf_owner LOGIN;
GRANT pg_write_server_files TO pf_owner;
CREATE SCHEMA pf AUTHORIZATION pf_owner;
CREATE SCHEMA pf_trap AUTHORIZATION pf_owner;
RESET client_min_messages;
SELECT current_setting('data_directory') AS pgdata \gset
\set lake :pgdata '/publication_pending_forged'
-- a file and an empty directory of the server's user the forged list names
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s/victim %1$s/emptydir && echo keep > %1$s/victim/precious.txt',
                        current_setting('data_directory') || '/publication_pending_forged'));
END $$;

SET ROLE pf_owner;
CREATE FUNCTION pf_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR pf_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pf_trap.texteq);
SET search_path = pf_trap, public, pg_catalog;
CREATE TABLE pf.t (k int, v text);
INSERT INTO pf.t VALUES (1, 'one');
SELECT pipeline.create_matview('pf', 'lake', 'SELECT k, v FROM pf.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/published', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('pf.mv_lake');

-- a transaction that did not commit, for the records
BEGIN;
SELECT txid_current() AS aborted \gset
ROLLBACK;
-- the list as COPY's binary format can write it: its header and the
-- field's length (0x3030 bytes, read as the digits "00") before the records
SELECT format('%s/pipeline_publications/%s.%s', :'pgdata',
              (SELECT oid FROM pg_database WHERE datname = current_database()),
              'pf.mv_lake'::regclass::oid) AS list \gset
WITH records(r) AS (
  SELECT convert_to(:'aborted', 'UTF8') || '\x00'::bytea || '\x00'::bytea ||
         convert_to(:'lake' || '/victim/precious.txt', 'UTF8') || '\x00'::bytea ||
         convert_to(:'aborted', 'UTF8') || '\x00'::bytea || convert_to('emptydir', 'UTF8') || '\x00'::bytea ||
         convert_to(:'lake' || '/emptydir/part-00000.csv', 'UTF8') || '\x00'::bytea
)
SELECT r || convert_to(repeat('x', 12336 - length(r)), 'UTF8') AS forged FROM records \gset
COPY (SELECT :'forged'::bytea) TO :'list' WITH (FORMAT binary);

-- the next run ignores every record (warnings name the data directory)
INSERT INTO pf.t VALUES (2, 'two');
SET client_min_messages = error;
SELECT status FROM pipeline.refresh('pf.mv_lake');
RESET client_min_messages;
RESET ROLE;
RESET search_path;
SELECT pg_read_file(:'lake' || '/victim/precious.txt') AS still_there;
SELECT count(*) AS emptydir_kept FROM pg_ls_dir(:'lake', true, false) d WHERE d = 'emptydir';
SELECT d FROM pg_ls_dir(:'lake' || '/published', true, false) d ORDER BY 1;

SELECT pipeline.drop_matview('pf.mv_lake');
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm -rf %s',
                        current_setting('data_directory') || '/publication_pending_forged'));
END $$;
DROP SCHEMA pf CASCADE;
DROP SCHEMA pf_trap CASCADE;
REVOKE pg_write_server_files FROM pf_owner;
DROP ROLE pf_owner;
