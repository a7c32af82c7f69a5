-- pipeline 1.22 -> 1.23: pipeline.staged is a security barrier (a cheap
-- function in a caller's WHERE clause ran before the view's filter, on
-- every role's staged documents), and pipeline.deleted_keys_targets shows
-- a target under row-level security of its own only to a role that reads
-- all its rows, as pipeline.deleted_keys does.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.23'" to load this file. \quit

ALTER VIEW pipeline.staged SET (security_barrier);
ALTER POLICY deleted_keys_targets_readers ON pipeline.deleted_keys_targets
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND pipeline.reads_all_rows(target));
