-- pipeline: DROP EXTENSION pipeline leaves the managed views as they are.
-- Before PostgreSQL looks at what depends on the extension, this event
-- trigger removes the change-tracking triggers on source tables (they call
-- pipeline.record_change()), cancels the database's refreshes and makes its
-- scheduler stand aside, all in the DROP's transaction (drop_extension.c).

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
-- also under session_replication_role = replica (1.26)
ALTER EVENT TRIGGER pipeline_drop_extension ENABLE ALWAYS;
