-- Queries and sources a differential refresh cannot follow exactly are
-- refreshed fully in auto mode (the reason recorded) and refused in
-- differential mode, never accepted to fail or drift later.  Run as a
-- non-superuser with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE ds_owner LOGIN;
CREATE SCHEMA ds AUTHORIZATION ds_owner;
CREATE SCHEMA ds_trap AUTHORIZATION ds_owner;
RESET client_min_messages;
SET ROLE ds_owner;
CREATE FUNCTION ds_trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 666::bigint';
CREATE FUNCTION ds_trap.kept_extremes(anyelement) RETURNS int LANGUAGE sql AS 'SELECT 666';
SET search_path = ds_trap, public, pg_catalog;

CREATE TABLE ds.t (g int, v int, arr int[], x xid, note text);
INSERT INTO ds.t VALUES (1, 1, '{1,2}', '5', 'a'), (1, 2, '{0}', '6', 'b');
CREATE UNLOGGED TABLE ds.u (g int, v int);
INSERT INTO ds.u VALUES (1, 10);

CREATE FUNCTION pg_temp.mode_of(v regclass) RETURNS text LANGUAGE sql AS
  $$ SELECT refresh_mode || coalesce(': ' || full_refresh_reason, '') FROM pipeline.matviews WHERE matview = v $$;

-- a query without output columns (it crashed the differential build)
SELECT pipeline.create_matview('ds', 'nothing', 'SELECT FROM ds.t', '1 hour') AS nothing;
SELECT pg_temp.mode_of('ds.mv_nothing');
SELECT count(*) FROM ds.mv_nothing;
SELECT pipeline.create_matview('ds', 'nothing_d', 'SELECT FROM ds.t', '1 hour', refresh_mode => 'differential');

-- an unlogged source: crash recovery empties it without a trigger firing
SELECT pipeline.create_matview('ds', 'unlogged', 'SELECT g, sum(v) AS s FROM ds.u GROUP BY g', '1 hour');
SELECT pg_temp.mode_of('ds.mv_unlogged');

-- min/max over arrays (kept values would be arrays of arrays)
SELECT pipeline.create_matview('ds', 'arrays', 'SELECT g, min(arr) AS lo, max(arr) AS hi FROM ds.t GROUP BY g',
                               '1 hour');
SELECT pg_temp.mode_of('ds.mv_arrays');
SELECT g, lo, hi FROM ds.mv_arrays;

-- a key of a type with no btree ordering (xid: equality by hash only)
SELECT pipeline.create_matview('ds', 'xids', 'SELECT x, count(*) AS n FROM ds.t GROUP BY x', '1 hour');
SELECT pg_temp.mode_of('ds.mv_xids');
SELECT pipeline.create_matview('ds', 'xid_rows', 'SELECT x, note FROM ds.t', '1 hour');
SELECT pg_temp.mode_of('ds.mv_xid_rows');

-- settings the answer depends on: XML expressions and array_nulls
SELECT pipeline.create_matview('ds', 'xml', $q$SELECT g, xmlelement(name n, note)::text AS x FROM ds.t$q$, '1 hour');
SELECT pg_temp.mode_of('ds.mv_xml');
SELECT pipeline.create_matview('ds', 'nulls', $q$SELECT g, ('{' || note || ',NULL}')::text[] AS a FROM ds.t$q$,
                               '1 hour');
SELECT pg_temp.mode_of('ds.mv_nulls');
-- a refresh in a session with array_nulls off computes what any session
-- would (array_nulls, like xmloption, is PostgreSQL's default for a view's
-- query, whoever refreshes it): a NULL element, not the string 'NULL'
SET array_nulls = off;
INSERT INTO ds.t VALUES (2, 3, '{}', '7', 'c');
SELECT status FROM pipeline.refresh('ds.mv_nulls');
RESET array_nulls;
SELECT count(*) AS differs FROM (
  (SELECT * FROM ds.mv_nulls EXCEPT ALL SELECT g, ('{' || note || ',NULL}')::text[] FROM ds.t)
  UNION ALL
  (SELECT g, ('{' || note || ',NULL}')::text[] FROM ds.t EXCEPT ALL SELECT * FROM ds.mv_nulls)) d;

-- an immutable function the view calls, replaced: its next refresh is full
CREATE FUNCTION ds.tax(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 0.10';
CREATE TABLE ds.amounts (g int, v numeric);
INSERT INTO ds.amounts VALUES (1, 100), (2, 200);
SELECT pipeline.create_matview('ds', 'taxes', 'SELECT g, sum(ds.tax(v)) AS tax FROM ds.amounts GROUP BY g',
                               '1 hour');
SELECT pg_temp.mode_of('ds.mv_taxes');
CREATE OR REPLACE FUNCTION ds.tax(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 0.20';
INSERT INTO ds.amounts VALUES (1, 100);
SELECT status FROM pipeline.refresh('ds.mv_taxes');
SELECT g, tax FROM ds.mv_taxes ORDER BY g;
SELECT g, sum(ds.tax(v)) AS recomputed FROM ds.amounts GROUP BY g ORDER BY g;
-- and later changes are differential again, with the new body
INSERT INTO ds.amounts VALUES (2, 100);
SELECT status FROM pipeline.refresh('ds.mv_taxes');
SELECT g, tax FROM ds.mv_taxes ORDER BY g;
-- the same body made STRICT, or another default argument, changes what it
-- returns too: the next refresh is full
CREATE FUNCTION ds.or_hundred(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT coalesce($1, 100)';
CREATE FUNCTION ds.times(x int, m int DEFAULT 2) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * $2';
CREATE TABLE ds.xs (g int, x int);
INSERT INTO ds.xs VALUES (1, 10), (1, NULL), (2, 20), (2, NULL);
SELECT pipeline.create_matview('ds', 'strictness', 'SELECT g, sum(ds.or_hundred(x)) AS s FROM ds.xs GROUP BY g',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('ds', 'defaults', 'SELECT g, sum(ds.times(x)) AS s FROM ds.xs GROUP BY g',
                               '1 hour', refresh_mode => 'differential');
ALTER FUNCTION ds.or_hundred(int) STRICT;
CREATE OR REPLACE FUNCTION ds.times(x int, m int DEFAULT 3) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * $2';
INSERT INTO ds.xs VALUES (1, 1);
SELECT status FROM pipeline.refresh('ds.mv_strictness');
SELECT status FROM pipeline.refresh('ds.mv_defaults');
SELECT (SELECT array_agg(s ORDER BY g) FROM ds.mv_strictness) AS strict_view,
       (SELECT array_agg(s ORDER BY g) FROM (SELECT g, sum(ds.or_hundred(x)) AS s FROM ds.xs GROUP BY g) q) AS strict_query,
       (SELECT array_agg(s ORDER BY g) FROM ds.mv_defaults) AS defaults_view,
       (SELECT array_agg(s ORDER BY g) FROM (SELECT g, sum(ds.times(x)) AS s FROM ds.xs GROUP BY g) q) AS defaults_query;

-- temporary tables and views: refused in every kind, as CREATE
-- MATERIALIZED VIEW refuses them (the view would outlive them)
CREATE TEMP TABLE tt (g int);
CREATE TEMP VIEW tv AS SELECT g FROM ds.t;
SELECT pipeline.create_matview('ds', 'temp_t', 'SELECT g FROM pg_temp.tt', '1 hour');
SELECT pipeline.create_matview('ds', 'temp_v', 'SELECT g FROM pg_temp.tv', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('ds', 'temp_s', 'SELECT g FROM pg_temp.tt', '1 hour', matview_type => 'incremental',
                               incremental_key => 'g');
SELECT count(*) AS none FROM pipeline.matviews WHERE name LIKE 'temp%';
DROP VIEW tv;
DROP TABLE tt;
DROP FUNCTION pg_temp.mode_of(regclass);
RESET search_path;
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'ds';
DROP SCHEMA ds CASCADE;
DROP SCHEMA ds_trap CASCADE;
DROP ROLE ds_owner;
