-- pipeline 1.27 -> 1.28: the deleted-key memory records the types of what
-- it remembers, so that a statement that changes how such values are
-- written (ALTER TYPE ... RENAME VALUE of an enum, an attribute added to a
-- row type) rewrites the keys and sequences remembered as text.  Before,
-- a key deleted before its enum label was renamed was remembered under the
-- old label, and a late change of it after the rename was applied (the
-- row came back); a sequence of such a type failed every later apply.
-- And a stream's or mirror's mark records its type, so that it follows
-- the same statements when the key is no column of a source (a mirror's).

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.28'" to load this file. \quit

ALTER TABLE pipeline.deleted_keys_targets
    ADD COLUMN key_types regtype[],
    ADD COLUMN sequence_types regtype[];

-- the sequences' types are stored beside them since 1.25; the keys' types
-- are not known until an apply remembers a key again
UPDATE pipeline.deleted_keys_targets t
   SET sequence_types = (SELECT pg_catalog.array_agg(DISTINCT k.sequence_type ORDER BY k.sequence_type)
                           FROM pipeline.deleted_keys k
                          WHERE k.target OPERATOR(pg_catalog.=) t.target
                            AND k.sequence_type IS NOT NULL);

-- recorded by each run from now on
ALTER TABLE pipeline.incremental_state ADD COLUMN key_type regtype;
COMMENT ON COLUMN pipeline.incremental_state.key_type IS
    'The type the mark is a value of, recorded by each run (NULL: none since 1.28)';
