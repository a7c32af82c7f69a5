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
-- The status picture (API.md section 10): graph() gains with_status (a new
-- parameter: dropped and made again, so no old call becomes ambiguous), and
-- the helpers it reads: duration_label(), graph_health() and
-- graph_nodes_status().  graph() and graph_nodes_status() read
-- pipeline.status.sla_minutes and sla_breached, added above.
DROP FUNCTION pipeline.graph(text);
CREATE FUNCTION pipeline.graph(format text DEFAULT 'dot', with_status boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
    show_status boolean := coalesce(with_status, false);
BEGIN
    IF format = 'dot' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes_status(show_status))
        SELECT 'digraph pipeline {' || E'\n'
            || '  rankdir=LR;' || E'\n'
            || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
            || coalesce((SELECT string_agg(format('  %s [label=%s, shape=%s];',
                                                   to_json(n.id), to_json(n.label),
                                                   CASE WHEN n.managed AND n.health IS NOT NULL
                                                        THEN format('box, style="rounded,filled", fillcolor="%s", color="%s"',
                                                                    n.fill, n.border)
                                                        WHEN n.managed THEN 'box'
                                                        WHEN NOT n.managed THEN 'cylinder'
                                                        ELSE 'box, style=dashed' END),
                                            E'\n' ORDER BY n.position)
                           FROM nodes n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s -> %s;', to_json(u.id), to_json(d.id)),
                                            E'\n' ORDER BY u.position, d.position)
                           FROM pipeline.edges e
                           JOIN nodes u ON u.rel = e.upstream
                           JOIN nodes d ON d.rel = e.downstream), '')
            -- with status, a legend of the colours (its id has a space, so no
            -- relation's id, which would be quoted, can be the same)
            || coalesce((SELECT E'\n' || '  "health legend" [shape=plaintext, fontname="Helvetica", fontsize=10, label=<'
                                || '<table border="0" cellspacing="3" cellpadding="3"><tr><td><b>health</b></td></tr>'
                                || string_agg(format('<tr><td bgcolor="%s" color="%s" border="1" style="rounded">%s</td></tr>',
                                                     h.fill, h.border, h.caption),
                                              '' ORDER BY h.position)
                                || '</table>>];' || E'\n'
                                || '  { rank=sink; "health legend"; }'
                           FROM pipeline.graph_health() h
                          WHERE show_status AND h.health <> 'unknown'), '')
            || E'\n}' || E'\n'
          INTO result;
    ELSIF format = 'mermaid' THEN
        WITH nodes AS (
            SELECT n.*, 'n' || n.position AS mid FROM pipeline.graph_nodes_status(show_status) n
        )
        SELECT 'graph LR' || E'\n'
            || coalesce((SELECT string_agg('  ' || n.mid
                                           || CASE WHEN NOT n.managed THEN '[("' ELSE '["' END
                                           || replace(replace(n.label, '"', '#quot;'), E'\n', '<br/>')
                                           || CASE WHEN NOT n.managed THEN '")]' ELSE '"]' END,
                                           E'\n' ORDER BY n.position)
                           FROM nodes n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s --> %s', u.mid, d.mid),
                                            E'\n' ORDER BY u.position, d.position)
                           FROM pipeline.edges e
                           JOIN nodes u ON u.rel = e.upstream
                           JOIN nodes d ON d.rel = e.downstream), '')
            || E'\n'
            -- with status: a class for each health shown, and its nodes
            || coalesce((SELECT string_agg(format('  classDef %s fill:%s,stroke:%s,color:#1a1a1a%s',
                                                  h.health, h.fill, h.border,
                                                  CASE WHEN h.health = 'unknown'
                                                       THEN ',stroke-dasharray:4 3' ELSE '' END)
                                           || E'\n'
                                           || format('  class %s %s',
                                                     (SELECT string_agg(n.mid, ',' ORDER BY n.position)
                                                        FROM nodes n WHERE n.health = h.health),
                                                     h.health),
                                           E'\n' ORDER BY h.position) || E'\n'
                           FROM pipeline.graph_health() h
                          WHERE show_status AND EXISTS (SELECT FROM nodes n WHERE n.health = h.health)),
                        '')
          INTO result;
    ELSIF format = 'json' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes_status(show_status))
        SELECT jsonb_build_object(
                 'nodes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'relation', n.id,
                                              'managed', n.managed,
                                              'refresh_interval', pipeline.interval_label(d.refresh_interval),
                                              'level', o.level)
                                            || CASE WHEN n.health IS NULL THEN '{}'::jsonb
                                                    ELSE jsonb_build_object(
                                                         'status', n.last_status,
                                                         'health', n.health,
                                                         'freshness', floor(extract(epoch FROM n.freshness))::bigint,
                                                         'last_duration_ms',
                                                         round(extract(epoch FROM n.last_duration) * 1000)::bigint,
                                                         'sla_breached', n.sla_breached,
                                                         'blocked_by', n.blocked_by) END
                                            ORDER BY n.position)
                                      FROM nodes n
                                      LEFT JOIN pipeline.matview_definitions d
                                             ON d.matview = n.rel AND n.managed
                                      LEFT JOIN pipeline.refresh_order() o
                                             ON o.matview = n.rel AND n.managed),
                                   '[]'),
                 'edges', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'upstream', u.id,
                                              'downstream', d.id)
                                            ORDER BY u.position, d.position)
                                      FROM pipeline.edges e
                                      JOIN nodes u ON u.rel = e.upstream
                                      JOIN nodes d ON d.rel = e.downstream),
                                   '[]'))::text
          INTO result;
    ELSE
        RAISE EXCEPTION 'unknown graph format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''dot'', ''mermaid'' or ''json''.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION pipeline.graph(text, boolean) IS
    'The DAG as graphviz dot, Mermaid or JSON; with_status colours each view by its health';

-- "340 ms", "1.2 s", "42 s", "5 min", "2 h", "3 d": any duration in its
-- largest unit, rounded down (a freshness, how long a run took)
CREATE FUNCTION pipeline.duration_label(d interval)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN d < '0'::interval THEN '-' ELSE '' END
           || CASE WHEN s < 1 THEN floor(s * 1000) || ' ms'
                   WHEN s < 10 THEN trunc(s, 1) || ' s'
                   WHEN s < 60 THEN floor(s) || ' s'
                   WHEN s < 3600 THEN floor(s / 60) || ' min'
                   WHEN s < 86400 THEN floor(s / 3600) || ' h'
                   ELSE floor(s / 86400) || ' d' END
      FROM (SELECT abs(extract(epoch FROM d)) AS s) x;
$$;
COMMENT ON FUNCTION pipeline.duration_label(interval) IS
    'A duration in its largest unit, rounded down: 340 ms, 1.2 s, 42 s, 5 min, 2 h, 3 d';

-- The healths graph(with_status => true) colours views by, in the order
-- its legend lists them, with the legend's caption, fill and border
-- colours.  Which one a view has: graph_nodes_status().
CREATE FUNCTION pipeline.graph_health()
RETURNS TABLE (health text, caption text, fill text, border text, "position" int)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('ok',           'ok',           '#c8e6c9', '#2e7d32', 1),
           ('skipped',      'skipped',      '#e6f2e6', '#81a881', 2),
           ('running',      'running',      '#cfe0fc', '#1f5fbf', 3),
           ('sla_breached', 'SLA breached', '#fff0a0', '#b8860b', 4),
           ('blocked',      'blocked',      '#fddcb5', '#d9730d', 5),
           ('failed',       'failed',       '#f6c1bd', '#c62828', 6),
           ('never_run',    'never run',    '#eeeeee', '#9e9e9e', 7),
           ('unknown',      'unknown',      '#ffffff', '#9e9e9e', 8)
$$;
COMMENT ON FUNCTION pipeline.graph_health() IS
    'The healths pipeline.graph() colours views by, with caption and colours, in legend order';

-- graph_nodes() and, with with_status, what graph() shows of each view as
-- the caller sees it (pipeline.status and pipeline.runs, under their
-- row-level security): its last status, freshness, the duration of its
-- latest refresh (succeeded or failed: skipped labels refresh nothing),
-- the failed upstreams blocking it (node ids; null for one the caller may
-- not see) and its health, the first that holds of running, failed,
-- blocked, sla_breached, skipped, ok, never_run; "unknown" for a node the
-- caller may not see.  The label gains a line "succeeded - 5 min fresh -
-- 1.2 s" (a middle dot between the parts in a UTF8 database), and "blocked
-- by ..." / "SLA ... breached" when they hold.  Source relations have no
-- health.  Shows the caller only what the caller may read anyway.
CREATE FUNCTION pipeline.graph_nodes_status(with_status boolean)
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
                   AND r.finished_at IS NOT NULL
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
COMMENT ON FUNCTION pipeline.graph_nodes_status(boolean) IS
    'The nodes pipeline.graph() draws and, with with_status, each view''s status and health as the caller sees it';
