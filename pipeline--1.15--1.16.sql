-- pipeline 1.15 -> 1.16: a lake publication's digests are readable only by
-- who may see the publication (pipeline.can_see(): for a publication, its
-- owner).  Before, any role granted SELECT on the publication's table (a
-- list of partitions) read the digests of the query's rows, and could
-- confirm guesses of them.  The library applies the same rule to the runs,
-- audits and status of a publication.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.16'" to load this file. \quit

COMMENT ON FUNCTION pipeline.can_see(regclass) IS
    'Whether the current user owns the relation or may SELECT from it (and so sees its runs); a lake publication only to its owner';

DROP POLICY publication_state_readers ON pipeline.publication_state;
-- digests are of the query's rows: readable by who may see the publication
-- (pipeline.can_see(): for a publication, its owner; 1.16)
CREATE POLICY publication_state_readers ON pipeline.publication_state FOR SELECT
    USING (pipeline.can_see(publication));
