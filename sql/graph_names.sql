-- 1.18: graph() takes its format in any case, names pipeline's own tables
-- with their schema (as every other relation), and no managed view may
-- live in pipeline's schema.  As a non-superuser with a trap schema first
-- in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE gn_owner LOGIN;
CREATE SCHEMA gn AUTHORIZATION gn_owner;
CREATE SCHEMA gn_trap AUTHORIZATION gn_owner;
RESET client_min_messages;
SET ROLE gn_owner;
CREATE FUNCTION gn_trap.lower(text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: lower ran as %', current_user; END $f$;
CREATE FUNCTION gn_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR gn_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = gn_trap.texteq);
SET search_path = gn_trap, public, pg_catalog;

CREATE TABLE gn.src (a int);
SELECT pipeline.create_matview('gn', 'runs_seen', 'SELECT count(*) AS n FROM pipeline.runs', '1 hour');
SELECT pipeline.create_matview('gn', 'plain', 'SELECT a FROM gn.src', '1 hour');
SELECT pipeline.graph('DOT') OPERATOR(pg_catalog.=) pipeline.graph('dot') AS dot_any_case,
       pipeline.graph('Mermaid') OPERATOR(pg_catalog.=) pipeline.graph('mermaid') AS mermaid_any_case,
       pipeline.graph('JSON') OPERATOR(pg_catalog.=) pipeline.graph('json') AS json_any_case;
SELECT pipeline.graph('dot');
SELECT relation, depth FROM pipeline.upstream('gn.mv_runs_seen');
SELECT matview, depth FROM pipeline.downstream('pipeline.runs');
SELECT pipeline.graph('svg');

-- pipeline's schema holds its catalog, not managed views (as a superuser,
-- who may create there)
RESET ROLE;
SELECT pipeline.create_matview('pipeline', 'x', 'SELECT 1 AS one', '1 hour');
SELECT pipeline.define($d$/**
 * @matview-schema pipeline
 * @matview-name x
 * @interval-in-minutes 60
 */ SELECT 1 AS one$d$);
SELECT count(*) AS nothing_made FROM pg_class WHERE relname = 'mv_x';

SET ROLE gn_owner;
SELECT pipeline.drop_matview('gn.mv_runs_seen');
SELECT pipeline.drop_matview('gn.mv_plain');
RESET search_path;
RESET ROLE;
DROP SCHEMA gn CASCADE;
DROP SCHEMA gn_trap CASCADE;
DROP ROLE gn_owner;
