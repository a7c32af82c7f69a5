-- Renaming what a managed view reads: PostgreSQL keeps the view working
-- (it is bound by OID), and pipeline keeps the stored bound query current,
-- so the compile step and an incremental view's appends still read it.
-- The renames are made by the sources' owner, who owns none of the views.
SET client_min_messages = warning;
CREATE ROLE ren_owner;
CREATE ROLE ren_views;
CREATE SCHEMA ren AUTHORIZATION ren_views;
CREATE SCHEMA ren_src AUTHORIZATION ren_owner;
GRANT USAGE ON SCHEMA ren_src TO ren_views;
SET ROLE ren_owner;
CREATE TABLE ren_src.k (a int, t timestamptz);
INSERT INTO ren_src.k VALUES (1, '2026-01-01 00:00+00'), (2, '2026-01-02 00:00+00');
CREATE FUNCTION ren_src.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
GRANT SELECT ON ren_src.k TO ren_views;
GRANT EXECUTE ON FUNCTION ren_src.twice(int) TO ren_views;
RESET ROLE;

SET ROLE ren_views;
SELECT pipeline.create_matview('ren', 'k1', 'SELECT a, ren_src.twice(a) AS b FROM ren_src.k', '1 hour');
SELECT pipeline.create_matview('ren', 'k2',
    'SELECT k1.a, k1.b, k.a AS c FROM ren.mv_k1 k1 JOIN ren_src.k ON true', '1 hour');
SELECT pipeline.define($$/**
 * @matview-schema ren
 * @matview-name appended
 * @matview-type incremental
 * @incremental-key t
 * @interval-in-minutes 60
 */
SELECT t, a FROM ren_src.k$$);
RESET ROLE;

-- a hostile schema first on the renaming role's search_path: its
-- operators and functions shadow the ones pipeline's own SQL uses, and
-- fail loudly if anything resolves to them
CREATE SCHEMA ren_trap;
GRANT USAGE ON SCHEMA ren_trap TO PUBLIC;
CREATE FUNCTION ren_trap.trap_oid(oid, oid) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE FUNCTION ren_trap.trap_oid_int(oid, integer) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE FUNCTION ren_trap.trap_regclass(regclass, regclass) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE FUNCTION ren_trap.trap_text(text, text) RETURNS boolean
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap = ran as %', current_user; END$f$;
CREATE OPERATOR ren_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = ren_trap.trap_oid);
CREATE OPERATOR ren_trap.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = ren_trap.trap_oid_int);
CREATE OPERATOR ren_trap.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = ren_trap.trap_regclass);
CREATE OPERATOR ren_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = ren_trap.trap_text);
CREATE FUNCTION ren_trap.unnest(anyarray) RETURNS SETOF anyelement
    LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'trap unnest ran as %', current_user; END$f$;
SET search_path = ren_trap, pg_catalog;
SET ROLE ren_owner;
ALTER TABLE ren_src.k RENAME COLUMN a TO z;
ALTER FUNCTION ren_src.twice(int) RENAME TO doubled;
RESET ROLE;
RESET search_path;

-- the bound queries name what is there now
SELECT matview, bound_query FROM pipeline.matview_definitions
 WHERE schema_name = 'ren' ORDER BY matview::text;

-- a compatible redefinition of the upstream is judged against the current names
SET ROLE ren_views;
SELECT matview, status FROM pipeline.check('ren.mv_k1', 'SELECT z AS a, ren_src.doubled(z) AS b FROM ren_src.k');
SELECT pipeline.create_matview('ren', 'k1', 'SELECT z AS a, ren_src.doubled(z) AS b FROM ren_src.k', '1 hour');
SELECT * FROM ren.mv_k2 ORDER BY a, c;

-- the incremental view appends through the renamed column
RESET ROLE;
INSERT INTO ren_src.k VALUES (3, '2026-01-03 00:00+00');
SET ROLE ren_views;
SELECT status, rows FROM pipeline.refresh('ren.mv_appended');
SELECT * FROM ren.mv_appended ORDER BY t;
RESET ROLE;

-- the table and its schema renamed too
SET ROLE ren_owner;
ALTER TABLE ren_src.k RENAME TO events;
RESET ROLE;
ALTER SCHEMA ren_src RENAME TO ren_source;
SELECT matview, bound_query FROM pipeline.matview_definitions
 WHERE schema_name = 'ren' ORDER BY matview::text;
INSERT INTO ren_source.events VALUES (4, '2026-01-04 00:00+00');
SET ROLE ren_views;
SELECT status, rows FROM pipeline.refresh('ren.mv_k1');
SELECT status, rows FROM pipeline.refresh('ren.mv_appended');
SELECT count(*) FROM ren.mv_k2;
RESET ROLE;

-- renamed while the views' owner may not see the schema for a while: a
-- view kept in a table cannot follow (only its owner may analyze its
-- query: anyone else could run the owner's code, such as a domain's CHECK
-- on a literal), and the rename says so
REVOKE USAGE ON SCHEMA ren_source FROM ren_views;
ALTER TABLE ren_source.events RENAME TO happenings;
GRANT USAGE ON SCHEMA ren_source TO ren_views;
ALTER TABLE ren_source.happenings RENAME TO events;

SELECT pipeline.drop_matview('ren.mv_k1', cascade => true);
SELECT pipeline.drop_matview('ren.mv_appended');
DROP SCHEMA ren CASCADE;
DROP SCHEMA ren_source CASCADE;
DROP SCHEMA ren_trap CASCADE;
DROP ROLE ren_owner;
DROP ROLE ren_views;
