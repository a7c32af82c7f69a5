-- A lake publication's destination belongs to one database: the root of
-- its tree holds .pipeline-publication naming the database and the view.
-- Another database's publication cannot be defined in, above or below that
-- tree, and a run that finds the tree held by another database (a copy of
-- its database, a database renamed since) fails without writing or
-- removing a file.  As a non-superuser allowed to write server files, with
-- a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE po_owner LOGIN;
GRANT pg_write_server_files TO po_owner;
CREATE SCHEMA po AUTHORIZATION po_owner;
CREATE SCHEMA po_trap AUTHORIZATION po_owner;
RESET client_min_messages;
SELECT current_setting('data_directory') || '/publication_owner' AS lake \gset
SELECT set_config('po.lake', :'lake', false) IS NOT NULL AS lake_set;
CREATE FUNCTION public.po_try(command text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE command;
  RETURN 'done';
EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
  RETURN replace(SQLERRM, current_setting('po.lake'), '<lake>');
END $$;
-- an owner file, this cluster's system identifier in it shown as such
CREATE FUNCTION public.po_owner_file(path text) RETURNS text LANGUAGE sql AS $$
  SELECT replace(pg_read_file(path), (SELECT system_identifier::text FROM pg_control_system()), '<this cluster>')
$$;
CREATE FUNCTION public.po_files(dir text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT d FROM pg_ls_dir(current_setting('po.lake') || dir, true, false) d ORDER BY 1
$$;

SET ROLE po_owner;
CREATE FUNCTION po_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR po_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = po_trap.texteq);
CREATE FUNCTION po_trap.strpos(text, text) RETURNS int LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: strpos ran as %', current_user; END $f$;
SET search_path = po_trap, public, pg_catalog;
CREATE TABLE po.t (k int, v text);
INSERT INTO po.t VALUES (1, 'one'), (2, 'two');
SELECT pipeline.create_matview('po', 'lake', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/shared', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('po.mv_lake');
RESET ROLE;
SELECT po_files('/shared');
SELECT po_owner_file(:'lake' || '/shared/.pipeline-publication') AS owner_file;

-- another database sees the tree as held: in it, above it, below it
CREATE DATABASE po_other;
\c po_other
SET client_min_messages = warning;
CREATE EXTENSION pipeline;
RESET client_min_messages;
SELECT set_config('po.lake', :'lake', false) IS NOT NULL AS lake_set;
CREATE FUNCTION public.po_try(command text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE command;
  RETURN 'done';
EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value THEN
  RETURN replace(SQLERRM, current_setting('po.lake'), '<lake>');
END $$;
CREATE SCHEMA po AUTHORIZATION po_owner;
SET ROLE po_owner;
CREATE TABLE po.t (k int, v text);
INSERT INTO po.t VALUES (1, 'other');
SELECT po_try(format($c$SELECT pipeline.create_matview('po', 'lake', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', %L, 'unload-partition-by', 'k'))$c$, dest))
  FROM unnest(ARRAY[:'lake' || '/shared', :'lake' || '/shared/', :'lake', :'lake' || '/shared/k=1']) dest;
SELECT count(*) AS nothing_defined FROM pipeline.matviews;
-- beside it is no overlap
SELECT pipeline.create_matview('po', 'lake', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/other', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('po.mv_lake');
RESET ROLE;
-- a link swapped in since the definition, leading into the other
-- database's tree: the run is refused, and writes nothing there
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mv %1$s/other %1$s/other_aside && ln -s %1$s/shared/k=1 %1$s/other',
                        current_setting('po.lake')));
END $$;
INSERT INTO po.t VALUES (2, 'more');
SELECT po_try($$SELECT pipeline.refresh('po.mv_lake')$$);
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %1$s/other && mv %1$s/other_aside %1$s/other',
                        current_setting('po.lake')));
END $$;
\c contrib_regression
SELECT set_config('po.lake', :'lake', false) IS NOT NULL AS lake_set;
SELECT po_files('/shared');
SELECT pg_read_file(:'lake' || '/shared/k=1/part-00000.csv') AS still_ours;

-- as a copy of its database finds it: a tree held by another database
-- fails the run, which writes and removes nothing
\set owner_file :lake '/shared/.pipeline-publication'
COPY (VALUES ('pipeline lake publication'), ('database: po_other'), ('view: po.mv_lake')) TO :'owner_file';
UPDATE po.t SET v = 'uno' WHERE k = 1;
DELETE FROM po.t WHERE k = 2;
SELECT po_try($$SELECT pipeline.refresh('po.mv_lake')$$);
SELECT po_files('/shared');
SELECT pg_read_file(:'lake' || '/shared/k=1/part-00000.csv') AS unchanged;
SELECT partition FROM po.mv_lake ORDER BY 1;
-- that file removed (the other database no longer writes there), the
-- next run holds the tree again and catches up
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %s/shared/.pipeline-publication', current_setting('po.lake')));
END $$;
SELECT status FROM pipeline.refresh('po.mv_lake');
SELECT po_files('/shared');
SELECT pg_read_file(:'lake' || '/shared/k=1/part-00000.csv') AS caught_up;
SELECT po_owner_file(:'owner_file') AS owner_file;
-- a file naming another view of this database is that view's no longer
-- (destinations of one database do not overlap): replaced
COPY (VALUES ('pipeline lake publication'), ('database: contrib_regression'), ('view: po.mv_gone')) TO :'owner_file';
INSERT INTO po.t VALUES (3, 'three');
SELECT status FROM pipeline.refresh('po.mv_lake');
SELECT po_owner_file(:'owner_file') AS owner_file;

-- anything there but a regular file (a link to a device, a pipe whose read
-- would block) is refused, not read
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %1$s/shared/.pipeline-publication; ln -s /dev/zero %1$s/shared/.pipeline-publication',
                        current_setting('po.lake')));
END $$;
SELECT po_try($$SELECT pipeline.refresh('po.mv_lake')$$);
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %1$s/shared/.pipeline-publication; mkfifo %1$s/shared/.pipeline-publication',
                        current_setting('po.lake')));
END $$;
SELECT po_try($$SELECT pipeline.refresh('po.mv_lake')$$);

-- a file there that is not pipeline's is no tree of this database's
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %1$s/shared/.pipeline-publication; echo hello > %1$s/shared/.pipeline-publication',
                        current_setting('po.lake')));
END $$;
SELECT po_try($$SELECT pipeline.refresh('po.mv_lake')$$);
-- a directory below that the server may not enter (a mount point's
-- lost+found) holds no owner file it can see: the definition goes through
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s/mounted/lost+found && chmod 000 %1$s/mounted/lost+found',
                        current_setting('po.lake')));
END $$;
SELECT pipeline.create_matview('po', 'mounted', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/mounted', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('po.mv_mounted');
SELECT pipeline.drop_matview('po.mv_mounted');
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; chmod 700 %1$s/mounted/lost+found', current_setting('po.lake')));
END $$;

-- a publication redefined to another destination gives its old tree up
-- (files and all stay there); one redefined in place keeps its claim
CREATE FUNCTION public.po_has_owner(dir text) RETURNS boolean LANGUAGE sql AS $$
  SELECT '.pipeline-publication' IN (SELECT pg_ls_dir(current_setting('po.lake') || dir, true, false))
$$;
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/before', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('po.mv_moving');
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v, 1 AS one FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/before', 'unload-partition-by', 'k'));
SELECT po_has_owner('/before') AS kept_in_place;
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/after', 'unload-partition-by', 'k'));
SELECT status FROM pipeline.refresh('po.mv_moving');
SELECT po_has_owner('/before') AS old_tree_held, po_has_owner('/after') AS new_tree_held,
       (SELECT count(*) FROM pg_ls_dir(:'lake' || '/before') d WHERE d LIKE 'k=%') AS old_partitions_stay;

-- the owner file follows the transaction: a definition rolled back (or
-- failed) held the tree for a view that never was, and a drop rolled back
-- left the publication without it
BEGIN;
SELECT pipeline.create_matview('po', 'undone', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/undone', 'unload-partition-by', 'k'));
SELECT po_has_owner('/undone') AS held_meanwhile;
ROLLBACK;
SELECT po_has_owner('/undone') AS held_after_rollback;
BEGIN;
SAVEPOINT before_definition;
SELECT pipeline.create_matview('po', 'undone', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/undone', 'unload-partition-by', 'k'));
ROLLBACK TO before_definition;
SELECT po_has_owner('/undone') AS held_after_rollback_to_savepoint;
COMMIT;
SELECT status, detail FROM pipeline.check(format($d$/**
 * @matview-schema po
 * @matview-name checked
 * @interval-in-minutes 60
 * @matview-type unload
 * @unload-destination %s/checked
 * @unload-partition-by k
 */ SELECT k, v FROM po.t$d$, :'lake'));
SELECT po_has_owner('/checked') AS held_after_check;
-- nor does a definition that failed (here refused by its first audit)
-- leave the directories it made for the tree
SELECT pipeline.define(format($d$/**
 * @matview-schema po
 * @matview-name audited
 * @interval-in-minutes 60
 * @matview-type unload
 * @unload-destination %s/audited/deeper
 * @unload-partition-by k
 * @expect-rows 100..
 */ SELECT k, v FROM po.t$d$, :'lake'));
SELECT count(*) AS trees_left FROM pg_ls_dir(:'lake', true, false) d WHERE d IN ('audited', 'checked');
BEGIN;
SELECT pipeline.drop_matview('po.mv_moving');
SELECT po_has_owner('/after') AS held_until_the_drop_commits;
ROLLBACK;
SELECT po_has_owner('/after') AS held_after_drop_rolled_back;
BEGIN;
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/elsewhere', 'unload-partition-by', 'k'));
ROLLBACK;
SELECT po_has_owner('/after') AS old_tree_held, po_has_owner('/elsewhere') AS new_tree_held;
-- dropped and made again in one transaction, the tree stays held
BEGIN;
SELECT pipeline.drop_matview('po.mv_moving');
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/after', 'unload-partition-by', 'k'));
COMMIT;
SELECT po_has_owner('/after') AS held_by_the_new_definition;
-- moved elsewhere and back in one transaction, it stays held too
BEGIN;
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/elsewhere', 'unload-partition-by', 'k'));
SELECT pipeline.create_matview('po', 'moving', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/after', 'unload-partition-by', 'k'));
COMMIT;
SELECT po_has_owner('/after') AS held_after_moving_back;
-- a transaction that writes or removes an owner file cannot be prepared
BEGIN;
SELECT pipeline.drop_matview('po.mv_moving');
PREPARE TRANSACTION 'po_drop';
SELECT po_has_owner('/after') AS held_after_refused_prepare;
SELECT pipeline.drop_matview('po.mv_moving');
SELECT po_has_owner('/after') AS held_after_drop;
-- savepoints: a write in a released savepoint goes with its parent's
-- rollback, a rollback to a later savepoint keeps an earlier write, and a
-- claim over another view's file, rolled back, puts that file back
BEGIN;
SAVEPOINT outer_one;
SAVEPOINT inner_one;
SELECT pipeline.create_matview('po', 'nested', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/nested', 'unload-partition-by', 'k'));
RELEASE inner_one;
ROLLBACK TO outer_one;
COMMIT;
SELECT po_has_owner('/nested') AS held_after_parent_rolled_back;
BEGIN;
SELECT pipeline.create_matview('po', 'kept', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/kept', 'unload-partition-by', 'k'));
SAVEPOINT later;
SELECT 1 AS one;
ROLLBACK TO later;
COMMIT;
SELECT po_has_owner('/kept') AS held_after_a_later_savepoint_rolled_back;
SELECT pipeline.drop_matview('po.mv_kept');
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s/taken && printf ''pipeline lake publication\ndatabase: contrib_regression\nview: po.mv_gone\n'' > %1$s/taken/.pipeline-publication',
                        current_setting('po.lake')));
END $$;
BEGIN;
SELECT pipeline.create_matview('po', 'taken', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/taken', 'unload-partition-by', 'k'));
ROLLBACK;
SELECT pg_read_file(:'lake' || '/taken/.pipeline-publication') AS previous_file_back;
-- another database's tree deeper below, and a file that is not pipeline's
-- though it has a line naming this database
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s/deep/x/y && printf ''pipeline lake publication\ndatabase: elsewhere\nview: s.mv_v\n'' > %1$s/deep/x/y/.pipeline-publication'
                        || ' && mkdir -p %1$s/notes && printf ''my notes\ndatabase: contrib_regression\n'' > %1$s/notes/.pipeline-publication',
                        current_setting('po.lake')));
END $$;
SELECT po_try(format($c$SELECT pipeline.create_matview('po', 'deep', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', %L, 'unload-partition-by', 'k'))$c$, dest))
  FROM unnest(ARRAY[:'lake' || '/deep', :'lake' || '/notes']) dest;
SELECT pg_read_file(:'lake' || '/notes/.pipeline-publication') AS notes_unchanged;
DROP FUNCTION public.po_has_owner(text);

-- a file a failed run left outside the destination, after the publication
-- moved: not removed once another database's publication holds that tree
-- (h131: each later failing run removed the other database's file again)
SET ROLE po_owner;
CREATE TABLE po.h (k int, v int);
INSERT INTO po.h VALUES (1, 1);
CREATE TABLE po.h_refuse (refuse boolean);
INSERT INTO po.h_refuse VALUES (false);
CREATE FUNCTION po.h_delete(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT refuse FROM po.h_refuse) THEN RAISE EXCEPTION 'delete refused'; END IF;
  RETURN true;
END $f$;
SELECT pipeline.create_matview('po', 'hand', 'SELECT k, v FROM po.h', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/hand', 'unload-partition-by', 'k',
                                     'unload-delete-function', 'po.h_delete'));
SELECT status FROM pipeline.refresh('po.mv_hand');
UPDATE po.h_refuse SET refuse = true;
UPDATE po.h SET v = 2;
SELECT status FROM pipeline.refresh('po.mv_hand');
SELECT pipeline.create_matview('po', 'hand', 'SELECT k, v FROM po.h', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/hand2', 'unload-partition-by', 'k',
                                     'unload-delete-function', 'po.h_delete'));
RESET ROLE;
SELECT count(*) AS files_left FROM po_files('/hand/k=1') f;
-- the other database takes the tree (its owner file, as its definition writes it)
SELECT :'lake' || '/hand/.pipeline-publication' AS owner_file \gset
COPY (VALUES ('pipeline lake publication'), ('database: po_other'), ('view: po.mv_lake')) TO :'owner_file';
SET ROLE po_owner;
SELECT status FROM pipeline.refresh('po.mv_hand');
RESET ROLE;
SELECT count(*) AS files_kept FROM po_files('/hand/k=1') f;
SELECT pipeline.drop_matview('po.mv_hand');
DROP TABLE po.h, po.h_refuse;
DROP FUNCTION po.h_delete(text);

DROP DATABASE po_other;
-- a file naming this database and view, written by another cluster (a
-- copy of the database restored there under the same name, which README's
-- "pg_dump" says to redefine elsewhere): its runs are refused, and moving
-- or dropping the publication here leaves that file (it removed it, and a
-- third database then took the other cluster's tree)
SET ROLE po_owner;
SELECT pipeline.create_matview('po', 'copied', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/copied', 'unload-partition-by', 'k'));
RESET ROLE;
\set copied_file :lake '/copied/.pipeline-publication'
COPY (VALUES ('pipeline lake publication'), ('database: contrib_regression'), ('view: po.mv_copied'),
             ('system: 1')) TO :'copied_file';
SET ROLE po_owner;
SELECT po_try($$SELECT pipeline.refresh('po.mv_copied')$$);
SELECT pipeline.create_matview('po', 'copied', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/copied_here', 'unload-partition-by', 'k'));
SELECT pipeline.drop_matview('po.mv_copied');
RESET ROLE;
SELECT po_owner_file(:'copied_file') AS other_clusters_file_kept;
-- a file an older library wrote for the view (no system line) is still its
-- own: dropping the publication removes it
SET ROLE po_owner;
SELECT pipeline.create_matview('po', 'older', 'SELECT k, v FROM po.t', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake' || '/older', 'unload-partition-by', 'k'));
RESET ROLE;
\set older_file :lake '/older/.pipeline-publication'
COPY (VALUES ('pipeline lake publication'), ('database: contrib_regression'), ('view: po.mv_older')) TO :'older_file';
SET ROLE po_owner;
SELECT pipeline.drop_matview('po.mv_older');
RESET ROLE;
SELECT count(*) AS older_file_left FROM pg_ls_dir(:'lake' || '/older') d WHERE d = '.pipeline-publication';

-- a link planted where a claim writes its temporary owner file is not
-- written through: the file it leads to would have taken the owner's text
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; mkdir -p %1$s/planted && echo untouched > %1$s/aside && '
                        'ln -s %1$s/aside %1$s/planted/.pipeline-publication.%2$s',
                        current_setting('po.lake'), pg_backend_pid()));
END $$;
SET ROLE po_owner;
DO $$ BEGIN
  PERFORM pipeline.create_matview('po', 'planted', 'SELECT k, v FROM po.t', '1 hour', 'unload',
          options => jsonb_build_object('unload-destination', current_setting('po.lake') || '/planted',
                                        'unload-partition-by', 'k'));
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%', replace(replace(SQLERRM, current_setting('po.lake'), '<lake>'),
                            pg_backend_pid()::text, '<pid>');
END $$;
RESET ROLE;
SELECT pg_read_file(:'lake' || '/aside') AS aside;
SELECT po_owner_file(:'lake' || '/planted/.pipeline-publication') AS planted_owner;
SELECT pipeline.drop_matview('po.mv_planted');

-- a dropped publication gives its tree up: its files stay, its owner file
-- goes (another database may publish there now)
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm %1$s/shared/.pipeline-publication', current_setting('po.lake')));
END $$;
SELECT status FROM pipeline.refresh('po.mv_lake');
SELECT po_files('/shared');
SELECT pipeline.drop_matview('po.mv_lake');
SELECT po_files('/shared');
DO $$ BEGIN
  EXECUTE format('COPY (SELECT) TO PROGRAM %L',
                 format('cat > /dev/null; rm -rf %s', current_setting('po.lake')));
END $$;
DROP FUNCTION public.po_try(text);
DROP FUNCTION public.po_files(text);
DROP FUNCTION public.po_owner_file(text);
DROP SCHEMA po CASCADE;
DROP SCHEMA po_trap CASCADE;
REVOKE pg_write_server_files FROM po_owner;
DROP ROLE po_owner;
