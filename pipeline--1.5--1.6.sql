-- pipeline 1.5 -> 1.6: operating a pipeline (issue 15).
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.6'" to load this file. \quit

-- a run records its process's start, so an orphan whose process id a live
-- process reuses (after a crash, or a failover) is still recognised
ALTER TABLE pipeline.runs ADD COLUMN worker_started_at timestamptz;

-- pipeline.status gains the freshness SLA
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
                              + d.refresh_interval), '0'::interval) END AS lag,
       (d.options ->> 'freshness-sla-minutes')::int AS sla_minutes,
       -- older than its SLA: since its last success's label, or its definition's
       CASE WHEN NOT d.options ? 'freshness-sla-minutes' THEN false
            WHEN pipeline.can_see(d.matview) THEN
            now() - coalesce(s.time_label, pipeline.time_label(d.refresh_interval, d.created_at))
            > make_interval(mins => (d.options ->> 'freshness-sla-minutes')::int) END AS sla_breached
  FROM pipeline.matview_definitions d
  LEFT JOIN last_run l ON l.matview = d.matview
  LEFT JOIN last_success s ON s.matview = d.matview;
COMMENT ON COLUMN pipeline.status.sla_breached IS
    'Whether its freshness exceeds @freshness-sla-minutes (false without an SLA; NULL to a role that may not see its runs)';

-- audits, incidents and alerts
--
-- Like pipeline.runs these are history, not definitions: kept across
-- restarts and on a standby (they are WAL-logged tables), not dumped, and
-- gone with the view (the foreign keys follow a redefinition's new OID).
-- Each is readable, row by row, by the roles that may see the view
-- (pipeline.can_see), as runs are: audit examples carry data values.

CREATE TABLE pipeline.audits (
    run_id       bigint NOT NULL REFERENCES pipeline.runs ON DELETE CASCADE,
    matview      regclass NOT NULL
                 REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    expectation  text NOT NULL,
    passed       boolean NOT NULL,
    violations   bigint NOT NULL,
    example      text,
    checked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, expectation)
);
CREATE INDEX audits_matview_idx ON pipeline.audits (matview, run_id DESC);
COMMENT ON TABLE pipeline.audits IS
    'Every check of every run: each @expect by name, unique(columns) and rows(min..max); gone with its run';
COMMENT ON COLUMN pipeline.audits.violations IS
    'Rows that violate it: rows where it is not true, rows sharing a key, or rows missing or too many';
COMMENT ON COLUMN pipeline.audits.example IS 'One violating row (or key, or the row count), cut to 200 bytes';

-- An incident runs from a view's first failure (or SLA breach) to its
-- next success (or return within its SLA): at most one open of each kind.
CREATE TABLE pipeline.incidents (
    incident_id  bigserial PRIMARY KEY,
    matview      regclass NOT NULL
                 REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('failure', 'sla')),
    opened_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    time_label   timestamptz,
    run_id       bigint,
    closed_at    timestamptz,
    closed_run_id bigint
);
CREATE UNIQUE INDEX incidents_open_idx ON pipeline.incidents (matview, kind) WHERE closed_at IS NULL;
COMMENT ON TABLE pipeline.incidents IS
    'From a view''s first failure (or SLA breach) to its next success (or return within its SLA)';

-- The alerts of incidents, each kind once per incident: NOTIFY
-- pipeline_alerts when recorded, and the queue the scheduler POSTs to
-- pipeline.alert_endpoint from (deliver: the endpoint was set then).
CREATE TABLE pipeline.alerts (
    alert_id     bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES pipeline.incidents ON DELETE CASCADE,
    matview      regclass NOT NULL
                 REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    kind         text NOT NULL
                 CHECK (kind IN ('failed', 'audit_failed', 'recovered', 'sla_breached', 'sla_recovered')),
    time_label   timestamptz,
    run_id       bigint,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    deliver      boolean NOT NULL,
    delivered_at timestamptz,
    attempts     int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error   text,
    UNIQUE (incident_id, kind)
);
CREATE INDEX alerts_undelivered_idx ON pipeline.alerts (alert_id) WHERE deliver AND delivered_at IS NULL;
COMMENT ON TABLE pipeline.alerts IS
    'Each alert of an incident, sent once as NOTIFY pipeline_alerts; POSTed to pipeline.alert_endpoint at least once when deliver';

REVOKE ALL ON pipeline.audits, pipeline.incidents, pipeline.alerts FROM PUBLIC;
GRANT SELECT ON pipeline.audits, pipeline.incidents, pipeline.alerts TO PUBLIC;
ALTER TABLE pipeline.audits ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline.incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY audits_of_visible_views ON pipeline.audits FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));
CREATE POLICY incidents_of_visible_views ON pipeline.incidents FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));
CREATE POLICY alerts_of_visible_views ON pipeline.alerts FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));
