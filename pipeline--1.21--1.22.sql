-- pipeline 1.21 -> 1.22: the step and final functions of differential
-- refresh's internal aggregates (kept_extremes, max_scale, max_scale_rows)
-- are no longer executable by PUBLIC.  They take internal, so no SQL could
-- call them, and PostgreSQL checks an aggregate's support functions as the
-- aggregate's owner: PUBLIC needs only the aggregates (API.md section 0:
-- internal functions are not executable by PUBLIC).

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.22'" to load this file. \quit

REVOKE ALL ON FUNCTION pipeline.kept_extremes_step(internal, anyelement, boolean),
    pipeline.kept_extremes_final(internal, anyelement, boolean),
    pipeline.kept_extremes_step(internal, anyelement, boolean, bigint),
    pipeline.kept_extremes_final(internal, anyelement, boolean, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pipeline.scale_census_step(internal, numeric, bigint),
    pipeline.scale_census_scale(internal), pipeline.scale_census_rows(internal) FROM PUBLIC;
