-- pipeline 1.10 -> 1.11
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.11'" to load this file. \quit

-- A lake publication's delete function is kept by OID, as hooks are
-- (API.md section 7): resolved when the publication is defined, called by
-- OID at every run, so a renamed function keeps working.  The options keep
-- @unload-delete-function as given.
ALTER TABLE pipeline.matview_definitions
    ADD COLUMN delete_function regprocedure
        CONSTRAINT matview_definitions_delete_function_check
        CHECK (delete_function IS NULL OR matview_type = 'unload');
COMMENT ON COLUMN pipeline.matview_definitions.delete_function IS
    'A lake publication''s delete function (@unload-delete-function), resolved when defined and called by OID; NULL when none';
-- 1.5 to 1.10 kept it in the options as a qualified signature
-- (format_procedure_qualified), resolved at definition: it names the same
-- function under any search_path.  One dropped (or renamed) since stays NULL,
-- and the publication's runs fail saying so until it is redefined.
UPDATE pipeline.matview_definitions
   SET delete_function = pg_catalog.to_regprocedure(options OPERATOR(pg_catalog.->>) 'unload-delete-function')
 WHERE matview_type OPERATOR(pg_catalog.=) 'unload'
   AND options OPERATOR(pg_catalog.?) 'unload-delete-function';

-- 1.11: a function a managed view calls by OID, an after-refresh hook or a
-- lake publication's delete function, is not dropped from under it
-- (DROP FUNCTION, with CASCADE too, DROP SCHEMA ... CASCADE, DROP OWNED,
-- drop_external_function()): PostgreSQL records no dependency on it.
-- Pipeline's own DDL is held to it too; a command that drops the view as
-- well passes (the view's own guard above has its say about that).
CREATE FUNCTION pipeline.guard_function_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pipeline, pg_temp
AS $$
DECLARE
    doomed text;
    uses text;
    n int;
BEGIN
    SELECT string_agg(DISTINCT o.object_identity, ', ' ORDER BY o.object_identity),
           string_agg(format('%s is the %s of %s', o.object_identity, u.what, u.matview),
                      '; ' ORDER BY o.object_identity, u.what, u.matview::text),
           count(DISTINCT o.objid)
      INTO doomed, uses, n
      FROM pg_event_trigger_dropped_objects() o
      JOIN (SELECT h.fn::oid AS fn, h.matview, 'after-refresh hook' AS what
              FROM pipeline.after_refresh_hooks h
            UNION ALL
            SELECT d.delete_function::oid, d.matview, 'delete function'
              FROM pipeline.matview_definitions d
             WHERE d.delete_function IS NOT NULL) u ON u.fn = o.objid
     WHERE o.classid = 'pg_catalog.pg_proc'::regclass
       AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() v
                        WHERE v.classid = 'pg_catalog.pg_class'::regclass AND v.objsubid = 0
                          AND v.objid = u.matview::oid);
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop function% % because managed views call %',
                        CASE WHEN n > 1 THEN 's' ELSE '' END, doomed,
                        CASE WHEN n > 1 THEN 'them' ELSE 'it' END
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = uses || '.',
                  HINT = 'Clear the hook with pipeline.set_after_refresh(view, NULL), or redefine the publication with another @unload-delete-function or without one, first.';
    END IF;
END
$$;
COMMENT ON FUNCTION pipeline.guard_function_drop() IS
    'Event trigger: refuses dropping a function that a managed view calls by OID (an after-refresh hook, a lake publication''s delete function)';
REVOKE ALL ON FUNCTION pipeline.guard_function_drop() FROM PUBLIC;
CREATE EVENT TRIGGER pipeline_guard_function_drop ON sql_drop
    EXECUTE FUNCTION pipeline.guard_function_drop();
ALTER EVENT TRIGGER pipeline_guard_function_drop ENABLE ALWAYS;

-- the scheduler of this database serves views again when this commits
SELECT pipeline.wake();
