-- pipeline 1.1 -> 1.2: hardening
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.2'" to load this file. \quit

-- Stored queries are bound at definition (security): the deparsed, fully
-- qualified form every re-analysis uses.  A materialized view's is what its
-- rule holds; an incremental view's stored text is analyzed with its
-- owner's own search_path (role and database settings), the best reading of
-- what it meant.
ALTER TABLE pipeline.matview_definitions ADD COLUMN bound_query text;
CREATE FUNCTION pipeline.bind_stored_query(matview regclass) RETURNS text
AS 'MODULE_PATHNAME', 'pipeline_bind_stored_query' LANGUAGE C STRICT;
UPDATE pipeline.matview_definitions SET bound_query = pipeline.bind_stored_query(matview);
DROP FUNCTION pipeline.bind_stored_query(regclass);
ALTER TABLE pipeline.matview_definitions ALTER COLUMN bound_query SET NOT NULL;
