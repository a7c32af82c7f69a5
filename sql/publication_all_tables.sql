-- A publication of all tables (Debezium's default, a whole-database
-- subscriber) publishes pipeline's own tables and the tables of views
-- too, and PostgreSQL refuses updates and deletes of a published table
-- without a replica identity.  Before 1.26 that refused a differential
-- view's first fill, its refreshes, the pruning of change rows, the
-- marking of rejections, and every DROP TABLE in the database (the event
-- trigger forgetting a dropped table's deleted keys).  Now pipeline's
-- tables without a primary key, a differential view's table, its state and
-- the change logs have REPLICA IDENTITY FULL.  As a non-superuser with a
-- trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE pa_owner LOGIN;
CREATE SCHEMA pa AUTHORIZATION pa_owner;
CREATE SCHEMA pa_trap AUTHORIZATION pa_owner;
CREATE PUBLICATION pa_all FOR ALL TABLES;
RESET client_min_messages;

SET ROLE pa_owner;
CREATE FUNCTION pa_trap.sum(int) RETURNS bigint LANGUAGE sql AS 'SELECT -1::bigint';
SET search_path = pa_trap, public, pg_catalog;
CREATE TABLE pa.ev (id int PRIMARY KEY, u int, a int);
INSERT INTO pa.ev SELECT g, g % 10, g FROM generate_series(1, 100) g;
SELECT pipeline.create_matview('pa', 'agg', 'SELECT u, pg_catalog.sum(a) AS s, pg_catalog.count(*) AS c FROM pa.ev GROUP BY u',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('pa', 'bag', 'SELECT id, a FROM pa.ev WHERE u < 5', '1 hour',
                               refresh_mode => 'differential');
UPDATE pa.ev SET a = a + 1 WHERE id < 30;
DELETE FROM pa.ev WHERE id > 90;
SELECT status FROM pipeline.refresh('pa.mv_agg');
SELECT status FROM pipeline.refresh('pa.mv_bag');
SELECT count(*) AS agg_differs FROM (
  (SELECT * FROM pa.mv_agg EXCEPT ALL SELECT u, pg_catalog.sum(a), pg_catalog.count(*) FROM pa.ev GROUP BY u)
  UNION ALL
  (SELECT u, pg_catalog.sum(a), pg_catalog.count(*) FROM pa.ev GROUP BY u EXCEPT ALL SELECT * FROM pa.mv_agg)) d;
SELECT count(*) AS bag_differs FROM (
  (SELECT * FROM pa.mv_bag EXCEPT ALL SELECT id, a FROM pa.ev WHERE u < 5)
  UNION ALL
  (SELECT id, a FROM pa.ev WHERE u < 5 EXCEPT ALL SELECT * FROM pa.mv_bag)) d;
-- CDC apply with deletes (the deleted-key memory), ingest with a rejection
CREATE TABLE pa.target (id int PRIMARY KEY, v text, seq int);
CREATE TABLE pa.chg (id int, v text, seq int, op text);
INSERT INTO pa.chg VALUES (1, 'a', 1, 'I'), (2, 'b', 1, 'I'), (1, NULL, 2, 'D');
SELECT * FROM pipeline.apply_changes('pa.chg', 'pa.target', ARRAY['id'], 'seq');
CREATE TABLE pa.msgs (dedup_id text, v int CHECK (v >= 0));
SELECT * FROM pipeline.ingest('pa.msgs', '[{"dedup_id": "m1", "v": -1}, {"dedup_id": "m1", "v": 1}]');
SELECT dedup_id, accepted_at IS NOT NULL AS accepted FROM pipeline.rejected WHERE target = 'pa.msgs'::regclass;
-- dropping a table forgets its deleted keys
DROP TABLE pa.target;
SELECT count(*) AS keys_left FROM pipeline.deleted_keys WHERE target::oid NOT IN (SELECT oid FROM pg_class);
-- a view's table without an identity (as one made before 1.26 and
-- restored from a dump, whose CREATE EXTENSION skips the update that gives
-- it) gets it at its next full refresh, whose deletes would be refused
ALTER TABLE pa.mv_bag REPLICA IDENTITY DEFAULT;
TRUNCATE pa.ev;
INSERT INTO pa.ev SELECT g, g % 10, g FROM generate_series(1, 50) g;
SELECT status FROM pipeline.refresh('pa.mv_bag');
SELECT count(*) AS bag_differs FROM (
  (SELECT * FROM pa.mv_bag EXCEPT ALL SELECT id, a FROM pa.ev WHERE u < 5)
  UNION ALL
  (SELECT id, a FROM pa.ev WHERE u < 5 EXCEPT ALL SELECT * FROM pa.mv_bag)) d;
RESET search_path;
RESET ROLE;
-- what pipeline made has an identity
SELECT c.relname LIKE 'state\_%' AS state, c.relname LIKE 'capture\_log\_%' AS capture_log,
       c.relname, c.relreplident
  FROM pg_class c
 WHERE c.relkind = 'r' AND c.relreplident NOT IN ('f', 'i')
   AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
   AND (c.relnamespace = 'pipeline'::regnamespace OR c.oid IN ('pa.mv_agg'::regclass, 'pa.mv_bag'::regclass));

-- clean up
SET client_min_messages = warning;
DROP PUBLICATION pa_all;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'pa';
DROP SCHEMA pa CASCADE;
DROP SCHEMA pa_trap CASCADE;
DROP ROLE pa_owner;

-- an update from 1.24 under such a publication reaches the current
-- version (its drop of deleted_keys' primary key fired pipeline's sql_drop
-- trigger, whose deletes then failed)
CREATE DATABASE pipeline_pub_upgrade;
\c pipeline_pub_upgrade
SET client_min_messages = warning;
CREATE EXTENSION pipeline VERSION '1.24';
CREATE PUBLICATION pa_all FOR ALL TABLES;
ALTER EXTENSION pipeline UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'pipeline') AS current
  FROM pg_extension WHERE extname = 'pipeline';
\c contrib_regression
DROP DATABASE pipeline_pub_upgrade;
