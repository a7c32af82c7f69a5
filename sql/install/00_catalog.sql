-- pipeline: metadata catalogs.
--
-- The tables are written only by the extension's functions (which switch to
-- the catalog owner for the write); everyone may read them.  They are
-- registered with pg_extension_config_dump so pg_dump keeps the pipeline.

\echo Use "CREATE EXTENSION pipeline" to load this file. \quit

CREATE TABLE pipeline.matview_definitions (
    matview            regclass PRIMARY KEY,
    schema_name        name NOT NULL,
    name               text NOT NULL,
    matview_type       text NOT NULL DEFAULT 'regular'
                       CHECK (matview_type IN ('regular', 'incremental', 'mirror', 'unload')),
    refresh_interval   interval NOT NULL CHECK (refresh_interval >= interval '1 second'),
    query              text NOT NULL,
    incremental_key    text,
    datacoral_version  text,
    version            int NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- the query bound at definition: fully qualified, deparsed as
    -- PostgreSQL deparses a view; every re-analysis uses it
    bound_query        text NOT NULL,
    -- how a regular view is refreshed (NULL for any other type): the mode
    -- its definition asked for, the mode it got, and why it is refreshed
    -- fully when it is
    requested_refresh_mode text
        CONSTRAINT matview_definitions_requested_refresh_mode_check
        CHECK (requested_refresh_mode IN ('auto', 'differential', 'full')),
    refresh_mode       text
        CONSTRAINT matview_definitions_refresh_mode_check
        CHECK (refresh_mode IN ('differential', 'full')),
    full_refresh_reason text,
    UNIQUE (schema_name, name),
    -- a stream needs its incremental key, a mirror may have one
    CONSTRAINT matview_definitions_check
        CHECK (CASE matview_type WHEN 'incremental' THEN incremental_key IS NOT NULL
                                 WHEN 'mirror' THEN true
                                 ELSE incremental_key IS NULL END),
    CONSTRAINT matview_definitions_requested_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (requested_refresh_mode IS NOT NULL)),
    CONSTRAINT matview_definitions_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (refresh_mode IS NOT NULL)),
    CONSTRAINT matview_definitions_full_refresh_reason_check
        CHECK ((refresh_mode IS NOT DISTINCT FROM 'full') = (full_refresh_reason IS NOT NULL)),
    -- the DPL keys given that have no column of their own (a mirror's
    -- keys, ...), as create_matview()'s options take them
    options            jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT matview_definitions_options_check CHECK (jsonb_typeof(options) = 'object'),
    -- a lake publication's delete function, resolved when it was defined
    -- and kept by OID (1.11); options keep @unload-delete-function as given
    delete_function    regprocedure
        CONSTRAINT matview_definitions_delete_function_check
        CHECK (delete_function IS NULL OR matview_type = 'unload')
);
COMMENT ON TABLE pipeline.matview_definitions IS
    'Managed materialized views; read pipeline.matviews instead, write through pipeline.define()';
COMMENT ON COLUMN pipeline.matview_definitions.requested_refresh_mode IS
    'The refresh mode the definition asked for (auto, differential, full); NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.refresh_mode IS
    'How the view is refreshed: differential or full; NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.full_refresh_reason IS
    'Why the view is refreshed fully; NULL unless refresh_mode is full';
COMMENT ON COLUMN pipeline.matview_definitions.options IS
    'The DPL keys given without a column of their own (mirror-keys, ...), as create_matview() options';
COMMENT ON COLUMN pipeline.matview_definitions.delete_function IS
    'A lake publication''s delete function (@unload-delete-function), resolved when defined and called by OID; NULL when none';

CREATE TABLE pipeline.edges (
    upstream    regclass NOT NULL,
    downstream  regclass NOT NULL REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    PRIMARY KEY (downstream, upstream)
);
CREATE INDEX edges_upstream_idx ON pipeline.edges (upstream);
COMMENT ON TABLE pipeline.edges IS
    'Dependency DAG: upstream (a source relation or managed view) feeds downstream (a managed view)';

SELECT pg_catalog.pg_extension_config_dump('pipeline.matview_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('pipeline.edges', '');

CREATE VIEW pipeline.matviews AS
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

REVOKE ALL ON ALL TABLES IN SCHEMA pipeline FROM PUBLIC;
GRANT USAGE ON SCHEMA pipeline TO PUBLIC;
GRANT SELECT ON pipeline.matview_definitions, pipeline.edges, pipeline.matviews TO PUBLIC;

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON VIEW pipeline.matviews IS
    'The managed views: one row each, with its query, columns, owner, version and refresh mode; readable by everyone';
