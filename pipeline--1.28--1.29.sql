-- pipeline 1.28 -> 1.29: pipeline.downstream() of a partition lists the
-- views that read its parent (they read its rows), and of a parent the
-- views that read one of its partitions; the same for inheritance.  Before,
-- it followed only what views name: a partition's came out empty.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.29'" to load this file. \quit

CREATE OR REPLACE FUNCTION pipeline.downstream(relation regclass)
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

COMMENT ON FUNCTION pipeline.downstream(regclass) IS
    'Every managed view that reads the relation, a table it inherits from or one inheriting from it (partitions too), directly or through other managed views, with its depth (1: reads one of them directly)';
