-- pipeline: the dependency DAG and refreshing in its order.

CREATE FUNCTION pipeline.upstream(matview regclass)
RETURNS TABLE (relation regclass, depth int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pipeline, pg_temp
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
SET search_path = pg_catalog, pipeline, pg_temp
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
SET search_path = pg_catalog, pipeline, pg_temp
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

-- "2 h", "30 min", "90 s": an interval the same in every IntervalStyle
CREATE FUNCTION pipeline.interval_label(i interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN s % 86400 = 0 THEN (s / 86400) || ' d'
                WHEN s % 3600 = 0 THEN (s / 3600) || ' h'
                WHEN s % 60 = 0 THEN (s / 60) || ' min'
                ELSE s || ' s' END
      FROM (SELECT extract(epoch FROM i)::bigint AS s) x;
$$;

-- Whether the current user owns the relation or may SELECT from it: who
-- sees the runs of a view (the policy on pipeline.runs) and which relations
-- graph() names.  In C, so the policy costs a catalog cache probe per row.
CREATE FUNCTION pipeline.can_see(relation regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_can_see'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs)';

-- every relation in the DAG: managed views and the sources they read, in
-- the order graph() draws them; one the caller may not see keeps its place
-- in the DAG but shows as "unknown N" (N by OID), without label or kind
CREATE FUNCTION pipeline.graph_nodes()
RETURNS TABLE (rel regclass, id text, label text, managed boolean, "position" int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pipeline, pg_temp
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
