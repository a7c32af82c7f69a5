-- pipeline 1.20 -> 1.21: pipeline.numeric_sum(numeric), with which a
-- differential refresh sums a delta of a few rows per group (an append
-- touching many groups): adding each value to the last costs less than
-- making sum()'s state for every group.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.21'" to load this file. \quit

CREATE AGGREGATE pipeline.numeric_sum(numeric) (
    SFUNC = pg_catalog.numeric_add,
    STYPE = numeric,
    COMBINEFUNC = pg_catalog.numeric_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE pipeline.numeric_sum(numeric) IS
    'Internal to differential refresh: the sum of the values, as sum(numeric) gives it, for groups of a few values';
