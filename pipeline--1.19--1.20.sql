-- pipeline 1.19 -> 1.20: pipeline.status.next_label and lag count a view's
-- interval in seconds, as its labels are (a '1 day' view's next label was
-- 23 or 25 hours on across a DST change of the session's TimeZone), and
-- the orphan check of run_due() reads the runs in progress by an index
-- instead of the whole history; downstream() of a relation that does not
-- exist is an error, as upstream()'s is.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.20'" to load this file. \quit

-- the runs in progress, which the orphan check reads at every run_due()
-- (1.20: it read the whole history)
CREATE INDEX runs_running_idx ON pipeline.runs (run_id) WHERE status = 'running';

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
            -- labels are a whole number of seconds apart: a day is 86,400 s
            -- in every TimeZone (1.20: 23 h or 25 h across a DST change), a
            -- month 30 days and a year 360, as labels count them (epoch
            -- counts a year as 365.25 days)
            ELSE coalesce(l.last_time_label, l.time_label)
                 + make_interval(secs => extract(epoch FROM d.refresh_interval)
                                         - extract(year FROM d.refresh_interval) * 453600) END AS next_label,
       now() - s.time_label AS freshness,
       coalesce(b.blocked_by, '{}') AS blocked_by,
       -- a view is populated when defined: as if it succeeded for the label
       -- then; unknown (NULL) to a role that may not see the view's runs
       CASE WHEN pipeline.can_see(d.matview) THEN
            greatest(now() - (coalesce(s.time_label, pipeline.time_label(d.refresh_interval, d.created_at))
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

CREATE OR REPLACE FUNCTION pipeline.downstream(relation regclass)
RETURNS TABLE (matview regclass, depth int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'relation must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- as upstream() (1.20: no rows)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = $1) THEN
        RAISE EXCEPTION 'relation with OID % does not exist', $1::pg_catalog.oid
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH RECURSIVE down(matview, depth) AS (
        SELECT e.downstream, 1 FROM pipeline.edges e WHERE e.upstream = $1
        UNION
        SELECT e.downstream, down.depth + 1
          FROM down JOIN pipeline.edges e ON e.upstream = down.matview
    )
    SELECT down.matview, min(down.depth)::int
      FROM down GROUP BY down.matview ORDER BY 2, down.matview::text;
END
$$;
