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

-- change tracking
-- What a success has seen also orders its own transaction's writes
-- (src/change_tracking.h).  Rows written by 1.1 keep being judged by their
-- snapshot alone: xid 0 is no transaction's.
ALTER TABLE pipeline.changes ADD COLUMN command_id bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline.changes ALTER COLUMN command_id DROP DEFAULT;
ALTER TABLE pipeline.refresh_snapshots ADD COLUMN xid xid8 NOT NULL DEFAULT '0',
    ADD COLUMN command_id bigint NOT NULL DEFAULT 0;
ALTER TABLE pipeline.refresh_snapshots ALTER COLUMN xid DROP DEFAULT,
    ALTER COLUMN command_id DROP DEFAULT;
COMMENT ON FUNCTION pipeline.record_change() IS
    'Trigger on sources of managed views: notes that this transaction changed the table';
REVOKE ALL ON FUNCTION pipeline.record_change() FROM PUBLIC;
-- The tracking trigger fires always (also under session_replication_role =
-- replica), and a row trigger beside it fires for replication apply
-- workers, which fire no statement triggers.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT n.nspname, c.relname
               FROM pg_catalog.pg_trigger g
               JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE g.tgname = 'pipeline_record_change'
                AND g.tgfoid = 'pipeline.record_change()'::pg_catalog.regprocedure
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER pipeline_record_change',
                                  t.nspname, t.relname);
        EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER pipeline_record_change_replica'
                                  ' AFTER INSERT OR UPDATE OR DELETE ON %I.%I FOR EACH ROW'
                                  ' EXECUTE FUNCTION pipeline.record_change()',
                                  t.nspname, t.relname);
        EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE REPLICA TRIGGER pipeline_record_change_replica',
                                  t.nspname, t.relname);
    END LOOP;
END
$$;
CREATE EVENT TRIGGER pipeline_guard_tracking ON ddl_command_start
    WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER')
    EXECUTE FUNCTION pipeline.guard_ddl_command_start();
ALTER EVENT TRIGGER pipeline_guard_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_tracking ENABLE ALWAYS;
