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

-- ==== change capture (sql/install/70_capture.sql, src/views/capture.h) ====
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

-- Differential refresh (src/views/differential.c): where each differential
-- view's last refresh left off, the snapshot it read its sources and their
-- change logs in, with its transaction and command id (which of that
-- transaction's own writes it saw).  Derived state: not dumped (a restored
-- view's first refresh is full), owned by the extension's owner, readable by
-- nobody else, deleted with its view.  A view's state table
-- (pipeline.state_<oid>, grouped views) is made when the view is, belongs
-- to the view's owner and is a member of the extension (so not dumped).
CREATE TABLE pipeline.differential_positions (
    matview     regclass PRIMARY KEY
                REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    snapshot    pg_snapshot NOT NULL,
    xid         xid8 NOT NULL,
    command_id  bigint NOT NULL,
    row_count   bigint NOT NULL,            -- the view's rows after that refresh
    settings    text NOT NULL DEFAULT '',   -- the settings its answer depends on
    saved_at    timestamptz NOT NULL        -- past pipeline.change_log_retention,
                DEFAULT now()               -- the position is forgotten
);
REVOKE ALL ON pipeline.differential_positions FROM PUBLIC;
COMMENT ON TABLE pipeline.differential_positions IS
    'Where each differentially refreshed view''s last refresh left off in its sources'' change logs';

-- On each differential view's table, BEFORE INSERT, UPDATE, DELETE or
-- TRUNCATE, per statement, ENABLE ALWAYS: only the view's refresh writes
-- it.  Fired, never called; creating a trigger on it needs EXECUTE, which
-- only the extension's owner has.
CREATE FUNCTION pipeline.view_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_view_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.view_guard() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.view_guard() IS
    'Trigger on differential views'' tables: refuses writes but their refresh''s';
