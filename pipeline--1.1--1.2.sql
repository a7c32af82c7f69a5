-- pipeline 1.1 -> 1.2: hardening
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.2'" to load this file. \quit

-- launcher, DROP EXTENSION and version skew
-- DROP EXTENSION pipeline leaves the managed views as they are
-- (sql/install/45_drop_extension.sql).
CREATE FUNCTION pipeline.before_drop_extension()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_before_drop_extension'
LANGUAGE C;
COMMENT ON FUNCTION pipeline.before_drop_extension() IS
    'Event trigger: readies DROP EXTENSION pipeline (removes the tracking triggers, stops refreshes)';
REVOKE ALL ON FUNCTION pipeline.before_drop_extension() FROM PUBLIC;

CREATE EVENT TRIGGER pipeline_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION pipeline.before_drop_extension();

-- The scheduler stays idle while the installed SQL is older than the
-- library; wake it when this update commits.
SELECT pipeline.wake();
