-- pipeline 1.24 -> 1.25: the deleted-key memory knows the type its
-- sequences are spelled in.  They were read back in the type of whichever
-- apply read them, so a role that may delete from a target could plant a
-- delete whose sequence had another type (a change table of its own), and
-- every later apply into the target failed until the key expired.  Now an
-- apply of another sequence type is refused, or, by the target's owner,
-- forgets the target's memory.  Targets remembered before keep NULL (type
-- unknown) and are read as before until the memory is next written.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.25'" to load this file. \quit

ALTER TABLE pipeline.deleted_keys_targets ADD COLUMN sequence_type regtype;
