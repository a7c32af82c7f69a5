-- Hardening (h133 F3): a definition that reads another managed view takes
-- the graph-change lock (checked in turn before commit) at PREPARE
-- TRANSACTION too, so any role could prepare such a definition and hold
-- that lock until an admin ended the prepared transaction: every role's
-- definitions reading managed views then waited, holding their own views
-- in ACCESS EXCLUSIVE.  A definition also holds the tables its view reads
-- against writers (the tracking triggers' SHARE ROW EXCLUSIVE).  Now a
-- transaction that defined or changed managed views cannot be prepared,
-- as one that used temporary objects cannot: the PREPARE fails before any
-- lock is taken and the transaction is rolled back.  The role has a
-- hostile schema first in its search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE pd_owner LOGIN;
CREATE ROLE pd_other LOGIN;
CREATE SCHEMA pd AUTHORIZATION pd_owner;
CREATE SCHEMA pd_other AUTHORIZATION pd_other;
CREATE SCHEMA pd_trap;
GRANT USAGE, CREATE ON SCHEMA pd_trap TO PUBLIC;
RESET client_min_messages;

SET SESSION AUTHORIZATION pd_owner;
SET search_path = pd_trap, pg_catalog;
CREATE FUNCTION pd_trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE TABLE pd.src (id int);
INSERT INTO pd.src VALUES (1), (2);
SELECT pipeline.create_matview('pd', 'base', 'SELECT id FROM pd.src', '1 hour');
GRANT USAGE ON SCHEMA pd TO pd_other;
GRANT SELECT ON pd.mv_base TO pd_other;

-- a definition reading a managed view: refused at PREPARE, rolled back
BEGIN;
SELECT pipeline.create_matview('pd', 'reader', 'SELECT count(*) AS n FROM pd.mv_base', '1 hour');
PREPARE TRANSACTION 'pd_reader';
SELECT count(*) AS prepared FROM pg_catalog.pg_prepared_xacts WHERE gid = 'pd_reader';
SELECT count(*) AS defined FROM pipeline.matviews WHERE schema_name = 'pd' AND name = 'reader';
SELECT pg_catalog.to_regclass('pd.mv_reader') IS NULL AS no_relation;
-- a definition reading only a table: refused too (it holds the table
-- against writers)
BEGIN;
SELECT pipeline.create_matview('pd', 'plain', 'SELECT id FROM pd.src', '1 hour');
PREPARE TRANSACTION 'pd_plain';
SELECT count(*) AS defined FROM pipeline.matviews WHERE schema_name = 'pd' AND name = 'plain';
-- a redefinition likewise; the view keeps its definition
BEGIN;
SELECT pipeline.create_matview('pd', 'base', 'SELECT id, 1 AS one FROM pd.src', '1 hour');
PREPARE TRANSACTION 'pd_redefine';
SELECT query FROM pipeline.matviews WHERE schema_name = 'pd' AND name = 'base';
-- a transaction that defined nothing still prepares
BEGIN;
SELECT count(*) FROM pd.mv_base;
PREPARE TRANSACTION 'pd_nothing';
ROLLBACK PREPARED 'pd_nothing';
RESET SESSION AUTHORIZATION;

-- nothing holds the graph-change lock: another role defines a view that
-- reads a managed view at once
SELECT count(*) AS graph_locks FROM pg_catalog.pg_locks
 WHERE locktype = 'object' AND classid = 'pg_catalog.pg_extension'::pg_catalog.regclass;
SET SESSION AUTHORIZATION pd_other;
SET search_path = pd_trap, pg_catalog;
SET lock_timeout = '10s';
SELECT pipeline.create_matview('pd_other', 'reader', 'SELECT pg_catalog.count(*) AS n FROM pd.mv_base', '1 hour');
SELECT n FROM pd_other.mv_reader;
RESET lock_timeout;
RESET SESSION AUTHORIZATION;

SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name IN ('pd_other', 'pd')
 ORDER BY schema_name = 'pd';
DROP SCHEMA pd CASCADE;
DROP SCHEMA pd_other CASCADE;
DROP SCHEMA pd_trap CASCADE;
DROP ROLE pd_owner;
DROP ROLE pd_other;
