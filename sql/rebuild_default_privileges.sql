-- A rebuilt view keeps exactly its privileges.  Its new relation is made by
-- its owner, so the owner's default privileges (ALTER DEFAULT PRIVILEGES)
-- applied to it, and a grant the owner had revoked on the view came back:
-- a role could redefine its own upstream view to rebuild alice's and read
-- alice's rows.  The owner's own revoked rights came back too.  The
-- attacker is a plain role with a hostile schema first in its path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rdp_alice;
CREATE ROLE rdp_mallory;
CREATE ROLE rdp_team;
GRANT rdp_team TO rdp_mallory;
CREATE SCHEMA rdp_a AUTHORIZATION rdp_alice;
CREATE SCHEMA rdp_m AUTHORIZATION rdp_mallory;
CREATE SCHEMA rdp_trap AUTHORIZATION rdp_mallory;
GRANT USAGE ON SCHEMA rdp_a TO rdp_mallory, rdp_team;
GRANT USAGE ON SCHEMA rdp_m TO rdp_alice;

SET ROLE rdp_mallory;
CREATE FUNCTION rdp_trap.acldefault("char", oid) RETURNS aclitem[] LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
SET search_path = rdp_trap, public;
CREATE TABLE rdp_m.src (k int, v int);
INSERT INTO rdp_m.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('rdp_m', 'up', 'SELECT k, v FROM rdp_m.src', '1 hour');
GRANT SELECT ON rdp_m.mv_up TO rdp_alice;
RESET search_path;

SET ROLE rdp_alice;
CREATE TABLE rdp_a.secret (k int, s text);
INSERT INTO rdp_a.secret VALUES (1, 'alice-secret-1'), (2, 'alice-secret-2');
ALTER DEFAULT PRIVILEGES IN SCHEMA rdp_a GRANT SELECT ON TABLES TO rdp_team;
REVOKE SELECT ON rdp_a.secret FROM rdp_team;
SELECT pipeline.create_matview('rdp_a', 'down',
    'SELECT u.k, u.v, s.s FROM rdp_m.mv_up u JOIN rdp_a.secret s USING (k)', '1 hour');
SELECT pipeline.create_matview('rdp_a', 'down_diff',
    'SELECT u.k, u.v, s.s FROM rdp_m.mv_up u JOIN rdp_a.secret s USING (k)', '1 hour',
    refresh_mode => 'differential');
REVOKE SELECT ON rdp_a.mv_down, rdp_a.mv_down_diff FROM rdp_team;
REVOKE TRUNCATE, REFERENCES ON rdp_a.mv_down_diff FROM rdp_alice;
GRANT SELECT (k) ON rdp_a.mv_down TO rdp_mallory;
CREATE TEMP TABLE acl_before AS
SELECT c.relname, c.relacl::text AS relacl, (SELECT a.attacl::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attname = 'k') AS k_acl
  FROM pg_class c WHERE c.relname IN ('mv_down', 'mv_down_diff') AND c.relnamespace = 'rdp_a'::regnamespace;
SELECT * FROM acl_before ORDER BY 1;

-- mallory redefines her view: alice's two views are rebuilt
SET ROLE rdp_mallory;
SET search_path = rdp_trap, public;
SELECT pipeline.create_matview('rdp_m', 'up', 'SELECT k, v + 1 AS v FROM rdp_m.src', '1 hour');
SELECT s FROM rdp_a.mv_down;
SELECT s FROM rdp_a.mv_down_diff;
SELECT k FROM rdp_a.mv_down ORDER BY k;
RESET search_path;

SET ROLE rdp_alice;
-- new relations, the same privileges
SELECT b.relname, b.relacl = a.relacl::text AS same_relacl, b.k_acl IS NOT DISTINCT FROM a.k_acl AS same_k_acl
  FROM acl_before b JOIN (SELECT c.relname, c.relacl, (SELECT t.attacl::text FROM pg_attribute t
        WHERE t.attrelid = c.oid AND t.attname = 'k') AS k_acl
  FROM pg_class c WHERE c.relname IN ('mv_down', 'mv_down_diff') AND c.relnamespace = 'rdp_a'::regnamespace) a
    USING (relname) ORDER BY 1;
SELECT has_table_privilege('rdp_alice', 'rdp_a.mv_down_diff', 'TRUNCATE') AS alice_may_truncate,
       has_table_privilege('rdp_team', 'rdp_a.mv_down', 'SELECT') AS team_may_read;
SELECT pipeline.drop_matview('rdp_a.mv_down');
SELECT pipeline.drop_matview('rdp_a.mv_down_diff');
SET ROLE rdp_mallory;
SELECT pipeline.drop_matview('rdp_m.mv_up');
RESET ROLE;
DROP SCHEMA rdp_a CASCADE;
DROP SCHEMA rdp_m CASCADE;
DROP SCHEMA rdp_trap CASCADE;
DROP OWNED BY rdp_alice, rdp_mallory, rdp_team;
DROP ROLE rdp_alice, rdp_mallory, rdp_team;
