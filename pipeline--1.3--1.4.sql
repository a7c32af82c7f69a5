-- pipeline 1.3 -> 1.4: the scheduler at scale (issue 13).
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.4'" to load this file. \quit

-- pipeline.status shows how far behind its schedule each view is (lag).
-- The refresh pool and the scheduler's per-view state changed only the
-- library.
CREATE OR REPLACE VIEW pipeline.status WITH (security_invoker = true) AS
WITH last_run AS (
    SELECT DISTINCT ON (r.matview) r.matview, r.status, r.error, r.time_label
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
       CASE WHEN s.time_label IS NULL THEN pipeline.time_label(d.refresh_interval)
            ELSE s.time_label + d.refresh_interval END AS next_label,
       now() - s.time_label AS freshness,
       coalesce((SELECT array_agg(b.upstream ORDER BY b.upstream::text)
                   FROM pipeline.blocking_upstreams(d.matview) b), '{}') AS blocked_by,
       -- a view is populated when defined: as if it succeeded for the label
       -- then; unknown (NULL) to a role that may not see the view's runs
       CASE WHEN pipeline.can_see(d.matview) THEN
            greatest(now() - (coalesce(s.time_label, pipeline.time_label(d.refresh_interval, d.created_at))
                              + d.refresh_interval), '0'::interval) END AS lag
  FROM pipeline.matview_definitions d
  LEFT JOIN last_run l ON l.matview = d.matview
  LEFT JOIN last_success s ON s.matview = d.matview;
COMMENT ON COLUMN pipeline.status.lag IS
    'How far behind its schedule: since the first label after its last success fell due; 0 when up to date';

-- the scheduler of this database idles until the SQL is the library's version
SELECT pipeline.wake();
