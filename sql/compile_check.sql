-- The compile step: check(), redefinition with downstream rebuild, cycles.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET datestyle = 'ISO, YMD';

CREATE SCHEMA billingdb;
CREATE SCHEMA analytics;
CREATE TABLE billingdb.orders (user_id int, amount text, region varchar(10));
CREATE TABLE billingdb.invoices (user_id int, status text);
INSERT INTO billingdb.orders VALUES (1, '$10', 'eu'), (1, '$5', 'eu'), (2, '$7', 'us'), (3, '$1', 'us');
INSERT INTO billingdb.invoices VALUES (1, 'Paid'), (2, 'Paid'), (3, 'Pending');

-- a three-level DAG: lifetime_value -> customer_health -> health_report,
-- plus a second branch lifetime_value -> big_spenders
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 120
 */
SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value
  FROM billingdb.orders o, billingdb.invoices i
 WHERE o.user_id = i.user_id AND i.status != 'Pending'
 GROUP BY o.user_id
$$);
SELECT pipeline.create_matview('analytics', 'customer_health', $$
  SELECT l.user_id, l.lifetime_value, l.lifetime_value > 10 AS healthy
    FROM billingdb.mv_lifetime_value l
$$, '1 hour');
SELECT pipeline.create_matview('analytics', 'health_report', $$
  SELECT h.healthy, count(*) AS customers FROM analytics.mv_customer_health h GROUP BY h.healthy
$$, '1 hour');
SELECT pipeline.create_matview('analytics', 'big_spenders', $$
  SELECT user_id FROM billingdb.mv_lifetime_value WHERE lifetime_value >= 7
$$, '1 hour');

-- downstream decorations that a rebuild must keep
CREATE ROLE compile_reader;
CREATE ROLE compile_owner;
GRANT USAGE, CREATE ON SCHEMA analytics TO compile_owner;
GRANT USAGE ON SCHEMA billingdb TO compile_owner;
GRANT SELECT ON billingdb.mv_lifetime_value TO compile_owner;
ALTER TABLE analytics.mv_big_spenders OWNER TO compile_owner;
CREATE UNIQUE INDEX customer_health_user ON analytics.mv_customer_health (user_id);
CREATE INDEX health_report_healthy ON analytics.mv_health_report (healthy) WHERE customers > 0;
GRANT USAGE ON SCHEMA analytics TO compile_reader;
GRANT SELECT ON analytics.mv_customer_health TO compile_reader;
GRANT SELECT ON analytics.mv_big_spenders TO compile_reader WITH GRANT OPTION;
COMMENT ON TABLE analytics.mv_customer_health IS 'one row per customer';
COMMENT ON COLUMN analytics.mv_customer_health.healthy IS 'spent more than 10';

-- everything a refused change must leave as it was
CREATE TEMP TABLE snapshot_of AS SELECT 1 AS x WITH NO DATA;
CREATE FUNCTION pg_temp.state() RETURNS TABLE (what text, val text) LANGUAGE sql AS $$
  SELECT 'catalog ' || m.matview::text,
         concat_ws(' | ', m.query, m.columns, m.owner, m.version, m.updated_at = m.created_at)
    FROM pipeline.matviews m
  UNION ALL
  SELECT 'viewdef ' || c.oid::regclass::text, pg_get_viewdef(c.oid)
    FROM pg_class c WHERE c.relnamespace IN ('billingdb'::regnamespace, 'analytics'::regnamespace) AND c.relkind IN ('m', 'r') AND c.relname LIKE 'mv\_%'
  UNION ALL
  SELECT 'edge', e.upstream::text || ' -> ' || e.downstream::text FROM pipeline.edges e
  UNION ALL
  SELECT 'data lifetime_value', string_agg(format('%s:%s', user_id, lifetime_value), ' ' ORDER BY user_id)
    FROM billingdb.mv_lifetime_value
  UNION ALL
  SELECT 'data customer_health', string_agg(format('%s:%s:%s', user_id, lifetime_value, healthy), ' ' ORDER BY user_id)
    FROM analytics.mv_customer_health
  UNION ALL
  SELECT 'data health_report', string_agg(format('%s:%s', healthy, customers), ' ' ORDER BY healthy)
    FROM analytics.mv_health_report
  UNION ALL
  SELECT 'data big_spenders', string_agg(user_id::text, ' ' ORDER BY user_id)
    FROM analytics.mv_big_spenders
  ORDER BY 1, 2
$$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.state();
SELECT count(*) AS facts FROM before;

-- check(): a renamed output column breaks the readers that use it, and what
-- reads a broken view is reported too; a view not using it is fine
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS ltv
    FROM billingdb.orders o GROUP BY o.user_id
$$);
-- the same through DPL
SELECT * FROM pipeline.check($$
/**
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 120
 */
SELECT o.user_id AS uid, sum(substring(amount, 2)::numeric) AS lifetime_value
  FROM billingdb.orders o GROUP BY o.user_id
$$);
-- it builds the views in a subtransaction it rolls back: a read-only
-- transaction is refused as such (it reported every view broken)
BEGIN TRANSACTION READ ONLY;
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value
    FROM billingdb.orders o GROUP BY o.user_id
$$);
ROLLBACK;
-- a type change is a break only where a reader's own output type changes
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric)::float8 AS lifetime_value
    FROM billingdb.orders o GROUP BY o.user_id
$$);
-- the changed view's own query does not analyze
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', 'SELECT nope FROM billingdb.orders');
-- a removed column nobody reads, an added column: fine
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value, count(*) AS orders
    FROM billingdb.orders o GROUP BY o.user_id
$$);
-- check() of a view that does not exist yet
SELECT * FROM pipeline.check($$
/**
 * @matview-schema analytics
 * @matview-name brand_new
 * @interval-in-minutes 5
 */
SELECT count(*) AS n FROM analytics.mv_big_spenders
$$);
-- check changed nothing
SELECT what, val FROM pg_temp.state() EXCEPT SELECT what, val FROM before;
SELECT what, val FROM before EXCEPT SELECT what, val FROM pg_temp.state();

-- a breaking redefinition is refused, naming every broken view and why
SELECT pipeline.create_matview('billingdb', 'lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS ltv
    FROM billingdb.orders o GROUP BY o.user_id
$$, '2 hours');
-- its own errors are the analyzer's
SELECT pipeline.create_matview('billingdb', 'lifetime_value', 'SELECT nope FROM billingdb.orders', '2 hours');
-- and it changed nothing: catalog, definitions, edges, data
SELECT what, val FROM pg_temp.state() EXCEPT SELECT what, val FROM before;
SELECT what, val FROM before EXCEPT SELECT what, val FROM pg_temp.state();

-- a compatible redefinition: a new column, and amounts now counted from
-- every order (no invoice filter); downstream rebuilt and populated
INSERT INTO billingdb.orders VALUES (2, '$9', 'us');
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.1
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 60
 */
SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value, count(*) AS orders
  FROM billingdb.orders o
 GROUP BY o.user_id
$$) AS redefined;
SELECT name, refresh_interval, columns, owner, version, updated_at > created_at AS updated
  FROM pipeline.matviews ORDER BY name;
SELECT upstream, downstream FROM pipeline.edges ORDER BY downstream::text, upstream::text;
-- populated, with the new data all the way down
SELECT * FROM billingdb.mv_lifetime_value ORDER BY user_id;
SELECT * FROM analytics.mv_customer_health ORDER BY user_id;
SELECT * FROM analytics.mv_health_report ORDER BY healthy;
SELECT * FROM analytics.mv_big_spenders ORDER BY user_id;
SELECT c.relname, c.relispopulated, pg_get_userbyid(c.relowner) AS owner, c.relacl
  FROM pg_class c WHERE c.relkind IN ('m', 'r') AND c.relname LIKE 'mv\_%' AND c.relnamespace IN ('billingdb'::regnamespace, 'analytics'::regnamespace)
 ORDER BY 1;
-- indexes, comments kept
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid IN ('analytics.mv_customer_health'::regclass, 'analytics.mv_health_report'::regclass)
 ORDER BY 1;
SELECT obj_description('analytics.mv_customer_health'::regclass, 'pg_class'),
       col_description('analytics.mv_customer_health'::regclass, 3);
-- the grant still works for the reader
SET ROLE compile_reader;
SELECT count(*) FROM analytics.mv_customer_health;
RESET ROLE;

-- numeric -> float8: no break where a reader casts it back (big_spenders;
-- a cast to the type a column already has is not kept in the bound query,
-- as in a PostgreSQL view, so it casts to a typmod),
-- a break where the reader's own output type would change (customer_health)
SELECT pipeline.create_matview('analytics', 'big_spenders', $$
  SELECT user_id, lifetime_value::numeric(20,2) AS lifetime_value FROM billingdb.mv_lifetime_value WHERE lifetime_value >= 7
$$, '1 hour');
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric)::float8 AS lifetime_value, count(*)::int AS orders
    FROM billingdb.orders o GROUP BY o.user_id
$$);
-- a varchar widening propagates (typmod only) and is no break
SELECT pipeline.create_matview('analytics', 'regions', $$
  SELECT DISTINCT region FROM billingdb.orders
$$, '1 hour');
SELECT pipeline.create_matview('analytics', 'region_count', $$
  SELECT count(*) AS n, max(region) AS last_region FROM analytics.mv_regions
$$, '1 hour');
SELECT * FROM pipeline.check('analytics.mv_regions', 'SELECT DISTINCT region::varchar(20) AS region FROM billingdb.orders');
SELECT pipeline.create_matview('analytics', 'regions', 'SELECT DISTINCT region::varchar(20) AS region FROM billingdb.orders', '1 hour');
SELECT name, columns, version FROM pipeline.matviews WHERE name IN ('regions', 'region_count') ORDER BY name;
SELECT * FROM analytics.mv_region_count;
-- widening varchar -> text, which the reader's max() still accepts with the
-- same output type: accepted, reader rebuilt and populated
SELECT * FROM pipeline.check('analytics.mv_regions', 'SELECT DISTINCT region::text AS region FROM billingdb.orders');
SELECT pipeline.create_matview('analytics', 'regions', 'SELECT DISTINCT region::text AS region FROM billingdb.orders', '1 hour');
SELECT name, columns, version FROM pipeline.matviews WHERE name IN ('regions', 'region_count') ORDER BY name;
SELECT * FROM analytics.mv_region_count;
-- another collation is a break where it reaches a reader's output (its
-- readers would sort and compare it otherwise): refused, nothing changes
SELECT * FROM pipeline.check('analytics.mv_regions', 'SELECT DISTINCT region COLLATE "C" AS region FROM billingdb.orders');
SELECT pipeline.create_matview('analytics', 'regions', 'SELECT DISTINCT region COLLATE "C" AS region FROM billingdb.orders', '1 hour');
SELECT attrelid::regclass, attcollation::regcollation FROM pg_attribute
 WHERE attrelid IN ('analytics.mv_regions'::regclass, 'analytics.mv_region_count'::regclass)
   AND attname IN ('region', 'last_region') ORDER BY 1;

-- the rebuilt view stays with its owner even when someone else redefines
-- the upstream (here a superuser)
SELECT owner FROM pipeline.matviews WHERE name = 'big_spenders';
SELECT pipeline.create_matview('billingdb', 'lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value, count(*) AS orders
    FROM billingdb.orders o GROUP BY o.user_id
$$, '1 hour');
SELECT name, owner, version FROM pipeline.matviews ORDER BY name;
-- only the owner may redefine or check a view
SET ROLE compile_owner;
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', 'SELECT 1 AS user_id');
RESET ROLE;

-- cycles are refused, naming the cycle, also through a plain view
SELECT pipeline.create_matview('billingdb', 'lifetime_value', $$
  SELECT user_id, 0::numeric AS lifetime_value, 0::bigint AS orders FROM analytics.mv_big_spenders
$$, '1 hour');
SELECT pipeline.create_matview('billingdb', 'lifetime_value', $$
  SELECT user_id, lifetime_value, orders FROM billingdb.mv_lifetime_value
$$, '1 hour');
CREATE VIEW analytics.health_view AS SELECT * FROM analytics.mv_health_report;
SELECT pipeline.create_matview('analytics', 'customer_health', $$
  SELECT 1 AS user_id, 1::numeric AS lifetime_value, true AS healthy FROM analytics.health_view
$$, '1 hour');
-- a plain view on a view that would be rebuilt blocks the redefinition,
-- and what reads that view breaks with it (it was said to be ok)
SELECT pipeline.create_matview('analytics', 'report_size',
       'SELECT count(*) AS n FROM analytics.mv_health_report', '1 hour');
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value, count(*) AS orders
    FROM billingdb.orders o GROUP BY o.user_id
$$);
SELECT pipeline.create_matview('billingdb', 'lifetime_value', $$
  SELECT o.user_id, sum(substring(amount, 2)::numeric) AS lifetime_value, count(*) AS orders
    FROM billingdb.orders o GROUP BY o.user_id
$$, '1 hour');
DROP VIEW analytics.health_view;
SELECT pipeline.drop_matview('analytics.mv_report_size');

-- the remap follows every regclass column of every pipeline table: after
-- the rebuilds above none of them points at a relation that is gone
CREATE FUNCTION pg_temp.regclass_references(OUT columns int, OUT refs bigint, OUT dangling bigint)
LANGUAGE plpgsql AS $$
DECLARE
    col record;
    r bigint;
    d bigint;
BEGIN
    columns := 0; refs := 0; dangling := 0;
    FOR col IN SELECT a.attrelid::regclass AS tab, a.attname
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                WHERE c.relnamespace = 'pipeline'::regnamespace AND c.relkind = 'r'
                  AND a.atttypid = 'regclass'::regtype AND NOT a.attisdropped
    LOOP
        EXECUTE format('SELECT count(%2$I), count(%2$I) FILTER (WHERE NOT EXISTS
                          (SELECT FROM pg_class WHERE oid = %2$I)) FROM %1$s', col.tab, col.attname)
           INTO r, d;
        columns := columns + 1; refs := refs + r; dangling := dangling + d;
    END LOOP;
END
$$;
SELECT columns > 0 AS has_columns, refs > 0 AS has_references, dangling
  FROM pg_temp.regclass_references();

-- a redefinition keeps column grants of the columns that stay, and an
-- index on a column that goes is not kept (as ALTER TABLE DROP COLUMN
-- drops it), with a notice, for a materialized and a differential view
CREATE TABLE analytics.kept_src (id int PRIMARY KEY, a int, b int);
INSERT INTO analytics.kept_src VALUES (1, 10, 100), (2, 20, 200);
SELECT pipeline.create_matview('analytics', 'kept_full', 'SELECT id, a, b FROM analytics.kept_src',
                               '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('analytics', 'kept_diff', 'SELECT id, a, b FROM analytics.kept_src',
                               '1 hour', refresh_mode => 'differential');
CREATE INDEX kept_full_b ON analytics.mv_kept_full (b);
CREATE INDEX kept_full_a ON analytics.mv_kept_full (a) WHERE a > 0;
CREATE INDEX kept_diff_ab ON analytics.mv_kept_diff ((a + b));
GRANT SELECT (a, b) ON analytics.mv_kept_full TO compile_reader;
GRANT SELECT (a), UPDATE (b) ON analytics.mv_kept_diff TO compile_reader;
SELECT * FROM pipeline.check('analytics.mv_kept_full', 'SELECT id, a FROM analytics.kept_src');
SET client_min_messages = notice;
SELECT pipeline.create_matview('analytics', 'kept_full', 'SELECT id, a FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'full');
SELECT pipeline.create_matview('analytics', 'kept_diff', 'SELECT id, a FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'differential');
SET client_min_messages = warning;
SELECT c.relname AS view, i.indexrelid::regclass AS index
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relname IN ('mv_kept_full', 'mv_kept_diff') ORDER BY 1, 2;
SELECT c.relname AS view, a.attname, a.attacl
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relname IN ('mv_kept_full', 'mv_kept_diff') AND a.attacl IS NOT NULL ORDER BY 1, 2;
-- grants passed on by their grantees are given again in the order that
-- holds: a right after the grant option it is passed on with, whatever
-- the roles' OIDs (chain_b, made first, receives from chain_a)
CREATE ROLE chain_b;
CREATE ROLE chain_a;
CREATE ROLE chain_c;
GRANT USAGE ON SCHEMA analytics TO chain_a, chain_b, chain_c;
GRANT SELECT (a) ON analytics.mv_kept_diff TO chain_a WITH GRANT OPTION;
GRANT SELECT ON analytics.mv_kept_full TO chain_a WITH GRANT OPTION;
SET ROLE chain_a;
GRANT SELECT (a) ON analytics.mv_kept_diff TO chain_b WITH GRANT OPTION;
GRANT SELECT ON analytics.mv_kept_full TO chain_b WITH GRANT OPTION;
SET ROLE chain_b;
GRANT SELECT (a) ON analytics.mv_kept_diff TO chain_c;
GRANT SELECT ON analytics.mv_kept_full TO chain_c;
RESET ROLE;
SELECT pipeline.create_matview('analytics', 'kept_full', 'SELECT id, a, 1 AS c FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'full');
SELECT pipeline.create_matview('analytics', 'kept_diff', 'SELECT id, a, 1 AS c FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'differential');
SELECT c.relname AS view, c.relacl, a.attacl
  FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'a'
 WHERE c.relname IN ('mv_kept_full', 'mv_kept_diff') ORDER BY 1;
SELECT pipeline.drop_matview('analytics.mv_kept_full');
SELECT pipeline.drop_matview('analytics.mv_kept_diff');
DROP OWNED BY chain_a, chain_b, chain_c;
DROP ROLE chain_a, chain_b, chain_c;
-- an index of the view's that cannot be made again fails the redefinition,
-- saying which; nothing changes
SELECT pipeline.create_matview('analytics', 'kept_text', 'SELECT id, a::text AS t FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'full');
CREATE INDEX kept_text_lower ON analytics.mv_kept_text (lower(t));
SELECT pipeline.create_matview('analytics', 'kept_text', 'SELECT id, a AS t FROM analytics.kept_src', '1 hour',
                               refresh_mode => 'full');
SELECT version, query FROM pipeline.matviews WHERE matview = 'analytics.mv_kept_text'::regclass;
SELECT pipeline.drop_matview('analytics.mv_kept_text');

-- a new query its owner may not read breaks, at any level of the query
-- (check() said ok and the redefinition then failed on the rights)
CREATE ROLE compile_reader2;
CREATE SCHEMA rights;
GRANT USAGE, CREATE ON SCHEMA rights TO compile_reader2;
CREATE TABLE rights.open (id int);
CREATE TABLE rights.closed (id int);
GRANT SELECT ON rights.open TO compile_reader2;
SET ROLE compile_reader2;
SELECT pipeline.create_matview('rights', 'v', 'SELECT id FROM rights.open', '1 hour');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id FROM rights.closed');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id FROM (SELECT id FROM rights.closed) s');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id FROM rights.open WHERE EXISTS (SELECT FROM rights.closed)');
SELECT * FROM pipeline.check('rights.mv_v', 'WITH c AS (SELECT id FROM rights.closed) SELECT id FROM c');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id FROM rights.open');
SELECT pipeline.create_matview('rights', 'v', 'SELECT id FROM rights.closed', '1 hour');
-- so does one calling a function or operator its owner may not execute,
-- in an aggregate's argument or a subquery too
RESET ROLE;
CREATE FUNCTION rights.secret() RETURNS int LANGUAGE sql AS 'SELECT 42';
CREATE FUNCTION rights.plus(int, int) RETURNS int LANGUAGE sql AS 'SELECT $1 + $2';
CREATE OPERATOR rights.## (LEFTARG = int, RIGHTARG = int, FUNCTION = rights.plus);
REVOKE EXECUTE ON FUNCTION rights.secret(), rights.plus(int, int) FROM PUBLIC;
SET ROLE compile_reader2;
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id + rights.secret() AS id FROM rights.open');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id OPERATOR(rights.##) 1 AS id FROM rights.open');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT sum(rights.secret())::int AS id FROM rights.open');
SELECT * FROM pipeline.check('rights.mv_v', 'SELECT id FROM rights.open WHERE id IN (SELECT rights.secret())');
SELECT pipeline.create_matview('rights', 'v', 'SELECT id + rights.secret() AS id FROM rights.open', '1 hour');
SELECT pipeline.drop_matview('rights.mv_v');
RESET ROLE;
DROP SCHEMA rights CASCADE;
DROP ROLE compile_reader2;

-- an index of the view that cannot be made on its new columns breaks it
-- (check() said ok and the redefinition then failed restoring the index);
-- the redefinition's error points into the index's statement
CREATE SCHEMA idx;
CREATE TABLE idx.src (id int, t text);
INSERT INTO idx.src VALUES (1, 'a');
SELECT pipeline.create_matview('idx', 'v', 'SELECT id, t FROM idx.src', '1 hour');
CREATE INDEX v_lower ON idx.mv_v (lower(t));
SELECT * FROM pipeline.check('idx.mv_v', 'SELECT id, length(t) AS t FROM idx.src');
SELECT * FROM pipeline.check('idx.mv_v', 'SELECT id, upper(t) AS t FROM idx.src');
SELECT * FROM pipeline.check('idx.mv_v', 'SELECT id FROM idx.src');
SELECT pipeline.create_matview('idx', 'v', 'SELECT id, length(t) AS t FROM idx.src', '1 hour');
SELECT version FROM pipeline.matviews WHERE schema_name = 'idx';
-- a redefinition keeps each index in its tablespace, a partial one too
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE pipe_idx_space LOCATION '';
CREATE INDEX v_id ON idx.mv_v (id) TABLESPACE pipe_idx_space;
CREATE INDEX v_some ON idx.mv_v (id) TABLESPACE pipe_idx_space WHERE id > 1;
-- (and one naming the whole row, by the view's name)
CREATE INDEX v_whole ON idx.mv_v (id) WHERE mv_v IS NOT NULL;
SELECT * FROM pipeline.check('idx.mv_v', 'SELECT id, t, 1 AS one FROM idx.src');
SELECT pipeline.create_matview('idx', 'v', 'SELECT id, t, 1 AS one FROM idx.src', '1 hour');
SELECT c.relname, t.spcname, pg_get_indexdef(c.oid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE i.indrelid = 'idx.mv_v'::regclass ORDER BY 1;
SELECT pipeline.drop_matview('idx.mv_v');
-- an owner who may not create in the tablespace gets the index back in the
-- default one, as before, and its redefinition goes through
CREATE ROLE idx_owner;
GRANT USAGE, CREATE ON SCHEMA idx TO idx_owner;
GRANT SELECT ON idx.src TO idx_owner;
SET ROLE idx_owner;
SELECT pipeline.create_matview('idx', 'w', 'SELECT id, t FROM idx.src', '1 hour');
RESET ROLE;
CREATE INDEX w_id ON idx.mv_w (id) TABLESPACE pipe_idx_space;
SET ROLE idx_owner;
SELECT pipeline.create_matview('idx', 'w', 'SELECT id, t, 2 AS two FROM idx.src', '1 hour');
RESET ROLE;
SELECT c.relname, t.spcname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
 WHERE i.indrelid = 'idx.mv_w'::regclass ORDER BY 1;
SET ROLE idx_owner;
SELECT pipeline.drop_matview('idx.mv_w');
RESET ROLE;
DROP OWNED BY idx_owner;
DROP ROLE idx_owner;
DROP TABLESPACE pipe_idx_space;
RESET allow_in_place_tablespaces;
DROP SCHEMA idx CASCADE;

-- clean up
SELECT pipeline.drop_matview('billingdb.mv_lifetime_value', cascade => true);
SELECT pipeline.drop_matview('analytics.mv_regions', cascade => true);
SELECT count(*) FROM pipeline.matviews;
DROP SCHEMA billingdb CASCADE;
DROP SCHEMA analytics CASCADE;
DROP ROLE compile_reader;
DROP ROLE compile_owner;
