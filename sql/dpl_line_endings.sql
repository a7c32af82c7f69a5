-- DPL documents saved with CRLF (Windows) or CR (old Mac) line endings, or
-- with a leading UTF-8 byte-order mark, are read exactly as their LF
-- version: same view, same stored query, same line numbers in errors.
-- A header value may end in a SQL comment, as API.md's examples do.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE SCHEMA crlf;
CREATE TABLE crlf.src (id int, note text);
INSERT INTO crlf.src VALUES (1, 'one'), (2, 'two');

-- one document in LF; the tests send it with other endings
CREATE FUNCTION crlf.doc(name text, eol text DEFAULT E'\n', bom boolean DEFAULT false)
RETURNS text LANGUAGE sql AS $f$
  SELECT CASE WHEN bom THEN convert_from('\xefbbbf'::bytea, 'UTF8') ELSE '' END ||
         replace(format($d$/**
 * @datacoral O-1.0.0
 * @matview-schema crlf
 * @matview-name %s
 * @interval-in-minutes 60
 */
SELECT id,
       note
  FROM crlf.src
 WHERE id > 0;
$d$, name), E'\n', eol)
$f$;

SELECT pipeline.define(crlf.doc('lf')) AS lf;
SELECT pipeline.define(crlf.doc('crlf', E'\r\n')) AS crlf;
SELECT pipeline.define(crlf.doc('cr', E'\r')) AS cr;
SELECT pipeline.define(crlf.doc('bom', bom => true)) AS bom;
SELECT pipeline.define(crlf.doc('bom_crlf', E'\r\n', true)) AS bom_crlf;
-- every one stored the LF query, without a CR or a byte-order mark
SELECT m.name, m.refresh_interval, d.datacoral_version,
       m.query = (SELECT query FROM pipeline.matviews WHERE name = 'lf') AS same_query,
       strpos(m.query, E'\r') AS cr_at, strpos(m.query, convert_from('\xefbbbf'::bytea, 'UTF8')) AS bom_at
  FROM pipeline.matviews m JOIN pipeline.matview_definitions d USING (matview)
 WHERE m.schema_name = 'crlf'
 ORDER BY m.name;
SELECT count(*) AS crlf_rows FROM crlf.mv_crlf;
SELECT count(*) AS cr_rows FROM crlf.mv_cr;
SELECT count(*) AS bom_rows FROM crlf.mv_bom_crlf;

-- the same document in other endings is no change to the view: check()
-- finds it ok and a redefinition through stage/apply_staged works
SELECT matview, status, detail FROM pipeline.check(crlf.doc('lf', E'\r\n', true));
SELECT pipeline.stage(crlf.doc('crlf', E'\r'));
SELECT matview, action FROM pipeline.apply_staged();
SELECT strpos(query, E'\r') AS cr_at FROM pipeline.matviews WHERE name = 'crlf';

-- an LF document keeps a CR inside a string literal of its query
SELECT pipeline.define(E'/**\n * @matview-schema crlf\n * @matview-name literal\n * @interval-in-minutes 60\n */\nSELECT ''a\rb'' AS s\n');
SELECT s = E'a\rb' AS cr_kept FROM crlf.mv_literal;

-- line numbers in errors are those of the document, whatever its endings
CREATE FUNCTION crlf.try(doc text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM pipeline.define(doc);
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLERRM;
END $f$;
CREATE TABLE crlf.bad_docs (what text, doc text);
INSERT INTO crlf.bad_docs VALUES
  ('unknown key', E'\n\n/**\n * @matview-schema crlf\n * @matview-name bad\n *\n * @colour blue\n * @interval-in-minutes 60\n */\nSELECT 1 AS x'),
  ('duplicate key', E'/**\n * @matview-schema crlf\n * @matview-name bad\n * @interval-in-minutes 60\n * @matview-name again\n */\nSELECT 1 AS x'),
  ('unclosed header', E'\n\n\n/**\n * @matview-schema crlf\n SELECT 1'),
  ('bad value', E'/**\n * @matview-schema crlf\n * @matview-name bad\n * @interval-in-minutes 0\n */\nSELECT 1'),
  ('not a key line', E'/**\n * @matview-schema crlf\n\n  matview-name bad\n */\nSELECT 1');
SELECT what, count(DISTINCT error) = 1 AS same_for_lf_crlf_cr, min(error) AS error
  FROM crlf.bad_docs,
       LATERAL (VALUES (E'\n'), (E'\r\n'), (E'\r')) e(eol),
       LATERAL crlf.try(replace(doc, E'\n', eol)) error
 GROUP BY what ORDER BY what;
-- and the same behind a byte-order mark
SELECT crlf.try(convert_from('\xefbbbf'::bytea, 'UTF8') || E'/**\r\n * @matview-schema crlf\r\n * @matview-nam bad\r\n */\r\nSELECT 1') AS unknown_key_on_line_3;
-- a byte-order mark is only skipped at the very start
SELECT crlf.try(E'\n' || convert_from('\xefbbbf'::bytea, 'UTF8') || E'/**\n * @matview-schema crlf\n */\nSELECT 1') AS not_a_header;
SELECT count(*) AS nothing_bad FROM pg_class WHERE relname = 'mv_bad';

-- a header value may end in a SQL comment (API.md's examples); a "--"
-- inside quotes, or not after white space, is part of the value
SELECT pipeline.define($d$/**
 * @matview-schema crlf   -- the schema
 * @matview-name commented  -- a name
 * @interval-in-minutes 30	-- half an hour, after a tab
 * @expect-rows 1..10 -- between one and ten
 * @expect dashes: note <> 'a -- b' -- a quoted "--" stays
 */
SELECT id, note FROM crlf.src$d$) AS commented;
SELECT name, refresh_interval FROM pipeline.matviews WHERE name = 'commented';
SELECT options FROM pipeline.matview_definitions WHERE name = 'commented';
SELECT crlf.try($d$/**
 * @matview-schema crlf
 * @matview-name glued
 * @interval-in-minutes 60
 * @expect-unique id--not a comment
 */
SELECT id, note FROM crlf.src$d$) AS glued_dashes_are_the_value;
-- a delete function's name of bad syntax is refused naming key and line
SELECT crlf.try($d$/**
 * @matview-schema crlf
 * @matview-name lake
 * @matview-type unload
 * @unload-destination /nonexistent/lake
 * @unload-partition-by id
 * @unload-delete-function public."unterminated
 * @interval-in-minutes 60
 */
SELECT id, note FROM crlf.src$d$) AS bad_delete_function;

-- a document copied from a web page (the Datacoral documents the product
-- was born from) is indented with no-break spaces (here ~): spaces in the
-- header and outside the query's quotes; inside a literal, a quoted
-- identifier or a dollar quote they are data and stay
SELECT pipeline.define(replace($d$/**
~* @datacoral O-1.0.0
~* @matview-schema~crlf
~* @matview-name nbsp~~
~* @interval-in-minutes 60
~*/
SELECT
~~~~~id,
~~~~~note AS "a~b", -- it's a comment~
~~~~~'x~''~y' AS lit, /* nested /* it's ~ */ ' */
~~~~~E'\'~' AS escaped,
~~~~~$q$~$q$ AS dollar
FROM
~~~~~crlf.src;$d$, '~', chr(160))) AS nbsp;
SELECT replace(query, chr(160), '~') AS query FROM pipeline.matviews WHERE name = 'nbsp';
SELECT replace(attname, chr(160), '~') AS column FROM pg_attribute
 WHERE attrelid = 'crlf.mv_nbsp'::regclass AND attnum > 0 ORDER BY attnum;
SELECT id, replace(lit, chr(160), '~') AS lit, replace(escaped, chr(160), '~') AS escaped,
       replace(dollar, chr(160), '~') AS dollar
  FROM crlf.mv_nbsp ORDER BY id;
-- a typed literal ending in a backslash (date'...', not E'...') does not
-- throw the quotes off: the no-break space in the next literal stays
SELECT pipeline.create_matview('crlf', 'nbsp_typed',
                               replace($q$SELECT text'C:\' AS dir,~'a~b' AS label FROM crlf.src$q$, '~', chr(160)),
                               '1 hour') AS nbsp_typed;
SELECT replace(label, chr(160), '~') AS label, dir FROM crlf.mv_nbsp_typed LIMIT 1;
-- create_matview() and check() read their query the same way
SELECT pipeline.create_matview('crlf', 'nbsp_query',
                               replace('SELECT~id~FROM~crlf.src~WHERE~note~<>~''~''', '~', chr(160)),
                               '1 hour') AS nbsp_query;
SELECT replace(query, chr(160), '~') AS query FROM pipeline.matviews WHERE name = 'nbsp_query';
SELECT status FROM pipeline.check('crlf.mv_nbsp_query', replace('SELECT~id~FROM~crlf.src', '~', chr(160)));
-- a name may hold $ (x$$q$): it starts no dollar quote, and the one after
-- it keeps its no-break spaces
SELECT pipeline.create_matview('crlf', 'nbsp_dollar',
                               replace('SELECT 1 AS x$$q$, $q$~data~$q$ AS y', '~', chr(160)),
                               '1 hour') AS nbsp_dollar;
SELECT replace(y, chr(160), '~') AS y FROM crlf.mv_nbsp_dollar;

-- clean up
SELECT pipeline.drop_matview(matview) FROM pipeline.matviews WHERE schema_name = 'crlf';
DROP SCHEMA crlf CASCADE;
