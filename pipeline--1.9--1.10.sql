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

-- the scheduler of this database serves views again when this commits
SELECT pipeline.wake();
