-- A redefinition judged by its owner, whose downstream views belong to
-- other roles in schemas the owner may not use (an attack pass, h106):
--   * a compatible change (a typmod) rebuilds bob's view although alice has
--     no USAGE on bob's schema: the old relation is found by the schema's
--     OID, not looked up by name as alice (which failed with "permission
--     denied for schema" and refused the change, or hid the real reason of
--     an incompatible one);
--   * a function or a table column of a view's row type depends on the
--     view: check() names it, as define() then refuses it, instead of
--     check() saying ok and define() failing on DROP of the old relation.
-- Every role has a trap schema first in its search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE dr_alice LOGIN;
CREATE ROLE dr_bob LOGIN;
CREATE SCHEMA dr_a AUTHORIZATION dr_alice;
CREATE SCHEMA dr_b AUTHORIZATION dr_bob;
CREATE SCHEMA dr_trap;
GRANT USAGE, CREATE ON SCHEMA dr_trap TO PUBLIC;
GRANT USAGE ON SCHEMA dr_a TO dr_bob;
RESET client_min_messages;

SET ROLE dr_alice;
SET search_path = dr_trap, pg_catalog;
CREATE TABLE dr_a.src (id int, v numeric);
INSERT INTO dr_a.src VALUES (1, 1.5), (60, 2.25);
SELECT pipeline.create_matview('dr_a', 'up', 'SELECT id, v::numeric(10,2) AS v FROM dr_a.src', '1 hour');
GRANT SELECT ON dr_a.mv_up TO dr_bob;
RESET ROLE;

SET ROLE dr_bob;
SET search_path = dr_trap, pg_catalog;
SELECT pipeline.create_matview('dr_b', 'small', 'SELECT id, v FROM dr_a.mv_up WHERE id < 50', '1 hour');
RESET ROLE;

-- alice cannot use dr_b
SET ROLE dr_alice;
SET search_path = dr_trap, pg_catalog;
SELECT has_schema_privilege('dr_b', 'USAGE') AS alice_uses_dr_b;
SELECT * FROM pipeline.check('dr_a.mv_up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra FROM dr_a.src');
-- an incompatible change says why, not "permission denied"
SELECT * FROM pipeline.check('dr_a.mv_up', 'SELECT id, v::float8 AS v FROM dr_a.src');
SELECT pipeline.create_matview('dr_a', 'up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra FROM dr_a.src', '1 hour');
RESET ROLE;
SELECT format_type(atttypid, atttypmod) AS bob_v FROM pg_attribute
 WHERE attrelid = 'dr_b.mv_small'::regclass AND attname = 'v';
SELECT id, v FROM dr_b.mv_small;

-- bob's function of alice's view's row type, and his table of its array
SET ROLE dr_bob;
SET search_path = dr_trap, pg_catalog;
CREATE FUNCTION dr_b.f(dr_a.mv_up) RETURNS int LANGUAGE sql AS 'SELECT 1';
RESET ROLE;
SET ROLE dr_alice;
SET search_path = dr_trap, pg_catalog;
-- a new column rebuilds alice's view: the function is in the way
SELECT * FROM pipeline.check('dr_a.mv_up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra, 2 AS more FROM dr_a.src');
SELECT pipeline.create_matview('dr_a', 'up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra, 2 AS more FROM dr_a.src', '1 hour');
RESET ROLE;
SET ROLE dr_bob;
DROP FUNCTION dr_b.f(dr_a.mv_up);
CREATE TABLE dr_b.keep (rows dr_a.mv_up[]);
RESET ROLE;
SET ROLE dr_alice;
SET search_path = dr_trap, pg_catalog;
SELECT * FROM pipeline.check('dr_a.mv_up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra, 2 AS more FROM dr_a.src');
RESET ROLE;
SET ROLE dr_bob;
DROP TABLE dr_b.keep;
RESET ROLE;
SET ROLE dr_alice;
SET search_path = dr_trap, pg_catalog;
SELECT pipeline.create_matview('dr_a', 'up', 'SELECT id, v::numeric(12,2) AS v, 1 AS extra, 2 AS more FROM dr_a.src', '1 hour');
RESET ROLE;
SELECT name, version FROM pipeline.matviews WHERE schema_name IN ('dr_a', 'dr_b') ORDER BY name;

-- a role with no rights in a schema holds none of its names: refused
-- before the name's lock (the wait is specs/compile_rename_define_race)
SET ROLE dr_bob;
SET search_path = dr_trap, pg_catalog;
SELECT pipeline.create_matview('dr_a', 'mine', 'SELECT 1 AS x', '1 hour');
SELECT pipeline.stage($$/**
 * @matview-schema dr_a
 * @matview-name up
 * @interval-in-minutes 60
 */
SELECT 1 AS x$$);
SELECT * FROM pipeline.apply_staged();
SELECT pipeline.discard_staged();
RESET ROLE;

RESET search_path;
SELECT pipeline.drop_matview('dr_a.mv_up', cascade => true);
DROP SCHEMA dr_a, dr_b, dr_trap CASCADE;
DROP ROLE dr_alice, dr_bob;
