-- Hardening: a PL/pgSQL function compiled under another role's search_path
-- is not run where pipeline runs one role's code in a session that ran
-- another's.
--
-- PL/pgSQL resolves a function's DECLAREd types with the search_path of its
-- first call in a session and keeps them.  Role "plp_victim" has a function
-- plp_victim.tag() that declares a variable of type "label", unqualified;
-- its own path finds plp_victim.label.  Role "plp_attacker" has a domain
-- plp_attacker.label whose CHECK logs who runs it.  When the attacker's
-- path makes tag() find that domain first, and pipeline later runs tag() as
-- the victim in the same session, the CHECK would run as the victim.  The
-- log must only ever name the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE ROLE plp_attacker LOGIN;
CREATE ROLE plp_victim LOGIN;
CREATE SCHEMA plp_attacker AUTHORIZATION plp_attacker;
CREATE SCHEMA plp_victim AUTHORIZATION plp_victim;
GRANT USAGE ON SCHEMA plp_attacker TO PUBLIC;
GRANT USAGE ON SCHEMA plp_victim TO PUBLIC;
-- the search_path each one's views run with (a fresh session's)
ALTER ROLE plp_victim SET search_path = plp_victim, public;
ALTER ROLE plp_attacker SET search_path = plp_attacker, plp_victim, public;

CREATE TABLE public.plp_log (who name, what text);
GRANT SELECT, INSERT ON public.plp_log TO PUBLIC;

SET SESSION AUTHORIZATION plp_victim;
CREATE DOMAIN plp_victim.label AS text;
CREATE FUNCTION plp_victim.tag(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE
    x label;
BEGIN
    x := t;
    RETURN x;
END $f$;
-- the same, with its own path (pg_temp last): never refused
-- (tag_n() takes an int: a call shares the form PL/pgSQL's validator
-- compiles; tag_set() has its own path, without pg_temp last)
CREATE FUNCTION plp_victim.tag_n(n int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE
    x label;
BEGIN
    x := n::text;
    RETURN x;
END $f$;
CREATE FUNCTION plp_victim.tag_set(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = plp_victim, public AS $f$
DECLARE
    x label;
BEGIN
    x := t;
    RETURN x;
END $f$;
CREATE FUNCTION plp_victim.tag_pinned(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = plp_victim, pg_catalog, pg_temp AS $f$
DECLARE
    x label;
BEGIN
    x := t;
    RETURN x;
END $f$;

SET SESSION AUTHORIZATION plp_attacker;
-- (in SQL, so that the check on PL/pgSQL calls does not see it run)
CREATE FUNCTION plp_attacker.spy(v text) RETURNS boolean LANGUAGE sql
    AS $f$ INSERT INTO public.plp_log VALUES (current_user, v) RETURNING true $f$;
CREATE DOMAIN plp_attacker.label AS text CHECK (plp_attacker.spy(VALUE));
CREATE TABLE plp_attacker.src (t text);
INSERT INTO plp_attacker.src VALUES ('a');
GRANT SELECT ON plp_attacker.src TO PUBLIC;
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t FROM plp_attacker.src', '1 hour');
GRANT SELECT ON plp_attacker.mv_up TO PUBLIC;

SET SESSION AUTHORIZATION plp_victim;
SELECT pipeline.create_matview('plp_victim', 'down',
    'SELECT plp_victim.tag(t) AS t FROM plp_attacker.mv_up', '1 hour');
SELECT pipeline.create_matview('plp_victim', 'down_pinned',
    'SELECT plp_victim.tag_pinned(t) AS t FROM plp_attacker.mv_up', '1 hour');
SELECT * FROM plp_victim.mv_down;
\c
SET client_min_messages = warning;

-- 1. The attacker's own session: it runs tag() under its path (the CHECK
-- runs as the attacker: allowed), then redefines its view, which rebuilds
-- the victim's downstream views in this session, as the victim.  Refused:
-- the redefinition fails whole.
SET SESSION AUTHORIZATION plp_attacker;
SET search_path = plp_attacker, plp_victim, public;
SELECT plp_victim.tag('compiled by the attacker'), plp_victim.tag_pinned('pinned');
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 1 AS n FROM plp_attacker.src', '1 hour');
SELECT count(*) AS columns FROM pg_attribute
 WHERE attrelid = 'plp_attacker.mv_up'::regclass AND attnum > 0 AND NOT attisdropped;
-- a session that has not run tag() redefines it, and the rebuild runs
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_attacker;
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 1 AS n FROM plp_attacker.src', '1 hour');
RESET SESSION AUTHORIZATION;
SELECT * FROM plp_victim.mv_down;
\c
SET client_min_messages = warning;

-- 2. One run_due runs both owners' views, the attacker's first (the
-- victim's reads it): the attacker's calls tag() under the attacker's path,
-- then the victim's calls it as the victim.  The victim's run is refused,
-- not run with the attacker's types; the pinned function is not refused.
SET SESSION AUTHORIZATION plp_attacker;
SELECT pipeline.create_matview('plp_attacker', 'first',
    'SELECT plp_victim.tag(t) AS t, plp_victim.tag_pinned(t) AS p FROM plp_attacker.src', '1 hour');
GRANT SELECT ON plp_attacker.mv_first TO PUBLIC;
-- (this session ran tag() as the attacker: the victim defines in another)
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_victim;
SELECT pipeline.create_matview('plp_victim', 'second',
    'SELECT plp_victim.tag(t) AS t FROM plp_attacker.mv_first', '1 hour');
SELECT pipeline.create_matview('plp_victim', 'second_pinned',
    'SELECT plp_victim.tag_pinned(t) AS t FROM plp_attacker.mv_first', '1 hour');
RESET SESSION AUTHORIZATION;
\c
SET client_min_messages = warning;
INSERT INTO plp_attacker.src VALUES ('b');
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00')
 WHERE matview::text LIKE 'plp%' ORDER BY matview::text;
SELECT r.matview, r.error FROM pipeline.runs r
 WHERE r.matview::text LIKE 'plp%' AND r.status = 'failed' ORDER BY r.matview::text;
-- and the session that called run_due: its own call of tag() is refused too
SET search_path = plp_victim, public;
SELECT plp_victim.tag('superuser');
\c
SET client_min_messages = warning;
-- in a session of its own, the victim's view runs
SELECT matview, status FROM pipeline.refresh('plp_victim.mv_second');
SELECT * FROM plp_victim.mv_second ORDER BY t;

-- 3. What is not refused: the same role under another path, another role
-- under the same path, a function whose pg_proc row changed since.  Each
-- refresh of mv_up cascades to the victim's views, which call tag() on the
-- new row.
SET SESSION AUTHORIZATION plp_victim;
SET search_path = public, plp_victim;
SELECT plp_victim.tag('victim, another path');
RESET SESSION AUTHORIZATION;
SET search_path = plp_victim, public;
SELECT plp_victim.tag('superuser, the victim''s path');
INSERT INTO plp_attacker.src VALUES ('c');
SELECT matview, status FROM pipeline.refresh('plp_attacker.mv_up') ORDER BY matview::text;
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_attacker;
SET search_path = plp_attacker, plp_victim, public;
SELECT plp_victim.tag('attacker again');
SET SESSION AUTHORIZATION plp_victim;
CREATE OR REPLACE FUNCTION plp_victim.tag(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE
    x label;
BEGIN
    x := t;
    RETURN x || '!';
END $f$;
RESET SESSION AUTHORIZATION;
INSERT INTO plp_attacker.src VALUES ('d');
SELECT matview, status FROM pipeline.refresh('plp_attacker.mv_up') ORDER BY matview::text;
-- every row has the new body's answer: a replaced function makes the next
-- refresh full (1.13)
SELECT * FROM plp_victim.mv_down ORDER BY t;

-- 4. Compiled without a call: PL/pgSQL's validator, called from SQL,
-- compiles (and keeps) the function it is given, under the caller's path.
-- It counts as a run of every PL/pgSQL function: the rebuild is refused.
SET SESSION AUTHORIZATION plp_victim;
SELECT pipeline.create_matview('plp_victim', 'down_n',
    'SELECT plp_victim.tag_n(pg_catalog.length(t)) AS n FROM plp_attacker.mv_up', '1 hour');
RESET SESSION AUTHORIZATION;
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_attacker;
SET search_path = plp_attacker, plp_victim, public;
SELECT plpgsql_validator('plp_victim.tag_n(int)'::regprocedure);
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 2 AS n FROM plp_attacker.src', '1 hour');
\c
SET client_min_messages = warning;

-- 5. The session's temporary schema is the session's, whoever made what is
-- in it.  (a) The attacker's temporary domain "label" on a path that
-- searches pg_temp right after pg_catalog: not the victim's path, though
-- both end the same.  (b) A function with its own search_path that does
-- not end with pg_temp searches the temporary schema first: pipeline does
-- not run it in a session that has one.
SET SESSION AUTHORIZATION plp_attacker;
CREATE DOMAIN pg_temp.label AS text CHECK (plp_attacker.spy(VALUE));
SET search_path = pg_catalog, pg_temp, plp_victim, public;
SELECT plp_victim.tag('temporary label');
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 2 AS n FROM plp_attacker.src', '1 hour');
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_victim;
SELECT pipeline.drop_matview('plp_victim.mv_down_n');
SELECT pipeline.create_matview('plp_victim', 'down_set',
    'SELECT plp_victim.tag_set(t) AS t FROM plp_attacker.mv_up', '1 hour');
RESET SESSION AUTHORIZATION;
\c
SET client_min_messages = warning;
SET SESSION AUTHORIZATION plp_attacker;
CREATE DOMAIN pg_temp.label AS text CHECK (plp_attacker.spy(VALUE));
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 2 AS n FROM plp_attacker.src', '1 hour');
RESET SESSION AUTHORIZATION;
\c
SET client_min_messages = warning;
-- in a session without temporary objects, the same redefinition rebuilds
SET SESSION AUTHORIZATION plp_attacker;
SELECT pipeline.create_matview('plp_attacker', 'up', 'SELECT t, 2 AS n FROM plp_attacker.src', '1 hour');
RESET SESSION AUTHORIZATION;
SELECT * FROM plp_victim.mv_down_set ORDER BY t;

-- 6. The validator compiles under the caller's path whatever the
-- function's own SET says, and a call of it leaves no function's last run
-- vouching for the next call.  tag_any() is polymorphic and pinned; the
-- victim's text view runs it, the validator compiles its int4 form under
-- the attacker's path, then the victim's int view would use that form.
SET SESSION AUTHORIZATION plp_victim;
CREATE FUNCTION plp_victim.tag_any(v anyelement) RETURNS text LANGUAGE plpgsql IMMUTABLE
SET search_path = plp_victim, pg_catalog, pg_temp AS $f$
DECLARE
    x label;
BEGIN
    x := v::text;
    RETURN x;
END $f$;
CREATE TABLE plp_victim.nums (n int, t text);
INSERT INTO plp_victim.nums VALUES (1, 'one');
SELECT pipeline.create_matview('plp_victim', 'any_text',
    'SELECT plp_victim.tag_any(t) AS t FROM plp_victim.nums', '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('plp_victim', 'any_int',
    'SELECT plp_victim.tag_any(n) AS t FROM plp_victim.nums', '1 hour', refresh_mode => 'full');
RESET SESSION AUTHORIZATION;
\c
SET client_min_messages = warning;
SELECT matview, status FROM pipeline.refresh('plp_victim.mv_any_text');
SET SESSION AUTHORIZATION plp_attacker;
SET search_path = plp_attacker, plp_victim, public;
SELECT plpgsql_validator('plp_victim.tag_any(anyelement)'::regprocedure);
RESET SESSION AUTHORIZATION;
SELECT matview, status FROM pipeline.refresh('plp_victim.mv_any_int');
\c
SET client_min_messages = warning;
SELECT matview, status FROM pipeline.refresh('plp_victim.mv_any_int');

-- the verdict: the CHECK ran as the attacker only
SELECT who, count(*) > 0 AS ran FROM public.plp_log GROUP BY who ORDER BY who;

SELECT pipeline.drop_matview('plp_victim.mv_any_text');
SELECT pipeline.drop_matview('plp_victim.mv_any_int');
SELECT pipeline.drop_matview('plp_victim.mv_down');
SELECT pipeline.drop_matview('plp_victim.mv_down_set');
SELECT pipeline.drop_matview('plp_victim.mv_down_pinned');
SELECT pipeline.drop_matview('plp_victim.mv_second');
SELECT pipeline.drop_matview('plp_victim.mv_second_pinned');
SELECT pipeline.drop_matview('plp_attacker.mv_first');
SELECT pipeline.drop_matview('plp_attacker.mv_up');
DROP TABLE public.plp_log;
DROP SCHEMA plp_attacker CASCADE;
DROP SCHEMA plp_victim CASCADE;
ALTER ROLE plp_victim RESET search_path;
ALTER ROLE plp_attacker RESET search_path;
DROP ROLE plp_attacker;
DROP ROLE plp_victim;
