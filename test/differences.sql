-- pg_temp.differences(view, query): the rows of a view and of its query,
-- each as text (so a numeric's scale counts), that the other lacks, both
-- ways (EXCEPT ALL).  Included by the differential refresh tests.
CREATE FUNCTION pg_temp.differences(view regclass, query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT v::text FROM %s v EXCEPT ALL SELECT q::text FROM (%s) q) '
                   'UNION ALL (SELECT q::text FROM (%s) q EXCEPT ALL SELECT v::text FROM %s v)) d',
                   view, query, query, view) INTO n;
    RETURN n;
END
$$;
