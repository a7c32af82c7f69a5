-- A redefinition rebuilds the views downstream of it, other owners' too.
-- An error raised while building one the caller may not read (by its query
-- or by an expectation) may carry that view's data: it reaches such a
-- caller without its text, as a failed audit reaches it without its
-- example.  The caller has a hostile schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rb_alice LOGIN;
CREATE ROLE rb_bob LOGIN;
CREATE SCHEMA rb;
GRANT CREATE, USAGE ON SCHEMA rb TO rb_alice, rb_bob;
-- the trap: an operator that would run as whoever resolves it
CREATE SCHEMA rb_trap;
GRANT USAGE ON SCHEMA rb_trap TO PUBLIC;
CREATE FUNCTION rb_trap.int_eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR rb_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = rb_trap.int_eq);
RESET client_min_messages;

SET ROLE rb_alice;
CREATE TABLE rb.src_u (k int, x int);
INSERT INTO rb.src_u VALUES (1, 1);
SELECT pipeline.create_matview('rb', 'u', 'SELECT k, x FROM rb.src_u', '1 hour');
GRANT SELECT ON rb.mv_u TO rb_bob;
RESET ROLE;
RESET search_path;

SET ROLE rb_bob;
CREATE TABLE rb.secrets (k int, code text);
INSERT INTO rb.secrets VALUES (1, '42'), (2, '-7');
SELECT pipeline.create_matview('rb', 'd', 'SELECT u.k, u.x, s.code FROM rb.mv_u u JOIN rb.secrets s USING (k)',
                               '1 hour', options => '{"expect": "positive_code: code::int > 0"}');
SELECT pipeline.create_matview('rb', 'd2', 'SELECT u.k, s.code FROM rb.mv_u u JOIN rb.secrets s USING (k)', '1 hour');
RESET ROLE;
RESET search_path;

SET ROLE rb_alice;
SET search_path = rb_trap, public, pg_catalog;
SELECT count(*) FROM rb.mv_d;
-- a failed audit of bob's view: its name and expectation, no example and
-- no count of its rows (alice could count them at will by redefining)
SELECT pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k + 1 AS k, x FROM rb.src_u$d$);
RESET ROLE;
RESET search_path;

-- an expectation that fails on a secret value: not shown to alice
UPDATE rb.secrets SET code = 's3cr3t-value' WHERE k = 2;
SET ROLE rb_alice;
SET search_path = rb_trap, public, pg_catalog;
SELECT pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k + 1 AS k, x FROM rb.src_u$d$);
RESET ROLE;
RESET search_path;

-- the same through a SECURITY DEFINER function of alice's that bob calls
-- and that catches the error: alice still may not read bob's view, so the
-- expectation's error text does not reach her (1.15 checked the session's
-- role, bob, once)
SET ROLE rb_alice;
CREATE TABLE rb.loot (message text);
CREATE FUNCTION rb.bump() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  PERFORM pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k + 1 AS k, x FROM rb.src_u$d$);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  INSERT INTO rb.loot VALUES (SQLERRM);
  RETURN 'failed';
END $f$;
GRANT EXECUTE ON FUNCTION rb.bump() TO rb_bob;
RESET ROLE;
RESET search_path;
SET ROLE rb_bob;
SELECT rb.bump();
RESET ROLE;
SET ROLE rb_alice;
SELECT message LIKE '%s3cr3t%' AS leaked, message FROM rb.loot;
DROP FUNCTION rb.bump();
DROP TABLE rb.loot;
RESET ROLE;
RESET search_path;

-- the same by bob's query
SET ROLE rb_bob;
SELECT pipeline.drop_matview('rb.mv_d');
SELECT pipeline.create_matview('rb', 'd3', 'SELECT u.k, s.code::int AS code FROM rb.mv_u u JOIN rb.secrets s USING (k)', '1 hour');
RESET ROLE;
RESET search_path;
SET ROLE rb_alice;
SET search_path = rb_trap, public, pg_catalog;
SELECT pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k + 1 AS k, x FROM rb.src_u$d$);
-- refused: alice's view is as it was
SELECT k, x FROM rb.mv_u;
RESET ROLE;
RESET search_path;

-- bob, who may read his view, sees why when he refreshes it
UPDATE rb.src_u SET k = 2;
SELECT status FROM pipeline.refresh('rb.mv_u', false);
SET ROLE rb_bob;
\set VERBOSITY terse
SELECT status FROM pipeline.refresh('rb.mv_d3', false);
\set VERBOSITY default
RESET ROLE;
RESET search_path;

-- a caller who may read the view sees the error as it is
GRANT SELECT ON rb.mv_d3 TO rb_alice;
SET ROLE rb_alice;
SET search_path = rb_trap, public, pg_catalog;
\set VERBOSITY terse
SELECT pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k, x + 1 AS x FROM rb.src_u$d$);
\set VERBOSITY default
RESET ROLE;
RESET search_path;

-- a rebuild keeps the view's row-level security: its flags and policies
CREATE ROLE rb_mallory LOGIN;
GRANT USAGE ON SCHEMA rb TO rb_mallory;
UPDATE rb.secrets SET code = '42';
SET ROLE rb_bob;
ALTER TABLE rb.mv_d2 ENABLE ROW LEVEL SECURITY;
ALTER TABLE rb.mv_d2 FORCE ROW LEVEL SECURITY;
CREATE POLICY nothing_for_mallory ON rb.mv_d2 FOR SELECT TO rb_mallory USING (false);
-- for reading only: the rebuild fills the table before its policies apply
CREATE POLICY bob_reads ON rb.mv_d2 AS PERMISSIVE FOR SELECT TO rb_bob, rb_alice USING (true);
CREATE POLICY no_inserts ON rb.mv_d2 AS RESTRICTIVE FOR INSERT TO PUBLIC WITH CHECK (false);
GRANT SELECT ON rb.mv_d2 TO rb_mallory;
RESET ROLE;
SET ROLE rb_mallory;
SELECT count(*) AS mallory_sees FROM rb.mv_d2;
RESET ROLE;
SET ROLE rb_alice;
SET search_path = rb_trap, public, pg_catalog;
SELECT pipeline.define($d$/**
 * @matview-schema rb
 * @matview-name u
 * @interval-in-minutes 60
 */ SELECT k, x, 1 AS extra FROM rb.src_u$d$);
RESET ROLE;
RESET search_path;
SET ROLE rb_mallory;
SELECT count(*) AS mallory_sees FROM rb.mv_d2;
RESET ROLE;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'rb.mv_d2'::regclass;
SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies
 WHERE schemaname = 'rb' AND tablename = 'mv_d2' ORDER BY 1;

SET client_min_messages = warning;
SELECT pipeline.drop_matview(v) FROM unnest(ARRAY['rb.mv_d3', 'rb.mv_d2', 'rb.mv_u']::regclass[]) v;
REVOKE USAGE ON SCHEMA rb FROM rb_mallory;
DROP SCHEMA rb CASCADE;
DROP SCHEMA rb_trap CASCADE;
DROP ROLE rb_alice;
DROP ROLE rb_bob;
DROP ROLE rb_mallory;
