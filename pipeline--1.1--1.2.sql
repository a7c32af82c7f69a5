-- pipeline 1.1 -> 1.2: hardening
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.2'" to load this file. \quit

-- Stored queries are bound at definition (security): the deparsed, fully
-- qualified form every re-analysis uses.  A materialized view's is what its
-- rule holds; an incremental view's stored text is analyzed with its
-- owner's own search_path (role and database settings), the best reading of
-- what it meant.
ALTER TABLE pipeline.matview_definitions ADD COLUMN bound_query text;
CREATE FUNCTION pipeline.bind_stored_query(matview regclass) RETURNS text
AS 'MODULE_PATHNAME', 'pipeline_bind_stored_query' LANGUAGE C STRICT;
UPDATE pipeline.matview_definitions SET bound_query = pipeline.bind_stored_query(matview);
DROP FUNCTION pipeline.bind_stored_query(regclass);
ALTER TABLE pipeline.matview_definitions ALTER COLUMN bound_query SET NOT NULL;

-- run history: consecutive skipped labels of a view are one row of
-- pipeline.runs (the rows of 1.1 each stand for one label)
ALTER TABLE pipeline.runs
    ADD COLUMN last_time_label timestamptz,
    ADD COLUMN label_count int NOT NULL DEFAULT 1;
COMMENT ON TABLE pipeline.runs IS
    'One row per refresh attempt of a managed view for a time label; consecutive skipped labels share one row';
COMMENT ON COLUMN pipeline.runs.last_time_label IS
    'The last of the consecutive skipped labels this row stands for; NULL for a row of one label';
COMMENT ON COLUMN pipeline.runs.label_count IS
    'How many time labels this row stands for (1, or the number of consecutive skipped labels)';
CREATE OR REPLACE VIEW pipeline.status AS
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
                   FROM pipeline.blocking_upstreams(d.matview) b), '{}') AS blocked_by
  FROM pipeline.matview_definitions d
  LEFT JOIN last_run l ON l.matview = d.matview
  LEFT JOIN last_success s ON s.matview = d.matview;

