-- ingest() and create_external_function(): limits an attack pass found
-- unenforced, and endpoints carrying credentials everyone could read.  A
-- dedup id too long for pipeline.ingested's index rejects
-- its message, not the batch; create_external_function() asks for the
-- caller's USAGE on its argument and result types, as CREATE FUNCTION
-- does (the function is made as the catalog owner).  As non-superusers
-- with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE io_writer LOGIN;
CREATE ROLE io_admin LOGIN IN ROLE pipeline_admin;
CREATE SCHEMA io AUTHORIZATION io_writer;
GRANT USAGE, CREATE ON SCHEMA io TO io_admin;
CREATE SCHEMA io_trap;
GRANT USAGE ON SCHEMA io_trap TO PUBLIC;
CREATE FUNCTION io_trap.length(text) RETURNS int LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: length ran as %', current_user; END $f$;
CREATE FUNCTION io_trap.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: unnest ran as %', current_user; END $f$;
CREATE DOMAIN public.io_private AS text;
REVOKE USAGE ON DOMAIN public.io_private FROM PUBLIC;
RESET client_min_messages;

SET ROLE io_writer;
SET search_path = io_trap, public, pg_catalog;
CREATE TABLE io.events (dedup_id text, n int);
SELECT * FROM pipeline.ingest('io.events',
  jsonb_build_array(jsonb_build_object('dedup_id', 'short', 'n', 1),
                    jsonb_build_object('dedup_id', repeat(md5('x'), 100), 'n', 2),
                    jsonb_build_object('dedup_id', 'also short', 'n', 3)));
SELECT dedup_id, n FROM io.events ORDER BY n;
SELECT error FROM pipeline.rejected WHERE target = 'io.events'::regclass;
RESET search_path;
RESET ROLE;

SET ROLE io_admin;
SET search_path = io_trap, public, pg_catalog;
SELECT pipeline.create_external_function('io.f(x public.io_private)', 'text', 'http://127.0.0.1:9/f');
SELECT pipeline.create_external_function('io.g(x text)', 'public.io_private', 'http://127.0.0.1:9/g');
-- credentials in an endpoint would be readable by every role
SELECT pipeline.create_external_function('io.s(x text)', 'text', 'http://svc:S3cr3t@127.0.0.1:9/s');
SELECT pipeline.create_external_function('io.h(x text)', 'text', 'http://127.0.0.1:9/h');
-- in a temporary schema the definition row would outlive the function
SELECT pipeline.create_external_function('pg_temp.t(x text)', 'text', 'http://127.0.0.1:9/t');
SELECT pipeline.drop_external_function(NULL);
SELECT pipeline.drop_external_function('io.h(text)');
RESET search_path;
RESET ROLE;
SELECT count(*) AS none_left FROM pg_proc WHERE pronamespace = 'io'::regnamespace;
SELECT count(*) AS no_definitions_left FROM pipeline.external_function_definitions
 WHERE endpoint = 'http://127.0.0.1:9/t';

-- clean up
SET client_min_messages = warning;
DELETE FROM pipeline.ingested WHERE target = 'io.events'::regclass;
DELETE FROM pipeline.rejected WHERE target = 'io.events'::regclass;
DROP SCHEMA io CASCADE;
DROP SCHEMA io_trap CASCADE;
DROP DOMAIN public.io_private;
DROP ROLE io_writer, io_admin;
