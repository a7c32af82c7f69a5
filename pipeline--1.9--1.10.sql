-- pipeline 1.9 -> 1.10
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.10'" to load this file. \quit

-- set_after_refresh() takes the hook by OID as well (API.md section 4),
-- such as a regprocedure that create_external_function() returned; a
-- quoted literal still resolves to the (regclass, text) form
CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, regprocedure) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn by its OID';

-- a mark is a value of the view's key: readable by who may see the view
ALTER TABLE pipeline.incremental_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY incremental_state_of_visible_views ON pipeline.incremental_state FOR SELECT
    USING (pipeline.can_see(matview));

-- Whether the current role reads every row of relation: true unless row
-- level security applies to it there (its owner, a superuser or a role
-- with BYPASSRLS reads them all; a forced policy binds the owner too).
-- The side tables of a target under row-level security (ingested ids,
-- rejected messages, deleted keys) show its rows only to such a role,
-- since which of them a policy would let the role see is not known (1.10).
-- Every name in it qualified, and no SET clause, so a policy inlines it.
CREATE FUNCTION pipeline.reads_all_rows(relation regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.row_security_active(relation) IS NOT TRUE $$;
COMMENT ON FUNCTION pipeline.reads_all_rows(regclass) IS
    'Whether no row-level security applies to the current role on relation: the policies of pipeline''s side tables (ingested, rejected, deleted_keys) use it';
ALTER POLICY ingested_target_readers ON pipeline.ingested
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));
ALTER POLICY rejected_target_readers ON pipeline.rejected
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target)
           AND (source IS NULL OR (pg_catalog.has_table_privilege(source, 'SELECT')
                                   AND pipeline.reads_all_rows(source))));
ALTER POLICY deleted_keys_target_readers ON pipeline.deleted_keys
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));

-- the scheduler of this database serves views again when this commits
SELECT pipeline.wake();
