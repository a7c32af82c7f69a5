-- A lake publication's table lists its partitions, not its query's rows.
-- A role granted SELECT on it must not read those rows through the
-- publication's audit examples, run errors, status or partition digests
-- (found by an attack pass: a digest is an unsalted sum of row hashes, so a
-- reader could confirm guesses of a small partition's rows).  Only its
-- owner sees them.  As non-superusers with a trap schema first in
-- search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE pr_pub LOGIN IN ROLE pg_write_server_files;
CREATE ROLE pr_reader LOGIN;
CREATE ROLE pr_trusted LOGIN;
CREATE SCHEMA pr AUTHORIZATION pr_pub;
CREATE SCHEMA pr_trap AUTHORIZATION pr_reader;
GRANT USAGE ON SCHEMA pr TO pr_reader, pr_trusted;
RESET client_min_messages;
SELECT '/tmp/pipeline_readers_lake_' || md5(random()::text) AS lake \gset
SET ROLE pr_pub;
CREATE TABLE pr.customers (id int, ssn text, y int);
INSERT INTO pr.customers VALUES (1, 'XXX-XX-6789', 2020);
SELECT pipeline.create_matview('pr', 'lake', 'SELECT id, ssn, y FROM pr.customers', '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'y',
                                     'expect', 'masked: ssn LIKE ''XXX%'''));
GRANT SELECT ON pr.mv_lake TO pr_reader, pr_trusted;
GRANT SELECT ON pr.customers TO pr_trusted;
INSERT INTO pr.customers VALUES (2, '987-65-4321', 2021);
SELECT status FROM pipeline.run_due('2030-01-01 01:00+00');
RESET ROLE;

-- the reader of the partition list alone
SET ROLE pr_reader;
CREATE FUNCTION pr_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR pr_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pr_trap.texteq);
SET search_path = pr_trap, public, pg_catalog;
SELECT partition, rows FROM pr.mv_lake ORDER BY 1;
SELECT count(*) AS audits_seen FROM pipeline.audits WHERE matview::text OPERATOR(pg_catalog.=) 'pr.mv_lake';
SELECT count(*) AS runs_seen FROM pipeline.runs WHERE matview::text OPERATOR(pg_catalog.=) 'pr.mv_lake';
SELECT last_status, last_error FROM pipeline.status WHERE matview::text OPERATOR(pg_catalog.=) 'pr.mv_lake';
SELECT count(*) AS digests_seen FROM pipeline.publication_state;
SELECT pipeline.can_see('pr.mv_lake') AS can_see;
RESET search_path;
RESET ROLE;

-- nor does a reader who may read the query's source too (what a query
-- reads through functions is not known as a reader's right)
SET ROLE pr_trusted;
SELECT count(*) AS audits_seen FROM pipeline.audits WHERE matview = 'pr.mv_lake'::regclass;
SELECT count(*) AS digests_seen FROM pipeline.publication_state;
SELECT pipeline.can_see('pr.mv_lake') AS can_see;
RESET ROLE;

-- the owner sees them
SET ROLE pr_pub;
SELECT count(*) AS audits_seen FROM pipeline.audits WHERE matview = 'pr.mv_lake'::regclass;
SELECT count(*) AS digests_seen FROM pipeline.publication_state;
SELECT pipeline.drop_matview('pr.mv_lake');
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA pr, pr_trap CASCADE;
DROP ROLE pr_pub;
DROP ROLE pr_reader;
DROP ROLE pr_trusted;
