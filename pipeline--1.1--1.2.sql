-- pipeline 1.1 -> 1.2: hardening
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.2'" to load this file. \quit

-- access: who may read what (row-level security on runs, status as
-- security invoker, unknown upstreams in blocked_by and graph())
CREATE FUNCTION pipeline.can_see(relation regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_can_see'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs)';

DROP FUNCTION pipeline.graph_nodes();
CREATE FUNCTION pipeline.graph_nodes()
RETURNS TABLE (rel regclass, id text, label text, managed boolean, "position" int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pipeline
AS $$
    WITH nodes AS (
        SELECT d.matview AS rel,
               d.matview::text || E'\n' || 'every ' || pipeline.interval_label(d.refresh_interval) AS label,
               true AS managed
          FROM pipeline.matview_definitions d
        UNION
        SELECT e.upstream, e.upstream::text, false
          FROM pipeline.edges e
         WHERE NOT EXISTS (SELECT 1 FROM pipeline.matview_definitions d WHERE d.matview = e.upstream)
    ), judged AS (
        SELECT n.rel, n.label, n.managed, pipeline.can_see(n.rel) AS seen FROM nodes n
    )
    SELECT j.rel,
           CASE WHEN j.seen THEN j.rel::text
                ELSE 'unknown ' || row_number() OVER (PARTITION BY j.seen ORDER BY j.rel::oid) END,
           CASE WHEN j.seen THEN j.label ELSE 'unknown' END,
           CASE WHEN j.seen THEN j.managed END,
           (row_number() OVER (ORDER BY NOT j.seen, CASE WHEN j.seen THEN j.rel::text END,
                                        j.rel::oid))::int
      FROM judged j;
$$;

CREATE OR REPLACE FUNCTION pipeline.graph(format text DEFAULT 'dot')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pipeline
AS $$
DECLARE
    result text;
BEGIN
    IF format = 'dot' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes())
        SELECT 'digraph pipeline {' || E'\n'
            || '  rankdir=LR;' || E'\n'
            || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
            || coalesce((SELECT string_agg(format('  %s [label=%s, shape=%s];',
                                                   to_json(n.id), to_json(n.label),
                                                   CASE WHEN n.managed THEN 'box'
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
            || E'\n}' || E'\n'
          INTO result;
    ELSIF format = 'mermaid' THEN
        WITH nodes AS (
            SELECT n.*, 'n' || n.position AS mid FROM pipeline.graph_nodes() n
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
          INTO result;
    ELSIF format = 'json' THEN
        WITH nodes AS (SELECT * FROM pipeline.graph_nodes())
        SELECT jsonb_build_object(
                 'nodes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'relation', n.id,
                                              'managed', n.managed,
                                              'refresh_interval', pipeline.interval_label(d.refresh_interval),
                                              'level', o.level)
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

CREATE OR REPLACE FUNCTION pipeline.blocking_upstreams(matview regclass)
RETURNS TABLE (upstream regclass)
AS 'MODULE_PATHNAME', 'pipeline_blocking_upstreams'
LANGUAGE C STABLE STRICT;

ALTER VIEW pipeline.status SET (security_invoker = true);

ALTER TABLE pipeline.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_of_visible_views ON pipeline.runs FOR SELECT TO PUBLIC
    USING (pipeline.can_see(matview));
