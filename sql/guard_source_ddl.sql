-- DDL on a managed view's sources that changes what the view reads without
-- a write, or reaches its columns by another path (found by an attack pass
-- on source schema changes):
--   row-level security turned off: the next run must not skip;
--   an unlogged source (crash recovery empties it unseen): never skipped;
--   a view's own table made unlogged: refused;
--   a column changed through an inheritance parent or a partitioned
--   parent (PostgreSQL recurses) or through ALTER TYPE ... CASCADE of a
--   typed table's type: refused as on the table itself.
-- The DDL runs as non-superuser owners with a trap schema first in
-- search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE sd_src LOGIN;
CREATE ROLE sd_view LOGIN;
CREATE SCHEMA sd_src AUTHORIZATION sd_src;
CREATE SCHEMA sd AUTHORIZATION sd_view;
CREATE SCHEMA sd_trap AUTHORIZATION sd_src;
GRANT USAGE ON SCHEMA sd_src, sd_trap TO sd_view;
RESET client_min_messages;
SET ROLE sd_src;
CREATE FUNCTION sd_trap.oideq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: oid = oid ran as %', current_user; END $f$;
CREATE OPERATOR sd_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = sd_trap.oideq);
GRANT EXECUTE ON FUNCTION sd_trap.oideq(oid, oid) TO sd_view;
SET search_path = sd_trap, public, pg_catalog;
CREATE TABLE sd_src.t (id int, visible boolean);
INSERT INTO sd_src.t SELECT i, i % 2 = 0 FROM generate_series(1, 10) i;
GRANT SELECT ON sd_src.t TO sd_view;
SET ROLE sd_view;
SET search_path = sd_trap, public, pg_catalog;
SELECT pipeline.create_matview('sd', 'full_count', 'SELECT count(*) AS n FROM sd_src.t', '1 hour',
                               refresh_mode => 'full');
SELECT pipeline.create_matview('sd', 'diff_count',
                               'SELECT visible, count(*) AS n FROM sd_src.t GROUP BY visible', '1 hour',
                               refresh_mode => 'differential');
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00') ORDER BY 1;

-- row-level security on, then off: the run after it must read every row
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd_src.t ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_visible ON sd_src.t FOR SELECT USING (visible);
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 02:00+00') ORDER BY 1;
SELECT n AS filtered FROM sd.mv_full_count;
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd_src.t DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 03:00+00') ORDER BY 1;
SELECT n AS every_row FROM sd.mv_full_count;
SELECT * FROM sd.mv_diff_count ORDER BY 1;
-- nothing changed since: skipped again
SELECT matview, status FROM pipeline.run_due('2030-01-01 04:00+00') ORDER BY 1;

-- a new owner of the source may change what the view's owner sees too
SET ROLE sd_src;
ALTER TABLE sd_src.t ENABLE ROW LEVEL SECURITY;
ALTER TABLE sd_src.t FORCE ROW LEVEL SECURITY;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 05:00+00') ORDER BY 1;
SET ROLE sd_src;
ALTER TABLE sd_src.t NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sd_src.t DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 06:00+00') ORDER BY 1;
SELECT n AS every_row FROM sd.mv_full_count;

-- an unlogged source is read at every run
SET ROLE sd_src;
CREATE UNLOGGED TABLE sd_src.u (id int, v int);
INSERT INTO sd_src.u SELECT i, i FROM generate_series(1, 10) i;
GRANT SELECT ON sd_src.u TO sd_view;
SET ROLE sd_view;
SELECT pipeline.create_matview('sd', 'unlogged_sum', 'SELECT count(*) AS n, sum(v) AS s FROM sd_src.u',
                               '1 hour');
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 07:00+00') WHERE matview::text = 'sd.mv_unlogged_sum';
SELECT matview, status FROM pipeline.run_due('2030-01-01 08:00+00') WHERE matview::text = 'sd.mv_unlogged_sum';
-- and so is a logged one once it is made unlogged
SELECT matview, status FROM pipeline.run_due('2030-01-01 09:00+00') WHERE matview::text = 'sd.mv_full_count';
SET ROLE sd_src;
ALTER TABLE sd_src.t SET UNLOGGED;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 10:00+00') WHERE matview::text = 'sd.mv_full_count';
SELECT matview, status FROM pipeline.run_due('2030-01-01 11:00+00') WHERE matview::text = 'sd.mv_full_count';
-- made logged again: crash recovery may have emptied it unseen while it
-- was unlogged, so the change of persistence counts as a change
SELECT matview, status FROM pipeline.run_due('2030-01-01 12:00+00') WHERE matview::text = 'sd.mv_full_count';
SET ROLE sd_src;
ALTER TABLE sd_src.t SET LOGGED;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2030-01-01 13:00+00') WHERE matview::text = 'sd.mv_full_count';

-- a view's own table may not be made unlogged
SET ROLE sd_view;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd.mv_diff_count SET UNLOGGED;
SELECT relpersistence FROM pg_class WHERE oid::regclass::text = 'sd.mv_diff_count';

-- columns changed through a parent reach the child an incremental view reads
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
CREATE TABLE sd_src.par (id int, v int);
CREATE TABLE sd_src.chi () INHERITS (sd_src.par);
INSERT INTO sd_src.chi SELECT i, i FROM generate_series(1, 5) i;
CREATE TABLE sd_src.parted (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE sd_src.part1 PARTITION OF sd_src.parted FOR VALUES FROM (0) TO (100);
INSERT INTO sd_src.parted SELECT i, i FROM generate_series(1, 5) i;
GRANT SELECT ON sd_src.chi, sd_src.part1 TO sd_view;
SET ROLE sd_view;
SELECT pipeline.create_matview('sd', 'from_child', 'SELECT id, v FROM sd_src.chi', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('sd', 'from_part', 'SELECT id, v FROM sd_src.part1', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd_src.par ALTER COLUMN v TYPE bigint;
ALTER TABLE sd_src.par DROP COLUMN v;
ALTER TABLE sd_src.parted ALTER COLUMN v TYPE bigint;
ALTER TABLE sd_src.parted DROP COLUMN v;
-- a child that defines the column itself keeps it: the parent's drop passes
CREATE TABLE sd_src.par2 (id int, v int);
CREATE TABLE sd_src.chi2 (v int) INHERITS (sd_src.par2);
GRANT SELECT ON sd_src.chi2 TO sd_view;
SET ROLE sd_view;
SELECT pipeline.create_matview('sd', 'from_child2', 'SELECT id, v FROM sd_src.chi2', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd_src.par2 DROP COLUMN v;
SELECT attname, attislocal FROM pg_attribute WHERE attrelid::regclass::text = 'sd_src.chi2' AND attname::text = 'v';
-- ONLY the parent: the child keeps its column
ALTER TABLE ONLY sd_src.par DROP COLUMN v;
SELECT attname FROM pg_attribute WHERE attrelid::regclass::text = 'sd_src.chi' AND attname::text = 'v';

-- ALTER TYPE ... CASCADE reaches the tables of that type
CREATE TYPE sd_src.ev AS (id int, g int, v int);
CREATE TABLE sd_src.typed OF sd_src.ev;
INSERT INTO sd_src.typed SELECT i, i % 3, i FROM generate_series(1, 30) i;
GRANT SELECT ON sd_src.typed TO sd_view;
SET ROLE sd_view;
SELECT pipeline.create_matview('sd', 'typed_groups',
                               'SELECT g, count(*) AS n, sum(v) AS s FROM sd_src.typed GROUP BY g', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('sd', 'typed_appended', 'SELECT id, g FROM sd_src.typed', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TYPE sd_src.ev ALTER ATTRIBUTE v TYPE bigint CASCADE;
ALTER TYPE sd_src.ev DROP ATTRIBUTE g CASCADE;
-- and the partitions of a typed table
CREATE TYPE sd_src.ev2 AS (a int, b int);
CREATE TABLE sd_src.typed_parted OF sd_src.ev2 PARTITION BY LIST (a);
CREATE TABLE sd_src.typed_part1 PARTITION OF sd_src.typed_parted FOR VALUES IN (1);
INSERT INTO sd_src.typed_parted VALUES (1, 2);
GRANT SELECT ON sd_src.typed_part1 TO sd_view;
SET ROLE sd_view;
SELECT pipeline.create_matview('sd', 'typed_part', 'SELECT a, b FROM sd_src.typed_part1', '1 hour',
                               matview_type => 'incremental', incremental_key => 'a');
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TYPE sd_src.ev2 DROP ATTRIBUTE b CASCADE;
-- an attribute no view reads may go
ALTER TYPE sd_src.ev ADD ATTRIBUTE extra int CASCADE;
ALTER TYPE sd_src.ev DROP ATTRIBUTE extra CASCADE;
RESET ROLE;
SELECT matview, status FROM pipeline.refresh('sd.mv_typed_groups');
SELECT * FROM sd.mv_typed_groups ORDER BY 1;

-- a column renamed through a partitioned or inheritance parent: the bound
-- queries of the views reading a child follow it
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
CREATE TABLE sd_src.rp (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE sd_src.rp1 PARTITION OF sd_src.rp FOR VALUES FROM (0) TO (100);
INSERT INTO sd_src.rp SELECT i, i FROM generate_series(1, 5) i;
CREATE TABLE sd_src.ip (id int, v int);
CREATE TABLE sd_src.ic () INHERITS (sd_src.ip);
INSERT INTO sd_src.ic SELECT i, i FROM generate_series(1, 5) i;
GRANT SELECT ON sd_src.rp1, sd_src.ic TO sd_view;
SET ROLE sd_view;
SET search_path = sd_trap, public, pg_catalog;
SELECT pipeline.create_matview('sd', 'rp_appended', 'SELECT id, v FROM sd_src.rp1', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('sd', 'rp_sum', 'SELECT sum(v) AS s FROM sd_src.rp1', '1 hour');
SELECT pipeline.create_matview('sd', 'ic_sum', 'SELECT sum(v) AS s FROM sd_src.ic', '1 hour');
SET ROLE sd_src;
SET search_path = sd_trap, public, pg_catalog;
ALTER TABLE sd_src.rp RENAME COLUMN v TO w;
ALTER TABLE sd_src.ip RENAME COLUMN v TO w;
INSERT INTO sd_src.rp VALUES (6, 6);
RESET ROLE;
SELECT matview, bound_query FROM pipeline.matview_definitions
 WHERE matview::text IN ('sd.mv_rp_appended', 'sd.mv_rp_sum', 'sd.mv_ic_sum') ORDER BY 1;
SELECT matview, status FROM pipeline.refresh('sd.mv_rp_appended');
SELECT count(*) FROM sd.mv_rp_appended;

RESET search_path;
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews
 WHERE matview::text LIKE 'sd.%' ORDER BY matview::text DESC;
DROP SCHEMA sd, sd_src, sd_trap CASCADE;
DROP OWNED BY sd_src, sd_view;
DROP ROLE sd_src;
DROP ROLE sd_view;

-- a column a child inherits from two parents stays while one parent keeps
-- it: dropping it from the other passes, dropping it from both is refused;
-- a plain view an incremental view reads cannot be dropped
CREATE SCHEMA sd_multi;
CREATE TABLE sd_multi.p1 (id int, v int);
CREATE TABLE sd_multi.p2 (v int);
CREATE TABLE sd_multi.c () INHERITS (sd_multi.p1, sd_multi.p2);
INSERT INTO sd_multi.c SELECT i, i FROM generate_series(1, 3) i;
CREATE VIEW sd_multi.pv AS SELECT id, v FROM sd_multi.c;
SELECT pipeline.create_matview('sd_multi', 'inc', 'SELECT id, v FROM sd_multi.c', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('sd_multi', 'through_view', 'SELECT id, v FROM sd_multi.pv', '1 hour',
                               matview_type => 'incremental', incremental_key => 'id');
ALTER TABLE sd_multi.p1 DROP COLUMN v;
SELECT attname, attinhcount FROM pg_attribute WHERE attrelid = 'sd_multi.c'::regclass AND attname = 'v';
ALTER TABLE sd_multi.p2 DROP COLUMN v;
DROP VIEW sd_multi.pv;
SELECT pipeline.drop_matview('sd_multi.mv_through_view');
SELECT pipeline.drop_matview('sd_multi.mv_inc');
DROP SCHEMA sd_multi CASCADE;
