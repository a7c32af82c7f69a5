-- A rebuild keeps what the owner set on a view's table by hand, besides
-- what compile_rebuild_keeps checks: its tablespace, column storage,
-- compression, NOT NULL and DEFAULT, statistics objects, publication
-- membership, replica identity (also through the key index pipeline made)
-- and the index it is clustered on.  The redefiner has a hostile schema
-- first in search_path.  A column the changed view drops or retypes keeps
-- what it can, and a NOTICE names what it cannot.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE ts_alice LOGIN;
CREATE ROLE ts_bob LOGIN;
CREATE SCHEMA ts;
GRANT CREATE, USAGE ON SCHEMA ts TO ts_alice, ts_bob;
CREATE SCHEMA ts_trap;
GRANT CREATE, USAGE ON SCHEMA ts_trap TO ts_alice;
RESET client_min_messages;

SET ROLE ts_alice;
CREATE TABLE ts.src (k int, x int, t text);
INSERT INTO ts.src VALUES (1, 10, 'a'), (2, 20, 'b'), (2, 21, 'c');
SELECT pipeline.create_matview('ts', 'up', 'SELECT k, x, t FROM ts.src', '1 hour');
GRANT SELECT ON ts.mv_up TO ts_bob;
-- alice's traps: names the restored DDL would call if it were not qualified
CREATE FUNCTION ts_trap.lower(text) RETURNS text LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END $f$;
CREATE FUNCTION ts_trap.abs(int) RETURNS int LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END $f$;
RESET ROLE;

SET ROLE ts_bob;
SELECT pipeline.create_matview('ts', 'bag', 'SELECT k, x, t FROM ts.mv_up', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('ts', 'sums', 'SELECT k, sum(x) AS total FROM ts.mv_up GROUP BY k', '1 hour',
                               refresh_mode => 'differential');
ALTER TABLE ts.mv_bag ALTER COLUMN t SET STORAGE EXTERNAL;
ALTER TABLE ts.mv_bag ALTER COLUMN t SET COMPRESSION pglz;
ALTER TABLE ts.mv_bag ALTER COLUMN k SET NOT NULL;
ALTER TABLE ts.mv_bag ALTER COLUMN t SET DEFAULT pg_catalog.lower('N/A');
ALTER TABLE ts.mv_bag ALTER COLUMN x SET DEFAULT abs(-1);
CREATE STATISTICS ts.bag_kx (ndistinct) ON k, x FROM ts.mv_bag;
ALTER STATISTICS ts.bag_kx SET STATISTICS 77;
CREATE STATISTICS ts.bag_expr ON (x + k) FROM ts.mv_bag;
CREATE INDEX bag_k ON ts.mv_bag (k);
ALTER TABLE ts.mv_bag CLUSTER ON bag_k;
ALTER TABLE ts.mv_bag REPLICA IDENTITY FULL;
-- the grouped view: replica identity through a unique index of bob's, and
-- clustered on the key index pipeline made
ALTER TABLE ts.mv_sums ALTER COLUMN k SET NOT NULL;
CREATE UNIQUE INDEX sums_k ON ts.mv_sums (k);
ALTER TABLE ts.mv_sums REPLICA IDENTITY USING INDEX sums_k;
SELECT format('ALTER TABLE ts.mv_sums CLUSTER ON %I', c.relname)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'ts.mv_sums'::regclass AND c.relname LIKE '%pipeline_key' \gexec
RESET ROLE;
CREATE PUBLICATION ts_pub FOR TABLE ts.mv_bag, ts.mv_sums;
ALTER PUBLICATION ts_pub OWNER TO ts_bob;
-- a row filter comes back with the membership (a column list would too;
-- PostgreSQL allows none with REPLICA IDENTITY FULL where deletes are published)
CREATE PUBLICATION ts_pub_some FOR TABLE ts.mv_bag WHERE (x > 10);

-- what bob set, as the catalogs say it (key index names hold the view's OID)
CREATE FUNCTION pg_temp.settings() RETURNS TABLE (what text)
LANGUAGE sql AS $$
  SELECT c.relname || ' replica identity ' || c.relreplident::text
         || coalesce(' using ' || (SELECT i.indexrelid::regclass::text
                                     FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident), '')
         || coalesce(' clustered on ' || (SELECT CASE WHEN ic.relname LIKE '%pipeline_key' THEN 'the key index'
                                                      ELSE ic.relname::text END
                                            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                           WHERE i.indrelid = c.oid AND i.indisclustered), '')
    FROM pg_class c WHERE c.oid IN ('ts.mv_bag'::regclass, 'ts.mv_sums'::regclass)
  UNION ALL
  SELECT a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' storage ' || a.attstorage::text || ' compression ' || coalesce(nullif(a.attcompression::text, ''), '-')
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid IN ('ts.mv_bag'::regclass, 'ts.mv_sums'::regclass) AND a.attnum > 0
     AND NOT a.attisdropped
  UNION ALL
  SELECT 'statistics ' || s.stxname || ' of ' || s.stxrelid::regclass || ' target ' || s.stxstattarget
         || ' owner ' || s.stxowner::regrole || ': ' || pg_get_statisticsobjdef(s.oid)
    FROM pg_statistic_ext s WHERE s.stxrelid IN ('ts.mv_bag'::regclass, 'ts.mv_sums'::regclass)
  UNION ALL
  SELECT 'publication ' || p.pubname || ': ' || r.prrelid::regclass
         || coalesce(' (' || (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a
                               WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs)) || ')', '')
         || coalesce(' WHERE ' || pg_get_expr(r.prqual, r.prrelid), '')
    FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
   WHERE p.pubname LIKE 'ts_pub%'
  ORDER BY 1
$$;
SELECT * FROM pg_temp.settings();
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.settings();

-- alice redefines her view (a new column, so bob's views are rebuilt), her
-- traps first in search_path
SET ROLE ts_alice;
SET search_path = ts_trap, public, pg_catalog;
SELECT pipeline.create_matview('ts', 'up', 'SELECT k, x, t, 1 AS extra FROM ts.src', '1 hour');
RESET search_path;
RESET ROLE;
SELECT count(*) AS settings_before FROM before;
-- everything bob set is there again (the relations are new ones)
SELECT * FROM pg_temp.settings() EXCEPT SELECT * FROM before;
SELECT * FROM before EXCEPT SELECT * FROM pg_temp.settings();
SELECT * FROM ts.mv_bag ORDER BY k, x;
-- the differential refreshes still write (a published table needs its
-- replica identity for updates and deletes)
UPDATE ts.src SET x = x + 1;
DELETE FROM ts.src WHERE x = 22;
SET ROLE ts_alice;
SELECT status FROM pipeline.refresh('ts.mv_up', cascade => false);
RESET ROLE;
SET ROLE ts_bob;
SELECT status FROM pipeline.refresh('ts.mv_bag');
SELECT status FROM pipeline.refresh('ts.mv_sums');
SELECT * FROM ts.mv_sums ORDER BY k;

-- bob's own redefinition: t becomes an int (its storage, compression and
-- default are not kept, its NOT NULL would be), x goes (so do the
-- statistics objects on it and the membership whose filter names it, with a
-- NOTICE each)
SELECT pipeline.create_matview('ts', 'bag', 'SELECT k, pg_catalog.length(t) AS t FROM ts.mv_up', '1 hour',
                               refresh_mode => 'differential');
SELECT * FROM pg_temp.settings() WHERE what LIKE '%mv_bag%' OR what LIKE 'statistics%';
-- a published view cannot become a materialized view (its subscribers
-- would get nothing more); taken out of its publication, it keeps neither
-- NOT NULL nor DEFAULT
SELECT pipeline.create_matview('ts', 'bag', 'SELECT k, t FROM ts.mv_up', '1 hour',
                               refresh_mode => 'full');
RESET ROLE;
ALTER PUBLICATION ts_pub DROP TABLE ts.mv_bag;
SET ROLE ts_bob;
SELECT pipeline.create_matview('ts', 'bag', 'SELECT k, t FROM ts.mv_up', '1 hour',
                               refresh_mode => 'full');
SELECT * FROM pg_temp.settings() WHERE what LIKE '%mv_bag%';
RESET ROLE;

-- clean up
SET client_min_messages = warning;
DROP PUBLICATION ts_pub, ts_pub_some;
SELECT pipeline.drop_matview('ts.mv_up', cascade => true);
DROP SCHEMA ts CASCADE;
DROP SCHEMA ts_trap CASCADE;
DROP ROLE ts_alice, ts_bob;
