-- Every kind of RENAME, SET SCHEMA and RENAME VALUE statement, with
-- pipeline installed, by a role that owns the objects and by one that does
-- not, with a trap schema first in its search_path: pipeline's hook around
-- them (compile/rebind.c locks what a statement renames, as definitions
-- naming it lock it) must leave each to PostgreSQL's own outcome.  A first
-- version crashed the server on every ALTER TYPE ... RENAME (an attack
-- pass): the statements name a type by a list, the lookup wants a TypeName.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rs_owner LOGIN;
CREATE ROLE rs_other LOGIN;
CREATE SCHEMA rs AUTHORIZATION rs_owner;
CREATE SCHEMA rs_to AUTHORIZATION rs_owner;
CREATE SCHEMA rs_trap;
GRANT USAGE, CREATE ON SCHEMA rs_trap TO PUBLIC;
GRANT USAGE ON SCHEMA rs, rs_to TO rs_other;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO rs_owner', current_database()); END $$;
RESET client_min_messages;

SET ROLE rs_owner;
SET search_path = rs_trap, pg_catalog;
CREATE TABLE rs.t (a int, b text);
CREATE VIEW rs.v AS SELECT a FROM rs.t;
CREATE SEQUENCE rs.s;
CREATE INDEX t_a ON rs.t (a);
CREATE FUNCTION rs.f(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE PROCEDURE rs.p() LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE rs.agg(int) (SFUNC = int4pl, STYPE = int);
CREATE TYPE rs.e AS ENUM ('x', 'y');
CREATE TYPE rs.c AS (x int, y rs.e);
CREATE DOMAIN rs.d AS int CHECK (VALUE > 0);
CREATE TYPE rs.r AS RANGE (SUBTYPE = int4);
CREATE COLLATION rs.coll (provider = icu, locale = 'und');
CREATE OPERATOR rs.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq);
CREATE TEXT SEARCH CONFIGURATION rs.ts (COPY = pg_catalog.simple);
SELECT pipeline.create_matview('rs', 'mv', 'SELECT a, rs.f(a) AS fa, ''x''::rs.e AS e FROM rs.t', '1 hour');
RESET ROLE;

-- another role: PostgreSQL's own errors, at once
SET ROLE rs_other;
SET search_path = rs_trap, pg_catalog;
ALTER FUNCTION rs.f(int) RENAME TO f2;
ALTER TYPE rs.e RENAME TO e2;
ALTER TYPE rs.e RENAME VALUE 'x' TO 'z';
ALTER TYPE rs.c RENAME ATTRIBUTE x TO x2;
ALTER DOMAIN rs.d RENAME TO d2;
ALTER SCHEMA rs RENAME TO rs2;
ALTER COLLATION rs.coll RENAME TO coll2;
ALTER AGGREGATE rs.agg(int) RENAME TO agg2;
ALTER OPERATOR rs.=== (int, int) SET SCHEMA rs_to;
ALTER TYPE rs.r RENAME TO r2;
ALTER TABLE rs.t RENAME TO t2;
ALTER TYPE rs_trap.nothing RENAME TO y;
ALTER FUNCTION rs_trap.nothing(int) RENAME TO y;
ALTER SCHEMA rs_nothing RENAME TO y;
RESET ROLE;

-- the owner: each succeeds, and the view follows
SET ROLE rs_owner;
SET search_path = rs_trap, pg_catalog;
ALTER TABLE rs.t RENAME COLUMN b TO b2;
ALTER TABLE rs.t RENAME TO t2;
ALTER VIEW rs.v RENAME TO v2;
ALTER SEQUENCE rs.s RENAME TO s2;
ALTER INDEX rs.t_a RENAME TO t_a2;
ALTER FUNCTION rs.f(int) RENAME TO f2;
ALTER PROCEDURE rs.p() RENAME TO p2;
ALTER ROUTINE rs.p2() RENAME TO p3;
ALTER AGGREGATE rs.agg(int) RENAME TO agg2;
ALTER TYPE rs.e RENAME TO e2;
ALTER TYPE rs.e2 RENAME VALUE 'x' TO 'z';
ALTER TYPE rs.c RENAME ATTRIBUTE x TO x2;
ALTER TYPE rs.c RENAME TO c2;
ALTER DOMAIN rs.d RENAME TO d2;
ALTER DOMAIN rs.d2 RENAME CONSTRAINT d_check TO d_positive;
ALTER TYPE rs.r RENAME TO r2;
ALTER COLLATION rs.coll RENAME TO coll2;
ALTER TEXT SEARCH CONFIGURATION rs.ts RENAME TO ts2;
ALTER OPERATOR rs.=== (int, int) SET SCHEMA rs_to;
ALTER FUNCTION rs.f2(int) SET SCHEMA rs_to;
ALTER TYPE rs.e2 SET SCHEMA rs_to;
ALTER DOMAIN rs.d2 SET SCHEMA rs_to;
ALTER COLLATION rs.coll2 SET SCHEMA rs_to;
ALTER TABLE rs.t2 SET SCHEMA rs_to;
ALTER TYPE rs_trap.nothing RENAME TO y;
ALTER SCHEMA rs_to RENAME TO rs_moved;
SELECT bound_query FROM pipeline.matview_definitions WHERE matview = 'rs.mv_mv'::regclass;
SELECT matview, status FROM pipeline.refresh('rs.mv_mv');
-- reg* literals of numbers that name nothing: PostgreSQL accepts them
SELECT pipeline.create_matview('rs', 'regs',
       'SELECT ''99999''::regprocedure AS p, ''99999''::regtype AS t, ''99999''::regoperator AS o, '
       '''99999''::regcollation AS c, ''99999''::regclass AS r, ''99999''::regnamespace AS n', '1 hour');
SELECT pipeline.drop_matview('rs.mv_regs');
RESET ROLE;

-- a view kept in a table is analyzed, as its owner, before a rename it
-- follows: a wait there past lock_timeout fails the rename (it was taken
-- for a query that no longer analyzes, and the view kept naming the old
-- name); the lock is held by a prepared transaction
SELECT relkind FROM pg_class WHERE oid = 'rs.mv_mv'::regclass;
BEGIN;
LOCK TABLE rs_moved.t2 IN ACCESS EXCLUSIVE MODE;
PREPARE TRANSACTION 'rs_hold';
SET ROLE rs_owner;
SET search_path = rs_trap, pg_catalog;
SET lock_timeout = '50ms';
ALTER FUNCTION rs_moved.f2(int) RENAME TO f3;
RESET lock_timeout;
RESET ROLE;
COMMIT PREPARED 'rs_hold';
SELECT bound_query FROM pipeline.matview_definitions WHERE matview = 'rs.mv_mv'::regclass;
SELECT 'rs_moved.f2(int)'::regprocedure;

-- what a table's rename or move renames or moves with it (an attack pass,
-- h112): its row and array types, which a view may name without reading
-- the table, and (SET SCHEMA) its indexes and owned sequences, which
-- regclass literals may name; and a name with a control character, which
-- the expectations' JSON spells escaped
SET ROLE rs_owner;
SET search_path = rs_trap, pg_catalog;
CREATE TABLE rs.shape (p int, q int);
CREATE TABLE rs.ser (id serial PRIMARY KEY, v int);
CREATE INDEX ser_v ON rs.ser (v);
CREATE FUNCTION rs.U&"tab\0009fn"(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
SELECT pipeline.create_matview('rs', 'rows',
       'SELECT a, NULL::rs.shape AS x, ''{}''::rs.shape[] AS xs, ''rs.ser_id_seq''::regclass AS s, '
       '''rs.ser_v''::regclass AS i FROM rs_moved.t2', '1 hour');
SELECT pipeline.create_matview('rs', 'rows_full',
       'SELECT a, NULL::rs.shape AS x, ''{}''::rs.shape[] AS xs, ''rs.ser_id_seq''::regclass AS s, '
       '''rs.ser_v''::regclass AS i FROM rs_moved.t2', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('rs', 'tabbed', 'SELECT a FROM rs_moved.t2', '1 hour',
       options => pg_catalog.jsonb_build_object('expect', E'positive: rs."tab\tfn"(a)'));
-- a regprocedure literal spells a row type by its table's name (h113)
CREATE TABLE rs.arg (p int);
CREATE FUNCTION rs.takes(rs.arg) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
SELECT pipeline.create_matview('rs', 'procs', 'SELECT a, ''rs.takes(rs.arg)''::regprocedure AS fn FROM rs_moved.t2',
       '1 hour', refresh_mode => 'full');
ALTER TABLE rs.shape RENAME TO shape2;
ALTER TABLE rs.ser SET SCHEMA rs_moved;
ALTER FUNCTION rs.U&"tab\0009fn"(int) RENAME TO tabless;
ALTER TABLE rs.arg RENAME TO arg2;
SELECT name, bound_query, options->'expect' AS expect FROM pipeline.matview_definitions
 WHERE name IN ('rows', 'rows_full', 'tabbed', 'procs') ORDER BY name;
SELECT matview, status FROM pipeline.refresh('rs.mv_rows_full');
SELECT pipeline.drop_matview(v)
  FROM unnest(ARRAY['rs.mv_rows', 'rs.mv_rows_full', 'rs.mv_procs']) v;
RESET ROLE;

-- a table's rename reads only the views that read or spell it: a view
-- with expectations (mv_tabbed) whose source is locked does not hold up
-- the rename of a table it does not name (h113: it read every view with
-- expectations)
CREATE TABLE rs.lonely (x int);
ALTER TABLE rs.lonely OWNER TO rs_owner;
BEGIN;
LOCK TABLE rs_moved.t2 IN ACCESS EXCLUSIVE MODE;
PREPARE TRANSACTION 'rs_hold2';
SET ROLE rs_owner;
SET search_path = rs_trap, pg_catalog;
SET lock_timeout = '50ms';
ALTER TABLE rs.lonely RENAME TO lonely2;
RESET lock_timeout;
RESET ROLE;
COMMIT PREPARED 'rs_hold2';
SELECT pipeline.drop_matview('rs.mv_tabbed');

-- another role's ALTER TABLE and ALTER EXTENSION: PostgreSQL's own errors,
-- not what pipeline would say (or wait for) about the table's readers
SET ROLE rs_other;
SET search_path = rs_trap, pg_catalog;
ALTER TABLE rs_moved.t2 DROP COLUMN a;
ALTER TABLE rs_moved.t2 ALTER COLUMN a TYPE bigint;
ALTER EXTENSION nosuch ADD TABLE rs_moved.t2;
ALTER EXTENSION pipeline ADD TABLE rs_moved.t2;
RESET ROLE;

RESET search_path;
SELECT pipeline.drop_matview('rs.mv_mv');
DROP SCHEMA rs, rs_moved, rs_trap CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM rs_owner', current_database()); END $$;
DROP ROLE rs_owner, rs_other;
