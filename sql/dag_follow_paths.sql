-- Edges follow every way a plain view's query is replaced, as the statement
-- resolved it, and a third role cannot block a view owner's redefinition.
-- As non-superusers with a trap schema first in search_path (an attack
-- pass found each of these).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE fp_owner LOGIN;
CREATE ROLE fp_other LOGIN;
CREATE ROLE fp_third LOGIN;
CREATE SCHEMA fp AUTHORIZATION fp_owner;
CREATE SCHEMA fp_trap AUTHORIZATION fp_owner;
GRANT USAGE, CREATE ON SCHEMA fp TO fp_other, fp_third;
GRANT USAGE ON SCHEMA fp_trap TO fp_other, fp_third;
RESET client_min_messages;
SET ROLE fp_owner;
CREATE FUNCTION fp_trap.trap_oideq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: oid = oid ran as %', current_user; END $f$;
CREATE OPERATOR fp_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = fp_trap.trap_oideq);
CREATE FUNCTION fp_trap.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: unnest ran as %', current_user; END $f$;
SET search_path = fp_trap, fp, pg_catalog;

-- CREATE OR REPLACE RULE "_RETURN" replaces a view's query as CREATE OR
-- REPLACE VIEW does: the reader's edges follow (it was skipped, stale)
CREATE TABLE fp.t (g int, v int);
CREATE TABLE fp.t2 (g int, v int);
INSERT INTO fp.t VALUES (1, 1);
INSERT INTO fp.t2 VALUES (7, 7);
CREATE VIEW fp.pv AS SELECT g, v FROM fp.t;
SELECT pipeline.create_matview('fp', 'd', 'SELECT g, pg_catalog.sum(v) AS s FROM fp.pv GROUP BY g', '1 hour');
SELECT status FROM pipeline.refresh('fp.mv_d');
CREATE OR REPLACE RULE "_RETURN" AS ON SELECT TO fp.pv DO INSTEAD SELECT g, v FROM fp.t2;
SELECT upstream FROM pipeline.edges WHERE downstream OPERATOR(pg_catalog.=) 'fp.mv_d'::regclass ORDER BY 1;
SELECT status FROM pipeline.refresh('fp.mv_d');
INSERT INTO fp.t2 VALUES (8, 8);
SELECT status FROM pipeline.refresh('fp.mv_d');
SELECT g, s FROM fp.mv_d ORDER BY 1;

-- an unqualified CREATE OR REPLACE VIEW replaces the view in its creation
-- schema, not a temporary table of the same name (which the hook followed)
SET search_path = fp, pg_catalog;
CREATE TEMP TABLE pv (x int);
CREATE OR REPLACE VIEW pv AS SELECT g, v FROM fp.t;
DROP TABLE pg_temp.pv;
SET search_path = fp_trap, fp, pg_catalog;
SELECT upstream FROM pipeline.edges WHERE downstream OPERATOR(pg_catalog.=) 'fp.mv_d'::regclass ORDER BY 1;
INSERT INTO fp.t VALUES (2, 2);
SELECT status FROM pipeline.refresh('fp.mv_d');
SELECT g, s FROM fp.mv_d ORDER BY 1;
RESET ROLE;

-- a role without USAGE on schema pipeline may still replace its views
REVOKE USAGE ON SCHEMA pipeline FROM PUBLIC;
SET ROLE fp_owner;
SET search_path = fp_trap, fp, pg_catalog;
CREATE OR REPLACE VIEW fp.pv AS SELECT g, v FROM fp.t2;
RESET ROLE;
GRANT USAGE ON SCHEMA pipeline TO PUBLIC;
SELECT upstream FROM pipeline.edges WHERE downstream OPERATOR(pg_catalog.=) 'fp.mv_d'::regclass ORDER BY 1;

-- the owner of a plain view another role's view reads replaces it after
-- revoking that role's USAGE on its schema (the reader's query is analyzed
-- for its edges; as its owner that failed, refusing the replacement)
CREATE SCHEMA fp_a AUTHORIZATION fp_owner;
SET ROLE fp_owner;
CREATE TABLE fp_a.t (g int);
INSERT INTO fp_a.t VALUES (1);
CREATE VIEW fp_a.pv AS SELECT g FROM fp_a.t;
GRANT USAGE ON SCHEMA fp_a TO fp_other;
GRANT SELECT ON fp_a.pv TO fp_other;
SET ROLE fp_other;
SET search_path = fp_trap, fp, pg_catalog;
SELECT pipeline.create_matview('fp', 'others', 'SELECT g FROM fp_a.pv', '1 hour');
SET ROLE fp_owner;
REVOKE USAGE ON SCHEMA fp_a FROM fp_other;
CREATE TABLE fp_a.t2 (g int);
CREATE OR REPLACE VIEW fp_a.pv AS SELECT g FROM fp_a.t2;
SELECT upstream FROM pipeline.edges WHERE downstream OPERATOR(pg_catalog.=) 'fp.mv_others'::regclass ORDER BY 1;
RESET ROLE;

-- a trigger a third role added with a function the view's owner may not
-- execute is restored when an upstream's redefinition rebuilds the view
-- (the upstream's owner could do nothing about it)
SET ROLE fp_owner;
GRANT SELECT ON fp.mv_d TO fp_other;
SET ROLE fp_other;
SET search_path = fp_trap, fp, pg_catalog;
SELECT pipeline.create_matview('fp', 'down', 'SELECT g, s * 2 AS s2 FROM fp.mv_d', '1 hour');
GRANT TRIGGER ON fp.mv_down TO fp_third;
SET ROLE fp_third;
SET search_path = fp_trap, fp, pg_catalog;
CREATE FUNCTION fp.thirds() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$;
REVOKE EXECUTE ON FUNCTION fp.thirds() FROM PUBLIC;
CREATE TRIGGER thirds AFTER INSERT ON fp.mv_down FOR EACH STATEMENT EXECUTE FUNCTION fp.thirds();
SET ROLE fp_owner;
SET search_path = fp_trap, fp, pg_catalog;
SELECT pipeline.create_matview('fp', 'd', 'SELECT g, pg_catalog.sum(v) AS s, 1 AS one FROM fp.pv GROUP BY g', '1 hour');
SELECT tgname FROM pg_catalog.pg_trigger
 WHERE tgrelid OPERATOR(pg_catalog.=) 'fp.mv_down'::regclass AND NOT tgisinternal ORDER BY 1;
RESET search_path;
RESET ROLE;

-- a cycle an older version let in (two replacements committed at once)
-- stops every view's runs; a replacement that breaks it is let through
SET search_path = fp, pg_catalog;
CREATE TABLE fp.c1 (g int);
CREATE TABLE fp.c2 (g int);
CREATE VIEW fp.cv1 AS SELECT g FROM fp.c1;
CREATE VIEW fp.cv2 AS SELECT g FROM fp.c2;
SELECT pipeline.create_matview('fp', 'c1', 'SELECT g FROM fp.cv1', '1 hour');
SELECT pipeline.create_matview('fp', 'c2', 'SELECT g FROM fp.cv2', '1 hour');
INSERT INTO pipeline.edges VALUES ('fp.mv_c2', 'fp.mv_c1'), ('fp.mv_c1', 'fp.mv_c2');
SELECT count(*) FROM pipeline.refresh_order();
CREATE OR REPLACE VIEW fp.cv1 AS SELECT g FROM fp.c1 WHERE g > 0;
SELECT matview, level FROM pipeline.refresh_order() WHERE matview::text LIKE 'mv_c_' ORDER BY 1;
RESET search_path;
SELECT pipeline.drop_matview('fp.mv_c2');
SELECT pipeline.drop_matview('fp.mv_c1');

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview('fp.mv_d', cascade => true);
SELECT pipeline.drop_matview('fp.mv_others');
DROP SCHEMA fp_a CASCADE;
DROP SCHEMA fp CASCADE;
DROP SCHEMA fp_trap CASCADE;
DROP ROLE fp_owner, fp_other, fp_third;
