-- pipeline 1.4 -> 1.5: declared flows (issue 14).
\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.5'" to load this file. \quit

-- apply_changes() gains ignore_columns (a new parameter: dropped and made
-- again, so no old call becomes ambiguous).
DROP FUNCTION pipeline.apply_changes(regclass, regclass, text[], text, text, text, boolean);
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

-- set_after_refresh() takes the hook as text: a bare name when it names
-- exactly one function, or a signature.
DROP FUNCTION pipeline.set_after_refresh(regclass, regprocedure);
CREATE FUNCTION pipeline.set_after_refresh(matview regclass, fn text)
RETURNS void
AS 'MODULE_PATHNAME', 'pipeline_set_after_refresh'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pipeline.set_after_refresh(regclass, text) IS
    'Sets (or, with a NULL fn, clears) fn(matview regclass, time_label timestamptz), called after each refresh as the view owner; fn is a name or a signature';

-- rejected messages keep their dedup id and learn when a resend was
-- accepted; quarantined stream rows say which table they came from, and
-- are readable by who may read both the view and that table
ALTER TABLE pipeline.rejected ADD COLUMN dedup_id text, ADD COLUMN accepted_at timestamptz,
    ADD COLUMN source regclass;
COMMENT ON TABLE pipeline.rejected IS
    'Messages pipeline.ingest() rejected and stream rows quarantined, with the error; written only by pipeline';
COMMENT ON COLUMN pipeline.rejected.source IS
    'The stream table a quarantined row came from (@on-error quarantine); NULL for ingest()';
DROP POLICY rejected_target_readers ON pipeline.rejected;
CREATE POLICY rejected_target_readers ON pipeline.rejected FOR SELECT
    USING (pg_catalog.has_table_privilege(target, 'SELECT')
           AND (source IS NULL OR pg_catalog.has_table_privilege(source, 'SELECT')));
COMMENT ON COLUMN pipeline.rejected.dedup_id IS
    'The message''s dedup id; NULL when it had none';
COMMENT ON COLUMN pipeline.rejected.accepted_at IS
    'When a later message with the same dedup id was accepted; NULL until then';
CREATE INDEX ingested_expiry_idx ON pipeline.ingested (target, ingested_at)
    WITH (deduplicate_items = off);
CREATE INDEX rejected_open_idx ON pipeline.rejected (target, dedup_id)
    WHERE dedup_id IS NOT NULL AND accepted_at IS NULL;

-- mirrors: a third type of view, the DPL keys without a column of their
-- own kept as options, and the first key a mirror consumed
ALTER TABLE pipeline.matview_definitions
    DROP CONSTRAINT matview_definitions_matview_type_check,
    ADD CONSTRAINT matview_definitions_matview_type_check
        CHECK (matview_type IN ('regular', 'incremental', 'mirror', 'unload')),
    DROP CONSTRAINT matview_definitions_check,
    ADD CONSTRAINT matview_definitions_check
        CHECK (CASE matview_type WHEN 'incremental' THEN incremental_key IS NOT NULL
                                 WHEN 'mirror' THEN true
                                 ELSE incremental_key IS NULL END),
    ADD COLUMN options jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT matview_definitions_options_check CHECK (jsonb_typeof(options) = 'object');
COMMENT ON COLUMN pipeline.matview_definitions.options IS
    'The DPL keys given without a column of their own (mirror-keys, ...), as create_matview() options';
ALTER TABLE pipeline.incremental_state ADD COLUMN first_key text;
COMMENT ON TABLE pipeline.incremental_state IS
    'High-water mark of each incremental view and mirror (text in the key''s type, DateStyle ISO)';
COMMENT ON COLUMN pipeline.incremental_state.first_key IS
    'A mirror''s least consumed key: its stream can rebuild it while the stream still holds that key';

-- lake publications
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
CREATE POLICY publication_state_readers ON pipeline.publication_state FOR SELECT
    USING (pg_catalog.has_table_privilege(publication, 'SELECT'));
