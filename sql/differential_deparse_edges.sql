-- Differential refresh where its generated SQL, or what it judges a view
-- to depend on, met edges (found by an exactness pass with tricky types):
--   quote_all_identifiers = on in the refreshing session;
--   one table read at range-table positions 1 and 10 (a six-way self-join);
--   timezone_abbreviations, which text::timestamptz follows;
--   stable built-ins that read the transaction or other tables
--   (txid_current(), table_to_xml()): such a view is refreshed fully;
--   a query whose own text holds names the generated SQL uses (a literal,
--   a plain view's name), or a source column named like the multiplicity
--   column the generated SQL adds (pipeline_m).
-- As a non-superuser owner with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE de_owner LOGIN;
CREATE SCHEMA de AUTHORIZATION de_owner;
CREATE SCHEMA de_trap AUTHORIZATION de_owner;
RESET client_min_messages;
SET ROLE de_owner;
CREATE FUNCTION de_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR de_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = de_trap.int4eq);
SET search_path = de_trap, public, pg_catalog;
SET TimeZone = 'UTC';

-- every identifier quoted by the session
CREATE TABLE de.qa (k int, v int);
INSERT INTO de.qa VALUES (1, 1);
SELECT pipeline.create_matview('de', 'qa', 'SELECT k, count(*) AS n, sum(v) AS s FROM de.qa GROUP BY k',
                               '1 hour', refresh_mode => 'differential');
INSERT INTO de.qa VALUES (1, 2), (2, 5);
SET quote_all_identifiers = on;
SELECT status FROM pipeline.refresh('de.mv_qa');
RESET quote_all_identifiers;
SELECT * FROM de.mv_qa ORDER BY k;

-- a six-way self-join: the sixth is range-table entry 10 (joins count too)
CREATE TABLE de.e (id int, nxt int);
INSERT INTO de.e SELECT i, i + 1 FROM generate_series(1, 8) i;
SELECT pipeline.create_matview('de', 'chain', $q$
  SELECT e1.id, e6.nxt FROM de.e e1
    JOIN de.e e2 ON e2.id OPERATOR(pg_catalog.=) e1.nxt
    JOIN de.e e3 ON e3.id OPERATOR(pg_catalog.=) e2.nxt
    JOIN de.e e4 ON e4.id OPERATOR(pg_catalog.=) e3.nxt
    JOIN de.e e5 ON e5.id OPERATOR(pg_catalog.=) e4.nxt
    JOIN de.e e6 ON e6.id OPERATOR(pg_catalog.=) e5.nxt$q$, '1 hour', refresh_mode => 'differential');
SELECT refresh_mode FROM pipeline.matviews WHERE matview::text = 'de.mv_chain';
INSERT INTO de.e VALUES (9, 10), (10, 11);
SELECT status FROM pipeline.refresh('de.mv_chain');
SELECT * FROM de.mv_chain ORDER BY id;

-- the same text read under other time zone abbreviations (text read as a
-- timestamp is refreshed fully: 'now' in it reads the clock)
SET timezone_abbreviations = 'Default';
CREATE TABLE de.ev (id int, s text);
INSERT INTO de.ev VALUES (1, '2024-01-01 12:00 IST');
SELECT pipeline.create_matview('de', 'ev', 'SELECT s::timestamptz AS ts, count(*) AS n FROM de.ev GROUP BY 1',
                               '1 hour', refresh_mode => 'auto');
SELECT refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE matview = 'de.mv_ev'::regclass;
SET timezone_abbreviations = 'India';
INSERT INTO de.ev VALUES (2, '2024-01-01 12:00 IST');
SELECT status FROM pipeline.refresh('de.mv_ev');
SELECT * FROM de.mv_ev ORDER BY 1;
RESET timezone_abbreviations;

-- the transaction's id, and another table read as XML: refreshed fully
CREATE TABLE de.t (id int);
CREATE TABLE de.prices (p int);
INSERT INTO de.t VALUES (1);
INSERT INTO de.prices VALUES (10);
SELECT pipeline.create_matview('de', 'tx', 'SELECT id, txid_current() > 0 AS has_xid FROM de.t', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('de', 'xm', $q$SELECT id,
  (xpath('//p/text()', table_to_xml('de.prices'::regclass, true, false, '')))[1]::text AS price
  FROM de.t$q$, '1 hour');
SELECT matview, refresh_mode FROM pipeline.matviews
 WHERE matview::text IN ('de.mv_tx', 'de.mv_xm') ORDER BY 1;
INSERT INTO de.t VALUES (2);
UPDATE de.prices SET p = 99;
SELECT status FROM pipeline.refresh('de.mv_xm');
SELECT * FROM de.mv_xm ORDER BY id;

-- the query's own text holds names of ours: literals, and a plain view's name
CREATE TABLE de.w (id int, tag text);
INSERT INTO de.w VALUES (1, 'a'), (2, 'pipeline_multiplicity');
SELECT pipeline.create_matview('de', 'lit', $q$
  SELECT w.tag, count(*) AS n, 'pipeline_multiplicity' AS word,
         'ONLY de.w pipeline_src_1' AS from_text
    FROM de.w WHERE w.tag <> 'pipeline_multiplicity' GROUP BY w.tag$q$,
  '1 hour', refresh_mode => 'differential');
CREATE VIEW de.pipeline_src_2 AS SELECT id, tag FROM de.w;
SELECT pipeline.create_matview('de', 'alias', $q$
  SELECT w.id, pipeline_src_2.tag FROM de.pipeline_src_2
    JOIN de.w ON w.id OPERATOR(pg_catalog.=) pipeline_src_2.id$q$,
  '1 hour', refresh_mode => 'differential');
SELECT matview, refresh_mode FROM pipeline.matviews
 WHERE matview::text IN ('de.mv_lit', 'de.mv_alias') ORDER BY 1;
INSERT INTO de.w VALUES (3, 'a'), (4, 'b'), (5, 'pipeline_multiplicity');
DELETE FROM de.w WHERE id OPERATOR(pg_catalog.=) 1;
SELECT status FROM pipeline.refresh('de.mv_lit');
SELECT status FROM pipeline.refresh('de.mv_alias');
SELECT * FROM de.mv_lit ORDER BY tag;
SELECT * FROM de.mv_alias ORDER BY id;

-- source columns named like the multiplicity column of a source's changes
CREATE TABLE de.m (k int, pipeline_m int, pipeline_m_1 int);
INSERT INTO de.m VALUES (1, 5, 0), (2, 6, 0);
SELECT pipeline.create_matview('de', 'm_sum', $q$
  SELECT k, sum(pipeline_m) AS s, max(pipeline_m_1) AS x, count(*) AS n FROM de.m GROUP BY k$q$,
  '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('de', 'm_join', $q$
  SELECT a.k, b.pipeline_m FROM de.m a
    JOIN de.m b ON a.k OPERATOR(pg_catalog.=) (b.pipeline_m OPERATOR(pg_catalog.-) 4)$q$,
  '1 hour', refresh_mode => 'differential');
INSERT INTO de.m VALUES (1, 50, 7), (3, 5, 1);
DELETE FROM de.m WHERE k OPERATOR(pg_catalog.=) 2;
SELECT status FROM pipeline.refresh('de.mv_m_sum');
SELECT status FROM pipeline.refresh('de.mv_m_join');
SELECT * FROM de.mv_m_sum ORDER BY k;
SELECT * FROM de.mv_m_join ORDER BY k, pipeline_m;

RESET search_path;
RESET ROLE;
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews
 WHERE matview::text LIKE 'de.%' ORDER BY matview::text DESC;
DROP SCHEMA de, de_trap CASCADE;
DROP ROLE de_owner;
