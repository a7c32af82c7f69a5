-- pipeline 1.7 -> 1.8: the deleted-key memory of apply_changes() keeps one
-- index instead of two (issue 10): expired keys are pruned at most every
-- eighth of the retention, found through pipeline.deleted_keys_targets.
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.8'" to load this file. \quit

DROP INDEX pipeline.deleted_keys_expiry_idx;

CREATE TABLE pipeline.deleted_keys_targets (
    target      regclass PRIMARY KEY,
    pruned_at   timestamptz NOT NULL,
    keys        bigint NOT NULL     -- how many are remembered
);
COMMENT ON TABLE pipeline.deleted_keys_targets IS
    'Targets with deleted keys remembered in pipeline.deleted_keys, how many, and when their expired keys were last pruned; written only by apply_changes()';
SELECT pg_catalog.pg_extension_config_dump('pipeline.deleted_keys_targets', '');
REVOKE ALL ON pipeline.deleted_keys_targets FROM PUBLIC;
GRANT SELECT ON pipeline.deleted_keys_targets TO PUBLIC;
ALTER TABLE pipeline.deleted_keys_targets ENABLE ROW LEVEL SECURITY;
CREATE POLICY deleted_keys_targets_readers ON pipeline.deleted_keys_targets FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT'));
-- the targets remembered so far, due for pruning at their next apply
INSERT INTO pipeline.deleted_keys_targets (target, pruned_at, keys)
SELECT target, '-infinity'::timestamptz, count(*) FROM pipeline.deleted_keys GROUP BY target;

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
END
$$;
