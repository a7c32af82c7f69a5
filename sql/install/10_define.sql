-- pipeline: defining and dropping managed views.

CREATE FUNCTION pipeline.define(dpl text)
RETURNS regclass
AS 'MODULE_PATHNAME', 'pipeline_define'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.define(text) IS
    'Creates (or redefines) the materialized view described by a Datacoral DPL document';

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

CREATE FUNCTION pipeline.drop_matview(matview regclass, "cascade" boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_drop_matview'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.drop_matview(regclass, boolean) IS
    'Drops a managed view; with cascade, its managed downstream views too';
