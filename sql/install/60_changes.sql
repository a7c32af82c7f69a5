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
