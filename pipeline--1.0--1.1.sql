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

-- incremental views are tables: the drop guard names them as views, not materialized views
CREATE OR REPLACE FUNCTION pipeline.guard_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pipeline
AS $$
DECLARE
    doomed text;
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
END
$$;
