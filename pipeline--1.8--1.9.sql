-- pipeline 1.8 -> 1.9: differential refresh merges the best values of the
-- rows that came into what a grouped view's state keeps for min() and max()
-- (issue 12), and a state made from now on keeps one count of non-NULL
-- values per argument rather than per aggregate.
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.9'" to load this file. \quit

CREATE FUNCTION pipeline.extremes_merged(kept anyarray, old_count bigint, deleted anyarray,
                                         deleted_counts bigint[], inserted anyarray,
                                         new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_merged'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_merged(anyarray, bigint, anyarray, bigint[], anyarray, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and inserts';
-- and of the rows that came, each delta row counted as many times as the
-- rows it stands for
CREATE FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean, bigint)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_final'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.kept_extremes(anyelement, boolean, bigint) (
    SFUNC = pipeline.kept_extremes_step,
    STYPE = internal,
    SSPACE = 100,
    FINALFUNC = pipeline.kept_extremes_final,
    FINALFUNC_EXTRA
);
COMMENT ON AGGREGATE pipeline.kept_extremes(anyelement, boolean, bigint) IS
    'Internal to differential refresh: a group''s best values kept for min() (false) or max() (true), each value counted the given times';

-- 1.9: the largest display scale among a delta's numeric values and of how
-- many rows (each value counted as many times as the rows it stands for),
-- in one pass: two aggregates sharing one state (src/views/diff_scale.c)
CREATE FUNCTION pipeline.scale_census_step(internal, numeric, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_scale_census_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.scale_census_scale(internal)
RETURNS integer
AS 'MODULE_PATHNAME', 'pipeline_scale_census_scale'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.scale_census_rows(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pipeline_scale_census_rows'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.max_scale(numeric, bigint) (
    SFUNC = pipeline.scale_census_step,
    STYPE = internal,
    SSPACE = 16,
    FINALFUNC = pipeline.scale_census_scale
);
COMMENT ON AGGREGATE pipeline.max_scale(numeric, bigint) IS
    'Internal to differential refresh: the largest display scale among the values';
CREATE AGGREGATE pipeline.max_scale_rows(numeric, bigint) (
    SFUNC = pipeline.scale_census_step,
    STYPE = internal,
    SSPACE = 16,
    FINALFUNC = pipeline.scale_census_rows
);
COMMENT ON AGGREGATE pipeline.max_scale_rows(numeric, bigint) IS
    'Internal to differential refresh: how many rows have the largest display scale among the values, each value counted the given times';

-- the scheduler of this database serves views again when this commits
SELECT pipeline.wake();
