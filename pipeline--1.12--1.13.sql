-- pipeline 1.12 -> 1.13
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.13'" to load this file. \quit

-- A dropped table's ingested dedup ids and rejected messages go with it, as
-- its deleted keys did: they outlived it under its bare OID, and a table
-- given that OID later (a restore, wraparound) inherited them: its ingests
-- counted as duplicates, its readers saw the rejected messages.  Not when
-- pipeline itself drops the table: a rebuilt view's rows move to its new
-- OID, and drop_matview() removes a dropped view's own.
CREATE OR REPLACE FUNCTION pipeline.forget_deleted_keys()
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

-- what earlier versions left behind
DELETE FROM pipeline.ingested i
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) i.target::pg_catalog.oid);
DELETE FROM pipeline.rejected r
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) r.target::pg_catalog.oid);

-- graph('mermaid'): <, > and # in a name are written as entities; they
-- were passed through, and mermaid renders labels as HTML
CREATE OR REPLACE FUNCTION pipeline.graph(format text DEFAULT 'dot', with_status boolean DEFAULT false)
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

-- drop_external_function(NULL) is an error, as for the other functions; it
-- was STRICT and did nothing without a word
ALTER FUNCTION pipeline.drop_external_function(regprocedure) CALLED ON NULL INPUT;

-- the sources of mirrors and lake publications are guarded against drops
-- reaching them (DROP SCHEMA ... CASCADE, DROP OWNED) as an incremental
-- view's are
CREATE OR REPLACE FUNCTION pipeline.guard_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pipeline, pg_temp
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
