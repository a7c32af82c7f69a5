-- pipeline: operating a pipeline (1.6): audits, incidents and alerts.
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
