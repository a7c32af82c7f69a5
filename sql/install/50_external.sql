-- pipeline: external functions over HTTP, after-refresh hooks, unload.

-- Roles are cluster-wide: create the admin role only where it is missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pipeline_admin') THEN
        CREATE ROLE pipeline_admin NOLOGIN;
    END IF;
END
$$;

CREATE TABLE pipeline.external_function_definitions (
    fn              regprocedure PRIMARY KEY,
    endpoint        text NOT NULL CHECK (endpoint ~* '^https?://'),
    max_batch_rows  int NOT NULL CHECK (max_batch_rows BETWEEN 1 AND 100000),
    timeout         interval NOT NULL
                    CHECK (timeout > interval '0' AND timeout <= interval '1 day'),
    retries         int NOT NULL CHECK (retries BETWEEN 0 AND 100),
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pipeline.external_function_definitions IS
    'External functions and their HTTP endpoints; read pipeline.external_functions, write through pipeline.create_external_function()';

CREATE TABLE pipeline.after_refresh_hooks (
    matview  regclass PRIMARY KEY
             REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    fn       regprocedure NOT NULL
);
COMMENT ON TABLE pipeline.after_refresh_hooks IS
    'Functions called after each successful refresh of a view; write through pipeline.set_after_refresh()';

SELECT pg_catalog.pg_extension_config_dump('pipeline.external_function_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('pipeline.after_refresh_hooks', '');

CREATE VIEW pipeline.external_functions AS
SELECT d.fn, d.endpoint, d.max_batch_rows, d.timeout, d.retries
  FROM pipeline.external_function_definitions d
  JOIN pg_catalog.pg_proc p ON p.oid = d.fn;

REVOKE ALL ON pipeline.external_function_definitions, pipeline.after_refresh_hooks,
    pipeline.external_functions FROM PUBLIC;
GRANT SELECT ON pipeline.external_function_definitions, pipeline.after_refresh_hooks,
    pipeline.external_functions TO PUBLIC;

CREATE FUNCTION pipeline.create_external_function(signature text, returns regtype,
                                                  endpoint text,
                                                  volatility text DEFAULT 'volatile',
                                                  max_batch_rows int DEFAULT 100,
                                                  timeout interval DEFAULT '30 seconds',
                                                  retries int DEFAULT 2)
RETURNS regprocedure
AS 'MODULE_PATHNAME', 'pipeline_create_external_function'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.create_external_function(text, regtype, text, text, int, interval, int) IS
    'Creates a SQL function whose body is an HTTP endpoint speaking the Redshift Lambda UDF protocol';

CREATE FUNCTION pipeline.drop_external_function(fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_drop_external_function'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.drop_external_function(regprocedure) IS
    'Drops an external function created by pipeline.create_external_function()';

CREATE FUNCTION pipeline.invoke(fn regprocedure, arguments jsonb)
RETURNS TABLE(ordinality bigint, result jsonb)
AS 'MODULE_PATHNAME', 'pipeline_invoke'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.invoke(regprocedure, jsonb) IS
    'Calls an external function on many argument rows ([[a1,a2..],..]), max_batch_rows per request';

CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn text)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, text) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn is a name or a signature';

-- 1.10: fn by OID as well (API.md section 4), such as a regprocedure that
-- create_external_function() returned; a quoted literal still means text
CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, regprocedure) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn by its OID';

CREATE FUNCTION pipeline.unload(query text, destination text,
                                partition_by text[] DEFAULT '{}',
                                format text DEFAULT 'csv',
                                overwrite boolean DEFAULT false)
RETURNS TABLE(path text, rows bigint)
AS 'MODULE_PATHNAME', 'pipeline_unload'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.unload(text, text, text[], text, boolean) IS
    'Writes a query''s rows as CSV files under destination, one directory level per partition column';

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON VIEW pipeline.external_functions IS
    'The external functions: each one''s endpoint, batch size, timeout and retries';
