-- Differential refresh (src/views/differential.c): where each differential
-- view's last refresh left off, the snapshot it read its sources and their
-- change logs in, with its transaction and command id (which of that
-- transaction's own writes it saw).  Derived state: not dumped (a restored
-- view's first refresh is full), owned by the extension's owner, readable by
-- nobody else, deleted with its view.  A view's state table
-- (pipeline.state_<oid>, grouped views) is made when the view is, belongs
-- to the view's owner and is a member of the extension (so not dumped).
CREATE TABLE pipeline.differential_positions (
    matview     regclass PRIMARY KEY
                REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    snapshot    pg_snapshot NOT NULL,
    xid         xid8 NOT NULL,
    command_id  bigint NOT NULL,
    row_count   bigint NOT NULL,            -- the view's rows after that refresh
    settings    text NOT NULL DEFAULT '',   -- the settings its answer depends on
    saved_at    timestamptz NOT NULL        -- past pipeline.change_log_retention,
                DEFAULT now()               -- the position is forgotten
);
REVOKE ALL ON pipeline.differential_positions FROM PUBLIC;
COMMENT ON TABLE pipeline.differential_positions IS
    'Where each differentially refreshed view''s last refresh left off in its sources'' change logs';

-- On each differential view's table, BEFORE INSERT, UPDATE, DELETE or
-- TRUNCATE, per statement, ENABLE ALWAYS: only the view's refresh writes
-- it.  Fired, never called; creating a trigger on it needs EXECUTE, which
-- only the extension's owner has.
CREATE FUNCTION pipeline.view_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_view_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.view_guard() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.view_guard() IS
    'Trigger on differential views'' tables: refuses writes but their refresh''s';

-- 1.7: the best few values of a group that a grouped view's state keeps
-- for each min() and max() (src/views/diff_extremes.c), after a refresh's
-- changes; NULL when they are unknown and must be read from the sources.
-- A pure function of its arguments; the generated refresh SQL calls it as
-- the view's owner, so it is executable by PUBLIC.
CREATE FUNCTION pipeline.extremes_after(kept anyarray, old_count bigint, deleted anyarray,
                                        deleted_counts bigint[], inserted anyelement,
                                        new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_after'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_after(anyarray, bigint, anyarray, bigint[], anyelement, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and an insert';
-- 1.9: the same with the best values of the rows that came (kept_extremes()
-- of them) rather than the best alone: an append of several rows to a group
-- keeps its best values known instead of only the new best
CREATE FUNCTION pipeline.extremes_merged(kept anyarray, old_count bigint, deleted anyarray,
                                         deleted_counts bigint[], inserted anyarray,
                                         new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_merged'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_merged(anyarray, bigint, anyarray, bigint[], anyarray, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and inserts';
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

-- the aggregates' steps and final functions take internal, so no SQL can
-- call them, and PostgreSQL checks them as the aggregates' owner (1.22):
-- PUBLIC needs only the aggregates
REVOKE ALL ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean),
    pipeline.kept_extremes_final(internal, anyelement, boolean),
    pipeline.kept_extremes_step(internal, anyelement, boolean, bigint),
    pipeline.kept_extremes_final(internal, anyelement, boolean, bigint) FROM PUBLIC;

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

REVOKE ALL ON FUNCTION pipeline.scale_census_step(internal, numeric, bigint),
    pipeline.scale_census_scale(internal), pipeline.scale_census_rows(internal) FROM PUBLIC;

-- a delta's sum when its groups have a few rows each (1.21): adding each
-- value to the last costs less than making sum()'s state for every group
CREATE AGGREGATE pipeline.numeric_sum(numeric) (
    SFUNC = pg_catalog.numeric_add,
    STYPE = numeric,
    COMBINEFUNC = pg_catalog.numeric_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE pipeline.numeric_sum(numeric) IS
    'Internal to differential refresh: the sum of the values, as sum(numeric) gives it, for groups of a few values';

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean) IS
    'Internal to differential refresh: the step of pipeline.kept_extremes(anyelement, boolean)';
COMMENT ON FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean) IS
    'Internal to differential refresh: the final function of pipeline.kept_extremes(anyelement, boolean)';
COMMENT ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean, bigint) IS
    'Internal to differential refresh: the step of pipeline.kept_extremes(anyelement, boolean, bigint)';
COMMENT ON FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean, bigint) IS
    'Internal to differential refresh: the final function of pipeline.kept_extremes(anyelement, boolean, bigint)';
COMMENT ON FUNCTION pipeline.scale_census_step(internal, numeric, bigint) IS
    'Internal to differential refresh: the step of pipeline.max_scale() and pipeline.max_scale_rows()';
COMMENT ON FUNCTION pipeline.scale_census_scale(internal) IS
    'Internal to differential refresh: the final function of pipeline.max_scale()';
COMMENT ON FUNCTION pipeline.scale_census_rows(internal) IS
    'Internal to differential refresh: the final function of pipeline.max_scale_rows()';
