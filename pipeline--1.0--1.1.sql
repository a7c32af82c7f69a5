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
