-- pipeline: metadata catalogs.
--
-- The tables are written only by the extension's functions (which switch to
-- the catalog owner for the write); everyone may read them.  They are
-- registered with pg_extension_config_dump so pg_dump keeps the pipeline.

\echo Use "CREATE EXTENSION pipeline" to load this file. \quit

CREATE TABLE pipeline.matview_definitions (
    matview            regclass PRIMARY KEY,
    schema_name        name NOT NULL,
    name               text NOT NULL,
    matview_type       text NOT NULL DEFAULT 'regular'
                       CHECK (matview_type IN ('regular', 'incremental', 'mirror', 'unload')),
    refresh_interval   interval NOT NULL CHECK (refresh_interval >= interval '1 second'),
    query              text NOT NULL,
    incremental_key    text,
    datacoral_version  text,
    version            int NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- the query bound at definition: fully qualified, deparsed as
    -- PostgreSQL deparses a view; every re-analysis uses it
    bound_query        text NOT NULL,
    -- how a regular view is refreshed (NULL for any other type): the mode
    -- its definition asked for, the mode it got, and why it is refreshed
    -- fully when it is
    requested_refresh_mode text
        CONSTRAINT matview_definitions_requested_refresh_mode_check
        CHECK (requested_refresh_mode IN ('auto', 'differential', 'full')),
    refresh_mode       text
        CONSTRAINT matview_definitions_refresh_mode_check
        CHECK (refresh_mode IN ('differential', 'full')),
    full_refresh_reason text,
    UNIQUE (schema_name, name),
    -- a stream needs its incremental key, a mirror may have one
    CONSTRAINT matview_definitions_check
        CHECK (CASE matview_type WHEN 'incremental' THEN incremental_key IS NOT NULL
                                 WHEN 'mirror' THEN true
                                 ELSE incremental_key IS NULL END),
    CONSTRAINT matview_definitions_requested_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (requested_refresh_mode IS NOT NULL)),
    CONSTRAINT matview_definitions_refresh_mode_regular
        CHECK ((matview_type = 'regular') = (refresh_mode IS NOT NULL)),
    CONSTRAINT matview_definitions_full_refresh_reason_check
        CHECK ((refresh_mode IS NOT DISTINCT FROM 'full') = (full_refresh_reason IS NOT NULL)),
    -- the DPL keys given that have no column of their own (a mirror's
    -- keys, ...), as create_matview()'s options take them
    options            jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT matview_definitions_options_check CHECK (jsonb_typeof(options) = 'object'),
    -- a lake publication's delete function, resolved when it was defined
    -- and kept by OID (1.11); options keep @unload-delete-function as given
    delete_function    regprocedure
        CONSTRAINT matview_definitions_delete_function_check
        CHECK (delete_function IS NULL OR matview_type = 'unload')
);
COMMENT ON TABLE pipeline.matview_definitions IS
    'Managed materialized views; read pipeline.matviews instead, write through pipeline.define()';
COMMENT ON COLUMN pipeline.matview_definitions.requested_refresh_mode IS
    'The refresh mode the definition asked for (auto, differential, full); NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.refresh_mode IS
    'How the view is refreshed: differential or full; NULL unless the view is regular';
COMMENT ON COLUMN pipeline.matview_definitions.full_refresh_reason IS
    'Why the view is refreshed fully; NULL unless refresh_mode is full';
COMMENT ON COLUMN pipeline.matview_definitions.options IS
    'The DPL keys given without a column of their own (mirror-keys, ...), as create_matview() options';
COMMENT ON COLUMN pipeline.matview_definitions.delete_function IS
    'A lake publication''s delete function (@unload-delete-function), resolved when defined and called by OID; NULL when none';

CREATE TABLE pipeline.edges (
    upstream    regclass NOT NULL,
    downstream  regclass NOT NULL REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    PRIMARY KEY (downstream, upstream)
);
CREATE INDEX edges_upstream_idx ON pipeline.edges (upstream);
COMMENT ON TABLE pipeline.edges IS
    'Dependency DAG: upstream (a source relation or managed view) feeds downstream (a managed view)';

SELECT pg_catalog.pg_extension_config_dump('pipeline.matview_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('pipeline.edges', '');

CREATE VIEW pipeline.matviews AS
SELECT d.matview,
       d.schema_name,
       d.name,
       d.matview_type,
       d.refresh_interval,
       d.query,
       (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod),
                          ', ' ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = d.matview AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       d.version,
       d.created_at,
       d.updated_at,
       d.refresh_mode,
       d.full_refresh_reason
  FROM pipeline.matview_definitions d
  JOIN pg_catalog.pg_class c ON c.oid = d.matview;

REVOKE ALL ON ALL TABLES IN SCHEMA pipeline FROM PUBLIC;
GRANT USAGE ON SCHEMA pipeline TO PUBLIC;
GRANT SELECT ON pipeline.matview_definitions, pipeline.edges, pipeline.matviews TO PUBLIC;

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON VIEW pipeline.matviews IS
    'The managed views: one row each, with its query, columns, owner, version and refresh mode; readable by everyone';
-- pipeline: defining and dropping managed views.

CREATE FUNCTION pipeline.define(dpl text)
RETURNS regclass
AS 'MODULE_PATHNAME', 'pipeline_define'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.define(text) IS
    'Creates (or redefines) the materialized view described by a Datacoral DPL document';

-- options: every other DPL key by its name without '@', as a JSON string
-- (an array for a repeatable key)
CREATE FUNCTION pipeline.create_matview(target_schema name, name text, query text,
                                        refresh_interval interval,
                                        matview_type text DEFAULT 'regular',
                                        incremental_key text DEFAULT NULL,
                                        refresh_mode text DEFAULT 'auto',
                                        options jsonb DEFAULT '{}')
RETURNS regclass
AS 'MODULE_PATHNAME', 'pipeline_create_matview'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.create_matview(name, text, text, interval, text, text, text, jsonb) IS
    'Creates (or redefines) <target_schema>.mv_<name> from a query';

CREATE FUNCTION pipeline.drop_matview(matview regclass, "cascade" boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_drop_matview'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.drop_matview(regclass, boolean) IS
    'Drops a managed view; with cascade, its managed downstream views too';
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
-- pipeline: the compile step -- checks, redefinitions, update sets, and the
-- event triggers that guard managed views against DDL outside the API.

CREATE FUNCTION pipeline."check"(dpl text)
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_dpl'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline."check"(text) IS
    'Would this definition break any downstream view?  Changes nothing';

CREATE FUNCTION pipeline."check"(matview regclass, new_query text)
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_query'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline."check"(regclass, text) IS
    'Would this new query for a managed view break any downstream view?  Changes nothing';

-- Update sets: per user (staged_by), keyed by the view's schema and name.
CREATE TABLE pipeline.staged_changes (
    staged_by    oid NOT NULL,
    schema_name  name NOT NULL,
    name         text NOT NULL,
    dpl          text NOT NULL,
    query        text NOT NULL,
    staged_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (staged_by, schema_name, name)
);
COMMENT ON TABLE pipeline.staged_changes IS
    'Staged DPL documents of each user''s update set; read pipeline.staged, write through pipeline.stage()';
REVOKE ALL ON pipeline.staged_changes FROM PUBLIC;

-- security_barrier (1.23): a cheap function in a caller's WHERE must not see
-- other roles' rows before the view's own filter drops them
CREATE VIEW pipeline.staged WITH (security_barrier) AS
SELECT s.schema_name::text || '.' || s.name AS name,
       s.query,
       s.staged_at
  FROM pipeline.staged_changes s
 WHERE s.staged_by = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user);
GRANT SELECT ON pipeline.staged TO PUBLIC;

CREATE FUNCTION pipeline.stage(dpl text)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_stage'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.stage(text) IS
    'Adds a DPL document to the calling user''s update set (replacing one for the same view)';

CREATE FUNCTION pipeline.check_staged()
RETURNS TABLE (matview regclass, status text, detail text)
AS 'MODULE_PATHNAME', 'pipeline_check_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.check_staged() IS
    'Judges the final state of the whole update set; changes nothing';

CREATE FUNCTION pipeline.apply_staged()
RETURNS TABLE (matview regclass, action text)
AS 'MODULE_PATHNAME', 'pipeline_apply_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_staged() IS
    'Applies the whole update set, all or nothing, then empties it';

CREATE FUNCTION pipeline.discard_staged()
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_discard_staged'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.discard_staged() IS
    'Empties the calling user''s update set';

-- The guard.
CREATE FUNCTION pipeline.ddl_in_progress()
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_ddl_in_progress'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.ddl_in_progress() IS
    'True while pipeline itself runs DDL on managed views';

CREATE FUNCTION pipeline.guard_ddl_command_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_guard_ddl_command_start'
LANGUAGE C;

CREATE FUNCTION pipeline.guard_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    doomed text;
    readers text;
BEGIN
    IF pipeline.ddl_in_progress() THEN
        RETURN;
    END IF;
    SELECT string_agg(o.object_identity, ', ' ORDER BY o.object_identity)
      INTO doomed
      FROM pg_event_trigger_dropped_objects() o
      JOIN pipeline.matview_definitions d ON d.matview::oid = o.objid
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop managed view(s) % outside pipeline', doomed
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'The command would drop them (directly or by CASCADE) and leave the pipeline catalog inconsistent.',
                  HINT = 'Drop managed views with pipeline.drop_matview() first, or change them with pipeline.define() / pipeline.stage().';
    END IF;
    -- an incremental view, a mirror and a publication are tables:
    -- PostgreSQL records no dependency on what their queries read, so
    -- their sources are guarded here (1.13: mirrors and publications too)
    SELECT string_agg(DISTINCT o.object_identity, ', '),
           string_agg(DISTINCT e.downstream::text, ', ')
      INTO doomed, readers
      FROM pg_event_trigger_dropped_objects() o
      JOIN pipeline.edges e ON e.upstream::oid = o.objid
      JOIN pipeline.matview_definitions d
        ON d.matview = e.downstream AND d.matview_type IN ('incremental', 'mirror', 'unload')
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop % because incremental view(s) % read it', doomed, readers
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop the incremental views with pipeline.drop_matview() or redefine them with pipeline.define() first.';
    END IF;
END
$$;

CREATE EVENT TRIGGER pipeline_guard_ddl ON ddl_command_start
    WHEN TAG IN ('DROP MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW',
                 'ALTER TABLE', 'ALTER INDEX', 'ALTER VIEW')
    EXECUTE FUNCTION pipeline.guard_ddl_command_start();
CREATE EVENT TRIGGER pipeline_guard_drop ON sql_drop
    EXECUTE FUNCTION pipeline.guard_sql_drop();
-- the change-tracking triggers on sources (src/change_tracking.h): not
-- dropped, renamed, replaced or created outside the API
CREATE EVENT TRIGGER pipeline_guard_tracking ON ddl_command_start
    WHEN TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER')
    EXECUTE FUNCTION pipeline.guard_ddl_command_start();
-- also in sessions with session_replication_role = replica
ALTER EVENT TRIGGER pipeline_guard_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER pipeline_guard_tracking ENABLE ALWAYS;

-- trigger functions: fired, never called
REVOKE ALL ON FUNCTION pipeline.guard_ddl_command_start(), pipeline.guard_sql_drop() FROM PUBLIC;

-- 1.11: a function a managed view calls by OID, an after-refresh hook or a
-- lake publication's delete function, is not dropped from under it
-- (DROP FUNCTION, with CASCADE too, DROP SCHEMA ... CASCADE, DROP OWNED,
-- drop_external_function()): PostgreSQL records no dependency on it.
-- Pipeline's own DDL is held to it too; a command that drops the view as
-- well passes (the view's own guard above has its say about that).
CREATE FUNCTION pipeline.guard_function_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    doomed text;
    uses text;
    n int;
BEGIN
    SELECT string_agg(DISTINCT o.object_identity, ', ' ORDER BY o.object_identity),
           string_agg(format('%s is the %s of %s', o.object_identity, u.what, u.matview),
                      '; ' ORDER BY o.object_identity, u.what, u.matview::text),
           count(DISTINCT o.objid)
      INTO doomed, uses, n
      FROM pg_event_trigger_dropped_objects() o
      JOIN (SELECT h.fn::oid AS fn, h.matview, 'after-refresh hook' AS what
              FROM pipeline.after_refresh_hooks h
            UNION ALL
            SELECT d.delete_function::oid, d.matview, 'delete function'
              FROM pipeline.matview_definitions d
             WHERE d.delete_function IS NOT NULL) u ON u.fn = o.objid
     WHERE o.classid = 'pg_catalog.pg_proc'::regclass
       AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() v
                        WHERE v.classid = 'pg_catalog.pg_class'::regclass AND v.objsubid = 0
                          AND v.objid = u.matview::oid);
    IF doomed IS NOT NULL THEN
        RAISE EXCEPTION 'cannot drop function% % because managed views call %',
                        CASE WHEN n > 1 THEN 's' ELSE '' END, doomed,
                        CASE WHEN n > 1 THEN 'them' ELSE 'it' END
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = uses || '.',
                  HINT = 'Clear the hook with pipeline.set_after_refresh(view, NULL), or redefine the publication with another @unload-delete-function or without one, first.';
    END IF;
END
$$;
COMMENT ON FUNCTION pipeline.guard_function_drop() IS
    'Event trigger: refuses dropping a function that a managed view calls by OID (an after-refresh hook, a lake publication''s delete function)';
REVOKE ALL ON FUNCTION pipeline.guard_function_drop() FROM PUBLIC;
CREATE EVENT TRIGGER pipeline_guard_function_drop ON sql_drop
    EXECUTE FUNCTION pipeline.guard_function_drop();
ALTER EVENT TRIGGER pipeline_guard_function_drop ENABLE ALWAYS;

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.guard_ddl_command_start() IS
    'The guard''s ddl_command_start event trigger: refuses DDL outside pipeline that would break a managed view';
COMMENT ON FUNCTION pipeline.guard_sql_drop() IS
    'The guard''s sql_drop event trigger: refuses dropping a managed view outside pipeline.drop_matview()';
COMMENT ON VIEW pipeline.staged IS
    'The calling user''s update set: the DPL documents stage() holds until apply_staged() or discard_staged()';
-- pipeline: DROP EXTENSION pipeline leaves the managed views as they are.
-- Before PostgreSQL looks at what depends on the extension, this event
-- trigger removes the change-tracking triggers on source tables (they call
-- pipeline.record_change()), cancels the database's refreshes and makes its
-- scheduler stand aside, all in the DROP's transaction (drop_extension.c).

CREATE FUNCTION pipeline.before_drop_extension()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_before_drop_extension'
LANGUAGE C;
COMMENT ON FUNCTION pipeline.before_drop_extension() IS
    'Event trigger: readies DROP EXTENSION pipeline (removes the tracking triggers, stops refreshes)';
REVOKE ALL ON FUNCTION pipeline.before_drop_extension() FROM PUBLIC;

CREATE EVENT TRIGGER pipeline_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION pipeline.before_drop_extension();
-- also under session_replication_role = replica (1.26)
ALTER EVENT TRIGGER pipeline_drop_extension ENABLE ALWAYS;
-- pipeline: external functions over HTTP, after-refresh hooks, unload.

-- Roles are cluster-wide: create the admin role only where it is missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pipeline_admin') THEN
        CREATE ROLE pipeline_admin NOLOGIN;
    END IF;
END
$$;

CREATE TABLE pipeline.external_function_definitions (
    fn              regprocedure PRIMARY KEY,
    endpoint        text NOT NULL CHECK (endpoint ~* '^https?://'),
    max_batch_rows  int NOT NULL CHECK (max_batch_rows BETWEEN 1 AND 100000),
    timeout         interval NOT NULL
                    CHECK (timeout > interval '0' AND timeout <= interval '1 day'),
    retries         int NOT NULL CHECK (retries BETWEEN 0 AND 100),
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pipeline.external_function_definitions IS
    'External functions and their HTTP endpoints; read pipeline.external_functions, write through pipeline.create_external_function()';

CREATE TABLE pipeline.after_refresh_hooks (
    matview  regclass PRIMARY KEY
             REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    fn       regprocedure NOT NULL
);
COMMENT ON TABLE pipeline.after_refresh_hooks IS
    'Functions called after each successful refresh of a view; write through pipeline.set_after_refresh()';

SELECT pg_catalog.pg_extension_config_dump('pipeline.external_function_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('pipeline.after_refresh_hooks', '');

CREATE VIEW pipeline.external_functions AS
SELECT d.fn, d.endpoint, d.max_batch_rows, d.timeout, d.retries
  FROM pipeline.external_function_definitions d
  JOIN pg_catalog.pg_proc p ON p.oid = d.fn;

REVOKE ALL ON pipeline.external_function_definitions, pipeline.after_refresh_hooks,
    pipeline.external_functions FROM PUBLIC;
GRANT SELECT ON pipeline.external_function_definitions, pipeline.after_refresh_hooks,
    pipeline.external_functions TO PUBLIC;

CREATE FUNCTION pipeline.create_external_function(signature text, returns regtype,
                                                  endpoint text,
                                                  volatility text DEFAULT 'volatile',
                                                  max_batch_rows int DEFAULT 100,
                                                  timeout interval DEFAULT '30 seconds',
                                                  retries int DEFAULT 2)
RETURNS regprocedure
AS 'MODULE_PATHNAME', 'pipeline_create_external_function'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.create_external_function(text, regtype, text, text, int, interval, int) IS
    'Creates a SQL function whose body is an HTTP endpoint speaking the Redshift Lambda UDF protocol';

CREATE FUNCTION pipeline.drop_external_function(fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_drop_external_function'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.drop_external_function(regprocedure) IS
    'Drops an external function created by pipeline.create_external_function()';

CREATE FUNCTION pipeline.invoke(fn regprocedure, arguments jsonb)
RETURNS TABLE(ordinality bigint, result jsonb)
AS 'MODULE_PATHNAME', 'pipeline_invoke'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.invoke(regprocedure, jsonb) IS
    'Calls an external function on many argument rows ([[a1,a2..],..]), max_batch_rows per request';

CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn text)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, text) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn is a name or a signature';

-- 1.10: fn by OID as well (API.md section 4), such as a regprocedure that
-- create_external_function() returned; a quoted literal still means text
CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, regprocedure) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn by its OID';

CREATE FUNCTION pipeline.unload(query text, destination text,
                                partition_by text[] DEFAULT '{}',
                                format text DEFAULT 'csv',
                                overwrite boolean DEFAULT false)
RETURNS TABLE(path text, rows bigint)
AS 'MODULE_PATHNAME', 'pipeline_unload'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.unload(text, text, text[], text, boolean) IS
    'Writes a query''s rows as CSV files under destination, one directory level per partition column';

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON VIEW pipeline.external_functions IS
    'The external functions: each one''s endpoint, batch size, timeout and retries';
-- pipeline: change data: applying CDC change tables, exactly-once
-- ingestion of JSON messages, and the state of incremental views.

-- Dedup ids already ingested, per target (pipeline.ingest).  Written only by
-- ingest() (as the catalog owner); a row is readable by whoever may read the
-- target.
CREATE TABLE pipeline.ingested (
    target       regclass NOT NULL,
    dedup_id     text NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, dedup_id)
);
COMMENT ON TABLE pipeline.ingested IS
    'Dedup ids ingested into each target by pipeline.ingest(); written only by ingest()';

-- Messages ingest() could not insert, with the error.
CREATE TABLE pipeline.rejected (
    target       regclass NOT NULL,
    message      jsonb NOT NULL,
    error        text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    dedup_id     text,
    accepted_at  timestamptz,
    source       regclass
);
-- no primary key: a publication of all tables would refuse its updates
-- and deletes without an identity (1.26)
ALTER TABLE pipeline.rejected REPLICA IDENTITY FULL;
CREATE INDEX rejected_target_idx ON pipeline.rejected (target, rejected_at);
COMMENT ON TABLE pipeline.rejected IS
    'Messages pipeline.ingest() rejected and stream rows quarantined, with the error; written only by pipeline';
COMMENT ON COLUMN pipeline.rejected.dedup_id IS
    'The message''s dedup id; NULL when it had none';
COMMENT ON COLUMN pipeline.rejected.accepted_at IS
    'When a later message with the same dedup id was accepted; NULL until then';
COMMENT ON COLUMN pipeline.rejected.source IS
    'The stream table a quarantined row came from (@on-error quarantine); NULL for ingest()';

-- what pruning by pipeline.ingested_retention reads; the ids of one ingest
-- share ingested_at, which deduplication would make slow to insert
CREATE INDEX ingested_expiry_idx ON pipeline.ingested (target, ingested_at)
    WITH (deduplicate_items = off);
-- the rejections a later accepted message may close
CREATE INDEX rejected_open_idx ON pipeline.rejected (target, dedup_id)
    WHERE dedup_id IS NOT NULL AND accepted_at IS NULL;

SELECT pg_catalog.pg_extension_config_dump('pipeline.ingested', '');
SELECT pg_catalog.pg_extension_config_dump('pipeline.rejected', '');

-- Whether the current role reads every row of relation: true unless row
-- level security applies to it there (its owner, a superuser or a role
-- with BYPASSRLS reads them all; a forced policy binds the owner too).
-- The side tables of a target under row-level security (ingested ids,
-- rejected messages, deleted keys) show its rows only to such a role,
-- since which of them a policy would let the role see is not known (1.10).
-- Every name in it qualified, and no SET clause, so a policy inlines it.
CREATE FUNCTION pipeline.reads_all_rows(relation regclass) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.row_security_active(relation) IS NOT TRUE $$;
COMMENT ON FUNCTION pipeline.reads_all_rows(regclass) IS
    'Whether no row-level security applies to the current role on relation: the policies of pipeline''s side tables (ingested, rejected, deleted_keys) use it';

REVOKE ALL ON pipeline.ingested, pipeline.rejected FROM PUBLIC;
GRANT SELECT ON pipeline.ingested, pipeline.rejected TO PUBLIC;
ALTER TABLE pipeline.ingested ENABLE ROW LEVEL SECURITY;
ALTER TABLE pipeline.rejected ENABLE ROW LEVEL SECURITY;
CREATE POLICY ingested_target_readers ON pipeline.ingested FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));
-- a quarantined row is the stream table's: readable by who may read both
CREATE POLICY rejected_target_readers ON pipeline.rejected FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target)
           AND (source IS NULL OR (pg_catalog.has_table_privilege(source, 'SELECT')
                                   AND pipeline.reads_all_rows(source))));

CREATE FUNCTION pipeline.apply_changes(changes regclass, target regclass, keys text[],
                                       sequence_by text, op_column text DEFAULT 'op',
                                       delete_op text DEFAULT 'D',
                                       truncate_changes boolean DEFAULT true,
                                       ignore_columns text[] DEFAULT '{}')
RETURNS TABLE (inserted bigint, updated bigint, deleted bigint)
AS 'MODULE_PATHNAME', 'pipeline_apply_changes'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes(regclass, regclass, text[], text, text, text, boolean, text[]) IS
    'Applies a table of I/U/D change rows to a mirror table: latest change per key wins';

CREATE FUNCTION pipeline.ingest(target regclass, messages jsonb, dedup_key text DEFAULT 'dedup_id')
RETURNS TABLE (accepted int, duplicates int, rejected int)
AS 'MODULE_PATHNAME', 'pipeline_ingest'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.ingest(regclass, jsonb, text) IS
    'Inserts a JSON array of messages into a table exactly once per dedup id; bad ones go to pipeline.rejected';

-- internal: apply_changes()'s MERGE checks each change with it, in order
CREATE FUNCTION pipeline.apply_changes_row(op text, delete_op text, seq "any",
                                           VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_row'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_row(text, text, "any", "any") IS
    'Internal to pipeline.apply_changes(); only counts while apply_changes() runs';

-- Progress of incremental (append-only) views: the greatest key appended so
-- far, advanced in the same transaction as the append.  Written only by
-- refreshes (as the catalog owner); readable by who may see the view.
CREATE TABLE pipeline.incremental_state (
    matview      regclass PRIMARY KEY REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    high_water   text NOT NULL,
    advanced_at  timestamptz NOT NULL DEFAULT now(),
    first_key    text,
    key_type     regtype            -- 1.28
);
COMMENT ON TABLE pipeline.incremental_state IS
    'High-water mark of each incremental view and mirror (text in the key''s type, DateStyle ISO)';
COMMENT ON COLUMN pipeline.incremental_state.first_key IS
    'A mirror''s least consumed key: its stream can rebuild it while the stream still holds that key';
COMMENT ON COLUMN pipeline.incremental_state.key_type IS
    'The type the mark is a value of, recorded by each run (NULL: none since 1.28)';
SELECT pg_catalog.pg_extension_config_dump('pipeline.incremental_state', '');
REVOKE ALL ON pipeline.incremental_state FROM PUBLIC;
GRANT SELECT ON pipeline.incremental_state TO PUBLIC;
-- a mark is a value of the view's key: readable by who may see the view (1.10)
ALTER TABLE pipeline.incremental_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY incremental_state_of_visible_views ON pipeline.incremental_state FOR SELECT
    USING (pipeline.can_see(matview));

-- The deleted-key memory of apply_changes(): the sequence of every key a
-- delete removed from a target, so that an older change arriving later
-- (an out-of-order batch) never brings the row back.  key is the key's text
-- (a row literal for several key columns) and sequence the sequence's, both
-- written with DateStyle ISO and TimeZone UTC.  Kept for
-- pipeline.deleted_keys_retention after the delete (an apply into the
-- target prunes its expired keys, at most every eighth of the retention:
-- pipeline.deleted_keys_targets); a dropped target's keys go with it.
-- Written only by apply_changes() (as the catalog owner); a row is readable
-- by whoever may read the target.
-- sequence_type (1.25) is the type the sequence is spelled in, and part of
-- the key: an apply reads and writes only the keys remembered in its own
-- sequence type (and those remembered before 1.25, NULL, read in its type),
-- so an apply with a sequence of another type (a change table of another
-- role's) neither fails on them nor overwrites them.
CREATE TABLE pipeline.deleted_keys (
    target      regclass NOT NULL,
    key         text COLLATE "C" NOT NULL,
    sequence    text NOT NULL,
    deleted_at  timestamptz NOT NULL,
    sequence_type regtype,
    CONSTRAINT deleted_keys_target_key_sequence_type_key
        UNIQUE NULLS NOT DISTINCT (target, key, sequence_type)
);
-- no primary key: a publication of all tables would refuse its updates
-- and deletes without an identity (1.26)
ALTER TABLE pipeline.deleted_keys REPLICA IDENTITY FULL;
COMMENT ON TABLE pipeline.deleted_keys IS
    'Keys apply_changes() deleted, with the delete''s sequence: older changes of them are not applied; written only by apply_changes()';
SELECT pg_catalog.pg_extension_config_dump('pipeline.deleted_keys', '');
REVOKE ALL ON pipeline.deleted_keys FROM PUBLIC;
GRANT SELECT ON pipeline.deleted_keys TO PUBLIC;
ALTER TABLE pipeline.deleted_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY deleted_keys_target_readers ON pipeline.deleted_keys FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));

-- The targets that have deleted keys remembered, how many (counted by
-- apply_changes(), recounted when pruning), and when their expired keys
-- were last pruned.  A row here is what makes an apply look at the memory
-- at all; pruning (a scan of the target's keys, no index on deleted_at to
-- keep up per key) runs when the last one is an eighth of the retention
-- old; and an apply of more changes than the target has keys reads them
-- whole instead of probing them one by one.  The types of the keys and
-- sequences remembered (1.28) let a statement that changes how their values
-- are written (an enum label renamed, an attribute added to a row type)
-- rewrite the texts remembered.  Written only by apply_changes().
CREATE TABLE pipeline.deleted_keys_targets (
    target      regclass PRIMARY KEY,
    pruned_at   timestamptz NOT NULL,
    keys        bigint NOT NULL,    -- how many are remembered
    key_types   regtype[],          -- the key columns' types (domain-free) of the apply that remembered keys last; NULL: unknown (1.28)
    sequence_types regtype[]        -- the sequences' types (domain-free) remembered; NULL: unknown (1.28)
);
COMMENT ON TABLE pipeline.deleted_keys_targets IS
    'Targets with deleted keys remembered in pipeline.deleted_keys, how many, and when their expired keys were last pruned; written only by apply_changes()';
SELECT pg_catalog.pg_extension_config_dump('pipeline.deleted_keys_targets', '');
REVOKE ALL ON pipeline.deleted_keys_targets FROM PUBLIC;
GRANT SELECT ON pipeline.deleted_keys_targets TO PUBLIC;
ALTER TABLE pipeline.deleted_keys_targets ENABLE ROW LEVEL SECURITY;
CREATE POLICY deleted_keys_targets_readers ON pipeline.deleted_keys_targets FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));

-- internal: apply_changes()'s MERGE calls these as the caller, so they are
-- executable by PUBLIC; outside apply_changes() they do nothing
CREATE FUNCTION pipeline.apply_changes_deleting(seq "any", VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_deleting'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_deleting("any", "any") IS
    'Internal to pipeline.apply_changes(): remembers the sequence of a row a null-sequence delete removes';
CREATE FUNCTION pipeline.apply_changes_insertable(seq "any", VARIADIC keys "any")
RETURNS boolean
AS 'MODULE_PATHNAME', 'pipeline_apply_changes_insertable'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.apply_changes_insertable("any", "any") IS
    'Internal to pipeline.apply_changes(): false when a remembered delete of the key is not older than the change';

-- a dropped table's deleted keys go with it (its OID may be reused), and
-- so do its ingested dedup ids and rejected messages (1.13), unless
-- pipeline itself drops it: a rebuilt view's rows move to its new OID, and
-- drop_matview() removes a dropped view's own
CREATE FUNCTION pipeline.forget_deleted_keys()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pipeline.deleted_keys d
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND d.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
    DELETE FROM pipeline.deleted_keys_targets d
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND d.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
    IF pipeline.ddl_in_progress() THEN
        RETURN;
    END IF;
    DELETE FROM pipeline.ingested i
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND i.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
    DELETE FROM pipeline.rejected r
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0
       AND r.target OPERATOR(pg_catalog.=) o.objid::pg_catalog.regclass;
END
$$;
REVOKE ALL ON FUNCTION pipeline.forget_deleted_keys() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.forget_deleted_keys() IS
    'Event trigger: removes what pipeline keeps of dropped tables (deleted keys; ingested ids and rejected messages unless pipeline drops them)';
CREATE EVENT TRIGGER pipeline_forget_deleted_keys ON sql_drop
    EXECUTE FUNCTION pipeline.forget_deleted_keys();
-- also for pipeline's own DDL as another role, which runs with
-- session_replication_role = replica (1.26)
ALTER EVENT TRIGGER pipeline_forget_deleted_keys ENABLE ALWAYS;

-- What each lake publication (@matview-type unload) has published, per
-- partition: its rows' digest (NULL: to be republished), and the files
-- with their sizes, to tell when the tree on disk differs.  The
-- publication's own table <schema>.mv_<name> is the manifest users read;
-- this is pipeline's bookkeeping.  Written by the publication's runs (as
-- the catalog owner); a row (its paths name partition values) is readable
-- by whoever may read the publication's manifest.
CREATE TABLE pipeline.publication_state (
    publication  regclass NOT NULL REFERENCES pipeline.matview_definitions ON DELETE CASCADE,
    partition    text NOT NULL,
    digest       text,
    files        text[] NOT NULL,
    sizes        bigint[] NOT NULL,
    PRIMARY KEY (publication, partition)
);
COMMENT ON TABLE pipeline.publication_state IS
    'Per partition of each lake publication: the digest of its rows and the files published; written only by pipeline';
SELECT pg_catalog.pg_extension_config_dump('pipeline.publication_state', '');
REVOKE ALL ON pipeline.publication_state FROM PUBLIC;
GRANT SELECT ON pipeline.publication_state TO PUBLIC;
ALTER TABLE pipeline.publication_state ENABLE ROW LEVEL SECURITY;
-- digests are of the query's rows: readable by who may see the publication
-- (pipeline.can_see(): for a publication, its owner; 1.16)
CREATE POLICY publication_state_readers ON pipeline.publication_state FOR SELECT
    USING (pipeline.can_see(publication));
-- pipeline: change capture for differential refresh (src/views/capture.h).
--
-- A table a differential view reads gets triggers calling
-- pipeline.capture_change(), which append the row images of every write
-- (the columns the views need) to the table's change log,
-- pipeline.capture_log_<n>.  The logs are created at run time by the
-- catalog owner and made extension members.
--
-- API.md section 0's checklist, for every table here and every log:
--   grants: none; REVOKE ALL FROM PUBLIC; only the extension (as the
--     catalog owner) reads or writes them, so no row-level security to state;
--   pg_dump: not registered (pg_extension_config_dump): they hold no user
--     state a restore needs; a restored database's first refresh of each
--     view is full and starts capture again (the dumped capture triggers
--     pass the guard's "as made" check and log nothing until then);
--   retention: log rows every consumer has consumed are pruned
--     (capture_prune(), after the run history is pruned); the catalog rows
--     go with their view (capture_unregister(), ON DELETE CASCADE) or their
--     table (the sql_drop trigger below);
--   dump/restore: test/t/074_capture_dump.pl (the triggers are dumped and
--     restored past the guard, logs and these tables are not).

CREATE SEQUENCE pipeline.capture_log_seq;
COMMENT ON SEQUENCE pipeline.capture_log_seq IS
    'Numbers the change logs pipeline.capture_log_<n>';

CREATE TABLE pipeline.capture_sources (
    source       regclass PRIMARY KEY,
    log_table    regclass NOT NULL,
    -- source attnums the log holds (column a<attnum>); only grows while captured
    columns      int2[] NOT NULL,
    -- the transaction that started or last widened capture: a refresh
    -- position that does not see it predates the capture
    capture_xid  xid8 NOT NULL
);
COMMENT ON TABLE pipeline.capture_sources IS
    'Tables whose changes are captured for differential refresh, and their change logs';

CREATE TABLE pipeline.capture_consumers (
    matview  regclass
             REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    source   regclass,
    columns  int2[] NOT NULL,
    PRIMARY KEY (matview, source)
);
COMMENT ON TABLE pipeline.capture_consumers IS
    'Which managed view needs which captured columns of which table';

REVOKE ALL ON pipeline.capture_sources, pipeline.capture_consumers,
    pipeline.capture_log_seq FROM PUBLIC;

-- fired, never called; creating a trigger on it needs EXECUTE, which only
-- the extension's owner has
CREATE FUNCTION pipeline.capture_change()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_capture_change'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.capture_change() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_change() IS
    'Trigger on tables differential views read: appends the changed rows to the table''s change log';

-- internal (the differential refresh registers its views itself); for tests
CREATE FUNCTION pipeline.capture_register(matview regclass, source regclass, columns int2[])
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_register'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_register(regclass, regclass, int2[]) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_register(regclass, regclass, int2[]) IS
    'Internal: the view needs these columns of the table; starts or widens capture';

CREATE FUNCTION pipeline.capture_unregister(matview regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_unregister'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_unregister(regclass) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_unregister(regclass) IS
    'Internal: the view needs no captured columns; stops capture of tables nobody needs';

CREATE FUNCTION pipeline.capture_prune(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_capture_prune'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION pipeline.capture_prune(regclass) FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_prune(regclass) IS
    'Internal: deletes the change-log rows of the table every consumer has consumed';

-- a dropped table's triggers go with it; its log and rows go here
CREATE FUNCTION pipeline.capture_forget_dropped()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pipeline_capture_forget_dropped'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.capture_forget_dropped() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.capture_forget_dropped() IS
    'Event trigger: removes the change log and capture rows of dropped tables';
CREATE EVENT TRIGGER pipeline_capture_dropped ON sql_drop
    EXECUTE FUNCTION pipeline.capture_forget_dropped();
ALTER EVENT TRIGGER pipeline_capture_dropped ENABLE ALWAYS;
-- Differential refresh (src/views/differential.c): where each differential
-- view's last refresh left off, the snapshot it read its sources and their
-- change logs in, with its transaction and command id (which of that
-- transaction's own writes it saw).  Derived state: not dumped (a restored
-- view's first refresh is full), owned by the extension's owner, readable by
-- nobody else, deleted with its view.  A view's state table
-- (pipeline.state_<oid>, grouped views) is made when the view is, belongs
-- to the view's owner and is a member of the extension (so not dumped).
CREATE TABLE pipeline.differential_positions (
    matview     regclass PRIMARY KEY
                REFERENCES pipeline.matview_definitions ON DELETE CASCADE ON UPDATE CASCADE,
    snapshot    pg_snapshot NOT NULL,
    xid         xid8 NOT NULL,
    command_id  bigint NOT NULL,
    row_count   bigint NOT NULL,            -- the view's rows after that refresh
    settings    text NOT NULL DEFAULT '',   -- the settings its answer depends on
    saved_at    timestamptz NOT NULL        -- past pipeline.change_log_retention,
                DEFAULT now()               -- the position is forgotten
);
REVOKE ALL ON pipeline.differential_positions FROM PUBLIC;
COMMENT ON TABLE pipeline.differential_positions IS
    'Where each differentially refreshed view''s last refresh left off in its sources'' change logs';

-- On each differential view's table, BEFORE INSERT, UPDATE, DELETE or
-- TRUNCATE, per statement, ENABLE ALWAYS: only the view's refresh writes
-- it.  Fired, never called; creating a trigger on it needs EXECUTE, which
-- only the extension's owner has.
CREATE FUNCTION pipeline.view_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'pipeline_view_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION pipeline.view_guard() FROM PUBLIC;
COMMENT ON FUNCTION pipeline.view_guard() IS
    'Trigger on differential views'' tables: refuses writes but their refresh''s';

-- 1.7: the best few values of a group that a grouped view's state keeps
-- for each min() and max() (src/views/diff_extremes.c), after a refresh's
-- changes; NULL when they are unknown and must be read from the sources.
-- A pure function of its arguments; the generated refresh SQL calls it as
-- the view's owner, so it is executable by PUBLIC.
CREATE FUNCTION pipeline.extremes_after(kept anyarray, old_count bigint, deleted anyarray,
                                        deleted_counts bigint[], inserted anyelement,
                                        new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_after'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_after(anyarray, bigint, anyarray, bigint[], anyelement, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and an insert';
-- 1.9: the same with the best values of the rows that came (kept_extremes()
-- of them) rather than the best alone: an append of several rows to a group
-- keeps its best values known instead of only the new best
CREATE FUNCTION pipeline.extremes_merged(kept anyarray, old_count bigint, deleted anyarray,
                                         deleted_counts bigint[], inserted anyarray,
                                         new_count bigint, descending boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_extremes_merged'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pipeline.extremes_merged(anyarray, bigint, anyarray, bigint[], anyarray, bigint, boolean) IS
    'Internal to differential refresh: the best values of a group kept for min() or max() after deletes and inserts';
-- and, when a state is filled from the sources, each group's best values
CREATE FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_final'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.kept_extremes(anyelement, boolean) (
    SFUNC = pipeline.kept_extremes_step,
    STYPE = internal,
    SSPACE = 100,               -- its fixed part: so the planner may hash groups
    FINALFUNC = pipeline.kept_extremes_final,
    FINALFUNC_EXTRA
);
COMMENT ON AGGREGATE pipeline.kept_extremes(anyelement, boolean) IS
    'Internal to differential refresh: a group''s best values kept for min() (false) or max() (true)';
-- and of the rows that came, each delta row counted as many times as the
-- rows it stands for
CREATE FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean, bigint)
RETURNS anyarray
AS 'MODULE_PATHNAME', 'pipeline_kept_extremes_final'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.kept_extremes(anyelement, boolean, bigint) (
    SFUNC = pipeline.kept_extremes_step,
    STYPE = internal,
    SSPACE = 100,
    FINALFUNC = pipeline.kept_extremes_final,
    FINALFUNC_EXTRA
);
COMMENT ON AGGREGATE pipeline.kept_extremes(anyelement, boolean, bigint) IS
    'Internal to differential refresh: a group''s best values kept for min() (false) or max() (true), each value counted the given times';

-- the aggregates' steps and final functions take internal, so no SQL can
-- call them, and PostgreSQL checks them as the aggregates' owner (1.22):
-- PUBLIC needs only the aggregates
REVOKE ALL ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean),
    pipeline.kept_extremes_final(internal, anyelement, boolean),
    pipeline.kept_extremes_step(internal, anyelement, boolean, bigint),
    pipeline.kept_extremes_final(internal, anyelement, boolean, bigint) FROM PUBLIC;

-- 1.9: the largest display scale among a delta's numeric values and of how
-- many rows (each value counted as many times as the rows it stands for),
-- in one pass: two aggregates sharing one state (src/views/diff_scale.c)
CREATE FUNCTION pipeline.scale_census_step(internal, numeric, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'pipeline_scale_census_step'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.scale_census_scale(internal)
RETURNS integer
AS 'MODULE_PATHNAME', 'pipeline_scale_census_scale'
LANGUAGE C IMMUTABLE;
CREATE FUNCTION pipeline.scale_census_rows(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pipeline_scale_census_rows'
LANGUAGE C IMMUTABLE;
CREATE AGGREGATE pipeline.max_scale(numeric, bigint) (
    SFUNC = pipeline.scale_census_step,
    STYPE = internal,
    SSPACE = 16,
    FINALFUNC = pipeline.scale_census_scale
);
COMMENT ON AGGREGATE pipeline.max_scale(numeric, bigint) IS
    'Internal to differential refresh: the largest display scale among the values';
CREATE AGGREGATE pipeline.max_scale_rows(numeric, bigint) (
    SFUNC = pipeline.scale_census_step,
    STYPE = internal,
    SSPACE = 16,
    FINALFUNC = pipeline.scale_census_rows
);
COMMENT ON AGGREGATE pipeline.max_scale_rows(numeric, bigint) IS
    'Internal to differential refresh: how many rows have the largest display scale among the values, each value counted the given times';

REVOKE ALL ON FUNCTION pipeline.scale_census_step(internal, numeric, bigint),
    pipeline.scale_census_scale(internal), pipeline.scale_census_rows(internal) FROM PUBLIC;

-- a delta's sum when its groups have a few rows each (1.21): adding each
-- value to the last costs less than making sum()'s state for every group
CREATE AGGREGATE pipeline.numeric_sum(numeric) (
    SFUNC = pg_catalog.numeric_add,
    STYPE = numeric,
    COMBINEFUNC = pg_catalog.numeric_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE pipeline.numeric_sum(numeric) IS
    'Internal to differential refresh: the sum of the values, as sum(numeric) gives it, for groups of a few values';

-- descriptions for \df+ and \dv+ (1.17)
COMMENT ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean) IS
    'Internal to differential refresh: the step of pipeline.kept_extremes(anyelement, boolean)';
COMMENT ON FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean) IS
    'Internal to differential refresh: the final function of pipeline.kept_extremes(anyelement, boolean)';
COMMENT ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean, bigint) IS
    'Internal to differential refresh: the step of pipeline.kept_extremes(anyelement, boolean, bigint)';
COMMENT ON FUNCTION pipeline.kept_extremes_final(internal, anyelement, boolean, bigint) IS
    'Internal to differential refresh: the final function of pipeline.kept_extremes(anyelement, boolean, bigint)';
COMMENT ON FUNCTION pipeline.scale_census_step(internal, numeric, bigint) IS
    'Internal to differential refresh: the step of pipeline.max_scale() and pipeline.max_scale_rows()';
COMMENT ON FUNCTION pipeline.scale_census_scale(internal) IS
    'Internal to differential refresh: the final function of pipeline.max_scale()';
COMMENT ON FUNCTION pipeline.scale_census_rows(internal) IS
    'Internal to differential refresh: the final function of pipeline.max_scale_rows()';
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
