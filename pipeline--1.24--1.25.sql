-- pipeline 1.24 -> 1.25: the deleted-key memory keeps the type each
-- remembered sequence is spelled in, as part of the key.  Sequences were
-- read back in the type of whichever apply read them, so a role that may
-- delete from a target could plant a delete whose sequence had another
-- type (a change table of its own), and every later apply into the target
-- failed until the key expired.  Now an apply reads and writes only keys
-- remembered in its own sequence type; keys remembered before (NULL) are
-- read in the apply's type, as before.

\echo Use "ALTER EXTENSION pipeline UPDATE TO '1.25'" to load this file. \quit

-- (1.26) under a publication of all tables, the primary key's drop fires
-- pipeline's sql_drop trigger, whose deletes from deleted_keys and rejected
-- need a replica identity; 1.26 gives them this one too
ALTER TABLE pipeline.deleted_keys REPLICA IDENTITY FULL;
ALTER TABLE pipeline.rejected REPLICA IDENTITY FULL;
ALTER TABLE pipeline.deleted_keys ADD COLUMN sequence_type regtype;
ALTER TABLE pipeline.deleted_keys DROP CONSTRAINT deleted_keys_pkey;
ALTER TABLE pipeline.deleted_keys ADD CONSTRAINT deleted_keys_target_key_sequence_type_key
    UNIQUE NULLS NOT DISTINCT (target, key, sequence_type);
