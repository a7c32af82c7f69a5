-- Hardening (1.23, attack pass h69): what pipeline told a role of rows it
-- may not read.
--
-- 1. apply_changes() into a target whose row-level security hides rows
--    from the caller: a delete of a hidden key was remembered (the owner's
--    later inserts of it were then dropped), and whether an older insert
--    was taken told the caller of the owner's deletes.  Refused now.
-- 2. pipeline.deleted_keys_targets counted the remembered keys of such a
--    target for whoever may SELECT from it.
-- 3. pipeline.staged was no security barrier: a cheap function in the
--    caller's WHERE clause ran on every role's staged documents before the
--    view's filter.
-- 4. (a re-attack, h71) Emptying a change table whose row-level security
--    hides rows from the caller removed other writers' changes unapplied
--    (TRUNCATE, and a bare DELETE, pass over SELECT policies).  Refused.
-- 5. (h71) A stage mirror over another role's table emptied it as the
--    mirror's owner, running that role's DELETE (or TRUNCATE) triggers with
--    the mirror owner's rights.  The stage must be the owner's own table.
-- The attacker works with a schema of look-alikes first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE hr_owner LOGIN;
CREATE ROLE hr_mallory LOGIN;
CREATE ROLE hr_bypass LOGIN BYPASSRLS;
CREATE SCHEMA hr_owner AUTHORIZATION hr_owner;
CREATE SCHEMA hr_mallory AUTHORIZATION hr_mallory;
GRANT USAGE ON SCHEMA hr_owner TO hr_mallory, hr_bypass;
GRANT USAGE ON SCHEMA hr_mallory TO PUBLIC;

SET SESSION AUTHORIZATION hr_mallory;
SET search_path = hr_mallory, pg_catalog;
CREATE TABLE hr_mallory.seen (what text);
CREATE FUNCTION hr_mallory.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO hr_mallory.seen VALUES (t);
    RETURN true;
END $f$;
-- look-alikes for what the policies and the apply could name
CREATE FUNCTION hr_mallory.has_table_privilege(regclass, text) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION hr_mallory.reads_all_rows(regclass) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION hr_mallory.current_user() RETURNS name LANGUAGE sql AS $$SELECT 'hr_owner'::name$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA hr_mallory TO PUBLIC;

SET SESSION AUTHORIZATION hr_owner;
SET search_path = hr_owner, pg_catalog;
CREATE TABLE hr_owner.t (id int PRIMARY KEY, owner name DEFAULT current_user, v text, seq bigint);
INSERT INTO hr_owner.t VALUES (1, 'hr_owner', 'secret1', 5), (2, 'hr_owner', 'secret2', 5);
ALTER TABLE hr_owner.t ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON hr_owner.t USING (owner = current_user) WITH CHECK (owner = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON hr_owner.t TO hr_mallory, hr_bypass;
-- the owner's own applies are not filtered: key 2 deleted at 50
CREATE TABLE hr_owner.ch (id int, owner name, v text, seq bigint, op text);
INSERT INTO hr_owner.ch VALUES (2, NULL, NULL, 50, 'D');
SELECT * FROM pipeline.apply_changes('hr_owner.ch', 'hr_owner.t', '{id}', 'seq');
SELECT target, keys FROM pipeline.deleted_keys_targets;
-- and a staged document with a secret in it
SELECT pipeline.stage($d$/**
 * @matview-schema hr_owner
 * @matview-name secret_view
 * @interval-in-minutes 60
 */
SELECT id FROM hr_owner.t WHERE v = 'hr-owner-password-hunter2'$d$);

-- 1: a delete of a key the policy hides from mallory, and an older insert
-- probing whether the owner's delete of key 2 is newer: both refused
SET SESSION AUTHORIZATION hr_mallory;
SET search_path = hr_mallory, pg_catalog;
CREATE TABLE hr_mallory.ch (id int, owner name, v text, seq bigint, op text);
INSERT INTO hr_mallory.ch VALUES (1, 'hr_mallory', NULL, 100, 'D');
SELECT * FROM pipeline.apply_changes('hr_mallory.ch', 'hr_owner.t', '{id}', 'seq');
TRUNCATE hr_mallory.ch;
INSERT INTO hr_mallory.ch VALUES (2, 'hr_mallory', 'probe', 49, 'I');
SELECT * FROM pipeline.apply_changes('hr_mallory.ch', 'hr_owner.t', '{id}', 'seq', truncate_changes => false);
SELECT count(*) AS changes_left FROM hr_mallory.ch;
-- 2: nor does she count the owner's remembered deletes
SELECT count(*) AS targets_seen FROM pipeline.deleted_keys_targets;
SELECT count(*) AS keys_seen FROM pipeline.deleted_keys;
-- 3: her cheap function sees none of the owner's staged documents
SET enable_bitmapscan = off;
SET enable_indexscan = off;
SELECT count(*) AS staged_seen FROM pipeline.staged WHERE hr_mallory.leak(query);
SELECT count(*) AS names_seen FROM pipeline.staged WHERE hr_mallory.leak(name);
SELECT count(*) AS leaked FROM hr_mallory.seen;
RESET enable_bitmapscan;
RESET enable_indexscan;

-- a role that reads every row may apply, as the owner may
SET SESSION AUTHORIZATION hr_bypass;
CREATE TEMP TABLE ch (id int, owner name, v text, seq bigint, op text);
INSERT INTO ch VALUES (2, 'hr_owner', 'back', 60, 'U');
SELECT * FROM pipeline.apply_changes('pg_temp.ch', 'hr_owner.t', '{id}', 'seq');
DROP TABLE pg_temp.ch;

-- 4: a change table whose policy shows each writer its own rows: mallory
-- may not empty it (hr_writer's change would go unapplied), only keep it
RESET SESSION AUTHORIZATION;
CREATE ROLE hr_writer LOGIN;
GRANT USAGE ON SCHEMA hr_owner TO hr_writer;
SET SESSION AUTHORIZATION hr_owner;
CREATE TABLE hr_owner.feed (id int, owner name, v text, seq bigint, op text,
                            writer name DEFAULT current_user);
ALTER TABLE hr_owner.feed ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON hr_owner.feed USING (writer = current_user);
GRANT SELECT, INSERT, DELETE, TRUNCATE ON hr_owner.feed TO hr_mallory, hr_writer;
CREATE TABLE hr_owner.mallorys (id int PRIMARY KEY, owner name, v text, seq bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON hr_owner.mallorys TO hr_mallory;
SET SESSION AUTHORIZATION hr_writer;
INSERT INTO hr_owner.feed (id, owner, v, seq, op) VALUES (10, 'hr_writer', 'writers', 1, 'I');
SET SESSION AUTHORIZATION hr_mallory;
SET search_path = hr_mallory, pg_catalog;
INSERT INTO hr_owner.feed (id, owner, v, seq, op) VALUES (11, 'hr_mallory', 'mallorys', 1, 'I');
SELECT * FROM pipeline.apply_changes('hr_owner.feed', 'hr_owner.mallorys', '{id}', 'seq', ignore_columns => '{writer}');
SELECT * FROM pipeline.apply_changes('hr_owner.feed', 'hr_owner.mallorys', '{id}', 'seq', ignore_columns => '{writer}',
                                     truncate_changes => false);
RESET SESSION AUTHORIZATION;
SELECT writer, id FROM hr_owner.feed ORDER BY id;

-- 5: mallory's table with a DELETE trigger that would copy what its caller
-- may read: the owner's mirror of it is refused, and nothing ran as her
SET SESSION AUTHORIZATION hr_mallory;
SET search_path = hr_mallory, pg_catalog;
CREATE TABLE hr_mallory.stage (seq bigint, op text, id int, v text);
CREATE TABLE hr_mallory.loot (who name);
GRANT INSERT ON hr_mallory.loot TO PUBLIC;
CREATE FUNCTION hr_mallory.grab() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO hr_mallory.loot VALUES (current_user);
    RETURN OLD;
END $f$;
CREATE TRIGGER grab BEFORE DELETE ON hr_mallory.stage FOR EACH ROW EXECUTE FUNCTION hr_mallory.grab();
CREATE TRIGGER grab_all BEFORE TRUNCATE ON hr_mallory.stage FOR EACH STATEMENT EXECUTE FUNCTION hr_mallory.grab();
INSERT INTO hr_mallory.stage VALUES (1, 'I', 1, 'x');
GRANT SELECT, DELETE, TRUNCATE ON hr_mallory.stage TO hr_owner;
SET SESSION AUTHORIZATION hr_owner;
SET search_path = hr_mallory, pg_catalog;
SELECT pipeline.create_matview('hr_owner', 'mirrored', 'SELECT seq, op, id, v FROM hr_mallory.stage', '1 hour',
       'mirror', options => '{"mirror-keys": "id", "mirror-sequence": "seq"}');
RESET SESSION AUTHORIZATION;
SELECT count(*) AS ran_as_another_role FROM hr_mallory.loot;
SELECT count(*) AS stage_rows FROM hr_mallory.stage;

-- the memory holds the owner's delete alone, and the owner's own changes
-- of key 1 are applied as before
RESET SESSION AUTHORIZATION;
SELECT target, key, sequence FROM pipeline.deleted_keys WHERE target = 'hr_owner.t'::regclass ORDER BY key;
SET SESSION AUTHORIZATION hr_owner;
TRUNCATE hr_owner.ch;
INSERT INTO hr_owner.ch VALUES (1, NULL, NULL, 8, 'D');
SELECT * FROM pipeline.apply_changes('hr_owner.ch', 'hr_owner.t', '{id}', 'seq');
INSERT INTO hr_owner.ch VALUES (1, 'hr_owner', 'again', 9, 'I');
SELECT * FROM pipeline.apply_changes('hr_owner.ch', 'hr_owner.t', '{id}', 'seq');
SELECT id, v, seq FROM hr_owner.t ORDER BY id;
SELECT pipeline.discard_staged();

RESET SESSION AUTHORIZATION;
RESET search_path;
DROP SCHEMA hr_owner CASCADE;
DROP SCHEMA hr_mallory CASCADE;
DROP ROLE hr_owner;
DROP ROLE hr_mallory;
DROP ROLE hr_bypass;
DROP ROLE hr_writer;
