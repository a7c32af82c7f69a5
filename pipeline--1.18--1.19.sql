-- pipeline 1.18 -> 1.19: pipeline.status (and graph() with its status)
-- costs the views and their failures' reach, not each view's ancestors
-- again and the whole run history twice: each view's blocking failures
-- come from one walk down from the failed views (blocked_views()), and
-- its latest run and success from the runs' index, looked up only for
-- the views the caller may see.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.19'" to load this file. \quit

-- blocking_upstreams() of every view, walked down from the failures once
-- (1.19: pipeline.status called it per view, each walking all its
-- ancestors: a chain of 800 views took 30 s)
CREATE FUNCTION pipeline.blocked_views()
RETURNS TABLE (matview regclass, upstream regclass)
AS 'MODULE_PATHNAME', 'pipeline_blocked_views'
LANGUAGE C STABLE;
COMMENT ON FUNCTION pipeline.blocked_views() IS
    'Internal to pipeline.status: each view with an upstream view whose failed runs keep it waiting; one the caller may not see as NULL';

-- each view's latest run and latest success looked up by the runs' index
-- (1.19: the whole history was read twice, and under row-level security
-- each of its rows judged, for every status; only the views the caller
-- may see are looked up)
CREATE OR REPLACE VIEW pipeline.status WITH (security_invoker = true) AS
SELECT d.matview,
       d.refresh_interval,
       s.time_label AS last_success_label,
       s.finished_at AS last_success_at,
       l.status AS last_status,
       l.error AS last_error,
       -- the label its latest run is for while that one is running or will
       -- be retried, else the one after it (1.12: a failed label was not one)
       CASE WHEN l.matview IS NULL THEN pipeline.time_label(d.refresh_interval)
            WHEN l.status = 'running'
                 OR (l.status = 'failed'
                     AND l.attempt < coalesce(current_setting('pipeline.max_attempts', true)::int, 3))
                 THEN l.time_label
            ELSE coalesce(l.last_time_label, l.time_label) + d.refresh_interval END AS next_label,
       now() - s.time_label AS freshness,
       coalesce(b.blocked_by, '{}') AS blocked_by,
       -- a view is populated when defined: as if it succeeded for the label
       -- then; unknown (NULL) to a role that may not see the view's runs
       CASE WHEN pipeline.can_see(d.matview) THEN
            greatest(now() - (coalesce(s.time_label, pipeline.time_label(d.refresh_interval, d.created_at))
                              + d.refresh_interval), '0'::interval) END AS lag,
       (d.options ->> 'freshness-sla-minutes')::int AS sla_minutes,
       -- older than its SLA since its last success's label (or its
       -- definition's), unless the one label it misses is its newest, whose
       -- run has until the next label (1.15: a view whose SLA was its
       -- interval was late while every label's run ran)
       CASE WHEN NOT d.options ? 'freshness-sla-minutes' THEN false
            WHEN pipeline.can_see(d.matview) THEN
            (SELECT now() - f.label > f.sla
                    AND (pipeline.time_label(d.refresh_interval) - f.label > f.sla
                         OR now() - f.label > 2 * d.refresh_interval)
               FROM (SELECT coalesce(s.time_label, pipeline.time_label(d.refresh_interval, d.created_at)) AS label,
                            make_interval(mins => (d.options ->> 'freshness-sla-minutes')::int) AS sla) f)
       END AS sla_breached
  FROM pipeline.matview_definitions d
  LEFT JOIN LATERAL (
       SELECT r.matview, r.status, r.error, r.time_label, r.last_time_label, r.attempt
         FROM pipeline.runs r
        WHERE r.matview = d.matview AND pipeline.can_see(d.matview)
        ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1) l ON true
  -- a row of consecutive skipped labels succeeded for its last label
  LEFT JOIN LATERAL (
       SELECT coalesce(r.last_time_label, r.time_label) AS time_label, r.finished_at
         FROM pipeline.runs r
        WHERE r.matview = d.matview AND r.status IN ('succeeded', 'skipped')
          AND pipeline.can_see(d.matview)
        ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1) s ON true
  LEFT JOIN (SELECT v.matview, array_agg(v.upstream ORDER BY v.upstream::text) AS blocked_by
               FROM pipeline.blocked_views() v GROUP BY v.matview) b ON b.matview = d.matview;
COMMENT ON COLUMN pipeline.status.sla_breached IS
    'Whether its freshness exceeds @freshness-sla-minutes, unless the one label it misses is its newest, within its interval (false without an SLA; NULL to a role that may not see its runs)';
COMMENT ON COLUMN pipeline.status.lag IS
    'How far behind its schedule: since the first label after its last success fell due; 0 when up to date';

-- the duration of a view's latest refresh looked up only when the caller may
-- see its runs
CREATE OR REPLACE FUNCTION pipeline.graph_nodes_status(with_status boolean)
RETURNS TABLE (rel regclass, id text, label text, managed boolean, "position" int,
               last_status text, health text, freshness interval, last_duration interval,
               sla_breached boolean, blocked_by jsonb, fill text, border text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH nodes AS (
        SELECT * FROM pipeline.graph_nodes()
    ), views AS (
        SELECT s.matview, s.last_status, s.freshness, s.sla_minutes, s.sla_breached,
               pipeline.can_see(s.matview) AS seen,
               (SELECT r.finished_at - r.started_at
                  FROM pipeline.runs r
                 WHERE r.matview = s.matview AND r.status IN ('succeeded', 'failed')
                   AND r.finished_at IS NOT NULL AND pipeline.can_see(s.matview)
                 ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1) AS last_duration,
               coalesce((SELECT jsonb_agg(b.id ORDER BY u.ord)
                           FROM unnest(s.blocked_by) WITH ORDINALITY u(upstream, ord)
                           LEFT JOIN nodes b ON b.rel = u.upstream), '[]') AS blocked_by
          FROM pipeline.status s
         WHERE with_status
    ), judged AS (
        SELECT n.*, v.*,
               CASE WHEN NOT with_status OR NOT n.managed THEN NULL
                    WHEN n.managed IS NULL OR NOT v.seen THEN 'unknown'
                    WHEN v.last_status = 'running' THEN 'running'
                    WHEN v.last_status = 'failed' THEN 'failed'
                    WHEN jsonb_array_length(v.blocked_by) > 0 THEN 'blocked'
                    WHEN v.sla_breached THEN 'sla_breached'
                    WHEN v.last_status = 'skipped' THEN 'skipped'
                    WHEN v.last_status = 'succeeded' THEN 'ok'
                    ELSE 'never_run' END AS health,
               CASE WHEN getdatabaseencoding() = 'UTF8' THEN ' ' || chr(183) || ' ' ELSE ', ' END AS sep
          FROM nodes n
          LEFT JOIN views v ON v.matview = n.rel
    )
    SELECT j.rel, j.id,
           CASE WHEN j.managed AND j.health IS NOT NULL AND j.health <> 'unknown'
                THEN concat_ws(E'\n', j.label,
                               concat_ws(j.sep, coalesce(j.last_status, 'never run'),
                                         pipeline.duration_label(j.freshness) || ' fresh',
                                         pipeline.duration_label(j.last_duration)),
                               CASE WHEN jsonb_array_length(j.blocked_by) > 0 THEN
                                    'blocked by ' || (SELECT string_agg(coalesce(b.id, 'unknown'), ', ' ORDER BY b.ord)
                                                        FROM jsonb_array_elements_text(j.blocked_by)
                                                             WITH ORDINALITY b(id, ord)) END,
                               CASE WHEN j.sla_breached THEN
                                    'SLA ' || coalesce(pipeline.interval_label(j.sla_minutes * interval '1 minute') || ' ', '')
                                    || 'breached' END)
                ELSE j.label END,
           j.managed, j.position,
           CASE WHEN j.health <> 'unknown' THEN j.last_status END,
           j.health,
           CASE WHEN j.health <> 'unknown' THEN j.freshness END,
           CASE WHEN j.health <> 'unknown' THEN j.last_duration END,
           CASE WHEN j.health <> 'unknown' THEN coalesce(j.sla_breached, false) END,
           CASE WHEN j.health <> 'unknown' THEN j.blocked_by END,
           h.fill, h.border
      FROM judged j
      LEFT JOIN pipeline.graph_health() h ON h.health = j.health;
$$;
