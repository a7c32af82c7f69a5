-- Installing the oldest version and upgrading step by step (1.0 to 1.2,
-- then 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 1.10, 1.11, 1.12, 1.13, 1.14, 1.15, 1.16, 1.17, 1.18, 1.19, 1.20, 1.21, 1.22, 1.23, 1.24, 1.25, 1.26, 1.27, 1.28, 1.29 and 1.30) must give what a fresh install of the current
-- version gives: the same member objects, function definitions, columns,
-- constraints, indexes, privileges, policies, triggers, comments and dump
-- configuration.  In a database of its own, so the other tests' objects
-- stay out of it.
SET client_min_messages = warning;
CREATE DATABASE pipeline_upgrade;
\c pipeline_upgrade
SET client_min_messages = warning;

SELECT source, target, path FROM pg_extension_update_paths('pipeline')
 WHERE path IS NOT NULL ORDER BY source, target;

CREATE TEMP VIEW pipeline_shape AS
WITH ext AS (
    SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'pipeline'
), members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
    SELECT c.oid FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
)
SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0)
       || coalesce(' -- ' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '')
  FROM members m
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' (' || pg_get_function_arguments(p.oid) || ') returns '
       || pg_get_function_result(p.oid) || ' as ' || p.prosrc || ' ' || p.provolatile::text || p.proisstrict::text
       || p.prosecdef::text || coalesce(' ' || p.proacl::text, '') || coalesce(' ' || p.proconfig::text, '')
  FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' step ' || a.aggtransfn::regprocedure
       || ' combine ' || a.aggcombinefn::regproc || ' final ' || a.aggfinalfn::regproc
       || ' state ' || format_type(a.aggtranstype, NULL) || ' ' || a.aggtransspace
  FROM pg_aggregate a JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = a.aggfnoid
UNION ALL
SELECT 'column ' || a.attrelid::regclass || ' ' || a.attnum || ' ' || quote_ident(a.attname) || ' '
       || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
       || coalesce(' -- ' || col_description(a.attrelid, a.attnum), '')
  FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN rels r ON r.oid = c.conrelid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rels r ON r.oid = i.indrelid
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || coalesce(' ' || c.relacl::text, '')
       || CASE WHEN c.relrowsecurity THEN ' row security' ELSE '' END
       || coalesce(' options ' || c.reloptions::text, '')
       || ' replica identity ' || c.relreplident::text
       || coalesce(' view ' || pg_get_viewdef(c.oid), '')
  FROM pg_class c JOIN rels r ON r.oid = c.oid
UNION ALL
SELECT 'policy ' || p.polrelid::regclass || ' ' || p.polname || ' ' || p.polcmd::text || ' '
       || p.polroles::text || coalesce(' using ' || pg_get_expr(p.polqual, p.polrelid), '')
       || coalesce(' check ' || pg_get_expr(p.polwithcheck, p.polrelid), '')
  FROM pg_policy p JOIN rels r ON r.oid = p.polrelid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'event trigger ' || e.evtname || ' on ' || e.evtevent || ' ' || e.evtfoid::regproc || ' '
       || e.evtenabled::text || coalesce(' ' || e.evttags::text, '')
  FROM pg_event_trigger e JOIN members m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
UNION ALL
SELECT 'dumped ' || cfg::regclass || ' where ' || cond
  FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)
UNION ALL
SELECT 'schema acl ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'pipeline';

CREATE EXTENSION pipeline VERSION '1.0';
-- history 1.0 could write: two runs of one view for one label and attempt
CREATE TABLE raw (x int);
SELECT pipeline.create_matview('public', 'counted', 'SELECT count(*) AS n FROM raw', '1 hour');
INSERT INTO pipeline.runs (matview, time_label, attempt, status)
VALUES ('mv_counted', '2026-01-01 00:00+00', 1, 'succeeded'),
       ('mv_counted', '2026-01-01 00:00+00', 1, 'succeeded'),
       ('mv_counted', '2026-01-01 00:00+00', 2, 'failed'),
       ('mv_counted', '2026-01-01 01:00+00', 1, 'succeeded');
-- this library runs nothing on 1.0's catalog, and says why
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
-- nor apply_changes(), whose row check is 1.1's
CREATE TABLE cart (id int PRIMARY KEY, qty int, seq int);
CREATE TABLE cart_changes (id int, qty int, seq int, op text);
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
DROP TABLE cart, cart_changes;
-- views of both kinds, defined before queries were bound (1.2)
CREATE TABLE clicks (seq int, who text);
INSERT INTO clicks VALUES (1, 'a'), (2, 'b');
SELECT pipeline.create_matview('public', 'lowered', 'SELECT lower(who) AS who FROM raw, clicks', '1 hour');
SELECT pipeline.create_matview('public', 'click_log', 'SELECT seq, who FROM clicks', '1 hour',
                               'incremental', 'seq');
ALTER EXTENSION pipeline UPDATE TO '1.2';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
-- the upgrade bound them: the rule's form for a materialized view, the
-- stored text read with the owner's search_path for an incremental one
SELECT name, query, bound_query FROM pipeline.matview_definitions ORDER BY name;
-- and a redefinition works on the upgraded catalog
SELECT pipeline.create_matview('public', 'click_log', 'SELECT seq, who FROM clicks WHERE seq > 1',
                               '1 hour', 'incremental', 'seq');
SELECT * FROM public.mv_click_log ORDER BY seq;
-- refresh() of an incremental view under 1.2's SQL (it read 1.3's capture
-- catalog before)
INSERT INTO clicks VALUES (3, 'c');
SELECT matview, status FROM pipeline.refresh('public.mv_click_log');
SELECT * FROM public.mv_click_log ORDER BY seq;
-- views defined under 1.2's SQL (by this newer library), before refresh modes (1.3)
SELECT pipeline.create_matview('public', 'who_count', 'SELECT who, count(*) AS n FROM clicks GROUP BY who',
                               '1 hour');
SELECT pipeline.define($d$/**
 * @matview-schema public
 * @matview-name who_count
 * @interval-in-minutes 30
 */ SELECT who, count(*) AS n FROM clicks GROUP BY who$d$);
ALTER EXTENSION pipeline UPDATE TO '1.3';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
-- regular views defined before refresh modes refresh fully until redefined
SELECT d.name, d.requested_refresh_mode, m.refresh_mode, m.full_refresh_reason
  FROM pipeline.matview_definitions d JOIN pipeline.matviews m USING (matview) ORDER BY d.name;
SELECT pipeline.create_matview('public', 'who_count', 'SELECT who, count(*) AS n FROM clicks GROUP BY who',
                               '1 hour', refresh_mode => 'full');
SELECT name, refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE name = 'who_count';
-- 1.4: pipeline.status shows how far behind each view is
ALTER EXTENSION pipeline UPDATE TO '1.4';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT matview, lag IS NOT NULL AND lag >= '0' AS has_lag FROM pipeline.status ORDER BY matview::text;
-- 1.5: declared flows; a rejection recorded before keeps a NULL dedup id
CREATE TABLE ingest_target (dedup_id text, n int);
SELECT * FROM pipeline.ingest('ingest_target', '[{"dedup_id": "r1", "n": "x"}]');
ALTER EXTENSION pipeline UPDATE TO '1.5';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT dedup_id, accepted_at FROM pipeline.rejected;
SELECT * FROM pipeline.ingest('ingest_target', '[{"dedup_id": "r1", "n": 1}, {"dedup_id": "r2", "n": "y"}]');
SELECT dedup_id, accepted_at IS NOT NULL AS accepted FROM pipeline.rejected ORDER BY dedup_id;
DELETE FROM pipeline.rejected;
DELETE FROM pipeline.ingested;
DROP TABLE ingest_target;
-- 1.6: operating a pipeline; runs recorded before have no process start,
-- and pipeline.status gains the freshness SLA
ALTER EXTENSION pipeline UPDATE TO '1.6';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS runs, count(worker_started_at) AS with_start FROM pipeline.runs;
SELECT matview, sla_minutes, sla_breached FROM pipeline.status ORDER BY matview::text;
SELECT pipeline.create_matview('public', 'who_count', 'SELECT who, count(*) AS n FROM clicks GROUP BY who',
                               '1 hour', options => '{"expect": "counted: n > 0", "freshness-sla-minutes": "60"}');
SELECT matview, sla_minutes FROM pipeline.status ORDER BY matview::text;
SELECT pipeline.drop_matview('mv_who_count');
SELECT pipeline.drop_matview('mv_click_log');
SELECT pipeline.drop_matview('mv_lowered');
DROP TABLE clicks;
-- the history is kept, the repeated attempt numbered after the others
SELECT time_label AT TIME ZONE 'UTC' AS time_label, attempt, status
  FROM pipeline.runs ORDER BY run_id;
SELECT pipeline.drop_matview('mv_counted');
DROP TABLE raw;
-- 1.7: min() and max() of differential views keep their groups' best
-- values; a view made before keeps its state (the extreme alone) until it
-- is redefined, and is refreshed as exactly as before
CREATE TABLE prices (item int, price int);
INSERT INTO prices SELECT i % 3, i FROM generate_series(1, 30) i;
SELECT pipeline.create_matview('public', 'cheapest', 'SELECT item, min(price) AS low, max(price) AS high FROM prices GROUP BY item',
                               '1 hour', refresh_mode => 'differential');
-- and over an enum, whose ordering operators pg_catalog has only for
-- anyenum: a look-alike operator on the owner's search_path (here public)
-- must not be what the legacy refresh compares with
CREATE TYPE grade AS ENUM ('l11', 'l12', 'l13', 'l14', 'l15', 'l16', 'l17', 'l18', 'l19', 'l20',
    'l21', 'l22', 'l23', 'l24', 'l25', 'l26', 'l27', 'l28', 'l29', 'l30',
    'l31', 'l32', 'l33', 'l34', 'l35', 'l36', 'l37', 'l38', 'l39', 'l40');
CREATE TABLE labels (item int, label grade);
INSERT INTO labels SELECT i % 3, ('l' || (10 + i))::grade FROM generate_series(1, 30) i;
SELECT pipeline.create_matview('public', 'first_label', 'SELECT item, min(label) AS low, max(label) AS high FROM labels GROUP BY item',
                               '1 hour', refresh_mode => 'differential');
ALTER EXTENSION pipeline UPDATE TO '1.7';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT status FROM pipeline.refresh('mv_first_label');
CREATE FUNCTION public.trap_compare(grade, grade) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'trap operator called by %', current_user; RETURN false; END $$;
CREATE OPERATOR public.<= (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_compare);
CREATE OPERATOR public.>= (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_compare);
CREATE OPERATOR public.< (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_compare);
CREATE OPERATOR public.> (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_compare);
SET client_min_messages = notice;
DELETE FROM labels WHERE label IN ('l11', 'l12', 'l13', 'l38', 'l39', 'l40');
SELECT status FROM pipeline.refresh('mv_first_label');
SET client_min_messages = warning;
SELECT * FROM mv_first_label ORDER BY item;
SELECT pipeline.drop_matview('mv_first_label');
DROP TABLE labels;
DROP FUNCTION public.trap_compare(grade, grade) CASCADE;
DROP TYPE grade;
DELETE FROM prices WHERE price IN (1, 2, 3, 28, 29, 30);
SELECT status FROM pipeline.refresh('mv_cheapest');
SELECT * FROM mv_cheapest ORDER BY item;
SELECT count(*) FILTER (WHERE a.attname LIKE 'top\_%') AS kept_columns, count(*) FILTER (WHERE a.attname LIKE 'ext\_%') AS extreme_columns
  FROM pg_attribute a WHERE a.attrelid = ('pipeline.state_' || 'mv_cheapest'::regclass::oid)::regclass AND a.attnum > 0;
SELECT pipeline.drop_matview('mv_cheapest');
DROP TABLE prices;
-- 1.8: the deleted-key memory loses its expiry index; targets with keys
-- remembered are listed in pipeline.deleted_keys_targets, due for pruning
CREATE TABLE mirror (id int PRIMARY KEY, seq int);
CREATE TABLE mirror_changes (id int, seq int, op text);
INSERT INTO mirror VALUES (1, 1), (2, 1);
INSERT INTO mirror_changes VALUES (1, 5, 'D');
SELECT * FROM pipeline.apply_changes('mirror_changes', 'mirror', '{id}', 'seq');
ALTER EXTENSION pipeline UPDATE TO '1.8';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT target, pruned_at FROM pipeline.deleted_keys_targets;
INSERT INTO mirror_changes VALUES (1, 4, 'U'), (2, 5, 'D');
SELECT * FROM pipeline.apply_changes('mirror_changes', 'mirror', '{id}', 'seq');
SELECT target, pruned_at > now() - interval '1 minute' AS pruned_now FROM pipeline.deleted_keys_targets;
SELECT key, sequence FROM pipeline.deleted_keys ORDER BY key;
DROP TABLE mirror, mirror_changes;
SELECT count(*) AS forgotten FROM pipeline.deleted_keys_targets;
-- 1.9: a differential view's state keeps one count of non-NULL values per
-- argument rather than per aggregate, and min() and max() take in the best
-- values of the rows that came; a state made before keeps its counts and
-- its view is refreshed as exactly as before
CREATE TABLE scores (item int, score numeric);
INSERT INTO scores SELECT i % 3, i / 4.0 FROM generate_series(1, 30) i;
CREATE VIEW scores_now AS
SELECT item, count(score) AS n, sum(score) AS total, avg(score) AS mean, min(score) AS low, max(score) AS high
  FROM scores GROUP BY item;
SELECT pipeline.create_matview('public', 'scored', 'SELECT item, count(score) AS n, sum(score) AS total, avg(score) AS mean, min(score) AS low, max(score) AS high FROM scores GROUP BY item',
                               '1 hour', refresh_mode => 'differential');
-- refreshed before the update too, as the library refreshes for 1.8's SQL
INSERT INTO scores VALUES (1, 0.125), (1, 99.5), (2, NULL);
DELETE FROM scores WHERE score IN (0.5, 7.25);
SELECT status FROM pipeline.refresh('mv_scored');
SELECT count(*) AS differences  -- as text: a numeric's scale counts
  FROM ((SELECT kept::text FROM mv_scored kept EXCEPT ALL SELECT fresh::text FROM scores_now fresh)
        UNION ALL (SELECT fresh::text FROM scores_now fresh EXCEPT ALL SELECT kept::text FROM mv_scored kept)) d;
ALTER EXTENSION pipeline UPDATE TO '1.9';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
INSERT INTO scores SELECT i % 3, i / 8.0 FROM generate_series(31, 60) i;
DELETE FROM scores WHERE score IN (0.25, 7.5, 3.625);
SELECT status FROM pipeline.refresh('mv_scored');
SELECT count(*) AS differences  -- as text: a numeric's scale counts
  FROM ((SELECT kept::text FROM mv_scored kept EXCEPT ALL SELECT fresh::text FROM scores_now fresh)
        UNION ALL (SELECT fresh::text FROM scores_now fresh EXCEPT ALL SELECT kept::text FROM mv_scored kept)) d;
SELECT count(*) FILTER (WHERE a.attname LIKE 'nn\_%') AS counts
  FROM pg_attribute a WHERE a.attrelid = ('pipeline.state_' || 'mv_scored'::regclass::oid)::regclass AND a.attnum > 0;
SELECT pipeline.drop_matview('mv_scored');
DROP VIEW scores_now;
DROP TABLE scores;
-- 1.10: set_after_refresh() takes a regprocedure as well
ALTER EXTENSION pipeline UPDATE TO '1.10';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT pg_catalog.pg_get_function_identity_arguments(p.oid) AS set_after_refresh
  FROM pg_catalog.pg_proc p
 WHERE p.proname = 'set_after_refresh' AND p.pronamespace = 'pipeline'::regnamespace ORDER BY 1;
-- 1.11: a lake publication's delete function is kept by OID; the update
-- resolves the qualified signature 1.10 kept in the options, and one
-- dropped since stays NULL (its runs fail, saying so)
CREATE TABLE cases (id int, day int);
INSERT INTO cases VALUES (1, 1), (2, 2);
CREATE TABLE deleted (path text);
CREATE FUNCTION delete_partition(path text) RETURNS boolean LANGUAGE sql
AS $$ INSERT INTO deleted VALUES (path) RETURNING true $$;
CREATE FUNCTION gone(path text) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT current_setting('data_directory') || '/upgrade_lake' AS lake \gset
SELECT pipeline.create_matview('public', 'lake', 'SELECT id, day FROM cases', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake' || '/a', 'unload-partition-by', 'day',
                                  'unload-delete-function', 'delete_partition'));
SELECT pipeline.create_matview('public', 'lake_gone', 'SELECT id, day FROM cases', '1 hour', 'unload',
    options => jsonb_build_object('unload-destination', :'lake' || '/b', 'unload-partition-by', 'day',
                                  'unload-delete-function', 'gone'));
DROP FUNCTION gone(text);
SELECT name, options ->> 'unload-delete-function' AS stored FROM pipeline.matview_definitions ORDER BY name;
ALTER EXTENSION pipeline UPDATE TO '1.11';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT name, options ->> 'unload-delete-function' AS stored, delete_function
  FROM pipeline.matview_definitions ORDER BY name;
-- called by OID: a renamed function keeps working, a dropped one cannot be
ALTER FUNCTION delete_partition(text) RENAME TO delete_lake_partition;
DELETE FROM cases WHERE id = 2;
SELECT status FROM pipeline.refresh('mv_lake');
SELECT path FROM deleted;
DROP FUNCTION delete_lake_partition(text);
SELECT status FROM pipeline.refresh('mv_lake_gone');
SELECT pipeline.drop_matview('mv_lake');
SELECT pipeline.drop_matview('mv_lake_gone');
DROP FUNCTION delete_lake_partition(text);
DROP TABLE cases, deleted;
-- 1.12: pipeline.status.next_label follows the latest run, failed ones too
ALTER EXTENSION pipeline UPDATE TO '1.12';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
-- 1.13: a dropped table's ingested ids and rejected messages go with it;
-- the update removes those earlier versions left behind
CREATE TABLE inbox (dedup_id text, n int);
SELECT * FROM pipeline.ingest('inbox', '[{"dedup_id": "a", "n": 1}, {"dedup_id": "b", "n": "x"}]');
CREATE TABLE inbox_kept (dedup_id text, n int);
SELECT * FROM pipeline.ingest('inbox_kept', '[{"dedup_id": "k", "n": 1}]');
DROP TABLE inbox;
SELECT count(*) AS ids_left_behind FROM pipeline.ingested WHERE NOT EXISTS
  (SELECT 1 FROM pg_class c WHERE c.oid = target);
ALTER EXTENSION pipeline UPDATE TO '1.13';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT target, dedup_id FROM pipeline.ingested ORDER BY 1, 2;
SELECT count(*) AS rejected_left FROM pipeline.rejected;
SELECT * FROM pipeline.ingest('inbox_kept', '[{"dedup_id": "k2", "n": "y"}]');
DROP TABLE inbox_kept;
SELECT count(*) AS ids_left, (SELECT count(*) FROM pipeline.rejected) AS rejected_left FROM pipeline.ingested;
-- 1.14: upstream(), downstream() and graph() refuse a null argument by name
SELECT count(*) AS downstream_of_null FROM pipeline.downstream(NULL);
ALTER EXTENSION pipeline UPDATE TO '1.14';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS downstream_of_null FROM pipeline.downstream(NULL);
-- 1.15: pipeline.status.sla_breached gives the newest label's run until the next label
ALTER EXTENSION pipeline UPDATE TO '1.15';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
-- 1.16: a publication's digests follow pipeline.can_see()
SELECT pg_get_expr(polqual, polrelid) AS digest_readers FROM pg_policy
 WHERE polname = 'publication_state_readers';
ALTER EXTENSION pipeline UPDATE TO '1.16';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT pg_get_expr(polqual, polrelid) AS digest_readers FROM pg_policy
 WHERE polname = 'publication_state_readers';
-- 1.17: descriptions for \df+ and \dv+
SELECT obj_description('pipeline.upstream(regclass)'::regprocedure, 'pg_proc') IS NOT NULL AS upstream_described;
ALTER EXTENSION pipeline UPDATE TO '1.17';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT obj_description('pipeline.upstream(regclass)'::regprocedure, 'pg_proc') IS NOT NULL AS upstream_described;
-- 1.18: graph() takes 'DOT'; no function searches pipeline's schema
SELECT count(*) AS searching_pipeline FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pipeline' AND 'search_path=pg_catalog, pipeline, pg_temp' = ANY (p.proconfig);
ALTER EXTENSION pipeline UPDATE TO '1.18';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS searching_pipeline FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pipeline' AND 'search_path=pg_catalog, pipeline, pg_temp' = ANY (p.proconfig);
SELECT pipeline.graph('DOT') = pipeline.graph('dot') AS any_case;
-- 1.19: pipeline.status finds blocking failures in one walk down from them
SELECT count(*) AS blocked_views_functions FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pipeline' AND p.proname = 'blocked_views';
ALTER EXTENSION pipeline UPDATE TO '1.19';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS blocked_views_functions FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pipeline' AND p.proname = 'blocked_views';
SELECT count(*) AS status_rows FROM pipeline.status;
-- 1.20: next_label counts the interval in seconds; runs in progress by an index
SELECT count(*) AS running_indexes FROM pg_indexes WHERE schemaname = 'pipeline' AND indexname = 'runs_running_idx';
ALTER EXTENSION pipeline UPDATE TO '1.20';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS running_indexes FROM pg_indexes WHERE schemaname = 'pipeline' AND indexname = 'runs_running_idx';
-- 1.21: pipeline.numeric_sum(), a delta's sum of a few rows per group
ALTER EXTENSION pipeline UPDATE TO '1.21';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT pipeline.numeric_sum(x) AS summed, pipeline.numeric_sum(x) = sum(x) AS as_sum
  FROM (VALUES (1.5), (NULL), (2.25), (-0.75)) v(x);
-- 1.22: the internal aggregates' support functions are not PUBLIC's
SELECT count(*) AS public_support_functions FROM pg_proc p
 WHERE p.pronamespace = 'pipeline'::regnamespace AND p.proname IN ('kept_extremes_step', 'scale_census_rows')
   AND has_function_privilege('pg_database_owner', p.oid, 'EXECUTE');
ALTER EXTENSION pipeline UPDATE TO '1.22';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT count(*) AS public_support_functions FROM pg_proc p
 WHERE p.pronamespace = 'pipeline'::regnamespace AND p.proname IN ('kept_extremes_step', 'scale_census_rows')
   AND has_function_privilege('pg_database_owner', p.oid, 'EXECUTE');
-- 1.23: pipeline.staged is a security barrier; deleted_keys_targets shows
-- a target under row-level security only to a role that reads all its rows
SELECT reloptions AS staged_options FROM pg_class WHERE oid = 'pipeline.staged'::regclass;
ALTER EXTENSION pipeline UPDATE TO '1.23';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT reloptions AS staged_options FROM pg_class WHERE oid = 'pipeline.staged'::regclass;
SELECT pg_get_expr(polqual, polrelid) AS targets_readers FROM pg_policy
 WHERE polname = 'deleted_keys_targets_readers';
-- 1.24: pipeline.status's next_label is unknown for a view whose runs the
-- caller may not see (one more pipeline.can_see() in its definition)
SELECT (length(v) - length(replace(v, 'can_see(', ''))) / 8 AS status_can_see_calls
  FROM pg_get_viewdef('pipeline.status'::regclass) v;
ALTER EXTENSION pipeline UPDATE TO '1.24';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT (length(v) - length(replace(v, 'can_see(', ''))) / 8 AS status_can_see_calls
  FROM pg_get_viewdef('pipeline.status'::regclass) v;
-- 1.25: the deleted-key memory keeps each sequence's type, in its key
SELECT string_agg(attname, ', ' ORDER BY attnum) AS deleted_keys_columns FROM pg_attribute
 WHERE attrelid = 'pipeline.deleted_keys'::regclass AND attnum > 0 AND NOT attisdropped;
ALTER EXTENSION pipeline UPDATE TO '1.25';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT string_agg(attname, ', ' ORDER BY attnum) AS deleted_keys_columns FROM pg_attribute
 WHERE attrelid = 'pipeline.deleted_keys'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'pipeline.deleted_keys'::regclass ORDER BY conname;
-- 1.26: pipeline's event trigger on sql_drop fires always
SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'pipeline_forget_deleted_keys';
ALTER EXTENSION pipeline UPDATE TO '1.26';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'pipeline_forget_deleted_keys';
-- 1.27: the status view counts the next label from one of the interval's own
SELECT strpos(pg_get_viewdef('pipeline.status'::regclass), 'time_label(d.refresh_interval, COALESCE(l.last_time_label') > 0
       AS next_label_aligned;
ALTER EXTENSION pipeline UPDATE TO '1.27';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT strpos(pg_get_viewdef('pipeline.status'::regclass), 'time_label(d.refresh_interval, COALESCE(l.last_time_label') > 0
       AS next_label_aligned;
-- 1.28: the memory's targets record the types of the keys and sequences
-- remembered (the sequences' from the memory, the keys' by the next apply)
CREATE TABLE typed_target (id int PRIMARY KEY, seq bigint);
CREATE TABLE typed_target_changes (id int, seq bigint, op text);
INSERT INTO typed_target_changes VALUES (1, 1, 'I'), (1, 2, 'D');
SELECT * FROM pipeline.apply_changes('typed_target_changes', 'typed_target', '{id}', 'seq');
ALTER EXTENSION pipeline UPDATE TO '1.28';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT target, keys, key_types, sequence_types FROM pipeline.deleted_keys_targets;
INSERT INTO typed_target_changes VALUES (2, 1, 'I'), (2, 2, 'D');
SELECT * FROM pipeline.apply_changes('typed_target_changes', 'typed_target', '{id}', 'seq');
SELECT target, keys, key_types, sequence_types FROM pipeline.deleted_keys_targets;
DROP TABLE typed_target, typed_target_changes;
-- 1.29: downstream() of a partition lists the views of its parent
CREATE TABLE parted (k int) PARTITION BY LIST (k);
CREATE TABLE parted_one PARTITION OF parted FOR VALUES IN (1);
SELECT pipeline.create_matview('public', 'parted_count', 'SELECT count(*) AS n FROM public.parted', '1 hour');
SELECT * FROM pipeline.downstream('parted_one');
ALTER EXTENSION pipeline UPDATE TO '1.29';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
SELECT * FROM pipeline.downstream('parted_one');
SELECT pipeline.drop_matview('mv_parted_count');
DROP TABLE parted;
-- 1.30: another role's hook no longer pins a function (its drop is
-- refused only to roles with the view owner's privileges)
ALTER EXTENSION pipeline UPDATE TO '1.30';
SELECT extversion AS upgraded_to FROM pg_extension WHERE extname = 'pipeline';
CREATE TEMP TABLE upgraded AS SELECT * FROM pipeline_shape AS s(fact);
DROP EXTENSION pipeline;
CREATE EXTENSION pipeline;
SELECT extversion AS fresh FROM pg_extension WHERE extname = 'pipeline';
CREATE TEMP TABLE fresh AS SELECT * FROM pipeline_shape AS s(fact);

SELECT count(*) > 100 AS compared_many_facts FROM fresh;
-- both empty when the upgrade path is right
(SELECT 'only after upgrade' AS "where", fact FROM upgraded EXCEPT ALL SELECT 'only after upgrade', fact FROM fresh)
UNION ALL
(SELECT 'only in fresh install', fact FROM fresh EXCEPT ALL SELECT 'only in fresh install', fact FROM upgraded)
ORDER BY 1, 2;

\c contrib_regression
DROP DATABASE pipeline_upgrade;
