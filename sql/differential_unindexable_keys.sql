-- A differential view's rows are found through an index on its group keys
-- (a bag view's first column): a hash index, or a hash of the keys'
-- record, when every key's equality hashes, else a btree, whose entries
-- hold 2.7 kB.  A key of a type with variable length and no hashing
-- (tsvector, varbit, ...) could outgrow it, and every refresh failed on one
-- long value where the query runs: such a view now refreshes in full in
-- auto, and is refused as differential, with that reason.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
RESET client_min_messages;
CREATE SCHEMA unidx;
CREATE TABLE unidx.docs (id int, body text);
INSERT INTO unidx.docs VALUES (1, 'short text');
SELECT pipeline.create_matview('unidx', 'search', $$SELECT to_tsvector('simple', body) AS doc, id FROM unidx.docs$$,
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('unidx', 'search', $$SELECT to_tsvector('simple', body) AS doc, id FROM unidx.docs$$,
                               '1 hour');
SELECT refresh_mode, full_refresh_reason FROM pipeline.matviews WHERE matview = 'unidx.mv_search'::regclass;
INSERT INTO unidx.docs SELECT 2, string_agg(md5(i::text), ' ') FROM generate_series(1, 1000) i;
SELECT status FROM pipeline.refresh('unidx.mv_search');
SELECT count(*) FROM unidx.mv_search;
-- the same column second: the index is on the first, an integer
SELECT pipeline.create_matview('unidx', 'search2', $$SELECT id, to_tsvector('simple', body) AS doc FROM unidx.docs$$,
                               '1 hour');
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'unidx.mv_search2'::regclass;
-- a varbit group key, alone or beside a text key
CREATE TABLE unidx.bits (k varbit, t text, v int);
INSERT INTO unidx.bits VALUES (B'101', 'a', 1);
SELECT pipeline.create_matview('unidx', 'bits', 'SELECT k, count(*) AS n FROM unidx.bits GROUP BY k', '1 hour');
SELECT pipeline.create_matview('unidx', 'bits2', 'SELECT k, t, count(*) AS n FROM unidx.bits GROUP BY k, t', '1 hour');
SELECT matview, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE matview IN ('unidx.mv_bits'::regclass, 'unidx.mv_bits2'::regclass) ORDER BY matview::text;
INSERT INTO unidx.bits SELECT string_agg(((hashint4(i) & 1))::text, '')::varbit, 'b', 1 FROM generate_series(1, 40000) i;
SELECT status FROM pipeline.refresh('unidx.mv_bits');
SELECT status FROM pipeline.refresh('unidx.mv_bits2');
SELECT count(*) FROM unidx.mv_bits2;
-- keys that hash (text, a long one included) stay differential
SELECT pipeline.create_matview('unidx', 'texts', 'SELECT t, count(*) AS n FROM unidx.bits GROUP BY t', '1 hour');
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'unidx.mv_texts'::regclass;

SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE matview::text LIKE 'unidx.%';
DROP SCHEMA unidx CASCADE;
