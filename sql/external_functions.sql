-- External functions, after-refresh hooks and unload: the SQL surface and
-- every bad input that needs no HTTP server (the TAP test 050 covers calls).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
RESET client_min_messages;

-- the admin role exists
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'pipeline_admin';

-- bad signatures
SELECT pipeline.create_external_function('public.ext_f(x text', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x text DEFAULT ''a'')', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(OUT x text)', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x text) RETURNS int LANGUAGE sql AS $$select 1$$; --', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x text) RETURNS void SECURITY DEFINER --', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x bytea)', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'record', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('public.ext_f(x no_such_type)', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('no_such_schema.ext_f(x text)', 'text', 'http://127.0.0.1:1/f');
-- not in pipeline's schema or PostgreSQL's, not even for a superuser
SELECT pipeline.create_external_function('pipeline.ext_f(x text)', 'text', 'http://127.0.0.1:1/f');
SELECT pipeline.create_external_function('pg_catalog.ext_f(x text)', 'text', 'http://127.0.0.1:1/f');
-- bad endpoints and settings
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'ftp://127.0.0.1/f');
-- no host: libcurl would read the path as one
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http:///f');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'file:///etc/passwd');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http://127.0.0.1 /f');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', '127.0.0.1:80/f');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http://127.0.0.1:1/f', 'sometimes');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http://127.0.0.1:1/f', max_batch_rows => 0);
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http://127.0.0.1:1/f', retries => -1);
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', 'http://127.0.0.1:1/f', timeout => '0');
SELECT pipeline.create_external_function('public.ext_f(x text)', 'text', NULL);
-- each function names its null argument
SELECT * FROM pipeline.invoke(NULL, '[]');
SELECT * FROM pipeline.unload('SELECT 1', NULL);
SELECT * FROM pipeline.check(NULL::regclass, 'SELECT 1');
-- nothing was created by any of those
SELECT count(*) FROM pg_proc WHERE proname = 'ext_f';
SELECT count(*) FROM pipeline.external_functions;

-- a good one: a real C function, not executable by PUBLIC
SELECT pipeline.create_external_function('public.ext_f(s text, n int, flags boolean[])', 'numeric',
       'http://127.0.0.1:1/f', 'stable', 10, '2 seconds', 0);
SELECT p.oid::regprocedure, l.lanname, p.provolatile, p.prosrc, p.proacl
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.proname = 'ext_f';
SELECT * FROM pipeline.external_functions;
SELECT pipeline.create_external_function('public.ext_f(s text, n int, flags boolean[])', 'numeric',
       'http://127.0.0.1:1/f');
-- nothing listens on port 1: a connection failure names function and endpoint
SELECT ext_f('a', 1, '{true}');

-- invoke: bad arguments are refused before anything is sent
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '{"a": 1}');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, []], ["b", 2]]');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, []], 7]');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[]');
-- a value that does not fit its parameter's type, in any row, before any
-- request (nothing listens: a request would fail to connect instead)
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, []], ["b", "x", []]]');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 2.5, []]]');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, [true, "maybe"]]]');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, {"b": true}]]');
SELECT * FROM pipeline.invoke('lower(text)', '[["A"]]');

-- security: a plain role may neither create nor call
CREATE ROLE ext_user;
CREATE ROLE ext_admin IN ROLE pipeline_admin;
CREATE SCHEMA ext_admin_s AUTHORIZATION ext_admin;
SET ROLE ext_user;
SELECT pipeline.create_external_function('public.ext_g(x text)', 'text', 'http://127.0.0.1:1/g');
SELECT ext_f('a', 1, '{}');
SELECT * FROM pipeline.invoke('ext_f(text,int,boolean[])', '[["a", 1, []]]');
SELECT pipeline.drop_external_function('ext_f(text,int,boolean[])');
SELECT count(*) FROM pipeline.external_functions;  -- readable by all
RESET ROLE;
-- a member of pipeline_admin creates in schemas it may create in, and owns the result
SET ROLE ext_admin;
SELECT pipeline.create_external_function('public.ext_g(x text)', 'text', 'http://127.0.0.1:1/g');
SELECT pipeline.create_external_function('ext_admin_s.ext_g(x text)', 'text', 'http://127.0.0.1:1/g');
SELECT pg_get_userbyid(proowner), proacl FROM pg_proc WHERE oid = 'ext_admin_s.ext_g(text)'::regprocedure;
-- an admin may not drop what it does not own
SELECT pipeline.drop_external_function('ext_f(text,int,boolean[])');
-- and may not write the catalog directly
DELETE FROM pipeline.external_function_definitions;
RESET ROLE;

-- pipeline.allowed_endpoints (superuser only)
SET ROLE ext_admin;
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/';
RESET ROLE;
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/allowed/, https://api.example.com';
SELECT pipeline.create_external_function('public.ext_h(x text)', 'text', 'http://127.0.0.1:1/other');
SELECT pipeline.create_external_function('public.ext_h(x text)', 'text', 'https://api.example.com.evil.org/h');
SELECT pipeline.create_external_function('public.ext_h(x text)', 'text', 'https://api.example.com/h');
SELECT pipeline.create_external_function('public.ext_i(x text)', 'text', 'HTTP://127.0.0.1:1/allowed/i');
RESET pipeline.allowed_endpoints;

-- allowed_endpoints compares normalised URLs (libcurl's parse: dot segments
-- removed, scheme and host case-folded, default port explicit) and matches
-- prefixes on path-segment boundaries
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/ok';
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/../../evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%2e%2E/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/.%2e');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/okay');
-- another port of the same host is another endpoint
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:2/ok');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1/ok');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/..;/evil');
-- the same with ';' encoded (a server that decodes before stripping ";x"
-- reads "..%3B" as ".."), tried by an admin with a trap schema first in its path
CREATE SCHEMA ext_trap AUTHORIZATION ext_admin;
SET ROLE ext_admin;
CREATE FUNCTION ext_trap.trap_eq(text, text) RETURNS boolean LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
CREATE OPERATOR ext_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = ext_trap.trap_eq);
CREATE FUNCTION ext_trap.lower(text) RETURNS text LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
SET search_path = ext_trap, pg_catalog;
SELECT pipeline.create_external_function('ext_admin_s.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/..%3b/evil');
SELECT pipeline.create_external_function('ext_admin_s.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/.%3Bx/evil');
RESET search_path;
DROP SCHEMA ext_trap CASCADE;
RESET ROLE;
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/a%2f..%2f..%2fevil');
-- an encoded '%': a server or proxy that decodes twice reads "%252e%252e" as ".."
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%252e%252e/evil');
-- a dot segment to a server that ends a path at a NUL or strips blanks,
-- and an overlong UTF-8 '.' that old decoders read as one (h128)
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/..%00/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/..%20/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/.%09./evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%c0%ae%c0%ae/evil');
-- Unicode blanks, fullwidth dots and three dots (h129)
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/..%C2%A0/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%EF%BC%8E%EF%BC%8E/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/.../evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%E2%80%A5%C2%AD/evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok\..\evil');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1@evil.example/ok');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'https://127.0.0.1:1/ok');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://127.0.0.1:1/ok/%zz');
SELECT count(*) FROM pg_proc WHERE proname = 'ext_x';
-- admitted: the prefix itself, below it, a query string, spellings of the same URL
SELECT pipeline.create_external_function('public.ext_x1(x text)', 'text', 'http://127.0.0.1:1/ok');
SELECT pipeline.create_external_function('public.ext_x2(x text)', 'text', 'HTTP://127.0.0.1:1/ok/./a/../b?c=../../d', retries => 0);
SELECT pipeline.create_external_function('public.ext_x3(x text)', 'text', 'http://127.0.0.1:1/%6Fk/%7e');
SELECT pipeline.create_external_function('public.ext_x7(x text)', 'text', 'http://127.0.0.1:1/ok/my%20fn/.well-known/%C3%A9/.%20x/..a');
SET pipeline.allowed_endpoints = 'http://Example.COM/api/, http://127.0.0.1:1/ok';
SELECT pipeline.create_external_function('public.ext_x4(x text)', 'text', 'http://example.com:80/api/v1');
SELECT pipeline.create_external_function('public.ext_x5(x text)', 'text', 'http://example.com/api');
SET pipeline.allowed_endpoints = 'http://[::1]:1/ok';
SELECT pipeline.create_external_function('public.ext_x6(x text)', 'text', 'http://[::1]:1/ok/v6');
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://[::2]:1/ok');
-- a zone id names an interface the host part does not show: refused
SELECT pipeline.create_external_function('public.ext_x(x text)', 'text', 'http://[::1%25eth1]:1/ok/v6');
SET pipeline.allowed_endpoints = 'http://[fe80::1%25eth0]:1/ok';
-- an entry that is not a plain URL prefix is refused by SET and ALTER ROLE ... SET
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/ok, ftp://127.0.0.1/';
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/ok?x=1';
SET pipeline.allowed_endpoints = 'http://user@127.0.0.1:1/ok';
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/ok/..;/x';
ALTER ROLE ext_admin SET pipeline.allowed_endpoints = 'nonsense';
SHOW pipeline.allowed_endpoints;
RESET pipeline.allowed_endpoints;

-- the list is checked at every call: narrowing it stops existing functions
-- at their next call (nothing listens on port 1, so a call that passes the
-- check fails to connect)
SELECT pipeline.create_external_function('public.ext_n(x text)', 'text', 'http://127.0.0.1:1/ok/../n', retries => 0);
SELECT endpoint FROM pipeline.external_functions WHERE fn = 'ext_n(text)'::regprocedure;
SELECT ext_n('a');
SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/ok';
SELECT ext_n('a');
SELECT * FROM pipeline.invoke('ext_n(text)', '[["a"]]');
SELECT ext_x2('a');
BEGIN;
SET LOCAL pipeline.allowed_endpoints = 'http://127.0.0.1:1/n';
SELECT ext_n('a');
ROLLBACK;
SELECT ext_n('a');
RESET pipeline.allowed_endpoints;
SELECT ext_n('a');
SELECT pipeline.drop_external_function(fn) FROM pipeline.external_functions
 WHERE fn::text ~ '^ext_(x[0-9]|n)\(';

-- dropping
SELECT pipeline.drop_external_function('lower(text)');
-- one a managed view calls: PostgreSQL's refusal, with a hint that fits
CREATE TABLE ext_calls (s text);
SELECT pipeline.create_matview('public', 'ext_calls', 'SELECT ext_h(s) AS h FROM public.ext_calls', '1 hour');
SELECT pipeline.drop_external_function('ext_h(text)');
SELECT pipeline.drop_matview('public.mv_ext_calls');
DROP TABLE ext_calls;
SELECT pipeline.drop_external_function('ext_h(text)');
SELECT pipeline.drop_external_function('ext_i(text)');
SET ROLE ext_admin;
SELECT pipeline.drop_external_function('ext_admin_s.ext_g(text)');
RESET ROLE;
SELECT fn, endpoint FROM pipeline.external_functions;
SELECT count(*) FROM pg_proc WHERE proname IN ('ext_g', 'ext_h', 'ext_i');

-- after-refresh hooks: run as the view's owner; their failure fails the refresh
CREATE ROLE ext_mv_owner;
CREATE SCHEMA ext_mv AUTHORIZATION ext_mv_owner;
SET ROLE ext_mv_owner;
CREATE TABLE ext_mv.src (id int);
GRANT USAGE ON SCHEMA ext_mv TO ext_user;
INSERT INTO ext_mv.src VALUES (1), (2);
CREATE TABLE ext_mv.hook_log (matview regclass, time_label timestamptz, who name);
SELECT pipeline.create_matview('ext_mv', 'counts', 'SELECT count(*) AS n FROM ext_mv.src', '1 hour');
CREATE FUNCTION ext_mv.log_refresh(m regclass, t timestamptz) RETURNS void
LANGUAGE sql AS $$ INSERT INTO ext_mv.hook_log VALUES (m, t, current_user) $$;
CREATE FUNCTION ext_mv.fail_refresh(m regclass, t timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hook says no to %', m; END $$;
CREATE FUNCTION ext_mv.wrong_args(m regclass) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.wrong_args(regclass)');
SELECT pipeline.set_after_refresh('ext_mv.src', 'ext_mv.log_refresh(regclass,timestamptz)');
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.log_refresh(regclass,timestamptz)');
SELECT matview, fn FROM pipeline.after_refresh_hooks;
-- a bare name is enough when it names exactly one function
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', NULL);
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.log_refresh');
SELECT matview, fn FROM pipeline.after_refresh_hooks;
CREATE FUNCTION ext_mv.log_refresh(m text) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.log_refresh');
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.no_such_hook');
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.wrong_args');
DROP FUNCTION ext_mv.log_refresh(text);
SELECT matview, fn FROM pipeline.after_refresh_hooks;
-- by OID (API.md section 4): a regprocedure, checked the same way
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.wrong_args(regclass)'::regprocedure);
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', NULL::regprocedure);
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.log_refresh(regclass,timestamptz)'::regprocedure);
SELECT matview, fn FROM pipeline.after_refresh_hooks;
RESET ROLE;
SET ROLE ext_user;
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', NULL);
RESET ROLE;
-- the superuser refreshes; the hook runs as ext_mv_owner
SELECT matview, status, rows FROM pipeline.refresh('ext_mv.mv_counts');
SELECT matview, time_label = date_trunc('hour', now()) AS labelled, who FROM ext_mv.hook_log;
SET ROLE ext_mv_owner;
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', 'ext_mv.fail_refresh(regclass,timestamptz)');
INSERT INTO ext_mv.src VALUES (3);
RESET ROLE;
SELECT matview, status, rows FROM pipeline.refresh('ext_mv.mv_counts');
SELECT n FROM ext_mv.mv_counts;  -- the failed run left the old contents
SET ROLE ext_mv_owner;
SELECT pipeline.set_after_refresh('ext_mv.mv_counts', NULL);
RESET ROLE;
SELECT matview, status, rows FROM pipeline.refresh('ext_mv.mv_counts');
SELECT n FROM ext_mv.mv_counts;
SELECT count(*) FROM ext_mv.hook_log;
SELECT count(*) FROM pipeline.after_refresh_hooks;

-- unload: privileges and arguments
SELECT current_setting('data_directory') || '/ext_unload' AS dir \gset
SET ROLE ext_user;
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir');
RESET ROLE;
SELECT * FROM pipeline.unload('SELECT 1 AS a', 'relative/dir');
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir' || '/../escape');
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir', format => 'parquet');
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir', '{b}');
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir', '{a}');
SELECT * FROM pipeline.unload('SELECT 1 AS a, 2 AS b', :'dir', '{a,a}');
SELECT * FROM pipeline.unload('SELECT 1 AS a, 2 AS b', :'dir', '{a,NULL}');
SELECT * FROM pipeline.unload('DELETE FROM ext_mv.src', :'dir');
-- the query is one SELECT, run as given: text that would close the
-- subquery it runs in is refused, a trailing semicolon is dropped
SELECT * FROM pipeline.unload('SELECT 1 AS a) q1, (SELECT 2 AS b', :'dir' || '/breakout');
SELECT count(*) FROM pipeline.unload('SELECT 7 AS a;', :'dir' || '/semicolon');
SELECT count(*) FROM pipeline.unload(E'; SELECT 7 AS a; -- a comment\n/* another */', :'dir' || '/semicolon', overwrite => true);
-- partition values that try to leave the destination are encoded, and a
-- value spelled as NULL's directory is told apart from NULL
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload($$SELECT * FROM (VALUES ('../../etc', 1, 'x'), ('/abs/path', 1, 'y'),
                                              ('..', 2, 'z'), ('a=b%c d', 3, 'w'),
                                              (NULL, 4, 'n'), ('..', 2, 'zz'),
                                              ('__HIVE_DEFAULT_PARTITION__', 4, 'h')) v(p, q, val)$$,
                       :'dir', '{p,q}');
SELECT pg_ls_dir(:'dir') AS entry ORDER BY 1;
-- CSV quoting as COPY writes it, with a header
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload($$SELECT * FROM (VALUES (1, 'plain', 'a,b', 'say "hi"', E'two\nlines', '', NULL::text),
                                              (2, 'x', ' lead', '\.', 'ok', 'e', 'f')) v(k, "we,ird", b, c, d, e, f)$$,
                       :'dir' || '/csv');
SELECT pg_read_file(:'dir' || '/csv/part-00000.csv');
-- existing files are an error unless overwrite; a failed unload leaves nothing behind
\set VERBOSITY sqlstate
SELECT * FROM pipeline.unload('SELECT 1 AS a', :'dir' || '/csv');
\set VERBOSITY default
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload('SELECT 1 AS a', :'dir' || '/csv', overwrite => true);
SELECT pg_read_file(:'dir' || '/csv/part-00000.csv');
SELECT * FROM pipeline.unload($$SELECT * FROM (VALUES ('short', 1), (repeat('v', 300), 2)) v(p, x)$$,
                              :'dir' || '/long', '{p}');
SELECT pg_stat_file(:'dir' || '/long', true);
SELECT * FROM pipeline.unload($$SELECT p, 1/(p - 2) AS x FROM generate_series(1, 3) p$$,
                              :'dir' || '/div', '{p}');
SELECT pg_stat_file(:'dir' || '/div', true);

-- paths and CSV are the same whatever the session's DateStyle and
-- TimeZone (a timestamptz in UTC), as a lake publication writes them
SET DateStyle = 'SQL, DMY';
SELECT replace(path, :'dir', '<dir>') AS path, rows
  FROM pipeline.unload($$SELECT d, d::timestamptz AS at FROM (VALUES ('2020-01-06'::date)) v(d)$$,
                       :'dir' || '/dates', '{d}');
SELECT pg_read_file(:'dir' || '/dates/d=2020-01-06/part-00000.csv');
RESET DateStyle;

-- clean up
SELECT pipeline.drop_external_function('ext_f(text,int,boolean[])');
SELECT pipeline.drop_matview('ext_mv.mv_counts');
DROP SCHEMA ext_mv CASCADE;
DROP SCHEMA ext_admin_s CASCADE;
DROP ROLE ext_mv_owner;
DROP ROLE ext_user;
DROP ROLE ext_admin;
SELECT count(*) FROM pipeline.external_functions;
