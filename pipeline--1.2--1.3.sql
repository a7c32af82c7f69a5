-- pipeline 1.2 -> 1.3: differential refresh
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.3'" to load this file. \quit

-- Refresh modes (API.md section 8).  A regular view defined before 1.3 is
-- a materialized view and keeps refreshing fully until it is redefined.
ALTER TABLE pipeline.matview_definitions
    ADD COLUMN requested_refresh_mode text
        CONSTRAINT matview_definitions_requested_refresh_mode_check
        CHECK (requested_refresh_mode IN ('auto', 'differential', 'full')),
    ADD COLUMN refresh_mode text
        CONSTRAINT matview_definitions_refresh_mode_check
        CHECK (refresh_mode IN ('differential', 'full')),
    ADD COLUMN full_refresh_reason text;
UPDATE pipeline.matview_definitions
   SET requested_refresh_mode = 'auto',
       refresh_mode = 'full',
       full_refresh_reason = 'defined before differential refresh; redefine it to refresh differentially'
 WHERE matview_type = 'regular';
ALTER TABLE pipeline.matview_definitions
    ADD CONSTRAINT matview_definitions_requested_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (requested_refresh_mode IS NOT NULL)),
    ADD CONSTRAINT matview_definitions_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (refresh_mode IS NOT NULL)),
    ADD CONSTRAINT matview_definitions_full_refresh_reason_check
        CHECK ((refresh_mode IS NOT DISTINCT FROM 'full') = (full_refresh_reason IS NOT NULL));
COMMENT ON COLUMN pipeline.matview_definitions.requested_refresh_mode IS
    'The refresh mode the definition asked for (auto, differential, full); NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.refresh_mode IS
    'How the view is refreshed: differential or full; NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.full_refresh_reason IS
    'Why the view is refreshed fully; NULL unless refresh_mode is full';

CREATE OR REPLACE VIEW pipeline.matviews AS
SELECT d.matview,
       d.schema_name,
       d.name,
       d.matview_type,
       d.refresh_interval,
       d.query,
       (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod),
                          ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = d.matview AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       d.version,
       d.created_at,
       d.updated_at,
       d.refresh_mode,
       d.full_refresh_reason
  FROM pipeline.matview_definitions d
  JOIN pg_catalog.pg_class c ON c.oid = d.matview;

-- what a refresh says about how it ran
ALTER TABLE pipeline.runs ADD COLUMN detail text;
COMMENT ON COLUMN pipeline.runs.detail IS
    'What the refresh said about how it ran (differential, or full and why); NULL when it said nothing';

-- create_matview() takes its final shape (API.md section 0): a refresh mode
-- and every other DPL key as options
DROP FUNCTION pipeline.create_matview(name, text, text, interval, text, text);
-- options: every other DPL key by its name without '@', as a JSON string
-- (an array for a repeatable key)
CREATE FUNCTION pipeline.create_matview(target_schema name, name text, query text,
                                        refresh_interval interval,
                                        matview_type text DEFAULT 'regular',
                                        incremental_key text DEFAULT NULL,
                                        refresh_mode text DEFAULT 'auto',
                                        options jsonb DEFAULT '{}')
RETURNS regclass
AS 'MODULE_PATHNAME', 'pipeline_create_matview'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.create_matview(name, text, text, interval, text, text, text, jsonb) IS
    'Creates (or redefines) <target_schema>.mv_<name> from a query';
