-- pipeline 1.14 -> 1.15: pipeline.status.sla_breached, as the scheduler's
-- SLA alerts: a view whose data is older than its SLA is not late while the
-- one label it misses is its newest, whose run has until the next label.
-- Before, a view whose SLA was its interval was late while every label's run
-- ran (and the scheduler opened and closed an SLA incident at every label).

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.15'" to load this file. \quit

CREATE OR REPLACE VIEW pipeline.status WITH (security_invoker = true) AS
WITH last_run AS (
    SELECT DISTINCT ON (r.matview) r.matview, r.status, r.error, r.time_label,
           r.last_time_label, r.attempt
      FROM pipeline.runs r
     ORDER BY r.matview, r.time_label DESC, r.run_id DESC
), last_success AS (
    -- a row of consecutive skipped labels succeeded for its last label
    SELECT DISTINCT ON (r.matview) r.matview, coalesce(r.last_time_label, r.time_label) AS time_label,
           r.finished_at
      FROM pipeline.runs r
     WHERE r.status IN ('succeeded', 'skipped')
     ORDER BY r.matview, r.time_label DESC, r.run_id DESC
)
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
       coalesce((SELECT array_agg(b.upstream ORDER BY b.upstream::text)
                   FROM pipeline.blocking_upstreams(d.matview) b), '{}') AS blocked_by,
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
  LEFT JOIN last_run l ON l.matview = d.matview
  LEFT JOIN last_success s ON s.matview = d.matview;
COMMENT ON COLUMN pipeline.status.sla_breached IS
    'Whether its freshness exceeds @freshness-sla-minutes, unless the one label it misses is its newest, within its interval (false without an SLA; NULL to a role that may not see its runs)';

-- a failed run wrote no rows: NULL from 1.15 on, as for a skipped run (the
-- library recorded 0 before)
UPDATE pipeline.runs SET rows = NULL WHERE status = 'failed' AND rows = 0;
