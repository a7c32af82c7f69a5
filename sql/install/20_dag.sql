-- pipeline: the dependency DAG and refreshing in its order.

CREATE FUNCTION pipeline.upstream(matview regclass)
RETURNS TABLE (relation regclass, depth int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'matview must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pipeline.matview_definitions d WHERE d.matview = $1) THEN
        RAISE EXCEPTION '%', CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = $1)
                                  THEN pg_catalog.format('"%s" is not a materialized view managed by pipeline', $1)
                                  ELSE pg_catalog.format('relation with OID %s does not exist', $1::pg_catalog.oid) END
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
    -- a view may name a partition's parent, or one partition of a parent
    -- (1.29): the relation's descendants (its rows) and their ancestors
    -- (which read those rows; with multiple inheritance, not only its own)
    -- count as it
    RETURN QUERY
    WITH RECURSIVE descendants(rel) AS (
        SELECT $1::pg_catalog.oid
        UNION
        SELECT i.inhrelid FROM descendants d JOIN pg_catalog.pg_inherits i ON i.inhparent = d.rel
    ), ancestors(rel) AS (
        SELECT d.rel FROM descendants d
        UNION
        SELECT i.inhparent FROM ancestors a JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.rel
    ), down(matview, depth) AS (
        SELECT e.downstream, 1 FROM pipeline.edges e WHERE e.upstream IN (SELECT a.rel FROM ancestors a)
        UNION
        SELECT e.downstream, down.depth + 1
          FROM down JOIN pipeline.edges e ON e.upstream = down.matview
    )
    SELECT down.matview, min(down.depth)::int
      FROM down GROUP BY down.matview ORDER BY 2, down.matview::text;
END
$$;

CREATE FUNCTION pipeline.refresh_order()
RETURNS TABLE ("position" int, matview regclass, level int)
AS 'MODULE_PATHNAME', 'pipeline_refresh_order'
LANGUAGE C STABLE;

CREATE FUNCTION pipeline.graph(format text DEFAULT 'dot', with_status boolean DEFAULT false)
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
COMMENT ON FUNCTION pipeline.graph(text, boolean) IS
    'The DAG as graphviz dot, Mermaid or JSON; with_status colours each view by its health';

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

-- Whether the current user owns the relation or may SELECT from it: who
-- sees the runs of a view (the policy on pipeline.runs) and which relations
-- graph() names.  In C, so the policy costs a catalog cache probe per row.
CREATE FUNCTION pipeline.can_see(relation regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_can_see'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs); a lake publication only to its owner';

-- every relation in the DAG: managed views and the sources they read, in
-- the order graph() draws them; one the caller may not see keeps its place
-- in the DAG but shows as "unknown N" (N by OID), without label or kind
CREATE FUNCTION pipeline.graph_nodes()
RETURNS TABLE (rel regclass, id text, label text, managed boolean, "position" int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
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
                   AND r.finished_at IS NOT NULL AND pipeline.can_see(s.matview)
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

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.upstream(regclass) IS
    'Every relation a managed view reads, directly or through other managed views, with its depth (1: read directly)';
COMMENT ON FUNCTION pipeline.downstream(regclass) IS
    'Every managed view that reads the relation, a table it inherits from or one inheriting from it (partitions too), directly or through other managed views, with its depth (1: reads one of them directly)';
COMMENT ON FUNCTION pipeline.refresh_order() IS
    'Every managed view in the order a refresh of all of them runs: upstream before downstream, with its level in the DAG';
COMMENT ON FUNCTION pipeline.graph_nodes() IS
    'Internal to pipeline.graph(): every relation of the DAG, in drawing order; one the caller may not see as "unknown N"';
COMMENT ON FUNCTION pipeline.interval_label(interval) IS
    'Internal to pipeline.graph(): an interval as "2 h", "30 min" or "90 s", the same in every IntervalStyle';
