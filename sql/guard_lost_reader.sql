-- A table's owner and another role's differential view over it: while the
-- reader may read the table, dropping or retyping a column whose changes
-- its view consumes is refused; once the owner takes the reader's rights
-- away, the view holds no column (its query no longer analyzes as its
-- owner) and the owner's DDL goes through.  The view stops consuming the
-- table's changes, and when the reader may read it again its next refresh
-- starts over in full and equals its query.  The owner runs with a trap
-- schema of its own first in its path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE ROLE glr_owner;
CREATE ROLE glr_reader;
CREATE SCHEMA glr AUTHORIZATION glr_owner;
CREATE SCHEMA glr_r AUTHORIZATION glr_reader;
CREATE SCHEMA glr_trap AUTHORIZATION glr_owner;

SET ROLE glr_owner;
CREATE FUNCTION glr_trap.trap_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'glr_owner' THEN RAISE EXCEPTION 'trap ran as %', current_user; END IF;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR glr_trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = glr_trap.trap_eq);
CREATE TABLE glr.t (id int PRIMARY KEY, a int, c int);
INSERT INTO glr.t SELECT g, g, g * 10 FROM generate_series(1, 5) g;
GRANT USAGE ON SCHEMA glr TO glr_reader;
GRANT SELECT ON glr.t TO glr_reader;
RESET ROLE;

SET ROLE glr_reader;
SELECT pipeline.create_matview('glr_r', 'sums', 'SELECT a % 2 AS odd, sum(c) AS c FROM glr.t GROUP BY 1',
                               '1 hour', refresh_mode => 'differential');
SELECT status FROM pipeline.refresh('glr_r.mv_sums');
RESET ROLE;

SET ROLE glr_owner;
SET search_path = glr_trap, pg_catalog, public;
-- the reader may read it: refused
ALTER TABLE glr.t ALTER COLUMN c TYPE bigint;
ALTER TABLE glr.t DROP COLUMN a;
-- its rights taken away: the owner's DDL goes through
REVOKE SELECT ON glr.t FROM glr_reader;
ALTER TABLE glr.t ALTER COLUMN c TYPE bigint;
INSERT INTO glr.t VALUES (6, 6, 60);
UPDATE glr.t SET c = c + 1 WHERE id = 1;
RESET search_path;
RESET ROLE;
-- the view consumes the table's changes no more
SELECT count(*) AS consumers FROM pipeline.capture_consumers
 WHERE matview = 'glr_r.mv_sums'::regclass;

SET ROLE glr_reader;
SELECT status FROM pipeline.refresh('glr_r.mv_sums');
RESET ROLE;
SET ROLE glr_owner;
GRANT SELECT ON glr.t TO glr_reader;
INSERT INTO glr.t VALUES (7, 7, 70);
RESET ROLE;
-- readable again: in full, then differential, each equal to its query
SET ROLE glr_reader;
SELECT status FROM pipeline.refresh('glr_r.mv_sums');
SELECT * FROM glr_r.mv_sums ORDER BY odd;
RESET ROLE;
SET ROLE glr_owner;
DELETE FROM glr.t WHERE id = 2;
RESET ROLE;
SET ROLE glr_reader;
SELECT status FROM pipeline.refresh('glr_r.mv_sums');
SELECT count(*) AS wrong FROM (
  (SELECT * FROM glr_r.mv_sums EXCEPT ALL SELECT a % 2, sum(c) FROM glr.t GROUP BY 1)
  UNION ALL
  (SELECT a % 2, sum(c) FROM glr.t GROUP BY 1 EXCEPT ALL SELECT * FROM glr_r.mv_sums)) d;
RESET ROLE;

-- dropping a column: the same
SET ROLE glr_owner;
SET search_path = glr_trap, pg_catalog, public;
ALTER TABLE glr.t DROP COLUMN a;
REVOKE SELECT ON glr.t FROM glr_reader;
ALTER TABLE glr.t DROP COLUMN a;
GRANT SELECT ON glr.t TO glr_reader;
RESET search_path;
RESET ROLE;
SET ROLE glr_reader;
\set VERBOSITY terse
SELECT status FROM pipeline.refresh('glr_r.mv_sums');
\set VERBOSITY default
SELECT pipeline.drop_matview('glr_r.mv_sums');
RESET ROLE;

-- the DDL changes the data with no write (a retype's USING): the view is
-- not skipped at its next label, and equals its query
SET ROLE glr_reader;
SELECT pipeline.create_matview('glr_r', 'totals', 'SELECT id % 2 AS odd, sum(c) AS c FROM glr.t GROUP BY 1',
                               '1 hour', refresh_mode => 'differential');
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2040-01-01 00:00+00') WHERE matview::text LIKE 'glr_r.%';
SET ROLE glr_owner;
REVOKE SELECT ON glr.t FROM glr_reader;
ALTER TABLE glr.t ALTER COLUMN c TYPE numeric USING c * 100;
GRANT SELECT ON glr.t TO glr_reader;
RESET ROLE;
SELECT matview, status FROM pipeline.run_due('2040-01-01 01:00+00') WHERE matview::text LIKE 'glr_r.%';
SELECT count(*) AS wrong FROM (
  (SELECT * FROM glr_r.mv_totals EXCEPT ALL SELECT id % 2, sum(c) FROM glr.t GROUP BY 1)
  UNION ALL
  (SELECT id % 2, sum(c) FROM glr.t GROUP BY 1 EXCEPT ALL SELECT * FROM glr_r.mv_totals)) d;
SET ROLE glr_reader;
SELECT pipeline.drop_matview('glr_r.mv_totals');
RESET ROLE;

-- a stream view the same: its table's dependency on the column goes too
SET ROLE glr_reader;
SELECT pipeline.define($d$/**
 * @matview-schema glr_r
 * @matview-name appended
 * @matview-type incremental
 * @incremental-key id
 * @interval-in-minutes 60
 */
SELECT id, c FROM glr.t$d$);
RESET ROLE;
SET ROLE glr_owner;
SET search_path = glr_trap, pg_catalog, public;
ALTER TABLE glr.t DROP COLUMN c;
REVOKE SELECT ON glr.t FROM glr_reader;
ALTER TABLE glr.t DROP COLUMN c;
RESET search_path;
RESET ROLE;
SET ROLE glr_reader;
SELECT pipeline.drop_matview('glr_r.mv_appended');
RESET ROLE;

DROP SCHEMA glr CASCADE;
DROP SCHEMA glr_r CASCADE;
DROP SCHEMA glr_trap CASCADE;
DROP ROLE glr_owner;
DROP ROLE glr_reader;
