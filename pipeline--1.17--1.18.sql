-- pipeline 1.17 -> 1.18: graph() takes its format in any case ('DOT'),
-- and the functions that searched pipeline's schema after pg_catalog
-- (upstream, downstream, graph_nodes and two guard triggers) search
-- pg_catalog and pg_temp only, as every other function does: graph()
-- shows pipeline's own tables with their schema.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.18'" to load this file. \quit

ALTER FUNCTION pipeline.upstream(regclass) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pipeline.downstream(regclass) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pipeline.graph_nodes() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pipeline.guard_sql_drop() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pipeline.guard_function_drop() SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pipeline.graph(format text DEFAULT 'dot', with_status boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text;
    show_status boolean := coalesce(with_status, false);
    kind text := lower(format);   -- 'DOT' as 'dot' (1.18)
BEGIN
    IF format IS NULL THEN
        RAISE EXCEPTION 'format must not be null' USING ERRCODE = 'null_value_not_allowed',
              HINT = 'Use ''dot'', ''mermaid'' or ''json''.';
    ELSIF kind = 'dot' THEN
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
    ELSIF kind = 'mermaid' THEN
        WITH nodes AS (
            SELECT n.*, 'n' || n.position AS mid FROM pipeline.graph_nodes_status(show_status) n
        )
        SELECT 'graph LR' || E'\n'
            || coalesce((SELECT string_agg('  ' || n.mid
                                           || CASE WHEN NOT n.managed THEN '[("' ELSE '["' END
                                           -- entities for what mermaid reads as markup (1.13: < and >)
                                           || replace(replace(replace(replace(replace(n.label, '#', '#35;'),
                                                  '"', '#quot;'), '<', '#lt;'), '>', '#gt;'), E'\n', '<br/>')
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
    ELSIF kind = 'json' THEN
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
