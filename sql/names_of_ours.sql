-- Names a user chooses that equal names pipeline writes into its own SQL
-- or gives its own relations (found by an attack pass on name collisions):
--   a stream table's column named s (quarantine's row alias);
--   a change table's column named c (apply_changes' row alias);
--   a lake publication's column named q (the digest's row alias);
--   a session's temporary relation named pipeline_audit_shape;
--   a relation named pipeline_old_<oid> where a redefinition puts the old
--   relation;
--   a differential view's key index name: cut inside a character, or
--   taken by another relation;
--   a join's alias, which hid the tables a differential refresh names
--   (a join's whole row, and USING under column alias lists, are refused).
-- As a non-superuser owner with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE no_owner LOGIN;
GRANT pg_write_server_files TO no_owner;
CREATE SCHEMA no AUTHORIZATION no_owner;
CREATE SCHEMA no_trap AUTHORIZATION no_owner;
SELECT current_setting('data_directory') || '/names_of_ours' AS lake \gset
RESET client_min_messages;
SET ROLE no_owner;
CREATE FUNCTION no_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END $f$;
CREATE OPERATOR no_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = no_trap.int4eq);
SET search_path = no_trap, public, pg_catalog;

-- a set-aside row is the whole row, not its column named s
CREATE TABLE no.ev (id bigint, s text, v text);
INSERT INTO no.ev VALUES (1, 'first', '10');
SELECT pipeline.create_matview('no', 'qs', $q$SELECT id, s, v::int AS n FROM no.ev$q$, '1 hour',
                               'incremental', 'id', options => '{"on-error": "quarantine"}');
INSERT INTO no.ev VALUES (2, 'second', 'oops'), (3, 'third', '30');
SELECT status, rows FROM pipeline.refresh('no.mv_qs');
SELECT message, error FROM pipeline.rejected WHERE target = 'no.mv_qs'::regclass;

-- the example of a bad change is the whole row, not its column named c
CREATE TABLE no.chg (id int, seq int, op text, c text);
CREATE TABLE no.tgt (id int PRIMARY KEY, seq int, c text);
INSERT INTO no.chg VALUES (1, 1, 'X', NULL);
SELECT * FROM pipeline.apply_changes('no.chg', 'no.tgt', '{id}', 'seq');

-- a publication with a column named q: a run over unchanged rows writes
-- nothing (each partition's digest hashed that column alone, against the
-- whole row in the files); a temporary relation named like the one that
-- binds its expectations is left alone
CREATE TEMPORARY TABLE pipeline_audit_shape (x int);
CREATE TABLE no.pq (id int, q int, day int);
INSERT INTO no.pq SELECT g, g % 3, g % 4 FROM generate_series(1, 20) g;
SELECT pipeline.create_matview('no', 'pubq', $q$SELECT id, q, day FROM no.pq ORDER BY id LIMIT 1000$q$,
                               '1 hour', 'unload',
                               options => jsonb_build_object('unload-destination', :'lake', 'unload-partition-by', 'day',
                                                             'expect', jsonb_build_array('positive: id > 0')));
SELECT count(*) FROM pg_temp.pipeline_audit_shape;
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00');
SELECT detail FROM pipeline.runs WHERE matview = 'no.mv_pubq'::regclass ORDER BY run_id DESC LIMIT 1;

-- a redefinition puts the old relation out of the way under a free name
CREATE TABLE no.na (id int, x int);
CREATE TABLE no.nb (id int, y int);
INSERT INTO no.na SELECT g, g FROM generate_series(1, 10) g;
INSERT INTO no.nb SELECT g, g * 10 FROM generate_series(1, 10) g;
SELECT pipeline.create_matview('no', 'po', 'SELECT id, x FROM no.na', '1 hour');
DO $$ BEGIN EXECUTE format('CREATE TABLE no.pipeline_old_%s (z int)', 'no.mv_po'::regclass::oid); END $$;
SELECT pipeline.create_matview('no', 'po', 'SELECT id, x, 1 AS extra FROM no.na', '1 hour');
SELECT version FROM pipeline.matviews WHERE matview = 'no.mv_po'::regclass;

-- key index names: cut at a whole character, and free
SELECT pipeline.create_matview('no', repeat('a', 36) || 'éxyz', 'SELECT id, x FROM no.na', '1 hour',
                               refresh_mode => 'differential');
CREATE TABLE no.mv_taken_pipeline_key (x int);
SELECT pipeline.create_matview('no', 'taken', 'SELECT id, x FROM no.na', '1 hour', refresh_mode => 'differential');
SELECT c.relname, i.indexrelid::regclass AS key_index FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'no'::regnamespace AND c.relname LIKE 'mv_%' ORDER BY c.relname, i.indexrelid::regclass::text;
CREATE INDEX mv_taken_pipeline_key2 ON no.mv_taken (x);
-- redefined, each keeps one key index, and a user's index named like one stays
SELECT pipeline.create_matview('no', repeat('a', 36) || 'éxyz', 'SELECT id, x, 2 AS two FROM no.na', '1 hour',
                               refresh_mode => 'differential');
SELECT pipeline.create_matview('no', 'taken', 'SELECT id, x, 2 AS two FROM no.na', '1 hour',
                               refresh_mode => 'differential');
SELECT c.relname, i.indexrelid::regclass AS key_index FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'no'::regnamespace AND c.relname LIKE 'mv_%' ORDER BY c.relname, i.indexrelid::regclass::text;

-- a join with an alias of its own.  With the trap first in the path, USING
-- means the trap's "=", which the stored text cannot name (read again it
-- would mean pg_catalog's): refused, and defined with pg_catalog first
SELECT pipeline.create_matview('no', 'ja',
  'SELECT j.id, j.x, j.y FROM (no.na JOIN no.nb USING (id)) AS j', '1 hour', refresh_mode => 'differential');
SET search_path = pg_catalog, no_trap, public;
SELECT pipeline.create_matview('no', 'ja',
  'SELECT j.id, j.x, j.y FROM (no.na JOIN no.nb USING (id)) AS j', '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('no', 'ja2',
  $q$SELECT j.x, count(*) AS n FROM (no.na a JOIN no.nb b ON a.id OPERATOR(pg_catalog.=) b.id) AS j GROUP BY j.x$q$,
  '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('no', 'jn', $q$
  SELECT y.k, y.x, y.cy FROM ((no.na a JOIN no.nb b ON a.id OPERATOR(pg_catalog.=) b.id) AS x(k, x, id2, yb)
                              JOIN no.nb c(cid, cy) ON c.cid OPERATOR(pg_catalog.=) x.k) AS y
   WHERE y.yb > 10$q$, '1 hour', refresh_mode => 'differential');
-- not followed: a join's whole row, also through a plain view; a USING
-- column renamed by a column alias list (the deparser then lists every
-- column of the joined tables, which their changes do not have)
SELECT pipeline.create_matview('no', 'jw',
  'SELECT j.id, to_jsonb(j) AS doc FROM (no.na JOIN no.nb USING (id)) AS j', '1 hour',
  refresh_mode => 'differential');
CREATE VIEW no.whole AS SELECT j.id, to_jsonb(j) AS doc FROM (no.na JOIN no.nb USING (id)) AS j;
SELECT pipeline.create_matview('no', 'jwv', 'SELECT w.id, w.doc FROM no.whole w', '1 hour',
  refresh_mode => 'differential');
SELECT pipeline.create_matview('no', 'ju',
  'SELECT w.i, w.x FROM (no.na JOIN no.nb USING (id)) AS w(i, x, y)', '1 hour',
  refresh_mode => 'differential');
SET search_path = no_trap, public, pg_catalog;
UPDATE no.na SET x = x OPERATOR(pg_catalog.+) 1 WHERE id OPERATOR(pg_catalog.=) 5;
UPDATE no.nb SET y = y OPERATOR(pg_catalog.+) 1 WHERE id OPERATOR(pg_catalog.=) 6;
SELECT status FROM pipeline.refresh('no.mv_ja');
SELECT status FROM pipeline.refresh('no.mv_ja2');
SELECT * FROM no.mv_ja WHERE id OPERATOR(pg_catalog.<) 8 ORDER BY id;
SELECT * FROM no.mv_ja2 WHERE x OPERATOR(pg_catalog.<) 8 ORDER BY x;
SELECT status FROM pipeline.refresh('no.mv_jn');
SELECT * FROM no.mv_jn WHERE k OPERATOR(pg_catalog.<) 8 ORDER BY k;

RESET search_path;
RESET ROLE;
SET client_min_messages = warning;
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews
 WHERE schema_name = 'no' ORDER BY matview::text DESC;
DROP SCHEMA no, no_trap CASCADE;
DROP OWNED BY no_owner;
DROP ROLE no_owner;
