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

-- run history: consecutive skipped labels of a view are one row of
-- pipeline.runs (the rows of 1.1 each stand for one label)
ALTER TABLE pipeline.runs
    ADD COLUMN last_time_label timestamptz,
    ADD COLUMN label_count int NOT NULL DEFAULT 1;
COMMENT ON TABLE pipeline.runs IS
    'One row per refresh attempt of a managed view for a time label; consecutive skipped labels share one row';
COMMENT ON COLUMN pipeline.runs.last_time_label IS
    'The last of the consecutive skipped labels this row stands for; NULL for a row of one label';
COMMENT ON COLUMN pipeline.runs.label_count IS
    'How many time labels this row stands for (1, or the number of consecutive skipped labels)';
CREATE OR REPLACE VIEW pipeline.status AS
WITH last_run AS (
    SELECT DISTINCT ON (r.matview) r.matview, r.status, r.error, r.time_label
      FROM pipeline.runs r
     ORDER BY r.matview, r.time_label DESC, r.run_id DESC
), last_success AS (
    -- a row of consecutive skipped labels succeeded for its last label
    SELECT DISTINCT ON (r.matview) r.matview, coalesce(r.last_time_label, r.time_label) AS time_label,
           r.finished_at
      FROM pipeline.runs r
     WHERE r.status IN ('succeeded', 'skipped')
     ORDER BY r.matview, r.time_label DESC, r.run_id DESC
)
SELECT d.matview,
       d.refresh_interval,
       s.time_label AS last_success_label,
       s.finished_at AS last_success_at,
       l.status AS last_status,
       l.error AS last_error,
       CASE WHEN s.time_label IS NULL THEN pipeline.time_label(d.refresh_interval)
            ELSE s.time_label + d.refresh_interval END AS next_label,
       now() - s.time_label AS freshness,
       coalesce((SELECT array_agg(b.upstream ORDER BY b.upstream::text)
                   FROM pipeline.blocking_upstreams(d.matview) b), '{}') AS blocked_by
  FROM pipeline.matview_definitions d
  LEFT JOIN last_run l ON l.matview = d.matview
  LEFT JOIN last_success s ON s.matview = d.matview;

-- access: who may read what (row-level security on runs, status as
-- security invoker, unknown upstreams in blocked_by and graph())
CREATE FUNCTION pipeline.can_see(relation regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_can_see'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs)';

DROP FUNCTION pipeline.graph_nodes();
CREATE FUNCTION pipeline.graph_nodes()
RETURNS TABLE (rel regclass, id text, label text, managed boolean, "position" int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pipeline
AS $$
    WITH nodes AS (
        SELECT d.matview AS rel,
               d.matview::text || E'\n' || 'every ' || pipeline.interval_label(d.refresh_interval) AS label,
               true AS managed
          FROM pipeline.matview_definitions d
        UNION
        SELECT e.upstream, e.upstream::text, false
          FROM pipeline.edges e
         WHERE NOT EXISTS (SELECT 1 FROM pipeline.matview_definitions d WHERE d.matview = e.upstream)
    ), judged AS (
        SELECT n.rel, n.label, n.managed, pipeline.can_see(n.rel) AS seen FROM nodes n
    )
    SELECT j.rel,
           CASE WHEN j.seen THEN j.rel::text
                ELSE 'unknown ' || row_number() OVER (PARTITION BY j.seen ORDER BY j.rel::oid) END,
           CASE WHEN j.seen THEN j.label ELSE 'unknown' END,
           CASE WHEN j.seen THEN j.managed END,
           (row_number() OVER (ORDER BY NOT j.seen, CASE WHEN j.seen THEN j.rel::text END,
                                        j.rel::oid))::int
      FROM judged j;
$$;

CREATE OR REPLACE FUNCTION pipeline.graph(format text DEFAULT 'dot')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pipeline
AS $$
DECLARE
    result text;
BEGIN
    IF format = 'dot' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes())
        SELECT 'digraph pipeline {' || E'\n'
            || '  rankdir=LR;' || E'\n'
            || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
            || coalesce((SELECT string_agg(format('  %s [label=%s, shape=%s];',
                                                   to_json(n.id), to_json(n.label),
                                                   CASE WHEN n.managed THEN 'box'
                                                        WHEN NOT n.managed THEN 'cylinder'
                                                        ELSE 'box, style=dashed' END),
                                            E'\n' ORDER BY n.position)
                           FROM nodes n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s -> %s;', to_json(u.id), to_json(d.id)),
                                            E'\n' ORDER BY u.position, d.position)
                           FROM pipeline.edges e
                           JOIN nodes u ON u.rel = e.upstream
                           JOIN nodes d ON d.rel = e.downstream), '')
            || E'\n}' || E'\n'
          INTO result;
    ELSIF format = 'mermaid' THEN
        WITH nodes AS (
            SELECT n.*, 'n' || n.position AS mid FROM pipeline.graph_nodes() n
        )
        SELECT 'graph LR' || E'\n'
            || coalesce((SELECT string_agg('  ' || n.mid
                                           || CASE WHEN NOT n.managed THEN '[("' ELSE '["' END
                                           || replace(replace(n.label, '"', '#quot;'), E'\n', '<br/>')
                                           || CASE WHEN NOT n.managed THEN '")]' ELSE '"]' END,
                                           E'\n' ORDER BY n.position)
                           FROM nodes n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s --> %s', u.mid, d.mid),
                                            E'\n' ORDER BY u.position, d.position)
                           FROM pipeline.edges e
                           JOIN nodes u ON u.rel = e.upstream
                           JOIN nodes d ON d.rel = e.downstream), '')
            || E'\n'
          INTO result;
    ELSIF format = 'json' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes())
        SELECT jsonb_build_object(
                 'nodes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'relation', n.id,
                                              'managed', n.managed,
                                              'refresh_interval', pipeline.interval_label(d.refresh_interval),
                                              'level', o.level)
                                            ORDER BY n.position)
                                      FROM nodes n
                                      LEFT JOIN pipeline.matview_definitions d
                                             ON d.matview = n.rel AND n.managed
                                      LEFT JOIN pipeline.refresh_order() o
                                             ON o.matview = n.rel AND n.managed),
                                   '[]'),
                 'edges', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'upstream', u.id,
                                              'downstream', d.id)
                                            ORDER BY u.position, d.position)
                                      FROM pipeline.edges e
                                      JOIN nodes u ON u.rel = e.upstream
                                      JOIN nodes d ON d.rel = e.downstream),
                                   '[]'))::text
          INTO result;
    ELSE
        RAISE EXCEPTION 'unknown graph format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''dot'', ''mermaid'' or ''json''.';
    END IF;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION pipeline.blocking_upstreams(matview regclass)
RETURNS TABLE (upstream regclass)
AS 'MODULE_PATHNAME', 'pipeline_blocking_upstreams'
LANGUAGE C STABLE STRICT;

ALTER VIEW pipeline.status SET (security_invoker = true);

ALTER TABLE pipeline.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_of_visible_views ON pipeline.runs FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));

-- functions in SQL resolve nothing through pg_temp ahead of the catalog
ALTER FUNCTION pipeline.upstream(regclass) SET search_path = pg_catalog, pipeline, pg_temp;
ALTER FUNCTION pipeline.downstream(regclass) SET search_path = pg_catalog, pipeline, pg_temp;
ALTER FUNCTION pipeline.graph(text) SET search_path = pg_catalog, pipeline, pg_temp;
ALTER FUNCTION pipeline.graph_nodes() SET search_path = pg_catalog, pipeline, pg_temp;
ALTER FUNCTION pipeline.interval_label(interval) SET search_path = pg_catalog, pg_temp;
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

-- trigger functions are fired, never called: not executable by PUBLIC
REVOKE ALL ON FUNCTION pipeline.schedule_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION pipeline.guard_ddl_command_start(), pipeline.guard_sql_drop() FROM PUBLIC;
ALTER FUNCTION pipeline.guard_sql_drop() SET search_path = pg_catalog, pipeline, pg_temp;
-- apply_changes: the deleted-key memory (out-of-order batches never resurrect deleted rows)

-- The deleted-key memory of apply_changes(): the sequence of every key a
-- delete removed from a target, so that an older change arriving later
-- (an out-of-order batch) never brings the row back.  key is the key's text
-- (a row literal for several key columns) and sequence the sequence's, both
-- written with DateStyle ISO and TimeZone UTC.  Kept for
-- pipeline.deleted_keys_retention after the delete (pruned by the next
-- apply into the target); a dropped target's keys go with it.  Written only
-- by apply_changes() (as the catalog owner); a row is readable by whoever
-- may read the target.
CREATE TABLE pipeline.deleted_keys (
    target      regclass NOT NULL,
    key         text COLLATE "C" NOT NULL,
    sequence    text NOT NULL,
    deleted_at  timestamptz NOT NULL,
    PRIMARY KEY (target, key)
);
-- what pruning reads; the keys an apply remembers share one deleted_at,
-- which deduplication would make slow to insert
CREATE INDEX deleted_keys_expiry_idx ON pipeline.deleted_keys (target, deleted_at)
    WITH (deduplicate_items = off);
COMMENT ON TABLE pipeline.deleted_keys IS
    'Keys apply_changes() deleted, with the delete''s sequence: older changes of them are not applied; written only by apply_changes()';
SELECT pg_catalog.pg_extension_config_dump('pipeline.deleted_keys', '');
REVOKE ALL ON pipeline.deleted_keys FROM PUBLIC;
GRANT SELECT ON pipeline.deleted_keys TO PUBLIC;
ALTER TABLE pipeline.deleted_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY deleted_keys_target_readers ON pipeline.deleted_keys FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT'));

-- internal: apply_changes()'s MERGE calls these as the caller, so they are
-- executable by PUBLIC; outside apply_changes() they do nothing
CREATE FUNCTION pipeline.apply_changes_deleting(seq "any", VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_deleting'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_deleting("any", "any") IS
    'Internal to pipeline.apply_changes(): remembers the sequence of a row a null-sequence delete removes';
CREATE FUNCTION pipeline.apply_changes_insertable(seq "any", VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_insertable'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_insertable("any", "any") IS
    'Internal to pipeline.apply_changes(): false when a remembered delete of the key is not older than the change';

-- a dropped table's deleted keys go with it (its OID may be reused)
CREATE FUNCTION pipeline.forget_deleted_keys()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pipeline.deleted_keys d
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND d.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
END
$$;
REVOKE ALL ON FUNCTION pipeline.forget_deleted_keys() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.forget_deleted_keys() IS
    'Event trigger: removes the deleted keys of dropped tables from pipeline.deleted_keys';
CREATE EVENT TRIGGER pipeline_forget_deleted_keys ON sql_drop
    EXECUTE FUNCTION pipeline.forget_deleted_keys();
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
