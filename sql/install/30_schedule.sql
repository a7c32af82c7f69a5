-- pipeline: the schedule, run history and health.

CREATE TABLE pipeline.runs (
    run_id       bigserial PRIMARY KEY,
    matview      regclass NOT NULL
                 REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    time_label   timestamptz NOT NULL,
    attempt      int NOT NULL DEFAULT 1,
    status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    rows         bigint,
    error        text,
    worker_pid   int,
    -- consecutive skipped labels of a view are one row: time_label is the
    -- first, last_time_label the last (NULL for a row of one label)
    last_time_label timestamptz,
    label_count  int NOT NULL DEFAULT 1,
    -- what the refresh said about how it ran (e.g. why it recomputed fully)
    detail       text,
    -- the start of the process that ran it: with worker_pid, tells a live
    -- run from one a crashed or former primary left 'running'
    worker_started_at timestamptz,
    -- a run is claimed by inserting its row: one per view, label and attempt
    UNIQUE (matview, time_label, attempt)
);
CREATE INDEX runs_matview_label_idx ON pipeline.runs (matview, time_label DESC, run_id DESC);
-- the runs in progress, which the orphan check reads at every run_due()
-- (1.20: it read the whole history)
CREATE INDEX runs_running_idx ON pipeline.runs (run_id) WHERE status = 'running';
COMMENT ON TABLE pipeline.runs IS
    'One row per refresh attempt of a managed view for a time label; consecutive skipped labels share one row';
COMMENT ON COLUMN pipeline.runs.last_time_label IS
    'The last of the consecutive skipped labels this row stands for; NULL for a row of one label';
COMMENT ON COLUMN pipeline.runs.label_count IS
    'How many time labels this row stands for (1, or the number of consecutive skipped labels)';
COMMENT ON COLUMN pipeline.runs.detail IS
    'What the refresh said about how it ran (differential, or full and why); NULL when it said nothing';

-- One row per source relation, writing transaction and refresh position,
-- appended by triggers (and by every refresh that changed a view): a refresh
-- may be skipped only when its last success has seen every upstream row
-- (src/change_tracking.h).  Appends only, so writers never contend on a
-- shared row.  command_id orders a transaction's own writes against the
-- runs in it.
CREATE TABLE pipeline.changes (
    relation    oid NOT NULL,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    command_id  bigint NOT NULL
);
-- no primary key: a publication of all tables would refuse its updates
-- and deletes without an identity (1.26)
ALTER TABLE pipeline.changes REPLICA IDENTITY FULL;
CREATE INDEX changes_relation_xid_idx ON pipeline.changes (relation, xid);
COMMENT ON TABLE pipeline.changes IS 'Which transactions wrote to which upstream relations (for skip-unchanged)';

-- What each view's last success has seen, for skip-unchanged: the snapshot
-- its refresh read in, its transaction and command id (which of that
-- transaction's own writes it saw), and the settings a query's answer can
-- depend on (TimeZone, DateStyle, ...) it ran under (1.14).
CREATE TABLE pipeline.refresh_snapshots (
    matview     regclass PRIMARY KEY
                REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    snapshot    pg_snapshot NOT NULL,
    xid         xid8 NOT NULL,
    command_id  bigint NOT NULL,
    settings    text NOT NULL DEFAULT ''
);

CREATE FUNCTION pipeline.record_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_record_change'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.record_change() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.record_change() IS
    'Trigger on sources of managed views: notes that this transaction changed the table';

-- The background scheduler keeps the DAG and every view's run state between
-- ticks.  Any write to the tables they come from invalidates that table's
-- relcache entry when the writing transaction commits, which tells the
-- scheduler to reload.
CREATE FUNCTION pipeline.schedule_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_schedule_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.schedule_changed() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.schedule_changed() IS
    'Statement trigger on matview_definitions, edges and runs: tells the background scheduler to reload them';
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.matview_definitions
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.edges
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();
CREATE TRIGGER schedule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pipeline.runs
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline.schedule_changed();

CREATE FUNCTION pipeline.run_due(as_of timestamptz DEFAULT now())
RETURNS TABLE (matview regclass, time_label timestamptz, status text)
AS 'MODULE_PATHNAME', 'pipeline_run_due'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.run_due(timestamptz) IS
    'One synchronous pass, in DAG order, of every view due as of the given time';

CREATE FUNCTION pipeline.window_start()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pipeline_window_start'
LANGUAGE C VOLATILE;
CREATE FUNCTION pipeline.window_end()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pipeline_window_end'
LANGUAGE C VOLATILE;
-- volatile: a query that reads its window must never be skipped as unchanged
COMMENT ON FUNCTION pipeline.window_start() IS
    'During a run: the previous successful time label of the view being refreshed';
COMMENT ON FUNCTION pipeline.window_end() IS
    'During a run: the time label being refreshed';

CREATE FUNCTION pipeline.wake()
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_wake'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.wake() IS 'Asks the background scheduler of this database to plan now';

-- managed upstream views (transitively) whose latest run failed; each one
-- the caller may not see (pipeline.can_see) as NULL: "unknown".  In C, as it
-- reads the runs the caller's row-level security hides.
CREATE FUNCTION pipeline.blocking_upstreams(matview regclass)
RETURNS TABLE (upstream regclass)
AS 'MODULE_PATHNAME', 'pipeline_blocking_upstreams'
LANGUAGE C STABLE STRICT;

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
CREATE VIEW pipeline.status WITH (security_invoker = true) AS
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
COMMENT ON COLUMN pipeline.status.sla_breached IS
    'Whether its freshness exceeds @freshness-sla-minutes, unless the one label it misses is its newest, within its interval (false without an SLA; NULL to a role that may not see its runs)';
COMMENT ON COLUMN pipeline.status.lag IS
    'How far behind its schedule: since the first label after its last success fell due; 0 when up to date';

REVOKE ALL ON pipeline.runs, pipeline.changes, pipeline.refresh_snapshots FROM PUBLIC;
GRANT SELECT ON pipeline.runs, pipeline.status TO PUBLIC;

-- Error texts carry data values: a role sees the runs of the views it owns
-- or may SELECT from.  The catalog owner (who writes the runs) and
-- superusers (the scheduler) are not subject to the policy; pipeline.status
-- is security_invoker, so the policy holds there too.
ALTER TABLE pipeline.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_of_visible_views ON pipeline.runs FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.blocking_upstreams(regclass) IS
    'Internal to pipeline.status: the upstream views whose failed or unfinished runs keep the view waiting; one the caller may not see as NULL';
COMMENT ON VIEW pipeline.status IS
    'The health of each managed view: its last success and status, next label, freshness, what blocks it, lag and SLA; the runs of views the caller may not see stay empty';
COMMENT ON TABLE pipeline.refresh_snapshots IS
    'What each view''s last success has seen (snapshot, transaction, command id, settings): skip-unchanged compares with it; written only by refreshes';
