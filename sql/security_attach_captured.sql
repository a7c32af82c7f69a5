-- Hardening: a table whose changes pipeline records cannot be attached as
-- a partition or made to inherit while views read them.
--
-- A write through a parent fires the parent's statement triggers, not the
-- child's.  The owner of a table another role's differential view read
-- attached it as a partition, wrote through the parent, detached it: the
-- view's next refresh found no change and kept wrong rows for good (attack
-- pass 6, F2).  The same held for a full view's skip-unchanged tracking.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE ac_owner LOGIN;
CREATE ROLE ac_victim LOGIN;
CREATE SCHEMA ac_owner AUTHORIZATION ac_owner;
CREATE SCHEMA ac_victim AUTHORIZATION ac_victim;

SET SESSION AUTHORIZATION ac_owner;
-- a hostile schema first in the path: its = and sum must never run
SET search_path = ac_owner, pg_catalog;
CREATE FUNCTION ac_owner.trap_eq(oid, oid) RETURNS boolean LANGUAGE sql AS
$f$ SELECT 1 / 0 = 1 $f$;
CREATE OPERATOR ac_owner.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ac_owner.trap_eq);
CREATE TABLE ac_owner.src (id int, g int, v int);
CREATE TABLE ac_owner.tracked (id int, g int, v int);
INSERT INTO ac_owner.src VALUES (1, 1, 10), (2, 2, 20);
INSERT INTO ac_owner.tracked VALUES (1, 1, 10);
CREATE TABLE ac_owner.parent (id int, g int, v int) PARTITION BY RANGE (id);
CREATE TABLE ac_owner.base (id int, g int, v int);
GRANT USAGE ON SCHEMA ac_owner TO ac_victim;
GRANT SELECT ON ac_owner.src, ac_owner.tracked TO ac_victim;

SET SESSION AUTHORIZATION ac_victim;
SET search_path = ac_owner, pg_catalog;
SELECT pipeline.create_matview('ac_victim', 'totals',
    'SELECT g, sum(v) AS s, count(*) AS n FROM ac_owner.src GROUP BY g', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('ac_victim', 'plain',
    'SELECT g, v FROM ac_owner.tracked', '1 hour', refresh_mode => 'full');

-- the table's owner may not attach it or make it inherit
SET SESSION AUTHORIZATION ac_owner;
SET search_path = ac_owner, pg_catalog;
ALTER TABLE ac_owner.parent ATTACH PARTITION ac_owner.src FOR VALUES FROM (0) TO (1000);
ALTER TABLE ac_owner.src INHERIT ac_owner.base;
ALTER TABLE ac_owner.parent ATTACH PARTITION ac_owner.tracked FOR VALUES FROM (0) TO (1000);
ALTER TABLE ac_owner.tracked INHERIT ac_owner.base;
SET search_path = pg_catalog;
SELECT c.relname, c.relispartition, EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS inherits
  FROM pg_class c WHERE c.oid IN ('ac_owner.src'::regclass, 'ac_owner.tracked'::regclass) ORDER BY 1;

SET search_path = ac_owner, pg_catalog;
-- a table no view reads attaches as before
CREATE TABLE ac_owner.free (id int, g int, v int);
ALTER TABLE ac_owner.parent ATTACH PARTITION ac_owner.free FOR VALUES FROM (0) TO (1000);
ALTER TABLE ac_owner.parent DETACH PARTITION ac_owner.free;
ALTER TABLE ac_owner.free INHERIT ac_owner.base;

-- writes to the table itself still reach the view
INSERT INTO ac_owner.src VALUES (3, 2, 5000);
SET SESSION AUTHORIZATION ac_victim;
SELECT status FROM pipeline.refresh('ac_victim.mv_totals');
SELECT * FROM ac_victim.mv_totals ORDER BY g;

-- once no view reads it, the table attaches
SELECT pipeline.drop_matview('ac_victim.mv_totals');
SET SESSION AUTHORIZATION ac_owner;
ALTER TABLE ac_owner.parent ATTACH PARTITION ac_owner.src FOR VALUES FROM (0) TO (1000);

RESET SESSION AUTHORIZATION;
SELECT pipeline.drop_matview('ac_victim.mv_plain');
DROP SCHEMA ac_owner CASCADE;
DROP SCHEMA ac_victim CASCADE;
DROP ROLE ac_owner;
DROP ROLE ac_victim;
