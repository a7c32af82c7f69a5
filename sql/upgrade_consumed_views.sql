-- Upgrading while a stream reads one of pipeline's own views: the update
-- script's CREATE OR REPLACE VIEW of pipeline.status (1.24) keeps its
-- columns, so the stream follows it. (It refused the update, as it refuses
-- a user's replacement of a view a stream consumes, so any role that may
-- create a stream could keep a database's scheduler idle, its SQL older
-- than the library.)  The stream's owner is a plain role with a hostile
-- schema first in its search_path.  In a database of its own.
SET client_min_messages = warning;
CREATE DATABASE pipeline_upgrade_consumed;
\c pipeline_upgrade_consumed
SET client_min_messages = warning;
SET timezone = 'UTC';

CREATE EXTENSION pipeline VERSION '1.23';
CREATE ROLE upc_mallory;
CREATE SCHEMA upc_m AUTHORIZATION upc_mallory;
CREATE SCHEMA upc_trap AUTHORIZATION upc_mallory;
SET ROLE upc_mallory;
CREATE FUNCTION upc_trap.time_label(interval) RETURNS timestamptz LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END$$;
SET search_path = upc_trap, public;
SELECT pipeline.create_matview('upc_m', 'seen',
    'SELECT matview::oid::bigint AS id FROM pipeline.status', '1 hour', 'incremental', 'id');
SELECT count(*) AS streamed FROM upc_m.mv_seen;
RESET ROLE;
RESET search_path;

ALTER EXTENSION pipeline UPDATE TO '1.24';
SELECT extversion FROM pg_extension WHERE extname = 'pipeline';
-- the stream still runs, as its owner
SET ROLE upc_mallory;
SET search_path = upc_trap, public;
SELECT pipeline.create_matview('upc_m', 'second', 'SELECT 1 AS n', '1 hour');
SELECT status, rows FROM pipeline.refresh('upc_m.mv_seen');
SELECT count(*) AS streamed FROM upc_m.mv_seen;
RESET ROLE;
RESET search_path;

\c contrib_regression
DROP DATABASE pipeline_upgrade_consumed;
DROP ROLE upc_mallory;
