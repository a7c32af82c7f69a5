-- pipeline 1.15 -> 1.16: a lake publication's digests are readable only by
-- who may see the publication (pipeline.can_see(): its owner, or a reader
-- of its table who may also read every row its query reads).  Before, any
-- role granted SELECT on the publication's table (a list of partitions)
-- read the digests of the query's rows, and could confirm guesses of them.
-- The library applies the same rule to the runs, audits and status of a
-- publication.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.16'" to load this file. \quit

COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs); for a lake publication, reads every row its query reads too';

DROP POLICY publication_state_readers ON pipeline.publication_state;
-- digests are of the query's rows: readable by who may see the publication
-- (pipeline.can_see(): its owner, or a reader of its table who may also read
-- every row its query reads; 1.16)
CREATE POLICY publication_state_readers ON pipeline.publication_state FOR SELECT
    USING (pipeline.can_see(publication));
