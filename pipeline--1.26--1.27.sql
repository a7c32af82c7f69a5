-- pipeline 1.26 -> 1.27: pipeline.status counts a view's next label and
-- its lag from a label of its current interval.  After a redefinition
-- with a new interval, the last run's label is one of the old interval's,
-- and next_label (and lag) added the new interval to it (08:09:50 + 1 min
-- = 08:10:50), where run_due() and the scheduler run the new interval's
-- next label (08:10:00).

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.27'" to load this file. \quit

CREATE OR REPLACE VIEW pipeline.status WITH (security_invoker = true) AS
SELECT d.matview,
       d.refresh_interval,
       s.time_label AS last_success_label,
       s.finished_at AS last_success_at,
       l.status AS last_status,
       l.error AS last_error,
       -- the label its latest run is for while that one is running or will
       -- be retried, else the one after it (1.12: a failed label was not one);
       -- unknown (NULL) to a role that may not see the view's runs (1.24:
       -- the current label, as if it had never run)
       CASE WHEN NOT pipeline.can_see(d.matview) THEN NULL
            WHEN l.matview IS NULL THEN pipeline.time_label(d.refresh_interval)
            WHEN l.status = 'running'
                 OR (l.status = 'failed'
                     AND l.attempt < coalesce(current_setting('pipeline.max_attempts', true)::int, 3))
                 THEN l.time_label
            -- labels are a whole number of seconds apart: a day is 86,400 s
            -- in every TimeZone (1.20: 23 h or 25 h across a DST change), a
            -- month 30 days and a year 360, as labels count them (epoch
            -- counts a year as 365.25 days); the last label is one of the
            -- interval's own (1.27: after a new interval, one of the old)
            ELSE pipeline.time_label(d.refresh_interval, coalesce(l.last_time_label, l.time_label))
                 + make_interval(secs => extract(epoch FROM d.refresh_interval)
                                         - extract(year FROM d.refresh_interval) * 453600) END AS next_label,
       now() - s.time_label AS freshness,
       coalesce(b.blocked_by, '{}') AS blocked_by,
       -- a view is populated when defined: as if it succeeded for the label
       -- then; unknown (NULL) to a role that may not see the view's runs
       CASE WHEN pipeline.can_see(d.matview) THEN
            greatest(now() - (pipeline.time_label(d.refresh_interval, coalesce(s.time_label, d.created_at))
                              + make_interval(secs => extract(epoch FROM d.refresh_interval)
                                                      - extract(year FROM d.refresh_interval) * 453600)),
                     '0'::interval) END AS lag,
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
