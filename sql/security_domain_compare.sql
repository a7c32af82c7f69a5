-- Hardening (attack pass, 2026-12-03): where pipeline casts a value only to
-- compare it, it casts to the base type, so no domain's CHECK (code of the
-- domain's owner) runs as someone else.  Two casts kept the domain:
--
-- 1. A stream view's audit (@expect on the batch) compared the key with the
--    batch's mark cast to the key's type: with a key of the attacker's
--    domain, its CHECK ran as the view's owner at every audited run.
-- 2. A lake publication published by changes matched the changed
--    partitions' values cast to the partition column's type: with a
--    partition column of the attacker's domain, its CHECK ran as the
--    publication's owner, a role that may write server files.
-- 3. (attack pass, 2026-12-06) Only a domain on top was cast away: a
--    stream key of an array of the attacker's domain had its mark cast to
--    offset_t[], whose CHECK then ran for each element as the view's
--    owner.  Such a key now compares as an array of the base type; a range
--    (or composite) over a domain, which has no such form, is refused.
-- 4. (attack pass, 2026-12-06 evening) ALTER TYPE ... ADD ATTRIBUTE of a
--    row type the victim's stream key holds reads the stream's mark before
--    the statement, as a value, to write it again after: the attacker
--    added an attribute of a domain to the type, then altered it again,
--    and the mark's input ran the domain's CHECK as the view's owner.  A
--    key holding a domain is now left as it is, as its runs refuse it.
--
-- Also checked: a differential view's keys, sums, counts and kept extremes
-- over the attacker's domain, with deletes.  The victim runs everything
-- with the attacker's schema first in its search_path; the spy records
-- who runs the domain's CHECK: only ever the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE dc_attacker LOGIN;
CREATE ROLE dc_victim LOGIN IN ROLE pg_write_server_files;
CREATE SCHEMA dc_attacker AUTHORIZATION dc_attacker;
CREATE SCHEMA dc_victim AUTHORIZATION dc_victim;
GRANT USAGE ON SCHEMA dc_attacker TO PUBLIC;
CREATE TABLE public.dc_log (who name, what text);
GRANT SELECT, INSERT ON public.dc_log TO PUBLIC;
SELECT current_setting('data_directory') || '/security_domain_compare' AS lake \gset

SET SESSION AUTHORIZATION dc_attacker;
SET search_path = dc_attacker, pg_catalog;
CREATE FUNCTION dc_attacker.spy(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.dc_log VALUES (current_user, what);
    RETURN true;
END $f$;
CREATE DOMAIN dc_attacker.offset_t AS bigint CHECK (dc_attacker.spy('stream key'));
CREATE DOMAIN dc_attacker.day_t AS text CHECK (dc_attacker.spy('partition'));
CREATE DOMAIN dc_attacker.amount AS int CHECK (dc_attacker.spy('aggregated'));
CREATE TABLE dc_attacker.events (off dc_attacker.offset_t, v int);
INSERT INTO dc_attacker.events VALUES (1, 1), (2, 2);
CREATE TABLE dc_attacker.sales (day dc_attacker.day_t, v int);
INSERT INTO dc_attacker.sales VALUES ('mon', 1), ('tue', 2);
CREATE TABLE dc_attacker.orders (g dc_attacker.amount, x dc_attacker.amount);
INSERT INTO dc_attacker.orders VALUES (1, 10), (1, 20), (2, 30);
CREATE TYPE dc_attacker.off_range AS RANGE (subtype = dc_attacker.offset_t);
CREATE TABLE dc_attacker.batches (offs dc_attacker.offset_t[], span dc_attacker.off_range, v int);
INSERT INTO dc_attacker.batches VALUES (ARRAY[1, 2]::dc_attacker.offset_t[], '[1,2)', 1);
CREATE TYPE dc_attacker.pair AS (n int);
CREATE TABLE dc_attacker.pairs (p dc_attacker.pair, v int);
INSERT INTO dc_attacker.pairs VALUES (ROW(1), 1), (ROW(2), 2);
GRANT SELECT ON dc_attacker.events, dc_attacker.sales, dc_attacker.orders, dc_attacker.batches,
       dc_attacker.pairs TO PUBLIC;
RESET SESSION AUTHORIZATION;
TRUNCATE public.dc_log;

SET SESSION AUTHORIZATION dc_victim;
SET search_path = dc_attacker, public, pg_catalog;
-- 1: an audited stream view keyed by the attacker's domain
SELECT pipeline.create_matview('dc_victim', 'stream', 'SELECT off, v FROM dc_attacker.events',
       '1 hour', 'incremental', 'off', options => '{"expect": ["positive: v > 0"]}');
-- 2: a publication partitioned by the attacker's domain
SELECT pipeline.create_matview('dc_victim', 'lake', 'SELECT day, v FROM dc_attacker.sales',
       '1 hour', 'unload',
       options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day'));
-- 3: a differential view grouping and aggregating the attacker's domain
SELECT pipeline.create_matview('dc_victim', 'totals',
       'SELECT g, count(x) AS n, sum(x) AS s, min(x) AS lo, max(x) AS hi FROM dc_attacker.orders GROUP BY g',
       '1 hour');
SELECT refresh_mode FROM pipeline.matview_definitions WHERE name = 'totals';
-- 4: a stream view keyed by an array of the attacker's domain, audited
SELECT pipeline.create_matview('dc_victim', 'batches', 'SELECT offs, v FROM dc_attacker.batches',
       '1 hour', 'incremental', 'offs', options => '{"expect": ["positive: v > 0"]}');
-- 5: keyed by a range over it: refused
SELECT pipeline.create_matview('dc_victim', 'spans', 'SELECT span, v FROM dc_attacker.batches',
       '1 hour', 'incremental', 'span');
-- 6: keyed by the attacker's row type
SELECT pipeline.create_matview('dc_victim', 'pairs', 'SELECT p, v FROM dc_attacker.pairs',
       '1 hour', 'incremental', 'p');

RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dc_attacker;
INSERT INTO dc_attacker.events VALUES (3, 3);
INSERT INTO dc_attacker.sales VALUES ('mon', 3);
DELETE FROM dc_attacker.orders WHERE x = 20;
INSERT INTO dc_attacker.orders VALUES (2, 40);
INSERT INTO dc_attacker.batches VALUES (ARRAY[2, 1]::dc_attacker.offset_t[], '[2,3)', 2),
       (ARRAY[1]::dc_attacker.offset_t[], '[3,4)', 3);
-- the mark follows the first (the type holds no domain yet), not the second
ALTER TYPE dc_attacker.pair ADD ATTRIBUTE d dc_attacker.offset_t;
ALTER TYPE dc_attacker.pair ADD ATTRIBUTE e int;
RESET SESSION AUTHORIZATION;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'dc_victim.mv_pairs'::regclass;

SET SESSION AUTHORIZATION dc_victim;
SET search_path = dc_attacker, public, pg_catalog;
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_stream');
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_lake');
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_totals');
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_batches');
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_batches');
SELECT offs::text, v FROM dc_victim.mv_batches ORDER BY v;
SELECT partition, rows FROM dc_victim.mv_lake ORDER BY 1;
SELECT * FROM dc_victim.mv_totals ORDER BY g;
-- an append alone (gains only) over the kept extremes
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dc_attacker;
INSERT INTO dc_attacker.orders VALUES (1, 5), (3, 50);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION dc_victim;
SET search_path = dc_attacker, public, pg_catalog;
SELECT matview, status, rows FROM pipeline.refresh('dc_victim.mv_totals');
SELECT * FROM dc_victim.mv_totals ORDER BY g;

-- the verdict: the domains' code ran as nobody but the attacker
RESET SESSION AUTHORIZATION;
SELECT who, what, count(*) FROM public.dc_log GROUP BY 1, 2 ORDER BY 1, 2;

SET client_min_messages = warning;
SELECT pipeline.drop_matview('dc_victim.mv_stream');
SELECT pipeline.drop_matview('dc_victim.mv_lake');
SELECT pipeline.drop_matview('dc_victim.mv_totals');
SELECT pipeline.drop_matview('dc_victim.mv_batches');
SELECT pipeline.drop_matview('dc_victim.mv_pairs');
DROP SCHEMA dc_victim CASCADE;
DROP SCHEMA dc_attacker CASCADE;
DROP TABLE public.dc_log;
DROP ROLE dc_victim;
DROP ROLE dc_attacker;
