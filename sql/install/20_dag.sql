-- pipeline: the dependency DAG and refreshing in its order.

CREATE FUNCTION pipeline.upstream(matview regclass)
RETURNS TABLE (relation regclass, depth int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pipeline
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pipeline.matview_definitions d WHERE d.matview = $1) THEN
        RAISE EXCEPTION '"%" is not a materialized view managed by pipeline', $1
            USING ERRCODE = 'undefined_object',
                  HINT = 'Managed views are listed in pipeline.matviews.';
    END IF;
    RETURN QUERY
    WITH RECURSIVE up(relation, depth) AS (
        SELECT e.upstream, 1 FROM pipeline.edges e WHERE e.downstream = $1
        UNION
        SELECT e.upstream, up.depth + 1
          FROM up JOIN pipeline.edges e ON e.downstream = up.relation
    )
    SELECT up.relation, min(up.depth)::int
      FROM up GROUP BY up.relation ORDER BY 2, up.relation::text;
END
$$;

CREATE FUNCTION pipeline.downstream(relation regclass)
RETURNS TABLE (matview regclass, depth int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pipeline
AS $$
    WITH RECURSIVE down(matview, depth) AS (
        SELECT e.downstream, 1 FROM pipeline.edges e WHERE e.upstream = $1
        UNION
        SELECT e.downstream, down.depth + 1
          FROM down JOIN pipeline.edges e ON e.upstream = down.matview
    )
    SELECT down.matview, min(down.depth)::int
      FROM down GROUP BY down.matview ORDER BY 2, down.matview::text;
$$;

CREATE FUNCTION pipeline.refresh_order()
RETURNS TABLE ("position" int, matview regclass, level int)
AS 'MODULE_PATHNAME', 'pipeline_refresh_order'
LANGUAGE C STABLE;

CREATE FUNCTION pipeline.graph(format text DEFAULT 'dot')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pipeline
AS $$
DECLARE
    result text;
BEGIN
    IF format = 'dot' THEN
        SELECT 'digraph pipeline {' || E'\n'
            || '  rankdir=LR;' || E'\n'
            || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
            || coalesce((SELECT string_agg(format('  %s [label=%s, shape=%s];',
                                                   to_json(n.rel::text), to_json(n.label),
                                                   CASE WHEN n.managed THEN 'box' ELSE 'cylinder' END),
                                            E'\n' ORDER BY n.rel::text)
                           FROM pipeline.graph_nodes() n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s -> %s;', to_json(e.upstream::text),
                                                   to_json(e.downstream::text)),
                                            E'\n' ORDER BY e.upstream::text, e.downstream::text)
                           FROM pipeline.edges e), '')
            || E'\n}' || E'\n'
          INTO result;
    ELSIF format = 'mermaid' THEN
        WITH nodes AS (
            SELECT n.rel, n.label, n.managed,
                   'n' || row_number() OVER (ORDER BY n.rel::text) AS id
              FROM pipeline.graph_nodes() n
        )
        SELECT 'graph LR' || E'\n'
            || coalesce((SELECT string_agg('  ' || n.id
                                           || CASE WHEN n.managed THEN '["' ELSE '[("' END
                                           || replace(replace(n.label, '"', '#quot;'), E'\n', '<br/>')
                                           || CASE WHEN n.managed THEN '"]' ELSE '")]' END,
                                           E'\n' ORDER BY n.rel::text)
                           FROM nodes n), '')
            || E'\n'
            || coalesce((SELECT string_agg(format('  %s --> %s', u.id, d.id),
                                            E'\n' ORDER BY e.upstream::text, e.downstream::text)
                           FROM pipeline.edges e
                           JOIN nodes u ON u.rel = e.upstream
                           JOIN nodes d ON d.rel = e.downstream), '')
            || E'\n'
          INTO result;
    ELSIF format = 'json' THEN
        SELECT jsonb_build_object(
                 'nodes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'relation', n.rel::text,
                                              'managed', n.managed,
                                              'refresh_interval', pipeline.interval_label(d.refresh_interval),
                                              'level', o.level)
                                            ORDER BY n.rel::text)
                                      FROM pipeline.graph_nodes() n
                                      LEFT JOIN pipeline.matview_definitions d ON d.matview = n.rel
                                      LEFT JOIN pipeline.refresh_order() o ON o.matview = n.rel),
                                   '[]'),
                 'edges', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                              'upstream', e.upstream::text,
                                              'downstream', e.downstream::text)
                                            ORDER BY e.upstream::text, e.downstream::text)
                                      FROM pipeline.edges e),
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

-- "2 h", "30 min", "90 s": an interval the same in every IntervalStyle
CREATE FUNCTION pipeline.interval_label(i interval)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN s % 86400 = 0 THEN (s / 86400) || ' d'
                WHEN s % 3600 = 0 THEN (s / 3600) || ' h'
                WHEN s % 60 = 0 THEN (s / 60) || ' min'
                ELSE s || ' s' END
      FROM (SELECT extract(epoch FROM i)::bigint AS s) x;
$$;

-- every relation in the DAG: managed views and the sources they read
CREATE FUNCTION pipeline.graph_nodes()
RETURNS TABLE (rel regclass, label text, managed boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pipeline
AS $$
    SELECT d.matview, d.matview::text || E'\n' || 'every ' || pipeline.interval_label(d.refresh_interval), true
      FROM pipeline.matview_definitions d
    UNION
    SELECT e.upstream, e.upstream::text, false
      FROM pipeline.edges e
     WHERE NOT EXISTS (SELECT 1 FROM pipeline.matview_definitions d WHERE d.matview = e.upstream);
$$;

CREATE FUNCTION pipeline.time_label(refresh_interval interval, "at" timestamptz DEFAULT now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pipeline_time_label'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.time_label(interval, timestamptz) IS
    'Floor of "at" to a multiple of the interval, counted from the Unix epoch (UTC)';

CREATE FUNCTION pipeline.refresh(matview regclass, "cascade" boolean DEFAULT true)
RETURNS TABLE (matview regclass, status text, rows bigint, duration interval)
AS 'MODULE_PATHNAME', 'pipeline_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.refresh(regclass, boolean) IS
    'Refreshes a managed view and, with cascade, every downstream view in DAG order';
