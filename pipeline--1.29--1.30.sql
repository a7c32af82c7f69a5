-- pipeline 1.29 -> 1.30: a function another role's view names as its
-- after-refresh hook or a lake publication's delete function no longer
-- pins it: only a role with the view owner's privileges is refused its
-- drop.  Before, any role could keep another from dropping its own
-- function (EXECUTE is PUBLIC's by default), DROP SCHEMA ... CASCADE and
-- DROP OWNED of it too.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.30'" to load this file. \quit

CREATE OR REPLACE FUNCTION pipeline.guard_function_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
       AND pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = u.matview),
                                  'USAGE')
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
