-- A view's code that raises a cancel's or a shutdown's SQLSTATE itself
-- (RAISE ... USING ERRCODE = 'query_canceled') fails its own run, as any
-- error: it ended a superuser's whole run_due() pass, so that no view of
-- any role ran while it was due.  A real cancel still ends the pass.
-- The attacker works as a non-superuser with a trap schema first in
-- search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE fc_attacker LOGIN;
CREATE ROLE fc_victim LOGIN;
CREATE SCHEMA fc_attacker AUTHORIZATION fc_attacker;
CREATE SCHEMA fc_victim AUTHORIZATION fc_victim;
RESET client_min_messages;

SET ROLE fc_attacker;
CREATE FUNCTION fc_attacker.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR fc_attacker.= (LEFTARG = int, RIGHTARG = int, FUNCTION = fc_attacker.int4eq);
SET search_path = fc_attacker, pg_catalog;
CREATE TABLE fc_attacker.mode (m text);
CREATE FUNCTION fc_attacker.raising(code text) RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
    IF EXISTS (SELECT FROM fc_attacker.mode WHERE m = 'raise') THEN
        RAISE EXCEPTION 'raised %', code USING ERRCODE = code;
    END IF;
    RETURN 1;
END $f$;
SELECT pipeline.create_matview('fc_attacker', 'a_cancel', $$SELECT fc_attacker.raising('query_canceled') AS x$$, '1 minute');
SELECT pipeline.create_matview('fc_attacker', 'a_shutdown', $$SELECT fc_attacker.raising('admin_shutdown') AS x$$, '1 minute');
INSERT INTO fc_attacker.mode VALUES ('raise');
RESET search_path;
RESET ROLE;

SET ROLE fc_victim;
CREATE TABLE fc_victim.src (v int);
SELECT pipeline.create_matview('fc_victim', 'z_last', 'SELECT count(*) AS n FROM fc_victim.src', '1 minute');
INSERT INTO fc_victim.src VALUES (1);
RESET ROLE;

-- a superuser's pass: the attacker's views fail, the victim's runs
SELECT matview, status FROM pipeline.run_due(now() + interval '10 minutes')
 WHERE matview::text LIKE 'fc_%' ORDER BY matview::text;
SELECT n FROM fc_victim.mv_z_last;
SELECT r.matview, r.status, r.error FROM pipeline.runs r
 WHERE r.matview::text LIKE 'fc_%' AND r.status = 'failed' ORDER BY r.matview::text;

-- a real cancel (statement_timeout) still ends the pass
SET ROLE fc_attacker;
CREATE FUNCTION fc_attacker.slow() RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
    IF EXISTS (SELECT FROM fc_attacker.mode WHERE m = 'slow') THEN
        PERFORM pg_catalog.pg_sleep(5);
    END IF;
    RETURN 1;
END $f$;
SELECT pipeline.create_matview('fc_attacker', 'b_slow', 'SELECT fc_attacker.slow() AS x', '1 minute',
                               refresh_mode => 'full');
UPDATE fc_attacker.mode SET m = 'slow';
RESET ROLE;
SET statement_timeout = '500ms';
SELECT matview, status FROM pipeline.run_due(now() + interval '20 minutes');
RESET statement_timeout;

SET client_min_messages = warning;
SELECT pipeline.drop_matview(m.matview) FROM pipeline.matviews m
 WHERE m.matview::text LIKE 'fc_%';
DROP SCHEMA fc_attacker CASCADE;
DROP SCHEMA fc_victim CASCADE;
DROP ROLE fc_attacker;
DROP ROLE fc_victim;
