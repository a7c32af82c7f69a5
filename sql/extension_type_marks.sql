-- Stream keys of an extension's type (h50, 2026-12-06): a mirror's and a
-- quarantining stream view's marks were taken with pg_catalog.min() and
-- max(), which for citext are text's, through the cast (case-sensitive:
-- of keys 'a' and 'B' the greatest was 'a', so the mirror's mark left 'B'
-- out until the next run), and for isbn13 do not exist (the view could not
-- be created).  A key type pg_catalog's min() and max() do not take as it
-- is is now ordered by its own btree operator class.  And apply_changes()
-- refused a key of such a type (ltree) that both sides have.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA em_ext;
CREATE EXTENSION citext SCHEMA em_ext;
CREATE EXTENSION isn SCHEMA em_ext;
CREATE SCHEMA em;
CREATE TABLE em.feed (pos em_ext.citext, seq int, op text, id int, v text);
INSERT INTO em.feed VALUES ('a', 1, 'I', 1, 'one'), ('B', 1, 'I', 2, 'two');
SELECT pipeline.create_matview('em', 'cur', 'SELECT pos, seq, op, id, v FROM em.feed', '1 hour',
  matview_type => 'mirror', incremental_key => 'pos',
  options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
SELECT id, v FROM em.mv_cur ORDER BY id;
INSERT INTO em.feed VALUES ('c', 1, 'I', 3, 'three'), ('C', 2, 'U', 1, 'uno');
SELECT matview, status FROM pipeline.refresh('em.mv_cur');
SELECT id, v FROM em.mv_cur ORDER BY id;
CREATE TABLE em.books (isbn em_ext.isbn13, price text);
INSERT INTO em.books VALUES ('978-0-306-40615-7', '10'), ('978-1-4028-9462-6', 'x');
SELECT pipeline.create_matview('em', 'priced', 'SELECT isbn, price::int AS price FROM em.books', '1 hour',
  matview_type => 'incremental', incremental_key => 'isbn', options => '{"on-error": "quarantine"}');
SELECT isbn::text, price FROM em.mv_priced ORDER BY 1;
INSERT INTO em.books VALUES ('979-10-90636-07-1', '30');
SELECT matview, status FROM pipeline.refresh('em.mv_priced');
SELECT isbn::text, price FROM em.mv_priced ORDER BY 1;
-- apply_changes() with a key of an extension's type on both sides: compared
-- by its own equality (it was refused: "No = operator compares the two")
CREATE EXTENSION ltree SCHEMA em_ext;
CREATE DOMAIN em.path AS em_ext.ltree;
CREATE TABLE em.tree (path em.path PRIMARY KEY, label text, seq int);
CREATE TABLE em.tree_changes (path em.path, label text, seq int, op text);
INSERT INTO em.tree VALUES ('top.a', 'a', 1), ('top.b', 'b', 1);
INSERT INTO em.tree_changes VALUES ('top.a', 'A', 2, 'U'), ('top.b', NULL, 2, 'D'), ('top.c', 'c', 1, 'I'),
    ('top.b', 'old b', 1, 'U');
SELECT * FROM pipeline.apply_changes('em.tree_changes', 'em.tree', '{path}', 'seq');
SELECT path::text, label, seq FROM em.tree ORDER BY 1;
-- an older change of the deleted key, arriving late, does not bring it back
DELETE FROM em.tree_changes;
INSERT INTO em.tree_changes VALUES ('TOP.B', 'late', 1, 'I'), ('top.b', 'late', 1, 'I');
SELECT * FROM pipeline.apply_changes('em.tree_changes', 'em.tree', '{path}', 'seq');
SELECT path::text, label, seq FROM em.tree ORDER BY 1;
SELECT pipeline.drop_matview('em.mv_cur');
SELECT pipeline.drop_matview('em.mv_priced');
DROP SCHEMA em CASCADE;
DROP SCHEMA em_ext CASCADE;
