-- pipeline 1.25 -> 1.26: pipeline's own event trigger on sql_drop fires
-- always, as the guard's do.  pipeline's own DDL as another role than the
-- caller's runs with session_replication_role = replica, so that a DBA's
-- event triggers do not run as that role in the caller's session (where
-- the caller's temporary tables answer their unqualified names); the
-- deleted keys of a table pipeline drops must still go with it.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.26'" to load this file. \quit

ALTER EVENT TRIGGER pipeline_forget_deleted_keys ENABLE ALWAYS;
-- and DROP EXTENSION readies itself under session_replication_role =
-- replica too (it was refused there, its triggers left behind)
ALTER EVENT TRIGGER pipeline_drop_extension ENABLE ALWAYS;

-- pipeline's tables without a primary key get a replica identity: a
-- publication of all tables publishes them, and PostgreSQL then refuses
-- their updates and deletes without one (every DROP TABLE failed in the
-- event trigger that forgets a dropped table's deleted keys, since 1.25
-- made their primary key a unique constraint).
ALTER TABLE pipeline.changes REPLICA IDENTITY FULL;
ALTER TABLE pipeline.rejected REPLICA IDENTITY FULL;
ALTER TABLE pipeline.deleted_keys REPLICA IDENTITY FULL;

-- The tables pipeline made for views (a differential view's own table, its
-- state, the change logs) get a replica identity, as new ones do: a
-- publication of all tables (or of their schema) publishes them, and
-- PostgreSQL then refuses their updates and deletes without one.  Only
-- where none was set (the default, without a primary key).
DO $$
DECLARE
    rel pg_catalog.regclass;
BEGIN
    FOR rel IN
        SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c
         WHERE c.relkind OPERATOR(pg_catalog.=) 'r'
           AND c.relreplident OPERATOR(pg_catalog.=) 'd'
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i
                            WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary)
           AND ((c.relnamespace OPERATOR(pg_catalog.=) 'pipeline'::pg_catalog.regnamespace
                 AND (c.relname OPERATOR(pg_catalog.~) '^state_[0-9]+$'
                      OR c.relname OPERATOR(pg_catalog.~) '^capture_log_[0-9]+$'))
                OR c.oid IN (SELECT m.matview FROM pipeline.matview_definitions m
                              WHERE m.refresh_mode OPERATOR(pg_catalog.=) 'differential'))
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', rel);
    END LOOP;
END
$$;
