-- pipeline: change capture for differential refresh (src/views/capture.h).
--
-- A table a differential view reads gets triggers calling
-- pipeline.capture_change(), which append the row images of every write
-- (the columns the views need) to the table's change log,
-- pipeline.capture_log_<n>.  The logs are created at run time by the
-- catalog owner and made extension members.
--
-- API.md section 0's checklist, for every table here and every log:
--   grants: none; REVOKE ALL FROM PUBLIC; only the extension (as the
--     catalog owner) reads or writes them, so no row-level security to state;
--   pg_dump: not registered (pg_extension_config_dump): they hold no user
--     state a restore needs; a restored database's first refresh of each
--     view is full and starts capture again (the dumped capture triggers
--     pass the guard's "as made" check and log nothing until then);
--   retention: log rows every consumer has consumed are pruned
--     (capture_prune(), after the run history is pruned); the catalog rows
--     go with their view (capture_unregister(), ON DELETE CASCADE) or their
--     table (the sql_drop trigger below);
--   dump/restore: test/t/074_capture_dump.pl (the triggers are dumped and
--     restored past the guard, logs and these tables are not).

CREATE SEQUENCE pipeline.capture_log_seq;
COMMENT ON SEQUENCE pipeline.capture_log_seq IS
    'Numbers the change logs pipeline.capture_log_<n>';

CREATE TABLE pipeline.capture_sources (
    source       regclass PRIMARY KEY,
    log_table    regclass NOT NULL,
    -- source attnums the log holds (column a<attnum>); only grows while captured
    columns      int2[] NOT NULL,
    -- the transaction that started or last widened capture: a refresh
    -- position that does not see it predates the capture
    capture_xid  xid8 NOT NULL
);
COMMENT ON TABLE pipeline.capture_sources IS
    'Tables whose changes are captured for differential refresh, and their change logs';

CREATE TABLE pipeline.capture_consumers (
    matview  regclass
             REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    source   regclass,
    columns  int2[] NOT NULL,
    PRIMARY KEY (matview, source)
);
COMMENT ON TABLE pipeline.capture_consumers IS
    'Which managed view needs which captured columns of which table';

REVOKE ALL ON pipeline.capture_sources, pipeline.capture_consumers,
    pipeline.capture_log_seq FROM PUBLIC;

-- fired, never called; creating a trigger on it needs EXECUTE, which only
-- the extension's owner has
CREATE FUNCTION pipeline.capture_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_capture_change'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.capture_change() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_change() IS
    'Trigger on tables differential views read: appends the changed rows to the table''s change log';

-- internal (the differential refresh registers its views itself); for tests
CREATE FUNCTION pipeline.capture_register(matview regclass, source regclass, columns int2[])
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_register'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_register(regclass, regclass, int2[]) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_register(regclass, regclass, int2[]) IS
    'Internal: the view needs these columns of the table; starts or widens capture';

CREATE FUNCTION pipeline.capture_unregister(matview regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_unregister'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_unregister(regclass) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_unregister(regclass) IS
    'Internal: the view needs no captured columns; stops capture of tables nobody needs';

CREATE FUNCTION pipeline.capture_prune(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_prune'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_prune(regclass) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_prune(regclass) IS
    'Internal: deletes the change-log rows of the table every consumer has consumed';

-- a dropped table's triggers go with it; its log and rows go here
CREATE FUNCTION pipeline.capture_forget_dropped()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_capture_forget_dropped'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.capture_forget_dropped() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_forget_dropped() IS
    'Event trigger: removes the change log and capture rows of dropped tables';
CREATE EVENT TRIGGER pipeline_capture_dropped ON sql_drop
    EXECUTE FUNCTION pipeline.capture_forget_dropped();
ALTER EVENT TRIGGER pipeline_capture_dropped ENABLE ALWAYS;
