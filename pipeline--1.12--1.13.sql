-- pipeline 1.12 -> 1.13
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.13'" to load this file. \quit

-- A dropped table's ingested dedup ids and rejected messages go with it, as
-- its deleted keys did: they outlived it under its bare OID, and a table
-- given that OID later (a restore, wraparound) inherited them: its ingests
-- counted as duplicates, its readers saw the rejected messages.  Not when
-- pipeline itself drops the table: a rebuilt view's rows move to its new
-- OID, and drop_matview() removes a dropped view's own.
CREATE OR REPLACE FUNCTION pipeline.forget_deleted_keys()
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
    DELETE FROM pipeline.deleted_keys_targets d
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND d.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
    IF pipeline.ddl_in_progress() THEN
        RETURN;
    END IF;
    DELETE FROM pipeline.ingested i
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND i.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
    DELETE FROM pipeline.rejected r
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND r.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
END
$$;
REVOKE ALL ON FUNCTION pipeline.forget_deleted_keys() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.forget_deleted_keys() IS
    'Event trigger: removes what pipeline keeps of dropped tables (deleted keys; ingested ids and rejected messages unless pipeline drops them)';

-- what earlier versions left behind
DELETE FROM pipeline.ingested i
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) i.target::pg_catalog.oid);
DELETE FROM pipeline.rejected r
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) r.target::pg_catalog.oid);
