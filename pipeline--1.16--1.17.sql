-- pipeline 1.16 -> 1.17: descriptions for the functions and views that had
-- none, so that \df+ and \dv+ in psql say what each is (the API's upstream(),
-- downstream(), refresh_order(), matviews, status, staged and
-- external_functions among them).  Nothing else changes.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.17'" to load this file. \quit

COMMENT ON FUNCTION pipeline.upstream(regclass) IS
    'Every relation a managed view reads, directly or through other managed views, with its depth (1: read directly)';
COMMENT ON FUNCTION pipeline.downstream(regclass) IS
    'Every managed view that reads the relation, directly or through other managed views, with its depth (1: reads it directly)';
COMMENT ON FUNCTION pipeline.refresh_order() IS
    'Every managed view in the order a refresh of all of them runs: upstream before downstream, with its level in the DAG';
COMMENT ON FUNCTION pipeline.blocking_upstreams(regclass) IS
    'Internal to pipeline.status: the upstream views whose failed or unfinished runs keep the view waiting; one the caller may not see as NULL';
COMMENT ON FUNCTION pipeline.graph_nodes() IS
    'Internal to pipeline.graph(): every relation of the DAG, in drawing order; one the caller may not see as "unknown N"';
COMMENT ON FUNCTION pipeline.interval_label(interval) IS
    'Internal to pipeline.graph(): an interval as "2 h", "30 min" or "90 s", the same in every IntervalStyle';
COMMENT ON FUNCTION pipeline.guard_ddl_command_start() IS
    'The guard''s ddl_command_start event trigger: refuses DDL outside pipeline that would break a managed view';
COMMENT ON FUNCTION pipeline.guard_sql_drop() IS
    'The guard''s sql_drop event trigger: refuses dropping a managed view outside pipeline.drop_matview()';
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
COMMENT ON VIEW pipeline.matviews IS
    'The managed views: one row each, with its query, columns, owner, version and refresh mode; readable by everyone';
COMMENT ON VIEW pipeline.status IS
    'The health of each managed view: its last success and status, next label, freshness, what blocks it, lag and SLA; the runs of views the caller may not see stay empty';
COMMENT ON VIEW pipeline.staged IS
    'The calling user''s update set: the DPL documents stage() holds until apply_staged() or discard_staged()';
COMMENT ON VIEW pipeline.external_functions IS
    'The external functions: each one''s endpoint, batch size, timeout and retries';
COMMENT ON TABLE pipeline.refresh_snapshots IS
    'What each view''s last success has seen (snapshot, transaction, command id, settings): skip-unchanged compares with it; written only by refreshes';
