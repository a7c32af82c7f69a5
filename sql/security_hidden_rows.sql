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
