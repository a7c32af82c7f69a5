-- Skip-unchanged and reads the extension cannot see: a view whose query
-- calls a non-immutable function that PostgreSQL did not ship (directly,
-- through an operator, a cast, a default argument, an aggregate, a plain
-- view), or reads a table under row-level security, always runs; one that
-- calls only immutable or built-in functions is still skipped when nothing
-- changed.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE SCHEMA trk;
CREATE TABLE trk.src (x int);
CREATE TABLE trk.limits (lim int);
INSERT INTO trk.src VALUES (1), (2), (3);
INSERT INTO trk.limits VALUES (1);

-- the issue's case: a STABLE SQL function counting another table's rows
CREATE TABLE public.src2 (x int);
INSERT INTO public.src2 VALUES (1);
CREATE FUNCTION public.f() RETURNS bigint LANGUAGE sql STABLE
    AS 'SELECT count(*) FROM public.src2';
SELECT pipeline.create_matview('trk', 'counted', 'SELECT public.f() AS n', '1 hour');
-- through an operator
CREATE FUNCTION trk.above_limit(int, int) RETURNS boolean LANGUAGE sql STABLE
    AS 'SELECT $1 > (SELECT max(lim) FROM trk.limits) + $2';
CREATE OPERATOR trk.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = trk.above_limit);
SELECT pipeline.create_matview('trk', 'by_operator',
    'SELECT x FROM trk.src WHERE x OPERATOR(trk.>>>) 0', '1 hour');
-- through a cast
CREATE TYPE trk.scaled AS (v int);
CREATE FUNCTION trk.to_scaled(int) RETURNS trk.scaled LANGUAGE sql STABLE
    AS 'SELECT ROW($1 * (SELECT max(lim) FROM trk.limits))::trk.scaled';
CREATE CAST (int AS trk.scaled) WITH FUNCTION trk.to_scaled(int);
SELECT pipeline.create_matview('trk', 'by_cast',
    'SELECT (x::trk.scaled).v FROM trk.src', '1 hour');
-- through a default argument of an immutable function
CREATE FUNCTION trk.current_limit() RETURNS int LANGUAGE sql STABLE
    AS 'SELECT max(lim) FROM trk.limits';
CREATE FUNCTION trk.plus(a int, b int DEFAULT trk.current_limit()) RETURNS int
    LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
SELECT pipeline.create_matview('trk', 'by_default',
    'SELECT trk.plus(x) AS y FROM trk.src', '1 hour');
-- through an aggregate whose transition function reads a table
CREATE FUNCTION trk.weigh(bigint, int) RETURNS bigint LANGUAGE sql STABLE
    AS 'SELECT coalesce($1, 0) + $2 * (SELECT max(lim) FROM trk.limits)';
CREATE AGGREGATE trk.weighted_sum(int) (SFUNC = trk.weigh, STYPE = bigint);
SELECT pipeline.create_matview('trk', 'by_aggregate',
    'SELECT trk.weighted_sum(x) AS total FROM trk.src', '1 hour');
-- through a plain view
CREATE VIEW trk.limited AS SELECT x, trk.current_limit() AS lim FROM trk.src;
SELECT pipeline.create_matview('trk', 'by_view',
    'SELECT x, lim FROM trk.limited', '1 hour');
-- judged as before: an immutable function of the owner's, a built-in
-- STABLE function, and a plain view that calls neither
CREATE FUNCTION trk.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE VIEW trk.plain AS SELECT x FROM trk.src WHERE x > 0;
SELECT pipeline.create_matview('trk', 'judged',
    'SELECT trk.twice(p.x) AS y, pg_catalog.to_char(p.x, ''FM9'') AS t, pg_catalog.now() IS NOT NULL AS ok
       FROM trk.plain p', '1 hour');

-- 00:00 every view runs; 01:00 nothing changed: only 'judged' is skipped
SELECT matview, status FROM pipeline.run_due('2026-01-01 00:00+00') ORDER BY matview::text;
SELECT matview, status FROM pipeline.run_due('2026-01-01 01:00+00') ORDER BY matview::text;
-- the tables the functions read change: the views see it at once
INSERT INTO public.src2 VALUES (1), (2);
UPDATE trk.limits SET lim = 10;
SELECT matview, status FROM pipeline.run_due('2026-01-01 02:00+00') ORDER BY matview::text;
SELECT n FROM trk.mv_counted;
SELECT x FROM trk.mv_by_operator ORDER BY x;
SELECT v FROM trk.mv_by_cast ORDER BY v;
SELECT y FROM trk.mv_by_default ORDER BY y;
SELECT total FROM trk.mv_by_aggregate;
SELECT x, lim FROM trk.mv_by_view ORDER BY x;

-- a table read under row-level security: what the policy reads is invisible
CREATE ROLE trk_reader;
GRANT USAGE ON SCHEMA trk TO trk_reader;
GRANT CREATE ON SCHEMA trk TO trk_reader;
CREATE TABLE trk.secret (x int);
CREATE TABLE trk.allowed (x int);
INSERT INTO trk.secret VALUES (1), (2);
INSERT INTO trk.allowed VALUES (1);
ALTER TABLE trk.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_allowed ON trk.secret FOR SELECT USING (x IN (SELECT a.x FROM trk.allowed a));
GRANT SELECT ON trk.secret, trk.allowed TO trk_reader;
SET ROLE trk_reader;
SELECT pipeline.create_matview('trk', 'policed', 'SELECT x FROM trk.secret', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 03:00+00') ORDER BY matview::text;
RESET ROLE;
INSERT INTO trk.allowed VALUES (2);
SET ROLE trk_reader;
SELECT matview, status FROM pipeline.run_due('2026-01-01 04:00+00') ORDER BY matview::text;
SELECT x FROM trk.mv_policed ORDER BY x;
RESET ROLE;

-- the table's owner bypasses the policy: judged as any other table
SELECT pipeline.create_matview('trk', 'owned', 'SELECT x FROM trk.secret', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 05:00+00')
 WHERE matview = 'trk.mv_owned'::regclass;
SELECT matview, status FROM pipeline.run_due('2026-01-01 06:00+00')
 WHERE matview = 'trk.mv_owned'::regclass;

-- a view reading a system catalog cannot be tracked: it runs, and no
-- trigger is attempted on the catalog
SELECT pipeline.create_matview('trk', 'catalog_reader',
    'SELECT count(*) > 0 AS has_rows FROM pg_catalog.pg_namespace', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 07:00+00')
 WHERE matview = 'trk.mv_catalog_reader'::regclass;
SELECT matview, status FROM pipeline.run_due('2026-01-01 08:00+00')
 WHERE matview = 'trk.mv_catalog_reader'::regclass;

-- a partition, or a table in an inheritance tree: a write through the
-- parent fires the parent's statement triggers only, so they always run
CREATE TABLE trk.parted (k int, v int) PARTITION BY LIST (k);
CREATE TABLE trk.part1 PARTITION OF trk.parted FOR VALUES IN (1);
CREATE TABLE trk.inh_parent (v int);
CREATE TABLE trk.inh_child () INHERITS (trk.inh_parent);
SELECT pipeline.create_matview('trk', 'partition_reader', 'SELECT count(*) AS n FROM trk.part1', '1 hour');
SELECT pipeline.create_matview('trk', 'parent_reader', 'SELECT count(*) AS n FROM trk.inh_parent', '1 hour');
SELECT pipeline.create_matview('trk', 'child_reader', 'SELECT count(*) AS n FROM trk.inh_child', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 09:00+00')
 WHERE matview::text LIKE 'trk.mv_%reader' AND matview <> 'trk.mv_catalog_reader'::regclass ORDER BY matview::text;
INSERT INTO trk.parted VALUES (1, 1);
INSERT INTO trk.inh_child VALUES (1);
UPDATE trk.inh_parent SET v = 2;
SELECT matview, status FROM pipeline.run_due('2026-01-01 10:00+00')
 WHERE matview::text LIKE 'trk.mv_%reader' AND matview <> 'trk.mv_catalog_reader'::regclass ORDER BY matview::text;
SELECT (SELECT n FROM trk.mv_partition_reader) AS partition_rows,
       (SELECT n FROM trk.mv_parent_reader) AS parent_rows,
       (SELECT n FROM trk.mv_child_reader) AS child_rows;
SELECT count(*) AS triggers FROM pg_trigger
 WHERE tgrelid IN ('trk.part1'::regclass, 'trk.inh_parent'::regclass, 'trk.inh_child'::regclass);

-- a plain view it reads replaced, no table written: the view runs (and
-- reads the new definition), then is skipped again
CREATE OR REPLACE VIEW trk.plain AS SELECT x FROM trk.src WHERE x > 1;
SELECT matview, status FROM pipeline.run_due('2026-01-01 11:00+00')
 WHERE matview = 'trk.mv_judged'::regclass;
SELECT matview, status FROM pipeline.run_due('2026-01-01 12:00+00')
 WHERE matview = 'trk.mv_judged'::regclass;
SELECT count(*) = (SELECT count(*) FROM trk.src WHERE x > 1) AS new_definition_read FROM trk.mv_judged;

-- an immutable function of the user's replaced, no table written: the
-- views calling it, directly or through a plain view, run (a differential
-- one fully, saying why), then are skipped again (they were skipped,
-- keeping the old answer, until a source was written)
CREATE FUNCTION trk.bound() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE VIEW trk.doubled AS SELECT trk.twice(x) AS y FROM trk.src;
SELECT pipeline.create_matview('trk', 'bounded_' || mode,
    'SELECT x FROM trk.src WHERE x <= trk.bound()', '1 hour', refresh_mode => mode)
  FROM unnest(ARRAY['full', 'differential']) mode;
SELECT pipeline.create_matview('trk', 'doubled', 'SELECT y FROM trk.doubled', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 13:00+00')
 WHERE matview::text ~ 'bounded|doubled|judged' ORDER BY matview::text;
SELECT matview, status FROM pipeline.run_due('2026-01-01 14:00+00')
 WHERE matview::text ~ 'bounded|doubled|judged' ORDER BY matview::text;
CREATE OR REPLACE FUNCTION trk.bound() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2';
CREATE OR REPLACE FUNCTION trk.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3';
SELECT matview, status FROM pipeline.run_due('2026-01-01 15:00+00')
 WHERE matview::text ~ 'bounded|doubled|judged' ORDER BY matview::text;
SELECT matview, detail FROM pipeline.runs
 WHERE matview::text ~ 'bounded|doubled' AND time_label = '2026-01-01 15:00+00' ORDER BY matview::text;
SELECT (SELECT count(*) FROM trk.mv_bounded_full) AS bounded_full,
       (SELECT count(*) FROM trk.mv_bounded_differential) AS bounded_differential,
       (SELECT sum(y) FROM trk.mv_doubled) = (SELECT 3 * sum(x) FROM trk.src) AS doubled_new;
-- altered (a SET option, STRICT, ...) counts as replaced
ALTER FUNCTION trk.bound() SET work_mem = '4MB';
SELECT matview, status FROM pipeline.run_due('2026-01-01 16:00+00')
 WHERE matview::text ~ 'bounded|doubled|judged' ORDER BY matview::text;
SELECT matview, status FROM pipeline.run_due('2026-01-01 17:00+00')
 WHERE matview::text ~ 'bounded|doubled|judged' ORDER BY matview::text;

-- a type of the user's whose order is by value mod 10, its comparison
-- functions replaced to order by value: GREATEST, GROUP BY and ORDER BY
-- over it run again, a differential view fully (its first version kept
-- GREATEST's old answers and applied the new order to new rows alone);
-- and a comparison support function that reads a table makes a view
-- that sorts with it always run
CREATE TYPE trk.m;
CREATE FUNCTION trk.m_in(cstring) RETURNS trk.m LANGUAGE internal IMMUTABLE STRICT AS 'int4in';
CREATE FUNCTION trk.m_out(trk.m) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'int4out';
CREATE TYPE trk.m (INPUT = trk.m_in, OUTPUT = trk.m_out, LIKE = int4);
CREATE CAST (trk.m AS int) WITHOUT FUNCTION;
CREATE CAST (int AS trk.m) WITHOUT FUNCTION;
CREATE FUNCTION trk.m_cmp(trk.m, trk.m) RETURNS int LANGUAGE sql IMMUTABLE
    AS 'SELECT pg_catalog.btint4cmp($1::int % 10, $2::int % 10)';
SELECT format('CREATE FUNCTION trk.m_%s(trk.m, trk.m) RETURNS boolean LANGUAGE sql IMMUTABLE
                   AS ''SELECT trk.m_cmp($1, $2) %s 0'';
               CREATE OPERATOR trk.%s (LEFTARG = trk.m, RIGHTARG = trk.m, FUNCTION = trk.m_%s);',
              name, op, op, name)
  FROM (VALUES ('lt', '<'), ('le', '<='), ('eq', '='), ('ge', '>='), ('gt', '>')) o(name, op) \gexec
CREATE OPERATOR CLASS trk.m_ops DEFAULT FOR TYPE trk.m USING btree AS
    OPERATOR 1 trk.<, OPERATOR 2 trk.<=, OPERATOR 3 trk.=, OPERATOR 4 trk.>=, OPERATOR 5 trk.>,
    FUNCTION 1 trk.m_cmp(trk.m, trk.m);
CREATE TABLE trk.pairs (v trk.m, w trk.m);
INSERT INTO trk.pairs SELECT (i * 7)::trk.m, (i * 3)::trk.m FROM generate_series(1, 20) i;
SELECT pipeline.create_matview('trk', 'greatest', 'SELECT v::int AS v, greatest(v, w)::int AS g FROM trk.pairs',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('trk', 'grouped', 'SELECT v, count(*) AS n FROM trk.pairs GROUP BY v',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('trk', 'smallest', 'SELECT v::int AS n FROM trk.pairs ORDER BY v LIMIT 1', '1 hour');
-- a stream keyed on v compares it with its mark by trk.m_cmp's order, and
-- so do streams keyed on an array or a composite of trk.m
SELECT pipeline.create_matview('trk', 'stream', 'SELECT v, w FROM trk.pairs', '1 hour',
                               'incremental', incremental_key => 'v');
SELECT pipeline.create_matview('trk', 'stream_array', 'SELECT ARRAY[v] AS k, w FROM trk.pairs', '1 hour',
                               'incremental', incremental_key => 'k');
CREATE TYPE trk.m_pair AS (x trk.m, y int);
SELECT pipeline.create_matview('trk', 'stream_row', 'SELECT ROW(v, 0)::trk.m_pair AS k, w FROM trk.pairs',
                               '1 hour', 'incremental', incremental_key => 'k');
CREATE TABLE trk.direction (d int);
INSERT INTO trk.direction VALUES (1);
CREATE FUNCTION trk.directed_cmp(int, int) RETURNS int LANGUAGE sql STABLE
    AS 'SELECT pg_catalog.btint4cmp($1, $2) * (SELECT d FROM trk.direction)';
CREATE FUNCTION trk.directed_lt(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 < $2';
CREATE OPERATOR trk.<< (LEFTARG = int, RIGHTARG = int, FUNCTION = trk.directed_lt);
CREATE FUNCTION trk.directed_eq(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
CREATE OPERATOR trk.== (LEFTARG = int, RIGHTARG = int, FUNCTION = trk.directed_eq);
CREATE OPERATOR CLASS trk.directed_ops FOR TYPE int USING btree AS
    OPERATOR 1 trk.<<, OPERATOR 3 trk.==, FUNCTION 1 trk.directed_cmp(int, int);
SELECT pipeline.create_matview('trk', 'first', 'SELECT x FROM trk.src ORDER BY x USING OPERATOR(trk.<<) LIMIT 1', '1 hour');
SELECT matview, status FROM pipeline.run_due('2026-01-01 18:00+00')
 WHERE matview::text ~ 'greatest|grouped|smallest|first|stream' ORDER BY matview::text;
SELECT matview, status FROM pipeline.run_due('2026-01-01 19:00+00')
 WHERE matview::text ~ 'greatest|grouped|smallest|first|stream' ORDER BY matview::text;
CREATE OR REPLACE FUNCTION trk.m_cmp(trk.m, trk.m) RETURNS int LANGUAGE sql IMMUTABLE
    AS 'SELECT pg_catalog.btint4cmp($1::int, $2::int)';
UPDATE trk.direction SET d = -1;
SELECT matview, status FROM pipeline.run_due('2026-01-01 20:00+00')
 WHERE matview::text ~ 'greatest|grouped|smallest|first|stream' ORDER BY matview::text;
SELECT matview, detail FROM pipeline.runs
 WHERE matview::text ~ 'greatest|grouped' AND time_label = '2026-01-01 20:00+00' ORDER BY matview::text;
SELECT (SELECT sum(g) FROM trk.mv_greatest) = (SELECT sum(greatest(v, w)::int) FROM trk.pairs) AS greatest_exact,
       (SELECT count(*) FROM trk.mv_grouped) = (SELECT count(DISTINCT v) FROM trk.pairs) AS grouped_exact,
       (SELECT n FROM trk.mv_smallest) = 7 AS smallest_exact,
       (SELECT x FROM trk.mv_first) = (SELECT max(x) FROM trk.src) AS first_exact;
INSERT INTO trk.pairs VALUES (9::trk.m, 21::trk.m);
SELECT matview, status FROM pipeline.run_due('2026-01-01 21:00+00')
 WHERE matview::text ~ 'greatest|grouped' ORDER BY matview::text;
SELECT (SELECT sum(g) FROM trk.mv_greatest) = (SELECT sum(greatest(v, w)::int) FROM trk.pairs) AS greatest_exact,
       (SELECT count(*) FROM trk.mv_grouped) = (SELECT count(DISTINCT v) FROM trk.pairs) AS grouped_exact;

SELECT count(*) AS dropped
  FROM (SELECT pipeline.drop_matview(matview) FROM pipeline.matview_definitions
         WHERE schema_name = 'trk') d;
DROP SCHEMA trk CASCADE;
DROP TABLE public.src2;
DROP FUNCTION public.f();
DROP ROLE trk_reader;
