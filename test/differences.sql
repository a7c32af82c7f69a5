-- pg_temp.differences(view, query): the rows of a view and of its query,
-- each as text (so a numeric's scale counts), that the other lacks, both
-- ways (EXCEPT ALL).  Included by the differential refresh tests.
CREATE FUNCTION pg_temp.differences(view regclass, query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    -- aliases no column is named: a column v or q would be read instead
    -- of the whole row, and only that column compared
    EXECUTE format('SELECT count(*) FROM ((SELECT view_row::text FROM %s view_row '
                   'EXCEPT ALL SELECT query_row::text FROM (%s) query_row) '
                   'UNION ALL (SELECT query_row::text FROM (%s) query_row '
                   'EXCEPT ALL SELECT view_row::text FROM %s view_row)) d',
                   view, query, query, view) INTO n;
    RETURN n;
END
$$;
