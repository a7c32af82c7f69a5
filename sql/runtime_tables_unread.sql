-- Nothing of a user's may read the tables pipeline makes as it runs (a
-- differential view's state, a capture log): they are members of the
-- extension, which pg_dump leaves out, so a view over one failed its
-- restore, and with it every later statement of a single-transaction
-- restore; a managed view over one also left pipeline.edges naming a table
-- the restore lacked, and the COPY of the catalog failed for every role.
-- A view over a state table also kept its owner's column from being
-- dropped.  The attacker is a plain role with a hostile schema first in
-- its path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rt_mallory;
CREATE SCHEMA rt_m AUTHORIZATION rt_mallory;
CREATE SCHEMA rt_trap AUTHORIZATION rt_mallory;
RESET client_min_messages;

SET ROLE rt_mallory;
CREATE FUNCTION rt_trap.lower(text) RETURNS text LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
SET search_path = rt_trap, public;
CREATE TABLE rt_m.ev (id int PRIMARY KEY, grp int, amt numeric);
INSERT INTO rt_m.ev SELECT g, g % 3, g FROM generate_series(1, 30) g;
SELECT pipeline.create_matview('rt_m', 'agg', 'SELECT grp, count(*) AS n, sum(amt) AS s FROM rt_m.ev GROUP BY grp',
                               '1 hour', refresh_mode => 'differential') IS NOT NULL AS defined;
SELECT status FROM pipeline.refresh('rt_m.mv_agg');
SELECT 'pipeline.state_' || 'rt_m.mv_agg'::regclass::oid AS state \gset
RESET ROLE;
SELECT log_table AS capture_log FROM pipeline.capture_sources WHERE source = 'rt_m.ev'::regclass \gset
SET ROLE rt_mallory;
SELECT (SELECT relowner::regrole FROM pg_class WHERE oid = :'state'::regclass) AS state_owner;

-- the errors name the table; its oid is left out of this file
\set VERBOSITY terse
CREATE FUNCTION pg_temp.refused(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN feature_not_supported OR object_in_use THEN
    RETURN regexp_replace(SQLERRM, '_\d+', '_N', 'g');
END $$;
SELECT pg_temp.refused(format('CREATE VIEW rt_m.v_state AS SELECT * FROM %s', :'state'));
SELECT pg_temp.refused(format('CREATE OR REPLACE VIEW rt_m.v_state AS SELECT * FROM %s', :'state'));
SELECT pg_temp.refused(format('CREATE MATERIALIZED VIEW rt_m.m_state AS SELECT * FROM %s', :'state'));
SELECT pg_temp.refused(format('CREATE VIEW rt_m.v_deep AS SELECT s.* FROM rt_m.ev e, LATERAL (SELECT * FROM %s) s', :'state'));
SELECT pg_temp.refused(format('CREATE VIEW rt_m.v_log AS SELECT * FROM %s', :'capture_log'));
-- anything else that records what it reads or uses (found by a second
-- attack pass): a function's SQL-standard body or argument type, a rule, a
-- default naming one, a check using its row type, a column of its row
-- type, inheritance
SELECT pg_temp.refused(format('CREATE FUNCTION rt_m.states() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(*) FROM %s; END', :'state'));
SELECT pg_temp.refused(format('CREATE FUNCTION rt_m.f(x %s) RETURNS int LANGUAGE sql AS $f$SELECT 1$f$', :'capture_log'));
CREATE TABLE rt_m.x (k int);
SELECT pg_temp.refused(format('CREATE RULE r AS ON INSERT TO rt_m.x DO ALSO SELECT * FROM %s', :'state'));
SELECT pg_temp.refused(format('ALTER TABLE rt_m.x ADD COLUMN r regclass DEFAULT %L::regclass', :'state'));
SELECT pg_temp.refused(format('ALTER TABLE rt_m.x ADD CHECK ((NULL::%s) IS NULL)', :'capture_log'));
SELECT pg_temp.refused(format('ALTER TABLE rt_m.x ADD COLUMN s %s', :'state'));
SELECT pg_temp.refused(format('CREATE TABLE rt_m.child () INHERITS (%s)', :'state'));
-- a cast, a trigger's WHEN clause, a statistics object's expression
SELECT pg_temp.refused(format('CREATE CAST (%s AS text) WITH INOUT', :'state'));
CREATE FUNCTION rt_m.tf() RETURNS trigger LANGUAGE plpgsql AS $f$BEGIN RETURN NEW; END$f$;
SELECT pg_temp.refused(format('CREATE TRIGGER tw BEFORE INSERT ON rt_m.x FOR EACH ROW WHEN ((NULL::%s) IS NULL) EXECUTE FUNCTION rt_m.tf()', :'capture_log'));
SELECT pg_temp.refused(format('CREATE STATISTICS rt_m.xs ON (k), ((NULL::%s) IS NULL) FROM rt_m.x', :'capture_log'));
DROP FUNCTION rt_m.tf();
-- the state table's owner may not grant it, move it out of pipeline's
-- schema, or alter it (a grant is dumped; a moved table hides from the
-- check above); nor may anything use its row type (a change table's
-- sequence of that type made a restore of pipeline.deleted_keys fail)
SELECT pg_temp.refused(format('GRANT SELECT ON %s TO PUBLIC', :'state'));
SELECT pg_temp.refused(format('ALTER TABLE %s SET SCHEMA rt_m', :'state'));
SELECT pg_temp.refused(format('ALTER TABLE %s ADD COLUMN extra int', :'state'));
SELECT pg_temp.refused(format('CREATE TABLE rt_m.changes (id int, s %s, op text)', :'state'));
SELECT pg_temp.refused(format('CREATE DOMAIN rt_m.seq AS %s[]', :'state'));
-- nor through what alters an object: a view replaced, a table made to inherit
CREATE VIEW rt_m.v_later AS SELECT 1 AS grp;
SELECT pg_temp.refused(format('CREATE OR REPLACE VIEW rt_m.v_later AS SELECT k1 AS grp FROM %s', :'state'));
SELECT pg_temp.refused(format('CREATE TABLE rt_m.y (LIKE %s); ALTER TABLE rt_m.y INHERIT %s', :'state', :'state'));
SELECT pg_get_viewdef('rt_m.v_later'::regclass) AS v_later_kept;
-- a temporary table of the view's name does not hide the view from the check
CREATE TEMP TABLE v_hidden (x int);
SET search_path = rt_m, rt_trap, public;
SELECT pg_temp.refused(format('CREATE VIEW v_hidden AS SELECT * FROM %s', :'state'));
SET search_path = rt_trap, public;
DROP TABLE pg_temp.v_hidden;
SELECT pg_temp.refused(format($$SELECT pipeline.create_matview('rt_m', 'st', 'SELECT * FROM %s', '1 hour')$$, :'state'));
-- nothing was left of them
SELECT count(*) AS made FROM pg_class WHERE relnamespace = 'rt_m'::regnamespace AND relname IN ('v_state', 'm_state', 'v_deep', 'v_log', 'v_hidden', 'child', 'y', 'mv_st');
SELECT count(*) AS managed FROM pipeline.matviews WHERE schema_name = 'rt_m' AND name = 'st';
SELECT count(*) AS x_columns FROM pg_attribute WHERE attrelid = 'rt_m.x'::regclass AND attnum > 0;
SELECT count(*) AS x_constraints FROM pg_constraint WHERE conrelid = 'rt_m.x'::regclass;
SELECT count(*) AS x_rules FROM pg_rewrite WHERE ev_class = 'rt_m.x'::regclass;
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'rt_m'::regnamespace;
\set VERBOSITY default
-- pipeline's own work inside a statement that makes objects is not refused:
-- a differential view defined, refreshed fully and then differentially, a
-- full view refreshed, all in DO blocks
DO $$ BEGIN
    PERFORM pipeline.create_matview('rt_m', 'agg2', 'SELECT grp, count(*) AS n FROM rt_m.ev GROUP BY grp',
                                    '1 hour', refresh_mode => 'differential');
    PERFORM pipeline.refresh('rt_m.mv_agg2');
    PERFORM pipeline.create_matview('rt_m', 'full2', 'SELECT grp, max(amt) AS m FROM rt_m.ev GROUP BY grp',
                                    '1 hour', refresh_mode => 'full');
END $$;
INSERT INTO rt_m.ev VALUES (100, 1, 1);
DO $$ BEGIN
    PERFORM pipeline.refresh('rt_m.mv_agg2');
    PERFORM pipeline.refresh('rt_m.mv_full2');
END $$;
SELECT * FROM rt_m.mv_agg2 ORDER BY grp;
-- pipeline's own views stay readable, and a view of the managed view is fine
CREATE VIEW rt_m.v_status AS SELECT matview, last_status FROM pipeline.status;
CREATE VIEW rt_m.v_agg AS SELECT * FROM rt_m.mv_agg;
SELECT * FROM rt_m.v_agg ORDER BY grp;
RESET search_path;
RESET ROLE;
-- nor may a superuser grant them all at once; what alters pipeline's own
-- tables (an owner change) is no reader of them
SELECT pg_temp.refused('GRANT SELECT ON ALL TABLES IN SCHEMA pipeline TO PUBLIC');
CREATE ROLE rt_bob;
BEGIN;
REASSIGN OWNED BY rt_mallory TO rt_bob;
SELECT relowner::regrole AS state_owner_after FROM pg_class WHERE oid = :'state'::regclass;
ROLLBACK;
DROP ROLE rt_bob;
DROP FUNCTION pg_temp.refused(text);
SELECT pipeline.drop_matview('rt_m.mv_agg', cascade => true);
SELECT pipeline.drop_matview('rt_m.mv_agg2');
SELECT pipeline.drop_matview('rt_m.mv_full2');
DROP SCHEMA rt_m, rt_trap CASCADE;
DROP ROLE rt_mallory;
