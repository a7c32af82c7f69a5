-- pipeline 1.6 -> 1.7: min() and max() of differential views survive
-- deletes of their extreme (issue 12).  State tables made before keep the
-- extreme alone until their view is redefined.
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.7'" to load this file. \quit

CREATE FUNCTION pipeline.extremes_after(kept anyarray, old_count bigint, deleted anyarray,
                                        deleted_counts bigint[], inserted anyelement,
                                        new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_after'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_after(anyarray, bigint, anyarray, bigint[], anyelement, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and an insert';
-- and, when a state is filled from the sources, each group's best values
CREATE FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_final'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.kept_extremes(anyelement, boolean) (
    SFUNC = pipeline.kept_extremes_step,
    STYPE = internal,
    SSPACE = 100,               -- its fixed part: so the planner may hash groups
    FINALFUNC = pipeline.kept_extremes_final,
    FINALFUNC_EXTRA
);
COMMENT ON AGGREGATE pipeline.kept_extremes(anyelement, boolean) IS
    'Internal to differential refresh: a group''s best values kept for min() (false) or max() (true)';
