-- Hardening (h125 F1): a rename reads the managed views whose stored query
-- spells the old name as a word, to rewrite them; it locked each (a
-- materialized view) or analyzed it, locking what it reads (a view kept in
-- a table), and held those locks to the end of its transaction.  So any
-- role, with no right at all, could rename an object of its own named like
-- another role's schema (a temporary table "rl"), or with a quote in its
-- name (then every view is read), and hold every such view and its
-- sources in ACCESS SHARE for as long as it kept its transaction open: a
-- full refresh's swap, a redefinition and DDL on the sources then waited
-- for it, and readers behind them.  Now what was locked for a view the
-- statement did not change is let go when the statement ends; a view it
-- does change is still held, as its rewritten row is.  A temporary table
-- named "text" made every view with a text literal look changed (its
-- deparse spelled pg_catalog.text in that session only, h127): no more.
-- The attacker has a hostile schema first in its search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE rl_owner LOGIN;
CREATE ROLE rl_nobody LOGIN;
CREATE SCHEMA rl AUTHORIZATION rl_owner;
CREATE SCHEMA rl_trap;
GRANT USAGE, CREATE ON SCHEMA rl_trap TO PUBLIC;
CREATE SCHEMA rl_lent;
CREATE TABLE rl_lent.t (id int, amount int);
INSERT INTO rl_lent.t VALUES (1, 1);
GRANT USAGE ON SCHEMA rl_lent TO rl_owner;
GRANT SELECT ON rl_lent.t TO rl_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO rl_owner', current_database()); END $$;
RESET client_min_messages;

SET SESSION AUTHORIZATION rl_owner;
SET search_path = rl_trap, pg_catalog;
CREATE TABLE rl.base (id int, amount int);
CREATE TABLE rl.src (id int, amount int);
INSERT INTO rl.base VALUES (1, 10), (2, 20);
INSERT INTO rl.src VALUES (1, 10), (2, 20);
SELECT pipeline.create_matview('rl', 'full', 'SELECT id, amount, ''open''::text AS state FROM rl.base', '1 hour',
                               refresh_mode => 'full');
SELECT pipeline.create_matview('rl', 'diff', 'SELECT id, sum(amount) AS total FROM rl.src GROUP BY id',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.define($dpl$
/*
 * @matview-schema rl
 * @matview-name checked
 * @interval-in-minutes 60
 * @expect positive: amount > 0
 */
SELECT id, amount FROM rl.base
$dpl$);
SELECT pipeline.define($dpl$
/*
 * @matview-schema rl
 * @matview-name lent
 * @interval-in-minutes 60
 * @refresh-mode differential
 * @expect positive: amount > 0
 */
SELECT id, sum(amount) AS amount FROM rl_lent.t GROUP BY id
$dpl$);
SELECT name, refresh_mode FROM pipeline.matviews WHERE schema_name = 'rl' ORDER BY name;
RESET SESSION AUTHORIZATION;
-- its owner may no longer use the schema it reads: a rename cannot
-- analyze it (and says so), and must not hold what its expectations'
-- analysis locked either
REVOKE USAGE ON SCHEMA rl_lent FROM rl_owner;

-- what a session holds in schema rl
CREATE FUNCTION public.rl_held() RETURNS TABLE (relation text, mode text)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text, l.mode
      FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
     WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
       AND c.relnamespace = 'rl'::regnamespace
     ORDER BY 1, 2
$$;

-- a role with no right in schema rl renames a temporary table named like it
SET SESSION AUTHORIZATION rl_nobody;
SET search_path = rl_trap, pg_catalog;
BEGIN;
CREATE TEMP TABLE text (x int);
CREATE TEMP TABLE rl (x int);
ALTER TABLE rl RENAME TO rl2;
SELECT * FROM public.rl_held();
CREATE TEMP TABLE rl_lent (x int);
ALTER TABLE rl_lent RENAME TO rl_lent2;
SELECT * FROM public.rl_held();
-- and a function with a quote in its name: every view is read
CREATE FUNCTION rl_trap."f'q"() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION rl_trap."f'q"() RENAME TO "f'q2";
SELECT * FROM public.rl_held();
COMMIT;
DROP FUNCTION rl_trap."f'q2"();
DROP TABLE pg_temp.rl2, pg_temp.rl_lent2, pg_temp.text;
RESET SESSION AUTHORIZATION;
SELECT m.name, pg_catalog.strpos(d.bound_query, 'pg_catalog.text') > 0 AS spelled_otherwise
  FROM pipeline.matviews m JOIN pipeline.matview_definitions d ON d.matview = m.matview
 WHERE m.schema_name = 'rl' ORDER BY m.name;

-- the views' owner renames a column they read: the views it rewrites stay
-- held to its commit, as their rows do, and follow the new name
SET SESSION AUTHORIZATION rl_owner;
SET search_path = rl_trap, pg_catalog;
BEGIN;
ALTER TABLE rl.src RENAME COLUMN amount TO amt;
SELECT * FROM public.rl_held() WHERE relation IN ('src', 'mv_diff');
COMMIT;
SELECT pg_catalog.strpos(bound_query, 'amt') > 0 AS follows
  FROM pipeline.matview_definitions WHERE matview = 'rl.mv_diff'::regclass;
INSERT INTO rl.src VALUES (1, 5);
SELECT status FROM pipeline.refresh('rl.mv_diff');
SELECT * FROM rl.mv_diff ORDER BY id;
RESET SESSION AUTHORIZATION;

SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'rl';
DROP FUNCTION public.rl_held();
DROP SCHEMA rl CASCADE;
DROP SCHEMA rl_trap CASCADE;
DROP SCHEMA rl_lent CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM rl_owner', current_database()); END $$;
DROP ROLE rl_owner;
DROP ROLE rl_nobody;
