-- pipeline 1.0 -> 1.1
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.1'" to load this file. \quit

-- apply_changes() checks every change in the merge's own sorted pass
DROP FUNCTION pipeline.apply_changes_tie();
CREATE FUNCTION pipeline.apply_changes_row(op text, delete_op text, seq "any",
                                           VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_row'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_row(text, text, "any", "any") IS
    'Internal to pipeline.apply_changes(); only counts while apply_changes() runs';

-- incremental views are tables: the drop guard names them as views, not
-- materialized views, and refuses to drop what they read
CREATE OR REPLACE FUNCTION pipeline.guard_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pipeline
AS $$
DECLARE
    doomed text;
    readers text;
BEGIN
    IF pipeline.ddl_in_progress() THEN
        RETURN;
    END IF;
    SELECT string_agg(o.object_identity, ', ' ORDER BY o.object_identity)
      INTO doomed
      FROM pg_event_trigger_dropped_objects() o
      JOIN pipeline.matview_definitions d ON d.matview::oid = o.objid
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop managed view(s) % outside pipeline', doomed
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'The command would drop them (directly or by CASCADE) and leave the pipeline catalog inconsistent.',
                  HINT = 'Drop managed views with pipeline.drop_matview() first, or change them with pipeline.define() / pipeline.stage().';
    END IF;
    -- an incremental view is a table: PostgreSQL records no dependency on
    -- what its query reads, so its sources are guarded here
    SELECT string_agg(DISTINCT o.object_identity, ', '),
           string_agg(DISTINCT e.downstream::text, ', ')
      INTO doomed, readers
      FROM pg_event_trigger_dropped_objects() o
      JOIN pipeline.edges e ON e.upstream::oid = o.objid
      JOIN pipeline.matview_definitions d
        ON d.matview = e.downstream AND d.matview_type = 'incremental'
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop % because incremental view(s) % read it', doomed, readers
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop the incremental views with pipeline.drop_matview() or redefine them with pipeline.define() first.';
    END IF;
END
$$;

-- A run is claimed by inserting its row.  1.0 could record two runs of one
-- view for one label and attempt (two run_due passes at once): number the
-- later ones as further attempts before the constraint goes on.
UPDATE pipeline.runs r
   SET attempt = top.attempt + later.k
  FROM (SELECT run_id, matview, time_label,
               row_number() OVER (PARTITION BY matview, time_label ORDER BY run_id) AS k
          FROM (SELECT run_id, matview, time_label,
                       row_number() OVER (PARTITION BY matview, time_label, attempt
                                          ORDER BY run_id) AS n
                  FROM pipeline.runs) numbered
         WHERE n > 1) later,
       (SELECT matview, time_label, max(attempt) AS attempt
          FROM pipeline.runs GROUP BY matview, time_label) top
 WHERE r.run_id = later.run_id
   AND top.matview = later.matview AND top.time_label = later.time_label;
ALTER TABLE pipeline.runs
    ADD CONSTRAINT runs_matview_time_label_attempt_key UNIQUE (matview, time_label, attempt);

-- The background scheduler keeps the DAG and every view's run state between
-- ticks.  Any write to the tables they come from invalidates that table's
-- relcache entry when the writing transaction commits, which tells the
-- scheduler to reload.
CREATE FUNCTION pipeline.schedule_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_schedule_changed'
LANGUAGE C;
COMMENT ON FUNCTION pipeline.schedule_changed() IS
    'Statement trigger on matview_definitions, edges and runs: tells the background scheduler to reload them';
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.matview_definitions
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.edges
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.runs
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();
