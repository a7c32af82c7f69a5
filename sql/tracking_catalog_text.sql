-- Skip-unchanged and text read from the catalogs: a view that writes an
-- enum's label, a row type's attribute names (to_json) or a whole row's
-- JSON as text changes when the label or the attributes do, with no write
-- to a source; it runs at the next label then, and is skipped again after.
-- One that writes a reg* value's name (any object's) always runs.  One that
-- only compares or keeps enum values (stored by their OIDs) is still
-- skipped.  All of it as a non-superuser with a trap schema first in its
-- path, and the enum owned by another role (its owner renames the label).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET pipeline.retry_backoff = 0;

CREATE ROLE ctx_owner;
CREATE ROLE ctx_types;
CREATE SCHEMA ctx AUTHORIZATION ctx_owner;
CREATE SCHEMA ctx_types AUTHORIZATION ctx_types;
CREATE SCHEMA ctx_trap AUTHORIZATION ctx_owner;
GRANT USAGE ON SCHEMA ctx_types TO ctx_owner;

SET ROLE ctx_types;
CREATE TYPE ctx_types.state AS ENUM ('new', 'done');
RESET ROLE;

SET ROLE ctx_owner;
-- the trap: an = on oids that says who ran it, first in the path
CREATE FUNCTION ctx_trap.trap_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'ctx_owner' THEN RAISE EXCEPTION 'trap ran as %', current_user; END IF;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR ctx_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ctx_trap.trap_eq);
SET search_path = ctx_trap, pg_catalog, public;

CREATE TYPE ctx.pair AS (a int, b int);
CREATE TABLE ctx.other (x int);
CREATE TABLE ctx.t (id int PRIMARY KEY, st ctx_types.state, p ctx.pair);
INSERT INTO ctx.t VALUES (1, 'new', ROW(1, 2)), (2, 'done', ROW(3, 4));
CREATE TABLE ctx.rels (id int, rel regclass);
INSERT INTO ctx.rels VALUES (1, 'ctx.other'), (2, 'ctx.t');
SELECT pipeline.create_matview('ctx', 'label', 'SELECT id, st::text AS st FROM ctx.t', '1 hour');
SELECT pipeline.create_matview('ctx', 'label_diff', 'SELECT st::text AS st, count(*) AS n FROM ctx.t GROUP BY 1',
                               '1 hour', refresh_mode => 'auto');
SELECT pipeline.create_matview('ctx', 'pair_json', 'SELECT id, to_json(p)::text AS pj FROM ctx.t', '1 hour');
SELECT pipeline.create_matview('ctx', 'row_json', 'SELECT t.id, to_jsonb(t) AS doc FROM ctx.t t', '1 hour');
SELECT pipeline.create_matview('ctx', 'rel_name', 'SELECT id, rel::text AS rel FROM ctx.rels', '1 hour');
-- whole rows of a subquery and a CTE, whose columns are found in the query
SELECT pipeline.create_matview('ctx', 'sub_row',
    'SELECT x.id, row_to_json(x)::text AS j FROM (SELECT id, st FROM ctx.t) x', '1 hour');
SELECT pipeline.create_matview('ctx', 'cte_row',
    'WITH c AS (SELECT id, st FROM ctx.t) SELECT c.id, to_json(c)::text AS j FROM c', '1 hour');
-- (a sample's clause among the query's parts)
SELECT pipeline.create_matview('ctx', 'sampled_row',
    'SELECT x.id, row_to_json(x)::text AS j FROM (SELECT id, st FROM ctx.t TABLESAMPLE BERNOULLI (100) REPEATABLE (1)) x',
    '1 hour');
-- enum values compared or kept, not written as text
SELECT pipeline.create_matview('ctx', 'kept', 'SELECT id, st FROM ctx.t WHERE st = ''done''', '1 hour');

SELECT matview, status FROM pipeline.run_due('2040-01-01 00:00+00')
 WHERE matview::text LIKE 'ctx.%' ORDER BY matview::text;
-- nothing changed: skipped, but the view writing names of any object
SELECT matview, status FROM pipeline.run_due('2040-01-01 01:00+00')
 WHERE matview::text LIKE 'ctx.%' ORDER BY matview::text;

-- another role renames the label; the type's attribute and a source's
-- column are renamed
RESET search_path;
RESET ROLE;
SET ROLE ctx_types;
ALTER TYPE ctx_types.state RENAME VALUE 'new' TO 'fresh';
RESET ROLE;
SET ROLE ctx_owner;
SET search_path = ctx_trap, pg_catalog, public;
ALTER TYPE ctx.pair RENAME ATTRIBUTE a TO first;
ALTER TABLE ctx.t RENAME COLUMN id TO ident;
ALTER TABLE ctx.other RENAME TO renamed;
SELECT matview, status FROM pipeline.run_due('2040-01-01 02:00+00')
 WHERE matview::text LIKE 'ctx.%' ORDER BY matview::text;
SELECT * FROM ctx.mv_label ORDER BY 1;
SELECT * FROM ctx.mv_label_diff ORDER BY 1;
SELECT * FROM ctx.mv_pair_json ORDER BY 1;
SELECT * FROM ctx.mv_row_json ORDER BY 1;
SELECT * FROM ctx.mv_rel_name ORDER BY 1;
SELECT * FROM ctx.mv_sub_row ORDER BY 1;
SELECT * FROM ctx.mv_cte_row ORDER BY 1;
SELECT * FROM ctx.mv_sampled_row ORDER BY 1;
-- and skipped again after
SELECT matview, status FROM pipeline.run_due('2040-01-01 03:00+00')
 WHERE matview::text LIKE 'ctx.%' ORDER BY matview::text;

-- a new label, a new column: the JSON of a whole row has a new key
ALTER TABLE ctx.t ADD COLUMN note text DEFAULT 'n';
SELECT matview, status FROM pipeline.run_due('2040-01-01 04:00+00')
 WHERE matview::text LIKE 'ctx.%' ORDER BY matview::text;
SELECT * FROM ctx.mv_row_json ORDER BY 1;

-- each view equals its query now
SELECT 'label' AS v, count(*) FROM (SELECT * FROM ctx.mv_label
   EXCEPT SELECT ident, st::text FROM ctx.t) d
UNION ALL
SELECT 'pair_json', count(*) FROM (SELECT * FROM ctx.mv_pair_json
   EXCEPT SELECT ident, to_json(p)::text FROM ctx.t) d
UNION ALL
SELECT 'row_json', count(*) FROM (SELECT * FROM ctx.mv_row_json
   EXCEPT SELECT t.ident, to_jsonb(t) FROM ctx.t t) d;

-- a whole row's IS NULL writes no text, yet a column added without a
-- value makes no row whole: the view runs at the next label
SELECT pipeline.create_matview('ctx', 'whole_rows', 'SELECT t.ident FROM ctx.t t WHERE t IS NOT NULL', '1 hour');
SELECT status FROM pipeline.run_due('2040-01-01 05:00+00') WHERE matview = 'ctx.mv_whole_rows'::regclass;
SELECT status FROM pipeline.run_due('2040-01-01 06:00+00') WHERE matview = 'ctx.mv_whole_rows'::regclass;
ALTER TABLE ctx.t ADD COLUMN blank int;
SELECT status FROM pipeline.run_due('2040-01-01 07:00+00') WHERE matview = 'ctx.mv_whole_rows'::regclass;
SELECT count(*) AS whole_rows FROM ctx.mv_whole_rows;
SELECT status FROM pipeline.run_due('2040-01-01 08:00+00') WHERE matview = 'ctx.mv_whole_rows'::regclass;

SELECT pipeline.drop_matview(matview) FROM pipeline.matviews
 WHERE schema_name = 'ctx' ORDER BY name;
RESET search_path;
RESET ROLE;
DROP SCHEMA ctx CASCADE;
DROP SCHEMA ctx_trap CASCADE;
DROP SCHEMA ctx_types CASCADE;
DROP ROLE ctx_owner;
DROP ROLE ctx_types;
