-- Hardening: no role gains rights it lacks through search_path.
--
-- A login role "attacker" owns only its schema "attacker", where it puts
-- traps that shadow the operators and functions pipeline's own SQL (and
-- other roles' code) use: =, <>, <, >, <=, >= for the usual types, now(),
-- clock_timestamp(), unnest(), lower(), count(*), max(), string_agg(), ...
-- With "attacker, pg_catalog" as its search_path (so the traps win over
-- pg_catalog), it calls every API function.  A trap logs who ran it and, run
-- as anyone else, tries to make the attacker a superuser.  Afterwards: the
-- traps ran only as the attacker, the attacker is no superuser, and the
-- other roles' views are bound to what they meant when defined.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE ROLE attacker LOGIN;
CREATE ROLE victim LOGIN;
CREATE SCHEMA attacker AUTHORIZATION attacker;
CREATE SCHEMA victim AUTHORIZATION victim;
GRANT USAGE ON SCHEMA attacker TO victim;
GRANT CREATE ON SCHEMA public TO attacker;

-- the log the traps write to, as whoever runs them
CREATE TABLE public.trap_log (who name, trap text);
GRANT SELECT, INSERT ON public.trap_log TO PUBLIC;

SET SESSION AUTHORIZATION attacker;
CREATE FUNCTION attacker.sprung(trap text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN
    INSERT INTO public.trap_log VALUES (current_user, trap);
    IF current_user <> 'attacker' THEN
        BEGIN
            EXECUTE 'ALTER ROLE attacker SUPERUSER';
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
END $f$;
GRANT EXECUTE ON FUNCTION attacker.sprung(text) TO PUBLIC;

-- operator traps: one comparison function per type and operator
DO $d$
DECLARE
    t text;
    op record;
BEGIN
    FOREACH t IN ARRAY ARRAY['oid', 'regclass', 'text', 'name', 'integer', 'bigint',
                             'timestamptz', 'boolean', 'xid8', 'regprocedure', 'interval']
    LOOP
        FOR op IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne'), ('<', 'lt'), ('>', 'gt'),
                                        ('<=', 'le'), ('>=', 'ge')) AS o(sym, word)
        LOOP
            EXECUTE format($fn$
                CREATE FUNCTION attacker.%1$s_%2$s(%3$s, %3$s) RETURNS boolean
                LANGUAGE plpgsql SET search_path = pg_catalog AS $b$
                BEGIN
                    PERFORM attacker.sprung(%4$L);
                    RETURN $1 OPERATOR(pg_catalog.%5$s) $2;
                END $b$$fn$, op.word, replace(t, ' ', '_'), t, op.sym || ' ' || t, op.sym);
            EXECUTE format('CREATE OPERATOR attacker.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = attacker.%s_%s)',
                           op.sym, t, t, op.word, replace(t, ' ', '_'));
        END LOOP;
    END LOOP;
END $d$;

-- function traps
CREATE FUNCTION attacker.now() RETURNS timestamptz LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('now'); RETURN pg_catalog.now(); END $f$;
CREATE FUNCTION attacker.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END $f$;
CREATE FUNCTION attacker.lower(text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('lower'); RETURN pg_catalog.lower($1); END $f$;
CREATE FUNCTION attacker.upper(text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('upper'); RETURN pg_catalog.upper($1); END $f$;
CREATE FUNCTION attacker.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $f$
BEGIN PERFORM attacker.sprung('unnest'); RETURN QUERY SELECT pg_catalog.unnest($1); END $f$;
CREATE FUNCTION attacker.quote_ident(text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('quote_ident'); RETURN pg_catalog.quote_ident($1); END $f$;
CREATE FUNCTION attacker.format_type(oid, integer) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('format_type'); RETURN pg_catalog.format_type($1, $2); END $f$;
CREATE FUNCTION attacker.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql AS $f$
BEGIN PERFORM attacker.sprung('pg_current_xact_id'); RETURN pg_catalog.pg_current_xact_id(); END $f$;
CREATE FUNCTION attacker.pg_current_snapshot() RETURNS pg_snapshot LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('pg_current_snapshot'); RETURN pg_catalog.pg_current_snapshot(); END $f$;
CREATE FUNCTION attacker.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('jsonb_typeof'); RETURN pg_catalog.jsonb_typeof($1); END $f$;
CREATE FUNCTION attacker.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('pg_get_userbyid'); RETURN pg_catalog.pg_get_userbyid($1); END $f$;
CREATE FUNCTION attacker.count_step(bigint) RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('count(*)'); RETURN $1 + 1; END $f$;
CREATE AGGREGATE attacker.count(*) (SFUNC = attacker.count_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION attacker.max_step(timestamptz, timestamptz) RETURNS timestamptz LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('max'); RETURN pg_catalog.greatest($1, $2); END $f$;
CREATE AGGREGATE attacker.max(timestamptz) (SFUNC = attacker.max_step, STYPE = timestamptz);
CREATE FUNCTION attacker.agg_step(text, text, text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('string_agg'); RETURN $1 OPERATOR(pg_catalog.||) $2; END $f$;
CREATE AGGREGATE attacker.string_agg(text, text) (SFUNC = attacker.agg_step, STYPE = text);
-- what a differential min()/max() gathers its kept values with (1.7)
CREATE FUNCTION attacker.array_step(integer[], integer) RETURNS integer[] LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('array_agg'); RETURN $1 OPERATOR(pg_catalog.||) $2; END $f$;
CREATE AGGREGATE attacker.array_agg(integer) (SFUNC = attacker.array_step, STYPE = integer[]);
-- what a differential delta sums numerics with (1.21: pipeline.numeric_sum)
CREATE FUNCTION attacker.numeric_add(numeric, numeric) RETURNS numeric LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('numeric_add'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $f$;
CREATE AGGREGATE attacker.numeric_sum(numeric) (SFUNC = attacker.numeric_add, STYPE = numeric);

-- the attacker's own pipeline: a source and a view others may build on
CREATE TABLE attacker.src (id int, t text);
INSERT INTO attacker.src VALUES (1, 'Alpha'), (2, 'Beta');
GRANT SELECT ON attacker.src TO victim;
RESET SESSION AUTHORIZATION;

-- the victim's view reads the attacker's view through lower(); its own
-- helper function has an unqualified body, resolved with the victim's own
-- search_path (a fresh session's: "$user", public)
SET SESSION AUTHORIZATION victim;
SET search_path = victim, public;
CREATE TABLE victim.vsrc (n int);
INSERT INTO victim.vsrc VALUES (1), (2), (3);
CREATE FUNCTION victim.helper() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM vsrc';
RESET search_path;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION attacker;
SELECT pipeline.create_matview('attacker', 'names', 'SELECT id, t FROM attacker.src', '1 hour');
GRANT SELECT ON attacker.mv_names TO victim;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION victim;
SELECT pipeline.create_matview('victim', 'lowered',
    'SELECT id, lower(t) AS t, victim.helper() AS helper_rows FROM attacker.mv_names', '1 hour');
-- a mirror of a stage table and one of a stream, both the victim's
CREATE TABLE victim.stage (op text, seq bigint, id int, t text);
CREATE TABLE victim.stream (pos bigint, op text, seq bigint, id int, t text);
SELECT pipeline.create_matview('victim', 'staged', 'SELECT op, seq, id, t FROM victim.stage', '1 hour',
                               'mirror', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT pipeline.create_matview('victim', 'streamed', 'SELECT pos, op, seq, id, t FROM victim.stream',
                               '1 hour', 'mirror', 'pos',
                               options => '{"mirror-keys": "id", "mirror-sequence": "seq", "on-error": "quarantine"}');
-- audited, with a freshness SLA (1.6): its expectations bound at definition
SELECT pipeline.create_matview('victim', 'audited', 'SELECT n FROM victim.vsrc', '1 hour',
    options => '{"expect": ["positive: n > 0", "short: length(n::text) < 5"], "expect-unique": "n",
                 "expect-rows": "1..10", "freshness-sla-minutes": "60"}');
-- and one over the attacker's view, with a private column and a literal
-- that a session with standard_conforming_strings = off would misread
SELECT pipeline.create_matview('victim', 'guarded',
    'SELECT id, t, ''C:\temp'' AS dir, victim.helper() AS private_rows FROM attacker.mv_names', '1 hour',
    options => '{"expect": ["dir_kept: length(dir) = 7", "short: length(t) < 10"]}');
-- and one whose literals a session's array_nulls = off or xmloption =
-- document would misread: a NULL in an array, XML content
SELECT pipeline.create_matview('victim', 'literals',
    'SELECT id, ''{a,NULL}''::text[] AS arr, ''<a/>tail''::xml AS frag FROM attacker.mv_names', '1 hour');
INSERT INTO victim.stage VALUES ('I', 1, 1, 'a'), ('I', 1, 2, 'b'), ('D', 2, 2, NULL);
INSERT INTO victim.stream VALUES (1, 'I', 1, 1, 'a'), (2, 'I', 1, 2, 'b'), (3, 'D', 2, 2, NULL);
RESET SESSION AUTHORIZATION;
-- a superuser's view over the victim's, owned by the extension's owner
SELECT pipeline.create_matview('public', 'audit',
    'SELECT count(*) AS n, max(t) AS last_t FROM victim.mv_lowered', '1 hour');

-- the traps are armed: from here on the attacker calls every API function
-- with its schema ahead of pg_catalog
SET SESSION AUTHORIZATION attacker;
SET search_path = attacker, pg_catalog;
SELECT pg_catalog.count(*) AS traps_before FROM public.trap_log;
-- (the traps themselves run with search_path = pg_catalog)
SELECT 'x'::text = 'x'::text AS trap_works_for_attacker;

-- the compile step: stage, judge, apply, discard (the reported attack)
SELECT pipeline.stage($d$/**
 * @matview-schema attacker
 * @matview-name v
 * @interval-in-minutes 60
 */ SELECT id FROM attacker.src$d$);
SELECT pipeline.stage($d$/**
 * @matview-schema attacker
 * @matview-name v
 * @interval-in-minutes 30
 */ SELECT id, t FROM attacker.src$d$);
SELECT name FROM pipeline.staged;
SELECT * FROM pipeline.check_staged();
SELECT pipeline.discard_staged();
SELECT pipeline.stage($d$/**
 * @matview-schema attacker
 * @matview-name v
 * @interval-in-minutes 60
 */ SELECT id FROM attacker.src$d$);
SELECT * FROM pipeline.apply_staged();

-- redefining its own view rebuilds the victim's and the superuser's views
SELECT * FROM pipeline.check('attacker.mv_names', 'SELECT id, t FROM attacker.src WHERE id > 0');
SELECT * FROM pipeline.check($d$/**
 * @matview-schema attacker
 * @matview-name names
 * @interval-in-minutes 60
 */ SELECT id, t FROM attacker.src WHERE id > 0$d$);
SELECT pipeline.define($d$/**
 * @matview-schema attacker
 * @matview-name names
 * @interval-in-minutes 60
 */ SELECT id, t FROM attacker.src WHERE id > 0$d$);
SELECT pipeline.create_matview('attacker', 'names', 'SELECT id, t FROM attacker.src WHERE id > 1',
                               '1 hour', refresh_mode => 'full', options => '{"datacoral": "1.0"}');
-- a redefinition that breaks the victim's audit, made with
-- standard_conforming_strings off: refused; the victim's query and
-- expectations are read as written ("dir_kept" holds), and the error shows
-- no row of the victim's view, which the attacker may not read
SET standard_conforming_strings = off;
SELECT pipeline.create_matview('attacker', 'names', 'SELECT id, t || ''-long-long-long'' AS t FROM attacker.src WHERE id > 1',
                               '1 hour', refresh_mode => 'full', options => '{"datacoral": "1.0"}');
RESET standard_conforming_strings;
-- ones made with array_nulls off, then xmloption document: they go
-- through, and the victim's rebuilt view still holds a NULL and XML content
SET array_nulls = off;
SELECT pipeline.create_matview('attacker', 'names', 'SELECT id, t FROM attacker.src WHERE id > 1 AND id < 1000000',
                               '1 hour', refresh_mode => 'full', options => '{"datacoral": "1.0"}');
RESET array_nulls;
SET xmloption = document;
SELECT pipeline.create_matview('attacker', 'names', 'SELECT id, t FROM attacker.src WHERE id > 1 AND id < 2000000',
                               '1 hour', refresh_mode => 'full', options => '{"datacoral": "1.0"}');
RESET xmloption;
RESET SESSION AUTHORIZATION;
SET search_path = pg_catalog;
SELECT id, arr, arr[2] IS NULL AS null_kept, frag::text FROM victim.mv_literals ORDER BY id;
SELECT pg_get_viewdef('victim.mv_literals'::regclass) LIKE '%{a,NULL}%' AS rule_keeps_null;
-- the same for a view whose rows live in a table (differential): its rows
-- are computed as any session would, and an upstream redefinition with
-- array_nulls off leaves no '{a,"NULL"}' in them; nor does its
-- default_tablespace decide where the victim's rebuilt view and index go
RESET SESSION AUTHORIZATION;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE ssp_elsewhere LOCATION '';
GRANT CREATE ON TABLESPACE ssp_elsewhere TO PUBLIC;
SET SESSION AUTHORIZATION attacker;
SET search_path = attacker, pg_catalog;
SELECT pipeline.create_matview('attacker', 'base', 'SELECT id FROM attacker.src', '1 hour',
                               refresh_mode => 'differential');
GRANT SELECT ON attacker.mv_base TO victim;
SET SESSION AUTHORIZATION victim;
SELECT pipeline.create_matview('victim', 'literal_rows',
    'SELECT id, ''{a,NULL}''::text[] AS arr FROM attacker.mv_base', '1 hour', refresh_mode => 'differential');
SET SESSION AUTHORIZATION attacker;
SET array_nulls = off;
SET default_tablespace = ssp_elsewhere;
SELECT pipeline.create_matview('attacker', 'base', 'SELECT id FROM attacker.src WHERE id IS NOT NULL', '1 hour',
                               refresh_mode => 'differential');
INSERT INTO attacker.src VALUES (3, 'third');
SELECT status FROM pipeline.refresh('attacker.mv_base');
RESET array_nulls;
RESET default_tablespace;
RESET SESSION AUTHORIZATION;
SET search_path = pg_catalog;
SET array_nulls = off;
SELECT status FROM pipeline.refresh('victim.mv_literal_rows');
RESET array_nulls;
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'victim.mv_literal_rows'::regclass;
SELECT id, arr, arr[2] IS NULL AS null_kept FROM victim.mv_literal_rows ORDER BY id;
SELECT c.relname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE t.spcname = 'ssp_elsewhere' AND c.relnamespace = 'victim'::regnamespace ORDER BY 1;
SELECT pipeline.drop_matview('victim.mv_literal_rows');
SELECT pipeline.drop_matview('attacker.mv_base');
DROP TABLESPACE ssp_elsewhere;
DELETE FROM attacker.src WHERE id = 3;
SET SESSION AUTHORIZATION attacker;
SET search_path = attacker, pg_catalog;
-- an audited view of its own: its expectations mean the traps, which run
-- as the attacker only
SELECT pipeline.create_matview('attacker', 'checked', 'SELECT id, t FROM attacker.src', '1 hour',
    options => '{"expect": ["positive: id > 0"], "expect-unique": "id", "expect-rows": "1..100"}');
SELECT status FROM pipeline.refresh('attacker.mv_checked');
-- and its full-mode view alone (no unique index: its new rows are swapped
-- in, swap_refresh.c), with its traps first in search_path
SELECT status FROM pipeline.refresh('attacker.mv_names', false);
-- and a full-mode view with expectations, counted as its rows are written
-- (audit.c's tally): as for mv_checked, they mean the traps, which run as
-- the attacker only
SELECT pipeline.create_matview('attacker', 'tallied', 'SELECT id, t FROM attacker.src', '1 hour',
    refresh_mode => 'full',
    options => '{"expect": ["positive: id > 0", "short: length(t) < 10", "named: t IS NOT NULL"], "expect-rows": "1..100"}');
SELECT status FROM pipeline.refresh('attacker.mv_tallied', false);
SELECT pg_catalog.count(*) AS tallied_rows FROM attacker.mv_tallied;
-- its expectations are read back with pg_temp last, not first: a
-- temporary type named as a built-in one is not picked up
SELECT pipeline.create_matview('attacker', 'tallied', 'SELECT id, t FROM attacker.src', '1 hour',
    refresh_mode => 'full', options => '{"expect": ["textual: id::text IS NOT NULL"]}');
-- (rolled back: a session with a temporary schema is refused functions
-- that search it first, which would fail what follows)
BEGIN;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (VALUE OPERATOR(pg_catalog.=) 'never');
SELECT status FROM pipeline.refresh('attacker.mv_tallied', false);
ROLLBACK;
SELECT pipeline.drop_matview('attacker.mv_tallied');
-- an incremental view of its own, refreshed after new rows
SELECT pipeline.create_matview('attacker', 'stream', 'SELECT id, t FROM attacker.src', '1 hour',
                               'incremental', 'id');
-- mirrors of its own (a stream and a stage), apply_changes leaving a column
-- out, a hook named without its signature, and ingest
CREATE TABLE attacker.cdc (pos bigint, op text, seq bigint, id int, t text);
INSERT INTO attacker.cdc VALUES (1, 'I', 1, 1, 'x'), (2, 'U', 2, 1, 'y'), (3, 'I', 1, 2, 'z'),
                                    (4, 'D', 3, 1, NULL);
SELECT pipeline.create_matview('attacker', 'mirrored', 'SELECT pos, op, seq, id, t FROM attacker.cdc',
                               '1 hour', 'mirror', 'pos',
                               options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
INSERT INTO attacker.cdc VALUES (5, 'U', 2, 2, 'zz'), (6, 'U', 0, 1, 'late');
SELECT status FROM pipeline.refresh('attacker.mv_mirrored');
SELECT * FROM attacker.mv_mirrored ORDER BY id;
CREATE TABLE attacker.cdc_target (id int PRIMARY KEY, seq bigint, t text);
SELECT * FROM pipeline.apply_changes('attacker.cdc', 'attacker.cdc_target', '{id}', 'seq',
                                     truncate_changes => false, ignore_columns => '{pos}');
CREATE FUNCTION attacker.hooked(regclass, timestamptz) RETURNS void LANGUAGE sql AS 'SELECT';
SELECT pipeline.set_after_refresh('attacker.mv_mirrored', 'attacker.hooked');
SELECT pipeline.set_after_refresh('attacker.mv_mirrored', NULL);
-- by OID too (1.10)
SELECT pipeline.set_after_refresh('attacker.mv_mirrored', 'attacker.hooked(regclass, timestamptz)'::regprocedure);
SELECT pipeline.set_after_refresh('attacker.mv_mirrored', NULL::regprocedure);
SELECT * FROM pipeline.ingest('attacker.cdc_target', '[{"dedup_id": "m1", "id": 5}, {"dedup_id": "m2", "id": "x"}]');
SELECT * FROM pipeline.ingest('attacker.cdc_target', '[{"dedup_id": "m2", "id": 6}]');
SELECT dedup_id, accepted_at IS NOT NULL AS accepted FROM pipeline.rejected;
SELECT pipeline.drop_matview('attacker.mv_mirrored');
DROP TABLE attacker.cdc, attacker.cdc_target;
-- a differential view of its own, grouped: change logs read, state merged,
-- a deleted maximum recomputed, all with the traps first in search_path
SELECT pipeline.create_matview('attacker', 'tally',
    'SELECT id OPERATOR(pg_catalog.%) 2 AS k, pg_catalog.count(*) AS n, pg_catalog.sum(id) AS s,
            pg_catalog.min(t) AS lo, pg_catalog.max(id) AS hi FROM attacker.src GROUP BY 1',
    '1 hour', refresh_mode => 'differential');
INSERT INTO attacker.src VALUES (4, 'Delta');
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally');
DELETE FROM attacker.src WHERE id = 4;
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally');
-- two new maxima at once (1.9 keeps both; 1.7 and 1.8 kept the larger
-- alone and read the next values again), the larger deleted, then the next
INSERT INTO attacker.src VALUES (6, 'Foxtrot'), (8, 'Hotel');
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally');
DELETE FROM attacker.src WHERE id = 8;
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally');
DELETE FROM attacker.src WHERE id = 6;
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally');
SELECT k, n, s, lo, hi FROM attacker.mv_tally ORDER BY k;
SELECT pipeline.drop_matview('attacker.mv_tally');
-- the same through a plain view of its own, expanded into the refresh
CREATE VIEW attacker.src_view AS
  SELECT id, t FROM attacker.src WHERE id OPERATOR(pg_catalog.>) 0;
SELECT pipeline.create_matview('attacker', 'tally_v',
    'SELECT pg_catalog.count(*) AS n, pg_catalog.max(id) AS hi FROM attacker.src_view',
    '1 hour', refresh_mode => 'differential');
INSERT INTO attacker.src VALUES (4, 'Delta');
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally_v');
DELETE FROM attacker.src WHERE id = 4;
SELECT matview, status, rows FROM pipeline.refresh('attacker.mv_tally_v');
SELECT n, hi FROM attacker.mv_tally_v;
SELECT pipeline.drop_matview('attacker.mv_tally_v');
DROP VIEW attacker.src_view;
INSERT INTO attacker.src VALUES (3, 'Gamma');

-- refreshing: its own views, and everything due (the victim's included)
SELECT matview, status FROM pipeline.refresh('attacker.mv_stream');
SELECT matview, status FROM pipeline.refresh('attacker.mv_names');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') ORDER BY matview::text;
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00') ORDER BY matview::text;
-- someone else's view: refused, before anything runs
SELECT matview, status FROM pipeline.refresh('public.mv_audit');

-- the DAG and the catalog
SELECT relation, depth FROM pipeline.upstream('public.mv_audit') ORDER BY depth, relation::text;
SELECT matview, depth FROM pipeline.downstream('attacker.mv_names') ORDER BY depth, matview::text;
SELECT position, matview FROM pipeline.refresh_order() ORDER BY position;
SELECT pipeline.graph('dot') IS NOT NULL AS dot, pipeline.graph('mermaid') IS NOT NULL AS mermaid,
       pipeline.graph('json') IS NOT NULL AS json;
-- the status picture (1.6): its helpers pin their path, as graph() does
SELECT pipeline.graph('dot', true) IS NOT NULL AS dot, pipeline.graph('mermaid', true) IS NOT NULL AS mermaid,
       pipeline.graph('json', with_status => true) IS NOT NULL AS json;
SELECT pipeline.time_label('1 hour', '2030-01-01 00:30+00');
SELECT pipeline.window_start(), pipeline.window_end();
SELECT count(*) >= 0 AS readable FROM pipeline.matviews;
SELECT count(*) >= 0 AS readable FROM pipeline.status;
-- (1.19: the failures blocking each view, walked by a function of its own)
SELECT count(blocked_by) >= 0 AS blocked_by_readable FROM pipeline.status;
SELECT count(*) >= 0 AS readable FROM pipeline.blocked_views();
SELECT count(*) >= 0 AS readable FROM pipeline.runs;
SELECT count(*) >= 0 AS readable FROM pipeline.audits;
SELECT count(*) >= 0 AS readable FROM pipeline.incidents;
SELECT count(*) >= 0 AS readable FROM pipeline.alerts;
SELECT count(*) >= 0 AS readable FROM pipeline.external_functions;
SELECT count(*) >= 0 AS readable FROM pipeline.rejected;
SELECT pipeline.wake();

-- change data: ingest and apply_changes into its own tables
CREATE TABLE attacker.events (dedup_id text, n int);
SELECT * FROM pipeline.ingest('attacker.events', '[{"dedup_id": "a", "n": 1}, {"dedup_id": "a", "n": 1}, {"dedup_id": "b", "n": "x"}]');
CREATE TABLE attacker.mirror (id int PRIMARY KEY, v text, seq int);
CREATE TABLE attacker.changes (id int, v text, seq int, op text);
INSERT INTO attacker.changes VALUES (1, 'a', 1, 'I'), (2, 'b', 2, 'I'), (1, 'c', 3, 'U');
SELECT * FROM pipeline.apply_changes('attacker.changes', 'attacker.mirror', '{id}', 'seq');

-- hooks and external functions
CREATE FUNCTION attacker.hook(regclass, timestamptz) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('hook'); END $f$;
SELECT pipeline.set_after_refresh('attacker.mv_names', 'attacker.hook(regclass, timestamptz)');
SELECT matview, status FROM pipeline.refresh('attacker.mv_names', false);
SELECT pipeline.set_after_refresh('attacker.mv_names', NULL);
\set VERBOSITY terse
SELECT pipeline.create_external_function('attacker.ext(x int)', 'int', 'http://127.0.0.1:9/');
SELECT pipeline.drop_external_function('attacker.hook(regclass, timestamptz)');
SELECT * FROM pipeline.invoke('attacker.hook(regclass, timestamptz)', '[[1, 2]]');
SELECT * FROM pipeline.unload('SELECT 1 AS x', '/tmp/pipeline_attacker_unload');
\set VERBOSITY default

-- dropping its own views (the one the victim reads only with cascade,
-- which it may not: the victim's view is not its own)
SELECT pipeline.drop_matview('attacker.mv_v');
SELECT pipeline.drop_matview('attacker.mv_stream');
SELECT pipeline.drop_matview('attacker.mv_checked');
\set VERBOSITY terse
SELECT pipeline.drop_matview('attacker.mv_names', true);
\set VERBOSITY default
RESET search_path;
RESET SESSION AUTHORIZATION;

-- the victim's differential view over numerics: its delta's scale count and
-- the kept values merged with the best that came (1.9) are refreshed below
-- by a superuser with the traps first in search_path
SET SESSION AUTHORIZATION victim;
CREATE TABLE victim.scores (g int, v numeric);
INSERT INTO victim.scores SELECT i % 3, i / 4.0 FROM generate_series(1, 30) i;
SELECT pipeline.create_matview('victim', 'score_range',
    'SELECT g, sum(v) AS total, min(v) AS lo, max(v) AS hi FROM victim.scores GROUP BY g',
    '1 hour', refresh_mode => 'differential');
RESET SESSION AUTHORIZATION;

-- a superuser whose search_path was tampered with runs everything due: the
-- victim's view runs as the victim with the victim's own search_path (its
-- helper's count(*) and vsrc), the audit view as its owner, and no trap
SET search_path = attacker, pg_catalog;
SELECT matview, status FROM pipeline.run_due('2030-01-02 00:00+00') ORDER BY matview::text;
SELECT matview, status FROM pipeline.refresh('public.mv_audit');
-- the victim's mirrors, with new changes, as the victim
INSERT INTO victim.stage VALUES ('U', 3, 1, 'a2'), ('I', 1, 2, 'late');
INSERT INTO victim.stream VALUES (4, 'U', 3, 1, 'a2'), (5, 'I', 1, 2, 'late'), (6, 'U', NULL, 3, 'bad');
SELECT matview, status FROM pipeline.refresh('victim.mv_staged');
SELECT matview, status FROM pipeline.refresh('victim.mv_streamed');
-- the victim's numeric view, with rows that came and went, as the victim
INSERT INTO victim.scores VALUES (1, 0.125), (1, 99.5), (1, 98.5), (2, 7.3);
DELETE FROM victim.scores WHERE v IN (0.5, 7.5);
SELECT matview, status FROM pipeline.refresh('victim.mv_score_range');
RESET search_path;
SELECT (SELECT pg_catalog.array_agg(r::text ORDER BY r.g) FROM victim.mv_score_range r) =
       (SELECT pg_catalog.array_agg(q::text ORDER BY q.g)
          FROM (SELECT g, sum(v) AS total, min(v) AS lo, max(v) AS hi FROM victim.scores GROUP BY g) q)
       AS score_range_equals_recompute;
-- the victim's audits ran (as the victim, bound); no SLA incident: the
-- attacker's run_due in 2030 could not open one (before the fix it did)
SELECT a.matview, a.expectation, a.passed FROM pipeline.audits a
 WHERE a.matview = 'victim.mv_audited'::regclass ORDER BY a.run_id, a.expectation;
SELECT matview, kind FROM pipeline.alerts ORDER BY alert_id;
TABLE victim.mv_staged;
TABLE victim.mv_streamed;
SELECT message, error FROM pipeline.rejected WHERE target = 'victim.mv_streamed'::regclass;
SELECT count(*) AS stage_emptied FROM victim.stage;

-- which search_path the owner's code gets: a view that records it
SET SESSION AUTHORIZATION victim;
CREATE FUNCTION victim.current_path() RETURNS text LANGUAGE sql STABLE
    AS 'SELECT pg_catalog.current_setting(''search_path'')';
SELECT pipeline.create_matview('victim', 'paths', 'SELECT victim.current_path() AS path', '1 hour');
RESET SESSION AUTHORIZATION;
SET search_path = attacker, pg_catalog;
SELECT path AS server_default FROM victim.mv_paths;
ALTER ROLE victim SET search_path = victim, public;
SELECT status FROM pipeline.refresh('victim.mv_paths');
SELECT path AS role_setting FROM victim.mv_paths;
DO $$ BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE victim IN DATABASE %I SET search_path = victim',
                              pg_catalog.current_database());
END $$;
SELECT status FROM pipeline.refresh('victim.mv_paths');
SELECT path AS role_in_database_setting FROM victim.mv_paths;
DO $$ BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE victim IN DATABASE %I RESET search_path',
                              pg_catalog.current_database());
END $$;
ALTER ROLE victim RESET search_path;
RESET search_path;
SELECT pipeline.drop_matview('victim.mv_paths');

-- the owner's code that runs outside a statement's plan and run: index
-- expressions (built when a refresh without a unique index fills the view,
-- and when a redefinition upstream rebuilds it) and partition pruning at
-- executor start.  The victim's SQL functions name the victim's own objects
-- unqualified (found through "$user" in the victim's path); the attacker,
-- whose redefinition rebuilds the victim's view in the attacker's own
-- session, has a temporary domain of the same name there
SET SESSION AUTHORIZATION attacker;
CREATE FUNCTION attacker.sprung_check() RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('temporary domain'); RETURN true; END $f$;
CREATE TABLE attacker.labels_src (id int, t text);
INSERT INTO attacker.labels_src VALUES (1, 'Alpha'), (2, 'Beta');
SELECT pipeline.create_matview('attacker', 'labels', 'SELECT id, t FROM attacker.labels_src', '1 hour');
GRANT SELECT ON attacker.mv_labels TO victim;
SET SESSION AUTHORIZATION victim;
CREATE TYPE victim.label AS ENUM ('Alpha', 'Beta');
CREATE FUNCTION victim.label_len(text) RETURNS int LANGUAGE sql IMMUTABLE
    AS $$ SELECT pg_catalog.length(($1::label)::text) $$;
CREATE FUNCTION victim.norm(text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT pg_catalog.lower($1) $$;
CREATE FUNCTION victim.sort_key(text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT norm($1) $$;
SELECT pipeline.create_matview('victim', 'ranked', 'SELECT id, t FROM attacker.mv_labels', '1 hour');
CREATE INDEX ranked_len ON victim.mv_ranked (victim.label_len(t));
CREATE INDEX ranked_key ON victim.mv_ranked (victim.sort_key(t));
SELECT matview, status FROM pipeline.refresh('victim.mv_ranked');
CREATE TABLE victim.cfg (region int);
INSERT INTO victim.cfg VALUES (1);
CREATE FUNCTION victim.region() RETURNS int LANGUAGE plpgsql STABLE
    AS $$ BEGIN RETURN (SELECT region FROM cfg LIMIT 1); END $$;
CREATE TABLE victim.parted (k int, v text) PARTITION BY LIST (k);
CREATE TABLE victim.parted_1 PARTITION OF victim.parted FOR VALUES IN (1);
CREATE TABLE victim.parted_2 PARTITION OF victim.parted FOR VALUES IN (2);
INSERT INTO victim.parted VALUES (1, 'one'), (2, 'two');
SELECT pipeline.create_matview('victim', 'pruned',
    'SELECT k, v FROM victim.parted WHERE k = victim.region()', '1 hour');
TABLE victim.mv_pruned;
SET SESSION AUTHORIZATION attacker;
CREATE DOMAIN pg_temp.label AS text CHECK (attacker.sprung_check());
SELECT pipeline.create_matview('attacker', 'labels',
    'SELECT id, t FROM attacker.labels_src WHERE id > 0', '1 hour');
-- (read as the victim: the planner inlines the index's SQL functions, whose
-- bodies need the victim's path)
SET SESSION AUTHORIZATION victim;
SELECT id, t FROM victim.mv_ranked ORDER BY id;
RESET SESSION AUTHORIZATION;
SELECT indexrelid::regclass AS kept_index FROM pg_index
 WHERE indrelid = 'victim.mv_ranked'::regclass ORDER BY 1;
SET SESSION AUTHORIZATION victim;
SELECT pipeline.drop_matview('victim.mv_pruned');
SELECT pipeline.drop_matview('victim.mv_ranked');
SET SESSION AUTHORIZATION attacker;
SELECT pipeline.drop_matview('attacker.mv_labels');
RESET SESSION AUTHORIZATION;

-- casts are found by their types, not by a name the query writes: one the
-- attacker adds later to its own type, or an implicit one reached when the
-- attacker's view changes a column's type, would run as the owner of a view
-- whose stored query pipeline parses again (a differential refresh, a
-- rebuild).  pipeline calls no cast function of a third role
SET SESSION AUTHORIZATION attacker;
-- (a range: an enum's or a row type's text reads the catalogs, which a
-- differential view refuses)
CREATE TYPE attacker.mood AS RANGE (subtype = text);
CREATE TABLE attacker.feed (id int, m attacker.mood);
INSERT INTO attacker.feed VALUES (1, attacker.mood('ok', 'ok', '[]'));
GRANT SELECT ON attacker.feed TO victim;
CREATE TABLE attacker.words (id int, t text);
INSERT INTO attacker.words VALUES (1, 'Alpha'), (2, 'Beta');
SELECT pipeline.create_matview('attacker', 'words', 'SELECT id, t FROM attacker.words', '1 hour');
GRANT SELECT ON attacker.mv_words TO victim;
SET SESSION AUTHORIZATION victim;
SELECT pipeline.create_matview('victim', 'moods', 'SELECT id, m::text AS m FROM attacker.feed',
    '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('victim', 'last_word',
    'SELECT count(*) AS n, max(lower(t)) AS last_t FROM attacker.mv_words', '1 hour');
SET SESSION AUTHORIZATION attacker;
CREATE FUNCTION attacker.mood_to_text(attacker.mood) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('late cast'); RETURN 'x'; END $f$;
CREATE CAST (attacker.mood AS text) WITH FUNCTION attacker.mood_to_text(attacker.mood);
INSERT INTO attacker.feed VALUES (2, attacker.mood('sad', 'sad', '[]'));
CREATE TYPE attacker.word AS (v text);
-- (its result only converts to text, without a function: CREATE CAST takes it)
CREATE FUNCTION attacker.word_to_text(attacker.word) RETURNS varchar LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('implicit cast'); RETURN $1.v; END $f$;
CREATE CAST (attacker.word AS text) WITH FUNCTION attacker.word_to_text(attacker.word) AS IMPLICIT;
-- the rebuild of the victim's view would call the implicit cast: refused
SELECT pipeline.create_matview('attacker', 'words',
    'SELECT id, ROW(t)::attacker.word AS t FROM attacker.words', '1 hour');
SET SESSION AUTHORIZATION victim;
-- the refresh would call the late cast: refused
SELECT matview, status FROM pipeline.refresh('victim.mv_moods');
TABLE victim.mv_moods;
SELECT pipeline.drop_matview('victim.mv_moods');
SELECT pipeline.drop_matview('victim.mv_last_word');
SET SESSION AUTHORIZATION attacker;
SELECT pipeline.drop_matview('attacker.mv_words');
RESET SESSION AUTHORIZATION;

-- casts no parse shows, or parsed outside a view's refresh: pipeline's own
-- statements (apply_changes() of another role's change table, run by a
-- superuser; a stream view's append, prepared as internal SQL) and casts
-- looked up as code runs (a quarantined row's to_jsonb() finds a cast to
-- json).  Every function pipeline's statements call passes the same check
SET SESSION AUTHORIZATION attacker;
CREATE TYPE attacker.opk AS ENUM ('I', 'U', 'D');
CREATE FUNCTION attacker.opk_text(attacker.opk) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('op cast'); RETURN $1::varchar; END $f$;
CREATE CAST (attacker.opk AS text) WITH FUNCTION attacker.opk_text(attacker.opk);
CREATE TABLE attacker.cdc_changes (id int, v text, seq bigint, op attacker.opk);
INSERT INTO attacker.cdc_changes VALUES (1, 'a', 1, 'I'), (2, 'b', 2, 'I');
GRANT ALL ON attacker.cdc_changes TO PUBLIC;
CREATE TYPE attacker.mood2 AS ENUM ('ok', 'bad');
CREATE TABLE attacker.feed2 (id int PRIMARY KEY, m attacker.mood2, v int);
INSERT INTO attacker.feed2 VALUES (1, 'ok', 1);
GRANT SELECT ON attacker.feed2 TO victim;
SET SESSION AUTHORIZATION victim;
SELECT pipeline.create_matview('victim', 'feed_moods', 'SELECT id, m::text AS m FROM attacker.feed2', '1 hour',
    matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('victim', 'feed_ratio', 'SELECT id, 100 / v AS r FROM attacker.feed2', '1 hour',
    matview_type => 'incremental', incremental_key => 'id', options => '{"on-error": "quarantine"}');
SET SESSION AUTHORIZATION attacker;
CREATE FUNCTION attacker.mood2_text(attacker.mood2) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('late stream cast'); RETURN 'x'; END $f$;
CREATE CAST (attacker.mood2 AS text) WITH FUNCTION attacker.mood2_text(attacker.mood2);
CREATE FUNCTION attacker.mood2_json(attacker.mood2) RETURNS json LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN PERFORM attacker.sprung('json cast'); RETURN pg_catalog.to_json($1::varchar); END $f$;
CREATE CAST (attacker.mood2 AS json) WITH FUNCTION attacker.mood2_json(attacker.mood2);
INSERT INTO attacker.feed2 VALUES (2, 'bad', 0);
RESET SESSION AUTHORIZATION;
CREATE TABLE public.applied (id int PRIMARY KEY, v text, seq bigint);
SELECT * FROM pipeline.apply_changes('attacker.cdc_changes', 'public.applied', '{id}', 'seq');
SET SESSION AUTHORIZATION victim;
SELECT matview, status FROM pipeline.refresh('victim.mv_feed_moods');
SELECT matview, status FROM pipeline.refresh('victim.mv_feed_ratio');
SELECT pg_catalog.count(*) AS rejected_rows FROM pipeline.rejected WHERE target = 'victim.mv_feed_ratio'::regclass;
SELECT pipeline.drop_matview('victim.mv_feed_moods');
SELECT pipeline.drop_matview('victim.mv_feed_ratio');
RESET SESSION AUTHORIZATION;
DROP TABLE public.applied;

-- a database the attacker owns (as on a host that gives each team its
-- own), where it sets everyone's search_path with pg_catalog after its
-- schema: the path the victim's new sessions get there.  The victim's code
-- that pipeline runs still searches pg_catalog first.  A differential
-- view's stored query names pg_catalog's lower() unqualified, as a view's
-- deparsed text does, and a refresh parses it again with the comparisons
-- pipeline writes around it: no trap runs as the victim.  A database of
-- its own, so that nothing set here outlives a failure
RESET SESSION AUTHORIZATION;
RESET search_path;
CREATE DATABASE pipeline_hosted OWNER attacker;
\c pipeline_hosted
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION pipeline;
CREATE SCHEMA attacker AUTHORIZATION attacker;
CREATE SCHEMA victim AUTHORIZATION victim;
CREATE TABLE public.trap_log (who name, trap text);
GRANT SELECT, INSERT ON public.trap_log TO PUBLIC;
SET SESSION AUTHORIZATION attacker;
CREATE FUNCTION attacker.lower(text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO public.trap_log VALUES (current_user, 'lower'); RETURN pg_catalog.lower($1); END $f$;
CREATE FUNCTION attacker.int_eq(integer, integer) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO public.trap_log VALUES (current_user, '= integer'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
CREATE OPERATOR attacker.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = attacker.int_eq);
-- better matches than polymorphic and variadic built-ins: pg_catalog's
-- cardinality(anyarray) and concat(VARIADIC "any") lose to these wherever
-- they are searched, even after pg_catalog
CREATE FUNCTION attacker.cardinality(integer[]) RETURNS integer LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO public.trap_log VALUES (current_user, 'cardinality'); RETURN pg_catalog.cardinality($1); END $f$;
CREATE FUNCTION attacker.concat(text, text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO public.trap_log VALUES (current_user, 'concat'); RETURN $1 OPERATOR(pg_catalog.||) $2; END $f$;
GRANT USAGE ON SCHEMA attacker TO PUBLIC;
DO $$ BEGIN
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET search_path = attacker, pg_catalog',
                              pg_catalog.current_database());
END $$;
SET SESSION AUTHORIZATION victim;
CREATE TABLE victim.tags (id int, t text);
INSERT INTO victim.tags VALUES (1, 'Red'), (2, 'red'), (3, 'Blue');
SELECT pipeline.create_matview('victim', 'tag_counts',
    'SELECT lower(t) AS tag, count(*) AS n, max(id) AS last_id FROM victim.tags GROUP BY 1',
    '1 hour', refresh_mode => 'differential');
-- the victim names pg_catalog's functions; the stored query must keep
-- meaning them, in a full refresh and in a differential one
CREATE TABLE victim.lists (id int, ids int[], t text);
INSERT INTO victim.lists VALUES (1, '{1,2}', 'a'), (2, '{3}', 'b');
SELECT pipeline.create_matview('victim', 'list_sizes',
    'SELECT pg_catalog.concat(t, ''!'') AS label, sum(pg_catalog.cardinality(ids)) AS n
       FROM victim.lists GROUP BY 1',
    '1 hour', refresh_mode => 'differential');
-- the victim, in a session with that path, writes (its own statements
-- name the operator: that path would trap them in any session) and
-- refreshes
SET search_path = attacker, pg_catalog;
INSERT INTO victim.tags VALUES (4, 'BLUE'), (5, 'Green');
SELECT matview, status FROM pipeline.refresh('victim.mv_tag_counts');
-- the largest id of 'red' goes: the next is read from the sources
DELETE FROM victim.tags WHERE id OPERATOR(pg_catalog.=) 2;
SELECT matview, status FROM pipeline.refresh('victim.mv_tag_counts');
INSERT INTO victim.lists VALUES (3, '{4,5,6}', 'a'), (4, '{}', 'c');
SELECT matview, status FROM pipeline.refresh('victim.mv_list_sizes');
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT * FROM victim.mv_tag_counts ORDER BY tag;
SELECT * FROM victim.mv_list_sizes ORDER BY label;
SELECT full_refresh_reason FROM pipeline.matviews WHERE matview = 'victim.mv_list_sizes'::regclass;
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'victim.mv_tag_counts'::regclass;
SELECT count(*) > 0 AS trap_works FROM (SELECT attacker.lower('X'), attacker.cardinality('{1}'), attacker.concat('a', 'b')) t;
SELECT DISTINCT who, trap FROM public.trap_log WHERE who <> 'attacker' AND who <> current_user ORDER BY 1, 2;
\c contrib_regression
SET client_min_messages = warning;
SET timezone = 'UTC';
DROP DATABASE pipeline_hosted;

-- the verdict: traps ran only as the attacker, who is no superuser
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'attacker';
SELECT DISTINCT who, trap FROM public.trap_log WHERE who <> 'attacker' ORDER BY 1, 2;
SELECT count(*) > 0 AS traps_sprang_for_the_attacker FROM public.trap_log WHERE who = 'attacker';

-- the victim's view is still bound to pg_catalog.lower and its own helper,
-- and its helper still finds vsrc through the victim's own search_path
SELECT query, bound_query FROM pipeline.matview_definitions
 WHERE matview = 'victim.mv_lowered'::regclass;
SELECT pg_get_viewdef('victim.mv_lowered'::regclass) NOT LIKE '%attacker.lower%' AS still_pg_catalog_lower;
SELECT * FROM victim.mv_lowered ORDER BY id;
SELECT * FROM public.mv_audit;

-- the DDL flag of a failed run does not leak: an event trigger that refuses
-- CREATE TRIGGER fails the first run of a view over a new source, and the
-- guard still refuses a plain DROP of a managed view afterwards
CREATE TABLE public.fresh_src (n int);
SELECT pipeline.create_matview('public', 'fresh', 'SELECT n FROM public.fresh_src', '1 hour');
CREATE FUNCTION public.no_triggers() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'no triggers today'; END $f$;
CREATE EVENT TRIGGER no_triggers ON ddl_command_start WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION public.no_triggers();
SELECT matview, status FROM pipeline.run_due('2031-01-01 00:00+00') WHERE matview = 'public.mv_fresh'::regclass;
SELECT error FROM pipeline.runs WHERE matview = 'public.mv_fresh'::regclass;
SELECT pipeline.ddl_in_progress();
DROP MATERIALIZED VIEW public.mv_fresh;
DROP EVENT TRIGGER no_triggers;
DROP FUNCTION public.no_triggers();
SELECT pipeline.drop_matview('public.mv_fresh');

SELECT pipeline.drop_matview('public.mv_audit');
SELECT pipeline.drop_matview('victim.mv_lowered');
SELECT pipeline.drop_matview('victim.mv_staged');
SELECT pipeline.drop_matview('victim.mv_streamed');
SELECT pipeline.drop_matview('victim.mv_audited');
SELECT pipeline.drop_matview('victim.mv_guarded');
SELECT pipeline.drop_matview('victim.mv_literals');
SELECT pipeline.drop_matview('victim.mv_score_range');
SELECT pipeline.drop_matview('attacker.mv_names');
DROP TABLE public.trap_log, public.fresh_src;
DROP SCHEMA attacker CASCADE;
DROP SCHEMA victim CASCADE;
REVOKE CREATE ON SCHEMA public FROM attacker;
DROP ROLE attacker;
DROP ROLE victim;
