-- Skip-unchanged must not skip a view whose sources changed where it did
-- not look: a plain view replaced to read another table (its edges named
-- the old one for good), or a sequence the view reads (no edge was kept,
-- and nextval() records no change).  As a non-superuser with a trap schema
-- first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE su_owner LOGIN;
CREATE SCHEMA su AUTHORIZATION su_owner;
CREATE SCHEMA su_trap AUTHORIZATION su_owner;
RESET client_min_messages;
SET ROLE su_owner;
CREATE FUNCTION su_trap.sum(int) RETURNS bigint LANGUAGE sql AS 'SELECT 666::bigint';
SET search_path = su_trap, public, pg_catalog;
CREATE TABLE su.t (g int, v int);
INSERT INTO su.t VALUES (1, 1);
CREATE VIEW su.pv AS SELECT g, v FROM su.t;
SELECT pipeline.create_matview('su', 'd', 'SELECT g, pg_catalog.sum(v) AS s FROM su.pv GROUP BY g', '1 hour');
SELECT pipeline.create_matview('su', 'f', 'SELECT g, pg_catalog.sum(v) AS s FROM su.pv GROUP BY g', '1 hour',
                               refresh_mode => 'full');
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '1 hour') ORDER BY 1;
CREATE TABLE su.t2 (g int, v int);
INSERT INTO su.t2 VALUES (7, 7);
CREATE OR REPLACE VIEW su.pv AS SELECT g, v FROM su.t2;
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '2 hours') ORDER BY 1;
-- the edges follow the view: su.t2 now, not su.t
SELECT downstream, upstream FROM pipeline.edges
 WHERE downstream IN ('su.mv_d'::regclass, 'su.mv_f'::regclass) ORDER BY 1, 2;
INSERT INTO su.t2 VALUES (8, 8);
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '3 hours') ORDER BY 1;
SELECT 'd' AS v, g, s FROM su.mv_d UNION ALL SELECT 'f', g, s FROM su.mv_f ORDER BY 1, 2;

-- a sequence read by a view: never judged unchanged
CREATE SEQUENCE su.counter;
SELECT pg_catalog.nextval('su.counter');
SELECT pipeline.create_matview('su', 'seq', 'SELECT last_value FROM su.counter', '1 hour');
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '4 hours') ORDER BY 1;
SELECT pg_catalog.nextval('su.counter');
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '5 hours') ORDER BY 1;
SELECT last_value FROM su.mv_seq;
-- a plain view replaced to read a view downstream of its reader is
-- refused: the graph keeps no cycle (it would stop every view's runs in
-- the database)
CREATE OR REPLACE VIEW su.pv AS SELECT g, s::int AS v FROM su.mv_f;
SELECT pg_catalog.pg_get_viewdef('su.pv'::regclass) LIKE '%su.t2%' AS pv_unchanged;
SELECT count(*) > 0 AS refresh_order_works FROM pipeline.refresh_order();
SELECT matview, status FROM pipeline.run_due(pg_catalog.now() + interval '6 hours') ORDER BY 1;

RESET search_path;
RESET ROLE;

-- clean up
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'su';
DROP SCHEMA su CASCADE;
DROP SCHEMA su_trap CASCADE;
DROP ROLE su_owner;
