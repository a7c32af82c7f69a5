-- Hardening (attack pass 7): code of another role does not run as the
-- caller of ingest() or apply_changes(), nor as an incremental view's
-- owner, and side tables show nothing a role may not read.
--
-- 1. ingest()'s INSERT is analyzed again under the caller's path: an exact
--    match such as unnest(jsonb[]) in a schema on it beat pg_catalog's
--    polymorphic unnest and ran as the caller (a superuser's default
--    "$user", public was enough).
-- 2. apply_changes() cast the target's sequence to the change table's
--    sequence type, a domain of the change table's owner: its CHECK ran as
--    the caller.
-- 3. An incremental view compared its key with its mark cast to the key's
--    type, a domain of the source's owner: its CHECK ran as the view's
--    owner at every refresh.
-- 4. pipeline.incremental_state showed every view's mark (its greatest
--    key) to everyone.
-- 5. pipeline.rejected, ingested and deleted_keys showed a target's rows to
--    whoever may SELECT from it, whatever its row-level security hides.
-- 6. apply_changes() locked the target before checking any right on it.
-- The spy logs who runs the attacker's code: only ever the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE ROLE a7_attacker LOGIN;
CREATE ROLE a7_victim LOGIN;
CREATE SCHEMA a7_attacker AUTHORIZATION a7_attacker;
CREATE SCHEMA a7_victim AUTHORIZATION a7_victim;
GRANT USAGE ON SCHEMA a7_attacker TO PUBLIC;
CREATE TABLE public.a7_log (who name, what text);
GRANT SELECT, INSERT ON public.a7_log TO PUBLIC;

SET SESSION AUTHORIZATION a7_attacker;
SET search_path = a7_attacker, pg_catalog;
CREATE FUNCTION a7_attacker.spy(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.a7_log VALUES (current_user, what);
    RETURN true;
END $f$;
-- 1: an exact match for ingest's unnest
CREATE FUNCTION a7_attacker.unnest(jsonb[]) RETURNS SETOF jsonb LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM a7_attacker.spy('unnest');
    RETURN QUERY SELECT x FROM pg_catalog.unnest($1) x;
END $f$;
-- 2, 3: domains whose CHECK is the spy
CREATE DOMAIN a7_attacker.seqno AS int CHECK (a7_attacker.spy('sequence'));
CREATE DOMAIN a7_attacker.offset_t AS bigint CHECK (a7_attacker.spy('key'));
CREATE TABLE a7_attacker.staged (id int, v text, seq a7_attacker.seqno, op text);
INSERT INTO a7_attacker.staged VALUES (1, NULL, NULL, 'D');
GRANT SELECT, DELETE ON a7_attacker.staged TO PUBLIC;
CREATE TABLE a7_attacker.events (off a7_attacker.offset_t, payload text);
INSERT INTO a7_attacker.events VALUES (1, 'a'), (2, 'b');
GRANT SELECT ON a7_attacker.events TO PUBLIC;

-- the victim, with the attacker's schema first in its path
SET SESSION AUTHORIZATION a7_victim;
SET search_path = a7_attacker, public, pg_catalog;
CREATE TABLE a7_victim.inbox (dedup_id text, id int, payload text);
SELECT * FROM pipeline.ingest('a7_victim.inbox', '[{"dedup_id": "m1", "id": 1, "payload": "x"}]');
CREATE TABLE a7_victim.customers (id int PRIMARY KEY, v text, seq int);
INSERT INTO a7_victim.customers VALUES (1, 'a', 3), (2, 'b', 4);
SELECT * FROM pipeline.apply_changes('a7_attacker.staged', 'a7_victim.customers', '{id}', 'seq',
                                     truncate_changes => false);
SELECT id FROM a7_victim.customers ORDER BY id;
SELECT pipeline.define($d$/**
 * @matview-schema a7_victim
 * @matview-name ev
 * @interval-in-minutes 60
 * @matview-type incremental
 * @incremental-key off
 */
SELECT off, payload FROM a7_attacker.events$d$);
SET SESSION AUTHORIZATION a7_attacker;
INSERT INTO a7_attacker.events VALUES (3, 'c');
SET SESSION AUTHORIZATION a7_victim;
SET search_path = a7_attacker, public, pg_catalog;
SELECT status, rows FROM pipeline.refresh('a7_victim.mv_ev');
SELECT off, payload FROM a7_victim.mv_ev ORDER BY off;

-- 4: the mark is the victim's to see
SET SESSION AUTHORIZATION a7_attacker;
SELECT count(*) AS marks_seen FROM pipeline.incremental_state;
SET SESSION AUTHORIZATION a7_victim;
SELECT high_water FROM pipeline.incremental_state;

-- 5: a target under row-level security, read by a role its policy limits
CREATE TABLE a7_victim.orders (dedup_id text, tenant text, id int PRIMARY KEY, card text, seq int);
ALTER TABLE a7_victim.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON a7_victim.orders FOR SELECT USING (tenant = current_user);
GRANT USAGE ON SCHEMA a7_victim TO a7_attacker;
GRANT SELECT ON a7_victim.orders TO a7_attacker;
SELECT * FROM pipeline.ingest('a7_victim.orders', $j$[
  {"dedup_id": "b-1", "tenant": "b", "id": 1, "card": "4111", "seq": 1},
  {"dedup_id": "b-2", "tenant": "b", "id": "two", "card": "5500", "seq": 1}]$j$);
CREATE TABLE a7_victim.chg (id int, seq int, op text);
INSERT INTO a7_victim.chg VALUES (1, 7, 'D');
SELECT * FROM pipeline.apply_changes('a7_victim.chg', 'a7_victim.orders', '{id}', 'seq');
SELECT (SELECT count(*) FROM pipeline.rejected) AS rejected,
       (SELECT count(*) FROM pipeline.ingested) AS ingested,
       (SELECT count(*) FROM pipeline.deleted_keys) AS deleted_keys;
SET SESSION AUTHORIZATION a7_attacker;
SELECT (SELECT count(*) FROM pipeline.rejected) AS rejected,
       (SELECT count(*) FROM pipeline.ingested) AS ingested,
       (SELECT count(*) FROM pipeline.deleted_keys) AS deleted_keys;

-- 6: no right on the target, no lock on it
CREATE TABLE a7_attacker.chg (id int, seq int, op text);
SELECT * FROM pipeline.apply_changes('a7_attacker.chg', 'a7_victim.orders', '{id}', 'seq');

-- the verdict: the attacker's code ran only as the attacker
RESET SESSION AUTHORIZATION;
SELECT who, what, count(*) > 0 AS ran FROM public.a7_log GROUP BY who, what ORDER BY who, what;
SELECT count(*) AS ran_as_another_role FROM public.a7_log WHERE who <> 'a7_attacker';

SELECT pipeline.drop_matview('a7_victim.mv_ev');
DROP SCHEMA a7_victim CASCADE;
DROP SCHEMA a7_attacker CASCADE;
DROP TABLE public.a7_log;
DROP ROLE a7_victim;
DROP ROLE a7_attacker;
