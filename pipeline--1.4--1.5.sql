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

-- rejected messages keep their dedup id and learn when a resend was accepted
ALTER TABLE pipeline.rejected ADD COLUMN dedup_id text, ADD COLUMN accepted_at timestamptz;
COMMENT ON COLUMN pipeline.rejected.dedup_id IS
    'The message''s dedup id; NULL when it had none';
COMMENT ON COLUMN pipeline.rejected.accepted_at IS
    'When a later message with the same dedup id was accepted; NULL until then';
CREATE INDEX ingested_expiry_idx ON pipeline.ingested (target, ingested_at)
    WITH (deduplicate_items = off);
CREATE INDEX rejected_open_idx ON pipeline.rejected (target, dedup_id)
    WHERE dedup_id IS NOT NULL AND accepted_at IS NULL;
