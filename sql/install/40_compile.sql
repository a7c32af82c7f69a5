-- pipeline: the compile step -- checks, redefinitions, update sets, and the
-- event triggers that guard managed views against DDL outside the API.

CREATE FUNCTION pipeline."check"(dpl text)
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_dpl'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline."check"(text) IS
    'Would this definition break any downstream view?  Changes nothing';

CREATE FUNCTION pipeline."check"(matview regclass, new_query text)
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_query'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline."check"(regclass, text) IS
    'Would this new query for a managed view break any downstream view?  Changes nothing';

-- Update sets: per user (staged_by), keyed by the view's schema and name.
CREATE TABLE pipeline.staged_changes (
    staged_by    oid NOT NULL,
    schema_name  name NOT NULL,
    name         text NOT NULL,
    dpl          text NOT NULL,
    query        text NOT NULL,
    staged_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (staged_by, schema_name, name)
);
COMMENT ON TABLE pipeline.staged_changes IS
    'Staged DPL documents of each user''s update set; read pipeline.staged, write through pipeline.stage()';
REVOKE ALL ON pipeline.staged_changes FROM PUBLIC;

-- security_barrier (1.23): a cheap function in a caller's WHERE must not see
-- other roles' rows before the view's own filter drops them
CREATE VIEW pipeline.staged WITH (security_barrier) AS
SELECT s.schema_name::text || '.' || s.name AS name,
       s.query,
       s.staged_at
  FROM pipeline.staged_changes s
 WHERE s.staged_by = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
GRANT SELECT ON pipeline.staged TO PUBLIC;

CREATE FUNCTION pipeline.stage(dpl text)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_stage'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.stage(text) IS
    'Adds a DPL document to the calling user''s update set (replacing one for the same view)';

CREATE FUNCTION pipeline.check_staged()
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.check_staged() IS
    'Judges the final state of the whole update set; changes nothing';

CREATE FUNCTION pipeline.apply_staged()
RETURNS TABLE (matview regclass, action text)
AS 'MODULE_PATHNAME', 'pipeline_apply_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_staged() IS
    'Applies the whole update set, all or nothing, then empties it';

CREATE FUNCTION pipeline.discard_staged()
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_discard_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.discard_staged() IS
    'Empties the calling user''s update set';

-- The guard.
CREATE FUNCTION pipeline.ddl_in_progress()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_ddl_in_progress'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.ddl_in_progress() IS
    'True while pipeline itself runs DDL on managed views';

CREATE FUNCTION pipeline.guard_ddl_command_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_guard_ddl_command_start'
LANGUAGE C;

CREATE FUNCTION pipeline.guard_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
    -- an incremental view, a mirror and a publication are tables:
    -- PostgreSQL records no dependency on what their queries read, so
    -- their sources are guarded here (1.13: mirrors and publications too)
    SELECT string_agg(DISTINCT o.object_identity, ', '),
           string_agg(DISTINCT e.downstream::text, ', ')
      INTO doomed, readers
      FROM pg_event_trigger_dropped_objects() o
      JOIN pipeline.edges e ON e.upstream::oid = o.objid
      JOIN pipeline.matview_definitions d
        ON d.matview = e.downstream AND d.matview_type IN ('incremental', 'mirror', 'unload')
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop % because incremental view(s) % read it', doomed, readers
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop the incremental views with pipeline.drop_matview() or redefine them with pipeline.define() first.';
    END IF;
END
$$;

CREATE EVENT TRIGGER pipeline_guard_ddl ON ddl_command_start
    WHEN TAG IN ('DROP MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW',
                 'ALTER TABLE', 'ALTER INDEX', 'ALTER VIEW')
    EXECUTE FUNCTION pipeline.guard_ddl_command_start();
CREATE EVENT TRIGGER pipeline_guard_drop ON sql_drop
    EXECUTE FUNCTION pipeline.guard_sql_drop();
-- the change-tracking triggers on sources (src/change_tracking.h): not
-- dropped, renamed, replaced or created outside the API
CREATE EVENT TRIGGER pipeline_guard_tracking ON ddl_command_start
    WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER')
    EXECUTE FUNCTION pipeline.guard_ddl_command_start();
-- also in sessions with session_replication_role = replica
ALTER EVENT TRIGGER pipeline_guard_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_tracking ENABLE ALWAYS;

-- trigger functions: fired, never called
REVOKE ALL ON FUNCTION pipeline.guard_ddl_command_start(), pipeline.guard_sql_drop() FROM PUBLIC;

-- 1.11: a function a managed view calls by OID, an after-refresh hook or a
-- lake publication's delete function, is not dropped from under it
-- (DROP FUNCTION, with CASCADE too, DROP SCHEMA ... CASCADE, DROP OWNED,
-- drop_external_function()): PostgreSQL records no dependency on it.
-- Pipeline's own DDL is held to it too; a command that drops the view as
-- well passes (the view's own guard above has its say about that).
-- 1.30: only for a role with the view owner's privileges (a superuser
-- too): any role may name another's function (EXECUTE is PUBLIC's by
-- default), and its owner's drop passes then, as DROP ... CASCADE would
-- drop a view of another role that calls it; the view's runs then fail,
-- saying the function no longer exists.
CREATE FUNCTION pipeline.guard_function_drop()
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
COMMENT ON FUNCTION pipeline.guard_function_drop() IS
    'Event trigger: refuses dropping a function that a managed view calls by OID (an after-refresh hook, a lake publication''s delete function)';
REVOKE ALL ON FUNCTION pipeline.guard_function_drop() FROM PUBLIC;
CREATE EVENT TRIGGER pipeline_guard_function_drop ON sql_drop
    EXECUTE FUNCTION pipeline.guard_function_drop();
ALTER EVENT TRIGGER pipeline_guard_function_drop ENABLE ALWAYS;

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.guard_ddl_command_start() IS
    'The guard''s ddl_command_start event trigger: refuses DDL outside pipeline that would break a managed view';
COMMENT ON FUNCTION pipeline.guard_sql_drop() IS
    'The guard''s sql_drop event trigger: refuses dropping a managed view outside pipeline.drop_matview()';
COMMENT ON VIEW pipeline.staged IS
    'The calling user''s update set: the DPL documents stage() holds until apply_staged() or discard_staged()';
